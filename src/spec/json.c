/* spec: yajl helpers -- typed getters that report errors with the JSON path. */
#include "spec/internal.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

/* One parser for every JSON document (util/json.c): depth, size and NUL limits included.  Its
 * tree is yajl's (util/json.c builds yajl_val nodes behind the opaque `struct json_val`), which
 * the config parser walks directly. */
int j_parse(const char *json, size_t len, const char *name, yajl_val *ret, struct cx_error **err)
{
        struct json_val *v = NULL;
        int r = json_parse(json, len, name, &v, err);
        if (r >= 0)
                *ret = (yajl_val)v;
        return r;
}

int j_parse_object(const char *json, size_t len, const char *name, struct cx_error **err,
                   int (*fn)(struct jcur *top, void *out), void *out)
{
        yajl_val tree;
        int r = j_parse(json, len, NULL, &tree, err); /* the callers prefix every error with name */
        if (r < 0)
                return r;
        struct jcur top = j_root(tree, err);
        r = YAJL_IS_OBJECT(tree) ? fn(&top, out) : j_type_fail(&top, NULL, "object", tree);
        yajl_tree_free(tree);
        return r;
}

struct jcur j_root(yajl_val v, struct cx_error **err)
{
        return (struct jcur){.v = v, .err = err};
}

/* Writes the path of c into f, returns whether anything was written. */
static bool j_path_write(FILE *f, const struct jcur *c)
{
        if (!c || (!c->up && !c->key))
                return false;
        bool any = j_path_write(f, c->up);
        if (c->key)
                fprintf(f, "%s%s", any ? "." : "", c->key);
        else
                fprintf(f, "[%zu]", c->idx);
        return true;
}

int j_fail(const struct jcur *c, const char *key, const char *fmt, ...)
{
        _cleanup_free_ char *path = NULL, *msg = NULL;
        size_t size = 0;
        va_list ap;

        FILE *f = open_memstream(&path, &size);
        if (!f)
                return cx_error_msg(c->err, ENOMEM, "out of memory");
        bool any = j_path_write(f, c);
        if (key)
                fprintf(f, "%s%s", any ? "." : "", key);
        fclose(f);

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!path || !path[0])
                return cx_error_msg(c->err, EINVAL, "%s", msg ? msg : "invalid");
        return cx_error_msg(c->err, EINVAL, "%s: %s", path, msg ? msg : "invalid");
}

static const char *j_type_name(yajl_val v)
{
        if (!v)
                return "nothing";
        switch (v->type) {
        case yajl_t_string:
                return "string";
        case yajl_t_number:
                return YAJL_IS_INTEGER(v) || !YAJL_IS_DOUBLE(v) ? "integer" : "number";
        case yajl_t_object:
                return "object";
        case yajl_t_array:
                return "array";
        case yajl_t_true:
        case yajl_t_false:
                return "boolean";
        default:
                return "null";
        }
}

int j_type_fail(const struct jcur *c, const char *key, const char *expected, yajl_val got)
{
        /* Integers beyond int64 are still integers in the message. */
        const char *t = j_type_name(got);
        if (YAJL_IS_NUMBER(got) && !strpbrk(got->u.number.r, ".eE"))
                t = "integer";
        return j_fail(c, key, "expected %s, got %s", expected, t);
}

yajl_val j_get(yajl_val obj, const char *key)
{
        if (!YAJL_IS_OBJECT(obj))
                return NULL;
        for (size_t i = 0; i < obj->u.object.len; i++) {
                const char *k = obj->u.object.keys[i]; /* NULL once stolen */
                if (k && strcmp(k, key) == 0) {
                        yajl_val v = obj->u.object.values[i];
                        return YAJL_IS_NULL(v) ? NULL : v;
                }
        }
        return NULL;
}

static int j_child(const struct jcur *c, const char *key, yajl_type t, const char *tname,
                   struct jcur *ret)
{
        yajl_val v = j_get(c->v, key);
        if (!v)
                return 0;
        if (v->type != t)
                return j_type_fail(c, key, tname, v);
        *ret = (struct jcur){.up = c, .key = key, .v = v, .err = c->err};
        return 1;
}

int j_obj(const struct jcur *c, const char *key, struct jcur *ret)
{
        return j_child(c, key, yajl_t_object, "object", ret);
}

int j_arr(const struct jcur *c, const char *key, struct jcur *ret)
{
        return j_child(c, key, yajl_t_array, "array", ret);
}

struct jcur j_elem(const struct jcur *arr, size_t i)
{
        return (struct jcur){.up = arr, .idx = i, .v = arr->v->u.array.values[i], .err = arr->err};
}

void j_elem_of(const struct jcur *c, const char *key, size_t i, struct jcur *arr, struct jcur *ret)
{
        *arr = (struct jcur){.up = c, .key = key, .v = j_get(c->v, key), .err = c->err};
        *ret = (struct jcur){.up = arr, .idx = i, .err = c->err};
        if (YAJL_IS_ARRAY(arr->v) && i < arr->v->u.array.len)
                ret->v = arr->v->u.array.values[i];
}

size_t j_len(const struct jcur *arr)
{
        return YAJL_IS_ARRAY(arr->v) ? arr->v->u.array.len : 0;
}

int j_need(const struct jcur *c, const char *key)
{
        return j_get(c->v, key) ? 0 : j_fail(c, key, "required");
}

int j_cstr(const struct jcur *c, const char *key, const char **ret)
{
        yajl_val v = j_get(c->v, key);
        if (!v)
                return 0;
        if (!YAJL_IS_STRING(v))
                return j_type_fail(c, key, "string", v);
        *ret = v->u.string;
        return 1;
}

int j_str(const struct jcur *c, const char *key, char **ret)
{
        yajl_val v = j_get(c->v, key);
        if (!v)
                return 0;
        if (!YAJL_IS_STRING(v))
                return j_type_fail(c, key, "string", v);
        free(*ret);
        *ret = TAKE_PTR(v->u.string); /* yajl_tree_free frees NULL harmlessly */
        return 1;
}

int j_bool(const struct jcur *c, const char *key, bool *ret)
{
        yajl_val v = j_get(c->v, key);
        if (!v)
                return 0;
        if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
                return j_type_fail(c, key, "boolean", v);
        *ret = YAJL_IS_TRUE(v);
        return 1;
}

/* Numbers are read from yajl's raw text so that the full uint64 range works. */
static int j_number(const struct jcur *c, const char *key, yajl_val v, bool is_unsigned,
                    int64_t *ri, uint64_t *ru)
{
        const char *raw = YAJL_IS_NUMBER(v) ? v->u.number.r : NULL;
        if (!raw || strpbrk(raw, ".eE"))
                return j_type_fail(c, key, "integer", v);
        if (is_unsigned) {
                if (raw[0] == '-' || parse_u64(raw, ru) < 0)
                        return j_fail(c, key, "%s out of range (expected 0..%" PRIu64 ")", raw,
                                      UINT64_MAX);
        } else if (parse_i64(raw, ri) < 0) {
                return j_fail(c, key, "%s out of range for a 64-bit integer", raw);
        }
        return 1;
}

int j_i64(const struct jcur *c, const char *key, int64_t *ret)
{
        yajl_val v = j_get(c->v, key);
        return v ? j_number(c, key, v, false, ret, NULL) : 0;
}

int j_u64(const struct jcur *c, const char *key, uint64_t *ret)
{
        yajl_val v = j_get(c->v, key);
        return v ? j_number(c, key, v, true, NULL, ret) : 0;
}

static int j_val_range(const struct jcur *c, const char *key, yajl_val v, int64_t min, int64_t max,
                       int64_t *ret)
{
        int64_t x;
        int r = j_number(c, key, v, false, &x, NULL);
        if (r <= 0)
                return r;
        if (x < min || x > max)
                return j_fail(c, key,
                              "%" PRId64 " out of range (expected %" PRId64 "..%" PRId64 ")", x,
                              min, max);
        *ret = x;
        return 1;
}

int j_range(const struct jcur *c, const char *key, int64_t min, int64_t max, int64_t *ret)
{
        yajl_val v = j_get(c->v, key);
        return v ? j_val_range(c, key, v, min, max, ret) : 0;
}

int j_self_range(const struct jcur *e, int64_t min, int64_t max, int64_t *ret)
{
        return j_val_range(e, NULL, e->v, min, max, ret);
}

int j_u32(const struct jcur *c, const char *key, uint32_t *ret)
{
        int64_t x;
        int r = j_range(c, key, 0, UINT32_MAX, &x);
        if (r > 0)
                *ret = (uint32_t)x;
        return r;
}

int j_int(const struct jcur *c, const char *key, int *ret)
{
        int64_t x;
        int r = j_range(c, key, INT_MIN, INT_MAX, &x);
        if (r > 0)
                *ret = (int)x;
        return r;
}

int j_opt_i64(const struct jcur *c, const char *key, struct spec_opt_i64 *ret)
{
        int r = j_i64(c, key, &ret->v);
        if (r > 0)
                ret->set = true;
        return r;
}

int j_opt_u64(const struct jcur *c, const char *key, struct spec_opt_u64 *ret)
{
        int r = j_u64(c, key, &ret->v);
        if (r > 0)
                ret->set = true;
        return r;
}

int j_strv(const struct jcur *c, const char *key, char ***ret)
{
        struct jcur a;
        int r = j_arr(c, key, &a);
        if (r <= 0)
                return r;
        size_t n = j_len(&a);
        _cleanup_strv_ char **v = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
                yajl_val s = a.v->u.array.values[i];
                if (!YAJL_IS_STRING(s)) {
                        struct jcur e = j_elem(&a, i);
                        return j_type_fail(&e, NULL, "string", s);
                }
                v[i] = TAKE_PTR(s->u.string);
        }
        strv_free(*ret);
        *ret = TAKE_PTR(v);
        return 1;
}

void spec_kv_free(struct spec_kv *kv, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

int j_kv(const struct jcur *c, const char *key, struct spec_kv **ret, size_t *ret_n)
{
        struct jcur o;
        int r = j_obj(c, key, &o);
        if (r <= 0)
                return r;
        size_t n = o.v->u.object.len;
        struct spec_kv *kv = xcalloc(n ? n : 1, sizeof(*kv));
        for (size_t i = 0; i < n; i++) {
                yajl_val s = o.v->u.object.values[i];
                if (!YAJL_IS_STRING(s)) {
                        r = j_type_fail(&o, o.v->u.object.keys[i], "string", s);
                        spec_kv_free(kv, n);
                        return r;
                }
                kv[i].key = (char *)TAKE_PTR(o.v->u.object.keys[i]);
                kv[i].value = TAKE_PTR(s->u.string);
        }
        *ret = kv;
        *ret_n = n;
        return 1;
}

int j_objv(const struct jcur *c, const char *key, size_t size, void **ret, size_t *ret_n,
           j_elem_fn fn)
{
        struct jcur a;
        int r = j_arr(c, key, &a);
        if (r <= 0)
                return r;
        size_t n = j_len(&a);
        char *v = xcalloc(n ? n : 1, size);
        *ret = v;
        *ret_n = n;
        for (size_t i = 0; i < n; i++) {
                struct jcur e = j_elem(&a, i);
                if (!YAJL_IS_OBJECT(e.v))
                        return j_type_fail(&e, NULL, "object", e.v);
                r = fn(&e, v + i * size);
                if (r < 0)
                        return r;
        }
        return 1;
}

int j_each_str(const struct jcur *c, const char *key, j_str_fn fn, void *ctx)
{
        struct jcur a;
        int r = j_arr(c, key, &a);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < j_len(&a); i++) {
                struct jcur e = j_elem(&a, i);
                if (!YAJL_IS_STRING(e.v))
                        return j_type_fail(&e, NULL, "string", e.v);
                if ((r = fn(&e, e.v->u.string, ctx)) < 0)
                        return r;
        }
        return 1;
}

int j_lookup(const char *const *names, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (names[i] && strcmp(names[i], s) == 0)
                        return (int)i;
        return -1;
}

int j_enum(const struct jcur *c, const char *key, const char *const *names, size_t n,
           const char *what, int *ret)
{
        const char *s = NULL;
        int r = j_cstr(c, key, &s);
        if (r <= 0)
                return r;
        int i = j_lookup(names, n, s);
        if (i < 0)
                return j_fail(c, key, "unknown %s \"%s\"", what, s);
        *ret = i;
        return 1;
}
