# bench/lib.sh: what every bench script does before it measures, sourced (bash, set -euo pipefail):
#   bench_init            here (the repo), capsa (CAPSA, default build/capsa; must be built)
#   bench_need T=PKG...   apt-get installs PKG where T (a command name or an absolute path) is
#                         missing; one apt-get for all of them
#   bench_workdir PREFIX  work=$(mktemp -d /tmp/PREFIX.XXXXXX), removed on exit
#   bench_on_exit CMD     CMD (a string for eval) runs on exit, before work is removed; the last
#                         added runs first; a failing CMD does not stop the others
#   bench_rootfs DIR      a busybox rootfs (tools/mkrootfs.sh)
#   bench_config OUT ARGS-JSON ROOTFS
#                         runc's default config.json, no terminal, process.args ARGS-JSON,
#                         root.path ROOTFS (relative paths are the bundle's)
#   bench_hf_median HF-JSON NAME   hyperfine's median of NAME in milliseconds

bench_init() {
        here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
        capsa=$(readlink -f "${CAPSA:-$here/build/capsa}")
        [ -x "$capsa" ] || { echo "bench: $capsa is not built" >&2; exit 1; }
}

bench_need() {
        local missing=() t pkg
        for arg in "$@"; do
                t=${arg%%=*}
                pkg=${arg#*=}
                case $t in
                /*) [ -e "$t" ] && continue ;;
                *) command -v "$t" >/dev/null && continue ;;
                esac
                [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "bench: installing ${missing[*]}" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${missing[@]}" >/dev/null; } ||
                { echo "bench: apt-get install ${missing[*]} failed" >&2; exit 1; }
}

bench_exit_cmds=()
bench_on_exit() {
        bench_exit_cmds+=("$1")
}

bench_exit() {
        local i
        set +e
        for ((i = ${#bench_exit_cmds[@]} - 1; i >= 0; i--)); do
                eval "${bench_exit_cmds[i]}"
        done
        [ -n "${work:-}" ] && rm -rf "$work"
}

bench_workdir() {
        work=$(mktemp -d "/tmp/$1.XXXXXX")
        chmod 755 "$work"
        trap bench_exit EXIT
}

bench_rootfs() {
        "$here/tools/mkrootfs.sh" "$1" >/dev/null
}

bench_config() {
        local tmp
        tmp=$(mktemp -d "$work/spec.XXXXXX")
        runc spec --bundle "$tmp"
        python3 - "$tmp/config.json" "$1" "$2" "$3" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(sys.argv[3])
c["root"]["path"] = sys.argv[4]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
        rm -rf "$tmp"
}

bench_hf_median() {
        python3 -c 'import json, sys
print(next(r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]
           if r["command"] == sys.argv[2]))' "$1" "$2"
}

# make_big_image DIR TAG: an OCI image layout in DIR (made here), image TAG, of five layers made
# from Debian packages (apt-get download + dpkg-deb -x, about 250 MiB unpacked, 80 MiB gzipped):
#   1 libc6, coreutils, dash and their libraries, /etc/passwd and /etc/group from base-passwd
#   2 perl   3 libicu72 and python3.11   4 libllvm14
#   5 a whiteout of /usr/share/doc and an /etc/hostname
# Cmd ["/bin/true"].  Built with umoci (init, new, raw add-layer, config, gc); the .debs and
# the layer trees are removed afterwards.
make_big_image() {
        local dir=$1 tag=$2 tmp i
        local layers=("libc6 libgcc-s1 coreutils libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0
                       dash base-passwd"
                "perl-base perl-modules-5.36 libperl5.36"
                "libicu72 libpython3.11-stdlib python3.11-minimal libpython3.11-minimal"
                "libllvm14")
        tmp=$(mktemp -d "$dir.build.XXXXXX")
        chmod 755 "$tmp"
        mkdir "$tmp/debs"
        ! id _apt >/dev/null 2>&1 || chown _apt "$tmp/debs"
        # shellcheck disable=SC2068
        (cd "$tmp/debs" && apt-get download -qq ${layers[@]} 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
        for i in "${!layers[@]}"; do
                mkdir "$tmp/l$i"
                for p in ${layers[i]}; do
                        dpkg-deb -x "$tmp/debs/${p}_"*.deb "$tmp/l$i" ||
                                { echo "bench: apt-get download $p failed" >&2; return 1; }
                done
        done
        cp "$tmp/l0/usr/share/base-passwd/passwd.master" "$tmp/l0/etc/passwd"
        cp "$tmp/l0/usr/share/base-passwd/group.master" "$tmp/l0/etc/group"
        mkdir -p "$tmp/l0/proc" "$tmp/l0/sys" "$tmp/l0/dev" "$tmp/l0/root" "$tmp/l0/tmp"
        chmod 1777 "$tmp/l0/tmp"
        i=${#layers[@]}
        mkdir -p "$tmp/l$i/usr/share" "$tmp/l$i/etc"
        : >"$tmp/l$i/usr/share/.wh.doc"
        echo bench >"$tmp/l$i/etc/hostname"
        umoci init --layout "$dir"
        umoci new --image "$dir:$tag"
        for i in $(seq 0 ${#layers[@]}); do
                tar -C "$tmp/l$i" --sort=name --numeric-owner --owner=0 --group=0 -cf "$tmp/l$i.tar" .
                umoci raw add-layer --image "$dir:$tag" "$tmp/l$i.tar"
                rm -rf "$tmp/l$i" "$tmp/l$i.tar"
        done
        umoci config --image "$dir:$tag" --config.cmd /bin/true \
                --config.env PATH=/usr/local/bin:/usr/bin:/bin --config.label org.capsa.bench=image
        umoci gc --layout "$dir"
        rm -rf "$tmp"
}
