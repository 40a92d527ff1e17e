/* SPDX-License-Identifier: MIT */
/* AVX2 and AVX-512 dot products for the decoder's weight formats, compiled with target
 * attributes and chosen at run time (kernels.c); tested against the scalar versions. */
#include <math.h>
#include <string.h>

#include "llm/llm_int.h"

#ifdef __x86_64__
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

AVX2 static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static inline float h2f(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* signed x signed bytes -> 8 int32 sums of 4 products, via |a| and b with a's sign */
AVX2 static inline __m256i dot_i8(__m256i a, __m256i b)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

AVX2 float fy__llm_dot_q8_0_avx2(size_t n, const blk_q8_0 *w, const blk_q8_0 *x)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / QK; b++) {
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(x[b].d));
        __m256i s = dot_i8(_mm256_loadu_si256((const __m256i *)w[b].qs),
                           _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
    }
    return hsum256(acc);
}

AVX2 static inline __m256i unpack_q4(const uint8_t *qs)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(raw, m), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), m);
    __m256i q = _mm256_set_m128i(hi, lo);
    return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

AVX2 float fy__llm_dot_q4_0_avx2(size_t n, const blk_q4_0 *w, const blk_q8_0 *x)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t b = 0; b < n / QK; b++) {
        __m256 d = _mm256_set1_ps(h2f(w[b].d) * h2f(x[b].d));
        __m256i s = dot_i8(unpack_q4(w[b].qs), _mm256_loadu_si256((const __m256i *)x[b].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
    }
    return hsum256(acc);
}

AVX2 float fy__llm_dot_f32_avx2(size_t n, const float *w, const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        s += w[i] * x[i];
    return s;
}

AVX2 float fy__llm_dot_f16_avx2(size_t n, const uint16_t *w, const float *x)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    float s = hsum256(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        s += h2f(w[i]) * x[i];
    return s;
}

/* AVX-512: two blocks per register; the per-block scales fill the two 256-bit halves. */
AVX512 static inline __m512i dot_i8_512(__m512i a, __m512i b)
{
    __mmask64 neg = _mm512_movepi8_mask(a);
    __m512i sb = _mm512_mask_sub_epi8(b, neg, _mm512_setzero_si512(), b);
    __m512i p = _mm512_maddubs_epi16(_mm512_abs_epi8(a), sb);
    return _mm512_madd_epi16(p, _mm512_set1_epi16(1));
}

AVX512 static inline __m512 scales2(float d0, float d1)
{
    return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(d0), _mm512_set1_ps(d1));
}

AVX512 float fy__llm_dot_q8_0_avx512(size_t n, const blk_q8_0 *w, const blk_q8_0 *x)
{
    size_t nb = n / QK, b = 0;
    __m512 acc = _mm512_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i a =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)w[b].qs)),
                               _mm256_loadu_si256((const __m256i *)w[b + 1].qs), 1);
        __m512i c =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[b].qs)),
                               _mm256_loadu_si256((const __m256i *)x[b + 1].qs), 1);
        __m512 d = scales2(h2f(w[b].d) * h2f(x[b].d), h2f(w[b + 1].d) * h2f(x[b + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_i8_512(a, c)), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (b < nb)
        s += fy__llm_dot_q8_0_avx2(QK, w + b, x + b);
    return s;
}

AVX512 float fy__llm_dot_q4_0_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x)
{
    size_t nb = n / QK, b = 0;
    __m512 acc = _mm512_setzero_ps();
    for (; b + 2 <= nb; b += 2) {
        __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(unpack_q4(w[b].qs)),
                                       unpack_q4(w[b + 1].qs), 1);
        __m512i c =
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[b].qs)),
                               _mm256_loadu_si256((const __m256i *)x[b + 1].qs), 1);
        __m512 d = scales2(h2f(w[b].d) * h2f(x[b].d), h2f(w[b + 1].d) * h2f(x[b + 1].d));
        acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_i8_512(a, c)), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (b < nb)
        s += fy__llm_dot_q4_0_avx2(QK, w + b, x + b);
    return s;
}

AVX512 float fy__llm_dot_f32_avx512(size_t n, const float *w, const float *x)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    if (i < n)
        s += fy__llm_dot_f32_avx2(n - i, w + i, x + i);
    return s;
}
/* One weight row against four activation rows: the weights are loaded (and unpacked)
 * once for the four tokens of a prompt batch. x_t = x + t * xs. */
AVX512 static inline __m512i load2(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

AVX512 static inline __m512i signed_dot(__m512i absw, __mmask64 neg, __m512i x)
{
    __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(absw, sx), _mm512_set1_epi16(1));
}

/* xd_t holds the activation scales of token t as floats (fy__llm_q8_scales), so a
 * pair of them becomes the per-half scale vector with one load and one permute. */
AVX512 static inline __m512 pair_scales(const float *xd)
{
    __m128 two = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)xd)); /* unaligned */
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(two));
}

#define DOT4_BODY(W_LOAD, TAIL)                                                                    \
    size_t nb = n / QK, b = 0;                                                                     \
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),                \
                     _mm512_setzero_ps()};                                                         \
    for (; b + 2 <= nb; b += 2) {                                                                  \
        __m512i a = W_LOAD;                                                                        \
        __mmask64 neg = _mm512_movepi8_mask(a);                                                    \
        __m512i aa = _mm512_abs_epi8(a);                                                           \
        __m512 dw = scales2(h2f(w[b].d), h2f(w[b + 1].d));                                         \
        for (int t = 0; t < 4; t++) {                                                              \
            const blk_q8_0 *xt = x + t * xs;                                                       \
            __m512i p = signed_dot(aa, neg, load2(xt[b].qs, xt[b + 1].qs));                        \
            __m512 d = _mm512_mul_ps(dw, pair_scales(xd + t * xs + b));                            \
            acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc[t]);                            \
        }                                                                                          \
    }                                                                                              \
    for (int t = 0; t < 4; t++)                                                                    \
        out[t] = _mm512_reduce_add_ps(acc[t]) + (b < nb ? TAIL(QK, w + b, x + t * xs + b) : 0.0f);

AVX512 void fy__llm_dot4_q8_0_avx512(size_t n, const blk_q8_0 *w, const blk_q8_0 *x,
                                     const float *xd, size_t xs, float *out){
    DOT4_BODY(load2(w[b].qs, w[b + 1].qs), fy__llm_dot_q8_0_avx2)}

AVX512 void fy__llm_dot4_q4_0_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                                     const float *xd, size_t xs, float *out){
    DOT4_BODY(_mm512_inserti64x4(_mm512_castsi256_si512(unpack_q4(w[b].qs)), unpack_q4(w[b + 1].qs),
                                 1),
              fy__llm_dot_q4_0_avx2)}

/* Q4_0 without the sign trick: the nibbles stay unsigned (0..15) for maddubs against
 * the signed activations, and the -8 comes back as an integer correction per block,
 * xc[b] = 8 * sum(q_x) (fy__llm_q4_corr), subtracted from one lane of the block's sums
 * before anything is rounded: the result equals the signed computation exactly. */
AVX2 static inline __m256i nibbles(const uint8_t *qs)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m), _mm_and_si128(raw, m));
}

/* xc[b] into lane 0 and xc[b + 1] into lane 8, zeros elsewhere */
AVX512 static inline __m512i pair_corr(const int32_t *xc)
{
    return _mm512_maskz_permutexvar_epi32(
        (__mmask16)0x0101, _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
        _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)xc)));
}

AVX512 float fy__llm_dot_q4_0u_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                                      const float *xd, const int32_t *xc)
{
    size_t nb = n / QK, b = 0;
    __m512 acc = _mm512_setzero_ps();
    const __m512i ones = _mm512_set1_epi16(1);
    for (; b + 2 <= nb; b += 2) {
        __m512i a =
            _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(w[b].qs)), nibbles(w[b + 1].qs), 1);
        __m512i p = _mm512_madd_epi16(_mm512_maddubs_epi16(a, load2(x[b].qs, x[b + 1].qs)), ones);
        p = _mm512_sub_epi32(p, pair_corr(xc + b));
        acc = _mm512_fmadd_ps(
            _mm512_mul_ps(scales2(h2f(w[b].d), h2f(w[b + 1].d)), pair_scales(xd + b)),
            _mm512_cvtepi32_ps(p), acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    if (b < nb)
        s += fy__llm_dot_q4_0_avx2(QK, w + b, x + b);
    return s;
}

AVX512 void fy__llm_dot4_q4_0u_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                                      const float *xd, const int32_t *xc, size_t xs, float *out)
{
    size_t nb = n / QK, b = 0;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    const __m512i ones = _mm512_set1_epi16(1);
    for (; b + 2 <= nb; b += 2) {
        __m512i a =
            _mm512_inserti64x4(_mm512_castsi256_si512(nibbles(w[b].qs)), nibbles(w[b + 1].qs), 1);
        __m512 dw = scales2(h2f(w[b].d), h2f(w[b + 1].d));
        for (int t = 0; t < 4; t++) {
            const blk_q8_0 *xt = x + t * xs;
            __m512i p =
                _mm512_madd_epi16(_mm512_maddubs_epi16(a, load2(xt[b].qs, xt[b + 1].qs)), ones);
            p = _mm512_sub_epi32(p, pair_corr(xc + t * xs + b));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, pair_scales(xd + t * xs + b)),
                                     _mm512_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++)
        out[t] = _mm512_reduce_add_ps(acc[t]) +
                 (b < nb ? fy__llm_dot_q4_0_avx2(QK, w + b, x + t * xs + b) : 0.0f);
}

AVX512 void fy__llm_dot4_f32_avx512(size_t n, const float *w, const float *x, size_t xs, float *out)
{
    __m512 a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + i + 16);
        for (int t = 0; t < 4; t++) {
            a[2 * t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + t * xs + i), a[2 * t]);
            a[2 * t + 1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + t * xs + i + 16), a[2 * t + 1]);
        }
    }
    for (int t = 0; t < 4; t++) {
        out[t] = _mm512_reduce_add_ps(_mm512_add_ps(a[2 * t], a[2 * t + 1]));
        if (i < n)
            out[t] += fy__llm_dot_f32_avx2(n - i, w + i, x + t * xs + i);
    }
}
/* ---- the integer GEMM over repacked weights (VNNI) ----
 * Weights are repacked once at load (fy__llm_pack_q, kernels.c) into groups of 16 rows:
 * for each block, vector j (64 bytes) holds 4 consecutive quants of each of the 16 rows
 * (lane r = row r), followed by the 16 rows' fp16 scales. vpdpbusd then multiplies one
 * weight vector by 4 activation bytes broadcast from memory and accumulates 16 rows'
 * partial sums in the 16 lanes: no horizontal sums, no shuffles, one 64-byte store per
 * token and group at the end. vpdpbusd multiplies unsigned (weights) by signed
 * (activations) bytes: Q8_0 quants are stored offset by 128 (q ^ 0x80), Q4_0 nibbles as
 * they are (0..15); the offset (128 or 8) times the block's activation sum comes back
 * as the accumulator's start value xi = -offset * sum(q_x) (fy__llm_q_init), exact in
 * int32. The per-block scales are applied in float, block after block, as the scalar
 * reference does: acc += float(isum) * (dw * dx).
 * Q4_0: vector j's low nibbles are elements 4j..4j+3 and its high nibbles 16+4j..19+4j
 * (GGUF's order), so one load, one shift and two masks make two weight vectors. */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

#define PK_TMAX 8 /* tokens per tile: 8 weight vectors + 8 int + 8 float accumulators */

VNNI static inline __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

__attribute__((always_inline)) VNNI static inline void
pk_tile(int q4, int TT, size_t nb, const uint8_t *wp, const blk_q8_0 *x, const float *xd,
        const int32_t *xi, size_t xs, float *y, size_t ldy, __mmask16 rmask)
{
    const size_t bs = q4 ? PK_Q4_BLOCK : PK_Q8_BLOCK;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[PK_TMAX];
#pragma GCC unroll 8
    for (int t = 0; t < TT; t++)
        acc[t] = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *blk = wp + b * bs;
        __m512i wv[8];
        if (q4) {
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                __m512i v = _mm512_loadu_si512((const void *)(blk + 64 * j));
                wv[j] = _mm512_and_si512(v, m4);
                wv[j + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        } else {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                wv[j] = _mm512_loadu_si512((const void *)(blk + 64 * j));
        }
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + (q4 ? 256 : 512))));
#pragma GCC unroll 8
        for (int t = 0; t < TT; t++) {
            const int8_t *qx = x[(size_t)t * xs + b].qs;
            __m512i p = _mm512_set1_epi32(xi[(size_t)t * xs + b]);
            if (q4) {
                /* wv[j] pairs with elements 4j..4j+3, wv[j + 4] with 16+4j.. */
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++) {
                    p = _mm512_dpbusd_epi32(p, wv[j], bcast4(qx + 4 * j));
                    p = _mm512_dpbusd_epi32(p, wv[j + 4], bcast4(qx + 16 + 4 * j));
                }
            } else {
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++)
                    p = _mm512_dpbusd_epi32(p, wv[j], bcast4(qx + 4 * j));
            }
            /* multiply, then add (no fma): the same roundings as the scalar reference,
             * so each output equals fy__llm_dot_q8_0 / q4_0's scalar result exactly */
            acc[t] = _mm512_add_ps(
                acc[t], _mm512_mul_ps(_mm512_cvtepi32_ps(p),
                                      _mm512_mul_ps(dw, _mm512_set1_ps(xd[(size_t)t * xs + b]))));
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < TT; t++)
        _mm512_mask_storeu_ps(y + (size_t)t * ldy, rmask, acc[t]);
}

typedef void (*pk_fn)(size_t, const uint8_t *, const blk_q8_0 *, const float *, const int32_t *,
                      size_t, float *, size_t, __mmask16);

#define PK_TILE(Q, TT)                                                                             \
    VNNI static void pk_##Q##_##TT(size_t nb, const uint8_t *wp, const blk_q8_0 *x,                \
                                   const float *xd, const int32_t *xi, size_t xs, float *y,        \
                                   size_t ldy, __mmask16 rmask)                                    \
    {                                                                                              \
        pk_tile(Q, TT, nb, wp, x, xd, xi, xs, y, ldy, rmask);                                      \
    }
#define PK_TILES(Q)                                                                                \
    PK_TILE(Q, 1)                                                                                  \
    PK_TILE(Q, 2)                                                                                  \
    PK_TILE(Q, 3)                                                                                  \
    PK_TILE(Q, 4)                                                                                  \
    PK_TILE(Q, 5)                                                                                  \
    PK_TILE(Q, 6)                                                                                  \
    PK_TILE(Q, 7)                                                                                  \
    PK_TILE(Q, 8)
PK_TILES(0)
PK_TILES(1)

static const pk_fn pk_fns[2][PK_TMAX + 1] = {
    {NULL, pk_0_1, pk_0_2, pk_0_3, pk_0_4, pk_0_5, pk_0_6, pk_0_7, pk_0_8},
    {NULL, pk_1_1, pk_1_2, pk_1_3, pk_1_4, pk_1_5, pk_1_6, pk_1_7, pk_1_8}};

void fy__llm_gemm_pk_vnni(int q4, size_t n_in, const uint8_t *wp, size_t g0, size_t g1,
                          size_t n_out, const blk_q8_0 *x, const float *xd, const int32_t *xi,
                          size_t T, float *y, size_t ldy)
{
    size_t nb = n_in / QK, gbytes = nb * (q4 ? PK_Q4_BLOCK : PK_Q8_BLOCK);
    for (size_t g = g0; g < g1; g++) {
        size_t r0 = g * PK_ROWS, left = n_out - r0;
        __mmask16 rmask = left >= PK_ROWS ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        for (size_t t = 0; t < T; t += PK_TMAX) {
            size_t tt = T - t < PK_TMAX ? T - t : PK_TMAX;
            pk_fns[q4][tt](nb, wp + g * gbytes, x + t * nb, xd + t * nb, xi + t * nb, nb,
                           y + t * ldy + r0, ldy, rmask);
        }
    }
}

/* SwiGLU's g * sigmoid(g) * u in place of g, 16 at a time: exp(-g) by range reduction
 * (n = round(x / ln 2), r = x - n ln 2 in two parts) and Cephes' degree-6 polynomial for
 * exp(r) on [-ln2/2, ln2/2], scaled by 2^n (vscalefps); within 4e-7 relative (3 ulp) of
 * the libm version (tested), and the division is IEEE's. */
AVX512 void fy__llm_swiglu_avx512(size_t n, float *g, const float *u)
{
    const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.7f);
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 c1 = _mm512_set1_ps(0.693359375f), c2 = _mm512_set1_ps(-2.12194440e-4f);
    const __m512 one = _mm512_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i);
        __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), lo), hi);
        __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, log2e),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(k, c1, t);
        r = _mm512_fnmadd_ps(k, c2, r);
        __m512 p = _mm512_set1_ps(1.9875691500e-4f);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
        p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, one));
        __m512 e = _mm512_scalef_ps(p, k);
        __m512 y = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_storeu_ps(g + i, _mm512_mul_ps(y, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* y += a * x (attention's weighted sum of cached values) */
AVX512 void fy__llm_axpy_avx512(size_t n, float a, const float *x, float *y)
{
    size_t i = 0;
    __m512 va = _mm512_set1_ps(a);
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Q8_0 quantization with the reference's exact rounding: roundf rounds half away from
 * zero, which is trunc(|v|) + (|v| - trunc(|v|) >= 0.5) with the sign put back (the
 * difference is exact in float for |v| <= 127). d = amax / 127 and 1/d as there. */
AVX512 void fy__llm_quantize_q8_0_avx512(const float *x, blk_q8_0 *y, size_t n)
{
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
    for (size_t b = 0; b < n / QK; b++) {
        __m512 v0 = _mm512_loadu_ps(x + b * QK), v1 = _mm512_loadu_ps(x + b * QK + 16);
        __m512 a0 = _mm512_abs_ps(v0), a1 = _mm512_abs_ps(v1);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m512 vid = _mm512_set1_ps(id);
        __m512 r[2];
        for (int k = 0; k < 2; k++) {
            __m512 v = _mm512_mul_ps(k ? v1 : v0, vid);
            __m512 av = _mm512_abs_ps(v);
            __m512 t = _mm512_roundscale_ps(av, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(av, t), half, _CMP_GE_OQ);
            t = _mm512_mask_add_ps(t, up, t, one);
            /* copy the sign of v */
            r[k] = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_castps_si512(t),
                _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u))));
        }
        __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(r[0]));
        __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(r[1]));
        _mm_storeu_si128((__m128i *)y[b].qs, q0);
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), q1);
    }
}
#endif
