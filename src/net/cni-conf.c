/* net/cni: the CNI_* environment, the network configuration on stdin, and what they ask for
 * (addresses, published ports, the capsa network, made on first use). */
#include "net/cni-internal.h"

const char *const cni_versions[CNI_N_VERSIONS] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

static bool version_supported(const char *v)
{
        for (size_t i = 0; i < CNI_N_VERSIONS; i++)
                if (strcmp(v, cni_versions[i]) == 0)
                        return true;
        return false;
}

/* 0.3.x and 0.4.0 results carry "version" in each ip */
bool cni_version_pre1(const char *v)
{
        return str_has_prefix(v, "0.");
}

/* ---- the environment and the configuration ---------------------------------------------- */

const char *cni_need_env(struct cni *c, const char *name)
{
        const char *v = getenv(name);
        if (!v || !*v) {
                cni_fail(c, CNI_ERR_ENV, "missing environment variable", "%s is not set", name);
                return NULL;
        }
        return v;
}

/* The spec's container id: an alphanumeric, then alphanumerics, '_', '.', '-'. */
static bool valid_container_id(const char *s)
{
        static const char extra[] = "_.-";
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
                        return false;
        return true;
}

static bool valid_ifname(const char *s)
{
        if (strlen(s) >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

/* CNI_CONTAINERID and CNI_IFNAME (and the owner they make) */
int cni_load_attachment(struct cni *c)
{
        if (!(c->container_id = cni_need_env(c, "CNI_CONTAINERID")) ||
            !(c->ifname = cni_need_env(c, "CNI_IFNAME")))
                return -1;
        if (!valid_container_id(c->container_id))
                return cni_fail(c, CNI_ERR_ENV, "invalid environment variable",
                                "CNI_CONTAINERID `%s`: not an alphanumeric followed by "
                                "alphanumerics, '_', '.' or '-'",
                                c->container_id);
        if (!valid_ifname(c->ifname))
                return cni_fail(c, CNI_ERR_ENV, "invalid environment variable",
                                "CNI_IFNAME `%s`: not an interface name", c->ifname);
        c->owner = xasprintf("cni/%s/%s", c->container_id, c->ifname);
        net_endpoint_veth_name(c->owner, c->network, 0, c->veth);
        return 0;
}

/* Reads and checks the configuration on stdin (optional for VERSION) */
int cni_load_conf(struct cni *c, bool optional)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_fd_all(STDIN_FILENO, &text, &len);
        if (r < 0)
                return cni_fail(c, CNI_ERR_IO, "cannot read the network configuration", "stdin: %s",
                                strerror(-r));
        if (len == 0 && optional)
                return 0;
        struct cx_error *err = NULL;
        if (json_parse(text, len, "network configuration", &c->conf, &err) < 0)
                return cni_fail_cx(c, CNI_ERR_DECODE, "failed to decode the network configuration",
                                   err);
        if (json_val_type(c->conf) != JSON_OBJECT)
                return cni_fail(c, CNI_ERR_DECODE, "failed to decode the network configuration",
                                "not a JSON object");
        const char *v = json_val_str(json_val_get(c->conf, "cniVersion"));
        if (!v) {
                if (optional)
                        return 0;
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "cniVersion: missing or not a string");
        }
        c->version = v;
        if (!version_supported(v)) {
                c->version = NULL; /* the error itself is in a version we speak */
                return cni_fail(c, CNI_ERR_VERSION, "incompatible CNI version",
                                "cniVersion `%s`: capsa supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0",
                                v);
        }
        if (optional)
                return 0;
        const struct json_val *name = json_val_get(c->conf, "name");
        const struct json_val *network = json_val_get(c->conf, "network");
        if (!json_val_str(name) || !*json_val_str(name))
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "name: missing or not a string");
        if (network && (!json_val_str(network) || !*json_val_str(network)))
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "network: not a non-empty string");
        c->network = json_val_str(network ? network : name);
        if (!c->root) {
                const struct json_val *root = json_val_get(c->conf, "capsaRoot");
                if (root && (!json_val_str(root) || json_val_str(root)[0] != '/'))
                        return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                        "capsaRoot: not an absolute path");
                c->root = root ? json_val_str(root) : CNI_DEFAULT_ROOT;
        }
        return 0;
}

static const struct json_val *runtime_config(const struct cni *c, const char *key)
{
        return json_val_get(json_val_get(c->conf, "runtimeConfig"), key);
}

/* One requested address ("10.1.2.3" or "10.1.2.3/24": the prefix is the network's) */
static int want_ip(struct cni *c, const char *what, const char *s, struct net_ip *want4,
                   struct net_ip *want6)
{
        _cleanup_free_ char *ip = xstrdup(s);
        char *slash = strchr(ip, '/');
        if (slash)
                *slash = '\0';
        struct net_ip a;
        if (net_ip_parse(ip, &a) < 0)
                return cni_fail(c, what[0] == 'C' ? CNI_ERR_ENV : CNI_ERR_CONFIG,
                                "invalid requested address", "%s: `%s` is not an IP address", what,
                                s);
        struct net_ip *slot = a.family == AF_INET ? want4 : want6;
        if (slot->family)
                return cni_fail(c, CNI_ERR_CONFIG, "invalid requested address",
                                "%s: more than one IPv%c address requested", what,
                                a.family == AF_INET ? '4' : '6');
        *slot = a;
        return 0;
}

/* CNI_ARGS "IP=A[,B]" and runtimeConfig.ips */
int cni_wanted_ips(struct cni *c, struct net_ip *want4, struct net_ip *want6)
{
        *want4 = *want6 = (struct net_ip){0};
        const char *args = getenv("CNI_ARGS");
        if (args && *args) {
                _cleanup_free_ char *copy = xstrdup(args);
                char *save = NULL;
                for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
                        char *eq = strchr(kv, '=');
                        if (!eq)
                                return cni_fail(c, CNI_ERR_ENV, "invalid environment variable",
                                                "CNI_ARGS: `%s` is not KEY=VALUE", kv);
                        *eq = '\0';
                        if (strcmp(kv, "IP") != 0)
                                continue;
                        char *save2 = NULL;
                        for (char *ip = strtok_r(eq + 1, ",", &save2); ip;
                             ip = strtok_r(NULL, ",", &save2))
                                if (want_ip(c, "CNI_ARGS IP", ip, want4, want6) < 0)
                                        return -1;
                }
        }
        const struct json_val *ips = runtime_config(c, "ips");
        for (size_t i = 0; i < json_val_len(ips); i++) {
                const char *s = json_val_str(json_val_at(ips, i));
                if (!s)
                        return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                        "runtimeConfig.ips[%zu]: not a string", i);
                if (want_ip(c, "runtimeConfig.ips", s, want4, want6) < 0)
                        return -1;
        }
        return 0;
}

static int json_port(struct cni *c, const struct json_val *v, const char *key, size_t i,
                     bool optional, uint16_t *ret)
{
        const struct json_val *p = json_val_get(v, key);
        int64_t n = 0;
        if (!p && optional) {
                *ret = 0;
                return 0;
        }
        if (!json_val_int(p, &n) || n < 1 || n > 65535)
                return cni_fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                                "runtimeConfig.portMappings[%zu].%s: not a port (1-65535)", i, key);
        *ret = (uint16_t)n;
        return 0;
}

/* runtimeConfig.portMappings: [{"hostPort", "containerPort", "protocol", "hostIP"}] */
int cni_port_mappings(struct cni *c, struct net_port **ret, size_t *ret_n)
{
        const struct json_val *pm = runtime_config(c, "portMappings");
        size_t n = json_val_len(pm);
        *ret = NULL;
        *ret_n = 0;
        if (n == 0)
                return 0;
        _cleanup_free_ struct net_port *ports = xcalloc(n, sizeof(*ports));
        for (size_t i = 0; i < n; i++) {
                const struct json_val *m = json_val_at(pm, i);
                struct net_port *p = &ports[i];
                if (json_val_type(m) != JSON_OBJECT)
                        return cni_fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                                        "runtimeConfig.portMappings[%zu]: not an object", i);
                if (json_port(c, m, "hostPort", i, false, &p->host_port) < 0 ||
                    json_port(c, m, "containerPort", i, true, &p->port) < 0)
                        return -1;
                if (!p->port)
                        p->port = p->host_port;
                const char *proto = json_val_str(json_val_get(m, "protocol"));
                if (!proto || !*proto || strcasecmp(proto, "tcp") == 0)
                        p->proto = IPPROTO_TCP;
                else if (strcasecmp(proto, "udp") == 0)
                        p->proto = IPPROTO_UDP;
                else
                        return cni_fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                                        "runtimeConfig.portMappings[%zu].protocol `%s`: not tcp "
                                        "or udp",
                                        i, proto);
                const char *hip = json_val_str(json_val_get(m, "hostIP"));
                if (hip && *hip && net_ip_parse(hip, &p->host_ip) < 0)
                        return cni_fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                                        "runtimeConfig.portMappings[%zu].hostIP `%s`: not an IP "
                                        "address",
                                        i, hip);
        }
        *ret = TAKE_PTR(ports);
        *ret_n = n;
        return 0;
}

static int conf_bool(struct cni *c, const char *key, bool *ret)
{
        const struct json_val *v = json_val_get(c->conf, key);
        if (!v)
                return 0;
        if (json_val_type(v) != JSON_TRUE && json_val_type(v) != JSON_FALSE)
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "%s: not a boolean", key);
        *ret = json_val_type(v) == JSON_TRUE;
        return 0;
}

static int conf_str(struct cni *c, const char *key, const char **ret)
{
        const struct json_val *v = json_val_get(c->conf, key);
        *ret = NULL;
        if (v && !json_val_str(v))
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "%s: not a string", key);
        *ret = json_val_str(v);
        return 0;
}

/* The capsa network: loaded, or made from the configuration the first time. */
int cni_get_network(struct cni *c, struct net_store *s, struct net_network *ret)
{
        struct cx_error *err = NULL;
        int r = net_network_get(s, c->network, ret, &err);
        if (r != -ENOENT)
                return r < 0 ? cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot load the network", err) : 0;
        cx_error_free(err);
        err = NULL;

        const char *subnet, *gateway, *ipv6;
        bool ip_masq = true, isolated = false, internal = false;
        int64_t mtu = 0;
        const struct json_val *m = json_val_get(c->conf, "mtu");
        if (conf_str(c, "subnet", &subnet) < 0 || conf_str(c, "gateway", &gateway) < 0 ||
            conf_str(c, "ipv6Subnet", &ipv6) < 0 || conf_bool(c, "ipMasq", &ip_masq) < 0 ||
            conf_bool(c, "isolated", &isolated) < 0 || conf_bool(c, "internal", &internal) < 0)
                return -1;
        if (m && (!json_val_int(m, &mtu) || mtu < 68 || mtu > 65535))
                return cni_fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                                "mtu: not an integer from 68 to 65535");
        if (!ip_masq && !internal)
                return cni_fail(c, CNI_ERR_UNSUPPORTED_FIELD, "unsupported field",
                                "ipMasq: false: a capsa network masquerades its traffic out of the "
                                "host unless it is \"internal\": true");
        struct net_create_opts o = {
            .name = c->network,
            .subnets = subnet ? &subnet : NULL,
            .n_subnets = subnet ? 1 : 0,
            .gateway = gateway,
            .ipv6 = ipv6,
            .mtu = (unsigned)mtu,
            .internal = internal,
            .tenant = isolated ? c->network : NULL,
        };
        r = net_network_create(s, &o, ret, &err);
        if (r == -EEXIST) { /* made meanwhile by another plugin run: the store is locked, but
                               be lenient */
                cx_error_free(err);
                err = NULL;
                r = net_network_get(s, c->network, ret, &err);
        }
        if (r == -EINVAL)
                return cni_fail_cx(c, CNI_ERR_CONFIG, "invalid network configuration", err);
        return r < 0 ? cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot create the network", err) : 0;
}

/* The owner's leased addresses on the network (0 when none, or the network is gone) */
int cni_owner_leases(struct cni *c, struct net_store *s, struct net_ip ret[2], size_t *ret_n)
{
        struct cx_error *err = NULL;
        struct net_lease *l = NULL;
        size_t n = 0;
        *ret_n = 0;
        int r = net_lease_list(s, c->network, &l, &n, &err);
        if (r == -ENOENT) {
                cx_error_free(err);
                return 0;
        }
        if (r < 0)
                return cni_fail_cx(c, CNI_ERR_PLUGIN, "cannot list the network's leases", err);
        for (size_t i = 0; i < n; i++)
                if (l[i].owner && strcmp(l[i].owner, c->owner) == 0 && *ret_n < 2)
                        ret[(*ret_n)++] = l[i].ip;
        net_leases_free(l, n);
        return 0;
}

int cni_open_netns(struct cni *c, int *ret)
{
        int fd = open(c->netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cni_fail(c, CNI_ERR_ENV, "invalid environment variable",
                                "CNI_NETNS `%s`: %s", c->netns, strerror(errno));
        if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
                close(fd);
                return cni_fail(c, CNI_ERR_ENV, "invalid environment variable",
                                "CNI_NETNS `%s`: not a network namespace", c->netns);
        }
        *ret = fd;
        return 0;
}

/* ---- results -------------------------------------------------------------------------------- */
