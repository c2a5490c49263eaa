/* Logging to --log FILE in runc's text or json-lines format; errors also go to stderr. */
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

static void json_escape(FILE *f, const char *s)
{
        for (; *s; s++) {
                unsigned char c = *s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c == '\t')
                        fputs("\\t", f);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
}

static void timestamp(char *buf, size_t len)
{
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}

static void log_write(enum log_level lvl, const char *msg)
{
        char ts[64];
        char *line = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&line, &len);
        if (!f)
                return;
        timestamp(ts, sizeof(ts));
        if (log_fmt == LOG_FORMAT_JSON) {
                fprintf(f, "{\"level\":\"%s\",\"msg\":\"", level_names[lvl]);
                json_escape(f, msg);
                fprintf(f, "\",\"time\":\"%s\"}\n", ts);
        } else {
                fprintf(f, "time=\"%s\" level=%s msg=\"", ts, level_names[lvl]);
                json_escape(f, msg);
                fputs("\"\n", f);
        }
        fclose(f);
        (void)!write(log_file, line, len);
        free(line);
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
                log_write(lvl, msg);
        else if (lvl <= LOG_WARN || log_debug_on)
                fprintf(stderr, "capsa: %s%s\n", lvl == LOG_WARN ? "warning: " : "", msg);
}

void log_error_report(const char *msg)
{
        fprintf(stderr, "capsa: %s\n", msg);
        if (log_file >= 0)
                log_write(LOG_ERROR, msg);
}
