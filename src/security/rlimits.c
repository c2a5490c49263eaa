/* process.rlimits: setrlimit(2) for each entry, with a clear error when a hard limit cannot be
 * raised (that needs CAP_SYS_RESOURCE, which some hosts withhold from their containers).
 *
 * Kernel interfaces: setrlimit(2), getrlimit(2), /proc/sys/fs/nr_open (for RLIMIT_NOFILE). */
#include "security/internal.h"
#include "security/security.h"

#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>

bool sec_have_effective_cap(int cap)
{
        cap_t caps = cap_get_proc();
        cap_flag_value_t v = CAP_CLEAR;

        if (!caps)
                return false;
        if (cap_get_flag(caps, (cap_value_t)cap, CAP_EFFECTIVE, &v) < 0)
                v = CAP_CLEAR;
        cap_free(caps);
        return v == CAP_SET;
}

static void fmt_limit(uint64_t v, char *buf, size_t len)
{
        if (v == (uint64_t)RLIM_INFINITY)
                snprintf(buf, len, "unlimited");
        else
                snprintf(buf, len, "%llu", (unsigned long long)v);
}

static int rlimit_error(const struct spec_rlimit *r, const struct rlimit *cur, int e,
                        struct cx_error **err)
{
        char want[24], now[24];

        fmt_limit(r->hard, want, sizeof(want));
        fmt_limit(cur->rlim_max, now, sizeof(now));
        if (e != EPERM || r->hard <= (uint64_t)cur->rlim_max)
                return cx_error_set(err, e, "process.rlimits: setrlimit(%s, soft %llu, hard %s)",
                                    r->name, (unsigned long long)r->soft, want);
        if (!sec_have_effective_cap(CAP_SYS_RESOURCE))
                return cx_error_msg(err, EPERM,
                                    "process.rlimits: cannot raise %s hard limit to %s "
                                    "(current %s): capsa lacks CAP_SYS_RESOURCE",
                                    r->name, want, now);
        if (r->resource == RLIMIT_NOFILE)
                return cx_error_msg(err, EPERM,
                                    "process.rlimits: cannot raise %s hard limit to %s "
                                    "(current %s): it exceeds the kernel's fs.nr_open",
                                    r->name, want, now);
        return cx_error_set(err, EPERM,
                            "process.rlimits: cannot raise %s hard limit to %s (current %s)",
                            r->name, want, now);
}

int sec_rlimits_apply(const struct spec_rlimit *r, size_t n, struct cx_error **err)
{
        for (size_t i = 0; i < n; i++) {
                struct rlimit want = {.rlim_cur = r[i].soft, .rlim_max = r[i].hard};
                struct rlimit cur;

                if (r[i].soft > r[i].hard)
                        return cx_error_msg(err, EINVAL,
                                            "process.rlimits: %s soft limit %llu exceeds its "
                                            "hard limit %llu",
                                            r[i].name, (unsigned long long)r[i].soft,
                                            (unsigned long long)r[i].hard);
                if (getrlimit(r[i].resource, &cur) < 0)
                        return cx_error_set(err, errno, "process.rlimits: getrlimit(%s)",
                                            r[i].name);
                if (setrlimit(r[i].resource, &want) < 0)
                        return rlimit_error(&r[i], &cur, errno, err);
        }
        return 0;
}
