/* util: errors, ids, signals, strv, numbers, files. */
#include "tap.h"
#include "util/util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

static void test_errors(void)
{
        struct cx_error *e = NULL;
        int r = cx_error_set(&e, ENOENT, "open `%s`", "/x");
        ok(r == -ENOENT, "cx_error_set returns -errno");
        is_str(e->msg, "open `/x`: No such file or directory", "message carries strerror");
        r = cx_error_prefix(&e, "load bundle");
        ok(r == -ENOENT, "prefix keeps the code");
        is_str(e->msg, "load bundle: open `/x`: No such file or directory", "prefix prepends");
        r = cx_error_set(&e, EPERM, "second");
        is_str(e->msg, "load bundle: open `/x`: No such file or directory", "first error wins");
        cx_error_freep(&e);
        r = cx_error_msg(&e, 0, "a.b: expected integer");
        ok(r == -EINVAL && e->code == 0, "code 0 gives -EINVAL");
        is_str(e->msg, "a.b: expected integer", "cx_error_msg has no strerror");
        cx_error_freep(&e);
        ok(cx_error_set(NULL, EIO, "x") == -EIO, "NULL err is allowed");
}

static void test_signals(void)
{
        ok(signal_parse("KILL") == SIGKILL, "KILL");
        ok(signal_parse("SIGKILL") == SIGKILL, "SIGKILL");
        ok(signal_parse("kill") == SIGKILL, "kill (any case)");
        ok(signal_parse("9") == 9, "9");
        ok(signal_parse("TERM") == SIGTERM, "TERM");
        ok(signal_parse("SIGRTMIN+3") == SIGRTMIN + 3, "SIGRTMIN+3");
        ok(signal_parse("RTMAX-1") == SIGRTMAX - 1, "RTMAX-1");
        ok(signal_parse("NOPE") < 0, "unknown name");
        ok(signal_parse("0") < 0, "0 is not a signal");
        ok(signal_parse("65") < 0, "65 is out of range");
        ok(signal_parse("-9") < 0, "negative");
        ok(signal_parse("") < 0, "empty");
        ok(signal_parse("SIGRTMIN+99") < 0, "RT out of range");
        is_str(signal_name(SIGHUP), "HUP", "name of SIGHUP");
}

static void test_strv_numbers(void)
{
        char **v = NULL;
        strv_append(&v, "a");
        strv_append(&v, "b");
        ok(strv_len(v) == 2, "strv_append");
        char **d = strv_dup(v);
        is_str(d[1], "b", "strv_dup");
        strv_free(v);
        strv_free(d);
        uint64_t u;
        int64_t i;
        ok(parse_u64("18446744073709551615", &u) == 0 && u == UINT64_MAX, "u64 max");
        ok(parse_u64("-1", &u) < 0, "u64 rejects negatives");
        ok(parse_u64("12x", &u) < 0, "u64 rejects junk");
        ok(parse_i64("-5", &i) == 0 && i == -5, "i64 negative");
        ok(str_has_prefix("PATH=/bin", "PATH="), "prefix");
}

static void test_files(void)
{
        char dir[] = "/tmp/capsa-test-util-XXXXXX";
        ok(mkdtemp(dir) != NULL, "mkdtemp");
        _cleanup_free_ char *sub = xasprintf("%s/a/b/c", dir);
        ok(mkdir_p(sub, 0755, NULL) == 0, "mkdir_p");
        int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ok(write_file_atomic_at(dfd, "f", "hello", 5, NULL) == 0, "atomic write");
        char *buf = NULL;
        size_t len = 0;
        ok(read_file_at(dfd, "f", &buf, &len, NULL) == 0 && len == 5, "read back");
        is_str(buf, "hello", "content");
        free(buf);
        struct cx_error *e = NULL;
        ok(read_file_at(dfd, "missing", &buf, NULL, &e) == -ENOENT, "missing file");
        contains(e->msg, "missing", "error names the file");
        cx_error_freep(&e);
        close(dfd);
        ok(rm_rf_at(AT_FDCWD, dir) == 0, "rm_rf");
        struct stat st;
        ok(stat(dir, &st) < 0 && errno == ENOENT, "tree removed");
}

int main(void)
{
        test_errors();
        test_signals();
        test_strv_numbers();
        test_files();
        return tap_done();
}
