#!/usr/bin/env bash
# Containers from an image, side by side in one run, on one multi-layer image of about 250 MiB
# made from Debian packages (make_big_image in bench/lib.sh: 5 gzip layers, one a whiteout):
#  1. import time (hyperfine, an empty store each run): `capsa image import oci:DIR:bench`
#     against `umoci unpack` of the same layout and `podman load` of it as an oci-archive
#     (podman with a throwaway --root/--runroot/--tmpdir, in a private mount namespace with a
#     tmpfs over /run, so that neither the host's podman store nor its /run sees it);
#  2. start-to-exit of `capsa run --image bench ID` (the image's Cmd: /bin/true) against
#     `capsa run` of a bundle that `capsa spec --image bench` wrote (the same config, the same
#     tree copied into a plain directory): the cost of the overlay and the store;
#  3. disk: N containers made with `capsa create --image bench` (du of the store against the
#     store with the image alone, and against N unpacked copies), then deleted.
# Everything it makes lives under one tmp dir and is removed on exit (containers deleted first).
# Usage: sudo bench/image.sh [IMPORT_RUNS [START_RUNS [CONTAINERS]]]   (defaults 5 50 100;
# CAPSA=path/to/capsa, default build/capsa)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
import_runs=${1:-5}
start_runs=${2:-50}
n_ctr=${3:-100}
bench_init
bench_need hyperfine=hyperfine umoci=umoci skopeo=skopeo podman=podman
bench_workdir capsa-bench-image
store=$work/store
state=$work/state
cap() { "$capsa" --root "$state" --image-root "$store" "$@"; }
made=()
cleanup() {
        local id line
        for id in "${made[@]}" bench-img bench-bundle; do
                [ -d "$state" ] && cap delete --force "$id" >/dev/null 2>&1
        done
        # whatever a failed run left mounted under our own tmp dir, deepest first
        tac /proc/self/mountinfo | while read -r line; do
                set -- $line
                case $5 in "$work"/*) umount -l "$5" ;; esac
        done
}
bench_on_exit cleanup

echo "bench: making the image (apt-get download, dpkg-deb -x, umoci)" >&2
make_big_image "$work/oci" bench
skopeo copy -q oci:"$work/oci":bench oci-archive:"$work/bench-oci.tar":bench
layout_kib=$(du -sk "$work/oci" | cut -f1)

# ---- 1. import ---------------------------------------------------------------------------------
cat >"$work/podman-load" <<'EOF'
#!/bin/sh
# podman load into a throwaway store ($1), in a private mount namespace with its own /run
exec unshare -m --propagation private sh -c 'mount -t tmpfs none /run &&
        exec podman --root "$1/root" --runroot "$1/run" --tmpdir "$1/tmp" --events-backend none \
                --storage-driver overlay load -q -i "$2" >/dev/null' - "$1" "$2"
EOF
chmod +x "$work/podman-load"
imp=$work/imp
# each command once before timing it, so that a failure shows as itself
rm -rf "$imp" && mkdir "$imp"
"$capsa" --image-root "$imp/capsa" image import --quiet oci:"$work/oci":bench bench >/dev/null
umoci unpack --image "$work/oci":bench "$imp/umoci" >/dev/null
"$work/podman-load" "$imp/podman" "$work/bench-oci.tar"
echo "bench: import, $import_runs runs each" >&2
hyperfine -N --warmup 1 --runs "$import_runs" --export-json "$work/hf-import.json" \
        --prepare "rm -rf $imp" \
        -n capsa "$capsa --image-root $imp/capsa image import --quiet oci:$work/oci:bench bench" \
        -n umoci "umoci unpack --image $work/oci:bench $imp/umoci" \
        -n podman "$work/podman-load $imp/podman $work/bench-oci.tar" >&2
rm -rf "$imp"

# ---- 2. start-to-exit --------------------------------------------------------------------------
cap image import --quiet oci:"$work/oci":bench bench >/dev/null
image_kib=$(du -sxk "$store" | cut -f1)
mkdir "$work/bundle"
(cd "$work/bundle" && cap spec --image bench)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["process"]["args"] == ["/bin/true"], c["process"]["args"]
c["process"]["terminal"] = False  # as `run --image` without --tty
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
rootfs_kib=$(du -sxk "$work/bundle/rootfs" | cut -f1)
cap run --image bench bench-img
(cd "$work/bundle" && cap run bench-bundle)
echo "bench: start-to-exit, $start_runs runs each" >&2
(cd "$work/bundle" && hyperfine -N --warmup 5 --runs "$start_runs" \
        --export-json "$work/hf-start.json" \
        -n run-image "$capsa --root $state --image-root $store run --image bench bench-img" \
        -n run-bundle "$capsa --root $state run bench-bundle" >&2)
[ -z "$(ls -A "$store/containers")" ] ||
        { echo "bench: $store/containers is not empty after run --image" >&2; exit 1; }

# ---- 3. disk -----------------------------------------------------------------------------------
echo "bench: $n_ctr x create --image" >&2
t0=$(date +%s.%N)
for i in $(seq "$n_ctr"); do
        made+=("bench-c$i")
        cap create --image bench "bench-c$i" </dev/null >/dev/null
done
t1=$(date +%s.%N)
full_kib=$(du -sxk "$store" | cut -f1)
upper_kib=$(du -sxk "$store/containers" | cut -f1)
n_dirs=$(ls "$store/containers" | wc -l)
for id in "${made[@]}"; do
        cap delete --force "$id" >/dev/null
done
t2=$(date +%s.%N)
made=()
after_kib=$(du -sxk "$store" | cut -f1)
left=$(ls -A "$store/containers" | wc -l)

python3 - "$work" "$layout_kib" "$image_kib" "$rootfs_kib" "$n_ctr" "$n_dirs" "$full_kib" \
        "$upper_kib" "$after_kib" "$left" "$t0" "$t1" "$t2" <<'PY'
import json, sys
work = sys.argv[1]
layout, image, rootfs, n, n_dirs, full, upper, after, left = map(int, sys.argv[2:11])
t0, t1, t2 = map(float, sys.argv[11:14])
def med(name, key):
    r = {x["command"]: x for x in json.load(open(f"{work}/hf-{name}.json"))["results"]}[key]
    return r["median"] * 1000, r["stddev"] * 1000
mib = lambda k: k / 1024
print(f"image: 5 gzip layers, {mib(layout):.1f} MiB as an OCI layout, {mib(rootfs):.1f} MiB "
      f"unpacked and merged")
print(f"\nimport (empty store each run)   {'median ms':>10} {'stddev':>8}")
imp = {k: med("import", k) for k in ("capsa", "umoci", "podman")}
labels = {"capsa": "capsa image import oci:", "umoci": "umoci unpack", "podman": "podman load (oci-archive)"}
for k, (m, s) in imp.items():
    print(f"  {labels[k]:30} {m:10.1f} {s:8.1f}")
print(f"  ratio capsa/umoci:  {imp['capsa'][0] / imp['umoci'][0]:.2f}")
print(f"  ratio capsa/podman: {imp['capsa'][0] / imp['podman'][0]:.2f}")
st = {k: med("start", k) for k in ("run-image", "run-bundle")}
print(f"\nstart-to-exit of /bin/true      {'median ms':>10} {'stddev':>8}")
print(f"  {'capsa run --image bench':30} {st['run-image'][0]:10.2f} {st['run-image'][1]:8.2f}")
print(f"  {'capsa run (spec --image bundle)':30} {st['run-bundle'][0]:10.2f} {st['run-bundle'][1]:8.2f}")
print(f"  ratio run --image / run bundle: {st['run-image'][0] / st['run-bundle'][0]:.2f} (aim <= 1.2)")
print(f"\ndisk, {n} containers from the image (du -sx, hard links once):")
print(f"  store with the image alone        {mib(image):9.1f} MiB")
print(f"  store with {n} containers {'':6}{mib(full):9.1f} MiB  ({n_dirs} container dirs, "
      f"{upper} KiB in all: {upper / max(n, 1):.1f} KiB each)")
print(f"  {n} unpacked copies would take    {mib(rootfs * n):9.1f} MiB")
print(f"  ratio store with {n} / image alone: {full / image:.3f}")
print(f"  ratio store with {n} / {n} copies:  {full / (rootfs * n):.4f}")
print(f"  create x{n}: {t1 - t0:.2f} s ({(t1 - t0) / n * 1000:.1f} ms each); delete x{n}: "
      f"{t2 - t1:.2f} s; after delete: {mib(after):.1f} MiB, {left} container dirs left")
PY
