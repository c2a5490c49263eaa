/* The `vm` launcher: the container layer's entry into the KVM mode.
 *
 * launch starts the monitor (monitor.c), the container's stand-in on the host, and waits until
 * the agent in the guest has created the container; every later operation is a request to the
 * monitor over ROOT/ID/vm.sock, except pause/resume, which freeze the host cgroup that holds QEMU
 * and virtiofsd (the VM's vCPUs stop), and the final stop, which ends the monitor (and with it
 * QEMU and virtiofsd, PR_SET_PDEATHSIG). */
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "util/json.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define ACCEL_ANNOTATION   "run.capsa.vm.accel"
#define STOPPED_ANNOTATION "run.capsa.vm.stopped"

/* The monitor's socket, by the state directory's fd (its path may be too long for sun_path). */
static int monitor_connect(struct state_dir *d, const char *id, struct vm_conn *ret,
                           struct cx_error **err)
{
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/" VM_SOCK, d->fd);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return cx_error_set(err, e, "container `%s`: reach its VM's monitor", id);
        }
        vm_conn_init(ret, fd);
        return 0;
}

static int request(struct container_handle *h, uint16_t type, const char *payload, char **ret,
                   struct cx_error **err)
{
        struct vm_conn c;
        int r = monitor_connect(&h->dir, h->st.id, &c, err);
        if (r < 0)
                return r;
        r = vm_request(&c, type, 0, payload, ret, err);
        vm_conn_clear(&c);
        if (r < 0)
                cx_error_prefix(err, "container `%s`", h->st.id);
        return r;
}

static void mount_json(struct json_w *w, const struct spec_mount *m, const char *source)
{
        json_w_obj_open(w);
        json_w_key_str(w, "destination", m->destination);
        json_w_key_str(w, "type", m->type ? m->type : "bind");
        json_w_key_str(w, "source", source);
        json_w_key_strv(w, "options", (const char *const *)m->options, strv_len(m->options));
        json_w_obj_close(w);
}

/* The guest's NICs: each tap's endpoint, for the agent to configure. */
static void net_json(struct json_w *w, const struct container_tap *taps, size_t n)
{
        json_w_key_arr_open(w, "net");
        for (size_t i = 0; i < n; i++) {
                const struct net_endpoint *ep = &taps[i].ep;
                char mac[18], b[NET_IP_STRLEN + 4];
                snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", ep->mac[0], ep->mac[1],
                         ep->mac[2], ep->mac[3], ep->mac[4], ep->mac[5]);
                json_w_obj_open(w);
                json_w_key_str(w, "mac", mac);
                json_w_key_int(w, "mtu", ep->mtu);
                json_w_key_arr_open(w, "addrs");
                for (size_t j = 0; j < ep->n_ips; j++)
                        json_w_str(w, net_cidr_str(&ep->cidrs[j], b));
                json_w_arr_close(w);
                json_w_key_arr_open(w, "gateways");
                for (size_t j = 0; j < ep->n_ips; j++)
                        if (ep->gateways[j].family)
                                json_w_str(w, net_ip_str(&ep->gateways[j], b));
                json_w_arr_close(w);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
}

/* The VM_CREATE request, and the bind sources the share holds (b0, b1, ...): those of
 * config.json's bind mounts, then of the mounts capsa added after them (the network's hosts
 * and resolv.conf binds). */
static char *create_request(const struct create_ctx *c, const struct container_tap *taps,
                            size_t n_taps, char ***ret_binds)
{
        const struct spec *s = c->spec;
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "id", c->o->id);
        json_w_key_str(w, "config", c->plan.raw);
        json_w_key_bool(w, "terminal", s->process.terminal);
        if (s->vm.image_path)
                json_w_key_bool(w, "image", true);
        if (c->plan.tenant) { /* the guest's registry gets the same range */
                json_w_key_str(w, "tenant", c->plan.tenant);
                json_w_key_int(w, "tenant_first_id", c->plan.tenant_first_id);
        }
        char **binds = xcalloc(1, sizeof(char *));
        json_w_key_arr_open(w, "binds");
        for (size_t i = 0; i < c->plan.n_config_mounts; i++) {
                const struct spec_mount *m = &s->mounts[i];
                if (!ns_mount_is_bind(m) || !m->source) {
                        json_w_null(w);
                        continue;
                }
                char *src = m->source[0] == '/' ? xstrdup(m->source)
                                                : xasprintf("%s/%s", s->bundle, m->source);
                _cleanup_free_ char *g = xasprintf(VM_GUEST_SHARE "/b%zu", strv_len(binds));
                json_w_str(w, g);
                strv_append(&binds, src);
                free(src);
        }
        json_w_arr_close(w);
        json_w_key_arr_open(w, "extra_mounts");
        for (size_t i = c->plan.n_config_mounts; i < s->n_mounts; i++) {
                const struct spec_mount *m = &s->mounts[i];
                _cleanup_free_ char *g = xasprintf(VM_GUEST_SHARE "/b%zu", strv_len(binds));
                mount_json(w, m, g);
                strv_append(&binds, m->source);
        }
        json_w_arr_close(w);
        net_json(w, taps, n_taps);
        json_w_obj_close(w);
        *ret_binds = binds;
        return json_w_finish(w, false);
}

static void annotate(struct state *st, const char *key, const char *value)
{
        for (size_t i = 0; st->annotations && st->annotations[i]; i += 2)
                if (strcmp(st->annotations[i], key) == 0)
                        return;
        strv_append(&st->annotations, key);
        strv_append(&st->annotations, value);
}

static _Noreturn void run_monitor(struct create_ctx *c, struct vm_monitor_args *ma, int ready_r)
{
        close(ready_r);
        /* the monitor must not hold the state directory's lock */
        closep(&c->dir.fd);
        closep(&c->dir.root_fd);
        closep(&c->console_peer);
        vm_monitor_main(ma);
}

/* The monitor: started, recorded, and waited for until the container exists in the guest. */
static int start_monitor(struct create_ctx *c, struct vm_monitor_args *ma, struct cx_error **err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        ma->ready_fd = p[1];
        pid_t pid = fork();
        if (pid == 0)
                run_monitor(c, ma, p[0]);
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return cx_error_set(err, errno, "fork the VM's monitor");
        }
        c->pid = pid;
        int r = state_pid_start_time(pid, &c->st.pid_start_time);
        if (r >= 0)
                r = undo_append_process(&c->dir, pid, c->st.pid_start_time, err);
        else
                r = cx_error_set(err, -r, "read the start time of the VM's monitor");
        _cleanup_free_ char *msg = NULL;
        size_t len = 0;
        if (read_fd_all(p[0], &msg, &len) < 0)
                len = 0;
        close(p[0]);
        if (r < 0)
                return r;
        if (len > 0)
                return cx_error_msg(err, EIO, "the container's VM: %s", msg);
        c->st.pid = pid;
        return state_write(&c->dir, &c->st, err);
}

/* What the KVM mode cannot take is refused before anything is made; the VM's parameters are
 * checked (paths, accelerator) and the host cgroup's limits made the VM's. */
static int vm_plan(struct plan *p, struct cx_error **err)
{
        const struct container_opts *o = &p->opts;
        const char *no = o->image          ? "--image (its overlay root is the host's)"
                         : o->restore      ? "restore (CRIU checkpoints host containers)"
                         : o->preserve_fds ? "--preserve-fds (an fd cannot cross into a VM)"
                                           : NULL;
        if (no)
                return cx_error_msg(err, EINVAL, "the KVM mode (vm) does not take %s", no);
        /* computed once, from the config's own limits, before they become the host cgroup's */
        p->vm = xcalloc(1, sizeof(*p->vm));
        int r = vm_params_get(p->spec, (enum vm_accel)o->vm_accel, p->vm, err);
        if (r < 0)
                return r;
        vm_host_resources(p->spec, p->vm);
        return 0;
}

/* The monitor, then the runtime hooks of the host. */
static int launch_with(struct create_ctx *c, const struct vm_params *p, const struct vm_assets *a,
                       struct cx_error **err)
{
        const struct spec *s = c->spec;
        _cleanup_strv_ char **binds = NULL;
        _cleanup_free_ struct container_tap *taps = NULL;
        size_t n_taps = 0;
        int r = container_net_taps(c, &taps, &n_taps, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *req = create_request(c, taps, n_taps, &binds);
        _cleanup_strv_ char **nics = xcalloc(1, sizeof(char *));
        for (size_t i = 0; i < n_taps; i++) {
                const uint8_t *m = taps[i].ep.mac;
                _cleanup_free_ char *nic =
                    xasprintf("%s,%02x:%02x:%02x:%02x:%02x:%02x", taps[i].tap, m[0], m[1], m[2],
                              m[3], m[4], m[5]);
                strv_append(&nics, nic);
        }
        _cleanup_free_ char *dir = xasprintf("%s/%s", c->o->root, c->o->id);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" VM_SOCK, c->dir.fd);
        _cleanup_close_ int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lsock < 0 || bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(lsock, 16) < 0)
                return cx_error_set(err, errno, "listen on `%s/" VM_SOCK "`", dir);
        annotate(&c->st, "run.oci.handler", "vm");
        annotate(&c->st, ACCEL_ANNOTATION, p->accel == VM_ACCEL_KVM ? "kvm" : "tcg");
        struct vm_monitor_args ma = {
            .boot = {.dir = dir,
                     .rootfs = s->root.path,
                     .readonly = s->root.readonly,
                     .binds = binds,
                     .nics = nics,
                     .mounts = c->spec->mounts,
                     .n_mounts = c->spec->n_mounts,
                     .p = p,
                     .a = a,
                     .join = c->cg ? &c->join : NULL,
                     .ctl_fd = -1},
            .create_json = req,
            .terminal = s->process.terminal,
            .console_fd = c->console_fd,
            .listen_fd = lsock,
        };
        if ((r = start_monitor(c, &ma, err)) < 0)
                return r;
        _cleanup_free_ char *json = state_hook_json(&c->st, STATE_CREATED);
        if ((r = hooks_run(&c->spec->hooks, SPEC_HOOK_PRESTART, json, err)) < 0)
                return r;
        return hooks_run(&c->spec->hooks, SPEC_HOOK_CREATE_RUNTIME, json, err);
}

static int vm_launch(struct create_ctx *c, struct cx_error **err)
{
        const struct vm_params *p = c->plan.vm; /* vm_plan's */
        struct vm_assets a = {0};
        int r = vm_assets_get(p->kernel, p->initrd, &a, err);
        if (r < 0 && p->kernel)
                cx_error_prefix(err, "config.json: vm.kernel.path");
        if (r >= 0)
                r = launch_with(c, p, &a, err);
        vm_assets_clear(&a);
        return r;
}

static int vm_start_own(struct create_ctx *c, struct cx_error **err)
{
        struct container_handle h = {.dir = c->dir, .st = c->st};
        return request(&h, VM_START, NULL, NULL, err);
}

static int vm_start(struct container_handle *h, struct cx_error **err)
{
        return request(h, VM_START, NULL, NULL, err);
}

static enum state_status vm_status(struct state_dir *d, const struct state *st)
{
        if (!state_pid_matches(st->pid, st->pid_start_time))
                return st->creating && st->pid == 0 ? STATE_CREATING : STATE_STOPPED;
        if (st->creating)
                return STATE_CREATING;
        struct stat sb;
        if (fstatat(d->fd, VM_STARTED, &sb, 0) < 0)
                return STATE_CREATED;
        if (st->cgroup_dirs && st->cgroup_dirs[0] &&
            cg_dirs_frozen(st->cgroup_driver, st->cgroup_dirs))
                return STATE_PAUSED;
        return STATE_RUNNING;
}

/* state: why a guest stopped without the container's exit (a panic, say). */
static void vm_describe(struct state_dir *d, struct state *st)
{
        _cleanup_free_ char *why = NULL;
        size_t len = 0;
        if (read_file_at(d->fd, VM_STOPPED, &why, &len, NULL) >= 0 && len)
                annotate(st, STOPPED_ANNOTATION, why);
}

static int vm_kill(struct container_handle *h, int sig, bool all, struct cx_error **err)
{
        if (h->status == STATE_STOPPED)
                return cx_error_msg(err, ESRCH, "container `%s` is not running", h->st.id);
        _cleanup_free_ char *k =
            xasprintf("{\"signal\":%d,\"all\":%s}", sig, all ? "true" : "false");
        int r = request(h, VM_KILL, k, NULL, err);
        if (r < 0 && sig == SIGKILL) {
                /* a monitor that does not answer: end it (QEMU and virtiofsd die with it) */
                cx_error_freep(err);
                r = container_signal(&h->st, SIGKILL, err);
        }
        if (sig == SIGKILL)
                container_thaw_after_kill(&h->st);
        return r;
}

static int vm_pids(struct container_handle *h, pid_t **ret, size_t *ret_n, struct cx_error **err)
{
        _cleanup_free_ char *out = NULL;
        int r = request(h, VM_PS, NULL, &out, err);
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        if (json_parse(out, strlen(out), "the guest's ps", &v, err) < 0)
                return -EPROTO;
        size_t n = json_val_len(v);
        pid_t *pids = xcalloc(n + 1, sizeof(pid_t));
        for (size_t i = 0; i < n; i++) {
                int64_t x = 0;
                json_val_int(json_val_at(v, i), &x);
                pids[i] = (pid_t)x;
        }
        *ret = pids;
        *ret_n = n;
        return 0;
}

static int vm_ps_table(struct container_handle *h, char **ps_args, char **ret,
                       struct cx_error **err)
{
        if (ps_args && ps_args[0])
                return cx_error_msg(err, EINVAL,
                                    "ps options: container `%s` runs in a VM, whose processes the "
                                    "host's ps cannot show (capsa ps prints the guest's table)",
                                    h->st.id);
        int r = request(h, VM_PS, "table", ret, err);
        /* the guest's text reaches a terminal: nothing of it may be a control sequence */
        for (char *c = r >= 0 ? *ret : NULL; c && *c; c++)
                if ((unsigned char)*c < 0x20 && *c != '\n')
                        *c = '?';
        return r;
}

static int vm_update(struct container_handle *h, const struct spec_resources *res,
                     struct cx_error **err)
{
        return cx_error_msg(err, EOPNOTSUPP,
                            "container `%s` runs in a VM whose size is fixed when it is "
                            "created: update its resources by creating it again",
                            h->st.id);
}

static int vm_events(const char *root, const struct state *st, bool stats_once,
                     unsigned interval_ms, container_event_fn fn, void *userdata,
                     struct cx_error **err)
{
        for (;;) {
                struct container_handle h = {0};
                int r = container_open(root, st->id, &h, err);
                _cleanup_free_ char *out = NULL;
                if (r >= 0) {
                        r = h.status == STATE_STOPPED
                                ? cx_error_msg(err, ESRCH, "container `%s` is not running", st->id)
                                : request(&h, VM_STATS, NULL, &out, err);
                        container_close(&h);
                }
                if (r < 0)
                        return r;
                /* the guest's `events --stats` line: its data object is the event's */
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                if (json_parse(out, strlen(out), "the guest's stats", &v, err) < 0)
                        return -EPROTO;
                struct json_w *w = json_w_new(NULL);
                json_w_val(w, json_val_get(v, "data"));
                _cleanup_free_ char *data = json_w_finish(w, false);
                struct container_event ev = {
                    .type = CONTAINER_EVENT_STATS, .id = st->id, .data_json = data};
                if ((r = fn(&ev, userdata)) < 0)
                        return r;
                if (stats_once)
                        return 0;
                usleep(interval_ms * 1000);
        }
}

/* The monitor ends QEMU, reaps it and virtiofsd and exits; one that does not answer within
 * 5 s is killed (QEMU and virtiofsd die with it). */
static void vm_stop(struct container_handle *h)
{
        if (!state_pid_matches(h->st.pid, h->st.pid_start_time))
                return;
        _cleanup_error_ struct cx_error *e = NULL;
        int r = request(h, VM_KILL, "{\"signal\":9,\"all\":true}", NULL, &e);
        container_thaw_after_kill(&h->st);
        if (r >= 0)
                for (int i = 0; i < 500 && state_pid_matches(h->st.pid, h->st.pid_start_time); i++)
                        usleep(10000);
        container_kill_wait(h->st.pid, h->st.pid_start_time);
}

const struct launcher launcher_vm = {
    .name = "vm",
    .in_guest = true,
    .plan = vm_plan,
    .launch = vm_launch,
    .start_own = vm_start_own,
    .start = vm_start,
    .status = vm_status,
    .describe = vm_describe,
    .kill = vm_kill,
    .pids = vm_pids,
    .ps_table = vm_ps_table,
    .freeze = native_freeze, /* the host cgroup holds QEMU: its vCPUs stop */
    .exec = vm_exec,
    .update = vm_update,
    .events = vm_events,
    .stop = vm_stop,
};
