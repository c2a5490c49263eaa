"""linux.namespaces (new, shared, joined by path, user maps, time offsets), sysctl, hostname."""

import os
import time

import pytest

from conftest import CHECKER, features, host_ns

ALL = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
       "cgroup": "cgroup"}


def test_new_namespaces_differ_from_host(runtime, bundle):
    b = bundle()
    b.set_namespaces(list(ALL))
    ns = runtime.check(b, "ns")
    for typ, name in ALL.items():
        assert ns[name] != host_ns(name), f"{typ} namespace is the host's"


def test_missing_namespaces_are_shared(runtime, bundle):
    b = bundle()
    b.set_namespaces(["mount", "pid"])
    del b.config["hostname"]  # needs a private uts namespace
    ns = runtime.check(b, "ns")
    for name in ("net", "ipc", "uts", "cgroup", "user"):
        assert ns[name] == host_ns(name), name
    assert ns["mnt"] != host_ns("mnt") and ns["pid"] != host_ns("pid")


def test_pid_namespace_init_is_pid1(runtime, bundle):
    assert runtime.check(bundle(), "pid")["pid"] == 1


def test_join_netns_by_path(runtime, bundle, netns):
    path = netns()
    b = bundle()
    b.linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + [
        {"type": "network", "path": path}]
    ns = runtime.check(b, "ns")
    assert ns["net"] == f"net:[{os.stat(path).st_ino}]"


def test_join_ns_of_other_container(runtime, bundle):
    b1 = bundle()
    b1.process["args"] = [CHECKER, "sleep", "30"]
    r = runtime.create(b1)
    assert r.rc == 0, r
    pid = runtime.state(r.id)["pid"]
    b2 = bundle()
    b2.linux["namespaces"] = [{"type": "mount"}, {"type": "pid"},
                              {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
                              {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"}]
    ns = runtime.check(b2, "ns")
    assert ns["uts"] == os.readlink(f"/proc/{pid}/ns/uts")
    assert ns["ipc"] == os.readlink(f"/proc/{pid}/ns/ipc")


def userns_bundle(bundle, host=100000):
    b = bundle()
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": host, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": host, "size": 65536}]
    # cgroup v1 bind mounts are not allowed from an unprivileged user namespace
    b.config["mounts"] = [m for m in b.config["mounts"] if m["type"] != "cgroup"]
    return b


def test_user_namespace_maps(runtime, bundle):
    b = userns_bundle(bundle)
    ids = runtime.check(b, "ids")
    assert ids["uid"] == 0 and ids["gid"] == 0
    maps = runtime.check(b, "cat", "/proc/self/uid_map", "/proc/self/gid_map")
    assert maps["/proc/self/uid_map"].split() == ["0", "100000", "65536"]
    assert maps["/proc/self/gid_map"].split() == ["0", "100000", "65536"]
    assert runtime.check(b, "ns")["user"] != host_ns("user")


def test_user_namespace_host_uid(runtime, bundle):
    b = userns_bundle(bundle)
    b.process["args"] = [CHECKER, "sleep", "30"]
    r = runtime.create(b)
    assert r.rc == 0, r
    pid = runtime.state(r.id)["pid"]
    st = os.stat(f"/proc/{pid}")
    assert (st.st_uid, st.st_gid) == (100000, 100000)


def test_user_namespace_nonroot_user(runtime, bundle):
    b = userns_bundle(bundle)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    ids = runtime.check(b, "ids")
    assert ids["uid"] == 1000 and ids["gid"] == 1000


def test_time_namespace_offsets(runtime, bundle):
    f = features(runtime)
    if f is not None and "time" not in f.get("linux", {}).get("namespaces", []):
        pytest.skip("runtime does not advertise the time namespace in `features`")
    b = bundle()
    b.linux["namespaces"].append({"type": "time"})
    off = 10 * 86400
    b.linux["timeOffsets"] = {"monotonic": {"secs": off, "nanosecs": 0},
                              "boottime": {"secs": 2 * off, "nanosecs": 0}}
    t = runtime.check(b, "time")
    host_mono = time.clock_gettime(time.CLOCK_MONOTONIC)
    host_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert abs(t["monotonic"] - (host_mono + off)) < 30, (t, host_mono)
    assert abs(t["boottime"] - (host_boot + 2 * off)) < 30, (t, host_boot)
    assert abs(float(t["uptime"].split()[0]) - (host_boot + 2 * off)) < 30


def test_cgroup_namespace_root(runtime, bundle):
    b = bundle()
    b.linux["namespaces"].append({"type": "cgroup"})
    lines = runtime.check(b, "cgroup")["cgroup"]
    assert lines and all(l.split(":", 2)[2] == "/" for l in lines), lines


def test_hostname(runtime, bundle):
    b = bundle()
    b.config["hostname"] = "capsa-host"
    assert runtime.check(b, "hostname")["hostname"] == "capsa-host"
    assert os.uname().nodename != "capsa-host"


@pytest.mark.capsa_only  # runc 1.1.5 ignores "domainname" (added in runc 1.2)
def test_domainname(runtime, bundle):
    b = bundle()
    b.config["hostname"] = "capsa-host"
    b.config["domainname"] = "capsa.example"
    h = runtime.check(b, "hostname")
    assert h == {"hostname": "capsa-host", "domainname": "capsa.example"}


def test_hostname_without_uts_ns_refused(runtime, bundle):
    b = bundle()
    b.set_namespaces(["pid", "mount", "ipc", "network"])
    b.config["hostname"] = "capsa-host"
    r = runtime.run(b)
    assert r.rc != 0, r
    assert os.uname().nodename != "capsa-host"


def test_sysctl_net_in_new_netns(runtime, bundle):
    host = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    b = bundle()
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1" if host == "0" else "0"}
    v = runtime.check(b, "sysctl", "net.ipv4.ip_forward")["net.ipv4.ip_forward"]
    assert v == b.linux["sysctl"]["net.ipv4.ip_forward"]
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == host


def test_sysctl_ipc_in_new_ipcns(runtime, bundle):
    host = open("/proc/sys/kernel/shmmax").read().strip()
    b = bundle()
    b.linux["sysctl"] = {"kernel.shmmax": "123456789"}
    assert runtime.check(b, "sysctl", "kernel.shmmax")["kernel.shmmax"] == "123456789"
    assert open("/proc/sys/kernel/shmmax").read().strip() == host


def test_sysctl_net_without_netns_refused(runtime, bundle):
    b = bundle()
    b.set_namespaces(["pid", "mount", "ipc", "uts"])
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    host = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    r = runtime.run(b)
    assert r.rc != 0, r
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == host
