/* vm/assets: what the assets need from ELF files, read with pread from the headers: capsa's
 * build id (the initramfs's cache key) and dynamic loader, and a kernel's PVH entry note. */
#include "vm/assets-internal.h"

#include <elf.h>
#include <string.h>
#include <unistd.h>

/* Xen's note naming the 32-bit PVH entry point (xen/include/public/elfnote.h) */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
/* The most program headers and note bytes read: far beyond any real binary or kernel */
#define PHDRS_MAX 128
#define NOTES_MAX (64 << 10)

uint64_t vm_hash(uint64_t h, const void *data, size_t len)
{
        const unsigned char *p = data;
        for (size_t i = 0; i < len; i++)
                h = (h ^ p[i]) * 0x100000001b3ULL;
        return h;
}

uint64_t vm_hash_identity(uint64_t h, const struct stat *st)
{
        uint64_t v[] = {st->st_dev, st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
                        (uint64_t)st->st_mtim.tv_nsec};
        return vm_hash(h, v, sizeof(v));
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
        return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool read_ehdr(int fd, Elf64_Ehdr *eh)
{
        return read_at(fd, eh, sizeof(*eh), 0) && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
               eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_ident[EI_DATA] == ELFDATA2LSB &&
               eh->e_phentsize == sizeof(Elf64_Phdr) && eh->e_phnum <= PHDRS_MAX;
}

bool vm_elf_is(int fd)
{
        Elf64_Ehdr eh;
        return read_ehdr(fd, &eh);
}

/* The program headers of type type, into ph (PHDRS_MAX entries); their count or -1. */
static int phdrs(int fd, uint32_t type, Elf64_Phdr *ph)
{
        Elf64_Ehdr eh;
        Elf64_Phdr all[PHDRS_MAX];
        if (!read_ehdr(fd, &eh) || !read_at(fd, all, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff))
                return -1;
        int n = 0;
        for (int i = 0; i < eh.e_phnum; i++)
                if (all[i].p_type == type)
                        ph[n++] = all[i];
        return n;
}

/* Finds the note (name, type) in the file's PT_NOTE segments; copies up to *len bytes of its
 * descriptor into desc and sets *len to its size.  Notes are padded to the segment's alignment
 * (4, or 8 for .note.gnu.property). */
static bool find_note(int fd, const char *name, uint32_t type, void *desc, size_t *len)
{
        Elf64_Phdr ph[PHDRS_MAX];
        int n = phdrs(fd, PT_NOTE, ph);
        size_t name_len = strlen(name) + 1;
        for (int i = 0; i < n; i++) {
                if (ph[i].p_filesz > NOTES_MAX)
                        continue;
                _cleanup_free_ char *buf = xmalloc(ph[i].p_filesz);
                if (!read_at(fd, buf, ph[i].p_filesz, ph[i].p_offset))
                        continue;
                uint64_t align = ph[i].p_align == 8 ? 8 : 4;
#define PAD(x) (((x) + align - 1) & ~(align - 1))
                for (uint64_t off = 0; off + sizeof(Elf64_Nhdr) <= ph[i].p_filesz;) {
                        Elf64_Nhdr nh;
                        memcpy(&nh, buf + off, sizeof(nh));
                        uint64_t d = off + sizeof(nh) + PAD((uint64_t)nh.n_namesz);
                        if (d + nh.n_descsz > ph[i].p_filesz)
                                break;
                        if (nh.n_type == type && nh.n_namesz == name_len &&
                            memcmp(buf + off + sizeof(nh), name, name_len) == 0) {
                                memcpy(desc, buf + d, nh.n_descsz < *len ? nh.n_descsz : *len);
                                *len = nh.n_descsz;
                                return true;
                        }
                        off = d + PAD((uint64_t)nh.n_descsz);
                }
#undef PAD
        }
        return false;
}

int vm_elf_build_key(int fd, uint64_t *ret)
{
        unsigned char id[64];
        size_t len = sizeof(id);
        if (find_note(fd, "GNU", NT_GNU_BUILD_ID, id, &len) && len > 0 && len <= sizeof(id)) {
                *ret = vm_hash(VM_HASH_INIT, id, len);
                return 0;
        }
        /* a binary linked without --build-id: its bytes are its identity */
        uint64_t h = VM_HASH_INIT, off = 0;
        char buf[1 << 16];
        for (;;) {
                ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                h = vm_hash(h, buf, (size_t)n);
                off += (uint64_t)n;
        }
        *ret = h;
        return 0;
}

int vm_elf_interp(int fd, char **ret)
{
        Elf64_Phdr ph[PHDRS_MAX];
        int n = phdrs(fd, PT_INTERP, ph);
        if (n < 0)
                return -ENOEXEC;
        if (n == 0 || ph[0].p_filesz < 2 || ph[0].p_filesz > 4096) {
                *ret = NULL;
                return 0;
        }
        char *s = xmalloc(ph[0].p_filesz + 1);
        if (!read_at(fd, s, ph[0].p_filesz, ph[0].p_offset)) {
                free(s);
                return -EIO;
        }
        s[ph[0].p_filesz] = '\0';
        *ret = s;
        return 0;
}

/* A virtual address's file offset, through the PT_LOAD segment holding it. */
static bool file_offset(int fd, uint64_t vaddr, uint64_t *ret)
{
        Elf64_Phdr ph[PHDRS_MAX];
        int n = phdrs(fd, PT_LOAD, ph);
        for (int i = 0; i < n; i++)
                if (vaddr >= ph[i].p_vaddr && vaddr < ph[i].p_vaddr + ph[i].p_filesz) {
                        *ret = vaddr - ph[i].p_vaddr + ph[i].p_offset;
                        return true;
                }
        return false;
}

char *vm_elf_soname(int fd)
{
        Elf64_Phdr ph[PHDRS_MAX];
        if (phdrs(fd, PT_DYNAMIC, ph) != 1 || ph[0].p_filesz > NOTES_MAX)
                return NULL;
        size_t n = ph[0].p_filesz / sizeof(Elf64_Dyn);
        _cleanup_free_ Elf64_Dyn *dyn = xcalloc(n ? n : 1, sizeof(Elf64_Dyn));
        if (!read_at(fd, dyn, n * sizeof(Elf64_Dyn), ph[0].p_offset))
                return NULL;
        uint64_t strtab = 0, soname = UINT64_MAX, off;
        for (size_t i = 0; i < n && dyn[i].d_tag != DT_NULL; i++)
                if (dyn[i].d_tag == DT_STRTAB)
                        strtab = dyn[i].d_un.d_ptr;
                else if (dyn[i].d_tag == DT_SONAME)
                        soname = dyn[i].d_un.d_val;
        char name[256];
        if (!strtab || soname == UINT64_MAX || !file_offset(fd, strtab, &off) ||
            pread(fd, name, sizeof(name), (off_t)(off + soname)) <= 0)
                return NULL;
        name[sizeof(name) - 1] = '\0';
        return name[0] && !strchr(name, '/') ? xstrdup(name) : NULL;
}

bool vm_elf_has_pvh(int fd)
{
        uint32_t entry;
        size_t len = sizeof(entry);
        return find_note(fd, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &entry, &len);
}

/* The offset after the last non-zero byte of [off, off + len) (off when all zero). */
static uint64_t data_end(int fd, uint64_t off, uint64_t len)
{
        char buf[1 << 16];
        uint64_t end = off + len;
        while (end > off) {
                size_t n = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
                if (!read_at(fd, buf, n, end - n))
                        return off + len; /* unreadable: keep it all */
                for (size_t i = n; i > 0; i--)
                        if (buf[i - 1])
                                return end - n + i;
                end -= n;
        }
        return off;
}

int vm_elf_trim_zero_tails(int fd)
{
        Elf64_Ehdr eh;
        Elf64_Phdr ph[PHDRS_MAX];
        if (!read_ehdr(fd, &eh) || !read_at(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff))
                return -EINVAL;
        for (int i = 0; i < eh.e_phnum; i++) {
                if (ph[i].p_type != PT_LOAD || !ph[i].p_filesz)
                        continue;
                uint64_t end = data_end(fd, ph[i].p_offset, ph[i].p_filesz);
                uint64_t size = (end - ph[i].p_offset + 4095) & ~(uint64_t)4095;
                if (size < ph[i].p_filesz)
                        ph[i].p_filesz = size;
        }
        return pwrite(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) ==
                       (ssize_t)(eh.e_phnum * sizeof(Elf64_Phdr))
                   ? 0
                   : -errno;
}
