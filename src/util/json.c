/* JSON with yajl (util/json.h).
 *
 * Reading: json_parse() drives yajl's event parser and builds the same tree yajl_tree_parse()
 * builds, in one pass, with three checks yajl_tree_parse() lacks:
 *   - nesting depth at most JSON_MAX_DEPTH (yajl_tree_free() and the code that walks a tree
 *     recurse: a document of 300000 `[` overflowed the stack);
 *   - size at most JSON_MAX_SIZE;
 *   - no NUL byte in a string or key (`\u0000` would silently cut a path or an argument short).
 * A `struct json_val` is a yajl_val behind an opaque name: callers use the getters below, and
 * src/spec/ (the config parser) walks the yajl tree itself (spec/json.c).
 *
 * Writing: a `struct json_w` is a yajl_gen. */
#include "util/json.h"

#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

/* ---- reading ------------------------------------------------------------------------------ */

enum json_fail { JSON_FAIL_NONE, JSON_FAIL_DEPTH, JSON_FAIL_NUL_STRING, JSON_FAIL_NUL_KEY };

struct json_frame {
        yajl_val v;
        char *key;  /* an object's key whose value comes next (owned until added) */
        size_t cap; /* room allocated in v's arrays (they grow by doubling) */
};

struct json_builder {
        yajl_val root;
        size_t depth;
        struct json_frame stack[JSON_MAX_DEPTH];
        enum json_fail fail;
        char *bad; /* the string or key that held a NUL (with its length) */
        size_t bad_len;
};

static yajl_val json_new(yajl_type t)
{
        yajl_val v = xcalloc(1, sizeof(*v));
        v->type = t;
        return v;
}

/* Links v into the container being built (or makes it the root); takes v. */
static int json_add(struct json_builder *b, yajl_val v)
{
        if (b->depth == 0) {
                if (b->root) { /* yajl allows one top-level value: cannot happen */
                        yajl_tree_free(v);
                        return 0;
                }
                b->root = v;
                return 1;
        }
        struct json_frame *f = &b->stack[b->depth - 1];
        if (f->v->type == yajl_t_array) {
                size_t n = f->v->u.array.len;
                if (n == f->cap) {
                        f->cap = f->cap ? 2 * f->cap : 4;
                        f->v->u.array.values =
                            xrealloc(f->v->u.array.values, f->cap * sizeof(yajl_val));
                }
                f->v->u.array.values[n] = v;
                f->v->u.array.len = n + 1;
                return 1;
        }
        size_t n = f->v->u.object.len;
        if (n == f->cap) {
                f->cap = f->cap ? 2 * f->cap : 4;
                f->v->u.object.keys = xrealloc(f->v->u.object.keys, f->cap * sizeof(char *));
                f->v->u.object.values = xrealloc(f->v->u.object.values, f->cap * sizeof(yajl_val));
        }
        f->v->u.object.keys[n] = f->key ? f->key : xstrdup("");
        f->v->u.object.values[n] = v;
        f->v->u.object.len = n + 1;
        f->key = NULL;
        return 1;
}

static bool json_has_nul(struct json_builder *b, const unsigned char *s, size_t len,
                         enum json_fail why)
{
        if (!memchr(s, 0, len))
                return false;
        b->fail = why;
        b->bad = xmalloc(len + 1);
        memcpy(b->bad, s, len);
        b->bad[len] = 0;
        b->bad_len = len;
        return true;
}

static int json_on_null(void *ctx)
{
        return json_add(ctx, json_new(yajl_t_null));
}

static int json_on_bool(void *ctx, int val)
{
        return json_add(ctx, json_new(val ? yajl_t_true : yajl_t_false));
}

static int json_on_number(void *ctx, const char *s, size_t len)
{
        yajl_val v = json_new(yajl_t_number);
        char *r = xmalloc(len + 1), *end;
        memcpy(r, s, len);
        r[len] = 0;
        v->u.number.r = r;
        /* As yajl_tree: each of i and d is valid when the whole text converts without overflow. */
        errno = 0;
        v->u.number.i = strtoll(r, &end, 10);
        if (errno == 0 && *end == 0)
                v->u.number.flags |= YAJL_NUMBER_INT_VALID;
        errno = 0;
        v->u.number.d = strtod(r, &end);
        if (errno == 0 && *end == 0)
                v->u.number.flags |= YAJL_NUMBER_DOUBLE_VALID;
        return json_add(ctx, v);
}

static int json_on_string(void *ctx, const unsigned char *s, size_t len)
{
        if (json_has_nul(ctx, s, len, JSON_FAIL_NUL_STRING))
                return 0;
        yajl_val v = json_new(yajl_t_string);
        v->u.string = xmalloc(len + 1);
        memcpy(v->u.string, s, len);
        v->u.string[len] = 0;
        return json_add(ctx, v);
}

static int json_on_key(void *ctx, const unsigned char *s, size_t len)
{
        struct json_builder *b = ctx;
        if (json_has_nul(b, s, len, JSON_FAIL_NUL_KEY))
                return 0;
        struct json_frame *f = &b->stack[b->depth - 1];
        free(f->key);
        f->key = xmalloc(len + 1);
        memcpy(f->key, s, len);
        f->key[len] = 0;
        return 1;
}

static int json_open(struct json_builder *b, yajl_type t)
{
        if (b->depth == JSON_MAX_DEPTH) {
                b->fail = JSON_FAIL_DEPTH;
                return 0;
        }
        yajl_val v = json_new(t);
        if (!json_add(b, v))
                return 0;
        b->stack[b->depth++] = (struct json_frame){.v = v};
        return 1;
}

static int json_on_start_map(void *ctx)
{
        return json_open(ctx, yajl_t_object);
}

static int json_on_start_array(void *ctx)
{
        return json_open(ctx, yajl_t_array);
}

static int json_on_end(void *ctx)
{
        struct json_builder *b = ctx;
        b->depth--;
        free(TAKE_PTR(b->stack[b->depth].key));
        return 1;
}

static const yajl_callbacks json_callbacks = {
    .yajl_null = json_on_null,
    .yajl_boolean = json_on_bool,
    .yajl_number = json_on_number,
    .yajl_string = json_on_string,
    .yajl_start_map = json_on_start_map,
    .yajl_map_key = json_on_key,
    .yajl_end_map = json_on_end,
    .yajl_start_array = json_on_start_array,
    .yajl_end_array = json_on_end,
};

/* Writes s with control bytes as \u00XX. */
static void json_put_escaped(FILE *f, const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
}

/* The JSON path of the value being read ("process.args[1]"), for a NUL error. */
static char *json_builder_path(const struct json_builder *b)
{
        char *path = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&path, &size);
        if (!f)
                abort();
        bool any = false;
        for (size_t i = 0; i < b->depth; i++) {
                /* Outer frames hold an open child: their last element.  The innermost one is
                 * where the bad string (or key) would have gone. */
                const struct json_frame *fr = &b->stack[i];
                bool inner = i + 1 == b->depth;
                if (fr->v->type == yajl_t_array) {
                        size_t n = fr->v->u.array.len;
                        fprintf(f, "[%zu]", inner ? n : n - 1);
                } else if (inner && b->fail == JSON_FAIL_NUL_KEY) {
                        fputs(any ? "." : "", f);
                        json_put_escaped(f, b->bad, b->bad_len);
                } else {
                        const char *k =
                            inner ? fr->key : fr->v->u.object.keys[fr->v->u.object.len - 1];
                        fprintf(f, "%s%s", any ? "." : "", k ? k : "");
                }
                any = true;
        }
        fclose(f);
        return path;
}

/* The "name: " that starts every message (nothing when name is NULL), as two %s arguments. */
#define JSON_NAME(name) (name) ? (name) : "", (name) ? ": " : ""

static void json_line_col(const char *json, size_t off, size_t *line, size_t *col)
{
        *line = 1;
        *col = 1;
        for (size_t i = 0; i < off; i++) {
                if (json[i] == '\n') {
                        (*line)++;
                        *col = 1;
                } else {
                        (*col)++;
                }
        }
}

static int json_builder_error(struct json_builder *b, yajl_handle h, bool at_end, const char *json,
                              size_t len, const char *name, struct cx_error **err)
{
        size_t off = yajl_get_bytes_consumed(h), line, col;
        if (off > len)
                off = len;
        if (b->fail == JSON_FAIL_DEPTH) {
                /* off is just past the `[` or `{` that went one level too deep */
                json_line_col(json, off ? off - 1 : 0, &line, &col);
                return cx_error_msg(err, EINVAL,
                                    "%s%snesting deeper than %d levels at line %zu, column %zu",
                                    JSON_NAME(name), JSON_MAX_DEPTH, line, col);
        }
        if (b->fail != JSON_FAIL_NONE) {
                _cleanup_free_ char *path = json_builder_path(b);
                return cx_error_msg(err, EINVAL, "%s%s%s%s%s contains a NUL byte (\\u0000)",
                                    JSON_NAME(name), path, path[0] ? ": " : "",
                                    b->fail == JSON_FAIL_NUL_KEY ? "key" : "string");
        }
        char reason[256] = "unexpected end of input";
        unsigned char *m = yajl_get_error(h, 0, (const unsigned char *)json, len);
        if (m) {
                const char *s = (const char *)m, *colon = strstr(s, ": ");
                snprintf(reason, sizeof(reason), "%s", colon ? colon + 2 : s);
                reason[strcspn(reason, "\n")] = 0;
                yajl_free_error(h, m);
        }
        /* At the end of the input (truncated): one past the last byte.  Else off is just past
         * the token yajl choked on, most often a single character. */
        json_line_col(json, at_end ? len : off ? off - 1 : 0, &line, &col);
        return cx_error_msg(err, EINVAL, "%s%sinvalid JSON at line %zu, column %zu: %s",
                            JSON_NAME(name), line, col, reason);
}

int json_parse(const char *json, size_t len, const char *name, struct json_val **ret,
               struct cx_error **err)
{
        if (len > JSON_MAX_SIZE)
                return cx_error_msg(err, EFBIG, "%s%slarger than %d MiB", JSON_NAME(name),
                                    JSON_MAX_SIZE >> 20);
        if (memchr(json, 0, len))
                return cx_error_msg(err, EINVAL, "%s%sinvalid JSON: contains a NUL byte",
                                    JSON_NAME(name));

        struct json_builder b = {0};
        yajl_handle h = yajl_alloc(&json_callbacks, NULL, &b);
        if (!h)
                abort();                        /* out of memory, as xmalloc */
        yajl_config(h, yajl_allow_comments, 1); /* as yajl_tree_parse */
        yajl_status st = yajl_parse(h, (const unsigned char *)json, len);
        bool at_end = st == yajl_status_ok;
        if (at_end)
                st = yajl_complete_parse(h);
        int r = 0;
        if (st != yajl_status_ok || !b.root)
                r = json_builder_error(&b, h, at_end, json, len, name, err);
        yajl_free(h);
        for (size_t i = 0; i < b.depth; i++)
                free(b.stack[i].key);
        free(b.bad);
        if (r < 0) {
                yajl_tree_free(b.root); /* at most JSON_MAX_DEPTH deep */
                return r;
        }
        *ret = (struct json_val *)b.root;
        return 0;
}

static yajl_val Y(const struct json_val *v)
{
        return (yajl_val)v;
}

void json_val_free(struct json_val *v)
{
        yajl_tree_free(Y(v));
}

void json_val_freep(struct json_val **v)
{
        json_val_free(*v);
}

enum json_type json_val_type(const struct json_val *v)
{
        if (!v)
                return JSON_NULL;
        switch (Y(v)->type) {
        case yajl_t_string:
                return JSON_STRING;
        case yajl_t_number:
                return JSON_NUMBER;
        case yajl_t_object:
                return JSON_OBJECT;
        case yajl_t_array:
                return JSON_ARRAY;
        case yajl_t_true:
                return JSON_TRUE;
        case yajl_t_false:
                return JSON_FALSE;
        default:
                return JSON_NULL;
        }
}

const struct json_val *json_val_get(const struct json_val *obj, const char *key)
{
        if (!YAJL_IS_OBJECT(Y(obj)))
                return NULL;
        const yajl_val o = Y(obj);
        for (size_t i = o->u.object.len; i-- > 0;)
                if (strcmp(o->u.object.keys[i], key) == 0)
                        return (const struct json_val *)o->u.object.values[i];
        return NULL;
}

const char *json_val_str(const struct json_val *v)
{
        return YAJL_IS_STRING(Y(v)) ? Y(v)->u.string : NULL;
}

bool json_val_int(const struct json_val *v, int64_t *ret)
{
        if (!YAJL_IS_INTEGER(Y(v)))
                return false;
        *ret = Y(v)->u.number.i;
        return true;
}

size_t json_val_len(const struct json_val *v)
{
        if (YAJL_IS_ARRAY(Y(v)))
                return Y(v)->u.array.len;
        if (YAJL_IS_OBJECT(Y(v)))
                return Y(v)->u.object.len;
        return 0;
}

const struct json_val *json_val_at(const struct json_val *v, size_t i)
{
        if (i >= json_val_len(v))
                return NULL;
        yajl_val y = Y(v);
        return (const struct json_val *)(YAJL_IS_ARRAY(y) ? y->u.array.values[i]
                                                          : y->u.object.values[i]);
}

const char *json_val_key(const struct json_val *obj, size_t i)
{
        if (!YAJL_IS_OBJECT(Y(obj)) || i >= Y(obj)->u.object.len)
                return NULL;
        return Y(obj)->u.object.keys[i];
}

/* ---- writing ------------------------------------------------------------------------------ */

struct json_w {
        yajl_gen g;
};

struct json_w *json_w_new(const char *indent)
{
        struct json_w *w = xmalloc(sizeof(*w));
        w->g = yajl_gen_alloc(NULL);
        if (!w->g)
                abort(); /* out of memory, as xmalloc */
        if (indent) {
                yajl_gen_config(w->g, yajl_gen_beautify, 1);
                yajl_gen_config(w->g, yajl_gen_indent_string, indent);
        }
        return w;
}

void json_w_obj_open(struct json_w *w)
{
        yajl_gen_map_open(w->g);
}

void json_w_obj_close(struct json_w *w)
{
        yajl_gen_map_close(w->g);
}

void json_w_arr_open(struct json_w *w)
{
        yajl_gen_array_open(w->g);
}

void json_w_arr_close(struct json_w *w)
{
        yajl_gen_array_close(w->g);
}

void json_w_str(struct json_w *w, const char *s)
{
        if (!s)
                s = "";
        yajl_gen_string(w->g, (const unsigned char *)s, strlen(s));
}

void json_w_key(struct json_w *w, const char *key)
{
        json_w_str(w, key);
}

void json_w_int(struct json_w *w, int64_t v)
{
        yajl_gen_integer(w->g, (long long)v);
}

void json_w_u64(struct json_w *w, uint64_t v)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
        yajl_gen_number(w->g, buf, (size_t)n); /* beyond yajl_gen_integer's long long */
}

void json_w_bool(struct json_w *w, bool v)
{
        yajl_gen_bool(w->g, v);
}

void json_w_null(struct json_w *w)
{
        yajl_gen_null(w->g);
}

void json_w_raw(struct json_w *w, const char *json)
{
        /* yajl_gen_number prints its text as it is, with the separator and indent a value
         * gets; it refuses a value where a key is due. */
        size_t n = strlen(json);
        while (n > 0 && json[n - 1] == '\n')
                n--;
        yajl_gen_number(w->g, json, n);
}

void json_w_val(struct json_w *w, const struct json_val *v)
{
        yajl_val y = Y(v);
        switch (y ? y->type : yajl_t_null) {
        case yajl_t_string:
                json_w_str(w, y->u.string);
                break;
        case yajl_t_number:
                yajl_gen_number(w->g, y->u.number.r, strlen(y->u.number.r));
                break;
        case yajl_t_object:
                json_w_obj_open(w);
                for (size_t i = 0; i < y->u.object.len; i++) {
                        json_w_key(w, y->u.object.keys[i]);
                        json_w_val(w, (const struct json_val *)y->u.object.values[i]);
                }
                json_w_obj_close(w);
                break;
        case yajl_t_array:
                json_w_arr_open(w);
                for (size_t i = 0; i < y->u.array.len; i++)
                        json_w_val(w, (const struct json_val *)y->u.array.values[i]);
                json_w_arr_close(w);
                break;
        case yajl_t_true:
        case yajl_t_false:
                json_w_bool(w, y->type == yajl_t_true);
                break;
        default:
                json_w_null(w);
                break;
        }
}

void json_w_key_str(struct json_w *w, const char *key, const char *val)
{
        json_w_key(w, key);
        json_w_str(w, val);
}

void json_w_key_int(struct json_w *w, const char *key, int64_t val)
{
        json_w_key(w, key);
        json_w_int(w, val);
}

void json_w_key_u64(struct json_w *w, const char *key, uint64_t val)
{
        json_w_key(w, key);
        json_w_u64(w, val);
}

void json_w_key_bool(struct json_w *w, const char *key, bool val)
{
        json_w_key(w, key);
        json_w_bool(w, val);
}

void json_w_key_strv(struct json_w *w, const char *key, const char *const *v, size_t n)
{
        json_w_key(w, key);
        json_w_arr_open(w);
        for (size_t i = 0; i < n; i++)
                if (v[i])
                        json_w_str(w, v[i]);
        json_w_arr_close(w);
}

void json_w_key_obj_open(struct json_w *w, const char *key)
{
        json_w_key(w, key);
        json_w_obj_open(w);
}

void json_w_key_arr_open(struct json_w *w, const char *key)
{
        json_w_key(w, key);
        json_w_arr_open(w);
}

char *json_w_finish(struct json_w *w, bool newline)
{
        const unsigned char *buf;
        size_t len;

        yajl_gen_get_buf(w->g, &buf, &len);
        while (len > 0 && buf[len - 1] == '\n') /* pretty output ends in one */
                len--;
        char *s = xmalloc(len + 2);
        memcpy(s, buf, len);
        if (newline)
                s[len++] = '\n';
        s[len] = '\0';
        yajl_gen_free(w->g);
        free(w);
        return s;
}

char *json_quote(const char *s)
{
        struct json_w *w = json_w_new(NULL);
        json_w_str(w, s);
        return json_w_finish(w, false);
}
