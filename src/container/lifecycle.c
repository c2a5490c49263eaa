/* start, kill, delete, state, list. */
#include "container/internal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

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
        h->launcher = launcher_find(h->st.launcher);
        if (!h->launcher) {
                r = cx_error_msg(err, EINVAL,
                                 "container `%s` was made by launcher `%s`, which this capsa "
                                 "does not have",
                                 id, h->st.launcher);
                container_close(h);
                return r;
        }
        h->status = h->launcher->status(&h->dir, &h->st);
        return 0;
}

void container_close(struct container_handle *h)
{
        state_clear(&h->st);
        state_dir_close(&h->dir);
}

/* Hooks of the stored config; a config that no longer parses skips them with a warning. */
static void run_stored_hooks(struct container_handle *h, enum spec_hook_kind kind,
                             enum state_status status)
{
        struct spec *s = NULL;
        _cleanup_error_ struct cx_error *e = NULL;
        if (container_config(&h->dir, &h->st, &s, &e) < 0) {
                log_warn("%s hooks not run: %s", spec_hook_kind_names[kind], e->msg);
                return;
        }
        if (s->hooks.n[kind] > 0) {
                _cleanup_free_ char *json = state_hook_json(&h->st, status);
                hooks_run_warn(&s->hooks, kind, json);
        }
        spec_free(s);
}

int container_start(const char *root, const char *id, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        if (h.status != STATE_CREATED)
                r = cx_error_msg(err, EINVAL, "cannot start container `%s`: it is %s, not created",
                                 id, state_status_name(h.status));
        else if ((r = h.launcher->start(&h, err)) >= 0)
                run_stored_hooks(&h, SPEC_HOOK_POSTSTART, STATE_RUNNING);
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

int container_write_pid_file(const char *path, pid_t pid, struct cx_error **err)
{
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d", (int)pid);
        int r = write_file_atomic_at(AT_FDCWD, path, buf, n, err);
        return r < 0 ? cx_error_prefix(err, "--pid-file") : 0;
}

void container_reap(pid_t pid)
{
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

void container_kill_wait(pid_t pid, uint64_t start_time)
{
        _cleanup_close_ int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0 || !state_pid_matches(pid, start_time))
                return;
        syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        poll(&p, 1, 5000);
}

int container_kill(const char *root, const char *id, int sig, bool all, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        /* --all may still find processes once the init is gone (the launcher tells) */
        if ((h.status == STATE_STOPPED && !all) || h.status == STATE_CREATING)
                r = cx_error_msg(err, ESRCH, "container `%s` is not running", id);
        else
                r = h.launcher->kill(&h, sig, all, err);
        container_close(&h);
        return r;
}

int container_destroy(struct container_handle *h, struct cx_error **err)
{
        h->launcher->stop(h);
        int r = undo_run(&h->dir, err);
        if (r < 0)
                return r;
        run_stored_hooks(h, SPEC_HOOK_POSTSTOP, STATE_STOPPED);
        return state_dir_remove(&h->dir, err);
}

int container_delete(const char *root, const char *id, bool force, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r == -ENOENT && force && state_id_validate(id, NULL) == 0) {
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
                r = container_destroy(&h, err);
        container_close(&h);
        return r;
}

int container_exec(const struct container_exec_opts *o, int *ret_status, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(o->root, o->id, &h, err);
        if (r < 0)
                return r;
        if (h.status == STATE_STOPPED || h.status == STATE_CREATING)
                r = cx_error_msg(err, EINVAL, "cannot exec in container `%s`: it is %s", o->id,
                                 state_status_name(h.status));
        else if (h.status == STATE_PAUSED && !o->ignore_paused)
                r = cx_error_msg(err, EINVAL,
                                 "cannot exec in a paused container `%s` (use --ignore-paused to "
                                 "override)",
                                 o->id);
        else
                return h.launcher->exec(&h, o, ret_status, err);
        container_close(&h);
        return r;
}

int container_state(const char *root, const char *id, char **ret_json, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        if (h.launcher->describe)
                h.launcher->describe(&h.dir, &h.st);
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
                    .annotations = strv_dup(h.st.annotations),
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
                strv_free(v[i].annotations);
        }
        free(v);
}
