/* The mount points of a config's mounts, made in a root before CRIU restores the mounts into
 * it (a fresh copy of a rootfs lacks what the first start created), or before the KVM mode
 * shares it read-only. */
#include "namespaces/ns-internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

bool ns_mount_is_bind(const struct spec_mount *m)
{
        if (m->type && strcmp(m->type, "bind") == 0)
                return true;
        for (char **o = m->options; o && *o; o++)
                if (strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0)
                        return true;
        return false;
}

int ns_mount_targets_make(const char *root, const struct spec_mount *mounts, size_t n,
                          bool binds_only, struct cx_error **err)
{
        _cleanup_close_ int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return cx_error_set(err, errno, "open the root `%s`", root);
        for (size_t i = 0; i < n; i++) {
                const struct spec_mount *m = &mounts[i];
                struct stat st = {.st_mode = S_IFDIR};
                bool bind = ns_mount_is_bind(m);
                if (bind ? !m->source || stat(m->source, &st) < 0 : binds_only)
                        continue;
                _cleanup_close_ int fd = -1;
                int r = ns_resolve_in_root(rootfd, m->destination,
                                           S_ISDIR(st.st_mode) ? NS_CREATE_DIR : NS_CREATE_FILE,
                                           &fd, err);
                if (r < 0)
                        return cx_error_prefix(err, "mounts[%zu]: make `%s` in `%s`", i,
                                               m->destination, root);
        }
        return 0;
}
