/* net/store: ROOT/networks, the directory of network definitions, leases and published ports,
 * locked with flock(2) while open so that changes to any of them are serialised. */
#include "net/net.h"

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

int net_store_open(const char *root, struct net_store *ret, struct cx_error **err)
{
        int r = mkdir_p(root, 0700, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = xasprintf("%s/networks", root);
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "create `%s`", path);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", path);
        if (flock(fd, LOCK_EX) < 0)
                return cx_error_set(err, errno, "lock `%s`", path);
        *ret = (struct net_store){.fd = TAKE_FD(fd), .root = xstrdup(root)};
        return 0;
}

void net_store_close(struct net_store *s)
{
        if (!s)
                return;
        if (s->fd >= 0)
                close(s->fd); /* drops the lock */
        s->fd = -1;
        free(s->root);
        s->root = NULL;
}

char *net_store_read_owner(int dirfd, const char *name)
{
        char *owner = NULL;
        if (read_file_at(dirfd, name, &owner, NULL, NULL) < 0)
                return NULL;
        owner[strcspn(owner, "\n")] = '\0';
        return owner;
}

int net_store_write_owner(int dirfd, const char *name, const char *owner, bool replace,
                          struct cx_error **err)
{
        _cleanup_close_ int fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "create `%s`", name);
        size_t len = strlen(owner);
        if (write(fd, owner, len) != (ssize_t)len)
                return cx_error_set(err, errno ?: EIO, "write `%s`", name);
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (replace && unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                return cx_error_set(err, errno, "replace `%s`", name);
        if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
                return errno == EEXIST ? -EEXIST : cx_error_set(err, errno, "create `%s`", name);
        return 0;
}

int net_name_validate(const char *name, struct cx_error **err)
{
        const char *what = "network name";
        size_t max = NET_NAME_MAX;
        const char *p = name;
        if (str_has_prefix(name, "tenant-")) {
                /* a tenant's own network: "tenant-" and the tenant's name */
                what = "tenant network name";
                max = NET_TENANT_NAME_MAX;
                p = name + strlen("tenant-");
        }
        bool ok = *p && strlen(name) <= max && strcmp(name, "ports") != 0;
        for (const char *c = p; ok && *c; c++) {
                bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                             (*c >= '0' && *c <= '9');
                ok = alnum || (c != p && (*c == '_' || *c == '.' || *c == '-' ||
                                          (max == NET_TENANT_NAME_MAX && *c == '+')));
        }
        if (ok)
                return 0;
        if (strcmp(name, "ports") == 0)
                return cx_error_msg(err, EINVAL, "network name `ports` is reserved");
        return cx_error_msg(err, EINVAL,
                            "invalid %s `%s`: [A-Za-z0-9] then [A-Za-z0-9_.-], at most %zu "
                            "characters",
                            what, name, max);
}
