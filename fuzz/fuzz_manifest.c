/* SPDX-License-Identifier: MIT */
/* Fuzz target for ferry.yaml manifests: any bytes either parse into a manifest or
 * fail with a message in the "FILE:LINE: FIELD: RULE" shape; a message in any other
 * shape aborts, so the fuzzer reports it like a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/package.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_manifest *m = NULL;
    fy_diag d;
    int rc = fy_manifest_parse(&m, (const char *)data, size, "fuzz.yaml", &d);
    if (rc == FY_OK) {
        /* touch what a consumer would read */
        volatile size_t sum = strlen(m->name) + strlen(m->version) + strlen(m->model_file);
        for (int i = 0; i < m->n_inputs; i++)
            for (int k = 0; k < m->inputs[i].rank; k++)
                sum += (size_t)m->inputs[i].dims[k] +
                       (m->inputs[i].dim_names[k] ? strlen(m->inputs[i].dim_names[k]) : 0);
        (void)sum;
        fy_manifest_free(m);
        return 0;
    }
    if (m != NULL || strncmp(d.msg, "fuzz.yaml:", 10) != 0 || !strstr(d.msg + 10, ": "))
        abort();
    return 0;
}
