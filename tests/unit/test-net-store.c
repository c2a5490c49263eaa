/* net: addresses (parsing, printing, overlap, the n-th host), leases and published ports in a
 * temporary state root (no kernel: nothing here makes a link or a rule). */
#include "net/net.h"
#include "tap.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>

static struct net_cidr cidr(const char *s)
{
        struct net_cidr c = {0};
        if (net_cidr_parse(s, false, &c) < 0)
                printf("# bad cidr %s\n", s);
        return c;
}

static struct net_ip ip(const char *s)
{
        struct net_ip a = {0};
        if (net_ip_parse(s, &a) < 0)
                printf("# bad ip %s\n", s);
        return a;
}

static void test_parse(void)
{
        struct net_ip a;
        char buf[NET_IP_STRLEN + 4];
        ok(net_ip_parse("10.0.0.1", &a) == 0 && a.family == AF_INET, "IPv4 address");
        ok(net_ip_parse("fd00::1", &a) == 0 && a.family == AF_INET6, "IPv6 address");
        is_str(net_ip_str(&a, buf), "fd00::1", "IPv6 printed back");
        const char *bad_ip[] = {"", "10.0.0", "10.0.0.256", "x", "10.0.0.1/24", " 10.0.0.1", NULL};
        for (int i = 0; bad_ip[i]; i++)
                ok(net_ip_parse(bad_ip[i], &a) == -EINVAL, "`%s` is not an address", bad_ip[i]);

        struct net_cidr c;
        ok(net_cidr_parse("10.1.2.3/24", false, &c) == 0, "CIDR");
        is_str(net_cidr_str(&c, buf), "10.1.2.0/24", "masked to the network");
        ok(net_cidr_parse("10.1.2.3/24", true, &c) == 0, "CIDR keeping the host");
        is_str(net_cidr_str(&c, buf), "10.1.2.3/24", "host kept");
        ok(net_cidr_parse("fd00:1:2:3::5/64", false, &c) == 0, "IPv6 CIDR");
        is_str(net_cidr_str(&c, buf), "fd00:1:2:3::/64", "IPv6 masked");
        ok(net_cidr_parse("10.0.0.0/21", false, &c) == 0 && c.prefix == 21, "/21");
        c = cidr("10.0.7.255/21");
        is_str(net_cidr_str(&c, buf), "10.0.0.0/21", "/21 masked");
        ok(net_cidr_parse("0.0.0.0/0", false, &c) == 0 && c.prefix == 0, "/0");
        const char *bad[] = {"10.0.0.0/33",  "10.0.0.0",   "10.0.0.0/",   "/24",  "10.0.0.0/-1",
                             "10.0.0.0/024", "fd00::/129", "10.0.0.0/2x", "x/24", NULL};
        for (int i = 0; bad[i]; i++)
                ok(net_cidr_parse(bad[i], false, &c) == -EINVAL, "`%s` is not a CIDR", bad[i]);
}

static void test_relations(void)
{
        struct net_cidr n24 = cidr("10.89.1.0/24"), n16 = cidr("10.89.0.0/16");
        struct net_ip a = ip("10.89.1.7"), b = ip("10.89.2.7"), v6 = ip("fd00::7");
        ok(net_cidr_contains(&n24, &a), "contains");
        ok(!net_cidr_contains(&n24, &b), "does not contain");
        ok(!net_cidr_contains(&n24, &v6), "another family is never contained");
        ok(net_cidr_overlaps(&n24, &n16) && net_cidr_overlaps(&n16, &n24), "overlap both ways");
        struct net_cidr other = cidr("10.89.2.0/24");
        ok(!net_cidr_overlaps(&n24, &other), "neighbours do not overlap");
        struct net_cidr all = cidr("0.0.0.0/0"), v6n = cidr("fd00::/64");
        ok(net_cidr_overlaps(&all, &n24), "the default route overlaps everything");
        ok(!net_cidr_overlaps(&v6n, &n24), "families never overlap");
        struct net_ip x = ip("10.89.1.7"), y = ip("10.89.1.8");
        ok(net_ip_equal(&a, &x) && !net_ip_equal(&a, &y), "equal");

        struct net_ip r;
        char buf[NET_IP_STRLEN];
        ok(net_cidr_nth(&n24, 1, &r), "first host");
        is_str(net_ip_str(&r, buf), "10.89.1.1", "nth 1");
        ok(net_cidr_nth(&n24, 255, &r), "nth 255");
        is_str(net_ip_str(&r, buf), "10.89.1.255", "the broadcast address");
        ok(!net_cidr_nth(&n24, 256, &r), "nth 256 is outside a /24");
        ok(net_cidr_nth(&n16, 258, &r), "nth 258 in a /16");
        is_str(net_ip_str(&r, buf), "10.89.1.2", "carried into the third byte");
        ok(net_cidr_nth(&v6n, 0x10001, &r), "nth in IPv6");
        is_str(net_ip_str(&r, buf), "fd00::1:1", "IPv6 nth");
        ok(net_cidr_nth(&v6n, UINT64_MAX, &r), "the last of a /64");
        is_str(net_ip_str(&r, buf), "fd00::ffff:ffff:ffff:ffff", "IPv6 last");
        struct net_cidr v6_96 = cidr("fd00::/96");
        ok(!net_cidr_nth(&v6_96, 1ULL << 32, &r), "outside a /96");

        struct net_ip net = ip("10.89.1.0"), bc = ip("10.89.1.255");
        ok(!net_cidr_is_host(&n24, &net), "the network address is not a host");
        ok(!net_cidr_is_host(&n24, &bc), "the broadcast address is not a host");
        ok(net_cidr_is_host(&n24, &a), "a host");
        ok(!net_cidr_is_host(&n24, &b), "outside: not a host");
        struct net_cidr p31 = cidr("10.0.0.0/31");
        struct net_ip z = ip("10.0.0.0");
        ok(net_cidr_is_host(&p31, &z), "a /31 has no network address");
}

static void test_names(void)
{
        const char *good[] = {"web",     "a",           "a.b-c_d", "123456789012",
                              "default", "tenant-acme", NULL};
        const char *bad[] = {"",      "-a",  ".a",      "a/b", "1234567890123",
                             "ports", "a b", "tenant-", "..",  NULL};
        for (int i = 0; good[i]; i++)
                ok(net_name_validate(good[i], NULL) == 0, "network name `%s`", good[i]);
        for (int i = 0; bad[i]; i++)
                ok(net_name_validate(bad[i], NULL) < 0, "not a network name: `%s`", bad[i]);
        struct cx_error *e = NULL;
        net_name_validate("a/b", &e);
        contains(e ? e->msg : NULL, "`a/b`", "the error names it");
        cx_error_freep(&e);
}

static void test_leases(const char *root)
{
        struct net_store s;
        struct cx_error *e = NULL;
        ok(net_store_open(root, &s, &e) == 0, "store opens");
        struct net_network nw = {.name = "web", .n_subnets = 2};
        nw.subnets[0] = cidr("10.89.1.0/29"); /* hosts .1 .. .6 */
        nw.gateways[0] = ip("10.89.1.1");
        nw.subnets[1] = cidr("fd00:1::/64");
        nw.gateways[1] = ip("fd00:1::1");

        struct net_ip r;
        char buf[NET_IP_STRLEN];
        ok(net_lease_take(&s, &nw, AF_INET, NULL, "c1", &r, &e) == 0, "take an IPv4 address");
        is_str(net_ip_str(&r, buf), "10.89.1.2", "the lowest free: not the gateway");
        ok(net_lease_take(&s, &nw, AF_INET6, NULL, "c1", &r, &e) == 0, "take an IPv6 address");
        is_str(net_ip_str(&r, buf), "fd00:1::2", "IPv6 lowest free");
        struct stat st;
        ok(fstatat(s.fd, "web/leases/10.89.1.2", &st, 0) == 0, "the lease is a file");

        struct net_ip want = ip("10.89.1.5");
        ok(net_lease_take(&s, &nw, AF_INET, &want, "c2", &r, &e) == 0, "take a wanted address");
        is_str(net_ip_str(&r, buf), "10.89.1.5", "the wanted one");
        ok(net_lease_take(&s, &nw, AF_INET, &want, "c3", &r, &e) == -EADDRINUSE,
           "a leased address is refused");
        is_str(e ? e->msg : NULL, "address 10.89.1.5 is already leased to c2", "names the owner");
        cx_error_freep(&e);
        struct net_ip out = ip("10.1.0.5");
        ok(net_lease_take(&s, &nw, AF_INET, &out, "c3", &r, &e) < 0, "outside refused");
        is_str(e ? e->msg : NULL, "address 10.1.0.5 is outside network `web` (10.89.1.0/29)",
               "outside message");
        cx_error_freep(&e);
        ok(net_lease_take(&s, &nw, AF_INET, &nw.gateways[0], "c3", &r, &e) < 0,
           "the gateway refused");
        is_str(e ? e->msg : NULL, "address 10.89.1.1 is the gateway of network `web`",
               "gateway message");
        cx_error_freep(&e);
        struct net_ip bc = ip("10.89.1.7"), net = ip("10.89.1.0");
        ok(net_lease_take(&s, &nw, AF_INET, &bc, "c3", &r, &e) < 0, "broadcast refused");
        contains(e ? e->msg : NULL, "broadcast address", "broadcast message");
        cx_error_freep(&e);
        ok(net_lease_take(&s, &nw, AF_INET, &net, "c3", &r, &e) < 0, "network address refused");
        contains(e ? e->msg : NULL, "network address", "network address message");
        cx_error_freep(&e);
        struct net_ip v6 = ip("fd00:1::9");
        ok(net_lease_take(&s, &nw, AF_INET, &v6, "c3", &r, &e) < 0, "wrong family refused");
        cx_error_freep(&e);

        /* .3 .4 .6 left */
        for (int i = 0; i < 3; i++)
                ok(net_lease_take(&s, &nw, AF_INET, NULL, "c4", &r, &e) == 0, "take %d", i);
        is_str(net_ip_str(&r, buf), "10.89.1.6", "skipped the wanted .5");
        ok(net_lease_take(&s, &nw, AF_INET, NULL, "c5", &r, &e) == -EADDRNOTAVAIL, "exhausted");
        is_str(e ? e->msg : NULL, "network `web` has no free IPv4 address", "exhaustion message");
        cx_error_freep(&e);

        struct net_lease *l = NULL;
        size_t n = 0;
        ok(net_lease_list(&s, "web", &l, &n, &e) == 0 && n == 6, "six leases (got %zu)", n);
        ok(n == 6 && l[0].ip.family == AF_INET && l[5].ip.family == AF_INET6 &&
               strcmp(l[3].owner, "c2") == 0,
           "sorted, IPv4 first, with owners");
        net_leases_free(l, n);
        ok(net_lease_release(&s, "web", "c4", &e) == 0, "release c4");
        ok(net_lease_release(&s, "web", "nobody", &e) == 0, "release of nothing is fine");
        ok(net_lease_list(&s, "web", &l, &n, &e) == 0 && n == 3, "three left");
        net_leases_free(l, n);
        ok(net_lease_take(&s, &nw, AF_INET, NULL, "c5", &r, &e) == 0, "free again");
        is_str(net_ip_str(&r, buf), "10.89.1.3", "the lowest released one");
        ok(net_lease_list(&s, "other", &l, &n, &e) == 0 && n == 0, "no leases of another network");
        net_leases_free(l, n);
        ok(net_lease_list(&s, "../x", &l, &n, &e) < 0, "a bad network name is refused");
        cx_error_freep(&e);

        struct net_network v4only = {.name = "v4", .n_subnets = 1};
        v4only.subnets[0] = cidr("10.89.2.0/24");
        v4only.gateways[0] = ip("10.89.2.1");
        ok(net_lease_take(&s, &v4only, AF_INET6, NULL, "c1", &r, &e) < 0, "no IPv6 subnet");
        contains(e ? e->msg : NULL, "has no IPv6 subnet", "no subnet message");
        cx_error_freep(&e);
        net_store_close(&s);
}

static void test_ports(const char *root)
{
        struct net_port p;
        struct cx_error *e = NULL;
        char buf[NET_IP_STRLEN];
        ok(net_port_parse("8080:80", &p, &e) == 0 && p.proto == IPPROTO_TCP &&
               p.host_port == 8080 && p.port == 80 && p.host_ip.family == 0,
           "HOSTPORT:PORT");
        ok(net_port_parse("127.0.0.1:53:5353/udp", &p, &e) == 0 && p.proto == IPPROTO_UDP &&
               p.host_port == 53 && p.port == 5353,
           "HOSTIP:HOSTPORT:PORT/udp");
        is_str(net_ip_str(&p.host_ip, buf), "127.0.0.1", "host ip");
        ok(net_port_parse("[::1]:8080:80/tcp", &p, &e) == 0 && p.host_ip.family == AF_INET6,
           "[IPv6]:HOSTPORT:PORT");
        ok(net_port_parse("0.0.0.0:8080:80", &p, &e) == 0 && p.host_ip.family == 0,
           "0.0.0.0 is every address");
        const char *bad[] = {
            "80",          "0:80",         "8080:65536", "x:8080:80", "8080:80/sctp",
            "::1:8080:80", "[::1]8080:80", "8080:",      ":80",       NULL};
        for (int i = 0; bad[i]; i++) {
                ok(net_port_parse(bad[i], &p, &e) < 0, "`%s` refused", bad[i]);
                char want[64];
                snprintf(want, sizeof(want), "`%s`", bad[i]);
                contains(e ? e->msg : NULL, want, "the error names it");
                cx_error_freep(&e);
        }

        struct net_store s;
        ok(net_store_open(root, &s, &e) == 0, "store opens");
        struct net_port any, lo, lo2, udp;
        net_port_parse("8080:80", &any, NULL);
        net_port_parse("127.0.0.1:9090:80", &lo, NULL);
        net_port_parse("127.0.0.2:9090:80", &lo2, NULL);
        net_port_parse("8080:80/udp", &udp, NULL);
        ok(net_port_take(&s, &any, "c1@web", &e) == 0, "publish tcp/8080");
        ok(net_port_take(&s, &any, "c1@web", &e) == 0, "again by its owner");
        ok(net_port_take(&s, &any, "c2", &e) == -EADDRINUSE, "refused to another");
        is_str(e ? e->msg : NULL, "port tcp/8080 is already published by container c1",
               "port message");
        cx_error_freep(&e);
        ok(net_port_take(&s, &udp, "c2", &e) == 0, "udp/8080 is another port");
        ok(net_port_take(&s, &lo, "c2", &e) == 0, "127.0.0.1:9090");
        ok(net_port_take(&s, &lo2, "c3", &e) == 0, "127.0.0.2:9090: another address");
        ok(net_port_take(&s, &lo, "c3", &e) < 0, "127.0.0.1:9090 again refused");
        cx_error_freep(&e);
        struct net_port any9090;
        net_port_parse("9090:80", &any9090, NULL);
        ok(net_port_take(&s, &any9090, "c4", &e) < 0, "every address clashes with one");
        cx_error_freep(&e);
        struct net_port lo8080;
        net_port_parse("127.0.0.1:8080:80", &lo8080, NULL);
        ok(net_port_take(&s, &lo8080, "cni/x/eth0", &e) < 0, "one clashes with every address");
        cx_error_freep(&e);
        ok(net_port_release(&s, "c1@web", &e) == 0, "release c1");
        ok(net_port_take(&s, &lo8080, "cni/x/eth0", &e) == 0, "free after release");
        ok(net_port_take(&s, &any, "c5", &e) < 0, "now every address clashes with it");
        contains(e ? e->msg : NULL, "published by cni/x/eth0", "a CNI owner is named as it is");
        cx_error_freep(&e);
        net_store_close(&s);
}

int main(void)
{
        test_parse();
        test_relations();
        test_names();
        char root[] = "/tmp/capsa-test-net-XXXXXX";
        ok(mkdtemp(root) != NULL, "mkdtemp");
        test_leases(root);
        test_ports(root);
        rm_rf_at(AT_FDCWD, root);
        return tap_done();
}
