/* libFuzzer harness: a container's state.json (state_parse, what state_read decodes). */
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct cx_error *err = NULL;
        struct state s;
        if (state_parse((const char *)data, size, &s, &err) == 0) {
                free(state_oci_json(&s, STATE_STOPPED)); /* what `capsa state` prints */
                state_clear(&s);
        }
        cx_error_free(err);
        return 0;
}
