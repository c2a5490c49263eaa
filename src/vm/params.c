/* A VM's parameters, from config.json (the vm object and linux.resources) and --vm-accel. */
#include "vm/vm.h"
#include "spec/spec.h"

#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/kvm.h>

int vm_accel_parse(const char *s, enum vm_accel *ret)
{
        static const char *const names[] = {"auto", "kvm", "tcg"};
        for (int i = 0; i < 3; i++)
                if (strcmp(s, names[i]) == 0) {
                        *ret = (enum vm_accel)i;
                        return 0;
                }
        return -EINVAL;
}

/* Whether /dev/kvm runs stock guests: it opens and answers KVM_GET_API_VERSION, and is not
 * kvm_pvm (a software virtualizer that cannot boot a stock kernel). */
static bool kvm_usable(char **why)
{
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                *why = xasprintf("/dev/kvm: %s", strerror(errno));
                return false;
        }
        int v = ioctl(fd, KVM_GET_API_VERSION, 0);
        close(fd);
        if (v != KVM_API_VERSION) {
                *why = xstrdup("/dev/kvm does not answer KVM_GET_API_VERSION");
                return false;
        }
        struct stat st;
        if (stat("/sys/module/kvm_pvm", &st) == 0) {
                *why = xstrdup("/dev/kvm is kvm_pvm, which cannot boot a stock guest kernel");
                return false;
        }
        return true;
}

static int resolve_accel(enum vm_accel want, struct vm_params *p, struct cx_error **err)
{
        _cleanup_free_ char *why = NULL;
        if (want == VM_ACCEL_TCG) {
                p->accel = VM_ACCEL_TCG;
                return 0;
        }
        if (kvm_usable(&why)) {
                p->accel = VM_ACCEL_KVM;
                return 0;
        }
        if (want == VM_ACCEL_KVM)
                return cx_error_msg(err, ENODEV, "--vm-accel kvm: %s (use --vm-accel tcg or auto)",
                                    why);
        p->accel = VM_ACCEL_TCG;
        p->accel_fell_back = access("/dev/kvm", F_OK) == 0;
        if (p->accel_fell_back)
                log_warn("the VM runs under TCG (software emulation), not KVM: %s", why);
        return 0;
}

static char *find_in_path(const char *name)
{
        const char *path = getenv("PATH");
        _cleanup_free_ char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
        char *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *f = xasprintf("%s/%s", d, name);
                if (access(f, X_OK) == 0)
                        return f;
                free(f);
        }
        return NULL;
}

/* "-m 512", "-m 1G", "-m size=2G": MiB; 0 when it is not a size. */
static uint64_t parse_mib(const char *v)
{
        if (strncmp(v, "size=", 5) == 0)
                v += 5;
        char *end;
        unsigned long long n = strtoull(v, &end, 10);
        uint64_t mul = 1;
        if (*end == 'G' || *end == 'g')
                mul = 1024, end++;
        else if (*end == 'M' || *end == 'm')
                end++;
        return (*end && *end != ',') ? 0 : n * mul;
}

/* hypervisor.parameters: -m and -smp size the VM (capsa's memory backend must match -m); the
 * rest goes to QEMU after capsa's own arguments. */
static int take_params(char *const *params, struct vm_params *p, struct cx_error **err)
{
        p->qemu_extra = xcalloc(1, sizeof(char *));
        for (size_t i = 0; params && params[i]; i++) {
                bool m = strcmp(params[i], "-m") == 0, smp = strcmp(params[i], "-smp") == 0;
                if (!m && !smp) {
                        strv_append(&p->qemu_extra, params[i]);
                        continue;
                }
                const char *v = params[i + 1];
                unsigned long n = v ? (m ? parse_mib(v) : strtoul(v, NULL, 10)) : 0;
                if (n == 0)
                        return cx_error_msg(err, EINVAL,
                                            "config.json: vm.hypervisor.parameters[%zu]: %s needs "
                                            "a size after it (`%s`)",
                                            i, params[i], v ? v : "");
                if (m)
                        p->mem_mib = n;
                else
                        p->cpus = (unsigned)n;
                i++;
        }
        return 0;
}

static int check_file(const char *path, const char *json_path, bool exec, struct cx_error **err)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return cx_error_set(err, errno, "config.json: %s: `%s`", json_path, path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return cx_error_msg(err, EINVAL, "config.json: %s: `%s` is not a file", json_path,
                                    path);
        if (exec && access(path, X_OK) < 0)
                return cx_error_set(err, errno, "config.json: %s: `%s` is not executable",
                                    json_path, path);
        return 0;
}

static int fill(const struct spec *s, enum vm_accel want, struct vm_params *p,
                struct cx_error **err)
{
        const struct spec_vm *v = &s->vm;
        int r;
        if (v->hypervisor_path) {
                if ((r = check_file(v->hypervisor_path, "vm.hypervisor.path", true, err)) < 0)
                        return r;
                p->qemu = xstrdup(v->hypervisor_path);
        } else if (!(p->qemu = find_in_path("qemu-system-x86_64"))) {
                return cx_error_msg(err, ENOENT,
                                    "the KVM mode needs QEMU: qemu-system-x86_64 is not in PATH "
                                    "(apt-get install qemu-system-x86, or set "
                                    "vm.hypervisor.path)");
        }
        if ((v->kernel_path &&
             (r = check_file(v->kernel_path, "vm.kernel.path", false, err)) < 0) ||
            (v->kernel_initrd &&
             (r = check_file(v->kernel_initrd, "vm.kernel.initrd", false, err)) < 0) ||
            (v->image_path && (r = check_file(v->image_path, "vm.image.path", false, err)) < 0))
                return r;
        p->kernel = v->kernel_path ? xstrdup(v->kernel_path) : NULL;
        p->initrd = v->kernel_initrd ? xstrdup(v->kernel_initrd) : NULL;
        p->image = v->image_path ? xstrdup(v->image_path) : NULL;
        p->image_format = v->image_format ? xstrdup(v->image_format) : NULL;
        p->kernel_extra = strv_dup(v->kernel_params ? v->kernel_params : (char *[]){NULL});
        if ((r = take_params(v->hypervisor_params, p, err)) < 0)
                return r;

        const struct spec_resources *res = &s->linux_.resources;
        if (!p->mem_mib) {
                const struct spec_opt_i64 *lim = &res->memory.limit;
                p->mem_mib =
                    lim->set && lim->v > 0
                        ? ((uint64_t)lim->v + (1 << 20) - 1) / (1 << 20) + VM_GUEST_RESERVE_MIB
                        : VM_DEFAULT_MEM_MIB;
        }
        if (!p->cpus) {
                const struct spec_cpu *c = &res->cpu;
                uint64_t period = c->period.set && c->period.v ? c->period.v : 100000;
                p->cpus = c->quota.set && c->quota.v > 0
                              ? (unsigned)(((uint64_t)c->quota.v + period - 1) / period)
                              : 1;
        }
        long host = sysconf(_SC_NPROCESSORS_ONLN);
        if (host > 0 && p->cpus > (unsigned)host)
                p->cpus = (unsigned)host;
        return resolve_accel(want, p, err);
}

int vm_params_get(const struct spec *s, enum vm_accel want, struct vm_params *ret,
                  struct cx_error **err)
{
        *ret = (struct vm_params){0};
        int r = fill(s, want, ret, err);
        if (r < 0)
                vm_params_clear(ret);
        return r;
}

void vm_params_clear(struct vm_params *p)
{
        free(p->qemu);
        strv_free(p->qemu_extra);
        free(p->kernel);
        strv_free(p->kernel_extra);
        free(p->initrd);
        free(p->image);
        free(p->image_format);
        *p = (struct vm_params){0};
}

void vm_host_resources(struct spec *s, const struct vm_params *p)
{
        struct spec_resources *r = &s->linux_.resources;
        for (size_t i = 0; i < r->n_devices; i++)
                free(r->devices[i].access);
        free(r->devices);
        r->devices = NULL;
        r->n_devices = 0;
        if (!r->memory.limit.set || r->memory.limit.v <= 0)
                return;
        r->memory.limit.v = (int64_t)(p->mem_mib + VM_HOST_OVERHEAD_MIB) << 20;
        r->memory.swap.set = false;
        r->memory.reservation.set = false;
}
