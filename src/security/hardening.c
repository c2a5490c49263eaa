/* Hardening of the container's init between clone and execve.
 *
 * CVE-2016-9962: the init is made non-dumpable as soon as it starts, so that no process of the
 * container can ptrace it or open its /proc/PID/{mem,exe,fd} while it still holds capsa's
 * memory and fds; execve of the user's binary makes the process dumpable again.
 * CVE-2024-21626: the working directory is resolved inside the container's root without
 * following magic links, so a cwd of /proc/self/fd/N cannot land on a host directory that an fd
 * of the runtime still points to.
 *
 * Kernel interfaces: prctl(PR_SET_DUMPABLE), openat2(2) (RESOLVE_IN_ROOT,
 * RESOLVE_NO_MAGICLINKS), fchdir(2), getcwd(3). */
#include "security/security.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int sec_init_not_dumpable(struct cx_error **err)
{
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return cx_error_set(err, errno, "prctl(PR_SET_DUMPABLE, 0) in the container init");
        return 0;
}

/* Without openat2: chdir, then make sure the result is below the root we are in. */
static int chdir_checked(const char *cwd, struct cx_error **err)
{
        if (chdir(cwd) < 0)
                return cx_error_set(err, errno, "process.cwd: chdir to `%s`", cwd);
        char buf[4096];
        /* a directory outside our root reads as "(unreachable)/..." or fails with ENOENT */
        if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
                return cx_error_msg(err, EPERM,
                                    "process.cwd: `%s` resolves outside the container's root", cwd);
        return 0;
}

int sec_chdir_cwd(const char *cwd, struct cx_error **err)
{
        struct open_how how = {
            .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int fd = (int)syscall(SYS_openat2, AT_FDCWD, cwd, &how, sizeof(how));
        if (fd < 0 && errno == ENOSYS)
                return chdir_checked(cwd, err);
        if (fd < 0 && errno == ELOOP)
                return cx_error_msg(err, ELOOP,
                                    "process.cwd: `%s` goes through a magic link (/proc/*/fd, "
                                    "/proc/*/cwd...), refused: it could lead outside the "
                                    "container's root (CVE-2024-21626)",
                                    cwd);
        if (fd < 0)
                return cx_error_set(err, errno, "process.cwd: resolve `%s` in the container", cwd);
        if (fchdir(fd) < 0)
                return cx_error_set(err, errno, "process.cwd: chdir to `%s`", cwd);
        return 0;
}
