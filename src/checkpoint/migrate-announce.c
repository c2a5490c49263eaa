/* After a migration the container's addresses live behind another port of the network: a
 * gratuitous ARP (IPv4) and an unsolicited neighbour advertisement (IPv6, with the override
 * flag) from inside its network namespace tell the bridges and the neighbours at once, instead
 * of after their caches expire.  The container's MAC is derived from its address, so the
 * neighbours' entries stay right; the bridges learn the new port from these frames.
 * Kernel interfaces: setns(2) into /proc/PID/ns/net (in a child), getifaddrs(3) (netlink),
 * AF_PACKET for ARP, a raw ICMPv6 socket (the kernel computes the checksum). */
#include "checkpoint/migrate-internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define ANNOUNCE_REPEAT 3 /* as arping -U -c 3: one lost frame does not matter */

static bool mac_of(struct ifaddrs *all, const char *ifname, uint8_t mac[6])
{
        for (struct ifaddrs *a = all; a; a = a->ifa_next) {
                if (!a->ifa_addr || a->ifa_addr->sa_family != AF_PACKET ||
                    strcmp(a->ifa_name, ifname) != 0)
                        continue;
                const struct sockaddr_ll *ll = (const struct sockaddr_ll *)a->ifa_addr;
                if (ll->sll_halen != 6)
                        return false;
                memcpy(mac, ll->sll_addr, 6);
                return true;
        }
        return false;
}

static int garp(int ifindex, const uint8_t mac[6], const struct in_addr *ip)
{
        _cleanup_close_ int s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
        if (s < 0)
                return -errno;
        uint8_t pkt[28];
        struct arphdr h = {
            .ar_hrd = htons(ARPHRD_ETHER),
            .ar_pro = htons(ETH_P_IP),
            .ar_hln = 6,
            .ar_pln = 4,
            .ar_op = htons(ARPOP_REQUEST),
        };
        memcpy(pkt, &h, 8);
        memcpy(pkt + 8, mac, 6); /* sender MAC */
        memcpy(pkt + 14, ip, 4); /* sender IP */
        memset(pkt + 18, 0, 6);  /* target MAC: unknown */
        memcpy(pkt + 24, ip, 4); /* target IP: its own */
        struct sockaddr_ll to = {
            .sll_family = AF_PACKET,
            .sll_protocol = htons(ETH_P_ARP),
            .sll_ifindex = ifindex,
            .sll_halen = 6,
            .sll_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
        };
        if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                return -errno;
        return 0;
}

static int unsolicited_na(int ifindex, const uint8_t mac[6], const struct in6_addr *ip)
{
        _cleanup_close_ int s = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
        if (s < 0)
                return -errno;
        int hops = 255; /* RFC 4861: receivers drop NDP with any other hop limit */
        if (setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
            setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) < 0)
                return -errno;
        struct {
                struct nd_neighbor_advert na;
                uint8_t opt[8];
        } pkt = {0};
        pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
        pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
        pkt.na.nd_na_target = *ip;
        pkt.opt[0] = ND_OPT_TARGET_LINKADDR;
        pkt.opt[1] = 1; /* in units of 8 bytes */
        memcpy(pkt.opt + 2, mac, 6);
        struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex};
        inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
        if (sendto(s, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                return -errno;
        return 0;
}

/* In the child, inside the namespace: the number of announcements sent, or -errno. */
static int announce_here(void)
{
        struct ifaddrs *all;
        if (getifaddrs(&all) < 0)
                return -errno;
        int n = 0, r = 0;
        for (int round = 0; round < ANNOUNCE_REPEAT; round++) {
                for (struct ifaddrs *a = all; a; a = a->ifa_next) {
                        uint8_t mac[6];
                        if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK) ||
                            !(a->ifa_flags & IFF_UP) || !mac_of(all, a->ifa_name, mac))
                                continue;
                        int ifindex = (int)if_nametoindex(a->ifa_name);
                        int q = 0;
                        if (a->ifa_addr->sa_family == AF_INET)
                                q = garp(ifindex, mac,
                                         &((struct sockaddr_in *)a->ifa_addr)->sin_addr);
                        else if (a->ifa_addr->sa_family == AF_INET6)
                                q = unsolicited_na(
                                    ifindex, mac, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr);
                        else
                                continue;
                        if (q < 0)
                                r = q;
                        else if (round == 0)
                                n++;
                }
                if (round + 1 < ANNOUNCE_REPEAT)
                        usleep(20000);
        }
        freeifaddrs(all);
        return n > 0 || r == 0 ? n : r;
}

/* In the child, inside the namespace: every interface but the loopback down. */
static int silence_here(void)
{
        struct if_nameindex *all = if_nameindex();
        if (!all)
                return -errno;
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r = s < 0 ? -errno : 0;
        for (struct if_nameindex *i = all; s >= 0 && i->if_index; i++) {
                struct ifreq ifr = {0};
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->if_name);
                if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags & IFF_LOOPBACK))
                        continue;
                ifr.ifr_flags &= ~IFF_UP;
                if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
                        r = -errno;
        }
        if_freenameindex(all);
        return r;
}

/* Runs fn in a child in pid's network namespace: its result (>= 0) or -errno. */
static int in_netns(pid_t pid, int (*fn)(void), const char *what, struct cx_error **err)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)pid);
        _cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
        if (ns < 0)
                return cx_error_set(err, errno, "open `%s`", path);
        struct stat mine, theirs;
        if (fstat(ns, &theirs) < 0 || stat("/proc/self/ns/net", &mine) < 0)
                return cx_error_set(err, errno, "stat `%s`", path);
        if (mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev)
                return cx_error_msg(err, EPERM,
                                    "%s of pid %d: it is in this host's network "
                                    "namespace",
                                    what, (int)pid);
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        pid_t child = fork();
        if (child < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return cx_error_set(err, e, "fork");
        }
        if (child == 0) {
                close(p[0]);
                int r = setns(ns, CLONE_NEWNET) < 0 ? -errno : fn();
                (void)!write(p[1], &r, sizeof(r));
                _exit(0);
        }
        close(p[1]);
        int r = -EIO;
        ssize_t n = read(p[0], &r, sizeof(r));
        close(p[0]);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        if (n != sizeof(r))
                return cx_error_msg(err, EIO, "%s of pid %d: the helper died", what, (int)pid);
        if (r < 0)
                return cx_error_set(err, -r, "%s of pid %d", what, (int)pid);
        return r;
}

int mig_announce(pid_t pid, unsigned *ret_n, struct cx_error **err)
{
        int r = in_netns(pid, announce_here, "announcing the addresses", err);
        if (r < 0)
                return r;
        *ret_n = (unsigned)r;
        return 0;
}

int mig_silence(pid_t pid, struct cx_error **err)
{
        int r = in_netns(pid, silence_here, "taking the interfaces down", err);
        return r < 0 ? r : 0;
}
