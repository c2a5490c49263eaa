"""exec and ps: a second process in a running container (runc semantics)."""

import array
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

from conftest import check_json, CHECKER, IS_CAPSA, kill_pid


def running(runtime, bundle, mutate=None):
    """A detached container whose init sleeps; returns (cid, init pid, bundle)."""
    b = bundle()
    b.process["args"] = [CHECKER, "sleep", "60"]
    if mutate:
        mutate(b)
    cid = runtime.new_id()
    r = runtime.run(b, "--detach", cid=cid)
    assert r.rc == 0, r
    return cid, runtime.state(cid)["pid"], b



@pytest.mark.launchers
def test_exec_output_and_exit_code(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    r = runtime("exec", cid, "/bin/sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.rc == 7, r
    assert r.out == "out\n" and "err" in r.err


@pytest.mark.launchers
def test_exec_killed_by_signal_128_plus_n(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    r = runtime("exec", cid, CHECKER, "kill-self", "TERM")
    assert r.rc == 128 + signal.SIGTERM, r


def test_exec_joins_every_namespace(runtime, bundle):
    cid, pid, _ = running(runtime, bundle)
    ns = check_json(runtime("exec", cid, CHECKER, "ns"))
    for name in ("ipc", "mnt", "net", "pid", "uts", "cgroup"):
        assert ns[name] == os.readlink(f"/proc/{pid}/ns/{name}"), name
    # the pid namespace is the container's: the init is pid 1 there
    st = check_json(runtime("exec", cid, CHECKER, "cat", "/proc/1/cmdline"))
    assert "capsa-checker" in st["/proc/1/cmdline"], st


def test_exec_joins_user_namespace(runtime, bundle):
    def userns(b):
        b.linux["namespaces"].append({"type": "user"})
        b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.linux["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        subprocess.run(["chown", "-R", "100000:100000", str(b.rootfs)], check=True)
    cid, pid, _ = running(runtime, bundle, userns)
    ns = check_json(runtime("exec", cid, CHECKER, "ns"))
    assert ns["user"] == os.readlink(f"/proc/{pid}/ns/user")
    ids = check_json(runtime("exec", cid, CHECKER, "ids"))
    assert ids["uid"] == 0


def test_exec_joins_cgroup(runtime, bundle):
    cid, pid, _ = running(runtime, bundle)
    p = runtime.spawn("exec", cid, CHECKER, "sleep", "10")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = runtime("ps", "--format", "json", cid)
        assert r.rc == 0, r
        pids = json.loads(r.out)
        if len(pids) == 2:
            break
        time.sleep(0.05)
    assert pid in pids and len(pids) == 2, pids
    other = [x for x in pids if x != pid][0]
    assert open(f"/proc/{other}/cgroup").read() == open(f"/proc/{pid}/cgroup").read()
    p.kill()


@pytest.mark.launchers
def test_exec_takes_process_defaults_from_config(runtime, bundle):
    def cfg(b):
        b.process["env"] = ["PATH=/bin", "FROM_CONFIG=1"]
        b.process["cwd"] = "/tmp"
        b.process["user"] = {"uid": 1000, "gid": 1000}
    cid, _, _ = running(runtime, bundle, cfg)
    env = check_json(runtime("exec", cid, CHECKER, "env"))["env"]
    assert "FROM_CONFIG=1" in env
    assert check_json(runtime("exec", cid, CHECKER, "cwd"))["cwd"] == "/tmp"
    ids = check_json(runtime("exec", cid, CHECKER, "ids"))
    assert ids["uid"] == 1000 and ids["gid"] == 1000
    caps = check_json(runtime("exec", cid, CHECKER, "caps"))
    # runc's default set: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10) in the bounding set
    assert int(caps["bounding"], 16) == (1 << 29) | (1 << 5) | (1 << 10)
    assert check_json(runtime("exec", cid, CHECKER, "nnp"))["nnp"] == 1


@pytest.mark.launchers
def test_exec_overrides(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    r = runtime("exec", "--env", "A=1", "--env", "PATH=/sbin:/bin", "--cwd", "/home/user",
                "--user", "1000:1000", "--additional-gids", "5", "--additional-gids", "65534",
                cid, CHECKER, "env")
    env = check_json(r)["env"]
    assert "A=1" in env and "PATH=/sbin:/bin" in env
    assert sum(e.startswith("PATH=") for e in env) == 1
    assert check_json(runtime("exec", "--cwd", "/home/user", cid, CHECKER, "cwd"))["cwd"] == \
        "/home/user"
    ids = check_json(runtime("exec", "-u", "1000:1000", "-g", "5", "-g", "65534", cid,
                             CHECKER, "ids"))
    assert ids["uid"] == 1000 and ids["gid"] == 1000
    assert 5 in ids["groups"] and 65534 in ids["groups"]
    ids = check_json(runtime("exec", "-u", "1000", cid, CHECKER, "ids"))
    assert ids["uid"] == 1000 and ids["gid"] == 0


def test_exec_cap_adds_capability(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    caps = check_json(runtime("exec", "--cap", "CAP_SYS_ADMIN", cid, CHECKER, "caps"))
    for s in ("bounding", "effective", "permitted"):
        assert int(caps[s], 16) & (1 << 21), (s, caps)
    caps = check_json(runtime("exec", cid, CHECKER, "caps"))
    assert not int(caps["bounding"], 16) & (1 << 21)


def test_exec_no_new_privs_flag(runtime, bundle):
    cid, _, _ = running(runtime, bundle, lambda b: b.process.update(noNewPrivileges=False))
    assert check_json(runtime("exec", cid, CHECKER, "nnp"))["nnp"] == 0
    assert check_json(runtime("exec", "--no-new-privs", cid, CHECKER, "nnp"))["nnp"] == 1


def test_exec_applies_seccomp_and_rlimits(runtime, bundle):
    def cfg(b):
        b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
        b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654}]
    cid, _, _ = running(runtime, bundle, cfg)
    r = check_json(runtime("exec", cid, CHECKER, "syscall", "mkdir", "/tmp/x"))
    assert r["result"] == "EPERM", r
    lim = check_json(runtime("exec", cid, CHECKER, "rlimits"))["RLIMIT_NOFILE"]
    assert lim == {"soft": 321, "hard": 654}


@pytest.mark.launchers
def test_exec_process_file(runtime, bundle, testdir):
    cid, _, _ = running(runtime, bundle)
    pf = testdir / "process.json"
    pf.write_text(json.dumps({"args": [CHECKER, "env"], "env": ["ONLY=this"], "cwd": "/tmp",
                              "user": {"uid": 0, "gid": 0}}))
    env = check_json(runtime("exec", "--process", pf, cid))["env"]
    assert "ONLY=this" in env
    assert not any(e.startswith("PATH=") for e in env)


@pytest.mark.capsa_only
def test_exec_process_file_errors_name_the_path(runtime, bundle, testdir):
    cid, _, _ = running(runtime, bundle)
    pf = testdir / "process.json"
    pf.write_text(json.dumps({"args": ["true"], "cwd": "/", "user": {"uid": "root"}}))
    r = runtime("exec", "--process", pf, cid)
    assert r.rc == 255 and "user.uid" in r.err, r


def test_exec_detach_pid_file(runtime, bundle, testdir):
    cid, pid, _ = running(runtime, bundle)
    pf = testdir / "exec.pid"
    r = runtime("exec", "--detach", "--pid-file", pf, cid, CHECKER, "sleep", "30")
    assert r.rc == 0, r
    epid = int(pf.read_text())
    assert os.readlink(f"/proc/{epid}/ns/pid") == os.readlink(f"/proc/{pid}/ns/pid")
    assert "sleep" in open(f"/proc/{epid}/cmdline").read()
    kill_pid(epid)


@pytest.mark.launchers
def test_exec_forwards_signals(runtime, bundle, launcher):
    cid, _, _ = running(runtime, bundle)
    p = runtime.spawn("exec", cid, CHECKER, "sleep", "20", "report")
    # a checker in a VM under TCG takes longer to start: a signal before its handler is in
    # place would kill it (as on a host, only sooner)
    time.sleep(3 if launcher == "vm" else 0)
    for _ in range(40):  # until the checker has installed its handler
        time.sleep(0.25)
        p.send_signal(signal.SIGUSR1)
        try:
            p.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    r = runtime.finish(p)
    assert r.rc == 100 + signal.SIGUSR1, r
    assert json.loads(r.out)["signal"] == signal.SIGUSR1


def test_exec_preserve_fds(runtime, bundle, testdir):
    cid, _, _ = running(runtime, bundle)
    fd = os.open(testdir / "shared", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        p = subprocess.run(runtime.argv("exec", "--preserve-fds", "1", cid, CHECKER, "fds"),
                           capture_output=True, text=True, timeout=30, close_fds=False,
                           preexec_fn=lambda: os.dup2(fd, 3), stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)
    assert p.returncode == 0, p
    fds = json.loads(p.stdout)["fds"]
    assert fds.get("3", "").endswith("/shared"), (p, fds)
    assert "4" not in fds, fds
    # without --preserve-fds nothing but stdio gets through
    fds = check_json(runtime("exec", cid, CHECKER, "fds"))["fds"]
    assert sorted(fds) == ["0", "1", "2"], fds


def test_exec_stopped_container_fails(runtime, bundle):
    b = bundle()
    b.process["args"] = ["true"]
    cid = runtime.new_id()
    assert runtime.run(b, "--keep", cid=cid).rc == 0
    r = runtime("exec", cid, "true")
    assert r.rc != 0 and "stopped" in r.err, r


def test_exec_missing_command_fails(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    r = runtime("exec", cid, "/no/such/binary")
    assert r.rc != 0, r


def test_exec_unknown_container_fails(runtime):
    r = runtime("exec", "no-such-container", "true")
    assert r.rc != 0, r


def recv_master(sock):
    conn, _ = sock.accept()
    with conn:
        fds = array.array("i")
        _, anc, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:fds.itemsize])
    assert len(fds) == 1
    return fds[0]


def read_until(fd, needle, timeout=10):
    buf = b""
    end = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.mark.launchers
def test_exec_tty_console_socket(runtime, bundle, testdir):
    cid, _, _ = running(runtime, bundle)
    path = str(testdir / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    p = runtime.spawn("exec", "--detach", "--tty", "--console-socket", path, cid,
                      "/bin/sh", "-c", "tty; echo done-$((6*7))")
    master = recv_master(sock)
    try:
        out = read_until(master, b"done-42")
    finally:
        os.close(master)
        sock.close()
    r = runtime.finish(p)
    assert r.rc == 0, r
    assert b"/dev/pts/" in out and b"done-42" in out, out


@pytest.mark.launchers
def test_create_terminal_console_socket(runtime, bundle, testdir):
    """The container's own terminal (process.terminal, as podman run -it): create sends the
    pty's master over --console-socket; its size, set before start, is the process's; what the
    process writes arrives on the master; the exit status is the process's."""
    b = bundle()
    b.process["terminal"] = True
    b.process["args"] = ["/bin/sh", "-c", "tty; stty size; echo done-$((6*7)); exit 5"]
    path = str(testdir / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    b.save()
    cid = runtime.new_id()
    p = runtime.spawn("create", "--bundle", b.path, "--console-socket", path, cid)
    try:
        master = recv_master(sock)
    finally:
        sock.close()
    try:
        r = runtime.finish(p, timeout=90)
        assert r.rc == 0, r
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 99, 0, 0))
        assert runtime("start", cid).rc == 0
        out = read_until(master, b"done-42", timeout=30)
    finally:
        os.close(master)
    assert b"/dev/pts/" in out and b"33 99" in out and b"done-42" in out, out
    st = runtime.wait_status(cid, "stopped")
    assert runtime("delete", cid).rc == 0, st


def run_in_pty(argv, send=b"", timeout=15):
    """Runs argv with a pty as its stdin/stdout/stderr; returns (rc, output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    if send:
        time.sleep(0.5)
        os.write(master, send)
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            out += chunk
            if not chunk and p.poll() is not None:
                break
        elif p.poll() is not None:
            break
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    os.close(master)
    return rc, out


@pytest.mark.launchers
def test_exec_tty_foreground(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    rc, out = run_in_pty(runtime.argv("exec", "-t", cid, "/bin/sh", "-c",
                                      "read x; tty; echo got-$x; exit 3"), send=b"hello\r")
    assert rc == 3, out
    assert b"/dev/pts/" in out and b"got-hello" in out, out


@pytest.mark.launchers
def test_run_terminal_foreground(runtime, bundle):
    b = bundle()
    b.process["terminal"] = True
    b.process["args"] = ["/bin/sh", "-c", "tty; stty size; echo in-$((2+3))"]
    b.save()
    cid = runtime.new_id()
    rc, out = run_in_pty(runtime.argv("run", "--bundle", b.path, cid))
    assert rc == 0, out
    assert b"/dev/pts/" in out and b"in-5" in out, out


@pytest.mark.launchers
def test_run_terminal_detached_needs_console_socket(runtime, bundle):
    b = bundle()
    b.process["terminal"] = True
    r = runtime.run(b, "--detach")
    assert r.rc != 0, r


def test_exec_detached_tty_needs_console_socket(runtime, bundle):
    cid, _, _ = running(runtime, bundle)
    r = runtime("exec", "-d", "-t", cid, "true")
    assert r.rc != 0, r


def test_ps_json_and_table(runtime, bundle):
    cid, pid, _ = running(runtime, bundle)
    r = runtime("ps", "--format", "json", cid)
    assert r.rc == 0, r
    assert json.loads(r.out) == [pid]
    r = runtime("ps", cid)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert "PID" in lines[0].split()
    assert len(lines) == 2 and str(pid) in lines[1].split(), r
    r = runtime("ps", cid, "-o", "pid,comm")
    assert r.rc == 0, r
    assert r.out.splitlines()[1].split() == [str(pid), "capsa-checker"], r


def test_run_passes_listen_fds(runtime, bundle, testdir):
    """systemd socket activation: LISTEN_FDS fds from 3 on reach the container, with
    LISTEN_FDS=N and LISTEN_PID=1 in its environment (as runc does)."""
    b = bundle()
    b.process["args"] = ["/bin/sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd"]
    b.save()
    fd = os.open(testdir / "sock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)

    try:
        # LISTEN_PID must be the runtime's own pid: set it in a shell that execs the runtime
        argv = ["/bin/sh", "-c", 'export LISTEN_PID=$$; exec "$@"', "sh"] + runtime.argv(
            "run", "--bundle", b.path, runtime.new_id())
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30, close_fds=False,
                           preexec_fn=lambda: os.dup2(fd, 3),
                           env=dict(os.environ, LISTEN_FDS="1"), stdin=subprocess.DEVNULL)
    finally:
        os.close(fd)
    assert p.returncode == 0, p
    lines = p.stdout.split("\n", 1)
    assert lines[0] == "1 1", p
    # fd 3 is the passed socket; ls's own directory fd comes after it
    assert {"3", "4"} <= set(lines[1].split()), p


@pytest.mark.launchers
def test_run_terminal_without_a_controlling_tty_is_refused(runtime, bundle):
    """As runc ("open /dev/tty: no such device or address"): a foreground terminal is proxied
    to the caller's controlling terminal; without one (stdin may be anything) it is refused."""
    b = bundle()
    b.process["terminal"] = True
    b.process["args"] = ["/bin/sh", "-c", "stty size"]
    b.save()
    p = subprocess.run(runtime.argv("run", "--bundle", b.path, runtime.new_id()),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15,
                       start_new_session=True, cwd=runtime.testdir)
    assert p.returncode != 0, p
    assert "tty" in p.stderr, p


def test_terminal_owned_by_process_user(runtime, bundle):
    """The container's tty belongs to process.user, as runc (run and exec)."""
    b = bundle()
    b.process["terminal"] = True
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["args"] = ["/bin/sh", "-c", "stat -c %u:%g $(tty)"]
    b.save()
    rc, out = run_in_pty(runtime.argv("run", "--bundle", b.path, runtime.new_id()))
    assert rc == 0, out
    assert b"1000:" in out, out
