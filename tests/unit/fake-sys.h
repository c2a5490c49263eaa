/* A fake for the syscall seam (src/util/sys.h), linked into every unit test.
 *
 * fake_sys_install() points `sys` at a table that, for each call:
 *   1. counts it (per op and overall) and appends it to a log (op, path, argument, flags,
 *      result, errno);
 *   2. fails it with a chosen errno (-1, errno set, nothing done) when a rule says so:
 *      fake_sys_fail(op, nth, errno) fails the nth call of op (FAKE_ANY: the nth call of any
 *      op), counted from the last fake_sys_reset(); nth 0 fails every call of op;
 *      fake_sys_fail_path(op, needle, errno) fails every call of op whose path contains needle;
 *   3. otherwise does a harmless emulation or the real call:
 *      - mount, umount2, pivot_root, chroot, setns, unshare, move_mount, mount_setattr:
 *        succeed without doing anything (only logged);
 *      - open_tree: returns an O_PATH fd of the path (close it as a mount fd);
 *      - clone, clone3: the real call with the CLONE_NEW* flags (and CLONE_INTO_CGROUP)
 *        cleared, so a child exists but no namespace is made (the log keeps the flags asked);
 *      - openat2, mkdirat, unlinkat, cg_write: the real call, on real (temporary) directories.
 *
 * cgroupfs emulation (fake_sys_cgroupfs(root)): below root, which the test lays out like a
 * cgroup2 mount (cgroup.controllers, cgroup.subtree_control, cgroup.procs), mkdirat also
 * creates those three files (cgroup.controllers = the parent's cgroup.subtree_control);
 * cg_write creates a missing file (a real cgroup has its control files) and applies "+x -y"
 * to cgroup.subtree_control as the kernel does; rmdir (unlinkat AT_REMOVEDIR) refuses with
 * EBUSY a cgroup that has child cgroups or processes in cgroup.procs, else removes its files
 * and then the directory.
 *
 * Paths in the log are absolute where they can be: a path relative to a dirfd is joined to the
 * dirfd's /proc/self/fd link, and a /proc/self/fd/N path is replaced by its link.
 *
 * A child process (clone) inherits a copy of the state; its calls are not seen by the parent. */
#pragma once

#include "util/sys.h"

#include <stdbool.h>
#include <stddef.h>

enum fake_sys_op {
        FAKE_MOUNT,
        FAKE_UMOUNT2,
        FAKE_PIVOT_ROOT,
        FAKE_CHROOT,
        FAKE_SETNS,
        FAKE_UNSHARE,
        FAKE_CLONE,
        FAKE_CLONE3,
        FAKE_OPENAT2,
        FAKE_OPEN_TREE,
        FAKE_MOVE_MOUNT,
        FAKE_MOUNT_SETATTR,
        FAKE_MKDIRAT,
        FAKE_UNLINKAT, /* FAKE_RMDIR when flags has AT_REMOVEDIR */
        FAKE_RMDIR,
        FAKE_CG_WRITE,
        FAKE_MKNODAT,
        FAKE_RENAMEAT,
        FAKE_N_OPS,
        FAKE_ANY = FAKE_N_OPS, /* for fake_sys_count and fake_sys_fail: every op */
};

struct fake_sys_call {
        enum fake_sys_op op;
        char *path;  /* mount/umount2/chroot/...: the target; pivot_root: new_root; mkdirat,
                        unlinkat, openat2, open_tree, cg_write: the file; move_mount: to_path;
                        setns, unshare, clone*: NULL */
        char *arg;   /* mount: the source; pivot_root: put_old; move_mount: from_path; cg_write:
                        the data written; else NULL */
        long flags;  /* the call's flags (mount flags, nstype, clone flags, mode for mkdirat) */
        long ret;    /* what the call returned */
        int err;     /* errno when ret < 0, else 0 */
        bool failed; /* made to fail by a rule (nothing was done) */
};

/* Installs the fake (sys = its table) with a fresh state; uninstall restores sys_real and
 * frees everything. */
void fake_sys_install(void);
void fake_sys_uninstall(void);
/* Clears the counters, the log and the failure rules; keeps the cgroupfs root. */
void fake_sys_reset(void);
/* Emulates cgroupfs below root (NULL: off). */
void fake_sys_cgroupfs(const char *root);

/* Fails the nth (1-based) call of op, or every call of op when nth is 0; FAKE_ANY counts
 * every op.  Rules add up; fake_sys_reset drops them. */
void fake_sys_fail(enum fake_sys_op op, unsigned nth, int err);
/* Fails every call of op (FAKE_ANY: of any op) whose logged path contains needle. */
void fake_sys_fail_path(enum fake_sys_op op, const char *needle, int err);

/* The process _exits with status just before the nth call (of any op) is made: a runtime
 * killed at that instant.  0 turns it off; fake_sys_reset keeps it. */
void fake_sys_exit_at(unsigned nth, int status);

/* Calls made since the last reset (failed ones included). */
unsigned fake_sys_count(enum fake_sys_op op);
size_t fake_sys_n_calls(void);
const struct fake_sys_call *fake_sys_call_at(size_t i);
/* The index of the first logged call of op (FAKE_ANY: any) on exactly path that succeeded,
 * from index from on; -1 when none. */
long fake_sys_find(enum fake_sys_op op, const char *path, size_t from);
/* "mkdirat", "cg_write", ... */
const char *fake_sys_op_name(enum fake_sys_op op);
/* The whole log as text, one call a line: "mkdirat /tmp/x/a = 0", "cg_write /tmp/x/a/pids.max
 * `10` = -1 (Input/output error) [injected]".  The caller frees it. */
char *fake_sys_log_text(void);
