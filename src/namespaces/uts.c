/* Hostname, domainname and the loopback device of the container's own namespaces. */
#include "namespaces/ns-internal.h"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int ns_set_hostname(const struct ns_config *s, struct cx_error **err)
{
        if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
                return cx_error_set(err, errno, "hostname: set `%s`", s->hostname);
        if (s->domainname && setdomainname(s->domainname, strlen(s->domainname)) < 0)
                return cx_error_set(err, errno, "domainname: set `%s`", s->domainname);
        return 0;
}

int ns_loopback_up(struct cx_error **err)
{
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return cx_error_set(err, errno, "bring up lo: socket");

        struct ifreq ifr = {0};
        memcpy(ifr.ifr_name, "lo", sizeof("lo"));
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return cx_error_set(err, errno, "bring up lo: get flags");
        if (ifr.ifr_flags & IFF_UP)
                return 0;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return cx_error_set(err, errno, "bring up lo: set flags");
        return 0;
}
