/* The container's cgroup hierarchies as the namespaces layer wants them for mounts of type
 * cgroup/cgroup2: the cgroup manager's view (struct cg_hierarchy) turned into the plain
 * description of struct ns_cgroup_mount, so that src/namespaces needs no cgroups header. */
#include "cgroups/cgroups.h"
#include "container/internal.h"
#include "namespaces/namespaces.h"

int container_cgroup_mounts(const struct cg_hierarchy *h, size_t n, struct ns_cgroup_mount **ret)
{
        struct ns_cgroup_mount *v = xcalloc(n + 1, sizeof(*v));
        for (size_t i = 0; i < n; i++)
                v[i] = (struct ns_cgroup_mount){.name = h[i].name,
                                                .fstype = h[i].fstype,
                                                .options = h[i].options,
                                                .host_dir = h[i].host_dir};
        *ret = v;
        return 0;
}

void container_cgroup_mounts_free(struct ns_cgroup_mount *m)
{
        free(m);
}
