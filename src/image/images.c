/* The images of the store: ROOT/images.json, names, lookup, list and tag.
 *
 * images.json: {"images": [{"manifest": DIGEST, "config": DIGEST, "names": [NAME...],
 * "added": SECONDS}...]}.  A name is held by one image at most. */
#include "image/image-internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>

#define DB_FILE "images.json"
#define DB_LOCK "images.lock"

/* ---- images.json --------------------------------------------------------------------------- */

static void rec_clear(struct img_rec *r)
{
        free(r->manifest);
        free(r->config);
        strv_free(r->names);
        *r = (struct img_rec){0};
}

void img_db_clear(struct img_db *db)
{
        for (size_t i = 0; i < db->n; i++)
                rec_clear(&db->v[i]);
        free(db->v);
        if (db->lock_fd >= 0)
                close(db->lock_fd);
        *db = (struct img_db){.lock_fd = -1};
}

void img_db_drop(struct img_db *db, size_t i)
{
        rec_clear(&db->v[i]);
        memmove(&db->v[i], &db->v[i + 1], (db->n - i - 1) * sizeof(db->v[0]));
        db->n--;
}

static int rec_parse(const struct json_val *o, size_t i, struct img_rec *r, struct cx_error **err)
{
        const char *m = json_val_str(json_val_get(o, "manifest"));
        const char *c = json_val_str(json_val_get(o, "config"));
        const struct json_val *names = json_val_get(o, "names");
        if (!image_digest_valid(m))
                return cx_error_msg(err, EINVAL, "images[%zu].manifest: not a sha256 digest", i);
        if (!image_digest_valid(c))
                return cx_error_msg(err, EINVAL, "images[%zu].config: not a sha256 digest", i);
        if (names && json_val_type(names) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "images[%zu].names: not an array", i);
        if (!json_val_int(json_val_get(o, "added"), &r->added))
                return cx_error_msg(err, EINVAL, "images[%zu].added: not an integer", i);
        r->manifest = xstrdup(m);
        r->config = xstrdup(c);
        r->names = xcalloc(1, sizeof(char *));
        for (size_t j = 0; j < json_val_len(names); j++) {
                const char *n = json_val_str(json_val_at(names, j));
                if (!n)
                        return cx_error_msg(err, EINVAL, "images[%zu].names[%zu]: not a string", i,
                                            j);
                strv_append(&r->names, n);
        }
        return 0;
}

static int db_parse(const char *json, size_t len, struct img_db *db, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        int r = json_parse(json, len, NULL, &root, err);
        if (r < 0)
                return r;
        const struct json_val *v = json_val_get(root, "images");
        if (json_val_type(v) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "images: not an array");
        db->v = xcalloc(json_val_len(v) + 1, sizeof(db->v[0]));
        for (size_t i = 0; i < json_val_len(v); i++) {
                r = rec_parse(json_val_at(v, i), i, &db->v[db->n], err);
                if (r < 0) {
                        rec_clear(&db->v[db->n]);
                        return r;
                }
                db->n++;
        }
        return 0;
}

int img_db_load(struct image_store *s, bool write, struct img_db *ret, struct cx_error **err)
{
        struct img_db db = {.lock_fd = -1};
        if (write) {
                int r = img_lock_file(s, DB_LOCK, LOCK_EX, &db.lock_fd, err);
                if (r < 0)
                        return r;
        }
        _cleanup_free_ char *json = NULL;
        size_t len = 0;
        _cleanup_close_ int fd = openat(s->root_fd, DB_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int r = fd < 0 ? -errno : read_fd_all(fd, &json, &len);
        if (r == -ENOENT) {
                *ret = db;
                return 0;
        }
        if (r < 0) {
                img_db_clear(&db);
                return cx_error_set(err, -r, "read `%s/%s`", s->root, DB_FILE);
        }
        r = db_parse(json, len, &db, err);
        if (r < 0) {
                img_db_clear(&db);
                return cx_error_prefix(err, "`%s/%s`", s->root, DB_FILE);
        }
        *ret = db;
        return 0;
}

int img_db_save(struct image_store *s, const struct img_db *db, struct cx_error **err)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_arr_open(w, "images");
        for (size_t i = 0; i < db->n; i++) {
                const struct img_rec *r = &db->v[i];
                json_w_obj_open(w);
                json_w_key_str(w, "manifest", r->manifest);
                json_w_key_str(w, "config", r->config);
                json_w_key_strv(w, "names", (const char *const *)r->names, strv_len(r->names));
                json_w_key_int(w, "added", r->added);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_obj_close(w);
        _cleanup_free_ char *out = json_w_finish(w, true);
        return img_write_atomic(s, DB_FILE, out, strlen(out), err);
}

/* ---- names --------------------------------------------------------------------------------- */

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A registry host: a domain (letters, digits, '-', '.') with an optional :PORT */
static bool host_valid(const char *s, size_t len)
{
        size_t i = 0;
        for (; i < len && s[i] != ':'; i++)
                if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.')
                        return false;
        if (i == 0)
                return false;
        if (i == len)
                return true;
        if (i + 1 == len)
                return false;
        for (i++; i < len; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* A repository path component: lowercase letters and digits, separated by '.', '_', '-' */
static bool component_valid(const char *s, size_t len)
{
        if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_lower_alnum(s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

/* The first component is a host when it has a '.' or a ':' or is "localhost" (as docker). */
static bool repo_valid(const char *s, size_t len)
{
        if (len == 0 || len > 255)
                return false;
        const char *end = s + len;
        for (bool first = true; s < end; first = false) {
                const char *slash = memchr(s, '/', (size_t)(end - s));
                size_t n = slash ? (size_t)(slash - s) : (size_t)(end - s);
                bool host = first && slash &&
                            (memchr(s, '.', n) || memchr(s, ':', n) ||
                             (n == 9 && memcmp(s, "localhost", 9) == 0));
                if (!(host ? host_valid(s, n) : component_valid(s, n)))
                        return false;
                if (slash && slash + 1 == end)
                        return false;
                s += n + (slash ? 1 : 0);
        }
        return true;
}

static bool tag_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128 || !(is_alnum(t[0]) || t[0] == '_'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(t[i]) && !strchr("_.-", t[i]))
                        return false;
        return true;
}

char *image_name_normalize(const char *name)
{
        if (!name)
                return NULL;
        const char *at = strchr(name, '@');
        if (at && !image_digest_valid(at + 1))
                return NULL;
        size_t len = at ? (size_t)(at - name) : strlen(name);
        const char *slash = memrchr(name, '/', len);
        const char *colon =
            memrchr(slash ? slash : name, ':', len - (size_t)(slash ? slash - name : 0));
        size_t repo_len = colon ? (size_t)(colon - name) : len;
        if (!repo_valid(name, repo_len))
                return NULL;
        if (colon) {
                _cleanup_free_ char *tag = strndup(colon + 1, len - repo_len - 1);
                if (!tag || !tag_valid(tag))
                        return NULL;
        }
        if (colon || at) /* a tag, or a digest-only reference: kept as it is */
                return xstrdup(name);
        return xasprintf("%s:latest", name);
}

/* ---- lookup -------------------------------------------------------------------------------- */

static bool hex_prefix(const char *s)
{
        size_t n = strlen(s);
        if (n < 4 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* stored ends with "/" + ref: ref names its last path components */
static bool name_tail_matches(const char *stored, const char *ref)
{
        size_t a = strlen(stored), b = strlen(ref);
        return a > b && stored[a - b - 1] == '/' && strcmp(stored + a - b, ref) == 0;
}

static const char *rec_label(const struct img_rec *r, char buf[64])
{
        snprintf(buf, 64, "%.12s (%s)", r->config + 7, r->names[0] ? r->names[0] : "no name");
        return buf;
}

/* The matches of one rule: unique, none, or an error listing the images that match. */
static int pick(const struct img_db *db, const bool *hit, const char *ref, size_t *ret,
                struct cx_error **err)
{
        size_t n = 0, first = 0;
        for (size_t i = 0; i < db->n; i++)
                if (hit[i] && n++ == 0)
                        first = i;
        if (n == 0)
                return 0;
        if (n == 1) {
                *ret = first;
                return 1;
        }
        _cleanup_free_ char *list = xstrdup("");
        for (size_t i = 0, k = 0; i < db->n; i++) {
                if (!hit[i])
                        continue;
                char buf[64];
                char *l = xasprintf("%s%s%s", list, k++ ? ", " : "", rec_label(&db->v[i], buf));
                free(list);
                list = l;
        }
        return cx_error_msg(err, EINVAL, "image `%s` is ambiguous: it matches %zu images: %s", ref,
                            n, list);
}

static int not_found(struct image_store *s, const struct img_db *db, const char *ref,
                     struct cx_error **err)
{
        if (db->n == 0)
                return cx_error_msg(err, ENOENT,
                                    "no image `%s` in `%s`: the store has no images (`capsa "
                                    "image import` or `capsa image pull` adds one)",
                                    ref, s->root);
        _cleanup_free_ char *list = xstrdup("");
        size_t shown = 0, names = 0;
        for (size_t i = 0; i < db->n; i++) {
                for (char **n = db->v[i].names; *n; n++, names++) {
                        if (shown == 8)
                                continue;
                        char *l = xasprintf("%s%s%s", list, shown++ ? ", " : "", *n);
                        free(list);
                        list = l;
                }
        }
        if (names == 0)
                return cx_error_msg(err, ENOENT,
                                    "no image `%s` in `%s` (it has %zu images without names); "
                                    "`capsa image list` shows them",
                                    ref, s->root, db->n);
        return cx_error_msg(err, ENOENT,
                            "no image `%s` in `%s` (it has %s%s); `capsa image list` "
                            "shows them",
                            ref, s->root, list, names > shown ? ", ..." : "");
}

/* A rule: hit[i] set for each record i that matches */
typedef bool (*match_fn)(const struct img_rec *r, const char *key, const char **ret_name);

static int find_by(const struct img_db *db, match_fn m, const char *key, const char *ref,
                   size_t *ret_index, const char **ret_name, struct cx_error **err)
{
        _cleanup_free_ bool *hit = xcalloc(db->n + 1, sizeof(bool));
        _cleanup_free_ const char **names = xcalloc(db->n + 1, sizeof(char *));
        for (size_t i = 0; i < db->n; i++)
                hit[i] = m(&db->v[i], key, &names[i]);
        int r = pick(db, hit, ref, ret_index, err);
        if (r > 0)
                *ret_name = names[*ret_index];
        return r;
}

static bool match_digest(const struct img_rec *r, const char *d, const char **ret_name)
{
        return !strcmp(r->manifest, d) || !strcmp(r->config, d);
}

static bool match_name(const struct img_rec *r, const char *name, const char **ret_name)
{
        for (char **n = r->names; *n; n++)
                if (!strcmp(*n, name)) {
                        *ret_name = *n;
                        return true;
                }
        return false;
}

static bool match_name_tail(const struct img_rec *r, const char *name, const char **ret_name)
{
        for (char **n = r->names; *n; n++)
                if (name_tail_matches(*n, name)) {
                        *ret_name = *n;
                        return true;
                }
        return false;
}

static bool match_manifest(const struct img_rec *r, const char *d, const char **ret_name)
{
        return !strcmp(r->manifest, d);
}

static bool match_prefix(const struct img_rec *r, const char *hex, const char **ret_name)
{
        return str_has_prefix(r->config + 7, hex) || str_has_prefix(r->manifest + 7, hex);
}

int img_db_find(struct image_store *s, const struct img_db *db, const char *ref, size_t *ret_index,
                const char **ret_name, struct cx_error **err)
{
        const char *unused;
        if (!ret_name)
                ret_name = &unused;
        *ret_name = NULL;
        if (str_has_prefix(ref, "sha256:")) {
                if (!image_digest_valid(ref))
                        return cx_error_msg(err, EINVAL, "image `%s`: not a sha256 digest", ref);
                int r = find_by(db, match_digest, ref, ref, ret_index, ret_name, err);
                return r == 0 ? not_found(s, db, ref, err) : r < 0 ? r : 0;
        }
        _cleanup_free_ char *name = image_name_normalize(ref);
        if (!name && !hex_prefix(ref))
                return cx_error_msg(err, EINVAL, "`%s` is not an image name, a digest or an ID",
                                    ref);
        int r = 0;
        if (name)
                r = find_by(db, match_name, name, ref, ret_index, ret_name, err);
        if (name && r == 0)
                r = find_by(db, match_name_tail, name, ref, ret_index, ret_name, err);
        if (name && r == 0 && strchr(name, '@')) /* REPO@DIGEST: the image of that manifest */
                r = find_by(db, match_manifest, strchr(name, '@') + 1, ref, ret_index, ret_name,
                            err);
        if (r == 0 && hex_prefix(ref))
                r = find_by(db, match_prefix, ref, ref, ret_index, ret_name, err);
        if (r == 0)
                return not_found(s, db, ref, err);
        return r < 0 ? r : 0;
}

/* ---- records as image_info ----------------------------------------------------------------- */

void image_info_clear(struct image_info *i)
{
        if (!i)
                return;
        free(i->manifest_digest);
        free(i->config_digest);
        strv_free(i->names);
        *i = (struct image_info){0};
}

void image_info_free(struct image_info *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                image_info_clear(&v[i]);
        free(v);
}

/* TODO(merge): image_manifest_parse (manifest.c, the import helper's) replaces this reading of
 * config.digest and layers[].digest once it is merged. */
static int manifest_digests(const char *data, size_t len, const char *name, char ***ret_layers,
                            char **ret_config, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        int r = json_parse(data, len, name, &root, err);
        if (r < 0)
                return r;
        const char *config = json_val_str(json_val_get(json_val_get(root, "config"), "digest"));
        if (!image_digest_valid(config))
                return cx_error_msg(err, EINVAL, "manifest %s: config.digest: not a sha256 digest",
                                    name);
        const struct json_val *layers = json_val_get(root, "layers");
        if (json_val_type(layers) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "manifest %s: layers: not an array", name);
        _cleanup_strv_ char **v = xcalloc(json_val_len(layers) + 1, sizeof(char *));
        for (size_t i = 0; i < json_val_len(layers); i++) {
                const char *d = json_val_str(json_val_get(json_val_at(layers, i), "digest"));
                if (!image_digest_valid(d))
                        return cx_error_msg(err, EINVAL,
                                            "manifest %s: layers[%zu].digest: not a sha256 digest",
                                            name, i);
                v[i] = xstrdup(d);
        }
        if (ret_config)
                *ret_config = xstrdup(config);
        *ret_layers = TAKE_PTR(v);
        return 0;
}

int img_manifest_layers(struct image_store *s, const char *digest, char ***ret_layers,
                        char **ret_config, struct cx_error **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r = image_blob_get(s, digest, &data, &len, err);
        if (r < 0)
                return r;
        return manifest_digests(data, len, digest, ret_layers, ret_config, err);
}

uint64_t img_layer_size(struct image_store *s, const char *digest)
{
        _cleanup_free_ char *path = xasprintf("layers/sha256/%s/size", digest + 7);
        _cleanup_free_ char *text = NULL;
        uint64_t n = 0;
        _cleanup_close_ int fd = openat(s->root_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || read_fd_all(fd, &text, NULL) < 0)
                return 0;
        text[strcspn(text, "\n")] = '\0';
        return parse_u64(text, &n) < 0 ? 0 : n;
}

bool img_ctrs_hold(const struct img_ctr *c, size_t n, const char *manifest)
{
        for (size_t i = 0; i < n; i++)
                if (c[i].image && img_ctr_holds(&c[i]) && !strcmp(c[i].image, manifest))
                        return true;
        return false;
}

/* The record as image_info, with its size (from its manifest: 0 when that cannot be read) and
 * whether a container holds it */
static void rec_info(struct image_store *s, const struct img_rec *r, const struct img_ctr *c,
                     size_t nc, struct image_info *ret)
{
        *ret = (struct image_info){.manifest_digest = xstrdup(r->manifest),
                                   .config_digest = xstrdup(r->config),
                                   .names = strv_dup(r->names),
                                   .added = r->added,
                                   .in_use = img_ctrs_hold(c, nc, r->manifest)};
        _cleanup_strv_ char **layers = NULL;
        _cleanup_error_ struct cx_error *e = NULL;
        if (img_manifest_layers(s, r->manifest, &layers, NULL, &e) < 0)
                return;
        for (char **l = layers; *l; l++)
                ret->size += img_layer_size(s, *l);
}

int image_resolve(struct image_store *s, const char *ref, char **ret_manifest,
                  struct cx_error **err)
{
        struct img_db db;
        size_t i;
        int r = img_db_load(s, false, &db, err);
        if (r < 0)
                return r;
        if ((r = img_db_find(s, &db, ref, &i, NULL, err)) >= 0)
                *ret_manifest = xstrdup(db.v[i].manifest);
        img_db_clear(&db);
        return r < 0 ? r : 0;
}

int image_lookup(struct image_store *s, const char *ref, struct image_info *ret,
                 struct cx_error **err)
{
        struct img_db db;
        int r = img_db_load(s, false, &db, err);
        if (r < 0)
                return r;
        size_t i;
        struct img_ctr *c = NULL;
        size_t nc = 0;
        r = img_db_find(s, &db, ref, &i, NULL, err);
        if (r >= 0)
                r = img_ctrs_scan(s, &c, &nc, err);
        if (r >= 0)
                rec_info(s, &db.v[i], c, nc, ret);
        img_ctrs_free(c, nc);
        img_db_clear(&db);
        return r < 0 ? r : 0;
}

static int info_cmp(const void *a, const void *b)
{
        const struct image_info *x = a, *y = b;
        if (x->added != y->added)
                return x->added > y->added ? -1 : 1;
        return strcmp(x->config_digest, y->config_digest);
}

int image_list(struct image_store *s, struct image_info **ret, size_t *ret_n, struct cx_error **err)
{
        struct img_db db;
        int r = img_db_load(s, false, &db, err);
        if (r < 0)
                return r;
        struct img_ctr *c = NULL;
        size_t nc = 0;
        r = img_ctrs_scan(s, &c, &nc, err);
        if (r < 0) {
                img_db_clear(&db);
                return r;
        }
        struct image_info *v = xcalloc(db.n + 1, sizeof(*v));
        for (size_t i = 0; i < db.n; i++)
                rec_info(s, &db.v[i], c, nc, &v[i]);
        qsort(v, db.n, sizeof(*v), info_cmp); /* newest first */
        *ret = v;
        *ret_n = db.n;
        img_ctrs_free(c, nc);
        img_db_clear(&db);
        return 0;
}

/* ---- tag ----------------------------------------------------------------------------------- */

void img_names_remove(char **names, const char *name)
{
        char **out = names;
        for (char **n = names; *n; n++) {
                if (!strcmp(*n, name))
                        free(*n);
                else
                        *out++ = *n;
        }
        *out = NULL;
}

/* A record for the manifest `digest`, whose blob must be in the store */
static int rec_new(struct image_store *s, struct img_db *db, const char *digest,
                   struct cx_error **err)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *config = NULL;
        int r = img_manifest_layers(s, digest, &layers, &config, err);
        if (r < 0)
                return r;
        db->v = xrealloc(db->v, (db->n + 1) * sizeof(db->v[0]));
        db->v[db->n++] = (struct img_rec){.manifest = xstrdup(digest),
                                          .config = TAKE_PTR(config),
                                          .names = xcalloc(1, sizeof(char *)),
                                          .added = (int64_t)time(NULL)};
        return 0;
}

int image_tag(struct image_store *s, const char *manifest_digest, const char *name,
              struct cx_error **err)
{
        if (!image_digest_valid(manifest_digest))
                return cx_error_msg(err, EINVAL, "image `%s`: not a sha256 digest",
                                    manifest_digest);
        _cleanup_free_ char *norm = name ? image_name_normalize(name) : NULL;
        if (name && !norm)
                return cx_error_msg(err, EINVAL,
                                    "`%s` is not a valid image name ([HOST[:PORT]/]REPO[:TAG], "
                                    "the repository in lowercase)",
                                    name);
        struct img_db db;
        int r = img_db_load(s, true, &db, err);
        if (r < 0)
                return r;
        size_t k = 0;
        while (k < db.n && strcmp(db.v[k].manifest, manifest_digest) != 0)
                k++;
        if (k == db.n)
                r = rec_new(s, &db, manifest_digest, err);
        for (size_t i = 0; r >= 0 && norm && i < db.n; i++)
                img_names_remove(db.v[i].names, norm);
        if (r >= 0 && norm)
                strv_append(&db.v[k].names, norm);
        if (r >= 0)
                r = img_db_save(s, &db, err);
        img_db_clear(&db);
        return r < 0 ? cx_error_prefix(err, "tag image %s", manifest_digest) : 0;
}
