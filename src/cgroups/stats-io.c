/* events --stats: block I/O and huge page use, shaped as runc 1.1.5 reports them.
 *
 * v1 blkio: the first group of files that has lines, in runc's order of preference: BFQ's
 * debug files, BFQ's, CFQ's, the throttle layer's recursive files, its plain files ("Total"
 * lines skipped).  v2: io.stat's rbytes/wbytes/rios/wios mapped to v1's io_service_bytes and
 * io_serviced (the other keys have no v1 name; runc drops them too).
 * Huge pages, per size of /sys/kernel/mm/hugepages: v1 hugetlb.SIZE.{usage_in_bytes,
 * max_usage_in_bytes,failcnt}; v2 hugetlb.SIZE.current and hugetlb.SIZE.events' max. */
#include "cgroups/cgroups-internal.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void blkio_add(struct cg_stats *s, enum cg_blkio_list l, const struct cg_blkio_entry *e)
{
        s->blkio.v[l] = xrealloc(s->blkio.v[l], (s->blkio.n[l] + 1) * sizeof(*e));
        s->blkio.v[l][s->blkio.n[l]++] = *e;
}

/* "MAJ:MIN [OP] VALUE" lines into list L; false when the file is missing or has none. */
static bool read_blkio_file(const char *dir, const char *file, struct cg_stats *s,
                            enum cg_blkio_list l)
{
        _cleanup_free_ char *text = NULL;
        if (cg_read(dir, file, &text, true, NULL) < 0)
                return false;
        size_t before = s->blkio.n[l];
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct cg_blkio_entry e = {0};
                char op[sizeof(e.op)];
                uint64_t v;
                if (sscanf(line, "%" SCNu64 ":%" SCNu64 " %15s %" SCNu64, &e.major, &e.minor, op,
                           &v) == 4) {
                        memcpy(e.op, op, sizeof(op));
                        e.value = v;
                } else if (sscanf(line, "%" SCNu64 ":%" SCNu64 " %" SCNu64, &e.major, &e.minor,
                                  &e.value) != 3) {
                        continue; /* "Total N" */
                }
                blkio_add(s, l, &e);
        }
        return s->blkio.n[l] > before;
}

struct blkio_file {
        const char *name;
        enum cg_blkio_list list;
};

static const struct blkio_file bfq_debug[] = {
    {"blkio.bfq.sectors_recursive", CG_BLKIO_SECTORS},
    {"blkio.bfq.io_service_time_recursive", CG_BLKIO_SERVICE_TIME},
    {"blkio.bfq.io_wait_time_recursive", CG_BLKIO_WAIT_TIME},
    {"blkio.bfq.io_merged_recursive", CG_BLKIO_MERGED},
    {"blkio.bfq.io_queued_recursive", CG_BLKIO_QUEUED},
    {"blkio.bfq.time_recursive", CG_BLKIO_TIME},
    {"blkio.bfq.io_serviced_recursive", CG_BLKIO_SERVICED},
    {"blkio.bfq.io_service_bytes_recursive", CG_BLKIO_SERVICE_BYTES},
    {},
};
static const struct blkio_file bfq[] = {
    {"blkio.bfq.io_serviced_recursive", CG_BLKIO_SERVICED},
    {"blkio.bfq.io_service_bytes_recursive", CG_BLKIO_SERVICE_BYTES},
    {},
};
static const struct blkio_file cfq[] = {
    {"blkio.sectors_recursive", CG_BLKIO_SECTORS},
    {"blkio.io_service_time_recursive", CG_BLKIO_SERVICE_TIME},
    {"blkio.io_wait_time_recursive", CG_BLKIO_WAIT_TIME},
    {"blkio.io_merged_recursive", CG_BLKIO_MERGED},
    {"blkio.io_queued_recursive", CG_BLKIO_QUEUED},
    {"blkio.time_recursive", CG_BLKIO_TIME},
    {"blkio.io_serviced_recursive", CG_BLKIO_SERVICED},
    {"blkio.io_service_bytes_recursive", CG_BLKIO_SERVICE_BYTES},
    {},
};
static const struct blkio_file throttle_recursive[] = {
    {"blkio.throttle.io_serviced_recursive", CG_BLKIO_SERVICED},
    {"blkio.throttle.io_service_bytes_recursive", CG_BLKIO_SERVICE_BYTES},
    {},
};
static const struct blkio_file throttle[] = {
    {"blkio.throttle.io_serviced", CG_BLKIO_SERVICED},
    {"blkio.throttle.io_service_bytes", CG_BLKIO_SERVICE_BYTES},
    {},
};

static void blkio_v1(const char *dir, struct cg_stats *s)
{
        static const struct blkio_file *const groups[] = {bfq_debug, bfq, cfq, throttle_recursive,
                                                          throttle};
        for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
                /* a group whose first file has no lines gives way to the next one; within a
                 * group, the first empty file ends the reading (as runc) */
                if (!read_blkio_file(dir, groups[g][0].name, s, groups[g][0].list))
                        continue;
                for (const struct blkio_file *f = groups[g] + 1; f->name; f++)
                        if (!read_blkio_file(dir, f->name, s, f->list))
                                break;
                return;
        }
}

static void blkio_v2(const char *dir, struct cg_stats *s)
{
        static const struct {
                const char *key, *op;
                enum cg_blkio_list list;
        } keys[] = {
            {"rbytes", "Read", CG_BLKIO_SERVICE_BYTES},
            {"wbytes", "Write", CG_BLKIO_SERVICE_BYTES},
            {"rios", "Read", CG_BLKIO_SERVICED},
            {"wios", "Write", CG_BLKIO_SERVICED},
        };
        _cleanup_free_ char *text = NULL;
        if (cg_read(dir, "io.stat", &text, true, NULL) < 0)
                return;
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct cg_blkio_entry e = {0};
                int off = 0;
                if (sscanf(line, "%" SCNu64 ":%" SCNu64 "%n", &e.major, &e.minor, &off) != 2)
                        continue;
                char *save2 = NULL;
                for (char *kv = strtok_r(line + off, " ", &save2); kv;
                     kv = strtok_r(NULL, " ", &save2)) {
                        char *eq = strchr(kv, '=');
                        if (!eq)
                                continue;
                        *eq = '\0';
                        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                                if (strcmp(kv, keys[i].key) != 0)
                                        continue;
                                snprintf(e.op, sizeof(e.op), "%s", keys[i].op);
                                e.value = strtoull(eq + 1, NULL, 10);
                                blkio_add(s, keys[i].list, &e);
                        }
                }
        }
}

void cg_stats_blkio(const struct cg_manager *m, struct cg_stats *s)
{
        const char *dir = cg_v1_dir(m, "blkio");
        if (dir)
                blkio_v1(dir, s);
        else if ((dir = cg_v2_dir(m)))
                blkio_v2(dir, s);
}

/* "hugepages-2048kB" -> "2MB": runc's name, the size in the largest unit that divides it
 * below 1024 (B, KB, MB, GB, TB, PB). */
static bool page_size_name(const char *dirent, char *buf, size_t len)
{
        static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
        unsigned long long kb;
        char tail[8];
        if (sscanf(dirent, "hugepages-%llu%7s", &kb, tail) != 2 || strcmp(tail, "kB") != 0)
                return false;
        double v = (double)kb * 1024;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, len, "%g%s", v, units[u]);
        return true;
}

static int cmp_size(const void *a, const void *b)
{
        return strcmp(((const struct cg_hugetlb_stat *)a)->size,
                      ((const struct cg_hugetlb_stat *)b)->size);
}

static void read_u64_quiet(const char *dir, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *text = NULL;
        if (cg_read(dir, file, &text, true, NULL) >= 0)
                *ret = strtoull(text, NULL, 10);
}

/* v2 hugetlb.SIZE.events: "max N". */
static void read_events_max(const char *dir, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *text = NULL;
        if (cg_read(dir, file, &text, true, NULL) < 0)
                return;
        for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, "max ", 4) == 0)
                        *ret = strtoull(l + 4, NULL, 10);
}

void cg_stats_hugetlb(const struct cg_manager *m, struct cg_stats *s)
{
        const char *dir = cg_v1_dir(m, "hugetlb");
        bool v2 = false;
        if (!dir && (dir = cg_v2_dir(m)))
                v2 = true;
        if (!dir)
                return;
        DIR *d = opendir("/sys/kernel/mm/hugepages");
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct cg_hugetlb_stat h = {0};
                if (!page_size_name(de->d_name, h.size, sizeof(h.size)))
                        continue;
                _cleanup_free_ char *cur =
                    xasprintf("hugetlb.%s.%s", h.size, v2 ? "current" : "usage_in_bytes");
                if (!cg_file_exists(dir, cur))
                        continue; /* no hugetlb controller in this cgroup */
                read_u64_quiet(dir, cur, &h.usage);
                if (v2) {
                        _cleanup_free_ char *ev = xasprintf("hugetlb.%s.events", h.size);
                        read_events_max(dir, ev, &h.failcnt);
                } else {
                        _cleanup_free_ char *mx =
                            xasprintf("hugetlb.%s.max_usage_in_bytes", h.size);
                        _cleanup_free_ char *fc = xasprintf("hugetlb.%s.failcnt", h.size);
                        read_u64_quiet(dir, mx, &h.max);
                        read_u64_quiet(dir, fc, &h.failcnt);
                }
                s->hugetlb = xrealloc(s->hugetlb, (s->n_hugetlb + 1) * sizeof(h));
                s->hugetlb[s->n_hugetlb++] = h;
        }
        closedir(d);
        if (s->n_hugetlb > 1)
                qsort(s->hugetlb, s->n_hugetlb, sizeof(*s->hugetlb), cmp_size);
}
