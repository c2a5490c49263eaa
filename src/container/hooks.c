/* OCI hooks: each runs with the state JSON on stdin, its own args and env, and a timeout. */
#include "container/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static int pidfd_open_(pid_t pid)
{
        return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int hook_wait(pid_t pid, const struct spec_hook *h, int *ret_status)
{
        _cleanup_close_ int pfd = pidfd_open_(pid);
        if (pfd >= 0 && h->timeout.set && h->timeout.v > 0) {
                struct pollfd p = {.fd = pfd, .events = POLLIN};
                int n;
                do
                        n = poll(&p, 1, (int)(h->timeout.v * 1000));
                while (n < 0 && errno == EINTR);
                if (n == 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return -ETIMEDOUT;
                }
        }
        while (waitpid(pid, ret_status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static int hook_run_one(const struct spec_hook *h, const char *kind, size_t idx,
                        const char *state_json, struct cx_error **err)
{
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "%s hook %zu: pipe", kind, idx);
        pid_t runtime = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                close(pipefd[0]);
                close(pipefd[1]);
                return cx_error_set(err, errno, "%s hook %zu: fork", kind, idx);
        }
        if (pid == 0) {
                /* A hook never outlives the runtime that waits for it: killed with capsa, a
                 * hook would be left running with nothing to undo it (what it starts in the
                 * background is its own business). */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != runtime)
                        _exit(127);
                dup2(pipefd[0], STDIN_FILENO);
                char *const default_args[] = {h->path, NULL};
                /* without env, the runtime's own environment (as runc and crun) */
                execve(h->path, h->args ? h->args : default_args, h->env ? h->env : environ);
                fprintf(stderr, "capsa: %s hook `%s`: exec: %s\n", kind, h->path, strerror(errno));
                _exit(127);
        }
        close(pipefd[0]);
        /* A hook that does not read its stdin must not block us: ignore EPIPE. */
        struct sigaction ign = {.sa_handler = SIG_IGN}, old;
        sigaction(SIGPIPE, &ign, &old);
        (void)!write(pipefd[1], state_json, strlen(state_json));
        close(pipefd[1]);
        sigaction(SIGPIPE, &old, NULL);
        int status = 0;
        int r = hook_wait(pid, h, &status);
        if (r == -ETIMEDOUT)
                return cx_error_msg(err, ETIMEDOUT, "%s hook %zu (`%s`) timed out after %llds",
                                    kind, idx, h->path, (long long)h->timeout.v);
        if (r < 0)
                return cx_error_set(err, -r, "%s hook %zu (`%s`): wait", kind, idx, h->path);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFSIGNALED(status))
                return cx_error_msg(err, EIO, "%s hook %zu (`%s`) killed by signal %d", kind, idx,
                                    h->path, WTERMSIG(status));
        return cx_error_msg(err, EIO, "%s hook %zu (`%s`) exited with status %d", kind, idx,
                            h->path, WEXITSTATUS(status));
}

int hooks_run(const struct spec_hooks *h, enum spec_hook_kind kind, const char *state_json,
              struct cx_error **err)
{
        for (size_t i = 0; i < h->n[kind]; i++) {
                int r =
                    hook_run_one(&h->v[kind][i], spec_hook_kind_names[kind], i, state_json, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

void hooks_run_warn(const struct spec_hooks *h, enum spec_hook_kind kind, const char *state_json)
{
        for (size_t i = 0; i < h->n[kind]; i++) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (hook_run_one(&h->v[kind][i], spec_hook_kind_names[kind], i, state_json, &e) < 0)
                        log_warn("%s", e->msg);
        }
}
