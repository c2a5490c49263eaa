"""The systemd cgroup driver (--systemd-cgroup), inside the VM tier's guest booted with systemd
as PID 1 (tests/vm/vm-run --systemd): the container's cgroup is a transient scope that systemd
makes, the limits land in it, delete stops the unit; bad paths are clear errors.  Skips where
systemd is not PID 1 (the plain VM tier and the host)."""

import subprocess
from pathlib import Path

import pytest

from capsa_it_conftest import CHECKER

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not Path("/run/systemd/system").exists(),
                       reason="needs systemd as PID 1 (tests/vm/vm-run --systemd)"),
]


def unit_state(unit):
    p = subprocess.run(["systemctl", "show", "-p", "ActiveState,LoadState", unit],
                       capture_output=True, text=True)
    return dict(l.split("=", 1) for l in p.stdout.split())


def test_systemd_scope(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    cid = runtime.new_id()
    b.linux["cgroupsPath"] = f"system.slice:capsa:{cid}"
    b.linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 42},
                            "cpu": {"quota": 50000, "period": 100000}}
    b.save()
    r = runtime("--systemd-cgroup", "create", "--bundle", b.path, cid)
    assert r.rc == 0, r
    st = runtime.state(cid)
    unit = f"capsa-{cid}.scope"
    d = Path("/sys/fs/cgroup/system.slice") / unit
    own = Path(f"/proc/{st['pid']}/cgroup").read_text()
    assert f"0::/system.slice/{unit}\n" == own, own
    assert (d / "memory.max").read_text().strip() == str(64 << 20)
    assert (d / "pids.max").read_text().strip() == "42"
    assert (d / "cpu.max").read_text().strip() == "50000 100000"
    # only the init is left in the scope (the placeholder is gone)
    assert (d / "cgroup.procs").read_text().split() == [str(st["pid"])]
    s = unit_state(unit)
    assert s.get("ActiveState") == "active", s
    # systemd knows the limits too (a daemon-reload keeps them)
    p = subprocess.run(["systemctl", "show", "-p", "MemoryMax,TasksMax", unit],
                       capture_output=True, text=True)
    assert f"MemoryMax={64 << 20}" in p.stdout and "TasksMax=42" in p.stdout, p.stdout
    assert runtime("start", cid).rc == 0
    r = runtime("delete", "--force", cid)
    assert r.rc == 0, r
    assert not d.exists()
    s = unit_state(unit)
    assert s.get("ActiveState") != "active", s


def test_systemd_run_default_path(runtime, bundle):
    b = bundle()
    b.save()
    cid = runtime.new_id()
    r = runtime("--systemd-cgroup", "run", "--bundle", b.path, cid)
    assert r.rc == 0, r
    assert "systemd" not in r.err, r  # no warning from removing the unit
    assert not Path(f"/sys/fs/cgroup/system.slice/capsa-{cid}.scope").exists()


@pytest.mark.parametrize("path,msg", [
    ("/abs/path", "SLICE:PREFIX:NAME"),
    ("system.slice:capsa", "SLICE:PREFIX:NAME"),
    ("system.slice:capsa:", "name must not be empty"),
    ("bad/slice:capsa:x", "letters, digits"),
    ("system:capsa:x", "not a valid slice name"),
])
def test_systemd_invalid_path(runtime, bundle, path, msg):
    b = bundle()
    b.linux["cgroupsPath"] = path
    b.save()
    cid = runtime.new_id()
    r = runtime("--systemd-cgroup", "create", "--bundle", b.path, cid)
    assert r.rc != 0
    assert "linux.cgroupsPath" in r.err and msg in r.err, r
