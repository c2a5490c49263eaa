/* ROOT/ID directories: creation, locking, removal, listing; the derived status. */
#include "state/state.h"
#include "util/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

int state_id_validate(const char *id, struct cx_error **err)
{
        if (!id || !*id)
                return cx_error_msg(err, EINVAL, "invalid container id: the id is empty");
        size_t n = strlen(id);
        if (n > 1024)
                return cx_error_msg(err, EINVAL,
                                    "invalid container id `%.32s...`: longer than 1024 bytes", id);
        if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
                return cx_error_msg(err, EINVAL, "invalid container id `%s`", id);
        for (size_t i = 0; i < n; i++) {
                char c = id[i];
                bool alnum =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (alnum || (i > 0 && (c == '_' || c == '.' || c == '+' || c == '-')))
                        continue;
                return cx_error_msg(
                    err, EINVAL,
                    "invalid container id `%s`: only [A-Za-z0-9] then [A-Za-z0-9_.+-] are allowed",
                    id);
        }
        return 0;
}

static int root_open(const char *root, bool create, struct cx_error **err)
{
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT || !create) {
                if (fd < 0)
                        return cx_error_set(err, errno, "open state root `%s`", root);
                return fd;
        }
        int r = mkdir_p(root, 0711, err);
        if (r < 0)
                return r;
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open state root `%s`", root);
        return fd;
}

static int dir_lock(struct state_dir *d, struct cx_error **err)
{
        if (flock(d->fd, LOCK_EX) < 0)
                return cx_error_set(err, errno, "lock container `%s`", d->id);
        return 0;
}

int state_dir_create(const char *root, const char *id, struct state_dir *ret, struct cx_error **err)
{
        int r = state_id_validate(id, err);
        if (r < 0)
                return r;
        _cleanup_close_ int rfd = root_open(root, true, err);
        if (rfd < 0)
                return rfd;
        if (sys_mkdirat(rfd, id, 0700) < 0) {
                if (errno == EEXIST)
                        return cx_error_msg(err, EEXIST, "container `%s` already exists", id);
                return cx_error_set(err, errno, "create state directory `%s/%s`", root, id);
        }
        int fd = openat(rfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                r = cx_error_set(err, errno, "open state directory `%s/%s`", root, id);
                unlinkat(rfd, id, AT_REMOVEDIR);
                return r;
        }
        *ret = (struct state_dir){
            .root_fd = TAKE_FD(rfd), .fd = fd, .root = xstrdup(root), .id = xstrdup(id)};
        return dir_lock(ret, err);
}

int state_dir_open(const char *root, const char *id, struct state_dir *ret, struct cx_error **err)
{
        int r = state_id_validate(id, err);
        if (r < 0)
                return r;
        _cleanup_close_ int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0 && errno != ENOENT)
                return cx_error_set(err, errno, "open state root `%s`", root);
        int fd = rfd < 0 ? -1 : openat(rfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return cx_error_msg(err, ENOENT, "container `%s` does not exist", id);
                return cx_error_set(err, errno, "open state directory `%s/%s`", root, id);
        }
        *ret = (struct state_dir){
            .root_fd = TAKE_FD(rfd), .fd = fd, .root = xstrdup(root), .id = xstrdup(id)};
        r = dir_lock(ret, err);
        if (r < 0)
                return r;
        /* A concurrent delete may have removed it while we waited for the lock. */
        struct stat st;
        if (fstat(ret->fd, &st) < 0 || st.st_nlink == 0) {
                state_dir_close(ret);
                return cx_error_msg(err, ENOENT, "container `%s` does not exist", id);
        }
        return 0;
}

void state_dir_close(struct state_dir *d)
{
        closep(&d->fd);
        closep(&d->root_fd);
        free(d->root);
        free(d->id);
        *d = (struct state_dir){.fd = -1, .root_fd = -1};
}

int state_dir_remove(struct state_dir *d, struct cx_error **err)
{
        int r = rm_rf_at(d->root_fd, d->id);
        if (r < 0)
                return cx_error_set(err, -r, "remove state directory `%s/%s`", d->root, d->id);
        return 0;
}

int state_pid_start_time(pid_t pid, uint64_t *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return -ESRCH;
        buf[n] = '\0';
        char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
        if (!p)
                return -EIO;
        /* after ") " comes field 3 (state); start time is field 22 */
        char state = p[2];
        if (state == 'Z' || state == 'X')
                return -ESRCH;
        p += 2;
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EIO;
                p++;
        }
        *ret = strtoull(p, NULL, 10);
        return 0;
}

bool state_pid_matches(pid_t pid, uint64_t start_time)
{
        uint64_t t;
        if (pid <= 0 || state_pid_start_time(pid, &t) < 0)
                return false;
        return t == start_time;
}

enum state_status state_status_get(struct state_dir *d, const struct state *s, bool init_alive)
{
        if (!init_alive)
                return s->creating && s->pid == 0 ? STATE_CREATING : STATE_STOPPED;
        if (s->creating)
                return STATE_CREATING;
        struct stat st;
        if (fstatat(d->fd, "exec.fifo", &st, AT_SYMLINK_NOFOLLOW) == 0)
                return STATE_CREATED;
        return STATE_RUNNING;
}

const char *state_status_name(enum state_status s)
{
        static const char *const names[] = {"creating", "created", "running", "paused", "stopped"};
        return names[s];
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list_ids(const char *root, char ***ret, struct cx_error **err)
{
        _cleanup_strv_ char **ids = xcalloc(1, sizeof(char *));
        DIR *dir = opendir(root);
        if (!dir) {
                if (errno != ENOENT)
                        return cx_error_set(err, errno, "open state root `%s`", root);
                *ret = TAKE_PTR(ids);
                return 0;
        }
        struct dirent *de;
        while ((de = readdir(dir)))
                if (de->d_type == DT_DIR && de->d_name[0] != '.' &&
                    state_id_validate(de->d_name, NULL) == 0)
                        strv_append(&ids, de->d_name);
        closedir(dir);
        qsort(ids, strv_len(ids), sizeof(char *), cmp_str);
        *ret = TAKE_PTR(ids);
        return 0;
}

char *state_now_rfc3339(void)
{
        struct timespec ts;
        struct tm tm;
        char buf[64];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
        return xstrdup(buf);
}
