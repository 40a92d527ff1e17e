/* SPDX-License-Identifier: MIT */
/* Few-row products with a packed right operand (batch-1 Gemm/MatMul whose weights
 * fit the cache hierarchy): one streaming pass over the packed panels, all of a
 * panel group's columns accumulated in vector registers, rows of the weights whose
 * input value is zero in every row skipped (the inputs after a Relu or a max pool
 * of one are largely zero). docs/DESIGN.md, "Batch-1 products on packed weights". */
#ifndef FERRY_FAST_GEMV_H
#define FERRY_FAST_GEMV_H

#include "fast.h"

/* Rows of A up to which fy__gemv_packed applies. */
#define FY_GEMV_MAX_ROWS 4

/* Whether every element of the packed operand is finite (0 x w is then 0 for
 * each w, so zero inputs may be skipped exactly). */
int fy__packed_finite(const fy__packed *b);

/* C[M x N] = epilogue(A . B) for M <= FY_GEMV_MAX_ROWS rows of A (row stride lda,
 * unit column stride) and B packed by fy__pack_b (K x N); C row stride N. With
 * skip_zero, rows k of B where A[.., k] is zero in every row are not read (pass it
 * only when fy__packed_finite(b)). ep: per-column bias, residual (row stride ldr)
 * and activation. Runs on pool; allocates nothing. */
void fy__gemv_packed(fy_pool *pool, int64_t M, const float *a, int64_t lda, const fy__packed *b,
                     int skip_zero, float *c, const fy__epilogue *ep);

#endif
