/* SPDX-License-Identifier: MIT */
/* Row kernels for attention's softmax and LayerNormalization (rows_tmpl.h): 16
 * floats at a time for AVX-512, 8 for AVX2+FMA and for the baseline ISA. Sums are
 * kept in VL (softmax, float) or 2 x VL/2 (LayerNormalization, double, like the
 * reference) independent lanes, so they are not one long chain of dependent adds. */
/* a * b + c as one fused multiply-add where the ISA has it: the polynomials of
 * vec_math.h get one rounding per step instead of two (ISO C mode turns the
 * contraction off by default). */
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif
#include <math.h>
#include <string.h>

#include "fast_int.h"
#include "vec16.h"
#include "vec8.h"

typedef float v4 __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));

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

#define VEC v8
#define VECI v8i
#define VN(name) name##8
#define VL 8
#define VH v4
#define VD v4d
#include "rows_tmpl.h"
#undef VEC
#undef VECI
#undef VN
#undef VL
#undef VH
#undef VD

#define VEC v16
#define VECI v16i
#define VN(name) name##16
#define VL 16
#define VH v8
#define VD v8d
#include "rows_tmpl.h"
#undef VEC
#undef VECI
#undef VN
#undef VL
#undef VH
#undef VD

#if defined(__x86_64__) || defined(__i386__)
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 static void softmax_512(float *x, int64_t n, float scale, int mode)
{
    softmax_body16(x, n, scale, mode);
}
T512 static void layernorm_512(const float *x, float *y, int64_t n, const float *g, const float *b,
                               double eps)
{
    layernorm_body16(x, y, n, g, b, eps);
}
T256 static void softmax_avx2(float *x, int64_t n, float scale, int mode)
{
    softmax_body8(x, n, scale, mode);
}
T256 static void layernorm_avx2(const float *x, float *y, int64_t n, const float *g, const float *b,
                                double eps)
{
    layernorm_body8(x, y, n, g, b, eps);
}
#endif

void fy__softmax_row(float *x, int64_t n, float scale, int mode)
{
#if defined(__x86_64__) || defined(__i386__)
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512) {
        softmax_512(x, n, scale, mode);
        return;
    }
    if (isa == FY_ISA_AVX2) {
        softmax_avx2(x, n, scale, mode);
        return;
    }
#endif
    softmax_body8(x, n, scale, mode);
}

void fy__layernorm_row(const float *x, float *y, int64_t n, const float *g, const float *b,
                       double eps)
{
#if defined(__x86_64__) || defined(__i386__)
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512) {
        layernorm_512(x, y, n, g, b, eps);
        return;
    }
    if (isa == FY_ISA_AVX2) {
        layernorm_avx2(x, y, n, g, b, eps);
        return;
    }
#endif
    layernorm_body8(x, y, n, g, b, eps);
}
