/* image manifests and indexes (src/image/manifest.c): what is accepted, and that every refusal
 * names the document and the JSON path. */
#include "image/image.h"
#include "tap.h"
#include "util/util.h"

#include <string.h>

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static char *parse_err(const char *json)
{
        struct image_manifest m = {0};
        struct cx_error *err = NULL;
        int r = image_manifest_parse(json, strlen(json), "manifest X", &m, &err);
        image_manifest_clear(&m);
        if (r >= 0)
                return xstrdup("(accepted)");
        char *msg = xstrdup(err->msg);
        cx_error_free(err);
        return msg;
}

static void test_manifest_ok(void)
{
        const char *oci =
            "{\"schemaVersion\":2,\"mediaType\":"
            "\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
            "\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
            "\"" D1 "\",\"size\":12},\"layers\":[{\"mediaType\":\"a/b\",\"digest\":"
            "\"" D2 "\",\"size\":3},{\"mediaType\":\"c\",\"digest\":\"" D3 "\",\"size\":4}]}";
        struct image_manifest m = {0};
        struct cx_error *err = NULL;
        ok(image_manifest_parse(oci, strlen(oci), "m", &m, &err) == 0, "an OCI manifest parses");
        is_str(m.config_digest, D1, "config digest");
        ok(m.config_size == 12, "config size");
        ok(m.n_layers == 2, "two layers");
        is_str(m.layers[1].digest, D3, "layer order kept (bottom first)");
        is_str(m.layers[0].media_type, "a/b", "layer media type kept as given");
        ok(m.layers[1].size == 4, "layer size");
        image_manifest_clear(&m);
        ok(m.layers == NULL && m.n_layers == 0, "clear empties it");
        image_manifest_clear(NULL);

        const char *docker =
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest."
            "v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+"
            "json\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        ok(image_manifest_parse(docker, strlen(docker), "m", &m, &err) == 0,
           "a Docker schema 2 manifest parses");
        image_manifest_clear(&m);
        const char *bare =
            "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
        ok(image_manifest_parse(bare, strlen(bare), "m", &m, &err) == 0,
           "no mediaType: schemaVersion 2 with config and layers");
        image_manifest_clear(&m);
}

static void test_manifest_refused(void)
{
        _cleanup_free_ char *a = parse_err("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
                                           "\",\"size\":1},\"layers\":[{\"mediaType\":\"x\","
                                           "\"digest\":\"" D2 "\"},{\"mediaType\":\"x\","
                                           "\"digest\":\"" D2 "\"},{\"mediaType\":\"x\","
                                           "\"digest\":\"md5:abc\"}]}");
        is_str(a, "manifest X: layers[2].digest: `md5:abc` is not a sha256 digest",
               "a bad layer digest names its JSON path");
        _cleanup_free_ char *b = parse_err("{\"schemaVersion\":1,\"name\":\"x\"}");
        contains(b, "manifest X: schemaVersion: 1 is not supported", "schema 1 refused");
        _cleanup_free_ char *c = parse_err("{\"schemaVersion\":2,\"mediaType\":\"application/"
                                           "vnd.oci.image.index.v1+json\",\"manifests\":[]}");
        is_str(c, "manifest X: an image index, not a manifest", "an index is not a manifest");
        _cleanup_free_ char *d = parse_err("{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}");
        contains(d, "mediaType: `text/plain` is not an image manifest", "other media type");
        _cleanup_free_ char *e = parse_err("{\"schemaVersion\":2,\"layers\":[]}");
        is_str(e, "manifest X: config: missing", "no config");
        _cleanup_free_ char *f =
            parse_err("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":-1}}");
        is_str(f, "manifest X: config.size: not a byte count", "negative size");
        _cleanup_free_ char *g =
            parse_err("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1}}");
        is_str(g, "manifest X: layers: missing", "no layers");
        _cleanup_free_ char *h = parse_err("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
                                           "\"},\"layers\":[{\"digest\":\"" D2 "\"}]}");
        is_str(h, "manifest X: layers[0].mediaType: missing", "a layer without media type");
        _cleanup_free_ char *i = parse_err("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"app"
                                           "lication/vnd.cncf.helm.config.v1+json\",\"digest\":"
                                           "\"" D1 "\"},\"layers\":[]}");
        contains(i,
                 "config.mediaType: `application/vnd.cncf.helm.config.v1+json` is not an image "
                 "config",
                 "an artifact is not an image");
        _cleanup_free_ char *j = parse_err("[1]");
        is_str(j, "manifest X: expected a JSON object", "not an object");
        _cleanup_free_ char *k = parse_err("{\"schemaVersion\":2,");
        contains(k, "manifest X: invalid JSON", "not JSON");
        _cleanup_free_ char *l = parse_err(
            "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:ABCD\"},\"layers\":[]}");
        contains(l, "config.digest: `sha256:ABCD` is not a sha256 digest", "short digest");
}

static char *select_one(const char *json, int *ret)
{
        char *d = NULL;
        struct cx_error *err = NULL;
        *ret = image_index_select(json, strlen(json), "index X", &d, &err);
        if (*ret < 0) {
                d = xstrdup(err->msg);
                cx_error_free(err);
        }
        return d;
}

static void test_index(void)
{
        const char *host = image_host_arch();
        _cleanup_free_ char *idx = xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
            "\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\","
            "\"architecture\":\"s390x\"}},{\"digest\":\"" D2 "\",\"size\":1,\"platform\":{"
            "\"os\":\"linux\",\"architecture\":\"%s\"}},{\"digest\":\"" D3
            "\",\"size\":1,\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}",
            host);
        int r = 0;
        _cleanup_free_ char *a = select_one(idx, &r);
        ok(r == 0, "an index with this host's platform");
        is_str(a, D2, "its manifest is chosen");

        const char *other = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker."
                            "distribution.manifest.list.v2+json\",\"manifests\":[{\"digest\":"
                            "\"" D1 "\",\"size\":1,\"platform\":{\"os\":\"linux\","
                            "\"architecture\":\"mips64le\"}},{\"digest\":\"" D2 "\",\"size\":1,"
                            "\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}}]}";
        _cleanup_free_ char *b = select_one(other, &r);
        ok(r < 0, "no platform fits");
        contains(b, "index X: no manifest for linux/", "the error names the host's platform");
        contains(b, "the index has linux/mips64le, windows/amd64", "and lists the index's");

        int r2 = 1;
        const char *man = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
        _cleanup_free_ char *c = select_one(man, &r2);
        ok(r2 == 0 && c == NULL, "a manifest is not an index: 0 and no digest");

        const char *bad = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index."
                          "v1+json\",\"manifests\":[{\"digest\":\"sha256:zz\"}]}";
        _cleanup_free_ char *d = select_one(bad, &r);
        contains(d, "index X: manifests[0].digest: `sha256:zz` is not a sha256 digest",
                 "a bad entry names its path");
        ok(strlen(host) > 0, "host arch %s", host);
}

int main(void)
{
        test_manifest_ok();
        test_manifest_refused();
        test_index();
        return tap_done();
}
