/* SPDX-License-Identifier: MIT */
/* 8-float vectors with GCC vector types, for the row kernels (act.c, rows.c): each
 * is compiled once for AVX2+FMA and once for the baseline ISA (the portable path).
 * exp is range-reduced to [-ln2/2, ln2/2] with a degree-6 polynomial (relative
 * error about 2e-7); tanh, sigmoid and erf (Abramowitz-Stegun 7.1.26, absolute
 * error under 2e-7) are built on it, well inside the 1e-4 the tests allow. */
#ifndef FERRY_OPS_FAST_VEC8_H
#define FERRY_OPS_FAST_VEC8_H

#include <stdint.h>
#include <string.h>

/* The 32-byte vector helpers below are always inlined, so no vector ever crosses
 * a call boundary: GCC's note that such returns would change the ABI without AVX
 * does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

INLINE v8 splat(float a)
{
    return (v8){a, a, a, a, a, a, a, a};
}

/* Lanes where m is set take a, the others b. */
INLINE v8 pick(v8i m, v8 a, v8 b)
{
    v8i ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    v8i r = (ai & m) | (bi & ~m);
    v8 f;
    memcpy(&f, &r, sizeof f);
    return f;
}

INLINE v8 vmax(v8 a, v8 b)
{
    return pick(a > b, a, b);
}
INLINE v8 vmin(v8 a, v8 b)
{
    return pick(a < b, a, b);
}
INLINE v8 vabs(v8 a)
{
    return pick(a < splat(0.0f), -a, a);
}

INLINE v8 vexp(v8 x)
{
    x = vmin(vmax(x, splat(-87.0f)), splat(88.0f));
    /* n = round(x / ln2) by the 1.5 * 2^23 trick, then r = x - n ln2 in two parts */
    v8 n = (x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f);
    v8 r = x - n * splat(0.693359375f) - n * splat(-2.12194440e-4f);
    v8 p = splat(1.0f / 720);
    p = p * r + splat(1.0f / 120);
    p = p * r + splat(1.0f / 24);
    p = p * r + splat(1.0f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
    v8 scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

INLINE v8 vsigmoid(v8 x)
{
    return splat(1.0f) / (splat(1.0f) + vexp(-x));
}

INLINE v8 vtanh(v8 x)
{
    v8 a = vabs(x), e = vexp(splat(-2.0f) * a);
    v8 big = (splat(1.0f) - e) / (splat(1.0f) + e);
    /* near 0, 1 - e cancels: the Taylor series is exact to float there */
    v8 a2 = a * a;
    v8 small = a * (splat(1.0f) + a2 * (splat(-1.0f / 3) + a2 * splat(2.0f / 15)));
    v8 t = pick(a < splat(0.0625f), small, big);
    return pick(x < splat(0.0f), -t, t);
}

INLINE v8 verf(v8 x)
{
    v8 a = vabs(x), t = splat(1.0f) / (splat(1.0f) + splat(0.3275911f) * a);
    v8 p = splat(1.061405429f);
    p = p * t + splat(-1.453152027f);
    p = p * t + splat(1.421413741f);
    p = p * t + splat(-0.284496736f);
    p = p * t + splat(0.254829592f);
    v8 y = splat(1.0f) - p * t * vexp(-a * a);
    return pick(x < splat(0.0f), -y, y);
}

INLINE v8 load8(const float *p, int64_t k)
{
    v8 v = splat(0.0f);
    memcpy(&v, p, (size_t)k * sizeof *p);
    return v;
}

#endif
