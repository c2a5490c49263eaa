/* A layer's blob streamed from an fd, checked and unpacked (layer-entry.c writes the entries).
 *
 * Two libarchive readers in a row: the outer one undoes the compression (format "raw": one
 * entry, the decompressed stream) and its read callback hashes the blob's bytes as they come
 * from the fd; the inner one reads the tar out of the outer one's data, whose bytes are hashed
 * on the way (the diff_id).  After the tar's end both streams are read to their ends (the tar's
 * padding, anything after the compressed stream) so that the digests cover every byte.  When
 * unpacking fails and the rest of the blob shows it is not the blob named, that mismatch is
 * the error reported (a corrupt download rather than a bad tar).
 *
 * Compression must be what the media type says, except for docker's
 * `…rootfs.diff.tar.gzip`: docker-archive tars list plain layer.tar files under it, so there
 * gzip, zstd and plain tars are all taken. */
#include "image/image-internal.h"

#include <string.h>
#include <sys/stat.h>

#define LAYER_BUF (128 << 10)

static const struct {
        const char *type;
        unsigned comp; /* the compressions accepted */
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", IMAGE_COMP_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", IMAGE_COMP_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", IMAGE_COMP_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMAGE_COMP_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMAGE_COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMAGE_COMP_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip",
     IMAGE_COMP_NONE | IMAGE_COMP_GZIP | IMAGE_COMP_ZSTD},
};

unsigned image_layer_comp(const char *type)
{
        for (size_t i = 0; type && i < ARRAY_SIZE(media_types); i++)
                if (!strcmp(type, media_types[i].type))
                        return media_types[i].comp;
        return 0;
}

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
        bool fits = (code == ARCHIVE_FILTER_NONE && (comp & IMAGE_COMP_NONE)) ||
                    (code == ARCHIVE_FILTER_GZIP && (comp & IMAGE_COMP_GZIP)) ||
                    (code == ARCHIVE_FILTER_ZSTD && (comp & IMAGE_COMP_ZSTD));
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

int image_layer_unpack(const char *digest, const char *media_type, unsigned comp, int fd,
                       const char *diff_id, struct image_progress *p, int slot, int top_fd,
                       char ret_diff_id[IMAGE_DIGEST_LEN + 1], uint64_t *ret_size,
                       struct cx_error **err)
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
