/* spec: the OCI features document of `capsa features` (runtime-spec features.md). */
#include "spec/internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>

#ifndef CAPSA_VERSION
#define CAPSA_VERSION "unknown"
#endif

/* Every option capsa's mount-option parser knows. */
static const char *const mount_options[] = {
    "ro",           "rw",          "suid",        "nosuid",        "dev",          "nodev",
    "exec",         "noexec",      "sync",        "async",         "dirsync",      "remount",
    "mand",         "nomand",      "atime",       "noatime",       "diratime",     "nodiratime",
    "relatime",     "norelatime",  "strictatime", "nostrictatime", "bind",         "rbind",
    "private",      "rprivate",    "shared",      "rshared",       "slave",        "rslave",
    "unbindable",   "runbindable", "lazytime",    "nolazytime",    "silent",       "loud",
    "symfollow",    "nosymfollow", "iversion",    "noiversion",    "rro",          "rrw",
    "rnosuid",      "rsuid",       "rnodev",      "rdev",          "rnoexec",      "rexec",
    "rnoatime",     "ratime",      "rrelatime",   "rnorelatime",   "rstrictatime", "rnostrictatime",
    "rnosymfollow", "rsymfollow",  "idmap",       "ridmap",        "tmpcopyup",
};

static bool apparmor_enabled(void)
{
        char c = 0;
        int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (read(fd, &c, 1) != 1)
                c = 0;
        close(fd);
        return c == 'Y';
}

static void gen_enabled(yajl_gen g, const char *key, bool on)
{
        json_str(g, key);
        yajl_gen_map_open(g);
        json_key_bool(g, "enabled", on);
        yajl_gen_map_close(g);
}

static void gen_seccomp_archs(yajl_gen g)
{
        json_str(g, "archs");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < spec_seccomp_n_archs; i++) {
                char lower[32];
                const char *n = spec_seccomp_arch_names[i] + strlen("SCMP_ARCH_");
                size_t k = 0;
                for (; n[k] && k < sizeof(lower) - 1; k++)
                        lower[k] = (char)tolower((unsigned char)n[k]);
                lower[k] = 0;
                if (seccomp_arch_resolve_name(lower) != 0)
                        json_str(g, spec_seccomp_arch_names[i]);
        }
        yajl_gen_array_close(g);
}

static void gen_seccomp(yajl_gen g)
{
        /* capsa passes every known flag to seccomp(2) itself (src/security/seccomp.c), so
         * none depends on libseccomp's version. */
        size_t n_supported = spec_seccomp_n_flags;

        json_str(g, "seccomp");
        yajl_gen_map_open(g);
        json_key_bool(g, "enabled", true);
        json_key_strv(g, "actions", spec_seccomp_action_names, spec_seccomp_n_actions);
        json_key_strv(g, "operators", spec_seccomp_op_names, spec_seccomp_n_ops);
        gen_seccomp_archs(g);
        json_key_strv(g, "knownFlags", spec_seccomp_flag_names, spec_seccomp_n_flags);
        json_key_strv(g, "supportedFlags", spec_seccomp_flag_names, n_supported);
        yajl_gen_map_close(g);
}

static void gen_linux(yajl_gen g)
{
        const char *caps[64];
        size_t n_caps = 0;

        for (int c = 0; c <= spec_cap_max_known(); c++)
                caps[n_caps++] = spec_cap_name(c);

        json_str(g, "linux");
        yajl_gen_map_open(g);
        json_key_strv(g, "namespaces", spec_ns_type_names, SPEC_NS_MAX);
        json_key_strv(g, "capabilities", caps, n_caps);
        json_str(g, "cgroup");
        yajl_gen_map_open(g);
        json_key_bool(g, "v1", true);
        json_key_bool(g, "v2", true);
        json_key_bool(g, "systemd", true); /* v2 hosts where systemd is PID 1 */
        json_key_bool(g, "systemdUser", false);
        yajl_gen_map_close(g);
        gen_seccomp(g);
        gen_enabled(g, "apparmor", apparmor_enabled());
        gen_enabled(g, "selinux", access("/sys/fs/selinux", F_OK) == 0);
        gen_enabled(g, "intelRdt", false);
        json_str(g, "mountExtensions");
        yajl_gen_map_open(g);
        gen_enabled(g, "idmap", true); /* src/namespaces/idmap-mount.c */
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
}

char *spec_features_json(void)
{
        const struct scmp_version *v = seccomp_version();
        _cleanup_free_ char *scmp =
            xasprintf("%u.%u.%u", v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
        yajl_gen g = json_gen_new("\t");

        yajl_gen_map_open(g);
        json_key_str(g, "ociVersionMin", "1.0.0");
        json_key_str(g, "ociVersionMax", "1.2.0");
        json_key_strv(g, "hooks", spec_hook_kind_names, SPEC_HOOK_KIND_MAX);
        json_key_strv(g, "mountOptions", mount_options, ARRAY_SIZE(mount_options));
        gen_linux(g);
        json_str(g, "annotations");
        yajl_gen_map_open(g);
        json_key_str(g, "io.github.seccomp.libseccomp.version", scmp);
        json_key_str(g, "run.capsa.version", CAPSA_VERSION);
        yajl_gen_map_close(g);
        yajl_gen_map_close(g);
        return json_finish(g, true);
}
