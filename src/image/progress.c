/* Progress of an import or a pull on a terminal: one line per blob and a total line, redrawn in
 * place (cursor up, erase line) at most 10 times a second, written to stderr with one write(2)
 * per redraw.  Nothing at all when stderr is not a terminal or the caller asked for quiet:
 * every function is then a no-op on a NULL-like "off" object. */
#include "image/image.h"

#include <string.h>
#include <time.h>

#define REDRAW_NS 100000000LL /* 10 redraws a second at most */

struct slot {
        char id[20]; /* "sha256:" and 12 hex digits */
        uint64_t total, done;
        int64_t start_ns, end_ns;
        const char *what; /* NULL while streaming, else "done" or "exists" */
};

struct image_progress {
        bool on;
        struct slot *slots;
        size_t n;
        int64_t start_ns, last_draw_ns;
        size_t lines; /* lines drawn last time (the cursor is below them) */
};

static int64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct image_progress *image_progress_new(bool quiet)
{
        struct image_progress *p = xcalloc(1, sizeof(*p));
        p->on = !quiet && isatty(STDERR_FILENO);
        p->start_ns = now_ns();
        return p;
}

/* "12.3 MiB" */
static void fmt_bytes(char *buf, size_t len, double b)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        size_t u = 0;
        while (b >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                b /= 1024;
                u++;
        }
        snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

/* "5s", "3m04s", "1h02m" */
static void fmt_eta(char *buf, size_t len, double secs)
{
        if (secs < 0 || secs > 359999)
                snprintf(buf, len, "--");
        else if (secs < 60)
                snprintf(buf, len, "%ds", (int)secs + 1); /* never "0s" while bytes remain */
        else if (secs < 3600)
                snprintf(buf, len, "%dm%02ds", (int)secs / 60, (int)secs % 60);
        else
                snprintf(buf, len, "%dh%02dm", (int)secs / 3600, (int)secs % 3600 / 60);
}

/* One line: label, bytes (of total), rate, ETA or the final word. */
static void line(FILE *f, const char *label, uint64_t done, uint64_t total, double secs,
                 const char *what)
{
        char d[24], t[24], rate[24], eta[24];
        double bps = secs > 0.05 ? (double)done / secs : 0;
        fmt_bytes(d, sizeof(d), (double)done);
        fmt_bytes(t, sizeof(t), (double)total);
        fmt_bytes(rate, sizeof(rate), bps);
        fprintf(f, "\033[2K%-20s ", label);
        if (what && !strcmp(what, "exists")) {
                fprintf(f, "exists\n");
                return;
        }
        fprintf(f, total ? "%10s / %-10s" : "%10s%13s", d, total ? t : "");
        if (what) {
                fprintf(f, "  %s\n", what);
                return;
        }
        fmt_eta(eta, sizeof(eta), total && bps > 0 ? (double)(total - done) / bps : -1);
        fprintf(f, "  %10s/s  ETA %s\n", rate, total && done <= total ? eta : "--");
}

static void draw(struct image_progress *p, int64_t now)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return;
        if (p->lines)
                fprintf(f, "\r\033[%zuA", p->lines);
        uint64_t done = 0, total = 0;
        bool all_done = true;
        for (size_t i = 0; i < p->n; i++) {
                struct slot *s = &p->slots[i];
                int64_t end = s->what ? s->end_ns : now;
                line(f, s->id, s->done, s->total, (double)(end - s->start_ns) / 1e9, s->what);
                if (s->what && !strcmp(s->what, "exists"))
                        continue;
                done += s->done;
                total += s->total ? s->total : s->done;
                all_done = all_done && s->what;
        }
        line(f, "total", done, total, (double)(now - p->start_ns) / 1e9, all_done ? "done" : NULL);
        p->lines = p->n + 1;
        fclose(f);
        for (size_t off = 0; off < len;) {
                ssize_t n = write(STDERR_FILENO, buf + off, len - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                off += (size_t)n;
        }
        free(buf);
        p->last_draw_ns = now;
}

static void maybe_draw(struct image_progress *p, bool force)
{
        int64_t now = now_ns();
        if (force || now - p->last_draw_ns >= REDRAW_NS)
                draw(p, now);
}

int image_progress_start(struct image_progress *p, const char *digest, uint64_t total)
{
        if (!p || !p->on)
                return -1;
        p->slots = xrealloc(p->slots, (p->n + 1) * sizeof(*p->slots));
        struct slot *s = &p->slots[p->n];
        *s = (struct slot){.total = total, .start_ns = now_ns()};
        snprintf(s->id, sizeof(s->id), "%s", digest ? digest : "?");
        p->n++;
        maybe_draw(p, false);
        return (int)p->n - 1;
}

void image_progress_add(struct image_progress *p, int slot, uint64_t bytes)
{
        if (!p || !p->on || slot < 0 || (size_t)slot >= p->n)
                return;
        p->slots[slot].done += bytes;
        maybe_draw(p, false);
}

void image_progress_done(struct image_progress *p, int slot, const char *what)
{
        if (!p || !p->on || slot < 0 || (size_t)slot >= p->n)
                return;
        struct slot *s = &p->slots[slot];
        s->what = what ? what : "done";
        s->end_ns = now_ns();
        if (!strcmp(s->what, "done") && s->total > s->done)
                s->done = s->total;
        maybe_draw(p, true);
}

void image_progress_free(struct image_progress *p)
{
        if (!p)
                return;
        if (p->on && p->n)
                draw(p, now_ns());
        free(p->slots);
        free(p);
}
