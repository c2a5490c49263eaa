"""cgroup v2, inside the VM tier's guest: every resource lands in its v2 file and is enforced;
update, pause/resume, events, devices (eBPF) and delete after an OOM kill."""

import json
import time
from pathlib import Path

import pytest

from capsa_it_conftest import CHECKER, find_cgroups

pytestmark = pytest.mark.vm


def cgdir(pid):
    line = [l for l in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
            if l.startswith("0::")][0]
    return Path("/sys/fs/cgroup") / line[3:].lstrip("/")


def created(runtime, bundle, resources=None, args=(CHECKER, "sleep", "30"), start=False,
            devices=None, caps=None):
    b = bundle()
    b.process["args"] = list(args)
    if resources is not None:
        b.linux["resources"] = resources
    if devices is not None:
        b.linux["devices"] = devices
    if caps:
        for s in ("bounding", "effective", "permitted"):
            b.process["capabilities"][s] += caps
    r = runtime.create(b)
    assert r.rc == 0, r
    # the cgroup is read while the init waits for start: a started process may already be
    # gone (the fork bomb's shell exits once its forks are refused)
    st = runtime.state(r.id)
    d = cgdir(st["pid"])
    if start:
        assert runtime("start", r.id).rc == 0, r
    return r.id, st["pid"], d


def rd(d, name):
    return (d / name).read_text().strip()


def test_memory_files(runtime, bundle):
    cid, pid, d = created(runtime, bundle, {"memory": {
        "limit": 64 << 20, "reservation": 16 << 20, "swap": 96 << 20}})
    assert rd(d, "memory.max") == str(64 << 20)
    assert rd(d, "memory.low") == str(16 << 20)
    assert rd(d, "memory.swap.max") == str(32 << 20)


def test_cpu_files(runtime, bundle):
    cid, pid, d = created(runtime, bundle, {"cpu": {
        "shares": 1024, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0",
        "mems": "0"}})
    assert rd(d, "cpu.weight") == "39"
    assert rd(d, "cpu.max") == "50000 100000"
    assert rd(d, "cpu.max.burst") == "10000"
    assert rd(d, "cpuset.cpus") == "0"
    assert rd(d, "cpuset.mems") == "0"


def test_pids_io_hugetlb_unified(runtime, bundle):
    dev = sorted(p.name for p in Path("/sys/dev/block").iterdir())
    res = {"pids": {"limit": 42}, "unified": {"memory.high": "49152000"},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}
    if dev:
        maj, mn = map(int, dev[0].split(":"))
        res["blockIO"] = {"throttleReadBpsDevice": [{"major": maj, "minor": mn,
                                                     "rate": 1048576}]}
    cid, pid, d = created(runtime, bundle, res)
    assert rd(d, "pids.max") == "42"
    assert rd(d, "memory.high") == "49152000"
    assert rd(d, "hugetlb.2MB.max") == "4194304"
    if dev:
        assert f"{dev[0]} rbps=1048576" in rd(d, "io.max")


@pytest.mark.parametrize("res,needle", [
    ({"memory": {"swappiness": 10}}, "linux.resources.memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller"),
    ({"network": {"classID": 1}}, "linux.resources.network.classID"),
    ({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime"),
    ({"unified": {"memory.nonexistent": "1"}}, "linux.resources.unified.memory.nonexistent"),
    ({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}, "hugepageLimits[0].pageSize"),
    ({"blockIO": {"leafWeight": 100}}, "linux.resources.blockIO.leafWeight"),
])
def test_v2_errors(runtime, bundle, res, needle):
    b = bundle()
    b.linux["resources"] = res
    r = runtime.create(b)
    assert r.rc != 0 and needle in r.err, r
    assert not find_cgroups(r.id)


def test_memory_hog_oom_killed_events_and_delete(runtime, bundle):
    cid, pid, d = created(runtime, bundle, {"memory": {"limit": 16 << 20, "swap": 16 << 20}},
                          args=["sh", "-c", "sleep 1; x=a; while :; do x=$x$x; done"])
    ev = runtime.spawn("events", "--interval", "500ms", cid)
    assert runtime("start", cid).rc == 0
    out, end, events = ev.files[0], time.monotonic() + 60, []
    while time.monotonic() < end and not any(e["type"] == "oom" for e in events):
        time.sleep(0.3)
        out.seek(0)
        events = [json.loads(l) for l in out.read().splitlines() if l.strip()]
    assert any(e["type"] == "oom" for e in events), events
    runtime.wait_status(cid, "stopped", timeout=30)
    assert "oom_kill 0" not in rd(d, "memory.events")
    assert runtime("delete", cid).rc == 0
    assert not d.exists()


def test_fork_bomb_stops_at_pids_limit(runtime, bundle):
    cid, pid, d = created(runtime, bundle, {"pids": {"limit": 10}},
                          args=["sh", "-c", "for i in $(seq 30); do sleep 20 & done; wait"],
                          start=True)
    time.sleep(3)
    assert int(rd(d, "pids.current")) <= 10
    assert int(rd(d, "pids.events").split()[1]) > 0  # "max N": forks refused


def test_devices_ebpf(runtime, bundle):
    # major 240 has no driver: an allowed open fails with ENXIO, a denied one with EPERM; a
    # linux.devices node (/dev/kmsg) is created but not allowed (runc 1.1.5); access "ra" is
    # read ("a" is ignored, as runc does)
    args = ["sh", "-c", "mknod /dev/d0 c 240 0; mknod /dev/d1 c 240 1; "
            "cat /dev/d0; cat /dev/d1; head -c0 /dev/null && echo null-ok; "
            "echo capsa-vm-test > /dev/kmsg && echo kmsg-write-ok; true"]
    b = bundle()
    b.process["args"] = args
    for s in ("bounding", "effective", "permitted"):
        b.process["capabilities"][s] += ["CAP_MKNOD"]
    b.linux["resources"] = {"devices": [{"allow": False, "access": "rwm"},
                                        {"allow": True, "type": "c", "major": 240, "minor": 1,
                                         "access": "ra"}]}
    b.linux["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert "'/dev/d0': Operation not permitted" in r.err, r
    assert "'/dev/d1': No such device or address" in r.err, r
    assert "null-ok" in r.out and "kmsg-write-ok" not in r.out, r
    assert "/dev/kmsg: Operation not permitted" in r.err, r


def test_devices_ebpf_holds_for_exec(runtime, bundle):
    devs = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
            {"path": "/dev/d1", "type": "c", "major": 240, "minor": 1}]
    cid, pid, d = created(runtime, bundle, {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 240, "minor": 1, "access": "rwa"}]},
        devices=devs, start=True)
    for path, mode, want in (("/dev/kmsg", "w", "EPERM"), ("/dev/d1", "rw", "ENXIO"),
                             ("/dev/null", "rw", "OK")):
        r = runtime("exec", cid, CHECKER, "open", path, mode)
        assert r.rc == 0 and json.loads(r.out)["result"] == want, (path, r)


def test_update_pause_resume_stats(runtime, bundle):
    cid, pid, d = created(runtime, bundle, {"memory": {"limit": 64 << 20}},
                          args=["sh", "-c", "while :; do :; done"], start=True)
    r = runtime("update", "--memory", "32m", "--memory-swap", "48m", "--cpu-quota", "20000",
                "--cpu-period", "50000", "--pids-limit", "7", "--cpu-shares", "2", cid)
    assert r.rc == 0, r
    assert rd(d, "memory.max") == str(32 << 20)
    assert rd(d, "memory.swap.max") == str(16 << 20)
    assert rd(d, "cpu.max") == "20000 50000"
    assert rd(d, "pids.max") == "7" and rd(d, "cpu.weight") == "1"
    r = runtime("update", "--cpu-period", "100000", cid)
    assert r.rc == 0 and rd(d, "cpu.max") == "20000 100000", r
    r = runtime("update", "--cpu-rt-runtime", "1000", cid)
    assert r.rc != 0 and "realtimeRuntime" in r.err, r
    assert runtime("pause", cid).rc == 0
    assert runtime.state(cid)["status"] == "paused"
    assert "frozen 1" in rd(d, "cgroup.events")
    u0 = int(rd(d, "cpu.stat").split()[1])
    time.sleep(0.5)
    assert int(rd(d, "cpu.stat").split()[1]) == u0
    assert runtime("resume", cid).rc == 0
    assert runtime.state(cid)["status"] == "running"
    time.sleep(0.5)
    assert int(rd(d, "cpu.stat").split()[1]) > u0
    r = runtime("events", "--stats", cid)
    assert r.rc == 0, r
    data = json.loads(r.out)["data"]
    assert data["memory"]["usage"]["limit"] == 32 << 20 and data["pids"]["limit"] == 7
    assert data["cpu"]["usage"]["total"] > 0


def own_v2():
    line = [l for l in Path("/proc/self/cgroup").read_text().splitlines()
            if l.startswith("0::")][0]
    return Path("/sys/fs/cgroup") / line[3:].lstrip("/")


def test_frozen_cgroup_refused_populated_joined(runtime, bundle):
    # runc 1.1.5: "container's cgroup unexpectedly frozen" is an error, a populated cgroup
    # a warning
    name = "capsa-vm-frozen"
    d = own_v2() / name
    d.mkdir()
    try:
        (d / "cgroup.freeze").write_text("1")
        b = bundle()
        b.linux["cgroupsPath"] = name
        r = runtime.create(b)
        assert r.rc != 0 and "container's cgroup unexpectedly frozen" in r.err, r
        assert f"{d}/cgroup.freeze is 1" in r.err and d.is_dir(), r
        (d / "cgroup.freeze").write_text("0")
        cid1, pid1, d1 = created(runtime, bundle)
        b = bundle()
        b.process["args"] = [CHECKER, "sleep", "30"]
        b.linux["cgroupsPath"] = str(d1.relative_to(own_v2()))
        r = runtime.create(b)
        assert r.rc == 0 and "container's cgroup is not empty: 1 process(es)" in r.err, r
        assert runtime("delete", "--force", r.id).rc == 0
    finally:
        d.rmdir()


def test_memory_limit_too_small_to_start(runtime, bundle):
    b = bundle()
    b.linux["resources"] = {"memory": {"limit": 65536}}
    r = runtime.create(b)
    assert r.rc != 0 and "linux.resources.memory.limit = 65536" in r.err, r
    assert "killed by its memory limit" in r.err, r
