/* start, kill, delete, state, list. */
#include "container/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

int container_open(const char *root, const char *id, struct container_handle *h,
                   struct cx_error **err)
{
        *h = (struct container_handle){0};
        int r = state_dir_open(root, id, &h->dir, err);
        if (r < 0)
                return r;
        r = state_read(&h->dir, &h->st, err);
        if (r == -ENOENT) {
                /* create was killed before it wrote anything: only the directory exists */
                cx_error_freep(err);
                h->st = (struct state){.id = xstrdup(id), .creating = true};
        } else if (r < 0) {
                state_dir_close(&h->dir);
                return r;
        }
        h->status = state_status_get(&h->dir, &h->st);
        return 0;
}

int container_open_cgroup(const char *root, const char *id, struct container_handle *h,
                          struct cx_error **err)
{
        int r = container_open(root, id, h, err);
        if (r < 0)
                return r;
        if (!h->st.cgroup_dirs || !h->st.cgroup_dirs[0])
                r = cx_error_msg(err, ENOENT, "container `%s` has no cgroup recorded", id);
        else
                r = cg_manager_load(h->st.cgroup_driver, h->st.cgroup_dirs, &h->cg, err);
        if (r < 0)
                container_close(h);
        return r;
}

void container_close(struct container_handle *h)
{
        cg_manager_freep(&h->cg);
        state_clear(&h->st);
        state_dir_close(&h->dir);
}

static void run_poststart(const struct container_handle *h)
{
        _cleanup_free_ char *cfg = NULL;
        if (read_file_at(h->dir.fd, "config.json", &cfg, NULL, NULL) < 0 ||
            !strstr(cfg, "poststart"))
                return;
        struct spec *s = NULL;
        if (spec_parse(cfg, strlen(cfg), "config.json", h->st.bundle, &s, NULL) < 0)
                return;
        _cleanup_free_ char *json = state_oci_json(&h->st, STATE_RUNNING);
        hooks_run_warn(&s->hooks, SPEC_HOOK_POSTSTART, json);
        spec_free(s);
}

static int start_created(struct container_handle *h, const char *id, struct cx_error **err)
{
        if (h->status != STATE_CREATED)
                return cx_error_msg(err, EINVAL,
                                    "cannot start container `%s`: it is %s, not created", id,
                                    state_status_name(h->status));
        _cleanup_close_ int fifo =
            openat(h->dir.fd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fifo < 0)
                return cx_error_set(err, errno, "cannot start container `%s`: open exec.fifo", id);
        _cleanup_free_ char *exe = proc_exe(h->st.pid);
        if (write(fifo, "0", 1) != 1)
                return cx_error_set(err, errno, "cannot start container `%s`: write exec.fifo", id);
        /* "running" means the user's process runs (a signal sent now must reach it, not the
         * init): wait for the execve, then drop the fifo that makes the state read "created" */
        proc_wait_exec(h->st.pid, exe);
        unlinkat(h->dir.fd, "exec.fifo", 0);
        run_poststart(h);
        return 0;
}

int container_start(const char *root, const char *id, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        r = start_created(&h, id, err);
        container_close(&h);
        return r;
}

int container_signal(const struct state *st, int sig, struct cx_error **err)
{
        _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
        /* The pidfd pins the process: check it is still ours before signalling. */
        if (pfd < 0 || !state_pid_matches(st->pid, st->pid_start_time))
                return cx_error_msg(err, ESRCH, "container `%s` is not running", st->id);
        if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) < 0)
                return cx_error_set(err, errno, "send signal %d to container `%s`", sig, st->id);
        return 0;
}

int container_kill(const char *root, const char *id, int sig, bool all, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        bool has_cgroup = h.st.cgroup_dirs && h.st.cgroup_dirs[0];
        /* as runc, --all signals whatever is left in the cgroup even once the init is gone */
        if ((h.status == STATE_STOPPED && !(all && has_cgroup)) || h.status == STATE_CREATING)
                r = cx_error_msg(err, ESRCH, "container `%s` is not running", id);
        else if (all && !has_cgroup)
                r = container_pidns_kill(&h.st, sig, err); /* rootless without a cgroup */
        else if (all &&
                 (r = cg_manager_load(h.st.cgroup_driver, h.st.cgroup_dirs, &h.cg, err)) >= 0)
                r = cg_kill(h.cg, sig, err);
        else if (!all)
                r = container_signal(&h.st, sig, err);
        container_close(&h);
        return r;
}

static void wait_gone(const struct state *st)
{
        _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
        if (pfd < 0)
                return;
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        poll(&p, 1, 5000);
}

static void run_poststop(struct state_dir *d, const struct state *st)
{
        _cleanup_free_ char *cfg = NULL;
        if (read_file_at(d->fd, "config.json", &cfg, NULL, NULL) < 0)
                return;
        struct spec *s = NULL;
        if (spec_parse(cfg, strlen(cfg), "config.json", st->bundle, &s, NULL) < 0)
                return;
        _cleanup_free_ char *json = state_oci_json(st, STATE_STOPPED);
        hooks_run_warn(&s->hooks, SPEC_HOOK_POSTSTOP, json);
        spec_free(s);
}

int container_destroy(struct state_dir *d, const struct state *st, struct cx_error **err)
{
        if (st->pid > 0 && state_pid_matches(st->pid, st->pid_start_time)) {
                kill(st->pid, SIGKILL);
                wait_gone(st);
        }
        if (st->cgroup_dirs && st->cgroup_dirs[0]) {
                struct cg_manager *cg = NULL;
                int r = cg_manager_load(st->cgroup_driver, st->cgroup_dirs, &cg, err);
                if (r >= 0)
                        r = cg_destroy(cg, err);
                cg_manager_free(cg);
                if (r < 0)
                        return r;
        }
        int r = container_host_mounts_undo(d, st->rootfs, err);
        if (r < 0)
                return r;
        run_poststop(d, st);
        return state_dir_remove(d, err);
}

int container_delete(const char *root, const char *id, bool force, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r == -ENOENT && force && id_validate(id, NULL) == 0) {
                cx_error_freep(err); /* as runc: nothing to delete is not an error with --force */
                return 0;
        }
        if (r < 0)
                return r;
        if ((h.status == STATE_RUNNING || h.status == STATE_PAUSED) && !force)
                r = cx_error_msg(err, EBUSY,
                                 "cannot delete container `%s` that is not stopped: %s "
                                 "(use --force)",
                                 id, state_status_name(h.status));
        else if (h.status == STATE_CREATING && !force && h.st.pid > 0)
                r = cx_error_msg(err, EBUSY, "container `%s` is still being created (use --force)",
                                 id);
        else
                r = container_destroy(&h.dir, &h.st, err);
        container_close(&h);
        return r;
}

int container_state(const char *root, const char *id, char **ret_json, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        *ret_json = state_oci_json(&h.st, h.status);
        container_close(&h);
        return 0;
}

int container_list(const char *root, struct container_info **ret, size_t *ret_n,
                   struct cx_error **err)
{
        _cleanup_strv_ char **ids = NULL;
        int r = state_list_ids(root, &ids, err);
        if (r < 0)
                return r;
        size_t n = 0;
        struct container_info *v = xcalloc(strv_len(ids) + 1, sizeof(*v));
        for (size_t i = 0; ids[i]; i++) {
                struct container_handle h;
                if (container_open(root, ids[i], &h, NULL) < 0)
                        continue; /* deleted meanwhile */
                struct stat ds;
                v[n++] = (struct container_info){
                    .id = xstrdup(ids[i]),
                    .pid = h.status == STATE_STOPPED ? 0 : h.st.pid,
                    .status = xstrdup(state_status_name(h.status)),
                    .bundle = xstrdup(h.st.bundle ? h.st.bundle : ""),
                    .rootfs = xstrdup(h.st.rootfs ? h.st.rootfs : ""),
                    .created = xstrdup(h.st.created ? h.st.created : ""),
                    .owner = h.st.owner && *h.st.owner   ? xstrdup(h.st.owner)
                             : fstat(h.dir.fd, &ds) == 0 ? container_owner_name(ds.st_uid)
                                                         : xstrdup("root"),
                };
                container_close(&h);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

void container_info_free(struct container_info *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].id);
                free(v[i].status);
                free(v[i].bundle);
                free(v[i].rootfs);
                free(v[i].created);
                free(v[i].owner);
        }
        free(v);
}
