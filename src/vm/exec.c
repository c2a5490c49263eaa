/* `exec` into a VM container.  The process runs in the guest (its `capsa exec`, with the flags
 * given here); on the host a stand-in process relays its stdio through the monitor and exits as
 * it does, so that --pid-file and a waiting engine see a process of the host whose exit status
 * is the guest process's. */
#include "container/internal.h"
#include "util/json.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>

static void flag(struct json_w *w, const char *name, const char *value)
{
        json_w_str(w, name);
        if (value)
                json_w_str(w, value);
}

static bool process_terminal(const char *text)
{
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        return text && json_parse(text, strlen(text), "process", &v, NULL) >= 0 &&
               json_val_type(json_val_get(v, "terminal")) == JSON_TRUE;
}

/* The VM_EXEC request: the guest capsa exec's flags, the --process file's text, the command. */
static char *exec_request(const struct container_exec_opts *o, const char *process, bool tty)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_bool(w, "terminal", tty);
        if (process)
                json_w_key_str(w, "process", process);
        json_w_key_arr_open(w, "flags");
        if (o->cwd)
                flag(w, "--cwd", o->cwd);
        for (char **e = o->env; e && *e; e++)
                flag(w, "--env", *e);
        if (o->user_set) {
                _cleanup_free_ char *u =
                    o->gid_set ? xasprintf("%u:%u", o->uid, o->gid) : xasprintf("%u", o->uid);
                flag(w, "--user", u);
        }
        for (size_t i = 0; i < o->n_additional_gids; i++) {
                _cleanup_free_ char *g = xasprintf("%u", o->additional_gids[i]);
                flag(w, "--additional-gids", g);
        }
        for (char **c = o->caps; c && *c; c++)
                flag(w, "--cap", *c);
        if (o->no_new_privs == 1)
                flag(w, "--no-new-privs", NULL);
        if (o->apparmor)
                flag(w, "--apparmor", o->apparmor);
        if (o->process_label)
                flag(w, "--process-label", o->process_label);
        for (char **c = o->cgroups; c && *c; c++)
                flag(w, "--cgroup", *c);
        if (o->tty == 1)
                flag(w, "--tty", NULL);
        json_w_arr_close(w);
        json_w_key_arr_open(w, "args");
        for (char **a = o->args; a && *a; a++)
                json_w_str(w, *a);
        json_w_arr_close(w);
        json_w_obj_close(w);
        return json_w_finish(w, false);
}

/* The signals the stand-in forwards to the process (SIGWINCH: its terminal's size), blocked
 * from the start: one that comes while the VM is asked must not end the stand-in. */
static void block_forwarded(sigset_t *ret_set)
{
        sigset_t old;
        console_block_signals(&old, ret_set);
        sigdelset(ret_set, SIGCHLD);
}

/* The stand-in's relay until the process's VM_EXIT; returns its exit status (*ret_sig). */
static int relay(struct vm_conn *c, struct vm_stdio *io, int *ret_sig)
{
        sigset_t set;
        block_forwarded(&set);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        vm_stdio_resize(io, c);
        for (;;) {
                /* frames that came with the answer to the request are in the buffer already */
                struct vm_frame f;
                while (vm_conn_next(c, &f) > 0) {
                        if (f.type == VM_EXIT) {
                                int st = vm_exit_status(f.data, ret_sig);
                                vm_frame_clear(&f);
                                return st;
                        }
                        if (f.type == VM_STDOUT || f.type == VM_STDERR)
                                vm_stdio_output(io, &f);
                        vm_frame_clear(&f);
                }
                struct pollfd p[3] = {{.fd = c->fd, .events = POLLIN | (c->out_len ? POLLOUT : 0)},
                                      {.fd = sfd, .events = POLLIN}};
                int n = 2;
                vm_stdio_poll(io, c, p, &n);
                if (poll(p, n, -1) < 0)
                        continue;
                struct signalfd_siginfo si;
                while (p[1].revents && read(sfd, &si, sizeof(si)) == sizeof(si)) {
                        char b[16];
                        snprintf(b, sizeof(b), "%u", si.ssi_signo);
                        if (si.ssi_signo == SIGWINCH)
                                vm_stdio_resize(io, c);
                        else
                                vm_conn_queue_str(c, VM_SIGNAL, 0, b);
                }
                if (n > 2 && p[2].revents)
                        vm_stdio_input(io, c);
                if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
                    (vm_conn_fill(c) < 0 || c->eof) && c->in_len == 0)
                        return *ret_sig = SIGKILL, 128 + SIGKILL; /* monitor gone */
                vm_conn_flush(c);
        }
}

/* The host side of the process's stdio: a pty whose master goes to --console-socket, the
 * caller's own terminal (in raw mode) for `exec -t` in the foreground, or fds 0-2. */
static int host_stdio(const struct container_exec_opts *o, bool tty, struct vm_stdio *io,
                      struct termios *saved, bool *restore, struct cx_error **err)
{
        *io = (struct vm_stdio){.in = 0, .out = 1, .err = 2, .tty = -1};
        *restore = false;
        if (!tty)
                return 0;
        if (o->console_socket) {
                int master, slave;
                int r = vm_pty_open(&master, &slave, err);
                if (r < 0)
                        return r;
                int cs = console_connect(o->console_socket, err);
                if (cs < 0 || fd_send(cs, master, "/dev/ptmx", 9) < 0) {
                        r = cs < 0 ? cs : cx_error_set(err, errno, "send the pty master");
                        if (cs >= 0)
                                close(cs);
                        close(master);
                        close(slave);
                        return r;
                }
                close(cs);
                close(master);
                /* our controlling terminal: resizes of the master are SIGWINCH here */
                setsid();
                ioctl(slave, TIOCSCTTY, 0);
                tcsetpgrp(slave, getpgrp());
                *io = (struct vm_stdio){.in = slave, .out = slave, .err = slave, .tty = slave};
                return 0;
        }
        io->tty = isatty(0) ? 0 : -1;
        io->err = 1;
        if (io->tty >= 0 && tcgetattr(0, saved) == 0) {
                struct termios raw = *saved;
                cfmakeraw(&raw);
                tcsetattr(0, TCSANOW, &raw);
                *restore = true;
        }
        return 0;
}

/* Asks for the process, with the host side of its stdio set up. */
static int start_session(struct vm_conn *c, const struct container_exec_opts *o, const char *req,
                         bool tty, struct vm_stdio *io, struct termios *saved, bool *restore,
                         struct cx_error **err)
{
        int r = host_stdio(o, tty, io, saved, restore, err);
        if (r >= 0 && (r = vm_request(c, VM_EXEC, 0, req, NULL, err)) < 0)
                cx_error_prefix(err, "exec in container `%s`", o->id);
        return r;
}

struct stand_in_args {
        struct vm_conn *c;
        const struct container_exec_opts *o;
        const char *req;
        bool tty;
};

/* The stand-in of a detached exec (a child): says how the start went on ready_fd, relays, and
 * ends as the process did. */
static void stand_in(void *arg, int ready_fd)
{
        const struct stand_in_args *a = arg;
        struct termios saved;
        bool restore = false;
        struct vm_stdio io;
        struct cx_error *e = NULL;
        if (start_session(a->c, a->o, a->req, a->tty, &io, &saved, &restore, &e) < 0) {
                write_all(ready_fd, e->msg, strlen(e->msg));
                _exit(1);
        }
        close(ready_fd);
        int sig = 0;
        int st = relay(a->c, &io, &sig);
        if (restore)
                tcsetattr(0, TCSANOW, &saved);
        vm_exit_like(st, sig);
}

/* Detached: the stand-in is a child that outlives us; its pid is the process's. */
static int exec_detached(struct vm_conn *c, const struct container_exec_opts *o, const char *req,
                         bool tty, struct cx_error **err)
{
        struct stand_in_args a = {.c = c, .o = o, .req = req, .tty = tty};
        pid_t pid = vm_fork_ready(stand_in, &a, NULL, err);
        if (pid < 0)
                return pid;
        int r = o->pid_file ? container_write_pid_file(o->pid_file, pid, err) : 0;
        if (r < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
        }
        return r;
}

int vm_exec(struct container_handle *h, const struct container_exec_opts *o, int *ret_status,
            struct cx_error **err)
{
        _cleanup_free_ char *process = NULL;
        size_t len = 0;
        int r;
        if (o->preserve_fds > 0)
                r = cx_error_msg(err, EINVAL,
                                 "--preserve-fds: an fd cannot cross into container `%s`'s VM",
                                 h->st.id);
        else if (o->process_file &&
                 (r = read_file_at(AT_FDCWD, o->process_file, &process, &len, err)) < 0)
                cx_error_prefix(err, "--process");
        else
                r = 0;
        struct vm_conn c = {.fd = -1};
        if (r >= 0) {
                struct sockaddr_un a = {.sun_family = AF_UNIX};
                snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/" VM_SOCK, h->dir.fd);
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
                        r = cx_error_set(err, errno, "container `%s`: reach its VM's monitor",
                                         h->st.id);
                vm_conn_init(&c, fd);
        }
        container_close(h);
        sigset_t blocked;
        block_forwarded(&blocked);
        bool tty = o->tty == 1 || (o->tty == -1 && process_terminal(process));
        _cleanup_free_ char *req = exec_request(o, process, tty);
        if (r >= 0 && o->detach) {
                r = exec_detached(&c, o, req, tty, err);
                *ret_status = 0;
        } else if (r >= 0) {
                /* in the foreground this process is the stand-in: signals sent to it go to the
                 * process, and its exit status is the process's */
                struct termios saved;
                bool restore = false;
                struct vm_stdio io;
                if ((r = start_session(&c, o, req, tty, &io, &saved, &restore, err)) >= 0 &&
                    (!o->pid_file ||
                     (r = container_write_pid_file(o->pid_file, getpid(), err)) >= 0)) {
                        int sig = 0;
                        *ret_status = relay(&c, &io, &sig);
                }
                if (restore)
                        tcsetattr(0, TCSANOW, &saved);
        }
        vm_conn_clear(&c);
        return r;
}
