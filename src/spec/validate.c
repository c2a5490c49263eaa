/* spec: cross-field rules (each error names the JSON path it is about).
 *
 * sysctl rules are the namespaces subsystem's (ns_sysctl_validate); whether capsa holds the
 * requested capabilities is sec_caps_check's.  Both read the running system; these do not. */
#include "spec/internal.h"

static int validate_process(const struct spec *s, struct cx_error **err)
{
        const struct spec_process *p = &s->process;

        if (!s->has_process)
                return cx_error_msg(err, EINVAL, "process: required");
        if (!p->args || !p->args[0])
                return cx_error_msg(err, EINVAL, "process.args: must not be empty");
        if (!p->cwd || p->cwd[0] != '/')
                return cx_error_msg(err, EINVAL, "process.cwd: must be an absolute path");
        return 0;
}

static int validate_userns(const struct spec_linux *l, struct cx_error **err)
{
        const struct spec_namespace *u = &l->ns[SPEC_NS_USER];
        bool maps = l->n_uid_mappings || l->n_gid_mappings;

        if (maps && !u->present)
                return cx_error_msg(err, EINVAL,
                                    "linux.uidMappings: id mappings given, but linux.namespaces "
                                    "has no user namespace");
        if (maps && u->path)
                return cx_error_msg(err, EINVAL,
                                    "linux.uidMappings: id mappings given, but the user namespace "
                                    "is joined by path (give one or the other)");
        if (u->present && !u->path && !maps)
                return cx_error_msg(err, EINVAL,
                                    "linux.namespaces: user namespaces enabled, but no uid/gid "
                                    "mappings (linux.uidMappings, linux.gidMappings)");
        if (u->present && !u->path && !l->n_uid_mappings)
                return cx_error_msg(err, EINVAL,
                                    "linux.uidMappings: required with a new user "
                                    "namespace");
        if (u->present && !u->path && !l->n_gid_mappings)
                return cx_error_msg(err, EINVAL,
                                    "linux.gidMappings: required with a new user "
                                    "namespace");
        return 0;
}

static int validate_linux(const struct spec *s, struct cx_error **err)
{
        const struct spec_linux *l = &s->linux_;
        const struct spec_namespace *t = &l->ns[SPEC_NS_TIME];
        int r;

        if ((r = validate_userns(l, err)) < 0)
                return r;
        if ((l->time_boottime.set || l->time_monotonic.set) && (!t->present || t->path))
                return cx_error_msg(err, EINVAL,
                                    "linux.timeOffsets: require a new time namespace "
                                    "in linux.namespaces");
        if (s->hostname && s->hostname[0] && !l->ns[SPEC_NS_UTS].present)
                return cx_error_msg(err, EINVAL,
                                    "hostname: requires a UTS namespace in linux.namespaces");
        if (s->domainname && s->domainname[0] && !l->ns[SPEC_NS_UTS].present)
                return cx_error_msg(err, EINVAL,
                                    "domainname: requires a UTS namespace in linux.namespaces");
        if (l->intel_rdt)
                return cx_error_msg(err, EOPNOTSUPP, "linux.intelRdt: not supported");
        return 0;
}

static int validate_seccomp(const struct spec_seccomp *sc, struct cx_error **err)
{
        bool notify = false;

        if (!sc->present)
                return 0;
        if (sc->default_action == SPEC_SCMP_NOTIFY)
                return cx_error_msg(err, EINVAL,
                                    "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY "
                                    "cannot be the default action");
        for (size_t i = 0; i < sc->n_syscalls; i++)
                notify |= sc->syscalls[i].action == SPEC_SCMP_NOTIFY;
        if (notify && (!sc->listener_path || !sc->listener_path[0]))
                return cx_error_msg(err, EINVAL,
                                    "linux.seccomp.listenerPath: required when an "
                                    "action is SCMP_ACT_NOTIFY");
        return 0;
}

int spec_validate(const struct spec *s, struct cx_error **err)
{
        int r;

        if ((r = validate_process(s, err)) < 0)
                return r;
        if (!s->root.path || !s->root.path[0])
                return cx_error_msg(err, EINVAL, "root.path: required");
        for (size_t i = 0; i < s->n_mounts; i++)
                if (!s->mounts[i].destination || s->mounts[i].destination[0] != '/')
                        return cx_error_msg(err, EINVAL,
                                            "mounts[%zu].destination: must be an "
                                            "absolute path",
                                            i);
        if ((r = validate_linux(s, err)) < 0 || (r = validate_seccomp(&s->linux_.seccomp, err)) < 0)
                return r;
        return 0;
}
