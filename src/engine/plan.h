/* SPDX-License-Identifier: MIT */
/* Static memory planning for a session's top-level graph: the sizes of its
 * intermediate values, recorded on the first run of an input signature, are
 * given offsets in one arena so that values whose lifetimes overlap never share
 * bytes; later runs with the same signature hand those buffers to the kernels
 * (core.h: fy__out_plan) instead of allocating. docs/DESIGN.md, "Memory planning". */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stddef.h>

#include "ferry/tensor.h"

#define FY_PLAN_ALIGN 64
/* Values planned at most; bigger graphs run unplanned (quadratic placement). */
#define FY_PLAN_MAX_VALUES 200000

/* Place n buffers: size[i] bytes (0: not planned) alive from step start[i] to
 * end[i] inclusive. Buffers alive at a common step never overlap. Greedy: largest
 * first, each at the lowest offset that fits between those it meets in time.
 * Fills offset[] and *total (arena bytes, FY_PLAN_ALIGN-rounded sizes).
 * FY_ENOMEM for scratch, FY_ELIMIT past FY_PLAN_MAX_VALUES. */
int fy__plan_offsets(int n, const size_t *size, const int *start, const int *end, size_t *offset,
                     size_t *total);

#endif
