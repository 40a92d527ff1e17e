/* SPDX-License-Identifier: MIT */
/* Direct int8 convolution fused with a max pool, for QLinearConv with few taps per
 * output (the first layer of an image model: C_in x kh x kw small). The int8
 * counterpart of dconv.h: output channels run along the vector lanes (32 per
 * block), each kernel row of up to 4 taps is one 4-byte word of the input
 * broadcast to every lane, and AVX-512 VNNI's vpdpbusd multiplies it by the 4
 * weights of each channel. A pool window's int32 sums stay in registers; their
 * maximum is requantized once and stored as bytes. docs/DESIGN.md, "int8 direct
 * Conv + MaxPool".
 *
 * Exactness: requantization (round((acc + B) x mult) + zy, saturated) is
 * non-decreasing in acc when mult >= 0, so requantizing the maximum of a window's
 * sums gives the maximum of the requantized values, which is what QLinearConv then
 * MaxPool compute. The sums are exact int32 (no wrap: fy__qdconv_bias checks the
 * bias range), and the product is done in double as the reference does. */
#ifndef FERRY_FAST_QDCONV_H
#define FERRY_FAST_QDCONV_H

#include "dconv.h"
#include "fast.h"

/* Most 4-byte words (C_in x kh x ceil(kw / 4)) a conv may have for the kernel. */
#define FY_QDCONV_MAX_GROUPS 16
/* Most taps of a pool window. */
#define FY_QDCONV_MAX_POOL 256

/* Weights [M, C, kh, kw] (int8, zero point 0) as [M/32 blocks][groups][32][4]
 * bytes, a group being one kernel row's quad of taps (zero past kw); channels past
 * M zero. wsum: the sum of each channel's weights. */
typedef struct fy__qdconv {
    int64_t m, groups, quads, blocks; /* quads: ceil(kw / 4) */
    int8_t *w;
    int32_t *wsum;
} fy__qdconv;

/* The quantization of one call. */
typedef struct fy__qdconv_q {
    int x_signed;       /* X is int8 (flipped to uint8 with its zero point) */
    int32_t xzp;        /* X's zero point, as given (int8 or uint8 range) */
    const int32_t *c;   /* per channel: B - xzp' x wsum (fy__qdconv_bias) */
    const double *mult; /* per channel: (double)(float)(x_scale x w_scale / y_scale) */
    int32_t zy;         /* Y's zero point */
    int lo;             /* 0: Y uint8, -128: Y int8 */
    int channels_last;  /* 1: Y as [N, oh, ow, M]; 0: [N, M, oh, ow] */
} fy__qdconv_q;

/* Whether the kernel takes conv s (group 1, up to FY_QDCONV_MAX_GROUPS words)
 * and pool p (at most FY_QDCONV_MAX_POOL taps). */
int fy__qdconv_ok(const fy__conv_shape *s, const fy__pool2 *p);
/* Pack int8 weights for s (fy__qdconv_ok must hold). FY_ENOMEM. */
int fy__qdconv_pack(fy__qdconv **out, const fy__conv_shape *s, const int8_t *w);
void fy__qdconv_free(fy__qdconv *d); /* NULL is a no-op */
/* c[j] = bias[j] (0 when NULL) - xzp' x wsum[j] for the M channels, where xzp' is
 * X's zero point as uint8 (int8 zero points + 128). Returns 0 when some c[j] is so
 * large that a sum could leave int32 (the reference would wrap; the caller falls
 * back to it). */
int fy__qdconv_bias(const fy__qdconv *d, const int32_t *bias, int x_signed, int32_t xzp,
                    int32_t *c);
/* 1 when the kernel runs here: x86-64 with AVX-512 VNNI, at the active ISA level
 * (fy__isa_force). Elsewhere the caller composes the QLinearConv and MaxPool
 * kernels instead (src/ops/fused_qconvpool.c). */
int fy__qdconv_available(void);
/* y = MaxPool(QLinearConv(x)) as bytes (uint8 or int8 by q->lo), in NCHW or
 * channels-last order. x is uint8 or int8 (q->x_signed). Multipliers must be
 * finite and >= 0; fy__qdconv_available() must hold. Runs on pool; allocates
 * nothing. */
void fy__qdconv_pool(fy_pool *pool, const fy__conv_shape *s, const fy__pool2 *p, const void *x,
                     const fy__qdconv *w, const fy__qdconv_q *q, void *y);

#endif
