/* linux.sysctl: only sysctls of a namespace the container has its own of (as runc's
 * validator), written under /proc/sys. */
#include "namespaces/ns-internal.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static const char *const ipc_sysctls[] = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
    "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
};

/* ns_rootfs_setup writes the sysctls before /proc/sys may turn read-only; a later call in the
 * same process has nothing left to do. */
static bool sysctls_written;

static bool valid_name(const char *name)
{
        if (*name == '\0' || strchr(name, '/'))
                return false;
        for (const char *p = name; p;) {
                size_t len = strcspn(p, ".");
                if (len == 0)
                        return false; /* "", leading, trailing or doubled dot */
                p = p[len] ? p + len + 1 : NULL;
        }
        return true;
}

static bool is_ipc_sysctl(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(ipc_sysctls); i++)
                if (strcmp(name, ipc_sysctls[i]) == 0)
                        return true;
        return str_has_prefix(name, "fs.mqueue.");
}

/* A joined network namespace must not be the host's (the caller's). */
static int net_ns_is_host(const char *path, struct cx_error **err)
{
        struct stat a, b;
        if (stat(path, &a) < 0)
                return cx_error_set(err, errno, "linux.namespaces: stat `%s`", path);
        if (stat("/proc/self/ns/net", &b) < 0)
                return cx_error_set(err, errno, "stat /proc/self/ns/net");
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int check_one(const struct ns_config *s, const char *name, struct cx_error **err)
{
        const struct spec_namespace *ns = s->linux_->ns;

        if (!valid_name(name))
                return cx_error_msg(err, EINVAL, "linux.sysctl: \"%s\" is not a valid sysctl name",
                                    name);
        if (is_ipc_sysctl(name)) {
                if (ns[SPEC_NS_IPC].present)
                        return 0;
                return cx_error_msg(err, EINVAL,
                                    "linux.sysctl: \"%s\" is not allowed in the "
                                    "host's IPC namespace",
                                    name);
        }
        if (str_has_prefix(name, "net.")) {
                int r = 0;
                if (ns[SPEC_NS_NETWORK].present && ns[SPEC_NS_NETWORK].path)
                        r = net_ns_is_host(ns[SPEC_NS_NETWORK].path, err);
                if (r < 0)
                        return r;
                if (ns[SPEC_NS_NETWORK].present && r == 0)
                        return 0;
                return cx_error_msg(err, EINVAL,
                                    "linux.sysctl: \"%s\" is not allowed in the "
                                    "host's network namespace",
                                    name);
        }
        if (ns[SPEC_NS_UTS].present && strcmp(name, "kernel.domainname") == 0)
                return 0;
        if (ns[SPEC_NS_UTS].present && strcmp(name, "kernel.hostname") == 0)
                return cx_error_msg(err, EINVAL,
                                    "linux.sysctl: \"kernel.hostname\" is not allowed: it "
                                    "conflicts with the `hostname` field (set that instead)");
        return cx_error_msg(err, EINVAL,
                            "linux.sysctl: \"%s\" is not in a separate kernel "
                            "namespace",
                            name);
}

int ns_sysctl_validate(const struct ns_config *s, struct cx_error **err)
{
        for (size_t i = 0; i < s->linux_->n_sysctl; i++) {
                int r = check_one(s, s->linux_->sysctl[i].key, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_one(const struct spec_kv *kv, struct cx_error **err)
{
        char path[512];
        size_t n = (size_t)snprintf(path, sizeof(path), "/proc/sys/%s", kv->key);
        if (n >= sizeof(path) || !valid_name(kv->key))
                return cx_error_msg(err, EINVAL, "linux.sysctl: \"%s\" is not a valid sysctl name",
                                    kv->key);
        for (char *p = path + strlen("/proc/sys/"); *p; p++)
                if (*p == '.')
                        *p = '/';

        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return cx_error_set(err, errno, "linux.sysctl: open %s", path);
        const char *v = kv->value ? kv->value : "";
        size_t len = strlen(v);
        ssize_t w = write(fd, v, len);
        if (w < 0 || (size_t)w != len)
                return cx_error_set(err, w < 0 ? errno : EIO, "linux.sysctl: write \"%s\" to %s", v,
                                    path);
        return 0;
}

int ns_sysctl_apply(const struct spec_linux *l, struct cx_error **err)
{
        if (sysctls_written)
                return 0;
        for (size_t i = 0; i < l->n_sysctl; i++) {
                int r = write_one(&l->sysctl[i], err);
                if (r < 0)
                        return r;
        }
        sysctls_written = true;
        return 0;
}
