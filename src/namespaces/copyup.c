/* The `tmpcopyup` mount option (runc and crun extension; podman sets it on every `--tmpfs`):
 * a tmpfs mounted over a directory of the image starts with a copy of that directory's
 * contents.  The source is the directory beneath the new mount, reached through an fd opened
 * before mounting; every step is relative to a directory fd with O_NOFOLLOW, so a symlink in
 * the image cannot lead the copy outside the container's root. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define COPYUP_MAX_DEPTH 128

static int copy_tree(int src, int dst, const char *rel, int depth, struct cx_error **err);

static int copy_file(int src, int dst, const char *name, const struct stat *st,
                     struct cx_error **err)
{
        _cleanup_close_ int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
                return cx_error_set(err, errno, "open `%s`", name);
        _cleanup_close_ int out =
            openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return cx_error_set(err, errno, "create `%s`", name);
        for (off_t left = st->st_size; left > 0;) {
                ssize_t n = sendfile(out, in, NULL, left > (1 << 30) ? (1 << 30) : (size_t)left);
                if (n < 0)
                        return cx_error_set(err, errno, "copy `%s`", name);
                if (n == 0)
                        break; /* the file shrank */
                left -= n;
        }
        return 0;
}

static int copy_entry(int src, int dst, const char *rel, const char *name, int depth,
                      struct cx_error **err)
{
        struct stat st;
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "stat `%s/%s`", rel, name);

        int r = 0;
        if (S_ISDIR(st.st_mode)) {
                if (sys_mkdirat(dst, name, 0700) < 0) /* final mode set below, after the copy */
                        return cx_error_set(err, errno, "mkdir `%s/%s`", rel, name);
                _cleanup_close_ int s =
                    openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                _cleanup_close_ int d =
                    openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (s < 0 || d < 0)
                        return cx_error_set(err, errno, "open directory `%s/%s`", rel, name);
                _cleanup_free_ char *sub = xasprintf("%s/%s", rel, name);
                r = copy_tree(s, d, sub, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
                r = copy_file(src, dst, name, &st, err);
        } else if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(src, name, target, sizeof(target) - 1);
                if (n < 0)
                        return cx_error_set(err, errno, "readlink `%s/%s`", rel, name);
                target[n] = '\0';
                if (symlinkat(target, dst, name) < 0)
                        r = cx_error_set(err, errno, "symlink `%s/%s`", rel, name);
        } else if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0) {
                r = cx_error_set(err, errno, "mknod `%s/%s`", rel, name);
        }
        if (r < 0)
                return r;
        if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "chown `%s/%s`", rel, name);
        /* chown clears set-id bits: put the mode back */
        if (!S_ISLNK(st.st_mode) && fchmodat(dst, name, st.st_mode & 07777, 0) < 0)
                return cx_error_set(err, errno, "chmod `%s/%s`", rel, name);
        return 0;
}

static int copy_tree(int src, int dst, const char *rel, int depth, struct cx_error **err)
{
        if (depth > COPYUP_MAX_DEPTH)
                return cx_error_msg(err, ELOOP, "`%s`: deeper than %d directories", rel,
                                    COPYUP_MAX_DEPTH);
        int fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return cx_error_set(err, errno, "dup");
        DIR *d = fdopendir(fd);
        if (!d) {
                int e = errno;
                close(fd);
                return cx_error_set(err, e, "opendir `%s`", rel);
        }
        int r = 0;
        struct dirent *de;
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                r = copy_entry(src, dst, rel, de->d_name, depth, err);
        }
        if (r >= 0 && errno != 0)
                r = cx_error_set(err, errno, "readdir `%s`", rel);
        closedir(d);
        return r;
}

int ns_copyup(int src_dirfd, int dst_dirfd, bool set_root, struct cx_error **err)
{
        struct stat st;
        if (fstat(src_dirfd, &st) < 0)
                return cx_error_set(err, errno, "stat");
        int r = copy_tree(src_dirfd, dst_dirfd, ".", 0, err);
        if (r < 0)
                return cx_error_prefix(err, "tmpcopyup");
        if (set_root && fchmod(dst_dirfd, st.st_mode & 07777) < 0)
                return cx_error_set(err, errno, "tmpcopyup: set the mode of the tmpfs root");
        return 0;
}
