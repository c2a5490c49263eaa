/* container: the OCI lifecycle — create, start, run, kill, delete, state, list.
 *
 * create: validate -> lock ROOT/ID -> early state -> cgroup -> clone the init into its new
 * namespaces -> parent writes id maps, moves it into the cgroup -> init builds its root and
 * security, then blocks on ROOT/ID/exec.fifo -> state `created`.  start writes one byte into
 * the fifo and the init execs the user process.  run = create + start + wait, forwarding
 * signals.  The init reports every failure to the parent over a SOCK_SEQPACKET socketpair; the
 * CLI prints it once.  Kernel interfaces: clone(2), setns(2), signalfd(2), pidfd_open(2),
 * pidfd_send_signal(2), mkfifo(3), waitpid(2). */
#pragma once

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum container_rootless {
        CONTAINER_ROOTLESS_AUTO = 0, /* for a uid other than 0 */
        CONTAINER_ROOTLESS_TRUE,
        CONTAINER_ROOTLESS_FALSE,
};

struct container_opts {
        const char *root; /* state root, default /run/capsa */
        const char *id;
        const char *bundle;         /* default: cwd */
        const char *pid_file;       /* optional */
        const char *console_socket; /* optional: receives the pty master (terminal: true) */
        int preserve_fds;           /* extra fds after stdio passed to the container */
        bool no_pivot;
        bool no_new_keyring;
        bool systemd_cgroup;
        enum container_rootless rootless; /* --rootless: whether a cgroup that cannot be
                                             created for lack of permission is tolerated (the
                                             container then runs without one) */
        bool detach;                      /* run only */
        bool keep;                        /* run only: keep the state after the process exits */
        const char *tenant;               /* --tenant NAME (tenant-spec.c), or NULL */
        char *const *nets;  /* --net NAME[:ip=ADDR[,ip=ADDR]]... (NULL-terminated), or NULL */
        char *const *ports; /* --publish [HOSTIP:]HOSTPORT:PORT[/tcp|udp]..., or NULL */
        /* main's argv: create/run re-execute capsa from a protected copy (CVE-2019-5736) when
         * the container's processes could see the init, i.e. without a new pid namespace. */
        char **self_argv;
        bool own_console; /* set by run in the foreground: no --console-socket needed, capsa
                             receives the pty master and proxies it to its stdin/stdout */
        /* --image: the bundle was made from an image (image/image.h): its root is an overlay of
         * these layers, and its dir is released when the container is deleted (undo `image`) */
        const struct image_bundle *image;
        /* restore (checkpoint/checkpoint.h): the processes come from a checkpoint image, not
         * from the bundle's process (the `restore` launcher) */
        const struct ckpt_restore_opts *restore;
        bool vm;      /* --vm: the KVM mode (vm/vm.h), as run.oci.handler=vm would */
        int vm_accel; /* --vm-accel (enum vm_accel): auto (0), kvm or tcg */
        bool vm_accel_set;
};

struct image_bundle;
int container_create(const struct container_opts *o, struct cx_error **err);
int container_start(const char *root, const char *id, struct cx_error **err);
/* Runs the container; *ret_status gets the process's exit status (128+N if killed by N). */
int container_run(const struct container_opts *o, int *ret_status, struct cx_error **err);
int container_kill(const char *root, const char *id, int sig, bool all, struct cx_error **err);
int container_delete(const char *root, const char *id, bool force, struct cx_error **err);
/* The OCI state JSON of one container. */
int container_state(const char *root, const char *id, char **ret_json, struct cx_error **err);

struct spec_resources;
/* Applies new resource limits to a created, running or paused container (update.c/pause.c). */
int container_update(const char *root, const char *id, const struct spec_resources *r,
                     struct cx_error **err);
/* Freezes (pause=true) a running container, or thaws a paused one. */
int container_pause(const char *root, const char *id, bool pause, struct cx_error **err);
/* Events: fn gets each event (the CLI prints it as runc does: {"type":"stats"|"oom","id":ID,
 * "data":{...}}).  stats_once: one stats event, then return.  Otherwise stats every interval_ms
 * and OOM events as they happen, until the container stops or fn returns < 0. */
enum container_event_type { CONTAINER_EVENT_STATS, CONTAINER_EVENT_OOM };
struct cg_stats;
/* One interface of the container's own network namespace, counted as the container sees it
 * (/proc/PID/net/dev), as runc's types.NetworkInterface. */
struct container_netif {
        char name[16];
        uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
        uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
};
struct container_event {
        enum container_event_type type;
        const char *id;
        const struct cg_stats *stats; /* STATS: the cgroup's statistics (cgroups/cgroups.h) */
        /* STATS: the interfaces other than lo of the container's network namespace; none when
         * it shares the caller's (the host's interfaces are not the container's) */
        const struct container_netif *netifs;
        size_t n_netifs;
        /* STATS of a VM container: the data object as the guest's capsa wrote it (stats and
         * netifs are then unset) */
        const char *data_json;
};
typedef int (*container_event_fn)(const struct container_event *ev, void *userdata);
int container_events(const char *root, const char *id, bool stats_once, unsigned interval_ms,
                     container_event_fn fn, void *userdata, struct cx_error **err);

struct container_info {
        char *id;
        int pid;
        char *status;
        char *bundle;
        char *rootfs;
        char *created;
        char *owner;
        char **annotations; /* flat: key, value, ..., NULL */
};
int container_list(const char *root, struct container_info **ret, size_t *ret_n,
                   struct cx_error **err);
void container_info_free(struct container_info *v, size_t n);

/* ---- exec and ps ------------------------------------------------------------------------ */
/* exec and ps: run another process in a running container, list a container's processes.
 *
 * exec joins every namespace of the container's init (/proc/PID/ns/ENTRY: user first, mount last;
 * the pid and time namespaces apply to a child, so it forks once more), its cgroup and its
 * root, then applies the container's process settings (capabilities, no_new_privs, seccomp,
 * rlimits, LSM label, user, env, cwd) with runc's per-flag overrides, and execs.  In the
 * foreground it forwards signals and returns the exit status; a terminal is either handed to
 * --console-socket or proxied to the caller's stdin/stdout.  Kernel interfaces: setns(2),
 * clone(2) with CLONE_PARENT, chroot(2), signalfd(2), /dev/ptmx, SCM_RIGHTS. */
struct container_exec_opts {
        const char *root;
        const char *id;
        const char *process_file; /* --process: a JSON process object, instead of config.json's */
        char **args;              /* the command after the id (NULL: from --process) */
        const char *cwd;          /* NULL: keep */
        char **env;               /* appended; a later KEY= overrides an earlier one */
        int tty;                  /* -1: not given (runc: false unless --process says) */
        bool user_set, gid_set;
        uint32_t uid, gid;
        uint32_t *additional_gids; /* appended */
        size_t n_additional_gids;
        char **caps;      /* --cap names: added to bounding, effective, permitted (and ambient) */
        int no_new_privs; /* -1: keep */
        const char *apparmor;
        const char *process_label;
        bool detach;
        const char *pid_file;
        const char *console_socket;
        int preserve_fds;
        bool ignore_paused;
        char **cgroups; /* --cgroup: sub-cgroups to run in (cg_manager_narrow), or NULL */
        /* main's argv: capsa re-executes itself from a protected copy (CVE-2019-5736) when the
         * container could write its binary; NULL: never (a library caller) */
        char **self_argv;
};

/* Runs the process; in the foreground *ret_status gets its exit status (128+N if killed by
 * signal N), detached 0.  The process's cwd is resolved inside the container's root
 * (openat2 RESOLVE_IN_ROOT, no magic links: CVE-2024-21626).  With o->self_argv, capsa first
 * re-executes itself from a protected copy unless the container cannot write its binary (see
 * exec.c): this call then does not return in the first image. */
int container_exec(const struct container_exec_opts *o, int *ret_status, struct cx_error **err);

/* The pids in the container's cgroup (sorted). */
/* `ps`'s table when the container's processes are not the host's (a VM's: made in its guest);
 * -EOPNOTSUPP (err untouched) for a container whose pids the host's ps shows. */
int container_ps_table(const char *root, const char *id, char **ps_args, char **ret,
                       struct cx_error **err);
int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
                   struct cx_error **err);
