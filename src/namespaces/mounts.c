/* One entry of config.json's `mounts`: bind/rbind (then a remount for the flags), sysfs (an
 * rbind of /sys in a user namespace without its own network namespace, as runc), cgroup (see
 * cgroupfs.c) and any other filesystem.  Targets are resolved inside the root and reached
 * through /proc/self/fd/N; follow-up operations (remount, propagation, recursive attributes)
 * re-resolve the target, since an fd opened before a mount still points beneath it. */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* Flags that a bind mount only gets through a remount. */
#define BIND_REMOUNT_FLAGS (~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT))

unsigned long ns_locked_flags(unsigned long st_flag)
{
        unsigned long f = st_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME |
                                     ST_NODIRATIME | ST_RELATIME);
        /* ST_* and MS_* agree for these bits; strictatime is the absence of both others */
        if (!(f & (ST_NOATIME | ST_RELATIME)))
                f |= MS_STRICTATIME;
        return f;
}

int ns_remount_fd(int fd, unsigned long flags, unsigned long clear_flags, struct cx_error **err)
{
        char p[NS_PROCFD_LEN];
        unsigned long base = MS_REMOUNT | MS_BIND;

        flags &= BIND_REMOUNT_FLAGS;
        if (sys_mount(NULL, ns_procfd(p, fd), NULL, base | flags, NULL) == 0)
                return 0;
        if (errno != EPERM)
                return cx_error_set(err, errno, "remount");

        /* flags locked by a user namespace must be repeated */
        struct statvfs sv;
        if (fstatvfs(fd, &sv) < 0)
                return cx_error_set(err, errno, "statvfs");
        unsigned long keep = ns_locked_flags(sv.f_flag) & ~clear_flags;
        if (flags & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME))
                keep &= ~(unsigned long)(MS_NOATIME | MS_RELATIME | MS_STRICTATIME);
        if (sys_mount(NULL, p, NULL, base | flags | keep, NULL) < 0)
                return cx_error_set(err, errno, "remount");
        return 0;
}

/* Remount, propagation and recursive attributes, on the mount now at dest. */
static int mount_finish(struct ns_ctx *c, const char *dest, const struct ns_mount_opts *mo,
                        unsigned long remount_flags, struct cx_error **err)
{
        if (!remount_flags && !mo->propagation && !mo->attr_set && !mo->attr_clr)
                return 0;

        _cleanup_close_ int fd = -1;
        int r = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_NONE, &fd, err);
        if (r < 0)
                return r;
        if (remount_flags) {
                r = ns_remount_fd(fd, remount_flags, mo->clear_flags, err);
                if (r < 0)
                        return r;
        }
        char p[NS_PROCFD_LEN];
        if (mo->propagation && sys_mount(NULL, ns_procfd(p, fd), NULL, mo->propagation, NULL) < 0)
                return cx_error_set(err, errno, "set propagation");
        if (mo->attr_set || mo->attr_clr) {
                struct mount_attr a = {.attr_set = mo->attr_set, .attr_clr = mo->attr_clr};
                if (sys_mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                        return cx_error_set(err, errno, "mount_setattr");
        }
        return 0;
}

/* idmap_fd: the parent's detached idmapped clone of src (attached with move_mount), or -1. */
static int mount_bind(struct ns_ctx *c, const char *src, const char *dest,
                      const struct ns_mount_opts *mo, int idmap_fd, int host_fd,
                      struct cx_error **err)
{
        _cleanup_close_ int own = -1;
        int sfd = idmap_fd;
        if (sfd < 0 && (sfd = own = open(src, O_PATH | O_CLOEXEC)) < 0) {
                if ((errno != EACCES && errno != EPERM) || host_fd < 0)
                        return cx_error_set(err, errno, "open source `%s`", src);
                /* not reachable from inside the user namespace: the host-side clone */
                sfd = idmap_fd = host_fd;
        }
        struct stat st;
        if (fstat(sfd, &st) < 0)
                return cx_error_set(err, errno, "stat source `%s`", src);

        _cleanup_close_ int dfd = -1;
        int r = ns_resolve_in_root(c->rootfd, dest,
                                   S_ISDIR(st.st_mode) ? NS_CREATE_DIR : NS_CREATE_FILE, &dfd, err);
        if (r < 0)
                return r;
        char sp[NS_PROCFD_LEN], dp[NS_PROCFD_LEN];
        unsigned long rec = mo->recursive ? MS_REC : 0;
        if (idmap_fd >= 0) {
                if ((r = ns_move_mount_fd(idmap_fd, dfd, err)) < 0)
                        return r;
        } else if (sys_mount(ns_procfd(sp, sfd), ns_procfd(dp, dfd), NULL, MS_BIND | rec, NULL) <
                   0) {
                return cx_error_set(err, errno, "bind");
        }
        return mount_finish(c, dest, mo, mo->flags & BIND_REMOUNT_FLAGS, err);
}

/* A tmpfs that starts with a copy of the directory it hides (dfd, resolved before mounting,
 * still reaches that directory afterwards).  Read-only is applied after the copy. */
static int mount_tmpfs_copyup(struct ns_ctx *c, const char *dest, unsigned long flags,
                              const struct ns_mount_opts *mo, struct cx_error **err)
{
        _cleanup_close_ int dfd = -1;
        /* a directory that existed lends its mode to the tmpfs root, as runc does (except that
         * an explicit mode= wins) */
        bool existed = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_NONE, &dfd, NULL) >= 0;
        int r = existed ? 0 : ns_resolve_in_root(c->rootfd, dest, NS_CREATE_DIR, &dfd, err);
        if (r < 0)
                return r;
        _cleanup_close_ int src = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return cx_error_set(err, errno, "tmpcopyup: open the directory beneath");
        char p[NS_PROCFD_LEN];
        if (sys_mount("tmpfs", ns_procfd(p, dfd), "tmpfs", flags & ~(unsigned long)MS_RDONLY,
                      mo->data) < 0)
                return cx_error_set(err, errno, "mount");
        _cleanup_close_ int top = -1;
        r = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_NONE, &top, err);
        if (r < 0)
                return r;
        _cleanup_close_ int dst = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dst < 0)
                return cx_error_set(err, errno, "tmpcopyup: open the new tmpfs");
        const char *d = mo->data ? mo->data : "";
        r = ns_copyup(src, dst, existed && !strstr(d, "mode="), err);
        if (r < 0)
                return r;
        return mount_finish(c, dest, mo, flags & MS_RDONLY ? flags : 0, err);
}

static int mount_fs(struct ns_ctx *c, const char *src, const char *type, const char *dest,
                    const struct ns_mount_opts *mo, struct cx_error **err)
{
        if (mo->tmpcopyup)
                return mount_tmpfs_copyup(c, dest, mo->flags & ~(unsigned long)MS_REMOUNT, mo, err);
        _cleanup_close_ int dfd = -1;
        int r = ns_resolve_in_root(c->rootfd, dest, NS_CREATE_DIR, &dfd, err);
        if (r < 0)
                return r;

        unsigned long flags = mo->flags & ~(unsigned long)MS_REMOUNT;
        bool is_dev = strcmp(dest, "/dev") == 0 || strcmp(dest, "/dev/") == 0;
        if (is_dev && (flags & MS_RDONLY)) {
                /* nodes are created in /dev first; it is made read-only at the end */
                flags &= ~(unsigned long)MS_RDONLY;
                c->dev_ro = true;
        }
        char p[NS_PROCFD_LEN];
        if (sys_mount(src, ns_procfd(p, dfd), type, flags, mo->data) < 0)
                return cx_error_set(err, errno, "mount");
        return mount_finish(c, dest, mo, 0, err);
}

/* sysfs cannot be mounted in a user namespace that does not own the network namespace:
 * bind the host's /sys instead, as runc does. */
static int mount_sys_bind(struct ns_ctx *c, const char *dest, const struct ns_mount_opts *mo,
                          struct cx_error **err)
{
        struct ns_mount_opts b = *mo;
        b.bind = b.recursive = true;
        b.flags = (mo->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) | MS_BIND | MS_REC;
        b.data = NULL;
        return mount_bind(c, "/sys", dest, &b, -1, -1, err);
}

static int mount_dispatch(struct ns_ctx *c, size_t idx, const struct spec_mount *m,
                          const struct ns_mount_opts *mo, struct cx_error **err)
{
        const char *type = m->type;

        if (mo->bind || streq_ptr(type, "bind")) {
                c->dev_bind = c->dev_bind || strcmp(m->destination, "/dev") == 0;
                return mount_bind(c, m->source, m->destination, mo, ns_idmap_mount_fd(c, idx),
                                  ns_host_mount_fd(c, idx), err);
        }
        if (streq_ptr(type, "cgroup") || streq_ptr(type, "cgroup2"))
                return ns_mount_cgroup(c, idx, mo, err);
        if (streq_ptr(type, "sysfs") && c->opts->user_ns && !c->new_net)
                return mount_sys_bind(c, m->destination, mo, err);

        int r = mount_fs(c, m->source ? m->source : type, type, m->destination, mo, err);
        if (r == -EPERM && streq_ptr(type, "sysfs") && c->opts->user_ns) {
                if (err) {
                        cx_error_free(*err);
                        *err = NULL;
                }
                return mount_sys_bind(c, m->destination, mo, err);
        }
        return r;
}

/* In a shared mount namespace a mount may only land strictly beneath the root. */
static int refuse_root_target(const struct ns_ctx *c, const char *dest, struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        struct stat a, b;
        if (ns_resolve_in_root(c->rootfd, dest, NS_CREATE_NONE, &fd, NULL) < 0)
                return 0; /* missing: it will be created beneath the root */
        if (fstat(fd, &a) < 0 || fstat(c->rootfd, &b) < 0)
                return cx_error_set(err, errno, "stat `%s`", dest);
        if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                return cx_error_msg(err, EINVAL,
                                    "the destination is the container's root itself, which "
                                    "cannot be mounted over without a mount namespace of its "
                                    "own");
        return 0;
}

/* proc and sysfs only on an ordinary directory (as runc): never through a symlink the rootfs
 * planted at the destination, nor over a file. */
static int check_special_target(const struct ns_ctx *c, const struct spec_mount *m,
                                struct cx_error **err)
{
        if (!streq_ptr(m->type, "proc") && !streq_ptr(m->type, "sysfs"))
                return 0;
        _cleanup_free_ char *parent = xstrdup(m->destination);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
                parent[--n] = '\0';
        char *slash = strrchr(parent, '/');
        _cleanup_free_ char *name = xstrdup(slash + 1);
        slash[slash == parent ? 1 : 0] = '\0';
        _cleanup_close_ int pfd = -1;
        struct stat st;
        if (!name[0] || ns_resolve_in_root(c->rootfd, parent, NS_CREATE_NONE, &pfd, NULL) < 0 ||
            fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return 0; /* missing: created as a directory */
        if (!S_ISDIR(st.st_mode))
                return cx_error_msg(err, EINVAL,
                                    "filesystem `%s` must be mounted on an ordinary directory: "
                                    "`%s` in the rootfs is a %s",
                                    m->type, m->destination,
                                    S_ISLNK(st.st_mode) ? "symlink" : "non-directory");
        return 0;
}

int ns_mount_entry(struct ns_ctx *c, size_t idx, struct cx_error **err)
{
        const struct spec_mount *m = &c->spec->mounts[idx];
        const struct ns_mount_opts *mo = &c->opts->mounts->opts[idx]; /* checked by the plan */
        int r;
        if ((mo->idmap || m->n_uid_mappings || m->n_gid_mappings) && ns_idmap_mount_fd(c, idx) < 0)
                return cx_error_msg(err, EINVAL,
                                    "mounts[%zu]: idmapped, but the runtime prepared no "
                                    "idmapped clone of its source",
                                    idx);
        if ((r = check_special_target(c, m, err)) < 0)
                return cx_error_prefix(err, "mounts[%zu]", idx);
        if (c->opts->shared_mnt_ns && (r = refuse_root_target(c, m->destination, err)) < 0)
                return cx_error_prefix(err, "mounts[%zu].destination `%s`", idx, m->destination);
        r = mount_dispatch(c, idx, m, mo, err);
        if (r < 0)
                return cx_error_prefix(err, "mount `%s` to rootfs at `%s`",
                                       m->source ? m->source : m->type, m->destination);
        return 0;
}
