/* vm/assets: the pieces behind vm_assets_get (assets.c): the guest kernel (assets-kernel.c), the
 * ELF facts read from capsa and from kernels (assets-elf.c), a newc cpio writer (assets-cpio.c)
 * and the initramfs it writes (assets-initramfs.c). */
#pragma once

#include "vm/vm.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* vm_assets_get with the process whose binary and shared libraries the initramfs packs named by
 * its /proc directory: "/proc/self" for capsa itself, another capsa's /proc/<pid> in tests (whose
 * own binary is not capsa). */
int vm_assets_get_for(const char *proc, const char *kernel_path, const char *user_initrd,
                      struct vm_assets *ret, struct cx_error **err);

/* ---- cache keys: FNV-1a, 64 bits (a name for a cache entry, not a defence: the cache is root's)
 */
#define VM_HASH_INIT 0xcbf29ce484222325ULL
uint64_t vm_hash(uint64_t h, const void *data, size_t len);
/* A file's identity: device, inode, size and modification time (a replaced file changes it). */
uint64_t vm_hash_identity(uint64_t h, const struct stat *st);

/* ---- ELF (assets-elf.c); 64-bit little-endian files, the only kind an x86_64 host runs ---- */
bool vm_elf_is(int fd);
/* The NT_GNU_BUILD_ID note's bytes, else a hash of the whole file: what identifies a build. */
int vm_elf_build_key(int fd, uint64_t *ret);
/* The PT_INTERP path (the dynamic loader), or NULL for a static binary. */
int vm_elf_interp(int fd, char **ret);
/* A shared library's DT_SONAME (the name ld.so looks for), or NULL. */
char *vm_elf_soname(int fd);
/* Whether a kernel carries Xen's PHYS32_ENTRY note: the PVH entry QEMU's -kernel needs. */
bool vm_elf_has_pvh(int fd);
/* Shortens each PT_LOAD's file size to its data before a tail of zeros (.bss and the scratch
 * area behind it are 21 MiB of zeros in Debian's vmlinux): the loader zero-fills up to the
 * memory size, and QEMU, which keeps the kernel file mapped for resets, touches less of it. */
int vm_elf_trim_zero_tails(int fd);

/* ---- the guest kernel (assets-kernel.c) --------------------------------------------------- */
struct vm_kernel {
        char *path;         /* the file as found or given */
        int fd;             /* open on it */
        struct stat st;     /* its identity */
        bool is_default;    /* found in /boot rather than given */
        bool elf;           /* an ELF vmlinux; else a bzImage */
        char *release;      /* its release (the modules' directory); NULL: unknown */
        bool has_modules;   /* /lib/modules/<release>/modules.dep exists */
        uint64_t xz_offset; /* a bzImage's xz payload: offset and length (0: none) */
        uint64_t xz_length;
};
/* Opens and identifies a kernel: path NULL is Debian's newest /boot/vmlinuz-* with modules.
 * A file that is neither an ELF nor a bzImage is an error naming it. */
int vm_kernel_open(const char *path, struct vm_kernel *k, struct cx_error **err);
void vm_kernel_done(struct vm_kernel *k);
/* Whether the extracted vmlinux can boot through PVH, from /boot/config-<release>: 1 yes, 0 no,
 * -ENOENT when there is no config to ask (then only the extracted ELF's notes can tell). */
int vm_kernel_config_pvh(const struct vm_kernel *k);
/* Decompresses the bzImage's xz payload into out (an ELF, checked). */
int vm_kernel_extract(const struct vm_kernel *k, int out, struct cx_error **err);
/* Runs `tool -dc` with stdin from in (at its current offset) and stdout to out; what names the
 * input in errors.  Decompressors run as subprocesses: capsa links no compression library. */
int vm_decompress(const char *tool, int in, int out, const char *what, struct cx_error **err);

/* ---- newc cpio (assets-cpio.c) ------------------------------------------------------------ */
struct cpio {
        int fd;           /* the archive, written sequentially */
        const char *path; /* its name, for errors */
        uint64_t off;
        uint32_t ino;
        char **names; /* the entries so far: each once */
};
void cpio_done(struct cpio *c);
int cpio_dir(struct cpio *c, const char *name, struct cx_error **err);
/* A regular file with size bytes read from src (from offset 0). */
int cpio_file(struct cpio *c, const char *name, mode_t mode, int src, uint64_t size,
              struct cx_error **err);
int cpio_data(struct cpio *c, const char *name, const char *data, struct cx_error **err);
int cpio_symlink(struct cpio *c, const char *name, const char *target, struct cx_error **err);
/* A host file at the same path in the archive, with its parents, and every symlink met on the
 * way as a symlink with its target added too: the archive resolves the path the way the host
 * does (/lib64 -> usr/lib64 on a merged-/usr Debian). */
int cpio_host_path(struct cpio *c, const char *path, struct cx_error **err);
int cpio_trailer(struct cpio *c, struct cx_error **err);

/* ---- the initramfs (assets-initramfs.c) --------------------------------------------------- */
/* Writes capsa's archive to out: proc's binary as /init, its libraries and loader, release's
 * modules (release NULL: none) and their list at VM_INITRAMFS_MODULES. */
int vm_initramfs_write(int out, const char *out_path, const char *proc, const char *release,
                       struct cx_error **err);
