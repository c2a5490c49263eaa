"""Two tenants, A and B (`--tenant`), and what A must not be able to do to B or to the host.

B runs `capsa-checker serve`: SysV shm/msg/sem, a POSIX shm file, an abstract unix socket and a
TCP listener on its loopback, and a 0600 file in a host directory shared by both tenants.  Each
attack runs `capsa-checker attack NAME` in a container of tenant A (the rootfs is owned by host
root and mounted idmapped) and asserts the specific denial: the errno, the signal, or the empty
content of a masked file.  Where a denial could come from the test itself (a missing bait), a
control shows the same attempt succeeding from inside B's namespaces."""

import fcntl
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import CHECKER

pytestmark = pytest.mark.capsa_only

RANGE = 65536


@pytest.fixture
def tenants(runtime, bundle, testdir):
    """Tenant B's bait container (detached), the shared directory; removes both tenants."""
    shared = testdir / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    b = bundle()
    b.add_mount("/shared", "bind", shared, ["rbind", "rw"])
    b.process["args"] = [CHECKER, "serve", "60", "/shared"]
    b.save()
    bid = runtime.new_id()
    r = runtime("run", "-d", "--tenant", "B", "--bundle", b.path, bid)
    assert r.rc == 0, r
    deadline = time.monotonic() + 10
    while not (shared / "secret").exists():
        assert time.monotonic() < deadline, "tenant B's bait did not come up"
        time.sleep(0.05)
    t = SimpleNamespace(shared=shared, b_id=bid, b_pid=runtime.state(bid)["pid"], b_bundle=b)
    yield t
    runtime("delete", "--force", bid)
    for name in ("A", "B"):
        runtime("tenant", "remove", name)


def run_a(runtime, bundle, t, *args, config=None, expect_rc=0):
    """Runs the checker as tenant A with the shared directory; returns its JSON."""
    b = bundle()
    b.add_mount("/shared", "bind", t.shared, ["rbind", "rw"])
    b.process["args"] = [CHECKER] + [str(a) for a in args]
    if config:
        config(b)
    r = runtime.run(b, "--tenant", "A")
    assert r.rc == expect_rc, r
    if expect_rc != 0:
        return r
    return json.loads(r.out)


def attack(runtime, bundle, t, *args, **kw):
    return run_a(runtime, bundle, t, "attack", *args, **kw)


def uid_map(pid):
    return Path(f"/proc/{pid}/uid_map").read_text().split()


# ---- tenants themselves ------------------------------------------------------------------------


def test_ranges_disjoint_persistent_listed(runtime, bundle, tenants):
    b_map = uid_map(tenants.b_pid)
    a1 = run_a(runtime, bundle, tenants, "cat", "/proc/self/uid_map")
    a2 = run_a(runtime, bundle, tenants, "cat", "/proc/self/uid_map")
    a_map = a1["/proc/self/uid_map"].split()
    assert a_map == a2["/proc/self/uid_map"].split(), "tenant A's range changed between runs"
    assert a_map[0] == b_map[0] == "0" and a_map[2] == b_map[2] == str(RANGE)
    a_first, b_first = int(a_map[1]), int(b_map[1])
    assert abs(a_first - b_first) >= RANGE and min(a_first, b_first) >= 200000
    r = runtime("tenant", "list", "--format", "json")
    assert r.rc == 0, r
    got = {x["name"]: x for x in r.json}
    assert got["B"]["firstId"] == b_first and got["B"]["containers"] == [tenants.b_id]
    assert got["A"]["firstId"] == a_first and got["A"]["containers"] == []


def test_remove_refused_while_used(runtime, tenants):
    r = runtime("tenant", "remove", "B")
    assert r.rc == 1
    assert "tenant `B` is used by container(s) " + tenants.b_id in r.err, r
    r = runtime("tenant", "remove", "nosuch")
    assert r.rc == 1 and "tenant `nosuch` does not exist" in r.err, r


def test_list_reads_states_under_their_lock(runtime, tenants):
    """`tenant list` reads each container's state through its locked directory: while another
    command holds ROOT/ID it waits, then lists the container; a container deleted meanwhile is
    left out, not an error."""
    fd = os.open(runtime.root / tenants.b_id, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        p = runtime.spawn("tenant", "list", "--format", "json")
        time.sleep(0.3)
        assert p.poll() is None, "tenant list did not wait for the container's lock"
    finally:
        os.close(fd)
    r = runtime.finish(p)
    assert r.rc == 0, r
    assert {x["name"]: x for x in r.json}["B"]["containers"] == [tenants.b_id]
    # a directory without a state (a container being created or deleted) belongs to no tenant
    (runtime.root / "half-gone").mkdir()
    try:
        r = runtime("tenant", "list", "--format", "json")
        assert r.rc == 0, r
        assert {x["name"]: x for x in r.json}["B"]["containers"] == [tenants.b_id]
    finally:
        (runtime.root / "half-gone").rmdir()


def test_invalid_and_conflicting_names(runtime, bundle):
    b = bundle()
    r = runtime.run(b, "--tenant", "../evil")
    assert r.rc == 1 and "--tenant: invalid tenant name `../evil`" in r.err, r
    b.config["annotations"] = {"run.capsa.tenant": "X"}
    r = runtime.run(b, "--tenant", "Y")
    assert r.rc == 1 and "disagree" in r.err, r


def test_hardened_defaults(runtime, bundle, tenants):
    def ask_for_everything(b):
        b.process["noNewPrivileges"] = False
        for s in ("bounding", "effective", "permitted"):
            b.process["capabilities"][s] += ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"]

    out = run_a(runtime, bundle, tenants, "caps", config=ask_for_everything)
    eff = int(out["effective"], 16)
    for bit in (21, 12, 19):  # SYS_ADMIN, NET_ADMIN, SYS_PTRACE
        assert not eff & (1 << bit), out
    assert run_a(runtime, bundle, tenants, "nnp")["nnp"] == 1
    assert run_a(runtime, bundle, tenants, "seccomp")["seccomp"] == 2
    pids = run_a(runtime, bundle, tenants, "cat", "/sys/fs/cgroup/pids/pids.max")
    assert pids["/sys/fs/cgroup/pids/pids.max"] == "1024"


def test_rootfs_owned_by_host_root_is_theirs(runtime, bundle, tenants):
    """No chown: the rootfs owned by host root is mounted idmapped; A's root owns it, and what
    it writes is owned by host root on disk."""
    def writable(b):
        b.config["root"]["readonly"] = False
    out = run_a(runtime, bundle, tenants, "write", "/etc/tenant-a", "x", config=writable)
    assert out["result"] == "OK"
    created = [p for p in Path(runtime.testdir).glob("bundle*/rootfs/etc/tenant-a")]
    assert len(created) == 1 and created[0].stat().st_uid == 0


# ---- A against B -------------------------------------------------------------------------------


def test_cannot_see_b_processes(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "read", f"/proc/{tenants.b_pid}/cmdline")
    assert out["result"] == "ENOENT"
    out = attack(runtime, bundle, tenants, "kill", tenants.b_pid, 0)
    assert out["result"] == "ESRCH"


def test_cannot_signal_b(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "kill", tenants.b_pid, 9)
    assert out["result"] == "ESRCH"
    assert runtime.state(tenants.b_id)["status"] == "running"


def test_cannot_read_or_write_b_files(runtime, bundle, tenants):
    secret = "/shared/secret"
    assert attack(runtime, bundle, tenants, "read", secret)["result"] == "EACCES"
    assert attack(runtime, bundle, tenants, "write", secret)["result"] == "EACCES"
    assert attack(runtime, bundle, tenants, "chmod", secret)["result"] == "EPERM"
    assert attack(runtime, bundle, tenants, "unlink", secret)["result"] == "EPERM"
    assert (tenants.shared / "secret").read_text() == "b-secret"


@pytest.mark.parametrize("call", ["shmget", "msgget", "semget"])
def test_cannot_reach_b_sysv_ipc(runtime, bundle, tenants, call):
    assert attack(runtime, bundle, tenants, call)["result"] == "ENOENT"


def test_cannot_reach_b_posix_shm(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "read", "/dev/shm/capsa-bait")
    assert out["result"] == "ENOENT"


def join_b_net(t):
    def cfg(b):
        b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != "network"]
        b.linux["namespaces"].append({"type": "network", "path": f"/proc/{t.b_pid}/ns/net"})
    return cfg


@pytest.mark.parametrize("args", [("abstract", "capsa-bait"), ("tcp", "127.0.0.1", 8080)])
def test_cannot_reach_b_sockets(runtime, bundle, tenants, args):
    out = attack(runtime, bundle, tenants, *args)
    assert out["result"] == "ECONNREFUSED"
    # control: from inside B's network namespace the same connect succeeds
    b = bundle()
    b.process["args"] = [CHECKER, "attack"] + [str(a) for a in args]
    join_b_net(tenants)(b)
    r = runtime.run(b)
    assert r.rc == 0 and json.loads(r.out)["result"] == "OK", r


def test_no_route_out(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "tcp", "10.255.255.1", 80)
    assert out["result"] == "ENETUNREACH"


# ---- A against the host ------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("ptrace", 1), ("ptrace-child",), ("vmread", 1)])
def test_no_ptrace(runtime, bundle, tenants, args):
    assert attack(runtime, bundle, tenants, *args)["result"] == "EPERM"


@pytest.mark.parametrize("call", ["init_module", "finit_module"])
def test_no_module_loading(runtime, bundle, tenants, call):
    assert attack(runtime, bundle, tenants, call)["result"] == "EPERM"


def test_no_mount(runtime, bundle, tenants):
    assert attack(runtime, bundle, tenants, "mount", "/tmp")["result"] == "EPERM"


def test_no_host_block_devices(runtime, bundle, tenants):
    root_dev = os.stat("/").st_dev
    major, minor = os.major(root_dev), os.minor(root_dev)
    assert attack(runtime, bundle, tenants, "mknod-blk", major, minor)["result"] == "EPERM"
    host_dev = subprocess.run(["findmnt", "-no", "SOURCE", "/"], capture_output=True,
                              text=True).stdout.strip()
    if host_dev.startswith("/dev/"):
        assert attack(runtime, bundle, tenants, "read", host_dev)["result"] == "ENOENT"


def test_proc_kcore(runtime, bundle, tenants):
    if not os.path.exists("/proc/kcore"):
        pytest.skip("this kernel has no /proc/kcore (CONFIG_PROC_KCORE off)")
    out = attack(runtime, bundle, tenants, "read", "/proc/kcore")
    assert out["result"] == "OK" and out["bytes"] == 0  # masked: /dev/null


def test_proc_keys_and_keyctl(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "read", "/proc/keys")
    assert out["result"] == "OK" and out["bytes"] == 0  # masked: /dev/null
    assert attack(runtime, bundle, tenants, "keyctl")["result"] == "EPERM"


def test_sys_firmware_masked(runtime, bundle, tenants):
    out = run_a(runtime, bundle, tenants, "ls", "/sys/firmware")
    assert out["entries"] == [], out


def test_no_proc_sys_writes(runtime, bundle, tenants):
    """/proc/sys files belong to host root, which A's user namespace does not map: EACCES comes
    first; the read-only mount of /proc/sys (readonlyPaths) is the second wall."""
    out = attack(runtime, bundle, tenants, "write", "/proc/sys/kernel/hostname")
    assert out["result"] == "EACCES"
    mi = run_a(runtime, bundle, tenants, "cat", "/proc/self/mountinfo")["/proc/self/mountinfo"]
    sys_line = [l for l in mi.splitlines() if l.split()[4] == "/proc/sys"]
    assert sys_line and "ro" in sys_line[0].split()[5].split(","), sys_line


def test_no_sysrq_trigger(runtime, bundle, tenants):
    if not os.path.exists("/proc/sysrq-trigger"):
        pytest.skip("this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ off)")
    out = attack(runtime, bundle, tenants, "write", "/proc/sysrq-trigger")
    assert out["result"] == "EACCES", out  # owned by unmapped host root, like /proc/sys


def test_no_host_hostname_or_time(runtime, bundle, tenants):
    before = socket.gethostname()
    assert attack(runtime, bundle, tenants, "sethostname")["result"] == "EPERM"
    assert socket.gethostname() == before
    assert attack(runtime, bundle, tenants, "settime")["result"] == "EPERM"
    assert attack(runtime, bundle, tenants, "settimeofday")["result"] == "EPERM"


def test_nnp_setuid_binary_keeps_user(runtime, bundle, tenants):
    """A setuid-root binary (owned by root on disk, the container's root through the idmapped
    rootfs) run by uid 1000 stays uid 1000, although the config asks for no NNP."""
    def cfg(b):
        suid = b.rootfs / "bin" / "suid-checker"
        suid.write_bytes((b.rootfs / CHECKER.lstrip("/")).read_bytes())
        os.chmod(suid, 0o4755)
        b.process["user"] = {"uid": 1000, "gid": 1000}
        b.process["noNewPrivileges"] = False
        b.process["args"] = ["/bin/suid-checker", "ids"]
    out = run_a(runtime, bundle, tenants, "ids", config=cfg)
    assert (out["uid"], out["euid"]) == (1000, 1000), out


# ---- resource exhaustion -----------------------------------------------------------------------


def b_still_fine(runtime, bundle, t):
    assert runtime.state(t.b_id)["status"] == "running"
    b = bundle()
    b.process["args"] = [CHECKER, "pid"]
    r = runtime.run(b, "--tenant", "B")
    assert r.rc == 0, r


def test_fork_bomb_stopped_by_default_pids_limit(runtime, bundle, tenants):
    out = attack(runtime, bundle, tenants, "forkbomb")
    assert out["result"] == "EAGAIN"
    assert 900 < out["children"] < 1024  # the tenant default, 1024 tasks
    b_still_fine(runtime, bundle, tenants)


def test_memory_hog_killed_by_memory_limit(runtime, bundle, tenants):
    def limit(b):
        b.linux["resources"] = {"memory": {"limit": 64 << 20}}
    r = run_a(runtime, bundle, tenants, "attack", "memhog", 1024, config=limit, expect_rc=137)
    assert r.out == ""  # SIGKILLed by the OOM killer before it could print
    b_still_fine(runtime, bundle, tenants)


def test_exec_into_tenant_container_is_hardened(runtime, tenants):
    """exec takes its process from the stored config; in a tenant's container it gets the
    tenant's hardening as well: no_new_privs, a seccomp filter, no CAP_SYS_ADMIN."""
    r = runtime("exec", "--cap", "CAP_SYS_ADMIN", tenants.b_id, "/bin/cat", "/proc/self/status")
    assert r.rc == 0, r
    status = dict(line.split(":\t", 1) for line in r.out.splitlines() if ":\t" in line)
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "2"
    assert not int(status["CapEff"].strip(), 16) & (1 << 21), "CAP_SYS_ADMIN kept"
