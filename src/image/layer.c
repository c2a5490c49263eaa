/* Layers in the store: a blob unpacked under ROOT/tmp (layer-stream.c, layer-entry.c) and
 * renamed into ROOT/layers/sha256/HEX/ (diff/, diffid, size) when complete, everything synced
 * first.  On any failure the tmp dir goes.
 *
 * Concurrency: the layer is unpacked under an exclusive flock on ROOT/tmp/HEX.lock; who gets it
 * second finds the layer there and returns.  The lock file is removed by its holder; a waiter
 * that finds it gone (or replaced) takes the new one. */
#include "image/image-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

/* ---- paths ---------------------------------------------------------------------------------- */
static const char *hex_of(const char *digest)
{
        return digest + strlen("sha256:");
}

bool image_layer_has(struct image_store *s, const char *digest)
{
        if (!image_digest_valid(digest))
                return false;
        _cleanup_free_ char *path = xasprintf("layers/sha256/%s/diff", hex_of(digest));
        struct stat st;
        return fstatat(s->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

char *image_layer_path(struct image_store *s, const char *digest)
{
        if (!image_digest_valid(digest))
                return NULL;
        return xasprintf("%s/layers/sha256/%s/diff", s->root, hex_of(digest));
}

/* ---- the store's side ------------------------------------------------------------------------ */
static int mkdir_in(int dirfd, const char *path)
{
        return mkdirat(dirfd, path, 0700) == 0 || errno == EEXIST ? 0 : -errno;
}

/* An exclusive flock on ROOT/tmp/HEX.lock, on the file that is still there once locked. */
static int lock_layer(struct image_store *s, const char *name, const char *digest,
                      struct cx_error **err)
{
        for (;;) {
                _cleanup_close_ int fd =
                    openat(s->root_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return cx_error_set(err, errno, "layer %s: open %s/%s", digest, s->root,
                                            name);
                int r;
                do
                        r = flock(fd, LOCK_EX);
                while (r < 0 && errno == EINTR);
                if (r < 0)
                        return cx_error_set(err, errno, "layer %s: lock %s/%s", digest, s->root,
                                            name);
                struct stat a, b;
                if (fstat(fd, &a) == 0 && fstatat(s->root_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                        return TAKE_FD(fd);
        }
}

static void unlock_layer(struct image_store *s, const char *name, int fd)
{
        unlinkat(s->root_fd, name, 0);
        close(fd);
}

/* A new directory ROOT/tmp/layer-XXXXXXXXXXXX; its name in *ret. */
static int make_tmp(struct image_store *s, const char *digest, char **ret, struct cx_error **err)
{
        for (int i = 0; i < 100; i++) {
                uint64_t rnd;
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return cx_error_set(err, errno, "getrandom");
                _cleanup_free_ char *name = xasprintf("tmp/layer-%016llx", (unsigned long long)rnd);
                if (mkdirat(s->root_fd, name, 0700) == 0) {
                        *ret = TAKE_PTR(name);
                        return 0;
                }
                if (errno != EEXIST)
                        return cx_error_set(err, errno, "layer %s: make %s/%s", digest, s->root,
                                            name);
        }
        return cx_error_msg(err, EEXIST, "layer %s: no free name in %s/tmp", digest, s->root);
}

static int write_new(int dirfd, const char *name, const char *text)
{
        _cleanup_close_ int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        return write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
}

/* diffid and size beside diff/, everything on disk, then the rename into place. */
static int commit(struct image_store *s, const char *digest, const char *tmp, int top_fd,
                  const char *diff_id, uint64_t size, struct cx_error **err)
{
        _cleanup_free_ char *size_s = xasprintf("%llu", (unsigned long long)size);
        int r = write_new(top_fd, "diffid", diff_id);
        if (r >= 0)
                r = write_new(top_fd, "size", size_s);
        if (r < 0)
                return cx_error_set(err, -r, "layer %s: write %s/%s", digest, s->root, tmp);
        if (syncfs(top_fd) < 0)
                return cx_error_set(err, errno, "layer %s: sync %s/%s", digest, s->root, tmp);
        _cleanup_free_ char *final = xasprintf("layers/sha256/%s", hex_of(digest));
        if (renameat(s->root_fd, tmp, s->root_fd, final) < 0)
                return cx_error_set(err, errno, "layer %s: rename %s/%s to %s/%s", digest, s->root,
                                    tmp, s->root, final);
        _cleanup_close_ int dfd =
            openat(s->root_fd, "layers/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                fsync(dfd);
        return 0;
}

static int add_locked(struct image_store *s, const char *digest, const char *media_type,
                      unsigned comp, int fd, const char *diff_id, struct image_progress *p,
                      int slot, struct cx_error **err)
{
        _cleanup_free_ char *tmp = NULL;
        int r = make_tmp(s, digest, &tmp, err);
        if (r < 0)
                return r;
        _cleanup_close_ int top_fd =
            openat(s->root_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (top_fd < 0)
                r = cx_error_set(err, errno, "layer %s: open %s/%s", digest, s->root, tmp);
        char got[IMAGE_DIGEST_LEN + 1];
        uint64_t size = 0;
        if (r >= 0)
                r = image_layer_unpack(digest, media_type, comp, fd, diff_id, p, slot, top_fd, got,
                                       &size, err);
        if (r >= 0)
                r = commit(s, digest, tmp, top_fd, got, size, err);
        if (r < 0)
                rm_rf_at(s->root_fd, tmp);
        return r;
}

static int check_args(const char *digest, const char *media_type, const char *diff_id,
                      unsigned *ret_comp, struct cx_error **err)
{
        if (!image_digest_valid(digest))
                return cx_error_msg(err, EINVAL, "layer `%s`: not a sha256 digest",
                                    digest ? digest : "");
        if (diff_id && !image_digest_valid(diff_id))
                return cx_error_msg(err, EINVAL, "layer %s: diff_id `%s` is not a sha256 digest",
                                    digest, diff_id);
        *ret_comp = image_layer_comp(media_type);
        if (!*ret_comp)
                return cx_error_msg(err, EINVAL, "layer %s: media type `%s` is not a layer's",
                                    digest, media_type ? media_type : "");
        return 0;
}

/* The layer added unless it is there, *ret_what "done" when this call unpacked it. */
static int add_once(struct image_store *s, const char *digest, const char *media_type,
                    unsigned comp, int fd, const char *diff_id, struct image_progress *p, int slot,
                    const char **ret_what, struct cx_error **err)
{
        if (image_layer_has(s, digest))
                return 0;
        int r;
        if ((r = mkdir_in(s->root_fd, "tmp")) < 0 || (r = mkdir_in(s->root_fd, "layers")) < 0 ||
            (r = mkdir_in(s->root_fd, "layers/sha256")) < 0)
                return cx_error_set(err, -r, "layer %s: make the store's directories in %s", digest,
                                    s->root);
        _cleanup_free_ char *lock = xasprintf("tmp/%s.lock", hex_of(digest));
        int lock_fd = lock_layer(s, lock, digest, err);
        if (lock_fd < 0)
                return lock_fd;
        r = 0;
        if (!image_layer_has(s, digest)) { /* not made while this waited for the lock */
                r = add_locked(s, digest, media_type, comp, fd, diff_id, p, slot, err);
                *ret_what = "done";
        }
        unlock_layer(s, lock, lock_fd);
        return r;
}

int image_layer_add(struct image_store *s, const char *digest, const char *media_type, int fd,
                    const char *diff_id, struct image_progress *p, struct cx_error **err)
{
        unsigned comp;
        int r = check_args(digest, media_type, diff_id, &comp, err);
        if (r < 0)
                return r;
        r = image_libs_load(IMAGE_LIB_CRYPTO | IMAGE_LIB_ARCHIVE, err);
        if (r < 0)
                return r;
        struct stat st;
        uint64_t total = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        int slot = p ? image_progress_start(p, digest, total) : -1;
        const char *what = "exists";
        r = add_once(s, digest, media_type, comp, fd, diff_id, p, slot, &what, err);
        if (p)
                image_progress_done(p, slot, r < 0 ? "failed" : what);
        return r;
}
