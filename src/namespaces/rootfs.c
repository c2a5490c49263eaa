/* ns_rootfs_setup: the order of runc's prepareRootfs/finalizeRootfs.
 *
 *   / made rslave (or rootfsPropagation) so nothing propagates back to the host;
 *   the parent mount of root.path made private when / may still be shared (pivot_root);
 *   root.path bind-mounted onto itself, opened O_PATH: every target is resolved from it;
 *   `mounts` in order; /dev nodes and symlinks unless /dev is a bind mount; linux.devices;
 *   pivot_root (or MS_MOVE + chroot); linux.sysctl (before /proc/sys turns read-only);
 *   maskedPaths; readonlyPaths; a read-only /dev; root.readonly; rootfsPropagation on /. */
#include "namespaces/ns-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>

/* Makes the mount holding path private; path is absolute and clean. */
static int parent_mount_private(const char *path, struct cx_error **err)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (;;) {
                if (mount(NULL, p, NULL, MS_PRIVATE, NULL) == 0)
                        return 0;
                if (errno != EINVAL || strcmp(p, "/") == 0) /* EINVAL: not a mount point */
                        return cx_error_set(err, errno, "make the mount of `%s` private", path);
                char *slash = strrchr(p, '/');
                if (slash == p)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        }
}

static int prepare_root(const struct spec *s, const struct ns_rootfs_opts *o, struct cx_error **err)
{
        unsigned long prop = s->linux_.rootfs_propagation;
        if (!prop)
                prop = MS_SLAVE | MS_REC;
        if (mount(NULL, "/", NULL, prop, NULL) < 0)
                return cx_error_set(err, errno, "set the propagation of /");
        /* with everything slave or private no mount is shared: nothing more to do */
        if (!((prop & MS_REC) && (prop & (MS_SLAVE | MS_PRIVATE)))) {
                int r = parent_mount_private(s->root.path, err);
                if (r < 0)
                        return r;
        }
        if (o->idmap && o->idmap->rootfs_fd >= 0) { /* a tenant's rootfs owned by host root */
                if (move_mount(o->idmap->rootfs_fd, "", AT_FDCWD, s->root.path,
                               MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return cx_error_set(err, errno, "mount the idmapped rootfs on `%s`",
                                            s->root.path);
                return 0;
        }
        if (mount(s->root.path, s->root.path, NULL, MS_BIND | MS_REC, NULL) < 0)
                return cx_error_set(err, errno, "bind `%s` onto itself", s->root.path);
        return 0;
}

static int enter_pivot(int rootfd, struct cx_error **err)
{
        _cleanup_close_ int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (oldroot < 0)
                return cx_error_set(err, errno, "open /");
        if (fchdir(rootfd) < 0)
                return cx_error_set(err, errno, "chdir to the rootfs");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return cx_error_set(err, errno, "pivot_root");
        /* the old root is stacked on "."; detach it without telling the host */
        if (fchdir(oldroot) < 0)
                return cx_error_set(err, errno, "chdir to the old root");
        if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return cx_error_set(err, errno, "make the old root rslave");
        if (umount2(".", MNT_DETACH) < 0)
                return cx_error_set(err, errno, "unmount the old root");
        if (chdir("/") < 0)
                return cx_error_set(err, errno, "chdir /");
        return 0;
}

static int enter_chroot(int rootfd, struct cx_error **err)
{
        if (fchdir(rootfd) < 0)
                return cx_error_set(err, errno, "chdir to the rootfs");
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return cx_error_set(err, errno, "move the rootfs to /");
        if (chroot(".") < 0)
                return cx_error_set(err, errno, "chroot");
        if (chdir("/") < 0)
                return cx_error_set(err, errno, "chdir /");
        return 0;
}

static int build_tree(struct ns_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r;

        for (size_t i = 0; i < s->n_mounts; i++) {
                r = ns_mount_entry(c, i, err);
                if (r < 0)
                        return r;
        }
        if (!c->dev_bind) {
                r = ns_setup_dev(c, err);
                if (r < 0)
                        return cx_error_prefix(err, "set up /dev");
        }
        /* As runc: a missing cwd is created (after the mounts, so it may live on one).  It is
         * resolved inside the root without magic links, so it cannot point at an fd. */
        if (s->process.cwd) {
                _cleanup_close_ int fd = -1;
                r = ns_resolve_in_root(c->rootfd, s->process.cwd, NS_CREATE_DIR, &fd, err);
                if (r < 0)
                        return cx_error_prefix(err, "process.cwd `%s`", s->process.cwd);
        }
        return 0;
}

static int finish(struct ns_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        const struct spec_linux *l = &s->linux_;

        int r = ns_sysctl_apply(l, err);
        if (r < 0)
                return r;
        r = ns_mask_paths(l->masked_paths, err);
        if (r < 0)
                return r;
        r = ns_readonly_paths(l->readonly_paths, err);
        if (r < 0)
                return r;
        if (c->dev_ro && (r = ns_remount_readonly("/dev", false, err)) < 0)
                return r;
        if (s->root.readonly && (r = ns_remount_readonly("/", true, err)) < 0)
                return cx_error_prefix(err, "root.readonly");
        if (l->rootfs_propagation && mount(NULL, "/", NULL, l->rootfs_propagation, NULL) < 0)
                return cx_error_set(err, errno, "linux.rootfsPropagation: apply to /");
        return 0;
}

int ns_rootfs_setup(const struct spec *s, const struct ns_rootfs_opts *o, struct cx_error **err)
{
        const struct spec_namespace *net = &s->linux_.ns[SPEC_NS_NETWORK];
        struct ns_ctx c = {
            .spec = s,
            .opts = o,
            .rootfd = -1,
            .new_net = net->present && !net->path,
        };

        if (!s->root.path || s->root.path[0] != '/')
                return cx_error_msg(err, EINVAL, "root.path: must be an absolute path");
        int r = prepare_root(s, o, err);
        if (r < 0)
                return cx_error_prefix(err, "prepare rootfs");
        _cleanup_close_ int rootfd = open(s->root.path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return cx_error_set(err, errno, "open rootfs `%s`", s->root.path);
        c.rootfd = rootfd;

        r = build_tree(&c, err);
        if (r < 0)
                return r;
        if (o->before_pivot && (r = o->before_pivot(o->userdata, err)) < 0)
                return r;
        r = o->no_pivot ? enter_chroot(rootfd, err) : enter_pivot(rootfd, err);
        if (r < 0)
                return cx_error_prefix(err, "enter rootfs `%s`", s->root.path);
        return finish(&c, err);
}
