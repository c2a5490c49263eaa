/* state.json and the OCI state document, with yajl. */
#include "state/state.h"

#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define OCI_VERSION "1.2.0"

static void gen_annotations(yajl_gen g, char *const *kv)
{
        json_str(g, "annotations");
        yajl_gen_map_open(g);
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
                json_key_str(g, kv[i], kv[i + 1]);
        yajl_gen_map_close(g);
}

char *state_oci_json(const struct state *s, enum state_status st)
{
        yajl_gen g = json_gen_new("  ");
        yajl_gen_map_open(g);
        json_key_str(g, "ociVersion", OCI_VERSION);
        json_key_str(g, "id", s->id);
        json_key_str(g, "status", state_status_name(st));
        json_key_int(g, "pid", st == STATE_STOPPED ? 0 : s->pid);
        json_key_str(g, "bundle", s->bundle);
        json_key_str(g, "rootfs", s->rootfs);
        json_key_str(g, "created", s->created);
        json_key_str(g, "owner", s->owner);
        gen_annotations(g, s->annotations);
        yajl_gen_map_close(g);
        return json_finish(g, true);
}

static char *state_encode(const struct state *s)
{
        yajl_gen g = json_gen_new(NULL);
        yajl_gen_map_open(g);
        json_key_str(g, "ociVersion", OCI_VERSION);
        json_key_str(g, "id", s->id);
        json_key_int(g, "pid", s->pid);
        json_key_int(g, "pidStartTime", (long long)s->pid_start_time);
        json_key_str(g, "bundle", s->bundle);
        json_key_str(g, "rootfs", s->rootfs);
        json_key_str(g, "created", s->created);
        json_key_str(g, "owner", s->owner);
        json_str(g, "creating");
        yajl_gen_bool(g, s->creating);
        json_str(g, "systemdCgroup");
        yajl_gen_bool(g, s->use_systemd_cgroup);
        json_key_str(g, "cgroupDriver", s->cgroup_driver);
        json_key_str(g, "launcher", s->launcher);
        json_str(g, "cgroupDirs");
        yajl_gen_array_open(g);
        for (size_t i = 0; s->cgroup_dirs && s->cgroup_dirs[i]; i++)
                json_str(g, s->cgroup_dirs[i]);
        yajl_gen_array_close(g);
        gen_annotations(g, s->annotations);
        yajl_gen_map_close(g);
        return json_finish(g, true);
}

int state_write(struct state_dir *d, const struct state *s, struct cx_error **err)
{
        _cleanup_free_ char *json = state_encode(s);
        int r = write_file_atomic_at(d->fd, "state.json", json, strlen(json), err);
        if (r < 0)
                return cx_error_prefix(err, "save state of container `%s`", d->id);
        return 0;
}

static char *get_str(yajl_val root, const char *key)
{
        const char *path[] = {key, NULL};
        yajl_val v = yajl_tree_get(root, path, yajl_t_string);
        return xstrdup(v ? YAJL_GET_STRING(v) : "");
}

static long long get_int(yajl_val root, const char *key)
{
        const char *path[] = {key, NULL};
        yajl_val v = yajl_tree_get(root, path, yajl_t_number);
        return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static bool get_bool(yajl_val root, const char *key)
{
        const char *path[] = {key, NULL};
        yajl_val v = yajl_tree_get(root, path, yajl_t_any);
        return v && YAJL_IS_TRUE(v);
}

static void decode(yajl_val root, struct state *s)
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
        const char *dirs_path[] = {"cgroupDirs", NULL};
        yajl_val dirs = yajl_tree_get(root, dirs_path, yajl_t_array);
        s->cgroup_dirs = xcalloc(1, sizeof(char *));
        for (size_t i = 0; dirs && i < YAJL_GET_ARRAY(dirs)->len; i++) {
                yajl_val v = YAJL_GET_ARRAY(dirs)->values[i];
                if (YAJL_IS_STRING(v))
                        strv_append(&s->cgroup_dirs, YAJL_GET_STRING(v));
        }
        const char *ann_path[] = {"annotations", NULL};
        yajl_val ann = yajl_tree_get(root, ann_path, yajl_t_object);
        s->annotations = xcalloc(1, sizeof(char *));
        for (size_t i = 0; ann && i < YAJL_GET_OBJECT(ann)->len; i++) {
                yajl_val v = YAJL_GET_OBJECT(ann)->values[i];
                strv_append(&s->annotations, YAJL_GET_OBJECT(ann)->keys[i]);
                strv_append(&s->annotations, YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "");
        }
}

int state_parse(const char *json, size_t len, struct state *ret, struct cx_error **err)
{
        yajl_val root = NULL;
        int r = json_parse(json, len, "state.json", &root, err);
        if (r < 0)
                return r;
        if (!YAJL_IS_OBJECT(root)) {
                yajl_tree_free(root);
                return cx_error_msg(err, EIO, "state.json: expected an object");
        }
        *ret = (struct state){0};
        decode(root, ret);
        yajl_tree_free(root);
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
