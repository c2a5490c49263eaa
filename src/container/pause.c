/* pause, resume and update: operations on a living container, through its launcher. */
#include "container/internal.h"

#include <string.h>

int container_pause(const char *root, const char *id, bool pause, struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        enum state_status need = pause ? STATE_RUNNING : STATE_PAUSED;
        if (h.status != need)
                r = cx_error_msg(err, EINVAL, "cannot %s container `%s`: it is %s, not %s",
                                 pause ? "pause" : "resume", id, state_status_name(h.status),
                                 state_status_name(need));
        else
                r = h.launcher->freeze(&h, pause, err);
        container_close(&h);
        return r;
}

int container_update(const char *root, const char *id, const struct spec_resources *res,
                     struct cx_error **err)
{
        struct container_handle h;
        int r = cg_resources_validate(res, err);
        if (r < 0 || (r = container_open(root, id, &h, err)) < 0)
                return r;
        if (h.status == STATE_STOPPED || h.status == STATE_CREATING)
                r = cx_error_msg(err, EINVAL, "cannot update container `%s`: it is %s", id,
                                 state_status_name(h.status));
        else
                r = h.launcher->update(&h, res, err);
        if (r < 0)
                cx_error_prefix(err, "update container `%s`", id);
        container_close(&h);
        return r;
}

int container_ps_table(const char *root, const char *id, char **ps_args, char **ret,
                       struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        r = h.launcher->ps_table ? h.launcher->ps_table(&h, ps_args, ret, err) : -EOPNOTSUPP;
        container_close(&h);
        return r;
}

int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n,
                   struct cx_error **err)
{
        struct container_handle h;
        int r = container_open(root, id, &h, err);
        if (r < 0)
                return r;
        r = h.launcher->pids(&h, ret, ret_n, err);
        container_close(&h);
        return r;
}
