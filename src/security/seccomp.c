/* seccomp: linux.seccomp -> libseccomp -> classic BPF, loaded later with one syscall.
 *
 * The filter is compiled (and exported to BPF) before the container waits for `start`, so
 * that the init does the least possible work between `start` and execve: sec_seccomp_load is
 * a single seccomp(SECCOMP_SET_MODE_FILTER) call that neither allocates nor parses.  Because
 * capsa loads the program itself, the filter flags (LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV,
 * NEW_LISTENER) are passed to seccomp(2) directly instead of through libseccomp attributes;
 * this also makes WAIT_KILLABLE_RECV work with libseccomp versions that do not know it.
 *
 * Rules follow runc and crun: unknown syscall names are skipped (a newer profile on an older
 * kernel/libseccomp), rules whose action equals the default action are skipped (the kernel
 * would do the same thing), and when one rule compares the same argument more than once, each
 * comparison becomes a rule of its own (so the conditions are OR-ed, as in runc and crun;
 * different arguments in one rule are AND-ed).
 *
 * Kernel interfaces: seccomp(2), memfd_create(2) (to collect libseccomp's BPF export). */
#include "security/security.h"

#include <ctype.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

struct sec_filter {
        struct sock_fprog prog;
        unsigned long flags; /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

static const struct {
        const char *name;
        unsigned long flag;
} seccomp_flags[] = {
    /* The init is single-threaded: TSYNC has nothing to synchronise, but is accepted. */
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

static int parse_flags(char *const *flags, unsigned long *ret, struct cx_error **err)
{
        unsigned long f = 0;

        for (size_t i = 0; flags && flags[i]; i++) {
                size_t j;

                for (j = 0; j < ARRAY_SIZE(seccomp_flags); j++)
                        if (strcmp(flags[i], seccomp_flags[j].name) == 0)
                                break;
                if (j == ARRAY_SIZE(seccomp_flags))
                        return cx_error_msg(err, EINVAL,
                                            "linux.seccomp.flags[%zu]: unknown flag \"%s\"", i,
                                            flags[i]);
                f |= seccomp_flags[j].flag;
        }
        *ret = f;
        return 0;
}

static uint32_t to_action(enum spec_seccomp_action a, const struct spec_opt_u64 *errno_ret,
                          uint64_t default_errno)
{
        uint16_t e = (uint16_t)(errno_ret && errno_ret->set ? errno_ret->v : default_errno);

        switch (a) {
        case SPEC_SCMP_KILL:
                return SCMP_ACT_KILL;
        case SPEC_SCMP_KILL_PROCESS:
                return SCMP_ACT_KILL_PROCESS;
        case SPEC_SCMP_KILL_THREAD:
                return SCMP_ACT_KILL_THREAD;
        case SPEC_SCMP_TRAP:
                return SCMP_ACT_TRAP;
        case SPEC_SCMP_ERRNO:
                return SCMP_ACT_ERRNO(e);
        case SPEC_SCMP_TRACE:
                return SCMP_ACT_TRACE(e);
        case SPEC_SCMP_ALLOW:
                return SCMP_ACT_ALLOW;
        case SPEC_SCMP_LOG:
                return SCMP_ACT_LOG;
        case SPEC_SCMP_NOTIFY:
                return SCMP_ACT_NOTIFY;
        }
        return SCMP_ACT_KILL_PROCESS;
}

static enum scmp_compare to_op(enum spec_seccomp_op op)
{
        switch (op) {
        case SPEC_SCMP_CMP_NE:
                return SCMP_CMP_NE;
        case SPEC_SCMP_CMP_LT:
                return SCMP_CMP_LT;
        case SPEC_SCMP_CMP_LE:
                return SCMP_CMP_LE;
        case SPEC_SCMP_CMP_EQ:
                return SCMP_CMP_EQ;
        case SPEC_SCMP_CMP_GE:
                return SCMP_CMP_GE;
        case SPEC_SCMP_CMP_GT:
                return SCMP_CMP_GT;
        case SPEC_SCMP_CMP_MASKED_EQ:
                return SCMP_CMP_MASKED_EQ;
        }
        return _SCMP_CMP_MIN;
}

static void seccomp_ctxp(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

static int add_architectures(scmp_filter_ctx ctx, char *const *archs, struct cx_error **err)
{
        for (size_t i = 0; archs && archs[i]; i++) {
                const char *a = archs[i];
                char lower[32];
                uint32_t token;
                size_t j;
                int r;

                if (str_has_prefix(a, "SCMP_ARCH_"))
                        a += strlen("SCMP_ARCH_");
                for (j = 0; a[j] && j < sizeof(lower) - 1; j++)
                        lower[j] = (char)tolower((unsigned char)a[j]);
                lower[j] = '\0';
                token = seccomp_arch_resolve_name(lower);
                if (token == 0)
                        return cx_error_msg(err, EINVAL,
                                            "linux.seccomp.architectures[%zu]: unknown "
                                            "architecture \"%s\"",
                                            i, archs[i]);
                r = seccomp_arch_add(ctx, token);
                if (r < 0 && r != -EEXIST)
                        return cx_error_set(err, -r, "linux.seccomp.architectures[%zu]: add %s", i,
                                            archs[i]);
        }
        return 0;
}

/* True when some argument index is compared more than once in this rule. */
static bool same_arg_twice(const struct spec_seccomp_syscall *sc)
{
        unsigned seen = 0;

        for (size_t k = 0; k < sc->n_args; k++) {
                unsigned bit = 1u << (sc->args[k].index & 31);

                if (seen & bit)
                        return true;
                seen |= bit;
        }
        return false;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr,
                    const struct spec_seccomp_syscall *sc, size_t idx, const char *name,
                    struct cx_error **err)
{
        struct scmp_arg_cmp cmp[6];
        int r;

        if (sc->n_args > ARRAY_SIZE(cmp))
                return cx_error_msg(err, EINVAL,
                                    "linux.seccomp.syscalls[%zu].args: at most 6 comparisons "
                                    "are supported, got %zu",
                                    idx, sc->n_args);
        for (size_t k = 0; k < sc->n_args; k++) {
                if (sc->args[k].index >= 6)
                        return cx_error_msg(err, EINVAL,
                                            "linux.seccomp.syscalls[%zu].args[%zu].index: %u is "
                                            "not a syscall argument (0-5)",
                                            idx, k, sc->args[k].index);
                cmp[k] = (struct scmp_arg_cmp){.arg = sc->args[k].index,
                                               .op = to_op(sc->args[k].op),
                                               .datum_a = sc->args[k].value,
                                               .datum_b = sc->args[k].value_two};
        }
        if (!same_arg_twice(sc)) {
                r = seccomp_rule_add_array(ctx, action, nr, (unsigned)sc->n_args, cmp);
        } else {
                r = 0;
                for (size_t k = 0; k < sc->n_args && r >= 0; k++)
                        r = seccomp_rule_add_array(ctx, action, nr, 1, &cmp[k]);
        }
        if (r < 0)
                return cx_error_set(err, -r, "linux.seccomp.syscalls[%zu]: add rule for `%s`", idx,
                                    name);
        return 0;
}

static int add_syscalls(scmp_filter_ctx ctx, const struct spec_seccomp *s, uint32_t def_action,
                        bool *ret_notify, struct cx_error **err)
{
        *ret_notify = s->default_action == SPEC_SCMP_NOTIFY;
        for (size_t i = 0; i < s->n_syscalls; i++) {
                const struct spec_seccomp_syscall *sc = &s->syscalls[i];
                uint32_t action = to_action(sc->action, &sc->errno_ret, EPERM);

                if (action == def_action)
                        continue;
                for (size_t j = 0; sc->names && sc->names[j]; j++) {
                        int nr = seccomp_syscall_resolve_name(sc->names[j]);
                        int r;

                        if (nr == __NR_SCMP_ERROR) {
                                log_debug("seccomp: unknown syscall `%s` skipped", sc->names[j]);
                                continue;
                        }
                        r = add_rule(ctx, action, nr, sc, i, sc->names[j], err);
                        if (r < 0)
                                return r;
                        if (sc->action == SPEC_SCMP_NOTIFY)
                                *ret_notify = true;
                }
        }
        return 0;
}

/* libseccomp writes the program to an fd; collect it through a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *ret, struct cx_error **err)
{
        _cleanup_close_ int fd = memfd_create("capsa-seccomp", MFD_CLOEXEC);
        _cleanup_free_ struct sock_filter *insns = NULL;
        struct stat st;
        size_t n;
        int r;

        if (fd < 0)
                return cx_error_set(err, errno, "memfd_create for the seccomp filter");
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return cx_error_set(err, -r, "export the seccomp filter to BPF");
        if (fstat(fd, &st) < 0)
                return cx_error_set(err, errno, "fstat the exported seccomp filter");
        n = (size_t)st.st_size / sizeof(struct sock_filter);
        if (n == 0 || n > BPF_MAXINSNS || (size_t)st.st_size % sizeof(struct sock_filter))
                return cx_error_msg(err, E2BIG,
                                    "linux.seccomp: the compiled filter has %zu bytes "
                                    "(at most %d instructions fit in a seccomp program)",
                                    (size_t)st.st_size, BPF_MAXINSNS);
        insns = xmalloc((size_t)st.st_size);
        if (pread(fd, insns, (size_t)st.st_size, 0) != st.st_size)
                return cx_error_set(err, errno ? errno : EIO, "read the exported seccomp filter");
        ret->len = (unsigned short)n;
        ret->filter = TAKE_PTR(insns);
        return 0;
}

int sec_seccomp_compile(const struct spec_seccomp *s, struct sec_filter **ret,
                        struct cx_error **err)
{
        _cleanup_(seccomp_ctxp) scmp_filter_ctx ctx = NULL;
        _cleanup_free_ struct sec_filter *f = NULL;
        uint32_t def_action;
        unsigned long flags = 0;
        bool notify = false;
        int r;

        *ret = NULL;
        if (!s || !s->present)
                return 0;
        r = parse_flags(s->flags, &flags, err);
        if (r < 0)
                return r;
        def_action = to_action(s->default_action, &s->default_errno_ret, EPERM);
        ctx = seccomp_init(def_action);
        if (!ctx)
                return cx_error_msg(err, EINVAL,
                                    "linux.seccomp.defaultAction: libseccomp rejects it "
                                    "(seccomp_init failed)");
        r = add_architectures(ctx, s->architectures, err);
        if (r < 0)
                return r;
        r = add_syscalls(ctx, s, def_action, &notify, err);
        if (r < 0)
                return r;

        f = xcalloc(1, sizeof(*f));
        r = export_bpf(ctx, &f->prog, err);
        if (r < 0)
                return r;
        if (notify) /* the kernel refuses TSYNC with a listener (single-threaded: not needed) */
                f->flags = (flags & ~SECCOMP_FILTER_FLAG_TSYNC) | SECCOMP_FILTER_FLAG_NEW_LISTENER;
        else /* the kernel refuses WAIT_KILLABLE_RECV without a listener */
                f->flags = flags & ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        *ret = TAKE_PTR(f);
        return 0;
}

int sec_seccomp_load(struct sec_filter *f, int *ret_notify_fd, struct cx_error **err)
{
        long r;

        if (ret_notify_fd)
                *ret_notify_fd = -1;
        if (!f)
                return 0;
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, f->flags, &f->prog);
        if (r < 0) {
                if (errno == EACCES)
                        return cx_error_set(err, errno,
                                            "load the seccomp filter (needs no_new_privs or "
                                            "CAP_SYS_ADMIN)");
                return cx_error_set(err, errno, "load the seccomp filter (flags %#lx)", f->flags);
        }
        if (f->flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
                if (ret_notify_fd)
                        *ret_notify_fd = (int)r;
                else
                        close((int)r);
        }
        return 0;
}

void sec_filter_free(struct sec_filter *f)
{
        if (!f)
                return;
        free(f->prog.filter);
        free(f);
}

void sec_filter_freep(struct sec_filter **f)
{
        sec_filter_free(*f);
}

bool sec_filter_has_listener(const struct sec_filter *f)
{
        return f && (f->flags & SECCOMP_FILTER_FLAG_NEW_LISTENER);
}
