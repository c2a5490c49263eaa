/* events: cgroup statistics (once, or every interval) and OOM notifications, as runc prints
 * them.  The state directory's lock is held only while the state is read: a stream must not
 * block delete. */
#include "container/internal.h"

#include <poll.h>
#include <string.h>
#include <yajl/yajl_gen.h>

static void stats_cpu(yajl_gen g, const struct cg_stats *s)
{
        json_str(g, "cpu");
        yajl_gen_map_open(g);
        json_str(g, "usage");
        yajl_gen_map_open(g);
        json_key_u64(g, "total", s->cpu.total);
        if (s->cpu.n_percpu) {
                json_str(g, "percpu");
                yajl_gen_array_open(g);
                for (size_t i = 0; i < s->cpu.n_percpu; i++)
                        json_u64(g, s->cpu.percpu[i]);
                yajl_gen_array_close(g);
        }
        json_key_u64(g, "kernel", s->cpu.kernel);
        json_key_u64(g, "user", s->cpu.user);
        yajl_gen_map_close(g);
        json_str(g, "throttling");
        yajl_gen_map_open(g);
        json_key_u64(g, "periods", s->cpu.periods);
        json_key_u64(g, "throttledPeriods", s->cpu.throttled_periods);
        json_key_u64(g, "throttledTime", s->cpu.throttled_time);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
}

static void stats_memory(yajl_gen g, const struct cg_stats *s)
{
        json_str(g, "memory");
        yajl_gen_map_open(g);
        json_key_u64(g, "cache", s->memory.cache);
        json_str(g, "usage");
        yajl_gen_map_open(g);
        json_key_u64(g, "limit", s->memory.limit);
        json_key_u64(g, "usage", s->memory.usage);
        json_key_u64(g, "max", s->memory.max_usage);
        json_key_u64(g, "failcnt", s->memory.failcnt);
        yajl_gen_map_close(g);
        json_str(g, "swap");
        yajl_gen_map_open(g);
        json_key_u64(g, "limit", s->memory.swap_limit);
        json_key_u64(g, "usage", s->memory.swap_usage);
        yajl_gen_map_close(g);
        json_key_u64(g, "oomKills", s->memory.oom_kills);
        json_str(g, "raw");
        yajl_gen_map_open(g);
        for (char **kv = s->memory.raw; kv && kv[0] && kv[1]; kv += 2)
                json_key_u64(g, kv[0], strtoull(kv[1], NULL, 10));
        yajl_gen_map_close(g);
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
                if (s->has_cpu)
                        stats_cpu(g, s);
                if (s->has_memory)
                        stats_memory(g, s);
                if (s->has_pids) {
                        json_str(g, "pids");
                        yajl_gen_map_open(g);
                        json_key_u64(g, "current", s->pids.current);
                        json_key_u64(g, "limit", s->pids.limit);
                        yajl_gen_map_close(g);
                }
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

int container_events(const char *root, const char *id, bool stats_once, unsigned interval_ms,
                     container_event_fn fn, void *userdata, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open_cgroup(root, id, &h, err);
        if (r < 0)
                return r;
        enum state_status status = h.status;
        pid_t pid = h.st.pid;
        uint64_t start = h.st.pid_start_time;
        _cleanup_(cg_manager_freep) struct cg_manager *m = TAKE_PTR(h.cg);
        container_close(&h); /* unlock: a stream must not block delete */
        if (status == STATE_STOPPED)
                return cx_error_msg(err, ESRCH, "container `%s` is not running", id);
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
                if (!state_pid_matches(pid, start))
                        return 0;
                if (n == 0 && (r = emit_stats(m, id, fn, userdata, err)) != 0)
                        return r < 0 && err && *err ? r : 0;
        }
}
