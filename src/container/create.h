/* Private to src/container: the create plan shared by `create` and `run`. */
#pragma once

#include "container/internal.h"
#include "namespaces/namespaces.h"

struct create_ctx {
        const struct container_opts *o;
        struct spec *spec;
        char *raw;
        struct state_dir dir;
        bool dir_created;
        struct state st;
        struct cg_manager *cg;
        bool cg_created;
        struct cg_join join;  /* fds to join the cgroup from the init */
        bool joined_at_clone; /* clone3(CLONE_INTO_CGROUP) worked */
        struct cg_hierarchy *hier;
        size_t n_hier;
        pid_t pid;
        int sync_fd;
        int fifo_fd;
        int console_fd;
        int console_peer;                /* own_console: our end, receives the pty master */
        struct container_opts opts_copy; /* o, with the LISTEN_FDS fds added to preserve */
        bool rootfs_idmap;               /* a tenant's rootfs: mounted idmapped */
        struct ns_idmap_mounts idmap;    /* idmapped clones; the init inherits them */
        int tenant_lock;                 /* ROOT/tenants.lock, held until the state exists */
        uint64_t caller_mnt_ns;          /* our mount namespace, which the init never re-roots */
};

/* Everything up to a created container whose init waits on exec.fifo.  On failure every trace
 * is removed.  The init is a child of the calling process. */
int create_container(struct create_ctx *c, const struct container_opts *o, struct cx_error **err);
/* Undoes a partial or complete create: kills the init, removes the cgroup and the state. */
void create_abort(struct create_ctx *c);
/* Releases memory and fds (the container stays). */
void create_ctx_clear(struct create_ctx *c);
