/* image: layers unpacked into a scratch store (as root: owners, devices, trusted.* xattrs).
 * The tars come from image-layers.py; each refusal and broken stream must leave nothing in
 * ROOT/tmp or ROOT/layers. */
#include "image/image.h"
#include "tap.h"
#ifdef PROGRESS_STUB
#include "image-progress-stub.h"
#endif

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#define OCI_TAR    "application/vnd.oci.image.layer.v1.tar"
#define OCI_GZIP   "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_ZSTD   "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_GZ  "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define NONDIST_GZ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

static char work[] = "/var/tmp/capsa-test-layer-XXXXXX";
static char gen[64], root[64];
static struct image_store store = {.root_fd = -1, .lock_fd = -1};
static struct image_progress *progress;

static void cleanup(void)
{
        if (store.root_fd >= 0)
                close(store.root_fd);
        rm_rf_at(AT_FDCWD, work);
}

static void digest_file(const char *name, char out[IMAGE_DIGEST_LEN + 1])
{
        _cleanup_free_ char *path = xasprintf("%s/%s", gen, name), *data = NULL;
        size_t len = 0;
        struct cx_error *err = NULL;
        if (read_file_at(AT_FDCWD, path, &data, &len, &err) < 0) {
                printf("# %s\n", err->msg);
                cx_error_free(err);
                strcpy(out, "sha256:none");
                return;
        }
        image_digest_of(data, len, out);
}

/* image_layer_add of gen/name; digest NULL: the file's own */
static int add(const char *name, const char *media_type, const char *digest, const char *diff_id,
               struct cx_error **err)
{
        char own[IMAGE_DIGEST_LEN + 1];
        if (!digest) {
                digest_file(name, own);
                digest = own;
        }
        _cleanup_free_ char *path = xasprintf("%s/%s", gen, name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        return image_layer_add(&store, digest, media_type, fd, diff_id, progress, err);
}

static int count(const char *sub)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", root, sub);
        DIR *d = opendir(path);
        int n = 0;
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        return n;
}

static char layer[256]; /* the diff/ of the layer being looked at */

static struct stat lst(const char *rel)
{
        struct stat st = {0};
        _cleanup_free_ char *p = xasprintf("%s/%s", layer, rel);
        if (lstat(p, &st) < 0)
                printf("# lstat %s: %m\n", p);
        return st;
}

static char *content(const char *rel)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", layer, rel);
        char *data = NULL;
        struct cx_error *err = NULL;
        if (read_file_at(AT_FDCWD, p, &data, NULL, &err) < 0)
                cx_error_free(err);
        return data;
}

static char *xattr(const char *rel, const char *key)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", layer, rel);
        static char buf[256];
        ssize_t n = lgetxattr(p, key, buf, sizeof(buf) - 1);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static char *link_of(const char *rel)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", layer, rel);
        static char buf[256];
        ssize_t n = readlink(p, buf, sizeof(buf) - 1);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static void look_at(const char *name)
{
        char d[IMAGE_DIGEST_LEN + 1];
        digest_file(name, d);
        _cleanup_free_ char *p = image_layer_path(&store, d);
        snprintf(layer, sizeof(layer), "%s", p);
}

static void check_full(const char *name)
{
        look_at(name);
        struct stat st = lst(".");
        ok((st.st_mode & 07777) == 0755, "%s: the root's mode", name);
        st = lst("etc");
        ok(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 && st.st_gid == 42,
           "%s: a directory's mode and group", name);
        ok(st.st_mtim.tv_sec == 1000000, "%s: a directory's mtime, set after its entries", name);
        st = lst("etc/passwd");
        ok(st.st_mtim.tv_sec == 1234567890 && (st.st_mode & 07777) == 0644, "%s: a file's mtime",
           name);
        st = lst("bin/su");
        ok((st.st_mode & 07777) == 04755 && st.st_uid == 0, "%s: setuid kept", name);
        st = lst("bin/sg");
        ok((st.st_mode & 07777) == 02755 && st.st_gid == 5, "%s: setgid kept", name);
        ok(lst("tmp").st_mode == (S_IFDIR | 01777), "%s: sticky dir", name);
        st = lst("home/user/file");
        ok(st.st_uid == 1000 && st.st_gid == 1000 && (st.st_mode & 07777) == 0600,
           "%s: owner 1000:1000", name);
        struct stat a = lst("bin/su"), b = lst("bin/su-link"), c = lst("bin/su-link2");
        ok(a.st_ino == b.st_ino && a.st_ino == c.st_ino && a.st_nlink == 3,
           "%s: hard links share the inode", name);
        is_str(xattr("x", "user.foo"), "bar", "%s: user.* xattr", name);
        is_str(xattr("x", "trusted.capsa"), "t", "%s: trusted.* xattr", name);
        st = lst("zeros");
        ok(st.st_size == (1 << 20) + 3 && st.st_blocks * 512 < 64 << 10,
           "%s: a file of zeros is written with holes (%lld blocks)", name,
           (long long)st.st_blocks);
        st = lst("dev/null");
        ok(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3) && (st.st_mode & 0777) == 0666,
           "%s: char device 1:3", name);
        st = lst("dev/loop0");
        ok(S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 0) && st.st_gid == 6,
           "%s: block device 7:0", name);
        st = lst("run/fifo");
        ok(S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0620, "%s: fifo", name);
        is_str(link_of("lib/a"), "b", "%s: symlink", name);
        ok(lst("lib/a").st_mtim.tv_sec == 1600000000, "%s: a symlink's own mtime", name);
        is_str(link_of("etc/shadow-link"), "/etc/shadow", "%s: absolute symlink kept as is", name);
        is_str(link_of("up"), "../../../..", "%s: a symlink upwards kept as is", name);
        _cleanup_free_ char *chain = content("lib/a");
        is_str(chain, "end of chain", "%s: symlink chain resolves", name);
        _cleanup_free_ char *imp = content("implicit/parents/file");
        is_str(imp, "i", "%s: missing parents made", name);
        ok((lst("implicit/parents").st_mode & 07777) == 0755, "%s: made 0755", name);
        _cleanup_free_ char *dup = content("dup");
        is_str(dup, "two", "%s: a later entry replaces an earlier one", name);
        st = lst("m");
        _cleanup_free_ char *ma = content("m/a");
        ok((st.st_mode & 07777) == 0700 && ma && st.st_mtim.tv_sec == 2000000,
           "%s: a directory over a directory merges, the later metadata wins", name);
        ok(S_ISDIR(lst("f2d").st_mode), "%s: a directory replaces a file", name);
}

static void test_formats(void)
{
        struct cx_error *err = NULL;
        char diff_id[IMAGE_DIGEST_LEN + 1];
        digest_file("full.tar", diff_id);
        int r = add("full.tar.gz", OCI_GZIP, NULL, diff_id, &err);
        ok(r == 0, "gzip layer with its diff_id: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        check_full("full.tar.gz");

        char d[IMAGE_DIGEST_LEN + 1];
        digest_file("full.tar.gz", d);
        ok(image_layer_has(&store, d), "image_layer_has");
        _cleanup_free_ char *path = image_layer_path(&store, d);
        _cleanup_free_ char *want = xasprintf("%s/layers/sha256/%s/diff", root, d + 7);
        is_str(path, want, "image_layer_path");
        _cleanup_free_ char *dpath = xasprintf("%s/layers/sha256/%s/diffid", root, d + 7);
        _cleanup_free_ char *did = NULL, *size = NULL;
        ok(read_file_at(AT_FDCWD, dpath, &did, NULL, &err) == 0, "diffid written");
        cx_error_freep(&err);
        is_str(did, diff_id, "diffid is the tar's digest");
        _cleanup_free_ char *spath = xasprintf("%s/layers/sha256/%s/size", root, d + 7);
        ok(read_file_at(AT_FDCWD, spath, &size, NULL, &err) == 0, "size written");
        cx_error_freep(&err);
        is_str(size, "1048651", "size: the bytes of the regular files, each once");
        ok(add("full.tar.gz", OCI_GZIP, NULL, diff_id, &err) == 0, "adding it again: a no-op");
        cx_error_freep(&err);

        r = add("full.tar.zst", OCI_ZSTD, NULL, diff_id, &err);
        ok(r == 0, "zstd layer: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        check_full("full.tar.zst");
        r = add("full.tar", OCI_TAR, NULL, diff_id, &err);
        ok(r == 0, "plain tar layer: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        check_full("full.tar");
        r = add("big.tar", DOCKER_GZ, NULL, NULL, &err);
        ok(r == 0, "docker's media type takes a plain tar: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        r = add("empty.tar", NONDIST_GZ "x", NULL, NULL, &err);
        ok(r < 0, "a near miss of a media type is refused");
        cx_error_freep(&err);
        r = add("empty.tar", OCI_TAR, NULL, NULL, &err);
        ok(r == 0, "an empty tar: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        ok(image_layer_has(
               &store, "sha256:0000000000000000000000000000000000000000000000000000000000000000") ==
               false,
           "image_layer_has: a missing layer");
        ok(!image_layer_has(&store, "sha256:../.."), "image_layer_has: not a digest");
        ok(!image_layer_path(&store, "sha256:"), "image_layer_path: not a digest");
}

static void test_sparse(void)
{
        struct cx_error *err = NULL;
        int r = add("sparse.tar", OCI_TAR, NULL, NULL, &err);
        ok(r == 0, "sparse tar: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        look_at("sparse.tar");
        struct stat st = lst("sparse");
        ok(st.st_size == 8 << 20 && st.st_blocks * 512 < 1 << 20,
           "sparse file: 8 MiB in %lld blocks", (long long)st.st_blocks);
        _cleanup_free_ char *p = xasprintf("%s/sparse", layer);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        char buf[5] = {0};
        ok(pread(fd, buf, 4, 4 << 20) == 4 && !strcmp(buf, "data"), "its data at 4 MiB");
}

static void test_whiteouts(void)
{
        struct cx_error *err = NULL;
        int r = add("whiteout.tar", OCI_TAR, NULL, NULL, &err);
        ok(r == 0, "whiteout tar: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        look_at("whiteout.tar");
        struct stat st = lst("gone");
        ok(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0), ".wh.gone: a 0:0 char device");
        ok(access(strcat(strcpy((char[300]){0}, layer), "/.wh.gone"), F_OK) < 0,
           "no .wh.gone itself");
        is_str(xattr("d", "trusted.overlay.opaque"), "y", ".wh..wh..opq: d is opaque");
        ok(access(strcat(strcpy((char[300]){0}, layer), "/d/.wh..wh..opq"), F_OK) < 0,
           "no marker file");
        _cleanup_free_ char *keep = content("d/keep");
        is_str(keep, "k", "the opaque dir's own entries stay");
        _cleanup_free_ char *f = content("e/f");
        is_str(f, "f", "a whiteout leaves its own layer's entry (it hides the layers below)");
        _cleanup_free_ char *g = content("e/g");
        is_str(g, "g", "an entry after its whiteout replaces it");
        ok(access(strcat(strcpy((char[300]){0}, layer), "/.wh..wh.plnk"), F_OK) < 0,
           "AUFS's .wh..wh.plnk skipped");
}

static void refused(const char *name, const char *media_type, const char *digest,
                    const char *diff_id, const char *needle)
{
        int tmp0 = count("tmp"), layers0 = count("layers/sha256");
        struct cx_error *err = NULL;
        int r = add(name, media_type, digest, diff_id, &err);
        ok(r < 0 && err, "%s refused", name);
        contains(err ? err->msg : NULL, needle, "%s: the error says why", name);
        printf("#   %s\n", err ? err->msg : "(no error)");
        ok(count("tmp") == tmp0 && count("layers/sha256") == layers0,
           "%s: nothing left in tmp/ or layers/", name);
        cx_error_free(err);
}

static void test_refusals(void)
{
        refused("bad-dotdot.tar", OCI_TAR, NULL, NULL, "entry `a/../../etc/x`: `..` leaves");
        refused("bad-abs.tar", OCI_TAR, NULL, NULL, "entry `/etc/x`: absolute path");
        refused("bad-through-symlink.tar", OCI_TAR, NULL, NULL,
                "entry `link/x`: `link` is a symlink");
        refused("bad-through-inner-symlink.tar", OCI_TAR, NULL, NULL,
                "entry `l/x`: `l` is a symlink");
        refused("bad-hardlink-outside.tar", OCI_TAR, NULL, NULL,
                "hard link target `../../etc/passwd` leaves the layer");
        refused("bad-hardlink-abs.tar", OCI_TAR, NULL, NULL,
                "hard link target `/etc/passwd` leaves the layer");
        refused("bad-hardlink-missing.tar", OCI_TAR, NULL, NULL,
                "hard link target `nothere` does not exist in this layer");
        refused("bad-hardlink-through-symlink.tar", OCI_TAR, NULL, NULL, "`l` is a symlink");
        refused("bad-overlay-xattr.tar", OCI_TAR, NULL, NULL,
                "xattr `trusted.overlay.redirect` is overlayfs's own");
        refused("bad-whiteout-dotdot.tar", OCI_TAR, NULL, NULL, "entry `.wh..`");
        refused("bad-xattr-refused.tar", OCI_TAR, NULL, NULL,
                "entry `r`: set xattr `bogus.name`: Operation not supported");
        refused("bad-unknown-type.tar", OCI_TAR, NULL, NULL,
                "entry `u`: type 00: not a file, directory, link, device or fifo");
        refused("zero-bytes", OCI_TAR, NULL, NULL, "the blob is empty");
        int tmp0 = count("tmp"), layers0 = count("layers/sha256");
        _cleanup_close_ int dir = open(gen, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct cx_error *e = NULL;
        ok(image_layer_add(
               &store, "sha256:2222222222222222222222222222222222222222222222222222222222222222",
               OCI_TAR, dir, NULL, progress, &e) < 0,
           "an fd that cannot be read: refused");
        contains(e ? e->msg : NULL, ": read the blob: Is a directory", "the error says why");
        cx_error_free(e);
        ok(count("tmp") == tmp0 && count("layers/sha256") == layers0, "nothing left");

        /* blobs never added (an existing layer is a no-op, whatever comes with it) */
        const char *other =
            "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        char real[IMAGE_DIGEST_LEN + 1], tar[IMAGE_DIGEST_LEN + 1];
        digest_file("mis.tar.gz", real);
        _cleanup_free_ char *msg =
            xasprintf("layer %s: the blob's digest is %s, expected %s", other, real, other);
        refused("mis.tar.gz", OCI_GZIP, other, NULL, msg);
        refused("mis.tar", OCI_TAR, other, NULL, "the blob's digest is");
        digest_file("mis.tar", tar);
        _cleanup_free_ char *msg2 =
            xasprintf("the uncompressed tar is %s, expected diff_id %s", tar, other);
        refused("mis.tar.gz", OCI_GZIP, NULL, other, msg2);
        refused("truncated.tar.gz", OCI_GZIP, NULL, NULL, ": read the tar: truncated gzip input");
        refused("garbage.tar.gz", OCI_GZIP, NULL, NULL, ": decompress: gzip decompression failed");
        refused("noise.tar.gz", OCI_GZIP, NULL, NULL, "but the blob is an uncompressed tar");
        refused("mis.tar", OCI_GZIP, NULL, NULL,
                "media type " OCI_GZIP ", but the blob is an uncompressed tar");
        refused("mis.tar.gz", OCI_ZSTD, NULL, NULL, "but the blob is gzip");
        refused("mis.tar.gz", OCI_TAR, NULL, NULL, "but the blob is gzip");
        refused("full.tar.gz", "application/vnd.oci.image.layer.v1.tar+bzip2", NULL, NULL,
                "media type `application/vnd.oci.image.layer.v1.tar+bzip2` is not a layer's");
        refused("full.tar.gz", OCI_GZIP, "sha256:abc", NULL, "not a sha256 digest");

        struct cx_error *err = NULL;
        int r = add("mis.tar.gz", DOCKER_GZ, NULL, tar, &err);
        ok(r == 0, "docker's media type takes gzip: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
        r = add("mis.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar", NULL, tar,
                &err);
        ok(r == 0, "a non-distributable tar: %s", err ? err->msg : "ok");
        cx_error_freep(&err);
}

/* A blob from a pipe (as from a download): no size known, read to its end. */
static void test_pipe(void)
{
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return;
        pid_t pid = fork();
        if (pid == 0) {
                close(fds[0]);
                _cleanup_free_ char *path = xasprintf("%s/pipe.tar.gz", gen), *data = NULL;
                size_t len = 0;
                if (read_fd_all(open(path, O_RDONLY | O_CLOEXEC), &data, &len) < 0)
                        _exit(1);
                _exit(write(fds[1], data, len) == (ssize_t)len ? 0 : 1);
        }
        close(fds[1]);
        char d[IMAGE_DIGEST_LEN + 1], t[IMAGE_DIGEST_LEN + 1];
        digest_file("pipe.tar.gz", d);
        digest_file("pipe.tar", t);
        struct cx_error *err = NULL;
        int r = image_layer_add(&store, d, OCI_GZIP, fds[0], t, progress, &err);
        ok(r == 0, "a blob from a pipe: %s", err ? err->msg : "ok");
        cx_error_free(err);
        close(fds[0]);
        int status;
        waitpid(pid, &status, 0);
        look_at("pipe.tar.gz");
        ok(lst("through-a-pipe").st_size == 300 << 10, "its file");
#ifdef PROGRESS_STUB
        struct stat st;
        _cleanup_free_ char *path = xasprintf("%s/pipe.tar.gz", gen);
        stat(path, &st);
        ok(progress->total == 0 && progress->bytes == (uint64_t)st.st_size,
           "progress: size unknown, every byte counted (%llu)",
           (unsigned long long)progress->bytes);
        is_str(progress->last, "done", "progress: done");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ok(image_layer_add(&store, d, OCI_GZIP, fd, t, progress, NULL) == 0 &&
               progress->total == (uint64_t)st.st_size && progress->bytes == 0,
           "progress: a file's size is known; nothing read when the layer exists");
        is_str(progress->last, "exists", "progress: exists");
        r = add("bad-abs.tar", OCI_TAR, NULL, NULL, NULL);
        is_str(progress->last, "failed", "progress: failed");
#endif
}

static int open_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;
        for (struct dirent *de; d && (de = readdir(d));)
                n++;
        if (d)
                closedir(d);
        return n;
}

static void test_concurrent(void)
{
        int go[2];
        if (pipe2(go, O_CLOEXEC) < 0)
                return;
        pid_t pids[2];
        for (int i = 0; i < 2; i++) {
                pids[i] = fork();
                if (pids[i] == 0) {
                        char c;
                        close(go[1]);
                        if (read(go[0], &c, 1) != 1)
                                _exit(3);
                        struct cx_error *err = NULL;
                        int r = add("big.tar.gz", OCI_GZIP, NULL, NULL, &err);
                        if (r < 0)
                                fprintf(stderr, "# child: %s\n", err->msg);
                        _exit(r < 0);
                }
        }
        close(go[0]);
        ok(write(go[1], "gg", 2) == 2, "both children started");
        close(go[1]);
        int fails = 0;
        for (int i = 0; i < 2; i++) {
                int status;
                waitpid(pids[i], &status, 0);
                fails += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ok(fails == 0, "two concurrent adds of one layer both succeed (a second unpack would "
                       "fail to rename onto the first)");
        look_at("big.tar.gz");
        _cleanup_free_ char *f = content("f127");
        ok(f != NULL, "the layer is complete");
        ok(count("tmp") == 0, "no tmp dirs or lock files left");
}

int main(void)
{
        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root (owners, devices, trusted.* xattrs)\n");
                return 0;
        }
        if (!mkdtemp(work)) {
                printf("Bail out! mkdtemp: %m\n");
                return 1;
        }
        atexit(cleanup);
        snprintf(gen, sizeof(gen), "%s/gen", work);
        snprintf(root, sizeof(root), "%s/root", work);
        _cleanup_free_ char *cmd = xasprintf("mkdir %s && python3 %s %s", gen, LAYERS_PY, gen);
        if (system(cmd) != 0) {
                printf("Bail out! %s failed\n", cmd);
                return 1;
        }
        struct cx_error *err = NULL;
        if (mkdir(root, 0700) < 0 ||
            image_libs_load(IMAGE_LIB_CRYPTO | IMAGE_LIB_ARCHIVE, &err) < 0) {
                printf("Bail out! store: %s\n", err ? err->msg : strerror(errno));
                return 1;
        }
        store.root = root;
        progress = image_progress_new(true);
        store.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int fds0 = open_fds();
        test_formats();
        test_sparse();
        test_whiteouts();
        test_refusals();
        test_pipe();
        test_concurrent();
        ok(open_fds() == fds0, "no fd leaked (%d, %d before)", open_fds(), fds0);
        image_progress_free(progress);
        return tap_done();
}
