/* The host view: layout detection, the cgroup mounts (/proc/self/mountinfo) and the caller's
 * own cgroups (/proc/self/cgroup).  Each is read once per process and cached; capsa is single
 * threaded where it touches cgroups, so the caches need no locking. */
#include "cgroups/cgroups-internal.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_ROOT "/sys/fs/cgroup"

static char *test_root; /* cg_set_root_for_tests */

const char *cg_root(void)
{
        return test_root ? test_root : CG_ROOT;
}

/* Super options of a v1 cgroup mount that are not controllers. */
static bool is_mount_flag(const char *o)
{
        static const char *const flags[] = {
            "rw",
            "ro",
            "none",
            "clone_children",
            "noprefix",
            "xattr",
            "cpuset_v2_mode",
            "favordynmods",
            "nsdelegate",
            "memory_recursiveprot",
            "memory_localevents",
            "memory_hugetlb_accounting",
        };
        for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
                if (strcmp(o, flags[i]) == 0)
                        return true;
        return str_has_prefix(o, "release_agent=");
}

static char **split(const char *s, char sep)
{
        char **v = NULL;
        while (s && *s) {
                const char *e = strchr(s, sep);
                size_t len = e ? (size_t)(e - s) : strlen(s);
                if (len > 0) {
                        _cleanup_free_ char *part = strndup(s, len);
                        if (!part)
                                abort();
                        strv_append(&v, part);
                }
                s = e ? e + 1 : NULL;
        }
        return v;
}

void cg_mount_clear(struct cg_mount *m)
{
        free(m->root);
        free(m->mount_point);
        strv_free(m->controllers);
        *m = (struct cg_mount){0};
}

/* "36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory" */
int cg_parse_mountinfo_line(const char *line, struct cg_mount *ret)
{
        _cleanup_free_ char *copy = xstrdup(line);
        char *save = NULL, *f[5];
        char *tok = strtok_r(copy, " \n", &save);
        for (int i = 0; i < 5; i++, tok = strtok_r(NULL, " \n", &save)) {
                if (!tok)
                        return -EINVAL;
                f[i] = tok;
        }
        /* skip the mount options and optional fields up to the "-" separator */
        while (tok && strcmp(tok, "-") != 0)
                tok = strtok_r(NULL, " \n", &save);
        if (!tok)
                return -EINVAL;
        char *fstype = strtok_r(NULL, " \n", &save);
        char *source = strtok_r(NULL, " \n", &save);
        char *super = strtok_r(NULL, " \n", &save);
        if (!fstype || !source)
                return -EINVAL;
        bool v2 = strcmp(fstype, "cgroup2") == 0;
        if (!v2 && strcmp(fstype, "cgroup") != 0)
                return 0;

        unsigned maj, min;
        if (sscanf(f[2], "%u:%u", &maj, &min) != 2)
                return -EINVAL;
        struct cg_mount m = {.v2 = v2, .dev_major = maj, .dev_minor = min};
        str_unescape_octal(f[3]);
        str_unescape_octal(f[4]);
        m.root = xstrdup(f[3]);
        m.mount_point = xstrdup(f[4]);
        if (!v2) {
                _cleanup_strv_ char **opts = split(super, ',');
                for (char **o = opts; o && *o; o++)
                        if (!is_mount_flag(*o))
                                strv_append(&m.controllers, *o);
        }
        *ret = m;
        return 1;
}

/* "4:memory:/a/b", "1:cpu,cpuacct:/", "9:name=systemd:/x", "0::/user.slice" */
int cg_parse_proc_cgroup(const char *text, struct cg_proc_entry **ret, size_t *ret_n)
{
        struct cg_proc_entry *v = NULL;
        size_t n = 0;
        for (const char *l = text; l && *l;) {
                const char *eol = strchr(l, '\n');
                size_t len = eol ? (size_t)(eol - l) : strlen(l);
                _cleanup_free_ char *line = strndup(l, len);
                l = eol ? eol + 1 : NULL;
                if (!line)
                        abort();
                if (!*line)
                        continue;
                char *c1 = strchr(line, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2) {
                        cg_proc_entries_free(v, n);
                        return -EINVAL;
                }
                *c2 = '\0';
                v = xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = (struct cg_proc_entry){
                    .controllers = split(c1 + 1, ','),
                    .path = xstrdup(c2 + 1),
                };
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void cg_proc_entries_free(struct cg_proc_entry *e, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                strv_free(e[i].controllers);
                free(e[i].path);
        }
        free(e);
}

bool cg_mount_has(const struct cg_mount *m, const char *controller)
{
        for (char **c = m->controllers; c && *c; c++)
                if (strcmp(*c, controller) == 0)
                        return true;
        return false;
}

static bool same_set(char *const *a, const struct cg_mount *m)
{
        size_t n = 0;
        for (char *const *c = a; c && *c; c++, n++)
                if (!cg_mount_has(m, *c))
                        return false;
        return n > 0 && n == strv_len(m->controllers);
}

const char *cg_proc_lookup(const struct cg_proc_entry *e, size_t n, const struct cg_mount *m)
{
        for (size_t i = 0; i < n; i++) {
                if (m->v2 ? !e[i].controllers : same_set(e[i].controllers, m))
                        return e[i].path;
        }
        return NULL;
}

char *cg_mount_options(const struct cg_mount *m)
{
        size_t len = 1;
        for (char **c = m->controllers; c && *c; c++)
                len += strlen(*c) + 1;
        char *s = xcalloc(1, len);
        for (char **c = m->controllers; c && *c; c++) {
                if (c != m->controllers)
                        strcat(s, ",");
                strcat(s, *c);
        }
        return s;
}

const struct cg_mount *cg_mount_for_path(const struct cg_mount *v, size_t n, const char *path)
{
        const struct cg_mount *best = NULL;
        size_t best_len = 0;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(v[i].mount_point);
                if (strncmp(path, v[i].mount_point, l) != 0 || (path[l] && path[l] != '/'))
                        continue;
                if (!best || l > best_len) {
                        best = &v[i];
                        best_len = l;
                }
        }
        return best;
}

/* ---- caches ------------------------------------------------------------------------------ */

static struct {
        bool layout_done, mounts_done, self_done;
        enum cg_layout layout;
        struct cg_mount *mounts;
        size_t n_mounts;
        struct cg_proc_entry *self;
        size_t n_self;
} cache;

int cg_detect_layout(enum cg_layout *ret, struct cx_error **err)
{
        if (!cache.layout_done) {
                struct statfs fs;
                const char *root = cg_root();
                if (statfs(root, &fs) < 0)
                        return cx_error_set(err, errno, "statfs %s", root);
                _cleanup_free_ char *unified = xasprintf("%s/unified", root);
                if (fs.f_type == CGROUP2_SUPER_MAGIC)
                        cache.layout = CG_LAYOUT_V2;
                else if (statfs(unified, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
                        cache.layout = CG_LAYOUT_HYBRID;
                else
                        cache.layout = CG_LAYOUT_V1;
                cache.layout_done = true;
        }
        *ret = cache.layout;
        return 0;
}

const char *cg_layout_name(enum cg_layout l)
{
        switch (l) {
        case CG_LAYOUT_V1:
                return "v1";
        case CG_LAYOUT_HYBRID:
                return "hybrid";
        case CG_LAYOUT_V2:
                return "v2";
        }
        return "unknown";
}

/* Among several mounts of one hierarchy keep the first one beneath /sys/fs/cgroup (else the
 * first one seen). */
static bool keep_mount(const struct cg_mount *m)
{
        for (size_t i = 0; i < cache.n_mounts; i++) {
                struct cg_mount *o = &cache.mounts[i];
                if (o->dev_major != m->dev_major || o->dev_minor != m->dev_minor)
                        continue;
                if (!str_has_prefix(o->mount_point, cg_root()) &&
                    str_has_prefix(m->mount_point, cg_root())) {
                        cg_mount_clear(o);
                        *o = *m;
                        return true;
                }
                return false;
        }
        cache.mounts = xrealloc(cache.mounts, (cache.n_mounts + 1) * sizeof(*cache.mounts));
        cache.mounts[cache.n_mounts++] = *m;
        return true;
}

int cg_host_mounts(const struct cg_mount **ret, size_t *ret_n, struct cx_error **err)
{
        if (!cache.mounts_done) {
                _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
                if (!f)
                        return cx_error_set(err, errno, "open /proc/self/mountinfo");
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                while (getline(&line, &cap, f) > 0) {
                        struct cg_mount m;
                        if (cg_parse_mountinfo_line(line, &m) <= 0)
                                continue;
                        if (!keep_mount(&m))
                                cg_mount_clear(&m);
                }
                cache.mounts_done = true;
        }
        *ret = cache.mounts;
        *ret_n = cache.n_mounts;
        return 0;
}

int cg_host_self(const struct cg_proc_entry **ret, size_t *ret_n, struct cx_error **err)
{
        if (!cache.self_done) {
                _cleanup_free_ char *text = NULL;
                int r = read_file_at(AT_FDCWD, "/proc/self/cgroup", &text, NULL, err);
                if (r < 0)
                        return r;
                if (cg_parse_proc_cgroup(text, &cache.self, &cache.n_self) < 0)
                        return cx_error_msg(err, EINVAL, "/proc/self/cgroup: malformed line");
                cache.self_done = true;
        }
        *ret = cache.self;
        *ret_n = cache.n_self;
        return 0;
}

/* ---- the test hook ----------------------------------------------------------------------- */

static void cache_clear(void)
{
        for (size_t i = 0; i < cache.n_mounts; i++)
                cg_mount_clear(&cache.mounts[i]);
        free(cache.mounts);
        cg_proc_entries_free(cache.self, cache.n_self);
        cache = (typeof(cache)){0};
}

void cg_set_root_for_tests(const char *dir)
{
        cache_clear();
        free(test_root);
        test_root = NULL;
        if (!dir)
                return;
        test_root = xstrdup(dir);
        cache.layout = CG_LAYOUT_V2;
        cache.mounts = xcalloc(1, sizeof(*cache.mounts));
        cache.mounts[0] =
            (struct cg_mount){.root = xstrdup("/"), .mount_point = xstrdup(dir), .v2 = true};
        cache.n_mounts = 1;
        cache.self = xcalloc(1, sizeof(*cache.self));
        cache.self[0] = (struct cg_proc_entry){.path = xstrdup("/")};
        cache.n_self = 1;
        cache.layout_done = cache.mounts_done = cache.self_done = true;
}
