/* events: cgroup statistics (once, or every interval) and OOM notifications, handed to the
 * caller as they come (the CLI prints them, src/cmd/events.c).  The state directory's lock is
 * held only while the state is read: a stream must not block delete. */
#include "container/internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* True when PID's network namespace is not this process's. */
static bool own_netns(pid_t pid)
{
        char path[64];
        struct stat mine, theirs;
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        return stat("/proc/self/ns/net", &mine) == 0 && stat(path, &theirs) == 0 &&
               (mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino);
}

/* /proc/PID/net/dev (PID's network namespace): "  eth0: RXBYTES RXPKTS RXERRS RXDROP FIFO FRAME
 * COMPRESSED MULTICAST TXBYTES TXPKTS TXERRS TXDROP ...", two header lines first.  lo is left
 * out, as runc reports only the interfaces it configured. */
static void read_netifs(pid_t pid, struct container_netif **ret, size_t *ret_n)
{
        *ret = NULL;
        *ret_n = 0;
        if (pid <= 0 || !own_netns(pid))
                return;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return;
        char line[512];
        while (fgets(line, sizeof(line), f)) {
                char *colon = strchr(line, ':');
                if (!colon || strchr(line, '|'))
                        continue;
                *colon = '\0';
                const char *name = line + strspn(line, " ");
                struct container_netif n = {0};
                uint64_t skip;
                if (strcmp(name, "lo") == 0 || strlen(name) >= sizeof(n.name) ||
                    sscanf(colon + 1,
                           "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                           " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                           &n.rx_bytes, &n.rx_packets, &n.rx_errors, &n.rx_dropped, &skip, &skip,
                           &skip, &skip, &n.tx_bytes, &n.tx_packets, &n.tx_errors,
                           &n.tx_dropped) != 12)
                        continue;
                memcpy(n.name, name, strlen(name) + 1);
                *ret = xrealloc(*ret, (*ret_n + 1) * sizeof(n));
                (*ret)[(*ret_n)++] = n;
        }
}

static int emit_stats(struct cg_manager *m, const struct state *st, container_event_fn fn, void *ud,
                      struct cx_error **err)
{
        struct cg_stats s;
        int r = cg_stats(m, &s, err);
        if (r < 0)
                return r;
        _cleanup_free_ struct container_netif *netifs = NULL;
        size_t n_netifs = 0;
        if (state_pid_matches(st->pid, st->pid_start_time))
                read_netifs(st->pid, &netifs, &n_netifs);
        struct container_event ev = {.type = CONTAINER_EVENT_STATS,
                                     .id = st->id,
                                     .stats = &s,
                                     .netifs = netifs,
                                     .n_netifs = n_netifs};
        r = fn(&ev, ud);
        cg_stats_clear(&s);
        return r;
}

int native_events(const char *root, const struct state *st, bool stats_once, unsigned interval_ms,
                  container_event_fn fn, void *userdata, struct cx_error **err)
{
        const char *id = st->id;
        _cleanup_(cg_manager_freep) struct cg_manager *m = NULL;
        int r = native_load_cgroup(st, &m, err);
        if (r < 0)
                return r;
        if (stats_once)
                return emit_stats(m, st, fn, userdata, err);

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
                if (n == 0 && (r = emit_stats(m, st, fn, userdata, err)) != 0)
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
                r = l->events(root, &st, stats_once, interval_ms, fn, userdata, err);
        state_clear(&st);
        return r;
}
