/* `create`: validate, lock, cgroup, clone the init, sync with it until it waits for start. */
#include "container/create.h"
#include "container/exec.h"
#include "container/tenant.h"
#include "namespaces/namespaces.h"
#include "security/security.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sched.h>

static pid_t raw_clone(unsigned long flags)
{
        /* fork() semantics (no new stack) with namespace flags. */
        return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

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
                pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof(a));
                if (pid >= 0) {
                        *ret_joined = pid > 0;
                        return pid;
                }
                if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EBUSY &&
                    errno != EOPNOTSUPP)
                        return -1;
        }
        return raw_clone(flags);
}

static int validate(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r = spec_validate(s, err);
        if (r < 0)
                return r;
        if ((r = ns_sysctl_validate(s, err)) < 0)
                return r;
        if ((r = ns_rootfs_validate(s, err)) < 0)
                return r;
        if ((r = ns_idmap_validate(s, c->rootfs_idmap, err)) < 0)
                return r;
        if ((r = sec_caps_check(&s->process.caps, err)) < 0)
                return r;
        if ((r = sec_lsm_check(&s->process, err)) < 0)
                return r;
        if (s->process.terminal && !c->o->console_socket && c->o->own_console) {
                /* as runc: the pty is proxied to a terminal, stdin's or the controlling one */
                int tty = isatty(STDIN_FILENO) ? dup(STDIN_FILENO)
                                               : open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (tty < 0)
                        return cx_error_set(err, errno,
                                            "process.terminal is true in config.json, but "
                                            "there is no --console-socket and no controlling "
                                            "terminal to proxy it to: open /dev/tty");
                close(tty);
        }
        if (s->process.terminal && !c->o->console_socket && !c->o->own_console)
                return cx_error_msg(err, EINVAL,
                                    "process.terminal is true in config.json: --console-socket is "
                                    "required to hand the terminal to the caller");
        if (!s->process.terminal && c->o->console_socket)
                return cx_error_msg(
                    err, EINVAL,
                    "--console-socket given but process.terminal is false in config.json");
        struct stat st;
        if (stat(s->root.path, &st) < 0)
                return cx_error_set(err, errno, "root.path: rootfs `%s`", s->root.path);
        if (!S_ISDIR(st.st_mode))
                return cx_error_msg(err, ENOTDIR, "root.path: rootfs `%s` is not a directory",
                                    s->root.path);
        return 0;
}

/* --tenant or the annotation: the tenant's range and hardened defaults (tenant.h). */
static int apply_tenant(struct create_ctx *c, struct cx_error **err)
{
        const char *name = NULL;
        uint32_t first_id;
        int r = tenant_name(c->o->tenant, c->spec, &name, err);
        if (r < 0 || !name)
                return r;
        if ((r = tenant_acquire(c->o->root, name, &first_id, &c->tenant_lock, err)) < 0)
                return r;
        return tenant_harden(name, first_id, c->spec, &c->rootfs_idmap, err);
}

static bool has_cgroup_mount(const struct spec *s)
{
        for (size_t i = 0; i < s->n_mounts; i++)
                if (s->mounts[i].type && (strcmp(s->mounts[i].type, "cgroup") == 0 ||
                                          strcmp(s->mounts[i].type, "cgroup2") == 0))
                        return true;
        return false;
}

static void state_init(struct create_ctx *c)
{
        const struct spec *s = c->spec;
        struct state *st = &c->st;
        st->id = xstrdup(c->o->id);
        st->bundle = xstrdup(s->bundle);
        st->rootfs = xstrdup(s->root.path);
        st->created = state_now_rfc3339();
        st->creating = true;
        st->owner = xstrdup("");
        st->annotations = xcalloc(2 * s->n_annotations + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_annotations; i++) {
                st->annotations[2 * i] = xstrdup(s->annotations[i].key);
                st->annotations[2 * i + 1] = xstrdup(s->annotations[i].value);
        }
        st->cgroup_driver = xstrdup(cg_manager_driver_name(c->cg));
        st->cgroup_dirs = strv_dup(cg_manager_dirs(c->cg));
        st->use_systemd_cgroup = c->o->systemd_cgroup;
}

static bool has_limits(const struct spec_resources *r)
{
        return r->present && (r->has_memory || r->has_cpu || r->has_pids || r->has_blkio ||
                              r->has_network || r->n_hugepage_limits || r->n_rdma || r->n_unified);
}

/* As runc's rootless mode: a user other than root (or anyone with --rootless true, nobody with
 * --rootless false) who may not create the cgroup (r from cg_create) runs the container in its
 * own cgroup, unless the config asks for limits.  Device rules alone are no limits: without a
 * cgroup they are skipped (the user namespace already keeps the container from opening host
 * devices it could not open itself). */
static int rootless_without_cgroup(struct create_ctx *c, int r, struct cx_error **err)
{
        bool rootless = c->o->rootless == CONTAINER_ROOTLESS_AUTO
                            ? geteuid() != 0
                            : c->o->rootless == CONTAINER_ROOTLESS_TRUE;
        if (!rootless || (r != -EACCES && r != -EPERM && r != -EROFS))
                return r;
        if (has_limits(&c->spec->linux_.resources))
                return cx_error_prefix(err,
                                       "linux.resources: capsa runs as uid %u and cannot create "
                                       "the cgroup for these limits (remove linux.resources or "
                                       "delegate a writable cgroup to the user and point "
                                       "linux.cgroupsPath into it)",
                                       (unsigned)geteuid());
        log_warn("capsa runs as uid %u and cannot create the container's cgroup (%s): the "
                 "container runs without one, in the caller's cgroup",
                 (unsigned)geteuid(), (*err)->msg);
        cx_error_freep(err);
        cg_manager_freep(&c->cg);
        strv_free(c->st.cgroup_dirs);
        c->st.cgroup_dirs = xcalloc(1, sizeof(char *));
        return 0;
}

/* Lock ROOT/ID, record the early state, make exec.fifo and the cgroup. */
static int prepare(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r = state_dir_create(c->o->root, c->o->id, &c->dir, err);
        if (r < 0)
                return r;
        c->dir_created = true;
        r = cg_manager_new(s->linux_.cgroups_path, c->o->id, c->o->systemd_cgroup, &c->cg, err);
        if (r < 0)
                return r;
        state_init(c);
        if ((r = state_write(&c->dir, &c->st, err)) < 0)
                return r;
        /* The config as created: exec takes its defaults from it, delete its poststop hooks. */
        if ((r = write_file_atomic_at(c->dir.fd, "config.json", c->raw, strlen(c->raw), err)) < 0)
                return r;
        if ((r = ns_mnt_ns_inode(&c->caller_mnt_ns, err)) < 0 ||
            (r = container_host_mounts_record(&c->dir, s, err)) < 0)
                return r;
        if (mkfifoat(c->dir.fd, "exec.fifo", 0600) < 0)
                return cx_error_set(err, errno, "create exec.fifo in `%s/%s`", c->o->root,
                                    c->o->id);
        c->fifo_fd = openat(c->dir.fd, "exec.fifo", O_RDWR | O_CLOEXEC);
        if (c->fifo_fd < 0)
                return cx_error_set(err, errno, "open exec.fifo");
        r = cg_create(c->cg, s->linux_.resources.present ? &s->linux_.resources : NULL, err);
        if (r < 0 && (r = rootless_without_cgroup(c, r, err)) < 0)
                return r;
        if (c->cg) {
                c->cg_created = true;
                if ((r = cg_join_open(c->cg, &c->join, err)) < 0)
                        return r;
                if (has_cgroup_mount(s) &&
                    (r = cg_hierarchies(c->cg, &c->hier, &c->n_hier, err)) < 0)
                        return r;
        }
        if (c->o->console_socket &&
            (c->console_fd = console_connect(c->o->console_socket, err)) < 0)
                return c->console_fd;
        if (s->process.terminal && !c->o->console_socket) { /* own_console (validated) */
                int sv[2];
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                        return cx_error_set(err, errno, "socketpair for the terminal");
                c->console_peer = sv[0];
                c->console_fd = sv[1];
        }
        return 0;
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

        pid = join ? raw_clone(SIGCHLD) : clone_into(flags, c->join.v2_fd, &joined);
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
        _cleanup_free_ char *json = state_oci_json(&c->st, STATE_CREATING);
        if ((r = hooks_run(&c->spec->hooks, SPEC_HOOK_PRESTART, json, err)) < 0 ||
            (r = hooks_run(&c->spec->hooks, SPEC_HOOK_CREATE_RUNTIME, json, err)) < 0)
                return r;
        r = sync_send(c->sync_fd, SYNC_HOOKS_DONE, 0, 0, NULL);
        return r < 0 ? cx_error_set(err, -r, "resume the container init") : 0;
}

static int write_pid_file(const char *path, pid_t pid, struct cx_error **err)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
        int r = write_file_atomic_at(AT_FDCWD, path, buf, n, err);
        return r < 0 ? cx_error_prefix(err, "--pid-file") : 0;
}

/* The init's SYNC_SECCOMP: the listener fd goes to linux.seccomp.listenerPath. */
static int forward_seccomp_fd(struct create_ctx *c, struct cx_error **err)
{
        struct sync_msg m = {0};
        _cleanup_close_ int fd = -1;
        int n = fd_recv(c->sync_fd, &fd, &m, sizeof(m));
        if (n < 0)
                return cx_error_set(err, -n, "receive the seccomp listener fd from the init");
        if (m.type == SYNC_ERROR) {
                m.text[sizeof(m.text) - 1] = '\0';
                return cx_error_msg(err, m.code > 0 ? m.code : EIO, "%s", m.text);
        }
        if (m.type != SYNC_SECCOMP)
                return cx_error_msg(err, EPROTO,
                                    "unexpected message %u from container init "
                                    "(expected the seccomp listener fd)",
                                    m.type);
        if (fd < 0) /* no notify rule survived (unknown syscalls) */
                return 0;
        _cleanup_free_ char *json = state_oci_json(&c->st, STATE_CREATING);
        return sec_seccomp_send_listener(&c->spec->linux_.seccomp, fd, c->pid, json, err);
}

/* Parent side after clone: maps, cgroup, GO, hooks, READY. */
static int sync_with_init(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r;
        if (s->linux_.ns[SPEC_NS_USER].present && !s->linux_.ns[SPEC_NS_USER].path &&
            (r = ns_write_id_maps(c->pid, &s->linux_, err)) < 0)
                return r;
        /* The init joins the v1 hierarchies itself; a migration is only needed when clone3
         * could not place it in the cgroup2 hierarchy. */
        if (c->join.v2_fd >= 0 && !c->joined_at_clone && (r = cg_enter(c->cg, c->pid, err)) < 0)
                return r;
        if ((r = state_pid_start_time(c->pid, &c->st.pid_start_time)) < 0)
                return cx_error_set(err, -r, "read the start time of the container init");
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
        if ((r = sync_expect(c->sync_fd, SYNC_READY, NULL, err)) < 0)
                return r;
        c->st.creating = false;
        if ((r = state_write(&c->dir, &c->st, err)) < 0)
                return r;
        if (c->o->pid_file && (r = write_pid_file(c->o->pid_file, c->pid, err)) < 0)
                return r;
        return 0;
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

int create_container(struct create_ctx *c, const struct container_opts *o, struct cx_error **err)
{
        *c = (struct create_ctx){.o = o,
                                 .join = {.v2_fd = -1},
                                 .dir = {.fd = -1, .root_fd = -1},
                                 .sync_fd = -1,
                                 .fifo_fd = -1,
                                 .console_fd = -1,
                                 .console_peer = -1,
                                 .idmap = {.rootfs_fd = -1},
                                 .tenant_lock = -1};
        int r = spec_load(o->bundle ? o->bundle : ".", &c->spec, &c->raw, err);
        if (r < 0)
                return r;
        /* In a new pid namespace nothing of the container can see the init before it execs the
         * user's binary; otherwise (host or joined pid namespace) a container process could
         * open /proc/INIT/exe, so capsa re-executes itself from a protected copy first. */
        const struct spec_namespace *pidns = &c->spec->linux_.ns[SPEC_NS_PID];
        if (o->self_argv && !(pidns->present && !pidns->path) &&
            (r = sec_exe_seal(o->self_argv, err)) < 0) {
                spec_freep(&c->spec);
                free(TAKE_PTR(c->raw));
                return r;
        }
        /* systemd socket activation: pass the fds on, as runc does */
        c->opts_copy = *o;
        c->opts_copy.preserve_fds += proc_listen_fds(&c->spec->process);
        c->o = &c->opts_copy;
        if ((r = apply_tenant(c, err)) < 0 || (r = validate(c, err)) < 0 ||
            (r = prepare(c, err)) < 0)
                goto fail;
        closep(&c->tenant_lock); /* the state names the tenant now: `tenant remove` sees it */
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = cx_error_set(err, errno, "socketpair");
                goto fail;
        }
        c->sync_fd = sv[0];
        /* idmapped mounts are made here, in the host's namespaces; the init inherits them */
        if ((r = ns_idmap_mounts_open(c->spec, c->rootfs_idmap, &c->idmap, err)) < 0) {
                close(sv[1]);
                goto fail;
        }
        r = spawn(c, sv[1], err);
        close(sv[1]);
        ns_idmap_mounts_clear(&c->idmap);
        if (r < 0 || (r = sync_with_init(c, err)) < 0) {
                explain_oom_kill(c, err);
                goto fail;
        }
        closep(&c->console_fd);
        return 0;
fail:
        create_abort(c);
        return r;
}

void create_abort(struct create_ctx *c)
{
        if (c->pid > 0) {
                kill(c->pid, SIGKILL);
                while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                c->pid = 0;
        }
        if (c->dir_created) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (container_host_mounts_undo(&c->dir, c->spec->root.path, &e) < 0)
                        log_warn("%s", e->msg);
        }
        if (c->cg_created) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (cg_destroy(c->cg, &e) < 0)
                        log_warn("%s", e->msg);
                c->cg_created = false;
        }
        if (c->dir_created) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (state_dir_remove(&c->dir, &e) < 0)
                        log_warn("%s", e->msg);
                c->dir_created = false;
        }
        create_ctx_clear(c);
}

void create_ctx_clear(struct create_ctx *c)
{
        spec_freep(&c->spec);
        free(TAKE_PTR(c->raw));
        state_dir_close(&c->dir);
        state_clear(&c->st);
        cg_join_close(&c->join);
        cg_manager_freep(&c->cg);
        cg_hierarchies_free(c->hier, c->n_hier);
        c->hier = NULL;
        c->n_hier = 0;
        closep(&c->sync_fd);
        closep(&c->fifo_fd);
        closep(&c->console_fd);
        closep(&c->console_peer);
        closep(&c->tenant_lock);
        ns_idmap_mounts_clear(&c->idmap);
}
