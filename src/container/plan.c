/* The plan: config.json loaded once, hardened for its tenant, checked before anything is made.
 *
 * Every check that does not need the container's processes runs here, so that a bad config
 * fails with nothing created: the spec's own rules, sysctls, the rootfs, id mappings,
 * capabilities the runtime holds, LSM labels, the terminal and the launcher.  The copy stored
 * in ROOT/ID is read back through container_config(). */
#include "container/internal.h"
#include "vm/vm.h"
#include "security/security.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

static int check_terminal(const struct plan *p, struct cx_error **err)
{
        const struct spec *s = p->spec;
        const struct container_opts *o = &p->opts;
        if (s->process.terminal && !o->console_socket && o->own_console) {
                /* as runc: the pty is proxied to a terminal, stdin's or the controlling one */
                int tty = isatty(STDIN_FILENO) ? dup(STDIN_FILENO)
                                               : open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (tty < 0)
                        return cx_error_set(err, errno,
                                            "process.terminal is true in config.json, but "
                                            "there is no --console-socket and no controlling "
                                            "terminal to proxy it to: open /dev/tty");
                close(tty);
        }
        if (s->process.terminal && !o->console_socket && !o->own_console)
                return cx_error_msg(err, EINVAL,
                                    "process.terminal is true in config.json: --console-socket is "
                                    "required to hand the terminal to the caller");
        if (!s->process.terminal && o->console_socket)
                return cx_error_msg(
                    err, EINVAL,
                    "--console-socket given but process.terminal is false in config.json");
        return 0;
}

static int check_rootfs(const struct ns_rootfs_source *root, struct cx_error **err)
{
        struct stat st;
        if (stat(root->path, &st) < 0)
                return cx_error_set(err, errno, "root.path: rootfs `%s`", root->path);
        if (!S_ISDIR(st.st_mode))
                return cx_error_msg(err, ENOTDIR, "root.path: rootfs `%s` is not a directory",
                                    root->path);
        return 0;
}

static int validate(struct plan *p, struct cx_error **err)
{
        const struct spec *s = p->spec;
        int r;
        if ((r = spec_validate(s, err)) < 0 || (r = ns_mounts_plan(&p->ns, &p->mounts, err)) < 0 ||
            (r = ns_sysctl_validate(&p->ns, err)) < 0 ||
            (r = ns_rootfs_validate(&p->ns, err)) < 0 || (r = check_rootfs(&p->rootfs, err)) < 0 ||
            (r = ns_idmap_validate(&p->ns, &p->rootfs, err)) < 0 ||
            (r = cg_resources_validate(&s->linux_.resources, err)) < 0 ||
            (r = sec_caps_check(&s->process.caps, err)) < 0 ||
            (r = sec_lsm_check(&s->process, err)) < 0 || (r = check_terminal(p, err)) < 0)
                return r;
        return 0;
}

/* --tenant or the annotation: the tenant's range and hardened defaults (tenant-spec.c).  A tenant's
 * rootfs that its range does not own is mounted idmapped. */
static int apply_tenant(struct plan *p, struct cx_error **err)
{
        const char *name = NULL;
        uint32_t first_id;
        bool idmap = false;
        int r = tenant_name(p->opts.tenant, p->spec, &name, err);
        if (r < 0 || !name)
                return r;
        if ((r = state_tenant_acquire(p->opts.root, name, &first_id, &p->tenant_lock, err)) < 0 ||
            (r = tenant_harden(name, first_id, p->spec, &idmap, err)) < 0)
                return r;
        p->tenant = name;
        p->tenant_first_id = first_id;
        if (idmap)
                p->rootfs.kind = NS_ROOTFS_IDMAPPED;
        return 0;
}

/* --image: the root is an overlay of the image's layers (idmapped for a user namespace, which
 * also serves a tenant: no idmapped clone of root.path then). */
static int plan_image(struct plan *p, struct cx_error **err)
{
        const struct image_bundle *b = p->opts.image;
        if (!b)
                return 0;
        if (ns_shares_mount_ns(&p->spec->linux_))
                return cx_error_msg(err, EINVAL,
                                    "--image: the container needs a mount namespace of its own "
                                    "for its overlay root");
        p->rootfs = (struct ns_rootfs_source){.kind = NS_ROOTFS_OVERLAY,
                                              .path = p->spec->root.path,
                                              .lowers = b->lowers,
                                              .n_lowers = b->n_lowers,
                                              .upper = b->upper,
                                              .work = b->work};
        return 0;
}

struct ns_config container_ns_config(const struct spec *s)
{
        return (struct ns_config){
            .root = s->root,
            .mounts = s->mounts,
            .n_mounts = s->n_mounts,
            .linux_ = &s->linux_,
            .process = &s->process,
            .hostname = s->hostname,
            .domainname = s->domainname,
        };
}

int plan_load(const struct container_opts *o, struct plan *p, struct cx_error **err)
{
        *p = (struct plan){.opts = *o, .tenant_lock = -1};
        int r = spec_load(o->bundle ? o->bundle : ".", &p->spec, &p->raw, err);
        if (r < 0)
                return r;
        /* In a new pid namespace nothing of the container can see the init before it execs the
         * user's binary; otherwise (host or joined pid namespace) a container process could
         * open /proc/INIT/exe, so capsa re-executes itself from a protected copy first. */
        const struct spec_namespace *pidns = &p->spec->linux_.ns[SPEC_NS_PID];
        if (o->self_argv && !(pidns->present && !pidns->path) &&
            (r = sec_exe_seal(o->self_argv, err)) < 0)
                goto fail;
        /* systemd socket activation: pass the fds on, as runc does */
        p->opts.preserve_fds += proc_listen_fds(&p->spec->process);
        p->ns = container_ns_config(p->spec);
        p->n_config_mounts = p->spec->n_mounts;
        p->rootfs = (struct ns_rootfs_source){.kind = NS_ROOTFS_DIR, .path = p->spec->root.path};
        if ((r = launcher_for_spec(p->spec, &p->launcher, err)) < 0)
                goto fail;
        if (o->vm || p->spec->vm.present)
                p->launcher = &launcher_vm;
        if (o->vm_accel_set && p->launcher != &launcher_vm) {
                r = cx_error_msg(err, EINVAL,
                                 "--vm-accel: the container does not run in a VM (add --vm, the "
                                 "annotation run.oci.handler=vm or a vm object to config.json)");
                goto fail;
        }
        if ((r = apply_tenant(p, err)) < 0 || (r = plan_image(p, err)) < 0 ||
            (r = plan_network(p, err)) < 0 || (r = validate(p, err)) < 0 ||
            (p->launcher->plan && (r = p->launcher->plan(p, err)) < 0))
                goto fail;
        if (o->restore) /* the processes come from a checkpoint (restore.c) */
                p->launcher = &launcher_restore;
        return 0;
fail:
        plan_clear(p);
        return r;
}

void plan_clear(struct plan *p)
{
        spec_freep(&p->spec);
        free(TAKE_PTR(p->raw));
        closep(&p->tenant_lock);
        ns_mount_plan_clear(&p->mounts);
        if (p->vm) {
                vm_params_clear(p->vm);
                free(TAKE_PTR(p->vm));
        }
        plan_net_clear(&p->net);
}

int container_config(struct state_dir *d, const struct state *st, struct spec **ret,
                     struct cx_error **err)
{
        _cleanup_free_ char *cfg = NULL;
        size_t len = 0;
        _cleanup_free_ char *name = xasprintf("%s/%s/config.json", d->root, d->id);
        int r = read_file_at(d->fd, "config.json", &cfg, &len, err);
        if (r < 0)
                return cx_error_prefix(err, "container `%s`: read `%s`", d->id, name);
        r = spec_parse(cfg, len, name, st->bundle, ret, err);
        return r < 0 ? cx_error_prefix(err, "container `%s`", d->id) : 0;
}
