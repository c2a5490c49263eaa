/* nl: the rtnetlink socket (libmnl) — opened in a chosen network namespace, one request at a
 * time, replies matched by sequence number and port id, and the kernel's errors (with the
 * extended ack message) turned into capsa errors that name what the request was about. */
#include "net/nl-internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <string.h>
#include <time.h>

/* Large enough for any single rtnetlink reply (a link with all its attributes is a few KiB);
 * a dump comes in several such reads. */
#define NL_RECV_SIZE 32768

static int open_socket(struct nl *n, struct cx_error **err)
{
        int one = 1;

        n->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!n->sock)
                return cx_error_set(err, errno, "open rtnetlink socket");
        /* Both are best effort: without them errors carry no message, and acks the request. */
        (void)mnl_socket_setsockopt(n->sock, NETLINK_EXT_ACK, &one, sizeof(one));
        (void)mnl_socket_setsockopt(n->sock, NETLINK_CAP_ACK, &one, sizeof(one));
        if (mnl_socket_bind(n->sock, 0, MNL_SOCKET_AUTOPID) < 0)
                return cx_error_set(err, errno, "bind rtnetlink socket");
        n->portid = mnl_socket_get_portid(n->sock);
        return 0;
}

int nl_open(int netns_fd, struct nl **ret, struct cx_error **err)
{
        struct nl *n = xcalloc(1, sizeof(*n));
        int r;

        n->seq = (unsigned)time(NULL);
        if (netns_fd < 0) {
                r = open_socket(n, err);
        } else {
                _cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
                if (self < 0) {
                        r = cx_error_set(err, errno, "open `/proc/self/ns/net`");
                        goto fail;
                }
                if (sys_setns(netns_fd, CLONE_NEWNET) < 0) {
                        r = cx_error_set(err, errno, "join network namespace (fd %d)", netns_fd);
                        goto fail;
                }
                r = open_socket(n, err);
                if (sys_setns(self, CLONE_NEWNET) < 0) {
                        /* The thread now lives in the other namespace: nothing it does next
                         * may be trusted to act where the caller meant. */
                        int e = errno;
                        cx_error_free(err ? TAKE_PTR(*err) : NULL);
                        r = cx_error_set(err, e, "return to the caller's network namespace");
                }
        }
        if (r < 0)
                goto fail;
        *ret = n;
        return 0;
fail:
        nl_close(n);
        return r;
}

void nl_close(struct nl *n)
{
        if (!n)
                return;
        if (n->sock)
                mnl_socket_close(n->sock);
        free(n);
}

void nl_closep(struct nl **n)
{
        nl_close(*n);
        *n = NULL;
}

static int ext_attr_cb(const struct nlattr *a, void *data)
{
        const char **msg = data;

        if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
                *msg = mnl_attr_get_str(a);
        return MNL_CB_OK;
}

/* The kernel's errno of an NLMSG_ERROR (0 for an ack) and its extended ack message. */
static int parse_error(const struct nlmsghdr *nlh, char **ret_ext)
{
        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
        const char *msg = NULL;

        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
                return -EBADMSG;
        if (ret_ext && (nlh->nlmsg_flags & NLM_F_ACK_TLVS)) {
                /* The TLVs follow the echoed request: its header only when capped. */
                unsigned off = sizeof(*e);
                if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
                        off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
                if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
                        mnl_attr_parse(nlh, off, ext_attr_cb, &msg);
                if (msg && *msg)
                        *ret_ext = xstrdup(msg);
        }
        /* A positive error is malformed; treat it as one. */
        return e->error > 0 ? -EBADMSG : e->error;
}

int nl_talk(struct nl *n, struct nlmsghdr *nlh, nl_msg_cb cb, void *data, char **ret_ext)
{
        bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
        unsigned seq = ++n->seq;
        int r = 0;

        if (ret_ext)
                *ret_ext = NULL;
        nlh->nlmsg_seq = seq;
        if (!dump)
                nlh->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(n->sock, nlh, nlh->nlmsg_len) < 0)
                return -errno;

        _cleanup_free_ char *buf = xmalloc(NL_RECV_SIZE);
        for (;;) {
                ssize_t len = mnl_socket_recvfrom(n->sock, buf, NL_RECV_SIZE);
                if (len < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                int rem = (int)len;
                for (const struct nlmsghdr *m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, rem);
                     m = mnl_nlmsg_next(m, &rem)) {
                        /* Stale replies (of a request an earlier error cut short) are skipped. */
                        if (m->nlmsg_seq != seq || (m->nlmsg_pid && m->nlmsg_pid != n->portid))
                                continue;
                        if (m->nlmsg_type == NLMSG_ERROR) {
                                int e = parse_error(m, ret_ext);
                                return r < 0 ? r : e;
                        }
                        if (m->nlmsg_type == NLMSG_DONE) {
                                if (dump) {
                                        int e = 0;
                                        if (mnl_nlmsg_get_payload_len(m) >= sizeof(int))
                                                memcpy(&e, mnl_nlmsg_get_payload(m), sizeof(e));
                                        return r < 0 ? r : (e > 0 ? -EBADMSG : e);
                                }
                                continue;
                        }
                        if (m->nlmsg_type == NLMSG_NOOP || m->nlmsg_type == NLMSG_OVERRUN)
                                continue;
                        /* After a callback fails, the rest is read and dropped to keep the
                         * socket in step; the callback's error is what is returned. */
                        if (cb && r >= 0) {
                                int q = cb(m, data);
                                if (q < 0)
                                        r = q;
                        }
                }
        }
}

int nl_error(struct cx_error **err, int code, const char *ext, const char *what)
{
        if (code < 0)
                code = -code;
        if (ext)
                return cx_error_msg(err, code, "%s: %s (%s)", what, strerror(code), ext);
        return cx_error_set(err, code, "%s", what);
}

int nl_request(struct nl *n, struct nlmsghdr *nlh, struct cx_error **err, const char *fmt, ...)
{
        _cleanup_free_ char *ext = NULL;
        int r = nl_talk(n, nlh, NULL, NULL, &ext);
        if (r >= 0)
                return r;

        _cleanup_free_ char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        return nl_error(err, r, ext, what ? what : "netlink request");
}

int nl_check_name(const char *name, struct cx_error **err)
{
        if (!name || !*name || strlen(name) >= IFNAMSIZ || strchr(name, '/'))
                return cx_error_msg(err, EINVAL, "invalid link name `%s`", name ? name : "");
        return 0;
}
