/* security: capabilities (libcap), seccomp (libseccomp), rlimits, no_new_privs, keyrings,
 * process attributes (oom_score_adj, I/O priority, scheduler) and LSM labels.
 *
 * These run inside the container's init, between clone and execve; they never print.
 * Kernel interfaces: capset(2)/prctl(PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_SET_KEEPCAPS,
 * PR_SET_NO_NEW_PRIVS), seccomp(2), setrlimit(2), keyctl(2), /proc/self/oom_score_adj,
 * ioprio_set(2), sched_setattr(2), /proc/self/attr. */
#pragma once

#include "spec/spec.h"
#include "util/util.h"

/* Fails (naming the capability and the JSON path) when the config asks for a capability that
 * capsa itself does not hold in its bounding set (e.g. CAP_SYS_RESOURCE on some hosts). */
int sec_caps_check(const struct spec_caps *c, struct cx_error **err);

/* Drops every capability not in c->bounding from the bounding set. */
int sec_caps_drop_bounding(const struct spec_caps *c, struct cx_error **err);

/* Switches to the process user (setgroups, setresgid, setresuid, umask) keeping capabilities,
 * then sets the effective/permitted/inheritable/ambient sets from c.  Call after the bounding
 * set was dropped.  in_userns: setgroups may be denied in a user namespace; handled. */
int sec_switch_user(const struct spec_user *u, const struct spec_caps *c, struct cx_error **err);

/* Applies process.rlimits; an unraisable hard limit is a clear error naming the rlimit. */
int sec_rlimits_apply(const struct spec_rlimit *r, size_t n, struct cx_error **err);

/* oom_score_adj, ioPriority, scheduler. */
int sec_process_attrs_apply(const struct spec_process *p, struct cx_error **err);

int sec_no_new_privs(struct cx_error **err);

/* Joins a new session keyring named after the container. */
int sec_new_session_keyring(const char *id, struct cx_error **err);

/* A compiled seccomp filter, ready to load with one syscall. */
struct sec_filter;
/* Compiles linux.seccomp into BPF (resolving syscall names; unknown names are skipped as runc
 * does).  Returns 0 with *ret NULL when s is absent. */
int sec_seccomp_compile(const struct spec_seccomp *s, struct sec_filter **ret,
                        struct cx_error **err);
/* Loads the filter.  For SCMP_ACT_NOTIFY rules, *ret_notify_fd receives the listener fd
 * (else -1). */
int sec_seccomp_load(struct sec_filter *f, int *ret_notify_fd, struct cx_error **err);
void sec_filter_free(struct sec_filter *f);
void sec_filter_freep(struct sec_filter **f);
/* True when the filter uses SCMP_ACT_NOTIFY: loading it returns a listener fd that the init
 * must hand to the runtime (linux.seccomp.listenerPath) before execve. */
bool sec_filter_has_listener(const struct sec_filter *f);

/* True when some rule's action is SCMP_ACT_NOTIFY: the init then hands the listener fd to the
 * runtime before it waits for start (a SYNC_SECCOMP message, without an fd when libseccomp knew
 * none of the notify rules' syscalls). */
bool sec_seccomp_wants_listener(const struct spec_seccomp *s);
/* Sends the listener fd with the ContainerProcessState JSON (state_json: the OCI state) to
 * linux.seccomp.listenerPath. */
int sec_seccomp_send_listener(const struct spec_seccomp *s, int notify_fd, pid_t pid,
                              const char *state_json, struct cx_error **err);

/* capsa's default profile for tenants (profile.c): allow by default, refuse the syscall groups
 * documented there; mount-family calls are refused only when !user_ns.  Compile it with
 * sec_seccomp_compile. */
struct spec_seccomp *sec_default_profile(bool user_ns);
void sec_default_profile_free(struct spec_seccomp *s);
/* The same profile as the JSON of a config's linux.seccomp (allocated). */
char *sec_default_profile_json(bool user_ns);

/* Fails clearly when the config asks for an AppArmor profile or SELinux label and the host has
 * no such LSM; otherwise prepares them to apply on exec. */
int sec_lsm_check(const struct spec_process *p, struct cx_error **err);
int sec_lsm_apply(const struct spec_process *p, struct cx_error **err);

/* ---- hardening (hardening.c, exeseal.c) ------------------------------------------------- */
/* Re-executes capsa from a read-only detached overlay of its own binary (or a sealed memfd
 * when overlayfs cannot be mounted and the caller can write the binary), so that a container
 * cannot overwrite it through /proc/PID/exe (CVE-2019-5736).  Returns 0 without doing anything
 * when the binary already runs from a read-only mount or a sealed memfd; on success it does not
 * return.  argv: main's argv, unchanged. */
int sec_exe_seal(char **argv, struct cx_error **err);
/* prctl(PR_SET_DUMPABLE, 0): the init cannot be ptraced or inspected through /proc before it
 * execs the user's process, which makes it dumpable again (CVE-2016-9962). */
int sec_init_not_dumpable(struct cx_error **err);
/* chdir to process.cwd, resolved inside the current root without following magic links
 * (CVE-2024-21626).  Call after pivot_root/chroot. */
int sec_chdir_cwd(const char *cwd, struct cx_error **err);
