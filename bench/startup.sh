#!/usr/bin/env bash
# Container start-up benchmark: /bin/true in a container with capsa, crun and runc, side by
# side with hyperfine, from the same bundle; prints medians, ratios and each runtime's peak RSS.
# crun refuses this host's hybrid cgroups, so all three run in a private mount namespace with
# a tmpfs over /sys/fs/cgroup/unified: a pure v1 view that changes nothing outside it.
# Usage: sudo bench/startup.sh [RUNS]   (CAPSA=path/to/capsa, default build/capsa)
#   CAPSA_BASE=path/to/older/capsa adds that build to the same run (a regression check: the
#   ratio capsa/capsa-base is printed).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-100}
bench_init
base=${CAPSA_BASE:+$(readlink -f "$CAPSA_BASE")}
bench_need hyperfine=hyperfine runc=runc crun=crun
bench_workdir capsa-bench
gcc -static -Os -o "$work/maxrss" "$here/bench/maxrss.c"
bench_rootfs "$work/bundle/rootfs"
bench_config "$work/bundle/config.json" '["/bin/true"]' rootfs

inner() {
        set -e
        mount -t tmpfs none /sys/fs/cgroup/unified
        cd "$work/bundle"
        hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/hf.json" \
                -n capsa "$capsa --root $work/state-capsa run bench-capsa" \
                -n crun "crun --root $work/state-crun run bench-crun" \
                -n runc "runc --root $work/state-runc run bench-runc" \
                ${base:+-n capsa-base "$base --root $work/state-base run bench-base"} >&2
        # peak RSS: the highest of 5 runs, measured by a tiny static wrapper (wait4 rusage)
        for rt in capsa crun runc; do
                bin=$capsa
                [ $rt = capsa ] || bin=$(command -v $rt)
                for i in 1 2 3 4 5; do
                        "$work/maxrss" "$bin" --root "$work/state-$rt" run "rss-$rt" 2>&1 >/dev/null
                done | sort -n | tail -1 >"$work/rss-$rt"
        done
}
export -f inner
export work runs capsa base
unshare -m --propagation private bash -c inner

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
res = {r["command"]: r for r in json.load(open(f"{work}/hf.json"))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
rss = {k: int(open(f"{work}/rss-{k}").read()) for k in ("capsa", "crun", "runc")}
print("(peak RSS includes the container's /bin/true, busybox static: about 1.3 MiB)")
print(f"{'runtime':8} {'median ms':>10} {'mean ms':>9} {'peak RSS KiB':>13}")
for k in ("capsa", "crun", "runc"):
    print(f"{k:8} {med[k]:10.2f} {res[k]['mean']*1000:9.2f} {rss[k]:13d}")
print(f"capsa/crun median ratio: {med['capsa']/med['crun']:.2f}")
print(f"capsa/runc median ratio: {med['capsa']/med['runc']:.2f}")
if "capsa-base" in med:
    print(f"capsa-base {med['capsa-base']:8.2f} ms median; capsa/capsa-base ratio: "
          f"{med['capsa']/med['capsa-base']:.2f}")
print(f"peak RSS: capsa {rss['capsa']/1024:.2f} MiB, crun {rss['crun']/1024:.2f} MiB, runc {rss['runc']/1024:.2f} MiB")
PY
