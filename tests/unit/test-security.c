/* Unit tests for src/security: capabilities, seccomp, rlimits, process attributes, LSM.
 * Everything that changes process state runs in a forked child which reports through its exit
 * code (0 = good, N = check N failed).  Tests that need root skip when not root. */
#include "security/security.h"
#include "tap.h"

#include <fcntl.h>
#include <linux/ioprio.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef CAP_KILL
#define CAP_KILL 5
#endif
#define CAP_SYS_RESOURCE_NR 24

#define BIT(n) (UINT64_C(1) << (n))

static void skip(const char *why)
{
        printf("ok %d # SKIP %s\n", ++tap_n, why);
}

/* Runs fn in a child; returns the raw wait status. */
static int in_child(int (*fn)(void *), void *arg)
{
        int status = 0;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0)
                _exit(fn(arg));
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return status;
}

static bool exited_ok(int status)
{
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return true;
        if (WIFEXITED(status))
                printf("#   child failed check %d\n", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                printf("#   child killed by signal %d\n", WTERMSIG(status));
        return false;
}

/* The value of a "Key:\tvalue" line of /proc/self/status. */
static char *status_field(const char *key, char *buf, size_t len)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");
        size_t kl = strlen(key);

        buf[0] = '\0';
        if (!f)
                return buf;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
                        char *v = line + kl + 1;

                        v += strspn(v, " \t");
                        v[strcspn(v, "\n")] = '\0';
                        for (size_t n = strlen(v); n > 0 && v[n - 1] == ' '; n--)
                                v[n - 1] = '\0'; /* "Groups:" ends with a space */
                        snprintf(buf, len, "%s", v);
                        break;
                }
        }
        fclose(f);
        return buf;
}

static bool own_bounding_has(int cap)
{
        return prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0) == 1;
}

static bool effective_has(int cap)
{
        char buf[64];
        unsigned long long eff = strtoull(status_field("CapEff", buf, sizeof(buf)), NULL, 16);

        return eff & BIT(cap);
}

/* ---- capabilities ------------------------------------------------------------------------ */
static void test_caps_check(void)
{
        struct spec_caps c = {
            .present = true, .bounding = BIT(CAP_KILL), .effective = BIT(CAP_KILL)};
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_error_ struct cx_error *err2 = NULL;
        _cleanup_error_ struct cx_error *err3 = NULL;

        if (own_bounding_has(CAP_KILL))
                ok(sec_caps_check(&c, &err) == 0, "sec_caps_check accepts CAP_KILL");
        else
                skip("CAP_KILL is not in this process's bounding set");

        if (own_bounding_has(CAP_SYS_RESOURCE_NR)) {
                skip("CAP_SYS_RESOURCE is in this host's bounding set");
        } else {
                c = (struct spec_caps){.present = true, .bounding = BIT(CAP_SYS_RESOURCE_NR)};
                ok(sec_caps_check(&c, &err2) == -EPERM, "sec_caps_check rejects CAP_SYS_RESOURCE");
                is_str(err2 ? err2->msg : NULL,
                       "process.capabilities.bounding: CAP_SYS_RESOURCE is not in capsa's own "
                       "bounding set (the host withholds it); remove it from the config",
                       "error names the set and the capability");
        }

        c = (struct spec_caps){.present = true, .ambient = BIT(63)};
        ok(sec_caps_check(&c, &err3) < 0, "sec_caps_check rejects capability 63");
        contains(err3 ? err3->msg : NULL, "unknown to the running kernel", "... as unknown");
        contains(err3 ? err3->msg : NULL, "process.capabilities.ambient", "... naming the set");
}

static int child_switch_user(void *arg)
{
        struct spec_caps c = {.present = true,
                              .bounding = BIT(CAP_KILL),
                              .effective = BIT(CAP_KILL),
                              .permitted = BIT(CAP_KILL),
                              .inheritable = BIT(CAP_KILL),
                              .ambient = BIT(CAP_KILL)};
        uint32_t gids[] = {1001, 1002};
        struct spec_user u = {.uid = 1000,
                              .gid = 1000,
                              .umask = {true, 027},
                              .additional_gids = gids,
                              .n_additional_gids = 2};
        struct cx_error *err = NULL;
        char buf[128];

        if (sec_caps_drop_bounding(&c, &err) < 0)
                return 1;
        if (sec_switch_user(&u, &c, &err) < 0) {
                printf("#   %s\n", err->msg);
                return 2;
        }
        if (strcmp(status_field("Uid", buf, sizeof(buf)), "1000\t1000\t1000\t1000") != 0)
                return 3;
        if (strcmp(status_field("Gid", buf, sizeof(buf)), "1000\t1000\t1000\t1000") != 0)
                return 4;
        if (strcmp(status_field("Groups", buf, sizeof(buf)), "1001 1002") != 0)
                return 5;
        if (strcmp(status_field("CapEff", buf, sizeof(buf)), "0000000000000020") != 0)
                return 6;
        if (strcmp(status_field("CapPrm", buf, sizeof(buf)), "0000000000000020") != 0)
                return 7;
        if (strcmp(status_field("CapBnd", buf, sizeof(buf)), "0000000000000020") != 0)
                return 8;
        if (strcmp(status_field("CapAmb", buf, sizeof(buf)), "0000000000000020") != 0)
                return 9;
        if (umask(0) != 027)
                return 10;
        if (prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0)
                return 11;
        return 0;
}

static int child_ambient_not_permitted(void *arg)
{
        struct spec_caps c = {.present = true, .bounding = BIT(CAP_KILL), .ambient = BIT(CAP_KILL)};
        struct spec_user u = {.uid = 1000, .gid = 1000};
        struct cx_error *err = NULL;

        char buf[64];

        /* As runc: an ambient capability that is not permitted and inheritable is skipped. */
        if (sec_switch_user(&u, &c, &err) < 0)
                return 1;
        return strcmp(status_field("CapAmb", buf, sizeof(buf)), "0000000000000000") == 0 ? 0 : 2;
}

static int child_no_caps_object(void *arg)
{
        struct spec_caps c = {.present = false};
        struct spec_user u = {.uid = 0, .gid = 0};
        struct cx_error *err = NULL;
        char buf[64];

        if (sec_switch_user(&u, &c, &err) < 0)
                return 1;
        return strcmp(status_field("CapEff", buf, sizeof(buf)), "0000000000000000") == 0 ? 0 : 2;
}

static void test_switch_user(void)
{
        if (geteuid() != 0) {
                skip("switching users needs root");
                return;
        }
        ok(exited_ok(in_child(child_switch_user, NULL)),
           "sec_switch_user: uid/gid/groups 1000, CAP_KILL kept in all sets, umask");
        ok(exited_ok(in_child(child_ambient_not_permitted, NULL)),
           "ambient cap outside permitted/inheritable is skipped, as runc does");
        ok(exited_ok(in_child(child_no_caps_object, NULL)),
           "absent capabilities object means empty sets");
}

/* ---- seccomp ----------------------------------------------------------------------------- */
static int child_load(struct sec_filter *f)
{
        struct cx_error *err = NULL;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 100;
        if (sec_seccomp_load(f, NULL, &err) < 0) {
                printf("#   %s\n", err->msg);
                return 101;
        }
        return 0;
}

static int child_errno_filter(void *arg)
{
        char cwd[256];
        int r = child_load(arg);

        if (r)
                return r;
        errno = 0;
        if (getcwd(cwd, sizeof(cwd)) != NULL || errno != ENOTSUP)
                return 1;
        errno = 0;
        if (personality(0xffffffff) != -1 || errno != EPERM)
                return 2;
        /* other getpriority() arguments are untouched; arg0 == 100 or 101 are denied */
        errno = 0;
        if (getpriority(100, 0) != -1 || errno != EPERM)
                return 3;
        errno = 0;
        if (getpriority(101, 0) != -1 || errno != EPERM)
                return 4;
        errno = 0;
        if (getpriority(102, 0) != -1 || errno != EINVAL)
                return 5;
        if (getppid() <= 0)
                return 6;
        return 0;
}

static int child_kill_filter(void *arg)
{
        int r = child_load(arg);

        if (r)
                return r;
        syscall(SYS_getppid);
        return 1; /* not reached */
}

static int child_notify_filter(void *arg)
{
        struct cx_error *err = NULL;
        int fd = -1;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return 100;
        if (!sec_filter_has_listener(arg))
                return 1;
        if (sec_seccomp_load(arg, &fd, &err) < 0) {
                printf("#   %s\n", err->msg);
                return 2;
        }
        if (fd < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                return 3;
        return 0;
}

static char *getcwd_names[] = {"getcwd", "capsa_no_such_syscall", NULL};
static char *personality_names[] = {"personality", NULL};
static char *getpriority_names[] = {"getpriority", NULL};
static char *getppid_names[] = {"getppid", NULL};
static char *native_arch[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};

static void test_seccomp(void)
{
        struct spec_seccomp_arg pers_arg = {
            .index = 0, .value = 0xffffffff, .op = SPEC_SCMP_CMP_EQ};
        struct spec_seccomp_arg prio_args[] = {{.index = 0, .value = 100, .op = SPEC_SCMP_CMP_EQ},
                                               {.index = 0, .value = 101, .op = SPEC_SCMP_CMP_EQ}};
        struct spec_seccomp_syscall calls[] = {
            {.names = getcwd_names, .action = SPEC_SCMP_ERRNO, .errno_ret = {true, ENOTSUP}},
            {.names = personality_names, .action = SPEC_SCMP_ERRNO, .args = &pers_arg, .n_args = 1},
            {.names = getpriority_names, .action = SPEC_SCMP_ERRNO, .args = prio_args, .n_args = 2},
        };
        struct spec_seccomp s = {.present = true,
                                 .default_action = SPEC_SCMP_ALLOW,
                                 .architectures = native_arch,
                                 .syscalls = calls,
                                 .n_syscalls = ARRAY_SIZE(calls)};
        struct spec_seccomp_syscall kill_call = {.names = getppid_names, .action = SPEC_SCMP_KILL};
        struct spec_seccomp_syscall notify_call = {.names = getppid_names,
                                                   .action = SPEC_SCMP_NOTIFY};
        char *bad_flags[] = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_BOGUS", NULL};
        char *good_flags[] = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                              "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", NULL};
        struct sec_filter *f = NULL;
        struct cx_error *err = NULL;
        int r, status;

        r = sec_seccomp_compile(&s, &f, &err);
        ok(r == 0 && f, "compile: ERRNO rules, arg comparisons, unknown syscall name skipped");
        if (err)
                printf("#   %s\n", err->msg);
        ok(exited_ok(in_child(child_errno_filter, f)),
           "loaded filter: getcwd -> ENOTSUP, personality(0xffffffff) -> EPERM, same-arg "
           "conditions OR-ed");
        sec_filter_free(f);
        f = NULL;

        s.syscalls = &kill_call;
        s.n_syscalls = 1;
        s.flags = good_flags;
        s.architectures = NULL;
        r = sec_seccomp_compile(&s, &f, &err);
        ok(r == 0 && f, "compile: KILL rule with LOG/SPEC_ALLOW/WAIT_KILLABLE_RECV flags");
        status = in_child(child_kill_filter, f);
        ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "KILL action kills with SIGSYS");
        sec_filter_free(f);
        f = NULL;

        s.syscalls = &notify_call;
        r = sec_seccomp_compile(&s, &f, &err);
        ok(r == 0 && f, "compile: NOTIFY rule");
        ok(exited_ok(in_child(child_notify_filter, f)), "NOTIFY load returns a listener fd");
        sec_filter_free(f);
        f = NULL;

        s.flags = bad_flags;
        r = sec_seccomp_compile(&s, &f, &err);
        ok(r == -EINVAL && !f, "unknown flag is an error");
        contains(err ? err->msg : NULL, "linux.seccomp.flags", "... naming linux.seccomp.flags");
        cx_error_free(err);
        err = NULL;

        s.flags = NULL;
        s.architectures = (char *[]){"SCMP_ARCH_VAX", NULL};
        r = sec_seccomp_compile(&s, &f, &err);
        ok(r == -EINVAL && !f, "unknown architecture is an error");
        contains(err ? err->msg : NULL, "linux.seccomp.architectures", "... naming the path");
        cx_error_free(err);
        err = NULL;

        s.present = false;
        ok(sec_seccomp_compile(&s, &f, &err) == 0 && !f, "absent seccomp compiles to nothing");
        ok(sec_seccomp_load(NULL, &r, &err) == 0 && r == -1, "loading no filter is a no-op");
}

/* ---- rlimits ----------------------------------------------------------------------------- */
static int child_rlimit_lower(void *arg)
{
        struct spec_rlimit rl = {RLIMIT_NOFILE, "RLIMIT_NOFILE", 256, 512};
        struct cx_error *err = NULL;
        struct rlimit cur;

        if (sec_rlimits_apply(&rl, 1, &err) < 0)
                return 1;
        if (getrlimit(RLIMIT_NOFILE, &cur) < 0 || cur.rlim_cur != 256 || cur.rlim_max != 512)
                return 2;
        return 0;
}

static void test_rlimits(void)
{
        struct spec_rlimit rl = {RLIMIT_NOFILE, "RLIMIT_NOFILE", 0, 0};
        struct spec_rlimit bad = {RLIMIT_NOFILE, "RLIMIT_NOFILE", 10, 5};
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_error_ struct cx_error *err2 = NULL;
        struct rlimit cur;

        ok(exited_ok(in_child(child_rlimit_lower, NULL)), "lowering RLIMIT_NOFILE works");

        ok(sec_rlimits_apply(&bad, 1, &err2) == -EINVAL, "soft above hard is an error");

        if (effective_has(CAP_SYS_RESOURCE_NR)) {
                skip("capsa holds CAP_SYS_RESOURCE: raising hard limits works here");
                return;
        }
        getrlimit(RLIMIT_NOFILE, &cur);
        rl.soft = cur.rlim_cur;
        rl.hard = cur.rlim_max + 1;
        ok(sec_rlimits_apply(&rl, 1, &err) == -EPERM, "raising the hard limit fails");
        contains(err ? err->msg : NULL, "capsa lacks CAP_SYS_RESOURCE",
                 "... naming the capability");
        contains(err ? err->msg : NULL, "cannot raise RLIMIT_NOFILE hard limit",
                 "... and the rlimit");
}

/* ---- process attributes ------------------------------------------------------------------ */
static int child_attrs(void *arg)
{
        struct spec_process p = {
            .oom_score_adj = {true, 500},
            .io_priority = {true, IOPRIO_CLASS_BE, 6},
            .scheduler = {.set = true, .policy = SCHED_BATCH, .nice = 5},
        };
        struct cx_error *err = NULL;
        char buf[32] = {0};
        int fd;

        if (sec_process_attrs_apply(&p, &err) < 0) {
                printf("#   %s\n", err->msg);
                return 1;
        }
        fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0 || atoi(buf) != 500)
                return 2;
        close(fd);
        if (syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) != IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 6))
                return 3;
        if (sched_getscheduler(0) != SCHED_BATCH)
                return 4;
        if (getpriority(PRIO_PROCESS, 0) != 5)
                return 5;
        if (sec_no_new_privs(&err) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
                return 6;
        return 0;
}

static int child_oom_lower(void *arg)
{
        struct spec_process p = {.oom_score_adj = {true, -1000}};
        struct cx_error *err = NULL;

        if (sec_process_attrs_apply(&p, &err) == 0)
                return 0; /* allowed here (oom_score_adj_min already -1000) */
        return strstr(err->msg, "process.oomScoreAdj") ? 0 : 1;
}

static int child_keyring(void *arg)
{
        struct cx_error *err = NULL;
        char desc[256];
        long n;

        if (sec_new_session_keyring("test-ctr", &err) < 0) {
                printf("#   %s\n", err->msg);
                return 1;
        }
        n = syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, -3 /* @s */, desc, sizeof(desc), 0);
        if (n < 0)
                return 2;
        return strstr(desc, ";_ses.test-ctr") ? 0 : 3;
}

static void test_process_attrs(void)
{
        ok(exited_ok(in_child(child_attrs, NULL)),
           "oom_score_adj 500, ioPriority BE/6, SCHED_BATCH nice 5, no_new_privs");
        ok(exited_ok(in_child(child_oom_lower, NULL)),
           "lowering oom_score_adj works or fails naming process.oomScoreAdj");
        ok(exited_ok(in_child(child_keyring, NULL)), "joins the session keyring _ses.<id>");
}

/* ---- LSM --------------------------------------------------------------------------------- */
static void test_lsm(void)
{
        struct spec_process p = {.apparmor_profile = "capsa-test"};
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_error_ struct cx_error *err2 = NULL;
        struct spec_process none = {0};

        ok(sec_lsm_check(&none, &err2) == 0 && sec_lsm_apply(&none, &err2) == 0,
           "no LSM config: nothing to do");
        if (access("/sys/module/apparmor/parameters/enabled", F_OK) == 0) {
                skip("AppArmor present on this host");
                return;
        }
        ok(sec_lsm_check(&p, &err) < 0, "apparmorProfile without AppArmor is an error");
        is_str(err ? err->msg : NULL,
               "process.apparmorProfile: AppArmor is not enabled on this host",
               "... with a clear message");
}

/* The default tenant profile, loaded in a child: each refused group answers with its errno,
 * ordinary calls (getpid, fork) still work, mount is refused only without a user namespace. */
static int child_default_profile(void *arg)
{
        bool user_ns = arg != NULL;
        struct spec_seccomp *p = sec_default_profile(user_ns);
        struct sec_filter *f = NULL;
        struct cx_error *e = NULL;
        if (sec_seccomp_compile(p, &f, &e) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            sec_seccomp_load(f, NULL, &e) < 0) {
                fprintf(stderr, "# %s\n", e ? e->msg : "?");
                return 1;
        }
        if (syscall(SYS_keyctl, 0, 0, 0, 0, 0) != -1 || errno != EPERM)
                return 2;
        if (syscall(SYS_bpf, 0, NULL, 0) != -1 || errno != EPERM)
                return 3;
        if (syscall(SYS_unshare, CLONE_NEWUSER) != -1 || errno != EPERM)
                return 4;
        if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
                return 5;
        if (syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, 0) != -1 || errno != EPERM)
                return 6;
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        if (pid < 0 || waitpid(pid, NULL, 0) != pid)
                return 7;
        long r = syscall(SYS_mount, "none", "/capsa-no-such-dir", "tmpfs", 0, NULL);
        if (r != -1 || errno != (user_ns ? ENOENT : EPERM))
                return 8;
        if (syscall(SYS_ptrace, 0, 0, 0, 0) != -1 || errno != EPERM)
                return 9;
        return 0;
}

static void test_default_profile(void)
{
        int st = in_child(child_default_profile, NULL);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "default profile refuses what it lists (%d)",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        if (geteuid() != 0) {
                skip("mount in the user-namespace variant needs root to tell ENOENT from EPERM");
                return;
        }
        st = in_child(child_default_profile, (void *)1);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "default profile for a user namespace lets mount through (%d)",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

int main(void)
{
        test_caps_check();
        test_switch_user();
        test_seccomp();
        test_rlimits();
        test_process_attrs();
        test_lsm();
        test_default_profile();
        return tap_done();
}
