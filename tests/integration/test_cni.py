"""capsa as a CNI plugin, driven directly as a CNI runtime would: the environment (CNI_COMMAND,
CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS), the network configuration on stdin, the
result or error JSON on stdout.

The plugin runs in a fresh "runtime" network namespace (nsenter --net, never the host's), so
the bridge, the host ends of the veths and the nftables rules live there; each "container" is
another namespace.  The state root is the test's own directory.  Teardown deletes every
namespace (which takes the bridge, veths and rules with it)."""

import json
import os
import subprocess
import uuid

import pytest

from conftest import CAPSA

pytestmark = pytest.mark.capsa_only

SUBNET = "10.89.77.0/24"
GATEWAY = "10.89.77.1"


def conf(name, version="1.0.0", **extra):
    c = {"cniVersion": version, "name": name, "type": "capsa", "subnet": SUBNET}
    c.update(extra)
    return c


def ip_json(*args):
    r = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    return json.loads(r.stdout or "[]")


def nsname(path):
    return os.path.basename(path)


class Plugin:
    """Runs `capsa --root ROOT cni` inside the runtime namespace."""

    def __init__(self, rtns, root):
        self.rtns, self.root = rtns, root

    def __call__(self, command, config, cid=None, netns=None, ifname="eth0", args=None,
                 raw=None, env_extra=None, argv=None):
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_PATH": "/usr/lib/cni"}
        if cid is not None:
            env["CNI_CONTAINERID"] = cid
        if netns is not None:
            env["CNI_NETNS"] = netns
        if ifname is not None:
            env["CNI_IFNAME"] = ifname
        if args is not None:
            env["CNI_ARGS"] = args
        env.update(env_extra or {})
        stdin = raw if raw is not None else json.dumps(config) if config is not None else ""
        cmd = argv or [CAPSA, "--root", str(self.root), "cni"]
        r = subprocess.run(["nsenter", f"--net={self.rtns}", *cmd], input=stdin, env=env,
                           capture_output=True, text=True, timeout=30)
        out = None
        if r.stdout.strip():
            try:
                out = json.loads(r.stdout)
            except ValueError:
                raise AssertionError(f"not JSON: {r.stdout!r} (stderr {r.stderr!r})") from None
        return r.returncode, out, r

    def ok(self, *a, **kw):
        rc, out, r = self(*a, **kw)
        assert rc == 0, f"rc={rc} stdout={r.stdout} stderr={r.stderr}"
        return out

    def err(self, *a, **kw):
        rc, out, r = self(*a, **kw)
        assert rc != 0, f"expected a failure: stdout={r.stdout} stderr={r.stderr}"
        assert out is not None and isinstance(out.get("code"), int) and out.get("msg"), r
        return out


@pytest.fixture
def env(netns, testdir):
    rtns = netns()
    root = testdir / "cniroot"
    root.mkdir()
    # loopback up in the runtime namespace: the test talks to the gateway from there
    subprocess.run(["ip", "-n", nsname(rtns), "link", "set", "lo", "up"], check=True)
    yield Plugin(rtns, root), netns


def host_veths(p):
    return [link["ifname"] for link in ip_json("-n", nsname(p.rtns), "link")
            if link["ifname"].startswith("cv")]


def leases(p, network):
    d = p.root / "networks" / network / "leases"
    return sorted(x.name for x in d.iterdir()) if d.is_dir() else []


def addrs(ns, ifname="eth0"):
    out = ip_json("-n", nsname(ns), "addr", "show", "dev", ifname)
    return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"]
            if a["family"] == "inet"]


def new_cid():
    return "c" + uuid.uuid4().hex[:12]


def test_version(env):
    p, _ = env
    out = p.ok("VERSION", {"cniVersion": "1.0.0"})
    assert out["cniVersion"] == "1.0.0"
    assert set(out["supportedVersions"]) >= {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}
    out = p.ok("VERSION", None)  # no configuration at all
    assert "1.0.0" in out["supportedVersions"]


def test_status(env):
    p, _ = env
    p.ok("STATUS", conf("cst", "1.1.0"))


def test_add_check_del(env):
    p, netns = env
    c1 = netns()
    cid = new_cid()
    cfg = conf("cad")
    res = p.ok("ADD", cfg, cid=cid, netns=c1)
    assert res["cniVersion"] == "1.0.0"
    hostif, contif = res["interfaces"]
    assert hostif["name"].startswith("cv") and "sandbox" not in hostif, res
    assert contif == {"name": "eth0", "mac": contif["mac"], "sandbox": c1}, res
    assert len(contif["mac"]) == 17
    (ip,) = res["ips"]
    assert ip["address"].startswith("10.89.77.") and ip["address"].endswith("/24"), res
    assert ip["gateway"] == GATEWAY and ip["interface"] == 1 and "version" not in ip, res
    assert {"dst": "0.0.0.0/0", "gw": GATEWAY} in res["routes"], res
    assert res["dns"] == {}

    # what the result says is what there is
    assert addrs(c1) == [ip["address"]]
    link = ip_json("-n", nsname(c1), "link", "show", "dev", "eth0")[0]
    assert link["address"] == contif["mac"] and "UP" in link["flags"], link
    assert host_veths(p) == [hostif["name"]]
    routes = ip_json("-n", nsname(c1), "route", "show", "default")
    assert routes and routes[0]["gateway"] == GATEWAY, routes
    assert leases(p, "cad") == [ip["address"].split("/")[0]]

    p.ok("CHECK", dict(cfg, prevResult=res), cid=cid, netns=c1)

    # the container's address removed behind the plugin's back: CHECK says so
    subprocess.run(["ip", "-n", nsname(c1), "addr", "flush", "dev", "eth0"], check=True)
    out = p.err("CHECK", dict(cfg, prevResult=res), cid=cid, netns=c1)
    assert out["code"] >= 100 and ip["address"].split("/")[0] in out["details"], out

    p.ok("DEL", dict(cfg, prevResult=res), cid=cid, netns=c1)
    assert host_veths(p) == []
    assert leases(p, "cad") == []
    assert ip_json("-n", nsname(c1), "link", "show", "type", "veth") == []
    # DEL is idempotent, also without the namespace, and CHECK now fails
    p.ok("DEL", cfg, cid=cid, netns=c1)
    p.ok("DEL", cfg, cid=cid)
    p.err("CHECK", cfg, cid=cid, netns=c1)


def test_result_formats(env):
    p, netns = env
    for version in ("0.3.1", "0.4.0", "1.1.0"):
        c = netns()
        cid = new_cid()
        cfg = conf("cfm", version, mtu=1400)
        res = p.ok("ADD", cfg, cid=cid, netns=c)
        assert res["cniVersion"] == version
        ip = res["ips"][0]
        if version.startswith("0."):
            assert ip["version"] == "4", res
        else:
            assert "version" not in ip, res
        if version == "1.1.0":
            assert res["interfaces"][1]["mtu"] == 1400, res
        link = ip_json("-n", nsname(c), "link", "show", "dev", "eth0")[0]
        assert link["mtu"] == 1400, link
        p.ok("DEL", cfg, cid=cid, netns=c)
    assert host_veths(p) == []


def serve_once(ns, port):
    """A TCP server in namespace ns that answers one connection; returns the Popen (ready)."""
    code = ("import socket,sys\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('0.0.0.0', {port})); s.listen(1); print('ready', flush=True)\n"
            "s.settimeout(20); c,a=s.accept(); c.sendall(b'hello from '+a[0].encode()); "
            "c.close()\n")
    srv = subprocess.Popen(["nsenter", f"--net={ns}", "/usr/bin/python3", "-c", code],
                           stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "ready"
    return srv


def connect(ns, host, port):
    code = ("import socket\n"
            f"s=socket.create_connection(('{host}', {port}), timeout=5)\n"
            "print(s.recv(100).decode())\n")
    r = subprocess.run(["nsenter", f"--net={ns}", "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    return r.stdout.strip()


def test_two_containers_talk(env):
    p, netns = env
    c1, c2 = netns(), netns()
    cfg = conf("ctk")
    id1, id2 = new_cid(), new_cid()
    r1 = p.ok("ADD", cfg, cid=id1, netns=c1)
    # an address asked for as host-local takes it: CNI_ARGS IP=
    r2 = p.ok("ADD", cfg, cid=id2, netns=c2, args="IgnoreUnknown=1;IP=10.89.77.50;K8S_X=y")
    a1 = r1["ips"][0]["address"].split("/")[0]
    a2 = r2["ips"][0]["address"].split("/")[0]
    assert a2 == "10.89.77.50" and a1 != a2
    srv = serve_once(c1, 8080)
    try:
        assert connect(c2, a1, 8080) == f"hello from {a2}"
    finally:
        srv.kill()
        srv.wait()
    # the same address again is refused, with a CNI error naming it
    out = p.err("ADD", cfg, cid=new_cid(), netns=netns(), args="IP=10.89.77.50")
    assert "10.89.77.50" in out["msg"] + out.get("details", ""), out
    p.ok("DEL", cfg, cid=id1, netns=c1)
    p.ok("DEL", cfg, cid=id2, netns=c2)
    assert host_veths(p) == [] and leases(p, "ctk") == []


def test_port_mapping(env):
    p, netns = env
    c1 = netns()
    cid = new_cid()
    cfg = conf("cpm", runtimeConfig={"portMappings": [
        {"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]})
    p.ok("ADD", cfg, cid=cid, netns=c1)
    assert list((p.root / "networks" / "ports").iterdir()), "no published port recorded"
    srv = serve_once(c1, 8080)
    try:
        # the gateway is an address of the runtime namespace: DNAT of the host's own traffic
        assert connect(p.rtns, GATEWAY, 18080).startswith("hello from ")
    finally:
        srv.kill()
        srv.wait()
    p.ok("DEL", cfg, cid=cid, netns=c1)
    assert list((p.root / "networks" / "ports").iterdir()) == []


def test_add_existing_interface_fails(env):
    p, netns = env
    c1 = netns()
    cid = new_cid()
    cfg = conf("cex")
    res = p.ok("ADD", cfg, cid=cid, netns=c1)
    out = p.err("ADD", cfg, cid=cid, netns=c1)
    assert "eth0" in out["details"] and "already exists" in out["details"], out
    # the first attachment is intact
    assert addrs(c1) == [res["ips"][0]["address"]]
    assert len(host_veths(p)) == 1
    # a second interface of the same container is another attachment
    res2 = p.ok("ADD", cfg, cid=cid, netns=c1, ifname="eth1")
    assert addrs(c1, "eth1") == [res2["ips"][0]["address"]]
    assert len(host_veths(p)) == 2
    p.ok("DEL", cfg, cid=cid, netns=c1)
    p.ok("DEL", cfg, cid=cid, netns=c1, ifname="eth1")
    assert host_veths(p) == [] and leases(p, "cex") == []


def test_gc(env):
    p, netns = env
    cfg = conf("cgc", "1.1.0")
    keep, drop = new_cid(), new_cid()
    ck, cd = netns(), netns()
    rk = p.ok("ADD", cfg, cid=keep, netns=ck)
    p.ok("ADD", cfg, cid=drop, netns=cd)
    assert len(host_veths(p)) == 2
    p.ok("GC", dict(cfg, **{"cni.dev/valid-attachments": [
        {"containerID": keep, "ifname": "eth0"}]}))
    assert host_veths(p) == [rk["interfaces"][0]["name"]]
    assert leases(p, "cgc") == [rk["ips"][0]["address"].split("/")[0]]
    p.ok("GC", dict(cfg, **{"cni.dev/valid-attachments": []}))
    assert host_veths(p) == [] and leases(p, "cgc") == []
    # GC of a network that was never used
    p.ok("GC", conf("cnone", "1.1.0"))


def test_network_key_and_existing_network(env):
    p, netns = env
    c1 = netns()
    cid = new_cid()
    # the capsa network "cnk" made from a config named otherwise; a later config without a
    # subnet uses it as it is
    cfg = conf("some-long-cni-network-name", network="cnk", gateway="10.89.77.254")
    res = p.ok("ADD", cfg, cid=cid, netns=c1)
    assert res["ips"][0]["gateway"] == "10.89.77.254"
    assert (p.root / "networks" / "cnk.json").exists()
    c2 = netns()
    cid2 = new_cid()
    cfg2 = {"cniVersion": "1.0.0", "name": "other", "type": "capsa", "network": "cnk"}
    res2 = p.ok("ADD", cfg2, cid=cid2, netns=c2)
    assert res2["ips"][0]["gateway"] == "10.89.77.254"
    p.ok("DEL", cfg, cid=cid, netns=c1)
    p.ok("DEL", cfg2, cid=cid2, netns=c2)


def test_errors(env):
    p, netns = env
    c1 = netns()
    cfg = conf("cer")
    out = p.err("ADD", cfg, cid=new_cid())  # no CNI_NETNS
    assert out["code"] == 4 and "CNI_NETNS" in out["details"], out
    out = p.err("ADD", cfg, cid=None, netns=c1)
    assert out["code"] == 4 and "CNI_CONTAINERID" in out["details"], out
    out = p.err("ADD", cfg, cid="-bad/id", netns=c1)
    assert out["code"] == 4 and "CNI_CONTAINERID" in out["details"], out
    out = p.err("ADD", cfg, cid=new_cid(), netns="/nonexistent/netns")
    assert out["code"] == 4 and "/nonexistent/netns" in out["details"], out
    out = p.err("ADD", cfg, cid=new_cid(), netns="/proc/self/ns/pid")
    assert out["code"] == 4 and "not a network namespace" in out["details"], out
    out = p.err("ADD", None, cid=new_cid(), netns=c1, raw="{not json")
    assert out["code"] == 6, out
    out = p.err("ADD", None, cid=new_cid(), netns=c1, raw="[1, 2]")
    assert out["code"] == 6, out
    out = p.err("ADD", conf("cer", "9.9.9"), cid=new_cid(), netns=c1)
    assert out["code"] == 1 and "9.9.9" in out["details"], out
    out = p.err("ADD", {"cniVersion": "1.0.0", "type": "capsa"}, cid=new_cid(), netns=c1)
    assert out["code"] == 7 and "name" in out["details"], out
    out = p.err("ADD", conf("cer2", subnet="10.89.300.0/24"), cid=new_cid(), netns=c1)
    assert out["code"] == 7, out
    out = p.err("ADD", conf("cer", runtimeConfig={"portMappings": [{"hostPort": 0}]}),
                cid=new_cid(), netns=c1)
    assert out["code"] == 7 and "hostPort" in out["details"], out
    out = p.err("FROB", cfg)
    assert out["code"] == 4 and "FROB" in out["details"], out
    out = p.err("CHECK", conf("cer", "0.3.1"), cid=new_cid(), netns=c1)
    assert out["code"] == 1, out
    # nothing was made by any of these
    assert host_veths(p) == []
    assert ip_json("-n", nsname(c1), "link", "show", "type", "veth") == []
    assert leases(p, "cer") == []


def test_exec_as_plugin(env, testdir):
    """A CNI runtime execs the plugin by its type's name, without arguments: capsa under any
    name (a symlink), CNI_COMMAND set and no arguments, is the plugin; the state root then
    comes from the configuration's capsaRoot."""
    p, netns = env
    bindir = testdir / "cnibin"
    bindir.mkdir()
    for name in ("capsa", "capsa-bridge"):
        (bindir / name).symlink_to(os.path.abspath(CAPSA))
        out = p.ok("VERSION", {"cniVersion": "0.4.0"}, argv=[str(bindir / name)])
        assert out["cniVersion"] == "0.4.0" and "1.0.0" in out["supportedVersions"]
    c1 = netns()
    cid = new_cid()
    cfg = conf("cxp", capsaRoot=str(p.root))
    res = p.ok("ADD", cfg, cid=cid, netns=c1, argv=[str(bindir / "capsa-bridge")])
    assert leases(p, "cxp") == [res["ips"][0]["address"].split("/")[0]]
    p.ok("DEL", cfg, cid=cid, netns=c1, argv=[str(bindir / "capsa-bridge")])
    assert leases(p, "cxp") == [] and host_veths(p) == []
    # without CNI_COMMAND capsa is capsa: the help
    r = subprocess.run([str(bindir / "capsa-bridge")], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0 and "Usage: capsa" in r.stdout, r
