/* Migration's framing: typed, length-prefixed frames over the TLS stream, the JSON payloads,
 * and files sent as a FILE header followed by DATA frames. */
#include "checkpoint/migrate-internal.h"
#include "util/json.h"

#include <dirent.h>
#include <inttypes.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

static const char *const type_names[] = {
    [MIG_HELLO] = "HELLO",
    [MIG_OK] = "OK",
    [MIG_ERROR] = "ERROR",
    [MIG_ROUND] = "ROUND",
    [MIG_PAGE_SERVER] = "PAGE_SERVER",
    [MIG_ROUND_DONE] = "ROUND_DONE",
    [MIG_ROUND_BYTES] = "ROUND_BYTES",
    [MIG_FILE] = "FILE",
    [MIG_DATA] = "DATA",
    [MIG_END] = "END",
    [MIG_MANIFEST_REQ] = "MANIFEST_REQ",
    [MIG_ENTRY] = "ENTRY",
    [MIG_RESTORE] = "RESTORE",
    [MIG_RESTORED] = "RESTORED",
    [MIG_COMMIT] = "COMMIT",
    [MIG_DONE] = "DONE",
};

const char *mig_type_name(uint32_t type)
{
        return type < ARRAY_SIZE(type_names) && type_names[type] ? type_names[type] : "unknown";
}

void mig_conn_close(struct mig_conn *c)
{
        mig_tls_free(c->tls);
        c->tls = NULL;
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

void mig_header_encode(uint32_t type, uint32_t len, uint8_t h[8])
{
        for (int i = 0; i < 4; i++) {
                h[i] = (uint8_t)(type >> (24 - 8 * i));
                h[4 + i] = (uint8_t)(len >> (24 - 8 * i));
        }
}

int mig_header_decode(const uint8_t h[8], uint32_t *ret_type, uint32_t *ret_len,
                      struct cx_error **err)
{
        uint32_t type = 0, len = 0;
        for (int i = 0; i < 4; i++) {
                type = type << 8 | h[i];
                len = len << 8 | h[4 + i];
        }
        if (type == 0 || type >= ARRAY_SIZE(type_names))
                return cx_error_msg(err, EBADMSG, "unknown message type %u", type);
        if (len > MIG_FRAME_MAX)
                return cx_error_msg(err, EBADMSG, "%s message of %u bytes (at most %u)",
                                    mig_type_name(type), len, MIG_FRAME_MAX);
        *ret_type = type;
        *ret_len = len;
        return 0;
}

static int io_fail(struct mig_conn *c, int r, bool sending, struct cx_error **err)
{
        const char *why = c->tls ? mig_tls_last_error(c->tls) : NULL;
        if (why)
                return cx_error_msg(err, -r, "%s %s: %s", sending ? "sending to" : "receiving from",
                                    c->peer, why);
        if (r == -ECONNRESET)
                return cx_error_msg(err, ECONNRESET, "%s closed the connection", c->peer);
        return cx_error_set(err, -r, "%s %s", sending ? "sending to" : "receiving from", c->peer);
}

static int raw_write(struct mig_conn *c, const void *buf, size_t len)
{
        if (c->tls)
                return mig_tls_write(c->tls, buf, len);
        return write_all(c->fd, buf, len);
}

static int raw_read(struct mig_conn *c, void *buf, size_t len)
{
        if (c->tls)
                return mig_tls_read(c->tls, buf, len);
        char *p = buf;
        while (len > 0) {
                ssize_t n = read(c->fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -ECONNRESET;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int mig_send(struct mig_conn *c, uint32_t type, const void *payload, size_t len,
             struct cx_error **err)
{
        if (len > MIG_FRAME_MAX)
                return cx_error_msg(err, EMSGSIZE, "%s message of %zu bytes (at most %u)",
                                    mig_type_name(type), len, MIG_FRAME_MAX);
        uint8_t h[8];
        mig_header_encode(type, (uint32_t)len, h);
        int r = raw_write(c, h, sizeof(h));
        if (r >= 0 && len > 0)
                r = raw_write(c, payload, len);
        return r < 0 ? io_fail(c, r, true, err) : 0;
}

void mig_send_error(struct mig_conn *c, const struct cx_error *e)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "message", e && e->msg ? e->msg : "failed");
        json_w_obj_close(w);
        _cleanup_free_ char *s = json_w_finish(w, false);
        _cleanup_error_ struct cx_error *ignored = NULL;
        mig_send(c, MIG_ERROR, s, strlen(s), &ignored);
}

int mig_recv(struct mig_conn *c, uint32_t *ret_type, char **ret, size_t *ret_len,
             struct cx_error **err)
{
        uint8_t h[8];
        uint32_t type, len;
        int r = raw_read(c, h, sizeof(h));
        if (r < 0)
                return io_fail(c, r, false, err);
        if ((r = mig_header_decode(h, &type, &len, err)) < 0)
                return cx_error_prefix(err, "from %s", c->peer);
        _cleanup_free_ char *p = xmalloc((size_t)len + 1);
        if (len > 0 && (r = raw_read(c, p, len)) < 0)
                return io_fail(c, r, false, err);
        p[len] = '\0';
        if (type == MIG_ERROR) {
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                _cleanup_error_ struct cx_error *perr = NULL;
                const char *msg = NULL;
                if (json_parse(p, len, "ERROR", &v, &perr) >= 0)
                        msg = json_val_str(json_val_get(v, "message"));
                return cx_error_msg(err, EREMOTEIO, "%s: %s", c->peer, msg ? msg : "failed");
        }
        *ret_type = type;
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(p);
        return 0;
}

int mig_recv_json(struct mig_conn *c, uint32_t want, struct json_val **ret, struct cx_error **err)
{
        uint32_t type;
        size_t len;
        _cleanup_free_ char *p = NULL;
        int r = mig_recv(c, &type, &p, &len, err);
        if (r < 0)
                return r;
        if (type != want)
                return cx_error_msg(err, EPROTO, "%s sent %s where %s was expected", c->peer,
                                    mig_type_name(type), mig_type_name(want));
        if ((r = json_parse(p, len, mig_type_name(type), ret, err)) < 0)
                return cx_error_prefix(err, "from %s", c->peer);
        if (json_val_type(*ret) != JSON_OBJECT) {
                json_val_free(TAKE_PTR(*ret));
                return cx_error_msg(err, EPROTO, "%s sent a %s that is not a JSON object", c->peer,
                                    mig_type_name(type));
        }
        return 0;
}

int mig_send_json(struct mig_conn *c, uint32_t type, const char *json, struct cx_error **err)
{
        if (!json)
                json = "{}";
        return mig_send(c, type, json, strlen(json), err);
}

/* ---- entries ------------------------------------------------------------------------------ */
void mig_entry_clear(struct mig_entry *e)
{
        free(e->area);
        free(e->path);
        free(e->target);
        *e = (struct mig_entry){0};
}

char *mig_entry_json(const struct mig_entry *e)
{
        struct json_w *w = json_w_new(NULL);
        char t[2] = {(char)e->type, '\0'};
        json_w_obj_open(w);
        json_w_key_str(w, "area", e->area);
        json_w_key_str(w, "path", e->path);
        json_w_key_str(w, "type", t);
        json_w_key_u64(w, "mode", e->mode);
        json_w_key_u64(w, "uid", e->uid);
        json_w_key_u64(w, "gid", e->gid);
        json_w_key_u64(w, "size", e->size);
        json_w_key_int(w, "mtime", e->mtime_ns);
        if (e->target)
                json_w_key_str(w, "target", e->target);
        json_w_obj_close(w);
        return json_w_finish(w, false);
}

int mig_path_check(const char *path, struct cx_error **err)
{
        if (!path || !*path || path[0] == '/')
                return cx_error_msg(err, EINVAL, "path `%s`: not a relative path",
                                    path ? path : "");
        for (const char *p = path; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return cx_error_msg(err, EINVAL, "path `%s`: empty, `.` or `..` component",
                                            path);
                if (memchr(p, '\n', n))
                        return cx_error_msg(err, EINVAL,
                                            "path `%s`: a newline in a name (not "
                                            "migrated)",
                                            path);
                p += n;
                if (*p == '/')
                        p++;
                if (!*p && p[-1] == '/')
                        return cx_error_msg(err, EINVAL, "path `%s`: trailing slash", path);
        }
        return 0;
}

static bool get_u64(const struct json_val *v, const char *key, uint64_t max, uint64_t *ret)
{
        int64_t x;
        if (!json_val_int(json_val_get(v, key), &x) || x < 0 || (uint64_t)x > max)
                return false;
        *ret = (uint64_t)x;
        return true;
}

int mig_entry_parse(const struct json_val *v, struct mig_entry *ret, struct cx_error **err)
{
        const char *area = json_val_str(json_val_get(v, "area"));
        const char *path = json_val_str(json_val_get(v, "path"));
        const char *type = json_val_str(json_val_get(v, "type"));
        const char *target = json_val_str(json_val_get(v, "target"));
        uint64_t mode, uid, gid, size;
        int64_t mtime;
        *ret = (struct mig_entry){0};
        if (!area || !path || !type || strlen(type) != 1 || !strchr("fdlx", type[0]) ||
            !get_u64(v, "mode", 07777, &mode) || !get_u64(v, "uid", UINT32_MAX, &uid) ||
            !get_u64(v, "gid", UINT32_MAX, &gid) || !get_u64(v, "size", INT64_MAX, &size) ||
            !json_val_int(json_val_get(v, "mtime"), &mtime))
                return cx_error_msg(err, EPROTO,
                                    "a file entry without area, path, type (f, d, l "
                                    "or x), mode, uid, gid, size and mtime");
        int r = mig_path_check(path, err);
        if (r < 0)
                return r;
        if (type[0] == MIG_F_LNK && (!target || !*target))
                return cx_error_msg(err, EPROTO, "symlink `%s` without a target", path);
        *ret = (struct mig_entry){
            .area = xstrdup(area),
            .path = xstrdup(path),
            .type = (enum mig_ftype)type[0],
            .mode = (uint32_t)mode,
            .uid = (uint32_t)uid,
            .gid = (uint32_t)gid,
            .size = size,
            .mtime_ns = mtime,
            .target = target ? xstrdup(target) : NULL,
        };
        return 0;
}

bool mig_entry_same(const struct mig_entry *a, const struct mig_entry *b)
{
        if (a->type != b->type || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid)
                return false;
        switch (a->type) {
        case MIG_F_REG:
                return a->size == b->size && a->mtime_ns == b->mtime_ns;
        case MIG_F_LNK:
                return a->target && b->target && strcmp(a->target, b->target) == 0;
        default:
                return true;
        }
}

int mig_entry_stat(int dirfd, const char *path, const char *area, struct mig_entry *ret,
                   struct cx_error **err)
{
        struct stat st;
        *ret = (struct mig_entry){0};
        if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "stat `%s`", path);
        enum mig_ftype t;
        if (S_ISREG(st.st_mode))
                t = MIG_F_REG;
        else if (S_ISDIR(st.st_mode))
                t = MIG_F_DIR;
        else if (S_ISLNK(st.st_mode))
                t = MIG_F_LNK;
        else
                return cx_error_msg(err, ENOTSUP, "`%s`: a device, fifo or socket (not migrated)",
                                    path);
        _cleanup_free_ char *target = NULL;
        if (t == MIG_F_LNK) {
                target = xcalloc(1, (size_t)st.st_size + 2);
                ssize_t n = readlinkat(dirfd, path, target, (size_t)st.st_size + 1);
                if (n < 0)
                        return cx_error_set(err, errno, "readlink `%s`", path);
                target[n] = '\0';
        }
        *ret = (struct mig_entry){
            .area = xstrdup(area),
            .path = xstrdup(path),
            .type = t,
            .mode = st.st_mode & 07777,
            .uid = st.st_uid,
            .gid = st.st_gid,
            .size = t == MIG_F_REG ? (uint64_t)st.st_size : 0,
            .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
            .target = TAKE_PTR(target),
        };
        return 0;
}

/* ---- files -------------------------------------------------------------------------------- */
int mig_send_file(struct mig_conn *c, int dirfd, const struct mig_entry *e, struct cx_error **err)
{
        _cleanup_free_ char *hdr = mig_entry_json(e);
        int r = mig_send(c, MIG_FILE, hdr, strlen(hdr), err);
        if (r < 0 || e->type != MIG_F_REG)
                return r;
        _cleanup_close_ int fd = openat(dirfd, e->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", e->path);
        _cleanup_free_ char *buf = xmalloc(MIG_DATA_CHUNK);
        uint64_t left = e->size;
        while (left > 0) {
                size_t want = left < MIG_DATA_CHUNK ? (size_t)left : MIG_DATA_CHUNK;
                ssize_t n = read(fd, buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return cx_error_set(err, errno, "read `%s`", e->path);
                if (n == 0) /* shrank since the stat: pad, the receiver expects size bytes */
                        return cx_error_msg(err, EIO, "`%s` shrank while being sent", e->path);
                if ((r = mig_send(c, MIG_DATA, buf, (size_t)n, err)) < 0)
                        return r;
                left -= (uint64_t)n;
        }
        return 0;
}

static int walk_at(int topfd, const char *rel, const struct mig_walk *w, struct cx_error **err)
{
        int fd = openat(topfd, rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s`", rel ? rel : ".");
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return cx_error_set(err, errno, "opendir `%s`", rel ? rel : ".");
        }
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    (!rel && w->skip_top && w->skip_top(de->d_name)))
                        continue;
                _cleanup_free_ char *path =
                    rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
                struct mig_entry e;
                if ((r = mig_entry_stat(topfd, path, w->area, &e, err)) < 0) {
                        if (r != -ENOTSUP || !w->skip_special)
                                break;
                        cx_error_free(TAKE_PTR(*err));
                        r = 0;
                        continue;
                }
                r = w->fn(&e, w->userdata, err);
                if (r >= 0 && e.type == MIG_F_DIR)
                        r = walk_at(topfd, path, w, err);
                mig_entry_clear(&e);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

int mig_walk(int topfd, const struct mig_walk *w, struct cx_error **err)
{
        return walk_at(topfd, NULL, w, err);
}

struct send_tree {
        struct mig_conn *c;
        int topfd;
};

static int send_one(const struct mig_entry *e, void *userdata, struct cx_error **err)
{
        struct send_tree *t = userdata;
        return mig_send_file(t->c, t->topfd, e, err);
}

int mig_send_tree(struct mig_conn *c, int dirfd, const char *area,
                  bool (*skip_top)(const char *name), struct cx_error **err)
{
        struct send_tree t = {.c = c, .topfd = dirfd};
        struct mig_walk w = {.area = area, .skip_top = skip_top, .fn = send_one, .userdata = &t};
        return mig_walk(dirfd, &w, err);
}

/* Opens the directory holding path below dirfd, refusing symlinks on the way (what arrives was
 * checked by mig_path_check; a symlink the peer made earlier must not lead outside). */
static int open_parent(int dirfd, const char *path, const char **ret_name, struct cx_error **err)
{
        const char *slash = strrchr(path, '/');
        *ret_name = slash ? slash + 1 : path;
        if (!slash)
                return fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
        int fd = dup(dirfd);
        if (fd < 0)
                return cx_error_set(err, errno, "dup");
        for (char *save = NULL, *p = strtok_r(dir, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
                int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                int e = errno;
                close(fd);
                if (next < 0)
                        return cx_error_set(err, e, "open the directory of `%s`", path);
                fd = next;
        }
        return fd;
}

static int recv_data(struct mig_conn *c, int fd, const struct mig_entry *e, struct cx_error **err)
{
        uint64_t left = e->size;
        while (left > 0) {
                uint32_t type;
                size_t len;
                _cleanup_free_ char *p = NULL;
                int r = mig_recv(c, &type, &p, &len, err);
                if (r < 0)
                        return r;
                if (type != MIG_DATA || len > left)
                        return cx_error_msg(err, EPROTO,
                                            "%s: %s of `%s` where %" PRIu64
                                            " more bytes were expected",
                                            c->peer, mig_type_name(type), e->path, left);
                if (fd >= 0 && write_all(fd, p, len) < 0)
                        return cx_error_set(err, errno, "write `%s`", e->path);
                left -= len;
        }
        return 0;
}

int mig_recv_file(struct mig_conn *c, int dirfd, const struct mig_entry *e, struct cx_error **err)
{
        const char *name;
        _cleanup_close_ int pfd = open_parent(dirfd, e->path, &name, err);
        if (pfd < 0) {
                int r = pfd;
                if (e->type == MIG_F_REG) { /* keep the stream in step */
                        _cleanup_error_ struct cx_error *ignored = NULL;
                        recv_data(c, -1, e, &ignored);
                }
                return r;
        }
        struct stat st;
        bool exists = fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        if (exists && !(e->type == MIG_F_DIR && S_ISDIR(st.st_mode)) &&
            unlinkat(pfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT) {
                int e_ = errno;
                if (e_ == ENOTEMPTY)
                        rm_rf_at(pfd, name);
                else
                        return cx_error_set(err, e_, "replace `%s`", e->path);
        }
        int r = 0;
        switch (e->type) {
        case MIG_F_DEL:
                return 0;
        case MIG_F_DIR:
                if (mkdirat(pfd, name, 0700) < 0 && errno != EEXIST)
                        return cx_error_set(err, errno, "mkdir `%s`", e->path);
                break;
        case MIG_F_LNK:
                if (symlinkat(e->target, pfd, name) < 0)
                        return cx_error_set(err, errno, "symlink `%s`", e->path);
                break;
        case MIG_F_REG: {
                _cleanup_close_ int fd =
                    openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0) {
                        int e_ = errno;
                        _cleanup_error_ struct cx_error *ignored = NULL;
                        recv_data(c, -1, e, &ignored);
                        return cx_error_set(err, e_, "create `%s`", e->path);
                }
                if ((r = recv_data(c, fd, e, err)) < 0)
                        return r;
                break;
        }
        }
        if (geteuid() == 0 && fchownat(pfd, name, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "chown `%s`", e->path);
        if (e->type != MIG_F_LNK && fchmodat(pfd, name, e->mode, 0) < 0)
                return cx_error_set(err, errno, "chmod `%s`", e->path);
        struct timespec ts[2] = {
            {.tv_nsec = UTIME_OMIT},
            {.tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000},
        };
        if (e->type == MIG_F_REG && utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return cx_error_set(err, errno, "set the times of `%s`", e->path);
        return 0;
}
