/* /dev inside the container: the default nodes (null, zero, full, random, urandom, tty),
 * linux.devices, /dev/ptmx -> pts/ptmx and the /proc/self/fd symlinks, as runc.  Nodes are
 * made with mknod; in a user namespace (or when mknod is refused) the host's node is
 * bind-mounted onto an empty file instead. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct node {
        const char *path; /* absolute, as on the host */
        mode_t type;      /* S_IFCHR, S_IFBLK, S_IFIFO */
        unsigned major, minor;
        mode_t mode;
        uid_t uid;
        gid_t gid;
};

static const struct node default_nodes[] = {
    {"/dev/null", S_IFCHR, 1, 3, 0666, 0, 0},    {"/dev/zero", S_IFCHR, 1, 5, 0666, 0, 0},
    {"/dev/full", S_IFCHR, 1, 7, 0666, 0, 0},    {"/dev/random", S_IFCHR, 1, 8, 0666, 0, 0},
    {"/dev/urandom", S_IFCHR, 1, 9, 0666, 0, 0}, {"/dev/tty", S_IFCHR, 5, 0, 0666, 0, 0},
};

static const struct {
        const char *target, *name;
} dev_symlinks[] = {
    {"/proc/self/fd", "fd"},
    {"/proc/self/fd/0", "stdin"},
    {"/proc/self/fd/1", "stdout"},
    {"/proc/self/fd/2", "stderr"},
};

static int bind_node(const struct node *n, int dirfd, const char *name, struct cx_error **err)
{
        if (mknodat(dirfd, name, S_IFREG | 0644, 0) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "create `%s`", n->path);
        _cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", n->path);
        char p[NS_PROCFD_LEN];
        if (sys_mount(n->path, ns_procfd(p, fd), NULL, MS_BIND, NULL) < 0)
                return cx_error_set(err, errno, "bind the host's `%s`", n->path);
        return 0;
}

static int make_node(const struct node *n, int dirfd, const char *name, bool bind,
                     struct cx_error **err)
{
        if (bind)
                return bind_node(n, dirfd, name, err);
        if (mknodat(dirfd, name, n->type | n->mode, makedev(n->major, n->minor)) < 0) {
                if (errno == EEXIST)
                        return 0; /* as runc: an existing node is kept */
                if (errno == EPERM)
                        return bind_node(n, dirfd, name, err);
                return cx_error_set(err, errno, "mknod `%s`", n->path);
        }
        if ((n->uid || n->gid) && fchownat(dirfd, name, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "chown `%s`", n->path);
        return 0;
}

/* Creates a node anywhere in the root: devfd serves the common "/dev/NAME". */
static int make_node_at(struct ns_ctx *c, int devfd, const struct node *n, struct cx_error **err)
{
        const char *slash = strrchr(n->path, '/');
        const char *name = slash ? slash + 1 : n->path;
        if (!slash || *name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return cx_error_msg(err, EINVAL, "`%s` is not a valid device path", n->path);

        bool bind = c->opts->user_ns;
        size_t dlen = (size_t)(slash - n->path);
        if (dlen == 4 && strncmp(n->path, "/dev", 4) == 0)
                return make_node(n, devfd, name, bind, err);

        _cleanup_free_ char *dir = dlen ? xasprintf("%.*s", (int)dlen, n->path) : xstrdup("/");
        _cleanup_close_ int dfd = -1;
        int r = ns_resolve_in_root(c->rootfd, dir, NS_CREATE_DIR, &dfd, err);
        if (r < 0)
                return r;
        return make_node(n, dfd, name, bind, err);
}

static bool overridden(const struct spec_linux *l, const char *path)
{
        for (size_t i = 0; i < l->n_devices; i++)
                if (l->devices[i].path && strcmp(l->devices[i].path, path) == 0)
                        return true;
        return false;
}

static int spec_node(const struct spec_device *d, struct node *ret)
{
        mode_t type;
        switch (d->type) {
        case 'c':
        case 'u':
                type = S_IFCHR;
                break;
        case 'b':
                type = S_IFBLK;
                break;
        case 'p':
                type = S_IFIFO;
                break;
        default:
                return -EINVAL;
        }
        if (!d->path || d->path[0] != '/' || d->major < 0 || d->minor < 0)
                return -EINVAL;
        *ret = (struct node){
            .path = d->path,
            .type = type,
            .major = type == S_IFIFO ? 0 : (unsigned)d->major,
            .minor = type == S_IFIFO ? 0 : (unsigned)d->minor,
            .mode = d->file_mode.set ? (mode_t)(d->file_mode.v & 07777) : 0666,
            .uid = d->uid.set ? (uid_t)d->uid.v : 0,
            .gid = d->gid.set ? (gid_t)d->gid.v : 0,
        };
        return 0;
}

static int make_nodes(struct ns_ctx *c, int devfd, struct cx_error **err)
{
        const struct spec_linux *l = c->spec->linux_;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(default_nodes); i++) {
                if (overridden(l, default_nodes[i].path))
                        continue;
                r = make_node_at(c, devfd, &default_nodes[i], err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < l->n_devices; i++) {
                struct node n;
                if (spec_node(&l->devices[i], &n) < 0)
                        return cx_error_msg(err, EINVAL, "linux.devices[%zu]: invalid device", i);
                r = make_node_at(c, devfd, &n, err);
                if (r < 0)
                        return cx_error_prefix(err, "linux.devices[%zu]", i);
        }
        return 0;
}

static int make_symlinks(int devfd, struct cx_error **err)
{
        /* a /dev/ptmx node (linux.devices, or the rootfs's own) gives way to the symlink */
        if (symlinkat("pts/ptmx", devfd, "ptmx") < 0) {
                if (errno != EEXIST || sys_unlinkat(devfd, "ptmx", 0) < 0 ||
                    symlinkat("pts/ptmx", devfd, "ptmx") < 0)
                        return cx_error_set(err, errno, "symlink /dev/ptmx");
        }
        for (size_t i = 0; i < ARRAY_SIZE(dev_symlinks); i++)
                if (symlinkat(dev_symlinks[i].target, devfd, dev_symlinks[i].name) < 0 &&
                    errno != EEXIST)
                        return cx_error_set(err, errno, "symlink /dev/%s", dev_symlinks[i].name);
        return 0;
}

int ns_setup_dev(struct ns_ctx *c, struct cx_error **err)
{
        _cleanup_close_ int devfd = -1;
        int r = ns_resolve_in_root(c->rootfd, "/dev", NS_CREATE_DIR, &devfd, err);
        if (r < 0)
                return r;

        mode_t old = umask(0); /* nodes get exactly their fileMode */
        r = make_nodes(c, devfd, err);
        umask(old);
        if (r < 0)
                return r;
        return make_symlinks(devfd, err);
}
