/* Importing from an OCI image layout (`oci:DIR[:REF]`) or a tar of one (`oci-archive:FILE[:REF]`),
 * and image_import(), which dispatches on the transport prefix.
 *
 * A layout: DIR/oci-layout ({"imageLayoutVersion": "1.x"}), DIR/index.json (descriptors, each
 * maybe annotated with org.opencontainers.image.ref.name), DIR/blobs/sha256/HEX.  The image is
 * the index.json entry whose ref.name is REF, or the only entry when no REF is given; an entry
 * that is an index (several platforms) is resolved to this host's manifest.  Blobs are opened
 * beneath DIR without following any symlink, and each is checked against its digest.
 *
 * The image's name: the NAME given; else the ref.name when it is a name itself ("repo:tag",
 * "host/repo..."); else, for a bare tag ("latest", "3.19", which is what skopeo writes), the
 * DIR's or FILE's last path component (without .tar) as the repository: `oci:/tmp/alpine:3.19`
 * is "alpine:3.19".  When that component is not a valid repository name, the image has no name
 * (refer to it by its ID); so has an image whose ref.name is not a valid name. */
#include "image/image-internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define REF_ANNOTATION "org.opencontainers.image.ref.name"

struct layout {
        int dirfd;
        const char *what; /* "oci layout `DIR`" */
};

static int layout_open_blob(void *data, const char *digest, const char *media_type _unused_,
                            int *ret_fd, uint64_t *ret_size, struct cx_error **err)
{
        const struct layout *l = data;
        if (!image_digest_valid(digest))
                return cx_error_msg(err, EINVAL, "%s: `%s` is not a sha256 digest", l->what,
                                    digest);
        _cleanup_free_ char *path = xasprintf("blobs/sha256/%s", digest + 7);
        _cleanup_close_ int fd = -1;
        int r = image_open_beneath(l->dirfd, path, false, &fd);
        if (r == -ENOENT)
                return cx_error_msg(err, ENOENT, "%s: blob %s is missing (no %s)", l->what, digest,
                                    path);
        if (r < 0)
                return cx_error_msg(err, -r, "%s: blob %s: %s: %s", l->what, digest, path,
                                    image_beneath_strerror(r));
        struct stat st;
        if (fstat(fd, &st) < 0)
                return cx_error_set(err, errno, "%s: blob %s", l->what, digest);
        if (!S_ISREG(st.st_mode))
                return cx_error_msg(err, EINVAL, "%s: blob %s: not a regular file", l->what,
                                    digest);
        *ret_size = (uint64_t)st.st_size;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A JSON file of the layout itself (oci-layout, index.json). */
static int read_layout_file(const struct layout *l, const char *file, struct json_val **ret,
                            struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ char *label = xasprintf("%s: %s", l->what, file);
        size_t len = 0;
        int r = image_open_beneath(l->dirfd, file, false, &fd);
        if (r == -ENOENT)
                return cx_error_msg(err, ENOENT, "%s: not an OCI image layout (no %s)", l->what,
                                    file);
        if (r < 0)
                return cx_error_msg(err, -r, "%s: %s", label, image_beneath_strerror(r));
        if ((r = read_fd_all(fd, &data, &len)) < 0)
                return cx_error_set(err, -r, "%s", label);
        return json_parse(data, len, label, ret, err);
}

static int check_layout_version(const struct layout *l, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        int r = read_layout_file(l, "oci-layout", &v, err);
        if (r < 0)
                return r;
        const char *ver = json_val_str(json_val_get(v, "imageLayoutVersion"));
        if (!ver)
                return cx_error_msg(err, EINVAL, "%s: oci-layout: imageLayoutVersion: missing",
                                    l->what);
        if (strncmp(ver, "1.", 2) != 0)
                return cx_error_msg(err, EINVAL,
                                    "%s: oci-layout: imageLayoutVersion `%s` is not supported "
                                    "(1.x)",
                                    l->what, ver);
        return 0;
}

static const char *entry_ref(const struct json_val *e)
{
        return json_val_str(json_val_get(json_val_get(e, "annotations"), REF_ANNOTATION));
}

static char *list_refs(const struct json_val *ms)
{
        char *out = NULL;
        for (size_t i = 0; i < json_val_len(ms); i++) {
                const char *ref = entry_ref(json_val_at(ms, i));
                char *old = out;
                out = xasprintf("%s%s%s", old ? old : "", old ? ", " : "", ref ? ref : "(none)");
                free(old);
        }
        return out ? out : xstrdup("none");
}

/* The index.json entry for ref (NULL: the only one): its digest and ref.name. */
static int pick_entry(const struct layout *l, const struct json_val *idx, const char *ref,
                      char **ret_digest, char **ret_ref, struct cx_error **err)
{
        const struct json_val *ms = json_val_get(idx, "manifests");
        if (json_val_type(ms) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: index.json: manifests: %s", l->what,
                                    ms ? "expected an array" : "missing");
        const struct json_val *found = NULL;
        size_t n = 0;
        for (size_t i = 0; i < json_val_len(ms); i++) {
                const char *r = entry_ref(json_val_at(ms, i));
                if (!ref || (r && !strcmp(r, ref))) {
                        found = json_val_at(ms, i);
                        n++;
                }
        }
        _cleanup_free_ char *refs = list_refs(ms);
        if (n == 0 && ref)
                return cx_error_msg(err, ENOENT, "%s: no image `%s` (the layout has: %s)", l->what,
                                    ref, refs);
        if (n == 0)
                return cx_error_msg(err, ENOENT, "%s: the layout holds no image", l->what);
        if (n > 1 && ref)
                return cx_error_msg(err, EINVAL, "%s: %zu images are named `%s`", l->what, n, ref);
        if (n > 1)
                return cx_error_msg(err, EINVAL,
                                    "%s: holds %zu images; name one as oci:DIR:REF (refs: %s)",
                                    l->what, n, refs);
        const char *dg = json_val_str(json_val_get(found, "digest"));
        if (!image_digest_valid(dg))
                return cx_error_msg(err, EINVAL,
                                    "%s: index.json: image `%s`: digest: not a "
                                    "sha256 digest",
                                    l->what, ref ? ref : "");
        *ret_digest = xstrdup(dg);
        *ret_ref = entry_ref(found) ? xstrdup(entry_ref(found)) : NULL;
        return 0;
}

/* Follows indexes from digest down to this host's manifest (at most a few levels). */
static int resolve_manifest(const struct layout *l, char **digest, char **ret, size_t *ret_len,
                            struct cx_error **err)
{
        for (int depth = 0; depth < 4; depth++) {
                _cleanup_close_ int fd = -1;
                _cleanup_free_ char *data = NULL, *next = NULL;
                _cleanup_free_ char *name = xasprintf("%s: %s", l->what, *digest);
                size_t len = 0;
                uint64_t size = 0;
                int r = layout_open_blob((void *)l, *digest, NULL, &fd, &size, err);
                if (r < 0 ||
                    (r = image_read_verified(fd, "manifest", *digest, &data, &len, err)) < 0 ||
                    (r = image_index_select(data, len, name, &next, err)) < 0)
                        return r;
                if (!next) {
                        *ret = TAKE_PTR(data);
                        *ret_len = len;
                        return 0;
                }
                free(*digest);
                *digest = TAKE_PTR(next);
        }
        return cx_error_msg(err, ELOOP, "%s: indexes nested more than 4 deep", l->what);
}

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9], with '.', '_' or '-' inside: a repository's path component */
static bool repo_component_valid(const char *s, size_t n)
{
        if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!lower_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static char *name_for(const char *origin, const char *ref)
{
        if (!ref)
                return NULL;
        if (strpbrk(ref, ":/"))
                return xstrdup(ref);
        if (!origin)
                return NULL;
        size_t end = strlen(origin);
        while (end > 1 && origin[end - 1] == '/')
                end--;
        size_t start = end;
        while (start > 0 && origin[start - 1] != '/')
                start--;
        size_t n = end - start;
        if (n > 4 && !strncmp(origin + end - 4, ".tar", 4))
                n -= 4;
        if (!repo_component_valid(origin + start, n))
                return NULL;
        return xasprintf("%.*s:%s", (int)n, origin + start, ref);
}

int image_oci_layout_import(struct image_store *s, int dirfd, const char *what, const char *origin,
                            const char *ref, const char *name, struct image_progress *p,
                            char **ret_digest, struct cx_error **err)
{
        struct layout l = {dirfd, what};
        _cleanup_(json_val_freep) struct json_val *idx = NULL;
        _cleanup_free_ char *digest = NULL, *found_ref = NULL, *manifest = NULL, *auto_name = NULL;
        size_t len = 0;
        int r = check_layout_version(&l, err);
        if (r < 0 || (r = read_layout_file(&l, "index.json", &idx, err)) < 0 ||
            (r = pick_entry(&l, idx, ref, &digest, &found_ref, err)) < 0 ||
            (r = resolve_manifest(&l, &digest, &manifest, &len, err)) < 0)
                return r;
        if (!name) {
                auto_name = name_for(origin, found_ref);
                _cleanup_free_ char *norm = auto_name ? image_name_normalize(auto_name) : NULL;
                name = norm ? auto_name : NULL; /* a ref.name that is no valid name: none */
        }
        struct image_source src = {.data = &l, .open_blob = layout_open_blob};
        if ((r = image_ingest(s, digest, manifest, len, name, &src, p, err)) < 0)
                return r;
        *ret_digest = TAKE_PTR(digest);
        return 0;
}

/* ---- the sources ------------------------------------------------------------------------- */

/* "PATH[:REF]" split at the first ':' (as skopeo does: a PATH cannot hold one) */
static void split_ref(const char *arg, char **ret_path, char **ret_ref)
{
        const char *c = strchr(arg, ':');
        *ret_path = c ? strndup(arg, (size_t)(c - arg)) : xstrdup(arg);
        if (!*ret_path)
                abort();
        *ret_ref = c && c[1] ? xstrdup(c + 1) : NULL;
}

static int import_oci_dir(struct image_store *s, const char *arg, const char *name,
                          struct image_progress *p, char **ret_digest, struct cx_error **err)
{
        _cleanup_free_ char *dir = NULL, *ref = NULL, *what = NULL;
        split_ref(arg, &dir, &ref);
        if (!*dir)
                return cx_error_msg(err, EINVAL, "oci:DIR[:REF]: no DIR");
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "oci layout `%s`", dir);
        what = xasprintf("oci layout `%s`", dir);
        return image_oci_layout_import(s, fd, what, dir, ref, name, p, ret_digest, err);
}

static int import_oci_archive(struct image_store *s, const char *arg, const char *name,
                              struct image_progress *p, char **ret_digest, struct cx_error **err)
{
        _cleanup_free_ char *file = NULL, *ref = NULL, *what = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -1;
        split_ref(arg, &file, &ref);
        if (!*file)
                return cx_error_msg(err, EINVAL, "oci-archive:FILE[:REF]: no FILE");
        int r = image_extract_tmp(s, file, "oci-archive", &tmp, &fd, err);
        if (r < 0)
                return r;
        what = xasprintf("oci-archive `%s`", file);
        r = image_oci_layout_import(s, fd, what, file, ref, name, p, ret_digest, err);
        image_tmp_remove(s, tmp);
        return r;
}

static int import_source(struct image_store *s, const char *source, const char *name,
                         struct image_progress *p, char **ret_digest, struct cx_error **err)
{
        _cleanup_free_ char *file = NULL, *ref = NULL;
        if (str_has_prefix(source, "oci:"))
                return import_oci_dir(s, source + 4, name, p, ret_digest, err);
        if (str_has_prefix(source, "oci-archive:"))
                return import_oci_archive(s, source + 12, name, p, ret_digest, err);
        if (str_has_prefix(source, "docker-archive:")) {
                split_ref(source + 15, &file, &ref);
                if (!*file)
                        return cx_error_msg(err, EINVAL, "docker-archive:FILE[:REF]: no FILE");
                return image_docker_archive_import(s, file, ref, name, p, ret_digest, err);
        }
        if (str_has_prefix(source, "docker://"))
                return cx_error_msg(err, EINVAL,
                                    "`%s`: a registry image: use `capsa image pull %s`", source,
                                    source + 9);
        return cx_error_msg(err, EINVAL,
                            "`%s`: unknown source (oci:DIR[:REF], oci-archive:FILE[:REF], "
                            "docker-archive:FILE[:REF])",
                            source);
}

int image_import(const char *root, const char *source, const char *name,
                 const struct image_fetch_opts *o, char **ret_digest, struct cx_error **err)
{
        struct image_store s = {.root_fd = -1, .lock_fd = -1};
        int r = image_libs_load(IMAGE_LIB_CRYPTO | IMAGE_LIB_ARCHIVE, err);
        if (r < 0 || (r = image_store_open(root, false, &s, err)) < 0)
                return r;
        struct image_progress *p = image_progress_new(o && o->quiet);
        r = import_source(&s, source, name, p, ret_digest, err);
        image_progress_free(p);
        image_store_close(&s);
        return r;
}
