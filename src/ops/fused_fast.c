/* SPDX-License-Identifier: MIT */
/* Fast paths of the ai.ferry fused ops (src/ops/fused.h): weights packed once at
 * session creation (prepare), then one SGEMM call per node with bias, residual and
 * activation applied in the GEMM's epilogue while the tile is in registers. Cases a
 * fast path does not cover (other dtypes, broadcasting residuals, batched weights)
 * run the reference definition, so behaviour never depends on the path taken. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_SSE 1
#endif

#include "../core/core.h"
#include "../core/pool.h"
#include "fast/fast.h"
#include "fast/fast_int.h"
#include "fast/fast_ops.h"
#include "fast/gemv.h"
#include "fast/requant.h"
#include "fused.h"

/* Constant weights of a fused MatMul/Gemm: borrowed from the session's graph (the
 * model outlives the session), packed for SGEMM on the first run with more than
 * GEMV_MAX_ROWS rows. Batch-1 serving reads the weights in their own layout and
 * never pays the packed copy's memory (the 50M-parameter MLP: 200 MB) or its
 * packing time at session creation. */
typedef struct mm_state {
    const float *w;
    int64_t rsw, csw; /* element (k, n) of the K x N operand at w[k * rsw + n * csw] */
    int64_t K, N;
    fy__packed *b;    /* NULL until a larger batch needs it */
    fy__rowmajor *rm; /* row-major copy for batch 1 (weights up to GEMV_COPY_BYTES), made
                         on the first run with at most FY_GEMV_MAX_ROWS rows */
} mm_state;

static void mm_release(void *st)
{
    mm_state *s = st;
    fy__packed_free(s->b);
    fy__rowmajor_free(s->rm);
    fy__free(s);
}

static int ref_run(fy__op_ctx *c)
{
    const fy__op_def *def = fy__op_find_ref(FY_FUSED_DOMAIN, c->node->op_type);
    if (!def)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no reference for %s", c->node->op_type);
    return def->run(c);
}

/* Largest weights copied row-major for batch 1: an L3's worth (the Fashion-MNIST
 * CNN's 5408 x 128 layer is 2.8 MB). Bigger ones (the 50M-parameter MLP's 64 MB
 * layers) are read in place: no second copy. The copy is made on the first run
 * that needs it, so models never run at batch 1 (BERT's 128-token rows) hold none. */
#define GEMV_COPY_BYTES (16.0 * 1024 * 1024)

/* The row-major copy, made on first use; NULL when the weights are too large or
 * out of memory (the in-place path runs then). */
static fy__rowmajor *rowmajor(mm_state *s)
{
    if (!s->rm && (double)s->K * (double)s->N * sizeof(float) <= GEMV_COPY_BYTES && s->K > 0 &&
        s->N > 0 && fy__rowmajor_pack(&s->rm, s->K, s->N, s->w, s->rsw, s->csw) != FY_OK)
        s->rm = NULL;
    return s->rm;
}

static int weights_state(const fy__op_prep *p, int64_t K, int64_t N, int64_t rsw, int64_t csw,
                         void **state)
{
    mm_state *s = fy__calloc(1, sizeof *s);
    if (!s)
        return fy__diag_set(p->diag, FY_ENOMEM, "out of memory");
    s->w = p->consts[1]->data;
    s->rsw = rsw;
    s->csw = csw;
    s->K = K;
    s->N = N;
    *state = s;
    return FY_OK;
}

static int prep_matmul(const fy__op_prep *p, void **state)
{
    const fy_tensor *w = p->n_in > 1 ? p->consts[1] : NULL;
    if (!w || w->dtype != FY_DTYPE_F32 || w->rank != 2)
        return FY_OK;
    return weights_state(p, w->dims[0], w->dims[1], w->dims[1], 1, state);
}

static int prep_gemm(const fy__op_prep *p, void **state)
{
    const fy_tensor *w = p->n_in > 1 ? p->consts[1] : NULL;
    if (!w || w->dtype != FY_DTYPE_F32 || w->rank != 2)
        return FY_OK;
    if (fy__attr_int(p->node, "transB", 0))
        return weights_state(p, w->dims[1], w->dims[0], 1, w->dims[1], state);
    return weights_state(p, w->dims[0], w->dims[1], w->dims[1], 1, state);
}

/* The packed weights, made on first use; NULL when out of memory. */
static const fy__packed *packed(mm_state *s)
{
    if (!s->b && fy__pack_b(&s->b, s->K, s->N, s->w, s->rsw, s->csw) != FY_OK)
        s->b = NULL;
    return s->b;
}

static int same_shape(const fy_tensor *a, int rank, const int64_t *dims)
{
    if (a->rank != rank)
        return 0;
    for (int k = 0; k < rank; k++)
        if (a->dims[k] != dims[k])
            return 0;
    return 1;
}

/* The epilogue of a fused node; 0 if its activation is unknown. */
static int epilogue(const fy__op_ctx *c, fy__epilogue *ep)
{
    memset(ep, 0, sizeof *ep);
    int act = fy__fused_act(c->node, &ep->alpha, &ep->beta);
    ep->act = (fy__act)(act < 0 ? 0 : act);
    return act >= 0;
}

/* ---- a few rows times the weights in their own layout ----
 * Batch-1 products (MLP layers, a classifier's head) are matrix-vector products and
 * memory-bound: each weight is read once, from the model's layout, with several
 * independent FMA accumulators; columns are spread over the pool. (SGEMM re-packed
 * the single row of A for every column block and ran 1-row microkernels.) Results
 * differ from SGEMM's only in summation order. */

#define GEMV_MAX_ROWS 4
#define GEMV_COLS 64 /* output columns per task */

static void residual_act(float *y, const float *z, int64_t n, const fy__epilogue *ep);

typedef struct gemv_job {
    const mm_state *s;
    const float *a; /* M x K, row stride lda */
    int64_t M, lda;
    float *y; /* M x N */
    const fy__epilogue *ep;
} gemv_job;

/* dot(a, w) over K contiguous floats */
static float dot_c(const float *a, const float *w, int64_t K)
{
    float s[4] = {0, 0, 0, 0};
    int64_t k = 0;
    for (; k + 4 <= K; k += 4)
        for (int u = 0; u < 4; u++)
            s[u] += a[k + u] * w[k + u];
    for (; k < K; k++)
        s[0] += a[k] * w[k];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

#if HAVE_SSE
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *w, int64_t K)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(w + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(w + k + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(w + k + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(w + k + 24), s3);
    }
    __m256 t = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    float lane[8];
    _mm256_storeu_ps(lane, t);
    float r =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; k < K; k++)
        r += a[k] * w[k];
    return r;
}

/* out[0..4) = dot(a, w + r * ldw) for the four rows r: a is loaded once for four
 * rows and eight accumulators keep the FMA units busy. */
__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *a, const float *w,
                                                          int64_t ldw, int64_t K, float *out)
{
    __m256 s[8];
    for (int i = 0; i < 8; i++)
        s[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256 x0 = _mm256_loadu_ps(a + k), x1 = _mm256_loadu_ps(a + k + 8);
        for (int r = 0; r < 4; r++) {
            s[2 * r] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(w + r * ldw + k), s[2 * r]);
            s[2 * r + 1] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(w + r * ldw + k + 8), s[2 * r + 1]);
        }
    }
    for (int r = 0; r < 4; r++) {
        float lane[8];
        _mm256_storeu_ps(lane, _mm256_add_ps(s[2 * r], s[2 * r + 1]));
        float v = ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                  ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        for (int64_t j = k; j < K; j++)
            v += a[j] * w[r * ldw + j];
        out[r] = v;
    }
}

/* out[0..8) = dot(a, w + r * ldw) for the eight rows r, 16 floats a step with
 * one accumulator per row: a is loaded once for eight rows. Batch-1 products of
 * large weights are memory-bound, each row its own sequential stream: eight
 * streams per call read the 50M-parameter MLP 10-15% faster than dot4_avx2's four
 * (four or sixteen 512-bit rows, or a software prefetch ahead in every row, were
 * slower; docs/DESIGN.md). */
__attribute__((target("avx512f,fma"))) static void dot8_512(const float *a, const float *w,
                                                            int64_t ldw, int64_t K, float *out)
{
    __m512 s[8];
    for (int r = 0; r < 8; r++)
        s[r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 x = _mm512_loadu_ps(a + k);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            s[r] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w + r * ldw + k), s[r]);
    }
    for (int r = 0; r < 8; r++) {
        float v = _mm512_reduce_add_ps(s[r]);
        for (int64_t j = k; j < K; j++)
            v += a[j] * w[r * ldw + j];
        out[r] = v;
    }
}

/* y[0..64) = sum_k a[k] w[k * ldw + 0..64) */
__attribute__((target("avx2,fma"))) static void axpy64_avx2(const float *a, const float *w,
                                                            int64_t ldw, int64_t K, float *y)
{
    __m256 s[8];
    for (int i = 0; i < 8; i++)
        s[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k++, w += ldw) {
        __m256 x = _mm256_set1_ps(a[k]);
        for (int i = 0; i < 8; i++)
            s[i] = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 8 * i), s[i]);
    }
    for (int i = 0; i < 8; i++)
        _mm256_storeu_ps(y + 8 * i, s[i]);
}
#endif

static void gemv_cols(void *ctx, int64_t begin, int64_t end)
{

    const gemv_job *j = ctx;
    const mm_state *s = j->s;
    int avx2 = 0, avx512 = 0;
#if HAVE_SSE
    avx2 = fy__isa_active() >= FY_ISA_AVX2;
    avx512 = fy__isa_active() >= FY_ISA_AVX512;
#endif
    float acc[GEMV_COLS];
    for (int64_t t = begin; t < end; t++) {
        int64_t n0 = t * GEMV_COLS, cols = s->N - n0 < GEMV_COLS ? s->N - n0 : GEMV_COLS;
        for (int64_t m = 0; m < j->M; m++) {
            const float *a = j->a + m * j->lda;
            if (s->rsw == 1) { /* W stored N x K (Gemm transB): one dot product per column */
                int64_t c = 0;
#if HAVE_SSE
                for (; avx512 && c + 8 <= cols; c += 8)
                    dot8_512(a, s->w + (n0 + c) * s->csw, s->csw, s->K, acc + c);
                for (; avx2 && c + 4 <= cols; c += 4)
                    dot4_avx2(a, s->w + (n0 + c) * s->csw, s->csw, s->K, acc + c);
#endif
                for (; c < cols; c++) {
                    const float *wc = s->w + (n0 + c) * s->csw;
#if HAVE_SSE
                    acc[c] = avx2 ? dot_avx2(a, wc, s->K) : dot_c(a, wc, s->K);
#else
                    acc[c] = dot_c(a, wc, s->K);
#endif
                }
            } else { /* W stored K x N: rows of the column block, accumulated */
#if HAVE_SSE
                if (avx2 && cols == GEMV_COLS && s->csw == 1) {
                    axpy64_avx2(a, s->w + n0, s->rsw, s->K, acc);
                } else
#endif
                {
                    for (int64_t c = 0; c < cols; c++)
                        acc[c] = 0;
                    for (int64_t k = 0; k < s->K; k++) {
                        const float *wk = s->w + k * s->rsw + n0 * s->csw;
                        for (int64_t c = 0; c < cols; c++)
                            acc[c] += a[k] * wk[c * s->csw];
                    }
                }
            }
            float *y = j->y + m * s->N + n0;
            const fy__epilogue *ep = j->ep;
            for (int64_t c = 0; c < cols; c++) {
                float v = acc[c];
                if (ep->bias)
                    v += ep->bias[n0 + c];
                if (ep->residual)
                    v += ep->residual[m * ep->ldr + n0 + c];
                y[c] = v;
            }
            residual_act(y, NULL, cols, ep);
        }
    }
}

/* C = epilogue(A . W) for M <= GEMV_MAX_ROWS rows of A (row stride lda). */
static void gemv(fy_pool *pool, int64_t M, const float *a, int64_t lda, const mm_state *s, float *y,
                 const fy__epilogue *ep)
{
    gemv_job j = {s, a, M, lda, y, ep};
    if ((double)s->K * (double)s->N * (double)M < 64 * 1024)
        pool = NULL; /* waking workers costs more than it saves */
    fy_pool_run(pool, (s->N + GEMV_COLS - 1) / GEMV_COLS, 1, gemv_cols, &j);
}

static int run_matmul(fy__op_ctx *c)
{
    mm_state *s = c->state;
    const fy_tensor *a = fy__op_in(c, 0), *bias = fy__op_in(c, 2), *z = fy__op_in(c, 3);
    fy__epilogue ep;
    if (!s || !a || a->dtype != FY_DTYPE_F32 || a->rank < 2 || a->dims[a->rank - 1] != s->K ||
        !epilogue(c, &ep))
        return ref_run(c);
    int64_t dims[FY_MAX_RANK];
    memcpy(dims, a->dims, sizeof dims);
    dims[a->rank - 1] = s->N;
    if ((bias && (bias->dtype != FY_DTYPE_F32 || fy_tensor_numel(bias) != s->N)) ||
        (z && (z->dtype != FY_DTYPE_F32 || !same_shape(z, a->rank, dims))))
        return ref_run(c);
    /* the GEMM writes every element when K > 0 */
    int rc = s->K > 0 ? fy__tensor_alloc_uninit(&c->out[0], FY_DTYPE_F32, a->rank, dims, c->diag)
                      : fy_tensor_alloc(&c->out[0], FY_DTYPE_F32, a->rank, dims, c->diag);
    if (rc != FY_OK)
        return rc;
    int64_t M = fy_tensor_numel(a) / (s->K ? s->K : 1);
    ep.bias = bias ? bias->data : NULL;
    ep.per_col = 1;
    ep.residual = z ? z->data : NULL;
    ep.ldr = s->N;
    if (M > 0 && s->N > 0 && M <= FY_GEMV_MAX_ROWS && rowmajor(s)) {
        fy__gemv_rows(c->pool, M, a->data, s->K, s->rm, c->out[0].data, &ep);
    } else if (M > 0 && s->N > 0 && M <= GEMV_MAX_ROWS) {
        gemv(c->pool, M, a->data, s->K, s, c->out[0].data, &ep);
    } else if (M > 0 && s->N > 0) {
        const fy__packed *pb = packed(s);
        if (!pb)
            return fy__op_fail(c, FY_ENOMEM, "out of memory packing weights");
        fy__sgemm_pb(c->pool, M, a->data, s->K, 1, pb, c->out[0].data, s->N, &ep);
    }
    return FY_OK;
}

static int run_gemm(fy__op_ctx *c)
{
    mm_state *s = c->state;
    const fy_tensor *a = fy__op_in(c, 0), *cc = fy__op_in(c, 2);
    fy__epilogue ep;
    float alpha = fy__attr_float(c->node, "alpha", 1), beta = fy__attr_float(c->node, "beta", 1);
    int ta = fy__attr_int(c->node, "transA", 0) != 0;
    if (!s || !a || a->dtype != FY_DTYPE_F32 || a->rank != 2 || alpha != 1 ||
        a->dims[ta ? 0 : 1] != s->K || !epilogue(c, &ep))
        return ref_run(c);
    int64_t M = a->dims[ta ? 1 : 0];
    int64_t dims[2] = {M, s->N};
    /* C as a per-column bias ([N] or [1, N]) with beta 1; anything else: reference. */
    if (cc && (cc->dtype != FY_DTYPE_F32 || beta != 1 ||
               !((cc->rank == 1 && cc->dims[0] == s->N) ||
                 (cc->rank == 2 && cc->dims[0] == 1 && cc->dims[1] == s->N))))
        return ref_run(c);
    int rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_F32, 2, dims, c->diag);
    if (rc != FY_OK)
        return rc;
    ep.bias = cc ? cc->data : NULL;
    ep.per_col = 1;
    if (M > 0 && s->N > 0 && !ta && M <= FY_GEMV_MAX_ROWS && rowmajor(s)) {
        fy__gemv_rows(c->pool, M, a->data, s->K, s->rm, c->out[0].data, &ep);
    } else if (M > 0 && s->N > 0 && !ta && M <= GEMV_MAX_ROWS) {
        gemv(c->pool, M, a->data, s->K, s, c->out[0].data, &ep);
    } else if (M > 0 && s->N > 0) {
        const fy__packed *pb = packed(s);
        if (!pb)
            return fy__op_fail(c, FY_ENOMEM, "out of memory packing weights");
        fy__sgemm_pb(c->pool, M, a->data, ta ? 1 : a->dims[1], ta ? M : 1, pb, c->out[0].data, s->N,
                     &ep);
    }
    return FY_OK;
}

/* y = act(y + z) in place (z may be NULL). Relu, the common case, without
 * branches: MAXPS(0, v) is exactly the reference's v < 0 ? 0 : v, NaN and -0
 * included, where a compiled compare-and-branch mispredicts on half of all
 * random-signed values (it cost 2.7 ms of CPU per batch-32 Fashion-MNIST run). */
static void residual_act(float *y, const float *z, int64_t n, const fy__epilogue *ep)
{
    int64_t i = 0;
    if (ep->act == FY_ACT_RELU) {
#ifdef HAVE_SSE
        __m128 zero = _mm_setzero_ps();
        for (; i + 4 <= n; i += 4) {
            __m128 v = _mm_loadu_ps(y + i);
            if (z)
                v = _mm_add_ps(v, _mm_loadu_ps(z + i));
            _mm_storeu_ps(y + i, _mm_max_ps(zero, v));
        }
#endif
        for (; i < n; i++) {
            float v = z ? y[i] + z[i] : y[i];
            y[i] = v < 0 ? 0 : v;
        }
        return;
    }
    if (z)
        for (; i < n; i++)
            y[i] += z[i];
    fy__act_apply(y, n, ep);
}

/* ---- FusedConv: the fast Conv (weights packed by its own prepare), then the
 * residual and activation in one pass over the output ---- */

static const fy__op_fast *fast_conv(void)
{
    return fy__op_fast_of(fy__op_find("", "Conv"));
}

static int prep_conv(const fy__op_prep *p, void **state)
{
    const fy__op_fast *f = fast_conv();
    if (!f || !f->prepare)
        return FY_OK;
    fy__node conv = *p->node;
    conv.op_type = (char *)"Conv";
    conv.domain = (char *)"";
    fy__op_prep q = *p;
    q.node = &conv;
    q.n_in = p->n_in < 3 ? p->n_in : 3;
    return f->prepare(&q, state);
}

static void conv_release(void *state)
{
    const fy__op_fast *f = fast_conv();
    if (f && f->release)
        f->release(state);
}

/* The output shape of the Conv, if the fast path's geometry covers it. */
static int conv_out_shape(const fy__op_ctx *c, int64_t *dims)
{
    const fy_tensor *x = fy__op_in(c, 0), *w = fy__op_in(c, 1);
    fy__conv_shape s;
    if (!x || !w || !fy__conv_weights(c->node, w, &s) || !fy__conv_geometry(c->node, x, &s))
        return 0;
    dims[0] = s.n;
    dims[1] = s.m;
    dims[2] = s.oh;
    dims[3] = s.ow;
    return 1;
}

static int run_conv(fy__op_ctx *c)
{
    const fy__op_fast *f = fast_conv();
    const fy_tensor *z = fy__op_in(c, 3);
    fy__epilogue ep;
    if (!f || !epilogue(c, &ep))
        return ref_run(c);
    fy__node conv = *c->node;
    conv.op_type = (char *)"Conv";
    conv.domain = (char *)"";
    fy__op_ctx cc = *c;
    cc.node = &conv;
    cc.n_in = c->n_in < 3 ? c->n_in : 3;
    int64_t dims[4];
    int rc = FY_OK;
    /* Residual and activation inside the convolution's GEMM epilogue, while each
     * tile is in registers, when the residual is shaped like the output. */
    if (!z || (z->dtype == FY_DTYPE_F32 && conv_out_shape(c, dims) && same_shape(z, 4, dims))) {
        ep.residual = z ? z->data : NULL;
        if (fy__fast_conv(&cc, &ep, &rc))
            return rc;
    }
    if ((rc = f->op.run(&cc)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    if (y->dtype != FY_DTYPE_F32 ||
        (z && (z->dtype != FY_DTYPE_F32 || !same_shape(z, y->rank, y->dims)))) {
        /* Unusual: let the reference definition decide (and word any error). */
        fy_tensor_deinit(y);
        return ref_run(c);
    }
    residual_act(y->data, z ? z->data : NULL, fy_tensor_numel(y), &ep);
    return FY_OK;
}

/* ---- attention: softmax(scale(Q Kt)) V, a block of query rows at a time ---- */

#define ATT_BUF 16384 /* floats of scores per block (64 KB on the stack) */

typedef struct att_job {
    const float *q, *kt, *v;
    float *y;
    int64_t S, T, D, Dv; /* query rows, key columns, head width, value width */
    int64_t rows;        /* query rows per block */
    int64_t blocks;      /* blocks per head */
    /* Head t starts at (t / H) * xsb + (t % H) * xsh in Q, V and Y (x = q, v, y),
     * whose rows are xrs apart; Kt's heads are D x T blocks one after another. */
    int64_t H, qsb, qsh, qrs, vsb, vsh, vrs, ysb, ysh, yrs;
    float scale;
    int mode; /* 0 none, 1 multiply, 2 divide */
} att_job;

static void att_block(void *ctx, int64_t begin, int64_t end)
{
    const att_job *j = ctx;
    float buf[ATT_BUF];
    for (int64_t t = begin; t < end; t++) {
        int64_t h = t / j->blocks, i0 = (t % j->blocks) * j->rows;
        int64_t hb = h / j->H, hh = h % j->H;
        int64_t rb = j->S - i0 < j->rows ? j->S - i0 : j->rows;
        const float *q = j->q + hb * j->qsb + hh * j->qsh + i0 * j->qrs;
        const float *kt = j->kt + h * j->D * j->T;
        const float *v = j->v + hb * j->vsb + hh * j->vsh;
        if (!fy__sgemm_small(rb, j->T, j->D, q, j->qrs, kt, j->T, buf, j->T))
            fy__sgemm(NULL, rb, j->T, j->D, q, j->qrs, 1, kt, j->T, 1, buf, j->T, NULL);
        for (int64_t r = 0; r < rb; r++)
            fy__softmax_row(buf + r * j->T, j->T, j->scale, j->mode);
        float *y = j->y + hb * j->ysb + hh * j->ysh + i0 * j->yrs;
        if (!fy__sgemm_small(rb, j->Dv, j->T, buf, j->T, v, j->vrs, y, j->yrs))
            fy__sgemm(NULL, rb, j->Dv, j->T, buf, j->T, 1, v, j->vrs, 1, y, j->yrs, NULL);
    }
}

static int run_attention(fy__op_ctx *c)
{
    const fy_tensor *q = fy__op_in(c, 0), *kt = fy__op_in(c, 1), *v = fy__op_in(c, 2);
    if (!q || !kt || !v || q->dtype != FY_DTYPE_F32 || kt->dtype != FY_DTYPE_F32 ||
        v->dtype != FY_DTYPE_F32 || q->rank < 2 || kt->rank != q->rank || v->rank != q->rank)
        return ref_run(c);
    int r = q->rank, layout = (int)fy__attr_int(c->node, "layout", 0);
    int64_t S, D, T, Dv, heads, dims[FY_MAX_RANK];
    att_job j = {.q = q->data, .kt = kt->data, .v = v->data, .scale = 1, .mode = 0};
    if (layout == 1) {
        /* Q [B, S, H, D], Kt [B, H, D, T], V [B, T, H, Dv] -> Y [B, S, H, Dv] */
        if (r != 4 || kt->dims[0] != q->dims[0] || v->dims[0] != q->dims[0] ||
            kt->dims[1] != q->dims[2] || v->dims[2] != q->dims[2] || kt->dims[2] != q->dims[3] ||
            v->dims[1] != kt->dims[3])
            return ref_run(c);
        S = q->dims[1], D = q->dims[3], T = kt->dims[3], Dv = v->dims[3];
        j.H = q->dims[2];
        heads = q->dims[0] * j.H;
        j.qrs = j.H * D, j.qsh = D, j.qsb = S * j.qrs;
        j.vrs = j.H * Dv, j.vsh = Dv, j.vsb = T * j.vrs;
        j.yrs = j.H * Dv, j.ysh = Dv, j.ysb = S * j.yrs;
        dims[0] = q->dims[0], dims[1] = S, dims[2] = j.H, dims[3] = Dv;
    } else if (layout == 0) {
        for (int k = 0; k < r - 2; k++) /* same batch dims: no broadcasting on this path */
            if (kt->dims[k] != q->dims[k] || v->dims[k] != q->dims[k])
                return ref_run(c);
        S = q->dims[r - 2], D = q->dims[r - 1], T = kt->dims[r - 1], Dv = v->dims[r - 1];
        if (kt->dims[r - 2] != D || v->dims[r - 2] != T)
            return ref_run(c);
        heads = fy__dims_prod(q->dims, 0, r - 2);
        j.H = heads > 0 ? heads : 1;
        j.qrs = D, j.qsh = S * D;
        j.vrs = Dv, j.vsh = T * Dv;
        j.yrs = Dv, j.ysh = S * Dv;
        memcpy(dims, q->dims, sizeof dims);
        dims[r - 1] = Dv;
    } else {
        return ref_run(c);
    }
    if (T < 1 || T > ATT_BUF)
        return ref_run(c);
    /* softmax rows and P V products cover the output when D > 0 */
    int rc = D > 0 ? fy__tensor_alloc_uninit(&c->out[0], FY_DTYPE_F32, r, dims, c->diag)
                   : fy_tensor_alloc(&c->out[0], FY_DTYPE_F32, r, dims, c->diag);
    if (rc != FY_OK)
        return rc;
    j.y = c->out[0].data;
    j.S = S, j.T = T, j.D = D, j.Dv = Dv;
    if (fy__attr_find(c->node, "scale")) {
        j.scale = fy__attr_float(c->node, "scale", 1);
        j.mode = fy__attr_int(c->node, "scale_div", 0) ? 2 : 1;
        /* Dividing by a power of two (BERT's sqrt(64) = 8) is multiplying by its
         * exact reciprocal: both round the same real number x / 2^e, so the result
         * is the same bits, without a division per score. */
        int e;
        if (j.mode == 2 && isfinite(j.scale) && frexpf(j.scale, &e) == 0.5f && e > -125 &&
            e < 126) {
            j.scale = ldexpf(1.0f, 1 - e);
            j.mode = 1;
        }
    }
    j.rows = ATT_BUF / T < 32 ? ATT_BUF / T : 32;
    j.blocks = (S + j.rows - 1) / j.rows;
    if (heads > 0 && S > 0 && Dv > 0)
        fy_pool_run(c->pool, heads * j.blocks, 1, att_block, &j);
    return FY_OK;
}

/* ---- DynQMatMul: the activation quantized once, the u8 x s8 GEMM on weights
 * packed at prepare, scales and bias in the GEMM's epilogue ---- */

static int prep_dynq(const fy__op_prep *p, void **state)
{
    const fy_tensor *w = p->n_in > 1 ? p->consts[1] : NULL;
    if (!w || w->dtype != FY_DTYPE_I8 || w->rank != 2)
        return FY_OK;
    fy__qpacked *q = NULL;
    if (fy__qpack_b(&q, w->dims[0], w->dims[1], w->data, 1, w->dims[1], 1, NULL, 1) != FY_OK)
        return fy__diag_set(p->diag, FY_ENOMEM, "node '%s' (%s): out of memory packing weights",
                            p->node->name, p->node->op_type);
    *state = q;
    return FY_OK;
}

static void dynq_release(void *state)
{
    fy__qpacked_free(state);
}

static int run_dynq(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0), *w = fy__op_in(c, 1), *s = fy__op_in(c, 2),
                    *b = fy__op_in(c, 3), *z = fy__op_in(c, 4);
    const fy__qpacked *p = c->state;
    fy__epilogue ep;
    if (!epilogue(c, &ep) || !p || !x || !w || !s || x->dtype != FY_DTYPE_F32 || x->rank < 2 ||
        w->rank != 2 || fy__qpacked_k(p) != w->dims[0] || fy__qpacked_n(p) != w->dims[1])
        return ref_run(c);
    const int64_t K = w->dims[0], N = w->dims[1], sn = fy_tensor_numel(s);
    if (x->dims[x->rank - 1] != K || K == 0 || s->dtype != FY_DTYPE_F32 || s->rank > 1 ||
        (sn != 1 && sn != N) ||
        (b && (b->dtype != FY_DTYPE_F32 || b->rank != 1 || b->dims[0] != N)))
        return ref_run(c); /* broadcasting scales or bias: the reference decides */
    int64_t dims[FY_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims[0] * (size_t)x->rank);
    dims[x->rank - 1] = N;
    if (z && (z->dtype != FY_DTYPE_F32 || !same_shape(z, x->rank, dims)))
        return ref_run(c); /* a broadcasting residual */
    const int64_t M = fy__dims_prod(x->dims, 0, x->rank - 1);
    uint8_t *xq = fy__malloc((size_t)(M * K) + 1);
    if (!xq)
        return fy__op_fail(c, FY_ENOMEM, "out of memory quantizing %lld values",
                           (long long)(M * K));
    float xs;
    uint8_t zp;
    if (fy__dynquant_u8(x->data, M * K, xq, &xs, &zp) != 0) {
        fy__free(xq); /* NaN input: the reference's definition applies */
        return ref_run(c);
    }
    /* every element is written (K > 0 here) */
    int rc = fy__tensor_alloc_uninit(&c->out[0], FY_DTYPE_F32, x->rank, dims, c->diag);
    if (rc == FY_OK) {
        ep.bias = b ? b->data : NULL;
        ep.per_col = 1;
        ep.residual = z ? z->data : NULL;
        ep.ldr = N;
        fy__qgemm_f32(c->pool, M, xq, 0, K, zp, xs, p, s->data, sn, c->out[0].data, N, &ep);
    }
    fy__free(xq);
    return rc;
}

/* ---- QMatMul: the static int8 chain; the activation quantized (when X is float)
 * byte-exactly as QuantizeLinear does, the u8 x s8 GEMM on weights packed at
 * prepare, the scale, bias and activation in its epilogue ---- */

static int run_qmatmul(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0), *w = fy__op_in(c, 1), *zp = fy__op_in(c, 2),
                    *s = fy__op_in(c, 3), *b = fy__op_in(c, 4), *xs = fy__op_in(c, 5);
    const fy__qpacked *p = c->state;
    fy__epilogue ep;
    if (!epilogue(c, &ep) || !p || !x || !w || !s || x->rank < 2 || w->rank != 2 ||
        fy__qpacked_k(p) != w->dims[0] || fy__qpacked_n(p) != w->dims[1])
        return ref_run(c);
    const int64_t K = w->dims[0], N = w->dims[1], sn = fy_tensor_numel(s);
    if (x->dims[x->rank - 1] != K || K == 0 || s->dtype != FY_DTYPE_F32 || s->rank > 1 ||
        (sn != 1 && sn != N) ||
        (b && (b->dtype != FY_DTYPE_F32 || b->rank != 1 || b->dims[0] != N)))
        return ref_run(c); /* broadcasting scales or bias: the reference decides */
    /* A: uint8/int8 as given, or float X quantized with one scale and zero point */
    int quantize = xs != NULL;
    fy_dtype adt = quantize ? (zp ? zp->dtype : FY_DTYPE_U8) : x->dtype;
    if ((adt != FY_DTYPE_U8 && adt != FY_DTYPE_I8) || (zp && zp->dtype != adt) ||
        (zp && fy_tensor_numel(zp) != 1) ||
        (quantize && (x->dtype != FY_DTYPE_F32 || xs->dtype != FY_DTYPE_F32 ||
                      fy_tensor_numel(xs) != 1)))
        return ref_run(c);
    const int32_t za = zp ? (int32_t)fy__get_i64(zp, 0) : 0;
    int64_t dims[FY_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims[0] * (size_t)x->rank);
    dims[x->rank - 1] = N;
    const int64_t M = fy__dims_prod(x->dims, 0, x->rank - 1);
    uint8_t *xq = NULL;
    if (quantize) {
        xq = fy__malloc((size_t)(M * K) + 1);
        if (!xq)
            return fy__op_fail(c, FY_ENOMEM, "out of memory quantizing %lld values",
                               (long long)(M * K));
        fy__quantize_f32(x->data, M * K, ((const float *)xs->data)[0], za,
                         adt == FY_DTYPE_U8 ? 0 : -128, xq);
    }
    int rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_F32, x->rank, dims, c->diag);
    if (rc == FY_OK) {
        ep.bias = b ? b->data : NULL;
        ep.per_col = 1;
        /* (float)acc x (1 x S): the product is S itself, as the chain's Mul by S */
        fy__qgemm_f32(c->pool, M, quantize ? (const void *)xq : x->data, adt == FY_DTYPE_I8, K,
                      za, 1.0f, p, s->data, sn, c->out[0].data, N, &ep);
    }
    fy__free(xq);
    return rc;
}

const fy__op_fast fy__ops_fast_fused[] = {
    {{"FusedMatMul", FY_FUSED_DOMAIN, run_matmul}, prep_matmul, mm_release},
    {{"FusedGemm", FY_FUSED_DOMAIN, run_gemm}, prep_gemm, mm_release},
    {{"FusedConv", FY_FUSED_DOMAIN, run_conv}, prep_conv, conv_release},
    {{"FusedConvPool", FY_FUSED_DOMAIN, fy__fused_conv_pool_fast},
     fy__fused_conv_pool_prep,
     fy__fused_conv_pool_release},
    {{"Attention", FY_FUSED_DOMAIN, run_attention}, NULL, NULL},
    {{"DynQMatMul", FY_FUSED_DOMAIN, run_dynq}, prep_dynq, dynq_release},
    {{"QMatMul", FY_FUSED_DOMAIN, run_qmatmul}, prep_dynq, dynq_release},
    {{"QConvPool", FY_FUSED_DOMAIN, fy__qconv_pool_fast},
     fy__qconv_pool_prep,
     fy__qconv_pool_release},
    {{NULL, NULL, NULL}, NULL, NULL},
};
