/* capsa events [--stats] [--interval DURATION] <id> */
#include "cgroups/cgroups.h"
#include "cmd/cmd.h"
#include "container/container.h"
#include "util/json.h"

#include <signal.h>
#include <string.h>

/* runc's types.Stats, field by field: `omitempty` fields are left out when zero (or empty). */
static void key_u64_nz(struct json_w *w, const char *key, uint64_t v)
{
        if (v)
                json_w_key_u64(w, key, v);
}

static void key_list(struct json_w *w, const char *key, const uint64_t *v, size_t n)
{
        if (n == 0)
                return;
        json_w_key_arr_open(w, key);
        for (size_t i = 0; i < n; i++)
                json_w_u64(w, v[i]);
        json_w_arr_close(w);
}

static void stats_cpu(struct json_w *w, const struct cg_stats *s)
{
        json_w_key_obj_open(w, "cpu");
        json_w_key_obj_open(w, "usage");
        key_u64_nz(w, "total", s->cpu.total);
        key_list(w, "percpu", s->cpu.percpu, s->cpu.n_percpu);
        key_list(w, "percpu_kernel", s->cpu.percpu_kernel, s->cpu.n_percpu_kernel);
        key_list(w, "percpu_user", s->cpu.percpu_user, s->cpu.n_percpu_user);
        json_w_key_u64(w, "kernel", s->cpu.kernel);
        json_w_key_u64(w, "user", s->cpu.user);
        json_w_obj_close(w);
        json_w_key_obj_open(w, "throttling");
        key_u64_nz(w, "periods", s->cpu.periods);
        key_u64_nz(w, "throttledPeriods", s->cpu.throttled_periods);
        key_u64_nz(w, "throttledTime", s->cpu.throttled_time);
        json_w_obj_close(w);
        json_w_obj_close(w);
}

/* "0-2,5" -> [0,1,2,5] (runc lists the cpus and mems one by one) */
static void key_id_list(struct json_w *w, const char *key, const char *list)
{
        if (!list || !*list)
                return;
        json_w_key_arr_open(w, key);
        for (const char *p = list; *p;) {
                char *end;
                unsigned long a = strtoul(p, &end, 10), b = a;
                if (end == p)
                        break;
                if (*end == '-')
                        b = strtoul(end + 1, &end, 10);
                for (unsigned long i = a; i <= b && i - a < 65536; i++)
                        json_w_u64(w, i);
                p = *end == ',' ? end + 1 : end;
        }
        json_w_arr_close(w);
}

static void stats_cpuset(struct json_w *w, const struct cg_stats *s)
{
        json_w_key_obj_open(w, "cpuset");
        key_id_list(w, "cpus", s->cpuset.cpus);
        json_w_key_u64(w, "cpu_exclusive", s->cpuset.cpu_exclusive);
        key_id_list(w, "mems", s->cpuset.mems);
        json_w_key_u64(w, "mem_hardwall", s->cpuset.mem_hardwall);
        json_w_key_u64(w, "mem_exclusive", s->cpuset.mem_exclusive);
        json_w_key_u64(w, "memory_migrate", s->cpuset.memory_migrate);
        json_w_key_u64(w, "memory_spread_page", s->cpuset.memory_spread_page);
        json_w_key_u64(w, "memory_spread_slab", s->cpuset.memory_spread_slab);
        json_w_key_u64(w, "memory_pressure", s->cpuset.memory_pressure);
        json_w_key_u64(w, "sched_load_balance", s->cpuset.sched_load_balance);
        json_w_key_int(w, "sched_relax_domain_level", s->cpuset.sched_relax_domain_level);
        json_w_obj_close(w);
}

static void mem_entry(struct json_w *w, const char *key, const struct cg_mem_entry *e)
{
        json_w_key_obj_open(w, key);
        json_w_key_u64(w, "limit", e->limit);
        key_u64_nz(w, "usage", e->usage);
        key_u64_nz(w, "max", e->max);
        json_w_key_u64(w, "failcnt", e->failcnt);
        json_w_obj_close(w);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void stats_memory(struct json_w *w, const struct cg_stats *s)
{
        json_w_key_obj_open(w, "memory");
        key_u64_nz(w, "cache", s->memory.cache);
        mem_entry(w, "usage", &s->memory.usage);
        mem_entry(w, "swap", &s->memory.swap);
        mem_entry(w, "kernel", &s->memory.kernel);
        mem_entry(w, "kernelTCP", &s->memory.kernel_tcp);
        size_t n = 0;
        for (char **kv = s->memory.raw; kv && kv[0] && kv[1]; kv += 2)
                n++;
        if (n > 0) { /* a Go map: keys in order */
                _cleanup_free_ char **keys = xcalloc(n, sizeof(*keys));
                size_t i = 0;
                for (char **kv = s->memory.raw; kv && kv[0] && kv[1]; kv += 2)
                        keys[i++] = kv[0];
                qsort(keys, n, sizeof(*keys), cmp_str);
                json_w_key_obj_open(w, "raw");
                for (i = 0; i < n; i++)
                        for (char **kv = s->memory.raw; kv[0] && kv[1]; kv += 2)
                                if (kv[0] == keys[i]) {
                                        json_w_key_u64(w, kv[0], strtoull(kv[1], NULL, 10));
                                        break;
                                }
                json_w_obj_close(w);
        }
        json_w_obj_close(w);
}

static void empty_map(struct json_w *w, const char *key)
{
        json_w_key_obj_open(w, key);
        json_w_obj_close(w);
}

/* runc's Blkio: each list omitted when empty, each entry's fields omitted when zero. */
static void stats_blkio(struct json_w *w, const struct cg_stats *s)
{
        static const char *const names[CG_BLKIO_MAX] = {
            [CG_BLKIO_SERVICE_BYTES] = "ioServiceBytesRecursive",
            [CG_BLKIO_SERVICED] = "ioServicedRecursive",
            [CG_BLKIO_QUEUED] = "ioQueueRecursive",
            [CG_BLKIO_SERVICE_TIME] = "ioServiceTimeRecursive",
            [CG_BLKIO_WAIT_TIME] = "ioWaitTimeRecursive",
            [CG_BLKIO_MERGED] = "ioMergedRecursive",
            [CG_BLKIO_TIME] = "ioTimeRecursive",
            [CG_BLKIO_SECTORS] = "sectorsRecursive",
        };
        json_w_key_obj_open(w, "blkio");
        for (size_t l = 0; l < CG_BLKIO_MAX; l++) {
                if (s->blkio.n[l] == 0)
                        continue;
                json_w_key_arr_open(w, names[l]);
                for (size_t i = 0; i < s->blkio.n[l]; i++) {
                        const struct cg_blkio_entry *e = &s->blkio.v[l][i];
                        json_w_obj_open(w);
                        key_u64_nz(w, "major", e->major);
                        key_u64_nz(w, "minor", e->minor);
                        if (e->op[0])
                                json_w_key_str(w, "op", e->op);
                        key_u64_nz(w, "value", e->value);
                        json_w_obj_close(w);
                }
                json_w_arr_close(w);
        }
        json_w_obj_close(w);
}

/* runc's map[string]Hugetlb, keyed by page size ("2MB"). */
static void stats_hugetlb(struct json_w *w, const struct cg_stats *s)
{
        json_w_key_obj_open(w, "hugetlb");
        for (size_t i = 0; i < s->n_hugetlb; i++) {
                json_w_key_obj_open(w, s->hugetlb[i].size);
                key_u64_nz(w, "usage", s->hugetlb[i].usage);
                key_u64_nz(w, "max", s->hugetlb[i].max);
                json_w_key_u64(w, "failcnt", s->hugetlb[i].failcnt);
                json_w_obj_close(w);
        }
        json_w_obj_close(w);
}

/* runc's []*NetworkInterface: Go's field names (no json tags), null when there is none. */
static void stats_netifs(struct json_w *w, const struct container_event *ev)
{
        json_w_key(w, "network_interfaces");
        if (ev->n_netifs == 0) {
                json_w_null(w);
                return;
        }
        json_w_arr_open(w);
        for (size_t i = 0; i < ev->n_netifs; i++) {
                const struct container_netif *n = &ev->netifs[i];
                json_w_obj_open(w);
                json_w_key_str(w, "Name", n->name);
                json_w_key_u64(w, "RxBytes", n->rx_bytes);
                json_w_key_u64(w, "RxPackets", n->rx_packets);
                json_w_key_u64(w, "RxErrors", n->rx_errors);
                json_w_key_u64(w, "RxDropped", n->rx_dropped);
                json_w_key_u64(w, "TxBytes", n->tx_bytes);
                json_w_key_u64(w, "TxPackets", n->tx_packets);
                json_w_key_u64(w, "TxErrors", n->tx_errors);
                json_w_key_u64(w, "TxDropped", n->tx_dropped);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
}

/* One event as runc's types.Event: {"type","id","data"}, data (stats only) a types.Stats. */
static char *event_json(const struct container_event *ev)
{
        const struct cg_stats *s = ev->stats;
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "type", ev->type == CONTAINER_EVENT_STATS ? "stats" : "oom");
        json_w_key_str(w, "id", ev->id);
        if (ev->type == CONTAINER_EVENT_STATS && ev->data_json) {
                json_w_key(w, "data");
                json_w_raw(w, ev->data_json);
        } else if (ev->type == CONTAINER_EVENT_STATS && s) {
                json_w_key_obj_open(w, "data");
                stats_cpu(w, s);
                stats_cpuset(w, s);
                stats_memory(w, s);
                json_w_key_obj_open(w, "pids");
                key_u64_nz(w, "current", s->pids.current);
                key_u64_nz(w, "limit", s->pids.limit);
                json_w_obj_close(w);
                stats_blkio(w, s);
                stats_hugetlb(w, s);
                empty_map(w, "intel_rdt"); /* capsa does not manage Intel RDT */
                stats_netifs(w, ev);
                json_w_obj_close(w);
        }
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

/* "5s", "500ms", "1m", "2" (seconds) -> milliseconds; runc takes a Go duration. */
static int parse_interval(const char *s, unsigned *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v <= 0)
                return -EINVAL;
        double mult = strcmp(end, "ms") == 0           ? 1
                      : strcmp(end, "s") == 0 || !*end ? 1000
                      : strcmp(end, "m") == 0          ? 60000
                      : strcmp(end, "h") == 0          ? 3600000
                                                       : -1;
        if (mult < 0 || v * mult < 1 || v * mult > 86400000.0)
                return -EINVAL;
        *ret = (unsigned)(v * mult);
        return 0;
}

static int print_event(const struct container_event *ev, void *userdata)
{
        _cleanup_free_ char *json = event_json(ev);
        if (fputs(json, stdout) < 0 || fflush(stdout) != 0)
                return -EPIPE;
        return 0;
}

int cmd_events(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"stats", no_argument, NULL, 's'},
            {"interval", required_argument, NULL, 'i'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool stats = false;
        unsigned interval = 5000;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        stats = true;
                        break;
                case 'i':
                        if (parse_interval(optarg, &interval) < 0)
                                return cmd_usage_error("events",
                                                       "--interval: invalid duration `%s` "
                                                       "(e.g. 5s, 500ms)",
                                                       optarg);
                        break;
                case 'h':
                        printf("Usage: capsa events [--stats] [--interval 5s] <container-id>\n"
                               "  --stats      print the container's resource usage once\n"
                               "  --interval   stream stats this often (default 5s); OOM kills "
                               "are reported as they happen\n");
                        return 0;
                default:
                        return cmd_option_error("events", c, argv);
                }
        }
        if (cmd_need_args("events", argc, optind, 1, "a container id"))
                return 1;
        signal(SIGPIPE, SIG_IGN);
        struct cx_error *err = NULL;
        if (container_events(g->root, argv[optind], stats, interval, print_event, NULL, &err) < 0)
                return cmd_fail(err);
        return 0;
}
