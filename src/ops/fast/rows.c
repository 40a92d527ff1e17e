/* SPDX-License-Identifier: MIT */
/* Row kernels for attention's softmax and LayerNormalization, 8 floats at a time
 * (vec8.h): compiled once for AVX2+FMA and once for the baseline ISA. Sums are
 * kept in 8 (softmax, float) or 2x4 (LayerNormalization, double, like the
 * reference) independent lanes, so they are not one long chain of dependent adds. */
#include <math.h>
#include <string.h>

#include "fast_int.h"
#include "vec8.h"

typedef float v4 __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));

INLINE float hsum8(v8 v)
{
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

INLINE double hsum4d(v4d v)
{
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* The reference's order, for rows the vector path does not take (a NaN). */
static void softmax_scalar(float *x, int64_t n, float scale, int mode)
{
    float mx = -INFINITY, sum = 0;
    for (int64_t k = 0; k < n; k++) {
        float v = mode == 1 ? x[k] * scale : mode == 2 ? x[k] / scale : x[k];
        x[k] = v;
        mx = v > mx ? v : mx;
    }
    for (int64_t k = 0; k < n; k++) {
        x[k] = expf(x[k] - mx);
        sum += x[k];
    }
    float inv = 1.0f / sum;
    for (int64_t k = 0; k < n; k++)
        x[k] *= inv;
}

INLINE void softmax_body(float *x, int64_t n, float scale, int mode)
{
    const v8 sc = splat(scale);
    v8 mx = splat(-INFINITY);
    float mt = -INFINITY;
    int64_t i = 0, full = n & ~(int64_t)7;
    int nan = 0;
    v8i nans = {0, 0, 0, 0, 0, 0, 0, 0}; /* vmax drops a NaN a later lane beats */
    for (; i < full; i += 8) {
        v8 v;
        memcpy(&v, x + i, sizeof v);
        v = mode == 1 ? v * sc : mode == 2 ? v / sc : v;
        memcpy(x + i, &v, sizeof v);
        mx = vmax(mx, v);
        nans |= v != v;
    }
    for (; i < n; i++) {
        float v = mode == 1 ? x[i] * scale : mode == 2 ? x[i] / scale : x[i];
        x[i] = v;
        mt = v > mt ? v : mt;
        nan |= v != v;
    }
    for (int k = 0; k < 8; k++) {
        mt = mx[k] > mt ? mx[k] : mt;
        nan |= nans[k] != 0;
    }
    if (nan || !isfinite(mt)) { /* exp's clamp would hide a NaN, or make one of
                                 * inf - inf: the reference's order decides (on the row
                                 * already scaled) */
        softmax_scalar(x, n, 1.0f, 0);
        return;
    }
    const v8 m = splat(mt);
    v8 acc = splat(0.0f);
    for (i = 0; i < full; i += 8) {
        v8 v;
        memcpy(&v, x + i, sizeof v);
        v = vexp(v - m);
        memcpy(x + i, &v, sizeof v);
        acc += v;
    }
    float sum = hsum8(acc);
    for (; i < n; i++) {
        x[i] = expf(x[i] - mt);
        sum += x[i];
    }
    const v8 inv = splat(1.0f / sum);
    for (i = 0; i < full; i += 8) {
        v8 v;
        memcpy(&v, x + i, sizeof v);
        v *= inv;
        memcpy(x + i, &v, sizeof v);
    }
    for (; i < n; i++)
        x[i] *= inv[0];
}

INLINE void layernorm_body(const float *x, float *y, int64_t n, const float *g, const float *b,
                           double eps)
{
    int64_t i, full = n & ~(int64_t)7;
    v4d s0 = {0, 0, 0, 0}, s1 = s0;
    for (i = 0; i < full; i += 8) {
        v4 lo, hi;
        memcpy(&lo, x + i, sizeof lo);
        memcpy(&hi, x + i + 4, sizeof hi);
        s0 += __builtin_convertvector(lo, v4d);
        s1 += __builtin_convertvector(hi, v4d);
    }
    double sum = hsum4d(s0 + s1);
    for (; i < n; i++)
        sum += x[i];
    const double mean = sum / (double)n;
    const v4d md = {mean, mean, mean, mean};
    s0 = s1 = (v4d){0, 0, 0, 0};
    for (i = 0; i < full; i += 8) {
        v4 lo, hi;
        memcpy(&lo, x + i, sizeof lo);
        memcpy(&hi, x + i + 4, sizeof hi);
        v4d d0 = __builtin_convertvector(lo, v4d) - md, d1 = __builtin_convertvector(hi, v4d) - md;
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    double sq = hsum4d(s0 + s1);
    for (; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    const float m = (float)mean, s = (float)(1.0 / sqrt(sq / (double)n + eps));
    const v8 mv = splat(m), sv = splat(s);
    for (i = 0; i < full; i += 8) {
        v8 v, gv, bv = splat(0.0f);
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

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, int64_t n, float scale,
                                                             int mode)
{
    softmax_body(x, n, scale, mode);
}
__attribute__((target("avx2,fma"))) static void
layernorm_avx2(const float *x, float *y, int64_t n, const float *g, const float *b, double eps)
{
    layernorm_body(x, y, n, g, b, eps);
}
#endif

void fy__softmax_row(float *x, int64_t n, float scale, int mode)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fy__isa_active() >= FY_ISA_AVX2) {
        softmax_avx2(x, n, scale, mode);
        return;
    }
#endif
    softmax_body(x, n, scale, mode);
}

void fy__layernorm_row(const float *x, float *y, int64_t n, const float *g, const float *b,
                       double eps)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fy__isa_active() >= FY_ISA_AVX2) {
        layernorm_avx2(x, y, n, g, b, eps);
        return;
    }
#endif
    layernorm_body(x, y, n, g, b, eps);
}
