"""`exec`'s working directory: process.cwd (the container's config or --process) or --cwd,
resolved inside the container's root as the init resolves its own (CVE-2024-21626): a symlink
climbing out of the root ends at the root's top, a magic link (/proc/self/fd/N, /proc/PID/cwd)
is refused, and no host fd reaches the process.  Where runc behaves the same, the tests run
against it too (CAPSA=/usr/sbin/runc)."""

import json
import os
import subprocess

import pytest

from conftest import CHECKER, check_json, detached

MARKER = "capsa-root-marker"


def running(runtime, bundle, mutate=None):
    """A detached container whose init sleeps, with symlinks that try to leave the root and a
    marker file at the root's top; returns (cid, bundle)."""
    def prepare(b):
        (b.rootfs / MARKER).write_text("inside")
        os.symlink("/../../../../..", b.rootfs / "up")
        os.symlink("../../../../../../..", b.rootfs / "relup")
        os.makedirs(b.rootfs / "work" / "sub", exist_ok=True)
        os.symlink("/work/sub", b.rootfs / "tosub")
        os.symlink("/proc/self/fd/1", b.rootfs / "fdlink")
        os.symlink("/proc/self/cwd", b.rootfs / "cwdlink")
        if mutate:
            mutate(b)
    return detached(runtime, bundle, mutate=prepare)


@pytest.mark.parametrize("link", ["/up", "/relup", "/up/up/relup"])
def test_symlink_out_of_the_root_ends_at_its_top(runtime, bundle, link):
    cid, _ = running(runtime, bundle)
    assert check_json(runtime("exec", "--cwd", link, cid, CHECKER, "cwd"))["cwd"] == "/"
    # what the process sees at "." is the container's root, not the host's
    out = check_json(runtime("exec", "--cwd", link, cid, CHECKER, "cat", MARKER))
    assert out[MARKER] == "inside", out


def test_symlink_inside_the_root_is_followed(runtime, bundle):
    cid, _ = running(runtime, bundle)
    assert check_json(runtime("exec", "--cwd", "/tosub", cid, CHECKER, "cwd"))["cwd"] == \
        "/work/sub"


def test_process_file_cwd_resolved_in_root(runtime, bundle, testdir):
    cid, _ = running(runtime, bundle)
    pf = testdir / "process.json"
    pf.write_text(json.dumps({"args": [CHECKER, "cwd"], "cwd": "/up", "env": ["PATH=/bin"]}))
    assert check_json(runtime("exec", "--process", pf, cid))["cwd"] == "/"


def test_config_cwd_resolved_in_root(runtime, bundle):
    """The container's process.cwd is a symlink that climbs out: exec (no --cwd) ends at the
    root's top, like the init."""
    def cfg(b):
        b.process["cwd"] = "/up"
    cid, _ = running(runtime, bundle, cfg)
    assert check_json(runtime("exec", cid, CHECKER, "cwd"))["cwd"] == "/"


@pytest.mark.capsa_only
@pytest.mark.parametrize("cwd", ["/fdlink", "/cwdlink", "/proc/self/fd/2", "/proc/1/cwd",
                                 "/proc/self/root/tmp"])
def test_magic_link_refused(runtime, bundle, cwd):
    """runc follows magic links in cwd and then checks where it landed; capsa never follows
    them (RESOLVE_NO_MAGICLINKS), so no fd of the runtime can become the cwd."""
    cid, _ = running(runtime, bundle)
    r = runtime("exec", "--cwd", cwd, cid, CHECKER, "cwd")
    assert r.rc != 0, r
    assert f"--cwd `{cwd}`" in r.err and "process.cwd" in r.err, r
    assert "magic link" in r.err or "Too many levels of symbolic links" in r.err, r


def test_missing_cwd_is_an_error_naming_it(runtime, bundle):
    cid, _ = running(runtime, bundle)
    r = runtime("exec", "--cwd", "/nonexistent-cwd", cid, CHECKER, "cwd")
    assert r.rc != 0, r
    assert "/nonexistent-cwd" in r.err and "no such file or directory" in r.err.lower(), r


@pytest.mark.capsa_only
def test_missing_cwd_error_names_the_source(runtime, bundle):
    def cfg(b):
        b.process["cwd"] = "/work/gone"
        b.config["root"]["readonly"] = False
    cid, _ = running(runtime, bundle, cfg)
    r = runtime("exec", "--cwd", "/nonexistent-cwd", cid, CHECKER, "cwd")
    assert r.rc != 0 and "--cwd `/nonexistent-cwd`" in r.err, r
    # process.cwd of the config, removed since the start
    assert runtime("exec", cid, "/bin/rmdir", "/work/gone").rc == 0
    r = runtime("exec", cid, CHECKER, "cwd")
    assert r.rc != 0, r
    assert "process.cwd" in r.err and "/work/gone" in r.err and "--cwd" not in r.err, r


def test_no_host_fd_reaches_the_process(runtime, bundle, testdir):
    """fds the caller did not preserve are closed: the process sees 0-2 (and the preserved
    ones), nothing of the caller's or the runtime's (namespace fds, the container's root, sync
    sockets).  The caller holds a host directory open as fds 3 and 7."""
    cid, _ = running(runtime, bundle)

    def exec_fds(*flags):
        argv = ["/bin/sh", "-c", 'exec "$@" 3<"$D" 7<"$D"', "sh"] + \
            runtime.argv("exec", *flags, cid, CHECKER, "fds")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, D=str(testdir)))
        assert r.returncode == 0, r
        return json.loads(r.stdout)["fds"]

    assert set(exec_fds("--cwd", "/up")) == {"0", "1", "2"}
    fds = exec_fds("--preserve-fds", "1")
    assert set(fds) == {"0", "1", "2", "3"}, fds
