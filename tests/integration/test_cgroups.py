"""Container cgroup placement and limits (memory, cpu, pids), read host-side from the
container's own cgroup (found via /proc/PID/cgroup)."""

import os
import uuid
from pathlib import Path

import pytest

from conftest import CHECKER, cgroup_file, find_cgroups, own_cgroup


def created(runtime, bundle, resources=None, cgroups_path=None):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    if resources is not None:
        b.linux["resources"] = resources
    if cgroups_path is not None:
        b.linux["cgroupsPath"] = cgroups_path
    r = runtime.create(b)
    assert r.rc == 0, r
    return r.id, runtime.state(r.id)["pid"]


def read(pid, ctrl, name):
    p = cgroup_file(pid, ctrl, name)
    assert p is not None, f"no {ctrl} file {name} for pid {pid}"
    return p.read_text().strip()


def test_placed_beneath_own_cgroup(runtime, bundle):
    cid, pid = created(runtime, bundle)
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if not ctrls:
            continue
        ctrl = ctrls.split(",")[0]
        mine = own_cgroup(ctrl)
        assert path.startswith(mine.rstrip("/") + "/"), (line, mine)
        if ctrl in ("memory", "pids", "cpu"):
            assert cid in path, line
    assert find_cgroups(cid)


def test_memory_limit(runtime, bundle):
    cid, pid = created(runtime, bundle, {"memory": {"limit": 64 << 20}})
    v = cgroup_file(pid, "memory", "memory.limit_in_bytes") or cgroup_file(pid, "memory",
                                                                           "memory.max")
    assert v is not None
    assert int(v.read_text()) == 64 << 20


def test_memory_limit_visible_inside(runtime, bundle):
    b = bundle()
    b.linux["resources"] = {"memory": {"limit": 32 << 20}}
    r = runtime.check(b, "cgfile", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                      "/sys/fs/cgroup/memory.max")["files"]
    vals = [v for v in r.values() if v.isdigit()]
    assert vals == [str(32 << 20)], r


def test_cpu_shares_and_quota(runtime, bundle):
    cid, pid = created(runtime, bundle, {"cpu": {"shares": 512, "quota": 50000,
                                                 "period": 100000}})
    if cgroup_file(pid, "cpu", "cpu.shares"):
        assert read(pid, "cpu", "cpu.shares") == "512"
        assert read(pid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert read(pid, "cpu", "cpu.cfs_period_us") == "100000"
    else:
        assert read(pid, "cpu", "cpu.max") == "50000 100000"


def test_pids_limit(runtime, bundle):
    cid, pid = created(runtime, bundle, {"pids": {"limit": 42}})
    assert read(pid, "pids", "pids.max") == "42"


def test_pids_limit_enforced(runtime, bundle):
    b = bundle()
    b.linux["resources"] = {"pids": {"limit": 5}}
    b.process["args"] = ["/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 3 & done; wait"]
    r = runtime.run(b)
    assert r.rc != 0 or "fork" in r.err.lower(), r


def test_absolute_cgroups_path(runtime, bundle):
    mine = own_cgroup("memory")
    name = f"capsa-it-abs-{uuid.uuid4().hex[:8]}"
    path = mine.rstrip("/") + "/" + name
    # intermediate dirs that the runtime creates in other hierarchies must be removed again
    pre = {str(p) for p in Path("/sys/fs/cgroup").glob("*" + mine)}
    runtime.ids.append(name)  # the leak check looks for it too
    try:
        cid, pid = created(runtime, bundle, {"pids": {"limit": 77}}, cgroups_path=path)
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, ctrls, p = line.split(":", 2)
            if ctrls in ("pids", "memory"):
                assert p == path, line
        assert read(pid, "pids", "pids.max") == "77"
        assert runtime("delete", "--force", cid).rc == 0
    finally:
        for d in sorted(Path("/sys/fs/cgroup").glob("*" + mine), key=lambda p: -len(str(p))):
            if str(d) not in pre:
                for sub in [d] + list(d.parents):
                    if str(sub) in pre or sub == Path("/sys/fs/cgroup") or \
                            len(sub.parts) <= 4:
                        break
                    try:
                        os.rmdir(sub)
                    except OSError:
                        break


def test_cgroup_removed_after_run(runtime, bundle):
    cid = runtime.new_id()
    assert runtime.run(bundle(), cid=cid).rc == 0
    assert not find_cgroups(cid)
