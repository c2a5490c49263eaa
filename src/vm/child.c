/* A child whose start is reported: the monitor's QEMU and virtiofsd (until their execve) and a
 * detached exec's stand-in (until its process runs). */
#include "vm/vm.h"

#include <fcntl.h>
#include <sys/wait.h>

pid_t vm_fork_ready(void (*fn)(void *arg, int ready_fd), void *arg, const char *what,
                    struct cx_error **err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                fn(arg, p[1]);
                _exit(127);
        }
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return cx_error_set(err, errno, "fork %s", what ? what : "");
        }
        _cleanup_free_ char *msg = NULL;
        size_t len = 0;
        if (read_fd_all(p[0], &msg, &len) < 0)
                len = 0;
        close(p[0]);
        if (len == 0)
                return pid;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return what ? cx_error_msg(err, EIO, "%s: %s", what, msg)
                    : cx_error_msg(err, EIO, "%s", msg);
}
