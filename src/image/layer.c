/* Layers in the store: a blob streamed from an fd, checked, unpacked under ROOT/tmp and renamed
 * into ROOT/layers/sha256/HEX/ (diff/, diffid, size) when complete.
 *
 * Two libarchive readers in a row: the outer one undoes the compression (format "raw": one
 * entry, the decompressed stream) and its read callback hashes the blob's bytes as they come
 * from the fd; the inner one reads the tar out of the outer one's data, whose bytes are hashed
 * on the way (the diff_id).  After the tar's end both streams are read to their ends (the tar's
 * padding, anything after the compressed stream) so that the digests cover every byte.
 *
 * Compression must be what the media type says, except for docker's
 * `…rootfs.diff.tar.gzip`: docker-archive tars list plain layer.tar files under it, so there
 * gzip, zstd and plain tars are all taken.
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

#define LAYER_BUF (128 << 10)

enum layer_comp { COMP_NONE = 1, COMP_GZIP = 2, COMP_ZSTD = 4 };

static const struct {
        const char *type;
        unsigned comp; /* the compressions accepted */
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", COMP_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", COMP_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", COMP_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", COMP_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", COMP_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", COMP_NONE | COMP_GZIP | COMP_ZSTD},
};

static unsigned media_comp(const char *type)
{
        for (size_t i = 0; type && i < ARRAY_SIZE(media_types); i++)
                if (!strcmp(type, media_types[i].type))
                        return media_types[i].comp;
        return 0;
}

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

/* ---- the stream ------------------------------------------------------------------------------ */
struct stream {
        const char *digest;
        int fd;
        struct image_hash *blob, *tar; /* sha256 of the blob and of the tar */
        struct image_progress *p;
        int slot;
        struct archive *outer, *inner;
        char *fd_buf, *tar_buf;
        uint64_t n_read; /* bytes of the blob so far */
        int read_errno;  /* the fd's read(2) failed */
        char *outer_msg; /* the decompression failed (the inner reader only sees -1) */
};

static la_ssize_t blob_read(struct archive *a, void *data, const void **ret)
{
        struct stream *st = data;
        ssize_t n;
        do
                n = read(st->fd, st->fd_buf, LAYER_BUF);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                st->read_errno = errno;
                return -1;
        }
        image_hash_update(st->blob, st->fd_buf, (size_t)n);
        st->n_read += (uint64_t)n;
        if (st->p)
                image_progress_add(st->p, st->slot, (uint64_t)n);
        *ret = st->fd_buf;
        return n;
}

static la_ssize_t tar_read(struct archive *a, void *data, const void **ret)
{
        struct stream *st = data;
        la_ssize_t n = archive_read_data(st->outer, st->tar_buf, LAYER_BUF);
        if (n < 0) {
                if (!st->outer_msg)
                        st->outer_msg = xstrdup(archive_error_string(st->outer)
                                                    ? archive_error_string(st->outer)
                                                    : "cannot decompress");
                return -1;
        }
        image_hash_update(st->tar, st->tar_buf, (size_t)n);
        *ret = st->tar_buf;
        return n;
}

/* An error of a reader, with the cause underneath it when there is one. */
static int stream_error(struct stream *st, struct archive *a, const char *what,
                        struct cx_error **err)
{
        if (st->read_errno)
                return cx_error_set(err, st->read_errno, "layer %s: read the blob", st->digest);
        const char *msg = st->outer_msg                  ? st->outer_msg
                          : a && archive_error_string(a) ? archive_error_string(a)
                                                         : "failed";
        return cx_error_msg(err, EIO, "layer %s: %s: %s", st->digest, what, msg);
}

static const char *comp_name(int code)
{
        switch (code) {
        case ARCHIVE_FILTER_NONE:
                return "an uncompressed tar";
        case ARCHIVE_FILTER_GZIP:
                return "gzip";
        case ARCHIVE_FILTER_ZSTD:
                return "zstd";
        }
        return "compressed otherwise";
}

static int open_outer(struct stream *st, const char *media_type, unsigned comp,
                      struct cx_error **err)
{
        st->outer = archive_read_new();
        if (!st->outer)
                abort();
        /* every compression known, so that a wrong one is named below */
        archive_read_support_filter_none(st->outer);
        archive_read_support_filter_gzip(st->outer);
        archive_read_support_filter_zstd(st->outer);
        archive_read_support_format_raw(st->outer);
        struct archive_entry *e;
        if (archive_read_open(st->outer, st, NULL, blob_read, NULL) != ARCHIVE_OK ||
            archive_read_next_header(st->outer, &e) != ARCHIVE_OK)
                return st->n_read == 0 && !st->read_errno
                           ? cx_error_msg(err, EINVAL, "layer %s: the blob is empty", st->digest)
                           : stream_error(st, st->outer, "decompress", err);
        int code = archive_filter_code(st->outer, 0);
        bool fits = (code == ARCHIVE_FILTER_NONE && (comp & COMP_NONE)) ||
                    (code == ARCHIVE_FILTER_GZIP && (comp & COMP_GZIP)) ||
                    (code == ARCHIVE_FILTER_ZSTD && (comp & COMP_ZSTD));
        if (!fits)
                return cx_error_msg(err, EINVAL, "layer %s: media type %s, but the blob is %s",
                                    st->digest, media_type, comp_name(code));
        return 0;
}

static int open_inner(struct stream *st, struct cx_error **err)
{
        st->inner = archive_read_new();
        if (!st->inner)
                abort();
        archive_read_support_filter_none(st->inner);
        archive_read_support_format_tar(st->inner);
        if (archive_read_open(st->inner, st, NULL, tar_read, NULL) != ARCHIVE_OK)
                return stream_error(st, st->inner, "not a tar", err);
        return 0;
}

/* Reads both streams to their ends, hashing what the readers left. */
static int drain(struct stream *st, struct cx_error **err)
{
        for (;;) {
                la_ssize_t n = archive_read_data(st->outer, st->tar_buf, LAYER_BUF);
                if (n < 0)
                        return stream_error(st, st->outer, "decompress", err);
                if (n == 0)
                        break;
                image_hash_update(st->tar, st->tar_buf, (size_t)n);
        }
        const void *buf;
        la_ssize_t n;
        while ((n = blob_read(NULL, st, &buf)) > 0)
                ;
        return n < 0 ? stream_error(st, NULL, "read", err) : 0;
}

static void stream_clear(struct stream *st)
{
        if (st->inner)
                archive_read_free(st->inner);
        if (st->outer)
                archive_read_free(st->outer);
        image_hash_free(st->blob);
        image_hash_free(st->tar);
        free(st->fd_buf);
        free(st->tar_buf);
        free(st->outer_msg);
}

static int unpack_entries(struct stream *st, struct image_unpack *u, struct cx_error **err)
{
        for (;;) {
                struct archive_entry *e;
                int r = archive_read_next_header(st->inner, &e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return stream_error(st, st->inner, "read the tar", err);
                r = image_unpack_entry(u, st->inner, e, err);
                if (r < 0 && (st->outer_msg || st->read_errno) && err) {
                        /* the entry's data broke off: say why */
                        cx_error_freep(err);
                        return stream_error(st, NULL, "read the tar", err);
                }
                if (r < 0)
                        return r;
        }
}

static int check_digest(struct stream *st, struct cx_error **err)
{
        char got[IMAGE_DIGEST_LEN + 1];
        image_hash_final(TAKE_PTR(st->blob), got);
        if (strcmp(got, st->digest) != 0)
                return cx_error_msg(err, EINVAL, "layer %s: the blob's digest is %s, expected %s",
                                    st->digest, got, st->digest);
        return 0;
}

/* After a failure: when the rest of the blob shows it is not the one named, that is the error
 * to report (a corrupt download, not a bad tar). */
static void prefer_mismatch(struct stream *st, struct cx_error **err)
{
        if (!st->blob || st->read_errno || !err)
                return;
        const void *buf;
        la_ssize_t n;
        while ((n = blob_read(NULL, st, &buf)) > 0)
                ;
        if (n < 0)
                return;
        char got[IMAGE_DIGEST_LEN + 1];
        image_hash_final(TAKE_PTR(st->blob), got);
        if (strcmp(got, st->digest) == 0)
                return;
        cx_error_freep(err);
        cx_error_msg(err, EINVAL, "layer %s: the blob's digest is %s, expected %s", st->digest, got,
                     st->digest);
}

/* The blob from fd unpacked into top_fd/diff; *ret_diff_id, *ret_size of what was unpacked. */
static int unpack(const char *digest, const char *media_type, unsigned comp, int fd,
                  const char *diff_id, struct image_progress *p, int slot, int top_fd,
                  char ret_diff_id[IMAGE_DIGEST_LEN + 1], uint64_t *ret_size, struct cx_error **err)
{
        if (mkdirat(top_fd, "diff", 0755) < 0)
                return cx_error_set(err, errno, "layer %s: make its directory", digest);
        struct stream st = {.digest = digest, .fd = fd, .p = p, .slot = slot};
        st.blob = image_hash_new();
        st.tar = image_hash_new();
        st.fd_buf = xmalloc(LAYER_BUF);
        st.tar_buf = xmalloc(LAYER_BUF);
        struct image_unpack *u = image_unpack_new(top_fd, "diff", digest);
        int r = open_outer(&st, media_type, comp, err);
        if (r >= 0)
                r = open_inner(&st, err);
        if (r >= 0)
                r = unpack_entries(&st, u, err);
        if (r >= 0)
                r = drain(&st, err);
        if (r >= 0)
                r = check_digest(&st, err);
        if (r >= 0) {
                char got[IMAGE_DIGEST_LEN + 1];
                image_hash_final(TAKE_PTR(st.tar), got);
                memcpy(ret_diff_id, got, sizeof(got));
                if (diff_id && strcmp(got, diff_id) != 0)
                        r = cx_error_msg(
                            err, EINVAL,
                            "layer %s: the uncompressed tar is %s, expected diff_id %s", digest,
                            got, diff_id);
        }
        if (r >= 0)
                r = image_unpack_finish(u, ret_size, err);
        if (r < 0)
                prefer_mismatch(&st, err);
        image_unpack_free(u);
        stream_clear(&st);
        return r;
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
                r = unpack(digest, media_type, comp, fd, diff_id, p, slot, top_fd, got, &size, err);
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
        *ret_comp = media_comp(media_type);
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
