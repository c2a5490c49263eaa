/* `create`: the plan, then prepare -> launch -> finish.
 *
 * prepare makes what every launcher needs: ROOT/ID (locked), the early state, the stored
 * config, the cgroup and the console; launch (the plan's launcher) makes the
 * processes; finish records the container as created.  Each resource made outside ROOT/ID is
 * first appended to the undo record, so a failed create, and a delete after create was killed
 * at any instant, undo exactly what was made. */
#include "container/internal.h"
#include "util/sys.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static bool has_cgroup_mount(const struct spec *s)
{
        for (size_t i = 0; i < s->n_mounts; i++)
                if (s->mounts[i].type && (strcmp(s->mounts[i].type, "cgroup") == 0 ||
                                          strcmp(s->mounts[i].type, "cgroup2") == 0))
                        return true;
        return false;
}

static void state_init(struct create_ctx *c)
{
        const struct spec *s = c->spec;
        struct state *st = &c->st;
        st->id = xstrdup(c->o->id);
        st->bundle = xstrdup(s->bundle);
        st->rootfs = xstrdup(s->root.path);
        st->created = state_now_rfc3339();
        st->creating = true;
        st->owner = xstrdup("");
        st->annotations = xcalloc(2 * s->n_annotations + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_annotations; i++) {
                st->annotations[2 * i] = xstrdup(s->annotations[i].key);
                st->annotations[2 * i + 1] = xstrdup(s->annotations[i].value);
        }
        st->cgroup_driver = xstrdup(cg_manager_driver_name(c->cg));
        st->cgroup_dirs = strv_dup(cg_manager_dirs(c->cg));
        st->use_systemd_cgroup = c->o->systemd_cgroup;
        st->launcher = xstrdup(c->plan.launcher->name);
}

static bool has_limits(const struct spec_resources *r)
{
        return r->present && (r->has_memory || r->has_cpu || r->has_pids || r->has_blkio ||
                              r->has_network || r->n_hugepage_limits || r->n_rdma || r->n_unified);
}

/* As runc's rootless mode: a user other than root (or anyone with --rootless true, nobody with
 * --rootless false) who may not create the cgroup (r from cg_create) runs the container in its
 * own cgroup, unless the config asks for limits.  Device rules alone are no limits: without a
 * cgroup they are skipped (the user namespace already keeps the container from opening host
 * devices it could not open itself). */
static int rootless_without_cgroup(struct create_ctx *c, int r, struct cx_error **err)
{
        bool rootless = c->o->rootless == CONTAINER_ROOTLESS_AUTO
                            ? geteuid() != 0
                            : c->o->rootless == CONTAINER_ROOTLESS_TRUE;
        if (!rootless || (r != -EACCES && r != -EPERM && r != -EROFS))
                return r;
        if (has_limits(&c->spec->linux_.resources))
                return cx_error_prefix(err,
                                       "linux.resources: capsa runs as uid %u and cannot create "
                                       "the cgroup for these limits (remove linux.resources or "
                                       "delegate a writable cgroup to the user and point "
                                       "linux.cgroupsPath into it)",
                                       (unsigned)geteuid());
        log_warn("capsa runs as uid %u and cannot create the container's cgroup (%s): the "
                 "container runs without one, in the caller's cgroup",
                 (unsigned)geteuid(), (*err)->msg);
        cx_error_freep(err);
        cg_manager_freep(&c->cg);
        strv_free(c->st.cgroup_dirs);
        c->st.cgroup_dirs = xcalloc(1, sizeof(char *));
        return 0;
}

/* The cgroup, in the undo record first. */
static int prepare_cgroup(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        _cleanup_strv_ char **args = xcalloc(1, sizeof(char *));
        strv_append(&args, cg_manager_driver_name(c->cg));
        for (char *const *d = cg_manager_dirs(c->cg); *d; d++)
                strv_append(&args, *d);
        int r = undo_append(&c->dir, UNDO_CGROUP, args, err);
        if (r < 0)
                return r;
        r = cg_create(c->cg, s->linux_.resources.present ? &s->linux_.resources : NULL, err);
        if (r < 0) {
                /* cg_create left nothing; a cgroup that existed before is not ours to remove */
                _cleanup_error_ struct cx_error *e = NULL;
                if (undo_retract(&c->dir, &e) < 0)
                        log_warn("%s", e->msg);
                if ((r = rootless_without_cgroup(c, r, err)) < 0)
                        return r;
        }
        if (!c->cg)
                return 0;
        if ((r = cg_join_open(c->cg, &c->join, err)) < 0)
                return r;
        if (has_cgroup_mount(s) && (r = cg_hierarchies(c->cg, &c->hier, &c->n_hier, err)) < 0)
                return r;
        return 0;
}

/* --console-socket, or (run in the foreground) a pair whose far end we proxy (validated). */
static int prepare_console(struct create_ctx *c, struct cx_error **err)
{
        if (!c->spec->process.terminal && !c->o->console_socket)
                return 0;
        return console_open(c->o->console_socket, &c->console_fd, &c->console_peer, err);
}

/* Lock ROOT/ID, record the early state and the config, make the cgroup and the console. */
static int prepare(struct create_ctx *c, struct cx_error **err)
{
        const struct spec *s = c->spec;
        int r = state_dir_create(c->o->root, c->o->id, &c->dir, err);
        if (r < 0)
                return r;
        c->dir_created = true;
        if (c->o->image &&
            (r = undo_append(&c->dir, UNDO_IMAGE, (char *[]){c->o->image->dir, NULL}, err)) < 0)
                return r;
        r = cg_manager_new(s->linux_.cgroups_path, c->o->id, c->o->systemd_cgroup, &c->cg, err);
        if (r < 0)
                return r;
        state_init(c);
        if ((r = state_write(&c->dir, &c->st, err)) < 0)
                return r;
        /* The state names the tenant now: `tenant remove` sees the container. */
        closep(&c->plan.tenant_lock);
        /* The config as created: exec takes its defaults from it, delete its poststop hooks. */
        if ((r = write_file_atomic_at(c->dir.fd, "config.json", c->plan.raw, strlen(c->plan.raw),
                                      err)) < 0)
                return r;
        if ((r = ns_mnt_ns_inode(&c->caller_mnt_ns, err)) < 0)
                return r;
        if (!c->plan.launcher->in_guest && ns_shares_mount_ns(&s->linux_) &&
            ((r = undo_append(&c->dir, UNDO_HOST_MOUNTS, (char *[]){s->root.path, NULL}, err)) <
                 0 ||
             (r = container_host_mounts_record(&c->dir, s, err)) < 0))
                return r;
        if ((r = prepare_cgroup(c, err)) < 0 || (r = container_net_prepare(c, err)) < 0)
                return r;
        return prepare_console(c, err);
}

/* The container is created: its state says so, and --pid-file names the init. */
static int finish(struct create_ctx *c, struct cx_error **err)
{
        c->st.creating = false;
        int r = state_write(&c->dir, &c->st, err);
        if (r < 0)
                return r;
        if (c->o->pid_file && (r = container_write_pid_file(c->o->pid_file, c->pid, err)) < 0)
                return r;
        closep(&c->console_fd);
        return 0;
}

int create_container(struct create_ctx *c, const struct container_opts *o, struct cx_error **err)
{
        *c = (struct create_ctx){.join = {.v2_fd = -1},
                                 .dir = {.fd = -1, .root_fd = -1},
                                 .sync_fd = -1,
                                 .fifo_fd = -1,
                                 .console_fd = -1,
                                 .console_peer = -1,
                                 .idmap = {.rootfs_fd = -1}};
        int r = plan_load(o, &c->plan, err);
        if (r < 0)
                return r;
        c->o = &c->plan.opts;
        c->spec = c->plan.spec;
        if ((r = prepare(c, err)) < 0 || (r = c->plan.launcher->launch(c, err)) < 0 ||
            (r = finish(c, err)) < 0) {
                create_abort(c);
                return r;
        }
        return 0;
}

void create_abort(struct create_ctx *c)
{
        if (c->pid > 0)
                kill(c->pid, SIGKILL); /* ours, even if the record could not name it */
        if (c->dir_created) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (undo_run(&c->dir, &e) < 0)
                        log_warn("%s", e->msg);
                else if (state_dir_remove(&c->dir, &e) < 0)
                        log_warn("%s", e->msg);
                c->dir_created = false;
        }
        if (c->pid > 0) {
                container_reap(c->pid);
                c->pid = 0;
        }
        create_ctx_clear(c);
}

void create_ctx_clear(struct create_ctx *c)
{
        plan_clear(&c->plan);
        c->spec = NULL;
        state_dir_close(&c->dir);
        state_clear(&c->st);
        cg_join_close(&c->join);
        cg_manager_freep(&c->cg);
        cg_hierarchies_free(c->hier, c->n_hier);
        c->hier = NULL;
        c->n_hier = 0;
        closep(&c->sync_fd);
        closep(&c->fifo_fd);
        closep(&c->console_fd);
        closep(&c->console_peer);
        ns_idmap_mounts_clear(&c->idmap);
}
