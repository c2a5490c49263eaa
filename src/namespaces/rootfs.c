/* ns_rootfs_setup: the order of runc's prepareRootfs/finalizeRootfs.
 *
 *   / made rslave (or rootfsPropagation) so nothing propagates back to the host;
 *   the parent mount of root.path made private when / may still be shared (pivot_root);
 *   root.path bind-mounted onto itself, opened O_PATH: every target is resolved from it;
 *   `mounts` in order; /dev nodes and symlinks unless /dev is a bind mount; linux.devices;
 *   pivot_root (or MS_MOVE + chroot); linux.sysctl (before /proc/sys turns read-only);
 *   maskedPaths; readonlyPaths; a read-only /dev; root.readonly; rootfsPropagation on /.
 *
 * Without a mount namespace of its own (shared_mnt_ns) only the steps that stay strictly
 * beneath root.path run: `mounts`, /dev, linux.devices, chroot, sysctl, a read-only /dev.
 * Nothing there may re-root, move or remount the namespace the container shares. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>

/* Makes the mount holding path private; path is absolute and clean. */
static int parent_mount_private(const char *path, struct cx_error **err)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (;;) {
                if (sys_mount(NULL, p, NULL, MS_PRIVATE, NULL) == 0)
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

bool ns_shares_mount_ns(const struct spec_linux *l)
{
        const struct spec_namespace *m = &l->ns[SPEC_NS_MOUNT];
        return !m->present || m->path;
}

static bool strv_empty(char *const *v)
{
        return !v || !v[0];
}

int ns_rootfs_validate(const struct ns_config *s, struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        if (!ns_shares_mount_ns(l))
                return 0;
        const char *what = s->root.readonly                 ? "root.readonly"
                           : l->rootfs_propagation          ? "linux.rootfsPropagation"
                           : !strv_empty(l->masked_paths)   ? "linux.maskedPaths"
                           : !strv_empty(l->readonly_paths) ? "linux.readonlyPaths"
                                                            : NULL;
        if (!what)
                return 0;
        return cx_error_msg(err, EINVAL,
                            "%s: needs a mount namespace of its own (linux.namespaces has no new "
                            "mount namespace, and capsa does not remount the namespace it "
                            "shares)",
                            what);
}

/* The last line of defence: nothing re-roots or changes / in the runtime's own namespace.
 * Checked once, in prepare_root, which every path that pivots or moves the root goes through
 * first (the init never changes its mount namespace after that). */
static int check_own_mnt_ns(const struct ns_rootfs_opts *o, struct cx_error **err)
{
        uint64_t ino;
        int r = ns_mnt_ns_inode(&ino, err);
        if (r < 0)
                return r;
        if (o->shared_mnt_ns || (o->caller_mnt_ns && ino == o->caller_mnt_ns))
                return cx_error_msg(err, EPERM,
                                    "refusing to change the root of a mount namespace the "
                                    "container does not own");
        return 0;
}

static int prepare_root(const struct ns_config *s, const struct ns_rootfs_opts *o,
                        struct cx_error **err)
{
        int r = check_own_mnt_ns(o, err);
        if (r < 0)
                return r;
        unsigned long prop = s->linux_->rootfs_propagation;
        if (!prop)
                prop = MS_SLAVE | MS_REC;
        if (sys_mount(NULL, "/", NULL, prop, NULL) < 0)
                return cx_error_set(err, errno, "set the propagation of /");
        /* with everything slave or private no mount is shared: nothing more to do */
        if (!((prop & MS_REC) && (prop & (MS_SLAVE | MS_PRIVATE)))) {
                r = parent_mount_private(s->root.path, err);
                if (r < 0)
                        return r;
        }
        if (o->idmap &&
            o->idmap->rootfs_fd >= 0) { /* idmapped (a tenant's), or an image's overlay */
                if (sys_move_mount(o->idmap->rootfs_fd, "", AT_FDCWD, s->root.path,
                                   MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return cx_error_set(err, errno, "attach the prepared rootfs on `%s`",
                                            s->root.path);
                return 0;
        }
        if (sys_mount(s->root.path, s->root.path, NULL, MS_BIND | MS_REC, NULL) < 0)
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
        if (sys_pivot_root(".", ".") < 0)
                return cx_error_set(err, errno, "pivot_root");
        /* the old root is stacked on "."; detach it without telling the host */
        if (fchdir(oldroot) < 0)
                return cx_error_set(err, errno, "chdir to the old root");
        if (sys_mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return cx_error_set(err, errno, "make the old root rslave");
        if (sys_umount2(".", MNT_DETACH) < 0)
                return cx_error_set(err, errno, "unmount the old root");
        if (chdir("/") < 0)
                return cx_error_set(err, errno, "chdir /");
        return 0;
}

/* chroot into rootfd.  move: first move the rootfs mount onto / (--no-pivot, in the
 * container's own namespace); without it (a shared namespace) only this process changes its
 * root and nothing is moved. */
static int enter_chroot(int rootfd, bool move, struct cx_error **err)
{
        if (fchdir(rootfd) < 0)
                return cx_error_set(err, errno, "chdir to the rootfs");
        if (move && sys_mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return cx_error_set(err, errno, "move the rootfs to /");
        if (sys_chroot(".") < 0)
                return cx_error_set(err, errno, "chroot");
        if (chdir("/") < 0)
                return cx_error_set(err, errno, "chdir /");
        return 0;
}

static int enter_no_pivot(const char *root, int rootfd, struct cx_error **err)
{
        char real[PATH_MAX];
        if (!realpath(root, real))
                return cx_error_set(err, errno, "resolve `%s`", root);
        int r = ns_hide_kernel_fs_outside(real, err);
        return r < 0 ? r : enter_chroot(rootfd, true, err);
}

static int enter_root(const struct ns_rootfs_opts *o, const char *root, int rootfd,
                      struct cx_error **err)
{
        if (o->shared_mnt_ns)
                return enter_chroot(rootfd, false, err);
        /* prepare_root checked the namespace; the init has not left it since */
        return o->no_pivot ? enter_no_pivot(root, rootfd, err) : enter_pivot(rootfd, err);
}

static int build_tree(struct ns_ctx *c, struct cx_error **err)
{
        const struct ns_config *s = c->spec;
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
        if (s->process->cwd) {
                _cleanup_close_ int fd = -1;
                r = ns_resolve_in_root(c->rootfd, s->process->cwd, NS_CREATE_DIR, &fd, err);
                if (r < 0)
                        return cx_error_prefix(err, "process.cwd `%s`", s->process->cwd);
        }
        return 0;
}

static int finish(struct ns_ctx *c, struct cx_error **err)
{
        const struct ns_config *s = c->spec;
        const struct spec_linux *l = s->linux_;

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
        if (l->rootfs_propagation && sys_mount(NULL, "/", NULL, l->rootfs_propagation, NULL) < 0)
                return cx_error_set(err, errno, "linux.rootfsPropagation: apply to /");
        return 0;
}

int ns_rootfs_setup(const struct ns_config *s, const struct ns_rootfs_opts *o,
                    struct cx_error **err)
{
        const struct spec_namespace *net = &s->linux_->ns[SPEC_NS_NETWORK];
        struct ns_ctx c = {
            .spec = s,
            .opts = o,
            .rootfd = -1,
            .new_net = net->present && !net->path,
        };

        if (!s->root.path || s->root.path[0] != '/')
                return cx_error_msg(err, EINVAL, "root.path: must be an absolute path");
        if (o->shared_mnt_ns && o->idmap && o->idmap->rootfs_fd >= 0)
                return cx_error_msg(
                    err, EINVAL, "an idmapped or image rootfs needs a mount namespace of its own");
        int r = o->shared_mnt_ns ? ns_rootfs_validate(s, err) : prepare_root(s, o, err);
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
        r = enter_root(o, s->root.path, rootfd, err);
        if (r < 0)
                return cx_error_prefix(err, "enter rootfs `%s`", s->root.path);
        return finish(&c, err);
}
