/* net: the nftables rules (nft.c, nft-rules.c) against the real kernel, in a network namespace
 * of a forked child: the rules and their comments as nft(8) lists them, idempotence, removal by
 * tag, a table of someone else left alone, and anti-spoofing on a bridge port with traffic.
 * Needs root; skipped otherwise. */
#include "net/net.h"
#include "tap.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char *run(const char *cmd)
{
        FILE *f = popen(cmd, "r");
        if (!f)
                return xstrdup("");
        size_t cap = 4096, len = 0;
        char *out = xmalloc(cap);
        size_t n;
        while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
                len += n;
                if (cap - len < 2)
                        out = xrealloc(out, cap *= 2);
        }
        out[len] = '\0';
        pclose(f);
        return out;
}

static int sh(const char *cmd)
{
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* run() until it prints want (a server just started may not listen yet): the last output. */
static char *run_until(const char *cmd, const char *want)
{
        char *got = run(cmd);
        for (int i = 0; i < 4 && (!got || strcmp(got, want) != 0); i++) {
                usleep(300 * 1000);
                free(got);
                got = run(cmd);
        }
        return got;
}

/* For checks that traffic does pass: a first packet may be lost while neighbours resolve. */
static int sh_retry(const char *cmd)
{
        int r = sh(cmd);
        for (int i = 0; i < 2 && r != 0; i++)
                r = sh(cmd);
        return r;
}

static size_t count(const char *hay, const char *needle)
{
        size_t k = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                k++;
        return k;
}

static struct net_ip ip4(const char *s)
{
        struct net_ip ip = {.family = AF_INET};
        inet_pton(AF_INET, s, ip.a);
        return ip;
}

static struct net_ip ip6(const char *s)
{
        struct net_ip ip = {.family = AF_INET6};
        inet_pton(AF_INET6, s, ip.a);
        return ip;
}

static const struct net_cidr web_subnets[] = {
    {.ip = {.family = AF_INET, .a = {10, 88, 0, 0}}, .prefix = 24},
    {.ip = {.family = AF_INET6, .a = {0xfd, 0, 0, 0x88}}, .prefix = 64},
};
static struct net_ip web_gws[2];

static struct nft_network web(void)
{
        web_gws[0] = ip4("10.88.0.1");
        web_gws[1] = ip6("fd00:88::1");
        return (struct nft_network){.name = "web",
                                    .bridge = "cn-web",
                                    .subnets = web_subnets,
                                    .n_subnets = 2,
                                    .gateways = web_gws,
                                    .isolated = true};
}

static void check(int r, struct cx_error *err, const char *what)
{
        ok(r == 0, "%s", what);
        if (r < 0)
                printf("#   %d: %s\n", r, err ? err->msg : "(no error)");
}

static void test_rules(void)
{
        struct cx_error *err = NULL;
        ok(sh("nft add table ip other && nft add chain ip other c '{ type filter hook input "
              "priority 0; }' && nft add rule ip other c tcp dport 22 accept") == 0,
           "someone else's table");

        ok(nft_network_del("web", "cn-web", &err) == 0, "removing a network before any table: 0");
        _cleanup_free_ char *none = run("nft list tables");
        ok(!strstr(none, "capsa"), "... and no table made for it");

        struct nft_network nw = web();
        check(nft_network_add(&nw, &err), err, "add network web");
        const struct net_cidr int_subnet = {.ip = ip4("10.77.0.0"), .prefix = 16};
        const struct net_ip int_gw = ip4("10.77.0.1");
        struct nft_network in = {.name = "int",
                                 .bridge = "cn-int",
                                 .subnets = &int_subnet,
                                 .n_subnets = 1,
                                 .gateways = &int_gw,
                                 .internal = true};
        check(nft_network_add(&in, &err), err, "add network int (internal)");

        const struct net_ip ips[] = {ip4("10.88.0.2"), ip6("fd00:88::2")};
        struct net_port ports[] = {
            {.proto = IPPROTO_TCP, .host_port = 8080, .port = 80, .target = ips[0]},
            {.proto = IPPROTO_UDP,
             .host_ip = ip4("127.0.0.1"),
             .host_port = 5353,
             .port = 53,
             .target = ips[0]},
            {.proto = IPPROTO_TCP, .host_port = 8443, .port = 443, .target = ips[1]},
        };
        struct nft_endpoint e1 = {.owner = "c1",
                                  .veth = "cv1",
                                  .bridge = "cn-web",
                                  .mac = {0x02, 0, 0, 0, 0, 1},
                                  .ips = ips,
                                  .n_ips = 2,
                                  .ports = ports,
                                  .n_ports = 3};
        check(nft_endpoint_add(&e1, &err), err, "add endpoint c1");
        const struct net_ip ips2[] = {ip4("10.88.0.3")};
        struct nft_endpoint e2 = {.owner = "cni/abc/eth0",
                                  .veth = "cv2",
                                  .bridge = "cn-web",
                                  .mac = {0x02, 0, 0, 0, 0, 2},
                                  .ips = ips2,
                                  .n_ips = 1};
        check(nft_endpoint_add(&e2, &err), err, "add endpoint cni/abc/eth0");

        _cleanup_free_ char *rs = run("nft list ruleset");
        contains(rs, "ip saddr 10.88.0.0/24 oifname != \"cn-web\" masquerade comment \"net/web\"",
                 "masquerade of web's IPv4 subnet");
        contains(rs, "ip6 saddr fd00:88::/64 oifname != \"cn-web\" masquerade comment \"net/web\"",
                 "masquerade of web's IPv6 subnet");
        contains(rs,
                 "ip saddr 10.88.0.0/24 oifname \"cn-web\" ct status dnat masquerade comment "
                 "\"net/web\"",
                 "hairpin");
        contains(rs, "ip daddr 10.88.0.1 udp dport 53 accept comment \"net/web\"",
                 "DNS of isolated web");
        contains(rs, "ip6 daddr fd00:88::1 tcp dport 53 accept comment \"net/web\"",
                 "DNS (tcp, IPv6) of isolated web");
        contains(rs, "iifname \"cn-int\" oifname != \"cn-int\" drop comment \"net/int\"",
                 "internal int: nothing out");
        contains(rs, "oifname \"cn-int\" iifname != \"cn-int\" drop comment \"net/int\"",
                 "internal int: nothing in");
        ok(!strstr(rs, "10.77.0.0/16 oifname != "), "no masquerade for internal int");
        contains(rs, "iifname @bridges oifname @bridges jump between", "the jump to between");
        contains(rs, "iifname \"cn-web\" oifname != \"cn-web\" drop comment \"net/web\"",
                 "routing from web to another network dropped");
        contains(rs, "fib daddr type local jump ports", "jump to the published ports");
        contains(rs, "iifname @isolated drop", "isolated input dropped");
        contains(rs, "tcp dport 8080 dnat ip to 10.88.0.2:80 comment \"c1\"", "DNAT tcp/8080");
        contains(rs, "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.88.0.2:53 comment \"c1\"",
                 "DNAT udp/5353 on 127.0.0.1");
        contains(rs, "tcp dport 8443 dnat ip6 to [fd00:88::2]:443 comment \"c1\"",
                 "DNAT tcp/8443 to IPv6");
        contains(rs, "iifname \"cv1\" ether saddr != 02:00:00:00:00:01 drop comment \"c1\"",
                 "MAC anti-spoofing");
        contains(rs, "iifname \"cv1\" ip saddr 10.88.0.2 accept comment \"c1\"",
                 "IPv4 anti-spoofing");
        contains(rs, "iifname \"cv1\" ip6 saddr fe80::/10 accept comment \"c1\"", "link-local");
        contains(rs, "iifname \"cv1\" ether type ip6 drop comment \"c1\"", "other IPv6 dropped");
        contains(rs, "iifname \"cv2\" ip saddr 10.88.0.3 accept comment \"cni/abc/eth0\"",
                 "second endpoint");
        contains(rs, "tcp dport 22 accept", "the other table");
        size_t n_web = count(rs, "\"net/web\""), n_c1 = count(rs, "\"c1\""),
               n_base = count(rs, "\"capsa\"");
        ok(n_web == 9 && n_base == 10, "9 rules of web, 10 base rules (%zu, %zu)", n_web, n_base);

        _cleanup_free_ char *sets = run("nft list set inet capsa bridges; "
                                        "nft list set inet capsa isolated");
        ok(count(sets, "cn-web") == 2 && count(sets, "cn-int") == 1,
           "sets: both bridges, web isolated");

        check(nft_network_add(&nw, &err), err, "add web again");
        check(nft_endpoint_add(&e1, &err), err, "add c1 again");
        free(rs);
        rs = run("nft list ruleset");
        ok(count(rs, "\"net/web\"") == n_web && count(rs, "\"c1\"") == n_c1 &&
               count(rs, "\"capsa\"") == n_base,
           "no duplicates (%zu, %zu)", count(rs, "\"net/web\""), count(rs, "\"c1\""));

        /* a base rule gone (someone flushed a chain): they are made again */
        ok(sh("nft flush chain inet capsa input") == 0, "flush the input chain");
        in.internal = false;
        in.isolated = true;
        check(nft_network_add(&in, &err), err, "add int again, now isolated and not internal");
        free(rs);
        rs = run("nft list ruleset");
        ok(count(rs, "\"capsa\"") == n_base, "base rules made again (%zu)", count(rs, "\"capsa\""));
        contains(rs, "ip saddr 10.77.0.0/16 oifname != \"cn-int\" masquerade", "int masqueraded");
        ok(!strstr(rs, "oifname \"cn-int\" iifname != \"cn-int\" drop"), "int's drops gone");
        free(sets);
        sets = run("nft list set inet capsa isolated");
        ok(strstr(sets, "cn-int") && strstr(sets, "cn-web"), "int is isolated now");
        in.isolated = false;
        check(nft_network_add(&in, &err), err, "add int again, not isolated");
        free(sets);
        sets = run("nft list set inet capsa isolated");
        ok(!strstr(sets, "cn-int") && strstr(sets, "cn-web"), "int not isolated any more");

        check(nft_endpoint_del("c1", &err), err, "remove c1");
        free(rs);
        rs = run("nft list ruleset");
        ok(count(rs, "\"c1\"") == 0 && count(rs, "\"cni/abc/eth0\"") > 0 &&
               count(rs, "\"net/web\"") == n_web,
           "only c1's rules are gone");
        check(nft_endpoint_del("c1", &err), err, "remove c1 again: 0");

        check(nft_network_del("web", "cn-web", &err), err, "remove web");
        free(rs);
        rs = run("nft list ruleset");
        ok(count(rs, "\"net/web\"") == 0 && !strstr(rs, "cn-web") && strstr(rs, "net/int"),
           "web's rules and set elements are gone, int's are there");
        check(nft_network_del("web", "cn-web", &err), err, "remove web again: 0");
        contains(rs, "tcp dport 22 accept", "the other table is untouched");

        struct net_port bad = {.proto = IPPROTO_TCP, .host_port = 1, .port = 1};
        struct nft_endpoint e3 = {.owner = "c3", .veth = "cv3", .ports = &bad, .n_ports = 1};
        int r = nft_endpoint_add(&e3, &err);
        ok(r == -EINVAL && err && strstr(err->msg, "`c3`"), "a port without a target: EINVAL");
        if (err)
                printf("#   %s\n", err->msg);
        cx_error_free(TAKE_PTR(err));
        struct nft_network bad_nw = {.name = "x", .bridge = "a-name-far-too-long"};
        ok(nft_network_add(&bad_nw, &err) == -EINVAL, "a bridge name too long: EINVAL");
        cx_error_free(TAKE_PTR(err));

        check(nft_endpoint_del("cni/abc/eth0", &err), err, "remove cni/abc/eth0");
        check(nft_network_del("int", "cn-int", &err), err, "remove int");
        free(rs);
        rs = run("nft list ruleset");
        ok(count(rs, "comment") == n_base, "only the base rules are left");
        cx_error_free(err);
}

/* A process in its own network namespace, for `ip link set ... netns PID` and nsenter */
static pid_t netns_child(void)
{
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                pause();
                _exit(0);
        }
        usleep(100 * 1000);
        return pid;
}

static void traffic(pid_t a, pid_t b);

static void test_traffic(void)
{
        pid_t a = netns_child(), b = netns_child();
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "set -e; ip link add cn-web type bridge; ip addr add 10.88.0.1/24 dev cn-web; "
                 "ip link set cn-web up; "
                 "ip link add cv1 type veth peer name eth0 netns %d; "
                 "ip link add cv2 type veth peer name eth0 netns %d; "
                 "for v in cv1 cv2; do ip link set $v master cn-web up; done; "
                 "nsenter --net=/proc/%d/ns/net sh -c 'ip link set eth0 address 02:00:00:00:00:01 "
                 "up; ip addr add 10.88.0.2/24 dev eth0'; "
                 "nsenter --net=/proc/%d/ns/net sh -c 'ip link set eth0 address 02:00:00:00:00:02 "
                 "up; ip addr add 10.88.0.3/24 dev eth0'",
                 a, b, a, b);
        int r = sh(cmd);
        ok(r == 0, "a bridge with two ports in two namespaces");
        if (r == 0)
                traffic(a, b);
        kill(a, SIGKILL);
        kill(b, SIGKILL);
        waitpid(a, NULL, 0);
        waitpid(b, NULL, 0);
}

/* busybox httpd in b's namespace serving "hello" on port 80; its pid */
static pid_t httpd(pid_t b, char *dir)
{
        char path[256], ns[64];
        snprintf(path, sizeof(path), "%s/index.html", dir);
        FILE *f = fopen(path, "w");
        if (f) {
                fputs("hello\n", f);
                fclose(f);
        }
        snprintf(ns, sizeof(ns), "--net=/proc/%d/ns/net", b);
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execlp("nsenter", "nsenter", ns, "busybox", "httpd", "-f", "-p", "80", "-h", dir,
                       (char *)NULL);
                _exit(127);
        }
        usleep(300 * 1000);
        return pid;
}

static void traffic(pid_t a, pid_t b)
{
        struct cx_error *err = NULL;
        char cmd[1024];
        struct nft_network nw = web();
        nw.n_subnets = 1;
        check(nft_network_add(&nw, &err), err, "network web");
        const struct net_ip ip_a = ip4("10.88.0.2"), ip_b = ip4("10.88.0.3");
        struct nft_endpoint ea = {
            .owner = "a", .veth = "cv1", .mac = {2, 0, 0, 0, 0, 1}, .ips = &ip_a, .n_ips = 1};
        struct nft_endpoint eb = {
            .owner = "b", .veth = "cv2", .mac = {2, 0, 0, 0, 0, 2}, .ips = &ip_b, .n_ips = 1};
        check(nft_endpoint_add(&ea, &err), err, "endpoint a");
        struct net_port port = {
            .proto = IPPROTO_TCP, .host_port = 8080, .port = 80, .target = ip_b};
        eb.ports = &port;
        eb.n_ports = 1;
        check(nft_endpoint_add(&eb, &err), err, "endpoint b");

        char dir[] = "/tmp/capsa-test-nft-XXXXXX";
        pid_t web_pid = mkdtemp(dir) ? httpd(b, dir) : -1;
        _cleanup_free_ char *got = run_until("curl -s -m 2 http://10.88.0.1:8080/ 2>&1", "hello\n");
        is_str(got, "hello\n", "the host reaches b's port 80 on its own address, port 8080");
        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net curl -s -m 2 "
                 "http://10.88.0.1:8080/ 2>&1",
                 a);
        free(got);
        got = run_until(cmd, "hello\n");
        is_str(got, "hello\n", "a reaches it too, through the host (hairpin)");
        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net busybox ping -c 1 -W 1 10.88.0.1 >/dev/null 2>&1",
                 a);
        ok(sh(cmd) != 0, "a does not reach the host (isolated network)");
        nw.isolated = false;
        check(nft_network_add(&nw, &err), err, "web not isolated");
        ok(sh_retry(cmd) == 0, "now a reaches the host");
        if (web_pid > 0) {
                kill(web_pid, SIGKILL);
                waitpid(web_pid, NULL, 0);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        sh(cmd);

        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net busybox ping -c 1 -W 1 10.88.0.3 >/dev/null 2>&1",
                 a);
        ok(sh_retry(cmd) == 0, "a reaches b");
        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net sh -c 'ip addr flush dev eth0; "
                 "ip addr add 10.88.0.9/24 dev eth0; ip neigh flush all; "
                 "busybox ping -c 1 -W 1 10.88.0.3' >/dev/null 2>&1",
                 a);
        ok(sh(cmd) != 0, "a with a spoofed address does not");
        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net sh -c 'ip addr flush dev eth0; "
                 "ip addr add 10.88.0.2/24 dev eth0; ip neigh flush all; "
                 "ip link set eth0 address 02:00:00:00:00:09; "
                 "busybox ping -c 1 -W 1 10.88.0.3' >/dev/null 2>&1",
                 a);
        ok(sh(cmd) != 0, "a with a spoofed MAC does not");
        check(nft_endpoint_del("a", &err), err, "endpoint a removed");
        /* b may still hold a's old MAC (a neighbour entry is replaced only once it is older
         * than locktime): both forget, and a few pings may go */
        snprintf(cmd, sizeof(cmd),
                 "nsenter --net=/proc/%d/ns/net ip neigh flush all; "
                 "nsenter --net=/proc/%d/ns/net sh -c 'ip neigh flush all; "
                 "busybox ping -c 3 -W 2 10.88.0.3' >/dev/null 2>&1",
                 b, a);
        ok(sh_retry(cmd) == 0, "without its rules, the spoofed MAC gets through");
        cx_error_free(err);
}

int main(void)
{
        if (geteuid() != 0) {
                printf("ok %d # SKIP nftables needs root\n", ++tap_n);
                return tap_done();
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                if (unshare(CLONE_NEWNET) < 0) {
                        printf("ok %d # SKIP unshare(CLONE_NEWNET): %m\n", ++tap_n);
                        _exit(tap_done());
                }
                sh("ip link set lo up; sysctl -qw net.ipv4.ip_forward=1");
                test_rules();
                sh("nft flush ruleset");
                test_traffic();
                fflush(stdout);
                _exit(tap_done());
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
                return 1;
        return WEXITSTATUS(st);
}
