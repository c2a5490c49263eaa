/* net/ip: IPv4 and IPv6 addresses and prefixes: parsing, printing, containment, overlap and
 * the n-th address of a network. */
#include "net/net.h"

#include <arpa/inet.h>
#include <string.h>

static size_t ip_len(int family)
{
        return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int net_ip_parse(const char *s, struct net_ip *ret)
{
        struct net_ip ip = {0};
        if (!s)
                return -EINVAL;
        if (inet_pton(AF_INET, s, ip.a) == 1)
                ip.family = AF_INET;
        else if (inet_pton(AF_INET6, s, ip.a) == 1)
                ip.family = AF_INET6;
        else
                return -EINVAL;
        *ret = ip;
        return 0;
}

/* Keeps the first prefix bits of ip, zeroing the rest. */
static void ip_mask(struct net_ip *ip, unsigned prefix)
{
        size_t len = ip_len(ip->family);
        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
                ip->a[i] &= (uint8_t)(0xff00 >> bits);
        }
}

int net_cidr_parse(const char *s, bool keep_host, struct net_cidr *ret)
{
        if (!s)
                return -EINVAL;
        const char *slash = strchr(s, '/');
        if (!slash || slash == s || slash - s >= NET_IP_STRLEN)
                return -EINVAL;
        char addr[NET_IP_STRLEN];
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = '\0';
        struct net_cidr c = {0};
        if (net_ip_parse(addr, &c.ip) < 0)
                return -EINVAL;
        /* digits only: no sign, no spaces, no leading zeros beyond "0" */
        const char *p = slash + 1;
        if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
                return -EINVAL;
        unsigned prefix = 0;
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > 8 * ip_len(c.ip.family))
                return -EINVAL;
        c.prefix = prefix;
        if (!keep_host)
                ip_mask(&c.ip, prefix);
        *ret = c;
        return 0;
}

const char *net_ip_str(const struct net_ip *ip, char buf[NET_IP_STRLEN])
{
        if (!ip->family || !inet_ntop(ip->family, ip->a, buf, NET_IP_STRLEN))
                snprintf(buf, NET_IP_STRLEN, "%s", "");
        return buf;
}

const char *net_cidr_str(const struct net_cidr *c, char buf[NET_IP_STRLEN + 4])
{
        char ip[NET_IP_STRLEN];
        snprintf(buf, NET_IP_STRLEN + 4, "%s/%u", net_ip_str(&c->ip, ip), c->prefix);
        return buf;
}

bool net_ip_equal(const struct net_ip *a, const struct net_ip *b)
{
        return a->family == b->family && memcmp(a->a, b->a, ip_len(a->family)) == 0;
}

bool net_cidr_contains(const struct net_cidr *c, const struct net_ip *ip)
{
        if (!c->ip.family || c->ip.family != ip->family)
                return false;
        struct net_ip m = *ip, n = c->ip;
        ip_mask(&m, c->prefix);
        ip_mask(&n, c->prefix);
        return net_ip_equal(&m, &n);
}

bool net_cidr_overlaps(const struct net_cidr *a, const struct net_cidr *b)
{
        if (!a->ip.family || a->ip.family != b->ip.family)
                return false;
        /* two prefixes overlap exactly when the shorter one contains the other's network */
        return a->prefix <= b->prefix ? net_cidr_contains(a, &b->ip) : net_cidr_contains(b, &a->ip);
}

bool net_cidr_nth(const struct net_cidr *c, uint64_t n, struct net_ip *ret)
{
        size_t len = ip_len(c->ip.family);
        if (!len)
                return false;
        unsigned host_bits = (unsigned)(8 * len) - c->prefix;
        if (host_bits < 64 && n >> host_bits)
                return false;
        struct net_ip ip = c->ip;
        ip_mask(&ip, c->prefix);
        /* add n to the address, big-endian, from the last byte */
        unsigned carry = 0;
        for (size_t i = len; i-- > 0;) {
                unsigned sum = ip.a[i] + (unsigned)(n & 0xff) + carry;
                ip.a[i] = (uint8_t)sum;
                carry = sum >> 8;
                n >>= 8;
        }
        if (carry || n)
                return false;
        *ret = ip;
        return true;
}

bool net_cidr_is_host(const struct net_cidr *c, const struct net_ip *ip)
{
        if (!net_cidr_contains(c, ip))
                return false;
        size_t len = ip_len(ip->family);
        unsigned host_bits = (unsigned)(8 * len) - c->prefix;
        if (ip->family != AF_INET || host_bits < 2)
                return true; /* /31 and /32: every address is a host (RFC 3021) */
        bool zeros = true, ones = true;
        for (unsigned b = c->prefix; b < 8 * len; b++) {
                bool bit = ip->a[b / 8] & (0x80 >> (b % 8));
                zeros &= !bit;
                ones &= bit;
        }
        return !zeros && !ones;
}
