/* The parent<->init sync channel. */
#include "container/internal.h"

#include <string.h>
#include <sys/socket.h>

int sync_send(int fd, enum sync_type type, int code, int pid, const char *text)
{
        struct sync_msg m = {.type = type, .code = code, .pid = pid};
        size_t len = offsetof(struct sync_msg, text);
        if (text) {
                size_t n = strnlen(text, sizeof(m.text) - 1);
                memcpy(m.text, text, n);
                len += n + 1;
        }
        ssize_t r;
        do
                r = send(fd, &m, len, MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        return r < 0 ? -errno : 0;
}

int sync_send_error(int fd, const struct cx_error *e)
{
        return sync_send(fd, SYNC_ERROR, e ? e->code : EIO, 0, e ? e->msg : "unknown error");
}

/* NUL-terminates the text of a message of n bytes. */
static void terminate(struct sync_msg *m, ssize_t n)
{
        if (n <= 0)
                return;
        if ((size_t)n < sizeof(*m))
                ((char *)m)[n] = '\0';
        else
                m->text[sizeof(m->text) - 1] = '\0';
}

ssize_t sync_recv_fd(int fd, struct sync_msg *m, int *ret_fd)
{
        memset(m, 0, offsetof(struct sync_msg, text) + 1);
        int n = fd_recv(fd, ret_fd, m, sizeof(*m));
        terminate(m, n);
        return n;
}

/* One message, its text NUL-terminated; the byte count (0 at EOF), or -errno. */
static ssize_t sync_recv(int fd, struct sync_msg *m)
{
        ssize_t n;
        memset(m, 0, offsetof(struct sync_msg, text) + 1);
        do
                n = recv(fd, m, sizeof(*m), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        terminate(m, n);
        return n;
}

int sync_expect(int fd, enum sync_type type, struct sync_msg *ret, struct cx_error **err)
{
        struct sync_msg m;
        ssize_t r = sync_recv(fd, &m);
        if (r < 0)
                return cx_error_set(err, (int)-r, "read from container init");
        if (r == 0)
                return cx_error_msg(err, ECHILD, "container init exited unexpectedly");
        if (r < (ssize_t)offsetof(struct sync_msg, text))
                return cx_error_msg(err, EPROTO, "short message from container init");
        if (m.type == SYNC_ERROR)
                return cx_error_msg(err, m.code > 0 ? m.code : EIO, "%s", m.text);
        if (m.type != (uint32_t)type)
                return cx_error_msg(err, EPROTO,
                                    "unexpected message %u from container init (expected %u)",
                                    m.type, type);
        if (ret)
                *ret = m;
        return 0;
}

int sync_wait_exec(int fd, struct cx_error **err)
{
        struct sync_msg m;
        if (sync_recv(fd, &m) <= 0)
                return 0; /* closed on execve (or the process is gone: its exit status tells) */
        return cx_error_msg(err, m.code > 0 ? m.code : EIO, "%s", m.text);
}
