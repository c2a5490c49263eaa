"""OCI hooks, all six kinds: order, namespaces, state on stdin, env, timeout, failures.

Each hook runs a small shell script that records, in DIR/KIND, its mount namespace, $HOOKVAR
and the state JSON it read on stdin, and appends KIND to DIR/order. Hooks that run in the
runtime's namespace use a host script; startContainer runs inside the container (its path
resolves in the container), so it uses the container's /bin/sh and writes to DIR bind-mounted
at /hooks."""

import json
import os
import time

import pytest

from conftest import CHECKER, IS_CAPSA, host_ns

KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
         "poststop"]

SCRIPT = r"""
kind=$1; out=$2; code=${3:-0}; nap=${4:-0}
[ "$nap" != 0 ] && sleep "$nap"
echo "$kind" >> "$out/order"
{ readlink /proc/self/ns/mnt; echo "HOOKVAR=$HOOKVAR"; cat; } > "$out/$kind"
exit "$code"
"""


@pytest.fixture
def hookdir(testdir):
    d = testdir / "hooks"
    d.mkdir()
    os.chmod(d, 0o777)
    script = testdir / "hook.sh"
    script.write_text("#!/bin/sh\n" + SCRIPT)
    script.chmod(0o755)
    return d, script


def hook(kind, hookdir, code=0, nap=0, timeout=None):
    d, script = hookdir
    if kind == "startContainer":  # resolved and run inside the container
        h = {"path": "/bin/sh", "args": ["sh", "-c", SCRIPT, "sh", kind, "/hooks", str(code),
                                         str(nap)]}
    else:
        h = {"path": str(script), "args": [str(script), kind, str(d), str(code), str(nap)]}
    h["env"] = ["HOOKVAR=" + kind, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
    if timeout:
        h["timeout"] = timeout
    return h


def hooked_bundle(bundle, hookdir, hooks):
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "30"]
    b.add_mount("/hooks", "bind", hookdir[0], ["rbind", "rw"])
    b.config["hooks"] = {}
    for kind, h in hooks:
        b.config["hooks"].setdefault(kind, []).append(h)
    return b


def record(hookdir, kind):
    lines = (hookdir[0] / kind).read_text().splitlines()
    return {"mnt": lines[0], "env": lines[1], "state": json.loads("\n".join(lines[2:]))}


def order(hookdir):
    p = hookdir[0] / "order"
    return p.read_text().split() if p.exists() else []


def test_all_hooks_order_namespaces_state_env(runtime, bundle, hookdir):
    b = hooked_bundle(bundle, hookdir, [(k, hook(k, hookdir)) for k in KINDS])
    r = runtime.create(b)
    assert r.rc == 0, r
    cid = r.id
    pid = runtime.state(cid)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    if IS_CAPSA:  # runc 1.1 also runs poststart hooks here, at create
        assert order(hookdir) == KINDS[:3]
    assert runtime("start", cid).rc == 0
    runtime.wait_status(cid, "running")
    deadline = time.monotonic() + 10
    while len(order(hookdir)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime("kill", cid, "KILL").rc == 0
    runtime.wait_status(cid, "stopped")
    assert runtime("delete", cid).rc == 0
    assert sorted(order(hookdir)) == sorted(KINDS)
    if IS_CAPSA:
        assert order(hookdir) == KINDS
    expect_status = {"prestart": "creating", "createRuntime": "creating",
                     "createContainer": "creating", "startContainer": "created",
                     "poststart": "running", "poststop": "stopped"}
    for kind in KINDS:
        rec = record(hookdir, kind)
        assert rec["env"] == "HOOKVAR=" + kind, (kind, rec)
        st = rec["state"]
        assert st["id"] == cid, (kind, st)
        if IS_CAPSA or kind != "poststart":  # runc 1.1 runs poststart at create
            assert st["status"] == expect_status[kind], (kind, st)
        assert os.path.realpath(st["bundle"]) == os.path.realpath(b.path), (kind, st)
        # createContainer and startContainer run in the container's namespaces: there (as
        # runc does) the pid is the init's pid in the container's pid namespace, 1
        inside = kind in ("createContainer", "startContainer")
        if kind != "poststop":
            assert st["pid"] == (1 if inside else pid), (kind, st)
        assert rec["mnt"] == (container_mnt if inside else host_ns("mnt")), (kind, rec)


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_creation_hook_aborts_and_cleans_up(runtime, bundle, hookdir, kind):
    b = hooked_bundle(bundle, hookdir, [(kind, hook(kind, hookdir, code=3))])
    r = runtime.create(b)
    assert r.rc != 0, r
    if IS_CAPSA:  # runc says "error running hook #0"
        assert kind in r.err, r
    assert runtime("state", r.id).rc != 0  # nothing left (the teardown checks the rest)


def test_hook_timeout(runtime, bundle, hookdir):
    b = hooked_bundle(bundle, hookdir, [("prestart", hook("prestart", hookdir, nap=20,
                                                           timeout=1))])
    t = time.monotonic()
    r = runtime.create(b)
    assert r.rc != 0, r
    if IS_CAPSA:  # runc 1.1 waits for the hook to end anyway
        assert time.monotonic() - t < 10
        assert "timed out" in r.err, r
    assert runtime("state", r.id).rc != 0


def test_poststop_failure_is_only_logged(runtime, bundle, hookdir):
    b = hooked_bundle(bundle, hookdir, [("poststop", hook("poststop", hookdir, code=1))])
    r = runtime.create(b)
    assert r.rc == 0, r
    r2 = runtime("delete", "--force", r.id)
    assert r2.rc == 0, r2
    assert order(hookdir) == ["poststop"]
    assert runtime("state", r.id).rc != 0


@pytest.mark.capsa_only
def test_poststart_failure_is_only_logged(runtime, bundle, hookdir):
    # OCI: a failing poststart hook is logged and the lifecycle continues
    b = hooked_bundle(bundle, hookdir, [("poststart", hook("poststart", hookdir, code=1))])
    r = runtime.create(b)
    assert r.rc == 0, r
    r2 = runtime("start", r.id)
    assert r2.rc == 0, r2
    assert "poststart" in r2.err, r2
    assert runtime.state(r.id)["status"] == "running"


def test_failing_start_container_hook_stops_the_container(runtime, bundle, hookdir):
    b = hooked_bundle(bundle, hookdir, [("startContainer",
                                         hook("startContainer", hookdir, code=1))])
    b.process["args"] = ["/bin/sh", "-c", "touch /hooks/user-process-ran; sleep 30"]
    r = runtime.create(b)
    assert r.rc == 0, r
    runtime("start", r.id)
    runtime.wait_status(r.id, "stopped")
    assert order(hookdir) == ["startContainer"]
    assert not (hookdir[0] / "user-process-ran").exists()
