/* checkpoint/migrate: the framing, file entries, path checks, the bundle sync with its undo, and
 * the TLS handshake (mutual certificates; another CA refused) when openssl(1) is there to make
 * certificates.  No kernel feature beyond a socketpair. */
#include "checkpoint/migrate-internal.h"
#include "tap.h"
#include "util/json.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void test_header(void)
{
        uint8_t h[8];
        uint32_t t, l;
        struct cx_error *e = NULL;
        mig_header_encode(MIG_ROUND, 0x00020304, h);
        ok(h[3] == MIG_ROUND && h[5] == 2 && h[7] == 4, "header: big-endian type and length");
        ok(mig_header_decode(h, &t, &l, &e) == 0 && t == MIG_ROUND && l == 0x00020304,
           "header: decodes");
        mig_header_encode(MIG_DATA, MIG_FRAME_MAX + 1, h);
        ok(mig_header_decode(h, &t, &l, &e) == -EBADMSG, "header: too long refused");
        contains(e ? e->msg : NULL, "DATA message of", "the error names the type");
        cx_error_freep(&e);
        mig_header_encode(999, 1, h);
        ok(mig_header_decode(h, &t, &l, &e) == -EBADMSG, "header: unknown type refused");
        contains(e ? e->msg : NULL, "unknown message type 999", "the error names it");
        cx_error_freep(&e);
        mig_header_encode(0, 1, h);
        ok(mig_header_decode(h, &t, &l, &e) < 0, "header: type 0 refused");
        cx_error_freep(&e);
        is_str(mig_type_name(MIG_COMMIT), "COMMIT", "type names");
}

static void test_frames(void)
{
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        struct mig_conn a = {.fd = sv[0], .peer = "peer a"}, b = {.fd = sv[1], .peer = "peer b"};
        struct cx_error *e = NULL;
        ok(mig_send_json(&a, MIG_PAGE_SERVER, "{\"port\":7001}", &e) == 0, "send a JSON frame");
        struct json_val *v = NULL;
        int64_t port = 0;
        ok(mig_recv_json(&b, MIG_PAGE_SERVER, &v, &e) == 0 &&
               json_val_int(json_val_get(v, "port"), &port) && port == 7001,
           "receive it");
        json_val_freep(&v);
        mig_send_json(&a, MIG_OK, NULL, &e);
        ok(mig_recv_json(&b, MIG_RESTORED, &v, &e) == -EPROTO, "an unexpected type is refused");
        contains(e ? e->msg : NULL, "peer b sent OK where RESTORED was expected",
                 "naming both types");
        cx_error_freep(&e);
        mig_send_json(&a, MIG_OK, "[1]", &e);
        ok(mig_recv_json(&b, MIG_OK, &v, &e) == -EPROTO, "a payload that is no object");
        cx_error_freep(&e);
        struct cx_error remote = {.code = EEXIST, .msg = (char *)"container `c1` already exists"};
        mig_send_error(&a, &remote);
        ok(mig_recv_json(&b, MIG_OK, &v, &e) == -EREMOTEIO, "ERROR from the peer");
        is_str(e ? e->msg : NULL, "peer b: container `c1` already exists",
               "carries the peer's message");
        cx_error_freep(&e);
        uint8_t h[8];
        mig_header_encode(MIG_DATA, MIG_FRAME_MAX + 1, h);
        write_all(sv[0], (char *)h, sizeof(h));
        uint32_t t;
        char *p = NULL;
        ok(mig_recv(&b, &t, &p, NULL, &e) == -EBADMSG, "an oversized frame is refused");
        cx_error_freep(&e);
        mig_conn_close(&a);
        ok(mig_recv(&b, &t, &p, NULL, &e) == -ECONNRESET, "a closed stream");
        contains(e ? e->msg : NULL, "peer b closed the connection", "says so");
        cx_error_freep(&e);
        mig_conn_close(&b);
}

static void test_paths(void)
{
        ok(mig_path_check("rootfs/etc/passwd", NULL) == 0, "path: relative");
        ok(mig_path_check("/etc", NULL) < 0, "path: absolute refused");
        ok(mig_path_check("a/../b", NULL) < 0, "path: .. refused");
        ok(mig_path_check("..", NULL) < 0, "path: .. alone refused");
        ok(mig_path_check("a//b", NULL) < 0, "path: empty component refused");
        ok(mig_path_check("a/./b", NULL) < 0, "path: . refused");
        ok(mig_path_check("a/", NULL) < 0, "path: trailing slash refused");
        ok(mig_path_check("", NULL) < 0, "path: empty refused");
        ok(mig_path_check("a\nb", NULL) < 0, "path: a newline refused");
        ok(mig_path_check("...", NULL) == 0, "path: ... is a name");
}

static void test_entries(void)
{
        struct mig_entry e = {.area = (char *)"rootfs",
                              .path = (char *)"bin/sh",
                              .type = MIG_F_LNK,
                              .mode = 0777,
                              .uid = 1000,
                              .gid = 100,
                              .mtime_ns = 1234567890123456789,
                              .target = (char *)"busybox"};
        char *j = mig_entry_json(&e);
        struct json_val *v = NULL;
        struct mig_entry back;
        struct cx_error *err = NULL;
        ok(json_parse(j, strlen(j), "FILE", &v, &err) == 0 && mig_entry_parse(v, &back, &err) == 0,
           "entry: JSON round trip");
        ok(mig_entry_same(&e, &back) && back.mtime_ns == e.mtime_ns, "entry: the same after");
        back.target[0] = 'X';
        ok(!mig_entry_same(&e, &back), "entry: another symlink target differs");
        mig_entry_clear(&back);
        json_val_freep(&v);
        free(j);
        const char *bad[] = {
            "{\"area\":\"rootfs\",\"path\":\"../x\",\"type\":\"f\",\"mode\":1,\"uid\":0,\"gid\":0,"
            "\"size\":0,\"mtime\":0}",
            "{\"area\":\"rootfs\",\"path\":\"x\",\"type\":\"q\",\"mode\":1,\"uid\":0,\"gid\":0,"
            "\"size\":0,\"mtime\":0}",
            "{\"area\":\"rootfs\",\"path\":\"x\",\"type\":\"f\",\"mode\":70000,\"uid\":0,\"gid\":0,"
            "\"size\":0,\"mtime\":0}",
            "{\"area\":\"rootfs\",\"path\":\"x\",\"type\":\"l\",\"mode\":1,\"uid\":0,\"gid\":0,"
            "\"size\":0,\"mtime\":0}",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                json_parse(bad[i], strlen(bad[i]), "FILE", &v, &err);
                ok(mig_entry_parse(v, &back, &err) < 0, "entry: bad entry %zu refused", i);
                cx_error_freep(&err);
                json_val_freep(&v);
        }
}

/* ---- the bundle sync between two directories ------------------------------------------- */
static char *tmp;

static void put(const char *dir, const char *path, const char *text)
{
        char *p = xasprintf("%s/%s/%s", tmp, dir, path);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write_all(fd, text, strlen(text));
        close(fd);
        free(p);
}

static char *get(const char *dir, const char *path)
{
        char *p = xasprintf("%s/%s/%s", tmp, dir, path), *text = NULL;
        struct cx_error *e = NULL;
        if (read_file_at(AT_FDCWD, p, &text, NULL, &e) < 0)
                cx_error_freep(&e);
        free(p);
        return text;
}

static bool exists(const char *dir, const char *path)
{
        char *p = xasprintf("%s/%s/%s", tmp, dir, path);
        struct stat st;
        bool r = lstat(p, &st) == 0;
        free(p);
        return r;
}

static int opendir_(const char *dir)
{
        char *p = xasprintf("%s/%s", tmp, dir);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        free(p);
        return fd;
}

static void mk(const char *dir)
{
        char *p = xasprintf("%s/%s", tmp, dir);
        mkdir(p, 0755);
        free(p);
}

static void test_sync(void)
{
        char tmpl[] = "/tmp/capsa-test-migrate-XXXXXX";
        tmp = mkdtemp(tmpl);
        mk("src");
        mk("src/etc");
        mk("src/new");
        mk("dst");
        mk("dst/etc");
        mk("dst/gone");
        put("src", "etc/same", "same");
        put("src", "etc/changed", "new text");
        put("src", "new/file", "made");
        put("dst", "etc/changed", "old");
        put("dst", "gone/file", "deleted on the source");
        put("dst", "only-here", "x");
        /* "same" equal by size and mtime: copied with its times */
        put("dst", "etc/same", "same");
        struct timespec ts[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
        for (int i = 0; i < 2; i++) {
                char *p = xasprintf("%s/%s/etc/same", tmp, i ? "dst" : "src");
                utimensat(AT_FDCWD, p, ts, 0);
                free(p);
        }
        symlinkat("etc/same", opendir_("src"), "link");
        mk("backup");
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        pid_t pid = fork();
        if (pid == 0) { /* the source */
                struct mig_conn c = {.fd = sv[0], .peer = "destination"};
                uint32_t t;
                char *p;
                struct cx_error *e = NULL;
                uint64_t bytes = 0;
                int r = mig_recv(&c, &t, &p, NULL, &e) == 0 && t == MIG_OK
                            ? mig_rootfs_sync(&c, opendir_("src"), &bytes, &e)
                            : -1;
                if (r < 0)
                        fprintf(stderr, "# source: %s\n", e ? e->msg : "?");
                _exit(r < 0 ? 1 : bytes == strlen("new text") + strlen("made") ? 0 : 2);
        }
        close(sv[0]);
        struct mig_conn c = {.fd = sv[1], .peer = "source"};
        struct cx_error *e = NULL;
        uint32_t t;
        char *p = NULL;
        int dfd = opendir_("dst"), kfd = opendir_("backup");
        char *jpath = xasprintf("%s/journal", tmp);
        int jfd = open(jpath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        mig_send_json(&c, MIG_OK, NULL, &e);
        ok(mig_recv(&c, &t, &p, NULL, &e) == 0 && t == MIG_MANIFEST_REQ, "sync: manifest asked");
        free(p);
        ok(mig_rootfs_manifest_send(&c, dfd, &e) == 0, "sync: manifest sent");
        int r = mig_rootfs_apply(&c, dfd, kfd, jfd, &e);
        ok(r == 0, "sync: changes applied%s%s", e ? ": " : "", e ? e->msg : "");
        cx_error_freep(&e);
        int status;
        waitpid(pid, &status, 0);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "sync: the source sent only what differs");
        char *s1 = get("dst", "etc/changed"), *s2 = get("dst", "new/file");
        is_str(s1, "new text", "sync: a changed file replaced");
        is_str(s2, "made", "sync: a new file made");
        free(s1);
        free(s2);
        ok(!exists("dst", "gone/file") && !exists("dst", "gone") && !exists("dst", "only-here"),
           "sync: what only the destination had is gone");
        char target[64] = "";
        readlinkat(dfd, "link", target, sizeof(target) - 1);
        is_str(target, "etc/same", "sync: a symlink made");
        ok(mig_rootfs_undo(dfd, kfd, jfd, &e) == 0, "undo: done");
        s1 = get("dst", "etc/changed");
        s2 = get("dst", "gone/file");
        is_str(s1, "old", "undo: the replaced file is back");
        is_str(s2, "deleted on the source", "undo: the deleted tree is back");
        ok(!exists("dst", "new") && !exists("dst", "link") && exists("dst", "only-here"),
           "undo: what the sync made is gone");
        free(s1);
        free(s2);
        mig_conn_close(&c);
        close(dfd);
        close(kfd);
        close(jfd);
        free(jpath);
        rm_rf_at(AT_FDCWD, tmp);
}

/* ---- TLS: two CAs made with openssl(1) --------------------------------------------------- */
static int sh(const char *cmd)
{
        int r = system(cmd);
        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void make_ca(const char *dir, const char *name)
{
        char *cmd = xasprintf(
            "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-days 1 -subj /CN=%s-ca -keyout %s-ca.key -out %s-ca.pem 2>/dev/null && "
            "for who in a b; do openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-subj /CN=%s-$who -keyout %s-$who.key -out %s-$who.csr 2>/dev/null && "
            "openssl x509 -req -in %s-$who.csr -CA %s-ca.pem -CAkey %s-ca.key -CAcreateserial "
            "-days 1 -out %s-$who.pem 2>/dev/null || exit 1; done",
            dir, name, name, name, name, name, name, name, name, name, name);
        sh(cmd);
        free(cmd);
}

/* Handshake between a (client, trusting client_ca, its certificate from cert_ca) and b (server
 * of server_ca); returns the client's error (NULL: success). */
static char *handshake(const char *dir, const char *client_ca, const char *cert_ca,
                       const char *server_ca)
{
        char *cc = xasprintf("%s/%s-ca.pem", dir, client_ca),
             *ccert = xasprintf("%s/%s-a.pem", dir, cert_ca),
             *ckey = xasprintf("%s/%s-a.key", dir, cert_ca);
        char *sc = xasprintf("%s/%s-ca.pem", dir, server_ca),
             *scert = xasprintf("%s/%s-b.pem", dir, server_ca),
             *skey = xasprintf("%s/%s-b.key", dir, server_ca);
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        pid_t pid = fork();
        if (pid == 0) {
                close(sv[0]);
                struct ckpt_tls t = {.cacert = sc, .cert = scert, .key = skey};
                struct mig_conn c = {.fd = -1, .peer = "client"};
                struct cx_error *e = NULL;
                if (mig_tls_handshake(sv[1], &t, true, "client", &c.tls, &e) < 0)
                        _exit(1);
                mig_send_json(&c, MIG_OK, NULL, &e);
                mig_conn_close(&c);
                _exit(0);
        }
        close(sv[1]);
        struct ckpt_tls t = {.cacert = cc, .cert = ccert, .key = ckey};
        struct mig_conn c = {.fd = -1, .peer = "server"};
        struct cx_error *e = NULL;
        struct json_val *v = NULL;
        int r = mig_tls_handshake(sv[0], &t, false, "server", &c.tls, &e);
        if (r < 0)
                close(sv[0]);
        else
                r = mig_recv_json(&c, MIG_OK, &v, &e);
        json_val_freep(&v);
        mig_conn_close(&c);
        waitpid(pid, NULL, 0);
        char *msg = r < 0 ? xstrdup(e && e->msg ? e->msg : "?") : NULL;
        cx_error_freep(&e);
        free(cc), free(ccert), free(ckey), free(sc), free(scert), free(skey);
        return msg;
}

static void test_tls(void)
{
        if (sh("command -v openssl >/dev/null") != 0) {
                printf("ok %d # SKIP openssl(1) missing: no certificates to test TLS with\n",
                       ++tap_n);
                return;
        }
        char tmpl[] = "/tmp/capsa-test-tls-XXXXXX";
        char *dir = mkdtemp(tmpl);
        make_ca(dir, "one");
        make_ca(dir, "two");
        char *m = handshake(dir, "one", "one", "one");
        ok(!m, "tls: both ends of one CA: the stream works%s%s", m ? ": " : "", m ? m : "");
        free(m);
        m = handshake(dir, "one", "two", "one");
        ok(m != NULL, "tls: a client with a certificate of another CA is refused");
        contains(m, "alert", "the client learns it from the server's alert");
        free(m);
        m = handshake(dir, "one", "one", "two");
        contains(m, "certificate",
                 "tls: a server of another CA is refused, naming the certificate");
        free(m);
        struct ckpt_tls none = {.cacert = NULL};
        struct mig_tls *t = NULL;
        struct cx_error *e = NULL;
        ok(mig_tls_handshake(-1, &none, false, "x", &t, &e) == -EINVAL,
           "tls: the files are required");
        cx_error_freep(&e);
        rm_rf_at(AT_FDCWD, dir);
}

int main(void)
{
        signal(SIGPIPE, SIG_IGN);
        test_header();
        test_frames();
        test_paths();
        test_entries();
        test_sync();
        test_tls();
        return tap_done();
}
