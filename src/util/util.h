/* util: errors with context, cleanup attributes, logging, small file and string helpers.
 *
 * Every library function returns >= 0 on success and a negative errno on failure, and fills a
 * `struct cx_error` describing what failed (operation and path).  Only the CLI prints errors.
 * Kernel interfaces: plain file I/O, openat2(2) for paths inside a container root. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- cleanup ---------------------------------------------------------------------------- */
#define _cleanup_(f)     __attribute__((cleanup(f)))
#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_strv_   _cleanup_(strv_freep)
#define _cleanup_error_  _cleanup_(cx_error_freep)
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p = (p);                                                            \
                (p) = NULL;                                                                        \
                _p;                                                                                \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd = (fd);                                                                    \
                (fd) = -1;                                                                         \
                _fd;                                                                               \
        })
#define ARRAY_SIZE(a)  (sizeof(a) / sizeof((a)[0]))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_       __attribute__((unused))

void freep(void *p);
void closep(int *fd);
void fclosep(FILE **f);
void strv_free(char **v);
void strv_freep(char ***v);
size_t strv_len(char *const *v);
char **strv_dup(char *const *v);
/* Appends a copy of s to a NULL-terminated vector (which may be NULL). */
int strv_append(char ***v, const char *s);

/* Abort-on-OOM allocators: a runtime that cannot allocate a few bytes has nothing sane to do. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);

/* ---- errors ------------------------------------------------------------------------------ */
struct cx_error {
        int code;  /* positive errno, 0 if not an OS error */
        char *msg; /* human readable, with context, no trailing newline */
};

/* Sets *err (if err and *err is NULL) and returns -code (or -EINVAL when code is 0).
 * When code is a real errno, ": strerror(code)" is appended to the message. */
int cx_error_set(struct cx_error **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Same but without the strerror suffix (for validation errors). */
int cx_error_msg(struct cx_error **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Prepends "fmt: " to an existing error; returns -code of the error (or -EINVAL). */
int cx_error_prefix(struct cx_error **err, const char *fmt, ...) _printf_(2, 3);
void cx_error_free(struct cx_error *e);
void cx_error_freep(struct cx_error **e);

/* ---- logging ----------------------------------------------------------------------------- */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Opens the log file (append).  path NULL: log to stderr only for errors/warnings. */
int log_init(const char *path, enum log_format fmt, bool debug, struct cx_error **err);
void log_msg(enum log_level lvl, const char *fmt, ...) _printf_(2, 3);
/* Prints an error the way the CLI reports it: to stderr and to the log file. */
void log_error_report(const char *msg);
bool log_debug_enabled(void);
int log_fd(void); /* the log file fd, or -1 */
#define log_debug(...)                                                                             \
        do {                                                                                       \
                if (log_debug_enabled())                                                           \
                        log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
        } while (0)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)

/* ---- files ------------------------------------------------------------------------------- */
/* The largest file capsa reads whole (config.json, state.json, process and resources files,
 * the tenant registry, /etc/passwd): big seccomp profiles are ~100 KiB. */
#define FILE_MAX_SIZE (16 << 20)
/* Reads a whole file (dirfd may be AT_FDCWD).  *ret is NUL-terminated; *ret_len optional.
 * A file larger than FILE_MAX_SIZE fails with EFBIG: "`path`: larger than 16 MiB". */
int read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len, struct cx_error **err);
/* The same from an open fd, without the error text: 0, or -errno (-EFBIG beyond the limit). */
int read_fd_all(int fd, char **ret, size_t *ret_len);
/* Writes data to an existing file (O_WRONLY|O_TRUNC unless flags given). */
int write_file_at(int dirfd, const char *path, const char *data, size_t len, struct cx_error **err);
/* Writes all of data to fd (retrying short writes and EINTR): 0 or -errno. */
int write_all(int fd, const char *data, size_t len);
/* Writes atomically: a temporary file in the same directory, then rename. */
int write_file_atomic_at(int dirfd, const char *path, const char *data, size_t len,
                         struct cx_error **err);
/* mkdir -p (mode applies to created components). */
int mkdir_p(const char *path, mode_t mode, struct cx_error **err);
/* Removes a directory tree below dirfd/name (does not cross mount points). */
int rm_rf_at(int dirfd, const char *name);

/* ---- strings & numbers ------------------------------------------------------------------- */
bool str_has_prefix(const char *s, const char *prefix);
/* Undoes the octal escapes of /proc/self/mountinfo (\\040 for a space, ...) in place. */
void str_unescape_octal(char *s);
int parse_u64(const char *s, uint64_t *ret);
int parse_i64(const char *s, int64_t *ret);
/* Converts an errno-ish negative result to a process exit code. */

/* ---- fds --------------------------------------------------------------------------------- */
/* Sends one fd over a unix socket with SCM_RIGHTS, along with a small payload. */
int fd_send(int sock, int fd, const void *data, size_t len);
/* Receives one fd (or -1 if none) and up to len bytes of payload. */
int fd_recv(int sock, int *ret_fd, void *data, size_t len);

/* ---- signals ----------------------------------------------------------------------------- */
/* Parses "KILL", "SIGKILL", "kill", "9", "SIGRTMIN+3".  Returns signal number or -EINVAL. */
int signal_parse(const char *s);
/* Name without the SIG prefix, or NULL. */
const char *signal_name(int sig);
/* Every signal back to its default action (ignored ones survive execve otherwise). */
void signals_reset_default(void);

/* JSON: util/json.h. */
