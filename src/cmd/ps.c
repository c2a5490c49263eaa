/* capsa ps: the processes of a container, as a `ps` table or a JSON array of pids. */
#include "cmd/cmd.h"
#include "container/container.h"
#include "util/json.h"

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>

static const char ps_help[] =
    "Usage: capsa ps [--format table|json] <container-id> [ps options]\n\n"
    "  -f, --format FORMAT   table (default: `ps -ef` rows of the "
    "container) or json (array of pids)\n";

static bool has_pid(const pid_t *pids, size_t n, long pid)
{
        for (size_t i = 0; i < n; i++)
                if (pids[i] == pid)
                        return true;
        return false;
}

/* Index of the PID column in ps's header line, or -1. */
static int pid_column(const char *header)
{
        _cleanup_free_ char *copy = xstrdup(header);
        char *save = NULL;
        int i = 0;
        for (char *f = strtok_r(copy, " \t", &save); f; f = strtok_r(NULL, " \t", &save), i++)
                if (strcmp(f, "PID") == 0)
                        return i;
        return -1;
}

static long field_long(const char *line, int idx)
{
        _cleanup_free_ char *copy = xstrdup(line);
        char *save = NULL;
        int i = 0;
        for (char *f = strtok_r(copy, " \t", &save); f; f = strtok_r(NULL, " \t", &save), i++)
                if (i == idx) {
                        char *end;
                        long v = strtol(f, &end, 10);
                        return *end ? -1 : v;
                }
        return -1;
}

/* Runs ps with the given arguments (default -ef) and prints the header and the container's
 * rows, as runc does. */
static int ps_table(char **ps_args, const pid_t *pids, size_t n)
{
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return cmd_usage_error("ps", "pipe: %s", strerror(errno));
        pid_t child = fork();
        if (child == 0) {
                dup2(fds[1], STDOUT_FILENO);
                size_t na = strv_len(ps_args);
                char **argv = xcalloc(na + 3, sizeof(char *));
                argv[0] = "ps";
                if (na == 0)
                        argv[1] = "-ef";
                for (size_t i = 0; i < na; i++)
                        argv[1 + i] = ps_args[i];
                execvp("ps", argv);
                fprintf(stderr, "capsa: ps: exec ps: %s\n", strerror(errno));
                _exit(127);
        }
        close(fds[1]);
        _cleanup_fclose_ FILE *f = fdopen(fds[0], "r");
        if (child < 0 || !f)
                return cmd_usage_error("ps", "run ps: %s", strerror(errno));
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        int col = -1;
        bool header = true;
        while (getline(&line, &cap, f) > 0) {
                if (header) {
                        header = false;
                        col = pid_column(line);
                        fputs(line, stdout);
                        continue;
                }
                if (col >= 0 && has_pid(pids, n, field_long(line, col)))
                        fputs(line, stdout);
        }
        int status = 0;
        waitpid(child, &status, 0);
        if (col < 0)
                return cmd_usage_error("ps", "no PID column in the output of ps");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return cmd_usage_error("ps", "ps failed (exit status %d)", WEXITSTATUS(status));
        return 0;
}

int cmd_ps(int argc, char **argv, const struct global_opts *g)
{
        static const struct option opts[] = {
            {"format", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        const char *format = "table";
        int c;
        cmd_getopt_begin();
        while ((c = getopt_long(argc, argv, "+:f:h", opts, NULL)) != -1) {
                if (c == 'f') {
                        format = optarg;
                } else if (c == 'h') {
                        printf("%s", ps_help);
                        return 0;
                } else {
                        return cmd_option_error("ps", c, argv);
                }
        }
        bool json;
        if (cmd_parse_format("ps", format, &json))
                return 1;
        if (optind >= argc)
                return cmd_usage_error("ps", "expects a container id");
        if (json && optind + 1 < argc)
                return cmd_usage_error("ps", "ps options cannot be used with --format json");
        struct cx_error *err = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if (!json) { /* a VM container's table comes from its guest */
                _cleanup_free_ char *table = NULL;
                int r = container_ps_table(g->root, argv[optind], argv + optind + 1, &table, &err);
                if (r >= 0)
                        fputs(table, stdout);
                if (r != -EOPNOTSUPP)
                        return r < 0 ? cmd_fail(err) : 0;
        }
        if (container_pids(g->root, argv[optind], &pids, &n, &err) < 0)
                return cmd_fail(err);
        if (!json)
                return ps_table(argv + optind + 1, pids, n);
        struct json_w *w = json_w_new(NULL); /* runc: [pid,...] and a newline */
        json_w_arr_open(w);
        for (size_t i = 0; i < n; i++)
                json_w_int(w, pids[i]);
        json_w_arr_close(w);
        _cleanup_free_ char *out = json_w_finish(w, true);
        fputs(out, stdout);
        return 0;
}
