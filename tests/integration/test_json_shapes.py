"""The JSON capsa prints, shaped as runc 1.1 shapes it: `state`, the state hooks read on stdin,
`list --format json`, `ps --format json`, `events --stats`, `features`, the json log and the
seccomp agent's message.  Key names, key order, keys left out when empty, indentation, the
trailing newline, and the escaping of strings that hold quotes, backslashes, newlines and
non-ASCII text (annotations, the bundle path).

Where /usr/sbin/runc exists, some tests run it on a twin bundle and compare the shapes directly.

Deliberate differences from runc 1.1 (asserted as capsa_only where they show):
  - ociVersion is the version capsa implements ("1.2.0"), not the bundle's;
  - `state` ends with a newline (runc prints none);
  - `list --format json` with no containers prints [] (runc: null);
  - poststart hooks see status "running" (runc 1.1 runs them at create, with "created");
  - `events --stats` reports hugetlb from hybrid's cgroup2 hierarchy where it holds the
    controller (runc 1.1 reads only a v1 hugetlb hierarchy there), and network_interfaces for
    the interfaces of the container's own network namespace (runc 1.1 only for the veth pairs
    libcontainer made itself: never from the CLI);
  - `--log-format text` without `--log` prints `capsa: message` on stderr (runc: logrus text).
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import IS_CAPSA, Runtime

RUNC = "/usr/sbin/runc"
ODD = 'q"b\\\u00fc\u2603'  # a quote, a backslash, Latin-1 and a BMP symbol
ANNOTATIONS = {"z.last": "1", "a.first": 'v"\\\n\u00e9', "m.mid": ""}

STATE_KEYS = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
              "annotations", "owner"]
HOOK_KEYS = ["ociVersion", "id", "status", "pid", "bundle", "annotations"]
LIST_KEYS = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
             "annotations", "owner"]
STATS_KEYS = ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
              "network_interfaces"]


def in_order(keys, reference):
    """keys is a subsequence of reference (same relative order, nothing unknown)."""
    it = iter(reference)
    return all(k in it for k in keys)


def odd_bundle(runtime, bundle, args=("sleep", "1000")):
    """A bundle whose path holds ODD, with ANNOTATIONS and a writable rootfs."""
    b = bundle(list(args))
    new = b.path.parent / (b.path.name + "-" + ODD)
    b.path.rename(new)
    runtime.bundles[runtime.bundles.index(b.path)] = new
    b.path, b.rootfs = new, new / "rootfs"
    b.config["annotations"] = dict(ANNOTATIONS)
    b.config["root"]["readonly"] = False
    b.save()
    return b


class Runc(Runtime):
    """runc with its own --root, for side-by-side comparisons."""

    def argv(self, *args, root=True):
        return [RUNC] + (["--root", str(self.root)] if root else []) + [str(a) for a in args]


@pytest.fixture
def runc(testdir):
    if not IS_CAPSA or not os.access(RUNC, os.X_OK):
        pytest.skip("compares capsa with /usr/sbin/runc")
    rt = Runc(testdir, testdir / "runc-state")
    yield rt
    for cid in rt.ids:
        rt("delete", "--force", cid)


def twin(bundle_path, testdir):
    """A copy of a bundle for runc (same config, its own rootfs), removed by the test dir."""
    dst = testdir / ("runc-" + bundle_path.name)
    subprocess.run(["cp", "-a", str(bundle_path), str(dst)], check=True, timeout=60)
    return dst


def start_detached(rt, path, cid):
    r = rt("create", "--bundle", path, cid)
    assert r.rc == 0, r
    assert rt("start", cid).rc == 0
    rt.wait_status(cid, "running")


# ---- state -------------------------------------------------------------------------------------


def test_state_keys_order_indent_escaping(runtime, bundle):
    b = odd_bundle(runtime, bundle)
    r = runtime.create(b)
    assert r.rc == 0, r
    out = runtime("state", r.id).out
    st = json.loads(out)
    assert list(st) == STATE_KEYS, out
    assert st["bundle"] == str(b.path) and st["rootfs"] == str(b.rootfs)
    assert st["annotations"] == ANNOTATIONS
    assert list(st["annotations"]) == sorted(ANNOTATIONS), "annotations: sorted as Go does"
    assert isinstance(st["pid"], int) and st["pid"] > 0 and st["status"] == "created"
    assert isinstance(st["owner"], str)
    lines = out.rstrip("\n").split("\n")
    assert lines[0] == "{" and lines[-1] == "}", out
    assert lines[1] == "  \"ociVersion\": " + json.dumps(st["ociVersion"]) + ",", "2-space indent"
    assert '    "a.first": "v\\"\\\\\\n' in out, "escaped, nested 4 spaces"
    if IS_CAPSA:
        assert out.endswith("}\n") and not out.endswith("\n\n"), "one trailing newline"
        assert st["ociVersion"] == "1.2.0"


def test_state_without_annotations_and_stopped(runtime, bundle):
    b = bundle(["true"])
    r = runtime.create(b)
    assert r.rc == 0, r
    st = runtime.state(r.id)
    assert "annotations" not in st, "left out when empty (omitempty)"
    assert runtime("start", r.id).rc == 0
    st = runtime.wait_status(r.id, "stopped")
    assert st["pid"] == 0
    assert list(st) == [k for k in STATE_KEYS if k != "annotations"]


def test_state_same_shape_as_runc(runtime, bundle, runc, testdir):
    b = odd_bundle(runtime, bundle)
    r = runtime.create(b)
    assert r.rc == 0, r
    rpath = twin(b.path, testdir)
    cid = runc.new_id()
    assert runc("create", "--bundle", rpath, cid).rc == 0
    mine, theirs = runtime("state", r.id).out, runc("state", cid).out
    a, t = json.loads(mine), json.loads(theirs)
    assert list(a) == list(t)
    assert a["annotations"] == t["annotations"] and list(a["annotations"]) == list(
        t["annotations"])
    strip = re.compile(r'"(ociVersion|id|pid|bundle|rootfs|created)": [^\n]*')
    assert strip.sub("X", mine).rstrip("\n") == strip.sub("X", theirs), "byte shape"


# ---- the state hooks read ----------------------------------------------------------------------


HOST_HOOKS = ("prestart", "createRuntime", "poststart", "poststop")


def hooked(b, outdir):
    """Every hook copies its stdin byte for byte: host hooks into outdir, startContainer into
    the container's /tmp, createContainer (container namespaces, host root) into outdir."""
    def cat(where, kind):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > '{where}/{kind}'"]}
    b.config["hooks"] = {k: [cat(outdir, k)] for k in HOST_HOOKS + ("createContainer",)}
    b.config["hooks"]["startContainer"] = [cat("/tmp", "startContainer")]
    b.save()


def read_hook_states(outdir, rootfs):
    got = {}
    for kind in HOST_HOOKS + ("createContainer",):
        p = Path(outdir) / kind
        if p.exists():
            got[kind] = p.read_bytes()
    p = Path(rootfs) / "tmp" / "startContainer"
    if p.exists():
        got["startContainer"] = p.read_bytes()
    return got


def run_hooked(rt, path, cid):
    start_detached(rt, path, cid)
    assert rt("kill", cid, "KILL").rc == 0
    rt.wait_status(cid, "stopped")
    assert rt("delete", cid).rc == 0


def test_hook_state_compact_line_runc_keys(runtime, bundle, testdir):
    b = odd_bundle(runtime, bundle)
    outdir = testdir / "hookout"
    outdir.mkdir()
    hooked(b, outdir)
    cid = runtime.new_id()
    run_hooked(runtime, b.path, cid)
    got = read_hook_states(outdir, b.rootfs)
    assert sorted(got) == sorted(HOST_HOOKS + ("createContainer", "startContainer")), got
    for kind, raw in got.items():
        text = raw.decode()
        assert "\n" not in text, (kind, text)  # one line, no trailing newline
        st = json.loads(text)
        assert text == json.dumps(st, ensure_ascii=False, separators=(",", ":")), (kind, text)
        want = [k for k in HOOK_KEYS if not (kind == "poststop" and k == "pid")]
        assert list(st) == want, (kind, text)
        assert st["id"] == cid and st["bundle"] == str(b.path), (kind, st)
        assert st["annotations"] == ANNOTATIONS and list(st["annotations"]) == sorted(
            ANNOTATIONS), (kind, st)


def test_hook_state_without_annotations(runtime, bundle, testdir):
    b = bundle(["true"])
    b.config["root"]["readonly"] = False
    outdir = testdir / "hookout"
    outdir.mkdir()
    hooked(b, outdir)
    r = runtime.run(b)
    assert r.rc == 0, r
    got = read_hook_states(outdir, b.rootfs)
    assert "prestart" in got and "poststop" in got, got
    for kind, raw in got.items():
        assert "annotations" not in json.loads(raw), (kind, raw)


def test_hook_state_same_bytes_as_runc(runtime, bundle, runc, testdir):
    b = odd_bundle(runtime, bundle)
    mine_dir, runc_dir = testdir / "hook-capsa", testdir / "hook-runc"
    mine_dir.mkdir()
    runc_dir.mkdir()
    hooked(b, mine_dir)
    rpath = twin(b.path, testdir)
    rb = json.loads((rpath / "config.json").read_text())
    rb["hooks"] = {k: [{**h[0], "args": [a.replace(str(mine_dir), str(runc_dir))
                                         for a in h[0]["args"]]}] for k, h in
                   b.config["hooks"].items()}
    (rpath / "config.json").write_text(json.dumps(rb))
    mid, rid = runtime.new_id(), runc.new_id()
    run_hooked(runtime, b.path, mid)
    run_hooked(runc, rpath, rid)
    mine = read_hook_states(mine_dir, b.rootfs)
    theirs = read_hook_states(runc_dir, rpath / "rootfs")
    assert sorted(mine) == sorted(theirs)
    for kind in mine:
        a, t = json.loads(mine[kind]), json.loads(theirs[kind])
        assert list(a) == list(t), (kind, mine[kind], theirs[kind])
        a.update(ociVersion="V", id="I", bundle="B", pid=a.get("pid") and 1)
        t.update(ociVersion="V", id="I", bundle="B", pid=t.get("pid") and 1)
        if kind == "poststart":  # runc 1.1 runs it at create ("created"); capsa after start
            a["status"] = t["status"]
        for d in (a, t):
            if d["pid"] is None:
                del d["pid"]
        assert a == t, kind
        assert mine[kind].endswith(b"}") and theirs[kind].endswith(b"}")


# ---- list, ps ----------------------------------------------------------------------------------


def test_list_json_shape(runtime, bundle):
    b = odd_bundle(runtime, bundle)
    r = runtime.create(b)
    assert r.rc == 0, r
    out = runtime("list", "--format", "json").out
    assert out.endswith("]\n") and out.count("\n") == 1, "one compact line"
    v = json.loads(out)
    assert len(v) == 1
    assert in_order(list(v[0]), LIST_KEYS), v[0]
    assert {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
            "owner"} <= set(v[0])
    assert v[0]["bundle"] == str(b.path) and v[0]["owner"] == "root"
    assert v[0]["annotations"] == ANNOTATIONS  # runc lists them, keys sorted
    assert list(v[0]["annotations"]) == sorted(ANNOTATIONS)


def test_list_json_empty(runtime):
    r = runtime("list", "--format", "json")
    assert r.rc == 0, r
    assert json.loads(r.out) in ([], None)  # runc: null
    if IS_CAPSA:
        assert r.out == "[]\n"


def test_list_json_same_shape_as_runc(runtime, bundle, runc, testdir):
    b = odd_bundle(runtime, bundle)
    r = runtime.create(b)
    assert r.rc == 0, r
    rpath = twin(b.path, testdir)
    cid = runc.new_id()
    assert runc("create", "--bundle", rpath, cid).rc == 0
    mine, theirs = runtime("list", "--format", "json"), runc("list", "--format", "json")
    assert mine.rc == 0 and theirs.rc == 0, (mine, theirs)
    (a,), (t,) = json.loads(mine.out), json.loads(theirs.out)
    assert list(a) == list(t), (mine.out, theirs.out)
    assert {k: type(v) for k, v in a.items()} == {k: type(v) for k, v in t.items()}
    assert a["annotations"] == t["annotations"] and list(a["annotations"]) == list(
        t["annotations"])
    assert a["rootfs"] == str(b.rootfs) and t["rootfs"] == str(rpath / "rootfs")
    assert a["status"] == t["status"] == "created" and a["owner"] == t["owner"]
    assert TIME_NS.match(a["created"]) and TIME_NS.match(t["created"]), (a, t)


def test_list_json_without_annotations_same_as_runc(runtime, bundle, runc, testdir):
    b = bundle(["sleep", "1000"])
    r = runtime.create(b)
    assert r.rc == 0, r
    cid = runc.new_id()
    assert runc("create", "--bundle", twin(b.path, testdir), cid).rc == 0
    (a,), (t,) = (json.loads(rt("list", "--format", "json").out) for rt in (runtime, runc))
    assert "annotations" not in a and list(a) == list(t), (a, t)


def test_ps_json_shape(runtime, bundle):
    b = bundle(["sleep", "1000"])
    r = runtime.create(b)
    assert r.rc == 0, r
    pid = runtime.state(r.id)["pid"]
    out = runtime("ps", "--format", "json", r.id).out
    assert out == f"[{pid}]\n", out


# ---- events ------------------------------------------------------------------------------------


def stats_event(rt, cid):
    r = rt("events", "--stats", cid)
    assert r.rc == 0, r
    assert r.out.endswith("}\n") and r.out.count("\n") == 1, r.out
    return json.loads(r.out)


def test_events_stats_shape(runtime, bundle):
    b = bundle(["sleep", "1000"])
    r = runtime.create(b)
    assert r.rc == 0, r
    ev = stats_event(runtime, r.id)
    assert list(ev) == ["type", "id", "data"] and ev["type"] == "stats" and ev["id"] == r.id
    d = ev["data"]
    assert in_order(list(d), STATS_KEYS), list(d)
    assert {"cpu", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
            "network_interfaces"} <= set(d)
    assert d["network_interfaces"] is None
    assert in_order(list(d["cpu"]), ["usage", "throttling"])
    assert in_order(list(d["cpu"]["usage"]),
                    ["total", "percpu", "percpu_kernel", "percpu_user", "kernel", "user"])
    assert {"kernel", "user"} <= set(d["cpu"]["usage"])
    assert in_order(list(d["memory"]), ["cache", "usage", "swap", "kernel", "kernelTCP", "raw",
                                        "stats"])
    for k in ("usage", "swap", "kernel", "kernelTCP"):
        e = d["memory"][k]
        assert in_order(list(e), ["limit", "usage", "max", "failcnt"]), (k, e)
        assert {"limit", "failcnt"} <= set(e) and all(isinstance(x, int) for x in e.values())
    if "raw" in d["memory"]:
        assert list(d["memory"]["raw"]) == sorted(d["memory"]["raw"])
    if "cpuset" in d:
        assert all(isinstance(c, int) for c in d["cpuset"].get("cpus", []))


def test_events_stats_same_keys_as_runc(runtime, bundle, runc, testdir):
    b = bundle(["sleep", "1000"])
    r = runtime.create(b)
    assert r.rc == 0, r
    rpath = twin(b.path, testdir)
    cid = runc.new_id()
    assert runc("create", "--bundle", rpath, cid).rc == 0
    a, t = stats_event(runtime, r.id), stats_event(runc, cid)
    assert list(a) == list(t)
    assert list(a["data"]) == list(t["data"])
    # "cache" is omitempty in runc's Go struct: 0 (the binaries' pages already charged to
    # another cgroup) drops it from either side, whichever container started first
    omit = lambda d: [x for x in d if x != "cache"]  # noqa: E731
    for k in ("cpuset", "memory"):
        if k in t["data"]:
            assert omit(a["data"][k]) == omit(t["data"][k]), k
    for k in ("usage", "swap", "kernel", "kernelTCP"):
        if k in t["data"]["memory"]:
            keys = lambda e: [x for x in e if x not in ("usage", "max")]  # omitempty values
            assert keys(a["data"]["memory"][k]) == keys(t["data"]["memory"][k]), k


def blkio_device():
    """(major, minor) of the whole disk that holds the test directory, or None."""
    st = os.stat("/tmp")
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    sysdev = Path("/sys/dev/block") / dev
    if not sysdev.exists() or (sysdev / "partition").exists():
        return None
    return os.major(st.st_dev), os.minor(st.st_dev)


def throttled_writer(b, dev):
    """A bundle that throttles (generously) writes to DEV: the v1 throttle layer then counts
    the I/O (a direct write of 1 MiB into the rootfs) in blkio.throttle.*."""
    b.config["root"]["readonly"] = False
    b.config["linux"].setdefault("resources", {})["blockIO"] = {
        "throttleWriteBpsDevice": [{"major": dev[0], "minor": dev[1], "rate": 1 << 30}]}
    b.save()


def test_events_stats_blkio_same_as_runc(runtime, bundle, runc, testdir):
    dev = blkio_device()
    if dev is None:
        pytest.skip("the test directory is not on a whole block device")
    b = bundle(["sleep", "1000"])
    throttled_writer(b, dev)
    rpath = twin(b.path, testdir)
    mid, rid = runtime.new_id(), runc.new_id()
    start_detached(runtime, b.path, mid)
    start_detached(runc, rpath, rid)
    dd = ["sh", "-c", "dd if=/dev/zero of=/io bs=64k count=16 oflag=direct 2>/dev/null; "
          "dd if=/io of=/dev/null bs=64k iflag=direct 2>/dev/null"]
    assert runtime("exec", mid, *dd).rc == 0
    assert runc("exec", rid, *dd).rc == 0
    a = stats_event(runtime, mid)["data"]["blkio"]
    t = stats_event(runc, rid)["data"]["blkio"]
    if not t:
        pytest.skip("this kernel's blkio layer counted no I/O for runc either")
    assert list(a) == list(t), (a, t)

    def rows(blk):  # the devices and ops of each list, and which fields are left out
        return {k: sorted((e.get("major"), e.get("minor"), e.get("op"), "value" in e)
                          for e in v if e.get("op") != "Discard") for k, v in blk.items()}
    assert rows(a) == rows(t), (a, t)
    written = [e for e in a["ioServiceBytesRecursive"] if e.get("op") == "Write"]
    assert written and written[0]["value"] >= 1 << 20, a
    for v in a.values():
        for e in v:
            assert in_order(list(e), ["major", "minor", "op", "value"]), e


def test_events_stats_hugetlb_and_blkio_shapes(runtime, bundle):
    b = bundle(["sleep", "1000"])
    r = runtime.create(b)
    assert r.rc == 0, r
    d = stats_event(runtime, r.id)["data"]
    sizes = sorted(p.name for p in Path("/sys/kernel/mm/hugepages").glob("hugepages-*kB"))
    assert list(d["hugetlb"]) == sorted(d["hugetlb"]), "a Go map: keys sorted"
    for size, e in d["hugetlb"].items():
        assert re.fullmatch(r"\d+[KMGT]?B", size), size
        assert in_order(list(e), ["usage", "max", "failcnt"]) and "failcnt" in e, e
    assert len(d["hugetlb"]) <= len(sizes)
    assert set(d["blkio"]) <= {"ioServiceBytesRecursive", "ioServicedRecursive",
                               "ioQueueRecursive", "ioServiceTimeRecursive",
                               "ioWaitTimeRecursive", "ioMergedRecursive", "ioTimeRecursive",
                               "sectorsRecursive"}


@pytest.mark.capsa_only
def test_events_stats_network_interfaces(runtime, bundle, netns):
    """The interfaces of the container's own network namespace but lo, as the container
    counts them, in runc's NetworkInterface shape; null when the namespace has only lo."""
    path = netns()
    name = Path(path).name
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "add", "cx0", "type", "veth",
                    "peer", "name", "cx1"], check=True, timeout=10)
    for dev in ("cx0", "cx1", "lo"):
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", dev, "up"],
                       check=True, timeout=10)
    subprocess.run(["ip", "netns", "exec", name, "ip", "addr", "add", "10.77.0.1/24", "dev",
                    "cx0"], check=True, timeout=10)
    b = bundle(["sleep", "1000"])
    b.config["linux"]["namespaces"] = [ns for ns in b.config["linux"]["namespaces"]
                                       if ns["type"] != "network"] + [
        {"type": "network", "path": path}]
    b.save()
    r = runtime.create(b)
    assert r.rc == 0, r
    # traffic out of cx0 (an ARP request for a neighbour nobody answers)
    subprocess.run(["ip", "netns", "exec", name, "ping", "-c", "2", "-W", "1", "10.77.0.2"],
                   timeout=10, capture_output=True)
    nets = stats_event(runtime, r.id)["data"]["network_interfaces"]
    assert sorted(n["Name"] for n in nets) == ["cx0", "cx1"], nets
    keys = ["Name", "RxBytes", "RxPackets", "RxErrors", "RxDropped", "TxBytes", "TxPackets",
            "TxErrors", "TxDropped"]
    for n in nets:
        assert list(n) == keys and all(isinstance(n[k], int) for k in keys[1:]), n
    by = {n["Name"]: n for n in nets}
    assert by["cx0"]["TxPackets"] > 0 and by["cx1"]["RxPackets"] == by["cx0"]["TxPackets"]

    plain = bundle(["sleep", "1000"])
    r2 = runtime.create(plain)
    assert r2.rc == 0, r2
    assert stats_event(runtime, r2.id)["data"]["network_interfaces"] is None, "only lo"


# ---- features ----------------------------------------------------------------------------------


def test_features_shape(runtime):
    r = runtime("features", root=False)
    assert r.rc == 0, r
    f = json.loads(r.out)
    assert r.out.endswith("}\n")
    assert r.out.split("\n")[1].startswith('    "ociVersionMin"'), "4-space indent"
    assert list(f)[:4] == ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions"]
    assert f["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer",
                          "poststart", "poststop"]
    assert f["mountOptions"] == sorted(f["mountOptions"])
    lx = f["linux"]
    assert in_order(list(lx), ["namespaces", "capabilities", "cgroup", "seccomp", "apparmor",
                               "selinux", "intelRdt", "mountExtensions"]), list(lx)
    assert lx["namespaces"] == sorted(lx["namespaces"])
    for k in ("actions", "operators", "archs"):
        assert lx["seccomp"][k] == sorted(lx["seccomp"][k]), k
    assert lx["capabilities"][0] == "CAP_CHOWN"


def test_features_same_layout_as_runc(runtime, runc):
    a = json.loads(runtime("features", root=False).out)
    t = json.loads(runc("features", root=False).out)
    assert set(t["mountOptions"]) <= set(a["mountOptions"]), set(t["mountOptions"]) - set(
        a["mountOptions"])
    assert in_order([k for k in a if k in t], list(t)) and set(t) <= set(a)
    assert in_order([k for k in a["linux"] if k in t["linux"]], list(t["linux"]))
    assert set(t["linux"]) <= set(a["linux"])


# ---- logs --------------------------------------------------------------------------------------

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")
TIME_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def test_json_log_lines(runtime, testdir):
    log = testdir / "log.json"
    bad = "no-such-" + ODD
    r = runtime("--log", log, "--log-format", "json", "state", bad, root=False)
    assert r.rc != 0, r
    raw = log.read_text()
    assert raw.endswith("}\n")
    for line in raw.splitlines():
        e = json.loads(line)
        assert list(e)[:2] == ["level", "msg"] and list(e)[-1] == "time", line
        assert set(e) >= {"level", "msg", "time"} and TIME.match(e["time"]), line
        assert ": " not in line.split('"msg"')[0], "compact"
    if IS_CAPSA:
        msgs = [json.loads(line)["msg"] for line in raw.splitlines()]
        assert any(bad in m for m in msgs), msgs  # quote, backslash and UTF-8 round-trip
        assert list(json.loads(raw.splitlines()[-1])) == ["level", "msg", "time"]


def test_json_log_to_stderr_without_log_file(runtime, runc):
    """--log-format json without --log: the error as a json line on stderr, as runc (an
    engine that asked for json parses stderr), and nothing else there."""
    bad = "no-such-" + ODD
    for rt in (runtime, runc):
        r = rt("--log-format", "json", "state", bad)
        assert r.rc == 1 and r.out == "", r
        lines = r.err.splitlines()
        assert len(lines) == 1, r
        e = json.loads(lines[0])
        assert list(e) == ["level", "msg", "time"] and e["level"] == "error", r
        assert TIME.match(e["time"]), r
        assert r.err.endswith("}\n")
        if rt is runtime:
            assert bad in e["msg"], r
    r = runtime("--log-format", "json", "frobnicate", root=False)
    assert r.rc != 0 and all(json.loads(x)["level"] == "error" for x in r.err.splitlines()), r


@pytest.mark.capsa_only
def test_text_log_without_log_file_stays_plain(runtime):
    r = runtime("state", "no-such-container")
    assert r.rc == 1 and r.err.startswith("capsa: ") and "level=" not in r.err, r


@pytest.mark.capsa_only
def test_text_log_quotes_the_message(runtime, testdir):
    log = testdir / "log.txt"
    bad = "no-such-" + ODD
    r = runtime("--log", log, "--log-format", "text", "state", bad, root=False)
    assert r.rc != 0, r
    line = log.read_text().splitlines()[-1]
    m = re.match(r'^time="([^"]+)" level=error msg=(".*")$', line)
    assert m and TIME.match(m.group(1)), line
    assert bad in json.loads(m.group(2)), line


# ---- the seccomp agent's message -----------------------------------------------------------------


def test_seccomp_agent_message_shape(runtime, bundle, testdir):
    from test_seccomp import Listener

    sock = testdir / "agent.sock"
    listener = Listener(sock)
    b = odd_bundle(runtime, bundle, args=["/bin/sh", "-c", "mkdir /tmp/d; true"])
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(sock),
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    r = runtime.run(b)
    listener.join(10)
    assert listener.error is None, listener.error
    assert r.rc == 0, r
    st = listener.state
    assert list(st) == ["ociVersion", "fds", "pid", "state"], st  # metadata: omitempty
    assert list(st["state"]) == HOOK_KEYS, st
    assert st["state"]["bundle"] == str(b.path) and st["state"]["annotations"] == ANNOTATIONS
