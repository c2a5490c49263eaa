/* A small HTTP layer over libcurl for the registry client: GET only, the body to memory (with
 * a size cap) or to a caller's write callback, Range, redirects followed by hand (so that the
 * Authorization header never leaves its origin), WWW-Authenticate challenges.
 *
 * Redirects are followed here rather than by libcurl so that the rule is ours and visible: a
 * hop to another origin (scheme, host or port) loses the Authorization header; registries
 * redirect blobs to storage that authenticates with the signed URL itself. */
#include "image/registry-internal.h"
#include "util/json.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#define ERROR_BODY_MAX (64 << 10) /* what is kept of a non-2xx body, for the error message */

int http_client_init(struct http_client *c, bool tls_verify, const char *ca_file,
                     struct cx_error **err)
{
        *c = (struct http_client){.tls_verify = tls_verify, .ca_file = ca_file};
        c->curl = curl_easy_init();
        if (!c->curl)
                return cx_error_msg(err, ENOMEM, "curl_easy_init failed");
        return 0;
}

void http_client_clear(struct http_client *c)
{
        if (c->curl)
                curl_easy_cleanup(c->curl);
        c->curl = NULL;
}

void http_response_clear(struct http_response *r)
{
        free(r->reason);
        free(r->url);
        free(r->body);
        free(r->content_type);
        free(r->docker_digest);
        free(r->www_authenticate);
        free(r->content_range);
        *r = (struct http_response){.content_length = -1};
}

/* ---- one request ---------------------------------------------------------------------------- */

struct xfer {
        const struct http_request *rq;
        struct http_response *resp;
        struct cx_error *sink_err; /* why a write callback stopped the transfer */
};

static void set_str(char **dst, const char *v, size_t n)
{
        free(*dst);
        *dst = strndup(v, n);
        if (!*dst)
                abort();
}

static void status_line(struct http_response *r, const char *s, size_t n)
{
        /* "HTTP/1.1 404 Not Found": a new response (after a 100 Continue, say) starts afresh */
        free(r->content_type);
        free(r->docker_digest);
        free(r->www_authenticate);
        free(r->content_range);
        r->content_type = r->docker_digest = r->www_authenticate = r->content_range = NULL;
        r->content_length = -1;
        const char *p = memchr(s, ' ', n);
        r->status = 0;
        if (!p)
                return;
        p++;
        while (p < s + n && isdigit((unsigned char)*p))
                r->status = r->status * 10 + (*p++ - '0');
        while (p < s + n && *p == ' ')
                p++;
        set_str(&r->reason, p, s + n - p);
}

static void header_line(struct http_response *r, const char *s, size_t n)
{
        const char *colon = memchr(s, ':', n);
        if (!colon)
                return;
        size_t klen = colon - s;
        const char *v = colon + 1;
        while (v < s + n && (*v == ' ' || *v == '\t'))
                v++;
        size_t vlen = s + n - v;
#define IS(name) (klen == strlen(name) && strncasecmp(s, name, klen) == 0)
        if (IS("Content-Type")) {
                size_t l = strcspn(v, "; \t");
                set_str(&r->content_type, v, l < vlen ? l : vlen);
                for (char *c = r->content_type; *c; c++)
                        *c = tolower((unsigned char)*c);
        } else if (IS("Docker-Content-Digest")) {
                set_str(&r->docker_digest, v, vlen);
        } else if (IS("WWW-Authenticate") && !r->www_authenticate) {
                set_str(&r->www_authenticate, v, vlen);
        } else if (IS("Content-Range")) {
                set_str(&r->content_range, v, vlen);
        } else if (IS("Content-Length")) {
                _cleanup_free_ char *num = strndup(v, vlen);
                uint64_t u;
                if (num && parse_u64(num, &u) >= 0 && u <= INT64_MAX)
                        r->content_length = (int64_t)u;
        }
#undef IS
}

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
        struct xfer *x = data;
        size_t len = size * n, l = len;
        while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
                l--;
        if (l >= 5 && strncmp(buf, "HTTP/", 5) == 0)
                status_line(x->resp, buf, l);
        else
                header_line(x->resp, buf, l);
        return len;
}

static bool status_2xx(long s)
{
        return s >= 200 && s < 300;
}

static size_t on_body(char *buf, size_t size, size_t n, void *data)
{
        struct xfer *x = data;
        struct http_response *r = x->resp;
        size_t len = size * n;
        bool ok = status_2xx(r->status);
        if (ok && x->rq->write)
                return x->rq->write(x->rq->data, r, buf, len, &x->sink_err) < 0 ? 0 : len;
        size_t cap = ok ? x->rq->max_body : ERROR_BODY_MAX;
        size_t take = len;
        if (r->len + len > cap) {
                if (ok) {
                        cx_error_msg(&x->sink_err, EFBIG, "GET %s: response larger than %zu bytes",
                                     r->url, cap);
                        return 0;
                }
                take = cap - r->len; /* an error body: keep its start */
        }
        r->body = xrealloc(r->body, r->len + take + 1);
        memcpy(r->body + r->len, buf, take);
        r->len += take;
        r->body[r->len] = '\0';
        return len;
}

static void setup(struct http_client *c, struct xfer *x, const char *url,
                  struct curl_slist *headers)
{
        CURL *h = c->curl;
        curl_easy_reset(h);
        c->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "capsa/" CAPSA_VERSION);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
        if (c->ca_file)
                curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
}

static struct curl_slist *header_list(const struct http_request *rq, bool with_auth)
{
        struct curl_slist *l = NULL;
        if (rq->accept) {
                _cleanup_free_ char *a = xasprintf("Accept: %s", rq->accept);
                l = curl_slist_append(l, a);
        }
        if (with_auth && rq->authorization) {
                _cleanup_free_ char *a = xasprintf("Authorization: %s", rq->authorization);
                l = curl_slist_append(l, a);
        }
        if (rq->range_from > 0) {
                _cleanup_free_ char *a = xasprintf("Range: bytes=%" PRIu64 "-", rq->range_from);
                l = curl_slist_append(l, a);
        }
        return l;
}

static int curl_failure(struct http_client *c, CURLcode code, const char *url,
                        struct cx_error **err)
{
        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
        int e = EIO;
        switch (code) {
        case CURLE_SSL_CONNECT_ERROR:
                e = EPROTO;
                break;
        case CURLE_COULDNT_CONNECT:
                e = ECONNREFUSED;
                break;
        case CURLE_OPERATION_TIMEDOUT:
                e = ETIMEDOUT;
                break;
        default:
                break;
        }
        return cx_error_msg(err, e, "GET %s: %s", url, why);
}

/* One hop: no redirect followed. */
static int get_once(struct http_client *c, const struct http_request *rq, const char *url,
                    bool with_auth, struct http_response *r, struct cx_error **err)
{
        struct xfer x = {.rq = rq, .resp = r};
        struct curl_slist *headers = header_list(rq, with_auth);
        http_response_clear(r);
        r->url = xstrdup(url);
        setup(c, &x, url, headers);
        CURLcode code = curl_easy_perform(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        if (x.sink_err) {
                /* the callback's own error says more than curl's "write error" */
                int e = x.sink_err->code > 0 ? x.sink_err->code : EIO;
                if (err && !*err)
                        *err = TAKE_PTR(x.sink_err);
                cx_error_free(x.sink_err);
                return -e;
        }
        if (code != CURLE_OK)
                return curl_failure(c, code, url, err);
        return 0;
}

static bool is_redirect(long s)
{
        return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

int http_get(struct http_client *c, const struct http_request *rq, struct http_response *ret,
             struct cx_error **err)
{
        struct http_response r = {.content_length = -1};
        _cleanup_free_ char *origin = http_url_origin(rq->url);
        _cleanup_free_ char *url = xstrdup(rq->url);
        if (!origin)
                return cx_error_msg(err, EINVAL, "GET %s: not an http or https URL", rq->url);
        for (unsigned hop = 0;; hop++) {
                _cleanup_free_ char *here = http_url_origin(url);
                bool same_origin = here && strcmp(here, origin) == 0;
                int k = get_once(c, rq, url, same_origin, &r, err);
                if (k < 0) {
                        http_response_clear(&r);
                        return k;
                }
                if (!is_redirect(r.status) || rq->max_redirects == 0)
                        break;
                char *next = NULL;
                curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &next);
                if (!next)
                        break; /* a redirect without Location: the caller sees the status */
                _cleanup_free_ char *next_origin = http_url_origin(next);
                if (!next_origin)
                        k = cx_error_msg(err, EIO, "GET %s: redirected to `%s`, not http(s)", url,
                                         next);
                else if (hop + 1 > rq->max_redirects)
                        k = cx_error_msg(err, EIO,
                                         "GET %s: more than %u redirects (the last to %s)", rq->url,
                                         rq->max_redirects, next);
                if (k < 0) {
                        http_response_clear(&r);
                        return k;
                }
                free(url);
                url = xstrdup(next);
        }
        if (!r.body)
                r.body = xstrdup("");
        *ret = r;
        return 0;
}

int http_status_error(const struct http_response *r, struct cx_error **err)
{
        int e = r->status == 404 ? ENOENT : (r->status == 401 || r->status == 403) ? EACCES : EIO;
        _cleanup_free_ char *what = NULL;
        /* the distribution API's errors: {"errors": [{"code": ..., "message": ...}]} */
        struct json_val *v = NULL;
        _cleanup_error_ struct cx_error *ignored = NULL;
        if (r->body && r->len > 0 && json_parse(r->body, r->len, NULL, &v, &ignored) >= 0) {
                const struct json_val *e0 = json_val_at(json_val_get(v, "errors"), 0);
                const char *m = json_val_str(json_val_get(e0, "message"));
                const char *code = json_val_str(json_val_get(e0, "code"));
                if (m && code)
                        what = xasprintf(": %s (%s)", m, code);
                else if (m)
                        what = xasprintf(": %s", m);
        }
        json_val_free(v);
        return cx_error_msg(err, e, "GET %s: HTTP %ld%s%s%s", r->url, r->status,
                            r->reason && *r->reason ? " " : "", r->reason ? r->reason : "",
                            what ? what : "");
}

/* ---- small parsers ------------------------------------------------------------------------- */

static void skip_space(const char **p)
{
        while (**p == ' ' || **p == '\t')
                (*p)++;
}

/* token or quoted-string (with \-escapes); NULL when neither */
static char *param_value(const char **p)
{
        const char *s = *p;
        if (*s != '"') {
                size_t n = strcspn(s, ", \t");
                *p = s + n;
                return n ? strndup(s, n) : NULL;
        }
        s++;
        char *out = xmalloc(strlen(s) + 1), *o = out;
        for (; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                        s++;
                *o++ = *s;
        }
        *o = '\0';
        if (*s != '"') {
                free(out);
                return NULL;
        }
        *p = s + 1;
        return out;
}

int http_challenge_parse(const char *header, struct http_challenge *ret)
{
        struct http_challenge c = {0};
        const char *p = header;
        skip_space(&p);
        size_t n = strcspn(p, " \t");
        if (n == 0)
                return -EINVAL;
        c.scheme = strndup(p, n);
        p += n;
        for (;;) {
                skip_space(&p);
                if (!*p)
                        break;
                size_t k = strcspn(p, "= \t,");
                if (k == 0 || p[k] != '=') {
                        http_challenge_clear(&c);
                        return -EINVAL;
                }
                const char *key = p;
                p += k + 1;
                char *v = param_value(&p);
                if (!v) {
                        http_challenge_clear(&c);
                        return -EINVAL;
                }
                char **slot = k == 5 && strncasecmp(key, "realm", 5) == 0     ? &c.realm
                              : k == 7 && strncasecmp(key, "service", 7) == 0 ? &c.service
                              : k == 5 && strncasecmp(key, "scope", 5) == 0   ? &c.scope
                                                                              : NULL;
                if (slot) {
                        free(*slot);
                        *slot = v;
                } else {
                        free(v);
                }
                skip_space(&p);
                if (*p == ',')
                        p++;
                else if (*p) {
                        http_challenge_clear(&c);
                        return -EINVAL;
                }
        }
        *ret = c;
        return 0;
}

void http_challenge_clear(struct http_challenge *c)
{
        free(c->scheme);
        free(c->realm);
        free(c->service);
        free(c->scope);
        *c = (struct http_challenge){0};
}

char *http_url_origin(const char *url)
{
        const char *scheme = strncasecmp(url, "https://", 8) == 0  ? "https"
                             : strncasecmp(url, "http://", 7) == 0 ? "http"
                                                                   : NULL;
        if (!scheme)
                return NULL;
        const char *a = url + strlen(scheme) + 3;
        size_t n = strcspn(a, "/?#");
        const char *at = memrchr(a, '@', n); /* user info */
        if (at) {
                n -= at + 1 - a;
                a = at + 1;
        }
        if (n == 0)
                return NULL;
        _cleanup_free_ char *hostport = strndup(a, n);
        for (char *c = hostport; *c; c++)
                *c = tolower((unsigned char)*c);
        const char *close = strrchr(hostport, ']'); /* [v6]:port */
        const char *colon = strrchr(close ? close : hostport, ':');
        if (colon)
                return xasprintf("%s://%s", scheme, hostport);
        return xasprintf("%s://%s:%s", scheme, hostport, strcmp(scheme, "https") ? "80" : "443");
}

char *http_query_escape(const char *s)
{
        char *out = xmalloc(3 * strlen(s) + 1), *o = out;
        for (; *s; s++) {
                unsigned char c = *s;
                if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
                        *o++ = c;
                else
                        o += sprintf(o, "%%%02X", c);
        }
        *o = '\0';
        return out;
}

char *http_base64(const char *s)
{
        static const char tab[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(s);
        char *out = xmalloc(4 * ((n + 2) / 3) + 1), *o = out;
        const unsigned char *u = (const unsigned char *)s;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)u[i] << 16;
                if (i + 1 < n)
                        v |= (uint32_t)u[i + 1] << 8;
                if (i + 2 < n)
                        v |= u[i + 2];
                *o++ = tab[(v >> 18) & 63];
                *o++ = tab[(v >> 12) & 63];
                *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
                *o++ = i + 2 < n ? tab[v & 63] : '=';
        }
        *o = '\0';
        return out;
}
