/* SPDX-License-Identifier: MIT */
/* Fuzz target for the PGM images of dir: datasets. */
#include <stddef.h>
#include <stdint.h>

#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_tensor t;
    fy_diag d;
    if (fy__pgm_parse(data, size, &t, &d) == FY_OK) {
        volatile unsigned char sum = 0;
        const unsigned char *p = t.data;
        for (size_t i = 0; i < fy_tensor_nbytes(&t); i++)
            sum ^= p[i];
        fy_tensor_deinit(&t);
    }
    return 0;
}
