#!/bin/bash
# Run the OCI runtime-tools validation suite (validation/*) against a runtime.
#
#   tests/peer/runtime-tools.sh SUITE_CHECKOUT [RUNTIME_BINARY]
#
# SUITE_CHECKOUT is a work tree of opencontainers/runtime-tools (kept outside this repo; nothing
# from it is committed here). RUNTIME_BINARY defaults to build/capsa of this repo; pass
# /usr/sbin/runc to measure runc the same way.
#
# The script installs what is missing (Go >= 1.21 from bookworm-backports; Go modules come only
# from the checkout's vendor/ directory), builds runtimetest and every validation program, then
# runs each program with RUNTIME=<binary>, each inside ../shared/tools/fence (private pid
# namespace, child memory/pids cgroups) and in its own private mount namespace, under a timeout.
# It prints one line per program (pass / fail / skip) and a summary line.
#
# Environment:
#   RT_OUT=DIR        keep each program's raw TAP output in DIR/<program>.out (default: a temp dir)
#   RT_TIMEOUT=SECS   per-program timeout (default 120)
#   RT_ONLY="a b"     run only these programs (names as in the table, e.g. "killsig state")
#   RT_REBUILD=1      rebuild the validation programs even if they exist
set -u

die() {
        echo "runtime-tools.sh: $*" >&2
        exit 2
}

[ $# -ge 1 ] || die "usage: $0 SUITE_CHECKOUT [RUNTIME_BINARY]"
[ "$(id -u)" = 0 ] || die "must run as root"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
suite=$(cd "$1" && pwd) || die "no suite checkout at $1"
runtime=${2:-$repo/build/capsa}
runtime=$(command -v "$runtime") || die "runtime binary not found: ${2:-$repo/build/capsa}"
case $runtime in /*) ;; *) runtime=$(pwd)/$runtime ;; esac
fence=${FENCE:-$repo/../shared/tools/fence}
[ -x "$fence" ] || fence=/work/shared/tools/fence
[ -x "$fence" ] || die "fence not found at $fence"
timeout_s=${RT_TIMEOUT:-120}
[ -d "$suite/validation/util" ] && [ -f "$suite/go.mod" ] || die "$suite is not a runtime-tools checkout"
[ -d "$suite/vendor" ] || die "$suite has no vendor/ directory: Go modules cannot be fetched here"

# --- install what is missing -------------------------------------------------------------------
go_ok() { # $1: go binary; true if it is >= 1.21
        local v
        v=$("$1" env GOVERSION 2>/dev/null) || return 1
        v=${v#go}
        [ "${v%%.*}" -gt 1 ] || { v=${v#1.}; [ "${v%%.*}" -ge 21 ]; }
}
gobin=
for g in "${GO:-}" /usr/lib/go-1.22/bin/go "$(command -v go 2>/dev/null)"; do
        [ -n "$g" ] && [ -x "$g" ] && go_ok "$g" && { gobin=$g; break; }
done
need_pkgs=()
[ -n "$gobin" ] || need_pkgs+=(golang-1.22-go)
command -v unshare >/dev/null || need_pkgs+=(util-linux)
command -v timeout >/dev/null || need_pkgs+=(coreutils)
command -v tar >/dev/null || need_pkgs+=(tar)
if [ ${#need_pkgs[@]} -gt 0 ]; then
        if [ -z "$gobin" ] && [ ! -e /etc/apt/sources.list.d/bookworm-backports.list ]; then
                echo "deb http://deb.debian.org/debian bookworm-backports main" \
                        >/etc/apt/sources.list.d/bookworm-backports.list
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null || die "apt-get update failed"
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
                die "apt-get install ${need_pkgs[*]} failed"
        [ -n "$gobin" ] || gobin=/usr/lib/go-1.22/bin/go
        go_ok "$gobin" || die "no usable Go >= 1.21 after installing golang-1.22-go"
fi

# --- build -------------------------------------------------------------------------------------
export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GO111MODULE=on
export GOCACHE=${GOCACHE:-/var/cache/capsa-peer-gocache}
cd "$suite" || die "cannot cd to $suite"
version=$(cat VERSION 2>/dev/null || echo unknown)
mapfile -t progs < <(find ./validation -name '*.go' ! -path '*/util/*' | sort | sed 's/\.go$//')
[ ${#progs[@]} -gt 0 ] || die "no validation programs found"
if [ "${RT_REBUILD:-0}" = 1 ] || [ ! -x runtimetest ]; then
        echo "building runtimetest" >&2
        "$gobin" build -tags "netgo osusergo" \
                -ldflags "-extldflags -static -X main.version=$version" \
                -o runtimetest ./cmd/runtimetest || die "building runtimetest failed"
fi
for p in "${progs[@]}"; do
        if [ "${RT_REBUILD:-0}" = 1 ] || [ ! -x "$p.t" ] || [ "$p.go" -nt "$p.t" ]; then
                echo "building ${p#./validation/}.t" >&2
                "$gobin" build -ldflags "-X main.version=$version" -o "$p.t" "$p.go" ||
                        die "building $p failed"
        fi
done

# --- run ---------------------------------------------------------------------------------------
out=${RT_OUT:-$(mktemp -d /tmp/runtime-tools-out.XXXXXX)}
mkdir -p "$out"
echo "runtime: $runtime" >"$out/RUNTIME"
"$runtime" --version >>"$out/RUNTIME" 2>&1 || true
npass=0 nfail=0 nskip=0 failed=()
# The linux_cgroups_* programs make cgroups at the fixed path /testdir/cgrouptest and leave
# them: remove them (rmdir: only empty cgroups, deepest first) after each program.
remove_test_cgroups() {
        find /sys/fs/cgroup -mindepth 2 -maxdepth 8 -type d -path '*/testdir*' 2>/dev/null |
                sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
}
trap remove_test_cgroups EXIT
printf '%-42s %s\n' PROGRAM RESULT
for p in "${progs[@]}"; do
        name=${p##*/}
        if [ -n "${RT_ONLY:-}" ] && [[ " $RT_ONLY " != *" $name "* ]]; then
                continue
        fi
        log=$out/$name.out
        start=$EPOCHREALTIME
        # fence: private pid namespace (leftover container processes die with it) and child
        # cgroups; unshare -m: a throwaway mount namespace with private propagation, so a
        # runtime that mounts or re-roots in its caller's namespace cannot reach the host's.
        RUNTIME=$runtime "$fence" unshare -m --propagation private \
                timeout -k 10 "$timeout_s" "$p.t" >"$log" 2>&1
        rc=$?
        remove_test_cgroups
        secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
        echo "# exit status: $rc, seconds: $secs" >>"$log"
        nok=$(grep -c '^ok ' "$log")
        nnot=$(grep -c '^not ok ' "$log")
        nskipped=$(grep -Ec '^ok .*# *(skip|SKIP)' "$log")
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                res="fail (timeout after ${timeout_s}s)"
        elif [ "$rc" != 0 ] || [ "$nnot" -gt 0 ]; then
                res="fail (exit $rc, $nnot of $((nok + nnot)) TAP tests not ok)"
        elif [ "$nok" -eq 0 ] && grep -q '^ *"error": ' "$log"; then
                # hooks/prestart/poststart/...: these report a failure only as an "error"
                # diagnostic under an empty plan (1..0) and exit 0.
                res="fail (error diagnostic, no TAP test)"
        elif [ "$nok" -eq 0 ]; then
                # *_fail programs pass by exiting 0 (the runtime refused the config).
                res="pass (exit 0, no TAP test)"
        elif [ "$nskipped" -eq "$nok" ]; then
                res=skip
        else
                res=pass
                [ "$nskipped" -gt 0 ] && res="pass ($nskipped of $nok skipped)"
        fi
        case $res in
        pass*) npass=$((npass + 1)) ;;
        skip*) nskip=$((nskip + 1)) ;;
        *) nfail=$((nfail + 1)) failed+=("$name") ;;
        esac
        printf '%-42s %s\n' "$name" "$res"
done
total=$((npass + nfail + nskip))
echo "SUMMARY runtime=$runtime passed=$npass failed=$nfail skipped=$nskip total=$total raw=$out"
[ ${#failed[@]} -eq 0 ] || echo "FAILED: ${failed[*]}"
[ "$nfail" -eq 0 ]
