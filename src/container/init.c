/* The container's init: runs between clone() and execve() of the user process.
 *
 * Order: wait for the parent (id maps, cgroup) -> become root of the user namespace ->
 * keyring, hostname, loopback -> rlimits and process attributes -> root filesystem (with the
 * createRuntime hook round trip before pivot) -> sysctl -> terminal -> resolve the executable
 * and cwd -> compile seccomp -> READY -> block on exec.fifo -> capabilities, user, seccomp ->
 * startContainer hooks -> execve.  Every failure goes back to the parent as a SYNC_ERROR
 * message. */
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "security/security.h"
#include "util/sys.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

/* The state the init's hooks read on stdin, as the runtime's hooks get it (state_hook_json),
 * with the init's pid as the container sees it. */
static char *hook_state_json(const struct init_args *a, const char *status)
{
        const struct spec *s = a->spec;
        _cleanup_strv_ char **ann = xcalloc(2 * s->n_annotations + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_annotations; i++) {
                ann[2 * i] = xstrdup(s->annotations[i].key);
                ann[2 * i + 1] = xstrdup(s->annotations[i].value);
        }
        struct state st = {
            .id = (char *)a->opts->id, .bundle = s->bundle, .pid = getpid(), .annotations = ann};
        return state_hook_json(&st,
                               strcmp(status, "created") == 0 ? STATE_CREATED : STATE_CREATING);
}

static int init_hooks_round_trip(void *userdata, struct cx_error **err)
{
        const struct init_args *a = userdata;
        if (a->has_runtime_hooks) {
                int r = sync_send(a->sync_fd, SYNC_HOOKS, 0, 0, NULL);
                if (r < 0)
                        return cx_error_set(err, -r, "ask for createRuntime hooks");
                r = sync_expect(a->sync_fd, SYNC_HOOKS_DONE, NULL, err);
                if (r < 0)
                        return r;
        }
        _cleanup_free_ char *json = NULL; /* createContainer hooks get the state on stdin */
        const struct spec_hooks *h = &a->spec->hooks;
        if (h->n[SPEC_HOOK_CREATE_CONTAINER] == 0)
                return 0;
        /* as runc: the hooks run from the rootfs, so their relative paths are inside it */
        if (chdir(a->spec->root.path) < 0)
                return cx_error_set(err, errno, "createContainer hooks: chdir to `%s`",
                                    a->spec->root.path);
        json = hook_state_json(a, "creating");
        return hooks_run(h, SPEC_HOOK_CREATE_CONTAINER, json, err);
}

static int setup_filesystem(const struct init_args *a, struct cx_error **err)
{
        struct ns_cgroup_mount *cgm = NULL;
        container_cgroup_mounts(a->cgroups, a->n_cgroups, &cgm);
        struct ns_rootfs_opts ro = {
            .no_pivot = a->opts->no_pivot,
            .shared_mnt_ns = !(a->new_ns & CLONE_NEWNS),
            .caller_mnt_ns = a->caller_mnt_ns,
            .cgroups = cgm,
            .n_cgroups = a->n_cgroups,
            .cgroup_ns = a->new_ns & CLONE_NEWCGROUP,
            .user_ns = a->new_ns & CLONE_NEWUSER,
            .no_cgroup = a->no_cgroup,
            .idmap = a->idmap,
            .mounts = a->mounts,
            .before_pivot = init_hooks_round_trip,
            .userdata = (void *)a,
        };
        /* ns_rootfs_setup also writes linux.sysctl, before /proc/sys turns read-only. */
        int r = ns_rootfs_setup(a->ns, &ro, err);
        container_cgroup_mounts_free(cgm);
        return r;
}

/* Everything up to READY. */
static int init_prepare(const struct init_args *a, char **ret_exec, struct sec_filter **ret_filter,
                        struct cx_error **err)
{
        const struct spec *s = a->spec;
        const struct spec_process *p = &s->process;
        int r;

        if ((r = cg_join_self(a->join, err)) < 0)
                return r;
        r = sync_expect(a->sync_fd, SYNC_GO, NULL, err);
        if (r < 0)
                return r;
        if (a->user_maps && (r = sec_init_not_dumpable(err)) < 0)
                return r;
        if ((a->new_ns & CLONE_NEWUSER) && (r = proc_become_ns_root(err)) < 0)
                return r;
        /* Now that the parent has put us in our cgroup, it becomes the namespace's root. */
        if ((a->new_ns & CLONE_NEWCGROUP) && sys_unshare(CLONE_NEWCGROUP) < 0)
                return cx_error_set(err, errno, "unshare the cgroup namespace");
        if (!a->opts->no_new_keyring && (r = sec_new_session_keyring(a->opts->id, err)) < 0)
                return r;
        if ((r = ns_set_hostname(a->ns, err)) < 0)
                return r;
        if ((a->new_ns & CLONE_NEWNET) && (r = ns_loopback_up(err)) < 0)
                return r;
        if ((r = sec_rlimits_apply(p->rlimits, p->n_rlimits, err)) < 0)
                return r;
        if ((r = sec_process_attrs_apply(p, err)) < 0)
                return r;
        if ((r = setup_filesystem(a, err)) < 0)
                return r;
        if (p->terminal && (r = proc_setup_terminal(p, a->console_fd, err)) < 0)
                return r;
        /* as runc: always a session leader (CRIU refuses a tree whose session is outside) */
        if (!p->terminal && setsid() < 0)
                return cx_error_set(err, errno, "setsid");
        if ((r = sec_chdir_cwd(p->cwd, err)) < 0) /* inside the root only: CVE-2024-21626 */
                return r;
        if ((r = proc_resolve_exec(p, ret_exec, err)) < 0)
                return r;
        return sec_seccomp_compile(&s->linux_.seccomp, ret_filter, err);
}

static int wait_for_start(int fifo_fd, struct cx_error **err)
{
        char c;
        ssize_t n;
        do
                n = read(fifo_fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
                return cx_error_set(err, n < 0 ? errno : EPIPE, "wait for start on exec.fifo");
        close(fifo_fd);
        return 0;
}

/* startContainer hooks: as runc, with the process's user, capabilities and seccomp filter. */
static int init_start_hooks(void *userdata, struct cx_error **err)
{
        const struct init_args *a = userdata;
        if (a->spec->hooks.n[SPEC_HOOK_START_CONTAINER] == 0)
                return 0;
        _cleanup_free_ char *json = hook_state_json(a, "created");
        return hooks_run(&a->spec->hooks, SPEC_HOOK_START_CONTAINER, json, err);
}

/* After start: privileges, the startContainer hooks, then execve.  A notify filter was loaded
 * before READY (init_send_seccomp). */
static int init_exec(const struct init_args *a, const char *exec_path, struct sec_filter *filter,
                     struct cx_error **err)
{
        struct proc_finalize f = {.filter = filter,
                                  .sync_fd = -1,
                                  .before_exec = init_start_hooks,
                                  .userdata = (void *)a};
        return proc_finalize_exec(&a->spec->process, exec_path, &f, err);
}

static _Noreturn void init_fail(const struct init_args *a, struct cx_error *e, bool parent_waits)
{
        if (!parent_waits || sync_send_error(a->sync_fd, e) < 0)
                fprintf(stderr, "capsa: %s\n", e ? e->msg : "container init failed");
        _exit(127);
}

/* SCMP_ACT_NOTIFY: the filter is loaded now (the listener must be handed over before the
 * container runs) and its fd sent to the parent, which passes it to listenerPath. */
static int init_send_seccomp(const struct init_args *a, struct sec_filter **filter,
                             struct cx_error **err)
{
        _cleanup_close_ int nfd = -1;
        int r;
        if (sec_filter_has_listener(*filter)) {
                if ((r = sec_seccomp_load(*filter, &nfd, err)) < 0)
                        return r;
                sec_filter_free(TAKE_PTR(*filter)); /* loaded: not again before execve */
        }
        struct sync_msg m = {.type = SYNC_SECCOMP};
        r = fd_send(a->sync_fd, nfd, &m, offsetof(struct sync_msg, text));
        return r < 0 ? cx_error_set(err, -r, "send the seccomp listener fd to the runtime") : 0;
}

void init_main(const struct init_args *a)
{
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_free_ char *exec_path = NULL;
        struct sec_filter *filter = NULL;

        sigset_t none;
        sigemptyset(&none);
        signals_reset_default();
        sigprocmask(SIG_SETMASK, &none, NULL); /* `run` blocks signals to forward them */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* not ptrace-able nor readable through /proc until execve (CVE-2016-9962).  An
         * unprivileged parent writes our id maps (itself or with newuidmap), which needs our
         * /proc files owned by the user: then only after SYNC_GO, as runc does.  Nothing of the
         * container exists before that, and the user could ptrace us anyway. */
        if (!a->user_maps && sec_init_not_dumpable(&err) < 0)
                init_fail(a, err, true);
        /* Nothing the caller left open may reach the container, except preserved fds. */
        syscall(SYS_close_range, 3 + a->opts->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);

        if (init_prepare(a, &exec_path, &filter, &err) < 0)
                init_fail(a, err, true);
        if (sec_seccomp_wants_listener(&a->spec->linux_.seccomp) &&
            init_send_seccomp(a, &filter, &err) < 0)
                init_fail(a, err, true);
        prctl(PR_SET_PDEATHSIG, 0); /* `create` exits now; the init lives on */
        if (sync_send(a->sync_fd, SYNC_READY, 0, 0, NULL) < 0)
                _exit(127);
        if (wait_for_start(a->fifo_fd, &err) < 0)
                init_fail(a, err, false);
        init_exec(a, exec_path, filter, &err);
        init_fail(a, err, true);
}
