/* The cgroup v1 driver, also used on hybrid hosts: one directory per v1 hierarchy (controllers
 * and name=systemd), plus the unified (cgroup2) directory on hybrid hosts, which holds no
 * resources but tracks every process and offers cgroup.kill.
 *
 * Files: memory.{limit,soft_limit,memsw.limit,kmem.limit,kmem.tcp.limit}_in_bytes,
 * memory.swappiness, memory.oom_control, memory.use_hierarchy, cpu.shares,
 * cpu.cfs_{quota,period,burst}_us, cpu.rt_{runtime,period}_us, cpu.idle, cpuset.{cpus,mems},
 * pids.max, devices.{allow,deny}, blkio.{weight,bfq.weight,leaf_weight,weight_device,
 * throttle.*}, hugetlb.SIZE.limit_in_bytes, net_cls.classid, net_prio.ifpriomap, rdma.max. */
#include "cgroups/cgroups-internal.h"

#include <inttypes.h>
#include <string.h>

static const char *dir_for(const struct cg_manager *m, const char *controller)
{
        for (size_t i = 0; i < m->n_dirs; i++)
                if (m->dirs[i].mnt && !m->dirs[i].mnt->v2 &&
                    cg_mount_has(m->dirs[i].mnt, controller))
                        return m->dirs[i].path;
        return NULL;
}

static int need_dir(const struct cg_manager *m, const char *controller, const char *json_path,
                    const char **ret, struct cx_error **err)
{
        *ret = dir_for(m, controller);
        if (!*ret)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "%s: the %s cgroup controller is not mounted on this host",
                                    json_path, controller);
        return 0;
}

static int write_i64(const char *dir, const char *file, int64_t v, struct cx_error **err)
{
        return cg_writef(dir, file, err, "%" PRId64, v);
}

/* memory.limit_in_bytes and memory.memsw.limit_in_bytes: the kernel requires memsw >= limit
 * at every moment, so when the new memsw is above the current one it goes first. */
static int v1_memory_limits(const char *dir, const struct spec_memory *in, struct cx_error **err)
{
        struct spec_memory unlimited;
        const struct spec_memory *mem = in;
        /* as runc: an unlimited memory limit without a swap limit lifts the swap limit too (the
         * kernel refuses memory > memory+swap otherwise) */
        if (in->limit.set && in->limit.v == -1 && !in->swap.set &&
            cg_file_exists(dir, "memory.memsw.limit_in_bytes")) {
                unlimited = *in;
                unlimited.swap.set = true;
                unlimited.swap.v = -1;
                mem = &unlimited;
        }
        if (!mem->swap.set)
                return mem->limit.set ? write_i64(dir, "memory.limit_in_bytes", mem->limit.v, err)
                                      : 0;
        if (!cg_file_exists(dir, "memory.memsw.limit_in_bytes"))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.swap: swap limits are not supported "
                                    "on this host (%s/memory.memsw.limit_in_bytes does not "
                                    "exist: swap accounting is off)",
                                    dir);
        if (mem->limit.set && mem->limit.v > 0 && mem->swap.v > 0 && mem->swap.v < mem->limit.v)
                return cx_error_msg(err, EINVAL,
                                    "linux.resources.memory.swap: %" PRId64
                                    " is below linux.resources.memory.limit %" PRId64
                                    " (swap is the memory+swap limit)",
                                    mem->swap.v, mem->limit.v);
        bool memsw_first = mem->swap.v < 0;
        if (!memsw_first) {
                _cleanup_free_ char *cur = NULL;
                int64_t c;
                int r = cg_read(dir, "memory.memsw.limit_in_bytes", &cur, false, err);
                if (r < 0)
                        return r;
                cur[strcspn(cur, "\n")] = '\0';
                memsw_first = parse_i64(cur, &c) >= 0 && mem->swap.v > c;
        }
        int r = 0;
        if (memsw_first)
                r = write_i64(dir, "memory.memsw.limit_in_bytes", mem->swap.v, err);
        if (r >= 0 && mem->limit.set)
                r = write_i64(dir, "memory.limit_in_bytes", mem->limit.v, err);
        if (r >= 0 && !memsw_first)
                r = write_i64(dir, "memory.memsw.limit_in_bytes", mem->swap.v, err);
        return r;
}

static int write_kmem(const char *dir, const char *file, int64_t v, const char *json_path,
                      struct cx_error **err)
{
        if (!cg_file_exists(dir, file))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "%s: kernel memory limits are deprecated and not supported "
                                    "by this kernel (%s/%s does not exist)",
                                    json_path, dir, file);
        return write_i64(dir, file, v, err);
}

static int v1_memory(const struct cg_manager *m, const struct spec_memory *mem,
                     struct cx_error **err)
{
        if (!mem->limit.set && !mem->reservation.set && !mem->swap.set && !mem->kernel.set &&
            !mem->kernel_tcp.set && !mem->swappiness.set && !mem->disable_oom_killer &&
            !mem->use_hierarchy)
                return 0;
        const char *dir;
        int r = need_dir(m, "memory", "linux.resources.memory", &dir, err);
        if (r < 0)
                return r;
        if (mem->use_hierarchy && (r = cg_write(dir, "memory.use_hierarchy", "1", err)) < 0)
                return r;
        if (mem->check_before_update && mem->limit.set &&
            (r = cg_check_usage(dir, "memory.usage_in_bytes", mem->limit.v, err)) < 0)
                return r;
        if ((r = v1_memory_limits(dir, mem, err)) < 0)
                return r;
        if (mem->reservation.set &&
            (r = write_i64(dir, "memory.soft_limit_in_bytes", mem->reservation.v, err)) < 0)
                return r;
        if (mem->kernel.set && (r = write_kmem(dir, "memory.kmem.limit_in_bytes", mem->kernel.v,
                                               "linux.resources.memory.kernel", err)) < 0)
                return r;
        if (mem->kernel_tcp.set &&
            (r = write_kmem(dir, "memory.kmem.tcp.limit_in_bytes", mem->kernel_tcp.v,
                            "linux.resources.memory.kernelTCP", err)) < 0)
                return r;
        if (mem->swappiness.set) {
                if (mem->swappiness.v > 100)
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.memory.swappiness: %" PRIu64
                                            " is out of range 0-100",
                                            mem->swappiness.v);
                r = cg_writef(dir, "memory.swappiness", err, "%" PRIu64, mem->swappiness.v);
                if (r < 0)
                        return r;
        }
        if (mem->disable_oom_killer && (r = cg_write(dir, "memory.oom_control", "1", err)) < 0)
                return r;
        return 0;
}

/* cfs period and quota: the kernel checks quota/period against the parent at each write, so
 * when period-then-quota is refused, quota-then-period is tried. */
static int v1_cfs(const char *dir, const struct spec_cpu *cpu, struct cx_error **err)
{
        if (!cpu->period.set)
                return cpu->quota.set ? write_i64(dir, "cpu.cfs_quota_us", cpu->quota.v, err) : 0;
        _cleanup_error_ struct cx_error *first = NULL;
        int r = cg_writef(dir, "cpu.cfs_period_us", &first, "%" PRIu64, cpu->period.v);
        if (r >= 0)
                return cpu->quota.set ? write_i64(dir, "cpu.cfs_quota_us", cpu->quota.v, err) : 0;
        if (r != -EINVAL || !cpu->quota.set) {
                if (err && !*err)
                        *err = TAKE_PTR(first);
                return r;
        }
        r = write_i64(dir, "cpu.cfs_quota_us", cpu->quota.v, err);
        if (r < 0)
                return r;
        return cg_writef(dir, "cpu.cfs_period_us", err, "%" PRIu64, cpu->period.v);
}

static int v1_cpu(const struct cg_manager *m, const struct spec_cpu *cpu, struct cx_error **err)
{
        const char *dir;
        int r;
        bool any = cpu->shares.set || cpu->quota.set || cpu->period.set || cpu->burst.set ||
                   cpu->realtime_runtime.set || cpu->realtime_period.set || cpu->idle.set;
        if (any) {
                if ((r = need_dir(m, "cpu", "linux.resources.cpu", &dir, err)) < 0)
                        return r;
                if (cpu->shares.set &&
                    (r = cg_writef(dir, "cpu.shares", err, "%" PRIu64, cpu->shares.v)) < 0)
                        return r;
                if ((r = v1_cfs(dir, cpu, err)) < 0)
                        return r;
                char buf[32];
                if (cpu->burst.set) {
                        snprintf(buf, sizeof(buf), "%" PRIu64, cpu->burst.v);
                        r = cg_write_opt(dir, "cpu.cfs_burst_us", buf, "linux.resources.cpu.burst",
                                         err);
                        if (r < 0)
                                return r;
                }
                if (cpu->realtime_period.set) {
                        snprintf(buf, sizeof(buf), "%" PRIu64, cpu->realtime_period.v);
                        r = cg_write_opt(dir, "cpu.rt_period_us", buf,
                                         "linux.resources.cpu.realtimePeriod", err);
                        if (r < 0)
                                return r;
                }
                if (cpu->realtime_runtime.set) {
                        snprintf(buf, sizeof(buf), "%" PRId64, cpu->realtime_runtime.v);
                        r = cg_write_opt(dir, "cpu.rt_runtime_us", buf,
                                         "linux.resources.cpu.realtimeRuntime", err);
                        if (r < 0)
                                return r;
                }
                if (cpu->idle.set) {
                        snprintf(buf, sizeof(buf), "%" PRId64, cpu->idle.v);
                        r = cg_write_opt(dir, "cpu.idle", buf, "linux.resources.cpu.idle", err);
                        if (r < 0)
                                return r;
                }
        }
        if (!cpu->cpus && !cpu->mems)
                return 0;
        if ((r = need_dir(m, "cpuset",
                          cpu->cpus ? "linux.resources.cpu.cpus" : "linux.resources.cpu.mems", &dir,
                          err)) < 0)
                return r;
        if (cpu->cpus && (r = cg_write(dir, "cpuset.cpus", cpu->cpus, err)) < 0)
                return r;
        if (cpu->mems && (r = cg_write(dir, "cpuset.mems", cpu->mems, err)) < 0)
                return r;
        return 0;
}

static int v1_pids(const struct cg_manager *m, const struct spec_opt_i64 *limit,
                   struct cx_error **err)
{
        if (!limit->set)
                return 0;
        const char *dir;
        int r = need_dir(m, "pids", "linux.resources.pids", &dir, err);
        if (r < 0)
                return r;
        if (limit->v <= 0)
                return cg_write(dir, "pids.max", "max", err);
        return write_i64(dir, "pids.max", limit->v, err);
}

static void device_rule(char *buf, size_t len, char type, const struct spec_opt_i64 *major,
                        const struct spec_opt_i64 *minor, const char *access)
{
        char ma[24] = "*", mi[24] = "*";
        if (major->set && major->v >= 0)
                snprintf(ma, sizeof(ma), "%" PRId64, major->v);
        if (minor->set && minor->v >= 0)
                snprintf(mi, sizeof(mi), "%" PRId64, minor->v);
        snprintf(buf, len, "%c %s:%s %s", type, ma, mi, access);
}

static int v1_devices(const struct cg_manager *m, const struct spec_resources *r,
                      struct cx_error **err)
{
        if (r->n_devices == 0)
                return 0;
        const char *dir;
        int q = need_dir(m, "devices", "linux.resources.devices", &dir, err);
        if (q < 0)
                return q;
        _cleanup_free_ struct spec_device_cgroup *rules = NULL;
        size_t n = 0;
        cg_device_rules(r, &rules, &n);
        for (size_t i = 0; i < n; i++) {
                const struct spec_device_cgroup *d = &rules[i];
                char rule[80], buf[4];
                const char *access = cg_device_access(d->access, buf);
                char type = d->type ? d->type : 'a';
                if (type != 'a' && !*access)
                        continue; /* no access left (e.g. "a"): no effect, as in runc */
                device_rule(rule, sizeof(rule), type, &d->major, &d->minor,
                            type == 'a' ? "rwm" : access);
                q = cg_write(dir, d->allow ? "devices.allow" : "devices.deny", rule, err);
                if (q < 0)
                        return q;
        }
        return 0;
}

/* hugetlb: a v1 hierarchy, or on hybrid hosts the unified one when it holds the controller. */
static int v1_hugetlb(const struct cg_manager *m, const struct spec_resources *r,
                      struct cx_error **err)
{
        if (r->n_hugepage_limits == 0)
                return 0;
        const char *dir = dir_for(m, "hugetlb");
        if (dir)
                return cg_hugetlb(dir, r, false, err);
        if (m->unified >= 0) {
                const char *u = m->dirs[m->unified].path;
                if (cg_file_exists(u, "hugetlb.2MB.max") || cg_file_exists(u, "hugetlb.1GB.max"))
                        return cg_hugetlb(u, r, true, err);
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.hugepageLimits: the hugetlb controller is "
                                    "neither mounted as cgroup v1 nor enabled for %s (the "
                                    "parent's cgroup.subtree_control lacks hugetlb)",
                                    u);
        }
        return cx_error_msg(err, EOPNOTSUPP,
                            "linux.resources.hugepageLimits: the hugetlb cgroup controller is not "
                            "mounted on this host");
}

static int v1_other(const struct cg_manager *m, const struct spec_resources *r,
                    struct cx_error **err)
{
        const char *dir;
        int q;
        if (r->n_unified > 0)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.unified: raw cgroup v2 keys (`%s`) need a "
                                    "cgroup v2 host; this host's layout is %s",
                                    r->unified[0].key, cg_layout_name(m->layout));
        if (cg_blkio_set(&r->blkio)) {
                if ((q = need_dir(m, "blkio", "linux.resources.blockIO", &dir, err)) < 0 ||
                    (q = cg_v1_blkio(dir, &r->blkio, err)) < 0)
                        return q;
        }
        if ((q = v1_hugetlb(m, r, err)) < 0 ||
            (q = cg_v1_network(m, &r->network, dir_for, err)) < 0)
                return q;
        if (r->n_rdma > 0) {
                if ((q = need_dir(m, "rdma", "linux.resources.rdma", &dir, err)) < 0 ||
                    (q = cg_rdma(dir, r, err)) < 0)
                        return q;
        }
        return 0;
}

static int v1_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        int q;
        if ((q = v1_devices(m, r, err)) < 0)
                return q;
        if ((q = v1_memory(m, &r->memory, err)) < 0)
                return q;
        if ((q = v1_cpu(m, &r->cpu, err)) < 0)
                return q;
        if ((q = v1_pids(m, &r->pids_limit, err)) < 0)
                return q;
        return v1_other(m, r, err);
}

/* A new v1 cpuset cgroup starts with empty cpus and mems, and no task can join it until both
 * are set (ENOSPC).  As runc's ensureParent: from the leaf up to the first cgroup that has
 * both, then down again, each empty value is copied from the parent, in the directories this
 * create made and in existing ones left empty (a pod's parent made by someone else). */
static int ensure_cpuset(const char *dir, const char *mount_point, struct cx_error **err)
{
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        if (strcmp(dir, mount_point) == 0)
                return 0;
        char *v[2] = {NULL, NULL};
        int r = 0;
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(files); i++)
                if ((r = cg_read(dir, files[i], &v[i], false, err)) >= 0)
                        v[i][strcspn(v[i], "\n")] = '\0';
        if (r >= 0 && (!*v[0] || !*v[1])) {
                _cleanup_free_ char *parent = xstrdup(dir);
                *strrchr(parent, '/') = '\0';
                r = ensure_cpuset(parent, mount_point, err);
                for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(files); i++) {
                        _cleanup_free_ char *pv = NULL;
                        if (*v[i])
                                continue;
                        if ((r = cg_read(parent, files[i], &pv, false, err)) < 0)
                                break;
                        pv[strcspn(pv, "\n")] = '\0';
                        r = cg_write(dir, files[i], pv, err);
                }
        }
        free(v[0]);
        free(v[1]);
        return r;
}

static int v1_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        for (size_t i = 0; i < m->n_dirs; i++) {
                struct cg_dir *d = &m->dirs[i];
                if (!d->mnt)
                        return cx_error_msg(err, ENOENT, "cgroup `%s`: no hierarchy mounted there",
                                            d->path);
                int q = cg_mkdir_leaf(d->path, d->mnt->mount_point, &d->created, err);
                if (q >= 0 && !d->mnt->v2 && cg_mount_has(d->mnt, "cpuset"))
                        q = ensure_cpuset(d->path, d->mnt->mount_point, err);
                if (q < 0)
                        return q;
        }
        return r ? v1_apply(m, r, err) : 0;
}

const struct cg_driver cg_driver_v1 = {
    .name = "v1",
    .create = v1_create,
    .enter = cg_common_enter,
    .apply = v1_apply,
    .kill = cg_common_kill,
    .pids = cg_common_pids,
    .destroy = cg_common_destroy,
    .hierarchies = cg_common_hierarchies,
};
