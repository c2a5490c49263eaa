/* capsa-checker: runs inside a test container and prints what it sees as one JSON object.
 *
 * Static, dependency-free (libc only): `cc -static -O2 -o capsa-checker checker.c`.
 * Usage: capsa-checker SUBCOMMAND [ARGS...]; see usage() below. The integration tests
 * (tests/integration/) parse the JSON; exit status is 0 unless the subcommand itself is
 * about exiting (exit, kill-self) or the arguments are wrong (2).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/ptrace.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

extern char **environ;

/* ---- JSON output ------------------------------------------------------------------------- */

static int first = 1;

static void jstr(const char *s)
{
        putchar('"');
        for (; s && *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c == '\n')
                        fputs("\\n", stdout);
                else if (c == '\t')
                        fputs("\\t", stdout);
                else if (c < 0x20 || c >= 0x7f)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

static void key(const char *k)
{
        if (!first)
                putchar(',');
        first = 0;
        jstr(k);
        putchar(':');
}

static void kstr(const char *k, const char *v)
{
        key(k);
        if (v)
                jstr(v);
        else
                fputs("null", stdout);
}

static void kint(const char *k, long long v)
{
        key(k);
        printf("%lld", v);
}

static const char *errname(int e)
{
        static char buf[32];
        switch (e) {
#define E(x)                                                                                       \
        case x:                                                                                    \
                return #x
                E(EPERM);
                E(ENOENT);
                E(ESRCH);
                E(EINTR);
                E(EIO);
                E(ENXIO);
                E(E2BIG);
                E(ENOEXEC);
                E(EBADF);
                E(ECHILD);
                E(EAGAIN);
                E(ENOMEM);
                E(EACCES);
                E(EFAULT);
                E(EBUSY);
                E(EEXIST);
                E(EXDEV);
                E(ENODEV);
                E(ENOTDIR);
                E(EISDIR);
                E(EINVAL);
                E(ENFILE);
                E(EMFILE);
                E(ENOTTY);
                E(EFBIG);
                E(ENOSPC);
                E(ESPIPE);
                E(EROFS);
                E(EMLINK);
                E(EPIPE);
                E(EDOM);
                E(ERANGE);
                E(ENAMETOOLONG);
                E(ENOSYS);
                E(ENOTEMPTY);
                E(ELOOP);
                E(ENOTSUP);
                E(EOVERFLOW);
                E(ECONNREFUSED);
                E(ENETUNREACH);
                E(EHOSTUNREACH);
                E(ETIMEDOUT);
                E(EADDRINUSE);
                E(EADDRNOTAVAIL);
                E(ENETDOWN);
                E(ECONNRESET);
                E(EAFNOSUPPORT);
                E(EPROTONOSUPPORT);
                E(EMSGSIZE);
#undef E
        case 0:
                return "OK";
        }
        snprintf(buf, sizeof(buf), "E%d", e);
        return buf;
}

static void kerr(const char *k, int e)
{
        kstr(k, errname(e));
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 4096, len = 0;
        char *buf = malloc(cap);
        size_t n;
        while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
                len += n;
                if (cap - len < 2) {
                        cap *= 2;
                        buf = realloc(buf, cap);
                }
        }
        fclose(f);
        if (buf)
                buf[len] = 0;
        return buf;
}

/* value of "Name:\t..." from /proc/self/status, trimmed; static buffer */
static const char *status_field(const char *name)
{
        static char val[256];
        char line[512];
        size_t nl = strlen(name);
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return NULL;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
                        char *v = line + nl + 1;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        v[strcspn(v, "\n")] = 0;
                        snprintf(val, sizeof(val), "%s", v);
                        fclose(f);
                        return val;
                }
        }
        fclose(f);
        return NULL;
}

static void lines_array(const char *k, const char *path)
{
        char *s = read_all(path);
        key(k);
        if (!s) {
                fputs("null", stdout);
                return;
        }
        putchar('[');
        int n = 0;
        for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (n++)
                        putchar(',');
                jstr(l);
        }
        putchar(']');
        free(s);
}

static void file_value(const char *k, const char *path)
{
        char *s = read_all(path);
        if (!s) {
                kerr(k, errno);
                return;
        }
        size_t l = strlen(s);
        while (l && s[l - 1] == '\n')
                s[--l] = 0;
        kstr(k, s);
        free(s);
}

/* ---- subcommands ------------------------------------------------------------------------- */

static int cmd_ids(int argc, char **argv)
{
        gid_t groups[256];
        int n = getgroups(256, groups);
        kint("uid", getuid());
        kint("gid", getgid());
        kint("euid", geteuid());
        kint("egid", getegid());
        key("groups");
        putchar('[');
        for (int i = 0; i < n; i++)
                printf("%s%u", i ? "," : "", (unsigned)groups[i]);
        putchar(']');
        return 0;
}

static int cmd_caps(int argc, char **argv)
{
        static const char *names[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
        static const char *keys[] = {"inheritable", "permitted", "effective", "bounding",
                                     "ambient"};
        for (int i = 0; i < 5; i++)
                kstr(keys[i], status_field(names[i]));
        return 0;
}

/* mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
static int cmd_mounts(int argc, char **argv)
{
        char line[4096];
        FILE *f = fopen("/proc/self/mountinfo", "re");
        key("mounts");
        if (!f) {
                fputs("null", stdout);
                return 0;
        }
        putchar('[');
        int n = 0;
        while (fgets(line, sizeof(line), f)) {
                char *tok[64];
                int nt = 0;
                for (char *save = NULL, *t = strtok_r(line, " \n", &save); t && nt < 64;
                     t = strtok_r(NULL, " \n", &save))
                        tok[nt++] = t;
                int sep = -1;
                for (int i = 6; i < nt; i++)
                        if (strcmp(tok[i], "-") == 0) {
                                sep = i;
                                break;
                        }
                if (nt < 6 || sep < 0)
                        continue;
                if (n++)
                        putchar(',');
                printf("{\"root\":");
                jstr(tok[3]);
                printf(",\"target\":");
                jstr(tok[4]);
                printf(",\"options\":");
                jstr(tok[5]);
                printf(",\"optional\":\"");
                for (int i = 6; i < sep; i++)
                        printf("%s%s", i > 6 ? " " : "", tok[i]);
                printf("\",\"fstype\":");
                jstr(sep + 1 < nt ? tok[sep + 1] : "");
                printf(",\"source\":");
                jstr(sep + 2 < nt ? tok[sep + 2] : "");
                printf(",\"super\":");
                jstr(sep + 3 < nt ? tok[sep + 3] : "");
                putchar('}');
        }
        putchar(']');
        fclose(f);
        return 0;
}

static int cmd_cgroup(int argc, char **argv)
{
        lines_array("cgroup", "/proc/self/cgroup");
        return 0;
}

static int cmd_cgfile(int argc, char **argv)
{
        key("files");
        putchar('{');
        for (int i = 0; i < argc; i++) {
                if (i)
                        putchar(',');
                first = 1;
                jstr(argv[i]);
                putchar(':');
                char *s = read_all(argv[i]);
                if (!s) {
                        jstr(errname(errno));
                        continue;
                }
                size_t l = strlen(s);
                while (l && s[l - 1] == '\n')
                        s[--l] = 0;
                jstr(s);
                free(s);
        }
        putchar('}');
        first = 0;
        return 0;
}

static int cmd_hostname(int argc, char **argv)
{
        struct utsname u;
        if (uname(&u) < 0)
                return 1;
        kstr("hostname", u.nodename);
        kstr("domainname", u.domainname);
        return 0;
}

static int cmd_rlimits(int argc, char **argv)
{
        static const struct {
                const char *name;
                int res;
        } lim[] = {
            {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
            {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
            {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
            {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
            {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
            {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
            {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
            {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
        };
        for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
                struct rlimit r;
                if (getrlimit(lim[i].res, &r) < 0)
                        continue;
                key(lim[i].name);
                /* RLIM_INFINITY is printed as -1 */
                printf("{\"soft\":%lld,\"hard\":%lld}",
                       r.rlim_cur == RLIM_INFINITY ? -1LL : (long long)r.rlim_cur,
                       r.rlim_max == RLIM_INFINITY ? -1LL : (long long)r.rlim_max);
        }
        return 0;
}

static int cmd_env(int argc, char **argv)
{
        key("env");
        putchar('[');
        for (char **e = environ; e && *e; e++) {
                if (e != environ)
                        putchar(',');
                jstr(*e);
        }
        putchar(']');
        return 0;
}

static int cmd_cwd(int argc, char **argv)
{
        char buf[4096];
        if (getcwd(buf, sizeof(buf)))
                kstr("cwd", buf);
        else
                kerr("cwd", errno);
        return 0;
}

static int cmd_umask(int argc, char **argv)
{
        mode_t m = umask(0);
        umask(m);
        char buf[8];
        snprintf(buf, sizeof(buf), "%04o", (unsigned)m);
        kstr("umask", buf);
        return 0;
}

static int cmd_nnp(int argc, char **argv)
{
        const char *v = status_field("NoNewPrivs");
        kint("nnp", v ? atoi(v) : -1);
        return 0;
}

static int cmd_seccomp(int argc, char **argv)
{
        const char *v = status_field("Seccomp");
        kint("seccomp", v ? atoi(v) : -1);
        v = status_field("Seccomp_filters");
        kint("filters", v ? atoi(v) : -1);
        return 0;
}

static int cmd_ns(int argc, char **argv)
{
        static const char *names[] = {
            "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children",
            "user",   "uts"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                char path[64], target[256];
                snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
                ssize_t n = readlink(path, target, sizeof(target) - 1);
                if (n < 0) {
                        kstr(names[i], NULL);
                        continue;
                }
                target[n] = 0;
                kstr(names[i], target);
        }
        return 0;
}

static int cmd_fds(int argc, char **argv)
{
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return 1;
        int self = dirfd(d);
        key("fds");
        putchar('{');
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || atoi(de->d_name) == self)
                        continue;
                char path[300], target[4096];
                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                ssize_t l = readlink(path, target, sizeof(target) - 1);
                target[l < 0 ? 0 : l] = 0;
                if (n++)
                        putchar(',');
                jstr(de->d_name);
                putchar(':');
                jstr(target);
        }
        putchar('}');
        closedir(d);
        return 0;
}

static const char *ftype(mode_t m)
{
        switch (m & S_IFMT) {
        case S_IFREG:
                return "file";
        case S_IFDIR:
                return "dir";
        case S_IFLNK:
                return "symlink";
        case S_IFCHR:
                return "char";
        case S_IFBLK:
                return "block";
        case S_IFIFO:
                return "fifo";
        case S_IFSOCK:
                return "socket";
        }
        return "unknown";
}

/* lstat each path; symlinks also report their target */
static int cmd_stat(int argc, char **argv)
{
        for (int i = 0; i < argc; i++) {
                struct stat st;
                key(argv[i]);
                if (lstat(argv[i], &st) < 0) {
                        printf("{\"errno\":\"%s\"}", errname(errno));
                        continue;
                }
                printf("{\"type\":\"%s\",\"mode\":\"%04o\",\"uid\":%u,\"gid\":%u,\"major\":%u,"
                       "\"minor\":%u,\"size\":%lld",
                       ftype(st.st_mode), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
                       (unsigned)st.st_gid, major(st.st_rdev), minor(st.st_rdev),
                       (long long)st.st_size);
                if (S_ISLNK(st.st_mode)) {
                        char t[4096];
                        ssize_t l = readlink(argv[i], t, sizeof(t) - 1);
                        t[l < 0 ? 0 : l] = 0;
                        printf(",\"link\":");
                        jstr(t);
                }
                putchar('}');
        }
        return 0;
}

static int open_flags(const char *mode)
{
        if (strcmp(mode, "w") == 0)
                return O_WRONLY;
        if (strcmp(mode, "rw") == 0)
                return O_RDWR;
        if (strcmp(mode, "create") == 0)
                return O_WRONLY | O_CREAT | O_TRUNC;
        if (strcmp(mode, "dir") == 0)
                return O_RDONLY | O_DIRECTORY;
        return O_RDONLY;
}

static int cmd_open(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int fd = open(argv[0], open_flags(argc > 1 ? argv[1] : "r") | O_CLOEXEC, 0644);
        kstr("path", argv[0]);
        kerr("result", fd < 0 ? errno : 0);
        if (fd >= 0)
                close(fd);
        return 0;
}

static int cmd_write(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        int fd = open(argv[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int e = 0;
        if (fd < 0)
                e = errno;
        else if (write(fd, argv[1], strlen(argv[1])) < 0)
                e = errno;
        if (fd >= 0 && close(fd) < 0 && !e)
                e = errno;
        kstr("path", argv[0]);
        kerr("result", e);
        return 0;
}

/* run one syscall and report its errno ("OK" on success); extra args are syscall-specific */
static int cmd_syscall(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        const char *name = argv[0];
        const char *a1 = argc > 1 ? argv[1] : NULL;
        long r;
        char buf[4096];
        errno = 0;
        if (strcmp(name, "getcwd") == 0)
                r = syscall(SYS_getcwd, buf, sizeof(buf));
        else if (strcmp(name, "personality") == 0)
                r = syscall(SYS_personality, a1 ? strtoul(a1, NULL, 0) : 0xffffffffUL);
        else if (strcmp(name, "mkdir") == 0)
                r = syscall(SYS_mkdir, a1 ? a1 : "/tmp/capsa-checker-dir", 0755);
        else if (strcmp(name, "getpid") == 0)
                r = syscall(SYS_getpid);
        else if (strcmp(name, "chdir") == 0)
                r = syscall(SYS_chdir, a1 ? a1 : "/");
        else if (strcmp(name, "uname") == 0)
                r = syscall(SYS_uname, buf);
        else if (strcmp(name, "sethostname") == 0)
                r = syscall(SYS_sethostname, a1 ? a1 : "x", a1 ? strlen(a1) : 1);
        else if (strcmp(name, "mount") == 0)
                r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
        else if (strcmp(name, "chown") == 0)
                r = syscall(SYS_chown, a1 ? a1 : "/tmp", 0, 0);
        else if (strcmp(name, "kill") == 0)
                r = syscall(SYS_kill, getpid(), 0);
        else if (strcmp(name, "setuid") == 0)
                r = syscall(SYS_setuid, a1 ? atoi(a1) : 0);
        else if (strcmp(name, "unshare") == 0)
                r = syscall(SYS_unshare, a1 ? strtoul(a1, NULL, 0) : 0);
        else if (strcmp(name, "nr") == 0 && a1) /* a raw number: 435, 1000, 0x40000000|N */
                r = syscall(strtol(a1, NULL, 0), 0, 0, 0);
        else {
                kstr("syscall", name);
                kstr("error", "unknown syscall name");
                return 2;
        }
        kstr("syscall", name);
        kint("ret", r);
        kerr("result", r < 0 ? errno : 0);
        return 0;
}

static int cmd_oom(int argc, char **argv)
{
        char *s = read_all("/proc/self/oom_score_adj");
        kint("oom_score_adj", s ? atoi(s) : -99999);
        free(s);
        return 0;
}

static int cmd_pid(int argc, char **argv)
{
        kint("pid", getpid());
        kint("ppid", getppid());
        return 0;
}

static int cmd_sysctl(int argc, char **argv)
{
        for (int i = 0; i < argc; i++) {
                char path[512];
                snprintf(path, sizeof(path), "/proc/sys/%s", argv[i]);
                for (char *p = path + strlen("/proc/sys/"); *p; p++)
                        if (*p == '.')
                                *p = '/';
                file_value(argv[i], path);
        }
        return 0;
}

static int cmd_time(int argc, char **argv)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        kint("monotonic", ts.tv_sec);
        clock_gettime(CLOCK_BOOTTIME, &ts);
        kint("boottime", ts.tv_sec);
        file_value("uptime", "/proc/uptime");
        return 0;
}

static int cmd_cat(int argc, char **argv)
{
        for (int i = 0; i < argc; i++)
                file_value(argv[i], argv[i]);
        return 0;
}

static int cmd_ls(int argc, char **argv)
{
        DIR *d = opendir(argc ? argv[0] : ".");
        key("entries");
        if (!d) {
                jstr(errname(errno));
                return 0;
        }
        putchar('[');
        int n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n++)
                        putchar(',');
                jstr(de->d_name);
        }
        putchar(']');
        closedir(d);
        return 0;
}

static int signum(const char *s)
{
        static const struct {
                const char *n;
                int s;
        } sig[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"SEGV", SIGSEGV},
                   {"ABRT", SIGABRT}, {"SYS", SIGSYS}};
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++)
                if (strcmp(s, sig[i].n) == 0)
                        return sig[i].s;
        return atoi(s);
}

static int cmd_kill_self(int argc, char **argv)
{
        int s = argc ? signum(argv[0]) : SIGKILL;
        fflush(stdout);
        signal(s, SIG_DFL);
        kill(getpid(), s);
        pause();
        return 1;
}

static int cmd_exit(int argc, char **argv)
{
        fflush(stdout);
        _exit(argc ? atoi(argv[0]) : 0);
}

static volatile sig_atomic_t got_signal;

static void on_signal(int s)
{
        got_signal = s;
}

/* sleep N seconds; with "report" as 2nd arg, a caught SIGTERM/SIGINT/SIGHUP/SIGUSR1 is printed
 * and the checker exits 100+signal, so tests can see that a signal was forwarded */
static int cmd_sleep(int argc, char **argv)
{
        int secs = argc ? atoi(argv[0]) : 1;
        if (argc > 1 && strcmp(argv[1], "report") == 0) {
                signal(SIGTERM, on_signal);
                signal(SIGINT, on_signal);
                signal(SIGHUP, on_signal);
                signal(SIGUSR1, on_signal);
        }
        time_t end = time(NULL) + secs;
        while (!got_signal && time(NULL) < end)
                sleep(1);
        kint("slept", 1);
        kint("signal", got_signal);
        return got_signal ? 100 + got_signal : 0;
}

/* ---- tenant attacks (tests/integration/test_attacks_tenants.py) -------------------------- */

/* serve: tenant B's bait.  SysV shm/msg/sem with key 0x4341 ("CA"), a POSIX shm file, an
 * abstract unix socket "@capsa-bait" and TCP 127.0.0.1:8080, all listening; then (the sign
 * that all is in place) a 0600 file DIR/secret when DIR is given; then sleeps N seconds. */
static int cmd_serve(int argc, char **argv)
{
        int secs = argc > 0 ? atoi(argv[0]) : 30;
        shmget(0x4341, 4096, IPC_CREAT | 0600);
        msgget(0x4341, IPC_CREAT | 0600);
        semget(0x4341, 1, IPC_CREAT | 0600);
        int pfd = open("/dev/shm/capsa-bait", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (pfd >= 0)
                close(pfd);
        int u = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un ua = {.sun_family = AF_UNIX};
        memcpy(ua.sun_path, "\0capsa-bait", 11);
        if (bind(u, (struct sockaddr *)&ua, offsetof(struct sockaddr_un, sun_path) + 11) < 0 ||
            listen(u, 8) < 0)
                kerr("unix", errno);
        int t = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in ta = {.sin_family = AF_INET,
                                 .sin_port = htons(8080),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (bind(t, (struct sockaddr *)&ta, sizeof(ta)) < 0 || listen(t, 8) < 0)
                kerr("tcp", errno);
        if (argc > 1) {
                char path[512];
                snprintf(path, sizeof(path), "%s/secret", argv[1]);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0 || write(fd, "b-secret", 8) != 8)
                        kerr("secret", errno);
                if (fd >= 0)
                        close(fd);
        }
        sleep(secs);
        kint("served", 1);
        return 0;
}

static int connect_to(struct sockaddr *a, socklen_t len, int family)
{
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = connect(fd, a, len);
        int e = r < 0 ? errno : 0;
        close(fd);
        return e;
}

static int attack_net(const char *what, const char *arg, const char *arg2)
{
        if (strcmp(what, "abstract") == 0) {
                struct sockaddr_un ua = {.sun_family = AF_UNIX};
                size_t n = strlen(arg);
                ua.sun_path[0] = '\0';
                memcpy(ua.sun_path + 1, arg, n);
                return connect_to((struct sockaddr *)&ua,
                                  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n),
                                  AF_UNIX);
        }
        struct sockaddr_in ta = {.sin_family = AF_INET, .sin_port = htons(atoi(arg2))};
        inet_pton(AF_INET, arg, &ta.sin_addr);
        return connect_to((struct sockaddr *)&ta, sizeof(ta), AF_INET);
}

/* forks until fork fails; reports the errno and how many children it got, then kills them */
static int attack_forkbomb(void)
{
        static pid_t kids[1 << 16];
        int n = 0, e = 0;
        while (n < (int)(sizeof(kids) / sizeof(kids[0]))) {
                pid_t p = fork();
                if (p == 0) {
                        pause();
                        _exit(0);
                }
                if (p < 0) {
                        e = errno;
                        break;
                }
                kids[n++] = p;
        }
        for (int i = 0; i < n; i++)
                kill(kids[i], SIGKILL);
        for (int i = 0; i < n; i++)
                waitpid(kids[i], NULL, 0);
        kint("children", n);
        return e;
}

/* touches MB megabytes one page at a time (the memory limit should kill it first) */
static int attack_memhog(long mb)
{
        for (long i = 0; i < mb; i++) {
                char *p = malloc(1 << 20);
                if (!p)
                        return ENOMEM;
                memset(p, 1, 1 << 20);
        }
        return 0;
}

static int attack_ptrace_child(void)
{
        pid_t p = fork();
        if (p == 0) {
                pause();
                _exit(0);
        }
        int e = syscall(SYS_ptrace, PTRACE_ATTACH, p, 0, 0) < 0 ? errno : 0;
        kill(p, SIGKILL);
        waitpid(p, NULL, 0);
        return e;
}

static int attack_file(const char *what, const char *a1)
{
        if (strcmp(what, "read") == 0) {
                int fd = open(a1, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return errno;
                char buf[4096];
                ssize_t n = read(fd, buf, sizeof(buf));
                int e = n < 0 ? errno : 0;
                close(fd);
                kint("bytes", n < 0 ? 0 : n);
                return e;
        }
        if (strcmp(what, "write") == 0) {
                int fd = open(a1, O_WRONLY | O_CLOEXEC);
                if (fd < 0)
                        return errno;
                int e = write(fd, "1", 1) < 0 ? errno : 0;
                close(fd);
                return e;
        }
        if (strcmp(what, "chmod") == 0)
                return chmod(a1, 0666) < 0 ? errno : 0;
        if (strcmp(what, "unlink") == 0)
                return unlink(a1) < 0 ? errno : 0;
        return -1;
}

/* attack NAME [ARGS]: one attempt; prints {"attack":NAME,"result":ERRNO-NAME|"OK",...} */
static int cmd_attack(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        const char *w = argv[0];
        const char *a1 = argc > 1 ? argv[1] : "", *a2 = argc > 2 ? argv[2] : "";
        long r = 0;
        int e = 0;
        errno = 0;
        if (strcmp(w, "kill") == 0)
                r = kill(atoi(a1), atoi(a2));
        else if (strcmp(w, "ptrace") == 0)
                r = syscall(SYS_ptrace, PTRACE_ATTACH, atoi(a1), 0, 0);
        else if (strcmp(w, "ptrace-child") == 0)
                e = attack_ptrace_child();
        else if (strcmp(w, "vmread") == 0) {
                char buf[8];
                struct iovec l = {buf, 8}, rm = {(void *)0x400000, 8};
                r = syscall(SYS_process_vm_readv, atoi(a1), &l, 1, &rm, 1, 0);
        } else if (strcmp(w, "shmget") == 0)
                r = shmget(0x4341, 0, 0);
        else if (strcmp(w, "msgget") == 0)
                r = msgget(0x4341, 0);
        else if (strcmp(w, "semget") == 0)
                r = semget(0x4341, 0, 0);
        else if (strcmp(w, "abstract") == 0 || strcmp(w, "tcp") == 0)
                e = attack_net(w, a1, a2);
        else if (strcmp(w, "init_module") == 0)
                r = syscall(SYS_init_module, "", 0, "");
        else if (strcmp(w, "finit_module") == 0)
                r = syscall(SYS_finit_module, 0, "", 0);
        else if (strcmp(w, "mount") == 0)
                r = syscall(SYS_mount, "none", a1[0] ? a1 : "/tmp", "tmpfs", 0, NULL);
        else if (strcmp(w, "mknod-blk") == 0)
                r = mknod("/dev/shm/blk", S_IFBLK | 0600, makedev(atoi(a1), atoi(a2)));
        else if (strcmp(w, "sethostname") == 0)
                r = sethostname("pwned", 5);
        else if (strcmp(w, "settime") == 0) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                r = clock_settime(CLOCK_REALTIME, &ts);
        } else if (strcmp(w, "settimeofday") == 0) {
                struct timeval tv;
                gettimeofday(&tv, NULL);
                r = settimeofday(&tv, NULL);
        } else if (strcmp(w, "keyctl") == 0)
                r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
        else if (strcmp(w, "forkbomb") == 0)
                e = attack_forkbomb();
        else if (strcmp(w, "memhog") == 0)
                e = attack_memhog(atol(a1));
        else if ((e = attack_file(w, a1)) < 0) {
                kstr("attack", w);
                kstr("error", "unknown attack");
                return 2;
        }
        if (r < 0)
                e = errno;
        kstr("attack", w);
        kerr("result", e);
        return 0;
}

/* ---- networking (tests/integration/test_net.py) ------------------------------------------ */

/* "1.2.3.4" or "fd00::1" (a v4-mapped IPv6 address is printed as IPv4) */
static const char *sa_str(const struct sockaddr *sa, char *buf, size_t len)
{
        if (sa->sa_family == AF_INET)
                return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, len);
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(a))
                        return inet_ntop(AF_INET, &a->s6_addr[12], buf, len);
                return inet_ntop(AF_INET6, a, buf, len);
        }
        snprintf(buf, len, "family-%d", sa->sa_family);
        return buf;
}

static int sa_port(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)sa)->sin_port);
        if (sa->sa_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        return 0;
}

/* ADDR PORT into a sockaddr (IPv4 or IPv6 literal); -1 when ADDR is neither */
static int parse_sa(const char *addr, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
        memset(ss, 0, sizeof(*ss));
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
                a4->sin_family = AF_INET;
                a4->sin_port = htons(atoi(port));
                *len = sizeof(*a4);
                return 0;
        }
        if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons(atoi(port));
                *len = sizeof(*a6);
                return 0;
        }
        return -1;
}

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static unsigned prefix_len(const struct sockaddr *mask)
{
        const unsigned char *p;
        size_t n;
        if (!mask)
                return 0;
        if (mask->sa_family == AF_INET) {
                p = (const unsigned char *)&((const struct sockaddr_in *)mask)->sin_addr;
                n = 4;
        } else if (mask->sa_family == AF_INET6) {
                p = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
                n = 16;
        } else
                return 0;
        unsigned bits = 0;
        for (size_t i = 0; i < n; i++)
                bits += (unsigned)__builtin_popcount(p[i]);
        return bits;
}

/* addrs: {"interfaces":[{"name","index","mac","mtu","up","addresses":[{"family","address",
 * "prefix"}]}]} */
static int cmd_addrs(int argc, char **argv)
{
        (void)argc;
        (void)argv;
        struct ifaddrs *ifa0;
        if (getifaddrs(&ifa0) < 0) {
                kerr("error", errno);
                return 0;
        }
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        /* each interface once, in the order getifaddrs lists them */
        const char *names[64];
        int nn = 0;
        for (struct ifaddrs *i = ifa0; i; i = i->ifa_next) {
                int seen = 0;
                for (int j = 0; j < nn; j++)
                        seen |= strcmp(names[j], i->ifa_name) == 0;
                if (!seen && nn < 64)
                        names[nn++] = i->ifa_name;
        }
        key("interfaces");
        putchar('[');
        for (int j = 0; j < nn; j++) {
                struct ifreq ifr = {0};
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", names[j]);
                printf("%s{\"name\":", j ? "," : "");
                jstr(names[j]);
                printf(",\"index\":%u", if_nametoindex(names[j]));
                char mac[18] = "";
                if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0) {
                        const unsigned char *m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
                        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
                                 m[2], m[3], m[4], m[5]);
                }
                printf(",\"mac\":");
                jstr(mac);
                int mtu = ioctl(s, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : -1;
                printf(",\"mtu\":%d", mtu);
                int up = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
                printf(",\"up\":%s,\"addresses\":[", up ? "true" : "false");
                int na = 0;
                for (struct ifaddrs *i = ifa0; i; i = i->ifa_next) {
                        if (strcmp(i->ifa_name, names[j]) != 0 || !i->ifa_addr ||
                            (i->ifa_addr->sa_family != AF_INET &&
                             i->ifa_addr->sa_family != AF_INET6))
                                continue;
                        char buf[INET6_ADDRSTRLEN];
                        printf("%s{\"family\":\"%s\",\"address\":", na++ ? "," : "",
                               i->ifa_addr->sa_family == AF_INET ? "inet" : "inet6");
                        jstr(sa_str(i->ifa_addr, buf, sizeof(buf)));
                        printf(",\"prefix\":%u}", prefix_len(i->ifa_netmask));
                }
                printf("]}");
        }
        putchar(']');
        if (s >= 0)
                close(s);
        freeifaddrs(ifa0);
        return 0;
}

/* a socket of TYPE bound to every address, IPv6 and IPv4 (dual stack; IPv4 only when the
 * container has no IPv6) on PORT */
static int bind_any(int type, int port)
{
        int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
        int one = 1, zero = 0;
        if (fd >= 0) {
                struct sockaddr_in6 a = {.sin6_family = AF_INET6,
                                         .sin6_port = htons(port),
                                         .sin6_addr = IN6ADDR_ANY_INIT};
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
                if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
                        return fd;
                close(fd);
        }
        fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                int e = errno;
                close(fd);
                errno = e;
                return -1;
        }
        return fd;
}

/* the "listening" key on a line of its own, flushed: the tests wait for it */
static void listening(int port)
{
        kint("listening", port);
        putchar('\n');
        fflush(stdout);
}

/* tcp-serve PORT [N [SECONDS]]: accepts N connections (default 1) within SECONDS (default 30),
 * replies "hello from HOSTNAME\n" to each; {"listening":PORT,"peers":[...],"served":N} */
static int cmd_tcp_serve(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int port = atoi(argv[0]), n = argc > 1 ? atoi(argv[1]) : 1;
        long long deadline = now_ms() + 1000LL * (argc > 2 ? atoi(argv[2]) : 30);
        int fd = bind_any(SOCK_STREAM, port);
        if (fd < 0 || listen(fd, 64) < 0) {
                kerr("error", errno);
                return 1;
        }
        listening(port);
        char host[256] = "";
        gethostname(host, sizeof(host) - 1);
        char reply[300];
        int rl = snprintf(reply, sizeof(reply), "hello from %s\n", host);
        int served = 0;
        key("peers");
        putchar('[');
        while (served < n) {
                long long left = deadline - now_ms();
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                        break;
                struct sockaddr_storage ss;
                socklen_t sl = sizeof(ss);
                int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                char buf[INET6_ADDRSTRLEN];
                printf("%s", served++ ? "," : "");
                jstr(sa_str((struct sockaddr *)&ss, buf, sizeof(buf)));
                fflush(stdout);
                if (write(c, reply, rl) != rl)
                        (void)0;
                shutdown(c, SHUT_WR);
                close(c);
        }
        putchar(']');
        kint("served", served);
        close(fd);
        return 0;
}

/* tcp-connect ADDR PORT [TIMEOUT_MS]: {"result":"OK","reply":...,"local":ADDR} or
 * {"result":ERRNO-NAME} (ETIMEDOUT when nothing answered within TIMEOUT_MS, default 3000) */
static int cmd_tcp_connect(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        int timeout = argc > 2 ? atoi(argv[2]) : 3000;
        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_sa(argv[0], argv[1], &ss, &sl) < 0) {
                kstr("result", "EINVAL");
                return 2;
        }
        long long deadline = now_ms() + timeout;
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int e = 0;
        if (fd < 0) {
                kerr("result", errno);
                return 0;
        }
        if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
                if (errno != EINPROGRESS) {
                        e = errno;
                } else {
                        struct pollfd p = {.fd = fd, .events = POLLOUT};
                        if (poll(&p, 1, timeout) <= 0) {
                                e = ETIMEDOUT;
                        } else {
                                socklen_t el = sizeof(e);
                                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                        }
                }
        }
        if (e) {
                kerr("result", e);
                close(fd);
                return 0;
        }
        char reply[1024];
        size_t len = 0;
        while (len < sizeof(reply) - 1) {
                long long left = deadline - now_ms();
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
                        e = ETIMEDOUT;
                        break;
                }
                ssize_t r = read(fd, reply + len, sizeof(reply) - 1 - len);
                if (r < 0 && errno == EAGAIN)
                        continue;
                if (r < 0)
                        e = errno;
                if (r <= 0)
                        break;
                len += (size_t)r;
        }
        reply[len] = 0;
        struct sockaddr_storage ls;
        socklen_t ll = sizeof(ls);
        char buf[INET6_ADDRSTRLEN] = "";
        if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
                sa_str((struct sockaddr *)&ls, buf, sizeof(buf));
        close(fd);
        kerr("result", 0);
        kstr("reply", reply);
        if (e)
                kerr("read", e);
        kstr("local", buf);
        return 0;
}

/* udp-serve PORT [SECONDS [N]]: echoes every datagram back for SECONDS (default 10) or until N
 * came (default: no limit); {"listening":PORT,"received":[{"from","port","msg"}]} */
static int cmd_udp_serve(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int port = atoi(argv[0]);
        long long deadline = now_ms() + 1000LL * (argc > 1 ? atoi(argv[1]) : 10);
        int n = argc > 2 ? atoi(argv[2]) : 0, got = 0;
        int fd = bind_any(SOCK_DGRAM, port);
        if (fd < 0) {
                kerr("error", errno);
                return 1;
        }
        listening(port);
        key("received");
        putchar('[');
        while (!n || got < n) {
                long long left = deadline - now_ms();
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (left <= 0 || poll(&p, 1, (int)left) <= 0)
                        break;
                char msg[2048];
                struct sockaddr_storage ss;
                socklen_t sl = sizeof(ss);
                ssize_t r = recvfrom(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&ss, &sl);
                if (r < 0)
                        continue;
                msg[r] = 0;
                sendto(fd, msg, (size_t)r, 0, (struct sockaddr *)&ss, sl);
                char buf[INET6_ADDRSTRLEN];
                printf("%s{\"from\":", got++ ? "," : "");
                jstr(sa_str((struct sockaddr *)&ss, buf, sizeof(buf)));
                printf(",\"port\":%d,\"msg\":", sa_port((struct sockaddr *)&ss));
                jstr(msg);
                putchar('}');
                fflush(stdout);
        }
        putchar(']');
        close(fd);
        return 0;
}

/* udp-send ADDR PORT MSG [TIMEOUT_MS]: sends MSG and waits for its echo;
 * {"result":"OK","reply":...} or {"result":"ETIMEDOUT"|"ECONNREFUSED"|...} */
static int cmd_udp_send(int argc, char **argv)
{
        if (argc < 3)
                return 2;
        int timeout = argc > 3 ? atoi(argv[3]) : 3000;
        struct sockaddr_storage ss;
        socklen_t sl;
        if (parse_sa(argv[0], argv[1], &ss, &sl) < 0) {
                kstr("result", "EINVAL");
                return 2;
        }
        int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0 ||
            send(fd, argv[2], strlen(argv[2]), 0) < 0) {
                kerr("result", errno);
                return 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char reply[2048];
        int e = 0;
        ssize_t r = -1;
        if (poll(&p, 1, timeout) <= 0)
                e = ETIMEDOUT;
        else if ((r = recv(fd, reply, sizeof(reply) - 1, 0)) < 0)
                e = errno;
        reply[r > 0 ? r : 0] = 0;
        close(fd);
        kerr("result", e);
        if (!e)
                kstr("reply", reply);
        return 0;
}

static uint16_t ip_csum(const void *p, size_t n)
{
        const uint16_t *w = p;
        uint32_t sum = 0;
        for (; n > 1; n -= 2)
                sum += *w++;
        if (n)
                sum += *(const uint8_t *)w;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

/* spoof-ip SRC DST PORT [MSG]: one UDP datagram to DST:PORT with the forged source SRC, through
 * a raw socket (IP_HDRINCL; needs CAP_NET_RAW); {"result":"OK"} once sent */
static int cmd_spoof_ip(int argc, char **argv)
{
        if (argc < 3)
                return 2;
        const char *msg = argc > 3 ? argv[3] : "spoofed";
        size_t ml = strlen(msg);
        struct {
                struct iphdr ip;
                struct udphdr udp;
                char data[512];
        } __attribute__((packed)) pkt;
        if (ml > sizeof(pkt.data))
                ml = sizeof(pkt.data);
        memset(&pkt, 0, sizeof(pkt));
        struct in_addr src, dst;
        if (inet_pton(AF_INET, argv[0], &src) != 1 || inet_pton(AF_INET, argv[1], &dst) != 1) {
                kstr("result", "EINVAL");
                return 2;
        }
        size_t total = sizeof(pkt.ip) + sizeof(pkt.udp) + ml;
        pkt.ip.version = 4;
        pkt.ip.ihl = 5;
        pkt.ip.ttl = 64;
        pkt.ip.protocol = IPPROTO_UDP;
        pkt.ip.tot_len = htons((uint16_t)total);
        pkt.ip.id = htons(0x4341);
        pkt.ip.saddr = src.s_addr;
        pkt.ip.daddr = dst.s_addr;
        pkt.ip.check = ip_csum(&pkt.ip, sizeof(pkt.ip));
        pkt.udp.source = htons(40000);
        pkt.udp.dest = htons(atoi(argv[2]));
        pkt.udp.len = htons((uint16_t)(sizeof(pkt.udp) + ml));
        pkt.udp.check = 0; /* optional in IPv4 */
        memcpy(pkt.data, msg, ml);
        int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (fd < 0) {
                kerr("result", errno);
                return 0;
        }
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dst};
        int e = sendto(fd, &pkt, total, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? errno : 0;
        close(fd);
        kerr("result", e);
        return 0;
}

/* set-mac IFNAME MAC: SIOCSIFHWADDR (needs CAP_NET_ADMIN); {"result":"OK"|ERRNO-NAME} */
static int cmd_set_mac(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        struct ifreq ifr = {0};
        unsigned m[6];
        if (sscanf(argv[1], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
                kstr("result", "EINVAL");
                return 2;
        }
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[0]);
        ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
        for (int i = 0; i < 6; i++)
                ifr.ifr_hwaddr.sa_data[i] = (char)m[i];
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int e = s < 0 || ioctl(s, SIOCSIFHWADDR, &ifr) < 0 ? errno : 0;
        if (s >= 0)
                close(s);
        kerr("result", e);
        return 0;
}

/* resolve NAME: the addresses /etc/hosts gives NAME (parsed here: the checker is static);
 * {"name":NAME,"addresses":[...]} */
static int cmd_resolve(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        char *s = read_all("/etc/hosts");
        kstr("name", argv[0]);
        key("addresses");
        putchar('[');
        int n = 0;
        for (char *save = NULL, *l = s ? strtok_r(s, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
                l[strcspn(l, "#")] = 0;
                char *save2 = NULL, *ip = strtok_r(l, " \t", &save2);
                if (!ip)
                        continue;
                for (char *h = strtok_r(NULL, " \t", &save2); h; h = strtok_r(NULL, " \t", &save2))
                        if (strcmp(h, argv[0]) == 0) {
                                printf("%s", n++ ? "," : "");
                                jstr(ip);
                                break;
                        }
        }
        putchar(']');
        free(s);
        return 0;
}

/* ---- checkpoint/restore workloads (tests/vm/test_checkpoint.py) ------------------------- */

/* One fixed-width line at offset 0 of fd: once written, the file's size never changes (CRIU
 * checks the size of every open file it restores, and a copy of the file made while the
 * writer runs must match the size it had at the dump). */
#define STATUS_WIDTH 64
__attribute__((format(printf, 2, 3))) static void put_status(int fd, const char *fmt, ...)
{
        char line[STATUS_WIDTH + 1];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if (n > STATUS_WIDTH - 1)
                n = STATUS_WIDTH - 1;
        memset(line + n, ' ', (size_t)(STATUS_WIDTH - 1 - n));
        line[STATUS_WIDTH - 1] = '\n';
        if (pwrite(fd, line, STATUS_WIDTH, 0) != STATUS_WIDTH)
                _exit(3);
}

static int run_line(char *line, long long count, unsigned long long token);

/* counter FILE: writes an increasing count to FILE every 100 ms (one fixed-width line, see
 * put_status) and runs the commands it reads on stdin, one per line, each answered by one JSON
 * line on stdout:
 *   ping             {"count":N,"pid":P,"token":T} (T: random, drawn at start)
 *   exit N           {"count":N}, then exits with status N
 *   CMD [ARGS]       any other subcommand of this checker (syscall, cat, seccomp, ...)
 * EOF on stdin stops the reading, not the counting (a restored process goes on counting from
 * where it was dumped). */
static int cmd_counter(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int fd = open(argv[0], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                printf("{\"error\":\"%s\"}\n", errname(errno));
                return 1;
        }
        long long count = 0;
        unsigned long long token = 0; /* this process's own: a restored one answers the same */
        if (syscall(SYS_getrandom, &token, sizeof(token), 0) != sizeof(token))
                token = (unsigned long long)now_ms() ^ (unsigned long long)getpid() << 32;
        char buf[1024];
        size_t len = 0;
        int in = 0;
        put_status(fd, "%lld", count);
        for (;;) {
                long long next = now_ms() + 100;
                long long left;
                while ((left = next - now_ms()) > 0) {
                        struct pollfd p = {.fd = in, .events = POLLIN};
                        int r = poll(&p, in >= 0 ? 1 : 0, (int)left);
                        if (r <= 0)
                                continue;
                        ssize_t n = read(in, buf + len, sizeof(buf) - 1 - len);
                        if (n <= 0) {
                                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                        continue;
                                in = -1; /* EOF: go on counting */
                                continue;
                        }
                        len += (size_t)n;
                        buf[len] = 0;
                        char *nl;
                        while ((nl = strchr(buf, '\n'))) {
                                *nl = 0;
                                if (nl > buf && nl[-1] == '\r')
                                        nl[-1] = 0;
                                run_line(buf, count, token);
                                len -= (size_t)(nl + 1 - buf);
                                memmove(buf, nl + 1, len + 1);
                        }
                        if (len == sizeof(buf) - 1)
                                len = 0; /* an overlong line: dropped */
                }
                put_status(fd, "%lld", ++count);
        }
}

/* tcp-echo PORT: listens on PORT (every address) and echoes back whatever each connection
 * sends, up to 16 connections at once, until killed; prints {"listening":PORT} once ready. */
static int cmd_tcp_echo(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int port = atoi(argv[0]);
        int lfd = bind_any(SOCK_STREAM, port);
        if (lfd < 0 || listen(lfd, 16) < 0) {
                printf("{\"error\":\"%s\"}\n", errname(errno));
                return 1;
        }
        printf("{\"listening\":%d}\n", port);
        fflush(stdout);
        struct pollfd p[17] = {{.fd = lfd, .events = POLLIN}};
        int n = 1;
        for (;;) {
                if (poll(p, (nfds_t)n, -1) < 0)
                        continue;
                for (int i = n - 1; i >= 1; i--) {
                        if (!p[i].revents)
                                continue;
                        char buf[4096];
                        ssize_t r = read(p[i].fd, buf, sizeof(buf));
                        if (r > 0 && write(p[i].fd, buf, (size_t)r) == r)
                                continue;
                        close(p[i].fd);
                        p[i] = p[--n];
                }
                if (p[0].revents & POLLIN) {
                        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        if (c >= 0 && n < 17)
                                p[n++] = (struct pollfd){.fd = c, .events = POLLIN};
                        else if (c >= 0)
                                close(c);
                }
        }
}

/* one round trip of a long long over fd (write then read, 2 s at most): 0 or an errno */
static int round_trip(int wfd, int rfd, long long v)
{
        if (write(wfd, &v, sizeof(v)) != sizeof(v))
                return errno ? errno : EIO;
        struct pollfd p = {.fd = rfd, .events = POLLIN};
        if (poll(&p, 1, 2000) <= 0)
                return ETIMEDOUT;
        long long got;
        ssize_t r = read(rfd, &got, sizeof(got));
        if (r < 0)
                return errno;
        if (r != sizeof(got))
                return ECONNRESET; /* EOF: the peer is gone */
        return got == v ? 0 : EINVAL;
}

/* a tree member: answers every long long read from rfd on wfd, after passing it down to
 * (down_w, down_r) when those are not -1; exits when a link breaks */
static void tree_relay(int rfd, int wfd, int down_w, int down_r)
{
        for (;;) {
                long long v;
                if (read(rfd, &v, sizeof(v)) != sizeof(v))
                        _exit(1);
                if (down_w >= 0 && round_trip(down_w, down_r, v) != 0)
                        v = -1;
                if (write(wfd, &v, sizeof(v)) != sizeof(v))
                        _exit(1);
        }
}

/* tree FILE: a process tree joined by a pipe pair, a listening unix socket (abstract name
 * "capsa-tree") and a socketpair: the root (this process) talks to child A over two pipes, A
 * to its child C over a SOCK_SEQPACKET socketpair, and child B connects to the root's
 * listening socket.  Every 100 ms the root sends a round number to A (who asks C) and to B;
 * a round counts when both answer it.  FILE holds (put_status) "ROUNDS ok a=PID b=PID c=PID",
 * or "ROUNDS broken:LINK:ERRNO" when a link failed (then the root exits 1). */
static int cmd_tree(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int fd = open(argv[0], O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        int down[2], up[2], pair[2];
        if (fd < 0 || pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0) {
                printf("{\"error\":\"%s\"}\n", errname(errno));
                return 1;
        }
        pid_t a = fork();
        if (a == 0) {
                if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                        _exit(1);
                pid_t c = fork();
                if (c == 0) {
                        close(pair[0]);
                        tree_relay(pair[1], pair[1], -1, -1);
                }
                close(pair[1]);
                tree_relay(down[0], up[1], pair[0], pair[0]);
        }
        struct sockaddr_un ua = {.sun_family = AF_UNIX};
        memcpy(ua.sun_path, "\0capsa-tree", 11);
        socklen_t ul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 11);
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&ua, ul) < 0 || listen(l, 1) < 0) {
                printf("{\"error\":\"%s\"}\n", errname(errno));
                return 1;
        }
        pid_t b = fork();
        if (b == 0) {
                int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (s < 0 || connect(s, (struct sockaddr *)&ua, ul) < 0)
                        _exit(1);
                tree_relay(s, s, -1, -1);
        }
        int conn = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
                printf("{\"error\":\"%s\"}\n", errname(errno));
                return 1;
        }
        /* C's pid, as A sees it: A's only child, found in /proc/A/task/A/children */
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task/%d/children", a, a);
        long long rounds = 0;
        for (;;) {
                int e = round_trip(down[1], up[0], rounds + 1);
                const char *link = "a";
                if (!e) {
                        e = round_trip(conn, conn, rounds + 1);
                        link = "b";
                }
                if (e) {
                        put_status(fd, "%lld broken:%s:%s", rounds, link, errname(e));
                        return 1;
                }
                rounds++;
                char *kids = read_all(path);
                put_status(fd, "%lld ok a=%d b=%d c=%d", rounds, a, b, kids ? atoi(kids) : -1);
                free(kids);
                usleep(100 * 1000);
        }
}

/* ---- checkpoint workloads (test_checkpoint.py, test_migrate_workloads.py) ------------------ */

/* echo-count PORT: a TCP server whose state lives in its memory: a counter that goes up by one
 * for every 100 ms without a request, and every line a client sends comes back as
 * "LINE COUNTER\n" (any number of clients, each connection kept open).  Prints
 * {"listening":PORT on a line of its own, then runs until killed: after a checkpoint and
 * restore the counter goes on from where it was and open connections still echo. */
static int cmd_echo_count(int argc, char **argv)
{
        if (argc < 1)
                return 2;
        int port = atoi(argv[0]);
        int fd = bind_any(SOCK_STREAM, port);
        if (fd < 0 || listen(fd, 16) < 0) {
                kerr("error", errno);
                return 1;
        }
        listening(port);
        enum { MAX_CLIENTS = 16 };
        struct pollfd p[1 + MAX_CLIENTS];
        char line[MAX_CLIENTS][256];
        size_t len[MAX_CLIENTS];
        int n = 0;
        unsigned long long counter = 0;
        p[0] = (struct pollfd){.fd = fd, .events = POLLIN};
        for (;;) {
                int r = poll(p, 1 + n, 100);
                if (r == 0) {
                        counter++;
                        continue;
                }
                if (r < 0)
                        continue;
                if ((p[0].revents & POLLIN) && n < MAX_CLIENTS) {
                        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                        if (c >= 0) {
                                p[1 + n] = (struct pollfd){.fd = c, .events = POLLIN};
                                len[n++] = 0;
                        }
                }
                for (int i = 0; i < n; i++) {
                        if (!p[1 + i].revents)
                                continue;
                        ssize_t got =
                            read(p[1 + i].fd, line[i] + len[i], sizeof(line[i]) - 1 - len[i]);
                        if (got <= 0) { /* closed: the last client takes its place */
                                close(p[1 + i].fd);
                                n--;
                                p[1 + i] = p[1 + n];
                                memcpy(line[i], line[n], len[n]);
                                len[i] = len[n];
                                i--;
                                continue;
                        }
                        len[i] += (size_t)got;
                        char *nl;
                        while ((nl = memchr(line[i], '\n', len[i]))) {
                                char out[320];
                                int ol = snprintf(out, sizeof(out), "%.*s %llu\n",
                                                  (int)(nl - line[i]), line[i], counter);
                                if (write(p[1 + i].fd, out, (size_t)ol) != ol)
                                        (void)0;
                                len[i] -= (size_t)(nl + 1 - line[i]);
                                memmove(line[i], nl + 1, len[i]);
                        }
                        if (len[i] == sizeof(line[i]) - 1) /* a line too long: dropped */
                                len[i] = 0;
                }
        }
}

/* dirty MIB PCT_PER_SEC [SECONDS]: a working set of MIB MiB (anonymous memory, every page
 * written once), then a writer that dirties PCT_PER_SEC percent of its pages per second (a
 * tenth of that every 100 ms, going round the set in order, so each second's pages are
 * distinct) — what pre-copy migration has to chase.  PCT_PER_SEC may be a fraction ("0.5").
 * Prints {"mib":MIB,"pages":N,"addr":"0x..." on a line of its own once the set is written (a
 * test reads the soft-dirty bits of /proc/PID/pagemap from there); with SECONDS it stops then
 * and adds "dirtied":PAGES-WRITTEN,"seconds":S}, else runs until killed. */
static int cmd_dirty(int argc, char **argv)
{
        if (argc < 2)
                return 2;
        long page = sysconf(_SC_PAGESIZE);
        size_t mib = strtoul(argv[0], NULL, 10);
        double pct = strtod(argv[1], NULL);
        int secs = argc > 2 ? atoi(argv[2]) : -1;
        size_t pages = mib * 1024 * 1024 / (size_t)page;
        if (!pages || pct < 0 || pct > 100) {
                kstr("error", "EINVAL");
                return 2;
        }
        unsigned char *mem = mmap(NULL, pages * (size_t)page, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
                kerr("error", errno);
                return 1;
        }
        /* 4 KiB pages: a huge page would be dirtied whole by one write (and khugepaged's
         * collapses mark pages soft-dirty too), so the rate would not be the one asked for */
        madvise(mem, pages * (size_t)page, MADV_NOHUGEPAGE);
        unsigned long long stamp = 0;
        for (size_t i = 0; i < pages; i++) /* distinct contents: nothing dedups or compresses */
                memcpy(mem + i * (size_t)page, &(unsigned long long){++stamp}, sizeof(stamp));
        char addr[32];
        snprintf(addr, sizeof(addr), "%p", (void *)mem);
        kint("mib", (long long)mib);
        kint("pages", (long long)pages);
        kstr("addr", addr);
        putchar('\n');
        fflush(stdout);
        /* pages per 100 ms tick, with the fraction carried over from tick to tick */
        double per_tick = (double)pages * pct / 100.0 / 10.0, owed = 0;
        size_t next = 0;
        unsigned long long dirtied = 0;
        long long start = now_ms(), tick = start;
        while (secs < 0 || now_ms() - start < 1000LL * secs) {
                owed += per_tick;
                for (; owed >= 1; owed -= 1, dirtied++) {
                        memcpy(mem + next * (size_t)page, &(unsigned long long){++stamp},
                               sizeof(stamp));
                        next = (next + 1) % pages;
                }
                tick += 100;
                long long wait = tick - now_ms();
                if (wait > 0)
                        usleep((useconds_t)wait * 1000);
                else if (wait < -1000) /* frozen or restored elsewhere: no catching up */
                        tick = now_ms();
        }
        kint("dirtied", (long long)dirtied);
        kint("seconds", secs);
        return 0;
}

struct cmd {
        const char *name;
        int (*fn)(int argc, char **argv);
};

static const struct cmd cmds[] = {
    {"ids", cmd_ids},
    {"caps", cmd_caps},
    {"mounts", cmd_mounts},
    {"cgroup", cmd_cgroup},
    {"cgfile", cmd_cgfile},
    {"hostname", cmd_hostname},
    {"rlimits", cmd_rlimits},
    {"env", cmd_env},
    {"cwd", cmd_cwd},
    {"umask", cmd_umask},
    {"nnp", cmd_nnp},
    {"seccomp", cmd_seccomp},
    {"ns", cmd_ns},
    {"fds", cmd_fds},
    {"stat", cmd_stat},
    {"open", cmd_open},
    {"write", cmd_write},
    {"syscall", cmd_syscall},
    {"oom", cmd_oom},
    {"pid", cmd_pid},
    {"sysctl", cmd_sysctl},
    {"time", cmd_time},
    {"cat", cmd_cat},
    {"ls", cmd_ls},
    {"exit", cmd_exit},
    {"kill-self", cmd_kill_self},
    {"sleep", cmd_sleep},
    {"attack", cmd_attack},
    {"serve", cmd_serve},
    {"addrs", cmd_addrs},
    {"tcp-serve", cmd_tcp_serve},
    {"tcp-connect", cmd_tcp_connect},
    {"udp-serve", cmd_udp_serve},
    {"udp-send", cmd_udp_send},
    {"spoof-ip", cmd_spoof_ip},
    {"set-mac", cmd_set_mac},
    {"resolve", cmd_resolve},
    {"echo-count", cmd_echo_count},
    {"dirty", cmd_dirty},
    {"counter", cmd_counter},
    {"tcp-echo", cmd_tcp_echo},
    {"tree", cmd_tree},
};

/* one command line of counter's stdin: tokens split on blanks, run like argv; one JSON line */
static int run_line(char *line, long long count, unsigned long long token)
{
        char *args[16];
        int n = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t", &save); t && n < 15;
             t = strtok_r(NULL, " \t", &save))
                args[n++] = t;
        args[n] = NULL;
        if (n == 0)
                return 0;
        first = 1;
        putchar('{');
        if (strcmp(args[0], "exit") == 0) {
                kint("count", count);
                puts("}");
                fflush(stdout);
                _exit(n > 1 ? atoi(args[1]) : 0);
        }
        if (strcmp(args[0], "ping") == 0) {
                kint("count", count);
                kint("pid", getpid());
                char t[24];
                snprintf(t, sizeof(t), "%016llx", token);
                kstr("token", t);
        } else {
                const struct cmd *c = NULL;
                for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                        if (strcmp(args[0], cmds[i].name) == 0)
                                c = &cmds[i];
                if (!c || c->fn == cmd_counter || c->fn == cmd_tcp_echo || c->fn == cmd_tree ||
                    c->fn == cmd_exit || c->fn == cmd_kill_self || c->fn == cmd_sleep)
                        kstr("error", "not a command of counter");
                else
                        c->fn(n - 1, args + 1);
        }
        puts("}");
        fflush(stdout);
        return 0;
}

static void usage(void)
{
        fputs("usage: capsa-checker CMD [ARGS]\ncommands:", stderr);
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
                fprintf(stderr, " %s", cmds[i].name);
        fputc('\n', stderr);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage();
                return 2;
        }
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
                if (strcmp(argv[1], cmds[i].name) != 0)
                        continue;
                /* exit and kill-self print nothing: their result is the exit status; the
                 * long-running workloads print JSON lines of their own */
                int quiet = cmds[i].fn == cmd_exit || cmds[i].fn == cmd_kill_self ||
                            cmds[i].fn == cmd_counter || cmds[i].fn == cmd_tcp_echo ||
                            cmds[i].fn == cmd_tree;
                if (quiet)
                        return cmds[i].fn(argc - 2, argv + 2);
                putchar('{');
                int r = cmds[i].fn(argc - 2, argv + 2);
                puts("}");
                fflush(stdout);
                return r;
        }
        usage();
        return 2;
}
