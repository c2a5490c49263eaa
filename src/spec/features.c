/* spec: the OCI features document of `capsa features` (runtime-spec features.md). */
#include "spec/internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>

#ifndef CAPSA_VERSION
#define CAPSA_VERSION "unknown"
#endif

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

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An array of n names, sorted as runc sorts the lists of its features document. */
static void key_sorted(struct json_w *w, const char *key, const char *const *v, size_t n)
{
        _cleanup_free_ const char **s = xcalloc(n + 1, sizeof(*s));
        memcpy(s, v, n * sizeof(*s));
        qsort(s, n, sizeof(*s), cmp_str);
        json_w_key_strv(w, key, s, n);
}

static void gen_enabled(struct json_w *w, const char *key, bool on)
{
        json_w_key_obj_open(w, key);
        json_w_key_bool(w, "enabled", on);
        json_w_obj_close(w);
}

static void gen_seccomp_archs(struct json_w *w)
{
        const char *v[64];
        size_t n = 0;
        for (size_t i = 0; i < spec_seccomp_n_archs && n < ARRAY_SIZE(v); i++) {
                char lower[32];
                const char *name = spec_seccomp_arch_names[i] + strlen("SCMP_ARCH_");
                size_t k = 0;
                for (; name[k] && k < sizeof(lower) - 1; k++)
                        lower[k] = (char)tolower((unsigned char)name[k]);
                lower[k] = 0;
                if (seccomp_arch_resolve_name(lower) != 0)
                        v[n++] = spec_seccomp_arch_names[i];
        }
        key_sorted(w, "archs", v, n);
}

static void gen_seccomp(struct json_w *w)
{
        /* capsa passes every known flag to seccomp(2) itself (src/security/seccomp.c), so
         * none depends on libseccomp's version. */
        size_t n_supported = spec_seccomp_n_flags;

        json_w_key_obj_open(w, "seccomp");
        json_w_key_bool(w, "enabled", true);
        key_sorted(w, "actions", spec_seccomp_action_names, spec_seccomp_n_actions);
        key_sorted(w, "operators", spec_seccomp_op_names, spec_seccomp_n_ops);
        gen_seccomp_archs(w);
        json_w_key_strv(w, "knownFlags", spec_seccomp_flag_names, spec_seccomp_n_flags);
        json_w_key_strv(w, "supportedFlags", spec_seccomp_flag_names, n_supported);
        json_w_obj_close(w);
}

static void gen_linux(struct json_w *w)
{
        const char *caps[64];
        size_t n_caps = 0;

        for (int c = 0; c <= spec_cap_max_known(); c++)
                caps[n_caps++] = spec_cap_name(c);

        json_w_key_obj_open(w, "linux");
        key_sorted(w, "namespaces", spec_ns_type_names, SPEC_NS_MAX);
        json_w_key_strv(w, "capabilities", caps, n_caps); /* in number order, as runc */
        json_w_key_obj_open(w, "cgroup");
        json_w_key_bool(w, "v1", true);
        json_w_key_bool(w, "v2", true);
        json_w_key_bool(w, "systemd", true); /* v2 hosts where systemd is PID 1 */
        json_w_key_bool(w, "systemdUser", false);
        json_w_obj_close(w);
        gen_seccomp(w);
        gen_enabled(w, "apparmor", apparmor_enabled());
        gen_enabled(w, "selinux", access("/sys/fs/selinux", F_OK) == 0);
        gen_enabled(w, "intelRdt", false);
        json_w_key_obj_open(w, "mountExtensions");
        gen_enabled(w, "idmap", true); /* src/namespaces/idmap-mount.c */
        json_w_obj_close(w);
        json_w_obj_close(w);
}

/* runc's shape: 4-space indent (json.MarshalIndent), the hooks in lifecycle order, the other
 * lists sorted. */
char *spec_features_json(const char *const *mount_options, size_t n_mount_options)
{
        const struct scmp_version *v = seccomp_version();
        _cleanup_free_ char *scmp =
            xasprintf("%u.%u.%u", v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
        struct json_w *w = json_w_new("    ");

        json_w_obj_open(w);
        json_w_key_str(w, "ociVersionMin", "1.0.0");
        json_w_key_str(w, "ociVersionMax", "1.2.0");
        json_w_key_strv(w, "hooks", spec_hook_kind_names, SPEC_HOOK_KIND_MAX);
        key_sorted(w, "mountOptions", mount_options, n_mount_options);
        gen_linux(w);
        json_w_key_obj_open(w, "annotations");
        json_w_key_str(w, "io.github.seccomp.libseccomp.version", scmp);
        json_w_key_str(w, "run.capsa.version", CAPSA_VERSION);
        /* the ways a container's processes come to exist (container/launcher.c); vm is the KVM
         * mode, chosen by run.oci.handler=vm, the vm object or --vm */
        json_w_key_str(w, "run.capsa.launchers", "native,restore,vm");
        json_w_key_str(w, "run.oci.handler", "vm");
        json_w_key_str(w, "run.capsa.vm.accel", "kvm,tcg");
        json_w_obj_close(w);
        json_w_obj_close(w);
        return json_w_finish(w, true);
}
