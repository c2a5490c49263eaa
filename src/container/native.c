/* The native launcher: the container's init is cloned on this host, into its new namespaces
 * and its cgroup, and execs the user's process when exec.fifo is written.
 *
 * launch: clone the init (through a short-lived helper when namespaces are joined by path) ->
 * record it in the undo record -> id maps, cgroup -> GO -> prestart/createRuntime hooks ->
 * the seccomp listener -> READY.  Its other operations act on the init's pid (checked against
 * its start time) and on the container's cgroup.  Kernel interfaces: clone3(2) with
 * CLONE_INTO_CGROUP, clone(2), pidfd_open(2), pidfd_send_signal(2). */
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "security/security.h"
#include "util/sys.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/sched.h>

/* clone3 straight into the cgroup2 directory when there is one (no migration later); falls
 * back to clone where clone3 or CLONE_INTO_CGROUP is refused.  *ret_joined tells which. */
static pid_t clone_into(unsigned long flags, int cgroup_fd, bool *ret_joined)
{
        *ret_joined = false;
        if (cgroup_fd >= 0) {
                struct clone_args a = {
                    .flags = (flags & ~0xffUL) | CLONE_INTO_CGROUP,
                    .exit_signal = (flags & CLONE_PARENT) ? 0 : (flags & 0xff),
                    .cgroup = (uint64_t)cgroup_fd,
                };
                pid_t pid = (pid_t)sys_clone3(&a, sizeof(a));
                if (pid >= 0) {
                        *ret_joined = pid > 0;
                        return pid;
                }
                if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EBUSY &&
                    errno != EOPNOTSUPP)
                        return -1;
        }
        return sys_clone(flags);
}

static uint32_t new_namespaces(const struct spec_linux *l)
{
        uint32_t flags = 0;
        for (int t = 0; t < SPEC_NS_MAX; t++)
                if (l->ns[t].present && !l->ns[t].path)
                        flags |= spec_ns_clone_flag(t);
        return flags;
}

static _Noreturn void child_run_init(struct create_ctx *c, int child_fd, uint32_t new_ns)
{
        const struct spec *s = c->spec;
        /* The init must not hold the state directory's lock (it shares the open file). */
        closep(&c->dir.fd);
        closep(&c->dir.root_fd);
        struct init_args a = {
            .spec = s,
            .opts = c->o,
            .sync_fd = child_fd,
            .fifo_fd = c->fifo_fd,
            .console_fd = c->console_fd,
            .join = &c->join,
            .cgroups = c->hier,
            .n_cgroups = c->n_hier,
            .new_ns = new_ns,
            .has_runtime_hooks =
                s->hooks.n[SPEC_HOOK_PRESTART] + s->hooks.n[SPEC_HOOK_CREATE_RUNTIME] > 0,
            .idmap = &c->idmap,
            .mounts = &c->plan.mounts,
            .ns = &c->plan.ns,
            .no_cgroup = !c->cg,
            .user_maps = geteuid() != 0 && (new_ns & CLONE_NEWUSER),
            .caller_mnt_ns = c->caller_mnt_ns,
        };
        init_main(&a);
}

/* Clones the init.  Namespaces given by path are joined by a short-lived helper, which then
 * clones the init as a sibling (CLONE_PARENT), so the init is always our child. */
static int spawn(struct create_ctx *c, int child_fd, struct cx_error **err)
{
        const struct spec_linux *l = &c->spec->linux_;
        int fds[SPEC_NS_MAX];
        int r = ns_open_paths(l, fds, err);
        if (r < 0)
                return r;
        bool join = false;
        for (int t = 0; t < SPEC_NS_MAX; t++)
                join |= fds[t] >= 0;
        uint32_t new_ns = new_namespaces(l);
        unsigned long flags = (new_ns & ~(CLONE_NEWTIME | CLONE_NEWCGROUP)) | SIGCHLD;
        bool joined = false;
        pid_t pid = -1;
        /* The time namespace is unshared here, so that the init is born in it; the cgroup
         * namespace by the init once it sits in its cgroup. */
        if ((new_ns & CLONE_NEWTIME) && (r = ns_time_prepare(l, err)) < 0)
                goto out;

        pid = join ? sys_clone(SIGCHLD) : clone_into(flags, c->join.v2_fd, &joined);
        if (pid < 0) {
                r = cx_error_set(err, errno, "clone the container init");
                goto out;
        }
        if (pid == 0) {
                close(c->sync_fd);
                if (!join)
                        child_run_init(c, child_fd, new_ns);
                struct cx_error *e = NULL;
                if (ns_join(fds, &e) < 0) {
                        sync_send_error(child_fd, e);
                        _exit(1);
                }
                pid_t init = clone_into(flags | CLONE_PARENT, c->join.v2_fd, &joined);
                if (init == 0)
                        child_run_init(c, child_fd, new_ns);
                if (init < 0) {
                        cx_error_set(&e, errno, "clone the container init");
                        sync_send_error(child_fd, e);
                        _exit(1);
                }
                sync_send(child_fd, SYNC_PID, joined, init, NULL);
                _exit(0);
        }
        if (join) {
                struct sync_msg m;
                r = sync_expect(c->sync_fd, SYNC_PID, &m, err);
                waitpid(pid, NULL, 0);
                if (r < 0)
                        goto out;
                pid = m.pid;
                joined = m.code;
        }
        c->pid = pid;
        c->joined_at_clone = joined;
        r = 0;
out:
        for (int t = 0; t < SPEC_NS_MAX; t++)
                if (fds[t] >= 0)
                        close(fds[t]);
        return r;
}

static int run_runtime_hooks(struct create_ctx *c, struct cx_error **err)
{
        int r = sync_expect(c->sync_fd, SYNC_HOOKS, NULL, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *json = state_hook_json(&c->st, STATE_CREATING);
        if ((r = hooks_run(&c->spec->hooks, SPEC_HOOK_PRESTART, json, err)) < 0 ||
            (r = hooks_run(&c->spec->hooks, SPEC_HOOK_CREATE_RUNTIME, json, err)) < 0)
                return r;
        r = sync_send(c->sync_fd, SYNC_HOOKS_DONE, 0, 0, NULL);
        return r < 0 ? cx_error_set(err, -r, "resume the container init") : 0;
}

/* The init's SYNC_SECCOMP: the listener fd goes to linux.seccomp.listenerPath. */
static int forward_seccomp_fd(struct create_ctx *c, struct cx_error **err)
{
        struct sync_msg m;
        _cleanup_close_ int fd = -1;
        ssize_t n = sync_recv_fd(c->sync_fd, &m, &fd);
        if (n < 0)
                return cx_error_set(err, (int)-n, "receive the seccomp listener fd from the init");
        if (n == 0)
                return cx_error_msg(err, ECHILD, "container init exited unexpectedly");
        if (m.type == SYNC_ERROR)
                return cx_error_msg(err, m.code > 0 ? m.code : EIO, "%s", m.text);
        if (m.type != SYNC_SECCOMP)
                return cx_error_msg(err, EPROTO,
                                    "unexpected message %u from container init "
                                    "(expected the seccomp listener fd)",
                                    m.type);
        if (fd < 0) /* no notify rule survived (unknown syscalls) */
                return 0;
        _cleanup_free_ char *json = state_hook_json(&c->st, STATE_CREATING);
        return sec_seccomp_send_listener(&c->spec->linux_.seccomp, fd, c->pid, json, err);
}

/* Parent side after clone: the init in the undo record, maps, cgroup, GO, hooks, READY. */
static int sync_with_init(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r;
        if ((r = state_pid_start_time(c->pid, &c->st.pid_start_time)) < 0)
                return cx_error_set(err, -r, "read the start time of the container init");
        if ((r = undo_append_process(&c->dir, c->pid, c->st.pid_start_time, err)) < 0)
                return r;
        if (s->linux_.ns[SPEC_NS_USER].present && !s->linux_.ns[SPEC_NS_USER].path &&
            (r = ns_write_id_maps(c->pid, &s->linux_, err)) < 0)
                return r;
        /* The init joins the v1 hierarchies itself; a migration is only needed when clone3
         * could not place it in the cgroup2 hierarchy. */
        if (c->join.v2_fd >= 0 && !c->joined_at_clone && (r = cg_enter(c->cg, c->pid, err)) < 0)
                return r;
        if ((r = container_net_attach(c, err)) < 0)
                return r;
        c->st.pid = c->pid;
        if ((r = state_write(&c->dir, &c->st, err)) < 0)
                return r;
        if ((r = sync_send(c->sync_fd, SYNC_GO, 0, 0, NULL)) < 0)
                return cx_error_set(err, -r, "start the container init");
        if (s->hooks.n[SPEC_HOOK_PRESTART] + s->hooks.n[SPEC_HOOK_CREATE_RUNTIME] > 0 &&
            (r = run_runtime_hooks(c, err)) < 0)
                return r;
        if (sec_seccomp_wants_listener(&s->linux_.seccomp) && (r = forward_seccomp_fd(c, err)) < 0)
                return r;
        return sync_expect(c->sync_fd, SYNC_READY, NULL, err);
}

/* An init that died during create ("connection reset", "exited unexpectedly") may have been
 * killed by the OOM killer: say so, with the limit. */
static void explain_oom_kill(struct create_ctx *c, struct cx_error **err)
{
        const struct spec_opt_i64 *limit = &c->spec->linux_.resources.memory.limit;
        if (!c->cg || !cg_oom_killed(c->cg))
                return;
        if (limit->set && limit->v > 0)
                cx_error_prefix(err,
                                "container init was killed by its memory limit "
                                "(linux.resources.memory.limit = %" PRId64 ")",
                                limit->v);
        else
                cx_error_prefix(err, "container init was killed by the OOM killer of its "
                                     "memory cgroup");
}

static int native_launch(struct create_ctx *c, struct cx_error **err)
{
        /* the init blocks on it until start; while it exists the container reads "created" */
        if (sys_mknodat(c->dir.fd, "exec.fifo", S_IFIFO | 0600, 0) < 0)
                return cx_error_set(err, errno, "create exec.fifo in `%s/%s`", c->o->root,
                                    c->o->id);
        c->fifo_fd = openat(c->dir.fd, "exec.fifo", O_RDWR | O_CLOEXEC);
        if (c->fifo_fd < 0)
                return cx_error_set(err, errno, "open exec.fifo");
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return cx_error_set(err, errno, "socketpair");
        c->sync_fd = sv[0];
        /* idmapped mounts are made here, in the host's namespaces; the init inherits them */
        int r = ns_idmap_mounts_open(&c->plan.ns, &c->plan.rootfs, &c->idmap, err);
        if (r >= 0)
                r = spawn(c, sv[1], err);
        close(sv[1]);
        ns_idmap_mounts_clear(&c->idmap);
        if (r < 0 || (r = sync_with_init(c, err)) < 0)
                explain_oom_kill(c, err);
        return r;
}

/* Starts the init we hold (`run`): one byte into exec.fifo, then wait until it has exec'd (the
 * sync socket closes on exec) or reports an error. */
static int native_start_own(struct create_ctx *c, struct cx_error **err)
{
        if (write(c->fifo_fd, "0", 1) != 1)
                return cx_error_set(err, errno, "start container `%s`: write exec.fifo", c->o->id);
        closep(&c->fifo_fd);
        sys_unlinkat(c->dir.fd, "exec.fifo", 0);
        int r = sync_wait_exec(c->sync_fd, err);
        closep(&c->sync_fd);
        return r;
}

static int native_start(struct container_handle *h, struct cx_error **err)
{
        const char *id = h->st.id;
        _cleanup_close_ int fifo =
            openat(h->dir.fd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fifo < 0)
                return cx_error_set(err, errno, "cannot start container `%s`: open exec.fifo", id);
        _cleanup_free_ char *exe = proc_exe(h->st.pid);
        if (write(fifo, "0", 1) != 1)
                return cx_error_set(err, errno, "cannot start container `%s`: write exec.fifo", id);
        /* "running" means the user's process runs (a signal sent now must reach it, not the
         * init): wait for the execve, then drop the fifo that makes the state read "created" */
        proc_wait_exec(h->st.pid, exe);
        sys_unlinkat(h->dir.fd, "exec.fifo", 0);
        return 0;
}

static bool has_cgroup(const struct state *st)
{
        return st->cgroup_dirs && st->cgroup_dirs[0];
}

/* Asked from another pid namespace than the creator's, the recorded pid names another process
 * (or none): the init is found in the container's cgroup by its start time, which every pid
 * namespace reads alike; a member outside our pid namespace (0) means it cannot be named, but
 * the container still runs. */
static bool init_alive_elsewhere(const struct state *s)
{
        _cleanup_free_ pid_t *v = NULL;
        size_t n = 0;
        if (s->pid <= 0 || !has_cgroup(s) ||
            cg_dirs_members(s->cgroup_driver, s->cgroup_dirs, &v, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (v[i] == 0 || state_pid_matches(v[i], s->pid_start_time))
                        return true;
        return false;
}

static enum state_status native_status(struct state_dir *d, const struct state *st)
{
        bool alive = state_pid_matches(st->pid, st->pid_start_time) || init_alive_elsewhere(st);
        enum state_status s = state_status_get(d, st, alive);
        if (s == STATE_RUNNING && has_cgroup(st) &&
            cg_dirs_frozen(st->cgroup_driver, st->cgroup_dirs))
                return STATE_PAUSED;
        return s;
}

int native_load_cgroup(const struct state *st, struct cg_manager **ret, struct cx_error **err)
{
        if (!has_cgroup(st))
                return cx_error_msg(err, ENOENT, "container `%s` has no cgroup recorded", st->id);
        return cg_manager_load(st->cgroup_driver, st->cgroup_dirs, ret, err);
}

static int native_signal(struct container_handle *h, int sig, bool all, struct cx_error **err);

void container_thaw_after_kill(const struct state *st)
{
        _cleanup_error_ struct cx_error *e = NULL;
        _cleanup_(cg_manager_freep) struct cg_manager *cg = NULL;
        if (has_cgroup(st) && cg_dirs_frozen(st->cgroup_driver, st->cgroup_dirs) &&
            (native_load_cgroup(st, &cg, &e) < 0 || cg_freeze(cg, false, &e) < 0))
                log_warn("%s", e->msg);
}

static int native_kill(struct container_handle *h, int sig, bool all, struct cx_error **err)
{
        int r = native_signal(h, sig, all, err);
        if (r >= 0 && sig == SIGKILL)
                container_thaw_after_kill(&h->st); /* as runc: a paused container dies too */
        return r;
}

static int native_signal(struct container_handle *h, int sig, bool all, struct cx_error **err)
{
        if (!all)
                return container_signal(&h->st, sig, err);
        if (!has_cgroup(&h->st) && h->status == STATE_STOPPED)
                return cx_error_msg(err, ESRCH, "container `%s` is not running", h->st.id);
        if (!has_cgroup(&h->st))
                return container_pidns_kill(&h->st, sig, err); /* rootless without a cgroup */
        /* as runc, --all signals whatever is left in the cgroup even once the init is gone */
        _cleanup_(cg_manager_freep) struct cg_manager *cg = NULL;
        int r = native_load_cgroup(&h->st, &cg, err);
        return r < 0 ? r : cg_kill(cg, sig, err);
}

static int native_pids(struct container_handle *h, pid_t **ret, size_t *ret_n,
                       struct cx_error **err)
{
        if (!has_cgroup(&h->st))
                return container_pidns_pids(&h->st, ret, ret_n, err);
        _cleanup_(cg_manager_freep) struct cg_manager *cg = NULL;
        int r = native_load_cgroup(&h->st, &cg, err);
        return r < 0 ? r : cg_pids(cg, ret, ret_n, err);
}

int native_freeze(struct container_handle *h, bool freeze, struct cx_error **err)
{
        _cleanup_(cg_manager_freep) struct cg_manager *cg = NULL;
        int r = native_load_cgroup(&h->st, &cg, err);
        return r < 0 ? r : cg_freeze(cg, freeze, err);
}

static int native_update(struct container_handle *h, const struct spec_resources *res,
                         struct cx_error **err)
{
        _cleanup_(cg_manager_freep) struct cg_manager *cg = NULL;
        int r = native_load_cgroup(&h->st, &cg, err);
        return r < 0 ? r : cg_apply(cg, res, err);
}

static void native_stop(struct container_handle *h)
{
        container_kill_wait(h->st.pid, h->st.pid_start_time);
}

const struct launcher launcher_native = {
    .name = "native",
    .launch = native_launch,
    .start_own = native_start_own,
    .start = native_start,
    .status = native_status,
    .kill = native_kill,
    .pids = native_pids,
    .freeze = native_freeze,
    .exec = native_exec,
    .update = native_update,
    .events = native_events,
    .stop = native_stop,
};

/* Restored by CRIU (restore.c), it is running already: nothing to start. */
static int restore_start_own(struct create_ctx *c, struct cx_error **err)
{
        closep(&c->sync_fd);
        return 0;
}

/* A container restored from a checkpoint: launched by CRIU, then driven as a native one. */
const struct launcher launcher_restore = {
    .name = "restore",
    .launch = restore_launch,
    .start_own = restore_start_own,
    .start = native_start,
    .status = native_status,
    .kill = native_kill,
    .pids = native_pids,
    .freeze = native_freeze,
    .exec = native_exec,
    .update = native_update,
    .events = native_events,
    .stop = native_stop,
};
