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


@pytest.mark.launchers
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


@pytest.mark.launchers
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


@pytest.mark.launchers
def test_bad_signal(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    cid = runtime.new_id()
    assert runtime.run(b, "--detach", cid=cid).rc == 0
    for sig in ("SIGFOO", "FOO", "999", "-1"):
        r = runtime("kill", cid, sig)
        assert r.rc != 0, r
    assert runtime.state(cid)["status"] == "running"


@pytest.mark.launchers
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


@pytest.mark.launchers
def test_failed_create_leaves_nothing(runtime, bundle, testdir):
    """A failure late in create (a bind mount whose source vanished) after namespaces and
    cgroups exist: everything is undone (teardown checks it)."""
    b = bundle()
    b.linux["resources"] = {"pids": {"limit": 10}}
    b.add_mount("/mnt/x", "bind", testdir / "gone", ["bind"])
    r = runtime.create(b)
    assert r.rc != 0, r
    assert runtime("state", r.id).rc != 0


# ---- JSON limits: every JSON capsa reads refuses excessive depth, size and `\u0000` ------------

DEEP = "[" * 300000 + "]" * 300000


def crashed(r):
    """A signal death (a SIGSEGV from a stack overflow: rc -11)."""
    return r.rc < 0


def refuses(r, *words):
    assert not crashed(r), f"crashed: {r}"
    return fails(r, *words)


def write_config(b, text):
    (b.path / "config.json").write_text(text)


def with_nul(cfg, path, value):
    """cfg as JSON text with `value` (a string holding \\u0000) at path (a tuple of keys)."""
    node = cfg
    for k in path[:-1]:
        node = node.setdefault(k, {})
    node[path[-1]] = value
    return json.dumps(cfg)  # json.dumps writes "\u0000" for a NUL character


@pytest.mark.capsa_only
@pytest.mark.parametrize("cmd", ["create", "run"])
def test_json_deep_config_refused(runtime, bundle, cmd):
    b = bundle()
    write_config(b, DEEP)
    r, cid = run_raw(runtime, b) if cmd == "run" else (None, runtime.new_id())
    if cmd == "create":
        r = runtime("create", "--bundle", b.path, cid)
    refuses(r, "config.json", "nesting deeper than 64 levels", "line 1, column 65")
    assert runtime("state", cid).rc != 0


@pytest.mark.capsa_only
def test_json_deep_config_in_object_refused(runtime, bundle):
    b = bundle()
    cfg = dict(b.config)
    cfg["annotations"] = {"x": "y"}
    text = json.dumps(cfg)[:-1] + ', "deep": ' + "[" * 300000 + "]" * 300000 + "}"
    write_config(b, text)
    r, cid = run_raw(runtime, b)
    refuses(r, "config.json", "nesting deeper than 64 levels")


@pytest.mark.capsa_only
def test_json_huge_config_refused(runtime, bundle):
    b = bundle()
    text = json.dumps(b.config)
    write_config(b, text[:-1] + ', "pad": "' + "x" * (17 << 20) + '"}')
    r, cid = run_raw(runtime, b)
    refuses(r, "config.json", "larger than 16 MiB")
    assert runtime("state", cid).rc != 0


@pytest.mark.capsa_only
@pytest.mark.parametrize("path,value,jpath", [
    (("process", "args"), [CHECKER, "exit\u00000"], "process.args[1]"),
    (("root", "path"), "rootfs\u0000/../../etc", "root.path"),
    (("linux", "cgroupsPath"), "/capsa-it-nul\u0000/../x", "linux.cgroupsPath"),
    (("process", "env"), ["A=1", "PATH=/bin\u0000:/evil"], "process.env[1]"),
    (("annotations",), {"k\u0000x": "v"}, "annotations.k\\u0000x: key"),
], ids=["args", "root", "cgroupsPath", "env", "annotation-key"])
def test_json_nul_in_config_refused(runtime, bundle, path, value, jpath):
    b = bundle()
    write_config(b, with_nul(b.config, path, value))
    assert "\\u0000" in (b.path / "config.json").read_text()
    r, cid = run_raw(runtime, b)
    refuses(r, "config.json", jpath, "NUL byte")
    assert runtime("state", cid).rc != 0


def running_sleeper(runtime, bundle):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid)
    assert r.rc == 0, r
    return cid


@pytest.mark.capsa_only
def test_json_exec_process_file_limits(runtime, bundle, testdir):
    cid = running_sleeper(runtime, bundle)
    pf = testdir / "process.json"
    before = runtime("ps", "--format", "json", cid)
    pf.write_text(DEEP)
    r = runtime("exec", "--process", pf, cid)
    refuses(r, "process.json", "nesting deeper than 64")
    assert r.err.count("process.json") == 1, r  # the file named once
    pf.write_text(json.dumps({"args": [CHECKER, "exit\u00000"], "cwd": "/"}))
    refuses(runtime("exec", "--process", pf, cid), "process.json", "args[1]", "NUL byte")
    pf.write_text(json.dumps({"args": [CHECKER, "env"], "cwd": "/tmp\u0000/x"}))
    refuses(runtime("exec", "--process", pf, cid), "process.json", "cwd", "NUL byte")
    pf.write_text(json.dumps({"args": [CHECKER, "env"], "cwd": "/", "pad": "x" * (17 << 20)}))
    refuses(runtime("exec", "--process", pf, cid), "larger than 16 MiB")
    # nothing was started by the refused execs: the same processes as before
    assert runtime("ps", "--format", "json", cid).out == before.out
    assert runtime.state(cid)["status"] == "running"


@pytest.mark.capsa_only
def test_json_update_resources_limits(runtime, bundle, testdir):
    cid = running_sleeper(runtime, bundle)
    f = testdir / "res.json"
    f.write_text(DEEP)
    r = runtime("update", "-r", f, cid)
    refuses(r, "res.json", "nesting deeper than 64")
    assert r.err.count("res.json") == 1, r
    refuses(runtime("update", "-r", "-", cid, input=DEEP), "stdin", "nesting deeper than 64")
    f.write_text(json.dumps({"cpu": {"cpus": "0\u0000-1"}}))
    refuses(runtime("update", "-r", f, cid), "res.json", "cpu.cpus", "NUL byte")
    f.write_text(json.dumps({"pids": {"limit": 20}, "pad": "x" * (17 << 20)}))
    refuses(runtime("update", "-r", f, cid), "larger than 16 MiB")
    assert runtime.state(cid)["status"] == "running"


@pytest.mark.capsa_only
@pytest.mark.parametrize("bad,words", [
    (DEEP, ("state.json", "nesting deeper than 64")),
    ('{"id": "x", "bundle": "/b\\u0000/c", "pid": 1}', ("state.json", "bundle", "NUL byte")),
    ('{"id": ', ("state.json", "invalid JSON")),
], ids=["deep", "nul", "truncated"])
def test_json_corrupt_state_refused(runtime, bundle, bad, words):
    """A corrupted state.json: every command refuses it with a clear message and no crash; once
    restored, the container is deleted as usual (teardown checks nothing is left)."""
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    r = runtime.create(b)
    assert r.rc == 0, r
    sf = runtime.root / r.id / "state.json"
    good = sf.read_text()
    sf.write_text(bad)
    try:
        for cmd in (("state", r.id), ("start", r.id), ("kill", r.id, "KILL"),
                    ("delete", r.id), ("exec", r.id, CHECKER, "ids"), ("update", "--pids-limit",
                                                                      "10", r.id)):
            refuses(runtime(*cmd), r.id, *words)
        assert not crashed(runtime("list"))
    finally:
        sf.write_text(good)
    assert runtime("delete", "--force", r.id).rc == 0


@pytest.mark.capsa_only
def test_json_corrupt_tenant_registry_refused(runtime, bundle):
    runtime.root.mkdir(exist_ok=True)
    reg, lock = runtime.root / "tenants.json", runtime.root / "tenants.lock"
    lock.touch()
    try:
        for bad, words in ((DEEP, ("tenants.json", "nesting deeper than 64")),
                           ('{"tenants": [{"name": "A\\u0000B", "firstId": 100000}]}',
                            ("tenants.json", "tenants[0].name", "NUL byte"))):
            reg.write_text(bad)
            refuses(runtime("tenant", "list"), *words)
            b = bundle()
            r, cid = run_raw(runtime, b, "--tenant", "A")
            refuses(r, *words)
            assert runtime("state", cid).rc != 0
    finally:
        for f in (reg, lock):
            f.unlink(missing_ok=True)
