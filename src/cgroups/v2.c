/* The unified (cgroup v2) driver: one directory in the cgroup2 hierarchy.
 *
 * Files: memory.{max,low,swap.max}, cpu.weight, cpu.max, cpu.max.burst, cpu.idle,
 * cpuset.{cpus,mems}, pids.max, io.{weight,bfq.weight,max}, hugetlb.SIZE.{max,rsvd.max},
 * rdma.max, any file named in linux.resources.unified, and cgroup.subtree_control of the
 * parents; devices through an eBPF BPF_CGROUP_DEVICE program (bpf-devices.c).
 *
 * Controllers.  A v2 controller's files appear in a cgroup only when its parent lists the
 * controller in cgroup.subtree_control.  cg_create enables the controllers the resources need
 * (memory, cpu, cpuset, pids) in every parent it created and, if they are missing there, in the
 * existing parent (the caller's own cgroup for a relative path).  The kernel's "no internal
 * processes" rule refuses (EBUSY) to enable a domain controller in a non-root cgroup that has
 * processes of its own: capsa reports that clearly and never moves processes to work around it;
 * run capsa from a cgroup whose parent delegates the controllers, or use an absolute path. */
#include "cgroups/cgroups-internal.h"

#include <inttypes.h>
#include <string.h>

enum {
        NEED_CPU = 1 << 0,
        NEED_CPUSET = 1 << 1,
        NEED_MEMORY = 1 << 2,
        NEED_PIDS = 1 << 3,
        NEED_IO = 1 << 4,
        NEED_HUGETLB = 1 << 5,
        NEED_RDMA = 1 << 6,
        NEED_MISC = 1 << 7,
};
static const char *const controller_names[] = {"cpu", "cpuset",  "memory", "pids",
                                               "io",  "hugetlb", "rdma",   "misc"};

/* The controller owning a unified key ("memory.high" -> NEED_MEMORY), 0 for core files. */
static unsigned key_controller(const char *key)
{
        size_t len = strcspn(key, ".");
        for (size_t i = 0; i < ARRAY_SIZE(controller_names); i++)
                if (strlen(controller_names[i]) == len &&
                    strncmp(key, controller_names[i], len) == 0)
                        return 1u << i;
        return 0;
}

static unsigned needed(const struct spec_resources *r)
{
        if (!r)
                return 0;
        const struct spec_memory *mem = &r->memory;
        const struct spec_cpu *cpu = &r->cpu;
        unsigned n = 0;
        if (mem->limit.set || mem->reservation.set || mem->swap.set)
                n |= NEED_MEMORY;
        if (cpu->shares.set || cpu->quota.set || cpu->period.set || cpu->burst.set || cpu->idle.set)
                n |= NEED_CPU;
        if (cpu->cpus || cpu->mems)
                n |= NEED_CPUSET;
        if (r->pids_limit.set)
                n |= NEED_PIDS;
        if (cg_blkio_set(&r->blkio))
                n |= NEED_IO;
        if (r->n_hugepage_limits > 0)
                n |= NEED_HUGETLB;
        if (r->n_rdma > 0)
                n |= NEED_RDMA;
        for (size_t i = 0; i < r->n_unified; i++)
                n |= key_controller(r->unified[i].key);
        return n;
}

static bool has_word(const char *list, const char *word)
{
        size_t wl = strlen(word);
        for (const char *s = list; (s = strstr(s, word)); s += wl)
                if ((s == list || s[-1] == ' ') && (!s[wl] || s[wl] == ' ' || s[wl] == '\n'))
                        return true;
        return false;
}

/* Enables the needed controllers in dir/cgroup.subtree_control (only those missing). */
static int enable_controllers(const char *dir, unsigned need, bool ours, struct cx_error **err)
{
        _cleanup_free_ char *enabled = NULL, *avail = NULL;
        int r = cg_read(dir, "cgroup.subtree_control", &enabled, false, err);
        if (r < 0)
                return r;
        char buf[128] = "";
        for (size_t i = 0; i < ARRAY_SIZE(controller_names); i++) {
                if (!(need & (1u << i)) || has_word(enabled, controller_names[i]))
                        continue;
                if (!avail && (r = cg_read(dir, "cgroup.controllers", &avail, false, err)) < 0)
                        return r;
                if (!has_word(avail, controller_names[i]))
                        return cx_error_msg(err, EOPNOTSUPP,
                                            "linux.resources: the %s controller is not available "
                                            "in %s (cgroup.controllers: %.*s)",
                                            controller_names[i], dir, (int)strcspn(avail, "\n"),
                                            avail);
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s+%s", *buf ? " " : "",
                         controller_names[i]);
        }
        if (!*buf)
                return 0;
        r = cg_write(dir, "cgroup.subtree_control", buf, err);
        if (r == -EBUSY && !ours)
                return cx_error_prefix(err,
                                       "cgroup v2 refuses to enable controllers below a cgroup "
                                       "that holds processes (no internal processes rule); run "
                                       "capsa from a cgroup whose parent delegates them, or use "
                                       "an absolute linux.cgroupsPath");
        return r;
}

static int v2_prepare_parents(const struct cg_dir *d, unsigned need, struct cx_error **err)
{
        if (!need)
                return 0;
        size_t n = strv_len(d->created);
        bool leaf_created = n > 0 && strcmp(d->created[n - 1], d->path) == 0;
        /* the existing parent: above the first directory we made, else the leaf's parent */
        _cleanup_free_ char *base = xstrdup(n > 0 ? d->created[0] : d->path);
        *strrchr(base, '/') = '\0';
        int r = enable_controllers(base, need, false, err);
        for (size_t i = 0; r >= 0 && i + (leaf_created ? 1 : 0) < n; i++)
                r = enable_controllers(d->created[i], need, true, err);
        return r;
}

static int write_u64_or_max(const char *dir, const char *file, int64_t v, struct cx_error **err)
{
        if (v < 0)
                return cg_write(dir, file, "max", err);
        return cg_writef(dir, file, err, "%" PRId64, v);
}

static int v2_memory(const char *dir, const struct spec_memory *mem, struct cx_error **err)
{
        if (mem->swappiness.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.swappiness: not supported on "
                                    "cgroup v2");
        if (mem->disable_oom_killer)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.disableOOMKiller: not supported on "
                                    "cgroup v2");
        if (mem->kernel.set || mem->kernel_tcp.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.%s: kernel memory limits are "
                                    "deprecated and not supported on cgroup v2",
                                    mem->kernel.set ? "kernel" : "kernelTCP");
        int r;
        if (mem->check_before_update && mem->limit.set &&
            (r = cg_check_usage(dir, "memory.current", mem->limit.v, err)) < 0)
                return r;
        if (mem->limit.set && (r = write_u64_or_max(dir, "memory.max", mem->limit.v, err)) < 0)
                return r;
        if (mem->reservation.set &&
            (r = write_u64_or_max(dir, "memory.low", mem->reservation.v, err)) < 0)
                return r;
        if (!mem->swap.set)
                return 0;
        /* OCI swap is memory+swap; memory.swap.max is swap alone */
        int64_t swap = -1, limit = mem->limit.set ? mem->limit.v : -1;
        if (mem->swap.v >= 0 && !mem->limit.set) {
                /* an update of the swap limit alone: relative to the current memory.max */
                _cleanup_free_ char *cur = NULL;
                if ((r = cg_read(dir, "memory.max", &cur, false, err)) < 0)
                        return r;
                cur[strcspn(cur, "\n")] = '\0';
                if (parse_i64(cur, &limit) < 0)
                        limit = -1;
        }
        if (mem->swap.v >= 0) {
                if (limit < 0)
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.memory.swap: a swap limit needs "
                                            "linux.resources.memory.limit on cgroup v2");
                if (mem->swap.v < limit)
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.memory.swap: %" PRId64
                                            " is below linux.resources.memory.limit %" PRId64
                                            " (swap is the memory+swap limit)",
                                            mem->swap.v, limit);
                swap = mem->swap.v - limit;
        }
        char buf[32];
        if (swap < 0)
                snprintf(buf, sizeof(buf), "max");
        else
                snprintf(buf, sizeof(buf), "%" PRId64, swap);
        return cg_write_opt(dir, "memory.swap.max", buf, "linux.resources.memory.swap", err);
}

static int v2_cpu(const char *dir, const struct spec_cpu *cpu, struct cx_error **err)
{
        if (cpu->realtime_runtime.set || cpu->realtime_period.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.cpu.%s: not supported on "
                                    "cgroup v2",
                                    cpu->realtime_runtime.set ? "realtimeRuntime"
                                                              : "realtimePeriod");
        int r;
        char buf[64];
        if (cpu->shares.set && cpu->shares.v > 0 &&
            (r = cg_writef(dir, "cpu.weight", err, "%" PRIu64,
                           cg_shares_to_weight(cpu->shares.v))) < 0)
                return r;
        if (cpu->quota.set || cpu->period.set) {
                _cleanup_free_ char *cur = NULL;
                if (cpu->quota.set && cpu->quota.v > 0) {
                        snprintf(buf, sizeof(buf), "%" PRId64, cpu->quota.v);
                } else if (cpu->quota.set) {
                        snprintf(buf, sizeof(buf), "max");
                } else {
                        /* a period alone keeps the current quota */
                        if ((r = cg_read(dir, "cpu.max", &cur, false, err)) < 0)
                                return r;
                        snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(cur, " \n"), cur);
                }
                if (cpu->period.set)
                        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " %" PRIu64,
                                 cpu->period.v);
                if ((r = cg_write(dir, "cpu.max", buf, err)) < 0)
                        return r;
        }
        if (cpu->burst.set) {
                snprintf(buf, sizeof(buf), "%" PRIu64, cpu->burst.v);
                if ((r = cg_write_opt(dir, "cpu.max.burst", buf, "linux.resources.cpu.burst",
                                      err)) < 0)
                        return r;
        }
        if (cpu->idle.set) {
                snprintf(buf, sizeof(buf), "%" PRId64, cpu->idle.v);
                if ((r = cg_write_opt(dir, "cpu.idle", buf, "linux.resources.cpu.idle", err)) < 0)
                        return r;
        }
        if (cpu->cpus && (r = cg_write(dir, "cpuset.cpus", cpu->cpus, err)) < 0)
                return r;
        if (cpu->mems && (r = cg_write(dir, "cpuset.mems", cpu->mems, err)) < 0)
                return r;
        return 0;
}

static int v2_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        if (m->unified < 0)
                return cx_error_msg(err, ENOENT, "cgroup: no cgroup2 directory");
        int q = cg_v2_check(r, err);
        if (q < 0)
                return q;
        const char *dir = m->dirs[m->unified].path;
        if (r->n_devices > 0 && (q = cg_bpf_devices_apply(m, dir, r, err)) < 0)
                return q;
        if ((q = v2_memory(dir, &r->memory, err)) < 0 || (q = v2_cpu(dir, &r->cpu, err)) < 0)
                return q;
        if (r->pids_limit.set &&
            (q = write_u64_or_max(dir, "pids.max", r->pids_limit.v <= 0 ? -1 : r->pids_limit.v,
                                  err)) < 0)
                return q;
        if ((q = cg_v2_io(dir, &r->blkio, err)) < 0 || (q = cg_hugetlb(dir, r, true, err)) < 0 ||
            (q = cg_rdma(dir, r, err)) < 0)
                return q;
        return cg_v2_unified(dir, r, err);
}

static int v2_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        if (m->unified < 0)
                return cx_error_msg(err, ENOENT, "cgroup: no cgroup2 directory");
        int q = r ? cg_v2_check(r, err) : 0; /* fail before creating anything */
        if (q < 0)
                return q;
        struct cg_dir *d = &m->dirs[m->unified];
        if (!d->mnt)
                return cx_error_msg(err, ENOENT, "cgroup `%s`: no hierarchy mounted there",
                                    d->path);
        q = cg_mkdir_leaf(d->path, d->mnt->mount_point, &d->created, err);
        if (q >= 0)
                q = v2_prepare_parents(d, needed(r), err);
        if (q >= 0 && r)
                q = v2_apply(m, r, err);
        return q;
}

const struct cg_driver cg_driver_v2 = {
    .name = "v2",
    .create = v2_create,
    .enter = cg_common_enter,
    .apply = v2_apply,
    .kill = cg_common_kill,
    .pids = cg_common_pids,
    .destroy = cg_common_destroy,
    .hierarchies = cg_common_hierarchies,
};
