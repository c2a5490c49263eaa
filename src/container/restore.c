/* `restore`: the restore launcher.  create's prepare has made the state, the cgroup (with the
 * config's limits), the console and the networks' files; restore_launch then has CRIU restore
 * the processes instead of cloning an init:
 *
 *   a network namespace: the config's path, or (capsa's networks) a new one held by a child
 *   and attached like any container's (the same address when the id is the same) -> `criu swrk`
 *   forked in a private mount namespace with the root mounted (bind, or the image's overlay)
 *   and the container's cgroup joined -> CRIU restores the tree as our child (rst_sibling),
 *   with the external mounts mapped to their host sources, the stdio pipes of descriptors.json
 *   replaced by ours, a terminal's new master sent to the console socket -> the restored init
 *   recorded in the undo record and the state, which then reads "running".
 * Kernel interfaces: unshare(2), mount(2), move_mount(2), setns(2) (by CRIU), SCM_RIGHTS. */
#include "checkpoint/checkpoint.h"
#include "container/internal.h"
#include "namespaces/namespaces.h"
#include "util/json.h"
#include "util/sys.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct restore_run {
        struct create_ctx *c;
        int rootfs_fd; /* a detached mount of the root (overlay, idmapped), or -1 */
};

/* In the forked criu: a private mount namespace with the root mounted at root.path, and the
 * container's cgroup (the restored tree is born in it: CRIU forks it). */
static int child_setup(void *userdata, const char **msg)
{
        struct restore_run *rr = userdata;
        struct create_ctx *c = rr->c;
        const char *root = c->spec->root.path;
        if (unshare(CLONE_NEWNS) < 0) {
                *msg = "unshare the mount namespace for criu";
                return -errno;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                *msg = "make criu's mounts private";
                return -errno;
        }
        if (rr->rootfs_fd >= 0) {
                if (sys_move_mount(rr->rootfs_fd, "", AT_FDCWD, root, MOVE_MOUNT_F_EMPTY_PATH) <
                    0) {
                        *msg = "attach the container's root for criu";
                        return -errno;
                }
        } else if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0) {
                *msg = "bind the container's root for criu";
                return -errno;
        }
        struct cx_error *e = NULL;
        if (ns_mount_targets_make(root, c->spec->mounts, c->spec->n_mounts, true, &e) < 0) {
                *msg = e->msg;
                return -e->code;
        }
        if (c->cg) {
                if (cg_enter(c->cg, getpid(), &e) < 0) {
                        *msg = e->msg;
                        return -e->code;
                }
        }
        return 0;
}

static int notify(void *userdata, const char *script, pid_t pid, int fd, struct cx_error **err)
{
        struct restore_run *rr = userdata;
        if (strcmp(script, "orphan-pts-master") != 0 || fd < 0)
                return 0;
        if (rr->c->console_fd < 0)
                return cx_error_msg(err, EINVAL,
                                    "the checkpointed process has a terminal: restore needs "
                                    "--console-socket (or to run in the foreground)");
        int r = fd_send(rr->c->console_fd, fd, "/dev/ptmx", strlen("/dev/ptmx"));
        return r < 0 ? cx_error_set(err, -r, "send the terminal to the console socket") : 0;
}

/* A child in a new network namespace that capsa's networks attach to; CRIU is given it. */
static int netns_holder(struct create_ctx *c, pid_t *ret, struct cx_error **err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return cx_error_set(err, errno, "fork");
        }
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(p[0]);
                char ok = unshare(CLONE_NEWNET) == 0 ? 1 : 0;
                (void)!write(p[1], &ok, 1);
                close(p[1]);
                pause();
                _exit(0);
        }
        close(p[1]);
        char ok = 0;
        ssize_t n = read(p[0], &ok, 1);
        close(p[0]);
        if (n != 1 || !ok) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return cx_error_msg(err, EPERM, "make a network namespace for the restore");
        }
        *ret = pid;
        uint64_t start = 0;
        state_pid_start_time(pid, &start);
        return undo_append_process(&c->dir, pid, start, err);
}

/* The cgroup CRIU puts the tree in when it manages cgroups (v2: relative to the mount). */
static const char *cg_root(struct create_ctx *c)
{
        if (!c->cg || strcmp(cg_manager_driver_name(c->cg), "v2") != 0)
                return NULL;
        const char *d = cg_manager_dirs(c->cg)[0];
        const char *m = "/sys/fs/cgroup";
        return strncmp(d, m, strlen(m)) == 0 ? d + strlen(m) : NULL;
}

struct restore_fds {
        int v[4];
        bool owned[4]; /* opened here: closed by fds_clear */
        char *keys[5];
        size_t n;
};

static void fds_add(struct restore_fds *f, int fd, bool owned, const char *key)
{
        f->v[f->n] = fd;
        f->owned[f->n] = owned;
        f->keys[f->n++] = xstrdup(key);
}

static void fds_clear(struct restore_fds *f)
{
        for (size_t i = 0; i < f->n; i++) {
                if (f->owned[i])
                        close(f->v[i]);
                free(f->keys[i]);
        }
        f->n = 0;
}

/* The host id of a container's id 0 in maps (the id itself without a user namespace). */
static uint32_t host_root(const struct spec_id_map *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (m[i].container_id == 0)
                        return m[i].host_id;
        return 0;
}

/* A migrated init's stdio file (inherit): its path if this host has it, else a regular file of
 * the mode it had in the container's state dir (CRIU wants the file it dumped: the same mode,
 * not /dev/null), `stdout` for fd 1, ...: removed with the container; owned by the container's
 * root (CRIU reopens it from inside a user namespace). */
static int stdio_file_here(const struct create_ctx *c, int i, const char *path, const char *mode)
{
        int dirfd = c->dir.fd;
        const struct spec_linux *l = &c->spec->linux_;
        static const char *const names[] = {"stdin", "stdout", "stderr"};
        size_t n = strlen(path);
        bool deleted = n > 10 && strcmp(path + n - 10, " (deleted)") == 0;
        int fd = deleted ? -1 : open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0)
                return fd;
        unsigned long m = strtoul(mode, NULL, 8);
        if (!S_ISREG(m)) {
                errno = ENOENT;
                return -1;
        }
        log_warn("restore: the container's fd %d was `%s`, which is not on this host: it is "
                 "%s in its state directory now",
                 i, path, names[i]);
        fd = openat(dirfd, names[i], O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd >= 0 && (fchown(fd, host_root(l->uid_mappings, l->n_uid_mappings),
                               host_root(l->gid_mappings, l->n_gid_mappings)) < 0 ||
                        fchmod(fd, m & 07777) < 0)) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return fd;
}

/* The init's stdio from outside the container (capsa-checkpoint.json's "stdio", or the pipes
 * of descriptors.json in a checkpoint made by runc): our pipes take the place of its pipes (as
 * runc does); a host file (/dev/null) is opened again from its path, as it was, or with
 * `inherit` (a migration) as stdio_file_here says. */
static int stdio_fds(const struct create_ctx *c, int images_fd, bool inherit, struct restore_fds *f,
                     struct cx_error **err)
{
        _cleanup_strv_ char **keys = NULL, **paths = NULL, **modes = NULL;
        int r = ckpt_read_stdio(images_fd, &keys, &paths, &modes, err);
        if (r < 0)
                return r;
        for (int i = 0; i < 3; i++) {
                if (strncmp(keys[i], "pipe:", 5) == 0) {
                        fds_add(f, i, false, keys[i]);
                } else if (strncmp(keys[i], "file[", 5) == 0) {
                        int fd = inherit ? stdio_file_here(c, i, paths[i], modes[i])
                                         : open(paths[i], O_RDWR | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0)
                                return cx_error_set(
                                    err, errno, "reopen the container's fd %d, `%s`", i, paths[i]);
                        fds_add(f, fd, true, keys[i]);
                }
        }
        return 0;
}

static int run_criu(struct create_ctx *c, int images_fd, int work_fd, int netns_fd,
                    struct cx_error **err)
{
        const struct ckpt_restore_opts *o = c->o->restore;
        struct restore_fds f = {0};
        int r = stdio_fds(c, images_fd, o->stdio_inherit, &f, err);
        if (r < 0)
                return r;
        if (netns_fd >= 0)
                fds_add(&f, netns_fd, false, CKPT_NETNS_KEY);
        struct restore_run rr = {.c = c, .rootfs_fd = -1};
        r = ns_idmap_mounts_open(&c->plan.ns, &c->plan.rootfs, &c->idmap, err);
        rr.rootfs_fd = c->idmap.rootfs_fd;
        _cleanup_strv_ char **ext =
            ckpt_ext_mounts(c->spec, 0, c->cg ? cg_manager_dirs(c->cg) : NULL, true);
        struct ckpt_common common = o->c;
        /* the tree goes where criu is: the container's cgroup (unless told to manage them) */
        if (common.cgroups_mode == CKPT_CG_DEFAULT)
                common.cgroups_mode = CKPT_CG_IGNORE;
        struct ckpt_job j = {
            .type = CKPT_JOB_RESTORE,
            .c = &common,
            .images_fd = images_fd,
            .work_fd = work_fd,
            .log_name = "restore.log",
            .root = c->spec->root.path,
            .restore = o,
            .ext_mounts = ext,
            .inherit_fd = f.v,
            .inherit_key = f.keys,
            .cg_root = common.cgroups_mode == CKPT_CG_IGNORE ? NULL : cg_root(c),
            .orphan_pts_master = c->spec->process.terminal,
            .child_setup = child_setup,
            .notify = notify,
            .userdata = &rr,
        };
        if (r >= 0)
                r = ckpt_criu_run(&j, err);
        ns_idmap_mounts_clear(&c->idmap);
        fds_clear(&f);
        if (r >= 0)
                c->pid = j.restored_pid;
        return r;
}

int restore_launch(struct create_ctx *c, struct cx_error **err)
{
        const struct ckpt_restore_opts *o = c->o->restore;
        if (!o) /* a config asking for it by annotation */
                return cx_error_msg(err, EINVAL,
                                    "the restore launcher runs only through `capsa restore`");
        const char *image_path = o->c.image_path ? o->c.image_path : "checkpoint";
        _cleanup_close_ int images_fd = -1, work_fd = -1, netns_fd = -1;
        int r = ckpt_open_dir(image_path, "--image-path", false, &images_fd, err);
        if (r < 0)
                return r;
        if (faccessat(images_fd, "inventory.img", F_OK, 0) < 0)
                return cx_error_msg(err, ENOENT,
                                    "--image-path `%s`: not a checkpoint (no inventory.img)",
                                    image_path);
        if ((r = ckpt_open_dir(o->c.work_path ? o->c.work_path : image_path, "--work-path", true,
                               &work_fd, err)) < 0)
                return r;
        const struct spec_namespace *ns = &c->spec->linux_.ns[SPEC_NS_NETWORK];
        pid_t holder = 0;
        if (ns->present && ns->path) {
                netns_fd = open(ns->path, O_RDONLY | O_CLOEXEC);
                if (netns_fd < 0)
                        return cx_error_set(err, errno, "open the network namespace `%s`",
                                            ns->path);
        } else if (c->plan.net.n > 0) {
                if ((r = netns_holder(c, &holder, err)) < 0)
                        return r;
                c->pid = holder;
                state_pid_start_time(holder, &c->st.pid_start_time);
                r = container_net_attach(c, err);
                _cleanup_free_ char *p = xasprintf("/proc/%d/ns/net", (int)holder);
                if (r >= 0 && (netns_fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
                        r = cx_error_set(err, errno, "open `%s`", p);
                c->pid = 0;
        }
        if (r >= 0)
                r = run_criu(c, images_fd, work_fd, netns_fd, err);
        if (holder > 0) {
                kill(holder, SIGKILL);
                waitpid(holder, NULL, 0);
        }
        if (r < 0)
                return cx_error_prefix(err, "restore container `%s` from `%s`", c->o->id,
                                       image_path);
        if ((r = state_pid_start_time(c->pid, &c->st.pid_start_time)) < 0)
                return cx_error_set(err, -r, "read the start time of the restored init");
        if ((r = undo_append_process(&c->dir, c->pid, c->st.pid_start_time, err)) < 0)
                return r;
        c->st.pid = c->pid;
        return state_write(&c->dir, &c->st, err);
}

/* ---- container_restore: the meta file, then create (or run) with the restore launcher ----------
 */

/* --net from the checkpoint's networks when the caller gives none: "NAME[:ip=A[,ip=B]]";
 * the addresses only for the same id (another container may hold them). */
static char **nets_from_meta(const char *image_path, const char *id)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", image_path, CKPT_META_FILE);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        _cleanup_error_ struct cx_error *e = NULL;
        if (read_file_at(AT_FDCWD, path, &text, &len, &e) < 0)
                return NULL;
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        if (json_parse(text, len, path, &v, &e) < 0)
                return NULL;
        const char *old = json_val_str(json_val_get(v, "id"));
        bool same = old && strcmp(old, id) == 0;
        const struct json_val *nws = json_val_get(v, "networks");
        char **nets = NULL;
        for (size_t i = 0; nws && i < json_val_len(nws); i++) {
                const struct json_val *n = json_val_at(nws, i);
                const char *name = json_val_str(json_val_get(n, "network"));
                if (!name)
                        continue;
                char *s = xstrdup(name);
                const struct json_val *a = json_val_get(n, "addresses");
                for (size_t k = 0; same && a && k < json_val_len(a); k++) {
                        const char *ip = json_val_str(json_val_at(a, k));
                        char *t = xasprintf("%s%sip=%s", s, k ? "," : ":", ip ? ip : "");
                        free(s);
                        s = t;
                }
                if (!nets)
                        nets = xcalloc(1, sizeof(char *));
                strv_append(&nets, s);
                free(s);
        }
        return nets;
}

int container_restore(const struct container_opts *o, const struct ckpt_restore_opts *r,
                      int *ret_status, struct cx_error **err)
{
        struct container_opts ro = *o;
        ro.restore = r;
        ro.self_argv = NULL; /* nothing of the bundle's process runs: no binary to protect */
        const char *image_path = r->c.image_path ? r->c.image_path : "checkpoint";
        struct stat st;
        if (stat(image_path, &st) < 0)
                return cx_error_set(err, errno, "--image-path `%s`", image_path);
        _cleanup_strv_ char **nets = o->nets ? NULL : nets_from_meta(image_path, o->id);
        if (nets)
                ro.nets = nets;
        if (ret_status)
                *ret_status = 0;
        if (o->detach)
                return container_create(&ro, err);
        return container_run(&ro, ret_status, err);
}
