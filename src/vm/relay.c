/* The host side of a session's stdio: the monitor's for the init, `capsa exec`'s for its process.
 * Input becomes VM_STDIN frames (an empty one at its end), output frames are written out, and a
 * terminal's size follows SIGWINCH. */
#include "vm/vm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <termios.h>

#define BACKLOG (1u << 20) /* stop reading input while this much waits to be sent */

void vm_stdio_poll(const struct vm_stdio *s, const struct vm_conn *c, struct pollfd *p, int *n)
{
        if (s->in >= 0 && c->out_len < BACKLOG)
                p[(*n)++] = (struct pollfd){.fd = s->in, .events = POLLIN};
}

void vm_stdio_input(struct vm_stdio *s, struct vm_conn *c)
{
        char buf[16384];
        ssize_t n = read(s->in, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n > 0) {
                vm_conn_queue(c, VM_STDIN, s->chan, buf, (size_t)n);
                return;
        }
        /* the end of the input (a terminal keeps its input: EIO is its far side gone) */
        if (s->tty < 0 || s->in != s->tty)
                vm_conn_queue(c, VM_STDIN, s->chan, NULL, 0);
        s->in = -1;
}

void vm_stdio_output(const struct vm_stdio *s, const struct vm_frame *f)
{
        int fd = f->type == VM_STDERR ? s->err : s->out;
        if (fd >= 0 && f->len)
                write_all(fd, f->data, f->len);
}

void vm_stdio_resize(const struct vm_stdio *s, struct vm_conn *c)
{
        struct winsize ws;
        if (s->tty < 0 || ioctl(s->tty, TIOCGWINSZ, &ws) < 0)
                return;
        char b[32];
        snprintf(b, sizeof(b), "%u %u", ws.ws_row, ws.ws_col);
        vm_conn_queue_str(c, VM_RESIZE, s->chan, b);
}

int vm_pty_open(int *ret_master, int *ret_slave, struct cx_error **err)
{
        int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
                int e = errno;
                if (m >= 0)
                        close(m);
                return cx_error_set(err, e, "open a pty for the VM's terminal");
        }
        char name[64];
        int s =
            ptsname_r(m, name, sizeof(name)) == 0 ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
        if (s < 0) {
                close(m);
                return cx_error_set(err, errno, "open the VM terminal's pty");
        }
        struct termios t;
        if (tcgetattr(s, &t) == 0) {
                cfmakeraw(&t);
                tcsetattr(s, TCSANOW, &t);
        }
        *ret_master = m;
        *ret_slave = s;
        return 0;
}

int vm_exit_status(const char *payload, int *ret_sig)
{
        int n = 0;
        *ret_sig = 0;
        if (payload && sscanf(payload, "signal %d", &n) == 1) {
                *ret_sig = n;
                return 128 + n;
        }
        if (payload && sscanf(payload, "exit %d", &n) == 1)
                return n & 0xff;
        return 255;
}

_Noreturn void vm_exit_like(int status, int sig)
{
        if (sig > 0) {
                setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0}); /* the guest's core, not ours */
                signal(sig, SIG_DFL);
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, sig);
                sigprocmask(SIG_UNBLOCK, &set, NULL);
                raise(sig);
        }
        _exit(status);
}
