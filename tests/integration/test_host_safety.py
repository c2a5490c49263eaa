"""The caller's mount namespace is never re-rooted, moved or mounted over.

A config without a mount namespace of its own shares the caller's (OCI: a namespace not listed
is inherited).  runc chroots there instead of pivot_root; a pivot_root would move the root of
every process of the namespace into the bundle.  Each test runs the runtime inside a throwaway
mount namespace (`unshare -m`), which stands for the host: if the runtime re-roots it, only the
test's own shell is affected, and the test sees it.
"""

import json
import os
import subprocess

import pytest

from conftest import CAPSA, CHECKER, IS_CAPSA

SCRIPT = r"""
set -u
marker="$1"; rt="$2"; root="$3"; bundle="$4"; id="$5"; rootfs="$6"
before=$(stat -L -c %d:%i /)
"$rt" --root "$root" create --bundle "$bundle" "$id" >/dev/null 2>"$root.create.err"
echo "create=$?"
pid=$("$rt" --root "$root" state "$id" 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
echo "root_same=$([ "$(stat -L -c %d:%i /)" = "$before" ] && echo yes || echo no)"
echo "marker=$([ -e "$marker" ] && echo yes || echo no)"
if [ -n "$pid" ]; then
    echo "ctr_root=$(readlink /proc/$pid/root)"
    echo "ctr_mnt_same=$([ "$(readlink /proc/$pid/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] \
        && echo yes || echo no)"
    echo "mounts_during=$(grep -c " $rootfs/" /proc/self/mountinfo)"
fi
"$rt" --root "$root" delete --force "$id" >/dev/null 2>&1
echo "delete=$?"
echo "mounts_after=$(grep -c " $rootfs/" /proc/self/mountinfo)"
echo "state_left=$([ -e "$root/$id" ] && echo yes || echo no)"
"""


def in_throwaway_ns(runtime, b, cid, extra_setup=""):
    marker = runtime.testdir / "marker"
    marker.write_text("host")
    b.save()
    rootfs = os.path.realpath(b.path / "rootfs")
    p = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", extra_setup + SCRIPT, "sh",
         str(marker), CAPSA, str(runtime.root), str(b.path), cid, rootfs],
        capture_output=True, text=True, timeout=60)
    out = dict(line.split("=", 1) for line in p.stdout.split("\n") if "=" in line)
    err_file = runtime.root.parent / (runtime.root.name + ".create.err")
    out["stderr"] = err_file.read_text() if err_file.exists() else p.stderr
    return out


def no_mount_ns_bundle(bundle, args=(CHECKER, "sleep", "30")):
    b = bundle(list(args))
    b.set_namespaces(["pid", "ipc", "uts", "network"])
    b.linux.pop("maskedPaths", None)  # runc refuses them without a mount namespace too
    b.linux.pop("readonlyPaths", None)
    b.config["root"]["readonly"] = False
    return b


def test_no_mount_namespace_chroots_and_leaves_caller_root(runtime, bundle):
    b = no_mount_ns_bundle(bundle)
    cid = runtime.new_id()
    out = in_throwaway_ns(runtime, b, cid)
    assert out["create"] == "0", out
    assert out["root_same"] == "yes", f"the caller's root was changed: {out}"
    assert out["marker"] == "yes", f"the caller no longer sees its files: {out}"
    assert out["ctr_mnt_same"] == "yes", "the container must share the caller's mount namespace"
    assert out["ctr_root"] == os.path.realpath(b.path / "rootfs"), out
    assert out["delete"] == "0", out
    assert out["state_left"] == "no", out


@pytest.mark.capsa_only
def test_no_mount_namespace_mounts_are_undone_by_delete(runtime, bundle):
    """The `mounts` land beneath the rootfs of the shared namespace; delete removes them."""
    b = no_mount_ns_bundle(bundle)
    out = in_throwaway_ns(runtime, b, runtime.new_id())
    assert out["create"] == "0", out
    assert int(out["mounts_during"]) >= 3, out  # /proc, /dev, /sys, ... beneath the rootfs
    assert out["mounts_after"] == "0", f"mounts left in the caller's namespace: {out}"


def test_no_mount_namespace_container_sees_its_root(runtime, bundle):
    """Run through the whole lifecycle: the process inside sees the bundle's rootfs as /."""
    b = no_mount_ns_bundle(bundle, (CHECKER, "ls", "/"))
    script = (r"""
"$2" --root "$3" run --bundle "$4" "$5" > "$3.run.out" 2>&1; echo "run=$?"
echo "marker=$([ -e "$1" ] && echo yes || echo no)"
echo "mounts_after=$(grep -c " $6/" /proc/self/mountinfo)"
""")
    marker = runtime.testdir / "marker"
    marker.write_text("host")
    b.save()
    cid = runtime.new_id()
    rootfs = os.path.realpath(b.path / "rootfs")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        str(marker), CAPSA, str(runtime.root), str(b.path), cid, rootfs],
                       capture_output=True, text=True, timeout=60)
    out = dict(line.split("=", 1) for line in p.stdout.split("\n") if "=" in line)
    ran = (runtime.root.parent / (runtime.root.name + ".run.out")).read_text()
    assert out.get("run") == "0", (out, ran)
    assert out["marker"] == "yes", out
    names = json.loads(ran)
    assert "capsa-checker" in str(names) or "bin" in str(names), ran
    if IS_CAPSA:
        assert out["mounts_after"] == "0", out


@pytest.mark.capsa_only
@pytest.mark.parametrize("field", ["root.readonly", "maskedPaths", "readonlyPaths",
                                   "rootfsPropagation", "mount-on-root"])
def test_no_mount_namespace_refuses_what_would_remount_the_caller(runtime, bundle, field):
    b = no_mount_ns_bundle(bundle)
    if field == "root.readonly":
        b.config["root"]["readonly"] = True
    elif field == "maskedPaths":
        b.linux["maskedPaths"] = ["/proc/kcore"]
    elif field == "readonlyPaths":
        b.linux["readonlyPaths"] = ["/proc/sys"]
    elif field == "rootfsPropagation":
        b.linux["rootfsPropagation"] = "private"
    else:
        b.add_mount("/", "tmpfs", "tmpfs")
    out = in_throwaway_ns(runtime, b, runtime.new_id())
    assert out["create"] != "0", out
    assert out["root_same"] == "yes" and out["marker"] == "yes", out
    want = "mounts[" if field == "mount-on-root" else field
    assert want in out["stderr"] and "mount namespace" in out["stderr"], out["stderr"]
    assert out["mounts_after"] == "0", out
    assert out["state_left"] == "no", out


@pytest.mark.capsa_only
def test_mount_namespace_joined_by_path_is_not_re_rooted(runtime, bundle, testdir):
    """Joining the caller's own mount namespace by path is sharing it: no pivot_root there."""
    b = no_mount_ns_bundle(bundle)
    b.linux["namespaces"].append({"type": "mount", "path": "/proc/self/ns/mnt"})
    out = in_throwaway_ns(runtime, b, runtime.new_id())
    assert out["root_same"] == "yes" and out["marker"] == "yes", out
    assert out["mounts_after"] == "0", out
    assert out["state_left"] == "no", out
