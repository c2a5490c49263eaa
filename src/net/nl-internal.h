/* nl-internal: what nl.c shares with link.c and addr.c (not part of net.h). */
#pragma once

#include "net/net.h"

#include <libmnl/libmnl.h>

/* Requests are small: one link with its nested info, an address, a route.  Request buffers
 * start zeroed: libmnl sends attribute padding as it finds it. */
#define NL_REQ_SIZE 4096

struct nl {
        struct mnl_socket *sock;
        unsigned portid;
        unsigned seq;
};

/* Called for every reply message of a request (not the ack, not NLMSG_DONE). */
typedef int (*nl_msg_cb)(const struct nlmsghdr *nlh, void *data);

/* Sends nlh (a fresh sequence number is set, and NLM_F_ACK unless it is a dump) and reads the
 * replies until the ack (or NLMSG_DONE for a dump).  Returns 0, a negative errno from cb, or
 * the kernel's -errno; then *ret_ext (when given) holds the extended ack message (or NULL),
 * which the caller frees.  Sets no error text: callers decide what a kernel errno means. */
int nl_talk(struct nl *n, struct nlmsghdr *nlh, nl_msg_cb cb, void *data, char **ret_ext);

/* nl_talk, and a failure becomes "WHAT: strerror (extended ack message)" in err. */
int nl_request(struct nl *n, struct nlmsghdr *nlh, struct cx_error **err, const char *fmt, ...)
    _printf_(4, 5);

/* err from a kernel errno and ext ack message: "WHAT: strerror (message)". */
int nl_error(struct cx_error **err, int code, const char *ext, const char *what);

/* A link name fits IFNAMSIZ and is not empty; else EINVAL naming it. */
int nl_check_name(const char *name, struct cx_error **err);

/* The ifindex of a link, or -ENODEV (err untouched) when it does not exist. */
int nl_ifindex(struct nl *n, const char *name, struct cx_error **err);
