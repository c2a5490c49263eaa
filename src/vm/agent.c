/* The agent's boot: capsa as the guest's pid 1 mounts the kernel's filesystems, loads the modules
 * the initramfs lists, finds its virtio-serial port and the shared tree, then serves the host
 * (agent-serve.c).  Anything that fails here is said on the console (the host keeps it in
 * ROOT/ID/console.log) and powers the guest off: the host reports the container stopped. */
#include "vm/vm.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>

static _Noreturn void fail(const char *what)
{
        fprintf(stderr, "capsa-agent: %s: %s\n", what, strerror(errno));
        sync();
        reboot(RB_POWER_OFF);
        _exit(1);
}

/* capsa_trace=1 on the kernel command line: the agent's phases on the console, with the time
 * since boot (for bench/vm.sh's breakdown). */
static void trace(const char *what)
{
        if (!getenv("capsa_trace"))
                return;
        struct timespec t;
        clock_gettime(CLOCK_BOOTTIME, &t);
        fprintf(stderr, "capsa-agent: %ld.%03ld %s\n", (long)t.tv_sec, t.tv_nsec / 1000000, what);
}

static void mount_or_fail(const char *src, const char *dst, const char *type, unsigned long fl,
                          const char *data)
{
        mkdir(dst, 0755);
        if (mount(src, dst, type, fl, data) < 0)
                fail(dst);
}

static bool ends_with_any(const char *path, const char *const *names)
{
        for (; *names; names++) {
                size_t n = strlen(path), m = strlen(*names);
                if (n >= m && strcmp(path + n - m, *names) == 0)
                        return true;
        }
        return false;
}

/* What every guest needs: the virtio transport, the console port, virtio-fs.  The others only
 * when the command line says (capsa_image=1, capsa_net=1): each module costs boot time under
 * TCG. */
static bool wanted_always(const char *path)
{
        static const char *const v[] = {
            "/virtio_ring.ko", "/virtio.ko", "/virtio_mmio.ko", "/virtio_console.ko", "/fuse.ko",
            "/virtiofs.ko",    NULL};
        return ends_with_any(path, v);
}

/* vm.image: the block device and the filesystems capsa mounts from it */
static bool is_image(const char *path)
{
        static const char *const v[] = {
            "/virtio_blk.ko", "/crc32c_generic.ko", "/crc16.ko", "/mbcache.ko",
            "/jbd2.ko",       "/ext4.ko",           NULL};
        return ends_with_any(path, v);
}

/* --net: the NICs on the taps */
static bool is_net(const char *path)
{
        static const char *const v[] = {"/failover.ko", "/net_failover.ko", "/virtio_net.ko", NULL};
        return ends_with_any(path, v);
}

/* The module without its appended signature: checking an RSA signature in software emulation
 * costs tens of milliseconds a module, and the modules come from the host's own package (the
 * initramfs is made from /lib/modules by capsa, not by the guest).  Debian's kernel does not
 * enforce signatures; one that does refuses the module and the guest says so on the console. */
static size_t unsigned_len(const char *m, size_t len)
{
        static const char magic[] = "~Module signature appended~\n";
        size_t ml = sizeof(magic) - 1, info = 12; /* struct module_signature */
        if (len < ml + info || memcmp(m + len - ml, magic, ml) != 0)
                return len;
        const uint8_t *s = (const uint8_t *)m + len - ml - info;
        size_t sig = (size_t)s[8] << 24 | (size_t)s[9] << 16 | (size_t)s[10] << 8 | s[11];
        return sig + ml + info <= len ? len - ml - info - sig : len;
}

static void load_modules(void)
{
        struct utsname u;
        uname(&u);
        FILE *f = fopen(VM_INITRAMFS_MODULES, "re");
        if (!f)
                return; /* a kernel with everything built in */
        char line[512];
        bool image = getenv("capsa_image") != NULL, net = getenv("capsa_net") != NULL;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (!*line ||
                    (!wanted_always(line) && !(image && is_image(line)) && !(net && is_net(line))))
                        continue;
                _cleanup_free_ char *path = xasprintf("/lib/modules/%s/%s", u.release, line);
                _cleanup_free_ char *ko = NULL;
                size_t len = 0;
                if (read_file_at(AT_FDCWD, path, &ko, &len, NULL) < 0 ||
                    (syscall(SYS_init_module, ko, unsigned_len(ko, len), "") < 0 &&
                     errno != EEXIST))
                        fprintf(stderr, "capsa-agent: load %s: %s\n", path, strerror(errno));
        }
        fclose(f);
}

/* /dev/vportNpM whose sysfs name is VM_PORT_NAME; the device shows up once virtio_console has
 * probed the port, so it is waited for (up to 10 s). */
static int open_port(void)
{
        for (int tries = 0; tries < 1000; tries++) {
                DIR *d = opendir("/sys/class/virtio-ports");
                struct dirent *e;
                while (d && (e = readdir(d))) {
                        if (e->d_name[0] == '.')
                                continue;
                        char name[64] = "";
                        _cleanup_free_ char *p =
                            xasprintf("/sys/class/virtio-ports/%s/name", e->d_name);
                        int fd = open(p, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        ssize_t n = read(fd, name, sizeof(name) - 1);
                        close(fd);
                        name[n > 0 ? n : 0] = 0;
                        name[strcspn(name, "\n")] = 0;
                        if (strcmp(name, VM_PORT_NAME) != 0)
                                continue;
                        _cleanup_free_ char *dev = xasprintf("/dev/%s", e->d_name);
                        fd = open(dev, O_RDWR | O_CLOEXEC | O_NONBLOCK);
                        if (fd >= 0) {
                                closedir(d);
                                return fd;
                        }
                }
                if (d)
                        closedir(d);
                usleep(10000);
        }
        errno = ENODEV;
        fail("no virtio-serial port " VM_PORT_NAME);
}

/* Moves what the initramfs holds at from/name into to/name (files are copied, then removed). */
static void move_tree(int from, int to, const char *name)
{
        struct stat st;
        if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                mkdirat(to, name, st.st_mode & 07777);
                int sf = openat(from, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int df = openat(to, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                DIR *d = sf >= 0 ? fdopendir(sf) : NULL;
                struct dirent *e;
                while (d && df >= 0 && (e = readdir(d)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                                move_tree(sf, df, e->d_name);
                if (d)
                        closedir(d);
                if (df >= 0)
                        close(df);
                unlinkat(from, name, AT_REMOVEDIR);
        } else if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t n = readlinkat(from, name, target, sizeof(target) - 1);
                if (n > 0) {
                        target[n] = 0;
                        symlinkat(target, to, name);
                }
                unlinkat(from, name, 0);
        } else if (S_ISREG(st.st_mode)) {
                int in = openat(from, name, O_RDONLY | O_CLOEXEC);
                int out =
                    openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
                char buf[65536];
                ssize_t n;
                while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
                        write_all(out, buf, (size_t)n);
                if (in >= 0)
                        close(in);
                if (out >= 0)
                        close(out);
                unlinkat(from, name, 0);
        }
}

/* The initramfs's root cannot be pivoted away from (pivot_root refuses the rootfs), and the
 * guest capsa pivots into each container's root as on the host: so the agent first moves its
 * files onto a tmpfs, makes that the root and starts again from it. */
static void leave_initramfs(char **argv)
{
        if (strcmp(getenv(VM_AGENT_ENV), "1") != 0)
                return; /* done: this is the second start */
        if (mkdir("/newroot", 0755) < 0 ||
            mount("capsa-root", "/newroot", "tmpfs", 0, "mode=0755") < 0)
                fail("a tmpfs for the guest's root");
        int from = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int to = open("/newroot", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(dup(from));
        struct dirent *e;
        while (d && (e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    strcmp(e->d_name, "newroot"))
                        move_tree(from, to, e->d_name);
        if (d)
                closedir(d);
        close(from);
        close(to);
        if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
            chdir("/") < 0)
                fail("move the guest's root onto a tmpfs");
        setenv(VM_AGENT_ENV, "2", 1);
        execv("/init", argv);
        fail("exec /init");
}

_Noreturn void vm_agent_main(char **argv)
{
        trace("init");
        if (strcmp(getenv(VM_AGENT_ENV), "1") == 0) {
                /* from the initramfs, before leave_initramfs: their files are not copied */
                load_modules();
                trace("modules");
                rm_rf_at(AT_FDCWD, "/lib/modules");
        }
        leave_initramfs(argv);
        trace("tmpfs root");
        mount_or_fail("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount_or_fail("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        mount_or_fail("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        mount_or_fail("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                      "newinstance,ptmxmode=0666,mode=0620");
        unlink("/dev/ptmx");
        symlink("pts/ptmx", "/dev/ptmx");
        mount_or_fail("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
        mount_or_fail("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        mount_or_fail("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
        mount_or_fail("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "nsdelegate");
        int port = open_port();
        trace("port");
        mkdir(VM_GUEST_DIR, 0711); /* a tenant's root (in its user namespace) passes through */
        mount_or_fail(VM_SHARE_TAG, VM_GUEST_SHARE, "virtiofs", 0, NULL);
        trace("share");
        vm_agent_serve(port);
}
