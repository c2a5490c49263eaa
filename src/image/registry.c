/* `capsa image pull`: a client of the OCI distribution API (GET /v2/REPO/manifests/REF and
 * /v2/REPO/blobs/DIGEST) over http.c, feeding image_ingest.
 *
 * Scheme: https first.  For a loopback registry (localhost, 127.0.0.1) or when
 * --tls-verify=false, a failed TLS handshake (the server speaks plain HTTP) makes the pull
 * continue over http, as podman does for insecure registries; a certificate that fails
 * verification is never a reason to fall back.
 *
 * Auth: anonymous first; a 401 brings a challenge: `Bearer realm,service,scope` gets a token
 * from the realm (with the --creds as basic auth, when given), `Basic` sends the --creds.
 *
 * Blobs download into ROOT/tmp/HEX.partial under a flock of their own (two pulls never write
 * one partial), resuming with Range from what an interrupted pull left; the whole file is
 * checked against the digest before ingest reads it, through an fd to the unlinked file. */
#include "image/registry-internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#define MANIFEST_MAX (4 << 20) /* containerd's limit too */
#define TOKEN_MAX    (1 << 20)
#define REDIRECTS    5
#define ACCEPT_MANIFESTS                                                                           \
        "application/vnd.oci.image.manifest.v1+json, "                                             \
        "application/vnd.oci.image.index.v1+json, "                                                \
        "application/vnd.docker.distribution.manifest.v2+json, "                                   \
        "application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- a pull's session ------------------------------------------------------------------------ */

struct reg {
        const struct image_fetch_opts *o;
        struct image_ref ref;
        struct http_client http;
        const char *scheme; /* "https", or "http" after a fallback */
        bool scheme_settled;
        bool may_fall_back;
        char *authorization; /* the header in use; NULL: anonymous */
        struct image_store store;
        bool store_open;
        int tmp_fd; /* ROOT/tmp */
        struct image_progress *progress;
        struct image_manifest manifest; /* the sizes of the blobs */
};

static void reg_clear(struct reg *g)
{
        image_manifest_clear(&g->manifest);
        if (g->progress)
                image_progress_free(g->progress);
        if (g->tmp_fd >= 0)
                close(g->tmp_fd);
        if (g->store_open)
                image_store_close(&g->store);
        free(g->authorization);
        http_client_clear(&g->http);
        image_ref_clear(&g->ref);
}

static int pass_error(struct cx_error **err, struct cx_error **e, int k)
{
        if (err && !*err)
                *err = TAKE_PTR(*e);
        return k;
}

static bool loopback(const char *host)
{
        _cleanup_free_ char *h = xstrdup(host);
        char *port = strrchr(h, ':');
        if (port)
                *port = '\0';
        return !strcmp(h, "localhost") || !strcmp(h, "127.0.0.1");
}

static int need_creds(struct reg *g, struct cx_error **err)
{
        return cx_error_msg(err, EACCES, "%s requires authentication (--creds USER:PASSWORD)",
                            g->ref.host);
}

static char *creds_user(const char *creds)
{
        return strndup(creds, strcspn(creds, ":"));
}

static int token_parse(struct reg *g, const struct http_response *r, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        int k = json_parse(r->body, r->len, NULL, &v, err);
        if (k < 0)
                return cx_error_prefix(err, "token from %s", r->url);
        const char *t = json_val_str(json_val_get(v, "token"));
        if (!t || !*t)
                t = json_val_str(json_val_get(v, "access_token"));
        if (!t || !*t)
                return cx_error_msg(err, EPROTO, "token from %s: no \"token\" in the answer",
                                    r->url);
        for (const char *c = t; *c; c++)
                if ((unsigned char)*c <= ' ' || *c == 0x7f)
                        return cx_error_msg(err, EPROTO,
                                            "token from %s: a control character or space in "
                                            "the token",
                                            r->url);
        free(g->authorization);
        g->authorization = xasprintf("Bearer %s", t);
        return 0;
}

static int token_fetch(struct reg *g, const struct http_challenge *c, struct cx_error **err)
{
        _cleanup_free_ char *dflt = xasprintf("repository:%s:pull", g->ref.repo);
        _cleanup_free_ char *scope = http_query_escape(c->scope ? c->scope : dflt);
        _cleanup_free_ char *service = c->service ? http_query_escape(c->service) : NULL;
        _cleanup_free_ char *basic = g->o->creds ? http_base64(g->o->creds) : NULL;
        _cleanup_free_ char *auth = basic ? xasprintf("Basic %s", basic) : NULL;
        _cleanup_free_ char *url =
            xasprintf("%s%s%s%s%sscope=%s", c->realm, strchr(c->realm, '?') ? "&" : "?",
                      service ? "service=" : "", service ? service : "", service ? "&" : "", scope);
        struct http_request rq = {
            .url = url, .authorization = auth, .max_redirects = REDIRECTS, .max_body = TOKEN_MAX};
        struct http_response r = {0};
        int k = http_get(&g->http, &rq, &r, err);
        if (k < 0)
                return cx_error_prefix(err, "token");
        if ((r.status == 401 || r.status == 403) && !g->o->creds)
                k = need_creds(g, err);
        else if (r.status == 401 || r.status == 403) {
                _cleanup_free_ char *user = creds_user(g->o->creds);
                http_status_error(&r, err);
                k = cx_error_prefix(err, "%s: the token service refused the credentials of `%s`",
                                    g->ref.host, user);
        } else if (r.status != 200) {
                http_status_error(&r, err);
                k = cx_error_prefix(err, "token");
        } else
                k = token_parse(g, &r, err);
        http_response_clear(&r);
        return k;
}

/* After a 401: the credentials its challenge asks for. */
static int reg_authenticate(struct reg *g, const struct http_response *r, struct cx_error **err)
{
        _cleanup_(http_challenge_clear) struct http_challenge c = {0};
        if (!r->www_authenticate)
                return cx_error_msg(err, EACCES,
                                    "GET %s: HTTP 401 without a WWW-Authenticate "
                                    "challenge",
                                    r->url);
        if (http_challenge_parse(r->www_authenticate, &c) < 0)
                return cx_error_msg(err, EPROTO, "GET %s: cannot parse WWW-Authenticate `%s`",
                                    r->url, r->www_authenticate);
        if (!strcasecmp(c.scheme, "Bearer")) {
                if (!c.realm)
                        return cx_error_msg(err, EPROTO,
                                            "GET %s: a Bearer challenge without "
                                            "a realm: `%s`",
                                            r->url, r->www_authenticate);
                return token_fetch(g, &c, err);
        }
        if (!strcasecmp(c.scheme, "Basic")) {
                if (!g->o->creds)
                        return need_creds(g, err);
                _cleanup_free_ char *b = http_base64(g->o->creds);
                free(g->authorization);
                g->authorization = xasprintf("Basic %s", b);
                return 0;
        }
        return cx_error_msg(err, EPROTO, "GET %s: unsupported authentication scheme `%s`", r->url,
                            c.scheme);
}

static int reg_denied(struct reg *g, const struct http_response *r, struct cx_error **err)
{
        if (!g->o->creds)
                return need_creds(g, err);
        _cleanup_free_ char *user = creds_user(g->o->creds);
        http_status_error(r, err);
        return cx_error_prefix(err, "%s: access denied to `%s`", g->ref.host, user);
}

/* GET /v2/PATH: the scheme's fallback, one authentication per request. */
static int reg_get(struct reg *g, const char *path, struct http_request *rq,
                   struct http_response *ret, struct cx_error **err)
{
        for (bool authed = false;;) {
                _cleanup_free_ char *url =
                    xasprintf("%s://%s/v2/%s", g->scheme, g->ref.api_host, path);
                _cleanup_error_ struct cx_error *e = NULL;
                struct http_response r = {0};
                rq->url = url;
                rq->authorization = g->authorization;
                int k = http_get(&g->http, rq, &r, &e);
                if (k == -EPROTO && !g->scheme_settled && g->may_fall_back) {
                        log_debug("%s; trying plain HTTP", e->msg);
                        g->scheme = "http";
                        g->scheme_settled = true;
                        continue;
                }
                if (k < 0)
                        return pass_error(err, &e, k);
                g->scheme_settled = true;
                if (r.status == 401) {
                        k = authed ? reg_denied(g, &r, err) : reg_authenticate(g, &r, err);
                        http_response_clear(&r);
                        if (k < 0)
                                return k;
                        authed = true;
                        continue;
                }
                *ret = r;
                return 0;
        }
}

/* ---- manifests ------------------------------------------------------------------------------- */

static bool manifest_type_ok(const char *t)
{
        static const char *const ok[] = {
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
                if (!strcmp(t, ok[i]))
                        return true;
        return false;
}

static int manifest_check(const char *what, const char *reference, const struct http_response *r,
                          char digest[IMAGE_DIGEST_LEN + 1], struct cx_error **err)
{
        if (r->content_type && !manifest_type_ok(r->content_type))
                return cx_error_msg(err, EPROTO, "manifest %s: unsupported media type `%s`%s", what,
                                    r->content_type,
                                    strstr(r->content_type, "manifest.v1")
                                        ? " (Docker schema 1, deprecated: push the image again)"
                                        : "");
        image_digest_of(r->body, r->len, digest);
        const char *said = r->docker_digest;
        if (said && str_has_prefix(said, "sha256:") && strcmp(said, digest))
                return cx_error_msg(err, EPROTO,
                                    "manifest %s: the body's digest is %s, the registry's "
                                    "Docker-Content-Digest %s",
                                    what, digest, said);
        if (image_digest_valid(reference) && strcmp(reference, digest))
                return cx_error_msg(
                    err, EPROTO, "manifest %s: the registry sent one with digest %s", what, digest);
        return 0;
}

/* The manifest `reference` (a tag or a digest), its digest checked. */
static int manifest_fetch(struct reg *g, const char *reference, char **ret, size_t *ret_len,
                          char ret_digest[IMAGE_DIGEST_LEN + 1], struct cx_error **err)
{
        _cleanup_free_ char *path = xasprintf("%s/manifests/%s", g->ref.repo, reference);
        _cleanup_free_ char *what =
            xasprintf("%s%s%s", g->ref.repo, image_digest_valid(reference) ? "@" : ":", reference);
        struct http_request rq = {
            .accept = ACCEPT_MANIFESTS, .max_body = MANIFEST_MAX, .max_redirects = REDIRECTS};
        struct http_response r = {0};
        int k = reg_get(g, path, &rq, &r, err);
        if (k < 0)
                return k;
        if (r.status == 404)
                k = cx_error_msg(err, ENOENT, "manifest unknown (GET %s: HTTP 404)", r.url);
        else if (r.status != 200)
                k = http_status_error(&r, err);
        else
                k = manifest_check(what, reference, &r, ret_digest, err);
        if (k >= 0) {
                *ret = TAKE_PTR(r.body);
                *ret_len = r.len;
        }
        http_response_clear(&r);
        return k;
}

/* The image manifest REF names, through an index to this host's platform when it is one. */
static int resolve(struct reg *g, const char *name, char **ret, size_t *ret_len,
                   char ret_digest[IMAGE_DIGEST_LEN + 1], struct cx_error **err)
{
        _cleanup_free_ char *body = NULL, *chosen = NULL, *nested = NULL;
        size_t len = 0;
        const char *reference = g->ref.digest ? g->ref.digest : g->ref.tag;
        int k = manifest_fetch(g, reference, &body, &len, ret_digest, err);
        if (k >= 0)
                k = image_index_select(body, len, name, &chosen, err);
        if (k < 0)
                return k;
        if (chosen) {
                free(TAKE_PTR(body));
                k = manifest_fetch(g, chosen, &body, &len, ret_digest, err);
                if (k >= 0)
                        k = image_index_select(body, len, chosen, &nested, err);
                if (k < 0)
                        return k;
                if (nested)
                        return cx_error_msg(err, EPROTO, "manifest %s: an index inside an index",
                                            chosen);
        }
        *ret = TAKE_PTR(body);
        *ret_len = len;
        return 0;
}

/* ---- blobs ----------------------------------------------------------------------------------- */

struct blob_dl {
        struct reg *g;
        const char *digest;
        int fd;
        uint64_t off;  /* bytes in the partial file */
        uint64_t want; /* the manifest's size; 0: unknown */
        struct image_hash *hash;
        int slot;
        bool first; /* no byte of this response yet */
        bool bad;   /* the registry sent what cannot be this blob: the partial goes */
};

static uint64_t blob_size(struct reg *g, const char *digest)
{
        const struct image_manifest *m = &g->manifest;
        if (m->config_digest && !strcmp(m->config_digest, digest))
                return m->config_size;
        for (size_t i = 0; i < m->n_layers; i++)
                if (!strcmp(m->layers[i].digest, digest))
                        return m->layers[i].size;
        return 0;
}

static int blob_restart(struct blob_dl *d)
{
        if (ftruncate(d->fd, 0) < 0)
                return -errno;
        image_hash_free(d->hash);
        d->hash = image_hash_new();
        d->off = 0;
        return 0;
}

/* Hashes what the partial file already holds. */
static int blob_hash_prefix(struct blob_dl *d)
{
        char buf[64 << 10];
        for (uint64_t at = 0; at < d->off;) {
                ssize_t n = pread(d->fd, buf, sizeof(buf), (off_t)at);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                image_hash_update(d->hash, buf, n);
                at += n;
        }
        return 0;
}

static int pwrite_all(int fd, const char *buf, size_t len, uint64_t off)
{
        while (len > 0) {
                ssize_t n = pwrite(fd, buf, len, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                buf += n;
                len -= n;
                off += n;
        }
        return 0;
}

/* "bytes N-M/T" starts at off */
static bool range_starts_at(const char *cr, uint64_t off)
{
        uint64_t start;
        return cr && sscanf(cr, "bytes %" SCNu64 "-", &start) == 1 && start == off;
}

static int blob_write(void *data, const struct http_response *r, const char *buf, size_t len,
                      struct cx_error **err)
{
        struct blob_dl *d = data;
        int k;
        if (d->first) {
                d->first = false;
                if (r->status != 206 && d->off > 0 && (k = blob_restart(d)) < 0)
                        return cx_error_set(err, -k, "truncate the partial download");
                if (r->status == 206 && !range_starts_at(r->content_range, d->off)) {
                        d->bad = true;
                        return cx_error_msg(
                            err, EPROTO,
                            "GET %s: asked for bytes from %" PRIu64 ", got Content-Range `%s`",
                            r->url, d->off, r->content_range ? r->content_range : "");
                }
        }
        if (d->want && d->off + len > d->want) {
                d->bad = true;
                return cx_error_msg(err, EPROTO,
                                    "GET %s: more than the %" PRIu64 " bytes the manifest says",
                                    r->url, d->want);
        }
        if ((k = pwrite_all(d->fd, buf, len, d->off)) < 0)
                return cx_error_set(err, -k, "write the download to %s/tmp", d->g->store.root);
        image_hash_update(d->hash, buf, len);
        d->off += len;
        image_progress_add(d->g->progress, d->slot, len);
        return 0;
}

/* GETs the rest of the blob into the partial file: 1 when the registry refused the range (the
 * partial was truncated: start again), 0 when done, or an error (d->bad: the partial file is
 * wrong, not merely short). */
static int blob_download(struct blob_dl *d, struct cx_error **err)
{
        struct reg *g = d->g;
        _cleanup_free_ char *path = xasprintf("%s/blobs/%s", g->ref.repo, d->digest);
        struct http_request rq = {
            .range_from = d->off, .max_redirects = REDIRECTS, .write = blob_write, .data = d};
        struct http_response r = {0};
        _cleanup_error_ struct cx_error *e = NULL;
        uint64_t from = d->off;
        d->first = true;
        int k = reg_get(g, path, &rq, &r, &e);
        if (k < 0 && d->off > 0 && !d->bad) {
                char *m = xasprintf("%s (%" PRIu64 " bytes kept in %s/tmp: the next pull resumes)",
                                    e->msg, d->off, g->store.root);
                free(e->msg);
                e->msg = m;
        }
        if (k < 0)
                return pass_error(err, &e, k);
        if (r.status == 416 && from > 0)
                k = blob_restart(d) < 0 ? cx_error_set(err, errno, "truncate partial") : 1;
        else if (r.status == 404)
                k = cx_error_msg(err, ENOENT, "blob unknown (GET %s: HTTP 404)", r.url);
        else if (r.status != 200 && r.status != 206)
                k = http_status_error(&r, err);
        else if (r.status == 200 && d->first && d->off > 0)
                k = blob_restart(d) < 0 ? cx_error_set(err, errno, "truncate partial") : 0;
        http_response_clear(&r);
        return k;
}

/* Opens ROOT/tmp/NAME locked: a pull that finds the file gone or replaced once it holds the
 * lock (the previous holder finished and unlinked it) opens it anew. */
static int partial_open(struct reg *g, const char *name, int *ret, struct cx_error **err)
{
        for (;;) {
                _cleanup_close_ int fd =
                    openat(g->tmp_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return cx_error_set(err, errno, "open %s/tmp/%s", g->store.root, name);
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return cx_error_set(err, errno, "lock %s/tmp/%s", g->store.root,
                                                    name);
                struct stat a, b;
                if (fstat(fd, &a) < 0)
                        return cx_error_set(err, errno, "stat %s/tmp/%s", g->store.root, name);
                if (fstatat(g->tmp_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
                    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                        *ret = TAKE_FD(fd);
                        return 0;
                }
        }
}

/* One attempt over the partial file: 0 verified, 1 start again from nothing, or an error. */
static int blob_attempt(struct blob_dl *d, bool may_restart, const char *name,
                        struct cx_error **err)
{
        struct stat st;
        if (fstat(d->fd, &st) < 0)
                return cx_error_set(err, errno, "stat %s/tmp/%s", d->g->store.root, name);
        d->off = (uint64_t)st.st_size;
        image_hash_free(d->hash);
        d->hash = image_hash_new();
        if (d->want && d->off > d->want && blob_restart(d) < 0)
                return cx_error_set(err, errno, "truncate %s/tmp/%s", d->g->store.root, name);
        bool resumed = d->off > 0;
        int k = blob_hash_prefix(d);
        if (k < 0)
                return cx_error_set(err, -k, "read %s/tmp/%s", d->g->store.root, name);
        image_progress_add(d->g->progress, d->slot, d->off);
        if (!d->want || d->off < d->want) {
                k = blob_download(d, err);
                if (k < 0 && d->bad)
                        unlinkat(d->g->tmp_fd, name, 0);
                if (k != 0)
                        return k;
        }
        char got[IMAGE_DIGEST_LEN + 1];
        image_hash_final(TAKE_PTR(d->hash), got);
        if (!strcmp(got, d->digest))
                return 0;
        if (resumed && may_restart) {
                log_debug("blob %s: the resumed download has digest %s: starting again", d->digest,
                          got);
                return ftruncate(d->fd, 0) < 0 ? cx_error_set(err, errno, "truncate") : 1;
        }
        unlinkat(d->g->tmp_fd, name, 0);
        return cx_error_msg(err, EPROTO,
                            "the registry sent %" PRIu64 " bytes with digest %s (download removed)",
                            d->off, got);
}

static int blob_fetch(struct reg *g, const char *digest, int *ret_fd, uint64_t *ret_size,
                      struct cx_error **err)
{
        _cleanup_free_ char *name = xasprintf("%s.partial", digest + strlen("sha256:"));
        _cleanup_close_ int fd = -1;
        int k = partial_open(g, name, &fd, err);
        if (k < 0)
                return k;
        struct blob_dl d = {.g = g, .digest = digest, .fd = fd, .want = blob_size(g, digest)};
        d.slot = image_progress_start(g->progress, digest, d.want);
        for (int attempt = 0; (k = blob_attempt(&d, attempt == 0, name, err)) == 1; attempt++)
                ;
        image_hash_free(d.hash);
        image_progress_done(g->progress, d.slot, k < 0 ? "failed" : "downloaded");
        struct stat st;
        if (k < 0 && fstat(fd, &st) == 0 && st.st_size == 0)
                unlinkat(g->tmp_fd, name, 0); /* nothing to resume: no trace */
        if (k < 0)
                return k;
        /* ingest reads the verified file through fd; the name goes now */
        if (unlinkat(g->tmp_fd, name, 0) < 0)
                return cx_error_set(err, errno, "unlink %s/tmp/%s", g->store.root, name);
        if (lseek(fd, 0, SEEK_SET) < 0)
                return cx_error_set(err, errno, "seek %s/tmp/%s", g->store.root, name);
        *ret_fd = TAKE_FD(fd);
        *ret_size = d.off;
        return 0;
}

static int open_blob(void *data, const char *digest, const char *media_type, int *ret_fd,
                     uint64_t *ret_size, struct cx_error **err)
{
        if (!image_digest_valid(digest))
                return cx_error_msg(err, EINVAL, "blob `%s`: not a sha256 digest", digest);
        int k = blob_fetch(data, digest, ret_fd, ret_size, err);
        if (k < 0)
                return cx_error_prefix(err, "blob %s", digest);
        return k;
}

/* ---- image_pull ------------------------------------------------------------------------------ */

static int tmp_open(struct reg *g, struct cx_error **err)
{
        if (mkdirat(g->store.root_fd, "tmp", 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "mkdir %s/tmp", g->store.root);
        g->tmp_fd = openat(g->store.root_fd, "tmp", O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (g->tmp_fd < 0)
                return cx_error_set(err, errno, "open %s/tmp", g->store.root);
        return 0;
}

static int reg_open(struct reg *g, const char *root, const char *ref, struct cx_error **err)
{
        const struct image_fetch_opts *o = g->o;
        int k = image_ref_parse(ref, &g->ref, err);
        if (k < 0)
                return k;
        if (o->ca_file && access(o->ca_file, R_OK) < 0)
                return cx_error_set(err, errno, "--ca-file %s", o->ca_file);
        if (o->creds && !strchr(o->creds, ':'))
                return cx_error_msg(err, EINVAL, "--creds: expected USER:PASSWORD");
        k = image_libs_load(IMAGE_LIB_CRYPTO | IMAGE_LIB_ARCHIVE | IMAGE_LIB_CURL, err);
        if (k >= 0)
                k = http_client_init(&g->http, o->tls_verify, o->ca_file, err);
        if (k >= 0)
                k = image_store_open(root, false, &g->store, err);
        if (k < 0)
                return k;
        g->store_open = true;
        g->scheme = "https";
        g->may_fall_back = !o->tls_verify || loopback(g->ref.api_host);
        g->progress = image_progress_new(o->quiet);
        return tmp_open(g, err);
}

static int pull(struct reg *g, const char *root, const char *ref, char **ret_digest,
                struct cx_error **err)
{
        int k = reg_open(g, root, ref, err);
        if (k < 0)
                return k;
        _cleanup_free_ char *name = image_ref_name(&g->ref);
        _cleanup_free_ char *manifest = NULL;
        size_t len = 0;
        char digest[IMAGE_DIGEST_LEN + 1];
        k = resolve(g, name, &manifest, &len, digest, err);
        if (k >= 0)
                k = image_manifest_parse(manifest, len, digest, &g->manifest, err);
        if (k < 0)
                return k;
        /* The progress shown is the download's: one line per blob as it arrives, layers
         * already in the store as "exists"; ingest's own (unpacking, which follows each
         * download) would count every byte twice. */
        for (size_t i = 0; i < g->manifest.n_layers; i++)
                if (image_layer_has(&g->store, g->manifest.layers[i].digest))
                        image_progress_done(g->progress,
                                            image_progress_start(g->progress,
                                                                 g->manifest.layers[i].digest,
                                                                 g->manifest.layers[i].size),
                                            "exists");
        struct image_progress *unpack = image_progress_new(true);
        const struct image_source src = {.data = g, .open_blob = open_blob};
        k = image_ingest(&g->store, digest, manifest, len, name, &src, unpack, err);
        image_progress_free(unpack);
        if (k < 0)
                return k;
        *ret_digest = xstrdup(digest);
        return 0;
}

int image_pull(const char *root, const char *ref, const struct image_fetch_opts *o,
               char **ret_digest, struct cx_error **err)
{
        static const struct image_fetch_opts dflt = {.tls_verify = true};
        struct reg g = {.o = o ? o : &dflt, .tmp_fd = -1};
        char *digest = NULL;
        int k = pull(&g, root, ref, &digest, err);
        reg_clear(&g);
        if (k < 0)
                return cx_error_prefix(err, "pull %s", ref);
        *ret_digest = digest;
        return 0;
}
