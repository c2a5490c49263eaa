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
 * As runc (libcontainer/seccomp/patchbpf), a short program goes before libseccomp's when the
 * default action refuses: syscalls numbered above the highest one the profile names (for each
 * architecture it lists) fail with ENOSYS, so that libc falls back from calls newer than the
 * profile (clone3 -> clone, faccessat2 -> faccessat) instead of seeing EPERM or being killed.
 *
 * Kernel interfaces: seccomp(2), memfd_create(2) (to collect libseccomp's BPF export). */
#include "security/security.h"

#include <ctype.h>
#include <linux/audit.h>
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

/* libseccomp's token for an OCI architecture name ("SCMP_ARCH_X86_64"); 0 if unknown. */
static uint32_t arch_token(const char *a)
{
        char lower[32];
        size_t j;

        if (str_has_prefix(a, "SCMP_ARCH_"))
                a += strlen("SCMP_ARCH_");
        for (j = 0; a[j] && j < sizeof(lower) - 1; j++)
                lower[j] = (char)tolower((unsigned char)a[j]);
        lower[j] = '\0';
        return seccomp_arch_resolve_name(lower);
}

static int add_architectures(scmp_filter_ctx ctx, char *const *archs, struct cx_error **err)
{
        for (size_t i = 0; archs && archs[i]; i++) {
                uint32_t token = arch_token(archs[i]);
                int r;

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

/* ---- the -ENOSYS stub ------------------------------------------------------------------------
 *
 * runc's rule, exactly: no stub when the default action lets calls through (ALLOW, LOG, TRACE);
 * otherwise, for each architecture in linux.seccomp.architectures, the highest syscall number
 * any rule names (whatever its action; unknown names ignored), and an architecture whose rules
 * name none is left out.  The program sees the kernel's AUDIT_ARCH value: x32 is a mode of
 * x86_64 (bit 30 of the syscall number), so x86_64 and x32 share one section and each mode
 * compares with its own highest number; on s390 syscall 0 multiplexes numbers the kernel does
 * not know, and gets ENOSYS too.  Without the native architecture in the list (runc's tests
 * list only SCMP_ARCH_X86 and SCMP_ARCH_X32), native calls go straight to the filter.
 *
 * Each architecture gets a self-contained section that ends in its own `ret ENOSYS`, so every
 * jump is short:
 *      ld  [arch]
 *      jeq AUDIT_ARCH, 0, <next section>
 *      ld  [nr]
 *      <checks: jump to the ret for ENOSYS, to the next section to go on>
 *      ret ERRNO(ENOSYS)
 * and libseccomp's program, which loads the architecture again, follows the last section. */

#define X32_SYSCALL_BIT 0x40000000u

struct stub_arch {
        uint32_t audit;   /* AUDIT_ARCH_* as seccomp_data.arch */
        uint32_t max;     /* highest syscall in native mode, 0: none */
        uint32_t max_x32; /* x86_64 only: highest x32 syscall (bit 30 set), 0: none */
        bool s390;
};

static bool action_lets_through(enum spec_seccomp_action a)
{
        return a == SPEC_SCMP_ALLOW || a == SPEC_SCMP_LOG || a == SPEC_SCMP_TRACE;
}

static uint32_t highest_syscall(const struct spec_seccomp *s, uint32_t token)
{
        int max = 0;

        for (size_t i = 0; i < s->n_syscalls; i++)
                for (char *const *n = s->syscalls[i].names; n && *n; n++) {
                        int nr = seccomp_syscall_resolve_name_arch(token, *n);
                        if (nr > max)
                                max = nr;
                }
        return (uint32_t)max;
}

/* The architectures the stub covers; returns how many (at most the number listed). */
static size_t stub_archs(const struct spec_seccomp *s, struct stub_arch *ret)
{
        size_t n = 0;

        for (size_t i = 0; s->architectures && s->architectures[i]; i++) {
                uint32_t token = arch_token(s->architectures[i]);
                if (token == SCMP_ARCH_NATIVE)
                        token = seccomp_arch_native();
                uint32_t max = token ? highest_syscall(s, token) : 0;
                if (max == 0)
                        continue;
                uint32_t audit = token == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : token;
                size_t k;
                for (k = 0; k < n && ret[k].audit != audit; k++)
                        ;
                if (k == n)
                        ret[n++] = (struct stub_arch){.audit = audit,
                                                      .s390 = token == SCMP_ARCH_S390 ||
                                                              token == SCMP_ARCH_S390X};
                if (token == SCMP_ARCH_X32)
                        ret[k].max_x32 = max;
                else
                        ret[k].max = max;
        }
        return n;
}

/* A check of a section: a conditional jump whose targets are other checks (by index), the
 * section's `ret ENOSYS` (RET) or the next section (OUT). */
enum { RET = 100, OUT = 101 };
struct stub_check {
        uint16_t op;
        uint32_t k;
        int jt, jf;
};

static size_t stub_section(const struct stub_arch *a, struct sock_filter *p)
{
        struct stub_check c[3];
        size_t nc = 0, n = 0;

        if (a->max && a->max_x32) { /* both modes: bit 30 picks the comparison */
                c[nc++] = (struct stub_check){BPF_JSET, X32_SYSCALL_BIT, 2, 1};
                c[nc++] = (struct stub_check){BPF_JGT, a->max, RET, OUT};
                c[nc++] = (struct stub_check){BPF_JGT, a->max_x32, RET, OUT};
        } else if (a->audit == AUDIT_ARCH_X86_64) { /* one mode: the other goes on */
                bool x32 = a->max_x32 != 0;
                c[nc++] =
                    (struct stub_check){BPF_JSET, X32_SYSCALL_BIT, x32 ? 1 : OUT, x32 ? OUT : 1};
                c[nc++] = (struct stub_check){BPF_JGT, x32 ? a->max_x32 : a->max, RET, OUT};
        } else {
                if (a->s390)
                        c[nc++] = (struct stub_check){BPF_JEQ, 0, RET, 1};
                c[nc++] = (struct stub_check){BPF_JGT, a->max, RET, OUT};
        }

        p[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, arch));
        /* jf: to the next section, past the checks and the ret */
        p[n++] =
            (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, a->audit, 0, (uint8_t)(nc + 2));
        p[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, nr));
        for (size_t i = 0; i < nc; i++) {
                /* a target index among the checks, RET = nc, OUT = nc + 1; offsets count from
                 * the next instruction */
                int t = c[i].jt == RET ? (int)nc : c[i].jt == OUT ? (int)nc + 1 : c[i].jt;
                int f = c[i].jf == RET ? (int)nc : c[i].jf == OUT ? (int)nc + 1 : c[i].jf;
                p[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | c[i].op | BPF_K, c[i].k,
                                                      (uint8_t)(t - (int)i - 1),
                                                      (uint8_t)(f - (int)i - 1));
        }
        p[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SCMP_ACT_ERRNO(ENOSYS));
        return n;
}

/* Prepends the stub to prog when the profile calls for one. */
static int prepend_enosys_stub(const struct spec_seccomp *s, uint32_t def_action,
                               struct sock_fprog *prog, struct cx_error **err)
{
        if (action_lets_through(s->default_action) || def_action == SCMP_ACT_ERRNO(ENOSYS))
                return 0; /* (the default returning ENOSYS already does what the stub would) */
        size_t n_listed = strv_len(s->architectures);
        if (n_listed == 0)
                return 0;
        _cleanup_free_ struct stub_arch *archs = xcalloc(n_listed, sizeof(*archs));
        size_t n_archs = stub_archs(s, archs);
        if (n_archs == 0)
                return 0;
        /* a section is at most 3 + 3 checks + 1 instructions */
        _cleanup_free_ struct sock_filter *p = xcalloc(n_archs * 7 + prog->len, sizeof(*p));
        size_t n = 0;
        for (size_t i = 0; i < n_archs; i++)
                n += stub_section(&archs[i], p + n);
        if (n + prog->len > BPF_MAXINSNS)
                return cx_error_msg(err, E2BIG,
                                    "linux.seccomp: the compiled filter has %zu instructions "
                                    "(at most %d fit in a seccomp program)",
                                    n + prog->len, BPF_MAXINSNS);
        memcpy(p + n, prog->filter, prog->len * sizeof(*p));
        free(prog->filter);
        prog->len = (unsigned short)(n + prog->len);
        prog->filter = TAKE_PTR(p);
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
        _cleanup_(sec_filter_freep) struct sec_filter *f = NULL;
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
        r = prepend_enosys_stub(s, def_action, &f->prog, err);
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
