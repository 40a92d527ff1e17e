/* SPDX-License-Identifier: MIT */
/* Fuzz target for the labels.txt of dir: datasets. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "data/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy__labels l;
    fy_diag d;
    if (fy__labels_parse((const char *)data, size, &l, &d) == FY_OK) {
        volatile size_t sum = 0;
        for (int64_t i = 0; i < l.n; i++)
            sum += strlen(l.names[i]) + (size_t)l.labels[i];
        fy__labels_free(&l);
    }
    return 0;
}
