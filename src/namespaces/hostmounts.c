/* Mounts in a mount namespace the container does not own.
 *
 * A config without a new mount namespace shares one that already exists: the caller's (as the
 * OCI spec says), or one joined by path.  There the init never pivots, never changes the
 * propagation of /, never binds or moves the root; it mounts only strictly beneath root.path
 * and then chroots.  What it mounted stays in that namespace after the container is gone, so
 * the runtime lists the mounts beneath root.path before create and unmounts those that
 * appeared since on delete or a failed create (ns_unmount_beneath). */
#include "namespaces/ns-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

struct host_mount {
        uint64_t id;
        char *point;    /* unescaped */
        bool kernel_fs; /* proc or sysfs */
};

static void host_mounts_free(struct host_mount *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i].point);
        free(v);
}

static bool beneath(const char *point, const char *root, bool strict)
{
        size_t n = strlen(root);
        if (strncmp(point, root, n) != 0)
                return false;
        if (point[n] == '\0')
                return !strict;
        return point[n] == '/' || (n == 1 && root[0] == '/');
}

/* Every mount of the current namespace, in mountinfo order (a mount comes after the one it
 * sits on). */
static int read_mounts(struct host_mount **ret, size_t *ret_n, struct cx_error **err)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return cx_error_set(err, errno, "open /proc/self/mountinfo");
        struct host_mount *v = NULL;
        size_t n = 0;
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
                unsigned long long id;
                char point[PATH_MAX * 4 + 1];
                const char *dash = strstr(line, " - ");
                if (!dash || sscanf(line, "%llu %*u %*u:%*u %*s %16384s", &id, point) != 2)
                        continue;
                str_unescape_octal(point);
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = (struct host_mount){
                    .id = id,
                    .point = xstrdup(point),
                    .kernel_fs =
                        strncmp(dash + 3, "proc ", 5) == 0 || strncmp(dash + 3, "sysfs ", 6) == 0,
                };
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int ns_mounts_beneath(const char *root, uint64_t **ret_ids, size_t *ret_n, struct cx_error **err)
{
        struct host_mount *v = NULL;
        size_t n = 0, k = 0;
        int r = read_mounts(&v, &n, err);
        if (r < 0)
                return r;
        uint64_t *ids = xcalloc(n + 1, sizeof(*ids));
        for (size_t i = 0; i < n; i++)
                if (beneath(v[i].point, root, false))
                        ids[k++] = v[i].id;
        host_mounts_free(v, n);
        *ret_ids = ids;
        *ret_n = k;
        return 0;
}

static bool id_in(uint64_t id, const uint64_t *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == id)
                        return true;
        return false;
}

int ns_unmount_beneath(const char *root, const uint64_t *keep, size_t n_keep, struct cx_error **err)
{
        struct host_mount *v = NULL;
        size_t n = 0;
        int r = read_mounts(&v, &n, err);
        if (r < 0)
                return r;
        /* last mounted first: children before the mounts they sit on */
        for (size_t i = n; i-- > 0;) {
                if (!beneath(v[i].point, root, true) || id_in(v[i].id, keep, n_keep))
                        continue;
                if (sys_umount2(v[i].point, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
                    errno != ENOENT && r == 0)
                        r = cx_error_set(err, errno, "unmount `%s`", v[i].point);
        }
        host_mounts_free(v, n);
        return r;
}

int ns_mnt_ns_inode(uint64_t *ret, struct cx_error **err)
{
        struct stat st;
        if (stat("/proc/self/ns/mnt", &st) < 0)
                return cx_error_set(err, errno, "stat /proc/self/ns/mnt");
        *ret = st.st_ino;
        return 0;
}

int ns_hide_kernel_fs_outside(const char *root, struct cx_error **err)
{
        struct host_mount *v = NULL;
        size_t n = 0;
        int r = read_mounts(&v, &n, err);
        if (r < 0)
                return r;
        for (size_t i = n; r == 0 && i-- > 0;) {
                const char *p = v[i].point;
                if (!v[i].kernel_fs || beneath(p, root, false))
                        continue;
                if (sys_mount(NULL, p, NULL, MS_SLAVE | MS_REC, NULL) < 0 && errno == ENOENT)
                        continue;
                if (sys_umount2(p, MNT_DETACH) == 0)
                        continue;
                if (errno != EINVAL && errno != EPERM)
                        r = cx_error_set(err, errno, "unmount `%s`", p);
                /* locked (a user namespace): cover it instead */
                else if (sys_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                   "size=0") < 0)
                        r = cx_error_set(err, errno, "cover `%s` with an empty tmpfs", p);
        }
        host_mounts_free(v, n);
        return r;
}
