/* SPDX-License-Identifier: MIT */
/* Activations of the fused epilogues (act_tmpl.h), compiled three times: 16 floats
 * at a time for AVX-512, 8 for AVX2+FMA, and 8 on the baseline ISA (the portable
 * path). Every width computes the same expression per element. */
/* a * b + c as one fused multiply-add where the ISA has it: the polynomials of
 * vec_math.h get one rounding per step instead of two (ISO C mode turns the
 * contraction off by default). */
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif
#include <string.h>

#include "fast_int.h"
#include "vec16.h"
#include "vec8.h"

/* One epilogue row: x[0..n) = f(x + bias + bv + r). */
typedef struct row_args {
    float *x;
    int64_t n;
    float bias;
    const float *bv, *r;
    float al, be;
} row_args;

#define VEC v8
#define VECI v8i
#define VECU v8u
#define VN(name) name##8
#define VL 8
#include "act_tmpl.h"
#undef VEC
#undef VECI
#undef VECU
#undef VN
#undef VL

#define VEC v16
#define VECI v16i
#define VECU v16u
#define VN(name) name##16
#define VL 16
#include "act_tmpl.h"
#undef VEC
#undef VECI
#undef VECU
#undef VN
#undef VL

#if defined(__x86_64__) || defined(__i386__)
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define T256 __attribute__((target("avx2,fma")))

T512 static void tile_512(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                          const fy__epilogue *ep)
{
    tile_body16(c, ldc, i0, j0, mr, n, ep);
}

T256 static void tile_avx2(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                           const fy__epilogue *ep)
{
    tile_body8(c, ldc, i0, j0, mr, n, ep);
}

T512 static void qrow_512(const fy__qrow *q, const void *acc, float *out, int64_t n,
                          const float *bv, const float *r, fy__act act)
{
    qrow_body16(q, (const uint32_t *)acc, out, n, bv, r, act);
}

T256 static void qrow_avx2(const fy__qrow *q, const void *acc, float *out, int64_t n,
                           const float *bv, const float *r, fy__act act)
{
    qrow_body8(q, (const uint32_t *)acc, out, n, bv, r, act);
}
#endif

static void tile_any(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                     const fy__epilogue *ep)
{
    tile_body8(c, ldc, i0, j0, mr, n, ep);
}

static void qrow_any(const fy__qrow *q, const void *acc, float *out, int64_t n, const float *bv,
                     const float *r, fy__act act)
{
    qrow_body8(q, (const uint32_t *)acc, out, n, bv, r, act);
}

void fy__epi_tile(float *c, int64_t ldc, int64_t i0, int64_t j0, int mr, int64_t n,
                  const fy__epilogue *ep)
{
#if defined(__x86_64__) || defined(__i386__)
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512) {
        tile_512(c, ldc, i0, j0, mr, n, ep);
        return;
    }
    if (isa == FY_ISA_AVX2) {
        tile_avx2(c, ldc, i0, j0, mr, n, ep);
        return;
    }
#endif
    tile_any(c, ldc, i0, j0, mr, n, ep);
}

void fy__qrow_finish(const fy__qrow *q, const void *acc, float *out, int64_t n, const float *bv,
                     const float *r, fy__act act)
{
#if defined(__x86_64__) || defined(__i386__)
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512) {
        qrow_512(q, acc, out, n, bv, r, act);
        return;
    }
    if (isa == FY_ISA_AVX2) {
        qrow_avx2(q, acc, out, n, bv, r, act);
        return;
    }
#endif
    qrow_any(q, acc, out, n, bv, r, act);
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
