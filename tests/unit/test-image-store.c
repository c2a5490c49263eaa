/* image: the store in a temporary directory, with images written by hand (blobs through
 * image_blob_put, layer dirs made here): names, lookup, tag, list, rm, prune, inspect, and the
 * containers that hold an image.  No root needed. */
#include "image/image.h"
#include "tap.h"
#include "util/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

static char root[64];

static void put_file(const char *rel, const char *text)
{
        char *p = xasprintf("%s/%s", root, rel);
        FILE *f = fopen(p, "w");
        if (f) {
                fputs(text, f);
                fclose(f);
        } else {
                printf("# cannot write %s\n", p);
        }
        free(p);
}

static bool exists(const char *rel)
{
        char *p = xasprintf("%s/%s", root, rel);
        bool r = access(p, F_OK) == 0;
        free(p);
        return r;
}

static void mkdir_rel(const char *rel)
{
        char *p = xasprintf("%s/%s", root, rel);
        mkdir_p(p, 0755, NULL);
        free(p);
}

static char *digest_of(const char *s)
{
        char d[IMAGE_DIGEST_LEN + 1];
        image_digest_of(s, strlen(s), d);
        return xstrdup(d);
}

/* A layer dir of the store, size bytes, named by the digest of `seed` */
static char *make_layer(const char *seed, unsigned size)
{
        char *d = digest_of(seed);
        char *rel = xasprintf("layers/sha256/%s/diff", d + 7);
        mkdir_rel(rel);
        free(rel);
        rel = xasprintf("layers/sha256/%s/diff/file", d + 7);
        put_file(rel, seed);
        free(rel);
        rel = xasprintf("layers/sha256/%s/size", d + 7);
        char n[32];
        snprintf(n, sizeof(n), "%u\n", size);
        put_file(rel, n);
        free(rel);
        return d;
}

/* An image of the given layers: config and manifest blobs stored, recorded with name (or
 * none); returns the manifest digest */
static char *make_image(struct image_store *s, const char *tag, char **layers, const char *name,
                        char **ret_config)
{
        char *config = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
                                 "{\"Cmd\":[\"sh\"],\"Env\":[\"A=%s\"]},\"rootfs\":{\"type\":"
                                 "\"layers\",\"diff_ids\":[\"sha256:%064d\"]}}",
                                 tag, 0);
        char *cd = digest_of(config);
        struct cx_error *e = NULL;
        ok(image_blob_put(s, cd, config, strlen(config), &e) == 0, "config blob of %s stored", tag);
        char *ls = xstrdup("");
        for (char **l = layers; *l; l++) {
                char *n = xasprintf("%s%s{\"mediaType\":\"application/vnd.oci.image.layer.v1."
                                    "tar\",\"digest\":\"%s\",\"size\":1}",
                                    ls, l == layers ? "" : ",", *l);
                free(ls);
                ls = n;
        }
        char *m = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/"
                            "vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
                            "\"layers\":[%s]}",
                            cd, strlen(config), ls);
        char *md = digest_of(m);
        ok(image_blob_put(s, md, m, strlen(m), &e) == 0, "manifest blob of %s stored", tag);
        ok(image_tag(s, md, name, &e) == 0, "image %s recorded", tag);
        if (e)
                printf("# %s\n", e->msg);
        cx_error_free(e);
        free(config);
        free(ls);
        free(m);
        if (ret_config)
                *ret_config = cd;
        else
                free(cd);
        return md;
}

static void test_names(void)
{
        struct {
                const char *in, *out;
        } t[] = {
            {"alpine", "alpine:latest"},
            {"alpine:3.19", "alpine:3.19"},
            {"library/alpine", "library/alpine:latest"},
            {"registry.example:5000/library/alpine", "registry.example:5000/library/alpine:latest"},
            {"localhost/x:1", "localhost/x:1"},
            {"localhost:5000/a/b_c-d.e:v1.2-rc_3", "localhost:5000/a/b_c-d.e:v1.2-rc_3"},
            {"Reg.Example/x", "Reg.Example/x:latest"},
            {"alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
             "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
            {"abcd", "abcd:latest"},
        };
        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                char *n = image_name_normalize(t[i].in);
                is_str(n, t[i].out, "name `%s`", t[i].in);
                free(n);
        }
        const char *bad[] = {"",   "Alpine", "alpine:", ":tag",        "a//b",
                             "/a", "a/",     "a:b:c",   "a b",         "-a",
                             "a-", "a:-x",   "a@sha1:", "a@sha256:00", "host:port/x:1x",
                             "a:" /* empty tag */};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char *n = image_name_normalize(bad[i]);
                ok(!n, "`%s` is not a name", bad[i]);
                free(n);
        }
}

static void test_blobs(struct image_store *s)
{
        struct cx_error *e = NULL;
        const char *data = "{\"a\":1}";
        char *d = digest_of(data);
        ok(image_blob_put(s, d, data, strlen(data), &e) == 0, "blob put");
        ok(image_blob_put(s, d, data, strlen(data), &e) == 0, "blob put again: a no-op");
        char *got = NULL;
        size_t len = 0;
        ok(image_blob_get(s, d, &got, &len, &e) == 0 && len == strlen(data) && !strcmp(got, data),
           "blob get");
        free(got);
        got = NULL;
        ok(image_blob_put(s, d, "{\"a\":2}", 7, &e) == -EBADMSG, "content of another digest");
        contains(e ? e->msg : NULL, "has digest sha256:", "the error names the real digest");
        cx_error_free(e);
        e = NULL;
        ok(image_blob_put(s, "sha256:12", "x", 1, &e) == -EINVAL, "a bad digest");
        cx_error_free(e);
        e = NULL;
        char *rel = xasprintf("blobs/sha256/%s", d + 7);
        put_file(rel, "{\"a\":3}");
        ok(image_blob_get(s, d, &got, &len, &e) == -EBADMSG, "a tampered blob is refused");
        contains(e ? e->msg : NULL, "damaged", "the store is said to be damaged");
        cx_error_free(e);
        e = NULL;
        free(rel);
        free(d);
        d = digest_of("nothing");
        ok(image_blob_get(s, d, &got, &len, &e) == -ENOENT, "a missing blob");
        contains(e ? e->msg : NULL, "not in the image store", "missing blob error");
        cx_error_free(e);
        free(d);
}

static void lookup_is(struct image_store *s, const char *ref, const char *manifest)
{
        struct image_info i = {0};
        struct cx_error *e = NULL;
        int r = image_lookup(s, ref, &i, &e);
        ok(r == 0 && !strcmp(i.manifest_digest, manifest), "`%s` finds its image", ref);
        if (e)
                printf("# %s\n", e->msg);
        cx_error_free(e);
        image_info_clear(&i);
}

static void lookup_fails(struct image_store *s, const char *ref, int code, const char *msg)
{
        struct image_info i = {0};
        struct cx_error *e = NULL;
        ok(image_lookup(s, ref, &i, &e) == -code, "`%s` is refused", ref);
        contains(e ? e->msg : NULL, msg, "`%s`: error", ref);
        cx_error_free(e);
        image_info_clear(&i);
}

static void test_lookup(struct image_store *s)
{
        lookup_fails(s, "alpine", ENOENT, "the store has no images");
        char *l1 = make_layer("l1", 100), *l2 = make_layer("l2", 20);
        char *layers_a[] = {l1, l2, NULL}, *layers_b[] = {l1, NULL};
        char *ca, *cb;
        char *a = make_image(s, "a", layers_a, "registry.example:5000/library/alpine:3.19", &ca);
        char *b = make_image(s, "b", layers_b, "other.example/library/alpine:3.19", &cb);
        lookup_is(s, "registry.example:5000/library/alpine:3.19", a);
        lookup_fails(s, "alpine:3.19", EINVAL, "ambiguous");
        lookup_is(s, "registry.example:5000/library/alpine:3.19", a);
        struct cx_error *e = NULL;
        ok(image_tag(s, b, "busybox", &e) == 0, "tag b busybox");
        lookup_is(s, "busybox", b);
        lookup_is(s, "busybox:latest", b);
        lookup_is(s, a, a);
        lookup_is(s, ca, a);
        char prefix[13];
        snprintf(prefix, sizeof(prefix), "%.12s", cb + 7);
        lookup_is(s, prefix, b);
        snprintf(prefix, sizeof(prefix), "%.6s", a + 7);
        lookup_is(s, prefix, a);
        lookup_fails(s, "sha256:1234", EINVAL, "not a sha256 digest");
        lookup_fails(s, "nothere", ENOENT, "`capsa image list` shows them");
        lookup_fails(s, "nothere", ENOENT, "busybox:latest");
        lookup_fails(s, "BAD NAME", EINVAL, "not an image name");

        /* the tail matches only whole components */
        lookup_fails(s, "pine:3.19", ENOENT, "no image `pine:3.19`");

        struct image_info *v = NULL;
        size_t n = 0;
        ok(image_list(s, &v, &n, &e) == 0 && n == 2, "two images listed");
        for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i].manifest_digest, a))
                        ok(v[i].size == 120 && !v[i].in_use, "size of a: its layers'");
        image_info_free(v, n);

        /* tag moves a name */
        ok(image_tag(s, a, "busybox:latest", &e) == 0, "tag a busybox");
        lookup_is(s, "busybox", a);
        ok(image_tag(s, a, "Not Valid", &e) == -EINVAL, "an invalid name is refused");
        contains(e ? e->msg : NULL, "not a valid image name", "tag error");
        cx_error_free(e);
        e = NULL;
        ok(image_tag(s, "sha256:00", "x", &e) == -EINVAL, "tag: a bad digest");
        cx_error_free(e);
        free(l1), free(l2), free(a), free(b), free(ca), free(cb);
}

static int count_dir(const char *rel)
{
        char *p = xasprintf("%s/%s", root, rel);
        int n = 0;
        DIR *d = opendir(p);
        for (struct dirent *de; d && (de = readdir(d));)
                n += de->d_name[0] != '.';
        if (d)
                closedir(d);
        free(p);
        return n;
}

/* A container dir of the store holding image manifest, owned by STATEROOT/ID */
static void make_container(const char *name, const char *manifest, const char *id, bool alive)
{
        char *rel = xasprintf("containers/%s/upper/etc", name);
        mkdir_rel(rel);
        free(rel);
        rel = xasprintf("containers/%s/image", name);
        put_file(rel, manifest);
        free(rel);
        rel = xasprintf("containers/%s/owner", name);
        char *owner = xasprintf("%s/state %s\n", root, id);
        put_file(rel, owner);
        free(owner);
        free(rel);
        if (alive) {
                rel = xasprintf("state/%s", id);
                mkdir_rel(rel);
                free(rel);
        }
}

static void test_remove(const char *dir)
{
        struct image_store s;
        struct cx_error *e = NULL;
        ok(image_store_open(dir, true, &s, &e) == 0, "store opened exclusive");
        char *l1 = make_layer("r1", 1000), *l2 = make_layer("r2", 200), *l3 = make_layer("r3", 30);
        char *la[] = {l1, l2, NULL}, *lb[] = {l1, l3, NULL};
        char *a = make_image(&s, "ra", la, "a:1", NULL);
        char *b = make_image(&s, "rb", lb, "b:1", NULL);
        ok(image_tag(&s, a, "a:2", &e) == 0, "a second name");

        ok(image_remove(&s, "a:1", false, &e) == 0, "rm a name of an image with two");
        lookup_fails(&s, "a:1", ENOENT, "no image `a:1`");
        lookup_is(&s, "a:2", a);

        make_container("c1-x", b, "c1", true);
        ok(image_remove(&s, "b:1", false, &e) == -EBUSY, "rm of an image in use is refused");
        contains(e ? e->msg : NULL, "is used by container `c1`", "the error names the container");
        cx_error_free(e);
        e = NULL;
        ok(image_remove(&s, "a:2", false, &e) == 0, "rm the last name: the image");
        lookup_fails(&s, a, ENOENT, "no image");
        char *rel = xasprintf("layers/sha256/%s", l2 + 7);
        ok(!exists(rel), "its own layer is gone");
        free(rel);
        rel = xasprintf("layers/sha256/%s", l1 + 7);
        ok(exists(rel), "the shared layer stays");
        free(rel);
        rel = xasprintf("blobs/sha256/%s", a + 7);
        ok(!exists(rel), "its manifest is gone");
        free(rel);

        /* prune keeps what a running container uses */
        uint64_t freed = 1;
        ok(image_prune(&s, true, &freed, &e) == 0 && freed == 0, "prune --all: nothing to free");
        lookup_is(&s, "b:1", b);
        ok(image_tag(&s, b, NULL, &e) == 0, "tag NULL: a no-op for a known image");

        /* the container is gone: its dir is an orphan */
        char *st = xasprintf("%s/state/c1", root);
        rmdir(st);
        free(st);
        put_file("tmp/leftover", "x");
        ok(image_prune(&s, false, &freed, &e) == 0, "prune");
        ok(!exists("containers/c1-x") && !exists("tmp/leftover"), "orphan dir and tmp removed");
        lookup_is(&s, "b:1", b);
        ok(image_prune(&s, true, &freed, &e) == 0 && freed >= 1030, "prune --all frees the layers");
        ok(count_dir("layers/sha256") == 0 && count_dir("blobs/sha256") == 0, "store empty");
        lookup_fails(&s, "b:1", ENOENT, "the store has no images");
        image_store_close(&s);

        ok(image_store_open(dir, false, &s, &e) == 0, "store opened shared");
        ok(image_remove(&s, "x", false, &e) == -EINVAL, "rm needs the store exclusive");
        cx_error_free(e);
        e = NULL;
        ok(image_prune(&s, false, &freed, &e) == -EINVAL, "prune needs the store exclusive");
        cx_error_free(e);
        image_store_close(&s);
        free(l1), free(l2), free(l3), free(a), free(b);
}

static void test_inspect(struct image_store *s)
{
        char *l = make_layer("i1", 5);
        char *ls[] = {l, NULL};
        char *cfg;
        char *m = make_image(s, "i", ls, "insp:1", &cfg);
        char *json = NULL;
        struct cx_error *e = NULL;
        ok(image_inspect_json(s, "insp:1", &json, &e) == 0, "inspect");
        struct json_val *v = NULL;
        ok(json && json_parse(json, strlen(json), NULL, &v, &e) == 0, "inspect gives JSON");
        is_str(json_val_str(json_val_get(v, "Id")), cfg, "Id: the config digest");
        is_str(json_val_str(json_val_get(v, "Digest")), m, "Digest: the manifest digest");
        is_str(json_val_str(json_val_at(json_val_get(v, "Names"), 0)), "insp:1", "Names");
        is_str(json_val_str(json_val_get(v, "Os")), "linux", "Os");
        is_str(json_val_str(json_val_at(json_val_get(json_val_get(v, "Config"), "Cmd"), 0)), "sh",
               "Config.Cmd");
        is_str(json_val_str(json_val_at(json_val_get(json_val_get(v, "RootFS"), "Layers"), 0)), l,
               "RootFS.Layers");
        int64_t n = 0;
        ok(json_val_int(json_val_get(v, "Size"), &n) && n == 5, "Size");
        ok(json_val_int(json_val_get(json_val_get(v, "Manifest"), "schemaVersion"), &n) && n == 2,
           "Manifest: the manifest itself");
        const char *added = json_val_str(json_val_get(v, "Added"));
        ok(added && strlen(added) == 20 && added[19] == 'Z', "Added: RFC 3339");
        json_val_free(v);
        free(json);
        free(l), free(m), free(cfg);
}

static void test_open_errors(void)
{
        struct image_store s;
        struct cx_error *e = NULL;
        ok(image_store_open("", false, &s, &e) == -EINVAL, "an empty root");
        cx_error_free(e);
        e = NULL;
        char *f = xasprintf("%s/file", root);
        put_file("file", "x");
        char *sub = xasprintf("%s/file/store", root);
        ok(image_store_open(sub, false, &s, &e) < 0, "a root under a file");
        contains(e ? e->msg : NULL, sub, "the error names the root");
        cx_error_free(e);
        free(sub);
        unlink(f);
        free(f);
}

static void test_lock(const char *dir)
{
        struct image_store s;
        struct cx_error *e = NULL;
        ok(image_store_open(dir, false, &s, &e) == 0, "shared open");
        char *lock = xasprintf("%s/lock", dir);
        int fd = open(lock, O_RDWR | O_CLOEXEC);
        ok(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK,
           "an exclusive lock waits for the shared holder");
        ok(fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) == 0, "a shared one does not");
        image_store_close(&s);
        if (fd >= 0)
                close(fd);
        free(lock);
}

int main(void)
{
        struct cx_error *e = NULL;
        if (image_libs_load(IMAGE_LIB_CRYPTO, &e) < 0) {
                printf("1..0 # SKIP %s\n", e->msg);
                return 0;
        }
        snprintf(root, sizeof(root), "/tmp/capsa-image-store-XXXXXX");
        if (!mkdtemp(root))
                return 1;
        test_names();
        char *dir = xasprintf("%s", root);
        struct image_store s;
        ok(image_store_open(dir, false, &s, &e) == 0, "store made");
        ok(exists("blobs/sha256") && exists("layers/sha256") && exists("containers") &&
               exists("tmp") && exists("lock"),
           "its dirs");
        test_blobs(&s);
        test_lookup(&s);
        test_inspect(&s);
        image_store_close(&s);
        /* a fresh store for removal */
        char *rdir = xasprintf("%s/r", root);
        char saved[64];
        snprintf(saved, sizeof(saved), "%s", root);
        snprintf(root, sizeof(root), "%s", rdir);
        test_remove(rdir);
        test_lock(rdir);
        snprintf(root, sizeof(root), "%s", saved);
        test_open_errors();
        rm_rf_at(AT_FDCWD, root);
        free(rdir);
        free(dir);
        return tap_done();
}
