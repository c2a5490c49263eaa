"""The VM tier: boots Debian's kernel under QEMU (tests/vm/vm-run), runs tests/vm/ inside with
this run's capsa, and fails when the guest's pytest fails or the VM does not boot.  Set
CAPSA_SKIP_VM=1 to leave it out of a quick local run (it says so)."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CAPSA, IS_CAPSA, REPO

pytestmark = pytest.mark.capsa_only
VM_TIMEOUT = int(os.environ.get("CAPSA_VM_TIMEOUT", "600"))


def run_guest_pytest(vm_args, tests, allow_skipped=True):
    """Runs pytest on `tests` inside a VM (tests/vm/vm-run VM_ARGS) with the freshly built
    capsa and fails unless the guest booted, finished and its pytest summary has no failure."""
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    env = dict(os.environ, CAPSA=str(Path(CAPSA).resolve()), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    p = subprocess.run([str(REPO / "tests" / "vm" / "vm-run"), *vm_args, "--timeout",
                        str(VM_TIMEOUT), "--", "/usr/bin/python3", "-u", "-m", "pytest", "-q", "-p",
                        "no:cacheprovider", "-rfEs",
                        *([str(t) for t in tests] if isinstance(tests, list) else [str(tests)])],
                       capture_output=True, text=True, timeout=VM_TIMEOUT + 120, env=env,
                       cwd=str(REPO))
    took = time.monotonic() - t0
    args = " ".join(vm_args)
    report = f"vm-run {args} exit {p.returncode} after {took:.0f}s\n{p.stdout}\n{p.stderr}"
    assert p.returncode != 125, "the VM did not boot or did not finish:\n" + report
    m = re.findall(r"^=*\s*(.*\b(?:passed|failed|error|errors|skipped)\b.*?)\s*=*$",
                   p.stdout, re.M)
    assert m, "no pytest summary from the guest:\n" + report
    summary = m[-1]
    assert "failed" not in summary and "error" not in summary, report
    assert allow_skipped or "skipped" not in summary, report
    assert re.search(r"\d+ passed", summary), report
    assert p.returncode == 0, report


VM = REPO / "tests" / "vm"


def test_vm_tier_cgroup_v2():
    """cgroup v2 where it is whole, in a guest with every controller (and the migration
    workloads' dirty rates, which need the soft-dirty bits this host's kernel lacks)."""
    run_guest_pytest([], [VM / "test_cgroup_v2.py", VM / "test_migrate_workloads.py"])


def test_vm_tier_checkpoint():
    """checkpoint and restore with CRIU (criu 3.17 works under the guest's 6.1 kernel, not
    this host's): tests/vm/test_checkpoint.py and the migrations between two network
    namespaces of one guest (tests/vm/test_migrate.py), in a guest of their own."""
    run_guest_pytest(["--mem", "1024"], sorted(VM.glob("test_checkpoint.py")) +
                     sorted(VM.glob("test_migrate.py")), allow_skipped=False)


def test_vm_tier_podman_checkpoint():
    """podman container checkpoint/restore (--export/--import, pre-checkpoints) with capsa as
    its runtime, in a guest of its own."""
    run_guest_pytest(["--mem", "1024"], VM / "test_podman_checkpoint.py", allow_skipped=False)


def test_vm_tier_systemd_driver():
    """The systemd cgroup driver, in a guest booted with systemd as PID 1 (vm-run --systemd):
    none of its tests may skip there."""
    run_guest_pytest(["--systemd"], REPO / "tests" / "vm" / "test_systemd_driver.py",
                     allow_skipped=False)


def test_vm_tier_pair_network(checker_bin):
    """tests/vm/vm-pair: two guests, each its own kernel, joined by their own network (what
    what a migration between hosts would cross): a pings b, and a TCP connection
    from a reaches a server on b and comes back with b's name."""
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    sys.path.insert(0, str(REPO / "tests" / "vm"))
    from vmpair import VmPair

    t0 = time.monotonic()
    with VmPair(mem=384) as pair:
        a, b = pair.a, pair.b
        assert "10.77.0.1/24" in a.sh("ip -br addr show eth0")
        assert a.sh("hostname").strip() == b.sh("hostname").strip()  # two of one kind
        b.sh("hostname capsa-vm-b")
        b.sh(f"setsid {checker_bin} tcp-serve 7007 1 60 > /tmp/serve.json 2>&1 < /dev/null &")
        a.sh(f"busybox ping -c 2 -w 20 {b.addr}")
        out = a.sh(f"""for i in $(seq 50); do
                {checker_bin} tcp-connect {b.addr} 7007 3000 > /tmp/c.json
                grep -q '"OK"' /tmp/c.json && break
                sleep 0.2
            done
            cat /tmp/c.json""")
        reply = json.loads(out)
        assert reply["result"] == "OK" and reply["reply"] == "hello from capsa-vm-b\n", reply
        assert reply["local"] == a.addr, reply
        served = b.sh("sleep 0.5; cat /tmp/serve.json")
        assert a.addr in served, served
    print(f"pair booted in {pair.boot_s:.0f}s, whole test {time.monotonic() - t0:.0f}s")
