/* Protection of the capsa binary against a container that overwrites it (CVE-2019-5736).
 *
 * A process inside a container can reach capsa's binary through /proc/PID/exe of a capsa
 * process that joined the container (the init before execve, `exec`), keep it open with O_PATH
 * and reopen it for writing once capsa exited.  runc's first fix copied the binary into a sealed
 * memfd on every start: safe, but it costs the binary's size in memory (RSS and memfd pages)
 * and a copy per start.  capsa instead re-executes itself from a private, read-only overlayfs
 * mount of its own directory, created with the new mount API and never attached anywhere
 * (fsopen/fsmount): nobody can reach that mount by a path, an overlay without an upper layer
 * refuses every write with EROFS, and the pages are the page cache of the original file, so the
 * re-exec costs one execve and no memory.  Where overlayfs cannot be mounted (no CAP_SYS_ADMIN:
 * rootless) the binary is copied into a sealed memfd — only when the caller can write it at
 * all: a binary its caller cannot write, a container of that caller cannot write either.
 * A binary that already runs from a read-only mount or a sealed memfd is not re-executed.
 *
 * Kernel interfaces: fsopen(2), fsconfig(2), fsmount(2), execveat(2), memfd_create(2),
 * fcntl(F_ADD_SEALS), sendfile(2), fstatvfs(3). */
#include "security/security.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

extern char **environ;

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static bool exe_is_protected(int exefd)
{
        struct statvfs sv;
        if (fstatvfs(exefd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
                return true;
        int seals = fcntl(exefd, F_GET_SEALS);
        return seals >= 0 && (seals & SEALS) == SEALS;
}

/* Escapes ':' ',' '\' for an overlayfs "lowerdir" option. */
static char *overlay_escape(const char *s)
{
        char *r = xmalloc(2 * strlen(s) + 1), *p = r;
        for (; *s; s++) {
                if (*s == ':' || *s == ',' || *s == '\\')
                        *p++ = '\\';
                *p++ = *s;
        }
        *p = '\0';
        return r;
}

/* An O_PATH fd of the binary inside a detached read-only overlay of its directory, or -errno. */
static int overlay_exe(const char *exe)
{
        _cleanup_free_ char *dir = xstrdup(exe);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return -EINVAL;
        const char *name = exe + (slash - dir) + 1;
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';

        _cleanup_close_ int fsfd = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
        if (fsfd < 0)
                return -errno;
        /* Without an upper layer overlayfs is read-only but wants two lower layers: the second
         * is an empty detached tmpfs, reached through its fd. */
        _cleanup_close_ int tfs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
        if (tfs < 0 || syscall(SYS_fsconfig, tfs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        _cleanup_close_ int empty = (int)syscall(SYS_fsmount, tfs, FSMOUNT_CLOEXEC, 0);
        if (empty < 0)
                return -errno;
        _cleanup_free_ char *esc = overlay_escape(dir);
        _cleanup_free_ char *lower = xasprintf("%s:/proc/self/fd/%d", esc, empty);
        if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
            syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return -errno;
        _cleanup_close_ int mfd =
            (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV);
        if (mfd < 0)
                return -errno;
        /* the mount stays alive as long as this fd (and then the running image) holds it */
        int fd = openat(mfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
}

static int memfd_exe(void)
{
        _cleanup_close_ int mfd = memfd_create("capsa", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (mfd < 0)
                return -errno;
        _cleanup_close_ int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (src < 0)
                return -errno;
        struct stat st;
        if (fstat(src, &st) < 0)
                return -errno;
        for (off_t off = 0; off < st.st_size;) {
                ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
        }
        if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
                return -errno;
        return TAKE_FD(mfd);
}

int sec_exe_seal(char **argv, struct cx_error **err)
{
        _cleanup_close_ int exefd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (exefd < 0)
                return cx_error_set(err, errno, "open /proc/self/exe");
        if (exe_is_protected(exefd))
                return 0;

        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
                return cx_error_set(err, errno, "readlink /proc/self/exe");
        exe[n] = '\0';

        _cleanup_close_ int fd = exe[0] == '/' ? overlay_exe(exe) : -EINVAL;
        if (fd < 0) {
                log_debug("protect the capsa binary: read-only overlay of `%s`: %s", exe,
                          strerror(-fd));
                if (faccessat(AT_FDCWD, exe, W_OK, AT_EACCESS) < 0)
                        return 0; /* we cannot write it: neither can our containers */
                fd = memfd_exe();
                if (fd < 0)
                        return cx_error_set(err, -fd,
                                            "copy the capsa binary `%s` into a sealed memfd "
                                            "(protection against CVE-2019-5736)",
                                            exe);
        }
        syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        return cx_error_set(err, errno, "re-execute the capsa binary from its protected copy");
}
