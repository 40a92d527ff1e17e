/* SPDX-License-Identifier: MIT */
/* Fast CPU kernels (float32 GEMM and convolution, with fused epilogues) that the
 * fast ops and the fused ai.ferry ops call. Runtime CPU dispatch picks AVX-512,
 * AVX2+FMA or portable C once per process; tests may force a lower level. */
#ifndef FERRY_FAST_H
#define FERRY_FAST_H

#include <stdint.h>

#include "ferry/engine.h"
#include "ferry/error.h"

/* ---- CPU dispatch ---- */
typedef enum fy__isa {
    FY_ISA_C = 0,      /* portable C */
    FY_ISA_AVX2 = 1,   /* AVX2 + FMA */
    FY_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL */
} fy__isa;

/* Best level this CPU supports. */
fy__isa fy__isa_best(void);
/* Level the kernels use now: the best, or what fy__isa_force set. */
fy__isa fy__isa_active(void);
/* Tests: run every later call at `level` (capped to fy__isa_best); -1 restores
 * the best. Not thread-safe: set it before starting work. Operands packed before
 * the change keep working (they remember their layout). */
void fy__isa_force(int level);

/* ---- fused epilogue ---- */
typedef enum fy__act {
    FY_ACT_NONE = 0,
    FY_ACT_RELU,
    FY_ACT_LEAKY_RELU, /* x < 0 ? alpha * x : x */
    FY_ACT_CLIP,       /* min(max(x, alpha), beta) */
    FY_ACT_SIGMOID,
    FY_ACT_TANH,
    FY_ACT_GELU_ERF,  /* 0.5 x (1 + erf(x / sqrt 2)) */
    FY_ACT_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} fy__act;

/* Applied to each result element C[m][n] as it is written:
 *   C = act(acc + bias + residual)
 * where acc is the product, bias is bias[m] (per_col == 0: one value per output
 * row, e.g. a conv's output channel) or bias[n] (per_col == 1: Gemm/MatMul bias),
 * and residual[m * ldr + n] is a same-shaped tensor added before the activation
 * (ResNet's skip connection, a transformer's residual). A NULL epilogue, or all
 * fields zero, stores the product unchanged. */
typedef struct fy__epilogue {
    const float *bias; /* NULL: none */
    int per_col;
    const float *residual; /* NULL: none; must not overlap C */
    int64_t ldr;
    fy__act act;
    float alpha, beta; /* activation parameters (LeakyRelu alpha; Clip min, max) */
} fy__epilogue;

/* Apply the epilogue's activation to n floats in place (also for kernels that fuse
 * only the activation). */
void fy__act_apply(float *x, int64_t n, const fy__epilogue *ep);

/* ---- SGEMM: C[M x N] = epilogue(A[M x K] . B[K x N]) ----
 * Operands are described by row and column strides, so transposed inputs cost
 * nothing: element (i, j) of A is a[i * rsa + j * csa]. C is row-major with row
 * stride ldc and must not overlap A or B. Runs on pool (NULL: the calling thread).
 * Uses about 250 KB of stack per thread for packing buffers and allocates nothing. */
void fy__sgemm(fy_pool *pool, int64_t M, int64_t N, int64_t K, const float *a, int64_t rsa,
               int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t ldc,
               const fy__epilogue *ep);

/* A constant operand packed once (at session creation) into the panel layout the
 * microkernels read, for the left (A: conv weights) or right (B: MatMul/Gemm
 * weights) side. Immutable after packing: shareable by threads. */
typedef struct fy__packed fy__packed;
/* Pack A (M x K) or B (K x N) given by strides. FY_ENOMEM. */
int fy__pack_a(fy__packed **out, int64_t M, int64_t K, const float *a, int64_t rsa, int64_t csa);
int fy__pack_b(fy__packed **out, int64_t K, int64_t N, const float *b, int64_t rsb, int64_t csb);
void fy__packed_free(fy__packed *p); /* NULL is a no-op */
/* Rows x cols of the packed matrix (M x K for A, K x N for B). */
int64_t fy__packed_rows(const fy__packed *p);
int64_t fy__packed_cols(const fy__packed *p);
/* Winograd conv weights: the tile size m of F(m, 3); 0 for the GEMM layouts. */
int fy__packed_wino(const fy__packed *p);

/* C = epilogue(packed A . B) with B strided (N columns). */
void fy__sgemm_pa(fy_pool *pool, const fy__packed *a, int64_t N, const float *b, int64_t rsb,
                  int64_t csb, float *c, int64_t ldc, const fy__epilogue *ep);
/* C = epilogue(A . packed B) with A strided (M rows). */
void fy__sgemm_pb(fy_pool *pool, int64_t M, const float *a, int64_t rsa, int64_t csa,
                  const fy__packed *b, float *c, int64_t ldc, const fy__epilogue *ep);

/* ---- 2-D convolution (NCHW, float32) ----
 * Geometry of one Conv node; dilations >= 1, strides >= 1, pads >= 0, group
 * divides both channel counts. */
typedef struct fy__conv_shape {
    int64_t n, c, h, w;     /* input */
    int64_t m, oh, ow;      /* output channels and spatial size (from fy__conv_out) */
    int64_t kh, kw;         /* kernel */
    int64_t sh, sw;         /* strides */
    int64_t dh, dw;         /* dilations */
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int64_t group;
} fy__conv_shape;

/* Weights [M, C/group, kh, kw] packed per group for fy__conv2d. FY_ENOMEM. */
int fy__conv_pack(fy__packed **out, const fy__conv_shape *s, const float *w);
/* y[N, M, oh, ow] = epilogue(conv(x, w)); bias is per output channel (ep->per_col
 * must be 0), residual (ldr ignored) is a tensor shaped like y. 1x1 stride-1
 * unpadded convs multiply x directly; the rest pack im2col tiles straight into
 * GEMM panels (no full im2col buffer). Groups run one GEMM each. w is the result
 * of fy__conv_pack with the same shape. Allocates nothing. */
void fy__conv2d(fy_pool *pool, const fy__conv_shape *s, const float *x, const fy__packed *w,
                float *y, const fy__epilogue *ep);

/* Winograd F(m x m, 3 x 3) convolution (wino.c) for 3x3 convs with stride 1,
 * dilation 1 and one group (fy__wino_ok says whether a shape qualifies; any pads).
 * fy__wino_pack transforms and packs the weights [M, C, 3, 3] for tile size m (2
 * or 4), tr = 0 as the GEMMs' left operand (M_xi = U_xi V_xi, for many tiles) or
 * tr = 1 (M % 8 == 0) as their right one (M_xi^T = V_xi^T U_xi^T, for fewer tiles
 * than a microtile's 32 columns); FY_EINVAL otherwise, FY_ENOMEM. fy__wino_conv
 * runs it with the same epilogue as fy__conv2d and allocates its transform
 * buffers (a few MB; kept for the next call): FY_ENOMEM, or FY_EINVAL if u does
 * not fit the shape. */
int fy__wino_ok(const fy__conv_shape *s);
int fy__wino_pack(fy__packed **out, const fy__conv_shape *s, const float *w, int m, int tr);
int fy__wino_conv(fy_pool *pool, const fy__conv_shape *s, const float *x, const fy__packed *u,
                  float *y, const fy__epilogue *ep);

/* ---- int8 GEMM: C[M x N] (int32) = sum_k (A[m,k] - za) (B[k,n] - zb[n]) ----
 * A and B may each be uint8 or int8; sums wrap modulo 2^32 as ONNX's MatMulInteger
 * allows. Internally every operand becomes u8 x s8 (int8 A is shifted by +128,
 * uint8 B by -128, zero points adjusted to match) and the zero points are applied
 * afterwards from row and column sums, so the inner loop is a pure u8 x s8 dot:
 * AVX-512 VNNI vpdpbusd where the CPU has it; otherwise both sides widen to
 * int16 and AVX2 vpmaddwd sums pairs exactly (vpmaddubsw would saturate
 * 255 * 127 * 2 at int16); or portable C. B is always packed. */
typedef struct fy__qpacked fy__qpacked;
/* Pack B (K x N by strides; b_signed: int8, else uint8) with its zero point zb:
 * NULL (0), one value (zb_n == 1) or one per column (zb_n == N). FY_ENOMEM. */
int fy__qpack_b(fy__qpacked **out, int64_t K, int64_t N, const void *b, int b_signed, int64_t rsb,
                int64_t csb, const int32_t *zb, int64_t zb_n);
void fy__qpacked_free(fy__qpacked *p); /* NULL is a no-op */
int64_t fy__qpacked_k(const fy__qpacked *p);
int64_t fy__qpacked_n(const fy__qpacked *p);
/* sum_k B[k, n] per column when B is int8 with every zero point 0 (then callers may
 * fold A's zero point into a bias: sum (a - za) b = sum a b - za colsum), else NULL. */
const int32_t *fy__qpacked_colsum(const fy__qpacked *p);
/* C = (A - za) . (B - zb) for row-major A (M x K, row stride lda). */
void fy__qgemm(fy_pool *pool, int64_t M, const void *a, int a_signed, int64_t lda, int32_t za,
               const fy__qpacked *b, int32_t *c, int64_t ldc);

/* The dequantizing form, for dynamically quantized MatMul (MatMulInteger, Cast
 * and Mul by a_scale * b_scale in one pass): C (float32) = epilogue((float)sum *
 * (a_scale * b_scale[n])), the scale product formed in float32 as the ONNX graph
 * does; b_scale_n is 1 (per tensor) or N (per column). */
void fy__qgemm_f32(fy_pool *pool, int64_t M, const void *a, int a_signed, int64_t lda, int32_t za,
                   float a_scale, const fy__qpacked *b, const float *b_scale, int64_t b_scale_n,
                   float *c, int64_t ldc, const fy__epilogue *ep);

/* DynamicQuantizeLinear on n floats: scale = (max(0, max x) - min(0, min x)) / 255,
 * zero point = saturate(round(-min / scale)), y = saturate(round(x / scale) + zp),
 * rounding half to even. Returns 0, or -1 (nothing written) if x holds NaN. */
int fy__dynquant_u8(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp);

#endif
