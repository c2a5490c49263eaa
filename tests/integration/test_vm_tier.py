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


def test_vm_tier_cgroup_v2():
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    env = dict(os.environ, CAPSA=str(Path(CAPSA).resolve()), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    p = subprocess.run([str(REPO / "tests" / "vm" / "vm-run"), "--timeout", str(VM_TIMEOUT),
                        "--", "/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-rfEs", str(REPO / "tests" / "vm")],
                       capture_output=True, text=True, timeout=VM_TIMEOUT + 120, env=env,
                       cwd=str(REPO))
    took = time.monotonic() - t0
    report = f"vm-run exit {p.returncode} after {took:.0f}s\n{p.stdout}\n{p.stderr}"
    assert p.returncode != 125, "the VM did not boot or did not finish:\n" + report
    m = re.findall(r"^=*\s*(.*\b(?:passed|failed|error|errors|skipped)\b.*?)\s*=*$",
                   p.stdout, re.M)
    assert m, "no pytest summary from the guest:\n" + report
    summary = m[-1]
    assert "failed" not in summary and "error" not in summary, report
    assert re.search(r"\d+ passed", summary), report
    assert p.returncode == 0, report


def test_vm_tier_systemd_driver():
    """The systemd cgroup driver, in a guest booted with systemd as PID 1 (vm-run --systemd)."""
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    env = dict(os.environ, CAPSA=str(Path(CAPSA).resolve()), PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    p = subprocess.run([str(REPO / "tests" / "vm" / "vm-run"), "--systemd", "--timeout",
                        str(VM_TIMEOUT), "--", "/usr/bin/python3", "-m", "pytest", "-q", "-p",
                        "no:cacheprovider", "-rfEs",
                        str(REPO / "tests" / "vm" / "test_systemd_driver.py")],
                       capture_output=True, text=True, timeout=VM_TIMEOUT + 120, env=env,
                       cwd=str(REPO))
    took = time.monotonic() - t0
    report = f"vm-run --systemd exit {p.returncode} after {took:.0f}s\n{p.stdout}\n{p.stderr}"
    assert p.returncode != 125, "the VM did not boot or did not finish:\n" + report
    m = re.findall(r"^=*\s*(.*\b(?:passed|failed|error|errors|skipped)\b.*?)\s*=*$",
                   p.stdout, re.M)
    assert m, "no pytest summary from the guest:\n" + report
    summary = m[-1]
    assert "failed" not in summary and "error" not in summary, report
    assert "skipped" not in summary, report  # systemd must be PID 1 there
    assert re.search(r"\d+ passed", summary), report
    assert p.returncode == 0, report
