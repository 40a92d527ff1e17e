/* SPDX-License-Identifier: MIT */
/* The float-vector math of vec8.h and vec16.h, written once for any lane count.
 * Included (no include guard) by those headers after they define:
 *   VEC, VECI, VECU  the float, int32 and uint32 vector types
 *   VN(name)   the name of a function at this width (name8, name16, ...)
 * exp is range-reduced to [-ln2/2, ln2/2] with a degree-6 polynomial (relative
 * error about 2e-7); tanh, sigmoid and erf (Abramowitz-Stegun 7.1.26, absolute
 * error under 2e-7) are built on it, well inside the 1e-4 the tests allow. Every
 * width evaluates the same expression per lane, so results do not depend on the
 * width. */

INLINE VEC VN(splat)(float a)
{
    return (VEC){0} + a;
}

/* Lanes where m is set take a, the others b. */
INLINE VEC VN(pick)(VECI m, VEC a, VEC b)
{
    VECI ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    VECI r = (ai & m) | (bi & ~m);
    VEC f;
    memcpy(&f, &r, sizeof f);
    return f;
}

INLINE VEC VN(vmax)(VEC a, VEC b)
{
    return VN(pick)(a > b, a, b);
}
INLINE VEC VN(vmin)(VEC a, VEC b)
{
    return VN(pick)(a < b, a, b);
}
INLINE VEC VN(vabs)(VEC a)
{
    return VN(pick)(a < VN(splat)(0.0f), -a, a);
}

INLINE VEC VN(vexp)(VEC x)
{
    x = VN(vmin)(VN(vmax)(x, VN(splat)(-87.0f)), VN(splat)(88.0f));
    /* n = round(x / ln2) by the 1.5 * 2^23 trick, then r = x - n ln2 in two parts */
    VEC n = (x * VN(splat)(1.44269504088896341f) + VN(splat)(12582912.0f)) - VN(splat)(12582912.0f);
    VEC r = x - n * VN(splat)(0.693359375f) - n * VN(splat)(-2.12194440e-4f);
    VEC p = VN(splat)(1.0f / 720);
    p = p * r + VN(splat)(1.0f / 120);
    p = p * r + VN(splat)(1.0f / 24);
    p = p * r + VN(splat)(1.0f / 6);
    p = p * r + VN(splat)(0.5f);
    p = p * r + VN(splat)(1.0f);
    p = p * r + VN(splat)(1.0f);
    VECI e = (__builtin_convertvector(n, VECI) + 127) << 23;
    VEC scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

INLINE VEC VN(vsigmoid)(VEC x)
{
    return VN(splat)(1.0f) / (VN(splat)(1.0f) + VN(vexp)(-x));
}

INLINE VEC VN(vtanh)(VEC x)
{
    VEC a = VN(vabs)(x), e = VN(vexp)(VN(splat)(-2.0f) * a);
    VEC big = (VN(splat)(1.0f) - e) / (VN(splat)(1.0f) + e);
    /* near 0, 1 - e cancels: the Taylor series is exact to float there */
    VEC a2 = a * a;
    VEC small = a * (VN(splat)(1.0f) + a2 * (VN(splat)(-1.0f / 3) + a2 * VN(splat)(2.0f / 15)));
    VEC t = VN(pick)(a < VN(splat)(0.0625f), small, big);
    return VN(pick)(x < VN(splat)(0.0f), -t, t);
}

INLINE VEC VN(verf)(VEC x)
{
    VEC a = VN(vabs)(x), t = VN(splat)(1.0f) / (VN(splat)(1.0f) + VN(splat)(0.3275911f) * a);
    VEC p = VN(splat)(1.061405429f);
    p = p * t + VN(splat)(-1.453152027f);
    p = p * t + VN(splat)(1.421413741f);
    p = p * t + VN(splat)(-0.284496736f);
    p = p * t + VN(splat)(0.254829592f);
    VEC y = VN(splat)(1.0f) - p * t * VN(vexp)(-a * a);
    return VN(pick)(x < VN(splat)(0.0f), -y, y);
}

/* The first k (< lanes) floats of p, the rest zero. */
INLINE VEC VN(load)(const float *p, int64_t k)
{
    VEC v = VN(splat)(0.0f);
    memcpy(&v, p, (size_t)k * sizeof *p);
    return v;
}

/* The first k (<= lanes) 32-bit values at p as unsigned, the rest zero. */
INLINE VECU VN(loadu)(const void *p, int64_t k)
{
    VECU v = (VECU){0};
    memcpy(&v, p, (size_t)k * 4);
    return v;
}
