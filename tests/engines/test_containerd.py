"""containerd driving capsa through its runc shim (io.containerd.runc.v2), the path Kubernetes
takes: `ctr run --runtime io.containerd.runc.v2 --runc-binary <capsa>`.

The shim calls `<capsa> --root R/default --log B/log.json --log-format json` followed by
`create --bundle B --pid-file B/init.pid [--console-socket S] ID`, `start ID`,
`exec --process P [--console-socket S] --detach --pid-file F ID`, `kill ID SIG`,
`delete ID` and `delete --force ID`.
"""

import time

from .enginetools import IMAGE, run_in_pty

SERVE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def wait_task_status(ctrd, cid, status, timeout=10):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        r = ctrd.ctr("task", "ls")
        for line in r.out.splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                last = f[-1]
        if last == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"task {cid} did not reach {status}; last {last}")


def test_ctr_run_rm(containerd):
    cid = containerd.new_id()
    r = containerd.ok("run", "--rm", *containerd.runtime_args(cid), IMAGE, cid,
                      "echo", "hello from capsa")
    assert r.out == "hello from capsa\n", r
    cid = containerd.new_id()
    r = containerd.ctr("run", "--rm", *containerd.runtime_args(cid), IMAGE, cid,
                       "sh", "-c", "cat /proc/self/cgroup; exit 7")
    assert r.rc == 7, r
    # cgroupsPath was relative: the container sits below our own cgroup, under its own name
    assert f"/{containerd.s.tag}/{cid}" in r.out, r


def test_ctr_task_exec_and_kill(containerd):
    cid = containerd.new_id()
    containerd.ok("run", "-d", *containerd.runtime_args(cid), IMAGE, cid, "sh", "-c", SERVE)
    wait_task_status(containerd, cid, "RUNNING")

    r = containerd.ok("task", "exec", "--fifo-dir", containerd.fifo_dir, "--exec-id", "e1", cid,
                      "sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.out.startswith("in-exec\nsh -c trap"), r
    r = containerd.ctr("task", "exec", "--fifo-dir", containerd.fifo_dir, "--exec-id", "e2",
                       cid, "sh", "-c", "exit 4")
    assert r.rc == 4, r
    r = containerd.ok("task", "ps", cid)
    assert len(r.out.splitlines()) >= 2, r

    containerd.ok("task", "kill", cid)  # SIGTERM: the trap exits 0
    wait_task_status(containerd, cid, "STOPPED")
    containerd.ok("task", "rm", cid)
    containerd.ok("containers", "rm", cid)

    # SIGKILL to a running task
    cid = containerd.new_id()
    containerd.ok("run", "-d", *containerd.runtime_args(cid), IMAGE, cid, "sleep", "100")
    wait_task_status(containerd, cid, "RUNNING")
    containerd.ok("task", "kill", "-s", "SIGKILL", cid)
    wait_task_status(containerd, cid, "STOPPED")
    r = containerd.ok("task", "rm", cid)
    containerd.ok("containers", "rm", cid)


def test_ctr_pause_resume(containerd):
    cid = containerd.new_id()
    containerd.ok("run", "-d", *containerd.runtime_args(cid), IMAGE, cid, "sleep", "100")
    wait_task_status(containerd, cid, "RUNNING")
    containerd.ok("task", "pause", cid)
    wait_task_status(containerd, cid, "PAUSED")
    containerd.ok("task", "resume", cid)
    wait_task_status(containerd, cid, "RUNNING")
    containerd.ok("task", "kill", "-s", "SIGKILL", cid)
    wait_task_status(containerd, cid, "STOPPED")
    containerd.ok("task", "rm", cid)
    containerd.ok("containers", "rm", cid)


def test_ctr_tty(containerd):
    cid = containerd.new_id()
    rc, out = run_in_pty(containerd.ctr_argv(
        "run", "--rm", "-t", *containerd.runtime_args(cid), IMAGE, cid,
        "sh", "-c", "tty; test -t 0 && test -t 1 && echo both-tty; exit 3"), env=containerd.env)
    assert rc == 3, out
    assert "/dev/pts/0\n" in out, out
    assert "both-tty\n" in out, out


def test_ctr_error_reaches_the_user(containerd):
    # capsa's json log line is what the shim returns to containerd and ctr
    cid = containerd.new_id()
    r = containerd.ctr("run", "--rm", *containerd.runtime_args(cid), IMAGE, cid,
                       "/no/such/command")
    assert r.rc != 0, r
    assert "/no/such/command" in r.err, r
    containerd.ctr("containers", "rm", cid)
