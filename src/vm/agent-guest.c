/* What the guest makes of a create request: the config it runs (root and bind sources in the
 * shared tree), the root (or vm.image), the tenant's range and the NICs in the container's
 * network namespace. */
#include "vm/vm.h"
#include "net/net.h"
#include "state/state.h"
#include "util/json.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* config.json as the guest runs it: the root (and every bind mount's source) in the shared
 * tree: binds[i] is mount i's source there, or null; extra: the mounts capsa adds, such as a
 * network's hosts and resolv.conf), the host's annotations for the mode dropped,
 * the cgroup the guest's default, and only the hooks that run in the container (the host ran the
 * others). */
char *vm_guest_config(const struct json_val *cfg, const char *rootfs, const struct json_val *binds,
                      const struct json_val *extra)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        if (!json_val_get(cfg, "mounts") && json_val_len(extra)) {
                json_w_key(w, "mounts");
                json_w_val(w, extra);
        }
        for (size_t i = 0; i < json_val_len(cfg); i++) {
                const char *k = json_val_key(cfg, i);
                const struct json_val *v = json_val_at(cfg, i);
                if (strcmp(k, "root") == 0) {
                        const struct json_val *ro = json_val_get(v, "readonly");
                        json_w_key_obj_open(w, "root");
                        json_w_key_str(w, "path", rootfs);
                        json_w_key_bool(w, "readonly", ro && json_val_type(ro) == JSON_TRUE);
                        json_w_obj_close(w);
                } else if (strcmp(k, "vm") == 0) {
                        continue;
                } else if (strcmp(k, "mounts") == 0) {
                        json_w_key_arr_open(w, "mounts");
                        for (size_t m = 0; m < json_val_len(v); m++) {
                                const struct json_val *mv = json_val_at(v, m);
                                const char *src = json_val_str(json_val_at(binds, m));
                                json_w_obj_open(w);
                                for (size_t j = 0; j < json_val_len(mv); j++) {
                                        const char *mk = json_val_key(mv, j);
                                        json_w_key(w, mk);
                                        if (src && strcmp(mk, "source") == 0)
                                                json_w_str(w, src);
                                        else
                                                json_w_val(w, json_val_at(mv, j));
                                }
                                json_w_obj_close(w);
                        }
                        for (size_t m = 0; m < json_val_len(extra); m++)
                                json_w_val(w, json_val_at(extra, m));
                        json_w_arr_close(w);
                } else if (strcmp(k, "hooks") == 0) {
                        json_w_key_obj_open(w, "hooks");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *hk = json_val_key(v, j);
                                if (strcmp(hk, "createContainer") == 0 ||
                                    strcmp(hk, "startContainer") == 0) {
                                        json_w_key(w, hk);
                                        json_w_val(w, json_val_at(v, j));
                                }
                        }
                        json_w_obj_close(w);
                } else if (strcmp(k, "linux") == 0) {
                        json_w_key_obj_open(w, "linux");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *lk = json_val_key(v, j);
                                if (strcmp(lk, "cgroupsPath") == 0)
                                        continue;
                                json_w_key(w, lk);
                                json_w_val(w, json_val_at(v, j));
                        }
                        json_w_obj_close(w);
                } else if (strcmp(k, "annotations") == 0) {
                        json_w_key_obj_open(w, "annotations");
                        for (size_t j = 0; j < json_val_len(v); j++) {
                                const char *ak = json_val_key(v, j);
                                if (strcmp(ak, "run.oci.handler") == 0)
                                        continue;
                                json_w_key_str(w, ak, json_val_str(json_val_at(v, j)));
                        }
                        json_w_obj_close(w);
                } else {
                        json_w_key(w, k);
                        json_w_val(w, v);
                }
        }
        json_w_obj_close(w);
        return json_w_finish(w, true);
}

/* The root: the shared tree's rootfs, or the block device (vm.image) mounted. */
int vm_guest_rootfs(const struct json_val *req, char **ret, char **ret_err)
{
        if (!json_val_get(req, "image")) {
                *ret = xstrdup(VM_GUEST_SHARE "/rootfs");
                return 0;
        }
        static const char *const types[] = {"ext4", "xfs", "btrfs", "ext3", "ext2", "vfat"};
        mkdir(VM_GUEST_DIR "/image", 0755);
        for (int tries = 0; tries < 500; tries++) {
                for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                        if (mount("/dev/vda", VM_GUEST_DIR "/image", types[i], 0, NULL) == 0) {
                                *ret = xstrdup(VM_GUEST_DIR "/image");
                                return 0;
                        }
                if (errno != ENOENT && errno != ENXIO)
                        break;
                usleep(10000);
        }
        *ret_err = xasprintf("mount vm.image (/dev/vda) in the guest: %s", strerror(errno));
        return -errno;
}

/* The guest's name of the NIC whose MAC is mac. */
static bool nic_by_mac(const char *mac, char name[IFNAMSIZ])
{
        DIR *d = opendir("/sys/class/net");
        struct dirent *e;
        bool found = false;
        while (d && !found && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *p = xasprintf("/sys/class/net/%s/address", e->d_name);
                _cleanup_free_ char *a = NULL;
                size_t len;
                if (read_file_at(AT_FDCWD, p, &a, &len, NULL) >= 0 &&
                    strncasecmp(a, mac, strlen(mac)) == 0) {
                        snprintf(name, IFNAMSIZ, "%.15s", e->d_name);
                        found = true;
                }
        }
        if (d)
                closedir(d);
        return found;
}

/* One NIC into the container's network namespace (netns_fd, or -1: it shares the guest's), as
 * eth<i>, with the endpoint's MTU, addresses and default routes: what the host's veth peer gets
 * on the host. */
static int guest_nic(const struct json_val *nic, size_t i, int netns_fd, struct nl *root,
                     struct cx_error **err)
{
        const char *mac = json_val_str(json_val_get(nic, "mac"));
        char name[IFNAMSIZ], eth[IFNAMSIZ];
        snprintf(eth, sizeof(eth), "eth%u", (unsigned)(i % 1000));
        if (!mac || !nic_by_mac(mac, name))
                return cx_error_msg(err, ENODEV, "the guest has no NIC with MAC %s",
                                    mac ? mac : "");
        int r;
        struct nl_link_change mv = NL_LINK_CHANGE_NONE;
        mv.netns_fd = netns_fd;
        if (netns_fd >= 0 && (r = nl_link_set(root, name, &mv, err)) < 0)
                return r;
        _cleanup_(nl_closep) struct nl *n = NULL;
        if ((r = nl_open(netns_fd, &n, err)) < 0)
                return r;
        int64_t mtu = 0;
        json_val_int(json_val_get(nic, "mtu"), &mtu);
        struct nl_link_change up = NL_LINK_CHANGE_NONE;
        up.up = 1;
        struct nl_link_change set = NL_LINK_CHANGE_NONE;
        set.rename = strcmp(name, eth) ? eth : NULL;
        set.mtu = (unsigned)mtu;
        if ((r = nl_link_set(n, name, &set, err)) < 0 || (r = nl_link_set(n, "lo", &up, err)) < 0)
                return r;
        const struct json_val *addrs = json_val_get(nic, "addrs");
        for (size_t j = 0; j < json_val_len(addrs); j++) {
                struct net_cidr c;
                if (net_cidr_parse(json_val_str(json_val_at(addrs, j)), true, &c) < 0)
                        return cx_error_msg(err, EINVAL, "a NIC address the agent cannot read");
                if ((r = nl_addr_add(n, eth, &c, err)) < 0)
                        return r;
        }
        if ((r = nl_link_set(n, eth, &up, err)) < 0)
                return r;
        const struct json_val *gws = json_val_get(nic, "gateways");
        for (size_t j = 0; j < json_val_len(gws); j++) {
                struct net_ip gw;
                if (net_ip_parse(json_val_str(json_val_at(gws, j)), &gw) < 0)
                        return cx_error_msg(err, EINVAL, "a gateway the agent cannot read");
                if ((r = nl_route_add(n, NULL, &gw, eth, err)) < 0 && r != -EEXIST)
                        return r;
        }
        return 0;
}

/* The container's NICs, once its init exists (in its network namespace). */
int vm_guest_net(const struct json_val *nets, pid_t init, char **ret_err)
{
        if (json_val_len(nets) == 0)
                return 0;
        struct cx_error *e = NULL;
        _cleanup_free_ char *path = xasprintf("/proc/%d/ns/net", (int)init);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat a, b;
        if (fd < 0 || fstat(fd, &a) < 0 || stat("/proc/self/ns/net", &b) < 0) {
                *ret_err = xasprintf("open the container's network namespace: %s", strerror(errno));
                return -EIO;
        }
        _cleanup_(nl_closep) struct nl *root = NULL;
        int r = nl_open(-1, &root, &e);
        for (size_t i = 0; r >= 0 && i < json_val_len(nets); i++)
                r = guest_nic(json_val_at(nets, i), i, a.st_ino == b.st_ino ? -1 : fd, root, &e);
        if (r < 0) {
                *ret_err = xasprintf("configure the container's network in the guest: %s", e->msg);
                cx_error_freep(&e);
        }
        return r;
}

/* The tenant in the guest's registry, with the host's range: the files the container makes on
 * the shared rootfs are then the tenant's on the host too. */
int vm_guest_tenant(const char *name, const struct json_val *first, char **ret_err)
{
        int64_t id = 0;
        if (!json_val_int(first, &id)) {
                *ret_err = xstrdup("a tenant without its range");
                return -EINVAL;
        }
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_arr_open(w, "tenants");
        json_w_obj_open(w);
        json_w_key_str(w, "name", name);
        json_w_key_int(w, "firstId", id);
        json_w_key_int(w, "size", STATE_TENANT_RANGE);
        json_w_obj_close(w);
        json_w_arr_close(w);
        json_w_obj_close(w);
        _cleanup_free_ char *json = json_w_finish(w, true);
        mkdir("/run/capsa", 0700);
        if (write_file_atomic_at(AT_FDCWD, "/run/capsa/tenants.json", json, strlen(json), NULL) <
            0) {
                *ret_err = xstrdup("write the guest's tenants.json");
                return -EIO;
        }
        return 0;
}
