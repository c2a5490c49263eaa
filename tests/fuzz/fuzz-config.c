/* libFuzzer harness: config.json (spec_parse, then spec_validate on what parsed). */
#include "spec/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cx_error *err = NULL;
        struct spec *s = NULL;
        if (spec_parse((const char *)data, size, "config.json", "/bundle", &s, &err) == 0) {
                spec_validate(s, &err);
                spec_free(s);
        }
        cx_error_free(err);
        return 0;
}
