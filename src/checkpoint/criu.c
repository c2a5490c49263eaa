/* The CRIU side: one request through `criu swrk FD` (CRIU's RPC over a SOCK_SEQPACKET pair),
 * its messages packed and unpacked by libcriu's protobuf code, which is loaded with dlopen()
 * on first use (libcriu pulls in libprotobuf-c: no reason for every capsa start to load them).
 *
 * libcriu's own request helpers are not used: they lack the TLS, lazy-pages, status-fd and
 * empty-ns options of CRIU 3.17, and the swrk child must be set up (mount namespace, cgroup)
 * between fork and exec.  Kernel interfaces: socketpair(2), SCM_RIGHTS, fork/execve. */
#include "checkpoint/checkpoint.h"
#include "util/sys.h"

#include <criu/rpc.pb-c.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CRIU_LIB     "libcriu.so.2"
#define CRIU_MSG_MAX (1 << 20)

/* The codec functions taken from libcriu (their names in rpc.pb-c.h). */
#define CKPT_PB_FUNCS(X)                                                                           \
        X(criu_req__init)                                                                          \
        X(criu_opts__init)                                                                         \
        X(criu_page_server_info__init)                                                             \
        X(ext_mount_map__init)                                                                     \
        X(inherit_fd__init)                                                                        \
        X(cgroup_root__init)                                                                       \
        X(criu_req__get_packed_size)                                                               \
        X(criu_req__pack)                                                                          \
        X(criu_resp__unpack)                                                                       \
        X(criu_resp__free_unpacked)

#define PB_PTR(f) __typeof__(f) *f;
static struct {
        CKPT_PB_FUNCS(PB_PTR)
} pb;
static bool pb_loaded;

#define PB_SYM(f)                                                                                  \
        if (!(pb.f = (__typeof__(pb.f))dlsym(h, #f)))                                              \
                return cx_error_msg(err, ENOSYS, "%s has no `%s` (criu package too old?)",         \
                                    CRIU_LIB, #f);

static int pb_load(struct cx_error **err)
{
        if (pb_loaded)
                return 0;
        void *h = dlopen(CRIU_LIB, RTLD_NOW | RTLD_LOCAL);
        if (!h)
                return cx_error_msg(err, ENOENT,
                                    "cannot load %s (install the Debian package criu): %s",
                                    CRIU_LIB, dlerror());
        CKPT_PB_FUNCS(PB_SYM)
        pb_loaded = true;
        return 0;
}

int ckpt_cgroups_mode_parse(const char *s)
{
        static const char *const names[] = {
            [CKPT_CG_SOFT] = "soft",
            [CKPT_CG_FULL] = "full",
            [CKPT_CG_STRICT] = "strict",
            [CKPT_CG_IGNORE] = "ignore",
        };
        for (int i = CKPT_CG_SOFT; i <= CKPT_CG_IGNORE; i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        return -EINVAL;
}

static const char *criu_binary(const char *b)
{
        return b && *b ? b : "criu";
}

/* ---- the request ----------------------------------------------------------------------------- */

/* Everything the packed request points to, freed together. */
struct req_mem {
        CriuReq req;
        CriuOpts opts;
        CriuPageServerInfo ps;
        ExtMountMap *ext, **ext_p;
        InheritFd *inh, **inh_p;
        CgroupRoot cg, *cg_p;
        char *addr;
};

static void req_mem_clear(struct req_mem *m)
{
        free(m->ext);
        free(m->ext_p);
        free(m->inh);
        free(m->inh_p);
        free(m->addr);
}

static CriuCgMode cg_mode(enum ckpt_cgroups_mode m)
{
        switch (m) {
        case CKPT_CG_SOFT:
                return CRIU_CG_MODE__SOFT;
        case CKPT_CG_FULL:
                return CRIU_CG_MODE__FULL;
        case CKPT_CG_STRICT:
                return CRIU_CG_MODE__STRICT;
        case CKPT_CG_IGNORE:
                return CRIU_CG_MODE__IGNORE;
        default:
                return CRIU_CG_MODE__DEFAULT;
        }
}

/* "ADDR:PORT" (the last colon splits: [v6]:port too) */
static int page_server(struct req_mem *m, const char *s, struct cx_error **err)
{
        const char *colon = strrchr(s, ':');
        uint64_t port;
        if (!colon || parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return cx_error_msg(err, EINVAL, "--page-server: `%s` is not ADDR:PORT", s);
        size_t n = (size_t)(colon - s);
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
                m->addr = xasprintf("%.*s", (int)(n - 2), s + 1);
        else
                m->addr = xasprintf("%.*s", (int)n, s);
        pb.criu_page_server_info__init(&m->ps);
        m->ps.address = *m->addr ? m->addr : NULL;
        m->ps.has_port = true;
        m->ps.port = (int32_t)port;
        m->opts.ps = &m->ps;
        return 0;
}

static size_t strv_count(char **v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static int build_request(const struct ckpt_job *j, struct req_mem *m, struct cx_error **err)
{
        const struct ckpt_common *c = j->c;
        CriuOpts *o = &m->opts;
        pb.criu_req__init(&m->req);
        pb.criu_opts__init(o);
        m->req.opts = o;
        m->req.type = j->type == CKPT_JOB_RESTORE    ? CRIU_REQ_TYPE__RESTORE
                      : j->type == CKPT_JOB_PRE_DUMP ? CRIU_REQ_TYPE__PRE_DUMP
                                                     : CRIU_REQ_TYPE__DUMP;
        o->images_dir_fd = j->images_fd;
        o->has_work_dir_fd = true;
        o->work_dir_fd = j->work_fd;
        o->log_file = (char *)j->log_name;
        o->has_log_level = true;
        o->log_level = 4;
#define FLAG(field, v)                                                                             \
        do {                                                                                       \
                o->has_##field = true;                                                             \
                o->field = (v);                                                                    \
        } while (0)
        FLAG(tcp_established, c->tcp_established);
        FLAG(ext_unix_sk, c->ext_unix_sk);
        FLAG(shell_job, c->shell_job);
        FLAG(file_locks, c->file_locks);
        FLAG(manage_cgroups, true);
        FLAG(notify_scripts, true);
        FLAG(manage_cgroups_mode, cg_mode(c->cgroups_mode));
        if (c->lazy_pages)
                FLAG(lazy_pages, true);
        if (c->status_fd >= 0)
                FLAG(status_fd, c->status_fd);
        for (char **ns = c->empty_ns; ns && *ns; ns++) {
                if (strcmp(*ns, "network") != 0 && strcmp(*ns, "net") != 0)
                        return cx_error_msg(err, EINVAL,
                                            "--empty-ns: `%s` (only the network namespace can "
                                            "be made empty)",
                                            *ns);
                FLAG(empty_ns, 0x40000000); /* CLONE_NEWNET */
        }
        if (c->tls.cert || c->tls.key || c->tls.cacert) {
                FLAG(tls, true);
                o->tls_cacert = (char *)c->tls.cacert;
                o->tls_cert = (char *)c->tls.cert;
                o->tls_key = (char *)c->tls.key;
                if (c->tls.no_cn_verify)
                        FLAG(tls_no_cn_verify, true);
        }
        if (j->dump) {
                const struct ckpt_dump_opts *d = j->dump;
                FLAG(pid, j->pid);
                /* a terminal's master is outside (the console socket's end): as runc */
                FLAG(orphan_pts_master, true);
                FLAG(leave_running, d->leave_running);
                FLAG(auto_dedup, c->auto_dedup);
                if (d->pre_dump || d->track_mem || d->parent_path)
                        FLAG(track_mem, true);
                o->parent_img = (char *)d->parent_path;
                o->freeze_cgroup = (char *)j->freeze_cgroup;
                if (d->page_server && page_server(m, d->page_server, err) < 0)
                        return -EINVAL;
        }
        if (j->type == CKPT_JOB_RESTORE) {
                FLAG(rst_sibling, true);
                FLAG(auto_dedup, c->auto_dedup);
                o->root = (char *)j->root;
                if (j->restore) {
                        o->lsm_profile = (char *)j->restore->lsm_profile;
                        o->lsm_mount_context = (char *)j->restore->lsm_mount_context;
                }
                if (j->orphan_pts_master)
                        FLAG(orphan_pts_master, true);
                if (j->cg_root) {
                        pb.cgroup_root__init(&m->cg);
                        m->cg.path = (char *)j->cg_root;
                        m->cg_p = &m->cg;
                        o->n_cg_root = 1;
                        o->cg_root = &m->cg_p;
                }
        }
#undef FLAG
        size_t n = strv_count(j->ext_mounts) / 2;
        m->ext = xcalloc(n + 1, sizeof(*m->ext));
        m->ext_p = xcalloc(n + 1, sizeof(*m->ext_p));
        for (size_t i = 0; i < n; i++) {
                pb.ext_mount_map__init(&m->ext[i]);
                m->ext[i].key = j->ext_mounts[2 * i];
                m->ext[i].val = j->ext_mounts[2 * i + 1];
                m->ext_p[i] = &m->ext[i];
        }
        o->n_ext_mnt = n;
        o->ext_mnt = m->ext_p;
        o->n_external = strv_count(j->external);
        o->external = j->external;
        n = strv_count(j->inherit_key);
        m->inh = xcalloc(n + 1, sizeof(*m->inh));
        m->inh_p = xcalloc(n + 1, sizeof(*m->inh_p));
        for (size_t i = 0; i < n; i++) {
                pb.inherit_fd__init(&m->inh[i]);
                m->inh[i].key = j->inherit_key[i];
                m->inh[i].fd = j->inherit_fd[i];
                m->inh_p[i] = &m->inh[i];
        }
        o->n_inherit_fd = n;
        o->inherit_fd = m->inh_p;
        return 0;
}

/* ---- the swrk process -------------------------------------------------------------------------
 */

/* Forks `criu swrk FD`; a failure of child_setup or of the exec comes back over a close-on-exec
 * pipe, as the child's message. */
static int spawn_swrk(const struct ckpt_job *j, int sock, pid_t *ret, struct cx_error **err)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return cx_error_set(err, errno, "pipe");
        const char *bin = criu_binary(j->c->criu);
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return cx_error_set(err, errno, "fork criu");
        }
        if (pid == 0) {
                close(p[0]);
                const char *msg = NULL;
                int r = j->child_setup ? j->child_setup(j->userdata, &msg) : 0;
                if (r == 0) {
                        fcntl(sock, F_SETFD, 0);
                        for (size_t i = 0; j->inherit_key && j->inherit_key[i]; i++)
                                fcntl(j->inherit_fd[i], F_SETFD, 0);
                        if (j->c->status_fd >= 0)
                                fcntl(j->c->status_fd, F_SETFD, 0);
                        /* a pre-dump's CRIU waits for a next request once it has answered
                         * and says "Can't recv request" when we close: its log file has all
                         * else, its stderr stays quiet */
                        int null = j->type == CKPT_JOB_PRE_DUMP ? open("/dev/null", O_WRONLY) : -1;
                        if (null >= 0 && null != sock && dup2(null, STDERR_FILENO) >= 0)
                                close(null);
                        char fdnum[16];
                        snprintf(fdnum, sizeof(fdnum), "%d", sock);
                        execlp(bin, "criu", "swrk", fdnum, (char *)NULL);
                        r = -errno;
                        msg = r == -ENOENT ? "cannot run criu (install the Debian package criu, "
                                             "or give its path with --criu)"
                                           : "cannot run criu";
                }
                char buf[512];
                int n = snprintf(buf, sizeof(buf), "%d %s", -r, msg ? msg : "");
                (void)!write(p[1], buf, (size_t)n);
                _exit(127);
        }
        close(p[1]);
        char buf[512];
        ssize_t n = read(p[0], buf, sizeof(buf) - 1);
        close(p[0]);
        if (n > 0) {
                buf[n] = 0;
                char *sp = strchr(buf, ' ');
                waitpid(pid, NULL, 0);
                return cx_error_msg(err, atoi(buf) > 0 ? atoi(buf) : EIO, "%s: %s (`%s`)",
                                    sp ? sp + 1 : buf, strerror(atoi(buf)), bin);
        }
        *ret = pid;
        return 0;
}

static int send_req(int sock, CriuReq *req, struct cx_error **err)
{
        size_t len = pb.criu_req__get_packed_size(req);
        _cleanup_free_ uint8_t *buf = xmalloc(len ? len : 1);
        pb.criu_req__pack(req, buf);
        if (send(sock, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
                return cx_error_set(err, errno, "send a request to criu");
        return 0;
}

/* The next response, with the fd CRIU passed along it (orphan-pts-master), or -1. */
static int recv_resp(int sock, CriuResp **ret, int *ret_fd, struct cx_error **err)
{
        _cleanup_free_ uint8_t *buf = xmalloc(CRIU_MSG_MAX);
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {.iov_base = buf, .iov_len = CRIU_MSG_MAX};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        *ret_fd = -1;
        ssize_t n;
        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return cx_error_set(err, errno, "read criu's response");
        if (n == 0)
                return cx_error_msg(err, ECONNRESET, "criu exited without a response");
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        *ret = pb.criu_resp__unpack(NULL, (size_t)n, buf);
        if (!*ret) {
                if (*ret_fd >= 0)
                        close(*ret_fd);
                return cx_error_msg(err, EPROTO, "criu's response cannot be decoded");
        }
        return 0;
}

/* ---- errors -----------------------------------------------------------------------------------
 */

/* The last lines of CRIU's log that say "Error" (at most 4), joined. */
static char *log_errors(int work_fd, const char *name)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        _cleanup_close_ int fd = openat(work_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read_fd_all(fd, &text, &len) < 0)
                return NULL;
        const char *lines[4] = {0};
        size_t n = 0;
        for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n"))
                if (strstr(l, "Error") || strstr(l, "error"))
                        lines[n++ % 4] = l;
        if (n == 0)
                return NULL;
        char *s = xstrdup("");
        for (size_t i = n > 4 ? n - 4 : 0; i < n; i++) {
                char *t = xasprintf("%s\n  %s", s, lines[i % 4]);
                free(s);
                s = t;
        }
        return s;
}

static int fail(const struct ckpt_job *j, const CriuResp *resp, struct cx_error **err)
{
        static const char *const what[] = {
            [CKPT_JOB_DUMP] = "checkpoint",
            [CKPT_JOB_PRE_DUMP] = "pre-dump",
            [CKPT_JOB_RESTORE] = "restore",
        };
        struct cx_error *check = NULL;
        if (j->type != CKPT_JOB_RESTORE && ckpt_criu_check(j->c->criu, &check) < 0) {
                cx_error_prefix(&check, "criu cannot %s on this host", what[j->type]);
                *err = check;
                return -(*err)->code;
        }
        cx_error_freep(&check);
        _cleanup_free_ char *lines = log_errors(j->work_fd, j->log_name);
        int code = resp && resp->has_cr_errno && resp->cr_errno ? resp->cr_errno : EIO;
        return cx_error_msg(err, code, "criu: %s failed%s%s (its log: %s in the work path)%s",
                            what[j->type], resp && resp->cr_errmsg ? ": " : "",
                            resp && resp->cr_errmsg ? resp->cr_errmsg : "", j->log_name,
                            lines ? lines : "");
}

/* ---- the conversation -------------------------------------------------------------------------
 */

static int converse(struct ckpt_job *j, int sock, struct cx_error **err)
{
        for (;;) {
                CriuResp *resp = NULL;
                int fd = -1;
                int r = recv_resp(sock, &resp, &fd, err);
                if (r < 0)
                        return r;
                if (resp->type == CRIU_REQ_TYPE__NOTIFY) {
                        const char *script =
                            resp->notify && resp->notify->script ? resp->notify->script : "";
                        pid_t pid = resp->notify && resp->notify->has_pid ? resp->notify->pid : 0;
                        r = j->notify ? j->notify(j->userdata, script, pid, fd, err) : 0;
                        if (fd >= 0)
                                close(fd);
                        pb.criu_resp__free_unpacked(resp, NULL);
                        CriuReq ack;
                        pb.criu_req__init(&ack);
                        ack.type = CRIU_REQ_TYPE__NOTIFY;
                        ack.has_notify_success = true;
                        ack.notify_success = r >= 0;
                        struct cx_error *e = NULL;
                        if (send_req(sock, &ack, r < 0 ? &e : err) < 0 && r >= 0)
                                return -EIO;
                        cx_error_freep(&e);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (fd >= 0)
                        close(fd);
                if (!resp->success) {
                        r = fail(j, resp, err);
                } else {
                        if (j->type == CKPT_JOB_RESTORE && resp->restore)
                                j->restored_pid = resp->restore->pid;
                        r = 0;
                }
                pb.criu_resp__free_unpacked(resp, NULL);
                return r;
        }
}

int ckpt_criu_run(struct ckpt_job *j, struct cx_error **err)
{
        int r = pb_load(err);
        if (r < 0)
                return r;
        struct req_mem m = {0};
        if ((r = build_request(j, &m, err)) < 0) {
                req_mem_clear(&m);
                return r;
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                req_mem_clear(&m);
                return cx_error_set(err, errno, "socketpair");
        }
        pid_t pid = -1;
        r = spawn_swrk(j, sv[1], &pid, err);
        close(sv[1]);
        if (r >= 0 && (r = send_req(sv[0], &m.req, err)) >= 0)
                r = converse(j, sv[0], err);
        close(sv[0]);
        req_mem_clear(&m);
        if (pid > 0) {
                int st;
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                        ;
        }
        return r;
}

/* ---- criu check -------------------------------------------------------------------------------
 */

/* Runs `criu ARG [-v4]` with stdout+stderr in *ret_out; returns its exit status or -errno. */
static int run_criu(const char *binary, const char *arg, bool verbose, char **ret_out)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                dup2(p[1], 1);
                dup2(p[1], 2);
                /* its log to our pipe: without -o, criu check's log goes nowhere */
                if (verbose)
                        execlp(binary, "criu", arg, "-v4", "-o", "/dev/stdout", (char *)NULL);
                else
                        execlp(binary, "criu", arg, (char *)NULL);
                _exit(errno == ENOENT ? 127 : 126);
        }
        close(p[1]);
        size_t len = 0;
        if (read_fd_all(p[0], ret_out, &len) < 0)
                *ret_out = xstrdup("");
        close(p[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int ckpt_criu_check(const char *binary, struct cx_error **err)
{
        const char *bin = criu_binary(binary);
        _cleanup_free_ char *out = NULL;
        int r = run_criu(bin, "check", true, &out);
        if (r == 127)
                return cx_error_msg(err, ENOENT,
                                    "cannot run `%s` (install the Debian package criu, or give "
                                    "its path with --criu)",
                                    bin);
        if (r == 0)
                return 0;
        /* the first "Error" line says why (e.g. "vdso: Unexpected rt vDSO area bounds") */
        const char *why = out ? strstr(out, "Error") : NULL;
        if (why) {
                const char *colon = strstr(why, "): ");
                why = colon ? colon + 3 : why;
        }
        size_t n = why ? strcspn(why, "\n") : 0;
        if (!why) {
                why = "no reason given";
                n = strlen(why);
        }
        return cx_error_msg(err, ENOTSUP,
                            "`%s check` fails on this kernel: %.*s (checkpoint/restore needs a "
                            "kernel this criu supports)",
                            bin, (int)n, why);
}

int ckpt_criu_version(const char *binary, int *ret, struct cx_error **err)
{
        const char *bin = criu_binary(binary);
        _cleanup_free_ char *out = NULL;
        int r = run_criu(bin, "--version", false, &out);
        if (r != 0)
                return cx_error_msg(err, ENOENT,
                                    "cannot run `%s --version` (install the Debian package criu, "
                                    "or give its path with --criu)",
                                    bin);
        unsigned a = 0, b = 0, c = 0;
        const char *v = out ? strstr(out, "Version: ") : NULL;
        if (!v || sscanf(v, "Version: %u.%u.%u", &a, &b, &c) < 2)
                return cx_error_msg(err, EPROTO, "`%s --version` printed no version", bin);
        *ret = (int)(a * 10000 + b * 100 + c);
        return 0;
}
