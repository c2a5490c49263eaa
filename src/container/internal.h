/* Private to src/container: the parent<->init sync protocol, the init, hooks. */
#pragma once

#include "cgroups/cgroups.h"
#include "container/container.h"
#include "spec/spec.h"
#include "state/state.h"

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

/* ---- shared by the lifecycle operations -------------------------------------------------- */
/* Kills what remains, removes the cgroup and the state directory, runs poststop hooks. */
int container_destroy(struct state_dir *d, const struct state *st, struct cx_error **err);
/* An opened container: ROOT/ID locked, its state, its status now and (with
 * container_open_cgroup) its cgroup manager.  Every operation on one container starts here. */
struct container_handle {
        struct state_dir dir;
        struct state st;
        enum state_status status;
        struct cg_manager *cg;
};
int container_open(const char *root, const char *id, struct container_handle *h,
                   struct cx_error **err);
/* container_open, and fails unless a cgroup was recorded for the container. */
int container_open_cgroup(const char *root, const char *id, struct container_handle *h,
                          struct cx_error **err);
void container_close(struct container_handle *h);
/* Signals a pid only if it is still the recorded process (pidfd). */
int container_signal(const struct state *st, int sig, struct cx_error **err);
