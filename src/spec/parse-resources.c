/* spec: linux.resources (also the standalone object of `update -r`). */
#include "spec/internal.h"

#include <string.h>

static int parse_device_rule(const struct jcur *c, void *slot)
{
        struct spec_device_cgroup *d = slot;
        const char *type = NULL;
        int r;

        if ((r = j_need(c, "allow")) < 0 || (r = j_bool(c, "allow", &d->allow)) < 0 ||
            (r = j_cstr(c, "type", &type)) < 0 || (r = j_opt_i64(c, "major", &d->major)) < 0 ||
            (r = j_opt_i64(c, "minor", &d->minor)) < 0 || (r = j_str(c, "access", &d->access)) < 0)
                return r;
        if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
                return j_fail(c, "type", "unknown device type \"%s\" (expected a, c or b)", type);
        d->type = type ? type[0] : 'a';
        /* r, w and m count; runc also takes (and ignores) "a", as in "rwa" */
        if (d->access && strspn(d->access, "rwma") != strlen(d->access))
                return j_fail(c, "access",
                              "invalid access \"%s\" (expected letters of rwm; a is ignored)",
                              d->access);
        return 0;
}

static int parse_memory(const struct jcur *c, struct spec_memory *m)
{
        int r;

        if ((r = j_opt_i64(c, "limit", &m->limit)) < 0 ||
            (r = j_opt_i64(c, "reservation", &m->reservation)) < 0 ||
            (r = j_opt_i64(c, "swap", &m->swap)) < 0 ||
            (r = j_opt_i64(c, "kernel", &m->kernel)) < 0 ||
            (r = j_opt_i64(c, "kernelTCP", &m->kernel_tcp)) < 0 ||
            (r = j_opt_u64(c, "swappiness", &m->swappiness)) < 0 ||
            (r = j_bool(c, "disableOOMKiller", &m->disable_oom_killer)) < 0 ||
            (r = j_bool(c, "useHierarchy", &m->use_hierarchy)) < 0 ||
            (r = j_bool(c, "checkBeforeUpdate", &m->check_before_update)) < 0)
                return r;
        if (m->swappiness.set && m->swappiness.v > 100)
                return j_fail(c, "swappiness", "%llu out of range (expected 0..100)",
                              (unsigned long long)m->swappiness.v);
        return 0;
}

static int parse_cpu(const struct jcur *c, struct spec_cpu *cpu)
{
        int r;

        if ((r = j_opt_u64(c, "shares", &cpu->shares)) < 0 ||
            (r = j_opt_i64(c, "quota", &cpu->quota)) < 0 ||
            (r = j_opt_u64(c, "burst", &cpu->burst)) < 0 ||
            (r = j_opt_u64(c, "period", &cpu->period)) < 0 ||
            (r = j_opt_i64(c, "realtimeRuntime", &cpu->realtime_runtime)) < 0 ||
            (r = j_opt_u64(c, "realtimePeriod", &cpu->realtime_period)) < 0 ||
            (r = j_str(c, "cpus", &cpu->cpus)) < 0 || (r = j_str(c, "mems", &cpu->mems)) < 0 ||
            (r = j_opt_i64(c, "idle", &cpu->idle)) < 0)
                return r;
        return 0;
}

static int parse_major_minor(const struct jcur *c, int64_t *major, int64_t *minor)
{
        int r;

        if ((r = j_need(c, "major")) < 0 || (r = j_i64(c, "major", major)) < 0 ||
            (r = j_need(c, "minor")) < 0 || (r = j_i64(c, "minor", minor)) < 0)
                return r;
        return 0;
}

static int parse_weight_device(const struct jcur *c, void *slot)
{
        struct spec_weight_device *w = slot;
        int r;

        if ((r = parse_major_minor(c, &w->major, &w->minor)) < 0 ||
            (r = j_opt_u64(c, "weight", &w->weight)) < 0 ||
            (r = j_opt_u64(c, "leafWeight", &w->leaf_weight)) < 0)
                return r;
        return 0;
}

static int parse_throttle_device(const struct jcur *c, void *slot)
{
        struct spec_throttle_device *t = slot;
        int r;

        if ((r = parse_major_minor(c, &t->major, &t->minor)) < 0 || (r = j_need(c, "rate")) < 0 ||
            (r = j_u64(c, "rate", &t->rate)) < 0)
                return r;
        return 0;
}

static int parse_blkio(const struct jcur *c, struct spec_blkio *b)
{
        static const char *const throttle_keys[4] = {
            "throttleReadBpsDevice",
            "throttleWriteBpsDevice",
            "throttleReadIOPSDevice",
            "throttleWriteIOPSDevice",
        };
        int r;

        if ((r = j_opt_u64(c, "weight", &b->weight)) < 0 ||
            (r = j_opt_u64(c, "leafWeight", &b->leaf_weight)) < 0 ||
            (r = j_objv(c, "weightDevice", sizeof(struct spec_weight_device),
                        (void **)&b->weight_device, &b->n_weight_device, parse_weight_device)) < 0)
                return r;
        for (int i = 0; i < 4; i++) {
                r = j_objv(c, throttle_keys[i], sizeof(struct spec_throttle_device),
                           (void **)&b->throttle[i], &b->n_throttle[i], parse_throttle_device);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_hugepage_limit(const struct jcur *c, void *slot)
{
        struct spec_hugepage_limit *h = slot;
        int r;

        if ((r = j_need(c, "pageSize")) < 0 || (r = j_str(c, "pageSize", &h->page_size)) < 0 ||
            (r = j_need(c, "limit")) < 0 || (r = j_u64(c, "limit", &h->limit)) < 0)
                return r;
        return 0;
}

static int parse_net_priority(const struct jcur *c, void *slot)
{
        struct spec_net_priority *p = slot;
        int r;

        if ((r = j_need(c, "name")) < 0 || (r = j_str(c, "name", &p->name)) < 0 ||
            (r = j_need(c, "priority")) < 0 || (r = j_u32(c, "priority", &p->priority)) < 0)
                return r;
        return 0;
}

static int parse_network(const struct jcur *c, struct spec_network_res *n)
{
        int r;

        if ((r = j_opt_u64(c, "classID", &n->class_id)) < 0 ||
            (r = j_objv(c, "priorities", sizeof(struct spec_net_priority), (void **)&n->priorities,
                        &n->n_priorities, parse_net_priority)) < 0)
                return r;
        return 0;
}

/* rdma is an object keyed by device name. */
static int parse_rdma(const struct jcur *c, struct spec_resources *res)
{
        struct jcur o;
        int r = j_obj(c, "rdma", &o);
        if (r <= 0)
                return r;
        size_t n = o.v->u.object.len;
        res->rdma = xcalloc(n ? n : 1, sizeof(struct spec_rdma));
        for (size_t i = 0; i < n; i++) {
                struct jcur e = {.up = &o,
                                 .key = o.v->u.object.keys[i],
                                 .v = o.v->u.object.values[i],
                                 .err = o.err};
                if (YAJL_IS_NULL(e.v))
                        continue;
                if (!YAJL_IS_OBJECT(e.v))
                        return j_type_fail(&e, NULL, "object", e.v);
                struct spec_rdma *d = &res->rdma[res->n_rdma];
                if ((r = j_opt_u64(&e, "hcaHandles", &d->hca_handles)) < 0 ||
                    (r = j_opt_u64(&e, "hcaObjects", &d->hca_objects)) < 0)
                        return r;
                d->device = xstrdup(e.key); /* the key stays in the tree: e.key is in use */
                res->n_rdma++;
        }
        return 0;
}

static int check_unified(const struct jcur *c, const struct spec_resources *res)
{
        for (size_t i = 0; i < res->n_unified; i++) {
                const char *k = res->unified[i].key;
                if (!k[0] || strchr(k, '/') || strcmp(k, ".") == 0 || strcmp(k, "..") == 0)
                        return j_fail(c, "unified", "invalid cgroup file name \"%s\"", k);
        }
        return 0;
}

/* Sub-object parsers share one signature through this table. */
typedef int (*res_fn)(const struct jcur *c, struct spec_resources *res);

static int res_memory(const struct jcur *c, struct spec_resources *res)
{
        res->has_memory = true;
        return parse_memory(c, &res->memory);
}

static int res_cpu(const struct jcur *c, struct spec_resources *res)
{
        res->has_cpu = true;
        return parse_cpu(c, &res->cpu);
}

static int res_pids(const struct jcur *c, struct spec_resources *res)
{
        int r = j_need(c, "limit");
        res->has_pids = true;
        return r < 0 ? r : j_opt_i64(c, "limit", &res->pids_limit);
}

static int res_blkio(const struct jcur *c, struct spec_resources *res)
{
        res->has_blkio = true;
        return parse_blkio(c, &res->blkio);
}

static int res_network(const struct jcur *c, struct spec_resources *res)
{
        res->has_network = true;
        return parse_network(c, &res->network);
}

int spec_parse_resources_at(const struct jcur *c, struct spec_resources *res)
{
        static const struct {
                const char *key;
                res_fn fn;
        } subs[] = {
            {"memory", res_memory}, {"cpu", res_cpu},         {"pids", res_pids},
            {"blockIO", res_blkio}, {"network", res_network},
        };
        struct jcur o;
        int r;

        res->present = true;
        for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
                if ((r = j_obj(c, subs[i].key, &o)) < 0 || (r > 0 && (r = subs[i].fn(&o, res)) < 0))
                        return r;
        }
        if ((r = j_objv(c, "devices", sizeof(struct spec_device_cgroup), (void **)&res->devices,
                        &res->n_devices, parse_device_rule)) < 0 ||
            (r = j_objv(c, "hugepageLimits", sizeof(struct spec_hugepage_limit),
                        (void **)&res->hugepage_limits, &res->n_hugepage_limits,
                        parse_hugepage_limit)) < 0 ||
            (r = parse_rdma(c, res)) < 0 ||
            (r = j_kv(c, "unified", &res->unified, &res->n_unified)) < 0 ||
            (r = check_unified(c, res)) < 0)
                return r;
        return 0;
}

static int parse_resources_top(struct jcur *top, void *out)
{
        return spec_parse_resources_at(top, out);
}

int spec_parse_resources(const char *json, size_t len, const char *name, struct spec_resources *ret,
                         struct cx_error **err)
{
        struct spec_resources res = {0};
        if (!name)
                name = "resources";
        int r = j_parse_object(json, len, name, err, parse_resources_top, &res);
        if (r < 0) {
                spec_resources_clear(&res);
                return cx_error_prefix(err, "%s", name);
        }
        *ret = res;
        return 0;
}

void spec_resources_clear(struct spec_resources *r)
{
        for (size_t i = 0; i < r->n_devices; i++)
                free(r->devices[i].access);
        free(r->devices);
        free(r->cpu.cpus);
        free(r->cpu.mems);
        free(r->blkio.weight_device);
        for (int i = 0; i < 4; i++)
                free(r->blkio.throttle[i]);
        for (size_t i = 0; i < r->n_hugepage_limits; i++)
                free(r->hugepage_limits[i].page_size);
        free(r->hugepage_limits);
        for (size_t i = 0; i < r->network.n_priorities; i++)
                free(r->network.priorities[i].name);
        free(r->network.priorities);
        for (size_t i = 0; i < r->n_rdma; i++)
                free(r->rdma[i].device);
        free(r->rdma);
        spec_kv_free(r->unified, r->n_unified);
        *r = (struct spec_resources){0};
}
