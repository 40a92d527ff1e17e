/* SPDX-License-Identifier: MIT */
/* Direct convolution for convs with few taps per output (C_in x kh x kw small, the
 * first layer of an image model), fused with its activation and a following
 * max pool: one pass over the input that writes the pooled output only. Output
 * channels run along the vector lanes (32 per block), so each tap is one
 * broadcast input value times one weight row, and a pool window's conv pixels
 * sit in registers until their maximum is stored. docs/DESIGN.md, "Direct
 * Conv + MaxPool". */
#ifndef FERRY_FAST_DCONV_H
#define FERRY_FAST_DCONV_H

#include "fast.h"

/* Taps (C_in/group x kh x kw) up to which a conv takes the direct kernel. */
#define FY_DCONV_MAX_TAPS 64
/* Output channels per block (two AVX-512 vectors). */
#define FY_DCONV_MB 32

/* A max pool over the conv output: window kh x kw, strides sh, sw, no padding,
 * no dilation, floor rounding; oh x ow pooled outputs. */
typedef struct fy__pool2 {
    int64_t kh, kw, sh, sw, oh, ow;
} fy__pool2;

/* Weights [M, C, kh, kw] as [M/32 blocks][taps][32] (channels past M zero). */
typedef struct fy__dconv {
    int64_t m, taps, blocks;
    float *w;
} fy__dconv;

/* Whether the direct kernel takes conv s (group 1, at most FY_DCONV_MAX_TAPS taps). */
int fy__dconv_ok(const fy__conv_shape *s);
/* Pack weights for s (fy__dconv_ok(s) must hold). FY_ENOMEM. */
int fy__dconv_pack(fy__dconv **out, const fy__conv_shape *s, const float *w);
void fy__dconv_free(fy__dconv *d); /* NULL is a no-op */

/* y[N, M, p->oh, p->ow] = MaxPool(act(Conv(x, w) + bias)): bias (NULL: none) per
 * output channel, act from ep (FY_ACT_NONE, RELU, LEAKY_RELU or CLIP; other
 * fields ignored), the pool's taps in the reference MaxPool's order (NaN kept as
 * it keeps them). p's windows must lie inside the conv output. Runs on pool;
 * allocates nothing. */
void fy__dconv_pool(fy_pool *pool, const fy__conv_shape *s, const fy__pool2 *p, const float *x,
                    const fy__dconv *w, const float *bias, const fy__epilogue *ep, float *y);

#endif
