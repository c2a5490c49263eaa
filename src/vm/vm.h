/* The KVM mode: the same OCI bundle inside a QEMU microvm whose in-guest agent is capsa.
 *
 * Host side: the `vm` launcher (launcher.c in container/ lists it) starts a monitor process,
 * the container's stand-in on the host, which runs virtiofsd and QEMU in the container's cgroup
 * and speaks to the agent over one virtio-serial port.  Guest side: capsa is the initramfs's
 * /init; it loads the modules, mounts the shared rootfs and builds the container with the same
 * code as on the host.  assets.c makes the guest kernel and the initramfs, once, in a cache. */
#pragma once

#include "util/util.h"

/* ---- assets (assets.c): the guest kernel and initramfs, made once and cached --------------- */
/* The cache directory: $CAPSA_VM_CACHE, else /var/cache/capsa/vm. */
const char *vm_cache_dir(void);
struct vm_assets {
        char *kernel; /* what QEMU boots: a PVH vmlinux (extracted, cached) or the given kernel */
        char *initrd; /* the initramfs: the user's initrd (if any) followed by capsa's archive */
        char *kver;   /* the kernel's release (the modules' directory), or NULL if unknown */
};
/* The assets for a VM: kernel_path is the vm object's kernel.path (NULL: Debian's newest
 * /boot/vmlinuz-* that has /lib/modules/<release>); user_initrd is kernel.initrd (NULL: none).
 * Errors name the file. */
int vm_assets_get(const char *kernel_path, const char *user_initrd, struct vm_assets *ret,
                  struct cx_error **err);
void vm_assets_clear(struct vm_assets *a);
/* The modules the guest loads, in dependency order, as the initramfs lists them
 * (/capsa/modules: one path per line, relative to /lib/modules/<release>/). */
#define VM_INITRAMFS_MODULES "/capsa/modules"
