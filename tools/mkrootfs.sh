#!/bin/sh
# Build a minimal busybox root filesystem for capsa containers.
#   tools/mkrootfs.sh DIR [--with-checker PATH]
# Uses busybox-static (/bin/busybox); every applet becomes a symlink in DIR/bin.
# Idempotent: re-running over an existing DIR refreshes it.
set -eu

usage() { echo "usage: $0 DIR [--with-checker PATH]" >&2; exit 2; }
[ $# -ge 1 ] || usage
dir=$1; shift
checker=
while [ $# -gt 0 ]; do
        case $1 in
        --with-checker) [ $# -ge 2 ] || usage; checker=$2; shift 2 ;;
        *) usage ;;
        esac
done

bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || { echo "$0: $bb not found (apt-get install busybox-static)" >&2; exit 1; }
if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked' && ldd "$bb" >/dev/null 2>&1; then
        echo "$0: $bb is not statically linked (install busybox-static)" >&2; exit 1
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin etc proc sys dev tmp root home/user run var/tmp usr/bin usr/sbin
chmod 1777 tmp var/tmp
cp -f "$bb" bin/busybox
chmod 0755 bin/busybox
# One symlink per applet (what `busybox --install -s` does, but relative and into our DIR).
for applet in $("$bb" --list); do
        [ "$applet" = busybox ] && continue
        ln -sfn busybox "bin/$applet"
done

cat > etc/passwd <<'PW'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > etc/group <<'GR'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
GR
echo capsa > etc/hostname
: > etc/hosts
echo 'hosts: files' > etc/nsswitch.conf
chown 1000:1000 home/user

if [ -n "$checker" ]; then
        cp -f "$checker" bin/capsa-checker
        chmod 0755 bin/capsa-checker
fi
