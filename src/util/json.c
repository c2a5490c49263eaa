/* Writing JSON with yajl_gen: the small helpers every document capsa prints uses (state,
 * the default config, features, events, list). */
#include "util/util.h"

#include <string.h>

yajl_gen json_gen_new(const char *indent)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                abort(); /* out of memory, as xmalloc */
        if (indent) {
                yajl_gen_config(g, yajl_gen_beautify, 1);
                yajl_gen_config(g, yajl_gen_indent_string, indent);
        }
        return g;
}

void json_str(yajl_gen g, const char *s)
{
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void json_key_str(yajl_gen g, const char *key, const char *val)
{
        json_str(g, key);
        json_str(g, val ? val : "");
}

void json_key_bool(yajl_gen g, const char *key, bool val)
{
        json_str(g, key);
        yajl_gen_bool(g, val);
}

void json_key_int(yajl_gen g, const char *key, long long val)
{
        json_str(g, key);
        yajl_gen_integer(g, val);
}

void json_u64(yajl_gen g, uint64_t val)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)val);
        yajl_gen_number(g, buf, (size_t)n);
}

void json_key_u64(yajl_gen g, const char *key, uint64_t val)
{
        json_str(g, key);
        json_u64(g, val);
}

void json_key_strv(yajl_gen g, const char *key, const char *const *v, size_t n)
{
        json_str(g, key);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++)
                if (v[i])
                        json_str(g, v[i]);
        yajl_gen_array_close(g);
}

char *json_finish(yajl_gen g, bool newline)
{
        const unsigned char *buf;
        size_t len;

        yajl_gen_get_buf(g, &buf, &len);
        char *s = xmalloc(len + 2);
        memcpy(s, buf, len);
        if (newline && (!len || s[len - 1] != '\n'))
                s[len++] = '\n';
        s[len] = '\0';
        yajl_gen_free(g);
        return s;
}
