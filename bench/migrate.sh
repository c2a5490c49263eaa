#!/usr/bin/env bash
# Live migration benchmark (issue 12): freeze time and total time of `capsa migrate` for
# working sets of 64, 256 and 1024 MiB, each a container running `capsa-checker dirty MIB 1`
# (every page written once, then 1% of them dirtied per second), stop-and-copy against
# pre-copy against lazy (post-copy), side by side in one run; prints a table and the ratios
# pre-copy freeze / stop-and-copy freeze (aim: <= 0.2 at 256 MiB) and lazy's.
#
# Where: two VM-tier guests (tests/vm/vm-pair: Debian's 6.1 kernel, where CRIU works), source
# a (10.77.0.1) and destination b (10.77.0.2, `capsa migrate-receive`), over the pair's own
# network, with TLS (a CA and a certificate per guest made here).  QEMU runs them under TCG
# here (a software CPU, one vCPU each): the figures are TCG's — compare the ratios, not the
# times.  Also measured: the wire's rate (256 MiB over plain TCP a->b: what a stop-and-copy's
# freeze cannot beat) and, for each size, the writer's real dirty rate (the soft-dirty bits of
# its pages over 2 s, as CRIU's pre-copy sees them).
#
# Also printed: the freeze by this host's clock (the guests' clocks lose time under load), and
# split into the receiver's phases (final dump, images, bundle sync, restore, commit).  A mode
# `capsa migrate --help` does not name (lazy, until it has --lazy) says so in the table.
# Usage: sudo bench/migrate.sh [MIB...]   (default 64 256 1024)
#   CAPSA=path/to/capsa (default build/capsa); CAPSA_CHECKER (default
#   build/tests/checker/capsa-checker); BENCH_VM_MEM=MiB per guest (default: twice the
#   largest set + 1024: b holds the images and the restored container at once);
#   BENCH_SETTLE=seconds the writer runs before each migration (default 5);
#   CAPSA_MIGRATE_STOP_AND_COPY=the flag of capsa migrate's stop-and-copy mode (default: the
#   one `capsa migrate --help` names: --stop-and-copy, --no-pre-copy or --no-precopy).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if [ $# -gt 0 ]; then sizes=("$@"); else sizes=(64 256 1024); fi
bench_init
checker=$(readlink -f "${CAPSA_CHECKER:-$here/build/tests/checker/capsa-checker}")
[ -x "$checker" ] || { echo "bench: $checker is not built" >&2; exit 1; }
bench_need openssl=openssl runc=runc
bench_workdir capsa-bench-migrate
max=0
for s in "${sizes[@]}"; do
        [[ $s =~ ^[0-9]+$ ]] || { echo "bench: $s: not a size in MiB" >&2; exit 2; }
        [ "$s" -le "$max" ] || max=$s
done
mem=${BENCH_VM_MEM:-$((2 * max + 1024))}
settle=${BENCH_SETTLE:-5}

# capsa migrate, its flags (the stop-and-copy mode's name is migrate's to choose)
have_migrate=0 sc_flag='' once='' lazy_flag=''
if mhelp=$("$capsa" migrate --help 2>&1) && rhelp=$("$capsa" migrate-receive --help 2>&1); then
        have_migrate=1
        sc_flag=${CAPSA_MIGRATE_STOP_AND_COPY:-$(grep -o -e '--stop-and-copy' -e '--no-pre-copy' \
                -e '--no-precopy' <<<"$mhelp" | head -1 || true)}
        ! grep -q -e '--once' <<<"$rhelp" || once=--once
        ! grep -q -e '--lazy' <<<"$mhelp" || lazy_flag=--lazy
        grep -q -e '--stats' <<<"$mhelp" || { echo "bench: capsa migrate has no --stats" >&2; exit 1; }
else
        echo "bench: $capsa has no migrate command: measuring everything but the migrations" >&2
fi

# one bundle per size (busybox + the checker); each guest copies them to a tmpfs of its own
# at one path (/srv/capsa-bench): a host's own bundle, not the guest's overlay of this host's /
"$here/tools/mkrootfs.sh" "$work/rootfs" --with-checker "$checker" >/dev/null
for s in "${sizes[@]}"; do
        mkdir "$work/bundle-$s"
        cp -a "$work/rootfs" "$work/bundle-$s/rootfs"
        bench_config "$work/bundle-$s/config.json" "[\"/bin/capsa-checker\",\"dirty\",\"$s\",\"1\"]" \
                rootfs
done
rm -rf "$work/rootfs"

# TLS: a CA, and a certificate for each guest (its address as subjectAltName)
(
        cd "$work"
        ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
        openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=capsa bench ca" -keyout ca.key \
                -out ca.pem 2>/dev/null
        for g in a:10.77.0.1 b:10.77.0.2; do
                printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth,clientAuth\n' \
                        "${g#*:}" > "${g%%:*}.ext"
                openssl req "${ec[@]}" -subj "/CN=${g%%:*}" -keyout "${g%%:*}.key" \
                        -out "${g%%:*}.csr" 2>/dev/null
                openssl x509 -req -in "${g%%:*}.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
                        -days 2 -extfile "${g%%:*}.ext" -out "${g%%:*}.pem" 2>/dev/null
        done
        chmod 644 ./*.pem ./*.key
)

echo "bench: booting the guest pair (${mem} MiB each, TCG)" >&2
export work capsa mem settle have_migrate sc_flag once lazy_flag here
# the driver in the background, so that a TERM or INT here reaches it (it stops the guests)
trap 'exit 143' TERM
trap 'exit 130' INT
python3 - "${sizes[@]}" <<'PY' &
import json, os, signal, sys, threading, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through VmPair: guests stop
sys.path.insert(0, os.path.join(os.environ["here"], "tests", "vm"))
from vmpair import VmPair

env = os.environ
work, capsa, here = env["work"], env["capsa"], env["here"]
sizes = [int(s) for s in sys.argv[1:]]
mem, settle = int(env["mem"]), int(env["settle"])
have_migrate, sc_flag, once = env["have_migrate"] == "1", env["sc_flag"], env["once"]
lazy = env["lazy_flag"]
modes = [("stop-and-copy", sc_flag or None), ("pre-copy", ""), ("lazy", lazy or None)]
PORT = 7700
BUNDLES = "/srv/capsa-bench"
tls = lambda g: f"--tls-cert {work}/{g}.pem --tls-key {work}/{g}.key --tls-cacert {work}/ca.pem"
log = lambda *a: print("bench:", *a, file=sys.stderr, flush=True)

# guest-side snippets
SINK = """setsid python3 -c '
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 9001)); s.listen()
def drain(c):
    while c.recv(1 << 20): pass
while True:
    threading.Thread(target=drain, args=(s.accept()[0],)).start()' </dev/null >/dev/null 2>&1 &"""
SEND = """python3 -c '
import socket, sys, time
for i in range(100):
    try: s = socket.create_connection(("10.77.0.2", 9001), 2); break
    except OSError: time.sleep(0.2)
s.settimeout(None); buf = b"\\x5a" * (1 << 20); t = time.monotonic()
for i in range(%d): s.sendall(buf)
s.shutdown(socket.SHUT_WR); s.recv(1); print("%%.3f" %% (time.monotonic() - t))'"""
# the writer's dirty rate: its largest anonymous mapping, soft-dirty bits cleared, 2 s later
DIRTY = """python3 -c '
import struct, sys, time
pid = sys.argv[1]
maps = [l.split() for l in open("/proc/%s/maps" % pid)]
lo, hi = max((tuple(int(x, 16) for x in m[0].split("-")) for m in maps if len(m) == 5),
             key=lambda r: r[1] - r[0])
pages = (hi - lo) // 4096
def dirty():
    with open("/proc/%s/pagemap" % pid, "rb") as f:
        f.seek(lo // 4096 * 8); data = f.read(pages * 8)
    return sum(1 for (e,) in struct.iter_unpack("<Q", data) if e >> 55 & 1)
open("/proc/%s/clear_refs" % pid, "w").write("4"); t = time.monotonic()
time.sleep(2); n = dirty()
print("%.3f" % (100.0 * n / pages / (time.monotonic() - t)))' """


def pid_of(g, cid):
    return json.loads(g.sh(f"{capsa} state {cid}"))["pid"]


def wait_rss(g, cid, mib, timeout):
    """Until the container's init has its working set resident (VmRSS >= 97% of it)."""
    pid, deadline = pid_of(g, cid), time.monotonic() + timeout
    while True:
        kib = int(g.sh(f"awk '/^VmRSS/ {{print $2}}' /proc/{pid}/status"))
        if kib >= mib * 1024 * 0.97:
            return pid
        if time.monotonic() > deadline:
            raise RuntimeError(f"{cid}: {kib} KiB resident after {timeout}s, want {mib} MiB")
        time.sleep(1)


class ReceiverLog(threading.Thread):
    """The receiver's lines, each with the time (this host's clock) it came: the receiver writes
    them into the guest's run directory, which is this host's (vm-run's 9p share, no cache).
    The guests' own clocks are no good for this: under TCG on a loaded host their kernels mark
    the TSC unstable and keep time with refined-jiffies, which loses the ticks of every stretch
    the vCPU waits for the host (seen: a migration the host timed at 208 s took 66 s by the
    source guest's clock)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.lines, self.pos = path, [], 0

    def run(self):
        part = ""
        while True:
            try:
                with open(self.path, errors="replace") as f:
                    f.seek(self.pos)
                    data = f.read()
                    self.pos = f.tell()
            except FileNotFoundError:
                data = ""
            now = time.monotonic()
            part += data
            *done, part = part.split("\n")
            self.lines += [(now, line) for line in done]
            time.sleep(0.05)


def receiver(b):
    b.sh(f"""cd /tmp
        setsid {capsa} migrate-receive --listen 10.77.0.2:{PORT} {once} {tls("b")} \
            >> "$CAPSA_VM_OUT/receive.log" 2>&1 < /dev/null &
        for i in $(seq 150); do ss -ltn | grep -q ':{PORT} ' && exit 0; sleep 0.2; done
        echo "migrate-receive does not listen"; tail "$CAPSA_VM_OUT/receive.log"; exit 1""",
         timeout=60)


# the receiver's phases of one migration; the freeze is the final dump (CRIU dumps what is
# left and sends its pages to the page server), the images, the bundle's sync, the restore,
# and the commit (DONE back to the source)
# (lazy: the restore runs before the pages are there, "commit" then fetches the rest of them
# and the freeze ends at "restored", as --stats counts it)
PHASES = (("dump", "final dump, round"), ("images", "receiving the images"),
          ("bundle", "syncing the bundle"), ("restore", "restoring"), ("commit", "restored"),
          (None, "running here"))


def phases(rlog, cid, lazy):
    """{phase: ms} and the freeze (ms) from the receiver's final-dump line to its "running
    here" ("restored" when lazy), both by this host's clock."""
    time.sleep(0.3)  # the last line's stamp
    at = {}
    for t, text in list(rlog.lines):
        if f"`{cid}`" in text:
            for _, marker in PHASES:
                if marker in text:
                    at[marker] = t  # the last such line: the final round's
    out = {}
    for (name, marker), (_, nxt) in zip(PHASES, PHASES[1:]):
        if marker in at and nxt in at:
            out[name] = round((at[nxt] - at[marker]) * 1000)
    first, last = PHASES[0][1], "restored" if lazy else PHASES[-1][1]
    freeze = round((at[last] - at[first]) * 1000) if first in at and last in at else None
    return out, freeze


rows, rate = [], {}
t_all = time.monotonic()
with VmPair(mem=mem, cpus=1, timeout=4 * 3600, boot_timeout=300) as pair:
    a, b = pair.a, pair.b
    log(f"pair booted in {pair.boot_s:.0f}s")
    rlog = ReceiverLog(b.dir.parent / "receive.log")
    rlog.start()
    for g in (a, b):
        g.sh(f"mkdir -p {BUNDLES} && mount -t tmpfs -o mode=0755 bundles {BUNDLES} && "
             f"cp -a {work}/bundle-* {BUNDLES}/")
    b.sh(SINK)
    wire_mib = min(256, max(sizes))
    wire_s = float(a.sh(SEND % wire_mib, timeout=3600))
    log(f"wire: {wire_mib} MiB a->b in {wire_s:.1f}s")
    if have_migrate and not once:
        receiver(b)
    for mib in sizes:
        for mode, flag in modes:
            cid = f"ws{mib}-{mode}"
            a.sh(f"cd {BUNDLES}/bundle-{mib} && {capsa} run -d {cid} </dev/null >/dev/null 2>&1")
            pid = wait_rss(a, cid, mib, timeout=600)
            if mib not in rate:
                rate[mib] = float(a.sh(DIRTY + str(pid)))
                log(f"{mib} MiB: the writer dirties {rate[mib]:.2f}% of its pages per second")
            time.sleep(settle)
            row = {"mib": mib, "mode": mode}
            if not have_migrate:
                row["error"] = "no capsa migrate"
            elif flag is None:
                row["error"] = f"capsa migrate has no {mode} mode (--help)"
            else:
                if once:
                    receiver(b)
                log(f"{mib} MiB {mode}: migrating")
                t0 = time.monotonic()
                out = a.sh(f"{capsa} migrate --stats {flag} {tls('a')} {cid} 10.77.0.2:{PORT}",
                           timeout=3600, check=False)
                row["wall_s"] = time.monotonic() - t0
                try:
                    row.update(json.loads(out[out.index("{"):out.rindex("}") + 1]))
                except ValueError:
                    pass
                row["phases_ms"], row["host_freeze_ms"] = phases(rlog, cid, mode == "lazy")
                arrived = b.sh(f"{capsa} state {cid} 2>/dev/null || true")
                if a.last_rc != 0 or '"running"' not in arrived:
                    row["error"] = f"migrate exit {a.last_rc}: {out.strip()[-200:]}"
                b.sh(f"{capsa} delete --force {cid} >/dev/null 2>&1 || true")
            a.sh(f"{capsa} delete --force {cid} >/dev/null 2>&1 || true")
            rows.append(row)
            log(json.dumps(row))
took = time.monotonic() - t_all
json.dump(rows, open(f"{work}/results.json", "w"), indent=1)

print("capsa migrate between two QEMU TCG guests (1 vCPU each, software CPU: compare ratios, "
      "not times)")
print(f"wire a->b (plain TCP, {wire_mib} MiB): {wire_mib / wire_s:.1f} MiB/s; the writer "
      "(capsa-checker dirty MIB 1: 1% of its pages per second), measured:")
for mib in sizes:
    print(f"  {mib:5d} MiB: {rate[mib]:.2f}%/s dirtied; the set over the wire: "
          f"{mib * wire_s / wire_mib:.1f}s (a stop-and-copy's floor)")
print()
print("freeze: by this host's clock, from the receiver's final-dump line to its \"running "
      "here\"; --stats' freeze_ms and total_ms are the source guest's clock (see ReceiverLog)")
print(f"{'set MiB':>7} {'mode':14} {'rounds':>6} {'freeze ms':>10} {'stats frz':>10} "
      f"{'stats tot':>10} {'MiB sent':>9} {'wall s':>7}")
fmt = lambda v, f: f % v if v is not None else "-"
for r in rows:
    sent = r.get("round_bytes")
    sent = sum(sent) / 2**20 if isinstance(sent, list) else None
    line = (f"{r['mib']:7d} {r['mode']:14} {fmt(r.get('rounds'), '%d'):>6} "
            f"{fmt(r.get('host_freeze_ms'), '%d'):>10} {fmt(r.get('freeze_ms'), '%d'):>10} "
            f"{fmt(r.get('total_ms'), '%d'):>10} {fmt(sent, '%.1f'):>9} "
            f"{fmt(r.get('wall_s'), '%.1f'):>7}")
    print(line + (f"  ({r['error']})" if "error" in r else ""))
print()
names = [n for n, _ in PHASES if n]
print("the freeze, phase by phase (ms, this host's clock, from the receiver's lines):")
print(f"{'set MiB':>7} {'mode':14} " + " ".join(f"{n:>8}" for n in names))
for r in rows:
    ph = r.get("phases_ms") or {}
    print(f"{r['mib']:7d} {r['mode']:14} " +
          " ".join(f"{fmt(ph.get(n), '%d'):>8}" for n in names))
print()
for key, what in (("host_freeze_ms", "this host's clock"), ("freeze_ms", "--stats")):
    freeze = {(r["mib"], r["mode"]): r.get(key) for r in rows if "error" not in r}
    for mib in sizes:
        sc = freeze.get((mib, "stop-and-copy"))
        parts = []
        for mode in ("pre-copy", "lazy"):
            f = freeze.get((mib, mode))
            parts.append(f"{mode} {f / sc:.3f}" if sc and f is not None else f"{mode} -")
        aim = "  (aim: pre-copy <= 0.2)" if mib == 256 else ""
        print(f"freeze / stop-and-copy freeze ({what}), {mib} MiB: " + ", ".join(parts) + aim)
print(f"(whole run {took:.0f}s, guests of {mem} MiB)")
PY
driver=$!
bench_on_exit "kill -TERM $driver 2>/dev/null; wait $driver"
wait "$driver"
