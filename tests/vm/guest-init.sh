#!/bin/bash
# Stage 2 of the VM tier's guest (see vm-run): PID 1 in the overlay of the host's root.
# Sets up the mounts a container runtime needs, enables every cgroup v2 controller, runs
# OUT/cmd.sh with its output in OUT/output (and on the console), writes its status to OUT/rc
# and powers off.  With capsa_addr=CIDR on the kernel command line (vm-run --addr), the
# guest's network card (virtio-net, the first link but lo) is brought up with that address.
#
# With capsa_systemd=1 on the kernel command line, PID 1 becomes systemd instead: this script
# mounts only the out share, writes capsa-vm.service (which calls this script again with
# --run OUT) and execs /lib/systemd/systemd --unit=capsa-vm.service.  systemd mounts /run,
# /dev/pts, /dev/shm and cgroup2 itself and owns the cgroup tree (delegation is its business).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

# The network card, when vm-run gave one: eth0 (or whatever the first link but lo is called)
# up, with the address of capsa_addr=.
setup_nic() {
        local addr dev
        addr=$(tr ' ' '\n' < /proc/cmdline | sed -n 's/^capsa_addr=//p')
        [ -n "$addr" ] || return 0
        for dev in /sys/class/net/*; do
                dev=${dev##*/}
                [ "$dev" = lo ] || break
        done
        if [ "$dev" = lo ] || ! ip link set "$dev" up || ! ip addr add "$addr" dev "$dev"; then
                echo "vm-init: no network card for capsa_addr=$addr" >&2
                return 1
        fi
}

run_command() {
        local out=$1
        {
                echo "vm-init: kernel $(uname -r), cgroup2 controllers:" \
                        "$(cat /sys/fs/cgroup/cgroup.controllers)"
                bash "$out/cmd.sh"
                echo $? > "$out/rc.tmp"
        } 2>&1 | tee "$out/output" > /dev/console
        mv "$out/rc.tmp" "$out/rc"
        sync
        /bin/busybox poweroff -f
        sleep 5
        echo o > /proc/sysrq-trigger
}

if [ "$1" = --run ]; then # under systemd: capsa-vm.service
        ip link set lo up 2>/dev/null || true
        setup_nic
        run_command "$2"
        exit 0
fi

out=$1
mkdir -p "$out"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out "$out"
hostname capsa-vm

if grep -qw capsa_systemd=1 /proc/cmdline; then
        cat > /etc/systemd/system/capsa-vm.service <<UNIT
[Unit]
Description=capsa VM tier command
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/bin/bash $(printf '%q' "$0") --run $(printf '%q' "$out")
StandardInput=null
StandardOutput=null
StandardError=null
UNIT
        exec /lib/systemd/systemd --unit=capsa-vm.service --log-level=warning \
                --show-status=false
fi

# /tmp stays the overlay's (its upper layer is a tmpfs already): a checkout under the host's
# /tmp must stay visible to the command.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx 2>/dev/null
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
ctrls=$(cat /sys/fs/cgroup/cgroup.controllers)
echo "$ctrls" | sed 's/\([a-z_]\+\)/+\1/g' > /sys/fs/cgroup/cgroup.subtree_control
ip link set lo up 2>/dev/null || true
setup_nic > /dev/console 2>&1
run_command "$out"
