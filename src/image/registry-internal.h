/* image/registry: what the registry client's files share (http.c: a small HTTP GET layer over
 * libcurl; ref.c: image references; registry.c: authentication, manifests and blobs of the OCI
 * distribution API).  The unit tests use the parsers. */
#pragma once

#include "image/image-internal.h"

/* ---- HTTP (http.c) ------------------------------------------------------------------------ */
/* One client per pull: its curl handle keeps connections to the registry alive between
 * requests.  Timeouts: 10 s to connect; a transfer slower than 1 byte/s for 30 s is aborted. */
struct http_client {
        CURL *curl;
        bool tls_verify;     /* check the server's certificate and name */
        const char *ca_file; /* trusted besides the system's CAs (/etc/ssl/certs), or NULL */
        char errbuf[CURL_ERROR_SIZE];
};
int http_client_init(struct http_client *c, bool tls_verify, const char *ca_file,
                     struct cx_error **err);
void http_client_clear(struct http_client *c);

struct http_response;
struct http_request {
        const char *url;
        const char *accept;        /* the Accept header, or NULL */
        const char *authorization; /* the Authorization header's value, or NULL; never sent
                                    * past a redirect to another origin */
        uint64_t range_from;       /* > 0: "Range: bytes=N-" */
        unsigned max_redirects;    /* 0: a redirect is the response */
        size_t max_body;           /* a 2xx body in memory larger than this fails (EFBIG) */
        /* When set, a 2xx body goes here instead of memory; a negative return (with err set)
         * aborts the transfer with that error. */
        int (*write)(void *data, const struct http_response *resp, const char *buf, size_t len,
                     struct cx_error **err);
        void *data;
};
struct http_response {
        long status;
        char *reason; /* of the status line ("Not Found"), or "" */
        char *url;    /* the URL that answered (after redirects) */
        /* the 2xx body in memory (NUL-terminated), or the first 64 KiB of any other body */
        char *body;
        size_t len;
        char *content_type;     /* without parameters, lowercase */
        char *docker_digest;    /* Docker-Content-Digest */
        char *www_authenticate; /* the first challenge header */
        char *content_range;
        int64_t content_length; /* -1: not sent */
};
/* GETs rq->url, following up to rq->max_redirects redirects (http and https only).  Any
 * status is a success here (the caller decides); a failure is a transport failure, named with
 * the URL and curl's message: -EPROTO when the TLS handshake failed (the server may speak
 * plain HTTP), -ECONNREFUSED, -ETIMEDOUT, -EIO for the rest, or the write callback's error. */
int http_get(struct http_client *c, const struct http_request *rq, struct http_response *ret,
             struct cx_error **err);
void http_response_clear(struct http_response *r);
/* "GET URL: HTTP 500 Internal Server Error: MESSAGE" (MESSAGE: the registry's error JSON's
 * first message, when it sent one); returns a negative errno for the status. */
int http_status_error(const struct http_response *r, struct cx_error **err);

/* A WWW-Authenticate challenge: `Bearer realm="...",service="...",scope="..."` or
 * `Basic realm="..."`.  Missing parameters are NULL; the scheme is as sent. */
struct http_challenge {
        char *scheme;
        char *realm;
        char *service;
        char *scope;
};
int http_challenge_parse(const char *header, struct http_challenge *ret);
void http_challenge_clear(struct http_challenge *c);
/* "scheme://host:port" of an http(s) URL, lowercase, the port always given; NULL when the
 * URL is not http(s). */
char *http_url_origin(const char *url);
/* Percent-encodes everything but RFC 3986's unreserved characters. */
char *http_query_escape(const char *s);
char *http_base64(const char *s);

/* ---- references (ref.c) ----------------------------------------------------------------- */
/* [HOST[:PORT]/]REPO[:TAG][@DIGEST].  The first component is a host when it holds a '.' or a
 * ':' or is "localhost" and more components follow; without a host, docker.io, and a repo of
 * one component gets "library/".  Neither tag nor digest: tag "latest". */
struct image_ref {
        char *host;     /* "docker.io", "127.0.0.1:5000" */
        char *api_host; /* where the API answers: registry-1.docker.io for docker.io */
        char *repo;     /* "library/alpine" */
        char *tag;      /* NULL when pulled by digest only */
        char *digest;   /* NULL when not pulled by digest */
};
int image_ref_parse(const char *s, struct image_ref *ret, struct cx_error **err);
void image_ref_clear(struct image_ref *r);
/* The image's name in the store: HOST/REPO:TAG, or HOST/REPO@DIGEST without a tag. */
char *image_ref_name(const struct image_ref *r);
