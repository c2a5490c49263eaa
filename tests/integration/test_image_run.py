"""Containers run from images, end to end: `capsa image import` of OCI layouts built by the test
(tests/integration/imagelib.py), then `capsa create|run --image`.  Each test has its own image
root (--image-root) and state root; the teardown deletes every container and checks that no
mount is left under the image root and that ROOT/containers is empty (the runtime fixture then
checks the state root, cgroups and processes).

The image "rich" has three layers (gzip, gzip, plain tar) with whiteouts of a file and of a
directory, an opaque directory, hard links, xattrs, setuid/setgid/sticky modes, symlink chains
(relative, absolute, dangling), device nodes and a fifo, all under /t; the container must see
exactly the merged tree (listed inside with busybox find/stat/readlink, xattrs read through
/proc/PID/root).  The image "ep" (same layers) has an Entrypoint (the checker), Cmd, Env,
WorkingDir, User (by name), Labels and a StopSignal.
"""

import json
import os
import stat
from pathlib import Path

import pytest

import imagelib as il
from conftest import CHECKER, cgroup_file, stop_runtime

pytestmark = pytest.mark.capsa_only

# ---- the images --------------------------------------------------------------------------------

def layers(checker_bytes):
    """The three layers of "rich" as entry lists, bottom first."""
    l1 = il.busybox_entries() + [
        il.file("bin/capsa-checker", checker_bytes, mode=0o755),
        il.dir("t"),
        il.dir("t/data"),
        il.file("t/data/keep", "v1"),
        il.file("t/data/gone", "gone"),
        il.dir("t/data/dir_gone"),
        il.file("t/data/dir_gone/inner", "x"),
        il.dir("t/opq"),
        il.file("t/opq/a", "a"),
        il.dir("t/opq/sub"),
        il.file("t/opq/sub/deep", "deep"),
        il.dir("t/hl"),
        il.file("t/hl/a", "hard", mode=0o640),
        il.hardlink("t/hl/b", "t/hl/a"),
        il.hardlink("t/hl/c", "t/hl/a"),
        il.dir("t/sx"),
        il.file("t/sx/suid", "#!/bin/sh\n", mode=0o4755),
        il.file("t/sx/sgid", "#!/bin/sh\n", mode=0o2755, gid=1000),
        il.dir("t/sx/sticky", mode=0o1777),
        il.dir("t/x"),
        il.file("t/x/attr", "x", xattrs={"user.capsa": "one", "user.other": b"\x00\x01bin"}),
        il.dir("t/x/adir", xattrs={"user.dir": "d"}),
        il.dir("t/links"),
        il.symlink("t/links/l1", "l2"),
        il.symlink("t/links/l2", "l3"),
        il.symlink("t/links/l3", "../data/keep"),
        il.symlink("t/links/abs", "/t/data/keep"),
        il.symlink("t/links/dangling", "nowhere"),
        il.dir("t/dev"),
        il.device("t/dev/null", "c", 1, 3, mode=0o666),
        il.device("t/dev/loop", "b", 7, 0, mode=0o600),
        il.fifo("t/dev/fifo", mode=0o600),
        il.dir("t/own", mode=0o755, uid=1000, gid=1000),
        il.file("t/own/f", "mine", mode=0o600, uid=1000, gid=1000),
    ]
    l2 = [
        il.dir("t"),
        il.dir("t/data"),
        il.whiteout("t/data/gone"),
        il.whiteout("t/data/dir_gone"),
        il.file("t/data/keep", "v2"),
        il.file("t/data/new", "new"),
        il.dir("t/opq"),
        il.opaque("t/opq"),
        il.file("t/opq/c", "c"),
        il.dir("t/hl2"),
        il.file("t/hl2/x", "x2"),
        il.hardlink("t/hl2/y", "t/hl2/x"),
        il.dir("t/links"),
        il.symlink("t/links/l3", "../data/new"),
    ]
    l3 = [
        il.dir("t"),
        il.dir("t/data"),
        il.dir("t/data/gone", mode=0o700),  # a whited-out file's name, now a directory
        il.file("t/data/gone/again", "again"),
        il.dir("t/links"),
        il.symlink("t/links/l2", "l3b"),
        il.symlink("t/links/l3b", "/t/hl2/x"),
        il.dir("t/x"),
        il.file("t/x/attr2", "y", xattrs={"user.capsa": "three"}),
        il.dir("t/dev"),
        il.whiteout("t/dev/fifo"),
        il.dir("t/own", mode=0o775, uid=1000, gid=1000),  # the mode of a lower dir changed
    ]
    return [l1, l2, l3]


def merged_tree(layer_entries):
    """What the layers give merged, under /t: {path: attributes} as tree_inside() reports."""
    tree = {}

    def drop(p):
        for k in [k for k in tree if k == p or k.startswith(p + "/")]:
            del tree[k]

    for entries in layer_entries:
        for e in entries:  # opaque dirs hide what the layers below put in them
            d, base = os.path.split(e.info.name.rstrip("/"))
            if base == ".wh..wh..opq":
                for k in [k for k in tree if k.startswith(d + "/")]:
                    del tree[k]
        for e in entries:
            ti = e.info
            name = ti.name.rstrip("/")
            d, base = os.path.split(name)
            if base == ".wh..wh..opq":
                continue
            if base.startswith(".wh."):
                drop(os.path.join(d, base[4:]))
                continue
            if ti.islnk():
                tree[name] = dict(tree[ti.linkname])
                continue
            a = {"mode": ti.mode & 0o7777, "uid": ti.uid, "gid": ti.gid}
            if ti.isdir():
                a["type"] = "dir"
            elif ti.isreg():
                a.update(type="file", size=len(e.data), mtime=ti.mtime)
            elif ti.issym():
                a.update(type="symlink", link=ti.linkname)
            elif ti.ischr() or ti.isblk():
                a.update(type="char" if ti.ischr() else "block", dev=(ti.devmajor, ti.devminor))
            elif ti.isfifo():
                a["type"] = "fifo"
            if not ti.isdir():
                drop(name)
            tree[name] = a
    return {"/" + k: v for k, v in tree.items() if k == "t" or k.startswith("t/")}


# busybox: one line per path under DIR: path|raw mode (hex)|uid|gid|size|links|inode|major
# (hex)|minor (hex)|mtime|symlink target
TREE_SCRIPT = ("find {d} | while read p; do "
               "echo \"$(stat -c '%n|%f|%u|%g|%s|%h|%i|%t|%T|%Y' \"$p\")|$(readlink \"$p\")\"; "
               "done")

TYPES = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
         stat.S_IFCHR: "char", stat.S_IFBLK: "block", stat.S_IFIFO: "fifo"}


def parse_tree(out):
    """{path: attributes} (as merged_tree) and {path: (inode, links)} from TREE_SCRIPT."""
    tree, inodes = {}, {}
    for line in out.splitlines():
        p, mode, uid, gid, size, links, ino, major, minor, mtime, target = line.split("|")
        mode = int(mode, 16)
        a = {"type": TYPES.get(stat.S_IFMT(mode), "other"), "mode": stat.S_IMODE(mode),
             "uid": int(uid), "gid": int(gid)}
        if a["type"] == "file":
            a.update(size=int(size), mtime=int(mtime))
        elif a["type"] == "symlink":
            a["link"] = target
        elif a["type"] in ("char", "block"):
            a["dev"] = (int(major, 16), int(minor, 16))
        tree[p] = a
        inodes[p] = (int(ino), int(links))
    return tree, inodes


class Layout:
    """The OCI layout of the tests' images and the tree "rich" gives merged."""

    def __init__(self, path, entries):
        self.path = path
        self.entries = entries
        self.tree = merged_tree(entries)


@pytest.fixture(scope="module")
def layout(workdir, checker_bin):
    """An OCI layout holding "rich" and "ep" (the same layers)."""
    d = workdir / "image-run-layout"
    ls = layers(checker_bin.read_bytes())
    blobs = [ls[0], ls[1], il.layer_tar(ls[2], None)]
    il.write_oci_layout(d, blobs, ref="rich")
    il.write_oci_layout(d, blobs, ref="ep", config={
        "Entrypoint": [CHECKER], "Cmd": ["env"],
        "Env": [il.PATH_ENV, "FOO=image", "BAR=keep"],
        "WorkingDir": "/t/data", "User": "app",
        "Labels": {"org.example.a": "1", "org.example.b": "two words"},
        "StopSignal": "SIGUSR1"})
    # a small image of other layers (prune removes it, not the used one)
    il.write_oci_layout(d, [il.busybox_entries() + [il.file("other", "o")]], ref="other")
    return Layout(d, ls)


# ---- the store and the containers --------------------------------------------------------------

class Images:
    def __init__(self, runtime, root, layout):
        self.rt = runtime
        self.root = root
        self.layout = layout

    def __call__(self, *args, **kw):
        return self.rt("--image-root", self.root, *args, **kw)

    def imp(self, ref, name=None):
        r = self("image", "import", "--quiet", f"oci:{self.layout.path}:{ref}", name or ref)
        assert r.rc == 0, r
        return r.out.strip()

    def run(self, ref, *opts, cmd=None, cid=None, expect_rc=0, timeout=30):
        cid = cid or self.rt.new_id()
        args = ["run", "--image", ref, *opts, cid] + (["--", *cmd] if cmd else [])
        r = self(*args, timeout=timeout)
        r.id = cid
        if expect_rc is not None:
            assert r.rc == expect_rc, r
        return r

    def check(self, ref, *cmd, opts=()):
        """The checker's JSON, run in a container of image ref."""
        r = self.run(ref, *opts, cmd=[CHECKER, *cmd])
        try:
            return json.loads(r.out)
        except ValueError:
            raise AssertionError(f"checker output is not JSON: {r}") from None

    def sh(self, ref, script, opts=()):
        return self.run(ref, *opts, cmd=["/bin/sh", "-c", script]).out

    def detached(self, ref, *opts, cmd=("/bin/sleep", "60")):
        r = self.run(ref, "--detach", *opts, cmd=list(cmd))
        return r.id, self.rt.state(r.id)["pid"]

    def create(self, ref, *opts, cmd=None, expect_rc=0):
        cid = self.rt.new_id()
        r = self("create", "--image", ref, *opts, cid, *(["--", *cmd] if cmd else []))
        r.id = cid
        if expect_rc is not None:
            assert r.rc == expect_rc, r
        return r

    def exec(self, cid, *cmd):
        r = self.rt("exec", cid, *cmd)
        assert r.rc == 0, r
        return r.out

    def containers(self):
        d = self.root / "containers"
        return sorted(os.listdir(d)) if d.exists() else []

    def container_dir(self, cid):
        dirs = [d for d in self.containers() if d.rsplit("-", 1)[0] == cid]
        assert len(dirs) == 1, (cid, self.containers())
        return self.root / "containers" / dirs[0]

    def layer_dirs(self):
        d = self.root / "layers" / "sha256"
        return sorted(d.iterdir()) if d.exists() else []

    def mounts(self):
        return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if str(self.root) in line]


@pytest.fixture
def images(runtime, testdir, layout):
    root = testdir / "images"
    runtime.bundles.append(root)  # the runtime fixture's leak checks and scrub cover it
    img = Images(runtime, root, layout)
    yield img
    stop_runtime(runtime)
    left = [f"container dir: {d}" for d in img.containers()]
    left += [f"mount: {m}" for m in img.mounts()]
    assert not left, "left behind after the test:\n  " + "\n  ".join(left)


def snapshot(root):
    """Everything about the files under root (the store's layers), to compare."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            a = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_rdev,
                 st.st_nlink)
            if stat.S_ISLNK(st.st_mode):
                a += (os.readlink(p),)
            elif stat.S_ISREG(st.st_mode):
                a += (Path(p).read_bytes(),)
            try:
                a += (tuple(sorted((x, os.getxattr(p, x, follow_symlinks=False))
                                   for x in os.listxattr(p, follow_symlinks=False))),)
            except OSError:
                pass
            out[os.path.relpath(p, root)] = a
    return out


# ---- the merged tree ---------------------------------------------------------------------------

def test_container_sees_the_merged_tree(images, layout):
    images.imp("rich")
    seen, inodes = parse_tree(images.sh("rich", TREE_SCRIPT.format(d="/t")))
    want = layout.tree
    assert sorted(seen) == sorted(want), (
        f"only in the container: {sorted(set(seen) - set(want))}; "
        f"missing: {sorted(set(want) - set(seen))}")
    diff = {p: (seen[p], want[p]) for p in want if seen[p] != want[p]}
    assert not diff, diff
    # hard links: one inode, as many links as the layer made
    assert inodes["/t/hl/a"][0] == inodes["/t/hl/b"][0] == inodes["/t/hl/c"][0]
    assert inodes["/t/hl/a"][1] == 3
    assert inodes["/t/hl2/x"][0] == inodes["/t/hl2/y"][0] and inodes["/t/hl2/x"][1] == 2
    assert inodes["/t/hl/a"][0] != inodes["/t/hl2/x"][0]
    # symlink chains resolve through the layers
    out = images.sh("rich", "cat /t/links/l1 /t/links/abs /t/data/gone/again; "
                            "cat /t/links/dangling 2>/dev/null || echo dangling")
    assert out == "x2" "v2" "again" "dangling\n", out  # the files end without a newline


def test_xattrs_visible_in_the_container(images):
    images.imp("rich")
    cid, pid = images.detached("rich")
    root = f"/proc/{pid}/root"
    assert os.getxattr(f"{root}/t/x/attr", "user.capsa") == b"one"
    assert os.getxattr(f"{root}/t/x/attr", "user.other") == b"\x00\x01bin"
    assert os.getxattr(f"{root}/t/x/attr2", "user.capsa") == b"three"
    assert os.getxattr(f"{root}/t/x/adir", "user.dir") == b"d"
    assert not [x for x in os.listxattr(f"{root}/t/data/keep") if x.startswith("user.")]
    # the whiteouts and opaque markers are overlayfs', not visible as entries
    assert sorted(os.listdir(f"{root}/t/opq")) == ["c"]
    assert sorted(os.listdir(f"{root}/t/dev")) == ["loop", "null"]


def test_writes_stay_in_the_upper_dir(images):
    images.imp("rich")
    before = snapshot(images.root / "layers")
    assert before
    cid, pid = images.detached("rich")
    images.exec(cid, "/bin/sh", "-c",
                "echo new > /t/newfile && echo v3 > /t/data/keep && rm /t/opq/c && "
                "chmod 0700 /t/sx/suid && mkdir /t/data/gone/sub && rm -r /t/links && "
                "echo more >> /t/hl/a")
    root = Path(f"/proc/{pid}/root")
    assert (root / "t/newfile").read_text() == "new\n"
    assert (root / "t/data/keep").read_text() == "v3\n"
    assert not (root / "t/opq/c").exists() and not (root / "t/links").exists()
    assert stat.S_IMODE(os.lstat(root / "t/sx/suid").st_mode) == 0o700
    upper = images.container_dir(cid) / "upper"
    assert (upper / "t/newfile").read_text() == "new\n"
    assert (upper / "t/data/keep").read_text() == "v3\n"
    assert (upper / "t/hl/a").read_text() == "hardmore\n"
    assert (upper / "t/data/gone/sub").is_dir()
    for gone in ("t/opq/c", "t/links"):  # overlayfs whiteouts: 0:0 character devices
        st = os.lstat(upper / gone)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, gone
    assert snapshot(images.root / "layers") == before, "a layer of the store changed"


def test_two_containers_do_not_see_each_others_writes(images):
    images.imp("rich")
    a, a_pid = images.detached("rich")
    b, b_pid = images.detached("rich")
    images.exec(a, "/bin/sh", "-c", "echo a > /t/a-wrote && rm /t/data/keep")
    images.exec(b, "/bin/sh", "-c", "echo b > /t/b-wrote && echo b > /t/data/new")
    ra, rb = Path(f"/proc/{a_pid}/root/t"), Path(f"/proc/{b_pid}/root/t")
    assert (ra / "a-wrote").exists() and not (ra / "b-wrote").exists()
    assert (rb / "b-wrote").exists() and not (rb / "a-wrote").exists()
    assert not (ra / "data/keep").exists() and (rb / "data/keep").read_text() == "v2"
    assert (ra / "data/new").read_text() == "new" and (rb / "data/new").read_text() == "b\n"
    assert images.container_dir(a) != images.container_dir(b)
    # a third, made after both wrote, sees the image as it is
    out = images.sh("rich", "ls /t; cat /t/data/keep /t/data/new")
    assert "a-wrote" not in out and "b-wrote" not in out and out.endswith("v2new"), out


def test_spec_image_writes_the_merged_tree(images, layout, testdir):
    images.imp("rich")
    d = testdir / "spec-bundle"
    d.mkdir()
    r = images("spec", "--image", "rich", "--bundle", d)
    assert r.rc == 0, r
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["process"]["args"] == ["/bin/sh"]
    seen = {}
    rootfs = d / "rootfs"
    for dirpath, dirnames, filenames in os.walk(rootfs / "t"):
        for n in [""] + dirnames + filenames:
            p = os.path.join(dirpath, n).rstrip("/")
            st = os.lstat(p)
            a = {"type": TYPES[stat.S_IFMT(st.st_mode)], "mode": stat.S_IMODE(st.st_mode),
                 "uid": st.st_uid, "gid": st.st_gid}
            if a["type"] == "file":
                a.update(size=st.st_size, mtime=int(st.st_mtime))
            elif a["type"] == "symlink":
                a["link"] = os.readlink(p)
            elif a["type"] in ("char", "block"):
                a["dev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            seen["/" + os.path.relpath(p, rootfs)] = a
    assert seen == layout.tree
    assert os.getxattr(rootfs / "t/x/attr", "user.capsa") == b"one"
    assert not images.containers() and not images.mounts()


# ---- the config made from the image ------------------------------------------------------------

def test_entrypoint_cmd_and_override(images):
    images.imp("ep")
    r = images.run("ep")  # Entrypoint checker, Cmd env
    env = json.loads(r.out)["env"]
    assert "FOO=image" in env and "BAR=keep" in env and il.PATH_ENV in env, env
    # a CMD after `--` replaces Cmd; the Entrypoint stays
    assert json.loads(images.run("ep", cmd=["cwd"]).out) == {"cwd": "/t/data"}
    assert json.loads(images.run("ep", cmd=["cat", "/t/data/keep"]).out) == {
        "/t/data/keep": "v2"}


def test_env_and_workdir(images, monkeypatch):
    images.imp("ep")
    monkeypatch.setenv("CAPSA_IT_FROM_CALLER", "caller")
    monkeypatch.delenv("CAPSA_IT_UNSET", raising=False)
    env = json.loads(images.run("ep", "--env", "FOO=cli", "-e", "NEW=1", "-e",
                                "CAPSA_IT_FROM_CALLER", "-e", "CAPSA_IT_UNSET").out)["env"]
    assert "FOO=cli" in env and "FOO=image" not in env, env
    assert "BAR=keep" in env and "NEW=1" in env, env
    # a bare KEY takes the caller's value, or nothing when the caller has none
    assert "CAPSA_IT_FROM_CALLER=caller" in env, env
    assert not [e for e in env if e.startswith("CAPSA_IT_UNSET")], env
    assert json.loads(images.run("ep", "--workdir", "/t/opq", cmd=["cwd"]).out) == {
        "cwd": "/t/opq"}
    assert json.loads(images.run("ep", "-w", "/t/new-dir", cmd=["cwd"]).out) == {
        "cwd": "/t/new-dir"}


def test_user_by_name_and_override(images):
    images.imp("ep")
    images.imp("rich")
    ids = json.loads(images.run("ep", cmd=["ids"]).out)  # User "app" in /etc/passwd
    assert (ids["uid"], ids["gid"]) == (1000, 1000), ids
    ids = images.check("rich", "ids")  # no User: root
    assert (ids["uid"], ids["gid"]) == (0, 0), ids
    for user, want in (("1234:5678", (1234, 5678)), ("root", (0, 0)), ("app:root", (1000, 0)),
                       ("0:app", (0, 1000)), ("4321", (4321, 0))):
        ids = json.loads(images.run("ep", "--user", user, cmd=["ids"]).out)
        assert (ids["uid"], ids["gid"]) == want, (user, ids)
    # as app: its own file is readable, root's 0600 one is not
    out = images.sh("rich", "cat /t/own/f; ls /root 2>/dev/null || echo denied",
                    opts=("-u", "app"))
    assert out == "mine" "denied\n", out


def test_labels_become_annotations(images):
    images.imp("ep")
    r = images.create("ep")
    st = images.rt.state(r.id)
    ann = st.get("annotations", {})
    assert ann.get("org.example.a") == "1" and ann.get("org.example.b") == "two words", st
    assert ann.get("org.opencontainers.image.stopSignal") == "SIGUSR1", st


# ---- options -----------------------------------------------------------------------------------

def test_read_only(images):
    images.imp("rich")
    r = images.check("rich", "open", "/t/data/keep", "w", opts=("--read-only",))
    assert r["result"] == "EROFS", r
    r = images.check("rich", "open", "/t/data/keep", "w")
    assert r["result"] == "OK", r


def test_volumes(images, testdir):
    images.imp("rich")
    ro, rw = testdir / "vol-ro", testdir / "vol-rw"
    ro.mkdir()
    rw.mkdir()
    (ro / "f").write_text("host\n")
    opts = ("-v", f"{ro}:/mnt/ro:ro", "--volume", f"{rw}:/t/data/rw")
    out = images.sh("rich", "cat /mnt/ro/f; echo x > /mnt/ro/f 2>/dev/null || echo refused; "
                            "echo from-ctr > /t/data/rw/g; ls /t/data", opts=opts)
    assert out.split() == ["host", "refused", "gone", "keep", "new", "rw"], out
    assert (ro / "f").read_text() == "host\n"
    assert (rw / "g").read_text() == "from-ctr\n"
    # the mount point made for the volume went to the container's upper dir, not to a layer
    assert not [d for d in images.layer_dirs() if (d / "diff/t/data/rw").exists()]


def test_memory_cpus_pids_in_the_cgroup(images):
    images.imp("rich")
    r = images.create("rich", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "42",
                      cmd=[CHECKER, "sleep", "30"])
    pid = images.rt.state(r.id)["pid"]
    mem = cgroup_file(pid, "memory", "memory.limit_in_bytes") or cgroup_file(pid, "memory",
                                                                            "memory.max")
    assert mem is not None and int(mem.read_text()) == 64 << 20
    pids = cgroup_file(pid, "pids", "pids.max")
    assert pids is not None and pids.read_text().strip() == "42"
    quota = cgroup_file(pid, "cpu", "cpu.cfs_quota_us")
    if quota is not None:
        assert quota.read_text().strip() == "50000"
        assert cgroup_file(pid, "cpu", "cpu.cfs_period_us").read_text().strip() == "100000"
    else:
        assert cgroup_file(pid, "cpu", "cpu.max").read_text().split() == ["50000", "100000"]


# ---- the container's dir, the store's references ------------------------------------------------

def test_delete_removes_the_container_dir(images):
    digest = images.imp("rich")
    r = images.create("rich")
    d = images.container_dir(r.id)
    assert (d / "image").read_text().strip() == digest
    assert sorted(p.name for p in d.iterdir()) >= ["config.json", "image", "owner", "rootfs",
                                                   "upper", "work"]
    r2 = images.rt("delete", r.id)
    assert r2.rc == 0, r2
    assert not d.exists() and images.containers() == []
    assert not images.mounts()
    # run (without --detach) removes its dir when the process exits
    images.run("rich", cmd=["/bin/true"])
    assert images.containers() == []


def test_image_rm_refused_while_a_container_uses_it(images):
    digest = images.imp("rich")
    r = images.create("rich")
    for args in ((digest,), ("--force", "rich")):
        rm = images("image", "rm", *args)
        assert rm.rc != 0 and r.id in rm.err, rm  # the error names the container
    assert images.layer_dirs()
    assert images.rt("delete", r.id).rc == 0
    rm = images("image", "rm", digest)
    assert rm.rc == 0, rm
    assert images.layer_dirs() == []


def test_prune_all_keeps_what_a_running_container_uses(images):
    images.imp("rich")
    images.imp("other")
    used = images.layer_dirs()
    cid, pid = images.detached("rich")
    r = images("image", "prune", "--all")
    assert r.rc == 0, r
    kept = images.layer_dirs()
    assert len(kept) == 3 and len(used) == 4, (used, kept)  # other's layer went
    r = images("image", "list")
    assert r.rc == 0 and "rich" in r.out and "other" not in r.out, r
    # the container keeps working: its lowers are there, exec reads and writes
    assert images.exec(cid, "/bin/sh", "-c", "cat /t/data/keep; echo w > /t/w; cat /t/w") \
        == "v2w\n"
    assert images.rt("delete", "--force", cid).rc == 0
    r = images("image", "prune", "--all")
    assert r.rc == 0, r
    assert images.layer_dirs() == []


# ---- tenants: idmapped lowers -------------------------------------------------------------------

def test_tenant_sees_image_owners_through_idmapped_layers(images):
    images.imp("rich")
    try:
        out = images.sh("rich", "stat -c '%u:%g' /t/data/keep /t/own/f /bin/busybox; "
                                "id -u; cat /proc/self/uid_map; "
                                "echo w > /t/tenant-wrote && stat -c '%u' /t/tenant-wrote",
                        opts=("--tenant", "T"))
        lines = out.splitlines()
        assert lines[:4] == ["0:0", "1000:1000", "0:0", "0"], out
        inside, host, count = lines[4].split()
        assert inside == "0" and host != "0", out  # a user namespace, root not the host's
        assert lines[5] == "0", out
        # one copy of the image serves every tenant: the layers are still owned by 0 and 1000
        for d in images.layer_dirs():
            keep = d / "diff/t/data/keep"
            if keep.exists():
                assert (os.lstat(keep).st_uid, os.lstat(keep).st_gid) == (0, 0)
            own = d / "diff/t/own/f"
            if own.exists():
                assert os.lstat(own).st_uid == 1000
        # a second tenant's container and a plain one see the same owners
        out = images.sh("rich", "stat -c '%u:%g' /t/data/keep /t/own/f",
                        opts=("--tenant", "U"))
        assert out.split() == ["0:0", "1000:1000"], out
        out = images.sh("rich", "stat -c '%u:%g' /t/data/keep /t/own/f")
        assert out.split() == ["0:0", "1000:1000"], out
    finally:
        stop_runtime(images.rt)
        for t in ("T", "U"):
            images.rt("tenant", "remove", t)


# ---- failures leave nothing ---------------------------------------------------------------------

@pytest.mark.parametrize("opts, ref, needle", [
    (("--user", "nosuchuser"), "rich", "nosuchuser"),
    (("--user", "app:nosuchgroup"), "rich", "nosuchgroup"),
    ((), "nosuch:tag", "nosuch"),
    ((), "sha256:" + "0" * 64, "sha256:" + "0" * 64),
    (("-v", "/nonexistent-capsa-it:/mnt"), "rich", "/nonexistent-capsa-it"),
])
def test_failed_create_leaves_nothing(images, opts, ref, needle):
    images.imp("rich")
    before = snapshot(images.root / "layers")
    r = images.create(ref, *opts, expect_rc=None)
    assert r.rc != 0 and needle in r.err, r
    assert images.containers() == [] and not images.mounts()
    assert not (images.rt.root / r.id).exists()
    assert snapshot(images.root / "layers") == before


def test_failed_start_leaves_nothing(images):
    images.imp("rich")
    r = images.run("rich", cmd=["/no/such/binary"], expect_rc=None)
    assert r.rc != 0 and "/no/such/binary" in r.err, r
    assert images.containers() == [] and not images.mounts()
    assert not (images.rt.root / r.id).exists()


def test_image_defaults_caps_and_seccomp(images):
    """An image container gets the capabilities images expect (podman's set without NET_RAW
    and MKNOD; only in the bounding set for a user other than root) and capsa's default
    seccomp profile, both written into its config.json where `spec --image` shows them."""
    images.imp("rich")
    out = images.sh("rich", "grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; "
                    "unshare -U true 2>/dev/null; echo unshare=$?")
    fields = dict(line.split(":\t") for line in out.splitlines() if ":\t" in line)
    want = sum(1 << c for c in (0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29, 31))
    assert int(fields["CapEff"], 16) == want, out
    assert int(fields["CapBnd"], 16) == want, out
    assert fields["Seccomp"] == "2", out
    assert "unshare=1" in out, out  # refused by the profile (EPERM), not run
    out = images.sh("rich", "grep -E '^(CapEff|CapBnd):' /proc/self/status", opts=("-u", "1000"))
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == want, out


def test_command_after_the_id_and_image_options_without_image(images, testdir):
    """With --image, options end at the container id (as docker run): `ID sh -c ...` runs that
    command, `ID -- CMD` too.  Without --image, an image option is a usage error wherever it
    stands, also before or after other options."""
    images.imp("rich")
    cid = images.rt.new_id()
    r = images("run", "--image", "rich", "-e", "A=1", cid, "/bin/sh", "-c", "echo $A-$0")
    assert r.rc == 0 and r.out.strip() == "1-/bin/sh", r
    for args in (["-e", "A=1", "-b", str(testdir)], ["-b", str(testdir), "-e", "A=1", "-d"],
                 ["--read-only", "--pid-file", str(testdir / "p")]):
        r = images("run", *args, images.rt.new_id())
        assert r.rc == 1 and "need --image" in r.err, (args, r)
    assert images.containers() == []
