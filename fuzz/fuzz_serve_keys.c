/* SPDX-License-Identifier: MIT */
/* Fuzz target for the API keys file parser of `ferry serve`: any bytes parse or
 * fail cleanly, and a parsed file answers lookups (the bytes themselves as a key). */
#include <stddef.h>
#include <stdint.h>

#include "serve/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy__keys *k = NULL;
    fy_diag d;
    if (fy__keys_parse(&k, (const char *)data, size, "fuzz.keys", &d) != FY_OK)
        return 0;
    const char *name = NULL;
    (void)fy__keys_lookup(k, (const char *)data, size < 64 ? size : 64, &name);
    (void)fy__keys_lookup(k, "", 0, &name);
    fy__keys_free(k);
    return 0;
}
