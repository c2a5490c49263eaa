/* The tenant registry: ROOT/tenants.json ({"tenants":[{"name":N,"firstId":ID,"size":65536}]}),
 * read and written under an exclusive flock(2) of ROOT/tenants.lock.  The lock file is removed
 * with the last tenant; a waiter that then wins a lock on the removed file notices (its inode
 * is no longer the path's) and locks the new one.  Which containers belong to a tenant is read
 * from their state (the annotation), each through its locked directory (state_dir_open): lock
 * order tenants.lock, then ROOT/ID, as create takes them. */
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
            id > UINT32_MAX - STATE_TENANT_RANGE)
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
                json_w_key_int(w, "size", STATE_TENANT_RANGE);
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
        for (uint64_t base = STATE_TENANT_FIRST_ID; base + STATE_TENANT_RANGE < UINT32_MAX;
             base += STATE_TENANT_RANGE) {
                bool used = false;
                for (size_t i = 0; i < t->n && !used; i++)
                        used = overlaps(base, STATE_TENANT_RANGE, t->v[i].first_id,
                                        STATE_TENANT_RANGE);
                for (size_t i = 0; i < n_sub && !used; i++)
                        used = overlaps(base, STATE_TENANT_RANGE, sub[i][0], sub[i][1]);
                if (!used) {
                        *ret = (uint32_t)base;
                        return 0;
                }
        }
        return cx_error_msg(err, ENOSPC, "no free range of %u ids left for a new tenant",
                            STATE_TENANT_RANGE);
}

int state_tenant_name_validate(const char *name, const char *what, struct cx_error **err)
{
        if (state_id_validate(name, NULL) == 0)
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

int state_tenant_acquire(const char *root, const char *name, uint32_t *ret_first_id, int *ret_lock,
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
                          first + STATE_TENANT_RANGE - 1);
        }
        *ret_first_id = t.v[i].first_id;
        *ret_lock = TAKE_FD(lock);
        r = 0;
out:
        table_clear(&t);
        return r;
}

/* Whether container ID's state names tenant NAME.  The state is read under the container's
 * lock; a container deleted meanwhile (or whose state cannot be read) belongs to none. */
static bool container_of_tenant(const char *root, const char *id, const char *name)
{
        struct state_dir d;
        struct state st = {0};
        _cleanup_error_ struct cx_error *e = NULL;
        if (state_dir_open(root, id, &d, &e) < 0)
                return false;
        int r = state_read(&d, &st, &e);
        state_dir_close(&d);
        bool mine = false;
        if (r < 0)
                log_debug("tenant `%s`: container `%s` skipped: %s", name, id, e->msg);
        for (size_t i = 0; r >= 0 && st.annotations && st.annotations[i] && st.annotations[i + 1];
             i += 2)
                if (strcmp(st.annotations[i], STATE_TENANT_ANNOTATION) == 0)
                        mine = strcmp(st.annotations[i + 1], name) == 0;
        state_clear(&st);
        return mine;
}

static int tenant_containers(const char *root, const char *name, char ***ret, struct cx_error **err)
{
        _cleanup_strv_ char **ids = NULL;
        int r = state_list_ids(root, &ids, err);
        if (r < 0)
                return r;
        char **out = xcalloc(1, sizeof(char *));
        for (char **id = ids; *id; id++) {
                if (container_of_tenant(root, *id, name))
                        strv_append(&out, *id);
        }
        *ret = out;
        return 0;
}

int state_tenant_list(const char *root, struct state_tenant **ret, size_t *ret_n,
                      struct cx_error **err)
{
        _cleanup_close_ int lock = -1;
        struct table t;
        int r = lock_root(root, false, &lock, err);
        if (r < 0 || (lock >= 0 && (r = table_load(root, &t, err)) < 0))
                return r;
        if (lock < 0)
                t = (struct table){0};
        struct state_tenant *v = xcalloc(t.n + 1, sizeof(*v));
        size_t n = 0;
        for (; n < t.n; n++) {
                v[n] = (struct state_tenant){.name = xstrdup(t.v[n].name),
                                             .first_id = t.v[n].first_id,
                                             .size = STATE_TENANT_RANGE};
                if ((r = tenant_containers(root, t.v[n].name, &v[n].containers, err)) < 0) {
                        state_tenants_free(v, n + 1);
                        table_clear(&t);
                        return r;
                }
        }
        table_clear(&t);
        *ret = v;
        *ret_n = n;
        return 0;
}

void state_tenants_free(struct state_tenant *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                strv_free(v[i].containers);
        }
        free(v);
}

int state_tenant_remove(const char *root, const char *name, struct cx_error **err)
{
        int r = state_tenant_name_validate(name, "tenant name", err);
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
