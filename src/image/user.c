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

/* The fields of the line whose field `key_field` equals key (name or number). */
static bool find_line(const char *text, const char *key, size_t key_field, char *fields[7],
                      char **line_buf)
{
        for (const char *l = text; l && *l;) {
                const char *nl = strchr(l, '\n');
                size_t len = nl ? (size_t)(nl - l) : strlen(l);
                char *line = strndup(l, len);
                size_t n = 0;
                for (char *p = line, *f; n < 7 && (f = strsep(&p, ":"));)
                        fields[n++] = f;
                if (n >= 4 && line[0] != '#' && strcmp(fields[key_field], key) == 0) {
                        *line_buf = line;
                        return true;
                }
                free(line);
                l = nl ? nl + 1 : NULL;
        }
        return false;
}

static int lookup_user(const char *passwd, const char *user, struct image_user *u,
                       bool *ret_gid_known, char **ret_name, struct cx_error **err)
{
        char *f[7];
        _cleanup_free_ char *line = NULL;
        bool numeric = parse_id(user, &u->uid);
        if (passwd && find_line(passwd, user, numeric ? 2 : 0, f, &line) &&
            parse_id(f[2], &u->uid) && parse_id(f[3], &u->gid)) {
                *ret_gid_known = true;
                *ret_name = xstrdup(f[0]);
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
        char *f[7];
        _cleanup_free_ char *line = NULL;
        if (parse_id(group, gid))
                return 0;
        if (group_file && find_line(group_file, group, 0, f, &line) && parse_id(f[2], gid))
                return 0;
        return cx_error_msg(err, ENOENT, "group `%s`: no such group in the image's /etc/group",
                            group);
}

/* Supplementary groups: every group of /etc/group that lists the user as a member. */
static void member_groups(const char *group_file, const char *name, struct image_user *u)
{
        for (const char *l = group_file; name && l && *l;) {
                const char *nl = strchr(l, '\n');
                _cleanup_free_ char *line = strndup(l, nl ? (size_t)(nl - l) : strlen(l));
                char *f[4] = {0}, *p = line;
                size_t n = 0;
                for (char *x; n < 4 && (x = strsep(&p, ":"));)
                        f[n++] = x;
                uint32_t gid;
                for (char *m = n == 4 ? f[3] : NULL, *x; m && (x = strsep(&m, ","));)
                        if (strcmp(x, name) == 0 && parse_id(f[2], &gid) && gid != u->gid) {
                                u->gids = xrealloc(u->gids, (u->n_gids + 1) * sizeof(uint32_t));
                                u->gids[u->n_gids++] = gid;
                        }
                l = nl ? nl + 1 : NULL;
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
        bool gid_known = false;
        if (colon)
                *colon = '\0';
        int r = lookup_user(passwd, spec, ret, &gid_known, &name, err);
        if (r >= 0 && colon)
                r = lookup_group(group, colon + 1, &ret->gid, err);
        if (r < 0)
                return cx_error_prefix(err, "--user / the image's User");
        member_groups(group, name, ret);
        return 0;
}
