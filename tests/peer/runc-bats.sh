#!/bin/bash
# Run runc's own integration suite (tests/integration/*.bats of an opencontainers/runc checkout,
# written against v1.1.5) against a runtime binary: runc itself or capsa.
#
#   tests/peer/runc-bats.sh RUNC_CHECKOUT [RUNTIME_BINARY] [BATS_ARGS... | FILE.bats...]
#
#   RUNC_CHECKOUT   a work tree of runc (NOT inside this repository), e.g.
#                   git --git-dir=<runc.git> worktree add /tmp/peer/runc v1.1.5
#   RUNTIME_BINARY  default /usr/sbin/runc; pass build/capsa to test capsa
#   BATS_ARGS       passed to bats (e.g. -f 'exec.*user'); arguments ending in .bats select test
#                   files (relative to tests/integration/ or absolute) instead of the whole suite
#
# Environment:
#   PEER_CACHE  where the offline-built test images are kept (default /var/cache/capsa-peer)
#   TAP_OUT     file to save the TAP stream to (default /tmp/peer/bats-<runtime name>.tap)
#   FENCE       command that fences the run off (default /work/shared/tools/fence when it exists,
#               else `unshare --pid --fork --mount-proc --propagation unchanged`)
#
# What it does: installs what is missing (apt-get), builds runc's test helpers (recvtty,
# sd-helper, seccompagent) with Go from the checkout's vendored sources, builds the two rootfs
# tarballs the suite expects (busybox from busybox-static, a Debian rootfs via debootstrap)
# without touching the internet beyond the Debian archive, drops them where get-images.sh looks
# so it never downloads, and runs `bats -t` as root under a pty (`script`, like runc's own CI:
# several tests run containers with terminal:true in the foreground) inside the fence.
set -euo pipefail

die() {
	echo "runc-bats: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: $0 RUNC_CHECKOUT [RUNTIME_BINARY] [BATS_ARGS...]"
[ "$(id -u)" = 0 ] || die "must run as root"
checkout=$(readlink -f "$1")
shift
runtime=/usr/sbin/runc
if [ $# -ge 1 ] && [[ "$1" != -* ]] && [[ "$1" != *.bats ]]; then
	runtime=$1
	shift
fi
runtime=$(readlink -f "$runtime")
[ -x "$runtime" ] || die "runtime binary $runtime is not executable"
itest=$checkout/tests/integration
[ -f "$itest/helpers.bash" ] || die "$checkout is not a runc checkout (no tests/integration/helpers.bash)"
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../..")
case "$checkout/" in "$repo"/*) die "the runc checkout must live outside this repository" ;; esac

PEER_CACHE=${PEER_CACHE:-/var/cache/capsa-peer}
TAP_OUT=${TAP_OUT:-/tmp/peer/bats-$(basename "$runtime").tap}
mkdir -p "$PEER_CACHE" "$(dirname "$TAP_OUT")"

# --- packages --------------------------------------------------------------------------------
need=()
declare -A cmd_pkg=(
	[bats]=bats [jq]=jq [gawk]=gawk [go]=golang-go [gcc]=gcc [debootstrap]=debootstrap
	[python3]=python3 [losetup]=mount [nsenter]=util-linux [ip]=iproute2 [xz]=xz-utils
	[pkg-config]=pkg-config
)
for c in "${!cmd_pkg[@]}"; do
	command -v "$c" >/dev/null || need+=("${cmd_pkg[$c]}")
done
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev) # dev.bats: gcc -static
if [ ${#need[@]} -gt 0 ]; then
	echo "runc-bats: installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- runc's helper programs ------------------------------------------------------------------
# seccompagent is a stub printing "Not supported" unless built with the seccomp tag (runc's
# Makefile passes it); with the stub, the seccomp-notify tests hang in the notifying syscall.
for c in recvtty sd-helper seccompagent; do
	bin=$checkout/contrib/cmd/$c/$c
	if [ -x "$bin" ] && ! grep -q 'compile with build tag: seccomp' "$bin"; then
		continue
	fi
	echo "runc-bats: building $c"
	(cd "$checkout" && GOFLAGS=-mod=vendor CGO_ENABLED=1 go build -buildvcs=false -tags seccomp \
		-o "$bin" "./contrib/cmd/$c")
done

# --- images ----------------------------------------------------------------------------------
arch=$(go env GOARCH)
busybox_tar=$PEER_CACHE/busybox-$arch.tar.xz
debian_tar=$PEER_CACHE/debian-$arch.tar.xz

if [ ! -s "$busybox_tar" ]; then
	echo "runc-bats: building $busybox_tar from busybox-static"
	tmp=$(mktemp -d "$PEER_CACHE/busybox.XXXXXX")
	(
		cd "$tmp"
		chmod 755 .
		mkdir -p bin dev etc home proc root sys tmp usr/sbin var/spool/mail var/www
		chmod 1777 tmp
		chmod 700 root
		cp /bin/busybox bin/busybox
		for a in $(bin/busybox --list); do
			[ "$a" = busybox ] || ln -sf busybox "bin/$a"
		done
		# the same accounts as docker-library's busybox image
		cat >etc/passwd <<-'EOF'
			root:x:0:0:root:/root:/bin/sh
			daemon:x:1:1:daemon:/usr/sbin:/bin/false
			bin:x:2:2:bin:/bin:/bin/false
			sys:x:3:3:sys:/dev:/bin/false
			sync:x:4:100:sync:/bin:/bin/sync
			mail:x:8:8:mail:/var/spool/mail:/bin/false
			www-data:x:33:33:www-data:/var/www:/bin/false
			operator:x:37:37:Operator:/var:/bin/false
			nobody:x:65534:65534:nobody:/home:/bin/false
		EOF
		cat >etc/group <<-'EOF'
			root:x:0:
			daemon:x:1:
			bin:x:2:
			sys:x:3:
			adm:x:4:
			tty:x:5:
			disk:x:6:
			lp:x:7:
			mail:x:8:
			kmem:x:9:
			wheel:x:10:root
			cdrom:x:11:
			dialout:x:18:
			floppy:x:19:
			video:x:28:
			audio:x:29:
			tape:x:32:
			www-data:x:33:
			operator:x:37:
			utmp:x:43:
			plugdev:x:46:
			staff:x:50:
			lock:x:54:
			netdev:x:82:
			users:x:100:
			nogroup:x:65534:
		EOF
		: >etc/shadow
		echo 'hosts: files dns' >etc/nsswitch.conf
	)
	tar --numeric-owner -C "$tmp" -cf - . | xz -T0 -1 >"$busybox_tar.part"
	mv "$busybox_tar.part" "$busybox_tar"
	rm -rf "$tmp"
fi

if [ ! -s "$debian_tar" ]; then
	echo "runc-bats: building $debian_tar with debootstrap (bookworm, minbase)"
	tmp=$PEER_CACHE/debian-root.tmp
	rm -rf "$tmp"
	debootstrap --variant=minbase bookworm "$tmp" http://deb.debian.org/debian >"$PEER_CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $PEER_CACHE/debootstrap.log"
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
	tar --numeric-owner -C "$tmp" -cf - . | xz -T0 -1 >"$debian_tar.part"
	mv "$debian_tar.part" "$debian_tar"
	rm -rf "$tmp"
fi
# get-images.sh downloads only when these files are missing
ln -sf "$busybox_tar" "$itest/testdata/busybox-$arch.tar.xz"
ln -sf "$debian_tar" "$itest/testdata/debian-$arch.tar.xz"

# --- run -------------------------------------------------------------------------------------
files=()
bats_args=()
for a in "$@"; do
	if [[ "$a" == *.bats ]]; then
		[[ "$a" == /* ]] || a=$itest/$a
		files+=("$a")
	else
		bats_args+=("$a")
	fi
done
[ ${#files[@]} -gt 0 ] || files=("$itest")

if [ -z "${FENCE:-}" ]; then
	if [ -x /work/shared/tools/fence ]; then
		FENCE=/work/shared/tools/fence
	else
		FENCE="unshare --pid --fork --mount-proc --propagation unchanged"
	fi
fi

# A pty for bats (runc's CI uses `script -e -c`). util-linux 2.38's `script` spins without
# draining the pty once its own stdin is at EOF (as under CI or nohup), which blocks bats on a
# full tty; this runner copies the pty to stdout and never reads stdin.
ptyrun='
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    os.write(1, data.replace(b"\r\n", b"\n"))
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
'
echo "runc-bats: RUNC=$runtime, TAP -> $TAP_OUT"
# runc's helpers `mkdir -p /sys/fs/cgroup/SUBSYS/...` for every controller in /proc/cgroups,
# mounted or not: on this host that makes empty directories (net_cls, net_prio, perf_event,
# hugetlb) in the /sys/fs/cgroup tmpfs, which the fence's mount namespace shares.  Remove the
# empty ones the run made (never a mount point, never one that was there before).
cg_before=$(ls -A /sys/fs/cgroup)
cleanup_cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/*; do
		grep -qxF "$(basename "$d")" <<<"$cg_before" && continue
		mountpoint -q "$d" && continue
		find "$d" -depth -type d -empty -delete 2>/dev/null
	done
	# the suite's parent cgroup, which runc (and capsa, as runc) leaves in the unified
	# hierarchy of a hybrid host: rmdir refuses any cgroup that still has processes
	for d in /sys/fs/cgroup/*/runc-cgroups-integration-test; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}
trap cleanup_cgroup_dirs EXIT
rc=0
# shellcheck disable=SC2086
RUNC=$runtime $FENCE python3 -c "$ptyrun" bats -t "${bats_args[@]}" "${files[@]}" </dev/null |
	tee "$TAP_OUT" || rc=$?
echo "runc-bats: $(grep -c '^ok' "$TAP_OUT") ok, $(grep -c '^not ok' "$TAP_OUT") not ok," \
	"$(grep -c '^ok.*# skip' "$TAP_OUT") skipped (TAP in $TAP_OUT)"
exit $rc
