/* SPDX-License-Identifier: MIT */
/* Few-row products on a row-major copy of the weights (gemv.h). A task is a block
 * of columns; for each input position k it multiplies the broadcast A[.., k] into
 * the block's part of weight row k, so a block of 128 columns reads 512
 * contiguous bytes per k and all of B in storage order. The inputs are scanned
 * once per block of K for their nonzero positions (AVX-512: 16 compares and one
 * compress per step) and only those weight rows are read. With more than one
 * thread the columns are cut into as many blocks as threads, each thread
 * streaming its own slice of every row. */
#include <math.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#define KBLK 512 /* inputs scanned for nonzeros at a time */

int fy__rowmajor_pack(fy__rowmajor **out, int64_t K, int64_t N, const float *b, int64_t rsb,
                      int64_t csb)
{
    int64_t ld = (N + 15) / 16 * 16;
    if (K < 0 || N < 0 || (K > 0 && ld > (int64_t)(SIZE_MAX / sizeof(float)) / K))
        return FY_ENOMEM;
    fy__rowmajor *p = fy__calloc(1, sizeof *p);
    float *w = fy__calloc((size_t)(K * ld + 16), sizeof *w);
    if (!p || !w) {
        fy__free(p);
        fy__free(w);
        return FY_ENOMEM;
    }
    int finite = 1;
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++) {
            float v = b[k * rsb + n * csb];
            w[k * ld + n] = v;
            finite &= isfinite(v) != 0;
        }
    p->K = K;
    p->N = N;
    p->ld = ld;
    p->finite = finite;
    p->w = w;
    *out = p;
    return FY_OK;
}

void fy__rowmajor_free(fy__rowmajor *p)
{
    if (!p)
        return;
    fy__free(p->w);
    fy__free(p);
}

typedef struct gctx {
    int64_t M, lda, cols; /* columns per task, a multiple of 16 */
    const float *a;
    const fy__rowmajor *b;
    int skip;
    float *c;
    const fy__epilogue *ep;
} gctx;

/* Positions k in [k0, k0 + kn) to read: all, or those where some row of A is
 * nonzero. Returns their count. */
static int64_t positions(const gctx *g, int64_t k0, int64_t kn, int32_t *idx)
{
    int64_t n = 0;
    for (int64_t k = 0; k < kn; k++) {
        int nz = !g->skip;
        for (int64_t m = 0; m < g->M; m++)
            nz |= g->a[m * g->lda + k0 + k] != 0.0f;
        idx[n] = (int32_t)(k0 + k);
        n += nz;
    }
    return n;
}

/* Rows [0, M) x columns [j0, j0 + cols) from tmp (row stride ts): bias, residual,
 * activation, as SGEMM's epilogue applies them. */
static void finish(const gctx *g, const float *tmp, int64_t ts, int64_t j0, int64_t cols)
{
    const fy__epilogue *ep = g->ep;
    const int64_t N = g->b->N;
    for (int64_t m = 0; m < g->M; m++) {
        float *y = g->c + m * N + j0;
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

/* Portable C: columns [j0, j0 + 16 x nv) of every row, 16 at a time. */
static void block_c(const gctx *g, int64_t j0, int32_t *idx)
{
    const fy__rowmajor *b = g->b;
    int64_t cols = b->N - j0 < g->cols ? b->N - j0 : g->cols;
    for (int64_t js = 0; js < cols; js += 16) {
        float acc[FY_GEMV_MAX_ROWS][16];
        memset(acc, 0, sizeof acc);
        for (int64_t k0 = 0; k0 < b->K; k0 += KBLK) {
            int64_t kn = b->K - k0 < KBLK ? b->K - k0 : KBLK, n = positions(g, k0, kn, idx);
            for (int64_t i = 0; i < n; i++) {
                const float *w = b->w + (int64_t)idx[i] * b->ld + j0 + js;
                for (int64_t m = 0; m < g->M; m++) {
                    float x = g->a[m * g->lda + idx[i]];
                    for (int j = 0; j < 16; j++)
                        acc[m][j] += x * w[j];
                }
            }
        }
        finish(g, &acc[0][0], 16, j0 + js, cols - js < 16 ? cols - js : 16);
    }
}

#if FY_X86
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

/* positions() for one row: 16 compares and one register compress per step. */
T512 static int64_t positions1_512(const gctx *g, int64_t k0, int64_t kn, int32_t *idx)
{
    if (!g->skip)
        return positions(g, k0, kn, idx);
    const float *a = g->a;
    int64_t n = 0, k = 0;
    __m512i ks =
        _mm512_add_epi32(_mm512_set1_epi32((int32_t)k0),
                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (; k + 16 <= kn; k += 16) {
        __mmask16 nz =
            _mm512_cmp_ps_mask(_mm512_loadu_ps(a + k0 + k), _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_si512(idx + n, _mm512_maskz_compress_epi32(nz, ks));
        n += __builtin_popcount(nz);
        ks = _mm512_add_epi32(ks, _mm512_set1_epi32(16));
    }
    for (; k < kn; k++) {
        idx[n] = (int32_t)(k0 + k);
        n += a[k0 + k] != 0.0f;
    }
    return n;
}

/* R rows (1, 2 or 4; rows past M repeat row 0) x V vectors of 16 columns from j0,
 * of which `left` are this task's: R x V <= 8 accumulators, all indices constant
 * so they stay in registers; vectors past `left` are masked off (never read). */
T512 static inline __attribute__((always_inline)) void
blk512(const gctx *g, const int R, const int V, int64_t j0, int64_t left, int32_t *idx)
{
    const fy__rowmajor *b = g->b;
    const float *ar[4];
    for (int r = 0; r < 4; r++)
        ar[r] = g->a + (r < g->M ? r : 0) * g->lda;
    __mmask16 mk[8];
    for (int v = 0; v < 8; v++)
        mk[v] = 16 * v < left ? 0xffff : 0;
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < V; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int64_t k0 = 0; k0 < b->K; k0 += KBLK) {
        int64_t kn = b->K - k0 < KBLK ? b->K - k0 : KBLK;
        int64_t n = R == 1 ? positions1_512(g, k0, kn, idx) : positions(g, k0, kn, idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = idx[i];
            const float *w = b->w + k * b->ld + j0;
            __m512 wv[8];
#pragma GCC unroll 8
            for (int v = 0; v < V; v++)
                wv[v] = _mm512_maskz_loadu_ps(mk[v], w + 16 * v);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m512 x = _mm512_set1_ps(ar[r][k]);
#pragma GCC unroll 8
                for (int v = 0; v < V; v++)
                    acc[r][v] = _mm512_fmadd_ps(x, wv[v], acc[r][v]);
            }
        }
    }
    _Alignas(64) float tmp[4 * 128];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 8
        for (int v = 0; v < V; v++)
            _mm512_store_ps(tmp + r * 128 + 16 * v, acc[r][v]);
    finish(g, tmp, 128, j0, left < 16 * V ? left : 16 * V);
}

T512 static void block_512(const gctx *g, int64_t j0, int32_t *idx)
{
    int64_t end = j0 + g->cols < g->b->N ? j0 + g->cols : g->b->N;
    for (int64_t j = j0; j < end;) {
        int64_t left = end - j;
        if (g->M == 1 && left > 64) {
            blk512(g, 1, 8, j, left, idx);
            j += 128;
        } else if (g->M == 1 && left > 32) {
            blk512(g, 1, 4, j, left, idx);
            j += 64;
        } else if (g->M == 1) {
            blk512(g, 1, 2, j, left, idx);
            j += 32;
        } else if (g->M == 2 && left > 32) {
            blk512(g, 2, 4, j, left, idx);
            j += 64;
        } else if (g->M == 2) {
            blk512(g, 2, 2, j, left, idx);
            j += 32;
        } else {
            blk512(g, 4, 2, j, left, idx);
            j += 32;
        }
    }
}
#endif

static void run_tasks(void *ctx, int64_t begin, int64_t end)
{
    const gctx *g = ctx;
    int32_t idx[KBLK];
    for (int64_t t = begin; t < end; t++) {
#if FY_X86
        if (fy__isa_active() >= FY_ISA_AVX512) {
            block_512(g, t * g->cols, idx);
            continue;
        }
#endif
        block_c(g, t * g->cols, idx);
    }
}

/* Below this many multiply-adds the calling thread does it all. */
#define PAR_MIN_MACS (64 * 1024)

void fy__gemv_rows(fy_pool *pool, int64_t M, const float *a, int64_t lda, const fy__rowmajor *b,
                   float *c, const fy__epilogue *ep)
{
    if (M <= 0 || b->N <= 0)
        return;
    if ((double)M * (double)b->K * (double)b->N < PAR_MIN_MACS)
        pool = NULL;
    /* one block of columns per thread, in whole 16-column vectors */
    int64_t threads = fy_pool_threads(pool), vecs = b->ld / 16;
    int64_t per = (vecs + threads - 1) / threads;
    gctx g = {M, lda, per * 16, a, b, b->finite, c, ep};
    fy_pool_run(pool, (vecs + per - 1) / per, 1, run_tasks, &g);
}
