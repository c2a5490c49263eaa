"""The checker's workloads for checkpoint and migration (the memory writers
a migration bench measures), checked where CRIU runs: in the VM tier's guest, whose
kernel has soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY; this host's 6.18 kernel lacks it).

`dirty MIB PCT` is measured with the bits CRIU's pre-copy reads: clear the soft-dirty bits
(/proc/PID/clear_refs 4), wait, count the pages of the working set that /proc/PID/pagemap says
were written (bit 55)."""

import json
import os
import socket
import struct
import subprocess
import time

import pytest

pytestmark = pytest.mark.vm


def start(checker_bin, *args):
    p = subprocess.Popen([str(checker_bin), *map(str, args)], stdout=subprocess.PIPE,
                         text=True)
    first = p.stdout.readline()  # the ready line: '{"mib":..' or '{"listening":..'
    assert first.startswith("{"), first
    return p, json.loads(first.rstrip(",\n") + "}")


def soft_dirty_pages(pid, addr, pages):
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(addr // 4096 * 8)
        data = f.read(pages * 8)
    return sum(1 for (e,) in struct.iter_unpack("<Q", data) if e >> 55 & 1)


@pytest.mark.parametrize("mib,pct", [(64, 1), (16, 5)])
def test_dirty_rate(checker_bin, mib, pct):
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("no /proc/PID/clear_refs")
    p, ready = start(checker_bin, "dirty", mib, pct)
    try:
        assert ready["mib"] == mib and ready["pages"] == mib * 256
        addr = int(ready["addr"], 16)
        assert soft_dirty_pages(p.pid, addr, ready["pages"]) == ready["pages"]  # all written
        with open(f"/proc/{p.pid}/clear_refs", "w") as f:
            f.write("4")
        assert soft_dirty_pages(p.pid, addr, ready["pages"]) == 0
        t0 = time.monotonic()
        time.sleep(3)
        dirty = soft_dirty_pages(p.pid, addr, ready["pages"])
        took = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    expect = ready["pages"] * pct / 100 * took
    # TCG's timers are coarse and the host is shared: within a third of the rate
    assert 0.66 * expect <= dirty <= 1.34 * expect, (dirty, expect, took)


def test_dirty_reports_what_it_wrote(checker_bin):
    r = subprocess.run([str(checker_bin), "dirty", "8", "10", "2"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r
    out = json.loads(r.stdout.replace("\n", ""))
    assert out["pages"] == 2048 and out["seconds"] == 2
    assert 0.8 * 2048 * 0.2 <= out["dirtied"] <= 1.2 * 2048 * 0.2, out


def test_echo_count(checker_bin):
    p, ready = start(checker_bin, "echo-count", 7071)
    try:
        assert ready == {"listening": 7071}
        conns = [socket.create_connection(("127.0.0.1", 7071), timeout=10) for _ in range(2)]
        files = [c.makefile() for c in conns]
        seen = []
        for i in range(4):
            for j, c in enumerate(conns):
                c.sendall(f"ping {i} {j}\n".encode())
                line = files[j].readline()
                words = line.split()
                assert words[:3] == ["ping", str(i), str(j)], line
                seen.append(int(words[3]))
            time.sleep(0.4)
        assert seen == sorted(seen) and seen[-1] > seen[0], seen  # it counts, in memory
        conns[0].close()
        conns[1].sendall(b"after\n")
        assert files[1].readline().startswith("after "), "one client left: echoes"
        conns[1].close()
    finally:
        p.kill()
        p.wait()
