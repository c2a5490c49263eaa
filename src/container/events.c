/* events: cgroup statistics (once, or every interval) and OOM notifications, handed to the
 * caller as they come (the CLI prints them, src/cmd/events.c).  The state directory's lock is
 * held only while the state is read: a stream must not block delete. */
#include "container/internal.h"

#include <poll.h>
#include <string.h>

static int emit_stats(struct cg_manager *m, const char *id, container_event_fn fn, void *ud,
                      struct cx_error **err)
{
        struct cg_stats s;
        int r = cg_stats(m, &s, err);
        if (r < 0)
                return r;
        struct container_event ev = {.type = CONTAINER_EVENT_STATS, .id = id, .stats = &s};
        r = fn(&ev, ud);
        cg_stats_clear(&s);
        return r;
}

int native_events(const struct state *st, bool stats_once, unsigned interval_ms,
                  container_event_fn fn, void *userdata, struct cx_error **err)
{
        const char *id = st->id;
        _cleanup_(cg_manager_freep) struct cg_manager *m = NULL;
        int r = native_load_cgroup(st, &m, err);
        if (r < 0)
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
                                struct container_event ev = {.type = CONTAINER_EVENT_OOM, .id = id};
                                if (fn(&ev, userdata) < 0)
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
