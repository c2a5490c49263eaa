"""Fixtures of the VM tier's guest-side tests: the integration tier's (runtime, bundle, ...),
loaded from tests/integration/conftest.py under another module name so both tiers can share
them without a package.  These tests run inside the VM (tests/vm/vm-run), where cgroup v2 is
mounted at /sys/fs/cgroup with every controller; outside such a host they skip."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "capsa_it_conftest", Path(__file__).resolve().parents[1] / "integration" / "conftest.py")
_it = importlib.util.module_from_spec(_spec)
sys.modules["capsa_it_conftest"] = _it
_spec.loader.exec_module(_it)

for _name in ("workdir", "checker_bin", "base_rootfs", "testdir", "runtime", "launcher", "bundle"):
    globals()[_name] = getattr(_it, _name)

CHECKER = _it.CHECKER
find_cgroups = _it.find_cgroups


def pytest_configure(config):
    _it.pytest_configure(config)
    config.addinivalue_line("markers", "vm: runs inside the VM tier's guest (cgroup v2 whole)")


def pytest_collection_modifyitems(config, items):
    _it.pytest_collection_modifyitems(config, items)
    if Path("/sys/fs/cgroup/cgroup.controllers").exists() and \
            "memory" in Path("/sys/fs/cgroup/cgroup.subtree_control").read_text():
        return
    skip = pytest.mark.skip(reason="needs a cgroup v2 host (run through tests/vm/vm-run)")
    for item in items:
        item.add_marker(skip)
