/* sys: the syscall seam.  Every call that changes the host or a container's view of it (mounts,
 * pivot_root, namespaces, clones, directories, cgroup control files) goes through one table of
 * function pointers, so that unit tests can swap in a fake (tests/unit/fake-sys.h) that records
 * what was made and undone and fails any call on demand, without root.
 *
 * Each op keeps the real call's contract: it returns what the syscall returns (-1 and errno on
 * failure), never a negative errno.  The wrappers below are static inline: one indirect call.
 * `sys` points at sys_real unless a test replaces it; production code never assigns it.
 *
 * Kernel interfaces: mount(2), umount2(2), pivot_root(2), chroot(2), setns(2), unshare(2),
 * clone(2) and clone3(2) without a new stack (fork semantics), openat2(2), open_tree(2),
 * move_mount(2), mount_setattr(2), mkdirat(2), unlinkat(2), and open+write of a cgroupfs file. */
#pragma once

#include <sched.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <linux/openat2.h>
#include <linux/sched.h>

struct sys_ops {
        int (*mount)(const char *source, const char *target, const char *fstype,
                     unsigned long flags, const void *data);
        int (*umount2)(const char *target, int flags);
        int (*pivot_root)(const char *new_root, const char *put_old);
        int (*chroot)(const char *path);
        int (*setns)(int fd, int nstype);
        int (*unshare)(int flags);
        /* clone(2) with flags (namespace flags | exit signal) and no new stack: returns twice,
         * like fork(). */
        pid_t (*clone)(unsigned long flags);
        /* clone3(2) without a stack in args: returns twice, like fork(). */
        long (*clone3)(struct clone_args *args, size_t size);
        int (*openat2)(int dirfd, const char *path, struct open_how *how, size_t size);
        int (*open_tree)(int dirfd, const char *path, unsigned flags);
        int (*move_mount)(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                          unsigned flags);
        int (*mount_setattr)(int dirfd, const char *path, unsigned flags, struct mount_attr *attr,
                             size_t size);
        /* Directories: the cgroup directories are made and removed through these too
         * (unlinkat with AT_REMOVEDIR is rmdir). */
        int (*mkdirat)(int dirfd, const char *path, mode_t mode);
        int (*unlinkat)(int dirfd, const char *path, int flags);
        /* The state directory's files: exec.fifo (mknodat with S_IFIFO) and the rename that
         * makes an atomic write visible. */
        int (*mknodat)(int dirfd, const char *path, mode_t mode, dev_t dev);
        int (*renameat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
        /* Writes buf to the existing file dirfd/file (a cgroupfs control file) with one
         * write(2), retried on EINTR: returns the byte count written (short when the kernel
         * took less), or -1 and errno from the open or the write. */
        ssize_t (*cg_write)(int dirfd, const char *file, const char *buf, size_t len);
};

/* The real system calls. */
extern const struct sys_ops sys_real;
/* The table in use: &sys_real unless a unit test points it at its own. */
extern const struct sys_ops *sys;

static inline int sys_mount(const char *source, const char *target, const char *fstype,
                            unsigned long flags, const void *data)
{
        return sys->mount(source, target, fstype, flags, data);
}

static inline int sys_umount2(const char *target, int flags)
{
        return sys->umount2(target, flags);
}

static inline int sys_pivot_root(const char *new_root, const char *put_old)
{
        return sys->pivot_root(new_root, put_old);
}

static inline int sys_chroot(const char *path)
{
        return sys->chroot(path);
}

static inline int sys_setns(int fd, int nstype)
{
        return sys->setns(fd, nstype);
}

static inline int sys_unshare(int flags)
{
        return sys->unshare(flags);
}

static inline pid_t sys_clone(unsigned long flags)
{
        return sys->clone(flags);
}

static inline long sys_clone3(struct clone_args *args, size_t size)
{
        return sys->clone3(args, size);
}

static inline int sys_openat2(int dirfd, const char *path, struct open_how *how, size_t size)
{
        return sys->openat2(dirfd, path, how, size);
}

static inline int sys_open_tree(int dirfd, const char *path, unsigned flags)
{
        return sys->open_tree(dirfd, path, flags);
}

static inline int sys_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                                 const char *to_path, unsigned flags)
{
        return sys->move_mount(from_dirfd, from_path, to_dirfd, to_path, flags);
}

static inline int sys_mount_setattr(int dirfd, const char *path, unsigned flags,
                                    struct mount_attr *attr, size_t size)
{
        return sys->mount_setattr(dirfd, path, flags, attr, size);
}

static inline int sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
        return sys->mkdirat(dirfd, path, mode);
}

static inline int sys_unlinkat(int dirfd, const char *path, int flags)
{
        return sys->unlinkat(dirfd, path, flags);
}

static inline int sys_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
        return sys->mknodat(dirfd, path, mode, dev);
}

static inline int sys_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
        return sys->renameat(olddirfd, oldpath, newdirfd, newpath);
}

static inline ssize_t sys_cg_write(int dirfd, const char *file, const char *buf, size_t len)
{
        return sys->cg_write(dirfd, file, buf, len);
}
