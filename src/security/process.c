/* Process attributes: oom_score_adj, I/O priority, scheduler, no_new_privs and the session
 * keyring.
 *
 * Kernel interfaces: /proc/self/oom_score_adj, ioprio_set(2), sched_setattr(2),
 * prctl(PR_SET_NO_NEW_PRIVS), keyctl(2) (KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_DESCRIBE,
 * KEYCTL_SETPERM).  glibc wraps none of the last three syscalls, so they are called directly. */
#include "security/internal.h"
#include "security/security.h"

#include <fcntl.h>
#include <linux/ioprio.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define KEY_USR_SEARCH_BIT 0x00080000u /* "user may search" in a key's permission mask */

/* sched_setattr(2)'s argument (SCHED_ATTR_SIZE_VER1).  <linux/sched/types.h> has it too, but
 * its struct sched_param clashes with glibc's <sched.h>. */
struct capsa_sched_attr {
        uint32_t size;
        uint32_t sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime;
        uint64_t sched_deadline;
        uint64_t sched_period;
        uint32_t sched_util_min;
        uint32_t sched_util_max;
};

static const char *sched_policy_name(int policy)
{
        static const char *const names[] = {"SCHED_OTHER",   "SCHED_FIFO", "SCHED_RR",
                                            "SCHED_BATCH",   "SCHED_ISO",  "SCHED_IDLE",
                                            "SCHED_DEADLINE"};

        if (policy >= 0 && (size_t)policy < ARRAY_SIZE(names))
                return names[policy];
        return "unknown policy";
}

static const char *ioprio_class_name(int class_)
{
        switch (class_) {
        case IOPRIO_CLASS_RT:
                return "IOPRIO_CLASS_RT";
        case IOPRIO_CLASS_BE:
                return "IOPRIO_CLASS_BE";
        case IOPRIO_CLASS_IDLE:
                return "IOPRIO_CLASS_IDLE";
        }
        return "unknown class";
}

static int read_oom_score_adj(int *ret)
{
        char buf[32] = {0};
        _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (read(fd, buf, sizeof(buf) - 1) < 0)
                return -errno;
        *ret = atoi(buf);
        return 0;
}

static int apply_oom_score_adj(int64_t v, struct cx_error **err)
{
        _cleanup_close_ int fd = -1;
        char buf[32];
        int cur = 0, n;

        if (v < -1000 || v > 1000)
                return cx_error_msg(err, EINVAL,
                                    "process.oomScoreAdj: %lld is out of range (-1000..1000)",
                                    (long long)v);
        fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno,
                                    "process.oomScoreAdj: open /proc/self/oom_score_adj");
        n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
        if (write(fd, buf, (size_t)n) == n)
                return 0;
        if ((errno == EACCES || errno == EPERM) && read_oom_score_adj(&cur) == 0 && v < cur)
                return cx_error_msg(err, errno,
                                    "process.oomScoreAdj: cannot lower oom_score_adj to %lld "
                                    "(current %d): %s",
                                    (long long)v, cur,
                                    sec_have_effective_cap(CAP_SYS_RESOURCE)
                                        ? "refused by the kernel"
                                        : "capsa lacks CAP_SYS_RESOURCE");
        return cx_error_set(err, errno,
                            "process.oomScoreAdj: write %lld to /proc/self/oom_score_adj",
                            (long long)v);
}

static int apply_io_priority(const struct spec_io_priority *p, struct cx_error **err)
{
        int v = IOPRIO_PRIO_VALUE(p->class_, p->priority);

        if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) < 0)
                return cx_error_set(err, errno, "process.ioPriority: ioprio_set(%s, %d)",
                                    ioprio_class_name(p->class_), p->priority);
        return 0;
}

static int apply_scheduler(const struct spec_scheduler *s, struct cx_error **err)
{
        struct capsa_sched_attr attr = {
            .size = sizeof(attr),
            .sched_policy = (uint32_t)s->policy,
            .sched_flags = s->flags,
            .sched_nice = s->nice,
            .sched_priority = (uint32_t)s->priority,
            .sched_runtime = s->runtime,
            .sched_deadline = s->deadline,
            .sched_period = s->period,
        };

        if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
                return cx_error_set(err, errno,
                                    "process.scheduler: sched_setattr(%s, nice %d, priority %d, "
                                    "flags %#llx)",
                                    sched_policy_name(s->policy), s->nice, s->priority,
                                    (unsigned long long)s->flags);
        return 0;
}

int sec_process_attrs_apply(const struct spec_process *p, struct cx_error **err)
{
        int r;

        if (p->oom_score_adj.set) {
                r = apply_oom_score_adj(p->oom_score_adj.v, err);
                if (r < 0)
                        return r;
        }
        if (p->io_priority.set) {
                r = apply_io_priority(&p->io_priority, err);
                if (r < 0)
                        return r;
        }
        if (p->scheduler.set) {
                r = apply_scheduler(&p->scheduler, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sec_no_new_privs(struct cx_error **err)
{
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return cx_error_set(err, errno,
                                    "process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS)");
        return 0;
}

/* Adds "user may search" to the keyring's permissions, as runc does, so the container's user
 * can use its own session keyring. */
static int keyring_make_searchable(long key, struct cx_error **err)
{
        char desc[256];
        unsigned long perm;
        long n;
        char *p;

        n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, key, desc, sizeof(desc), 0);
        if (n < 0)
                return cx_error_set(err, errno, "describe the session keyring");
        desc[sizeof(desc) - 1] = '\0';
        /* "type;uid;gid;perm;description" */
        p = desc;
        for (int i = 0; i < 3 && p; i++) {
                p = strchr(p, ';');
                if (p)
                        p++;
        }
        if (!p)
                return cx_error_msg(err, EINVAL, "unexpected session keyring description `%s`",
                                    desc);
        perm = strtoul(p, NULL, 16);
        if (syscall(SYS_keyctl, KEYCTL_SETPERM, key, perm | KEY_USR_SEARCH_BIT, 0, 0) < 0)
                return cx_error_set(err, errno, "set the session keyring's permissions");
        return 0;
}

int sec_new_session_keyring(const char *id, struct cx_error **err)
{
        _cleanup_free_ char *name = id ? xasprintf("_ses.%s", id) : NULL;
        long key;

        key = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0);
        if (key < 0) {
                /* Keyrings are a best-effort isolation (as in runc): a kernel without them
                 * (or a seccomp profile of an outer container that hides them) is fine. */
                if (errno == ENOSYS)
                        return 0;
                return cx_error_set(err, errno, "join a new session keyring `%s`",
                                    name ? name : "(anonymous)");
        }
        return keyring_make_searchable(key, err);
}
