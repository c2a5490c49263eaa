/* addr: addresses and routes over rtnetlink, and the check that a subnet is not already routed
 * by the host. */
#include "net/nl-internal.h"

#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <string.h>

static size_t family_len(int family)
{
        return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

#define IP_TEXT 64

/* "10.0.0.2/24" (prefix < 0: the address alone); ip.c's formatters belong to another file,
 * and this one only needs them for error text. */
static const char *ip_text(const struct net_ip *ip, int prefix, char buf[IP_TEXT])
{
        char a[NET_IP_STRLEN];

        if (!family_len(ip->family) || !inet_ntop(ip->family, ip->a, a, sizeof(a)))
                return "(invalid address)";
        if (prefix < 0)
                snprintf(buf, IP_TEXT, "%s", a);
        else
                snprintf(buf, IP_TEXT, "%s/%d", a, prefix);
        return buf;
}

static bool cidr_valid(const struct net_cidr *c)
{
        return family_len(c->ip.family) && c->prefix <= family_len(c->ip.family) * 8;
}

/* Two networks overlap when the shorter prefix covers both. */
static bool cidr_overlaps(const struct net_cidr *a, const struct net_cidr *b)
{
        if (a->ip.family != b->ip.family)
                return false;
        unsigned bits = a->prefix < b->prefix ? a->prefix : b->prefix;
        for (unsigned i = 0; i < bits / 8; i++)
                if (a->ip.a[i] != b->ip.a[i])
                        return false;
        if (bits % 8 == 0)
                return true;
        uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
        return (a->ip.a[bits / 8] & mask) == (b->ip.a[bits / 8] & mask);
}

static int ifindex_of(struct nl *n, const char *ifname, const char *what, struct cx_error **err)
{
        int r = nl_ifindex(n, ifname, err);
        if (r == -ENODEV)
                return cx_error_set(err, ENODEV, "%s: link `%s`", what, ifname);
        return r;
}

int nl_addr_add(struct nl *n, const char *ifname, const struct net_cidr *addr,
                struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0}, text[IP_TEXT];
        _cleanup_free_ char *what = NULL, *ext = NULL;
        int index, r;

        what = xasprintf("add address %s to `%s`", ip_text(&addr->ip, (int)addr->prefix, text),
                         ifname);
        if (!cidr_valid(addr))
                return cx_error_msg(err, EINVAL, "%s: invalid address", what);
        index = ifindex_of(n, ifname, what, err);
        if (index < 0)
                return index;

        size_t len = family_len(addr->ip.family);
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_NEWADDR;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = (uint8_t)addr->ip.family;
        ifa->ifa_prefixlen = (uint8_t)addr->prefix;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (unsigned)index;
        mnl_attr_put(nlh, IFA_LOCAL, len, addr->ip.a);
        mnl_attr_put(nlh, IFA_ADDRESS, len, addr->ip.a);
        if (addr->ip.family == AF_INET && addr->prefix < 31) {
                uint32_t a, mask = addr->prefix ? htonl(~0u << (32 - addr->prefix)) : 0;
                memcpy(&a, addr->ip.a, 4);
                a |= ~mask;
                mnl_attr_put(nlh, IFA_BROADCAST, 4, &a);
        }
        if (addr->ip.family == AF_INET6) {
                /* Without DAD the address is usable at once (no "tentative" window). */
                ifa->ifa_flags = IFA_F_NODAD;
                mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
        }
        r = nl_talk(n, nlh, NULL, NULL, &ext);
        if (r == -EEXIST)
                return 0;
        return r < 0 ? nl_error(err, r, ext, what) : 0;
}

int nl_route_add(struct nl *n, const struct net_cidr *dst, const struct net_ip *gw,
                 const char *ifname, struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0}, t1[IP_TEXT], t2[IP_TEXT];
        _cleanup_free_ char *what = NULL, *ext = NULL;
        int family, index, r;

        if (gw && gw->family == 0)
                gw = NULL;
        family = dst ? dst->ip.family : gw ? gw->family : AF_INET;
        what = xasprintf("add route %s%s%s dev `%s`",
                         dst ? ip_text(&dst->ip, (int)dst->prefix, t1) : "default",
                         gw ? " via " : "", gw ? ip_text(gw, -1, t2) : "", ifname);
        if ((dst && !cidr_valid(dst)) || (gw && gw->family != family) || !family_len(family))
                return cx_error_msg(err, EINVAL, "%s: invalid or mixed address families", what);
        index = ifindex_of(n, ifname, what, err);
        if (index < 0)
                return index;

        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_NEWROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)family;
        rtm->rtm_dst_len = dst ? (uint8_t)dst->prefix : 0;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_STATIC;
        rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        rtm->rtm_type = RTN_UNICAST;
        if (dst && dst->prefix > 0)
                mnl_attr_put(nlh, RTA_DST, family_len(family), dst->ip.a);
        if (gw)
                mnl_attr_put(nlh, RTA_GATEWAY, family_len(family), gw->a);
        mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
        r = nl_talk(n, nlh, NULL, NULL, &ext);
        if (r == -EEXIST)
                return 0;
        return r < 0 ? nl_error(err, r, ext, what) : 0;
}

struct overlap {
        const struct net_cidr *c;
        struct net_cidr found;
        bool any;
        /* filled per message by route_attr_cb */
        uint32_t table;
        const void *dst;
};

static int route_attr_cb(const struct nlattr *a, void *data)
{
        struct overlap *o = data;

        switch (mnl_attr_get_type(a)) {
        case RTA_TABLE:
                if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        o->table = mnl_attr_get_u32(a);
                break;
        case RTA_DST:
                if (mnl_attr_get_payload_len(a) == family_len(o->c->ip.family))
                        o->dst = mnl_attr_get_payload(a);
                break;
        }
        return MNL_CB_OK;
}

static int route_msg_cb(const struct nlmsghdr *nlh, void *data)
{
        struct overlap *o = data;

        if (o->any || nlh->nlmsg_type != RTM_NEWROUTE ||
            mnl_nlmsg_get_payload_len(nlh) < sizeof(struct rtmsg))
                return 0;
        const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
        if (rtm->rtm_family != o->c->ip.family || rtm->rtm_dst_len == 0)
                return 0;
        o->table = rtm->rtm_table;
        o->dst = NULL;
        mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, o);
        if (o->table != RT_TABLE_MAIN || !o->dst)
                return 0;

        struct net_cidr r = {.ip.family = rtm->rtm_family, .prefix = rtm->rtm_dst_len};
        memcpy(r.ip.a, o->dst, family_len(r.ip.family));
        if (cidr_overlaps(&r, o->c)) {
                o->found = r;
                o->any = true;
        }
        return 0;
}

int nl_route_overlap(struct nl *n, const struct net_cidr *c, struct net_cidr *ret,
                     struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0}, text[IP_TEXT];
        _cleanup_free_ char *what = NULL, *ext = NULL;
        struct overlap o = {.c = c};
        int r;

        what = xasprintf("list the routes that overlap %s", ip_text(&c->ip, (int)c->prefix, text));
        if (!cidr_valid(c))
                return cx_error_msg(err, EINVAL, "%s: invalid network", what);
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)c->ip.family;
        r = nl_talk(n, nlh, route_msg_cb, &o, &ext);
        if (r < 0)
                return nl_error(err, r, ext, what);
        if (!o.any)
                return 0;
        if (ret)
                *ret = o.found;
        return 1;
}
