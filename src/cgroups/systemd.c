/* The systemd driver (--systemd-cgroup): systemd makes the container's cgroup, as a transient
 * scope unit, and capsa then works in it as the v2 driver does.
 *
 * cgroupsPath is "SLICE:PREFIX:NAME" (runc's syntax): the unit is PREFIX-NAME.scope (NAME.scope
 * when PREFIX is empty) in SLICE (system.slice when empty).  A nested slice "a-b.slice" lives at
 * a.slice/a-b.slice, so the cgroup is /sys/fs/cgroup/a.slice/a-b.slice/PREFIX-NAME.scope.  Only
 * unified (v2) hosts where systemd is PID 1 (/run/systemd/system exists) are supported.
 *
 * A scope needs a process when it is started, but capsa's init is cloned straight into the
 * cgroup (clone3 CLONE_INTO_CGROUP), so the cgroup must exist first: cg_create forks a small
 * placeholder, asks systemd (StartTransientUnit over D-Bus, dbus.c) for the scope with
 * Delegate=yes and the placeholder's pid, waits until the placeholder shows up in the scope's
 * cgroup.procs, and writes the resources there (the limits systemd knows as properties too, so
 * that a daemon-reload keeps them).  The placeholder is a grandchild (PID 1 reaps it) and leaves
 * by itself as soon as the init sits in the scope.  cg_destroy kills the scope's processes and
 * waits for systemd to remove the emptied scope (StopUnit, with KillSignal=SIGKILL, only when it
 * stays), removes anything left itself, then ResetFailedUnit (a scope whose processes were killed
 * may stay "failed", which would refuse the next container of that name).  A live unit's cgroup is
 * never removed behind systemd's back. */
#include "cgroups/cgroups-internal.h"
#include "cgroups/dbus.h"

#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SD_DEST    "org.freedesktop.systemd1"
#define SD_PATH    "/org/freedesktop/systemd1"
#define SD_IFACE   "org.freedesktop.systemd1.Manager"
#define SD_WAIT_MS 5000

struct sd_priv {
        char *unit;
        char *slice;
        pid_t placeholder;
};

static bool valid_unit_chars(const char *s)
{
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr("-_.@\\", *s)))
                        return false;
        return true;
}

/* "a-b-c.slice" -> "a.slice/a-b.slice/a-b-c.slice"; "-.slice" -> "". */
static int slice_path(const char *slice, char **ret, struct cx_error **err)
{
        size_t len = strlen(slice);
        if (strcmp(slice, "-.slice") == 0) {
                *ret = xstrdup("");
                return 0;
        }
        if (len <= 6 || strcmp(slice + len - 6, ".slice") != 0 || slice[0] == '-' ||
            strstr(slice, "--") || slice[len - 7] == '-')
                return cx_error_msg(err, EINVAL,
                                    "linux.cgroupsPath: `%s` is not a valid slice name "
                                    "(expected NAME.slice)",
                                    slice);
        char *out = xstrdup("");
        const char *base = slice, *end = slice + len - 6;
        for (const char *s = slice;; s++) {
                if (s == end || *s == '-') {
                        char *n = xasprintf("%s%s%.*s.slice", out, *out ? "/" : "", (int)(s - base),
                                            base);
                        free(out);
                        out = n;
                        if (s == end)
                                break;
                }
        }
        *ret = out;
        return 0;
}

static int parse_path(const char *path, const char *id, char **ret_slice, char **ret_unit,
                      struct cx_error **err)
{
        _cleanup_free_ char *def = NULL;
        if (!path || !*path) {
                if (!id || !*id)
                        return cx_error_msg(err, EINVAL, "cgroup: container id is required");
                path = def = xasprintf("system.slice:capsa:%s", id);
        }
        const char *c1 = strchr(path, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || strchr(c2 + 1, ':'))
                return cx_error_msg(err, EINVAL,
                                    "linux.cgroupsPath: `%s`: the systemd driver expects "
                                    "\"SLICE:PREFIX:NAME\" (e.g. \"system.slice:capsa:ID\")",
                                    path);
        _cleanup_free_ char *slice = xasprintf("%.*s", (int)(c1 - path), path);
        _cleanup_free_ char *prefix = xasprintf("%.*s", (int)(c2 - c1 - 1), c1 + 1);
        const char *name = c2 + 1;
        if (!*slice) {
                free(slice);
                slice = xstrdup("system.slice");
        }
        if (!*name || !valid_unit_chars(name) || !valid_unit_chars(prefix) ||
            !valid_unit_chars(slice))
                return cx_error_msg(err, EINVAL,
                                    "linux.cgroupsPath: `%s`: slice, prefix and name may hold "
                                    "only letters, digits and \"-_.@\\\", and the name must "
                                    "not be empty",
                                    path);
        size_t nl = strlen(name);
        if (nl > 6 && strcmp(name + nl - 6, ".slice") == 0)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "linux.cgroupsPath: `%s`: a slice as the container's unit "
                                    "is not supported (name a scope)",
                                    path);
        *ret_unit = *prefix ? xasprintf("%s-%s.scope", prefix, name) : xasprintf("%s.scope", name);
        *ret_slice = TAKE_PTR(slice);
        return 0;
}

int cg_systemd_new(const char *cgroups_path, const char *id, struct cg_manager **ret,
                   struct cx_error **err)
{
        struct stat st;
        if (stat("/run/systemd/system", &st) < 0)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "--systemd-cgroup: systemd is not running as PID 1 on this "
                                    "host (no /run/systemd/system); drop --systemd-cgroup to "
                                    "use the cgroupfs driver");
        enum cg_layout layout;
        int r = cg_detect_layout(&layout, err);
        if (r < 0)
                return r;
        if (layout != CG_LAYOUT_V2)
                return cx_error_msg(err, EOPNOTSUPP,
                                    "--systemd-cgroup: the systemd driver needs a unified "
                                    "cgroup v2 host; this one is %s (drop --systemd-cgroup)",
                                    cg_layout_name(layout));
        _cleanup_free_ char *slice = NULL, *unit = NULL, *spath = NULL;
        if ((r = parse_path(cgroups_path, id, &slice, &unit, err)) < 0 ||
            (r = slice_path(slice, &spath, err)) < 0)
                return r;
        const struct cg_mount *mounts;
        size_t n_mounts;
        if ((r = cg_host_mounts(&mounts, &n_mounts, err)) < 0)
                return r;
        _cleanup_free_ char *dir =
            xasprintf("%s%s%s/%s", cg_root(), *spath ? "/" : "", spath, unit);
        const struct cg_mount *mnt = cg_mount_for_path(mounts, n_mounts, dir);
        if (!mnt || !mnt->v2)
                return cx_error_msg(err, ENOENT, "cgroup: no cgroup2 hierarchy at %s", cg_root());
        struct cg_manager *m = cg_manager_alloc(&cg_driver_systemd, layout);
        cg_manager_add(m, TAKE_PTR(dir), mnt);
        struct sd_priv *p = xcalloc(1, sizeof(*p));
        p->unit = TAKE_PTR(unit);
        p->slice = TAKE_PTR(slice);
        m->priv = p;
        log_debug("cgroup: systemd unit %s in %s, %s", p->unit, p->slice, m->dirs[0].path);
        *ret = m;
        return 0;
}

/* The unit: known at create, else (a manager loaded from state.json) the leaf's name. */
static const char *unit_of(const struct cg_manager *m)
{
        const struct sd_priv *p = m->priv;
        if (p && p->unit)
                return p->unit;
        const char *s = m->n_dirs > 0 ? strrchr(m->dirs[0].path, '/') : NULL;
        return s ? s + 1 : "";
}

/* ---- properties -------------------------------------------------------------------------- */

static void prop_begin(struct cg_dbus_buf *b, const char *name, const char *sig)
{
        cg_dbus_align(b, 8);
        cg_dbus_put_str(b, name);
        cg_dbus_put_sig(b, sig);
}

static void prop_str(struct cg_dbus_buf *b, const char *name, const char *v)
{
        prop_begin(b, name, "s");
        cg_dbus_put_str(b, v);
}

static void prop_bool(struct cg_dbus_buf *b, const char *name, bool v)
{
        prop_begin(b, name, "b");
        cg_dbus_put_u32(b, v);
}

static void prop_u64(struct cg_dbus_buf *b, const char *name, uint64_t v)
{
        prop_begin(b, name, "t");
        cg_dbus_put_u64(b, v);
}

/* The limits systemd has properties for (the v2 driver writes every resource anyway). */
static void resource_props(struct cg_dbus_buf *b, const struct spec_resources *r)
{
        if (!r)
                return;
        if (r->memory.limit.set && r->memory.limit.v > 0)
                prop_u64(b, "MemoryMax", (uint64_t)r->memory.limit.v);
        if (r->memory.reservation.set && r->memory.reservation.v > 0)
                prop_u64(b, "MemoryLow", (uint64_t)r->memory.reservation.v);
        if (r->pids_limit.set)
                prop_u64(b, "TasksMax",
                         r->pids_limit.v > 0 ? (uint64_t)r->pids_limit.v : UINT64_MAX);
        if (r->cpu.shares.set && r->cpu.shares.v > 0)
                prop_u64(b, "CPUWeight", cg_shares_to_weight(r->cpu.shares.v));
        if (r->cpu.quota.set) {
                uint64_t period = r->cpu.period.set && r->cpu.period.v ? r->cpu.period.v : 100000;
                uint64_t per_sec =
                    r->cpu.quota.v > 0 ? (uint64_t)r->cpu.quota.v * 1000000 / period : UINT64_MAX;
                prop_u64(b, "CPUQuotaPerSecUSec", per_sec);
                if (r->cpu.period.set)
                        prop_u64(b, "CPUQuotaPeriodUSec", period);
        }
}

static int sd_call(const char *member, const char *sig, const struct cg_dbus_buf *body,
                   struct cx_error **err)
{
        _cleanup_(cg_dbus_closep) struct cg_dbus *bus = NULL;
        int r = cg_dbus_open(&bus, err);
        if (r >= 0)
                r = cg_dbus_call(bus, SD_DEST, SD_PATH, SD_IFACE, member, sig, body, err);
        return r;
}

static int start_scope(struct cg_manager *m, pid_t pid, const struct spec_resources *r,
                       struct cx_error **err)
{
        const struct sd_priv *p = m->priv;
        struct cg_dbus_buf b = {0};
        cg_dbus_put_str(&b, p->unit);
        cg_dbus_put_str(&b, "fail");
        size_t at = cg_dbus_array_begin(&b, 8);
        _cleanup_free_ char *desc = xasprintf("capsa container %s", p->unit);
        prop_str(&b, "Description", desc);
        prop_str(&b, "Slice", p->slice);
        prop_bool(&b, "Delegate", true);
        prop_bool(&b, "DefaultDependencies", false);
        prop_begin(&b, "KillSignal", "i");
        cg_dbus_put_u32(&b, SIGKILL);
        prop_begin(&b, "PIDs", "au");
        size_t pa = cg_dbus_array_begin(&b, 4);
        cg_dbus_put_u32(&b, (uint32_t)pid);
        cg_dbus_array_end(&b, pa, 4);
        resource_props(&b, r);
        cg_dbus_array_end(&b, at, 8);
        size_t aux = cg_dbus_array_begin(&b, 8); /* no auxiliary units */
        cg_dbus_array_end(&b, aux, 8);
        int q = sd_call("StartTransientUnit", "ssa(sv)a(sa(sv))", &b, err);
        cg_dbus_buf_clear(&b);
        if (q == -EEXIST)
                return cx_error_prefix(err, "cgroup: systemd unit %s already exists", p->unit);
        return q < 0 ? cx_error_prefix(err, "cgroup: start systemd unit %s", p->unit) : q;
}

static int unit_call(const char *member, const char *unit, bool mode, struct cx_error **err)
{
        struct cg_dbus_buf b = {0};
        cg_dbus_put_str(&b, unit);
        if (mode)
                cg_dbus_put_str(&b, "replace");
        int q = sd_call(member, mode ? "ss" : "s", &b, err);
        cg_dbus_buf_clear(&b);
        return q;
}

/* The job runs asynchronously: wait until pid is in the scope's cgroup. */
static int wait_in_scope(const char *dir, pid_t pid, struct cx_error **err)
{
        for (int ms = 0; ms < SD_WAIT_MS; ms += 2) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n = 0;
                if (cg_read_pids(dir, &pids, &n, NULL) >= 0)
                        for (size_t i = 0; i < n; i++)
                                if (pids[i] == pid)
                                        return 0;
                struct timespec ts = {0, 2 * 1000000L};
                nanosleep(&ts, NULL);
        }
        return cx_error_msg(err, ETIMEDOUT, "cgroup: systemd did not create %s within %d s", dir,
                            SD_WAIT_MS / 1000);
}

static void kill_placeholder(struct sd_priv *p)
{
        if (p->placeholder <= 0)
                return;
        kill(p->placeholder, SIGKILL); /* before it left: it waits for the init */
        p->placeholder = 0;
}

/* The placeholder: a grandchild (so that PID 1 reaps it, never a zombie in the scope) that
 * leaves as soon as another process (the init) sits in the scope's cgroup, or after 30 s. */
static void placeholder_main(const char *dir)
{
        pid_t self = getpid();
        for (int ms = 0; ms < 30000; ms++) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n = 0;
                if (cg_read_pids(dir, &pids, &n, NULL) >= 0)
                        for (size_t i = 0; i < n; i++)
                                if (pids[i] != self)
                                        _exit(0);
                struct timespec ts = {0, 1000000L};
                nanosleep(&ts, NULL);
        }
        _exit(0);
}

static pid_t placeholder_start(const char *dir, struct cx_error **err)
{
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "cgroup: pipe for the scope's placeholder");
        pid_t mid = fork();
        if (mid < 0) {
                cx_error_set(err, errno, "cgroup: fork the scope's placeholder process");
                close(pfd[0]);
                close(pfd[1]);
                return -(*err)->code;
        }
        if (mid == 0) {
                close(pfd[0]);
                pid_t pid = fork();
                if (pid == 0) {
                        close(pfd[1]);
                        placeholder_main(dir);
                }
                (void)!write(pfd[1], &pid, sizeof(pid));
                _exit(0);
        }
        close(pfd[1]);
        pid_t pid = -1;
        ssize_t n = read(pfd[0], &pid, sizeof(pid));
        close(pfd[0]);
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
                ;
        if (n != sizeof(pid) || pid <= 0)
                return cx_error_msg(err, EIO, "cgroup: fork the scope's placeholder process");
        return pid;
}

static int sd_create(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        struct sd_priv *p = m->priv;
        int q = r ? cg_v2_check(r, err) : 0; /* fail before starting anything */
        if (q < 0)
                return q;
        pid_t pid = placeholder_start(m->dirs[0].path, err);
        if (pid < 0)
                return pid;
        p->placeholder = pid;
        if ((q = start_scope(m, pid, r, err)) < 0) {
                kill_placeholder(p);
                return q;
        }
        q = wait_in_scope(m->dirs[0].path, pid, err);
        if (q >= 0 && r)
                q = cg_driver_v2.apply(m, r, err);
        if (q < 0) {
                kill_placeholder(p);
                _cleanup_error_ struct cx_error *e = NULL;
                if (unit_call("StopUnit", p->unit, true, &e) < 0)
                        log_warn("%s", e->msg);
        }
        return q;
}

static int sd_apply(struct cg_manager *m, const struct spec_resources *r, struct cx_error **err)
{
        int q = cg_driver_v2.apply(m, r, err);
        if (q < 0)
                return q;
        struct cg_dbus_buf b = {0};
        cg_dbus_put_str(&b, unit_of(m));
        cg_dbus_put_u32(&b, true); /* runtime: not persisted across reboots */
        size_t at = cg_dbus_array_begin(&b, 8);
        resource_props(&b, r);
        cg_dbus_array_end(&b, at, 8);
        size_t first = at + 4 + (8 - (at + 4) % 8) % 8;
        if (b.len > first) /* any property to tell systemd about */
                q = sd_call("SetUnitProperties", "sba(sv)", &b, err);
        cg_dbus_buf_clear(&b);
        return q < 0 ? cx_error_prefix(err, "cgroup: update systemd unit %s", unit_of(m)) : q;
}

static bool gone(const char *dir, int wait_ms)
{
        for (int ms = 0; ms < wait_ms; ms += 5) {
                if (access(dir, F_OK) < 0 && errno == ENOENT)
                        return true;
                struct timespec ts = {0, 5 * 1000000L};
                nanosleep(&ts, NULL);
        }
        return false;
}

/* A scope whose processes are all gone is stopped and removed by systemd itself: kill them and
 * wait for that; only a scope that stays (systemd did not get to it) is stopped with StopUnit,
 * and whatever is left after that is removed by hand. */
static int sd_destroy(struct cg_manager *m, struct cx_error **err)
{
        const char *dir = m->n_dirs > 0 ? m->dirs[0].path : NULL;
        if (dir && access(dir, F_OK) == 0) {
                int q = cg_common_kill(m, SIGKILL, err);
                if (q < 0 && access(dir, F_OK) == 0)
                        return q;
        }
        if (dir && !gone(dir, 500)) {
                _cleanup_error_ struct cx_error *e = NULL;
                int q = unit_call("StopUnit", unit_of(m), true, &e);
                if (q < 0 && q != -ENOENT) /* the cgroup goes anyway once it is empty */
                        log_warn("cgroup: stop systemd unit %s: %s; removing its cgroup "
                                 "directly",
                                 unit_of(m), e->msg);
                else
                        gone(dir, SD_WAIT_MS);
        }
        int r = cg_common_destroy(m, err);
        if (r < 0)
                return r;
        unit_call("ResetFailedUnit", unit_of(m), false, NULL); /* not failed: NoSuchUnit */
        return 0;
}

static void sd_free_priv(struct cg_manager *m)
{
        struct sd_priv *p = m->priv;
        if (!p)
                return;
        free(p->unit);
        free(p->slice);
        free(p);
        m->priv = NULL;
}

const struct cg_driver cg_driver_systemd = {
    .name = "systemd",
    .create = sd_create,
    .enter = cg_common_enter,
    .apply = sd_apply,
    .kill = cg_common_kill,
    .pids = cg_common_pids,
    .destroy = sd_destroy,
    .hierarchies = cg_common_hierarchies,
    .free_priv = sd_free_priv,
};
