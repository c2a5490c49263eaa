/* Allocation, string vectors, small string and number helpers. */
#include "util/util.h"

#include <fcntl.h>
#include <string.h>

static void *oom_check(void *p)
{
        if (!p) {
                static const char msg[] = "capsa: out of memory\n";
                (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
                abort();
        }
        return p;
}

void *xmalloc(size_t n)
{
        return oom_check(malloc(n ? n : 1));
}

void *xcalloc(size_t n, size_t m)
{
        return oom_check(calloc(n ? n : 1, m ? m : 1));
}

void *xrealloc(void *p, size_t n)
{
        return oom_check(realloc(p, n ? n : 1));
}

char *xstrdup(const char *s)
{
        return s ? oom_check(strdup(s)) : NULL;
}

char *xasprintf(const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return oom_check(r < 0 ? NULL : s);
}

void freep(void *p)
{
        free(*(void **)p);
}

void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
        *fd = -1;
}

void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
        *f = NULL;
}

void strv_free(char **v)
{
        if (!v)
                return;
        for (char **i = v; *i; i++)
                free(*i);
        free(v);
}

void strv_freep(char ***v)
{
        strv_free(*v);
        *v = NULL;
}

size_t strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

char **strv_dup(char *const *v)
{
        if (!v)
                return NULL;
        size_t n = strv_len(v);
        char **r = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                r[i] = xstrdup(v[i]);
        return r;
}

int strv_append(char ***v, const char *s)
{
        size_t n = strv_len(*v);
        char **r = xrealloc(*v, (n + 2) * sizeof(char *));
        r[n] = xstrdup(s);
        r[n + 1] = NULL;
        *v = r;
        return 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_i64(const char *s, int64_t *ret)
{
        if (!s || !*s)
                return -EINVAL;
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno)
                return -errno;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

void str_unescape_octal(char *s)
{
        char *w = s;
        for (char *r = s; *r; r++) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 3;
                } else {
                        *w++ = *r;
                }
        }
        *w = '\0';
}
