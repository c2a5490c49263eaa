/* Rootless networking: a runtime that is not root cannot make bridges or veths, so a container
 * that asks for a network gets pasta (Debian's passt package): a user-mode network stack that
 * joins the init's user and network namespaces, copies the host's addresses and routes into
 * them, and forwards published ports from the host.  pasta daemonizes once the namespace is
 * configured and writes its pid; the pid goes into the undo record, so delete ends it.
 * Kernel interfaces: fork(2), execvp(3), waitpid(2). */
#include "container/internal.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/wait.h>

#define PASTA "pasta"

static char **pasta_argv(const struct plan_net *pn, const char *pid_file, pid_t pid)
{
        char **v = NULL;
        strv_append(&v, PASTA);
        strv_append(&v, "--config-net");
        strv_append(&v, "--quiet");
        strv_append(&v, "--pid");
        strv_append(&v, pid_file);
        for (size_t i = 0; i < pn->n_ports; i++) {
                const struct net_port *p = &pn->ports[i];
                _cleanup_free_ char *spec = xasprintf("%u:%u", p->host_port, p->port);
                strv_append(&v, p->proto == IPPROTO_UDP ? "-u" : "-t");
                strv_append(&v, spec);
        }
        _cleanup_free_ char *target = xasprintf("%d", (int)pid);
        strv_append(&v, target);
        return v;
}

int container_net_pasta(struct create_ctx *c, struct cx_error **err)
{
        _cleanup_free_ char *pid_file = xasprintf("%s/%s/pasta.pid", c->o->root, c->o->id);
        _cleanup_strv_ char **argv = pasta_argv(&c->plan.net, pid_file, c->pid);
        pid_t child = fork();
        if (child < 0)
                return cx_error_set(err, errno, "fork for " PASTA);
        if (child == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, STDIN_FILENO);
                        dup2(null, STDOUT_FILENO);
                }
                signals_reset_default();
                execvp(argv[0], argv);
                fprintf(stderr, "capsa: run " PASTA ": %s\n", strerror(errno));
                _exit(127);
        }
        int status;
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        return cx_error_set(err, errno, "wait for " PASTA);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return cx_error_msg(err, ENOENT,
                                    "rootless networking: " PASTA " not found: install the passt "
                                    "package");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return cx_error_msg(err, EIO,
                                    "rootless networking: " PASTA " failed (%s %d; its own "
                                    "message is above)",
                                    WIFEXITED(status) ? "exit status" : "signal",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        _cleanup_free_ char *text = NULL;
        int r = read_file_at(c->dir.fd, "pasta.pid", &text, NULL, err);
        if (r < 0)
                return cx_error_prefix(err, "rootless networking");
        pid_t pid = (pid_t)strtol(text, NULL, 10);
        uint64_t start = 0;
        if (pid <= 0 || state_pid_start_time(pid, &start) < 0)
                return cx_error_msg(err, EIO, "rootless networking: " PASTA " is not running");
        return undo_append_process(&c->dir, pid, start, err);
}
