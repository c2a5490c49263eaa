"""Error cases: a clear non-zero failure, one message, and nothing left behind (the runtime
fixture's teardown asserts no state dir, mount, cgroup or process remains)."""

import json
import os
import time

import pytest

from conftest import CHECKER, IS_CAPSA


def fails(r, *words):
    """Non-zero exit and a message on stderr mentioning every word (case-insensitively)."""
    assert r.rc != 0, r
    msg = (r.err + r.out).lower()
    assert msg.strip(), f"no error message: {r}"
    for w in words:
        assert w.lower() in msg, f"message does not mention {w!r}: {r}"
    return msg


def run_raw(runtime, b, *extra):
    cid = runtime.new_id()
    return runtime("run", "--bundle", b.path, *extra, cid), cid


def test_malformed_json(runtime, bundle):
    b = bundle()
    (b.path / "config.json").write_text('{\n  "ociVersion": "1.0.2",\n  "process": {,\n}\n')
    r, cid = run_raw(runtime, b)
    msg = fails(r)
    if IS_CAPSA:
        assert "config.json" in msg and "line" in msg, r
        assert "3" in msg, r  # the line of the error
    assert runtime("state", cid).rc != 0


def test_truncated_json(runtime, bundle):
    b = bundle()
    (b.path / "config.json").write_text(json.dumps(b.config)[:-20])
    r, _ = run_raw(runtime, b)
    fails(r)


def test_missing_config(runtime, bundle):
    b = bundle()
    os.unlink(b.path / "config.json")
    r, _ = run_raw(runtime, b)
    fails(r, "config.json")


def test_missing_bundle_dir(runtime, testdir):
    cid = runtime.new_id()
    r = runtime("run", "--bundle", testdir / "nonexistent", cid)
    fails(r)


def test_missing_rootfs(runtime, bundle):
    b = bundle()
    b.config["root"]["path"] = "no-such-rootfs"
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r, "no-such-rootfs")


def test_unknown_namespace_type(runtime, bundle):
    b = bundle()
    b.linux["namespaces"].append({"type": "bogusns"})
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r, "bogusns")


@pytest.mark.parametrize("path,value,jpath", [
    (("process", "args"), "notalist", "process.args"),
    (("process", "user", "uid"), "zero", "process.user.uid"),
    (("process", "cwd"), 5, "process.cwd"),
    (("root", "readonly"), "yes", "root.readonly"),
    (("linux", "namespaces"), {"type": "pid"}, "linux.namespaces"),
])
def test_wrong_json_types(runtime, bundle, path, value, jpath):
    b = bundle()
    d = b.config
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    b.save()
    r, _ = run_raw(runtime, b)
    msg = fails(r)
    if IS_CAPSA:
        assert jpath.lower() in msg, r


@pytest.mark.capsa_only
def test_wrong_type_memory_limit_names_path(runtime, bundle):
    b = bundle()
    b.linux["resources"] = {"memory": {"limit": "1g"}}
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r, "linux.resources.memory.limit")


def test_missing_executable(runtime, bundle):
    b = bundle()
    b.process["args"] = ["/bin/no-such-binary"]
    b.save()
    r, cid = run_raw(runtime, b)
    fails(r, "no-such-binary")


def test_missing_executable_create(runtime, bundle):
    b = bundle()
    b.process["args"] = ["no-such-binary-in-path"]
    r = runtime.create(b)
    assert r.rc != 0 or runtime("start", r.id).rc != 0, r


def test_not_executable(runtime, bundle):
    b = bundle()
    (b.rootfs / "notexec").write_text("data")
    b.process["args"] = ["/notexec"]
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r)


def test_empty_args(runtime, bundle):
    b = bundle()
    b.process["args"] = []
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r)


def test_bad_mount_source(runtime, bundle, testdir):
    b = bundle()
    b.add_mount("/mnt/x", "bind", testdir / "does-not-exist", ["bind"])
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r, "does-not-exist")


def test_bad_mount_type(runtime, bundle):
    b = bundle()
    b.add_mount("/mnt/x", "nosuchfs", "none", [])
    b.save()
    r, _ = run_raw(runtime, b)
    fails(r)


def test_bad_signal(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    cid = runtime.new_id()
    assert runtime.run(b, "--detach", cid=cid).rc == 0
    for sig in ("SIGFOO", "FOO", "999", "-1"):
        r = runtime("kill", cid, sig)
        assert r.rc != 0, r
    assert runtime.state(cid)["status"] == "running"


def test_duplicate_id(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    r = runtime.create(b)
    assert r.rc == 0, r
    r2 = runtime.create(bundle(), cid=r.id)
    fails(r2, "exist", *([r.id] if IS_CAPSA else []))
    st = runtime.state(r.id)
    assert st["status"] == "created" and os.path.realpath(st["bundle"]) == str(b.path)


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".", "../escape"])
def test_invalid_ids(runtime, bundle, bad):
    b = bundle()
    b.save()
    r = runtime("create", "--bundle", b.path, bad)
    assert r.rc != 0, r
    r = runtime("run", "--bundle", b.path, bad)
    assert r.rc != 0, r
    assert not (runtime.root.parent / "escape").exists()


def test_command_on_unknown_container(runtime):
    cid = runtime.new_id()
    for cmd in (("state", cid), ("start", cid), ("kill", cid, "KILL")):
        r = runtime(*cmd)
        fails(r, "not exist" if not IS_CAPSA else cid)


def test_start_stopped_container_fails(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "exit", "0"]
    cid = runtime.new_id()
    assert runtime.run(b, "--keep", cid=cid).rc == 0
    assert runtime("start", cid).rc != 0


def test_kill_stopped_container_fails(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "exit", "0"]
    cid = runtime.new_id()
    assert runtime.run(b, "--keep", cid=cid).rc == 0
    assert runtime("kill", cid, "KILL").rc != 0


def test_failed_create_leaves_nothing(runtime, bundle, testdir):
    """A failure late in create (a bind mount whose source vanished) after namespaces and
    cgroups exist: everything is undone (teardown checks it)."""
    b = bundle()
    b.linux["resources"] = {"pids": {"limit": 10}}
    b.add_mount("/mnt/x", "bind", testdir / "gone", ["bind"])
    r = runtime.create(b)
    assert r.rc != 0, r
    assert runtime("state", r.id).rc != 0
