/* One layer's tar entries written beneath its directory (layer.c streams the tar).
 *
 * Every path is taken apart into components and walked one directory at a time with
 * O_NOFOLLOW from the layer's own directory, so nothing is ever written outside it: an entry
 * whose path holds `..`, starts with `/` or passes through a symlink (every symlink in the
 * fresh directory is one the layer made) is refused; a hard link must name an entry this layer
 * already holds.  A symlink's target is content and may point anywhere: it is never followed.
 *
 * Whiteouts become overlayfs's own forms: `.wh.NAME` a 0:0 character device NAME (unless this
 * layer has its own NAME: a whiteout only hides the layers below), `.wh..wh..opq` the xattr
 * trusted.overlay.opaque=y on its directory.  Other names that start
 * with `.wh..wh.` are AUFS's bookkeeping (`.wh..wh.plnk`, its hard link directory, and
 * `.wh..wh.aufs`): they, and everything under them, are skipped, as docker and containers/storage
 * do.  The layer may not bring trusted.overlay.* xattrs of its own (they would steer overlayfs:
 * redirects, metacopy).
 *
 * Directories' times are set last (entries written into them change their mtime). */
#include "image/image-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define WH_PREFIX  ".wh."
#define WH_META    ".wh..wh."
#define WH_OPAQUE  ".wh..wh..opq"
#define HOLE_BLOCK 4096

struct dir_time {
        char *path; /* clean, relative to the layer's root ("" for the root) */
        struct timespec ts[2];
};

struct image_unpack {
        int top_fd;         /* the directory that holds `root` */
        const char *root;   /* the layer's tree, a name in top_fd */
        const char *digest; /* for errors */
        int root_fd;
        char *cache_path; /* the last directory walked to, and its fd */
        int cache_fd;
        struct dir_time *dirs;
        size_t n_dirs;
};

struct image_unpack *image_unpack_new(int top_fd, const char *root, const char *digest)
{
        struct image_unpack *u = xcalloc(1, sizeof(*u));
        u->top_fd = top_fd;
        u->root = root;
        u->digest = digest;
        u->root_fd = -1;
        u->cache_fd = -1;
        return u;
}

static void cache_drop(struct image_unpack *u)
{
        free(TAKE_PTR(u->cache_path));
        if (u->cache_fd >= 0)
                close(TAKE_FD(u->cache_fd));
}

void image_unpack_free(struct image_unpack *u)
{
        if (!u)
                return;
        cache_drop(u);
        if (u->root_fd >= 0)
                close(u->root_fd);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
        free(u);
}

_printf_(4, 5) static int refuse(struct image_unpack *u, const char *entry, struct cx_error **err,
                                 const char *fmt, ...)
{
        _cleanup_free_ char *why = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&why, fmt, ap) < 0)
                abort();
        va_end(ap);
        return cx_error_msg(err, EPERM, "layer %s: entry `%s`: %s", u->digest, entry, why);
}

static int fail(struct image_unpack *u, const char *entry, const char *what, struct cx_error **err)
{
        return cx_error_set(err, errno, "layer %s: entry `%s`: %s", u->digest, entry, what);
}

/* "./a//b/./c/" -> "a/b/c"; the root is "".  NULL for an absolute path or one with `..`. */
static char *path_clean(const char *in, const char **why)
{
        if (in[0] == '/') {
                *why = "absolute path";
                return NULL;
        }
        char *out = xmalloc(strlen(in) + 1);
        size_t n = 0;
        for (const char *p = in; *p;) {
                size_t len = strcspn(p, "/");
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        free(out);
                        *why = "`..` leaves the layer";
                        return NULL;
                }
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p += len;
                p += strspn(p, "/");
        }
        out[n] = '\0';
        return out;
}

static int root_fd(struct image_unpack *u, const char *entry, struct cx_error **err)
{
        if (u->root_fd < 0) {
                u->root_fd =
                    openat(u->top_fd, u->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (u->root_fd < 0)
                        return fail(u, entry, "open the layer's directory", err);
        }
        return u->root_fd;
}

/* One component beneath dirfd, as a directory; made (0755, root's) when missing and create. */
static int open_component(struct image_unpack *u, int dirfd, const char *name, bool create,
                          const char *entry, struct cx_error **err)
{
        for (int tries = 0;; tries++) {
                int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        return fd;
                if (errno == ENOENT && create && tries == 0) {
                        if (mkdirat(dirfd, name, 0755) < 0)
                                return fail(u, entry, "make a parent directory", err);
                        continue;
                }
                if (errno == ENOENT)
                        return refuse(u, entry, err, "`%s` does not exist in this layer", name);
                struct stat st;
                if ((errno == ELOOP || errno == ENOTDIR) &&
                    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                        if (S_ISLNK(st.st_mode))
                                return refuse(u, entry, err,
                                              "`%s` is a symlink: nothing is written through one",
                                              name);
                        return refuse(u, entry, err, "`%s` is not a directory", name);
                }
                return fail(u, entry, "open a parent directory", err);
        }
}

/* The directory `path` (clean, relative) beneath the layer's root; a new fd.  Walked one
 * component at a time, never through a symlink. */
static int open_dir(struct image_unpack *u, const char *path, size_t len, bool create,
                    const char *entry, struct cx_error **err)
{
        if (u->cache_path && strlen(u->cache_path) == len && !strncmp(u->cache_path, path, len)) {
                int fd = fcntl(u->cache_fd, F_DUPFD_CLOEXEC, 3);
                return fd < 0 ? fail(u, entry, "dup a directory fd", err) : fd;
        }
        int r = root_fd(u, entry, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = fcntl(r, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return fail(u, entry, "dup a directory fd", err);
        _cleanup_free_ char *copy = strndup(path, len);
        if (!copy)
                abort();
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next = open_component(u, fd, c, create, entry, err);
                if (next < 0)
                        return next;
                close(fd);
                fd = next;
        }
        cache_drop(u);
        u->cache_path = strndup(path, len);
        u->cache_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (!u->cache_path || u->cache_fd < 0)
                cache_drop(u);
        return TAKE_FD(fd);
}

/* Splits a clean path into its parent (opened) and its last component. */
static int open_parent(struct image_unpack *u, const char *path, bool create, const char **ret_base,
                       const char *entry, struct cx_error **err)
{
        const char *slash = strrchr(path, '/');
        *ret_base = slash ? slash + 1 : path;
        return open_dir(u, path, slash ? (size_t)(slash - path) : 0, create, entry, err);
}

/* Clears the way for a new entry `name`: an existing directory stays when a directory comes
 * (the two merge); anything else is removed (a later entry replaces an earlier one). */
static int make_room(struct image_unpack *u, int dirfd, const char *name, bool dir,
                     bool *ret_exists, const char *entry, struct cx_error **err)
{
        struct stat st;
        *ret_exists = false;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : fail(u, entry, "stat the earlier entry", err);
        if (dir && S_ISDIR(st.st_mode)) {
                *ret_exists = true;
                return 0;
        }
        cache_drop(u); /* the cached directory may be the one removed */
        int r = rm_rf_at(dirfd, name);
        if (r < 0) {
                errno = -r;
                return fail(u, entry, "remove the earlier entry", err);
        }
        return 0;
}

static bool all_zero(const char *p, size_t n)
{
        static const char zero[HOLE_BLOCK];
        return n == HOLE_BLOCK && memcmp(p, zero, n) == 0;
}

/* Writes buf at off, leaving holes where whole aligned blocks are zero (the file is new, so
 * a hole reads as the zeros it replaces). */
static int write_holey(int fd, const char *buf, size_t len, off_t off)
{
        size_t i = 0;
        while (i < len) {
                size_t run = 0;
                while (i + run < len) {
                        off_t at = off + (off_t)(i + run);
                        size_t chunk = HOLE_BLOCK - (size_t)(at % HOLE_BLOCK);
                        if (chunk > len - i - run)
                                chunk = len - i - run;
                        if (all_zero(buf + i + run, chunk)) {
                                if (run == 0) {
                                        i += chunk;
                                        continue;
                                }
                                break;
                        }
                        run += chunk;
                }
                for (size_t done = 0; done < run;) {
                        ssize_t n = pwrite(fd, buf + i + done, run - done, off + (off_t)(i + done));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return n < 0 ? -errno : -EIO;
                        done += (size_t)n;
                }
                i += run;
        }
        return 0;
}

/* The entry's data into fd, by blocks: a sparse entry's blocks come with their offsets and
 * the gaps stay holes; the size is set at the end (a trailing hole). */
static int write_data(struct image_unpack *u, struct archive *a, struct archive_entry *e, int fd,
                      const char *entry, struct cx_error **err)
{
        for (;;) {
                const void *buf;
                size_t len;
                la_int64_t off;
                int r = archive_read_data_block(a, &buf, &len, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return cx_error_msg(err, EIO, "layer %s: entry `%s`: %s", u->digest, entry,
                                            archive_error_string(a) ? archive_error_string(a)
                                                                    : "cannot read its data");
                r = write_holey(fd, buf, len, (off_t)off);
                if (r < 0) {
                        errno = -r;
                        return fail(u, entry, "write", err);
                }
        }
        if (ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
                return fail(u, entry, "set its size", err);
        return 0;
}

static int set_xattrs(struct image_unpack *u, int dirfd, const char *name, struct archive_entry *e,
                      const char *entry, struct cx_error **err)
{
        if (archive_entry_xattr_reset(e) == 0)
                return 0;
        _cleanup_free_ char *path = xasprintf("/proc/self/fd/%d/%s", dirfd, name);
        const char *key;
        const void *value;
        size_t size;
        while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
                if (str_has_prefix(key, "trusted.overlay."))
                        return refuse(u, entry, err, "xattr `%s` is overlayfs's own", key);
                if (lsetxattr(path, key, value, size, 0) < 0) {
                        _cleanup_free_ char *what = xasprintf("set xattr `%s`", key);
                        return fail(u, entry, what, err);
                }
        }
        return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
        ts[1].tv_sec = archive_entry_mtime(e);
        ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        ts[0].tv_sec = archive_entry_atime(e);
        ts[0].tv_nsec = archive_entry_atime_nsec(e);
        if (ts[0].tv_sec == 0 && ts[0].tv_nsec == 0)
                ts[0] = ts[1];
}

/* Owner, then mode (chown clears setuid), xattrs and times; a directory's times wait for the
 * end. */
static int set_meta(struct image_unpack *u, int dirfd, const char *name, const char *path,
                    struct archive_entry *e, const char *entry, struct cx_error **err)
{
        mode_t type = archive_entry_filetype(e);
        if (fchownat(dirfd, name, archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) <
            0)
                return fail(u, entry, "set its owner", err);
        if (type != AE_IFLNK && fchmodat(dirfd, name, archive_entry_perm(e) & 07777, 0) < 0)
                return fail(u, entry, "set its mode", err);
        int r = set_xattrs(u, dirfd, name, e, entry, err);
        if (r < 0)
                return r;
        struct timespec ts[2];
        entry_times(e, ts);
        if (type == AE_IFDIR) {
                u->dirs = xrealloc(u->dirs, (u->n_dirs + 1) * sizeof(*u->dirs));
                u->dirs[u->n_dirs].path = xstrdup(path);
                memcpy(u->dirs[u->n_dirs].ts, ts, sizeof(ts));
                u->n_dirs++;
                return 0;
        }
        if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(u, entry, "set its times", err);
        return 0;
}

static int make_file(struct image_unpack *u, struct archive *a, struct archive_entry *e, int dirfd,
                     const char *name, const char *entry, struct cx_error **err)
{
        _cleanup_close_ int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return fail(u, entry, "create", err);
        return write_data(u, a, e, fd, entry, err);
}

/* A hard link to an entry this layer already holds (never a directory). */
static int make_hardlink(struct image_unpack *u, struct archive *a, struct archive_entry *e,
                         int dirfd, const char *name, const char *path, const char *entry,
                         struct cx_error **err)
{
        const char *raw = archive_entry_hardlink(e), *why = NULL;
        _cleanup_free_ char *target = path_clean(raw, &why);
        if (!target)
                return refuse(u, entry, err, "hard link target `%s` leaves the layer", raw);
        if (!*target)
                return refuse(u, entry, err, "hard link to the layer's root `%s`", raw);
        if (!strcmp(target, path))
                return 0; /* a link to itself: nothing to do */
        const char *tname;
        _cleanup_close_ int tdir = open_parent(u, target, false, &tname, entry, err);
        if (tdir < 0)
                return tdir;
        struct stat st;
        if (fstatat(tdir, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT
                           ? refuse(u, entry, err,
                                    "hard link target `%s` does not exist in this layer", raw)
                           : fail(u, entry, "stat its hard link target", err);
        if (S_ISDIR(st.st_mode))
                return refuse(u, entry, err, "hard link target `%s` is a directory", raw);
        bool exists;
        int r = make_room(u, dirfd, name, false, &exists, entry, err);
        if (r < 0)
                return r;
        if (linkat(tdir, tname, dirfd, name, 0) < 0)
                return fail(u, entry, "make the hard link", err);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && S_ISREG(st.st_mode)) {
                /* pax allows data on a hard link: it is the file's (new) content */
                _cleanup_close_ int fd =
                    openat(dirfd, name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return fail(u, entry, "open", err);
                return write_data(u, a, e, fd, entry, err);
        }
        return 0;
}

static int whiteout(struct image_unpack *u, int dirfd, const char *name, const char *entry,
                    struct cx_error **err)
{
        if (!strcmp(name, WH_OPAQUE)) {
                if (fsetxattr(dirfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return fail(u, entry, "set trusted.overlay.opaque on its directory", err);
                return 0;
        }
        if (str_has_prefix(name, WH_META))
                return 0; /* AUFS's own (see the top) */
        const char *hidden = name + strlen(WH_PREFIX);
        if (!*hidden || !strcmp(hidden, ".") || !strcmp(hidden, ".."))
                return refuse(u, entry, err, "whiteout of `%s`", hidden);
        /* An entry of this layer by that name stays: a whiteout hides what the layers below have
         * (OCI image spec, "Whiteouts"), and the entry hides that already. */
        if (mknodat(dirfd, hidden, S_IFCHR | 0, makedev(0, 0)) < 0 && errno != EEXIST)
                return fail(u, entry, "make the whiteout", err);
        return 0;
}

/* Whether a directory on the way to the entry is AUFS's (`.wh..wh.plnk/...`) */
static bool under_aufs_meta(const char *path)
{
        for (const char *p = path, *slash; (slash = strchr(p, '/')); p = slash + 1)
                if (str_has_prefix(p, WH_META))
                        return true;
        return false;
}

static int make_node(struct image_unpack *u, struct archive *a, struct archive_entry *e, int dirfd,
                     const char *name, const char *path, const char *entry, struct cx_error **err)
{
        mode_t type = archive_entry_filetype(e);
        bool exists = false;
        int r = make_room(u, dirfd, name, type == AE_IFDIR, &exists, entry, err);
        if (r < 0)
                return r;
        switch (type) {
        case AE_IFREG:
                r = make_file(u, a, e, dirfd, name, entry, err);
                break;
        case AE_IFDIR:
                r = exists || mkdirat(dirfd, name, 0700) == 0
                        ? 0
                        : fail(u, entry, "make the directory", err);
                break;
        case AE_IFLNK:
                r = symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "", dirfd,
                              name) == 0
                        ? 0
                        : fail(u, entry, "make the symlink", err);
                break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
                r = mknodat(dirfd, name, type | 0600,
                            makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e))) == 0
                        ? 0
                        : fail(u, entry, "make the node", err);
                break;
        default:
                return refuse(u, entry, err,
                              "type 0%o: not a file, directory, link, device or fifo",
                              (unsigned)type);
        }
        if (r < 0)
                return r;
        return set_meta(u, dirfd, name, path, e, entry, err);
}

int image_unpack_entry(struct image_unpack *u, struct archive *a, struct archive_entry *e,
                       struct cx_error **err)
{
        const char *entry = archive_entry_pathname(e), *why = NULL;
        if (!entry)
                return cx_error_msg(err, EPERM, "layer %s: an entry without a path", u->digest);
        _cleanup_free_ char *path = path_clean(entry, &why);
        if (!path)
                return refuse(u, entry, err, "%s", why);
        if (under_aufs_meta(path))
                return 0;
        if (!*path) { /* "./": the layer's root itself */
                if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFDIR)
                        return refuse(u, entry, err, "%s", "the layer's root must be a directory");
                return set_meta(u, u->top_fd, u->root, path, e, entry, err);
        }
        const char *name;
        _cleanup_close_ int dirfd = open_parent(u, path, true, &name, entry, err);
        if (dirfd < 0)
                return dirfd;
        if (str_has_prefix(name, WH_PREFIX))
                return whiteout(u, dirfd, name, entry, err);
        if (archive_entry_hardlink(e))
                return make_hardlink(u, a, e, dirfd, name, path, entry, err);
        return make_node(u, a, e, dirfd, name, path, entry, err);
}

struct du {
        uint64_t bytes;
        ino_t *seen; /* files with several links, counted once */
        size_t n_seen;
};

static bool du_seen(struct du *d, ino_t ino)
{
        for (size_t i = 0; i < d->n_seen; i++)
                if (d->seen[i] == ino)
                        return true;
        d->seen = xrealloc(d->seen, (d->n_seen + 1) * sizeof(*d->seen));
        d->seen[d->n_seen++] = ino;
        return false;
}

/* The bytes of the regular files beneath fd (which it takes). */
static int du_dir(struct du *d, int fd)
{
        DIR *dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return -errno;
        }
        int r = 0;
        for (struct dirent *de; r == 0 && (errno = 0, de = readdir(dir));) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                } else if (S_ISREG(st.st_mode)) {
                        if (st.st_nlink == 1 || !du_seen(d, st.st_ino))
                                d->bytes += (uint64_t)st.st_size;
                } else if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(dir), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        r = sub < 0 ? -errno : du_dir(d, sub);
                }
        }
        if (r == 0 && errno)
                r = -errno;
        closedir(dir);
        return r;
}

/* Directories' times, now that nothing more is written into them; *ret_size: the bytes of the
 * regular files, each counted once (replaced entries and hard links are not). */
int image_unpack_finish(struct image_unpack *u, uint64_t *ret_size, struct cx_error **err)
{
        cache_drop(u);
        for (size_t i = 0; i < u->n_dirs; i++) {
                struct dir_time *d = &u->dirs[i];
                struct cx_error *ignored = NULL;
                _cleanup_close_ int fd =
                    *d->path ? open_dir(u, d->path, strlen(d->path), false, d->path, &ignored)
                             : fcntl(root_fd(u, "./", err), F_DUPFD_CLOEXEC, 3);
                cx_error_free(ignored); /* replaced by a later entry: its times went with it */
                if (fd < 0)
                        continue;
                if (futimens(fd, d->ts) < 0)
                        return fail(u, *d->path ? d->path : "./", "set its times", err);
        }
        struct du d = {0};
        int fd = fcntl(root_fd(u, "./", err), F_DUPFD_CLOEXEC, 3);
        int r = fd < 0 ? -errno : du_dir(&d, fd);
        free(d.seen);
        if (r < 0) {
                errno = -r;
                return cx_error_set(err, errno, "layer %s: measure its size", u->digest);
        }
        *ret_size = d.bytes;
        return 0;
}
