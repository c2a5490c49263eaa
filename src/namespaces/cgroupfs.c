/* `mounts` of type cgroup/cgroup2.  With a cgroup namespace, fresh cgroup filesystems (they
 * show the namespace's root, the container's cgroup); without one, bind mounts of the
 * container's cgroup directories.  v1/hybrid: a tmpfs at the destination holding one directory
 * per hierarchy (and symlinks for co-mounted controllers, "cpu" -> "cpu,cpuacct"), read-only at
 * the end when asked; a pure v2 host: the one hierarchy directly at the destination. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define CG_TMPFS_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Mounts one hierarchy on the directory fd.  A remount needs the new mount: it is found again
 * as reopen_name below at (or inside the root when at is -1). */
static int mount_hierarchy(struct ns_ctx *c, const struct ns_cgroup_mount *h, int fd, int at,
                           const char *reopen_name, unsigned long flags,
                           const struct ns_mount_opts *mo, struct cx_error **err)
{
        char p[NS_PROCFD_LEN];

        if (c->opts->cgroup_ns) {
                const char *data = h->options && *h->options ? h->options : NULL;
                if (sys_mount(h->fstype, ns_procfd(p, fd), h->fstype, flags, data) == 0)
                        return 0;
                /* cgroup v1 cannot be mounted in a user namespace: bind it instead */
                if (errno != EPERM || !c->opts->user_ns || !h->host_dir)
                        return cx_error_set(err, errno, "mount %s `%s`", h->fstype, h->options);
        }
        if (!h->host_dir)
                return cx_error_msg(err, EINVAL, "no cgroup directory for hierarchy `%s`", h->name);
        if (sys_mount(h->host_dir, ns_procfd(p, fd), NULL, MS_BIND, NULL) < 0)
                return cx_error_set(err, errno, "bind `%s`", h->host_dir);
        if (!(flags & ~(unsigned long)(MS_BIND | MS_REC)))
                return 0;
        _cleanup_close_ int top = -1;
        if (at < 0) {
                int r = ns_resolve_in_root(c->rootfd, reopen_name, NS_CREATE_NONE, &top, err);
                if (r < 0)
                        return r;
        } else if ((top = openat(at, reopen_name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                return cx_error_set(err, errno, "reopen `%s`", reopen_name);
        }
        return ns_remount_fd(top, flags, mo->clear_flags, err);
}

/* "cpu,cpuacct" also appears as "cpu" and "cpuacct". */
static int comount_symlinks(int dirfd, const char *name, struct cx_error **err)
{
        if (!strchr(name, ','))
                return 0;
        _cleanup_free_ char *copy = xstrdup(name);
        char *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (strncmp(t, "name=", 5) == 0)
                        continue;
                if (symlinkat(name, dirfd, t) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "symlink `%s` -> `%s`", t, name);
        }
        return 0;
}

static int mount_v1_tree(struct ns_ctx *c, const char *dest, unsigned long flags,
                         const struct ns_mount_opts *mo, struct cx_error **err)
{
        const struct ns_rootfs_opts *o = c->opts;
        _cleanup_close_ int dfd = -1, tfd = -1;
        char p[NS_PROCFD_LEN];

        int r = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_DIR, &dfd, err);
        if (r < 0)
                return r;
        if (sys_mount("tmpfs", ns_procfd(p, dfd), "tmpfs", CG_TMPFS_FLAGS, "mode=755") < 0)
                return cx_error_set(err, errno, "mount tmpfs");
        r = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_NONE, &tfd, err);
        if (r < 0)
                return r;

        for (size_t i = 0; i < o->n_cgroups; i++) {
                const struct ns_cgroup_mount *h = &o->cgroups[i];
                if (sys_mkdirat(tfd, h->name, 0755) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "mkdir `%s/%s`", dest, h->name);
                _cleanup_close_ int hfd =
                    openat(tfd, h->name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (hfd < 0)
                        return cx_error_set(err, errno, "open `%s/%s`", dest, h->name);
                r = mount_hierarchy(c, h, hfd, tfd, h->name, flags, mo, err);
                if (r < 0)
                        return cx_error_prefix(err, "%s/%s", dest, h->name);
                r = comount_symlinks(tfd, h->name, err);
                if (r < 0)
                        return r;
        }
        if (flags & MS_RDONLY)
                return ns_remount_fd(tfd, CG_TMPFS_FLAGS | MS_RDONLY, 0, err);
        return 0;
}

int ns_mount_cgroup(struct ns_ctx *c, size_t idx, const struct ns_mount_opts *mo,
                    struct cx_error **err)
{
        const struct spec_mount *m = &c->spec->mounts[idx];
        const struct ns_rootfs_opts *o = c->opts;
        unsigned long flags = mo->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);

        if (o->no_cgroup) {
                log_debug("mounts[%zu]: `%s` skipped: the container has no cgroup of its own "
                          "(rootless without cgroup permission)",
                          idx, m->destination);
                return 0;
        }
        if (o->n_cgroups == 0 || !o->cgroups)
                return cx_error_msg(err, EINVAL, "mounts[%zu]: no cgroup hierarchies known", idx);
        if (o->n_cgroups > 1 || o->cgroups[0].name[0] != '\0')
                return mount_v1_tree(c, m->destination, flags, mo, err);

        /* pure v2: the one hierarchy at the destination itself */
        _cleanup_close_ int dfd = -1;
        int r = ns_resolve_in_root(c->rootfd, m->destination, NS_CREATE_DIR, &dfd, err);
        if (r < 0)
                return r;
        return mount_hierarchy(c, &o->cgroups[0], dfd, -1, m->destination, flags, mo, err);
}
