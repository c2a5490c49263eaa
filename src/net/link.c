/* link: rtnetlink links — look one up, create bridges and veth pairs (the peer straight in
 * another namespace), change and delete them. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include "net/nl-internal.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <string.h>

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int index,
                                 struct ifinfomsg **ret_ifi)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = index;
        if (ret_ifi)
                *ret_ifi = ifi;
        return nlh;
}

static int linkinfo_cb(const struct nlattr *a, void *data)
{
        struct nl_link_info *info = data;

        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0) {
                /* The payload may or may not end in a NUL: take at most its length. */
                snprintf(info->kind, sizeof(info->kind), "%.*s", (int)mnl_attr_get_payload_len(a),
                         (const char *)mnl_attr_get_payload(a));
        }
        return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
        struct nl_link_info *info = data;

        switch (mnl_attr_get_type(a)) {
        case IFLA_ADDRESS:
                if (mnl_attr_get_payload_len(a) == sizeof(info->mac))
                        memcpy(info->mac, mnl_attr_get_payload(a), sizeof(info->mac));
                break;
        case IFLA_MTU:
                if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        info->mtu = mnl_attr_get_u32(a);
                break;
        case IFLA_MASTER:
                if (mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
                        info->master = (int)mnl_attr_get_u32(a);
                break;
        case IFLA_LINKINFO:
                if (mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0)
                        mnl_attr_parse_nested(a, linkinfo_cb, info);
                break;
        }
        return MNL_CB_OK;
}

static int link_msg_cb(const struct nlmsghdr *nlh, void *data)
{
        struct nl_link_info *info = data;

        if (nlh->nlmsg_type != RTM_NEWLINK ||
            mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
                return 0;
        const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
        memset(info, 0, sizeof(*info));
        info->index = ifi->ifi_index;
        info->up = ifi->ifi_flags & IFF_UP;
        mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, info);
        return 0;
}

int nl_link_get(struct nl *n, const char *name, struct nl_link_info *ret, struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0};
        struct nl_link_info info = {0};
        _cleanup_free_ char *ext = NULL;
        int r;

        r = nl_check_name(name, err);
        if (r < 0)
                return r;
        struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, 0, NULL);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        r = nl_talk(n, nlh, link_msg_cb, &info, &ext);
        if (r == -ENODEV)
                return r;
        if (r < 0) {
                _cleanup_free_ char *what = xasprintf("look up link `%s`", name);
                return nl_error(err, r, ext, what);
        }
        if (info.index <= 0)
                return cx_error_msg(err, EBADMSG, "look up link `%s`: no reply from the kernel",
                                    name);
        if (ret)
                *ret = info;
        return 0;
}

int nl_ifindex(struct nl *n, const char *name, struct cx_error **err)
{
        struct nl_link_info info;
        int r = nl_link_get(n, name, &info, err);
        return r < 0 ? r : info.index;
}

/* RTM_NEWLINK for a new link of that kind; *ret_li is the open IFLA_LINKINFO nest. */
static struct nlmsghdr *new_link_msg(char *buf, const char *name, unsigned mtu, const char *kind,
                                     struct nlattr **ret_li)
{
        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, NULL);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        *ret_li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
        return nlh;
}

int nl_bridge_add(struct nl *n, const char *name, unsigned mtu, struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0};
        int r;

        r = nl_check_name(name, err);
        if (r < 0)
                return r;
        struct nlattr *li;
        struct nlmsghdr *nlh = new_link_msg(buf, name, mtu, "bridge", &li);
        mnl_attr_nest_end(nlh, li);
        return nl_request(n, nlh, err, "create bridge `%s`", name);
}

int nl_veth_add(struct nl *n, const char *name, const char *peer, int peer_netns_fd, unsigned mtu,
                const uint8_t *peer_mac, struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0};
        int r;

        r = nl_check_name(name, err);
        if (r >= 0)
                r = nl_check_name(peer, err);
        if (r < 0)
                return r;
        struct nlattr *li;
        struct nlmsghdr *nlh = new_link_msg(buf, name, mtu, "veth", &li);
        struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        struct nlattr *p = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        /* The peer's attributes follow its own ifinfomsg inside VETH_INFO_PEER. */
        struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
        pifi->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
        if (mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        if (peer_mac)
                mnl_attr_put(nlh, IFLA_ADDRESS, 6, peer_mac);
        if (peer_netns_fd >= 0)
                mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
        mnl_attr_nest_end(nlh, p);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, li);
        return nl_request(n, nlh, err, "create veth `%s` (peer `%s`)", name, peer);
}

int nl_tap_add(const char *name, unsigned mtu, struct cx_error **err)
{
        int r = nl_check_name(name, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open /dev/net/tun for tap `%s`", name);
        struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL};
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
                return cx_error_set(err, errno, "create tap `%s`", name);
        if (mtu) {
                _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                ifr.ifr_mtu = (int)mtu;
                if (s < 0 || ioctl(s, SIOCSIFMTU, &ifr) < 0)
                        return cx_error_set(err, errno, "set the MTU of tap `%s`", name);
        }
        return 0;
}

int nl_link_del(struct nl *n, const char *name, struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0};
        _cleanup_free_ char *ext = NULL;
        int r;

        r = nl_check_name(name, err);
        if (r < 0)
                return r;
        struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0, NULL);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        r = nl_talk(n, nlh, NULL, NULL, &ext);
        if (r == -ENODEV)
                return 0;
        if (r < 0) {
                _cleanup_free_ char *what = xasprintf("delete link `%s`", name);
                return nl_error(err, r, ext, what);
        }
        return 0;
}

int nl_link_set(struct nl *n, const char *name, const struct nl_link_change *c,
                struct cx_error **err)
{
        char buf[NL_REQ_SIZE] = {0};
        struct ifinfomsg *ifi;
        int index, master = 0, r;

        r = nl_check_name(name, err);
        if (r >= 0 && c->rename)
                r = nl_check_name(c->rename, err);
        if (r < 0)
                return r;
        /* By index: IFLA_IFNAME in the request is the new name when renaming. */
        index = nl_ifindex(n, name, err);
        if (index == -ENODEV)
                return cx_error_set(err, ENODEV, "change link `%s`", name);
        if (index < 0)
                return index;
        if (c->master) {
                master = nl_ifindex(n, c->master, err);
                if (master == -ENODEV)
                        return cx_error_set(err, ENODEV, "enslave `%s` to bridge `%s`", name,
                                            c->master);
                if (master < 0)
                        return master;
        }

        struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, index, &ifi);
        if (c->up >= 0) {
                ifi->ifi_change = IFF_UP;
                ifi->ifi_flags = c->up ? IFF_UP : 0;
        }
        if (c->mtu)
                mnl_attr_put_u32(nlh, IFLA_MTU, c->mtu);
        if (c->mac)
                mnl_attr_put(nlh, IFLA_ADDRESS, 6, c->mac);
        if (c->master)
                mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
        if (c->rename)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, c->rename);
        if (c->netns_fd >= 0)
                mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)c->netns_fd);
        if (c->master)
                return nl_request(n, nlh, err, "enslave `%s` to bridge `%s`", name, c->master);
        return nl_request(n, nlh, err, "change link `%s`", name);
}
