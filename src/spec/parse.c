/* spec: loading config.json -- top level, root, mounts, hooks, annotations. */
#include "spec/internal.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

const char *const spec_hook_kind_names[SPEC_HOOK_KIND_MAX] = {
    [SPEC_HOOK_PRESTART] = "prestart",
    [SPEC_HOOK_CREATE_RUNTIME] = "createRuntime",
    [SPEC_HOOK_CREATE_CONTAINER] = "createContainer",
    [SPEC_HOOK_START_CONTAINER] = "startContainer",
    [SPEC_HOOK_POSTSTART] = "poststart",
    [SPEC_HOOK_POSTSTOP] = "poststop",
};

static int parse_root(const struct jcur *top, struct spec *s)
{
        struct jcur c;
        int r = j_obj(top, "root", &c);
        if (r <= 0)
                return r;
        if ((r = j_str(&c, "path", &s->root.path)) < 0 ||
            (r = j_bool(&c, "readonly", &s->root.readonly)) < 0)
                return r;
        if (s->root.path && s->root.path[0] != '/' && s->bundle) {
                char *abs = xasprintf("%s/%s", s->bundle, s->root.path);
                free(s->root.path);
                s->root.path = abs;
        }
        return 0;
}

/* vm: each member's own required fields, as the runtime spec has them. */
static int parse_vm(const struct jcur *top, struct spec_vm *vm)
{
        static const char *const formats[] = {"raw", "qcow2", "vdi", "vmdk", "vhd"};
        struct jcur v, c;
        int r = j_obj(top, "vm", &v);
        if (r <= 0)
                return r;
        vm->present = true;
        if ((r = j_obj(&v, "hypervisor", &c)) < 0 ||
            (r > 0 &&
             ((r = j_need(&c, "path")) < 0 || (r = j_str(&c, "path", &vm->hypervisor_path)) < 0 ||
              (r = j_strv(&c, "parameters", &vm->hypervisor_params)) < 0)))
                return r;
        if ((r = j_obj(&v, "kernel", &c)) < 0 ||
            (r > 0 &&
             ((r = j_need(&c, "path")) < 0 || (r = j_str(&c, "path", &vm->kernel_path)) < 0 ||
              (r = j_strv(&c, "parameters", &vm->kernel_params)) < 0 ||
              (r = j_str(&c, "initrd", &vm->kernel_initrd)) < 0)))
                return r;
        int fmt = 0;
        if ((r = j_obj(&v, "image", &c)) < 0 ||
            (r > 0 && ((r = j_need(&c, "path")) < 0 || (r = j_need(&c, "format")) < 0 ||
                       (r = j_str(&c, "path", &vm->image_path)) < 0 ||
                       (r = j_enum(&c, "format", formats, 5, "image format", &fmt)) < 0)))
                return r;
        if (vm->image_path)
                vm->image_format = xstrdup(formats[fmt]);
        return 0;
}

static int parse_mount(const struct jcur *c, void *slot)
{
        struct spec_mount *m = slot;
        int r;

        if ((r = j_need(c, "destination")) < 0 ||
            (r = j_str(c, "destination", &m->destination)) < 0 ||
            (r = j_str(c, "type", &m->type)) < 0 || (r = j_str(c, "source", &m->source)) < 0 ||
            (r = j_strv(c, "options", &m->options)) < 0 ||
            (r = spec_parse_id_maps(c, "uidMappings", &m->uid_mappings, &m->n_uid_mappings)) < 0 ||
            (r = spec_parse_id_maps(c, "gidMappings", &m->gid_mappings, &m->n_gid_mappings)) < 0)
                return r;
        if (m->destination[0] != '/')
                return j_fail(c, "destination", "must be an absolute path");
        return 0;
}

static int parse_hook(const struct jcur *c, void *slot)
{
        struct spec_hook *h = slot;
        int64_t t;
        int r;

        if ((r = j_need(c, "path")) < 0 || (r = j_str(c, "path", &h->path)) < 0 ||
            (r = j_strv(c, "args", &h->args)) < 0 || (r = j_strv(c, "env", &h->env)) < 0)
                return r;
        if (h->path[0] != '/')
                return j_fail(c, "path", "must be an absolute path");
        r = j_range(c, "timeout", 1, INT_MAX, &t);
        if (r > 0)
                h->timeout = (struct spec_opt_i64){.set = true, .v = t};
        return r < 0 ? r : 0;
}

static int parse_hooks(const struct jcur *top, struct spec_hooks *hooks)
{
        struct jcur c;
        int r = j_obj(top, "hooks", &c);
        if (r <= 0)
                return r;
        for (int k = 0; k < SPEC_HOOK_KIND_MAX; k++) {
                r = j_objv(&c, spec_hook_kind_names[k], sizeof(struct spec_hook),
                           (void **)&hooks->v[k], &hooks->n[k], parse_hook);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_top(const struct jcur *top, struct spec *s)
{
        struct jcur c;
        int r;

        if (!YAJL_IS_OBJECT(top->v))
                return j_fail(top, NULL, "expected object, got %s",
                              YAJL_IS_ARRAY(top->v) ? "array" : "scalar");
        if ((r = j_str(top, "ociVersion", &s->oci_version)) < 0 ||
            (r = j_str(top, "hostname", &s->hostname)) < 0 ||
            (r = j_str(top, "domainname", &s->domainname)) < 0 || (r = parse_root(top, s)) < 0 ||
            (r = j_objv(top, "mounts", sizeof(struct spec_mount), (void **)&s->mounts, &s->n_mounts,
                        parse_mount)) < 0 ||
            (r = parse_hooks(top, &s->hooks)) < 0 ||
            (r = j_kv(top, "annotations", &s->annotations, &s->n_annotations)) < 0)
                return r;
        if ((r = j_obj(top, "process", &c)) < 0)
                return r;
        s->has_process = r > 0;
        if (r > 0 && (r = spec_parse_process(&c, &s->process)) < 0)
                return r;
        if ((r = j_obj(top, "linux", &c)) < 0 ||
            (r > 0 && (r = spec_parse_linux(&c, &s->linux_)) < 0))
                return r;
        return parse_vm(top, &s->vm);
}

int spec_parse(const char *json, size_t len, const char *name, const char *bundle,
               struct spec **ret, struct cx_error **err)
{
        _cleanup_(spec_freep) struct spec *s = xcalloc(1, sizeof(*s));
        yajl_val tree;
        int r;

        if (!name)
                name = "config.json";
        if ((r = j_parse(json, len, name, &tree, err)) < 0)
                return r;
        s->bundle = bundle ? xstrdup(bundle) : NULL;
        struct jcur top = j_root(tree, err);
        r = parse_top(&top, s);
        yajl_tree_free(tree);
        if (r < 0)
                return cx_error_prefix(err, "%s", name);
        *ret = TAKE_PTR(s);
        return 0;
}

int spec_load(const char *bundle, struct spec **ret, char **raw, struct cx_error **err)
{
        _cleanup_free_ char *dir = NULL, *data = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        int r;

        dir = realpath(bundle, NULL);
        if (!dir)
                return cx_error_set(err, errno, "bundle `%s`", bundle);
        _cleanup_free_ char *file = xasprintf("%s/config.json", dir);
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open config.json in bundle `%s`", dir);
        r = read_fd_all(fd, &data, &len);
        if (r == -EFBIG)
                return cx_error_msg(err, EFBIG, "config.json: larger than %d MiB",
                                    FILE_MAX_SIZE >> 20);
        if (r < 0)
                return cx_error_set(err, -r, "read config.json in bundle `%s`", dir);
        r = spec_parse(data, len, "config.json", dir, ret, err);
        if (r < 0)
                return r;
        if (raw)
                *raw = TAKE_PTR(data);
        return 0;
}

const char *spec_annotation(const struct spec *s, const char *key)
{
        for (size_t i = 0; i < s->n_annotations; i++)
                if (strcmp(s->annotations[i].key, key) == 0)
                        return s->annotations[i].value;
        return NULL;
}

static void mounts_free(struct spec_mount *m, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(m[i].destination);
                free(m[i].type);
                free(m[i].source);
                strv_free(m[i].options);
                free(m[i].uid_mappings);
                free(m[i].gid_mappings);
        }
        free(m);
}

static void hooks_free(struct spec_hooks *h)
{
        for (int k = 0; k < SPEC_HOOK_KIND_MAX; k++) {
                for (size_t i = 0; i < h->n[k]; i++) {
                        free(h->v[k][i].path);
                        strv_free(h->v[k][i].args);
                        strv_free(h->v[k][i].env);
                }
                free(h->v[k]);
        }
}

void spec_free(struct spec *s)
{
        if (!s)
                return;
        free(s->oci_version);
        free(s->bundle);
        free(s->hostname);
        free(s->domainname);
        free(s->vm.hypervisor_path);
        strv_free(s->vm.hypervisor_params);
        free(s->vm.kernel_path);
        strv_free(s->vm.kernel_params);
        free(s->vm.kernel_initrd);
        free(s->vm.image_path);
        free(s->vm.image_format);
        free(s->root.path);
        spec_process_clear(&s->process);
        mounts_free(s->mounts, s->n_mounts);
        hooks_free(&s->hooks);
        spec_kv_free(s->annotations, s->n_annotations);
        spec_linux_clear(&s->linux_);
        free(s);
}

void spec_freep(struct spec **s)
{
        spec_free(*s);
}
