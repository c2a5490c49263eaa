/* The agent's request loop.  The container is built by this same capsa, run as a command in the
 * guest (`capsa create`, `start`, `kill`, `exec`, `ps`, `events`, `update` on the guest's
 * /run/capsa): the namespaces, mounts, seccomp, capabilities and cgroup v2 code are the host's.
 * The agent holds each process session's stdio (pipes, or a pty master received on a console
 * socket) and relays it as frames; as pid 1 it reaps the container's init and reports its exit
 * once its output is drained. */
#include "vm/vm.h"

int main(int argc, char **argv); /* main.c: capsa's command line */
#include "net/net.h"
#include "state/state.h"
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
#define GUEST_LOG    VM_GUEST_DIR "/capsa.log"

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

/* Waits for a guest capsa; when it failed, *ret_err is its own message (the last error of its
 * JSON log). */
static int capsa_wait(pid_t pid, const char *cmd, char **ret_err)
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
static int capsa_run(char *const *args, int in, int out, int err_fd, pid_t *ret_pid, char **ret_err)
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
        return capsa_wait(pid, args[0], ret_err);
}

/* As capsa_run, the command's stdout in *ret_out. */
static int capsa_output(char *const *args, char **ret_out, char **ret_err)
{
        int fd = memfd_create("out", MFD_CLOEXEC);
        int r = capsa_run(args, -1, fd, -1, NULL, ret_err);
        if (r >= 0) {
                size_t len;
                lseek(fd, 0, SEEK_SET);
                if (read_fd_all(fd, ret_out, &len) < 0)
                        *ret_out = xstrdup("");
        }
        close(fd);
        return r;
}

static void reply(int r, char *msg, const char *ok)
{
        if (r < 0)
                vm_conn_queue_str(&port, VM_ERR, 0, msg ? msg : strerror(-r));
        else
                vm_conn_queue_str(&port, VM_OK, 0, ok);
        free(msg);
}

/* A listening socket for the guest capsa's --console-socket. */
static int console_listen(const char *path)
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
static int console_accept(int lsock, pid_t pid)
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
                int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
                char name[64];
                if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 ||
                    ptsname_r(m, name, sizeof(name)) != 0 ||
                    (child[0] = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
                        return -errno;
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

/* config.json as the guest runs it: the root (and every bind mount's source) in the shared
 * tree: binds[i] is mount i's source there, or null; extra: the mounts capsa adds, such as a
 * network's hosts and resolv.conf), the host's annotations for the mode dropped,
 * the cgroup the guest's default, and only the hooks that run in the container (the host ran the
 * others). */
static char *guest_config(const struct json_val *cfg, const char *rootfs,
                          const struct json_val *binds, const struct json_val *extra)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        if (!json_val_get(cfg, "mounts") && json_val_len(extra)) {
                json_w_key(w, "mounts");
                json_w_val(w, extra);
        }
        for (size_t i = 0; i < json_val_len(cfg); i++) {
                const char *k = json_val_key(cfg, i);
                const struct json_val *v = json_val_at(cfg, i);
                if (strcmp(k, "root") == 0) {
                        const struct json_val *ro = json_val_get(v, "readonly");
                        json_w_key_obj_open(w, "root");
                        json_w_key_str(w, "path", rootfs);
                        json_w_key_bool(w, "readonly", ro && json_val_type(ro) == JSON_TRUE);
                        json_w_obj_close(w);
                } else if (strcmp(k, "vm") == 0) {
                        continue;
                } else if (strcmp(k, "mounts") == 0) {
                        json_w_key_arr_open(w, "mounts");
                        for (size_t m = 0; m < json_val_len(v); m++) {
                                const struct json_val *mv = json_val_at(v, m);
                                const char *src = json_val_str(json_val_at(binds, m));
                                json_w_obj_open(w);
                                for (size_t j = 0; j < json_val_len(mv); j++) {
                                        const char *mk = json_val_key(mv, j);
                                        json_w_key(w, mk);
                                        if (src && strcmp(mk, "source") == 0)
                                                json_w_str(w, src);
                                        else
                                                json_w_val(w, json_val_at(mv, j));
                                }
                                json_w_obj_close(w);
                        }
                        for (size_t m = 0; m < json_val_len(extra); m++)
                                json_w_val(w, json_val_at(extra, m));
                        json_w_arr_close(w);
                } else if (strcmp(k, "hooks") == 0) {
                        json_w_key_obj_open(w, "hooks");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *hk = json_val_key(v, j);
                                if (strcmp(hk, "createContainer") == 0 ||
                                    strcmp(hk, "startContainer") == 0) {
                                        json_w_key(w, hk);
                                        json_w_val(w, json_val_at(v, j));
                                }
                        }
                        json_w_obj_close(w);
                } else if (strcmp(k, "linux") == 0) {
                        json_w_key_obj_open(w, "linux");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *lk = json_val_key(v, j);
                                if (strcmp(lk, "cgroupsPath") == 0)
                                        continue;
                                json_w_key(w, lk);
                                json_w_val(w, json_val_at(v, j));
                        }
                        json_w_obj_close(w);
                } else if (strcmp(k, "annotations") == 0) {
                        json_w_key_obj_open(w, "annotations");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *ak = json_val_key(v, j);
                                if (strcmp(ak, "run.oci.handler") == 0)
                                        continue;
                                json_w_key_str(w, ak, json_val_str(json_val_at(v, j)));
                        }
                        json_w_obj_close(w);
                } else {
                        json_w_key(w, k);
                        json_w_val(w, v);
                }
        }
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

/* The root: the shared tree's rootfs, or the block device (vm.image) mounted. */
static int guest_rootfs(const struct json_val *req, char **ret, char **ret_err)
{
        if (!json_val_get(req, "image")) {
                *ret = xstrdup(VM_GUEST_SHARE "/rootfs");
                return 0;
        }
        static const char *const types[] = {"ext4", "xfs", "btrfs", "ext3", "ext2", "vfat"};
        mkdir(VM_GUEST_DIR "/image", 0755);
        for (int tries = 0; tries < 500; tries++) {
                for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                        if (mount("/dev/vda", VM_GUEST_DIR "/image", types[i], 0, NULL) == 0) {
                                *ret = xstrdup(VM_GUEST_DIR "/image");
                                return 0;
                        }
                if (errno != ENOENT && errno != ENXIO)
                        break;
                usleep(10000);
        }
        *ret_err = xasprintf("mount vm.image (/dev/vda) in the guest: %s", strerror(errno));
        return -errno;
}

/* The guest's name of the NIC whose MAC is mac. */
static bool nic_by_mac(const char *mac, char name[IFNAMSIZ])
{
        DIR *d = opendir("/sys/class/net");
        struct dirent *e;
        bool found = false;
        while (d && !found && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *p = xasprintf("/sys/class/net/%s/address", e->d_name);
                _cleanup_free_ char *a = NULL;
                size_t len;
                if (read_file_at(AT_FDCWD, p, &a, &len, NULL) >= 0 &&
                    strncasecmp(a, mac, strlen(mac)) == 0) {
                        snprintf(name, IFNAMSIZ, "%.15s", e->d_name);
                        found = true;
                }
        }
        if (d)
                closedir(d);
        return found;
}

/* One NIC into the container's network namespace (netns_fd, or -1: it shares the guest's), as
 * eth<i>, with the endpoint's MTU, addresses and default routes: what the host's veth peer gets
 * on the host. */
static int guest_nic(const struct json_val *nic, size_t i, int netns_fd, struct nl *root,
                     struct cx_error **err)
{
        const char *mac = json_val_str(json_val_get(nic, "mac"));
        char name[IFNAMSIZ], eth[IFNAMSIZ];
        snprintf(eth, sizeof(eth), "eth%u", (unsigned)(i % 1000));
        if (!mac || !nic_by_mac(mac, name))
                return cx_error_msg(err, ENODEV, "the guest has no NIC with MAC %s",
                                    mac ? mac : "");
        int r;
        struct nl_link_change mv = NL_LINK_CHANGE_NONE;
        mv.netns_fd = netns_fd;
        if (netns_fd >= 0 && (r = nl_link_set(root, name, &mv, err)) < 0)
                return r;
        _cleanup_(nl_closep) struct nl *n = NULL;
        if ((r = nl_open(netns_fd, &n, err)) < 0)
                return r;
        int64_t mtu = 0;
        json_val_int(json_val_get(nic, "mtu"), &mtu);
        struct nl_link_change up = NL_LINK_CHANGE_NONE;
        up.up = 1;
        struct nl_link_change set = NL_LINK_CHANGE_NONE;
        set.rename = strcmp(name, eth) ? eth : NULL;
        set.mtu = (unsigned)mtu;
        if ((r = nl_link_set(n, name, &set, err)) < 0 || (r = nl_link_set(n, "lo", &up, err)) < 0)
                return r;
        const struct json_val *addrs = json_val_get(nic, "addrs");
        for (size_t j = 0; j < json_val_len(addrs); j++) {
                struct net_cidr c;
                if (net_cidr_parse(json_val_str(json_val_at(addrs, j)), true, &c) < 0)
                        return cx_error_msg(err, EINVAL, "a NIC address the agent cannot read");
                if ((r = nl_addr_add(n, eth, &c, err)) < 0)
                        return r;
        }
        if ((r = nl_link_set(n, eth, &up, err)) < 0)
                return r;
        const struct json_val *gws = json_val_get(nic, "gateways");
        for (size_t j = 0; j < json_val_len(gws); j++) {
                struct net_ip gw;
                if (net_ip_parse(json_val_str(json_val_at(gws, j)), &gw) < 0)
                        return cx_error_msg(err, EINVAL, "a gateway the agent cannot read");
                if ((r = nl_route_add(n, NULL, &gw, eth, err)) < 0 && r != -EEXIST)
                        return r;
        }
        return 0;
}

/* The container's NICs, once its init exists (in its network namespace). */
static int guest_net(const struct json_val *nets, pid_t init, char **ret_err)
{
        if (json_val_len(nets) == 0)
                return 0;
        struct cx_error *e = NULL;
        _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)init);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat a, b;
        if (fd < 0 || fstat(fd, &a) < 0 || stat("/proc/self/ns/net", &b) < 0) {
                *ret_err = xasprintf("open the container's network namespace: %s", strerror(errno));
                return -EIO;
        }
        _cleanup_(nl_closep) struct nl *root = NULL;
        int r = nl_open(-1, &root, &e);
        for (size_t i = 0; r >= 0 && i < json_val_len(nets); i++)
                r = guest_nic(json_val_at(nets, i), i, a.st_ino == b.st_ino ? -1 : fd, root, &e);
        if (r < 0) {
                *ret_err = xasprintf("configure the container's network in the guest: %s", e->msg);
                cx_error_freep(&e);
        }
        return r;
}

/* The tenant in the guest's registry, with the host's range: the files the container makes on
 * the shared rootfs are then the tenant's on the host too. */
static int guest_tenant(const char *name, const struct json_val *first, char **ret_err)
{
        int64_t id = 0;
        if (!json_val_int(first, &id)) {
                *ret_err = xstrdup("a tenant without its range");
                return -EINVAL;
        }
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_arr_open(w, "tenants");
        json_w_obj_open(w);
        json_w_key_str(w, "name", name);
        json_w_key_int(w, "firstId", id);
        json_w_key_int(w, "size", STATE_TENANT_RANGE);
        json_w_obj_close(w);
        json_w_arr_close(w);
        json_w_obj_close(w);
        _cleanup_free_ char *json = json_w_finish(w, true);
        mkdir("/run/capsa", 0700);
        if (write_file_atomic_at(AT_FDCWD, "/run/capsa/tenants.json", json, strlen(json), NULL) <
            0) {
                *ret_err = xstrdup("write the guest's tenants.json");
                return -EIO;
        }
        return 0;
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
        if ((r = guest_rootfs(req, &rootfs, &msg)) < 0)
                return reply(r, msg, NULL);
        _cleanup_free_ char *conf = guest_config(cfg, rootfs, json_val_get(req, "binds"),
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
        int lsock = s->tty ? console_listen(VM_GUEST_DIR "/console-0.sock") : -1;
        char *args[16] = {"create", "--bundle", VM_GUEST_DIR "/bundle", "--pid-file",
                          VM_GUEST_DIR "/init.pid"};
        int n = 5;
        if (s->tty) {
                args[n++] = "--console-socket";
                args[n++] = VM_GUEST_DIR "/console-0.sock";
        }
        const char *tenant = json_val_str(json_val_get(req, "tenant"));
        if (tenant && (r = guest_tenant(tenant, json_val_get(req, "tenant_first_id"), &msg)) < 0) {
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
        r = capsa_run(args, child[0], child[1], child[2], &pid, &msg);
        close_child(child);
        if (r >= 0 && s->tty) {
                int m = console_accept(lsock, pid);
                s->in_fd = s->out_fd = m >= 0 ? m : -1;
                if (m >= 0)
                        fcntl(m, F_SETFL, O_NONBLOCK);
        }
        if (lsock >= 0)
                close(lsock);
        if (r >= 0)
                r = capsa_wait(pid, "create", &msg);
        _cleanup_free_ char *pidtxt = NULL;
        size_t len;
        if (r >= 0 && read_file_at(AT_FDCWD, VM_GUEST_DIR "/init.pid", &pidtxt, &len, NULL) >= 0)
                s->pid = atoi(pidtxt);
        if (r >= 0 && s->pid > 0)
                r = guest_net(json_val_get(req, "net"), s->pid, &msg);
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
        int r = container_id ? capsa_run(args, -1, -1, -1, NULL, &msg) : -ENOENT;
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
        int r = container_id ? capsa_output(args, &out, &msg) : -ENOENT;
        reply(r, msg, out);
        free(out);
}

/* ps: the guest's pids of the container, as JSON, or (payload "table") a table of them made
 * from the guest's /proc: UID PID PPID CMD. */
static void do_ps(const struct vm_frame *f)
{
        char *args[] = {"ps", "--format", "json", container_id, NULL};
        char *msg = NULL, *out = NULL;
        int r = container_id ? capsa_output(args, &out, &msg) : -ENOENT;
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
        reply(container_id ? capsa_run(args, -1, -1, -1, NULL, &msg) : -ENOENT, msg, NULL);
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
                r = capsa_run(args, child[0], child[1], child[2], &s->pid, &msg);
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
