/* SPDX-License-Identifier: MIT */
/* Fuzz target for ONNX TensorProto parsing (.pb tensor files, test data sets). */
#include <stddef.h>
#include <stdint.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_tensor t;
    fy_diag d;
    if (fy_tensor_from_onnx_pb(&t, data, size, &d) != FY_OK)
        return 0;
    volatile unsigned char sum = 0;
    const unsigned char *p = t.data;
    for (size_t i = 0; i < fy_tensor_nbytes(&t); i++)
        sum ^= p[i];
    fy_tensor_deinit(&t);
    return 0;
}
