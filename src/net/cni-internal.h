/* net/cni: what the CNI plugin's files share (cni.c: the commands; cni-conf.c: the
 * environment and the network configuration; cni-result.c: results and errors). */
#pragma once

#include "net/net.h"
#include "util/json.h"
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/nsfs.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#define CNI_DEFAULT_VERSION "1.0.0"
#define CNI_DEFAULT_ROOT    "/run/capsa"

enum {
        CNI_ERR_VERSION = 1,
        CNI_ERR_UNSUPPORTED_FIELD = 2,
        CNI_ERR_ENV = 4,
        CNI_ERR_IO = 5,
        CNI_ERR_DECODE = 6,
        CNI_ERR_CONFIG = 7,
        CNI_ERR_UNAVAILABLE = 50,
        CNI_ERR_PLUGIN = 100,
};

#define CNI_N_VERSIONS 5
extern const char *const cni_versions[CNI_N_VERSIONS]; /* the versions spoken (cni-conf.c) */

struct cni {
        const char *root;
        const char *command, *container_id, *netns, *ifname, *args;
        struct json_val *conf;
        const char *version; /* the configuration's cniVersion */
        const char *network;
        char *owner;
        char veth[IFNAMSIZ];
        /* the first failure */
        int code;
        char *msg, *details;
};

/* Records the first failure (the spec's code, msg and details); returns -1. */
int cni_fail(struct cni *c, int code, const char *msg, const char *fmt, ...) _printf_(4, 5);
int cni_fail_cx(struct cni *c, int code, const char *msg, struct cx_error *err);
void cni_print_error(const struct cni *c);
bool cni_version_pre1(const char *v);
const char *cni_need_env(struct cni *c, const char *name);
int cni_load_attachment(struct cni *c);
int cni_load_conf(struct cni *c, bool optional);
int cni_wanted_ips(struct cni *c, struct net_ip *want4, struct net_ip *want6);
int cni_port_mappings(struct cni *c, struct net_port **ret, size_t *ret_n);
int cni_get_network(struct cni *c, struct net_store *s, struct net_network *ret);
int cni_owner_leases(struct cni *c, struct net_store *s, struct net_ip ret[2], size_t *ret_n);
int cni_open_netns(struct cni *c, int *ret);
void cni_print_add_result(const struct cni *c, const struct net_endpoint *ep,
                          const uint8_t host_mac[6]);
