/* Whole-file reads and writes, mkdir -p, recursive removal. */
#include "util/sys.h"
#include "util/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

int read_fd_all(int fd, char **ret, size_t *ret_len)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size > FILE_MAX_SIZE)
                return -EFBIG;
        /* proc, sysfs and cgroupfs files report a size of 0 or 4096 whatever they hold */
        size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, len = 0;
        _cleanup_free_ char *buf = xmalloc(cap);
        for (;;) {
                if (len > FILE_MAX_SIZE)
                        return -EFBIG;
                if (len + 1 >= cap)
                        buf = xrealloc(buf, cap *= 2);
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len, struct cx_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", path);
        int r = read_fd_all(fd, ret, ret_len);
        if (r == -EFBIG)
                return cx_error_msg(err, EFBIG, "`%s`: larger than %d MiB", path,
                                    FILE_MAX_SIZE >> 20);
        return r < 0 ? cx_error_set(err, -r, "read `%s`", path) : 0;
}

int write_all(int fd, const char *data, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                data += n;
                len -= n;
        }
        return 0;
}

int write_file_at(int dirfd, const char *path, const char *data, size_t len, struct cx_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s` for writing", path);
        int r = write_all(fd, data, len);
        if (r < 0)
                return cx_error_set(err, -r, "write `%.*s` to `%s`", (int)(len > 64 ? 64 : len),
                                    data, path);
        return 0;
}

int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len,
                         struct cx_error **err)
{
        _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
        _cleanup_close_ int fd =
            openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "create `%s`", tmp);
        int r = write_all(fd, data, len);
        if (r < 0) {
                sys_unlinkat(dirfd, tmp, 0);
                return cx_error_set(err, -r, "write `%s`", tmp);
        }
        if (sys_renameat(dirfd, tmp, dirfd, path) < 0) {
                r = errno;
                sys_unlinkat(dirfd, tmp, 0);
                return cx_error_set(err, r, "rename `%s` to `%s`", tmp, path);
        }
        return 0;
}

int mkdir_p(const char *path, mode_t mode, struct cx_error **err)
{
        if (sys_mkdirat(AT_FDCWD, path, mode) == 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return cx_error_set(err, errno, "mkdir `%s`", path);
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (sys_mkdirat(AT_FDCWD, p, mode) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "mkdir `%s`", p);
                *s = '/';
        }
        if (sys_mkdirat(AT_FDCWD, p, mode) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "mkdir `%s`", p);
        return 0;
}

int rm_rf_at(int dirfd, const char *name)
{
        if (sys_unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return -errno;
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        struct stat top;
        int r = fstat(fd, &top) < 0 ? -errno : 0;
        struct dirent *de;
        while (r == 0 && (de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode) && st.st_dev != top.st_dev)
                        continue; /* never cross into another mount */
                int q = rm_rf_at(fd, de->d_name);
                if (q < 0)
                        r = q;
        }
        closedir(d);
        if (sys_unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}
