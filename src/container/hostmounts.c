/* The undo of mounts left in a shared mount namespace (namespaces/hostmounts.c).
 *
 * A container without a mount namespace of its own mounts beneath root.path in a namespace
 * that outlives it.  Before the init is cloned, create records in ROOT/ID/host-mounts the
 * inode of that namespace and the ids of the mounts already beneath root.path; delete (also
 * --force after the runtime was killed) and a failed create unmount whatever else is there. */
#include "container/internal.h"
#include "namespaces/namespaces.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define HOST_MOUNTS "host-mounts"

static int target_ns_inode(const struct spec_linux *l, uint64_t *ret, struct cx_error **err)
{
        const char *path = l->ns[SPEC_NS_MOUNT].path;
        if (!path)
                return ns_mnt_ns_inode(ret, err);
        struct stat st;
        if (stat(path, &st) < 0)
                return cx_error_set(err, errno, "linux.namespaces: stat mount namespace `%s`",
                                    path);
        *ret = st.st_ino;
        return 0;
}

int container_host_mounts_record(struct state_dir *d, const struct spec *s, struct cx_error **err)
{
        if (!ns_shares_mount_ns(&s->linux_))
                return 0;
        uint64_t ino;
        int r = target_ns_inode(&s->linux_, &ino, err);
        if (r < 0)
                return r;
        char root[PATH_MAX];
        if (!realpath(s->root.path, root))
                return cx_error_set(err, errno, "root.path: `%s`", s->root.path);
        _cleanup_free_ uint64_t *ids = NULL;
        size_t n = 0;
        if ((r = ns_mounts_beneath(root, &ids, &n, err)) < 0)
                return r;
        _cleanup_free_ char *text = xasprintf("%llu\n", (unsigned long long)ino);
        for (size_t i = 0; i < n; i++) {
                char *t = xasprintf("%s%llu\n", text, (unsigned long long)ids[i]);
                free(text);
                text = t;
        }
        return write_file_atomic_at(d->fd, HOST_MOUNTS, text, strlen(text), err);
}

int container_host_mounts_undo(struct state_dir *d, const char *rootfs, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        int r = read_file_at(d->fd, HOST_MOUNTS, &text, NULL, NULL);
        if (r < 0)
                return 0; /* a mount namespace of its own, or killed before the record */
        uint64_t ns = strtoull(text, NULL, 10), now;
        if ((r = ns_mnt_ns_inode(&now, err)) < 0)
                return r;
        if (ns != now) {
                log_warn("container `%s` shares mount namespace %llu: run delete in it to "
                         "remove the mounts it left beneath `%s`",
                         d->id, (unsigned long long)ns, rootfs);
                return 0;
        }
        _cleanup_free_ uint64_t *keep = NULL;
        size_t n = 0;
        for (char *l = strchr(text, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
                keep = xrealloc(keep, (n + 1) * sizeof(*keep));
                keep[n++] = strtoull(l + 1, NULL, 10);
        }
        char root[PATH_MAX];
        if (!rootfs || !realpath(rootfs, root))
                return 0; /* the rootfs is gone, and what was mounted on it with it */
        r = ns_unmount_beneath(root, keep, n, err);
        return r < 0 ? cx_error_prefix(err, "container `%s`", d->id) : 0;
}
