"""podman 4.3's CNI backend with capsa as the CNI plugin (and as the OCI runtime).

containers.conf: network_backend "cni", cni_plugin_dirs = [<tmp>/cni-bin] holding `capsa`, a
symlink to the capsa binary (libcni execs it without arguments and with CNI_COMMAND set: capsa
is then the plugin, whatever its name), network_config_dir = [<tmp>/net.d] with one conflist
whose plugin is {"type": "capsa", ...}; capsa's network state goes to the conflist's
"capsaRoot" (<tmp>/cni-root), never /run/capsa.

podman itself runs under `nsenter --net=/run/netns/capsa-it-XXX`: libcni runs the plugin in
podman's namespace, so the bridge, the host ends of the veths and the nftables rules live in
that test namespace; podman makes each container's namespace under /run/netns (cni-UUID) and
removes it.  libcni caches results under /var/lib/cni (not configurable in podman 4.3): what the
test's network left there is removed, and the directory itself if it did not exist before.
"""

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .conftest import (ENV_PATH, ULIMITS, ensure_installed, kill_pid, processes_mentioning,
                       run_cmd, unmount_all_under)

NETWORK = "capsanet"
SUBNET = "10.89.78.0/24"

CONF = """\
[containers]
cgroups = "no-conmon"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
cni_plugin_dirs = ["{d}/cni-bin"]
network_config_dir = "{d}/net.d"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{d}/events.log"
runtime_supports_json = ["capsa"]

[engine.runtimes]
capsa = ["{capsa}"]
"""

CNI_CACHE = Path("/var/lib/cni")


class PodmanCNI:
    def __init__(self, session, rtns):
        self.s = session
        self.rtns = rtns
        self.dir = session.base / f"pc{uuid.uuid4().hex[:4]}"
        self.dir.mkdir()
        (self.dir / "tmp").mkdir()
        (self.dir / "net.d").mkdir()
        (self.dir / "cni-bin").mkdir()
        (self.dir / "cni-root").mkdir()
        (self.dir / "cni-bin" / "capsa").symlink_to(session.capsa)
        conflist = {
            "cniVersion": "1.0.0",
            "name": NETWORK,
            "plugins": [{
                "type": "capsa",
                "network": "cpod",
                "subnet": SUBNET,
                "capsaRoot": str(self.dir / "cni-root"),
                "capabilities": {"portMappings": True},
            }],
        }
        (self.dir / "net.d" / f"50-{NETWORK}.conflist").write_text(json.dumps(conflist))
        conf = self.dir / "containers.conf"
        conf.write_text(CONF.format(d=self.dir, capsa=session.capsa))
        self.env = {"PATH": ENV_PATH, "HOME": str(self.dir), "CONTAINERS_CONF": str(conf),
                    "TMPDIR": str(self.dir / "tmp"), "LANG": "C.UTF-8"}
        self.base_argv = [
            "nsenter", f"--net={rtns}",
            "podman", "--root", self.dir / "root", "--runroot", self.dir / "rr",
            "--tmpdir", self.dir / "libpod", "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", "capsa",
        ]

    def __call__(self, *args, timeout=60):
        return run_cmd(self.base_argv + [str(a) for a in args], env=self.env, timeout=timeout)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, f"{r}{self.s.trace()}"
        return r

    def rootfs(self, name):
        """A private copy of the session's busybox rootfs (podman --rootfs writes into it)."""
        src = self.s.base / "rootfs"
        if not src.is_dir():
            self.s.build_rootfs()
        dst = self.dir / f"rootfs-{name}"
        shutil.copytree(src, dst, symlinks=True)
        return dst

    def close(self):
        self("rm", "-a", "-f", "-t", "0")
        for pid, _ in processes_mentioning(str(self.dir)):
            kill_pid(pid)
        unmount_all_under(self.dir)


@pytest.fixture
def podman_cni(session):
    reason = ensure_installed({"podman": "podman", "conmon": "conmon"})
    if reason:
        pytest.skip(reason)
    cache_existed = CNI_CACHE.exists()
    ns = f"capsa-it-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    p = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=10)
        p = PodmanCNI(session, f"/run/netns/{ns}")
        yield p
    finally:
        if p:
            p.close()
        subprocess.run(["ip", "netns", "delete", ns], timeout=10)
        if not cache_existed:
            shutil.rmtree(CNI_CACHE, ignore_errors=True)
        elif CNI_CACHE.is_dir():
            for f in CNI_CACHE.rglob(f"*{NETWORK}*"):
                if f.is_file():
                    f.unlink()


def ip_json(ns, *args):
    r = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r
    return json.loads(r.stdout or "[]")


def test_podman_cni_two_containers(podman_cni, session):
    p = podman_cni
    ns = os.path.basename(p.rtns)
    netns_before = set(os.listdir("/run/netns"))
    common = ["run", *ULIMITS, "--cgroup-parent", session.tag, "--network", NETWORK]
    # the server answers one connection with its address and the peer's
    p.ok(*common, "-d", "--name", "srv", "--rootfs", p.rootfs("srv"),
         "sh", "-c", "trap 'exit 0' TERM; ip -4 -o addr show eth0 > /tmp/a; "
         "while :; do (cat /tmp/a) | nc -l -p 8080; done")
    ip = p.ok("inspect", "--format",
              "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK,
              "srv").out.strip()
    assert ip.startswith("10.89.78."), ip

    # the plugin made the bridge and a veth in the test namespace, and a lease
    links = {link["ifname"]: link for link in ip_json(ns, "link")}
    veths = [n for n in links if n.startswith("cv")]
    assert len(veths) == 1 and "cn-cpod" in links, links
    leases = p.dir / "cni-root" / "networks" / "cpod" / "leases"
    assert sorted(x.name for x in leases.iterdir()) == [ip]

    deadline = time.monotonic() + 10
    while True:
        r = p(*common, "--rm", "--rootfs", p.rootfs(f"cli{int(time.monotonic() * 1000)}"),
              "sh", "-c", f"nc -w 3 {ip} 8080 </dev/null; ip -4 -o addr show eth0")
        if (r.rc == 0 and ip in r.out) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r.rc == 0 and f"inet {ip}/24" in r.out, f"{r}{session.trace()}"
    lines = r.out.strip().splitlines()
    # the server's address as it sent it, then the client's own (another one of the subnet)
    assert len(lines) == 2 and f"inet {ip}/24" in lines[0], r
    assert "inet 10.89.78." in lines[1] and f"inet {ip}/" not in lines[1], r

    p.ok("rm", "-f", "-t", "0", "srv")
    # DEL undid everything: no veth, no lease; the bridge stays for the next container
    links = [link["ifname"] for link in ip_json(ns, "link")]
    assert not [n for n in links if n.startswith("cv")], links
    assert list(leases.iterdir()) == []
    # and podman removed the containers' namespaces
    assert set(os.listdir("/run/netns")) - netns_before == set()
