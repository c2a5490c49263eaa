/* The container's init: runs between clone() and execve() of the user process.
 *
 * Order: wait for the parent (id maps, cgroup) -> become root of the user namespace ->
 * keyring, hostname, loopback -> rlimits and process attributes -> root filesystem (with the
 * createRuntime hook round trip before pivot) -> sysctl -> terminal -> resolve the executable
 * and cwd -> compile seccomp -> READY -> block on exec.fifo -> capabilities, user, seccomp ->
 * execve.  Every failure goes back to the parent as a SYNC_ERROR message. */
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "security/security.h"

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

static int become_ns_root(struct cx_error **err)
{
        if (setresgid(0, 0, 0) < 0)
                return cx_error_set(err, errno,
                                    "setresgid(0) in the user namespace (is gid 0 mapped?)");
        if (setresuid(0, 0, 0) < 0)
                return cx_error_set(err, errno,
                                    "setresuid(0) in the user namespace (is uid 0 mapped?)");
        return 0;
}

static const char *env_path(char *const *env)
{
        for (size_t i = 0; env && env[i]; i++)
                if (str_has_prefix(env[i], "PATH="))
                        return env[i] + 5;
        return NULL;
}

static bool is_executable_file(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Finds args[0] as execvp would, with the container's PATH, inside the new root. */
static int resolve_exec(const struct spec_process *p, char **ret, struct cx_error **err)
{
        const char *name = p->args[0];
        if (strchr(name, '/')) {
                if (!is_executable_file(name))
                        return cx_error_set(err, errno ? errno : EACCES, "exec: `%s`", name);
                *ret = xstrdup(name);
                return 0;
        }
        const char *path = env_path(p->env);
        _cleanup_free_ char *copy =
            xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *cand = xasprintf("%s/%s", *dir ? dir : ".", name);
                if (is_executable_file(cand)) {
                        *ret = TAKE_PTR(cand);
                        return 0;
                }
        }
        return cx_error_msg(err, ENOENT, "exec: `%s`: executable file not found in $PATH", name);
}

static int setup_terminal(const struct spec_process *p, int console_fd, struct cx_error **err)
{
        _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return cx_error_set(err, errno, "open /dev/ptmx for the terminal");
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return cx_error_set(err, errno, "unlock pty");
        _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0)
                return cx_error_set(err, errno, "open pty peer");
        if (p->console_size.set) {
                struct winsize ws = {.ws_row = p->console_size.height,
                                     .ws_col = p->console_size.width};
                ioctl(slave, TIOCSWINSZ, &ws);
        }
        int r = fd_send(console_fd, master, "/dev/ptmx", strlen("/dev/ptmx"));
        if (r < 0)
                return cx_error_set(err, -r, "send the pty master to the console socket");
        if (setsid() < 0)
                return cx_error_set(err, errno, "setsid");
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                return cx_error_set(err, errno, "set the controlling terminal");
        for (int fd = 0; fd < 3; fd++)
                if (dup2(slave, fd) < 0)
                        return cx_error_set(err, errno, "dup the pty onto fd %d", fd);
        return 0;
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
        json = xasprintf("{\"ociVersion\":\"1.2.0\",\"id\":\"%s\",\"status\":\"creating\","
                         "\"pid\":%d,\"bundle\":\"%s\"}",
                         a->opts->id, (int)getpid(), a->spec->bundle);
        return hooks_run(h, SPEC_HOOK_CREATE_CONTAINER, json, err);
}

static int setup_filesystem(const struct init_args *a, struct cx_error **err)
{
        const struct spec *s = a->spec;
        struct ns_rootfs_opts ro = {
            .no_pivot = a->opts->no_pivot,
            .cgroups = a->cgroups,
            .n_cgroups = a->n_cgroups,
            .cgroup_ns = a->new_ns & CLONE_NEWCGROUP,
            .user_ns = a->new_ns & CLONE_NEWUSER,
            .before_pivot = init_hooks_round_trip,
            .userdata = (void *)a,
        };
        /* ns_rootfs_setup also writes linux.sysctl, before /proc/sys turns read-only. */
        return ns_rootfs_setup(s, &ro, err);
}

/* Everything up to READY. */
static int init_prepare(const struct init_args *a, char **ret_exec, struct sec_filter **ret_filter,
                        struct cx_error **err)
{
        const struct spec *s = a->spec;
        const struct spec_process *p = &s->process;
        int r;

        r = sync_expect(a->sync_fd, SYNC_GO, NULL, err);
        if (r < 0)
                return r;
        if ((a->new_ns & CLONE_NEWUSER) && (r = become_ns_root(err)) < 0)
                return r;
        /* Now that the parent has put us in our cgroup, it becomes the namespace's root. */
        if ((a->new_ns & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
                return cx_error_set(err, errno, "unshare the cgroup namespace");
        if (!a->opts->no_new_keyring && (r = sec_new_session_keyring(a->opts->id, err)) < 0)
                return r;
        if ((r = ns_set_hostname(s, err)) < 0)
                return r;
        if ((a->new_ns & CLONE_NEWNET) && (r = ns_loopback_up(err)) < 0)
                return r;
        if ((r = sec_rlimits_apply(p->rlimits, p->n_rlimits, err)) < 0)
                return r;
        if ((r = sec_process_attrs_apply(p, err)) < 0)
                return r;
        if ((r = setup_filesystem(a, err)) < 0)
                return r;
        if (p->terminal && (r = setup_terminal(p, a->console_fd, err)) < 0)
                return r;
        if (chdir(p->cwd) < 0)
                return cx_error_set(err, errno, "chdir to cwd `%s` set in config.json", p->cwd);
        if ((r = resolve_exec(p, ret_exec, err)) < 0)
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

/* After start: privileges, then execve. */
static int init_exec(const struct init_args *a, const char *exec_path, struct sec_filter *filter,
                     struct cx_error **err)
{
        const struct spec_process *p = &a->spec->process;
        bool late_seccomp = p->no_new_privileges;
        int r;

        if (a->spec->hooks.n[SPEC_HOOK_START_CONTAINER] > 0) {
                _cleanup_free_ char *json =
                    xasprintf("{\"ociVersion\":\"1.2.0\",\"id\":\"%s\",\"status\":\"created\","
                              "\"pid\":%d,\"bundle\":\"%s\"}",
                              a->opts->id, (int)getpid(), a->spec->bundle);
                if ((r = hooks_run(&a->spec->hooks, SPEC_HOOK_START_CONTAINER, json, err)) < 0)
                        return r;
        }
        if ((r = sec_caps_drop_bounding(&p->caps, err)) < 0)
                return r;
        if (p->no_new_privileges && (r = sec_no_new_privs(err)) < 0)
                return r;
        if (filter && !late_seccomp && (r = sec_seccomp_load(filter, NULL, err)) < 0)
                return r;
        if ((r = sec_switch_user(&p->user, &p->caps, err)) < 0)
                return r;
        if ((r = sec_lsm_apply(p, err)) < 0)
                return r;
        if (filter && late_seccomp && (r = sec_seccomp_load(filter, NULL, err)) < 0)
                return r;
        execve(exec_path, p->args, p->env ? p->env : (char *[]){NULL});
        return cx_error_set(err, errno, "exec `%s`", exec_path);
}

static _Noreturn void init_fail(const struct init_args *a, struct cx_error *e, bool parent_waits)
{
        if (!parent_waits || sync_send_error(a->sync_fd, e) < 0)
                fprintf(stderr, "capsa: %s\n", e ? e->msg : "container init failed");
        _exit(127);
}

void init_main(const struct init_args *a)
{
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_free_ char *exec_path = NULL;
        struct sec_filter *filter = NULL;

        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* `run` blocks signals to forward them */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* Nothing the caller left open may reach the container, except preserved fds. */
        syscall(SYS_close_range, 3 + a->opts->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);

        if (init_prepare(a, &exec_path, &filter, &err) < 0)
                init_fail(a, err, true);
        prctl(PR_SET_PDEATHSIG, 0); /* `create` exits now; the init lives on */
        if (sync_send(a->sync_fd, SYNC_READY, 0, 0, NULL) < 0)
                _exit(127);
        if (wait_for_start(a->fifo_fd, &err) < 0)
                init_fail(a, err, false);
        init_exec(a, exec_path, filter, &err);
        init_fail(a, err, true);
}
