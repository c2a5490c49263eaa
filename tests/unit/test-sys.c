/* The syscall seam (src/util/sys.h) and its fake (fake-sys.h): counting, the call log,
 * failure injection, the emulations, and two library callers seen through it (mkdir_p and
 * ns_join).  No root needed. */
#include "fake-sys.h"
#include "namespaces/namespaces.h"
#include "tap.h"
#include "util/util.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char tmp[] = "/tmp/capsa-test-sys-XXXXXX";

static bool is_dir(const char *path)
{
        struct stat sb;
        return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static char *slurp(const char *path)
{
        char *text = NULL;
        return read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0 ? NULL : text;
}

static void test_default(void)
{
        ok(sys == &sys_real, "sys is the real table by default");
        fake_sys_install();
        ok(sys != &sys_real, "install replaces it");
        fake_sys_uninstall();
        ok(sys == &sys_real, "uninstall restores it");
}

static void test_log_and_counts(void)
{
        fake_sys_install();
        ok(sys_mount("proc", "/nowhere/proc", "proc", MS_NOSUID, NULL) == 0,
           "mount is emulated: it succeeds without doing anything");
        ok(sys_umount2("/nowhere/proc", MNT_DETACH) == 0, "umount2 too");
        ok(sys_pivot_root("/new", "/new/old") == 0, "pivot_root too");
        ok(sys_setns(-1, CLONE_NEWNET) == 0 && sys_unshare(CLONE_NEWNS) == 0 &&
               sys_chroot("/r") == 0,
           "setns, unshare, chroot too");
        ok(fake_sys_count(FAKE_MOUNT) == 1 && fake_sys_count(FAKE_UMOUNT2) == 1 &&
               fake_sys_count(FAKE_ANY) == 6,
           "counted per op and overall (%u)", fake_sys_count(FAKE_ANY));
        const struct fake_sys_call *c = fake_sys_call_at(0);
        ok(c && c->op == FAKE_MOUNT && c->flags == MS_NOSUID && c->ret == 0 && !c->failed,
           "first log entry: the mount");
        is_str(c ? c->path : NULL, "/nowhere/proc", "its path is the target");
        is_str(c ? c->arg : NULL, "proc", "its arg is the source");
        c = fake_sys_call_at(2);
        is_str(c ? c->arg : NULL, "/new/old", "pivot_root logs put_old as arg");
        ok(fake_sys_find(FAKE_UMOUNT2, "/nowhere/proc", 0) == 1, "find the umount2");
        ok(fake_sys_find(FAKE_MOUNT, "/other", 0) == -1, "find nothing else");
        ok(fake_sys_call_at(6) == NULL && fake_sys_n_calls() == 6, "six calls logged");
        fake_sys_reset();
        ok(fake_sys_n_calls() == 0 && fake_sys_count(FAKE_ANY) == 0, "reset clears it all");
        fake_sys_uninstall();
}

static void test_failures(void)
{
        fake_sys_install();
        fake_sys_fail(FAKE_MOUNT, 2, EPERM);
        int r1 = sys_mount(NULL, "/a", NULL, MS_PRIVATE, NULL);
        int r2 = sys_umount2("/a", 0);
        int r3 = sys_mount(NULL, "/b", NULL, MS_PRIVATE, NULL);
        int e3 = errno;
        int r4 = sys_mount(NULL, "/c", NULL, MS_PRIVATE, NULL);
        ok(r1 == 0 && r2 == 0 && r3 == -1 && e3 == EPERM && r4 == 0,
           "the 2nd mount fails with EPERM, the others succeed");
        const struct fake_sys_call *c = fake_sys_call_at(2);
        ok(c && c->failed && c->ret == -1 && c->err == EPERM, "the failure is logged as injected");
        _cleanup_free_ char *text = fake_sys_log_text();
        contains(text, "mount /b = -1 (Operation not permitted) [injected]", "log text");

        fake_sys_reset();
        fake_sys_fail(FAKE_ANY, 3, EIO);
        r1 = sys_setns(0, 0);
        r2 = sys_umount2("/x", 0);
        r3 = sys_chroot("/y");
        e3 = errno;
        r4 = sys_chroot("/z");
        ok(r1 == 0 && r2 == 0 && r3 == -1 && e3 == EIO && r4 == 0,
           "the 3rd call of any op fails with EIO");

        fake_sys_reset();
        fake_sys_fail(FAKE_UNSHARE, 0, EINVAL);
        ok(sys_unshare(0) == -1 && sys_unshare(0) == -1 && errno == EINVAL && sys_setns(0, 0) == 0,
           "nth 0 fails every call of the op, and only of that op");

        fake_sys_reset();
        fake_sys_fail_path(FAKE_ANY, "/proc", EACCES);
        ok(sys_mount(NULL, "/sys", NULL, 0, NULL) == 0 &&
               sys_mount(NULL, "/x/proc/y", NULL, 0, NULL) == -1 && errno == EACCES,
           "a path rule fails the calls on matching paths");
        fake_sys_uninstall();
}

static void test_real_dirs(void)
{
        fake_sys_install();
        _cleanup_close_ int dfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *a = xasprintf("%s/a", tmp);
        ok(sys_mkdirat(dfd, "a", 0755) == 0 && is_dir(a), "mkdirat makes the directory");
        ok(fake_sys_find(FAKE_MKDIRAT, a, 0) == 0, "logged with the absolute path");
        ok(sys_mkdirat(dfd, "a", 0755) == -1 && errno == EEXIST, "the real errno comes back");
        ok(sys_unlinkat(dfd, "a", AT_REMOVEDIR) == 0 && !is_dir(a), "rmdir removes it");
        ok(fake_sys_count(FAKE_RMDIR) == 1 && fake_sys_count(FAKE_UNLINKAT) == 0,
           "unlinkat with AT_REMOVEDIR is counted as rmdir");

        /* a library caller: mkdir_p, failing in the middle */
        fake_sys_reset();
        _cleanup_free_ char *deep = xasprintf("%s/p/q/r", tmp);
        _cleanup_free_ char *q = xasprintf("%s/p/q", tmp);
        _cleanup_free_ char *p = xasprintf("%s/p", tmp);
        /* the leaf (ENOENT), each component of tmp (EEXIST), p, then q: fail q */
        unsigned nth = 3;
        for (const char *s = tmp; *s; s++)
                nth += *s == '/';
        fake_sys_fail(FAKE_MKDIRAT, nth, EACCES);
        _cleanup_error_ struct cx_error *err = NULL;
        ok(mkdir_p(deep, 0755, &err) == -EACCES, "mkdir_p reports the injected failure");
        contains(err ? err->msg : NULL, q, "naming the directory");
        ok(is_dir(p) && !is_dir(q), "what came before was made, nothing after");
        fake_sys_reset();
        ok(mkdir_p(deep, 0755, NULL) == 0 && is_dir(deep), "mkdir_p without a rule");
        ok(rm_rf_at(AT_FDCWD, p) == 0 && !is_dir(p), "rm_rf_at through the seam");
        ok(fake_sys_find(FAKE_RMDIR, deep, 0) >= 0 && fake_sys_find(FAKE_RMDIR, p, 0) >= 0,
           "and its rmdirs are logged");
        fake_sys_uninstall();
}

static void test_cgroupfs(void)
{
        _cleanup_free_ char *root = xasprintf("%s/cg", tmp);
        _cleanup_free_ char *x = xasprintf("%s/x", root), *y = xasprintf("%s/x/y", root);
        _cleanup_free_ char *rsub = xasprintf("%s/cgroup.subtree_control", root);
        _cleanup_free_ char *xsub = xasprintf("%s/cgroup.subtree_control", x);
        _cleanup_free_ char *yctl = xasprintf("%s/cgroup.controllers", y);
        _cleanup_free_ char *xmax = xasprintf("%s/memory.max", x);
        _cleanup_free_ char *yprocs = xasprintf("%s/cgroup.procs", y);
        mkdir(root, 0755);
        write_file_atomic_at(AT_FDCWD, rsub, "", 0, NULL);

        fake_sys_install();
        fake_sys_cgroupfs(root);
        ok(sys_cg_write(AT_FDCWD, rsub, "+memory +pids", 13) == 13, "enable two controllers");
        _cleanup_free_ char *s1 = slurp(rsub);
        is_str(s1, "memory pids\n", "subtree_control lists them");
        ok(sys_mkdirat(AT_FDCWD, x, 0755) == 0, "mkdir a cgroup");
        _cleanup_free_ char *xctl = xasprintf("%s/cgroup.controllers", x);
        _cleanup_free_ char *s2 = slurp(xctl);
        is_str(s2, "memory pids\n", "its cgroup.controllers is the parent's subtree_control");
        ok(sys_cg_write(AT_FDCWD, xsub, "+pids", 5) == 5 && sys_mkdirat(AT_FDCWD, y, 0755) == 0,
           "enable pids below it, make a child");
        _cleanup_free_ char *s3 = slurp(yctl);
        is_str(s3, "pids\n", "the child sees pids only");
        ok(sys_cg_write(AT_FDCWD, xsub, "-pids", 5) == 5, "disable it again");
        _cleanup_free_ char *s4 = slurp(xsub);
        is_str(s4, "\n", "nothing enabled");
        ok(sys_cg_write(AT_FDCWD, xmax, "100", 3) == 3, "a control file is created on write");
        ok(sys_unlinkat(AT_FDCWD, x, AT_REMOVEDIR) == -1 && errno == EBUSY,
           "rmdir of a cgroup with a child cgroup: EBUSY");
        write_file_at(AT_FDCWD, yprocs, "42\n", 3, NULL);
        ok(sys_unlinkat(AT_FDCWD, y, AT_REMOVEDIR) == -1 && errno == EBUSY,
           "rmdir of a cgroup with processes: EBUSY");
        write_file_at(AT_FDCWD, yprocs, "", 0, NULL);
        ok(sys_unlinkat(AT_FDCWD, y, AT_REMOVEDIR) == 0 &&
               sys_unlinkat(AT_FDCWD, x, AT_REMOVEDIR) == 0 && !is_dir(x),
           "rmdir removes the files, then the directory");
        fake_sys_uninstall();
        unlink(rsub);
        rmdir(root);
}

static void test_ns_join(void)
{
        int fds[SPEC_NS_MAX];
        for (int t = 0; t < SPEC_NS_MAX; t++)
                fds[t] = -1;
        fds[SPEC_NS_MOUNT] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds[SPEC_NS_USER] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds[SPEC_NS_NETWORK] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fake_sys_install();
        _cleanup_error_ struct cx_error *err = NULL;
        ok(ns_join(fds, &err) == 0, "ns_join through the fake");
        const struct fake_sys_call *c0 = fake_sys_call_at(0), *c1 = fake_sys_call_at(1),
                                   *c2 = fake_sys_call_at(2);
        ok(fake_sys_count(FAKE_SETNS) == 3 && c0 && c0->flags == CLONE_NEWUSER && c1 &&
               c1->flags == CLONE_NEWNET && c2 && c2->flags == CLONE_NEWNS,
           "user first, mount last");
        ok(fds[SPEC_NS_MOUNT] < 0 && fds[SPEC_NS_USER] < 0, "fds closed");

        fake_sys_reset();
        fds[SPEC_NS_MOUNT] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds[SPEC_NS_USER] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fds[SPEC_NS_NETWORK] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        fake_sys_fail(FAKE_SETNS, 2, EPERM);
        ok(ns_join(fds, &err) == -EPERM, "a failing setns fails the join");
        contains(err ? err->msg : NULL, "join the network namespace", "naming the namespace");
        ok(fake_sys_count(FAKE_SETNS) == 2 && fds[SPEC_NS_MOUNT] < 0,
           "stops there and closes the rest");
        fake_sys_uninstall();
}

static void test_clone(void)
{
        fake_sys_install();
        pid_t pid = sys_clone(CLONE_NEWNS | CLONE_NEWUSER | SIGCHLD);
        if (pid == 0)
                _exit(7);
        int status = 0;
        ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
               WEXITSTATUS(status) == 7,
           "clone makes a child without the namespaces");
        const struct fake_sys_call *c = fake_sys_call_at(0);
        ok(c && c->op == FAKE_CLONE && (c->flags & CLONE_NEWNS) && c->ret == pid,
           "the log keeps the flags asked and the pid");
        fake_sys_fail(FAKE_CLONE3, 1, ENOSYS);
        struct clone_args a = {.exit_signal = SIGCHLD};
        ok(sys_clone3(&a, sizeof(a)) == -1 && errno == ENOSYS, "clone3 fails on demand");
        fake_sys_uninstall();
}

int main(void)
{
        if (!mkdtemp(tmp)) {
                printf("Bail out! mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        test_default();
        test_log_and_counts();
        test_failures();
        test_real_dirs();
        test_cgroupfs();
        test_ns_join();
        test_clone();
        rm_rf_at(AT_FDCWD, tmp);
        ok(access(tmp, F_OK) < 0, "temporary directory removed");
        return tap_done();
}
