/* Safe resolution of paths inside a container root (CVE-2021-30465): openat2 with
 * RESOLVE_IN_ROOT, and a component walk that creates what is missing or stands in for openat2
 * on kernels without it.  Neither follows a symlink out of the root. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define MAX_SYMLINKS 40

static bool have_openat2 = true;

static int openat2_in_root(int rootfd, const char *path)
{
        struct open_how how = {
            .flags = O_PATH | O_CLOEXEC,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };

        for (int tries = 0; tries < 16; tries++) {
                int fd = sys_openat2(rootfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno == ENOSYS) {
                        have_openat2 = false;
                        return -ENOSYS;
                }
                if (errno != EAGAIN) /* EAGAIN: a concurrent rename, retry */
                        return -errno;
        }
        return -EAGAIN;
}

/* The directories walked so far: fds[0] is the root (borrowed), the others are owned. */
struct walk {
        int fds[PATH_MAX / 2];
        size_t n;
};

static int walk_top(const struct walk *w)
{
        return w->fds[w->n - 1];
}

static void walk_pop(struct walk *w)
{
        if (w->n > 1)
                close(w->fds[--w->n]);
}

static void walk_release(struct walk *w)
{
        while (w->n > 1)
                walk_pop(w);
}

/* Opens one component below the top of the walk, creating it when asked.  *created: it was
 * made here (its type is known; and everything below it is missing too). */
static int walk_open(struct walk *w, const char *name, bool last, enum ns_create create,
                     bool *created)
{
        int fd = -1;
        if (!*created) {
                fd = openat(walk_top(w), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 || errno != ENOENT || create == NS_CREATE_NONE)
                        return fd >= 0 ? fd : -errno;
        }
        int r = last && create == NS_CREATE_FILE ? mknodat(walk_top(w), name, S_IFREG | 0644, 0)
                                                 : sys_mkdirat(walk_top(w), name, 0755);
        if (r < 0 && errno != EEXIST)
                return -errno;
        *created = r == 0;
        fd = openat(walk_top(w), name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
}

/* Splices a symlink's target in front of what is left of the path. */
static int walk_symlink(struct walk *w, int fd, char **todo, const char *rest)
{
        char target[PATH_MAX];
        ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        if (target[0] == '/')
                walk_release(w);
        char *next = xasprintf("%s/%s", target, rest);
        free(*todo);
        *todo = next;
        return 0;
}

static int walk_path(int rootfd, const char *path, enum ns_create create, int *ret_fd)
{
        struct walk *w = xmalloc(sizeof(*w));
        char *todo = xstrdup(path);
        const char *p = todo;
        int links = 0, r = 0;
        bool created = false;

        w->fds[0] = rootfd;
        w->n = 1;
        for (;;) {
                p += strspn(p, "/");
                if (*p == '\0')
                        break;
                size_t len = strcspn(p, "/");
                char name[NAME_MAX + 1];
                if (len > NAME_MAX) {
                        r = -ENAMETOOLONG;
                        break;
                }
                memcpy(name, p, len);
                name[len] = '\0';
                p += len;
                bool last = p[strspn(p, "/")] == '\0';

                if (strcmp(name, ".") == 0)
                        continue;
                if (strcmp(name, "..") == 0) {
                        walk_pop(w);
                        continue;
                }
                int fd = walk_open(w, name, last, create, &created);
                if (fd < 0) {
                        r = fd;
                        break;
                }
                if (created) {
                        w->fds[w->n++] = fd; /* known: what was just made, in a fresh dir */
                        if (w->n == ARRAY_SIZE(w->fds)) {
                                r = -ENAMETOOLONG;
                                break;
                        }
                        continue;
                }
                struct stat st;
                if (fstatat(fd, "", &st, AT_EMPTY_PATH) < 0) {
                        r = -errno;
                        close(fd);
                        break;
                }
                if (S_ISLNK(st.st_mode)) {
                        r = ++links > MAX_SYMLINKS ? -ELOOP : walk_symlink(w, fd, &todo, p);
                        close(fd);
                        if (r < 0)
                                break;
                        p = todo;
                        continue;
                }
                if ((!last && !S_ISDIR(st.st_mode)) || w->n == ARRAY_SIZE(w->fds)) {
                        r = S_ISDIR(st.st_mode) ? -ENAMETOOLONG : -ENOTDIR;
                        close(fd);
                        break;
                }
                w->fds[w->n++] = fd;
        }
        if (r == 0) {
                if (w->n > 1)
                        *ret_fd = w->fds[--w->n];
                else if ((*ret_fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                        r = -errno;
        }
        walk_release(w);
        free(w);
        free(todo);
        return r;
}

int ns_resolve_in_root(int rootfd, const char *path, enum ns_create create, int *ret_fd,
                       struct cx_error **err)
{
        int r = -ENOSYS;

        if (have_openat2) {
                r = openat2_in_root(rootfd, path);
                if (r >= 0) {
                        *ret_fd = r;
                        return 0;
                }
                if (r != -ENOSYS && (r != -ENOENT || create == NS_CREATE_NONE))
                        return cx_error_set(err, -r, "resolve `%s` in the root", path);
        }
        r = walk_path(rootfd, path, create, ret_fd);
        if (r < 0)
                return cx_error_set(err, -r, "%s `%s` in the root",
                                    create == NS_CREATE_NONE ? "resolve" : "create", path);
        return 0;
}
