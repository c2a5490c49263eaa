"""podman (with conmon) driving capsa: `podman --runtime <capsa>` on a private store.

conmon calls capsa as it calls runc: `--log FILE --log-format=json create --bundle B --pid-file F
[--console-socket S] ID`, `start`, `exec --pid-file F --process P --detach [--tty
--console-socket S]`, `kill ID SIG`, `pause`, `resume`, `delete --force ID`.
"""

import time

from .enginetools import IMAGE, run_in_pty

# A container init that exits 0 on SIGTERM (a shell as pid 1 ignores it otherwise).
SERVE = "trap 'exit 0' TERM; echo started; while :; do sleep 0.1; done"


def test_info_and_version(podman, session):
    # the runtime by name, as containers.conf declares it
    r = podman.ok("--runtime", "capsa", "info", "--format", "json", runtime=False)
    oci = r.json["host"]["ociRuntime"]
    assert oci["name"] == "capsa", oci
    assert oci["path"] == session.capsa, oci
    assert "capsa version" in oci["version"], oci
    r = podman.ok("--runtime", "capsa", "version", runtime=False)
    assert "Version:" in r.out, r


def test_run_rm(podman):
    r = podman.ok(*podman.run_args("--rm", IMAGE, "echo", "hello from capsa"))
    assert r.out == "hello from capsa\n", r
    assert podman.container_ids() == []


def test_run_exit_code_and_missing_command(podman):
    r = podman(*podman.run_args("--rm", IMAGE, "sh", "-c", "exit 3"))
    assert r.rc == 3, r
    # capsa's error travels through --log (json) to conmon and podman, which maps it to 127
    r = podman(*podman.run_args("--rm", IMAGE, "/no/such/command"))
    assert r.rc == 127, r
    assert "/no/such/command" in r.err, r


def test_run_stdin(podman):
    r = podman.ok(*podman.run_args("--rm", "-i", IMAGE, "sh", "-c", "tr a-z A-Z"),
                  input="piped through\n")
    assert r.out == "PIPED THROUGH\n", r


def test_detached_exec_logs_stop_rm(podman):
    cid = podman.ok(*podman.run_args("-d", "--name", "det", IMAGE, "sh", "-c", SERVE)).out.strip()
    assert len(cid) == 64, cid
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "det").out.strip() == "running"

    r = podman.ok("exec", "det", "sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.out.startswith("in-exec\nsh -c trap"), r
    r = podman("exec", "det", "sh", "-c", "exit 5")
    assert r.rc == 5, r
    r = podman.ok("exec", "-e", "FOO=bar", "-w", "/tmp", "-u", "1000:1000", "det",
                  "sh", "-c", 'echo "$FOO $(pwd) $(id -u):$(id -g)"')
    assert r.out == "bar /tmp 1000:1000\n", r

    for _ in range(50):
        logs = podman.ok("logs", "det").out
        if "started" in logs:
            break
        time.sleep(0.1)
    assert logs == "started\n", logs

    r = podman.ok("stop", "-t", "10", "det")
    assert r.elapsed < 5, f"stop waited for the timeout: {r}"  # SIGTERM was delivered
    st = podman.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "det")
    assert st.out.split() == ["exited", "0"], st
    podman.ok("rm", "det")
    assert cid not in podman.container_ids()


def test_pause_unpause_kill(podman):
    podman.ok(*podman.run_args("-d", "--name", "pk", IMAGE, "sh", "-c", SERVE))
    podman.ok("pause", "pk")
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "pk").out.strip() == "paused"
    podman.ok("unpause", "pk")
    assert podman.ok("inspect", "--format", "{{.State.Status}}", "pk").out.strip() == "running"
    podman.ok("kill", "pk")  # SIGKILL
    r = podman.ok("wait", "pk")
    assert r.out.strip() == "137", r
    podman.ok("rm", "pk")


def test_run_tty(podman):
    rc, out = run_in_pty(podman.argv(*podman.run_args(
        "--rm", "-t", IMAGE, "sh", "-c", "tty; test -t 0 && test -t 1 && echo both-tty; exit 4")),
        env=podman.env)
    assert rc == 4, out
    assert "/dev/pts/0\n" in out, out
    assert "both-tty\n" in out, out


def test_exec_tty(podman):
    podman.ok(*podman.run_args("-d", "--name", "et", IMAGE, "sh", "-c", SERVE))
    rc, out = run_in_pty(podman.argv("exec", "-t", "et", "sh", "-c", "tty; exit 6"),
                         env=podman.env)
    assert rc == 6, out
    assert "/dev/pts/" in out, out
    podman.ok("rm", "-f", "-t", "0", "et")


def test_pids_limit(podman):
    r = podman.ok(*podman.run_args("--rm", "--pids-limit", "8", IMAGE, "sh", "-c",
                                   "cat /sys/fs/cgroup/pids/pids.max"))
    assert r.out.strip() == "8", r
    # the limit holds: a ninth process cannot be forked
    r = podman(*podman.run_args("--rm", "--pids-limit", "8", IMAGE, "sh", "-c",
                                "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait"))
    assert r.rc != 0 or "can't fork" in r.err or "Resource temporarily" in r.err, r


def test_memory_limit(podman):
    r = podman.ok(*podman.run_args("--rm", "--memory", "16m", IMAGE, "sh", "-c",
                                   "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"))
    assert r.out.strip() == str(16 * 1024 * 1024), r


def test_ulimits_reach_the_container(podman):
    r = podman.ok(*podman.run_args("--rm", IMAGE, "sh", "-c", "ulimit -n; ulimit -Hn"))
    assert r.out.split() == ["1024", "1024"], r


def test_tmpfs_copyup(podman):
    # podman marks every --tmpfs `tmpcopyup`: the tmpfs starts with the image's /bin, so the
    # shell runs from it; `ro` is applied after the copy.
    r = podman(*podman.run_args("--rm", "--tmpfs", "/bin:exec,ro", "--tmpfs", "/scratch", IMAGE,
                                 "/bin/sh", "-c", "grep -E ' /(bin|scratch) ' /proc/mounts; "
                                 "readlink /bin/sh; stat -c %a /scratch; touch /bin/x"))
    assert r.rc == 1, r  # the touch
    lines = r.out.splitlines()
    mounts = sorted(line.split()[1:4] for line in lines[:2])
    assert [m[:2] for m in mounts] == [["/bin", "tmpfs"], ["/scratch", "tmpfs"]], r
    assert mounts[0][2].startswith("ro,") and mounts[1][2].startswith("rw,"), r
    assert lines[2:] == ["busybox", "1777"], r
    assert "Read-only file system" in r.err, r
