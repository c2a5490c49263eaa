#!/usr/bin/env bash
# The KVM mode, side by side with host containers, in one run:
#   - start-to-workload: `capsa run --vm` against a host container of capsa (and of crun and
#     runc, for scale), from one rootfs, RUNS runs each, taken in turn (a round of every
#     runtime, RUNS rounds: the shared machine's load falls on all of them alike):
#       run true   the wall time of `run` with /bin/true: start, boot, workload, power-off;
#       to output  in a run of /bin/echo of its own: the time until the first byte of its
#                  output reaches the caller (the part of `run` before the workload), and (for
#                  the VM) the time from there to run's end (exit, power-off, delete);
#     medians (min-max) and the ratios of the VM's medians to the host containers';
#   - host memory per idle VM container (`sleep`), MEMRUNS containers one at a time, each
#     measured SETTLE seconds after `run -d` returned: the PSS (/proc/PID/smaps_rollup) of every
#     host process of the container (capsa's monitor, the pid `state` names, and its
#     descendants: QEMU, virtiofsd; and whatever is in the container's host memory cgroup), the
#     total and the part beyond the guest's RAM, with QEMU's own part by kind of mapping (TCG's
#     translated code, other anonymous memory, the guest kernel and initrd files QEMU keeps
#     mapped: page cache that every VM booting them shares, so their PSS per VM falls as VMs
#     are added; QEMU's code and libraries).
#     How the guest's RAM is told apart: it is the memory backend QEMU shares with virtiofsd
#     (a memfd, or a file in /dev/shm); its mappings are found in QEMU's /proc/PID/smaps (the
#     shared file mapping at least as large as 32 MiB), named by device and inode, and their PSS
#     is summed over every process of the container that maps them (QEMU and virtiofsd map the
#     same pages: PSS splits them).  "Beyond the guest's RAM" is the total PSS less that sum: QEMU's
#     own heap, code and libraries, virtiofsd's, the monitor's.  Not in PSS: the kernel's page
#     tables and KVM/TCG structures (the memory cgroup's charge is printed as a cross-check).
# crun refuses this host's hybrid cgroups, so everything runs in a private mount namespace with
# a tmpfs over /sys/fs/cgroup/unified (as bench/startup.sh): a pure v1 view, alike for all.
# Usage: sudo bench/vm.sh [--accel tcg|kvm] [RUNS]   (default tcg, 10 runs; MEMRUNS=3,
#   SETTLE=5, RUNTIMES="capsa crun runc" (the host containers), CAPSA=path/to/capsa)
# Aims (issue 13): run --vm true <= 2.0 s under TCG; <= 40 MiB host memory beyond guest RAM.
# Everything made is removed on exit, also on ^C.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
accel=tcg
runs=10
while [ $# -gt 0 ]; do
        case $1 in
        --accel)
                [ $# -ge 2 ] || { echo "bench: --accel needs tcg or kvm" >&2; exit 1; }
                accel=$2
                shift 2
                ;;
        --accel=*) accel=${1#--accel=}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) runs=$1; shift ;;
        *)
                echo "bench: unknown argument \`$1\` (usage: bench/vm.sh [--accel tcg|kvm] [RUNS])" >&2
                exit 1
                ;;
        esac
done
case $accel in
tcg | kvm) ;;
*) echo "bench: --accel \`$accel\`: expected tcg or kvm" >&2; exit 1 ;;
esac
memruns=${MEMRUNS:-3}
settle=${SETTLE:-5}
runtimes=${RUNTIMES:-capsa crun runc}
bench_init
bench_need runc=runc crun=crun qemu-system-x86_64=qemu-system-x86 \
        /usr/lib/qemu/virtiofsd=qemu-system-common
"$capsa" features | python3 -c 'import json, sys
a = json.load(sys.stdin).get("annotations") or {}
sys.exit(0 if "vm" in a.get("run.capsa.launchers", "").split(",") else 1)' ||
        { echo "bench: $capsa features does not list the vm launcher" >&2; exit 1; }
bench_workdir capsa-vm-bench
bench_rootfs "$work/rootfs"
mkdir "$work/true" "$work/echo" "$work/idle"
bench_config "$work/true/config.json" '["/bin/true"]' ../rootfs
bench_config "$work/echo/config.json" '["/bin/echo", "go"]' ../rootfs
bench_config "$work/idle/config.json" '["/bin/sleep", "100000"]' ../rootfs

# Whatever a runtime still has under its state root (an interrupted run): deleted, in the v1 view.
cleanup_all() {
        set +e
        mount -t tmpfs none /sys/fs/cgroup/unified 2>/dev/null
        for s in "$work"/state-*; do
                [ -d "$s" ] || continue
                rt=${s##*/state-}
                b=$capsa
                case $rt in crun | runc) b=$(command -v "$rt") ;; esac
                "$b" --root "$s" list -q 2>/dev/null |
                        xargs -r -n 1 "$b" --root "$s" delete --force >/dev/null 2>&1
        done
}
export -f cleanup_all
export work capsa accel runs memruns settle runtimes
bench_on_exit "unshare -m --propagation private bash -c cleanup_all"

inner() {
        set -e
        mount -t tmpfs none /sys/fs/cgroup/unified
        exec /usr/bin/python3 - <<'PY'
import json, os, re, shutil, signal, statistics, subprocess, sys, time

work, capsa, accel = os.environ["work"], os.environ["capsa"], os.environ["accel"]
runs, memruns, settle = int(os.environ["runs"]), int(os.environ["memruns"]), float(os.environ["settle"])
hosts = os.environ["runtimes"].split()
MiB = 1024 * 1024
TIMEOUT = 120


def binary(rt):
    return capsa if rt in ("capsa", "vm") else shutil.which(rt)


def run_argv(rt, bundle, cid, *extra):
    argv = [binary(rt), "--root", f"{work}/state-{rt}", "run"]
    if rt == "vm":
        argv += ["--vm", "--vm-accel", accel]
    return argv + list(extra) + ["--bundle", f"{work}/{bundle}", cid]


failures = []


def timed(rt, bundle, cid, first_byte):
    """(seconds to the first byte of output or None, seconds to the end), or None for a run
    that failed (kept in failures, reported; not in the medians)."""
    err = open(f"{work}/err-{rt}", "w+")
    t0 = time.monotonic()
    p = subprocess.Popen(run_argv(rt, bundle, cid), stdout=subprocess.PIPE, stderr=err,
                         stdin=subprocess.DEVNULL)
    t1 = None
    try:
        if first_byte:
            if p.stdout.read(1):
                t1 = time.monotonic() - t0
        p.stdout.read()
        rc = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "timeout"
    t2 = time.monotonic() - t0
    if rc != 0 or (first_byte and t1 is None):
        err.seek(0)
        failures.append(f"{' '.join(run_argv(rt, bundle, cid))}: rc={rc}: {err.read()[-500:]}")
        return None
    return t1, t2


order = ["vm"] + hosts
total = {rt: [] for rt in order}
to_out = {rt: [] for rt in order}
after = {rt: [] for rt in order}  # echo runs: from the first byte of output to run's end
first = {}
print(f"vm bench: accel {accel}, {runs} runs of each of {', '.join(order)}", file=sys.stderr)
for rt in order:  # a warm-up each (the vm's first run may build the guest's assets: shown)
    first[rt] = (timed(rt, "true", f"warm-{rt}", False) or (None, float("nan")))[1]
for i in range(runs):
    for rt in order:
        t = timed(rt, "true", f"t{i}-{rt}", False)
        if t:
            total[rt].append(t[1])
        t = timed(rt, "echo", f"e{i}-{rt}", True)
        if t:
            to_out[rt].append(t[0])
            after[rt].append(t[1] - t[0])
if any(not total[rt] or not to_out[rt] for rt in order):
    sys.exit("bench: a runtime has no successful run:\n" + "\n".join(failures))
load = open("/proc/loadavg").read().split()[:3]


# ---- memory of an idle VM container ------------------------------------------------------------

def smaps_mappings(pid):
    """[(header fields, {key: kB})] of /proc/PID/smaps."""
    out, cur = [], None
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = (f, {})
            out.append(cur)
        elif cur is not None and len(f) >= 2 and f[0].endswith(":") and f[1].isdigit():
            cur[1][f[0][:-1]] = int(f[1])
    return out


def rollup(pid):
    r = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        f = line.split()
        if len(f) >= 2 and f[0].endswith(":") and f[1].isdigit():
            r[f[0][:-1]] = int(f[1])
    return r


def container_pids(cid, state_pid):
    """The container's host processes: the one `state` names (a VM container's monitor, a host
    container's init) and its descendants (QEMU, virtiofsd), and those in a memory cgroup named
    after the container; and that cgroup's directory."""
    children, mem = {}, None
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(p))
    pids, todo = set(), [state_pid]
    while todo:
        p = todo.pop()
        if p not in pids:
            pids.add(p)
            todo += children.get(p, [])
    for p in sorted(pids):
        try:
            for line in open(f"/proc/{p}/cgroup"):
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                if "memory" in ctrls.split(",") and cid in os.path.basename(path):
                    mem = f"/sys/fs/cgroup/memory{path}"
        except OSError:
            pass
    if mem:
        for d, _, _ in os.walk(mem):
            pids |= {int(p) for p in open(f"{d}/cgroup.procs").read().split()}
    return sorted(pids), mem


def comm(pid):
    """qemu, virtiofsd, capsa (which runs from a sealed memfd copy of itself) or the
    executable's name."""
    exe = os.path.basename(os.readlink(f"/proc/{pid}/exe")).replace(" (deleted)", "")
    if exe.startswith("memfd:"):
        exe = os.path.basename(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode())
    for k in ("qemu", "virtiofsd", "capsa"):
        if k in exe:
            return k
    return exe


def detach(rt, cid):
    """run --detach of the idle bundle; its stdio are files (the container keeps them open:
    pipes would never end)."""
    with open(f"{work}/out-{cid}", "w+") as out:
        r = subprocess.run(run_argv(rt, "idle", cid, "--detach"), stdout=out, stderr=out,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            out.seek(0)
            sys.exit(f"bench: run --detach of an idle {rt} container: {out.read()[-2000:]}")


def measure(cid):
    detach("vm", cid)
    time.sleep(settle)
    st = json.loads(subprocess.run([capsa, "--root", f"{work}/state-vm", "state", cid],
                                   capture_output=True, text=True, timeout=30).stdout)
    pids, mem = container_pids(cid, st["pid"])
    qemus = [p for p in pids if comm(p) == "qemu"]
    if len(qemus) != 1:
        sys.exit(f"bench: expected one QEMU process of {cid}, found {qemus} among {pids}")
    q = qemus[0]
    # the guest's RAM: QEMU's shared file mappings (memfd, /dev/shm) of 32 MiB or more, by
    # (device, inode); else (private guest RAM) QEMU's largest anonymous mapping, by address
    qmaps = smaps_mappings(q)
    ram = [(hdr, kv) for hdr, kv in qmaps
           if kv.get("Size", 0) >= 32 * 1024 and hdr[1][3] == "s" and hdr[4] != "0"]
    shared = bool(ram)
    method = "QEMU's shared memory backend, by device and inode"
    if not shared:
        method = "QEMU's largest anonymous mapping"
        ram = [max(qmaps, key=lambda m: m[1].get("Size", 0))]
    files = {(hdr[3], hdr[4]) for hdr, _ in ram}
    ranges = {hdr[0] for hdr, _ in ram}

    def is_ram(p, hdr):
        return (hdr[3], hdr[4]) in files if shared else p == q and hdr[0] in ranges
    ram_size = sum(kv["Size"] for _, kv in ram)
    guest_rss = sum(kv.get("Rss", 0) for _, kv in ram)
    # QEMU's own PSS, by kind of mapping: TCG's translated code (its anonymous executable
    # buffer), other anonymous memory (heap, stacks, device state), the guest's kernel and
    # initrd files it keeps mapped (page cache: shared by every VM booting them), other files
    # (its code, libraries)
    qargv = open(f"/proc/{q}/cmdline", "rb").read().split(b"\0")
    boot_files = {qargv[i + 1].decode() for i, a in enumerate(qargv[:-1])
                  if a in (b"-kernel", b"-initrd")}
    qkind = {"tcg": 0, "anon": 0, "boot": 0, "files": 0}
    for hdr, kv in qmaps:
        if any(hdr is h for h, _ in ram):
            continue
        path = " ".join(hdr[5:])
        if not path or path.startswith("["):
            qkind["tcg" if "x" in hdr[1] and not path else "anon"] += kv.get("Pss", 0)
        else:
            qkind["boot" if path in boot_files else "files"] += kv.get("Pss", 0)
    per = {}
    guest_pss = 0
    for p in pids:
        try:
            k = comm(p)
            per[k] = per.get(k, 0) + rollup(p).get("Pss", 0)
            for hdr, kv in (qmaps if p == q else smaps_mappings(p)):
                if is_ram(p, hdr):
                    guest_pss += kv.get("Pss", 0)
        except OSError:  # gone meanwhile
            continue
    charged = int(open(f"{mem}/memory.usage_in_bytes").read()) // 1024 if mem else 0
    d = subprocess.run([capsa, "--root", f"{work}/state-vm", "delete", "--force", cid],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if d.returncode != 0:
        sys.exit(f"bench: delete --force {cid}: {d.stderr}")
    total_pss = sum(per.values())
    return dict(total=total_pss, guest=guest_pss, beyond=total_pss - guest_pss, per=per,
                ram_size=ram_size, guest_rss=guest_rss, charged=charged, method=method,
                nprocs=len(pids), qkind=qkind)


print(f"vm bench: memory of {memruns} idle VM containers, one at a time", file=sys.stderr)
mems = [measure(f"idle{i}") for i in range(memruns)]

# a host container's idle processes, for scale
detach("capsa", "idle-host")
time.sleep(1)
hst = json.loads(subprocess.run([capsa, "--root", f"{work}/state-capsa", "state", "idle-host"],
                                capture_output=True, text=True, check=True).stdout)
host_pids, _ = container_pids("idle-host", hst["pid"])
host_pss = sum(rollup(p).get("Pss", 0) for p in host_pids)
subprocess.run([capsa, "--root", f"{work}/state-capsa", "delete", "--force", "idle-host"],
               check=True, capture_output=True, timeout=TIMEOUT)

# ---- report ------------------------------------------------------------------------------------

med = lambda v: statistics.median(v) * 1000  # noqa: E731
rng = lambda v: f"{min(v) * 1000:.0f}-{max(v) * 1000:.0f}"  # noqa: E731
name = {"vm": f"capsa --vm ({accel})", "capsa": "capsa (host)", "crun": "crun (host)",
        "runc": "runc (host)"}
print(f"start-to-workload, {runs} runs each, taken in turn (load average after: {' '.join(load)})")
print(f"{'':22}{'run true: median ms':>21}{'(min-max)':>13}{'to output: median ms':>22}"
      f"{'(min-max)':>13}{'first run ms':>14}")
for rt in order:
    print(f"{name[rt]:22}{med(total[rt]):21.0f}{rng(total[rt]):>13}{med(to_out[rt]):22.0f}"
          f"{rng(to_out[rt]):>13}{first[rt] * 1000:14.0f}")
for rt in hosts:
    print(f"vm/{rt}: run true {med(total['vm']) / med(total[rt]):.1f}x, "
          f"to output {med(to_out['vm']) / med(to_out[rt]):.1f}x")
if failures:
    print(f"{len(failures)} failed runs (not in the figures):")
    for f in failures:
        print("  " + " ".join(f.split()))
vm_run = med(total["vm"])
print(f"vm, in the echo runs: {med(to_out['vm']):.0f} ms (median) until the workload's output, "
      f"{med(after['vm']):.0f} ms from there to run's end (the workload's exit, power-off, "
      "delete)")
if accel == "tcg":
    print(f"aim <= 2000 ms (run --vm true under TCG): {'met' if vm_run <= 2000 else 'not met'}"
          f" ({vm_run:.0f} ms)")

kib = lambda v: statistics.median(v) / 1024  # noqa: E731
print()
print(f"host memory per idle VM container ({memruns} containers, one at a time, {settle:g} s "
      f"after run -d; medians, MiB; guest RAM told apart as: {mems[0]['method']})")
procs = sorted({k for m in mems for k in m["per"]})
rows = [("guest RAM configured", [m["ram_size"] for m in mems]),
        ("guest RAM touched (QEMU's RSS of it)", [m["guest_rss"] for m in mems]),
        ("PSS, every host process of the container", [m["total"] for m in mems])]
rows += [(f"  of which {k}", [m["per"].get(k, 0) for m in mems]) for k in procs]
rows += [("  of which the guest's RAM", [m["guest"] for m in mems]),
         ("PSS beyond the guest's RAM", [m["beyond"] for m in mems]),
         ("  QEMU's TCG translated code (anon, exec)", [m["qkind"]["tcg"] for m in mems]),
         ("  QEMU's other anonymous memory", [m["qkind"]["anon"] for m in mems]),
         ("  QEMU's guest kernel+initrd files (page cache)", [m["qkind"]["boot"] for m in mems]),
         ("  QEMU's other files (its code, libraries)", [m["qkind"]["files"] for m in mems]),
         ("charged to its host memory cgroup", [m["charged"] for m in mems]),
         ("an idle host container of capsa: PSS", [host_pss])]
for label, vals in rows:
    print(f"  {label:48}{kib(vals):9.1f}")
print(f"  host processes per VM container: {mems[0]['nprocs']} ({', '.join(procs)})")
beyond = kib([m["beyond"] for m in mems])
print(f"aim <= 40 MiB beyond the guest's RAM: {'met' if beyond <= 40 else 'not met'} "
      f"({beyond:.1f} MiB)")
PY
}
export -f inner
unshare -m --propagation private bash -c inner
