/* The registry client's parsers: image references, WWW-Authenticate challenges, URL origins,
 * query escaping, base64.  (The client itself is tested against a real registry:
 * tests/integration/test_image_pull.py.) */
#include "image/registry-internal.h"
#include "tap.h"

static void ref_ok(const char *s, const char *host, const char *api, const char *repo,
                   const char *tag, const char *digest, const char *name)
{
        struct image_ref r = {0};
        struct cx_error *err = NULL;
        int k = image_ref_parse(s, &r, &err);
        ok(k == 0, "ref `%s` parses%s%s", s, err ? ": " : "", err ? err->msg : "");
        if (k < 0) {
                cx_error_free(err);
                return;
        }
        is_str(r.host, host, "`%s`: host", s);
        is_str(r.api_host, api, "`%s`: API host", s);
        is_str(r.repo, repo, "`%s`: repo", s);
        if (tag)
                is_str(r.tag, tag, "`%s`: tag", s);
        else
                ok(!r.tag, "`%s`: no tag", s);
        if (digest)
                is_str(r.digest, digest, "`%s`: digest", s);
        else
                ok(!r.digest, "`%s`: no digest", s);
        char *n = image_ref_name(&r);
        is_str(n, name, "`%s`: name", s);
        free(n);
        image_ref_clear(&r);
}

static void ref_bad(const char *s, const char *why)
{
        struct image_ref r = {0};
        struct cx_error *err = NULL;
        int k = image_ref_parse(s, &r, &err);
        ok(k == -EINVAL, "ref `%s` refused", s);
        contains(err ? err->msg : NULL, why, "`%s`: says why", s);
        cx_error_free(err);
}

#define D "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_refs(void)
{
        ref_ok("alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest", NULL,
               "docker.io/library/alpine:latest");
        ref_ok("alpine:3.19", "docker.io", "registry-1.docker.io", "library/alpine", "3.19", NULL,
               "docker.io/library/alpine:3.19");
        ref_ok("user/app", "docker.io", "registry-1.docker.io", "user/app", "latest", NULL,
               "docker.io/user/app:latest");
        ref_ok("docker.io/alpine", "docker.io", "registry-1.docker.io", "library/alpine", "latest",
               NULL, "docker.io/library/alpine:latest");
        ref_ok("index.docker.io/library/alpine:1", "docker.io", "registry-1.docker.io",
               "library/alpine", "1", NULL, "docker.io/library/alpine:1");
        ref_ok("127.0.0.1:5000/test/img:1", "127.0.0.1:5000", "127.0.0.1:5000", "test/img", "1",
               NULL, "127.0.0.1:5000/test/img:1");
        ref_ok("localhost/img", "localhost", "localhost", "img", "latest", NULL,
               "localhost/img:latest");
        ref_ok("registry.example/a/b/c", "registry.example", "registry.example", "a/b/c", "latest",
               NULL, "registry.example/a/b/c:latest");
        ref_ok("reg:5000/img@" D, "reg:5000", "reg:5000", "img", NULL, D, "reg:5000/img@" D);
        ref_ok("reg.example/img:v1@" D, "reg.example", "reg.example", "img", "v1", D,
               "reg.example/img:v1");
        /* not a host: no '.', no ':', not localhost */
        ref_ok("foo/bar:x", "docker.io", "registry-1.docker.io", "foo/bar", "x", NULL,
               "docker.io/foo/bar:x");
        ref_ok("a__b-c---d/e.f_g", "docker.io", "registry-1.docker.io", "a__b-c---d/e.f_g",
               "latest", NULL, "docker.io/a__b-c---d/e.f_g:latest");

        ref_bad("", "empty");
        ref_bad("Alpine", "lowercase");
        ref_bad("alpine:", "tag");
        ref_bad("alpine:.x", "tag");
        ref_bad("alpine@sha256:abc", "not a digest");
        ref_bad("alpine@md5:0123", "not a digest");
        ref_bad("reg.example/", "no repository");
        ref_bad("reg.example//x", "path component");
        ref_bad("a___b", "path component");
        ref_bad("a-/b", "path component");
        ref_bad("reg.example:http/x", "HOST[:PORT]");
        ref_bad("reg_x.example/x", "HOST[:PORT]");
        ref_bad("x/y:a/b", "path component");
}

static void test_challenges(void)
{
        struct http_challenge c = {0};
        ok(http_challenge_parse("Bearer realm=\"https://auth.example/token\",service=\"reg\","
                                "scope=\"repository:a/b:pull,push\"",
                                &c) == 0,
           "bearer challenge parses");
        is_str(c.scheme, "Bearer", "scheme");
        is_str(c.realm, "https://auth.example/token", "realm");
        is_str(c.service, "reg", "service");
        is_str(c.scope, "repository:a/b:pull,push", "scope with a comma inside quotes");
        http_challenge_clear(&c);

        ok(http_challenge_parse("Basic realm=\"Registry \\\"x\\\" Realm\"", &c) == 0,
           "basic challenge parses");
        is_str(c.scheme, "Basic", "basic scheme");
        is_str(c.realm, "Registry \"x\" Realm", "escaped quotes");
        ok(!c.service && !c.scope, "absent parameters are NULL");
        http_challenge_clear(&c);

        ok(http_challenge_parse("bearer  realm=http://t/x , error=insufficient_scope", &c) == 0,
           "tokens, spaces and unknown parameters");
        is_str(c.realm, "http://t/x", "token realm");
        http_challenge_clear(&c);

        ok(http_challenge_parse("", &c) < 0, "empty refused");
        ok(http_challenge_parse("Bearer realm=\"unterminated", &c) < 0, "unterminated quote");
        ok(http_challenge_parse("Bearer realm", &c) < 0, "parameter without a value");
        ok(http_challenge_parse("Bearer realm=\"a\" service=\"b\"", &c) < 0, "missing comma");
}

static void test_origin(void)
{
        char *o;
        is_str(o = http_url_origin("https://Reg.Example/v2/x"), "https://reg.example:443",
               "https default port");
        free(o);
        is_str(o = http_url_origin("http://127.0.0.1:5000/v2/"), "http://127.0.0.1:5000",
               "http with port");
        free(o);
        is_str(o = http_url_origin("http://u:p@h?x"), "http://h:80", "user info dropped");
        free(o);
        is_str(o = http_url_origin("https://[::1]:8443/x"), "https://[::1]:8443", "IPv6");
        free(o);
        ok(!http_url_origin("ftp://h/x"), "not http(s)");
        ok(!http_url_origin("http:///x"), "no host");
}

static void test_escape_base64(void)
{
        char *s;
        is_str(s = http_query_escape("repository:a/b:pull,push x~"),
               "repository%3Aa%2Fb%3Apull%2Cpush%20x~", "query escape");
        free(s);
        is_str(s = http_base64("user:pass"), "dXNlcjpwYXNz", "base64");
        free(s);
        is_str(s = http_base64("a"), "YQ==", "base64 padding 2");
        free(s);
        is_str(s = http_base64("ab"), "YWI=", "base64 padding 1");
        free(s);
        is_str(s = http_base64(""), "", "base64 empty");
        free(s);
}

int main(void)
{
        test_refs();
        test_challenges();
        test_origin();
        test_escape_base64();
        return tap_done();
}
