/* The parent's side of user and time namespaces: /proc/PID/{setgroups,uid_map,gid_map} and
 * /proc/self/timens_offsets. */
#include "namespaces/ns-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <string.h>

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

static int write_map(pid_t pid, const char *file, const struct spec_id_map *m, size_t n,
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

int ns_write_id_maps(pid_t pid, const struct spec_linux *l, struct cx_error **err)
{
        const struct spec_namespace *user = &l->ns[SPEC_NS_USER];
        if (!user->present || user->path)
                return 0;

        /* without CAP_SETGID in the parent namespace gid_map needs setgroups denied first;
         * root leaves it at "allow" */
        if (l->n_gid_mappings && geteuid() != 0) {
                char path[64];
                snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)pid);
                int r = write_once(path, "deny", "deny", err);
                if (r < 0)
                        return r;
        }
        int r = write_map(pid, "uid_map", l->uid_mappings, l->n_uid_mappings, err);
        if (r < 0)
                return cx_error_prefix(err, "linux.uidMappings");
        r = write_map(pid, "gid_map", l->gid_mappings, l->n_gid_mappings, err);
        if (r < 0)
                return cx_error_prefix(err, "linux.gidMappings");
        return 0;
}

int ns_time_prepare(const struct spec_linux *l, struct cx_error **err)
{
        const struct spec_namespace *t = &l->ns[SPEC_NS_TIME];
        if (!t->present || t->path)
                return 0;
        if (unshare(CLONE_NEWTIME) < 0)
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
