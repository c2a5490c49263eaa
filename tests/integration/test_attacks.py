"""Attacks on the runtime from inside a container, each asserting the specific denial.

CVE-2019-5736 (overwrite the runtime binary through /proc/PID/exe), CVE-2024-21626 (a host fd
as working directory), CVE-2021-30465 (symlinks redirecting mount targets), CVE-2016-9962 (the
init inspectable before exec), the session keyring.  Tenant-vs-tenant checks (two tenants A and
B) need `--tenant`, which is not implemented yet (see the report of issue 4)."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import CAPSA, CHECKER

pytestmark = pytest.mark.capsa_only

BASE = 300000  # host ids of the user-namespaced containers here


def all_caps():
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
             "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
             "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
             "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
             "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
             "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
             "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
    bnd = int([l for l in Path("/proc/self/status").read_text().splitlines()
               if l.startswith("CapBnd")][0].split()[1], 16)
    return ["CAP_" + n for i, n in enumerate(names[:last + 1]) if bnd & (1 << i)]


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_cve_2019_5736_runtime_binary_read_only(runtime, bundle, testdir):
    """A privileged container (all capabilities, host pid namespace) keeps /proc/PID/exe of a
    running capsa open and, once capsa exited, reopens it for writing: EROFS, the binary is
    intact.  (Unprotected, the write succeeds and replaces the runtime.)

    The victim container shares the host pid namespace: that is when capsa re-executes itself
    (and always for exec).  With a new pid namespace the init is alone in it until it execs
    the user's binary, so nothing of the container can reach capsa's /proc/PID/exe."""
    copy = testdir / "capsa-copy"
    shutil.copy2(CAPSA, copy)
    before = sha(copy)
    victim = bundle()
    victim.set_namespaces(["mount", "ipc", "uts", "network"])
    victim.process["args"] = ["/bin/sleep", "1.5"]
    victim.save()
    vid = runtime.new_id()
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = subprocess.Popen([str(copy), "--root", str(runtime.root), "run", "--bundle",
                          str(victim.path), vid], stdout=out, stderr=err,
                         stdin=subprocess.DEVNULL)
    p.files = (out, err)
    runtime.procs.append(p)
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{p.pid}/exe") == str(copy) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.readlink(f"/proc/{p.pid}/exe") != str(copy), "capsa did not re-execute itself"

    b = bundle()
    b.set_namespaces(["mount", "ipc", "uts", "network"])  # the host's pid namespace
    b.process["capabilities"] = {k: all_caps() for k in
                                 ("bounding", "effective", "permitted")}
    b.process["noNewPrivileges"] = False
    b.process["args"] = ["/bin/sh", "-c",
                         f"exec 3</proc/{p.pid}/exe || exit 9; "
                         f"while [ -e /proc/{p.pid}/exe ]; do sleep 0.05; done; "
                         "echo '#!/bin/sh' >/proc/self/fd/3; echo rc=$?"]
    r = runtime.run(b)
    p.wait(10)
    assert "Read-only file system" in r.err + r.out, r
    assert "rc=1" in r.out, r
    assert sha(copy) == before


EXEC_ATTACKER = r"""
while :; do
  for d in /proc/[0-9]*; do
    case "$(readlink $d/exe 2>/dev/null)" in *capsa-copy*) found=$d; break 2;; esac
  done
done
exec 3<$found/exe || { echo open-failed >/result; exit 9; }
cat /fifo >/dev/null
while [ -e $found/exe ]; do sleep 0.05; done
sleep 1
echo '#!/bin/sh' 2>/err >/proc/self/fd/3; echo "rc=$?" >/result
sleep 30
"""


def add_loader(rootfs, binary):
    """capsa is linked dynamically: for the kernel to run it inside the container (as the
    script's interpreter), the rootfs needs its loader and libraries, as an attacker's image
    would have them."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    for word in out.split():
        if word.startswith("/") and os.path.exists(word):
            dest = rootfs / word.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(word), dest)


def test_cve_2019_5736_exec_into_own_pid_namespace(runtime, bundle, testdir):
    """`exec` into a container with a pid namespace of its own (the usual case) and no user
    namespace: its command is a `#!/proc/self/exe --log=/fifo` script, so the kernel runs capsa's
    binary as the exec'd process, which blocks opening the fifo.  The container's init, in the
    same pid namespace, opens that process's /proc/PID/exe, lets it go and, once capsa has
    exited, writes the binary through the fd: EROFS, the binary is intact, because exec runs
    from a protected copy.  (Unprotected, the write succeeds.)"""
    copy = testdir / "capsa-copy"
    shutil.copy2(CAPSA, copy)
    before = sha(copy)
    b = bundle()
    b.config["root"]["readonly"] = False
    b.process["args"] = ["/bin/sh", "-c", EXEC_ATTACKER]
    os.mkfifo(b.rootfs / "fifo")
    add_loader(b.rootfs, copy)
    (b.rootfs / "evil").write_text("#!/proc/self/exe --log=/fifo\n")
    os.chmod(b.rootfs / "evil", 0o755)
    b.save()
    cid = runtime.new_id()
    assert runtime.run(b, "--detach", cid=cid).rc == 0
    r = subprocess.run([str(copy), "--root", str(runtime.root), "exec", cid, "/evil"],
                       capture_output=True, text=True, timeout=30)
    assert "unknown command" in r.stderr, r  # capsa ran as the exec'd process
    result = b.rootfs / "result"
    deadline = time.monotonic() + 15
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result.read_text().strip() == "rc=1", (result.read_text(),
                                                  (b.rootfs / "err").read_text())
    assert "Read-only file system" in (b.rootfs / "err").read_text()
    assert sha(copy) == before


def exec_image(copy, runtime, cid):
    """/proc/PID/exe of a foreground `copy exec` once its process runs (the checker)."""
    p = subprocess.Popen([str(copy), "--root", str(runtime.root), "exec", cid, CHECKER,
                          "sleep", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    p.files = ()
    runtime.procs.append(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
        try:
            if any(os.readlink(f"/proc/{k}/exe").endswith("capsa-checker") for k in kids):
                break
        except OSError:
            pass
        time.sleep(0.01)
    else:
        raise AssertionError("the exec'd process did not start")
    exe = os.readlink(f"/proc/{p.pid}/exe")
    p.wait(10)
    return exe


def test_exec_reseals_unless_the_container_cannot_write_the_binary(runtime, bundle, testdir):
    """exec re-executes capsa from a protected copy for a container whose root is host root
    (even in a pid namespace of its own), not for one whose user namespace maps neither the
    binary's owner nor its group: that container could not write the binary anyway, and exec
    stays one execve cheaper."""
    copy = testdir / "capsa-copy"
    shutil.copy2(CAPSA, copy)
    os.chmod(copy, 0o755)
    for mutate, sealed in ((lambda b: b, True), (userns, False)):
        b = mutate(bundle())
        b.process["args"] = [CHECKER, "sleep", "60"]
        cid = runtime.new_id()
        assert runtime.run(b, "--detach", cid=cid).rc == 0
        exe = exec_image(copy, runtime, cid)
        assert (exe != str(copy)) == sealed, (exe, sealed)
        runtime("delete", "--force", cid)


def test_cve_2024_21626_cwd_magic_link(runtime, bundle):
    b = bundle()
    b.process["cwd"] = "/proc/self/fd/0"
    r = runtime.run(b)
    assert r.rc != 0
    assert "process.cwd" in r.err and "/proc/self/fd/0" in r.err, r
    # ELOOP: the magic link is refused (RESOLVE_NO_MAGICLINKS), whichever step resolves it first
    assert "magic link" in r.err or "Too many levels of symbolic links" in r.err, r


@pytest.mark.parametrize("link", ["/proc/self/cwd", "/proc/1/root/tmp"])
def test_cve_2024_21626_other_magic_links(runtime, bundle, link):
    b = bundle()
    b.process["cwd"] = link
    r = runtime.run(b)
    assert r.rc != 0 and "process.cwd" in r.err, r
    assert "magic link" in r.err or "Too many levels of symbolic links" in r.err, r


def test_no_host_fd_in_container(runtime, bundle):
    out = runtime.check(bundle(), "fds")
    assert set(out["fds"]) <= {"0", "1", "2"}, out


def test_cve_2021_30465_symlinked_mount_target(runtime, bundle, testdir):
    """A symlink in the rootfs pointing at a host path: the mount lands inside the rootfs."""
    host_dir = testdir / "host-target"
    host_dir.mkdir()
    (host_dir / "secret").write_text("host")
    b = bundle()
    os.symlink(str(host_dir), b.rootfs / "evil")
    os.symlink("../../../../../../../../..", b.rootfs / "up")
    b.add_mount("/evil", "tmpfs", "tmpfs", ["size=64k"])
    b.add_mount("/up/etc/capsa-escape", "tmpfs", "tmpfs", ["size=64k"])
    b.process["args"] = ["/bin/sh", "-c", f"ls {host_dir}; touch {host_dir}/from-container"]
    r = runtime.run(b)
    assert r.rc == 0, r
    assert "secret" not in r.out  # the tmpfs, not the host directory
    assert sorted(os.listdir(host_dir)) == ["secret"]
    assert (b.rootfs / str(host_dir).lstrip("/")).is_dir()  # made inside the rootfs
    assert (b.rootfs / "etc" / "capsa-escape").is_dir() and not Path("/etc/capsa-escape").exists()


def userns(b):
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": BASE, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": BASE, "size": 65536}]
    subprocess.run(["chown", "-R", "-h", f"{BASE}:{BASE}", str(b.rootfs)], check=True)
    return b


def test_cve_2016_9962_init_not_dumpable(runtime, bundle):
    """While created, the init (host uid BASE) is not dumpable: its /proc files belong to host
    root, not to BASE, so a process of the container's uid cannot ptrace or read it.  Once the
    user's binary runs, it is dumpable again and /proc/PID/exe is that binary."""
    b = userns(bundle())
    b.process["args"] = ["/bin/sleep", "5"]
    b.save()
    r = runtime.create(b)
    assert r.rc == 0, r
    cid = r.id
    pid = runtime.state(cid)["pid"]
    assert os.stat(f"/proc/{pid}/environ").st_uid == 0
    denied = subprocess.run(["setpriv", f"--reuid={BASE}", f"--regid={BASE}", "--clear-groups",
                             "cat", f"/proc/{pid}/environ"], capture_output=True, text=True)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied
    assert runtime("start", cid).rc == 0
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{pid}/exe") != "/bin/busybox" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.readlink(f"/proc/{pid}/exe") == "/bin/busybox"  # the user's binary
    assert os.stat(f"/proc/{pid}/environ").st_uid == BASE  # dumpable after execve
    runtime("kill", cid, "KILL")


@pytest.mark.parametrize("new_keyring", [True, False])
def test_session_keyring(runtime, bundle, new_keyring):
    b = bundle()
    b.linux["maskedPaths"] = [p for p in b.linux["maskedPaths"] if p != "/proc/keys"]
    b.process["args"] = ["/bin/cat", "/proc/keys"]
    b.save()
    cid = runtime.new_id()
    extra = [] if new_keyring else ["--no-new-keyring"]
    r = runtime("run", "--bundle", b.path, *extra, cid)
    assert r.rc == 0, r
    assert (f"_ses.{cid}" in r.out) == new_keyring, r
