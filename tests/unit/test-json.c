/* util/json: json_parse, the one parser of every JSON document capsa reads (the tree it builds,
 * its depth, size and NUL limits through each reader: config, process, resources, state,
 * files), and the one writer (escaping, indentation, the state documents' shapes). */
#include "spec/spec.h"
#include "state/state.h"
#include "tap.h"
#include "util/json.h"

#include <fcntl.h>
#include <sys/stat.h>

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
        struct json_val *v = NULL;
        int r = json_parse(s, len, "t.json", &v, &e);
        json_val_free(v);
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
        struct json_val *v = NULL;
        int64_t i = 0;
        ok(json_parse(doc, strlen(doc), "t.json", &v, &e) == 0, "parses a document with comments");
        ok(json_val_type(v) == JSON_OBJECT && json_val_len(v) == 11,
           "object with 11 members (duplicates kept)");
        is_str(json_val_key(v, 0), "s", "first key");
        is_str(json_val_str(json_val_get(v, "s")), "a\xc3\xa9", "string with a \\u escape");
        ok(json_val_int(json_val_get(v, "i"), &i) && i == -42, "integer");
        ok(json_val_type(json_val_get(v, "big")) == JSON_NUMBER &&
               !json_val_int(json_val_get(v, "big"), &i),
           "integer beyond int64: a number, not an int");
        ok(json_val_type(json_val_get(v, "d")) == JSON_NUMBER &&
               !json_val_int(json_val_get(v, "d"), &i),
           "double: not an int");
        ok(json_val_type(json_val_get(v, "t")) == JSON_TRUE, "true");
        ok(json_val_type(json_val_get(v, "f")) == JSON_FALSE, "false");
        ok(json_val_type(json_val_get(v, "n")) == JSON_NULL && json_val_get(v, "n"), "null");
        ok(json_val_get(v, "missing") == NULL && json_val_type(NULL) == JSON_NULL, "absent key");
        const struct json_val *a = json_val_get(v, "a");
        ok(json_val_len(a) == 3 && json_val_type(json_val_at(a, 1)) == JSON_ARRAY &&
               json_val_type(json_val_at(a, 2)) == JSON_OBJECT && json_val_at(a, 3) == NULL,
           "nested array");
        ok(json_val_key(a, 0) == NULL, "an array has no keys");
        is_str(json_val_str(json_val_get(json_val_get(v, "o"), "k")), "v", "nested object");
        ok(json_val_int(json_val_get(v, "dup"), &i) && i == 2, "repeated key: the last wins");
        ok(json_val_get(a, "x") == NULL && json_val_str(a) == NULL, "getters on the wrong type");
        json_val_free(v);

        /* big arrays and objects (growth by doubling) */
        char *many = repeat(",1", 10000, "]");
        many[0] = '[';
        v = NULL;
        ok(json_parse(many, strlen(many), "t", &v, &e) == 0 && json_val_len(v) == 10000,
           "array of 10000 elements");
        json_val_free(v);
        free(many);

        v = NULL;
        ok(json_parse("\"x\"", 3, "t", &v, &e) == 0 && json_val_type(v) == JSON_STRING,
           "a top-level string");
        json_val_free(v);
        v = NULL;
        ok(json_parse("[1] trailing", 3, "t", &v, &e) == 0, "parses only len bytes");
        json_val_free(v);
}

/* ---- writing ------------------------------------------------------------------------------ */

static void test_writer(void)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "s", "q\"b\\n\nt\tc\x01/\xc3\xa9");
        json_w_key_str(w, "null", NULL);
        json_w_key_int(w, "i", -5);
        json_w_key_u64(w, "u", UINT64_MAX);
        json_w_key_bool(w, "b", false);
        json_w_key(w, "n");
        json_w_null(w);
        const char *v[] = {"x", NULL, "y"};
        json_w_key_strv(w, "v", v, 3);
        json_w_key_arr_open(w, "e");
        json_w_arr_close(w);
        json_w_key(w, "raw");
        json_w_raw(w, "{\"a\":[1]}\n");
        json_w_key(w, "k\"");
        json_w_int(w, 1);
        json_w_obj_close(w);
        char *s = json_w_finish(w, false);
        is_str(s,
               "{\"s\":\"q\\\"b\\\\n\\nt\\tc\\u0001/\xc3\xa9\",\"null\":\"\",\"i\":-5,"
               "\"u\":18446744073709551615,\"b\":false,\"n\":null,\"v\":[\"x\",\"y\"],\"e\":[],"
               "\"raw\":{\"a\":[1]},\"k\\\"\":1}",
               "compact: escapes, NULL string, u64, NULL entries skipped, raw value");
        free(s);

        w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_str(w, "a", "1");
        json_w_key_obj_open(w, "o");
        json_w_key_int(w, "b", 2);
        json_w_obj_close(w);
        json_w_key_arr_open(w, "l");
        json_w_int(w, 3);
        json_w_int(w, 4);
        json_w_arr_close(w);
        json_w_obj_close(w);
        s = json_w_finish(w, true);
        is_str(s,
               "{\n  \"a\": \"1\",\n  \"o\": {\n    \"b\": 2\n  },\n  \"l\": [\n    3,\n    4\n  "
               "]\n}\n",
               "pretty: Go's MarshalIndent layout, one newline");
        free(s);

        w = json_w_new("\t");
        json_w_arr_open(w);
        json_w_arr_close(w);
        s = json_w_finish(w, false);
        ok(s[strlen(s) - 1] != '\n', "pretty without newline: none at the end");
        free(s);

        w = json_w_new(NULL);
        json_w_arr_open(w);
        json_w_arr_close(w);
        s = json_w_finish(w, true);
        is_str(s, "[]\n", "compact with newline");
        free(s);

        s = json_quote("a\"b\\c\n");
        is_str(s, "\"a\\\"b\\\\c\\n\"", "json_quote");
        free(s);
}

/* The documents written from a container's state: `state` and what hooks read. */
static void test_state_docs(void)
{
        char *ann[] = {"z", "1", "a\"q", "v\n", NULL};
        struct state st = {.id = "c\"1",
                           .bundle = "/b\\x",
                           .rootfs = "/b/rootfs",
                           .pid = 42,
                           .created = "2024-01-01T00:00:00Z",
                           .owner = "",
                           .annotations = ann};
        char *s = state_hook_json(&st, STATE_RUNNING);
        is_str(s,
               "{\"ociVersion\":\"1.2.0\",\"id\":\"c\\\"1\",\"status\":\"running\",\"pid\":42,"
               "\"bundle\":\"/b\\\\x\",\"annotations\":{\"a\\\"q\":\"v\\n\",\"z\":\"1\"}}",
               "hook state: compact, runc's keys, annotations sorted, no newline");
        free(s);
        s = state_hook_json(&st, STATE_STOPPED);
        ok(strstr(s, "\"pid\"") == NULL && strstr(s, "\"status\":\"stopped\""),
           "hook state when stopped: no pid");
        free(s);
        st.annotations = NULL;
        s = state_hook_json(&st, STATE_CREATED);
        ok(strstr(s, "annotations") == NULL, "hook state: no annotations key when there are none");
        free(s);

        st.annotations = ann;
        s = state_oci_json(&st, STATE_CREATED);
        is_str(
            s,
            "{\n  \"ociVersion\": \"1.2.0\",\n  \"id\": \"c\\\"1\",\n  \"pid\": 42,\n"
            "  \"status\": \"created\",\n  \"bundle\": \"/b\\\\x\",\n  \"rootfs\": \"/b/rootfs\",\n"
            "  \"created\": \"2024-01-01T00:00:00Z\",\n  \"annotations\": {\n"
            "    \"a\\\"q\": \"v\\n\",\n    \"z\": \"1\"\n  },\n  \"owner\": \"\"\n}\n",
            "state: runc's key order and 2-space indent");
        free(s);
        s = state_oci_json(&st, STATE_STOPPED);
        ok(strstr(s, "\"pid\": 0,") != NULL, "state when stopped: pid 0");
        free(s);
        st.annotations = NULL;
        s = state_oci_json(&st, STATE_RUNNING);
        ok(strstr(s, "annotations") == NULL, "state: no annotations key when there are none");
        free(s);

        /* state.json round trip: what was written reads back */
        st.annotations = ann;
        char root[] = "/tmp/capsa-test-json-rt-XXXXXX";
        ok(mkdtemp(root) != NULL, "mkdtemp");
        struct cx_error *e = NULL;
        struct state_dir d;
        ok(state_dir_create(root, "c1", &d, &e) == 0, "state dir");
        char *dirs[] = {"/sys/fs/cgroup/x", NULL};
        st.cgroup_dirs = dirs;
        st.pid_start_time = 123456789;
        st.creating = true;
        ok(state_write(&d, &st, &e) == 0, "state_write");
        struct state back;
        ok(state_read(&d, &back, &e) == 0, "state_read");
        is_str(back.id, "c\"1", "id back");
        is_str(back.bundle, "/b\\x", "bundle back");
        ok(back.pid == 42 && back.pid_start_time == 123456789 && back.creating, "numbers back");
        ok(strv_len(back.annotations) == 4 && strcmp(back.annotations[3], "v\n") == 0,
           "annotations back, in order");
        ok(strv_len(back.cgroup_dirs) == 1, "cgroup dirs back");
        state_clear(&back);
        ok(state_dir_remove(&d, &e) == 0, "remove state dir");
        state_dir_close(&d);
        rmdir(root);
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

/* json_w_val: a parsed document written again, numbers as their text */
static void test_write_val(void)
{
        const char *in = "{\"a\":[1,-2.5e3,true,false,null,\"x\\\"y\"],\"b\":{},\"c\":[],"
                         "\"d\":{\"e\":18446744073709551615}}";
        struct json_val *v = NULL;
        ok(json_parse(in, strlen(in), NULL, &v, NULL) == 0, "json_w_val: parsed");
        struct json_w *w = json_w_new(NULL);
        json_w_val(w, v);
        char *out = json_w_finish(w, false);
        is_str(out, in, "json_w_val: written back the same");
        free(out);
        w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key(w, "k");
        json_w_val(w, json_val_get(v, "d"));
        json_w_obj_close(w);
        out = json_w_finish(w, false);
        is_str(out, "{\"k\":{\"e\":18446744073709551615}}", "json_w_val: a member as a value");
        free(out);
        json_val_free(v);
}

int main(void)
{
        test_tree();
        test_writer();
        test_state_docs();
        test_syntax();
        test_depth();
        test_size();
        test_nul();
        test_readers();
        test_write_val();
        return tap_done();
}
