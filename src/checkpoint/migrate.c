/* capsa migrate: the source side of a live migration (the protocol: migrate-internal.h).
 *
 * Pre-copy: rounds of CRIU pre-dumps with memory tracking send the pages to the destination's
 * page server while the container runs; each round after the first sends only what was
 * dirtied since the one before.  The rounds stop when the dirty set stops shrinking, at
 * --max-rounds, or when the last round's estimated downtime is below --max-downtime.  Then the
 * container is frozen (cgroup freezer), the final dump sends what is left, its images and the
 * bundle's changes go over the stream, the destination restores it and says so, and only then
 * is the source container deleted.  The final dump leaves the container running (frozen, as
 * CRIU found it): any failure before the destination's DONE thaws it, and it goes on here. */
#include "checkpoint/migrate-internal.h"
#include "container/container.h"
#include "state/state.h"
#include "util/json.h"

#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

uint64_t mig_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What the source knows of the container before it starts. */
struct source {
        const struct ckpt_migrate_opts *o;
        char *bundle;
        char *rootfs;
        char *config; /* the bundle's config.json */
        char *tenant;
        uint32_t tenant_first_id;
        char **nets;
        char *work; /* ROOT/.migrate-ID-XXXXXX: the local images */
        char *dest_host;
        struct mig_conn conn;
        struct sockaddr_storage local; /* our end of the stream (--lazy: the page server's) */
        pid_t pid;                     /* the container's init */
        pid_t lazy_dump;               /* --lazy: the child dumping and serving the pages */
        int lazy_err;                  /* its error message comes here */
        unsigned lazy_port;
        bool paused;
};

static void source_clear(struct source *s)
{
        free(s->bundle);
        free(s->rootfs);
        free(s->config);
        free(s->tenant);
        strv_free(s->nets);
        if (s->work) {
                rm_rf_at(AT_FDCWD, s->work);
                free(s->work);
        }
        free(s->dest_host);
        mig_conn_close(&s->conn);
}

static int container_status(const char *root, const char *id, char **ret, struct cx_error **err)
{
        _cleanup_free_ char *json = NULL;
        int r = container_state(root, id, &json, err);
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *v = NULL;
        if ((r = json_parse(json, strlen(json), "state", &v, err)) < 0)
                return r;
        const char *st = json_val_str(json_val_get(v, "status"));
        *ret = xstrdup(st ? st : "unknown");
        return 0;
}

/* Whether the container's root is an overlay of image layers: its undo record (ROOT/ID/undo,
 * the container layer's) holds an `image` entry. */
static bool made_from_image(int dirfd)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_error_ struct cx_error *e = NULL;
        if (read_file_at(dirfd, "undo", &text, NULL, &e) < 0)
                return false;
        for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (str_has_prefix(l, "image "))
                        return true;
        return false;
}

/* The container's bundle, rootfs, tenant and networks; refuses what cannot move. */
static int source_load(struct source *s, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        _cleanup_free_ char *status = NULL;
        int r = container_status(o->root, o->id, &status, err);
        if (r < 0)
                return r;
        if (strcmp(status, "running") != 0)
                return cx_error_msg(err, EINVAL,
                                    "container `%s` is %s: only a running container "
                                    "migrates",
                                    o->id, status);
        struct state_dir d;
        struct state st = {0};
        if ((r = state_dir_open(o->root, o->id, &d, err)) < 0)
                return r;
        r = state_read(&d, &st, err);
        bool image = r >= 0 && made_from_image(d.fd);
        state_dir_close(&d);
        if (r < 0)
                return r;
        s->bundle = xstrdup(st.bundle);
        s->pid = st.pid;
        s->rootfs = xstrdup(st.rootfs);
        for (char **a = st.annotations; a && a[0] && a[1]; a += 2)
                if (strcmp(a[0], STATE_TENANT_ANNOTATION) == 0)
                        s->tenant = xstrdup(a[1]);
        state_clear(&st);
        size_t bl = strlen(s->bundle);
        if (strncmp(s->rootfs, s->bundle, bl) != 0 || s->rootfs[bl] != '/')
                return cx_error_msg(err, ENOTSUP,
                                    "container `%s`: its rootfs `%s` is outside its bundle `%s` "
                                    "(only the bundle is sent)",
                                    o->id, s->rootfs, s->bundle);
        if (image)
                return cx_error_msg(err, ENOTSUP,
                                    "container `%s`: its rootfs is an overlay (a container made "
                                    "from an image): not migrated yet, only bundle containers",
                                    o->id);
        _cleanup_free_ char *cfg = xasprintf("%s/config.json", s->bundle);
        if ((r = read_file_at(AT_FDCWD, cfg, &s->config, NULL, err)) < 0)
                return r;
        if (s->tenant) {
                struct state_tenant *t = NULL;
                size_t n = 0;
                if ((r = state_tenant_list(o->root, &t, &n, err)) < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (strcmp(t[i].name, s->tenant) == 0)
                                s->tenant_first_id = t[i].first_id;
                state_tenants_free(t, n);
        }
        return mig_container_nets(o->root, o->id, &s->nets, err);
}

static char *hello_json(const struct source *s)
{
        const struct ckpt_migrate_opts *o = s->o;
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_int(w, "version", MIG_PROTO_VERSION);
        json_w_key_str(w, "id", o->id);
        json_w_key_str(w, "bundle", s->bundle);
        json_w_key_str(w, "rootfs", s->rootfs);
        json_w_key_str(w, "config", s->config);
        json_w_key_strv(w, "nets", (const char *const *)s->nets, strv_len(s->nets));
        if (s->tenant) {
                json_w_key_str(w, "tenant", s->tenant);
                json_w_key_u64(w, "tenant_first_id", s->tenant_first_id);
        }
        json_w_key_bool(w, "lazy", o->lazy);
        json_w_key_bool(w, "tcp_established", o->tcp_established);
        json_w_obj_close(w);
        return json_w_finish(w, false);
}

static void progress(const struct source *s, const char *what, unsigned round, uint64_t bytes,
                     uint64_t ms)
{
        if (!s->o->progress)
                return;
        double mib = (double)bytes / (1 << 20);
        fprintf(stderr, "\r\033[K%s %u: %.1f MiB in %" PRIu64 " ms (%.1f MiB/s)", what, round, mib,
                ms, ms ? mib * 1000 / (double)ms : 0.0);
        fflush(stderr);
}

/* One round's CRIU pre-dump or final dump (left running, frozen), its pages to the destination's
 * page server. */
static int round_dump(struct source *s, unsigned n, bool final, const char *dir, const char *parent,
                      const char *page_server, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        struct ckpt_dump_opts d = {
            .c =
                {
                    .criu = o->criu,
                    .image_path = dir,
                    .work_path = dir,
                    .tcp_established = o->tcp_established,
                    .status_fd = -1,
                    .tls = o->tls,
                },
            .parent_path = parent,
            .leave_running = true,
            .pre_dump = !final,
            .track_mem = true,
            .page_server = page_server,
        };
        if (container_checkpoint(o->root, o->id, &d, err) < 0)
                return cx_error_prefix(err, "%s %u", final ? "final dump, round" : "pre-dump round",
                                       n);
        return 0;
}

/* ---- post-copy (--lazy) ---------------------------------------------------------------------
 * One final dump, with lazy pages, in a child of ours: CRIU writes every image but the pages,
 * then serves the pages of the frozen tasks on our end of the stream (TLS) until the
 * destination's lazy-pages daemon has them all; the tasks end then, and container_checkpoint
 * deletes the container.  Should the page server fail (the destination gone), CRIU resumes the
 * tasks here. */
static int lazy_dump_wait(struct source *s, struct cx_error **err)
{
        int status = 0;
        while (waitpid(s->lazy_dump, &status, 0) < 0 && errno == EINTR)
                ;
        s->lazy_dump = 0;
        char msg[2048];
        ssize_t n = read(s->lazy_err, msg, sizeof(msg) - 1);
        close(TAKE_FD(s->lazy_err));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        msg[n > 0 ? n : 0] = 0;
        return cx_error_msg(err, EIO, "the lazy dump: %s", n > 0 ? msg : "its process died");
}

/* Returns once CRIU's page server listens (the images are written), or with the dump's error. */
static int lazy_dump_start(struct source *s, const char *dir, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        _cleanup_free_ char *addr = mig_sockaddr_str(&s->local, false);
        _cleanup_free_ char *ps =
            xasprintf(strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, s->lazy_port);
        int st[2], ep[2];
        if (pipe2(st, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        if (pipe2(ep, O_CLOEXEC) < 0) {
                int e = errno;
                close(st[0]);
                close(st[1]);
                return cx_error_set(err, e, "pipe");
        }
        pid_t pid = fork();
        if (pid == 0) {
                close(st[0]);
                close(ep[0]);
                setpgid(0, 0); /* CRIU with it: one group to end */
                struct ckpt_dump_opts d = {
                    .c =
                        {
                            .criu = o->criu,
                            .image_path = dir,
                            .work_path = dir,
                            .tcp_established = o->tcp_established,
                            .status_fd = st[1],
                            .tls = o->tls,
                            .lazy_pages = true,
                        },
                    .page_server = ps,
                };
                d.c.tls.no_cn_verify = true; /* the server here: the CA authenticates */
                _cleanup_error_ struct cx_error *e = NULL;
                if (container_checkpoint(o->root, o->id, &d, &e) < 0) {
                        (void)!write(ep[1], e->msg, strlen(e->msg));
                        _exit(1);
                }
                _exit(0);
        }
        int e = errno;
        close(st[1]);
        close(ep[1]);
        if (pid < 0) {
                close(st[0]);
                close(ep[0]);
                return cx_error_set(err, e, "fork");
        }
        s->lazy_dump = pid;
        s->lazy_err = ep[0];
        char c;
        ssize_t n;
        while ((n = read(st[0], &c, 1)) < 0 && errno == EINTR)
                ;
        close(st[0]);
        return n == 1 ? 0 : lazy_dump_wait(s, err);
}

/* A failure before the destination took the pages: a connection that is not TLS ends CRIU's
 * page server, and CRIU resumes the tasks; if it does not end in 10 s, it is killed (and the
 * failure path thaws the cgroup it froze). */
static void lazy_dump_abort(struct source *s)
{
        if (s->lazy_dump <= 0)
                return;
        struct sockaddr_storage ss = s->local;
        if (ss.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)s->lazy_port);
        else
                ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)s->lazy_port);
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
                (void)!connect(fd, (struct sockaddr *)&ss,
                               ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                        : sizeof(struct sockaddr_in));
        close(TAKE_FD(fd));
        for (int waited = 0; waited < 10000; waited += 100) {
                if (waitpid(s->lazy_dump, NULL, WNOHANG) == s->lazy_dump) {
                        s->lazy_dump = 0;
                        break;
                }
                poll(NULL, 0, 100);
        }
        if (s->lazy_dump > 0) {
                kill(-s->lazy_dump, SIGKILL);
                while (waitpid(s->lazy_dump, NULL, 0) < 0 && errno == EINTR)
                        ;
                s->lazy_dump = 0;
        }
        close(TAKE_FD(s->lazy_err));
}

/* One round: the destination starts a page server, CRIU sends the pages there.  ret_bytes:
 * what the destination's page server wrote. */
static int round_run(struct source *s, unsigned n, bool final, uint64_t *ret_bytes,
                     struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_u64(w, "round", n);
        json_w_key_bool(w, "final", final);
        if (o->lazy)
                json_w_key_u64(w, "lazy_port", s->lazy_port);
        json_w_obj_close(w);
        _cleanup_free_ char *req = json_w_finish(w, false);
        _cleanup_(json_val_freep) struct json_val *ps = NULL;
        int r = mig_send_json(&s->conn, MIG_ROUND, req, err);
        if (r < 0 || (r = mig_recv_json(&s->conn, MIG_PAGE_SERVER, &ps, err)) < 0)
                return r;
        int64_t port;
        if (!json_val_int(json_val_get(ps, "port"), &port) || port < 0 || port > 65535 ||
            (port == 0) != o->lazy)
                return cx_error_msg(err, EPROTO, "%s: PAGE_SERVER without a port", s->conn.peer);
        _cleanup_free_ char *dir = xasprintf("%s/%u", s->work, n);
        _cleanup_free_ char *parent = n > 1 ? xasprintf("../%u", n - 1) : NULL;
        bool v6 = strchr(s->dest_host, ':') != NULL;
        _cleanup_free_ char *page_server =
            xasprintf(v6 ? "[%s]:%u" : "%s:%u", s->dest_host, (unsigned)port);
        if (mkdir(dir, 0700) < 0)
                return cx_error_set(err, errno, "mkdir `%s`", dir);
        if (o->lazy)
                r = lazy_dump_start(s, dir, err);
        else
                r = round_dump(s, n, final, dir, parent, page_server, err);
        if (r < 0)
                return r;
        _cleanup_(json_val_freep) struct json_val *b = NULL;
        if ((r = mig_send_json(&s->conn, MIG_ROUND_DONE, NULL, err)) < 0 ||
            (r = mig_recv_json(&s->conn, MIG_ROUND_BYTES, &b, err)) < 0)
                return r;
        int64_t bytes;
        if (!json_val_int(json_val_get(b, "bytes"), &bytes) || bytes < 0)
                return cx_error_msg(err, EPROTO, "%s: ROUND_BYTES without bytes", s->conn.peer);
        *ret_bytes = (uint64_t)bytes;
        return 0;
}

/* Pre-copy rounds until the dirty set stops shrinking, the round limit or the downtime goal. */
static int precopy(struct source *s, struct ckpt_migrate_stats *st, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        unsigned max = o->max_rounds ? o->max_rounds : 8;
        if (max > ARRAY_SIZE(st->round_bytes) - 1)
                max = ARRAY_SIZE(st->round_bytes) - 1;
        for (unsigned n = 1; n <= max; n++) {
                uint64_t t0 = mig_now_ms(), bytes;
                int r = round_run(s, n, false, &bytes, err);
                if (r < 0)
                        return r;
                uint64_t ms = mig_now_ms() - t0;
                st->round_bytes[st->rounds++] = bytes;
                st->total_bytes += bytes;
                progress(s, "pre-copy round", n, bytes, ms);
                if (n > 1 && bytes >= st->round_bytes[n - 2])
                        break; /* not shrinking: more rounds only cost time */
                /* the final dump sends about what this round did, in about its time */
                if (o->max_downtime_ms && ms < (uint64_t)o->max_downtime_ms)
                        break;
        }
        return 0;
}

static int hello(struct source *s, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        _cleanup_free_ char *port = NULL;
        int r = mig_hostport_split(o->dest, &s->dest_host, &port, err);
        if (r < 0)
                return r;
        int fd;
        if ((r = mig_connect(o->dest, &fd, err)) < 0)
                return r;
        socklen_t llen = sizeof(s->local);
        if (getsockname(fd, (struct sockaddr *)&s->local, &llen) < 0) {
                r = cx_error_set(err, errno, "getsockname");
                close(fd);
                return r;
        }
        if ((r = mig_tls_handshake(fd, &o->tls, false, s->conn.peer, &s->conn.tls, err)) < 0) {
                close(fd);
                return r;
        }
        _cleanup_free_ char *h = hello_json(s);
        _cleanup_(json_val_freep) struct json_val *ok = NULL;
        if ((r = mig_send_json(&s->conn, MIG_HELLO, h, err)) < 0 ||
            (r = mig_recv_json(&s->conn, MIG_OK, &ok, err)) < 0)
                return r;
        return 0;
}

/* CRIU's link to the round before: the destination has its own. */
static bool is_parent_link(const char *name)
{
        return strcmp(name, "parent") == 0;
}

/* Images of the final round, then the bundle's changes. */
static int send_state(struct source *s, unsigned n, struct ckpt_migrate_stats *st,
                      struct cx_error **err)
{
        _cleanup_free_ char *dir = xasprintf("%s/%u", s->work, n);
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return cx_error_set(err, errno, "open `%s`", dir);
        int r = mig_send_tree(&s->conn, dfd, "images", is_parent_link, err);
        if (r < 0 || (r = mig_send(&s->conn, MIG_END, NULL, 0, err)) < 0)
                return cx_error_prefix(err, "sending the images");
        _cleanup_close_ int bfd = open(s->bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (bfd < 0)
                return cx_error_set(err, errno, "open the bundle `%s`", s->bundle);
        uint64_t bytes = 0;
        if ((r = mig_rootfs_sync(&s->conn, bfd, &bytes, err)) < 0)
                return r;
        st->total_bytes += bytes;
        return 0;
}

static int finish(struct source *s, struct cx_error **err)
{
        _cleanup_(json_val_freep) struct json_val *a = NULL, *b = NULL;
        int r = mig_send_json(&s->conn, MIG_RESTORE, NULL, err);
        if (r < 0 || (r = mig_recv_json(&s->conn, MIG_RESTORED, &a, err)) < 0)
                return cx_error_prefix(err, "restore on the destination");
        if ((r = mig_send_json(&s->conn, MIG_COMMIT, NULL, err)) < 0 ||
            (r = mig_recv_json(&s->conn, MIG_DONE, &b, err)) < 0)
                return r;
        return 0;
}

/* --lazy: the final dump at once (no pre-copy), the restore on the destination as soon as the
 * images are there; the pages follow, as the tasks touch them and then the rest.  The freeze
 * ends when the destination runs it; DONE comes once every page is there. */
static int migrate_lazy(struct source *s, struct ckpt_migrate_stats *st, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        int r = mig_free_port(&s->local, &s->lazy_port, err);
        if (r < 0)
                return r;
        uint64_t t_freeze = mig_now_ms(), bytes;
        s->paused = true; /* CRIU freezes it: a failure thaws it, whatever became of CRIU */
        if ((r = round_run(s, 1, true, &bytes, err)) < 0 || (r = send_state(s, 1, st, err)) < 0)
                return r;
        progress(s, "lazy dump, images of round", 1, st->total_bytes, mig_now_ms() - t_freeze);
        _cleanup_(json_val_freep) struct json_val *a = NULL, *b = NULL;
        if ((r = mig_send_json(&s->conn, MIG_RESTORE, NULL, err)) < 0 ||
            (r = mig_recv_json(&s->conn, MIG_RESTORED, &a, err)) < 0)
                return cx_error_prefix(err, "restore on the destination");
        st->freeze_ms = mig_now_ms() - t_freeze;
        if ((r = mig_send_json(&s->conn, MIG_COMMIT, NULL, err)) < 0 ||
            (r = mig_recv_json(&s->conn, MIG_DONE, &b, err)) < 0)
                return r;
        /* every page is there: CRIU ends the tasks here, container_checkpoint the container */
        s->paused = false;
        if ((r = lazy_dump_wait(s, err)) < 0)
                return cx_error_prefix(err, "the container runs on %s; ending it here", o->dest);
        st->round_bytes[0] = st->total_bytes;
        if (o->progress)
                fprintf(stderr, "\r\033[Kmigrated `%s` to %s (post-copy)\n", o->id, o->dest);
        return 0;
}

static int migrate(struct source *s, struct ckpt_migrate_stats *st, struct cx_error **err)
{
        const struct ckpt_migrate_opts *o = s->o;
        int r = source_load(s, err);
        if (r < 0 || (r = hello(s, err)) < 0)
                return r;
        s->work = xasprintf("%s/.migrate-%s-XXXXXX", o->root, o->id);
        if (!mkdtemp(s->work)) {
                r = cx_error_set(err, errno, "mkdir `%s`", s->work);
                free(TAKE_PTR(s->work));
                return r;
        }
        if (o->lazy)
                return migrate_lazy(s, st, err);
        if (!o->no_precopy && (r = precopy(s, st, err)) < 0)
                return r;
        unsigned n = st->rounds + 1;
        uint64_t t_freeze = mig_now_ms();
        if ((r = container_pause(o->root, o->id, true, err)) < 0)
                return cx_error_prefix(err, "freeze for the final dump");
        s->paused = true;
        uint64_t bytes;
        if ((r = round_run(s, n, true, &bytes, err)) < 0)
                return r;
        st->round_bytes[st->rounds] = bytes;
        st->total_bytes += bytes;
        progress(s, "final dump, round", n, bytes, mig_now_ms() - t_freeze);
        if ((r = send_state(s, n, st, err)) < 0 || (r = finish(s, err)) < 0)
                return r;
        st->freeze_ms = mig_now_ms() - t_freeze;
        /* the destination runs it: the frozen copy here goes, silently (its connections live
         * on there) */
        s->paused = false;
        _cleanup_error_ struct cx_error *e = NULL;
        if (s->nets && s->nets[0] && s->pid > 0 && mig_silence(s->pid, &e) < 0)
                log_warn("migrate `%s`: %s", o->id, e->msg);
        if ((r = container_delete(o->root, o->id, true, err)) < 0)
                return cx_error_prefix(err, "the container runs on %s; deleting it here", o->dest);
        if (o->progress)
                fprintf(stderr, "\r\033[Kmigrated `%s` to %s\n", o->id, o->dest);
        return 0;
}

static void on_stop(int sig)
{
        (void)sig; /* only to interrupt the stream's blocked calls: the failure path thaws */
}

int ckpt_migrate(const struct ckpt_migrate_opts *o, struct cx_error **err)
{
        if (!o->tls.cacert || !o->tls.cert || !o->tls.key)
                return cx_error_msg(err, EINVAL,
                                    "--tls-cacert, --tls-cert and --tls-key are "
                                    "required: the stream is authenticated");
        int r = state_id_validate(o->id, err);
        if (r < 0)
                return r;
        /* a peer gone (EPIPE) or ^C is an error of the step, never the end of this process: a
         * frozen source must be thawed */
        struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        struct ckpt_migrate_stats local = {0}, *st = o->stats ? o->stats : &local;
        *st = (struct ckpt_migrate_stats){0};
        _cleanup_free_ char *peer = xasprintf("destination %s", o->dest);
        _cleanup_(source_clear) struct source s = {
            .o = o, .conn = {.fd = -1, .peer = peer}, .lazy_err = -1};
        uint64_t t0 = mig_now_ms();
        r = migrate(&s, st, err);
        if (r < 0)
                lazy_dump_abort(&s);
        if (r < 0 && s.paused) {
                /* the container goes on here */
                _cleanup_error_ struct cx_error *e2 = NULL;
                if (container_pause(o->root, o->id, false, &e2) < 0)
                        log_warn("migrate `%s`: thawing after the failure: %s", o->id, e2->msg);
        }
        if (r < 0 && s.conn.tls)
                mig_send_error(&s.conn, *err);
        st->total_ms = mig_now_ms() - t0;
        return r < 0 ? cx_error_prefix(err, "migrate `%s` to %s", o->id, o->dest) : 0;
}
