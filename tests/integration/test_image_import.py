"""capsa image import: an OCI layout, an oci-archive and a docker-archive of one image give the
same layers; gzip, zstd and plain layers; multi-platform indexes; the names images get; bad
input of every kind refused with a clear error and nothing new in the store; parallel imports
sharing layers; progress on a terminal only.

Images are made by tests/integration/imagelib.py; each test has its own image root (a tmp dir).
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

import imagelib as L
from conftest import CAPSA, IS_CAPSA, stop_runtime

pytestmark = [pytest.mark.capsa_only,
              pytest.mark.skipif(not IS_CAPSA, reason="capsa's own image store")]


# ---- helpers -----------------------------------------------------------------------------------


def capsa(root, *args, timeout=120, **kw):
    return subprocess.run([CAPSA, "--image-root", str(root), *map(str, args)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


def imp(root, source, name=None, check=True):
    r = capsa(root, "image", "import", "--quiet", source, *([name] if name else []))
    if check:
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        return r.stdout.strip()
    return r


def images(root):
    r = capsa(root, "image", "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def names(root):
    return sorted(n for i in images(root) for n in i["Names"])


def stored_layers(root, manifest_digest):
    with open(os.path.join(root, "blobs", "sha256", manifest_digest[7:])) as f:
        return [l["digest"] for l in json.load(f)["layers"]]


def layer_dir(root, digest):
    return os.path.join(root, "layers", "sha256", digest[7:], "diff")


def listdir(p):
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def snapshot(root):
    """What an import that fails must leave as it was."""
    p = os.path.join(root, "images.json")
    data = open(p).read() if os.path.exists(p) else None
    return {"images.json": data,
            "layers": listdir(os.path.join(root, "layers", "sha256")),
            "blobs": listdir(os.path.join(root, "blobs", "sha256")),
            "tmp": listdir(os.path.join(root, "tmp"))}


def tree(d):
    """Every entry under d: type, mode, owner, content, link target, device, xattrs, and for
    regular files the mtime and which other names share the inode."""
    out, inodes = {}, {}
    for top, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(top, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, d)
            rec = {"type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
                   "uid": st.st_uid, "gid": st.st_gid,
                   "xattrs": sorted((k, os.getxattr(p, k, follow_symlinks=False))
                                    for k in os.listxattr(p, follow_symlinks=False))}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
                rec["mtime"] = int(st.st_mtime)
                inodes.setdefault(st.st_ino, []).append(rel)
                rec["ino"] = st.st_ino
            elif stat.S_ISLNK(st.st_mode):
                rec["target"] = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                rec["rdev"] = st.st_rdev
            out[rel] = rec
    for rec in out.values():
        if "ino" in rec:
            rec["links"] = sorted(inodes[rec.pop("ino")])
    return out


def top_entries():
    """A layer over busybox with what a layer can hold."""
    # readable by all: the container's root has runc's default capabilities (no DAC_OVERRIDE)
    return [L.dir("srv", mode=0o755, uid=1000, gid=1000),
            L.file("srv/data", "payload\n" * 100, mode=0o604, uid=1000, gid=1000,
                   xattrs={"user.note": "kept"}),
            L.hardlink("srv/data-link", "srv/data"),
            L.file("srv/suid", "#!/bin/sh\n", mode=0o4755),
            L.symlink("srv/rel", "data"),
            L.symlink("srv/abs", "/etc/passwd"),
            L.device("srv/null", "c", 1, 3),
            L.fifo("srv/pipe"),
            L.whiteout("etc/group"),
            L.dir("tmp"), L.opaque("tmp")]


@pytest.fixture
def root(tmp_path):
    d = tmp_path / "store"
    yield str(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def base():
    """The busybox layer (gzip) every image here starts from, made once."""
    return L.layer_tar(L.busybox_entries())


# ---- one image, three sources ------------------------------------------------------------------


def test_layout_oci_archive_docker_archive_same_layers(tmp_path, base):
    layers = [base, L.layer_tar(top_entries(), None)]
    roots = {k: str(tmp_path / k) for k in ("oci", "ociarch", "docker")}
    L.write_oci_layout(tmp_path / "layout", layers)
    L.write_oci_archive(tmp_path / "img.tar", layers)
    # docker save writes uncompressed layers
    L.write_docker_archive(tmp_path / "docker.tar", [L.uncompress(l) for l in layers])
    d1 = imp(roots["oci"], f"oci:{tmp_path}/layout:latest", "img:1")
    d2 = imp(roots["ociarch"], f"oci-archive:{tmp_path}/img.tar", "img:1")
    d3 = imp(roots["docker"], f"docker-archive:{tmp_path}/docker.tar")
    assert d1 == d2, "the layout and its archive are the same image"
    trees = {k: [tree(layer_dir(roots[k], l)) for l in stored_layers(roots[k], d)]
             for k, d in (("oci", d1), ("ociarch", d2), ("docker", d3))}
    assert trees["oci"] == trees["ociarch"] == trees["docker"]
    top = trees["oci"][1]
    assert top["srv/data"]["links"] == ["srv/data", "srv/data-link"]
    assert top["srv/data"]["xattrs"] == [("user.note", b"kept")]
    assert top["srv/suid"]["mode"] == 0o4755
    assert top["srv/null"]["rdev"] == os.makedev(1, 3)
    assert top["etc/group"]["type"] == stat.S_IFCHR and top["etc/group"]["rdev"] == 0
    assert (b"trusted.overlay.opaque", b"y") in [(k.encode(), v) for k, v in top["tmp"]["xattrs"]]
    for r in roots.values():
        assert listdir(os.path.join(r, "tmp")) == []
    assert names(roots["docker"]) == ["test/img:latest"]


# what a container sees: every entry under the directories the image's top layer touches
SEEN_SCRIPT = ("find /srv /etc /tmp | while read p; do "
               "echo \"$(stat -c '%n|%f|%u|%g|%s|%h|%t|%T|%Y' \"$p\")|$(readlink \"$p\")|"
               "$(if [ -f \"$p\" ]; then sha256sum < \"$p\"; fi)\"; done")


def test_containers_of_the_three_sources_see_the_same_tree(runtime, testdir, base):
    """One image imported from its OCI layout, its oci-archive and its docker-archive: a
    container of each sees the same files (the whiteout of /etc/group, the opaque /tmp, the
    hard link, the setuid file, the device, the fifo, the symlinks)."""
    iroot = testdir / "images"
    runtime.bundles.append(iroot)  # the runtime fixture's leak checks cover it
    layers = [base, L.layer_tar(top_entries(), None)]
    L.write_oci_layout(testdir / "layout", layers)
    L.write_oci_archive(testdir / "img.tar", layers)
    L.write_docker_archive(testdir / "docker.tar", [L.uncompress(l) for l in layers])
    imp(iroot, f"oci:{testdir}/layout", "from/layout:1")
    imp(iroot, f"oci-archive:{testdir}/img.tar", "from/archive:1")
    imp(iroot, f"docker-archive:{testdir}/docker.tar", "from/docker:1")
    seen = {}
    try:
        for name in ("from/layout:1", "from/archive:1", "from/docker:1"):
            cid = runtime.new_id()
            r = runtime("--image-root", iroot, "run", "--image", name, cid, "--",
                        "/bin/sh", "-c", SEEN_SCRIPT, timeout=60)
            assert r.rc == 0, r
            seen[name] = sorted(r.out.splitlines())
    finally:
        stop_runtime(runtime)
    assert seen["from/layout:1"] == seen["from/archive:1"] == seen["from/docker:1"]
    lines = {l.split("|")[0]: l.split("|") for l in seen["from/docker:1"]}
    assert "/etc/group" not in lines and "/etc/passwd" in lines, "the whiteout hides it"
    assert lines["/srv/data"][5] == "2", "the hard link"
    assert lines["/srv/data"][2:4] == ["1000", "1000"], "owners kept"
    assert int(lines["/srv/suid"][1], 16) & 0o7777 == 0o4755
    assert lines["/srv/null"][6:8] == ["1", "3"]
    assert lines["/srv/abs"][-2] == "/etc/passwd"
    assert sorted(p for p in lines if p.startswith("/tmp/")) == [], "opaque: /tmp is empty"
    assert listdir(iroot / "containers") == []


@pytest.mark.parametrize("style", ["legacy", "podman", "blobs"])
def test_docker_archive_styles(root, tmp_path, base, style):
    L.write_docker_archive(tmp_path / "d.tar", [base, [L.file("hello", "hi")]],
                           repotag="example.org/app:2", style=style)
    d = imp(root, f"docker-archive:{tmp_path}/d.tar")
    assert names(root) == ["example.org/app:2"]
    assert images(root)[0]["Digest"] == d
    top = layer_dir(root, stored_layers(root, d)[1])
    assert open(os.path.join(top, "hello")).read() == "hi"
    assert imp(root, f"docker-archive:{tmp_path}/d.tar") == d, "the same archive, the same image"


def test_docker_archive_symlinked_layer(root, tmp_path, base):
    """docker save's legacy format stores a layer two image layers share once, the second
    ID/layer.tar a symlink to the first: followed, as long as it stays in the archive."""
    plain = L.uncompress(base)
    path = tmp_path / "d.tar"
    L.write_docker_archive(path, [plain, plain], repotag="twice:1")
    members = []
    with tarfile.open(path) as tf:
        man = json.load(tf.extractfile("manifest.json"))
        first, second = man[0]["Layers"]
        for m in tf:
            if m.name == second:
                members.append(L.symlink(second, "../" + first))
            else:
                members.append(L.raw(m, tf.extractfile(m).read() if m.isreg() else b""))
    L.write_tar(path, members)
    d = imp(root, f"docker-archive:{path}")
    assert stored_layers(root, d) == [L.digest(plain)] * 2
    assert names(root) == ["twice:1"]


def test_docker_archive_several_images(root, tmp_path, base):
    """manifest.json with two images: REF picks one by tag or by @N; none given is an error."""
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    L.write_docker_archive(a, [base], repotag="one:1")
    L.write_docker_archive(b, [base, [L.file("two")]], repotag="two:2")
    work = tmp_path / "merged"
    work.mkdir()
    man = []
    for t in (a, b):
        with tarfile.open(t) as tf:
            tf.extractall(work)
            man += json.load(tf.extractfile("manifest.json"))
    (work / "manifest.json").write_text(json.dumps(man))
    merged = tmp_path / "merged.tar"
    with tarfile.open(merged, "w") as tf:
        for n in sorted(os.listdir(work)):
            tf.add(work / n, arcname=n)
    r = imp(root, f"docker-archive:{merged}", check=False)
    assert r.returncode != 0
    assert "holds 2 images" in r.stderr and "one:1" in r.stderr and "two:2" in r.stderr
    imp(root, f"docker-archive:{merged}:two:2")
    assert names(root) == ["two:2"]
    imp(root, f"docker-archive:{merged}:@0", "first:x")
    assert names(root) == ["first:x", "two:2"]
    r = imp(root, f"docker-archive:{merged}:three:3", check=False)
    assert r.returncode != 0 and "no image `three:3`" in r.stderr
    assert listdir(os.path.join(root, "tmp")) == []


# ---- compression -------------------------------------------------------------------------------


def test_gzip_zstd_plain_layers(root, tmp_path, base):
    layers = [base,
              L.layer_tar([L.file("z", "zstd layer")], "zstd"),
              L.layer_tar([L.file("p", "plain layer")], None),
              L.layer_tar([L.file("g", "gzip layer")], "gzip")]
    L.write_oci_layout(tmp_path / "l", layers)
    with open(os.path.join(tmp_path, "l", "index.json")) as f:
        mdig = json.load(f)["manifests"][0]["digest"]
    man = json.loads(L.read_blob(tmp_path / "l", mdig))
    assert [l["mediaType"] for l in man["layers"]] == [L.MT_TAR_GZIP, L.MT_TAR_ZSTD, L.MT_TAR,
                                                       L.MT_TAR_GZIP]
    d = imp(root, f"oci:{tmp_path}/l")
    assert d == mdig
    ls = stored_layers(root, d)
    for digest, (name, text) in zip(ls[1:], [("z", "zstd layer"), ("p", "plain layer"),
                                              ("g", "gzip layer")]):
        assert open(os.path.join(layer_dir(root, digest), name)).read() == text


def test_oci_archive_compressed(root, tmp_path, base):
    """An oci-archive that is itself gzip-compressed (a .tar.gz) imports too."""
    L.write_oci_archive(tmp_path / "i.tar", [base])
    with open(tmp_path / "i.tar", "rb") as f:
        (tmp_path / "i.tgz").write_bytes(L.compress(f.read(), "gzip"))
    imp(root, f"oci-archive:{tmp_path}/i.tgz:latest", "gz:1")
    assert names(root) == ["gz:1"]


# ---- indexes, refs and names -------------------------------------------------------------------


def test_index_picks_host_platform(root, tmp_path, base):
    L.write_oci_index_layout(tmp_path / "multi", {
        "linux/arm64/v8": [[L.file("arch", "arm64")]],
        f"linux/{L.host_arch()}": [base, [L.file("arch", "host")]],
        "linux/s390x": [[L.file("arch", "s390x")]]})
    d = imp(root, f"oci:{tmp_path}/multi:latest", "multi")
    top = layer_dir(root, stored_layers(root, d)[-1])
    assert open(os.path.join(top, "arch")).read() == "host"
    assert names(root) == ["multi:latest"]


def test_index_without_host_platform(root, tmp_path):
    L.write_oci_index_layout(tmp_path / "arm", {"linux/arm64/v8": [[L.file("a")]],
                                                "linux/s390x": [[L.file("a")]]})
    r = imp(root, f"oci:{tmp_path}/arm", check=False)
    assert r.returncode != 0
    assert f"no manifest for linux/{L.host_arch()}" in r.stderr
    assert "the index has linux/arm64/v8, linux/s390x" in r.stderr


def test_names(root, tmp_path, base):
    lay = tmp_path / "web"
    L.write_oci_layout(lay, [base], ref="1.0")
    L.write_oci_layout(lay, [base, [L.file("b")]], ref="example.org/web:2.0")
    L.write_oci_layout(lay, [base, [L.file("c")]], ref=None)
    r = imp(root, f"oci:{lay}", check=False)
    assert r.returncode != 0
    assert "holds 3 images" in r.stderr and "1.0, example.org/web:2.0, (none)" in r.stderr
    imp(root, f"oci:{lay}:1.0")  # a bare tag: the directory's name is the repository
    imp(root, f"oci:{lay}:example.org/web:2.0")  # a ref.name that is a name is used as it is
    assert names(root) == ["example.org/web:2.0", "web:1.0"]
    imp(root, f"oci:{lay}:1.0", "other/name:3")  # NAME wins; the image keeps its old name too
    assert names(root) == ["example.org/web:2.0", "other/name:3", "web:1.0"]
    r = imp(root, f"oci:{lay}:9.9", check=False)
    assert r.returncode != 0 and "no image `9.9`" in r.stderr and "1.0" in r.stderr
    odd = tmp_path / "Not_A_Repo"  # not a repository name: the image gets none
    d = L.write_oci_layout(odd, [base, [L.file("odd")]], ref="v1")
    imp(root, f"oci:{odd}")
    assert [i["Names"] for i in images(root) if i["Digest"] == d] == [[]]


def test_invalid_names(root, tmp_path, base):
    """An invalid NAME is refused before anything is stored; an invalid name that comes from the
    source (a ref.name, a RepoTag) leaves the image unnamed."""
    L.write_oci_layout(tmp_path / "l", [base], ref="Not A Name!")
    r = imp(root, f"oci:{tmp_path}/l", "UPPER/Case:1", check=False)
    assert r.returncode != 0 and "`UPPER/Case:1` is not a valid image name" in r.stderr
    assert snapshot(root)["layers"] == [] and snapshot(root)["blobs"] == []
    d = imp(root, f"oci:{tmp_path}/l")
    assert [i["Names"] for i in images(root) if i["Digest"] == d] == [[]]
    L.write_docker_archive(tmp_path / "d.tar", [base], repotag="<none>:<none>")
    d = imp(root, f"docker-archive:{tmp_path}/d.tar")
    assert [i["Names"] for i in images(root) if i["Digest"] == d] == [[]]
    L.write_docker_archive(tmp_path / "n.tar", [base], repotag=None)
    assert imp(root, f"docker-archive:{tmp_path}/n.tar") == d


def test_import_is_idempotent(root, tmp_path, base):
    L.write_oci_layout(tmp_path / "l", [base])
    d = imp(root, f"oci:{tmp_path}/l", "x:1")
    before = snapshot(root)
    assert imp(root, f"oci:{tmp_path}/l", "x:1") == d
    after = snapshot(root)
    assert after["layers"] == before["layers"] and after["blobs"] == before["blobs"]
    assert len(images(root)) == 1


# ---- bad input: a clear error, nothing new in the store ----------------------------------------


def _blob_path(lay, digest):
    return os.path.join(lay, "blobs", "sha256", digest[7:])


def _manifest(lay):
    with open(os.path.join(lay, "index.json")) as f:
        return json.loads(L.read_blob(lay, json.load(f)["manifests"][0]["digest"]))


def bad_wrong_digest(lay, base):
    """The manifest names a digest its blob does not have."""
    fake = L.digest(b"something else")

    def hook(m):
        m["layers"][1]["digest"] = fake
    top = L.layer_tar([L.file("x", "real")])
    L.write_oci_layout(lay, [base, top], manifest_hook=hook)
    with open(_blob_path(lay, fake), "wb") as f:
        f.write(top)
    return f"oci:{lay}", [f"layer {fake}", "digest"]


def bad_truncated_layer(lay, base):
    """A gzip layer cut in half (its digest the digest of the half)."""
    full = L.layer_tar([L.file("big", os.urandom(300000))])
    half = full[:len(full) // 2]
    L.write_oci_layout(lay, [base, half])
    return f"oci:{lay}", [f"layer {L.digest(half)}"]


def bad_gzip_garbage(lay, base):
    junk = b"\x1f\x8b\x08\x00" + os.urandom(4000)
    L.write_oci_layout(lay, [base, junk])
    return f"oci:{lay}", [f"layer {L.digest(junk)}"]


def bad_missing_blob(lay, base):
    top = L.layer_tar([L.file("gone")])
    L.write_oci_layout(lay, [base, top])
    os.unlink(_blob_path(lay, L.digest(top)))
    return f"oci:{lay}", [f"blob {L.digest(top)} is missing"]


def bad_missing_config(lay, base):
    L.write_oci_layout(lay, [base, [L.file("c")]])
    cfg = _manifest(lay)["config"]["digest"]
    os.unlink(_blob_path(lay, cfg))
    return f"oci:{lay}", [f"blob {cfg} is missing"]


def bad_config_digest(lay, base):
    L.write_oci_layout(lay, [base, [L.file("c")]])
    cfg = _manifest(lay)["config"]["digest"]
    with open(_blob_path(lay, cfg), "ab") as f:
        f.write(b" ")
    return f"oci:{lay}", [f"config {cfg}: digest mismatch"]


def bad_media_type(lay, base):
    top = L.layer_tar([L.file("m")])
    L.write_oci_layout(lay, [base, top], media_types=[None, "application/vnd.example.weird"])
    return f"oci:{lay}", [f"layer {L.digest(top)}", "unknown media type",
                          "application/vnd.example.weird"]


def bad_other_arch(lay, base):
    arch = "arm64" if L.host_arch() != "arm64" else "amd64"
    L.write_oci_layout(lay, [base, [L.file("a")]], arch=arch)
    return f"oci:{lay}", [f"the image is for linux/{arch}, this host is linux/{L.host_arch()}"]


def bad_layout_version(lay, base):
    L.write_oci_layout(lay, [base, [L.file("v")]])
    with open(os.path.join(lay, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": "2.0.0"}')
    return f"oci:{lay}", ["oci-layout: imageLayoutVersion `2.0.0` is not supported"]


def bad_layout_json(lay, base):
    L.write_oci_layout(lay, [base, [L.file("v")]])
    with open(os.path.join(lay, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion": ')
    return f"oci:{lay}", ["oci-layout: invalid JSON"]


def bad_not_a_layout(lay, base):
    L.write_oci_layout(lay, [base, [L.file("v")]])
    os.unlink(os.path.join(lay, "oci-layout"))
    return f"oci:{lay}", ["not an OCI image layout (no oci-layout)"]


def bad_blob_symlink(lay, base):
    """A blob that is a symlink (here to a file outside the layout) is not followed."""
    top = L.layer_tar([L.file("s")])
    L.write_oci_layout(lay, [base, top])
    p = _blob_path(lay, L.digest(top))
    outside = os.path.join(os.path.dirname(lay), "outside-blob")
    os.rename(p, outside)
    os.symlink(outside, p)
    return f"oci:{lay}", [f"blob {L.digest(top)}"]


def bad_diff_id(lay, base):
    L.write_oci_layout(lay, [base, [L.file("d")]], image_config={
        "rootfs": {"type": "layers", "diff_ids": [L.digest(L.uncompress(base)),
                                                  L.digest(b"not this")]}})
    return f"oci:{lay}", [L.digest(b"not this")]


def bad_layer_traversal(lay, base):
    ti = tarfile.TarInfo("../../escaped")
    top = L.layer_tar([L.raw(ti, "x")])
    L.write_oci_layout(lay, [base, top])
    return f"oci:{lay}", [f"layer {L.digest(top)}", "../../escaped"]


def _archive(lay, extra):
    path = lay + ".tar"
    L.write_oci_archive(path, [L.layer_tar(L.busybox_entries())], extra=extra)
    return path


def bad_archive_dotdot(lay, base):
    ti = tarfile.TarInfo("../escaped-by-archive")
    return f"oci-archive:{_archive(lay, [L.raw(ti, 'x')])}", [
        "entry `../escaped-by-archive`: path leaves the archive"]


def bad_archive_absolute(lay, base):
    ti = tarfile.TarInfo(os.path.join(os.path.dirname(lay), "escaped-absolute"))
    return f"oci-archive:{_archive(lay, [L.raw(ti, 'x')])}", ["absolute path"]


def bad_archive_through_symlink(lay, base):
    """A symlink to a directory outside, then a file through it."""
    out = os.path.dirname(lay)
    ti = tarfile.TarInfo("link/escaped-through-link")
    return f"oci-archive:{_archive(lay, [L.symlink('link', out), L.raw(ti, 'x')])}", [
        "entry `link/escaped-through-link`"]


def bad_archive_hardlink(lay, base):
    return f"oci-archive:{_archive(lay, [L.hardlink('hl', '/etc/passwd')])}", [
        "entry `hl`: not a file, directory or symlink"]


def bad_archive_garbage(lay, base):
    path = lay + ".tar"
    with open(path, "wb") as f:
        f.write(os.urandom(10000))
    return f"oci-archive:{path}", ["not a tar archive"]


def _docker_members(path):
    with tarfile.open(path) as tf:
        return [(m, tf.extractfile(m).read() if m.isreg() else b"") for m in tf]


def bad_docker_missing_layer(lay, base):
    path = lay + ".tar"
    L.write_docker_archive(path, [base, [L.file("q")]], style="podman")
    members = _docker_members(path)
    man = json.loads(dict((m.name, d) for m, d in members)["manifest.json"])
    gone = man[0]["Layers"][1]
    L.write_tar(path, [L.raw(m, d) for m, d in members if m.name != gone])
    return f"docker-archive:{path}", [f"`{gone}` is missing"]


def bad_docker_layer_symlink_out(lay, base):
    """manifest.json naming a layer that is a symlink leading out of the archive."""
    path = lay + ".tar"
    cfg = L.image_config_json([L.digest(L.uncompress(base))])
    h = L.digest(cfg)[7:]
    man = json.dumps([{"Config": f"{h}.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}])
    L.write_tar(path, [L.file("manifest.json", man), L.file(f"{h}.json", cfg), L.dir("l"),
                       L.symlink("l/layer.tar", "../../../../../../../etc/passwd")])
    return f"docker-archive:{path}", ["`l/layer.tar`"]


def bad_docker_manifest_json(lay, base):
    path = lay + ".tar"
    L.write_tar(path, [L.file("manifest.json", '{"Config": 1}')])
    return f"docker-archive:{path}", ["manifest.json: expected an array of images"]


BAD = [bad_wrong_digest, bad_truncated_layer, bad_gzip_garbage, bad_missing_blob,
       bad_missing_config, bad_config_digest, bad_media_type, bad_other_arch, bad_layout_version,
       bad_layout_json, bad_not_a_layout, bad_blob_symlink, bad_diff_id, bad_layer_traversal,
       bad_archive_dotdot, bad_archive_absolute, bad_archive_through_symlink,
       bad_archive_hardlink, bad_archive_garbage, bad_docker_missing_layer,
       bad_docker_layer_symlink_out, bad_docker_manifest_json]


@pytest.mark.parametrize("make", BAD, ids=[f.__name__[4:] for f in BAD])
def test_bad_input(root, tmp_path, base, make):
    # the store already holds an image with the base layer: the bad image's own layer is new
    L.write_oci_layout(tmp_path / "good", [base])
    imp(root, f"oci:{tmp_path}/good", "good:1")
    lay = str(tmp_path / "bad")
    source, expect = make(lay, base)
    before = snapshot(root)
    r = imp(root, source, check=False)
    assert r.returncode != 0, r.stdout
    for e in expect:
        assert e in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, "one error line"
    assert snapshot(root) == before
    assert names(root) == ["good:1"]
    for p in ("escaped", "escaped-by-archive", "escaped-absolute", "escaped-through-link"):
        assert not os.path.exists(tmp_path / p)
        assert not os.path.exists(os.path.join(root, p))


def test_bad_source_syntax(root, tmp_path):
    for source, expect in [("docker://alpine", "use `capsa image pull alpine`"),
                           ("dir:/tmp/x", "unknown source"),
                           ("oci:", "no DIR"),
                           (f"oci:{tmp_path}/none", "No such file or directory"),
                           (f"oci-archive:{tmp_path}/none.tar", "No such file or directory"),
                           (f"docker-archive:{tmp_path}", "not a regular file")]:
        r = imp(root, source, check=False)
        assert r.returncode != 0 and expect in r.stderr, (source, r.stderr)
    assert listdir(os.path.join(root, "tmp")) == []


# ---- concurrency -------------------------------------------------------------------------------


def test_parallel_imports_share_layers(root, tmp_path, base):
    """4 processes import 4 images sharing the busybox layer at once: every image is there,
    the shared layer is unpacked once (one directory, no leftovers in tmp)."""
    for round_ in range(3):
        r = os.path.join(root, str(round_))
        srcs = []
        for i in range(4):
            lay = tmp_path / f"p{round_}-{i}"
            L.write_oci_layout(lay, [base, [L.file(f"own-{i}", str(i) * 1000)]])
            srcs.append(f"oci:{lay}")
        procs = [subprocess.Popen([CAPSA, "--image-root", r, "image", "import", "--quiet", s,
                                   f"par:{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for i, s in enumerate(srcs)]
        for p in procs:
            out, errs = p.communicate(timeout=120)
            assert p.returncode == 0, errs
        assert names(r) == [f"par:{i}" for i in range(4)]
        assert len(listdir(os.path.join(r, "layers", "sha256"))) == 5
        assert listdir(os.path.join(r, "tmp")) == []
        for i in range(4):
            assert os.path.exists(os.path.join(r, "layers", "sha256",
                                               L.digest(base)[7:], "diff", "bin", "busybox"))


# ---- progress ----------------------------------------------------------------------------------


def _import_on_tty(root, source, *flags):
    return L.stderr_on_tty([CAPSA, "--image-root", root, "image", "import", *flags, source])


def test_progress_on_a_tty_only(root, tmp_path, base):
    L.write_oci_layout(tmp_path / "l", [base, [L.file("p", "x" * 5000)]])
    out = _import_on_tty(root, f"oci:{tmp_path}/l")
    assert "\033[2K" in out, "redrawn in place"
    short = L.digest(base)[:19]
    assert short in out and "total" in out and "done" in out and "KiB" in out
    assert "ETA" in out and "B/s" in out
    out = _import_on_tty(root, f"oci:{tmp_path}/l")
    assert "exists" in out, "a layer already in the store"
    assert _import_on_tty(root, f"oci:{tmp_path}/l", "--quiet") == ""
    r = capsa(root, "image", "import", f"oci:{tmp_path}/l")  # stderr a pipe: no progress
    assert r.returncode == 0 and r.stderr == ""
