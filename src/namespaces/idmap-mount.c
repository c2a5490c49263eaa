/* idmapped mounts (parent side): detached clones of bind sources (and, for tenants, of the
 * rootfs) with MOUNT_ATTR_IDMAP set, made in the host's mount and user namespace before the
 * init is cloned.  The init inherits the fds and attaches them with move_mount(2).
 *
 * Why the parent: mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN in the user namespace
 * that owns the filesystem (the host's for a host directory), and the mount must still be
 * detached (open_tree(OPEN_TREE_CLONE)) and never attached before.  The init, inside the
 * container's user namespace, holds neither.  runc 1.2 and crun do the same in their runtime
 * process.
 *
 * The idmapping of a mount is the uid/gid map of a user namespace: a short-lived helper is
 * cloned into a new user namespace, its maps are written, /proc/PID/ns/user is opened and the
 * helper is killed.  A mount's own uidMappings/gidMappings give that map; a mount with only the
 * `idmap`/`ridmap` option (and the tenant rootfs) uses the container's linux.uid/gidMappings,
 * or the user namespace the container joins by path.  `idmap` maps the mount only, `ridmap`
 * every mount beneath it too (with `rbind`). */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAP_PATH_LEN 64

/* Clones a helper into a new user namespace with the given maps and returns an fd of it. */
static int userns_for_maps(const struct spec_id_map *u, size_t nu, const struct spec_id_map *g,
                           size_t ng, int *ret_fd, struct cx_error **err)
{
        pid_t pid = sys_clone(CLONE_NEWUSER | SIGCHLD);
        if (pid < 0)
                return cx_error_set(err, errno, "clone a helper into a new user namespace");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                for (;;)
                        pause();
        }
        int r = ns_write_map(pid, "uid_map", u, nu, err);
        if (r >= 0)
                r = ns_write_map(pid, "gid_map", g, ng, err);
        if (r >= 0) {
                char path[MAP_PATH_LEN];
                snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
                int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        r = cx_error_set(err, errno, "open %s", path);
                else
                        *ret_fd = fd;
        }
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return r;
}

/* A clone of src, detached, with the idmapping of userns_fd. */
int ns_clone_idmapped(const char *src, bool rec_clone, bool rec_idmap, int userns_fd, int *ret_fd,
                      struct cx_error **err)
{
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec_clone ? AT_RECURSIVE : 0);
        _cleanup_close_ int fd = sys_open_tree(AT_FDCWD, src, flags);
        if (fd < 0)
                return cx_error_set(err, errno, "open_tree `%s`", src);
        struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
        if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | (rec_idmap ? AT_RECURSIVE : 0), &a,
                              sizeof(a)) < 0) {
                if (errno == EINVAL)
                        return cx_error_msg(err, EINVAL,
                                            "idmap `%s`: the filesystem (or a mount beneath it) "
                                            "does not support idmapped mounts",
                                            src);
                return cx_error_set(err, errno, "mount_setattr(MOUNT_ATTR_IDMAP) on `%s`", src);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static bool has_option(char *const *options, const char *name)
{
        for (char *const *p = options; p && *p; p++)
                if (strcmp(*p, name) == 0)
                        return true;
        return false;
}

/* The user namespace that gives the container's own mappings (created once, cached). */
int ns_container_userns(const struct ns_config *s, int *cache, struct cx_error **err)
{
        const struct spec_linux *l = s->linux_;
        const struct spec_namespace *user = &l->ns[SPEC_NS_USER];
        if (*cache >= 0)
                return *cache;
        if (!user->present)
                return cx_error_msg(err, EINVAL,
                                    "idmap without uidMappings/gidMappings maps like the "
                                    "container's user namespace, and linux.namespaces has none");
        int r;
        if (user->path) {
                int fd = open(user->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return cx_error_set(err, errno, "open user namespace `%s`", user->path);
                *cache = fd;
                return fd;
        }
        r = userns_for_maps(l->uid_mappings, l->n_uid_mappings, l->gid_mappings, l->n_gid_mappings,
                            cache, err);
        return r < 0 ? r : *cache;
}

static int open_mount(const struct ns_config *s, size_t i, int *cache, int *ret_fd,
                      struct cx_error **err)
{
        const struct spec_mount *m = &s->mounts[i];
        _cleanup_(ns_mount_opts_clear) struct ns_mount_opts mo = {0};
        int r = ns_mount_opts_parse(m->options, &mo, err);
        if (r < 0)
                return r;
        bool own = m->n_uid_mappings || m->n_gid_mappings;
        if (!mo.idmap && !own)
                return 0;
        if (!mo.bind && !(m->type && strcmp(m->type, "bind") == 0))
                return cx_error_msg(err, EINVAL,
                                    "idmap, ridmap and uidMappings/gidMappings apply to bind "
                                    "mounts only (type `%s`)",
                                    m->type ? m->type : "");
        if (!m->source)
                return cx_error_msg(err, EINVAL, "source: required for a bind mount");
        if (own && (!m->n_uid_mappings || !m->n_gid_mappings))
                return cx_error_msg(err, EINVAL,
                                    "uidMappings and gidMappings must be given together");
        if (geteuid() != 0)
                return cx_error_msg(err, EPERM,
                                    "idmapped mounts need capsa to run as root (CAP_SYS_ADMIN "
                                    "over the source's filesystem)");

        _cleanup_close_ int own_ns = -1;
        int ns;
        if (own) {
                if ((r = userns_for_maps(m->uid_mappings, m->n_uid_mappings, m->gid_mappings,
                                         m->n_gid_mappings, &own_ns, err)) < 0)
                        return r;
                ns = own_ns;
        } else if ((ns = ns_container_userns(s, cache, err)) < 0) {
                return ns;
        }
        return ns_clone_idmapped(m->source, mo.recursive, has_option(m->options, "ridmap"), ns,
                                 ret_fd, err);
}

/* A bind source the container's root may not be able to reach from inside its user namespace
 * (a directory only host root may enter): a plain clone made here, on the host side, which the
 * init attaches only when its own open of the source is refused (as runc passes mount fds). */
static int open_host_side(const struct ns_config *s, size_t i, int *ret_fd)
{
        const struct spec_mount *m = &s->mounts[i];
        const struct spec_namespace *user = &s->linux_->ns[SPEC_NS_USER];
        if (!user->present || user->path || geteuid() != 0 || !m->source)
                return 0;
        _cleanup_(ns_mount_opts_clear) struct ns_mount_opts mo = {0};
        if (ns_mount_opts_parse(m->options, &mo, NULL) < 0 ||
            !(mo.bind || (m->type && strcmp(m->type, "bind") == 0)))
                return 0;
        unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (mo.recursive ? AT_RECURSIVE : 0);
        int fd = sys_open_tree(AT_FDCWD, m->source, flags);
        if (fd >= 0)
                *ret_fd = fd; /* a failure is the init's to report, as without a user ns */
        return 0;
}

int ns_idmap_mounts_open(const struct ns_config *s, const struct ns_rootfs_source *root,
                         struct ns_idmap_mounts *ret, struct cx_error **err)
{
        _cleanup_(ns_idmap_mounts_clear) struct ns_idmap_mounts im = {.rootfs_fd = -1};
        _cleanup_close_ int cache = -1;
        int r;

        im.n = s->n_mounts;
        im.fds = xmalloc((im.n ? im.n : 1) * sizeof(int));
        im.host_fds = xmalloc((im.n ? im.n : 1) * sizeof(int));
        for (size_t i = 0; i < im.n; i++)
                im.fds[i] = im.host_fds[i] = -1;
        for (size_t i = 0; i < im.n; i++) {
                if ((r = open_mount(s, i, &cache, &im.fds[i], err)) < 0)
                        return cx_error_prefix(err, "mounts[%zu]", i);
                if (im.fds[i] < 0)
                        open_host_side(s, i, &im.host_fds[i]);
        }
        if (root->kind == NS_ROOTFS_OVERLAY) {
                if ((r = ns_overlay_open(s, root, &cache, &im.rootfs_fd, err)) < 0)
                        return r;
        } else if (root->kind == NS_ROOTFS_IDMAPPED) {
                int ns = ns_container_userns(s, &cache, err);
                if (ns < 0)
                        return cx_error_prefix(err, "idmapped rootfs");
                /* the root only: mounts beneath root.path are rare and may not support idmap */
                if ((r = ns_clone_idmapped(root->path, false, false, ns, &im.rootfs_fd, err)) < 0)
                        return cx_error_prefix(err, "root.path");
        }
        *ret = im;
        im = (struct ns_idmap_mounts){.rootfs_fd = -1};
        return 0;
}

void ns_idmap_mounts_clear(struct ns_idmap_mounts *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                if (m->fds[i] >= 0)
                        close(m->fds[i]);
                if (m->host_fds && m->host_fds[i] >= 0)
                        close(m->host_fds[i]);
        }
        free(m->fds);
        free(m->host_fds);
        if (m->rootfs_fd >= 0)
                close(m->rootfs_fd);
        *m = (struct ns_idmap_mounts){.rootfs_fd = -1};
}

int ns_idmap_mount_fd(const struct ns_ctx *c, size_t idx)
{
        const struct ns_idmap_mounts *im = c->opts->idmap;
        return im && idx < im->n ? im->fds[idx] : -1;
}

int ns_host_mount_fd(const struct ns_ctx *c, size_t idx)
{
        const struct ns_idmap_mounts *im = c->opts->idmap;
        return im && im->host_fds && idx < im->n ? im->host_fds[idx] : -1;
}

int ns_move_mount_fd(int mount_fd, int target_fd, struct cx_error **err)
{
        if (sys_move_mount(mount_fd, "", target_fd, "",
                           MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return cx_error_set(err, errno, "move_mount the prepared mount");
        return 0;
}
