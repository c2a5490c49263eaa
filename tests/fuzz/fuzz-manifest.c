/* libFuzzer harness: image manifests and indexes, as a registry or an OCI layout serves them
 * (image_manifest_parse, then image_index_select on the same bytes). */
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cx_error *err = NULL;
        struct image_manifest m;
        if (image_manifest_parse((const char *)data, size, "manifest", &m, &err) == 0) {
                /* what image_ingest relies on */
                if (!image_digest_valid(m.config_digest))
                        abort();
                for (size_t i = 0; i < m.n_layers; i++)
                        if (!image_digest_valid(m.layers[i].digest) || !m.layers[i].media_type)
                                abort();
                image_manifest_clear(&m);
        }
        cx_error_freep(&err);
        char *digest = NULL;
        if (image_index_select((const char *)data, size, "index", &digest, &err) == 0 && digest &&
            !image_digest_valid(digest))
                abort();
        free(digest);
        cx_error_free(err);
        return 0;
}
