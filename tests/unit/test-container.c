/* The container layer's create (plan -> prepare -> launch -> finish) and its undo, without root:
 * the cgroup is a fake cgroup2 tree in a temporary directory (fake-sys), the processes come
 * from a launcher of this test's own (registered in the launcher table), and every call
 * through the syscall seam is made, in turn, to fail, or to be the instant the runtime is
 * killed.  After each, the state directory, the cgroup and the launched process must all be
 * gone, by the failed create's own undo or by `delete --force`. */
#include "cgroups/cgroups-internal.h"
#include "container/internal.h"
#include "fake-sys.h"
#include "tap.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmp[] = "/tmp/capsa-unit-container-XXXXXX";
static char *bundle, *root, *cgroot;
static bool fail_launch;

/* ---- a launcher of the test's own: one child process that waits to be killed --------------- */

static int t_launch(struct create_ctx *c, struct cx_error **err)
{
        pid_t pid = fork();
        if (pid < 0)
                return cx_error_set(err, errno, "fork");
        if (pid == 0) {
                /* as the native init: never hold the state directory's lock */
                close(c->dir.fd);
                close(c->dir.root_fd);
                for (;;)
                        pause();
        }
        c->pid = pid;
        c->st.pid = pid;
        int r = state_pid_start_time(pid, &c->st.pid_start_time);
        if (r < 0)
                return cx_error_set(err, -r, "start time");
        if ((r = undo_append_process(&c->dir, pid, c->st.pid_start_time, err)) < 0)
                return r;
        if (fail_launch)
                return cx_error_msg(err, EIO, "test launcher: injected failure");
        return state_write(&c->dir, &c->st, err);
}

static enum state_status t_status(struct state_dir *d, const struct state *st)
{
        return state_status_get(d, st, state_pid_matches(st->pid, st->pid_start_time));
}

static void t_stop(struct container_handle *h)
{
        container_kill_wait(h->st.pid, h->st.pid_start_time);
}

static const struct launcher test_launcher = {
    .name = "unit-test",
    .launch = t_launch,
    .status = t_status,
    .stop = t_stop,
};

/* ---- fixtures ------------------------------------------------------------------------------ */

static void put(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void)!write(fd, text, strlen(text));
                close(fd);
        }
}

static void setup(void)
{
        if (!mkdtemp(tmp))
                abort();
        bundle = xasprintf("%s/bundle", tmp);
        root = xasprintf("%s/state", tmp);
        cgroot = xasprintf("%s/cgroup", tmp);
        mkdir(bundle, 0755);
        mkdir(cgroot, 0755);
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", bundle);
        mkdir(rootfs, 0755);
        _cleanup_free_ char *cfg = xasprintf("%s/config.json", bundle);
        put(cfg, "{\"ociVersion\": \"1.0.2\","
                 " \"process\": {\"args\": [\"/bin/true\"], \"cwd\": \"/\"},"
                 " \"root\": {\"path\": \"rootfs\"},"
                 " \"annotations\": {\"run.oci.handler\": \"unit-test\"},"
                 " \"linux\": {\"resources\": {\"pids\": {\"limit\": 10},"
                 "                           \"memory\": {\"limit\": 67108864}}}}");
        _cleanup_free_ char *c = xasprintf("%s/cgroup.controllers", cgroot);
        put(c, "cpu memory pids\n");
        _cleanup_free_ char *sc = xasprintf("%s/cgroup.subtree_control", cgroot);
        put(sc, "");
        _cleanup_free_ char *p = xasprintf("%s/cgroup.procs", cgroot);
        put(p, "");
        cg_set_root_for_tests(cgroot);
        fake_sys_install();
        fake_sys_cgroupfs(cgroot);
        launcher_register(&test_launcher);
}

static struct container_opts opts(const char *id)
{
        return (struct container_opts){.root = root, .id = id, .bundle = bundle};
}

/* Reaps every child that is gone; true when none is left at all (alive or zombie). */
static bool no_children(void)
{
        for (int i = 0; i < 200; i++) {
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
                if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
                        return true;
                usleep(10000);
        }
        return false;
}

/* Nothing of container id is left: no state dir, no cgroup, no process. */
static bool gone(const char *id, const char *what)
{
        _cleanup_free_ char *d = xasprintf("%s/%s", root, id);
        _cleanup_free_ char *cg = xasprintf("%s/capsa-%s", cgroot, id);
        bool dir = access(d, F_OK) == 0, cgroup = access(cg, F_OK) == 0, procs = !no_children();
        if (dir || cgroup || procs)
                printf("#   %s: left%s%s%s\n", what, dir ? " the state dir" : "",
                       cgroup ? " the cgroup" : "", procs ? " a process" : "");
        return !dir && !cgroup && !procs;
}

/* ---- the tests ----------------------------------------------------------------------------- */

static size_t calls_of_a_create(void)
{
        struct container_opts o = opts("probe");
        struct create_ctx c;
        struct cx_error *err = NULL;
        fake_sys_reset();
        int r = create_container(&c, &o, &err);
        size_t n = fake_sys_n_calls();
        ok(r == 0, "create through the test launcher%s%s", err ? ": " : "", err ? err->msg : "");
        if (r == 0) {
                _cleanup_free_ char *undo = NULL;
                read_file_at(c.dir.fd, "undo", &undo, NULL, NULL);
                contains(undo, "cgroup\tv2\t", "the undo record lists the cgroup");
                contains(undo, "process\t", "the undo record lists the process");
                contains(undo, "host-mounts\t", "and the mounts left in the shared namespace");
                _cleanup_free_ char *pids = xasprintf("%s/capsa-probe/pids.max", cgroot);
                _cleanup_free_ char *v = NULL;
                read_file_at(AT_FDCWD, pids, &v, NULL, NULL);
                ok(v && atoi(v) == 10, "the limits are written");
                create_ctx_clear(&c);
        }
        _cleanup_free_ char *log = fake_sys_log_text();
        printf("# the seam calls of a create:\n# %s\n", log);
        cx_error_freep(&err);
        ok(container_delete(root, "probe", true, &err) == 0, "delete --force");
        cx_error_freep(&err);
        ok(gone("probe", "probe"), "delete --force leaves nothing");
        return n;
}

/* Each seam call of create fails in turn: create fails, names what failed, leaves nothing. */
static void failure_at_each_call(size_t n)
{
        size_t failed = 0, clean = 0;
        for (size_t k = 1; k <= n; k++) {
                struct container_opts o = opts("fail");
                struct create_ctx c;
                struct cx_error *err = NULL;
                fake_sys_reset();
                fake_sys_fail(FAKE_ANY, (unsigned)k, EIO);
                int r = create_container(&c, &o, &err);
                const struct fake_sys_call *call =
                    k <= fake_sys_n_calls() ? fake_sys_call_at(k - 1) : NULL;
                char what[256];
                snprintf(what, sizeof(what), "call %zu (%s %s) failed", k,
                         call ? fake_sys_op_name(call->op) : "?",
                         call && call->path ? call->path : "");
                fake_sys_reset();
                if (r == 0) { /* a call whose failure create may ignore (best effort) */
                        create_ctx_clear(&c);
                        container_delete(root, "fail", true, NULL);
                } else {
                        failed++;
                        if (!err || !*err->msg)
                                printf("#   call %zu failed without a message\n", k);
                }
                clean += gone("fail", what);
                cx_error_freep(&err);
        }
        ok(failed > 0 && clean == n,
           "a failure at each of %zu seam calls of create: %zu made it fail, all %zu left "
           "nothing",
           n, failed, clean);
}

/* create is killed just before each seam call; delete --force then removes everything the
 * undo record lists. */
static void killed_at_each_call(size_t n)
{
        size_t clean = 0, deleted = 0;
        for (size_t k = 1; k <= n; k++) {
                pid_t pid = fork();
                if (pid == 0) {
                        struct container_opts o = opts("killed");
                        struct create_ctx c;
                        fake_sys_reset();
                        fake_sys_exit_at((unsigned)k, 137);
                        _exit(create_container(&c, &o, NULL) == 0 ? 0 : 1);
                }
                int status = 0;
                waitpid(pid, &status, 0);
                struct cx_error *err = NULL;
                fake_sys_reset();
                int r = container_delete(root, "killed", true, &err);
                if (r < 0)
                        printf("#   call %zu: delete --force: %s\n", k, err->msg);
                deleted += r == 0;
                cx_error_freep(&err);
                char what[64];
                snprintf(what, sizeof(what), "killed before call %zu", k);
                clean += gone("killed", what);
        }
        ok(deleted == n && clean == n,
           "create killed before each of %zu seam calls: delete --force succeeded %zu times and "
           "left nothing %zu times",
           n, deleted, clean);
}

/* The launcher fails after making its process: the failed create undoes it too. */
static void launcher_failure(void)
{
        struct container_opts o = opts("launchfail");
        struct create_ctx c;
        struct cx_error *err = NULL;
        fail_launch = true;
        fake_sys_reset();
        int r = create_container(&c, &o, &err);
        fail_launch = false;
        ok(r < 0 && err && strstr(err->msg, "injected"), "a failing launch fails create");
        cx_error_freep(&err);
        ok(gone("launchfail", "failed launch"), "and its process, cgroup and state are undone");
}

/* Each seam call of delete fails in turn: delete fails and keeps the state (so it can be
 * repeated); the repeat leaves nothing. */
static void delete_failure_at_each_call(void)
{
        size_t n = 0, kept = 0, clean = 0;
        for (size_t k = 1;; k++) {
                struct container_opts o = opts("undo");
                struct create_ctx c;
                fake_sys_reset();
                if (create_container(&c, &o, NULL) < 0) {
                        ok(0, "create for the delete test");
                        return;
                }
                create_ctx_clear(&c);
                struct cx_error *err = NULL;
                fake_sys_reset();
                fake_sys_fail(FAKE_ANY, (unsigned)k, EIO);
                int r = container_delete(root, "undo", true, &err);
                bool injected = k <= fake_sys_n_calls();
                fake_sys_reset();
                cx_error_freep(&err);
                _cleanup_free_ char *d = xasprintf("%s/undo", root);
                if (r < 0)
                        kept += access(d, F_OK) == 0;
                if (r < 0 && container_delete(root, "undo", true, &err) < 0)
                        printf("#   repeated delete after call %zu failed: %s\n", k, err->msg);
                cx_error_freep(&err);
                char what[64];
                snprintf(what, sizeof(what), "delete failed at call %zu", k);
                clean += gone("undo", what);
                if (!injected)
                        break;
                n += r < 0;
        }
        ok(n > 0 && kept == n, "a failure in delete (%zu of its calls) keeps the state for a retry",
           n);
        ok(clean > n, "and the retried delete leaves nothing");
}

int main(void)
{
        setvbuf(stdout, NULL, _IONBF, 0);
        prctl(PR_SET_CHILD_SUBREAPER, 1); /* a killed create's processes come back to us */
        setup();
        size_t n = calls_of_a_create();
        ok(n >= 4, "create makes %zu calls through the seam", n);
        failure_at_each_call(n);
        killed_at_each_call(n);
        launcher_failure();
        delete_failure_at_each_call();
        fake_sys_uninstall();
        cg_set_root_for_tests(NULL);
        rm_rf_at(AT_FDCWD, tmp);
        return tap_done();
}
