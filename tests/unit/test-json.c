/* json_parse (util/json.c), the one parser of every JSON document capsa reads: the tree it
 * builds, and its depth, size and NUL limits through each reader (config, process, resources,
 * state, files). */
#include "spec/spec.h"
#include "state/state.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

static char *repeat(const char *s, size_t n, const char *tail)
{
        size_t l = strlen(s), t = strlen(tail);
        char *r = malloc(l * n + t + 1);
        for (size_t i = 0; i < n; i++)
                memcpy(r + i * l, s, l);
        memcpy(r + l * n, tail, t + 1);
        return r;
}

/* json_parse of s; returns the error message (static) or NULL on success. */
static const char *parse_err(const char *s, size_t len)
{
        static char msg[512];
        struct cx_error *e = NULL;
        yajl_val v = NULL;
        int r = json_parse(s, len, "t.json", &v, &e);
        yajl_tree_free(v);
        if (r >= 0)
                return NULL;
        snprintf(msg, sizeof(msg), "%s", e ? e->msg : "(no message)");
        cx_error_freep(&e);
        return msg;
}

static const char *perr(const char *s)
{
        return parse_err(s, strlen(s));
}

static void test_tree(void)
{
        const char *doc =
            "/* comment */ {\"s\": \"a\\u00e9\", \"i\": -42, \"big\": 99999999999999999999,"
            " \"d\": 1.5, \"t\": true, \"f\": false, \"n\": null,"
            " \"a\": [1, [2], {}], \"o\": {\"k\": \"v\"}, \"dup\": 1, \"dup\": 2}";
        struct cx_error *e = NULL;
        yajl_val v = NULL;
        ok(json_parse(doc, strlen(doc), "t.json", &v, &e) == 0, "parses a document with comments");
        ok(YAJL_IS_OBJECT(v) && v->u.object.len == 11, "object with 11 members (duplicates kept)");
        const char *p[] = {"s", NULL};
        yajl_val x = yajl_tree_get(v, p, yajl_t_string);
        is_str(x ? x->u.string : NULL, "a\xc3\xa9", "string with a \\u escape");
        p[0] = "i";
        x = yajl_tree_get(v, p, yajl_t_number);
        ok(YAJL_IS_INTEGER(x) && x->u.number.i == -42 && strcmp(x->u.number.r, "-42") == 0,
           "integer: value and raw text");
        p[0] = "big";
        x = yajl_tree_get(v, p, yajl_t_number);
        ok(x && !YAJL_IS_INTEGER(x) && strcmp(x->u.number.r, "99999999999999999999") == 0,
           "integer beyond int64: raw text kept, not a valid int (as yajl_tree)");
        p[0] = "d";
        x = yajl_tree_get(v, p, yajl_t_number);
        ok(YAJL_IS_DOUBLE(x) && !YAJL_IS_INTEGER(x) && x->u.number.d == 1.5, "double");
        p[0] = "t";
        ok(YAJL_IS_TRUE(yajl_tree_get(v, p, yajl_t_any)), "true");
        p[0] = "f";
        ok(YAJL_IS_FALSE(yajl_tree_get(v, p, yajl_t_any)), "false");
        p[0] = "n";
        ok(YAJL_IS_NULL(yajl_tree_get(v, p, yajl_t_any)), "null");
        p[0] = "a";
        x = yajl_tree_get(v, p, yajl_t_array);
        ok(x && x->u.array.len == 3 && YAJL_IS_ARRAY(x->u.array.values[1]) &&
               YAJL_IS_OBJECT(x->u.array.values[2]),
           "nested array");
        const char *q[] = {"o", "k", NULL};
        x = yajl_tree_get(v, q, yajl_t_string);
        is_str(x ? x->u.string : NULL, "v", "nested object");
        yajl_tree_free(v);

        /* big arrays and objects (growth by doubling) */
        char *many = repeat(",1", 10000, "]");
        many[0] = '[';
        v = NULL;
        ok(json_parse(many, strlen(many), "t", &v, &e) == 0 && v->u.array.len == 10000,
           "array of 10000 elements");
        yajl_tree_free(v);
        free(many);

        v = NULL;
        ok(json_parse("\"x\"", 3, "t", &v, &e) == 0 && YAJL_IS_STRING(v), "a top-level string");
        yajl_tree_free(v);
        v = NULL;
        ok(json_parse("[1] trailing", 3, "t", &v, &e) == 0, "parses only len bytes");
        yajl_tree_free(v);
}

static void test_syntax(void)
{
        const char *m = perr("{\n  \"a\": 1,\n  \"b\": ,\n}");
        contains(m, "t.json: invalid JSON at line 3, column 8: unallowed token",
                 "syntax error: name, line, column");
        contains(perr("[1] [2]"), "invalid JSON", "trailing garbage");
        contains(perr(""), "invalid JSON", "empty document");
        contains(perr("[1,"), "invalid JSON", "truncated document");
        contains(perr("{\"a\":1}}"), "invalid JSON", "unbalanced close");
        contains(parse_err("[1,\0 2]", 7), "contains a NUL byte", "raw NUL byte in the text");
        contains(perr("[\"\xff\"]"), "invalid JSON", "invalid UTF-8");
}

static void test_depth(void)
{
        char *ok64 = repeat("[", JSON_MAX_DEPTH, ""), *s;
        s = repeat("]", JSON_MAX_DEPTH, "");
        char *doc = malloc(2 * JSON_MAX_DEPTH + 1);
        strcpy(doc, ok64);
        strcat(doc, s);
        ok(perr(doc) == NULL, "%d levels accepted", JSON_MAX_DEPTH);
        free(ok64);
        free(s);
        free(doc);

        s = repeat("[", JSON_MAX_DEPTH + 1, "");
        is_str(perr(s), "t.json: nesting deeper than 64 levels at line 1, column 65",
               "65 levels: refused at the 65th bracket");
        free(s);

        s = repeat("{\"a\":", 70, "1");
        is_str(perr(s), "t.json: nesting deeper than 64 levels at line 1, column 321",
               "objects count too");
        free(s);

        s = repeat("[", 300000, "");
        contains(perr(s), "nesting deeper than 64 levels", "300000 unclosed [: refused");
        free(s);
        char *open = repeat("[", 300000, ""), *close = repeat("]", 300000, "");
        doc = malloc(600001);
        strcpy(doc, open);
        strcat(doc, close);
        contains(perr(doc), "nesting deeper than 64 levels", "300000 balanced []: refused");
        free(open);
        free(close);
        free(doc);

        s = repeat("[\n", 63, "{\"x\": [");
        is_str(perr(s), "t.json: nesting deeper than 64 levels at line 64, column 7",
               "line and column of the bracket too deep");
        free(s);
}

static void test_size(void)
{
        size_t n = JSON_MAX_SIZE + 1;
        char *big = malloc(n + 1);
        memset(big, ' ', n);
        big[0] = '1';
        big[n] = 0;
        is_str(parse_err(big, n), "t.json: larger than 16 MiB", "larger than JSON_MAX_SIZE");
        ok(parse_err(big, JSON_MAX_SIZE) == NULL, "exactly JSON_MAX_SIZE: accepted");
        free(big);

        char path[] = "/tmp/capsa-test-json-XXXXXX";
        int fd = mkstemp(path);
        ok(fd >= 0 && ftruncate(fd, FILE_MAX_SIZE + 1) == 0, "a sparse file of 16 MiB + 1");
        struct cx_error *e = NULL;
        char *buf = NULL;
        ok(read_file_at(AT_FDCWD, path, &buf, NULL, &e) == -EFBIG, "read_file_at refuses it");
        contains(e ? e->msg : NULL, "larger than 16 MiB", "read_file_at: message");
        cx_error_freep(&e);
        ok(ftruncate(fd, 100) == 0 && read_file_at(AT_FDCWD, path, &buf, NULL, &e) == 0,
           "a small file reads");
        free(buf);
        close(fd);
        unlink(path);
}

static void test_nul(void)
{
        is_str(perr("{\"process\": {\"args\": [\"sh\", \"a\\u0000b\"]}}"),
               "t.json: process.args[1]: string contains a NUL byte (\\u0000)",
               "\\u0000 in an array element: path in the message");
        is_str(perr("{\"root\": {\"path\": \"rootfs\\u0000/evil\"}}"),
               "t.json: root.path: string contains a NUL byte (\\u0000)", "in an object member");
        is_str(perr("{\"a\": {\"b\\u0000c\": 1}}"),
               "t.json: a.b\\u0000c: key contains a NUL byte (\\u0000)", "in a key");
        is_str(perr("[[1], {\"a\": [{\"x\": \"\\u0000\"}]}]"),
               "t.json: [1].a[0].x: string contains a NUL byte (\\u0000)",
               "path after closed siblings");
        is_str(perr("\"\\u0000\""), "t.json: string contains a NUL byte (\\u0000)",
               "a top-level string");
        ok(perr("[\"\\u0001\", \"\\\\u0000\"]") == NULL,
           "\\u0001 and an escaped backslash before u0000: accepted");
}

/* The readers: each one refuses through json_parse, with its own name in the message. */
static void test_readers(void)
{
        struct cx_error *e = NULL;
        struct spec *s = NULL;
        const char *cfg = "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"},"
                          " \"process\": {\"cwd\": \"/\", \"args\": [\"sh\", \"a\\u0000b\"]}}";
        ok(spec_parse(cfg, strlen(cfg), NULL, NULL, &s, &e) < 0, "config: \\u0000 refused");
        is_str(e ? e->msg : NULL,
               "config.json: process.args[1]: string contains a NUL byte (\\u0000)",
               "config: message");
        cx_error_freep(&e);
        char *deep = repeat("[", 300000, "");
        ok(spec_parse(deep, strlen(deep), NULL, NULL, &s, &e) < 0, "config: deep refused");
        contains(e ? e->msg : NULL, "config.json: nesting deeper than 64 levels",
                 "config: message");
        cx_error_freep(&e);

        struct spec_process p = {0};
        const char *proc = "{\"cwd\": \"/\", \"args\": [\"sh\"], \"env\": [\"A=\\u0000\"]}";
        ok(spec_parse_process_json(proc, strlen(proc), "p.json", &p, &e) < 0,
           "process: \\u0000 refused");
        contains(e ? e->msg : NULL, "p.json: env[0]: string contains a NUL byte",
                 "process: message");
        cx_error_freep(&e);
        ok(spec_parse_process_json(deep, strlen(deep), "p.json", &p, &e) < 0, "process: deep");
        is_str(e ? e->msg : NULL, "p.json: nesting deeper than 64 levels at line 1, column 65",
               "process: message (name once)");
        cx_error_freep(&e);

        struct spec_resources res = {0};
        const char *rj = "{\"cpu\": {\"cpus\": \"0\\u0000-1\"}}";
        ok(spec_parse_resources(rj, strlen(rj), "r.json", &res, &e) < 0,
           "resources: \\u0000 refused");
        contains(e ? e->msg : NULL, "r.json: cpu.cpus: string contains a NUL byte",
                 "resources: message");
        cx_error_freep(&e);
        ok(spec_parse_resources(deep, strlen(deep), "r.json", &res, &e) < 0, "resources: deep");
        is_str(e ? e->msg : NULL, "r.json: nesting deeper than 64 levels at line 1, column 65",
               "resources: message (name once)");
        cx_error_freep(&e);

        char root[] = "/tmp/capsa-test-json-state-XXXXXX";
        ok(mkdtemp(root) != NULL, "mkdtemp");
        struct state_dir d;
        ok(state_dir_create(root, "c1", &d, &e) == 0, "state dir");
        struct state st;
        int fd = openat(d.fd, "state.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ok(fd >= 0 && write(fd, deep, strlen(deep)) == (ssize_t)strlen(deep), "deep state.json");
        close(fd);
        ok(state_read(&d, &st, &e) < 0, "state: deep refused");
        contains(e ? e->msg : NULL, "state.json: nesting deeper than 64 levels", "state: message");
        contains(e ? e->msg : NULL, "`c1` is corrupt", "state: names the container");
        cx_error_freep(&e);
        const char *sj = "{\"id\": \"c1\", \"bundle\": \"/b\\u0000/x\", \"pid\": 1}";
        fd = openat(d.fd, "state.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ok(fd >= 0 && write(fd, sj, strlen(sj)) == (ssize_t)strlen(sj), "state.json with NUL");
        close(fd);
        ok(state_read(&d, &st, &e) < 0, "state: \\u0000 refused");
        contains(e ? e->msg : NULL, "bundle: string contains a NUL byte", "state: message");
        cx_error_freep(&e);
        ok(state_dir_remove(&d, &e) == 0, "remove state dir");
        state_dir_close(&d);
        rmdir(root);
        free(deep);
}

int main(void)
{
        test_tree();
        test_syntax();
        test_depth();
        test_size();
        test_nul();
        test_readers();
        return tap_done();
}
