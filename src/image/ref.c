/* Image references: [HOST[:PORT]/]REPO[:TAG][@DIGEST], checked as docker's reference grammar
 * has it (lowercase repository components, tags of up to 128 characters, sha256 digests). */
#include "image/registry-internal.h"

#include <string.h>

static bool lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((.|_|__|-+)[a-z0-9]+)* */
static bool repo_component_valid(const char *s, size_t n)
{
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < n && lower_alnum(s[i]))
                        i++;
                if (i == start)
                        return false;
                if (i == n)
                        return true;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
        }
}

static const char *repo_invalid(const char *repo)
{
        if (strlen(repo) > 255)
                return "longer than 255 characters";
        for (const char *p = repo;;) {
                size_t n = strcspn(p, "/");
                if (!repo_component_valid(p, n))
                        return "a path component must be lowercase letters and digits, joined "
                               "by `.`, `_`, `__` or `-`";
                if (!p[n])
                        return NULL;
                p += n + 1;
        }
}

static bool tag_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128 || t[0] == '.' || t[0] == '-')
                return false;
        return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool host_valid(const char *h)
{
        const char *port = strrchr(h, ':');
        size_t n = port ? (size_t)(port - h) : strlen(h);
        if (n == 0 || h[0] == '-' || h[0] == '.')
                return false;
        if (strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
                return false;
        if (!port)
                return true;
        size_t d = strlen(port + 1);
        return d >= 1 && d <= 5 && strspn(port + 1, "0123456789") == d;
}

static bool is_host(const char *s, size_t n)
{
        return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9));
}

static int ref_split(const char *s, struct image_ref *r, struct cx_error **err)
{
        _cleanup_free_ char *name = xstrdup(s);
        char *at = strchr(name, '@');
        if (at) {
                *at = '\0';
                if (!image_digest_valid(at + 1))
                        return cx_error_msg(err, EINVAL,
                                            "invalid reference `%s`: `%s` is not a digest "
                                            "(sha256:<64 lowercase hex digits>)",
                                            s, at + 1);
                r->digest = xstrdup(at + 1);
        }
        char *rest = name;
        char *slash = strchr(name, '/');
        if (slash && is_host(name, slash - name)) {
                r->host = strndup(name, slash - name);
                rest = slash + 1;
        }
        char *last = strrchr(rest, '/');
        char *colon = strchr(last ? last : rest, ':');
        if (colon) {
                *colon = '\0';
                r->tag = xstrdup(colon + 1);
        }
        r->repo = xstrdup(rest);
        return 0;
}

static int ref_check(const char *s, struct image_ref *r, struct cx_error **err)
{
        const char *why = NULL;
        if (r->host && !host_valid(r->host))
                why = "the registry host is not HOST[:PORT]";
        else if (!*r->repo)
                why = "no repository";
        else if ((why = repo_invalid(r->repo)))
                ;
        else if (r->tag && !tag_valid(r->tag))
                why = "a tag is up to 128 of [A-Za-z0-9_.-], not starting with `.` or `-`";
        if (why)
                return cx_error_msg(err, EINVAL, "invalid reference `%s`: %s", s, why);
        return 0;
}

int image_ref_parse(const char *s, struct image_ref *ret, struct cx_error **err)
{
        struct image_ref r = {0};
        if (!s || !*s)
                return cx_error_msg(err, EINVAL, "empty image reference");
        int k = ref_split(s, &r, err);
        if (k >= 0)
                k = ref_check(s, &r, err);
        if (k < 0) {
                image_ref_clear(&r);
                return k;
        }
        if (!r.host || !strcmp(r.host, "index.docker.io")) {
                free(r.host);
                r.host = xstrdup("docker.io");
        }
        if (!strcmp(r.host, "docker.io") && !strchr(r.repo, '/')) {
                char *lib = xasprintf("library/%s", r.repo);
                free(r.repo);
                r.repo = lib;
        }
        r.api_host = xstrdup(strcmp(r.host, "docker.io") ? r.host : "registry-1.docker.io");
        if (!r.tag && !r.digest)
                r.tag = xstrdup("latest");
        *ret = r;
        return 0;
}

void image_ref_clear(struct image_ref *r)
{
        free(r->host);
        free(r->api_host);
        free(r->repo);
        free(r->tag);
        free(r->digest);
        *r = (struct image_ref){0};
}

char *image_ref_name(const struct image_ref *r)
{
        if (r->tag)
                return xasprintf("%s/%s:%s", r->host, r->repo, r->tag);
        return xasprintf("%s/%s@%s", r->host, r->repo, r->digest);
}
