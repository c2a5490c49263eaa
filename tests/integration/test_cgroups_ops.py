"""cgroup resources beyond memory/cpu/pids, and the commands on a living container's cgroup:
update, pause/resume, events, delete after an OOM kill.  Host tier (v1/hybrid); the same
behaviour on cgroup v2 is tested in the VM tier (tests/vm/test_cgroup_v2.py)."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import CHECKER, cgroup_file, find_cgroups

pytestmark = pytest.mark.capsa_only


def created(runtime, bundle, resources=None, args=(CHECKER, "sleep", "30"), start=False):
    b = bundle()
    b.process["args"] = list(args)
    if resources is not None:
        b.linux["resources"] = resources
    r = runtime.create(b)
    assert r.rc == 0, r
    if start:
        assert runtime("start", r.id).rc == 0
    return r.id, runtime.state(r.id)["pid"]


def read(pid, ctrl, name):
    p = cgroup_file(pid, ctrl, name)
    assert p is not None, f"no {ctrl} file {name} for pid {pid}"
    return p.read_text().strip()


def create_fails(runtime, bundle, resources, *needles):
    b = bundle()
    b.linux["resources"] = resources
    r = runtime.create(b)
    assert r.rc != 0, r
    for n in needles:
        assert n in r.err, r
    assert not find_cgroups(r.id), "a failed create left its cgroup"
    return r


def test_blkio_throttle_lands(runtime, bundle):
    dev = Path("/sys/dev/block").iterdir().__next__().name  # "MAJ:MIN" of a real device
    maj, mn = map(int, dev.split(":"))
    cid, pid = created(runtime, bundle, {"blockIO": {
        "throttleReadBpsDevice": [{"major": maj, "minor": mn, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": maj, "minor": mn, "rate": 100}]}})
    assert f"{dev} 1048576" in read(pid, "blkio", "blkio.throttle.read_bps_device")
    assert f"{dev} 100" in read(pid, "blkio", "blkio.throttle.write_iops_device")


def test_blkio_weight_lands_or_is_clear(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    b.linux["resources"] = {"blockIO": {"weight": 500}}
    r = runtime.create(b)
    if r.rc != 0:  # no I/O scheduler with weights on this host
        assert "linux.resources.blockIO.weight" in r.err and "not supported" in r.err, r
        assert not find_cgroups(r.id)
        return
    pid = runtime.state(r.id)["pid"]
    p = cgroup_file(pid, "blkio", "blkio.weight") or cgroup_file(pid, "blkio", "blkio.bfq.weight")
    assert p is not None and "500" in p.read_text(), r


def test_blkio_weight_out_of_range(runtime, bundle):
    create_fails(runtime, bundle, {"blockIO": {"weight": 5000}},
                 "linux.resources.blockIO.weight", "out of range")


def test_network_without_net_cls_is_clear(runtime, bundle):
    if Path("/sys/fs/cgroup/net_cls").exists():
        pytest.skip("this host mounts net_cls")
    create_fails(runtime, bundle, {"network": {"classID": 1048577}},
                 "linux.resources.network.classID", "net_cls")


def test_unified_on_v1_is_an_error(runtime, bundle):
    create_fails(runtime, bundle, {"unified": {"memory.high": "1000000"}},
                 "linux.resources.unified", "cgroup v2")


def test_hugetlb_invalid_page_size(runtime, bundle):
    create_fails(runtime, bundle, {"hugepageLimits": [{"pageSize": "3XB", "limit": 0}]},
                 "hugepageLimits[0].pageSize")


def test_rdma_without_controller_is_clear(runtime, bundle):
    if Path("/sys/fs/cgroup/rdma").exists():
        pytest.skip("this host mounts rdma")
    create_fails(runtime, bundle, {"rdma": {"mlx5_0": {"hcaHandles": 3}}},
                 "linux.resources.rdma", "not mounted")


def test_cgroup_that_cannot_be_created(runtime, bundle):
    b = bundle()
    b.linux["cgroupsPath"] = "/capsa-it-x/../../etc"
    r = runtime.create(b)
    assert r.rc != 0 and "linux.cgroupsPath" in r.err, r


def free_char_major():
    """A character major no driver on this host has: opening such a node fails with ENXIO when
    the device cgroup allows it and with EPERM when it does not."""
    used = set()
    for line in Path("/proc/devices").read_text().split("Block devices")[0].splitlines()[1:]:
        if line.strip():
            used.add(int(line.split()[0]))
    return next(m for m in (42, 60, 61, 62, 63, 120, 121, 122, 123) if m not in used)


def exec_open(runtime, cid, path, mode):
    r = runtime("exec", cid, CHECKER, "open", path, mode)
    assert r.rc == 0, r
    return json.loads(r.out)["result"]


def test_devices_linux_devices_are_not_allowed(runtime, bundle):
    # linux.devices creates nodes; only linux.resources.devices (and the standard nodes) allow
    # using them, for the init and for exec'd processes alike (runc 1.1.5: dev.bats "device
    # cgroup deny")
    maj = free_char_major()
    b = bundle()
    b.linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    b.linux["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11},
                          {"path": "/dev/capsa-nodrv", "type": "c", "major": maj, "minor": 0}]
    b.process["args"] = [CHECKER, "sleep", "30"]
    r = runtime.create(b)
    assert r.rc == 0, r
    cid, pid = r.id, runtime.state(r.id)["pid"]
    rules = read(pid, "devices", "devices.list").splitlines()
    assert "c 1:11 rwm" not in rules and f"c {maj}:0 rwm" not in rules, rules
    assert "c 1:3 rwm" in rules and "c 10:200 rwm" in rules and "a *:* rwm" not in rules, rules
    assert runtime("start", cid).rc == 0
    assert exec_open(runtime, cid, "/dev/capsa-nodrv", "r") == "EPERM"
    assert exec_open(runtime, cid, "/dev/kmsg", "w") == "EPERM"
    assert exec_open(runtime, cid, "/dev/null", "rw") == "OK"
    # the init's view is the same
    b2 = bundle()
    b2.linux["resources"] = b.linux["resources"]
    b2.linux["devices"] = b.linux["devices"]
    assert runtime.check(b2, "open", "/dev/capsa-nodrv", "r")["result"] == "EPERM"


def test_devices_access_letters_as_runc(runtime, bundle):
    # runc takes r, w and m in any order and ignores "a": "rwa" allows read and write, and a
    # rule whose access is only "a" has no effect
    maj = free_char_major()
    b = bundle()
    b.linux["resources"] = {"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": maj, "minor": 0, "access": "rwa"},
        {"allow": True, "type": "c", "major": maj, "minor": 1, "access": "a"},
        {"allow": True, "type": "c", "major": maj, "minor": 2, "access": "wr"}]}
    b.linux["devices"] = [{"path": f"/dev/n{i}", "type": "c", "major": maj, "minor": i}
                          for i in range(3)]
    b.process["args"] = [CHECKER, "sleep", "30"]
    r = runtime.create(b)
    assert r.rc == 0, r
    cid, pid = r.id, runtime.state(r.id)["pid"]
    rules = read(pid, "devices", "devices.list").splitlines()
    assert f"c {maj}:0 rw" in rules and f"c {maj}:2 rw" in rules, rules
    assert not any(l.startswith(f"c {maj}:1 ") for l in rules), rules
    assert runtime("start", cid).rc == 0
    assert exec_open(runtime, cid, "/dev/n0", "rw") == "ENXIO"  # allowed; no driver
    assert exec_open(runtime, cid, "/dev/n1", "r") == "EPERM"
    assert exec_open(runtime, cid, "/dev/n2", "w") == "ENXIO"
    b = bundle()
    b.linux["resources"] = {"devices": [{"allow": True, "access": "rwx"}]}
    r = runtime.create(b)
    assert r.rc != 0 and "linux.resources.devices[0].access" in r.err, r


def test_update_flags(runtime, bundle):
    cid, pid = created(runtime, bundle, {"memory": {"limit": 64 << 20}})
    r = runtime("update", "--memory", "32m", "--pids-limit", "50", "--cpu-shares", "256",
                "--cpu-quota", "20000", "--cpu-period", "100000", cid)
    assert r.rc == 0, r
    assert read(pid, "memory", "memory.limit_in_bytes") == str(32 << 20)
    assert read(pid, "pids", "pids.max") == "50"
    assert read(pid, "cpu", "cpu.shares") == "256"
    assert read(pid, "cpu", "cpu.cfs_quota_us") == "20000"
    r = runtime("update", "--pids-limit", "-1", cid)
    assert r.rc == 0 and read(pid, "pids", "pids.max") == "max", r


def test_update_memory_unlimited_lifts_the_swap_limit(runtime, bundle):
    """As runc (update.bats): --memory -1 alone also lifts memory+swap, or the kernel
    refuses a memory limit above the memory+swap one."""
    if not os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting (memory.memsw) on this host")
    cid, pid = created(runtime, bundle, {"memory": {"limit": 32 << 20, "swap": 64 << 20}})
    r = runtime("update", "--memory", "-1", cid)
    assert r.rc == 0, r
    assert int(read(pid, "memory", "memory.limit_in_bytes")) > 1 << 60
    assert int(read(pid, "memory", "memory.memsw.limit_in_bytes")) > 1 << 60


def test_update_resources_file_and_stdin(runtime, bundle, testdir):
    cid, pid = created(runtime, bundle)
    f = testdir / "res.json"
    f.write_text(json.dumps({"memory": {"limit": 48 << 20}, "pids": {"limit": 20}}))
    assert runtime("update", "-r", f, cid).rc == 0
    assert read(pid, "memory", "memory.limit_in_bytes") == str(48 << 20)
    assert read(pid, "pids", "pids.max") == "20"
    r = runtime("update", "-r", "-", cid, input=json.dumps({"pids": {"limit": 30}}))
    assert r.rc == 0 and read(pid, "pids", "pids.max") == "30", r


def test_update_errors(runtime, bundle, testdir):
    cid, pid = created(runtime, bundle)
    r = runtime("update", "--memory", "12q", cid)
    assert r.rc != 0 and "--memory" in r.err, r
    r = runtime("update", "-r", "-", cid, input='{"memory": {"limit": "1g"}}')
    assert r.rc != 0 and "memory.limit" in r.err, r
    r = runtime("update", "-r", "-", "--pids-limit", "3", cid, input="{}")
    assert r.rc != 0 and "exclusive" in r.err, r
    r = runtime("update", "--memory-swap", "1m", "--memory", "2m", cid)
    assert r.rc != 0 and "linux.resources.memory.swap" in r.err, r
    r = runtime("update", "--pids-limit", "3", "capsa-it-no-such")
    assert r.rc != 0 and "does not exist" in r.err, r


def counter(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11])


def test_pause_resume(runtime, bundle):
    cid, pid = created(runtime, bundle, args=["sh", "-c", "while :; do :; done"], start=True)
    assert runtime("pause", cid).rc == 0
    assert runtime.state(cid)["status"] == "paused"
    assert read(pid, "freezer", "freezer.state") == "FROZEN"
    t0 = counter(pid)
    time.sleep(0.3)
    assert counter(pid) == t0, "a paused container's process kept running"
    r = runtime("pause", cid)
    assert r.rc != 0 and "paused" in r.err, r
    assert runtime("resume", cid).rc == 0
    assert runtime.state(cid)["status"] == "running"
    time.sleep(0.3)
    assert counter(pid) > t0, "a resumed container's process did not run"
    r = runtime("resume", cid)
    assert r.rc != 0 and "running" in r.err, r
    # a paused container can be deleted with --force
    assert runtime("pause", cid).rc == 0
    assert runtime("delete", "--force", cid).rc == 0
    assert not find_cgroups(cid)


def test_events_stats(runtime, bundle):
    cid, pid = created(runtime, bundle, {"memory": {"limit": 64 << 20}, "pids": {"limit": 10}},
                       start=True)
    r = runtime("events", "--stats", cid)
    assert r.rc == 0, r
    ev = json.loads(r.out)
    assert ev["type"] == "stats" and ev["id"] == cid
    d = ev["data"]
    assert d["memory"]["usage"]["limit"] == 64 << 20
    assert d["memory"]["usage"]["usage"] > 0
    assert d["pids"] == {"current": 1, "limit": 10}
    assert d["cpu"]["usage"]["total"] >= 0 and "raw" in d["memory"]


def test_events_stats_shape_as_runc(runtime, bundle):
    # runc 1.1.5's types.Stats on a v1 host: every section, memory entries with limit and
    # failcnt always, no keys of capsa's own (an "oomKills" key made runc's events.bats
    # `grep oom events.log` match a stats line)
    cid, pid = created(runtime, bundle, {"memory": {"limit": 32 << 20}}, start=True)
    r = runtime("events", "--stats", cid)
    assert r.rc == 0, r
    assert "oom" not in r.out.lower(), r.out
    d = json.loads(r.out)["data"]
    assert set(d) == {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                      "network_interfaces"}, d.keys()
    assert set(d["memory"]) <= {"cache", "usage", "swap", "kernel", "kernelTCP", "raw"}
    assert {"usage", "swap", "kernel", "kernelTCP"} <= set(d["memory"])
    for e in ("usage", "swap", "kernel", "kernelTCP"):
        assert {"limit", "failcnt"} <= set(d["memory"][e]) <= {"limit", "usage", "max",
                                                              "failcnt"}, e
    assert d["memory"]["usage"]["limit"] == 32 << 20
    assert list(d["memory"]["raw"]) == sorted(d["memory"]["raw"])
    assert {"kernel", "user"} <= set(d["cpu"]["usage"])
    if Path("/sys/fs/cgroup/cpuset").is_dir():
        assert d["cpuset"]["cpus"] and isinstance(d["cpuset"]["cpus"][0], int), d["cpuset"]
    assert d["pids"] == {"current": 1} and d["network_interfaces"] is None


def test_events_oom_of_an_exec_process(runtime, bundle):
    # runc's events.bats "events oom": a memory hog started by exec in a running container;
    # the stream reports the OOM kill, and no stats line says "oom"
    cid, pid = created(runtime, bundle, {"memory": {"limit": 32 << 20, "swap": 32 << 20}},
                       start=True)
    ev = runtime.spawn("events", "--interval", "300ms", cid)
    events = wait_event(ev, "stats", 10)
    assert events, "no stats event"
    r = runtime("exec", "-d", cid, "sh", "-c", "x=$(dd if=/dev/urandom ibs=5120k)")
    assert r.rc == 0, r
    events = wait_event(ev, "oom", 20)
    assert {"type": "oom", "id": cid} in events, events
    ev.files[0].seek(0)
    stats = [l for l in ev.files[0].read().splitlines() if '"stats"' in l]
    assert stats and not any("oom" in l.lower() for l in stats), stats[-1]
    assert runtime.state(cid)["status"] == "running"


def wait_event(p, type_, timeout):
    """Events printed so far by a spawned `events` (its stdout is a file), until one of
    type_ shows up."""
    out = p.files[0]
    end = time.monotonic() + timeout
    events = []
    while time.monotonic() < end:
        out.seek(0)
        events = [json.loads(l) for l in out.read().splitlines() if l.strip()]
        if any(e["type"] == type_ for e in events):
            break
        time.sleep(0.2)
    return events


def test_events_stream_reports_oom_and_delete_cleans_up(runtime, bundle):
    # a memory hog in a 16 MiB container: OOM-killed; `events` reports it; delete cleans up
    cid, pid = created(runtime, bundle, {"memory": {"limit": 16 << 20, "swap": 16 << 20}},
                       args=["sh", "-c", "sleep 1; x=a; while :; do x=$x$x; done"])
    ev = runtime.spawn("events", "--interval", "200ms", cid)
    assert runtime("start", cid).rc == 0
    events = wait_event(ev, "oom", 20)
    assert any(e["type"] == "oom" and e["id"] == cid for e in events), events
    assert any(e["type"] == "stats" for e in events), events
    runtime.wait_status(cid, "stopped", timeout=20)
    ev.wait(timeout=10)  # the stream ends with the container
    assert runtime("delete", cid).rc == 0
    assert not find_cgroups(cid)
