/* state.json (capsa's own record) and the OCI state documents (`state`, the hooks' stdin). */
#include "state/state.h"
#include "util/json.h"

#include <string.h>

#define OCI_VERSION "1.2.0"

/* Orders pointers to key, value pairs by key. */
static int cmp_pair(const void *a, const void *b)
{
        return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* "annotations": {...} with the keys sorted and nothing when there are none, as Go marshals
 * runc's map[string]string `json:"annotations,omitempty"`. */
void state_json_annotations(struct json_w *w, char *const *kv)
{
        size_t n = 0;
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
                n++;
        if (n == 0)
                return;
        _cleanup_free_ char *const **pairs = xcalloc(n, sizeof(*pairs));
        for (size_t i = 0; i < n; i++)
                pairs[i] = &kv[2 * i];
        qsort(pairs, n, sizeof(*pairs), cmp_pair);
        json_w_key_obj_open(w, "annotations");
        for (size_t i = 0; i < n; i++)
                json_w_key_str(w, pairs[i][0], pairs[i][1]);
        json_w_obj_close(w);
}

char *state_oci_json(const struct state *s, enum state_status st)
{
        /* runc's containerState, key for key: 2-space indent, pid 0 once stopped */
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "ociVersion", OCI_VERSION);
        json_w_key_str(w, "id", s->id);
        json_w_key_int(w, "pid", st == STATE_STOPPED ? 0 : s->pid);
        json_w_key_str(w, "status", state_status_name(st));
        json_w_key_str(w, "bundle", s->bundle);
        json_w_key_str(w, "rootfs", s->rootfs);
        json_w_key_str(w, "created", s->created);
        state_json_annotations(w, s->annotations);
        json_w_key_str(w, "owner", s->owner);
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

char *state_hook_json(const struct state *s, enum state_status st)
{
        /* the runtime-spec's State as runc marshals it: compact, no newline, pid and
         * annotations left out when zero or empty */
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "ociVersion", OCI_VERSION);
        json_w_key_str(w, "id", s->id);
        json_w_key_str(w, "status", state_status_name(st));
        if (st != STATE_STOPPED && s->pid > 0)
                json_w_key_int(w, "pid", s->pid);
        json_w_key_str(w, "bundle", s->bundle);
        state_json_annotations(w, s->annotations);
        json_w_obj_close(w);
        return json_w_finish(w, false);
}

static char *state_encode(const struct state *s)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "ociVersion", OCI_VERSION);
        json_w_key_str(w, "id", s->id);
        json_w_key_int(w, "pid", s->pid);
        json_w_key_u64(w, "pidStartTime", s->pid_start_time);
        json_w_key_str(w, "bundle", s->bundle);
        json_w_key_str(w, "rootfs", s->rootfs);
        json_w_key_str(w, "created", s->created);
        json_w_key_str(w, "owner", s->owner);
        json_w_key_bool(w, "creating", s->creating);
        json_w_key_bool(w, "systemdCgroup", s->use_systemd_cgroup);
        json_w_key_str(w, "cgroupDriver", s->cgroup_driver);
        json_w_key_str(w, "launcher", s->launcher);
        json_w_key_arr_open(w, "cgroupDirs");
        for (size_t i = 0; s->cgroup_dirs && s->cgroup_dirs[i]; i++)
                json_w_str(w, s->cgroup_dirs[i]);
        json_w_arr_close(w);
        json_w_key_obj_open(w, "annotations"); /* in the config's order */
        for (size_t i = 0; s->annotations && s->annotations[i] && s->annotations[i + 1]; i += 2)
                json_w_key_str(w, s->annotations[i], s->annotations[i + 1]);
        json_w_obj_close(w);
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

int state_write(struct state_dir *d, const struct state *s, struct cx_error **err)
{
        _cleanup_free_ char *json = state_encode(s);
        int r = write_file_atomic_at(d->fd, "state.json", json, strlen(json), err);
        if (r < 0)
                return cx_error_prefix(err, "save state of container `%s`", d->id);
        return 0;
}

static char *get_str(const struct json_val *root, const char *key)
{
        const char *v = json_val_str(json_val_get(root, key));
        return xstrdup(v ? v : "");
}

static long long get_int(const struct json_val *root, const char *key)
{
        int64_t v = 0;
        return json_val_int(json_val_get(root, key), &v) ? v : 0;
}

static bool get_bool(const struct json_val *root, const char *key)
{
        return json_val_type(json_val_get(root, key)) == JSON_TRUE;
}

static void decode(const struct json_val *root, struct state *s)
{
        s->id = get_str(root, "id");
        s->pid = (pid_t)get_int(root, "pid");
        s->pid_start_time = (uint64_t)get_int(root, "pidStartTime");
        s->bundle = get_str(root, "bundle");
        s->rootfs = get_str(root, "rootfs");
        s->created = get_str(root, "created");
        s->owner = get_str(root, "owner");
        s->creating = get_bool(root, "creating");
        s->use_systemd_cgroup = get_bool(root, "systemdCgroup");
        s->cgroup_driver = get_str(root, "cgroupDriver");
        s->launcher = get_str(root, "launcher");
        const struct json_val *dirs = json_val_get(root, "cgroupDirs");
        s->cgroup_dirs = xcalloc(1, sizeof(char *));
        for (size_t i = 0; json_val_type(dirs) == JSON_ARRAY && i < json_val_len(dirs); i++) {
                const char *d = json_val_str(json_val_at(dirs, i));
                if (d)
                        strv_append(&s->cgroup_dirs, d);
        }
        const struct json_val *ann = json_val_get(root, "annotations");
        s->annotations = xcalloc(1, sizeof(char *));
        for (size_t i = 0; json_val_type(ann) == JSON_OBJECT && i < json_val_len(ann); i++) {
                const char *v = json_val_str(json_val_at(ann, i));
                strv_append(&s->annotations, json_val_key(ann, i));
                strv_append(&s->annotations, v ? v : "");
        }
}

int state_parse(const char *json, size_t len, struct state *ret, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *root = NULL;
        int r = json_parse(json, len, "state.json", &root, err);
        if (r < 0)
                return r;
        if (json_val_type(root) != JSON_OBJECT)
                return cx_error_msg(err, EIO, "state.json: expected an object");
        *ret = (struct state){0};
        decode(root, ret);
        return 0;
}

int state_read(struct state_dir *d, struct state *ret, struct cx_error **err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = read_file_at(d->fd, "state.json", &buf, &len, err);
        if (r < 0)
                return cx_error_prefix(err, "read state of container `%s`", d->id);
        if (state_parse(buf, len, ret, err) < 0)
                return cx_error_prefix(err, "state of container `%s` is corrupt", d->id);
        return 0;
}

void state_clear(struct state *s)
{
        free(s->id);
        free(s->bundle);
        free(s->rootfs);
        free(s->created);
        free(s->owner);
        strv_free(s->annotations);
        free(s->cgroup_driver);
        free(s->launcher);
        strv_free(s->cgroup_dirs);
        *s = (struct state){0};
}
