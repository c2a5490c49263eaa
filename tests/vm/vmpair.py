"""Two VM-tier guests driven from the host, step by step: tests/vm/vm-pair boots them joined by
their own network (a: 10.77.0.1/24, b: 10.77.0.2/24, eth0) with tests/vm/vm-agent as their
command, and Guest.sh() runs one bash script in one guest and returns its output.

    with VmPair(mem=768) as pair:
        pair.b.sh("capsa ... &")                 # background jobs keep running
        out = pair.a.sh("ping -c1 10.77.0.2")    # raises GuestError on a non-zero status

Each guest has its own kernel, tmpfs overlay of the host's / (so its own /run, capsa state and
copies of whatever it writes), cgroup2 and network stack; scripts run as root in the repo, with
the host's environment as vm-run passes it (CAPSA, CAPSA_CHECKER...).  Leaving the `with` block
tells both agents to quit and stops both QEMUs (SIGTERM to vm-pair, which stops its vm-runs,
which stop their QEMUs; SIGKILL to the process group if that hangs), also on failure.  Not a
test file: tests import it (test_vm_tier.py)."""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ADDR = {"a": "10.77.0.1", "b": "10.77.0.2"}


class GuestError(AssertionError):
    pass


class Guest:
    def __init__(self, pair, role, run_dir):
        self.pair = pair
        self.role = role
        self.addr = ADDR[role]
        self.dir = Path(run_dir) / "agent"
        self.n = 0

    def sh(self, script, timeout=120, check=True):
        """Runs `script` (bash) in the guest; returns its stdout+stderr.  check: a non-zero
        exit status raises GuestError with the output.  Times out with GuestError too."""
        self.n += 1
        req = self.dir / "req" / str(self.n)
        tmp = req.with_name(f".{self.n}.tmp")
        tmp.write_text("set -e\n" + script + "\n")
        tmp.rename(req)
        rc_file = self.dir / "res" / f"{self.n}.rc"
        deadline = time.monotonic() + timeout
        while not rc_file.exists():
            if self.pair.proc.poll() is not None:
                raise GuestError(f"{self.role}: the VM pair stopped during:\n{script}\n"
                                 + self.pair.log())
            if time.monotonic() > deadline:
                raise GuestError(f"{self.role}: no answer within {timeout}s to:\n{script}\n"
                                 + self.output(self.n))
            time.sleep(0.05)
        rc = int(rc_file.read_text())
        out = self.output(self.n)
        if check and rc != 0:
            raise GuestError(f"{self.role}: exit {rc} from:\n{script}\n--- output ---\n{out}")
        self.last_rc = rc
        return out

    def output(self, n):
        try:
            return (self.dir / "res" / f"{n}.out").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def read(self, path):
        """A file of the guest's overlay: read through a request (cat)."""
        return self.sh(f"cat {path}")


class VmPair:
    """Boots the pair on __enter__ (waits until both agents are ready, up to boot_timeout s);
    stops it on __exit__.  mem: MiB per guest; cpus: vCPUs per guest."""

    def __init__(self, mem=768, cpus=1, timeout=600, boot_timeout=240):
        self.mem, self.cpus, self.timeout, self.boot_timeout = mem, cpus, timeout, boot_timeout
        self.proc = None

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="capsa-vmpair.", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.logf = open(self.dir / "vm-pair.log", "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [str(HERE / "vm-pair"), "--mem", str(self.mem), "--cpus", str(self.cpus),
             "--timeout", str(self.timeout), "--out", str(self.dir), "--",
             str(HERE / "vm-agent")],
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.a = Guest(self, "a", self.dir / "a")
        self.b = Guest(self, "b", self.dir / "b")
        try:
            for g in (self.a, self.b):
                while not (g.dir / "ready").exists():
                    if self.proc.poll() is not None:
                        raise GuestError("the VM pair stopped before its agents were ready:\n"
                                         + self.log())
                    if time.monotonic() - t0 > self.boot_timeout:
                        raise GuestError(f"the VM pair did not boot in {self.boot_timeout}s:\n"
                                         + self.log())
                    time.sleep(0.1)
        except BaseException:
            self.stop(polite=False)
            raise
        self.boot_s = time.monotonic() - t0
        return self

    def __exit__(self, exc_type, *_):
        # after a failure (or SIGTERM) a guest may be busy with a request: no polite quit
        self.stop(polite=exc_type is None)
        return False

    def log(self):
        """What vm-pair printed so far and the tail of each guest's console."""
        text = (self.dir / "vm-pair.log").read_text(errors="replace")
        for g in ("a", "b"):
            p = self.dir / f"{g}.log"
            if p.exists():
                text += f"\n--- {g}: vm-run ---\n" + p.read_text(errors="replace")[-4000:]
            c = self.dir / g / "console.log"
            if c.exists():
                text += f"\n--- {g}: console ---\n" + c.read_text(errors="replace")[-3000:]
        return text

    def stop(self, polite=True):
        """polite: both agents are asked to quit (the guests power off) and get 20 s; then,
        or at once, SIGTERM to vm-pair (it stops its QEMUs), SIGKILL after 15 s more."""
        if self.proc is None:
            return
        for g in ("a", "b"):
            req = self.dir / g / "agent" / "req"
            if polite and req.is_dir():
                (req / "quit").write_text("")
        try:
            self.proc.wait(timeout=20 if polite else 0.1)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.logf.close()
        if os.environ.get("CAPSA_VM_KEEP") != "1":  # CAPSA_VM_KEEP=1: left for a look
            subprocess.run(["rm", "-rf", str(self.dir)])
