#!/usr/bin/env bash
# Density and throughput: capsa, crun and runc side by side, in one run, from one bundle
# (busybox `sleep`), each runtime in turn:
#   - N idle containers made by create+start one after the other: the rate, and the host memory
#     they cost (MemTotal-MemAvailable before and after, less the workload's own PSS), with the
#     kernel's share broken down (Slab, Shmem, KernelStack, PageTables, Percpu from
#     /proc/meminfo: their sum is far less noisy than MemAvailable on a shared host), the
#     memory the containers' cgroups are charged, and the processes left per container besides
#     the workload;
#   - `exec true` into one of them EXECS times: median and p95 latency;
#   - `delete` of each (after a KILL): median and p95 latency;
#   - N containers made by create+start PAR at a time: the rate (then deleted, PAR at a time).
# State roots live on a tmpfs made for the run (as /run is in production: state files cost
# memory).  crun refuses this host's hybrid cgroups, so everything runs in a private mount
# namespace with a tmpfs over /sys/fs/cgroup/unified: a pure v1 view for all three.
# The machine is shared: the load average is printed with the figures; memory figures are
# system-wide deltas and carry the noise of whatever else runs.
# Usage: sudo bench/density.sh [N]   (default 1000; PAR=8, EXECS=100, RUNTIMES="capsa crun runc",
#   CAPSA=path/to/capsa, default build/capsa)
# Everything made is removed on exit, also on ^C.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
n=${1:-1000}
par=${PAR:-8}
execs=${EXECS:-100}
runtimes=${RUNTIMES:-capsa crun runc}
bench_init
bench_need runc=runc crun=crun
bench_workdir capsa-density
bench_rootfs "$work/bundle/rootfs"
bench_config "$work/bundle/config.json" '["sleep", "100000"]' rootfs
mkdir "$work/run"
mount -t tmpfs -o mode=755 capsa-density "$work/run"
bench_on_exit "umount -l '$work/run'"

bin_of() {
        if [ "$1" = capsa ]; then echo "$capsa"; else command -v "$1"; fi
}

# Everything a runtime still has under its state root: killed and deleted (in the v1 view).
cleanup_all() {
        set +e
        mount -t tmpfs none /sys/fs/cgroup/unified 2>/dev/null
        for rt in $runtimes; do
                local b s
                b=$(bin_of "$rt")
                s=$work/run/$rt
                [ -d "$s" ] || continue
                "$b" --root "$s" list -q 2>/dev/null | xargs -r -n 1 -P 4 "$b" --root "$s" delete --force >/dev/null 2>&1
        done
}
export -f cleanup_all bin_of
export work runtimes capsa
bench_on_exit "unshare -m --propagation private bash -c cleanup_all"

inner() {
        set -euo pipefail
        trap 'cleanup_all; exit 130' INT TERM
        mount -t tmpfs none /sys/fs/cgroup/unified
        cd "$work/bundle"
        # a meminfo sample: used (MemTotal-MemAvailable) Slab SUnreclaim Shmem KernelStack
        # PageTables Percpu, in KiB
        meminfo() {
                awk '/^(MemTotal|MemAvailable|Slab|SUnreclaim|Shmem|KernelStack|PageTables|Percpu):/ {
                        v[$1] = $2 }
                     END { print v["MemTotal:"] - v["MemAvailable:"], v["Slab:"], v["SUnreclaim:"],
                           v["Shmem:"], v["KernelStack:"], v["PageTables:"], v["Percpu:"] }' /proc/meminfo
        }
        nprocs() {
                local p=(/proc/[0-9]*)
                echo "${#p[@]}"
        }
        now() { echo "$EPOCHREALTIME"; }
        for rt in $runtimes; do
                b=$(bin_of "$rt")
                s=$work/run/$rt
                mkdir -p "$s"
                out=$work/res-$rt
                : >"$out"
                echo "density: $rt: $n containers, one after the other" >&2
                sync
                sleep 1
                m0=$(meminfo)
                p0=$(nprocs)
                t0=$(now)
                for i in $(seq 1 "$n"); do
                        "$b" --root "$s" create --bundle . "d$i" </dev/null >/dev/null
                        "$b" --root "$s" start "d$i"
                done
                t1=$(now)
                sleep 2
                m1=$(meminfo)
                p1=$(nprocs)
                pss=0
                charged=0
                for i in $(seq 1 "$n"); do
                        pid=$("$b" --root "$s" state "d$i" | sed -n 's/^ *"pid": *\([0-9]*\),*$/\1/p')
                        k=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
                        pss=$((pss + k))
                        cg=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup" 2>/dev/null || true)
                        c=$(cat "/sys/fs/cgroup/memory$cg/memory.usage_in_bytes" 2>/dev/null || echo 0)
                        charged=$((charged + c / 1024))
                done
                echo "seq $t0 $t1" >>"$out"
                echo "mem $m0 $m1" >>"$out"
                echo "procs $p0 $p1 $pss $charged" >>"$out"
                echo "load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"

                echo "density: $rt: $execs execs" >&2
                lat=()
                for i in $(seq 1 "$execs"); do
                        a=$(now)
                        "$b" --root "$s" exec d1 true
                        z=$(now)
                        lat+=("$(echo "$a $z" | awk '{ printf "%.3f", ($2 - $1) * 1000 }')")
                done
                echo "exec ${lat[*]}" >>"$out"

                echo "density: $rt: delete" >&2
                for i in $(seq 1 "$n"); do "$b" --root "$s" kill "d$i" KILL; done
                for i in $(seq 1 "$n"); do
                        until "$b" --root "$s" state "d$i" 2>/dev/null | grep -q '"stopped"'; do sleep 0.05; done
                done
                lat=()
                for i in $(seq 1 "$n"); do
                        a=$(now)
                        "$b" --root "$s" delete "d$i"
                        z=$(now)
                        lat+=("$(echo "$a $z" | awk '{ printf "%.3f", ($2 - $1) * 1000 }')")
                done
                echo "delete ${lat[*]}" >>"$out"

                echo "density: $rt: $n containers, $par at a time" >&2
                t0=$(now)
                seq 1 "$n" | xargs -P "$par" -I{} sh -c \
                        '"$0" --root "$1" create --bundle . "p{}" </dev/null >/dev/null && "$0" --root "$1" start "p{}"' "$b" "$s"
                t1=$(now)
                echo "par $t0 $t1" >>"$out"
                seq 1 "$n" | xargs -P "$par" -I{} "$b" --root "$s" delete --force "p{}"
        done
}
export -f inner
export n par execs
unshare -m --propagation private bash -c inner

/usr/bin/python3 - "$work" "$n" "$par" $runtimes <<'PY'
import statistics, sys
work, n, par, rts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
res = {}
for rt in rts:
    d = {}
    for line in open(f"{work}/res-{rt}"):
        k, *v = line.split()
        d[k] = v
    m0, m1 = [int(x) for x in d["mem"][:7]], [int(x) for x in d["mem"][7:]]
    delta = [(b - a) / n for a, b in zip(m0, m1)]
    p0, p1, pss, charged = (int(x) for x in d["procs"])
    ex = sorted(float(x) for x in d["exec"])
    de = sorted(float(x) for x in d["delete"])
    p95 = lambda v: v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]  # noqa: E731
    res[rt] = dict(
        rate=n / (float(d["seq"][1]) - float(d["seq"][0])),
        prate=n / (float(d["par"][1]) - float(d["par"][0])),
        used=delta[0], beyond=delta[0] - pss / n, slab=delta[1], sunrec=delta[2],
        shmem=delta[3], kstack=delta[4], ptables=delta[5], percpu=delta[6],
        kernel=delta[1] + sum(delta[3:7]), pss=pss / n, charged=charged / n,
        extra=(p1 - p0 - n) / n, exec_med=statistics.median(ex), exec_p95=p95(ex),
        del_med=statistics.median(de), del_p95=p95(de), load=" ".join(d["load"]))
rows = [
    ("containers/s, one after the other", "rate", "{:.1f}"),
    (f"containers/s, {par} at a time", "prate", "{:.1f}"),
    ("kernel memory per container, KiB", "kernel", "{:.0f}"),
    ("  (Slab + Shmem + KernelStack + PageTables + Percpu)", None, ""),
    ("host memory per container, KiB", "used", "{:.0f}"),
    ("  (MemTotal - MemAvailable: noisy on a shared host)", None, ""),
    ("  beyond the workload's PSS, KiB", "beyond", "{:.0f}"),
    ("  workload (sleep) PSS, KiB", "pss", "{:.0f}"),
    ("  Slab, KiB", "slab", "{:.0f}"),
    ("    of which unreclaimable, KiB", "sunrec", "{:.0f}"),
    ("  Shmem (tmpfs: state, /dev), KiB", "shmem", "{:.0f}"),
    ("  KernelStack, KiB", "kstack", "{:.0f}"),
    ("  PageTables, KiB", "ptables", "{:.0f}"),
    ("  Percpu, KiB", "percpu", "{:.0f}"),
    ("  charged to the container's memory cgroup, KiB", "charged", "{:.0f}"),
    ("processes left per container beyond the workload", "extra", "{:.2f}"),
    ("exec true: median ms", "exec_med", "{:.1f}"),
    ("exec true: p95 ms", "exec_p95", "{:.1f}"),
    ("delete: median ms", "del_med", "{:.1f}"),
    ("delete: p95 ms", "del_p95", "{:.1f}"),
]
print(f"density: {n} idle `sleep` containers per runtime (load average after creating them: "
      + ", ".join(f"{rt} {res[rt]['load']}" for rt in rts) + ")")
print(f"{'':50}" + "".join(f"{rt:>10}" for rt in rts))
for label, key, fmt in rows:
    print(f"{label:50}" + ("".join(f"{fmt.format(res[rt][key]):>10}" for rt in rts) if key else ""))
if "capsa" in res:
    for other in (rt for rt in rts if rt != "capsa"):
        a, o = res["capsa"], res[other]
        ratio = lambda k: a[k] / o[k] if o[k] else float("nan")  # noqa: E731
        print(f"capsa/{other}: rate {ratio('rate'):.2f}, parallel rate {ratio('prate'):.2f}, "
              f"kernel memory {ratio('kernel'):.2f}, host memory {ratio('used'):.2f} "
              f"(beyond workload {ratio('beyond'):.2f}), "
              f"exec median {ratio('exec_med'):.2f}, delete median {ratio('del_med'):.2f}")
PY
