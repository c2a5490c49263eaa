/* Joining the container's cgroup without the cost of a migration.
 *
 * Moving another process by writing its pid to cgroup.procs takes the global threadgroup
 * rwsem for writing, which waits for an RCU grace period: 6-13 ms per start on this kind of
 * host.  Instead the parent opens every v1 hierarchy's `tasks` file beforehand (the kernel
 * checks permission with the opener's credentials), and the single-threaded init writes "0"
 * to each: a thread moving itself skips that lock (0.1 ms for all hierarchies).  The cgroup2
 * hierarchy is joined at birth with clone3(CLONE_INTO_CGROUP), which needs no migration. */
#include "cgroups/cgroups-internal.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>

int cg_join_open(const struct cg_manager *m, struct cg_join *ret, struct cx_error **err)
{
        *ret = (struct cg_join){.v2_fd = -1};
        char *const *dirs = cg_manager_dirs(m);
        for (size_t i = 0; dirs[i]; i++) {
                _cleanup_close_ int dfd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                struct statfs sf;
                if (dfd < 0 || fstatfs(dfd, &sf) < 0) {
                        cx_error_set(err, errno, "open cgroup `%s`", dirs[i]);
                        goto fail;
                }
                /* the manager knows its cgroup2 dir too (a unit test's fake root is no cgroupfs) */
                if (sf.f_type == CGROUP2_SUPER_MAGIC ||
                    (m->unified >= 0 && (size_t)m->unified == i)) {
                        closep(&ret->v2_fd);
                        ret->v2_fd = TAKE_FD(dfd);
                        continue;
                }
                if (ret->n_tasks == ARRAY_SIZE(ret->tasks_fds)) {
                        cx_error_msg(err, E2BIG, "too many cgroup hierarchies");
                        goto fail;
                }
                int fd = openat(dfd, "tasks", O_WRONLY | O_CLOEXEC);
                if (fd < 0) {
                        cx_error_set(err, errno, "open `%s/tasks`", dirs[i]);
                        goto fail;
                }
                ret->tasks_fds[ret->n_tasks++] = fd;
        }
        return 0;
fail:
        cg_join_close(ret);
        return -((*err)->code ? (*err)->code : EIO);
}

int cg_join_self(const struct cg_join *j, struct cx_error **err)
{
        for (size_t i = 0; i < j->n_tasks; i++)
                if (write(j->tasks_fds[i], "0", 1) != 1)
                        return cx_error_set(err, errno, "join the container's cgroup (tasks)%s",
                                            errno == ENOSPC ? ": its v1 cpuset.cpus or cpuset.mems "
                                                              "is empty"
                                                            : "");
        return 0;
}

void cg_join_close(struct cg_join *j)
{
        for (size_t i = 0; i < j->n_tasks; i++)
                closep(&j->tasks_fds[i]);
        j->n_tasks = 0;
        closep(&j->v2_fd);
}
