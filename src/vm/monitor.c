/* The monitor: a VM container's stand-in on the host (its pid is the container's pid).
 *
 * It boots the VM (virtiofsd, then QEMU, both its children, in the container's cgroup), has the
 * agent create the container, and then routes frames: the init's stdio to and from the fds the
 * container was created with (or a pty whose master went to the console socket), requests of
 * the capsa commands connected to vm.sock to the agent and their answers back, exec sessions'
 * stdio to their `capsa exec`.  Signals sent to it are forwarded to the container's init;
 * SIGKILL (`kill KILL`, `delete --force`) ends QEMU at once, so a hung guest goes too.  When the
 * init exits, the guest is powered off and the monitor exits as the init did. */
#include "vm/vm.h"
#include "util/json.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#define MAX_CLIENTS     32
#define MAX_PENDING     128
#define CLIENT_BACKLOG  (4u << 20)
#define BOOT_TIMEOUT_MS 120000 /* TCG on a loaded host: a boot has been seen to take 40 s */

struct client {
        struct vm_conn c;
        uint16_t chan; /* its exec session, or 0 */
};

struct pending {
        struct client *who; /* NULL: the monitor's own request */
        uint16_t type;
};

static struct vm_monitor_args *args;
static struct vm_conn agent;
static struct client clients[MAX_CLIENTS];
static struct pending pending[MAX_PENDING];
static size_t n_pending;
static struct vm_stdio init_io = {.in = -1, .out = -1, .err = -1, .tty = -1};
static uint16_t next_chan = 1;
static bool init_exited, killed, shutting_down;
static int init_status, init_sig;
static int64_t qemu_deadline; /* after SHUTDOWN: when QEMU gets SIGKILL */

static int64_t now_ms(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The last lines of the guest's console that say why it stopped (a panic, an agent error). */
static char *stop_reason(int qemu_status)
{
        _cleanup_free_ char *log = NULL;
        size_t len = 0;
        char *why = NULL;
        if (read_file_at(AT_FDCWD, VM_CONSOLE, &log, &len, NULL) >= 0) {
                for (char *l = strtok(log, "\r\n"); l; l = strtok(NULL, "\r\n")) {
                        char *m = strstr(l, "Kernel panic");
                        if (!m)
                                m = strstr(l, "capsa-agent:");
                        if (m && !why)
                                why = xstrdup(m);
                }
        }
        if (why)
                return why;
        /* QEMU's own last word (its stderr, and virtiofsd's, are vm.log) */
        _cleanup_free_ char *vl = NULL;
        if (read_file_at(AT_FDCWD, VM_LOG, &vl, &len, NULL) >= 0 && len) {
                while (len && vl[len - 1] == '\n')
                        vl[--len] = 0;
                char *last = strrchr(vl, '\n');
                if (WIFEXITED(qemu_status) && WEXITSTATUS(qemu_status) != 0)
                        return xasprintf("QEMU exited with status %d: %s", WEXITSTATUS(qemu_status),
                                         last ? last + 1 : vl);
        }
        if (WIFSIGNALED(qemu_status))
                return xasprintf("QEMU was killed by signal %d", WTERMSIG(qemu_status));
        return xasprintf("the guest stopped (QEMU exited with status %d) without the "
                         "container's exit",
                         WEXITSTATUS(qemu_status));
}

static _Noreturn _printf_(1, 2) void fail_boot(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = NULL;
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (!m)
                _exit(1);
        write_all(args->ready_fd, m, strlen(m));
        if (args->boot.qemu > 0)
                kill(args->boot.qemu, SIGKILL);
        if (args->boot.virtiofsd > 0)
                kill(args->boot.virtiofsd, SIGKILL);
        _exit(1);
}

/* Frames until one of type want arrives (others are dropped: nothing else is due), within
 * BOOT_TIMEOUT_MS, while QEMU lives. */
static void boot_expect(uint16_t want, struct vm_frame *ret, int sfd)
{
        int64_t deadline = now_ms() + BOOT_TIMEOUT_MS;
        for (;;) {
                int r = vm_conn_next(&agent, ret);
                if (r > 0 && (ret->type == want || ret->type == VM_ERR))
                        return;
                if (r > 0) {
                        vm_frame_clear(ret);
                        continue;
                }
                if (r < 0 || agent.eof)
                        break;
                struct pollfd p[2] = {{.fd = agent.fd, .events = POLLIN},
                                      {.fd = sfd, .events = POLLIN}};
                int left = (int)(deadline - now_ms());
                if (left <= 0) {
                        fail_boot("the guest did not answer within %d s (its console: " VM_CONSOLE
                                  " in the container's state directory)",
                                  BOOT_TIMEOUT_MS / 1000);
                }
                if (poll(p, 2, left) > 0 && p[0].revents)
                        vm_conn_fill(&agent);
                int st;
                if (waitpid(args->boot.qemu, &st, WNOHANG) == args->boot.qemu) {
                        args->boot.qemu = 0;
                        _cleanup_free_ char *why = stop_reason(st);
                        fail_boot("the VM stopped while booting: %s", why);
                }
        }
        fail_boot("the guest closed its port while booting");
}

static void queue_pending(struct client *who, uint16_t type)
{
        if (n_pending < MAX_PENDING)
                pending[n_pending++] = (struct pending){.who = who, .type = type};
}

static void send_agent(struct client *who, uint16_t type, uint16_t chan, const char *data,
                       size_t len)
{
        vm_conn_queue(&agent, type, chan, data, len);
        queue_pending(who, type);
}

static void kill_vm(void)
{
        if (args->boot.qemu > 0)
                kill(args->boot.qemu, SIGKILL);
        killed = true;
}

static void client_request(struct client *cl, const struct vm_frame *f)
{
        switch (f->type) {
        case VM_KILL: {
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                int64_t sig = 0;
                if (json_parse(f->data, f->len, "kill", &v, NULL) >= 0 &&
                    json_val_int(json_val_get(v, "signal"), &sig) && sig == SIGKILL) {
                        kill_vm(); /* the whole container at once, a hung guest too */
                        vm_conn_queue_str(&cl->c, VM_OK, 0, NULL);
                        return;
                }
                return send_agent(cl, f->type, 0, f->data, f->len);
        }
        case VM_EXEC:
                if (init_exited || shutting_down) {
                        vm_conn_queue_str(&cl->c, VM_ERR, 0, "the container is not running");
                        return;
                }
                cl->chan = next_chan++;
                if (next_chan == 0)
                        next_chan = 1;
                return send_agent(cl, f->type, cl->chan, f->data, f->len);
        case VM_STDIN:
        case VM_RESIZE:
        case VM_SIGNAL:
                if (cl->chan)
                        vm_conn_queue(&agent, f->type, cl->chan, f->data, f->len);
                return;
        case VM_START:
        case VM_PS:
        case VM_STATS:
        case VM_UPDATE:
                return send_agent(cl, f->type, 0, f->data, f->len);
        default:
                vm_conn_queue_str(&cl->c, VM_ERR, 0, "not a request the monitor takes");
        }
}

static struct client *client_of(uint16_t chan)
{
        for (int i = 0; i < MAX_CLIENTS; i++)
                if (clients[i].c.fd >= 0 && clients[i].chan == chan)
                        return &clients[i];
        return NULL;
}

static void agent_reply(const struct vm_frame *f)
{
        if (n_pending == 0)
                return;
        struct pending p = pending[0];
        memmove(pending, pending + 1, --n_pending * sizeof(pending[0]));
        if (p.type == VM_START && f->type == VM_OK)
                close(open(VM_STARTED, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
        if (p.who && p.type == VM_EXEC && f->type == VM_ERR)
                p.who->chan = 0;
        if (p.who && p.who->c.fd >= 0)
                vm_conn_queue(&p.who->c, f->type, 0, f->data, f->len);
}

static void agent_frame(const struct vm_frame *f)
{
        switch (f->type) {
        case VM_OK:
        case VM_ERR:
                return agent_reply(f);
        case VM_STDOUT:
        case VM_STDERR:
                if (f->chan == 0)
                        return vm_stdio_output(&init_io, f);
                break;
        case VM_EXIT:
                if (f->chan == 0) {
                        init_exited = true;
                        init_status = vm_exit_status(f->data, &init_sig);
                        shutting_down = true;
                        /* nothing of the guest's needs writing back but a block device's
                         * cache (virtio-fs writes through): without one, QEMU just ends */
                        if (!args->boot.p->image) {
                                kill(args->boot.qemu, SIGKILL);
                                return;
                        }
                        vm_conn_queue(&agent, VM_SHUTDOWN, 0, NULL, 0);
                        qemu_deadline = now_ms() + 10000;
                        return;
                }
                break;
        default:
                return;
        }
        struct client *cl = client_of(f->chan);
        if (cl)
                vm_conn_queue(&cl->c, f->type, 0, f->data, f->len);
        if (cl && f->type == VM_EXIT)
                cl->chan = 0;
}

/* Signals for the monitor: the container's (forwarded to its init), SIGWINCH (the terminal's
 * size), SIGCHLD (QEMU or virtiofsd ended). */
static void on_signal(int sig)
{
        if (sig == SIGWINCH)
                return vm_stdio_resize(&init_io, &agent);
        if (sig == SIGCHLD || init_exited)
                return;
        _cleanup_free_ char *k = xasprintf("{\"signal\":%d,\"all\":false}", sig);
        send_agent(NULL, VM_KILL, 0, k, strlen(k));
}

/* The guest is gone: every exec session ends as killed, the monitor as its init did. */
static _Noreturn void finish(int qemu_status)
{
        if (!init_exited) {
                _cleanup_free_ char *why =
                    killed ? xstrdup("killed (SIGKILL)") : stop_reason(qemu_status);
                if (!killed)
                        write_file_atomic_at(AT_FDCWD, VM_STOPPED, why, strlen(why), NULL);
                init_status = 128 + SIGKILL;
                init_sig = SIGKILL;
        }
        for (int i = 0; i < MAX_CLIENTS; i++)
                if (clients[i].c.fd >= 0) {
                        if (clients[i].chan)
                                vm_conn_queue_str(&clients[i].c, VM_EXIT, 0, "signal 9");
                        for (size_t p = 0; p < n_pending; p++)
                                if (pending[p].who == &clients[i])
                                        vm_conn_queue_str(&clients[i].c, VM_ERR, 0,
                                                          "the container's VM stopped");
                        int fl = fcntl(clients[i].c.fd, F_GETFL);
                        fcntl(clients[i].c.fd, F_SETFL, fl & ~O_NONBLOCK);
                        vm_conn_flush(&clients[i].c);
                }
        if (args->boot.virtiofsd > 0) {
                kill(args->boot.virtiofsd, SIGKILL); /* it may be frozen (a paused container) */
                waitpid(args->boot.virtiofsd, NULL, 0);
        }
        unlink("fs.sock");
        vm_exit_like(init_status, init_sig);
}

static void accept_client(void)
{
        int fd = accept4(args->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
                return;
        for (int i = 0; i < MAX_CLIENTS; i++)
                if (clients[i].c.fd < 0) {
                        vm_conn_init(&clients[i].c, fd);
                        clients[i].chan = 0;
                        return;
                }
        close(fd);
}

static void client_input(struct client *cl)
{
        vm_conn_fill(&cl->c);
        struct vm_frame f;
        int k;
        while ((k = vm_conn_next(&cl->c, &f)) > 0) {
                client_request(cl, &f);
                vm_frame_clear(&f);
        }
        if (k < 0 || cl->c.eof || cl->c.fd < 0) {
                for (size_t p = 0; p < n_pending; p++)
                        if (pending[p].who == cl)
                                pending[p].who = NULL;
                vm_conn_clear(&cl->c);
                cl->chan = 0;
        }
}

static void serve(int sfd)
{
        for (;;) {
                struct pollfd p[4 + MAX_CLIENTS];
                struct client *owner[4 + MAX_CLIENTS] = {0};
                int n = 0;
                /* a closed port (QEMU ending: a panic, a power-off) is not polled again; the
                 * guest is not read while a client is behind on its output (the monitor is
                 * outside the container's cgroup: no buffer of it may grow without bound) */
                bool behind = false;
                for (int i = 0; i < MAX_CLIENTS; i++)
                        behind |= clients[i].c.fd >= 0 && clients[i].c.out_len > CLIENT_BACKLOG;
                p[n++] = (struct pollfd){.fd = agent.eof ? -1 : agent.fd,
                                         .events =
                                             (behind ? 0 : POLLIN) | (agent.out_len ? POLLOUT : 0)};
                p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
                p[n++] = (struct pollfd){.fd = args->listen_fd, .events = POLLIN};
                int in_at = n;
                vm_stdio_poll(&init_io, &agent, p, &n);
                for (int i = 0; i < MAX_CLIENTS; i++)
                        if (clients[i].c.fd >= 0) {
                                owner[n] = &clients[i];
                                p[n++] = (struct pollfd){
                                    .fd = clients[i].c.fd,
                                    .events = POLLIN | (clients[i].c.out_len ? POLLOUT : 0)};
                        }
                int timeout = shutting_down || agent.eof ? 200 : -1;
                if (poll(p, n, timeout) < 0 && errno != EINTR)
                        continue;
                if (p[1].revents) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) == sizeof(si))
                                on_signal((int)si.ssi_signo);
                }
                int st;
                if (waitpid(args->boot.qemu, &st, WNOHANG) == args->boot.qemu)
                        finish(st);
                if (args->boot.virtiofsd > 0 &&
                    waitpid(args->boot.virtiofsd, NULL, WNOHANG) == args->boot.virtiofsd)
                        args->boot.virtiofsd = 0;
                if (qemu_deadline && now_ms() > qemu_deadline)
                        kill(args->boot.qemu, SIGKILL);
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        if ((vm_conn_fill(&agent) < 0 || agent.eof) && !qemu_deadline) {
                                agent.eof = true; /* QEMU is ending; it gets 10 s */
                                qemu_deadline = now_ms() + 10000;
                        }
                        struct vm_frame f;
                        int k;
                        while ((k = vm_conn_next(&agent, &f)) > 0) {
                                agent_frame(&f);
                                vm_frame_clear(&f);
                        }
                        if (k < 0) { /* a guest that breaks the wire is ended */
                                agent.eof = true;
                                kill_vm();
                        }
                }
                if (p[2].revents)
                        accept_client();
                for (int i = in_at; i < n; i++) {
                        if (!p[i].revents)
                                continue;
                        if (!owner[i]) {
                                vm_stdio_input(&init_io, &agent);
                                continue;
                        }
                        if (p[i].revents & POLLOUT)
                                vm_conn_flush(&owner[i]->c);
                        if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                                client_input(owner[i]);
                }
                vm_conn_flush(&agent);
                for (int i = 0; i < MAX_CLIENTS; i++)
                        if (clients[i].c.fd >= 0 && clients[i].c.out_len &&
                            vm_conn_flush(&clients[i].c) < 0) {
                                vm_conn_clear(&clients[i].c);
                                clients[i].chan = 0;
                        }
        }
}

/* The init's stdio: the fds the container was created with, or a pty whose master goes to the
 * console socket (and whose size is the session's). */
static void init_stdio(void)
{
        init_io.chan = 0;
        if (!args->terminal) {
                init_io.in = STDIN_FILENO;
                init_io.out = STDOUT_FILENO;
                init_io.err = STDERR_FILENO;
                return;
        }
        int master, slave;
        struct cx_error *e = NULL;
        if (vm_pty_open(&master, &slave, &e) < 0)
                fail_boot("%s", e->msg);
        if (fd_send(args->console_fd, master, "/dev/ptmx", strlen("/dev/ptmx")) < 0)
                fail_boot("send the terminal's pty master to the console socket: %s",
                          strerror(errno));
        close(master);
        close(args->console_fd);
        /* our controlling terminal: a resize of the master is a SIGWINCH here */
        ioctl(slave, TIOCSCTTY, 0);
        tcsetpgrp(slave, getpgrp());
        init_io.in = init_io.out = init_io.tty = slave;
        init_io.err = slave;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
}

_Noreturn void vm_monitor_main(struct vm_monitor_args *a)
{
        args = a;
        for (int i = 0; i < MAX_CLIENTS; i++)
                clients[i].c.fd = -1;
        setsid();
        if (chdir(a->boot.dir) < 0)
                fail_boot("enter the state directory: %s", strerror(errno));
        signal(SIGPIPE, SIG_IGN);
        sigset_t set;
        sigemptyset(&set);
        int fwd[] = {SIGCHLD, SIGTERM, SIGINT,   SIGHUP,  SIGQUIT,
                     SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};
        for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
                sigaddset(&set, fwd[i]);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                fail_boot("socketpair: %s", strerror(errno));
        a->boot.ctl_fd = sv[1];
        struct cx_error *e = NULL;
        if (vm_spawn_virtiofsd(&a->boot, &e) < 0 || vm_spawn_qemu(&a->boot, &e) < 0)
                fail_boot("%s", e->msg);
        close(sv[1]);
        vm_conn_init(&agent, sv[0]);
        struct vm_frame f;
        boot_expect(VM_HELLO, &f, sfd);
        vm_frame_clear(&f);
        vm_conn_queue_str(&agent, VM_CREATE, 0, a->create_json);
        vm_conn_flush(&agent);
        boot_expect(VM_OK, &f, sfd);
        if (f.type == VM_ERR)
                fail_boot("%s", f.data);
        vm_frame_clear(&f);
        init_stdio();
        fcntl(agent.fd, F_SETFL, O_NONBLOCK);
        close(a->ready_fd);
        serve(sfd);
        _exit(1);
}
