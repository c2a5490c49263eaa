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

/* Checks what linux.resources says without touching any cgroup: value ranges (block I/O
 * weights), names (huge page sizes, rdma devices, interfaces, unified keys: a file name, not a
 * core file the runtime manages).  Errors name the JSON path.  create and update call it
 * before they make or change anything; cg_create and cg_apply assume it passed. */
int cg_resources_validate(const struct spec_resources *r, struct cx_error **err);
/* Creates the cgroup directories and applies the resources (r may be NULL).  Values the
 * layout cannot express are a clear error naming the JSON path.  On failure nothing is left.
 * Call it before any process joins (v1 cpuset needs cpus/mems first; v1 devices rules are
 * written here, followed by the standard nodes /dev/null, zero, full, random, urandom, tty,
 * ptmx, pts/N, net/tun and mknod of any node, as runc does).  A leaf that exists already is
 * joined as runc 1.1.5 joins it: refused when frozen ("container's cgroup unexpectedly
 * frozen"), a warning when it holds processes ("container's cgroup is not empty"). */
int cg_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
/* Moves pid into the container's cgroup in every hierarchy.  For a container with a cgroup
 * namespace, call it before the init unshares CLONE_NEWCGROUP, so that the namespace's root is
 * the container's cgroup. */
int cg_enter(struct cg_manager *m, pid_t pid, struct cx_error **err);
/* exec --cgroup (sub.c): narrows a loaded manager to sub-cgroups of the container's cgroup, so
 * that cg_enter places a process there.  Each arg is runc's [CONTROLLER[,CONTROLLER...]:]PATH;
 * a PATH without controllers (one arg only) applies to every hierarchy, with controllers to
 * the v1 hierarchies that hold them (the others keep the container's cgroup).  PATH is relative
 * to the container's cgroup ("/" is that cgroup), may not contain `..`, and must exist. */
int cg_manager_narrow(struct cg_manager *m, char *const *args, struct cx_error **err);
/* Applies (or updates) resource limits. */
int cg_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
/* Sends sig to every process in the cgroup (cgroup.kill for SIGKILL where available). */
int cg_kill(struct cg_manager *m, int sig, struct cx_error **err);
/* Lists the pids in the cgroup. */
int cg_pids(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err);
/* Freezes (frozen=true) or thaws every process of the cgroup and waits until the kernel reports
 * the new state: freezer.state on v1 (hybrid too), cgroup.freeze and cgroup.events on v2. */
int cg_freeze(struct cg_manager *m, bool frozen, struct cx_error **err);
/* 1 when the cgroup is frozen (or freezing), 0 when not, negative errno on failure. */
int cg_frozen(struct cg_manager *m, struct cx_error **err);
/* The same for a container's recorded driver and directories (state.json); false on errors. */
bool cg_dirs_frozen(const char *driver, char *const *dirs);
/* The processes directly in the container's cgroup as this pid namespace names them: 0 for one
 * outside it (never to be signalled).  For finding the init from another pid namespace. */
int cg_dirs_members(const char *driver, char *const *dirs, pid_t **ret, size_t *ret_n);

/* Usage statistics, as `events --stats` reports them (runc 1.1.5's types.Stats names). */
struct cg_mem_entry {
        uint64_t limit, usage, max, failcnt;
};
/* One line of a v1 blkio file ("8:0 Read 4096"), or one key of v2 io.stat mapped to v1's
 * names as runc maps them (rbytes, wbytes -> io_service_bytes Read, Write; rios, wios ->
 * io_serviced Read, Write). */
struct cg_blkio_entry {
        uint64_t major, minor, value;
        char op[16]; /* "Read", "Write", "Sync", "Async", "Discard", "Total"; "" when none */
};
/* runc's Blkio lists, in its order. */
enum cg_blkio_list {
        CG_BLKIO_SERVICE_BYTES,
        CG_BLKIO_SERVICED,
        CG_BLKIO_QUEUED,
        CG_BLKIO_SERVICE_TIME,
        CG_BLKIO_WAIT_TIME,
        CG_BLKIO_MERGED,
        CG_BLKIO_TIME,
        CG_BLKIO_SECTORS,
        CG_BLKIO_MAX,
};
/* One huge page size ("2MB", named as runc names /sys/kernel/mm/hugepages/hugepages-2048kB). */
struct cg_hugetlb_stat {
        char size[16];
        uint64_t usage, max, failcnt; /* max: v1's max_usage_in_bytes (v2 has none) */
};
struct cg_stats {
        bool has_cpu, has_memory, has_pids, has_cpuset;
        struct {
                uint64_t total, user, kernel; /* ns: cpu.usage.{total,user,kernel} */
                uint64_t *percpu, *percpu_kernel, *percpu_user; /* ns per cpu (v1 only) */
                size_t n_percpu, n_percpu_kernel, n_percpu_user;
                uint64_t periods, throttled_periods, throttled_time; /* cpu.throttling */
        } cpu;
        struct {
                char *cpus, *mems; /* cpuset.cpus, cpuset.mems as the kernel lists them */
                uint64_t cpu_exclusive, mem_hardwall, mem_exclusive, memory_migrate,
                    memory_spread_page, memory_spread_slab, memory_pressure, sched_load_balance;
                int64_t sched_relax_domain_level;
        } cpuset; /* v1 */
        struct {
                struct cg_mem_entry usage, swap, kernel, kernel_tcp; /* swap: memory+swap (v1) */
                uint64_t cache;                                      /* memory.cache */
                uint64_t oom_kills; /* OOM kills seen (v1 oom_control, v2 memory.events) */
                char **raw;         /* memory.stat, flat key, value list */
        } memory;
        struct {
                uint64_t current, limit; /* limit 0 = max */
        } pids;
        struct {
                struct cg_blkio_entry *v[CG_BLKIO_MAX];
                size_t n[CG_BLKIO_MAX];
        } blkio;
        struct cg_hugetlb_stat *hugetlb; /* sorted by size name, as Go orders a map's keys */
        size_t n_hugetlb;
};
int cg_stats(struct cg_manager *m, struct cg_stats *ret, struct cx_error **err);
void cg_stats_clear(struct cg_stats *s);

/* True when the OOM killer killed a process of the cgroup (v1 memory.oom_control oom_kill,
 * v2 memory.events oom_kill): tells why a container init died during create. */
bool cg_oom_killed(struct cg_manager *m);
/* OOM notification: a pollable fd (v1: an eventfd on memory.oom_control; v2: inotify on
 * memory.events).  After it polls readable, cg_oom_read drains it and tells how many OOM
 * events happened since the last call. */
int cg_oom_open(struct cg_manager *m, int *ret_fd, struct cx_error **err);
int cg_oom_read(struct cg_manager *m, int fd, uint64_t *ret_new, struct cx_error **err);

/* Kills what is left, waits for it to go, removes every directory.  Missing dirs are fine. */
int cg_destroy(struct cg_manager *m, struct cx_error **err);
/* The hierarchies for mounting cgroupfs inside the container. */
int cg_hierarchies(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                   struct cx_error **err);
void cg_hierarchies_free(struct cg_hierarchy *h, size_t n);

/* Joining without a migration (join.c): the parent opens the cgroup before clone; the
 * cgroup2 hierarchy is joined with clone3(CLONE_INTO_CGROUP, v2_fd) and the v1 hierarchies by
 * the single-threaded child itself with cg_join_self(), both far cheaper than cg_enter(). */
struct cg_join {
        int tasks_fds[16]; /* v1 hierarchies' `tasks`, opened for writing */
        size_t n_tasks;
        int v2_fd; /* the cgroup2 directory, or -1 */
};
int cg_join_open(const struct cg_manager *m, struct cg_join *ret, struct cx_error **err);
int cg_join_self(const struct cg_join *j, struct cx_error **err);
void cg_join_close(struct cg_join *j);
