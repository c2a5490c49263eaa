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

static void gen_process(yajl_gen g)
{
        static const char *const env[] = {
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        };
        static const char *const args[] = {"sh"};
        static const char *const sets[] = {"bounding", "effective", "permitted", "ambient"};

        json_str(g, "process");
        yajl_gen_map_open(g);
        json_key_bool(g, "terminal", true);
        json_str(g, "user");
        yajl_gen_map_open(g);
        json_key_int(g, "uid", 0);
        json_key_int(g, "gid", 0);
        yajl_gen_map_close(g);
        json_key_strv(g, "args", args, ARRAY_SIZE(args));
        json_key_strv(g, "env", env, ARRAY_SIZE(env));
        json_key_str(g, "cwd", "/");
        json_str(g, "capabilities");
        yajl_gen_map_open(g);
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
                json_key_strv(g, sets[i], default_caps, ARRAY_SIZE(default_caps));
        yajl_gen_map_close(g);
        json_str(g, "rlimits");
        yajl_gen_array_open(g);
        yajl_gen_map_open(g);
        json_key_str(g, "type", "RLIMIT_NOFILE");
        json_key_int(g, "hard", 1024);
        json_key_int(g, "soft", 1024);
        yajl_gen_map_close(g);
        yajl_gen_array_close(g);
        json_key_bool(g, "noNewPrivileges", true);
        yajl_gen_map_close(g);
}

static void gen_mounts(yajl_gen g, bool rootless)
{
        json_str(g, "mounts");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < ARRAY_SIZE(default_mounts); i++) {
                const struct default_mount *m = &default_mounts[i];
                if (rootless ? !m->rootless : !m->rootful)
                        continue;
                yajl_gen_map_open(g);
                json_key_str(g, "destination", m->dest);
                json_key_str(g, "type", m->type);
                json_key_str(g, "source", m->source);
                if (m->n_opts)
                        json_key_strv(g, "options", m->opts, m->n_opts);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
}

static void gen_id_map(yajl_gen g, const char *key, unsigned host_id)
{
        json_str(g, key);
        yajl_gen_array_open(g);
        yajl_gen_map_open(g);
        json_key_int(g, "containerID", 0);
        json_key_int(g, "hostID", host_id);
        json_key_int(g, "size", 1);
        yajl_gen_map_close(g);
        yajl_gen_array_close(g);
}

/* runc's namespaces (no cgroup namespace: `runc spec` has none, and engines that want one ask
 * for it); rootless drops network and adds user, as runc's ToRootless. */
static void gen_linux(yajl_gen g, bool rootless, uid_t uid, gid_t gid)
{
        static const char *const ns_rootful[] = {"pid", "network", "ipc", "uts", "mount"};
        static const char *const ns_rootless[] = {"pid", "ipc", "uts", "mount", "user"};
        const char *const *ns = rootless ? ns_rootless : ns_rootful;

        json_str(g, "linux");
        yajl_gen_map_open(g);
        if (rootless) {
                gen_id_map(g, "uidMappings", uid);
                gen_id_map(g, "gidMappings", gid);
        } else {
                /* deny every device; the default devices are added by the runtime */
                json_str(g, "resources");
                yajl_gen_map_open(g);
                json_str(g, "devices");
                yajl_gen_array_open(g);
                yajl_gen_map_open(g);
                json_key_bool(g, "allow", false);
                json_key_str(g, "access", "rwm");
                yajl_gen_map_close(g);
                yajl_gen_array_close(g);
                yajl_gen_map_close(g);
        }
        json_str(g, "namespaces");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < ARRAY_SIZE(ns_rootful); i++) {
                yajl_gen_map_open(g);
                json_key_str(g, "type", ns[i]);
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        json_key_strv(g, "maskedPaths", default_masked, ARRAY_SIZE(default_masked));
        json_key_strv(g, "readonlyPaths", default_readonly, ARRAY_SIZE(default_readonly));
        yajl_gen_map_close(g);
}

char *spec_default_json(bool rootless, uid_t uid, gid_t gid)
{
        yajl_gen g = json_gen_new("\t");

        yajl_gen_map_open(g);
        json_key_str(g, "ociVersion", "1.2.0");
        gen_process(g);
        json_str(g, "root");
        yajl_gen_map_open(g);
        json_key_str(g, "path", "rootfs");
        json_key_bool(g, "readonly", true);
        yajl_gen_map_close(g);
        json_key_str(g, "hostname", "capsa");
        gen_mounts(g, rootless);
        gen_linux(g, rootless, uid, gid);
        yajl_gen_map_close(g);
        return json_finish(g, true);
}
