/* Importing a docker-archive (`docker-archive:FILE[:REF]`): what `docker save` and `podman save`
 * write.  The tar is unpacked under ROOT/tmp; its manifest.json ([{Config, RepoTags, Layers}])
 * names the config and the layer files (ID/layer.tar, HEX.tar or blobs/sha256/HEX, plain tars
 * mostly, gzip or zstd sniffed).  From them an OCI manifest is written (its digest: the sha256
 * of its bytes, so the same archive always gives the same image) and ingested like any other.
 *
 * A plain-tar layer's digest is its diff_id, which the config lists: it is checked while the
 * layer unpacks, so such a layer is read once.  A compressed layer is hashed first.
 * REF picks one image of an archive that holds several: one of its RepoTags, or "@N" (the
 * N-th, from 0).  The image's name: the NAME given, else REF when it is a tag, else the image's
 * first RepoTag (none: no name). */
#include "image/image-internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG   "application/vnd.oci.image.config.v1+json"

struct blob {
        char digest[IMAGE_DIGEST_LEN + 1];
        char *path; /* in the archive */
        const char *media_type;
        uint64_t size;
};

struct archive_src {
        int dirfd;
        const char *what;   /* "docker-archive `FILE`" */
        struct blob *blobs; /* [0]: the config, then the layers */
        size_t n;
};

static void archive_src_clear(struct archive_src *a)
{
        for (size_t i = 0; i < a->n; i++)
                free(a->blobs[i].path);
        free(a->blobs);
}

static int open_file(const struct archive_src *a, const char *path, int *ret_fd, uint64_t *size,
                     struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        int r = image_open_beneath(a->dirfd, path, true, &fd);
        if (r == -ENOENT)
                return cx_error_msg(err, ENOENT, "%s: `%s` is missing", a->what, path);
        if (r < 0)
                return cx_error_msg(err, -r, "%s: `%s`: %s", a->what, path,
                                    image_beneath_strerror(r));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return cx_error_set(err, errno, "%s: `%s`", a->what, path);
        if (!S_ISREG(st.st_mode))
                return cx_error_msg(err, EINVAL, "%s: `%s`: not a regular file", a->what, path);
        *size = (uint64_t)st.st_size;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int src_open_blob(void *data, const char *digest, const char *media_type _unused_,
                         int *ret_fd, uint64_t *ret_size, struct cx_error **err)
{
        const struct archive_src *a = data;
        for (size_t i = 0; i < a->n; i++)
                if (!strcmp(a->blobs[i].digest, digest))
                        return open_file(a, a->blobs[i].path, ret_fd, ret_size, err);
        return cx_error_msg(err, ENOENT, "%s: no blob %s", a->what, digest);
}

/* ---- manifest.json ----------------------------------------------------------------------- */

static bool has_tag(const struct json_val *entry, const char *ref)
{
        const struct json_val *tags = json_val_get(entry, "RepoTags");
        _cleanup_free_ char *with_latest = strchr(ref, ':') ? NULL : xasprintf("%s:latest", ref);
        for (size_t i = 0; i < json_val_len(tags); i++) {
                const char *t = json_val_str(json_val_at(tags, i));
                if (t && (!strcmp(t, ref) || (with_latest && !strcmp(t, with_latest))))
                        return true;
        }
        return false;
}

static char *list_tags(const struct json_val *man)
{
        char *out = NULL;
        for (size_t i = 0; i < json_val_len(man); i++) {
                const struct json_val *tags = json_val_get(json_val_at(man, i), "RepoTags");
                const char *t = json_val_str(json_val_at(tags, 0));
                char *old = out;
                out = xasprintf("%s%s@%zu%s%s", old ? old : "", old ? ", " : "", i, t ? " " : "",
                                t ? t : "");
                free(old);
        }
        return out;
}

/* The manifest.json entry REF names (NULL: the only one); *ret_name the default name. */
static int pick_image(const struct archive_src *a, const struct json_val *man, const char *ref,
                      const struct json_val **ret, const char **ret_name, struct cx_error **err)
{
        size_t n = json_val_len(man);
        if (json_val_type(man) != JSON_ARRAY || n == 0)
                return cx_error_msg(err, EINVAL, "%s: manifest.json: expected an array of images",
                                    a->what);
        _cleanup_free_ char *tags = list_tags(man);
        const struct json_val *e = NULL;
        const char *name = NULL;
        uint64_t idx = 0;
        if (ref && ref[0] == '@') {
                if (parse_u64(ref + 1, &idx) < 0 || idx >= n)
                        return cx_error_msg(err, ENOENT, "%s: no image %s (the archive has: %s)",
                                            a->what, ref, tags);
                e = json_val_at(man, idx);
        } else if (ref) {
                for (size_t i = 0; i < n && !e; i++)
                        if (has_tag(json_val_at(man, i), ref))
                                e = json_val_at(man, i);
                if (!e)
                        return cx_error_msg(err, ENOENT, "%s: no image `%s` (the archive has: %s)",
                                            a->what, ref, tags);
                name = ref;
        } else if (n > 1) {
                return cx_error_msg(err, EINVAL,
                                    "%s: holds %zu images; name one as docker-archive:FILE:REF "
                                    "(%s)",
                                    a->what, n, tags);
        } else {
                e = json_val_at(man, 0);
        }
        if (json_val_type(e) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "%s: manifest.json: expected an object", a->what);
        *ret = e;
        *ret_name = name ? name : json_val_str(json_val_at(json_val_get(e, "RepoTags"), 0));
        return 0;
}

/* ---- blobs ------------------------------------------------------------------------------- */

static const char *sniff_media_type(int fd)
{
        unsigned char m[4] = {0};
        ssize_t n = pread(fd, m, sizeof(m), 0);
        if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
                return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
                return "application/vnd.oci.image.layer.v1.tar+zstd";
        return "application/vnd.oci.image.layer.v1.tar";
}

static int hash_fd(int fd, char out[IMAGE_DIGEST_LEN + 1])
{
        struct image_hash *h = image_hash_new();
        char buf[1 << 16];
        for (off_t off = 0;;) {
                ssize_t n = pread(fd, buf, sizeof(buf), off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        image_hash_free(h);
                        return -e;
                }
                if (n == 0)
                        break;
                image_hash_update(h, buf, (size_t)n);
                off += n;
        }
        image_hash_final(h, out);
        return 0;
}

/* The config (blobs[0]): its digest, size and the diff_ids it lists. */
static int add_config(struct archive_src *a, const char *path, struct json_val **ret_cfg,
                      struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL, *label = NULL;
        struct blob *b = &a->blobs[0];
        size_t len = 0;
        int r = open_file(a, path, &fd, &b->size, err);
        if (r < 0)
                return r;
        b->path = xstrdup(path);
        a->n = 1;
        if ((r = read_fd_all(fd, &data, &len)) < 0)
                return cx_error_set(err, -r, "%s: read `%s`", a->what, path);
        image_digest_of(data, len, b->digest);
        b->media_type = MT_OCI_CONFIG;
        label = xasprintf("%s: %s", a->what, path);
        return json_parse(data, len, label, ret_cfg, err);
}

static int add_layer(struct archive_src *a, const char *path, const char *diff_id,
                     struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        struct blob *b = &a->blobs[a->n];
        int r = open_file(a, path, &fd, &b->size, err);
        if (r < 0)
                return r;
        b->path = xstrdup(path);
        a->n++;
        b->media_type = sniff_media_type(fd);
        if (diff_id && image_digest_valid(diff_id) &&
            !strcmp(b->media_type, "application/vnd.oci.image.layer.v1.tar")) {
                /* a plain tar's digest is its diff_id: checked as it unpacks */
                snprintf(b->digest, sizeof(b->digest), "%s", diff_id);
                return 0;
        }
        if ((r = hash_fd(fd, b->digest)) < 0)
                return cx_error_set(err, -r, "%s: read `%s`", a->what, path);
        return 0;
}

static int collect_blobs(struct archive_src *a, const struct json_val *e, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *cfg = NULL;
        const char *config = json_val_str(json_val_get(e, "Config"));
        const struct json_val *layers = json_val_get(e, "Layers");
        if (!config)
                return cx_error_msg(err, EINVAL, "%s: manifest.json: Config: missing", a->what);
        if (json_val_type(layers) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: manifest.json: Layers: %s", a->what,
                                    layers ? "expected an array" : "missing");
        a->blobs = xcalloc(json_val_len(layers) + 1, sizeof(*a->blobs));
        int r = add_config(a, config, &cfg, err);
        if (r < 0)
                return r;
        const struct json_val *ids = json_val_get(json_val_get(cfg, "rootfs"), "diff_ids");
        for (size_t i = 0; i < json_val_len(layers); i++) {
                const char *path = json_val_str(json_val_at(layers, i));
                if (!path)
                        return cx_error_msg(err, EINVAL,
                                            "%s: manifest.json: Layers[%zu]: expected a string",
                                            a->what, i);
                if ((r = add_layer(a, path, json_val_str(json_val_at(ids, i)), err)) < 0)
                        return r;
        }
        return 0;
}

/* A descriptor object's members: mediaType, digest, size */
static void write_descriptor(struct json_w *w, const struct archive_src *a, size_t i)
{
        json_w_key_str(w, "mediaType", a->blobs[i].media_type);
        json_w_key_str(w, "digest", a->blobs[i].digest);
        json_w_key_u64(w, "size", a->blobs[i].size);
}

static char *write_manifest(const struct archive_src *a)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_int(w, "schemaVersion", 2);
        json_w_key_str(w, "mediaType", MT_OCI_MANIFEST);
        json_w_key_obj_open(w, "config");
        write_descriptor(w, a, 0);
        json_w_obj_close(w);
        json_w_key_arr_open(w, "layers");
        for (size_t i = 1; i < a->n; i++) {
                json_w_obj_open(w);
                write_descriptor(w, a, i);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_obj_close(w);
        return json_w_finish(w, false);
}

static int import_extracted(struct image_store *s, struct archive_src *a, const char *ref,
                            const char *name, struct image_progress *p, char **ret_digest,
                            struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *man = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL, *manifest = NULL, *label = NULL;
        const struct json_val *e = NULL;
        const char *tag = NULL;
        size_t len = 0;
        uint64_t size = 0;
        int r = open_file(a, "manifest.json", &fd, &size, err);
        if (r < 0)
                return r;
        if ((r = read_fd_all(fd, &data, &len)) < 0)
                return cx_error_set(err, -r, "%s: read manifest.json", a->what);
        label = xasprintf("%s: manifest.json", a->what);
        if ((r = json_parse(data, len, label, &man, err)) < 0 ||
            (r = pick_image(a, man, ref, &e, &tag, err)) < 0 || (r = collect_blobs(a, e, err)) < 0)
                return r;
        manifest = write_manifest(a);
        char digest[IMAGE_DIGEST_LEN + 1];
        image_digest_of(manifest, strlen(manifest), digest);
        struct image_source src = {.data = a, .open_blob = src_open_blob};
        _cleanup_free_ char *norm = !name && tag ? image_name_normalize(tag) : NULL;
        if (!name && norm) /* a RepoTag that is no valid name ("<none>:<none>"): none */
                name = tag;
        r = image_ingest(s, digest, manifest, strlen(manifest), name, &src, p, err);
        if (r < 0)
                return r;
        *ret_digest = xstrdup(digest);
        return 0;
}

int image_docker_archive_import(struct image_store *s, const char *file, const char *ref,
                                const char *name, struct image_progress *p, char **ret_digest,
                                struct cx_error **err)
{
        _cleanup_free_ char *tmp = NULL, *what = xasprintf("docker-archive `%s`", file);
        _cleanup_close_ int fd = -1;
        int r = image_extract_tmp(s, file, "docker-archive", &tmp, &fd, err);
        if (r < 0)
                return r;
        struct archive_src a = {.dirfd = fd, .what = what};
        r = import_extracted(s, &a, ref, name, p, ret_digest, err);
        archive_src_clear(&a);
        image_tmp_remove(s, tmp);
        return r;
}
