/* libFuzzer harness: `exec --process FILE` (spec_parse_process_json). */
#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cx_error *err = NULL;
        struct spec_process p = {0};
        if (spec_parse_process_json((const char *)data, size, "process.json", &p, &err) == 0)
                spec_process_clear(&p);
        cx_error_free(err);
        return 0;
}
