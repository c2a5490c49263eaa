/* spec: the default config.json of `capsa spec` (the same shape as `runc spec`). */
#include "spec/internal.h"

struct default_mount {
        const char *dest, *type, *source;
        const char *const *opts;
        size_t n_opts;
        bool rootful, rootless; /* in which variant it appears */
};

#define OPTS(...)                                                                                  \
        (const char *const[]){__VA_ARGS__}, ARRAY_SIZE(((const char *const[]){__VA_ARGS__}))

static const struct default_mount default_mounts[] = {
    {"/proc", "proc", "proc", NULL, 0, true, true},
    {"/dev", "tmpfs", "tmpfs", OPTS("nosuid", "strictatime", "mode=755", "size=65536k"), true,
     true},
    {"/dev/pts", "devpts", "devpts",
     OPTS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"), true, false},
    /* rootless: gid 5 is not mapped */
    {"/dev/pts", "devpts", "devpts",
     OPTS("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"), false, true},
    {"/dev/shm", "tmpfs", "shm", OPTS("nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
     true, true},
    {"/dev/mqueue", "mqueue", "mqueue", OPTS("nosuid", "noexec", "nodev"), true, true},
    {"/sys", "sysfs", "sysfs", OPTS("nosuid", "noexec", "nodev", "ro"), true, false},
    /* rootless: sysfs cannot be mounted without the network namespace's owner */
    {"/sys", "none", "/sys", OPTS("rbind", "nosuid", "noexec", "nodev", "ro"), false, true},
    {"/sys/fs/cgroup", "cgroup", "cgroup", OPTS("nosuid", "noexec", "nodev", "relatime", "ro"),
     true, true},
};

static const char *const default_caps[] = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};

static const char *const default_masked[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/sys/firmware",       "/proc/scsi",
};

static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm",
    NULL,
};
static const char *const default_args[] = {"sh", NULL};

static void gen_process(struct json_w *w, const struct spec_template *t)
{
        static const char *const sets[] = {"bounding", "effective", "permitted", "ambient"};
        const char *const *args = t->args ? (const char *const *)t->args : default_args;
        const char *const *env = t->env ? (const char *const *)t->env : default_env;

        json_w_key(w, "process");
        json_w_obj_open(w);
        json_w_key_bool(w, "terminal", t->terminal);
        json_w_key(w, "user");
        json_w_obj_open(w);
        json_w_key_u64(w, "uid", t->user_uid);
        json_w_key_u64(w, "gid", t->user_gid);
        if (t->n_additional_gids) {
                json_w_key_arr_open(w, "additionalGids");
                for (size_t i = 0; i < t->n_additional_gids; i++)
                        json_w_u64(w, t->additional_gids[i]);
                json_w_arr_close(w);
        }
        json_w_obj_close(w);
        json_w_key_strv(w, "args", args, strv_len((char *const *)args));
        json_w_key_strv(w, "env", env, strv_len((char *const *)env));
        json_w_key_str(w, "cwd", t->cwd ? t->cwd : "/");
        const char *const *caps = t->caps ? (const char *const *)t->caps : default_caps;
        size_t n_caps = t->caps ? strv_len(t->caps) : ARRAY_SIZE(default_caps);
        json_w_key(w, "capabilities");
        json_w_obj_open(w);
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
                json_w_key_strv(w, sets[i], caps, i && t->caps_bounding_only ? 0 : n_caps);
        json_w_obj_close(w);
        json_w_key(w, "rlimits");
        json_w_arr_open(w);
        json_w_obj_open(w);
        json_w_key_str(w, "type", "RLIMIT_NOFILE");
        json_w_key_int(w, "hard", 1024);
        json_w_key_int(w, "soft", 1024);
        json_w_obj_close(w);
        json_w_arr_close(w);
        json_w_key_bool(w, "noNewPrivileges", true);
        json_w_obj_close(w);
}

static void gen_bind(struct json_w *w, const struct spec_template_bind *b)
{
        const char *const opts[] = {"rbind", b->readonly ? "ro" : "rw", "nosuid", "nodev"};
        json_w_obj_open(w);
        json_w_key_str(w, "destination", b->dest);
        json_w_key_str(w, "type", "bind");
        json_w_key_str(w, "source", b->source);
        json_w_key_strv(w, "options", opts, ARRAY_SIZE(opts));
        json_w_obj_close(w);
}

static void gen_mounts(struct json_w *w, const struct spec_template *t)
{
        bool rootless = t->rootless;
        json_w_key(w, "mounts");
        json_w_arr_open(w);
        for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
                const struct default_mount *m = &default_mounts[i];
                if (rootless ? !m->rootless : !m->rootful)
                        continue;
                json_w_obj_open(w);
                json_w_key_str(w, "destination", m->dest);
                json_w_key_str(w, "type", m->type);
                json_w_key_str(w, "source", m->source);
                if (m->n_opts)
                        json_w_key_strv(w, "options", m->opts, m->n_opts);
                json_w_obj_close(w);
        }
        for (size_t i = 0; i < t->n_binds; i++)
                gen_bind(w, &t->binds[i]);
        json_w_arr_close(w);
}

static void gen_id_map(struct json_w *w, const char *key, unsigned host_id)
{
        json_w_key(w, key);
        json_w_arr_open(w);
        json_w_obj_open(w);
        json_w_key_int(w, "containerID", 0);
        json_w_key_int(w, "hostID", host_id);
        json_w_key_int(w, "size", 1);
        json_w_obj_close(w);
        json_w_arr_close(w);
}

/* runc's namespaces (no cgroup namespace: `runc spec` has none, and engines that want one ask
 * for it); rootless drops network and adds user, as runc's ToRootless. */
static void gen_limits(struct json_w *w, const struct spec_template *t)
{
        if (t->memory) {
                json_w_key_obj_open(w, "memory");
                json_w_key_int(w, "limit", t->memory);
                json_w_obj_close(w);
        }
        if (t->cpu_quota) {
                json_w_key_obj_open(w, "cpu");
                json_w_key_int(w, "quota", t->cpu_quota);
                json_w_key_u64(w, "period", 100000);
                json_w_obj_close(w);
        }
        if (t->pids) {
                json_w_key_obj_open(w, "pids");
                json_w_key_int(w, "limit", t->pids);
                json_w_obj_close(w);
        }
}

static void gen_linux(struct json_w *w, const struct spec_template *t)
{
        bool rootless = t->rootless;
        static const char *const ns_rootful[] = {"pid", "network", "ipc", "uts", "mount"};
        static const char *const ns_rootless[] = {"pid", "ipc", "uts", "mount", "user"};
        const char *const *ns = rootless ? ns_rootless : ns_rootful;

        json_w_key(w, "linux");
        json_w_obj_open(w);
        if (rootless) {
                gen_id_map(w, "uidMappings", t->uid);
                gen_id_map(w, "gidMappings", t->gid);
        } else {
                /* deny every device; the default devices are added by the runtime */
                json_w_key(w, "resources");
                json_w_obj_open(w);
                json_w_key(w, "devices");
                json_w_arr_open(w);
                json_w_obj_open(w);
                json_w_key_bool(w, "allow", false);
                json_w_key_str(w, "access", "rwm");
                json_w_obj_close(w);
                json_w_arr_close(w);
                gen_limits(w, t);
                json_w_obj_close(w);
        }
        json_w_key(w, "namespaces");
        json_w_arr_open(w);
        for (size_t i = 0; i < ARRAY_SIZE(ns_rootful); i++) {
                json_w_obj_open(w);
                json_w_key_str(w, "type", ns[i]);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        if (t->seccomp_json) {
                json_w_key(w, "seccomp");
                json_w_raw(w, t->seccomp_json);
        }
        json_w_key_strv(w, "maskedPaths", default_masked, ARRAY_SIZE(default_masked));
        json_w_key_strv(w, "readonlyPaths", default_readonly, ARRAY_SIZE(default_readonly));
        json_w_obj_close(w);
}

char *spec_template_json(const struct spec_template *t)
{
        struct json_w *w = json_w_new("\t");

        json_w_obj_open(w);
        json_w_key_str(w, "ociVersion", "1.2.0");
        gen_process(w, t);
        json_w_key(w, "root");
        json_w_obj_open(w);
        json_w_key_str(w, "path", "rootfs");
        json_w_key_bool(w, "readonly", t->readonly_root);
        json_w_obj_close(w);
        json_w_key_str(w, "hostname", t->hostname ? t->hostname : "capsa");
        gen_mounts(w, t);
        if (t->annotations && t->annotations[0]) {
                json_w_key_obj_open(w, "annotations");
                for (char *const *a = t->annotations; a[0] && a[1]; a += 2)
                        json_w_key_str(w, a[0], a[1]);
                json_w_obj_close(w);
        }
        gen_linux(w, t);
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

char *spec_default_json(bool rootless, uid_t uid, gid_t gid)
{
        return spec_template_json(&(struct spec_template){
            .rootless = rootless, .uid = uid, .gid = gid, .terminal = true, .readonly_root = true});
}
