/* capsa: an OCI container runtime.  Global options, then one command from the table. */
#include "vm/vm.h"
#include "cmd/cmd.h"
#include "image/image.h"
#include "net/net.h"

#include <seccomp.h>
#include <string.h>
#include <strings.h>

static const struct command {
        const char *name;
        int (*fn)(int argc, char **argv, const struct global_opts *g);
        const char *help;
} commands[] = {
    {"create", cmd_create, "create a container from a bundle"},
    {"start", cmd_start, "start the user process of a created container"},
    {"run", cmd_run, "create and start a container, then wait for it"},
    {"state", cmd_state, "print the OCI state of a container"},
    {"kill", cmd_kill, "send a signal to a container's init (or all its processes)"},
    {"delete", cmd_delete, "delete a container and everything it holds"},
    {"list", cmd_list, "list containers"},
    {"spec", cmd_spec, "write a default config.json"},
    {"features", cmd_features, "print the OCI features document"},
    {"exec", cmd_exec, "run a process in a running container"},
    {"ps", cmd_ps, "list the processes of a container"},
    {"update", cmd_update, "change the resource limits of a container"},
    {"events", cmd_events, "print resource usage and OOM events of a container"},
    {"pause", cmd_pause, "freeze every process of a container"},
    {"resume", cmd_resume, "thaw a paused container"},
    {"tenant", cmd_tenant, "list tenants (their id ranges and containers) or remove one"},
    {"net", cmd_net, "manage networks: create, list, inspect, rm"},
    {"checkpoint", cmd_checkpoint, "checkpoint a running container with CRIU"},
    {"restore", cmd_restore, "restore a container from a checkpoint"},
    {"image", cmd_image, "manage images: import, pull, list, inspect, tag, rm, prune"},
    {"cni", cmd_cni, "run one CNI plugin command (CNI_COMMAND, config on stdin)"},
    {"migrate", cmd_migrate, "move a running container to another host (live migration)"},
    {"migrate-receive", cmd_migrate_receive, "receive containers from `capsa migrate`"},
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: capsa [global options] <command> [options] [arguments]\n"
                   "       capsa help <command>   (the same as capsa <command> --help)\n\n"
                   "Global options:\n"
                   "  --root DIR            state directory (default /run/capsa; for other users\n"
                   "                        than root $XDG_RUNTIME_DIR/capsa)\n"
                   "  --log FILE            log to FILE\n"
                   "  --log-format FORMAT   text or json\n"
                   "  --debug               debug logging\n"
                   "  --systemd-cgroup      use the systemd cgroup driver\n"
                   "  --rootless MODE       true, false or auto (default): whether a cgroup that\n"
                   "                        cannot be created for lack of permission is tolerated\n"
                   "  --criu PATH           the criu binary for checkpoint and restore (default:\n"
                   "                        criu from PATH)\n"
                   "  --image-root DIR      the image store (default " IMAGE_ROOT_DEFAULT ")\n"
                   "  -v, --version         print the version\n"
                   "  -h, --help            this help\n\nCommands:\n");
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
        fprintf(f, "  %-10s %s\n", "help", "this list, or the help of one command");
}

static void version(void)
{
        const struct scmp_version *v = seccomp_version();
        printf("capsa version %s\nspec: 1.2.0\nlibseccomp: %u.%u.%u\n", CAPSA_VERSION, v->major,
               v->minor, v->micro);
}

/* runc's parseBoolOrAuto: Go's strconv.ParseBool spellings, or "auto" (or empty). */
static int parse_rootless(const char *s, int *ret)
{
        static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
        static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
        if (!*s || strcasecmp(s, "auto") == 0) {
                *ret = -1;
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
                        *ret = strcmp(s, yes[i]) == 0;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_globals(int argc, char **argv, struct global_opts *g)
{
        enum {
                OPT_ROOT = 1000,
                OPT_LOG,
                OPT_LOG_FORMAT,
                OPT_DEBUG,
                OPT_SYSTEMD,
                OPT_ROOTLESS,
                OPT_CRIU,
                OPT_IMAGE_ROOT,
        };
        static const struct option opts[] = {
            {"root", required_argument, NULL, OPT_ROOT},
            {"log", required_argument, NULL, OPT_LOG},
            {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
            {"debug", no_argument, NULL, OPT_DEBUG},
            {"systemd-cgroup", no_argument, NULL, OPT_SYSTEMD},
            {"rootless", required_argument, NULL, OPT_ROOTLESS},
            {"criu", required_argument, NULL, OPT_CRIU},
            {"image-root", required_argument, NULL, OPT_IMAGE_ROOT},
            {"version", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:vh", opts, NULL)) != -1) {
                switch (c) {
                case OPT_ROOT:
                        g->root = optarg;
                        break;
                case OPT_LOG:
                        g->log = optarg;
                        break;
                case OPT_LOG_FORMAT:
                        if (strcmp(optarg, "json") == 0)
                                g->log_format = LOG_FORMAT_JSON;
                        else if (strcmp(optarg, "text") == 0)
                                g->log_format = LOG_FORMAT_TEXT;
                        else
                                return cmd_usage_error(
                                    NULL, "--log-format: `%s` is not text or json", optarg);
                        break;
                case OPT_DEBUG:
                        g->debug = true;
                        break;
                case OPT_SYSTEMD:
                        g->systemd_cgroup = true;
                        break;
                case OPT_ROOTLESS:
                        if (parse_rootless(optarg, &g->rootless) < 0)
                                return cmd_usage_error(
                                    NULL, "--rootless: `%s` is not true, false or auto", optarg);
                        break;
                case OPT_CRIU:
                        if (!*optarg)
                                return cmd_usage_error(NULL, "--criu: empty path");
                        g->criu = optarg;
                        break;
                case OPT_IMAGE_ROOT:
                        if (!*optarg)
                                return cmd_usage_error(NULL, "--image-root: empty path");
                        g->image_root = optarg;
                        break;
                case 'v':
                        version();
                        exit(0);
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        return cmd_option_error(NULL, c, argv);
                }
        }
        return 0;
}

/* The state root without --root: /run/capsa for root; for any other user (as runc) their own
 * $XDG_RUNTIME_DIR/capsa, or /run/capsa only when they may write it.  spec, features and image
 * keep no state there. */
static int default_root(const char *cmd, const char **ret, char **ret_alloc, struct cx_error **err)
{
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        *ret = "/run/capsa";
        if (geteuid() == 0 || strcmp(cmd, "spec") == 0 || strcmp(cmd, "features") == 0 ||
            strcmp(cmd, "image") == 0)
                return 0;
        if (xdg && xdg[0] == '/') {
                *ret = *ret_alloc = xasprintf("%s/capsa", xdg);
                return 0;
        }
        if (access("/run/capsa", W_OK) == 0 || (errno == ENOENT && access("/run", W_OK) == 0))
                return 0;
        return cx_error_msg(err, EACCES,
                            "capsa runs as uid %u and XDG_RUNTIME_DIR is not set (or not an "
                            "absolute path): the default state root /run/capsa is not writable "
                            "by this user; set XDG_RUNTIME_DIR or pass --root DIR",
                            (unsigned)geteuid());
}

static const struct command *find_command(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

/* runc exits 3 for a command it does not know (urfave/cli's "No help topic"). */
#define EXIT_UNKNOWN_COMMAND 3

int main(int argc, char **argv)
{
        /* the guest's /init in the KVM mode (vm/agent.c) */
        if (getpid() == 1 && getenv(VM_AGENT_ENV))
                vm_agent_main(argv);
        struct global_opts g = {.root = NULL, .image_root = IMAGE_ROOT_DEFAULT, .rootless = -1};
        if (parse_globals(argc, argv, &g))
                return 1;
        struct cx_error *err = NULL;
        if (log_init(g.log, g.log_format, g.debug, &err) < 0)
                return cmd_fail(err);
        /* A CNI runtime execs its plugin (here a symlink to capsa, any name) without arguments
         * and with CNI_COMMAND set: capsa is then the plugin (`capsa cni`). */
        if (optind >= argc && getenv("CNI_COMMAND"))
                return net_cni_main(g.root);
        if (optind >= argc) { /* as runc: the help, and success */
                usage(stdout);
                return 0;
        }
        const char *name = argv[optind];
        bool help = strcmp(name, "help") == 0 || strcmp(name, "h") == 0;
        if (help && optind + 1 >= argc) {
                usage(stdout);
                return 0;
        }
        if (help) /* `capsa help CMD` is `capsa CMD --help` */
                name = argv[optind + 1];
        const struct command *cmd = find_command(name);
        if (!cmd) {
                cmd_usage_error(NULL, "unknown command `%s`", name);
                return EXIT_UNKNOWN_COMMAND;
        }
        if (help) {
                char *help_argv[] = {argv[optind + 1], "--help", NULL};
                return cmd->fn(2, help_argv, &g);
        }
        if (g.criu)
                log_debug("criu binary for checkpoint/restore: %s", g.criu);
        _cleanup_free_ char *root = NULL;
        if (!g.root && default_root(name, &g.root, &root, &err) < 0)
                return cmd_fail(err);
        /* create, run and exec re-execute capsa from a protected copy (CVE-2019-5736) once they
         * know the container and whether it needs it (container_opts/container_exec_opts
         * .self_argv). */
        g.argv = argv;
        return cmd->fn(argc - optind, argv + optind, &g);
}
