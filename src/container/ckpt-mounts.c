/* What checkpoint and restore tell CRIU about the container's mounts and stdio: the bind
 * mounts whose source is on the host (CRIU's "external" mounts, keyed by their path in the
 * container), and the init's fds 0-2 (descriptors.json, as runc writes it). */
#include "checkpoint/checkpoint.h"
#include "container/internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void add(char ***v, const char *key, const char *val)
{
        strv_append(v, key);
        strv_append(v, val);
}

/* The host nodes capsa binds into /dev when it cannot mknod them (a user namespace). */
static const char *const dev_nodes[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                        "/dev/random", "/dev/urandom", "/dev/tty"};

static bool is_cgroup(const struct spec_mount *m)
{
        return m->type && (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0);
}

/* A cgroup mount is the container's own cgroup: CRIU cannot dump its root (it is not the
 * hierarchy's), so it is external, bound from the container's cgroup directory at restore (as
 * runc does).  v2: one directory; v1: /sys/fs/cgroup/CONTROLLER/... each under dest/CONTROLLER. */
static void add_cgroup(char ***v, const char *dest, char *const *cg_dirs, bool restore)
{
        const char *top = "/sys/fs/cgroup/";
        for (char *const *d = cg_dirs; d && *d; d++) {
                const char *rel = strncmp(*d, top, strlen(top)) == 0 ? *d + strlen(top) : NULL;
                const char *slash = rel ? strchr(rel, '/') : NULL;
                if (!cg_dirs[1] || !slash) { /* one hierarchy: v2 */
                        add(v, dest, restore ? *d : dest);
                        return;
                }
                _cleanup_free_ char *key = xasprintf("%s/%.*s", dest, (int)(slash - rel), rel);
                add(v, key, restore ? *d : key);
        }
}

char **ckpt_ext_mounts(const struct spec *s, pid_t pid, char *const *cg_dirs, bool restore)
{
        char **v = xcalloc(1, sizeof(char *));
        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct spec_mount *m = &s->mounts[i];
                if (ns_mount_is_bind(m) && m->source)
                        add(&v, m->destination, restore ? m->source : m->destination);
                else if (is_cgroup(m))
                        add_cgroup(&v, m->destination, cg_dirs, restore);
        }
        /* files masked with /dev/null (directories get a tmpfs: CRIU's own) */
        for (char **p = s->linux_.masked_paths; p && *p; p++) {
                if (pid > 0) {
                        _cleanup_free_ char *path = xasprintf("/proc/%d/root%s", (int)pid, *p);
                        struct stat st;
                        if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
                                continue;
                }
                add(&v, *p, restore ? "/dev/null" : *p);
        }
        for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++)
                add(&v, dev_nodes[i], dev_nodes[i]);
        for (size_t i = 0; i < s->linux_.n_devices; i++)
                add(&v, s->linux_.devices[i].path, s->linux_.devices[i].path);
        return v;
}

/* The mount id of the file at /proc/PID/fd/FD (its fdinfo), or -1. */
static long fd_mnt_id(pid_t pid, int fd)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/fdinfo/%d", (int)pid, fd);
        _cleanup_free_ char *text = NULL;
        if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0)
                return -1;
        const char *m = strstr(text, "mnt_id:");
        return m ? strtol(m + 7, NULL, 10) : -1;
}

/* Is mount mnt one of the container's (in its init's mountinfo)? */
static bool in_container(pid_t pid, long mnt)
{
        _cleanup_free_ char *path = xasprintf("/proc/%d/mountinfo", (int)pid);
        _cleanup_free_ char *text = NULL;
        if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0)
                return false;
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strtol(l, NULL, 10) == mnt)
                        return true;
        return false;
}

/* How CRIU knows fd from outside the container, given its target: "pipe:[INODE]", or
 * "file[MNT_ID:INODE]" for a file of the host; NULL when it is CRIU's own business (a socket,
 * the container's own file or pty). */
static char *stdio_key(pid_t pid, int fd, const char *target)
{
        if (strncmp(target, "pipe:", 5) == 0)
                return xstrdup(target);
        char link[64];
        snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
        struct stat st;
        long mnt = fd_mnt_id(pid, fd);
        if (target[0] != '/' || mnt < 0 || in_container(pid, mnt) || stat(link, &st) < 0)
                return NULL;
        return xasprintf("file[%lx:%llx]", mnt, (unsigned long long)st.st_ino);
}

void ckpt_stdio_read(pid_t pid, struct ckpt_stdio *ret)
{
        for (int fd = 0; fd < 3; fd++) {
                char link[64], target[PATH_MAX];
                snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
                ssize_t n = readlink(link, target, sizeof(target) - 1);
                target[n > 0 ? n : 0] = 0;
                ret->path[fd] = xstrdup(target);
                ret->key[fd] = n > 0 ? stdio_key(pid, fd, target) : NULL;
                struct stat st;
                ret->mode[fd] =
                    stat(link, &st) == 0 ? xasprintf("0%o", (unsigned)st.st_mode) : xstrdup("");
        }
}

void ckpt_stdio_clear(struct ckpt_stdio *s)
{
        for (int fd = 0; fd < 3; fd++) {
                free(TAKE_PTR(s->path[fd]));
                free(TAKE_PTR(s->key[fd]));
                free(TAKE_PTR(s->mode[fd]));
        }
}

int ckpt_write_descriptors(int images_fd, const struct ckpt_stdio *s, struct cx_error **err)
{
        struct json_w *w = json_w_new(NULL);
        json_w_arr_open(w);
        for (int fd = 0; fd < 3; fd++)
                json_w_str(w, *s->path[fd] ? s->path[fd] : "/dev/null");
        json_w_arr_close(w);
        _cleanup_free_ char *text = json_w_finish(w, false);
        return write_file_atomic_at(images_fd, CKPT_DESCRIPTORS_FILE, text, strlen(text), err);
}

static char **strings3(const struct json_val *a)
{
        char **v = xcalloc(4, sizeof(char *));
        for (size_t i = 0; i < 3; i++) {
                const char *s = a && i < json_val_len(a) ? json_val_str(json_val_at(a, i)) : NULL;
                v[i] = xstrdup(s ? s : "");
        }
        return v;
}

/* runc's descriptors.json: the targets of fds 0-2 (all "" when there is none). */
static int read_descriptors(int images_fd, char ***ret, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_file_at(images_fd, CKPT_DESCRIPTORS_FILE, &text, &len, err);
        if (r == -ENOENT) {
                cx_error_freep(err);
                *ret = strings3(NULL); /* not made by capsa or runc: CRIU's own view of the fds */
                return 0;
        }
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        if ((r = json_parse(text, len, CKPT_DESCRIPTORS_FILE, &v, err)) < 0)
                return r;
        if (json_val_type(v) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "%s: not an array", CKPT_DESCRIPTORS_FILE);
        *ret = strings3(v);
        return 0;
}

int ckpt_read_stdio(int images_fd, char ***ret_keys, char ***ret_paths, char ***ret_modes,
                    struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        _cleanup_error_ struct cx_error *e = NULL;
        if (read_file_at(images_fd, CKPT_META_FILE, &text, &len, &e) < 0) {
                *ret_paths = strings3(NULL);
                *ret_modes = strings3(NULL);
                return read_descriptors(images_fd, ret_keys, err); /* made by runc */
        }
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        int r = json_parse(text, len, CKPT_META_FILE, &v, err);
        if (r < 0)
                return r;
        *ret_keys = strings3(json_val_get(v, "stdio"));
        *ret_paths = strings3(json_val_get(v, "stdio_paths"));
        *ret_modes = strings3(json_val_get(v, "stdio_modes"));
        return 0;
}
