/* cgroups internals: the driver vtable, the manager, the parsed host view (mountinfo and
 * /proc/self/cgroup) and the small cgroupfs file helpers shared by the drivers.
 *
 * Only src/cgroups/ and tests/unit/test-cgroups.c include this header. */
#pragma once

#include "cgroups/cgroups.h"

#include <signal.h>
#include <sys/types.h>

/* ---- the host view ----------------------------------------------------------------------- */

/* One cgroup hierarchy mounted on the host (a line of /proc/self/mountinfo). */
struct cg_mount {
        char *root;         /* path inside the hierarchy that is mounted ("/" normally) */
        char *mount_point;  /* e.g. "/sys/fs/cgroup/memory", unescaped */
        bool v2;            /* fstype cgroup2 */
        char **controllers; /* v1: "memory", "cpu", "cpuacct", "name=systemd"; v2: NULL */
        unsigned dev_major, dev_minor;
};

/* One line of /proc/PID/cgroup: "4:memory:/a/b" or "0::/a". */
struct cg_proc_entry {
        char **controllers; /* NULL for the v2 line */
        char *path;
};

/* Parses one mountinfo line.  Returns 1 and fills *ret for a cgroup/cgroup2 mount, 0 for any
 * other mount, -EINVAL for a malformed line. */
int cg_parse_mountinfo_line(const char *line, struct cg_mount *ret);
void cg_mount_clear(struct cg_mount *m);
/* Parses a whole /proc/PID/cgroup text. */
int cg_parse_proc_cgroup(const char *text, struct cg_proc_entry **ret, size_t *ret_n);
void cg_proc_entries_free(struct cg_proc_entry *e, size_t n);
/* The caller's path in hierarchy m (matched by controller set, "0::" for v2), or NULL. */
const char *cg_proc_lookup(const struct cg_proc_entry *e, size_t n, const struct cg_mount *m);
/* "cpu,cpuacct" (v1), "" (v2): the options for a fresh mount of m. */
char *cg_mount_options(const struct cg_mount *m);
bool cg_mount_has(const struct cg_mount *m, const char *controller);

/* The cgroup mounts of this process (parsed once; owned by the cache, never freed). */
int cg_host_mounts(const struct cg_mount **ret, size_t *ret_n, struct cx_error **err);
/* This process's own /proc/self/cgroup (parsed once). */
int cg_host_self(const struct cg_proc_entry **ret, size_t *ret_n, struct cx_error **err);
/* Where the cgroup hierarchies are mounted: "/sys/fs/cgroup", or the directory a unit test
 * gave to cg_set_root_for_tests. */
const char *cg_root(void);
/* Unit tests only.  dir non-NULL: from now on this process sees a pure cgroup v2 host whose
 * hierarchy is mounted at dir (a plain directory the test lays out: cgroup.controllers,
 * cgroup.subtree_control, cgroup.procs) and whose own cgroup is "/"; nothing is read from
 * statfs, /proc/self/mountinfo or /proc/self/cgroup.  NULL: back to the host's view, detected
 * again on next use.  Frees the cached view: no cg_manager may be alive across a call. */
void cg_set_root_for_tests(const char *dir);
/* The mount whose mount point is the longest prefix of path, or NULL. */
const struct cg_mount *cg_mount_for_path(const struct cg_mount *v, size_t n, const char *path);

/* ---- the manager ------------------------------------------------------------------------- */

/* The container's cgroup in one hierarchy. */
struct cg_dir {
        char *path;                 /* absolute leaf directory */
        const struct cg_mount *mnt; /* NULL only after cg_manager_load found no mount */
        char **created;             /* directories cg_create made, parent first (leaf last) */
};

struct cg_driver {
        const char *name; /* stored in state.json: "v1" (also hybrid), "v2", "systemd" */
        int (*create)(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
        int (*enter)(struct cg_manager *m, pid_t pid, struct cx_error **err);
        int (*apply)(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err);
        int (*kill)(struct cg_manager *m, int sig, struct cx_error **err);
        int (*pids)(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err);
        int (*destroy)(struct cg_manager *m, struct cx_error **err);
        int (*hierarchies)(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                           struct cx_error **err);
        void (*free_priv)(struct cg_manager *m); /* optional: frees m->priv */
        /* Later: update, events, pause/resume, devices, systemd properties.  New ops must be
         * optional (NULL = not supported by this driver); cgroups.c checks before calling. */
};

struct cg_manager {
        const struct cg_driver *drv;
        enum cg_layout layout;
        struct cg_dir *dirs;
        size_t n_dirs;
        char **paths;      /* NULL-terminated copy of every dirs[i].path (cg_manager_dirs) */
        ssize_t unified;   /* index of the cgroup2 dir (v2, or hybrid's unified), -1 if none */
        void *priv;        /* driver data (systemd, later) */
        uint64_t oom_seen; /* v2: memory.events oom_kill count at the last cg_oom_read */
};

extern const struct cg_driver cg_driver_v1;
extern const struct cg_driver cg_driver_v2;
extern const struct cg_driver cg_driver_systemd;

struct cg_manager *cg_manager_alloc(const struct cg_driver *drv, enum cg_layout layout);
/* Adds a directory (path is taken over); mnt may be NULL. */
void cg_manager_add(struct cg_manager *m, char *path, const struct cg_mount *mnt);
/* The systemd driver's cg_manager_new (systemd.c): cgroupsPath "SLICE:PREFIX:NAME". */
int cg_systemd_new(const char *cgroups_path, const char *id, struct cg_manager **ret,
                   struct cx_error **err);

/* ---- cgroupfs helpers (fs.c) ------------------------------------------------------------- */

/* Writes value to DIR/FILE: "write `VALUE` to DIR/FILE: strerror".  ENOENT on the open is
 * returned as -ENOENT with that message too; callers that want a friendlier message for a
 * missing file use cg_write_opt. */
int cg_write(const char *dir, const char *file, const char *value, struct cx_error **err);
/* Like cg_write but a missing file is EOPNOTSUPP: "JSON_PATH: not supported on this host
 * (DIR/FILE does not exist)". */
int cg_write_opt(const char *dir, const char *file, const char *value, const char *json_path,
                 struct cx_error **err);
int cg_writef(const char *dir, const char *file, struct cx_error **err, const char *fmt, ...)
    _printf_(4, 5);
/* Reads DIR/FILE (trailing newline kept).  -ENOENT without touching err when missing and
 * quiet_enoent is set. */
int cg_read(const char *dir, const char *file, char **ret, bool quiet_enoent,
            struct cx_error **err);
bool cg_file_exists(const char *dir, const char *file);
/* Parses cgroup.procs text into pids. */
int cg_parse_pids(const char *text, pid_t **ret, size_t *ret_n);
/* Reads DIR/cgroup.procs; a missing dir gives an empty list. */
int cg_read_pids(const char *dir, pid_t **ret, size_t *ret_n, struct cx_error **err);

/* Creates path (and missing parents below the hierarchy's mount point), recording each
 * directory it made in *created (parent first).  A leaf that exists already is reused as it
 * is (cg_check_joinable then looks at it). */
int cg_mkdir_leaf(const char *path, const char *mount_point, char ***created,
                  struct cx_error **err);
/* Removes what cg_mkdir_leaf created (child cgroups of the leaf too), deepest first. */
int cg_remove_dir(struct cg_dir *d, struct cx_error **err);
/* Undoes a failed cg_create: removes only the directories it made (deepest first). */
void cg_remove_created(struct cg_dir *d);

/* Refuses a frozen cgroup (a process joining it would stop at once: runc's "container's
 * cgroup unexpectedly frozen"), naming the file that says so, and warns about a pre-existing
 * leaf that holds processes (runc 1.1.5 warns and goes on). */
int cg_check_joinable(struct cg_manager *m, struct cx_error **err);
/* The v1 directory of a controller ("memory", "freezer"), NULL when it is not a v1 one. */
const char *cg_v1_dir(const struct cg_manager *m, const char *controller);
/* The cgroup2 directory (v2, or hybrid's unified), or NULL. */
const char *cg_v2_dir(const struct cg_manager *m);

/* events --stats' block I/O and huge page figures (stats-io.c): what the host's files hold,
 * nothing when the controller is not there.  Freed by cg_stats_clear. */
void cg_stats_blkio(const struct cg_manager *m, struct cg_stats *s);
void cg_stats_hugetlb(const struct cg_manager *m, struct cg_stats *s);

/* Driver ops shared by v1 and v2. */
int cg_common_enter(struct cg_manager *m, pid_t pid, struct cx_error **err);
int cg_common_kill(struct cg_manager *m, int sig, struct cx_error **err);
int cg_common_pids(struct cg_manager *m, pid_t **ret, size_t *ret_n, struct cx_error **err);
int cg_common_destroy(struct cg_manager *m, struct cx_error **err);
int cg_common_hierarchies(const struct cg_manager *m, struct cg_hierarchy **ret, size_t *ret_n,
                          struct cx_error **err);

/* ---- resources (resources.c, bpf-devices.c) ---------------------------------------------- */

bool cg_blkio_set(const struct spec_blkio *b);
/* checkBeforeUpdate: EBUSY when limit (>= 0) is below DIR/USAGE_FILE. */
int cg_check_usage(const char *dir, const char *usage_file, int64_t limit, struct cx_error **err);
/* The full device rule list, in the order v1 applies it: linux.resources.devices, then the
 * standard nodes.  The array is the caller's; its strings are not. */
int cg_device_rules(const struct spec_resources *r, struct spec_device_cgroup **ret, size_t *ret_n);
/* A rule's access as the kernel takes it: the r, w and m of access in that order ("rwm" when
 * access is unset); other letters (runc accepts "a") are ignored.  "" when none is left: the
 * rule then has no effect, as in runc.  Returns access itself or buf. */
const char *cg_device_access(const char *access, char buf[4]);
/* Refuses what v2 cannot express (swappiness, disableOOMKiller, kernel memory, realtime,
 * network, leaf weights), naming the JSON path. */
int cg_v2_check(const struct spec_resources *r, struct cx_error **err);
int cg_v1_blkio(const char *dir, const struct spec_blkio *b, struct cx_error **err);
int cg_v2_io(const char *dir, const struct spec_blkio *b, struct cx_error **err);
/* hugepageLimits into DIR: hugetlb.SIZE.max (v2) or hugetlb.SIZE.limit_in_bytes (v1). */
int cg_hugetlb_check(const struct spec_resources *r, struct cx_error **err);
int cg_hugetlb(const char *dir, const struct spec_resources *r, bool v2, struct cx_error **err);
int cg_rdma(const char *dir, const struct spec_resources *r, struct cx_error **err);
int cg_v1_network(const struct cg_manager *m, const struct spec_network_res *n,
                  const char *(*dir_for)(const struct cg_manager *, const char *),
                  struct cx_error **err);
/* linux.resources.unified: each key must be an existing file of DIR. */
int cg_v2_unified(const char *dir, const struct spec_resources *r, struct cx_error **err);
/* Builds the eBPF device filter from the rule list and attaches it to DIR, replacing the
 * programs attached before (bpf-devices.c). */
int cg_bpf_devices_apply(const struct cg_manager *m, const char *dir,
                         const struct spec_resources *r, struct cx_error **err);

/* shares (v1, 2..262144) -> weight (v2, 1..10000). */
uint64_t cg_shares_to_weight(uint64_t shares);
