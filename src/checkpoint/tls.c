/* TLS 1.3 with mutual certificate authentication for migration's control stream.
 *
 * OpenSSL (libssl.so.3, which pulls in libcrypto.so.3) is loaded with dlopen() on first use, as
 * the image code loads its libraries: every other capsa command starts without it.  Both ends
 * present a certificate and require one from the peer, signed by the CA of --tls-cacert; a peer
 * without one, or with one from another CA, fails the handshake with OpenSSL's reason. */
#include "checkpoint/migrate-internal.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <string.h>

#define TLS_FUNCS(X)                                                                               \
        X(TLS_client_method)                                                                       \
        X(TLS_server_method)                                                                       \
        X(SSL_CTX_new)                                                                             \
        X(SSL_CTX_free)                                                                            \
        X(SSL_CTX_ctrl)                                                                            \
        X(SSL_CTX_use_certificate_chain_file)                                                      \
        X(SSL_CTX_use_PrivateKey_file)                                                             \
        X(SSL_CTX_check_private_key)                                                               \
        X(SSL_CTX_load_verify_locations)                                                           \
        X(SSL_CTX_set_verify)                                                                      \
        X(SSL_new)                                                                                 \
        X(SSL_free)                                                                                \
        X(SSL_set_fd)                                                                              \
        X(SSL_connect)                                                                             \
        X(SSL_accept)                                                                              \
        X(SSL_read)                                                                                \
        X(SSL_write)                                                                               \
        X(SSL_shutdown)                                                                            \
        X(SSL_get_error)                                                                           \
        X(SSL_get_verify_result)                                                                   \
        X(SSL_get1_peer_certificate)                                                               \
        X(X509_free)                                                                               \
        X(X509_verify_cert_error_string)                                                           \
        X(ERR_get_error)                                                                           \
        X(ERR_error_string_n)                                                                      \
        X(ERR_clear_error)

#define TLS_PTR(f) __typeof__(f) *f;
static struct {
        TLS_FUNCS(TLS_PTR)
} S;
static bool loaded;

static int load(struct cx_error **err)
{
        if (loaded)
                return 0;
        void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return cx_error_msg(err, ENOENT,
                                    "cannot load libssl.so.3 (install the Debian package "
                                    "libssl3): %s",
                                    dlerror());
#define TLS_SYM(f)                                                                                 \
        if (!(*(void **)&S.f = dlsym(h, #f)))                                                      \
                return cx_error_msg(err, ENOSYS,                                                   \
                                    "libssl.so.3 has no `%s` (package libssl3 too "                \
                                    "old?)",                                                       \
                                    #f);
        TLS_FUNCS(TLS_SYM)
        loaded = true;
        return 0;
}

struct mig_tls {
        SSL_CTX *ctx;
        SSL *ssl;
        int fd;
        char last_error[256]; /* OpenSSL's reason for the last failed read or write */
};

/* Keeps OpenSSL's reason for a failed read or write (a TLS 1.3 server refuses the client's
 * certificate after the client's handshake returned: the client learns it on its first read,
 * as an alert such as "tlsv13 alert unknown ca"). */
static int io_error(struct mig_tls *t, int ret)
{
        int e = S.SSL_get_error(t->ssl, ret);
        unsigned long q = S.ERR_get_error();
        t->last_error[0] = '\0';
        if (q)
                S.ERR_error_string_n(q, t->last_error, sizeof(t->last_error));
        S.ERR_clear_error();
        return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPIPE;
}

const char *mig_tls_last_error(const struct mig_tls *t)
{
        return t->last_error[0] ? t->last_error : NULL;
}

/* "WHAT: OpenSSL's first queued error" (the queue is emptied). */
static int ssl_error(struct cx_error **err, int code, const char *what, const char *arg)
{
        unsigned long e = S.ERR_get_error();
        char buf[256] = "";
        if (e)
                S.ERR_error_string_n(e, buf, sizeof(buf));
        S.ERR_clear_error();
        return cx_error_msg(err, code, "%s%s%s%s%s%s", what, arg ? " `" : "", arg ? arg : "",
                            arg ? "`" : "", e ? ": " : "", buf);
}

void mig_tls_free(struct mig_tls *t)
{
        if (!t)
                return;
        if (t->ssl) {
                S.SSL_shutdown(t->ssl);
                S.SSL_free(t->ssl);
        }
        if (t->ctx)
                S.SSL_CTX_free(t->ctx);
        if (t->fd >= 0)
                close(t->fd);
        free(t);
}

static int make_ctx(const struct ckpt_tls *c, bool server, SSL_CTX **ret, struct cx_error **err)
{
        if (!c->cacert || !c->cert || !c->key)
                return cx_error_msg(err, EINVAL,
                                    "--tls-cacert, --tls-cert and --tls-key are all required");
        int r = load(err);
        if (r < 0)
                return r;
        SSL_CTX *ctx = S.SSL_CTX_new(server ? S.TLS_server_method() : S.TLS_client_method());
        if (!ctx)
                return ssl_error(err, ENOMEM, "SSL_CTX_new", NULL);
        *ret = ctx;
        S.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_3_VERSION, NULL);
        if (S.SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1)
                return ssl_error(err, EINVAL, "--tls-cert", c->cert);
        if (S.SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1 ||
            S.SSL_CTX_check_private_key(ctx) != 1)
                return ssl_error(err, EINVAL, "--tls-key (the key of --tls-cert)", c->key);
        if (S.SSL_CTX_load_verify_locations(ctx, c->cacert, NULL) != 1)
                return ssl_error(err, EINVAL, "--tls-cacert", c->cacert);
        S.SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        return 0;
}

static int handshake(struct mig_tls *t, const struct ckpt_tls *c, bool server, const char *peer,
                     struct cx_error **err)
{
        int r = make_ctx(c, server, &t->ctx, err);
        if (r < 0)
                return r;
        t->ssl = S.SSL_new(t->ctx);
        if (!t->ssl || S.SSL_set_fd(t->ssl, t->fd) != 1)
                return ssl_error(err, ENOMEM, "SSL_new", NULL);
        if ((server ? S.SSL_accept(t->ssl) : S.SSL_connect(t->ssl)) != 1) {
                long v = S.SSL_get_verify_result(t->ssl);
                if (v != X509_V_OK)
                        return cx_error_msg(err, EACCES,
                                            "TLS handshake with %s: its certificate is refused: "
                                            "%s",
                                            peer, S.X509_verify_cert_error_string(v));
                return ssl_error(err, EACCES, "TLS handshake with", peer);
        }
        X509 *x = S.SSL_get1_peer_certificate(t->ssl);
        if (!x)
                return cx_error_msg(err, EACCES, "TLS handshake with %s: no peer certificate",
                                    peer);
        S.X509_free(x);
        return 0;
}

int mig_tls_handshake(int fd, const struct ckpt_tls *c, bool server, const char *peer,
                      struct mig_tls **ret, struct cx_error **err)
{
        struct mig_tls *t = xcalloc(1, sizeof(*t));
        t->fd = fd;
        int r = handshake(t, c, server, peer, err);
        if (r < 0) {
                t->fd = -1; /* the caller's */
                mig_tls_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int mig_tls_write(struct mig_tls *t, const void *buf, size_t len)
{
        const char *p = buf;
        while (len > 0) {
                int n = S.SSL_write(t->ssl, p, len > (1 << 30) ? (1 << 30) : (int)len);
                if (n <= 0)
                        return io_error(t, n);
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int mig_tls_read(struct mig_tls *t, void *buf, size_t len)
{
        char *p = buf;
        while (len > 0) {
                int n = S.SSL_read(t->ssl, p, len > (1 << 30) ? (1 << 30) : (int)len);
                if (n <= 0)
                        return io_error(t, n);
                p += n;
                len -= (size_t)n;
        }
        return 0;
}
