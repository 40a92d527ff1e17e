/* SPDX-License-Identifier: MIT */
/* Small float32 products without packing: C = A B with A [M x K] and B [K x N] both
 * row-major, in tiles of 4 rows x 64 columns held in 16 AVX-512 registers; the
 * rows of B are read in place, which for attention's Q Kt and P V (K and N of 64 to
 * a few hundred, each B used by a few dozen rows) beats packing panels for the
 * blocked SGEMM. Each C element is one FMA chain over k in order, like SGEMM's. */
#include "fast_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define T512 __attribute__((target("avx512f")))

/* Rows [0, mr) (mr <= 4) x columns [0, n) (n <= 64) of C. Rows past mr repeat
 * row 0 (computed, not stored), so the loops keep constant bounds and the 16
 * accumulators stay in registers. */
T512 static void tile4x64(int mr, int64_t n, int64_t K, const float *a, int64_t lda, const float *b,
                          int64_t ldb, float *c, int64_t ldc)
{
    __mmask16 m[4];
    for (int v = 0; v < 4; v++) {
        int64_t left = n - 16 * v;
        m[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    const float *ar[4];
    for (int r = 0; r < 4; r++)
        ar[r] = a + (r < mr ? r : 0) * lda;
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        const float *bk = b + k * ldb;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            bv[v] = _mm512_maskz_loadu_ps(m[v], bk + 16 * v);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            __m512 av = _mm512_set1_ps(ar[r][k]);
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m[v], acc[r][v]);
}

T512 static void small_512(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                           const float *b, int64_t ldb, float *c, int64_t ldc)
{
    for (int64_t j = 0; j < N; j += 64)
        for (int64_t i = 0; i < M; i += 4)
            tile4x64(M - i < 4 ? (int)(M - i) : 4, N - j < 64 ? N - j : 64, K, a + i * lda, lda,
                     b + j, ldb, c + i * ldc + j, ldc);
}
#endif

int fy__sgemm_small(int64_t M, int64_t N, int64_t K, const float *a, int64_t lda, const float *b,
                    int64_t ldb, float *c, int64_t ldc)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fy__isa_active() == FY_ISA_AVX512 && M > 0 && N > 0) {
        small_512(M, N, K, a, lda, b, ldb, c, ldc);
        return 1;
    }
#endif
    (void)M, (void)N, (void)K, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
    return 0;
}
