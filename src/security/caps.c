/* Capabilities: checking what capsa itself can grant, dropping the bounding set, and switching
 * to the process user while keeping the configured capability sets.
 *
 * Kernel interfaces: prctl(PR_CAPBSET_READ/DROP, PR_SET_KEEPCAPS, PR_CAP_AMBIENT), capset(2)
 * through libcap, setgroups(2), setresgid(2), setresuid(2), /proc/self/setgroups. */
#include "security/security.h"

#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>

struct cap_set_desc {
        const char *name; /* JSON key below process.capabilities */
        uint64_t mask;
};

static const char *cap_label(int cap, char *buf, size_t len)
{
        const char *n = spec_cap_name(cap);

        if (n)
                return n;
        snprintf(buf, len, "capability %d", cap);
        return buf;
}

static void caps_sets(const struct spec_caps *c, struct cap_set_desc ret[5])
{
        ret[0] = (struct cap_set_desc){"bounding", c->bounding};
        ret[1] = (struct cap_set_desc){"effective", c->effective};
        ret[2] = (struct cap_set_desc){"inheritable", c->inheritable};
        ret[3] = (struct cap_set_desc){"permitted", c->permitted};
        ret[4] = (struct cap_set_desc){"ambient", c->ambient};
}

/* Returns 1 when cap is in capsa's own bounding set, 0 when not, negative errno on error. */
static int cap_in_own_bounding(int cap)
{
        int r = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);

        return r < 0 ? -errno : r;
}

int sec_caps_check(const struct spec_caps *c, struct cx_error **err)
{
        struct cap_set_desc sets[5];
        int last = spec_cap_last();
        char buf[32];

        if (!c || !c->present)
                return 0;
        caps_sets(c, sets);
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                for (int cap = 0; cap < 64; cap++) {
                        int r;

                        if (!(sets[i].mask & (UINT64_C(1) << cap)))
                                continue;
                        if (cap > last)
                                return cx_error_msg(err, EINVAL,
                                                    "process.capabilities.%s: %s is unknown to "
                                                    "the running kernel (its last capability is "
                                                    "%d); remove it from the config",
                                                    sets[i].name, cap_label(cap, buf, sizeof(buf)),
                                                    last);
                        r = cap_in_own_bounding(cap);
                        if (r < 0)
                                return cx_error_set(err, -r, "prctl(PR_CAPBSET_READ, %s)",
                                                    cap_label(cap, buf, sizeof(buf)));
                        if (r == 0)
                                return cx_error_msg(err, EPERM,
                                                    "process.capabilities.%s: %s is not in "
                                                    "capsa's own bounding set (the host "
                                                    "withholds it); remove it from the config",
                                                    sets[i].name, cap_label(cap, buf, sizeof(buf)));
                }
        }
        return 0;
}

int sec_caps_drop_bounding(const struct spec_caps *c, struct cx_error **err)
{
        uint64_t keep = c && c->present ? c->bounding : 0;
        int last = spec_cap_last();
        char buf[32];

        for (int cap = 0; cap <= last; cap++) {
                if (cap < 64 && (keep & (UINT64_C(1) << cap)))
                        continue;
                if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0) {
                        /* EINVAL: the kernel does not know it, nothing to drop. */
                        if (errno == EINVAL)
                                continue;
                        return cx_error_set(err, errno, "drop %s from the bounding set",
                                            cap_label(cap, buf, sizeof(buf)));
                }
        }
        return 0;
}

/* True when /proc/self/setgroups says "deny" (setgroups disabled in this user namespace). */
static bool setgroups_denied(void)
{
        char buf[16] = {0};
        _cleanup_close_ int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);

        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
                return false;
        return strncmp(buf, "deny", 4) == 0;
}

static int switch_ids(const struct spec_user *u, struct cx_error **err)
{
        gid_t *gids = NULL;

        if (u->n_additional_gids > 0)
                gids = (gid_t *)u->additional_gids; /* uint32_t and gid_t are both 32 bits */
        if (setgroups(u->n_additional_gids, gids) < 0) {
                int e = errno;

                if (!(e == EPERM && setgroups_denied()))
                        return cx_error_set(err, e, "setgroups(%zu groups)", u->n_additional_gids);
                if (u->n_additional_gids > 0)
                        return cx_error_msg(err, EPERM,
                                            "process.user.additionalGids: setgroups is denied in "
                                            "this user namespace (/proc/self/setgroups is "
                                            "\"deny\"); remove the additional groups");
        }
        if (setresgid(u->gid, u->gid, u->gid) < 0)
                return cx_error_set(err, errno, "setresgid(%u)", u->gid);
        if (setresuid(u->uid, u->uid, u->uid) < 0)
                return cx_error_set(err, errno, "setresuid(%u)", u->uid);
        return 0;
}

static void cap_t_freep(cap_t *p)
{
        if (*p)
                cap_free(*p);
}

static int caps_set_flag(cap_t caps, cap_flag_t flag, uint64_t mask)
{
        for (int cap = 0; cap < 64; cap++) {
                cap_value_t v = cap;

                if (!(mask & (UINT64_C(1) << cap)))
                        continue;
                if (cap_set_flag(caps, flag, 1, &v, CAP_SET) < 0)
                        return -errno;
        }
        return 0;
}

static int apply_caps(const struct spec_caps *c, struct cx_error **err)
{
        _cleanup_(cap_t_freep) cap_t caps = cap_init();
        uint64_t e = 0, p = 0, i = 0;
        int r;

        if (!caps)
                return cx_error_set(err, errno, "cap_init");
        if (c && c->present) {
                e = c->effective;
                p = c->permitted;
                i = c->inheritable;
        }
        if ((r = caps_set_flag(caps, CAP_EFFECTIVE, e)) < 0 ||
            (r = caps_set_flag(caps, CAP_PERMITTED, p)) < 0 ||
            (r = caps_set_flag(caps, CAP_INHERITABLE, i)) < 0)
                return cx_error_set(err, -r, "cap_set_flag");
        if (cap_set_proc(caps) < 0)
                return cx_error_set(err, errno,
                                    "set capabilities (effective %#llx, permitted %#llx, "
                                    "inheritable %#llx)",
                                    (unsigned long long)e, (unsigned long long)p,
                                    (unsigned long long)i);
        return 0;
}

static int apply_ambient(const struct spec_caps *c, struct cx_error **err)
{
        /* The kernel only lets ambient capabilities that are permitted and inheritable be
         * raised.  runc skips the others silently, and its default config (ambient without
         * inheritable) depends on that, so we skip them too (with a debug line). */
        uint64_t amb = c && c->present ? c->ambient & c->permitted & c->inheritable : 0;
        if (c && c->present && amb != c->ambient)
                log_debug("process.capabilities.ambient: skipping capabilities 0x%llx that are "
                          "not both permitted and inheritable",
                          (unsigned long long)(c->ambient & ~amb));
        char buf[32];

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return cx_error_set(err, errno, "clear the ambient capability set");
        for (int cap = 0; cap < 64; cap++) {
                if (!(amb & (UINT64_C(1) << cap)))
                        continue;
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)cap, 0, 0) < 0)
                        return cx_error_set(err, errno, "process.capabilities.ambient: raise %s",
                                            cap_label(cap, buf, sizeof(buf)));
        }
        return 0;
}

/* The kernel requires effective capabilities to be permitted (capabilities(7)); say so
 * instead of failing with a bare EPERM. */
static int check_sets(const struct spec_caps *c, struct cx_error **err)
{
        uint64_t bad;
        char buf[32];

        if (!c || !c->present)
                return 0;
        bad = c->effective & ~c->permitted;
        if (bad)
                return cx_error_msg(err, EINVAL,
                                    "process.capabilities.effective: %s must also be in the "
                                    "permitted set",
                                    cap_label(__builtin_ctzll(bad), buf, sizeof(buf)));
        return 0;
}

int sec_switch_user(const struct spec_user *u, const struct spec_caps *c, struct cx_error **err)
{
        int r;

        r = check_sets(c, err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return cx_error_set(err, errno, "prctl(PR_SET_KEEPCAPS, 1)");
        r = switch_ids(u, err);
        if (r < 0)
                return r;
        r = apply_caps(c, err);
        if (r < 0)
                return r;
        r = apply_ambient(c, err);
        if (r < 0)
                return r;
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return cx_error_set(err, errno, "prctl(PR_SET_KEEPCAPS, 0)");
        if (u->umask.set)
                umask((mode_t)(u->umask.v & 0777));
        return 0;
}
