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
#include "net/net.h"
#include "util/json.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#define CNI_DEFAULT_VERSION "1.0.0"
#define CNI_DEFAULT_ROOT    "/run/capsa"

enum {
        CNI_ERR_VERSION = 1,
        CNI_ERR_UNSUPPORTED_FIELD = 2,
        CNI_ERR_ENV = 4,
        CNI_ERR_IO = 5,
        CNI_ERR_DECODE = 6,
        CNI_ERR_CONFIG = 7,
        CNI_ERR_UNAVAILABLE = 50,
        CNI_ERR_PLUGIN = 100,
};

static const char *const supported_versions[] = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};

struct cni {
        const char *root;
        const char *command, *container_id, *netns, *ifname, *args;
        struct json_val *conf;
        const char *version; /* the configuration's cniVersion */
        const char *network;
        char *owner;
        char veth[IFNAMSIZ];
        /* the first failure */
        int code;
        char *msg, *details;
};

static int fail(struct cni *c, int code, const char *msg, const char *fmt, ...) _printf_(4, 5);
static int fail(struct cni *c, int code, const char *msg, const char *fmt, ...)
{
        if (c->code)
                return -1;
        c->code = code;
        c->msg = xstrdup(msg);
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                if (vasprintf(&c->details, fmt, ap) < 0)
                        c->details = NULL;
                va_end(ap);
        }
        return -1;
}

/* A library failure: its message is the details. */
static int fail_cx(struct cni *c, int code, const char *msg, struct cx_error *err)
{
        int r = fail(c, code, msg, "%s", err && err->msg ? err->msg : "unknown error");
        cx_error_free(err);
        return r;
}

static void print_error(const struct cni *c)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version ? c->version : CNI_DEFAULT_VERSION);
        json_w_key_int(w, "code", c->code);
        json_w_key_str(w, "msg", c->msg);
        if (c->details)
                json_w_key_str(w, "details", c->details);
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

static bool version_supported(const char *v)
{
        for (size_t i = 0; i < ARRAY_SIZE(supported_versions); i++)
                if (strcmp(v, supported_versions[i]) == 0)
                        return true;
        return false;
}

/* 0.3.x and 0.4.0 results carry "version" in each ip */
static bool version_pre1(const char *v)
{
        return str_has_prefix(v, "0.");
}

/* ---- the environment and the configuration ---------------------------------------------- */

static const char *need_env(struct cni *c, const char *name)
{
        const char *v = getenv(name);
        if (!v || !*v) {
                fail(c, CNI_ERR_ENV, "missing environment variable", "%s is not set", name);
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
static int load_attachment(struct cni *c)
{
        if (!(c->container_id = need_env(c, "CNI_CONTAINERID")) ||
            !(c->ifname = need_env(c, "CNI_IFNAME")))
                return -1;
        if (!valid_container_id(c->container_id))
                return fail(c, CNI_ERR_ENV, "invalid environment variable",
                            "CNI_CONTAINERID `%s`: not an alphanumeric followed by "
                            "alphanumerics, '_', '.' or '-'",
                            c->container_id);
        if (!valid_ifname(c->ifname))
                return fail(c, CNI_ERR_ENV, "invalid environment variable",
                            "CNI_IFNAME `%s`: not an interface name", c->ifname);
        c->owner = xasprintf("cni/%s/%s", c->container_id, c->ifname);
        net_endpoint_veth_name(c->owner, c->network, 0, c->veth);
        return 0;
}

/* Reads and checks the configuration on stdin (optional for VERSION) */
static int load_conf(struct cni *c, bool optional)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_fd_all(STDIN_FILENO, &text, &len);
        if (r < 0)
                return fail(c, CNI_ERR_IO, "cannot read the network configuration", "stdin: %s",
                            strerror(-r));
        if (len == 0 && optional)
                return 0;
        struct cx_error *err = NULL;
        if (json_parse(text, len, "network configuration", &c->conf, &err) < 0)
                return fail_cx(c, CNI_ERR_DECODE, "failed to decode the network configuration",
                               err);
        if (json_val_type(c->conf) != JSON_OBJECT)
                return fail(c, CNI_ERR_DECODE, "failed to decode the network configuration",
                            "not a JSON object");
        const char *v = json_val_str(json_val_get(c->conf, "cniVersion"));
        if (!v) {
                if (optional)
                        return 0;
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                            "cniVersion: missing or not a string");
        }
        c->version = v;
        if (!version_supported(v)) {
                c->version = NULL; /* the error itself is in a version we speak */
                return fail(c, CNI_ERR_VERSION, "incompatible CNI version",
                            "cniVersion `%s`: capsa supports 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0", v);
        }
        if (optional)
                return 0;
        const struct json_val *name = json_val_get(c->conf, "name");
        const struct json_val *network = json_val_get(c->conf, "network");
        if (!json_val_str(name) || !*json_val_str(name))
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                            "name: missing or not a string");
        if (network && (!json_val_str(network) || !*json_val_str(network)))
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                            "network: not a non-empty string");
        c->network = json_val_str(network ? network : name);
        if (!c->root) {
                const struct json_val *root = json_val_get(c->conf, "capsaRoot");
                if (root && (!json_val_str(root) || json_val_str(root)[0] != '/'))
                        return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
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
                return fail(c, what[0] == 'C' ? CNI_ERR_ENV : CNI_ERR_CONFIG,
                            "invalid requested address", "%s: `%s` is not an IP address", what, s);
        struct net_ip *slot = a.family == AF_INET ? want4 : want6;
        if (slot->family)
                return fail(c, CNI_ERR_CONFIG, "invalid requested address",
                            "%s: more than one IPv%c address requested", what,
                            a.family == AF_INET ? '4' : '6');
        *slot = a;
        return 0;
}

/* CNI_ARGS "IP=A[,B]" and runtimeConfig.ips */
static int wanted_ips(struct cni *c, struct net_ip *want4, struct net_ip *want6)
{
        *want4 = *want6 = (struct net_ip){0};
        const char *args = getenv("CNI_ARGS");
        if (args && *args) {
                _cleanup_free_ char *copy = xstrdup(args);
                char *save = NULL;
                for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
                        char *eq = strchr(kv, '=');
                        if (!eq)
                                return fail(c, CNI_ERR_ENV, "invalid environment variable",
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
                        return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
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
                return fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                            "runtimeConfig.portMappings[%zu].%s: not a port (1-65535)", i, key);
        *ret = (uint16_t)n;
        return 0;
}

/* runtimeConfig.portMappings: [{"hostPort", "containerPort", "protocol", "hostIP"}] */
static int port_mappings(struct cni *c, struct net_port **ret, size_t *ret_n)
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
                        return fail(c, CNI_ERR_CONFIG, "invalid port mapping",
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
                        return fail(c, CNI_ERR_CONFIG, "invalid port mapping",
                                    "runtimeConfig.portMappings[%zu].protocol `%s`: not tcp "
                                    "or udp",
                                    i, proto);
                const char *hip = json_val_str(json_val_get(m, "hostIP"));
                if (hip && *hip && net_ip_parse(hip, &p->host_ip) < 0)
                        return fail(c, CNI_ERR_CONFIG, "invalid port mapping",
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
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration", "%s: not a boolean",
                            key);
        *ret = json_val_type(v) == JSON_TRUE;
        return 0;
}

static int conf_str(struct cni *c, const char *key, const char **ret)
{
        const struct json_val *v = json_val_get(c->conf, key);
        *ret = NULL;
        if (v && !json_val_str(v))
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration", "%s: not a string",
                            key);
        *ret = json_val_str(v);
        return 0;
}

/* The capsa network: loaded, or made from the configuration the first time. */
static int get_network(struct cni *c, struct net_store *s, struct net_network *ret)
{
        struct cx_error *err = NULL;
        int r = net_network_get(s, c->network, ret, &err);
        if (r != -ENOENT)
                return r < 0 ? fail_cx(c, CNI_ERR_PLUGIN, "cannot load the network", err) : 0;
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
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                            "mtu: not an integer from 68 to 65535");
        if (!ip_masq && !internal)
                return fail(c, CNI_ERR_UNSUPPORTED_FIELD, "unsupported field",
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
                return fail_cx(c, CNI_ERR_CONFIG, "invalid network configuration", err);
        return r < 0 ? fail_cx(c, CNI_ERR_PLUGIN, "cannot create the network", err) : 0;
}

/* The owner's leased addresses on the network (0 when none, or the network is gone) */
static int owner_leases(struct cni *c, struct net_store *s, struct net_ip ret[2], size_t *ret_n)
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
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot list the network's leases", err);
        for (size_t i = 0; i < n; i++)
                if (l[i].owner && strcmp(l[i].owner, c->owner) == 0 && *ret_n < 2)
                        ret[(*ret_n)++] = l[i].ip;
        net_leases_free(l, n);
        return 0;
}

static int open_netns(struct cni *c, int *ret)
{
        int fd = open(c->netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return fail(c, CNI_ERR_ENV, "invalid environment variable", "CNI_NETNS `%s`: %s",
                            c->netns, strerror(errno));
        if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
                close(fd);
                return fail(c, CNI_ERR_ENV, "invalid environment variable",
                            "CNI_NETNS `%s`: not a network namespace", c->netns);
        }
        *ret = fd;
        return 0;
}

/* ---- results -------------------------------------------------------------------------------- */

/* A value of a parsed document written again (a prevResult passed through) */
static void write_val(struct json_w *w, const struct json_val *v)
{
        int64_t n;
        switch (json_val_type(v)) {
        case JSON_NULL:
                json_w_null(w);
                break;
        case JSON_FALSE:
        case JSON_TRUE:
                json_w_bool(w, json_val_type(v) == JSON_TRUE);
                break;
        case JSON_NUMBER:
                if (json_val_int(v, &n))
                        json_w_int(w, n);
                else
                        json_w_null(w); /* no fractions in a CNI result */
                break;
        case JSON_STRING:
                json_w_str(w, json_val_str(v));
                break;
        case JSON_ARRAY:
                json_w_arr_open(w);
                for (size_t i = 0; i < json_val_len(v); i++)
                        write_val(w, json_val_at(v, i));
                json_w_arr_close(w);
                break;
        case JSON_OBJECT:
                json_w_obj_open(w);
                for (size_t i = 0; i < json_val_len(v); i++) {
                        json_w_key(w, json_val_key(v, i));
                        write_val(w, json_val_at(v, i));
                }
                json_w_obj_close(w);
                break;
        }
}

static void write_elements(struct json_w *w, const struct json_val *arr)
{
        if (json_val_type(arr) == JSON_ARRAY)
                for (size_t i = 0; i < json_val_len(arr); i++)
                        write_val(w, json_val_at(arr, i));
}

static void write_mac(struct json_w *w, const char *key, const uint8_t mac[6])
{
        char s[18];
        snprintf(s, sizeof(s), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                 mac[4], mac[5]);
        json_w_key_str(w, key, s);
}

static void print_add_result(const struct cni *c, const struct net_endpoint *ep,
                             const uint8_t host_mac[6])
{
        const struct json_val *prev = json_val_get(c->conf, "prevResult");
        const struct json_val *prev_ifs = json_val_get(prev, "interfaces");
        size_t first = json_val_type(prev_ifs) == JSON_ARRAY ? json_val_len(prev_ifs) : 0;
        bool v11 = strcmp(c->version, "1.1.0") == 0;
        char buf[NET_IP_STRLEN + 4];

        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version);

        json_w_key_arr_open(w, "interfaces");
        write_elements(w, prev_ifs);
        json_w_obj_open(w);
        json_w_key_str(w, "name", c->veth);
        write_mac(w, "mac", host_mac);
        if (v11 && ep->mtu)
                json_w_key_u64(w, "mtu", ep->mtu);
        json_w_obj_close(w);
        json_w_obj_open(w);
        json_w_key_str(w, "name", c->ifname);
        write_mac(w, "mac", ep->mac);
        if (v11 && ep->mtu)
                json_w_key_u64(w, "mtu", ep->mtu);
        json_w_key_str(w, "sandbox", c->netns);
        json_w_obj_close(w);
        json_w_arr_close(w);

        json_w_key_arr_open(w, "ips");
        write_elements(w, json_val_get(prev, "ips"));
        for (size_t i = 0; i < ep->n_ips; i++) {
                struct net_cidr a = {.ip = ep->ips[i], .prefix = ep->cidrs[i].prefix};
                json_w_obj_open(w);
                if (version_pre1(c->version))
                        json_w_key_str(w, "version", a.ip.family == AF_INET ? "4" : "6");
                json_w_key_str(w, "address", net_cidr_str(&a, buf));
                if (ep->gateways[i].family)
                        json_w_key_str(w, "gateway", net_ip_str(&ep->gateways[i], buf));
                json_w_key_int(w, "interface", (int64_t)first + 1);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);

        json_w_key_arr_open(w, "routes");
        write_elements(w, json_val_get(prev, "routes"));
        for (size_t i = 0; i < ep->n_ips; i++) {
                if (!ep->gateways[i].family)
                        continue;
                json_w_obj_open(w);
                json_w_key_str(w, "dst", ep->ips[i].family == AF_INET ? "0.0.0.0/0" : "::/0");
                json_w_key_str(w, "gw", net_ip_str(&ep->gateways[i], buf));
                json_w_obj_close(w);
        }
        json_w_arr_close(w);

        json_w_key(w, "dns");
        const struct json_val *dns = json_val_get(prev, "dns");
        if (json_val_type(dns) == JSON_OBJECT) {
                write_val(w, dns);
        } else {
                json_w_obj_open(w);
                json_w_obj_close(w);
        }
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

/* ---- commands ------------------------------------------------------------------------------- */

static int cmd_add(struct cni *c)
{
        if (!(c->netns = need_env(c, "CNI_NETNS")) || load_attachment(c) < 0)
                return -1;
        struct net_ip want4, want6;
        _cleanup_free_ struct net_port *ports = NULL;
        size_t n_ports = 0;
        if (wanted_ips(c, &want4, &want6) < 0 || port_mappings(c, &ports, &n_ports) < 0)
                return -1;
        _cleanup_close_ int netns_fd = -1;
        if (open_netns(c, &netns_fd) < 0)
                return -1;

        struct cx_error *err = NULL;
        struct nl *in = NULL;
        if (nl_open(netns_fd, &in, &err) < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot open netlink in CNI_NETNS", err);
        struct nl_link_info li;
        int r = nl_link_get(in, c->ifname, &li, &err);
        nl_close(in);
        if (r >= 0)
                return fail(c, CNI_ERR_PLUGIN, "interface already exists",
                            "interface `%s` already exists in `%s`", c->ifname, c->netns);
        if (r != -ENODEV)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the interface", err);

        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
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
        r = get_network(c, &s, &nw);
        if (r < 0)
                goto out;
        r = owner_leases(c, &s, held, &n_held);
        if (r < 0)
                goto out;
        if (n_held > 0) { /* an ADD that died half-way, or one without DEL: start afresh */
                r = net_endpoint_down(&s, nw.name, c->owner, c->veth, false, &err);
                if (r < 0) {
                        fail_cx(c, CNI_ERR_PLUGIN, "cannot release the previous attachment", err);
                        goto out;
                }
        }
        r = net_endpoint_up(&s, &nw, &req, &ep, &err);
        if (r < 0) {
                fail_cx(c, r == -EAGAIN ? 11 : CNI_ERR_PLUGIN, "cannot attach the container", err);
                goto out;
        }
        if (nl_open(-1, &here, &err) >= 0 && nl_link_get(here, c->veth, &li, &err) >= 0)
                memcpy(host_mac, li.mac, sizeof(host_mac));
        cx_error_free(err); /* the MAC is informational */
        err = NULL;
        nl_close(here);
        print_add_result(c, &ep, host_mac);
        r = 0;
out:
        net_network_clear(&nw);
        net_store_close(&s);
        return r;
}

static int cmd_del(struct cni *c)
{
        if (load_attachment(c) < 0)
                return -1;
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        int r = net_endpoint_down(&s, c->network, c->owner, c->veth, false, &err);
        net_store_close(&s);
        if (r < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot detach the container", err);
        return 0;
}

/* Whether ifname in the namespace netns_fd holds ip: 1 yes, 0 no */
static int netns_has_address(struct cni *c, int netns_fd, const char *ifname,
                             const struct net_ip *ip)
{
        _cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return fail(c, CNI_ERR_PLUGIN, "cannot check the addresses",
                            "open /proc/self/ns/net: %s", strerror(errno));
        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return fail(c, CNI_ERR_PLUGIN, "cannot check the addresses", "setns into `%s`: %s",
                            c->netns, strerror(errno));
        struct ifaddrs *ifa = NULL;
        int r = getifaddrs(&ifa);
        int saved = errno;
        if (setns(self, CLONE_NEWNET) < 0)
                abort(); /* cannot go on in the wrong namespace */
        if (r < 0)
                return fail(c, CNI_ERR_PLUGIN, "cannot check the addresses",
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
        if (version_pre1(c->version) && strcmp(c->version, "0.4.0") != 0)
                return fail(c, CNI_ERR_VERSION, "incompatible CNI version",
                            "CHECK needs cniVersion 0.4.0 or later, not %s", c->version);
        if (!(c->netns = need_env(c, "CNI_NETNS")) || load_attachment(c) < 0)
                return -1;
        _cleanup_close_ int netns_fd = -1;
        if (open_netns(c, &netns_fd) < 0)
                return -1;
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        struct net_network nw = {0};
        struct net_ip held[2];
        size_t n_held = 0;
        struct nl *n = NULL;
        struct nl_link_info li, br;
        int r = net_network_get(&s, c->network, &nw, &err);
        if (r < 0) {
                fail_cx(c, CNI_ERR_PLUGIN, "cannot load the network", err);
                goto out;
        }
        if ((r = owner_leases(c, &s, held, &n_held)) < 0)
                goto out;
        if (n_held == 0) {
                r = fail(c, CNI_ERR_PLUGIN, "no address leased",
                         "`%s` holds no address of network `%s`", c->owner, c->network);
                goto out;
        }
        if ((r = nl_open(-1, &n, &err)) < 0 || (r = nl_link_get(n, nw.bridge, &br, &err)) < 0 ||
            (r = nl_link_get(n, c->veth, &li, &err)) < 0) {
                if (r == -ENODEV)
                        fail(c, CNI_ERR_PLUGIN, "interface missing",
                             "the bridge `%s` or host interface `%s` does not exist", nw.bridge,
                             c->veth);
                else
                        fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the host interface", err);
                goto out;
        }
        nl_close(TAKE_PTR(n));
        if (li.master != br.index || !li.up) {
                r = fail(c, CNI_ERR_PLUGIN, "host interface misconfigured",
                         "`%s` is %s and %s the bridge `%s`", c->veth, li.up ? "up" : "down",
                         li.master == br.index ? "on" : "not on", nw.bridge);
                goto out;
        }
        if ((r = nl_open(netns_fd, &n, &err)) < 0 ||
            (r = nl_link_get(n, c->ifname, &li, &err)) < 0) {
                if (r == -ENODEV)
                        fail(c, CNI_ERR_PLUGIN, "interface missing", "`%s` does not exist in `%s`",
                             c->ifname, c->netns);
                else
                        fail_cx(c, CNI_ERR_PLUGIN, "cannot look up the container interface", err);
                goto out;
        }
        for (size_t i = 0; i < n_held; i++) {
                char buf[NET_IP_STRLEN];
                r = netns_has_address(c, netns_fd, c->ifname, &held[i]);
                if (r < 0)
                        goto out;
                if (r == 0) {
                        r = fail(c, CNI_ERR_PLUGIN, "address missing",
                                 "`%s` in `%s` does not hold its address %s", c->ifname, c->netns,
                                 net_ip_str(&held[i], buf));
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
                return fail(c, CNI_ERR_CONFIG, "invalid network configuration",
                            "cni.dev/valid-attachments: not an array");
        struct cx_error *err = NULL;
        struct net_store s = {.fd = -1};
        if (net_store_open(c->root, &s, &err) < 0)
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot open the network store", err);
        struct net_lease *l = NULL;
        size_t n = 0;
        int r = net_lease_list(&s, c->network, &l, &n, &err);
        if (r < 0) {
                net_store_close(&s);
                if (r == -ENOENT) {
                        cx_error_free(err);
                        return 0;
                }
                return fail_cx(c, CNI_ERR_PLUGIN, "cannot list the network's leases", err);
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
                        fail_cx(c, CNI_ERR_PLUGIN, "cannot release a stale attachment", err);
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
                return fail_cx(c, CNI_ERR_UNAVAILABLE, "the network store is not usable", err);
        net_store_close(&s);
        return 0;
}

static void cmd_version(const struct cni *c)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "cniVersion", c->version ? c->version : CNI_DEFAULT_VERSION);
        json_w_key_strv(w, "supportedVersions", supported_versions, ARRAY_SIZE(supported_versions));
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, true);
        fputs(s, stdout);
}

int net_cni_main(const char *root)
{
        struct cni c = {.root = root};
        int r = -1;
        c.command = need_env(&c, "CNI_COMMAND");
        if (!c.command) {
                /* nothing */
        } else if (strcmp(c.command, "VERSION") == 0) {
                if (load_conf(&c, true) >= 0) {
                        cmd_version(&c);
                        r = 0;
                }
        } else if (strcmp(c.command, "ADD") != 0 && strcmp(c.command, "DEL") != 0 &&
                   strcmp(c.command, "CHECK") != 0 && strcmp(c.command, "GC") != 0 &&
                   strcmp(c.command, "STATUS") != 0) {
                fail(&c, CNI_ERR_ENV, "invalid environment variable",
                     "CNI_COMMAND `%s`: not ADD, DEL, CHECK, GC, STATUS or VERSION", c.command);
        } else if (load_conf(&c, false) >= 0) {
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
                fail(&c, CNI_ERR_PLUGIN, "failed", NULL);
        if (r < 0)
                print_error(&c);
        fflush(stdout);
        json_val_free(c.conf);
        free(c.owner);
        free(c.msg);
        free(c.details);
        return r < 0 ? 1 : 0;
}
