/* capsa create / capsa run */
#include "cmd/cmd.h"
#include "container/container.h"

#include <string.h>
#include <sys/prctl.h>

static const char create_help[] =
    "Usage: capsa %s [options] <container-id>\n\n"
    "  -b, --bundle DIR          bundle directory (default: current directory)\n"
    "      --pid-file FILE       write the container's init pid to FILE\n"
    "      --console-socket PATH unix socket that receives the terminal's pty master\n"
    "      --preserve-fds N      pass N extra fds (after stdio) to the container\n"
    "      --no-pivot            use chroot instead of pivot_root\n"
    "      --no-new-keyring      keep the caller's session keyring\n"
    "      --tenant NAME         run as tenant NAME: its own id range and hardened defaults\n"
    "      --net NAME[:ip=ADDR[,ip=ADDR]]\n"
    "                            attach to network NAME (`capsa net`), as eth0, eth1, ...\n"
    "                            in order; repeatable.  `default` is made on first use\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:PORT[/tcp|udp]\n"
    "                            publish the container's PORT on the host; repeatable\n"
    "%s";
static const char run_extra[] =
    "  -d, --detach              do not wait for the container to exit\n"
    "      --no-subreaper        do not make capsa a child subreaper (orphaned processes\n"
    "                            of the container are then not reparented to it)\n"
    "      --keep                keep the container's state after it exits\n";

/* no_subreaper: NULL for create (runc's create has no --no-subreaper) */
static int parse(const char *cmd, int argc, char **argv, struct container_opts *o,
                 bool *no_subreaper)
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
                OPT_NO_SUBREAPER,
                OPT_NET,
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
            {"no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER},
            {"net", required_argument, NULL, OPT_NET},
            {"publish", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, is_run ? ":b:dp:h" : ":b:p:h", opts, NULL)) != -1) {
                switch (c) {
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
                        printf(create_help, cmd, is_run ? run_extra : "");
                        exit(0);
                default:
                        return cmd_option_error(cmd, c, argv);
                }
        }
        if (cmd_need_args(cmd, argc, optind, 1, "a container id"))
                return 1;
        o->id = argv[optind];
        if (o->keep && o->detach)
                return cmd_usage_error(cmd, "--keep cannot be used with --detach");
        return 0;
}

static void fill_globals(struct container_opts *o, const struct global_opts *g)
{
        o->root = g->root;
        o->systemd_cgroup = g->systemd_cgroup;
        o->rootless = g->rootless < 0    ? CONTAINER_ROOTLESS_AUTO
                      : g->rootless == 1 ? CONTAINER_ROOTLESS_TRUE
                                         : CONTAINER_ROOTLESS_FALSE;
        o->self_argv = g->argv;
}

int cmd_create(int argc, char **argv, const struct global_opts *g)
{
        struct container_opts o = {0};
        fill_globals(&o, g);
        if (parse("create", argc, argv, &o, NULL))
                return 1;
        struct cx_error *err = NULL;
        if (container_create(&o, &err) < 0)
                return cmd_fail(err);
        return 0;
}

int cmd_run(int argc, char **argv, const struct global_opts *g)
{
        struct container_opts o = {0};
        fill_globals(&o, g);
        bool no_subreaper = false;
        if (parse("run", argc, argv, &o, &no_subreaper))
                return 1;
        struct cx_error *err = NULL;
        /* As runc: run is a child subreaper, so that processes the container orphans (without
         * a pid namespace of its own) are reparented to it and reaped, not to the host's init. */
        if (!no_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                cx_error_set(&err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
                return cmd_fail(err);
        }
        int status = 0;
        if (container_run(&o, &status, &err) < 0)
                return cmd_fail(err);
        return status;
}
