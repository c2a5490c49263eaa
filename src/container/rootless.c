/* What a container without a cgroup of its own (rootless: the user may not create one) still
 * needs: its processes, found through its pid namespace, and the name of its owner. */
#include "container/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

static int pidns_of(const char *pid, struct stat *ret)
{
        char path[300];
        snprintf(path, sizeof(path), "/proc/%s/ns/pid", pid);
        return stat(path, ret) < 0 ? -errno : 0;
}

int container_pidns_pids(const struct state *st, pid_t **ret, size_t *ret_n, struct cx_error **err)
{
        *ret = NULL;
        *ret_n = 0;
        if (st->pid <= 0 || !state_pid_matches(st->pid, st->pid_start_time))
                return 0; /* stopped: nothing left */
        char init[16];
        snprintf(init, sizeof(init), "%d", (int)st->pid);
        struct stat ns, self;
        int r = pidns_of(init, &ns);
        if (r < 0)
                return cx_error_set(err, -r, "read the pid namespace of container `%s`", st->id);
        if (pidns_of("self", &self) < 0 || (ns.st_dev == self.st_dev && ns.st_ino == self.st_ino))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "container `%s` has no cgroup (rootless) and no pid namespace "
                                    "of its own: its processes cannot be told apart",
                                    st->id);
        DIR *dir = opendir("/proc");
        if (!dir)
                return cx_error_set(err, errno, "open /proc");
        pid_t *v = NULL;
        size_t n = 0;
        for (struct dirent *de; (de = readdir(dir));) {
                struct stat s;
                if (de->d_name[0] < '1' || de->d_name[0] > '9' || pidns_of(de->d_name, &s) < 0 ||
                    s.st_dev != ns.st_dev || s.st_ino != ns.st_ino)
                        continue;
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = (pid_t)atoi(de->d_name);
        }
        closedir(dir);
        *ret = v;
        *ret_n = n;
        return 0;
}

int container_pidns_kill(const struct state *st, int sig, struct cx_error **err)
{
        _cleanup_free_ pid_t *v = NULL;
        size_t n;
        int r = container_pidns_pids(st, &v, &n, err);
        if (r < 0)
                return r;
        if (n == 0)
                return cx_error_msg(err, ESRCH, "container `%s` is not running", st->id);
        for (size_t i = 0; i < n; i++)
                if (kill(v[i], sig) < 0 && errno != ESRCH)
                        return cx_error_set(err, errno, "send signal %d to process %d of `%s`", sig,
                                            (int)v[i], st->id);
        return 0;
}

char *container_owner_name(uid_t uid)
{
        /* /etc/passwd read directly (a static binary has no NSS), "#UID" when not found */
        _cleanup_free_ char *text = NULL;
        if (read_file_at(AT_FDCWD, "/etc/passwd", &text, NULL, NULL) >= 0) {
                char *save = NULL;
                for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                        if (c2 && strtoul(c2 + 1, NULL, 10) == uid && c2[1] != ':') {
                                *c1 = '\0';
                                return xstrdup(l);
                        }
                }
        }
        return xasprintf("#%u", (unsigned)uid);
}
