/* OCI mount options -> mount(2) flags, propagation, mount_setattr(2) attributes and data. */
#include "namespaces/ns-internal.h"

#include <string.h>
#include <sys/mount.h>

struct flag_opt {
        const char *name;
        bool clear;
        unsigned long flag;
};

/* As runc's parseMountOptions. */
static const struct flag_opt flag_opts[] = {
    {"acl", false, MS_POSIXACL},
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noacl", true, MS_POSIXACL},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"symfollow", true, MS_NOSYMFOLLOW},
    {"sync", false, MS_SYNCHRONOUS},
};

static const struct {
        const char *name;
        unsigned long flag;
} prop_opts[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static const struct {
        const char *name;
        bool clear;
        uint64_t attr;
} attr_opts[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},
    {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},
    {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},
    {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},
    {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME},
    {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rrelatime", false, MOUNT_ATTR_RELATIME},
    {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},
    {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME},
    {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW},
    {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

/* Options that set a field of their own rather than a flag. */
enum special_opt { SPECIAL_IDMAP, SPECIAL_TMPCOPYUP, SPECIAL_NOTMPCOPYUP };
static const struct {
        const char *name;
        enum special_opt kind;
} special_opts[] = {
    {"idmap", SPECIAL_IDMAP},
    {"ridmap", SPECIAL_IDMAP},
    {"tmpcopyup", SPECIAL_TMPCOPYUP},
    {"notmpcopyup", SPECIAL_NOTMPCOPYUP},
};

static bool parse_special(const char *o, struct ns_mount_opts *r)
{
        for (size_t i = 0; i < ARRAY_SIZE(special_opts); i++) {
                if (strcmp(o, special_opts[i].name) != 0)
                        continue;
                switch (special_opts[i].kind) {
                case SPECIAL_IDMAP:
                        r->idmap = true;
                        break;
                case SPECIAL_TMPCOPYUP:
                        r->tmpcopyup = true;
                        break;
                case SPECIAL_NOTMPCOPYUP:
                        r->tmpcopyup = false;
                        break;
                }
                return true;
        }
        return false;
}

/* The names of the four tables, in table order: `features` lists exactly what the parser
 * knows. */
const char **ns_mount_option_names(size_t *ret_n)
{
        size_t n = ARRAY_SIZE(flag_opts) + ARRAY_SIZE(prop_opts) + ARRAY_SIZE(attr_opts) +
                   ARRAY_SIZE(special_opts);
        const char **v = xcalloc(n + 1, sizeof(*v));
        size_t k = 0;
        for (size_t i = 0; i < ARRAY_SIZE(flag_opts); i++)
                v[k++] = flag_opts[i].name;
        for (size_t i = 0; i < ARRAY_SIZE(prop_opts); i++)
                v[k++] = prop_opts[i].name;
        for (size_t i = 0; i < ARRAY_SIZE(attr_opts); i++)
                v[k++] = attr_opts[i].name;
        for (size_t i = 0; i < ARRAY_SIZE(special_opts); i++)
                v[k++] = special_opts[i].name;
        *ret_n = n;
        return v;
}

static bool parse_flag(const char *o, struct ns_mount_opts *r)
{
        for (size_t i = 0; i < ARRAY_SIZE(flag_opts); i++) {
                const struct flag_opt *f = &flag_opts[i];
                if (strcmp(o, f->name) != 0)
                        continue;
                if (f->clear) {
                        r->flags &= ~f->flag;
                        r->clear_flags |= f->flag;
                } else {
                        r->flags |= f->flag;
                        r->clear_flags &= ~f->flag;
                }
                if (f->flag & MS_BIND) {
                        r->bind = true;
                        r->recursive = r->recursive || (f->flag & MS_REC);
                }
                return true;
        }
        return false;
}

static bool parse_prop(const char *o, struct ns_mount_opts *r)
{
        for (size_t i = 0; i < ARRAY_SIZE(prop_opts); i++)
                if (strcmp(o, prop_opts[i].name) == 0) {
                        r->propagation = prop_opts[i].flag;
                        return true;
                }
        return false;
}

static bool parse_attr(const char *o, struct ns_mount_opts *r)
{
        for (size_t i = 0; i < ARRAY_SIZE(attr_opts); i++) {
                uint64_t a = attr_opts[i].attr;
                if (strcmp(o, attr_opts[i].name) != 0)
                        continue;
                if (attr_opts[i].clear) {
                        r->attr_clr |= a;
                        r->attr_set &= ~a;
                } else if ((a & MOUNT_ATTR__ATIME) == a) {
                        /* atime modes are one field: clear it all, then set the mode */
                        r->attr_clr |= MOUNT_ATTR__ATIME;
                        r->attr_set = (r->attr_set & ~MOUNT_ATTR__ATIME) | a;
                } else {
                        r->attr_set |= a;
                        r->attr_clr &= ~a;
                }
                return true;
        }
        return false;
}

static void data_append(char **data, size_t *len, const char *o)
{
        size_t n = strlen(o);
        *data = xrealloc(*data, *len + n + 2);
        if (*len > 0)
                (*data)[(*len)++] = ',';
        memcpy(*data + *len, o, n + 1);
        *len += n;
}

int ns_mount_opts_parse(char *const *options, struct ns_mount_opts *ret, struct cx_error **err)
{
        struct ns_mount_opts r = {0};
        size_t data_len = 0;

        for (char *const *p = options; p && *p; p++) {
                const char *o = *p;
                if (*o == '\0' || parse_flag(o, &r) || parse_prop(o, &r) || parse_attr(o, &r) ||
                    parse_special(o, &r))
                        continue;
                data_append(&r.data, &data_len, o);
        }
        *ret = r;
        return 0;
}

void ns_mount_opts_clear(struct ns_mount_opts *o)
{
        if (!o)
                return;
        free(o->data);
        *o = (struct ns_mount_opts){0};
}

void ns_mount_plan_clear(struct ns_mount_plan *p)
{
        for (size_t i = 0; i < p->n; i++)
                ns_mount_opts_clear(&p->opts[i]);
        free(p->opts);
        *p = (struct ns_mount_plan){0};
}

static int plan_one(const struct spec_mount *m, size_t idx, struct ns_mount_opts *mo,
                    struct cx_error **err)
{
        if (!m->destination || m->destination[0] != '/')
                return cx_error_msg(err, EINVAL,
                                    "mounts[%zu].destination: `%s` is not an absolute path", idx,
                                    m->destination ? m->destination : "");
        int r = ns_mount_opts_parse(m->options, mo, err);
        if (r < 0)
                return cx_error_prefix(err, "mounts[%zu].options", idx);
        if (mo->tmpcopyup && (!streq_ptr(m->type, "tmpfs") || mo->bind))
                return cx_error_msg(err, EINVAL,
                                    "mounts[%zu].options: tmpcopyup applies to tmpfs mounts only",
                                    idx);
        if (!m->type && !mo->bind)
                return cx_error_msg(err, EINVAL,
                                    "mounts[%zu].type: required unless the options say bind or "
                                    "rbind",
                                    idx);
        if (!m->source && (mo->bind || streq_ptr(m->type, "bind")))
                return cx_error_msg(err, EINVAL, "mounts[%zu].source: required for a bind mount",
                                    idx);
        return 0;
}

int ns_mounts_plan(const struct ns_config *s, struct ns_mount_plan *ret, struct cx_error **err)
{
        _cleanup_(ns_mount_plan_clear) struct ns_mount_plan p = {
            .opts = xcalloc(s->n_mounts ? s->n_mounts : 1, sizeof(struct ns_mount_opts)),
            .n = s->n_mounts};
        for (size_t i = 0; i < s->n_mounts; i++) {
                int r = plan_one(&s->mounts[i], i, &p.opts[i], err);
                if (r < 0)
                        return r;
        }
        *ret = p;
        p = (struct ns_mount_plan){0};
        return 0;
}
