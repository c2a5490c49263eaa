/* The KVM mode: the same OCI bundle inside a QEMU microvm whose in-guest agent is capsa.
 *
 * Host side: the `vm` launcher (launcher.c in container/ lists it) starts a monitor process,
 * the container's stand-in on the host, which runs virtiofsd and QEMU in the container's cgroup
 * and speaks to the agent over one virtio-serial port.  Guest side: capsa is the initramfs's
 * /init; it loads the modules, mounts the shared rootfs and builds the container with the same
 * code as on the host.  assets.c makes the guest kernel and the initramfs, once, in a cache. */
#pragma once

#include "util/util.h"

/* ---- assets (assets.c): the guest kernel and initramfs, made once and cached --------------- */
/* The cache directory: $CAPSA_VM_CACHE, else /var/cache/capsa/vm. */
const char *vm_cache_dir(void);
struct vm_assets {
        char *kernel; /* what QEMU boots: a PVH vmlinux (extracted, cached) or the given kernel */
        char *initrd; /* the initramfs: the user's initrd (if any) followed by capsa's archive */
        char *kver;   /* the kernel's release (the modules' directory), or NULL if unknown */
};
/* The assets for a VM: kernel_path is the vm object's kernel.path (NULL: Debian's newest
 * /boot/vmlinuz-* that has /lib/modules/<release>); user_initrd is kernel.initrd (NULL: none).
 * Errors name the file. */
int vm_assets_get(const char *kernel_path, const char *user_initrd, struct vm_assets *ret,
                  struct cx_error **err);
void vm_assets_clear(struct vm_assets *a);
/* The modules the guest loads, in dependency order, as the initramfs lists them
 * (/capsa/modules: one path per line, relative to /lib/modules/<release>/). */
#define VM_INITRAMFS_MODULES "/capsa/modules"

/* ---- the wire (proto.c) -------------------------------------------------------------------
 * One byte stream carries everything between the agent and the monitor (a virtio-serial port),
 * and between the monitor and the capsa commands that drive the container (ROOT/ID/vm.sock):
 * frames of a header and a payload.  chan names a process session: 0 the container's init,
 * others an `exec`.  Requests are answered in order by VM_OK or VM_ERR. */
enum vm_frame_type {
        VM_HELLO = 1, /* agent -> host: the guest is up; payload: its kernel release */
        VM_CREATE,    /* host -> agent: JSON {id, config, terminal, tenant, ...} */
        VM_START,     /* run the container's process */
        VM_KILL,      /* JSON {signal, all} */
        VM_EXEC,      /* JSON (vm_exec_json): a process beside the init, in session chan */
        VM_PS,        /* reply: the container's processes, JSON [{pid, ppid, uid, cmd}, ...] */
        VM_STATS,     /* reply: `events --stats`' JSON data object */
        VM_UPDATE,    /* JSON linux.resources */
        VM_OK,        /* reply; payload: the answer, if any */
        VM_ERR,       /* reply; payload: the error message */
        VM_STDIN,     /* a session's input; empty: end of input */
        VM_STDOUT,    /* a session's output; empty: end of it */
        VM_STDERR,
        VM_RESIZE,   /* a session's terminal size: "ROWS COLS" */
        VM_EXIT,     /* a session's process ended: "exit N" or "signal N" */
        VM_SHUTDOWN, /* host -> agent: power off */
        VM_SIGNAL,   /* a session's process gets signal N (its stand-in got it) */
        VM_FRAME_MAX,
};
#define VM_FRAME_DATA_MAX (1u << 20) /* larger frames are a broken peer */
struct vm_frame {
        uint16_t type;
        uint16_t chan;
        uint32_t len;
        char *data; /* NUL-terminated (not counted in len); owned */
};
/* A connection: buffered both ways, so that a poll loop never blocks on a full peer (a blocking
 * fd gives blocking reads and writes for simple request/reply clients). */
struct vm_conn {
        int fd;
        char *in, *out;
        size_t in_len, in_cap, out_len, out_cap;
        bool eof; /* the peer closed */
};
void vm_conn_init(struct vm_conn *c, int fd);
void vm_conn_clear(struct vm_conn *c); /* closes fd */
/* Appends a frame to the output buffer (then vm_conn_flush). */
void vm_conn_queue(struct vm_conn *c, uint16_t type, uint16_t chan, const void *data, size_t len);
void vm_conn_queue_str(struct vm_conn *c, uint16_t type, uint16_t chan, const char *s);
/* Writes what it can (all of it on a blocking fd); -errno on a write error. */
int vm_conn_flush(struct vm_conn *c);
/* Reads what is there (one read); 0 at end of stream (c->eof), -errno on error. */
int vm_conn_fill(struct vm_conn *c);
/* Takes the next whole frame out of the input buffer: 1, 0 when none is complete yet,
 * -EPROTO for a frame no peer of ours sends. */
int vm_conn_next(struct vm_conn *c, struct vm_frame *ret);
/* Blocking: the next frame (reading as needed); -EPIPE at end of stream. */
int vm_conn_recv(struct vm_conn *c, struct vm_frame *ret);
void vm_frame_clear(struct vm_frame *f);
/* A request on a blocking connection: sends it, returns the reply's payload (*ret, may be
 * NULL) or the VM_ERR message as an error. */
int vm_request(struct vm_conn *c, uint16_t type, uint16_t chan, const char *payload, char **ret,
               struct cx_error **err);

/* ---- the agent (agent.c, agent-serve.c): capsa as the guest's /init ----------------------- */
/* The kernel command line word that makes capsa, started as pid 1, the agent (the kernel hands
 * `capsa_agent=1` to /init as an environment variable). */
#define VM_AGENT_ENV "capsa_agent"
/* Where the guest keeps the shared tree (virtio-fs tag VM_SHARE_TAG) and its own files. */
#define VM_SHARE_TAG   "capsa"
#define VM_GUEST_DIR   "/run/vm"
#define VM_GUEST_SHARE VM_GUEST_DIR "/share"
#define VM_PORT_NAME   "capsa.0" /* the virtio-serial port */
/* The agent: never returns (pid 1 powers the guest off when it is done or cannot go on). */
_Noreturn void vm_agent_main(char **argv);
/* The guest's request loop (agent-serve.c), over the port's fd. */
_Noreturn void vm_agent_serve(int port);
/* The guest's capsa commands (agent-run.c): `capsa ARGS...` with stdio in/out/err (-1:
 * /dev/null); ret_pid: it runs on (then vm_guest_wait), else it is waited for.  Errors: the
 * command's own message in *ret_err. */
int vm_guest_run(char *const *args, int in, int out, int err_fd, pid_t *ret_pid, char **ret_err);
int vm_guest_wait(pid_t pid, const char *cmd, char **ret_err);
/* As vm_guest_run, its stdout in *ret_out. */
int vm_guest_output(char *const *args, char **ret_out, char **ret_err);
/* A console socket for the guest capsa's --console-socket, and the pty master it sends there
 * while pid runs (-1 when pid ended first; its status is left for vm_guest_wait). */
int vm_guest_console_listen(const char *path);
int vm_guest_console_accept(int lsock, pid_t pid);
/* What a create request makes in the guest (agent-guest.c). */
struct json_val;
char *vm_guest_config(const struct json_val *cfg, const char *rootfs, const struct json_val *binds,
                      const struct json_val *extra);
int vm_guest_rootfs(const struct json_val *req, char **ret, char **ret_err);
int vm_guest_net(const struct json_val *nets, pid_t init, char **ret_err);
int vm_guest_tenant(const char *name, const struct json_val *first, char **ret_err);

/* ---- the host side: a VM's parameters (params.c) ------------------------------------------ */
struct spec;
enum vm_accel { VM_ACCEL_AUTO, VM_ACCEL_KVM, VM_ACCEL_TCG };
/* --vm-accel: kvm, tcg or auto; -EINVAL otherwise. */
int vm_accel_parse(const char *s, enum vm_accel *ret);
/* Memory the guest needs beyond the container's limit (its kernel, the agent), and what QEMU and
 * virtiofsd take on the host beyond the guest's RAM: the host cgroup's limit is the sum. */
#define VM_GUEST_RESERVE_MIB 96
#define VM_HOST_OVERHEAD_MIB 160
#define VM_DEFAULT_MEM_MIB   512
struct vm_params {
        char *qemu;                 /* vm.hypervisor.path, else qemu-system-x86_64 from PATH */
        char **qemu_extra;          /* vm.hypervisor.parameters, without the -m/-smp capsa reads */
        char *kernel;               /* vm.kernel.path, or NULL: Debian's (assets.c) */
        char **kernel_extra;        /* vm.kernel.parameters */
        char *initrd;               /* vm.kernel.initrd, or NULL */
        char *image, *image_format; /* vm.image, or NULL */
        enum vm_accel accel;        /* resolved: KVM or TCG */
        bool accel_fell_back;       /* auto chose TCG although KVM was asked for or present */
        unsigned cpus;
        uint64_t mem_mib; /* the guest's RAM */
};
/* The VM for config s: the vm object, linux.resources (cpu quota/period: vCPUs; memory limit +
 * VM_GUEST_RESERVE_MIB: RAM), hypervisor.parameters' -m and -smp, and --vm-accel.  Errors name
 * the JSON path or the argument. */
int vm_params_get(const struct spec *s, enum vm_accel want, struct vm_params *ret,
                  struct cx_error **err);
void vm_params_clear(struct vm_params *p);
/* Turns s's linux.resources into the host cgroup's: the memory limit covers the guest's RAM and
 * QEMU's own, and device rules are left to the guest (QEMU opens /dev/kvm and friends). */
void vm_host_resources(struct spec *s, const struct vm_params *p);

/* ---- the host side: QEMU and virtiofsd (qemu.c) ------------------------------------------- */
struct cg_join;
struct spec_mount;
/* A VM being booted by the monitor, whose cwd is the container's state directory (so the
 * sockets' names are short and relative: fs.sock). */
struct vm_boot {
        const char *dir;                 /* ROOT/ID, absolute */
        const char *rootfs;              /* root.path */
        bool readonly;                   /* root.readonly: shared read-only */
        char **binds;                    /* bind mounts' host sources: the share's b0, b1, ... */
        char **nics;                     /* "TAP,MAC": a virtio-net device on each tap */
        const struct spec_mount *mounts; /* readonly: their mount points are made first */
        size_t n_mounts;
        const struct vm_params *p;
        const struct vm_assets *a;
        const struct cg_join *join; /* the container's host cgroup, or NULL */
        int ctl_fd;                 /* QEMU's end of the control port */
        pid_t qemu, virtiofsd;
};
/* virtiofsd serving DIR/share: a tmpfs in a mount namespace of its own holding the rootfs and
 * the bind sources (nothing is mounted in the host's namespace), on the listening socket
 * fs.sock. */
int vm_spawn_virtiofsd(struct vm_boot *b, struct cx_error **err);
/* QEMU -M microvm booting the assets, with the share, the control port and vm.image. */
int vm_spawn_qemu(struct vm_boot *b, struct cx_error **err);
/* The VM's log (QEMU's and virtiofsd's stderr, in the state directory) and the guest console. */
#define VM_LOG     "vm.log"
#define VM_CONSOLE "console.log"

/* ---- the host side of a session's stdio (relay.c) ----------------------------------------- */
struct pollfd;
struct vm_stdio {
        uint16_t chan;
        int in;       /* read into VM_STDIN frames; -1 once it ended */
        int out, err; /* VM_STDOUT and VM_STDERR are written there */
        int tty;      /* the terminal whose size is the session's (SIGWINCH), or -1 */
};
/* Adds in to p (while the connection's output is not backed up). */
void vm_stdio_poll(const struct vm_stdio *s, const struct vm_conn *c, struct pollfd *p, int *n);
void vm_stdio_input(struct vm_stdio *s, struct vm_conn *c);
void vm_stdio_output(const struct vm_stdio *s, const struct vm_frame *f);
void vm_stdio_resize(const struct vm_stdio *s, struct vm_conn *c);
/* A pty pair for a relayed terminal (the host side of one, and an exec's in the guest): the
 * master for the console socket or the relay, the slave raw (the pty of the process does the
 * line discipline). */
int vm_pty_open(int *ret_master, int *ret_slave, struct cx_error **err);
/* A VM_EXIT payload as an exit status: N, or 128+N for "signal N" (*ret_sig = N). */
int vm_exit_status(const char *payload, int *ret_sig);
/* Ends this process as the session's process ended: exit(N), or killed by the same signal. */
_Noreturn void vm_exit_like(int status, int sig);

/* ---- the monitor (monitor.c): the container's stand-in on the host ------------------------ */
/* Files the monitor keeps in ROOT/ID for the other commands. */
#define VM_SOCK    "vm.sock"    /* where capsa's commands reach the monitor */
#define VM_STARTED "vm-started" /* exists once the container's process was started */
#define VM_STOPPED "vm-stopped" /* why the guest stopped without the container's exit */
struct vm_monitor_args {
        struct vm_boot boot;
        const char *create_json; /* the VM_CREATE request */
        bool terminal;
        int console_fd; /* with terminal: receives the host pty's master */
        int ready_fd;   /* closed empty once created; else gets the error */
        int listen_fd;  /* VM_SOCK, listening */
};
/* The monitor: boots the VM, has the agent create the container, then relays the init's stdio,
 * serves VM_SOCK's clients until the init ends (or the guest stops), and exits as the init did
 * (its status, or its signal), so that whoever waits for the container's pid sees the exit. */
_Noreturn void vm_monitor_main(struct vm_monitor_args *a);

/* ---- a child that says how its start went (child.c) --------------------------------------- */
/* Forks; the child runs fn(arg, ready_fd) and, when its start failed, writes why to ready_fd
 * and exits (on success ready_fd is closed, by hand or by execve: it is O_CLOEXEC).  Returns
 * the child's pid, or an error with what the child wrote (the child reaped), prefixed by
 * what (if not NULL). */
pid_t vm_fork_ready(void (*fn)(void *arg, int ready_fd), void *arg, const char *what,
                    struct cx_error **err);
