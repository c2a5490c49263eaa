/* A minimal D-Bus client for the systemd driver: just enough to call methods of systemd's
 * manager and read whether they failed.  capsa links statically and Debian ships no static
 * libsystemd, so this speaks the wire protocol itself.
 *
 * Transport: a unix socket, either systemd's private one (/run/systemd/private, root only,
 * peer-to-peer: no bus daemon, no Hello) or the system bus (/run/dbus/system_bus_socket, then
 * Hello).  Authentication: SASL EXTERNAL with our uid in hex.  Messages: little endian,
 * protocol version 1; the body is marshalled by the caller with the cg_dbus_put_* helpers
 * (alignment is counted from the body's start, which the header keeps 8-aligned).  Replies:
 * METHOD_RETURN or ERROR matched by REPLY_SERIAL; signals and other traffic are skipped. */
#include "cgroups/dbus.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DBUS_PRIVATE    "/run/systemd/private"
#define DBUS_SYSTEM     "/run/dbus/system_bus_socket"
#define DBUS_TIMEOUT_MS 10000

enum { MSG_CALL = 1, MSG_RETURN = 2, MSG_ERROR = 3 };
enum {
        F_PATH = 1,
        F_INTERFACE = 2,
        F_MEMBER = 3,
        F_ERROR_NAME = 4,
        F_REPLY_SERIAL = 5,
        F_DESTINATION = 6,
        F_SIGNATURE = 8
};

struct cg_dbus {
        int fd;
        uint32_t serial;
        const char *address;
};

/* ---- marshalling ------------------------------------------------------------------------- */

static void put(struct cg_dbus_buf *b, const void *p, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 64;
                b->p = xrealloc(b->p, b->cap);
        }
        memcpy(b->p + b->len, p, n);
        b->len += n;
}

void cg_dbus_align(struct cg_dbus_buf *b, size_t a)
{
        static const uint8_t zero[8];
        put(b, zero, (a - b->len % a) % a);
}

void cg_dbus_put_u8(struct cg_dbus_buf *b, uint8_t v)
{
        put(b, &v, 1);
}

void cg_dbus_put_u32(struct cg_dbus_buf *b, uint32_t v)
{
        cg_dbus_align(b, 4);
        put(b, &v, 4); /* x86_64 and the message are little endian */
}

void cg_dbus_put_u64(struct cg_dbus_buf *b, uint64_t v)
{
        cg_dbus_align(b, 8);
        put(b, &v, 8);
}

void cg_dbus_put_str(struct cg_dbus_buf *b, const char *s)
{
        cg_dbus_put_u32(b, (uint32_t)strlen(s));
        put(b, s, strlen(s) + 1);
}

void cg_dbus_put_sig(struct cg_dbus_buf *b, const char *s)
{
        cg_dbus_put_u8(b, (uint8_t)strlen(s));
        put(b, s, strlen(s) + 1);
}

size_t cg_dbus_array_begin(struct cg_dbus_buf *b, size_t elem_align)
{
        cg_dbus_put_u32(b, 0);
        size_t at = b->len - 4;
        cg_dbus_align(b, elem_align);
        return at;
}

void cg_dbus_array_end(struct cg_dbus_buf *b, size_t at, size_t elem_align)
{
        /* the length counts from after the padding that follows it */
        size_t start = at + 4;
        start += (elem_align - start % elem_align) % elem_align;
        uint32_t n = (uint32_t)(b->len - start);
        memcpy(b->p + at, &n, 4);
}

void cg_dbus_buf_clear(struct cg_dbus_buf *b)
{
        free(b->p);
        *b = (struct cg_dbus_buf){0};
}

/* ---- transport --------------------------------------------------------------------------- */

static int send_all(int fd, const void *p, size_t n)
{
        for (const char *s = p; n > 0;) {
                ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                s += w;
                n -= (size_t)w;
        }
        return 0;
}

static int recv_all(int fd, void *p, size_t n)
{
        for (char *s = p; n > 0;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                int q = poll(&pfd, 1, DBUS_TIMEOUT_MS);
                if (q < 0 && errno == EINTR)
                        continue;
                if (q < 0)
                        return -errno;
                if (q == 0)
                        return -ETIMEDOUT;
                ssize_t r = recv(fd, s, n, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ECONNRESET;
                s += r;
                n -= (size_t)r;
        }
        return 0;
}

/* One "\r\n"-terminated line of the SASL exchange. */
static int recv_line(int fd, char *buf, size_t size)
{
        size_t n = 0;
        while (n + 1 < size) {
                int q = recv_all(fd, buf + n, 1);
                if (q < 0)
                        return q;
                if (buf[n++] == '\n') {
                        buf[n] = '\0';
                        return 0;
                }
        }
        return -EPROTO;
}

static int sasl_external(struct cg_dbus *b, struct cx_error **err)
{
        char uid[16], hex[40] = "", line[256];
        snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
        for (const char *c = uid; *c; c++)
                snprintf(hex + strlen(hex), sizeof(hex) - strlen(hex), "%02x", (unsigned char)*c);
        _cleanup_free_ char *auth = xasprintf("AUTH EXTERNAL %s\r\n", hex);
        int q = send_all(b->fd, "", 1); /* the credentials byte */
        if (q >= 0)
                q = send_all(b->fd, auth, strlen(auth));
        if (q >= 0)
                q = recv_line(b->fd, line, sizeof(line));
        if (q < 0)
                return cx_error_set(err, -q, "D-Bus authentication on %s", b->address);
        if (strncmp(line, "OK ", 3) != 0)
                return cx_error_msg(err, EACCES, "D-Bus authentication on %s refused: %.*s",
                                    b->address, (int)strcspn(line, "\r\n"), line);
        q = send_all(b->fd, "BEGIN\r\n", 7);
        return q < 0 ? cx_error_set(err, -q, "D-Bus authentication on %s", b->address) : 0;
}

static int connect_unix(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;
                close(fd);
                return -e;
        }
        return fd;
}

int cg_dbus_open(struct cg_dbus **ret, struct cx_error **err)
{
        struct cg_dbus *b = xcalloc(1, sizeof(*b));
        bool bus = false;
        b->address = DBUS_PRIVATE;
        b->fd = geteuid() == 0 ? connect_unix(DBUS_PRIVATE) : -EACCES;
        if (b->fd < 0) {
                bus = true;
                b->address = DBUS_SYSTEM;
                b->fd = connect_unix(DBUS_SYSTEM);
        }
        if (b->fd < 0) {
                int e = -b->fd;
                free(b);
                return cx_error_set(err, e, "connect to systemd (%s, %s)", DBUS_PRIVATE,
                                    DBUS_SYSTEM);
        }
        int q = sasl_external(b, err);
        if (q >= 0 && bus) {
                struct cg_dbus_buf empty = {0};
                q = cg_dbus_call(b, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "Hello", "", &empty, err);
        }
        if (q < 0) {
                cg_dbus_close(b);
                return q;
        }
        *ret = b;
        return 0;
}

void cg_dbus_close(struct cg_dbus *b)
{
        if (!b)
                return;
        closep(&b->fd);
        free(b);
}

void cg_dbus_closep(struct cg_dbus **b)
{
        cg_dbus_close(*b);
        *b = NULL;
}

/* ---- messages ---------------------------------------------------------------------------- */

static void field_str(struct cg_dbus_buf *h, uint8_t code, const char *sig, const char *v)
{
        cg_dbus_align(h, 8);
        cg_dbus_put_u8(h, code);
        cg_dbus_put_sig(h, sig);
        if (sig[0] == 'g')
                cg_dbus_put_sig(h, v);
        else
                cg_dbus_put_str(h, v);
}

/* A reader over a received message (offsets from the message start: 8-aligned). */
struct reader {
        const uint8_t *p;
        size_t len, pos;
};

static bool rd_align(struct reader *r, size_t a)
{
        r->pos += (a - r->pos % a) % a;
        return r->pos <= r->len;
}

static bool rd_u32(struct reader *r, uint32_t *v)
{
        if (!rd_align(r, 4) || r->pos + 4 > r->len)
                return false;
        memcpy(v, r->p + r->pos, 4);
        r->pos += 4;
        return true;
}

/* A string (s, o) or, with small, a signature (g); returns a pointer into the message. */
static const char *rd_str(struct reader *r, bool small)
{
        uint32_t n;
        if (small) {
                if (r->pos >= r->len)
                        return NULL;
                n = r->p[r->pos++];
        } else if (!rd_u32(r, &n)) {
                return NULL;
        }
        if (r->pos + n + 1 > r->len || r->p[r->pos + n] != '\0')
                return NULL;
        const char *s = (const char *)r->p + r->pos;
        r->pos += n + 1;
        return s;
}

struct reply {
        uint8_t type;
        uint32_t reply_serial;
        const char *error_name, *signature;
};

static int parse_header(struct reader *r, uint32_t fields_len, struct reply *ret)
{
        size_t end = 16 + fields_len;
        r->pos = 16;
        while (r->pos < end) {
                if (!rd_align(r, 8) || r->pos >= end)
                        break;
                uint8_t code = r->p[r->pos++];
                const char *sig = rd_str(r, true);
                if (!sig || strlen(sig) != 1)
                        return -EPROTO;
                if (sig[0] == 'u') {
                        uint32_t v;
                        if (!rd_u32(r, &v))
                                return -EPROTO;
                        if (code == F_REPLY_SERIAL)
                                ret->reply_serial = v;
                } else if (sig[0] == 's' || sig[0] == 'o' || sig[0] == 'g') {
                        const char *v = rd_str(r, sig[0] == 'g');
                        if (!v)
                                return -EPROTO;
                        if (code == F_ERROR_NAME)
                                ret->error_name = v;
                        else if (code == F_SIGNATURE)
                                ret->signature = v;
                } else {
                        return -EPROTO; /* no other type appears in a header field */
                }
        }
        return 0;
}

static int send_call(struct cg_dbus *b, const char *dest, const char *path, const char *iface,
                     const char *member, const char *sig, const struct cg_dbus_buf *body)
{
        struct cg_dbus_buf h = {0};
        uint32_t serial = ++b->serial;
        uint8_t fixed[4] = {'l', MSG_CALL, 0, 1};
        put(&h, fixed, 4);
        cg_dbus_put_u32(&h, (uint32_t)body->len);
        cg_dbus_put_u32(&h, serial);
        size_t at = cg_dbus_array_begin(&h, 8);
        field_str(&h, F_PATH, "o", path);
        field_str(&h, F_INTERFACE, "s", iface);
        field_str(&h, F_MEMBER, "s", member);
        if (dest)
                field_str(&h, F_DESTINATION, "s", dest);
        if (*sig)
                field_str(&h, F_SIGNATURE, "g", sig);
        cg_dbus_array_end(&h, at, 8);
        cg_dbus_align(&h, 8);
        if (body->len > 0)
                put(&h, body->p, body->len);
        int q = send_all(b->fd, h.p, h.len);
        cg_dbus_buf_clear(&h);
        return q < 0 ? q : (int)serial;
}

/* Receives messages until the reply to serial; fills *msg (the caller frees) and *rep. */
static int recv_reply(struct cg_dbus *b, uint32_t serial, uint8_t **msg, struct reply *rep,
                      size_t *body_at)
{
        for (;;) {
                uint8_t fixed[16];
                int q = recv_all(b->fd, fixed, sizeof(fixed));
                if (q < 0)
                        return q;
                if (fixed[0] != 'l')
                        return -EPROTO; /* systemd answers in our byte order */
                uint32_t body_len, fields_len;
                memcpy(&body_len, fixed + 4, 4);
                memcpy(&fields_len, fixed + 12, 4);
                if (body_len > (1u << 26) || fields_len > (1u << 26))
                        return -EPROTO;
                size_t hdr = 16 + fields_len;
                hdr += (8 - hdr % 8) % 8;
                size_t total = hdr + body_len;
                uint8_t *p = xmalloc(total + 1);
                memcpy(p, fixed, sizeof(fixed));
                if ((q = recv_all(b->fd, p + 16, total - 16)) < 0) {
                        free(p);
                        return q;
                }
                struct reader r = {.p = p, .len = total};
                *rep = (struct reply){.type = fixed[1]};
                if ((q = parse_header(&r, fields_len, rep)) < 0) {
                        free(p);
                        return q;
                }
                if ((rep->type == MSG_RETURN || rep->type == MSG_ERROR) &&
                    rep->reply_serial == serial) {
                        *msg = p;
                        *body_at = hdr;
                        return 0;
                }
                free(p); /* a signal (NameAcquired) or someone else's traffic */
        }
}

int cg_dbus_call(struct cg_dbus *b, const char *dest, const char *path, const char *iface,
                 const char *member, const char *sig, const struct cg_dbus_buf *body,
                 struct cx_error **err)
{
        log_debug("D-Bus: %s.%s on %s", iface, member, b->address);
        int q = send_call(b, dest, path, iface, member, sig, body);
        if (q < 0)
                return cx_error_set(err, -q, "D-Bus call %s.%s on %s", iface, member, b->address);
        _cleanup_free_ uint8_t *msg = NULL;
        struct reply rep;
        size_t body_at;
        q = recv_reply(b, (uint32_t)q, &msg, &rep, &body_at);
        if (q < 0)
                return cx_error_set(err, -q, "D-Bus call %s.%s on %s: reading the reply", iface,
                                    member, b->address);
        if (rep.type == MSG_RETURN)
                return 0;
        const char *text = NULL;
        uint32_t body_len;
        memcpy(&body_len, msg + 4, 4);
        if (rep.signature && rep.signature[0] == 's') {
                struct reader r = {.p = msg, .len = body_at + body_len, .pos = body_at};
                text = rd_str(&r, false);
        }
        const char *name = rep.error_name ? rep.error_name : "(unnamed error)";
        int code = EIO;
        if (strstr(name, "UnitExists") || strstr(name, "FileExists"))
                code = EEXIST;
        else if (strstr(name, "NoSuchUnit"))
                code = ENOENT;
        else if (strstr(name, "AccessDenied"))
                code = EACCES;
        else if (strstr(name, "InvalidArgs"))
                code = EINVAL;
        return cx_error_msg(err, code, "%s: %s%s%s", member, name, text ? ": " : "",
                            text ? text : "");
}
