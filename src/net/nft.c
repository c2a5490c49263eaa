/* nft: the tables `inet capsa` and `bridge capsa` over nfnetlink (libnftnl builds the messages,
 * libmnl carries them).  Every change is one batch (all or nothing): the tables, chains and sets
 * it needs (NLM_F_CREATE without NLM_F_EXCL keeps existing ones), the removal of the rules it
 * replaces (found by their tag, the rule's comment, in a dump of the table), and the new rules.
 * The rules themselves are in nft-rules.c. */
#include "net/net.h"
#include "net/nft-internal.h"

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_bridge.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define TAG_MAX        128 /* nft's own limit for a comment */
#define MSG_MAX        16384
#define RECV_BUF       (64 * 1024)
#define TYPE_IFNAME    41 /* nft's datatype for a set of interface names: `type ifname` */
#define BYTEORDER_HOST 1  /* nft's BYTEORDER_HOST_ENDIAN */

/* ---- the socket ---------------------------------------------------------------------------- */
struct nft {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
};

static void nft_close(struct nft *n)
{
        if (!n)
                return;
        if (n->nl)
                mnl_socket_close(n->nl);
        free(n);
}

static void nft_closep(struct nft **n)
{
        nft_close(*n);
}

static int nft_open(struct nft **ret, struct cx_error **err)
{
        _cleanup_(nft_closep) struct nft *n = xcalloc(1, sizeof(*n));
        n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!n->nl)
                return cx_error_set(err, errno, "nftables: open a netfilter netlink socket");
        if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return cx_error_set(err, errno, "nftables: bind the netfilter netlink socket");
        n->portid = mnl_socket_get_portid(n->nl);
        n->seq = (uint32_t)time(NULL);
        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- dumps: the rules of one table with their handles and tags ---------------------------- */
struct dumped {
        uint64_t handle;
        char *chain;
        char *tag; /* NULL: a rule without a comment (not capsa's) */
};
struct dump {
        struct dumped *v;
        size_t n;
        bool table; /* the table exists */
};

static void dump_clear(struct dump *d)
{
        for (size_t i = 0; i < d->n; i++) {
                free(d->v[i].chain);
                free(d->v[i].tag);
        }
        free(d->v);
        *d = (struct dump){0};
}

static char *rule_tag(struct nftnl_rule *r)
{
        uint32_t len = 0;
        const char *data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
        const struct nftnl_udata *attr;
        if (!data)
                return NULL;
        nftnl_udata_for_each_data(data, len, attr)
        {
                uint8_t l = nftnl_udata_len(attr);
                const char *s = nftnl_udata_get(attr);
                if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && l > 0 && s[l - 1] == '\0')
                        return xstrdup(s);
        }
        return NULL;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
        struct dump *d = data;
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                abort();
        if (nftnl_rule_nlmsg_parse(nlh, r) < 0) {
                nftnl_rule_free(r);
                return MNL_CB_ERROR;
        }
        const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
        d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
        d->v[d->n++] = (struct dumped){
            .handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE),
            .chain = xstrdup(chain ? chain : ""),
            .tag = rule_tag(r),
        };
        nftnl_rule_free(r);
        return MNL_CB_OK;
}

static const char *family_name(int family)
{
        return family == NFPROTO_BRIDGE ? "bridge" : "inet";
}

/* Sends a request and runs cb on every answer until the dump's end or the ack */
static int request(struct nft *n, struct nlmsghdr *nlh, char *buf, mnl_cb_t cb, void *data)
{
        uint32_t seq = nlh->nlmsg_seq;
        if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t len = mnl_socket_recvfrom(n->nl, buf, RECV_BUF);
                if (len < 0)
                        return -errno;
                int rc = mnl_cb_run(buf, len, seq, n->portid, cb, data);
                if (rc < 0)
                        return errno > 0 ? -errno : -EPROTO;
                if (rc == MNL_CB_STOP)
                        return 0;
        }
}

/* A missing table is an empty dump (ret->table false), not an error */
static int dump_rules(struct nft *n, int family, struct dump *ret, struct cx_error **err)
{
        _cleanup_free_ char *buf = xcalloc(1, RECV_BUF); /* zeroed: attributes' padding */
        struct nlmsghdr *nlh =
            nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_ACK, ++n->seq);
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                abort();
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
        nftnl_table_nlmsg_build_payload(nlh, t);
        nftnl_table_free(t);
        int rc = request(n, nlh, buf, NULL, NULL);
        if (rc == -ENOENT) {
                *ret = (struct dump){0};
                return 0;
        }
        if (rc < 0)
                return cx_error_set(err, -rc, "nftables: look up the table %s " NFT_TABLE,
                                    family_name(family));

        uint32_t seq = ++n->seq;
        nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, seq);
        struct nftnl_rule *r = nftnl_rule_alloc();
        if (!r)
                abort();
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        nftnl_rule_free(r);
        struct dump d = {.table = true};
        rc = request(n, nlh, buf, dump_cb, &d);
        if (rc < 0) {
                dump_clear(&d);
                return cx_error_set(err, -rc, "nftables: list the rules of table %s " NFT_TABLE,
                                    family_name(family));
        }
        *ret = d;
        return 0;
}

/* ---- batches ------------------------------------------------------------------------------- */
struct nft_batch {
        char *buf;
        size_t len, cap;
        uint32_t seq0, seq;
        char **what; /* per message, by seq - seq0 (NULL for the batch's begin and end) */
        uint32_t set_id;
};

static void batch_free(struct nft_batch *b)
{
        for (uint32_t i = 0; i < b->seq - b->seq0; i++)
                free(b->what[i]);
        free(b->what);
        free(b->buf);
}

static char *batch_reserve(struct nft_batch *b, char *what)
{
        if (b->cap - b->len < MSG_MAX) {
                size_t cap = b->cap * 2 + MSG_MAX;
                b->buf = xrealloc(b->buf, cap);
                memset(b->buf + b->cap, 0, cap - b->cap); /* attributes' padding */
                b->cap = cap;
        }
        b->what = xrealloc(b->what, (b->seq - b->seq0 + 1) * sizeof(*b->what));
        b->what[b->seq - b->seq0] = what;
        return b->buf + b->len;
}

static void batch_done(struct nft_batch *b, struct nlmsghdr *nlh)
{
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
        b->seq++;
}

static void batch_begin(struct nft_batch *b, struct nft *n)
{
        *b = (struct nft_batch){.seq0 = n->seq + 1, .seq = n->seq + 1};
        batch_done(b, nftnl_batch_begin(batch_reserve(b, NULL), b->seq));
}

static struct nlmsghdr *batch_hdr(struct nft_batch *b, uint16_t type, int family, uint16_t flags,
                                  char *what)
{
        return nftnl_nlmsg_build_hdr(batch_reserve(b, what), type, family, flags, b->seq);
}

void nft_batch_rule(struct nft_batch *b, int family, struct nftnl_rule *r, char *what)
{
        struct nlmsghdr *nlh =
            batch_hdr(b, NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND, what);
        nftnl_rule_nlmsg_build_payload(nlh, r);
        nftnl_rule_free(r);
        batch_done(b, nlh);
}

struct nftnl_rule *nft_rule_new(int family, const char *chain, const char *tag)
{
        struct nftnl_rule *r = nftnl_rule_alloc();
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(TAG_MAX + 8);
        if (!r || !u)
                abort();
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
        if (!nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, tag))
                abort(); /* tags are checked against TAG_MAX first */
        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
                            nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
        return r;
}

static void batch_del_tagged(struct nft_batch *b, int family, const struct dump *d, const char *tag,
                             const char *what)
{
        for (size_t i = 0; i < d->n; i++) {
                if (!d->v[i].tag || strcmp(d->v[i].tag, tag) != 0)
                        continue;
                struct nlmsghdr *nlh = batch_hdr(b, NFT_MSG_DELRULE, family, 0,
                                                 xasprintf("%s (rule %" PRIu64 " of chain %s)",
                                                           what, d->v[i].handle, d->v[i].chain));
                struct nftnl_rule *r = nftnl_rule_alloc();
                if (!r)
                        abort();
                nftnl_rule_set_str(r, NFTNL_RULE_TABLE, NFT_TABLE);
                nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, d->v[i].chain);
                nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, d->v[i].handle);
                nftnl_rule_nlmsg_build_payload(nlh, r);
                nftnl_rule_free(r);
                batch_done(b, nlh);
        }
}

static size_t dump_count(const struct dump *d, const char *tag)
{
        size_t k = 0;
        for (size_t i = 0; i < d->n; i++)
                k += d->v[i].tag && strcmp(d->v[i].tag, tag) == 0;
        return k;
}

static void batch_table(struct nft_batch *b, int family)
{
        struct nlmsghdr *nlh =
            batch_hdr(b, NFT_MSG_NEWTABLE, family, NLM_F_CREATE,
                      xasprintf("create the table %s " NFT_TABLE, family_name(family)));
        struct nftnl_table *t = nftnl_table_alloc();
        if (!t)
                abort();
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE);
        nftnl_table_nlmsg_build_payload(nlh, t);
        nftnl_table_free(t);
        batch_done(b, nlh);
}

/* hook -1: a regular chain */
static void batch_chain(struct nft_batch *b, int family, const char *name, const char *type,
                        int hook, int prio)
{
        struct nlmsghdr *nlh = batch_hdr(
            b, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE,
            xasprintf("create the chain %s of table %s " NFT_TABLE, name, family_name(family)));
        struct nftnl_chain *c = nftnl_chain_alloc();
        if (!c)
                abort();
        nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, NFT_TABLE);
        nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
        if (hook >= 0) {
                nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
                nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
                nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type);
                nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        }
        nftnl_chain_nlmsg_build_payload(nlh, c);
        nftnl_chain_free(c);
        batch_done(b, nlh);
}

static void batch_set(struct nft_batch *b, const char *name)
{
        struct nlmsghdr *nlh =
            batch_hdr(b, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE,
                      xasprintf("create the set %s of table inet " NFT_TABLE, name));
        struct nftnl_set *s = nftnl_set_alloc();
        if (!s)
                abort();
        nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_ID, ++b->set_id);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, TYPE_IFNAME);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, IFNAMSIZ);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
        /* what nft(8) records of the key, without which it lists names byte-swapped */
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(64);
        if (!u || !nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, BYTEORDER_HOST))
                abort();
        nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
        nftnl_set_nlmsg_build_payload(nlh, s);
        nftnl_set_free(s);
        batch_done(b, nlh);
}

/* NFT_MSG_NEWSETELEM (an element that exists is fine) or NFT_MSG_DELSETELEM (the element
 * must exist: callers add it first in the same batch) */
static void batch_elem(struct nft_batch *b, uint16_t type, const char *set, const char *ifname)
{
        bool add = type == NFT_MSG_NEWSETELEM;
        struct nlmsghdr *nlh = batch_hdr(b, type, NFPROTO_INET, add ? NLM_F_CREATE : 0,
                                         xasprintf("%s `%s` %s the set %s", add ? "add" : "remove",
                                                   ifname, add ? "to" : "from", set));
        struct nftnl_set *s = nftnl_set_alloc();
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        if (!s || !e)
                abort();
        char key[IFNAMSIZ] = {0};
        strncpy(key, ifname, IFNAMSIZ - 1);
        nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE);
        nftnl_set_set_str(s, NFTNL_SET_NAME, set);
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, sizeof(key));
        nftnl_set_elem_add(s, e);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        nftnl_set_free(s);
        batch_done(b, nlh);
}

/* The table `inet capsa` with its chains and sets; its base rules unless all are there */
static void batch_inet(struct nft_batch *b, const struct dump *d)
{
        batch_table(b, NFPROTO_INET);
        batch_chain(b, NFPROTO_INET, "forward", "filter", NF_INET_FORWARD, 0);
        batch_chain(b, NFPROTO_INET, "input", "filter", NF_INET_LOCAL_IN, 0);
        batch_chain(b, NFPROTO_INET, "prerouting", "nat", NF_INET_PRE_ROUTING, -100);
        batch_chain(b, NFPROTO_INET, "output", "nat", NF_INET_LOCAL_OUT, -100);
        batch_chain(b, NFPROTO_INET, "postrouting", "nat", NF_INET_POST_ROUTING, 100);
        batch_chain(b, NFPROTO_INET, NFT_CHAIN_INTERNAL, NULL, -1, 0);
        batch_chain(b, NFPROTO_INET, NFT_CHAIN_BETWEEN, NULL, -1, 0);
        batch_chain(b, NFPROTO_INET, NFT_CHAIN_ISOLATED, NULL, -1, 0);
        batch_chain(b, NFPROTO_INET, NFT_CHAIN_PORTS, NULL, -1, 0);
        batch_set(b, NFT_SET_BRIDGES);
        batch_set(b, NFT_SET_ISOLATED);
        if (dump_count(d, NFT_TAG_BASE) != NFT_BASE_RULES) {
                batch_del_tagged(b, NFPROTO_INET, d, NFT_TAG_BASE, "remove the base rules");
                nft_rules_base(b);
        }
}

static void batch_bridge(struct nft_batch *b)
{
        batch_table(b, NFPROTO_BRIDGE);
        batch_chain(b, NFPROTO_BRIDGE, "prerouting", "filter", NF_BR_PRE_ROUTING, -200);
}

/* Sends the batch and reads the kernel's answers: nfnetlink handles the whole batch within
 * sendmsg, so every error is queued by the time it returns.  The first one is reported. */
static int batch_send(struct nft *n, struct nft_batch *b, struct cx_error **err)
{
        batch_done(b, nftnl_batch_end(batch_reserve(b, NULL), b->seq));
        n->seq = b->seq;
        if (b->len > 200 * 1024) {
                int size = (int)b->len + 4096;
                (void)mnl_socket_setsockopt(n->nl, SO_SNDBUFFORCE, &size, sizeof(size));
        }
        if (mnl_socket_sendto(n->nl, b->buf, b->len) < 0)
                return cx_error_set(err, errno, "nftables: send a batch");

        _cleanup_free_ char *buf = xmalloc(RECV_BUF);
        int fd = mnl_socket_get_fd(n->nl);
        uint32_t bad_seq = 0;
        int bad = 0;
        for (;;) {
                ssize_t len = recv(fd, buf, RECV_BUF, MSG_DONTWAIT);
                if (len < 0 && errno == EINTR)
                        continue;
                if (len < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (len < 0)
                        return cx_error_set(err, errno, "nftables: read the answer to a batch");
                const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
                int left = (int)len;
                for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                        if (nlh->nlmsg_type != NLMSG_ERROR ||
                            nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
                                continue;
                        const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                        if (e->error == 0 || (bad && nlh->nlmsg_seq >= bad_seq))
                                continue;
                        bad = -e->error;
                        bad_seq = nlh->nlmsg_seq;
                }
        }
        if (!bad)
                return 0;
        const char *what =
            bad_seq >= b->seq0 && bad_seq < b->seq ? b->what[bad_seq - b->seq0] : NULL;
        return cx_error_set(err, bad, "nftables: %s", what ? what : "apply a batch");
}

/* ---- the API ------------------------------------------------------------------------------- */
static int check_tag(const char *tag, struct cx_error **err)
{
        if (!tag || !*tag || strlen(tag) >= TAG_MAX)
                return cx_error_msg(err, EINVAL, "nftables: invalid tag `%s`", tag ? tag : "");
        return 0;
}

static int check_ifname(const char *name, struct cx_error **err)
{
        if (!name || !*name || strlen(name) >= IFNAMSIZ)
                return cx_error_msg(err, EINVAL, "nftables: invalid interface name `%s`",
                                    name ? name : "");
        return 0;
}

/* What every call starts with: its tag (and link name, unless it names none) checked, the
 * socket, and the rules of the inet table (and of the bridge table when db is given) as they
 * are now. */
static int call_begin(const char *tag, bool has_link, const char *ifname, struct nft **n,
                      struct dump *di, struct dump *db, struct cx_error **err)
{
        int r = check_tag(tag, err);
        if (r >= 0 && has_link)
                r = check_ifname(ifname, err);
        if (r >= 0)
                r = nft_open(n, err);
        if (r >= 0)
                r = dump_rules(*n, NFPROTO_INET, di, err);
        if (r >= 0 && db)
                r = dump_rules(*n, NFPROTO_BRIDGE, db, err);
        return r;
}

int nft_network_add(const struct nft_network *nw, struct cx_error **err)
{
        _cleanup_free_ char *tag = xasprintf("net/%s", nw->name ? nw->name : "");
        _cleanup_(nft_closep) struct nft *n = NULL;
        _cleanup_(dump_clear) struct dump d = {0};
        int r = call_begin(nw->name ? tag : NULL, true, nw->bridge, &n, &d, NULL, err);
        if (r < 0)
                return r;

        _cleanup_(batch_free) struct nft_batch b = {0};
        batch_begin(&b, n);
        batch_inet(&b, &d);
        _cleanup_free_ char *what = xasprintf("remove the old rules of network `%s`", nw->name);
        batch_del_tagged(&b, NFPROTO_INET, &d, tag, what);
        batch_elem(&b, NFT_MSG_NEWSETELEM, NFT_SET_BRIDGES, nw->bridge);
        batch_elem(&b, NFT_MSG_NEWSETELEM, NFT_SET_ISOLATED, nw->bridge);
        if (!nw->isolated)
                batch_elem(&b, NFT_MSG_DELSETELEM, NFT_SET_ISOLATED, nw->bridge);
        nft_rules_network(&b, nw, tag);
        return batch_send(n, &b, err);
}

int nft_network_del(const char *name, const char *bridge, struct cx_error **err)
{
        _cleanup_free_ char *tag = xasprintf("net/%s", name ? name : "");
        _cleanup_(nft_closep) struct nft *n = NULL;
        _cleanup_(dump_clear) struct dump d = {0};
        int r = call_begin(name ? tag : NULL, true, bridge, &n, &d, NULL, err);
        if (r < 0 || !d.table)
                return r;

        _cleanup_(batch_free) struct nft_batch b = {0};
        batch_begin(&b, n);
        /* the sets must exist for the (add-then-remove) elements: make what is missing */
        batch_inet(&b, &d);
        _cleanup_free_ char *what = xasprintf("remove the rules of network `%s`", name);
        batch_del_tagged(&b, NFPROTO_INET, &d, tag, what);
        const char *sets[] = {NFT_SET_BRIDGES, NFT_SET_ISOLATED};
        for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
                batch_elem(&b, NFT_MSG_NEWSETELEM, sets[i], bridge);
                batch_elem(&b, NFT_MSG_DELSETELEM, sets[i], bridge);
        }
        return batch_send(n, &b, err);
}

int nft_endpoint_add(const struct nft_endpoint *e, struct cx_error **err)
{
        _cleanup_(nft_closep) struct nft *n = NULL;
        _cleanup_(dump_clear) struct dump di = {0};
        _cleanup_(dump_clear) struct dump db = {0};
        int r = call_begin(e->owner, true, e->veth, &n, &di, &db, err);
        if (r < 0)
                return r;

        _cleanup_(batch_free) struct nft_batch b = {0};
        batch_begin(&b, n);
        batch_inet(&b, &di);
        batch_bridge(&b);
        _cleanup_free_ char *what = xasprintf("remove the old rules of `%s`", e->owner);
        batch_del_tagged(&b, NFPROTO_INET, &di, e->owner, what);
        batch_del_tagged(&b, NFPROTO_BRIDGE, &db, e->owner, what);
        r = nft_rules_endpoint(&b, e, err);
        if (r < 0)
                return r;
        return batch_send(n, &b, err);
}

int nft_endpoint_del(const char *owner, struct cx_error **err)
{
        _cleanup_(nft_closep) struct nft *n = NULL;
        _cleanup_(dump_clear) struct dump di = {0};
        _cleanup_(dump_clear) struct dump db = {0};
        int r = call_begin(owner, false, NULL, &n, &di, &db, err);
        if (r < 0)
                return r;
        if (dump_count(&di, owner) + dump_count(&db, owner) == 0)
                return 0;

        _cleanup_(batch_free) struct nft_batch b = {0};
        batch_begin(&b, n);
        _cleanup_free_ char *what = xasprintf("remove the rules of `%s`", owner);
        batch_del_tagged(&b, NFPROTO_INET, &di, owner, what);
        batch_del_tagged(&b, NFPROTO_BRIDGE, &db, owner, what);
        return batch_send(n, &b, err);
}
