/* The store's directory: opening and locking it, JSON blobs, atomic writes.
 *
 * ROOT/lock is held for as long as the store is open: shared by everything that reads or adds,
 * exclusive by rm and prune, so that nothing is removed under an import or a container being
 * made.  Files appear by rename(2) from ROOT/tmp (same file system), complete or not at all. */
#include "image/image-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

static const char *const store_dirs[] = {"blobs",         "blobs/sha256", "layers",
                                         "layers/sha256", "containers",   "tmp"};

static int store_flock(int fd, int op)
{
        int r;
        do
                r = flock(fd, op);
        while (r < 0 && errno == EINTR);
        return r;
}

int img_lock_file(struct image_store *s, const char *name, int op, int *ret_fd,
                  struct cx_error **err)
{
        _cleanup_close_ int fd =
            openat(s->root_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "image store `%s`: open `%s`", s->root, name);
        if (store_flock(fd, op) < 0)
                return cx_error_set(err, errno, "image store `%s`: lock `%s`", s->root, name);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int image_store_open(const char *root, bool exclusive, struct image_store *ret,
                     struct cx_error **err)
{
        if (!root || !*root)
                return cx_error_msg(err, EINVAL, "image store: empty path");
        int r = mkdir_p(root, 0700, err);
        if (r < 0)
                return cx_error_prefix(err, "image store `%s`", root);
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "image store `%s`: open", root);
        for (size_t i = 0; i < ARRAY_SIZE(store_dirs); i++)
                if (sys_mkdirat(fd, store_dirs[i], 0700) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "image store `%s`: mkdir `%s`", root,
                                            store_dirs[i]);
        struct image_store s = {.root = (char *)root, .root_fd = fd, .lock_fd = -1};
        r = img_lock_file(&s, "lock", exclusive ? LOCK_EX : LOCK_SH, &s.lock_fd, err);
        if (r < 0)
                return r;
        *ret = (struct image_store){.root = xstrdup(root),
                                    .root_fd = TAKE_FD(fd),
                                    .lock_fd = s.lock_fd,
                                    .exclusive = exclusive};
        return 0;
}

void image_store_close(struct image_store *s)
{
        if (!s)
                return;
        if (s->lock_fd >= 0)
                close(s->lock_fd); /* releases the lock */
        if (s->root_fd >= 0)
                close(s->root_fd);
        free(s->root);
        *s = (struct image_store){.root_fd = -1, .lock_fd = -1};
}

int img_write_atomic(struct image_store *s, const char *path, const char *data, size_t len,
                     struct cx_error **err)
{
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), 0) < 0)
                rnd = (uint64_t)getpid() * 2654435761u;
        _cleanup_free_ char *tmp =
            xasprintf("tmp/write-%d-%016llx", (int)getpid(), (unsigned long long)rnd);
        _cleanup_close_ int fd =
            openat(s->root_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "image store `%s`: create `%s`", s->root, tmp);
        int r = write_all(fd, data, len);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && sys_renameat(s->root_fd, tmp, s->root_fd, path) < 0)
                r = -errno;
        if (r < 0) {
                sys_unlinkat(s->root_fd, tmp, 0);
                return cx_error_set(err, -r, "image store `%s`: write `%s`", s->root, path);
        }
        return 0;
}

char *img_blob_path(const char *digest)
{
        return xasprintf("blobs/sha256/%s", digest + 7);
}

static int blob_check(const char *digest, const char *data, size_t len, const char *what,
                      struct cx_error **err)
{
        if (!image_digest_valid(digest))
                return cx_error_msg(err, EINVAL, "blob `%s`: not a sha256 digest", digest);
        int r = image_libs_load(IMAGE_LIB_CRYPTO, err);
        if (r < 0)
                return r;
        char got[IMAGE_DIGEST_LEN + 1];
        image_digest_of(data, len, got);
        if (strcmp(got, digest) != 0)
                return cx_error_msg(err, EBADMSG, "blob %s: %s has digest %s", digest, what, got);
        return 0;
}

int image_blob_put(struct image_store *s, const char *digest, const char *data, size_t len,
                   struct cx_error **err)
{
        int r = blob_check(digest, data, len, "its content", err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = img_blob_path(digest);
        if (faccessat(s->root_fd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        r = img_write_atomic(s, path, data, len, err);
        return r < 0 ? cx_error_prefix(err, "blob %s", digest) : 0;
}

int image_blob_get(struct image_store *s, const char *digest, char **ret, size_t *ret_len,
                   struct cx_error **err)
{
        if (!image_digest_valid(digest))
                return cx_error_msg(err, EINVAL, "blob `%s`: not a sha256 digest", digest);
        _cleanup_free_ char *path = img_blob_path(digest);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        _cleanup_close_ int fd = openat(s->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT)
                return cx_error_msg(err, ENOENT, "blob %s: not in the image store `%s`", digest,
                                    s->root);
        if (fd < 0)
                return cx_error_set(err, errno, "blob %s: open `%s/%s`", digest, s->root, path);
        int r = read_fd_all(fd, &data, &len);
        if (r < 0)
                return cx_error_set(err, -r, "blob %s: read `%s/%s`", digest, s->root, path);
        r = s->trust_reads ? 0 : blob_check(digest, data, len, "the stored copy", err);
        if (r < 0)
                return cx_error_prefix(err, "image store `%s` is damaged", s->root);
        *ret = TAKE_PTR(data);
        if (ret_len)
                *ret_len = len;
        return 0;
}
