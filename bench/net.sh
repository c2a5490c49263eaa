#!/usr/bin/env bash
# Networking benchmark, all inside a network namespace made here (and deleted on exit, with the
# per-run namespaces and everything capsa made in it):
#  1. TCP throughput (iperf3 -t 5) between two capsa containers on the default network, next to
#     a bare floor: two plain network namespaces joined by veth pairs to a bridge made with
#     `ip`.  iperf3 runs in the containers' network namespaces through `nsenter --net` (the
#     containers run `sleep`): the same veths, bridge and nftables rules as a process inside.
#  2. Added start-up latency (hyperfine): `capsa run --net default` of /bin/true against a plain
#     `capsa run`; next to the CNI reference plugins (bridge + host-local) and capsa's own plugin
#     (`capsa cni`) doing ADD+DEL on a fresh network namespace, against making and deleting
#     that namespace alone.  The ratios are of the added times: capsa net setup / CNI bridge.
# Usage: sudo bench/net.sh [RUNS]   (CAPSA=path/to/capsa, default build/capsa; SECONDS_TCP=5,
# ROUNDS_TCP=3)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
runs=${1:-50}
secs=${SECONDS_TCP:-5}
bench_init
cni_dir=/usr/lib/cni
bench_need hyperfine=hyperfine iperf3=iperf3 runc=runc $cni_dir/bridge=containernetworking-plugins \
        $cni_dir/host-local=containernetworking-plugins

tag=$$
ns=capsa-bench-$tag
bench_workdir capsa-bench-net
made_ns=()
cleanup() {
        if [ -d "$work/state" ]; then
                for id in bench-srv bench-cli bench-run bench-run-net; do
                        in_ns "$capsa" --root "$work/state" delete --force "$id" >/dev/null 2>&1
                done
        fi
        for n in "${made_ns[@]}"; do ip netns delete "$n" 2>/dev/null; done
        ip netns delete "$ns" 2>/dev/null
}
bench_on_exit cleanup
in_ns() { nsenter --net=/run/netns/$ns "$@"; }
ip netns add "$ns"
ip -n "$ns" link set lo up

# ---- a bundle: busybox, /bin/true or sleep -----------------------------------------------------
bench_rootfs "$work/rootfs"
mkbundle() { # DIR ARGS-JSON
        mkdir -p "$1"
        bench_config "$1/config.json" "$2" "$work/rootfs"
}
mkbundle "$work/true" '["/bin/true"]'
mkbundle "$work/sleep" '["/bin/sleep", "600"]'
cap() { in_ns "$capsa" --root "$work/state" "$@"; }

# ---- 1. throughput -----------------------------------------------------------------------------
iperf_pair() { # SERVER-NETNS-PATH CLIENT-NETNS-PATH SERVER-IP -> bits/s
        nsenter --net="$1" iperf3 -s -1 -D -p 5201 -I "$work/iperf.pid" >/dev/null
        for _ in $(seq 50); do
                nsenter --net="$1" ss -ltn 2>/dev/null | grep -q ':5201 ' && break
                sleep 0.1
        done
        nsenter --net="$2" iperf3 -c "$3" -p 5201 -t "$secs" -J >"$work/iperf.json"
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"])' \
                "$work/iperf.json"
}

# the floor: two plain namespaces, veths to a bridge made with ip, in the bench namespace
in_ns ip link add br-floor type bridge
in_ns ip link set br-floor up
for i in 1 2; do
        n=capsa-bench-$tag-f$i
        ip netns add "$n"
        made_ns+=("$n")
        in_ns ip link add vf$i type veth peer name eth0 netns "$n"
        in_ns ip link set vf$i master br-floor up
        ip -n "$n" addr add 10.99.0.$i/24 dev eth0
        ip -n "$n" link set eth0 up
        ip -n "$n" link set lo up
done
# capsa: two containers on the default network
(cd "$work/sleep" && cap run -d --net default bench-srv && cap run -d --net default bench-cli) \
        >/dev/null
pid_of() { cap state "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])'; }
srv_ip=$(cap net inspect default | python3 -c '
import json, sys
for e in json.load(sys.stdin)[0]["endpoints"]:
    if e["owner"] == "bench-srv" and ":" not in e["address"]:
        print(e["address"].split("/")[0])')
# alternating rounds, so that a slow moment of the machine hits both sides alike; the medians
floor=()
capsa_bps=()
for round in $(seq "${ROUNDS_TCP:-3}"); do
        echo "bench: iperf3 -t $secs round $round: bare bridge floor, capsa ($srv_ip)" >&2
        floor+=("$(iperf_pair /run/netns/capsa-bench-$tag-f1 /run/netns/capsa-bench-$tag-f2 \
                10.99.0.1)")
        capsa_bps+=("$(iperf_pair /proc/$(pid_of bench-srv)/ns/net \
                /proc/$(pid_of bench-cli)/ns/net "$srv_ip")")
done
cap delete --force bench-srv >/dev/null
cap delete --force bench-cli >/dev/null

# ---- 2. set-up latency -------------------------------------------------------------------------
mkdir -p "$work/cni-data"
cat >"$work/cni-bridge.json" <<EOF
{"cniVersion": "1.0.0", "name": "benchbr", "type": "bridge", "bridge": "cni-bench",
 "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "10.98.0.0/24", "dataDir": "$work/cni-data"}}
EOF
cat >"$work/cni-capsa.json" <<EOF
{"cniVersion": "1.0.0", "name": "benchcapsa", "type": "capsa", "network": "default"}
EOF
# one script, three modes: the namespace alone, + CNI bridge ADD/DEL, + capsa cni ADD/DEL
cat >"$work/cni-once.sh" <<EOF
#!/bin/bash
set -e
n=capsa-bench-$tag-c
ip netns add \$n
trap 'ip netns delete \$n' EXIT
export CNI_CONTAINERID=bench CNI_NETNS=/run/netns/\$n CNI_IFNAME=eth0 CNI_PATH=$cni_dir
case \$1 in
bridge) CNI_COMMAND=ADD $cni_dir/bridge <$work/cni-bridge.json >/dev/null
        CNI_COMMAND=DEL $cni_dir/bridge <$work/cni-bridge.json >/dev/null ;;
capsa)  CNI_COMMAND=ADD $capsa --root $work/state cni <$work/cni-capsa.json >/dev/null
        CNI_COMMAND=DEL $capsa --root $work/state cni <$work/cni-capsa.json >/dev/null ;;
esac
EOF
chmod +x "$work/cni-once.sh"
# check that each works once before timing it
for m in none bridge capsa; do
        in_ns "$work/cni-once.sh" $m || { echo "bench: cni-once.sh $m failed" >&2; exit 1; }
done
cd "$work/true"
echo "bench: hyperfine, $runs runs each" >&2
in_ns hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/hf.json" \
        -n run "$capsa --root $work/state run bench-run" \
        -n run-net "$capsa --root $work/state run --net default bench-run-net" \
        -n netns "$work/cni-once.sh none" \
        -n cni-bridge "$work/cni-once.sh bridge" \
        -n capsa-cni "$work/cni-once.sh capsa" >&2

python3 - "$work/hf.json" "${floor[*]}" "${capsa_bps[*]}" <<'PY'
import json, statistics, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
floor = statistics.median(float(x) for x in sys.argv[2].split())
capsa = statistics.median(float(x) for x in sys.argv[3].split())
print(f"TCP throughput (iperf3, one stream, container netns via nsenter; median of "
      f"{len(sys.argv[2].split())} alternating rounds):")
print(f"  bare veth+bridge floor {floor / 1e9:8.2f} Gbit/s")
print(f"  capsa --net default    {capsa / 1e9:8.2f} Gbit/s   ratio capsa/floor {capsa / floor:.3f}")
print(f"\n{'start-up':28} {'median ms':>10} {'mean ms':>9} {'stddev':>7}")
for k in ("run", "run-net", "netns", "cni-bridge", "capsa-cni"):
    print(f"{k:28} {med[k]:10.2f} {res[k]['mean'] * 1000:9.2f} {res[k]['stddev'] * 1000:7.2f}")
net = med["run-net"] - med["run"]
br = med["cni-bridge"] - med["netns"]
cc = med["capsa-cni"] - med["netns"]
print(f"\nadded by networking (median differences):")
print(f"  capsa run --net default - capsa run   {net:7.2f} ms")
print(f"  CNI bridge+host-local ADD+DEL         {br:7.2f} ms")
print(f"  capsa cni ADD+DEL                     {cc:7.2f} ms")
print(f"ratio capsa net setup / CNI bridge setup: {net / br:.2f}")
print(f"ratio capsa cni / CNI bridge:             {cc / br:.2f}")
print(f"capsa run --net / capsa run:              {med['run-net'] / med['run']:.2f}")
PY
