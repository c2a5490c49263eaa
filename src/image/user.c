/* The user a container made from an image runs as: names looked up in the image's own
 * /etc/passwd and /etc/group, as they appear in the merged tree of its layers.  The files are
 * read from the layer directories (no overlay is mounted for that); no symlink is followed, so
 * an image cannot make capsa read a file of the host. */
#include "image/image-internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define ID_FILE_MAX (4 << 20)

enum found { FOUND, ABSENT, CONTINUE };

static bool opaque(int dirfd)
{
        char v[2];
        return fgetxattr(dirfd, "trusted.overlay.opaque", v, sizeof(v)) == 1 && v[0] == 'y';
}

/* Looks for etc/NAME in one layer: FOUND (*ret its text), ABSENT (deleted, or hidden by an
 * opaque dir: lower layers do not count) or CONTINUE (this layer says nothing). */
static enum found in_layer(const char *layer, const char *name, char **ret)
{
        const char *comps[] = {"etc", name};
        _cleanup_close_ int dir = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return CONTINUE;
        for (size_t i = 0; i < 2; i++) {
                struct stat st;
                if (fstatat(dir, comps[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return opaque(dir) ? ABSENT : CONTINUE;
                if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
                        return ABSENT; /* whiteout */
                int fd = openat(dir, comps[i],
                                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (i ? 0 : O_DIRECTORY));
                if (fd < 0 || (i == 1 && !S_ISREG(st.st_mode))) {
                        if (fd >= 0)
                                close(fd);
                        return ABSENT; /* a symlink or something odd: not followed */
                }
                close(dir);
                dir = fd;
        }
        size_t len;
        if (read_fd_all(dir, ret, &len) < 0 || len > ID_FILE_MAX) {
                freep(ret);
                return ABSENT;
        }
        return FOUND;
}

static char *id_file(char *const *lowers, size_t n, const char *name)
{
        char *text = NULL;
        for (size_t i = n; i-- > 0;) {
                enum found f = in_layer(lowers[i], name, &text);
                if (f != CONTINUE)
                        return f == FOUND ? text : NULL;
        }
        return NULL;
}

static bool parse_id(const char *s, uint32_t *ret)
{
        uint64_t v;
        if (!s[0] || parse_u64(s, &v) < 0 || v > UINT32_MAX - 1)
                return false;
        *ret = (uint32_t)v;
        return true;
}

/* One line of /etc/passwd or /etc/group at a time, split at ':' (at most 7 fields). */
struct id_line {
        char *buf; /* the current line's copy, fields point into it */
        char *f[7];
        size_t n;
};

static void id_line_clear(struct id_line *l)
{
        free(TAKE_PTR(l->buf));
}

/* The next line of *cursor into l (the previous one freed); false at the end. */
static bool next_line(const char **cursor, struct id_line *l)
{
        id_line_clear(l);
        const char *s = *cursor;
        if (!s || !*s)
                return false;
        const char *nl = strchr(s, '\n');
        l->buf = strndup(s, nl ? (size_t)(nl - s) : strlen(s));
        l->n = 0;
        for (char *p = l->buf, *x; l->n < 7 && (x = strsep(&p, ":"));)
                l->f[l->n++] = x;
        *cursor = nl ? nl + 1 : NULL;
        return true;
}

/* The line whose field `key_field` equals key (name or number); free l->buf after use. */
static bool find_line(const char *text, const char *key, size_t key_field, struct id_line *l)
{
        for (const char *cur = text; next_line(&cur, l);)
                if (l->n >= 4 && l->buf[0] != '#' && strcmp(l->f[key_field], key) == 0)
                        return true;
        return false;
}

static int lookup_user(const char *passwd, const char *user, struct image_user *u, char **ret_name,
                       struct cx_error **err)
{
        _cleanup_(id_line_clear) struct id_line l = {0};
        bool numeric = parse_id(user, &u->uid);
        if (passwd && find_line(passwd, user, numeric ? 2 : 0, &l) && parse_id(l.f[2], &u->uid) &&
            parse_id(l.f[3], &u->gid)) {
                *ret_name = xstrdup(l.f[0]);
                return 0;
        }
        if (!numeric)
                return cx_error_msg(err, ENOENT,
                                    "user `%s`: no such user in the image's /etc/passwd", user);
        return 0;
}

static int lookup_group(const char *group_file, const char *group, uint32_t *gid,
                        struct cx_error **err)
{
        _cleanup_(id_line_clear) struct id_line l = {0};
        if (parse_id(group, gid))
                return 0;
        if (group_file && find_line(group_file, group, 0, &l) && parse_id(l.f[2], gid))
                return 0;
        return cx_error_msg(err, ENOENT, "group `%s`: no such group in the image's /etc/group",
                            group);
}

/* Supplementary groups: every group of /etc/group that lists the user as a member. */
static void member_groups(const char *group_file, const char *name, struct image_user *u)
{
        _cleanup_(id_line_clear) struct id_line l = {0};
        for (const char *cur = group_file; name && next_line(&cur, &l);) {
                uint32_t gid;
                for (char *m = l.n == 4 ? l.f[3] : NULL, *x; m && (x = strsep(&m, ","));)
                        if (strcmp(x, name) == 0 && parse_id(l.f[2], &gid) && gid != u->gid) {
                                u->gids = xrealloc(u->gids, (u->n_gids + 1) * sizeof(uint32_t));
                                u->gids[u->n_gids++] = gid;
                        }
        }
}

int image_user_resolve(char *const *lowers, size_t n_lowers, const char *user,
                       struct image_user *ret, struct cx_error **err)
{
        *ret = (struct image_user){0};
        if (!user || !user[0])
                user = "0";
        _cleanup_free_ char *spec = xstrdup(user);
        _cleanup_free_ char *passwd = id_file(lowers, n_lowers, "passwd");
        _cleanup_free_ char *group = id_file(lowers, n_lowers, "group");
        _cleanup_free_ char *name = NULL;
        char *colon = strchr(spec, ':');
        if (colon)
                *colon = '\0';
        int r = lookup_user(passwd, spec, ret, &name, err);
        if (r >= 0 && colon)
                r = lookup_group(group, colon + 1, &ret->gid, err);
        if (r < 0)
                return cx_error_prefix(err, "--user / the image's User");
        member_groups(group, name, ret);
        return 0;
}
