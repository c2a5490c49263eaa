/* What the stand-in for src/image/progress.c saw (image-progress-stub.c). */
#pragma once

#include <stdint.h>

struct image_progress {
        int started, done;
        uint64_t total, bytes;
        char last[16]; /* what the last done() said */
};
