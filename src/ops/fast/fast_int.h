/* SPDX-License-Identifier: MIT */
/* Internals shared by the fast kernel files: panel layouts, the GEMM driver that
 * convolution feeds with its own B-panel packer, and the packed-operand type. */
#ifndef FERRY_FAST_INT_H
#define FERRY_FAST_INT_H

#include "fast.h"

/* Microtile rows per ISA (columns: 32 for AVX-512, 16 for AVX2, FY_NRC for C). */
#define FY_MR512 12
#define FY_MR256 6
#define FY_MRC 4
#define FY_NRC 8
#define FY_MR_MAX 12

/* Cache blocks: an MC x KC block of A (96 KB) and a KC x NC block of B (128 KB)
 * per thread, packed on the stack; the B block stays in L2 while A panels stream
 * through L1. MC and NC are multiples of every MR and NR. */
#define FY_MC 96
#define FY_NC 128
#define FY_KC 256

typedef void (*fy__ukernel)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                            int nr, int acc);

/* A microkernel reading A in place: element (i, k) at a[i * lda + k]. */
typedef void (*fy__ukernel_d)(int64_t kc, const float *a, int64_t lda, const float *b, float *c,
                              int64_t ldc, int nr, int acc);

/* The microkernels of one ISA: k[mr] handles mr rows (1..mr max). */
typedef struct fy__kset {
    fy__isa isa;
    int mr, nr;
    fy__ukernel k[FY_MR_MAX + 1];
} fy__kset;

const fy__kset *fy__kset_for(fy__isa isa);

struct fy__packed {
    fy__isa isa; /* whose panel layout */
    int side;    /* 'A' (MR-row panels over K) or 'B' (NR-column panels over K) */
    int r;       /* MR or NR */
    int64_t rows, cols;
    int64_t groups, gstride; /* conv: one matrix per group, gstride floats apart */
    int wino;                /* Winograd conv weights F(wino, 3) (wino.c); 0: not */
    float *data;
};

/* A packed operand of the active ISA with room for `groups` matrices; NULL on
 * overflow or out of memory. */
fy__packed *fy__packed_make(int side, int64_t rows, int64_t cols, int64_t groups);

/* Fills dst with the KC x NC block (k0.., j0..) of B as NR-column panels (columns
 * past nc zero). */
typedef void (*fy__pack_b_fn)(const void *src, int nrp, int64_t k0, int64_t kc, int64_t j0,
                              int64_t nc, float *dst);

typedef struct fy__bview {
    const float *b;
    int64_t rsb, csb;
} fy__bview;

/* One GEMM: A strided (a) or packed (pa, full-K panels); B packed (pb) or packed
 * block by block by pack_b(bsrc, ...). */
typedef struct fy__gemm {
    const fy__kset *ks;
    int64_t M, N, K;
    const float *a;
    int64_t rsa, csa;
    const float *pa;
    const float *pb;
    fy__pack_b_fn pack_b;
    const void *bsrc;
    float *c;
    int64_t ldc;
    const fy__epilogue *ep; /* NULL: plain store */
} fy__gemm;

void fy__gemm_run(fy_pool *pool, const fy__gemm *g);
/* The pack_b of a strided B; src is a fy__bview. */
void fy__pack_b_strided(const void *src, int nrp, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                        float *dst);

void fy__pack_a_block(float *dst, int mrp, const float *a, int64_t rsa, int64_t csa, int64_t m,
                      int64_t kc);
void fy__pack_b_block(float *dst, int nrp, const float *b, int64_t rsb, int64_t csb, int64_t kc,
                      int64_t n);
/* Epilogue on the mr x n tile at (i0, j0) of C, one pass per row:
 * x = act(x + bias + residual) (act.c). */
void fy__epi_tile(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                  const fy__epilogue *ep);

/* The finish of one row of the dequantizing int8 GEMM, in one pass per vector:
 *   s = acc[n] + zb[n] rz - za cs[n]                  (uint32, wrapping)
 * where fix 0 skips the correction (za and every zb 0), fix 1 only the zb term
 * (every zb 0), fix 2 takes both.
 *   out[n] = act((float)(int32)s * (a_scale * bs[n]) + 0 + bv[n] + r[n])
 * bs[n] is bs[0] when nbs is 1; bv and r may be NULL; zb, cs, bs, bv and r point
 * at the row's first column; out may be acc (in place). */
typedef struct fy__qrow {
    int fix;
    uint32_t rz, za;
    const uint32_t *zb, *cs;
    float a_scale;
    const float *bs;
    int64_t nbs;
    float alpha, beta; /* the activation's parameters */
} fy__qrow;
void fy__qrow_finish(const fy__qrow *q, const void *acc, float *out, int64_t n, const float *bv,
                     const float *r, fy__act act);

/* C [M x N] = A [M x K] B [K x N], all row-major with leading dimensions, without
 * packing (smallmm.c): for small products where packing would cost more than it
 * saves. Returns 0, having done nothing, when this ISA has no such path. */
int fy__sgemm_small(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float *c, int64_t ldc);

/* One row in place: x = softmax(x * scale) (mode 0: no scale, 1: multiply, 2:
 * divide), over n floats (rows.c). */
void fy__softmax_row(float *x, int64_t n, float scale, int mode);
/* One row of LayerNormalization: y = (x - mean) / sqrt(var + eps) * g + b (b may
 * be NULL), mean and variance summed in double (rows.c). */
void fy__layernorm_row(const float *x, float *y, int64_t n, const float *g, const float *b,
                       double eps);

#endif
