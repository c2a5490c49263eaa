/* The rtnetlink client (src/net/nl.c, link.c, addr.c) against the real kernel: everything runs
 * in a forked child that unshare()s a fresh network namespace (the host's is never touched),
 * with a second namespace (another child's) for the peers of veth pairs.  Needs root: skips
 * otherwise. */
#include "net/net.h"
#include "tap.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const uint8_t peer_mac[6] = {0x02, 0x42, 0x0a, 0x58, 0x00, 0x02};

static struct net_cidr cidr(const char *s, unsigned prefix)
{
        struct net_cidr c = {.prefix = prefix};
        c.ip.family = strchr(s, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(c.ip.family, s, c.ip.a) != 1)
                abort();
        return c;
}

static struct net_ip ip(const char *s)
{
        return cidr(s, 0).ip;
}

/* The output of a shell command (only to check what the kernel now holds). */
static char *run(const char *fmt, ...) _printf_(1, 2);
static char *run(const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *cmd = NULL;
        va_start(ap, fmt);
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        FILE *f = popen(cmd, "r");
        if (!f)
                return NULL;
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        char chunk[4096];
        size_t k;
        while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fwrite(chunk, 1, k, m);
        fclose(m);
        pclose(f);
        return out;
}

static ino_t netns_ino(void)
{
        struct stat sb;
        return stat("/proc/self/ns/net", &sb) == 0 ? sb.st_ino : 0;
}

/* A child parked in a network namespace of its own until its pipe closes. */
struct peer {
        pid_t pid;
        int fd;   /* its /proc/PID/ns/net */
        int hold; /* the write end: closing it ends the child */
};

static int peer_start(struct peer *p)
{
        int ready[2], hold[2];
        char c;

        if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
                return -1;
        fflush(stdout);
        p->pid = fork();
        if (p->pid < 0)
                return -1;
        if (p->pid == 0) {
                close(ready[0]);
                close(hold[1]);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                if (write(ready[1], "x", 1) != 1)
                        _exit(1);
                while (read(hold[0], &c, 1) > 0)
                        ;
                _exit(0);
        }
        close(ready[1]);
        close(hold[0]);
        p->hold = hold[1];
        ssize_t k = read(ready[0], &c, 1);
        close(ready[0]);
        if (k != 1)
                return -1;
        _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)p->pid);
        p->fd = open(path, O_RDONLY | O_CLOEXEC);
        return p->fd < 0 ? -1 : 0;
}

static void peer_stop(struct peer *p)
{
        if (p->fd >= 0)
                close(p->fd);
        if (p->hold >= 0)
                close(p->hold);
        if (p->pid > 0)
                waitpid(p->pid, NULL, 0);
}

static void test_open(void)
{
        struct nl *n = NULL;
        _cleanup_error_ struct cx_error *err = NULL;
        ino_t before = netns_ino();

        ok(nl_open(-1, &n, &err) == 0 && n, "open in the caller's namespace");
        nl_close(n);
        nl_close(NULL);

        n = NULL;
        int r = nl_open(999, &n, &err);
        ok(r == -EBADF && !n, "a closed fd: EBADF (%d)", r);
        contains(err ? err->msg : NULL, "join network namespace", "the error says what failed");
        cx_error_free(TAKE_PTR(err));

        _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        r = nl_open(null, &n, &err);
        ok(r == -EINVAL && !n, "a fd that is not a namespace: EINVAL (%d)", r);
        contains(err ? err->msg : NULL, "join network namespace", "named as such");
        ok(netns_ino() == before, "still in the test's own namespace");
}

static void test_bridge(struct nl *n)
{
        _cleanup_error_ struct cx_error *err = NULL;
        struct nl_link_info li;
        struct nl_link_change up = NL_LINK_CHANGE_NONE;

        ok(nl_link_get(n, "lo", &li, &err) == 0 && li.index == 1 && !li.up && !li.kind[0],
           "lo: index 1, down in a fresh namespace, no kind");
        ok(nl_link_get(n, "nope0", &li, &err) == -ENODEV && !err,
           "a missing link: -ENODEV and no error text");
        ok(nl_link_get(n, "a-name-that-is-too-long", &li, &err) == -EINVAL && err,
           "a name longer than IFNAMSIZ: EINVAL");
        cx_error_free(TAKE_PTR(err));

        ok(nl_bridge_add(n, "tbr0", 1400, &err) == 0, "create bridge tbr0 (mtu 1400)");
        ok(nl_link_get(n, "tbr0", &li, &err) == 0, "look it up");
        is_str(li.kind, "bridge", "its kind is bridge");
        ok(li.mtu == 1400 && !li.up && li.index > 1 && li.master == 0,
           "mtu 1400, down, no master (mtu %u)", li.mtu);
        ok(nl_bridge_add(n, "tbr0", 0, &err) == -EEXIST, "create it again: EEXIST");
        is_str(err ? err->msg : NULL, "create bridge `tbr0`: File exists",
               "the error names the bridge");
        cx_error_free(TAKE_PTR(err));

        up.up = 1;
        up.mtu = 1300;
        ok(nl_link_set(n, "tbr0", &up, &err) == 0, "set it up, mtu 1300");
        ok(nl_link_get(n, "tbr0", &li, &err) == 0 && li.up && li.mtu == 1300,
           "it is up with mtu 1300 (%u)", li.mtu);

        int r = nl_bridge_add(n, "tbr1", 10, &err);
        ok(r == -EINVAL, "a bridge with mtu 10: EINVAL (%d)", r);
        contains(err ? err->msg : NULL, "create bridge `tbr1`: Invalid argument (",
                 "the error names it and carries the kernel's message");
        printf("# %s\n", err ? err->msg : "(none)");
        cx_error_free(TAKE_PTR(err));

        ok(nl_bridge_add(n, "tbr2", 0, &err) == 0 && nl_link_del(n, "tbr2", &err) == 0 &&
               nl_link_get(n, "tbr2", &li, &err) == -ENODEV && !err,
           "create and delete a bridge: gone");
        ok(nl_link_del(n, "tbr2", &err) == 0 && !err, "deleting a missing link is 0");
        struct nl_link_change none = NL_LINK_CHANGE_NONE;
        ok(nl_link_set(n, "nope0", &none, &err) == -ENODEV, "changing a missing link: ENODEV");
        contains(err ? err->msg : NULL, "`nope0`", "the error names it");
        cx_error_free(TAKE_PTR(err));
}

static void test_veth(struct nl *n, struct peer *peer)
{
        _cleanup_error_ struct cx_error *err = NULL;
        _cleanup_(nl_closep) struct nl *p = NULL;
        struct nl_link_info li, bri, pli;
        struct nl_link_change c = NL_LINK_CHANGE_NONE;

        ok(nl_veth_add(n, "tv0", "eth0", peer->fd, 1450, peer_mac, &err) == 0,
           "create veth tv0 with its peer eth0 in the other namespace");
        if (err)
                printf("# %s\n", err->msg);
        ok(nl_link_get(n, "tv0", &li, &err) == 0 && li.mtu == 1450 && !li.up,
           "tv0 is here: mtu 1450, down");
        is_str(li.kind, "veth", "its kind is veth");
        ok(nl_link_get(n, "eth0", &li, &err) == -ENODEV, "eth0 is not here");

        ok(nl_open(peer->fd, &p, &err) == 0 && p, "open a socket in the peer's namespace");
        if (!p)
                return;
        ok(nl_link_get(p, "eth0", &pli, &err) == 0 && pli.mtu == 1450 && !pli.up &&
               memcmp(pli.mac, peer_mac, 6) == 0,
           "eth0 is there: mtu 1450, down, the given MAC");
        is_str(pli.kind, "veth", "its kind is veth");
        ok(nl_link_get(p, "tv0", &li, &err) == -ENODEV, "tv0 is not there");

        /* clashes */
        ok(nl_veth_add(n, "tv0", "eth1", -1, 0, NULL, &err) == -EEXIST, "tv0 again: EEXIST");
        is_str(err ? err->msg : NULL, "create veth `tv0` (peer `eth1`): File exists",
               "the error names the link and says File exists");
        cx_error_free(TAKE_PTR(err));
        ok(nl_veth_add(n, "tv1", "eth0", peer->fd, 0, NULL, &err) == -EEXIST,
           "a peer name taken in the other namespace: EEXIST");
        contains(err ? err->msg : NULL, "(peer `eth0`): File exists", "named as well");
        cx_error_free(TAKE_PTR(err));
        ok(nl_link_get(n, "tv1", &li, &err) == -ENODEV, "nothing of it is left behind");

        /* enslave, up */
        c.master = "nobr0";
        ok(nl_link_set(n, "tv0", &c, &err) == -ENODEV, "enslave to a missing bridge: ENODEV");
        contains(err ? err->msg : NULL, "bridge `nobr0`", "the error names the bridge");
        cx_error_free(TAKE_PTR(err));
        c.master = "tbr0";
        c.up = 1;
        ok(nl_link_set(n, "tv0", &c, &err) == 0, "enslave tv0 to tbr0 and set it up");
        ok(nl_link_get(n, "tbr0", &bri, &err) == 0 && nl_link_get(n, "tv0", &li, &err) == 0 &&
               li.master == bri.index && li.up,
           "tv0's master is tbr0 (%d vs %d), it is up", li.master, bri.index);
        c = (struct nl_link_change)NL_LINK_CHANGE_NONE;
        c.up = 1;
        ok(nl_link_set(p, "eth0", &c, &err) == 0 && nl_link_set(p, "lo", &c, &err) == 0,
           "set eth0 and lo up in the peer namespace");

        /* addresses and routes in the peer namespace */
        struct net_cidr a4 = cidr("10.88.0.2", 24), a6 = cidr("fd00:88::2", 64);
        struct net_ip gw4 = ip("10.88.0.1"), gw6 = ip("fd00:88::1");
        ok(nl_addr_add(p, "eth0", &a4, &err) == 0, "add 10.88.0.2/24");
        ok(nl_addr_add(p, "eth0", &a6, &err) == 0, "add fd00:88::2/64");
        ok(nl_addr_add(p, "eth0", &a4, &err) == 0 && !err, "adding it again is 0");
        if (err)
                printf("# %s\n", err->msg);
        ok(nl_addr_add(p, "eth9", &a4, &err) == -ENODEV, "to a missing link: ENODEV");
        contains(err ? err->msg : NULL, "add address 10.88.0.2/24 to `eth9`",
                 "the error names the address and the link");
        cx_error_free(TAKE_PTR(err));
        ok(nl_route_add(p, NULL, &gw4, "eth0", &err) == 0, "default route via 10.88.0.1");
        ok(nl_route_add(p, NULL, &gw6, "eth0", &err) == 0, "default route via fd00:88::1");
        if (err)
                printf("# %s\n", err->msg);
        ok(nl_route_add(p, NULL, &gw4, "eth0", &err) == 0 && !err, "adding it again is 0");
        struct net_cidr d = cidr("10.99.0.0", 16);
        ok(nl_route_add(p, &d, NULL, "eth0", &err) == 0, "10.99.0.0/16 on-link");
        struct net_ip far = ip("192.0.2.1");
        struct net_cidr d2 = cidr("10.77.0.0", 16);
        ok(nl_route_add(p, &d2, &far, "eth0", &err) < 0, "via an unreachable gateway: refused");
        contains(err ? err->msg : NULL,
                 "add route 10.77.0.0/16 via 192.0.2.1 dev `eth0`: ", "the error names the route");
        printf("# %s\n", err ? err->msg : "(none)");
        cx_error_free(TAKE_PTR(err));

        _cleanup_free_ char *addrs =
            run("nsenter --net=/proc/%d/ns/net ip -j addr show dev eth0", (int)peer->pid);
        contains(addrs, "\"local\":\"10.88.0.2\",\"prefixlen\":24", "ip sees 10.88.0.2/24");
        contains(addrs, "\"broadcast\":\"10.88.0.255\"", "with its broadcast address");
        contains(addrs, "\"local\":\"fd00:88::2\",\"prefixlen\":64", "ip sees fd00:88::2/64");
        /* nodad, and no "tentative" between it and the lifetimes (ip's flag order) */
        contains(
            addrs,
            "\"local\":\"fd00:88::2\",\"prefixlen\":64,\"scope\":\"global\",\"nodad\":true,\"valid",
            "fd00:88::2 has nodad and is not tentative");
        contains(addrs, "\"address\":\"02:42:0a:58:00:02\"", "eth0 has the given MAC");
        _cleanup_free_ char *r4 =
            run("nsenter --net=/proc/%d/ns/net ip -j -4 route", (int)peer->pid);
        contains(r4, "{\"dst\":\"default\",\"gateway\":\"10.88.0.1\",\"dev\":\"eth0\"",
                 "ip sees the IPv4 default route");
        contains(r4,
                 "{\"dst\":\"10.99.0.0/16\",\"dev\":\"eth0\",\"protocol\":\"static\","
                 "\"scope\":\"link\"",
                 "and 10.99.0.0/16 on-link");
        _cleanup_free_ char *r6 =
            run("nsenter --net=/proc/%d/ns/net ip -j -6 route", (int)peer->pid);
        contains(r6, "{\"dst\":\"default\",\"gateway\":\"fd00:88::1\",\"dev\":\"eth0\"",
                 "ip sees the IPv6 default route");

        /* overlaps, in the peer namespace */
        struct net_cidr q = cidr("10.88.0.0", 16), got = {0};
        char b[64];
        ok(nl_route_overlap(p, &q, &got, &err) == 1 && got.prefix == 24 &&
               strcmp(inet_ntop(AF_INET, got.ip.a, b, sizeof(b)), "10.88.0.0") == 0,
           "10.88.0.0/16 overlaps 10.88.0.0/24 (%s/%u)", b, got.prefix);
        q = cidr("10.99.5.0", 24);
        ok(nl_route_overlap(p, &q, &got, &err) == 1 && got.prefix == 16,
           "10.99.5.0/24 overlaps 10.99.0.0/16");
        q = cidr("10.89.0.0", 24);
        ok(nl_route_overlap(p, &q, &got, &err) == 0, "10.89.0.0/24 does not (default ignored)");
        q = cidr("fd00:88::", 48);
        ok(nl_route_overlap(p, &q, &got, &err) == 1 && got.prefix == 64 &&
               got.ip.family == AF_INET6,
           "fd00:88::/48 overlaps fd00:88::/64");
        q = cidr("fd00:99::", 64);
        ok(nl_route_overlap(p, &q, &got, &err) == 0 && !err, "fd00:99::/64 does not");

        /* rename and move into the other namespace in one change */
        ok(nl_veth_add(n, "tv2", "tv2p", -1, 0, NULL, &err) == 0, "create veth tv2/tv2p here");
        c = (struct nl_link_change)NL_LINK_CHANGE_NONE;
        c.rename = "moved0";
        c.netns_fd = peer->fd;
        ok(nl_link_set(n, "tv2p", &c, &err) == 0, "rename tv2p to moved0 and move it over");
        if (err)
                printf("# %s\n", err->msg);
        ok(nl_link_get(n, "tv2p", &li, &err) == -ENODEV &&
               nl_link_get(n, "moved0", &li, &err) == -ENODEV,
           "it is gone from here");
        ok(nl_link_get(p, "moved0", &li, &err) == 0, "moved0 is there");

        /* deleting one end removes both */
        ok(nl_link_del(n, "tv0", &err) == 0 && nl_link_del(n, "tv2", &err) == 0,
           "delete tv0 and tv2");
        ok(nl_link_get(p, "eth0", &li, &err) == -ENODEV &&
               nl_link_get(p, "moved0", &li, &err) == -ENODEV && !err,
           "their peers are gone too");
        ok(nl_link_del(n, "tbr0", &err) == 0 && nl_link_get(n, "tbr0", &li, &err) == -ENODEV,
           "delete the bridge");
}

static int in_namespace(void)
{
        _cleanup_(nl_closep) struct nl *n = NULL;
        _cleanup_error_ struct cx_error *err = NULL;
        struct peer peer = {.fd = -1, .hold = -1};

        if (unshare(CLONE_NEWNET) < 0) {
                printf("ok %d # SKIP unshare(CLONE_NEWNET): %m\n", ++tap_n);
                return tap_done();
        }
        test_open();
        ok(nl_open(-1, &n, &err) == 0, "open a socket in the test namespace");
        if (!n)
                return tap_done();
        test_bridge(n);
        ok(peer_start(&peer) == 0, "a second namespace (a child's)");
        if (peer.fd >= 0)
                test_veth(n, &peer);
        peer_stop(&peer);
        return tap_done();
}

int main(void)
{
        if (geteuid() != 0) {
                printf("ok %d # SKIP netlink tests need root (a namespace of their own)\n",
                       ++tap_n);
                return tap_done();
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                ok(0, "fork: %m");
                return tap_done();
        }
        if (pid == 0) {
                int r = in_namespace();
                fflush(stdout);
                _exit(r);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
                printf("not ok 1 - the test child died (status %d)\n", status);
                return 1;
        }
        return WEXITSTATUS(status);
}
