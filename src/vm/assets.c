/* vm/assets: the guest kernel and initramfs, made once and kept in a cache directory.
 *
 * Entries are named by what they are made from, so a new capsa build, a new kernel or a new
 * user initrd makes a new entry and an unchanged one is found again with a few stat calls:
 *   vmlinux-SRC-RELEASE-ID        the vmlinux extracted from a bzImage (ID: the file's identity)
 *   vmlinux-SRC-RELEASE-ID.nopvh  marks a bzImage whose vmlinux has no PVH entry (boot the
 *                                 bzImage itself, without extracting it again every time)
 *   initramfs-SRC-RELEASE-ID.cpio capsa's archive (ID: capsa's build id and the modules)
 *   initrd-SRC-U-ID.cpio          a user's initrd U followed by capsa's archive
 * SRC is "boot" for Debian's default kernel, else a hash of the kernel's path: it is the entry's
 * kind, and making an entry removes the older ones of its kind (the kernel upgraded, capsa
 * rebuilt).  Builders hold an flock on `lock` and write under a temporary name, renamed when
 * complete: two capsa processes never build the same entry twice nor see half of one. */
#include "vm/assets-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sendfile.h>

#define CACHE_DEFAULT "/var/cache/capsa/vm"
#define TMP_PREFIX    ".tmp-"

const char *vm_cache_dir(void)
{
        const char *d = getenv("CAPSA_VM_CACHE");
        return d && *d ? d : CACHE_DEFAULT;
}

void vm_assets_clear(struct vm_assets *a)
{
        free(a->kernel);
        free(a->initrd);
        free(a->kver);
        *a = (struct vm_assets){0};
}

struct plan {
        int dfd;          /* the cache directory */
        const char *proc; /* whose binary /init is */
        struct vm_kernel *k;
        char *kind;    /* SRC */
        char *vmlinux; /* NULL: the kernel is booted as it is */
        char *nopvh;   /* vmlinux's marker */
        char *initramfs;
        char *user_initrd; /* the user's file and its entry, or NULL */
        int user_fd;
        char *initrd;
};

static void plan_done(struct plan *p)
{
        closep(&p->dfd);
        free(p->kind);
        free(p->vmlinux);
        free(p->nopvh);
        free(p->initramfs);
        free(p->initrd);
}

static bool exists(const struct plan *p, const char *name)
{
        return p->dfd >= 0 && faccessat(p->dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Removes the entries starting with prefix but keep, and every temporary file (the lock is held:
 * no one else is writing one). */
static void remove_old(int dfd, const char *prefix, const char *keep)
{
        DIR *d = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return;
        rewinddir(d);
        struct dirent *de;
        while ((de = readdir(d)))
                if ((prefix && str_has_prefix(de->d_name, prefix) && strcmp(de->d_name, keep)) ||
                    str_has_prefix(de->d_name, TMP_PREFIX))
                        unlinkat(dfd, de->d_name, 0);
        closedir(d);
}

/* Makes the entry name with make(), under a temporary name renamed when done; removes the older
 * entries of its kind (prefix). */
static int build(struct plan *p, const char *name, const char *prefix,
                 int (*make)(struct plan *p, int out, const char *path, struct cx_error **err),
                 struct cx_error **err)
{
        _cleanup_free_ char *tmp = xasprintf(TMP_PREFIX "%s", name);
        _cleanup_free_ char *path = xasprintf("%s/%s", vm_cache_dir(), name);
        remove_old(p->dfd, NULL, NULL);
        _cleanup_close_ int fd =
            openat(p->dfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return cx_error_set(err, errno, "create `%s/%s`", vm_cache_dir(), tmp);
        int r = make(p, fd, path, err);
        /* on disk before it has its name: a crash must not leave a truncated entry behind */
        if (r >= 0 && fdatasync(fd) < 0)
                r = cx_error_set(err, errno, "write `%s`", path);
        if (r >= 0 && renameat(p->dfd, tmp, p->dfd, name) < 0)
                r = cx_error_set(err, errno, "rename to `%s`", path);
        if (r < 0) {
                unlinkat(p->dfd, tmp, 0);
                return r;
        }
        remove_old(p->dfd, prefix, name);
        return 0;
}

static int make_vmlinux(struct plan *p, int out, const char *path, struct cx_error **err)
{
        int r = vm_kernel_extract(p->k, out, err);
        if (r >= 0 && !vm_elf_has_pvh(out))
                return -ENOEXEC; /* not an error: the caller boots the bzImage */
        return r;
}

static int make_nopvh(struct plan *p, int out, const char *path, struct cx_error **err)
{
        return 0;
}

static int make_initramfs(struct plan *p, int out, const char *path, struct cx_error **err)
{
        const struct vm_kernel *k = p->k;
        return vm_initramfs_write(out, path, p->proc, k->has_modules ? k->release : NULL, err);
}

static int append(int out, int in, const char *what, struct cx_error **err)
{
        struct stat st;
        if (fstat(in, &st) < 0)
                return cx_error_set(err, errno, "`%s`", what);
        for (off_t off = 0; off < st.st_size;) {
                ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return cx_error_set(err, n < 0 ? errno : EIO, "copy `%s`", what);
        }
        /* the next archive starts on a 4-byte boundary, as the kernel's unpacker expects */
        static const char zeros[4];
        int r = write_all(out, zeros, (4 - (st.st_size & 3)) & 3);
        return r < 0 ? cx_error_set(err, -r, "write") : 0;
}

static int make_initrd(struct plan *p, int out, const char *path, struct cx_error **err)
{
        _cleanup_close_ int ours = openat(p->dfd, p->initramfs, O_RDONLY | O_CLOEXEC);
        if (ours < 0)
                return cx_error_set(err, errno, "`%s/%s`", vm_cache_dir(), p->initramfs);
        int r = append(out, p->user_fd, p->user_initrd, err);
        return r < 0 ? r : append(out, ours, p->initramfs, err);
}

/* Names the entries this call needs (assets.c's header comment says what each holds). */
static int plan_names(struct plan *p, const struct stat *user_st, struct cx_error **err)
{
        const struct vm_kernel *k = p->k;
        const char *rel = k->release ? k->release : "unknown";
        uint64_t h = vm_hash(VM_HASH_INIT, k->path, strlen(k->path));
        p->kind = k->is_default ? xstrdup("boot") : xasprintf("%08" PRIx64, h & 0xffffffff);
        /* a bzImage is extracted if it can be; its config, where there is one, tells whether
         * the vmlinux has a PVH entry without extracting it */
        if (!k->elf && k->xz_offset && vm_kernel_config_pvh(k) != 0) {
                /* "2": the format of the extracted file (its zero tails trimmed) */
                p->vmlinux = xasprintf("vmlinux-%s-%s-%016" PRIx64, p->kind, rel,
                                       vm_hash_identity(vm_hash(h, "2", 1), &k->st));
                p->nopvh = xasprintf("%s.nopvh", p->vmlinux);
        }
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *exe = xasprintf("%s/exe", p->proc);
        uint64_t key;
        fd = open(exe, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "`%s`", exe);
        int r = vm_elf_build_key(fd, &key);
        if (r < 0)
                return cx_error_set(err, -r, "read `%s`", exe);
        if (k->has_modules) {
                _cleanup_free_ char *dep = xasprintf("/lib/modules/%s/modules.dep", k->release);
                struct stat st;
                if (stat(dep, &st) < 0)
                        return cx_error_set(err, errno, "`%s`", dep);
                key = vm_hash_identity(vm_hash(key, k->release, strlen(k->release)), &st);
        }
        p->initramfs = xasprintf("initramfs-%s-%s-%016" PRIx64 ".cpio", p->kind,
                                 k->has_modules ? rel : "none", key);
        if (p->user_initrd) {
                uint64_t u = vm_hash(VM_HASH_INIT, p->user_initrd, strlen(p->user_initrd));
                uint64_t id =
                    vm_hash_identity(vm_hash(u, p->initramfs, strlen(p->initramfs)), user_st);
                p->initrd = xasprintf("initrd-%s-%08" PRIx64 "-%016" PRIx64 ".cpio", p->kind,
                                      u & 0xffffffff, id);
        }
        return 0;
}

static bool complete(const struct plan *p)
{
        return (!p->vmlinux || exists(p, p->vmlinux) || exists(p, p->nopvh)) &&
               exists(p, p->initramfs) && (!p->initrd || exists(p, p->initrd));
}

/* The prefix an entry's kind shares: its name up to the release or the user initrd's hash. */
static char *kind_of(const char *what, const struct plan *p, const char *tail)
{
        return tail ? xasprintf("%s-%s-%s-", what, p->kind, tail)
                    : xasprintf("%s-%s-", what, p->kind);
}

static int make_missing(struct plan *p, struct cx_error **err)
{
        const char *dir = vm_cache_dir();
        int r = mkdir_p(dir, 0755, err);
        if (r < 0)
                return r;
        p->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p->dfd < 0)
                return cx_error_set(err, errno, "`%s`", dir);
        _cleanup_close_ int lock = openat(p->dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock < 0)
                return cx_error_set(err, errno, "`%s/lock`", dir);
        while (flock(lock, LOCK_EX) < 0)
                if (errno != EINTR)
                        return cx_error_set(err, errno, "lock `%s/lock`", dir);
        /* another capsa may have made them while this one waited */
        if (p->vmlinux && !exists(p, p->vmlinux) && !exists(p, p->nopvh)) {
                _cleanup_free_ char *kind = kind_of("vmlinux", p, NULL);
                r = build(p, p->vmlinux, kind, make_vmlinux, err);
                if (r == -ENOEXEC)
                        r = build(p, p->nopvh, kind, make_nopvh, err);
                if (r < 0)
                        return r;
        }
        if (!exists(p, p->initramfs)) {
                _cleanup_free_ char *kind = kind_of("initramfs", p, NULL);
                r = build(p, p->initramfs, kind, make_initramfs, err);
                if (r < 0)
                        return r;
        }
        if (p->initrd && !exists(p, p->initrd)) {
                _cleanup_free_ char *hash =
                    strndup(p->initrd + strlen("initrd-") + strlen(p->kind) + 1, 8);
                _cleanup_free_ char *kind = kind_of("initrd", p, hash);
                r = build(p, p->initrd, kind, make_initrd, err);
        }
        return r;
}

int vm_assets_get_for(const char *proc, const char *kernel_path, const char *user_initrd,
                      struct vm_assets *ret, struct cx_error **err)
{
        _cleanup_(vm_kernel_done) struct vm_kernel k = {.fd = -1};
        _cleanup_(plan_done) struct plan p = {.dfd = -1, .proc = proc, .k = &k, .user_fd = -1};
        _cleanup_close_ int user_fd = -1;
        struct stat user_st = {0};
        /* everything the user named is checked before the cache is touched */
        int r = vm_kernel_open(kernel_path, &k, err);
        if (r < 0)
                return r;
        if (k.elf && !vm_elf_has_pvh(k.fd))
                return cx_error_msg(err, EINVAL,
                                    "`%s`: an ELF kernel without a PVH entry note, which QEMU "
                                    "cannot boot (give its bzImage)",
                                    k.path);
        if (user_initrd) {
                user_fd = open(user_initrd, O_RDONLY | O_CLOEXEC);
                if (user_fd < 0 || fstat(user_fd, &user_st) < 0)
                        return cx_error_set(err, errno, "`%s`", user_initrd);
                if (!S_ISREG(user_st.st_mode))
                        return cx_error_msg(err, EINVAL, "`%s`: not a regular file", user_initrd);
                p.user_initrd = (char *)user_initrd;
                p.user_fd = user_fd;
        }
        r = plan_names(&p, &user_st, err);
        if (r < 0)
                return r;
        p.dfd = open(vm_cache_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!complete(&p)) {
                closep(&p.dfd);
                r = make_missing(&p, err);
                if (r < 0)
                        return r;
        }
        const char *dir = vm_cache_dir();
        bool pvh = p.vmlinux && exists(&p, p.vmlinux);
        *ret = (struct vm_assets){
            .kernel = pvh ? xasprintf("%s/%s", dir, p.vmlinux) : xstrdup(k.path),
            .initrd = xasprintf("%s/%s", dir, p.initrd ? p.initrd : p.initramfs),
            .kver = k.release ? xstrdup(k.release) : NULL,
        };
        return 0;
}

int vm_assets_get(const char *kernel_path, const char *user_initrd, struct vm_assets *ret,
                  struct cx_error **err)
{
        return vm_assets_get_for("/proc/self", kernel_path, user_initrd, ret, err);
}
