/* The containers made from images, as the store sees them: ROOT/containers/NAME with its image
 * file (the manifest digest) and owner file ("STATEROOT ID").  A container whose STATEROOT/ID is
 * no longer a directory is gone: its dir is an orphan that prune removes.  One that someone
 * holds a flock(2) on (the dir itself) is being made and counts as alive. */
#include "image/image-internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

void img_ctrs_free(struct img_ctr *v, size_t n)
{
        for (size_t i = 0; v && i < n; i++) {
                free(v[i].name);
                free(v[i].image);
                free(v[i].state_dir);
                free(v[i].id);
        }
        free(v);
}

/* A small text file of dirfd, without its trailing newline; NULL when unreadable */
static char *read_line(int dirfd, const char *name)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char *text = NULL;
        size_t len = 0;
        if (fd < 0 || read_fd_all(fd, &text, &len) < 0)
                return NULL;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
                text[--len] = '\0';
        return text;
}

/* owner: "STATEROOT ID", split at the last space (an ID has none).  No owner file: the
 * container is gone (or was never finished).  One that cannot be understood (a relative
 * STATEROOT) is kept as if alive: better a dir left over than one removed under a container. */
static void read_owner(int dirfd, struct img_ctr *c)
{
        _cleanup_free_ char *owner = read_line(dirfd, "owner");
        if (!owner)
                return;
        char *sp = strrchr(owner, ' ');
        if (!sp || sp == owner || owner[0] != '/' || !sp[1] || strchr(sp + 1, '/')) {
                c->id = xstrdup(owner);
                c->alive = true;
                return;
        }
        *sp = '\0';
        c->id = xstrdup(sp + 1);
        c->state_dir = xasprintf("%s/%s", owner, c->id);
        struct stat st;
        if (stat(c->state_dir, &st) == 0)
                c->alive = S_ISDIR(st.st_mode);
        else /* only a state dir known to be gone makes an orphan */
                c->alive = errno != ENOENT && errno != ENOTDIR;
}

static bool is_locked(int fd)
{
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                flock(fd, LOCK_UN);
                return false;
        }
        return errno == EWOULDBLOCK;
}

static void ctr_read(int dirfd, const char *name, struct img_ctr *c)
{
        *c = (struct img_ctr){.name = xstrdup(name)};
        _cleanup_close_ int fd =
            openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        c->locked = is_locked(fd);
        c->image = read_line(fd, "image");
        if (c->image && !image_digest_valid(c->image)) {
                free(c->image);
                c->image = NULL;
        }
        read_owner(fd, c);
}

static int ctr_cmp(const void *a, const void *b)
{
        return strcmp(((const struct img_ctr *)a)->name, ((const struct img_ctr *)b)->name);
}

int img_ctrs_scan(struct image_store *s, struct img_ctr **ret, size_t *ret_n, struct cx_error **err)
{
        int fd = openat(s->root_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "open `%s/containers`", s->root);
        DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return cx_error_set(err, errno, "open `%s/containers`", s->root);
        }
        struct img_ctr *v = NULL;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                v = xrealloc(v, (n + 1) * sizeof(*v));
                ctr_read(fd, de->d_name, &v[n++]);
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), ctr_cmp); /* errors list them in a stable order */
        *ret = v;
        *ret_n = n;
        return 0;
}
