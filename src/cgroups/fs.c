/* cgroupfs helpers shared by the v1 and v2 drivers: writing control files with errors that
 * name the file and the value, creating and removing the container's directories, and the
 * operations that do not depend on the layout (enter, kill, pids, destroy, hierarchies). */
#include "cgroups/cgroups-internal.h"
#include "util/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DESTROY_TIMEOUT_MS 2000

int cg_write(const char *dir, const char *file, const char *value, struct cx_error **err)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
        size_t len = strlen(value);
        ssize_t n = sys_cg_write(AT_FDCWD, p, value, len);
        if (n < 0)
                return cx_error_set(err, errno, "write `%s` to %s", value, p);
        if ((size_t)n != len)
                return cx_error_msg(err, EIO, "write `%s` to %s: short write", value, p);
        return 0;
}

int cg_write_opt(const char *dir, const char *file, const char *value, const char *json_path,
                 struct cx_error **err)
{
        if (!cg_file_exists(dir, file))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "%s: not supported on this host (%s/%s does not exist)",
                                    json_path, dir, file);
        return cg_write(dir, file, value, err);
}

int cg_writef(const char *dir, const char *file, struct cx_error **err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *value = NULL;
        int r = vasprintf(&value, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        return cg_write(dir, file, value, err);
}

int cg_read(const char *dir, const char *file, char **ret, bool quiet_enoent, struct cx_error **err)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT && quiet_enoent)
                        return -ENOENT;
                return cx_error_set(err, errno, "open %s", p);
        }
        int r = read_fd_all(fd, ret, NULL);
        if (r == -ENODEV && quiet_enoent) /* cgroup removed under us */
                return -ENOENT;
        return r < 0 ? cx_error_set(err, -r, "read %s", p) : 0;
}

bool cg_file_exists(const char *dir, const char *file)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
        return access(p, F_OK) == 0;
}

int cg_parse_pids(const char *text, pid_t **ret, size_t *ret_n)
{
        pid_t *v = NULL;
        size_t n = 0;
        for (const char *s = text; *s;) {
                char *end;
                errno = 0;
                long p = strtol(s, &end, 10);
                /* 0: a process outside the reader's pid namespace (kept: the cgroup is not
                 * empty; never signalled) */
                if (end == s || errno || p < 0 || (*end && *end != '\n')) {
                        free(v);
                        return -EINVAL;
                }
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = (pid_t)p;
                s = *end ? end + 1 : end;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int cg_read_pids(const char *dir, pid_t **ret, size_t *ret_n, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        int r = cg_read(dir, "cgroup.procs", &text, true, err);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        if (cg_parse_pids(text, ret, ret_n) < 0)
                return cx_error_msg(err, EINVAL, "%s/cgroup.procs: unexpected content", dir);
        return 0;
}

/* ---- directories ------------------------------------------------------------------------- */

int cg_mkdir_leaf(const char *path, const char *mount_point, char ***created, struct cx_error **err)
{
        size_t ml = strlen(mount_point);
        if (strncmp(path, mount_point, ml) != 0 || path[ml] != '/')
                return cx_error_msg(err, EINVAL, "cgroup `%s` is not below `%s`", path,
                                    mount_point);
        /* Try the leaf first: in the common case its parent exists and one mkdir is all. */
        if (sys_mkdirat(AT_FDCWD, path, 0755) == 0)
                return strv_append(created, path);
        if (errno == EEXIST)
                return 0; /* joined as it is; cg_create checks that it is not frozen */
        if (errno != ENOENT)
                return cx_error_set(err, errno, "mkdir %s", path);
        _cleanup_free_ char *p = xstrdup(path);
        for (char *slash = p + ml;;) {
                slash = strchr(slash + 1, '/');
                if (slash)
                        *slash = '\0';
                bool leaf = !slash;
                if (sys_mkdirat(AT_FDCWD, p, 0755) == 0)
                        strv_append(created, p);
                else if (errno != EEXIST)
                        return cx_error_set(err, errno, "mkdir %s", p);
                if (leaf)
                        return 0;
                *slash = '/';
        }
}

static void closedirp_cg(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Removes dir and every child cgroup below it, deepest first.  ENOENT is fine. */
static int rmdir_tree(const char *dir, struct cx_error **err)
{
        if (sys_unlinkat(AT_FDCWD, dir, AT_REMOVEDIR) == 0 || errno == ENOENT)
                return 0;
        if (errno != EBUSY && errno != ENOTEMPTY)
                return cx_error_set(err, errno, "rmdir %s", dir);
        _cleanup_(closedirp_cg) DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_type != DT_DIR || de->d_name[0] == '.')
                                continue;
                        _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
                        int r = rmdir_tree(sub, err);
                        if (r < 0)
                                return r;
                }
        }
        if (sys_unlinkat(AT_FDCWD, dir, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return cx_error_set(err, errno, "rmdir %s", dir);
        return 0;
}

int cg_remove_dir(struct cg_dir *d, struct cx_error **err)
{
        int r = rmdir_tree(d->path, err);
        if (r < 0)
                return r;
        /* the parents we made, deepest first; stop at one that someone else now uses */
        size_t n = strv_len(d->created);
        for (size_t i = n; i-- > 0;) {
                if (strcmp(d->created[i], d->path) == 0)
                        continue;
                if (sys_unlinkat(AT_FDCWD, d->created[i], AT_REMOVEDIR) < 0 && errno != ENOENT) {
                        if (errno == EBUSY || errno == ENOTEMPTY)
                                break;
                        return cx_error_set(err, errno, "rmdir %s", d->created[i]);
                }
        }
        strv_free(d->created);
        d->created = NULL;
        return 0;
}

void cg_remove_created(struct cg_dir *d)
{
        for (size_t i = strv_len(d->created); i-- > 0;)
                if (sys_unlinkat(AT_FDCWD, d->created[i], AT_REMOVEDIR) < 0 && errno != ENOENT)
                        log_debug("cgroup: rmdir %s: %s", d->created[i], strerror(errno));
        strv_free(d->created);
        d->created = NULL;
}

const char *cg_v1_dir(const struct cg_manager *m, const char *controller)
{
        for (size_t i = 0; i < m->n_dirs; i++)
                if (m->dirs[i].mnt && !m->dirs[i].mnt->v2 &&
                    cg_mount_has(m->dirs[i].mnt, controller))
                        return m->dirs[i].path;
        return NULL;
}

const char *cg_v2_dir(const struct cg_manager *m)
{
        return m->unified >= 0 ? m->dirs[m->unified].path : NULL;
}

/* ---- operations common to every driver --------------------------------------------------- */

int cg_common_enter(struct cg_manager *m, pid_t pid, struct cx_error **err)
{
        if (pid <= 0)
                return cx_error_msg(err, EINVAL, "cgroup enter: invalid pid %d", (int)pid);
        char buf[32];
        snprintf(buf, sizeof(buf), "%d", (int)pid);
        for (size_t i = 0; i < m->n_dirs; i++) {
                int r = cg_write(m->dirs[i].path, "cgroup.procs", buf, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The directory that sees every container process: the cgroup2 one when there is one (its
 * membership is independent of the v1 controllers), else the pids hierarchy, else the first. */
static const char *primary_dir(const struct cg_manager *m)
{
        if (m->unified >= 0)
                return m->dirs[m->unified].path;
        for (size_t i = 0; i < m->n_dirs; i++)
                if (m->dirs[i].mnt && cg_mount_has(m->dirs[i].mnt, "pids"))
                        return m->dirs[i].path;
        return m->n_dirs > 0 ? m->dirs[0].path : NULL;
}

/* Appends the pids of dir and of every child cgroup below it. */
static int collect_pids(const char *dir, pid_t **v, size_t *n, struct cx_error **err)
{
        _cleanup_free_ pid_t *pids = NULL;
        size_t k = 0;
        int r = cg_read_pids(dir, &pids, &k, err);
        if (r < 0)
                return r;
        if (k > 0) {
                *v = xrealloc(*v, (*n + k) * sizeof(**v));
                memcpy(*v + *n, pids, k * sizeof(*pids));
                *n += k;
        }
        _cleanup_(closedirp_cg) DIR *d = opendir(dir);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
                r = collect_pids(sub, v, n, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cg_common_pids(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err)
{
        pid_t *v = NULL;
        size_t n = 0;
        const char *dir = primary_dir(m);
        int r = dir ? collect_pids(dir, &v, &n, err) : 0;
        if (r < 0) {
                free(v);
                return r;
        }
        size_t k = 0; /* only the processes this pid namespace can name */
        for (size_t i = 0; i < n; i++)
                if (v[i] > 0)
                        v[k++] = v[i];
        n = k;
        *ret = v;
        *ret_n = n;
        return 0;
}

static int signal_pids(const pid_t *v, size_t n, int sig, struct cx_error **err)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] > 0 && kill(v[i], sig) < 0 && errno != ESRCH) /* kill(0) = our group */
                        return cx_error_set(err, errno, "kill %d with signal %d", (int)v[i], sig);
        return 0;
}

/* cgroup.kill (Linux >= 5.14, non-root cgroup2 dirs) kills the whole subtree at once.
 * Returns 1 when it was used. */
static int try_cgroup_kill(const struct cg_manager *m, struct cx_error **err)
{
        if (m->unified < 0)
                return 0;
        const char *dir = m->dirs[m->unified].path;
        _cleanup_free_ char *p = xasprintf("%s/cgroup.kill", dir);
        if (access(p, F_OK) < 0)
                return 0;
        int r = cg_write(dir, "cgroup.kill", "1", err);
        return r < 0 ? r : 1;
}

int cg_common_kill(struct cg_manager *m, int sig, struct cx_error **err)
{
        if (sig == SIGKILL) {
                int r = try_cgroup_kill(m, err);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        _cleanup_free_ pid_t *v = NULL;
        size_t n = 0;
        int r = cg_common_pids(m, &v, &n, err);
        if (r < 0)
                return r;
        return signal_pids(v, n, sig, err);
}

static long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGKILLs every process in every hierarchy until none is left or the timeout passes. */
static int kill_all_and_wait(struct cg_manager *m, struct cx_error **err)
{
        int r = try_cgroup_kill(m, err);
        if (r < 0)
                return r;
        long deadline = now_ms() + DESTROY_TIMEOUT_MS;
        for (unsigned round = 0;; round++) {
                size_t total = 0;
                for (size_t i = 0; i < m->n_dirs; i++) {
                        _cleanup_free_ pid_t *v = NULL;
                        size_t n = 0;
                        r = collect_pids(m->dirs[i].path, &v, &n, err);
                        if (r < 0)
                                return r;
                        r = signal_pids(v, n, SIGKILL, err);
                        if (r < 0)
                                return r;
                        total += n;
                }
                /* frozen processes die only once thawed (a paused container) */
                if (round == 0 && total > 0 && cg_frozen(m, NULL) > 0)
                        cg_freeze(m, false, NULL);
                if (total == 0)
                        return 0;
                if (now_ms() > deadline) {
                        log_debug("cgroup: %zu processes left after SIGKILL", total);
                        return 0; /* rmdir reports EBUSY with the path */
                }
                struct timespec ts = {0, (round < 10 ? 1 : 10) * 1000000L};
                nanosleep(&ts, NULL);
        }
}

int cg_common_destroy(struct cg_manager *m, struct cx_error **err)
{
        int r = kill_all_and_wait(m, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_dirs; i++) {
                int q = cg_remove_dir(&m->dirs[i], err);
                if (q < 0 && r == 0)
                        r = q;
        }
        return r;
}

static char *hierarchy_name(const struct cg_mount *mnt)
{
        const char *mp = mnt->mount_point, *root = cg_root();
        size_t rl = strlen(root);
        if (strncmp(mp, root, rl) == 0 && (!mp[rl] || (mp[rl] == '/' && mp[rl + 1])))
                return xstrdup(mp[rl] ? mp + rl + 1 : "");
        const char *slash = strrchr(mp, '/');
        return xstrdup(slash ? slash + 1 : mp);
}

int cg_common_hierarchies(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                          struct cx_error **err)
{
        struct cg_hierarchy *v = xcalloc(m->n_dirs ? m->n_dirs : 1, sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; i < m->n_dirs; i++) {
                const struct cg_mount *mnt = m->dirs[i].mnt;
                if (!mnt)
                        continue;
                v[n++] = (struct cg_hierarchy){
                    .name = hierarchy_name(mnt),
                    .fstype = xstrdup(mnt->v2 ? "cgroup2" : "cgroup"),
                    .options = cg_mount_options(mnt),
                    .host_dir = xstrdup(m->dirs[i].path),
                };
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

uint64_t cg_shares_to_weight(uint64_t shares)
{
        if (shares < 2)
                shares = 2;
        if (shares > 262144)
                shares = 262144;
        return 1 + ((shares - 2) * 9999) / 262142;
}
