"""Live migration between two hosts: two VM-tier guests (tests/vm/vmpair.py: each its own
kernel, capsa state, tmpfs overlay of this host's / and so its own copy of the bundle), joined
by QEMU's network (eth0: a 10.77.0.1, b 10.77.0.2), driven step by step from here.

The container's network spans both guests as a tenant network spans a datacenter: on each guest
`capsa net create mig --subnet 10.78.0.0/24` (gateway .1 on a, .254 on b), and the two bridges
joined by VXLAN over eth0.  The container (capsa-checker echo-count: a counter in its memory,
and a TCP echo that answers "LINE COUNTER") runs on a at 10.78.0.2; a client on b's host side
(10.78.0.254, outside any container) holds one TCP connection to it across the move, as a
client elsewhere on the network would.  `capsa migrate` (TLS with certificates made here)
moves it to b's `capsa migrate-receive`: the counter goes on from where it was, the same
connection still echoes from b, and nothing of the container is left on a.  Each guest has
its own copy of the bundle at one path (a tmpfs), as two hosts would.  First a client
certificate from another CA is refused and the container keeps running on a, unfrozen.

CRIU works in the guests (Debian's 6.1 kernel), not on this host.  The test skips, saying so,
while this capsa has no `migrate` command.  Set CAPSA_SKIP_VM=1 to leave it out;
CAPSA_VM_KEEP=1 keeps the guests' run directories (consoles, agent logs) for a look."""

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


def client_replies(guest):
    """[(n, counter)] the client logged so far; fails on a logged error."""
    text = guest.sh("cat /tmp/client.log 2>/dev/null || true")
    assert "ERROR" not in text, "the client's connection broke:\n" + text
    return [tuple(int(w) for w in line.split()[:2]) for line in text.splitlines()
            if re.match(r"^\d+ \d+ ", line)]


def wait_replies(guest, more_than, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        r = client_replies(guest)
        if len(r) > more_than:
            return r
        assert time.monotonic() < deadline, f"no reply from the container in {timeout}s: {r}"
        time.sleep(0.5)


def test_vm_migrate_two_guests(testdir, base_rootfs):
    if os.environ.get("CAPSA_SKIP_VM") == "1":
        pytest.skip("CAPSA_SKIP_VM=1")
    rc, mhelp = capsa_help("migrate")
    rrc, rhelp = capsa_help("migrate-receive")
    if rc != 0 or rrc != 0:
        pytest.skip(f"{CAPSA} has no migrate command yet (`capsa migrate --help` exit {rc}: "
                    f"{mhelp.strip().splitlines()[-1] if mhelp.strip() else ''})")
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
    for d in (testdir, bundle):
        os.chmod(d, 0o755)

    def tls(name, cacert="ca"):
        return (f"--tls-cert {certs}/{name}.pem --tls-key {certs}/{name}.key "
                f"--tls-cacert {certs}/{cacert}.pem")

    tcp = " --tcp-established" if "--tcp-established" in mhelp else ""
    once = " --once" if "--once" in rhelp else ""
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
        b.sh(f"""
            cd /tmp
            setsid {capsa} migrate-receive --listen {b.addr}:{MIGRATE_PORT}{once} {tls("b")} \
                > /tmp/receive.log 2>&1 < /dev/null &
            for i in $(seq 100); do
                ss -ltn | grep -q ':{MIGRATE_PORT} ' && exit 0
                sleep 0.2
            done
            echo "migrate-receive does not listen"; cat /tmp/receive.log; exit 1""")
        a.sh(f"""cd {HOST_BUNDLE}
            {capsa} run -d --net mig:ip={CTR_IP} ctr < /dev/null > /dev/null 2>&1
            {capsa} state ctr | grep -q '"running"'""")
        b.sh(f"setsid python3 {testdir}/client.py {CTR_IP} {PORT} < /dev/null > /dev/null 2>&1 &")
        before = wait_replies(b, 3)

        # a client certificate from another CA: refused; the container runs on, unfrozen
        out = a.sh(f"{capsa} migrate {tls('rogue', 'rogue-ca')}{tcp} ctr {b.addr}:{MIGRATE_PORT}",
                   check=False)
        assert a.last_rc != 0, "a migration with a rogue CA's certificate went through:\n" + out
        assert '"running"' in a.sh(f"{capsa} state ctr"), out
        assert b.sh(f"{capsa} list -q").strip() == "", "something arrived on b: " + out
        if once:  # the refused peer must not have used up the receiver
            b.sh(f"ss -ltn | grep -q ':{MIGRATE_PORT} '")
        before = wait_replies(b, len(before) + 3)

        t_mig = time.monotonic()
        out = a.sh(f"{capsa} migrate --stats {tls('a')}{tcp} ctr {b.addr}:{MIGRATE_PORT}",
                   timeout=240, check=False)
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
        b.sh(f"{capsa} delete --force ctr")
    took = time.monotonic() - t0
    print(f"pair booted in {pair.boot_s:.0f}s, migrate took {mig_s:.1f}s "
          f"(freeze {stats['freeze_ms']} ms, {stats['rounds']} rounds), whole test {took:.0f}s")
