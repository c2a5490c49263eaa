/* Operations on a running container's cgroup: freeze/thaw (pause, resume), statistics
 * (events --stats) and OOM notifications (events).  Each uses the v1 controller's hierarchy
 * when the host mounts one (v1 and hybrid hosts), else the cgroup2 directory.
 *
 * Files: freezer.state (v1), cgroup.freeze and cgroup.events (v2); cpuacct.usage{,_user,
 * _sys,_percpu}, cpu.stat, memory.{usage,max_usage,limit,memsw.usage,memsw.limit}_in_bytes,
 * memory.failcnt, memory.stat, memory.oom_control + cgroup.event_control (v1); cpu.stat,
 * memory.{current,peak,max,swap.current,swap.max,stat,events} (v2); pids.{current,max};
 * block I/O and huge pages in stats-io.c. */
#include "cgroups/cgroups-internal.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>

#define FREEZE_TIMEOUT_MS 5000

static void sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

/* The value of KEY in a "key value\n" file (cgroup.events, memory.stat, cpu.stat). */
static bool kv_get(const char *text, const char *key, uint64_t *ret)
{
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                if (strncmp(l, key, kl) == 0 && l[kl] == ' ') {
                        *ret = strtoull(l + kl + 1, NULL, 10);
                        return true;
                }
        }
        return false;
}

static int read_u64(const char *dir, const char *file, uint64_t *ret, struct cx_error **err)
{
        _cleanup_free_ char *s = NULL;
        int r = cg_read(dir, file, &s, true, err);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = '\0';
        if (strcmp(s, "max") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        if (parse_u64(s, ret) < 0)
                return cx_error_msg(err, EINVAL, "%s/%s: unexpected content `%s`", dir, file, s);
        return 0;
}

/* ---- freeze ------------------------------------------------------------------------------ */

static int v1_state(const char *dir, char **ret, struct cx_error **err)
{
        int r = cg_read(dir, "freezer.state", ret, false, err);
        if (r >= 0)
                (*ret)[strcspn(*ret, "\n")] = '\0';
        return r;
}

static int freeze_v1(const char *dir, bool frozen, struct cx_error **err)
{
        const char *want = frozen ? "FROZEN" : "THAWED";
        for (long waited = 0;; waited += 10) {
                /* a FREEZING cgroup (a task in an uninterruptible sleep) is asked again */
                int r = cg_write(dir, "freezer.state", want, err);
                if (r < 0)
                        return r;
                _cleanup_free_ char *st = NULL;
                if ((r = v1_state(dir, &st, err)) < 0)
                        return r;
                if (strcmp(st, want) == 0)
                        return 0;
                if (waited >= FREEZE_TIMEOUT_MS) {
                        if (frozen)
                                cg_write(dir, "freezer.state", "THAWED", NULL);
                        return cx_error_msg(err, ETIMEDOUT,
                                            "%s/freezer.state: still %s after %d ms (wanted %s)",
                                            dir, st, FREEZE_TIMEOUT_MS, want);
                }
                sleep_ms(10);
        }
}

static int v2_is_frozen(const char *dir, bool *ret, struct cx_error **err)
{
        _cleanup_free_ char *ev = NULL;
        int r = cg_read(dir, "cgroup.events", &ev, false, err);
        if (r < 0)
                return r;
        uint64_t f = 0;
        kv_get(ev, "frozen", &f);
        *ret = f != 0;
        return 0;
}

static int freeze_v2(const char *dir, bool frozen, struct cx_error **err)
{
        if (!cg_file_exists(dir, "cgroup.freeze"))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "%s/cgroup.freeze does not exist: this kernel cannot freeze "
                                    "cgroup v2 (needs Linux >= 5.2)",
                                    dir);
        int r = cg_write(dir, "cgroup.freeze", frozen ? "1" : "0", err);
        if (r < 0)
                return r;
        for (long waited = 0;; waited += 10) {
                bool is;
                if ((r = v2_is_frozen(dir, &is, err)) < 0)
                        return r;
                if (is == frozen)
                        return 0;
                if (waited >= FREEZE_TIMEOUT_MS) {
                        if (frozen)
                                cg_write(dir, "cgroup.freeze", "0", NULL);
                        return cx_error_msg(err, ETIMEDOUT, "%s/cgroup.events: not %s after %d ms",
                                            dir, frozen ? "frozen" : "thawed", FREEZE_TIMEOUT_MS);
                }
                sleep_ms(10);
        }
}

int cg_freeze(struct cg_manager *m, bool frozen, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "freezer");
        if (dir)
                return freeze_v1(dir, frozen, err);
        if ((dir = cg_v2_dir(m)))
                return freeze_v2(dir, frozen, err);
        return cx_error_msg(err, EOPNOTSUPP,
                            "the freezer cgroup controller is not mounted on this host");
}

int cg_frozen(struct cg_manager *m, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "freezer");
        int r;
        if (dir) {
                _cleanup_free_ char *st = NULL;
                r = cg_read(dir, "freezer.state", &st, true, err);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                return strncmp(st, "THAWED", 6) != 0;
        }
        if (!(dir = cg_v2_dir(m)) || !cg_file_exists(dir, "cgroup.freeze"))
                return 0;
        _cleanup_free_ char *want = NULL;
        if ((r = cg_read(dir, "cgroup.freeze", &want, true, err)) < 0)
                return r == -ENOENT ? 0 : r;
        return want[0] == '1';
}

bool cg_dirs_frozen(const char *driver, char *const *dirs)
{
        if (!driver || !dirs || !dirs[0])
                return false;
        struct cg_manager *m = NULL;
        if (cg_manager_load(driver, dirs, &m, NULL) < 0)
                return false;
        bool f = cg_frozen(m, NULL) > 0;
        cg_manager_free(m);
        return f;
}

int cg_dirs_members(const char *driver, char *const *dirs, pid_t **ret, size_t *ret_n)
{
        *ret = NULL;
        *ret_n = 0;
        if (!driver || !dirs || !dirs[0])
                return 0;
        struct cg_manager *m = NULL;
        if (cg_manager_load(driver, dirs, &m, NULL) < 0)
                return -ENOENT;
        int r = m->n_dirs > 0 ? cg_read_pids(m->dirs[0].path, ret, ret_n, NULL) : 0;
        /* v1 leaves out the processes this pid namespace cannot name; a cgroup2 directory
         * still says whether any is there */
        _cleanup_free_ char *ev = NULL;
        if (r >= 0 && *ret_n == 0 && m->unified >= 0 &&
            cg_read(m->dirs[m->unified].path, "cgroup.events", &ev, false, NULL) >= 0 &&
            strstr(ev, "populated 1")) {
                *ret = xrealloc(*ret, sizeof(pid_t));
                (*ret)[0] = 0;
                *ret_n = 1;
        }
        cg_manager_free(m);
        return r;
}

/* ---- joining an existing cgroup ---------------------------------------------------------- */

static int refuse_frozen(const char *dir, const char *what, struct cx_error **err)
{
        return cx_error_msg(err, EBUSY,
                            "container's cgroup unexpectedly frozen: %s/%s (a process joining "
                            "it would stop at once); thaw it or choose another linux.cgroupsPath",
                            dir, what);
}

static bool leaf_preexisted(const struct cg_dir *d)
{
        size_t n = strv_len(d->created);
        return n == 0 || strcmp(d->created[n - 1], d->path) != 0;
}

int cg_check_joinable(struct cg_manager *m, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "freezer");
        int r;
        if (dir) {
                _cleanup_free_ char *st = NULL, *self = NULL;
                if ((r = v1_state(dir, &st, err)) < 0)
                        return r;
                if (strcmp(st, "THAWED") != 0) {
                        /* a new cgroup below a frozen one is frozen too */
                        bool inherited =
                            cg_read(dir, "freezer.self_freezing", &self, true, NULL) >= 0 &&
                            self[0] == '0';
                        _cleanup_free_ char *what = xasprintf(
                            "freezer.state is %s%s", st, inherited ? ", through an ancestor" : "");
                        return refuse_frozen(dir, what, err);
                }
        }
        if ((dir = cg_v2_dir(m)) && cg_file_exists(dir, "cgroup.freeze")) {
                _cleanup_free_ char *want = NULL;
                bool is = false;
                if ((r = cg_read(dir, "cgroup.freeze", &want, false, err)) < 0 ||
                    (r = v2_is_frozen(dir, &is, err)) < 0)
                        return r;
                if (want[0] == '1')
                        return refuse_frozen(dir, "cgroup.freeze is 1", err);
                if (is)
                        return refuse_frozen(dir,
                                             "cgroup.events says frozen 1, through an "
                                             "ancestor",
                                             err);
        }
        bool existed = false;
        for (size_t i = 0; i < m->n_dirs; i++)
                existed |= leaf_preexisted(&m->dirs[i]);
        if (!existed)
                return 0;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if (cg_pids(m, &pids, &n, NULL) >= 0 && n > 0)
                log_warn("container's cgroup is not empty: %zu process(es) found in %s; they "
                         "share its limits, and delete kills them with the container",
                         n, m->dirs[0].path);
        return 0;
}

/* ---- stats ------------------------------------------------------------------------------- */

static void raw_stats(const char *text, char ***raw)
{
        for (const char *l = text; l && *l;) {
                const char *eol = strchr(l, '\n');
                size_t len = eol ? (size_t)(eol - l) : strlen(l);
                const char *sp = memchr(l, ' ', len);
                if (sp) {
                        _cleanup_free_ char *k = strndup(l, sp - l);
                        _cleanup_free_ char *v = strndup(sp + 1, len - (sp - l) - 1);
                        if (!k || !v)
                                abort();
                        strv_append(raw, k);
                        strv_append(raw, v);
                }
                l = eol ? eol + 1 : NULL;
        }
}

/* A file of numbers separated by blanks (cpuacct.usage_percpu) into *ret; nothing on errors. */
static void read_list(const char *dir, const char *file, uint64_t **ret, size_t *ret_n)
{
        _cleanup_free_ char *text = NULL;
        if (cg_read(dir, file, &text, true, NULL) < 0)
                return;
        char *p = text, *end;
        for (;;) {
                uint64_t v = strtoull(p, &end, 10);
                if (end == p)
                        break;
                *ret = xrealloc(*ret, (*ret_n + 1) * sizeof(uint64_t));
                (*ret)[(*ret_n)++] = v;
                p = end;
        }
}

static int stats_cpu(struct cg_manager *m, struct cg_stats *s, struct cx_error **err)
{
        _cleanup_free_ char *st = NULL;
        const char *dir = cg_v1_dir(m, "cpuacct");
        int r;
        if (dir) {
                if ((r = read_u64(dir, "cpuacct.usage", &s->cpu.total, err)) < 0)
                        return r;
                read_u64(dir, "cpuacct.usage_user", &s->cpu.user, NULL);
                read_u64(dir, "cpuacct.usage_sys", &s->cpu.kernel, NULL);
                read_list(dir, "cpuacct.usage_percpu", &s->cpu.percpu, &s->cpu.n_percpu);
                read_list(dir, "cpuacct.usage_percpu_sys", &s->cpu.percpu_kernel,
                          &s->cpu.n_percpu_kernel);
                read_list(dir, "cpuacct.usage_percpu_user", &s->cpu.percpu_user,
                          &s->cpu.n_percpu_user);
                const char *cdir = cg_v1_dir(m, "cpu");
                if (cdir && cg_read(cdir, "cpu.stat", &st, true, NULL) >= 0) {
                        kv_get(st, "nr_periods", &s->cpu.periods);
                        kv_get(st, "nr_throttled", &s->cpu.throttled_periods);
                        kv_get(st, "throttled_time", &s->cpu.throttled_time);
                }
                s->has_cpu = true;
                return 0;
        }
        if (!(dir = cg_v2_dir(m)) || cg_read(dir, "cpu.stat", &st, true, NULL) < 0)
                return 0;
        uint64_t v;
        if (kv_get(st, "usage_usec", &v))
                s->cpu.total = v * 1000;
        if (kv_get(st, "user_usec", &v))
                s->cpu.user = v * 1000;
        if (kv_get(st, "system_usec", &v))
                s->cpu.kernel = v * 1000;
        kv_get(st, "nr_periods", &s->cpu.periods);
        kv_get(st, "nr_throttled", &s->cpu.throttled_periods);
        if (kv_get(st, "throttled_usec", &v))
                s->cpu.throttled_time = v * 1000;
        s->has_cpu = true;
        return 0;
}

/* v1 PREFIX{limit,usage,max_usage}_in_bytes and PREFIXfailcnt; missing files read as 0. */
static void read_entry(const char *dir, const char *prefix, struct cg_mem_entry *e)
{
        static const char *const names[] = {"limit_in_bytes", "usage_in_bytes",
                                            "max_usage_in_bytes", "failcnt"};
        uint64_t *v[] = {&e->limit, &e->usage, &e->max, &e->failcnt};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *f = xasprintf("%s%s", prefix, names[i]);
                read_u64(dir, f, v[i], NULL);
        }
}

static int stats_memory(struct cg_manager *m, struct cg_stats *s, struct cx_error **err)
{
        _cleanup_free_ char *st = NULL;
        const char *dir = cg_v1_dir(m, "memory");
        int r;
        if (dir) {
                if ((r = read_u64(dir, "memory.usage_in_bytes", &s->memory.usage.usage, err)) < 0)
                        return r;
                read_entry(dir, "memory.", &s->memory.usage);
                read_entry(dir, "memory.memsw.", &s->memory.swap);
                read_entry(dir, "memory.kmem.", &s->memory.kernel);
                read_entry(dir, "memory.kmem.tcp.", &s->memory.kernel_tcp);
                _cleanup_free_ char *oc = NULL;
                if (cg_read(dir, "memory.oom_control", &oc, true, NULL) >= 0)
                        kv_get(oc, "oom_kill", &s->memory.oom_kills);
                if (cg_read(dir, "memory.stat", &st, true, NULL) >= 0) {
                        kv_get(st, "cache", &s->memory.cache);
                        raw_stats(st, &s->memory.raw);
                }
                s->has_memory = true;
                return 0;
        }
        if (!(dir = cg_v2_dir(m)) || !cg_file_exists(dir, "memory.current"))
                return 0;
        if ((r = read_u64(dir, "memory.current", &s->memory.usage.usage, err)) < 0)
                return r;
        read_u64(dir, "memory.max", &s->memory.usage.limit, NULL);
        read_u64(dir, "memory.peak", &s->memory.usage.max, NULL);
        read_u64(dir, "memory.swap.current", &s->memory.swap.usage, NULL);
        read_u64(dir, "memory.swap.max", &s->memory.swap.limit, NULL);
        _cleanup_free_ char *ev = NULL;
        if (cg_read(dir, "memory.events", &ev, true, NULL) >= 0) {
                kv_get(ev, "max", &s->memory.usage.failcnt);
                kv_get(ev, "oom_kill", &s->memory.oom_kills);
        }
        if (cg_read(dir, "memory.stat", &st, true, NULL) >= 0) {
                kv_get(st, "file", &s->memory.cache);
                raw_stats(st, &s->memory.raw);
        }
        s->has_memory = true;
        return 0;
}

static void stats_cpuset(struct cg_manager *m, struct cg_stats *s)
{
        static const char *const names[] = {
            "cpuset.cpu_exclusive",   "cpuset.mem_hardwall",       "cpuset.mem_exclusive",
            "cpuset.memory_migrate",  "cpuset.memory_spread_page", "cpuset.memory_spread_slab",
            "cpuset.memory_pressure", "cpuset.sched_load_balance",
        };
        uint64_t *v[] = {&s->cpuset.cpu_exclusive,      &s->cpuset.mem_hardwall,
                         &s->cpuset.mem_exclusive,      &s->cpuset.memory_migrate,
                         &s->cpuset.memory_spread_page, &s->cpuset.memory_spread_slab,
                         &s->cpuset.memory_pressure,    &s->cpuset.sched_load_balance};
        const char *dir = cg_v1_dir(m, "cpuset");
        if (!dir || cg_read(dir, "cpuset.cpus", &s->cpuset.cpus, true, NULL) < 0)
                return;
        s->cpuset.cpus[strcspn(s->cpuset.cpus, "\n")] = '\0';
        if (cg_read(dir, "cpuset.mems", &s->cpuset.mems, true, NULL) >= 0)
                s->cpuset.mems[strcspn(s->cpuset.mems, "\n")] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                read_u64(dir, names[i], v[i], NULL);
        _cleanup_free_ char *rl = NULL;
        if (cg_read(dir, "cpuset.sched_relax_domain_level", &rl, true, NULL) >= 0)
                s->cpuset.sched_relax_domain_level = strtoll(rl, NULL, 10);
        s->has_cpuset = true;
}

static int stats_pids(struct cg_manager *m, struct cg_stats *s, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "pids");
        if (!dir)
                dir = cg_v2_dir(m);
        if (!dir || !cg_file_exists(dir, "pids.current"))
                return 0;
        int r = read_u64(dir, "pids.current", &s->pids.current, err);
        if (r < 0)
                return r;
        read_u64(dir, "pids.max", &s->pids.limit, NULL);
        if (s->pids.limit == UINT64_MAX)
                s->pids.limit = 0;
        s->has_pids = true;
        return 0;
}

int cg_stats(struct cg_manager *m, struct cg_stats *ret, struct cx_error **err)
{
        struct cg_stats s = {0};
        int r;
        if ((r = stats_cpu(m, &s, err)) < 0 || (r = stats_memory(m, &s, err)) < 0 ||
            (r = stats_pids(m, &s, err)) < 0) {
                cg_stats_clear(&s);
                return r;
        }
        stats_cpuset(m, &s);
        cg_stats_blkio(m, &s);
        cg_stats_hugetlb(m, &s);
        *ret = s;
        return 0;
}

void cg_stats_clear(struct cg_stats *s)
{
        free(s->cpu.percpu);
        free(s->cpu.percpu_kernel);
        free(s->cpu.percpu_user);
        free(s->cpuset.cpus);
        free(s->cpuset.mems);
        strv_free(s->memory.raw);
        for (size_t i = 0; i < CG_BLKIO_MAX; i++)
                free(s->blkio.v[i]);
        free(s->hugetlb);
        *s = (struct cg_stats){0};
}

/* ---- OOM notifications ------------------------------------------------------------------- */

static int v2_oom_kills(const char *dir, uint64_t *ret, struct cx_error **err)
{
        _cleanup_free_ char *ev = NULL;
        int r = cg_read(dir, "memory.events", &ev, false, err);
        if (r < 0)
                return r;
        *ret = 0;
        kv_get(ev, "oom_kill", ret);
        return 0;
}

bool cg_oom_killed(struct cg_manager *m)
{
        _cleanup_free_ char *text = NULL;
        uint64_t n = 0;
        const char *dir = cg_v1_dir(m, "memory");
        if (dir) {
                /* oom_kill (Linux >= 4.13); under_oom for a cgroup whose OOM killer is off */
                if (cg_read(dir, "memory.oom_control", &text, true, NULL) >= 0 &&
                    !kv_get(text, "oom_kill", &n))
                        kv_get(text, "under_oom", &n);
                return n > 0;
        }
        if ((dir = cg_v2_dir(m)) && cg_read(dir, "memory.events", &text, true, NULL) >= 0)
                kv_get(text, "oom_kill", &n);
        return n > 0;
}

int cg_oom_open(struct cg_manager *m, int *ret_fd, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "memory");
        if (dir) {
                _cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (efd < 0)
                        return cx_error_set(err, errno, "eventfd");
                _cleanup_free_ char *p = xasprintf("%s/memory.oom_control", dir);
                _cleanup_close_ int ofd = open(p, O_RDONLY | O_CLOEXEC);
                if (ofd < 0)
                        return cx_error_set(err, errno, "open %s", p);
                int r = cg_writef(dir, "cgroup.event_control", err, "%d %d", efd, ofd);
                if (r < 0)
                        return r;
                *ret_fd = TAKE_FD(efd);
                return 0;
        }
        if (!(dir = cg_v2_dir(m)) || !cg_file_exists(dir, "memory.events"))
                return cx_error_msg(err, EOPNOTSUPP,
                                    "OOM notifications: the container's cgroup has no memory "
                                    "controller");
        _cleanup_close_ int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ifd < 0)
                return cx_error_set(err, errno, "inotify_init1");
        _cleanup_free_ char *p = xasprintf("%s/memory.events", dir);
        if (inotify_add_watch(ifd, p, IN_MODIFY) < 0)
                return cx_error_set(err, errno, "watch %s", p);
        int r = v2_oom_kills(dir, &m->oom_seen, err);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(ifd);
        return 0;
}

int cg_oom_read(struct cg_manager *m, int fd, uint64_t *ret_new, struct cx_error **err)
{
        const char *dir = cg_v1_dir(m, "memory");
        if (dir) {
                uint64_t n = 0;
                if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                        return cx_error_set(err, errno, "read the OOM eventfd");
                /* the eventfd also fires when the cgroup is removed: count only real OOMs */
                *ret_new = cg_file_exists(dir, "memory.oom_control") ? n : 0;
                return 0;
        }
        char buf[4096];
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        uint64_t now = 0;
        int r = v2_oom_kills(cg_v2_dir(m), &now, err);
        if (r < 0)
                return r;
        *ret_new = now > m->oom_seen ? now - m->oom_seen : 0;
        m->oom_seen = now;
        return 0;
}
