/* The undo record, ROOT/ID/undo: what a container made outside its own processes.
 *
 * Before a step makes a resource, it appends one line naming it ("KIND\tARG\tARG...\n", tabs,
 * newlines and backslashes in an argument escaped as \t, \n and \\).  The write reaches the
 * page cache before the resource exists, so it survives the runtime being killed at any
 * instant; a kind of resource that also survives a reboot of the machine (a directory on
 * disk, a lease file) is marked so, and its line is fdatasync'ed too.  Kernel objects (a
 * process, a cgroup, a mount) vanish with the machine, and their lines need no sync: an
 * fdatasync on a disk-backed state root costs about 1 ms.
 * delete, delete --force after the runtime was killed at any instant, and a failed create all
 * call undo_run, which undoes the entries newest first.  Every undo is idempotent (a resource
 * that was never made or is already gone is no error), so a record whose last resource was
 * never made, or a run that failed half-way and is repeated, undoes exactly what exists.  A
 * line cut short by a kill (no newline) names a resource that was not made yet: it is skipped.
 *
 * A new kind of resource registers its undo in `kinds` below. */
#include "container/internal.h"

#include <fcntl.h>
#include <string.h>

#define UNDO_FILE "undo"

struct undo_kind {
        const char *name;
        int (*undo)(struct state_dir *d, char *const *args, struct cx_error **err);
        bool survives_reboot; /* on disk: its line is fdatasync'ed */
};

static void escape_into(char **buf, size_t *len, const char *s)
{
        for (; *s; s++) {
                const char *e = *s == '\t'   ? "\\t"
                                : *s == '\n' ? "\\n"
                                : *s == '\\' ? "\\\\"
                                             : NULL;
                size_t n = e ? 2 : 1;
                *buf = xrealloc(*buf, *len + n + 1);
                memcpy(*buf + *len, e ? e : s, n);
                *len += n;
        }
}

static const struct undo_kind *kind_find(const char *name);

int undo_append(struct state_dir *d, const char *kind, char *const *args, struct cx_error **err)
{
        const struct undo_kind *k = kind_find(kind);
        if (!k)
                return cx_error_msg(err, EINVAL, "undo record: unknown kind of resource `%s`",
                                    kind);
        _cleanup_free_ char *line = NULL;
        size_t len = 0;
        escape_into(&line, &len, kind);
        for (size_t i = 0; args && args[i]; i++) {
                line = xrealloc(line, len + 2);
                line[len++] = '\t';
                escape_into(&line, &len, args[i]);
        }
        line = xrealloc(line, len + 2);
        line[len++] = '\n';
        _cleanup_close_ int fd =
            openat(d->fd, UNDO_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return cx_error_set(err, errno, "open the undo record of container `%s`", d->id);
        if (write(fd, line, len) != (ssize_t)len || (k->survives_reboot && fdatasync(fd) < 0))
                return cx_error_set(err, errno, "write the undo record of container `%s`", d->id);
        return 0;
}

int undo_retract(struct state_dir *d, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_file_at(d->fd, UNDO_FILE, &text, &len, err);
        if (r < 0)
                return r;
        size_t end = len;
        if (end > 0 && text[end - 1] == '\n')
                end--;
        while (end > 0 && text[end - 1] != '\n')
                end--;
        _cleanup_close_ int fd = openat(d->fd, UNDO_FILE, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || ftruncate(fd, (off_t)end) < 0 || fdatasync(fd) < 0)
                return cx_error_set(err, errno, "write the undo record of container `%s`", d->id);
        return 0;
}

/* Splits one record line (without its newline) into its unescaped fields. */
static char **split_line(const char *line)
{
        char **v = xcalloc(1, sizeof(char *));
        size_t cap = strlen(line) + 1;
        char *cur = xmalloc(cap), *o = cur;
        for (const char *p = line;; p++) {
                if (*p == '\t' || !*p) {
                        *o = '\0';
                        strv_append(&v, cur);
                        o = cur;
                        if (!*p)
                                break;
                } else if (*p == '\\' && p[1]) {
                        p++;
                        *o++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
                } else {
                        *o++ = *p;
                }
        }
        free(cur);
        return v;
}

/* ---- the kinds ----------------------------------------------------------------------------- */

/* "process PID START_TIME": a helper or init process, killed if it is still that process. */
static int undo_process(struct state_dir *d, char *const *args, struct cx_error **err)
{
        (void)d;
        if (!args[0] || !args[1])
                return cx_error_msg(err, EINVAL,
                                    "undo record: `process` needs a pid and a start time");
        container_kill_wait((pid_t)strtol(args[0], NULL, 10), strtoull(args[1], NULL, 10));
        return 0;
}

/* "cgroup DRIVER DIR...": the container's cgroup in each hierarchy (cg_destroy kills what is
 * left in it and removes the directories; gone ones are skipped). */
static int undo_cgroup(struct state_dir *d, char *const *args, struct cx_error **err)
{
        (void)d;
        if (!args[0] || !args[1])
                return 0;
        struct cg_manager *cg = NULL;
        int r = cg_manager_load(args[0], args + 1, &cg, err);
        if (r >= 0)
                r = cg_destroy(cg, err);
        cg_manager_free(cg);
        return r;
}

/* "host-mounts ROOTFS": mounts left beneath ROOTFS in a shared mount namespace. */
static int undo_host_mounts(struct state_dir *d, char *const *args, struct cx_error **err)
{
        return container_host_mounts_undo(d, args[0], err);
}

/* "net NETWORK HOST_VETH": the container's endpoint on a network (rules, veth, ports,
 * leases); the leases live in ROOT/networks and survive a reboot with it. */
static int undo_net(struct state_dir *d, char *const *args, struct cx_error **err)
{
        if (!args[0] || !args[1])
                return cx_error_msg(err, EINVAL, "undo record: `net` needs a network and a veth");
        return container_net_detach(d, args[0], args[1], err);
}

/* "image DIR": the container's upper, work and config in the image store (a reference that
 * keeps `image rm` and `prune` off its layers); on disk, it survives a reboot. */
static int undo_image(struct state_dir *d, char *const *args, struct cx_error **err)
{
        if (!args[0])
                return cx_error_msg(err, EINVAL, "undo record: `image` needs a directory");
        return image_bundle_release(args[0], err);
}

static const struct undo_kind kinds[] = {
    {UNDO_PROCESS, undo_process, false},
    {UNDO_CGROUP, undo_cgroup, false},
    {UNDO_HOST_MOUNTS, undo_host_mounts, false},
    {UNDO_NET, undo_net, true},
    {UNDO_IMAGE, undo_image, true},
};

static const struct undo_kind *kind_find(const char *name)
{
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
                if (strcmp(name, kinds[k].name) == 0)
                        return &kinds[k];
        return NULL;
}

static int undo_one(struct state_dir *d, const char *line, struct cx_error **err)
{
        _cleanup_strv_ char **f = split_line(line);
        const struct undo_kind *k = kind_find(f[0]);
        if (k)
                return k->undo(d, f + 1, err);
        return cx_error_msg(err, EINVAL,
                            "undo record of container `%s`: unknown kind of resource `%s`", d->id,
                            f[0]);
}

int undo_run(struct state_dir *d, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_file_at(d->fd, UNDO_FILE, &text, &len, err);
        if (r == -ENOENT) {
                cx_error_freep(err);
                return 0; /* killed before the first resource */
        }
        if (r < 0)
                return r;
        /* complete lines only, newest first */
        size_t end = len;
        while (end > 0 && text[end - 1] != '\n')
                end--;
        while (end > 0) {
                text[end - 1] = '\0';
                size_t start = end - 1;
                while (start > 0 && text[start - 1] != '\n')
                        start--;
                if (text[start] && (r = undo_one(d, text + start, err)) < 0)
                        return r;
                end = start;
        }
        return 0;
}

bool undo_has(struct state_dir *d, const char *kind)
{
        _cleanup_free_ char *text = NULL;
        if (read_file_at(d->fd, UNDO_FILE, &text, NULL, NULL) < 0)
                return false;
        size_t n = strlen(kind);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, kind, n) == 0 && (l[n] == ' ' || l[n] == '\n'))
                        return true;
        return false;
}

int undo_append_process(struct state_dir *d, pid_t pid, uint64_t start_time, struct cx_error **err)
{
        char p[24], t[24];
        snprintf(p, sizeof(p), "%d", (int)pid);
        snprintf(t, sizeof(t), "%llu", (unsigned long long)start_time);
        return undo_append(d, UNDO_PROCESS, (char *[]){p, t, NULL}, err);
}
