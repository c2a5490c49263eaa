/* A tenant's hardened defaults, applied to the loaded config before it is validated.
 *
 * Decisions (see the README, "Hosting untrusted tenants"):
 * - user namespace: always a new one mapping container ids 0-65535 to the tenant's range; a
 *   config with its own mappings or a user namespace path is refused (the tenant's range is the
 *   point).  The rootfs keeps its owner on disk: when the range does not own it, it is mounted
 *   idmapped, so a rootfs owned by host root works without chown.
 * - namespaces: pid, ipc, uts, mount, network and cgroup are added as new ones when the config
 *   does not list them; a tenant's container never shares the host's.  Namespaces the config
 *   joins by path are kept (the config's author chose them, not the tenant).
 * - seccomp: capsa's default profile (src/security/profile.c) when the config has none; a
 *   config's own profile is used as it is.
 * - noNewPrivileges: always on.
 * - capabilities: every set is cut to the default set below (what podman grants by default,
 *   plus AUDIT_WRITE, which `capsa spec` lists and a user namespace makes inert; no NET_RAW,
 *   no MKNOD); what else the config asks for is dropped with a
 *   warning naming it.  CAP_SYS_ADMIN and friends are never given to a tenant: even confined to
 *   its user namespace they open large kernel surfaces (filesystem mounts, netlink, bpf).
 * - pids limit: TENANT_PIDS_DEFAULT when linux.resources.pids.limit is not set. */
#include "container/internal.h"
#include "security/security.h"

#include <inttypes.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/stat.h>

#define CAPBIT(c) (UINT64_C(1) << (c))
static const uint64_t tenant_caps =
    CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FOWNER) | CAPBIT(CAP_FSETID) |
    CAPBIT(CAP_KILL) | CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETGID) |
    CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_SETUID) | CAPBIT(CAP_SYS_CHROOT) | CAPBIT(CAP_AUDIT_WRITE);

static int set_user_ns(uint32_t first_id, struct spec_linux *l, struct cx_error **err)
{
        struct spec_namespace *u = &l->ns[SPEC_NS_USER];
        if (u->path)
                return cx_error_msg(err, EINVAL,
                                    "linux.namespaces: a tenant's container gets a new user "
                                    "namespace; it cannot join `%s`",
                                    u->path);
        if (l->n_uid_mappings || l->n_gid_mappings)
                return cx_error_msg(err, EINVAL,
                                    "linux.uidMappings/gidMappings: a tenant's container is "
                                    "mapped to its tenant's range; remove them");
        u->present = true;
        l->uid_mappings = xcalloc(1, sizeof(*l->uid_mappings));
        l->gid_mappings = xcalloc(1, sizeof(*l->gid_mappings));
        l->uid_mappings[0] = (struct spec_id_map){0, first_id, STATE_TENANT_RANGE};
        l->gid_mappings[0] = l->uid_mappings[0];
        l->n_uid_mappings = l->n_gid_mappings = 1;
        static const int own[] = {SPEC_NS_PID,   SPEC_NS_IPC,     SPEC_NS_UTS,
                                  SPEC_NS_MOUNT, SPEC_NS_NETWORK, SPEC_NS_CGROUP};
        for (size_t i = 0; i < ARRAY_SIZE(own); i++)
                l->ns[own[i]].present = true;
        return 0;
}

static void cut_caps(struct spec_caps *c)
{
        uint64_t asked = c->bounding | c->effective | c->inheritable | c->permitted | c->ambient;
        uint64_t dropped = asked & ~tenant_caps;
        if (dropped) {
                char names[1024] = "";
                for (int cap = 0; cap < 64; cap++)
                        if ((dropped & CAPBIT(cap)) && spec_cap_name(cap) &&
                            strlen(names) + 32 < sizeof(names))
                                snprintf(names + strlen(names), sizeof(names) - strlen(names),
                                         "%s%s", names[0] ? ", " : "", spec_cap_name(cap));
                log_warn("process.capabilities: a tenant's container does not get %s", names);
        }
        c->bounding &= tenant_caps;
        c->effective &= tenant_caps;
        c->inheritable &= tenant_caps;
        c->permitted &= tenant_caps;
        c->ambient &= tenant_caps;
}

static void harden_process(struct spec *s, struct spec_process *p)
{
        if (!s->linux_.seccomp.present) {
                struct spec_seccomp *def = sec_default_profile(true);
                s->linux_.seccomp = *def;
                free(def);
        }
        p->no_new_privileges = true;
        cut_caps(&p->caps);
}

bool tenant_harden_exec(char *const *state_annotations, struct spec *s, struct spec_process *p)
{
        for (size_t i = 0; state_annotations && state_annotations[i] && state_annotations[i + 1];
             i += 2)
                if (strcmp(state_annotations[i], STATE_TENANT_ANNOTATION) == 0) {
                        harden_process(s, p);
                        return true;
                }
        return false;
}

static void add_annotation(struct spec *s, const char *name)
{
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, STATE_TENANT_ANNOTATION) == 0)
                        return;
        s->annotations = xrealloc(s->annotations, (s->n_annotations + 1) * sizeof(struct spec_kv));
        s->annotations[s->n_annotations++] =
            (struct spec_kv){.key = xstrdup(STATE_TENANT_ANNOTATION), .value = xstrdup(name)};
}

static bool in_range(uint32_t id, uint32_t first_id)
{
        return id >= first_id && (uint64_t)id < (uint64_t)first_id + STATE_TENANT_RANGE;
}

int tenant_harden(const char *name, uint32_t first_id, struct spec *s, bool *ret_rootfs_idmap,
                  struct cx_error **err)
{
        struct spec_linux *l = &s->linux_;
        int r = set_user_ns(first_id, l, err);
        if (r < 0)
                return cx_error_prefix(err, "tenant `%s`", name);
        harden_process(s, &s->process);
        if (!l->resources.pids_limit.set) {
                l->resources.present = true;
                l->resources.has_pids = true;
                l->resources.pids_limit =
                    (struct spec_opt_i64){.set = true, .v = TENANT_PIDS_DEFAULT};
        }
        add_annotation(s, name);

        struct stat st;
        if (stat(s->root.path, &st) < 0)
                return cx_error_set(err, errno, "root.path: rootfs `%s`", s->root.path);
        *ret_rootfs_idmap = !in_range(st.st_uid, first_id) || !in_range(st.st_gid, first_id);
        log_debug("tenant `%s`: host ids %" PRIu32 "+%u, rootfs %s", name, first_id,
                  STATE_TENANT_RANGE, *ret_rootfs_idmap ? "idmapped" : "owned by the range");
        return 0;
}

int tenant_name(const char *opt, const struct spec *s, const char **ret_name, struct cx_error **err)
{
        const char *ann = NULL;
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, STATE_TENANT_ANNOTATION) == 0)
                        ann = s->annotations[i].value;
        if (opt && ann && strcmp(opt, ann) != 0)
                return cx_error_msg(err, EINVAL,
                                    "--tenant `%s` and annotations[\"" STATE_TENANT_ANNOTATION
                                    "\"] `%s` disagree",
                                    opt, ann);
        const char *name = opt ? opt : ann;
        int r;
        if (name &&
            (r = state_tenant_name_validate(
                 name, opt ? "--tenant" : "annotations[\"" STATE_TENANT_ANNOTATION "\"]", err)) < 0)
                return r;
        *ret_name = name;
        return 0;
}
