/* Unit tests for src/spec: parsing, path-carrying errors, validation, default and features. */
#include "namespaces/namespaces.h"
#include "spec/spec.h"
#include "tap.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

static const char full_config[] =
    "{\"ociVersion\": \"1.2.0\", \"hostname\": \"h\", \"domainname\": \"d\", \"unknownKey\": 1,"
    " \"root\": {\"path\": \"rootfs\", \"readonly\": true},"
    " \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},"
    "   {\"destination\": \"/data\", \"source\": \"/srv\", \"options\": [\"rbind\", \"ro\"],"
    "    \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]}],"
    " \"process\": {\"terminal\": false, \"consoleSize\": {\"height\": 24, \"width\": 80},"
    "   \"user\": {\"uid\": 1, \"gid\": 2, \"umask\": 18, \"additionalGids\": [5, 6]},"
    "   \"args\": [\"sh\", \"-c\", \"true\"], \"env\": [\"A=1\"], \"cwd\": \"/tmp\","
    "   \"capabilities\": {\"bounding\": [\"CAP_SYS_ADMIN\", \"CAP_KILL\"],"
    "     \"effective\": [\"CAP_KILL\"], \"inheritable\": null, \"permitted\": [\"CAP_KILL\"],"
    "     \"ambient\": [\"CAP_NET_RAW\"]},"
    "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, \"hard\": 4096}],"
    "   \"noNewPrivileges\": true, \"apparmorProfile\": \"ap\", \"selinuxLabel\": \"sl\","
    "   \"oomScoreAdj\": -500, \"ioPriority\": {\"class\": \"IOPRIO_CLASS_BE\", \"priority\": 3},"
    "   \"scheduler\": {\"policy\": \"SCHED_DEADLINE\", \"nice\": -2, \"priority\": 0,"
    "     \"flags\": [\"SCHED_FLAG_RECLAIM\"], \"runtime\": 10, \"deadline\": 20,"
    "     \"period\": 30}},"
    " \"hooks\": {\"prestart\": [{\"path\": \"/bin/true\", \"args\": [\"true\"],"
    "   \"timeout\": 5}], \"poststop\": [{\"path\": \"/bin/a\"}, {\"path\": \"/bin/b\"}]},"
    " \"annotations\": {\"run.oci.handler\": \"vm\", \"k\": \"v\"},"
    " \"vm\": {\"hypervisor\": {\"path\": \"/q\"}},"
    " \"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\":"
    "   \"/proc/1/ns/net\"}, {\"type\": \"mount\"}, {\"type\": \"uts\"}, {\"type\": \"user\"},"
    "   {\"type\": \"time\"}],"
    "   \"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, \"size\": 1}],"
    "   \"gidMappings\": [{\"containerID\": 0, \"hostID\": 1001, \"size\": 2}],"
    "   \"timeOffsets\": {\"boottime\": {\"secs\": -5, \"nanosecs\": 7},"
    "     \"monotonic\": {\"secs\": 9}},"
    "   \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,"
    "     \"fileMode\": 438, \"uid\": 0}],"
    "   \"cgroupsPath\": \"/capsa/x\", \"rootfsPropagation\": \"rslave\","
    "   \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
    "       {\"allow\": true, \"type\": \"c\", \"major\": 1, \"minor\": 3, \"access\": \"rw\"}],"
    "     \"memory\": {\"limit\": 1048576, \"swap\": -1, \"swappiness\": 10,"
    "       \"disableOOMKiller\": true},"
    "     \"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1\","
    "       \"mems\": \"0\", \"idle\": 1},"
    "     \"pids\": {\"limit\": 64},"
    "     \"blockIO\": {\"weight\": 500, \"weightDevice\": [{\"major\": 8, \"minor\": 0,"
    "       \"weight\": 300}], \"throttleWriteIOPSDevice\": [{\"major\": 8, \"minor\": 0,"
    "       \"rate\": 99}]},"
    "     \"hugepageLimits\": [{\"pageSize\": \"2MB\", \"limit\": 4194304}],"
    "     \"network\": {\"classID\": 7, \"priorities\": [{\"name\": \"eth0\", \"priority\": 2}]},"
    "     \"rdma\": {\"mlx5_0\": {\"hcaHandles\": 3}},"
    "     \"unified\": {\"memory.high\": \"1000000\"}},"
    "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1,"
    "     \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\"],"
    "     \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"], \"listenerPath\": \"/run/l.sock\","
    "     \"listenerMetadata\": \"meta\","
    "     \"syscalls\": [{\"names\": [\"read\", \"write\"], \"action\": \"SCMP_ACT_ALLOW\"},"
    "       {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_NOTIFY\", \"args\":"
    "         [{\"index\": 0, \"value\": 18446744073709551615, \"valueTwo\": 2,"
    "           \"op\": \"SCMP_CMP_MASKED_EQ\"}]}]},"
    "   \"sysctl\": {\"net.ipv4.ip_forward\": \"1\"},"
    "   \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [\"/proc/sys\"],"
    "   \"mountLabel\": \"ml\", \"personality\": {\"domain\": \"LINUX32\"}}}";

static void test_full(void)
{
        struct spec *s = NULL;
        struct cx_error *err = NULL;

        int r = spec_parse(full_config, strlen(full_config), "config.json", "/b", &s, &err);
        ok(r == 0, "full config parses (%s)", err ? err->msg : "ok");
        if (r < 0)
                return;
        is_str(s->oci_version, "1.2.0", "ociVersion");
        is_str(s->bundle, "/b", "bundle");
        is_str(s->root.path, "/b/rootfs", "root.path resolved against the bundle");
        ok(s->root.readonly, "root.readonly");
        is_str(s->hostname, "h", "hostname");
        is_str(s->domainname, "d", "domainname");
        ok(s->n_mounts == 2 && !s->mounts[1].type && strcmp(s->mounts[1].options[1], "ro") == 0,
           "mounts");
        ok(s->mounts[1].n_uid_mappings == 1 && s->mounts[1].uid_mappings[0].size == 65536,
           "mount uidMappings");
        const struct spec_process *p = &s->process;
        ok(s->has_process && !p->terminal, "process present, terminal false");
        ok(p->console_size.set && p->console_size.height == 24 && p->console_size.width == 80,
           "consoleSize");
        ok(p->user.uid == 1 && p->user.gid == 2 && p->user.umask.set && p->user.umask.v == 18,
           "user");
        ok(p->user.n_additional_gids == 2 && p->user.additional_gids[1] == 6, "additionalGids");
        ok(strv_len(p->args) == 3 && strcmp(p->args[2], "true") == 0, "args");
        is_str(p->env[0], "A=1", "env");
        is_str(p->cwd, "/tmp", "cwd");
        ok(p->caps.present && p->caps.bounding == ((1ULL << 21) | (1ULL << 5)), "bounding mask");
        ok(p->caps.effective == 1ULL << 5 && p->caps.inheritable == 0 &&
               p->caps.ambient == 1ULL << 13,
           "other cap sets");
        ok(p->n_rlimits == 1 && p->rlimits[0].resource == RLIMIT_NOFILE &&
               p->rlimits[0].soft == 1024 && p->rlimits[0].hard == 4096,
           "rlimits");
        ok(p->no_new_privileges, "noNewPrivileges");
        ok(!strcmp(p->apparmor_profile, "ap") && !strcmp(p->selinux_label, "sl"), "LSM labels");
        ok(p->oom_score_adj.set && p->oom_score_adj.v == -500, "oomScoreAdj");
        ok(p->io_priority.set && p->io_priority.class_ == 2 && p->io_priority.priority == 3,
           "ioPriority");
        ok(p->scheduler.set && p->scheduler.policy == 6 && p->scheduler.nice == -2 &&
               p->scheduler.flags == 0x02 && p->scheduler.period == 30,
           "scheduler");
        ok(s->hooks.n[SPEC_HOOK_PRESTART] == 1 && s->hooks.v[SPEC_HOOK_PRESTART][0].timeout.v == 5,
           "prestart hook");
        ok(s->hooks.n[SPEC_HOOK_POSTSTOP] == 2 &&
               !strcmp(s->hooks.v[SPEC_HOOK_POSTSTOP][1].path, "/bin/b"),
           "poststop hooks");
        is_str(spec_annotation(s, "run.oci.handler"), "vm", "annotation lookup");
        ok(spec_annotation(s, "nope") == NULL, "absent annotation");
        ok(s->vm.present, "vm object");

        const struct spec_linux *l = &s->linux_;
        ok(l->ns[SPEC_NS_PID].present && !l->ns[SPEC_NS_PID].path && !l->ns[SPEC_NS_IPC].present,
           "namespaces");
        is_str(l->ns[SPEC_NS_NETWORK].path, "/proc/1/ns/net", "namespace path");
        ok(l->n_gid_mappings == 1 && l->gid_mappings[0].host_id == 1001, "gidMappings");
        ok(l->time_boottime.set && l->time_boottime.secs == -5 && l->time_boottime.nanosecs == 7,
           "timeOffsets.boottime");
        ok(l->time_monotonic.set && l->time_monotonic.secs == 9, "timeOffsets.monotonic");
        ok(l->n_devices == 1 && l->devices[0].type == 'c' && l->devices[0].minor == 229 &&
               l->devices[0].file_mode.v == 438 && l->devices[0].uid.set && !l->devices[0].gid.set,
           "devices");
        is_str(l->cgroups_path, "/capsa/x", "cgroupsPath");
        ok(l->rootfs_propagation == (MS_SLAVE | MS_REC), "rootfsPropagation rslave");
        const struct spec_resources *res = &l->resources;
        ok(res->present && res->n_devices == 2 && res->devices[0].type == 'a' &&
               res->devices[1].allow && res->devices[1].major.v == 1,
           "resources.devices");
        ok(res->has_memory && res->memory.limit.v == 1048576 && res->memory.swap.v == -1 &&
               res->memory.disable_oom_killer && !res->memory.reservation.set,
           "memory");
        ok(res->has_cpu && res->cpu.shares.v == 512 && !strcmp(res->cpu.cpus, "0-1") &&
               res->cpu.idle.set,
           "cpu");
        ok(res->has_pids && res->pids_limit.v == 64, "pids");
        ok(res->has_blkio && res->blkio.weight.v == 500 && res->blkio.n_weight_device == 1 &&
               res->blkio.n_throttle[3] == 1 && res->blkio.throttle[3][0].rate == 99,
           "blockIO");
        ok(res->n_hugepage_limits == 1 && !strcmp(res->hugepage_limits[0].page_size, "2MB"),
           "hugepageLimits");
        ok(res->network.class_id.v == 7 && res->network.priorities[0].priority == 2, "network");
        ok(res->n_rdma == 1 && !strcmp(res->rdma[0].device, "mlx5_0") &&
               res->rdma[0].hca_handles.v == 3 && !res->rdma[0].hca_objects.set,
           "rdma");
        ok(res->n_unified == 1 && !strcmp(res->unified[0].key, "memory.high"), "unified");
        const struct spec_seccomp *sc = &l->seccomp;
        ok(sc->present && sc->default_action == SPEC_SCMP_ERRNO && sc->default_errno_ret.v == 1,
           "seccomp default");
        ok(strv_len(sc->architectures) == 2 && strv_len(sc->flags) == 1, "seccomp arch/flags");
        is_str(sc->listener_metadata, "meta", "listenerMetadata");
        ok(sc->n_syscalls == 2 && sc->syscalls[1].action == SPEC_SCMP_NOTIFY &&
               sc->syscalls[1].args[0].value == UINT64_MAX &&
               sc->syscalls[1].args[0].op == SPEC_SCMP_CMP_MASKED_EQ,
           "seccomp syscalls (full uint64 range)");
        ok(l->n_sysctl == 1 && !strcmp(l->sysctl[0].value, "1"), "sysctl");
        is_str(l->masked_paths[0], "/proc/kcore", "maskedPaths");
        is_str(l->readonly_paths[0], "/proc/sys", "readonlyPaths");
        is_str(l->mount_label, "ml", "mountLabel");
        ok(l->personality_domain.set && l->personality_domain.v == 8, "personality LINUX32");
        ok(!l->intel_rdt, "no intelRdt");

        r = spec_validate(s, &err);
        ok(r == 0, "full config validates (%s)", err ? err->msg : "ok");
        cx_error_free(err);
        spec_free(s);
}

/* Parses (and, if parse succeeds, validates) a config and checks the error message. */
static void expect_err(const char *json, const char *needle)
{
        struct spec *s = NULL;
        struct cx_error *err = NULL;

        int r = spec_parse(json, strlen(json), "config.json", "/b", &s, &err);
        if (r == 0)
                r = spec_validate(s, &err);
        ok(r < 0, "error for: %.60s", json);
        contains(err ? err->msg : NULL, needle, "message names the path: %s", needle);
        cx_error_free(err);
        spec_free(s);
}

#define BASE "\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"a\"], \"cwd\": \"/\"}"

static void test_errors(void)
{
        expect_err("{\"process\": {\"args\": [\"a\", \"b\", 3]}}",
                   "process.args[2]: expected string, got integer");
        expect_err("{\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"foo\"}]}}",
                   "linux.namespaces[1].type: unknown namespace type \"foo\"");
        expect_err("{\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"pid\"}]}}",
                   "linux.namespaces[1].type: duplicate namespace \"pid\"");
        expect_err("{\"process\": {\"capabilities\": {\"bounding\": [\"CAP_KILL\", \"CAP_CHOWN\","
                   " \"CAP_SETUID\", \"CAP_FOO\"]}}}",
                   "process.capabilities.bounding[3]: unknown capability \"CAP_FOO\"");
        expect_err("{\"process\": {\"capabilities\": {\"ambient\": [\"KILL\"]}}}",
                   "process.capabilities.ambient[0]: unknown capability \"KILL\"");
        expect_err("{\"process\": {\"rlimits\": [{\"type\": \"RLIMIT_X\", \"soft\": 1, \"hard\": "
                   "1}]}}",
                   "process.rlimits[0].type: unknown rlimit \"RLIMIT_X\"");
        expect_err("{\"process\": {\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"soft\": 1, \"hard\":"
                   " 1}, {\"type\": \"RLIMIT_CORE\", \"soft\": 1, \"hard\": 1}]}}",
                   "process.rlimits[1].type: duplicate rlimit \"RLIMIT_CORE\"");
        expect_err("{\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\":"
                   " [{\"names\": [\"a\"], \"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"a\"],"
                   " \"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"a\"], \"action\":"
                   " \"SCMP_ACT_ALLOW\"}, {\"names\": [\"a\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                   " {\"names\": [\"a\"], \"action\": \"SCMP_ACT_BOGUS\"}]}}}",
                   "linux.seccomp.syscalls[4].action: unknown action \"SCMP_ACT_BOGUS\"");
        expect_err("{\"mounts\": [{\"destination\": \"/a\"}, {\"destination\": \"/b\"},"
                   " {\"destination\": \"c\"}]}",
                   "mounts[2].destination: must be an absolute path");
        expect_err("{\"linux\": {\"resources\": {\"memory\": {\"limit\": \"1g\"}}}}",
                   "linux.resources.memory.limit: expected integer, got string");
        expect_err("{\"linux\": {\"rootfsPropagation\": \"sideways\"}}",
                   "linux.rootfsPropagation: unknown propagation \"sideways\"");
        expect_err("{\"linux\": {\"resources\": {\"unified\": {\"../x\": \"1\"}}}}",
                   "linux.resources.unified: invalid cgroup file name \"../x\"");
        expect_err("{\"linux\": {\"personality\": {\"domain\": \"BSD\"}}}",
                   "linux.personality.domain: unknown personality domain \"BSD\"");
        expect_err("{\"process\": {\"user\": {\"uid\": -1}}}", "process.user.uid: -1 out of range");
        expect_err("{\"process\": {\"user\": {\"additionalGids\": [1, \"x\"]}}}",
                   "process.user.additionalGids[1]: expected integer, got string");
        expect_err("{\"hooks\": {\"poststart\": [{\"args\": []}]}}",
                   "hooks.poststart[0].path: required");
        expect_err("[1]", "config.json: expected object, got array");

        /* spec_validate */
        expect_err("{\"root\": {\"path\": \"r\"}}", "process: required");
        expect_err("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [], \"cwd\": \"/\"}}",
                   "process.args: must not be empty");
        expect_err("{\"root\": {\"path\": \"r\"}, \"process\": {\"args\": [\"a\"], \"cwd\": "
                   "\"x\"}}",
                   "process.cwd: must be an absolute path");
        expect_err("{\"process\": {\"args\": [\"a\"], \"cwd\": \"/\"}}", "root.path: required");
        expect_err("{" BASE ", \"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1,"
                   " \"size\": 1}]}}",
                   "linux.uidMappings: id mappings given, but linux.namespaces has no user");
        expect_err("{" BASE ", \"linux\": {\"namespaces\": [{\"type\": \"user\"}]}}",
                   "user namespaces enabled, but no uid/gid mappings");
        expect_err("{" BASE ", \"linux\": {\"timeOffsets\": {\"boottime\": {\"secs\": 1}}}}",
                   "linux.timeOffsets: require a new time namespace");
        expect_err("{" BASE ", \"hostname\": \"x\"}", "hostname: requires a UTS namespace");
        expect_err("{" BASE ", \"linux\": {\"intelRdt\": {}}}", "linux.intelRdt: not supported");
        expect_err("{" BASE ", \"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\","
                   " \"syscalls\": [{\"names\": [\"a\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}}}",
                   "linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY");
}

static void test_null_and_syntax(void)
{
        struct spec *s = NULL;
        struct cx_error *err = NULL;
        const char *j = "{\"hostname\": null, \"process\": null, \"linux\": {\"sysctl\": null}}";

        ok(spec_parse(j, strlen(j), NULL, NULL, &s, &err) == 0 && !s->hostname && !s->has_process,
           "null counts as absent");
        spec_free(s);
        s = NULL;

        j = "{\"a\": 1,, }";
        ok(spec_parse(j, strlen(j), "config.json", NULL, &s, &err) < 0, "malformed JSON fails");
        contains(err ? err->msg : NULL, "config.json: invalid JSON at line 1, column ",
                 "syntax error names file, line and column");
        printf("# %s\n", err ? err->msg : "");
        cx_error_free(err);
        err = NULL;

        j = "{\n  \"a\": 1,\n  \"b\": tru\n}";
        ok(spec_parse(j, strlen(j), "config.json", NULL, &s, &err) < 0, "malformed JSON fails");
        contains(err ? err->msg : NULL, "line 3, column ", "line counted across newlines");
        printf("# %s\n", err ? err->msg : "");
        cx_error_free(err);
        err = NULL;

        j = "{\"a\": [1, 2";
        ok(spec_parse(j, strlen(j), "config.json", NULL, &s, &err) < 0, "truncated JSON fails");
        contains(err ? err->msg : NULL, "line 1, column 12", "truncated: column at end");
        printf("# %s\n", err ? err->msg : "");
        cx_error_free(err);
}

static void test_resources(void)
{
        struct spec_resources r = {0};
        struct cx_error *err = NULL;
        const char *j = "{\"memory\": {\"limit\": 100}, \"pids\": {\"limit\": 5}}";

        ok(spec_parse_resources(j, strlen(j), NULL, &r, &err) == 0 && r.has_memory &&
               r.memory.limit.v == 100 && r.pids_limit.v == 5,
           "standalone resources");
        spec_resources_clear(&r);
        j = "{\"memory\": {\"limit\": true}}";
        ok(spec_parse_resources(j, strlen(j), "resources.json", &r, &err) < 0, "bad resources");
        contains(err ? err->msg : NULL,
                 "resources.json: memory.limit: expected integer, got boolean",
                 "path starts at the top");
        cx_error_free(err);
}

static void test_default(bool rootless)
{
        _cleanup_free_ char *j = spec_default_json(rootless, 1234, 5678);
        struct spec *s = NULL;
        struct cx_error *err = NULL;

        ok(j != NULL, "default json (rootless=%d)", rootless);
        int r = spec_parse(j, strlen(j), "config.json", "/b", &s, &err);
        ok(r == 0, "default spec parses (%s)", err ? err->msg : "ok");
        if (r < 0)
                return;
        r = spec_validate(s, &err);
        ok(r == 0, "default spec validates (%s)", err ? err->msg : "ok");
        is_str(s->process.args[0], "sh", "args sh");
        ok(s->process.terminal && s->process.no_new_privileges, "terminal, noNewPrivileges");
        ok(s->process.caps.bounding == ((1ULL << 29) | (1ULL << 5) | (1ULL << 10)), "default caps");
        ok(s->linux_.ns[SPEC_NS_NETWORK].present == !rootless, "network ns iff rootful");
        ok(s->linux_.ns[SPEC_NS_USER].present == rootless, "user ns iff rootless");
        if (rootless)
                ok(s->linux_.uid_mappings[0].host_id == 1234 &&
                       s->linux_.gid_mappings[0].host_id == 5678,
                   "rootless maps the caller");
        ok(s->n_mounts == 7, "seven default mounts");
        is_str(s->root.path, "/b/rootfs", "root");
        cx_error_free(err);
        spec_free(s);
}

static void test_features(void)
{
        size_t n_opts = 0;
        _cleanup_free_ const char **opts = ns_mount_option_names(&n_opts);
        _cleanup_free_ char *j = spec_features_json(opts, n_opts);
        char buf[256];
        yajl_val v = yajl_tree_parse(j, buf, sizeof(buf));
        ok(v != NULL, "features JSON parses");
        const char *p1[] = {"ociVersionMax", NULL};
        is_str(YAJL_GET_STRING(yajl_tree_get(v, p1, yajl_t_string)), "1.2.0", "ociVersionMax");
        const char *p2[] = {"linux", "namespaces", NULL};
        yajl_val ns = yajl_tree_get(v, p2, yajl_t_array);
        ok(ns && ns->u.array.len == 8, "8 namespaces");
        const char *p3[] = {"linux", "seccomp", "archs", NULL};
        yajl_val a = yajl_tree_get(v, p3, yajl_t_array);
        ok(a && a->u.array.len >= 3, "seccomp archs listed");
        const char *p4[] = {"annotations", "run.capsa.version", NULL};
        ok(yajl_tree_get(v, p4, yajl_t_string) != NULL, "capsa version annotation");
        const char *p5[] = {"mountOptions", NULL};
        yajl_val mo = yajl_tree_get(v, p5, yajl_t_array);
        ok(mo && mo->u.array.len == n_opts, "every parser option listed");
        bool all_known = mo != NULL;
        for (size_t i = 0; mo && i < mo->u.array.len; i++) {
                char *one[] = {(char *)YAJL_GET_STRING(mo->u.array.values[i]), NULL};
                struct ns_mount_opts o = {0};
                all_known = all_known && one[0] && ns_mount_opts_parse(one, &o, NULL) == 0 &&
                            o.data == NULL;
                ns_mount_opts_clear(&o);
        }
        ok(all_known, "each listed option is one the parser knows (none passed on as data)");
        yajl_tree_free(v);
}

static void test_caps_ns(void)
{
        ok(spec_cap_from_name("CAP_SYS_ADMIN") == 21, "CAP_SYS_ADMIN is 21");
        ok(spec_cap_from_name("cap_kill") == 5, "case-insensitive");
        ok(spec_cap_from_name("SYS_ADMIN") == -EINVAL, "CAP_ prefix required");
        is_str(spec_cap_name(40), "CAP_CHECKPOINT_RESTORE", "cap 40 name");
        ok(spec_cap_name(99) == NULL, "unknown cap number");
        ok(spec_cap_last() >= 36, "cap_last_cap read");
        ok(spec_ns_clone_flag(SPEC_NS_TIME) == 0x80, "CLONE_NEWTIME");
        ok(spec_ns_clone_flag(SPEC_NS_USER) == CLONE_NEWUSER, "CLONE_NEWUSER");
}

static void test_load(void)
{
        char dir[] = "/tmp/capsa-test-spec-XXXXXX";
        struct spec *s = NULL;
        struct cx_error *err = NULL;
        char *raw = NULL;

        ok(spec_load("/nonexistent-capsa", &s, NULL, &err) < 0, "missing bundle");
        is_str(err ? err->msg : NULL, "bundle `/nonexistent-capsa`: No such file or directory",
               "missing bundle message");
        cx_error_free(err);
        err = NULL;
        if (!mkdtemp(dir))
                return;
        ok(spec_load(dir, &s, NULL, &err) < 0, "missing config.json");
        contains(err ? err->msg : NULL, "open config.json in bundle `", "names config.json");
        contains(err ? err->msg : NULL, "No such file or directory", "names the errno");
        cx_error_free(err);
        err = NULL;
        _cleanup_free_ char *path = xasprintf("%s/config.json", dir);
        _cleanup_free_ char *json = spec_default_json(false, 0, 0);
        FILE *f = fopen(path, "we");
        if (f) {
                fputs(json, f);
                fclose(f);
        }
        ok(spec_load(dir, &s, &raw, &err) == 0 && raw && !strcmp(raw, json), "load + raw");
        if (s) {
                ok(s->bundle[0] == '/' && str_has_prefix(s->root.path, s->bundle),
                   "root resolved under the absolute bundle");
        }
        spec_free(s);
        free(raw);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        test_full();
        test_errors();
        test_null_and_syntax();
        test_resources();
        test_default(false);
        test_default(true);
        test_features();
        test_caps_ns();
        test_load();
        return tap_done();
}
