/* spec internal: typed getters over a yajl tree that report errors with the JSON path.
 *
 * A `struct jcur` is one position in the document: the value there, and a link to its parent
 * (key or array index).  The path string ("linux.namespaces[1].type") is only built when an
 * error is reported, so walking the tree costs nothing extra on success.
 *
 * Getters look up `key` in the object at `c`; an absent key and a JSON null both count as
 * absent (return 0, output untouched).  On success with a value they return 1.  Strings are
 * stolen from the tree (yajl_tree allocates them with malloc), so nothing is copied. */
#pragma once

#include "spec/spec.h"
#include "util/json.h"

#include <yajl/yajl_tree.h>

struct jcur {
        const struct jcur *up;
        const char *key; /* NULL: element `idx` of an array */
        size_t idx;
        yajl_val v;
        struct cx_error **err;
};

/* Parses json (NUL-terminated at json[len]) into a tree; syntax errors give line and column. */
int j_parse(const char *json, size_t len, const char *name, yajl_val *ret, struct cx_error **err);
/* Parses a standalone JSON object (not a whole config) with fn(top, out), for `exec -p` and
 * `update -r`; errors are prefixed with name. */
int j_parse_object(const char *json, size_t len, const char *name, struct cx_error **err,
                   int (*fn)(struct jcur *top, void *out), void *out);

/* A cursor for the document root (or for a sub-document whose path starts at `key`). */
struct jcur j_root(yajl_val v, struct cx_error **err);

/* Reports "<path>[.key]: <message>" and returns -EINVAL.  key may be NULL. */
int j_fail(const struct jcur *c, const char *key, const char *fmt, ...) _printf_(3, 4);
/* "expected TYPE, got TYPE" at c (+key). */
int j_type_fail(const struct jcur *c, const char *key, const char *expected, yajl_val got);

/* Child cursors.  Return 1 if present (and of the right type), 0 if absent, < 0 on error. */
int j_obj(const struct jcur *c, const char *key, struct jcur *ret);
int j_arr(const struct jcur *c, const char *key, struct jcur *ret);
/* Element i of the array at c. */
struct jcur j_elem(const struct jcur *arr, size_t i);
size_t j_len(const struct jcur *arr);
/* Cursor for element i of the array at c.key, for errors found after parsing (arr: storage). */
void j_elem_of(const struct jcur *c, const char *key, size_t i, struct jcur *arr, struct jcur *ret);
/* Raw value lookup (NULL for absent or null). */
yajl_val j_get(yajl_val obj, const char *key);

int j_str(const struct jcur *c, const char *key, char **ret);
/* Borrowed string (not stolen): for names that are mapped to numbers. */
int j_cstr(const struct jcur *c, const char *key, const char **ret);
int j_bool(const struct jcur *c, const char *key, bool *ret);
int j_i64(const struct jcur *c, const char *key, int64_t *ret);
int j_u64(const struct jcur *c, const char *key, uint64_t *ret);
/* Integer in [min, max]. */
int j_range(const struct jcur *c, const char *key, int64_t min, int64_t max, int64_t *ret);
/* The integer at the cursor itself (an array element). */
int j_self_range(const struct jcur *e, int64_t min, int64_t max, int64_t *ret);
int j_u32(const struct jcur *c, const char *key, uint32_t *ret);
int j_int(const struct jcur *c, const char *key, int *ret);
int j_opt_i64(const struct jcur *c, const char *key, struct spec_opt_i64 *ret);
int j_opt_u64(const struct jcur *c, const char *key, struct spec_opt_u64 *ret);
/* Like the getters above, but absence is an error ("<path>.key: required"). */
int j_need(const struct jcur *c, const char *key);

/* Array of strings -> NULL-terminated vector (strings stolen). */
int j_strv(const struct jcur *c, const char *key, char ***ret);
/* Object of strings -> key/value array (keys and values stolen). */
int j_kv(const struct jcur *c, const char *key, struct spec_kv **ret, size_t *ret_n);
void spec_kv_free(struct spec_kv *kv, size_t n);

/* Array of objects: allocates n elements of `size` bytes (zeroed) and calls fn on each element
 * cursor with a pointer to its slot.  On error the partially filled array stays in *ret (and
 * *ret_n counts the allocated slots) so the owner's destructor frees it. */
typedef int (*j_elem_fn)(const struct jcur *elem, void *slot);
int j_objv(const struct jcur *c, const char *key, size_t size, void **ret, size_t *ret_n,
           j_elem_fn fn);

/* Calls fn on each element of the array of strings at key (type-checked). */
typedef int (*j_str_fn)(const struct jcur *elem, const char *s, void *ctx);
int j_each_str(const struct jcur *c, const char *key, j_str_fn fn, void *ctx);

/* Maps a string to an index in a name table (NULL entries skipped); -1 when unknown. */
int j_lookup(const char *const *names, size_t n, const char *s);
/* Reads a string at key and maps it through a table; unknown -> "<path>: unknown WHAT "s"". */
int j_enum(const struct jcur *c, const char *key, const char *const *names, size_t n,
           const char *what, int *ret);

/* ---- parsers shared between the spec files ---- */
int spec_parse_process(const struct jcur *c, struct spec_process *p);
int spec_parse_linux(const struct jcur *c, struct spec_linux *l);
int spec_parse_resources_at(const struct jcur *c, struct spec_resources *r);
int spec_parse_seccomp(const struct jcur *c, struct spec_seccomp *s);
int spec_parse_id_maps(const struct jcur *c, const char *key, struct spec_id_map **ret,
                       size_t *ret_n);
void spec_process_clear(struct spec_process *p);
void spec_linux_clear(struct spec_linux *l);
void spec_seccomp_clear(struct spec_seccomp *s);

/* Name tables (indexed by the enum value). */
extern const char *const spec_seccomp_action_names[];
extern const size_t spec_seccomp_n_actions;
extern const char *const spec_seccomp_op_names[];
extern const size_t spec_seccomp_n_ops;
extern const char *const spec_seccomp_flag_names[];
extern const size_t spec_seccomp_n_flags;
extern const char *const spec_seccomp_arch_names[];
extern const size_t spec_seccomp_n_archs;

/* Highest capability number in capsa's name table. */
int spec_cap_max_known(void);

/* Documents capsa writes (default config, features) are pretty-printed with tabs, as runc
 * prints them, with util's json_* helpers. */
