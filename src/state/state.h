/* state: the on-disk state of containers under ROOT (default /run/capsa).
 *
 * ROOT/ID/ holds state.json (written atomically), exec.fifo (exists while the container is
 * created but not started) and config.json (the config the container was created from, for
 * poststop hooks).  The directory is flock()ed: concurrent commands on one container are
 * serialised.  The status is derived: the init pid alive with the start time recorded at create
 * (so a recycled pid is not mistaken for it) -> "created" while exec.fifo exists, else
 * "running"; otherwise "stopped".  Kernel interfaces: flock(2), mkfifo(3), /proc/PID/stat. */
#pragma once

#include "util/util.h"

#include <sys/types.h>

enum state_status {
        STATE_CREATING,
        STATE_CREATED,
        STATE_RUNNING,
        STATE_PAUSED,
        STATE_STOPPED,
};
const char *state_status_name(enum state_status s);

struct state {
        char *id;
        char *bundle;
        char *rootfs;
        pid_t pid;               /* 0 until the init exists */
        uint64_t pid_start_time; /* field 22 of /proc/PID/stat */
        char *created;           /* RFC 3339, UTC, nanoseconds */
        bool creating;           /* create had not finished when this was written */
        char *owner;             /* "" for root */
        char **annotations;      /* flat: key, value, key, value, ..., NULL */
        char *cgroup_driver;
        char **cgroup_dirs; /* NULL-terminated */
        bool use_systemd_cgroup;
        char *launcher; /* how its processes came to exist ("native"); NULL in older states */
};

void state_clear(struct state *s);

/* Container ids: [A-Za-z0-9][A-Za-z0-9_.+-]* (as runc), at most 1024 bytes. */
int state_id_validate(const char *id, struct cx_error **err);

/* A locked container directory. */
struct state_dir {
        int root_fd; /* ROOT */
        int fd;      /* ROOT/ID, flock()ed exclusively */
        char *root;
        char *id;
};
void state_dir_close(struct state_dir *d);

/* Makes ROOT/ID (0700) and locks it; EEXIST -> "container `ID` already exists". */
int state_dir_create(const char *root, const char *id, struct state_dir *ret,
                     struct cx_error **err);
/* Opens and locks an existing ROOT/ID; ENOENT -> "container `ID` does not exist". */
int state_dir_open(const char *root, const char *id, struct state_dir *ret, struct cx_error **err);
/* Removes everything in ROOT/ID and the directory itself. */
int state_dir_remove(struct state_dir *d, struct cx_error **err);

int state_write(struct state_dir *d, const struct state *s, struct cx_error **err);
int state_read(struct state_dir *d, struct state *ret, struct cx_error **err);
/* Decodes a state.json text (len bytes, need not be NUL-terminated); what state_read does after
 * reading the file. */
int state_parse(const char *json, size_t len, struct state *ret, struct cx_error **err);

/* The status of a container whose init is alive or not (the launcher knows): creating while
 * create runs, created while exec.fifo exists, else running.  Paused is the container layer's
 * to tell. */
enum state_status state_status_get(struct state_dir *d, const struct state *s, bool init_alive);
/* Start time (field 22) of a pid, or -ESRCH / negative errno. */
int state_pid_start_time(pid_t pid, uint64_t *ret);
/* True when pid is alive and is still the process recorded (start time matches) */
bool state_pid_matches(pid_t pid, uint64_t start_time);

/* The OCI state JSON `state` prints, shaped as runc's: {ociVersion, id, pid, status, bundle,
 * rootfs, created, annotations (sorted, left out when empty), owner}, 2-space indent, newline. */
char *state_oci_json(const struct state *s, enum state_status st);
/* The state hooks read on stdin and the seccomp agent receives (the runtime-spec's State, as
 * runc writes it): one compact line without a newline, {ociVersion, id, status, pid (left out
 * when 0 or stopped), bundle, annotations (sorted, left out when empty)}. */
char *state_hook_json(const struct state *s, enum state_status st);

struct json_w;
/* Writes "annotations": {...} (flat key, value, ..., NULL) with the keys sorted, nothing when
 * there are none: runc's map[string]string `json:"annotations,omitempty"`. */
void state_json_annotations(struct json_w *w, char *const *kv);
/* Lists the container ids under ROOT (sorted). */
int state_list_ids(const char *root, char ***ret, struct cx_error **err);
/* RFC 3339 timestamp of now, UTC with nanoseconds. */
char *state_now_rfc3339(void);

/* ---- tenants (tenant.c) ------------------------------------------------------------------ */
/* Tenants: named groups of containers that must not trust each other.  Each tenant owns a
 * 65536-id range of host uids and gids, allocated once and kept in ROOT/tenants.json (locked with
 * flock(2) on ROOT/tenants.lock): ranges start at 200000, step by 65536, never overlap another
 * tenant's nor a range in /etc/subuid or /etc/subgid.  A container belongs to the tenant its
 * state's annotation STATE_TENANT_ANNOTATION names (the container layer hardens its config). */
#define STATE_TENANT_ANNOTATION "run.capsa.tenant"
#define STATE_TENANT_FIRST_ID   200000u
#define STATE_TENANT_RANGE      65536u

/* Tenant names follow the rules of container ids; what names the source in the error
 * ("--tenant", "tenant name"). */
int state_tenant_name_validate(const char *name, const char *what, struct cx_error **err);
/* Finds NAME's range in ROOT/tenants.json, or allocates one.  *ret_lock: the lock on
 * ROOT/tenants.lock, to hold until the container's state exists (so that `tenant remove` sees
 * the container); close it then. */
int state_tenant_acquire(const char *root, const char *name, uint32_t *ret_first_id, int *ret_lock,
                         struct cx_error **err);

struct state_tenant {
        char *name;
        uint32_t first_id;
        uint32_t size;
        char **containers; /* ids of the containers under ROOT that belong to it */
};
/* Every tenant with its containers (each container's state read under its lock; one deleted
 * meanwhile is left out). */
int state_tenant_list(const char *root, struct state_tenant **ret, size_t *ret_n,
                      struct cx_error **err);
void state_tenants_free(struct state_tenant *v, size_t n);
/* Forgets NAME's range; refused while a container under ROOT belongs to it. */
int state_tenant_remove(const char *root, const char *name, struct cx_error **err);
