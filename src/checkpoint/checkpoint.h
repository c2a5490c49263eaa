/* checkpoint: CRIU checkpoint/restore of containers, and live migration between hosts.
 *
 * The CRIU side (criu.c) speaks CRIU's RPC to `criu swrk` (the binary of --criu), with the
 * message codec of libcriu (loaded with dlopen on first use, as the image code loads its
 * libraries: capsa's start does not pay for it).  The container side (src/container/
 * checkpoint.c and restore.c) decides what CRIU is told: the init's pid, the external mounts
 * (bind mounts from the host, masked paths, device binds), the network namespace (external
 * when capsa or the config made it, so the restore joins a namespace attached like any other),
 * stdio pipes, terminals (orphan pts master to the console socket), cgroups.  Restore is the
 * container layer's `restore` launcher.  Migration (migrate*.c) drives pre-dumps to the
 * destination's page server over TLS, then the final dump, the rootfs changes and the config,
 * and removes the source only once the destination says the container runs.
 *
 * Image directory: CRIU's images plus capsa's own files:
 *   capsa-checkpoint.json  what restore needs beyond CRIU's images (see CKPT_META_FILE)
 *   descriptors.json       the init's fds 0-2 at dump (as runc writes it; podman reads it)
 * Kernel interfaces: CRIU (ptrace, /proc/PID/map_files, soft-dirty tracking, TCP repair,
 * userfaultfd for lazy pages), SCM_RIGHTS, setns(2). */
#pragma once

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CKPT_META_FILE        "capsa-checkpoint.json"
#define CKPT_DESCRIPTORS_FILE "descriptors.json"

/* TLS for CRIU's page server and migration's stream: PEM files (NULL: not given). */
struct ckpt_tls {
        const char *cacert;
        const char *cert;
        const char *key;
        bool no_cn_verify; /* a server: the CA authenticates the client, whose certificate does
                              not name this host's address */
};

enum ckpt_cgroups_mode {                      /* --manage-cgroups-mode */
                         CKPT_CG_DEFAULT = 0, /* CRIU's default (soft) */
                         CKPT_CG_SOFT,
                         CKPT_CG_FULL,
                         CKPT_CG_STRICT,
                         CKPT_CG_IGNORE,
};
/* "soft", "full", "strict", "ignore": the mode, or -EINVAL. */
int ckpt_cgroups_mode_parse(const char *s);

/* What checkpoint and restore share: the paths and CRIU's options (runc's flags). */
struct ckpt_common {
        const char *criu;       /* the criu binary (--criu; NULL: "criu" from PATH) */
        const char *image_path; /* --image-path (NULL: ./checkpoint) */
        const char *work_path;  /* --work-path: CRIU's logs (NULL: the image path) */
        bool tcp_established;
        bool ext_unix_sk;
        bool shell_job;
        bool file_locks;
        bool lazy_pages;
        bool auto_dedup;
        int status_fd; /* --status-fd: CRIU writes \0 there when ready (page server, lazy); -1 */
        enum ckpt_cgroups_mode cgroups_mode;
        char **empty_ns; /* --empty-ns: "network" (NULL-terminated, or NULL) */
        struct ckpt_tls tls;
};

struct ckpt_dump_opts {
        struct ckpt_common c;
        const char *parent_path; /* --parent-path: a previous pre-dump, relative to the image
                                    path (as CRIU wants it) or absolute */
        bool leave_running;
        bool pre_dump;
        bool track_mem;          /* implied by pre_dump (and a dump with a parent) */
        const char *page_server; /* --page-server ADDR:PORT: pages go there, not the image dir */
};

/* Checkpoints container id (running or paused).  Without --leave-running or --pre-dump the
 * container is deleted afterwards (as runc).  Errors name the container, the image path and,
 * for CRIU's failures, its log file (WORK/dump.log, pre-dump.log) with its last error lines. */
int container_checkpoint(const char *root, const char *id, const struct ckpt_dump_opts *o,
                         struct cx_error **err);

struct container_opts;
struct ckpt_restore_opts {
        struct ckpt_common c;
        bool no_subreaper;             /* --no-subreaper (foreground only) */
        const char *lsm_profile;       /* --lsm-profile TYPE:NAME, or NULL */
        const char *lsm_mount_context; /* --lsm-mount-context, or NULL */
        bool stdio_inherit; /* the init's stdin/stdout/stderr become the caller's fds 0-2,
                               files too (migration: the source's files are not here) */
};
/* Restores a container from the image path under o->id (the same or a new id), from the
 * bundle o->bundle: a container with its state, cgroup (the config's limits), mounts, network
 * attachment and undo record like any created by `create`, running.  o->detach: return once it
 * runs; otherwise wait for it as `run` does (*ret_status: its exit status).  Fails, leaving
 * nothing behind, when the id is in use or the image is missing or corrupt. */
int container_restore(const struct container_opts *o, const struct ckpt_restore_opts *r,
                      int *ret_status, struct cx_error **err);

/* ---- the CRIU RPC (criu.c) ------------------------------------------------------------------ */
/* One CRIU request through `criu swrk`.  The request is built by the caller with the libcriu
 * codec's types (ckpt_criu_req below); capsa forks criu with the fds in keep_fds inherited at
 * the same numbers, runs child_setup in the child before the exec (a private mount namespace,
 * the cgroup), answers CRIU's notifications through notify, and returns CRIU's response. */
struct ckpt_criu_req;  /* opaque here: CriuReq of rpc.pb-c.h, built in criu.c */
struct ckpt_criu_call; /* see criu.c */

/* CRIU's version as a number (31701 for 3.17.1), or an error saying criu is missing. */
int ckpt_criu_version(const char *binary, int *ret, struct cx_error **err);
/* `criu check`: 0 when CRIU can checkpoint on this kernel; otherwise an error with CRIU's
 * reason (e.g. this host's vDSO layout). */
int ckpt_criu_check(const char *binary, struct cx_error **err);

/* ---- live migration (migrate*.c) ------------------------------------------------------------ */
struct ckpt_migrate_stats {
        unsigned rounds;          /* pre-copy rounds (0: stop-and-copy or lazy) */
        uint64_t round_bytes[64]; /* bytes of pages sent per round, then the final dump */
        uint64_t freeze_ms;       /* from the final freeze to the container running on the
                                     destination */
        uint64_t total_ms;
        uint64_t total_bytes;
};
struct ckpt_migrate_opts {
        const char *root;
        const char *id;
        const char *dest; /* HOST:PORT of migrate-receive */
        const char *criu;
        struct ckpt_tls tls; /* required: the stream and the page server are TLS */
        bool lazy;           /* post-copy with lazy pages */
        bool no_precopy;     /* stop-and-copy (for comparison): one final dump */
        unsigned max_rounds; /* default 8 */
        unsigned max_downtime_ms;
        bool tcp_established;
        bool progress; /* a progress line on stderr (a TTY) */
        struct ckpt_migrate_stats *stats;
};
int ckpt_migrate(const struct ckpt_migrate_opts *o, struct cx_error **err);
struct ckpt_receive_opts {
        const char *root;
        const char *listen; /* ADDR:PORT */
        const char *criu;
        const char *work_dir; /* where images and the rootfs arrive (default: under root) */
        struct ckpt_tls tls;
        bool once;      /* one migration, then exit (default: serve until killed) */
        FILE *progress; /* a line per phase of each migration (NULL: none) */
};
int ckpt_migrate_receive(const struct ckpt_receive_opts *o, struct cx_error **err);

/* ---- one CRIU request (criu.c) --------------------------------------------------------------- */
enum ckpt_job_type { CKPT_JOB_DUMP, CKPT_JOB_PRE_DUMP, CKPT_JOB_RESTORE };
/* What the container side asks of CRIU.  Strings and arrays are the caller's. */
struct ckpt_job {
        enum ckpt_job_type type;
        const struct ckpt_common *c;
        const struct ckpt_dump_opts *dump;       /* DUMP, PRE_DUMP */
        pid_t pid;                               /* DUMP, PRE_DUMP: the container's init */
        int images_fd, work_fd;                  /* opened image and work directories */
        const char *log_name;                    /* in the work directory: dump.log, restore.log */
        const char *root;                        /* RESTORE: the container's root, mounted */
        const struct ckpt_restore_opts *restore; /* RESTORE: LSM options */
        char **ext_mounts;                       /* key, value, key, value, ..., NULL */
        char **external;                         /* "net[INODE]:KEY", ... (NULL-terminated) */
        int *inherit_fd;                         /* fds the child keeps, at the same numbers */
        char **inherit_key;                      /* their keys for CRIU (NULL-terminated, same n) */
        const char *cg_root;                     /* RESTORE: the cgroup the tree goes to (relative
                                                    to the hierarchy's root), or NULL */
        bool orphan_pts_master;    /* RESTORE: the terminal's master comes to notify */
        const char *freeze_cgroup; /* DUMP, PRE_DUMP: the cgroup CRIU freezes the tree with
                                      (v2: the container's; v1: its freezer's), as runc; a
                                      cgroup frozen already stays frozen */
        /* run in the forked child before it execs criu: a private mount namespace, the
         * cgroup; returns 0 or -errno with *msg (a static or leaked string) set */
        int (*child_setup)(void *userdata, const char **msg);
        /* CRIU's notifications ("post-dump", "setup-namespaces", "orphan-pts-master" with its
         * fd, ...): 0 to go on, or an error that ends the request */
        int (*notify)(void *userdata, const char *script, pid_t pid, int fd, struct cx_error **err);
        void *userdata;
        pid_t restored_pid; /* out (RESTORE): the restored init, our child (rst_sibling) */
};
/* Runs the job through `criu swrk`.  A failure's error has CRIU's errno and message, the log
 * file's path and its last error lines; when CRIU cannot work on this kernel at all (`criu
 * check` fails), the error says that instead. */
int ckpt_criu_run(struct ckpt_job *j, struct cx_error **err);
