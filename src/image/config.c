/* The config.json of a container made from an image: the image's config (Entrypoint, Cmd, Env,
 * WorkingDir, User, Labels, StopSignal) under what `create|run --image` sets, on the shape of
 * `capsa spec`'s default (spec_template_json). */
#include "image/image-internal.h"
#include "security/security.h"
#include "spec/spec.h"
#include "util/json.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What images expect (podman's and docker's defaults, without NET_RAW and MKNOD): a service
 * that starts as root and switches user, chowns its files or chroots works.  A user other than
 * root gets them in the bounding set only. */
static char *const image_caps[] = {
    "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FOWNER",  "CAP_FSETID",  "CAP_KILL",
    "CAP_SETGID",     "CAP_SETUID",       "CAP_SETPCAP", "CAP_SETFCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",  NULL,
};

struct made {
        char **args, **env, **annotations;
        char **volumes; /* copies of -v, split in place */
        struct spec_template_bind *binds;
        size_t n_binds;
};

static void made_clear(struct made *m)
{
        strv_free(m->args);
        strv_free(m->env);
        strv_free(m->annotations);
        strv_free(m->volumes);
        free(m->binds);
}

/* The image config's members have the types the image spec gives them, or are absent or null:
 * a value of another type is an error, never ignored (a "User": 1000 ignored would run the
 * container as root). */
static int strv_from_json(const struct json_val *v, const char *path, char ***ret,
                          struct cx_error **err)
{
        if (json_val_type(v) != JSON_NULL && json_val_type(v) != JSON_ARRAY)
                return cx_error_msg(err, EINVAL, "image config: %s: expected an array of strings",
                                    path);
        for (size_t i = 0; i < json_val_len(v); i++) {
                const char *s = json_val_str(json_val_at(v, i));
                if (!s)
                        return cx_error_msg(err, EINVAL, "image config: %s[%zu]: not a string",
                                            path, i);
                strv_append(ret, s);
        }
        return 0;
}

/* KEY=VALUE replaces an earlier KEY; a bare KEY takes the caller's value (docker's -e KEY). */
static int env_set(char ***env, const char *kv, struct cx_error **err)
{
        _cleanup_free_ char *item = NULL;
        const char *eq = strchr(kv, '=');
        if (eq == kv || !kv[0])
                return cx_error_msg(err, EINVAL, "--env `%s`: no variable name", kv);
        if (!eq) {
                const char *v = getenv(kv);
                if (!v)
                        return 0;
                item = xasprintf("%s=%s", kv, v);
                kv = item;
                eq = strchr(kv, '=');
        }
        size_t klen = (size_t)(eq - kv) + 1;
        for (char **e = *env; e && *e; e++)
                if (strncmp(*e, kv, klen) == 0) {
                        free(*e);
                        *e = xstrdup(kv);
                        return 0;
                }
        strv_append(env, kv);
        return 0;
}

static int make_env(const struct json_val *cfg, const struct image_run_opts *o, char ***ret,
                    struct cx_error **err)
{
        char **env = xcalloc(1, sizeof(char *));
        int r = strv_from_json(json_val_get(cfg, "Env"), "config.Env", &env, err);
        bool has_path = false;
        for (char **e = env; *e; e++)
                has_path |= str_has_prefix(*e, "PATH=");
        if (!has_path)
                strv_append(&env, DEFAULT_PATH);
        if (o->tty && r >= 0)
                r = env_set(&env, "TERM=xterm", err);
        for (char **e = o->env; r >= 0 && e && *e; e++)
                r = env_set(&env, *e, err);
        if (r < 0) {
                strv_free(env);
                return r;
        }
        *ret = env;
        return 0;
}

static int make_args(const struct json_val *cfg, const struct image_run_opts *o, char ***ret,
                     struct cx_error **err)
{
        _cleanup_strv_ char **args = xcalloc(1, sizeof(char *));
        int r = strv_from_json(json_val_get(cfg, "Entrypoint"), "config.Entrypoint", &args, err);
        if (r < 0)
                return r;
        if (o->cmd)
                for (char **a = o->cmd; *a; a++)
                        strv_append(&args, *a);
        else if ((r = strv_from_json(json_val_get(cfg, "Cmd"), "config.Cmd", &args, err)) < 0)
                return r;
        if (!args[0])
                return cx_error_msg(err, EINVAL,
                                    "the image has no Entrypoint or Cmd: give the command after "
                                    "`--`");
        *ret = TAKE_PTR(args);
        return 0;
}

/* config.KEY: a string, or NULL when absent or null */
static int str_member(const struct json_val *cfg, const char *key, const char **ret,
                      struct cx_error **err)
{
        const struct json_val *v = json_val_get(cfg, key);
        *ret = json_val_str(v);
        if (!*ret && json_val_type(v) != JSON_NULL)
                return cx_error_msg(err, EINVAL, "image config: config.%s: expected a string", key);
        return 0;
}

/* Labels as annotations, and the stop signal as podman records it. */
static int make_annotations(const struct json_val *cfg, char ***ret, struct cx_error **err)
{
        _cleanup_strv_ char **a = xcalloc(1, sizeof(char *));
        const struct json_val *labels = json_val_get(cfg, "Labels");
        if (json_val_type(labels) != JSON_NULL && json_val_type(labels) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "image config: config.Labels: expected an object");
        for (size_t i = 0; i < json_val_len(labels); i++) {
                const char *v = json_val_str(json_val_at(labels, i));
                if (!v)
                        return cx_error_msg(err, EINVAL,
                                            "image config: config.Labels.%s: expected a string",
                                            json_val_key(labels, i));
                strv_append(&a, json_val_key(labels, i));
                strv_append(&a, v);
        }
        const char *sig = NULL;
        int r = str_member(cfg, "StopSignal", &sig, err);
        if (r < 0)
                return r;
        if (sig) {
                strv_append(&a, "org.opencontainers.image.stopSignal");
                strv_append(&a, sig);
        }
        *ret = TAKE_PTR(a);
        return 0;
}

/* -v HOST:CTR[:ro|rw] */
static int make_binds(const struct image_run_opts *o, struct made *m, struct cx_error **err)
{
        size_t n = strv_len(o->volumes);
        m->volumes = o->volumes ? strv_dup(o->volumes) : NULL;
        m->binds = xcalloc(n ? n : 1, sizeof(*m->binds));
        for (size_t i = 0; i < n; i++) {
                char *v = m->volumes[i];
                char *c1 = strchr(v, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                struct spec_template_bind *b = &m->binds[m->n_binds];
                if (!c1 || v[0] != '/' || c1[1] != '/')
                        return cx_error_msg(err, EINVAL,
                                            "-v `%s`: expected /HOST/PATH:/CONTAINER/PATH[:ro|rw]",
                                            o->volumes[i]);
                if (c2 && strcmp(c2 + 1, "ro") != 0 && strcmp(c2 + 1, "rw") != 0)
                        return cx_error_msg(err, EINVAL, "-v `%s`: `%s` is not ro or rw",
                                            o->volumes[i], c2 + 1);
                *c1 = '\0';
                if (c2)
                        *c2 = '\0';
                struct stat st;
                if (stat(v, &st) < 0)
                        return cx_error_set(err, errno, "-v: host path `%s`", v);
                *b = (struct spec_template_bind){
                    .source = v, .dest = c1 + 1, .readonly = c2 && strcmp(c2 + 1, "ro") == 0};
                m->n_binds++;
        }
        return 0;
}

static int check_cwd(const char *cwd, struct cx_error **err)
{
        if (cwd && cwd[0] != '/')
                return cx_error_msg(err, EINVAL, "working directory `%s`: not an absolute path",
                                    cwd);
        return 0;
}

int image_config_json(const char *config, size_t len, char *const *lowers, size_t n_lowers,
                      const struct image_run_opts *o, char **ret, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *doc = NULL;
        _cleanup_(made_clear) struct made m = {0};
        struct image_user u = {0};
        const char *cwd = NULL, *user = NULL;
        int r = json_parse(config, len, "image config", &doc, err);
        if (r < 0)
                return r;
        const struct json_val *cfg = json_val_get(doc, "config");
        if (json_val_type(doc) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "image config: expected a JSON object");
        if (json_val_type(cfg) != JSON_NULL && json_val_type(cfg) != JSON_OBJECT)
                return cx_error_msg(err, EINVAL, "image config: config: expected an object");
        if ((r = str_member(cfg, "WorkingDir", &cwd, err)) < 0 ||
            (r = str_member(cfg, "User", &user, err)) < 0)
                return r;
        if (o->workdir)
                cwd = o->workdir;
        if (o->user)
                user = o->user;
        if (cwd && !cwd[0])
                cwd = NULL;
        if ((r = make_args(cfg, o, &m.args, err)) < 0 || (r = make_env(cfg, o, &m.env, err)) < 0 ||
            (r = check_cwd(cwd, err)) < 0 || (r = make_annotations(cfg, &m.annotations, err)) < 0 ||
            (r = image_user_resolve(lowers, n_lowers, user, &u, err)) < 0)
                return r;
        r = make_binds(o, &m, err);
        /* capsa's default seccomp profile, as engines give images theirs */
        _cleanup_free_ char *seccomp = sec_default_profile_json(o->rootless);
        if (r >= 0)
                *ret = spec_template_json(&(struct spec_template){
                    .rootless = o->rootless,
                    .uid = getuid(),
                    .gid = getgid(),
                    .args = m.args,
                    .env = m.env,
                    .cwd = cwd,
                    .user_uid = u.uid,
                    .user_gid = u.gid,
                    .additional_gids = u.gids,
                    .n_additional_gids = u.n_gids,
                    .terminal = o->tty,
                    .readonly_root = o->read_only,
                    .caps = image_caps,
                    .caps_bounding_only = u.uid != 0,
                    .seccomp_json = seccomp,
                    .hostname = o->id,
                    .annotations = m.annotations,
                    .binds = m.binds,
                    .n_binds = m.n_binds,
                    .memory = o->memory,
                    .cpu_quota = o->cpu_quota,
                    .pids = o->pids,
                });
        free(u.gids);
        return r;
}
