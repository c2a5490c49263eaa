/* vm/assets: capsa's initramfs.  The guest runs capsa itself as /init, so the archive holds its
 * binary, the shared libraries it has mapped (at their real paths) and its dynamic loader at the
 * path in its PT_INTERP, with the symlinks that lead there: the guest has no ld.so.cache, and
 * the loader then searches its built-in directories, which the real paths are among.  Then the
 * modules the guest loads, with their dependencies, and their list in load order: the guest has
 * no modprobe, /init loads the files itself. */
#include "vm/assets-internal.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>

#define MODULES_DIR "/lib/modules"

/* What the guest needs: the MMIO transport, the control ports (virtio-serial), the rootfs over
 * virtio-fs or on a block device, the network.  crc32c_generic: ext4 and jbd2 ask for
 * "crypto-crc32c" (a soft dependency modules.dep does not list) to check metadata_csum, and
 * nothing in the guest could load it on demand. */
static const char *const guest_modules[] = {
    "virtio_mmio", "virtio_console", "virtiofs", "virtio_blk",
    "virtio_net",  "crc32c_generic", "ext4",
};
/* empty mount points and the places /init writes to before any filesystem is mounted */
static const char *const empty_dirs[] = {"proc", "sys", "dev", "run", "tmp", "mnt", "etc"};
/* module files may be compressed: the decompressor for each suffix */
static const struct {
        const char *suffix, *tool;
} compressed[] = {{".ko.xz", "xz"}, {".ko.zst", "zstd"}, {".ko.gz", "gzip"}};

/* A module's name from its path ("kernel/fs/fuse/virtiofs.ko.xz": virtiofs); '-' reads as '_'
 * (the kernel's own rule). */
static bool module_is(const char *path, size_t len, const char *name)
{
        const char *base = memrchr(path, '/', len);
        base = base ? base + 1 : path;
        size_t n = 0, stem = (size_t)(path + len - base);
        const char *ko = memmem(base, stem, ".ko", 3);
        stem = ko ? (size_t)(ko - base) : stem;
        for (; n < stem && name[n]; n++)
                if ((base[n] == '-' ? '_' : base[n]) != name[n])
                        return false;
        return n == stem && !name[n];
}

struct modules {
        const char *release;
        char *dep;     /* modules.dep: "path: dep dep ...\n" lines */
        char *builtin; /* modules.builtin: one path per line */
        char **order;  /* resolved, dependencies first */
};

/* The modules.dep line of the module at path (by_name false) or named name; NULL if none. */
static const char *dep_line(const struct modules *m, const char *key, bool by_name)
{
        for (const char *l = m->dep; l && *l;) {
                const char *colon = strchr(l, ':'), *nl = strchrnul(l, '\n');
                if (colon && colon < nl) {
                        size_t len = (size_t)(colon - l);
                        if (by_name ? module_is(l, len, key)
                                    : strlen(key) == len && memcmp(l, key, len) == 0)
                                return l;
                }
                l = *nl ? nl + 1 : nl;
        }
        return NULL;
}

static bool is_builtin(const struct modules *m, const char *name)
{
        for (const char *l = m->builtin; l && *l;) {
                const char *nl = strchrnul(l, '\n');
                if (module_is(l, (size_t)(nl - l), name))
                        return true;
                l = *nl ? nl + 1 : nl;
        }
        return false;
}

/* Adds the module whose modules.dep line is at line, after everything it depends on. */
static int resolve(struct modules *m, const char *line, int depth, struct cx_error **err)
{
        const char *colon = strchr(line, ':');
        _cleanup_free_ char *path = strndup(line, (size_t)(colon - line));
        for (char **o = m->order; o && *o; o++)
                if (strcmp(*o, path) == 0)
                        return 0;
        if (depth > 64)
                return cx_error_msg(err, ELOOP, "`" MODULES_DIR "/%s/modules.dep`: a loop at %s",
                                    m->release, path);
        _cleanup_free_ char *deps = strndup(colon + 1, strcspn(colon + 1, "\n"));
        char *save = NULL;
        for (char *d = strtok_r(deps, " \t", &save); d; d = strtok_r(NULL, " \t", &save)) {
                const char *dl = dep_line(m, d, false);
                if (!dl)
                        return cx_error_msg(err, ENOENT,
                                            "`" MODULES_DIR "/%s/modules.dep`: %s needs %s, which "
                                            "it does not list",
                                            m->release, path, d);
                int r = resolve(m, dl, depth + 1, err);
                if (r < 0)
                        return r;
        }
        strv_append(&m->order, path);
        return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), k = strlen(suffix);
        return n > k && strcmp(s + n - k, suffix) == 0;
}

/* One module into the archive, decompressed if it is compressed; its stored path into list. */
static int add_module(struct cpio *c, const struct modules *m, const char *path, char ***list,
                      struct cx_error **err)
{
        _cleanup_free_ char *host = xasprintf(MODULES_DIR "/%s/%s", m->release, path);
        for (size_t i = 0; i < ARRAY_SIZE(compressed); i++) {
                if (!ends_with(path, compressed[i].suffix))
                        continue;
                /* stored as NAME.ko beside where NAME.ko.xz is on the host */
                int keep = (int)(strlen(path) - strlen(compressed[i].suffix) + strlen(".ko"));
                char *slash = strrchr(host, '/');
                _cleanup_free_ char *dir = strndup(host, (size_t)(slash - host));
                char real[PATH_MAX];
                int r = cpio_host_path(c, dir, err);
                if (r < 0)
                        return r;
                if (!realpath(dir, real))
                        return cx_error_set(err, errno, "`%s`", dir);
                _cleanup_close_ int in = open(host, O_RDONLY | O_CLOEXEC);
                if (in < 0)
                        return cx_error_set(err, errno, "`%s`", host);
                _cleanup_close_ int mem = memfd_create("capsa-module", MFD_CLOEXEC);
                if (mem < 0)
                        return cx_error_set(err, errno, "memfd_create");
                r = vm_decompress(compressed[i].tool, in, mem, host, err);
                struct stat st;
                if (r >= 0 && fstat(mem, &st) < 0)
                        r = cx_error_set(err, errno, "fstat");
                if (r < 0)
                        return r;
                _cleanup_free_ char *stored = strndup(path, (size_t)keep);
                _cleanup_free_ char *name = xasprintf(
                    "%s/%s", real, strrchr(stored, '/') ? strrchr(stored, '/') + 1 : stored);
                strv_append(list, stored);
                return cpio_file(c, name, 0644, mem, (uint64_t)st.st_size, err);
        }
        strv_append(list, path);
        return cpio_host_path(c, host, err);
}

static void modules_done(struct modules *m)
{
        free(m->dep);
        free(m->builtin);
        strv_free(m->order);
}

static int add_modules(struct cpio *c, const char *release, struct cx_error **err)
{
        _cleanup_(modules_done) struct modules m = {.release = release};
        _cleanup_free_ char *dep = xasprintf(MODULES_DIR "/%s/modules.dep", release);
        _cleanup_free_ char *builtin = xasprintf(MODULES_DIR "/%s/modules.builtin", release);
        _cleanup_strv_ char **list = NULL;
        int r = read_file_at(AT_FDCWD, dep, &m.dep, NULL, err);
        if (r < 0)
                return r;
        /* no modules.builtin: nothing is known to be built in */
        (void)read_file_at(AT_FDCWD, builtin, &m.builtin, NULL, NULL);
        for (size_t i = 0; i < ARRAY_SIZE(guest_modules); i++) {
                const char *line = dep_line(&m, guest_modules[i], true);
                if (!line && is_builtin(&m, guest_modules[i]))
                        continue;
                if (!line)
                        return cx_error_msg(err, ENOENT,
                                            "`%s`: no module %s (and modules.builtin does not "
                                            "list it)",
                                            dep, guest_modules[i]);
                r = resolve(&m, line, 0, err);
                if (r < 0)
                        return r;
        }
        for (char **o = m.order; o && *o; o++) {
                r = add_module(c, &m, *o, &list, err);
                if (r < 0)
                        return r;
        }
        size_t len = 0;
        for (char **l = list; l && *l; l++)
                len += strlen(*l) + 1;
        _cleanup_free_ char *text = xcalloc(len + 1, 1);
        for (char **l = list; l && *l; l++)
                strcat(strcat(text, *l), "\n");
        return cpio_data(c, VM_INITRAMFS_MODULES, text, err);
}

/* A library at its real path, and beside it the name ld.so looks for, its DT_SONAME: the maps
 * name the file (libmnl.so.0.2.0), the binary needs the soname (libmnl.so.0), a symlink. */
static int add_library(struct cpio *c, const char *path, struct cx_error **err)
{
        int r = cpio_host_path(c, path, err);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (r < 0 || fd < 0)
                return r < 0 ? r : cx_error_set(err, errno, "`%s`", path);
        _cleanup_free_ char *soname = vm_elf_soname(fd);
        const char *base = strrchr(path, '/') + 1;
        if (!soname || strcmp(soname, base) == 0)
                return 0;
        _cleanup_free_ char *link = xasprintf("%.*s%s", (int)(base - path), path, soname);
        return cpio_symlink(c, link, base, err);
}

/* The shared objects proc has mapped: /proc/PID/maps lines whose file's name holds ".so". */
static int add_libraries(struct cpio *c, const char *proc, struct cx_error **err)
{
        _cleanup_free_ char *maps = xasprintf("%s/maps", proc);
        _cleanup_free_ char *text = NULL;
        int r = read_file_at(AT_FDCWD, maps, &text, NULL, err);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                /* address perms offset dev inode path: the path is what follows the fifth field */
                char *path = l;
                for (int f = 0; f < 5 && path; f++)
                        path = strchr(path + strspn(path, " "), ' ');
                if (!path)
                        continue;
                path += strspn(path, " ");
                const char *base = strrchr(path, '/');
                const char *so = base ? strstr(base, ".so") : NULL;
                if (path[0] != '/' || !so || (so[3] != '\0' && so[3] != '.') ||
                    ends_with(path, " (deleted)"))
                        continue;
                r = add_library(c, path, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int vm_initramfs_write(int out, const char *out_path, const char *proc, const char *release,
                       struct cx_error **err)
{
        _cleanup_(cpio_done) struct cpio c = {.fd = out, .path = out_path};
        _cleanup_free_ char *exe = xasprintf("%s/exe", proc);
        _cleanup_free_ char *interp = NULL;
        _cleanup_close_ int fd = open(exe, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return cx_error_set(err, errno, "`%s`", exe);
        int r = vm_elf_interp(fd, &interp);
        if (r < 0)
                return cx_error_set(err, -r, "`%s`: read its ELF program headers", exe);
        r = cpio_file(&c, "init", 0755, fd, (uint64_t)st.st_size, err);
        if (r >= 0)
                r = add_libraries(&c, proc, err);
        if (r >= 0 && interp)
                r = cpio_host_path(&c, interp, err);
        /* the list is there even when the kernel has no modules: /init need not guess */
        if (r >= 0)
                r = release ? add_modules(&c, release, err)
                            : cpio_data(&c, VM_INITRAMFS_MODULES, "", err);
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(empty_dirs); i++)
                r = cpio_dir(&c, empty_dirs[i], err);
        if (r >= 0)
                r = cpio_trailer(&c, err);
        return r;
}
