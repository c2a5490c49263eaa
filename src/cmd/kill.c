/* capsa kill [--all] <id> [signal] */
#include "cmd/cmd.h"
#include "container/container.h"

#include <signal.h>
#include <string.h>

int cmd_kill(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"all", no_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool all = false;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":ah", opts, NULL)) != -1) {
                if (c == 'a') {
                        all = true;
                } else if (c == 'h') {
                        printf("Usage: capsa kill [--all] <container-id> [signal]\n"
                               "  signal: a name (KILL, SIGKILL) or number; default SIGTERM; 0 "
                               "only checks\n"
                               "          that the container's init is alive\n"
                               "  -a, --all   signal every process in the container's cgroup\n");
                        return 0;
                } else {
                        return cmd_option_error("kill", c, argv);
                }
        }
        int n = argc - optind;
        if (n < 1 || n > 2)
                return cmd_usage_error("kill", "expects a container id and an optional signal");
        int sig = SIGTERM;
        /* signal 0 probes: success while the container's init lives (as runc) */
        if (n == 2 && strcmp(argv[optind + 1], "0") == 0)
                sig = 0;
        else if (n == 2 && (sig = signal_parse(argv[optind + 1])) < 0)
                return cmd_usage_error("kill", "invalid signal `%s`", argv[optind + 1]);
        struct cx_error *err = NULL;
        if (container_kill(g->root, argv[optind], sig, all, &err) < 0)
                return cmd_fail(err);
        return 0;
}
