/* Errors that carry an errno and a message with context. */
#include "util/util.h"

#include <string.h>

static _printf_(1, 0) char *vformat(const char *fmt, va_list ap)
{
        char *s = NULL;
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        return s;
}

static _printf_(4, 0) int error_new(struct cx_error **err, int code, bool with_strerror,
                                    const char *fmt, va_list ap)
{
        int ret = code > 0 ? -code : -EINVAL;
        if (!err || *err)
                return ret;
        _cleanup_free_ char *msg = vformat(fmt, ap);
        struct cx_error *e = xcalloc(1, sizeof(*e));
        e->code = code;
        if (with_strerror && code > 0)
                e->msg = xasprintf("%s: %s", msg, strerror(code));
        else
                e->msg = TAKE_PTR(msg);
        *err = e;
        return ret;
}

int cx_error_set(struct cx_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = error_new(err, code, true, fmt, ap);
        va_end(ap);
        return r;
}

int cx_error_msg(struct cx_error **err, int code, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int r = error_new(err, code, false, fmt, ap);
        va_end(ap);
        return r;
}

int cx_error_prefix(struct cx_error **err, const char *fmt, ...)
{
        if (!err || !*err)
                return -EINVAL;
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *prefix = vformat(fmt, ap);
        va_end(ap);
        char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
        free((*err)->msg);
        (*err)->msg = msg;
        return (*err)->code > 0 ? -(*err)->code : -EINVAL;
}

void cx_error_free(struct cx_error *e)
{
        if (!e)
                return;
        free(e->msg);
        free(e);
}

void cx_error_freep(struct cx_error **e)
{
        cx_error_free(*e);
        *e = NULL;
}
