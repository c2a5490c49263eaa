"""Live migration (`capsa migrate` / `capsa migrate-receive`) between two "hosts" in one guest:
two network namespaces joined by a veth (192.168.77.1 and .2), each with its own capsa --root,
its own cgroup and its own copy of the bundle, bind-mounted at one common path inside the
host's mount namespace (`ip netns exec` gives each command its own).  capsa's `default`
network (bridge capsa0, 10.89.0.0/24) exists on both; a second veth joins the two bridges
into one layer-2 segment, as a datacenter's network would, and a client in a third namespace
(10.89.0.250 on host A's bridge) holds a TCP connection to the container across the move.

Certificates come from a throw-away CA made with openssl(1); a second CA makes the rogue one.
Needs CRIU that works on this kernel (`criu check`): the VM tier's guest."""

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import CHECKER  # noqa: F401  (the fixtures come from conftest)
import capsa_it_conftest as it

CAPSA = it.CAPSA
BUNDLE = "/tmp/capsa-migrate-bundle"  # the same path on both hosts
UPLINK = {"A": "192.168.77.1", "B": "192.168.77.2"}
CLIENT_IP = "10.89.0.250"
PORT = 7070


def sh(*args, check=True, **kw):
    return subprocess.run([str(a) for a in args], check=check, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 60), **kw)


def criu_works():
    try:
        return subprocess.run(["criu", "check"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = [pytest.mark.capsa_only,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("criu") or
                                 not shutil.which("openssl") or not criu_works(),
                                 reason="needs root, openssl and a CRIU that passes `criu check` "
                                        "(the VM tier)")]


class Host:
    def __init__(self, name, base, tag):
        self.name = name
        self.ns = f"cm{name}-{tag}"
        self.dir = base / f"host{name}"
        # under /run: the network store links O_TMPFILE files, which the guest's /tmp may lack
        self.root = Path(f"/run/capsa-mig{name}-{tag}")
        self.bundle = self.dir / "bundle"  # bind-mounted at BUNDLE in this host's commands
        self.cgroup = Path(f"/sys/fs/cgroup/capsa-mig{name}-{tag}")
        self.procs = []
        self.cgroup_root = None  # a cgroup bound over /sys/fs/cgroup as this host's whole tree

    def wrap(self, argv):
        """argv run inside the host: its netns, its cgroup, its bundle at BUNDLE.  With
        cgroup_root, the host's cgroup is the host's whole cgroup tree (bound over
        /sys/fs/cgroup) and the command stays out of it, so that the containers' cgroups may
        enable controllers there (v2's no-internal-processes rule)."""
        # `ip netns exec` mounts a new /sys: cgroup2 goes back on it
        join = ('mount --bind "$1" /sys/fs/cgroup' if self.cgroup_root
                else 'echo $$ > "$1/cgroup.procs"')
        script = ('mount -t cgroup2 none /sys/fs/cgroup && ' + join + ' && '
                  'mount --bind "$2" "$3" && shift 3 && exec "$@"')
        cgroup = self.cgroup_root or self.cgroup
        return ["ip", "netns", "exec", self.ns, "sh", "-c", script, "sh", str(cgroup),
                str(self.bundle), BUNDLE] + [str(a) for a in argv]

    def capsa_argv(self, *args):
        return self.wrap([CAPSA, "--root", self.root, *args])

    def capsa(self, *args, timeout=120):
        """stdout and stderr to files, not pipes: a detached container inherits them.  Opened
        by open(), not tempfile's (O_NOFOLLOW, which CRIU keeps, cannot reopen the inherited
        file through /proc), and unlinked after: a migrated container's stdio is then a file
        the destination does not have (it becomes /dev/null there, with a warning)."""
        d = tempfile.mkdtemp(prefix="capsa-out-")
        try:
            with open(os.path.join(d, "out"), "w+") as out, \
                    open(os.path.join(d, "err"), "w+") as err:
                p = subprocess.run(self.capsa_argv(*args), stdout=out, stderr=err, text=True,
                                   timeout=timeout, stdin=subprocess.DEVNULL)
                out.seek(0)
                err.seek(0)
                return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def spawn(self, *args):
        p = subprocess.Popen(self.capsa_argv(*args), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             errors="replace")
        self.procs.append(p)
        return p

    def ids(self):
        r = self.capsa("list", "--format", "json")
        assert r.returncode == 0, r.stderr
        return [c["id"] for c in json.loads(r.stdout or "[]") or []]

    def status(self, cid):
        r = self.capsa("state", cid)
        return json.loads(r.stdout)["status"] if r.returncode == 0 else None


def certs(d):
    """ca.pem, A and B (IP SANs: CRIU's TLS checks the page server's address), and a rogue pair
    from another CA."""
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "rogue-ca"):
        sh("openssl", "req", "-x509", *ec, "-days", "1", "-subj", f"/CN={ca}",
           "-keyout", d / f"{ca}.key", "-out", d / f"{ca}.pem")
    for who, ca, ip in (("A", "ca", UPLINK["A"]), ("B", "ca", UPLINK["B"]),
                        ("rogue", "rogue-ca", UPLINK["A"])):
        sh("openssl", "req", *ec, "-subj", f"/CN=host{who}", "-keyout", d / f"{who}.key",
           "-out", d / f"{who}.csr")
        ext = d / f"{who}.ext"
        ext.write_text(f"subjectAltName=IP:{ip}\n")
        sh("openssl", "x509", "-req", "-in", d / f"{who}.csr", "-CA", d / f"{ca}.pem",
           "-CAkey", d / f"{ca}.key", "-CAcreateserial", "-days", "1", "-extfile", ext,
           "-out", d / f"{who}.pem")
    return d


def tls(d, who, ca="ca"):
    return ["--tls-cacert", d / f"{ca}.pem", "--tls-cert", d / f"{who}.pem",
            "--tls-key", d / f"{who}.key"]


@pytest.fixture(scope="module")
def world(workdir, base_rootfs):
    tag = uuid.uuid4().hex[:6]
    base = workdir / f"migrate-{tag}"
    base.mkdir()
    os.makedirs(BUNDLE, exist_ok=True)
    hosts = {n: Host(n, base, tag) for n in ("A", "B")}
    client_ns = f"cmC-{tag}"
    made = []
    try:
        for h in hosts.values():
            h.dir.mkdir()
            h.root.mkdir()
            h.bundle.mkdir()
            h.cgroup.mkdir()
            sh("ip", "netns", "add", h.ns)
            made.append(h.ns)
            sh("ip", "-n", h.ns, "link", "set", "lo", "up")
        sh("ip", "netns", "add", client_ns)
        made.append(client_ns)
        a, b = hosts["A"], hosts["B"]
        sh("ip", "link", "add", "up0", "netns", a.ns, "type", "veth", "peer", "name", "up0",
           "netns", b.ns)
        for h in (a, b):
            sh("ip", "-n", h.ns, "addr", "add", UPLINK[h.name] + "/24", "dev", "up0")
            sh("ip", "-n", h.ns, "link", "set", "up0", "up")
            # the default network (bridge capsa0) now, so the segment can be joined
            r = h.capsa("net", "inspect", "default")
            assert r.returncode == 0, r.stderr
        sh("ip", "link", "add", "l2", "netns", a.ns, "type", "veth", "peer", "name", "l2",
           "netns", b.ns)
        for h in (a, b):
            sh("ip", "-n", h.ns, "link", "set", "l2", "master", "capsa0", "up")
        sh("ip", "link", "add", "cl0", "netns", client_ns, "type", "veth", "peer", "name",
           "cl", "netns", a.ns)
        sh("ip", "-n", a.ns, "link", "set", "cl", "master", "capsa0", "up")
        sh("ip", "-n", client_ns, "addr", "add", CLIENT_IP + "/24", "dev", "cl0")
        sh("ip", "-n", client_ns, "link", "set", "cl0", "up")
        sh("ip", "-n", client_ns, "link", "set", "lo", "up")
        yield {"hosts": hosts, "client_ns": client_ns, "certs": certs(base / "certs"),
               "rootfs": base_rootfs, "base": base}
    finally:
        for h in hosts.values():
            for p in h.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            if h.root.exists():
                for cid in os.listdir(h.root):
                    if not cid.startswith("."):
                        h.capsa("delete", "--force", cid)
                for net in ("default",):
                    h.capsa("net", "rm", net)
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for h in hosts.values():
            for _ in range(50):
                try:
                    if h.cgroup.exists():
                        for sub in h.cgroup.iterdir():
                            if sub.is_dir():
                                sub.rmdir()
                        h.cgroup.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)
        for h in hosts.values():
            shutil.rmtree(h.root, ignore_errors=True)


COUNTER = ("i=0; nc -ll -p %d -e cat & "
           "while :; do i=$((i+1)); echo $i > /count; sleep 0.2; done" % PORT)


@pytest.fixture
def migrating(world):
    """A fresh counter container `cid` on host A (bundle copies on both hosts); removed after."""
    hosts = world["hosts"]
    cid = "mig-" + uuid.uuid4().hex[:8]
    for h in hosts.values():
        for p in h.bundle.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        subprocess.run(["cp", "-a", str(world["rootfs"]), str(h.bundle / "rootfs")], check=True)
        cfg = it.default_config(["/bin/sh", "-c", COUNTER])
        cfg["root"] = {"path": "rootfs", "readonly": False}
        (h.bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    a = hosts["A"]
    r = a.capsa("run", "--detach", "--net", "default", "--bundle", BUNDLE, cid)
    assert r.returncode == 0, r.stderr
    wait_count(a, 3)
    yield cid
    for h in hosts.values():
        for p in h.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        h.procs.clear()
        h.capsa("delete", "--force", cid)


def count(h):
    try:
        return int((h.bundle / "rootfs" / "count").read_text())
    except (OSError, ValueError):
        return 0


def wait_count(h, above, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if count(h) > above:
            return count(h)
        time.sleep(0.1)
    raise AssertionError(f"the counter on host {h.name} did not pass {above} (at {count(h)})")


def receiver(world, *extra, who="B"):
    """migrate-receive on host B, once, listening on its uplink address; waits for it to listen."""
    b = world["hosts"]["B"]
    p = b.spawn("migrate-receive", "--listen", f"{UPLINK['B']}:{PORT}", "--once",
                *tls(world["certs"], who), *extra)
    line = read_line(p, "listening on", 30)
    assert line, f"migrate-receive did not start: {finish(p)}"
    return p


def read_line(p, needle, timeout):
    """Reads p's stderr until a line holding needle (returned) or the timeout/EOF (None)."""
    end = time.monotonic() + timeout
    p.seen = getattr(p, "seen", "")
    while time.monotonic() < end:
        ready, _, _ = select.select([p.stderr], [], [], 0.2)
        if not ready:
            if p.poll() is not None:
                return None
            continue
        line = p.stderr.readline()
        if not line:
            return None
        p.seen += line
        if needle in line:
            return line
    return None


def finish(p, timeout=60):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return f"rc {p.returncode}\nstdout: {out}\nstderr: {getattr(p, 'seen', '')}{err}"


def migrate(world, cid, *extra, who="A"):
    a = world["hosts"]["A"]
    return a.spawn("migrate", *tls(world["certs"], who), "--stats", *extra, cid,
                   f"{UPLINK['B']}:{PORT}")


def assert_source_runs(world, cid):
    a = world["hosts"]["A"]
    assert a.status(cid) == "running", f"source container is {a.status(cid)}"
    c = count(a)
    wait_count(a, c + 1, timeout=10)  # going on: not frozen


def assert_dest_clean(world, cid):
    b = world["hosts"]["B"]
    assert cid not in b.ids(), f"{cid} left on the destination"
    work = b.root / ".migrate-receive"
    left = list(work.iterdir()) if work.exists() else []
    assert not left, f"work dirs left on the destination: {left}"
    backups = [p for p in b.bundle.iterdir() if p.name.startswith(".capsa-migrate-backup")]
    assert not backups, f"backups left in the destination's bundle: {backups}"


class Client:
    """A TCP client in the client namespace: each line written is sent, its echo read back."""

    CODE = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(60)
f = s.makefile("rw")
print("connected", flush=True)
for line in sys.stdin:
    f.write(line); f.flush()
    print("echo " + f.readline().strip(), flush=True)
"""

    def __init__(self, world, ip):
        self.p = subprocess.Popen(["ip", "netns", "exec", world["client_ns"], "python3", "-c",
                                   self.CODE, ip, str(PORT)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "connected", self.p.stderr.read()

    def ping(self, msg, timeout=60):
        self.p.stdin.write(msg + "\n")
        self.p.stdin.flush()
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        return self.p.stdout.readline().strip() if ready else None

    def close(self):
        self.p.kill()
        self.p.wait()


def container_ip(h, cid):
    r = h.capsa("net", "inspect", "default")
    for ep in json.loads(r.stdout)[0].get("endpoints", []) if r.returncode == 0 else []:
        if ep.get("owner") == cid:
            return ep["address"].split("/")[0]
    raise AssertionError(f"no address of {cid} on host {h.name}: {r.stdout} {r.stderr}")


@pytest.mark.parametrize("mode", ["pre-copy", "lazy", "stop-and-copy"])
def test_migrate_counter_and_tcp(world, migrating, mode):
    """The counter goes on on B from where it was; the TCP connection made to it on A still
    echoes on B; the source is gone; --stats reports the rounds and times.  pre-copy (the
    default), --lazy (post-copy: the pages follow the restore) and --no-precopy."""
    flags = {"pre-copy": [], "lazy": ["--lazy"], "stop-and-copy": ["--no-precopy"]}[mode]
    cid = migrating
    a, b = world["hosts"]["A"], world["hosts"]["B"]
    ip = container_ip(a, cid)
    client = Client(world, ip)
    try:
        assert client.ping("before") == "echo before"
        recv = receiver(world)
        before = count(a)
        t0 = time.monotonic()
        m = migrate(world, cid, "--tcp-established", *flags)
        out = finish(m, timeout=150)
        took = time.monotonic() - t0
        assert m.returncode == 0, out + "\nreceiver: " + finish(recv, timeout=20)
        stats = json.loads(out.split("stdout: ", 1)[1].split("\nstderr:", 1)[0])
        print(f"migration stats: {stats}, wall {took:.1f}s")
        assert len(stats["round_bytes"]) == stats["rounds"] + 1
        assert (stats["rounds"] >= 1) == (mode == "pre-copy"), stats
        assert stats["round_bytes"][0] > 0
        assert 0 < stats["freeze_ms"] <= stats["total_ms"]
        r = finish(recv)
        assert recv.returncode == 0, r
        assert cid not in a.ids(), "the source container is still there"
        assert b.status(cid) == "running"
        assert container_ip(b, cid) == ip, "the address moved with it"
        after = wait_count(b, before)
        assert after >= before, "the counter started over"
        wait_count(b, after + 2)
        assert client.ping("after") == "echo after", "the TCP connection did not survive"
    finally:
        client.close()


PHASES = ["accepted", "pre-copy round 1", "final dump", "syncing the bundle", "restoring"]


@pytest.mark.parametrize("phase", PHASES)
def test_receiver_killed(world, migrating, phase):
    """SIGTERM to the receiver at each phase: the migration fails, the source container runs
    and is not frozen, the destination has nothing of it left."""
    cid = migrating
    recv = receiver(world)
    m = migrate(world, cid)
    seen = read_line(recv, phase, 180)
    assert seen, f"the receiver never reached {phase!r}: {finish(recv)}\nsource: {finish(m)}"
    recv.send_signal(signal.SIGTERM)
    r = finish(recv)
    out = finish(m, timeout=180)
    assert m.returncode != 0, f"migration succeeded although the receiver was stopped: {out}"
    assert_source_runs(world, cid)
    assert_dest_clean(world, cid)


@pytest.mark.parametrize("phase", ["receiving the images", "fetching the rest"])
def test_lazy_receiver_killed(world, migrating, phase):
    """--lazy, the receiver stopped before the restore (the source's CRIU serves the pages and
    waits): the source container runs on, unfrozen; nothing is left on the destination.  Once
    the destination runs it and fetches the pages, the move is past its point of no return
    (the source's tasks end when the last page has gone): the receiver finishes it first."""
    cid = migrating
    a, b = world["hosts"]["A"], world["hosts"]["B"]
    recv = receiver(world)
    m = migrate(world, cid, "--lazy")
    seen = read_line(recv, phase, 180)
    assert seen, f"the receiver never reached {phase!r}: {finish(recv)}\nsource: {finish(m)}"
    recv.send_signal(signal.SIGTERM)
    r = finish(recv)
    out = finish(m, timeout=180)
    if phase == "fetching the rest":
        assert m.returncode == 0, out + "\nreceiver: " + r
        assert recv.returncode == 0, r
        assert a.status(cid) is None and b.status(cid) == "running"
        return
    assert_source_runs(world, cid)
    assert_dest_clean(world, cid)


def test_receiver_sigkill_swept(world, migrating):
    """SIGKILL during pre-copy: the source goes on; the next receiver undoes what was left."""
    cid = migrating
    recv = receiver(world)
    m = migrate(world, cid)
    assert read_line(recv, "pre-copy round 1", 180), finish(recv)
    recv.kill()
    recv.wait()
    out = finish(m, timeout=180)
    assert m.returncode != 0, out
    assert_source_runs(world, cid)
    recv2 = receiver(world)  # sweeps the dead receiver's work dir at start
    recv2.send_signal(signal.SIGTERM)
    finish(recv2)
    assert_dest_clean(world, cid)


def test_rogue_certificate_refused(world, migrating):
    """A source whose certificate another CA signed is refused; nothing moves."""
    cid = migrating
    recv = receiver(world)
    m = migrate(world, cid, who="rogue")
    out = finish(m, timeout=60)
    assert m.returncode != 0, out
    assert "alert" in out or "certificate" in out, out
    recv.send_signal(signal.SIGTERM)
    r = finish(recv)
    assert "TLS handshake" in r, r
    assert_source_runs(world, cid)
    assert_dest_clean(world, cid)


@pytest.fixture
def ext4_bundles(world):
    """Each host's bundle directory on an ext4 filesystem of its own (a loop image): a tenant's
    root is an idmapped mount, which the guest's tmpfs (6.1) and 9p cannot give."""
    mounted, images = [], []
    for h in world["hosts"].values():
        # a cgroup of the hosts' own beside theirs, with no process in it ever, so that pids
        # can be delegated whatever earlier tests left in theirs
        h.cgroup_root = Path(f"{h.cgroup}-t")
        h.cgroup_root.mkdir(exist_ok=True)
        (h.cgroup_root / "cgroup.subtree_control").write_text("+pids +memory")
    for mod in ("loop", "ext4"):  # the guest does not load modules on demand
        subprocess.run(["modprobe", mod], capture_output=True)
    try:
        for h in world["hosts"].values():
            img = h.root.parent / f"{h.root.name}.img"  # /run: a loop file on 9p is refused
            images.append(img)
            sh("truncate", "-s", "128M", str(img))
            sh("mkfs.ext4", "-q", str(img))
            sh("mount", "-o", "loop", str(img), str(h.bundle))
            mounted.append(h.bundle)
        yield world
    finally:
        for m in mounted:
            for _ in range(20):
                if subprocess.run(["umount", str(m)], capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)
        for img in images:
            img.unlink(missing_ok=True)
        for h in world["hosts"].values():
            root, h.cgroup_root = h.cgroup_root, None
            for _ in range(50):
                try:
                    for sub in root.iterdir():
                        if sub.is_dir():
                            sub.rmdir()
                    root.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def tenant_container(world, tenant):
    hosts = world["hosts"]
    cid = "mig-" + uuid.uuid4().hex[:8]
    for h in hosts.values():
        subprocess.run(["cp", "-a", str(world["rootfs"]), str(h.bundle / "rootfs")], check=True)
        cfg = it.default_config(["/bin/sh", "-c", COUNTER.replace("nc -ll", ": nc -ll")])
        cfg["root"] = {"path": "rootfs", "readonly": False}
        (h.bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    a = hosts["A"]
    r = a.capsa("run", "--detach", "--tenant", tenant, "--bundle", BUNDLE, cid)
    assert r.returncode == 0, r.stderr
    wait_count(a, 3)
    return cid


def tenant_range(h, tenant):
    r = h.capsa("tenant", "list", "--format", "json")
    assert r.returncode == 0, r.stderr
    for t in json.loads(r.stdout or "[]") or []:
        if t.get("name") == tenant:
            return t
    return None


def test_tenant_migrates_into_its_range(ext4_bundles):
    """A tenant's container (its own user namespace, ids from the tenant's range) moves into
    the same tenant on the destination, made there with the same range; the counter goes on."""
    world = ext4_bundles
    a, b = world["hosts"]["A"], world["hosts"]["B"]
    tenant = "t" + uuid.uuid4().hex[:6]
    cid = tenant_container(world, tenant)
    try:
        before = count(a)
        recv = receiver(world)
        m = migrate(world, cid)
        out = finish(m, timeout=150)
        assert m.returncode == 0, out + "\nreceiver: " + finish(recv, timeout=20)
        finish(recv)
        assert b.status(cid) == "running"
        ta, tb = tenant_range(a, tenant), tenant_range(b, tenant)
        assert tb is not None, "the tenant was not made on the destination"
        assert ta is None or {k: ta[k] for k in ta if k != "containers"} == \
            {k: tb[k] for k in tb if k != "containers"}, (ta, tb)
        assert wait_count(b, before) >= before, "the counter started over"
    finally:
        for h in (a, b):
            h.capsa("delete", "--force", cid)


def test_tenant_range_taken_refused(ext4_bundles):
    """On a destination where the tenant's range belongs to another tenant, the migration is
    refused before anything moves: the source goes on, the destination keeps nothing."""
    world = ext4_bundles
    a, b = world["hosts"]["A"], world["hosts"]["B"]
    tenant = "t" + uuid.uuid4().hex[:6]  # tenants outlive their containers: a new one
    cid = tenant_container(world, tenant)
    probe = "probe-" + uuid.uuid4().hex[:6]
    try:
        # the first range on B goes to another tenant
        other = "o" + uuid.uuid4().hex[:6]
        r = b.capsa("run", "--detach", "--tenant", other, "--bundle", BUNDLE, probe)
        assert tenant_range(b, other) is not None, r.stderr
        recv = receiver(world)
        m = migrate(world, cid)
        out = finish(m, timeout=120)
        assert m.returncode != 0, out
        assert "tenant" in out and tenant in out, out
        finish(recv)
        assert_source_runs(world, cid)
        assert cid not in b.ids()
        assert tenant_range(b, tenant) is None, "the destination kept the tenant it made"
    finally:
        for h in (a, b):
            h.capsa("delete", "--force", cid)
        b.capsa("delete", "--force", probe)
