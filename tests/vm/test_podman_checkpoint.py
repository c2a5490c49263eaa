"""podman container checkpoint/restore with the runtime under test as podman's OCI runtime
(`podman --runtime $CAPSA`, conmon in between), inside the VM tier's guest: CRIU works under
Debian's 6.1 kernel there, not on the 6.18 host (see tests/vm/vm-run).  Also run against runc
(CAPSA=/usr/sbin/runc) to check that the tests assert what podman gets from runc.

What podman 4.3 asks of the runtime (seen with a wrapper that logs argv; CAPSA_TRACE=1 shows it
on a failure here too):
  checkpoint --help                                  exit 0: "the runtime supports checkpoint"
  checkpoint --image-path USERDATA/checkpoint --work-path USERDATA [--leave-running]
      [--tcp-established] [--file-locks] [--pre-dump] [--parent-path ../pre-checkpoint] ID
      (no --log: its stderr is podman's error), then `delete --force ID` (the container is gone)
  restore, from conmon (`conmon ... --restore USERDATA/checkpoint`):
      --log-format=json --log OCI-LOG restore --bundle USERDATA --pid-file PIDFILE --detach
      --image-path USERDATA/checkpoint --work-path USERDATA [--tcp-established] [--file-locks] ID
      with conmon's new pipes as fds 0-2 (descriptors.json maps the dumped ones to them).
Files podman reads: CHECKPOINT/inventory.img (before a restore), WORK/stats-dump and
WORK/stats-restore (--print-stats); it names WORK/dump.log and WORK/restore.log; --export
archives the checkpoint directory, stats-dump, ctr.log and podman's own files, and --import
restores only with the runtime the archive was made with.

The store is on a tmpfs of the guest (overlay cannot have its upper directory on the guest's
own overlay root)."""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from engines import conftest as eng  # noqa: E402  (podman on a private store, leak checks)
from engines.enginetools import IMAGE  # noqa: E402

pytestmark = pytest.mark.vm

# the engine tier's `podman` fixture (per test, with its leak check); `session` and
# `podman_session` below replace theirs
podman = eng.podman

# One line per number, and the number in /tmp/count: the shell's own variable, so a restart
# would begin again at 1.
COUNTER = "i=0; trap 'exit 0' TERM; while :; do i=$((i+1)); echo $i; echo $i > /tmp/count; " \
          "sleep 0.2; done"
RUNTIME_ROOTS = [Path("/run/capsa"), Path("/run/runc")]


def criu_reason():
    if not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "needs the VM tier's guest (tests/vm/vm-run)"
    try:
        r = subprocess.run(["criu", "check"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return "criu is not installed (apt-get install criu)"
    if r.returncode != 0:
        return f"`criu check` fails on this kernel: {(r.stdout + r.stderr).strip()[-300:]}"
    return None


class GuestSession(eng.Session):
    """The engine tier's session with its directory on a tmpfs of its own (what the session
    wrote there already, the CAPSA_TRACE wrapper, is copied onto it)."""

    def __init__(self):
        super().__init__()
        keep = Path(tempfile.mkdtemp(prefix="capsa-podman-", dir="/tmp"))
        try:
            shutil.copytree(self.base, keep, symlinks=True, dirs_exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=512m",
                            "capsa-podman", str(self.base)], check=True, timeout=30)
            shutil.copytree(keep, self.base, symlinks=True, dirs_exist_ok=True)
        finally:
            shutil.rmtree(keep, ignore_errors=True)


@pytest.fixture(scope="session")
def session():
    reason = criu_reason()
    if reason:
        pytest.skip(reason)
    for b in ("podman", "conmon"):
        if not shutil.which(b, path=eng.ENV_PATH):
            pytest.skip(f"{b} is not installed (the host's tests/run installs it)")
    s = GuestSession()
    yield s
    s.close()


def console(msg):
    """A line on the guest's console: vm-run takes a guest silent for 150 s for a stalled one,
    and under TCG the session's setup and a test can take that long between pytest's dots."""
    try:
        with open("/dev/console", "w") as c:
            c.write(f"test_podman_checkpoint: {msg}\n")
    except OSError:
        pass


class GuestPodman(eng.Podman):
    def __call__(self, *args, **kw):
        console("podman " + " ".join(str(a) for a in args[:2]))
        return super().__call__(*args, **kw)


@pytest.fixture(scope="session")
def podman_session(session):
    p = GuestPodman(session)
    try:
        console("building the image")
        p.ok("import", session.build_rootfs(), IMAGE, timeout=120)
        yield p
    finally:
        p.close()


# ---- helpers ---------------------------------------------------------------------------------


def status(podman, name):
    return podman.ok("inspect", "--format", "{{.State.Status}}", name).out.strip()


def full_id(podman, name):
    return podman.ok("inspect", "--format", "{{.Id}}", name).out.strip()


def numbers(podman, name):
    """The counter's lines in `podman logs`."""
    out = podman.ok("logs", name).out
    return [int(line) for line in out.split()]


def wait_count(podman, name, at_least, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = numbers(podman, name)
        if got and got[-1] >= at_least:
            return got
        time.sleep(0.3)
    raise AssertionError(f"{name}: the counter did not reach {at_least} in {timeout}s: "
                         f"{numbers(podman, name)}{podman.s.trace()}")


def assert_continues(podman, name, before):
    """The counter goes on from where it was frozen: its log is 1, 2, ... N without a gap or a
    restart, longer than before the checkpoint."""
    got = wait_count(podman, name, before[-1] + 3)
    assert got == list(range(1, len(got) + 1)), \
        f"{name}: the counter restarted or lost its output: {got}{podman.s.trace()}"
    inside = int(podman.ok("exec", name, "cat", "/tmp/count").out)
    assert inside > before[-1], (inside, before)


def processes_of(cid):
    """Processes naming cid (conmon, the runtime), but not podman's own cleanup command, which
    conmon starts as the container exits."""
    return [(pid, cmd) for pid, cmd in eng.processes_mentioning(cid)
            if "container cleanup" not in cmd]


def runtime_states(cid):
    return [str(r / cid) for r in RUNTIME_ROOTS if (r / cid).exists()]


def leftovers(podman, ids):
    """What the containers ids left: runtime state, conmon or container processes, cgroups,
    mounts of their storage."""
    left = [f"runtime state: {d}" for cid in ids for d in runtime_states(cid)]
    left += [f"process: {pid} {cmd[:100]}" for cid in ids for pid, cmd in processes_of(cid)]
    left += [f"cgroup: {c}" for c in podman.s.cgroups.children()]
    left += [f"mount: {m}" for cid in ids
             for m in eng.mounts_under(podman.dir / "root" / "overlay-containers" / cid)]
    return left


def remove(podman, *names):
    ids = [full_id(podman, n) for n in names]
    podman.ok("rm", "-f", "-t", "0", *names)
    assert not set(ids) & set(podman.container_ids())
    time.sleep(0.2)
    left = leftovers(podman, ids)
    assert not left, "left behind by `podman rm -f`:\n  " + "\n  ".join(left) + podman.s.trace()


def start_counter(podman, name):
    podman.ok(*podman.run_args("-d", "--name", name, IMAGE, "sh", "-c", COUNTER))
    return wait_count(podman, name, 5)


# ---- tests -----------------------------------------------------------------------------------


def test_checkpoint_restore_counter(podman):
    start_counter(podman, "cr")
    cid = full_id(podman, "cr")
    userdata = podman.dir / "root" / "overlay-containers" / cid / "userdata"

    r = podman.ok("container", "checkpoint", "--keep", "--print-stats", "--tcp-established",
                  "--file-locks", "cr", timeout=120)
    stats = r.json["container_statistics"][0]["criu_statistics"]  # WORK/stats-dump
    assert stats["frozen_time"] > 0 and stats["pages_written"] > 0, r
    assert (userdata / "checkpoint" / "inventory.img").is_file()
    assert (userdata / "checkpoint" / "descriptors.json").is_file()
    assert (userdata / "dump.log").stat().st_size > 0, "CRIU's log is not in the work path"
    st = podman.ok("inspect", "--format", "{{.State.Status}} {{.State.Checkpointed}}", "cr")
    assert st.out.split() == ["exited", "true"], st
    # the runtime deleted the container: nothing of it runs, no state
    assert not runtime_states(cid), runtime_states(cid)
    assert not processes_of(cid), processes_of(cid)
    before = numbers(podman, "cr")

    r = podman.ok("container", "restore", "--keep", "--print-stats", "--tcp-established",
                  "--file-locks", "cr", timeout=120)
    stats = r.json["container_statistics"][0]["criu_statistics"]  # WORK/stats-restore
    assert stats["pages_restored"] > 0, r
    assert (userdata / "restore.log").stat().st_size > 0, "CRIU's log is not in the work path"
    assert status(podman, "cr") == "running"
    assert_continues(podman, "cr", before)

    # twice: the restored container checkpoints like any other
    podman.ok("container", "checkpoint", "cr", timeout=120)
    before = numbers(podman, "cr")
    podman.ok("container", "restore", "cr", timeout=120)
    assert_continues(podman, "cr", before)
    remove(podman, "cr")


def test_export_import_new_name(podman, session):
    start_counter(podman, "ex")
    archive = session.base / "ex.tar.zst"
    podman.ok("container", "checkpoint", "--export", archive, "ex", timeout=120)
    assert archive.stat().st_size > 0
    listing = subprocess.run(["tar", "-tf", archive], capture_output=True, text=True,
                             timeout=60)
    assert listing.returncode == 0, listing.stderr
    names = listing.stdout.split()
    for f in ("checkpoint/inventory.img", "checkpoint/descriptors.json", "config.dump",
              "spec.dump", "ctr.log"):
        assert f in names, (f, names)
    before = numbers(podman, "ex")
    assert status(podman, "ex") == "exited"

    # under a new name (a new id) while the original still exists
    podman.ok("container", "restore", "--import", archive, "--name", "im", timeout=120)
    assert status(podman, "im") == "running"
    assert full_id(podman, "im") != full_id(podman, "ex")
    assert_continues(podman, "im", before)

    # and the original from its own checkpoint, beside the copy
    podman.ok("container", "restore", "ex", timeout=120)
    assert status(podman, "ex") == "running"
    assert_continues(podman, "ex", before)
    assert status(podman, "im") == "running"
    remove(podman, "ex", "im")


def test_pre_checkpoint_then_with_previous(podman):
    """--pre-checkpoint: `checkpoint --leave-running --pre-dump` into USERDATA/pre-checkpoint;
    --with-previous: the final dump with `--parent-path ../pre-checkpoint`."""
    start_counter(podman, "pre")
    podman.ok("container", "checkpoint", "--pre-checkpoint", "pre", timeout=120)
    assert status(podman, "pre") == "running"
    wait_count(podman, "pre", numbers(podman, "pre")[-1] + 2)  # it went on running
    podman.ok("container", "checkpoint", "--with-previous", "pre", timeout=120)
    before = numbers(podman, "pre")
    podman.ok("container", "restore", "pre", timeout=120)
    assert_continues(podman, "pre", before)
    remove(podman, "pre")


def test_restore_of_a_damaged_checkpoint_fails_cleanly(podman):
    start_counter(podman, "bad")
    cid = full_id(podman, "bad")
    podman.ok("container", "checkpoint", "bad", timeout=120)
    ckpt = podman.dir / "root" / "overlay-containers" / cid / "userdata" / "checkpoint"
    (ckpt / "pstree.img").unlink()
    r = podman("container", "restore", "bad", timeout=120)
    assert r.rc != 0, r
    assert status(podman, "bad") != "running"
    time.sleep(0.2)
    left = leftovers(podman, [cid])
    left = [x for x in left if not x.startswith("mount:")]  # podman keeps its storage mounted
    assert not left, "left behind by the failed restore:\n  " + "\n  ".join(left)
    # (CRIU dies without an answer here: runc says "read unixpacket @->@: EOF", naming no log)
    remove(podman, "bad")
