/* Ingesting an image whatever its source: the manifest's config and layers are fetched through
 * the source, verified and stored, then the manifest, and last the image's record (images.c).
 *
 * Order, so that a failure leaves nothing that names the image: every check that needs no
 * layer (media types, the config's digest, platform and diff_ids) comes first; then the layers
 * (each one complete or absent: a layer finished before a later one failed stays, complete,
 * and `prune` removes it when no image uses it); then the config and manifest blobs; then the
 * record. */
#include "image/image-internal.h"
#include "util/json.h"

#include <string.h>

static int check_layer_types(const struct image_manifest *m, const char *name,
                             struct cx_error **err)
{
        for (size_t i = 0; i < m->n_layers; i++)
                if (!image_layer_comp(m->layers[i].media_type)) /* what image_layer_add unpacks */
                        return cx_error_msg(err, EINVAL,
                                            "%s: layers[%zu]: layer %s: unknown media type `%s`",
                                            name, i, m->layers[i].digest, m->layers[i].media_type);
        return 0;
}

int image_read_verified(int fd, const char *what, const char *digest, char **ret, size_t *ret_len,
                        struct cx_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = read_fd_all(fd, &data, &len);
        if (r == -EFBIG)
                return cx_error_msg(err, EFBIG, "%s %s: larger than %d MiB", what, digest,
                                    FILE_MAX_SIZE >> 20);
        if (r < 0)
                return cx_error_set(err, -r, "read %s %s", what, digest);
        char got[IMAGE_DIGEST_LEN + 1];
        image_digest_of(data, len, got);
        if (strcmp(got, digest))
                return cx_error_msg(err, EINVAL, "%s %s: digest mismatch: the blob is %s", what,
                                    digest, got);
        *ret = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

/* The config, read whole from the source and checked against its digest and size. */
static int fetch_config(const struct image_source *src, const struct image_manifest *m, char **ret,
                        size_t *ret_len, struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        uint64_t size = 0;
        size_t len = 0;
        int r = src->open_blob(src->data, m->config_digest,
                               "application/vnd.oci.image.config.v1+json", &fd, &size, err);
        if (r < 0 ||
            (r = image_read_verified(fd, "config", m->config_digest, &data, &len, err)) < 0)
                return r;
        if (m->config_size && m->config_size != len)
                return cx_error_msg(err, EINVAL,
                                    "config %s: the manifest says %llu bytes, the blob has %zu",
                                    m->config_digest, (unsigned long long)m->config_size, len);
        *ret = TAKE_PTR(data);
        *ret_len = len;
        return 0;
}

/* The config's platform must be this host's; its diff_ids (one per layer) into ret. */
static int check_config(const char *json, size_t len, const char *digest, size_t n_layers,
                        char ***ret_diff_ids, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        _cleanup_free_ char *name = xasprintf("config %s", digest);
        int r = json_parse(json, len, name, &root, err);
        if (r < 0)
                return r;
        if (json_val_type(root) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "%s: expected a JSON object", name);
        const char *os = json_val_str(json_val_get(root, "os"));
        const char *arch = json_val_str(json_val_get(root, "architecture"));
        if (!os || !arch)
                return cx_error_msg(err, EINVAL, "%s: %s: missing", name,
                                    os ? "architecture" : "os");
        if (strcmp(os, "linux") || strcmp(arch, image_host_arch()))
                return cx_error_msg(err, ENOEXEC,
                                    "%s: the image is for %s/%s, this host is linux/%s", name, os,
                                    arch, image_host_arch());
        const struct json_val *ids = json_val_get(json_val_get(root, "rootfs"), "diff_ids");
        if (json_val_type(ids) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: rootfs.diff_ids: %s", name,
                                    ids ? "expected an array" : "missing");
        if (json_val_len(ids) != n_layers)
                return cx_error_msg(err, EINVAL,
                                    "%s: rootfs.diff_ids: %zu entries for the manifest's %zu "
                                    "layers",
                                    name, json_val_len(ids), n_layers);
        _cleanup_strv_ char **v = xcalloc(n_layers + 1, sizeof(char *));
        for (size_t i = 0; i < n_layers; i++) {
                const char *d = json_val_str(json_val_at(ids, i));
                if (!image_digest_valid(d))
                        return cx_error_msg(
                            err, EINVAL, "%s: rootfs.diff_ids[%zu]: not a sha256 digest", name, i);
                v[i] = xstrdup(d);
        }
        *ret_diff_ids = TAKE_PTR(v);
        return 0;
}

static int add_layer(struct image_store *s, const struct image_layer_ref *l, const char *diff_id,
                     const struct image_source *src, struct image_progress *p,
                     struct cx_error **err)
{
        if (image_layer_has(s, l->digest)) {
                int slot = image_progress_start(p, l->digest, l->size);
                image_progress_done(p, slot, "exists");
                return 0;
        }
        _cleanup_close_ int fd = -1;
        uint64_t size = 0;
        int r = src->open_blob(src->data, l->digest, l->media_type, &fd, &size, err);
        if (r < 0)
                return r;
        return image_layer_add(s, l->digest, l->media_type, fd, diff_id, p, err);
}

int image_ingest(struct image_store *s, const char *manifest_digest, const char *manifest,
                 size_t len, const char *name, const struct image_source *src,
                 struct image_progress *p, struct cx_error **err)
{
        _cleanup_free_ char *what = xasprintf("manifest %s", manifest_digest);
        _cleanup_free_ char *config = NULL;
        _cleanup_strv_ char **diff_ids = NULL;
        struct image_manifest m = {0};
        size_t config_len = 0;
        _cleanup_free_ char *norm = name ? image_name_normalize(name) : NULL;
        if (name && !norm) /* refused before anything is fetched */
                return cx_error_msg(err, EINVAL,
                                    "`%s` is not a valid image name ([HOST[:PORT]/]REPO[:TAG], "
                                    "the repository in lowercase)",
                                    name);
        int r = image_manifest_parse(manifest, len, what, &m, err);
        if (r < 0)
                return r;
        if ((r = check_layer_types(&m, what, err)) < 0)
                goto out;
        if ((r = fetch_config(src, &m, &config, &config_len, err)) < 0 ||
            (r = check_config(config, config_len, m.config_digest, m.n_layers, &diff_ids, err)) < 0)
                goto out;
        for (size_t i = 0; i < m.n_layers; i++)
                if ((r = add_layer(s, &m.layers[i], diff_ids[i], src, p, err)) < 0)
                        goto out;
        if ((r = image_blob_put(s, m.config_digest, config, config_len, err)) < 0 ||
            (r = image_blob_put(s, manifest_digest, manifest, len, err)) < 0)
                goto out;
        /* name NULL: the image is recorded without a name (images.c's contract) */
        r = image_tag(s, manifest_digest, name, err);
out:
        image_manifest_clear(&m);
        return r;
}
