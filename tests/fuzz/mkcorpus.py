#!/usr/bin/python3
"""Writes the seed corpus of the fuzzers into tests/fuzz/corpus/<reader>/ (run it again after a
format change; the output is committed).  Seeds: runc's default spec and the integration suite's
base config (tests/integration/conftest.py), variants with every section the parser knows, a
big seccomp profile (containers-common's seccomp.json turned into OCI form when installed), and
what `capsa spec` writes (CAPSA=path/to/capsa).  Images: OCI and Docker schema 2 manifests, an
OCI index and a Docker manifest list of several platforms, image configs with every field
image_config_json reads and users of every form, and layers (tars made here, sparse ones by GNU
tar when installed): every entry type, whiteouts, replaced entries, long names, and each way out
of the layer's directory."""

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))
from conftest import RUNC_SPEC, default_config  # noqa: E402

OUT = HERE / "corpus"


def put(reader, name, doc, indent=None):
    d = OUT / reader
    d.mkdir(parents=True, exist_ok=True)
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=indent)
    (d / name).write_text(text)


def seccomp_profile():
    """containers-common's Docker-format profile as an OCI linux.seccomp object."""
    src = Path("/usr/share/containers/seccomp.json")
    if not src.exists():
        return None
    d = json.loads(src.read_text())
    archs = []
    for m in d.get("archMap", []):
        archs += [m["architecture"]] + m.get("subArchitectures", [])
    out = {"defaultAction": d["defaultAction"], "architectures": archs[:3], "syscalls": []}
    if "defaultErrnoRet" in d:
        out["defaultErrnoRet"] = d["defaultErrnoRet"]
    for s in d["syscalls"]:
        e = {"names": s["names"], "action": s["action"]}
        if s.get("args"):
            e["args"] = s["args"]
        if "errnoRet" in s:
            e["errnoRet"] = s["errnoRet"]
        out["syscalls"].append(e)
    return out


RESOURCES = {
    "devices": [{"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "kernel": -1,
               "swappiness": 10, "disableOOMKiller": False, "useHierarchy": True},
    "cpu": {"shares": 512, "quota": 50000, "period": 100000, "realtimeRuntime": 0,
            "realtimePeriod": 0, "cpus": "0-1", "mems": "0", "idle": 0},
    "pids": {"limit": 64},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300, "leafWeight": 10}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 99}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 10000}},
    "unified": {"memory.high": "1000000", "io.max": "8:0 rbps=1048576"},
}


def full_config():
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["process"].update({
        "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6]},
        "apparmorProfile": "capsa-default", "selinuxLabel": "system_u:system_r:container_t:s0",
        "oomScoreAdj": -500, "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 3},
        "scheduler": {"policy": "SCHED_OTHER", "nice": -2},
    })
    cfg["hostname"] = "fuzz"
    cfg["domainname"] = "example.org"
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "/srv",
                          "options": ["rbind", "ro"],
                          "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                          "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    cfg["hooks"] = {
        "prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}],
        "createRuntime": [{"path": "/bin/true"}], "createContainer": [{"path": "/bin/true"}],
        "startContainer": [{"path": "/bin/true"}], "poststart": [{"path": "/bin/true"}],
        "poststop": [{"path": "/bin/a"}, {"path": "/bin/b"}]}
    cfg["annotations"] = {"org.opencontainers.image.os": "linux", "run.capsa.tenant": "A"}
    lx = cfg["linux"]
    lx["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user", "cgroup",
                                              "time")] + [{"type": "network",
                                                           "path": "/proc/1/ns/net"}]
    lx["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    lx["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    lx["timeOffsets"] = {"boottime": {"secs": -5, "nanosecs": 7}, "monotonic": {"secs": 9}}
    lx["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                      "fileMode": 438, "uid": 0, "gid": 0}]
    lx["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    lx["cgroupsPath"] = "/capsa/fuzz"
    lx["rootfsPropagation"] = "rslave"
    lx["mountLabel"] = "system_u:object_r:container_file_t:s0"
    lx["intelRdt"] = {"closID": "x"}
    lx["personality"] = {"domain": "LINUX"}
    lx["resources"] = copy.deepcopy(RESOURCES)
    lx["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                     "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                     "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                     "listenerPath": "/run/notify.sock", "listenerMetadata": "m",
                     "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                  {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                                  {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                                   "args": [{"index": 0, "value": 2114060288,
                                             "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]}
    return cfg


def dg(c):
    return "sha256:" + c * 64


OCI_MANIFEST = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dg("c"),
               "size": 1469},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg("1"),
                "size": 3408729},
               {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg("2"),
                "size": 10240},
               {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": dg("3"),
                "size": 512}],
    "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}

DOCKER_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
               "digest": dg("d")},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                "digest": dg("e")},
               {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 16724,
                "digest": dg("f")}]}

PLATFORMS = [{"architecture": "amd64", "os": "linux"},
             {"architecture": "arm64", "os": "linux", "variant": "v8"}]

OCI_INDEX = {
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": dg(c),
                   "size": 1024, "platform": p} for c, p in zip("ab", PLATFORMS)]}

DOCKER_LIST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
    "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                   "digest": dg(c), "size": 528, "platform": p}
                  for c, p in zip("4567", PLATFORMS + [
                      {"architecture": "arm", "os": "linux", "variant": "v7"},
                      {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763"}])]}

# An image config with every field image_config_json reads, and the rest of what docker writes.
IMAGE_CONFIG = {
    "created": "2026-01-01T00:00:00Z", "author": "fuzz", "architecture": "amd64", "os": "linux",
    "config": {"User": "app:wheel", "ExposedPorts": {"80/tcp": {}},
               "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "EMPTY="],
               "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
               "Volumes": {"/data": {}}, "WorkingDir": "/srv/www",
               "Labels": {"maintainer": "fuzz <fuzz@example.org>",
                          "org.opencontainers.image.version": "1.2"},
               "StopSignal": "SIGQUIT", "ArgsEscaped": True},
    "rootfs": {"type": "layers", "diff_ids": [dg("1"), dg("2")]},
    "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file"},
                {"created_by": "RUN true", "empty_layer": True}]}


def image_seeds():
    put("manifest", "oci-manifest.json", OCI_MANIFEST, indent=3)
    put("manifest", "docker-manifest.json", DOCKER_MANIFEST, indent=3)
    put("manifest", "oci-index.json", OCI_INDEX)
    put("manifest", "docker-list.json", DOCKER_LIST, indent=3)
    # an index without mediaType, whose only entry is a nested index without a platform
    put("manifest", "nested-index.json", {
        "schemaVersion": 2, "manifests": [{"mediaType": OCI_INDEX["mediaType"], "digest": dg("9"),
                                           "size": 300}]})
    put("manifest", "no-layers.json", {"schemaVersion": 2, "config": OCI_MANIFEST["config"],
                                       "layers": []})

    put("imageconfig", "full.json", IMAGE_CONFIG, indent=2)
    minimal = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
               "rootfs": {"type": "layers", "diff_ids": []}}
    put("imageconfig", "minimal.json", minimal)
    users = ["", "0", "root", "app", "1000", "1000:50", "daemon:wheel", "4242:4242", "app:10"]
    for u in users:
        c = copy.deepcopy(minimal)
        c["config"]["User"] = u
        put("imageconfig", "user-%s.json" % (u.replace(":", "-") or "empty"), c)
    docker = copy.deepcopy(IMAGE_CONFIG)
    docker["config"].update({"Entrypoint": None, "Cmd": ["sh"], "User": "", "Labels": None,
                             "WorkingDir": "", "Hostname": "", "Domainname": "",
                             "AttachStdin": False, "Tty": False, "OnBuild": None,
                             "Image": dg("0")})
    docker["container_config"] = copy.deepcopy(docker["config"])
    put("imageconfig", "docker.json", docker, indent=3)


def tar_of(entries, fmt=tarfile.PAX_FORMAT, data_by_index=None):
    """An uncompressed tar: entries are (name, type, extra) with extra the data of a file, the
    target of a link, (major, minor) of a device, or a dict of TarInfo attributes;
    data_by_index: the data of entries (by index) whose extra is a dict."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for i, (name, kind, extra) in enumerate(entries):
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = 0o755 if kind in (tarfile.DIRTYPE, tarfile.SYMTYPE) else 0o644
            data = None
            ti.type = kind
            if kind == tarfile.REGTYPE:
                data = extra if isinstance(extra, bytes) else b""
                ti.size = len(data)
            elif kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = extra
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = extra
            if isinstance(extra, dict):
                for k, v in extra.items():
                    setattr(ti, k, v)
                data = (data_by_index or {}).get(i, data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        end = t.offset  # the end of the last entry: the record's padding goes
    return out.getvalue()[:end] + bytes(1024)


def put_bytes(reader, name, data):
    d = OUT / reader
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def layer_seeds():
    R, D, L, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
    xattrs = {"pax_headers": {"SCHILY.xattr.user.fuzz": "1",
                              "SCHILY.xattr.trusted.capsa": "x"}}
    put_bytes("layer", "tree.tar", tar_of([
        ("./", D, None), ("etc/", D, None), ("etc/passwd", R, b"root:x:0:0::/root:/bin/sh\n"),
        ("etc/group", R, b"root:x:0:\n"), ("usr/bin/", D, None), ("bin", L, "usr/bin"),
        ("usr/bin/sh", R, {"mode": 0o4755, "uid": 0, "gid": 0, "size": 0}),
        ("usr/bin/ash", H, "usr/bin/sh"), ("abs-link", L, "/etc/shadow"),
        ("dev/", D, None), ("dev/null", tarfile.CHRTYPE, (1, 3)),
        ("dev/sda", tarfile.BLKTYPE, (8, 0)), ("run/fifo", tarfile.FIFOTYPE, None),
        ("home/app/", D, {"uid": 1000, "gid": 1000, "mode": 0o700}),
        ("home/app/.profile", R, {"uid": 1000, "gid": 1000, "size": 0}),
        ("attr", R, xattrs)]))
    put_bytes("layer", "whiteouts.tar", tar_of([
        ("gone/", D, None), ("etc/.wh.passwd", R, b""), (".wh.tmp", R, b""),
        ("opaque/", D, None), ("opaque/.wh..wh..opq", R, b""), ("opaque/kept", R, b"k"),
        (".wh..wh.plnk/", D, None), (".wh..wh.plnk/123.456", R, b"aufs"),
        ("kept", R, b"x"), (".wh.kept", R, b"")]))
    put_bytes("layer", "replace.tar", tar_of([
        ("a", R, b"file first"), ("a/", D, None), ("a/b", R, b"b"), ("a", R, b"file again"),
        ("d/", D, None), ("d/", D, {"mode": 0o700}), ("l", L, "x"), ("l", R, b"now a file"),
        ("h", R, b"data"), ("h2", H, "h"), ("h", R, b"replaced")]))
    long = "deep/" * 30 + "name-longer-than-a-ustar-header-holds"
    put_bytes("layer", "gnu-longname.tar", tar_of([
        (long, R, b"long"), (long + "-link", L, "../" * 29 + "x")], fmt=tarfile.GNU_FORMAT))
    put_bytes("layer", "pax-data-hardlink.tar", tar_of([
        ("f", R, b"old"), ("g", H, {"linkname": "f", "size": 0})]))
    # refused: each way out of the layer's directory
    for name, entries in {
            "dotdot": [("../escape", R, b"x")],
            "dotdot-deep": [("a/../../escape", R, b"x")],
            "absolute": [("/escape", R, b"x")],
            "through-symlink": [("link", L, "/tmp"), ("link/escape", R, b"x")],
            "through-symlink-dir": [("up", L, ".."), ("up/escape/", D, None)],
            "hardlink-out": [("h", H, "../../etc/passwd")],
            "hardlink-absolute": [("h", H, "/etc/passwd")],
            "hardlink-through-symlink": [("s", L, "/etc"), ("h", H, "s/passwd")],
            "hardlink-dir": [("d/", D, None), ("h", H, "d")],
            "overlay-xattr": [("x", R, {"pax_headers": {
                "SCHILY.xattr.trusted.overlay.redirect": "/etc"}})],
            "whiteout-dotdot": [(".wh...", R, b"")],
    }.items():
        put_bytes("layer", "refused-%s.tar" % name, tar_of(entries))
    # a sparse file of 256 KiB with one 4 KiB block of data at 64 KiB: pax format 1.0, written
    # here (GNU tar names the entry after its pid), and GNU's old format by GNU tar
    block = b"data in the middle".ljust(4096, b"\0")
    sparse_map = b"2\n65536\n4096\n262144\n0\n".ljust(512, b"\0")
    put_bytes("layer", "sparse-pax.tar", tar_of([(
        "GNUSparseFile.0/sparse", R, {"size": len(sparse_map + block), "pax_headers": {
            "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "sparse",
            "GNU.sparse.realsize": "262144"}})], data_by_index={0: sparse_map + block}))
    tar = shutil.which("tar")
    if tar:
        with tempfile.TemporaryDirectory() as d:
            with open(Path(d, "sparse"), "wb") as f:
                f.seek(64 << 10)
                f.write(block)
                f.truncate(256 << 10)
            out = Path(d, "gnu.tar")
            subprocess.run([tar, "--sparse", "--blocking-factor", "1", "--format", "gnu",
                            "--owner", "0", "--group", "0", "--mtime", "@1700000000", "-cf", out,
                            "-C", d, "sparse"], check=True)
            put_bytes("layer", "sparse-gnu.tar", out.read_bytes())

def main():
    runc = copy.deepcopy(RUNC_SPEC)
    put("config", "runc-spec.json", runc, indent="\t")
    put("config", "it-default.json", default_config(["/bin/capsa-checker", "ids"]), indent=1)
    full = full_config()
    put("config", "full.json", full, indent=1)
    prof = seccomp_profile()
    if prof:
        big = copy.deepcopy(default_config(["sh"]))
        big["linux"]["seccomp"] = prof
        put("config", "seccomp-containers-common.json", big)
    put("config", "comments.json", "/* comment */\n" + json.dumps(runc) + "\n// end\n")
    capsa = os.environ.get("CAPSA")
    if capsa:
        for extra in ([], ["--rootless"]):
            with tempfile.TemporaryDirectory() as d:
                subprocess.run([capsa, "spec", "--bundle", d] + extra, check=True)
                put("config", "capsa-spec%s.json" % ("-rootless" if extra else ""),
                    Path(d, "config.json").read_text())

    put("process", "runc.json", runc["process"])
    put("process", "full.json", full["process"], indent=1)
    put("process", "minimal.json", {"args": ["sh"], "cwd": "/"})
    put("process", "exec.json", {"args": ["/bin/capsa-checker", "env"], "env": ["ONLY=this"],
                                 "cwd": "/tmp", "user": {"uid": 0, "gid": 0}, "terminal": False,
                                 "capabilities": {"bounding": ["CAP_KILL"]},
                                 "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}],
                                 "noNewPrivileges": True})

    put("resources", "full.json", RESOURCES, indent=1)
    put("resources", "update.json", {"memory": {"limit": 48 << 20}, "pids": {"limit": 20}})
    put("resources", "cpu.json", {"cpu": {"shares": 256, "quota": 20000, "period": 100000}})

    state = {"ociVersion": "1.2.0", "id": "c1", "pid": 4242, "pidStartTime": 123456,
             "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-01-01T00:00:00.000000000Z",
             "owner": "", "creating": False, "systemdCgroup": False, "cgroupDriver": "cgroupfs",
             "cgroupDirs": ["/sys/fs/cgroup/memory/capsa/c1", "/sys/fs/cgroup/pids/capsa/c1"],
             "annotations": {"run.capsa.tenant": "A", "k": "v"}}
    put("state", "state.json", state)
    put("state", "minimal.json", {"id": "c1", "pid": 1})

    put("tenants", "two.json", {"tenants": [{"name": "A", "firstId": 200000, "size": 65536},
                                            {"name": "B", "firstId": 265536, "size": 65536}]},
        indent=4)
    put("tenants", "empty.json", {"tenants": []})

    image_seeds()
    layer_seeds()


if __name__ == "__main__":
    main()
