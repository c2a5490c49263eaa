/* The CLI: global options, one function per command.  Commands parse their own options,
 * call the library once, print any error once, and return the exit code. */
#pragma once

#include "util/util.h"

#include <getopt.h>

struct global_opts {
        const char *root;
        const char *image_root; /* --image-root: the image store (default /var/lib/capsa) */
        const char *log;
        enum log_format log_format;
        bool debug;
        bool systemd_cgroup;
        int rootless;     /* --rootless: 1 true, 0 false, -1 auto (the default) */
        const char *criu; /* --criu: the criu binary checkpoint/restore will run (NULL: "criu"
                             from PATH) */
        char **argv;      /* main's argv, to re-execute capsa from a protected copy */
};

/* Prints the error (stderr and --log) and returns the exit code for a failure: 1. */
int cmd_fail(struct cx_error *err);
/* Usage error for a command (NULL: for the global options): prints one line, "capsa: CMD:
 * MSG (see `capsa CMD --help`)", and returns 1, runc's exit code for usage errors. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);
/* --format table|json: sets *json; a usage error (returns 1) for anything else. */
int cmd_parse_format(const char *cmd, const char *arg, bool *json);
/* The options of a list command (--format table|json, --help; no arguments): 0 to go on, 1
 * after a usage error, -1 when the help was printed (exit 0). */
int cmd_parse_list_opts(const char *cmd, const char *help, int argc, char **argv, bool *json);
/* --preserve-fds N: a usage error (returns 1) unless N is a sane fd count. */
int cmd_parse_preserve_fds(const char *cmd, const char *arg, int *ret);
/* Call before a command's getopt_long loop, whose optstring starts with ":" (after any "+"):
 * options may then follow the positional arguments (`update ID --memory 1m`, as runc's
 * urfave/cli reorders them) unless the optstring starts with "+" (exec and ps, as runc). */
void cmd_getopt_begin(void);
/* For getopt_long's '?' (unknown option) or ':' (missing value): one usage error naming the
 * option; returns 1. */
int cmd_option_error(const char *cmd, int c, char **argv);
/* "64m", "1g", "512k", "1024", "-1": bytes (binary units, as runc's RAMInBytes); -EINVAL */
int cmd_parse_size(const char *s, int64_t *ret);
/* Prints the pretty JSON objects v as one array, indented as Go's json.MarshalIndent would
 * (`net inspect`, `image inspect`). */
void cmd_print_json_array(char *const *v, size_t n);
/* The options of a command that takes only --help: 0 to go on (positional arguments from
 * optind), -1 when the usage was printed (exit 0), 1 after a usage error. */
int cmd_parse_help_only(const char *cmd, const char *usage, int argc, char **argv);
/* The global options a container command passes on: --root, --systemd-cgroup, --rootless,
 * and main's argv (create, run, restore). */
struct container_opts;
void cmd_container_opts_init(struct container_opts *o, const struct global_opts *g);
/* Checks that exactly `n` positional arguments remain. */
int cmd_need_args(const char *cmd, int argc, int optind_, int n, const char *what);

int cmd_create(int argc, char **argv, const struct global_opts *g);
int cmd_run(int argc, char **argv, const struct global_opts *g);
int cmd_start(int argc, char **argv, const struct global_opts *g);
int cmd_state(int argc, char **argv, const struct global_opts *g);
int cmd_kill(int argc, char **argv, const struct global_opts *g);
int cmd_delete(int argc, char **argv, const struct global_opts *g);
int cmd_list(int argc, char **argv, const struct global_opts *g);
int cmd_spec(int argc, char **argv, const struct global_opts *g);
int cmd_features(int argc, char **argv, const struct global_opts *g);
int cmd_exec(int argc, char **argv, const struct global_opts *g);
int cmd_ps(int argc, char **argv, const struct global_opts *g);
int cmd_update(int argc, char **argv, const struct global_opts *g);
int cmd_events(int argc, char **argv, const struct global_opts *g);
int cmd_pause(int argc, char **argv, const struct global_opts *g);
int cmd_resume(int argc, char **argv, const struct global_opts *g);
int cmd_tenant(int argc, char **argv, const struct global_opts *g);
int cmd_net(int argc, char **argv, const struct global_opts *g);
int cmd_cni(int argc, char **argv, const struct global_opts *g);
int cmd_checkpoint(int argc, char **argv, const struct global_opts *g);
int cmd_restore(int argc, char **argv, const struct global_opts *g);
int cmd_image(int argc, char **argv, const struct global_opts *g);
int cmd_migrate(int argc, char **argv, const struct global_opts *g);
int cmd_migrate_receive(int argc, char **argv, const struct global_opts *g);
