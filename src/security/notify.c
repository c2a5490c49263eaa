/* SCMP_ACT_NOTIFY: hands the seccomp listener fd to linux.seccomp.listenerPath, as the runtime
 * spec says (config-linux.md "seccomp", runtime.md "ContainerProcessState"): one message on a
 * SOCK_STREAM unix socket whose payload is the ContainerProcessState JSON and whose SCM_RIGHTS
 * carry the fds it names ("fds": ["seccompFd"]).
 *
 * Kernel interfaces: socket(2), connect(2), sendmsg(2) with SCM_RIGHTS. */
#include "security/security.h"
#include "util/json.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

bool sec_seccomp_wants_listener(const struct spec_seccomp *s)
{
        if (!s || !s->present)
                return false;
        for (size_t i = 0; i < s->n_syscalls; i++)
                if (s->syscalls[i].action == SPEC_SCMP_NOTIFY)
                        return true;
        return false;
}

int sec_seccomp_send_listener(const struct spec_seccomp *s, int notify_fd, pid_t pid,
                              const char *state_json, struct cx_error **err)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        const char *path = s->listener_path;

        if (!path || strlen(path) >= sizeof(addr.sun_path))
                return cx_error_msg(err, EINVAL,
                                    "linux.seccomp.listenerPath: `%s` is not a usable unix "
                                    "socket path",
                                    path ? path : "");
        strcpy(addr.sun_path, path);
        _cleanup_close_ int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return cx_error_set(err, errno, "linux.seccomp.listenerPath: socket");
        if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                return cx_error_set(err, errno, "linux.seccomp.listenerPath: connect to `%s`",
                                    path);
        /* the runtime-spec's ContainerProcessState as runc marshals it; state_json is compact */
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "ociVersion", "1.2.0");
        json_w_key_arr_open(w, "fds");
        json_w_str(w, "seccompFd");
        json_w_arr_close(w);
        json_w_key_int(w, "pid", pid);
        if (s->listener_metadata && *s->listener_metadata) /* omitempty */
                json_w_key_str(w, "metadata", s->listener_metadata);
        json_w_key(w, "state");
        json_w_raw(w, state_json);
        json_w_obj_close(w);
        _cleanup_free_ char *msg = json_w_finish(w, false);
        int r = fd_send(sock, notify_fd, msg, strlen(msg));
        if (r < 0)
                return cx_error_set(
                    err, -r, "linux.seccomp.listenerPath: send the seccomp fd to `%s`", path);
        return 0;
}
