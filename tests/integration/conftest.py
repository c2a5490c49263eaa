"""Integration-test fixtures for capsa (or any runc-compatible runtime).

The runtime under test is the binary named by $CAPSA (default: <repo>/build/capsa); the suite is
also run against runc (`CAPSA=/usr/sbin/runc`) to check that the tests assert runc-compatible
behaviour. Tests that check capsa-only behaviour are marked `capsa_only`.

Every test gets a unique container id, its own state root (`--root`) and its own bundle (a copy
of a busybox + capsa-checker rootfs built once per session). The teardown force-deletes whatever
the test created and then asserts that nothing is left behind: no state directory, no mount
mentioning the bundle, no cgroup named after the container, no process inside the bundle or
naming the container's id or state root in its command line (a VM container's QEMU and
virtiofsd).

Launchers: a test marked `launchers` runs once per launcher, `[native]` and `[vm]` (the KVM
mode, TCG here): its bundles carry the annotation `run.oci.handler=vm` in the vm case, and its
waits are longer (a guest boots in seconds).  The vm case skips, saying why, where capsa's
`features` does not list the vm launcher or QEMU is missing.
"""

import copy
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

# this directory, also when the file is loaded by path (the VM tier's conftest does)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runcspec import RUNC_SPEC  # noqa: E402  (the base of every test config; default_config())

REPO = Path(__file__).resolve().parents[2]
CAPSA = os.environ.get("CAPSA") or str(REPO / "build" / "capsa")
IS_CAPSA = os.path.basename(CAPSA).startswith("capsa")
DEFAULT_TIMEOUT = 30
CHECKER = "/bin/capsa-checker"
LAUNCHERS = ("native", "vm")
VM_HANDLER = {"run.oci.handler": "vm"}  # the annotation that chooses the KVM mode
VM_SLOWDOWN = 3  # waits of a vm case are this much longer (a guest boots, under TCG here)
QEMU = "qemu-system-x86_64"

def default_config(args):
    """runc's default spec, adjusted for tests: no terminal, the given args, no cgroupsPath,
    no user namespace, no cgroup resources (each cgroup test adds its own)."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["linux"].pop("resources", None)
    return cfg


def pytest_configure(config):
    config.addinivalue_line("markers", "capsa_only: checks capsa-specific behaviour")
    config.addinivalue_line("markers", "launchers: runs once per launcher (native, vm)")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("launchers") and \
            "launcher" in metafunc.fixturenames:
        metafunc.parametrize("launcher", LAUNCHERS, indirect=True)


def vm_launcher_listed(f):
    """Whether a `features` JSON lists the vm launcher (its annotation run.capsa.launchers, a
    comma-separated list)."""
    ann = f.get("annotations") if isinstance(f, dict) else None
    return "vm" in str((ann or {}).get("run.capsa.launchers", "")).split(",")


@functools.lru_cache(maxsize=None)
def vm_unavailable():
    """None where the vm launcher can run here, else why not (a skip reason)."""
    if not IS_CAPSA:
        return f"the vm launcher is capsa's; runtime is {CAPSA}"
    if not shutil.which(QEMU):
        return f"{QEMU} is not installed (Debian: qemu-system-x86)"
    if not os.access(CAPSA, os.X_OK):
        return f"no runtime binary at {CAPSA}"
    r = subprocess.run([CAPSA, "features"], capture_output=True, text=True, timeout=30)
    try:
        f = json.loads(r.stdout)
    except ValueError:
        return f"`{CAPSA} features` failed (rc={r.returncode}): {r.stderr.strip()[:200]}"
    if not vm_launcher_listed(f):
        return f"`{CAPSA} features` does not list the vm launcher"
    return None


@pytest.fixture
def launcher(request):
    """The launcher of a test marked `launchers` (its parameter), else native."""
    name = getattr(request, "param", "native")
    if name == "vm" and vm_unavailable():
        pytest.skip(vm_unavailable())
    return name


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (run: sudo tests/run)")
        for item in items:
            item.add_marker(skip)
        return
    if not IS_CAPSA:
        skip = pytest.mark.skip(reason=f"capsa-only behaviour; runtime is {CAPSA}")
        for item in items:
            if "capsa_only" in item.keywords:
                item.add_marker(skip)


# ---- session: checker and rootfs -------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def host_devices_intact():
    """The host's /dev/null, /dev/zero and /dev/full are still devices after the run: a test (or
    capsa) that renames a file over one of them harms the machine (a zsh completion test once
    replaced /dev/null with a regular file)."""
    yield
    import stat as st
    bad = [d for d in ("/dev/null", "/dev/zero", "/dev/full")
           if not st.S_ISCHR(os.stat(d).st_mode)]
    assert not bad, f"the host's {', '.join(bad)} is no longer a device"


@pytest.fixture(scope="session")
def workdir():
    """A world-traversable base directory (user-namespaced containers must reach their
    rootfs as an unprivileged host uid, and pytest's tmp_path is 0700)."""
    d = tempfile.mkdtemp(prefix="capsa-it-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def checker_bin(workdir):
    env = os.environ.get("CAPSA_CHECKER")
    if env:
        return Path(env)
    for b in (Path(CAPSA).parent / "tests" / "checker" / "capsa-checker",):
        if b.is_file() and os.access(b, os.X_OK):
            return b
    out = workdir / "capsa-checker"
    src = REPO / "tests" / "checker" / "checker.c"
    r = subprocess.run(["cc", "-static", "-O2", "-o", str(out), str(src)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"cannot build the checker: {r.stderr}")
    return out


@pytest.fixture(scope="session")
def base_rootfs(workdir, checker_bin):
    d = workdir / "rootfs"
    r = subprocess.run([str(REPO / "tools" / "mkrootfs.sh"), str(d), "--with-checker",
                        str(checker_bin)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"mkrootfs.sh failed: {r.stderr}")
    return d


# ---- running the runtime ---------------------------------------------------------------------


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    @property
    def json(self):
        try:
            return json.loads(self.out)
        except ValueError:
            raise AssertionError(f"not JSON: {self}") from None

    def __repr__(self):
        return (f"<{' '.join(self.argv)} -> rc={self.rc}\n--- stdout ---\n{self.out}"
                f"\n--- stderr ---\n{self.err}>")


class Bundle:
    def __init__(self, path, config, launcher="native"):
        self.path = path
        self.rootfs = path / "rootfs"
        self.config = config
        self.launcher = launcher

    def save(self):
        """Writes config.json; a vm bundle's config gets the annotation that chooses the vm
        launcher (also when the test has replaced its annotations)."""
        if self.launcher == "vm":
            self.config.setdefault("annotations", {}).update(VM_HANDLER)
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))

    @property
    def process(self):
        return self.config["process"]

    @property
    def linux(self):
        return self.config["linux"]

    def add_mount(self, destination, type_, source, options=None):
        m = {"destination": destination, "type": type_, "source": str(source)}
        if options is not None:
            m["options"] = options
        self.config["mounts"].append(m)

    def set_namespaces(self, types):
        self.linux["namespaces"] = [{"type": t} for t in types]


class Runtime:
    """Drives the runtime binary with a private --root; remembers the ids it touched."""

    def __init__(self, testdir, root):
        self.testdir = testdir
        self.root = root
        self.ids = []
        self.procs = []
        self.n = 0
        self.slow = 1  # VM_SLOWDOWN in a vm case: wait_status waits this much longer

    def new_id(self):
        self.n += 1
        cid = f"capsa-it-{uuid.uuid4().hex[:10]}-{self.n}"
        self.ids.append(cid)
        return cid

    def argv(self, *args, root=True):
        base = [CAPSA] + (["--root", str(self.root)] if root else [])
        return base + [str(a) for a in args]

    def __call__(self, *args, timeout=DEFAULT_TIMEOUT, root=True, input=None, cwd=None):
        """Run the runtime to completion. stdout/stderr go to files, not pipes: a created or
        detached container inherits them and would keep a pipe open after the runtime exits."""
        argv = self.argv(*args, root=root)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen(argv, stdout=out, stderr=err, text=True,
                                 stdin=subprocess.PIPE if input is not None else
                                 subprocess.DEVNULL, cwd=cwd or self.testdir)
            try:
                p.communicate(input=input, timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                out.seek(0)
                err.seek(0)
                raise AssertionError(f"timed out after {timeout}s: {' '.join(argv)}\n"
                                     f"stdout: {out.read()}\nstderr: {err.read()}") from None
            out.seek(0)
            err.seek(0)
            return Result(argv, p.returncode, out.read(), err.read())

    def spawn(self, *args, **kw):
        """Start the runtime in the background (stdio to files); killed (by pid) in teardown
        if still alive. Use finish(p) to wait and collect its Result."""
        argv = self.argv(*args)
        out = tempfile.TemporaryFile("w+")
        err = tempfile.TemporaryFile("w+")
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True,
                             cwd=self.testdir, **kw)
        p.files = (out, err)
        p.argv = argv
        self.procs.append(p)
        return p

    @staticmethod
    def finish(p, timeout=DEFAULT_TIMEOUT):
        p.wait(timeout=timeout)
        out, err = p.files
        out.seek(0)
        err.seek(0)
        return Result(p.argv, p.returncode, out.read(), err.read())

    # lifecycle shortcuts
    def run(self, bundle, *extra, cid=None, timeout=DEFAULT_TIMEOUT):
        bundle.save()
        cid = cid or self.new_id()
        return self("run", "--bundle", bundle.path, *extra, cid, timeout=timeout)

    def create(self, bundle, *extra, cid=None):
        bundle.save()
        cid = cid or self.new_id()
        r = self("create", "--bundle", bundle.path, *extra, cid)
        r.id = cid
        return r

    def state(self, cid):
        r = self("state", cid)
        assert r.rc == 0, r
        return r.json

    def wait_status(self, cid, status, timeout=10):
        end = time.monotonic() + timeout * self.slow
        st = None
        while time.monotonic() < end:
            r = self("state", cid)
            if r.rc == 0:
                st = r.json
                if st.get("status") == status:
                    return st
            time.sleep(0.05)
        raise AssertionError(f"{cid} did not reach {status!r}; last state {st}")

    def check(self, bundle, *cmd, expect_rc=0, **kw):
        """Run capsa-checker CMD inside a container; return its JSON."""
        bundle.process["args"] = [CHECKER] + [str(c) for c in cmd]
        r = self.run(bundle, **kw)
        assert r.rc == expect_rc, r
        try:
            return json.loads(r.out)
        except ValueError:
            raise AssertionError(f"checker output is not JSON: {r}") from None


# ---- leak checks -----------------------------------------------------------------------------


def find_cgroups(needle, maxdepth=6):
    found = []
    base = "/sys/fs/cgroup"
    base_depth = base.count("/")
    for dirpath, dirnames, _ in os.walk(base):
        if dirpath.count("/") - base_depth >= maxdepth:
            dirnames[:] = []
        for d in dirnames:
            if needle in d:
                found.append(os.path.join(dirpath, d))
    return found


def find_processes(ids, paths):
    """Processes that belong to a test container: the id in their cmdline or cgroup, their
    cwd/root inside a bundle, or a bundle path in their mount table (a pivoted container's
    root mount names its host source)."""
    me = os.getpid()
    own_mnt = os.readlink("/proc/self/ns/mnt")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
            cg = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        why = [i for i in ids if i in cmd] + [f"cgroup {i}" for i in ids if i in cg]
        for link in ("cwd", "root"):
            try:
                t = os.readlink(f"/proc/{pid}/{link}")
            except OSError:
                continue
            why += [f"{link}={t}" for p in paths if t == p or t.startswith(p + "/")]
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") != own_mnt:
                mi = Path(f"/proc/{pid}/mountinfo").read_text()
                why += [f"mounts {p}" for p in paths if p + "/" in mi]
        except OSError:
            pass
        if why:
            found.append(f"pid {pid} ({cmd.strip()[:80]}): {why}")
    return found


def leftovers(rt, bundle_paths):
    left = []
    if rt.root.exists():
        left += [f"state: {rt.root / e}" for e in os.listdir(rt.root)]
    mi = Path("/proc/self/mountinfo").read_text()
    for p in bundle_paths:
        left += [f"mount: {line}" for line in mi.splitlines() if str(p) in line]
    for cid in rt.ids:
        if cid:
            left += [f"cgroup: {c}" for c in find_cgroups(cid)]
    # the state root in a command line or as a cwd: a VM container's QEMU and virtiofsd
    left += [f"process: {p}" for p in find_processes([i for i in rt.ids if i] + [str(rt.root)],
                                                     [str(p) for p in bundle_paths] +
                                                     [str(rt.root)])]
    return left


def scrub(rt, bundle_paths):
    """Remove what a failed runtime left: processes in our cgroups (by pid), the cgroups,
    mounts under our bundles, state dirs. Only things named after this test's ids/paths."""
    for line in find_processes([i for i in rt.ids if i] + [str(rt.root)],
                               [str(p) for p in bundle_paths] + [str(rt.root)]):
        kill_pid(int(line.split()[1]))
    for cid in rt.ids:
        if not cid:
            continue
        for cg in sorted(find_cgroups(cid), key=len, reverse=True):
            for sub, _, _ in sorted(os.walk(cg), key=lambda w: -len(w[0])):
                try:
                    for pid in Path(sub, "cgroup.procs").read_text().split():
                        kill_pid(int(pid))
                except OSError:
                    pass
        time.sleep(0.2)
        for cg in find_cgroups(cid):
            for sub, _, _ in sorted(os.walk(cg), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(sub)
                except OSError:
                    pass
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        target = line.split()[4]
        if any(str(p) in target for p in bundle_paths):
            subprocess.run(["umount", "-l", target], timeout=10)
    shutil.rmtree(rt.root, ignore_errors=True)


# ---- per-test fixtures -----------------------------------------------------------------------


@pytest.fixture
def testdir(workdir):
    d = workdir / uuid.uuid4().hex[:12]
    d.mkdir()
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def stop_runtime(rt):
    """Teardown: kill the background runtimes a test spawned (by pid), force-delete every id."""
    for p in rt.procs:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for f in p.files:
            f.close()
    for cid in rt.ids:
        if cid and "/" not in cid and cid != "..":
            rt("delete", "--force", cid, timeout=DEFAULT_TIMEOUT)


@pytest.fixture
def runtime(testdir):
    if not os.access(CAPSA, os.X_OK):
        pytest.fail(f"runtime binary {CAPSA} not found or not executable (set CAPSA=...)")
    rt = Runtime(testdir, testdir / "state")
    rt.bundles = []
    yield rt
    stop_runtime(rt)
    deadline = time.monotonic() + 5
    while True:
        left = leftovers(rt, rt.bundles)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if left:
        scrub(rt, rt.bundles)  # don't litter the shared machine; the test still fails
    assert not left, "left behind after the test:\n  " + "\n  ".join(left)


@pytest.fixture
def bundle(runtime, testdir, base_rootfs, launcher):
    """Factory: bundle(args=[...]) -> Bundle with a private copy of the rootfs, for the test's
    launcher (native unless the test is marked `launchers`)."""
    n = [0]
    if launcher == "vm":
        runtime.slow = VM_SLOWDOWN

    def make(args=(CHECKER, "ids"), config=None):
        n[0] += 1
        path = testdir / f"bundle{n[0]}"
        path.mkdir()
        os.chmod(path, 0o755)
        subprocess.run(["cp", "-a", str(base_rootfs), str(path / "rootfs")], check=True,
                       timeout=60)
        cfg = copy.deepcopy(config) if config is not None else default_config(args)
        b = Bundle(path, cfg, launcher)
        b.save()
        runtime.bundles.append(path)
        return b

    return make


# ---- host helpers shared by tests ------------------------------------------------------------


def check_json(r):
    """The checker's JSON output of a successful run or exec."""
    assert r.rc == 0, r
    try:
        return json.loads(r.out)
    except ValueError:
        raise AssertionError(f"checker output is not JSON: {r}") from None


def detached(runtime, bundle, args=(CHECKER, "sleep", "60"), mutate=None):
    """A container run with --detach (mutate(b) edits its bundle first): (cid, bundle)."""
    b = bundle(list(args))
    if mutate:
        mutate(b)
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid)
    assert r.rc == 0, r
    return cid, b


def host_ns(name):
    return os.readlink(f"/proc/self/ns/{name}")


def own_cgroup(controller):
    """This process's cgroup path in the v1 hierarchy of CONTROLLER (or v2 with '')."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            return path
    return None


def cgroup_file(pid, controller, name):
    """Host path of cgroup file NAME for process PID: the v1 hierarchy of CONTROLLER, or v2."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, ctrls, path = line.split(":", 2)
        if controller in ctrls.split(","):
            for mnt in (controller, ",".join(sorted(ctrls.split(",")))):
                p = Path("/sys/fs/cgroup") / mnt / path.lstrip("/") / name
                if p.exists():
                    return p
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
                p = Path(base) / line[3:].lstrip("/") / name
                if p.exists():
                    return p
    return None


def features(runtime):
    r = runtime("features", root=False)
    if r.rc != 0:
        return None
    try:
        return r.json
    except AssertionError:
        return None


@pytest.fixture
def netns():
    """Factory for named network namespaces (ip netns add), deleted in teardown."""
    made = []

    def make():
        name = f"capsa-it-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
        made.append(name)
        return f"/var/run/netns/{name}"

    yield make
    for name in made:
        subprocess.run(["ip", "netns", "delete", name], timeout=10)


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
