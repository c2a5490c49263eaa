/* Device access control on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
 * generated from the device rule list and attached to the container's cgroup.
 *
 * Semantics follow the v1 devices controller as runc emulates it: the rules are read from the
 * last to the first and the first one that matches decides (the last matching rule wins); a
 * rule of type `a` replaces everything before it, so it becomes the default and ends the
 * program; with no such rule the default is to allow (a new v1 cgroup inherits "a *:* rwm").
 *
 * The program is built by hand (no libbpf): the context is struct bpf_cgroup_dev_ctx
 * {access_type = access << 16 | type, major, minor}.  Loading needs no RLIMIT_MEMLOCK on
 * kernels >= 5.11 (BPF memory is charged to the memory cgroup); capsa never raises the limit.
 * An update attaches the new program with BPF_F_ALLOW_MULTI first and then detaches the
 * programs that were there before, so the cgroup is never left without a filter. */
#include "cgroups/cgroups-internal.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>

#define INSN(c, d, s, o, i)                                                                        \
        ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(d, s, off)   INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, off, 0)
#define ALU_K(op, d, imm)  INSN(BPF_ALU64 | (op) | BPF_K, d, 0, 0, imm)
#define MOV_R(d, s)        INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV_K(d, imm)      INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, imm)
#define JNE_K(d, imm, off) INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, off, imm)
#define EXIT()             INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct prog {
        struct bpf_insn *v;
        size_t n, cap;
};

static void emit(struct prog *p, struct bpf_insn i)
{
        if (p->n == p->cap)
                p->v = xrealloc(p->v, (p->cap = p->cap ? 2 * p->cap : 64) * sizeof(*p->v));
        p->v[p->n++] = i;
}

static int access_bits(const char *access)
{
        char buf[4];
        int bits = 0;
        for (const char *a = cg_device_access(access, buf); *a; a++)
                bits |= *a == 'm'   ? BPF_DEVCG_ACC_MKNOD
                        : *a == 'r' ? BPF_DEVCG_ACC_READ
                                    : BPF_DEVCG_ACC_WRITE;
        return bits;
}

static const int all_access = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

/* One rule: a block of checks, each jumping past the block when it fails, then the verdict. */
static void emit_rule(struct prog *p, const struct spec_device_cgroup *d)
{
        int acc = access_bits(d->access);
        bool type = d->type != 'a', access = acc != all_access;
        bool major = d->major.set && d->major.v >= 0, minor = d->minor.set && d->minor.v >= 0;
        size_t end = p->n + type + 3 * access + major + minor + 2; /* first insn after block */
#define SKIP() ((short)(end - p->n - 1))
        if (type)
                emit(p, JNE_K(BPF_REG_2, d->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR,
                              SKIP()));
        if (access) {
                /* the request must be a subset of the rule's access */
                emit(p, MOV_R(BPF_REG_1, BPF_REG_3));
                emit(p, ALU_K(BPF_AND, BPF_REG_1, ~acc & all_access));
                emit(p, JNE_K(BPF_REG_1, 0, SKIP()));
        }
        if (major)
                emit(p, JNE_K(BPF_REG_4, (int)d->major.v, SKIP()));
        if (minor)
                emit(p, JNE_K(BPF_REG_5, (int)d->minor.v, SKIP()));
#undef SKIP
        emit(p, MOV_K(BPF_REG_0, d->allow ? 1 : 0));
        emit(p, EXIT());
}

/* The whole program: load the context, then the rules from the last to the first. */
static void build(const struct spec_device_cgroup *rules, size_t n, struct prog *p)
{
        emit(p, LDX_W(BPF_REG_2, BPF_REG_1, 0));
        emit(p, ALU_K(BPF_AND, BPF_REG_2, 0xffff));
        emit(p, LDX_W(BPF_REG_3, BPF_REG_1, 0));
        emit(p, ALU_K(BPF_RSH, BPF_REG_3, 16));
        emit(p, LDX_W(BPF_REG_4, BPF_REG_1, 4));
        emit(p, LDX_W(BPF_REG_5, BPF_REG_1, 8));
        for (size_t i = n; i-- > 0;) {
                if (rules[i].type == 'a') {
                        emit(p, MOV_K(BPF_REG_0, rules[i].allow ? 1 : 0));
                        emit(p, EXIT());
                        return;
                }
                if (access_bits(rules[i].access) != 0) /* no access left: no effect */
                        emit_rule(p, &rules[i]);
        }
        emit(p, MOV_K(BPF_REG_0, 1));
        emit(p, EXIT());
}

static int sys_bpf(int cmd, union bpf_attr *attr)
{
        return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int load(const struct prog *p, struct cx_error **err)
{
        static const char license[] = "Apache-2.0";
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = (uint64_t)(uintptr_t)p->v;
        attr.insn_cnt = (uint32_t)p->n;
        attr.license = (uint64_t)(uintptr_t)license;
        int fd = sys_bpf(BPF_PROG_LOAD, &attr);
        if (fd >= 0)
                return fd;
        int e = errno;
        /* load again with the verifier's log, for the error message */
        _cleanup_free_ char *log = xcalloc(1, 4096);
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = 4096;
        attr.log_level = 1;
        fd = sys_bpf(BPF_PROG_LOAD, &attr);
        if (fd >= 0)
                return fd;
        log[4095] = '\0';
        errno = e;
        if (e == EPERM)
                return cx_error_set(err, e,
                                    "linux.resources.devices: load the eBPF device filter "
                                    "(%zu instructions; kernels before 5.11 need RLIMIT_MEMLOCK, "
                                    "which capsa does not raise)",
                                    p->n);
        return cx_error_set(err, e, "linux.resources.devices: load the eBPF device filter (%s)",
                            *log ? log : "no verifier log");
}

/* The ids of the device programs attached to the cgroup right now. */
static int query(int cgfd, uint32_t *ids, uint32_t *n, struct cx_error **err)
{
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.query.target_fd = cgfd;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
        attr.query.prog_cnt = *n;
        if (sys_bpf(BPF_PROG_QUERY, &attr) < 0)
                return cx_error_set(err, errno, "query the eBPF device filters");
        *n = attr.query.prog_cnt;
        return 0;
}

static int detach(int cgfd, uint32_t id, struct cx_error **err)
{
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.prog_id = id;
        _cleanup_close_ int pfd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
        if (pfd < 0)
                return errno == ENOENT ? 0 : cx_error_set(err, errno, "open eBPF program %u", id);
        memset(&attr, 0, sizeof(attr));
        attr.target_fd = cgfd;
        attr.attach_bpf_fd = pfd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
                return cx_error_set(err, errno, "detach the old eBPF device filter %u", id);
        return 0;
}

int cg_bpf_devices_apply(const struct cg_manager *m, const char *dir,
                         const struct spec_resources *r, struct cx_error **err)
{
        _cleanup_free_ struct spec_device_cgroup *rules = NULL;
        size_t n = 0;
        cg_device_rules(r, &rules, &n);
        struct prog p = {0};
        build(rules, n, &p);
        int pfd = load(&p, err);
        free(p.v);
        if (pfd < 0)
                return pfd;
        _cleanup_close_ int prog = pfd;
        _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgfd < 0)
                return cx_error_set(err, errno, "open %s", dir);
        uint32_t old[64], n_old = ARRAY_SIZE(old);
        int q = query(cgfd, old, &n_old, err);
        if (q < 0)
                return q;
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.target_fd = cgfd;
        attr.attach_bpf_fd = prog;
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
                return cx_error_set(err, errno,
                                    "linux.resources.devices: attach the eBPF device filter to %s",
                                    dir);
        for (uint32_t i = 0; i < n_old && i < ARRAY_SIZE(old); i++)
                if ((q = detach(cgfd, old[i], err)) < 0)
                        return q;
        log_debug("cgroup: eBPF device filter (%zu rules) attached to %s", n, dir);
        return 0;
}
