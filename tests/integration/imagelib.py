"""Images for tests, made in Python: layer tars, OCI layouts, oci-archives, docker-archives.

Pure Python (stdlib only) but for zstd layers, which go through the `zstd` command (Debian's
zstd package). Everything is deterministic: the same entries give the same bytes and so the
same digests (fixed mtimes, gzip without a timestamp, sorted JSON keys), so two layouts built
from the same entries share their layers.

Entries (what a layer holds; each is an `Entry`, a tarfile.TarInfo and its data):

    file(path, data=b'', mode=0o644, uid=0, gid=0, xattrs=None, mtime=MTIME)
    dir(path, mode=0o755, uid=0, gid=0, xattrs=None)
    symlink(path, target)
    hardlink(path, target)           target: the path of an earlier entry of the same layer
    whiteout(path)                   -> `DIR/.wh.NAME`, hides DIR/NAME of the layers below
    opaque(dirpath)                  -> `DIR/.wh..wh..opq`, hides DIR's content below
    device(path, kind='c'|'b', major=0, minor=0, mode=0o666)
    fifo(path, mode=0o644)
    raw(tarinfo, data=b'')           any entry as given, for hostile layers (name '../x', ...)

xattrs is a dict {name: bytes|str}, written as PAX `SCHILY.xattr.NAME` records (what GNU tar,
libarchive and the container tools write and read).

Layers and images:

    layer_tar(entries, compression='gzip'|'zstd'|None) -> bytes
    busybox_entries() -> entries: bin/busybox (the host's /bin/busybox, busybox-static), bin/sh
        and other applet symlinks, etc/passwd and etc/group (root 0:0, app 1000:1000, nobody),
        home/app (owned by app), tmp (1777), root, and empty dev, proc, sys
    write_oci_layout(dirpath, layers, config=None, ref='latest', arch=None, os_='linux',
                     media_types=None, image_config=None, manifest_hook=None) -> manifest digest
        layers: a list whose items are entry lists (written as gzip layers) or raw layer bytes
        (media type sniffed: gzip, zstd or plain tar; bytes that do not decompress get their own
        digest as diff_id); media_types: a list parallel to layers
        that overrides the media type of each layer (None items: the default).
        config: a dict merged into the image config's "config" (Cmd, Env, User, ...);
        image_config: a dict merged into the image config's top level (e.g. a wrong "rootfs").
        arch: GOARCH, default the host's (host_arch()).
        ref: the org.opencontainers.image.ref.name annotation (None: none).
        manifest_hook(manifest_dict): called before the manifest is serialized (to break it).
        When DIR already holds a layout, the image is added to its index.json (several refs).
    write_oci_index_layout(dirpath, {platform: layers, ...}, ref='latest', config=None)
        -> the digest of the image index (an application/vnd.oci.image.index.v1+json blob
        listing one manifest per platform, "linux/amd64" or "linux/arm64/v8"); index.json names
        that index. read_blob(dirpath, digest) reads the per-platform manifests back.
    write_oci_archive(path, layers, ..., extra=None) -> manifest digest
        a tar of the layout above (same keyword arguments as write_oci_layout); extra: entries
        appended to the archive (hostile ones with raw()).
    write_docker_archive(path, layers, config=None, repotag='test/img:latest', arch=None,
                         os_='linux', style='legacy', extra=None) -> config digest (image ID)
        docker save's format: manifest.json [{Config, RepoTags, Layers}], the config as
        HEX.json, and the layers uncompressed (raw bytes kept as given) as
        style='legacy': ID/layer.tar (docker save before 25), 'podman': HEX.tar (podman save),
        'blobs': blobs/sha256/HEX (docker save 25+). repotag None: "RepoTags": null.

    write_tar(path, entries, compression=None)
        a tar file of exactly these entries (for archives built by hand).

Helpers: stderr_on_tty(argv) -> what a command drew on a terminal (its stderr a pty; it must
exit 0), digest(bytes) -> "sha256:...", host_arch() -> "amd64"..., uncompress(bytes) -> tar,
read_blob(layout_dir, digest) -> bytes, MT_* media type constants.
"""

import gzip
import hashlib
import io
import json
import os
import platform
import pty
import subprocess
import tarfile
import tempfile
import zlib

MTIME = 1700000000

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Entry:
    """One tar entry: its header (tarfile.TarInfo) and its data (bytes)."""

    def __init__(self, info, data=b""):
        self.info = info
        self.data = data

    def __repr__(self):
        return f"Entry({self.info.name!r})"


def _info(path, kind, mode, uid=0, gid=0, mtime=MTIME, xattrs=None):
    ti = tarfile.TarInfo(path)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    if xattrs:
        for k, v in xattrs.items():
            if isinstance(v, str):
                v = v.encode()
            # tarfile writes str pax values as UTF-8; xattr values are arbitrary bytes
            ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    return ti


def file(path, data=b"", mode=0o644, uid=0, gid=0, xattrs=None, mtime=MTIME):
    if isinstance(data, str):
        data = data.encode()
    ti = _info(path, tarfile.REGTYPE, mode, uid, gid, mtime, xattrs)
    ti.size = len(data)
    return Entry(ti, data)


def dir(path, mode=0o755, uid=0, gid=0, xattrs=None):  # noqa: A001 (the API's name)
    return Entry(_info(path.rstrip("/") + "/", tarfile.DIRTYPE, mode, uid, gid, xattrs=xattrs))


def symlink(path, target):
    ti = _info(path, tarfile.SYMTYPE, 0o777)
    ti.linkname = target
    return Entry(ti)


def hardlink(path, target):
    ti = _info(path, tarfile.LNKTYPE, 0o644)
    ti.linkname = target
    return Entry(ti)


def whiteout(path):
    d, name = os.path.split(path.rstrip("/"))
    return file(os.path.join(d, ".wh." + name))


def opaque(dirpath):
    return file(os.path.join(dirpath.rstrip("/"), ".wh..wh..opq"))


def device(path, kind="c", major=0, minor=0, mode=0o666):
    ti = _info(path, tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE, mode)
    ti.devmajor, ti.devminor = major, minor
    return Entry(ti)


def fifo(path, mode=0o644):
    return Entry(_info(path, tarfile.FIFOTYPE, mode))


def raw(tarinfo, data=b""):
    if isinstance(data, str):
        data = data.encode()
    if tarinfo.isreg():
        tarinfo.size = len(data)
    return Entry(tarinfo, data)


# ---- layers ------------------------------------------------------------------------------------


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as t:
        for e in entries:
            t.addfile(e.info, io.BytesIO(e.data) if e.info.isreg() else None)
    return buf.getvalue()


def _zstd(data, decompress=False):
    args = ["zstd", "-q", "-c"] + (["-d"] if decompress else ["-3"])
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def compress(tar, compression):
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "zstd":
        return _zstd(tar)
    if compression is None:
        return tar
    raise ValueError(f"compression {compression!r}")


def uncompress(blob):
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return _zstd(blob, decompress=True)
    return blob


def layer_tar(entries, compression="gzip"):
    return compress(_tar(entries), compression)


def sniff_media_type(blob):
    if blob[:2] == b"\x1f\x8b":
        return MT_TAR_GZIP
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return MT_TAR_ZSTD
    return MT_TAR


BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "id", "stat", "readlink", "mkdir", "touch", "rm",
                   "sleep", "env", "true", "false", "test", "grep", "find", "wc", "head",
                   "mknod", "ln", "cp", "mv", "chmod", "pwd", "uname", "whoami", "sha256sum"]


def busybox_entries():
    with open("/bin/busybox", "rb") as f:
        bb = f.read()
    passwd = ("root:x:0:0:root:/root:/bin/sh\n"
              "app:x:1000:1000:app:/home/app:/bin/sh\n"
              "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    group = "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"
    e = [dir("bin"), file("bin/busybox", bb, mode=0o755)]
    e += [symlink("bin/" + a, "busybox") for a in BUSYBOX_APPLETS]
    e += [dir("etc"), file("etc/passwd", passwd), file("etc/group", group),
          dir("home"), dir("home/app", mode=0o755, uid=1000, gid=1000),
          dir("root", mode=0o700), dir("tmp", mode=0o1777),
          dir("dev"), dir("proc"), dir("sys")]
    return e


# ---- OCI layouts -------------------------------------------------------------------------------


def host_arch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _put_blob(dirpath, data):
    d = digest(data)
    bdir = os.path.join(dirpath, "blobs", "sha256")
    os.makedirs(bdir, exist_ok=True)
    with open(os.path.join(bdir, d[7:]), "wb") as f:
        f.write(data)
    return d


def read_blob(dirpath, d):
    with open(os.path.join(dirpath, "blobs", "sha256", d.split(":", 1)[1]), "rb") as f:
        return f.read()


def _layer_blobs(layers, media_types):
    """[(blob bytes, media type, diff_id)] for layers (entry lists or raw bytes)."""
    out = []
    for i, l in enumerate(layers):
        if isinstance(l, (bytes, bytearray)):
            blob = bytes(l)
            try:
                tar = uncompress(blob)
            except (EOFError, OSError, zlib.error, subprocess.CalledProcessError):
                tar = blob  # broken on purpose: its diff_id is then the blob's own digest
            mt = sniff_media_type(blob)
        else:
            tar = _tar(l)
            blob = compress(tar, "gzip")
            mt = MT_TAR_GZIP
        if media_types and i < len(media_types) and media_types[i]:
            mt = media_types[i]
        out.append((blob, mt, digest(tar)))
    return out


def image_config_json(diff_ids, config=None, arch=None, os_="linux", image_config=None,
                      variant=None):
    cfg = {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]}
    cfg.update(config or {})
    c = {"architecture": arch or host_arch(), "os": os_, "config": cfg,
         "created": "2023-11-14T22:13:20Z",
         "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
         "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "imagelib"}
                     for _ in diff_ids]}
    if variant:
        c["variant"] = variant
    c.update(image_config or {})
    return _json(c)


def _write_image(dirpath, layers, config, arch, os_, media_types, image_config, manifest_hook,
                 variant=None):
    """Writes the blobs of one image into dirpath; returns (manifest bytes, digest)."""
    blobs = _layer_blobs(layers, media_types)
    cfg = image_config_json([b[2] for b in blobs], config, arch, os_, image_config, variant)
    cfg_d = _put_blob(dirpath, cfg)
    m = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
         "config": {"mediaType": MT_CONFIG, "digest": cfg_d, "size": len(cfg)},
         "layers": [{"mediaType": mt, "digest": _put_blob(dirpath, blob), "size": len(blob)}
                    for blob, mt, _ in blobs]}
    if manifest_hook:
        manifest_hook(m)
    mb = _json(m)
    return mb, _put_blob(dirpath, mb)


def _add_to_index(dirpath, desc):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    p = os.path.join(dirpath, "index.json")
    idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": []}
    if os.path.exists(p):
        with open(p) as f:
            idx = json.load(f)
    idx["manifests"].append(desc)
    with open(p, "wb") as f:
        f.write(_json(idx))


def write_oci_layout(dirpath, layers, config=None, ref="latest", arch=None, os_="linux",
                     media_types=None, image_config=None, manifest_hook=None):
    dirpath = str(dirpath)
    os.makedirs(dirpath, exist_ok=True)
    mb, md = _write_image(dirpath, layers, config, arch, os_, media_types, image_config,
                          manifest_hook)
    desc = {"mediaType": MT_MANIFEST, "digest": md, "size": len(mb)}
    if ref is not None:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    _add_to_index(dirpath, desc)
    return md


def _platform(p):
    parts = p.split("/")
    d = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        d["variant"] = parts[2]
    return d


def write_oci_index_layout(dirpath, platforms, ref="latest", config=None):
    dirpath = str(dirpath)
    os.makedirs(dirpath, exist_ok=True)
    manifests = []
    for p, layers in platforms.items():
        plat = _platform(p)
        mb, md = _write_image(dirpath, layers, config, plat["architecture"], plat["os"], None,
                              None, None, plat.get("variant"))
        manifests.append({"mediaType": MT_MANIFEST, "digest": md, "size": len(mb),
                          "platform": plat})
    ib = _json({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests})
    idig = _put_blob(dirpath, ib)
    desc = {"mediaType": MT_INDEX, "digest": idig, "size": len(ib)}
    if ref is not None:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
    _add_to_index(dirpath, desc)
    return idig


def _tar_dir(path, srcdir, extra):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for root, dirs, files in os.walk(srcdir):
            dirs.sort()
            for n in sorted(files):
                full = os.path.join(root, n)
                t.add(full, arcname=os.path.relpath(full, srcdir))
        for e in extra or []:
            t.addfile(e.info, io.BytesIO(e.data) if e.info.isreg() else None)


def write_tar(path, entries, compression=None):
    with open(path, "wb") as f:
        f.write(layer_tar(entries, compression))


def write_oci_archive(path, layers, *args, extra=None, **kw):
    with tempfile.TemporaryDirectory() as d:
        md = write_oci_layout(d, layers, *args, **kw)
        _tar_dir(str(path), d, extra)
    return md


# ---- docker-archive ----------------------------------------------------------------------------


def write_docker_archive(path, layers, config=None, repotag="test/img:latest", arch=None,
                         os_="linux", style="legacy", extra=None):
    with tempfile.TemporaryDirectory() as d:
        blobs = []
        for l in layers:
            blobs.append(bytes(l) if isinstance(l, (bytes, bytearray)) else _tar(l))
        cfg = image_config_json([digest(uncompress(b)) for b in blobs], config, arch, os_)
        cfg_hex = digest(cfg)[7:]
        names = []
        parent = ""
        for b in blobs:
            h = digest(b)[7:]
            if style == "legacy":
                lid = hashlib.sha256((parent + h).encode()).hexdigest()
                os.makedirs(os.path.join(d, lid))
                name = f"{lid}/layer.tar"
                with open(os.path.join(d, lid, "VERSION"), "w") as f:
                    f.write("1.0")
                with open(os.path.join(d, lid, "json"), "wb") as f:
                    f.write(_json({"id": lid, "parent": parent} if parent else {"id": lid}))
                parent = lid
            elif style == "podman":
                name = f"{h}.tar"
            elif style == "blobs":
                name = f"blobs/sha256/{h}"
                os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
            else:
                raise ValueError(f"style {style!r}")
            with open(os.path.join(d, name), "wb") as f:
                f.write(b)
            names.append(name)
        cfg_name = f"blobs/sha256/{cfg_hex}" if style == "blobs" else f"{cfg_hex}.json"
        os.makedirs(os.path.dirname(os.path.join(d, cfg_name)), exist_ok=True)
        with open(os.path.join(d, cfg_name), "wb") as f:
            f.write(cfg)
        man = [{"Config": cfg_name, "RepoTags": [repotag] if repotag else None, "Layers": names}]
        with open(os.path.join(d, "manifest.json"), "wb") as f:
            f.write(_json(man))
        if repotag and style == "legacy" and parent:
            repo, tag = repotag.rsplit(":", 1)
            with open(os.path.join(d, "repositories"), "wb") as f:
                f.write(_json({repo: {tag: parent}}))
        _tar_dir(str(path), d, extra)
    return "sha256:" + cfg_hex


def stderr_on_tty(argv, timeout=60):
    """Runs argv with stderr on a pseudo-terminal (progress is drawn only there) and returns
    what it drew; the command must exit 0."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=timeout)
        assert p.returncode == 0, out
        return out.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
