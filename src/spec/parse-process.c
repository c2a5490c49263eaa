/* spec: the "process" object (user, capabilities, rlimits, scheduling, LSM labels). */
#include "spec/internal.h"

#include <sys/resource.h>

static const char *const rlimit_names[] = {
    [RLIMIT_CPU] = "RLIMIT_CPU",           [RLIMIT_FSIZE] = "RLIMIT_FSIZE",
    [RLIMIT_DATA] = "RLIMIT_DATA",         [RLIMIT_STACK] = "RLIMIT_STACK",
    [RLIMIT_CORE] = "RLIMIT_CORE",         [RLIMIT_RSS] = "RLIMIT_RSS",
    [RLIMIT_NPROC] = "RLIMIT_NPROC",       [RLIMIT_NOFILE] = "RLIMIT_NOFILE",
    [RLIMIT_MEMLOCK] = "RLIMIT_MEMLOCK",   [RLIMIT_AS] = "RLIMIT_AS",
    [RLIMIT_LOCKS] = "RLIMIT_LOCKS",       [RLIMIT_SIGPENDING] = "RLIMIT_SIGPENDING",
    [RLIMIT_MSGQUEUE] = "RLIMIT_MSGQUEUE", [RLIMIT_NICE] = "RLIMIT_NICE",
    [RLIMIT_RTPRIO] = "RLIMIT_RTPRIO",     [RLIMIT_RTTIME] = "RLIMIT_RTTIME",
};

/* Indexed by SCHED_* policy number (SCHED_ISO is 4, reserved by the kernel). */
static const char *const sched_policy_names[] = {
    "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",       "SCHED_BATCH",
    "SCHED_ISO",   "SCHED_IDLE", "SCHED_DEADLINE",
};

/* Indexed by bit number: SCHED_FLAG_RESET_ON_FORK is 0x01, ... */
static const char *const sched_flag_names[] = {
    "SCHED_FLAG_RESET_ON_FORK",  "SCHED_FLAG_RECLAIM",     "SCHED_FLAG_DL_OVERRUN",
    "SCHED_FLAG_KEEP_POLICY",    "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
    "SCHED_FLAG_UTIL_CLAMP_MAX",
};

/* Indexed by IOPRIO_CLASS_* value. */
static const char *const ioprio_class_names[] = {
    NULL,
    "IOPRIO_CLASS_RT",
    "IOPRIO_CLASS_BE",
    "IOPRIO_CLASS_IDLE",
};

static int parse_user(const struct jcur *c, struct spec_user *u)
{
        struct jcur a;
        int r;

        if ((r = j_u32(c, "uid", &u->uid)) < 0 || (r = j_u32(c, "gid", &u->gid)) < 0 ||
            (r = j_opt_u64(c, "umask", &u->umask)) < 0 ||
            (r = j_str(c, "username", &u->username)) < 0)
                return r;
        if (u->umask.set && u->umask.v > 0777)
                return j_fail(c, "umask", "%llu out of range (expected 0..0777)",
                              (unsigned long long)u->umask.v);
        r = j_arr(c, "additionalGids", &a);
        if (r <= 0)
                return r;
        u->n_additional_gids = j_len(&a);
        u->additional_gids = xcalloc(u->n_additional_gids + 1, sizeof(uint32_t));
        for (size_t i = 0; i < u->n_additional_gids; i++) {
                struct jcur e = j_elem(&a, i);
                int64_t x;
                if ((r = j_self_range(&e, 0, UINT32_MAX, &x)) < 0)
                        return r;
                u->additional_gids[i] = (uint32_t)x;
        }
        return 0;
}

static int add_cap(const struct jcur *e, const char *name, void *ctx)
{
        int cap = spec_cap_from_name(name);
        if (cap < 0)
                return j_fail(e, NULL, "unknown capability \"%s\"", name);
        *(uint64_t *)ctx |= UINT64_C(1) << cap;
        return 0;
}

static int parse_cap_set(const struct jcur *c, const char *key, uint64_t *ret)
{
        uint64_t mask = 0;
        int r = j_each_str(c, key, add_cap, &mask);
        if (r > 0)
                *ret = mask;
        return r;
}

static int parse_caps(const struct jcur *p, struct spec_caps *caps)
{
        struct jcur c;
        int r = j_obj(p, "capabilities", &c);
        if (r <= 0)
                return r;
        caps->present = true;
        if ((r = parse_cap_set(&c, "bounding", &caps->bounding)) < 0 ||
            (r = parse_cap_set(&c, "effective", &caps->effective)) < 0 ||
            (r = parse_cap_set(&c, "inheritable", &caps->inheritable)) < 0 ||
            (r = parse_cap_set(&c, "permitted", &caps->permitted)) < 0 ||
            (r = parse_cap_set(&c, "ambient", &caps->ambient)) < 0)
                return r;
        return 0;
}

static int parse_rlimit(const struct jcur *c, void *slot)
{
        struct spec_rlimit *rl = slot;
        int r;

        if ((r = j_need(c, "type")) < 0 ||
            (r = j_enum(c, "type", rlimit_names, ARRAY_SIZE(rlimit_names), "rlimit",
                        &rl->resource)) < 0 ||
            (r = j_str(c, "type", &rl->name)) < 0 || (r = j_need(c, "soft")) < 0 ||
            (r = j_u64(c, "soft", &rl->soft)) < 0 || (r = j_need(c, "hard")) < 0 ||
            (r = j_u64(c, "hard", &rl->hard)) < 0)
                return r;
        return 0;
}

static int parse_rlimits(const struct jcur *c, struct spec_process *p)
{
        int r = j_objv(c, "rlimits", sizeof(struct spec_rlimit), (void **)&p->rlimits,
                       &p->n_rlimits, parse_rlimit);
        if (r <= 0)
                return r;
        for (size_t i = 1; i < p->n_rlimits; i++) {
                for (size_t j = 0; j < i; j++) {
                        if (p->rlimits[i].resource != p->rlimits[j].resource)
                                continue;
                        struct jcur a, e;
                        j_elem_of(c, "rlimits", i, &a, &e);
                        return j_fail(&e, "type", "duplicate rlimit \"%s\"", p->rlimits[i].name);
                }
        }
        return 0;
}

static int parse_io_priority(const struct jcur *p, struct spec_io_priority *io)
{
        struct jcur c;
        int64_t prio = 0;
        int r = j_obj(p, "ioPriority", &c);
        if (r <= 0)
                return r;
        if ((r = j_need(&c, "class")) < 0 ||
            (r = j_enum(&c, "class", ioprio_class_names, ARRAY_SIZE(ioprio_class_names),
                        "I/O priority class", &io->class_)) < 0 ||
            (r = j_range(&c, "priority", 0, 7, &prio)) < 0)
                return r;
        io->priority = (int)prio;
        io->set = true;
        return 0;
}

static int add_sched_flag(const struct jcur *e, const char *name, void *ctx)
{
        int bit = j_lookup(sched_flag_names, ARRAY_SIZE(sched_flag_names), name);
        if (bit < 0)
                return j_fail(e, NULL, "unknown scheduler flag \"%s\"", name);
        *(uint64_t *)ctx |= UINT64_C(1) << bit;
        return 0;
}

static int parse_scheduler(const struct jcur *p, struct spec_scheduler *s)
{
        struct jcur c;
        int64_t nice = 0;
        int r = j_obj(p, "scheduler", &c);
        if (r <= 0)
                return r;
        if ((r = j_need(&c, "policy")) < 0 ||
            (r = j_enum(&c, "policy", sched_policy_names, ARRAY_SIZE(sched_policy_names),
                        "scheduler policy", &s->policy)) < 0 ||
            (r = j_range(&c, "nice", -20, 19, &nice)) < 0 ||
            (r = j_int(&c, "priority", &s->priority)) < 0 ||
            (r = j_each_str(&c, "flags", add_sched_flag, &s->flags)) < 0 ||
            (r = j_u64(&c, "runtime", &s->runtime)) < 0 ||
            (r = j_u64(&c, "deadline", &s->deadline)) < 0 ||
            (r = j_u64(&c, "period", &s->period)) < 0)
                return r;
        s->nice = (int)nice;
        s->set = true;
        return 0;
}

static int parse_console_size(const struct jcur *p, struct spec_console_size *cs)
{
        struct jcur c;
        uint32_t h = 0, w = 0;
        int r = j_obj(p, "consoleSize", &c);
        if (r <= 0)
                return r;
        if ((r = j_u32(&c, "height", &h)) < 0 || (r = j_u32(&c, "width", &w)) < 0)
                return r;
        cs->height = h;
        cs->width = w;
        cs->set = true;
        return 0;
}

int spec_parse_process(const struct jcur *c, struct spec_process *p)
{
        struct jcur u;
        int64_t oom;
        int r;

        if ((r = j_bool(c, "terminal", &p->terminal)) < 0 ||
            (r = parse_console_size(c, &p->console_size)) < 0 || (r = j_obj(c, "user", &u)) < 0 ||
            (r > 0 && (r = parse_user(&u, &p->user)) < 0) ||
            (r = j_strv(c, "args", &p->args)) < 0 || (r = j_strv(c, "env", &p->env)) < 0 ||
            (r = j_str(c, "cwd", &p->cwd)) < 0 || (r = parse_caps(c, &p->caps)) < 0 ||
            (r = parse_rlimits(c, p)) < 0 ||
            (r = j_bool(c, "noNewPrivileges", &p->no_new_privileges)) < 0 ||
            (r = j_str(c, "apparmorProfile", &p->apparmor_profile)) < 0 ||
            (r = j_str(c, "selinuxLabel", &p->selinux_label)) < 0 ||
            (r = parse_io_priority(c, &p->io_priority)) < 0 ||
            (r = parse_scheduler(c, &p->scheduler)) < 0)
                return r;
        r = j_range(c, "oomScoreAdj", -1000, 1000, &oom);
        if (r < 0)
                return r;
        if (r > 0)
                p->oom_score_adj = (struct spec_opt_i64){.set = true, .v = oom};
        return 0;
}

void spec_process_clear(struct spec_process *p)
{
        free(p->user.additional_gids);
        free(p->user.username);
        strv_free(p->args);
        strv_free(p->env);
        free(p->cwd);
        for (size_t i = 0; i < p->n_rlimits; i++)
                free(p->rlimits[i].name);
        free(p->rlimits);
        free(p->apparmor_profile);
        free(p->selinux_label);
        *p = (struct spec_process){0};
}

static int parse_process_top(struct jcur *top, void *out)
{
        return spec_parse_process(top, out);
}

int spec_parse_process_json(const char *json, size_t len, const char *name,
                            struct spec_process *ret, struct cx_error **err)
{
        struct spec_process p = {0};
        if (!name)
                name = "process";
        int r = j_parse_object(json, len, name, err, parse_process_top, &p);
        if (r >= 0 && (!p.args || !p.args[0]))
                r = cx_error_msg(err, EINVAL, "args: must not be empty");
        else if (r >= 0 && (!p.cwd || p.cwd[0] != '/'))
                r = cx_error_msg(err, EINVAL, "cwd: must be an absolute path");
        if (r < 0) {
                spec_process_clear(&p);
                return cx_error_prefix(err, "%s", name);
        }
        *ret = p;
        return 0;
}
