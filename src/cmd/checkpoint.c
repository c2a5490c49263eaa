/* capsa checkpoint [options] <id>      capsa restore [options] <id>
 * runc's flags and meanings (engines drive them unchanged). */
#include "checkpoint/checkpoint.h"
#include "cmd/cmd.h"
#include "container/container.h"

#include <string.h>
#include <sys/prctl.h>

enum {
        OPT_IMAGE_PATH = 1000,
        OPT_WORK_PATH,
        OPT_PARENT_PATH,
        OPT_LEAVE_RUNNING,
        OPT_TCP,
        OPT_EXT_UNIX,
        OPT_SHELL_JOB,
        OPT_LAZY,
        OPT_STATUS_FD,
        OPT_PAGE_SERVER,
        OPT_FILE_LOCKS,
        OPT_PRE_DUMP,
        OPT_CG_MODE,
        OPT_EMPTY_NS,
        OPT_AUTO_DEDUP,
        OPT_CONSOLE,
        OPT_PID_FILE,
        OPT_NO_SUBREAPER,
        OPT_NO_PIVOT,
        OPT_LSM_PROFILE,
        OPT_LSM_MOUNT,
};

#define COMMON_OPTS                                                                                \
        {"image-path", required_argument, NULL, OPT_IMAGE_PATH},                                   \
            {"work-path", required_argument, NULL, OPT_WORK_PATH},                                 \
            {"tcp-established", no_argument, NULL, OPT_TCP},                                       \
            {"ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX},                                      \
            {"shell-job", no_argument, NULL, OPT_SHELL_JOB},                                       \
            {"lazy-pages", no_argument, NULL, OPT_LAZY},                                           \
            {"file-locks", no_argument, NULL, OPT_FILE_LOCKS},                                     \
            {"manage-cgroups-mode", required_argument, NULL, OPT_CG_MODE},                         \
            {"empty-ns", required_argument, NULL, OPT_EMPTY_NS},                                   \
            {"auto-dedup", no_argument, NULL, OPT_AUTO_DEDUP},                                     \
        {                                                                                          \
                "help", no_argument, NULL, 'h'                                                     \
        }

/* The flags both commands share: 1 when c was one of them, -1 after a usage error, 0 not. */
static int parse_common(const char *cmd, int c, struct ckpt_common *o)
{
        static char **empty_ns; /* o points at it until the command exits */
        int mode;
        switch (c) {
        case OPT_IMAGE_PATH:
                o->image_path = optarg;
                break;
        case OPT_WORK_PATH:
                o->work_path = optarg;
                break;
        case OPT_TCP:
                o->tcp_established = true;
                break;
        case OPT_EXT_UNIX:
                o->ext_unix_sk = true;
                break;
        case OPT_SHELL_JOB:
                o->shell_job = true;
                break;
        case OPT_LAZY:
                o->lazy_pages = true;
                break;
        case OPT_FILE_LOCKS:
                o->file_locks = true;
                break;
        case OPT_AUTO_DEDUP:
                o->auto_dedup = true;
                break;
        case OPT_CG_MODE:
                if ((mode = ckpt_cgroups_mode_parse(optarg)) < 0) {
                        cmd_usage_error(cmd,
                                        "--manage-cgroups-mode: `%s` (expected soft, full, "
                                        "strict or ignore)",
                                        optarg);
                        return -1;
                }
                o->cgroups_mode = mode;
                break;
        case OPT_EMPTY_NS:
                if (strcmp(optarg, "network") != 0) {
                        cmd_usage_error(cmd, "--empty-ns: `%s` (only `network` can be made empty)",
                                        optarg);
                        return -1;
                }
                strv_append(&empty_ns, optarg);
                o->empty_ns = empty_ns;
                break;
        default:
                return 0;
        }
        return 1;
}

static const char common_help[] =
    "  --image-path DIR            where CRIU's images are (default: ./checkpoint)\n"
    "  --work-path DIR             where CRIU's logs go (default: the image path)\n"
    "  --tcp-established           allow open TCP connections (TCP repair)\n"
    "  --ext-unix-sk               allow unix sockets connected outside the container\n"
    "  --shell-job                 allow a process attached to a terminal outside\n"
    "  --file-locks                handle file locks\n"
    "  --lazy-pages                memory pages on demand (userfaultfd)\n"
    "  --manage-cgroups-mode MODE  soft (default), full, strict or ignore\n"
    "  --empty-ns network          make the network namespace, but not its contents\n"
    "  --auto-dedup                deduplicate memory images as they are used\n";

int cmd_checkpoint(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            COMMON_OPTS,
            {"parent-path", required_argument, NULL, OPT_PARENT_PATH},
            {"leave-running", no_argument, NULL, OPT_LEAVE_RUNNING},
            {"status-fd", required_argument, NULL, OPT_STATUS_FD},
            {"page-server", required_argument, NULL, OPT_PAGE_SERVER},
            {"pre-dump", no_argument, NULL, OPT_PRE_DUMP},
            {},
        };
        struct ckpt_dump_opts o = {.c = {.criu = g->criu, .status_fd = -1}};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                int r = parse_common("checkpoint", c, &o.c);
                if (r < 0)
                        return 1;
                if (r > 0)
                        continue;
                int64_t fd;
                switch (c) {
                case OPT_PARENT_PATH:
                        o.parent_path = optarg;
                        break;
                case OPT_LEAVE_RUNNING:
                        o.leave_running = true;
                        break;
                case OPT_PRE_DUMP:
                        o.pre_dump = true;
                        break;
                case OPT_PAGE_SERVER:
                        o.page_server = optarg;
                        break;
                case OPT_STATUS_FD:
                        if (parse_i64(optarg, &fd) < 0 || fd < -1 || fd > 65535)
                                return cmd_usage_error("checkpoint",
                                                       "--status-fd: `%s` is not "
                                                       "a file descriptor",
                                                       optarg);
                        o.c.status_fd = (int)fd;
                        break;
                case 'h':
                        printf("Usage: capsa checkpoint [options] <container-id>\n"
                               "Checkpoints a running container with CRIU; without "
                               "--leave-running or --pre-dump\n"
                               "the container is deleted afterwards.\n%s"
                               "  --parent-path DIR           a previous pre-dump (relative to "
                               "the image path)\n"
                               "  --leave-running             keep the container running\n"
                               "  --pre-dump                  dump memory only (track changes "
                               "from here); it keeps running\n"
                               "  --page-server ADDR:PORT     send memory pages to CRIU's page "
                               "server there\n"
                               "  --status-fd FD              CRIU writes \\0 there once the "
                               "lazy-pages server is ready\n",
                               common_help);
                        return 0;
                default:
                        return cmd_option_error("checkpoint", c, argv);
                }
        }
        if (cmd_need_args("checkpoint", argc, optind, 1, "a container id"))
                return 1;
        struct cx_error *err = NULL;
        if (container_checkpoint(g->root, argv[optind], &o, &err) < 0)
                return cmd_fail(err);
        return 0;
}

int cmd_restore(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            COMMON_OPTS,
            {"bundle", required_argument, NULL, 'b'},
            {"detach", no_argument, NULL, 'd'},
            {"pid-file", required_argument, NULL, OPT_PID_FILE},
            {"console-socket", required_argument, NULL, OPT_CONSOLE},
            {"no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER},
            {"no-pivot", no_argument, NULL, OPT_NO_PIVOT},
            {"lsm-profile", required_argument, NULL, OPT_LSM_PROFILE},
            {"lsm-mount-context", required_argument, NULL, OPT_LSM_MOUNT},
            {},
        };
        struct ckpt_restore_opts r = {.c = {.criu = g->criu, .status_fd = -1}};
        struct container_opts o = {0};
        cmd_container_opts_init(&o, g); /* restore drops self_argv: no bundle process runs */
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":b:dh", opts, NULL)) != -1) {
                int pr = parse_common("restore", c, &r.c);
                if (pr < 0)
                        return 1;
                if (pr > 0)
                        continue;
                switch (c) {
                case 'b':
                        o.bundle = optarg;
                        break;
                case 'd':
                        o.detach = true;
                        break;
                case OPT_PID_FILE:
                        o.pid_file = optarg;
                        break;
                case OPT_CONSOLE:
                        o.console_socket = optarg;
                        break;
                case OPT_NO_SUBREAPER:
                        r.no_subreaper = true;
                        break;
                case OPT_NO_PIVOT:
                        o.no_pivot = true;
                        break;
                case OPT_LSM_PROFILE:
                        r.lsm_profile = optarg;
                        break;
                case OPT_LSM_MOUNT:
                        r.lsm_mount_context = optarg;
                        break;
                case 'h':
                        printf("Usage: capsa restore [options] <container-id>\n"
                               "Restores a container from a checkpoint under this id (the "
                               "same or a new one).\n%s"
                               "  -b, --bundle DIR            the bundle (default: the current "
                               "directory)\n"
                               "  -d, --detach                return once it runs (otherwise "
                               "wait for it)\n"
                               "  --pid-file FILE             write the restored init's pid there\n"
                               "  --console-socket PATH       receives the terminal's new master\n"
                               "  --no-subreaper              do not reap orphaned processes "
                               "(foreground)\n"
                               "  --no-pivot                  accepted as runc's: CRIU restores "
                               "the root as dumped,\n"
                               "                              without pivot_root either way\n"
                               "  --lsm-profile TYPE:NAME     the LSM profile CRIU restores "
                               "the processes with\n"
                               "  --lsm-mount-context CTX     the LSM mount context of restored "
                               "mounts\n",
                               common_help);
                        return 0;
                default:
                        return cmd_option_error("restore", c, argv);
                }
        }
        if (cmd_need_args("restore", argc, optind, 1, "a container id"))
                return 1;
        o.id = argv[optind];
        struct cx_error *err = NULL;
        if (!o.detach && !r.no_subreaper && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
                cx_error_set(&err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
                return cmd_fail(err);
        }
        int status = 0;
        if (container_restore(&o, &r, &status, &err) < 0)
                return cmd_fail(err);
        return status;
}
