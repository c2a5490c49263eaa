/* capsa net create NAME [--subnet CIDR]... [--gateway IP] [--ipv6 CIDR] [--mtu N] [--internal]
 *                        [--bridge IFNAME]
 * capsa net list [--format table|json]
 * capsa net inspect NAME...
 * capsa net rm NAME... */
#include "cmd/cmd.h"
#include "net/net.h"

#include <string.h>

static const char net_help[] =
    "Usage: capsa net create NAME [--subnet CIDR]... [--gateway IP] [--ipv6 CIDR] [--mtu N]\n"
    "                         [--internal] [--bridge IFNAME]\n"
    "       capsa net list [--format table|json]\n"
    "       capsa net inspect NAME...\n"
    "       capsa net rm NAME...\n\n"
    "A network is a Linux bridge with its subnets, NAT and isolation rules; containers join it\n"
    "with `capsa run --net NAME`.  The network `default` (10.89.0.0/24, bridge capsa0) is made\n"
    "on first use.\n";

static const char create_help[] =
    "Usage: capsa net create NAME [options]\n\n"
    "Makes the bridge (cn-NAME unless --bridge), its addresses and rules, and prints NAME.\n\n"
    "  --subnet CIDR     an IPv4 or IPv6 subnet (one of each at most; default: a free /24 of\n"
    "                    10.89.0.0/16)\n"
    "  --gateway IP      the bridge's IPv4 address (default: the subnet's first host)\n"
    "  --ipv6 CIDR       an IPv6 subnet (as --subnet)\n"
    "  --mtu N           the bridge's MTU, 68..65535 (default: the kernel's)\n"
    "  --internal        no traffic in or out of the network but its own\n"
    "  --bridge IFNAME   the bridge's name\n";

static int create_cmd(int argc, char **argv, const struct global_opts *g)
{
        enum { OPT_SUBNET = 1000, OPT_GATEWAY, OPT_IPV6, OPT_MTU, OPT_INTERNAL, OPT_BRIDGE };
        static const struct option opts[] = {
            {"subnet", required_argument, NULL, OPT_SUBNET},
            {"gateway", required_argument, NULL, OPT_GATEWAY},
            {"ipv6", required_argument, NULL, OPT_IPV6},
            {"mtu", required_argument, NULL, OPT_MTU},
            {"internal", no_argument, NULL, OPT_INTERNAL},
            {"bridge", required_argument, NULL, OPT_BRIDGE},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        struct net_create_opts o = {0};
        const char *subnets[NET_MAX_SUBNETS];
        uint64_t mtu;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case OPT_SUBNET:
                        if (o.n_subnets == NET_MAX_SUBNETS)
                                return cmd_usage_error("net create", "at most %d --subnet",
                                                       NET_MAX_SUBNETS);
                        subnets[o.n_subnets++] = optarg;
                        break;
                case OPT_GATEWAY:
                        o.gateway = optarg;
                        break;
                case OPT_IPV6:
                        o.ipv6 = optarg;
                        break;
                case OPT_MTU:
                        if (parse_u64(optarg, &mtu) < 0 || mtu < 68 || mtu > 65535)
                                return cmd_usage_error(
                                    "net create", "--mtu `%s`: not between 68 and 65535", optarg);
                        o.mtu = (unsigned)mtu;
                        break;
                case OPT_INTERNAL:
                        o.internal = true;
                        break;
                case OPT_BRIDGE:
                        o.bridge = optarg;
                        break;
                case 'h':
                        fputs(create_help, stdout);
                        return 0;
                default:
                        return cmd_option_error("net create", c, argv);
                }
        }
        if (cmd_need_args("net create", argc, optind, 1, "a network name"))
                return 1;
        o.name = argv[optind];
        o.subnets = subnets;
        struct cx_error *err = NULL;
        struct net_store s;
        if (net_store_open(g->root, &s, &err) < 0)
                return cmd_fail(err);
        struct net_network nw;
        int r = net_network_create(&s, &o, &nw, &err);
        net_store_close(&s);
        if (r < 0) {
                cx_error_prefix(&err, "net create");
                return cmd_fail(err);
        }
        puts(nw.name);
        net_network_clear(&nw);
        return 0;
}

/* ENDPOINTS: the owners of the leases (an endpoint may hold an IPv4 and an IPv6 one) */
static size_t count_owners(const struct net_lease *l, size_t n)
{
        size_t owners = 0;
        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = strcmp(l[i].owner, l[j].owner) == 0;
                owners += !seen;
        }
        return owners;
}

static void print_table(const struct net_network *v, const size_t *endpoints, size_t n)
{
        int w = 14;
        for (size_t i = 0; i < n; i++)
                if ((int)strlen(v[i].name) + 2 > w)
                        w = (int)strlen(v[i].name) + 2;
        printf("%-*s%-17s%-40s%s\n", w, "NAME", "BRIDGE", "SUBNETS", "ENDPOINTS");
        for (size_t i = 0; i < n; i++) {
                char subnets[NET_MAX_SUBNETS * (NET_IP_STRLEN + 5)] = "";
                for (size_t j = 0; j < v[i].n_subnets; j++) {
                        char c[NET_IP_STRLEN + 4];
                        if (j)
                                strcat(subnets, ",");
                        strcat(subnets, net_cidr_str(&v[i].subnets[j], c));
                }
                printf("%-*s%-17s%-40s%zu\n", w, v[i].name, v[i].bridge, subnets, endpoints[i]);
        }
}

static int list_cmd(int argc, char **argv, const struct global_opts *g)
{
        bool json;
        int r0 = cmd_parse_list_opts("net list", "Usage: capsa net list [-f|--format table|json]\n",
                                     argc, argv, &json);
        if (r0)
                return r0 < 0 ? 0 : r0;
        struct cx_error *err = NULL;
        struct net_store s;
        if (net_store_open(g->root, &s, &err) < 0)
                return cmd_fail(err);
        struct net_network *v = NULL;
        size_t n = 0;
        if (net_network_list(&s, &v, &n, &err) < 0) {
                net_store_close(&s);
                return cmd_fail(err);
        }
        _cleanup_free_ size_t *endpoints = xcalloc(n ? n : 1, sizeof(size_t));
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct net_lease *l = NULL;
                size_t nl = 0;
                r = net_lease_list(&s, v[i].name, &l, &nl, &err);
                if (r >= 0)
                        endpoints[i] = count_owners(l, nl);
                net_leases_free(l, nl);
        }
        if (r >= 0 && json) {
                _cleanup_strv_ char **objs = xcalloc(n + 1, sizeof(char *));
                for (size_t i = 0; i < n; i++)
                        objs[i] = net_network_json(&s, &v[i], false);
                cmd_print_json_array(objs, n);
        } else if (r >= 0) {
                print_table(v, endpoints, n);
        }
        net_store_close(&s);
        net_networks_free(v, n);
        return r < 0 ? cmd_fail(err) : 0;
}

/* NAME... for inspect and rm: the positional arguments after the options */
static int names_args(const char *cmd, const char *usage, int argc, char **argv)
{
        int r = cmd_parse_help_only(cmd, usage, argc, argv);
        if (r)
                return r;
        if (optind >= argc)
                return cmd_usage_error(cmd, "expects at least one network name");
        return 0;
}

static int inspect_cmd(int argc, char **argv, const struct global_opts *g)
{
        int r = names_args("net inspect", "Usage: capsa net inspect NAME...", argc, argv);
        if (r)
                return r < 0 ? 0 : r;
        struct cx_error *err = NULL;
        struct net_store s;
        if (net_store_open(g->root, &s, &err) < 0)
                return cmd_fail(err);
        /* net_network_get: the default network (and a tenant's) exists without set-up, and a
         * network whose bridge is gone is brought back */
        _cleanup_strv_ char **objs = xcalloc((size_t)argc + 1, sizeof(char *));
        size_t n = 0;
        int failed = 0;
        for (int i = optind; i < argc; i++) {
                struct net_network nw;
                if (net_network_get(&s, argv[i], &nw, &err) < 0) {
                        cx_error_prefix(&err, "net inspect");
                        cmd_fail(err);
                        err = NULL;
                        failed = 1;
                        continue;
                }
                objs[n++] = net_network_json(&s, &nw, true);
                net_network_clear(&nw);
        }
        net_store_close(&s);
        cmd_print_json_array(objs, n);
        return failed;
}

static int rm_cmd(int argc, char **argv, const struct global_opts *g)
{
        int r = names_args("net rm", "Usage: capsa net rm NAME...", argc, argv);
        if (r)
                return r < 0 ? 0 : r;
        struct cx_error *err = NULL;
        struct net_store s;
        if (net_store_open(g->root, &s, &err) < 0)
                return cmd_fail(err);
        int failed = 0;
        for (int i = optind; i < argc; i++) {
                if (net_network_remove(&s, argv[i], &err) < 0) {
                        cx_error_prefix(&err, "net rm");
                        cmd_fail(err);
                        err = NULL;
                        failed = 1;
                        continue;
                }
                puts(argv[i]);
        }
        net_store_close(&s);
        return failed;
}

int cmd_net(int argc, char **argv, const struct global_opts *g)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(net_help, argc < 2 ? stderr : stdout);
                return argc < 2 ? 1 : 0;
        }
        if (strcmp(argv[1], "create") == 0)
                return create_cmd(argc - 1, argv + 1, g);
        if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "ls") == 0)
                return list_cmd(argc - 1, argv + 1, g);
        if (strcmp(argv[1], "inspect") == 0)
                return inspect_cmd(argc - 1, argv + 1, g);
        if (strcmp(argv[1], "rm") == 0 || strcmp(argv[1], "remove") == 0)
                return rm_cmd(argc - 1, argv + 1, g);
        return cmd_usage_error("net", "unknown subcommand `%s` (create, list, inspect or rm)",
                               argv[1]);
}
