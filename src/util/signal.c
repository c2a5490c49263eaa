/* Signal names <-> numbers, as `kill` and runc accept them. */
#include "util/util.h"

#include <signal.h>
#include <string.h>
#include <strings.h>

static const struct {
        const char *name;
        int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},   {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

static int parse_rt(const char *s)
{
        /* RTMIN, RTMIN+N, RTMAX, RTMAX-N */
        int base;
        const char *rest;
        if (strncasecmp(s, "RTMIN", 5) == 0) {
                base = SIGRTMIN;
                rest = s + 5;
        } else if (strncasecmp(s, "RTMAX", 5) == 0) {
                base = SIGRTMAX;
                rest = s + 5;
        } else {
                return -EINVAL;
        }
        if (!*rest)
                return base;
        int64_t off;
        if ((*rest != '+' && *rest != '-') || parse_i64(rest + 1, &off) < 0)
                return -EINVAL;
        int sig = *rest == '+' ? base + (int)off : base - (int)off;
        return sig >= SIGRTMIN && sig <= SIGRTMAX ? sig : -EINVAL;
}

int signal_parse(const char *s)
{
        if (!s || !*s)
                return -EINVAL;
        int64_t n;
        if (parse_i64(s, &n) == 0)
                return n > 0 && n < _NSIG ? (int)n : -EINVAL;
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
                if (strcasecmp(s, signals[i].name) == 0)
                        return signals[i].sig;
        return parse_rt(s);
}

const char *signal_name(int sig)
{
        for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
                if (signals[i].sig == sig)
                        return signals[i].name;
        return NULL;
}

void signals_reset_default(void)
{
        /* an ignored signal stays ignored across execve: a runtime started under nohup or by a
         * supervisor that ignores TERM must not pass that on (runc resets them too) */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &dfl, NULL);
}
