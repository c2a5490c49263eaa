/* The public cgroups API: placement of the container's cgroup in each hierarchy, the manager's
 * life cycle, and dispatch to the driver (v1.c for v1 and hybrid hosts, v2.c for unified).
 *
 * Placement: a relative cgroupsPath (default "capsa-<id>") goes beneath the caller's own cgroup
 * in each hierarchy (from /proc/self/cgroup); an absolute one is taken from each hierarchy's
 * root.  On v1 and hybrid hosts the cgroup is made in every mounted v1 hierarchy (controllers
 * and name=systemd, as runc does) and, on hybrid hosts, in the unified hierarchy too: its
 * cgroup.procs tracks every container process and its cgroup.kill kills them all. */
#include "cgroups/cgroups-internal.h"

#include <string.h>

/* Normalises a cgroupsPath: drops empty and "." components, rejects "..".  "" for the root. */
static int normalize(const char *in, char **ret, struct cx_error **err)
{
        char *out = xcalloc(1, strlen(in) + 1);
        for (const char *s = in; *s;) {
                while (*s == '/')
                        s++;
                size_t len = strcspn(s, "/");
                if (len == 2 && strncmp(s, "..", 2) == 0) {
                        free(out);
                        return cx_error_msg(err, EINVAL,
                                            "linux.cgroupsPath: `%s` must not contain `..`", in);
                }
                if (len > 0 && !(len == 1 && *s == '.')) {
                        if (*out)
                                strcat(out, "/");
                        strncat(out, s, len);
                }
                s += len;
        }
        *ret = out;
        return 0;
}

static char *join(const char *a, const char *b, const char *c)
{
        /* a is a mount point, b a hierarchy path ("/" or "/x/y"), c relative or "" */
        size_t bl = strlen(b);
        while (bl > 0 && b[bl - 1] == '/')
                bl--;
        return xasprintf("%s%.*s%s%s", a, (int)bl, b, *c ? "/" : "", c);
}

/* The container's cgroup path in one hierarchy, or NULL when the caller is not in it. */
static char *place(const struct cg_mount *mnt, const struct cg_proc_entry *self, size_t n_self,
                   bool absolute, const char *rel)
{
        if (absolute)
                return join(mnt->mount_point, "", rel);
        const char *own = cg_proc_lookup(self, n_self, mnt);
        if (!own)
                return NULL;
        /* a bind-mounted subtree (mountinfo root "/docker/x") shows our path from its root */
        size_t rl = strcmp(mnt->root, "/") == 0 ? 0 : strlen(mnt->root);
        if (rl > 0 && strncmp(own, mnt->root, rl) == 0 && (own[rl] == '/' || !own[rl]))
                own += rl;
        return join(mnt->mount_point, own, rel);
}

static bool wanted(const struct cg_mount *mnt, enum cg_layout layout)
{
        const char *root = cg_root(), *mp = mnt->mount_point;
        size_t rl = strlen(root);
        switch (layout) {
        case CG_LAYOUT_V2:
                return mnt->v2 && strcmp(mp, root) == 0;
        case CG_LAYOUT_HYBRID:
                return !mnt->v2 || (strncmp(mp, root, rl) == 0 && strcmp(mp + rl, "/unified") == 0);
        case CG_LAYOUT_V1:
                return !mnt->v2;
        }
        return false;
}

struct cg_manager *cg_manager_alloc(const struct cg_driver *drv, enum cg_layout layout)
{
        struct cg_manager *m = xcalloc(1, sizeof(*m));
        m->drv = drv;
        m->layout = layout;
        m->unified = -1;
        return m;
}

void cg_manager_add(struct cg_manager *m, char *path, const struct cg_mount *mnt)
{
        m->dirs = xrealloc(m->dirs, (m->n_dirs + 1) * sizeof(*m->dirs));
        m->dirs[m->n_dirs] = (struct cg_dir){.path = path, .mnt = mnt};
        if (mnt && mnt->v2)
                m->unified = (ssize_t)m->n_dirs;
        m->n_dirs++;
        strv_append(&m->paths, path);
}

int cg_manager_new(const char *cgroups_path, const char *id, bool systemd, struct cg_manager **ret,
                   struct cx_error **err)
{
        if (systemd)
                return cg_systemd_new(cgroups_path, id, ret, err);
        enum cg_layout layout;
        int r = cg_detect_layout(&layout, err);
        if (r < 0)
                return r;

        bool absolute = cgroups_path && cgroups_path[0] == '/';
        _cleanup_free_ char *def = NULL, *rel = NULL;
        if (!cgroups_path || !*cgroups_path) {
                if (!id || !*id)
                        return cx_error_msg(err, EINVAL, "cgroup: container id is required");
                cgroups_path = def = xasprintf("capsa-%s", id);
        }
        r = normalize(cgroups_path, &rel, err);
        if (r < 0)
                return r;
        if (!*rel)
                return cx_error_msg(err, EINVAL,
                                    "linux.cgroupsPath: `%s` names the hierarchy's own cgroup, "
                                    "not one for the container",
                                    cgroups_path);

        const struct cg_mount *mounts;
        const struct cg_proc_entry *self = NULL;
        size_t n_mounts, n_self = 0;
        r = cg_host_mounts(&mounts, &n_mounts, err);
        if (r >= 0 && !absolute)
                r = cg_host_self(&self, &n_self, err);
        if (r < 0)
                return r;

        struct cg_manager *m =
            cg_manager_alloc(layout == CG_LAYOUT_V2 ? &cg_driver_v2 : &cg_driver_v1, layout);
        for (size_t i = 0; i < n_mounts; i++) {
                if (!wanted(&mounts[i], layout))
                        continue;
                char *p = place(&mounts[i], self, n_self, absolute, rel);
                if (!p) {
                        log_debug("cgroup: not a member of hierarchy %s; skipped",
                                  mounts[i].mount_point);
                        continue;
                }
                cg_manager_add(m, p, &mounts[i]);
        }
        if (m->n_dirs == 0 || (layout != CG_LAYOUT_V1 && m->unified < 0)) {
                cg_manager_free(m);
                return cx_error_msg(err, ENOENT,
                                    "cgroup: no usable %s hierarchy found in "
                                    "/proc/self/mountinfo and /proc/self/cgroup",
                                    cg_layout_name(layout));
        }
        log_debug("cgroup: layout %s, %zu hierarchies, leaf %s", cg_layout_name(layout), m->n_dirs,
                  m->dirs[0].path);
        *ret = m;
        return 0;
}

int cg_manager_load(const char *driver, char *const *dirs, struct cg_manager **ret,
                    struct cx_error **err)
{
        const struct cg_driver *drv;
        if (driver && strcmp(driver, cg_driver_v1.name) == 0)
                drv = &cg_driver_v1;
        else if (driver && strcmp(driver, cg_driver_v2.name) == 0)
                drv = &cg_driver_v2;
        else if (driver && strcmp(driver, cg_driver_systemd.name) == 0)
                drv = &cg_driver_systemd;
        else
                return cx_error_msg(err, EINVAL, "unknown cgroup driver `%s`",
                                    driver ? driver : "(null)");
        enum cg_layout layout;
        const struct cg_mount *mounts;
        size_t n_mounts;
        int r = cg_detect_layout(&layout, err);
        if (r >= 0)
                r = cg_host_mounts(&mounts, &n_mounts, err);
        if (r < 0)
                return r;
        struct cg_manager *m = cg_manager_alloc(drv, layout);
        for (char *const *d = dirs; d && *d; d++) {
                if ((*d)[0] != '/') {
                        cg_manager_free(m);
                        return cx_error_msg(err, EINVAL, "cgroup directory `%s` is not absolute",
                                            *d);
                }
                cg_manager_add(m, xstrdup(*d), cg_mount_for_path(mounts, n_mounts, *d));
        }
        *ret = m;
        return 0;
}

void cg_manager_free(struct cg_manager *m)
{
        if (!m)
                return;
        if (m->drv->free_priv)
                m->drv->free_priv(m);
        for (size_t i = 0; i < m->n_dirs; i++) {
                free(m->dirs[i].path);
                strv_free(m->dirs[i].created);
        }
        free(m->dirs);
        strv_free(m->paths);
        free(m);
}

void cg_manager_freep(struct cg_manager **m)
{
        cg_manager_free(*m);
        *m = NULL;
}

const char *cg_manager_driver_name(const struct cg_manager *m)
{
        return m->drv->name;
}

char *const *cg_manager_dirs(const struct cg_manager *m)
{
        static char *const empty[] = {NULL};
        return m->paths ? m->paths : empty;
}

int cg_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        int q = m->drv->create(m, r, err);
        if (q >= 0)
                q = cg_check_joinable(m, err);
        if (q < 0)
                for (size_t i = 0; i < m->n_dirs; i++)
                        cg_remove_created(&m->dirs[i]);
        return q;
}

int cg_enter(struct cg_manager *m, pid_t pid, struct cx_error **err)
{
        return m->drv->enter(m, pid, err);
}

int cg_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        return r ? m->drv->apply(m, r, err) : 0;
}

int cg_kill(struct cg_manager *m, int sig, struct cx_error **err)
{
        return m->drv->kill(m, sig, err);
}

int cg_pids(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err)
{
        return m->drv->pids(m, ret, ret_n, err);
}

int cg_destroy(struct cg_manager *m, struct cx_error **err)
{
        return m->drv->destroy(m, err);
}

int cg_hierarchies(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                   struct cx_error **err)
{
        return m->drv->hierarchies(m, ret, ret_n, err);
}

void cg_hierarchies_free(struct cg_hierarchy *h, size_t n)
{
        for (size_t i = 0; h && i < n; i++) {
                free(h[i].name);
                free(h[i].fstype);
                free(h[i].options);
                free(h[i].host_dir);
        }
        free(h);
}
