"""`capsa image`: list, inspect, tag, rm and prune on images imported from OCI layouts made by
imagelib, each in a store of its own (--image-root); the references a name, a digest or an ID
prefix may be; refusals (unknown and ambiguous references, images in use, usage errors); and
what prune removes and keeps: images without names, layers no image uses, leftovers in tmp/,
the dirs of containers that are gone.  Containers of the store are written by hand here
(ROOT/containers/NAME/{image,owner}) as `create --image` writes them."""

import fcntl
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

import imagelib as L
from conftest import CAPSA

pytestmark = pytest.mark.capsa_only

HEX64 = re.compile(r"^sha256:[0-9a-f]{64}$")


class Store:
    def __init__(self, testdir):
        self.dir = testdir
        self.root = testdir / "images"
        self.n = 0

    def run(self, *args, timeout=60):
        return subprocess.run([CAPSA, "--image-root", str(self.root), *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)

    def __call__(self, *args):
        return self.run("image", *args)

    def ok(self, *args):
        r = self(*args)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def fails(self, *args, msg=None):
        r = self(*args)
        assert r.returncode == 1, (args, r.returncode, r.stdout, r.stderr)
        if msg:
            assert msg in r.stderr, (msg, r.stderr)
        return r

    def layout(self, layers, **kw):
        """An OCI layout of its own; returns (oci:DIR, manifest digest)."""
        self.n += 1
        d = self.dir / f"layout{self.n}"
        return f"oci:{d}", L.write_oci_layout(d, layers, **kw)

    def add(self, layers, name=None, **kw):
        """Imports an image; returns its manifest digest."""
        src, digest = self.layout(layers, ref=None, **kw)
        r = self.ok("import", "--quiet", src, *([name] if name else []))
        assert r.stdout.strip() == digest
        return digest

    def list(self):
        return json.loads(self.ok("list", "--format", "json").stdout)

    def inspect(self, ref):
        return json.loads(self.ok("inspect", ref).stdout)[0]

    def layers(self):
        return sorted(os.listdir(self.root / "layers" / "sha256"))

    def blobs(self):
        return sorted(os.listdir(self.root / "blobs" / "sha256"))

    def container(self, name, manifest, state_root, cid, alive=True):
        """ROOT/containers/NAME holding manifest, owned by STATEROOT/ID (made when alive)."""
        d = self.root / "containers" / name
        (d / "upper" / "etc").mkdir(parents=True)
        (d / "work").mkdir()
        (d / "rootfs").mkdir()
        (d / "image").write_text(manifest + "\n")
        (d / "owner").write_text(f"{state_root} {cid}\n")
        if alive:
            (state_root / cid).mkdir(parents=True)
        return d


@pytest.fixture
def store(testdir):
    return Store(testdir)


def layer(tag, size=100):
    return [L.file(f"{tag}.txt", tag.encode() * size)]


def hexes(digests):
    return sorted(d.split(":", 1)[1] for d in digests)


# ---- list, inspect ----------------------------------------------------------------------------


def test_empty_store(store):
    r = store.ok("list")
    assert r.stdout.split() == ["NAME", "ID", "ADDED", "(UTC)", "SIZE", "IN", "USE"]
    assert json.loads(store.ok("list", "--format", "json").stdout) == []
    assert store.ok("list", "-q").stdout == ""
    for sub in ("blobs/sha256", "layers/sha256", "containers", "tmp"):
        assert (store.root / sub).is_dir()
    assert (store.root.stat().st_mode & 0o777) == 0o700
    store.fails("inspect", "alpine", msg="the store has no images")


def test_list_and_inspect(store):
    shared = layer("shared", 1000)
    a = store.add([shared, layer("a", 10)], "registry.example:5000/library/alpine:3.19",
                  config={"Cmd": ["/bin/app"], "Env": ["A=1"], "WorkingDir": "/w",
                          "User": "1000:1000", "Labels": {"k": "v"}, "StopSignal": "SIGINT"})
    b = store.add([shared], "busybox")
    imgs = {i["Digest"]: i for i in store.list()}
    assert set(imgs) == {a, b}
    ia = imgs[a]
    assert ia["Names"] == ["registry.example:5000/library/alpine:3.19"]
    assert HEX64.match(ia["Id"]) and ia["Size"] == 6000 + 10 and ia["InUse"] is False
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ia["Added"])
    assert imgs[b]["Names"] == ["busybox:latest"] and imgs[b]["Size"] == 6000

    table = store.ok("list").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "ID"]
    rows = {l.split()[0]: l.split() for l in table[1:]}
    assert rows["busybox:latest"][1] == imgs[b]["Id"][7:19]
    assert rows["registry.example:5000/library/alpine:3.19"][1] == ia["Id"][7:19]
    assert sorted(store.ok("ls", "--quiet").stdout.split()) == \
        sorted(i["Id"][7:19] for i in imgs.values())

    i = store.inspect("alpine:3.19")
    assert i["Id"] == ia["Id"] and i["Digest"] == a
    assert i["Config"]["Cmd"] == ["/bin/app"] and i["Config"]["User"] == "1000:1000"
    assert i["Config"]["Labels"] == {"k": "v"} and i["Config"]["StopSignal"] == "SIGINT"
    assert i["Config"]["WorkingDir"] == "/w" and i["Config"]["Env"] == ["A=1"]
    assert i["Architecture"] == L.host_arch() and i["Os"] == "linux"
    assert i["RootFS"]["Layers"] == [l["digest"] for l in i["Manifest"]["layers"]]
    assert len(i["RootFS"]["DiffIDs"]) == 2 and all(HEX64.match(d) for d in i["RootFS"]["DiffIDs"])
    assert i["Manifest"]["config"]["digest"] == ia["Id"]
    assert hexes(i["RootFS"]["Layers"]) == sorted(
        set(hexes(i["RootFS"]["Layers"])) & set(store.layers()))

    # several at once; one unknown: the others are printed, and the exit code is 1
    r = store.fails("inspect", "busybox", "nothere", a, msg="no image `nothere`")
    assert [x["Digest"] for x in json.loads(r.stdout)] == [b, a]


def test_references(store):
    a = store.add([layer("a")], "registry.example:5000/library/alpine:3.19")
    b = store.add([layer("b")], "other.example/library/alpine:3.19")
    c = store.add([layer("c")], "localhost/tools/busybox:1.36")
    ia, ic = store.inspect(a), store.inspect(c)
    for ref in ("localhost/tools/busybox:1.36", "tools/busybox:1.36", "busybox:1.36", c,
                ic["Id"], ic["Id"][7:19], ic["Id"][7:11], c[7:15]):
        assert store.inspect(ref)["Digest"] == c, ref
    assert store.inspect("registry.example:5000/library/alpine:3.19")["Digest"] == a
    assert store.inspect(ia["Id"][7:17])["Digest"] == a
    assert store.inspect("other.example/library/alpine:3.19")["Digest"] == b

    # a name's tail matches whole path components only, and must be unique
    r = store.fails("inspect", "alpine:3.19", msg="ambiguous")
    assert "registry.example:5000/library/alpine:3.19" in r.stderr
    assert "other.example/library/alpine:3.19" in r.stderr
    store.fails("inspect", "pine:3.19", msg="no image `pine:3.19`")
    store.fails("inspect", "busybox", msg="no image `busybox`")  # busybox:latest
    r = store.fails("inspect", "nothere:1", msg="`capsa image list` shows them")
    assert "localhost/tools/busybox:1.36" in r.stderr
    store.fails("inspect", "sha256:1234", msg="not a sha256 digest")
    store.fails("inspect", "sha256:" + "0" * 64, msg="no image `sha256:000")
    store.fails("inspect", "Not/A Name", msg="is not an image name, a digest or an ID")
    store.fails("inspect", "abc", msg="no image `abc`")  # 3 hex digits: a name, never an ID


def test_ambiguous_id_prefix(store):
    """Two images whose IDs start with the same 4 hex digits (found by trying configs)."""
    entries = layer("x")
    diff_id = L.digest(L._tar(entries))
    seen = {}
    for i in range(20000):
        cfg = {"Env": [f"N={i}"]}
        d = L.digest(L.image_config_json([diff_id], cfg))
        if d[7:11] in seen:
            break
        seen[d[7:11]] = cfg
    else:
        pytest.fail("no two configs share 4 hex digits")
    a = store.add([entries], "one", config=seen[d[7:11]])
    b = store.add([entries], "two", config=cfg)
    ia, ib = store.inspect(a), store.inspect(b)
    assert ia["Id"][7:11] == ib["Id"][7:11] == d[7:11]
    r = store.fails("inspect", d[7:11], msg="ambiguous")
    assert ia["Id"][7:19] in r.stderr and ib["Id"][7:19] in r.stderr
    # one digit more than the shared prefix picks one (unless they share that too)
    n = next(k for k in range(4, 64) if ia["Id"][7 + k] != ib["Id"][7 + k]) + 1
    assert store.inspect(ia["Id"][7:7 + n])["Digest"] == a
    store.fails("rm", d[7:11], msg="ambiguous")
    assert {i["Digest"] for i in store.list()} == {a, b}


# ---- tag ---------------------------------------------------------------------------------------


def test_tag(store):
    a = store.add([layer("a")], "a")
    b = store.add([layer("b")], "b")
    assert store.ok("tag", "a", "registry.example/team/app:v1").stdout == ""
    assert store.inspect("app:v1")["Digest"] == a
    assert store.inspect("a")["Names"] == ["a:latest", "registry.example/team/app:v1"]
    # a name moves from the image that had it
    store.ok("tag", b, "team/app:v1")
    store.ok("tag", "b", "registry.example/team/app:v1")
    assert store.inspect("registry.example/team/app:v1")["Digest"] == b
    assert store.inspect("a")["Names"] == ["a:latest"]
    store.ok("tag", store.inspect("b")["Id"][7:13], "c")
    assert store.inspect("c:latest")["Digest"] == b
    store.fails("tag", "nothere", "x", msg="no image `nothere`")
    for bad in ("Upper", "a:", "a b", "x:-1", "x-", "/x", "x//y", "h:1x/y"):
        store.fails("tag", "a", bad, msg="not a valid image name")
    store.fails("tag", "a", msg="expects REF and NAME, got 1 argument")


# ---- rm ----------------------------------------------------------------------------------------


def test_rm(store):
    shared = layer("shared")
    a = store.add([shared, layer("a")], "a")
    b = store.add([shared, layer("b")], "b")
    ia, ib = store.inspect(a), store.inspect(b)
    assert len(store.layers()) == 3 and len(store.blobs()) == 4
    store.ok("tag", "a", "a2")

    # by name, with another name left: only the name goes
    assert store.ok("rm", "a2").stdout == "a2\n"
    assert store.inspect(a)["Names"] == ["a:latest"]
    assert len(store.layers()) == 3
    # its last name: the image, its own layer and blobs; the shared layer stays
    store.ok("rm", "a")
    assert [i["Digest"] for i in store.list()] == [b]
    assert store.layers() == hexes(ib["RootFS"]["Layers"])
    assert store.blobs() == hexes([b, ib["Id"]])
    assert a[7:] not in store.blobs() and ia["Id"][7:] not in store.blobs()

    # by ID: every name with it
    store.ok("tag", "b", "b2")
    store.ok("rm", ib["Id"][7:19])
    assert store.list() == [] and store.layers() == [] and store.blobs() == []
    assert json.loads((store.root / "images.json").read_text()) == {"images": []}

    # --force by name: the image with its other names
    c = store.add([layer("c")], "c")
    store.ok("tag", "c", "c2")
    store.ok("rm", "--force", "c2")
    assert store.list() == [] and store.layers() == []

    # several: one unknown does not stop the others
    store.add([layer("d")], "d")
    store.add([layer("e")], "e")
    r = store.fails("rm", "d", "nothere", "e", msg="no image `nothere`")
    assert r.stdout.split() == ["d", "e"]
    assert store.list() == []
    store.fails("rm", c, msg="no image `sha256:")


def test_rm_and_prune_keep_an_image_in_use(store, testdir):
    shared = layer("shared")
    a = store.add([shared, layer("a")], "a")
    b = store.add([shared, layer("b")], "b")
    ia = store.inspect(a)
    state = testdir / "state"
    store.container("web1-0123abcd", a, state, "web1")
    store.container("web2-4567cdef", a, state, "web2")
    assert store.inspect("a")["InUse"] is True and store.inspect("b")["InUse"] is False
    assert [i["InUse"] for i in store.list() if i["Digest"] == a] == [True]

    r = store.fails("rm", "a", msg="is used by containers `web1`")
    assert "`web2`" in r.stderr and "capsa delete" in r.stderr
    store.fails("rm", "--force", ia["Id"], msg="is used by")
    # a second name can go; the image stays
    store.ok("tag", "a", "a2")
    store.ok("rm", "a2")

    r = store.ok("prune", "--all")
    assert [i["Digest"] for i in store.list()] == [a]
    assert store.layers() == hexes(ia["RootFS"]["Layers"])
    assert store.blobs() == hexes([a, ia["Id"]])
    assert (store.root / "containers" / "web1-0123abcd").is_dir()

    # web1 is gone, web2 still holds the image
    os.rmdir(state / "web1")
    store.ok("prune")
    assert not (store.root / "containers" / "web1-0123abcd").exists()
    assert (store.root / "containers" / "web2-4567cdef").is_dir()
    store.fails("rm", "a", msg="is used by container `web2`")
    # gone too: the image can go
    os.rmdir(state / "web2")
    store.ok("rm", "a")
    assert store.list() == [] and store.layers() == []
    store.ok("prune")
    assert os.listdir(store.root / "containers") == []
    del b


def test_a_container_being_made_holds_its_image(store, testdir):
    """A container dir someone holds a flock on (create --image, before the container's state
    dir exists) is neither an orphan nor a container without its image."""
    a = store.add([layer("a")], "a")
    d = store.container("new-0123", a, testdir / "state", "new", alive=False)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        store.fails("rm", "a", msg="(being created)")
        store.ok("prune", "--all")
        assert d.is_dir() and [i["Digest"] for i in store.list()] == [a]
    finally:
        os.close(fd)
    store.ok("prune", "--all")
    assert not d.exists() and store.list() == []


# ---- prune -------------------------------------------------------------------------------------


def test_prune(store, testdir):
    named = store.add([layer("named", 500)], "named")
    nameless = store.add([layer("nameless", 300)])
    assert store.inspect(nameless)["Names"] == []
    unnamed_later = store.add([layer("u", 10)], "u")
    store.ok("tag", "named", "u")  # takes the name: that image is left without one
    assert store.inspect(unnamed_later)["Names"] == []

    # leftovers of imports that died, and one an import holds
    tmp = store.root / "tmp"
    (tmp / "layer-0123456789abcdef" / "usr").mkdir(parents=True)
    (tmp / "layer-0123456789abcdef" / "usr" / "f").write_bytes(b"x" * 4096)
    (tmp / "blob-partial").write_bytes(b"y" * 1000)
    held = tmp / ("ab" * 32 + ".lock")
    held.write_text("")
    fd = os.open(held, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    # a container that is gone, whose upper dir holds root's files and a whiteout device
    orphan = store.container("gone-1", named, testdir / "state", "gone", alive=False)
    (orphan / "upper" / "etc" / "secret").write_text("s")
    os.chmod(orphan / "upper" / "etc" / "secret", 0)
    os.mknod(orphan / "upper" / "etc" / "passwd", 0o600 | 0o020000, os.makedev(0, 0))
    os.chmod(orphan / "upper" / "etc", 0o500)
    try:
        r = store.ok("prune")
        m = re.match(r"^freed (\d+(\.\d)?) (B|KiB|MiB)$", r.stdout.strip())
        assert m, r.stdout
        assert {i["Digest"] for i in store.list()} == {named}
        assert os.listdir(tmp) == [held.name]
        assert not orphan.exists()
    finally:
        os.close(fd)
    assert store.layers() == hexes(store.inspect("named")["RootFS"]["Layers"])

    assert store.ok("prune").stdout == "freed 0 B\n"
    assert os.listdir(tmp) == []  # no longer held
    store.ok("prune", "-a")
    assert store.list() == [] and store.layers() == [] and store.blobs() == []


def test_prune_reports_bytes(store):
    store.add([[L.file("big", b"z" * 300000)]])
    r = store.ok("prune")
    m = re.match(r"^freed (\d+\.\d) KiB\n$", r.stdout)
    assert m and 293 <= float(m.group(1)) < 300, r.stdout  # the layer's 300000 bytes and blobs
    assert store.layers() == [] and store.blobs() == []


# ---- concurrency ------------------------------------------------------------------------------


def test_parallel_imports_keep_every_record(store):
    """Imports hold the store shared and change images.json under their own short lock: none
    loses another's record."""
    shared = layer("shared", 2000)
    srcs = [store.layout([shared, layer(f"p{i}")], ref=None) for i in range(6)]
    with ThreadPoolExecutor(6) as ex:
        rs = list(ex.map(lambda i: store("import", "-q", srcs[i][0], f"p{i}"), range(6)))
    for r in rs:
        assert r.returncode == 0, r.stderr
    imgs = {i["Digest"]: i["Names"] for i in store.list()}
    assert imgs == {srcs[i][1]: [f"p{i}:latest"] for i in range(6)}
    assert len(store.layers()) == 7
    assert os.listdir(store.root / "tmp") == []


# ---- usage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,msg", [
    ([], "Usage: capsa image"),
    (["frobnicate"], "unknown subcommand `frobnicate`"),
    (["list", "extra"], "expects no arguments"),
    (["list", "--format", "xml"], "--format: `xml` is not table or json"),
    (["list", "--bogus"], "unknown option `--bogus`"),
    (["inspect"], "expects at least one image"),
    (["rm"], "expects at least one image"),
    (["rm", "-x", "a"], "unknown option `-x`"),
    (["tag", "a", "b", "c"], "expects REF and NAME, got 3 arguments"),
    (["prune", "x"], "expects no arguments"),
    (["prune", "--force"], "unknown option `--force`"),
    (["import"], "expects SOURCE [NAME[:TAG]], got 0 arguments"),
    (["import", "a", "b", "c"], "got 3 arguments"),
    (["pull"], "expects an image reference"),
    (["pull", "--tls-verify=maybe", "x"], "--tls-verify: `maybe` is not true or false"),
    (["pull", "--creds", "nocolon", "x"], "--creds: expects USER:PASSWORD"),
    (["pull", "--ca-file"], "flag needs an argument: `--ca-file`"),
])
def test_usage_errors(store, args, msg):
    r = store(*args)
    assert r.returncode == 1, r
    assert msg in r.stderr, r.stderr
    assert r.stdout == ""


def test_help_and_global_option(store):
    for sub in ("", "import", "pull", "list", "inspect", "tag", "rm", "prune"):
        r = store(*([sub] if sub else []), "--help")
        assert r.returncode == 0 and r.stdout.startswith("Usage: capsa image"), (sub, r)
    r = store.run("--help")
    assert "--image-root DIR" in r.stdout and re.search(r"\n  image +manage images", r.stdout)
    r = subprocess.run([CAPSA, "--image-root", "", "image", "list"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1 and "--image-root: empty path" in r.stderr
    f = store.dir / "afile"
    f.write_text("")
    r = subprocess.run([CAPSA, "--image-root", str(f / "x"), "image", "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and f"image store `{f}/x`" in r.stderr, r.stderr


def test_damaged_store(store):
    a = store.add([layer("a")], "a")
    (store.root / "blobs" / "sha256" / a[7:]).write_text("{}")
    store.fails("inspect", "a", msg="is damaged")
    # the image can still be removed; nothing else is lost
    store.ok("rm", "a")
    assert store.list() == [] and store.layers() == [] and store.blobs() == []
    (store.root / "images.json").write_text('{"images": [{"manifest": "x"}]}')
    store.fails("list", msg="images[0].manifest: not a sha256 digest")


def test_rm_beside_a_damaged_image(store):
    """An image whose manifest cannot be read stops garbage collection (its layers are not
    known), but not the removal of another image; prune says why it removed nothing."""
    a = store.add([layer("a")], "a")
    b = store.add([layer("b")], "b")
    (store.root / "blobs" / "sha256" / b[7:]).write_text("{}")
    r = store.ok("rm", "a")
    assert "is damaged" in r.stderr and r.stdout == "a\n"
    assert [i["Digest"] for i in store.list()] == [b]
    assert len(store.layers()) == 2
    store.fails("prune", msg="nothing removed from the layers and blobs: image")
    assert len(store.layers()) == 2
    store.ok("rm", "b")
    assert store.list() == [] and store.layers() == [] and store.blobs() == []
    del a


def test_prune_unmounts_an_orphan_rootfs(store, testdir):
    """A container whose runtime died before delete may leave its rootfs mounted."""
    a = store.add([layer("a")], "a")
    d = store.container("gone-2", a, testdir / "state", "gone", alive=False)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "capsa-it-orphan", d / "rootfs"],
                   check=True, timeout=10)
    try:
        (d / "rootfs" / "f").write_text("x")
        store.ok("prune")
        assert not d.exists()
        assert str(d) not in open("/proc/self/mountinfo").read()
    finally:
        if str(d / "rootfs") in open("/proc/self/mountinfo").read():
            subprocess.run(["umount", "-l", d / "rootfs"], timeout=10)
