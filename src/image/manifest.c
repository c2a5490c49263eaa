/* Image manifests and indexes: OCI image manifest v1 and Docker schema 2 (the same shape), OCI
 * image index and Docker manifest list.  Every error names the document and the JSON path. */
#include "image/image-internal.h"
#include "util/json.h"

#include <string.h>

#define MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"

const char *image_host_arch(void)
{
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__arm__)
        return "arm";
#elif defined(__i386__)
        return "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64le";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#else
#error "unknown architecture: add its GOARCH name"
#endif
}

/* The variant an index entry for this host may name (besides none at all). */
static const char *host_variant(void)
{
        const char *a = image_host_arch();
        if (!strcmp(a, "arm64"))
                return "v8";
        if (!strcmp(a, "arm"))
                return "v7";
        return NULL;
}

void image_manifest_clear(struct image_manifest *m)
{
        if (!m)
                return;
        free(m->config_digest);
        for (size_t i = 0; i < m->n_layers; i++) {
                free(m->layers[i].digest);
                free(m->layers[i].media_type);
        }
        free(m->layers);
        *m = (struct image_manifest){0};
}

/* A descriptor's digest and size (path: its JSON path, for errors). */
static int descriptor(const struct json_val *d, const char *name, const char *path,
                      const char **ret_digest, uint64_t *ret_size, struct cx_error **err)
{
        if (json_val_type(d) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "%s: %s: expected an object", name, path);
        const char *dg = json_val_str(json_val_get(d, "digest"));
        if (!dg)
                return cx_error_msg(err, EINVAL, "%s: %s.digest: missing", name, path);
        if (!image_digest_valid(dg))
                return cx_error_msg(err, EINVAL, "%s: %s.digest: `%s` is not a sha256 digest", name,
                                    path, dg);
        int64_t size = 0;
        const struct json_val *sz = json_val_get(d, "size");
        if (sz && (!json_val_int(sz, &size) || size < 0))
                return cx_error_msg(err, EINVAL, "%s: %s.size: not a byte count", name, path);
        *ret_digest = dg;
        *ret_size = (uint64_t)size;
        return 0;
}

static bool is_index_type(const char *mt)
{
        return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

static int check_kind(const struct json_val *root, const char *name, struct cx_error **err)
{
        int64_t v = 0;
        if (json_val_type(root) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "%s: expected a JSON object", name);
        if (!json_val_int(json_val_get(root, "schemaVersion"), &v))
                return cx_error_msg(err, EINVAL, "%s: schemaVersion: missing", name);
        if (v != 2)
                return cx_error_msg(err, EINVAL,
                                    "%s: schemaVersion: %lld is not supported (only 2: OCI and "
                                    "Docker schema 2 manifests)",
                                    name, (long long)v);
        const char *mt = json_val_str(json_val_get(root, "mediaType"));
        if (is_index_type(mt))
                return cx_error_msg(err, EINVAL, "%s: an image index, not a manifest", name);
        if (mt && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST))
                return cx_error_msg(err, EINVAL, "%s: mediaType: `%s` is not an image manifest",
                                    name, mt);
        return 0;
}

static int parse_config(const struct json_val *root, const char *name, struct image_manifest *m,
                        struct cx_error **err)
{
        const struct json_val *c = json_val_get(root, "config");
        if (!c)
                return cx_error_msg(err, EINVAL, "%s: config: missing", name);
        const char *dg = NULL;
        int r = descriptor(c, name, "config", &dg, &m->config_size, err);
        if (r < 0)
                return r;
        const char *mt = json_val_str(json_val_get(c, "mediaType"));
        if (mt && strcmp(mt, MT_OCI_CONFIG) && strcmp(mt, MT_DOCKER_CONFIG))
                return cx_error_msg(err, EINVAL,
                                    "%s: config.mediaType: `%s` is not an image config", name, mt);
        m->config_digest = xstrdup(dg);
        return 0;
}

static int parse_layers(const struct json_val *root, const char *name, struct image_manifest *m,
                        struct cx_error **err)
{
        const struct json_val *ls = json_val_get(root, "layers");
        if (json_val_type(ls) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: layers: %s", name,
                                    ls ? "expected an array" : "missing");
        size_t n = json_val_len(ls);
        m->layers = xcalloc(n ? n : 1, sizeof(*m->layers));
        for (size_t i = 0; i < n; i++) {
                const struct json_val *l = json_val_at(ls, i);
                char path[32];
                snprintf(path, sizeof(path), "layers[%zu]", i);
                const char *dg = NULL;
                uint64_t size = 0;
                int r = descriptor(l, name, path, &dg, &size, err);
                if (r < 0)
                        return r;
                const char *mt = json_val_str(json_val_get(l, "mediaType"));
                if (!mt)
                        return cx_error_msg(err, EINVAL, "%s: %s.mediaType: missing", name, path);
                m->layers[i] = (struct image_layer_ref){xstrdup(dg), xstrdup(mt), size};
                m->n_layers = i + 1;
        }
        return 0;
}

int image_manifest_parse(const char *json, size_t len, const char *name, struct image_manifest *ret,
                         struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        struct image_manifest m = {0};
        int r = json_parse(json, len, name, &root, err);
        if (r < 0)
                return r;
        if ((r = check_kind(root, name, err)) < 0 || (r = parse_config(root, name, &m, err)) < 0 ||
            (r = parse_layers(root, name, &m, err)) < 0) {
                image_manifest_clear(&m);
                return r;
        }
        *ret = m;
        return 0;
}

/* ---- indexes ----------------------------------------------------------------------------- */

/* How well an index entry fits this host: 0 not at all, 1 without a variant, 2 exactly. */
static int platform_fit(const struct json_val *plat)
{
        const char *os = json_val_str(json_val_get(plat, "os"));
        const char *arch = json_val_str(json_val_get(plat, "architecture"));
        const char *var = json_val_str(json_val_get(plat, "variant"));
        if (!os || !arch || strcmp(os, "linux") || strcmp(arch, image_host_arch()))
                return 0;
        if (!var)
                return 1;
        const char *hv = host_variant();
        return hv && !strcmp(var, hv) ? 2 : 0;
}

static void platform_append(char **list, const struct json_val *plat)
{
        const char *os = json_val_str(json_val_get(plat, "os"));
        const char *arch = json_val_str(json_val_get(plat, "architecture"));
        const char *var = json_val_str(json_val_get(plat, "variant"));
        char *old = *list;
        *list = xasprintf("%s%s%s/%s%s%s", old ? old : "", old ? ", " : "", os ? os : "?",
                          arch ? arch : "?", var ? "/" : "", var ? var : "");
        free(old);
}

static bool looks_like_index(const struct json_val *root)
{
        const char *mt = json_val_str(json_val_get(root, "mediaType"));
        if (mt)
                return is_index_type(mt);
        return json_val_get(root, "manifests") && !json_val_get(root, "layers");
}

static int select_entry(const struct json_val *ms, const char *name, const char **ret_digest,
                        struct cx_error **err)
{
        _cleanup_free_ char *seen = NULL;
        const char *best = NULL, *nested = NULL;
        int best_fit = 0;
        for (size_t i = 0; i < json_val_len(ms); i++) {
                const struct json_val *e = json_val_at(ms, i);
                char path[40];
                snprintf(path, sizeof(path), "manifests[%zu]", i);
                const char *dg = NULL;
                uint64_t size = 0;
                int r = descriptor(e, name, path, &dg, &size, err);
                if (r < 0)
                        return r;
                const struct json_val *plat = json_val_get(e, "platform");
                if (!plat) {
                        /* a nested index without a platform: resolved by the caller */
                        if (is_index_type(json_val_str(json_val_get(e, "mediaType"))) && !nested)
                                nested = dg;
                        continue;
                }
                platform_append(&seen, plat);
                int fit = platform_fit(plat);
                if (fit > best_fit) {
                        best_fit = fit;
                        best = dg;
                }
        }
        if (!best)
                best = nested;
        if (!best) {
                const char *hv = host_variant();
                return cx_error_msg(
                    err, ENOENT, "%s: no manifest for linux/%s%s%s; the index has %s", name,
                    image_host_arch(), hv ? "/" : "", hv ? hv : "", seen ? seen : "no platforms");
        }
        *ret_digest = best;
        return 0;
}

int image_index_select(const char *json, size_t len, const char *name, char **ret_digest,
                       struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        *ret_digest = NULL;
        int r = json_parse(json, len, name, &root, err);
        if (r < 0)
                return r;
        if (json_val_type(root) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "%s: expected a JSON object", name);
        if (!looks_like_index(root))
                return 0;
        const struct json_val *ms = json_val_get(root, "manifests");
        if (json_val_type(ms) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: manifests: %s", name,
                                    ms ? "expected an array" : "missing");
        const char *dg = NULL;
        if ((r = select_entry(ms, name, &dg, err)) < 0)
                return r;
        *ret_digest = xstrdup(dg);
        return 0;
}
