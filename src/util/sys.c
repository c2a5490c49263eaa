/* The real side of the syscall seam (sys.h): glibc's wrappers where glibc has one with the
 * same signature, syscall(2) for the rest. */
#include "util/sys.h"

#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int real_pivot_root(const char *new_root, const char *put_old)
{
        return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static pid_t real_clone(unsigned long flags)
{
        return (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
}

static long real_clone3(struct clone_args *args, size_t size)
{
        return syscall(SYS_clone3, args, size);
}

static int real_openat2(int dirfd, const char *path, struct open_how *how, size_t size)
{
        return (int)syscall(SYS_openat2, dirfd, path, how, size);
}

static ssize_t real_cg_write(int dirfd, const char *file, const char *buf, size_t len)
{
        int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        ssize_t n;
        do
                n = write(fd, buf, len);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        close(fd);
        errno = saved;
        return n;
}

const struct sys_ops sys_real = {
    .mount = mount,
    .umount2 = umount2,
    .pivot_root = real_pivot_root,
    .chroot = chroot,
    .setns = setns,
    .unshare = unshare,
    .clone = real_clone,
    .clone3 = real_clone3,
    .openat2 = real_openat2,
    .open_tree = open_tree,
    .move_mount = move_mount,
    .mount_setattr = mount_setattr,
    .mkdirat = mkdirat,
    .unlinkat = unlinkat,
    .mknodat = mknodat,
    .renameat = renameat,
    .cg_write = real_cg_write,
};

const struct sys_ops *sys = &sys_real;
