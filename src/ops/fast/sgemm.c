/* SPDX-License-Identifier: MIT */
/* Packed float32 GEMM: operands are copied into MR-row / NR-column panels that a
 * register-blocked microkernel streams through (the BLIS/GotoBLAS scheme), C is
 * cut into MC x NC blocks run in parallel on the pool, and the epilogue (bias,
 * residual, activation) is applied to each microtile while it is still in L1. */
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "fast_int.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

/* ---- microkernels ----
 * kern(kc, a, b, c, ldc, nr, acc): C[0..mr) x [0..nr) (=|+=) A-panel . B-panel,
 * where the A panel holds kc steps of MR values and the B panel kc steps of NR. One
 * function per row count mr, so short M (batch 1) does not pay for MR rows. */

#if FY_X86
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define T256 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* AVX-512: 12 x 32 tile in 24 zmm accumulators. */
/* A's element (i, k) is at a[i * ai + k * ak]: packed panels (ai 1, ak MR) or, for
 * the direct kernels, A in place (ai its row stride, ak 1). */
T512 INLINE void k512x(const int mr, int64_t kc, const float *a, const int64_t ai, const int64_t ak,
                       const float *b, float *c, int64_t ldc, int nr, int acc)
{
    __m512 c0[FY_MR512], c1[FY_MR512];
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            __m512 av = _mm512_set1_ps(a[i * ai]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
        a += ak;
        b += 32;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    if (nr == 32) { /* full tiles: plain stores, which later loads can forward from */
#pragma GCC unroll 12
        for (int i = 0; i < mr; i++) {
            float *cr = c + i * ldc;
            if (acc) {
                c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(cr));
                c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(cr + 16));
            }
            _mm512_storeu_ps(cr, c0[i]);
            _mm512_storeu_ps(cr + 16, c1[i]);
        }
        return;
    }
#pragma GCC unroll 12
    for (int i = 0; i < mr; i++) {
        float *cr = c + i * ldc;
        if (acc) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, cr));
            c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, c0[i]);
        _mm512_mask_storeu_ps(cr + 16, m1, c1[i]);
    }
}

T512 INLINE void k512(const int mr, int64_t kc, const float *a, const float *b, float *c,
                      int64_t ldc, int nr, int acc)
{
    k512x(mr, kc, a, 1, FY_MR512, b, c, ldc, nr, acc);
}

/* AVX2: 6 x 16 tile in 12 ymm accumulators; partial tiles go through a buffer. */
T256 INLINE void k256(const int mr, int64_t kc, const float *a, const float *b, float *c,
                      int64_t ldc, int nr, int acc)
{
    __m256 c0[FY_MR256], c1[FY_MR256];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++)
        c0[i] = c1[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
        a += FY_MR256;
        b += 16;
    }
    if (nr == 16) {
#pragma GCC unroll 6
        for (int i = 0; i < mr; i++) {
            float *cr = c + i * ldc;
            if (acc) {
                c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cr));
                c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cr + 8));
            }
            _mm256_storeu_ps(cr, c0[i]);
            _mm256_storeu_ps(cr + 8, c1[i]);
        }
        return;
    }
    float t[16];
#pragma GCC unroll 6
    for (int i = 0; i < mr; i++) {
        _mm256_storeu_ps(t, c0[i]);
        _mm256_storeu_ps(t + 8, c1[i]);
        float *cr = c + i * ldc;
        for (int j = 0; j < nr; j++)
            cr[j] = acc ? cr[j] + t[j] : t[j];
    }
}

#define K512(n)                                                                                    \
    T512 static void k512_##n(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,   \
                              int nr, int acc)                                                     \
    {                                                                                              \
        k512(n, kc, a, b, c, ldc, nr, acc);                                                        \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= FY_MR512, "row count")
#define K256(n)                                                                                    \
    T256 static void k256_##n(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,   \
                              int nr, int acc)                                                     \
    {                                                                                              \
        k256(n, kc, a, b, c, ldc, nr, acc);                                                        \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= FY_MR256, "row count")
/* One instantiation per row count. */
K512(1);
K512(2);
K512(3);
K512(4);
K512(5);
K512(6);
K512(7);
K512(8);
K512(9);
K512(10);
K512(11);
K512(12);
#define K512D(n)                                                                                   \
    T512 static void k512d_##n(int64_t kc, const float *a, int64_t lda, const float *b, float *c,  \
                               int64_t ldc, int nr, int acc)                                       \
    {                                                                                              \
        k512x(n, kc, a, lda, 1, b, c, ldc, nr, acc);                                               \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= FY_MR512, "row count")
K512D(1);
K512D(2);
K512D(3);
K512D(4);
K512D(5);
K512D(6);
K512D(7);
K512D(8);
K512D(9);
K512D(10);
K512D(11);
K512D(12);
/* The AVX-512 kernels that read A in place (row-major, unit column stride): a
 * few-row A (a batch of 32 against packed weights) is not worth packing. */
static const fy__ukernel_d kd512[FY_MR512 + 1] = {NULL,     k512d_1,  k512d_2, k512d_3, k512d_4,
                                                  k512d_5,  k512d_6,  k512d_7, k512d_8, k512d_9,
                                                  k512d_10, k512d_11, k512d_12};
K256(1);
K256(2);
K256(3);
K256(4);
K256(5);
K256(6);
#endif

/* Portable C: 4 x 8 tile; compilers vectorize the inner loop with the baseline ISA. */
static void kc_any(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int mr,
                   int nr, int acc)
{
    float t[FY_MRC][FY_NRC] = {{0}};
    for (int64_t k = 0; k < kc; k++) {
        for (int i = 0; i < FY_MRC; i++)
            for (int j = 0; j < FY_NRC; j++)
                t[i][j] += a[i] * b[j];
        a += FY_MRC;
        b += FY_NRC;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = acc ? c[i * ldc + j] + t[i][j] : t[i][j];
}

#define KC_(n)                                                                                     \
    static void kc_##n(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int nr,  \
                       int acc)                                                                    \
    {                                                                                              \
        kc_any(kc, a, b, c, ldc, n, nr, acc);                                                      \
    }                                                                                              \
    _Static_assert(n >= 1 && n <= FY_MRC, "row count")
KC_(1);
KC_(2);
KC_(3);
KC_(4);

static const fy__kset kset_c = {FY_ISA_C, FY_MRC, FY_NRC, {NULL, kc_1, kc_2, kc_3, kc_4}};
#if FY_X86
static const fy__kset kset_256 = {
    FY_ISA_AVX2, FY_MR256, 16, {NULL, k256_1, k256_2, k256_3, k256_4, k256_5, k256_6}};
static const fy__kset kset_512 = {FY_ISA_AVX512,
                                  FY_MR512,
                                  32,
                                  {NULL, k512_1, k512_2, k512_3, k512_4, k512_5, k512_6, k512_7,
                                   k512_8, k512_9, k512_10, k512_11, k512_12}};
#endif

const fy__kset *fy__kset_for(fy__isa isa)
{
#if FY_X86
    if (isa == FY_ISA_AVX512)
        return &kset_512;
    if (isa == FY_ISA_AVX2)
        return &kset_256;
#endif
    (void)isa;
    return &kset_c;
}

/* ---- epilogue ---- */

/* ---- packing ---- */

#if FY_X86
/* Rows [0, 4) x k in [0, kc8) (kc8 a multiple of 8) of A (unit column stride) into
 * a panel of mrp rows: per 8 k, a 4 x 4 transpose in each 128-bit half, each
 * transposed column of four rows stored where the panel wants it. The scalar
 * loop's stores of one float each at mrp-float steps were 3.5% of a BERT batch-1
 * run. Moves only: the panel is bit-identical. */
T256 static void pack4_avx(float *dst, int mrp, const float *a, int64_t rsa, int64_t kc8)
{
    for (int64_t k = 0; k < kc8; k += 8) {
        __m256 x0 = _mm256_loadu_ps(a + k), x1 = _mm256_loadu_ps(a + rsa + k);
        __m256 x2 = _mm256_loadu_ps(a + 2 * rsa + k), x3 = _mm256_loadu_ps(a + 3 * rsa + k);
        __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        __m256 u[4] = {_mm256_shuffle_ps(t0, t2, 0x44), _mm256_shuffle_ps(t0, t2, 0xee),
                       _mm256_shuffle_ps(t1, t3, 0x44), _mm256_shuffle_ps(t1, t3, 0xee)};
        float *d = dst + k * mrp;
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            _mm_storeu_ps(d + j * mrp, _mm256_castps256_ps128(u[j]));
            _mm_storeu_ps(d + (j + 4) * mrp, _mm256_extractf128_ps(u[j], 1));
        }
    }
}
#endif

void fy__pack_a_block(float *dst, int mrp, const float *a, int64_t rsa, int64_t csa, int64_t m,
                      int64_t kc)
{
    if (rsa == 1 && csa != 1) {
        /* A stored transposed (the transposed Winograd GEMMs' V, transA): the rows
         * of a panel at one k are adjacent, so copy them as a run per k rather than
         * gathering each row with stride csa (the gather was 12% of a 512-channel
         * 7 x 7 Winograd conv at batch 1) */
        for (int64_t p = 0; p < m; p += mrp) {
            int rows = m - p < mrp ? (int)(m - p) : mrp;
            for (int64_t k = 0; k < kc; k++) {
                const float *src = a + p + k * csa;
                float *d = dst + k * mrp;
                if (rows == 12 && mrp == 12) {
                    memcpy(d, src, 12 * sizeof *d); /* constant size: inline moves */
                } else {
                    for (int i = 0; i < rows; i++)
                        d[i] = src[i];
                    for (int i = rows; i < mrp; i++)
                        d[i] = 0;
                }
            }
            dst += kc * mrp;
        }
        return;
    }
#if FY_X86
    int vec = csa == 1 && kc >= 8 && fy__isa_active() >= FY_ISA_AVX2;
#endif
    for (int64_t p = 0; p < m; p += mrp) {
        int rows = m - p < mrp ? (int)(m - p) : mrp, i0 = 0;
#if FY_X86
        if (vec) { /* groups of four rows, 8 k at a time; the rest below */
            int64_t kc8 = kc & ~(int64_t)7;
            for (; i0 + 4 <= rows; i0 += 4) {
                const float *src = a + (p + i0) * rsa;
                pack4_avx(dst + i0, mrp, src, rsa, kc8);
                for (int i = 0; i < 4; i++)
                    for (int64_t k = kc8; k < kc; k++)
                        dst[k * mrp + i0 + i] = src[i * rsa + k];
            }
        }
#endif
        for (int i = i0; i < rows; i++) {
            const float *src = a + (p + i) * rsa;
            for (int64_t k = 0; k < kc; k++)
                dst[k * mrp + i] = src[k * csa];
        }
        for (int i = rows; i < mrp; i++)
            for (int64_t k = 0; k < kc; k++)
                dst[k * mrp + i] = 0;
        dst += kc * mrp;
    }
}

void fy__pack_b_block(float *dst, int nrp, const float *b, int64_t rsb, int64_t csb, int64_t kc,
                      int64_t n)
{
    for (int64_t q = 0; q < n; q += nrp) {
        int cols = n - q < nrp ? (int)(n - q) : nrp;
        for (int64_t k = 0; k < kc; k++) {
            const float *src = b + k * rsb + q * csb;
            float *d = dst + k * nrp;
            if (csb == 1 && cols == 32 && nrp == 32) {
                memcpy(d, src, 32 * sizeof *d); /* constant size: inline moves, no call */
            } else if (csb == 1 && cols == 16 && nrp == 16) {
                memcpy(d, src, 16 * sizeof *d);
            } else if (csb == 1) {
                memcpy(d, src, (size_t)cols * sizeof *d);
            } else {
                for (int j = 0; j < cols; j++)
                    d[j] = src[j * csb];
            }
            for (int j = cols; j < nrp; j++)
                d[j] = 0;
        }
        dst += kc * nrp;
    }
}

static fy__packed *packed_new(fy__isa isa, int side, int64_t rows, int64_t cols, int64_t groups)
{
    const fy__kset *ks = fy__kset_for(isa);
    int r = side == 'A' ? ks->mr : ks->nr;
    int64_t outer = side == 'A' ? rows : cols, k = side == 'A' ? cols : rows;
    uint64_t panels = (uint64_t)(outer + r - 1) / (uint64_t)r, per, all;
    if (fy__mul_overflow_u64(panels * (uint64_t)r, (uint64_t)(k > 0 ? k : 1), &per) ||
        fy__mul_overflow_u64(per, (uint64_t)groups, &all) || all > SIZE_MAX / sizeof(float))
        return NULL;
    fy__packed *p = fy__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->data = fy__malloc((size_t)all * sizeof(float) + 64);
    if (!p->data) {
        fy__free(p);
        return NULL;
    }
    p->isa = ks->isa;
    p->side = side;
    p->r = r;
    p->rows = rows;
    p->cols = cols;
    p->groups = groups;
    p->gstride = (int64_t)per;
    return p;
}

fy__packed *fy__packed_make(int side, int64_t rows, int64_t cols, int64_t groups)
{
    return packed_new(fy__isa_active(), side, rows, cols, groups);
}

int fy__pack_a(fy__packed **out, int64_t M, int64_t K, const float *a, int64_t rsa, int64_t csa)
{
    fy__packed *p = fy__packed_make('A', M, K, 1);
    if (!p)
        return FY_ENOMEM;
    fy__pack_a_block(p->data, p->r, a, rsa, csa, M, K);
    *out = p;
    return FY_OK;
}

int fy__pack_b(fy__packed **out, int64_t K, int64_t N, const float *b, int64_t rsb, int64_t csb)
{
    fy__packed *p = fy__packed_make('B', K, N, 1);
    if (!p)
        return FY_ENOMEM;
    fy__pack_b_block(p->data, p->r, b, rsb, csb, K, N);
    *out = p;
    return FY_OK;
}

void fy__packed_free(fy__packed *p)
{
    if (!p)
        return;
    fy__free(p->data);
    fy__free(p);
}

int64_t fy__packed_rows(const fy__packed *p)
{
    return p->rows;
}
int64_t fy__packed_cols(const fy__packed *p)
{
    return p->cols;
}
int fy__packed_wino(const fy__packed *p)
{
    return p->wino;
}

/* ---- driver ---- */

void fy__pack_b_strided(const void *src, int nrp, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                        float *dst)
{
    const fy__bview *v = src;
    fy__pack_b_block(dst, nrp, v->b + k0 * v->rsb + j0 * v->csb, v->rsb, v->csb, kc, nc);
}

/* Rows [i0, i1) x one NC block of columns of C, over all of K, for a B packed on
 * the fly: each KC x NC block of B is packed once and used for every MC block of
 * rows. */
static void run_block(const fy__gemm *g, int64_t i0, int64_t i1, int64_t j0)
{
    const fy__kset *ks = g->ks;
    int mrp = ks->mr, nrp = ks->nr;
    _Alignas(64) float abuf[FY_MC * FY_KC];
    _Alignas(64) float bbuf[FY_KC * FY_NC];
    int64_t nc = g->N - j0 < FY_NC ? g->N - j0 : FY_NC;
    for (int64_t k0 = 0; k0 < g->K; k0 += FY_KC) {
        int64_t kc = g->K - k0 < FY_KC ? g->K - k0 : FY_KC;
        g->pack_b(g->bsrc, nrp, k0, kc, j0, nc, bbuf);
        const float *bp = bbuf;
        const int64_t bstride = kc * nrp; /* floats from one B panel to the next */
        int last = k0 + kc >= g->K;
        for (int64_t ic = i0; ic < i1; ic += FY_MC) {
            int64_t mc = i1 - ic < FY_MC ? i1 - ic : FY_MC;
            const float *ap;
            int64_t astride;
            if (g->pa) {
                ap = g->pa + (ic / mrp) * g->K * mrp + k0 * mrp;
                astride = g->K * mrp;
            } else {
                fy__pack_a_block(abuf, mrp, g->a + ic * g->rsa + k0 * g->csa, g->rsa, g->csa, mc,
                                 kc);
                ap = abuf;
                astride = kc * mrp;
            }
            for (int64_t jr = 0; jr < nc; jr += nrp) {
                int nr = nc - jr < nrp ? (int)(nc - jr) : nrp;
                const float *bpan = bp + (jr / nrp) * bstride;
                for (int64_t ir = 0; ir < mc; ir += mrp) {
                    int mr = mc - ir < mrp ? (int)(mc - ir) : mrp;
                    float *ct = g->c + (ic + ir) * g->ldc + j0 + jr;
                    ks->k[mr](kc, ap + (ir / mrp) * astride, bpan, ct, g->ldc, nr, k0 > 0);
                    if (last && g->ep)
                        fy__epi_tile(ct, g->ldc, ic + ir, j0 + jr, mr, nr, g->ep);
                }
            }
        }
    }
}

/* One MC block of rows [i0, i1) x columns [j0, j1) of C when B is pre-packed:
 * each KC block of A is packed once and swept across all the columns (B's panels
 * are read in place), instead of once per NC block. */
/* K block of run_rows: twice the on-the-fly path's FY_KC. B's panels are read in
 * place there, so only A's block (192 KB) is on the stack; fewer passes over C
 * (BERT's K = 384 products in one) took 2-3% off a BERT batch-1 run against 256
 * (128: 2% slower; 384 and 512 the same within the noise). */
#define KC_ROWS 512

static void run_rows(const fy__gemm *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const fy__kset *ks = g->ks;
    int mrp = ks->mr, nrp = ks->nr;
    _Alignas(64) float abuf[FY_MC * KC_ROWS];
    int64_t mc = i1 - i0;
    for (int64_t k0 = 0; k0 < g->K; k0 += KC_ROWS) {
        int64_t kc = g->K - k0 < KC_ROWS ? g->K - k0 : KC_ROWS;
        const float *ap;
        int64_t astride;
        const fy__ukernel_d *kd = NULL;
#if FY_X86
        /* Only for narrow products (packing A is then a large share of the work:
         * 13% of the Fashion-MNIST batch-32 run with N = 128), and not when A's
         * rows are a multiple of 2 KB apart: the 12 rows of a tile would then share
         * a few L1 sets (32 x 4096 x 4096 ran 1.4-2x slower read in place). */
        /* Also when the threads split the columns (few rows): each task would pack
         * the same rows of A again (at batch 1 on 2 threads, A's packing went from
         * 4.9% to 8.6% of a BERT run). */
        if (!g->pa && g->csa == 1 && ks->isa == FY_ISA_AVX512 && (g->N <= 256 || j1 - j0 < g->N) &&
            g->rsa % 512 != 0)
            kd = kd512;
#endif
        if (kd) {
            ap = g->a + i0 * g->rsa + k0;
            astride = mrp * g->rsa;
        } else if (g->pa) {
            ap = g->pa + (i0 / mrp) * g->K * mrp + k0 * mrp;
            astride = g->K * mrp;
        } else {
            fy__pack_a_block(abuf, mrp, g->a + i0 * g->rsa + k0 * g->csa, g->rsa, g->csa, mc, kc);
            ap = abuf;
            astride = kc * mrp;
        }
        int last = k0 + kc >= g->K;
        for (int64_t jr = j0; jr < j1; jr += nrp) {
            int nr = j1 - jr < nrp ? (int)(j1 - jr) : nrp;
            const float *bpan = g->pb + (jr / nrp) * g->K * nrp + k0 * nrp;
            for (int64_t ir = 0; ir < mc; ir += mrp) {
                int mr = mc - ir < mrp ? (int)(mc - ir) : mrp;
                float *ct = g->c + (i0 + ir) * g->ldc + jr;
                if (kd)
                    kd[mr](kc, ap + (ir / mrp) * astride, g->rsa, bpan, ct, g->ldc, nr, k0 > 0);
                else
                    ks->k[mr](kc, ap + (ir / mrp) * astride, bpan, ct, g->ldc, nr, k0 > 0);
                if (last && g->ep)
                    fy__epi_tile(ct, g->ldc, i0 + ir, jr, mr, nr, g->ep);
            }
        }
    }
}

typedef struct tasks {
    const fy__gemm *g;
    int64_t rows; /* rows of C per task, a multiple of FY_MC */
    int64_t cols; /* columns of C per task, a multiple of FY_NC */
    int64_t nb;   /* tasks along the columns */
} tasks;

static void run_tasks(void *ctx, int64_t begin, int64_t end)
{
    const tasks *t = ctx;
    const fy__gemm *g = t->g;
    for (int64_t i = begin; i < end; i++) {
        int64_t i0 = (i / t->nb) * t->rows, i1 = i0 + t->rows < g->M ? i0 + t->rows : g->M;
        int64_t j0 = (i % t->nb) * t->cols, j1 = j0 + t->cols < g->N ? j0 + t->cols : g->N;
        if (g->pb)
            run_rows(g, i0, i1, j0, j1);
        else
            run_block(g, i0, i1, j0);
    }
}

/* Products below this many multiply-adds run on the calling thread: waking
 * workers costs more than they save. */
#define PAR_MIN_FLOPS (64 * 1024)
/* A task covers at most this many MC blocks of rows, so its slice of C stays in
 * L2 between K blocks. */
#define MAX_GROUP 4

void fy__gemm_run(fy_pool *pool, const fy__gemm *g)
{
    if (g->M <= 0 || g->N <= 0)
        return;
    if (g->K <= 0) {
        for (int64_t i = 0; i < g->M; i++) {
            memset(g->c + i * g->ldc, 0, (size_t)g->N * sizeof(float));
            if (g->ep)
                fy__epi_tile(g->c + i * g->ldc, g->ldc, i, 0, 1, g->N, g->ep);
        }
        return;
    }
    if ((double)g->M * (double)g->N * (double)g->K < PAR_MIN_FLOPS)
        pool = NULL;
    int64_t mb = (g->M + FY_MC - 1) / FY_MC, nb = (g->N + FY_NC - 1) / FY_NC;
    int64_t want = 2 * (int64_t)fy_pool_threads(pool);
    tasks t = {g, FY_MC, FY_NC, nb};
    if (g->pb) {
        /* One row block per task, the columns split only as far as the threads need. */
        int64_t parts = (want + mb - 1) / mb;
        parts = parts < nb ? parts : nb;
        t.cols = (nb + parts - 1) / parts * FY_NC;
        /* Fewer blocks than threads (a batch-32 Dense layer is one block of 32 rows
         * and 128 columns): split the columns by kernel panels so that every thread
         * has some; each element is still computed whole by one task. */
        const int64_t threads = fy_pool_threads(pool), nr = g->ks->nr;
        if (threads > 1 && mb * nb < threads) {
            int64_t panels = (g->N + nr - 1) / nr, per = threads / mb;
            per = per < panels ? per : panels;
            t.cols = (panels + per - 1) / per * nr;
        }
        t.nb = (g->N + t.cols - 1) / t.cols;
    } else {
        /* Group row blocks per task (B packed once per group) while leaving at least
         * two tasks per thread to balance the load. */
        int64_t gsz = mb < MAX_GROUP ? mb : MAX_GROUP;
        while (gsz > 1 && ((mb + gsz - 1) / gsz) * nb < want)
            gsz--;
        t.rows = gsz * FY_MC;
        mb = (mb + gsz - 1) / gsz;
    }
    fy_pool_run(pool, mb * t.nb, 1, run_tasks, &t);
}

static int no_ep(const fy__epilogue *ep)
{
    return !ep || (!ep->bias && !ep->residual && ep->act == FY_ACT_NONE);
}

void fy__sgemm(fy_pool *pool, int64_t M, int64_t N, int64_t K, const float *a, int64_t rsa,
               int64_t csa, const float *b, int64_t rsb, int64_t csb, float *c, int64_t ldc,
               const fy__epilogue *ep)
{
    fy__bview bv = {b, rsb, csb};
    fy__gemm g = {fy__kset_for(fy__isa_active()),
                  M,
                  N,
                  K,
                  a,
                  rsa,
                  csa,
                  NULL,
                  NULL,
                  fy__pack_b_strided,
                  &bv,
                  c,
                  ldc,
                  no_ep(ep) ? NULL : ep};
    fy__gemm_run(pool, &g);
}

void fy__sgemm_pa(fy_pool *pool, const fy__packed *a, int64_t N, const float *b, int64_t rsb,
                  int64_t csb, float *c, int64_t ldc, const fy__epilogue *ep)
{
    fy__bview bv = {b, rsb, csb};
    fy__gemm g = {fy__kset_for(a->isa),
                  a->rows,
                  N,
                  a->cols,
                  NULL,
                  0,
                  0,
                  a->data,
                  NULL,
                  fy__pack_b_strided,
                  &bv,
                  c,
                  ldc,
                  no_ep(ep) ? NULL : ep};
    fy__gemm_run(pool, &g);
}

void fy__sgemm_pb(fy_pool *pool, int64_t M, const float *a, int64_t rsa, int64_t csa,
                  const fy__packed *b, float *c, int64_t ldc, const fy__epilogue *ep)
{
    fy__gemm g = {
        fy__kset_for(b->isa), M, b->cols, b->rows, a, rsa, csa, NULL, b->data, NULL, NULL, c, ldc,
        no_ep(ep) ? NULL : ep};
    fy__gemm_run(pool, &g);
}
