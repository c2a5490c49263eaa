/* nft-rules: capsa's rules, expression by expression, as nft(8) would encode them.
 *
 * `inet capsa`:
 *   forward (filter, 0)      jump internal; ct status dnat accept;
 *                            iifname @bridges oifname @bridges jump between
 *   input (filter, 0)        iifname @isolated ct state established,related accept;
 *                            iifname @isolated icmpv6 type nd-neighbor-solicit|advert accept;
 *                            iifname @isolated jump isolated; iifname @isolated drop
 *   prerouting, output (nat, -100)   fib daddr type local jump ports
 *   postrouting (nat, 100)   per subnet: masquerade out of other links (unless internal), and
 *                            of DNATed traffic back into the bridge (hairpin)
 *   internal                 per internal network: iifname BR oifname != BR drop (and back)
 *   between                  per network: iifname BR oifname != BR drop (the jump to it already
 *                            matched a capsa bridge on both sides)
 *   isolated                 per isolated network: its gateways' port 53 (udp, tcp) accept
 *   ports                    per published port: dnat to the endpoint's address
 * `bridge capsa`:
 *   prerouting (filter, -200)  per endpoint: only its MAC and addresses from its veth
 *
 * The per-network and per-endpoint rules live in regular chains (or are all drops, or all
 * accepts) so that their order never matters: the base rules keep the order they were made in.
 * Internal networks' drops come before `ct status dnat accept`: a port published into an
 * internal network stays unreachable from outside it.
 *
 * Traffic between two ports of one bridge is switched, but with br_netfilter loaded (Docker
 * and Kubernetes hosts) it also passes the forward hook with iifname == oifname == the bridge:
 * hence the per-network `oifname != BR` rather than one `iifname @bridges oifname @bridges
 * drop`. */
#include "net/net.h"
#include "net/nft-internal.h"

#include <arpa/inet.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>

#define ETH_IP     0x0800
#define ETH_ARP    0x0806
#define ETH_IP6    0x86dd
#define ETH_VLAN   0x8100
#define ETH_QINQ   0x88a8
#define ND_SOLICIT 135
#define ND_ADVERT  136

/* ---- expressions --------------------------------------------------------------------------- */
static struct nftnl_expr *expr(struct nftnl_rule *r, const char *name)
{
        struct nftnl_expr *e = nftnl_expr_alloc(name);
        if (!e)
                abort();
        nftnl_rule_add_expr(r, e);
        return e;
}

/* reg 1 <op> data */
static void cmp(struct nftnl_rule *r, enum nft_cmp_ops op, const void *data, size_t len)
{
        struct nftnl_expr *e = expr(r, "cmp");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void meta(struct nftnl_rule *r, enum nft_meta_keys key)
{
        struct nftnl_expr *e = expr(r, "meta");
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void payload(struct nftnl_rule *r, enum nft_payload_bases base, unsigned off, unsigned len)
{
        struct nftnl_expr *e = expr(r, "payload");
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

/* reg 1 = (reg 1 & mask) ^ 0 */
static void bitwise(struct nftnl_rule *r, const void *mask, size_t len)
{
        static const uint8_t zero[16];
        struct nftnl_expr *e = expr(r, "bitwise");
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
        nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
        nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
}

/* iifname / oifname <op> "name" */
static void ifname(struct nftnl_rule *r, enum nft_meta_keys key, enum nft_cmp_ops op,
                   const char *name)
{
        char buf[IFNAMSIZ] = {0};
        strncpy(buf, name, IFNAMSIZ - 1);
        meta(r, key);
        cmp(r, op, buf, sizeof(buf));
}

/* iifname / oifname @set */
static void ifname_in(struct nftnl_rule *r, enum nft_meta_keys key, const char *set)
{
        meta(r, key);
        struct nftnl_expr *e = expr(r, "lookup");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
}

/* ct KEY & bits != 0 (ct state, ct status: host byte order) */
static void ct_any(struct nftnl_rule *r, enum nft_ct_keys key, uint32_t bits)
{
        static const uint32_t zero;
        struct nftnl_expr *e = expr(r, "ct");
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
        bitwise(r, &bits, sizeof(bits));
        cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void ct_dnat(struct nftnl_rule *r)
{
        ct_any(r, NFT_CT_STATUS, IPS_DST_NAT);
}

/* meta nfproto ipv4|ipv6 */
static void nfproto(struct nftnl_rule *r, int family)
{
        uint8_t p = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
        meta(r, NFT_META_NFPROTO);
        cmp(r, NFT_CMP_EQ, &p, 1);
}

static void l4proto(struct nftnl_rule *r, uint8_t proto)
{
        meta(r, NFT_META_L4PROTO);
        cmp(r, NFT_CMP_EQ, &proto, 1);
}

/* th dport PORT */
static void dport(struct nftnl_rule *r, uint16_t port)
{
        uint16_t p = htons(port);
        payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
        cmp(r, NFT_CMP_EQ, &p, sizeof(p));
}

static unsigned ip_len(int family)
{
        return family == AF_INET6 ? 16 : 4;
}

/* ip / ip6 saddr|daddr <op> address/prefix at off in the network header (the caller matched
 * the family).  A /0 matches everything: no expression at all. */
static void addr(struct nftnl_rule *r, unsigned off, enum nft_cmp_ops op, const struct net_ip *ip,
                 unsigned prefix)
{
        unsigned len = ip_len(ip->family);
        if (prefix == 0)
                return;
        payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len);
        if (prefix >= len * 8) {
                cmp(r, op, ip->a, len);
                return;
        }
        uint8_t mask[16] = {0}, net[16] = {0};
        for (unsigned i = 0; i < len; i++) {
                unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
                mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
                net[i] = ip->a[i] & mask[i];
        }
        bitwise(r, mask, len);
        cmp(r, op, net, len);
}

static unsigned saddr_off(int family)
{
        return family == AF_INET6 ? 8 : 12;
}

static unsigned daddr_off(int family)
{
        return family == AF_INET6 ? 24 : 16;
}

/* ether type TYPE (bridge family) */
static void ether_type(struct nftnl_rule *r, uint16_t type)
{
        uint16_t t = htons(type);
        payload(r, NFT_PAYLOAD_LL_HEADER, 12, 2);
        cmp(r, NFT_CMP_EQ, &t, sizeof(t));
}

static void verdict(struct nftnl_rule *r, int v, const char *chain)
{
        struct nftnl_expr *e = expr(r, "immediate");
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, v);
        if (chain)
                nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

/* ---- the base rules ------------------------------------------------------------------------ */
static struct nftnl_rule *base(const char *chain)
{
        return nft_rule_new(NFPROTO_INET, chain, NFT_TAG_BASE);
}

static void add_base(struct nft_batch *b, struct nftnl_rule *r, const char *what)
{
        nft_batch_rule(b, NFPROTO_INET, r, xasprintf("add the base rule `%s`", what));
}

void nft_rules_base(struct nft_batch *b)
{
        struct nftnl_rule *r = base("forward");
        verdict(r, NFT_JUMP, NFT_CHAIN_INTERNAL);
        add_base(b, r, "jump " NFT_CHAIN_INTERNAL);

        r = base("forward");
        ct_dnat(r);
        verdict(r, NF_ACCEPT, NULL);
        add_base(b, r, "ct status dnat accept");

        r = base("forward");
        ifname_in(r, NFT_META_IIFNAME, NFT_SET_BRIDGES);
        ifname_in(r, NFT_META_OIFNAME, NFT_SET_BRIDGES);
        verdict(r, NFT_JUMP, NFT_CHAIN_BETWEEN);
        add_base(b, r,
                 "iifname @" NFT_SET_BRIDGES " oifname @" NFT_SET_BRIDGES
                 " jump " NFT_CHAIN_BETWEEN);

        r = base("input");
        ifname_in(r, NFT_META_IIFNAME, NFT_SET_ISOLATED);
        ct_any(r, NFT_CT_STATE,
               NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
        verdict(r, NF_ACCEPT, NULL);
        add_base(b, r, "iifname @" NFT_SET_ISOLATED " ct state established,related accept");

        /* neighbour discovery: the gateway's IPv6 address must be resolvable */
        static const uint8_t nd[] = {ND_SOLICIT, ND_ADVERT};
        for (size_t i = 0; i < ARRAY_SIZE(nd); i++) {
                r = base("input");
                ifname_in(r, NFT_META_IIFNAME, NFT_SET_ISOLATED);
                nfproto(r, AF_INET6);
                l4proto(r, IPPROTO_ICMPV6);
                payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
                cmp(r, NFT_CMP_EQ, &nd[i], 1);
                verdict(r, NF_ACCEPT, NULL);
                add_base(b, r, "iifname @" NFT_SET_ISOLATED " icmpv6 type nd-* accept");
        }

        r = base("input");
        ifname_in(r, NFT_META_IIFNAME, NFT_SET_ISOLATED);
        verdict(r, NFT_JUMP, NFT_CHAIN_ISOLATED);
        add_base(b, r, "iifname @" NFT_SET_ISOLATED " jump " NFT_CHAIN_ISOLATED);

        r = base("input");
        ifname_in(r, NFT_META_IIFNAME, NFT_SET_ISOLATED);
        verdict(r, NF_DROP, NULL);
        add_base(b, r, "iifname @" NFT_SET_ISOLATED " drop");

        static const char *const nat[] = {"prerouting", "output"};
        for (size_t i = 0; i < ARRAY_SIZE(nat); i++) {
                static const uint32_t local = RTN_LOCAL;
                r = base(nat[i]);
                struct nftnl_expr *e = expr(r, "fib");
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
                nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
                cmp(r, NFT_CMP_EQ, &local, sizeof(local));
                verdict(r, NFT_JUMP, NFT_CHAIN_PORTS);
                add_base(b, r, "fib daddr type local jump " NFT_CHAIN_PORTS);
        }
}

/* ---- networks ------------------------------------------------------------------------------ */
static void add_net(struct nft_batch *b, struct nftnl_rule *r, const char *what, const char *name)
{
        nft_batch_rule(b, NFPROTO_INET, r, xasprintf("add the %s of network `%s`", what, name));
}

void nft_rules_network(struct nft_batch *b, const struct nft_network *nw, const char *tag)
{
        struct nftnl_rule *r;
        if (nw->internal) {
                r = nft_rule_new(NFPROTO_INET, NFT_CHAIN_INTERNAL, tag);
                ifname(r, NFT_META_IIFNAME, NFT_CMP_EQ, nw->bridge);
                ifname(r, NFT_META_OIFNAME, NFT_CMP_NEQ, nw->bridge);
                verdict(r, NF_DROP, NULL);
                add_net(b, r, "drop rule (outgoing)", nw->name);

                r = nft_rule_new(NFPROTO_INET, NFT_CHAIN_INTERNAL, tag);
                ifname(r, NFT_META_OIFNAME, NFT_CMP_EQ, nw->bridge);
                ifname(r, NFT_META_IIFNAME, NFT_CMP_NEQ, nw->bridge);
                verdict(r, NF_DROP, NULL);
                add_net(b, r, "drop rule (incoming)", nw->name);
        }
        r = nft_rule_new(NFPROTO_INET, NFT_CHAIN_BETWEEN, tag);
        ifname(r, NFT_META_IIFNAME, NFT_CMP_EQ, nw->bridge);
        ifname(r, NFT_META_OIFNAME, NFT_CMP_NEQ, nw->bridge);
        verdict(r, NF_DROP, NULL);
        add_net(b, r, "rule against routing to other networks", nw->name);
        for (size_t i = 0; nw->isolated && i < nw->n_subnets; i++) {
                const struct net_ip *gw = &nw->gateways[i];
                if (gw->family != AF_INET && gw->family != AF_INET6)
                        continue;
                static const uint8_t protos[] = {IPPROTO_UDP, IPPROTO_TCP};
                for (size_t k = 0; k < ARRAY_SIZE(protos); k++) {
                        r = nft_rule_new(NFPROTO_INET, NFT_CHAIN_ISOLATED, tag);
                        ifname(r, NFT_META_IIFNAME, NFT_CMP_EQ, nw->bridge);
                        nfproto(r, gw->family);
                        addr(r, daddr_off(gw->family), NFT_CMP_EQ, gw, ip_len(gw->family) * 8);
                        l4proto(r, protos[k]);
                        dport(r, 53);
                        verdict(r, NF_ACCEPT, NULL);
                        add_net(b, r, "DNS rule", nw->name);
                }
        }
        for (size_t i = 0; i < nw->n_subnets; i++) {
                const struct net_cidr *c = &nw->subnets[i];
                if (c->ip.family != AF_INET && c->ip.family != AF_INET6)
                        continue;
                if (!nw->internal) {
                        r = nft_rule_new(NFPROTO_INET, "postrouting", tag);
                        nfproto(r, c->ip.family);
                        addr(r, saddr_off(c->ip.family), NFT_CMP_EQ, &c->ip, c->prefix);
                        ifname(r, NFT_META_OIFNAME, NFT_CMP_NEQ, nw->bridge);
                        expr(r, "masq");
                        add_net(b, r, "masquerade rule", nw->name);
                }
                /* hairpin: from the bridge to a port published into it.  No `iifname`: with
                 * br_netfilter the DNATed packet is bridged, and postrouting sees no input
                 * link. */
                r = nft_rule_new(NFPROTO_INET, "postrouting", tag);
                nfproto(r, c->ip.family);
                addr(r, saddr_off(c->ip.family), NFT_CMP_EQ, &c->ip, c->prefix);
                ifname(r, NFT_META_OIFNAME, NFT_CMP_EQ, nw->bridge);
                ct_dnat(r);
                expr(r, "masq");
                add_net(b, r, "hairpin masquerade rule", nw->name);
        }
}

/* ---- endpoints ----------------------------------------------------------------------------- */
static struct nftnl_rule *port_rule(const struct nft_endpoint *e)
{
        struct nftnl_rule *r = nft_rule_new(NFPROTO_BRIDGE, "prerouting", e->owner);
        ifname(r, NFT_META_IIFNAME, NFT_CMP_EQ, e->veth);
        return r;
}

static void add_ep(struct nft_batch *b, int family, struct nftnl_rule *r, const char *what,
                   const char *owner)
{
        nft_batch_rule(b, family, r, xasprintf("add the %s of `%s`", what, owner));
}

/* ether type TYPE [<addr at off> == a] accept, for each address of that family (and the
 * extra ones), then ether type TYPE drop */
static void only_from(struct nft_batch *b, const struct nft_endpoint *e, uint16_t type, int family,
                      unsigned off, const struct net_cidr *extra, size_t n_extra)
{
        const char *what = type == ETH_ARP ? "ARP anti-spoofing rule" : "anti-spoofing rule";
        struct nftnl_rule *r;
        for (size_t i = 0; i < e->n_ips + n_extra; i++) {
                const struct net_ip *ip = i < e->n_ips ? &e->ips[i] : &extra[i - e->n_ips].ip;
                unsigned prefix = i < e->n_ips ? ip_len(family) * 8 : extra[i - e->n_ips].prefix;
                if (ip->family != family)
                        continue;
                r = port_rule(e);
                ether_type(r, type);
                addr(r, off, NFT_CMP_EQ, ip, prefix);
                verdict(r, NF_ACCEPT, NULL);
                add_ep(b, NFPROTO_BRIDGE, r, what, e->owner);
        }
        r = port_rule(e);
        ether_type(r, type);
        verdict(r, NF_DROP, NULL);
        add_ep(b, NFPROTO_BRIDGE, r, what, e->owner);
}

static int dnat_rule(struct nft_batch *b, const struct nft_endpoint *e, const struct net_port *p,
                     struct cx_error **err)
{
        int fam = p->target.family;
        if ((fam != AF_INET && fam != AF_INET6) ||
            (p->host_ip.family && p->host_ip.family != fam) ||
            (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) || p->host_port == 0 ||
            p->port == 0)
                return cx_error_msg(err, EINVAL,
                                    "nftables: invalid published port %u:%u of `%s` (protocol %d, "
                                    "address families %d and %d)",
                                    p->host_port, p->port, e->owner, p->proto, p->host_ip.family,
                                    fam);
        struct nftnl_rule *r = nft_rule_new(NFPROTO_INET, NFT_CHAIN_PORTS, e->owner);
        nfproto(r, fam);
        if (p->host_ip.family)
                addr(r, daddr_off(fam), NFT_CMP_EQ, &p->host_ip, ip_len(fam) * 8);
        l4proto(r, (uint8_t)p->proto);
        dport(r, p->host_port);

        struct nftnl_expr *x = expr(r, "immediate");
        nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
        nftnl_expr_set(x, NFTNL_EXPR_IMM_DATA, p->target.a, ip_len(fam));
        uint16_t port = htons(p->port);
        x = expr(r, "immediate");
        nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_2);
        nftnl_expr_set(x, NFTNL_EXPR_IMM_DATA, &port, sizeof(port));
        x = expr(r, "nat");
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_FAMILY, fam == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
        nftnl_expr_set_u32(x, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);

        _cleanup_free_ char *what = xasprintf(
            "published port %s/%u", p->proto == IPPROTO_TCP ? "tcp" : "udp", p->host_port);
        add_ep(b, NFPROTO_INET, r, what, e->owner);
        return 0;
}

int nft_rules_endpoint(struct nft_batch *b, const struct nft_endpoint *e, struct cx_error **err)
{
        /* anti-spoofing, in this order: the MAC, ARP, IPv4, IPv6, no VLAN-tagged frames */
        struct nftnl_rule *r = port_rule(e);
        payload(r, NFT_PAYLOAD_LL_HEADER, 6, 6);
        cmp(r, NFT_CMP_NEQ, e->mac, 6);
        verdict(r, NF_DROP, NULL);
        add_ep(b, NFPROTO_BRIDGE, r, "MAC anti-spoofing rule", e->owner);

        r = port_rule(e);
        ether_type(r, ETH_ARP);
        payload(r, NFT_PAYLOAD_NETWORK_HEADER, 8, 6); /* arp saddr ether */
        cmp(r, NFT_CMP_NEQ, e->mac, 6);
        verdict(r, NF_DROP, NULL);
        add_ep(b, NFPROTO_BRIDGE, r, "ARP anti-spoofing rule", e->owner);

        /* arp saddr ip (offset 14); 0.0.0.0 is an address probe (RFC 5227) */
        const struct net_cidr any4 = {.ip = {.family = AF_INET}, .prefix = 32};
        only_from(b, e, ETH_ARP, AF_INET, 14, &any4, 1);
        only_from(b, e, ETH_IP, AF_INET, saddr_off(AF_INET), NULL, 0);
        /* link-local fe80::/10 and :: (duplicate address detection) too */
        const struct net_cidr ll6[] = {
            {.ip = {.family = AF_INET6, .a = {0xfe, 0x80}}, .prefix = 10},
            {.ip = {.family = AF_INET6}, .prefix = 128},
        };
        only_from(b, e, ETH_IP6, AF_INET6, saddr_off(AF_INET6), ll6, ARRAY_SIZE(ll6));

        static const uint16_t tagged[] = {ETH_VLAN, ETH_QINQ};
        for (size_t i = 0; i < ARRAY_SIZE(tagged); i++) {
                r = port_rule(e);
                ether_type(r, tagged[i]);
                verdict(r, NF_DROP, NULL);
                add_ep(b, NFPROTO_BRIDGE, r, "VLAN anti-spoofing rule", e->owner);
        }

        for (size_t i = 0; i < e->n_ports; i++) {
                int rc = dnat_rule(b, e, &e->ports[i], err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}
