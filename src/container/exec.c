/* `exec`: run another process in an existing container (see exec.h).
 *
 * capsa (P) forks a helper (C1) and moves it into the container's cgroup; C1 joins the
 * init's namespaces and root, then clones the process (C2) as P's child (CLONE_PARENT), so
 * that C2 is born in the container's pid and time namespaces.  C2 applies the process
 * settings and execs; its failures travel back over the sync socket, whose close on exec
 * tells P that the process runs. */
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "security/security.h"
#include "util/sys.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct exec_ctx {
        const struct container_exec_opts *o;
        struct state st;
        struct spec *spec;
        struct cg_manager *cg;
        struct sec_filter *filter;
        int ns_fds[SPEC_NS_MAX];
        bool user_ns;
        int root_fd;
        int console_fd;   /* given to the process: --console-socket or our socketpair */
        int console_peer; /* our end of the socketpair (proxy mode), else -1 */
};

/* /proc/PID/ns names, indexed by enum spec_ns_type. */
static const char *const proc_ns_names[SPEC_NS_MAX] = {
    [SPEC_NS_PID] = "pid",       [SPEC_NS_NETWORK] = "net", [SPEC_NS_MOUNT] = "mnt",
    [SPEC_NS_IPC] = "ipc",       [SPEC_NS_UTS] = "uts",     [SPEC_NS_USER] = "user",
    [SPEC_NS_CGROUP] = "cgroup", [SPEC_NS_TIME] = "time",
};

static void exec_ctx_clear(struct exec_ctx *x)
{
        state_clear(&x->st);
        spec_freep(&x->spec);
        cg_manager_freep(&x->cg);
        sec_filter_freep(&x->filter);
        for (int t = 0; t < SPEC_NS_MAX; t++)
                closep(&x->ns_fds[t]);
        closep(&x->root_fd);
        closep(&x->console_fd);
        closep(&x->console_peer);
}

/* Takes the state and the stored config from the opened container, then unlocks it (the
 * process may run for long). */
static int exec_load(struct exec_ctx *x, struct container_handle *h, struct cx_error **err)
{
        const struct container_exec_opts *o = x->o;
        int r = container_config(&h->dir, &h->st, &x->spec, err);
        x->st = h->st;
        h->st = (struct state){0};
        container_close(h);
        if (r < 0)
                return r;
        if (x->st.cgroup_dirs && x->st.cgroup_dirs[0]) {
                if ((r = cg_manager_load(x->st.cgroup_driver, x->st.cgroup_dirs, &x->cg, err)) < 0)
                        return r;
                return cg_manager_narrow(x->cg, o->cgroups, err); /* exec --cgroup */
        }
        if (o->cgroups)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "exec --cgroup: container `%s` has no cgroup of its own "
                                    "(rootless)",
                                    o->id);
        return 0;
}

/* Sets KEY=V, replacing an earlier KEY (runc keeps the last one). */
static void env_set(char ***env, const char *kv)
{
        const char *eq = strchr(kv, '=');
        size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
        for (size_t i = 0; *env && (*env)[i]; i++) {
                if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
                        free((*env)[i]);
                        (*env)[i] = xstrdup(kv);
                        return;
                }
        }
        strv_append(env, kv);
}

static int add_caps(struct spec_caps *c, char *const *names, struct cx_error **err)
{
        for (size_t i = 0; names && names[i]; i++) {
                int cap = spec_cap_from_name(names[i]);
                if (cap < 0) {
                        _cleanup_free_ char *full = xasprintf("CAP_%s", names[i]);
                        cap = spec_cap_from_name(full);
                }
                if (cap < 0)
                        return cx_error_msg(err, EINVAL, "--cap: unknown capability `%s`",
                                            names[i]);
                uint64_t bit = UINT64_C(1) << cap;
                c->present = true;
                c->bounding |= bit;
                c->effective |= bit;
                c->permitted |= bit;
                /* ambient needs inheritable, which --cap does not add (as runc) */
                if (c->inheritable)
                        c->ambient |= bit;
        }
        return 0;
}

/* With --process, what the file leaves out comes from the container (as runc does). */
static int load_process_file(struct exec_ctx *x, struct cx_error **err)
{
        _cleanup_free_ char *json = NULL;
        size_t len = 0;
        int r = read_file_at(AT_FDCWD, x->o->process_file, &json, &len, err);
        if (r < 0)
                return cx_error_prefix(err, "--process");
        struct spec_process p = {0};
        if ((r = spec_parse_process_json(json, len, x->o->process_file, &p, err)) < 0)
                return r;
        struct spec_process *c = &x->spec->process;
        if (!p.caps.present)
                p.caps = c->caps;
        if (p.n_rlimits == 0) {
                p.rlimits = TAKE_PTR(c->rlimits);
                p.n_rlimits = c->n_rlimits;
                c->n_rlimits = 0;
        }
        if (!p.apparmor_profile)
                p.apparmor_profile = TAKE_PTR(c->apparmor_profile);
        if (!p.selinux_label)
                p.selinux_label = TAKE_PTR(c->selinux_label);
        spec_process_clear(c);
        *c = p;
        return 0;
}

/* The process to run: the container's (or --process), with the flags' overrides. */
static int exec_build_process(struct exec_ctx *x, struct cx_error **err)
{
        const struct container_exec_opts *o = x->o;
        struct spec_process *p = &x->spec->process;
        int r;
        if (o->process_file) {
                if ((r = load_process_file(x, err)) < 0)
                        return r;
        } else {
                if (!o->args || !o->args[0])
                        return cx_error_msg(err, EINVAL,
                                            "exec: a command is required after the container "
                                            "id (or --process FILE)");
                p->terminal = false; /* runc: the config's terminal is not inherited */
        }
        if (o->args && o->args[0]) {
                strv_free(p->args);
                p->args = strv_dup(o->args);
        }
        if (o->cwd) {
                if (o->cwd[0] != '/')
                        return cx_error_msg(err, EINVAL, "--cwd `%s`: must be an absolute path",
                                            o->cwd);
                free(p->cwd);
                p->cwd = xstrdup(o->cwd);
        }
        for (size_t i = 0; o->env && o->env[i]; i++)
                env_set(&p->env, o->env[i]);
        if (o->tty >= 0)
                p->terminal = o->tty;
        if (o->user_set)
                p->user.uid = o->uid;
        if (o->gid_set)
                p->user.gid = o->gid;
        if (o->n_additional_gids) {
                size_t n = p->user.n_additional_gids;
                p->user.additional_gids = xrealloc(
                    p->user.additional_gids, (n + o->n_additional_gids + 1) * sizeof(uint32_t));
                memcpy(p->user.additional_gids + n, o->additional_gids,
                       o->n_additional_gids * sizeof(uint32_t));
                p->user.n_additional_gids = n + o->n_additional_gids;
        }
        if ((r = add_caps(&p->caps, o->caps, err)) < 0)
                return r;
        if (o->no_new_privs >= 0)
                p->no_new_privileges = o->no_new_privs;
        if (o->apparmor) {
                free(p->apparmor_profile);
                p->apparmor_profile = xstrdup(o->apparmor);
        }
        if (o->process_label) {
                free(p->selinux_label);
                p->selinux_label = xstrdup(o->process_label);
        }
        return 0;
}

static int exec_validate(struct exec_ctx *x, struct cx_error **err)
{
        const struct container_exec_opts *o = x->o;
        const struct spec_process *p = &x->spec->process;
        int r;
        /* runc's rules for terminals of detached processes */
        if (o->detach && p->terminal && !o->console_socket)
                return cx_error_msg(err, EINVAL,
                                    "cannot allocate a tty for a detached exec without "
                                    "--console-socket");
        if (o->console_socket && (!o->detach || !p->terminal))
                return cx_error_msg(err, EINVAL,
                                    "--console-socket needs --detach and a terminal (--tty)");
        /* a tenant's container: the exec'd process gets the tenant's hardening too */
        tenant_harden_exec(x->st.annotations, x->spec, &x->spec->process);
        if ((r = sec_caps_check(&p->caps, err)) < 0 || (r = sec_lsm_check(p, err)) < 0)
                return r;
        return sec_seccomp_compile(&x->spec->linux_.seccomp, &x->filter, err);
}

static int same_ns(pid_t pid, const char *name, bool *ret)
{
        char path[64];
        struct stat a, b;
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
        if (stat(path, &a) < 0)
                return -errno;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
        if (stat(path, &b) < 0)
                return -errno;
        *ret = a.st_ino == b.st_ino && a.st_dev == b.st_dev;
        return 0;
}

/* Whether id falls in a range of /proc/PID/FILE (uid_map, gid_map); true when unreadable. */
static bool id_in_proc_map(pid_t pid, const char *file, uint32_t id)
{
        char path[64], line[128];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return true;
        while (fgets(line, sizeof(line), f)) {
                unsigned long long inside, outside, count;
                if (sscanf(line, "%llu %llu %llu", &inside, &outside, &count) == 3 &&
                    id >= outside && id - outside < count)
                        return true;
        }
        return false;
}

/* CVE-2019-5736.  The exec'd process is a copy of capsa until it execs, and runs capsa's binary
 * again if its command is a `#!/proc/self/exe` script: either way a process of the container,
 * in the same pid namespace, can keep /proc/PID/exe open and write the binary once capsa has
 * exited.  (Unlike create, a pid namespace of the container's own is no protection here: the
 * container's processes are in it.)  No re-seal is needed only when the container cannot write
 * the binary at all: it has a user namespace of its own in which the binary's owner is not
 * mapped (no capability there applies to the file, and the owner cannot chmod it), its group is
 * not mapped or has no write permission, and others have none.  Anything unknown: seal. */
static bool exec_needs_seal(const struct exec_ctx *x)
{
        pid_t pid = x->st.pid;
        struct stat st;
        bool same = true;
        if (stat("/proc/self/exe", &st) < 0 || same_ns(pid, "user", &same) < 0 || same)
                return true;
        bool writable = (st.st_mode & S_IWOTH) || id_in_proc_map(pid, "uid_map", st.st_uid) ||
                        ((st.st_mode & S_IWGRP) && id_in_proc_map(pid, "gid_map", st.st_gid));
        /* the maps read were the recorded init's, not a reused pid's */
        return writable || !state_pid_matches(pid, x->st.pid_start_time);
}

static int exec_seal(const struct exec_ctx *x, struct cx_error **err)
{
        if (!x->o->self_argv)
                return 0;
        if (!exec_needs_seal(x)) {
                log_debug("exec: container `%s` cannot write the capsa binary: not re-executed",
                          x->o->id);
                return 0;
        }
        return sec_exe_seal(x->o->self_argv, err);
}

/* Opens every namespace of the init that differs from ours, and its root. */
static int exec_open_container(struct exec_ctx *x, struct cx_error **err)
{
        pid_t pid = x->st.pid;
        char path[64];
        for (int t = 0; t < SPEC_NS_MAX; t++) {
                bool same = false;
                int r = same_ns(pid, proc_ns_names[t], &same);
                if (r == -ENOENT && t == SPEC_NS_TIME)
                        continue; /* kernel without time namespaces */
                if (r < 0)
                        return cx_error_set(err, -r, "container `%s`: namespace %s of pid %d",
                                            x->o->id, proc_ns_names[t], (int)pid);
                if (same)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, proc_ns_names[t]);
                x->ns_fds[t] = open(path, O_RDONLY | O_CLOEXEC);
                if (x->ns_fds[t] < 0)
                        return cx_error_set(err, errno, "open %s", path);
        }
        x->user_ns = x->ns_fds[SPEC_NS_USER] >= 0;
        snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
        x->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (x->root_fd < 0)
                return cx_error_set(err, errno, "open %s", path);
        /* The fds pin what we opened: check they belong to the recorded init, not a reused
         * pid. */
        if (!state_pid_matches(pid, x->st.pid_start_time))
                return cx_error_msg(err, ESRCH, "container `%s` is not running", x->o->id);
        return 0;
}

static int exec_open_console(struct exec_ctx *x, struct cx_error **err)
{
        if (!x->spec->process.terminal)
                return 0;
        return console_open(x->o->console_socket, &x->console_fd, &x->console_peer, err);
}

/* ---- the children -------------------------------------------------------------------------- */

static _Noreturn void child_fail(int sync_fd, struct cx_error *e)
{
        if (sync_send_error(sync_fd, e) < 0)
                fprintf(stderr, "capsa: exec: %s\n", e ? e->msg : "failed");
        _exit(127);
}

/* C2: in every namespace of the container; applies the process settings and execs. */
static _Noreturn void exec_process(struct exec_ctx *x, int sync_fd)
{
        struct spec_process *p = &x->spec->process;
        struct cx_error *e = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (x->user_ns && proc_become_ns_root(&e) < 0)
                child_fail(sync_fd, e);
        if ((r = sec_rlimits_apply(p->rlimits, p->n_rlimits, &e)) < 0 ||
            (r = sec_process_attrs_apply(p, &e)) < 0)
                child_fail(sync_fd, e);
        if (p->terminal && (r = proc_setup_terminal(p, x->console_fd, &e)) < 0)
                child_fail(sync_fd, e);
        if (!p->terminal && setsid() < 0) { /* as runc: its own session */
                cx_error_set(&e, errno, "setsid");
                child_fail(sync_fd, e);
        }
        closep(&x->console_fd);
        /* As the init: resolved inside the root (we are chroot()ed there and our cwd is its top),
         * never through a magic link to a host fd or directory (CVE-2024-21626). */
        if ((r = sec_chdir_cwd(p->cwd, &e)) < 0) {
                if (x->o->cwd)
                        cx_error_prefix(&e, "--cwd `%s`", x->o->cwd);
                child_fail(sync_fd, e);
        }
        if ((r = proc_resolve_exec(p, &path, &e)) < 0)
                child_fail(sync_fd, e);
        syscall(SYS_close_range, 3 + x->o->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
        struct proc_finalize f = {.filter = x->filter, .sync_fd = sync_fd};
        proc_finalize_exec(p, path, &f, &e);
        child_fail(sync_fd, e);
}

/* C1: waits until it sits in the cgroup, joins the namespaces and root, clones C2. */
static _Noreturn void exec_helper(struct exec_ctx *x, int sync_fd)
{
        sigset_t none;
        sigemptyset(&none);
        signals_reset_default();
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct cx_error *e = NULL;
        if (sync_expect(sync_fd, SYNC_GO, NULL, &e) < 0)
                _exit(1);
        if (ns_join(x->ns_fds, &e) < 0)
                child_fail(sync_fd, e);
        if (fchdir(x->root_fd) < 0 || chroot(".") < 0) {
                cx_error_set(&e, errno, "enter the root of container `%s`", x->o->id);
                child_fail(sync_fd, e);
        }
        closep(&x->root_fd);
        /* C2 shares the sync socket: it waits for the end of this pipe, so that whatever it
         * sends (SYNC_SECCOMP, an error) comes after SYNC_PID. */
        int order[2];
        if (pipe2(order, O_CLOEXEC) < 0) {
                cx_error_set(&e, errno, "pipe");
                child_fail(sync_fd, e);
        }
        pid_t pid = sys_clone(CLONE_PARENT | SIGCHLD);
        if (pid == 0) {
                char c;
                close(order[1]);
                while (read(order[0], &c, 1) < 0 && errno == EINTR)
                        ;
                close(order[0]);
                exec_process(x, sync_fd);
        }
        if (pid < 0) {
                cx_error_set(&e, errno, "clone the exec process");
                child_fail(sync_fd, e);
        }
        sync_send(sync_fd, SYNC_PID, 0, pid, NULL);
        _exit(0); /* closes order[1]: C2 goes on */
}

/* ---- the caller ---------------------------------------------------------------------------- */

/* C2's SYNC_SECCOMP: its listener fd goes to linux.seccomp.listenerPath, as runc does for
 * exec'd processes (the container "running", the init's pid in the state). */
static int forward_seccomp_fd(struct exec_ctx *x, pid_t pid, int fd, int sync_fd,
                              struct cx_error **err)
{
        if (fd < 0)
                return cx_error_msg(err, EPROTO, "no seccomp listener fd from the exec process");
        _cleanup_free_ char *json = state_hook_json(&x->st, STATE_RUNNING);
        int r = sec_seccomp_send_listener(&x->spec->linux_.seccomp, fd, pid, json, err);
        if (r < 0)
                return r;
        r = sync_send(sync_fd, SYNC_SECCOMP_DONE, 0, 0, NULL);
        return r < 0 ? cx_error_set(err, -r, "resume the exec process") : 0;
}

/* Waits until C2 has exec'd (the sync socket closes) or reports an error; forwards its
 * seccomp listener fd on the way.  On failure C2 is gone or killed. */
static int wait_exec(struct exec_ctx *x, pid_t pid, int sync_fd, struct cx_error **err)
{
        for (;;) {
                struct sync_msg m;
                _cleanup_close_ int fd = -1;
                if (sync_recv_fd(sync_fd, &m, &fd) <= 0)
                        return 0;
                if (m.type == SYNC_SECCOMP) {
                        int r = forward_seccomp_fd(x, pid, fd, sync_fd, err);
                        if (r < 0) {
                                kill(pid, SIGKILL);
                                return r;
                        }
                        continue;
                }
                return cx_error_msg(err, m.code > 0 ? m.code : EIO, "%s", m.text);
        }
}

/* Starts C1 and C2; returns C2's pid once it has exec'd. */
static int exec_spawn(struct exec_ctx *x, pid_t *ret_pid, int *ret_master, struct cx_error **err)
{
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return cx_error_set(err, errno, "socketpair");
        _cleanup_close_ int sync_fd = sv[0];
        pid_t helper = fork();
        if (helper < 0) {
                close(sv[1]);
                return cx_error_set(err, errno, "fork");
        }
        if (helper == 0) {
                close(sv[0]);
                exec_helper(x, sv[1]);
        }
        close(sv[1]);
        closep(&x->root_fd);
        int r = 0;
        if (x->cg && (r = cg_enter(x->cg, helper, err)) < 0) {
                kill(helper, SIGKILL);
                container_reap(helper);
                return r;
        }
        struct sync_msg m;
        if ((r = sync_send(sync_fd, SYNC_GO, 0, 0, NULL)) < 0)
                r = cx_error_set(err, -r, "start the exec helper");
        else
                r = sync_expect(sync_fd, SYNC_PID, &m, err);
        container_reap(helper);
        if (r < 0)
                return r;
        pid_t pid = m.pid;
        closep(&x->console_fd);
        if (x->console_peer >= 0 &&
            (r = console_recv_master(x->console_peer, ret_master, err)) < 0) {
                /* the process failed before it sent its terminal: report why */
                _cleanup_error_ struct cx_error *why = NULL;
                if (wait_exec(x, pid, sync_fd, &why) < 0) {
                        cx_error_freep(err);
                        r = cx_error_msg(err, why->code, "%s", why->msg);
                }
                container_reap(pid);
                return r;
        }
        if ((r = wait_exec(x, pid, sync_fd, err)) < 0) {
                container_reap(pid);
                return r;
        }
        *ret_pid = pid;
        return 0;
}

int native_exec(struct container_handle *h, const struct container_exec_opts *o, int *ret_status,
                struct cx_error **err)
{
        struct exec_ctx x = {.o = o, .root_fd = -1, .console_fd = -1, .console_peer = -1};
        for (int t = 0; t < SPEC_NS_MAX; t++)
                x.ns_fds[t] = -1;
        _cleanup_close_ int master = -1, sfd = -1;
        pid_t pid = 0;
        /* before anything is started or blocked: this may re-execute capsa */
        int r = exec_load(&x, h, err);
        if (r < 0 || (r = exec_seal(&x, err)) < 0) {
                exec_ctx_clear(&x);
                return r;
        }
        sigset_t old, set;
        console_block_signals(&old, &set);
        if ((r = exec_build_process(&x, err)) < 0 || (r = exec_validate(&x, err)) < 0 ||
            (r = exec_open_container(&x, err)) < 0 || (r = exec_open_console(&x, err)) < 0 ||
            (r = exec_spawn(&x, &pid, &master, err)) < 0)
                goto out;
        if (o->pid_file && (r = container_write_pid_file(o->pid_file, pid, err)) < 0) {
                kill(pid, SIGKILL);
                container_reap(pid);
                goto out;
        }
        *ret_status = 0;
        if (o->detach)
                goto out;
        sfd = signalfd(-1, &set, SFD_CLOEXEC);
        if (sfd < 0) {
                r = cx_error_set(err, errno, "signalfd");
                goto out;
        }
        *ret_status = console_wait(pid, sfd, master);
out:
        exec_ctx_clear(&x);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
