/* SPDX-License-Identifier: MIT */
/* The row kernels of rows.c at one vector width. Included (no include guard) by
 * rows.c after vec8.h / vec16.h with VEC, VECI, VN(name), VL (lanes), VH (VL/2
 * floats) and VD (VL/2 doubles) defined. */

/* Lanes summed in adjacent pairs, then pairs of pairs, ... */
INLINE float VN(hsum)(VEC v)
{
    float t[VL];
    memcpy(t, &v, sizeof t);
    for (int w = VL; w > 1; w /= 2)
        for (int k = 0; k < w / 2; k++)
            t[k] = t[2 * k] + t[2 * k + 1];
    return t[0];
}

INLINE double VN(hsumd)(VD v)
{
    double t[VL / 2];
    memcpy(t, &v, sizeof t);
    for (int w = VL / 2; w > 1; w /= 2)
        for (int k = 0; k < w / 2; k++)
            t[k] = t[2 * k] + t[2 * k + 1];
    return t[0];
}

INLINE void VN(softmax_body)(float *x, int64_t n, float scale, int mode)
{
    const VEC sc = VN(splat)(scale);
    VEC mx = VN(splat)(-INFINITY);
    float mt = -INFINITY;
    int64_t i = 0, full = n & ~(int64_t)(VL - 1);
    int nan = 0;
    VECI nans = {0}; /* vmax drops a NaN a later lane beats */
    for (; i < full; i += VL) {
        VEC v;
        memcpy(&v, x + i, sizeof v);
        v = mode == 1 ? v * sc : mode == 2 ? v / sc : v;
        memcpy(x + i, &v, sizeof v);
        mx = VN(vmax)(mx, v);
        nans |= v != v;
    }
    for (; i < n; i++) {
        float v = mode == 1 ? x[i] * scale : mode == 2 ? x[i] / scale : x[i];
        x[i] = v;
        mt = v > mt ? v : mt;
        nan |= v != v;
    }
    for (int k = 0; k < VL; k++) {
        mt = mx[k] > mt ? mx[k] : mt;
        nan |= nans[k] != 0;
    }
    if (nan || !isfinite(mt)) { /* exp's clamp would hide a NaN, or make one of
                                 * inf - inf: the reference's order decides (on the row
                                 * already scaled) */
        softmax_scalar(x, n, 1.0f, 0);
        return;
    }
    const VEC m = VN(splat)(mt);
    VEC acc = VN(splat)(0.0f);
    for (i = 0; i < full; i += VL) {
        VEC v;
        memcpy(&v, x + i, sizeof v);
        v = VN(vexp)(v - m);
        memcpy(x + i, &v, sizeof v);
        acc += v;
    }
    float sum = VN(hsum)(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mt);
        sum += x[i];
    }
    const VEC inv = VN(splat)(1.0f / sum);
    for (i = 0; i < full; i += VL) {
        VEC v;
        memcpy(&v, x + i, sizeof v);
        v *= inv;
        memcpy(x + i, &v, sizeof v);
    }
    for (; i < n; i++)
        x[i] *= inv[0];
}

INLINE void VN(layernorm_body)(const float *x, float *y, int64_t n, const float *g, const float *b,
                               double eps)
{
    int64_t i, full = n & ~(int64_t)(VL - 1);
    VD s0 = {0}, s1 = s0;
    for (i = 0; i < full; i += VL) {
        VH lo, hi;
        memcpy(&lo, x + i, sizeof lo);
        memcpy(&hi, x + i + VL / 2, sizeof hi);
        s0 += __builtin_convertvector(lo, VD);
        s1 += __builtin_convertvector(hi, VD);
    }
    double sum = VN(hsumd)(s0 + s1);
    for (; i < n; i++)
        sum += x[i];
    const double mean = sum / (double)n;
    const VD md = (VD){0} + mean;
    s0 = s1 = (VD){0};
    for (i = 0; i < full; i += VL) {
        VH lo, hi;
        memcpy(&lo, x + i, sizeof lo);
        memcpy(&hi, x + i + VL / 2, sizeof hi);
        VD d0 = __builtin_convertvector(lo, VD) - md, d1 = __builtin_convertvector(hi, VD) - md;
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    double sq = VN(hsumd)(s0 + s1);
    for (; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    const float m = (float)mean, s = (float)(1.0 / sqrt(sq / (double)n + eps));
    const VEC mv = VN(splat)(m), sv = VN(splat)(s);
    for (i = 0; i < full; i += VL) {
        VEC v, gv, bv = VN(splat)(0.0f);
        memcpy(&v, x + i, sizeof v);
        memcpy(&gv, g + i, sizeof gv);
        if (b)
            memcpy(&bv, b + i, sizeof bv);
        v = (v - mv) * sv * gv + bv;
        memcpy(y + i, &v, sizeof v);
    }
    for (; i < n; i++)
        y[i] = (x[i] - m) * s * g[i] + (b ? b[i] : 0.0f);
}
