/* The progress calls of src/image, recorded instead of drawn: linked into test-image-layer only
 * while src/image/progress.c is not in the tree (meson.build defines PROGRESS_STUB then). */
#include "image-progress-stub.h"
#include "image/image.h"

#include <string.h>

struct image_progress *image_progress_new(bool quiet)
{
        return xcalloc(1, sizeof(struct image_progress));
}

void image_progress_free(struct image_progress *p)
{
        free(p);
}

int image_progress_start(struct image_progress *p, const char *digest, uint64_t total)
{
        p->total = total;
        p->bytes = 0;
        return p->started++;
}

void image_progress_add(struct image_progress *p, int slot, uint64_t bytes)
{
        p->bytes += bytes;
}

void image_progress_done(struct image_progress *p, int slot, const char *what)
{
        p->done++;
        snprintf(p->last, sizeof(p->last), "%s", what);
}
