/* exec --cgroup: run a process in a sub-cgroup of the container's cgroup (see cgroups.h,
 * cg_manager_narrow).  runc's syntax: [CONTROLLER[,CONTROLLER...]:]PATH, repeatable. */
#include "cgroups/cgroups-internal.h"

#include <string.h>
#include <sys/stat.h>

/* "a//b/./c/" -> "a/b/c"; "" or "/" -> "".  `..` anywhere is refused: the process must stay
 * inside the container's cgroup (runc checks only a string prefix after joining). */
static int normalize_sub(const char *arg, const char *path, char **ret, struct cx_error **err)
{
        _cleanup_free_ char *copy = xstrdup(path);
        _cleanup_free_ char *out = xstrdup("");
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                if (strcmp(c, "..") == 0)
                        return cx_error_msg(err, EINVAL,
                                            "exec --cgroup `%s`: %s is not a sub cgroup path (`..` "
                                            "would leave the container's cgroup)",
                                            arg, path);
                char *next = xasprintf("%s%s%s", out, *out ? "/" : "", c);
                free(out);
                out = next;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* Sets subs[i] for the hierarchies arg names; an earlier, different path for one of them is
 * an error.  subs[i] are owned by the caller. */
static int assign(struct cg_manager *m, const char *arg, const char *ctrl, const char *sub,
                  char **subs, struct cx_error **err)
{
        bool found = false;
        for (size_t i = 0; i < m->n_dirs; i++) {
                const struct cg_mount *mnt = m->dirs[i].mnt;
                if (*ctrl && !(mnt && !mnt->v2 && cg_mount_has(mnt, ctrl)))
                        continue;
                found = true;
                if (subs[i] && strcmp(subs[i], sub) != 0)
                        return cx_error_msg(err, EINVAL,
                                            "exec --cgroup `%s`: %s already has sub cgroup `%s`",
                                            arg, m->dirs[i].path, subs[i]);
                free(subs[i]);
                subs[i] = xstrdup(sub);
        }
        if (!found)
                return cx_error_msg(err, EINVAL,
                                    "exec --cgroup `%s`: unknown controller %s (the container's "
                                    "cgroup has no v1 hierarchy with it)",
                                    arg, ctrl);
        return 0;
}

static int parse_arg(struct cg_manager *m, const char *arg, size_t n_args, char **subs,
                     struct cx_error **err)
{
        const char *colon = strchr(arg, ':');
        if (colon && strchr(colon + 1, ':'))
                return cx_error_msg(err, EINVAL, "invalid --cgroup argument: %s", arg);
        _cleanup_free_ char *sub = NULL;
        int r = normalize_sub(arg, colon ? colon + 1 : arg, &sub, err);
        if (r < 0)
                return r;
        if (!colon) {
                if (n_args != 1)
                        return cx_error_msg(err, EINVAL,
                                            "invalid --cgroup argument: %s (missing "
                                            "<controller>: prefix)",
                                            arg);
                return assign(m, arg, "", sub, subs, err);
        }
        _cleanup_free_ char *ctrls = strndup(arg, (size_t)(colon - arg));
        if (!ctrls)
                return cx_error_set(err, ENOMEM, "exec --cgroup");
        if (!*ctrls) /* ":PATH": every hierarchy, as runc */
                return assign(m, arg, "", sub, subs, err);
        char *save = NULL;
        for (char *c = strtok_r(ctrls, ",", &save); c; c = strtok_r(NULL, ",", &save))
                if ((r = assign(m, arg, c, sub, subs, err)) < 0)
                        return r;
        return 0;
}

int cg_manager_narrow(struct cg_manager *m, char *const *args, struct cx_error **err)
{
        size_t n_args = strv_len(args);
        if (n_args == 0)
                return 0;
        char **subs = xcalloc(m->n_dirs, sizeof(char *));
        int r = 0;
        for (size_t a = 0; a < n_args && r >= 0; a++)
                r = parse_arg(m, args[a], n_args, subs, err);
        for (size_t i = 0; i < m->n_dirs && r >= 0; i++) {
                if (!subs[i] || !*subs[i])
                        continue; /* this hierarchy: the container's own cgroup */
                char *path = xasprintf("%s/%s", m->dirs[i].path, subs[i]);
                struct stat st;
                int q = stat(path, &st) < 0 ? -errno : 0;
                if (q == -ENOENT)
                        r = cx_error_msg(err, ENOENT,
                                         "exec --cgroup: sub cgroup `%s` does not exist (adding "
                                         "pid to it: %s/cgroup.procs: no such file or directory)",
                                         subs[i], path);
                else if (q < 0)
                        r = cx_error_set(err, -q, "exec --cgroup: `%s`", path);
                else if (!S_ISDIR(st.st_mode))
                        r = cx_error_msg(err, ENOTDIR, "exec --cgroup: `%s` is not a cgroup", path);
                if (r < 0) {
                        free(path);
                        break;
                }
                free(m->dirs[i].path);
                m->dirs[i].path = path;
                free(m->paths[i]);
                m->paths[i] = xstrdup(path);
        }
        for (size_t i = 0; i < m->n_dirs; i++)
                free(subs[i]);
        free(subs);
        return r;
}
