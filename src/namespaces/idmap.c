/* The parent's side of user and time namespaces: /proc/PID/{setgroups,uid_map,gid_map} and
 * /proc/self/timens_offsets. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Writes data with one write(2), as the kernel requires for these files.  shown: the data as
 * it appears in an error message. */
static int write_once(const char *path, const char *data, const char *shown, struct cx_error **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open %s", path);
        size_t len = strlen(data);
        ssize_t n = write(fd, data, len);
        if (n < 0 || (size_t)n != len)
                return cx_error_set(err, n < 0 ? errno : EIO, "write `%s` to %s", shown, path);
        return 0;
}

static char *format_map(const struct spec_id_map *m, size_t n, char **ret_shown)
{
        char *buf = xmalloc(n * 36 + 1), *shown = xmalloc(n * 37 + 1);
        size_t len = 0, slen = 0;

        buf[0] = shown[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                len += (size_t)sprintf(buf + len, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n",
                                       m[i].container_id, m[i].host_id, m[i].size);
                slen += (size_t)sprintf(shown + slen, "%s%" PRIu32 " %" PRIu32 " %" PRIu32,
                                        i ? ", " : "", m[i].container_id, m[i].host_id, m[i].size);
        }
        *ret_shown = shown;
        return buf;
}

int ns_write_map(pid_t pid, const char *file, const struct spec_id_map *m, size_t n,
                 struct cx_error **err)
{
        if (n == 0)
                return 0;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        _cleanup_free_ char *shown = NULL;
        _cleanup_free_ char *data = format_map(m, n, &shown);
        return write_once(path, data, shown, err);
}

/* Reads what the helper wrote to stderr (at most one buffer), trimmed, for an error message. */
static void read_helper_stderr(int fd, char *buf, size_t size)
{
        size_t len = 0;
        ssize_t n;
        while (len + 1 < size &&
               ((n = read(fd, buf + len, size - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
                len += n > 0 ? (size_t)n : 0;
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
                len--;
        buf[len] = '\0';
        for (char *p = buf; *p; p++)
                if (*p == '\n')
                        *p = ' ';
}

/* Runs newuidmap/newgidmap (shadow's uidmap package): setuid-root helpers that write the
 * ranges /etc/subuid and /etc/subgid grant the calling user, which an unprivileged process
 * cannot write itself (it may map only its own id). */
static int write_map_helper(pid_t pid, const char *helper, const char *subids,
                            const struct spec_id_map *m, size_t n, struct cx_error **err)
{
        char **argv = xcalloc(3 * n + 3, sizeof(char *));
        argv[0] = xstrdup(helper);
        argv[1] = xasprintf("%d", (int)pid);
        for (size_t i = 0; i < n; i++) {
                argv[2 + 3 * i] = xasprintf("%" PRIu32, m[i].container_id);
                argv[3 + 3 * i] = xasprintf("%" PRIu32, m[i].host_id);
                argv[4 + 3 * i] = xasprintf("%" PRIu32, m[i].size);
        }
        _cleanup_free_ char *shown = NULL;
        _cleanup_free_ char *data = format_map(m, n, &shown);
        int p[2], r = 0, status = 0;
        pid_t child = -1;
        if (pipe2(p, O_CLOEXEC) < 0) {
                r = cx_error_set(err, errno, "pipe for %s", helper);
                goto out;
        }
        child = fork();
        if (child == 0) {
                dup2(p[1], STDERR_FILENO);
                execvp(helper, argv);
                fprintf(stderr, "cannot execute %s: %s%s", helper, strerror(errno),
                        errno == ENOENT ? " (install the uidmap package)" : "");
                _exit(127);
        }
        close(p[1]);
        if (child < 0) {
                close(p[0]);
                r = cx_error_set(err, errno, "fork for %s", helper);
                goto out;
        }
        char msg[512];
        read_helper_stderr(p[0], msg, sizeof(msg));
        close(p[0]);
        while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                r = cx_error_msg(err, ENOENT,
                                 "the ranges `%s` need %s (an unprivileged user may map only its "
                                 "own id): %s",
                                 shown, helper, msg);
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                r = cx_error_msg(err, EPERM,
                                 "`%s %d` refused the ranges `%s` (the user needs them in %s): %s",
                                 helper, (int)pid, shown, subids, msg[0] ? msg : "failed");
out:
        strv_free(argv);
        return r;
}

/* An unprivileged process may write one line mapping its own id (gid: with setgroups denied). */
static bool maps_only(const struct spec_id_map *m, size_t n, uint32_t self)
{
        return n == 1 && m[0].size == 1 && m[0].host_id == self;
}

int ns_write_id_maps(pid_t pid, const struct spec_linux *l, struct cx_error **err)
{
        const struct spec_namespace *user = &l->ns[SPEC_NS_USER];
        if (!user->present || user->path)
                return 0;
        bool root = geteuid() == 0;
        bool uid_helper =
            !root && l->n_uid_mappings && !maps_only(l->uid_mappings, l->n_uid_mappings, geteuid());
        bool gid_helper =
            !root && l->n_gid_mappings && !maps_only(l->gid_mappings, l->n_gid_mappings, getegid());
        int r;

        /* without CAP_SETGID in the parent namespace gid_map needs setgroups denied first;
         * root leaves it at "allow", and so does newgidmap (it decides from /etc/subgid) */
        if (l->n_gid_mappings && !root && !gid_helper) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
                if ((r = write_once(path, "deny", "deny", err)) < 0)
                        return r;
        }
        if (uid_helper)
                r = write_map_helper(pid, "newuidmap", "/etc/subuid", l->uid_mappings,
                                     l->n_uid_mappings, err);
        else
                r = ns_write_map(pid, "uid_map", l->uid_mappings, l->n_uid_mappings, err);
        if (r < 0)
                return cx_error_prefix(err, "linux.uidMappings");
        if (gid_helper)
                r = write_map_helper(pid, "newgidmap", "/etc/subgid", l->gid_mappings,
                                     l->n_gid_mappings, err);
        else
                r = ns_write_map(pid, "gid_map", l->gid_mappings, l->n_gid_mappings, err);
        if (r < 0)
                return cx_error_prefix(err, "linux.gidMappings");
        return 0;
}

int ns_time_prepare(const struct spec_linux *l, struct cx_error **err)
{
        const struct spec_namespace *t = &l->ns[SPEC_NS_TIME];
        if (!t->present || t->path)
                return 0;
        if (sys_unshare(CLONE_NEWTIME) < 0)
                return cx_error_set(err, errno, "unshare the time namespace");
        if (!l->time_monotonic.set && !l->time_boottime.set)
                return 0;

        char buf[128], shown[128];
        size_t len = 0;
        if (l->time_monotonic.set)
                len += (size_t)snprintf(buf, sizeof(buf), "monotonic %" PRId64 " %" PRIu32 "\n",
                                        l->time_monotonic.secs, l->time_monotonic.nanosecs);
        if (l->time_boottime.set)
                snprintf(buf + len, sizeof(buf) - len, "boottime %" PRId64 " %" PRIu32 "\n",
                         l->time_boottime.secs, l->time_boottime.nanosecs);
        snprintf(shown, sizeof(shown), "%s", buf);
        for (char *p = shown; *p; p++)
                if (*p == '\n')
                        *p = p[1] ? ';' : '\0';
        int r = write_once("/proc/self/timens_offsets", buf, shown, err);
        if (r < 0)
                return cx_error_prefix(err, "linux.timeOffsets");
        return 0;
}

/* ---- validation (parent side, before anything is created) --------------------------------- */

/* True when [a, a+n) and [b, b+m) share an id. */
static bool ranges_overlap(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
        return a < b + m && b < a + n;
}

static int validate_map(const char *what, const struct spec_id_map *m, size_t n,
                        struct cx_error **err)
{
        if (n > 340) /* the kernel's limit on lines in uid_map/gid_map */
                return cx_error_msg(err, EINVAL,
                                    "%s: %zu ranges given, the kernel takes at most 340", what, n);
        for (size_t i = 0; i < n; i++) {
                if (m[i].size == 0)
                        return cx_error_msg(err, EINVAL, "%s[%zu].size: must be greater than 0",
                                            what, i);
                if ((uint64_t)m[i].container_id + m[i].size > UINT32_MAX ||
                    (uint64_t)m[i].host_id + m[i].size > UINT32_MAX)
                        return cx_error_msg(err, EINVAL,
                                            "%s[%zu]: range %" PRIu32 "+%" PRIu32
                                            " goes past the last id (4294967294)",
                                            what, i, m[i].container_id, m[i].size);
                for (size_t j = 0; j < i; j++) {
                        if (ranges_overlap(m[j].container_id, m[j].size, m[i].container_id,
                                           m[i].size))
                                return cx_error_msg(
                                    err, EINVAL,
                                    "%s[%zu] and %s[%zu]: container ids %" PRIu32 "-%" PRIu64
                                    " and %" PRIu32 "-%" PRIu64 " overlap",
                                    what, j, what, i, m[j].container_id,
                                    (uint64_t)m[j].container_id + m[j].size - 1, m[i].container_id,
                                    (uint64_t)m[i].container_id + m[i].size - 1);
                        if (ranges_overlap(m[j].host_id, m[j].size, m[i].host_id, m[i].size))
                                return cx_error_msg(
                                    err, EINVAL,
                                    "%s[%zu] and %s[%zu]: host ids %" PRIu32 "-%" PRIu64
                                    " and %" PRIu32 "-%" PRIu64 " overlap",
                                    what, j, what, i, m[j].host_id,
                                    (uint64_t)m[j].host_id + m[j].size - 1, m[i].host_id,
                                    (uint64_t)m[i].host_id + m[i].size - 1);
                }
        }
        return 0;
}

bool ns_id_mapped(const struct spec_id_map *m, size_t n, uint32_t container_id)
{
        for (size_t i = 0; i < n; i++)
                if (container_id >= m[i].container_id &&
                    (uint64_t)container_id < (uint64_t)m[i].container_id + m[i].size)
                        return true;
        return false;
}

static bool host_id_mapped(const struct spec_id_map *m, size_t n, uint32_t host_id)
{
        for (size_t i = 0; i < n; i++)
                if (host_id >= m[i].host_id &&
                    (uint64_t)host_id < (uint64_t)m[i].host_id + m[i].size)
                        return true;
        return false;
}

static int validate_process_ids(const struct ns_config *s, struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        const struct spec_user *u = &s->process->user;

        if (!ns_id_mapped(l->uid_mappings, l->n_uid_mappings, u->uid))
                return cx_error_msg(
                    err, EINVAL, "process.user.uid: %" PRIu32 " is not mapped by linux.uidMappings",
                    u->uid);
        if (!ns_id_mapped(l->gid_mappings, l->n_gid_mappings, u->gid))
                return cx_error_msg(
                    err, EINVAL, "process.user.gid: %" PRIu32 " is not mapped by linux.gidMappings",
                    u->gid);
        for (size_t i = 0; i < u->n_additional_gids; i++)
                if (!ns_id_mapped(l->gid_mappings, l->n_gid_mappings, u->additional_gids[i]))
                        return cx_error_msg(err, EINVAL,
                                            "process.user.additionalGids[%zu]: %" PRIu32
                                            " is not mapped by linux.gidMappings",
                                            i, u->additional_gids[i]);
        return 0;
}

/* The container's root should own its rootfs: a host owner outside the mappings shows up as
 * the overflow id ("nobody") and the container's root cannot write it.  runc accepts such a
 * rootfs (engines use it read-only), so this is a warning naming the JSON path, not an error. */
static int check_rootfs_owner(const struct ns_config *s, struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        struct stat st;

        if (stat(s->root.path, &st) < 0)
                return cx_error_set(err, errno, "root.path: rootfs `%s`", s->root.path);
        if (!host_id_mapped(l->uid_mappings, l->n_uid_mappings, st.st_uid) ||
            !host_id_mapped(l->gid_mappings, l->n_gid_mappings, st.st_gid))
                log_warn("root.path: the rootfs `%s` is owned by host uid %u gid %u, which "
                         "linux.uidMappings/gidMappings do not map: the container sees it owned "
                         "by nobody and cannot write it (chown it to a mapped id)",
                         s->root.path, (unsigned)st.st_uid, (unsigned)st.st_gid);
        return 0;
}

int ns_idmap_validate(const struct ns_config *s, const struct ns_rootfs_source *root,
                      struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        int r;

        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct spec_mount *m = &s->mounts[i];
                char what[64];
                snprintf(what, sizeof(what), "mounts[%zu].uidMappings", i);
                if ((r = validate_map(what, m->uid_mappings, m->n_uid_mappings, err)) < 0)
                        return r;
                snprintf(what, sizeof(what), "mounts[%zu].gidMappings", i);
                if ((r = validate_map(what, m->gid_mappings, m->n_gid_mappings, err)) < 0)
                        return r;
        }
        if (!l->ns[SPEC_NS_USER].present || l->ns[SPEC_NS_USER].path)
                return 0;
        if ((r = validate_map("linux.uidMappings", l->uid_mappings, l->n_uid_mappings, err)) < 0 ||
            (r = validate_map("linux.gidMappings", l->gid_mappings, l->n_gid_mappings, err)) < 0)
                return r;
        if ((r = validate_process_ids(s, err)) < 0)
                return r;
        return root->kind != NS_ROOTFS_DIR ? 0 : check_rootfs_owner(s, err);
}
