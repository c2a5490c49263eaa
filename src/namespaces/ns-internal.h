/* namespaces: declarations shared between the files of this subsystem (not a public API). */
#pragma once

#include <string.h>

#include "namespaces/namespaces.h"

#include <stdio.h>

/* What to create when a path inside the root does not exist. */
enum ns_create {
        NS_CREATE_NONE,
        NS_CREATE_DIR,  /* missing components become directories (0755) */
        NS_CREATE_FILE, /* ... except the last one, an empty regular file (a bind target) */
};

/* Resolves path inside the root rootfd (absolute symlinks and ".." stay inside), creating
 * what is missing as asked.  *ret_fd: an O_PATH|O_CLOEXEC fd of the result.  Uses openat2
 * (RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) and falls back to a component walk without it. */
int ns_resolve_in_root(int rootfd, const char *path, enum ns_create create, int *ret_fd,
                       struct cx_error **err);

/* "/proc/self/fd/N": the path through which mount(2) reaches an O_PATH fd. */
#define NS_PROCFD_LEN 32
static inline const char *ns_procfd(char buf[NS_PROCFD_LEN], int fd)
{
        snprintf(buf, NS_PROCFD_LEN, "/proc/self/fd/%d", fd);
        return buf;
}

/* The state of one ns_rootfs_setup run. */
/* Both strings given and equal. */
static inline bool streq_ptr(const char *a, const char *b)
{
        return a && b && strcmp(a, b) == 0;
}

struct ns_ctx {
        const struct ns_config *spec;
        const struct ns_rootfs_opts *opts;
        int rootfd;    /* O_PATH of root.path after it was bind-mounted onto itself */
        bool new_net;  /* a new network namespace (not joined, not the host's) */
        bool dev_bind; /* /dev is a bind mount: no default nodes (as runc) */
        bool dev_ro;   /* a /dev mount asked for ro: remounted ro once the nodes exist */
};

/* Writes n ranges to /proc/PID/FILE (uid_map or gid_map) with one write (idmap.c). */
int ns_write_map(pid_t pid, const char *file, const struct spec_id_map *m, size_t n,
                 struct cx_error **err);
/* The detached idmapped clone made by the parent for mounts[idx], or -1 (idmap-mount.c). */
int ns_idmap_mount_fd(const struct ns_ctx *c, size_t idx);
/* The host-side clone of mounts[idx].source (a new user namespace), or -1. */
int ns_host_mount_fd(const struct ns_ctx *c, size_t idx);
/* Attaches a detached mount (open_tree) on the directory or file target_fd (O_PATH). */
int ns_move_mount_fd(int mount_fd, int target_fd, struct cx_error **err);

/* Mounts spec->mounts[idx] inside the root. */
int ns_mount_entry(struct ns_ctx *c, size_t idx, struct cx_error **err);
/* Mounts of type cgroup/cgroup2 (the hierarchies come from ns_rootfs_opts). */
int ns_mount_cgroup(struct ns_ctx *c, size_t idx, const struct ns_mount_opts *mo,
                    struct cx_error **err);
/* tmpcopyup: copies the tree under src_dirfd (the directory a new tmpfs hides) into the
 * tmpfs at dst_dirfd, keeping modes and owners; set_root: also give the tmpfs root the hidden
 * directory's mode. */
int ns_copyup(int src_dirfd, int dst_dirfd, bool set_root, struct cx_error **err);
/* Bind-remounts the mount at fd with flags (MS_* without MS_REMOUNT|MS_BIND); when that is
 * refused (EPERM: flags locked by a user namespace) keeps the mount's locked flags, except those
 * in clear_flags, and retries. */
int ns_remount_fd(int fd, unsigned long flags, unsigned long clear_flags, struct cx_error **err);
/* MS_* flags of a mount that a bind remount must repeat not to be refused in a user namespace
 * (nosuid, nodev, noexec, ro, atime bits), from statvfs's f_flag. */
unsigned long ns_locked_flags(unsigned long st_flag);

/* Default /dev nodes and symlinks, linux.devices. */
int ns_setup_dev(struct ns_ctx *c, struct cx_error **err);

/* After pivot_root: maskedPaths, readonlyPaths, root.readonly. */
int ns_mask_paths(char *const *paths, struct cx_error **err);
int ns_readonly_paths(char *const *paths, struct cx_error **err);
int ns_remount_readonly(const char *path, bool try_plain, struct cx_error **err);

/* ---- idmapped clones (idmap-mount.c) ------------------------------------------------------ */
/* A detached clone of src (open_tree) idmapped like userns_fd; rec_clone/rec_idmap: AT_RECURSIVE */
int ns_clone_idmapped(const char *src, bool rec_clone, bool rec_idmap, int userns_fd, int *ret_fd,
                      struct cx_error **err);
/* The user namespace giving the container's own mappings (created once into *cache). */
int ns_container_userns(const struct ns_config *s, int *cache, struct cx_error **err);
/* The rootfs overlay (overlay.c) as a detached mount in *ret_fd. */
int ns_overlay_open(const struct ns_config *s, const struct ns_rootfs_source *root, int *cache,
                    int *ret_fd, struct cx_error **err);
