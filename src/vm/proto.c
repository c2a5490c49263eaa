/* The KVM mode's wire: frames of {u16 type, u16 chan, u32 len} and len bytes, in host byte
 * order (both ends are this same capsa binary), over buffered connections. */
#include "vm/vm.h"

#include <errno.h>
#include <string.h>

struct hdr {
        uint16_t type;
        uint16_t chan;
        uint32_t len;
};

void vm_conn_init(struct vm_conn *c, int fd)
{
        *c = (struct vm_conn){.fd = fd};
}

void vm_conn_clear(struct vm_conn *c)
{
        if (c->fd >= 0)
                close(c->fd);
        free(c->in);
        free(c->out);
        *c = (struct vm_conn){.fd = -1};
}

static void grow(char **buf, size_t *cap, size_t need)
{
        if (need <= *cap)
                return;
        size_t n = *cap ? *cap : 4096;
        while (n < need)
                n *= 2;
        *buf = xrealloc(*buf, n);
        *cap = n;
}

void vm_conn_queue(struct vm_conn *c, uint16_t type, uint16_t chan, const void *data, size_t len)
{
        struct hdr h = {.type = type, .chan = chan, .len = (uint32_t)len};
        grow(&c->out, &c->out_cap, c->out_len + sizeof(h) + len);
        memcpy(c->out + c->out_len, &h, sizeof(h));
        if (len)
                memcpy(c->out + c->out_len + sizeof(h), data, len);
        c->out_len += sizeof(h) + len;
}

void vm_conn_queue_str(struct vm_conn *c, uint16_t type, uint16_t chan, const char *s)
{
        vm_conn_queue(c, type, chan, s, s ? strlen(s) : 0);
}

int vm_conn_flush(struct vm_conn *c)
{
        size_t off = 0;
        while (off < c->out_len) {
                ssize_t n = write(c->fd, c->out + off, c->out_len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0)
                        return -errno;
                off += (size_t)n;
        }
        memmove(c->out, c->out + off, c->out_len - off);
        c->out_len -= off;
        return 0;
}

int vm_conn_fill(struct vm_conn *c)
{
        grow(&c->in, &c->in_cap, c->in_len + 65536);
        ssize_t n;
        do
                n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? 1 : -errno;
        if (n == 0)
                c->eof = true;
        c->in_len += (size_t)n;
        return n > 0;
}

int vm_conn_next(struct vm_conn *c, struct vm_frame *ret)
{
        struct hdr h;
        if (c->in_len < sizeof(h))
                return 0;
        memcpy(&h, c->in, sizeof(h));
        if (h.type == 0 || h.type >= VM_FRAME_MAX || h.len > VM_FRAME_DATA_MAX)
                return -EPROTO;
        if (c->in_len < sizeof(h) + h.len)
                return 0;
        *ret = (struct vm_frame){.type = h.type, .chan = h.chan, .len = h.len};
        ret->data = xmalloc(h.len + 1);
        memcpy(ret->data, c->in + sizeof(h), h.len);
        ret->data[h.len] = 0;
        c->in_len -= sizeof(h) + h.len;
        memmove(c->in, c->in + sizeof(h) + h.len, c->in_len);
        return 1;
}

int vm_conn_recv(struct vm_conn *c, struct vm_frame *ret)
{
        for (;;) {
                int r = vm_conn_next(c, ret);
                if (r != 0)
                        return r < 0 ? r : 0;
                if (c->eof)
                        return -EPIPE;
                if ((r = vm_conn_fill(c)) < 0)
                        return r;
        }
}

void vm_frame_clear(struct vm_frame *f)
{
        free(f->data);
        f->data = NULL;
}

int vm_request(struct vm_conn *c, uint16_t type, uint16_t chan, const char *payload, char **ret,
               struct cx_error **err)
{
        vm_conn_queue_str(c, type, chan, payload);
        int r = vm_conn_flush(c);
        if (r < 0)
                return cx_error_set(err, -r, "send to the container's VM monitor");
        struct vm_frame f;
        do {
                if ((r = vm_conn_recv(c, &f)) < 0)
                        return cx_error_set(err, -r, "the container's VM monitor did not answer");
                if (f.type != VM_OK && f.type != VM_ERR)
                        vm_frame_clear(&f); /* output of a session that is not ours */
        } while (!f.data);
        if (f.type == VM_ERR) {
                r = cx_error_msg(err, EIO, "%s", f.data);
                vm_frame_clear(&f);
                return r;
        }
        if (ret)
                *ret = TAKE_PTR(f.data);
        vm_frame_clear(&f);
        return 0;
}
