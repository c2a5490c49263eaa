/* capsa exec: run a process in a container, with runc's flags. */
#include "cmd/cmd.h"
#include "container/container.h"

#include <string.h>

#define EXIT_EXEC_FAILED 255

static const char exec_help[] =
    "Usage: capsa exec [options] <container-id> <command> [args...]\n\n"
    "  -p, --process FILE          JSON process object to run (instead of the command)\n"
    "      --cwd DIR               working directory inside the container\n"
    "  -e, --env KEY=VALUE         set an environment variable (repeatable)\n"
    "  -t, --tty                   allocate a pseudo-terminal\n"
    "  -u, --user UID[:GID]        user (and group) ids to run as\n"
    "  -g, --additional-gids GID   additional group (repeatable)\n"
    "  -c, --cap CAP               add a capability (repeatable)\n"
    "      --no-new-privs          set no_new_privs for the process\n"
    "      --apparmor PROFILE      AppArmor profile for the process\n"
    "      --process-label LABEL   SELinux label for the process\n"
    "  -d, --detach                do not wait for the process\n"
    "      --pid-file FILE         write the process's pid to FILE\n"
    "      --console-socket PATH   unix socket that receives the pty master (with -d -t)\n"
    "      --preserve-fds N        pass N extra fds (after stdio) to the process\n"
    "      --ignore-paused         exec even if the container is paused\n"
    "      --cgroup [CTRL[,CTRL...]:]PATH\n"
    "                              run in an existing sub-cgroup of the container's cgroup:\n"
    "                              in every hierarchy (PATH alone, given once), or in those\n"
    "                              of the named v1 controllers (repeatable)\n";

/* "--tty", "--tty=true", "--tty=false" (urfave/cli booleans, as runc accepts them). */
static int parse_bool_opt(const char *flag, const char *arg, int *ret)
{
        if (!arg || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0)
                *ret = 1;
        else if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0)
                *ret = 0;
        else
                return cmd_usage_error("exec", "%s: `%s` is not true or false", flag, arg);
        return 0;
}

static int parse_id(const char *flag, const char *s, uint32_t *ret)
{
        uint64_t v;
        if (parse_u64(s, &v) < 0 || v > UINT32_MAX - 1)
                return cmd_usage_error("exec", "%s: `%s` is not a numeric id", flag, s);
        *ret = (uint32_t)v;
        return 0;
}

static int parse_user(const char *s, struct container_exec_opts *o)
{
        _cleanup_free_ char *copy = xstrdup(s);
        char *colon = strchr(copy, ':');
        if (colon) {
                *colon = '\0';
                if (parse_id("--user", colon + 1, &o->gid))
                        return 1;
                o->gid_set = true;
        }
        if (parse_id("--user", copy, &o->uid))
                return 1;
        o->user_set = true;
        return 0;
}

static int parse(int argc, char **argv, struct container_exec_opts *o)
{
        enum {
                OPT_CWD = 1000,
                OPT_NNP,
                OPT_APPARMOR,
                OPT_LABEL,
                OPT_PID,
                OPT_CONSOLE,
                OPT_PRESERVE,
                OPT_IGNORE_PAUSED,
                OPT_CGROUP,
        };
        static const struct option opts[] = {
            {"process", required_argument, NULL, 'p'},
            {"cwd", required_argument, NULL, OPT_CWD},
            {"env", required_argument, NULL, 'e'},
            {"tty", optional_argument, NULL, 't'},
            {"user", required_argument, NULL, 'u'},
            {"additional-gids", required_argument, NULL, 'g'},
            {"cap", required_argument, NULL, 'c'},
            {"no-new-privs", optional_argument, NULL, OPT_NNP},
            {"apparmor", required_argument, NULL, OPT_APPARMOR},
            {"process-label", required_argument, NULL, OPT_LABEL},
            {"detach", no_argument, NULL, 'd'},
            {"pid-file", required_argument, NULL, OPT_PID},
            {"console-socket", required_argument, NULL, OPT_CONSOLE},
            {"preserve-fds", required_argument, NULL, OPT_PRESERVE},
            {"ignore-paused", no_argument, NULL, OPT_IGNORE_PAUSED},
            {"cgroup", required_argument, NULL, OPT_CGROUP},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        cmd_getopt_begin();
        /* '+': options end at the container id; what follows is the command */
        while ((c = getopt_long(argc, argv, "+:p:e:tu:g:c:dh", opts, NULL)) != -1) {
                uint32_t gid = 0;
                switch (c) {
                case 'p':
                        o->process_file = optarg;
                        break;
                case OPT_CWD:
                        o->cwd = optarg;
                        break;
                case 'e':
                        if (!strchr(optarg, '='))
                                return cmd_usage_error("exec", "--env: `%s` is not KEY=VALUE",
                                                       optarg);
                        strv_append(&o->env, optarg);
                        break;
                case 't':
                        if (parse_bool_opt("--tty", optarg, &o->tty))
                                return 1;
                        break;
                case 'u':
                        if (parse_user(optarg, o))
                                return 1;
                        break;
                case 'g':
                        if (parse_id("--additional-gids", optarg, &gid))
                                return 1;
                        o->additional_gids =
                            xrealloc(o->additional_gids, (o->n_additional_gids + 1) * sizeof(gid));
                        o->additional_gids[o->n_additional_gids++] = gid;
                        break;
                case 'c':
                        strv_append(&o->caps, optarg);
                        break;
                case OPT_NNP:
                        if (parse_bool_opt("--no-new-privs", optarg, &o->no_new_privs))
                                return 1;
                        break;
                case OPT_APPARMOR:
                        o->apparmor = optarg;
                        break;
                case OPT_LABEL:
                        o->process_label = optarg;
                        break;
                case 'd':
                        o->detach = true;
                        break;
                case OPT_PID:
                        o->pid_file = optarg;
                        break;
                case OPT_CONSOLE:
                        o->console_socket = optarg;
                        break;
                case OPT_PRESERVE:
                        if (cmd_parse_preserve_fds("exec", optarg, &o->preserve_fds))
                                return 1;
                        break;
                case OPT_IGNORE_PAUSED:
                        o->ignore_paused = true;
                        break;
                case OPT_CGROUP:
                        strv_append(&o->cgroups, optarg);
                        break;
                case 'h':
                        printf("%s", exec_help);
                        exit(0);
                default:
                        return cmd_option_error("exec", c, argv);
                }
        }
        if (optind >= argc)
                return cmd_usage_error("exec", "expects a container id and a command");
        o->id = argv[optind];
        if (optind + 1 < argc)
                o->args = argv + optind + 1;
        else if (!o->process_file) /* runc finds this late, and exits 255 */
                return cmd_usage_error("exec", "expects a command after the container id (or "
                                               "--process FILE)"),
                       EXIT_EXEC_FAILED;
        return 0;
}

int cmd_exec(int argc, char **argv, const struct global_opts *g)
{
        struct container_exec_opts o = {
            .root = g->root, .tty = -1, .no_new_privs = -1, .self_argv = g->argv};
        int rc = parse(argc, argv, &o);
        if (rc == 0) {
                struct cx_error *err = NULL;
                int status = 0;
                /* as runc: 255 when the process could not be run (1 for usage errors) */
                rc = container_exec(&o, &status, &err) < 0 ? (cmd_fail(err), EXIT_EXEC_FAILED)
                                                           : status;
        }
        strv_free(o.env);
        strv_free(o.caps);
        strv_free(o.cgroups);
        free(o.additional_gids);
        return rc;
}
