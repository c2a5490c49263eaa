/* namespaces: everything the container's init does to build its view of the system —
 * joining namespaces by path, uid/gid maps, time offsets, the root filesystem (mounts in order,
 * safe target resolution, default /dev and devices, masked and read-only paths, pivot_root),
 * sysctls, hostname and domainname, the loopback device.
 *
 * Mount targets are resolved inside the root with openat2(RESOLVE_IN_ROOT) and mounted through
 * /proc/self/fd/N, so a symlink inside the rootfs cannot redirect them (CVE-2021-30465).
 * Kernel interfaces: setns(2), mount(2), openat2(2), pivot_root(2), mknod(2), /proc/PID/
 * uid_map|gid_map|setgroups|timens_offsets, /proc/sys, sethostname(2), SIOCSIFFLAGS. */
#pragma once

#include "spec/spec.h"
#include "util/util.h"

#include <sys/types.h>

/* ---- the container's config, as far as namespaces needs it -------------------------------- */
/* A const view the container layer builds from the spec (container_ns_config): the root, the
 * mounts, linux (namespaces, maps, devices, paths, sysctl, propagation), the process (its
 * user, for the id maps; its cwd, made in the root) and the names of the UTS namespace. */
struct ns_config {
        struct spec_root root;
        const struct spec_mount *mounts;
        size_t n_mounts;
        const struct spec_linux *linux_;
        const struct spec_process *process;
        const char *hostname;
        const char *domainname;
};

/* ---- mount options ----------------------------------------------------------------------- */
struct ns_mount_opts {
        unsigned long flags;       /* MS_* for mount(2) */
        unsigned long clear_flags; /* MS_* explicitly cleared ("rw", "suid", ...) */
        unsigned long propagation; /* MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE [| MS_REC] */
        uint64_t attr_set;         /* MOUNT_ATTR_* to set recursively ("rro", "rnosuid", ...) */
        uint64_t attr_clr;
        bool bind;      /* bind or rbind */
        bool recursive; /* rbind */
        bool idmap;     /* idmap / ridmap */
        bool tmpcopyup;
        char *data; /* unknown options joined with ',' (e.g. "mode=755,size=64k"), or NULL */
};
/* Parses OCI mount options.  Unknown options are passed to the filesystem as data. */
int ns_mount_opts_parse(char *const *options, struct ns_mount_opts *ret, struct cx_error **err);
void ns_mount_opts_clear(struct ns_mount_opts *o);
/* Every option name ns_mount_opts_parse knows (the rest go to the filesystem as data), for the
 * features document.  Free the array (not the names). */
const char **ns_mount_option_names(size_t *ret_n);
/* config.json's mounts parsed and checked before anything is made (destinations absolute,
 * options known, tmpcopyup on tmpfs only, type and source where required): opts[i] is
 * mounts[i]'s.  Errors name mounts[i]. */
struct ns_mount_plan {
        struct ns_mount_opts *opts;
        size_t n;
};
int ns_mounts_plan(const struct ns_config *s, struct ns_mount_plan *ret, struct cx_error **err);
void ns_mount_plan_clear(struct ns_mount_plan *p);

/* ---- the root filesystem's source --------------------------------------------------------- */
/* What the container's root is made from.  The init mounts it as its kind says. */
enum ns_rootfs_kind {
        NS_ROOTFS_DIR,      /* path as it is: a bundle's root.path */
        NS_ROOTFS_IDMAPPED, /* path through an idmapped clone: the container's user namespace
                             * sees files owned by host ids it does not map (a tenant's rootfs
                             * owned by host root) as its own */
        NS_ROOTFS_OVERLAY,  /* an overlay of an image's layers (image/): made by the parent as a
                             * detached mount, attached by the init on path */
};
struct ns_rootfs_source {
        enum ns_rootfs_kind kind;
        const char *path;
        /* NS_ROOTFS_OVERLAY: the layers, bottom first, and the container's upper and work dirs.
         * With a user namespace the lowers are idmapped like the container (one copy of an
         * image serves every tenant) and the upper's root is given to the container's root. */
        char *const *lowers;
        size_t n_lowers;
        const char *upper, *work;
};

/* A read-only overlay of lowers (bottom first) as a detached mount: the merged tree of an image
 * (overlay.c), never attached anywhere. */
int ns_overlay_lowers_open(char *const *lowers, size_t n, int *ret_fd, struct cx_error **err);

/* Makes the mount point of every bind mount of mounts (every mount: !binds_only) inside root
 * (a directory, or an empty file for a bind of a file), never following a symlink out of it:
 * before CRIU restores mounts into a root that lacks them, and before the KVM mode shares a
 * read-only root (targets.c).  Errors name mounts[i]. */
int ns_mount_targets_make(const char *root, const struct spec_mount *mounts, size_t n,
                          bool binds_only, struct cx_error **err);
/* A bind mount: type "bind", or the bind/rbind option. */
bool ns_mount_is_bind(const struct spec_mount *m);

/* ---- parent side ------------------------------------------------------------------------- */
/* Checks linux.uidMappings/gidMappings (and mounts[].uid/gidMappings): sizes, overlapping
 * container or host ranges, the process user and groups mapped.  Errors name the JSON path.  A
 * rootfs whose host owner is not mapped gets a warning (runc accepts it) unless it is idmapped. */
int ns_idmap_validate(const struct ns_config *s, const struct ns_rootfs_source *root,
                      struct cx_error **err);
/* True when container_id falls in one of the n ranges. */
bool ns_id_mapped(const struct spec_id_map *m, size_t n, uint32_t container_id);
/* Writes /proc/PID/{setgroups,uid_map,gid_map} from linux.uidMappings/gidMappings. */
int ns_write_id_maps(pid_t pid, const struct spec_linux *l, struct cx_error **err);

/* idmapped mounts (idmap-mount.c): detached clones with MOUNT_ATTR_IDMAP, made by the parent
 * (in the host's namespaces) and attached by the init with move_mount. */
struct ns_idmap_mounts {
        int rootfs_fd; /* clone of root.path idmapped like the container, or -1 */
        int *fds;      /* fds[i]: clone of mounts[i].source, or -1 when not idmapped */
        int *host_fds; /* host_fds[i]: a plain clone of a bind source, opened on the host side
                        * for a new user namespace; attached only if the init cannot open it */
        size_t n;
};
/* Opens the idmapped clones: each bind mount with the idmap/ridmap option or its own
 * uidMappings/gidMappings (the container's mappings when it has none), and the root when its
 * source is NS_ROOTFS_IDMAPPED.  Errors name mounts[i]. */
int ns_idmap_mounts_open(const struct ns_config *s, const struct ns_rootfs_source *root,
                         struct ns_idmap_mounts *ret, struct cx_error **err);
void ns_idmap_mounts_clear(struct ns_idmap_mounts *m);

/* Opens every namespace path of the config (O_RDONLY|O_CLOEXEC) before anything changes, and
 * checks that each is a namespace of the right type.  fds[t] = -1 where none. */
int ns_open_paths(const struct spec_linux *l, int fds[SPEC_NS_MAX], struct cx_error **err);
/* setns() into each opened namespace: user first, then the others; closes the fds. */
int ns_join(int fds[SPEC_NS_MAX], struct cx_error **err);
/* unshare(CLONE_NEWTIME) in the caller and writes the offsets, so that the caller's next
 * child starts in the new time namespace. */
int ns_time_prepare(const struct spec_linux *l, struct cx_error **err);

/* A config without a mount namespace of its own (none, or one joined by path) shares an
 * existing one; see ns_rootfs_opts.shared_mnt_ns. */
bool ns_shares_mount_ns(const struct spec_linux *l);
/* Refuses, before anything is made, what cannot be done without a mount namespace of its own
 * (root.readonly, linux.rootfsPropagation, maskedPaths, readonlyPaths: as runc, they would
 * remount or mount over the shared namespace). */
int ns_rootfs_validate(const struct ns_config *s, struct cx_error **err);
/* Mount ids of the mounts at or beneath root in the current mount namespace (hostmounts.c). */
int ns_mounts_beneath(const char *root, uint64_t **ret_ids, size_t *ret_n, struct cx_error **err);
/* Detaches every mount strictly beneath root that is not in keep, the newest first. */
int ns_unmount_beneath(const char *root, const uint64_t *keep, size_t n_keep,
                       struct cx_error **err);
/* --no-pivot, in the container's own mount namespace: unmounts (or covers) every proc and
 * sysfs mount outside root, as runc, so no fully visible one lets the container mount a fresh
 * proc after the chroot. */
int ns_hide_kernel_fs_outside(const char *root, struct cx_error **err);
/* The inode of /proc/self/ns/mnt. */
int ns_mnt_ns_inode(uint64_t *ret, struct cx_error **err);

/* ---- init side --------------------------------------------------------------------------- */
/* One cgroup hierarchy, for mounts of type "cgroup"/"cgroup2" (the container layer fills these
 * from its cgroup manager; namespaces knows nothing of cgroup drivers). */
struct ns_cgroup_mount {
        const char *name;     /* directory under the destination: "memory", "cpu,cpuacct",
                               * "unified"; "" for a pure v2 host (mounted at the destination) */
        const char *fstype;   /* "cgroup" or "cgroup2" */
        const char *options;  /* data of a fresh mount: "memory", "name=systemd", "" */
        const char *host_dir; /* the container's cgroup directory on the host (bind source) */
};

struct ns_rootfs_opts {
        bool no_pivot; /* chroot instead of pivot_root (--no-pivot) */
        /* The init did not create its mount namespace (none in the config, or one joined by
         * path): no pivot_root, no propagation change, nothing mounted at or above root.path;
         * mounts strictly beneath it, then chroot. */
        bool shared_mnt_ns;
        uint64_t caller_mnt_ns; /* inode of the runtime's own mount namespace (a second check) */
        const struct ns_cgroup_mount *cgroups; /* for mounts of type "cgroup"/"cgroup2" */
        size_t n_cgroups;
        bool cgroup_ns; /* a new cgroup namespace was created */
        bool user_ns;   /* running in a new user namespace */
        bool no_cgroup; /* no cgroup of its own (rootless): cgroup mounts are skipped */
        const struct ns_idmap_mounts *idmap; /* from ns_idmap_mounts_open, or NULL */
        const struct ns_mount_plan *mounts;  /* from ns_mounts_plan */
        /* Called after the `mounts` are in place and before pivot_root (createRuntime and
         * createContainer hooks run there).  May be NULL. */
        int (*before_pivot)(void *userdata, struct cx_error **err);
        void *userdata;
};

/* Builds the root filesystem and enters it.  Must run in the container's new mount
 * namespace.  Order (as runc): rootfs propagation, bind root onto itself, `mounts` in order,
 * default /dev nodes and symlinks (unless /dev is a bind mount), linux.devices, pivot_root (or
 * chroot), linux.sysctl (ns_sysctl_apply: before /proc/sys can turn read-only), maskedPaths,
 * readonlyPaths, a read-only /dev, root.readonly, rootfsPropagation.  Errors name the mount and
 * its path: "mount `proc` to rootfs at `/proc`: ...".  Needs the host's /proc in the current
 * mount namespace (targets are reached through /proc/self/fd/N). */
int ns_rootfs_setup(const struct ns_config *s, const struct ns_rootfs_opts *o,
                    struct cx_error **err);

/* Writes linux.sysctl under /proc/sys.  ns_rootfs_setup already calls it at the right point;
 * once it succeeded, later calls in the same process do nothing (so calling it again after
 * ns_rootfs_setup is harmless).  Call it directly only for a container without its own root. */
int ns_sysctl_apply(const struct spec_linux *l, struct cx_error **err);
/* Checks that each sysctl belongs to a namespace the container has its own of (as runc). */
int ns_sysctl_validate(const struct ns_config *s, struct cx_error **err);

/* sethostname/setdomainname when given (requires a UTS namespace: validated). */
int ns_set_hostname(const struct ns_config *s, struct cx_error **err);

/* Brings up "lo" in a new network namespace. */
int ns_loopback_up(struct cx_error **err);
