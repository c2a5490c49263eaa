/* net: container networking built in — bridges, veth pairs, addresses and routes over netlink
 * (libmnl), NAT, published ports, isolation and anti-spoofing with nftables (libnftnl),
 * networks and address leases under ROOT/networks, and the CNI 1.0 plugin.
 *
 * Every network is a Linux bridge in the runtime's network namespace; an endpoint (a container's
 * attachment, or a CNI ADD) is a veth pair whose peer is created straight in the container's
 * namespace, one lease per address family, and nftables rules tagged with the endpoint's owner
 * (a container id, or "cni/CONTAINERID/IFNAME").  capsa owns the tables `inet capsa` and
 * `bridge capsa` and touches no other rule of the host.  Kernel interfaces: rtnetlink
 * (RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE), nfnetlink (nf_tables), setns(2), flock(2). */
#pragma once

#include "util/util.h"

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

/* ---- addresses (ip.c) -------------------------------------------------------------------- */
struct net_ip {
        int family; /* AF_INET, AF_INET6, or 0: none */
        uint8_t a[16];
};
struct net_cidr {
        struct net_ip ip;
        unsigned prefix;
};
#define NET_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

/* "10.0.0.1" or "fd00::1"; -EINVAL for anything else (no error text: callers name the input) */
int net_ip_parse(const char *s, struct net_ip *ret);
/* "10.0.0.0/24": the address is masked to the network unless keep_host */
int net_cidr_parse(const char *s, bool keep_host, struct net_cidr *ret);
const char *net_ip_str(const struct net_ip *ip, char buf[NET_IP_STRLEN]);
/* "10.0.0.0/24" into buf (NET_IP_STRLEN + 4 bytes) */
const char *net_cidr_str(const struct net_cidr *c, char buf[NET_IP_STRLEN + 4]);
bool net_ip_equal(const struct net_ip *a, const struct net_ip *b);
bool net_cidr_contains(const struct net_cidr *c, const struct net_ip *ip);
bool net_cidr_overlaps(const struct net_cidr *a, const struct net_cidr *b);
/* The n-th address of the network (n = 1: the first host, the gateway by default); false when
 * it falls outside */
bool net_cidr_nth(const struct net_cidr *c, uint64_t n, struct net_ip *ret);
/* The network and broadcast addresses (IPv4) are not handed out */
bool net_cidr_is_host(const struct net_cidr *c, const struct net_ip *ip);

/* ---- netlink (nl.c, link.c, addr.c) ------------------------------------------------------ */
/* A NETLINK_ROUTE socket bound in one network namespace.  Every error names the object the
 * request was about and carries the kernel's netlink error (and extended ack message). */
struct nl;
/* netns_fd -1: the caller's namespace; else the socket is made inside that namespace (setns
 * there and back), and every request through it acts there. */
int nl_open(int netns_fd, struct nl **ret, struct cx_error **err);
void nl_close(struct nl *n);
void nl_closep(struct nl **n);

struct nl_link_info {
        int index;
        char kind[16]; /* "bridge", "veth", "dummy", ... ("" when none) */
        uint8_t mac[6];
        unsigned mtu;
        bool up;
        int master; /* ifindex of the bridge it is enslaved to, 0 if none */
};
/* -ENODEV (without touching err) when no link has that name */
int nl_link_get(struct nl *n, const char *name, struct nl_link_info *ret, struct cx_error **err);
/* Creates a bridge (EEXIST is an error naming the link). mtu 0: the kernel's default. */
int nl_bridge_add(struct nl *n, const char *name, unsigned mtu, struct cx_error **err);
/* Creates a veth pair: `name` here, `peer` (named so) straight in the namespace peer_netns_fd
 * (-1: here too), each with the mtu (0: default) and the peer with peer_mac (NULL: random). */
int nl_veth_add(struct nl *n, const char *name, const char *peer, int peer_netns_fd, unsigned mtu,
                const uint8_t *peer_mac, struct cx_error **err);
/* Creates a persistent tap device (for a VM's NIC; rtnetlink cannot make one: TUNSETIFF and
 * TUNSETPERSIST on /dev/net/tun).  An existing one of that name is an error naming it. */
int nl_tap_add(const char *name, unsigned mtu, struct cx_error **err);
/* Deletes a link; one that does not exist is not an error (undo is idempotent). */
int nl_link_del(struct nl *n, const char *name, struct cx_error **err);
struct nl_link_change {
        int up;             /* 1 up, 0 down, -1 leave */
        unsigned mtu;       /* 0: leave */
        const uint8_t *mac; /* NULL: leave */
        const char *master; /* enslave to this bridge; NULL: leave */
        const char *rename; /* NULL: leave */
        int netns_fd;       /* move into this namespace; -1: leave */
};
#define NL_LINK_CHANGE_NONE                                                                        \
        {                                                                                          \
                .up = -1, .netns_fd = -1                                                           \
        }
int nl_link_set(struct nl *n, const char *name, const struct nl_link_change *c,
                struct cx_error **err);
/* Adds an address (IPv6 without duplicate address detection: usable at once); EEXIST is not an
 * error. */
int nl_addr_add(struct nl *n, const char *ifname, const struct net_cidr *addr,
                struct cx_error **err);
/* A route to dst (NULL: the default route) via gw (NULL: on-link) out of ifname. */
int nl_route_add(struct nl *n, const struct net_cidr *dst, const struct net_ip *gw,
                 const char *ifname, struct cx_error **err);
/* The routes of the caller's namespace that overlap c (to refuse a subnet the host uses): the
 * first such route's destination into *ret; 1 when found, 0 when none. */
int nl_route_overlap(struct nl *n, const struct net_cidr *c, struct net_cidr *ret,
                     struct cx_error **err);

/* ---- nftables (nft.c): the tables `inet capsa` and `bridge capsa` ------------------------ */
/* All calls act on the caller's network namespace, create what they need of the tables on
 * first use, and are idempotent: adding what exists replaces it, removing what is gone is 0. */
struct nft_network {
        const char *name;   /* rules tagged "net/NAME" */
        const char *bridge; /* its bridge link */
        const struct net_cidr *subnets;
        size_t n_subnets;
        const struct net_ip *gateways; /* one per subnet */
        bool internal;                 /* no traffic in or out of the bridge but its own */
        bool isolated; /* a tenant network: the host's own addresses are unreachable from it
                          except the gateway's port 53 (and replies to the host's own traffic) */
};
/* Bridge in the set of capsa bridges (traffic routed between two capsa bridges is dropped
 * unless it was DNATed to a published port), masquerade of its subnets out of other links
 * (unless internal), the input filter (isolated). */
int nft_network_add(const struct nft_network *nw, struct cx_error **err);
int nft_network_del(const char *name, const char *bridge, struct cx_error **err);

struct net_port {
        int proto;             /* IPPROTO_TCP or IPPROTO_UDP */
        struct net_ip host_ip; /* family 0: every local address */
        uint16_t host_port;    /* 1..65535 */
        uint16_t port;         /* the container's port */
        struct net_ip target;  /* the container's address (set by the endpoint) */
};
struct nft_endpoint {
        const char *owner; /* the tag of every rule made here */
        const char *veth;  /* host end of the endpoint's veth, a port of the bridge */
        const char *bridge;
        uint8_t mac[6];           /* the only source MAC accepted from the veth */
        const struct net_ip *ips; /* the only source addresses accepted (IPv6 also allows
                                     link-local and ::) */
        size_t n_ips;
        const struct net_port *ports; /* DNAT from the host's addresses (also for the host's
                                         own traffic), and hairpin from the bridge itself */
        size_t n_ports;
};
int nft_endpoint_add(const struct nft_endpoint *e, struct cx_error **err);
/* Removes every rule tagged owner from both tables. */
int nft_endpoint_del(const char *owner, struct cx_error **err);

/* ---- networks and leases under ROOT/networks (store.c, network.c, ipam.c) --------------- */
/* ROOT/networks, flock()ed exclusively while open: every change to networks, leases and
 * published ports happens under it. */
struct net_store {
        int fd;
        char *root; /* the state root */
};
int net_store_open(const char *root, struct net_store *ret, struct cx_error **err);
void net_store_close(struct net_store *s);
/* The owner a lease or published-port file holds (a trailing newline dropped), or NULL. */
char *net_store_read_owner(int dirfd, const char *name);
/* Creates dirfd/name holding owner, atomically (an unnamed file linked in once written: a
 * runtime killed at any instant leaves the whole file or none).  -EEXIST without error text
 * when it exists, unless replace. */
int net_store_write_owner(int dirfd, const char *name, const char *owner, bool replace,
                          struct cx_error **err);

#define NET_DEFAULT     "default"
#define NET_MAX_SUBNETS 4
#define NET_NAME_MAX    12 /* the bridge is "cn-NAME" (IFNAMSIZ) unless --bridge */
struct net_network {
        char *name;
        char bridge[IFNAMSIZ];
        struct net_cidr subnets[NET_MAX_SUBNETS]; /* IPv4 ones first */
        struct net_ip gateways[NET_MAX_SUBNETS];
        size_t n_subnets;
        unsigned mtu; /* 0: the kernel's default */
        bool internal;
        char *tenant;  /* a tenant's own network (isolated), or NULL */
        char *created; /* RFC 3339 */
};
void net_network_clear(struct net_network *n);
/* Clears n networks and frees the array (net_network_list's). */
void net_networks_free(struct net_network *v, size_t n);
/* [A-Za-z0-9][A-Za-z0-9_.-]*, at most NET_NAME_MAX characters, not "ports"; or "tenant-T" for a
 * tenant T (at most NET_TENANT_NAME_MAX in all).  The error names it. */
#define NET_TENANT_NAME_MAX 128
int net_name_validate(const char *name, struct cx_error **err);

struct net_create_opts {
        const char *name;
        const char *const *subnets; /* CIDRs, IPv4 or IPv6; none: a free /24 from 10.89.0.0/16 */
        size_t n_subnets;
        const char *gateway; /* for the first IPv4 subnet; default its first host */
        const char *ipv6;    /* an IPv6 CIDR (same as listing it in subnets) */
        unsigned mtu;
        bool internal;
        const char *tenant;
        const char *bridge; /* default "cn-NAME" ("capsa0" for the default network) */
};
/* Validates (a name, CIDRs, a gateway inside its subnet, no overlap with another capsa network
 * or a route of the host, no clash with a link that is not this network's bridge), then makes
 * the bridge, its addresses and nftables rules, and writes ROOT/networks/NAME.json last.
 * Errors name the argument.  A failure leaves nothing behind. */
int net_network_create(struct net_store *s, const struct net_create_opts *o,
                       struct net_network *ret, struct cx_error **err);
/* Loads a network; the default network (10.89.0.0/24, bridge capsa0) and a tenant's network
 * ("tenant-T", a free /24 of 10.89.0.0/16, isolated) are created on first use.  Otherwise ENOENT:
 * "network `NAME` does not exist".  Also brings the bridge and rules back when they are gone (after
 * a reboot, or in a new network namespace). */
int net_network_get(struct net_store *s, const char *name, struct net_network *ret,
                    struct cx_error **err);
int net_network_list(struct net_store *s, struct net_network **ret, size_t *ret_n,
                     struct cx_error **err);
/* Refused while a lease is held ("network `NAME` is in use by ID, ID"); removes the rules,
 * the bridge and the definition. */
int net_network_remove(struct net_store *s, const char *name, struct cx_error **err);
/* {"name", "bridge", "subnets":[{"subnet","gateway"}], "mtu", "internal", "tenant", "created",
 * "endpoints":[{"owner","address"}]} with 2-space indent; endpoints only when with_leases. */
char *net_network_json(struct net_store *s, const struct net_network *n, bool with_leases);

struct net_lease {
        struct net_ip ip;
        char *owner;
};
/* Takes an address of the network's subnet of that family: `want` (refused when taken, outside
 * the subnet, the gateway, or the network/broadcast address: the error names it), or the lowest
 * free one.  The lease is the file ROOT/networks/NAME/leases/IP holding the owner. */
int net_lease_take(struct net_store *s, const struct net_network *nw, int family,
                   const struct net_ip *want, const char *owner, struct net_ip *ret,
                   struct cx_error **err);
/* Releases every lease of owner in the network (none is not an error). */
int net_lease_release(struct net_store *s, const char *network, const char *owner,
                      struct cx_error **err);
int net_lease_list(struct net_store *s, const char *network, struct net_lease **ret, size_t *ret_n,
                   struct cx_error **err);
void net_leases_free(struct net_lease *l, size_t n);

/* Published ports: ROOT/networks/ports/PROTO-HOSTIP-PORT holds the owner.  A port already
 * published (on the same or every address) is refused: "port tcp/8080 is already published by
 * container ID". */
int net_port_take(struct net_store *s, const struct net_port *p, const char *owner,
                  struct cx_error **err);
int net_port_release(struct net_store *s, const char *owner, struct cx_error **err);
/* "[HOSTIP:]HOSTPORT:PORT[/tcp|udp]" (as `-p`); the error names the argument */
int net_port_parse(const char *s, struct net_port *ret, struct cx_error **err);

/* ---- endpoints (endpoint.c): what a container's attachment and a CNI ADD make ------------ */
struct net_endpoint_req {
        const char *owner;
        int netns_fd;               /* the container's network namespace */
        const char *ifname;         /* inside it, e.g. "eth0" */
        const char *host_veth;      /* the host end (net_endpoint_veth_name) */
        struct net_ip want4, want6; /* requested addresses (family 0: any) */
        const struct net_port *ports;
        size_t n_ports;
        /* a VM's NIC: host_veth is a persistent tap on the bridge (the guest configures the
         * addresses itself); netns_fd and ifname are unused */
        bool tap;
};
struct net_endpoint {
        struct net_ip ips[2]; /* what was leased (IPv4 first) */
        struct net_cidr cidrs[2];
        struct net_ip gateways[2];
        size_t n_ips;
        uint8_t mac[6];
        unsigned mtu;
};
/* "cv" + 13 hex digits of a hash of owner, network and nonce: the host end's name.  A container
 * passes something of its instance (its init), so that the veth of the same id's previous run,
 * which the kernel may still be tearing down, never stands in the way; the CNI plugin passes 0
 * (DEL finds the veth from the owner alone). */
void net_endpoint_veth_name(const char *owner, const char *network, uint64_t nonce,
                            char ret[IFNAMSIZ]);
/* Leases, ports, the veth pair (peer straight into the namespace, with a MAC derived from the
 * address), addresses, routes and the default gateway inside, loopback up, anti-spoofing and
 * DNAT rules.  On failure, undoes what it made. */
int net_endpoint_up(struct net_store *s, const struct net_network *nw,
                    const struct net_endpoint_req *r, struct net_endpoint *ret,
                    struct cx_error **err);
/* Undoes everything of owner on that network; idempotent.  netns_gone: the owner's network
 * namespace is being destroyed (no process is left in it), which removes the veth pair; it is
 * then not deleted here (a namespace someone else pinned keeps its veth until released). */
int net_endpoint_down(struct net_store *s, const char *network, const char *owner,
                      const char *host_veth, bool netns_gone, struct cx_error **err);

/* ---- the CNI plugin (cni.c) ------------------------------------------------------------- */
/* Runs one CNI 1.0 command from the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
 * CNI_IFNAME, CNI_ARGS, CNI_PATH) and the network configuration on stdin; writes the result
 * (or the CNI error JSON) to stdout.  Returns the exit code. */
int net_cni_main(const char *root);
