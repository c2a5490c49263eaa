/* spec: the OCI runtime configuration (config.json) as typed, validated C structs.
 *
 * config.json is parsed once with yajl into `struct spec`; every problem is reported with the
 * JSON path and what was expected ("linux.resources.memory.limit: expected integer, got string").
 * Unknown keys are ignored; known keys whose feature capsa does not implement are errors.
 * Subsystems receive const pointers to their own part and never see JSON.  Also produces the
 * default config (`capsa spec`) and the features document (`capsa features`). */
#pragma once

#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* An optional integer: `set` is false when the key was absent or null. */
struct spec_opt_i64 {
        bool set;
        int64_t v;
};
struct spec_opt_u64 {
        bool set;
        uint64_t v;
};

struct spec_kv {
        char *key;
        char *value;
};

struct spec_id_map {
        uint32_t container_id;
        uint32_t host_id;
        uint32_t size;
};

/* ---- process ----------------------------------------------------------------------------- */
struct spec_rlimit {
        int resource; /* RLIMIT_* */
        char *name;   /* as written, e.g. "RLIMIT_NOFILE" */
        uint64_t soft;
        uint64_t hard;
};

/* Capability sets as bit masks over capability numbers (bit n = capability n). */
struct spec_caps {
        bool present; /* process.capabilities given at all */
        uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct spec_user {
        uint32_t uid;
        uint32_t gid;
        struct spec_opt_u64 umask;
        uint32_t *additional_gids;
        size_t n_additional_gids;
        char *username; /* Windows only; ignored */
};

struct spec_console_size {
        bool set;
        unsigned height, width;
};

struct spec_io_priority {
        bool set;
        int class_; /* IOPRIO_CLASS_RT/BE/IDLE */
        int priority;
};

struct spec_scheduler {
        bool set;
        int policy; /* SCHED_* */
        int nice;
        int priority;
        uint64_t flags; /* SCHED_FLAG_* */
        uint64_t runtime, deadline, period;
};

struct spec_process {
        bool terminal;
        struct spec_console_size console_size;
        struct spec_user user;
        char **args; /* NULL-terminated; validated non-empty */
        char **env;  /* NULL-terminated, "K=V" */
        char *cwd;   /* absolute */
        struct spec_caps caps;
        struct spec_rlimit *rlimits;
        size_t n_rlimits;
        bool no_new_privileges;
        char *apparmor_profile;
        char *selinux_label;
        struct spec_opt_i64 oom_score_adj;
        struct spec_io_priority io_priority;
        struct spec_scheduler scheduler;
};

/* ---- root and mounts --------------------------------------------------------------------- */
struct spec_root {
        char *path; /* absolute after spec_load (resolved against the bundle) */
        bool readonly;
};

struct spec_mount {
        char *destination; /* absolute path inside the container */
        char *type;        /* may be NULL: then "bind" if options say bind/rbind */
        char *source;      /* may be NULL */
        char **options;    /* NULL-terminated, may be NULL */
        struct spec_id_map *uid_mappings;
        size_t n_uid_mappings;
        struct spec_id_map *gid_mappings;
        size_t n_gid_mappings;
};

/* ---- hooks ------------------------------------------------------------------------------- */
struct spec_hook {
        char *path;
        char **args;                 /* NULL-terminated or NULL */
        char **env;                  /* NULL-terminated or NULL */
        struct spec_opt_i64 timeout; /* seconds, > 0 */
};

enum spec_hook_kind {
        SPEC_HOOK_PRESTART,
        SPEC_HOOK_CREATE_RUNTIME,
        SPEC_HOOK_CREATE_CONTAINER,
        SPEC_HOOK_START_CONTAINER,
        SPEC_HOOK_POSTSTART,
        SPEC_HOOK_POSTSTOP,
        SPEC_HOOK_KIND_MAX,
};

struct spec_hooks {
        struct spec_hook *v[SPEC_HOOK_KIND_MAX];
        size_t n[SPEC_HOOK_KIND_MAX];
};
extern const char *const spec_hook_kind_names[SPEC_HOOK_KIND_MAX]; /* "prestart", ... */

/* ---- linux ------------------------------------------------------------------------------- */
enum spec_ns_type {
        SPEC_NS_PID,
        SPEC_NS_NETWORK,
        SPEC_NS_MOUNT,
        SPEC_NS_IPC,
        SPEC_NS_UTS,
        SPEC_NS_USER,
        SPEC_NS_CGROUP,
        SPEC_NS_TIME,
        SPEC_NS_MAX,
};
extern const char *const spec_ns_type_names[SPEC_NS_MAX]; /* "pid", "network", ... */
int spec_ns_clone_flag(enum spec_ns_type t);              /* CLONE_NEWPID, ... */

struct spec_namespace {
        bool present; /* listed in linux.namespaces */
        char *path;   /* join this one instead of creating (NULL: create new) */
};

struct spec_device {
        char *path;
        char type; /* 'c', 'b', 'u', 'p' */
        int64_t major, minor;
        struct spec_opt_u64 file_mode;
        struct spec_opt_u64 uid, gid;
};

struct spec_device_cgroup {
        bool allow;
        char type;                        /* 'a', 'c', 'b' */
        struct spec_opt_i64 major, minor; /* unset = wildcard */
        char *access;                     /* "rwm" subset; NULL = "rwm" */
};

struct spec_memory {
        struct spec_opt_i64 limit, reservation, swap, kernel, kernel_tcp;
        struct spec_opt_u64 swappiness;
        bool disable_oom_killer;
        bool use_hierarchy;
        bool check_before_update;
};

struct spec_cpu {
        struct spec_opt_u64 shares;
        struct spec_opt_i64 quota;
        struct spec_opt_u64 burst;
        struct spec_opt_u64 period;
        struct spec_opt_i64 realtime_runtime;
        struct spec_opt_u64 realtime_period;
        char *cpus;
        char *mems;
        struct spec_opt_i64 idle;
};

struct spec_weight_device {
        int64_t major, minor;
        struct spec_opt_u64 weight, leaf_weight;
};
struct spec_throttle_device {
        int64_t major, minor;
        uint64_t rate;
};
struct spec_blkio {
        struct spec_opt_u64 weight, leaf_weight;
        struct spec_weight_device *weight_device;
        size_t n_weight_device;
        struct spec_throttle_device *throttle[4]; /* read bps, write bps, read iops, write iops */
        size_t n_throttle[4];
};

struct spec_hugepage_limit {
        char *page_size; /* "2MB" */
        uint64_t limit;
};

struct spec_net_priority {
        char *name;
        uint32_t priority;
};
struct spec_network_res {
        struct spec_opt_u64 class_id;
        struct spec_net_priority *priorities;
        size_t n_priorities;
};

struct spec_rdma {
        char *device;
        struct spec_opt_u64 hca_handles, hca_objects;
};

struct spec_resources {
        bool present;
        struct spec_device_cgroup *devices;
        size_t n_devices;
        bool has_memory, has_cpu, has_pids, has_blkio, has_network;
        struct spec_memory memory;
        struct spec_cpu cpu;
        struct spec_opt_i64 pids_limit;
        struct spec_blkio blkio;
        struct spec_hugepage_limit *hugepage_limits;
        size_t n_hugepage_limits;
        struct spec_network_res network;
        struct spec_rdma *rdma;
        size_t n_rdma;
        struct spec_kv *unified; /* raw cgroup v2 files */
        size_t n_unified;
};

enum spec_seccomp_action {
        SPEC_SCMP_KILL,         /* SCMP_ACT_KILL (= KILL_THREAD) */
        SPEC_SCMP_KILL_PROCESS, /* SCMP_ACT_KILL_PROCESS */
        SPEC_SCMP_KILL_THREAD,  /* SCMP_ACT_KILL_THREAD */
        SPEC_SCMP_TRAP,
        SPEC_SCMP_ERRNO,
        SPEC_SCMP_TRACE,
        SPEC_SCMP_ALLOW,
        SPEC_SCMP_LOG,
        SPEC_SCMP_NOTIFY,
};

enum spec_seccomp_op {
        SPEC_SCMP_CMP_NE,
        SPEC_SCMP_CMP_LT,
        SPEC_SCMP_CMP_LE,
        SPEC_SCMP_CMP_EQ,
        SPEC_SCMP_CMP_GE,
        SPEC_SCMP_CMP_GT,
        SPEC_SCMP_CMP_MASKED_EQ,
};

struct spec_seccomp_arg {
        unsigned index;
        uint64_t value;
        uint64_t value_two;
        enum spec_seccomp_op op;
};

struct spec_seccomp_syscall {
        char **names; /* NULL-terminated */
        enum spec_seccomp_action action;
        struct spec_opt_u64 errno_ret;
        struct spec_seccomp_arg *args;
        size_t n_args;
};

struct spec_seccomp {
        bool present;
        enum spec_seccomp_action default_action;
        struct spec_opt_u64 default_errno_ret;
        char **architectures; /* "SCMP_ARCH_X86_64", ...; NULL-terminated or NULL */
        char **flags;         /* "SECCOMP_FILTER_FLAG_LOG", ...; validated */
        char *listener_path;
        char *listener_metadata;
        struct spec_seccomp_syscall *syscalls;
        size_t n_syscalls;
};

struct spec_time_offset {
        bool set;
        int64_t secs;
        uint32_t nanosecs;
};

struct spec_linux {
        struct spec_namespace ns[SPEC_NS_MAX];
        struct spec_id_map *uid_mappings;
        size_t n_uid_mappings;
        struct spec_id_map *gid_mappings;
        size_t n_gid_mappings;
        struct spec_time_offset time_boottime, time_monotonic;
        struct spec_device *devices;
        size_t n_devices;
        char *cgroups_path; /* NULL: default */
        struct spec_resources resources;
        unsigned long rootfs_propagation; /* MS_* flags, 0 = default */
        struct spec_seccomp seccomp;
        struct spec_kv *sysctl;
        size_t n_sysctl;
        char **masked_paths;
        char **readonly_paths;
        char *mount_label;
        struct spec_opt_u64 personality_domain; /* PER_LINUX / PER_LINUX32 */
        bool intel_rdt;                         /* present: unsupported -> error */
};

/* The OCI "vm" object: what the KVM mode boots.  Paths are the host's. */
struct spec_vm {
        bool present;
        char *hypervisor_path;    /* hypervisor.path (required by the spec when present) */
        char **hypervisor_params; /* hypervisor.parameters, NULL-terminated (or NULL) */
        char *kernel_path;        /* kernel.path (required when kernel is present) */
        char **kernel_params;     /* kernel.parameters */
        char *kernel_initrd;      /* kernel.initrd */
        char *image_path;         /* image.path */
        char *image_format;       /* image.format: raw, qcow2, vdi, vmdk or vhd */
};

struct spec {
        char *oci_version;
        char *bundle; /* absolute bundle directory */
        char *hostname;
        char *domainname;
        struct spec_root root;
        struct spec_process process; /* present is validated by spec_load */
        bool has_process;
        struct spec_mount *mounts;
        size_t n_mounts;
        struct spec_hooks hooks;
        struct spec_kv *annotations;
        size_t n_annotations;
        struct spec_linux linux_;
        struct spec_vm vm; /* the OCI "vm" object (the KVM mode, vm/vm.h) */
};

/* Loads BUNDLE/config.json.  Errors name the file, and for JSON syntax errors the line and
 * column; for type/value errors the JSON path.  On success *ret owns everything.
 * raw (optional): receives the file contents (to store with the container state). */
int spec_load(const char *bundle, struct spec **ret, char **raw, struct cx_error **err);
/* Parses config JSON (len bytes) from memory; `name` is used in error messages ("config.json").
 * The limits of json_parse apply (depth, size, no \u0000).  bundle (may be NULL) resolves a
 * relative root.path. */
int spec_parse(const char *json, size_t len, const char *name, const char *bundle,
               struct spec **ret, struct cx_error **err);
/* Checks the cross-field rules: namespaces needed by sysctls/hostname, mappings with userns,
 * unsupported features, cwd absolute, id maps, etc.  (Whether capsa itself holds the
 * requested capabilities is checked by sec_caps_check, which reads the running process.) */
int spec_validate(const struct spec *s, struct cx_error **err);
void spec_free(struct spec *s);
void spec_freep(struct spec **s);

/* Parses a standalone JSON resources object (for `update -r`, a later issue); error paths start
 * at the top ("memory.limit: ..."). */
int spec_parse_resources(const char *json, size_t len, const char *name, struct spec_resources *ret,
                         struct cx_error **err);
void spec_resources_clear(struct spec_resources *r);

/* Parses a standalone JSON process object (for `exec --process FILE`); error paths start at
 * the top ("user.uid: ...").  Checks that args is non-empty and cwd absolute.  Free with
 * spec_process_clear. */
int spec_parse_process_json(const char *json, size_t len, const char *name,
                            struct spec_process *ret, struct cx_error **err);
void spec_process_clear(struct spec_process *p);

/* Annotation lookup: NULL if absent. */
const char *spec_annotation(const struct spec *s, const char *key);

/* The default config.json written by `capsa spec` (rootless: user namespace with mappings for
 * the calling user, no network namespace, bind-mounted /sys as runc does). */
char *spec_default_json(bool rootless, uid_t uid, gid_t gid);
/* The same config with what a caller (a container made from an image) sets itself. */
struct spec_template_bind {
        const char *source, *dest;
        bool readonly;
};
struct spec_template {
        bool rootless; /* a user namespace mapping uid/gid, no network namespace */
        uid_t uid;
        gid_t gid;
        char *const *args; /* NULL-terminated; NULL: {"sh"} */
        char *const *env;  /* NULL: PATH and TERM */
        const char *cwd;   /* NULL: "/" */
        uint32_t user_uid, user_gid;
        const uint32_t *additional_gids;
        size_t n_additional_gids;
        bool terminal;
        bool readonly_root;
        char *const *caps;        /* NULL: runc's three (AUDIT_WRITE, KILL, NET_BIND_SERVICE) */
        bool caps_bounding_only;  /* a user other than root: no effective, permitted, ambient */
        const char *seccomp_json; /* linux.seccomp as JSON text, or NULL: none */
        const char *hostname;     /* NULL: "capsa" */
        char *const *annotations; /* flat: key, value, ..., NULL */
        const struct spec_template_bind *binds;
        size_t n_binds;
        int64_t memory, cpu_quota, pids; /* linux.resources (not rootless); 0: none */
};
char *spec_template_json(const struct spec_template *t);
/* The OCI features document printed by `capsa features`; mount_options: the names the mount
 * parser knows (ns_mount_option_names), listed sorted. */
char *spec_features_json(const char *const *mount_options, size_t n_mount_options);

/* Capability names <-> numbers ("CAP_SYS_ADMIN" <-> 21).  Returns -EINVAL when unknown. */
int spec_cap_from_name(const char *name);
const char *spec_cap_name(int cap);
int spec_cap_last(void); /* highest capability the running kernel knows */
