/* capsa pause / resume <id>: freeze or thaw every process of a container. */
#include "cmd/cmd.h"
#include "container/container.h"

static int pause_or_resume(const char *cmd, bool pause, int argc, char **argv,
                           const struct global_opts *g)
{
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (c != 'h')
                        return cmd_option_error(cmd, c, argv);
                printf("Usage: capsa %s <container-id>\n"
                       "  %s every process of the container (cgroup freezer)\n",
                       cmd, pause ? "freeze" : "thaw");
                return 0;
        }
        if (cmd_need_args(cmd, argc, optind, 1, "a container id"))
                return 1;
        struct cx_error *err = NULL;
        if (container_pause(g->root, argv[optind], pause, &err) < 0)
                return cmd_fail(err);
        return 0;
}

int cmd_pause(int argc, char **argv, const struct global_opts *g)
{
        return pause_or_resume("pause", true, argc, argv, g);
}

int cmd_resume(int argc, char **argv, const struct global_opts *g)
{
        return pause_or_resume("resume", false, argc, argv, g);
}
