/* libFuzzer harness: `update --resources FILE` (spec_parse_resources). */
#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cx_error *err = NULL;
        struct spec_resources r = {0};
        if (spec_parse_resources((const char *)data, size, "resources.json", &r, &err) == 0)
                spec_resources_clear(&r);
        cx_error_free(err);
        return 0;
}
