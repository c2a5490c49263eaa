/* net/network: network definitions, ROOT/networks/NAME.json (written atomically, last, once
 * the bridge, its addresses and its nftables rules exist), and bringing a network up in the
 * caller's network namespace. */
#include "net/net.h"
#include "state/state.h"
#include "util/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_SUBNET "10.89.0.0/24"
#define DEFAULT_BRIDGE "capsa0"

void net_network_clear(struct net_network *n)
{
        if (!n)
                return;
        free(n->name);
        free(n->tenant);
        free(n->created);
        *n = (struct net_network){0};
}

static bool ifname_valid(const char *s)
{
        if (!*s || strlen(s) >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

/* "cn-NAME"; a tenant network whose name is too long: "ct" and 12 hex digits of its hash */
static void default_bridge(const char *name, char ret[IFNAMSIZ])
{
        if (strcmp(name, NET_DEFAULT) == 0) {
                snprintf(ret, IFNAMSIZ, "%s", DEFAULT_BRIDGE);
                return;
        }
        if (strlen("cn-") + strlen(name) < IFNAMSIZ) {
                snprintf(ret, IFNAMSIZ, "cn-%s", name);
                return;
        }
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
        for (const char *p = name; *p; p++)
                h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
        snprintf(ret, IFNAMSIZ, "ct%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

/* ---- the definition file ------------------------------------------------------------------ */
static void write_json(struct json_w *w, struct net_store *s, const struct net_network *n,
                       bool with_leases)
{
        char buf[NET_IP_STRLEN + 4];
        json_w_obj_open(w);
        json_w_key_str(w, "name", n->name);
        json_w_key_str(w, "bridge", n->bridge);
        json_w_key_arr_open(w, "subnets");
        for (size_t i = 0; i < n->n_subnets; i++) {
                json_w_obj_open(w);
                json_w_key_str(w, "subnet", net_cidr_str(&n->subnets[i], buf));
                json_w_key_str(w, "gateway", net_ip_str(&n->gateways[i], buf));
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_key_int(w, "mtu", n->mtu);
        json_w_key_bool(w, "internal", n->internal);
        json_w_key(w, "tenant");
        if (n->tenant)
                json_w_str(w, n->tenant);
        else
                json_w_null(w);
        json_w_key_str(w, "created", n->created);
        if (with_leases) {
                struct net_lease *l = NULL;
                size_t nl = 0;
                _cleanup_error_ struct cx_error *e = NULL;
                if (s)
                        net_lease_list(s, n->name, &l, &nl, &e);
                json_w_key(w, "endpoints");
                if (nl == 0)
                        json_w_raw(w, "[]"); /* yajl's pretty "[\n\n]" is not what Go prints */
                else
                        json_w_arr_open(w);
                for (size_t i = 0; i < nl; i++) {
                        json_w_obj_open(w);
                        json_w_key_str(w, "owner", l[i].owner);
                        json_w_key_str(w, "address", net_ip_str(&l[i].ip, buf));
                        json_w_obj_close(w);
                }
                if (nl)
                        json_w_arr_close(w);
                net_leases_free(l, nl);
        }
        json_w_obj_close(w);
}

char *net_network_json(struct net_store *s, const struct net_network *n, bool with_leases)
{
        struct json_w *w = json_w_new("  ");
        write_json(w, s, n, with_leases);
        return json_w_finish(w, true);
}

static int bad_definition(struct net_store *s, const char *file, const char *what,
                          struct cx_error **err)
{
        return cx_error_msg(err, EINVAL, "`%s/networks/%s`: %s", s->root, file, what);
}

/* Loads NAME.json: -ENOENT (no error text) when there is none */
static int load(struct net_store *s, const char *name, struct net_network *ret,
                struct cx_error **err)
{
        _cleanup_free_ char *file = xasprintf("%s.json", name);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (faccessat(s->fd, file, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                return -ENOENT;
        int r = read_file_at(s->fd, file, &text, &len, err);
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        if ((r = json_parse(text, len, file, &v, err)) < 0)
                return r;
        struct net_network n = {0};
        const char *str = json_val_str(json_val_get(v, "name"));
        if (!str || strcmp(str, name) != 0)
                return bad_definition(s, file, "\"name\" is not the file's name", err);
        str = json_val_str(json_val_get(v, "bridge"));
        if (!str || !ifname_valid(str))
                return bad_definition(s, file, "\"bridge\" is not an interface name", err);
        snprintf(n.bridge, sizeof(n.bridge), "%s", str);
        const struct json_val *subs = json_val_get(v, "subnets");
        if (json_val_type(subs) != JSON_ARRAY || json_val_len(subs) > NET_MAX_SUBNETS)
                return bad_definition(s, file, "\"subnets\" is not an array of at most 4", err);
        for (size_t i = 0; i < json_val_len(subs); i++) {
                const struct json_val *e = json_val_at(subs, i);
                if (net_cidr_parse(json_val_str(json_val_get(e, "subnet")), false, &n.subnets[i]) <
                        0 ||
                    net_ip_parse(json_val_str(json_val_get(e, "gateway")), &n.gateways[i]) < 0)
                        return bad_definition(s, file, "a subnet or gateway is not valid", err);
        }
        n.n_subnets = json_val_len(subs);
        int64_t mtu = 0;
        const struct json_val *m = json_val_get(v, "mtu");
        if (m && (!json_val_int(m, &mtu) || mtu < 0 || mtu > 65535))
                return bad_definition(s, file, "\"mtu\" is not valid", err);
        n.mtu = (unsigned)mtu;
        n.internal = json_val_type(json_val_get(v, "internal")) == JSON_TRUE;
        str = json_val_str(json_val_get(v, "tenant"));
        n.tenant = str && *str ? xstrdup(str) : NULL;
        str = json_val_str(json_val_get(v, "created"));
        n.created = xstrdup(str ? str : "");
        n.name = xstrdup(name);
        *ret = n;
        return 0;
}

static int save(struct net_store *s, const struct net_network *n, struct cx_error **err)
{
        _cleanup_free_ char *json = net_network_json(s, n, false);
        _cleanup_free_ char *file = xasprintf("%s.json", n->name);
        return write_file_atomic_at(s->fd, file, json, strlen(json), err);
}

static int name_cmp(const void *a, const void *b)
{
        const struct net_network *x = a, *y = b;
        return strcmp(x->name, y->name);
}

int net_network_list(struct net_store *s, struct net_network **ret, size_t *ret_n,
                     struct cx_error **err)
{
        int fd = dup(s->fd);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return cx_error_set(err, e, "read `%s/networks`", s->root);
        }
        rewinddir(d);
        struct net_network *v = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
                        continue;
                _cleanup_free_ char *name = strndup(de->d_name, len - 5);
                if (!name || net_name_validate(name, NULL) < 0)
                        continue;
                struct net_network nw;
                _cleanup_error_ struct cx_error *e = NULL;
                if (load(s, name, &nw, &e) < 0) {
                        log_warn("skipping network `%s`: %s", name, e ? e->msg : "gone");
                        continue;
                }
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = nw;
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), name_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

void net_networks_free(struct net_network *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                net_network_clear(&v[i]);
        free(v);
}

/* ---- bringing a network up in the caller's namespace ------------------------------------ */
/* Sets a sysctl to "1" unless it is already */
static int sysctl_on(const char *path, struct cx_error **err)
{
        _cleanup_free_ char *cur = NULL;
        if (read_file_at(AT_FDCWD, path, &cur, NULL, NULL) == 0 && cur[0] == '1')
                return 0;
        return write_file_at(AT_FDCWD, path, "1", 1, err);
}

static void undo(struct nl *nl, const struct net_network *n)
{
        _cleanup_error_ struct cx_error *e1 = NULL, *e2 = NULL;
        nft_network_del(n->name, n->bridge, &e1);
        if (nl)
                nl_link_del(nl, n->bridge, &e2);
}

/* The bridge, its addresses, up, forwarding and the nftables rules; on failure, none of them */
static int bring_up(struct nl *nl, const struct net_network *n, struct cx_error **err)
{
        int r = nl_bridge_add(nl, n->bridge, n->mtu, err);
        if (r < 0)
                return r;
        bool v6 = false;
        for (size_t i = 0; i < n->n_subnets && r >= 0; i++) {
                struct net_cidr a = {.ip = n->gateways[i], .prefix = n->subnets[i].prefix};
                r = nl_addr_add(nl, n->bridge, &a, err);
                v6 |= n->subnets[i].ip.family == AF_INET6;
        }
        struct nl_link_change up = NL_LINK_CHANGE_NONE;
        up.up = 1;
        if (r >= 0)
                r = nl_link_set(nl, n->bridge, &up, err);
        if (r >= 0)
                r = sysctl_on("/proc/sys/net/ipv4/ip_forward", err);
        if (r >= 0 && v6)
                r = sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding", err);
        if (r >= 0) {
                struct nft_network nft = {.name = n->name,
                                          .bridge = n->bridge,
                                          .subnets = n->subnets,
                                          .n_subnets = n->n_subnets,
                                          .gateways = n->gateways,
                                          .internal = n->internal,
                                          .isolated = n->tenant != NULL};
                r = nft_network_add(&nft, err);
        }
        if (r < 0) {
                undo(nl, n);
                return cx_error_prefix(err, "network `%s`", n->name);
        }
        return 0;
}

/* ---- create ------------------------------------------------------------------------------ */
/* A subnet as given: the option and text name it in errors */
struct subnet_arg {
        struct net_cidr c;
        const char *opt, *text;
};

/* Validates the subnet text s (from option opt) and adds it to v (IPv4 first) */
static int add_subnet(struct subnet_arg *v, size_t *n, const char *opt, const char *s, bool v6_only,
                      struct cx_error **err)
{
        struct net_cidr c;
        if (net_cidr_parse(s, false, &c) < 0)
                return cx_error_msg(err, EINVAL, "%s `%s`: not a CIDR", opt, s);
        if (v6_only && c.ip.family != AF_INET6)
                return cx_error_msg(err, EINVAL, "%s `%s`: not an IPv6 CIDR", opt, s);
        unsigned max = c.ip.family == AF_INET ? 30 : 126;
        if (c.prefix > max)
                return cx_error_msg(err, EINVAL, "%s `%s`: too small (at most a /%u)", opt, s, max);
        for (size_t i = 0; i < *n; i++)
                if (v[i].c.ip.family == c.ip.family)
                        return cx_error_msg(err, EINVAL,
                                            "%s `%s`: a network has at most one %s subnet (`%s` "
                                            "is one)",
                                            opt, s, c.ip.family == AF_INET ? "IPv4" : "IPv6",
                                            v[i].text);
        size_t at = *n;
        if (c.ip.family == AF_INET) {
                at = 0;
                memmove(&v[1], &v[0], *n * sizeof(v[0]));
        }
        v[at] = (struct subnet_arg){c, opt, s};
        (*n)++;
        return 0;
}

/* Whether c is free: when it overlaps another network's subnet or a route of the host, -EEXIST
 * without opt, or -EINVAL with an error naming opt and arg (a refused argument, as every
 * other); else 0, or a netlink error */
static int check_free(struct nl *nl, const struct net_network *all, size_t n_all,
                      const struct net_cidr *c, const char *opt, const char *arg,
                      struct cx_error **err)
{
        char a[NET_IP_STRLEN + 4];
        for (size_t i = 0; i < n_all; i++)
                for (size_t j = 0; j < all[i].n_subnets; j++)
                        if (net_cidr_overlaps(c, &all[i].subnets[j]))
                                return opt ? cx_error_msg(err, EINVAL,
                                                          "%s `%s` overlaps network `%s` (%s)", opt,
                                                          arg, all[i].name,
                                                          net_cidr_str(&all[i].subnets[j], a))
                                           : -EEXIST;
        struct net_cidr route;
        int r = nl_route_overlap(nl, c, &route, err);
        if (r < 0)
                return r;
        if (r > 0)
                return opt ? cx_error_msg(err, EINVAL, "%s `%s` overlaps the host's route to %s",
                                          opt, arg, net_cidr_str(&route, a))
                           : -EEXIST;
        return 0;
}

/* The gateway of the IPv4 subnet v[0] */
static int check_gateway(const char *gateway, const struct subnet_arg *v, size_t n,
                         struct net_ip *ret, struct cx_error **err)
{
        struct net_ip gw;
        if (net_ip_parse(gateway, &gw) < 0)
                return cx_error_msg(err, EINVAL, "--gateway `%s`: not an IP address", gateway);
        if (gw.family != AF_INET)
                return cx_error_msg(err, EINVAL, "--gateway `%s`: not an IPv4 address", gateway);
        if (!n || v[0].c.ip.family != AF_INET)
                return cx_error_msg(err, EINVAL, "--gateway `%s` needs an IPv4 --subnet", gateway);
        if (!net_cidr_contains(&v[0].c, &gw))
                return cx_error_msg(err, EINVAL, "--gateway `%s` is outside %s `%s`", gateway,
                                    v[0].opt, v[0].text);
        if (!net_cidr_is_host(&v[0].c, &gw) || net_ip_equal(&gw, &v[0].c.ip))
                return cx_error_msg(err, EINVAL, "--gateway `%s` is not a host address of %s `%s`",
                                    gateway, v[0].opt, v[0].text);
        *ret = gw;
        return 0;
}

/* Everything but the subnets, which need the other networks and the routes */
static int check_opts(const struct net_create_opts *o, struct net_network *n, struct subnet_arg *v,
                      size_t *n_v, struct cx_error **err)
{
        int r = net_name_validate(o->name, err);
        if (r < 0)
                return r;
        if (str_has_prefix(o->name, "tenant-") &&
            (!o->tenant || strcmp(o->name + strlen("tenant-"), o->tenant) != 0))
                return cx_error_msg(err, EINVAL,
                                    "network name `%s`: tenant-* names are kept for tenants' "
                                    "networks",
                                    o->name);
        if (o->bridge && !ifname_valid(o->bridge))
                return cx_error_msg(err, EINVAL,
                                    "--bridge `%s`: not an interface name (at most %d "
                                    "characters, no '/', ':' or spaces)",
                                    o->bridge, IFNAMSIZ - 1);
        if (o->bridge)
                snprintf(n->bridge, sizeof(n->bridge), "%s", o->bridge);
        else
                default_bridge(o->name, n->bridge);
        if (o->mtu && (o->mtu < 68 || o->mtu > 65535))
                return cx_error_msg(err, EINVAL, "--mtu `%u`: not between 68 and 65535", o->mtu);
        if (o->n_subnets + (o->ipv6 != NULL) > NET_MAX_SUBNETS)
                return cx_error_msg(err, EINVAL, "at most %d subnets", NET_MAX_SUBNETS);
        for (size_t i = 0; i < o->n_subnets; i++)
                if ((r = add_subnet(v, n_v, "--subnet", o->subnets[i], false, err)) < 0)
                        return r;
        if (o->ipv6 && (r = add_subnet(v, n_v, "--ipv6", o->ipv6, true, err)) < 0)
                return r;
        if (strcmp(o->name, NET_DEFAULT) == 0 && (!*n_v || v[0].c.ip.family != AF_INET) &&
            (r = add_subnet(v, n_v, "--subnet", DEFAULT_SUBNET, false, err)) < 0)
                return r;
        for (size_t i = 0; i < *n_v; i++) {
                if (v[i].c.ip.family == AF_INET6 && o->mtu && o->mtu < 1280)
                        return cx_error_msg(err, EINVAL,
                                            "--mtu `%u`: an IPv6 subnet (%s `%s`) needs at least "
                                            "1280",
                                            o->mtu, v[i].opt, v[i].text);
                n->subnets[i] = v[i].c;
                net_cidr_nth(&v[i].c, 1, &n->gateways[i]); /* the first host by default */
        }
        n->n_subnets = *n_v;
        if (o->gateway && (r = check_gateway(o->gateway, v, *n_v, &n->gateways[0], err)) < 0)
                return r;
        return 0;
}

/* The first free /24 of 10.89.1.0 .. 10.89.255.0, first in n's subnets */
static int pick_subnet(struct nl *nl, const struct net_network *all, size_t n_all,
                       struct net_network *n, struct cx_error **err)
{
        struct net_cidr c = {.ip = {.family = AF_INET, .a = {10, 89, 0, 0}}, .prefix = 24};
        int r = -EEXIST;
        for (unsigned third = 1; third < 256 && r == -EEXIST; third++) {
                c.ip.a[2] = (uint8_t)third;
                r = check_free(nl, all, n_all, &c, NULL, NULL, err);
        }
        if (r == -EEXIST)
                return cx_error_msg(err, EADDRNOTAVAIL,
                                    "no free /24 left in 10.89.1.0-10.89.255.255 for network "
                                    "`%s`: give it a --subnet",
                                    n->name);
        if (r < 0)
                return r;
        memmove(&n->subnets[1], &n->subnets[0], n->n_subnets * sizeof(n->subnets[0]));
        memmove(&n->gateways[1], &n->gateways[0], n->n_subnets * sizeof(n->gateways[0]));
        n->subnets[0] = c;
        net_cidr_nth(&c, 1, &n->gateways[0]);
        n->n_subnets++;
        return 0;
}

/* A network made on first use (default, a tenant's) whose bridge exists but no definition:
 * a create killed between making the bridge and writing NAME.json.  The name is capsa's own
 * choice, so the half-made bridge (and the route its gateway address brought) goes. */
static int remove_half_made(struct nl *nl, const char *bridge, struct cx_error **err)
{
        struct nl_link_info info;
        int r = nl_link_get(nl, bridge, &info, err);
        if (r == -ENODEV)
                return 0;
        if (r < 0 || strcmp(info.kind, "bridge") != 0)
                return r; /* not a bridge: the clash check names it */
        log_warn("bridge `%s` of a network that was never finished: removed", bridge);
        return nl_link_del(nl, bridge, err);
}

/* on_demand: made on first use (default, a tenant's), not by `net create` */
static int create(struct net_store *s, const struct net_create_opts *o, bool on_demand,
                  struct net_network *ret, struct cx_error **err)
{
        struct net_network n = {.mtu = o->mtu, .internal = o->internal}, *all = NULL;
        struct subnet_arg v[NET_MAX_SUBNETS];
        size_t n_v = 0, n_all = 0;
        _cleanup_(nl_closep) struct nl *nl = NULL;
        struct nl_link_info info;
        int r = check_opts(o, &n, v, &n_v, err);
        if (r < 0)
                return r;
        struct net_network old;
        if ((r = load(s, o->name, &old, err)) == 0) {
                net_network_clear(&old);
                return cx_error_msg(err, EEXIST, "network `%s` already exists", o->name);
        }
        if (r != -ENOENT)
                return r;
        n.name = xstrdup(o->name);
        n.tenant = o->tenant ? xstrdup(o->tenant) : NULL;
        if ((r = net_network_list(s, &all, &n_all, err)) < 0)
                goto out;
        for (size_t i = 0; i < n_all; i++)
                if (strcmp(all[i].bridge, n.bridge) == 0) {
                        r = cx_error_msg(err, EINVAL, "bridge `%s` is the bridge of network `%s`",
                                         n.bridge, all[i].name);
                        goto out;
                }
        if ((r = nl_open(-1, &nl, err)) < 0 ||
            (on_demand && (r = remove_half_made(nl, n.bridge, err)) < 0))
                goto out;
        for (size_t i = 0; i < n_v; i++)
                if ((r = check_free(nl, all, n_all, &v[i].c, v[i].opt, v[i].text, err)) < 0)
                        goto out;
        if ((!n_v || v[0].c.ip.family != AF_INET) && (r = pick_subnet(nl, all, n_all, &n, err)) < 0)
                goto out;
        r = nl_link_get(nl, n.bridge, &info, err);
        if (r == 0) {
                r = cx_error_msg(err, EINVAL,
                                 "bridge `%s` clashes with an existing link that is not capsa's",
                                 n.bridge);
                goto out;
        }
        if (r != -ENODEV)
                goto out;
        n.created = state_now_rfc3339();
        if ((r = bring_up(nl, &n, err)) < 0)
                goto out;
        if ((r = save(s, &n, err)) < 0) {
                undo(nl, &n);
                goto out;
        }
        if (ret)
                *ret = n;
        else
                net_network_clear(&n);
        n = (struct net_network){0};
out:
        net_network_clear(&n);
        net_networks_free(all, n_all);
        return r;
}

int net_network_create(struct net_store *s, const struct net_create_opts *o,
                       struct net_network *ret, struct cx_error **err)
{
        return create(s, o, false, ret, err);
}

int net_network_get(struct net_store *s, const char *name, struct net_network *ret,
                    struct cx_error **err)
{
        int r = net_name_validate(name, err);
        if (r < 0)
                return r;
        struct net_network n;
        r = load(s, name, &n, err);
        if (r == -ENOENT && strcmp(name, NET_DEFAULT) == 0) {
                const char *sub = DEFAULT_SUBNET;
                struct net_create_opts o = {.name = name, .subnets = &sub, .n_subnets = 1};
                if ((r = create(s, &o, true, ret, err)) < 0)
                        return cx_error_prefix(err, "create network `%s`", name);
                return 0;
        }
        if (r == -ENOENT && str_has_prefix(name, "tenant-")) {
                const char *tenant = name + strlen("tenant-");
                if ((r = state_tenant_name_validate(tenant, "network", err)) < 0)
                        return r;
                struct net_create_opts o = {.name = name, .tenant = tenant};
                if ((r = create(s, &o, true, ret, err)) < 0)
                        return cx_error_prefix(err, "create network `%s`", name);
                return 0;
        }
        if (r == -ENOENT)
                return cx_error_msg(err, ENOENT, "network `%s` does not exist", name);
        if (r < 0)
                return r;
        /* the bridge is gone (a reboot, or the store used from another namespace): bring the
         * network back */
        _cleanup_(nl_closep) struct nl *nl = NULL;
        struct nl_link_info info;
        if ((r = nl_open(-1, &nl, err)) < 0 ||
            ((r = nl_link_get(nl, n.bridge, &info, err)) == -ENODEV &&
             (r = bring_up(nl, &n, err)) < 0) ||
            r < 0) {
                net_network_clear(&n);
                return r;
        }
        *ret = n;
        return 0;
}

int net_network_remove(struct net_store *s, const char *name, struct cx_error **err)
{
        int r = net_name_validate(name, err);
        if (r < 0)
                return r;
        struct net_network n;
        r = load(s, name, &n, err);
        if (r == -ENOENT)
                return cx_error_msg(err, ENOENT, "network `%s` does not exist", name);
        if (r < 0)
                return r;
        struct net_lease *l = NULL;
        size_t nl_ = 0;
        _cleanup_(nl_closep) struct nl *nl = NULL;
        _cleanup_free_ char *file = xasprintf("%s.json", name);
        if ((r = net_lease_list(s, name, &l, &nl_, err)) < 0)
                goto out;
        if (nl_) {
                /* the owners, each once */
                size_t len = 1;
                for (size_t i = 0; i < nl_; i++)
                        len += strlen(l[i].owner) + 2;
                _cleanup_free_ char *owners = xcalloc(1, len);
                for (size_t i = 0; i < nl_; i++) {
                        bool seen = false;
                        for (size_t j = 0; j < i && !seen; j++)
                                seen = strcmp(l[i].owner, l[j].owner) == 0;
                        if (seen)
                                continue;
                        if (*owners)
                                strcat(owners, ", ");
                        strcat(owners, l[i].owner);
                }
                r = cx_error_msg(err, EBUSY, "network `%s` is in use by %s", name, owners);
                goto out;
        }
        if ((r = nft_network_del(n.name, n.bridge, err)) < 0 || (r = nl_open(-1, &nl, err)) < 0 ||
            (r = nl_link_del(nl, n.bridge, err)) < 0)
                goto out;
        rm_rf_at(s->fd, name);
        if (unlinkat(s->fd, file, 0) < 0 && errno != ENOENT)
                r = cx_error_set(err, errno, "remove `%s/networks/%s`", s->root, file);
out:
        net_leases_free(l, nl_);
        net_network_clear(&n);
        return r;
}
