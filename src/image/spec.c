/* `capsa spec --image REF`: a bundle to edit by hand — the config.json a container of the image
 * would get, and rootfs/ holding a copy of the image's merged tree.  The tree is read through a
 * read-only overlay of the layers that is never attached (a detached mount, read through
 * /proc/self/fd), and copied by cp(1) -a: owners, modes, xattrs, hard links, sparse files. */
#include "image/image-internal.h"
#include "namespaces/namespaces.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int copy_tree(int mount_fd, const char *dest, struct cx_error **err)
{
        pid_t pid = fork();
        if (pid < 0)
                return cx_error_set(err, errno, "fork");
        if (pid == 0) {
                if (dup2(mount_fd, 3) < 0)
                        _exit(127);
                execlp("cp", "cp", "-a", "--sparse=always", "/proc/self/fd/3/.", dest,
                       (char *)NULL);
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return cx_error_set(err, errno, "waitpid");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return cx_error_msg(err, EIO,
                                    "copy the image's tree into `%s`: cp failed (status %d)", dest,
                                    status);
        return 0;
}

static int write_bundle(struct image_bundle *b, const char *dir, const char *json,
                        struct cx_error **err)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int mfd = -1;
        _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
        if (dfd < 0)
                return cx_error_set(err, errno, "bundle `%s`", dir);
        if (faccessat(dfd, "config.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                return cx_error_msg(err, EEXIST, "`%s/config.json` exists (remove it first)", dir);
        if (mkdirat(dfd, "rootfs", 0755) < 0)
                return cx_error_set(err, errno, "mkdir `%s`%s", rootfs,
                                    errno == EEXIST ? " (remove it first)" : "");
        int r = ns_overlay_lowers_open(b->lowers, b->n_lowers, &mfd, err);
        if (r >= 0)
                r = copy_tree(mfd, rootfs, err);
        if (r >= 0)
                r = write_file_atomic_at(dfd, "config.json", json, strlen(json), err);
        if (r >= 0 && fchmodat(dfd, "config.json", 0644, 0) < 0)
                r = cx_error_set(err, errno, "chmod `%s/config.json`", dir);
        if (r < 0)
                rm_rf_at(dfd, "rootfs");
        return r;
}

int image_spec_write(const char *image_root, const char *ref, const char *dir, bool rootless,
                     struct cx_error **err)
{
        _cleanup_(image_bundle_clear) struct image_bundle b = {.ref_lock_fd = -1};
        struct image_store s = {.root_fd = -1, .lock_fd = -1};
        struct image_run_opts o = {.rootless = rootless};
        _cleanup_free_ char *json = NULL;
        int r = image_open_config(image_root, ref, &o, &s, &b, &json, err);
        if (r >= 0) {
                r = write_bundle(&b, dir, json, err);
                image_store_close(&s);
        }
        return r < 0 ? cx_error_prefix(err, "spec --image %s", ref) : 0;
}
