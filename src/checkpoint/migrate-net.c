/* What both ends of a migration share beyond the stream: connecting and listening on
 * HOST:PORT, and the container's network attachment as `--net` arguments. */
#include "checkpoint/migrate-internal.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

int mig_hostport_split(const char *s, char **ret_host, char **ret_port, struct cx_error **err)
{
        const char *colon = s ? strrchr(s, ':') : NULL;
        if (!colon || colon == s || !colon[1])
                return cx_error_msg(err, EINVAL, "`%s`: expected HOST:PORT", s ? s : "");
        const char *h = s;
        size_t hl = (size_t)(colon - s);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [IPv6]:PORT */
                h++;
                hl -= 2;
        }
        char *end;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (*end || port == 0 || port > 65535)
                return cx_error_msg(err, EINVAL, "`%s`: the port must be 1-65535", s);
        *ret_host = strndup(h, hl);
        *ret_port = xstrdup(colon + 1);
        return 0;
}

static int resolve(const char *hostport, bool passive, struct addrinfo **ret, struct cx_error **err)
{
        _cleanup_free_ char *host = NULL, *port = NULL;
        int r = mig_hostport_split(hostport, &host, &port, err);
        if (r < 0)
                return r;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0};
        int g = getaddrinfo(*host ? host : NULL, port, &hints, ret);
        if (g != 0)
                return cx_error_msg(err, EHOSTUNREACH, "`%s`: %s", hostport, gai_strerror(g));
        return 0;
}

int mig_connect(const char *hostport, int *ret_fd, struct cx_error **err)
{
        struct addrinfo *ai;
        int r = resolve(hostport, false, &ai, err);
        if (r < 0)
                return r;
        int e = 0;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
                if (fd < 0) {
                        e = errno;
                        continue;
                }
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                        int one = 1;
                        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                        freeaddrinfo(ai);
                        *ret_fd = fd;
                        return 0;
                }
                e = errno;
                close(fd);
        }
        freeaddrinfo(ai);
        return cx_error_set(err, e ? e : EHOSTUNREACH, "connect to `%s`", hostport);
}

int mig_listen(const char *hostport, int *ret_fd, struct cx_error **err)
{
        struct addrinfo *ai;
        int r = resolve(hostport, true, &ai, err);
        if (r < 0)
                return r;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                freeaddrinfo(ai);
                return cx_error_set(err, e, "listen on `%s`", hostport);
        }
        freeaddrinfo(ai);
        *ret_fd = fd;
        return 0;
}

char *mig_sockaddr_str(const struct sockaddr_storage *ss, bool with_port)
{
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
                inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
                port = ntohs(in->sin_port);
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
                inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
                port = ntohs(in6->sin6_port);
        }
        if (!with_port)
                return xstrdup(host);
        return ss->ss_family == AF_INET6 ? xasprintf("[%s]:%u", host, port)
                                         : xasprintf("%s:%u", host, port);
}

int mig_free_port(const struct sockaddr_storage *local, unsigned *ret, struct cx_error **err)
{
        struct sockaddr_storage ss = *local;
        socklen_t len =
            ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
        else
                ((struct sockaddr_in *)&ss)->sin_port = 0;
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
                return cx_error_set(err, errno, "find a free port for the page server");
        *ret = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
        return 0;
}

int mig_container_nets(const char *root, const char *id, char ***ret, struct cx_error **err)
{
        struct net_store s;
        int r = net_store_open(root, &s, err);
        if (r < 0)
                return r;
        struct net_network *nws = NULL;
        size_t n = 0;
        _cleanup_strv_ char **out = NULL;
        if ((r = net_network_list(&s, &nws, &n, err)) < 0)
                goto done;
        for (size_t i = 0; i < n; i++) {
                struct net_lease *l = NULL;
                size_t nl = 0;
                if ((r = net_lease_list(&s, nws[i].name, &l, &nl, err)) < 0)
                        break;
                _cleanup_free_ char *arg = NULL;
                for (size_t j = 0; j < nl; j++) {
                        if (!l[j].owner || strcmp(l[j].owner, id) != 0)
                                continue;
                        char ip[NET_IP_STRLEN];
                        net_ip_str(&l[j].ip, ip);
                        char *next =
                            xasprintf("%s%sip=%s", arg ? arg : nws[i].name, arg ? "," : ":", ip);
                        free(arg);
                        arg = next;
                }
                net_leases_free(l, nl);
                if (arg)
                        strv_append(&out, arg);
        }
done:
        net_networks_free(nws, n);
        net_store_close(&s);
        if (r < 0)
                return r;
        *ret = out ? TAKE_PTR(out) : xcalloc(1, sizeof(char *));
        return 0;
}
