/* vm/assets: the guest kernel.  By default Debian's newest /boot/vmlinuz-<release> whose modules
 * are installed (linux-image-amd64); else the file the user names, an ELF vmlinux or a bzImage.
 *
 * QEMU's microvm boots an uncompressed ELF through its PVH entry about twice as fast under TCG
 * as a bzImage, which decompresses itself in the guest: so the vmlinux inside a bzImage is
 * extracted once (assets.c caches it).  The x86 boot protocol's setup header says where that
 * payload is (payload_offset and payload_length, protocol 2.08+) and where the kernel's version
 * string is (kernel_version), whose first word is the release: /lib/modules/<release>. */
#include "vm/assets-internal.h"
#include "util/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define BOOT_DIR    "/boot"
#define MODULES_DIR "/lib/modules"
/* the setup header (Documentation/arch/x86/boot.rst) */
#define HDR_SETUP_SECTS    0x1f1
#define HDR_MAGIC          0x202 /* "HdrS" */
#define HDR_VERSION        0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_END            0x250
#define RELEASE_MAX        64

static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};

static bool has_modules(const char *release)
{
        _cleanup_free_ char *dep = xasprintf(MODULES_DIR "/%s/modules.dep", release);
        return access(dep, R_OK) == 0;
}

/* Debian's newest kernel with modules: its release, or NULL. */
static char *default_release(void)
{
        DIR *d = opendir(BOOT_DIR);
        if (!d)
                return NULL;
        char *best = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                const char *rel = de->d_name + strlen("vmlinuz-");
                if (!str_has_prefix(de->d_name, "vmlinuz-") || !*rel || !has_modules(rel))
                        continue;
                if (!best || strverscmp(rel, best) > 0) {
                        free(best);
                        best = xstrdup(rel);
                }
        }
        closedir(d);
        return best;
}

/* The first word of a version string ("6.1.0-57-amd64 (debian-kernel@...) #1 SMP ..."). */
static char *release_word(const char *s, size_t max)
{
        size_t n = 0;
        while (n < max && s[n] > ' ' && s[n] < 0x7f)
                n++;
        if (n == 0 || n >= max)
                return NULL;
        /* not strndup: s need not be terminated (ASan's strndup reads one byte past n) */
        char *w = xmalloc(n + 1);
        memcpy(w, s, n);
        w[n] = 0;
        return w;
}

/* An ELF vmlinux's release, from the "Linux version X" banner in its read-only data. */
static char *elf_release(int fd, uint64_t size)
{
        static const char banner[] = "Linux version ";
        void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
                return NULL;
        char *rel = NULL;
        const char *p = memmem(m, size, banner, strlen(banner));
        if (p) {
                p += strlen(banner);
                size_t left = size - (size_t)(p - (const char *)m);
                rel = release_word(p, left < RELEASE_MAX ? left : RELEASE_MAX);
        }
        munmap(m, size);
        return rel;
}

/* A bzImage's release and xz payload; false if the file is not a bzImage. */
static bool read_bzimage(struct vm_kernel *k)
{
        unsigned char h[HDR_END];
        if (pread(k->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
            memcmp(h + HDR_MAGIC, "HdrS", 4) != 0)
                return false;
        uint16_t version, kv;
        memcpy(&version, h + HDR_VERSION, 2);
        memcpy(&kv, h + HDR_KERNEL_VERSION, 2);
        char s[RELEASE_MAX];
        if (kv && pread(k->fd, s, sizeof(s), kv + 0x200) == (ssize_t)sizeof(s))
                k->release = release_word(s, sizeof(s));
        if (version < 0x208)
                return true;
        uint32_t off, len;
        memcpy(&off, h + HDR_PAYLOAD_OFFSET, 4);
        memcpy(&len, h + HDR_PAYLOAD_LENGTH, 4);
        uint64_t start = ((uint64_t)(h[HDR_SETUP_SECTS] ? h[HDR_SETUP_SECTS] : 4) + 1) * 512 + off;
        unsigned char magic[sizeof(xz_magic)];
        if (len > sizeof(magic) && start + len <= (uint64_t)k->st.st_size &&
            pread(k->fd, magic, sizeof(magic), (off_t)start) == (ssize_t)sizeof(magic) &&
            memcmp(magic, xz_magic, sizeof(magic)) == 0) {
                k->xz_offset = start;
                k->xz_length = len;
        }
        return true;
}

int vm_kernel_open(const char *path, struct vm_kernel *k, struct cx_error **err)
{
        *k = (struct vm_kernel){.fd = -1, .is_default = !path};
        if (!path) {
                k->release = default_release();
                if (!k->release)
                        return cx_error_msg(err, ENOENT,
                                            "no guest kernel: no " BOOT_DIR "/vmlinuz-<release> "
                                            "with " MODULES_DIR "/<release>/modules.dep (install "
                                            "the Debian package linux-image-amd64)");
                k->path = xasprintf(BOOT_DIR "/vmlinuz-%s", k->release);
        } else
                k->path = xstrdup(path);
        k->fd = open(k->path, O_RDONLY | O_CLOEXEC);
        if (k->fd < 0 || fstat(k->fd, &k->st) < 0)
                return cx_error_set(err, errno, "`%s`", k->path);
        if (!S_ISREG(k->st.st_mode))
                return cx_error_msg(err, EINVAL, "`%s`: not a regular file", k->path);
        _cleanup_free_ char *release = TAKE_PTR(k->release);
        k->elf = vm_elf_is(k->fd);
        if (k->elf)
                k->release = elf_release(k->fd, (uint64_t)k->st.st_size);
        else if (!read_bzimage(k))
                return cx_error_msg(err, EINVAL,
                                    "`%s`: not a Linux kernel (neither an ELF vmlinux nor a "
                                    "bzImage)",
                                    k->path);
        /* the default kernel's name is its release, whatever its header says */
        if (release) {
                free(k->release);
                k->release = TAKE_PTR(release);
        }
        k->has_modules = k->release && has_modules(k->release);
        return 0;
}

void vm_kernel_done(struct vm_kernel *k)
{
        free(k->path);
        free(k->release);
        closep(&k->fd);
        *k = (struct vm_kernel){.fd = -1};
}

int vm_kernel_config_pvh(const struct vm_kernel *k)
{
        if (!k->release)
                return -ENOENT;
        _cleanup_free_ char *path = xasprintf(BOOT_DIR "/config-%s", k->release);
        _cleanup_free_ char *text = NULL;
        if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0)
                return -ENOENT;
        return str_has_prefix(text, "CONFIG_PVH=y\n") || strstr(text, "\nCONFIG_PVH=y\n");
}

int vm_decompress(const char *tool, int in, int out, const char *what, struct cx_error **err)
{
        /* the tool's complaint, for the error */
        _cleanup_close_ int errfd = memfd_create("capsa-decompress", MFD_CLOEXEC);
        if (errfd < 0)
                return cx_error_set(err, errno, "memfd_create");
        pid_t pid = fork();
        if (pid < 0)
                return cx_error_set(err, errno, "fork");
        if (pid == 0) {
                if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
                    dup2(errfd, STDERR_FILENO) < 0)
                        _exit(127);
                /* xz: a bzImage's stream is followed by the rest of the image */
                if (strcmp(tool, "xz") == 0)
                        execlp(tool, tool, "-dc", "--single-stream", (char *)NULL);
                else
                        execlp(tool, tool, "-dc", (char *)NULL);
                dprintf(STDERR_FILENO, "%s: %s%s", tool, strerror(errno),
                        errno == ENOENT ? " (install the Debian package of that name)" : "");
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return cx_error_set(err, errno, "waitpid");
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        char msg[256] = "";
        ssize_t n = pread(errfd, msg, sizeof(msg) - 1, 0);
        msg[n > 0 ? n : 0] = '\0';
        msg[strcspn(msg, "\n")] = '\0';
        return cx_error_msg(err, EIO, "`%s`: %s -dc failed (status %d)%s%s", what, tool, status,
                            *msg ? ": " : "", msg);
}

int vm_kernel_extract(const struct vm_kernel *k, int out, struct cx_error **err)
{
        if (!k->xz_offset)
                return cx_error_msg(err, EINVAL,
                                    "`%s`: no xz stream: not a bzImage this capsa can extract",
                                    k->path);
        if (lseek(k->fd, (off_t)k->xz_offset, SEEK_SET) < 0)
                return cx_error_set(err, errno, "`%s`: seek to its xz stream", k->path);
        int r = vm_decompress("xz", k->fd, out, k->path, err);
        if (r < 0)
                return r;
        if (!vm_elf_is(out))
                return cx_error_msg(err, EINVAL, "`%s`: its xz stream does not hold an ELF vmlinux",
                                    k->path);
        if ((r = vm_elf_trim_zero_tails(out)) < 0)
                return cx_error_set(err, -r, "`%s`: trim its vmlinux", k->path);
        return 0;
}
