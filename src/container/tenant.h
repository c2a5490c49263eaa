/* Tenants: named groups of containers that must not trust each other.  Each tenant owns a
 * 65536-id range of host uids and gids, allocated once and kept in ROOT/tenants.json (locked with
 * flock(2) on ROOT/tenants.lock): ranges start at 200000, step by 65536, never overlap another
 * tenant's nor a range in /etc/subuid or /etc/subgid.  A container of a tenant (`--tenant NAME`
 * or the annotation run.capsa.tenant=NAME) gets a user namespace mapping 0-65535 to that range and
 * the hardened defaults of tenant_harden() (tenant-spec.c). */
#pragma once

#include "spec/spec.h"
#include "util/util.h"

#include <stdbool.h>
#include <stdint.h>

#define TENANT_ANNOTATION   "run.capsa.tenant"
#define TENANT_FIRST_ID     200000u
#define TENANT_RANGE        65536u
#define TENANT_PIDS_DEFAULT 1024

/* The tenant a container belongs to: --tenant (opt, may be NULL) or the annotation; an error
 * when both are given and differ, or the name is not valid (the rules of container ids).
 * *ret_name is NULL for a container without a tenant (it points into opt or s). */
int tenant_name(const char *opt, const struct spec *s, const char **ret_name,
                struct cx_error **err);

/* Finds NAME's range in ROOT/tenants.json, or allocates one.  *ret_lock: the lock on
 * ROOT/tenants.lock, to hold until the container's state exists (so that `tenant remove` sees
 * the container); close it then. */
int tenant_acquire(const char *root, const char *name, uint32_t *ret_first_id, int *ret_lock,
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

struct tenant_info {
        char *name;
        uint32_t first_id;
        uint32_t size;
        char **containers; /* ids of the containers under ROOT that belong to it */
};
int tenant_list(const char *root, struct tenant_info **ret, size_t *ret_n, struct cx_error **err);
void tenant_info_free(struct tenant_info *v, size_t n);
/* Forgets NAME's range; refused while a container under ROOT belongs to it. */
int tenant_remove(const char *root, const char *name, struct cx_error **err);
