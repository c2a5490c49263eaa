"""Container cgroup placement and limits (memory, cpu, pids), read host-side from the
container's own cgroup (found via /proc/PID/cgroup)."""

import os
import time
import uuid
from pathlib import Path

import pytest

from conftest import CHECKER, IS_CAPSA, cgroup_file, find_cgroups, kill_pid, own_cgroup


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


def freezer_dir(name):
    """NAME beneath this process's own cgroup in the v1 freezer hierarchy (or v2), where a
    relative cgroupsPath NAME puts the container."""
    own = own_cgroup("freezer")
    if own is not None and Path("/sys/fs/cgroup/freezer").is_dir():
        return Path("/sys/fs/cgroup/freezer") / own.lstrip("/") / name, "freezer.state", "FROZEN"
    own = own_cgroup("")
    base = Path("/sys/fs/cgroup/unified") if Path("/sys/fs/cgroup/unified").is_dir() else \
        Path("/sys/fs/cgroup")
    d = base / own.lstrip("/") / name
    return d, "cgroup.freeze", "1"


@pytest.fixture
def frozen_cgroup():
    """A cgroup this test makes and freezes (thawed and removed afterwards)."""
    made = []

    def make(name):
        d, f, v = freezer_dir(name)
        if not (d.parent / f).exists() and f == "cgroup.freeze":
            pytest.skip("no cgroup freezer on this host")
        d.mkdir()
        made.append((d, f))
        (d / f).write_text(v)
        return d

    yield make
    for d, f in reversed(made):
        if not d.exists():
            continue
        (d / f).write_text("THAWED" if f == "freezer.state" else "0")
        # a runtime that joined anyway left its (test-made) container processes here
        end = time.monotonic() + 10
        while d.exists() and time.monotonic() < end:
            subs = sorted(d.glob("**/"), key=lambda p: -len(str(p)))
            for sub in subs:
                for pid in (sub / "cgroup.procs").read_text().split():
                    kill_pid(int(pid))
            try:
                for sub in subs:
                    sub.rmdir()
            except OSError:
                time.sleep(0.1)


def test_frozen_cgroup_is_refused(runtime, bundle, frozen_cgroup):
    # runc refuses "container's cgroup unexpectedly frozen"; joining would hang the create
    name = f"capsa-it-frz-{uuid.uuid4().hex[:8]}"
    d = frozen_cgroup(name)
    b = bundle()
    b.linux["cgroupsPath"] = name
    runtime.ids.append(name)
    b.save()
    r = runtime("create", "--bundle", b.path, runtime.new_id(), timeout=20)
    assert r.rc != 0 and "container's cgroup unexpectedly frozen" in r.err, r
    if IS_CAPSA:
        assert str(d) in r.err, r
    assert d.is_dir(), "the runtime removed a cgroup it did not create"
    # the directories it made in the other hierarchies are gone again
    assert [p for p in find_cgroups(name) if p != str(d)] == []


@pytest.mark.capsa_only  # runc 1.1.5 does not look at a frozen ancestor, and hangs
def test_cgroup_below_a_frozen_one_is_refused(runtime, bundle, frozen_cgroup):
    name = f"capsa-it-frz-{uuid.uuid4().hex[:8]}"
    d = frozen_cgroup(name)
    b = bundle()
    b.linux["cgroupsPath"] = name + "/ctr"
    runtime.ids.append(name)
    b.save()
    r = runtime("create", "--bundle", b.path, runtime.new_id(), timeout=20)
    assert r.rc != 0 and "unexpectedly frozen" in r.err, r
    assert not (d / "ctr").exists()
    assert [p for p in find_cgroups(name) if p != str(d)] == []


def test_populated_cgroup_is_joined_with_a_warning(runtime, bundle):
    # runc 1.1.5 (cgroups.bats "should warn about a non-empty cgroup"): a second container in
    # the first one's cgroup runs, with a warning
    name = f"capsa-it-shared-{uuid.uuid4().hex[:8]}"
    runtime.ids.append(name)
    cid1, pid1 = created(runtime, bundle, cgroups_path=name)
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    b.linux["cgroupsPath"] = name
    r = runtime.create(b)
    assert r.rc == 0, r
    assert "container's cgroup is not empty: 1 process(es) found" in r.err, r
    pid2 = runtime.state(r.id)["pid"]
    procs = cgroup_file(pid1, "pids", "cgroup.procs").read_text().split()
    assert str(pid1) in procs and str(pid2) in procs, procs
    assert runtime("delete", "--force", r.id).rc == 0
    assert runtime("delete", "--force", cid1).rc == 0
    assert not find_cgroups(name)


def remove_cgroups(name):
    """rmdir every cgroup directory named NAME (and below) this test's runtime left."""
    for d in sorted(find_cgroups(name), key=lambda p: -len(p)):
        for sub in sorted(Path(d).glob("**/"), key=lambda p: -len(str(p))):
            try:
                sub.rmdir()
            except OSError:
                pass


@pytest.mark.parametrize("parent_exists", [False, True])
def test_nested_cgroups_path_gets_cpuset(runtime, bundle, parent_exists):
    # a pod-style cgroupsPath: the new (or empty, pre-existing) v1 cpuset parent gets the
    # cpus and mems of its own parent, as runc copies them down, else joining fails (ENOSPC)
    own = own_cgroup("cpuset")
    if own is None or not Path("/sys/fs/cgroup/cpuset").is_dir():
        pytest.skip("no v1 cpuset hierarchy")
    pod = f"capsa-it-pod-{uuid.uuid4().hex[:8]}"
    base = Path("/sys/fs/cgroup/cpuset") / own.lstrip("/")
    runtime.ids.append(pod)
    try:
        if parent_exists:
            (base / pod).mkdir()
            assert (base / pod / "cpuset.cpus").read_text().strip() == ""
        b = bundle()
        b.process["args"] = [CHECKER, "cgfile", "/proc/self/cgroup"]
        b.linux["cgroupsPath"] = f"{pod}/ctr"
        r = runtime.run(b)
        assert r.rc == 0, r
        want = (base / "cpuset.cpus").read_text().strip()
        assert (base / pod / "cpuset.cpus").read_text().strip() == want
        assert (base / pod / "cpuset.mems").read_text().strip() != ""
    finally:
        remove_cgroups(pod)


@pytest.mark.capsa_only
def test_memory_limit_too_small_to_start(runtime, bundle):
    # the init is OOM-killed before it is ready: the error says so and names the limit
    # (it was "read from container init: Connection reset by peer" or "exited unexpectedly")
    b = bundle()
    b.linux["resources"] = {"memory": {"limit": 65536}}
    r = runtime.create(b)
    assert r.rc != 0, r
    assert "container init was killed by its memory limit" in r.err, r
    assert "linux.resources.memory.limit = 65536" in r.err, r
    assert not find_cgroups(r.id)
