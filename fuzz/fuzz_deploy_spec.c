/* SPDX-License-Identifier: MIT */
/* Fuzz target for the deploy.yaml parser: any bytes parse into a spec or fail with
 * a message, never crash, hang or leak. */
#include <stddef.h>
#include <stdint.h>

#include "ferry/deploy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_deploy_spec *s = NULL;
    fy_diag d;
    if (fy_deploy_spec_parse(&s, (const char *)data, size, "fuzz/deploy.yaml", &d) == FY_OK)
        fy_deploy_spec_free(s);
    return 0;
}
