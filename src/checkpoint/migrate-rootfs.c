/* The rootfs of a bundle container on the move: the destination holds its own copy of the
 * bundle at the same path; it sends a manifest of it (type, mode, owner, size, mtime, symlink
 * target of every file), the source sends what differs or is missing and the deletions.  The
 * destination moves every file it replaces or deletes into a backup directory and journals each
 * change, so a migration that fails afterwards puts its copy back as it was.
 *
 * Regular files are compared by size and mtime (as rsync does by default): a copy made with
 * `cp -a` or rsync -a compares equal without reading a byte. */
#include "checkpoint/migrate-internal.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>

/* ---- walking the bundle: capsa's backups left out, devices and the like too (the
 * destination's copy keeps its own) ---------------------------------------------------------- */
static bool is_backup(const char *name)
{
        return str_has_prefix(name, MIG_BACKUP_PREFIX);
}

static int walk(int topfd,
                int (*fn)(const struct mig_entry *e, void *userdata, struct cx_error **err),
                void *userdata, struct cx_error **err)
{
        struct mig_walk w = {.area = "rootfs",
                             .skip_top = is_backup,
                             .skip_special = true,
                             .fn = fn,
                             .userdata = userdata};
        return mig_walk(topfd, &w, err);
}

/* ---- destination: the manifest ------------------------------------------------------------- */
static int send_entry(const struct mig_entry *e, void *userdata, struct cx_error **err)
{
        _cleanup_free_ char *j = mig_entry_json(e);
        return mig_send(userdata, MIG_ENTRY, j, strlen(j), err);
}

int mig_rootfs_manifest_send(struct mig_conn *c, int rootfd, struct cx_error **err)
{
        int r = walk(rootfd, send_entry, c, err);
        if (r < 0)
                return cx_error_prefix(err, "the rootfs manifest");
        return mig_send(c, MIG_END, NULL, 0, err);
}

/* ---- source: the diff ---------------------------------------------------------------------- */
struct manifest {
        struct mig_entry *v;
        bool *seen;
        size_t n;
};

static void manifest_clear(struct manifest *m)
{
        for (size_t i = 0; i < m->n; i++)
                mig_entry_clear(&m->v[i]);
        free(m->v);
        free(m->seen);
        *m = (struct manifest){0};
}

static int cmp_entry(const void *a, const void *b)
{
        return strcmp(((const struct mig_entry *)a)->path, ((const struct mig_entry *)b)->path);
}

static int manifest_recv(struct mig_conn *c, struct manifest *m, struct cx_error **err)
{
        size_t cap = 0;
        for (;;) {
                uint32_t type;
                size_t len;
                _cleanup_free_ char *p = NULL;
                int r = mig_recv(c, &type, &p, &len, err);
                if (r < 0)
                        return r;
                if (type == MIG_END)
                        break;
                if (type != MIG_ENTRY)
                        return cx_error_msg(err, EPROTO, "%s sent %s in the rootfs manifest",
                                            c->peer, mig_type_name(type));
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                if ((r = json_parse(p, len, "ENTRY", &v, err)) < 0)
                        return r;
                if (m->n == cap) {
                        cap = cap ? 2 * cap : 256;
                        m->v = xrealloc(m->v, cap * sizeof(*m->v));
                }
                if ((r = mig_entry_parse(v, &m->v[m->n], err)) < 0)
                        return r;
                m->n++;
        }
        qsort(m->v, m->n, sizeof(*m->v), cmp_entry);
        m->seen = xcalloc(m->n ? m->n : 1, sizeof(bool));
        return 0;
}

struct sync {
        struct mig_conn *c;
        int rootfd;
        struct manifest *m;
        uint64_t bytes;
};

static int sync_one(const struct mig_entry *e, void *userdata, struct cx_error **err)
{
        struct sync *s = userdata;
        struct mig_entry *there = bsearch(e, s->m->v, s->m->n, sizeof(*s->m->v), cmp_entry);
        if (there) {
                s->m->seen[there - s->m->v] = true;
                if (mig_entry_same(e, there))
                        return 0;
        }
        s->bytes += e->size;
        return mig_send_file(s->c, s->rootfd, e, err);
}

int mig_rootfs_sync(struct mig_conn *c, int rootfd, uint64_t *ret_bytes, struct cx_error **err)
{
        _cleanup_(manifest_clear) struct manifest m = {0};
        int r = mig_send(c, MIG_MANIFEST_REQ, NULL, 0, err);
        if (r >= 0)
                r = manifest_recv(c, &m, err);
        if (r < 0)
                return cx_error_prefix(err, "the destination's rootfs manifest");
        struct sync s = {.c = c, .rootfd = rootfd, .m = &m};
        if ((r = walk(rootfd, sync_one, &s, err)) < 0)
                return cx_error_prefix(err, "sending the rootfs");
        /* what only the destination has, deepest first ("a/b" sorts after "a") */
        for (size_t i = m.n; i-- > 0;) {
                if (m.seen[i])
                        continue;
                struct mig_entry del = {
                    .area = (char *)"rootfs", .path = m.v[i].path, .type = MIG_F_DEL};
                if ((r = mig_send_file(c, rootfd, &del, err)) < 0)
                        return r;
        }
        *ret_bytes = s.bytes;
        return mig_send(c, MIG_END, NULL, 0, err);
}

/* ---- destination: applying, with a way back ----------------------------------------------- */
/* Journal lines, in the order of the changes: "c\tPATH" (made), "b\tN\tPATH" (the old file
 * moved to BACKUP/N). */
static int journal(int journalfd, const char *line, struct cx_error **err)
{
        if (write_all(journalfd, line, strlen(line)) < 0 || fdatasync(journalfd) < 0)
                return cx_error_set(err, errno, "write the rootfs journal");
        return 0;
}

static int parent_fd(int rootfd, const char *path, const char **ret_name, struct cx_error **err)
{
        const char *slash = strrchr(path, '/');
        *ret_name = slash ? slash + 1 : path;
        if (!slash)
                return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
        int fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", dir);
        return fd;
}

/* Moves the file at path out of the way (into the backup dir) unless it is a directory that
 * stays one; journals what happens to path. */
static int prepare_path(int rootfd, int backupfd, int journalfd, const struct mig_entry *e,
                        unsigned *counter, struct cx_error **err)
{
        const char *name;
        _cleanup_close_ int pfd = parent_fd(rootfd, e->path, &name, err);
        if (pfd < 0)
                return pfd;
        struct stat st;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno != ENOENT)
                        return cx_error_set(err, errno, "stat `%s`", e->path);
                if (e->type == MIG_F_DEL)
                        return 0;
                _cleanup_free_ char *line = xasprintf("c\t%s\n", e->path);
                return journal(journalfd, line, err);
        }
        if (e->type == MIG_F_DIR && S_ISDIR(st.st_mode)) {
                _cleanup_free_ char *line = xasprintf("a\t%o\t%u\t%u\t%s\n", st.st_mode & 07777,
                                                      st.st_uid, st.st_gid, e->path);
                return journal(journalfd, line, err);
        }
        unsigned n = (*counter)++;
        _cleanup_free_ char *bname = xasprintf("%u", n);
        _cleanup_free_ char *line = xasprintf("b\t%u\t%s\n", n, e->path);
        int r = journal(journalfd, line, err);
        if (r < 0)
                return r;
        if (renameat(pfd, name, backupfd, bname) < 0)
                return cx_error_set(err, errno, "move `%s` to the backup directory", e->path);
        return 0;
}

int mig_rootfs_apply(struct mig_conn *c, int rootfd, int backupfd, int journalfd,
                     struct cx_error **err)
{
        unsigned counter = 0;
        for (;;) {
                uint32_t type;
                size_t len;
                _cleanup_free_ char *p = NULL;
                int r = mig_recv(c, &type, &p, &len, err);
                if (r < 0)
                        return r;
                if (type == MIG_END)
                        return 0;
                if (type != MIG_FILE)
                        return cx_error_msg(err, EPROTO, "%s sent %s in the rootfs changes",
                                            c->peer, mig_type_name(type));
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                if ((r = json_parse(p, len, "FILE", &v, err)) < 0)
                        return r;
                struct mig_entry e;
                if ((r = mig_entry_parse(v, &e, err)) < 0)
                        return r;
                r = prepare_path(rootfd, backupfd, journalfd, &e, &counter, err);
                if (r >= 0)
                        r = mig_recv_file(c, rootfd, &e, err);
                if (r < 0)
                        cx_error_prefix(err, "rootfs `%s`", e.path);
                mig_entry_clear(&e);
                if (r < 0)
                        return r;
        }
}

int mig_rootfs_undo(int rootfd, int backupfd, int journalfd, struct cx_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (lseek(journalfd, 0, SEEK_SET) < 0 || read_fd_all(journalfd, &text, &len) < 0)
                return cx_error_set(err, errno, "read the rootfs journal");
        char **lines = NULL;
        size_t n = 0;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                lines = xrealloc(lines, (n + 1) * sizeof(*lines));
                lines[n++] = l;
        }
        int ret = 0;
        for (size_t i = n; i-- > 0;) {
                /* the path is the last field (it may hold tabs) */
                char kind = lines[i][0];
                size_t nf = kind == 'a' ? 5 : kind == 'b' ? 3 : 2;
                char *f[5] = {0};
                char *p = lines[i];
                size_t k = 0;
                for (; k < nf && p; k++) {
                        f[k] = p;
                        char *tab = k + 1 < nf ? strchr(p, '\t') : NULL;
                        if (tab)
                                *tab++ = '\0';
                        p = tab;
                }
                const char *path = k == nf ? f[nf - 1] : NULL;
                if (!path || mig_path_check(path, NULL) < 0)
                        continue; /* a torn last line */
                const char *name;
                _cleanup_error_ struct cx_error *e = NULL;
                _cleanup_close_ int pfd = parent_fd(rootfd, path, &name, &e);
                if (pfd < 0) {
                        ret = ret ?: pfd;
                        continue;
                }
                if (kind == 'a') {
                        fchmodat(pfd, name, (mode_t)strtoul(f[1], NULL, 8), 0);
                        fchownat(pfd, name, (uid_t)strtoul(f[2], NULL, 10),
                                 (gid_t)strtoul(f[3], NULL, 10), AT_SYMLINK_NOFOLLOW);
                        continue;
                }
                rm_rf_at(pfd, name);
                if (kind == 'b' && renameat(backupfd, f[1], pfd, name) < 0 && errno != ENOENT)
                        ret = ret ?: cx_error_set(err, errno, "put `%s` back", path);
        }
        free(lines);
        return ret;
}
