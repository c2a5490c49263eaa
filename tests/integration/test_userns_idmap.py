"""idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP): a mount's own uidMappings/gidMappings, the
`idmap` option (the container's mappings), `ridmap` (the mounts beneath too), and the errors for
what cannot be idmapped."""

import os
import subprocess

import pytest

from test_userns import BASE, maps, userns

pytestmark = pytest.mark.capsa_only


def host_dir(testdir, name, uid=0, gid=0):
    d = testdir / name
    d.mkdir()
    (d / "f").write_text("x")
    os.chown(d, uid, gid)
    os.chown(d / "f", uid, gid)
    return d


def test_idmap_option_uses_container_mappings(runtime, bundle, testdir):
    """A directory owned by host root, mounted with `idmap`, shows as owned by the container's
    root, and what the container's root creates there is owned by host root on disk."""
    d = host_dir(testdir, "vol")
    b = userns(bundle())
    b.add_mount("/vol", "bind", d, ["bind", "idmap"])
    b.process["args"] = ["/bin/sh", "-c", "stat -c '%u:%g' /vol/f && touch /vol/new"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out.split() == ["0:0"]
    st = os.stat(d / "new")
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_without_idmap_host_root_is_nobody(runtime, bundle, testdir):
    """The control: the same bind without idmap shows the overflow id and refuses writes."""
    d = host_dir(testdir, "vol")
    b = userns(bundle())
    b.add_mount("/vol", "bind", d, ["bind"])
    b.process["args"] = ["/bin/sh", "-c", "stat -c '%u' /vol/f; touch /vol/new"]
    r = runtime.run(b)
    assert r.rc != 0
    assert r.out.split() == ["65534"]
    assert "Permission denied" in r.err


def test_own_mappings(runtime, bundle, testdir):
    """mounts[].uidMappings: on-disk uid 0 is shown as host BASE+5000, i.e. the container's
    1000 (userns() maps container 1000.. to host BASE+5000..); on-disk 7 as container 1007."""
    d = host_dir(testdir, "vol")
    os.chown(d / "f", 7, 7)
    b = userns(bundle())
    b.add_mount("/vol", "bind", d, ["bind"])
    b.config["mounts"][-1]["uidMappings"] = maps((0, BASE + 5000, 100))
    b.config["mounts"][-1]["gidMappings"] = maps((0, BASE + 5000, 100))
    b.process["args"] = ["/bin/sh", "-c", "stat -c '%u:%g' /vol /vol/f"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out.split() == ["1000:1000", "1007:1007"]


def test_ridmap_maps_submounts(runtime, bundle, testdir):
    """rbind + ridmap idmaps a mount beneath the source too; rbind + idmap only the top."""
    d = host_dir(testdir, "vol")
    sub = d / "sub"
    sub.mkdir()
    other = host_dir(testdir, "other")
    subprocess.run(["mount", "--bind", str(other), str(sub)], check=True, timeout=10)
    try:
        for opt, want in (("ridmap", "0"), ("idmap", "65534")):
            b = userns(bundle())
            b.add_mount("/vol", "bind", d, ["rbind", opt])
            b.process["args"] = ["/bin/sh", "-c", "stat -c '%u' /vol/f /vol/sub/f"]
            r = runtime.run(b)
            assert r.rc == 0, r
            assert r.out.split() == ["0", want], (opt, r)
    finally:
        subprocess.run(["umount", str(sub)], timeout=10)


def test_idmap_readonly(runtime, bundle, testdir):
    d = host_dir(testdir, "vol")
    b = userns(bundle())
    b.add_mount("/vol", "bind", d, ["bind", "idmap", "ro"])
    b.process["args"] = ["/bin/sh", "-c", "stat -c '%u' /vol/f; touch /vol/new"]
    r = runtime.run(b)
    assert r.rc != 0
    assert r.out.split() == ["0"]
    assert "Read-only file system" in r.err


def test_idmap_needs_bind(runtime, bundle):
    b = userns(bundle())
    b.add_mount("/t", "tmpfs", "tmpfs", ["idmap"])
    r = runtime.run(b)
    assert r.rc != 0
    assert "mounts[7]" in r.err and "bind mounts only" in r.err, r


def test_idmap_without_userns_or_mappings(runtime, bundle, testdir):
    d = host_dir(testdir, "vol")
    b = bundle()
    b.add_mount("/vol", "bind", d, ["bind", "idmap"])
    r = runtime.run(b)
    assert r.rc != 0
    assert "mounts[7]" in r.err and "user namespace" in r.err, r


def test_uid_mappings_without_gid_mappings(runtime, bundle, testdir):
    d = host_dir(testdir, "vol")
    b = userns(bundle())
    b.add_mount("/vol", "bind", d, ["bind"])
    b.config["mounts"][-1]["uidMappings"] = maps((0, BASE, 100))
    r = runtime.run(b)
    assert r.rc != 0
    assert "mounts[7]" in r.err and "together" in r.err, r


def test_own_mappings_without_container_userns(runtime, bundle, testdir):
    """A mount's own mappings need no user namespace in the container: host root sees the
    host-root-owned file as uid 5."""
    d = host_dir(testdir, "vol")
    b = bundle()
    b.add_mount("/vol", "bind", d, ["bind"])
    b.config["mounts"][-1]["uidMappings"] = maps((0, 5, 1))
    b.config["mounts"][-1]["gidMappings"] = maps((0, 5, 1))
    b.process["args"] = ["/bin/sh", "-c", "stat -c '%u:%g' /vol/f"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert r.out.split() == ["5:5"]
