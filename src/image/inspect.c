/* `capsa image inspect`: one image as JSON, the fields named as podman names them. */
#include "image/image-internal.h"
#include "util/json.h"

#include <string.h>
#include <time.h>

static void rfc3339(int64_t t, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        if (!gmtime_r(&tt, &tm) || !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
                snprintf(buf, 32, "%lld", (long long)t);
}

/* The image config's config object (Entrypoint, Cmd, Env, WorkingDir, User, Labels,
 * StopSignal...) as it is; {} when the image has none */
static void write_config(struct json_w *w, const struct json_val *cfg)
{
        json_w_key(w, "Config");
        if (json_val_type(cfg) == JSON_OBJECT) {
                json_w_val(w, cfg);
                return;
        }
        json_w_obj_open(w);
        json_w_obj_close(w);
}

static void write_rootfs(struct json_w *w, const struct json_val *manifest,
                         const struct json_val *config)
{
        json_w_key_obj_open(w, "RootFS");
        json_w_key_arr_open(w, "Layers");
        const struct json_val *layers = json_val_get(manifest, "layers");
        for (size_t i = 0; i < json_val_len(layers); i++)
                json_w_str(w, json_val_str(json_val_get(json_val_at(layers, i), "digest")));
        json_w_arr_close(w);
        json_w_key_arr_open(w, "DiffIDs");
        const struct json_val *diff_ids = json_val_get(json_val_get(config, "rootfs"), "diff_ids");
        for (size_t i = 0; i < json_val_len(diff_ids); i++)
                if (json_val_str(json_val_at(diff_ids, i)))
                        json_w_str(w, json_val_str(json_val_at(diff_ids, i)));
        json_w_arr_close(w);
        json_w_obj_close(w);
}

static char *inspect_write(const struct image_info *i, const struct json_val *manifest,
                           const struct json_val *config)
{
        char added[32];
        rfc3339(i->added, added);
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "Id", i->config_digest);
        json_w_key_str(w, "Digest", i->manifest_digest);
        json_w_key_strv(w, "Names", (const char *const *)i->names, strv_len(i->names));
        json_w_key_str(w, "Added", added);
        json_w_key_u64(w, "Size", i->size);
        json_w_key_bool(w, "InUse", i->in_use);
        json_w_key_str(w, "Architecture", json_val_str(json_val_get(config, "architecture")));
        json_w_key_str(w, "Os", json_val_str(json_val_get(config, "os")));
        write_config(w, json_val_get(config, "config"));
        write_rootfs(w, manifest, config);
        json_w_key(w, "Manifest");
        json_w_val(w, manifest);
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

/* A blob of the store, parsed */
static int blob_json(struct image_store *s, const char *digest, struct json_val **ret,
                     struct cx_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = image_blob_get(s, digest, &data, &len, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *name = xasprintf("blob %s", digest);
        return json_parse(data, len, name, ret, err);
}

int image_inspect_json(struct image_store *s, const char *ref, char **ret, struct cx_error **err)
{
        _cleanup_(image_info_clear) struct image_info info = {0};
        _cleanup_(json_val_freep) struct json_val *manifest = NULL;
        _cleanup_(json_val_freep) struct json_val *config = NULL;
        int r = image_lookup(s, ref, &info, err);
        if (r >= 0)
                r = blob_json(s, info.manifest_digest, &manifest, err);
        if (r >= 0)
                r = blob_json(s, info.config_digest, &config, err);
        if (r < 0)
                return r;
        if (json_val_type(manifest) != JSON_OBJECT || json_val_type(config) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL,
                                    "image %s: its manifest or config is not a JSON "
                                    "object",
                                    info.manifest_digest);
        *ret = inspect_write(&info, manifest, config);
        return 0;
}
