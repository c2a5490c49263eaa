/* Endpoints: one network's attachment of a container (or of a CNI ADD).
 *
 * up: leases (one per address family of the network) -> published ports -> the veth pair, its
 * peer created straight in the container's namespace with a MAC derived from the address ->
 * the host end on the bridge -> addresses, routes and loopback inside -> anti-spoofing and
 * DNAT rules.  Everything is named after the owner so that down, run after a failure or a
 * crash at any instant, finds and removes exactly what up made.  Kernel interfaces: rtnetlink,
 * nf_tables (through nl.c and nft.c). */
#include "net/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* FNV-1a, 64 bits: the veth name only has to be unique per owner and network. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ULL;
        return (h ^ 0xff) * 1099511628211ULL;
}

void net_endpoint_veth_name(const char *owner, const char *network, uint64_t nonce,
                            char ret[IFNAMSIZ])
{
        char n[24];
        snprintf(n, sizeof(n), "%llx", (unsigned long long)nonce);
        uint64_t h = fnv1a(fnv1a(fnv1a(14695981039346656037ULL, owner), network), n);
        snprintf(ret, IFNAMSIZ, "cv%013llx", (unsigned long long)(h & 0xfffffffffffffULL));
}

/* The tag of the endpoint's rules and ports: an owner may be on several networks.  nftables
 * keeps at most 127 bytes of a comment: a longer owner (ids may have 1024) is tagged by its
 * veth's name, as unique. */
static char *endpoint_tag(const char *owner, const char *network)
{
        char *tag = xasprintf("%s@%s", owner, network);
        if (strlen(tag) > 120) {
                char veth[IFNAMSIZ];
                net_endpoint_veth_name(owner, network, 0, veth);
                free(tag);
                tag = xasprintf("%s@%s", veth, network);
        }
        return tag;
}

/* A locally administered unicast MAC from the address, as the CNI bridge plugin does: the
 * anti-spoofing rules then know it without asking the kernel. */
static void mac_for(const struct net_ip *ip, uint8_t mac[6])
{
        const uint8_t *tail = ip->family == AF_INET ? ip->a : ip->a + 12;
        mac[0] = 0x02;
        mac[1] = 0xca;
        memcpy(mac + 2, tail, 4);
}

static int take_leases(struct net_store *s, const struct net_network *nw,
                       const struct net_endpoint_req *r, struct net_endpoint *ep,
                       struct cx_error **err)
{
        for (size_t i = 0; i < nw->n_subnets && ep->n_ips < ARRAY_SIZE(ep->ips); i++) {
                int family = nw->subnets[i].ip.family;
                bool seen = false;
                for (size_t j = 0; j < ep->n_ips; j++)
                        seen |= ep->ips[j].family == family;
                if (seen)
                        continue;
                const struct net_ip *want = family == AF_INET ? &r->want4 : &r->want6;
                struct net_ip ip;
                int k =
                    net_lease_take(s, nw, family, want->family ? want : NULL, r->owner, &ip, err);
                if (k < 0)
                        return k;
                ep->ips[ep->n_ips] = ip;
                ep->cidrs[ep->n_ips] = (struct net_cidr){ip, nw->subnets[i].prefix};
                ep->gateways[ep->n_ips] = nw->gateways[i];
                ep->n_ips++;
        }
        const struct net_ip *wants[] = {&r->want4, &r->want6};
        for (size_t i = 0; i < ARRAY_SIZE(wants); i++) {
                bool served = false;
                for (size_t j = 0; j < ep->n_ips; j++)
                        served |= ep->ips[j].family == wants[i]->family;
                if (wants[i]->family && !served) {
                        char b[NET_IP_STRLEN];
                        return cx_error_msg(err, EINVAL,
                                            "address %s: network `%s` has no %s subnet",
                                            net_ip_str(wants[i], b), nw->name,
                                            wants[i]->family == AF_INET ? "IPv4" : "IPv6");
                }
        }
        return 0;
}

/* Published ports target the endpoint's address of the host address's family (IPv4 when the
 * port listens on every address). */
static int take_ports(struct net_store *s, const struct net_endpoint_req *r,
                      struct net_endpoint *ep, const char *tag, struct net_port *ports,
                      struct cx_error **err)
{
        for (size_t i = 0; i < r->n_ports; i++) {
                ports[i] = r->ports[i];
                int family = ports[i].host_ip.family ? ports[i].host_ip.family : AF_INET;
                size_t j = 0;
                while (j < ep->n_ips && ep->ips[j].family != family)
                        j++;
                if (j == ep->n_ips)
                        return cx_error_msg(
                            err, EINVAL, "publish port %u: the container has no %s address",
                            ports[i].host_port, family == AF_INET ? "IPv4" : "IPv6");
                ports[i].target = ep->ips[j];
                int k = net_port_take(s, &ports[i], tag, err);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Inside the container's namespace: loopback and the interface up, addresses, the default
 * route through the gateway (the first network's wins: a second default is not replaced). */
static int configure_inside(const struct net_endpoint_req *r, const struct net_endpoint *ep,
                            struct cx_error **err)
{
        _cleanup_(nl_closep) struct nl *n = NULL;
        int k = nl_open(r->netns_fd, &n, err);
        if (k < 0)
                return k;
        struct nl_link_change up = NL_LINK_CHANGE_NONE;
        up.up = 1;
        if ((k = nl_link_set(n, "lo", &up, err)) < 0)
                return k;
        for (size_t i = 0; i < ep->n_ips; i++)
                if ((k = nl_addr_add(n, r->ifname, &ep->cidrs[i], err)) < 0)
                        return k;
        if ((k = nl_link_set(n, r->ifname, &up, err)) < 0)
                return k;
        for (size_t i = 0; i < ep->n_ips; i++)
                if (ep->gateways[i].family &&
                    (k = nl_route_add(n, NULL, &ep->gateways[i], r->ifname, err)) < 0)
                        return k;
        return 0;
}

static int endpoint_up(struct net_store *s, const struct net_network *nw,
                       const struct net_endpoint_req *r, const char *tag, struct net_endpoint *ep,
                       struct cx_error **err)
{
        int k = take_leases(s, nw, r, ep, err);
        if (k < 0)
                return k;
        if (ep->n_ips == 0)
                return cx_error_msg(err, EINVAL, "network `%s` has no subnet", nw->name);
        _cleanup_free_ struct net_port *ports = xcalloc(r->n_ports + 1, sizeof(*ports));
        if ((k = take_ports(s, r, ep, tag, ports, err)) < 0)
                return k;
        mac_for(&ep->ips[0], ep->mac);
        ep->mtu = nw->mtu;

        _cleanup_(nl_closep) struct nl *host = NULL;
        if ((k = nl_open(-1, &host, err)) < 0)
                return k;
        k = r->tap ? nl_tap_add(r->host_veth, nw->mtu, err)
                   : nl_veth_add(host, r->host_veth, r->ifname, r->netns_fd, nw->mtu, ep->mac, err);
        if (k == -EEXIST && !r->tap) {
                /* the name is the owner's own: a veth of its previous endpoint whose namespace
                 * the kernel has not finished tearing down */
                cx_error_freep(err);
                if ((k = nl_link_del(host, r->host_veth, err)) >= 0)
                        k = nl_veth_add(host, r->host_veth, r->ifname, r->netns_fd, nw->mtu,
                                        ep->mac, err);
        }
        if (k < 0)
                return k;
        struct nl_link_change port = NL_LINK_CHANGE_NONE;
        port.master = nw->bridge;
        port.up = 1;
        if ((k = nl_link_set(host, r->host_veth, &port, err)) < 0)
                return k;
        if (!r->tap && (k = configure_inside(r, ep, err)) < 0)
                return k;
        struct nft_endpoint fe = {
            .owner = tag,
            .veth = r->host_veth,
            .bridge = nw->bridge,
            .ips = ep->ips,
            .n_ips = ep->n_ips,
            .ports = ports,
            .n_ports = r->n_ports,
        };
        memcpy(fe.mac, ep->mac, sizeof(fe.mac));
        return nft_endpoint_add(&fe, err);
}

int net_endpoint_up(struct net_store *s, const struct net_network *nw,
                    const struct net_endpoint_req *r, struct net_endpoint *ret,
                    struct cx_error **err)
{
        _cleanup_free_ char *tag = endpoint_tag(r->owner, nw->name);
        *ret = (struct net_endpoint){0};
        int k = endpoint_up(s, nw, r, tag, ret, err);
        if (k < 0) {
                _cleanup_error_ struct cx_error *e2 = NULL;
                if (net_endpoint_down(s, nw->name, r->owner, r->host_veth, false, &e2) < 0)
                        log_warn("undo the endpoint of %s on network `%s`: %s", r->owner, nw->name,
                                 e2->msg);
                return cx_error_prefix(err, "attach to network `%s`", nw->name);
        }
        return 0;
}

/* Rules first (no traffic is let through for an address about to be freed), then the link,
 * then the ports and leases: each step is idempotent, and all of them are tried.  The link is
 * left to the kernel when the container's namespace is going away: it takes the veth pair with
 * it, and an RTM_DELLINK would only wait for that namespace's teardown to release the RTNL
 * (~20 ms after every `run`). */
int net_endpoint_down(struct net_store *s, const char *network, const char *owner,
                      const char *host_veth, bool netns_gone, struct cx_error **err)
{
        _cleanup_free_ char *tag = endpoint_tag(owner, network);
        int r = nft_endpoint_del(tag, err);
        _cleanup_(nl_closep) struct nl *host = NULL;
        int k = nl_open(-1, &host, err);
        if (k >= 0 && !netns_gone)
                k = nl_link_del(host, host_veth, err);
        if (k < 0 && r >= 0)
                r = k;
        if ((k = net_port_release(s, tag, err)) < 0 && r >= 0)
                r = k;
        if ((k = net_lease_release(s, network, owner, err)) < 0 && r >= 0)
                r = k;
        return r;
}
