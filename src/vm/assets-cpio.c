/* vm/assets: a newc ("070701") cpio writer, the format the kernel unpacks into its initramfs.
 * Uncompressed on purpose: decompressing in the guest costs more under TCG than reading the
 * bytes.  Every entry is owned by root with mtime 0 (the archive depends only on its inputs);
 * names carry no leading slash; each name is written once, its parents before it (the kernel's
 * unpacker creates no missing parent directory). */
#include "vm/assets-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/sendfile.h>

/* symlinks followed while adding one host path, as the kernel's own limit */
#define SYMLINKS_MAX 40

void cpio_done(struct cpio *c)
{
        strv_free(c->names);
        c->names = NULL;
}

static bool seen(struct cpio *c, const char *name)
{
        for (char **n = c->names; n && *n; n++)
                if (strcmp(*n, name) == 0)
                        return true;
        return false;
}

static int pad(struct cpio *c)
{
        static const char zeros[4];
        size_t n = (4 - (c->off & 3)) & 3;
        c->off += n;
        return write_all(c->fd, zeros, n);
}

static int header(struct cpio *c, const char *name, mode_t mode, uint64_t size,
                  struct cx_error **err)
{
        if (size > UINT32_MAX)
                return cx_error_msg(err, EFBIG, "`%s`: %s is too large for a cpio archive", c->path,
                                    name);
        /* magic, ino, mode, uid, gid, nlink, mtime, size, dev and rdev (major, minor), the
         * name's size and a checksum (unused in newc): 110 bytes */
        char h[128];
        snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                 ++c->ino, (unsigned)mode, 0, 0, S_ISDIR(mode) ? 2 : 1, 0, (unsigned)size, 0, 0, 0,
                 0, (unsigned)strlen(name) + 1, 0);
        int r = write_all(c->fd, h, 110);
        if (r >= 0)
                r = write_all(c->fd, name, strlen(name) + 1);
        c->off += 110 + strlen(name) + 1;
        if (r >= 0)
                r = pad(c);
        return r < 0 ? cx_error_set(err, -r, "write `%s`", c->path) : 0;
}

/* Starts an entry (its missing parents first, as directories); 0 if the name is already in. */
static int entry(struct cpio *c, const char *path, mode_t mode, uint64_t size,
                 struct cx_error **err)
{
        while (*path == '/')
                path++;
        if (seen(c, path))
                return 0;
        for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
                _cleanup_free_ char *parent = strndup(path, (size_t)(s - path));
                if (!seen(c, parent)) {
                        int r = header(c, parent, S_IFDIR | 0755, 0, err);
                        if (r < 0)
                                return r;
                        strv_append(&c->names, parent);
                }
        }
        int r = header(c, path, mode, size, err);
        if (r < 0)
                return r;
        strv_append(&c->names, path);
        return 1;
}

int cpio_dir(struct cpio *c, const char *name, struct cx_error **err)
{
        return entry(c, name, S_IFDIR | (strcmp(name, "tmp") == 0 ? 01777 : 0755), 0, err);
}

static int data_end(struct cpio *c, int r, struct cx_error **err)
{
        if (r >= 0)
                r = pad(c);
        return r < 0 ? cx_error_set(err, -r, "write `%s`", c->path) : 0;
}

int cpio_data(struct cpio *c, const char *name, const char *data, struct cx_error **err)
{
        size_t len = strlen(data);
        int r = entry(c, name, S_IFREG | 0644, len, err);
        if (r <= 0)
                return r;
        c->off += len;
        return data_end(c, write_all(c->fd, data, len), err);
}

int cpio_symlink(struct cpio *c, const char *name, const char *target, struct cx_error **err)
{
        size_t len = strlen(target);
        int r = entry(c, name, S_IFLNK | 0777, len, err);
        if (r <= 0)
                return r;
        c->off += len;
        return data_end(c, write_all(c->fd, target, len), err);
}

int cpio_file(struct cpio *c, const char *name, mode_t mode, int src, uint64_t size,
              struct cx_error **err)
{
        int r = entry(c, name, S_IFREG | (mode & 07777), size, err);
        if (r <= 0)
                return r;
        off_t off = 0;
        while ((uint64_t)off < size) {
                ssize_t n = sendfile(c->fd, src, &off, size - (uint64_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return cx_error_set(err, n < 0 ? errno : EIO, "copy `%s` into `%s`", name,
                                            c->path);
        }
        c->off += size;
        return data_end(c, 0, err);
}

static int host_path(struct cpio *c, const char *path, int links, struct cx_error **err)
{
        if (links > SYMLINKS_MAX)
                return cx_error_msg(err, ELOOP, "`%s`: too many symlinks", path);
        _cleanup_free_ char *cur = xstrdup(""); /* the host path resolved so far */
        for (const char *p = path; *p;) {
                while (*p == '/')
                        p++;
                size_t len = strcspn(p, "/");
                const char *rest = p + len;
                if (len == 0 || (len == 1 && p[0] == '.')) {
                        p = rest;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        /* cur holds no symlink: going up is going up on the host too */
                        char *slash = strrchr(cur, '/');
                        if (slash)
                                *slash = '\0';
                        p = rest;
                        continue;
                }
                _cleanup_free_ char *next = xasprintf("%s/%.*s", cur, (int)len, p);
                struct stat st;
                if (lstat(next, &st) < 0)
                        return cx_error_set(err, errno, "`%s`", next);
                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t n = readlink(next, target, sizeof(target) - 1);
                        if (n < 0)
                                return cx_error_set(err, errno, "readlink `%s`", next);
                        target[n] = '\0';
                        int r = cpio_symlink(c, next, target, err);
                        if (r < 0)
                                return r;
                        _cleanup_free_ char *resolved =
                            target[0] == '/' ? xasprintf("%s%s", target, rest)
                                             : xasprintf("%s/%s%s", cur, target, rest);
                        return host_path(c, resolved, links + 1, err);
                }
                if (S_ISDIR(st.st_mode)) {
                        int r = entry(c, next, S_IFDIR | (st.st_mode & 07777), 0, err);
                        if (r < 0)
                                return r;
                } else if (S_ISREG(st.st_mode) && !*rest) {
                        _cleanup_close_ int fd = open(next, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                return cx_error_set(err, errno, "`%s`", next);
                        return cpio_file(c, next, st.st_mode, fd, (uint64_t)st.st_size, err);
                } else
                        return cx_error_msg(err, EINVAL, "`%s`: not a file, directory or symlink",
                                            next);
                free(cur);
                cur = TAKE_PTR(next);
                p = rest;
        }
        return 0;
}

int cpio_host_path(struct cpio *c, const char *path, struct cx_error **err)
{
        return host_path(c, path, 0, err);
}

int cpio_trailer(struct cpio *c, struct cx_error **err)
{
        int r = header(c, "TRAILER!!!", 0, 0, err);
        if (r < 0)
                return r;
        /* the kernel reads archives in 512-byte blocks; another archive may follow this one */
        static const char zeros[512];
        size_t n = (512 - (c->off & 511)) & 511;
        c->off += n;
        r = write_all(c->fd, zeros, n);
        return r < 0 ? cx_error_set(err, -r, "write `%s`", c->path) : 0;
}
