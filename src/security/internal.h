/* security: helpers shared by the files of this subsystem (not part of its public API). */
#pragma once

#include <stdbool.h>

/* True when capsa holds capability cap in its effective set. */
bool sec_have_effective_cap(int cap);
