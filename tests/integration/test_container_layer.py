"""The container layer: the plan checks a config before anything is made, the undo record lists
what create made (and delete, delete --force and a failed create replay it), the launcher is
chosen at create and kept in the state, and the stored config is read back with its errors
reported.  The runtime fixture asserts after every test that no state dir, mount, cgroup or
process is left."""
import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import CHECKER, IS_CAPSA, find_cgroups, kill_pid

pytestmark = pytest.mark.skipif(not IS_CAPSA, reason="capsa's own container layer")


def prestart_hook_config(b, marker):
    b.config.setdefault("hooks", {})["prestart"] = [
        {"path": "/bin/sh", "args": ["sh", "-c", f"echo ran > {marker}"]}]


# ---- the plan: errors before anything is made -------------------------------------------------

@pytest.mark.parametrize("mount, where", [
    ({"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"},
     "mounts[1].destination"),
    ({"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "bind"]},
     "mounts[1].options"),
    ({"destination": "/x", "options": ["nosuid"]}, "mounts[1].type"),
    ({"destination": "/x", "type": "none", "options": ["rbind"]}, "mounts[1].source"),
])
def test_bad_mount_fails_before_anything_is_made(runtime, bundle, testdir, mount, where):
    b = bundle()
    marker = testdir / "hook-ran"
    prestart_hook_config(b, marker)
    b.config["mounts"] = [b.config["mounts"][0], mount]
    r = runtime.create(b)
    assert r.rc != 0 and where in r.err, r
    assert "container init" not in r.err, r  # reported by the plan, not by the init
    assert not marker.exists(), "the init got as far as the hooks"
    assert not (runtime.root / r.id).exists()


@pytest.mark.parametrize("resources, where", [
    ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight: 5 is out of range 10-1000"),
    ({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 1001}]}},
     "linux.resources.blockIO.weightDevice[0]"),
    ({"unified": {"../../cgroup.procs": "1"}}, 'invalid cgroup file name "../../cgroup.procs"'),
    ({"unified": {"cgroup.procs": "1"}}, "a core cgroup file the runtime manages itself"),
    ({"hugepageLimits": [{"pageSize": "3XB", "limit": 1}]},
     "linux.resources.hugepageLimits[0].pageSize"),
])
def test_bad_resources_fail_before_the_cgroup_exists(runtime, bundle, resources, where):
    b = bundle()
    b.linux["resources"] = resources
    r = runtime.create(b)
    assert r.rc != 0 and where in r.err, r
    assert not find_cgroups(r.id)
    assert not (runtime.root / r.id).exists()


def test_update_checks_ranges_before_touching_the_cgroup(runtime, bundle, testdir):
    b = bundle(["sleep", "60"])
    r = runtime.create(b)
    assert r.rc == 0, r
    res = testdir / "res.json"
    res.write_text(json.dumps({"blockIO": {"weight": 2000}}))
    u = runtime("update", "--resources", res, r.id)
    assert u.rc != 0 and "linux.resources.blockIO.weight: 2000" in u.err, u


def test_unknown_handler_is_refused(runtime, bundle):
    b = bundle()
    b.config["annotations"] = {"run.oci.handler": "teleport"}
    r = runtime.create(b)
    assert r.rc != 0, r
    assert 'annotations."run.oci.handler"' in r.err and "teleport" in r.err, r
    assert "native" in r.err, r  # names what it has
    assert not (runtime.root / r.id).exists()


# ---- the state: launcher and undo record ------------------------------------------------------

def undo_entries(runtime, cid):
    text = (runtime.root / cid / "undo").read_text()
    assert text.endswith("\n")
    return [line.split("\t") for line in text.splitlines()]


def test_state_names_the_launcher_and_the_undo_record_what_was_made(runtime, bundle):
    b = bundle(["sleep", "60"])
    r = runtime.create(b)
    assert r.rc == 0, r
    st = json.loads((runtime.root / r.id / "state.json").read_text())
    assert st["launcher"] == "native"
    kinds = [e[0] for e in undo_entries(runtime, r.id)]
    assert kinds == ["cgroup", "process"], kinds
    cg = undo_entries(runtime, r.id)[0]
    assert cg[2:] == st["cgroupDirs"], (cg, st)
    proc = undo_entries(runtime, r.id)[1]
    assert int(proc[1]) == st["pid"]
    assert runtime("delete", "--force", r.id).rc == 0
    assert not find_cgroups(r.id)


def test_killed_create_is_undone_by_delete_force(runtime, bundle, testdir):
    """create is SIGKILLed while its prestart hook runs (the init exists, sits in its cgroup
    and waits): the hook dies with it, and delete --force removes the init, the cgroup and the
    state."""
    b = bundle(["sleep", "60"])
    started = testdir / "hook-started"
    b.config["hooks"] = {"prestart": [{
        "path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {started}; exec sleep 30"]}]}
    b.save()
    cid = runtime.new_id()
    p = runtime.spawn("create", "--bundle", b.path, cid)
    end = time.monotonic() + 20
    while (not started.exists() or not started.read_text().strip()) and \
            time.monotonic() < end:
        time.sleep(0.02)
    assert started.exists(), "the prestart hook never ran"
    hook = int(started.read_text())
    state = json.loads((runtime.root / cid / "state.json").read_text())
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    end = time.monotonic() + 5  # the hook dies with the runtime that ran it
    while Path(f"/proc/{hook}").exists() and time.monotonic() < end:
        time.sleep(0.02)
    alive = Path(f"/proc/{hook}").exists()
    if alive:
        kill_pid(hook)
    assert not alive, "the prestart hook outlived the killed runtime"
    assert [e[0] for e in undo_entries(runtime, cid)] == ["cgroup", "process"]
    assert find_cgroups(cid)
    d = runtime("delete", "--force", cid)
    assert d.rc == 0, d
    assert not (runtime.root / cid).exists()
    assert not find_cgroups(cid)
    assert not Path(f"/proc/{state['pid']}").exists() or \
        "sleep" not in Path(f"/proc/{state['pid']}/cmdline").read_text()


def test_undo_record_cut_short_is_replayed(runtime, bundle):
    """A line without its newline names a resource that was never made: it is skipped, the
    rest is undone."""
    b = bundle(["sleep", "60"])
    r = runtime.create(b)
    assert r.rc == 0, r
    with open(runtime.root / r.id / "undo", "a") as f:
        f.write("cgroup\tv1\t/sys/fs/cgroup/memory/never-made-by")
    d = runtime("delete", "--force", r.id)
    assert d.rc == 0, d
    assert not find_cgroups(r.id)


def test_unknown_undo_kind_keeps_the_container(runtime, bundle):
    b = bundle(["sleep", "60"])
    r = runtime.create(b)
    assert r.rc == 0, r
    undo = runtime.root / r.id / "undo"
    good = undo.read_text()
    undo.write_text(good + "warp-core\tx\n")
    d = runtime("delete", "--force", r.id)
    assert d.rc != 0 and "unknown kind of resource `warp-core`" in d.err, d
    assert (runtime.root / r.id).exists()
    undo.write_text(good)
    assert runtime("delete", "--force", r.id).rc == 0


# ---- the stored config ------------------------------------------------------------------------

def test_stored_config_that_no_longer_parses_is_reported(runtime, bundle, testdir):
    b = bundle(["true"])
    marker = testdir / "poststop-ran"
    b.config["hooks"] = {"poststop": [{"path": "/bin/sh",
                                       "args": ["sh", "-c", f"echo x > {marker}"]}]}
    r = runtime.create(b)
    assert r.rc == 0, r
    (runtime.root / r.id / "config.json").write_text("{not json")
    s = runtime("start", r.id)
    assert s.rc == 0, s
    assert "poststart hooks not run" in s.err and "config.json" in s.err, s
    runtime.wait_status(r.id, "stopped")
    d = runtime("delete", r.id)
    assert d.rc == 0, d
    assert "poststop hooks not run" in d.err and \
        str(runtime.root / r.id / "config.json") in d.err, d
    assert not marker.exists()
    e = runtime("exec", r.id, "true")
    assert e.rc != 0


def test_exec_reads_the_stored_config_error(runtime, bundle):
    b = bundle(["sleep", "60"])
    r = runtime.create(b)
    assert r.rc == 0, r
    (runtime.root / r.id / "config.json").write_text("[]")
    e = runtime("exec", r.id, CHECKER, "ids")
    assert e.rc != 0 and "config.json" in e.err and r.id in e.err, e
