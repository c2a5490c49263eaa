/* `create` + `run`: the create plan, then (for run) start in-process and wait, forwarding
 * signals to the container and returning its exit status. */
#include "container/internal.h"

#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

int container_create(const struct container_opts *o, struct cx_error **err)
{
        struct create_ctx c;
        int r = create_container(&c, o, err);
        if (r < 0)
                return r;
        create_ctx_clear(&c);
        return 0;
}

/* Starts the container create_container left, then its poststart hooks. */
static int start_own(struct create_ctx *c, struct cx_error **err)
{
        int r = c->plan.launcher->start_own(c, err);
        if (r < 0)
                return r;
        const struct spec_hooks *h = &c->spec->hooks;
        if (h->n[SPEC_HOOK_POSTSTART] > 0) {
                _cleanup_free_ char *json = state_hook_json(&c->st, STATE_RUNNING);
                hooks_run_warn(h, SPEC_HOOK_POSTSTART, json);
        }
        return 0;
}

/* Waits for the started container, forwarding signals (and the terminal), then deletes it
 * unless --keep.  Returns its exit status, or 128+N when killed by signal N. */
static int wait_and_delete(struct create_ctx *c, const struct container_opts *o, int sfd,
                           int master)
{
        /* Other commands (state, kill, exec...) must work while we wait. */
        flock(c->dir.fd, LOCK_UN);
        int status = console_wait(c->pid, sfd, master);
        c->st.pid = c->pid; /* reaped: the state now reads as stopped */
        struct stat dst;
        flock(c->dir.fd, LOCK_EX);
        bool gone = fstat(c->dir.fd, &dst) < 0 || dst.st_nlink == 0; /* deleted meanwhile */
        if (!o->keep && !gone) {
                _cleanup_error_ struct cx_error *e = NULL;
                struct container_handle h = {
                    .dir = c->dir, .st = c->st, .launcher = c->plan.launcher};
                if (container_destroy(&h, &e) < 0)
                        log_warn("%s", e->msg);
        }
        return status;
}

static int run_blocked(const struct container_opts *o, const sigset_t *set, int *ret_status,
                       struct cx_error **err)
{
        struct container_opts fg = *o;
        fg.own_console = !o->detach; /* a terminal without --console-socket: proxy it */
        struct create_ctx c;
        _cleanup_close_ int master = -1, sfd = -1;
        int r = create_container(&c, &fg, err);
        if (r < 0)
                return r;
        if ((c.console_peer >= 0 && (r = console_recv_master(c.console_peer, &master, err)) < 0) ||
            (r = start_own(&c, err)) < 0) {
                create_abort(&c);
                return r;
        }
        if (!o->detach && (sfd = signalfd(-1, set, SFD_CLOEXEC)) < 0) {
                r = cx_error_set(err, errno, "signalfd");
                create_abort(&c);
                return r;
        }
        *ret_status = o->detach ? 0 : wait_and_delete(&c, o, sfd, master);
        create_ctx_clear(&c);
        return 0;
}

int container_run(const struct container_opts *o, int *ret_status, struct cx_error **err)
{
        sigset_t old, set;
        if (!o->detach)
                console_block_signals(&old, &set);
        int r = run_blocked(o, &set, ret_status, err);
        if (!o->detach)
                sigprocmask(SIG_SETMASK, &old, NULL);
        return r;
}
