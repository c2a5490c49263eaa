/* The rootfs of a container made from an image: an overlay of the image's layers (read-only,
 * shared by every container of the image) under the container's own upper and work dirs.
 *
 * The parent builds it with the new mount API (fsopen/fsconfig/fsmount) as a detached mount:
 * it never appears in the host's tree, and the init attaches it at root.path like an idmapped
 * rootfs (rootfs.c).  Layers are passed as fds ("lowerdir+", Linux 6.8; fds since 6.13), which
 * lets a container with a user namespace get each layer as an idmapped clone: files the image
 * gives to root are the container's root, without a copy per tenant.  Kernel interfaces:
 * fsopen(2), fsconfig(2), fsmount(2), open_tree(2), mount_setattr(2). */
#include "namespaces/ns-internal.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The overlay's own words on a failure (the fs context's log: "e overlayfs: ..." lines). */
static int fs_fail(int fs, const char *what, struct cx_error **err)
{
        int e = errno;
        char log[512] = "";
        ssize_t n = read(fs, log, sizeof(log) - 1);
        if (n > 2) {
                log[n] = '\0';
                log[strcspn(log, "\n")] = '\0';
                return cx_error_msg(err, e, "overlay rootfs: %s: %s (%s)", what, strerror(e),
                                    log + 2);
        }
        errno = e;
        return cx_error_set(err, e, "overlay rootfs: %s", what);
}

/* The host id the container's id 0 maps to (the range starting at 0; the last one wins). */
static bool host_root_id(const struct spec_id_map *m, size_t n, uint32_t *ret)
{
        bool found = false;
        for (size_t i = 0; i < n; i++)
                if (m[i].container_id == 0) {
                        *ret = m[i].host_id;
                        found = true;
                }
        return found;
}

static bool host_root_ids(const struct spec_linux *l, uid_t *uid, gid_t *gid)
{
        bool u = host_root_id(l->uid_mappings, l->n_uid_mappings, uid);
        bool g = host_root_id(l->gid_mappings, l->n_gid_mappings, gid);
        return u && g;
}

static int add_layers(int fs, const struct ns_rootfs_source *root, struct cx_error **err)
{
        /* each "lowerdir+" goes beneath the ones before it: top layer first */
        for (size_t i = root->n_lowers; i-- > 0;)
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir+", root->lowers[i],
                            0) < 0)
                        return fs_fail(fs, root->lowers[i], err);
        return 0;
}

/* The overlay as a detached mount in *ret_fd (upper: with upper/work, else read-only). */
static int make_overlay(const struct ns_rootfs_source *root, bool upper, int *ret_fd,
                        struct cx_error **err)
{
        _cleanup_close_ int fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
        if (fs < 0)
                return cx_error_set(err, errno, "overlay rootfs: fsopen(overlay)");
        int r = add_layers(fs, root, err);
        if (r < 0)
                return r;
        if (upper) {
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", root->upper, 0) < 0)
                        return fs_fail(fs, "upperdir", err);
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", root->work, 0) < 0)
                        return fs_fail(fs, "workdir", err);
                /* no syncs of the upper's filesystem (unmounting would wait for its journal):
                 * an upper dir never outlives its container, a crash included */
                if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
                        return fs_fail(fs, "volatile", err);
        }
        if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fs_fail(fs, "create", err);
        int m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
        if (m < 0)
                return fs_fail(fs, "fsmount", err);
        *ret_fd = m;
        return 0;
}

/* In the child: a private mount namespace, each layer's idmapped clone attached over it. */
static int idmapped_overlay(const struct ns_rootfs_source *root, int userns, int *ret_fd,
                            struct cx_error **err)
{
        if (unshare(CLONE_NEWNS) < 0)
                return cx_error_set(err, errno, "overlay rootfs: unshare(CLONE_NEWNS)");
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return cx_error_set(err, errno, "overlay rootfs: make / private");
        for (size_t i = 0; i < root->n_lowers; i++) {
                _cleanup_close_ int fd = -1;
                int r = ns_clone_idmapped(root->lowers[i], false, false, userns, &fd, err);
                if (r < 0)
                        return r;
                if (move_mount(fd, "", AT_FDCWD, root->lowers[i], MOVE_MOUNT_F_EMPTY_PATH) < 0)
                        return cx_error_set(err, errno, "overlay rootfs: attach layer `%s`",
                                            root->lowers[i]);
        }
        return make_overlay(root, true, ret_fd, err);
}

static int overlay_via_child(const struct ns_rootfs_source *root, int userns, int *ret_fd,
                             struct cx_error **err)
{
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
                return cx_error_set(err, errno, "overlay rootfs: socketpair");
        pid_t pid = fork();
        if (pid < 0) {
                close(sp[0]);
                close(sp[1]);
                return cx_error_set(err, errno, "overlay rootfs: fork");
        }
        if (pid == 0) {
                struct cx_error *e = NULL;
                int fd = -1;
                close(sp[0]);
                if (idmapped_overlay(root, userns, &fd, &e) < 0)
                        fd_send(sp[1], -1, e->msg, strlen(e->msg) + 1);
                else
                        fd_send(sp[1], fd, "", 1);
                _exit(0);
        }
        close(sp[1]);
        char msg[1024] = "";
        int fd = -1;
        int r = fd_recv(sp[0], &fd, msg, sizeof(msg) - 1);
        close(sp[0]);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        if (r < 0 || !msg[0])
                return cx_error_msg(err, EIO, "overlay rootfs: the helper process failed");
        return cx_error_msg(err, EINVAL, "%s", msg);
}

int ns_overlay_open(const struct ns_config *s, const struct ns_rootfs_source *root, int *cache,
                    int *ret_fd, struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        if (!l->ns[SPEC_NS_USER].present)
                return make_overlay(root, true, ret_fd, err);
        int userns = ns_container_userns(s, cache, err);
        if (userns < 0)
                return cx_error_prefix(err, "overlay rootfs");
        uid_t uid = 0;
        gid_t gid = 0;
        /* the merged root is the upper's root: the container's root owns it */
        if (host_root_ids(l, &uid, &gid) &&
            (chown(root->upper, uid, gid) < 0 || chown(root->work, uid, gid) < 0))
                return cx_error_set(err, errno, "overlay rootfs: chown `%s`", root->upper);
        return overlay_via_child(root, userns, ret_fd, err);
}

int ns_overlay_lowers_open(char *const *lowers, size_t n, int *ret_fd, struct cx_error **err)
{
        struct ns_rootfs_source root = {.kind = NS_ROOTFS_OVERLAY, .lowers = lowers, .n_lowers = n};
        return make_overlay(&root, false, ret_fd, err);
}
