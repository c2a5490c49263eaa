/* capsa's default seccomp profile for tenants.
 *
 * A deny list over an allow-by-default filter: every call below fails with EPERM (ENOSYS for
 * clone3, so that libc falls back to clone, whose flags a filter can see).  Written from the
 * x86_64 syscall table, one group per reason, covering what the widely used container
 * profiles (Docker/moby, containerd, podman) refuse to a container without extra capabilities.
 * An allow list would be tighter but breaks programs on every new syscall; the calls refused
 * here are those whose kernel code is not namespaced, or whose attack surface is large and
 * that containers do not need.  mount-family calls are refused only to containers without a
 * user namespace: inside one, mounts are confined to the container's own mount namespace. */
#include "security/security.h"
#include "util/json.h"

#include <linux/sched.h>
#include <sched.h>
#include <string.h>

struct group {
        const char *const *names;
        int errno_ret;
        bool host_userns_only; /* refused only when the container has no user namespace */
};

/* The kernel keyring is not namespaced: a container could read or fill others' keys. */
static const char *const keyring[] = {"keyctl", "add_key", "request_key", NULL};
/* Kernel programs, performance counters and page-fault handling in user space: large attack
 * surfaces (many local privilege escalations), kernel address leaks, exploit race helpers. */
static const char *const kernel_surface[] = {"bpf",
                                             "perf_event_open",
                                             "userfaultfd",
                                             "io_uring_setup",
                                             "io_uring_enter",
                                             "io_uring_register",
                                             "lookup_dcookie",
                                             NULL};
/* Replacing the running kernel, rebooting the host, loading code into the kernel. */
static const char *const kernel_code[] = {
    "kexec_load",    "kexec_file_load", "reboot",       "init_module",     "finit_module",
    "delete_module", "create_module",   "query_module", "get_kernel_syms", NULL};
/* Reading or writing other processes' memory: seccomp cannot tell children from others, so
 * ptrace is refused as a whole (as Docker does for kernels before 4.8). */
static const char *const other_processes[] = {"ptrace", "process_vm_readv", "process_vm_writev",
                                              "kcmp",   "pidfd_getfd",      NULL};
/* The clocks are shared with the host (time namespaces only offset monotonic/boottime). */
static const char *const clocks[] = {"settimeofday", "clock_settime", "clock_adjtime",
                                     "adjtimex",     "stime",         NULL};
/* Host-wide administration: swap, process accounting, quotas, the kernel log, raw I/O ports,
 * obsolete interfaces. */
static const char *const host_admin[] = {
    "swapon",   "swapoff",    "acct",    "quotactl", "quotactl_fd", "syslog",
    "iopl",     "ioperm",     "vhangup", "uselib",   "ustat",       "sysfs",
    "_sysctl",  "nfsservctl", "vm86",    "vm86old",  "afs_syscall", "tuxcall",
    "security", "putpmsg",    "getpmsg", NULL};
/* open_by_handle_at reaches any inode of a filesystem, whatever the mount ("shocker"). */
static const char *const handles[] = {"open_by_handle_at", "name_to_handle_at", NULL};
/* New namespaces would give a tenant a user namespace of its own (more kernel surface) or
 * let it leave its namespaces; clone's namespace flags are refused below, clone3's arguments
 * cannot be inspected. */
static const char *const namespaces[] = {"unshare", "setns", NULL};
static const char *const clone3[] = {"clone3", NULL};
/* Mounting filesystems: only inside a user namespace, where mounts stay the container's. */
static const char *const mounts[] = {"mount",      "umount",    "umount2",       "pivot_root",
                                     "fsopen",     "fsconfig",  "fsmount",       "fspick",
                                     "move_mount", "open_tree", "mount_setattr", NULL};

static const struct group groups[] = {
    {keyring, EPERM, false},         {kernel_surface, EPERM, false}, {kernel_code, EPERM, false},
    {other_processes, EPERM, false}, {clocks, EPERM, false},         {host_admin, EPERM, false},
    {handles, EPERM, false},         {namespaces, EPERM, false},     {clone3, ENOSYS, false},
    {mounts, EPERM, true},
};

static const uint64_t clone_ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                          CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

static void add_group(struct spec_seccomp *s, const char *const *names, int errno_ret)
{
        struct spec_seccomp_syscall *sc = &s->syscalls[s->n_syscalls++];
        sc->names = strv_dup((char *const *)names);
        sc->action = SPEC_SCMP_ERRNO;
        sc->errno_ret = (struct spec_opt_u64){.set = true, .v = (uint64_t)errno_ret};
}

/* clone(flags) with any namespace flag: one rule per flag, each comparing argument 0. */
static void add_clone_rules(struct spec_seccomp *s)
{
        static const char *const clone_names[] = {"clone", NULL};
        for (size_t i = 0; i < ARRAY_SIZE(clone_ns_flags); i++) {
                add_group(s, clone_names, EPERM);
                struct spec_seccomp_syscall *sc = &s->syscalls[s->n_syscalls - 1];
                sc->n_args = 1;
                sc->args = xcalloc(1, sizeof(*sc->args));
                sc->args[0] = (struct spec_seccomp_arg){.index = 0,
                                                        .value = clone_ns_flags[i],
                                                        .value_two = clone_ns_flags[i],
                                                        .op = SPEC_SCMP_CMP_MASKED_EQ};
        }
}

struct spec_seccomp *sec_default_profile(bool user_ns)
{
        struct spec_seccomp *s = xcalloc(1, sizeof(*s));
        s->present = true;
        s->default_action = SPEC_SCMP_ALLOW;
        s->syscalls =
            xcalloc(ARRAY_SIZE(groups) + ARRAY_SIZE(clone_ns_flags), sizeof(*s->syscalls));
        for (size_t i = 0; i < ARRAY_SIZE(groups); i++)
                if (!(groups[i].host_userns_only && user_ns))
                        add_group(s, groups[i].names, groups[i].errno_ret);
        add_clone_rules(s);
        return s;
}

void sec_default_profile_free(struct spec_seccomp *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_syscalls; i++) {
                strv_free(s->syscalls[i].names);
                free(s->syscalls[i].args);
        }
        free(s->syscalls);
        free(s);
}

/* The same profile as config.json's linux.seccomp (for a config capsa writes itself: a
 * container made from an image).  The errno values are those of the kernel's ABI. */
char *sec_default_profile_json(bool user_ns)
{
        struct spec_seccomp *s = sec_default_profile(user_ns);
        struct json_w *w = json_w_new(NULL);
        json_w_obj_open(w);
        json_w_key_str(w, "defaultAction", "SCMP_ACT_ALLOW");
        json_w_key_arr_open(w, "syscalls");
        for (size_t i = 0; i < s->n_syscalls; i++) {
                const struct spec_seccomp_syscall *sc = &s->syscalls[i];
                json_w_obj_open(w);
                json_w_key_strv(w, "names", (const char *const *)sc->names, strv_len(sc->names));
                json_w_key_str(w, "action", "SCMP_ACT_ERRNO");
                json_w_key_u64(w, "errnoRet", sc->errno_ret.v);
                if (sc->n_args) {
                        json_w_key_arr_open(w, "args");
                        json_w_obj_open(w);
                        json_w_key_u64(w, "index", sc->args[0].index);
                        json_w_key_u64(w, "value", sc->args[0].value);
                        json_w_key_u64(w, "valueTwo", sc->args[0].value_two);
                        json_w_key_str(w, "op", "SCMP_CMP_MASKED_EQ");
                        json_w_obj_close(w);
                        json_w_arr_close(w);
                }
                json_w_obj_close(w);
        }
        json_w_arr_close(w);
        json_w_obj_close(w);
        sec_default_profile_free(s);
        return json_w_finish(w, false);
}
