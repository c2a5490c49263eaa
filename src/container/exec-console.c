/* The caller's side of a container terminal and of a foreground process: connect to a
 * --console-socket, receive a pty master, and wait for the process while forwarding signals
 * and (with a pty) copying stdin/stdout to and from the master, as `runc run -t` does. */
#include "container/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

int console_connect(const char *path, struct cx_error **err)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(addr.sun_path))
                return cx_error_msg(err, ENAMETOOLONG, "--console-socket `%s`: path too long",
                                    path);
        strcpy(addr.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                return cx_error_set(err, errno, "connect to --console-socket `%s`", path);
        return TAKE_FD(fd);
}

int console_open(const char *socket_path, int *ret_fd, int *ret_peer, struct cx_error **err)
{
        if (socket_path) {
                *ret_fd = console_connect(socket_path, err);
                return *ret_fd < 0 ? *ret_fd : 0;
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return cx_error_set(err, errno, "socketpair for the terminal");
        *ret_peer = sv[0];
        *ret_fd = sv[1];
        return 0;
}

int console_recv_master(int sock, int *ret_master, struct cx_error **err)
{
        char name[64];
        int fd = -1;
        int r = fd_recv(sock, &fd, name, sizeof(name));
        if (r < 0)
                return cx_error_set(err, -r, "receive the terminal's pty master");
        if (fd < 0)
                return cx_error_msg(err, EPROTO, "receive the terminal's pty master: no fd");
        *ret_master = fd;
        return 0;
}

void console_block_signals(sigset_t *ret_old, sigset_t *ret_set)
{
        sigfillset(ret_set);
        sigdelset(ret_set, SIGSEGV);
        sigdelset(ret_set, SIGBUS);
        sigdelset(ret_set, SIGILL);
        sigdelset(ret_set, SIGFPE);
        sigdelset(ret_set, SIGKILL);
        sigdelset(ret_set, SIGSTOP);
        sigprocmask(SIG_BLOCK, ret_set, ret_old);
}

static int exit_status(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

/* Copies what is readable on `from` to `to`; returns false at EOF or error. */
static bool pump(int from, int to)
{
        char buf[8192];
        ssize_t n = read(from, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return true;
        if (n <= 0)
                return false;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, n - off);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return true; /* the reader went away: drop the output, keep going */
                off += w;
        }
        return true;
}

static void resize(int master)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                ioctl(master, TIOCSWINSZ, &ws);
}

/* Reads the last output the process left in the pty (until EIO: no slave left). */
static void drain(int master)
{
        int fl = fcntl(master, F_GETFL);
        fcntl(master, F_SETFL, fl | O_NONBLOCK);
        while (pump(master, STDOUT_FILENO)) {
                struct pollfd p = {.fd = master, .events = POLLIN};
                if (poll(&p, 1, 100) <= 0)
                        break;
        }
}

int console_wait(pid_t pid, int sfd, int master)
{
        struct termios saved;
        bool raw = master >= 0 && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
        if (raw) {
                struct termios t = saved;
                cfmakeraw(&t);
                tcsetattr(STDIN_FILENO, TCSANOW, &t);
        }
        if (master >= 0)
                resize(master);
        bool in_open = master >= 0, out_open = master >= 0;
        int status = -1;
        while (status < 0) {
                struct pollfd p[3] = {
                    {.fd = sfd, .events = POLLIN},
                    {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                    {.fd = out_open ? master : -1, .events = POLLIN},
                };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[2].revents && !pump(master, STDOUT_FILENO))
                        out_open = false;
                if (p[1].revents && !pump(STDIN_FILENO, master))
                        in_open = false; /* EOF on our stdin: the pty stays open, as runc */
                if (!p[0].revents)
                        continue;
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof(si)) != sizeof(si))
                        continue;
                if (si.ssi_signo == SIGWINCH && master >= 0) {
                        resize(master);
                } else if (si.ssi_signo != SIGCHLD) {
                        kill(pid, (int)si.ssi_signo);
                } else {
                        /* pid, and any orphan that was reparented to us (run is a child
                         * subreaper unless --no-subreaper): reap them all */
                        int st;
                        pid_t w;
                        while ((w = waitpid(-1, &st, WNOHANG)) != 0) {
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w < 0)
                                        break;
                                if (w == pid)
                                        status = exit_status(st);
                        }
                }
        }
        if (status < 0) { /* poll failed: still reap the process */
                int st = 0;
                while (waitpid(pid, &st, 0) < 0)
                        if (errno != EINTR)
                                break;
                status = exit_status(st);
        }
        if (out_open)
                drain(master);
        if (raw)
                tcsetattr(STDIN_FILENO, TCSADRAIN, &saved);
        return status;
}
