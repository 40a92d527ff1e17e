/* SPDX-License-Identifier: MIT */
/* Reference kernels: placeholder table, filled in by the kernel work. */
#include "../ops.h"

const fy__op_def fy__ops_nn[] = {
    {NULL, NULL, NULL},
};
