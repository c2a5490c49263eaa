"""User namespaces: uid/gid mappings from config.json (several ranges), setgroups, the
user-namespace paths of the rootfs setup (/dev nodes bound from the host, locked mount flags,
/sys bound when the network namespace is not the container's own, cgroup mounts), and the
validation of mappings with errors that name the JSON path."""

import os
import subprocess

import pytest

from conftest import CHECKER

pytestmark = pytest.mark.capsa_only

BASE = 200000  # host ids used by these tests (nothing on the host owns them)


def maps(*ranges):
    return [{"containerID": c, "hostID": h, "size": n} for c, h, n in ranges]


def userns(b, uid_ranges=None, gid_ranges=None, chown=True):
    """Turns bundle b into a user-namespaced one; the rootfs is chowned to the mapped root."""
    uid_ranges = uid_ranges or [(0, BASE, 1000), (1000, BASE + 5000, 64536)]
    gid_ranges = gid_ranges or uid_ranges
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = maps(*uid_ranges)
    b.linux["gidMappings"] = maps(*gid_ranges)
    if chown:
        subprocess.run(["chown", "-R", "-h", f"{uid_ranges[0][1]}:{gid_ranges[0][1]}",
                        str(b.rootfs)], check=True, timeout=30)
    return b


def test_multiple_ranges_root(runtime, bundle):
    b = userns(bundle())
    b.process["args"] = ["/bin/sh", "-c",
                         "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -u"]
    r = runtime.run(b)
    assert r.rc == 0, r
    lines = [l.split() for l in r.out.splitlines()]
    assert lines[0] == ["0", str(BASE), "1000"]
    assert lines[1] == ["1000", str(BASE + 5000), "64536"]
    assert lines[2] == ["0", str(BASE), "1000"]
    assert lines[4] == ["allow"]  # root created the namespace: setgroups stays allowed
    assert lines[5] == ["0"]


def test_user_in_second_range_with_groups(runtime, bundle, testdir):
    b = userns(bundle())
    b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 2000]}
    out = runtime.check(b, "ids")
    assert (out["uid"], out["gid"]) == (1000, 1000)
    assert sorted(out["groups"]) == [5, 1000, 2000] or sorted(out["groups"]) == [5, 2000]


def test_host_sees_mapped_ids(runtime, bundle, testdir):
    """The container's uid 1000 is host uid BASE+5000: a file it creates in a bind-mounted host
    directory is owned by that host id."""
    shared = testdir / "shared"
    shared.mkdir()
    os.chown(shared, BASE + 5000, BASE + 5000)
    b = userns(bundle())
    b.add_mount("/shared", "bind", shared, ["rbind", "rw"])
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["args"] = ["/bin/touch", "/shared/f"]
    r = runtime.run(b)
    assert r.rc == 0, r
    st = os.stat(shared / "f")
    assert (st.st_uid, st.st_gid) == (BASE + 5000, BASE + 5000)


def test_rootfs_paths_in_userns(runtime, bundle):
    """runc's default mounts in a user namespace: /dev nodes are bind mounts of the host's,
    /sys is bound (no network namespace of its own is owned... here it is: sysfs mounts),
    the v1 cgroup hierarchies are bound, /dev/pts works, and the rootfs is read-only."""
    b = userns(bundle())
    b.process["args"] = ["/bin/sh", "-c",
                         "echo x > /dev/null && head -c 4 /dev/zero | wc -c && "
                         "ls /sys/fs/cgroup/memory/ | grep -c memory.limit_in_bytes && "
                         "ls /sys/class/net && (touch /x 2>/dev/null && echo rw || echo ro)"]
    r = runtime.run(b)
    assert r.rc == 0, r
    out = r.out.split()
    assert out[0] == "4" and out[1] == "1"
    assert "lo" in out and out[-1] == "ro"


def test_sysfs_bound_without_own_netns(runtime, bundle):
    b = userns(bundle())
    b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != "network"]
    b.process["args"] = ["/bin/sh", "-c", "ls /sys/kernel >/dev/null && grep ' /sys ' "
                         "/proc/self/mountinfo"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert " ro," in r.out or " ro " in r.out.replace(",", " ")


def test_setgroups_deny_is_not_written_by_root(runtime, bundle):
    b = userns(bundle(), uid_ranges=[(0, BASE, 65536)])
    b.process["args"] = ["/bin/cat", "/proc/self/setgroups"]
    r = runtime.run(b)
    assert r.rc == 0 and r.out.strip() == "allow", r


# ---- validation ------------------------------------------------------------------------------


def expect_error(runtime, b, *needles):
    r = runtime.run(b)
    assert r.rc != 0, r
    for n in needles:
        assert n in r.err, r
    return r


def test_zero_size(runtime, bundle):
    b = userns(bundle(), uid_ranges=[(0, BASE, 1000), (1000, BASE + 5000, 0)], chown=False)
    expect_error(runtime, b, "linux.uidMappings[1].size: must be greater than 0")


def test_overlapping_container_ranges(runtime, bundle):
    b = userns(bundle(), chown=False)
    b.linux["gidMappings"] = maps((0, BASE, 1000), (500, BASE + 5000, 100))
    expect_error(runtime, b, "linux.gidMappings[0] and linux.gidMappings[1]",
                 "container ids 0-999 and 500-599 overlap")


def test_overlapping_host_ranges(runtime, bundle):
    b = userns(bundle(), chown=False)
    b.linux["uidMappings"] = maps((0, BASE, 1000), (1000, BASE + 999, 10))
    expect_error(runtime, b, "linux.uidMappings[0] and linux.uidMappings[1]", "host ids")


def test_process_user_not_mapped(runtime, bundle):
    b = userns(bundle(), uid_ranges=[(0, BASE, 1000)], chown=False)
    b.process["user"] = {"uid": 1000, "gid": 0}
    expect_error(runtime, b, "process.user.uid: 1000 is not mapped by linux.uidMappings")


def test_additional_gid_not_mapped(runtime, bundle):
    b = userns(bundle(), uid_ranges=[(0, BASE, 1000)], chown=False)
    b.process["user"] = {"uid": 0, "gid": 0, "additionalGids": [10, 5000]}
    expect_error(runtime, b, "process.user.additionalGids[1]: 5000 is not mapped")


def test_rootfs_owner_not_mapped_warns(runtime, bundle):
    """runc accepts a rootfs owned by an unmapped host id (read-only use): a warning naming
    root.path, and the container runs, seeing its root owned by the overflow id."""
    b = userns(bundle(), chown=False)  # the rootfs stays owned by host root
    b.process["args"] = ["/bin/stat", "-c", "%u", "/"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out.strip() == "65534"
    assert "root.path:" in r.err and "owned by host uid 0 gid 0" in r.err, r


@pytest.mark.parametrize("opt", ["bind", "rbind"])
def test_bind_source_the_mapped_root_cannot_enter(runtime, bundle, testdir, opt):
    """A bind source beneath a directory only host root may enter is opened on the host side
    (runc's userns.bats 'userns with inaccessible bind mount sources'), not from inside."""
    private = testdir / "private"
    (private / "data").mkdir(parents=True)
    (private / "data" / "file").write_text("hello\n")
    os.chmod(private, 0o700)
    b = userns(bundle())
    b.add_mount("/mnt", "bind", str(private / "data"), [opt, "ro"])
    b.process["args"] = ["/bin/cat", "/mnt/file"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out == "hello\n", r
