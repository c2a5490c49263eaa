"""root, mounts, /dev, linux.devices, maskedPaths, readonlyPaths (what the process sees)."""

import os
import subprocess

import pytest

from conftest import CHECKER


def mounts(runtime, b):
    return runtime.check(b, "mounts")["mounts"]


def by_target(ms, target):
    found = [m for m in ms if m["target"] == target]
    assert found, f"no mount at {target}: {[m['target'] for m in ms]}"
    return found[-1]  # the topmost


def opts(m):
    return set(m["options"].split(",")) | set(m["super"].split(","))


def test_pivot_root_hides_host(runtime, bundle):
    ms = mounts(runtime, bundle())
    targets = [m["target"] for m in ms]
    assert "/" in targets
    # nothing of the host's mount table (e.g. /work, /run/netns, /boot) is visible
    host = {l.split()[4] for l in open("/proc/self/mountinfo")}
    leaked = [t for t in targets if t in host and t not in
              ("/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp",
               "/sys/fs/cgroup", "/run") and not t.startswith(("/sys/", "/proc/", "/dev/"))]
    assert not leaked, leaked


def test_root_is_bundle_rootfs(runtime, bundle):
    b = bundle()
    (b.rootfs / "marker").write_text("inside")
    r = runtime.check(b, "cat", "/marker")
    assert r["/marker"] == "inside"


def test_no_pivot(runtime, bundle):
    b = bundle()
    (b.rootfs / "marker").write_text("chroot")
    b.process["args"] = [CHECKER, "cat", "/marker"]
    b.save()
    cid = runtime.new_id()
    r = runtime("run", "--no-pivot", "--bundle", b.path, cid)
    assert r.rc == 0, r
    assert r.json["/marker"] == "chroot"


def test_root_readonly(runtime, bundle):
    b = bundle()
    b.config["root"]["readonly"] = True
    assert "ro" in by_target(mounts(runtime, b), "/")["options"].split(",")
    assert runtime.check(b, "write", "/newfile", "x")["result"] == "EROFS"


def test_root_writable(runtime, bundle):
    b = bundle()
    b.config["root"]["readonly"] = False
    assert runtime.check(b, "write", "/newfile", "x")["result"] == "OK"
    assert (b.rootfs / "newfile").read_text() == "x"


# runc applies rootfsPropagation to the old root, so the container's "/" never shows "shared"
@pytest.mark.parametrize("prop,tag", [
    pytest.param("shared", "shared:", marks=pytest.mark.capsa_only), ("private", None)])
def test_rootfs_propagation(runtime, bundle, prop, tag):
    b = bundle()
    b.linux["rootfsPropagation"] = prop
    root = by_target(mounts(runtime, b), "/")
    if tag:
        assert tag in root["optional"], root
    else:
        assert "shared:" not in root["optional"] and "master:" not in root["optional"], root


def test_bind_ro(runtime, bundle, testdir):
    src = testdir / "hostdir"
    src.mkdir()
    (src / "file").write_text("from host")
    b = bundle()
    b.add_mount("/mnt/ro", "bind", src, ["bind", "ro"])
    ms = mounts(runtime, b)
    m = by_target(ms, "/mnt/ro")
    assert "ro" in m["options"].split(",")
    assert runtime.check(b, "cat", "/mnt/ro/file")["/mnt/ro/file"] == "from host"
    assert runtime.check(b, "write", "/mnt/ro/file", "x")["result"] == "EROFS"


def test_bind_rw_file(runtime, bundle, testdir):
    src = testdir / "hostfile"
    src.write_text("before")
    b = bundle()
    b.add_mount("/etc/bound", "none", src, ["bind", "rw"])
    assert runtime.check(b, "write", "/etc/bound", "after")["result"] == "OK"
    assert src.read_text() == "after"


def test_rbind_includes_submounts(runtime, bundle, testdir):
    src = testdir / "rb"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "capsa-it-sub", str(src / "sub")],
                   check=True, timeout=10)
    try:
        (src / "sub" / "f").write_text("sub")
        b = bundle()
        b.add_mount("/mnt/rb", "bind", src, ["rbind", "rprivate"])
        b2 = bundle()
        b2.add_mount("/mnt/b", "bind", src, ["bind"])
        assert runtime.check(b, "cat", "/mnt/rb/sub/f")["/mnt/rb/sub/f"] == "sub"
        assert runtime.check(b2, "cat", "/mnt/b/sub/f")["/mnt/b/sub/f"] == "ENOENT"
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")], timeout=10)


def test_tmpfs_options(runtime, bundle):
    b = bundle()
    b.add_mount("/scratch", "tmpfs", "tmpfs",
                ["nosuid", "nodev", "noexec", "size=1m", "mode=1770", "uid=1000", "gid=1000"])
    m = by_target(mounts(runtime, b), "/scratch")
    assert m["fstype"] == "tmpfs"
    o = opts(m)
    assert {"nosuid", "nodev", "noexec", "size=1024k", "mode=1770", "uid=1000", "gid=1000"} <= o, o
    b = bundle(config=b.config)  # fresh rootfs: runc keeps an existing dir's mode on re-mount
    st = runtime.check(b, "stat", "/scratch")["/scratch"]
    assert st["mode"] == "1770" and st["uid"] == 1000 and st["gid"] == 1000


def test_mount_order(runtime, bundle):
    b = bundle()
    b.add_mount("/a", "tmpfs", "tmpfs", ["size=1m"])
    b.add_mount("/a/b", "tmpfs", "tmpfs", ["size=2m"])
    ms = mounts(runtime, b)
    assert "size=2048k" in by_target(ms, "/a/b")["super"]


def test_standard_mounts(runtime, bundle):
    ms = mounts(runtime, bundle())
    assert by_target(ms, "/proc")["fstype"] == "proc"
    sysm = by_target(ms, "/sys")
    assert sysm["fstype"] == "sysfs" and "ro" in sysm["options"].split(",")
    pts = by_target(ms, "/dev/pts")
    assert pts["fstype"] == "devpts"
    assert "ptmxmode=666" in pts["super"] or "ptmxmode=0666" in pts["super"], pts
    shm = by_target(ms, "/dev/shm")
    assert shm["fstype"] == "tmpfs" and {"nosuid", "noexec", "nodev"} <= opts(shm)
    assert by_target(ms, "/dev/mqueue")["fstype"] == "mqueue"
    assert by_target(ms, "/dev")["fstype"] == "tmpfs"


def test_cgroup_mount(runtime, bundle):
    b = bundle()
    ms = mounts(runtime, b)
    cg = [m for m in ms if m["target"] == "/sys/fs/cgroup" or
          m["target"].startswith("/sys/fs/cgroup/")]
    assert cg, "no cgroup filesystem under /sys/fs/cgroup"
    assert any(m["fstype"] in ("cgroup", "cgroup2") for m in cg)
    assert all("ro" in m["options"].split(",") for m in cg if m["fstype"].startswith("cgroup"))
    assert runtime.check(b, "ls", "/sys/fs/cgroup")["entries"]


def test_mount_destination_symlink_stays_inside(runtime, bundle, testdir):
    # a symlink in the rootfs pointing at a host path must resolve inside the root
    outside = testdir / "outside"
    outside.mkdir()
    b = bundle()
    os.symlink(str(outside), b.rootfs / "escape")
    b.add_mount("/escape", "tmpfs", "tmpfs", ["size=1m"])
    r = runtime.run(b)
    host = [l for l in open("/proc/self/mountinfo") if str(outside) in l]
    assert not host
    assert r.rc == 0 or r.rc != 0  # either refused or contained; never mounted on the host
    assert not any(outside.iterdir())


DEVS = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
        "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}


def test_default_devices(runtime, bundle):
    st = runtime.check(bundle(), "stat", *DEVS, "/dev/ptmx", "/dev/fd", "/dev/stdin",
                       "/dev/stdout", "/dev/stderr", "/dev/pts", "/dev/core")
    for path, (maj, mn) in DEVS.items():
        assert st[path]["type"] == "char", (path, st[path])
        assert (st[path]["major"], st[path]["minor"]) == (maj, mn), path
        assert st[path]["mode"] == "0666", (path, st[path])
    ptmx = st["/dev/ptmx"]
    assert ptmx.get("link") in ("pts/ptmx", "/dev/pts/ptmx") or \
        (ptmx["type"] == "char" and (ptmx["major"], ptmx["minor"]) == (5, 2)), ptmx
    assert st["/dev/fd"]["link"] == "/proc/self/fd"
    assert st["/dev/stdin"]["link"] == "/proc/self/fd/0"
    assert st["/dev/stdout"]["link"] == "/proc/self/fd/1"
    assert st["/dev/stderr"]["link"] == "/proc/self/fd/2"
    assert st["/dev/pts"]["type"] == "dir"


def test_default_devices_usable(runtime, bundle):
    b = bundle()
    assert runtime.check(b, "open", "/dev/null", "rw")["result"] == "OK"
    assert runtime.check(b, "open", "/dev/urandom", "r")["result"] == "OK"


def test_linux_devices(runtime, bundle):
    b = bundle()
    b.linux["devices"] = [{"path": "/dev/capsa-null", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o620, "uid": 1000, "gid": 5}]
    st = runtime.check(b, "stat", "/dev/capsa-null")["/dev/capsa-null"]
    assert st["type"] == "char" and (st["major"], st["minor"]) == (1, 3), st
    assert st["mode"] == "0620" and st["uid"] == 1000 and st["gid"] == 5, st


def test_masked_paths(runtime, bundle):
    b = bundle()
    b.linux["maskedPaths"] = ["/proc/keys", "/sys/firmware", "/proc/nonexistent"]
    st = runtime.check(b, "stat", "/proc/keys")["/proc/keys"]
    assert st["type"] == "char" and (st["major"], st["minor"]) == (1, 3), st
    assert runtime.check(b, "ls", "/sys/firmware")["entries"] == []
    assert runtime.check(b, "cat", "/proc/keys")["/proc/keys"] == ""


def test_readonly_paths(runtime, bundle):
    b = bundle()
    b.linux["readonlyPaths"] = ["/proc/sys", "/proc/sysrq-trigger"]
    r = runtime.check(b, "open", "/proc/sys/kernel/hostname", "w")
    assert r["result"] == "EROFS", r
    ms = mounts(runtime, b)
    assert "ro" in by_target(ms, "/proc/sys")["options"].split(",")


def test_readonly_paths_unset_writable(runtime, bundle):
    b = bundle()
    b.linux["readonlyPaths"] = []
    r = runtime.check(b, "open", "/proc/sys/kernel/hostname", "w")
    assert r["result"] == "OK", r
