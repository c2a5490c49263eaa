/* The agent's request loop.  The container is built by this same capsa, run as a command in the
 * guest (`capsa create`, `start`, `kill`, `exec`, `ps`, `events`, `update` on the guest's
 * /run/capsa): the namespaces, mounts, seccomp, capabilities and cgroup v2 code are the host's.
 * The agent holds each process session's stdio (pipes, or a pty master received on a console
 * socket) and relays it as frames; as pid 1 it reaps the container's init and reports its exit
 * once its output is drained. */
#include "vm/vm.h"
#include "util/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>

#define MAX_SESSIONS 64

struct session {
        bool used;
        uint16_t chan;
        pid_t pid;  /* init: the container's init; exec: the guest's `capsa exec` */
        int in_fd;  /* stdin's write end, or the pty master */
        int out_fd; /* stdout's read end, or the pty master */
        int err_fd; /* stderr's read end (-1 with a terminal) */
        bool tty;
        bool relaying; /* its output is read (init: once created) */
        bool exited;
        int wstatus;
};

static struct vm_conn port;
static struct session sessions[MAX_SESSIONS];
static char *container_id;

static struct session *session_of(uint16_t chan)
{
        for (int i = 0; i < MAX_SESSIONS; i++)
                if (sessions[i].used && sessions[i].chan == chan)
                        return &sessions[i];
        return NULL;
}

static struct session *session_new(uint16_t chan)
{
        for (int i = 0; i < MAX_SESSIONS; i++)
                if (!sessions[i].used) {
                        sessions[i] = (struct session){
                            .used = true, .chan = chan, .in_fd = -1, .out_fd = -1, .err_fd = -1};
                        return &sessions[i];
                }
        return NULL;
}

static void reply(int r, char *msg, const char *ok)
{
        if (r < 0)
                vm_conn_queue_str(&port, VM_ERR, 0, msg ? msg : strerror(-r));
        else
                vm_conn_queue_str(&port, VM_OK, 0, ok);
        free(msg);
}

/* Stdio for a new session: pipes (our ends in s, theirs in child[3]) or, for a terminal, a
 * console socket at *ret_sock_path. */
static int session_stdio(struct session *s, int child[3], bool exec)
{
        child[0] = child[1] = child[2] = -1;
        if (s->tty) { /* the guest capsa's own errors: the process's go to its terminal */
                int e[2];
                if (pipe2(e, O_CLOEXEC) < 0)
                        return -errno;
                child[2] = e[1];
                s->err_fd = e[0];
                fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
                if (!exec)
                        return 0; /* create sends the pty master to a console socket */
                /* `capsa exec -t` in the foreground proxies its terminal to the process's pty,
                 * as on a host: its terminal is one of ours, whose size is the session's */
                _cleanup_error_ struct cx_error *perr = NULL;
                int m, r = vm_pty_open(&m, &child[0], &perr);
                if (r < 0)
                        return r;
                child[1] = dup(child[0]);
                s->in_fd = s->out_fd = m;
                fcntl(m, F_SETFL, O_NONBLOCK);
                return 0;
        }
        int p[3][2];
        for (int i = 0; i < 3; i++)
                if (pipe2(p[i], O_CLOEXEC) < 0)
                        return -errno;
        child[0] = p[0][0];
        s->in_fd = p[0][1];
        child[1] = p[1][1];
        s->out_fd = p[1][0];
        child[2] = p[2][1];
        s->err_fd = p[2][0];
        fcntl(s->out_fd, F_SETFL, O_NONBLOCK);
        fcntl(s->err_fd, F_SETFL, O_NONBLOCK);
        return 0;
}

static void close_child(int child[3])
{
        for (int i = 0; i < 3; i++)
                if (child[i] >= 0)
                        close(child[i]);
}

static void session_end(struct session *s)
{
        if (s->in_fd >= 0 && s->in_fd != s->out_fd)
                close(s->in_fd);
        if (s->out_fd >= 0)
                close(s->out_fd);
        if (s->err_fd >= 0)
                close(s->err_fd);
        s->used = false;
}

static void do_create(const struct vm_frame *f)
{
        _cleanup_(json_val_freep) struct json_val *req = NULL;
        char *msg = NULL;
        int r = json_parse(f->data, f->len, "create", &req, NULL);
        const char *id = json_val_str(json_val_get(req, "id"));
        const char *cfg_text = json_val_str(json_val_get(req, "config"));
        _cleanup_(json_val_freep) struct json_val *cfg = NULL;
        if (r < 0 || !id || !cfg_text ||
            json_parse(cfg_text, strlen(cfg_text), "config.json", &cfg, NULL) < 0)
                return reply(-EINVAL, xstrdup("a create request the agent cannot read"), NULL);
        _cleanup_free_ char *rootfs = NULL;
        if ((r = vm_guest_rootfs(req, &rootfs, &msg)) < 0)
                return reply(r, msg, NULL);
        _cleanup_free_ char *conf = vm_guest_config(cfg, rootfs, json_val_get(req, "binds"),
                                                    json_val_get(req, "extra_mounts"));
        mkdir(VM_GUEST_DIR "/bundle", 0700);
        if (write_file_atomic_at(AT_FDCWD, VM_GUEST_DIR "/bundle/config.json", conf, strlen(conf),
                                 NULL) < 0)
                return reply(-errno, xstrdup("write the guest's config.json"), NULL);
        free(container_id);
        container_id = xstrdup(id);

        struct session *s = session_new(0);
        s->tty = json_val_type(json_val_get(req, "terminal")) == JSON_TRUE;
        int child[3];
        session_stdio(s, child, false);
        int lsock = s->tty ? vm_guest_console_listen(VM_GUEST_DIR "/console-0.sock") : -1;
        char *args[16] = {"create", "--bundle", VM_GUEST_DIR "/bundle", "--pid-file",
                          VM_GUEST_DIR "/init.pid"};
        int n = 5;
        if (s->tty) {
                args[n++] = "--console-socket";
                args[n++] = VM_GUEST_DIR "/console-0.sock";
        }
        const char *tenant = json_val_str(json_val_get(req, "tenant"));
        if (tenant &&
            (r = vm_guest_tenant(tenant, json_val_get(req, "tenant_first_id"), &msg)) < 0) {
                session_end(s);
                close_child(child);
                if (lsock >= 0)
                        close(lsock);
                return reply(r, msg, NULL);
        }
        if (tenant) {
                args[n++] = "--tenant";
                args[n++] = (char *)tenant;
        }
        args[n++] = (char *)id;
        pid_t pid = -1;
        r = vm_guest_run(args, child[0], child[1], child[2], &pid, &msg);
        close_child(child);
        if (r >= 0 && s->tty) {
                int m = vm_guest_console_accept(lsock, pid);
                s->in_fd = s->out_fd = m >= 0 ? m : -1;
                if (m >= 0)
                        fcntl(m, F_SETFL, O_NONBLOCK);
        }
        if (lsock >= 0)
                close(lsock);
        if (r >= 0)
                r = vm_guest_wait(pid, "create", &msg);
        _cleanup_free_ char *pidtxt = NULL;
        size_t len;
        if (r >= 0 && read_file_at(AT_FDCWD, VM_GUEST_DIR "/init.pid", &pidtxt, &len, NULL) >= 0)
                s->pid = atoi(pidtxt);
        if (r >= 0 && s->pid > 0)
                r = vm_guest_net(json_val_get(req, "net"), s->pid, &msg);
        if (r < 0 || s->pid <= 0) {
                if (s->pid > 0)
                        kill(s->pid, SIGKILL);
                session_end(s);
                return reply(r < 0 ? r : -ESRCH, msg, NULL);
        }
        s->relaying = true;
        reply(0, NULL, NULL);
}

static void do_simple(const char *cmd, const char *sig, bool all)
{
        char *msg = NULL;
        char *args[6] = {(char *)cmd};
        int n = 1;
        if (all)
                args[n++] = "--all";
        args[n++] = container_id;
        if (sig)
                args[n++] = (char *)sig;
        int r = container_id ? vm_guest_run(args, -1, -1, -1, NULL, &msg) : -ENOENT;
        reply(r, msg, NULL);
}

static void do_kill(const struct vm_frame *f)
{
        _cleanup_(json_val_freep) struct json_val *req = NULL;
        int64_t sig = 0;
        if (json_parse(f->data, f->len, "kill", &req, NULL) < 0 ||
            !json_val_int(json_val_get(req, "signal"), &sig))
                return reply(-EINVAL, xstrdup("a kill request the agent cannot read"), NULL);
        _cleanup_free_ char *s = xasprintf("%d", (int)sig);
        do_simple("kill", s, json_val_type(json_val_get(req, "all")) == JSON_TRUE);
}

static void do_output(char *const *args)
{
        char *msg = NULL, *out = NULL;
        int r = container_id ? vm_guest_output(args, &out, &msg) : -ENOENT;
        reply(r, msg, out);
        free(out);
}

/* ps: the guest's pids of the container, as JSON, or (payload "table") a table of them made
 * from the guest's /proc: UID PID PPID CMD. */
static void do_ps(const struct vm_frame *f)
{
        char *args[] = {"ps", "--format", "json", container_id, NULL};
        char *msg = NULL, *out = NULL;
        int r = container_id ? vm_guest_output(args, &out, &msg) : -ENOENT;
        if (r < 0 || strcmp(f->data, "table") != 0) {
                reply(r, msg, out);
                free(out);
                return;
        }
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        _cleanup_free_ char *pids = out;
        if (json_parse(pids, strlen(pids), "ps", &v, NULL) < 0)
                return reply(-EPROTO, xstrdup("the guest's ps said nothing readable"), NULL);
        char *table = xstrdup("UID        PID   PPID CMD\n");
        for (size_t i = 0; i < json_val_len(v); i++) {
                int64_t pid = 0;
                json_val_int(json_val_at(v, i), &pid);
                _cleanup_free_ char *st = NULL, *cmd = NULL;
                size_t len = 0, clen = 0;
                _cleanup_free_ char *sp = xasprintf("/proc/%d/status", (int)pid);
                _cleanup_free_ char *cp = xasprintf("/proc/%d/cmdline", (int)pid);
                if (read_file_at(AT_FDCWD, sp, &st, &len, NULL) < 0)
                        continue; /* gone meanwhile */
                if (read_file_at(AT_FDCWD, cp, &cmd, &clen, NULL) < 0)
                        cmd = xstrdup("");
                for (size_t j = 0; clen && j < clen - 1; j++)
                        if (!cmd[j])
                                cmd[j] = ' ';
                const char *u = strstr(st, "\nUid:"), *pp = strstr(st, "\nPPid:");
                char *t =
                    xasprintf("%s%-8ld %6d %6ld %s\n", table, u ? strtol(u + 5, NULL, 10) : -1,
                              (int)pid, pp ? strtol(pp + 6, NULL, 10) : -1, cmd);
                free(table);
                table = t;
        }
        reply(0, NULL, table);
        free(table);
}

static void do_update(const struct vm_frame *f)
{
        const char *path = VM_GUEST_DIR "/resources.json";
        if (write_file_atomic_at(AT_FDCWD, path, f->data, f->len, NULL) < 0)
                return reply(-errno, xstrdup("write the resources"), NULL);
        char *args[] = {"update", "--resources", (char *)path, container_id, NULL};
        char *msg = NULL;
        reply(container_id ? vm_guest_run(args, -1, -1, -1, NULL, &msg) : -ENOENT, msg, NULL);
}

/* exec: the request is the guest `capsa exec`'s argv after "exec" (built by the host from its
 * own flags), the --process file's text, and whether it has a terminal. */
static void do_exec(const struct vm_frame *f)
{
        _cleanup_(json_val_freep) struct json_val *req = NULL;
        if (!container_id || json_parse(f->data, f->len, "exec", &req, NULL) < 0)
                return reply(-EINVAL, xstrdup("an exec request the agent cannot read"), NULL);
        if (session_of(f->chan))
                return reply(-EBUSY, xstrdup("that exec session is in use"), NULL);
        struct session *s = session_new(f->chan);
        if (!s)
                return reply(-EMFILE, xstrdup("too many exec sessions"), NULL);
        s->tty = json_val_type(json_val_get(req, "terminal")) == JSON_TRUE;
        _cleanup_strv_ char **args = xcalloc(1, sizeof(char *));
        strv_append(&args, "exec");
        _cleanup_free_ char *pfile = xasprintf(VM_GUEST_DIR "/process-%u.json", f->chan);
        const char *process = json_val_str(json_val_get(req, "process"));
        if (process) {
                write_file_atomic_at(AT_FDCWD, pfile, process, strlen(process), NULL);
                strv_append(&args, "--process");
                strv_append(&args, pfile);
        }
        if (s->tty)
                strv_append(&args, "--tty");
        _cleanup_free_ char *pidfile = xasprintf(VM_GUEST_DIR "/exec-%u.pid", f->chan);
        unlink(pidfile);
        strv_append(&args, "--pid-file");
        strv_append(&args, pidfile);
        const struct json_val *flags = json_val_get(req, "flags");
        for (size_t i = 0; i < json_val_len(flags); i++)
                strv_append(&args, json_val_str(json_val_at(flags, i)));
        strv_append(&args, container_id);
        const struct json_val *argv = json_val_get(req, "args");
        for (size_t i = 0; i < json_val_len(argv); i++)
                strv_append(&args, json_val_str(json_val_at(argv, i)));
        int child[3];
        int r = session_stdio(s, child, true);
        char *msg = r < 0 ? xasprintf("a terminal for the exec: %s", strerror(-r)) : NULL;
        if (r >= 0)
                r = vm_guest_run(args, child[0], child[1], child[2], &s->pid, &msg);
        close_child(child);
        if (r < 0) {
                session_end(s);
                return reply(r, msg, NULL);
        }
        /* answered once the process runs (its pid file is written), as runc's exec returns;
         * one that could not start is an error with the guest capsa's own words */
        for (int i = 0; i < 3000 && access(pidfile, F_OK) < 0; i++) {
                siginfo_t si = {0};
                if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                    si.si_pid) {
                        char buf[1024] = "";
                        ssize_t n = read(s->err_fd, buf, sizeof(buf) - 1);
                        buf[n > 0 ? n : 0] = 0;
                        buf[strcspn(buf, "\n")] = 0;
                        const char *m = strncmp(buf, "capsa: ", 7) == 0 ? buf + 7 : buf;
                        waitpid(s->pid, NULL, 0);
                        session_end(s);
                        return reply(-EIO, xstrdup(*m ? m : "the process did not start"), NULL);
                }
                usleep(2000);
        }
        s->relaying = true;
        reply(0, NULL, NULL);
}

static void do_stdin(const struct vm_frame *f)
{
        struct session *s = session_of(f->chan);
        if (!s || s->in_fd < 0)
                return;
        if (f->len == 0) {
                if (!s->tty) {
                        close(s->in_fd);
                        s->in_fd = -1;
                }
                return;
        }
        /* the process reads its input at its pace: this write blocks as a pipe does */
        int fl = fcntl(s->in_fd, F_GETFL);
        fcntl(s->in_fd, F_SETFL, fl & ~O_NONBLOCK);
        write_all(s->in_fd, f->data, f->len);
        fcntl(s->in_fd, F_SETFL, fl);
}

static void do_resize(const struct vm_frame *f)
{
        struct session *s = session_of(f->chan);
        struct winsize ws = {0};
        if (s && s->tty && s->out_fd >= 0 &&
            sscanf(f->data, "%hu %hu", &ws.ws_row, &ws.ws_col) == 2)
                ioctl(s->out_fd, TIOCSWINSZ, &ws);
}

static _Noreturn void power_off(void)
{
        sync();
        reboot(RB_POWER_OFF);
        _exit(0);
}

static void handle(const struct vm_frame *f)
{
        switch (f->type) {
        case VM_CREATE:
                return do_create(f);
        case VM_START:
                return do_simple("start", NULL, false);
        case VM_KILL:
                return do_kill(f);
        case VM_EXEC:
                return do_exec(f);
        case VM_PS:
                return do_ps(f);
        case VM_STATS: {
                char *args[] = {"events", "--stats", container_id, NULL};
                return do_output(args);
        }
        case VM_UPDATE:
                return do_update(f);
        case VM_STDIN:
                return do_stdin(f);
        case VM_RESIZE:
                return do_resize(f);
        case VM_SIGNAL: { /* the guest's capsa exec forwards it to the process */
                struct session *s = session_of(f->chan);
                int sig = atoi(f->data);
                if (s && s->pid > 0 && !s->exited && sig > 0 && sig < 65)
                        kill(s->pid, sig);
                return;
        }
        case VM_SHUTDOWN:
                vm_conn_flush(&port);
                power_off();
        default:
                return reply(-EPROTO, xasprintf("frame type %u is not a request", f->type), NULL);
        }
}

/* Reads what a session's fd has into frames; EOF (or EIO: a pty whose last user went) closes it. */
static void relay_out(struct session *s, int *fd, uint16_t type)
{
        char buf[16384];
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n > 0) {
                vm_conn_queue(&port, type, s->chan, buf, (size_t)n);
                return;
        }
        if (s->tty && s->in_fd == *fd)
                s->in_fd = -1;
        close(*fd);
        *fd = -1;
        vm_conn_queue(&port, type, s->chan, NULL, 0);
}

static void reap(void)
{
        int st;
        pid_t pid = -1;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
                for (int i = 0; i < MAX_SESSIONS; i++)
                        if (sessions[i].used && sessions[i].pid == pid) {
                                sessions[i].exited = true;
                                sessions[i].wstatus = st;
                        }
}

/* A session whose process ended and whose output is drained: its EXIT.  The init's ends the
 * container: the guest powers off once the host has it. */
static void report_exits(void)
{
        for (int i = 0; i < MAX_SESSIONS; i++) {
                struct session *s = &sessions[i];
                if (!s->used || !s->exited || s->out_fd >= 0 || s->err_fd >= 0)
                        continue;
                int st = s->wstatus;
                _cleanup_free_ char *e = WIFSIGNALED(st) ? xasprintf("signal %d", WTERMSIG(st))
                                                         : xasprintf("exit %d", WEXITSTATUS(st));
                vm_conn_queue_str(&port, VM_EXIT, s->chan, e);
                session_end(s);
        }
}

_Noreturn void vm_agent_serve(int fd)
{
        vm_conn_init(&port, fd);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        struct utsname u;
        uname(&u);
        vm_conn_queue_str(&port, VM_HELLO, 0, u.release);
        for (;;) {
                struct pollfd p[2 + 2 * MAX_SESSIONS];
                struct session *owner[2 + 2 * MAX_SESSIONS];
                int n = 0;
                p[n++] =
                    (struct pollfd){.fd = port.fd, .events = POLLIN | (port.out_len ? POLLOUT : 0)};
                p[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
                /* output is read only while the port keeps up (backpressure) */
                for (int i = 0; i < MAX_SESSIONS && port.out_len < (1u << 20); i++) {
                        struct session *s = &sessions[i];
                        if (!s->used || !s->relaying)
                                continue;
                        if (s->out_fd >= 0) {
                                owner[n] = s;
                                p[n++] = (struct pollfd){.fd = s->out_fd, .events = POLLIN};
                        }
                        if (s->err_fd >= 0) {
                                owner[n] = s;
                                p[n++] = (struct pollfd){.fd = s->err_fd, .events = POLLIN};
                        }
                }
                if (poll(p, n, -1) < 0)
                        continue;
                if (p[1].revents) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof(si)) == sizeof(si))
                                ;
                        reap();
                }
                for (int i = 2; i < n; i++) {
                        if (!p[i].revents)
                                continue;
                        struct session *s = owner[i];
                        if (p[i].fd == s->out_fd)
                                relay_out(s, &s->out_fd, VM_STDOUT);
                        else if (p[i].fd == s->err_fd)
                                relay_out(s, &s->err_fd, VM_STDERR);
                }
                if (p[0].revents & (POLLIN | POLLHUP)) {
                        vm_conn_fill(&port);
                        struct vm_frame f;
                        int r;
                        while ((r = vm_conn_next(&port, &f)) > 0) {
                                handle(&f);
                                vm_frame_clear(&f);
                        }
                        if (r < 0)
                                power_off(); /* not our host */
                        if (port.eof) {
                                /* a read before QEMU marked the port connected returns 0; the
                                 * host never goes away (QEMU dies with the monitor) */
                                port.eof = false;
                                usleep(10000);
                        }
                }
                reap();
                report_exits();
                vm_conn_flush(&port);
        }
}
