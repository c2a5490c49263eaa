"""The OCI seccomp object beyond simple rules: SCMP_ACT_NOTIFY with listenerPath and
listenerMetadata (the listener gets the notify fd and the ContainerProcessState, for the init and
for every exec'd process), filter flags, argument comparisons, runc's -ENOSYS stub for syscalls
newer than the profile, and the filter around startContainer hooks.

Tests that assert runc's behaviour run against runc too (CAPSA=/usr/sbin/runc); those that read
capsa's own wording are marked capsa_only."""

import array
import ctypes
import errno
import fcntl
import json
import os
import socket
import struct
import threading

import pytest

from conftest import CHECKER, IS_CAPSA

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif): 80 bytes
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp): 24 bytes
NR_MKDIR, NR_MKDIRAT = 83, 258  # x86_64


class Listener:
    """A seccomp agent: accepts `conns` connections on a unix socket, takes each one's fd and
    state JSON, then answers every notification with -EXDEV (so the container sees a distinctive
    errno that only the agent can produce)."""

    def __init__(self, path, conns=1):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(conns)
        self.sock.settimeout(20)
        self.states, self.syscalls, self.error = [], [], None
        self.conns = conns
        self.workers = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def state(self):
        return self.states[0] if self.states else None

    def serve(self):
        try:
            for _ in range(self.conns):
                conn, _ = self.sock.accept()
                with conn:
                    fds = array.array("i")
                    msg, anc, _, _ = conn.recvmsg(65536, socket.CMSG_LEN(4 * fds.itemsize))
                    for level, typ, data in anc:
                        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                    self.states.append(json.loads(msg))
                w = threading.Thread(target=self.answer, args=(list(fds),), daemon=True)
                w.start()
                self.workers.append(w)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.sock.close()

    def answer(self, fds):
        try:
            nfd = fds[0]
            while True:
                buf = bytearray(80)
                try:
                    fcntl.ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, buf)
                except OSError:
                    break  # the filter's last user exited
                nid, pid, _flags, nr = struct.unpack_from("<QIIi", buf)
                self.syscalls.append(nr)
                resp = struct.pack("<QqiI", nid, 0, -errno.EXDEV, 0)
                try:
                    fcntl.ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(resp))
                except OSError:
                    pass
        except Exception as e:
            self.error = e
        finally:
            for fd in fds:
                os.close(fd)

    def join(self, timeout):
        self.thread.join(timeout)
        for w in self.workers:
            w.join(timeout)


def test_notify_listener(runtime, bundle, testdir):
    listener = Listener(testdir / "agent.sock")
    b = bundle()
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(testdir / "agent.sock"),
        "listenerMetadata": "tenant=\"a\"",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    b.process["args"] = ["/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?; test ! -e /tmp/d"]
    r = runtime.run(b)
    listener.join(10)
    assert listener.error is None, listener.error
    assert r.rc == 0, r
    assert "rc=1" in r.out and "Invalid cross-device link" in r.out, r
    st = listener.state
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "tenant=\"a\""
    assert st["ociVersion"] and st["pid"] > 0
    assert st["state"]["id"] == runtime.ids[-1]
    assert st["state"]["status"] == "creating" and st["state"]["pid"] == st["pid"]
    assert set(listener.syscalls) & {NR_MKDIR, NR_MKDIRAT}


@pytest.mark.capsa_only
def test_notify_listener_missing_is_a_clear_error(runtime, bundle, testdir):
    b = bundle()
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": str(testdir / "nobody-listens.sock"),
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    r = runtime.run(b)
    assert r.rc != 0
    assert "linux.seccomp.listenerPath: connect to" in r.err and "No such file" in r.err, r


@pytest.mark.capsa_only  # runc 1.1: "seccomp flags are not yet supported by runc"
def test_flag_log_and_spec_allow(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33}],
    }
    out = runtime.check(b, "syscall", "getcwd")
    assert out["result"] == "EDOM"


@pytest.mark.capsa_only
def test_unknown_flag(runtime, bundle):
    b = bundle()
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_X"]}
    r = runtime.run(b)
    assert r.rc != 0 and "linux.seccomp.flags" in r.err, r


def test_argument_comparison(runtime, bundle):
    """personality(0xffffffff) (a query) is allowed, any other persona is refused."""
    b = bundle()
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_NE"}]}],
    }
    b.process["args"] = ["/bin/sh", "-c", f"{CHECKER} syscall personality; "
                         f"{CHECKER} syscall personality 8"]
    r = runtime.run(b)
    assert r.rc == 0, r
    first, second = [json.loads(l) for l in r.out.splitlines()]
    assert first["result"] == "OK" and second["result"] == "EPERM"


@pytest.mark.skipif(not IS_CAPSA, reason="capsa's own features document")
def test_every_supported_flag_in_features_works(runtime, bundle):
    """`features` is truthful: each flag it lists as supported is accepted and the filter is
    loaded (the container sees Seccomp: 2)."""
    flags = json.loads(runtime("features").out)["linux"]["seccomp"]["supportedFlags"]
    assert "SECCOMP_FILTER_FLAG_LOG" in flags
    for flag in flags:
        b = bundle()
        b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag],
                              "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}
        assert runtime.check(b, "seccomp")["seccomp"] == 2, flag


def notify_seccomp(testdir, names, default="SCMP_ACT_ALLOW"):
    return {
        "defaultAction": default,
        "listenerPath": str(testdir / "agent.sock"),
        "listenerMetadata": "exec",
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}],
    }


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_notify_listener_for_exec(runtime, bundle, testdir, nnp):
    """As runc: an exec'd process loads the filter anew and its own listener fd goes to the
    agent too, with the container "running", the init's pid in the state and the exec'd
    process's pid beside it (the filter is loaded at another point without no_new_privs)."""
    listener = Listener(testdir / "agent.sock", conns=2)
    b = bundle()
    b.process["noNewPrivileges"] = nnp
    b.process["args"] = [CHECKER, "sleep", "60"]
    b.linux["seccomp"] = notify_seccomp(testdir, ["mkdir", "mkdirat"])
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid)
    assert r.rc == 0, r
    init_pid = runtime.state(cid)["pid"]
    r = runtime("exec", cid, "/bin/sh", "-c",
                "mkdir /tmp/d 2>&1; echo rc=$?; test ! -e /tmp/d", timeout=15)
    assert r.rc == 0, r
    assert "rc=1" in r.out and "Invalid cross-device link" in r.out, r
    listener.thread.join(10)
    assert listener.error is None, listener.error
    assert len(listener.states) == 2, listener.states
    st = listener.states[1]
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "exec"
    assert st["state"]["id"] == cid and st["state"]["status"] == "running", st
    assert st["state"]["pid"] == init_pid and st["pid"] not in (0, init_pid), st
    assert set(listener.syscalls) & {NR_MKDIR, NR_MKDIRAT}


@pytest.mark.parametrize("default,names,message", [
    ("SCMP_ACT_ALLOW", ["mkdir", "write"], "SCMP_ACT_NOTIFY cannot be used for the write syscall"),
    ("SCMP_ACT_NOTIFY", ["mkdir"], "SCMP_ACT_NOTIFY cannot be used as default action"),
], ids=["write", "default"])
def test_notify_refused_where_the_runtime_needs_the_syscall(runtime, bundle, testdir, default,
                                                             names, message):
    """runc refuses SCMP_ACT_NOTIFY on write(2) and as the default action: the runtime writes
    the listener fd to its parent under the filter, so the agent could never get it.  An agent
    listens, so only the profile can make the run fail."""
    listener = Listener(testdir / "agent.sock")
    b = bundle()
    b.process["args"] = ["/bin/true"]
    b.linux["seccomp"] = notify_seccomp(testdir, names, default)
    r = runtime.run(b, timeout=15)
    assert r.rc != 0, r
    assert message in r.err, r
    assert not listener.states, listener.states


# ---- runc's -ENOSYS stub (libcontainer/seccomp/patchbpf) ----------------------------------------

NR_GETCWD, NR_CLONE3 = 79, 435
AUDIT_ARCH_X86_64 = 0xC000003E


def x86_64_syscall_names(upto):
    """The x86_64 names of syscalls 0..upto, as libseccomp knows them."""
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]
    names = []
    for nr in range(upto + 1):
        p = lib.seccomp_syscall_resolve_num_arch(AUDIT_ARCH_X86_64, nr)
        if p:
            names.append(ctypes.string_at(p).decode())
            libc.free(p)
    return names


def allow_list_profile(default, archs, deny=(), errno_ret=None):
    """default for everything, but syscalls 0..rseq (334) are allowed (except `deny`): the
    profile's highest x86_64 syscall is rseq, and whatever is newer (clone3 435, 1000) is
    unknown to it."""
    names = [n for n in x86_64_syscall_names(334) if n not in deny]
    assert "rseq" in names and "clone3" not in names
    s = {"defaultAction": default, "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}
    if archs is not None:
        s["architectures"] = archs
    if errno_ret is not None:
        s["defaultErrnoRet"] = errno_ret
    return s


def run_syscalls(runtime, b, *calls):
    b.process["args"] = ["/bin/sh", "-c", "; ".join(f"{CHECKER} syscall {c}" for c in calls)]
    r = runtime.run(b)
    assert r.rc == 0, r
    return [json.loads(line)["result"] for line in r.out.splitlines()]


X86_ALL = ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"]


@pytest.mark.parametrize("archs,errno_ret,getcwd", [
    (X86_ALL, None, "EPERM"),
    (["SCMP_ARCH_X86_64"], None, "EPERM"),
    (X86_ALL, 6, "ENXIO"),  # defaultErrnoRet ENXIO: still ENOSYS above the profile
], ids=["x86-all", "x86_64", "errnoRet"])
def test_syscalls_newer_than_the_profile_get_enosys(runtime, bundle, archs, errno_ret, getcwd):
    """With a refusing default action, syscalls numbered above the profile's highest one (for
    each listed architecture) fail with ENOSYS, as in runc, so that libc falls back (clone3 ->
    clone, faccessat2 -> faccessat); known syscalls the profile leaves out keep the default."""
    b = bundle()
    b.linux["seccomp"] = allow_list_profile("SCMP_ACT_ERRNO", archs, ["getcwd"], errno_ret)
    res = run_syscalls(runtime, b, "getcwd", f"nr {NR_CLONE3}", "nr 1000")
    assert res == [getcwd, "ENOSYS", "ENOSYS"]


def test_enosys_instead_of_kill(runtime, bundle):
    """The stub comes before the default action, whatever it is: not killed, ENOSYS."""
    b = bundle()
    b.linux["seccomp"] = allow_list_profile("SCMP_ACT_KILL_PROCESS", X86_ALL)
    assert run_syscalls(runtime, b, f"nr {NR_CLONE3}", "nr 1000") == ["ENOSYS", "ENOSYS"]


@pytest.mark.parametrize("archs", [None, ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]],
                         ids=["no-architectures", "x86-x32-only"])
def test_no_enosys_stub_without_the_native_architecture(runtime, bundle, archs):
    """runc's rule: the stub covers only the architectures the profile lists (x32 is a mode of
    x86_64 of its own): without them, the default action applies to unknown syscalls."""
    b = bundle()
    b.linux["seccomp"] = allow_list_profile("SCMP_ACT_ERRNO", archs)
    assert run_syscalls(runtime, b, "nr 1000") == ["EPERM"]


def test_no_enosys_stub_with_an_allowing_default(runtime, bundle):
    """SCMP_ACT_LOG (like ALLOW and TRACE) lets unknown syscalls through: no stub."""
    b = bundle()
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_LOG", "architectures": X86_ALL,
                          "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}
    assert run_syscalls(runtime, b, "getcwd", "nr 1000") == ["EPERM", "ENOSYS"]


# ---- startContainer hooks run under the container's filter ------------------------------------


def test_start_container_hook_runs_under_the_filter(runtime, bundle, testdir):
    """As runc: the startContainer hooks run after the filter is loaded and the process's user
    is set, just before the user process's execve."""
    out = testdir / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    b = bundle()
    b.process["args"] = ["/bin/true"]
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.add_mount("/out", "bind", out, ["rbind", "rw"])
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                          "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO",
                                        "errnoRet": 33}]}
    b.config["hooks"] = {"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", f"{CHECKER} ids > /out/ids; {CHECKER} syscall getcwd > /out/call"]}]}
    r = runtime.run(b)
    assert r.rc == 0, r
    ids = json.loads((out / "ids").read_text())
    call = json.loads((out / "call").read_text())
    assert ids["uid"] == 1000 and ids["gid"] == 1000, ids
    assert call["result"] == "EDOM", call


def test_start_container_hook_killed_by_the_filter(runtime, bundle):
    b = bundle()
    b.process["args"] = ["/bin/true"]
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                          "syscalls": [{"names": ["mkdir", "mkdirat"],
                                        "action": "SCMP_ACT_KILL"}]}
    b.config["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                             "args": ["sh", "-c", "mkdir /dev/shm/foo"]}]}
    r = runtime.run(b)
    assert r.rc != 0, r
    if IS_CAPSA:  # runc: "error running hook #0: ... bad system call"
        assert "startContainer hook 0" in r.err and "killed by signal 31" in r.err, r
