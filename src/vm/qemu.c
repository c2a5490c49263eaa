/* QEMU and virtiofsd for a VM container.  Both run in the container's host cgroup (so its limits
 * hold on the host too), die with the monitor (PR_SET_PDEATHSIG), and log to ROOT/ID/vm.log. */
#include "vm/vm.h"
#include "cgroups/cgroups.h"
#include "namespaces/namespaces.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

/* The child's start: the host cgroup, death with the monitor, stderr into vm.log.  Errors go to
 * err_fd (a pipe the monitor reads) and end the child. */
static void child_setup(const struct vm_boot *b, int err_fd)
{
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        struct cx_error *e = NULL;
        if (b->join && cg_join_self(b->join, &e) < 0) {
                dprintf(err_fd, "%s", e->msg);
                _exit(1);
        }
        int log = open(VM_LOG, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (log >= 0) {
                dup2(log, STDERR_FILENO);
                close(log);
        }
        int null = open("/dev/null", O_RDWR);
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
}

static _Noreturn void child_fail(int err_fd, const char *what, const char *path)
{
        dprintf(err_fd, "%s `%s`: %s", what, path, strerror(errno));
        _exit(1);
}

struct child {
        const struct vm_boot *b;
        void (*fn)(const struct vm_boot *b, int err_fd);
};

static void child_main(void *arg, int err_fd)
{
        const struct child *c = arg;
        child_setup(c->b, err_fd);
        c->fn(c->b, err_fd);
}

/* The child runs fn, which execs; its pid once it did, or the error it wrote. */
static pid_t spawn(const struct vm_boot *b, void (*fn)(const struct vm_boot *, int),
                   const char *what, struct cx_error **err)
{
        struct child c = {.b = b, .fn = fn};
        _cleanup_free_ char *w = xasprintf("start %s", what);
        return vm_fork_ready(child_main, &c, w, err);
}

/* fd as the child's fd 3, inherited by the execve (dup2 onto itself keeps O_CLOEXEC). */
static void move_to_3(int fd)
{
        if (fd == 3)
                fcntl(3, F_SETFD, 0);
        else
                dup2(fd, 3);
}

static int listen_unix(const char *name)
{
        unlink(name);
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", name);
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0) {
                int e = errno;
                if (s >= 0)
                        close(s);
                errno = e;
                return -1;
        }
        return s;
}

/* The share: DIR/share, a tmpfs private to this mount namespace, with rootfs and b0, b1, ...
 * bound in (the rootfs read-only when root.readonly says so). */
static void virtiofsd_child(const struct vm_boot *b, int err_fd)
{
        _cleanup_free_ char *share = xasprintf("%s/share", b->dir);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(err_fd, "a mount namespace for", "virtiofsd");
        mkdir(share, 0700);
        if (mount("capsa-vm", share, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
                child_fail(err_fd, "mount a tmpfs on", share);
        _cleanup_free_ char *root = xasprintf("%s/rootfs", share);
        mkdir(root, 0755);
        if (mount(b->rootfs, root, NULL, MS_BIND | MS_REC, NULL) < 0)
                child_fail(err_fd, "share the rootfs", b->rootfs);
        /* a read-only root cannot take the guest's mount points: they are made here first, as
         * the native launcher makes them on the host */
        struct cx_error *e = NULL;
        if (b->readonly && ns_mount_targets_make(root, b->mounts, b->n_mounts, false, &e) < 0)
                cx_error_freep(&e); /* the guest's capsa says what it misses */
        if (b->readonly && mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                child_fail(err_fd, "make the shared rootfs read-only:", b->rootfs);
        for (size_t i = 0; b->binds && b->binds[i]; i++) {
                _cleanup_free_ char *dst = xasprintf("%s/b%zu", share, i);
                struct stat st;
                if (stat(b->binds[i], &st) < 0)
                        child_fail(err_fd, "bind mount source", b->binds[i]);
                if (S_ISDIR(st.st_mode))
                        mkdir(dst, 0755);
                else
                        close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
                if (mount(b->binds[i], dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                        child_fail(err_fd, "share the bind mount source", b->binds[i]);
        }
        int s = listen_unix("fs.sock");
        if (s < 0)
                child_fail(err_fd, "listen on", "fs.sock");
        move_to_3(s);
        _cleanup_free_ char *src = xasprintf("source=%s", share);
        char *argv[] = {"virtiofsd",
                        "--fd=3",
                        "-o",
                        src,
                        "-o",
                        "cache=auto",
                        "-o",
                        "announce_submounts",
                        "-o",
                        "xattr",
                        "-o",
                        "log_level=warn",
                        "--thread-pool-size=1",
                        NULL};
        execv("/usr/lib/qemu/virtiofsd", argv);
        child_fail(err_fd, "exec", "/usr/lib/qemu/virtiofsd");
}

int vm_spawn_virtiofsd(struct vm_boot *b, struct cx_error **err)
{
        if (access("/usr/lib/qemu/virtiofsd", X_OK) < 0)
                return cx_error_set(err, errno,
                                    "the KVM mode shares the rootfs with virtiofsd: "
                                    "/usr/lib/qemu/virtiofsd (apt-get install qemu-system-common)");
        pid_t pid = spawn(b, virtiofsd_child, "virtiofsd", err);
        if (pid < 0)
                return pid;
        b->virtiofsd = pid;
        return 0;
}

/* The kernel command line: quiet (a serial console is slow under TCG), a panic reboots (QEMU
 * then exits: -no-reboot), no crypto self-tests (0.4 s of a TCG boot; the guest's crypto API
 * serves nothing of the container's isolation), the agent. */

/* The guest's TSC frequency: under TCG the kernel's own calibration against the PIT fails on a
 * loaded host and the boot can spin for ever (microvm has no HPET); telling it skips that. */
static char *tsc_arg(const struct vm_params *p)
{
        if (p->accel != VM_ACCEL_TCG)
                return xstrdup("");
        _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
        char line[256];
        bool constant = false;
        double mhz = 0;
        while (f && fgets(line, sizeof(line), f)) {
                if (strncmp(line, "flags", 5) == 0 && strstr(line, " constant_tsc"))
                        constant = true;
                if (mhz == 0 && strncmp(line, "cpu MHz", 7) == 0)
                        mhz = strtod(strchr(line, ':') + 1, NULL);
        }
        return constant && mhz > 0 ? xasprintf(" tsc_early_khz=%ld", (long)(mhz * 1000))
                                   : xstrdup("");
}

static char *join_words(char *const *v)
{
        char *s = xstrdup("");
        for (size_t i = 0; v && v[i]; i++) {
                char *t = xasprintf("%s %s", s, v[i]);
                free(s);
                s = t;
        }
        return s;
}

static const char *qemu_format(const char *oci)
{
        return strcmp(oci, "vhd") == 0 ? "vpc" : oci;
}

static void qemu_child(const struct vm_boot *b, int err_fd)
{
        const struct vm_params *p = b->p;
        move_to_3(b->ctl_fd);
        _cleanup_strv_ char **a = xcalloc(1, sizeof(char *));
        _cleanup_free_ char *tsc = tsc_arg(p);
        _cleanup_free_ char *extra = join_words(p->kernel_extra);
        _cleanup_free_ char *append =
            xasprintf("console=ttyS0 quiet loglevel=1 panic=-1 edd=off random.trust_cpu=on "
                      "cryptomgr.notests=1 "
                      "rdinit=/init " VM_AGENT_ENV "=1%s%s%s%s",
                      tsc, p->image ? " capsa_image=1" : "",
                      b->nics && b->nics[0] ? " capsa_net=1" : "", extra);
        _cleanup_free_ char *mem =
            xasprintf("memory-backend-memfd,id=mem,size=%" PRIu64 "M,share=on", p->mem_mib);
        _cleanup_free_ char *m = xasprintf("%" PRIu64 "M", p->mem_mib);
        _cleanup_free_ char *smp = xasprintf("%u", p->cpus);
        char *base[] = {p->qemu,
                        "-M",
                        "microvm,memory-backend=mem",
                        "-accel",
                        p->accel == VM_ACCEL_KVM ? "kvm" : "tcg,tb-size=32",
                        "-cpu",
                        p->accel == VM_ACCEL_KVM ? "host" : "max",
                        "-smp",
                        smp,
                        "-m",
                        m,
                        "-object",
                        mem,
                        "-nodefaults",
                        "-no-user-config",
                        "-nographic",
                        "-no-reboot",
                        "-global",
                        "virtio-mmio.force-legacy=false",
                        "-sandbox",
                        "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                        "resourcecontrol=deny",
                        "-serial",
                        "file:" VM_CONSOLE,
                        "-kernel",
                        b->a->kernel,
                        "-initrd",
                        b->a->initrd,
                        "-append",
                        append,
                        "-chardev",
                        "socket,id=fs,path=fs.sock",
                        "-device",
                        "vhost-user-fs-device,chardev=fs,tag=" VM_SHARE_TAG,
                        "-device",
                        "virtio-serial-device",
                        "-chardev",
                        "socket,id=ctl,fd=3",
                        "-device",
                        "virtserialport,chardev=ctl,name=" VM_PORT_NAME,
                        NULL};
        for (char **x = base; *x; x++)
                strv_append(&a, *x);
        if (p->image) {
                _cleanup_free_ char *drive =
                    xasprintf("file=%s,format=%s,if=none,id=img,readonly=%s", p->image,
                              qemu_format(p->image_format), b->readonly ? "on" : "off");
                char *img[] = {"-drive", drive, "-device", "virtio-blk-device,drive=img", NULL};
                for (char **x = img; *x; x++)
                        strv_append(&a, *x);
        }
        for (size_t i = 0; b->nics && b->nics[i]; i++) {
                _cleanup_free_ char *tap = xstrdup(b->nics[i]);
                char *mac = strchr(tap, ',');
                *mac++ = 0;
                _cleanup_free_ char *nd =
                    xasprintf("tap,id=n%zu,ifname=%s,script=no,downscript=no", i, tap);
                _cleanup_free_ char *dev =
                    xasprintf("virtio-net-device,netdev=n%zu,mac=%s", i, mac);
                char *v[] = {"-netdev", nd, "-device", dev, NULL};
                for (char **x = v; *x; x++)
                        strv_append(&a, *x);
        }
        for (char **x = p->qemu_extra; x && *x; x++)
                strv_append(&a, *x);
        execv(p->qemu, a);
        child_fail(err_fd, "exec", p->qemu);
}

int vm_spawn_qemu(struct vm_boot *b, struct cx_error **err)
{
        pid_t pid = spawn(b, qemu_child, "QEMU", err);
        if (pid < 0)
                return pid;
        b->qemu = pid;
        return 0;
}
