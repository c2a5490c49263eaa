"""The KVM mode's own cases (the vm launcher; TCG here): the guest runs its own kernel, each way
of choosing the mode works, `state` says which mode and accelerator, ps/pause/resume/events
work on a VM container, a guest that panics or hangs ends as a stopped container that delete
removes, the memory limit sizes the VM, and bad VM input is refused with an error naming the
JSON path or the argument.  The shared lifecycle, exec and terminal tests run against the vm
launcher too (the `launchers` marker, see conftest.py).

Every case checks that nothing of the VM is left after delete: no state dir under the test's
--root, no cgroup named after the container, no process naming the container's id or state
dir or sitting in its cgroup (QEMU, virtiofsd).  Processes are only looked at, never killed,
here; the runtime fixture's teardown scrubs (by pid) what a failing case left.  Each case
boots at most one guest at a time."""

import json
import os
import re
from pathlib import Path

import pytest

from conftest import CHECKER, QEMU, VM_HANDLER, find_cgroups, vm_unavailable

pytestmark = pytest.mark.capsa_only

VM_TIMEOUT = 90  # one `run`/`create` of a VM container: a guest boots (seconds under TCG)
QEMU_PATH = "/usr/bin/" + QEMU
HOST_RELEASE = os.uname().release


def guest_kernel():
    """Debian's newest kernel in /boot with its modules: (vmlinuz path, release)."""
    found = []
    for k in Path("/boot").glob("vmlinuz-*"):
        rel = k.name[len("vmlinuz-"):]
        if Path("/lib/modules", rel).is_dir():
            found.append((tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", rel)),
                          str(k), rel))
    return max(found)[1:] if found else (None, None)


GUEST_KERNEL, GUEST_RELEASE = guest_kernel()


@pytest.fixture(autouse=True)
def vm_here():
    why = vm_unavailable()
    if why:
        pytest.skip(why)
    if not GUEST_KERNEL:
        pytest.skip("no /boot/vmlinuz-* with its /lib/modules (Debian: linux-image-amd64)")


def kvm_usable():
    return os.path.exists("/dev/kvm")


def expected_accel(flag=None):
    """The accelerator `state` must report: the one asked for, or auto's choice where it is
    certain (TCG without /dev/kvm); None where auto may pick either."""
    if flag:
        return flag
    return None if kvm_usable() else "tcg"


def vm_bundle(bundle, args, how="annotation"):
    b = bundle(list(args))
    if how == "annotation":
        b.config.setdefault("annotations", {}).update(VM_HANDLER)
    elif how == "vm-object":
        b.config["vm"] = {"hypervisor": {"path": QEMU_PATH}, "kernel": {"path": GUEST_KERNEL}}
    return b


def vm_processes(runtime, cid):
    """{pid: cmdline} of the host processes of container cid: naming its id or state dir in
    their command line, working in its state dir, or sitting in a cgroup named after it (looked
    at, never signalled)."""
    state_dir = str(runtime.root / cid)
    me = os.getpid()
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
            cg = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        if cid in cmd or state_dir in cmd or cid in cg or (cwd + "/").startswith(state_dir + "/"):
            found[int(pid)] = cmd
    return found


def qemu_and_virtiofsd(procs):
    qemu = [p for p, c in procs.items() if QEMU in c.split(" ", 1)[0]]
    fsd = [p for p, c in procs.items() if "virtiofsd" in c.split(" ", 1)[0]]
    return qemu, fsd


def assert_vm_running(runtime, cid):
    """The container's QEMU and virtiofsd exist on the host (so the leak checks that follow
    look for something real); returns their {pid: cmdline}."""
    procs = vm_processes(runtime, cid)
    qemu, fsd = qemu_and_virtiofsd(procs)
    assert qemu, f"no {QEMU} process of {cid} on the host: {procs}"
    assert fsd, f"no virtiofsd process of {cid} on the host: {procs}"
    return procs


def assert_nothing_left(runtime, cid, seen=None):
    """After delete: no state dir, no cgroup, no process of cid (and none of the pids seen
    while it ran is still that process)."""
    assert runtime("state", cid).rc != 0
    assert not (runtime.root / cid).exists(), f"state dir {runtime.root / cid} left"
    assert not find_cgroups(cid), f"cgroups left: {find_cgroups(cid)}"
    left = vm_processes(runtime, cid)
    for pid, cmd in (seen or {}).items():
        try:
            now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            continue
        if now == cmd:
            left[pid] = cmd
    assert not left, f"processes left: {left}"


def annotations(st):
    return st.get("annotations") or {}


# ---- choosing the mode; the guest's own kernel; what state says -------------------------------


@pytest.mark.parametrize("how", ["annotation", "vm-object", "flag"])
def test_each_selector_runs_the_guest_kernel(runtime, bundle, how):
    """run.oci.handler=vm, the OCI `vm` object and `--vm` each run the container in a guest:
    `uname -r` there is Debian's 6.1 kernel, not the host's; `state` (kept with --keep) names
    the mode and the accelerator."""
    b = vm_bundle(bundle, ["/bin/uname", "-r"], how)
    flags = ["--vm", "--vm-accel", "tcg"] if how == "flag" else []
    cid = runtime.new_id()
    r = runtime.run(b, "--keep", *flags, cid=cid, timeout=VM_TIMEOUT)
    assert r.rc == 0, r
    assert r.out.strip() == GUEST_RELEASE, r
    assert r.out.strip() != HOST_RELEASE, r
    st = runtime.state(cid)
    assert st["status"] == "stopped", st
    ann = annotations(st)
    assert ann.get("run.oci.handler") == "vm", st
    want = expected_accel("tcg" if how == "flag" else None)
    assert ann.get("run.capsa.vm.accel") in ((want,) if want else ("tcg", "kvm")), st
    if how != "flag" and os.path.exists("/dev/kvm") and ann.get("run.capsa.vm.accel") == "tcg":
        # auto fell back from a /dev/kvm that cannot run the guest, and says so
        assert "tcg" in r.err.lower(), f"no warning about the fall-back to TCG: {r}"
    d = runtime("delete", cid)
    assert d.rc == 0, d
    assert_nothing_left(runtime, cid)


def test_state_ps_pause_resume_events(runtime, bundle):
    """A running VM container: state annotations, ps (the init; the init and an exec'd process
    beside it, as JSON and as a table), pause/resume (the VM's vCPUs: exec works again after
    resume), events --stats from the guest's cgroup.  Every check is made and the failures are
    reported together (one guest boot serves them all)."""
    b = vm_bundle(bundle, [CHECKER, "sleep", "600"])
    b.linux["resources"] = {"memory": {"limit": 256 << 20}, "pids": {"limit": 50}}
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid, timeout=VM_TIMEOUT)
    assert r.rc == 0, r
    st = runtime.state(cid)
    assert st["status"] == "running" and st["pid"] > 0, st
    assert annotations(st).get("run.oci.handler") == "vm", st
    want = expected_accel()
    assert annotations(st).get("run.capsa.vm.accel") in ((want,) if want else ("tcg", "kvm"))
    seen = assert_vm_running(runtime, cid)
    bad = []

    def check(ok, what):
        if not ok:
            bad.append(what)

    ps = runtime("ps", "--format", "json", cid)
    pids = json.loads(ps.out) if ps.rc == 0 else None
    check(pids is not None and len(pids) == 1 and all(isinstance(p, int) and p > 0
                                                      for p in pids), f"ps of the init: {ps}")
    e = runtime("exec", "--detach", cid, CHECKER, "sleep", "600")
    assert e.rc == 0, e
    ps = runtime("ps", "--format", "json", cid)
    check(ps.rc == 0 and len(json.loads(ps.out)) == 2, f"ps with an exec'd process: {ps}")
    table = runtime("ps", cid)
    check(table.rc == 0 and len(table.out.splitlines()) == 3 and "sleep" in table.out,
          f"ps table with an exec'd process (a header and two rows): {table}")

    check(runtime("pause", cid).rc == 0, "pause")
    check(runtime.state(cid)["status"] == "paused", "state after pause")
    check(runtime("resume", cid).rc == 0, "resume")
    check(runtime.state(cid)["status"] == "running", "state after resume")
    x = runtime("exec", cid, "/bin/echo", "after-resume")
    check(x.rc == 0 and x.out == "after-resume\n", f"exec after resume: {x}")

    ev = runtime("events", "--stats", cid)
    assert ev.rc == 0, ev
    ev = json.loads(ev.out)
    check(ev["type"] == "stats" and ev["id"] == cid, f"events: {ev}")
    d = ev["data"]
    check(d["memory"]["usage"].get("usage", 0) > 0, f"events --stats: no memory usage: {d}")
    check(d["pids"].get("current") == 2, f"events --stats: pids.current is not 2: {d}")
    check(d["cpu"]["usage"].get("total", 0) > 0, f"events --stats: no cpu usage: {d}")

    assert runtime("delete", "--force", cid).rc == 0
    assert_nothing_left(runtime, cid, seen)
    assert not bad, "\n".join(bad)


# ---- a guest that crashes or hangs ------------------------------------------------------------


def test_kernel_panic_is_a_stopped_container(runtime, bundle):
    """The workload panics the guest kernel (sysrq `c`, unmasked for this test): the container
    is stopped, `state` says why, and a plain delete removes everything."""
    b = vm_bundle(bundle, ["/bin/sh", "-c", "sleep 2; echo c > /proc/sysrq-trigger; sleep 600"])
    for key in ("maskedPaths", "readonlyPaths"):
        b.linux[key] = [p for p in b.linux.get(key, []) if p != "/proc/sysrq-trigger"]
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid, timeout=VM_TIMEOUT)
    assert r.rc == 0, r
    seen = assert_vm_running(runtime, cid)
    st = runtime.wait_status(cid, "stopped", timeout=60)
    reason = annotations(st).get("run.capsa.vm.stopped", "")
    assert reason, f"no run.capsa.vm.stopped reason in the state: {st}"
    assert "panic" in reason.lower(), f"the reason does not say the guest panicked: {reason!r}"
    assert runtime("exec", cid, "/bin/true").rc != 0
    d = runtime("delete", cid)
    assert d.rc == 0, d
    assert_nothing_left(runtime, cid, seen)


@pytest.mark.parametrize("how", ["kill", "delete-force"])
def test_hung_guest_is_removed(runtime, bundle, how):
    """A guest that cannot answer (its vCPUs paused) is still ended by `kill KILL` (then a
    plain delete) or by `delete --force`."""
    b = vm_bundle(bundle, [CHECKER, "sleep", "600"])
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid, timeout=VM_TIMEOUT)
    assert r.rc == 0, r
    seen = assert_vm_running(runtime, cid)
    assert runtime("pause", cid).rc == 0
    assert runtime.state(cid)["status"] == "paused"
    if how == "kill":
        k = runtime("kill", cid, "KILL")
        assert k.rc == 0, k
        runtime.wait_status(cid, "stopped", timeout=30)
        d = runtime("delete", cid)
    else:
        d = runtime("delete", "--force", cid)
    assert d.rc == 0, d
    assert_nothing_left(runtime, cid, seen)


# ---- the memory limit sizes the VM ------------------------------------------------------------


def test_memory_above_the_limit_is_refused_inside(runtime, bundle):
    """linux.resources.memory.limit 128 MiB: the guest's RAM is sized from it (the limit and a
    reserve for the guest's kernel and agent, not the host's RAM nor the 512 MiB default),
    96 MiB can be allocated and touched, 144 MiB (the limit and 16 MiB) cannot: ENOMEM or an
    OOM kill inside the guest; the workload's shell, its VM and the host are untouched."""
    limit = 128 << 20
    script = (f"grep MemTotal /proc/meminfo; {CHECKER} attack memhog 96; echo small=$?; "
              f"{CHECKER} attack memhog 144; echo big=$?")
    b = vm_bundle(bundle, ["/bin/sh", "-c", script])
    b.linux["resources"] = {"memory": {"limit": limit}}
    r = runtime.run(b, timeout=VM_TIMEOUT)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    total = [int(line.split()[1]) << 10 for line in lines if line.startswith("MemTotal:")]
    assert total and total[0] < limit + (256 << 20), f"the limit does not size the guest: {r}"
    results = [json.loads(line)["result"] for line in lines if line.startswith("{")]
    assert "small=0" in lines and results[:1] == ["OK"], f"96 MiB was refused: {r}"
    big = [line for line in lines if line.startswith("big=")]
    assert big, r
    assert big[0] != "big=0" or results[1:2] != ["OK"], f"144 MiB fit in a 128 MiB limit: {r}"


# ---- bad input: a clear error, nothing made ---------------------------------------------------


BAD = ["hypervisor-missing", "kernel-not-a-kernel", "accel-bogus", "accel-kvm-without-kvm"]


@pytest.mark.parametrize("case", BAD)
def test_bad_vm_input_is_refused(runtime, bundle, testdir, case):
    b = bundle([CHECKER, "sleep", "60"])
    flags = []
    if case == "hypervisor-missing":
        missing = str(testdir / "no-such-qemu")
        b.config["vm"] = {"hypervisor": {"path": missing}, "kernel": {"path": GUEST_KERNEL}}
        words = ["vm.hypervisor.path", missing]
    elif case == "kernel-not-a-kernel":
        junk = testdir / "not-a-kernel"
        junk.write_text("this is not a Linux kernel\n" * 100)
        b.config["vm"] = {"hypervisor": {"path": QEMU_PATH}, "kernel": {"path": str(junk)}}
        words = ["vm.kernel.path", str(junk)]
    elif case == "accel-bogus":
        flags = ["--vm", "--vm-accel", "bogus"]
        words = ["--vm-accel", "bogus"]
    else:
        if os.path.exists("/dev/kvm"):
            pytest.skip("/dev/kvm exists here")
        flags = ["--vm", "--vm-accel", "kvm"]
        words = ["--vm-accel", "/dev/kvm"]
    cid = runtime.new_id()
    r = runtime.create(b, *flags, cid=cid)
    assert r.rc != 0, r
    for w in words:
        assert w in r.err, f"the error does not name {w!r}: {r}"
    assert_nothing_left(runtime, cid)
