"""podman (through conmon) driving a VM container of capsa: the annotation
`run.oci.handler=vm` that podman passes through unchanged chooses capsa's vm launcher (a QEMU
microvm, TCG here), and run, exec, logs, stop and rm work as for a host container.  Each test
boots one guest."""

import os
import time

import pytest

from .conftest import CAPSA
from .enginetools import IMAGE, vm_unavailable

VM = ["--annotation", "run.oci.handler=vm"]
TIMEOUT = 120  # a podman command that boots or stops a guest
SERVE = "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done"


@pytest.fixture(autouse=True)
def vm_here():
    why = vm_unavailable(CAPSA)
    if why:
        pytest.skip(why)


def test_podman_run_vm_container(podman):
    r = podman.ok(*podman.run_args("--rm", *VM, IMAGE, "sh", "-c", "echo hello from a vm; "
                                   "uname -r"), timeout=TIMEOUT)
    lines = r.out.splitlines()
    assert lines[0] == "hello from a vm", r
    assert lines[1] != os.uname().release, f"the workload ran on the host's kernel: {r}"
    r = podman(*podman.run_args("--rm", *VM, IMAGE, "sh", "-c", "exit 3"), timeout=TIMEOUT)
    assert r.rc == 3, r
    assert podman.container_ids() == []


def test_podman_exec_logs_stop_in_vm_container(podman):
    podman.ok(*podman.run_args("-d", "--name", "vmd", *VM, IMAGE, "sh", "-c", SERVE),
              timeout=TIMEOUT)
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "vmd").out.strip() == "running"
    r = podman.ok("exec", "vmd", "sh", "-c", "echo in-exec; uname -r")
    assert r.out.splitlines()[0] == "in-exec", r
    assert r.out.splitlines()[1] != os.uname().release, r
    r = podman("exec", "vmd", "sh", "-c", "exit 5")
    assert r.rc == 5, r
    r = podman.ok("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", "vmd",
                  "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"')
    assert r.out == "bar /tmp 1000:1000\n", r
    for _ in range(50):
        logs = podman.ok("logs", "vmd").out
        if "started" in logs:
            break
        time.sleep(0.1)
    assert logs == "started\n", logs
    r = podman.ok("stop", "-t", "20", "vmd", timeout=TIMEOUT)
    st = podman.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "vmd")
    assert st.out.split() == ["exited", "0"], st
    podman.ok("rm", "vmd", timeout=TIMEOUT)
    assert podman.container_ids() == []
