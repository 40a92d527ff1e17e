/* SPDX-License-Identifier: MIT */
/* int8 GEMM (u8 x s8 -> s32) with zero points applied from row and column sums,
 * and DynamicQuantizeLinear. Layouts: with VNNI, B panels hold 32 columns x 4
 * consecutive k as bytes (one vpdpbusd lane per column); otherwise 16 columns x 2
 * consecutive k widened to int16 (one vpmaddwd lane per column). */
#include <math.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "fast_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#define MR_VNNI 8
#define NR_VNNI 32
#define MR_W 4 /* widened (AVX2 and C) */
#define NR_W 16
#define QMC 64   /* rows per block: a multiple of both MRs */
#define QNC 128  /* columns per task: a multiple of both NRs */
#define QKC 1024 /* k per block: a multiple of 4 */

struct fy__qpacked {
    int vnni;         /* layout: 1 = bytes in k-quads, 0 = int16 in k-pairs */
    int64_t K, N, kg; /* kg: K rounded up to the k group (4 or 2) */
    void *data;       /* panels of NR columns x kg */
    int32_t *colsum;  /* sum_k B'[k, n] */
    int32_t *zb;      /* B' zero point per column */
    int zb_zero;      /* every zb is 0 */
};

static int use_vnni(void)
{
#if FY_X86
    __builtin_cpu_init();
    return fy__isa_active() == FY_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

/* B' = B as int8: uint8 B shifts by -128 (the zero point follows). */
static int32_t b_at(const void *b, int b_signed, int64_t i)
{
    return b_signed ? ((const int8_t *)b)[i] : (int32_t)((const uint8_t *)b)[i] - 128;
}

int fy__qpack_b(fy__qpacked **out, int64_t K, int64_t N, const void *b, int b_signed, int64_t rsb,
                int64_t csb, const int32_t *zb, int64_t zb_n)
{
    int vnni = use_vnni();
    int nr = vnni ? NR_VNNI : NR_W, kgrp = vnni ? 4 : 2;
    int64_t kg = (K + kgrp - 1) / kgrp * kgrp, panels = (N + nr - 1) / nr;
    size_t esz = vnni ? 1 : 2;
    uint64_t bytes;
    if (fy__mul_overflow_u64((uint64_t)(panels * nr), (uint64_t)(kg > 0 ? kg : 1) * esz, &bytes))
        return FY_ENOMEM;
    fy__qpacked *p = fy__calloc(1, sizeof *p);
    if (!p)
        return FY_ENOMEM;
    p->data = fy__calloc(1, (size_t)bytes);
    p->colsum = fy__calloc((size_t)N + 1, sizeof *p->colsum);
    p->zb = fy__calloc((size_t)N + 1, sizeof *p->zb);
    if (!p->data || !p->colsum || !p->zb) {
        fy__qpacked_free(p);
        return FY_ENOMEM;
    }
    p->vnni = vnni;
    p->K = K;
    p->N = N;
    p->kg = kg;
    for (int64_t n = 0; n < N; n++) {
        int64_t pan = n / nr, j = n % nr;
        uint32_t sum = 0;
        for (int64_t k = 0; k < K; k++) {
            int32_t v = b_at(b, b_signed, k * rsb + n * csb);
            sum += (uint32_t)v;
            /* element (k, j) of panel pan: k group, then column, then k within the group */
            size_t at = (size_t)((pan * kg + k / kgrp * kgrp) * nr + j * kgrp + k % kgrp);
            if (vnni)
                ((int8_t *)p->data)[at] = (int8_t)v;
            else
                ((int16_t *)p->data)[at] = (int16_t)v;
        }
        p->colsum[n] = (int32_t)sum;
        int32_t z = zb ? zb[zb_n == 1 ? 0 : n] : 0;
        p->zb[n] = b_signed ? z : z - 128;
    }
    p->zb_zero = 1;
    for (int64_t n = 0; n < N; n++)
        p->zb_zero &= p->zb[n] == 0;
    *out = p;
    return FY_OK;
}

void fy__qpacked_free(fy__qpacked *p)
{
    if (!p)
        return;
    fy__free(p->data);
    fy__free(p->colsum);
    fy__free(p->zb);
    fy__free(p);
}

int64_t fy__qpacked_k(const fy__qpacked *p)
{
    return p->K;
}
int64_t fy__qpacked_n(const fy__qpacked *p)
{
    return p->N;
}
const int32_t *fy__qpacked_colsum(const fy__qpacked *p)
{
    return p->zb_zero ? p->colsum : NULL;
}

/* ---- microkernels: c[0..mr) x [0..nr) (=|+=) A-block . B-panel over kgn k groups ---- */

typedef void (*qkern)(int64_t kgn, const uint32_t *a, const void *b, int32_t *c, int64_t ldc,
                      int nr, int acc);

#if FY_X86
#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define T256 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

TVNNI INLINE void qk_vnni(const int mr, int64_t kgn, const uint32_t *a, const void *bv, int32_t *c,
                          int64_t ldc, int nr, int acc)
{
    const int8_t *b = bv;
    __m512i c0[MR_VNNI], c1[MR_VNNI];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm512_setzero_si512();
    for (int64_t q = 0; q < kgn; q++) {
        __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            __m512i av = _mm512_set1_epi32((int)a[i]);
            c0[i] = _mm512_dpbusd_epi32(c0[i], av, b0);
            c1[i] = _mm512_dpbusd_epi32(c1[i], av, b1);
        }
        a += MR_VNNI;
        b += 4 * NR_VNNI;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        int32_t *cr = c + i * ldc;
        if (acc) {
            c0[i] = _mm512_add_epi32(c0[i], _mm512_maskz_loadu_epi32(m0, cr));
            c1[i] = _mm512_add_epi32(c1[i], _mm512_maskz_loadu_epi32(m1, cr + 16));
        }
        _mm512_mask_storeu_epi32(cr, m0, c0[i]);
        _mm512_mask_storeu_epi32(cr + 16, m1, c1[i]);
    }
}

/* qk_vnni reading A' in place: row i's k group q is the 4 bytes at a + i lda + 4 q
 * (uint8 A, no flip), so no packing pass is needed. */
TVNNI INLINE void qkd_vnni(const int mr, int64_t kgn, const uint8_t *a, int64_t lda, const void *bv,
                           int32_t *c, int64_t ldc, int nr, int acc)
{
    const int8_t *b = bv;
    const uint8_t *ar[MR_VNNI];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        ar[i] = a + i * lda;
    __m512i c0[MR_VNNI], c1[MR_VNNI];
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm512_setzero_si512();
    for (int64_t q = 0; q < kgn; q++) {
        __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
#pragma GCC unroll 8
        for (int i = 0; i < mr; i++) {
            int32_t w;
            memcpy(&w, ar[i] + 4 * q, 4);
            __m512i av = _mm512_set1_epi32(w);
            c0[i] = _mm512_dpbusd_epi32(c0[i], av, b0);
            c1[i] = _mm512_dpbusd_epi32(c1[i], av, b1);
        }
        b += 4 * NR_VNNI;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
#pragma GCC unroll 8
    for (int i = 0; i < mr; i++) {
        int32_t *cr = c + i * ldc;
        if (acc) {
            c0[i] = _mm512_add_epi32(c0[i], _mm512_maskz_loadu_epi32(m0, cr));
            c1[i] = _mm512_add_epi32(c1[i], _mm512_maskz_loadu_epi32(m1, cr + 16));
        }
        _mm512_mask_storeu_epi32(cr, m0, c0[i]);
        _mm512_mask_storeu_epi32(cr + 16, m1, c1[i]);
    }
}

T256 INLINE void qk_avx2(const int mr, int64_t kgn, const uint32_t *a, const void *bv, int32_t *c,
                         int64_t ldc, int nr, int acc)
{
    const int16_t *b = bv;
    __m256i c0[MR_W], c1[MR_W];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm256_setzero_si256();
    for (int64_t q = 0; q < kgn; q++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)b),
                b1 = _mm256_loadu_si256((const __m256i *)(b + 16));
#pragma GCC unroll 4
        for (int i = 0; i < mr; i++) {
            __m256i av = _mm256_set1_epi32((int)a[i]);
            c0[i] = _mm256_add_epi32(c0[i], _mm256_madd_epi16(av, b0));
            c1[i] = _mm256_add_epi32(c1[i], _mm256_madd_epi16(av, b1));
        }
        a += MR_W;
        b += 2 * NR_W;
    }
    int32_t t[NR_W];
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        _mm256_storeu_si256((__m256i *)t, c0[i]);
        _mm256_storeu_si256((__m256i *)(t + 8), c1[i]);
        int32_t *cr = c + i * ldc;
        for (int j = 0; j < nr; j++)
            cr[j] = acc ? (int32_t)((uint32_t)cr[j] + (uint32_t)t[j]) : t[j];
    }
}

#define QV(n)                                                                                      \
    TVNNI static void qv_##n(int64_t kgn, const uint32_t *a, const void *b, int32_t *c,            \
                             int64_t ldc, int nr, int acc)                                         \
    {                                                                                              \
        qk_vnni(n, kgn, a, b, c, ldc, nr, acc);                                                    \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= MR_VNNI, "row count")
#define QD(n)                                                                                      \
    TVNNI static void qd_##n(int64_t kgn, const uint8_t *a, int64_t lda, const void *b,            \
                             int32_t *c, int64_t ldc, int nr, int acc)                             \
    {                                                                                              \
        qkd_vnni(n, kgn, a, lda, b, c, ldc, nr, acc);                                              \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= MR_VNNI, "row count")
#define QA(n)                                                                                      \
    T256 static void qa_##n(int64_t kgn, const uint32_t *a, const void *b, int32_t *c,             \
                            int64_t ldc, int nr, int acc)                                          \
    {                                                                                              \
        qk_avx2(n, kgn, a, b, c, ldc, nr, acc);                                                    \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= MR_W, "row count")
/* One instantiation per row count. */
QV(1);
QV(2);
QV(3);
QV(4);
QV(5);
QV(6);
QV(7);
QV(8);
QA(1);
QA(2);
QA(3);
QA(4);
QD(1);
QD(2);
QD(3);
QD(4);
QD(5);
QD(6);
QD(7);
QD(8);
static const qkern k_vnni[MR_VNNI + 1] = {NULL, qv_1, qv_2, qv_3, qv_4, qv_5, qv_6, qv_7, qv_8};
typedef void (*qkern_d)(int64_t kgn, const uint8_t *a, int64_t lda, const void *b, int32_t *c,
                        int64_t ldc, int nr, int acc);
static const qkern_d kd_vnni[MR_VNNI + 1] = {NULL, qd_1, qd_2, qd_3, qd_4, qd_5, qd_6, qd_7, qd_8};
static const qkern k_avx2[MR_W + 1] = {NULL, qa_1, qa_2, qa_3, qa_4};
#endif

/* Portable C on the widened layout; unsigned arithmetic wraps like the SIMD paths. */
static void qk_c(int mr, int64_t kgn, const uint32_t *a, const void *bv, int32_t *c, int64_t ldc,
                 int nr, int acc)
{
    const int16_t *b = bv;
    uint32_t t[MR_W][NR_W] = {{0}};
    for (int64_t q = 0; q < kgn; q++) {
        for (int i = 0; i < MR_W; i++) {
            int32_t lo = (int16_t)(a[i] & 0xffff), hi = (int16_t)(a[i] >> 16);
            for (int j = 0; j < NR_W; j++)
                t[i][j] += (uint32_t)(lo * b[2 * j] + hi * b[2 * j + 1]);
        }
        a += MR_W;
        b += 2 * NR_W;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = (int32_t)(acc ? (uint32_t)c[i * ldc + j] + t[i][j] : t[i][j]);
}

/* ---- driver ---- */

typedef struct qjob {
    const fy__qpacked *b;
    int64_t M;
    const uint8_t *a;
    int a_signed;
    int64_t lda;
    uint32_t za; /* zero point of A' */
    int32_t *c;
    int64_t ldc;
    int isa; /* 2: VNNI, 1: AVX2, 0: C */
    /* Dequantizing form (fy__qgemm_f32): C's int32 sums become floats in place. */
    int fout;
    float a_scale;
    const float *b_scale;
    int64_t nbs;
    const fy__epilogue *ep;
} qjob;

/* A' rows [i0, i0 + mc) x k [k0, k0 + kc) into k groups of MR rows (zero padded),
 * adding each row's sum of A' to rowsum. The sums only feed B's zero point, so with
 * every zb 0 they may be left out (rowsum then holds partial sums). */
static void qpack_a(const qjob *j, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr,
                    uint32_t *dst, uint32_t *rowsum)
{
    const int want_sum = !j->b->zb_zero;
    const int kgrp = j->b->vnni ? 4 : 2;
    const int64_t groups = (kc + kgrp - 1) / kgrp, full = kc / kgrp;
    const uint8_t flip = j->a_signed ? 0x80 : 0; /* int8 + 128 as uint8: flip the top bit */
    const uint32_t flip4 = flip * 0x01010101u;
    for (int64_t p = 0; p < mc; p += mr)
        for (int i = 0; i < mr; i++) {
            uint32_t *d = dst + (p / mr) * groups * mr + i;
            if (p + i >= mc) {
                for (int64_t g = 0; g < groups; g++)
                    d[g * mr] = 0;
                continue;
            }
            const uint8_t *row = j->a + (i0 + p + i) * j->lda + k0;
            /* The row's sum is taken from the packed words: bytes (or int16
             * halves) summed pairwise in 16-bit lanes, which cannot overflow. */
            uint32_t sum = 0;
            int64_t g = 0;
            if (kgrp == 4 && !want_sum) { /* the sums go unused: plain word copies */
                for (; g < full; g++) {
                    uint32_t w;
                    memcpy(&w, row + 4 * g, 4);
                    d[g * mr] = w ^ flip4;
                }
            } else if (kgrp == 4) {
                for (; g < full; g++) {
                    uint32_t w;
                    memcpy(&w, row + 4 * g, 4);
                    w ^= flip4;
                    d[g * mr] = w;
                    uint32_t h = (w & 0x00ff00ffu) + ((w >> 8) & 0x00ff00ffu);
                    sum += (h & 0xffffu) + (h >> 16);
                }
            } else {
                for (; g < full; g++) {
                    uint32_t w = (uint32_t)(row[2 * g] ^ flip) | (uint32_t)(row[2 * g + 1] ^ flip)
                                                                     << 16;
                    d[g * mr] = w;
                    sum += (w & 0xffffu) + (w >> 16);
                }
            }
            for (; g < groups; g++) { /* the last, partial group */
                uint32_t w = 0;
                for (int t = 0; t < kgrp && g * kgrp + t < kc; t++) {
                    uint32_t v = (uint32_t)(row[g * kgrp + t] ^ flip);
                    w |= v << (kgrp == 4 ? 8 * t : 16 * t);
                    sum += v;
                }
                d[g * mr] = w;
            }
            rowsum[p + i] += sum;
        }
}

#if FY_X86
/* The zero-point correction of one row, cr[n] += zb[n] rz - za colsum[n] (mod 2^32),
 * on vectors; returns the first column left for the scalar loop. */
__attribute__((target("avx512f"))) static int64_t zfix_512(uint32_t *cr, const uint32_t *zb,
                                                           const uint32_t *cs, uint32_t rz,
                                                           uint32_t za, int64_t n, int64_t end)
{
    const __m512i r = _mm512_set1_epi32((int)rz), z = _mm512_set1_epi32((int)za);
    for (; n + 16 <= end; n += 16) {
        __m512i v = _mm512_sub_epi32(_mm512_mullo_epi32(_mm512_loadu_si512(zb + n), r),
                                     _mm512_mullo_epi32(_mm512_loadu_si512(cs + n), z));
        _mm512_storeu_si512(cr + n, _mm512_add_epi32(_mm512_loadu_si512(cr + n), v));
    }
    return n;
}

T256 static int64_t zfix_256(uint32_t *cr, const uint32_t *zb, const uint32_t *cs, uint32_t rz,
                             uint32_t za, int64_t n, int64_t end)
{
    const __m256i r = _mm256_set1_epi32((int)rz), z = _mm256_set1_epi32((int)za);
    for (; n + 8 <= end; n += 8) {
        __m256i v =
            _mm256_sub_epi32(_mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(zb + n)), r),
                             _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)(cs + n)), z));
        _mm256_storeu_si256((__m256i *)(cr + n),
                            _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(cr + n)), v));
    }
    return n;
}

#endif

/* Rows [i0, i0 + mc) (mc <= QMC) x columns [j0, j1) of C: each K block of A is
 * packed once and swept across the columns; zero points are applied at the end. */
static void qrun_rows(const qjob *j, int64_t i0, int64_t mc, int64_t j0, int64_t j1)
{
    const fy__qpacked *b = j->b;
    int mr = j->isa == 2 ? MR_VNNI : MR_W, nr = j->isa == 2 ? NR_VNNI : NR_W;
    int kgrp = b->vnni ? 4 : 2;
    size_t esz = b->vnni ? 1 : 2;
    _Alignas(64) uint32_t abuf[QMC * QKC / 2];
    uint32_t rowsum[QMC] = {0};
    /* A read in place (no packing) when nothing needs its row sums or flipped
     * bytes and every k group is whole */
    const int direct = j->isa == 2 && !j->a_signed && b->zb_zero && b->K % 4 == 0;
    for (int64_t k0 = 0; k0 < b->K; k0 += QKC) {
        int64_t kc = b->K - k0 < QKC ? b->K - k0 : QKC, groups = (kc + kgrp - 1) / kgrp;
        if (!direct)
            qpack_a(j, i0, mc, k0, kc, mr, abuf, rowsum);
        for (int64_t jr = j0; jr < j1; jr += nr) {
            int nrr = j1 - jr < nr ? (int)(j1 - jr) : nr;
            const char *bp =
                (const char *)b->data + ((jr / nr) * b->kg + k0) * (int64_t)nr * (int64_t)esz;
            for (int64_t ir = 0; ir < mc; ir += mr) {
                int mrr = mc - ir < mr ? (int)(mc - ir) : mr;
                int32_t *ct = j->c + (i0 + ir) * j->ldc + jr;
                const uint32_t *ap = abuf + (ir / mr) * groups * mr;
#if FY_X86
                if (direct)
                    kd_vnni[mrr](groups, j->a + (i0 + ir) * j->lda + k0, j->lda, bp, ct, j->ldc,
                                 nrr, k0 > 0);
                else if (j->isa == 2)
                    k_vnni[mrr](groups, ap, bp, ct, j->ldc, nrr, k0 > 0);
                else if (j->isa == 1)
                    k_avx2[mrr](groups, ap, bp, ct, j->ldc, nrr, k0 > 0);
                else
#endif
                    qk_c(mrr, groups, ap, bp, ct, j->ldc, nrr, k0 > 0);
            }
        }
    }
    /* (a' - za)(b' - zb) = a'b' - zb rowsum - za colsum + K za zb, modulo 2^32 */
    const uint32_t za = j->za, kza = (uint32_t)b->K * za;
    const uint32_t *zbv = (const uint32_t *)b->zb, *cs = (const uint32_t *)b->colsum;
    const int fix = !(za == 0 && b->zb_zero); /* else nothing to correct */
    const fy__epilogue *ep = j->ep;
    /* The float form's finish fuses the correction, the scales and a per-column
     * epilogue into one pass per row; a per-row bias takes the epilogue after. */
    const int fuse_ep = ep && (!ep->bias || ep->per_col);
    for (int64_t i = 0; i < mc; i++) {
        uint32_t *cr = (uint32_t *)j->c + (i0 + i) * j->ldc;
        /* = zb (K za - rowsum) - za colsum */
        const uint32_t rz = kza - rowsum[i];
        if (j->fout) {
            fy__qrow q = {fix ? (b->zb_zero ? 1 : 2) : 0,
                          rz,
                          za,
                          zbv + j0,
                          cs + j0,
                          j->a_scale,
                          j->b_scale + (j->nbs == 1 ? 0 : j0),
                          j->nbs,
                          ep ? ep->alpha : 0.0f,
                          ep ? ep->beta : 0.0f};
            float *out = (float *)(void *)(cr + j0);
            if (fuse_ep)
                fy__qrow_finish(&q, cr + j0, out, j1 - j0, ep->bias ? ep->bias + j0 : NULL,
                                ep->residual ? ep->residual + (i0 + i) * ep->ldr + j0 : NULL,
                                ep->act);
            else
                fy__qrow_finish(&q, cr + j0, out, j1 - j0, NULL, NULL, FY_ACT_NONE);
            if (ep && !fuse_ep)
                fy__epi_tile(out, j->ldc, i0 + i, j0, 1, j1 - j0, ep);
            continue;
        }
        int64_t n = fix ? j0 : j1;
#if FY_X86
        if (j->isa == 2)
            n = zfix_512(cr, zbv, cs, rz, za, n, j1);
        else if (j->isa == 1)
            n = zfix_256(cr, zbv, cs, rz, za, n, j1);
#endif
        for (; n < j1; n++)
            cr[n] += zbv[n] * rz - za * cs[n];
    }
}

typedef struct qtasks {
    const qjob *j;
    int64_t cols, nb; /* columns per task (a multiple of QNC), tasks along the columns */
} qtasks;

static void qrun_tasks(void *ctx, int64_t begin, int64_t end)
{
    const qtasks *t = ctx;
    const qjob *j = t->j;
    for (int64_t i = begin; i < end; i++) {
        int64_t i0 = (i / t->nb) * QMC, j0 = (i % t->nb) * t->cols;
        int64_t mc = j->M - i0 < QMC ? j->M - i0 : QMC;
        qrun_rows(j, i0, mc, j0, j0 + t->cols < j->b->N ? j0 + t->cols : j->b->N);
    }
}

static void qgemm_run(fy_pool *pool, qjob j)
{
    const fy__qpacked *b = j.b;
    const int64_t M = j.M;
#if FY_X86
    if (b->vnni)
        j.isa = 2;
    else if (fy__isa_active() >= FY_ISA_AVX2)
        j.isa = 1;
#endif
    if (b->K == 0) /* no k block runs: the sums are zero before the zero points */
        for (int64_t i = 0; i < M; i++)
            memset(j.c + i * j.ldc, 0, (size_t)b->N * sizeof *j.c);
    if ((double)M * (double)b->N * (double)b->K < 256 * 1024)
        pool = NULL;
    /* One row block per task, the columns split only as far as the threads need. */
    int64_t mb = (M + QMC - 1) / QMC, nb = (b->N + QNC - 1) / QNC;
    int64_t parts = (2 * (int64_t)fy_pool_threads(pool) + mb - 1) / mb;
    parts = parts < nb ? parts : nb;
    qtasks t = {&j, (nb + parts - 1) / parts * QNC, 0};
    /* Fewer blocks than threads (one row block of at most QNC columns: a batch-32
     * Dense layer): split the columns by panels so every thread has one. */
    const int64_t threads = fy_pool_threads(pool);
    if (threads > 1 && mb * nb < threads) {
        const int64_t nr = j.isa == 2 ? NR_VNNI : NR_W, panels = (b->N + nr - 1) / nr;
        int64_t p2 = threads / mb < panels ? threads / mb : panels;
        t.cols = (panels + p2 - 1) / p2 * nr;
    }
    t.nb = (b->N + t.cols - 1) / t.cols;
    fy_pool_run(pool, mb * t.nb, 1, qrun_tasks, &t);
}

void fy__qgemm(fy_pool *pool, int64_t M, const void *a, int a_signed, int64_t lda, int32_t za,
               const fy__qpacked *b, int32_t *c, int64_t ldc)
{
    if (M <= 0 || b->N <= 0)
        return;
    qjob j = {b, M,    a,    a_signed, lda, (uint32_t)(a_signed ? za + 128 : za), c, ldc, 0,
              0, 0.0f, NULL, 0,        NULL};
    qgemm_run(pool, j);
}

void fy__qgemm_f32(fy_pool *pool, int64_t M, const void *a, int a_signed, int64_t lda, int32_t za,
                   float a_scale, const fy__qpacked *b, const float *b_scale, int64_t b_scale_n,
                   float *c, int64_t ldc, const fy__epilogue *ep)
{
    if (M <= 0 || b->N <= 0)
        return;
    int plain = !ep || (!ep->bias && !ep->residual && ep->act == FY_ACT_NONE);
    qjob j = {b,
              M,
              a,
              a_signed,
              lda,
              (uint32_t)(a_signed ? za + 128 : za),
              (int32_t *)(void *)c,
              ldc,
              0,
              1,
              a_scale,
              b_scale,
              b_scale_n,
              plain ? NULL : ep};
    qgemm_run(pool, j);
}

/* ---- DynamicQuantizeLinear ---- */

/* A rounded value plus zero point to uint8; NaN gives 0, like the reference. */
static uint8_t sat_u8(float v)
{
    return !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

#if FY_X86
/* The AVX-512 forms of minmax_avx2 and quant_avx2 below: 16 floats a step, the
 * same per-element arithmetic (division, round half to even, saturation). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static int
minmax_512(const float *x, int64_t n, float *mn, float *mx)
{
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
    __mmask16 nan = 0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    if (i < n) { /* the tail, masked: zeros do not move a range that holds 0 */
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    float l = _mm512_reduce_min_ps(lo), h = _mm512_reduce_max_ps(hi);
    *mn = l < *mn ? l : *mn;
    *mx = h > *mx ? h : *mx;
    return nan != 0;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void
quant_512(const float *x, int64_t n, float scale, float zp, uint8_t *y)
{
    const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp);
    const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(255.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 q = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), s);
        q = _mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, z), lo), hi);
        _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
    }
}

T256 static int minmax_avx2(const float *x, int64_t n, float *mn, float *mx)
{
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    __m256 nan = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(h, hi);
    int bad = _mm256_movemask_ps(nan) != 0;
    for (int k = 0; k < 8; k++) {
        *mn = l[k] < *mn ? l[k] : *mn;
        *mx = h[k] > *mx ? h[k] : *mx;
    }
    for (; i < n; i++) {
        bad |= isnan(x[i]);
        *mn = x[i] < *mn ? x[i] : *mn;
        *mx = x[i] > *mx ? x[i] : *mx;
    }
    return bad;
}

T256 static void quant_avx2(const float *x, int64_t n, float scale, float zp, uint8_t *y)
{
    const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zp);
    const __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 q = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        q = _mm256_round_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, z), lo), hi);
        __m256i v = _mm256_cvtps_epi32(q);
        __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(y + i), _mm_packus_epi16(w, w));
    }
    for (; i < n; i++)
        y[i] = sat_u8(nearbyintf(x[i] / scale) + zp);
}
#endif

int fy__dynquant_u8(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp)
{
    float mn = 0.0f, mx = 0.0f;
    int bad = 0;
#if FY_X86
    fy__isa isa = fy__isa_active();
    if (isa == FY_ISA_AVX512) {
        bad = minmax_512(x, n, &mn, &mx);
    } else if (isa == FY_ISA_AVX2) {
        bad = minmax_avx2(x, n, &mn, &mx);
    } else
#endif
    {
        for (int64_t i = 0; i < n; i++) {
            bad |= isnan(x[i]);
            mn = x[i] < mn ? x[i] : mn;
            mx = x[i] > mx ? x[i] : mx;
        }
    }
    if (bad)
        return -1;
    float s = (mx - mn) / 255.0f, z = 0.0f;
    if (s > 0.0f && isfinite(s)) {
        z = sat_u8(nearbyintf(0.0f - mn / s));
    }
    *scale = s;
    *zp = (uint8_t)z;
    if (!(s > 0.0f)) {
        memset(y, 0, (size_t)n);
        return 0;
    }
#if FY_X86
    if (isa == FY_ISA_AVX512) {
        quant_512(x, n, s, z, y);
        return 0;
    }
    if (isa == FY_ISA_AVX2) {
        quant_avx2(x, n, s, z, y);
        return 0;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        y[i] = sat_u8(nearbyintf(x[i] / s) + z);
    return 0;
}
