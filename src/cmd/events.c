/* capsa events [--stats] [--interval DURATION] <id> */
#include "cmd/cmd.h"
#include "container/container.h"

#include <signal.h>
#include <string.h>

/* "5s", "500ms", "1m", "2" (seconds) -> milliseconds; runc takes a Go duration. */
static int parse_interval(const char *s, unsigned *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v <= 0)
                return -EINVAL;
        double mult = strcmp(end, "ms") == 0           ? 1
                      : strcmp(end, "s") == 0 || !*end ? 1000
                      : strcmp(end, "m") == 0          ? 60000
                      : strcmp(end, "h") == 0          ? 3600000
                                                       : -1;
        if (mult < 0 || v * mult < 1 || v * mult > 86400000.0)
                return -EINVAL;
        *ret = (unsigned)(v * mult);
        return 0;
}

static int print_event(const char *json, void *userdata)
{
        if (puts(json) < 0 || fflush(stdout) != 0)
                return -EPIPE;
        return 0;
}

int cmd_events(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"stats", no_argument, NULL, 's'},
            {"interval", required_argument, NULL, 'i'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        bool stats = false;
        unsigned interval = 5000;
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        stats = true;
                        break;
                case 'i':
                        if (parse_interval(optarg, &interval) < 0)
                                return cmd_usage_error("events",
                                                       "--interval: invalid duration `%s` "
                                                       "(e.g. 5s, 500ms)",
                                                       optarg);
                        break;
                case 'h':
                        printf("Usage: capsa events [--stats] [--interval 5s] <container-id>\n"
                               "  --stats      print the container's resource usage once\n"
                               "  --interval   stream stats this often (default 5s); OOM kills "
                               "are reported as they happen\n");
                        return 0;
                default:
                        return cmd_option_error("events", c, argv);
                }
        }
        if (cmd_need_args("events", argc, optind, 1, "a container id"))
                return 1;
        signal(SIGPIPE, SIG_IGN);
        struct cx_error *err = NULL;
        if (container_events(g->root, argv[optind], stats, interval, print_event, NULL, &err) < 0)
                return cmd_fail(err);
        return 0;
}
