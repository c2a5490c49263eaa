/* The KVM mode's guest assets (src/vm/assets*.c) against this machine's Debian kernel: a cold
 * cache builds the vmlinux and the initramfs, a warm one returns the same files untouched; the
 * archive lists /init, capsa's libraries and loader, the modules and their list, and its /init
 * runs under chroot (as root).  The binary packed is the built capsa (CAPSA_BIN), not this test:
 * a `capsa cni` waiting on its stdin lends its /proc/PID (its exe and its mapped libraries).
 * Bad input: a file that is no kernel, a missing kernel or initrd are errors naming the file that
 * leave the cache as it was. */
#include "vm/assets-internal.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static char dir[64], cache[96], proc[32];
static pid_t capsa_pid;
static int capsa_stdin = -1;

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A capsa process blocked reading stdin, its libraries loaded: its /proc directory. */
static bool start_capsa(void)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return false;
        capsa_pid = fork();
        if (capsa_pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(p[0], STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                setenv("CNI_COMMAND", "VERSION", 1);
                execl(CAPSA_BIN, "capsa", "cni", (char *)NULL);
                _exit(127);
        }
        close(p[0]);
        capsa_stdin = p[1];
        snprintf(proc, sizeof(proc), "/proc/%d", (int)capsa_pid);
        for (int i = 0; i < 500; i++) {
                _cleanup_free_ char *path = xasprintf("%s/wchan", proc), *wchan = NULL;
                if (read_file_at(AT_FDCWD, path, &wchan, NULL, NULL) == 0 &&
                    strstr(wchan, "pipe_read"))
                        return true;
                usleep(10000);
        }
        return false;
}

static void stop_capsa(void)
{
        if (capsa_stdin >= 0)
                close(capsa_stdin); /* end of its input: it prints its versions and exits */
        if (capsa_pid > 0)
                waitpid(capsa_pid, NULL, 0);
}

/* The output of sh -c cmd. */
static char *run(const char *cmd)
{
        FILE *f = popen(cmd, "r");
        if (!f)
                return xstrdup("");
        size_t len = 0, cap = 1 << 16;
        char *buf = xmalloc(cap);
        size_t n;
        while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0)
                if ((len += n) + 1 >= cap)
                        buf = xrealloc(buf, cap *= 2);
        buf[len] = '\0';
        pclose(f);
        return buf;
}

/* The cache directory's names, sorted, one per line. */
static char *listing(void)
{
        _cleanup_free_ char *cmd = xasprintf("ls -A %s 2>/dev/null", cache);
        return run(cmd);
}

static uint64_t size_of(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void test_build_and_reuse(void)
{
        struct vm_assets a = {0}, b = {0};
        struct cx_error *e = NULL;
        double t0 = now_ms();
        int r = vm_assets_get_for(proc, NULL, NULL, &a, &e);
        double cold = now_ms() - t0;
        ok(r == 0, "a cold cache is built%s%s", e ? ": " : "", e ? e->msg : "");
        cx_error_freep(&e);
        if (r < 0)
                return;
        ok(str_has_prefix(a.kernel, cache) && str_has_prefix(a.initrd, cache),
           "kernel %s and initrd %s are in the cache", a.kernel, a.initrd);
        ok(a.kver != NULL, "the release is known (%s)", a.kver ? a.kver : "-");
        _cleanup_close_ int kfd = open(a.kernel, O_RDONLY | O_CLOEXEC);
        ok(vm_elf_is(kfd) && vm_elf_has_pvh(kfd), "the kernel is an ELF with a PVH entry note");
        struct stat k1, i1, k2, i2;
        stat(a.kernel, &k1);
        stat(a.initrd, &i1);
        t0 = now_ms();
        r = vm_assets_get_for(proc, NULL, NULL, &b, &e);
        double warm = now_ms() - t0;
        ok(r == 0 && strcmp(a.kernel, b.kernel) == 0 && strcmp(a.initrd, b.initrd) == 0,
           "a warm call returns the same files");
        cx_error_freep(&e);
        stat(a.kernel, &k2);
        stat(a.initrd, &i2);
        ok(k1.st_ino == k2.st_ino && k1.st_mtim.tv_nsec == k2.st_mtim.tv_nsec &&
               k1.st_mtim.tv_sec == k2.st_mtim.tv_sec && i1.st_ino == i2.st_ino &&
               i1.st_mtim.tv_sec == i2.st_mtim.tv_sec && i1.st_mtim.tv_nsec == i2.st_mtim.tv_nsec,
           "and does not rebuild them");
        printf("# cold %.0f ms, warm %.2f ms; kernel %.1f MiB, initramfs %.1f MiB\n", cold, warm,
               size_of(a.kernel) / 1048576.0, size_of(a.initrd) / 1048576.0);

        _cleanup_free_ char *cmd = xasprintf("cpio -t --quiet < %s", a.initrd);
        _cleanup_free_ char *names = run(cmd);
        ok(str_has_prefix(names, "init\n"), "/init comes first");
        contains(names, "/libc.so.6\n", "libc");
        contains(names, "/libmnl.so.0\n", "libmnl under its soname");
        contains(names, "\nlib64\n", "the loader at capsa's PT_INTERP: /lib64 (a symlink here)");
        contains(names, "/ld-linux-x86-64.so.2\n", "the loader");
        contains(names, "/virtio_mmio.ko\n", "virtio_mmio");
        contains(names, "/ext4.ko\n", "ext4");
        contains(names, "\ncapsa/modules\n", "the module list");
        contains(names, "\ntmp\n", "the empty directories");
        free(cmd);
        cmd = xasprintf("cpio -i --quiet --to-stdout capsa/modules < %s", a.initrd);
        _cleanup_free_ char *list = run(cmd);
        const char *virtio = strstr(list, "virtio/virtio.ko\n"), *mmio = strstr(list, "mmio.ko\n");
        const char *jbd2 = strstr(list, "jbd2.ko\n"), *ext4 = strstr(list, "ext4.ko\n");
        ok(virtio && mmio && virtio < mmio && jbd2 && ext4 && jbd2 < ext4,
           "the list puts dependencies first");

        if (geteuid() == 0) {
                _cleanup_free_ char *root = xasprintf("%s/root", dir);
                free(cmd);
                /* with /proc, in a mount namespace of its own: a sanitizer build's runtime
                 * reads /proc/self/maps before main */
                cmd = xasprintf("mkdir %s && cd %s && cpio -idm --quiet < %s && "
                                "unshare -m --propagation private sh -c "
                                "'mount -t proc proc %s/proc && chroot %s /init --version' 2>&1",
                                root, root, a.initrd, root, root);
                _cleanup_free_ char *out = run(cmd);
                contains(out, "capsa", "the extracted archive's /init --version runs in chroot");
        } else
                ok(1, "# SKIP chroot needs root");
        vm_assets_clear(&a);
        vm_assets_clear(&b);
}

/* Each call fails naming the file and leaves the cache as it was. */
static void test_bad_input(void)
{
        _cleanup_free_ char *text = xasprintf("%s/not-a-kernel", dir);
        _cleanup_free_ char *missing = xasprintf("%s/no-such-file", dir);
        int fd = open(text, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, "hello\n", 6) != 6)
                abort();
        close(fd);
        struct {
                const char *what, *kernel, *initrd, *named, *says;
        } cases[] = {
            {"a text file as the kernel", text, NULL, text, "not a Linux kernel"},
            {"capsa (an ELF) as the kernel", CAPSA_BIN, NULL, CAPSA_BIN, "PVH"},
            {"a missing kernel", missing, NULL, missing, "No such file"},
            {"a missing initrd", NULL, missing, missing, "No such file"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *before = listing();
                struct vm_assets a = {0};
                struct cx_error *e = NULL;
                int r = vm_assets_get_for(proc, cases[i].kernel, cases[i].initrd, &a, &e);
                ok(r < 0 && e, "%s is an error", cases[i].what);
                contains(e ? e->msg : NULL, cases[i].named, "naming the file");
                contains(e ? e->msg : NULL, cases[i].says, "saying what is wrong");
                cx_error_freep(&e);
                _cleanup_free_ char *after = listing();
                is_str(after, before, "the cache is as it was");
        }
}

/* The user's initrd, then capsa's archive on a 4-byte boundary; a new initrd replaces the entry. */
static void test_user_initrd(void)
{
        _cleanup_free_ char *user = xasprintf("%s/user.cpio", dir);
        _cleanup_free_ char *cmd =
            xasprintf("cd %s && echo hi > hello && echo hello | cpio -o -H newc --quiet > %s && "
                      "printf x >> %s",
                      dir, user, user);
        free(run(cmd));
        struct vm_assets a = {0}, b = {0}, c = {0};
        struct cx_error *e = NULL;
        int r = vm_assets_get_for(proc, NULL, user, &a, &e);
        ok(r == 0, "a user's initrd%s%s", e ? ": " : "", e ? e->msg : "");
        cx_error_freep(&e);
        if (r < 0)
                return;
        uint64_t usize = size_of(user), total = size_of(a.initrd);
        r = vm_assets_get_for(proc, NULL, NULL, &b, &e);
        cx_error_freep(&e);
        uint64_t osize = r == 0 ? size_of(b.initrd) : 0;
        ok(total == ((usize + 3) & ~3ULL) + osize,
           "is followed by capsa's archive at a 4-byte boundary (%lu = %lu + pad + %lu)",
           (unsigned long)total, (unsigned long)usize, (unsigned long)osize);
        free(cmd);
        cmd = xasprintf("cmp -s -i %lu:0 %s %s && echo same", (unsigned long)((usize + 3) & ~3ULL),
                        a.initrd, b.initrd);
        _cleanup_free_ char *same = run(cmd);
        is_str(same, "same\n", "byte for byte");
        free(cmd);
        cmd = xasprintf("printf yy >> %s", user);
        free(run(cmd));
        r = vm_assets_get_for(proc, NULL, user, &c, &e);
        cx_error_freep(&e);
        ok(r == 0 && strcmp(c.initrd, a.initrd) != 0 && access(a.initrd, F_OK) < 0,
           "a changed initrd makes a new entry and removes the old one");
        vm_assets_clear(&a);
        vm_assets_clear(&b);
        vm_assets_clear(&c);
}

/* Kernels the user names: Debian's bzImage is extracted too (its own kind of entry); an ELF is
 * booted as it is, its release read from its banner. */
static void test_given_kernels(void)
{
        struct vm_assets a = {0}, b = {0};
        struct cx_error *e = NULL;
        struct vm_kernel k;
        if (vm_kernel_open(NULL, &k, &e) < 0) {
                ok(0, "the default kernel: %s", e->msg);
                cx_error_freep(&e);
                return;
        }
        int r = vm_assets_get_for(proc, k.path, NULL, &a, &e);
        ok(r == 0 && str_has_prefix(a.kernel, cache) && a.kver && strcmp(a.kver, k.release) == 0,
           "a bzImage named by path is extracted, release %s", a.kver ? a.kver : "-");
        cx_error_freep(&e);
        if (r == 0) {
                double t0 = now_ms();
                r = vm_assets_get_for(proc, a.kernel, NULL, &b, &e);
                double ms = now_ms() - t0;
                ok(r == 0 && strcmp(b.kernel, a.kernel) == 0 && b.kver &&
                       strcmp(b.kver, k.release) == 0,
                   "an ELF named by path is booted as it is, release %s from its banner (%.1f ms)",
                   b.kver ? b.kver : "-", ms);
                cx_error_freep(&e);
        }
        vm_kernel_done(&k);
        vm_assets_clear(&a);
        vm_assets_clear(&b);
}

int main(void)
{
        snprintf(dir, sizeof(dir), "/tmp/capsa-vm-assets-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        snprintf(cache, sizeof(cache), "%s/cache", dir);
        setenv("CAPSA_VM_CACHE", cache, 1);
        struct vm_kernel k;
        struct cx_error *e = NULL;
        if (vm_kernel_open(NULL, &k, &e) < 0) {
                printf("1..0 # SKIP %s\n", e->msg);
                cx_error_freep(&e);
                rmdir(dir);
                return 0;
        }
        vm_kernel_done(&k);
        ok(start_capsa(), "a capsa to pack (%s)", CAPSA_BIN);
        test_build_and_reuse();
        test_bad_input();
        test_user_initrd();
        test_given_kernels();
        stop_capsa();
        _cleanup_free_ char *cmd = xasprintf("rm -rf %s", dir);
        free(run(cmd));
        return tap_done();
}
