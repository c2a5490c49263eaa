/* util/json: the one JSON reader and the one JSON writer of capsa.
 *
 * Reading: json_parse() is the parser every JSON document capsa reads goes through (config,
 * state, `exec --process`, `update --resources`, the tenant registry), with limits on size,
 * nesting depth and NUL bytes.  It returns a read-only tree of `struct json_val` nodes walked
 * with the json_val_*() getters (src/spec/ walks the same tree as yajl's, see spec/json.c).
 *
 * Writing: every JSON document capsa emits (state, hook state, list, ps, events, features, the
 * default config, the json log, the seccomp agent's message) is written with a `struct json_w`,
 * so every string is escaped the same way ('"', '\\' and control bytes; other bytes, UTF-8
 * included, pass through).  Output is compact, or pretty with the given indent string as Go's
 * json.MarshalIndent prints it (`"key": value`, one member or element per line).
 *
 * Both sides are yajl underneath; nothing outside src/util/json.c and src/spec/ includes yajl. */
#pragma once

#include "util/util.h"

/* ---- reading ------------------------------------------------------------------------------ */
/* Limits of every JSON document capsa reads; runc's configs nest fewer than 10 levels. */
#define JSON_MAX_DEPTH 64
#define JSON_MAX_SIZE  FILE_MAX_SIZE

/* A value of a parsed document (free the root with json_val_free). */
struct json_val;

/* Parses len bytes of json into a tree (comments allowed), refusing, with a message that starts
 * with "name: " (unless NULL):
 *   - more than JSON_MAX_SIZE bytes ("config.json: larger than 16 MiB");
 *   - nesting deeper than JSON_MAX_DEPTH ("config.json: nesting deeper than 64 levels at line 1,
 *     column 65");
 *   - a NUL byte in the text, or `\u0000` in a string or key ("config.json: process.args[1]:
 *     string contains a NUL byte (\u0000)");
 *   - invalid JSON ("config.json: invalid JSON at line 3, column 15: ...").
 * json need not be NUL-terminated. */
int json_parse(const char *json, size_t len, const char *name, struct json_val **ret,
               struct cx_error **err);
void json_val_free(struct json_val *v); /* NULL is fine */
void json_val_freep(struct json_val **v);

enum json_type {
        JSON_NULL,
        JSON_FALSE,
        JSON_TRUE,
        JSON_NUMBER,
        JSON_STRING,
        JSON_ARRAY,
        JSON_OBJECT
};
/* The type of v (JSON_NULL for a NULL v). */
enum json_type json_val_type(const struct json_val *v);
/* The member `key` of object obj (the last one if repeated); NULL when absent or obj is not an
 * object. */
const struct json_val *json_val_get(const struct json_val *obj, const char *key);
/* The string v holds, or NULL when v is not a string. */
const char *json_val_str(const struct json_val *v);
/* The integer v holds: false when v is not a number or not an integer that fits int64. */
bool json_val_int(const struct json_val *v, int64_t *ret);
/* Elements of an array or members of an object (0 for anything else), element or member value
 * i, and the key of member i of an object (NULL for an array). */
size_t json_val_len(const struct json_val *v);
const struct json_val *json_val_at(const struct json_val *v, size_t i);
const char *json_val_key(const struct json_val *obj, size_t i);

/* ---- writing ------------------------------------------------------------------------------ */
/* A document being written.  Values are added in order; inside an object each value follows
 * its key (json_w_key, or the json_w_key_*() shorthands). */
struct json_w;

/* indent: NULL for compact output, else the indent string of pretty output ("  ", "\t"). */
struct json_w *json_w_new(const char *indent);
void json_w_obj_open(struct json_w *w);
void json_w_obj_close(struct json_w *w);
void json_w_arr_open(struct json_w *w);
void json_w_arr_close(struct json_w *w);
void json_w_key(struct json_w *w, const char *key);
void json_w_str(struct json_w *w, const char *s); /* NULL s: "" */
void json_w_int(struct json_w *w, int64_t v);
void json_w_u64(struct json_w *w, uint64_t v);
void json_w_bool(struct json_w *w, bool v);
void json_w_null(struct json_w *w);
/* A value written earlier by another json_w (compact), inserted as it is: for a document that
 * embeds one made elsewhere (the seccomp agent's message embeds the container state). */
void json_w_raw(struct json_w *w, const char *json);

/* A value of a parsed document (json_parse), written again: for a document that embeds one
 * it read (`image inspect` embeds the image's manifest).  Numbers keep their text. */
void json_w_val(struct json_w *w, const struct json_val *v);

/* key and value in one call */
void json_w_key_str(struct json_w *w, const char *key, const char *val); /* NULL val: "" */
void json_w_key_int(struct json_w *w, const char *key, int64_t val);
void json_w_key_u64(struct json_w *w, const char *key, uint64_t val);
void json_w_key_bool(struct json_w *w, const char *key, bool val);
/* An array of the n strings of v (NULL entries skipped). */
void json_w_key_strv(struct json_w *w, const char *key, const char *const *v, size_t n);
void json_w_key_obj_open(struct json_w *w, const char *key);
void json_w_key_arr_open(struct json_w *w, const char *key);

/* Frees w; returns its output (malloc'ed), ending in exactly one newline when newline is true,
 * in none otherwise. */
char *json_w_finish(struct json_w *w, bool newline);

/* s as one JSON string literal, quotes included ("a\"b" for a"b). */
char *json_quote(const char *s);
