/* The CRIU side of checkpoint (src/checkpoint/criu.c) against fake criu binaries: `criu check`
 * and `--version` read from what criu prints, and the swrk conversation (a request, CRIU's
 * notifications answered, the final response, its failure with the log's error lines) with a
 * python script that speaks CRIU's RPC by hand (protobuf fields written byte by byte). */
#include "checkpoint/checkpoint.h"
#include "tap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static char *script(const char *name, const char *text)
{
        char *path = xasprintf("%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
                abort();
        close(fd);
        return path;
}

static void test_modes(void)
{
        ok(ckpt_cgroups_mode_parse("soft") == CKPT_CG_SOFT, "soft");
        ok(ckpt_cgroups_mode_parse("full") == CKPT_CG_FULL, "full");
        ok(ckpt_cgroups_mode_parse("strict") == CKPT_CG_STRICT, "strict");
        ok(ckpt_cgroups_mode_parse("ignore") == CKPT_CG_IGNORE, "ignore");
        ok(ckpt_cgroups_mode_parse("props") == -EINVAL, "an unknown mode is refused");
}

static void test_check(void)
{
        _cleanup_free_ char *bad =
            script("criu-bad", "#!/bin/sh\n"
                               "echo '(00.07) Found mmap_min_addr'\n"
                               "echo '(00.07) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO "
                               "area bounds'\n"
                               "exit 1\n");
        struct cx_error *e = NULL;
        ok(ckpt_criu_check(bad, &e) < 0, "a failing criu check is an error");
        contains(e ? e->msg : NULL, "vdso: Unexpected rt vDSO area bounds", "with criu's reason");
        cx_error_freep(&e);
        _cleanup_free_ char *good = script("criu-good", "#!/bin/sh\necho Looks good.\n");
        ok(ckpt_criu_check(good, &e) == 0, "criu check passing");
        cx_error_freep(&e);
        _cleanup_free_ char *missing = xasprintf("%s/no-such-criu", dir);
        ok(ckpt_criu_check(missing, &e) == -ENOENT, "a missing criu");
        contains(e ? e->msg : NULL, "install the Debian package criu", "says what to install");
        cx_error_freep(&e);
        _cleanup_free_ char *ver = script("criu-ver", "#!/bin/sh\necho Version: 3.17.1\n");
        int v = 0;
        ok(ckpt_criu_version(ver, &v, &e) == 0 && v == 31701, "version 3.17.1 is 31701 (%d)", v);
        cx_error_freep(&e);
}

/* A fake `criu swrk FD`: reads the request, sends a "post-dump" notification and checks the
 * answer is a NOTIFY request with notify_success, then the final response given by argv. */
static const char swrk_py[] =
    "#!/usr/bin/python3\n"
    "import os, socket, sys\n"
    "if sys.argv[1] == 'check':\n"
    "    sys.exit(0)\n"
    "mode = os.environ.get('FAKE_CRIU', 'ok')\n"
    "s = socket.socket(fileno=int(sys.argv[2]))\n"
    "req = s.recv(1 << 20)\n"
    "open(os.environ['FAKE_CRIU_REQ'], 'wb').write(req)\n"
    "if mode == 'silent':\n"
    "    sys.exit(0)\n"
    "def field(n, wt, data):\n"
    "    return bytes([(n << 3) | wt]) + data\n"
    "def ln(b):\n"
    "    return bytes([len(b)]) + b\n"
    "# CriuResp{type=NOTIFY(6), success=true, notify{script='post-dump'}}\n"
    "note = field(1, 2, ln(b'post-dump'))\n"
    "s.send(field(1, 0, b'\\x06') + field(2, 0, b'\\x01') + field(5, 2, ln(note)))\n"
    "ack = s.recv(1 << 20)\n"
    "# CriuReq{type=NOTIFY(6), notify_success=true(field 3)}\n"
    "good = ack[:2] == b'\\x08\\x06' and b'\\x18\\x01' in ack\n"
    "if mode == 'fail' or not good:\n"
    "    msg = b'dump went wrong' if good else b'bad notify answer'\n"
    "    s.send(field(1, 0, b'\\x01') + field(2, 0, b'\\x00') + field(7, 0, b'\\x05') +\n"
    "           field(9, 2, ln(msg)))\n"
    "else:\n"
    "    s.send(field(1, 0, b'\\x01') + field(2, 0, b'\\x01'))\n";

static int notified;
static int on_notify(void *ud, const char *script_name, pid_t pid, int fd, struct cx_error **err)
{
        if (strcmp(script_name, "post-dump") == 0)
                notified++;
        return 0;
}

static int run_fake(const char *bin, const char *mode, struct cx_error **e)
{
        setenv("FAKE_CRIU", mode, 1);
        _cleanup_free_ char *req = xasprintf("%s/req", dir);
        setenv("FAKE_CRIU_REQ", req, 1);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct ckpt_common c = {.criu = bin, .status_fd = -1, .tcp_established = true};
        struct ckpt_dump_opts d = {.c = c, .leave_running = true};
        struct ckpt_job j = {
            .type = CKPT_JOB_DUMP,
            .c = &c,
            .dump = &d,
            .pid = 4242,
            .images_fd = fd,
            .work_fd = fd,
            .log_name = "dump.log",
            .notify = on_notify,
        };
        int r = ckpt_criu_run(&j, e);
        close(fd);
        return r;
}

static void test_swrk(void)
{
        _cleanup_free_ char *bin = script("criu-swrk", swrk_py);
        struct cx_error *e = NULL;
        notified = 0;
        int r = run_fake(bin, "ok", &e);
        ok(r == 0, "a dump CRIU answers with success (%s)", e ? e->msg : "");
        ok(notified == 1, "its post-dump notification reached the callback");
        cx_error_freep(&e);
        _cleanup_free_ char *req = NULL;
        size_t len = 0;
        _cleanup_free_ char *reqp = xasprintf("%s/req", dir);
        ok(read_file_at(AT_FDCWD, reqp, &req, &len, NULL) == 0 && len > 4 && req[0] == 0x08 &&
               req[1] == 0x01,
           "the request is a DUMP");
        /* a log with an error line, named in the failure */
        _cleanup_free_ char *log = script("dump.log", "(00.1) Error (criu/cr-dump.c:1): boom\n");
        r = run_fake(bin, "fail", &e);
        ok(r == -5, "a failed dump is CRIU's errno (%d)", r);
        contains(e ? e->msg : NULL, "dump went wrong", "with CRIU's message");
        contains(e ? e->msg : NULL, "boom", "and the log's error line");
        cx_error_freep(&e);
        r = run_fake(bin, "silent", &e);
        ok(r < 0, "criu exiting without a response is an error");
        contains(e ? e->msg : NULL, "without a response", "that says so");
        cx_error_freep(&e);
        _cleanup_free_ char *missing = xasprintf("%s/no-such-criu", dir);
        r = run_fake(missing, "ok", &e);
        ok(r == -ENOENT, "a missing criu binary");
        contains(e ? e->msg : NULL, "--criu", "names the flag that gives its path");
        cx_error_freep(&e);
}

int main(void)
{
        strcpy(dir, "/tmp/capsa-test-checkpoint-XXXXXX");
        if (!mkdtemp(dir))
                abort();
        test_modes();
        test_check();
        if (access("/usr/lib/x86_64-linux-gnu/libcriu.so.2", F_OK) == 0 ||
            access("/usr/lib/libcriu.so.2", F_OK) == 0)
                test_swrk();
        else
                printf("# skip swrk: libcriu.so.2 not installed\n");
        rm_rf_at(AT_FDCWD, dir);
        return tap_done();
}
