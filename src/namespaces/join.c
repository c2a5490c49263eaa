/* Joining existing namespaces: linux.namespaces[].path, opened and type-checked before
 * anything changes, then setns(2) with the user namespace first and the mount namespace last. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

/* Kept here rather than taken from spec.c: this file only needs the names and flags. */
static const struct {
        const char *name;
        int flag;
} ns_info[SPEC_NS_MAX] = {
    [SPEC_NS_PID] = {"pid", CLONE_NEWPID},          [SPEC_NS_NETWORK] = {"network", CLONE_NEWNET},
    [SPEC_NS_MOUNT] = {"mount", CLONE_NEWNS},       [SPEC_NS_IPC] = {"ipc", CLONE_NEWIPC},
    [SPEC_NS_UTS] = {"uts", CLONE_NEWUTS},          [SPEC_NS_USER] = {"user", CLONE_NEWUSER},
    [SPEC_NS_CGROUP] = {"cgroup", CLONE_NEWCGROUP}, [SPEC_NS_TIME] = {"time", CLONE_NEWTIME},
};

/* setns order: user first (it grants the capabilities for the others), mount last. */
static const enum spec_ns_type join_order[SPEC_NS_MAX] = {
    SPEC_NS_USER, SPEC_NS_IPC,  SPEC_NS_UTS,    SPEC_NS_NETWORK,
    SPEC_NS_PID,  SPEC_NS_TIME, SPEC_NS_CGROUP, SPEC_NS_MOUNT,
};

static void close_all(int fds[SPEC_NS_MAX])
{
        for (int t = 0; t < SPEC_NS_MAX; t++)
                if (fds[t] >= 0) {
                        close(fds[t]);
                        fds[t] = -1;
                }
}

static int open_one(enum spec_ns_type t, const char *path, int *ret_fd, struct cx_error **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "linux.namespaces[%s].path: open %s",
                                    ns_info[t].name, path);
        int type = ioctl(fd, NS_GET_NSTYPE);
        if (type < 0 && (errno == ENOTTY || errno == EINVAL))
                return cx_error_msg(err, EINVAL,
                                    "linux.namespaces[%s].path: %s is not a "
                                    "namespace",
                                    ns_info[t].name, path);
        if (type < 0)
                return cx_error_set(err, errno, "linux.namespaces[%s].path: %s", ns_info[t].name,
                                    path);
        if (type != ns_info[t].flag)
                return cx_error_msg(err, EINVAL,
                                    "linux.namespaces[%s].path: %s is not a %s "
                                    "namespace",
                                    ns_info[t].name, path, ns_info[t].name);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int ns_open_paths(const struct spec_linux *l, int fds[SPEC_NS_MAX], struct cx_error **err)
{
        for (int t = 0; t < SPEC_NS_MAX; t++)
                fds[t] = -1;
        for (int t = 0; t < SPEC_NS_MAX; t++) {
                if (!l->ns[t].present || !l->ns[t].path)
                        continue;
                int r = open_one((enum spec_ns_type)t, l->ns[t].path, &fds[t], err);
                if (r < 0) {
                        close_all(fds);
                        return r;
                }
        }
        return 0;
}

int ns_join(int fds[SPEC_NS_MAX], struct cx_error **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(join_order); i++) {
                enum spec_ns_type t = join_order[i];
                if (fds[t] < 0)
                        continue;
                int r = sys_setns(fds[t], ns_info[t].flag);
                int saved = errno;
                close(fds[t]);
                fds[t] = -1;
                if (r < 0) {
                        close_all(fds);
                        return cx_error_set(err, saved, "join the %s namespace", ns_info[t].name);
                }
        }
        return 0;
}
