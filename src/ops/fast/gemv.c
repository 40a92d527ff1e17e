/* SPDX-License-Identifier: MIT */
/* Few-row products on packed weights (gemv.h). The packed operand holds NR-column
 * panels, each K rows of NR floats in order, so a task reading a group of panels
 * reads each panel front to back once: one row of A is broadcast per k and
 * multiplied into the group's columns, held in registers (AVX-512: four 32-column
 * panels, 128 columns, in eight zmm accumulators). The inputs are scanned once
 * per block of K for their nonzero positions, and only those rows of the panels
 * are read: after a Relu (and a max pool of one) a third or more of a layer's
 * inputs are zero, and at batch 1 the time is the weight bytes read. Tasks are
 * groups of panels, so two threads each stream their own half of the weights. */
#include <math.h>
#include <string.h>

#include "../../core/pool.h"
#include "fast_int.h"
#include "gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#define KBLK 512 /* inputs scanned for nonzeros at a time */

int fy__packed_finite(const fy__packed *b)
{
    int64_t panels = (b->cols + b->r - 1) / b->r, n = panels * b->r * b->rows;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(b->data[i]))
            return 0;
    return 1;
}

typedef struct gctx {
    int64_t M, lda, K, N, r, panels, per_task;
    fy__isa isa; /* the packing's */
    const float *a;
    const float *b; /* panel p at b + p * K * r */
    int skip;
    float *c;
    const fy__epilogue *ep;
} gctx;

/* Positions k in [k0, k0 + kn) to read: all of them, or those where some row of A
 * is nonzero. Returns their count. */
static int64_t positions(const gctx *g, int64_t k0, int64_t kn, int32_t *idx)
{
    int64_t n = 0;
    if (!g->skip) {
        for (int64_t k = 0; k < kn; k++)
            idx[k] = (int32_t)(k0 + k);
        return kn;
    }
    for (int64_t k = 0; k < kn; k++) {
        int nz = 0;
        for (int64_t m = 0; m < g->M; m++)
            nz |= g->a[m * g->lda + k0 + k] != 0.0f;
        idx[n] = (int32_t)(k0 + k);
        n += nz;
    }
    return n;
}

/* Results of rows [0, M) x columns [j0, j0 + cols) from tmp (row stride ts): bias,
 * residual, activation, as SGEMM's epilogue does. */
static void finish(const gctx *g, const float *tmp, int64_t ts, int64_t j0, int64_t cols)
{
    const fy__epilogue *ep = g->ep;
    for (int64_t m = 0; m < g->M; m++) {
        float *y = g->c + m * g->N + j0;
        for (int64_t j = 0; j < cols; j++) {
            float v = tmp[m * ts + j];
            if (ep && ep->bias)
                v += ep->bias[j0 + j];
            if (ep && ep->residual)
                v += ep->residual[m * ep->ldr + j0 + j];
            y[j] = v;
        }
        fy__act_apply(y, cols, ep);
    }
}

/* Portable C: one panel at a time, every row. */
static void panel_c(const gctx *g, int64_t p, int32_t *idx)
{
    const int64_t r = g->r;
    float acc[FY_GEMV_MAX_ROWS][32];
    memset(acc, 0, sizeof acc);
    const float *bp = g->b + p * g->K * r;
    for (int64_t k0 = 0; k0 < g->K; k0 += KBLK) {
        int64_t kn = g->K - k0 < KBLK ? g->K - k0 : KBLK, n = positions(g, k0, kn, idx);
        for (int64_t i = 0; i < n; i++) {
            const float *w = bp + (int64_t)idx[i] * r;
            for (int64_t m = 0; m < g->M; m++) {
                float x = g->a[m * g->lda + idx[i]];
                for (int64_t j = 0; j < r; j++)
                    acc[m][j] += x * w[j];
            }
        }
    }
    int64_t j0 = p * r, cols = g->N - j0 < r ? g->N - j0 : r;
    finish(g, &acc[0][0], 32, j0, cols);
}

#if FY_X86
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

/* positions() for one row with AVX-512: 16 compares, one compress per step. */
T512 static int64_t positions1_512(const float *a, int64_t k0, int64_t kn, int32_t *idx)
{
    int64_t n = 0, k = 0;
    __m512i step = _mm512_set1_epi32(16);
    __m512i ks =
        _mm512_add_epi32(_mm512_set1_epi32((int32_t)k0),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (; k + 16 <= kn; k += 16) {
        __mmask16 nz =
            _mm512_cmp_ps_mask(_mm512_loadu_ps(a + k0 + k), _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_si512(idx + n, _mm512_maskz_compress_epi32(nz, ks));
        n += __builtin_popcount(nz);
        ks = _mm512_add_epi32(ks, step);
    }
    for (; k < kn; k++) {
        idx[n] = (int32_t)(k0 + k);
        n += a[k0 + k] != 0.0f;
    }
    return n;
}

/* One row, up to four 32-column panels [p, p + np) in eight accumulators. */
T512 static void row4_512(const gctx *g, int64_t p, int64_t np, int32_t *idx)
{
    const int64_t K = g->K;
    const float *b0 = g->b + p * K * 32;
    const float *b1 = np > 1 ? b0 + K * 32 : b0, *b2 = np > 2 ? b0 + 2 * K * 32 : b0;
    const float *b3 = np > 3 ? b0 + 3 * K * 32 : b0;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    const float *a = g->a;
    for (int64_t k0 = 0; k0 < K; k0 += KBLK) {
        int64_t kn = K - k0 < KBLK ? K - k0 : KBLK;
        int64_t n = g->skip ? positions1_512(a, k0, kn, idx) : positions(g, k0, kn, idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t o = (int64_t)idx[i] * 32;
            __m512 x = _mm512_set1_ps(a[idx[i]]);
            c0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + o), c0);
            c1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + o + 16), c1);
            c2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + o), c2);
            c3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + o + 16), c3);
            c4 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + o), c4);
            c5 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + o + 16), c5);
            c6 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + o), c6);
            c7 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + o + 16), c7);
        }
    }
    _Alignas(64) float tmp[128];
    _mm512_store_ps(tmp, c0);
    _mm512_store_ps(tmp + 16, c1);
    _mm512_store_ps(tmp + 32, c2);
    _mm512_store_ps(tmp + 48, c3);
    _mm512_store_ps(tmp + 64, c4);
    _mm512_store_ps(tmp + 80, c5);
    _mm512_store_ps(tmp + 96, c6);
    _mm512_store_ps(tmp + 112, c7);
    int64_t j0 = p * 32, cols = g->N - j0 < np * 32 ? g->N - j0 : np * 32;
    finish(g, tmp, 128, j0, cols);
}

/* Up to four rows, one 32-column panel. */
T512 static void rows_512(const gctx *g, int64_t p, int32_t *idx)
{
    const int64_t K = g->K, lda = g->lda;
    const float *bp = g->b + p * K * 32;
    const float *a0 = g->a, *a1 = g->M > 1 ? a0 + lda : a0, *a2 = g->M > 2 ? a0 + 2 * lda : a0;
    const float *a3 = g->M > 3 ? a0 + 3 * lda : a0;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int64_t k0 = 0; k0 < K; k0 += KBLK) {
        int64_t kn = K - k0 < KBLK ? K - k0 : KBLK, n = positions(g, k0, kn, idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = idx[i];
            __m512 w0 = _mm512_loadu_ps(bp + k * 32), w1 = _mm512_loadu_ps(bp + k * 32 + 16);
            __m512 x0 = _mm512_set1_ps(a0[k]), x1 = _mm512_set1_ps(a1[k]);
            __m512 x2 = _mm512_set1_ps(a2[k]), x3 = _mm512_set1_ps(a3[k]);
            c0 = _mm512_fmadd_ps(x0, w0, c0);
            c1 = _mm512_fmadd_ps(x0, w1, c1);
            c2 = _mm512_fmadd_ps(x1, w0, c2);
            c3 = _mm512_fmadd_ps(x1, w1, c3);
            c4 = _mm512_fmadd_ps(x2, w0, c4);
            c5 = _mm512_fmadd_ps(x2, w1, c5);
            c6 = _mm512_fmadd_ps(x3, w0, c6);
            c7 = _mm512_fmadd_ps(x3, w1, c7);
        }
    }
    _Alignas(64) float tmp[FY_GEMV_MAX_ROWS * 32];
    _mm512_store_ps(tmp, c0);
    _mm512_store_ps(tmp + 16, c1);
    _mm512_store_ps(tmp + 32, c2);
    _mm512_store_ps(tmp + 48, c3);
    _mm512_store_ps(tmp + 64, c4);
    _mm512_store_ps(tmp + 80, c5);
    _mm512_store_ps(tmp + 96, c6);
    _mm512_store_ps(tmp + 112, c7);
    int64_t j0 = p * 32, cols = g->N - j0 < 32 ? g->N - j0 : 32;
    finish(g, tmp, 32, j0, cols);
}
#endif

static void run_tasks(void *ctx, int64_t begin, int64_t end)
{
    const gctx *g = ctx;
    int32_t idx[KBLK];
    for (int64_t t = begin; t < end; t++) {
        int64_t p0 = t * g->per_task,
                p1 = p0 + g->per_task < g->panels ? p0 + g->per_task : g->panels;
#if FY_X86
        if (g->isa == FY_ISA_AVX512 && g->r == 32) {
            if (g->M == 1)
                for (int64_t p = p0; p < p1; p += 4)
                    row4_512(g, p, p1 - p < 4 ? p1 - p : 4, idx);
            else
                for (int64_t p = p0; p < p1; p++)
                    rows_512(g, p, idx);
            continue;
        }
#endif
        for (int64_t p = p0; p < p1; p++)
            panel_c(g, p, idx);
    }
}

/* Below this many multiply-adds the calling thread does it all. */
#define PAR_MIN_MACS (64 * 1024)

void fy__gemv_packed(fy_pool *pool, int64_t M, const float *a, int64_t lda, const fy__packed *b,
                     int skip_zero, float *c, const fy__epilogue *ep)
{
    gctx g = {M, lda,     b->rows,   b->cols, b->r, (b->cols + b->r - 1) / b->r, 1, b->isa,
              a, b->data, skip_zero, c,       ep};
    if (M <= 0 || g.N <= 0)
        return;
    if ((double)M * (double)g.K * (double)g.N < PAR_MIN_MACS)
        pool = NULL;
    /* as few tasks as there are threads, each a run of whole panels */
    int64_t threads = fy_pool_threads(pool);
    g.per_task = (g.panels + threads - 1) / threads;
    fy_pool_run(pool, (g.panels + g.per_task - 1) / g.per_task, 1, run_tasks, &g);
}
