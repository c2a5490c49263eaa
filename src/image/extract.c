/* Archives of images (oci-archive, docker-archive) unpacked into a private directory under
 * ROOT/tmp, and files opened beneath a directory without leaving it.
 *
 * An archive holds only what a layout or `docker save` writes: files, directories and (docker's
 * legacy format, for a layer two images share) symlinks.  Every entry is made relative to the
 * directory, walking one component at a time without following symlinks, so an entry can
 * neither leave the directory (`..`, an absolute path) nor write through a symlink an earlier
 * entry made; a symlink's target is only ever followed by image_open_beneath(), which refuses
 * to leave the directory.  Hard links, devices and fifos are refused. */
#include "image/image-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

/* The next component of a relative path (skipping "" and "."); NULL at the end. */
static const char *next_component(const char **p, size_t *ret_len)
{
        const char *s = *p;
        for (;;) {
                while (*s == '/')
                        s++;
                if (!*s)
                        return NULL;
                size_t n = strcspn(s, "/");
                if (n == 1 && s[0] == '.') {
                        s += 1;
                        continue;
                }
                *p = s + n;
                *ret_len = n;
                return s;
        }
}

/* Opens the directory holding path's last component (made when missing if create), walking
 * components with O_NOFOLLOW; *ret_base: the last component (empty for the root itself). */
static int open_parent(int rootfd, const char *path, bool create, int *ret_fd, char **ret_base)
{
        _cleanup_close_ int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        const char *p = path, *c;
        size_t n = 0;
        char *last = NULL;
        if (fd < 0)
                return -errno;
        while ((c = next_component(&p, &n))) {
                char comp[NAME_MAX + 1];
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, c, n);
                comp[n] = 0;
                const char *rest = p;
                size_t m = 0;
                if (!next_component(&rest, &m)) {
                        last = xstrdup(comp);
                        break;
                }
                if (create && mkdirat(fd, comp, 0700) < 0 && errno != EEXIST)
                        return -errno;
                int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd < 0)
                        return -errno;
                close(fd);
                fd = nfd;
        }
        *ret_base = last ? last : xstrdup("");
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Why an entry's path is refused, or NULL. */
static const char *path_refused(const char *path)
{
        if (!path || !*path)
                return "empty path";
        if (path[0] == '/')
                return "absolute path";
        const char *p = path, *c;
        size_t n = 0;
        while ((c = next_component(&p, &n)))
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return "path leaves the archive";
        return NULL;
}

int image_open_beneath(int dirfd, const char *path, bool symlinks, int *ret_fd)
{
        struct open_how how = {
            .flags = O_RDONLY | O_CLOEXEC | (symlinks ? 0 : O_NOFOLLOW),
            .resolve =
                RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (symlinks ? 0 : RESOLVE_NO_SYMLINKS),
        };
        int fd = sys_openat2(dirfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != ENOSYS) {
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        /* before Linux 5.6: a component walk that follows no symlink at all */
        if (path_refused(path))
                return -EXDEV;
        _cleanup_close_ int pfd = -1;
        _cleanup_free_ char *base = NULL;
        int r = open_parent(dirfd, path, false, &pfd, &base);
        if (r < 0)
                return r;
        if (!*base || !strcmp(base, ".."))
                return -EINVAL;
        fd = openat(pfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

static int extract_entry(struct archive *a, struct archive_entry *e, int rootfd, const char *what,
                         struct cx_error **err)
{
        const char *path = archive_entry_pathname(e);
        const char *why = path_refused(path);
        if (why)
                return cx_error_msg(err, EINVAL, "%s: entry `%s`: %s", what, path ? path : "", why);
        mode_t type = archive_entry_filetype(e);
        if (archive_entry_hardlink(e) || (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK))
                return cx_error_msg(err, EINVAL, "%s: entry `%s`: not a file, directory or symlink",
                                    what, path);
        _cleanup_close_ int pfd = -1;
        _cleanup_free_ char *base = NULL;
        int r = open_parent(rootfd, path, true, &pfd, &base);
        if (r == -ENOTDIR)
                return cx_error_msg(err, ENOTDIR,
                                    "%s: entry `%s`: a parent is not a directory (symlinks are "
                                    "not followed)",
                                    what, path);
        if (r < 0)
                return cx_error_set(err, -r, "%s: entry `%s`", what, path);
        if (type == AE_IFDIR) {
                if (*base && mkdirat(pfd, base, 0700) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "%s: entry `%s`", what, path);
                return 0;
        }
        if (!*base)
                return cx_error_msg(err, EINVAL, "%s: entry `%s`: not a directory", what, path);
        if (type == AE_IFLNK) {
                const char *target = archive_entry_symlink(e);
                if (!target || symlinkat(target, pfd, base) < 0)
                        return cx_error_set(err, target ? errno : EINVAL, "%s: entry `%s`", what,
                                            path);
                return 0;
        }
        _cleanup_close_ int fd =
            openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "%s: entry `%s`", what, path);
        if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
                return cx_error_msg(err, EIO, "%s: entry `%s`: %s", what, path,
                                    archive_error_string(a));
        return 0;
}

static int extract_all(int fd, int rootfd, const char *what, struct cx_error **err)
{
        struct archive *a = archive_read_new();
        if (!a)
                abort();
        archive_read_support_format_tar(a);
        archive_read_support_filter_none(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_zstd(a);
        int r = 0;
        if (archive_read_open_fd(a, fd, 1 << 16) != ARCHIVE_OK)
                r = cx_error_msg(err, EINVAL, "%s: not a tar archive: %s", what,
                                 archive_error_string(a));
        for (bool first = true; r == 0; first = false) {
                struct archive_entry *e = NULL;
                int h = archive_read_next_header(a, &e);
                if (h == ARCHIVE_EOF)
                        break;
                if (h != ARCHIVE_OK && h != ARCHIVE_WARN) {
                        const char *msg = archive_error_string(a);
                        r = cx_error_msg(err, EINVAL, "%s: %s%s", what,
                                         first ? "not a tar archive: " : "",
                                         msg ? msg : "unreadable");
                        break;
                }
                r = extract_entry(a, e, rootfd, what, err);
        }
        archive_read_free(a);
        return r;
}

void image_tmp_remove(struct image_store *s, const char *name)
{
        _cleanup_close_ int tmpfd = openat(s->root_fd, "tmp", O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tmpfd >= 0)
                rm_rf_at(tmpfd, name);
}

int image_tmp_make(struct image_store *s, const char *prefix, char **ret_name, int *ret_fd,
                   struct cx_error **err)
{
        if (mkdirat(s->root_fd, "tmp", 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "mkdir `%s/tmp`", s->root);
        _cleanup_free_ char *path = xasprintf("%s/tmp/%s-XXXXXX", s->root, prefix);
        if (!mkdtemp(path))
                return cx_error_set(err, errno, "mkdtemp `%s`", path);
        const char *name = strrchr(path, '/') + 1;
        _cleanup_close_ int tmpfd = openat(s->root_fd, "tmp", O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int fd = tmpfd < 0 ? -1 : openat(tmpfd, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                image_tmp_remove(s, name);
                return cx_error_set(err, e, "open `%s`", path);
        }
        *ret_name = xstrdup(name);
        *ret_fd = fd;
        return 0;
}

const char *image_beneath_strerror(int r)
{
        switch (r) {
        case -ELOOP:
                return "a symlink (not followed)";
        case -EXDEV:
                return "a symlink that leads out of the directory";
        default:
                return strerror(-r);
        }
}

int image_extract_tmp(struct image_store *s, const char *file, const char *what, char **ret_name,
                      int *ret_fd, struct cx_error **err)
{
        _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", file);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return cx_error_set(err, errno, "stat `%s`", file);
        if (!S_ISREG(st.st_mode))
                return cx_error_msg(err, EINVAL, "`%s`: not a regular file", file);
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dfd = -1;
        int r = image_tmp_make(s, what, &name, &dfd, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *label = xasprintf("%s `%s`", what, file);
        if ((r = extract_all(fd, dfd, label, err)) < 0) {
                image_tmp_remove(s, name);
                return r;
        }
        *ret_name = TAKE_PTR(name);
        *ret_fd = TAKE_FD(dfd);
        return 0;
}
