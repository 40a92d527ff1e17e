/* SPDX-License-Identifier: MIT */
/* The epilogue row loops of act.c at one vector width. Included (no include
 * guard) by act.c after vec8.h / vec16.h with VEC, VECI, VN(name) and VL (lanes)
 * defined; every name it defines ends in the width. */

INLINE VEC VN(act)(VEC x, fy__act act, float al, float be)
{
    switch (act) {
    /* written as the reference's "x < 0 ? 0 : x" (and Clip's two compares), so NaN
     * passes through as it does there */
    case FY_ACT_RELU: return VN(pick)(x < VN(splat)(0.0f), VN(splat)(0.0f), x);
    case FY_ACT_LEAKY_RELU: return VN(pick)(x < VN(splat)(0.0f), x * VN(splat)(al), x);
    case FY_ACT_CLIP:
        x = VN(pick)(x < VN(splat)(al), VN(splat)(al), x);
        return VN(pick)(x > VN(splat)(be), VN(splat)(be), x);
    case FY_ACT_SIGMOID: return VN(vsigmoid)(x);
    case FY_ACT_TANH: return VN(vtanh)(x);
    case FY_ACT_GELU_ERF:
        return VN(splat)(0.5f) * x * (VN(splat)(1.0f) + VN(verf)(x * VN(splat)(0.70710678f)));
    case FY_ACT_GELU_TANH: {
        VEC u = VN(splat)(0.79788456f) * (x + VN(splat)(0.044715f) * x * x * x);
        return VN(splat)(0.5f) * x * (VN(splat)(1.0f) + VN(vtanh)(u));
    }
    default: return x;
    }
}

/* One vector (k <= VL floats) of an epilogue row: x = f(x + bias + bv + r); bv
 * (per-column bias) and r (residual) may be NULL. */
#define VN_ROW_STEP(f, i, k)                                                                       \
    do {                                                                                           \
        VEC v = ((k) == VL ? VN(load)(x + (i), VL) : VN(load)(x + (i), k)) + bias;                 \
        if (bv)                                                                                    \
            v += VN(load)(bv + (i), k);                                                            \
        if (r)                                                                                     \
            v += VN(load)(r + (i), k);                                                             \
        v = VN(act)(v, f, al, be);                                                                 \
        memcpy(x + (i), &v, (size_t)(k) * sizeof *x);                                              \
    } while (0)

/* Full vectors with a constant size (plain vector moves), then the tail. The
 * arguments are copied to locals first: stores through x could otherwise alias
 * them and force a reload per vector. */
#define VN_ROW_LOOP(f)                                                                             \
    do {                                                                                           \
        float *x = ra->x;                                                                          \
        const float *bv = ra->bv, *r = ra->r;                                                      \
        const int64_t n = ra->n;                                                                   \
        const float al = ra->al, be = ra->be;                                                      \
        const VEC bias = VN(splat)(ra->bias);                                                      \
        int64_t i = 0;                                                                             \
        for (; i + VL <= n; i += VL)                                                               \
            VN_ROW_STEP(f, i, VL);                                                                 \
        if (i < n)                                                                                 \
            VN_ROW_STEP(f, i, n - i);                                                              \
    } while (0)

/* One loop per activation: the choice is made once per row, not per vector. */
INLINE void VN(row_body)(const row_args *ra, fy__act act)
{
    switch (act) {
    case FY_ACT_RELU: VN_ROW_LOOP(FY_ACT_RELU); break;
    case FY_ACT_LEAKY_RELU: VN_ROW_LOOP(FY_ACT_LEAKY_RELU); break;
    case FY_ACT_CLIP: VN_ROW_LOOP(FY_ACT_CLIP); break;
    case FY_ACT_SIGMOID: VN_ROW_LOOP(FY_ACT_SIGMOID); break;
    case FY_ACT_TANH: VN_ROW_LOOP(FY_ACT_TANH); break;
    case FY_ACT_GELU_ERF: VN_ROW_LOOP(FY_ACT_GELU_ERF); break;
    case FY_ACT_GELU_TANH: VN_ROW_LOOP(FY_ACT_GELU_TANH); break;
    default: VN_ROW_LOOP(FY_ACT_NONE); break;
    }
}

/* Rows [0, mr) of the tile at (i0, j0) of C (ldc apart), n columns each. */
INLINE void VN(tile_body)(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
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
        VN(row_body)(&ra, ep->act);
    }
}

/* The int8 GEMM's row finish (fy__qrow_finish) for the columns [0, n) of one
 * row: the zero-point correction, the int32 sum to float times the scales, then
 * the epilogue, one vector at a time. */
#define VN_QSTEP(f, i, k)                                                                          \
    do {                                                                                           \
        VECU s = VN(loadu)(acc + (i), k);                                                          \
        if (fix == 2)                                                                              \
            s += VN(loadu)(zb + (i), k) * rz - VN(loadu)(cs + (i), k) * za;                        \
        else if (fix)                                                                              \
            s -= VN(loadu)(cs + (i), k) * za;                                                      \
        VEC sc = nbs1 ? bs1 : VN(load)(bsp + (i), k);                                              \
        VEC v = __builtin_convertvector((VECI)s, VEC) * (as * sc) + bias;                          \
        if (bv)                                                                                    \
            v += VN(load)(bv + (i), k);                                                            \
        if (r)                                                                                     \
            v += VN(load)(r + (i), k);                                                             \
        v = VN(act)(v, f, al, be);                                                                 \
        memcpy(out + (i), &v, (size_t)(k) * sizeof *out);                                          \
    } while (0)

#define VN_QLOOP(f)                                                                                \
    do {                                                                                           \
        int64_t i = 0;                                                                             \
        for (; i + VL <= n; i += VL)                                                               \
            VN_QSTEP(f, i, VL);                                                                    \
        if (i < n)                                                                                 \
            VN_QSTEP(f, i, n - i);                                                                 \
    } while (0)

INLINE void VN(qrow_body)(const fy__qrow *q, const uint32_t *acc, float *out, int64_t n,
                          const float *bv, const float *r, fy__act act)
{
    /* locals: stores through out could otherwise alias *q and force reloads */
    const int fix = q->fix, nbs1 = q->nbs == 1;
    const uint32_t *zb = q->zb, *cs = q->cs;
    const float *bsp = q->bs;
    const uint32_t rz = q->rz, za = q->za;
    const VEC as = VN(splat)(q->a_scale), bs1 = VN(splat)(q->bs[0]);
    const VEC bias = VN(splat)(0.0f);
    const float al = q->alpha, be = q->beta;
    switch (act) {
    case FY_ACT_RELU: VN_QLOOP(FY_ACT_RELU); break;
    case FY_ACT_LEAKY_RELU: VN_QLOOP(FY_ACT_LEAKY_RELU); break;
    case FY_ACT_CLIP: VN_QLOOP(FY_ACT_CLIP); break;
    case FY_ACT_SIGMOID: VN_QLOOP(FY_ACT_SIGMOID); break;
    case FY_ACT_TANH: VN_QLOOP(FY_ACT_TANH); break;
    case FY_ACT_GELU_ERF: VN_QLOOP(FY_ACT_GELU_ERF); break;
    case FY_ACT_GELU_TANH: VN_QLOOP(FY_ACT_GELU_TANH); break;
    default: VN_QLOOP(FY_ACT_NONE); break;
    }
}

#undef VN_ROW_STEP
#undef VN_ROW_LOOP
#undef VN_QSTEP
#undef VN_QLOOP
