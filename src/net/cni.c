/* net/cni: capsa as a CNI plugin (spec 1.1.0, results in the 0.3.x, 0.4.0, 1.0.0 and 1.1.0
 * formats).  The plugin is the same binary: `capsa [--root R] cni`, or capsa exec'ed by a CNI
 * runtime (CNI_COMMAND set and no arguments, or under another name than "capsa": see main.c).
 *
 * An attachment is an endpoint (net_endpoint_up) of a capsa network owned by
 * "cni/CONTAINERID/IFNAME": the network named by the configuration's "network" (default its
 * "name") is created from the configuration ("subnet", "gateway", "ipv6Subnet", "mtu",
 * "internal", "isolated") the first time it is used, so a conflist alone is enough.
 *
 *   ADD     the endpoint; CNI_ARGS IP=A[,B] (as host-local) or runtimeConfig.ips ask for
 *           addresses, runtimeConfig.portMappings publishes ports.  An interface CNI_IFNAME
 *           already in CNI_NETNS is an error (the spec's MUST); a lease the owner still holds
 *           without that interface (an ADD that died half-way) is released first.  A prevResult
 *           (chained after another plugin) is passed through, ours appended.
 *   DEL     net_endpoint_down: idempotent, CNI_NETNS may be gone.
 *   CHECK   the owner's leases, the host veth on the network's bridge, CNI_IFNAME in CNI_NETNS
 *           holding every leased address.
 *   GC      releases every "cni/" endpoint of the network not in cni.dev/valid-attachments.
 *   STATUS  success when the store under ROOT/networks can be opened (else code 50).
 *   VERSION the supported versions.
 * Errors are the spec's error object on stdout, exit status 1; codes: 1 unsupported
 * cniVersion, 2 unsupported field, 4 a bad CNI_* variable, 5 stdin unreadable, 6 undecodable
 * JSON, 7 an invalid configuration (also a network capsa refuses to create), 50 STATUS, 100 any
 * other failure (its cause in "details").  Unknown CNI_ARGS keys are ignored (as
 * IgnoreUnknown=1).
 *
 * The state root: the `root` argument, else the configuration's "capsaRoot", else /run/capsa.
 * Kernel interfaces: setns(2) (to read the addresses in CNI_NETNS), ioctl NS_GET_NSTYPE. */
#include "net/cni-internal.h"

static int cmd_add(struct cni *c)
{
        if (!(c->netns = cni_need_env(c, "CNI_NETNS")) || cni_load_attachment(c) < 0)
                return -1;
        struct net_ip want4, want6;
        _cleanup_free_ struct net_port *ports = NULL;
        size_t n_ports = 0;
        if (cni_wanted_ips(c, &want4, &want6) < 0 || cni_port_mappings(c, &ports, &n_ports) < 0)
                return -1;
        _cleanup_close_ int netns_fd = -1;
        if (cni_open_netns(c, &netns_fd) < 0)
                return -1;

        struct cx_error *err = NULL;
        struct nl *in = NULL;
        if (nl_open(netns_fd, &in, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot open netlink in CNI_NETNS", err);
        struct nl_link_info li;
        int r = nl_link_get(in, c->ifname, &li, &err);
        nl_close(in);
        if (r >= 0)
                return cni_fail(c, CNI_ERR_PLUGIN, "interface already exists",
                                "interface `%s` already exists in `%s`", c->ifname, c->netns);
        if (r != -ENODEV)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the interface", err);

        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        struct net_network nw = {0};
        struct net_endpoint ep = {0};
        uint8_t host_mac[6] = {0};
        struct net_ip held[2];
        size_t n_held = 0;
        struct nl *here = NULL;
        struct net_endpoint_req req = {
            .owner = c->owner,
            .netns_fd = netns_fd,
            .ifname = c->ifname,
            .host_veth = c->veth,
            .want4 = want4,
            .want6 = want6,
            .ports = ports,
            .n_ports = n_ports,
        };
        r = cni_get_network(c, &s, &nw);
        if (r < 0)
                goto out;
        r = cni_owner_leases(c, &s, held, &n_held);
        if (r < 0)
                goto out;
        if (n_held > 0) { /* an ADD that died half-way, or one without DEL: start afresh */
                r = net_endpoint_down(&s, nw.name, c->owner, c->veth, false, &err);
                if (r < 0) {
                        cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot release the previous attachment",
                                    err);
                        goto out;
                }
        }
        r = net_endpoint_up(&s, &nw, &req, &ep, &err);
        if (r < 0) {
                cni_fail_cx(c, r == -EAGAIN ? 11 : CNI_ERR_PLUGIN, "cannot attach the container",
                            err);
                goto out;
        }
        if (nl_open(-1, &here, &err) >= 0 && nl_link_get(here, c->veth, &li, &err) >= 0)
                memcpy(host_mac, li.mac, sizeof(host_mac));
        cx_error_free(err); /* the MAC is informational */
        err = NULL;
        nl_close(here);
        cni_print_add_result(c, &ep, host_mac);
        r = 0;
out:
        net_network_clear(&nw);
        net_store_close(&s);
        return r;
}

static int cmd_del(struct cni *c)
{
        if (cni_load_attachment(c) < 0)
                return -1;
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        int r = net_endpoint_down(&s, c->network, c->owner, c->veth, false, &err);
        net_store_close(&s);
        if (r < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot detach the container", err);
        return 0;
}

/* Whether ifname in the namespace netns_fd holds ip: 1 yes, 0 no */
static int netns_has_address(struct cni *c, int netns_fd, const char *ifname,
                             const struct net_ip *ip)
{
        _cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return cni_fail(c, CNI_ERR_PLUGIN, "cannot check the addresses",
                                "open /proc/self/ns/net: %s", strerror(errno));
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return cni_fail(c, CNI_ERR_PLUGIN, "cannot check the addresses",
                                "setns into `%s`: %s", c->netns, strerror(errno));
        struct ifaddrs *ifa = NULL;
        int r = getifaddrs(&ifa);
        int saved = errno;
        if (setns(self, CLONE_NEWNET) < 0)
                abort(); /* cannot go on in the wrong namespace */
        if (r < 0)
                return cni_fail(c, CNI_ERR_PLUGIN, "cannot check the addresses",
                                "getifaddrs in `%s`: %s", c->netns, strerror(saved));
        int found = 0;
        for (struct ifaddrs *i = ifa; i && !found; i = i->ifa_next) {
                if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0 ||
                    i->ifa_addr->sa_family != ip->family)
                        continue;
                const void *a =
                    ip->family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                found = memcmp(a, ip->a, ip->family == AF_INET ? 4 : 16) == 0;
        }
        freeifaddrs(ifa);
        return found;
}

static int cmd_check(struct cni *c)
{
        if (cni_version_pre1(c->version) && strcmp(c->version, "0.4.0") != 0)
                return cni_fail(c, CNI_ERR_VERSION, "incompatible CNI version",
                                "CHECK needs cniVersion 0.4.0 or later, not %s", c->version);
        if (!(c->netns = cni_need_env(c, "CNI_NETNS")) || cni_load_attachment(c) < 0)
                return -1;
        _cleanup_close_ int netns_fd = -1;
        if (cni_open_netns(c, &netns_fd) < 0)
                return -1;
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        struct net_network nw = {0};
        struct net_ip held[2];
        size_t n_held = 0;
        struct nl *n = NULL;
        struct nl_link_info li, br;
        int r = net_network_get(&s, c->network, &nw, &err);
        if (r < 0) {
                cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot load the network", err);
                goto out;
        }
        if ((r = cni_owner_leases(c, &s, held, &n_held)) < 0)
                goto out;
        if (n_held == 0) {
                r = cni_fail(c, CNI_ERR_PLUGIN, "no address leased",
                             "`%s` holds no address of network `%s`", c->owner, c->network);
                goto out;
        }
        if ((r = nl_open(-1, &n, &err)) < 0 || (r = nl_link_get(n, nw.bridge, &br, &err)) < 0 ||
            (r = nl_link_get(n, c->veth, &li, &err)) < 0) {
                if (r == -ENODEV)
                        cni_fail(c, CNI_ERR_PLUGIN, "interface missing",
                                 "the bridge `%s` or host interface `%s` does not exist", nw.bridge,
                                 c->veth);
                else
                        cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the host interface", err);
                goto out;
        }
        nl_close(TAKE_PTR(n));
        if (li.master != br.index || !li.up) {
                r = cni_fail(c, CNI_ERR_PLUGIN, "host interface misconfigured",
                             "`%s` is %s and %s the bridge `%s`", c->veth, li.up ? "up" : "down",
                             li.master == br.index ? "on" : "not on", nw.bridge);
                goto out;
        }
        if ((r = nl_open(netns_fd, &n, &err)) < 0 ||
            (r = nl_link_get(n, c->ifname, &li, &err)) < 0) {
                if (r == -ENODEV)
                        cni_fail(c, CNI_ERR_PLUGIN, "interface missing",
                                 "`%s` does not exist in `%s`", c->ifname, c->netns);
                else
                        cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the container interface",
                                    err);
                goto out;
        }
        for (size_t i = 0; i < n_held; i++) {
                char buf[NET_IP_STRLEN];
                r = netns_has_address(c, netns_fd, c->ifname, &held[i]);
                if (r < 0)
                        goto out;
                if (r == 0) {
                        r = cni_fail(c, CNI_ERR_PLUGIN, "address missing",
                                     "`%s` in `%s` does not hold its address %s", c->ifname,
                                     c->netns, net_ip_str(&held[i], buf));
                        goto out;
                }
        }
        r = 0;
out:
        nl_close(n);
        net_network_clear(&nw);
        net_store_close(&s);
        return r < 0 ? -1 : 0;
}

static bool attachment_valid(const struct json_val *valid, const char *owner)
{
        for (size_t i = 0; i < json_val_len(valid); i++) {
                const struct json_val *a = json_val_at(valid, i);
                const char *id = json_val_str(json_val_get(a, "containerID"));
                const char *ifname = json_val_str(json_val_get(a, "ifname"));
                if (!id || !ifname)
                        continue;
                _cleanup_free_ char *o = xasprintf("cni/%s/%s", id, ifname);
                if (strcmp(o, owner) == 0)
                        return true;
        }
        return false;
}

static int cmd_gc(struct cni *c)
{
        const struct json_val *valid = json_val_get(c->conf, "cni.dev/valid-attachments");
        if (valid && json_val_type(valid) != JSON_ARRAY)
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "cni.dev/valid-attachments: not an array");
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        struct net_lease *l = NULL;
        size_t n = 0;
        int r = net_lease_list(&s, c->network, &l, &n, &err);
        if (r < 0) {
                net_store_close(&s);
                if (r == -ENOENT) {
                        cx_error_free(err);
                        return 0;
                }
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot list the network's leases", err);
        }
        r = 0;
        for (size_t i = 0; i < n; i++) {
                const char *owner = l[i].owner;
                if (!owner || !str_has_prefix(owner, "cni/") || attachment_valid(valid, owner))
                        continue;
                bool seen = false; /* one endpoint holds a lease per family */
                for (size_t j = 0; j < i && !seen; j++)
                        seen = l[j].owner && strcmp(l[j].owner, owner) == 0;
                if (seen)
                        continue;
                char veth[IFNAMSIZ];
                net_endpoint_veth_name(owner, c->network, 0, veth);
                if (net_endpoint_down(&s, c->network, owner, veth, false, &err) < 0) {
                        cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot release a stale attachment", err);
                        err = NULL;
                        r = -1; /* go on with the others */
                }
        }
        net_leases_free(l, n);
        net_store_close(&s);
        return r;
}

static int cmd_status(struct cni *c)
{
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_UNAVAILABLE, "the network store is not usable", err);
        net_store_close(&s);
        return 0;
}

static void cmd_version(const struct cni *c)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version ? c->version : CNI_DEFAULT_VERSION);
        json_w_key_strv(w, "supportedVersions", cni_versions, CNI_N_VERSIONS);
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

int net_cni_main(const char *root)
{
        struct cni c = {.root = root};
        int r = -1;
        c.command = cni_need_env(&c, "CNI_COMMAND");
        if (!c.command) {
                /* nothing */
        } else if (strcmp(c.command, "VERSION") == 0) {
                if (cni_load_conf(&c, true) >= 0) {
                        cmd_version(&c);
                        r = 0;
                }
        } else if (strcmp(c.command, "ADD") != 0 && strcmp(c.command, "DEL") != 0 &&
                   strcmp(c.command, "CHECK") != 0 && strcmp(c.command, "GC") != 0 &&
                   strcmp(c.command, "STATUS") != 0) {
                cni_fail(&c, CNI_ERR_ENV, "invalid environment variable",
                         "CNI_COMMAND `%s`: not ADD, DEL, CHECK, GC, STATUS or VERSION", c.command);
        } else if (cni_load_conf(&c, false) >= 0) {
                if (strcmp(c.command, "ADD") == 0)
                        r = cmd_add(&c);
                else if (strcmp(c.command, "DEL") == 0)
                        r = cmd_del(&c);
                else if (strcmp(c.command, "CHECK") == 0)
                        r = cmd_check(&c);
                else if (strcmp(c.command, "GC") == 0)
                        r = cmd_gc(&c);
                else
                        r = cmd_status(&c);
        }
        if (r < 0 && !c.code)
                cni_fail(&c, CNI_ERR_PLUGIN, "failed", NULL);
        if (r < 0)
                cni_print_error(&c);
        fflush(stdout);
        json_val_free(c.conf);
        free(c.owner);
        free(c.msg);
        free(c.details);
        return r < 0 ? 1 : 0;
}
