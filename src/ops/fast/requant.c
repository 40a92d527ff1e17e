/* SPDX-License-Identifier: MIT */
/* Requantization and QuantizeLinear on vectors (requant.h). The requantizing
 * product stays in double precision, as the reference computes it, so the result
 * is byte-exact: int32 -> double is exact, the product rounds once, and the
 * conversion back (cvtpd2dq) rounds half to even like nearbyint in the default
 * rounding mode. The product is clamped to [lo - zy - 1, hi - zy + 1] before the
 * conversion, which cannot change the saturated result and keeps it in int32. */
#include <math.h>
#include <string.h>

#include "fast.h"
#include "requant.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define T256 __attribute__((target("avx2")))
#endif

static void store1(void *y, int64_t j, int lo, int32_t v)
{
    if (lo == 0)
        ((uint8_t *)y)[j] = (uint8_t)v;
    else
        ((int8_t *)y)[j] = (int8_t)v;
}

static int32_t requant1(int32_t acc, int32_t bias, double mult, int32_t zy, int lo)
{
    int32_t v = (int32_t)((uint32_t)acc + (uint32_t)bias);
    double q = nearbyint((double)v * mult) + zy;
    return q <= lo ? lo : q >= lo + 255 ? lo + 255 : (int32_t)q;
}

#if FY_X86
T512 static void requant_512(const int32_t *acc, const int32_t *bias, const double *mult, int64_t n,
                             int32_t zy, int lo, void *y, int64_t *done)
{
    const __m512d dlo = _mm512_set1_pd((double)lo - zy - 1),
                  dhi = _mm512_set1_pd((double)lo + 255 - zy + 1);
    const __m512i z = _mm512_set1_epi32(zy), ilo = _mm512_set1_epi32(lo),
                  ihi = _mm512_set1_epi32(lo + 255);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i v = _mm512_loadu_si512((const void *)(acc + j));
        if (bias)
            v = _mm512_add_epi32(v, _mm512_loadu_si512((const void *)(bias + j)));
        __m512d a = _mm512_cvtepi32_pd(_mm512_castsi512_si256(v));
        __m512d b = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1));
        a = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(a, _mm512_loadu_pd(mult + j)), dlo), dhi);
        b = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(b, _mm512_loadu_pd(mult + j + 8)), dlo), dhi);
        __m512i r = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(a)),
                                       _mm512_cvtpd_epi32(b), 1);
        r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, z), ilo), ihi);
        _mm_storeu_si128((__m128i *)((char *)y + j), _mm512_cvtepi32_epi8(r));
    }
    *done = j;
}

T256 static void requant_256(const int32_t *acc, const int32_t *bias, const double *mult, int64_t n,
                             int32_t zy, int lo, void *y, int64_t *done)
{
    const __m256d dlo = _mm256_set1_pd((double)lo - zy - 1),
                  dhi = _mm256_set1_pd((double)lo + 255 - zy + 1);
    const __m256i z = _mm256_set1_epi32(zy), ilo = _mm256_set1_epi32(lo),
                  ihi = _mm256_set1_epi32(lo + 255);
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(acc + j));
        if (bias)
            v = _mm256_add_epi32(v, _mm256_loadu_si256((const __m256i *)(bias + j)));
        __m256d a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(v));
        __m256d b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
        a = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(a, _mm256_loadu_pd(mult + j)), dlo), dhi);
        b = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(b, _mm256_loadu_pd(mult + j + 4)), dlo), dhi);
        __m256i r = _mm256_set_m128i(_mm256_cvtpd_epi32(b), _mm256_cvtpd_epi32(a));
        r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, z), ilo), ihi);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        w = lo == 0 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
        _mm_storel_epi64((__m128i *)((char *)y + j), w);
    }
    *done = j;
}
#endif

/* The shared vector body: 16 (AVX-512) or 8 (AVX2) int32 sums to bytes. */
#if FY_X86
T512 static inline __m128i rq16(__m512i v, __m512d m, __m512d dlo, __m512d dhi, __m512i z,
                                __m512i ilo, __m512i ihi)
{
    __m512d a = _mm512_cvtepi32_pd(_mm512_castsi512_si256(v));
    __m512d b = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1));
    a = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(a, m), dlo), dhi);
    b = _mm512_min_pd(_mm512_max_pd(_mm512_mul_pd(b, m), dlo), dhi);
    __m512i r =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(a)), _mm512_cvtpd_epi32(b), 1);
    r = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(r, z), ilo), ihi);
    return _mm512_cvtepi32_epi8(r);
}

/* A column of a row-major [n x stride] int32 matrix, gathered 16 at a time. */
T512 static int64_t requant_col_512(const int32_t *acc, int64_t stride, int64_t n, int32_t bias,
                                    double mult, int32_t zy, int lo, void *y)
{
    const __m512d dlo = _mm512_set1_pd((double)lo - zy - 1),
                  dhi = _mm512_set1_pd((double)lo + 255 - zy + 1), m = _mm512_set1_pd(mult);
    const __m512i z = _mm512_set1_epi32(zy), ilo = _mm512_set1_epi32(lo),
                  ihi = _mm512_set1_epi32(lo + 255), b = _mm512_set1_epi32(bias);
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32((int32_t)stride));
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i v = _mm512_i32gather_epi32(idx, (const void *)(acc + j * stride), 4);
        v = _mm512_add_epi32(v, b);
        _mm_storeu_si128((__m128i *)((char *)y + j), rq16(v, m, dlo, dhi, z, ilo, ihi));
    }
    return j;
}

T256 static int64_t requant_col_256(const int32_t *acc, int64_t stride, int64_t n, int32_t bias,
                                    double mult, int32_t zy, int lo, void *y)
{
    const __m256d dlo = _mm256_set1_pd((double)lo - zy - 1),
                  dhi = _mm256_set1_pd((double)lo + 255 - zy + 1), m = _mm256_set1_pd(mult);
    const __m256i z = _mm256_set1_epi32(zy), ilo = _mm256_set1_epi32(lo),
                  ihi = _mm256_set1_epi32(lo + 255), bv = _mm256_set1_epi32(bias);
    const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32((int32_t)stride));
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i v = _mm256_i32gather_epi32((const int *)(acc + j * stride), idx, 4);
        v = _mm256_add_epi32(v, bv);
        __m256d a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(v));
        __m256d b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1));
        a = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(a, m), dlo), dhi);
        b = _mm256_min_pd(_mm256_max_pd(_mm256_mul_pd(b, m), dlo), dhi);
        __m256i r = _mm256_set_m128i(_mm256_cvtpd_epi32(b), _mm256_cvtpd_epi32(a));
        r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, z), ilo), ihi);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        w = lo == 0 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
        _mm_storel_epi64((__m128i *)((char *)y + j), w);
    }
    return j;
}
#endif

#if FY_X86
/* 16 positions x 16 channels of acc (row stride M): rows loaded with the channels'
 * bias, transposed in registers (epi32 unpacks, then 128-bit lane shuffles), each
 * channel's 16 positions requantized and stored to its plane (y + channel * P). */
T512 static void requant_tile16(const int32_t *acc, int64_t M, const int32_t *bias,
                                const double *mult, int32_t zy, int lo, uint8_t *y, int64_t P)
{
    const __m512d dlo = _mm512_set1_pd((double)lo - zy - 1),
                  dhi = _mm512_set1_pd((double)lo + 255 - zy + 1);
    const __m512i z = _mm512_set1_epi32(zy), ilo = _mm512_set1_epi32(lo),
                  ihi = _mm512_set1_epi32(lo + 255);
    const __m512i bv = bias ? _mm512_loadu_si512((const void *)bias) : _mm512_setzero_si512();
    __m512i r[16], t[16], u[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_add_epi32(_mm512_loadu_si512((const void *)(acc + i * M)), bv);
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 4; k++) { /* u[4k + c]: column c of each lane, rows 4k..4k+3 */
        u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
        u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
        u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i plo = _mm512_shuffle_i32x4(u[c], u[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i phi = _mm512_shuffle_i32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i qlo = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
        __m512i qhi = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
        __m512i col[4] = {_mm512_shuffle_i32x4(plo, qlo, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(plo, qlo, _MM_SHUFFLE(3, 1, 3, 1)),
                          _mm512_shuffle_i32x4(phi, qhi, _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_i32x4(phi, qhi, _MM_SHUFFLE(3, 1, 3, 1))};
        for (int l = 0; l < 4; l++) {
            int ch = 4 * l + c;
            __m128i b = rq16(col[l], _mm512_set1_pd(mult[ch]), dlo, dhi, z, ilo, ihi);
            _mm_storeu_si128((__m128i *)(y + ch * P), b);
        }
    }
}
#endif

void fy__requant_planes(const int32_t *acc, int64_t M, int64_t n, const int32_t *bias,
                        const double *mult, int32_t zy, int lo, uint8_t *y, int64_t P)
{
    int64_t m0 = 0, p16 = 0;
#if FY_X86
    if (fy__isa_active() == FY_ISA_AVX512) {
        p16 = n / 16 * 16;
        for (; m0 + 16 <= M; m0 += 16)
            for (int64_t p = 0; p < p16; p += 16)
                requant_tile16(acc + p * M + m0, M, bias ? bias + m0 : NULL, mult + m0, zy, lo,
                               y + m0 * P + p, P);
    }
#endif
    for (int64_t m = 0; m < M; m++) {
        int64_t from = m < m0 ? p16 : 0; /* positions the tiles did not cover */
        fy__requant_col(acc + from * M + m, M, n - from, bias ? bias[m] : 0, mult[m], zy, lo,
                        y + m * P + from);
    }
}

void fy__requant_col(const int32_t *acc, int64_t stride, int64_t n, int32_t bias, double mult,
                     int32_t zy, int lo, void *y)
{
    int64_t j = 0;
#if FY_X86
    fy__isa isa = fy__isa_active();
    if (stride > 0 && stride <= (1 << 24)) {
        if (isa == FY_ISA_AVX512)
            j = requant_col_512(acc, stride, n, bias, mult, zy, lo, y);
        else if (isa == FY_ISA_AVX2)
            j = requant_col_256(acc, stride, n, bias, mult, zy, lo, y);
    }
#endif
    for (; j < n; j++)
        store1(y, j, lo, requant1(acc[j * stride], bias, mult, zy, lo));
}

void fy__requant_row(const int32_t *acc, const int32_t *bias, const double *mult, int64_t n,
                     int32_t zy, int lo, void *y)
{
    int64_t j = 0;
#if FY_X86
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512)
        requant_512(acc, bias, mult, n, zy, lo, y, &j);
    else if (isa == FY_ISA_AVX2)
        requant_256(acc, bias, mult, n, zy, lo, y, &j);
#endif
    for (; j < n; j++)
        store1(y, j, lo, requant1(acc[j], bias ? bias[j] : 0, mult[j], zy, lo));
}

int fy__requant_ok(const float *mult, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(mult[i]))
            return 0;
    return 1;
}

/* ---- QuantizeLinear ---- */

static int32_t quant1(float x, float s, int32_t zp, int lo)
{
    double v = nearbyint((double)(x / s)) + zp;
    return isnan(v) || v <= lo ? lo : v >= lo + 255 ? lo + 255 : (int32_t)v;
}

#if FY_X86
/* max(q, lo) returns lo when q is NaN (the second operand), like the reference. */
T512 static int64_t quantize_512(const float *x, int64_t n, float s, int32_t zp, int lo, void *y)
{
    const __m512 vs = _mm512_set1_ps(s), z = _mm512_set1_ps((float)zp),
                 flo = _mm512_set1_ps((float)lo), fhi = _mm512_set1_ps((float)lo + 255);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 q = _mm512_div_ps(_mm512_loadu_ps(x + i), vs);
        q = _mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, z), flo), fhi);
        _mm_storeu_si128((__m128i *)((char *)y + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
    }
    return i;
}

T256 static int64_t quantize_256(const float *x, int64_t n, float s, int32_t zp, int lo, void *y)
{
    const __m256 vs = _mm256_set1_ps(s), z = _mm256_set1_ps((float)zp),
                 flo = _mm256_set1_ps((float)lo), fhi = _mm256_set1_ps((float)lo + 255);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, z), flo), fhi);
        __m256i v = _mm256_cvtps_epi32(q);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        w = lo == 0 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
        _mm_storel_epi64((__m128i *)((char *)y + i), w);
    }
    return i;
}
#endif

void fy__quantize_f32(const float *x, int64_t n, float s, int32_t zp, int lo, void *y)
{
    int64_t i = 0;
#if FY_X86
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512)
        i = quantize_512(x, n, s, zp, lo, y);
    else if (isa == FY_ISA_AVX2)
        i = quantize_256(x, n, s, zp, lo, y);
#endif
    for (; i < n; i++)
        store1(y, i, lo, quant1(x[i], s, zp, lo));
}
