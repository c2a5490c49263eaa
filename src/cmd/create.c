/* capsa create / capsa run */
#include "cmd/cmd.h"
#include "container/container.h"
#include "image/image.h"
#include "vm/vm.h"

#include <string.h>
#include <sys/prctl.h>

static const char create_help[] =
    "Usage: capsa %s [options] <container-id>\n"
    "       capsa %s --image REF [image options] [options] <container-id> [-- CMD [ARG...]]\n\n"
    "  -b, --bundle DIR          bundle directory (default: current directory)\n"
    "      --pid-file FILE       write the container's init pid to FILE\n"
    "      --console-socket PATH unix socket that receives the terminal's pty master\n"
    "      --preserve-fds N      pass N extra fds (after stdio) to the container\n"
    "      --no-pivot            use chroot instead of pivot_root\n"
    "      --no-new-keyring      keep the caller's session keyring\n"
    "      --tenant NAME         run as tenant NAME: its own id range and hardened defaults\n"
    "      --vm                  run the container in a VM (the KVM mode), as the\n"
    "                            annotation run.oci.handler=vm does\n"
    "      --vm-accel MODE       the VM's accelerator: kvm, tcg or auto (default: kvm\n"
    "                            where /dev/kvm runs guests, else tcg)\n"
    "      --net NAME[:ip=ADDR[,ip=ADDR]]\n"
    "                            attach to network NAME (`capsa net`), as eth0, eth1, ...\n"
    "                            in order; repeatable.  `default` is made on first use\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:PORT[/tcp|udp]\n"
    "                            publish the container's PORT on the host; repeatable\n"
    "%s"
    "\nImage options (the bundle is made from the image; a CMD after `--` replaces its Cmd):\n"
    "      --image REF           an image of the store (`capsa image list`)\n"
    "  -e, --env KEY[=VALUE]     set an environment variable (KEY alone: from capsa's)\n"
    "  -w, --workdir DIR         working directory\n"
    "  -u, --user USER[:GROUP]   user, by name (the image's /etc/passwd) or number\n"
    "      --read-only           mount the root read-only\n"
    "  -t, --tty                 give the process a terminal\n"
    "  -m, --memory SIZE         memory limit (e.g. 64m)\n"
    "      --cpus N              CPU limit (e.g. 0.5)\n"
    "      --pids-limit N        limit on the number of processes\n"
    "  -v, --volume HOST:CTR[:ro|rw]\n"
    "                            bind-mount a host path; repeatable\n";
static const char run_extra[] =
    "  -d, --detach              do not wait for the container to exit\n"
    "      --no-subreaper        do not make capsa a child subreaper (orphaned processes\n"
    "                            of the container are then not reparented to it)\n"
    "      --keep                keep the container's state after it exits\n";

/* no_subreaper: NULL for create (runc's create has no --no-subreaper) */
/* long options of the image without a short form (above the parse() enum's) */
enum { OPT_CPUS = 2000, OPT_PIDS, OPT_READ_ONLY };

struct image_args {
        const char *ref;
        struct image_run_opts run;
        bool any; /* an image option was given */
};

static int parse_cpus(const char *cmd, const char *arg, int64_t *ret)
{
        char *end = NULL;
        double v = strtod(arg, &end);
        if (!end || *end || !(v > 0) || v > 4096)
                return cmd_usage_error(cmd, "--cpus: `%s` is not a positive number of CPUs", arg);
        *ret = (int64_t)(v * 100000 + 0.5);
        return 0;
}

static int parse_limit(const char *cmd, const char *opt, const char *arg, bool size, int64_t *ret)
{
        int r = size ? cmd_parse_size(arg, ret) : parse_i64(arg, ret);
        if (r < 0 || *ret <= 0)
                return cmd_usage_error(cmd, "%s: `%s` is not a positive %s", opt, arg,
                                       size ? "size" : "number");
        return 0;
}

static int parse_args(const char *cmd, int argc, char **argv, struct container_opts *o,
                      struct image_args *img);

/* The options that only make sense with --image: 0, 1 after a usage error, -1 not one. */
static int parse_image_opt(const char *cmd, int c, struct image_args *a)
{
        static char **env, **volumes;
        struct image_run_opts *r = &a->run;
        switch (c) {
        case 'e':
                strv_append(&env, optarg);
                r->env = env;
                return 0;
        case 'v':
                strv_append(&volumes, optarg);
                r->volumes = volumes;
                return 0;
        case 'w':
                r->workdir = optarg;
                return 0;
        case 'u':
                r->user = optarg;
                return 0;
        case 't':
                r->tty = true;
                return 0;
        case 'm':
                return parse_limit(cmd, "--memory", optarg, true, &r->memory);
        case OPT_CPUS:
                return parse_cpus(cmd, optarg, &r->cpu_quota);
        case OPT_PIDS:
                return parse_limit(cmd, "--pids-limit", optarg, false, &r->pids);
        case OPT_READ_ONLY:
                r->read_only = true;
                return 0;
        }
        return -1;
}

/* With --image, options end at the container id: what follows is the command (`run --image
 * REF ID sh -c 'echo hi'`, as docker run); a bundle's options may follow its id (as runc). */
static bool has_image_opt(int argc, char **argv)
{
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
                if (!strcmp(argv[i], "--image") || str_has_prefix(argv[i], "--image="))
                        return true;
        return false;
}

static int parse(const char *cmd, int argc, char **argv, struct container_opts *o,
                 struct image_args *img, bool *no_subreaper)
{
        bool is_run = no_subreaper != NULL;
        /* the container_opts point at these until the command exits */
        static char **nets, **ports;
        enum {
                OPT_PID = 1000,
                OPT_CONSOLE,
                OPT_PRESERVE,
                OPT_NOPIVOT,
                OPT_NOKEYRING,
                OPT_KEEP,
                OPT_TENANT,
                OPT_VM,
                OPT_VM_ACCEL,
                OPT_NO_SUBREAPER,
                OPT_NET,
                OPT_IMAGE,
        };
        static const struct option opts[] = {
            {"bundle", required_argument, NULL, 'b'},
            {"pid-file", required_argument, NULL, OPT_PID},
            {"console-socket", required_argument, NULL, OPT_CONSOLE},
            {"preserve-fds", required_argument, NULL, OPT_PRESERVE},
            {"no-pivot", no_argument, NULL, OPT_NOPIVOT},
            {"no-new-keyring", no_argument, NULL, OPT_NOKEYRING},
            {"detach", no_argument, NULL, 'd'},
            {"keep", no_argument, NULL, OPT_KEEP},
            {"tenant", required_argument, NULL, OPT_TENANT},
            {"vm", no_argument, NULL, OPT_VM},
            {"vm-accel", required_argument, NULL, OPT_VM_ACCEL},
            {"no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER},
            {"net", required_argument, NULL, OPT_NET},
            {"publish", required_argument, NULL, 'p'},
            {"image", required_argument, NULL, OPT_IMAGE},
            {"env", required_argument, NULL, 'e'},
            {"workdir", required_argument, NULL, 'w'},
            {"user", required_argument, NULL, 'u'},
            {"read-only", no_argument, NULL, OPT_READ_ONLY},
            {"tty", no_argument, NULL, 't'},
            {"memory", required_argument, NULL, 'm'},
            {"cpus", required_argument, NULL, OPT_CPUS},
            {"pids-limit", required_argument, NULL, OPT_PIDS},
            {"volume", required_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        cmd_getopt_begin();
        const char *optstring = is_run ? ":b:dp:he:w:u:tm:v:" : ":b:p:he:w:u:tm:v:";
        _cleanup_free_ char *in_order = xasprintf("+%s", optstring);
        while ((c = getopt_long(argc, argv, has_image_opt(argc, argv) ? in_order : optstring, opts,
                                NULL)) != -1) {
                int ir = parse_image_opt(cmd, c, img);
                if (ir >= 0) {
                        img->any = true;
                        if (ir > 0)
                                return ir;
                        continue;
                }
                switch (c) {
                case OPT_IMAGE:
                        img->ref = optarg;
                        break;
                case 'b':
                        o->bundle = optarg;
                        break;
                case OPT_PID:
                        o->pid_file = optarg;
                        break;
                case OPT_CONSOLE:
                        o->console_socket = optarg;
                        break;
                case OPT_PRESERVE:
                        if (cmd_parse_preserve_fds(cmd, optarg, &o->preserve_fds))
                                return 1;
                        break;
                case OPT_NOPIVOT:
                        o->no_pivot = true;
                        break;
                case OPT_NOKEYRING:
                        o->no_new_keyring = true;
                        break;
                case OPT_TENANT:
                        o->tenant = optarg;
                        break;
                case OPT_VM:
                        o->vm = true;
                        break;
                case OPT_VM_ACCEL: {
                        enum vm_accel a;
                        if (vm_accel_parse(optarg, &a) < 0)
                                return cmd_usage_error(cmd,
                                                       "--vm-accel: `%s` is not kvm, tcg "
                                                       "or auto",
                                                       optarg);
                        o->vm_accel = (int)a;
                        o->vm_accel_set = true;
                        break;
                }
                case OPT_NET:
                        strv_append(&nets, optarg);
                        o->nets = nets;
                        break;
                case 'p':
                        strv_append(&ports, optarg);
                        o->ports = ports;
                        break;
                case 'd':
                        if (!is_run)
                                return cmd_usage_error(cmd, "unknown option --detach");
                        o->detach = true;
                        break;
                case OPT_KEEP:
                        if (!is_run)
                                return cmd_usage_error(cmd, "unknown option --keep");
                        o->keep = true;
                        break;
                case OPT_NO_SUBREAPER:
                        if (!is_run)
                                return cmd_usage_error(cmd, "unknown option `--no-subreaper`");
                        *no_subreaper = true;
                        break;
                case 'h':
                        printf(create_help, cmd, cmd, is_run ? run_extra : "");
                        exit(0);
                default:
                        return cmd_option_error(cmd, c, argv);
                }
        }
        return parse_args(cmd, argc, argv, o, img);
}

/* ID, and with --image an optional command after it */
static int parse_args(const char *cmd, int argc, char **argv, struct container_opts *o,
                      struct image_args *img)
{
        if (img->any && !img->ref)
                return cmd_usage_error(cmd, "the image options need --image REF (a bundle's "
                                            "config.json says all of that itself)");
        if (img->ref && o->bundle)
                return cmd_usage_error(cmd, "--image and --bundle exclude each other");
        if (img->ref && optind < argc - 1) {
                int first = optind + 1;
                if (!strcmp(argv[first], "--")) /* ID -- CMD */
                        first++;
                img->run.cmd = first < argc ? argv + first : NULL;
                argc = optind + 1;
        }
        if (cmd_need_args(cmd, argc, optind, 1, "a container id"))
                return 1;
        o->id = argv[optind];
        img->run.id = o->id;
        if (o->keep && o->detach)
                return cmd_usage_error(cmd, "--keep cannot be used with --detach");
        return 0;
}

/* --image: the bundle is made in the image store; a failed create leaves nothing of it. */
static int with_image(const struct global_opts *g, struct container_opts *o,
                      const struct image_args *img, int *status)
{
        struct cx_error *err = NULL;
        _cleanup_(image_bundle_clear) struct image_bundle b = {.ref_lock_fd = -1};
        if (img->ref) {
                if (image_bundle_make(g->image_root, img->ref, o->root, &img->run, &b, &err) < 0)
                        return cmd_fail(err);
                o->bundle = b.dir;
                o->image = &b;
        }
        int r = status ? container_run(o, status, &err) : container_create(o, &err);
        if (r < 0) {
                _cleanup_error_ struct cx_error *e = NULL;
                if (img->ref && image_bundle_release(b.dir, &e) < 0)
                        log_warn("%s", e->msg);
                return cmd_fail(err);
        }
        return 0;
}

int cmd_create(int argc, char **argv, const struct global_opts *g)
{
        struct container_opts o = {0};
        struct image_args img = {0};
        cmd_container_opts_init(&o, g);
        if (parse("create", argc, argv, &o, &img, NULL))
                return 1;
        return with_image(g, &o, &img, NULL);
}

int cmd_run(int argc, char **argv, const struct global_opts *g)
{
        struct container_opts o = {0};
        cmd_container_opts_init(&o, g);
        struct image_args img = {0};
        bool no_subreaper = false;
        if (parse("run", argc, argv, &o, &img, &no_subreaper))
                return 1;
        struct cx_error *err = NULL;
        /* As runc: run is a child subreaper, so that processes the container orphans (without
         * a pid namespace of its own) are reparented to it and reaped, not to the host's init. */
        if (!no_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                cx_error_set(&err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
                return cmd_fail(err);
        }
        int status = 0;
        int r = with_image(g, &o, &img, &status);
        return r ? r : status;
}
