/* `checkpoint`: a running (or paused) container's processes dumped by CRIU into the image
 * path, then (unless --leave-running or --pre-dump) the container deleted, as runc does.
 *
 * Beside CRIU's images go descriptors.json (the init's fds 0-2: restore hands its own stdio
 * pipes in their place) and capsa-checkpoint.json: whether the network namespace was external
 * (capsa's network or a namespace path: CRIU leaves it out and restore brings a new one,
 * attached the same way) and the networks with their addresses. */
#include "checkpoint/checkpoint.h"
#include "container/internal.h"
#include "net/net.h"
#include "util/json.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

int ckpt_open_dir(const char *path, const char *what, bool create, int *ret, struct cx_error **err)
{
        if (create && mkdir_p(path, 0700, err) < 0)
                return cx_error_prefix(err, "%s", what);
        *ret = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*ret < 0)
                return cx_error_set(err, errno, "%s `%s`", what, path);
        return 0;
}

/* The networks the container holds leases on, with their addresses: a compact JSON array;
 * *ret_n counts them. */
static char *networks_json(const char *root, const char *id, size_t *ret_n)
{
        struct json_w *w = json_w_new(NULL);
        json_w_arr_open(w);
        *ret_n = 0;
        struct net_store s;
        struct net_network *nws = NULL;
        size_t n = 0;
        _cleanup_error_ struct cx_error *e = NULL;
        /* read only: a container without networks must not make ROOT/networks */
        _cleanup_free_ char *store = xasprintf("%s/networks", root);
        if (geteuid() != 0 || access(store, F_OK) < 0 || net_store_open(root, &s, &e) < 0) {
                json_w_arr_close(w);
                return json_w_finish(w, false);
        }
        if (net_network_list(&s, &nws, &n, &e) >= 0) {
                for (size_t i = 0; i < n; i++) {
                        struct net_lease *l = NULL;
                        size_t nl = 0;
                        if (net_lease_list(&s, nws[i].name, &l, &nl, &e) < 0) {
                                cx_error_freep(&e);
                                continue;
                        }
                        bool open = false;
                        for (size_t k = 0; k < nl; k++) {
                                if (!l[k].owner || strcmp(l[k].owner, id) != 0)
                                        continue;
                                if (!open) {
                                        json_w_obj_open(w);
                                        json_w_key_str(w, "network", nws[i].name);
                                        json_w_key_arr_open(w, "addresses");
                                        open = true;
                                        (*ret_n)++;
                                }
                                char buf[NET_IP_STRLEN];
                                json_w_str(w, net_ip_str(&l[k].ip, buf));
                        }
                        if (open) {
                                json_w_arr_close(w);
                                json_w_obj_close(w);
                        }
                        net_leases_free(l, nl);
                }
                for (size_t i = 0; i < n; i++)
                        net_network_clear(&nws[i]);
                free(nws);
        }
        net_store_close(&s);
        json_w_arr_close(w);
        return json_w_finish(w, false);
}

static bool same_netns(pid_t a, pid_t b)
{
        struct stat sa, sb;
        char pa[64], pb_[64];
        snprintf(pa, sizeof(pa), "/proc/%d/ns/net", (int)a);
        snprintf(pb_, sizeof(pb_), "/proc/%d/ns/net", (int)b);
        return stat(pa, &sa) == 0 && stat(pb_, &sb) == 0 && sa.st_ino == sb.st_ino &&
               sa.st_dev == sb.st_dev;
}

/* "own" (CRIU dumps it), "external" (capsa's networks or a path: left out of the images) or
 * "host" (the caller's: nothing to do). */
static const char *netns_kind(const struct spec *s, pid_t pid, bool has_networks)
{
        const struct spec_namespace *ns = &s->linux_.ns[SPEC_NS_NETWORK];
        if (!ns->present || same_netns(pid, getpid()))
                return "host";
        if (ns->path || has_networks)
                return "external";
        return "own";
}

static int write_meta(int images_fd, const struct container_handle *h, const struct spec *s,
                      const char *netns, const struct ckpt_stdio *stdio, const char *networks,
                      struct cx_error **err)
{
        struct json_w *w = json_w_new("  ");
        json_w_obj_open(w);
        json_w_key_int(w, "version", 1);
        json_w_key_str(w, "id", h->st.id);
        json_w_key_str(w, "bundle", h->st.bundle);
        json_w_key_str(w, "netns", netns);
        json_w_key_bool(w, "terminal", s->process.terminal);
        json_w_key_arr_open(w, "stdio"); /* by position: "" where CRIU needs no key */
        for (int fd = 0; fd < 3; fd++)
                json_w_str(w, stdio->key[fd]);
        json_w_arr_close(w);
        /* what a "file[...]" is reopened from */
        json_w_key_strv(w, "stdio_paths", (const char *const *)stdio->path, 3);
        json_w_key_strv(w, "stdio_modes", (const char *const *)stdio->mode, 3);
        json_w_key(w, "networks");
        json_w_raw(w, networks);
        json_w_obj_close(w);
        _cleanup_free_ char *text = json_w_finish(w, true);
        return write_file_atomic_at(images_fd, CKPT_META_FILE, text, strlen(text), err);
}

static bool in_strv(char **v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

/* The cgroup directory that freezes the container: v2's own (it has cgroup.freeze), v1's
 * freezer hierarchy's; NULL if there is none (CRIU then stops the tasks by ptrace alone). */
static const char *freezer_dir(char *const *dirs)
{
        for (char *const *d = dirs; d && *d; d++) {
                _cleanup_free_ char *f = xasprintf("%s/cgroup.freeze", *d);
                if (access(f, F_OK) == 0 || strstr(*d, "/freezer/"))
                        return *d;
        }
        return NULL;
}

static int dump(struct container_handle *h, const struct ckpt_dump_opts *o, struct cx_error **err)
{
        const char *image_path = o->c.image_path ? o->c.image_path : "checkpoint";
        _cleanup_close_ int images_fd = -1, work_fd = -1;
        int r = ckpt_open_dir(image_path, "--image-path", true, &images_fd, err);
        if (r < 0)
                return r;
        if ((r = ckpt_open_dir(o->c.work_path ? o->c.work_path : image_path, "--work-path", true,
                               &work_fd, err)) < 0)
                return r;
        _cleanup_(spec_freep) struct spec *s = NULL;
        if ((r = container_config(&h->dir, &h->st, &s, err)) < 0)
                return r;
        pid_t pid = h->st.pid;
        size_t n_networks = 0;
        _cleanup_free_ char *networks = networks_json(h->dir.root, h->st.id, &n_networks);
        const char *netns = netns_kind(s, pid, n_networks > 0);
        _cleanup_(ckpt_stdio_clear) struct ckpt_stdio stdio = {0};
        ckpt_stdio_read(pid, &stdio);
        if (!o->pre_dump && ((r = write_meta(images_fd, h, s, netns, &stdio, networks, err)) < 0 ||
                             (r = ckpt_write_descriptors(images_fd, &stdio, err)) < 0))
                return r;
        _cleanup_strv_ char **ext = ckpt_ext_mounts(s, pid, h->st.cgroup_dirs, false);
        /* capsa's own binds (networks): /etc/hosts, /etc/resolv.conf */
        strv_append(&ext, "/etc/hosts");
        strv_append(&ext, "/etc/hosts");
        strv_append(&ext, "/etc/resolv.conf");
        strv_append(&ext, "/etc/resolv.conf");
        _cleanup_strv_ char **external = xcalloc(1, sizeof(char *));
        for (int fd = 0; fd < 3; fd++) {
                const char *key = stdio.key[fd];
                if (key && strncmp(key, "file[", 5) == 0 && !in_strv(external, key))
                        strv_append(&external, key);
        }
        if (strcmp(netns, "external") == 0) {
                struct stat st;
                _cleanup_free_ char *p = xasprintf("/proc/%d/ns/net", (int)pid);
                if (stat(p, &st) < 0)
                        return cx_error_set(err, errno, "stat `%s`", p);
                _cleanup_free_ char *key =
                    xasprintf("net[%llu]:" CKPT_NETNS_KEY, (unsigned long long)st.st_ino);
                strv_append(&external, key);
        }
        struct ckpt_job j = {
            .type = o->pre_dump ? CKPT_JOB_PRE_DUMP : CKPT_JOB_DUMP,
            .c = &o->c,
            .dump = o,
            .pid = pid,
            .images_fd = images_fd,
            .work_fd = work_fd,
            .log_name = o->pre_dump ? "pre-dump.log" : "dump.log",
            .ext_mounts = ext,
            .external = external,
            .freeze_cgroup = freezer_dir(h->st.cgroup_dirs),
        };
        r = ckpt_criu_run(&j, err);
        if (r < 0)
                return cx_error_prefix(err, "checkpoint container `%s` into `%s`", h->st.id,
                                       image_path);
        return 0;
}

int container_checkpoint(const char *root, const char *id, const struct ckpt_dump_opts *o,
                         struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        if (h.status != STATE_RUNNING && h.status != STATE_PAUSED) {
                r = cx_error_msg(err, EINVAL,
                                 "container `%s` is %s: only a running or paused container can "
                                 "be checkpointed",
                                 id, state_status_name(h.status));
        } else if (strcmp(h.launcher->name, launcher_native.name) != 0 &&
                   strcmp(h.launcher->name, launcher_restore.name) != 0) {
                r = cx_error_msg(err, ENOTSUP,
                                 "container `%s` runs with launcher `%s`, which cannot be "
                                 "checkpointed",
                                 id, h.launcher->name);
        } else if (undo_has(&h.dir, UNDO_IMAGE)) {
                /* its rootfs changes live in its dir of the image store, which goes with it */
                r = cx_error_msg(err, ENOTSUP,
                                 "container `%s` was made with --image: checkpoint needs a "
                                 "bundle container (`capsa spec --image REF` writes one)",
                                 id);
        } else if ((r = dump(&h, o, err)) >= 0 && !o->leave_running && !o->pre_dump) {
                /* as runc: CRIU ended the processes; the container goes with them */
                r = container_destroy(&h, err);
                if (r < 0)
                        cx_error_prefix(err, "checkpointed, but deleting container `%s`", id);
        }
        container_close(&h);
        return r;
}
