/* spec: small yajl_gen helpers for the documents capsa writes (default config, features). */
#include "spec/internal.h"

#include <string.h>

yajl_gen g_new(void)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                abort(); /* out of memory, as xmalloc */
        yajl_gen_config(g, yajl_gen_beautify, 1);
        yajl_gen_config(g, yajl_gen_indent_string, "\t");
        return g;
}

void g_str(yajl_gen g, const char *s)
{
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void g_key_str(yajl_gen g, const char *key, const char *val)
{
        g_str(g, key);
        g_str(g, val);
}

void g_key_bool(yajl_gen g, const char *key, bool val)
{
        g_str(g, key);
        yajl_gen_bool(g, val);
}

void g_key_int(yajl_gen g, const char *key, long long val)
{
        g_str(g, key);
        yajl_gen_integer(g, val);
}

void g_key_strv(yajl_gen g, const char *key, const char *const *v, size_t n)
{
        g_str(g, key);
        yajl_gen_array_open(g);
        for (size_t i = 0; i < n; i++)
                if (v[i])
                        g_str(g, v[i]);
        yajl_gen_array_close(g);
}

char *g_finish(yajl_gen g)
{
        const unsigned char *buf;
        size_t len;

        yajl_gen_get_buf(g, &buf, &len);
        char *s = xmalloc(len + 2);
        memcpy(s, buf, len);
        if (len && s[len - 1] != '\n')
                s[len++] = '\n';
        s[len] = 0;
        yajl_gen_free(g);
        return s;
}
