/* SPDX-License-Identifier: MIT */
/* Reference kernels: empty until the kernel work lands. */
#include "../ops.h"

const fy__op_def fy__ops_signal[] = {
    {NULL, NULL, NULL},
};
