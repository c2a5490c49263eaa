/* Logging to --log FILE in runc's text or json-lines format; errors also go to stderr.
 * Without --log, the json format writes its lines to stderr as runc does (an engine that asked
 * for json reads json there); the text format keeps the plain `capsa: message` for people. */
#include "util/json.h"
#include "util/util.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>

static int log_file = -1;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static bool log_debug_on;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

int log_init(const char *path, enum log_format fmt, bool debug, struct cx_error **err)
{
        log_fmt = fmt;
        log_debug_on = debug;
        if (!path || !*path)
                return 0;
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return cx_error_set(err, errno, "open log file `%s`", path);
        log_file = fd;
        return 0;
}

bool log_debug_enabled(void)
{
        return log_debug_on;
}

int log_fd(void)
{
        return log_file;
}

/* RFC 3339 in UTC to the second, as runc's logrus stamps its lines ("2006-01-02T15:04:05Z"). */
static void timestamp(char *buf, size_t len)
{
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* One line as runc writes it: json {"level","msg","time"} (logrus's JSONFormatter, keys
 * sorted), or text `time="..." level=... msg="..."` (the message quoted, JSON escapes). */
static char *log_line(enum log_level lvl, const char *msg)
{
        char ts[64];
        timestamp(ts, sizeof(ts));
        if (log_fmt == LOG_FORMAT_JSON) {
                struct json_w *w = json_w_new(NULL);
                json_w_obj_open(w);
                json_w_key_str(w, "level", level_names[lvl]);
                json_w_key_str(w, "msg", msg);
                json_w_key_str(w, "time", ts);
                json_w_obj_close(w);
                return json_w_finish(w, true);
        }
        _cleanup_free_ char *q = json_quote(msg);
        return xasprintf("time=\"%s\" level=%s msg=%s\n", ts, level_names[lvl], q);
}

static void log_write(int fd, enum log_level lvl, const char *msg)
{
        _cleanup_free_ char *line = log_line(lvl, msg);
        (void)!write(fd, line, strlen(line));
}

static bool json_to_stderr(void)
{
        return log_file < 0 && log_fmt == LOG_FORMAT_JSON;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return;
        if (log_file >= 0)
                log_write(log_file, lvl, msg);
        else if (json_to_stderr() && (lvl <= LOG_WARN || log_debug_on))
                log_write(STDERR_FILENO, lvl, msg);
        else if (lvl <= LOG_WARN || log_debug_on)
                fprintf(stderr, "capsa: %s%s\n", lvl == LOG_WARN ? "warning: " : "", msg);
}

void log_error_report(const char *msg)
{
        if (json_to_stderr()) {
                log_write(STDERR_FILENO, LOG_ERROR, msg);
                return;
        }
        fprintf(stderr, "capsa: %s\n", msg);
        if (log_file >= 0)
                log_write(log_file, LOG_ERROR, msg);
}
