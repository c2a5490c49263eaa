/* exec and ps: run another process in a running container, list a container's processes.
 *
 * exec joins every namespace of the container's init (/proc/PID/ns/ENTRY: user first, mount last;
 * the pid and time namespaces apply to a child, so it forks once more), its cgroup and its
 * root, then applies the container's process settings (capabilities, no_new_privs, seccomp,
 * rlimits, LSM label, user, env, cwd) with runc's per-flag overrides, and execs.  In the
 * foreground it forwards signals and returns the exit status; a terminal is either handed to
 * --console-socket or proxied to the caller's stdin/stdout.  Kernel interfaces: setns(2),
 * clone(2) with CLONE_PARENT, chroot(2), signalfd(2), /dev/ptmx, SCM_RIGHTS. */
#pragma once

#include "util/util.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
                   struct cx_error **err);

/* ---- console (exec-console.c), shared with `run` ------------------------------------------ */
/* Connects to a --console-socket path. */
int console_connect(const char *path, struct cx_error **err);
/* Receives the pty master sent by the container process over sock. */
int console_recv_master(int sock, int *ret_master, struct cx_error **err);
/* Waits for pid (our child) to exit, forwarding the signals read from sfd to it and reaping
 * any other child (orphans reparented to a child subreaper).  With
 * master >= 0, also copies stdin to the pty master and the master to stdout, with the caller's
 * terminal in raw mode (restored before returning) and SIGWINCH resizing the pty.  Returns the
 * exit status, 128+N when killed by signal N. */
int console_wait(pid_t pid, int sfd, int master);
/* Blocks every signal that can be forwarded; *ret_set is the set to read with signalfd. */
void console_block_signals(sigset_t *ret_old, sigset_t *ret_set);
