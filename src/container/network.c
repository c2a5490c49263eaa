/* A container's networks: `--net NAME[:ip=ADDR[,ip=ADDR]]` and `-p [HOSTIP:]HOSTPORT:PORT[/PROTO]`
 * (or the annotations run.capsa.network and run.capsa.ports, for bundles engines hand over).
 *
 * plan: parse and check, and bind-mount ROOT/ID/hosts and ROOT/ID/resolv.conf over the
 * container's /etc/hosts and /etc/resolv.conf.  prepare: the networks exist (the default one
 * and a tenant's are made on first use), the two files exist.  attach (the native launcher,
 * once the init exists and before it goes on): an endpoint per network in the init's network
 * namespace, each first appended to the undo record; then /etc/hosts of every container on
 * those networks is rewritten in place (the bind mounts pin the inode), so containers resolve
 * each other by id.  A runtime that is not root gets outbound networking from pasta instead.
 * Kernel interfaces: /proc/PID/ns/net (through net/), fork+exec of pasta. */
#include "container/internal.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define ANN_NETWORK "run.capsa.network"
#define ANN_PORTS   "run.capsa.ports"
#define TENANT_NET  "tenant-"

void plan_net_clear(struct plan_net *n)
{
        for (size_t i = 0; i < n->n; i++)
                free(n->v[i].network);
        free(n->v);
        free(n->ports);
        *n = (struct plan_net){0};
}

static const char *annotation(const struct spec *s, const char *key)
{
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, key) == 0)
                        return s->annotations[i].value;
        return NULL;
}

/* "NAME[:ip=ADDR[,ip=ADDR]]"; `what` names the argument in errors. */
static int parse_net(const char *arg, const char *what, struct plan_net_attach *ret,
                     struct cx_error **err)
{
        _cleanup_free_ char *s = xstrdup(arg);
        char *opts = strchr(s, ':');
        if (opts)
                *opts++ = '\0';
        if (!*s)
                return cx_error_msg(err, EINVAL, "%s `%s`: no network name", what, arg);
        *ret = (struct plan_net_attach){0};
        for (char *save = NULL, *o = opts ? strtok_r(opts, ",", &save) : NULL; o;
             o = strtok_r(NULL, ",", &save)) {
                struct net_ip ip;
                if (!str_has_prefix(o, "ip="))
                        return cx_error_msg(err, EINVAL,
                                            "%s `%s`: unknown option `%s` (expected ip=ADDR)", what,
                                            arg, o);
                if (net_ip_parse(o + 3, &ip) < 0)
                        return cx_error_msg(err, EINVAL, "%s `%s`: `%s` is not an IP address", what,
                                            arg, o + 3);
                struct net_ip *slot = ip.family == AF_INET ? &ret->want4 : &ret->want6;
                if (slot->family)
                        return cx_error_msg(err, EINVAL, "%s `%s`: two %s addresses", what, arg,
                                            ip.family == AF_INET ? "IPv4" : "IPv6");
                *slot = ip;
        }
        ret->network = xstrdup(s);
        return 0;
}

/* Splits an annotation's value on white space. */
static char **words(const char *v)
{
        char **out = NULL;
        _cleanup_free_ char *s = xstrdup(v);
        for (char *save = NULL, *w = strtok_r(s, " \t\n", &save); w;
             w = strtok_r(NULL, " \t\n", &save))
                strv_append(&out, w);
        return out;
}

static int parse_all(struct plan *p, struct cx_error **err)
{
        const struct spec *s = p->spec;
        _cleanup_strv_ char **ann_nets = NULL, **ann_ports = NULL;
        char *const *nets = p->opts.nets, *const *ports = p->opts.ports;
        const char *net_what = "--net", *port_what = "--publish";
        const char *a;
        if (!nets && (a = annotation(s, ANN_NETWORK))) {
                nets = ann_nets = words(a);
                net_what = "annotations[\"" ANN_NETWORK "\"]";
        }
        if (!ports && (a = annotation(s, ANN_PORTS))) {
                ports = ann_ports = words(a);
                port_what = "annotations[\"" ANN_PORTS "\"]";
        }
        struct plan_net *n = &p->net;
        n->v = xcalloc(strv_len(nets) + 1, sizeof(*n->v));
        for (; nets && nets[n->n]; n->n++) {
                int r = parse_net(nets[n->n], net_what, &n->v[n->n], err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < n->n; j++)
                        if (strcmp(n->v[j].network, n->v[n->n].network) == 0)
                                return cx_error_msg(err, EINVAL, "%s: network `%s` given twice",
                                                    net_what, n->v[j].network);
        }
        n->ports = xcalloc(strv_len(ports) + 1, sizeof(*n->ports));
        for (; ports && ports[n->n_ports]; n->n_ports++) {
                int r = net_port_parse(ports[n->n_ports], &n->ports[n->n_ports], err);
                if (r < 0)
                        return cx_error_prefix(err, "%s", port_what);
        }
        if (n->n_ports && !n->n)
                return cx_error_msg(err, EINVAL, "%s needs a network (--net NAME)", port_what);
        return 0;
}

/* A tenant's containers go on its own network: `default` means it, and no other is allowed. */
static int map_tenant(struct plan *p, struct cx_error **err)
{
        const char *t = p->tenant;
        if (!t)
                return 0;
        _cleanup_free_ char *own = xasprintf(TENANT_NET "%s", t);
        for (size_t i = 0; i < p->net.n; i++) {
                char **name = &p->net.v[i].network;
                if (strcmp(*name, NET_DEFAULT) == 0) {
                        free(*name);
                        *name = xstrdup(own);
                } else if (strcmp(*name, own) != 0) {
                        return cx_error_msg(err, EPERM,
                                            "--net `%s`: tenant `%s` containers attach only to "
                                            "their tenant's network (`default` or `%s`)",
                                            *name, t, own);
                }
        }
        return 0;
}

static int add_bind(struct spec *s, const char *root, const char *id, const char *file,
                    const char *dest)
{
        s->mounts = xrealloc(s->mounts, (s->n_mounts + 1) * sizeof(*s->mounts));
        struct spec_mount *m = &s->mounts[s->n_mounts++];
        *m = (struct spec_mount){
            .destination = xstrdup(dest),
            .type = xstrdup("bind"),
            .source = xasprintf("%s/%s/%s", root, id, file),
        };
        static const char *const opts[] = {"rbind", "ro", "nosuid", "nodev", "noexec", NULL};
        m->options = strv_dup((char *const *)opts);
        return 0;
}

int plan_network(struct plan *p, struct cx_error **err)
{
        int r = parse_all(p, err);
        if (r < 0 || p->net.n == 0)
                return r;
        if ((r = map_tenant(p, err)) < 0)
                return r;
        /* asking for a network is asking for a namespace of its own (runc's rootless spec has
         * none); one joined by path is someone else's to wire */
        struct spec_namespace *netns = &p->spec->linux_.ns[SPEC_NS_NETWORK];
        if (netns->present && netns->path)
                return cx_error_msg(err, EINVAL,
                                    "--net: config.json linux.namespaces joins the network "
                                    "namespace `%s`; capsa attaches only a new one",
                                    netns->path);
        netns->present = true;
        if (geteuid() != 0) {
                if (p->net.n != 1 || p->net.v[0].want4.family || p->net.v[0].want6.family)
                        return cx_error_msg(err, EPERM,
                                            "--net: capsa runs as uid %u: a rootless container "
                                            "gets one network through pasta, without ip=",
                                            (unsigned)geteuid());
                for (size_t i = 0; i < p->net.n_ports; i++)
                        if (p->net.ports[i].host_ip.family)
                                return cx_error_msg(err, EPERM,
                                                    "--publish: a rootless container's ports "
                                                    "are published on every address");
        }
        /* the bind sources: absolute, whatever the caller's --root (made later if missing) */
        _cleanup_free_ char *cwd = p->opts.root[0] == '/' ? NULL : getcwd(NULL, 0);
        if (p->opts.root[0] != '/' && !cwd)
                return cx_error_set(err, errno, "state root `%s`: getcwd", p->opts.root);
        _cleanup_free_ char *root =
            cwd ? xasprintf("%s/%s", cwd, p->opts.root) : xstrdup(p->opts.root);
        add_bind(p->spec, root, p->opts.id, "hosts", "/etc/hosts");
        add_bind(p->spec, root, p->opts.id, "resolv.conf", "/etc/resolv.conf");
        p->ns = container_ns_config(p->spec);
        return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

/* The host's resolv.conf without nameservers on loopback (unreachable from the container). */
static char *resolv_conf(void)
{
        _cleanup_free_ char *host = NULL;
        char *out = xstrdup("");
        if (read_file_at(AT_FDCWD, "/etc/resolv.conf", &host, NULL, NULL) < 0)
                return out;
        for (char *save = NULL, *l = strtok_r(host, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                char ns[64];
                struct net_ip ip;
                if (sscanf(l, "nameserver %63s", ns) == 1 && net_ip_parse(ns, &ip) == 0 &&
                    ((ip.family == AF_INET && ip.a[0] == 127) ||
                     (ip.family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((struct in6_addr *)ip.a))))
                        continue;
                char *next = xasprintf("%s%s\n", out, l);
                free(out);
                out = next;
        }
        return out;
}

/* Rewrites ROOT/owner/hosts in place (it is bind-mounted: a rename would not be seen). */
static int hosts_write(struct net_store *s, int root_fd, const char *owner, struct cx_error **err)
{
        _cleanup_close_ int fd = openat(root_fd, owner, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0; /* not a container of this root (a CNI endpoint), or gone */
        _cleanup_free_ char *hostname = NULL;
        read_file_at(fd, "hostname", &hostname, NULL, NULL);
        if (hostname)
                hostname[strcspn(hostname, "\n")] = '\0';
        struct net_network *nets = NULL;
        size_t n_nets = 0;
        int r = net_network_list(s, &nets, &n_nets, err);
        if (r < 0)
                return r;
        char *text = xstrdup("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (size_t i = 0; i < n_nets && r >= 0; i++) {
                struct net_lease *l = NULL;
                size_t n = 0;
                if ((r = net_lease_list(s, nets[i].name, &l, &n, err)) < 0)
                        break;
                bool member = false;
                for (size_t j = 0; j < n; j++)
                        member |= strcmp(l[j].owner, owner) == 0;
                for (size_t j = 0; member && j < n; j++) {
                        if (str_has_prefix(l[j].owner, "cni/"))
                                continue;
                        char b[NET_IP_STRLEN];
                        bool self = strcmp(l[j].owner, owner) == 0 && hostname && *hostname &&
                                    strcmp(hostname, owner) != 0;
                        char *next = xasprintf("%s%s\t%s%s%s\n", text, net_ip_str(&l[j].ip, b),
                                               l[j].owner, self ? " " : "", self ? hostname : "");
                        free(text);
                        text = next;
                }
                net_leases_free(l, n);
        }
        net_networks_free(nets, n_nets);
        if (r >= 0)
                r = write_file_at(fd, "hosts", text, strlen(text), err);
        free(text);
        return r;
}

/* Every container with a lease on `network` gets its hosts file rewritten. */
static int hosts_refresh(struct net_store *s, const char *network, struct cx_error **err)
{
        struct net_lease *l = NULL;
        size_t n = 0;
        int r = net_lease_list(s, network, &l, &n, err);
        if (r == -ENOENT)
                return 0;
        _cleanup_close_ int root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r >= 0 && root_fd < 0)
                r = cx_error_set(err, errno, "open the state root `%s`", s->root);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (!str_has_prefix(l[i].owner, "cni/"))
                        r = hosts_write(s, root_fd, l[i].owner, err);
        net_leases_free(l, n);
        return r;
}

int container_net_prepare(struct create_ctx *c, struct cx_error **err)
{
        const struct plan_net *pn = &c->plan.net;
        if (pn->n == 0)
                return 0;
        _cleanup_free_ char *resolv = resolv_conf();
        const char *localhost = "127.0.0.1\tlocalhost\n::1\tlocalhost\n";
        int r;
        if ((r = write_file_atomic_at(c->dir.fd, "resolv.conf", resolv, strlen(resolv), err)) < 0 ||
            (r = write_file_atomic_at(c->dir.fd, "hosts", localhost, strlen(localhost), err)) < 0)
                return r;
        const char *h = c->spec->hostname;
        if (h && (r = write_file_atomic_at(c->dir.fd, "hostname", h, strlen(h), err)) < 0)
                return r;
        if (geteuid() != 0)
                return 0;
        /* the networks exist before anything is made (default and tenant ones on first use) */
        struct net_store s;
        if ((r = net_store_open(c->o->root, &s, err)) < 0)
                return r;
        for (size_t i = 0; i < pn->n && r >= 0; i++) {
                struct net_network nw = {0};
                r = net_network_get(&s, pn->v[i].network, &nw, err);
                net_network_clear(&nw);
        }
        net_store_close(&s);
        if (r < 0)
                return cx_error_prefix(err, "--net");
        return 0;
}

/* ---- attach and detach ------------------------------------------------------------------- */

/* netns_fd -1: a VM's tap, named "ct..." (detach always deletes it), after this process and
 * the time (no init yet to name the instance). */
static int attach_one(struct create_ctx *c, struct net_store *s, size_t i, int netns_fd,
                      struct net_endpoint *ret, char veth[IFNAMSIZ], struct cx_error **err)
{
        const struct plan_net_attach *a = &c->plan.net.v[i];
        struct net_network nw = {0};
        int r = net_network_get(s, a->network, &nw, err);
        if (r < 0)
                return r;
        char ifname[32]; /* ethN: nl_check_name refuses what IFNAMSIZ cannot hold */
        uint64_t nonce = netns_fd < 0 ? (uint64_t)time(NULL) << 22 ^ (uint64_t)getpid()
                                      : c->st.pid_start_time ^ (uint64_t)c->pid << 40;
        net_endpoint_veth_name(c->o->id, nw.name, nonce, veth);
        if (netns_fd < 0)
                veth[1] = 't';
        snprintf(ifname, sizeof(ifname), "eth%zu", i);
        struct net_endpoint_req req = {
            .owner = c->o->id,
            .netns_fd = netns_fd,
            .ifname = ifname,
            .host_veth = veth,
            .want4 = a->want4,
            .want6 = a->want6,
            /* ports go to the first network's addresses */
            .ports = i == 0 ? c->plan.net.ports : NULL,
            .n_ports = i == 0 ? c->plan.net.n_ports : 0,
            .tap = netns_fd < 0,
        };
        if ((r = undo_append(&c->dir, UNDO_NET, (char *[]){nw.name, veth, NULL}, err)) >= 0)
                r = net_endpoint_up(s, &nw, &req, ret, err);
        net_network_clear(&nw);
        return r;
}

/* Every network's endpoint (netns_fd -1: a VM's taps), then the networks' hosts files; taps
 * (or NULL) gets each endpoint and its host-side name. */
static int attach_all(struct create_ctx *c, int netns_fd, struct container_tap *taps,
                      struct cx_error **err)
{
        const struct plan_net *pn = &c->plan.net;
        struct net_store s;
        int r = net_store_open(c->o->root, &s, err);
        if (r < 0)
                return r;
        struct container_tap one;
        for (size_t i = 0; i < pn->n && r >= 0; i++) {
                struct container_tap *t = taps ? &taps[i] : &one;
                r = attach_one(c, &s, i, netns_fd, &t->ep, t->tap, err);
        }
        for (size_t i = 0; i < pn->n && r >= 0; i++)
                r = hosts_refresh(&s, pn->v[i].network, err);
        net_store_close(&s);
        return r;
}

int container_net_attach(struct create_ctx *c, struct cx_error **err)
{
        const struct plan_net *pn = &c->plan.net;
        if (pn->n == 0)
                return 0;
        if (geteuid() != 0)
                return container_net_pasta(c, err);
        _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)c->pid);
        _cleanup_close_ int netns_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0)
                return cx_error_set(err, errno, "open the container's network namespace `%s`",
                                    path);
        return attach_all(c, netns_fd, NULL, err);
}

int container_net_taps(struct create_ctx *c, struct container_tap **ret, size_t *ret_n,
                       struct cx_error **err)
{
        const struct plan_net *pn = &c->plan.net;
        *ret = NULL;
        *ret_n = 0;
        if (pn->n == 0)
                return 0;
        if (geteuid() != 0)
                return cx_error_msg(err, EPERM, "--net: a VM container's taps need root");
        struct container_tap *v = xcalloc(pn->n, sizeof(*v));
        int r = attach_all(c, -1, v, err);
        if (r < 0) {
                free(v);
                return r;
        }
        *ret = v;
        *ret_n = pn->n;
        return 0;
}

int container_net_detach(struct state_dir *d, const char *network, const char *veth,
                         struct cx_error **err)
{
        /* an init that is gone takes the namespace, and the veth, with it */
        struct state st = {0};
        bool gone = state_read(d, &st, NULL) >= 0 && st.pid > 0 &&
                    !state_pid_matches(st.pid, st.pid_start_time) &&
                    strncmp(veth, "ct", 2) != 0; /* a VM's tap outlives its users */
        state_clear(&st);
        struct net_store s;
        int r = net_store_open(d->root, &s, err);
        if (r < 0)
                return r;
        if ((r = net_endpoint_down(&s, network, d->id, veth, gone, err)) >= 0)
                r = hosts_refresh(&s, network, err);
        net_store_close(&s);
        return r;
}
