/* SPDX-License-Identifier: MIT */
/* Few-row products (batch-1 Gemm/MatMul) with weights that fit the cache
 * hierarchy, on a row-major K x N copy made at session creation: one streaming
 * pass over the weight rows in storage order, a task's columns accumulated in
 * vector registers, and the weight rows whose input is zero in every row of A
 * skipped (after a Relu, and a max pool of one, a third or more of a layer's
 * inputs are zero, and at batch 1 the time is the weight bytes read).
 * docs/DESIGN.md, "Batch-1 products on row-major weights". */
#ifndef FERRY_FAST_GEMV_H
#define FERRY_FAST_GEMV_H

#include "fast.h"

/* Rows of A up to which fy__gemv_rows applies. */
#define FY_GEMV_MAX_ROWS 4

/* B (K x N) row-major with rows ld >= N floats apart (ld a multiple of 16, the
 * columns past N zero). */
typedef struct fy__rowmajor {
    int64_t K, N, ld;
    int finite; /* every element finite: 0 x w is 0, so zero inputs may be skipped */
    float *w;
    void *raw;     /* the allocation holding w */
    uint64_t runs; /* products run on it (which way the parts go; see gemv.c) */
} fy__rowmajor;

/* Copy B given by strides (element (k, n) at b[k * rsb + n * csb]). FY_ENOMEM. */
int fy__rowmajor_pack(fy__rowmajor **out, int64_t K, int64_t N, const float *b, int64_t rsb,
                      int64_t csb);
void fy__rowmajor_free(fy__rowmajor *p); /* NULL is a no-op */

/* C[M x N] (row stride N) = epilogue(A . B) for M <= FY_GEMV_MAX_ROWS rows of A
 * (row stride lda, unit column stride). ep: per-column bias, residual (row stride
 * ldr) and activation. Runs on pool; allocates nothing. Updates b->runs, so one
 * copy serves one call at a time (it belongs to one session's node). */
void fy__gemv_rows(fy_pool *pool, int64_t M, const float *a, int64_t lda, fy__rowmajor *b, float *c,
                   const fy__epilogue *ep);

#endif
