/* The last steps before a container process runs, shared by the init (after start) and by
 * `exec` (after joining the container): find the executable with the container's PATH, then
 * drop privileges in runc's order and execve. */
#include "container/internal.h"
#include "security/security.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

static const char *env_path(char *const *env)
{
        for (size_t i = 0; env && env[i]; i++)
                if (str_has_prefix(env[i], "PATH="))
                        return env[i] + 5;
        return NULL;
}

static bool is_executable_file(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int proc_resolve_exec(const struct spec_process *p, char **ret, struct cx_error **err)
{
        const char *name = p->args[0];
        if (strchr(name, '/')) {
                if (!is_executable_file(name))
                        return cx_error_set(err, errno ? errno : EACCES, "exec: `%s`", name);
                *ret = xstrdup(name);
                return 0;
        }
        const char *path = env_path(p->env);
        _cleanup_free_ char *copy =
            xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                _cleanup_free_ char *cand = xasprintf("%s/%s", *dir ? dir : ".", name);
                if (is_executable_file(cand)) {
                        *ret = TAKE_PTR(cand);
                        return 0;
                }
        }
        return cx_error_msg(err, ENOENT, "exec: `%s`: executable file not found in $PATH", name);
}

int proc_setup_terminal(const struct spec_process *p, int console_fd, struct cx_error **err)
{
        _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return cx_error_set(err, errno, "open /dev/ptmx for the terminal");
        int unlock = 0;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return cx_error_set(err, errno, "unlock pty");
        _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0)
                return cx_error_set(err, errno, "open pty peer");
        /* the terminal belongs to the process's user, as runc (the group stays devpts's) */
        if (fchown(slave, p->user.uid, (gid_t)-1) < 0)
                return cx_error_set(err, errno, "chown the terminal to uid %u",
                                    (unsigned)p->user.uid);
        if (p->console_size.set) {
                struct winsize ws = {.ws_row = p->console_size.height,
                                     .ws_col = p->console_size.width};
                ioctl(slave, TIOCSWINSZ, &ws);
        }
        int r = fd_send(console_fd, master, "/dev/ptmx", strlen("/dev/ptmx"));
        if (r < 0)
                return cx_error_set(err, -r, "send the pty master to the console socket");
        if (setsid() < 0)
                return cx_error_set(err, errno, "setsid");
        if (ioctl(slave, TIOCSCTTY, 0) < 0)
                return cx_error_set(err, errno, "set the controlling terminal");
        for (int fd = 0; fd < 3; fd++)
                if (dup2(slave, fd) < 0)
                        return cx_error_set(err, errno, "dup the pty onto fd %d", fd);
        return 0;
}

/* As runc: without HOME in the env, the process gets its user's home directory from the
 * container's /etc/passwd ("/" when the user has no entry).  NULL when HOME is set. */
static char **env_with_home(const struct spec_process *p)
{
        for (size_t i = 0; p->env && p->env[i]; i++)
                if (str_has_prefix(p->env[i], "HOME="))
                        return NULL;
        _cleanup_free_ char *home = NULL;
        _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
        char line[1024];
        while (f && !home && fgets(line, sizeof(line), f)) {
                /* name:passwd:uid:gid:gecos:home:shell */
                char *field[7] = {0}, *s = line;
                int n = 0;
                for (char *t; n < 7 && (t = strsep(&s, ":\n")); n++)
                        field[n] = t;
                uint64_t uid;
                if (n >= 6 && parse_u64(field[2], &uid) == 0 && uid == p->user.uid && *field[5])
                        home = xstrdup(field[5]);
        }
        char **env = strv_dup(p->env);
        _cleanup_free_ char *var = xasprintf("HOME=%s", home ? home : "/");
        strv_append(&env, var);
        return env;
}

/* Loads the filter; a listener fd goes to the runtime, which hands it to listenerPath before
 * we go on (as runc's syncParentSeccomp). */
static int load_filter(const struct proc_finalize *f, struct cx_error **err)
{
        _cleanup_close_ int nfd = -1;
        int r = sec_seccomp_load(f->filter, f->sync_fd >= 0 ? &nfd : NULL, err);
        if (r < 0 || nfd < 0)
                return r;
        struct sync_msg m = {.type = SYNC_SECCOMP};
        r = fd_send(f->sync_fd, nfd, &m, offsetof(struct sync_msg, text));
        if (r < 0)
                return cx_error_set(err, -r, "send the seccomp listener fd to the runtime");
        return sync_expect(f->sync_fd, SYNC_SECCOMP_DONE, NULL, err);
}

int proc_finalize_exec(const struct spec_process *p, const char *exec_path,
                       const struct proc_finalize *f, struct cx_error **err)
{
        struct sec_filter *filter = f->filter;
        /* With no_new_privs the filter goes last, so it need not allow the setuid/capset calls
         * that follow; without it, it must be loaded while we still hold CAP_SYS_ADMIN. */
        bool late_seccomp = p->no_new_privileges;
        _cleanup_strv_ char **env = env_with_home(p);
        int r;

        if ((r = sec_caps_drop_bounding(&p->caps, err)) < 0)
                return r;
        if (p->no_new_privileges && (r = sec_no_new_privs(err)) < 0)
                return r;
        if (filter && !late_seccomp && (r = load_filter(f, err)) < 0)
                return r;
        if ((r = sec_switch_user(&p->user, &p->caps, err)) < 0)
                return r;
        if ((r = sec_lsm_apply(p, err)) < 0)
                return r;
        if (filter && late_seccomp && (r = load_filter(f, err)) < 0)
                return r;
        if (f->before_exec && (r = f->before_exec(f->userdata, err)) < 0)
                return r;
        char *const *envp = env ? env : p->env;
        execve(exec_path, p->args, envp ? envp : (char *[]){NULL});
        return cx_error_set(err, errno, "exec `%s`", exec_path);
}

int proc_listen_fds(struct spec_process *p)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        uint64_t v, n;
        if (!pid || !fds || parse_u64(pid, &v) < 0 || v != (uint64_t)getpid() ||
            parse_u64(fds, &n) < 0 || n == 0 || n > 65536)
                return 0;
        _cleanup_free_ char *e = xasprintf("LISTEN_FDS=%d", (int)n);
        strv_append(&p->env, e);
        strv_append(&p->env, "LISTEN_PID=1");
        return (int)n;
}

int proc_become_ns_root(struct cx_error **err)
{
        if (setresgid(0, 0, 0) < 0)
                return cx_error_set(err, errno,
                                    "setresgid(0) in the user namespace (is gid 0 mapped?)");
        if (setresuid(0, 0, 0) < 0)
                return cx_error_set(err, errno,
                                    "setresuid(0) in the user namespace (is uid 0 mapped?)");
        return 0;
}

char *proc_exe(pid_t pid)
{
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return xstrdup(buf);
}

void proc_wait_exec(pid_t pid, const char *exe_before)
{
        if (!exe_before)
                return;
        /* bounded: a user process that is the runtime's own binary never changes exe */
        for (int i = 0; i < 10000; i++) {
                _cleanup_free_ char *now = proc_exe(pid);
                if (!now || strcmp(now, exe_before) != 0)
                        return; /* exec'd, or gone */
                usleep(i < 100 ? 100 : 1000);
        }
}
