"""The VM tier: boots Debian's kernel under QEMU (tests/vm/vm-run), runs tests/vm/ inside with
this run's capsa, and fails when the guest's pytest fails or the VM does not boot.  Set
CAPSA_SKIP_VM=1 to leave it out of a quick local run (it says so)."""

import os
import re
import subprocess
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
                        "no:cacheprovider", "-rfEs", str(tests)],
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


def test_vm_tier_cgroup_v2():
    """cgroup v2 where it is whole: tests/vm/ in a guest with every controller."""
    run_guest_pytest([], REPO / "tests" / "vm")


def test_vm_tier_systemd_driver():
    """The systemd cgroup driver, in a guest booted with systemd as PID 1 (vm-run --systemd):
    none of its tests may skip there."""
    run_guest_pytest(["--systemd"], REPO / "tests" / "vm" / "test_systemd_driver.py",
                     allow_skipped=False)
