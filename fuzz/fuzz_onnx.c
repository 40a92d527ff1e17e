/* SPDX-License-Identifier: MIT */
/* Fuzz target for the ONNX loader: any bytes must load or fail cleanly, and a model
 * that loads must survive inspection and session creation. */
#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_op(const char *domain, const char *op, int count, int supported, void *ctx)
{
    (void)domain;
    (void)op;
    (void)supported;
    *(long *)ctx += count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_model *m = NULL;
    fy_diag d;
    if (fy_model_load_buffer(&m, data, size, NULL, NULL, &d) != FY_OK)
        return 0;
    fy_model_info info;
    fy_model_get_info(m, &info);
    long ops = 0;
    fy_model_each_op(m, count_op, &ops);
    for (int i = 0; i < fy_model_n_inputs(m); i++) {
        fy_io_desc io;
        fy_model_input(m, i, &io);
    }
    fy_session *s = NULL;
    if (fy_session_create(&s, m, NULL, &d) == FY_OK)
        fy_session_free(s);
    fy_model_free(m);
    return 0;
}
