/* Unit tests for src/namespaces: mount options, sysctl validation, in-root resolution, and (as
 * root) a whole rootfs set up in fresh mount/pid/uts/ipc namespaces and checked from inside. */
#include "container/internal.h"
#include "namespaces/ns-internal.h"
#include "tap.h"

#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#define TMPFS_MAGIC_ 0x01021994

static void test_mount_opts(void)
{
        struct ns_mount_opts o;

        ns_mount_opts_parse((char *[]){"nosuid", "nodev", "ro", NULL}, &o, NULL);
        ok(o.flags == (MS_NOSUID | MS_NODEV | MS_RDONLY) && !o.bind && !o.data, "opts: flags");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"ro", "rw", "suid", NULL}, &o, NULL);
        ok(o.flags == 0 && o.clear_flags == (MS_RDONLY | MS_NOSUID), "opts: clear flags");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"rprivate", NULL}, &o, NULL);
        ok(o.propagation == (MS_PRIVATE | MS_REC) && o.flags == 0, "opts: rprivate");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"shared", "slave", NULL}, &o, NULL);
        ok(o.propagation == MS_SLAVE, "opts: last propagation wins");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"mode=755", "nosuid", "size=64k", NULL}, &o, NULL);
        is_str(o.data, "mode=755,size=64k", "opts: data joined");
        ok(o.flags == MS_NOSUID, "opts: data does not leak into flags");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"rbind", "ro", NULL}, &o, NULL);
        ok(o.bind && o.recursive && o.flags == (MS_BIND | MS_REC | MS_RDONLY), "opts: rbind");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"bind", NULL}, &o, NULL);
        ok(o.bind && !o.recursive && o.flags == MS_BIND, "opts: bind");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"rro", "rnoatime", "rexec", NULL}, &o, NULL);
        ok(o.attr_set == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOATIME) &&
               o.attr_clr == (MOUNT_ATTR__ATIME | MOUNT_ATTR_NOEXEC),
           "opts: recursive attributes");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse((char *[]){"ridmap", "tmpcopyup", NULL}, &o, NULL);
        ok(o.idmap && o.tmpcopyup && !o.data, "opts: idmap, tmpcopyup");
        ns_mount_opts_clear(&o);

        ns_mount_opts_parse(NULL, &o, NULL);
        ok(o.flags == 0 && !o.data && !o.bind, "opts: none");
        ns_mount_opts_clear(&o);
}

static int sysctl_check(const char *name, unsigned ns_mask, const char *net_path, char **msg)
{
        struct spec s = {0};
        struct spec_kv kv = {.key = (char *)name, .value = (char *)"1"};
        struct cx_error *err = NULL;

        s.linux_.sysctl = &kv;
        s.linux_.n_sysctl = 1;
        for (int t = 0; t < SPEC_NS_MAX; t++)
                s.linux_.ns[t].present = ns_mask & (1u << t);
        s.linux_.ns[SPEC_NS_NETWORK].path = (char *)net_path;
        struct ns_config v = container_ns_config(&s);
        int r = ns_sysctl_validate(&v, &err);
        *msg = err ? xstrdup(err->msg) : NULL;
        cx_error_free(err);
        return r;
}

static void test_sysctl(void)
{
        const unsigned ipc = 1u << SPEC_NS_IPC, net = 1u << SPEC_NS_NETWORK,
                       uts = 1u << SPEC_NS_UTS;
        char *m = NULL;

        ok(sysctl_check("kernel.shmmax", ipc, NULL, &m) == 0, "sysctl: kernel.shmmax with ipc");
        free(m);
        ok(sysctl_check("fs.mqueue.queues_max", ipc, NULL, &m) == 0, "sysctl: fs.mqueue.*");
        free(m);
        ok(sysctl_check("kernel.msgmax", net, NULL, &m) < 0, "sysctl: ipc one needs ipc ns");
        contains(m, "IPC namespace", "sysctl: ipc error message");
        free(m);
        ok(sysctl_check("net.ipv4.ip_forward", net, NULL, &m) == 0, "sysctl: net.* with new netns");
        free(m);
        ok(sysctl_check("net.ipv4.ip_forward", ipc, NULL, &m) < 0, "sysctl: net.* without netns");
        contains(m, "network namespace", "sysctl: net error message");
        free(m);
        ok(sysctl_check("net.ipv4.ip_forward", net, "/proc/self/ns/net", &m) < 0,
           "sysctl: net.* in the host's netns joined by path");
        free(m);
        ok(sysctl_check("kernel.hostname", uts, NULL, &m) < 0,
           "sysctl: hostname refused even with uts (as runc: the hostname field)");
        contains(m, "hostname", "sysctl: hostname error names the field");
        free(m);
        ok(sysctl_check("kernel.domainname", uts, NULL, &m) == 0, "sysctl: domainname with uts");
        free(m);
        ok(sysctl_check("kernel.domainname", ipc, NULL, &m) < 0, "sysctl: domainname without uts");
        free(m);
        ok(sysctl_check("vm.swappiness", ipc | net | uts, NULL, &m) < 0, "sysctl: vm.* refused");
        is_str(m, "linux.sysctl: \"vm.swappiness\" is not in a separate kernel namespace",
               "sysctl: message");
        free(m);
        ok(sysctl_check("net/../../x", net, NULL, &m) < 0, "sysctl: slash refused");
        contains(m, "not a valid sysctl name", "sysctl: invalid name message");
        free(m);
        ok(sysctl_check("net..ipv4", net, NULL, &m) < 0, "sysctl: empty component refused");
        free(m);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
        return remove(p) < 0 ? -1 : 0;
}

static void rm_tree(const char *dir)
{
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Whether dir + suffix exists (not following a final symlink). */
static bool exists(const char *dir, const char *suffix)
{
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s%s", dir, suffix);
        return lstat(p, &st) == 0;
}

static void test_resolve(void)
{
        char tmp[] = "/tmp/capsa-ns-resolve-XXXXXX";
        if (!mkdtemp(tmp)) {
                ok(0, "resolve: mkdtemp");
                return;
        }
        char p[512];
        snprintf(p, sizeof(p), "%s/evil", tmp);
        symlink("/../../../etc", p);
        int root = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC), fd = -1;
        struct cx_error *err = NULL;

        int r = ns_resolve_in_root(root, "/evil/capsa-x/y", NS_CREATE_DIR, &fd, &err);
        ok(r == 0 && exists(tmp, "/etc/capsa-x/y"), "resolve: absolute symlink stays inside");
        ok(!exists("/etc/capsa-x", ""), "resolve: nothing created on the host");
        if (fd >= 0)
                close(fd);
        fd = -1;
        r = ns_resolve_in_root(root, "a/../../../b/file", NS_CREATE_FILE, &fd, &err);
        struct stat st;
        ok(r == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && exists(tmp, "/b/file"),
           "resolve: .. clamped at the root, file created");
        if (fd >= 0)
                close(fd);
        r = ns_resolve_in_root(root, "missing/x", NS_CREATE_NONE, &fd, &err);
        ok(r == -ENOENT && err && strstr(err->msg, "missing/x"), "resolve: missing path error");
        cx_error_free(err);
        close(root);
        rm_tree(tmp);
}

/* ---- as root: a whole rootfs --------------------------------------------------------- */
static int report_fd = -1;

#define CHECK(cond, ...)                                                                           \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        dprintf(report_fd, __VA_ARGS__);                                           \
                        dprintf(report_fd, " (errno %d)\n", errno);                                \
                        failed++;                                                                  \
                }                                                                                  \
        } while (0)

static int read_small(const char *path, char *buf, size_t n)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t r = read(fd, buf, n - 1);
        close(fd);
        buf[r < 0 ? 0 : r] = '\0';
        return (int)r;
}

static int inside_checks(void)
{
        int failed = 0;
        struct stat st;
        char buf[64];

        CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
                  minor(st.st_rdev) == 3,
              "/dev/null is not char 1:3");
        CHECK(readlink("/dev/ptmx", buf, sizeof(buf)) == 8 && !strncmp(buf, "pts/ptmx", 8),
              "/dev/ptmx is not -> pts/ptmx");
        CHECK(stat("/dev/pts/ptmx", &st) == 0, "/dev/pts/ptmx missing");
        CHECK(readlink("/dev/fd", buf, sizeof(buf)) == 13, "/dev/fd is not -> /proc/self/fd");
        CHECK(open("/data/file", O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS,
              "bind mount /data/file is writable");
        CHECK(read_small("/data/file", buf, sizeof(buf)) == 5 && !strcmp(buf, "hello"),
              "/data/file content: '%s'", buf);
        CHECK(open("/newfile", O_CREAT | O_WRONLY | O_CLOEXEC, 0644) < 0 && errno == EROFS,
              "/ is writable");
        /* some kernels (this CI's) have no /proc/kcore: then it is skipped */
        CHECK(access("/proc/kcore", F_OK) < 0 || read_small("/proc/kcore", buf, sizeof(buf)) == 0,
              "/proc/kcore not masked");
        CHECK(read_small("/proc/timer_list", buf, sizeof(buf)) == 0, "/proc/timer_list not masked");
        struct statfs af;
        CHECK(statfs("/proc/acpi", &af) == 0 && af.f_type == TMPFS_MAGIC_ &&
                  (af.f_flags & ST_RDONLY),
              "/proc/acpi (a directory) not masked by a read-only tmpfs");
        CHECK(open("/proc/sys/kernel/shmmni", O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS,
              "/proc/sys is writable");
        CHECK(read_small("/proc/sys/kernel/shmmni", buf, sizeof(buf)) > 0 && !strcmp(buf, "2048\n"),
              "sysctl kernel.shmmni not applied: '%s'", buf);
        struct statfs sf;
        CHECK(statfs("/etc/capsa-marker", &sf) == 0 && sf.f_type == TMPFS_MAGIC_,
              "the mount through the symlink is not at /etc/capsa-marker");
        struct statvfs sv;
        CHECK(statvfs("/tmp", &sv) == 0 && sv.f_blocks * sv.f_frsize == 1024 * 1024,
              "/tmp is not a 1M tmpfs");
        int fd = open("/tmp/x", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        CHECK(fd >= 0, "/tmp is not writable");
        if (fd >= 0)
                close(fd);
        CHECK(gethostname(buf, sizeof(buf)) == 0 && !strcmp(buf, "capsa-test"), "hostname '%s'",
              buf);
        CHECK(getpid() == 1, "not pid 1");
        CHECK(statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == TMPFS_MAGIC_ &&
                  (sf.f_flags & ST_RDONLY),
              "/sys/fs/cgroup is not a read-only tmpfs");
        CHECK(access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0 &&
                  access("/sys/fs/cgroup/unified/cgroup.procs", F_OK) == 0,
              "cgroup hierarchies not bound");
        CHECK(open("/sys/fs/cgroup/memory/memory.limit_in_bytes", O_WRONLY | O_CLOEXEC) < 0 &&
                  errno == EROFS,
              "cgroup hierarchy is writable");
        CHECK(mkdir("/sys/fs/cgroup/unified/x", 0755) < 0 && errno == EROFS,
              "cgroup2 hierarchy is writable");
        return failed;
}

static struct spec_mount test_mounts[] = {
    {.destination = "/proc",
     .type = "proc",
     .source = "proc",
     .options = (char *[]){"nosuid", "noexec", "nodev", NULL}},
    {.destination = "/dev",
     .type = "tmpfs",
     .source = "tmpfs",
     .options = (char *[]){"nosuid", "strictatime", "mode=755", "size=65536k", NULL}},
    {.destination = "/dev/pts",
     .type = "devpts",
     .source = "devpts",
     .options = (char *[]){"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
                           NULL}},
    {.destination = "/data/file",
     .type = "bind",
     .source = NULL /* set at run time */,
     .options = (char *[]){"bind", "ro", NULL}},
    {.destination = "/tmp",
     .type = "tmpfs",
     .source = "tmpfs",
     .options = (char *[]){"nosuid", "nodev", "size=1m", "mode=1777", NULL}},
    {.destination = "/evil/capsa-marker",
     .type = "tmpfs",
     .source = "tmpfs",
     .options = (char *[]){"size=64k", NULL}},
    {.destination = "/dev/mqueue",
     .type = "mqueue",
     .source = "mqueue",
     .options = (char *[]){"nosuid", "noexec", "nodev", NULL}},
    {.destination = "/sys",
     .type = "sysfs",
     .source = "sysfs",
     .options = (char *[]){"nosuid", "noexec", "nodev", NULL}},
    {.destination = "/sys/fs/cgroup",
     .type = "cgroup",
     .source = "cgroup",
     .options = (char *[]){"nosuid", "noexec", "nodev", "relatime", "ro", NULL}},
};

/* The test's own memory and unified cgroups, bound read-only (no cgroup namespace). */
static struct ns_cgroup_mount test_cgroups[2];
static char *test_cgroup_dirs[2];

static void fill_cgroups(void)
{
        char line[512], mem[512] = "/", uni[512] = "/";
        FILE *f = fopen("/proc/self/cgroup", "re");
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = '\0';
                if (strstr(line, ":memory:"))
                        snprintf(mem, sizeof(mem), "%s", strstr(line, ":memory:") + 8);
                else if (strncmp(line, "0::", 3) == 0)
                        snprintf(uni, sizeof(uni), "%s", line + 3);
        }
        if (f)
                fclose(f);
        test_cgroup_dirs[0] = xasprintf("/sys/fs/cgroup/memory%s", mem);
        test_cgroup_dirs[1] = xasprintf("/sys/fs/cgroup/unified%s", uni);
        test_cgroups[0] =
            (struct ns_cgroup_mount){"memory", "cgroup", "memory", test_cgroup_dirs[0]};
        test_cgroups[1] = (struct ns_cgroup_mount){"unified", "cgroup2", "", test_cgroup_dirs[1]};
}

static void fill_spec(struct spec *s, char *rootfs, char *hostfile)
{
        static struct spec_kv sysctl = {.key = "kernel.shmmni", .value = "2048"};
        static char *masked[] = {"/proc/kcore", "/proc/timer_list", "/proc/acpi",
                                 "/proc/nonexistent", NULL};
        static char *readonly[] = {"/proc/sys", "/nonexistent", NULL};

        *s = (struct spec){0};
        s->root.path = rootfs;
        s->root.readonly = true;
        s->hostname = "capsa-test";
        test_mounts[3].source = hostfile;
        s->mounts = test_mounts;
        s->n_mounts = ARRAY_SIZE(test_mounts);
        s->linux_.masked_paths = masked;
        s->linux_.readonly_paths = readonly;
        s->linux_.sysctl = &sysctl;
        s->linux_.n_sysctl = 1;
        for (int t = 0; t < SPEC_NS_MAX; t++)
                s->linux_.ns[t].present =
                    t == SPEC_NS_PID || t == SPEC_NS_MOUNT || t == SPEC_NS_UTS || t == SPEC_NS_IPC;
}

static bool test_no_pivot;

static int grandchild(const struct spec *s)
{
        struct ns_mount_plan mp = {0};
        struct ns_rootfs_opts o = {
            .no_pivot = test_no_pivot,
            .cgroups = test_cgroups,
            .n_cgroups = ARRAY_SIZE(test_cgroups),
            .mounts = &mp,
        };
        struct cx_error *err = NULL;

        struct ns_config v = container_ns_config(s);
        if (ns_mounts_plan(&v, &mp, &err) < 0 || ns_rootfs_setup(&v, &o, &err) < 0 ||
            ns_set_hostname(&v, &err) < 0) {
                dprintf(report_fd, "setup: %s\n", err ? err->msg : "?");
                return 2;
        }
        if (inside_checks() != 0)
                return 1;
        /* the rootfs's own binary runs */
        execl("/bin/busybox", "busybox", "true", (char *)NULL);
        dprintf(report_fd, "exec /bin/busybox: errno %d\n", errno);
        return 3;
}

static int run_in_namespaces(int flags, int (*fn)(const void *), const void *arg)
{
        if (unshare(flags) < 0)
                return 10;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
                _exit(fn(arg));
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                return 11;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int grandchild_cb(const void *arg)
{
        return grandchild(arg);
}

/* Forks a child that runs fn in new namespaces; returns its exit status, and what it
 * reported in *msg. */
static int fork_child(int flags, int (*fn)(const void *), const void *arg, char *msg, size_t n)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
                close(p[0]);
                report_fd = p[1];
                _exit(run_in_namespaces(flags, fn, arg));
        }
        close(p[1]);
        size_t len = 0;
        ssize_t r;
        while (len + 1 < n && (r = read(p[0], msg + len, n - 1 - len)) > 0)
                len += (size_t)r;
        msg[len] = '\0';
        close(p[0]);
        int st;
        waitpid(pid, &st, 0);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
        int in = open(from, O_RDONLY | O_CLOEXEC);
        int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        char buf[65536];
        ssize_t n;
        int r = in >= 0 && out >= 0 ? 0 : -1;
        while (r == 0 && (n = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, (size_t)n) != n)
                        r = -1;
        if (in >= 0)
                close(in);
        if (out >= 0)
                close(out);
        return r;
}

static bool mountinfo_mentions(const char *dir)
{
        char *mi = NULL;
        size_t len;
        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return false;
        bool found = false;
        ssize_t r;
        while ((r = getline(&mi, &len, f)) > 0)
                if (strstr(mi, dir))
                        found = true;
        free(mi);
        fclose(f);
        return found;
}

/* Error paths: a missing bind source and an idmap mount. */
static int error_child(const void *arg)
{
        const char *rootfs = arg;
        struct spec_mount missing = {.destination = "/x",
                                     .type = "bind",
                                     .source = "/nonexistent-capsa-src",
                                     .options = (char *[]){"rbind", NULL}};
        struct spec_mount idmap = {.destination = "/x",
                                   .type = "bind",
                                   .source = "/tmp",
                                   .options = (char *[]){"rbind", "idmap", NULL}};
        struct spec s = {.root.path = (char *)rootfs, .n_mounts = 1};
        struct ns_mount_plan mp = {0};
        struct ns_rootfs_opts o = {.mounts = &mp};
        struct cx_error *err = NULL;

        s.mounts = &missing;
        struct ns_config v = container_ns_config(&s);
        if (ns_mounts_plan(&v, &mp, &err) < 0 || ns_rootfs_setup(&v, &o, &err) == 0)
                return 1;
        dprintf(report_fd, "%s\n", err->msg);
        cx_error_free(err);
        err = NULL;
        ns_mount_plan_clear(&mp);
        s.mounts = &idmap;
        v = container_ns_config(&s);
        if (ns_mounts_plan(&v, &mp, &err) < 0 || ns_rootfs_setup(&v, &o, &err) == 0)
                return 1;
        dprintf(report_fd, "%s\n", err->msg);
        cx_error_free(err);
        return 0;
}

static void test_rootfs(void)
{
        if (geteuid() != 0 || access("/bin/busybox", X_OK) < 0) {
                printf("ok %d - # SKIP rootfs: needs root and busybox-static\n", ++tap_n);
                return;
        }
        char tmp[] = "/tmp/capsa-ns-XXXXXX";
        if (!mkdtemp(tmp)) {
                ok(0, "rootfs: mkdtemp");
                return;
        }
        char rootfs[256], hostfile[256], p[512];
        snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
        snprintf(hostfile, sizeof(hostfile), "%s/hostfile", tmp);
        const char *dirs[] = {"", "/bin", "/proc", "/dev", "/etc", "/tmp"};
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                snprintf(p, sizeof(p), "%s%s", rootfs, dirs[i]);
                mkdir(p, 0755);
        }
        snprintf(p, sizeof(p), "%s/bin/busybox", rootfs);
        ok(copy_file("/bin/busybox", p, 0755) == 0, "rootfs: busybox copied");
        snprintf(p, sizeof(p), "%s/evil", rootfs);
        symlink("/../../../etc", p);
        int fd = open(hostfile, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void)!write(fd, "hello", 5);
                close(fd);
        }

        struct spec s;
        fill_spec(&s, rootfs, hostfile);
        fill_cgroups();
        char msg[4096];
        int st = fork_child(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC, grandchild_cb,
                            &s, msg, sizeof(msg));
        ok(st == 0, "rootfs: set up and checked from inside (exit %d)", st);
        if (msg[0])
                printf("# %s", msg);
        test_no_pivot = true;
        st = fork_child(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC, grandchild_cb, &s,
                        msg, sizeof(msg));
        ok(st == 0, "rootfs: the same with --no-pivot (exit %d)", st);
        if (msg[0])
                printf("# %s", msg);
        ok(exists(rootfs, "/etc/capsa-marker"), "rootfs: mount through symlink created inside");
        ok(!exists("/etc/capsa-marker", ""), "rootfs: nothing created on the host's /etc");

        st = fork_child(CLONE_NEWNS, error_child, rootfs, msg, sizeof(msg));
        ok(st == 0, "rootfs: error cases fail");
        contains(msg, "mount `/nonexistent-capsa-src` to rootfs at `/x`", "error: names the mount");
        contains(msg, "open source `/nonexistent-capsa-src`: No such file", "error: names source");
        contains(msg, "mounts[0]: idmapped, but the runtime prepared no idmapped clone",
                 "error: idmap without the parent's clone");

        ok(!mountinfo_mentions(tmp), "rootfs: no mount left on the host");
        for (size_t i = 0; i < ARRAY_SIZE(test_cgroup_dirs); i++)
                free(test_cgroup_dirs[i]);
        rm_tree(tmp);
        ok(access(tmp, F_OK) < 0, "rootfs: temp dir removed");
}

static void test_join(void)
{
        struct spec_linux l = {0};
        struct cx_error *err = NULL;
        int fds[SPEC_NS_MAX];

        l.ns[SPEC_NS_MOUNT] = (struct spec_namespace){.present = true, .path = "/proc/self/ns/net"};
        ok(ns_open_paths(&l, fds, &err) < 0, "join: wrong namespace type refused");
        is_str(err ? err->msg : NULL,
               "linux.namespaces[mount].path: /proc/self/ns/net is not a mount namespace",
               "join: message names the path and the type");
        cx_error_free(err);
        err = NULL;
        ok(fds[SPEC_NS_MOUNT] == -1, "join: no fd left open on failure");

        l.ns[SPEC_NS_MOUNT].path = NULL;
        l.ns[SPEC_NS_NETWORK] =
            (struct spec_namespace){.present = true, .path = "/proc/self/ns/net"};
        ok(ns_open_paths(&l, fds, &err) == 0 && fds[SPEC_NS_NETWORK] >= 0 &&
               fds[SPEC_NS_MOUNT] == -1,
           "join: matching namespace opened");
        if (geteuid() == 0)
                ok(ns_join(fds, &err) == 0 && fds[SPEC_NS_NETWORK] == -1,
                   "join: setns into our own netns, fds closed");
        else
                close(fds[SPEC_NS_NETWORK]);
        cx_error_free(err);
        ok(ns_write_id_maps(getpid(), &l, NULL) == 0, "idmap: nothing to do without a new userns");
}

int main(void)
{
        test_mount_opts();
        test_sysctl();
        test_resolve();
        test_join();
        test_rootfs();
        return tap_done();
}
