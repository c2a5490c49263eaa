"""Helpers shared by the engine tests: the image name, timeouts, a pty runner."""

import os
import select
import subprocess
import time

IMAGE = "localhost/capsa-busybox:latest"
TIMEOUT = 30


def run_in_pty(argv, env=None, timeout=TIMEOUT):
    """Runs argv with a pty as its stdin/stdout/stderr (as a terminal user would) and returns
    (rc, everything written to the terminal)."""
    import pty

    argv = [str(a) for a in argv]
    master, slave = pty.openpty()
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                             start_new_session=True)
    finally:
        os.close(slave)
    out = b""
    try:
        end = t0 + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every slave fd is closed
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        try:
            rc = p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"timed out after {timeout}s: {' '.join(argv)}\n"
                                 f"terminal: {out!r}") from None
    finally:
        os.close(master)
    return rc, out.decode(errors="replace").replace("\r", "")


def vm_unavailable(capsa):
    """None where capsa's vm launcher can run here (`features` lists it and QEMU is
    installed), else why not (a skip reason)."""
    import json
    import shutil

    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
    r = subprocess.run([capsa, "features"], capture_output=True, text=True, timeout=30)
    try:
        f = json.loads(r.stdout)
    except ValueError:
        return f"`{capsa} features` failed (rc={r.returncode})"
    if "vm" not in (f.get("annotations") or {}).get("run.capsa.launchers", "").split(","):
        return f"`{capsa} features` does not list the vm launcher"
    return None
