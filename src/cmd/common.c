/* Error reporting shared by the commands. */
#include "cmd/cmd.h"

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
        char *line = xasprintf("%s: %s (see `capsa %s --help`)", cmd, msg ? msg : "", cmd);
        log_error_report(line);
        free(line);
        free(msg);
        return 1;
}

int cmd_need_args(const char *cmd, int argc, int optind_, int n, const char *what)
{
        if (argc - optind_ == n)
                return 0;
        return cmd_usage_error(cmd, "expects %s, got %d argument%s", what, argc - optind_,
                               argc - optind_ == 1 ? "" : "s");
}
