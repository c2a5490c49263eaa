/* The syscall seam's fake for unit tests: see fake-sys.h. */
#include "fake-sys.h"
#include "util/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define CLONE_NS_FLAGS                                                                             \
        (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
         CLONE_NEWCGROUP | CLONE_NEWTIME)

struct rule {
        enum fake_sys_op op;
        unsigned nth;
        char *needle;
        int err;
};

static struct {
        unsigned count[FAKE_N_OPS + 1];
        struct fake_sys_call *log;
        size_t n_log;
        struct rule *rules;
        size_t n_rules;
        char *cgroot;
        unsigned exit_at; /* fake_sys_exit_at */
        int exit_status;
} st;

static const char *const names[FAKE_N_OPS] = {
    [FAKE_MOUNT] = "mount",           [FAKE_UMOUNT2] = "umount2",
    [FAKE_PIVOT_ROOT] = "pivot_root", [FAKE_CHROOT] = "chroot",
    [FAKE_SETNS] = "setns",           [FAKE_UNSHARE] = "unshare",
    [FAKE_CLONE] = "clone",           [FAKE_CLONE3] = "clone3",
    [FAKE_OPENAT2] = "openat2",       [FAKE_OPEN_TREE] = "open_tree",
    [FAKE_MOVE_MOUNT] = "move_mount", [FAKE_MOUNT_SETATTR] = "mount_setattr",
    [FAKE_MKDIRAT] = "mkdirat",       [FAKE_UNLINKAT] = "unlinkat",
    [FAKE_RMDIR] = "rmdir",           [FAKE_CG_WRITE] = "cg_write",
    [FAKE_MKNODAT] = "mknodat",       [FAKE_RENAMEAT] = "renameat",
};

const char *fake_sys_op_name(enum fake_sys_op op)
{
        return op < FAKE_N_OPS ? names[op] : "any";
}

/* ---- state --------------------------------------------------------------------------------- */

void fake_sys_reset(void)
{
        for (size_t i = 0; i < st.n_log; i++) {
                free(st.log[i].path);
                free(st.log[i].arg);
        }
        free(st.log);
        for (size_t i = 0; i < st.n_rules; i++)
                free(st.rules[i].needle);
        free(st.rules);
        char *cgroot = st.cgroot;
        memset(&st, 0, sizeof(st));
        st.cgroot = cgroot;
}

void fake_sys_cgroupfs(const char *root)
{
        free(st.cgroot);
        st.cgroot = root ? xstrdup(root) : NULL;
}

static void add_rule(enum fake_sys_op op, unsigned nth, const char *needle, int err)
{
        st.rules = xrealloc(st.rules, (st.n_rules + 1) * sizeof(*st.rules));
        st.rules[st.n_rules++] = (struct rule){
            .op = op, .nth = nth, .needle = needle ? xstrdup(needle) : NULL, .err = err};
}

void fake_sys_exit_at(unsigned nth, int status)
{
        st.exit_at = nth;
        st.exit_status = status;
}

void fake_sys_fail(enum fake_sys_op op, unsigned nth, int err)
{
        add_rule(op, nth, NULL, err);
}

void fake_sys_fail_path(enum fake_sys_op op, const char *needle, int err)
{
        add_rule(op, 0, needle, err);
}

unsigned fake_sys_count(enum fake_sys_op op)
{
        return op <= FAKE_N_OPS ? st.count[op] : 0;
}

size_t fake_sys_n_calls(void)
{
        return st.n_log;
}

const struct fake_sys_call *fake_sys_call_at(size_t i)
{
        return i < st.n_log ? &st.log[i] : NULL;
}

long fake_sys_find(enum fake_sys_op op, const char *path, size_t from)
{
        for (size_t i = from; i < st.n_log; i++) {
                const struct fake_sys_call *c = &st.log[i];
                if ((op == FAKE_ANY || c->op == op) && c->ret >= 0 && c->path && path &&
                    strcmp(c->path, path) == 0)
                        return (long)i;
        }
        return -1;
}

char *fake_sys_log_text(void)
{
        char *text = xstrdup("");
        for (size_t i = 0; i < st.n_log; i++) {
                const struct fake_sys_call *c = &st.log[i];
                char *line = xasprintf("%s%s %s%s%s%s = %ld%s%s%s%s\n", text, names[c->op],
                                       c->path ? c->path : "-", c->arg ? " `" : "",
                                       c->arg ? c->arg : "", c->arg ? "`" : "", c->ret,
                                       c->err ? " (" : "", c->err ? strerror(c->err) : "",
                                       c->err ? ")" : "", c->failed ? " [injected]" : "");
                free(text);
                text = line;
        }
        return text;
}

/* ---- the log and the rules ----------------------------------------------------------------- */

/* An absolute form of dirfd/path for the log. */
static char *abs_path(int dirfd, const char *path)
{
        if (!path)
                return NULL;
        char link[PATH_MAX];
        if (strncmp(path, "/proc/self/fd/", 14) == 0) {
                ssize_t n = readlink(path, link, sizeof(link) - 1);
                if (n > 0) {
                        link[n] = '\0';
                        return xstrdup(link);
                }
        }
        if (path[0] == '/' || dirfd == AT_FDCWD)
                return xstrdup(path);
        char fdp[64];
        snprintf(fdp, sizeof(fdp), "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(fdp, link, sizeof(link) - 1);
        if (n <= 0)
                return xstrdup(path);
        link[n] = '\0';
        if (!*path)
                return xstrdup(link);
        return xasprintf("%s/%s", link, path);
}

/* Counts and logs a call; returns its log index.  *ret_err: the errno to fail it with, or 0. */
static size_t begin(enum fake_sys_op op, int dirfd, const char *path, const char *arg, long flags,
                    int *ret_err)
{
        st.count[op]++;
        st.count[FAKE_ANY]++;
        if (st.exit_at && st.count[FAKE_ANY] == st.exit_at)
                _exit(st.exit_status); /* killed at this instant: nothing after it happens */
        st.log = xrealloc(st.log, (st.n_log + 1) * sizeof(*st.log));
        struct fake_sys_call *c = &st.log[st.n_log];
        *c = (struct fake_sys_call){
            .op = op,
            .path = abs_path(dirfd, path),
            .arg = arg ? xstrdup(arg) : NULL,
            .flags = flags,
        };
        *ret_err = 0;
        for (size_t i = 0; i < st.n_rules && !*ret_err; i++) {
                const struct rule *r = &st.rules[i];
                if (r->op != FAKE_ANY && r->op != op)
                        continue;
                if (r->needle) {
                        if (c->path && strstr(c->path, r->needle))
                                *ret_err = r->err;
                } else if (r->nth == 0 || r->nth == st.count[r->op]) {
                        *ret_err = r->err;
                }
        }
        return st.n_log++;
}

/* Records the result; keeps errno as the call left it. */
static long end(size_t i, long ret)
{
        int e = errno;
        st.log[i].ret = ret;
        st.log[i].err = ret < 0 ? e : 0;
        errno = e;
        return ret;
}

static long fail(size_t i, int err)
{
        st.log[i].failed = true;
        errno = err;
        return end(i, -1);
}

#define BEGIN(op, dirfd, path, arg, flags)                                                         \
        int _err;                                                                                  \
        size_t _i = begin(op, dirfd, path, arg, (long)(flags), &_err);                             \
        if (_err)                                                                                  \
                return fail(_i, _err);

/* ---- cgroupfs emulation -------------------------------------------------------------------- */

static bool below_cgroot(const char *path)
{
        size_t l = st.cgroot ? strlen(st.cgroot) : 0;
        return path && l > 0 && strncmp(path, st.cgroot, l) == 0 && path[l] == '/';
}

static char *slurp(const char *path)
{
        char *text = NULL;
        if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0)
                return xstrdup("");
        return text;
}

/* Creates or replaces path with text (write_file_at does not create). */
static int put_path(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        size_t len = strlen(text);
        ssize_t n = write(fd, text, len);
        int e = errno;
        close(fd);
        errno = e;
        return n == (ssize_t)len ? 0 : -1;
}

static int put(const char *dir, const char *file, const char *text)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
        return put_path(p, text);
}

static int cg_populate(const char *dir)
{
        _cleanup_free_ char *parent = xstrdup(dir);
        *strrchr(parent, '/') = '\0';
        _cleanup_free_ char *psub = xasprintf("%s/cgroup.subtree_control", parent);
        _cleanup_free_ char *ctl = slurp(psub);
        if (put(dir, "cgroup.controllers", ctl) < 0 || put(dir, "cgroup.subtree_control", "") < 0 ||
            put(dir, "cgroup.procs", "") < 0)
                return -1;
        return 0;
}

static bool has_child_or_procs(const char *dir)
{
        _cleanup_free_ char *procs_path = xasprintf("%s/cgroup.procs", dir);
        _cleanup_free_ char *procs = slurp(procs_path);
        if (procs[strspn(procs, " \n")])
                return true;
        DIR *d = opendir(dir);
        bool child = false;
        struct dirent *de;
        while (d && !child && (de = readdir(d)))
                child = de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        if (d)
                closedir(d);
        return child;
}

static int cg_rmdir(const char *dir)
{
        struct stat sb;
        if (stat(dir, &sb) < 0)
                return -1;
        if (!S_ISDIR(sb.st_mode)) {
                errno = ENOTDIR;
                return -1;
        }
        if (has_child_or_procs(dir)) {
                errno = EBUSY;
                return -1;
        }
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_type == DT_REG)
                        unlinkat(dirfd(d), de->d_name, 0);
        if (d)
                closedir(d);
        return rmdir(dir);
}

/* "+memory -cpu" applied to the enabled list in path. */
static ssize_t cg_subtree_control(const char *path, const char *buf, size_t len)
{
        _cleanup_free_ char *cur = slurp(path);
        _cleanup_strv_ char **on = NULL;
        for (char *save = NULL, *w = strtok_r(cur, " \n", &save); w;
             w = strtok_r(NULL, " \n", &save))
                strv_append(&on, w);
        _cleanup_free_ char *req = strndup(buf, len);
        for (char *save = NULL, *w = strtok_r(req, " \n", &save); w;
             w = strtok_r(NULL, " \n", &save)) {
                if (w[0] != '+' && w[0] != '-') {
                        errno = EINVAL;
                        return -1;
                }
                size_t k = 0, n = strv_len(on);
                while (k < n && strcmp(on[k], w + 1) != 0)
                        k++;
                if (w[0] == '+' && k == n)
                        strv_append(&on, w + 1);
                if (w[0] == '-' && k < n) {
                        free(on[k]);
                        memmove(&on[k], &on[k + 1], (n - k) * sizeof(*on));
                }
        }
        _cleanup_free_ char *text = xstrdup("");
        for (char **w = on; w && *w; w++) {
                char *t = xasprintf("%s%s%s", text, *text ? " " : "", *w);
                free(text);
                text = t;
        }
        char *t = xasprintf("%s\n", text);
        free(text);
        text = t;
        if (put_path(path, text) < 0)
                return -1;
        /* the children's cgroup.controllers follow, as the kernel shows them */
        _cleanup_free_ char *dir = xstrdup(path);
        *strrchr(dir, '/') = '\0';
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        _cleanup_free_ char *child = xasprintf("%s/%s", dir, de->d_name);
                        put(child, "cgroup.controllers", text);
                }
        if (d)
                closedir(d);
        return (ssize_t)len;
}

/* ---- the ops ------------------------------------------------------------------------------- */

static int f_mount(const char *source, const char *target, const char *fstype, unsigned long flags,
                   const void *data)
{
        BEGIN(FAKE_MOUNT, AT_FDCWD, target, source, flags);
        return (int)end(_i, 0);
}

static int f_umount2(const char *target, int flags)
{
        BEGIN(FAKE_UMOUNT2, AT_FDCWD, target, NULL, flags);
        return (int)end(_i, 0);
}

static int f_pivot_root(const char *new_root, const char *put_old)
{
        BEGIN(FAKE_PIVOT_ROOT, AT_FDCWD, new_root, put_old, 0);
        return (int)end(_i, 0);
}

static int f_chroot(const char *path)
{
        BEGIN(FAKE_CHROOT, AT_FDCWD, path, NULL, 0);
        return (int)end(_i, 0);
}

static int f_setns(int fd, int nstype)
{
        BEGIN(FAKE_SETNS, AT_FDCWD, NULL, NULL, nstype);
        return (int)end(_i, 0);
}

static int f_unshare(int flags)
{
        BEGIN(FAKE_UNSHARE, AT_FDCWD, NULL, NULL, flags);
        return (int)end(_i, 0);
}

static pid_t f_clone(unsigned long flags)
{
        BEGIN(FAKE_CLONE, AT_FDCWD, NULL, NULL, flags);
        pid_t pid = sys_real.clone(flags & ~(unsigned long)CLONE_NS_FLAGS);
        if (pid == 0)
                return 0; /* the child's copy of the log keeps ret 0 unrecorded */
        return (pid_t)end(_i, pid);
}

static long f_clone3(struct clone_args *args, size_t size)
{
        BEGIN(FAKE_CLONE3, AT_FDCWD, NULL, NULL, args->flags);
        struct clone_args a = *args;
        a.flags &= ~(uint64_t)(CLONE_NS_FLAGS | CLONE_INTO_CGROUP);
        a.cgroup = 0;
        long pid = sys_real.clone3(&a, size);
        if (pid == 0)
                return 0;
        return end(_i, pid);
}

static int f_openat2(int dirfd, const char *path, struct open_how *how, size_t size)
{
        BEGIN(FAKE_OPENAT2, dirfd, path, NULL, how->flags);
        return (int)end(_i, sys_real.openat2(dirfd, path, how, size));
}

static int f_open_tree(int dirfd, const char *path, unsigned flags)
{
        BEGIN(FAKE_OPEN_TREE, dirfd, path, NULL, flags);
        return (int)end(_i, *path ? openat(dirfd, path, O_PATH | O_CLOEXEC)
                                  : fcntl(dirfd, F_DUPFD_CLOEXEC, 3));
}

static int f_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                        unsigned flags)
{
        BEGIN(FAKE_MOVE_MOUNT, to_dirfd, to_path, from_path, flags);
        return (int)end(_i, 0);
}

static int f_mount_setattr(int dirfd, const char *path, unsigned flags, struct mount_attr *attr,
                           size_t size)
{
        BEGIN(FAKE_MOUNT_SETATTR, dirfd, path, NULL, flags);
        return (int)end(_i, 0);
}

static int f_mkdirat(int dirfd, const char *path, mode_t mode)
{
        BEGIN(FAKE_MKDIRAT, dirfd, path, NULL, mode);
        int r = sys_real.mkdirat(dirfd, path, mode);
        if (r == 0 && below_cgroot(st.log[_i].path) && cg_populate(st.log[_i].path) < 0)
                r = -1;
        return (int)end(_i, r);
}

static int f_unlinkat(int dirfd, const char *path, int flags)
{
        bool dir = flags & AT_REMOVEDIR;
        BEGIN(dir ? FAKE_RMDIR : FAKE_UNLINKAT, dirfd, path, NULL, flags);
        if (dir && below_cgroot(st.log[_i].path))
                return (int)end(_i, cg_rmdir(st.log[_i].path));
        return (int)end(_i, sys_real.unlinkat(dirfd, path, flags));
}

static int f_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
        BEGIN(FAKE_MKNODAT, dirfd, path, NULL, mode);
        return (int)end(_i, sys_real.mknodat(dirfd, path, mode, dev));
}

static int f_renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
        BEGIN(FAKE_RENAMEAT, newdirfd, newpath, oldpath, 0);
        return (int)end(_i, sys_real.renameat(olddirfd, oldpath, newdirfd, newpath));
}

static ssize_t f_cg_write(int dirfd, const char *file, const char *buf, size_t len)
{
        _cleanup_free_ char *data = strndup(buf, len);
        BEGIN(FAKE_CG_WRITE, dirfd, file, data, 0);
        const char *p = st.log[_i].path;
        if (!below_cgroot(p))
                return end(_i, sys_real.cg_write(dirfd, file, buf, len));
        const char *base = strrchr(p, '/') + 1;
        if (strcmp(base, "cgroup.subtree_control") == 0)
                return end(_i, cg_subtree_control(p, buf, len));
        /* a real cgroup has its control files: create one that the test did not */
        int fd = openat(dirfd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return end(_i, -1);
        ssize_t n = write(fd, buf, len);
        int e = errno;
        close(fd);
        errno = e;
        return end(_i, n);
}

static const struct sys_ops fake_ops = {
    .mount = f_mount,
    .umount2 = f_umount2,
    .pivot_root = f_pivot_root,
    .chroot = f_chroot,
    .setns = f_setns,
    .unshare = f_unshare,
    .clone = f_clone,
    .clone3 = f_clone3,
    .openat2 = f_openat2,
    .open_tree = f_open_tree,
    .move_mount = f_move_mount,
    .mount_setattr = f_mount_setattr,
    .mkdirat = f_mkdirat,
    .unlinkat = f_unlinkat,
    .mknodat = f_mknodat,
    .renameat = f_renameat,
    .cg_write = f_cg_write,
};

void fake_sys_install(void)
{
        fake_sys_reset();
        sys = &fake_ops;
}

void fake_sys_uninstall(void)
{
        sys = &sys_real;
        fake_sys_reset();
        fake_sys_cgroupfs(NULL);
}
