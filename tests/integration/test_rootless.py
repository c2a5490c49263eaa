"""Rootless: an unprivileged user runs capsa with its own user namespace, as with
`runc --rootless`.  The module creates a throw-away user (useradd, no home) with its own
/etc/subuid and /etc/subgid lines, runs capsa as that user (runuser) with XDG_RUNTIME_DIR set
to a directory it owns (the default state root is then $XDG_RUNTIME_DIR/capsa), and removes
everything in teardown: the containers, the user, the subordinate-id lines (the files are
restored byte for byte), the state and bundle directories, the user's processes."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import CAPSA, default_config

pytestmark = pytest.mark.capsa_only

SUBID_FILES = ("/etc/subuid", "/etc/subgid")
SUBID_COUNT = 65536


def _snapshot(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _restore(path, data):
    if data is None:
        Path(path).unlink(missing_ok=True)
    else:
        Path(path).write_bytes(data)


def _subid_base(snapshots):
    """A base past every range already granted, so the test user shares ids with nobody."""
    end = 1_000_000
    for data in snapshots:
        for line in (data or b"").decode().splitlines():
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return (end + SUBID_COUNT - 1) // SUBID_COUNT * SUBID_COUNT


def _user_pids(uid):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}").st_uid == uid:
                    pids.append(int(p))
            except OSError:
                pass
    return pids


def _describe(pids):
    out = []
    for p in pids:
        try:
            st = Path(f"/proc/{p}/status").read_text().split("\n")
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            out.append(f"{p} {cmd!r} {st[2]} {st[6]}")
        except OSError:
            pass
    return out


class User:
    """Runs capsa as the test user: runuser -u NAME -- env XDG_RUNTIME_DIR=... capsa ARGS."""

    def __init__(self, name, uid, gid, subid, xdg):
        self.name, self.uid, self.gid, self.subid, self.xdg = name, uid, gid, subid, xdg
        self.ids = []

    def new_id(self):
        cid = f"capsa-rl-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def capsa(self, *args, env=None, timeout=30, netns=None):
        """netns: a namespace path (ip netns) to run in, entered as root before runuser."""
        e = {"XDG_RUNTIME_DIR": str(self.xdg), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        e.update(env or {})
        argv = [f"--net={netns}"] if netns else []
        argv = (["nsenter"] + argv if netns else []) + ["runuser", "-u", self.name, "--", "env",
                                                         "-i"]
        argv += [f"{k}={v}" for k, v in e.items() if v is not None]
        argv += [CAPSA] + [str(a) for a in args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                               text=True, timeout=timeout, cwd="/")
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
        return r


@pytest.fixture(scope="module")
def rl_user():
    if not shutil.which("newuidmap") or not shutil.which("newgidmap"):
        pytest.skip("newuidmap/newgidmap missing (install the uidmap package)")
    if not shutil.which("runuser"):
        pytest.skip("runuser missing (util-linux)")
    saved = {f: _snapshot(f) for f in SUBID_FILES}
    name = f"capsarl{uuid.uuid4().hex[:8]}"
    base = _subid_base(saved.values())
    # SUB_*_COUNT=0: useradd adds no ranges of its own; the test writes exactly one line each
    r = subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin",
                        "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", name],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        pytest.skip(f"useradd failed: {r.stderr.strip()}")
    pw = pwd.getpwnam(name)
    xdg = Path(tempfile.mkdtemp(prefix="capsa-rl-xdg-"))
    user = None
    try:
        for f in SUBID_FILES:
            with open(f, "a") as fh:
                fh.write(f"{name}:{base}:{SUBID_COUNT}\n")
        os.chown(xdg, pw.pw_uid, pw.pw_gid)
        os.chmod(xdg, 0o700)
        user = User(name, pw.pw_uid, pw.pw_gid, base, xdg)
        yield user
    finally:
        for cid in user.ids if user else []:
            user.capsa("delete", "--force", cid)
        for pid in _user_pids(pw.pw_uid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        subprocess.run(["userdel", name], capture_output=True, timeout=30)
        for f, data in saved.items():
            _restore(f, data)
        shutil.rmtree(xdg, ignore_errors=True)


@pytest.fixture
def rl_bundle(rl_user, base_rootfs):
    """A bundle the user can read: a 0755 directory with a copy of the rootfs owned by it."""
    d = Path(tempfile.mkdtemp(prefix="capsa-rl-bundle-"))
    os.chmod(d, 0o755)
    shutil.copytree(base_rootfs, d / "rootfs", symlinks=True)
    subprocess.run(["chown", "-R", "-h", f"{rl_user.uid}:{rl_user.gid}", str(d / "rootfs")],
                   check=True, timeout=60)
    os.chown(d, rl_user.uid, rl_user.gid)
    # the config as `capsa spec --rootless` writes it for this user (spec keeps no state)
    r = rl_user.capsa("spec", "--rootless", "--bundle", d, env={"XDG_RUNTIME_DIR": None})
    assert r.returncode == 0, r
    cfg = json.loads((d / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["root"]["readonly"] = False
    b = {"path": d, "config": cfg}
    yield b
    shutil.rmtree(d, ignore_errors=True)
    end = time.monotonic() + 3  # the killed processes are reaped by whoever adopted them
    while (left := _user_pids(rl_user.uid)) and time.monotonic() < end:
        time.sleep(0.05)
    assert not left, f"processes of the test user left behind: {_describe(left)}"
    state = rl_user.xdg / "capsa"
    assert not (state.exists() and os.listdir(state)), f"state left in {state}"


def save(b, args, **process):
    b["config"]["process"]["args"] = args
    b["config"]["process"].update(process)
    (b["path"] / "config.json").write_text(json.dumps(b["config"], indent=1))


def sub_maps(u):
    """uid 0 -> the user, 1..65536 -> its subordinate ids (needs newuidmap/newgidmap)."""
    return {"uidMappings": [{"containerID": 0, "hostID": u.uid, "size": 1},
                            {"containerID": 1, "hostID": u.subid, "size": SUBID_COUNT}],
            "gidMappings": [{"containerID": 0, "hostID": u.gid, "size": 1},
                            {"containerID": 1, "hostID": u.subid, "size": SUBID_COUNT}]}


def test_rootless_spec_single_mapping(rl_user, rl_bundle):
    save(rl_bundle, ["sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/setgroups"])
    r = rl_user.capsa("run", "--bundle", rl_bundle["path"], rl_user.new_id())
    assert r.returncode == 0, r
    lines = r.stdout.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", str(rl_user.uid), "1"]
    assert lines[2] == "deny"  # an unprivileged gid_map needs setgroups denied
    # no cgroup permission, no limits: it ran without a cgroup and said why
    assert "cannot create the container's cgroup" in r.stderr, r


def test_rootless_false_needs_the_cgroup(rl_user, rl_bundle):
    """--rootless false (runc's global flag): a cgroup the user may not create is an error."""
    save(rl_bundle, ["true"])
    r = rl_user.capsa("--rootless", "false", "run", "--bundle", rl_bundle["path"],
                      rl_user.new_id())
    assert r.returncode == 1, r
    assert "cgroup" in r.stderr and "cannot create the container's cgroup" not in r.stderr, r
    r = rl_user.capsa("--rootless", "auto", "run", "--bundle", rl_bundle["path"],
                      rl_user.new_id())
    assert r.returncode == 0 and "cannot create the container's cgroup" in r.stderr, r


def test_rootless_multiple_ranges_newuidmap(rl_user, rl_bundle):
    rl_bundle["config"]["linux"].update(sub_maps(rl_user))
    save(rl_bundle, ["sh", "-c", "cat /proc/self/uid_map; touch /tmp/by1000; id -u"],
         user={"uid": 1000, "gid": 1000})
    r = rl_user.capsa("run", "--bundle", rl_bundle["path"], rl_user.new_id())
    assert r.returncode == 0, r
    rows = [line.split() for line in r.stdout.strip().split("\n")]
    assert rows[0] == ["0", str(rl_user.uid), "1"]
    assert rows[1] == ["1", str(rl_user.subid), str(SUBID_COUNT)]
    assert rows[2] == ["1000"]
    st = os.stat(rl_bundle["path"] / "rootfs" / "tmp" / "by1000")
    assert (st.st_uid, st.st_gid) == (rl_user.subid + 999, rl_user.subid + 999)


def test_rootless_ranges_not_granted(rl_user, rl_bundle):
    maps = sub_maps(rl_user)
    maps["uidMappings"][1]["hostID"] = rl_user.subid + SUBID_COUNT  # not in /etc/subuid
    rl_bundle["config"]["linux"].update(maps)
    save(rl_bundle, ["true"])
    r = rl_user.capsa("run", "--bundle", rl_bundle["path"], rl_user.new_id())
    assert r.returncode == 1
    assert "linux.uidMappings" in r.stderr and "newuidmap" in r.stderr, r
    assert "/etc/subuid" in r.stderr, r


def test_rootless_newuidmap_missing(rl_user, rl_bundle):
    rl_bundle["config"]["linux"].update(sub_maps(rl_user))
    save(rl_bundle, ["true"])
    r = rl_user.capsa("run", "--bundle", rl_bundle["path"], rl_user.new_id(),
                      env={"PATH": "/nonexistent"})
    assert r.returncode == 1
    assert "newuidmap" in r.stderr and "uidmap package" in r.stderr, r


def test_rootless_lifecycle(rl_user, rl_bundle):
    rl_bundle["config"]["linux"].update(sub_maps(rl_user))
    save(rl_bundle, ["sleep", "60"])
    cid = rl_user.new_id()
    r = rl_user.capsa("create", "--bundle", rl_bundle["path"], cid)
    assert r.returncode == 0, r
    assert (rl_user.xdg / "capsa" / cid / "state.json").is_file()  # the user's own root
    assert not Path("/run/capsa", cid).exists()
    st = json.loads(rl_user.capsa("state", cid).stdout)
    assert st["status"] == "created"
    assert rl_user.capsa("start", cid).returncode == 0
    st = json.loads(rl_user.capsa("state", cid).stdout)
    assert st["status"] == "running"
    # the container's root is the user itself
    assert os.stat(f"/proc/{st['pid']}").st_uid == rl_user.uid
    state = json.loads((rl_user.xdg / "capsa" / cid / "state.json").read_text())
    assert state["cgroupDirs"] == [], state
    r = rl_user.capsa("list")
    assert r.returncode == 0 and cid in r.stdout and rl_user.name in r.stdout, r
    r = rl_user.capsa("exec", cid, "id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "0", r
    r = rl_user.capsa("ps", cid)
    assert r.returncode == 0 and "sleep" in r.stdout, r
    r = rl_user.capsa("kill", "--all", cid, "KILL")  # no cgroup: its pid namespace
    assert r.returncode == 0, r
    end = time.monotonic() + 5
    while json.loads(rl_user.capsa("state", cid).stdout)["status"] != "stopped":
        assert time.monotonic() < end, "not stopped after kill --all"
        time.sleep(0.05)
    r = rl_user.capsa("delete", cid)
    assert r.returncode == 0, r
    assert not (rl_user.xdg / "capsa" / cid).exists()


def test_rootless_limits_need_cgroup(rl_user, rl_bundle):
    rl_bundle["config"]["linux"]["resources"] = {"pids": {"limit": 50}}
    save(rl_bundle, ["true"])
    r = rl_user.capsa("run", "--bundle", rl_bundle["path"], rl_user.new_id())
    assert r.returncode == 1
    assert r.stderr.startswith("capsa: linux.resources: capsa runs as uid"), r
    assert "Permission denied" in r.stderr or "Read-only" in r.stderr, r
    assert not os.listdir(rl_user.xdg / "capsa")


def test_rootless_no_state_root(rl_user):
    r = rl_user.capsa("list", env={"XDG_RUNTIME_DIR": None})
    assert r.returncode == 1
    assert "XDG_RUNTIME_DIR is not set" in r.stderr and "--root" in r.stderr, r


def _uplink(ns):
    """The test namespace gets what pasta needs on the host side: a routable interface."""
    name = os.path.basename(ns)
    for cmd in (["link", "set", "lo", "up"],
                ["link", "add", "up0", "type", "veth", "peer", "name", "up1"],
                ["addr", "add", "192.168.77.1/24", "dev", "up0"], ["link", "set", "up0", "up"],
                ["link", "set", "up1", "up"],
                ["route", "add", "default", "via", "192.168.77.254", "dev", "up0"]):
        subprocess.run(["ip", "-n", name] + cmd, check=True, timeout=10)


def test_rootless_net_pasta(rl_user, rl_bundle, netns):
    """--net as a user: pasta gives the container an address, outbound traffic (to a server
    on the host's loopback, through the gateway) and the published port; delete ends it."""
    ns = netns()
    _uplink(ns)
    rl_bundle["config"]["linux"].update(sub_maps(rl_user))
    save(rl_bundle, ["sh", "-c", "ip -4 -o addr show; ip route; "
                     "echo ping | nc -w 3 $(ip route | awk '/default/ {print $3}') 7070; "
                     "echo served | nc -l -p 8080"])
    server = subprocess.Popen(
        ["nsenter", f"--net={ns}", "python3", "-c",
         "import socket\n"
         "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind(('127.0.0.1', 7070)); s.listen(); s.settimeout(20)\n"
         "c, a = s.accept(); print(c.recv(100).decode().strip(), flush=True)"],
        stdout=subprocess.PIPE, text=True)
    cid = rl_user.new_id()
    try:
        r = rl_user.capsa("run", "-d", "--net", "default", "-p", "9090:8080", "--bundle",
                          rl_bundle["path"], cid, netns=ns)
        assert r.returncode == 0, r
        assert server.wait(timeout=20) == 0
        assert server.stdout.read().strip() == "ping"
        pasta = int((rl_user.xdg / "capsa" / cid / "pasta.pid").read_text())
        # pasta is passt under another name (Debian runs passt.avx2 where the CPU has it)
        assert Path(f"/proc/{pasta}/comm").read_text().startswith("pass")
        assert os.stat(f"/proc/{pasta}").st_uid == rl_user.uid
        out = ""
        end = time.monotonic() + 10
        while "served" not in out and time.monotonic() < end:
            out = subprocess.run(["nsenter", f"--net={ns}", "busybox", "nc", "-w", "2",
                                  "127.0.0.1", "9090"], input="x\n", capture_output=True,
                                 text=True, timeout=10).stdout
            time.sleep(0.1)
        assert "served" in out
        assert rl_user.capsa("delete", "--force", cid, netns=ns).returncode == 0
        end = time.monotonic() + 5
        while os.path.exists(f"/proc/{pasta}") and time.monotonic() < end:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{pasta}"), "pasta outlived the container"
    finally:
        rl_user.capsa("delete", "--force", cid, netns=ns)
        server.kill()
        server.wait()


def test_rootless_net_refusals(rl_user, rl_bundle):
    """What pasta cannot give is refused before anything is made."""
    save(rl_bundle, ["true"])
    for args, msg in ((["--net", "default:ip=10.89.0.9"], "without ip="),
                      (["--net", "a", "--net", "b"], "one network"),
                      (["--net", "default", "-p", "127.0.0.1:8080:80"], "every address")):
        r = rl_user.capsa("run", *args, "--bundle", rl_bundle["path"], rl_user.new_id())
        assert r.returncode == 1 and msg in r.stderr, r
        assert not os.listdir(rl_user.xdg / "capsa")
