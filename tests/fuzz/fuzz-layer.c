/* libFuzzer harness: a layer's blob, an uncompressed tar, unpacked into a store by
 * image_layer_add (the digest and the diff_id are the input's own sha256, so every input gets
 * as far as libarchive and capsa's unpacking take it).  Root only: entries are chowned and
 * device nodes made.
 *
 * Before each input is handed over, the checksum of every 512-byte block that carries the
 * "ustar" magic is set right: a mutated header would otherwise almost always fail libarchive's
 * checksum and never reach capsa's code (libarchive itself is not instrumented, so libFuzzer
 * cannot learn the checksum).
 *
 * Fenced: the harness runs in a private mount namespace in which every mount is read-only,
 * but for the directories libFuzzer writes to (the corpus directories and the artifact prefix's,
 * or the working directory), and the store lives on a tmpfs that is mounted nowhere at all
 * (fsmount(2): reached through /proc/self/fd/N), so nothing is left behind, even after a crash.
 * After each input it checks:
 *   - nothing but the store exists on that tmpfs (STORE is TMPFS/a/store: an escape by `..`
 *     ends up beside it, at worst at the tmpfs's root), and nothing in the store but its own
 *     directories; ROOT/tmp is empty (a failed unpack leaves nothing);
 *   - no failure is EROFS: an entry that got as far as the read-only host;
 *   - a layer that was added has diff/, diffid (the input's digest: an uncompressed tar is its
 *     own diff_id) and size, and nothing else; it is removed again. */
#include "image/image-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int tmpfs_fd = -1; /* the tmpfs's root (a detached mount) */
static int blob_fd = -1;  /* a memfd: the blob */
static struct image_store store;
static bool running; /* set up: a failure from now on is the input's (abort), not the setup's */

_printf_(1, 2) static _Noreturn void die(const char *fmt, ...)
{
        int e = errno; /* for %m */
        va_list ap;
        va_start(ap, fmt);
        fputs("fuzz-layer: ", stderr);
        errno = e;
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (!running)
                exit(1);
        abort();
}

/* ---- the fence ---------------------------------------------------------------------------- */

/* dir, mounted writable over itself (in this namespace) once everything else is read-only.
 * The working directory moves onto the new mount when it is dir: relative paths resolve from
 * the directory itself, which a mount on top of it does not change. */
static void keep_writable(const char *dir)
{
        struct stat st;
        _cleanup_free_ char *abs = realpath(dir, NULL);
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        if (!abs || stat(abs, &st) < 0 || !S_ISDIR(st.st_mode))
                return;
        struct mount_attr rw = {.attr_clr = MOUNT_ATTR_RDONLY};
        if (mount(abs, abs, NULL, MS_BIND | MS_REC, NULL) < 0 ||
            mount_setattr(AT_FDCWD, abs, AT_RECURSIVE, &rw, sizeof(rw)) < 0)
                die("make `%s` writable: %m", abs);
        if (cwd && !strcmp(cwd, abs) && chdir(abs) < 0)
                die("chdir `%s`: %m", abs);
}

/* The directories libFuzzer writes to: the corpus directories and the artifact prefix's
 * (without one: the working directory). */
static void keep_fuzzer_dirs(int argc, char **argv)
{
        bool prefix = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (a[0] != '-') {
                        keep_writable(a);
                        continue;
                }
                const char *v = NULL;
                if (str_has_prefix(a, "-artifact_prefix="))
                        v = a + strlen("-artifact_prefix=");
                else if (str_has_prefix(a, "-exact_artifact_path="))
                        v = a + strlen("-exact_artifact_path=");
                if (!v)
                        continue;
                prefix = true;
                _cleanup_free_ char *dir = xstrdup(v);
                char *slash = strrchr(dir, '/');
                if (!slash)
                        keep_writable(".");
                else if (slash == dir)
                        keep_writable("/");
                else {
                        *slash = '\0';
                        keep_writable(dir);
                }
        }
        if (!prefix)
                keep_writable(".");
}

static void fence(int argc, char **argv)
{
        struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                die("a private mount namespace: %m");
        if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
                die("make every mount read-only: %m");
        keep_fuzzer_dirs(argc, argv);
        int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", "256m", 0) < 0 ||
            fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0700", 0) < 0 ||
            fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                die("a tmpfs: %m");
        tmpfs_fd = fsmount(fs, FSMOUNT_CLOEXEC, 0);
        if (tmpfs_fd < 0)
                die("fsmount a tmpfs: %m");
        close(fs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct cx_error *err = NULL;
        if (geteuid() != 0) {
                fprintf(stderr, "fuzz-layer: needs root (chown, mknod, a mount namespace)\n");
                exit(77);
        }
        fence(*argc, *argv);
        if (mkdirat(tmpfs_fd, "a", 0700) < 0)
                die("mkdir a: %m");
        _cleanup_free_ char *root = xasprintf("/proc/self/fd/%d/a/store", tmpfs_fd);
        if (image_libs_load(IMAGE_LIB_CRYPTO | IMAGE_LIB_ARCHIVE, &err) < 0 ||
            image_store_open(root, false, &store, &err) < 0)
                die("%s", err->msg);
        blob_fd = memfd_create("layer", MFD_CLOEXEC);
        if (blob_fd < 0)
                die("memfd_create: %m");
        running = true;
        return 0;
}

/* ---- one input ---------------------------------------------------------------------------- */

/* What the block's checksum field must hold: the sum of its bytes, the field as spaces. */
static void fix_checksums(uint8_t *p, size_t n)
{
        for (size_t off = 0; off + 512 <= n; off += 512) {
                uint8_t *h = p + off;
                if (memcmp(h + 257, "ustar", 5) != 0)
                        continue;
                memset(h + 148, ' ', 8);
                unsigned sum = 0;
                for (size_t i = 0; i < 512; i++)
                        sum += h[i];
                char field[8];
                snprintf(field, sizeof(field), "%06o", sum & 0777777);
                memcpy(h + 148, field, 7); /* six digits, NUL; the eighth byte stays ' ' */
        }
}

/* The names in dirfd/path must be exactly those of `want` (NULL-terminated). */
static void expect_names(int dirfd, const char *path, const char *const *want)
{
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                die("open `%s`: %m", path);
        DIR *d = fdopendir(fd);
        if (!d)
                die("fdopendir `%s`: %m", path);
        size_t seen = 0, n_want = 0;
        while (want[n_want])
                n_want++;
        for (struct dirent *de; (de = readdir(d));) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                bool ok = false;
                for (size_t i = 0; i < n_want && !ok; i++)
                        ok = !strcmp(de->d_name, want[i]);
                if (!ok)
                        die("`%s` holds `%s`, which nothing should have made", path, de->d_name);
                seen++;
        }
        closedir(d);
        if (seen != n_want)
                die("`%s` lacks one of its entries", path);
}

static void check_added(const char *digest)
{
        _cleanup_free_ char *dir = xasprintf("layers/sha256/%s", digest + 7);
        _cleanup_free_ char *diffid_path = xasprintf("%s/diffid", dir);
        expect_names(store.root_fd, dir, (const char *const[]){"diff", "diffid", "size", NULL});
        _cleanup_free_ char *diffid = NULL;
        struct cx_error *err = NULL;
        if (read_file_at(store.root_fd, diffid_path, &diffid, NULL, &err) < 0)
                die("%s", err->msg);
        if (strcmp(diffid, digest) != 0)
                die("diffid %s, expected %s", diffid, digest);
        if (rm_rf_at(store.root_fd, dir) < 0)
                die("remove the layer: %m");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ uint8_t *blob = xmalloc(size ? size : 1);
        memcpy(blob, data, size);
        fix_checksums(blob, size);
        char digest[IMAGE_DIGEST_LEN + 1];
        image_digest_of(blob, size, digest);
        if (ftruncate(blob_fd, 0) < 0 || pwrite(blob_fd, blob, size, 0) != (ssize_t)size ||
            lseek(blob_fd, 0, SEEK_SET) != 0)
                die("write the blob: %m");

        struct cx_error *err = NULL;
        int r = image_layer_add(&store, digest, MT_TAR, blob_fd, digest, NULL, &err);
        if (r < 0 && err->code == EROFS)
                die("an entry reached the host: %s", err->msg);
        _cleanup_free_ char *mismatch = xasprintf("layer %s: the uncompressed tar is ", digest);
        if (r < 0 && str_has_prefix(err->msg, mismatch))
                die("the tar's digest differs from the blob's: %s", err->msg);
        cx_error_free(err);
        if (r >= 0)
                check_added(digest);

        expect_names(tmpfs_fd, ".", (const char *const[]){"a", NULL});
        expect_names(tmpfs_fd, "a", (const char *const[]){"store", NULL});
        expect_names(store.root_fd, ".",
                     (const char *const[]){"blobs", "layers", "containers", "tmp", "lock", NULL});
        expect_names(store.root_fd, "tmp", (const char *const[]){NULL});
        expect_names(store.root_fd, "layers", (const char *const[]){"sha256", NULL});
        expect_names(store.root_fd, "layers/sha256", (const char *const[]){NULL});
        expect_names(store.root_fd, "blobs", (const char *const[]){"sha256", NULL});
        expect_names(store.root_fd, "blobs/sha256", (const char *const[]){NULL});
        expect_names(store.root_fd, "containers", (const char *const[]){NULL});
        return 0;
}
