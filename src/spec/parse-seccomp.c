/* spec: linux.seccomp. */
#include "spec/internal.h"

#include <string.h>

const char *const spec_seccomp_action_names[] = {
    [SPEC_SCMP_KILL] = "SCMP_ACT_KILL",
    [SPEC_SCMP_KILL_PROCESS] = "SCMP_ACT_KILL_PROCESS",
    [SPEC_SCMP_KILL_THREAD] = "SCMP_ACT_KILL_THREAD",
    [SPEC_SCMP_TRAP] = "SCMP_ACT_TRAP",
    [SPEC_SCMP_ERRNO] = "SCMP_ACT_ERRNO",
    [SPEC_SCMP_TRACE] = "SCMP_ACT_TRACE",
    [SPEC_SCMP_ALLOW] = "SCMP_ACT_ALLOW",
    [SPEC_SCMP_LOG] = "SCMP_ACT_LOG",
    [SPEC_SCMP_NOTIFY] = "SCMP_ACT_NOTIFY",
};
const size_t spec_seccomp_n_actions = ARRAY_SIZE(spec_seccomp_action_names);

const char *const spec_seccomp_op_names[] = {
    [SPEC_SCMP_CMP_NE] = "SCMP_CMP_NE",
    [SPEC_SCMP_CMP_LT] = "SCMP_CMP_LT",
    [SPEC_SCMP_CMP_LE] = "SCMP_CMP_LE",
    [SPEC_SCMP_CMP_EQ] = "SCMP_CMP_EQ",
    [SPEC_SCMP_CMP_GE] = "SCMP_CMP_GE",
    [SPEC_SCMP_CMP_GT] = "SCMP_CMP_GT",
    [SPEC_SCMP_CMP_MASKED_EQ] = "SCMP_CMP_MASKED_EQ",
};
const size_t spec_seccomp_n_ops = ARRAY_SIZE(spec_seccomp_op_names);

const char *const spec_seccomp_flag_names[] = {
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};
const size_t spec_seccomp_n_flags = ARRAY_SIZE(spec_seccomp_flag_names);

const char *const spec_seccomp_arch_names[] = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",   "SCMP_ARCH_X32",         "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",     "SCMP_ARCH_MIPS64",      "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",   "SCMP_ARCH_PPC64LE",  "SCMP_ARCH_S390",        "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",  "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
};
const size_t spec_seccomp_n_archs = ARRAY_SIZE(spec_seccomp_arch_names);

static int parse_action(const struct jcur *c, const char *key, enum spec_seccomp_action *ret)
{
        int i, r;

        if ((r = j_need(c, key)) < 0 || (r = j_enum(c, key, spec_seccomp_action_names,
                                                    spec_seccomp_n_actions, "action", &i)) < 0)
                return r;
        *ret = (enum spec_seccomp_action)i;
        return 0;
}

static int parse_arg(const struct jcur *c, void *slot)
{
        struct spec_seccomp_arg *a = slot;
        int64_t idx;
        int op, r;

        if ((r = j_need(c, "index")) < 0 || (r = j_range(c, "index", 0, 5, &idx)) < 0 ||
            (r = j_need(c, "value")) < 0 || (r = j_u64(c, "value", &a->value)) < 0 ||
            (r = j_u64(c, "valueTwo", &a->value_two)) < 0 || (r = j_need(c, "op")) < 0 ||
            (r = j_enum(c, "op", spec_seccomp_op_names, spec_seccomp_n_ops, "operator", &op)) < 0)
                return r;
        a->index = (unsigned)idx;
        a->op = (enum spec_seccomp_op)op;
        return 0;
}

static int parse_syscall(const struct jcur *c, void *slot)
{
        struct spec_seccomp_syscall *s = slot;
        int r;

        if ((r = j_need(c, "names")) < 0 || (r = j_strv(c, "names", &s->names)) < 0)
                return r;
        if (!s->names[0])
                return j_fail(c, "names", "must not be empty");
        if ((r = parse_action(c, "action", &s->action)) < 0 ||
            (r = j_opt_u64(c, "errnoRet", &s->errno_ret)) < 0 ||
            (r = j_objv(c, "args", sizeof(struct spec_seccomp_arg), (void **)&s->args, &s->n_args,
                        parse_arg)) < 0)
                return r;
        /* As runc: the runtime hands the listener fd over with write-family calls made under
         * the filter, so an agent could never receive it (runc refuses the name "write" only;
         * its wording, which runc's own tests match). */
        for (size_t i = 0; s->action == SPEC_SCMP_NOTIFY && s->names[i]; i++) {
                if (strcmp(s->names[i], "write") != 0)
                        continue;
                struct jcur a, e;
                j_elem_of(c, "names", i, &a, &e);
                return j_fail(&e, NULL, "SCMP_ACT_NOTIFY cannot be used for the write syscall");
        }
        return 0;
}

/* Checks each string of a vector against a table; the error names the element. */
static int check_names(const struct jcur *c, const char *key, char **v, const char *const *names,
                       size_t n, const char *what)
{
        for (size_t i = 0; v && v[i]; i++) {
                if (j_lookup(names, n, v[i]) >= 0)
                        continue;
                struct jcur a, e;
                j_elem_of(c, key, i, &a, &e);
                return j_fail(&e, NULL, "unknown %s \"%s\"", what, v[i]);
        }
        return 0;
}

int spec_parse_seccomp(const struct jcur *c, struct spec_seccomp *s)
{
        int r;

        s->present = true;
        if ((r = parse_action(c, "defaultAction", &s->default_action)) < 0)
                return r;
        if (s->default_action == SPEC_SCMP_NOTIFY) /* as runc, for the reason above */
                return j_fail(c, "defaultAction",
                              "SCMP_ACT_NOTIFY cannot be used as default action");
        if ((r = j_opt_u64(c, "defaultErrnoRet", &s->default_errno_ret)) < 0 ||
            (r = j_strv(c, "architectures", &s->architectures)) < 0 ||
            (r = check_names(c, "architectures", s->architectures, spec_seccomp_arch_names,
                             spec_seccomp_n_archs, "architecture")) < 0 ||
            (r = j_strv(c, "flags", &s->flags)) < 0 ||
            (r = check_names(c, "flags", s->flags, spec_seccomp_flag_names, spec_seccomp_n_flags,
                             "flag")) < 0 ||
            (r = j_str(c, "listenerPath", &s->listener_path)) < 0 ||
            (r = j_str(c, "listenerMetadata", &s->listener_metadata)) < 0 ||
            (r = j_objv(c, "syscalls", sizeof(struct spec_seccomp_syscall), (void **)&s->syscalls,
                        &s->n_syscalls, parse_syscall)) < 0)
                return r;
        return 0;
}

void spec_seccomp_clear(struct spec_seccomp *s)
{
        strv_free(s->architectures);
        strv_free(s->flags);
        free(s->listener_path);
        free(s->listener_metadata);
        for (size_t i = 0; i < s->n_syscalls; i++) {
                strv_free(s->syscalls[i].names);
                free(s->syscalls[i].args);
        }
        free(s->syscalls);
        *s = (struct spec_seccomp){0};
}
