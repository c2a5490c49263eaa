/* net/port: published ports.  ROOT/networks/ports/PROTO-HOSTIP-PORT holds the owner ("any" as
 * HOSTIP: every local address); a port is published once per protocol and host address. */
#include "net/net.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/stat.h>

static const char *proto_name(int proto)
{
        return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static int parse_port(const char *s, uint16_t *ret)
{
        uint64_t v;
        if (!*s || parse_u64(s, &v) < 0 || v < 1 || v > 65535)
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

int net_port_parse(const char *s, struct net_port *ret, struct cx_error **err)
{
        struct net_port p = {.proto = IPPROTO_TCP};
        _cleanup_free_ char *buf = xstrdup(s);
        char *rest = buf;
        char *slash = strrchr(buf, '/');
        if (slash) {
                *slash = '\0';
                if (strcmp(slash + 1, "tcp") == 0)
                        p.proto = IPPROTO_TCP;
                else if (strcmp(slash + 1, "udp") == 0)
                        p.proto = IPPROTO_UDP;
                else
                        return cx_error_msg(err, EINVAL, "port `%s`: `%s` is not tcp or udp", s,
                                            slash + 1);
        }
        const char *host = NULL;
        if (rest[0] == '[') { /* [IPv6]:HOSTPORT:PORT */
                char *close_ = strchr(rest, ']');
                if (!close_ || close_[1] != ':')
                        return cx_error_msg(err, EINVAL,
                                            "port `%s`: not [HOSTIP:]HOSTPORT:PORT[/tcp|udp]", s);
                *close_ = '\0';
                host = rest + 1;
                rest = close_ + 2;
        }
        char *colon = strrchr(rest, ':');
        if (!colon)
                return cx_error_msg(err, EINVAL, "port `%s`: not [HOSTIP:]HOSTPORT:PORT[/tcp|udp]",
                                    s);
        *colon = '\0';
        const char *port = colon + 1, *host_port = rest;
        char *colon2 = strrchr(rest, ':');
        if (colon2) {
                if (host)
                        return cx_error_msg(err, EINVAL,
                                            "port `%s`: not [HOSTIP:]HOSTPORT:PORT[/tcp|udp]", s);
                *colon2 = '\0';
                host = rest;
                host_port = colon2 + 1;
        }
        if (host && host != buf + 1 && strchr(host, ':'))
                return cx_error_msg(
                    err, EINVAL, "port `%s`: an IPv6 host address goes in brackets ([::1]:80:80)",
                    s);
        if (host) {
                if (net_ip_parse(host, &p.host_ip) < 0)
                        return cx_error_msg(err, EINVAL, "port `%s`: `%s` is not an IP address", s,
                                            host);
                static const uint8_t zero[16];
                if (memcmp(p.host_ip.a, zero, sizeof(zero)) == 0)
                        p.host_ip.family = 0; /* 0.0.0.0 or ::: every address */
        }
        if (parse_port(host_port, &p.host_port) < 0)
                return cx_error_msg(err, EINVAL, "port `%s`: `%s` is not a port (1-65535)", s,
                                    host_port);
        if (parse_port(port, &p.port) < 0)
                return cx_error_msg(err, EINVAL, "port `%s`: `%s` is not a port (1-65535)", s,
                                    port);
        *ret = p;
        return 0;
}

/* "tcp-10.0.0.1-8080", "tcp-any-8080" */
static void port_file(const struct net_port *p, char buf[NET_IP_STRLEN + 16])
{
        char ip[NET_IP_STRLEN];
        snprintf(buf, NET_IP_STRLEN + 16, "%s-%s-%u", proto_name(p->proto),
                 p->host_ip.family ? net_ip_str(&p->host_ip, ip) : "any", p->host_port);
}

/* Parses a file name back: false for anything else */
static bool port_file_parse(const char *name, struct net_port *ret)
{
        char buf[NET_IP_STRLEN + 16];
        if (strlen(name) >= sizeof(buf))
                return false;
        strcpy(buf, name);
        char *d1 = strchr(buf, '-'), *d2 = strrchr(buf, '-');
        if (!d1 || d1 == d2)
                return false;
        *d1 = *d2 = '\0';
        struct net_port p = {0};
        if (strcmp(buf, "tcp") == 0)
                p.proto = IPPROTO_TCP;
        else if (strcmp(buf, "udp") == 0)
                p.proto = IPPROTO_UDP;
        else
                return false;
        if (strcmp(d1 + 1, "any") != 0 && net_ip_parse(d1 + 1, &p.host_ip) < 0)
                return false;
        if (parse_port(d2 + 1, &p.host_port) < 0)
                return false;
        *ret = p;
        return true;
}

static int ports_dir(struct net_store *s, bool create, struct cx_error **err)
{
        if (create && mkdirat(s->fd, "ports", 0700) < 0 && errno != EEXIST)
                return cx_error_set(err, errno, "create `%s/networks/ports`", s->root);
        int fd = openat(s->fd, "ports", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT && !create)
                return -ENOENT;
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s/networks/ports`", s->root);
        return fd;
}

static int port_taken(const char *owner, const struct net_port *p, struct cx_error **err)
{
        char ip[NET_IP_STRLEN];
        /* an endpoint's tag is "OWNER@NETWORK"; a CNI owner is "cni/CONTAINERID/IFNAME" */
        _cleanup_free_ char *who = xstrdup(owner);
        char *at = strrchr(who, '@');
        if (at && at != who)
                *at = '\0';
        owner = who;
        const char *by = strchr(owner, '/') ? "" : "container ";
        if (p->host_ip.family)
                return cx_error_msg(
                    err, EADDRINUSE, "port %s/%u on %s is already published by %s%s",
                    proto_name(p->proto), p->host_port, net_ip_str(&p->host_ip, ip), by, owner);
        return cx_error_msg(err, EADDRINUSE, "port %s/%u is already published by %s%s",
                            proto_name(p->proto), p->host_port, by, owner);
}

int net_port_take(struct net_store *s, const struct net_port *p, const char *owner,
                  struct cx_error **err)
{
        _cleanup_close_ int dfd = ports_dir(s, true, err);
        if (dfd < 0)
                return dfd;
        int fd = dup(dfd);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (!d) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                return cx_error_set(err, e, "read `%s/networks/ports`", s->root);
        }
        struct dirent *de;
        int r = 0;
        char mine[NET_IP_STRLEN + 16];
        port_file(p, mine);
        while (r >= 0 && (de = readdir(d))) {
                struct net_port q;
                if (!port_file_parse(de->d_name, &q) || q.proto != p->proto ||
                    q.host_port != p->host_port)
                        continue;
                if (q.host_ip.family && p->host_ip.family && !net_ip_equal(&q.host_ip, &p->host_ip))
                        continue;
                _cleanup_free_ char *o = net_store_read_owner(dirfd(d), de->d_name);
                if (o && strcmp(o, owner) == 0 && strcmp(de->d_name, mine) == 0)
                        continue; /* taken again by its owner */
                r = port_taken(o ? o : "(unknown)", &q, err);
        }
        closedir(d);
        if (r < 0)
                return r;
        r = net_store_write_owner(dfd, mine, owner, true, err);
        return r < 0 ? cx_error_prefix(err, "`%s/networks/ports`", s->root) : 0;
}

int net_port_release(struct net_store *s, const char *owner, struct cx_error **err)
{
        int dfd = ports_dir(s, false, err);
        if (dfd == -ENOENT)
                return 0;
        if (dfd < 0)
                return dfd;
        DIR *d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return cx_error_set(err, errno, "read `%s/networks/ports`", s->root);
        }
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d))) {
                struct net_port q;
                if (!port_file_parse(de->d_name, &q))
                        continue;
                _cleanup_free_ char *o = net_store_read_owner(dirfd(d), de->d_name);
                if (o && strcmp(o, owner) == 0 && unlinkat(dirfd(d), de->d_name, 0) < 0 &&
                    errno != ENOENT)
                        r = cx_error_set(err, errno, "release port %s", de->d_name);
        }
        closedir(d);
        return r;
}
