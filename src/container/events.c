/* events: cgroup statistics (once, or every interval) and OOM notifications, as runc prints
 * them.  The state directory's lock is held only while the state is read: a stream must not
 * block delete. */
#include "container/internal.h"

#include <poll.h>
#include <string.h>
#include <yajl/yajl_gen.h>

/* runc's types.Stats, field by field: `omitempty` fields are left out when zero (or empty). */
static void key_u64_nz(yajl_gen g, const char *key, uint64_t v)
{
        if (v)
                json_key_u64(g, key, v);
}

static void key_list(yajl_gen g, const char *key, const uint64_t *v, size_t n)
{
        if (n == 0)
                return;
        json_str(g, key);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++)
                json_u64(g, v[i]);
        yajl_gen_array_close(g);
}

static void stats_cpu(yajl_gen g, const struct cg_stats *s)
{
        json_str(g, "cpu");
        yajl_gen_map_open(g);
        json_str(g, "usage");
        yajl_gen_map_open(g);
        key_u64_nz(g, "total", s->cpu.total);
        key_list(g, "percpu", s->cpu.percpu, s->cpu.n_percpu);
        key_list(g, "percpu_kernel", s->cpu.percpu_kernel, s->cpu.n_percpu_kernel);
        key_list(g, "percpu_user", s->cpu.percpu_user, s->cpu.n_percpu_user);
        json_key_u64(g, "kernel", s->cpu.kernel);
        json_key_u64(g, "user", s->cpu.user);
        yajl_gen_map_close(g);
        json_str(g, "throttling");
        yajl_gen_map_open(g);
        key_u64_nz(g, "periods", s->cpu.periods);
        key_u64_nz(g, "throttledPeriods", s->cpu.throttled_periods);
        key_u64_nz(g, "throttledTime", s->cpu.throttled_time);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
}

/* "0-2,5" -> [0,1,2,5] (runc lists the cpus and mems one by one) */
static void key_id_list(yajl_gen g, const char *key, const char *list)
{
        if (!list || !*list)
                return;
        json_str(g, key);
        yajl_gen_array_open(g);
        for (const char *p = list; *p;) {
                char *end;
                unsigned long a = strtoul(p, &end, 10), b = a;
                if (end == p)
                        break;
                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                for (unsigned long i = a; i <= b && i - a < 65536; i++)
                        json_u64(g, i);
                p = *end == ',' ? end + 1 : end;
        }
        yajl_gen_array_close(g);
}

static void stats_cpuset(yajl_gen g, const struct cg_stats *s)
{
        json_str(g, "cpuset");
        yajl_gen_map_open(g);
        key_id_list(g, "cpus", s->cpuset.cpus);
        json_key_u64(g, "cpu_exclusive", s->cpuset.cpu_exclusive);
        key_id_list(g, "mems", s->cpuset.mems);
        json_key_u64(g, "mem_hardwall", s->cpuset.mem_hardwall);
        json_key_u64(g, "mem_exclusive", s->cpuset.mem_exclusive);
        json_key_u64(g, "memory_migrate", s->cpuset.memory_migrate);
        json_key_u64(g, "memory_spread_page", s->cpuset.memory_spread_page);
        json_key_u64(g, "memory_spread_slab", s->cpuset.memory_spread_slab);
        json_key_u64(g, "memory_pressure", s->cpuset.memory_pressure);
        json_key_u64(g, "sched_load_balance", s->cpuset.sched_load_balance);
        json_str(g, "sched_relax_domain_level");
        yajl_gen_integer(g, s->cpuset.sched_relax_domain_level);
        yajl_gen_map_close(g);
}

static void mem_entry(yajl_gen g, const char *key, const struct cg_mem_entry *e)
{
        json_str(g, key);
        yajl_gen_map_open(g);
        json_key_u64(g, "limit", e->limit);
        key_u64_nz(g, "usage", e->usage);
        key_u64_nz(g, "max", e->max);
        json_key_u64(g, "failcnt", e->failcnt);
        yajl_gen_map_close(g);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stats_memory(yajl_gen g, const struct cg_stats *s)
{
        json_str(g, "memory");
        yajl_gen_map_open(g);
        key_u64_nz(g, "cache", s->memory.cache);
        mem_entry(g, "usage", &s->memory.usage);
        mem_entry(g, "swap", &s->memory.swap);
        mem_entry(g, "kernel", &s->memory.kernel);
        mem_entry(g, "kernelTCP", &s->memory.kernel_tcp);
        size_t n = 0;
        for (char **kv = s->memory.raw; kv && kv[0] && kv[1]; kv += 2)
                n++;
        if (n > 0) { /* a Go map: keys in order */
                _cleanup_free_ char **keys = xcalloc(n, sizeof(*keys));
                size_t i = 0;
                for (char **kv = s->memory.raw; kv && kv[0] && kv[1]; kv += 2)
                        keys[i++] = kv[0];
                qsort(keys, n, sizeof(*keys), cmp_str);
                json_str(g, "raw");
                yajl_gen_map_open(g);
                for (i = 0; i < n; i++)
                        for (char **kv = s->memory.raw; kv[0] && kv[1]; kv += 2)
                                if (kv[0] == keys[i]) {
                                        json_key_u64(g, kv[0], strtoull(kv[1], NULL, 10));
                                        break;
                                }
                yajl_gen_map_close(g);
        }
        yajl_gen_map_close(g);
}

static void empty_map(yajl_gen g, const char *key)
{
        json_str(g, key);
        yajl_gen_map_open(g);
        yajl_gen_map_close(g);
}

static char *event_json(const char *type, const char *id, const struct cg_stats *s)
{
        yajl_gen g = json_gen_new(NULL);
        yajl_gen_map_open(g);
        json_key_str(g, "type", type);
        json_key_str(g, "id", id);
        if (s) {
                json_str(g, "data");
                yajl_gen_map_open(g);
                stats_cpu(g, s);
                stats_cpuset(g, s);
                stats_memory(g, s);
                json_str(g, "pids");
                yajl_gen_map_open(g);
                key_u64_nz(g, "current", s->pids.current);
                key_u64_nz(g, "limit", s->pids.limit);
                yajl_gen_map_close(g);
                empty_map(g, "blkio"); /* capsa reports no block I/O, huge page or RDT use */
                empty_map(g, "hugetlb");
                empty_map(g, "intel_rdt");
                json_str(g, "network_interfaces");
                yajl_gen_null(g);
                yajl_gen_map_close(g);
        }
        yajl_gen_map_close(g);
        return json_finish(g, false);
}

static int emit_stats(struct cg_manager *m, const char *id, container_event_fn fn, void *ud,
                      struct cx_error **err)
{
        struct cg_stats s;
        int r = cg_stats(m, &s, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *json = event_json("stats", id, &s);
        cg_stats_clear(&s);
        return fn(json, ud);
}

int native_events(const struct state *st, bool stats_once, unsigned interval_ms,
                  container_event_fn fn, void *userdata, struct cx_error **err)
{
        const char *id = st->id;
        _cleanup_(cg_manager_freep) struct cg_manager *m = NULL;
        int r;
        if (!st->cgroup_dirs || !st->cgroup_dirs[0])
                return cx_error_msg(err, ENOENT, "container `%s` has no cgroup recorded", id);
        if ((r = cg_manager_load(st->cgroup_driver, st->cgroup_dirs, &m, err)) < 0)
                return r;
        if (stats_once)
                return emit_stats(m, id, fn, userdata, err);

        _cleanup_close_ int ofd = -1;
        _cleanup_error_ struct cx_error *oerr = NULL;
        if (cg_oom_open(m, &ofd, &oerr) < 0)
                log_debug("events: no OOM notifications: %s", oerr->msg);
        for (;;) {
                struct pollfd p = {.fd = ofd, .events = POLLIN};
                int n = poll(&p, 1, (int)interval_ms);
                if (n < 0 && errno != EINTR)
                        return cx_error_set(err, errno, "poll");
                if (n > 0) {
                        uint64_t ooms = 0;
                        if ((r = cg_oom_read(m, ofd, &ooms, err)) < 0)
                                return r;
                        for (uint64_t i = 0; i < ooms; i++) {
                                _cleanup_free_ char *json = event_json("oom", id, NULL);
                                if (fn(json, userdata) < 0)
                                        return 0;
                        }
                }
                if (!state_pid_matches(st->pid, st->pid_start_time))
                        return 0;
                if (n == 0 && (r = emit_stats(m, id, fn, userdata, err)) != 0)
                        return r < 0 && err && *err ? r : 0;
        }
}

int container_events(const char *root, const char *id, bool stats_once, unsigned interval_ms,
                     container_event_fn fn, void *userdata, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        /* unlocked from here: a stream must not block delete */
        enum state_status status = h.status;
        const struct launcher *l = h.launcher;
        struct state st = h.st;
        h.st = (struct state){0};
        container_close(&h);
        if (status == STATE_STOPPED)
                r = cx_error_msg(err, ESRCH, "container `%s` is not running", id);
        else
                r = l->events(&st, stats_once, interval_ms, fn, userdata, err);
        state_clear(&st);
        return r;
}
