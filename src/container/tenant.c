/* Tenants' id ranges: ROOT/tenants.json ({"tenants":[{"name":N,"firstId":ID,"size":65536}]}),
 * read and written under an exclusive flock(2) of ROOT/tenants.lock.  The lock file is removed
 * with the last tenant; a waiter that then wins a lock on the removed file notices (its inode
 * is no longer the path's) and locks the new one. */
#include "container/tenant.h"
#include "state/state.h"
#include "util/json.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

struct entry {
        char *name;
        uint32_t first_id;
};

struct table {
        struct entry *v;
        size_t n;
};

static void table_clear(struct table *t)
{
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].name);
        free(t->v);
        *t = (struct table){0};
}

static char *root_file(const char *root, const char *name)
{
        return xasprintf("%s/%s", root, name);
}

/* create: make ROOT and the lock file; otherwise *ret_fd = -1 when there is none (no tenants). */
static int lock_root(const char *root, bool create, int *ret_fd, struct cx_error **err)
{
        int r = create ? mkdir_p(root, 0711, err) : 0;
        if (r < 0)
                return r;
        _cleanup_free_ char *path = root_file(root, "tenants.lock");
        for (;;) {
                _cleanup_close_ int fd =
                    open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
                if (fd < 0 && errno == ENOENT && !create) {
                        *ret_fd = -1;
                        return 0;
                }
                if (fd < 0)
                        return cx_error_set(err, errno, "open `%s`", path);
                if (flock(fd, LOCK_EX) < 0)
                        return cx_error_set(err, errno, "lock `%s`", path);
                struct stat a, b;
                if (fstat(fd, &a) < 0)
                        return cx_error_set(err, errno, "stat `%s`", path);
                if (stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
        }
}

static int parse_entry(const struct json_val *o, size_t i, struct table *t, struct cx_error **err)
{
        const char *name = json_val_str(json_val_get(o, "name"));
        int64_t id = -1;
        if (!name || !json_val_int(json_val_get(o, "firstId"), &id) || id < 0 ||
            id > UINT32_MAX - TENANT_RANGE)
                return cx_error_msg(err, EINVAL, "tenants[%zu]: expected a name and a firstId", i);
        t->v[t->n++] = (struct entry){.name = xstrdup(name), .first_id = (uint32_t)id};
        return 0;
}

static int table_load(const char *root, struct table *t, struct cx_error **err)
{
        _cleanup_free_ char *path = root_file(root, "tenants.json");
        _cleanup_free_ char *buf = NULL;
        size_t len;
        *t = (struct table){0};
        if (access(path, F_OK) < 0 && errno == ENOENT)
                return 0;
        int r = read_file_at(AT_FDCWD, path, &buf, &len, err);
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *top = NULL;
        if ((r = json_parse(buf, len, path, &top, err)) < 0)
                return r;
        const struct json_val *arr = json_val_get(top, "tenants");
        r = 0;
        if (json_val_type(arr) != JSON_ARRAY) {
                r = cx_error_msg(err, EINVAL, "`%s`: tenants: expected an array", path);
        } else {
                t->v = xcalloc(json_val_len(arr) + 1, sizeof(*t->v));
                for (size_t i = 0; i < json_val_len(arr) && r >= 0; i++)
                        r = parse_entry(json_val_at(arr, i), i, t, err);
                if (r < 0)
                        cx_error_prefix(err, "`%s`", path);
        }
        if (r < 0)
                table_clear(t);
        return r;
}

static int table_save(const char *root, const struct table *t, struct cx_error **err)
{
        _cleanup_free_ char *path = root_file(root, "tenants.json");
        if (t->n == 0) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return cx_error_set(err, errno, "remove `%s`", path);
                return 0;
        }
        struct json_w *w = json_w_new("    ");
        json_w_obj_open(w);
        json_w_key_arr_open(w, "tenants");
        for (size_t i = 0; i < t->n; i++) {
                json_w_obj_open(w);
                json_w_key_str(w, "name", t->v[i].name);
                json_w_key_int(w, "firstId", t->v[i].first_id);
                json_w_key_int(w, "size", TENANT_RANGE);
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_obj_close(w);
        _cleanup_free_ char *json = json_w_finish(w, true);
        return write_file_atomic_at(AT_FDCWD, path, json, strlen(json), err);
}

/* Ranges of /etc/subuid and /etc/subgid ("name:first:count" lines), which belong to users. */
static size_t load_subids(uint64_t (*v)[2], size_t max)
{
        static const char *const files[] = {"/etc/subuid", "/etc/subgid"};
        size_t n = 0;
        for (size_t f = 0; f < 2; f++) {
                FILE *fp = fopen(files[f], "re");
                if (!fp)
                        continue;
                char line[512];
                while (n < max && fgets(line, sizeof(line), fp)) {
                        unsigned long long first, count;
                        char *colon = strchr(line, ':');
                        if (colon && sscanf(colon + 1, "%llu:%llu", &first, &count) == 2) {
                                v[n][0] = first;
                                v[n][1] = count;
                                n++;
                        }
                }
                fclose(fp);
        }
        return n;
}

static bool overlaps(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
        return a < b + m && b < a + n;
}

static int allocate(const struct table *t, uint32_t *ret, struct cx_error **err)
{
        uint64_t sub[256][2];
        size_t n_sub = load_subids(sub, ARRAY_SIZE(sub));
        for (uint64_t base = TENANT_FIRST_ID; base + TENANT_RANGE < UINT32_MAX;
             base += TENANT_RANGE) {
                bool used = false;
                for (size_t i = 0; i < t->n && !used; i++)
                        used = overlaps(base, TENANT_RANGE, t->v[i].first_id, TENANT_RANGE);
                for (size_t i = 0; i < n_sub && !used; i++)
                        used = overlaps(base, TENANT_RANGE, sub[i][0], sub[i][1]);
                if (!used) {
                        *ret = (uint32_t)base;
                        return 0;
                }
        }
        return cx_error_msg(err, ENOSPC, "no free range of %u ids left for a new tenant",
                            TENANT_RANGE);
}

/* Tenant names follow the rules of container ids. */
static int valid_name(const char *name, const char *what, struct cx_error **err)
{
        if (id_validate(name, NULL) == 0)
                return 0;
        return cx_error_msg(err, EINVAL,
                            "%s: invalid tenant name `%s`: only [A-Za-z0-9] then "
                            "[A-Za-z0-9_.+-] are allowed, as in container ids",
                            what, name);
}

static char *join_ids(char *const *v)
{
        size_t len = 1;
        for (char *const *p = v; *p; p++)
                len += strlen(*p) + 2;
        char *out = xcalloc(1, len);
        for (char *const *p = v; *p; p++) {
                if (p != v)
                        strcat(out, ", ");
                strcat(out, *p);
        }
        return out;
}

static ssize_t table_find(const struct table *t, const char *name)
{
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i].name, name) == 0)
                        return (ssize_t)i;
        return -1;
}

int tenant_acquire(const char *root, const char *name, uint32_t *ret_first_id, int *ret_lock,
                   struct cx_error **err)
{
        _cleanup_close_ int lock = -1;
        struct table t;
        int r = lock_root(root, true, &lock, err);
        if (r < 0 || (r = table_load(root, &t, err)) < 0)
                return r;
        ssize_t i = table_find(&t, name);
        if (i < 0) {
                uint32_t first;
                if ((r = allocate(&t, &first, err)) < 0)
                        goto out;
                t.v = xrealloc(t.v, (t.n + 1) * sizeof(*t.v));
                t.v[t.n++] = (struct entry){.name = xstrdup(name), .first_id = first};
                if ((r = table_save(root, &t, err)) < 0)
                        goto out;
                i = (ssize_t)t.n - 1;
                log_debug("tenant `%s`: allocated host ids %" PRIu32 "-%" PRIu32, name, first,
                          first + TENANT_RANGE - 1);
        }
        *ret_first_id = t.v[i].first_id;
        *ret_lock = TAKE_FD(lock);
        r = 0;
out:
        table_clear(&t);
        return r;
}

/* The tenant recorded in ROOT/ID/state.json (the annotation), or NULL. */
static char *container_tenant(const char *root, const char *id)
{
        _cleanup_free_ char *path = xasprintf("%s/%s/state.json", root, id);
        _cleanup_free_ char *buf = NULL;
        size_t len;
        if (read_file_at(AT_FDCWD, path, &buf, &len, NULL) < 0)
                return NULL;
        _cleanup_(json_val_freep) struct json_val *top = NULL;
        if (json_parse(buf, len, path, &top, NULL) < 0)
                return NULL;
        const char *v =
            json_val_str(json_val_get(json_val_get(top, "annotations"), TENANT_ANNOTATION));
        return v ? xstrdup(v) : NULL;
}

static int tenant_containers(const char *root, const char *name, char ***ret, struct cx_error **err)
{
        _cleanup_strv_ char **ids = NULL;
        int r = state_list_ids(root, &ids, err);
        if (r < 0)
                return r;
        char **out = xcalloc(1, sizeof(char *));
        for (char **id = ids; *id; id++) {
                _cleanup_free_ char *t = container_tenant(root, *id);
                if (t && strcmp(t, name) == 0)
                        strv_append(&out, *id);
        }
        *ret = out;
        return 0;
}

int tenant_list(const char *root, struct tenant_info **ret, size_t *ret_n, struct cx_error **err)
{
        _cleanup_close_ int lock = -1;
        struct table t;
        int r = lock_root(root, false, &lock, err);
        if (r < 0 || (lock >= 0 && (r = table_load(root, &t, err)) < 0))
                return r;
        if (lock < 0)
                t = (struct table){0};
        struct tenant_info *v = xcalloc(t.n + 1, sizeof(*v));
        size_t n = 0;
        for (; n < t.n; n++) {
                v[n] = (struct tenant_info){.name = xstrdup(t.v[n].name),
                                            .first_id = t.v[n].first_id,
                                            .size = TENANT_RANGE};
                if ((r = tenant_containers(root, t.v[n].name, &v[n].containers, err)) < 0) {
                        tenant_info_free(v, n + 1);
                        table_clear(&t);
                        return r;
                }
        }
        table_clear(&t);
        *ret = v;
        *ret_n = n;
        return 0;
}

void tenant_info_free(struct tenant_info *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                strv_free(v[i].containers);
        }
        free(v);
}

int tenant_remove(const char *root, const char *name, struct cx_error **err)
{
        int r = valid_name(name, "tenant name", err);
        if (r < 0)
                return r;
        _cleanup_close_ int lock = -1;
        struct table t;
        if ((r = lock_root(root, false, &lock, err)) < 0)
                return r;
        if (lock < 0)
                return cx_error_msg(err, ENOENT, "tenant `%s` does not exist", name);
        if ((r = table_load(root, &t, err)) < 0)
                return r;
        ssize_t i = table_find(&t, name);
        _cleanup_strv_ char **used = NULL;
        if (i < 0) {
                r = cx_error_msg(err, ENOENT, "tenant `%s` does not exist", name);
        } else if ((r = tenant_containers(root, name, &used, err)) >= 0 && used[0]) {
                _cleanup_free_ char *list = join_ids(used);
                r = cx_error_msg(err, EBUSY,
                                 "tenant `%s` is used by container(s) %s: delete them first", name,
                                 list);
        } else if (r >= 0) {
                free(t.v[i].name);
                memmove(&t.v[i], &t.v[i + 1], (t.n - (size_t)i - 1) * sizeof(*t.v));
                t.n--;
                r = table_save(root, &t, err);
                if (r >= 0 && t.n == 0) { /* the last one: leave nothing behind */
                        _cleanup_free_ char *path = root_file(root, "tenants.lock");
                        unlink(path);
                }
        }
        table_clear(&t);
        return r;
}

int tenant_name(const char *opt, const struct spec *s, const char **ret_name, struct cx_error **err)
{
        const char *ann = NULL;
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, TENANT_ANNOTATION) == 0)
                        ann = s->annotations[i].value;
        if (opt && ann && strcmp(opt, ann) != 0)
                return cx_error_msg(err, EINVAL,
                                    "--tenant `%s` and annotations[\"" TENANT_ANNOTATION
                                    "\"] `%s` disagree",
                                    opt, ann);
        const char *name = opt ? opt : ann;
        int r;
        if (name &&
            (r = valid_name(name, opt ? "--tenant" : "annotations[\"" TENANT_ANNOTATION "\"]",
                            err)) < 0)
                return r;
        *ret_name = name;
        return 0;
}
