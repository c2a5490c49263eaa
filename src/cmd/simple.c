/* capsa start / state / delete: one container id, one library call. */
#include "cmd/cmd.h"
#include "container/container.h"

static int parse_id_only(const char *cmd, int argc, char **argv, const char *usage, bool *force)
{
        static const struct option opts[] = {
            {"force", no_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, force ? ":fh" : ":h", opts, NULL)) != -1) {
                if (c == 'f' && force) {
                        *force = true;
                } else if (c == 'h') {
                        printf("%s", usage);
                        exit(0);
                } else {
                        return cmd_option_error(cmd, c, argv);
                }
        }
        return cmd_need_args(cmd, argc, optind, 1, "a container id");
}

int cmd_start(int argc, char **argv, const struct global_opts *g)
{
        if (parse_id_only("start", argc, argv, "Usage: capsa start <container-id>\n", NULL))
                return 1;
        struct cx_error *err = NULL;
        if (container_start(g->root, argv[optind], &err) < 0)
                return cmd_fail(err);
        return 0;
}

int cmd_state(int argc, char **argv, const struct global_opts *g)
{
        if (parse_id_only("state", argc, argv, "Usage: capsa state <container-id>\n", NULL))
                return 1;
        struct cx_error *err = NULL;
        _cleanup_free_ char *json = NULL;
        if (container_state(g->root, argv[optind], &json, &err) < 0)
                return cmd_fail(err);
        fputs(json, stdout);
        return 0;
}

int cmd_delete(int argc, char **argv, const struct global_opts *g)
{
        bool force = false;
        if (parse_id_only("delete", argc, argv,
                          "Usage: capsa delete [--force] <container-id>\n"
                          "  -f, --force   kill the container first if it is still running\n",
                          &force))
                return 1;
        struct cx_error *err = NULL;
        if (container_delete(g->root, argv[optind], force, &err) < 0)
                return cmd_fail(err);
        return 0;
}
