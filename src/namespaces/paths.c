/* After pivot_root, inside the container's root: maskedPaths, readonlyPaths and the read-only
 * remounts (root.readonly, a read-only /dev).  Paths that do not exist are skipped (runc). */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <sys/mount.h>
#include <sys/statvfs.h>

int ns_mask_paths(char *const *paths, struct cx_error **err)
{
        for (char *const *p = paths; p && *p; p++) {
                if (sys_mount("/dev/null", *p, NULL, MS_BIND, NULL) == 0 || errno == ENOENT)
                        continue;
                /* a directory: hide it under an empty read-only tmpfs */
                if (errno == ENOTDIR && sys_mount("tmpfs", *p, "tmpfs", MS_RDONLY, NULL) == 0)
                        continue;
                return cx_error_set(err, errno, "linux.maskedPaths: mask `%s`", *p);
        }
        return 0;
}

static int remount_keep(const char *path, unsigned long flags, struct cx_error **err)
{
        struct statvfs sv;
        if (statvfs(path, &sv) < 0)
                return cx_error_set(err, errno, "statvfs `%s`", path);
        flags |= ns_locked_flags(sv.f_flag);
        if (sys_mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
                return cx_error_set(err, errno, "remount `%s` read-only", path);
        return 0;
}

int ns_readonly_paths(char *const *paths, struct cx_error **err)
{
        for (char *const *p = paths; p && *p; p++) {
                if (sys_mount(*p, *p, NULL, MS_BIND | MS_REC, NULL) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return cx_error_set(err, errno, "linux.readonlyPaths: bind `%s`", *p);
                }
                int r = remount_keep(*p, MS_RDONLY, err);
                if (r < 0)
                        return cx_error_prefix(err, "linux.readonlyPaths");
        }
        return 0;
}

int ns_remount_readonly(const char *path, bool try_plain, struct cx_error **err)
{
        if (try_plain && sys_mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0)
                return 0;
        return remount_keep(path, MS_RDONLY, err);
}
