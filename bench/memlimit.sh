#!/usr/bin/env bash
# Lean start: the lowest linux.resources.memory.limit at which `echo ok` runs in a container,
# for capsa, crun and runc side by side (binary search on whole pages; memory+swap limited to
# the same value so nothing is swapped out to fit).  Everything the runtime charges to the
# container's cgroup before exec counts against the limit.  crun refuses this host's hybrid
# cgroups, so all three run in a private mount namespace with a tmpfs over
# /sys/fs/cgroup/unified: a pure v1 view that changes nothing outside it (as bench/startup.sh).
# Usage: sudo bench/memlimit.sh [MAX_KIB]   (CAPSA=path/to/capsa, default build/capsa)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
max_kib=${1:-16384}
bench_init
bench_need runc=runc crun=crun
bench_workdir capsa-memlimit
bench_rootfs "$work/rootfs"

inner() {
        set -e
        mount -t tmpfs none /sys/fs/cgroup/unified
        # ok LIMIT_KIB RUNTIME -> 0 when `echo ok` printed ok under that limit
        ok() {
                local kib=$1 rt=$2 bin=$3 b=$work/b-$rt-$1
                mkdir -p "$b"
                python3 - "$b/config.json" "$kib" "$work/rootfs" <<'PY'
import json, sys
path, kib, rootfs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = {
 "ociVersion": "1.0.2", "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
 "args": ["echo", "ok"], "env": ["PATH=/bin"], "cwd": "/",
 "capabilities": {s: ["CAP_KILL"] for s in ("bounding", "effective", "permitted")},
 "noNewPrivileges": True},
 "root": {"path": rootfs, "readonly": True}, "hostname": "m",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "mode=755", "size=65536k"]}],
 "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
           "resources": {"memory": {"limit": kib * 1024, "swap": kib * 1024}}}}
json.dump(c, open(path, "w"))
PY
                local out
                out=$(cd "$b" && timeout 20 "$bin" --root "$work/state-$rt" run "m-$rt-$kib" 2>/dev/null) || true
                "$bin" --root "$work/state-$rt" delete -f "m-$rt-$kib" >/dev/null 2>&1 || true
                rm -rf "$b"
                [ "$out" = ok ]
        }
        for rt in capsa crun runc; do
                bin=$capsa
                [ $rt = capsa ] || bin=$(command -v $rt)
                if ! ok "$max_kib" $rt "$bin"; then
                        echo "$rt: fails even at $max_kib KiB" >"$work/res-$rt"
                        continue
                fi
                lo=4 hi=$max_kib # invariant: hi works; lo is below what works (or untested)
                if ok $lo $rt "$bin"; then hi=$lo; fi
                while [ $((hi - lo)) -gt 4 ]; do
                        mid=$(((lo + hi) / 2 / 4 * 4))
                        [ $mid -le $lo ] && mid=$((lo + 4))
                        if ok $mid $rt "$bin"; then hi=$mid; else lo=$mid; fi
                done
                echo "$rt: lowest working memory limit $hi KiB" >"$work/res-$rt"
        done
}
export -f inner
export work capsa max_kib
unshare -m --propagation private bash -c inner
cat "$work"/res-capsa "$work"/res-crun "$work"/res-runc
