"""`capsa net`: create, list, inspect and rm networks, every validation error, and nothing left
behind by a refused create.  capsa runs in a network namespace of the test's own (never the
host's): bridges, addresses and rules are checked there with ip and nft."""

import json
import os
import subprocess

import pytest

from conftest import CAPSA

pytestmark = pytest.mark.capsa_only


class Net:
    def __init__(self, ns_path, root):
        self.ns_path = ns_path
        self.ns = os.path.basename(ns_path)
        self.root = root

    def enter(self, *argv):
        return subprocess.run(["nsenter", f"--net={self.ns_path}", *argv],
                              capture_output=True, text=True, timeout=30)

    def __call__(self, *args):
        return self.enter(CAPSA, "--root", str(self.root), "net", *args)

    def links(self):
        r = subprocess.run(["ip", "-n", self.ns, "-j", "link"], capture_output=True, text=True,
                           check=True, timeout=10)
        return {l["ifname"]: l for l in json.loads(r.stdout)}

    def addrs(self, ifname):
        r = subprocess.run(["ip", "-n", self.ns, "-j", "addr", "show", "dev", ifname],
                           capture_output=True, text=True, check=True, timeout=10)
        return {f'{a["local"]}/{a["prefixlen"]}' for l in json.loads(r.stdout)
                for a in l["addr_info"] if a.get("scope") == "global"}

    def ruleset(self):
        return self.enter("nft", "-a", "list", "ruleset").stdout

    def definition(self, name):
        return self.root / "networks" / f"{name}.json"

    def sysctl(self, path):
        return self.enter("cat", f"/proc/sys/{path}").stdout.strip()


@pytest.fixture
def net(netns, testdir):
    return Net(netns(), testdir / "state")


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def assert_nothing_left(net, name, bridge):
    assert bridge not in net.links()
    assert not net.definition(name).exists()
    rules = net.ruleset()
    assert bridge not in rules and f"net/{name}" not in rules, rules


def test_create_list_inspect_rm(net):
    assert ok(net("create", "web")).stdout == "web\n"
    assert ok(net("create", "two", "--subnet", "10.2.0.0/24", "--gateway", "10.2.0.9",
                  "--ipv6", "fd00:5::/64", "--mtu", "1400", "--internal")).stdout == "two\n"
    links = net.links()
    assert links["cn-web"]["operstate"] in ("UP", "UNKNOWN")
    assert "UP" in links["cn-web"]["flags"]
    assert links["cn-two"]["mtu"] == 1400
    assert net.addrs("cn-web") == {"10.89.1.1/24"}
    assert net.addrs("cn-two") == {"10.2.0.9/24", "fd00:5::1/64"}
    assert net.sysctl("net/ipv4/ip_forward") == "1"
    assert net.sysctl("net/ipv6/conf/all/forwarding") == "1"

    table = ok(net("list")).stdout.splitlines()
    assert table[0].split() == ["NAME", "BRIDGE", "SUBNETS", "ENDPOINTS"]
    assert [l.split() for l in table[1:]] == [
        ["two", "cn-two", "10.2.0.0/24,fd00:5::/64", "0"],
        ["web", "cn-web", "10.89.1.0/24", "0"]]
    listed = json.loads(ok(net("list", "--format", "json")).stdout)
    assert [n["name"] for n in listed] == ["two", "web"]
    two = listed[0]
    assert two["bridge"] == "cn-two" and two["mtu"] == 1400 and two["internal"] is True
    assert two["subnets"] == [{"subnet": "10.2.0.0/24", "gateway": "10.2.0.9"},
                              {"subnet": "fd00:5::/64", "gateway": "fd00:5::1"}]
    assert two["tenant"] is None and two["created"].endswith("Z")
    assert "endpoints" not in two

    # the definition is what list prints
    assert json.loads(net.definition("web").read_text()) == listed[1]
    assert oct(os.stat(net.root / "networks").st_mode & 0o777) == "0o700"

    got = json.loads(ok(net("inspect", "web", "two")).stdout)
    assert [n["name"] for n in got] == ["web", "two"]
    assert got[0]["endpoints"] == []

    # the default network is made on first use
    got = json.loads(ok(net("inspect", "default")).stdout)
    assert got[0]["bridge"] == "capsa0"
    assert got[0]["subnets"] == [{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]
    assert net.addrs("capsa0") == {"10.89.0.1/24"}

    assert ok(net("rm", "web", "two", "default")).stdout == "web\ntwo\ndefault\n"
    for name, bridge in (("web", "cn-web"), ("two", "cn-two"), ("default", "capsa0")):
        assert_nothing_left(net, name, bridge)
    assert ok(net("list")).stdout.splitlines()[1:] == []
    assert json.loads(ok(net("list", "--format", "json")).stdout) == []


def test_auto_subnet_skips_networks_and_routes(net):
    ok(net.enter("ip", "link", "add", "busy0", "type", "bridge"))
    ok(net.enter("ip", "addr", "add", "10.89.2.1/24", "dev", "busy0"))
    ok(net.enter("ip", "link", "set", "busy0", "up"))
    ok(net("create", "a"))
    ok(net("create", "b"))
    got = {n["name"]: n["subnets"][0]["subnet"]
           for n in json.loads(ok(net("list", "--format", "json")).stdout)}
    assert got == {"a": "10.89.1.0/24", "b": "10.89.3.0/24"}
    ok(net("rm", "a", "b"))


def test_bridge_is_brought_back(net):
    ok(net("create", "web", "--subnet", "10.3.0.0/24"))
    ok(net.enter("ip", "link", "del", "cn-web"))
    got = json.loads(ok(net("inspect", "web")).stdout)
    assert got[0]["name"] == "web"
    assert net.addrs("cn-web") == {"10.3.0.1/24"}
    ok(net("rm", "web"))


@pytest.mark.parametrize("args,message", [
    (["--subnet", "10.0.0.0/33"], "net create: --subnet `10.0.0.0/33`: not a CIDR"),
    (["--subnet", "nonsense"], "--subnet `nonsense`: not a CIDR"),
    (["--subnet", "10.2.0.0/24", "--gateway", "10.1.0.1"],
     "--gateway `10.1.0.1` is outside --subnet `10.2.0.0/24`"),
    (["--subnet", "10.2.0.0/24", "--gateway", "10.2.0.255"],
     "--gateway `10.2.0.255` is not a host address of --subnet `10.2.0.0/24`"),
    (["--subnet", "10.2.0.0/24", "--gateway", "x"], "--gateway `x`: not an IP address"),
    (["--subnet", "10.2.0.0/24", "--subnet", "10.3.0.0/24"],
     "--subnet `10.3.0.0/24`: a network has at most one IPv4 subnet"),
    (["--ipv6", "10.2.0.0/24"], "--ipv6 `10.2.0.0/24`: not an IPv6 CIDR"),
    (["--subnet", "10.89.0.0/16"], "--subnet `10.89.0.0/16` overlaps network `other` "
                                   "(10.89.1.0/24)"),
    (["--subnet", "10.7.1.0/24"], "--subnet `10.7.1.0/24` overlaps the host's route to "
                                  "10.7.0.0/16"),
    (["--bridge", "taken0"], "bridge `taken0` clashes with an existing link that is not "
                             "capsa's"),
    (["--bridge", "cn-other"], "bridge `cn-other` is the bridge of network `other`"),
    (["--bridge", "a" * 16], "--bridge `" + "a" * 16 + "`: not an interface name"),
    (["--mtu", "67"], "--mtu `67`: not between 68 and 65535"),
    (["--mtu", "65536"], "--mtu `65536`: not between 68 and 65535"),
    (["--mtu", "1000", "--ipv6", "fd00:9::/64"],
     "--mtu `1000`: an IPv6 subnet (--ipv6 `fd00:9::/64`) needs at least 1280"),
])
def test_create_refused(net, args, message):
    ok(net("create", "other"))
    ok(net.enter("ip", "link", "add", "taken0", "type", "bridge"))
    ok(net.enter("ip", "addr", "add", "10.7.0.1/16", "dev", "taken0"))
    ok(net.enter("ip", "link", "set", "taken0", "up"))
    before = net.ruleset()
    r = net("create", "web", *args)
    assert r.returncode == 1, r
    assert message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr
    assert_nothing_left(net, "web", "cn-web")
    assert net.ruleset() == before
    assert "taken0" in net.links()  # not capsa's: untouched
    ok(net("rm", "other"))
    assert_nothing_left(net, "other", "cn-other")


def test_create_refused_names(net):
    ok(net("create", "web"))
    r = net("create", "web")
    assert r.returncode == 1 and "network `web` already exists" in r.stderr, r
    assert "cn-web" in net.links() and net.definition("web").exists()
    for bad in ("a/b", "x" * 13, "ports", ".x", "tenant-x"):
        r = net("create", "--", bad)
        assert r.returncode == 1, r
        assert f"`{bad}`" in r.stderr, r.stderr
    ok(net("rm", "web"))


def test_rm_refused_while_leased(net):
    ok(net("create", "web"))
    leases = net.root / "networks" / "web" / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    (leases / "10.89.1.2").write_text("c1")
    (leases / "10.89.1.3").write_text("c2")
    (leases / "10.89.1.4").write_text("c1")
    table = ok(net("list")).stdout.splitlines()
    assert table[1].split()[-1] == "2"  # endpoints: c1 and c2
    got = json.loads(ok(net("inspect", "web")).stdout)
    assert got[0]["endpoints"] == [{"owner": "c1", "address": "10.89.1.2"},
                                   {"owner": "c2", "address": "10.89.1.3"},
                                   {"owner": "c1", "address": "10.89.1.4"}]
    r = net("rm", "web", "nope")
    assert r.returncode == 1, r
    assert "net rm: network `web` is in use by c1, c2" in r.stderr, r.stderr
    assert "net rm: network `nope` does not exist" in r.stderr, r.stderr
    assert "cn-web" in net.links() and net.definition("web").exists()
    for f in leases.iterdir():
        f.unlink()
    assert ok(net("rm", "web")).stdout == "web\n"
    assert_nothing_left(net, "web", "cn-web")
    assert not (net.root / "networks" / "web").exists()


def test_usage(net):
    r = net("--help")
    assert r.returncode == 0 and "capsa net create" in r.stdout, r
    for sub in ("create", "list", "inspect", "rm"):
        r = net(sub, "--help")
        assert r.returncode == 0 and f"capsa net {sub}" in r.stdout, (sub, r)
    r = net("frobnicate")
    assert r.returncode == 1, r
    assert "capsa: net: unknown subcommand `frobnicate`" in r.stderr, r.stderr
    r = net("list", "--format", "yaml")
    assert r.returncode == 1 and "`yaml`" in r.stderr, r
    r = net("inspect", "nope")
    assert r.returncode == 1 and "network `nope` does not exist" in r.stderr, r
    r = net("rm")
    assert r.returncode == 1, r
    r = net("create")
    assert r.returncode == 1, r


def test_default_and_tenant_networks(net):
    # `net create default` without --subnet is the default network as first use makes it
    ok(net("create", "default"))
    got = json.loads(ok(net("inspect", "default")).stdout)[0]
    assert got["bridge"] == "capsa0"
    assert got["subnets"] == [{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}]
    # a tenant's network is made when first asked for: isolated, a free /24
    got = json.loads(ok(net("inspect", "tenant-acme")).stdout)[0]
    assert got["tenant"] == "acme" and got["bridge"] == "cn-tenant-acme"
    assert got["subnets"] == [{"subnet": "10.89.1.0/24", "gateway": "10.89.1.1"}]
    long = "tenant-" + "x" * 20
    got = json.loads(ok(net("inspect", long)).stdout)[0]
    assert got["name"] == long and got["bridge"].startswith("ct") and len(got["bridge"]) == 14
    assert got["bridge"] in net.links()
    ok(net("rm", "default", "tenant-acme", long))
    assert_nothing_left(net, "tenant-acme", "cn-tenant-acme")
    assert_nothing_left(net, "default", "capsa0")
    assert ok(net("list")).stdout.splitlines()[1:] == []
