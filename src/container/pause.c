/* pause, resume and update: operations on a living container's cgroup. */
#include "container/internal.h"

#include <string.h>

int container_cgroup_open(const char *root, const char *id, struct state_dir *d, struct state *st,
                          struct cg_manager **m, struct cx_error **err)
{
        int r = state_dir_open(root, id, d, err);
        if (r < 0)
                return r;
        if ((r = state_read(d, st, err)) < 0) {
                state_dir_close(d);
                return r;
        }
        if (!st->cgroup_dirs || !st->cgroup_dirs[0])
                r = cx_error_msg(err, ENOENT, "container `%s` has no cgroup recorded", id);
        else
                r = cg_manager_load(st->cgroup_driver, st->cgroup_dirs, m, err);
        if (r < 0) {
                state_clear(st);
                state_dir_close(d);
        }
        return r;
}

int container_pause(const char *root, const char *id, bool pause, struct cx_error **err)
{
        struct state_dir d;
        struct state st;
        _cleanup_(cg_manager_freep) struct cg_manager *m = NULL;
        int r = container_cgroup_open(root, id, &d, &st, &m, err);
        if (r < 0)
                return r;
        enum state_status s = state_status_get(&d, &st);
        enum state_status need = pause ? STATE_RUNNING : STATE_PAUSED;
        if (s != need)
                r = cx_error_msg(err, EINVAL, "cannot %s container `%s`: it is %s, not %s",
                                 pause ? "pause" : "resume", id, state_status_name(s),
                                 state_status_name(need));
        else
                r = cg_freeze(m, pause, err);
        state_clear(&st);
        state_dir_close(&d);
        return r;
}

int container_update(const char *root, const char *id, const struct spec_resources *res,
                     struct cx_error **err)
{
        struct state_dir d;
        struct state st;
        _cleanup_(cg_manager_freep) struct cg_manager *m = NULL;
        int r = container_cgroup_open(root, id, &d, &st, &m, err);
        if (r < 0)
                return r;
        enum state_status s = state_status_get(&d, &st);
        if (s == STATE_STOPPED || s == STATE_CREATING)
                r = cx_error_msg(err, EINVAL, "cannot update container `%s`: it is %s", id,
                                 state_status_name(s));
        else
                r = cg_apply(m, res, err);
        if (r < 0)
                cx_error_prefix(err, "update container `%s`", id);
        state_clear(&st);
        state_dir_close(&d);
        return r;
}
