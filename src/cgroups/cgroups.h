/* cgroups: one interface over the host's cgroup layout, with drivers behind a small vtable.
 *
 * Layouts: cgroup v1 (a hierarchy per controller under /sys/fs/cgroup/NAME), hybrid (v1
 * controllers plus a cgroup2 mount at /sys/fs/cgroup/unified holding few or no controllers) and
 * unified v2.  The layout is detected once per process.  A container's cgroup goes beneath the
 * caller's own cgroup (per hierarchy, from /proc/self/cgroup) unless linux.cgroupsPath is
 * absolute.  Kernel interfaces: cgroupfs files (cgroup.procs, memory.*, cpu.*, pids.*),
 * /proc/self/cgroup, /proc/self/mountinfo. */
#pragma once

#include "spec/spec.h"
#include "util/util.h"

#include <sys/types.h>

enum cg_layout { CG_LAYOUT_V1, CG_LAYOUT_HYBRID, CG_LAYOUT_V2 };

struct cg_manager;

/* How one hierarchy appears inside a container (for `mounts` of type "cgroup"). */
struct cg_hierarchy {
        char *name;     /* directory name under /sys/fs/cgroup: "memory", "cpu", "unified", ""
                           for a pure v2 host (mounted at /sys/fs/cgroup itself) */
        char *fstype;   /* "cgroup" or "cgroup2" */
        char *options;  /* mount options for a fresh mount: "memory", "name=systemd", "" */
        char *host_dir; /* the container's cgroup directory on the host */
};

/* Detects the layout (cached after the first call). */
int cg_detect_layout(enum cg_layout *ret, struct cx_error **err);
const char *cg_layout_name(enum cg_layout l);

/* Computes where the container's cgroup lives; creates nothing.  cgroups_path may be NULL
 * (default: "capsa-<id>" beneath the caller's cgroup).  systemd selects the systemd driver. */
int cg_manager_new(const char *cgroups_path, const char *id, bool systemd, struct cg_manager **ret,
                   struct cx_error **err);
/* Rebuilds a manager from what cg_manager_dirs/driver_name returned at create time. */
int cg_manager_load(const char *driver, char *const *dirs, struct cg_manager **ret,
                    struct cx_error **err);
void cg_manager_free(struct cg_manager *m);
void cg_manager_freep(struct cg_manager **m);
/* "v1" (v1 and hybrid hosts) or "v2"; store it with cg_manager_dirs for cg_manager_load.  A
 * loaded manager knows only the leaf directories: cg_destroy then removes the leaves (and any
 * child cgroups), not parents that cg_create made for a nested cgroupsPath. */
const char *cg_manager_driver_name(const struct cg_manager *m);
char *const *cg_manager_dirs(const struct cg_manager *m); /* absolute, NULL-terminated */

/* Creates the cgroup directories and applies the resources (r may be NULL).  Values the
 * layout cannot express are a clear error naming the JSON path.  On failure nothing is left.
 * Call it before any process joins (v1 cpuset needs cpus/mems first; v1 devices rules are
 * written here, followed by the standard nodes /dev/null, zero, full, random, urandom, tty,
 * ptmx, pts/N and mknod of any node, as runc does).  A leaf that exists already is reused when
 * empty and is an error ("already exists and is in use") when it holds processes. */
int cg_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
/* Moves pid into the container's cgroup in every hierarchy.  For a container with a cgroup
 * namespace, call it before the init unshares CLONE_NEWCGROUP, so that the namespace's root is
 * the container's cgroup. */
int cg_enter(struct cg_manager *m, pid_t pid, struct cx_error **err);
/* Applies (or updates) resource limits. */
int cg_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
/* Sends sig to every process in the cgroup (cgroup.kill for SIGKILL where available). */
int cg_kill(struct cg_manager *m, int sig, struct cx_error **err);
/* Lists the pids in the cgroup. */
int cg_pids(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err);
/* Kills what is left, waits for it to go, removes every directory.  Missing dirs are fine. */
int cg_destroy(struct cg_manager *m, struct cx_error **err);
/* The hierarchies for mounting cgroupfs inside the container. */
int cg_hierarchies(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                   struct cx_error **err);
void cg_hierarchies_free(struct cg_hierarchy *h, size_t n);
