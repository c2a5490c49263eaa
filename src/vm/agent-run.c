/* The guest's capsa commands, run by the agent: each a fork of the agent calling capsa's main
 * (no execve of the same binary under TCG), with stdio as given and every other fd closed; their
 * errors are their own words, from their JSON log. */
#include "vm/vm.h"
#include "util/json.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

int main(int argc, char **argv); /* main.c: capsa's command line */

#define GUEST_LOG VM_GUEST_DIR "/capsa.log"

/* Waits for a guest capsa; when it failed, *ret_err is its own message (the last error of its
 * JSON log). */
int vm_guest_wait(pid_t pid, const char *cmd, char **ret_err)
{
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
                return 0;
        _cleanup_free_ char *log = NULL;
        size_t len = 0;
        char *msg = NULL;
        if (read_file_at(AT_FDCWD, GUEST_LOG, &log, &len, NULL) >= 0) {
                for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
                        struct json_val *v = NULL;
                        if (json_parse(line, strlen(line), "log", &v, NULL) < 0)
                                continue;
                        const char *lvl = json_val_str(json_val_get(v, "level"));
                        const char *m = json_val_str(json_val_get(v, "msg"));
                        if (lvl && m && strcmp(lvl, "error") == 0) {
                                free(msg);
                                msg = xstrdup(m);
                        }
                        json_val_free(v);
                }
        }
        *ret_err = msg ? msg : xasprintf("capsa %s in the guest failed (status %d)", cmd, st);
        return -EIO;
}

/* Runs `capsa ARGS...` in the guest with stdio in/out/err (-1: /dev/null), waiting for it unless
 * ret_pid: then it runs on and *ret_pid is its pid.  Errors: the guest capsa's own message, from
 * its JSON log. */
int vm_guest_run(char *const *args, int in, int out, int err_fd, pid_t *ret_pid, char **ret_err)
{
        truncate(GUEST_LOG, 0);
        pid_t pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(in >= 0 ? in : null, 0);
                dup2(out >= 0 ? out : null, 1);
                dup2(err_fd >= 0 ? err_fd : null, 2);
                if (isatty(0)) { /* an exec's terminal: its SIGWINCH follows the session's size */
                        setsid();
                        ioctl(0, TIOCSCTTY, 0);
                }
                size_t n = strv_len((char **)args);
                char **argv = xcalloc(n + 6, sizeof(char *));
                char *pre[] = {"capsa", "--log", GUEST_LOG, "--log-format", "json"};
                memcpy(argv, pre, sizeof(pre));
                memcpy(argv + 5, args, n * sizeof(char *));
                sigset_t all;
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                /* this very binary, without an execve: loading it again costs tens of
                 * milliseconds under TCG, twice a container (create, start).  Nothing of the
                 * agent's may reach the container: no execve closes the port and the
                 * sessions' fds here, so every fd but stdio is closed first. */
                if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
                        for (int fd = 3; fd < 1024; fd++)
                                close(fd);
                int rc = main((int)(n + 5), argv);
                fflush(NULL); /* what the command printed (no exit(): the agent's atexit) */
                _exit(rc);
        }
        if (pid < 0)
                return -errno;
        if (ret_pid) {
                *ret_pid = pid;
                return 0;
        }
        return vm_guest_wait(pid, args[0], ret_err);
}

/* As capsa_run, the command's stdout in *ret_out. */
int vm_guest_output(char *const *args, char **ret_out, char **ret_err)
{
        int fd = memfd_create("out", MFD_CLOEXEC);
        int r = vm_guest_run(args, -1, fd, -1, NULL, ret_err);
        if (r >= 0) {
                size_t len;
                lseek(fd, 0, SEEK_SET);
                if (read_fd_all(fd, ret_out, &len) < 0)
                        *ret_out = xstrdup("");
        }
        close(fd);
        return r;
}

/* A listening socket for the guest capsa's --console-socket. */
int vm_guest_console_listen(const char *path)
{
        unlink(path);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
        if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0) {
                close(s);
                return -1;
        }
        return s;
}

/* The pty master the guest capsa sends to the console socket, while pid runs (or -1 when it
 * ended without sending one). */
int vm_guest_console_accept(int lsock, pid_t pid)
{
        for (;;) {
                struct pollfd p = {.fd = lsock, .events = POLLIN};
                if (poll(&p, 1, 100) > 0) {
                        int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
                        int master = -1;
                        char b[64];
                        if (c >= 0 && fd_recv(c, &master, b, sizeof(b)) < 0)
                                master = -1;
                        if (c >= 0)
                                close(c);
                        return master;
                }
                siginfo_t si = {0};
                if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
                        return -1; /* it ended first (its status is left for the caller) */
        }
}
