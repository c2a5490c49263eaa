/* capsa migrate-receive: the destination side of a live migration (the protocol:
 * migrate-internal.h).  One migration at a time; each runs in WORK/PID.SEQ:
 *   meta.json     the container id, the bundle, the rootfs backup dir, whether restore began
 *   images/N/     round N's images: CRIU's page server writes the pages there (parent -> N-1)
 *   journal       the bundle's changes (migrate-rootfs.c), to undo them
 * A failure, a cut stream or SIGTERM/SIGINT undoes everything the migration made: the page
 * server, a half-restored container, the bundle's changes, the work dir.  A receiver killed
 * with SIGKILL leaves its work dir; the next receiver on the same work dir undoes it at start
 * (the dir's pid is gone). */
#include "checkpoint/migrate-internal.h"
#include "container/container.h"
#include "net/net.h"
#include "state/state.h"
#include "util/json.h"

#include <dirent.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
        stop_signal = sig;
}

struct session {
        const struct ckpt_receive_opts *o;
        struct mig_conn conn;
        struct sockaddr_storage local; /* our end of the stream: the page server listens there */
        struct sockaddr_storage peer;  /* the source's end: its lazy page server listens there */
        unsigned lazy_port;            /* --lazy: the source's page server's port */
        char *dir;                     /* WORK/PID.SEQ */
        char *id;
        char *bundle;
        char *backup; /* BUNDLE/.capsa-migrate-backup.PID.SEQ */
        char **nets;
        char *tenant;
        bool tenant_made;
        uint32_t tenant_first_id; /* its range here (the same as on the source) */
        bool lazy;
        bool tcp_established;
        unsigned round;       /* the last round begun */
        bool final;           /* that round is the final dump */
        pid_t page_server;    /* running, or 0 */
        bool restore_started; /* a container under id may exist */
        bool done;
};

static void phase(const struct session *s, const char *fmt, ...) _printf_(2, 3);
static void phase(const struct session *s, const char *fmt, ...)
{
        if (!s->o->progress)
                return;
        va_list ap;
        va_start(ap, fmt);
        fprintf(s->o->progress, "migrate-receive: `%s`: ", s->id ? s->id : "?");
        vfprintf(s->o->progress, fmt, ap);
        fputc('\n', s->o->progress);
        fflush(s->o->progress);
        va_end(ap);
}

static int stopped(struct cx_error **err)
{
        if (!stop_signal)
                return 0;
        return cx_error_msg(err, EINTR, "stopped by signal %d", (int)stop_signal);
}

/* ---- meta.json: what an undo needs, also after a SIGKILL ---------------------------------- */
static int meta_write(const struct session *s, struct cx_error **err)
{
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "id", s->id);
        json_w_key_str(w, "bundle", s->bundle);
        json_w_key_str(w, "backup", s->backup);
        json_w_key_bool(w, "restore", s->restore_started);
        json_w_key_bool(w, "tenant_made", s->tenant_made);
        if (s->tenant)
                json_w_key_str(w, "tenant", s->tenant);
        json_w_obj_close(w);
        _cleanup_free_ char *text = json_w_finish(w, true);
        _cleanup_free_ char *path = xasprintf("%s/meta.json", s->dir);
        return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), err);
}

/* A half-restored copy holds the source's connections, which go on there: its interfaces go
 * down before it is ended, so that it sends no FIN or RST for them.  One in this host's network
 * namespace has none of its own to take down (mig_silence refuses it): nothing to say. */
static void silence_restored(const char *root, const char *id)
{
        struct state_dir d;
        struct state st = {0};
        _cleanup_error_ struct cx_error *e = NULL;
        if (state_dir_open(root, id, &d, &e) < 0)
                return;
        int r = state_read(&d, &st, &e);
        state_dir_close(&d);
        if (r >= 0 && st.pid > 0 && mig_silence(st.pid, &e) < 0 && e->code != EPERM)
                log_warn("migrate-receive: silencing the half-restored `%s`: %s", id, e->msg);
        state_clear(&st);
}

/* Undoes a migration from its work dir: the container, the bundle's changes, the tenant, the
 * dir.  Errors are logged: an undo goes as far as it can. */
static void undo_dir(const char *root, const char *dir, bool restore_started_hint)
{
        _cleanup_free_ char *meta_path = xasprintf("%s/meta.json", dir);
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_val_freep) struct json_val *m = NULL;
        _cleanup_error_ struct cx_error *e = NULL;
        if (read_file_at(AT_FDCWD, meta_path, &text, NULL, &e) >= 0 &&
            json_parse(text, strlen(text), meta_path, &m, &e) >= 0) {
                const char *id = json_val_str(json_val_get(m, "id"));
                const char *bundle = json_val_str(json_val_get(m, "bundle"));
                const char *backup = json_val_str(json_val_get(m, "backup"));
                const char *tenant = json_val_str(json_val_get(m, "tenant"));
                const struct json_val *rs = json_val_get(m, "restore");
                const struct json_val *tm = json_val_get(m, "tenant_made");
                bool restore = restore_started_hint || (rs && json_val_type(rs) == JSON_TRUE);
                if (restore && id)
                        silence_restored(root, id);
                if (restore && id && container_delete(root, id, true, &e) < 0 && e->code != ENOENT)
                        log_warn("migrate-receive: removing the half-restored `%s`: %s", id,
                                 e->msg);
                cx_error_free(TAKE_PTR(e));
                _cleanup_free_ char *jpath = xasprintf("%s/journal", dir);
                _cleanup_close_ int jfd = open(jpath, O_RDONLY | O_CLOEXEC);
                _cleanup_close_ int bfd =
                    bundle ? open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                _cleanup_close_ int kfd =
                    backup ? open(backup, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
                if (jfd >= 0 && bfd >= 0 && kfd >= 0 && mig_rootfs_undo(bfd, kfd, jfd, &e) < 0)
                        log_warn("migrate-receive: putting the bundle `%s` back: %s", bundle,
                                 e->msg);
                cx_error_free(TAKE_PTR(e));
                if (backup && (jfd >= 0 || kfd >= 0))
                        rm_rf_at(AT_FDCWD, backup);
                if (tenant && tm && json_val_type(tm) == JSON_TRUE &&
                    state_tenant_remove(root, tenant, &e) < 0)
                        log_warn("migrate-receive: forgetting tenant `%s`: %s", tenant, e->msg);
        }
        rm_rf_at(AT_FDCWD, dir);
}

/* Work dirs of receivers that are gone (killed): undone before serving. */
static void sweep(const char *root, const char *work)
{
        DIR *d = opendir(work);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                int pid;
                unsigned seq;
                char tail;
                if (sscanf(de->d_name, "%d.%u%c", &pid, &seq, &tail) != 2 || pid <= 0)
                        continue;
                if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
                        continue;
                _cleanup_free_ char *dir = xasprintf("%s/%s", work, de->d_name);
                log_warn("migrate-receive: undoing the unfinished migration in `%s`", dir);
                undo_dir(root, dir, false);
        }
        closedir(d);
}

/* ---- the page server ----------------------------------------------------------------------- */
static void page_server_kill(struct session *s)
{
        if (s->page_server <= 0)
                return;
        kill(s->page_server, SIGKILL);
        while (waitpid(s->page_server, NULL, 0) < 0 && errno == EINTR)
                ;
        s->page_server = 0;
}

/* The CRIU command that takes the pages here: its name, its log is NAME.log. */
static const char *criu_daemon(const struct session *s)
{
        return s->lazy ? "lazy-pages" : "page-server";
}

/* The last error lines of the daemon's log in dir (CRIU's "Error (file:line): ..."), or "". */
static char *log_errors(const struct session *s, const char *dir)
{
        _cleanup_free_ char *path = xasprintf("%s/%s.log", dir, criu_daemon(s));
        _cleanup_free_ char *text = NULL;
        _cleanup_error_ struct cx_error *e = NULL;
        if (read_file_at(AT_FDCWD, path, &text, NULL, &e) < 0)
                return xstrdup("");
        char *out = xstrdup("");
        unsigned n = 0;
        for (char *save = NULL, *l = strtok_r(text, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
                if (!strstr(l, "Error") || n >= 4)
                        continue;
                char *next = xasprintf("%s%s%s", out, *out ? "; " : ": ", l + strspn(l, " "));
                free(out);
                out = next;
                n++;
        }
        return out;
}

/* Pre-copy: CRIU's page server for one round, listening on our end of the stream (port
 * *ret_port); --lazy: CRIU's lazy-pages daemon, which fetches the pages from the source's page
 * server (s->peer, s->lazy_port) as the restored tasks touch them, then the rest. */
static int page_server_start(struct session *s, const char *dir, unsigned *ret_port,
                             struct cx_error **err)
{
        const struct ckpt_receive_opts *o = s->o;
        unsigned port = s->lazy_port;
        int r = s->lazy ? 0 : mig_free_port(&s->local, &port, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *addr = mig_sockaddr_str(s->lazy ? &s->peer : &s->local, false);
        _cleanup_free_ char *port_s = xasprintf("%u", port);
        _cleanup_free_ char *log = xasprintf("%s.log", criu_daemon(s));
        const char *criu = o->criu ? o->criu : "criu";
        /* --tls-no-cn-verify: CRIU's server would match the client's certificate against its
         * own listening address; the CA's signature is what authenticates the source (the
         * source's CRIU does check the destination's name: its certificate names its address) */
        const char *argv[] = {criu,
                              criu_daemon(s),
                              s->lazy ? "--page-server" : "--tls-no-cn-verify",
                              "--images-dir",
                              dir,
                              "--work-dir",
                              dir,
                              "-o",
                              log,
                              "-v4",
                              "--address",
                              addr,
                              "--port",
                              port_s,
                              "--status-fd",
                              "3",
                              "--tls",
                              "--tls-cacert",
                              o->tls.cacert,
                              "--tls-cert",
                              o->tls.cert,
                              "--tls-key",
                              o->tls.key,
                              NULL};
        int st[2];
        if (pipe2(st, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(st[0]);
                close(st[1]);
                return cx_error_set(err, e, "fork");
        }
        if (pid == 0) {
                if (st[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(st[1], 3) < 0)
                        _exit(127);
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, 0);
                signals_reset_default();
                /* it ends with us: a receiver killed by SIGKILL leaves no page server */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execvp(criu, (char **)argv);
                _exit(127);
        }
        close(st[1]);
        s->page_server = pid;
        char c;
        ssize_t n;
        while ((n = read(st[0], &c, 1)) < 0 && errno == EINTR && !stop_signal)
                ;
        close(st[0]);
        if (n == 1) {
                *ret_port = port;
                return 0;
        }
        page_server_kill(s);
        _cleanup_free_ char *why = log_errors(s, dir);
        return cx_error_msg(err, EIO, "`%s %s` did not start%s", criu, argv[1], why);
}

/* Waits for the page server to end once the source's CRIU is done with it. */
/* Waits for CRIU's page server or lazy-pages daemon to end (a stop signal ends the wait,
 * unless `committed`: a lazy migration's restored container runs here, and the source's tasks
 * end once the daemon has every page: it is finished, whatever the signal). */
static int page_server_wait(struct session *s, const char *dir, int timeout_ms, bool committed,
                            struct cx_error **err)
{
        int status = 0;
        for (int waited = 0;; waited += 100) {
                pid_t p = waitpid(s->page_server, &status, WNOHANG);
                if (p == s->page_server)
                        break;
                if (p < 0 && errno != EINTR)
                        return cx_error_set(err, errno, "waitpid");
                if ((!committed && stopped(err) < 0) || waited > timeout_ms) {
                        page_server_kill(s);
                        return !committed && stopped(err) < 0
                                   ? -EINTR
                                   : cx_error_msg(err, ETIMEDOUT,
                                                  "CRIU's %s did not end "
                                                  "(see %s/%s.log)",
                                                  criu_daemon(s), dir, criu_daemon(s));
                }
                poll(NULL, 0, 100);
        }
        s->page_server = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                _cleanup_free_ char *why = log_errors(s, dir);
                return cx_error_msg(err, EIO, "CRIU's %s failed%s", criu_daemon(s), why);
        }
        return 0;
}

/* The bytes of the pages CRIU wrote into dir (pages-*.img). */
static uint64_t page_bytes(const char *dir)
{
        uint64_t sum = 0;
        DIR *d = opendir(dir);
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                if (str_has_prefix(de->d_name, "pages-") &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISREG(st.st_mode))
                        sum += (uint64_t)st.st_size;
        }
        closedir(d);
        return sum;
}

/* ---- the steps ----------------------------------------------------------------------------- */
static int check_tenant(struct session *s, const struct json_val *h, struct cx_error **err)
{
        const char *root = s->o->root;
        int64_t want;
        if (!json_val_int(json_val_get(h, "tenant_first_id"), &want))
                return cx_error_msg(err, EPROTO, "HELLO: tenant without tenant_first_id");
        struct state_tenant *t = NULL;
        size_t n = 0;
        int r = state_tenant_list(root, &t, &n, err);
        if (r < 0)
                return r;
        int64_t have = -1;
        for (size_t i = 0; i < n; i++)
                if (strcmp(t[i].name, s->tenant) == 0)
                        have = t[i].first_id;
        state_tenants_free(t, n);
        if (have < 0) {
                uint32_t first;
                _cleanup_close_ int lock = -1;
                if ((r = state_tenant_acquire(root, s->tenant, &first, &lock, err)) < 0)
                        return r;
                s->tenant_made = true;
                have = first;
        }
        if (have != want && s->tenant_made) { /* made for this migration: forgotten again */
                _cleanup_error_ struct cx_error *e = NULL;
                if (state_tenant_remove(root, s->tenant, &e) < 0)
                        log_warn("migrate-receive: forgetting tenant `%s`: %s", s->tenant, e->msg);
                s->tenant_made = false;
        }
        s->tenant_first_id = (uint32_t)have;
        if (have != want)
                return cx_error_msg(err, EEXIST,
                                    "tenant `%s` owns ids %" PRId64 "-%" PRId64 " here and %" PRId64
                                    "-%" PRId64
                                    " on the source: its containers move only between equal "
                                    "ranges",
                                    s->tenant, have, have + STATE_TENANT_RANGE - 1, want,
                                    want + STATE_TENANT_RANGE - 1);
        return 0;
}

static int hello(struct session *s, const char *work, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *h = NULL;
        int r = mig_recv_json(&s->conn, MIG_HELLO, &h, err);
        if (r < 0)
                return r;
        int64_t version;
        if (!json_val_int(json_val_get(h, "version"), &version) || version != MIG_PROTO_VERSION)
                return cx_error_msg(err, EPROTO,
                                    "protocol version %" PRId64 " (this capsa "
                                    "speaks %d)",
                                    version, MIG_PROTO_VERSION);
        const char *id = json_val_str(json_val_get(h, "id"));
        const char *bundle = json_val_str(json_val_get(h, "bundle"));
        const char *rootfs = json_val_str(json_val_get(h, "rootfs"));
        const char *tenant = json_val_str(json_val_get(h, "tenant"));
        const struct json_val *nets = json_val_get(h, "nets");
        if (!id || !bundle || !rootfs || !nets || json_val_type(nets) != JSON_ARRAY)
                return cx_error_msg(err, EPROTO, "HELLO without id, bundle, rootfs and nets");
        if ((r = state_id_validate(id, err)) < 0)
                return r;
        s->id = xstrdup(id);
        const struct json_val *lz = json_val_get(h, "lazy");
        const struct json_val *tcp = json_val_get(h, "tcp_established");
        s->lazy = lz && json_val_type(lz) == JSON_TRUE;
        s->tcp_established = tcp && json_val_type(tcp) == JSON_TRUE;
        /* the id is free */
        struct state_dir d;
        _cleanup_error_ struct cx_error *e = NULL;
        if (state_dir_open(s->o->root, id, &d, &e) >= 0) {
                state_dir_close(&d);
                return cx_error_msg(err, EEXIST, "container `%s` already exists here", id);
        }
        if (e->code != ENOENT) {
                *err = TAKE_PTR(e);
                return cx_error_prefix(err, "container `%s`", id);
        }
        /* the bundle is here (the same path) */
        struct stat st;
        size_t bl = strlen(bundle);
        if (bundle[0] != '/' || strncmp(rootfs, bundle, bl) != 0 || rootfs[bl] != '/')
                return cx_error_msg(err, EINVAL,
                                    "bundle `%s` and rootfs `%s`: not an absolute "
                                    "bundle holding the rootfs",
                                    bundle, rootfs);
        if (stat(rootfs, &st) < 0 || !S_ISDIR(st.st_mode))
                return cx_error_msg(err, ENOENT,
                                    "the bundle `%s` (rootfs `%s`) is not here: the destination "
                                    "needs its copy of the bundle at the same path",
                                    bundle, rootfs);
        s->bundle = xstrdup(bundle);
        /* the networks exist (the default and a tenant's are made on first use) */
        for (size_t i = 0; i < json_val_len(nets); i++) {
                const char *arg = json_val_str(json_val_at(nets, i));
                if (!arg)
                        return cx_error_msg(err, EPROTO, "HELLO: nets[%zu] is not a string", i);
                strv_append(&s->nets, arg);
                _cleanup_free_ char *name = strndup(arg, strcspn(arg, ":"));
                struct net_store ns;
                struct net_network nw = {0};
                if ((r = net_store_open(s->o->root, &ns, err)) < 0)
                        return r;
                r = net_network_get(&ns, name, &nw, err);
                net_network_clear(&nw);
                net_store_close(&ns);
                if (r < 0)
                        return cx_error_prefix(err, "the container's network");
        }
        static unsigned seq;
        s->dir = xasprintf("%s/%d.%u", work, (int)getpid(), seq);
        s->backup = xasprintf("%s/" MIG_BACKUP_PREFIX "%d.%u", bundle, (int)getpid(), seq++);
        if (mkdir(s->dir, 0700) < 0) {
                r = cx_error_set(err, errno, "mkdir `%s`", s->dir);
                free(TAKE_PTR(s->dir));
                return r;
        }
        if ((r = meta_write(s, err)) < 0)
                return r;
        if (tenant) {
                s->tenant = xstrdup(tenant);
                if ((r = check_tenant(s, h, err)) < 0 || (r = meta_write(s, err)) < 0)
                        return r;
        }
        _cleanup_free_ char *images = xasprintf("%s/images", s->dir);
        if (mkdir(images, 0700) < 0)
                return cx_error_set(err, errno, "mkdir `%s`", images);
        phase(s, "accepted from %s", s->conn.peer);
        return mig_send_json(&s->conn, MIG_OK, NULL, err);
}

static char *round_dir(const struct session *s, unsigned n)
{
        return xasprintf("%s/images/%u", s->dir, n);
}

/* A tenant's restored tasks read their images as the tenant's root (CRIU opens them from
 * inside the container's user namespace): the rounds' files become that id's, their
 * directories open to it (0755: CRIU opens `parent`; the files stay 0600). */
static int images_for_tenant(struct session *s, struct cx_error **err)
{
        uid_t id = (uid_t)s->tenant_first_id;
        _cleanup_free_ char *top = xasprintf("%s/images", s->dir);
        if (chmod(top, 0711) < 0)
                return cx_error_set(err, errno, "chmod `%s`", top);
        for (unsigned n = 1; n <= s->round; n++) {
                _cleanup_free_ char *dir = round_dir(s, n);
                DIR *d = opendir(dir);
                if (!d || fchmod(dirfd(d), 0755) < 0) {
                        int e = errno;
                        if (d)
                                closedir(d);
                        return cx_error_set(err, e, "open `%s`", dir);
                }
                int r = 0;
                for (struct dirent *de; r == 0 && (de = readdir(d));)
                        if (de->d_type == DT_REG &&
                            fchownat(dirfd(d), de->d_name, id, (gid_t)id, AT_SYMLINK_NOFOLLOW) < 0)
                                r = cx_error_set(err, errno, "chown `%s/%s`", dir, de->d_name);
                closedir(d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int round_begin(struct session *s, const char *payload, size_t len, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        int r = json_parse(payload, len, "ROUND", &v, err);
        if (r < 0)
                return r;
        int64_t n;
        const struct json_val *f = json_val_get(v, "final");
        if (!json_val_int(json_val_get(v, "round"), &n) || n != (int64_t)s->round + 1 || s->final)
                return cx_error_msg(err, EPROTO, "ROUND out of order (after round %u)", s->round);
        s->round = (unsigned)n;
        s->final = f && json_val_type(f) == JSON_TRUE;
        int64_t lazy_port = 0;
        if (s->lazy &&
            (!s->final || n != 1 || !json_val_int(json_val_get(v, "lazy_port"), &lazy_port) ||
             lazy_port <= 0 || lazy_port > 65535))
                return cx_error_msg(err, EPROTO,
                                    "ROUND of a lazy migration: one final round with lazy_port");
        s->lazy_port = (unsigned)lazy_port;
        _cleanup_free_ char *dir = round_dir(s, s->round);
        if (mkdir(dir, 0700) < 0)
                return cx_error_set(err, errno, "mkdir `%s`", dir);
        if (s->round > 1) {
                _cleanup_free_ char *parent = xasprintf("../%u", s->round - 1);
                _cleanup_free_ char *link = xasprintf("%s/parent", dir);
                if (symlink(parent, link) < 0)
                        return cx_error_set(err, errno, "symlink `%s`", link);
        }
        unsigned port = 0; /* --lazy: the pages wait on the source until the restore */
        if (!s->lazy && (r = page_server_start(s, dir, &port, err)) < 0)
                return r;
        phase(s, "%s %u: page server on port %u", s->final ? "final dump, round" : "pre-copy round",
              s->round, port);
        _cleanup_free_ char *reply = xasprintf("{\"port\":%u}", port);
        return mig_send_json(&s->conn, MIG_PAGE_SERVER, reply, err);
}

static int round_end(struct session *s, struct cx_error **err)
{
        if (s->lazy && s->round == 1)
                return mig_send_json(&s->conn, MIG_ROUND_BYTES, "{\"bytes\":0}", err);
        if (s->page_server <= 0)
                return cx_error_msg(err, EPROTO, "ROUND_DONE without a round");
        _cleanup_free_ char *dir = round_dir(s, s->round);
        int r = page_server_wait(s, dir, 30000, false, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *reply = xasprintf("{\"bytes\":%" PRIu64 "}", page_bytes(dir));
        return mig_send_json(&s->conn, MIG_ROUND_BYTES, reply, err);
}

/* The final round's images (FILE ... END). */
static int images_recv(struct session *s, const char *first, size_t len, struct cx_error **err)
{
        if (!s->final || s->page_server > 0)
                return cx_error_msg(err, EPROTO, "images before the final dump ended");
        phase(s, "receiving the images");
        _cleanup_free_ char *dir = round_dir(s, s->round);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return cx_error_set(err, errno, "open `%s`", dir);
        _cleanup_free_ char *p = xstrdup(first);
        for (;;) {
                _cleanup_(json_val_freep) struct json_val *v = NULL;
                struct mig_entry e;
                int r = json_parse(p, len, "FILE", &v, err);
                if (r < 0 || (r = mig_entry_parse(v, &e, err)) < 0)
                        return r;
                if (strcmp(e.area, "images") != 0 || e.type == MIG_F_DEL)
                        r = cx_error_msg(err, EPROTO, "FILE `%s` of area `%s` among the images",
                                         e.path, e.area);
                else
                        r = mig_recv_file(&s->conn, dfd, &e, err);
                mig_entry_clear(&e);
                if (r < 0)
                        return cx_error_prefix(err, "receiving the images");
                uint32_t type;
                free(TAKE_PTR(p));
                if ((r = mig_recv(&s->conn, &type, &p, &len, err)) < 0)
                        return r;
                if (type == MIG_END)
                        return 0;
                if (type != MIG_FILE)
                        return cx_error_msg(err, EPROTO, "%s among the images",
                                            mig_type_name(type));
        }
}

static int bundle_sync(struct session *s, struct cx_error **err)
{
        phase(s, "syncing the bundle");
        _cleanup_close_ int bfd = open(s->bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0)
                return cx_error_set(err, errno, "open the bundle `%s`", s->bundle);
        int r = mig_rootfs_manifest_send(&s->conn, bfd, err);
        if (r < 0)
                return r;
        if (mkdir(s->backup, 0700) < 0)
                return cx_error_set(err, errno, "mkdir `%s`", s->backup);
        _cleanup_close_ int kfd = open(s->backup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_free_ char *jpath = xasprintf("%s/journal", s->dir);
        _cleanup_close_ int jfd = open(jpath, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (kfd < 0 || jfd < 0)
                return cx_error_set(err, errno, "open `%s` and `%s`", s->backup, jpath);
        return mig_rootfs_apply(&s->conn, bfd, kfd, jfd, err);
}

static int restore(struct session *s, struct cx_error **err)
{
        const struct ckpt_receive_opts *o = s->o;
        if (!s->final || s->page_server > 0)
                return cx_error_msg(err, EPROTO, "RESTORE before the final dump");
        s->restore_started = true;
        int r = meta_write(s, err);
        if (r < 0)
                return r;
        phase(s, "restoring");
        _cleanup_free_ char *dir = round_dir(s, s->round);
        struct container_opts co = {
            .root = o->root,
            .id = s->id,
            .bundle = s->bundle,
            .detach = true,
            .tenant = s->tenant,
            .nets = s->nets,
        };
        struct ckpt_restore_opts ro = {
            .c =
                {
                    .criu = o->criu,
                    .image_path = dir,
                    .work_path = dir,
                    .tcp_established = s->tcp_established,
                    .status_fd = -1,
                },
            .stdio_inherit = true,
        };
        if (s->tenant && (r = images_for_tenant(s, err)) < 0)
                return r;
        if (s->lazy) { /* the daemon first: the restored tasks ask it for their pages */
                ro.c.lazy_pages = true;
                unsigned port;
                if ((r = page_server_start(s, dir, &port, err)) < 0)
                        return r;
        }
        if ((r = container_restore(&co, &ro, NULL, err)) < 0)
                return r;
        if ((r = stopped(err)) < 0)
                return r;
        phase(s, "restored");
        return mig_send_json(&s->conn, MIG_RESTORED, NULL, err);
}

static int commit(struct session *s, struct cx_error **err)
{
        struct state_dir d;
        struct state st = {0};
        int r = state_dir_open(s->o->root, s->id, &d, err);
        if (r < 0)
                return r;
        r = state_read(&d, &st, err);
        state_dir_close(&d);
        if (r < 0)
                return r;
        unsigned n = 0;
        _cleanup_error_ struct cx_error *e = NULL;
        if (st.pid > 0 && s->nets && s->nets[0] && mig_announce(st.pid, &n, &e) < 0)
                log_warn("migrate-receive: `%s`: %s", s->id, e->msg);
        state_clear(&st);
        if (s->lazy) { /* it runs here; it is ours once every page is here */
                phase(s, "fetching the rest of the pages");
                _cleanup_free_ char *dir = round_dir(s, s->round);
                if ((r = page_server_wait(s, dir, 3600 * 1000, true, err)) < 0)
                        return r;
        }
        s->done = true;
        phase(s, "running here (%u address%s announced)", n, n == 1 ? "" : "es");
        _cleanup_error_ struct cx_error *ignored = NULL;
        mig_send_json(&s->conn, MIG_DONE, NULL, &ignored);
        return 0;
}

static int serve(struct session *s, const char *work, struct cx_error **err)
{
        int r = hello(s, work, err);
        if (r < 0)
                return r;
        for (;;) {
                uint32_t type;
                size_t len;
                _cleanup_free_ char *p = NULL;
                if ((r = stopped(err)) < 0 || (r = mig_recv(&s->conn, &type, &p, &len, err)) < 0)
                        return stopped(err) < 0 ? -EINTR : r;
                switch (type) {
                case MIG_ROUND:
                        r = round_begin(s, p, len, err);
                        break;
                case MIG_ROUND_DONE:
                        r = round_end(s, err);
                        break;
                case MIG_FILE:
                        r = images_recv(s, p, len, err);
                        break;
                case MIG_MANIFEST_REQ:
                        r = bundle_sync(s, err);
                        break;
                case MIG_RESTORE:
                        r = restore(s, err);
                        break;
                case MIG_COMMIT:
                        if (!s->restore_started)
                                return cx_error_msg(err, EPROTO, "COMMIT before RESTORE");
                        return commit(s, err);
                default:
                        r = cx_error_msg(err, EPROTO, "unexpected %s", mig_type_name(type));
                }
                if (r < 0)
                        return r;
        }
}

static void session_end(struct session *s, bool ok)
{
        page_server_kill(s);
        if (s->dir) {
                if (ok) {
                        if (s->backup)
                                rm_rf_at(AT_FDCWD, s->backup);
                        rm_rf_at(AT_FDCWD, s->dir);
                } else {
                        undo_dir(s->o->root, s->dir, s->restore_started);
                }
        }
        mig_conn_close(&s->conn);
        free(s->dir);
        free(s->id);
        free(s->bundle);
        free(s->backup);
        strv_free(s->nets);
        free(s->tenant);
}

static int one(const struct ckpt_receive_opts *o, const char *work, int lfd, bool *handled,
               struct cx_error **err)
{
        struct sockaddr_storage peer_addr;
        socklen_t plen = sizeof(peer_addr);
        int fd = accept4(lfd, (struct sockaddr *)&peer_addr, &plen, SOCK_CLOEXEC);
        if (fd < 0)
                return errno == EINTR ? 0 : cx_error_set(err, errno, "accept");
        _cleanup_free_ char *peer_s = mig_sockaddr_str(&peer_addr, true);
        _cleanup_free_ char *peer = xasprintf("source %s", peer_s);
        struct session s = {.o = o, .conn = {.fd = -1, .peer = peer}, .peer = peer_addr};
        socklen_t llen = sizeof(s.local);
        getsockname(fd, (struct sockaddr *)&s.local, &llen);
        int r = mig_tls_handshake(fd, &o->tls, true, peer, &s.conn.tls, err);
        if (r < 0) {
                close(fd);
                return r; /* no migration began: the receiver goes on */
        }
        *handled = true;
        r = serve(&s, work, err);
        if (r < 0) {
                mig_send_error(&s.conn, *err);
                cx_error_prefix(err, "migration of `%s` from %s", s.id ? s.id : "?", peer_s);
                if (s.dir && s.round > 0) { /* the page server's side of a failed round */
                        _cleanup_free_ char *dir = round_dir(&s, s.round);
                        _cleanup_free_ char *why = log_errors(&s, dir);
                        if (*why)
                                log_warn("migrate-receive: the page server of round %u%s", s.round,
                                         why);
                }
        }
        session_end(&s, r >= 0 && s.done);
        return r < 0 ? r : 0;
}

int ckpt_migrate_receive(const struct ckpt_receive_opts *o, struct cx_error **err)
{
        if (!o->tls.cacert || !o->tls.cert || !o->tls.key)
                return cx_error_msg(err, EINVAL,
                                    "--tls-cacert, --tls-cert and --tls-key are "
                                    "required: the stream is authenticated");
        if (!o->listen)
                return cx_error_msg(err, EINVAL, "--listen ADDR:PORT is required");
        _cleanup_free_ char *work =
            o->work_dir ? xstrdup(o->work_dir) : xasprintf("%s/.migrate-receive", o->root);
        int r = mkdir_p(work, 0700, err);
        if (r < 0)
                return r;
        sweep(o->root, work);
        _cleanup_close_ int lfd = -1;
        if ((r = mig_listen(o->listen, &lfd, err)) < 0)
                return r;
        struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: blocked calls return */
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (o->progress) {
                fprintf(o->progress, "migrate-receive: listening on %s\n", o->listen);
                fflush(o->progress);
        }
        while (!stop_signal) {
                bool handled = false;
                _cleanup_error_ struct cx_error *e = NULL;
                r = one(o, work, lfd, &handled, &e);
                if (r < 0 && (o->once && handled)) {
                        *err = TAKE_PTR(e);
                        return r;
                }
                if (r < 0)
                        log_msg(LOG_ERROR, "migrate-receive: %s", e->msg);
                if (o->once && handled)
                        return 0;
        }
        return 0;
}
