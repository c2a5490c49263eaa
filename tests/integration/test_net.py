"""Container networking end to end: `capsa net`, `--net`/`-p` (and their annotations), seen
from inside containers (capsa-checker's network commands), from the host and from another host.

Everything happens in two network namespaces made per test (nettools.TestNet): the runtime, its
bridges and its nftables tables live in the "test host" X (the runtime runs through
`nsenter --net`), and an "other host" O is joined to X's uplink by a veth pair.  The `runtime`
fixture is overridden here: the same driver as conftest's, with argv prefixed by nsenter, and
a teardown that also removes every network, tenant and then checks X: no veth, no rule that
names a container id, no lease, no published port.

The cleanup cycles (test_cycles_*) run the full 500 create/delete and 100 SIGKILLed-create
cycles (about 40 s together); CAPSA_NET_SOAK=0 runs a short loop of 40 and 15.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (CHECKER, DEFAULT_TIMEOUT, Runtime, leftovers, scrub)
import nettools
from nettools import HOST_IP, OTHER_IP

pytestmark = pytest.mark.capsa_only

SOAK = os.environ.get("CAPSA_NET_SOAK") != "0"
DEFAULT_SUBNET = "10.89.0.0/24"
DEFAULT_GW = "10.89.0.1"
BASE_LINKS = {"lo", nettools.UPLINK}


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def testns():
    t = nettools.TestNet()
    try:
        t.setup()
    except BaseException:
        t.destroy()
        raise
    yield t
    t.destroy()


class NetRuntime(Runtime):
    """conftest's Runtime, run inside the test namespace."""

    def __init__(self, testdir, root, ns):
        super().__init__(testdir, root)
        self.ns = ns
        self.tenants = []
        self.bundles = []

    def argv(self, *args, root=True):
        return ["nsenter", f"--net={self.ns.path}"] + super().argv(*args, root=root)

    # ---- networks --------------------------------------------------------------------------

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        return r

    def networks(self):
        r = self("net", "list", "--format", "json")
        if r.rc != 0:
            return []
        data = r.json
        return data if isinstance(data, list) else []

    def inspect(self, name):
        r = self.ok("net", "inspect", name)
        data = r.json
        assert isinstance(data, list) and len(data) == 1, r
        return data[0]

    def endpoints(self, name, owner=None):
        eps = self.inspect(name).get("endpoints") or []
        return [e for e in eps if owner is None or e.get("owner") == owner]

    def ips(self, name, owner, family=4):
        """the addresses OWNER holds on network NAME (without a prefix length)"""
        out = []
        for e in self.endpoints(name, owner):
            a = e["address"].split("/")[0]
            if (":" in a) == (family == 6):
                out.append(a)
        return out

    def ip(self, name, owner, family=4):
        got = self.ips(name, owner, family)
        assert len(got) == 1, f"{owner} holds {got} on {name}: {self.inspect(name)}"
        return got[0]

    # ---- containers ------------------------------------------------------------------------

    def serve(self, bundle, *cmd, extra=(), hostname=None, timeout=15):
        """A container running capsa-checker CMD (tcp-serve/udp-serve) in the foreground of a
        background `run`; returns (cid, proc) once it prints "listening"."""
        bundle.process["args"] = [CHECKER] + [str(c) for c in cmd]
        if hostname:
            bundle.config["hostname"] = hostname
        bundle.save()
        cid = self.new_id()
        p = self.spawn("run", "--bundle", bundle.path, *extra, cid)
        out = p.files[0]
        end = time.monotonic() + timeout
        while True:
            text = os.pread(out.fileno(), 65536, 0).decode(errors="replace")
            if '"listening"' in text:
                return cid, p
            if p.poll() is not None or time.monotonic() > end:
                r = self.finish(p) if p.poll() is not None else None
                raise AssertionError(f"server container did not start: {r or text}")
            time.sleep(0.05)

    def served(self, p, timeout=40):
        r = self.finish(p, timeout=timeout)
        assert r.rc == 0, r
        try:
            return json.loads(r.out)
        except ValueError:
            raise AssertionError(f"server output is not JSON: {r}") from None

    def checks(self, bundle, cmds, extra=(), caps=(), cid=None):
        """Run several checker commands in one container (sh -c); their JSON objects."""
        script = "; ".join(" ".join([CHECKER] + [shq(c) for c in cmd]) for cmd in cmds)
        bundle.process["args"] = ["/bin/sh", "-c", script]
        add_caps(bundle, caps)
        r = self.run(bundle, *extra, cid=cid, timeout=60)
        assert r.rc == 0, r
        objs = []
        for chunk in re.split(r"\n(?=\{)", r.out.strip()):
            try:
                objs.append(json.loads(chunk))
            except ValueError:
                raise AssertionError(f"checker output is not JSON: {r}") from None
        assert len(objs) == len(cmds), r
        return objs

    def check1(self, bundle, *cmd, extra=(), caps=()):
        return self.checks(bundle, [cmd], extra=extra, caps=caps)[0]

    def sleeper(self, bundle, *extra, cid=None, secs=120):
        bundle.process["args"] = [CHECKER, "sleep", str(secs)]
        cid = cid or self.new_id()
        r = self.run(bundle, "--detach", *extra, cid=cid)
        assert r.rc == 0, r
        return cid


def shq(s):
    s = str(s)
    return s if re.fullmatch(r"[\w./:=,@%+-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def add_caps(bundle, caps):
    for c in caps:
        for k in ("bounding", "effective", "permitted"):
            lst = bundle.process["capabilities"].setdefault(k, [])
            if c not in lst:
                lst.append(c)
    bundle.save()


def settle_links(ns, keep, timeout=5):
    """A stopped container's veth goes with its network namespace, which the kernel tears down
    asynchronously (capsa does not wait for it): give that a moment."""
    end = time.monotonic() + timeout
    while set(ns.links()) - keep and time.monotonic() < end:
        time.sleep(0.05)


def net_leftovers(rt, ids, links=True):
    """What the runtime left in X and under ROOT/networks for these ids (or at all, when the
    networks are gone)."""
    left = []
    ns = rt.ns
    nets = {n.get("name"): n for n in rt.networks()}
    bridges = {n.get("bridge") for n in nets.values()}
    if links:
        settle_links(ns, BASE_LINKS | bridges)
    for name in ns.links() if links else ():
        if name not in BASE_LINKS and name not in bridges:
            left.append(f"link: {name}")
    rules = ns.ruleset()
    current = set(ns.links())
    for veth in sorted(set(re.findall(r"\bcv[0-9a-f]{13}\b", rules)) - current):
        left.append(f"nft rule naming the gone veth {veth}")
    for cid in ids:
        for line in rules.splitlines():
            if cid in line:
                left.append(f"nft rule: {line.strip()}")
    for name in nets:
        for e in rt.endpoints(name):
            if e.get("owner") in ids:
                left.append(f"lease on {name}: {e}")
    store = rt.root / "networks"
    if store.is_dir():
        for dirpath, _, files in os.walk(store):
            for f in files:
                p = os.path.join(dirpath, f)
                try:
                    content = open(p, errors="replace").read(4096)
                except OSError:
                    content = ""
                if any(cid in content or cid in f for cid in ids):
                    left.append(f"file: {p}: {content.strip()[:80]}")
    return left


@pytest.fixture
def runtime(testdir, testns):
    """conftest's runtime fixture inside the test namespace (bundle() uses this one)."""
    import conftest
    if not os.access(conftest.CAPSA, os.X_OK):
        pytest.fail(f"runtime binary {conftest.CAPSA} not found")
    rt = NetRuntime(testdir, testdir / "state", testns)
    yield rt
    conftest.stop_runtime(rt)
    left = net_leftovers(rt, [i for i in rt.ids if i])
    for t in rt.tenants:
        rt("tenant", "remove", t)
    for n in rt.networks():
        r = rt("net", "rm", n["name"])
        if r.rc != 0:
            left.append(f"net rm {n['name']}: {r.err.strip()}")
    left += net_leftovers(rt, [i for i in rt.ids if i])
    # the store itself (ROOT/networks and empty directories) may stay; files may not
    store = rt.root / "networks"
    if store.is_dir():
        for dirpath, _, files in os.walk(store):
            left += [f"file: {os.path.join(dirpath, f)}" for f in files]
        shutil.rmtree(store, ignore_errors=True)
    deadline = time.monotonic() + 5
    while True:
        more = leftovers(rt, rt.bundles)
        if not more or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if more:
        scrub(rt, rt.bundles)
    left += more
    assert not left, "left behind after the test:\n  " + "\n  ".join(left)


def nothing_left(rt, cid, links_before):
    """A failed create of CID left nothing: no state, no new link, no rule, lease or port."""
    assert not (rt.root / cid).exists(), f"state dir of {cid} left: {os.listdir(rt.root)}"
    bridges = {n.get("bridge") for n in rt.networks()}
    new = set(rt.ns.links()) - set(links_before) - bridges
    assert not new, f"links left by the failed create of {cid}: {new}"
    left = net_leftovers(rt, [cid], links=False)
    assert not left, f"left by the failed create of {cid}: {left}"


def expect_error(r, *words):
    assert r.rc == 1, r
    msg = r.err.lower()
    assert msg.strip(), f"no error message: {r}"
    for w in words:
        assert w.lower() in msg, f"error does not mention {w!r}: {r}"


def iface(addrs, name):
    for i in addrs["interfaces"]:
        if i["name"] == name:
            return i
    raise AssertionError(f"no {name} in {addrs}")


def v4(i):
    return [f"{a['address']}/{a['prefix']}" for a in i["addresses"] if a["family"] == "inet"]


def v6(i):
    return [f"{a['address']}/{a['prefix']}" for a in i["addresses"] if a["family"] == "inet6"
            and not a["address"].startswith("fe80:")]


BLOCKED = ("ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EPERM", "EACCES")


def blocked(res):
    return res["result"] in BLOCKED


def reached(res):
    return res["result"] == "OK" and res.get("reply", "").startswith("hello from")


# ---- networks: the CLI -------------------------------------------------------------------------


def test_net_create_list_inspect_rm(runtime):
    ns = runtime.ns
    runtime.ok("net", "create", "web", "--subnet", "10.90.20.0/24", "--gateway", "10.90.20.254",
               "--mtu", "1450")
    names = [n["name"] for n in runtime.networks()]
    assert "web" in names
    n = runtime.inspect("web")
    assert n["name"] == "web" and n["bridge"] == "cn-web"
    assert n["subnets"] == [{"subnet": "10.90.20.0/24", "gateway": "10.90.20.254"}], n
    assert n["mtu"] == 1450 and n["internal"] is False
    assert n["endpoints"] == []
    link = ns.links().get("cn-web")
    assert link, ns.links()
    assert link.get("linkinfo", {}).get("info_kind") == "bridge" and link["mtu"] == 1450
    assert "10.90.20.254/24" in ns.addrs("cn-web")
    rules = ns.ruleset()
    assert "table inet capsa" in rules and "cn-web" in rules, rules
    text = runtime.ok("net", "list").out
    assert "web" in text
    runtime.ok("net", "rm", "web")
    assert "web" not in [n["name"] for n in runtime.networks()]
    assert "cn-web" not in ns.links()
    assert "cn-web" not in ns.ruleset()
    assert not (runtime.root / "networks" / "web.json").exists()


def test_default_network_made_on_first_use(runtime, bundle):
    b = bundle()
    out = runtime.check1(b, "addrs", extra=["--net", "default"])
    eth0 = iface(out, "eth0")
    assert v4(eth0) == ["10.89.0.2/24"], eth0
    n = runtime.inspect("default")
    assert n["bridge"] == "capsa0"
    assert n["subnets"][0] == {"subnet": DEFAULT_SUBNET, "gateway": DEFAULT_GW}, n
    assert "capsa0" in runtime.ns.links()
    assert f"{DEFAULT_GW}/24" in runtime.ns.addrs("capsa0")


def test_half_made_default_network_replaced(runtime, bundle):
    """A create killed between making the default network's bridge and writing its definition
    leaves a bridge (and the route of its gateway address): the next first use replaces it."""
    for cmd in (["link", "add", "capsa0", "type", "bridge"],
                ["addr", "add", f"{DEFAULT_GW}/24", "dev", "capsa0"],
                ["link", "set", "capsa0", "up"]):
        runtime.ns.run("ip", *cmd)
    out = runtime.check1(bundle(), "addrs", extra=["--net", "default"])
    assert v4(iface(out, "eth0")) == ["10.89.0.2/24"]
    assert runtime.inspect("default")["bridge"] == "capsa0"


def test_net_rm_refused_while_used(runtime, bundle):
    runtime.ok("net", "create", "busy", "--subnet", "10.90.21.0/24")
    cid = runtime.sleeper(bundle(), "--net", "busy")
    assert f"{cid}@busy" in runtime.ns.ruleset(), "the endpoint's rules are not tagged by owner"
    r = runtime("net", "rm", "busy")
    expect_error(r, "in use", cid)
    assert "busy" in [n["name"] for n in runtime.networks()]
    assert "cn-busy" in runtime.ns.links()
    runtime.ok("delete", "--force", cid)
    assert runtime.endpoints("busy") == []
    runtime.ok("net", "rm", "busy")
    assert "cn-busy" not in runtime.ns.links()


# ---- what a container sees ---------------------------------------------------------------------


def test_addresses_inside(runtime, bundle):
    runtime.ok("net", "create", "n1", "--subnet", "10.90.1.0/24", "--mtu", "1400")
    b = bundle()
    cid = runtime.new_id()
    addrs, route, mounts, me = runtime.checks(
        b, [["addrs"], ["cat", "/proc/net/route"], ["mounts"], ["resolve", cid]],
        extra=["--net", "n1", "--net", "default:ip=10.89.0.50"], cid=cid)
    lo = iface(addrs, "lo")
    assert lo["up"] and "127.0.0.1/8" in v4(lo)
    eth0, eth1 = iface(addrs, "eth0"), iface(addrs, "eth1")
    assert eth0["up"] and eth1["up"]
    assert v4(eth0) == ["10.90.1.2/24"], eth0
    assert eth0["mtu"] == 1400
    assert v4(eth1) == ["10.89.0.50/24"], eth1
    assert eth0["mac"] != eth1["mac"] and eth0["mac"] != "00:00:00:00:00:00"
    assert not int(eth0["mac"].split(":")[0], 16) & 1, "multicast MAC"
    assert set(i["name"] for i in addrs["interfaces"]) == {"lo", "eth0", "eth1"}, addrs
    # the default route via the first network's gateway (10.90.1.1, little-endian hex)
    routes = route["/proc/net/route"].splitlines()
    default = [l.split() for l in routes[1:] if l.split()[1] == "00000000"]
    assert default and default[0][0] == "eth0" and default[0][2] == "01015A0A", routes
    targets = [m["target"] for m in mounts["mounts"]]
    assert "/etc/hosts" in targets and "/etc/resolv.conf" in targets, targets
    assert set(me["addresses"]) >= {"10.90.1.2", "10.89.0.50"}, me


def test_etc_hosts_kept_current(runtime, bundle):
    a = runtime.sleeper(bundle(), "--net", "default")
    b = runtime.sleeper(bundle(), "--net", "default")
    ip_a, ip_b = runtime.ip("default", a), runtime.ip("default", b)

    def resolve(cid, name):
        r = runtime("exec", cid, CHECKER, "resolve", name)
        assert r.rc == 0, r
        return json.loads(r.out)["addresses"]

    assert resolve(a, b) == [ip_b] and resolve(b, a) == [ip_a]
    assert resolve(a, a) == [ip_a]
    runtime.ok("delete", "--force", b)
    assert resolve(a, b) == []
    c = runtime.sleeper(bundle(), "--net", "default")
    assert resolve(a, c) == [runtime.ip("default", c)]
    r = runtime("exec", a, CHECKER, "cat", "/etc/resolv.conf")
    assert r.rc == 0, r
    inside = [l.split()[1] for l in json.loads(r.out)["/etc/resolv.conf"].splitlines()
              if l.startswith("nameserver")]
    host = [l.split()[1] for l in open("/etc/resolv.conf").read().splitlines()
            if l.startswith("nameserver")]
    assert inside == [h for h in host if not h.startswith("127.") and h != "::1"], inside


# ---- container to container --------------------------------------------------------------------


def test_tcp_between_containers_by_ip_and_name(runtime, bundle):
    srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 2, 30, extra=["--net", "default"],
                           hostname="srv")
    srv_ip = runtime.ip("default", srv)
    ccid = runtime.new_id()
    name, by_ip = runtime.checks(bundle(), [["resolve", srv], ["tcp-connect", srv_ip, 8080]],
                                 extra=["--net", "default"], cid=ccid)
    assert name["addresses"] == [srv_ip], name
    assert by_ip["result"] == "OK" and by_ip["reply"] == "hello from srv\n", by_ip
    client_ip = by_ip["local"]
    # by name: resolve then connect in the same container
    b = bundle()
    b.process["args"] = ["/bin/sh", "-c",
                         f"ip=$({CHECKER} resolve {srv} | sed 's/.*\\[\"//; s/\".*//'); "
                         f"{CHECKER} tcp-connect $ip 8080"]
    r = runtime.run(b, "--net", "default")
    assert r.rc == 0, r
    assert json.loads(r.out)["reply"] == "hello from srv\n", r
    got = runtime.served(p)
    assert got["served"] == 2 and got["peers"][0] == client_ip, got
    assert all(x.startswith("10.89.0.") for x in got["peers"]), got


def test_udp_between_containers(runtime, bundle):
    srv, p = runtime.serve(bundle(), "udp-serve", 5353, 20, 1, extra=["--net", "default"])
    srv_ip = runtime.ip("default", srv)
    out = runtime.check1(bundle(), "udp-send", srv_ip, 5353, "ping", extra=["--net", "default"])
    assert out == {"result": "OK", "reply": "ping"}, out
    got = runtime.served(p)
    assert [m["msg"] for m in got["received"]] == ["ping"], got
    assert got["received"][0]["from"].startswith("10.89.0."), got


def test_ipv6_network(runtime, bundle):
    runtime.ok("net", "create", "six", "--subnet", "10.90.6.0/24", "--ipv6", "fd00:cafe::/64")
    n = runtime.inspect("six")
    assert {"subnet": "fd00:cafe::/64", "gateway": "fd00:cafe::1"} in n["subnets"], n
    srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 1, 30, extra=["--net", "six"],
                           hostname="six")
    srv6 = runtime.ip("six", srv, 6)
    assert srv6.startswith("fd00:cafe::"), srv6
    addrs, conn = runtime.checks(bundle(), [["addrs"], ["tcp-connect", srv6, 8080, 5000]],
                                 extra=["--net", "six:ip=10.90.6.9,ip=fd00:cafe::99"])
    eth0 = iface(addrs, "eth0")
    assert v4(eth0) == ["10.90.6.9/24"] and v6(eth0) == ["fd00:cafe::99/64"], eth0
    assert conn["result"] == "OK" and conn["reply"] == "hello from six\n", conn
    assert runtime.served(p)["peers"] == ["fd00:cafe::99"]


# ---- published ports ---------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["flags", "annotations"])
def test_published_port_from_host_and_other_host(runtime, bundle, via):
    b = bundle()
    if via == "flags":
        extra = ["--net", "default", "-p", "18080:8080", "-p", "15353:5353/udp"]
    else:
        extra = []
        b.config["annotations"] = {"run.capsa.network": "default",
                                   "run.capsa.ports": "18080:8080 15353:5353/udp"}
    srv, p = runtime.serve(b, "tcp-serve", 8080, 2, 30, extra=extra, hostname="pub")
    ns = runtime.ns
    from_host = ns.peer("tcp-connect", HOST_IP, 18080, 5)
    assert reached(from_host) and from_host["reply"] == "hello from pub\n", from_host
    from_other = ns.peer("tcp-connect", HOST_IP, 18080, 5, other=True)
    assert reached(from_other), from_other
    got = runtime.served(p)
    assert got["served"] == 2
    assert got["peers"][1] == OTHER_IP, f"the other host's address was rewritten: {got}"
    # UDP, same container id gone: a new server with the same ports (they were released)
    b2 = bundle()
    usrv, up = runtime.serve(b2, "udp-serve", 5353, 20, 1, extra=[
        "--net", "default", "-p", "18080:8080", "-p", "15353:5353/udp"])
    echo = ns.peer("udp-send", HOST_IP, 15353, "hi", 5, other=True)
    assert echo == {"result": "OK", "reply": "hi"}, echo
    assert runtime.served(up)["received"][0]["from"] == OTHER_IP


def test_published_port_on_one_host_address(runtime, bundle):
    runtime.ns.run("ip", "addr", "add", "192.0.2.9/24", "dev", nettools.UPLINK)
    srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 1, 30,
                           extra=["--net", "default", "-p", "192.0.2.9:18082:8080"])
    miss = runtime.ns.peer("tcp-connect", HOST_IP, 18082, 2, other=True)
    assert blocked(miss), miss
    hit = runtime.ns.peer("tcp-connect", "192.0.2.9", 18082, 5, other=True)
    assert reached(hit), hit
    runtime.served(p)


# ---- out of the host ---------------------------------------------------------------------------


def test_outbound_nat(runtime, bundle):
    server = runtime.ns.serve(9090, 1, 20, other=True)
    try:
        out = runtime.check1(bundle(), "tcp-connect", OTHER_IP, 9090, 5000,
                             extra=["--net", "default"])
        assert out["result"] == "OK", out
        got = server.result()
    finally:
        server.stop()
    assert got["peers"] == [HOST_IP], f"not masqueraded to the uplink's address: {got}"


def test_internal_network_has_no_way_out(runtime, bundle):
    runtime.ok("net", "create", "priv", "--subnet", "10.90.7.0/24", "--internal")
    server = runtime.ns.serve(9090, 1, 20, other=True)
    try:
        out = runtime.check1(bundle(), "tcp-connect", OTHER_IP, 9090, 1500,
                             extra=["--net", "priv"])
        assert blocked(out), out
    finally:
        server.stop()


# ---- isolation ---------------------------------------------------------------------------------


def test_two_networks_isolated(runtime, bundle):
    runtime.ok("net", "create", "na", "--subnet", "10.90.10.0/24")
    runtime.ok("net", "create", "nb", "--subnet", "10.90.11.0/24")
    srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 1, 30, extra=["--net", "na"],
                           hostname="na")
    srv_ip = runtime.ip("na", srv)
    across = runtime.check1(bundle(), "tcp-connect", srv_ip, 8080, 1500, extra=["--net", "nb"])
    assert blocked(across), across
    # control: the server was there all along
    same = runtime.check1(bundle(), "tcp-connect", srv_ip, 8080, 5000, extra=["--net", "na"])
    assert reached(same), same
    runtime.served(p)


def test_spoofed_source_ip_not_delivered(runtime, bundle):
    srv, p = runtime.serve(bundle(), "udp-serve", 5353, 20, 1, extra=["--net", "default"])
    srv_ip = runtime.ip("default", srv)
    s1, s2, genuine = runtime.checks(bundle(), [
        ["spoof-ip", "10.89.0.200", srv_ip, 5353, "spoofed-neighbour"],
        ["spoof-ip", "198.51.100.7", srv_ip, 5353, "spoofed-outside"],
        ["udp-send", srv_ip, 5353, "genuine"]], extra=["--net", "default"], caps=["CAP_NET_RAW"])
    assert s1["result"] == "OK" and s2["result"] == "OK", (s1, s2)
    assert genuine == {"result": "OK", "reply": "genuine"}, genuine
    got = runtime.served(p)
    assert [m["msg"] for m in got["received"]] == ["genuine"], got


def test_changed_mac_gets_no_traffic(runtime, bundle):
    srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 1, 30, extra=["--net", "default"],
                           hostname="srv")
    srv_ip = runtime.ip("default", srv)
    setmac, conn = runtime.checks(bundle(), [
        ["set-mac", "eth0", "02:de:ad:be:ef:01"], ["tcp-connect", srv_ip, 8080, 2000]],
        extra=["--net", "default"], caps=["CAP_NET_ADMIN"])
    assert setmac["result"] == "OK", setmac
    assert blocked(conn), conn
    control = runtime.check1(bundle(), "tcp-connect", srv_ip, 8080, 5000,
                             extra=["--net", "default"])
    assert reached(control), control
    runtime.served(p)


def test_tenant_isolation(runtime, bundle):
    runtime.tenants.append("T")
    server = runtime.ns.serve(9091, 1, 30)  # on the test host's own addresses
    try:
        srv, p = runtime.serve(bundle(), "tcp-serve", 8080, 1, 30,
                               extra=["--net", "default", "-p", "18081:8080"], hostname="pub")
        host, published = runtime.checks(bundle(), [
            ["tcp-connect", HOST_IP, 9091, 1500], ["tcp-connect", HOST_IP, 18081, 5000]],
            extra=["--tenant", "T", "--net", "default"])
        assert blocked(host), f"a tenant reached the host: {host}"
        assert reached(published), published
        nets = {n["name"]: n for n in runtime.networks()}
        assert "tenant-T" in nets, nets
        assert nets["tenant-T"]["bridge"] != "capsa0"
        assert nets["tenant-T"].get("tenant") == "T"
        gw = runtime.inspect("tenant-T")["subnets"][0]["gateway"]
        own_gw = runtime.check1(bundle(), "tcp-connect", gw, 9091, 1500,
                                extra=["--tenant", "T", "--net", "default"])
        assert blocked(own_gw), f"a tenant reached the host through its gateway: {own_gw}"
        # control: a container that is no tenant's reaches the host's server
        control = runtime.check1(bundle(), "tcp-connect", HOST_IP, 9091, 5000,
                                 extra=["--net", "default"])
        assert control["result"] == "OK", control
        runtime.served(p)
    finally:
        server.stop()


def test_delete_of_stopped_container_cleans_up(runtime, bundle):
    before = runtime.ns.links()
    b = bundle()
    b.process["args"] = [CHECKER, "exit", "0"]
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", "--net", "default", "-p", "18095:80", cid=cid)
    assert r.rc == 0, r
    runtime.wait_status(cid, "stopped")
    assert runtime.endpoints("default", cid), "no lease while the container exists"
    runtime.ok("delete", cid)
    nothing_left(runtime, cid, before)
    # its address and port are free again
    again = runtime.create(bundle(), "--net", "default", "-p", "18095:80")
    assert again.rc == 0, again
    assert runtime.ip("default", again.id) == "10.89.0.2"


def test_net_without_netns_in_config_gets_one(runtime, bundle):
    b = bundle()
    b.set_namespaces(["pid", "ipc", "uts", "mount"])
    out = runtime.check1(b, "addrs", extra=["--net", "default"])
    assert v4(iface(out, "eth0")) == ["10.89.0.2/24"], out


# ---- bad input: a clear error, exit 1, nothing left --------------------------------------------


def failed_create(runtime, bundle, *extra, words=()):
    before = runtime.ns.links()
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    r = runtime.create(b, *extra)
    expect_error(r, *words)
    nothing_left(runtime, r.id, before)
    return r


def test_net_to_missing_network(runtime, bundle):
    failed_create(runtime, bundle, "--net", "nosuch", words=["nosuch"])


def test_second_net_missing_undoes_the_first(runtime, bundle):
    runtime.ok("net", "create", "ok1", "--subnet", "10.90.31.0/24")
    failed_create(runtime, bundle, "--net", "ok1", "--net", "nosuch", words=["nosuch"])
    assert runtime.endpoints("ok1") == []


def test_ip_outside_subnet(runtime, bundle):
    runtime.ok("net", "create", "n", "--subnet", "10.90.32.0/24")
    failed_create(runtime, bundle, "--net", "n:ip=10.90.33.5", words=["10.90.33.5"])
    failed_create(runtime, bundle, "--net", "n:ip=10.90.32.1", words=["10.90.32.1"])  # gateway
    failed_create(runtime, bundle, "--net", "n:ip=10.90.32.255", words=["10.90.32.255"])


def test_ip_taken(runtime, bundle):
    holder = runtime.sleeper(bundle(), "--net", "default:ip=10.89.0.10")
    r = failed_create(runtime, bundle, "--net", "default:ip=10.89.0.10", words=["10.89.0.10"])
    assert runtime.ip("default", holder) == "10.89.0.10"
    assert [e["owner"] for e in runtime.endpoints("default")] == [holder]


def test_port_already_published(runtime, bundle):
    holder = runtime.sleeper(bundle(), "--net", "default", "-p", "18090:80")
    r = failed_create(runtime, bundle, "--net", "default", "-p", "18090:80",
                      words=["18090", holder])
    # the holder keeps its port; a different port or protocol is fine
    ok = runtime.create(bundle(), "--net", "default", "-p", "18090:80/udp")
    assert ok.rc == 0, ok


def test_bad_port_spec(runtime, bundle):
    for spec in ("0:80", "70000:80", "80", "a:b", "18091:80/sctp"):
        failed_create(runtime, bundle, "--net", "default", "-p", spec, words=[spec])


def test_net_with_joined_netns_refused(runtime, bundle):
    runtime.ns.run("ip", "netns", "add", runtime.ns.name + "-j")
    try:
        before = runtime.ns.links()
        b = bundle()
        b.process["args"] = [CHECKER, "sleep", "60"]
        b.linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [
            {"type": "network", "path": f"/run/netns/{runtime.ns.name}-j"}]
        r = runtime.create(b, "--net", "default")
        expect_error(r, "network")
        nothing_left(runtime, r.id, before)
    finally:
        subprocess.run(["ip", "netns", "delete", runtime.ns.name + "-j"], timeout=20)


def test_tenant_on_other_network_refused(runtime, bundle):
    runtime.tenants.append("T")
    runtime.ok("net", "create", "shared", "--subnet", "10.90.45.0/24")
    failed_create(runtime, bundle, "--tenant", "T", "--net", "shared", words=["shared"])


@pytest.mark.parametrize("args,word", [
    (["--subnet", "10.0.0.0/33"], "10.0.0.0/33"),
    (["--subnet", "300.1.1.0/24"], "300.1.1.0/24"),
    (["--subnet", "nonsense"], "nonsense"),
    (["--subnet", "10.90.40.0/24", "--gateway", "10.90.41.1"], "10.90.41.1"),
    (["--ipv6", "10.90.42.0/24"], "10.90.42.0/24"),
    (["--mtu", "50"], "mtu"),
])
def test_net_create_bad_input(runtime, args, word):
    before = runtime.ns.links()
    r = runtime("net", "create", "bad", *args)
    expect_error(r, word)
    assert "bad" not in [n["name"] for n in runtime.networks()]
    assert set(runtime.ns.links()) == set(before)
    assert "net/bad" not in runtime.ns.ruleset()


def test_net_create_bad_name(runtime):
    for name in ("way-too-long-a-name", "a/b", "", "-x"):
        r = runtime("net", "create", name, "--subnet", "10.90.43.0/24")
        assert r.rc != 0, r
    assert runtime.networks() == []


def test_overlapping_subnets(runtime):
    runtime.ok("net", "create", "first", "--subnet", "10.90.30.0/24")
    before = runtime.ns.links()
    for name, cidr in (("second", "10.90.0.0/16"), ("third", "10.90.30.128/25"),
                       ("host", "192.0.2.0/25")):  # the last overlaps X's uplink route
        r = runtime("net", "create", name, "--subnet", cidr)
        expect_error(r, cidr)
        assert set(runtime.ns.links()) == set(before)
    assert sorted(n["name"] for n in runtime.networks()) == ["first"]
    r = runtime("net", "create", "first", "--subnet", "10.90.50.0/24")
    expect_error(r, "first")
    assert runtime.inspect("first")["subnets"][0]["subnet"] == "10.90.30.0/24"


def test_bridge_name_clash(runtime):
    before = runtime.ns.links()
    r = runtime("net", "create", "clash", "--subnet", "10.90.44.0/24", "--bridge",
                nettools.UPLINK)
    expect_error(r, nettools.UPLINK)
    after = runtime.ns.links()
    assert set(after) == set(before)
    assert after[nettools.UPLINK].get("linkinfo", {}).get("info_kind") == "veth"
    assert f"{HOST_IP}/24" in runtime.ns.addrs(nettools.UPLINK)
    assert runtime.networks() == []


# ---- cleanup cycles ----------------------------------------------------------------------------


def assert_clean(runtime, ids):
    left = net_leftovers(runtime, ids)
    assert not left, "\n".join(left[:30])
    assert runtime.endpoints("default") == []
    settle_links(runtime.ns, BASE_LINKS | {"capsa0"})
    links = set(runtime.ns.links()) - BASE_LINKS - {"capsa0"}
    assert not links, links


def test_cycles_create_delete(runtime, bundle, record_property):
    n = 500 if SOAK else 40
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    b.save()
    t0 = time.monotonic()
    ids = []
    for i in range(n):
        cid = runtime.new_id()
        ids.append(cid)
        r = runtime("create", "--bundle", b.path, "--net", "default", "-p", "18100:80", cid)
        assert r.rc == 0, f"cycle {i}: {r}"
        r = runtime("delete", "--force", cid)
        assert r.rc == 0, f"cycle {i}: {r}"
    took = time.monotonic() - t0
    record_property("cycles", n)
    record_property("seconds", round(took, 1))
    print(f"\n{n} create/delete cycles: {took:.1f}s ({took / n * 1000:.0f} ms each)")
    assert_clean(runtime, ids)


def test_cycles_sigkilled_create(runtime, bundle, record_property):
    n = 100 if SOAK else 15
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    b.save()
    # how long one create takes: the window to kill it in
    cid = runtime.new_id()
    t = time.monotonic()
    r = runtime("create", "--bundle", b.path, "--net", "default", "-p", "18101:80", cid)
    one = time.monotonic() - t
    assert r.rc == 0, r
    runtime.ok("delete", "--force", cid)
    seed = os.environ.get("CAPSA_NET_SEED") or str(random.randrange(1 << 30))
    print(f"\nCAPSA_NET_SEED={seed}")
    rnd = random.Random(seed)
    t0 = time.monotonic()
    ids = [cid]
    for i in range(n):
        cid = runtime.new_id()
        ids.append(cid)
        p = runtime.spawn("create", "--bundle", b.path, "--net", "default", "-p", "18101:80",
                          cid)
        time.sleep(rnd.uniform(0, one * 1.2))
        p.send_signal(signal.SIGKILL)
        runtime.finish(p)
        r = runtime("delete", "--force", cid)
        assert r.rc == 0 or "not exist" in r.err or "no such" in r.err.lower(), f"cycle {i}: {r}"
        # whatever was left by the killed create is gone
        assert not (runtime.root / cid).exists(), f"cycle {i}: state left"
    took = time.monotonic() - t0
    record_property("cycles", n)
    record_property("seconds", round(took, 1))
    print(f"\n{n} SIGKILLed creates: {took:.1f}s; one create takes {one * 1000:.0f} ms")
    assert_clean(runtime, ids)
    # and the network still works: the port is free again
    ok = runtime.create(b, "--net", "default", "-p", "18101:80")
    assert ok.rc == 0, ok
