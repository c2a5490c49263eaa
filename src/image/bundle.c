/* The bundle of a container made from an image: ROOT/containers/ID-NONCE holds the reference to
 * the image (`image`, `owner`), the config.json made from the image's config, the rootfs/ mount
 * point and the overlay's upper/ and work/ dirs.  The container layer mounts the overlay
 * (namespaces/overlay.c) and its undo record releases the dir on delete. */
#include "image/image-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

void image_bundle_clear(struct image_bundle *b)
{
        if (!b)
                return;
        free(b->dir);
        strv_free(b->lowers);
        free(b->upper);
        free(b->work);
        free(b->manifest_digest);
        closep(&b->ref_lock_fd);
        *b = (struct image_bundle){.ref_lock_fd = -1};
}

/* The layers of an image, bottom first, each checked to be in the store. */
static int image_layers(struct image_store *s, const struct image_manifest *m, char ***ret,
                        struct cx_error **err)
{
        _cleanup_strv_ char **v = xcalloc(m->n_layers + 1, sizeof(char *));
        for (size_t i = 0; i < m->n_layers; i++) {
                if (!image_layer_has(s, m->layers[i].digest))
                        return cx_error_msg(err, ENOENT,
                                            "layer %s of the image is missing from %s (run "
                                            "`capsa image prune` and import it again)",
                                            m->layers[i].digest, s->root);
                v[i] = image_layer_path(s, m->layers[i].digest);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

int image_load(struct image_store *s, const char *ref, struct image_bundle *b, char **ret_config,
               size_t *ret_len, struct cx_error **err)
{
        _cleanup_(image_manifest_clear) struct image_manifest m = {0};
        _cleanup_free_ char *manifest = NULL, *digest = NULL;
        size_t len = 0;
        int r = image_resolve(s, ref, &digest, err);
        if (r < 0 || (r = image_blob_get(s, digest, &manifest, &len, err)) < 0 ||
            (r = image_manifest_parse(manifest, len, digest, &m, err)) < 0 ||
            (r = image_layers(s, &m, &b->lowers, err)) < 0 ||
            (r = image_blob_get(s, m.config_digest, ret_config, ret_len, err)) < 0)
                return r;
        b->n_lowers = m.n_layers;
        b->manifest_digest = TAKE_PTR(digest);
        return 0;
}

static char *container_dir_name(const char *id)
{
        uint8_t nonce[4] = {0};
        if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce))
                abort();
        return xasprintf("%s-%02x%02x%02x%02x", id, nonce[0], nonce[1], nonce[2], nonce[3]);
}

/* A new file in the new (locked) dir: no temporary copy needed */
static int put_file(int dirfd, const char *name, const char *data, struct cx_error **err)
{
        _cleanup_close_ int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return cx_error_set(err, errno, "create `%s`", name);
        int r = write_all(fd, data, strlen(data));
        return r < 0 ? cx_error_set(err, -r, "write `%s`", name) : 0;
}

static int make_dirs(int dirfd, const char *manifest, const char *owner, const char *config,
                     struct cx_error **err)
{
        static const char *const dirs[] = {"rootfs", "upper", "work"};
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
                if (mkdirat(dirfd, dirs[i], 0755) < 0)
                        return cx_error_set(err, errno, "mkdir `%s`", dirs[i]);
        int r = put_file(dirfd, "image", manifest, err);
        if (r >= 0)
                r = put_file(dirfd, "owner", owner, err);
        if (r >= 0)
                r = put_file(dirfd, "config.json", config, err);
        return r;
}

static int make_container_dir(struct image_store *s, const struct image_run_opts *o,
                              const char *state_root, struct image_bundle *b,
                              const char *config_json, struct cx_error **err)
{
        char abs_root[PATH_MAX];
        int r = mkdir_p(state_root, 0700, err); /* create would make it next */
        if (r < 0)
                return r;
        if (!realpath(state_root, abs_root))
                return cx_error_set(err, errno, "state root `%s`", state_root);
        _cleanup_free_ char *name = container_dir_name(o->id);
        _cleanup_free_ char *rel = xasprintf("containers/%s", name);
        _cleanup_free_ char *owner = xasprintf("%s %s\n", abs_root, o->id);
        /* A container in a user namespace (a tenant's) reaches its rootfs mount point as the
         * namespace's root, an unprivileged host uid: the path must be searchable (not
         * listable) for it. */
        if (fchmod(s->root_fd, 0711) < 0 || fchmodat(s->root_fd, "containers", 0711, 0) < 0)
                return cx_error_set(err, errno, "chmod `%s`", s->root);
        if (mkdirat(s->root_fd, rel, 0711) < 0)
                return cx_error_set(err, errno, "mkdir `%s/%s`", s->root, rel);
        b->dir = xasprintf("%s/%s", s->root, rel);
        _cleanup_close_ int fd = openat(s->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = fd < 0 ? cx_error_set(err, errno, "open `%s`", b->dir)
                   : make_dirs(fd, b->manifest_digest, owner, config_json, err);
        if (r < 0) {
                rm_rf_at(s->root_fd, rel);
                return cx_error_prefix(err, "container dir `%s`", b->dir);
        }
        if (flock(fd, LOCK_EX) < 0) {
                r = cx_error_set(err, errno, "lock `%s`", b->dir);
                rm_rf_at(s->root_fd, rel);
                return r;
        }
        b->ref_lock_fd = TAKE_FD(fd);
        b->upper = xasprintf("%s/upper", b->dir);
        b->work = xasprintf("%s/work", b->dir);
        return 0;
}

int image_open_config(const char *image_root, const char *ref, const struct image_run_opts *o,
                      struct image_store *s, struct image_bundle *b, char **ret_json,
                      struct cx_error **err)
{
        _cleanup_free_ char *config = NULL;
        size_t len = 0;
        int r = image_store_open(image_root, false, s, err);
        if (r < 0)
                return r;
        s->trust_reads = true;
        if ((r = image_load(s, ref, b, &config, &len, err)) < 0 ||
            (r = image_config_json(config, len, b->lowers, b->n_lowers, o, ret_json, err)) < 0)
                image_store_close(s);
        return r;
}

int image_bundle_make(const char *image_root, const char *ref, const char *state_root,
                      const struct image_run_opts *o, struct image_bundle *ret,
                      struct cx_error **err)
{
        _cleanup_(image_bundle_clear) struct image_bundle b = {.ref_lock_fd = -1};
        struct image_store s = {.root_fd = -1, .lock_fd = -1};
        _cleanup_free_ char *config_json = NULL;
        int r = image_open_config(image_root, ref, o, &s, &b, &config_json, err);
        if (r < 0)
                return cx_error_prefix(err, "--image %s", ref);
        r = make_container_dir(&s, o, state_root, &b, config_json, err);
        if (r >= 0) {
                *ret = b;
                b = (struct image_bundle){.ref_lock_fd = -1};
        }
        image_store_close(&s);
        return r < 0 ? cx_error_prefix(err, "--image %s", ref) : 0;
}

int image_bundle_release(const char *dir, struct cx_error **err)
{
        const char *slash = strrchr(dir, '/');
        if (dir[0] != '/' || !slash || !strstr(dir, "/containers/"))
                return cx_error_msg(err, EINVAL, "`%s` is not a container dir of an image store",
                                    dir);
        _cleanup_free_ char *parent = strndup(dir, (size_t)(slash - dir));
        _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
                return errno == ENOENT ? 0 : cx_error_set(err, errno, "open `%s`", parent);
        int r = rm_rf_at(pfd, slash + 1);
        if (r < 0)
                return cx_error_set(err, -r, "remove `%s`", dir);
        return 0;
}
