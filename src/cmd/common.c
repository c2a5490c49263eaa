/* Error reporting shared by the commands. */
#include "cmd/cmd.h"
#include "container/container.h"

#include <ctype.h>
#include <string.h>

int cmd_fail(struct cx_error *err)
{
        log_error_report(err ? err->msg : "unknown error");
        cx_error_free(err);
        return 1;
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
        char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        char *line = cmd ? xasprintf("%s: %s (see `capsa %s --help`)", cmd, msg ? msg : "", cmd)
                         : xasprintf("%s (see `capsa --help`)", msg ? msg : "");
        log_error_report(line);
        free(line);
        free(msg);
        return 1;
}

void cmd_getopt_begin(void)
{
        /* optind = 0 makes glibc re-initialise getopt: the ordering ("+" or permute) is read
         * again from this optstring instead of being kept from main's "+" parse.  opterr = 0:
         * cmd_option_error prints one message instead of getopt's own. */
        optind = 0;
        opterr = 0;
}

int cmd_option_error(const char *cmd, int c, char **argv)
{
        const char *word = optind > 0 ? argv[optind - 1] : "";
        bool is_long = strncmp(word, "--", 2) == 0;
        if (c == ':')
                return is_long ? cmd_usage_error(cmd, "flag needs an argument: `%s`", word)
                               : cmd_usage_error(cmd, "flag needs an argument: `-%c`", optopt);
        if (optopt == 0 || optopt >= 128)
                return cmd_usage_error(cmd, "unknown option `%s`", word);
        return cmd_usage_error(cmd, "unknown option `-%c`", optopt);
}

int cmd_need_args(const char *cmd, int argc, int optind_, int n, const char *what)
{
        if (argc - optind_ == n)
                return 0;
        return cmd_usage_error(cmd, "expects %s, got %d argument%s", what, argc - optind_,
                               argc - optind_ == 1 ? "" : "s");
}

int cmd_parse_format(const char *cmd, const char *arg, bool *json)
{
        if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0)
                return cmd_usage_error(cmd, "--format: `%s` is not table or json", arg);
        *json = strcmp(arg, "json") == 0;
        return 0;
}

int cmd_parse_preserve_fds(const char *cmd, const char *arg, int *ret)
{
        uint64_t n;
        if (parse_u64(arg, &n) < 0 || n > 65536)
                return cmd_usage_error(cmd, "--preserve-fds: `%s` is not a number of fds", arg);
        *ret = (int)n;
        return 0;
}

int cmd_parse_list_opts(const char *cmd, const char *help, int argc, char **argv, bool *json)
{
        static const struct option opts[] = {
            {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {}};
        int c;
        *json = false;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
                if (c == 'f') {
                        if (cmd_parse_format(cmd, optarg, json))
                                return 1;
                } else if (c == 'h') {
                        fputs(help, stdout);
                        return -1;
                } else {
                        return cmd_option_error(cmd, c, argv);
                }
        }
        return cmd_need_args(cmd, argc, optind, 0, "no arguments") ? 1 : 0;
}

/* "64m", "1g", "512k", "1024", "-1": bytes (binary units, as runc's RAMInBytes). */
int cmd_parse_size(const char *s, int64_t *ret)
{
        if (strcmp(s, "-1") == 0) {
                *ret = -1;
                return 0;
        }
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || v < 0 || !isdigit((unsigned char)s[0]))
                return -EINVAL;
        static const char *const units = "bkmgtp";
        double mult = 1;
        if (*end) {
                const char *u = strchr(units, tolower((unsigned char)*end));
                if (!u)
                        return -EINVAL;
                mult = (double)(1ULL << (10 * (u - units)));
                end++;
                if (*end && strcasecmp(end, "b") != 0 && strcasecmp(end, "ib") != 0)
                        return -EINVAL;
        }
        if (v * mult > (double)INT64_MAX)
                return -ERANGE;
        *ret = (int64_t)(v * mult);
        return 0;
}

/* A JSON array of the pretty objects v (each ending in a newline), indented as Go's
 * json.MarshalIndent would */
void cmd_print_json_array(char *const *v, size_t n)
{
        if (!n) {
                puts("[]");
                return;
        }
        puts("[");
        for (size_t i = 0; i < n; i++) {
                for (const char *line = v[i]; *line;) {
                        size_t len = strcspn(line, "\n");
                        printf("  %.*s", (int)len, line);
                        line += len;
                        if (*line)
                                line++;
                        if (*line)
                                putchar('\n');
                }
                puts(i + 1 < n ? "," : "");
        }
        puts("]");
}

int cmd_parse_help_only(const char *cmd, const char *usage, int argc, char **argv)
{
        static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {}};
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
                if (c == 'h') {
                        puts(usage);
                        return -1;
                }
                return cmd_option_error(cmd, c, argv);
        }
        return 0;
}

void cmd_container_opts_init(struct container_opts *o, const struct global_opts *g)
{
        o->root = g->root;
        o->systemd_cgroup = g->systemd_cgroup;
        o->rootless = g->rootless < 0    ? CONTAINER_ROOTLESS_AUTO
                      : g->rootless == 1 ? CONTAINER_ROOTLESS_TRUE
                                         : CONTAINER_ROOTLESS_FALSE;
        o->self_argv = g->argv;
}
