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
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#define KBLK 512  /* inputs scanned for nonzeros at a time */
#define PF_ROWS 8 /* weight rows prefetched ahead (0.5 us of 33 at batch 1) */

/* The copy is read in full by every batch-1 run, so it sits on 2 MB pages where
 * the kernel gives them (transparent huge pages on request): with 4 KB pages the
 * same 2.8 MB stream ran up to 25% slower depending on where the pages landed
 * (measured: 0.041 against 0.033 ms per Fashion-MNIST inference). Over-allocates
 * one huge page of address space, never touched. */
#define HUGE_PAGE ((size_t)2 << 20)

static float *weights_alloc(size_t bytes, void **raw)
{
    if (bytes < HUGE_PAGE) {
        *raw = fy__calloc(bytes, 1);
        return *raw;
    }
    if (bytes > SIZE_MAX - HUGE_PAGE || !(*raw = fy__malloc(bytes + HUGE_PAGE)))
        return NULL;
    uintptr_t a = ((uintptr_t)*raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE) /* a hint: without it the copy is simply on small pages */
        (void)madvise((void *)a, bytes & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    memset((void *)a, 0, bytes);
    return (float *)a;
}

int fy__rowmajor_pack(fy__rowmajor **out, int64_t K, int64_t N, const float *b, int64_t rsb,
                      int64_t csb)
{
    int64_t ld = (N + 15) / 16 * 16;
    if (K < 0 || N < 0 || (K > 0 && ld > (int64_t)(SIZE_MAX / sizeof(float)) / K))
        return FY_ENOMEM;
    fy__rowmajor *p = fy__calloc(1, sizeof *p);
    void *raw = NULL;
    float *w = p ? weights_alloc((size_t)(K * ld + 16) * sizeof *w, &raw) : NULL;
    if (!p || !w) {
        fy__free(p);
        fy__free(raw);
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
    p->raw = raw;
    *out = p;
    return FY_OK;
}

void fy__rowmajor_free(fy__rowmajor *p)
{
    if (!p)
        return;
    fy__free(p->raw);
    fy__free(p);
}

typedef struct gctx {
    int64_t M, lda;
    const float *a;
    const fy__rowmajor *b;
    int skip;
    float *c;
    const fy__epilogue *ep;
    int64_t cols;  /* column tasks: columns per task, a multiple of 16 */
    int64_t kper;  /* K tasks: positions per task (0: column tasks) */
    float *part;   /* K tasks: part c's sums at part + c * M * ld */
    int64_t parts; /* K tasks: how many */
    int flip;      /* K tasks: task t computes part parts - 1 - t */
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

/* Portable C: out[m * ldo + j] = sum over k in [kb, ke) of A[m, k] B[k, j0 + j]
 * for j < left (at most 128). */
static void sums_c(const gctx *g, int64_t j0, int64_t left, int64_t kb, int64_t ke, int32_t *idx,
                   float *out, int64_t ldo)
{
    const fy__rowmajor *b = g->b;
    for (int64_t js = 0; js < left; js += 16) {
        float acc[FY_GEMV_MAX_ROWS][16];
        memset(acc, 0, sizeof acc);
        for (int64_t k0 = kb; k0 < ke; k0 += KBLK) {
            int64_t kn = ke - k0 < KBLK ? ke - k0 : KBLK, n = positions(g, k0, kn, idx);
            for (int64_t i = 0; i < n; i++) {
                const float *w = b->w + (int64_t)idx[i] * b->ld + j0 + js;
                for (int64_t m = 0; m < g->M; m++) {
                    float x = g->a[m * g->lda + idx[i]];
                    for (int j = 0; j < 16; j++)
                        acc[m][j] += x * w[j];
                }
            }
        }
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t j = 0; j < 16 && js + j < left; j++)
                out[m * ldo + js + j] = acc[m][j];
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
 * of which `left` are wanted, over k in [kb, ke): R x V <= 8 accumulators, all
 * indices constant so they stay in registers; vectors past `left` are masked off
 * (never read). Sums to out[m * ldo + j]. */
T512 static inline __attribute__((always_inline)) void blk512(const gctx *g, const int R,
                                                              const int V, int64_t j0, int64_t left,
                                                              int64_t kb, int64_t ke, int32_t *idx,
                                                              float *out, int64_t ldo)
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
    for (int64_t k0 = kb; k0 < ke; k0 += KBLK) {
        int64_t kn = ke - k0 < KBLK ? ke - k0 : KBLK;
        int64_t n = R == 1 ? positions1_512(g, k0, kn, idx) : positions(g, k0, kn, idx);
        for (int64_t i = 0; i < n; i++) {
            int64_t k = idx[i];
            const float *w = b->w + k * b->ld + j0;
            if (i + PF_ROWS < n) { /* the rows ahead are not consecutive: fetch them */
                const char *pf = (const char *)(b->w + (int64_t)idx[i + PF_ROWS] * b->ld + j0);
#pragma GCC unroll 8
                for (int v = 0; v < V; v++)
                    _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
            }
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
    for (int r = 0; r < R && r < g->M; r++)
#pragma GCC unroll 8
        for (int v = 0; v < V; v++)
            _mm512_mask_storeu_ps(out + r * ldo + 16 * v,
                                  16 * v + 16 <= left ? (__mmask16)0xffff
                                  : 16 * v < left     ? (__mmask16)((1u << (left - 16 * v)) - 1)
                                                      : 0,
                                  acc[r][v]);
}

/* sums_c() with AVX-512: left <= 128. */
T512 static void sums_512(const gctx *g, int64_t j0, int64_t left, int64_t kb, int64_t ke,
                          int32_t *idx, float *out, int64_t ldo)
{
    for (int64_t j = 0; j < left;) {
        int64_t l = left - j;
        if (g->M == 1 && l > 64) {
            blk512(g, 1, 8, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 128;
        } else if (g->M == 1 && l > 32) {
            blk512(g, 1, 4, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 64;
        } else if (g->M == 1) {
            blk512(g, 1, 2, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 32;
        } else if (g->M == 2 && l > 32) {
            blk512(g, 2, 4, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 64;
        } else if (g->M == 2) {
            blk512(g, 2, 2, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 32;
        } else {
            blk512(g, 4, 2, j0 + j, l, kb, ke, idx, out + j, ldo);
            j += 32;
        }
    }
}
#endif

static void sums(const gctx *g, int64_t j0, int64_t left, int64_t kb, int64_t ke, int32_t *idx,
                 float *out, int64_t ldo)
{
#if FY_X86
    if (fy__isa_active() >= FY_ISA_AVX512) {
        sums_512(g, j0, left, kb, ke, idx, out, ldo);
        return;
    }
#endif
    sums_c(g, j0, left, kb, ke, idx, out, ldo);
}

/* Column tasks: columns [t * cols, ..) over all of K, 128 at a time, finished. */
static void col_tasks(void *ctx, int64_t begin, int64_t end)
{
    const gctx *g = ctx;
    int32_t idx[KBLK];
    _Alignas(64) float tmp[FY_GEMV_MAX_ROWS * 128];
    for (int64_t t = begin; t < end; t++) {
        int64_t j1 = (t + 1) * g->cols < g->b->N ? (t + 1) * g->cols : g->b->N;
        for (int64_t j = t * g->cols; j < j1; j += 128) {
            int64_t left = j1 - j < 128 ? j1 - j : 128;
            sums(g, j, left, 0, g->b->K, idx, tmp, 128);
            finish(g, tmp, 128, j, left);
        }
    }
}

/* K tasks: all columns (N <= KSPLIT_MAX_N) over positions [t * kper, ..), raw sums. */
static void k_tasks(void *ctx, int64_t begin, int64_t end)
{
    const gctx *g = ctx;
    int32_t idx[KBLK];
    const int64_t ld = g->b->ld, N = g->b->N;
    for (int64_t t = begin; t < end; t++) {
        int64_t c = g->flip ? g->parts - 1 - t : t;
        int64_t kb = c * g->kper, ke = kb + g->kper < g->b->K ? kb + g->kper : g->b->K;
        float *out = g->part + c * g->M * ld;
        for (int64_t j = 0; j < N; j += 128)
            sums(g, j, N - j < 128 ? N - j : 128, kb, ke, idx, out + j, ld);
    }
}

/* Below this many multiply-adds the calling thread does it all. */
#define PAR_MIN_MACS (64 * 1024)
/* A narrow product (N up to KSPLIT_MAX_N) of more than KSPLIT_MIN_BYTES of
 * weights, or any narrow one run on threads, is cut along K into KSPLIT parts
 * whose sums are added afterwards in a fixed order (the result does not depend
 * on the order the parts ran in). The parts run in turn front to back and back to
 * front: the weights read last, still in the core's 1 MB L2, are read first the
 * next time, instead of a cyclic stream larger than L2 missing it every row. And
 * with threads, a late thread (the machine's other cores busy) holds up one small
 * part, not half of the work. */
#define KSPLIT_MAX_N 256
#define KSPLIT 16
#define KSPLIT_MIN_BYTES ((int64_t)768 << 10)

void fy__gemv_rows(fy_pool *pool, int64_t M, const float *a, int64_t lda, fy__rowmajor *b, float *c,
                   const fy__epilogue *ep)
{
    if (M <= 0 || b->N <= 0)
        return;
    if ((double)M * (double)b->K * (double)b->N < PAR_MIN_MACS)
        pool = NULL;
    int64_t threads = fy_pool_threads(pool), vecs = b->ld / 16;
    gctx g = {M, lda, a, b, b->finite, c, ep, 0, 0, NULL, 0, 0};
    if (b->N <= KSPLIT_MAX_N && b->K >= KSPLIT * 64 &&
        (threads > 1 || b->K * b->ld * (int64_t)sizeof(float) > KSPLIT_MIN_BYTES)) {
        _Alignas(64) float part[KSPLIT * FY_GEMV_MAX_ROWS * KSPLIT_MAX_N];
        g.kper = (b->K + KSPLIT - 1) / KSPLIT;
        g.part = part;
        g.parts = (b->K + g.kper - 1) / g.kper;
        g.flip = (int)(b->runs++ & 1);
        fy_pool_run(pool, g.parts, 1, k_tasks, &g);
        for (int64_t t = 1; t < g.parts; t++) /* fixed order: the same result every run */
            for (int64_t m = 0; m < M; m++)
                for (int64_t j = 0; j < b->N; j++)
                    part[m * b->ld + j] += part[(t * M + m) * b->ld + j];
        for (int64_t j = 0; j < b->N; j += 128)
            finish(&g, part + j, b->ld, j, b->N - j < 128 ? b->N - j : 128);
        return;
    }
    /* one block of columns per thread, in whole 16-column vectors */
    int64_t per = (vecs + threads - 1) / threads;
    g.cols = per * 16;
    fy_pool_run(pool, (vecs + per - 1) / per, 1, col_tasks, &g);
}
