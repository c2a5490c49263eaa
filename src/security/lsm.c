/* LSM labels: AppArmor profiles and SELinux process labels, applied on the next execve.
 *
 * Kernel interfaces: /sys/module/apparmor/parameters/enabled, /sys/fs/selinux,
 * /proc/self/attr/apparmor/exec (LSM stacking, Linux >= 5.8) and /proc/self/attr/exec. */
#include "security/security.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static bool apparmor_enabled(void)
{
        char buf[4] = {0};
        _cleanup_close_ int fd =
            open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);

        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
                return false;
        return buf[0] == 'Y';
}

static bool selinux_enabled(void)
{
        struct stat st;

        /* the directory alone may be an empty mount point: selinuxfs must be mounted */
        return stat("/sys/fs/selinux/enforce", &st) == 0;
}

int sec_lsm_check(const struct spec_process *p, struct cx_error **err)
{
        if (p->apparmor_profile && p->apparmor_profile[0] && !apparmor_enabled())
                return cx_error_msg(err, EOPNOTSUPP,
                                    "process.apparmorProfile: AppArmor is not enabled on this "
                                    "host");
        if (p->selinux_label && p->selinux_label[0] && !selinux_enabled())
                return cx_error_msg(err, EOPNOTSUPP,
                                    "process.selinuxLabel: SELinux is not enabled on this host");
        return 0;
}

/* Writes data to a /proc/self/attr file in one write(2), as the LSMs require. */
static int write_attr(const char *path, const char *data)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t len = strlen(data);

        if (fd < 0)
                return -errno;
        if (write(fd, data, len) != (ssize_t)len)
                return errno ? -errno : -EIO;
        return 0;
}

int sec_lsm_apply(const struct spec_process *p, struct cx_error **err)
{
        int r;

        if (p->apparmor_profile && p->apparmor_profile[0]) {
                _cleanup_free_ char *cmd = xasprintf("exec %s", p->apparmor_profile);

                r = write_attr("/proc/self/attr/apparmor/exec", cmd);
                if (r == -ENOENT)
                        r = write_attr("/proc/self/attr/exec", cmd);
                if (r < 0)
                        return cx_error_set(err, -r, "process.apparmorProfile: set profile `%s`",
                                            p->apparmor_profile);
        }
        if (p->selinux_label && p->selinux_label[0]) {
                r = write_attr("/proc/self/attr/exec", p->selinux_label);
                if (r < 0)
                        return cx_error_set(err, -r, "process.selinuxLabel: set label `%s`",
                                            p->selinux_label);
        }
        return 0;
}
