/* spec: the "linux" object (namespaces, id maps, devices, propagation, personality...). */
#include "spec/internal.h"

#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *const spec_ns_type_names[SPEC_NS_MAX] = {
    [SPEC_NS_PID] = "pid",       [SPEC_NS_NETWORK] = "network", [SPEC_NS_MOUNT] = "mount",
    [SPEC_NS_IPC] = "ipc",       [SPEC_NS_UTS] = "uts",         [SPEC_NS_USER] = "user",
    [SPEC_NS_CGROUP] = "cgroup", [SPEC_NS_TIME] = "time",
};

int spec_ns_clone_flag(enum spec_ns_type t)
{
        static const int flags[SPEC_NS_MAX] = {
            [SPEC_NS_PID] = CLONE_NEWPID,       [SPEC_NS_NETWORK] = CLONE_NEWNET,
            [SPEC_NS_MOUNT] = CLONE_NEWNS,      [SPEC_NS_IPC] = CLONE_NEWIPC,
            [SPEC_NS_UTS] = CLONE_NEWUTS,       [SPEC_NS_USER] = CLONE_NEWUSER,
            [SPEC_NS_CGROUP] = CLONE_NEWCGROUP, [SPEC_NS_TIME] = CLONE_NEWTIME,
        };
        return (unsigned)t < SPEC_NS_MAX ? flags[t] : 0;
}

/* Index i: the flag set; the "r" variants add MS_REC. */
static const char *const propagation_names[] = {
    "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable",
};

static int parse_propagation(const struct jcur *c, unsigned long *ret)
{
        static const unsigned long flags[] = {MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE};
        int i, r;

        r = j_enum(c, "rootfsPropagation", propagation_names, ARRAY_SIZE(propagation_names),
                   "propagation", &i);
        if (r > 0)
                *ret = flags[i % 4] | (i >= 4 ? MS_REC : 0);
        return r;
}

static int parse_namespaces(const struct jcur *c, struct spec_linux *l)
{
        struct jcur a;
        int r = j_arr(c, "namespaces", &a);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < j_len(&a); i++) {
                struct jcur e = j_elem(&a, i);
                int t;
                if (!YAJL_IS_OBJECT(e.v))
                        return j_type_fail(&e, NULL, "object", e.v);
                if ((r = j_need(&e, "type")) < 0 ||
                    (r = j_enum(&e, "type", spec_ns_type_names, SPEC_NS_MAX, "namespace type",
                                &t)) < 0)
                        return r;
                if (l->ns[t].present)
                        return j_fail(&e, "type", "duplicate namespace \"%s\"",
                                      spec_ns_type_names[t]);
                l->ns[t].present = true;
                if ((r = j_str(&e, "path", &l->ns[t].path)) < 0)
                        return r;
                if (l->ns[t].path && !l->ns[t].path[0]) /* "" means: create a new one */
                        l->ns[t].path = (free(l->ns[t].path), NULL);
                if (l->ns[t].path && l->ns[t].path[0] != '/')
                        return j_fail(&e, "path", "must be an absolute path");
        }
        return 0;
}

static int parse_id_map(const struct jcur *c, void *slot)
{
        struct spec_id_map *m = slot;
        int r;

        if ((r = j_need(c, "containerID")) < 0 ||
            (r = j_u32(c, "containerID", &m->container_id)) < 0 || (r = j_need(c, "hostID")) < 0 ||
            (r = j_u32(c, "hostID", &m->host_id)) < 0 || (r = j_need(c, "size")) < 0 ||
            (r = j_u32(c, "size", &m->size)) < 0)
                return r;
        return 0;
}

int spec_parse_id_maps(const struct jcur *c, const char *key, struct spec_id_map **ret,
                       size_t *ret_n)
{
        return j_objv(c, key, sizeof(struct spec_id_map), (void **)ret, ret_n, parse_id_map);
}

static int parse_time_offset(const struct jcur *c, const char *key, struct spec_time_offset *t)
{
        struct jcur o;
        int64_t ns = 0;
        int r = j_obj(c, key, &o);
        if (r <= 0)
                return r;
        if ((r = j_i64(&o, "secs", &t->secs)) < 0 ||
            (r = j_range(&o, "nanosecs", 0, 999999999, &ns)) < 0)
                return r;
        t->nanosecs = (uint32_t)ns;
        t->set = true;
        return 0;
}

static int parse_time_offsets(const struct jcur *c, struct spec_linux *l)
{
        struct jcur o;
        int r = j_obj(c, "timeOffsets", &o);
        if (r <= 0)
                return r;
        if ((r = parse_time_offset(&o, "boottime", &l->time_boottime)) < 0 ||
            (r = parse_time_offset(&o, "monotonic", &l->time_monotonic)) < 0)
                return r;
        return 0;
}

static int parse_device(const struct jcur *c, void *slot)
{
        struct spec_device *d = slot;
        const char *type = NULL;
        int r;

        if ((r = j_need(c, "path")) < 0 || (r = j_str(c, "path", &d->path)) < 0 ||
            (r = j_need(c, "type")) < 0 || (r = j_cstr(c, "type", &type)) < 0)
                return r;
        if (d->path[0] != '/')
                return j_fail(c, "path", "must be an absolute path");
        if (strlen(type) != 1 || !strchr("cbup", type[0]))
                return j_fail(c, "type", "unknown device type \"%s\" (expected c, b, u or p)",
                              type);
        d->type = type[0];
        if (d->type != 'p' && ((r = j_need(c, "major")) < 0 || (r = j_need(c, "minor")) < 0))
                return r;
        if ((r = j_i64(c, "major", &d->major)) < 0 || (r = j_i64(c, "minor", &d->minor)) < 0 ||
            (r = j_opt_u64(c, "fileMode", &d->file_mode)) < 0 ||
            (r = j_opt_u64(c, "uid", &d->uid)) < 0 || (r = j_opt_u64(c, "gid", &d->gid)) < 0)
                return r;
        return 0;
}

static int parse_personality(const struct jcur *c, struct spec_linux *l)
{
        static const char *const domains[] = {"LINUX", "LINUX32"};
        struct jcur o;
        int i, r = j_obj(c, "personality", &o);
        if (r <= 0)
                return r;
        r = j_enum(&o, "domain", domains, ARRAY_SIZE(domains), "personality domain", &i);
        if (r < 0)
                return r;
        if (r > 0)
                l->personality_domain =
                    (struct spec_opt_u64){.set = true, .v = i == 0 ? PER_LINUX : PER_LINUX32};
        return 0;
}

int spec_parse_linux(const struct jcur *c, struct spec_linux *l)
{
        struct jcur o;
        int r;

        if ((r = parse_namespaces(c, l)) < 0 ||
            (r = spec_parse_id_maps(c, "uidMappings", &l->uid_mappings, &l->n_uid_mappings)) < 0 ||
            (r = spec_parse_id_maps(c, "gidMappings", &l->gid_mappings, &l->n_gid_mappings)) < 0 ||
            (r = parse_time_offsets(c, l)) < 0 ||
            (r = j_objv(c, "devices", sizeof(struct spec_device), (void **)&l->devices,
                        &l->n_devices, parse_device)) < 0 ||
            (r = j_str(c, "cgroupsPath", &l->cgroups_path)) < 0 ||
            (r = parse_propagation(c, &l->rootfs_propagation)) < 0 ||
            (r = j_kv(c, "sysctl", &l->sysctl, &l->n_sysctl)) < 0 ||
            (r = j_strv(c, "maskedPaths", &l->masked_paths)) < 0 ||
            (r = j_strv(c, "readonlyPaths", &l->readonly_paths)) < 0 ||
            (r = j_str(c, "mountLabel", &l->mount_label)) < 0 || (r = parse_personality(c, l)) < 0)
                return r;
        if ((r = j_obj(c, "resources", &o)) < 0 ||
            (r > 0 && (r = spec_parse_resources_at(&o, &l->resources)) < 0))
                return r;
        if ((r = j_obj(c, "seccomp", &o)) < 0 ||
            (r > 0 && (r = spec_parse_seccomp(&o, &l->seccomp)) < 0))
                return r;
        if ((r = j_obj(c, "intelRdt", &o)) < 0)
                return r;
        l->intel_rdt = r > 0;
        return 0;
}

void spec_linux_clear(struct spec_linux *l)
{
        for (int t = 0; t < SPEC_NS_MAX; t++)
                free(l->ns[t].path);
        free(l->uid_mappings);
        free(l->gid_mappings);
        for (size_t i = 0; i < l->n_devices; i++)
                free(l->devices[i].path);
        free(l->devices);
        free(l->cgroups_path);
        spec_resources_clear(&l->resources);
        spec_seccomp_clear(&l->seccomp);
        spec_kv_free(l->sysctl, l->n_sysctl);
        strv_free(l->masked_paths);
        strv_free(l->readonly_paths);
        free(l->mount_label);
        *l = (struct spec_linux){0};
}
