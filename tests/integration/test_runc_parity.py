"""Behaviour where capsa differed from runc 1.1.5 (issue 8): each test failed before its fix."""

import os
import signal
import subprocess
import time

import pytest

from conftest import detached, CHECKER, IS_CAPSA



def test_start_on_a_container_that_is_not_created_fails_cleanly(runtime, bundle):
    """Was a SIGSEGV (a goto over _cleanup_ declarations)."""
    cid, _ = detached(runtime, bundle)
    r = runtime("start", cid)
    assert r.rc == 1, r  # not a signal
    assert runtime("pause", cid).rc == 0
    r = runtime("start", cid)
    assert r.rc == 1, r
    assert runtime("resume", cid).rc == 0
    assert runtime("kill", cid, "KILL").rc == 0
    runtime.wait_status(cid, "stopped")
    r = runtime("start", cid)
    assert r.rc == 1, r


def test_ignored_signals_are_reset_for_the_container(runtime, bundle):
    """Started under a supervisor that ignores TERM, the container must still die of TERM."""
    b = bundle(["/bin/sleep", "60"])
    b.set_namespaces(["ipc", "uts", "mount", "network"])  # not pid 1: TERM's default kills
    cid = runtime.new_id()
    b.save()
    argv = runtime.argv("run", "--detach", "--bundle", b.path, cid)
    # stdio not to pipes: the detached container would hold them open
    r = subprocess.run(argv, cwd=runtime.testdir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30,
                       preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
    assert r.returncode == 0, r
    pid = runtime.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        ign = int([l for l in f if l.startswith("SigIgn:")][0].split()[1], 16)
    assert not ign & (1 << (signal.SIGTERM - 1)), f"SigIgn {ign:#x} still ignores TERM"
    assert runtime("kill", cid, "TERM").rc == 0
    runtime.wait_status(cid, "stopped")


def test_delete_refuses_a_paused_container(runtime, bundle):
    cid, _ = detached(runtime, bundle)
    assert runtime("pause", cid).rc == 0
    r = runtime("delete", cid)
    assert r.rc != 0, r
    assert runtime.state(cid)["status"] == "paused"
    assert runtime("delete", "--force", cid).rc == 0


def test_sysctl_kernel_hostname_is_refused(runtime, bundle):
    b = bundle()
    b.linux["sysctl"] = {"kernel.hostname": "x"}
    r = runtime.run(b)
    assert r.rc != 0, r
    assert "hostname" in r.err, r


def test_proc_on_a_symlink_is_refused(runtime, bundle):
    b = bundle()
    proc = b.path / "rootfs" / "proc"
    if proc.is_dir():
        os.rmdir(proc)
    os.symlink("/tmp", proc)
    r = runtime.run(b)
    assert r.rc != 0, r
    assert "ordinary directory" in r.err or not IS_CAPSA, r


def hook(script):
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def test_hooks_without_env_get_the_runtimes_environment(runtime, bundle, testdir):
    out = testdir / "hook-env"
    b = bundle()
    b.config["hooks"] = {"prestart": [hook(f"echo PATH=$PATH > {out}")]}
    r = runtime.run(b)
    assert r.rc == 0, r
    assert out.read_text().strip() not in ("PATH=", ""), out.read_text()


def test_create_container_hook_runs_in_the_rootfs(runtime, bundle, testdir):
    """runc runs createContainer hooks from the rootfs: their relative paths land there."""
    b = bundle()
    b.config["hooks"] = {"createContainer": [hook("touch ./hook-was-here")]}
    r = runtime.run(b)
    assert r.rc == 0, r
    assert (b.path / "rootfs" / "hook-was-here").exists()


@pytest.mark.capsa_only  # the OCI spec's rule; runc 1.1.5 stops at the failing hook
def test_failed_poststop_hook_does_not_stop_the_next(runtime, bundle, testdir):
    second = testdir / "second-ran"
    b = bundle()
    b.config["hooks"] = {"poststop": [hook("exit 3"), hook(f"touch {second}")]}
    r = runtime.run(b)
    assert r.rc == 0, r
    assert second.exists(), "the hook after a failing poststop hook did not run"


def test_start_returns_once_the_process_runs(runtime, bundle):
    """A signal right after start reaches the user's process (runtime-tools killsig)."""
    b = bundle(["/bin/sh", "-c", "trap 'exit 42' USR1; touch /ready; while :; do sleep 0.01; done"])
    for _ in range(5):
        cid = runtime.new_id()
        r = runtime.create(b, cid=cid)
        assert r.rc == 0, r
        assert runtime("start", cid).rc == 0
        st = runtime.state(cid)
        assert st["status"] == "running"
        exe = os.readlink(f"/proc/{st['pid']}/exe")
        assert "capsa" not in exe and "memfd" not in exe, exe
        runtime("delete", "--force", cid)
    time.sleep(0)



def test_no_pivot_leaves_no_fully_visible_proc(runtime, bundle):
    """With --no-pivot the old root stays beneath the chroot; a fully visible proc there would
    let a user+pid namespace inside mount a fresh one (runc's no_pivot.bats)."""
    b = bundle(["unshare", "-mrpf", "sh", "-euxc",
                "mount -t proc none /proc && echo h > /proc/sysrq-trigger"])
    for k in ("bounding", "permitted"):
        b.process["capabilities"][k].append("CAP_SETFCAP")
    b.process["terminal"] = False
    r = runtime.run(b, "--no-pivot")
    assert r.rc != 0, r
    assert "permission denied" in (r.out + r.err).lower(), r


def test_list_json_has_runcs_keys_in_runcs_order(runtime, bundle):
    cid, b = detached(runtime, bundle)
    r = runtime("list", "--format", "json")
    assert r.rc == 0, r
    import json
    entry = json.loads(r.out)[0]
    keys = [k for k in entry if k != "annotations"]
    assert keys == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                    "owner"], keys
    assert entry["rootfs"] == str(b.path / "rootfs")


def test_kill_all_on_a_stopped_container_succeeds(runtime, bundle):
    """runc signals whatever is left in the cgroup with --all, even once the init is gone."""
    cid, _ = detached(runtime, bundle)
    assert runtime("kill", cid, "KILL").rc == 0
    runtime.wait_status(cid, "stopped")
    r = runtime("kill", "--all", cid, "KILL")
    assert r.rc == 0, r
    assert runtime("kill", cid, "KILL").rc != 0


@pytest.mark.capsa_only  # runc 1.1.5 reports such a container as stopped
def test_state_and_delete_from_another_pid_namespace(runtime, bundle):
    """From a pid namespace that cannot name the container's processes, cgroup.procs reads 0
    for them: state still says running, delete --force still removes it (and never kills 0)."""
    cid, _ = detached(runtime, bundle)
    other = ["unshare", "--pid", "--fork", "--mount", "--mount-proc"]
    r = subprocess.run(other + runtime.argv("state", cid), capture_output=True, text=True,
                       timeout=30, cwd=runtime.testdir)
    assert r.returncode == 0, r
    assert '"running"' in r.stdout, r.stdout
    r = subprocess.run(other + runtime.argv("delete", "--force", cid), capture_output=True,
                       text=True, timeout=30, cwd=runtime.testdir)
    assert r.returncode == 0, r
    assert runtime("state", cid).rc != 0
