/* SPDX-License-Identifier: MIT */
/* Activations of the fused epilogues, 8 floats at a time (vec8.h): compiled once
 * for AVX2+FMA and once for the baseline ISA (the portable path). */
#include <string.h>

#include "fast_int.h"
#include "vec8.h"

INLINE v8 act8(v8 x, fy__act act, float al, float be)
{
    switch (act) {
    /* written as the reference's "x < 0 ? 0 : x" (and Clip's two compares), so NaN
     * passes through as it does there */
    case FY_ACT_RELU: return pick(x < splat(0.0f), splat(0.0f), x);
    case FY_ACT_LEAKY_RELU: return pick(x < splat(0.0f), x * splat(al), x);
    case FY_ACT_CLIP:
        x = pick(x < splat(al), splat(al), x);
        return pick(x > splat(be), splat(be), x);
    case FY_ACT_SIGMOID: return vsigmoid(x);
    case FY_ACT_TANH: return vtanh(x);
    case FY_ACT_GELU_ERF: return splat(0.5f) * x * (splat(1.0f) + verf(x * splat(0.70710678f)));
    case FY_ACT_GELU_TANH: {
        v8 u = splat(0.79788456f) * (x + splat(0.044715f) * x * x * x);
        return splat(0.5f) * x * (splat(1.0f) + vtanh(u));
    }
    default: return x;
    }
}

/* One row of an epilogue: x = f(x + bias + bv + r), 8 at a time (the tail through
 * a zero-padded vector); bv (per-column bias) and r (residual) may be NULL. One
 * pass, so no narrow store is re-read by a wide load. */
typedef struct row_args {
    float *x;
    int64_t n;
    float bias;
    const float *bv, *r;
    float al, be;
} row_args;

#define ROW_STEP(f, i, k)                                                                          \
    do {                                                                                           \
        v8 v = load8(x + (i), k) + bias;                                                           \
        if (bv)                                                                                    \
            v += load8(bv + (i), k);                                                               \
        if (r)                                                                                     \
            v += load8(r + (i), k);                                                                \
        v = act8(v, f, al, be);                                                                    \
        memcpy(x + (i), &v, (size_t)(k) * sizeof *x);                                              \
    } while (0)

/* Full vectors with a constant size (plain vector moves), then the tail. The
 * arguments are copied to locals first: stores through x could otherwise alias
 * them and force a reload per vector. */
#define ROW_LOOP(f)                                                                                \
    do {                                                                                           \
        float *x = ra->x;                                                                          \
        const float *bv = ra->bv, *r = ra->r;                                                      \
        const int64_t n = ra->n;                                                                   \
        const float al = ra->al, be = ra->be;                                                      \
        const v8 bias = splat(ra->bias);                                                           \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            ROW_STEP(f, i, 8);                                                                     \
        if (i < n)                                                                                 \
            ROW_STEP(f, i, n - i);                                                                 \
    } while (0)

/* One loop per activation: the choice is made once per row, not per vector. */
INLINE void row_body(const row_args *ra, fy__act act)
{
    switch (act) {
    case FY_ACT_RELU: ROW_LOOP(FY_ACT_RELU); break;
    case FY_ACT_LEAKY_RELU: ROW_LOOP(FY_ACT_LEAKY_RELU); break;
    case FY_ACT_CLIP: ROW_LOOP(FY_ACT_CLIP); break;
    case FY_ACT_SIGMOID: ROW_LOOP(FY_ACT_SIGMOID); break;
    case FY_ACT_TANH: ROW_LOOP(FY_ACT_TANH); break;
    case FY_ACT_GELU_ERF: ROW_LOOP(FY_ACT_GELU_ERF); break;
    case FY_ACT_GELU_TANH: ROW_LOOP(FY_ACT_GELU_TANH); break;
    default: ROW_LOOP(FY_ACT_NONE); break;
    }
}

/* Rows [0, mr) of the tile at (i0, j0) of C (ldc apart), n columns each. */
INLINE void tile_body(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                      const fy__epilogue *ep)
{
    for (int i = 0; i < mr; i++) {
        row_args ra = {c + i * ldc,
                       n,
                       ep->bias && !ep->per_col ? ep->bias[i0 + i] : 0.0f,
                       ep->bias && ep->per_col ? ep->bias + j0 : NULL,
                       ep->residual ? ep->residual + (i0 + i) * ep->ldr + j0 : NULL,
                       ep->alpha,
                       ep->beta};
        row_body(&ra, ep->act);
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void
tile_avx2(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n, const fy__epilogue *ep)
{
    tile_body(c, ldc, i0, j0, mr, n, ep);
}
#endif

static void tile_any(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                     const fy__epilogue *ep)
{
    tile_body(c, ldc, i0, j0, mr, n, ep);
}

void fy__epi_tile(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                  const fy__epilogue *ep)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fy__isa_active() >= FY_ISA_AVX2) {
        tile_avx2(c, ldc, i0, j0, mr, n, ep);
        return;
    }
#endif
    tile_any(c, ldc, i0, j0, mr, n, ep);
}

void fy__act_apply(float *x, int64_t n, const fy__epilogue *ep)
{
    if (!ep || ep->act == FY_ACT_NONE || n <= 0)
        return;
    fy__epilogue only = {0};
    only.act = ep->act;
    only.alpha = ep->alpha;
    only.beta = ep->beta;
    fy__epi_tile(x, n, 0, 0, 1, n, &only);
}
