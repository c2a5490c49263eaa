"""Real engines driving capsa: podman (through conmon) and containerd (through its runc shim).

Everything runs on private state under one temp dir (/tmp/capsa-engines-XXXX):
- podman: its own --root/--runroot/--tmpdir, a private containers.conf (CONTAINERS_CONF: cgroupfs
  manager, file events, no network, conmon left in our own cgroup), `--runtime <abs capsa>`;
- containerd: its own root, state, gRPC socket and config (CRI plugin disabled); the runc shim
  gets `--runc-binary <capsa> --runc-root <tmp>`.
The image is tools/mkrootfs.sh's busybox rootfs, `podman import`ed (no network), and for
containerd `podman save --format oci-archive` + `ctr images import`.

Cgroups: every container's cgroupsPath is RELATIVE (`<tag>/libpod-ID`, `<tag>/ID`), so capsa puts
it beneath the caller's own cgroup in each hierarchy; `<tag>` is this session's unique name.
After each test nothing of its containers may remain: no container cgroup below `<tag>`, no capsa
state dir, no conmon/shim process.  Teardown stops what the session started (containerd by pid),
unmounts what the engines mounted under the temp dir and removes it and the `<tag>` cgroups.

Set CAPSA_TRACE=1 (or =/abs/file, kept after the run) to run capsa through a wrapper that logs
every argv to <tmp>/capsa-argv.log (printed when a test fails): that is how to see which flags
the engines pass.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from .enginetools import IMAGE, TIMEOUT

REPO = Path(__file__).resolve().parents[2]
CAPSA = os.path.abspath(os.environ.get("CAPSA") or REPO / "build" / "capsa")
# The host refuses to raise these hard limits (no CAP_SYS_RESOURCE): podman's defaults
# (1048576) cannot be applied, so every run asks for what the host has.
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
CGROUP_ROOT = Path("/sys/fs/cgroup")
ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Directories the engines create outside our temp dir whatever their flags say: removed at the
# end if (and only if) they did not exist when the session started.
ENGINE_HOST_DIRS = ["/var/lib/containers", "/run/containerd"]


# ---- results and processes -------------------------------------------------------------------


class Result:
    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    @property
    def json(self):
        try:
            return json.loads(self.out)
        except ValueError:
            raise AssertionError(f"not JSON: {self}") from None

    def __repr__(self):
        return (f"<{' '.join(self.argv)} -> rc={self.rc} in {self.elapsed:.2f}s\n"
                f"--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}>")


def run_cmd(argv, env=None, timeout=TIMEOUT, input=None):
    """Runs argv to completion with stdout/stderr in files (a detached container or a daemon
    the command forks may inherit them and would hold a pipe open)."""
    argv = [str(a) for a in argv]
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env,
                             stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
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
        return Result(argv, p.returncode, out.read(), err.read(), time.monotonic() - t0)


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def processes_mentioning(needle):
    """(pid, cmdline) of processes whose command line contains needle (our unique temp dir):
    conmon, shims, and containers whose args name it."""
    found = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if needle in cmd:
            found.append((int(pid), cmd.strip()))
    return found


# ---- cgroups ---------------------------------------------------------------------------------


def own_cgroup_dirs():
    """Our own cgroup directory in each mounted hierarchy (v1 controllers, name=systemd and the
    unified one), from /proc/self/cgroup and /proc/self/mountinfo."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        fstype, target, root = rfields[0], fields[4], fields[3]
        if fstype == "cgroup2":
            mounts.setdefault("", (target, root))
        elif fstype == "cgroup":
            for opt in rfields[2].split(","):
                if opt not in ("rw", "ro") and "=" not in opt or opt.startswith("name="):
                    mounts.setdefault(opt, (target, root))
    dirs = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if ctrls else [""]:
            if c in mounts:
                target, root = mounts[c]
                rel = os.path.relpath(path, root) if path.startswith(root) else path
                d = os.path.normpath(os.path.join(target, rel.lstrip("/")))
                if d not in dirs:
                    dirs.append(d)
                break
    return dirs


class CgroupParent:
    """The session's relative cgroup parent `<tag>`, below our own cgroup in every hierarchy."""

    def __init__(self, tag):
        self.tag = tag
        self.dirs = [Path(d) / tag for d in own_cgroup_dirs()]

    def children(self):
        """Container cgroups still present below the parent (should be none between tests)."""
        left = []
        for d in self.dirs:
            if d.is_dir():
                left += [str(c) for c in d.iterdir() if c.is_dir()]
        return left

    def remove(self, kill=False):
        for d in self.dirs:
            if not d.is_dir():
                continue
            walk = sorted(os.walk(d), key=lambda w: -len(w[0]))
            if kill:
                for sub, _, _ in walk:
                    try:
                        for pid in Path(sub, "cgroup.procs").read_text().split():
                            kill_pid(int(pid))
                    except OSError:
                        pass
                time.sleep(0.2)
            for sub, _, _ in walk:
                try:
                    os.rmdir(sub)
                except OSError:
                    pass


# ---- mounts and packages ---------------------------------------------------------------------


def mounts_under(path):
    path = str(path)
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target == path or target.startswith(path + "/"):
            out.append(target)
    return out


def unmount_all_under(path):
    for _ in range(5):
        targets = mounts_under(path)
        if not targets:
            return
        for t in sorted(set(targets), key=len, reverse=True):
            subprocess.run(["umount", t], capture_output=True, timeout=10)
        for t in sorted(set(mounts_under(path)), key=len, reverse=True):
            subprocess.run(["umount", "-l", t], capture_output=True, timeout=10)


def ensure_installed(binaries):
    """binaries: {binary: package}.  Installs missing packages with apt-get; returns None when
    all are there, else the reason they are not (for pytest.skip)."""
    missing = sorted({pkg for b, pkg in binaries.items()
                      if not shutil.which(b, path=ENV_PATH)})
    if not missing:
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    still = [b for b in binaries if not shutil.which(b, path=ENV_PATH)]
    if r.returncode != 0 or still:
        return (f"cannot install {' '.join(missing)} with apt-get (rc={r.returncode}): "
                f"{(r.stderr or r.stdout).strip()[-300:]}")
    return None


# ---- session ---------------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    reason = None
    if os.geteuid() != 0:
        reason = "engine tests need root (run: sudo tests/run)"
    elif not os.access(CAPSA, os.X_OK):
        reason = f"no capsa binary at {CAPSA} (build it or set CAPSA)"
    if reason:
        for item in items:
            if str(item.fspath).startswith(str(Path(__file__).parent)):
                item.add_marker(pytest.mark.skip(reason=reason))


class Session:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="capsa-engines-", dir="/tmp"))
        os.chmod(self.base, 0o755)
        self.tag = self.base.name
        self.cgroups = CgroupParent(self.tag)
        self.host_dirs_before = {d for d in ENGINE_HOST_DIRS if os.path.exists(d)}
        self.capsa = CAPSA
        self.trace_log = None
        trace = os.environ.get("CAPSA_TRACE")
        if trace:
            self.trace_log = Path(trace) if trace.startswith("/") else self.base / "capsa-argv.log"
            wrap = self.base / "bin" / "capsa"
            wrap.parent.mkdir()
            wrap.write_text(f'#!/bin/sh\necho "$$ $*" >> {self.trace_log}\n'
                            f'exec {CAPSA} "$@"\n')
            wrap.chmod(0o755)
            self.capsa = str(wrap)
        self.rootfs_tar = None

    def trace(self):
        if self.trace_log and self.trace_log.exists():
            return "\n--- capsa calls ---\n" + self.trace_log.read_text()
        return ""

    def build_rootfs(self):
        if self.rootfs_tar:
            return self.rootfs_tar
        rootfs = self.base / "rootfs"
        r = run_cmd([REPO / "tools" / "mkrootfs.sh", rootfs], timeout=120)
        assert r.rc == 0, r
        tar = self.base / "rootfs.tar"
        r = run_cmd(["tar", "-C", rootfs, "-cf", tar, "."], timeout=120)
        assert r.rc == 0, r
        self.rootfs_tar = tar
        return tar

    def close(self):
        for pid, _ in processes_mentioning(str(self.base)):
            kill_pid(pid)
        self.cgroups.remove(kill=True)
        unmount_all_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        for d in ENGINE_HOST_DIRS:
            if d not in self.host_dirs_before and os.path.isdir(d):
                shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def session():
    s = Session()
    yield s
    s.close()


# ---- podman ----------------------------------------------------------------------------------


PODMAN_CONF = """\
[containers]
# no CNI bridge, veth or iptables rule on the host
netns = "none"
# keep conmon in the caller's cgroup (podman would move it to <cgroup-parent>/conmon)
cgroups = "no-conmon"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
# conmon passes --log FILE --log-format=json only to runtimes named here
runtime_supports_json = ["capsa", "runc", "crun"]

[engine.runtimes]
capsa = ["{capsa}"]
"""


class Podman:
    def __init__(self, session):
        self.s = session
        self.dir = session.base / "podman"
        self.dir.mkdir()
        conf = self.dir / "containers.conf"
        conf.write_text(PODMAN_CONF.format(base=self.dir, capsa=session.capsa))
        self.env = {"PATH": ENV_PATH, "HOME": str(self.dir), "CONTAINERS_CONF": str(conf),
                    "TMPDIR": str(self.dir / "tmp"), "LANG": "C.UTF-8"}
        (self.dir / "tmp").mkdir()
        self.base_argv = [
            "podman", "--root", self.dir / "root", "--runroot", self.dir / "runroot",
            "--tmpdir", self.dir / "libpod", "--storage-driver", self.storage_driver(),
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
        ]
        self.rt = ["--runtime", session.capsa]
        self.cgroup_parent = ["--cgroup-parent", session.tag]

    def storage_driver(self):
        # overlay works on the host's ext4 and costs no copy; vfs is the fallback.
        return "overlay" if "overlay" in Path("/proc/filesystems").read_text() else "vfs"

    def argv(self, *args, runtime=True):
        return self.base_argv + (self.rt if runtime else []) + [str(a) for a in args]

    def __call__(self, *args, timeout=TIMEOUT, input=None, runtime=True):
        return run_cmd(self.argv(*args, runtime=runtime), env=self.env, timeout=timeout,
                       input=input)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, f"{r}{self.s.trace()}"
        return r

    def run_args(self, *args):
        """`run` with the flags every container here needs, then args."""
        return ["run", *ULIMITS, *self.cgroup_parent, *args]

    def container_ids(self):
        r = self("ps", "-a", "-q", "--no-trunc")
        return r.out.split() if r.rc == 0 else []

    def remove_all(self):
        self("rm", "-a", "-f", "-t", "0", timeout=60)

    def close(self):
        self.remove_all()
        self("rmi", "-a", "-f", timeout=60)
        for pid, _ in processes_mentioning(str(self.dir)):
            kill_pid(pid)
        unmount_all_under(self.dir)


@pytest.fixture(scope="session")
def podman_session(session):
    reason = ensure_installed({"podman": "podman", "conmon": "conmon"})
    if reason:
        pytest.skip(reason)
    p = Podman(session)
    try:
        tar = session.build_rootfs()
        p.ok("import", tar, IMAGE, timeout=120)
        yield p
    finally:
        p.close()


def capsa_states_for(base):
    """capsa state dirs in its default root (/run/capsa, which podman uses: podman 4.3 does
    not pass --runtime-flag root to `delete`) whose config names our temp dir."""
    left = []
    root = Path("/run/capsa")
    if not root.is_dir():
        return left
    for e in root.iterdir():
        try:
            if str(base) in (e / "config.json").read_text():
                left.append(str(e))
        except OSError:
            continue
    return left


def leak_check(session, what):
    """Everything a test's containers left behind; empty when the engine and capsa cleaned up."""
    left = [f"cgroup: {c}" for c in session.cgroups.children()]
    left += [f"process: {pid} {cmd[:120]}" for pid, cmd in processes_mentioning(str(session.base))
             if "containerd --config" not in cmd and "containerd-shim" not in cmd]
    left += [f"capsa state: {d}" for d in what()]
    return left


@pytest.fixture
def podman(podman_session, session):
    yield podman_session
    podman_session.remove_all()
    time.sleep(0.1)
    left = leak_check(session, lambda: capsa_states_for(podman_session.dir))
    left += [f"mount: {m}" for m in mounts_under(podman_session.dir / "root")
             if "/overlay-containers/" in m or "/userdata/" in m]
    if left:
        session.cgroups.remove(kill=True)
        pytest.fail("left behind after the test:\n  " + "\n  ".join(left) + session.trace())


# ---- containerd ------------------------------------------------------------------------------


CONTAINERD_CONF = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"
  level = "info"

[metrics]
  address = ""
"""


class Containerd:
    def __init__(self, session):
        self.s = session
        self.dir = session.base / "containerd"
        self.dir.mkdir()
        self.sock = self.dir / "containerd.sock"
        self.runc_root = self.dir / "capsa-root"
        self.fifo_dir = self.dir / "fifo"
        self.env = {"PATH": ENV_PATH, "HOME": str(self.dir), "LANG": "C.UTF-8"}
        self.proc = None
        self.log = None
        self.n = 0

    def start(self):
        conf = self.dir / "config.toml"
        conf.write_text(CONTAINERD_CONF.format(d=self.dir))
        self.log = open(self.dir / "containerd.log", "w")
        self.proc = subprocess.Popen(["containerd", "--config", str(conf)], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("containerd exited: " + self.daemon_log())
            if self.sock.exists() and self.ctr("version").rc == 0:
                return
            time.sleep(0.1)
        raise AssertionError("containerd did not come up in 20 s: " + self.daemon_log())

    def daemon_log(self):
        try:
            return (self.dir / "containerd.log").read_text()[-3000:]
        except OSError:
            return ""

    def new_id(self):
        self.n += 1
        return f"t{self.n}-{uuid.uuid4().hex[:8]}"

    def ctr(self, *args, timeout=TIMEOUT):
        return run_cmd(["ctr", "-a", self.sock, *args], env=self.env, timeout=timeout)

    def ok(self, *args, **kw):
        r = self.ctr(*args, **kw)
        assert r.rc == 0, f"{r}{self.s.trace()}"
        return r

    def runtime_args(self, cid):
        """The runc shim (io.containerd.runc.v2, Kubernetes' path) with capsa as its binary,
        a private runtime root and a relative cgroup below our session's parent."""
        return ["--runtime", "io.containerd.runc.v2", "--runc-binary", self.s.capsa,
                "--runc-root", self.runc_root, "--cgroup", f"{self.s.tag}/{cid}",
                "--fifo-dir", self.fifo_dir]

    def ctr_argv(self, *args):
        return ["ctr", "-a", str(self.sock)] + [str(a) for a in args]

    def remove_all(self):
        r = self.ctr("task", "ls", "-q")
        for t in r.out.split() if r.rc == 0 else []:
            self.ctr("task", "kill", "-s", "SIGKILL", t)
            for _ in range(50):
                if self.ctr("task", "rm", "-f", t).rc == 0:
                    break
                time.sleep(0.1)
        r = self.ctr("containers", "ls", "-q")
        for c in r.out.split() if r.rc == 0 else []:
            self.ctr("containers", "rm", c)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.remove_all()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
        # shims outlive containerd by design: ours name our socket on their command line
        for pid, _ in processes_mentioning(str(self.dir)):
            kill_pid(pid)
        unmount_all_under(self.dir)


@pytest.fixture(scope="session")
def containerd_session(session, podman_session):
    reason = ensure_installed({"containerd": "containerd", "ctr": "containerd",
                               "containerd-shim-runc-v2": "containerd"})
    if reason:
        pytest.skip(reason)
    c = Containerd(session)
    try:
        archive = session.base / "image-oci.tar"
        podman_session.ok("save", "--format", "oci-archive", "-o", archive, IMAGE, timeout=120)
        c.start()
        c.ok("images", "import", "--base-name", IMAGE.rsplit(":", 1)[0], archive, timeout=120)
        yield c
    finally:
        c.stop()


def capsa_states_in(root):
    root = Path(root)
    if not root.is_dir():
        return []
    return [str(p) for ns in root.iterdir() if ns.is_dir() for p in ns.iterdir()]


@pytest.fixture
def containerd(containerd_session, session):
    yield containerd_session
    containerd_session.remove_all()
    time.sleep(0.1)
    left = leak_check(session, lambda: capsa_states_in(containerd_session.runc_root))
    left += [f"mount: {m}" for m in mounts_under(containerd_session.dir / "state")]
    if left:
        session.cgroups.remove(kill=True)
        pytest.fail("left behind after the test:\n  " + "\n  ".join(left) + session.trace()
                    + "\n--- containerd ---\n" + containerd_session.daemon_log())
