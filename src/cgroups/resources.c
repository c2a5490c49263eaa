/* Resource writers shared by the v1 and v2 drivers, or specific to one layout but too large
 * for v1.c/v2.c: blockIO (v1 blkio.*, v2 io.*), hugepageLimits, rdma, network (v1 net_cls and
 * net_prio), unified (raw v2 files), the device rule list (linux.resources.devices, then one
 * allow rule per linux.devices node, then the standard nodes) and the checks of values that
 * cgroup v2 cannot express. */
#include "cgroups/cgroups-internal.h"

#include <inttypes.h>
#include <string.h>

bool cg_blkio_set(const struct spec_blkio *b)
{
        bool any = b->weight.set || b->leaf_weight.set || b->n_weight_device > 0;
        for (size_t i = 0; i < ARRAY_SIZE(b->n_throttle); i++)
                any |= b->n_throttle[i] > 0;
        return any;
}

int cg_check_usage(const char *dir, const char *usage_file, int64_t limit, struct cx_error **err)
{
        if (limit < 0)
                return 0;
        _cleanup_free_ char *cur = NULL;
        int r = cg_read(dir, usage_file, &cur, false, err);
        if (r < 0)
                return r;
        cur[strcspn(cur, "\n")] = '\0';
        int64_t usage;
        if (parse_i64(cur, &usage) >= 0 && usage > limit)
                return cx_error_msg(err, EBUSY,
                                    "linux.resources.memory.limit: %" PRId64
                                    " is below the current usage %" PRId64
                                    " (checkBeforeUpdate is set)",
                                    limit, usage);
        return 0;
}

/* ---- devices ----------------------------------------------------------------------------- */

/* The nodes every container needs, allowed after the configured rules (runc 1.1.5's
 * AllowedDevices): mknod of any node, /dev/{null,zero,full,random,urandom,tty,ptmx},
 * /dev/pts/N and /dev/net/tun.  The nodes of linux.devices get no rule of their own: as in
 * runc, creating a node does not allow using it (linux.resources.devices decides). */
#define RULE(t, ma, mi, acc)                                                                       \
        {                                                                                          \
                .allow = true, .type = (t), .major = {(ma) >= 0, (ma)},                            \
                .minor = {(mi) >= 0, (mi)}, .access = (char *)(acc)                                \
        }
static const struct spec_device_cgroup default_allow[] = {
    RULE('c', -1, -1, "m"),    RULE('b', -1, -1, "m"),    RULE('c', 1, 3, "rwm"),
    RULE('c', 1, 5, "rwm"),    RULE('c', 1, 7, "rwm"),    RULE('c', 1, 8, "rwm"),
    RULE('c', 1, 9, "rwm"),    RULE('c', 5, 0, "rwm"),    RULE('c', 5, 2, "rwm"),
    RULE('c', 136, -1, "rwm"), RULE('c', 10, 200, "rwm"),
};

int cg_device_rules(const struct spec_resources *r, struct spec_device_cgroup **ret, size_t *ret_n)
{
        size_t n = r->n_devices + ARRAY_SIZE(default_allow);
        struct spec_device_cgroup *v = xcalloc(n, sizeof(*v));
        memcpy(v, r->devices, r->n_devices * sizeof(*v));
        memcpy(v + r->n_devices, default_allow, sizeof(default_allow));
        *ret = v;
        *ret_n = n;
        return 0;
}

const char *cg_device_access(const char *access, char buf[4])
{
        if (!access || !*access)
                return "rwm";
        /* runc keeps r, w and m and ignores anything else ("rwa" is "rw") */
        size_t n = 0;
        if (strchr(access, 'r'))
                buf[n++] = 'r';
        if (strchr(access, 'w'))
                buf[n++] = 'w';
        if (strchr(access, 'm'))
                buf[n++] = 'm';
        buf[n] = '\0';
        return buf;
}

/* ---- values cgroup v2 cannot express ----------------------------------------------------- */

int cg_v2_check(const struct spec_resources *r, struct cx_error **err)
{
        const struct spec_memory *mem = &r->memory;
        if (mem->swappiness.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.swappiness: not supported on "
                                    "cgroup v2 (there is no per-cgroup swappiness)");
        if (mem->disable_oom_killer)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.disableOOMKiller: not supported on "
                                    "cgroup v2 (the OOM killer cannot be disabled per cgroup)");
        if (mem->kernel.set || mem->kernel_tcp.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.memory.%s: kernel memory limits are "
                                    "deprecated and not supported on cgroup v2",
                                    mem->kernel.set ? "kernel" : "kernelTCP");
        if (r->cpu.realtime_runtime.set || r->cpu.realtime_period.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.cpu.%s: not supported on cgroup v2 (no "
                                    "real-time group scheduling there)",
                                    r->cpu.realtime_runtime.set ? "realtimeRuntime"
                                                                : "realtimePeriod");
        if (r->network.class_id.set || r->network.n_priorities > 0)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.network.%s: net_cls and net_prio are cgroup "
                                    "v1 controllers; not supported on cgroup v2",
                                    r->network.class_id.set ? "classID" : "priorities");
        if (r->blkio.leaf_weight.set)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.blockIO.leafWeight: not supported on cgroup "
                                    "v2");
        for (size_t i = 0; i < r->blkio.n_weight_device; i++)
                if (r->blkio.weight_device[i].leaf_weight.set)
                        return cx_error_msg(err, EOPNOTSUPP,
                                            "linux.resources.blockIO.weightDevice[%zu]."
                                            "leafWeight: not supported on cgroup v2",
                                            i);
        return 0;
}

/* ---- blockIO ----------------------------------------------------------------------------- */

static const char *const throttle_json[4] = {
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
};

static int check_weight(uint64_t w, const char *json_path, struct cx_error **err)
{
        if (w < 10 || w > 1000)
                return cx_error_msg(err, EINVAL, "%s: %" PRIu64 " is out of range 10-1000",
                                    json_path, w);
        return 0;
}

/* The first of files that exists in dir, or NULL. */
static const char *first_existing(const char *dir, const char *const *files, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (cg_file_exists(dir, files[i]))
                        return files[i];
        return NULL;
}

static int no_weight_file(const char *dir, const char *json_path, const char *files,
                          struct cx_error **err)
{
        return cx_error_msg(err, EOPNOTSUPP,
                            "%s: not supported on this host (none of %s exists in %s: the "
                            "block devices' I/O scheduler offers no weights)",
                            json_path, files, dir);
}

int cg_v1_blkio(const char *dir, const struct spec_blkio *b, struct cx_error **err)
{
        static const char *const weight_files[] = {"blkio.weight", "blkio.bfq.weight"};
        static const char *const wdev_files[] = {"blkio.weight_device", "blkio.bfq.weight_device"};
        static const char *const throttle_files[4] = {
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        };
        int r;
        if (b->weight.set) {
                const char *f = first_existing(dir, weight_files, 2);
                if (!f)
                        return no_weight_file(dir, "linux.resources.blockIO.weight",
                                              "blkio.weight, blkio.bfq.weight", err);
                if ((r = cg_writef(dir, f, err, "%" PRIu64, b->weight.v)) < 0)
                        return r;
        }
        if (b->leaf_weight.set) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%" PRIu64, b->leaf_weight.v);
                if ((r = cg_write_opt(dir, "blkio.leaf_weight", buf,
                                      "linux.resources.blockIO.leafWeight", err)) < 0)
                        return r;
        }
        for (size_t i = 0; i < b->n_weight_device; i++) {
                const struct spec_weight_device *w = &b->weight_device[i];
                _cleanup_free_ char *jp = xasprintf("linux.resources.blockIO.weightDevice[%zu]", i);
                if (w->leaf_weight.set)
                        return cx_error_msg(err, EOPNOTSUPP,
                                            "%s.leafWeight: not supported by this kernel "
                                            "(per-device leaf weights went with CFQ)",
                                            jp);
                if (!w->weight.set)
                        continue;
                const char *f = first_existing(dir, wdev_files, 2);
                if (!f)
                        return no_weight_file(dir, jp,
                                              "blkio.weight_device, blkio.bfq.weight_device", err);
                if ((r = cg_writef(dir, f, err, "%" PRId64 ":%" PRId64 " %" PRIu64, w->major,
                                   w->minor, w->weight.v)) < 0)
                        return r;
        }
        for (size_t k = 0; k < 4; k++)
                for (size_t i = 0; i < b->n_throttle[k]; i++) {
                        const struct spec_throttle_device *t = &b->throttle[k][i];
                        char buf[80];
                        snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %" PRIu64, t->major,
                                 t->minor, t->rate);
                        _cleanup_free_ char *jp =
                            xasprintf("linux.resources.blockIO.%s[%zu]", throttle_json[k], i);
                        if ((r = cg_write_opt(dir, throttle_files[k], buf, jp, err)) < 0)
                                return r;
                }
        return 0;
}

/* blkio weight 10..1000 -> io.weight 1..10000 (as runc and crun convert it) */
static uint64_t io_weight(uint64_t w)
{
        return 1 + (w - 10) * 9999 / 990;
}

int cg_v2_io(const char *dir, const struct spec_blkio *b, struct cx_error **err)
{
        static const char *const keys[4] = {"rbps", "wbps", "riops", "wiops"};
        bool bfq = cg_file_exists(dir, "io.bfq.weight");
        int r;
        if (b->weight.set) {
                if (bfq)
                        r = cg_writef(dir, "io.bfq.weight", err, "%" PRIu64, b->weight.v);
                else if (cg_file_exists(dir, "io.weight"))
                        r = cg_writef(dir, "io.weight", err, "default %" PRIu64,
                                      io_weight(b->weight.v));
                else
                        r = no_weight_file(dir, "linux.resources.blockIO.weight",
                                           "io.bfq.weight, io.weight", err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < b->n_weight_device; i++) {
                const struct spec_weight_device *w = &b->weight_device[i];
                _cleanup_free_ char *jp = xasprintf("linux.resources.blockIO.weightDevice[%zu]", i);
                if (!w->weight.set)
                        continue;
                if (bfq)
                        r = cg_writef(dir, "io.bfq.weight", err, "%" PRId64 ":%" PRId64 " %" PRIu64,
                                      w->major, w->minor, w->weight.v);
                else if (cg_file_exists(dir, "io.weight"))
                        r = cg_writef(dir, "io.weight", err, "%" PRId64 ":%" PRId64 " %" PRIu64,
                                      w->major, w->minor, io_weight(w->weight.v));
                else
                        r = no_weight_file(dir, jp, "io.bfq.weight, io.weight", err);
                if (r < 0)
                        return cx_error_prefix(err, "%s", jp);
        }
        for (size_t k = 0; k < 4; k++)
                for (size_t i = 0; i < b->n_throttle[k]; i++) {
                        const struct spec_throttle_device *t = &b->throttle[k][i];
                        char buf[96];
                        if (t->rate == 0)
                                snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=max",
                                         t->major, t->minor, keys[k]);
                        else
                                snprintf(buf, sizeof(buf), "%" PRId64 ":%" PRId64 " %s=%" PRIu64,
                                         t->major, t->minor, keys[k], t->rate);
                        _cleanup_free_ char *jp =
                            xasprintf("linux.resources.blockIO.%s[%zu]", throttle_json[k], i);
                        if ((r = cg_write_opt(dir, "io.max", buf, jp, err)) < 0)
                                return cx_error_prefix(err, "%s", jp);
                }
        return 0;
}

/* ---- hugetlb, rdma, network, unified ----------------------------------------------------- */

/* "2MB", "1GB", "64KB": digits then KB, MB, GB, TB or PB, as the kernel names the files. */
static bool valid_page_size(const char *s)
{
        size_t d = strspn(s, "0123456789");
        if (d == 0 || s[0] == '0')
                return false;
        return strlen(s + d) == 2 && strchr("KMGTP", s[d]) && s[d + 1] == 'B';
}

static int check_unified_key(const char *key, struct cx_error **err)
{
        if (strncmp(key, "cgroup.", 7) == 0 && strcmp(key, "cgroup.freeze") &&
            strcmp(key, "cgroup.max.depth") && strcmp(key, "cgroup.max.descendants"))
                return cx_error_msg(err, EINVAL,
                                    "linux.resources.unified.%s: a core cgroup file the runtime "
                                    "manages itself",
                                    key);
        return 0;
}

static int check_blkio(const struct spec_blkio *b, struct cx_error **err)
{
        int r;
        if (b->weight.set &&
            (r = check_weight(b->weight.v, "linux.resources.blockIO.weight", err)) < 0)
                return r;
        if (b->leaf_weight.set &&
            (r = check_weight(b->leaf_weight.v, "linux.resources.blockIO.leafWeight", err)) < 0)
                return r;
        for (size_t i = 0; i < b->n_weight_device; i++) {
                const struct spec_weight_device *w = &b->weight_device[i];
                _cleanup_free_ char *jp = xasprintf("linux.resources.blockIO.weightDevice[%zu]", i);
                if (w->weight.set && (r = check_weight(w->weight.v, jp, err)) < 0)
                        return r;
        }
        return 0;
}

int cg_resources_validate(const struct spec_resources *r, struct cx_error **err)
{
        int q;
        if (!r || !r->present)
                return 0;
        if ((r->has_blkio && (q = check_blkio(&r->blkio, err)) < 0) ||
            (q = cg_hugetlb_check(r, err)) < 0)
                return q;
        for (size_t i = 0; i < r->n_rdma; i++)
                if (strpbrk(r->rdma[i].device, " \n=") || !*r->rdma[i].device)
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.rdma: invalid device name `%s`",
                                            r->rdma[i].device);
        for (size_t i = 0; r->has_network && i < r->network.n_priorities; i++) {
                const char *name = r->network.priorities[i].name;
                if (!*name || strpbrk(name, " \n/"))
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.network.priorities[%zu].name: "
                                            "invalid interface name `%s`",
                                            i, name);
        }
        for (size_t i = 0; i < r->n_unified; i++)
                if ((q = check_unified_key(r->unified[i].key, err)) < 0)
                        return q;
        return 0;
}

int cg_hugetlb_check(const struct spec_resources *r, struct cx_error **err)
{
        for (size_t i = 0; i < r->n_hugepage_limits; i++)
                if (!valid_page_size(r->hugepage_limits[i].page_size))
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.hugepageLimits[%zu].pageSize: "
                                            "invalid page size `%s` (expected e.g. 2MB or 1GB)",
                                            i, r->hugepage_limits[i].page_size);
        return 0;
}

int cg_hugetlb(const char *dir, const struct spec_resources *r, bool v2, struct cx_error **err)
{
        for (size_t i = 0; i < r->n_hugepage_limits; i++) {
                const struct spec_hugepage_limit *h = &r->hugepage_limits[i];
                _cleanup_free_ char *jp = xasprintf("linux.resources.hugepageLimits[%zu]", i);
                _cleanup_free_ char *f =
                    xasprintf("hugetlb.%s.%s", h->page_size, v2 ? "max" : "limit_in_bytes");
                if (!cg_file_exists(dir, f))
                        return cx_error_msg(err, EOPNOTSUPP,
                                            "%s.pageSize: huge pages of %s are not supported on "
                                            "this host (%s/%s does not exist)",
                                            jp, h->page_size, dir, f);
                int q = cg_writef(dir, f, err, "%" PRIu64, h->limit);
                if (q < 0)
                        return q;
                /* reservations are limited too where the kernel accounts them */
                _cleanup_free_ char *rsvd =
                    xasprintf("hugetlb.%s.rsvd.%s", h->page_size, v2 ? "max" : "limit_in_bytes");
                if (cg_file_exists(dir, rsvd) &&
                    (q = cg_writef(dir, rsvd, err, "%" PRIu64, h->limit)) < 0)
                        return q;
        }
        return 0;
}

int cg_rdma(const char *dir, const struct spec_resources *r, struct cx_error **err)
{
        for (size_t i = 0; i < r->n_rdma; i++) {
                const struct spec_rdma *d = &r->rdma[i];
                char h[32] = "max", o[32] = "max";
                if (d->hca_handles.set)
                        snprintf(h, sizeof(h), "%" PRIu64, d->hca_handles.v);
                if (d->hca_objects.set)
                        snprintf(o, sizeof(o), "%" PRIu64, d->hca_objects.v);
                _cleanup_free_ char *v =
                    xasprintf("%s hca_handle=%s hca_object=%s", d->device, h, o);
                _cleanup_free_ char *jp = xasprintf("linux.resources.rdma.%s", d->device);
                int q = cg_write_opt(dir, "rdma.max", v, jp, err);
                if (q < 0)
                        return cx_error_prefix(err, "%s", jp);
        }
        return 0;
}

int cg_v1_network(const struct cg_manager *m, const struct spec_network_res *n,
                  const char *(*dir_for)(const struct cg_manager *, const char *),
                  struct cx_error **err)
{
        int r;
        if (n->class_id.set) {
                const char *dir = dir_for(m, "net_cls");
                if (!dir)
                        return cx_error_msg(err, EOPNOTSUPP,
                                            "linux.resources.network.classID: the net_cls cgroup "
                                            "controller is not mounted on this host");
                if ((r = cg_writef(dir, "net_cls.classid", err, "%" PRIu64, n->class_id.v)) < 0)
                        return r;
        }
        if (n->n_priorities == 0)
                return 0;
        const char *dir = dir_for(m, "net_prio");
        if (!dir)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.resources.network.priorities: the net_prio cgroup "
                                    "controller is not mounted on this host");
        for (size_t i = 0; i < n->n_priorities; i++) {
                const struct spec_net_priority *p = &n->priorities[i];
                if ((r = cg_writef(dir, "net_prio.ifpriomap", err, "%s %" PRIu32, p->name,
                                   p->priority)) < 0)
                        return r;
        }
        return 0;
}

int cg_v2_unified(const char *dir, const struct spec_resources *r, struct cx_error **err)
{
        for (size_t i = 0; i < r->n_unified; i++) {
                const struct spec_kv *kv = &r->unified[i];
                if (!cg_file_exists(dir, kv->key))
                        return cx_error_msg(err, EINVAL,
                                            "linux.resources.unified.%s: no such cgroup file in "
                                            "%s (unknown key, or its controller is not enabled)",
                                            kv->key, dir);
                int q = cg_write(dir, kv->key, kv->value, err);
                if (q < 0)
                        return cx_error_prefix(err, "linux.resources.unified.%s", kv->key);
        }
        return 0;
}
