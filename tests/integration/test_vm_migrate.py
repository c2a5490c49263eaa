"""Live migration between two hosts: two VM-tier guests (tests/vm/vmpair.py: each its own
kernel, capsa state, tmpfs overlay of this host's / and so its own copy of the bundle), joined
by QEMU's network (eth0: a 10.77.0.1, b 10.77.0.2), driven step by step from here.

The container's network spans both guests as a tenant network spans a datacenter: on each guest
`capsa net create mig --subnet 10.78.0.0/24` (gateway .1 on a, .254 on b), and the two bridges
joined by VXLAN over eth0.  The container (capsa-checker echo-count: a counter in its memory,
and a TCP echo that answers "LINE COUNTER") runs on a at 10.78.0.2; a client on b's host side
(10.78.0.254, outside any container) holds one TCP connection to it across the move, as a
client elsewhere on the network would.  `capsa migrate --tcp-established` (TLS with
certificates made here) moves it to b's `capsa migrate-receive --once`.

In order, on one pair of guests: a client certificate from another CA is refused; a receiver
stopped (SIGTERM) while it restores makes the migration fail, and the container runs on on a,
unfrozen, its connection unbroken, nothing of it left on b; then the migration that goes
through: the counter goes on from where it was, the same connection still echoes from b, and
nothing of the container is left on a.  Each guest has its own copy of the bundle at one path
(a tmpfs), as two hosts would.  A second client streams lines without waiting for the echoes;
its connection breaking is a known bug (STREAM_BUG), reported as an expected failure once
everything else has passed.

CRIU works in the guests (Debian's 6.1 kernel), not on this host.  Set CAPSA_SKIP_VM=1 to leave
it out; CAPSA_VM_KEEP=1 keeps the guests' run directories (consoles, agent logs) for a look."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CAPSA, REPO, default_config

sys.path.insert(0, str(REPO / "tests" / "vm"))
from vmpair import VmPair  # noqa: E402

pytestmark = pytest.mark.capsa_only

PORT = 7000          # the container's echo-count
MIGRATE_PORT = 7700  # migrate-receive on b
CTR_IP = "10.78.0.2"
HOST_BUNDLE = "/srv/capsa-migrate-bundle"  # in each guest


def capsa_help(cmd):
    p = subprocess.run([CAPSA, cmd, "--help"], capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def make_certs(d):
    """A CA, a certificate for each guest (its eth0 address as subjectAltName, usable as
    server and client), and a rogue CA's client certificate for a."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=d)

    for ca in ("ca", "rogue-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN=capsa test {ca}", "-keyout", f"{ca}.key",
            "-out", f"{ca}.pem")
    for name, ip, ca in (("a", "10.77.0.1", "ca"), ("b", "10.77.0.2", "ca"),
                         ("rogue", "10.77.0.1", "rogue-ca")):
        (d / f"{name}.ext").write_text(f"subjectAltName=IP:{ip}\n"
                                       "extendedKeyUsage=serverAuth,clientAuth\n")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    for f in d.iterdir():
        os.chmod(f, 0o644)


CLIENT = r"""
import socket, sys, time
# one connection, held: "ping N" every 0.2 s, each reply logged as "N COUNTER TIME"; any
# error is logged and ends the client (a reconnect would prove nothing)
log = open("/tmp/client.log", "w", buffering=1)
for i in range(100):
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
        break
    except OSError:
        time.sleep(0.2)
else:
    log.write("ERROR connect\n"); sys.exit(1)
s.settimeout(60)  # across the freeze
f = s.makefile()
n = 0
try:
    while True:
        try:
            open("/tmp/client.stop").close(); break
        except FileNotFoundError:
            pass
        n += 1
        s.sendall(b"ping %d\n" % n)
        words = f.readline().split()
        if words[:2] != ["ping", str(n)]:
            log.write("ERROR reply %r\n" % words); sys.exit(1)
        log.write("%d %s %.3f\n" % (n, words[2], time.time()))
        time.sleep(0.2)
except OSError as e:
    log.write("ERROR %s\n" % e); sys.exit(1)
log.write("DONE\n")
"""

STREAM = r"""
import socket, sys, threading, time
# one connection, held, whose lines do not wait for the echoes: "s N" every 0.1 s, so that
# some reach the source while it is frozen; each echo is logged as "N COUNTER TIME" and must
# be the next one; any error is logged and ends the client
log = open("/tmp/stream.log", "w", buffering=1)
for i in range(100):
    try:
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
        break
    except OSError:
        time.sleep(0.2)
else:
    log.write("ERROR connect\n"); sys.exit(1)
s.settimeout(90)  # across the freeze


def send():
    n = 0
    try:
        while True:
            n += 1
            s.sendall(b"s %d\n" % n)
            time.sleep(0.1)
    except OSError as e:
        log.write("ERROR send %s\n" % e)


threading.Thread(target=send, daemon=True).start()
want = 1
try:
    for line in s.makefile():
        words = line.split()
        if words[:2] != ["s", str(want)]:
            log.write("ERROR echo %r, want s %d\n" % (words, want)); sys.exit(1)
        log.write("%d %s %.3f\n" % (want, words[2], time.time()))
        want += 1
    log.write("ERROR end of stream\n")
except OSError as e:
    log.write("ERROR %s\n" % e)
"""


def client_replies(guest, log="/tmp/client.log"):
    """[(n, counter)] the client logged so far; fails on a logged error."""
    text = guest.sh(f"cat {log} 2>/dev/null || true")
    assert "ERROR" not in text, f"the client's connection broke ({log}):\n" + text
    return [tuple(int(w) for w in line.split()[:2]) for line in text.splitlines()
            if re.match(r"^\d+ \d+ ", line)]


def wait_replies(guest, more_than, timeout=60, log="/tmp/client.log"):
    deadline = time.monotonic() + timeout
    while True:
        r = client_replies(guest, log)
        if len(r) > more_than:
            return r
        assert time.monotonic() < deadline, f"no reply from the container in {timeout}s: {r}"
        time.sleep(0.5)


RECEIVE_WORK = "/run/capsa/.migrate-receive"  # capsa's default root in each guest


def start_receiver(b, capsa, tls):
    """migrate-receive --once on b, its pid in /tmp/receive.pid, its phases in
    /tmp/receive.log; returns once it listens."""
    b.sh(f"""
        cd /tmp
        setsid sh -c 'echo $$ > /tmp/receive.pid; exec "$@"' sh \
            {capsa} migrate-receive --listen {b.addr}:{MIGRATE_PORT} --once {tls} \
            >> /tmp/receive.log 2>&1 < /dev/null &
        for i in $(seq 100); do
            ss -ltn | grep -q ':{MIGRATE_PORT} ' && exit 0
            sleep 0.2
        done
        echo "migrate-receive does not listen"; cat /tmp/receive.log; exit 1""")


def assert_nothing_on_b(b, capsa, why):
    assert b.sh(f"{capsa} list -q").strip() == "", f"something arrived on b: {why}"
    left = b.sh(f"ls -A {RECEIVE_WORK} {HOST_BUNDLE} 2>/dev/null || true")
    assert ".capsa-migrate-backup" not in left and not re.search(r"^\d+\.\d+$", left, re.M), \
        f"b keeps a half-done migration:\n{left}\n{why}"


def stream_broke(b, timeout=30):
    """None while the streaming client's echoes go on, else what it logged last."""
    try:
        wait_replies(b, len(client_replies(b, "/tmp/stream.log")) + 5, timeout=timeout,
                     log="/tmp/stream.log")
        return None
    except AssertionError as e:
        return "\n".join(str(e).splitlines()[-4:])


# Known (the lead's to fix in src/checkpoint/migrate*.c): a client whose lines do not wait for
# the echoes loses its connection.  The final dump leaves the source's sockets live while its
# processes stay frozen (CRIU unlocks the network after a --leave-running dump), so the source's
# kernel acknowledges data the destination's copy never gets; and the destination's copy is on
# the bridge before its sockets are restored and before COMMIT, so it answers for them (seen:
# RST).  The request-and-reply client above does not trip either.
STREAM_BUG = ("a streaming client's connection broke {where} (known: the source's kernel "
              "acknowledges after the final dump, and the destination's copy is reachable "
              "before COMMIT):\n{log}")


def test_vm_migrate_two_guests(testdir, base_rootfs):
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    for cmd in ("migrate", "migrate-receive"):
        rc, text = capsa_help(cmd)
        assert rc == 0, f"`{CAPSA} {cmd} --help` exit {rc}:\n{text}"
    capsa = str(Path(CAPSA).resolve())
    certs = testdir / "certs"
    certs.mkdir()
    make_certs(certs)
    bundle = testdir / "bundle"
    bundle.mkdir()
    subprocess.run(["cp", "-a", str(base_rootfs), str(bundle / "rootfs")], check=True)
    (bundle / "config.json").write_text(json.dumps(
        default_config(["/bin/capsa-checker", "echo-count", str(PORT)]), indent=1))
    (testdir / "client.py").write_text(CLIENT)
    (testdir / "stream.py").write_text(STREAM)
    for d in (testdir, bundle):
        os.chmod(d, 0o755)

    def tls(name, cacert="ca"):
        return (f"--tls-cert {certs}/{name}.pem --tls-key {certs}/{name}.key "
                f"--tls-cacert {certs}/{cacert}.pem")

    def source_runs(why):
        """The container runs on a, unfrozen, and the client's connection still echoes."""
        assert '"running"' in a.sh(f"{capsa} state ctr"), why
        r = wait_replies(b, len(client_replies(b)) + 3, timeout=30)
        assert r[-1][1] > r[-4][1], f"the counter stands still on a: {r[-4:]}\n{why}"
        return r

    t0 = time.monotonic()
    with VmPair(mem=768) as pair:
        a, b = pair.a, pair.b
        # the network the container lives on, one L2 across both guests
        for g, gw, peer in ((a, "10.78.0.1", b.addr), (b, "10.78.0.254", a.addr)):
            g.sh(f"""
                {capsa} net create mig --subnet 10.78.0.0/24 --gateway {gw} --mtu 1450 >/dev/null
                ip link add vx0 type vxlan id 78 remote {peer} dstport 4789 dev eth0
                ip link set vx0 master cn-mig up""")
        b.sh("busybox ping -c1 -w 20 10.78.0.1 >/dev/null")  # across the VXLAN
        # each host its own copy of the bundle, at the same path, on a filesystem of its own
        # (the guest's / is an overlay, which migrate takes for an image container's rootfs)
        for g in (a, b):
            g.sh(f"mkdir -p {HOST_BUNDLE} && mount -t tmpfs -o mode=0755 bundle {HOST_BUNDLE}"
                 f" && cp -a {bundle}/. {HOST_BUNDLE}/")
        start_receiver(b, capsa, tls("b"))
        a.sh(f"""cd {HOST_BUNDLE}
            {capsa} run -d --net mig:ip={CTR_IP} ctr < /dev/null > /dev/null 2>&1
            {capsa} state ctr | grep -q '"running"'""")
        b.sh(f"setsid python3 {testdir}/client.py {CTR_IP} {PORT} < /dev/null > /dev/null 2>&1 &")
        b.sh(f"setsid python3 {testdir}/stream.py {CTR_IP} {PORT} < /dev/null > /dev/null 2>&1 &")
        wait_replies(b, 3)
        wait_replies(b, 3, log="/tmp/stream.log")

        # a client certificate from another CA: refused; the container runs on, unfrozen
        out = a.sh(f"{capsa} migrate {tls('rogue', 'rogue-ca')} --tcp-established ctr "
                   f"{b.addr}:{MIGRATE_PORT}", check=False)
        assert a.last_rc != 0, "a migration with a rogue CA's certificate went through:\n" + out
        source_runs(out)
        assert_nothing_on_b(b, capsa, out)
        b.sh(f"ss -ltn | grep -q ':{MIGRATE_PORT} '")  # the refused peer did not use it up

        # the receiver stopped while it restores (the container is frozen on a, its TCP
        # connection dumped, and a copy of it comes up on b): the migration fails, the
        # container thaws on a and the client's connection goes on there
        a.sh(f"""setsid sh -c '{capsa} migrate {tls("a")} --tcp-established --no-precopy ctr \
            {b.addr}:{MIGRATE_PORT} > /tmp/killed.out 2>&1; echo $? > /tmp/killed.rc' \
            < /dev/null > /dev/null 2>&1 &""")
        b.sh("""for i in $(seq 1200); do
                grep -q ': restoring' /tmp/receive.log && exec kill -TERM $(cat /tmp/receive.pid)
                sleep 0.1
            done
            echo "the receiver never restored"; cat /tmp/receive.log; exit 1""", timeout=180)
        out = a.sh("for i in $(seq 1200); do [ -s /tmp/killed.rc ] && break; sleep 0.1; done;"
                   " cat /tmp/killed.rc /tmp/killed.out", timeout=180)
        why = out + "\n--- b: migrate-receive ---\n" + b.sh("cat /tmp/receive.log")
        assert not out.startswith("0\n"), "migrated although the receiver was stopped:\n" + why
        b.sh("""for i in $(seq 100); do  # it has undone what it made, and exited
                kill -0 $(cat /tmp/receive.pid) 2>/dev/null || exit 0
                sleep 0.1
            done
            echo "the stopped receiver runs on"; exit 1""")
        before = source_runs(why)
        assert_nothing_on_b(b, capsa, why)
        stream = stream_broke(b)
        stream_where = "in the migration whose receiver was stopped" if stream else None

        start_receiver(b, capsa, tls("b"))
        t_mig = time.monotonic()
        out = a.sh(f"{capsa} migrate --stats {tls('a')} --tcp-established ctr "
                   f"{b.addr}:{MIGRATE_PORT}", timeout=240, check=False)
        mig_s = time.monotonic() - t_mig
        assert a.last_rc == 0, (f"capsa migrate exit {a.last_rc}:\n{out}\n--- b: migrate-receive"
                                f" ---\n" + b.sh("tail -n 40 /tmp/receive.log", check=False))
        stats = json.loads(out[out.index("{"):out.rindex("}") + 1])
        for k in ("rounds", "round_bytes", "freeze_ms", "total_ms"):
            assert k in stats, f"--stats lacks {k}: {stats}"

        # gone from a: no state, no process, no endpoint
        assert a.sh(f"{capsa} list -q").strip() == ""
        a.sh(f"! {capsa} state ctr 2>/dev/null")
        a.sh("! pgrep -f 'capsa-checker echo-count'")
        # running on b, reached over the connection made when it was on a
        assert '"running"' in b.sh(f"{capsa} state ctr")
        n_at_move = len(client_replies(b))
        after = wait_replies(b, n_at_move + 5)
        counters = [c for _, c in after]
        assert counters == sorted(counters), f"the counter went back: {after}"
        last_before = before[-1][1]
        assert after[-1][1] > last_before, f"the counter did not go on: {after}"
        b.sh("touch /tmp/client.stop; sleep 1; grep -q DONE /tmp/client.log")
        if not stream:
            stream = stream_broke(b)
            stream_where = "in the migration" if stream else None
        b.sh(f"{capsa} delete --force ctr")
    took = time.monotonic() - t0
    print(f"pair booted in {pair.boot_s:.0f}s, migrate took {mig_s:.1f}s "
          f"(freeze {stats['freeze_ms']} ms, {stats['rounds']} rounds), whole test {took:.0f}s")
    if stream:
        pytest.xfail(STREAM_BUG.format(where=stream_where, log=stream))
