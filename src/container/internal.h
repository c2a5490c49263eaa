/* Private to src/container: the parent<->init sync protocol, the init, hooks. */
#pragma once

#include "cgroups/cgroups.h"
#include "container/container.h"
#include "image/image.h"
#include "namespaces/namespaces.h"
#include "net/net.h"
#include "spec/spec.h"
#include "state/state.h"

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- sync: small typed messages over a SOCK_SEQPACKET socketpair ------------------------- */
enum sync_type {
        SYNC_GO = 1,     /* parent -> init: maps written, cgroup joined; carry on */
        SYNC_PID,        /* helper -> parent: the init's pid (when namespaces are joined) */
        SYNC_HOOKS,      /* init -> parent: mounts done; run prestart/createRuntime hooks */
        SYNC_HOOKS_DONE, /* parent -> init */
        SYNC_READY,      /* init -> parent: waiting for start */
        SYNC_ERROR,      /* either way: code + message */
        SYNC_SECCOMP,    /* init -> parent: the seccomp listener fd (SCM_RIGHTS), if any */
        /* parent -> exec'd process: listenerPath has its seccomp listener fd */
        SYNC_SECCOMP_DONE,
};

struct sync_msg {
        uint32_t type;
        int32_t code;
        int32_t pid;
        char text[4084];
};

int sync_send(int fd, enum sync_type type, int code, int pid, const char *text);
int sync_send_error(int fd, const struct cx_error *e);
/* Receives the next message; an ERROR message becomes *err; EOF becomes an error too. */
int sync_expect(int fd, enum sync_type type, struct sync_msg *ret, struct cx_error **err);
/* Receives a message that may carry an fd (SCM_RIGHTS; *ret_fd -1 when none), its text
 * NUL-terminated: the byte count, 0 at EOF, or -errno. */
ssize_t sync_recv_fd(int fd, struct sync_msg *m, int *ret_fd);
/* After start: waits until the process has exec'd (the socket closes on execve: 0) or sends
 * the error that stopped it. */
int sync_wait_exec(int fd, struct cx_error **err);

struct ns_idmap_mounts;

/* ---- the init ---------------------------------------------------------------------------- */
struct init_args {
        const struct spec *spec;
        const struct container_opts *opts;
        int sync_fd;
        int fifo_fd;
        int console_fd;             /* connected --console-socket, or -1 */
        const struct cg_join *join; /* the init joins its cgroup itself */
        const struct cg_hierarchy *cgroups;
        size_t n_cgroups;
        uint32_t new_ns;        /* CLONE_NEW* flags of namespaces created (not joined) */
        bool has_runtime_hooks; /* prestart or createRuntime hooks exist */
        const struct ns_idmap_mounts *idmap; /* detached idmapped mounts to attach */
        const struct ns_mount_plan *mounts;  /* the mounts' parsed options */
        const struct ns_config *ns;          /* namespaces' part of the spec */
        bool no_cgroup;         /* rootless without cgroup permission: the caller's cgroup */
        bool user_maps;         /* an unprivileged parent (or newuidmap) writes our id maps */
        uint64_t caller_mnt_ns; /* the runtime's mount namespace: never re-rooted */
};
/* Runs in the cloned init; never returns. */
_Noreturn void init_main(const struct init_args *a);

/* ---- the user process (exec-process.c): shared by the init and `exec` ------------------- */
struct sec_filter;
/* Finds args[0] as execvp would, with the process's PATH, in the current root. */
int proc_resolve_exec(const struct spec_process *p, char **ret, struct cx_error **err);
/* Opens a pty (in the current /dev), sends the master to console_fd, makes the peer the
 * controlling terminal of a new session and dups it onto fds 0-2. */
int proc_setup_terminal(const struct spec_process *p, int console_fd, struct cx_error **err);
/* systemd socket activation: when LISTEN_PID is our pid, returns LISTEN_FDS (the fds from 3
 * on) and adds LISTEN_FDS=N and LISTEN_PID=1 to p->env, as runc does; else 0. */
int proc_listen_fds(struct spec_process *p);
/* The target of /proc/PID/exe (NULL if gone), and a wait until it changes: `start` runs
 * poststart hooks only once the init has exec'd the user process (after startContainer). */
char *proc_exe(pid_t pid);
/* setresgid/setresuid 0 in a new user namespace (the init, and exec's process). */
int proc_become_ns_root(struct cx_error **err);
void proc_wait_exec(pid_t pid, const char *exe_before);
/* What proc_finalize_exec does besides dropping privileges and exec'ing. */
struct proc_finalize {
        struct sec_filter *filter; /* NULL: none, or already loaded */
        /* >= 0: a SCMP_ACT_NOTIFY filter's listener fd goes to the runtime over this sync socket
         * (SYNC_SECCOMP), which answers SYNC_SECCOMP_DONE once listenerPath has it */
        int sync_fd;
        /* called once privileges are dropped and the filter loaded, just before execve: the
         * startContainer hooks (as runc) */
        int (*before_exec)(void *userdata, struct cx_error **err);
        void *userdata;
};
/* Bounding set, no_new_privs, seccomp, user and capabilities, LSM label, before_exec, then
 * execve.  Returns only on failure. */
int proc_finalize_exec(const struct spec_process *p, const char *exec_path,
                       const struct proc_finalize *f, struct cx_error **err);

/* ---- hooks ------------------------------------------------------------------------------- */
/* Runs hooks of one kind in order, each with state_json on stdin; stops at the first failure.
 * hooks_run_warn (poststart, poststop): a failure is a warning and the next hook still runs. */
void hooks_run_warn(const struct spec_hooks *h, enum spec_hook_kind kind, const char *state_json);
int hooks_run(const struct spec_hooks *h, enum spec_hook_kind kind, const char *state_json,
              struct cx_error **err);

/* ---- rootless.c: a container without a cgroup (rootless) --------------------------------- */
/* The processes in the container's own pid namespace (none when it stopped); an error when it
 * shares the caller's pid namespace. */
int container_pidns_pids(const struct state *st, pid_t **ret, size_t *ret_n, struct cx_error **err);
/* Signals every process of container_pidns_pids (kill --all without a cgroup). */
int container_pidns_kill(const struct state *st, int sig, struct cx_error **err);
/* The user name of uid from /etc/passwd (the `list` OWNER column, as runc), or "#UID". */
char *container_owner_name(uid_t uid);

/* ---- mounts left in a shared mount namespace (hostmounts.c) ------------------------------ */
/* Before the init exists: records what is already beneath root.path (when the container has no
 * mount namespace of its own).  undo unmounts the rest; both are no-ops otherwise. */
int container_host_mounts_record(struct state_dir *d, const struct spec *s, struct cx_error **err);
int container_host_mounts_undo(struct state_dir *d, const char *rootfs, struct cx_error **err);

/* ---- console (exec-console.c), shared with `run` ------------------------------------------ */
/* Connects to a --console-socket path. */
int console_connect(const char *path, struct cx_error **err);
/* Receives the pty master sent by the container process over sock. */
/* Where the process's terminal goes: *ret_fd is connected to socket_path (--console-socket),
 * or, with none, is one end of a socketpair whose other end (*ret_peer) receives the master
 * for capsa to proxy. */
int console_open(const char *socket_path, int *ret_fd, int *ret_peer, struct cx_error **err);
int console_recv_master(int sock, int *ret_master, struct cx_error **err);
/* Waits for pid (our child) to exit, forwarding the signals read from sfd to it and reaping
 * any other child (orphans reparented to a child subreaper).  With
 * master >= 0, also copies stdin to the pty master and the master to stdout, with the caller's
 * terminal in raw mode (restored before returning) and SIGWINCH resizing the pty.  Returns the
 * exit status, 128+N when killed by signal N. */
int console_wait(pid_t pid, int sfd, int master);
/* Blocks every signal that can be forwarded; *ret_set is the set to read with signalfd. */
void console_block_signals(sigset_t *ret_old, sigset_t *ret_set);

/* ---- the plan (plan.c): config.json loaded and validated once ----------------------------- */
struct launcher;
struct container_exec_opts;
struct vm_params;
/* --net / run.capsa.network, -p / run.capsa.ports (network.c) */
struct plan_net_attach {
        char *network;              /* a tenant's `default` is already its own network */
        struct net_ip want4, want6; /* ip= (family 0: any) */
};
struct plan_net {
        struct plan_net_attach *v; /* eth0, eth1, ... in this order */
        size_t n;
        struct net_port *ports; /* published on the first network's addresses */
        size_t n_ports;
};
struct plan {
        struct spec *spec;
        char *raw;                       /* config.json as read: stored in ROOT/ID */
        struct container_opts opts;      /* the caller's, with the LISTEN_FDS fds added */
        const struct launcher *launcher; /* how the processes come to exist */
        struct ns_rootfs_source rootfs;  /* what the container's root is made from */
        struct ns_config ns;             /* namespaces' part of the spec */
        struct ns_mount_plan mounts;     /* config.json's mounts, parsed and checked */
        int tenant_lock;                 /* ROOT/tenants.lock, held until the state exists */
        const char *tenant;              /* the tenant's name, or NULL */
        uint32_t tenant_first_id;        /* its range's first id */
        struct plan_net net;             /* the networks it attaches to */
        size_t n_config_mounts;          /* config.json's own mounts (capsa's binds follow) */
        struct vm_params *vm;            /* the KVM mode's VM (the vm launcher's plan), or NULL */
};
/* Loads BUNDLE/config.json, applies the tenant's hardening, picks the launcher and checks
 * everything that can be checked before anything is made (each error names config.json and
 * the JSON path, or the argument). */
/* The view of s that namespaces/ gets. */
struct ns_config container_ns_config(const struct spec *s);
int plan_load(const struct container_opts *o, struct plan *p, struct cx_error **err);
void plan_clear(struct plan *p);
/* The config a container was created from (ROOT/ID/config.json), parsed; errors name it. */
int container_config(struct state_dir *d, const struct state *st, struct spec **ret,
                     struct cx_error **err);

/* ---- the undo record (undo.c) -------------------------------------------------------------- */
/* Kinds of resource; each has its undo in undo.c's table. */
#define UNDO_PROCESS     "process"     /* PID START_TIME */
#define UNDO_CGROUP      "cgroup"      /* DRIVER DIR... */
#define UNDO_HOST_MOUNTS "host-mounts" /* ROOTFS */
#define UNDO_NET         "net"         /* NETWORK HOST_VETH: an endpoint (network.c) */
#define UNDO_IMAGE       "image"       /* DIR: the container's dir in the image store */
/* Appends "kind args..." to ROOT/ID/undo before the resource is made: in the page cache, so it
 * survives the runtime being killed; fdatasync'ed too for kinds that survive a reboot. */
int undo_append(struct state_dir *d, const char *kind, char *const *args, struct cx_error **err);
int undo_append_process(struct state_dir *d, pid_t pid, uint64_t start_time, struct cx_error **err);
/* Drops the newest entry: its step failed and left nothing (it cleaned up after itself). */
int undo_retract(struct state_dir *d, struct cx_error **err);
/* Whether the record holds a resource of that kind. */
bool undo_has(struct state_dir *d, const char *kind);
/* Undoes every entry of the record, newest first (each undo is idempotent); stops at the first
 * failure, leaving the record for a later delete. */
int undo_run(struct state_dir *d, struct cx_error **err);

/* ---- create (create.c): prepare -> launch -> finish ---------------------------------------- */
struct create_ctx {
        struct plan plan;
        const struct container_opts *o; /* &plan.opts */
        struct spec *spec;              /* plan.spec */
        struct state_dir dir;
        bool dir_created;
        struct state st;
        struct cg_manager *cg;
        struct cg_join join;  /* fds to join the cgroup from the init */
        bool joined_at_clone; /* clone3(CLONE_INTO_CGROUP) worked */
        struct cg_hierarchy *hier;
        size_t n_hier;
        pid_t pid;
        int sync_fd;
        int fifo_fd;
        int console_fd;
        int console_peer;             /* own_console: our end, receives the pty master */
        struct ns_idmap_mounts idmap; /* idmapped clones; the init inherits them */
        uint64_t caller_mnt_ns;       /* our mount namespace, which the init never re-roots */
};
/* Everything up to a created container whose processes wait for start.  On failure every
 * trace is removed (undo_run).  A native init is a child of the calling process. */
int create_container(struct create_ctx *c, const struct container_opts *o, struct cx_error **err);
/* Undoes a partial or complete create: the launcher's processes, the undo record, the state. */
void create_abort(struct create_ctx *c);
/* Releases memory and fds (the container stays). */
void create_ctx_clear(struct create_ctx *c);

/* ---- an opened container ------------------------------------------------------------------- */
/* ROOT/ID locked, its state, its launcher and its status now.  Every operation on one
 * container starts here. */
struct container_handle {
        struct state_dir dir;
        struct state st;
        const struct launcher *launcher;
        enum state_status status;
};
int container_open(const char *root, const char *id, struct container_handle *h,
                   struct cx_error **err);
void container_close(struct container_handle *h);
/* Kills what remains (the launcher's stop), undoes the record, runs poststop hooks, removes
 * the state directory. */
int container_destroy(struct container_handle *h, struct cx_error **err);
/* Signals a pid only if it is still the recorded process (pidfd). */
int container_signal(const struct state *st, int sig, struct cx_error **err);
/* --pid-file: the pid, written atomically (create and exec). */
int container_write_pid_file(const char *path, pid_t pid, struct cx_error **err);
/* After a SIGKILL: a frozen cgroup is thawed, so that its processes die (v1's freezer holds
 * even SIGKILL), as runc does. */
void container_thaw_after_kill(const struct state *st);
/* Waits for our child pid to exit (EINTR retried). */
void container_reap(pid_t pid);
/* SIGKILLs pid if it is still the process that started at start_time, and waits (up to 5 s)
 * until it is gone. */
void container_kill_wait(pid_t pid, uint64_t start_time);

/* ---- launchers (launcher.c; native.c) ------------------------------------------------------ */
/* How a container's processes come to exist and are driven.  The name is kept in state.json;
 * every operation on a container dispatches through its launcher. */
struct launcher {
        const char *name;
        /* the container is built elsewhere (a VM's guest): create makes no host mounts for it */
        bool in_guest;
        /* plan_load, once the launcher is chosen: checks and adapts the plan (optional) */
        int (*plan)(struct plan *p, struct cx_error **err);
        /* create, after prepare (state dir, undo record, cgroup, console): make the processes
         * and bring them to "created"; each made resource is in the undo record. */
        int (*launch)(struct create_ctx *c, struct cx_error **err);
        /* run in the foreground: start the container create_container left (its processes
         * are our children). */
        int (*start_own)(struct create_ctx *c, struct cx_error **err);
        int (*start)(struct container_handle *h, struct cx_error **err);
        /* created, running, paused or stopped (creating while create runs) */
        enum state_status (*status)(struct state_dir *d, const struct state *st);
        /* `state`: adds what the launcher knows to the annotations (optional) */
        void (*describe)(struct state_dir *d, struct state *st);
        int (*kill)(struct container_handle *h, int sig, bool all, struct cx_error **err);
        int (*pids)(struct container_handle *h, pid_t **ret, size_t *ret_n, struct cx_error **err);
        /* `ps` without --format json, when the host's ps cannot show the processes (optional) */
        int (*ps_table)(struct container_handle *h, char **ps_args, char **ret,
                        struct cx_error **err);
        int (*freeze)(struct container_handle *h, bool freeze, struct cx_error **err);
        /* `exec`: runs another process in the container; closes h (unlocks it) as soon as it
         * has what it needs. */
        int (*exec)(struct container_handle *h, const struct container_exec_opts *o,
                    int *ret_status, struct cx_error **err);
        int (*update)(struct container_handle *h, const struct spec_resources *r,
                      struct cx_error **err);
        /* `events` (the state is a copy: the container is not locked while it streams) */
        int (*events)(const char *root, const struct state *st, bool stats_once,
                      unsigned interval_ms, container_event_fn fn, void *userdata,
                      struct cx_error **err);
        /* ends every process of the container and waits for them (delete) */
        void (*stop)(struct container_handle *h);
};
/* The launcher called name (state.json's "launcher"; NULL or "" is native), or NULL. */
const struct launcher *launcher_find(const char *name);
/* Adds a launcher to the table for this process (the unit tests drive create and delete
 * through one of their own); -EEXIST when the name is taken or the table full. */
int launcher_register(const struct launcher *l);
/* The launcher a config asks for: annotation run.oci.handler, else native. */
int launcher_for_spec(const struct spec *s, const struct launcher **ret, struct cx_error **err);
extern const struct launcher launcher_native;
extern const struct launcher launcher_vm; /* vm/launcher.c */
int vm_exec(struct container_handle *h, const struct container_exec_opts *o, int *ret_status,
            struct cx_error **err);
/* Freezes or thaws the container's cgroup (native's pause; the vm launcher's too). */
int native_freeze(struct container_handle *h, bool freeze, struct cx_error **err);
/* The native container's cgroup manager, from its state; an error when it has none. */
int native_load_cgroup(const struct state *st, struct cg_manager **ret, struct cx_error **err);
/* native's events (events.c): the cgroup's stats and OOM events */
int native_exec(struct container_handle *h, const struct container_exec_opts *o, int *ret_status,
                struct cx_error **err);
int native_events(const char *root, const struct state *st, bool stats_once, unsigned interval_ms,
                  container_event_fn fn, void *userdata, struct cx_error **err);

/* ---- from the h-layer branch: cgroup mounts (cgmount.c), tenants (tenant-spec.c) --------- */
struct ns_cgroup_mount;
/* The hierarchies as ns_rootfs_opts.cgroups wants them: *ret, n entries, points into h (which
 * must outlive it); free it with container_cgroup_mounts_free. */
int container_cgroup_mounts(const struct cg_hierarchy *h, size_t n, struct ns_cgroup_mount **ret);
void container_cgroup_mounts_free(struct ns_cgroup_mount *m);

/* Tenants' containers (tenant-spec.c; the registry of ranges is state_tenant_*).  A container
 * of a tenant (`--tenant NAME` or the annotation STATE_TENANT_ANNOTATION=NAME) gets a user
 * namespace mapping 0-65535 to the tenant's range and hardened defaults. */
#define TENANT_PIDS_DEFAULT 1024
/* The tenant a container belongs to: --tenant (opt, may be NULL) or the annotation; an error
 * when both are given and differ, or the name is not valid (the rules of container ids).
 * *ret_name is NULL for a container without a tenant (it points into opt or s). */
int tenant_name(const char *opt, const struct spec *s, const char **ret_name,
                struct cx_error **err);
/* Turns s into a tenant's container: the user namespace with the range, new namespaces for
 * everything (pid, ipc, uts, mount, network, cgroup), the default seccomp profile when it has
 * none, noNewPrivileges, capabilities cut to the default set, a pids limit when it has none, and
 * the annotation.  *ret_rootfs_idmap: the rootfs is not owned by the range (e.g. by host root):
 * mount it idmapped. */
int tenant_harden(const char *name, uint32_t first_id, struct spec *s, bool *ret_rootfs_idmap,
                  struct cx_error **err);
/* For `exec` into a container whose state (annotations: flat key, value, ..., NULL) names a
 * tenant: the same process rules as at create (capabilities cut, noNewPrivileges, the default
 * seccomp profile in s when the container's config has none).  Call it once the exec'd
 * process is complete (after --cap/--no-new-privs).  Returns whether it applied. */
bool tenant_harden_exec(char *const *state_annotations, struct spec *s, struct spec_process *p);

/* ---- networks (network.c, pasta.c) ---------------------------------------------------------- */
/* Parses --net/-p (or the annotations), maps a tenant's networks, and adds the bind mounts of
 * ROOT/ID/hosts and ROOT/ID/resolv.conf to the spec. */
int plan_network(struct plan *p, struct cx_error **err);
void plan_net_clear(struct plan_net *n);
/* Writes ROOT/ID/{hosts,resolv.conf,hostname}; the networks exist afterwards. */
int container_net_prepare(struct create_ctx *c, struct cx_error **err);
/* Once the init exists: an endpoint per network in its namespace (or pasta when not root). */
int container_net_attach(struct create_ctx *c, struct cx_error **err);
int container_net_pasta(struct create_ctx *c, struct cx_error **err);
/* A VM container's NICs (the vm launcher): a persistent tap per network on its bridge, with
 * the endpoint the guest configures (addresses, gateways, MAC, MTU). */
struct container_tap {
        char tap[IFNAMSIZ];
        struct net_endpoint ep;
};
int container_net_taps(struct create_ctx *c, struct container_tap **ret, size_t *ret_n,
                       struct cx_error **err);
/* The undo of an endpoint: what net_endpoint_up made, and the others' /etc/hosts. */
int container_net_detach(struct state_dir *d, const char *network, const char *veth,
                         struct cx_error **err);

/* ---- checkpoint and restore (checkpoint.c, restore.c, ckpt-mounts.c; checkpoint/) ---------- */
/* The key CRIU gets for an external network namespace (dump: net[INODE]:KEY; restore: the
 * inherited fd of the new one). */
#define CKPT_NETNS_KEY "capsa-netns"
/* The restore launcher: native's operations, but its launch restores the processes from the
 * image path with CRIU instead of cloning an init (create_ctx.o->restore). */
extern const struct launcher launcher_restore;
int restore_launch(struct create_ctx *c, struct cx_error **err);
/* The external mounts CRIU is told of, key, value, ..., NULL: every bind mount of s (at dump
 * key = value = the destination; at restore the value is the source), the files of
 * maskedPaths (over /dev/null), the device nodes capsa may bind from the host.  pid > 0: masked
 * paths that are directories in the container are left out.  cgroup mounts are external too:
 * the container's cgroup directories cg_dirs (state's cgroup_dirs) at restore. */
char **ckpt_ext_mounts(const struct spec *s, pid_t pid, char *const *cg_dirs, bool restore);
/* The init's fds 0-2 at dump: their targets (readlink; "" when unknown) and how CRIU knows
 * them when they come from outside: "pipe:[INODE]" (restore gives its own in its place),
 * "file[MNT_ID:INODE]" for a file of the host (e.g. /dev/null: external at dump, reopened from
 * its path at restore), or NULL (CRIU's own business: a pty, a socket, the container's file). */
struct ckpt_stdio {
        char *path[3];
        char *key[3];
        char *mode[3]; /* the file's st_mode in octal ("" if unknown): CRIU reopens a "file[...]"
                          only into a file of the same mode */
};
void ckpt_stdio_read(pid_t pid, struct ckpt_stdio *ret);
void ckpt_stdio_clear(struct ckpt_stdio *s);
/* descriptors.json: the targets, as runc writes it. */
int ckpt_write_descriptors(int images_fd, const struct ckpt_stdio *s, struct cx_error **err);
/* The stdio keys capsa-checkpoint.json recorded (or runc's descriptors.json's targets), and
 * the paths the fds had ("" when unknown): 3 strings each. */
int ckpt_read_stdio(int images_fd, char ***ret_keys, char ***ret_paths, char ***ret_modes,
                    struct cx_error **err);
/* Opens a directory given by a flag (what: "--image-path"), mkdir -p'ed (0700) first when
 * create; errors name the flag and the path. */
int ckpt_open_dir(const char *path, const char *what, bool create, int *ret, struct cx_error **err);
