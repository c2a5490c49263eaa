/* net/ipam: address leases.  A lease is the file ROOT/networks/NAME/leases/IP holding its
 * owner, created with O_EXCL (under the store's lock, so the lowest free address is found
 * without races). */
#include "net/net.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

/* ROOT/networks/NAME/leases, created when create is true; -ENOENT (no error text) when it is
 * missing and create is false. */
static int leases_dir(struct net_store *s, const char *network, bool create, struct cx_error **err)
{
        int r = net_name_validate(network, err);
        if (r < 0)
                return r;
        if (create && mkdirat(s->fd, network, 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "create `%s/networks/%s`", s->root, network);
        _cleanup_close_ int dfd =
            openat(s->fd, network, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 && errno == ENOENT && !create)
                return -ENOENT;
        if (dfd < 0)
                return cx_error_set(err, errno, "open `%s/networks/%s`", s->root, network);
        if (create && mkdirat(dfd, "leases", 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "create `%s/networks/%s/leases`", s->root, network);
        int fd = openat(dfd, "leases", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT && !create)
                return -ENOENT;
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s/networks/%s/leases`", s->root, network);
        return fd;
}

static const char *family_name(int family)
{
        return family == AF_INET ? "IPv4" : "IPv6";
}

/* Why ip may not be leased from subnet i of nw (NULL: it may). */
static int check_want(const struct net_network *nw, size_t i, const struct net_ip *ip,
                      struct cx_error **err)
{
        char a[NET_IP_STRLEN], c[NET_IP_STRLEN + 4];
        const struct net_cidr *sub = &nw->subnets[i];
        net_ip_str(ip, a);
        if (!net_cidr_contains(sub, ip))
                return cx_error_msg(err, EINVAL, "address %s is outside network `%s` (%s)", a,
                                    nw->name, net_cidr_str(sub, c));
        if (net_ip_equal(ip, &nw->gateways[i]))
                return cx_error_msg(err, EINVAL, "address %s is the gateway of network `%s`", a,
                                    nw->name);
        if (net_ip_equal(ip, &sub->ip) || !net_cidr_is_host(sub, ip))
                return cx_error_msg(err, EINVAL,
                                    "address %s is the %s address of network `%s` (%s)", a,
                                    net_ip_equal(ip, &sub->ip) ? "network" : "broadcast", nw->name,
                                    net_cidr_str(sub, c));
        return 0;
}

static size_t count_entries(int dfd)
{
        int fd = dup(dfd);
        if (fd < 0)
                return 0;
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return 0;
        }
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

int net_lease_take(struct net_store *s, const struct net_network *nw, int family,
                   const struct net_ip *want, const char *owner, struct net_ip *ret,
                   struct cx_error **err)
{
        size_t i = 0;
        while (i < nw->n_subnets && nw->subnets[i].ip.family != family)
                i++;
        if (i == nw->n_subnets)
                return cx_error_msg(err, EINVAL, "network `%s` has no %s subnet", nw->name,
                                    family_name(family));
        if (want && want->family && want->family != family) {
                char a[NET_IP_STRLEN];
                return cx_error_msg(err, EINVAL, "address %s is not an %s address",
                                    net_ip_str(want, a), family_name(family));
        }
        int r;
        if (want && want->family && (r = check_want(nw, i, want, err)) < 0)
                return r;
        _cleanup_close_ int dfd = leases_dir(s, nw->name, true, err);
        if (dfd < 0)
                return dfd;
        char a[NET_IP_STRLEN];
        if (want && want->family) {
                r = net_store_write_owner(dfd, net_ip_str(want, a), owner, false, err);
                if (r == -EEXIST) {
                        _cleanup_free_ char *o = net_store_read_owner(dfd, a);
                        return cx_error_msg(err, EADDRINUSE, "address %s is already leased to %s",
                                            a, o ? o : "(unknown)");
                }
                if (r < 0)
                        return r;
                *ret = *want;
                return 0;
        }
        /* every taken address costs one try: a huge IPv6 subnet is not walked to its end */
        size_t tries = count_entries(dfd) + 3;
        for (uint64_t n = 1; tries > 0; n++) {
                struct net_ip ip;
                if (!net_cidr_nth(&nw->subnets[i], n, &ip))
                        break;
                if (net_ip_equal(&ip, &nw->gateways[i]) || !net_cidr_is_host(&nw->subnets[i], &ip))
                        continue;
                r = net_store_write_owner(dfd, net_ip_str(&ip, a), owner, false, err);
                if (r == -EEXIST) {
                        tries--;
                        continue;
                }
                if (r < 0)
                        return r;
                *ret = ip;
                return 0;
        }
        return cx_error_msg(err, EADDRNOTAVAIL, "network `%s` has no free %s address", nw->name,
                            family_name(family));
}

/* Calls fn for every lease file of network (none: nothing) */
static int leases_each(struct net_store *s, const char *network,
                       int (*fn)(int dfd, const char *name, const struct net_ip *ip, char *owner,
                                 void *data),
                       void *data, struct cx_error **err)
{
        int dfd = leases_dir(s, network, false, err);
        if (dfd == -ENOENT)
                return 0;
        if (dfd < 0)
                return dfd;
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return cx_error_set(err, errno, "read `%s/networks/%s/leases`", s->root, network);
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                struct net_ip ip;
                if (net_ip_parse(de->d_name, &ip) < 0)
                        continue;
                char *owner = net_store_read_owner(dirfd(d), de->d_name);
                if (owner)
                        r = fn(dirfd(d), de->d_name, &ip, owner, data);
                free(owner);
        }
        closedir(d);
        return r;
}

struct release {
        const char *owner;
        const char *network;
        struct cx_error **err;
};

static int release_one(int dfd, const char *name, const struct net_ip *ip, char *owner, void *data)
{
        struct release *rel = data;
        if (strcmp(owner, rel->owner) != 0)
                return 0;
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return cx_error_set(rel->err, errno, "release address %s of network `%s`", name,
                                    rel->network);
        return 0;
}

int net_lease_release(struct net_store *s, const char *network, const char *owner,
                      struct cx_error **err)
{
        struct release rel = {owner, network, err};
        return leases_each(s, network, release_one, &rel, err);
}

struct collect {
        struct net_lease *v;
        size_t n;
};

static int collect_one(int dfd, const char *name, const struct net_ip *ip, char *owner, void *data)
{
        struct collect *c = data;
        c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
        c->v[c->n++] = (struct net_lease){.ip = *ip, .owner = xstrdup(owner)};
        return 0;
}

static int lease_cmp(const void *a, const void *b)
{
        const struct net_lease *x = a, *y = b;
        if (x->ip.family != y->ip.family)
                return x->ip.family == AF_INET ? -1 : 1;
        return memcmp(x->ip.a, y->ip.a, sizeof(x->ip.a));
}

int net_lease_list(struct net_store *s, const char *network, struct net_lease **ret, size_t *ret_n,
                   struct cx_error **err)
{
        struct collect c = {0};
        int r = leases_each(s, network, collect_one, &c, err);
        if (r < 0) {
                net_leases_free(c.v, c.n);
                return r;
        }
        if (c.n)
                qsort(c.v, c.n, sizeof(*c.v), lease_cmp);
        *ret = c.v;
        *ret_n = c.n;
        return 0;
}

void net_leases_free(struct net_lease *l, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(l[i].owner);
        free(l);
}
