/* Removing images, and the garbage they leave: blobs and layers no image (and no container)
 * refers to, ROOT/tmp leftovers, and the dirs of containers that are gone.  Both run with the
 * store locked exclusive: no import adds a layer, and no container is made, meanwhile. */
#include "image/image-internal.h"
#include "util/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

static int need_exclusive(struct image_store *s, const char *what, struct cx_error **err)
{
        if (s->exclusive)
                return 0;
        return cx_error_msg(err, EINVAL, "%s: the image store `%s` must be locked exclusive", what,
                            s->root);
}

/* Bytes of the regular files of a tree, without crossing into another mount */
static uint64_t tree_size(int dirfd, const char *name, dev_t dev)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
                return 0;
        if (!S_ISDIR(st.st_mode))
                return S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        uint64_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n += tree_size(fd, de->d_name, dev);
        closedir(d);
        return n;
}

static dev_t root_dev(struct image_store *s)
{
        struct stat st;
        return fstat(s->root_fd, &st) < 0 ? 0 : st.st_dev;
}

static bool hex64(const char *s)
{
        if (strlen(s) != 64)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

static bool strv_has(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (!strcmp(*v, s))
                        return true;
        return false;
}

/* ---- what is still referred to ------------------------------------------------------------- */

struct refs {
        char **blobs;  /* digests */
        char **layers; /* digests */
};

static void refs_clear(struct refs *r)
{
        strv_free(r->blobs);
        strv_free(r->layers);
}

static void add_once(char ***v, const char *s)
{
        if (!strv_has(*v, s))
                strv_append(v, s);
}

static int refs_add(struct image_store *s, struct refs *refs, const char *manifest,
                    struct cx_error **err)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *config = NULL;
        int r = img_manifest_layers(s, manifest, &layers, &config, err);
        if (r < 0)
                return r;
        add_once(&refs->blobs, manifest);
        add_once(&refs->blobs, config);
        for (char **l = layers; *l; l++)
                add_once(&refs->layers, *l);
        return 0;
}

/* The images of db, and the images of the containers that hold one (normally also in db) */
static int refs_collect(struct image_store *s, const struct img_db *db, const struct img_ctr *c,
                        size_t nc, struct refs *refs, struct cx_error **err)
{
        for (size_t i = 0; i < db->n; i++) {
                int r = refs_add(s, refs, db->v[i].manifest, err);
                if (r < 0)
                        return cx_error_prefix(err, "image %.19s (%s)", db->v[i].config,
                                               db->v[i].names[0] ? db->v[i].names[0] : "no name");
        }
        for (size_t i = 0; i < nc; i++) {
                if (!c[i].image || !img_ctr_holds(&c[i]) || strv_has(refs->blobs, c[i].image))
                        continue;
                int r = refs_add(s, refs, c[i].image, err);
                if (r < 0)
                        return cx_error_prefix(err, "the image of container `%s`",
                                               c[i].id ? c[i].id : c[i].name);
        }
        return 0;
}

/* ---- removal ------------------------------------------------------------------------------- */

/* Entries of ROOT/dir named by 64 hex digits that refs does not hold */
static int gc_dir(struct image_store *s, const char *dir, char *const *keep, bool layers,
                  uint64_t *freed, struct cx_error **err)
{
        int fd = openat(s->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return cx_error_set(err, e, "open `%s/%s`", s->root, dir);
        }
        dev_t dev = root_dev(s);
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!hex64(de->d_name))
                        continue;
                _cleanup_free_ char *digest = xasprintf("sha256:%s", de->d_name);
                if (strv_has(keep, digest))
                        continue;
                uint64_t n = layers ? img_layer_size(s, digest) : 0;
                if (!n)
                        n = tree_size(fd, de->d_name, dev);
                int q = rm_rf_at(fd, de->d_name);
                if (q < 0 && r == 0)
                        r = cx_error_set(err, -q, "remove `%s/%s/%s`", s->root, dir, de->d_name);
                if (q == 0)
                        *freed += n;
        }
        closedir(d);
        return r;
}

static int gc(struct image_store *s, const struct img_db *db, const struct img_ctr *c, size_t nc,
              uint64_t *freed, struct cx_error **err)
{
        struct refs refs = {0};
        int r = refs_collect(s, db, c, nc, &refs, err);
        if (r < 0) {
                refs_clear(&refs);
                return cx_error_prefix(err, "nothing removed from the layers and blobs");
        }
        r = gc_dir(s, "layers/sha256", refs.layers, true, freed, err);
        int q = gc_dir(s, "blobs/sha256", refs.blobs, false, freed, err);
        refs_clear(&refs);
        return r < 0 ? r : q;
}

/* Whether a process holds a flock(2) on a file or dir of ROOT/tmp */
static bool tmp_locked(int dirfd, const char *name)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

/* ROOT/tmp: what nobody holds a flock(2) on is left over from an import that died */
static int prune_tmp(struct image_store *s, uint64_t *freed, struct cx_error **err)
{
        int fd = openat(s->root_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return cx_error_set(err, e, "open `%s/tmp`", s->root);
        }
        dev_t dev = root_dev(s);
        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (tmp_locked(fd, de->d_name))
                        continue; /* in use */
                uint64_t n = tree_size(fd, de->d_name, dev);
                int q = rm_rf_at(fd, de->d_name);
                if (q < 0 && r == 0)
                        r = cx_error_set(err, -q, "remove `%s/tmp/%s`", s->root, de->d_name);
                if (q == 0)
                        *freed += n;
        }
        closedir(d);
        return r;
}

/* A container's rootfs may still be mounted where its runtime died before delete */
static void unmount_rootfs(struct image_store *s, int dirfd, const char *name)
{
        _cleanup_free_ char *rel = xasprintf("%s/rootfs", name);
        struct stat a, b;
        if (fstatat(dirfd, name, &a, AT_SYMLINK_NOFOLLOW) < 0 ||
            fstatat(dirfd, rel, &b, AT_SYMLINK_NOFOLLOW) < 0 || a.st_dev == b.st_dev)
                return;
        _cleanup_free_ char *path = xasprintf("%s/containers/%s", s->root, rel);
        sys_umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
}

/* The dirs of containers that no longer exist */
static int prune_orphans(struct image_store *s, const struct img_ctr *c, size_t nc, uint64_t *freed,
                         struct cx_error **err)
{
        _cleanup_close_ int fd =
            openat(s->root_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s/containers`", s->root);
        dev_t dev = root_dev(s);
        int r = 0;
        for (size_t i = 0; i < nc; i++) {
                if (img_ctr_holds(&c[i]))
                        continue;
                unmount_rootfs(s, fd, c[i].name);
                uint64_t n = tree_size(fd, c[i].name, dev);
                int q = rm_rf_at(fd, c[i].name);
                if (q < 0 && r == 0)
                        r = cx_error_set(err, -q,
                                         "remove the dir of a container that is gone, "
                                         "`%s/containers/%s`",
                                         s->root, c[i].name);
                if (q == 0)
                        *freed += n;
        }
        return r;
}

/* "image 0123456789ab (alpine:latest) is used by container web1 (/run/capsa/web1)" */
static int in_use_error(const struct img_rec *rec, const struct img_ctr *c, size_t nc,
                        struct cx_error **err)
{
        _cleanup_free_ char *list = xstrdup("");
        size_t n = 0;
        for (size_t i = 0; i < nc; i++) {
                if (!c[i].image || !img_ctr_holds(&c[i]) || strcmp(c[i].image, rec->manifest))
                        continue;
                char *l = c[i].alive ? xasprintf("%s%s`%s` (%s)", list, n ? ", " : "",
                                                 c[i].id ? c[i].id : c[i].name,
                                                 c[i].state_dir ? c[i].state_dir : "?")
                                     : xasprintf("%s%s`%s` (being created)", list, n ? ", " : "",
                                                 c[i].id ? c[i].id : c[i].name);
                free(list);
                list = l;
                n++;
        }
        return cx_error_msg(err, EBUSY,
                            "image %.12s (%s) is used by container%s %s: `capsa delete` %s first",
                            rec->config + 7, rec->names[0] ? rec->names[0] : "no name",
                            n == 1 ? "" : "s", list, n == 1 ? "it" : "them");
}

/* The image is gone once its record is: what its layers and blobs leave behind (when another
 * image cannot be read, say) is only a warning, and for prune to collect later */
static void gc_after_remove(struct image_store *s, const struct img_db *db, const struct img_ctr *c,
                            size_t nc)
{
        _cleanup_error_ struct cx_error *e = NULL;
        uint64_t freed = 0;
        if (gc(s, db, c, nc, &freed, &e) < 0)
                log_warn("image rm: %s", e->msg);
}

int image_remove(struct image_store *s, const char *ref, bool force, struct cx_error **err)
{
        int r = need_exclusive(s, "image rm", err);
        if (r < 0)
                return r;
        struct img_db db;
        r = img_db_load(s, true, &db, err);
        if (r < 0)
                return r;
        struct img_ctr *c = NULL;
        size_t nc = 0, k;
        const char *name = NULL;
        r = img_db_find(s, &db, ref, &k, &name, err);
        if (r >= 0)
                r = img_ctrs_scan(s, &c, &nc, err);
        if (r >= 0 && name && !force && strv_len(db.v[k].names) > 1) {
                _cleanup_free_ char *n = xstrdup(name);
                img_names_remove(db.v[k].names, n);
                r = img_db_save(s, &db, err);
        } else if (r >= 0) {
                if (img_ctrs_hold(c, nc, db.v[k].manifest))
                        r = in_use_error(&db.v[k], c, nc, err);
                if (r >= 0) {
                        img_db_drop(&db, k);
                        r = img_db_save(s, &db, err);
                }
                if (r >= 0)
                        gc_after_remove(s, &db, c, nc);
        }
        img_ctrs_free(c, nc);
        img_db_clear(&db);
        return r < 0 ? r : 0;
}

int image_prune(struct image_store *s, bool all, uint64_t *ret_freed, struct cx_error **err)
{
        int r = need_exclusive(s, "image prune", err);
        if (r < 0)
                return r;
        struct img_ctr *c = NULL;
        size_t nc = 0;
        uint64_t freed = 0;
        r = img_ctrs_scan(s, &c, &nc, err);
        if (r < 0)
                return r;
        r = prune_orphans(s, c, nc, &freed, err);
        struct img_db db;
        if (r >= 0)
                r = img_db_load(s, true, &db, err);
        if (r < 0) {
                img_ctrs_free(c, nc);
                return r;
        }
        for (size_t i = db.n; i-- > 0;)
                if (!img_ctrs_hold(c, nc, db.v[i].manifest) && (all || !db.v[i].names[0]))
                        img_db_drop(&db, i);
        r = img_db_save(s, &db, err);
        if (r >= 0)
                r = gc(s, &db, c, nc, &freed, err);
        if (r >= 0)
                r = prune_tmp(s, &freed, err);
        img_ctrs_free(c, nc);
        img_db_clear(&db);
        if (r < 0)
                return r;
        *ret_freed = freed;
        return 0;
}
