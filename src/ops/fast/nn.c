/* SPDX-License-Identifier: MIT */
/* Fast kernels for the heavy nn ops, registered ahead of the reference ones
 * (fy__op_find). Each speeds up the common float32 cases, with constant weights
 * packed once by prepare, and hands everything else (other dtypes and ranks,
 * unusual attributes, malformed input) to the reference kernel, which stays the
 * oracle the tests compare against and the one place that words errors. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../ops.h"
#include "fast.h"
#include "fast_ops.h"

static int ref_run(fy__op_ctx *c)
{
    const fy__op_def *d = fy__op_find_ref(c->node->domain, c->node->op_type);
    if (!d)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no reference kernel");
    return d->run(c);
}

static int is_f32(const fy_tensor *t, int rank)
{
    return t && t->dtype == FY_DTYPE_F32 && (rank < 0 || t->rank == rank);
}

static int nomem(const fy__op_prep *p)
{
    return fy__diag_set(p->diag, FY_ENOMEM, "node '%s' (%s): out of memory packing weights",
                        p->node->name, p->node->op_type);
}

static void release_packed(void *state)
{
    fy__packed_free(state);
}

/* The packed operand of state when it was made from exactly this shape. */
static const fy__packed *packed_if(const fy__op_ctx *c, int64_t rows, int64_t cols)
{
    const fy__packed *p = c->state;
    return p && !fy__packed_wino(p) && fy__packed_rows(p) == rows && fy__packed_cols(p) == cols
               ? p
               : NULL;
}

/* ---- MatMul ---- */

static int matmul_prepare(const fy__op_prep *p, void **state)
{
    const fy_tensor *b = p->n_in > 1 ? p->consts[1] : NULL;
    if (!is_f32(b, 2) || fy_tensor_numel(b) == 0)
        return FY_OK;
    fy__packed *pk = NULL;
    if (fy__pack_b(&pk, b->dims[0], b->dims[1], b->data, b->dims[1], 1) != FY_OK)
        return nomem(p);
    *state = pk;
    return FY_OK;
}

typedef struct mm_batch {
    int nb;
    int64_t bd[FY_MAX_RANK], sa[FY_MAX_RANK], sb[FY_MAX_RANK];
    int64_t M, N, K;
    const float *a, *b;
    float *y;
} mm_batch;

/* Product t of a batched MatMul (broadcast batch axes read matrix 0). */
static void mm_one(const mm_batch *m, int64_t t, fy_pool *pool)
{
    int64_t rem = t, oa = 0, ob = 0;
    for (int i = m->nb - 1; i >= 0; i--) {
        int64_t bi = rem % m->bd[i];
        rem /= m->bd[i];
        oa += bi * m->sa[i];
        ob += bi * m->sb[i];
    }
    fy__sgemm(pool, m->M, m->N, m->K, m->a + oa * m->M * m->K, m->K, 1, m->b + ob * m->K * m->N,
              m->N, 1, m->y + t * m->M * m->N, m->N, NULL);
}

static void mm_batches(void *ctx, int64_t begin, int64_t end)
{
    for (int64_t t = begin; t < end; t++)
        mm_one(ctx, t, NULL);
}

static int op_matmul(fy__op_ctx *c)
{
    const fy_tensor *A = fy__op_in(c, 0), *B = fy__op_in(c, 1);
    if (!is_f32(A, -1) || !is_f32(B, -1) || A->rank < 2 || B->rank < 2)
        return ref_run(c);
    const int ra = A->rank, rb = B->rank;
    const int64_t M = A->dims[ra - 2], K = A->dims[ra - 1], N = B->dims[rb - 1];
    if (B->dims[rb - 2] != K)
        return ref_run(c);
    mm_batch m = {0};
    const int nba = ra - 2, nbb = rb - 2;
    m.nb = nba > nbb ? nba : nbb;
    int64_t acc_a = 1, acc_b = 1, dims[FY_MAX_RANK];
    for (int i = m.nb - 1; i >= 0; i--) {
        int ia = i - (m.nb - nba), ib = i - (m.nb - nbb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ref_run(c);
        m.bd[i] = dims[i] = da == 1 ? db : da;
        m.sa[i] = da == 1 ? 0 : acc_a;
        m.sb[i] = db == 1 ? 0 : acc_b;
        acc_a *= da;
        acc_b *= db;
    }
    dims[m.nb] = M;
    dims[m.nb + 1] = N;
    fy_tensor *Y = &c->out[0];
    int rc = fy_tensor_alloc(Y, FY_DTYPE_F32, m.nb + 2, dims, c->diag);
    if (rc != FY_OK || fy_tensor_numel(Y) == 0)
        return rc;
    const int64_t nbatch = fy__dims_prod(m.bd, 0, m.nb);
    if (rb == 2) {
        /* One B for every batch: the batches of A stack into one tall matrix. */
        const fy__packed *pb = packed_if(c, K, N);
        if (pb)
            fy__sgemm_pb(c->pool, nbatch * M, A->data, K, 1, pb, Y->data, N, NULL);
        else
            fy__sgemm(c->pool, nbatch * M, N, K, A->data, K, 1, B->data, N, 1, Y->data, N, NULL);
        return FY_OK;
    }
    m.M = M;
    m.N = N;
    m.K = K;
    m.a = A->data;
    m.b = B->data;
    m.y = Y->data;
    if (nbatch >= fy_pool_threads(c->pool)) {
        /* Enough independent products (attention heads): one per thread. */
        fy_pool_run(c->pool, nbatch, 1, mm_batches, &m);
    } else {
        for (int64_t t = 0; t < nbatch; t++)
            mm_one(&m, t, c->pool);
    }
    return FY_OK;
}

/* ---- Gemm ---- */

static int gemm_flags(const fy__node *n, int *ta, int *tb)
{
    int64_t a = fy__attr_int(n, "transA", 0), b = fy__attr_int(n, "transB", 0);
    *ta = (int)a;
    *tb = (int)b;
    return (a == 0 || a == 1) && (b == 0 || b == 1);
}

static int gemm_prepare(const fy__op_prep *p, void **state)
{
    const fy_tensor *b = p->n_in > 1 ? p->consts[1] : NULL;
    int ta, tb;
    if (!is_f32(b, 2) || fy_tensor_numel(b) == 0 || !gemm_flags(p->node, &ta, &tb))
        return FY_OK;
    int64_t K = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    fy__packed *pk = NULL;
    if (fy__pack_b(&pk, K, N, b->data, tb ? 1 : N, tb ? K : 1) != FY_OK)
        return nomem(p);
    *state = pk;
    return FY_OK;
}

static int op_gemm(fy__op_ctx *c)
{
    const fy_tensor *A = fy__op_in(c, 0), *B = fy__op_in(c, 1), *C = fy__op_in(c, 2);
    int ta, tb;
    if (!is_f32(A, 2) || !is_f32(B, 2) || (C && (!is_f32(C, -1) || C->rank > 2)) ||
        !gemm_flags(c->node, &ta, &tb) || fy__attr_float(c->node, "alpha", 1.0f) != 1.0f)
        return ref_run(c);
    const int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    const int64_t N = tb ? B->dims[0] : B->dims[1];
    if ((tb ? B->dims[1] : B->dims[0]) != K)
        return ref_run(c);
    fy__epilogue ep = {0};
    float beta = fy__attr_float(c->node, "beta", 1.0f);
    if (C && beta != 0.0f) {
        if (beta != 1.0f)
            return ref_run(c);
        int64_t c0 = C->rank == 2 ? C->dims[0] : 1, c1 = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        ep.bias = C->data;
        if (c0 == 1 && c1 == N) {
            ep.per_col = 1;
        } else if (c0 == M && c1 == 1) {
            ep.per_col = 0;
        } else if (c0 == M && c1 == N) {
            ep.bias = NULL;
            ep.residual = C->data;
            ep.ldr = N;
        } else {
            return ref_run(c); /* a scalar C, or one that does not broadcast */
        }
    }
    int64_t dims[2] = {M, N};
    fy_tensor *Y = &c->out[0];
    int rc = fy_tensor_alloc(Y, FY_DTYPE_F32, 2, dims, c->diag);
    if (rc != FY_OK || M == 0 || N == 0)
        return rc;
    const int64_t rsa = ta ? 1 : K, csa = ta ? M : 1;
    const fy__packed *pb = packed_if(c, K, N);
    if (pb)
        fy__sgemm_pb(c->pool, M, A->data, rsa, csa, pb, Y->data, N, &ep);
    else
        fy__sgemm(c->pool, M, N, K, A->data, rsa, csa, B->data, tb ? 1 : N, tb ? K : 1, Y->data, N,
                  &ep);
    return FY_OK;
}

/* ---- Conv ---- */

/* Up to n int attributes (absent: def); 0 when present with another count or a
 * value below lo. */
static int ints_or(const fy__node *nd, const char *name, int n, int64_t def, int64_t lo,
                   int64_t *out)
{
    const int64_t *v = NULL;
    int64_t cnt = fy__attr_ints(nd, name, &v);
    for (int i = 0; i < n; i++)
        out[i] = cnt <= 0 ? def : i < cnt ? v[i] : -1;
    if (cnt > 0 && cnt != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (out[i] < lo || out[i] > (1 << 24))
            return 0;
    return 1;
}

int fy__conv_weights(const fy__node *nd, const fy_tensor *w, fy__conv_shape *s)
{
    int64_t group = fy__attr_int(nd, "group", 1);
    if (w->rank != 4 || group < 1 || w->dims[0] % group || fy_tensor_numel(w) == 0)
        return 0;
    memset(s, 0, sizeof *s);
    s->m = w->dims[0];
    s->c = w->dims[1] * group;
    s->kh = w->dims[2];
    s->kw = w->dims[3];
    s->group = group;
    int64_t ks[2];
    return ints_or(nd, "kernel_shape", 2, s->kh, 1, ks) && ks[0] == s->kh && ks[1] == s->kw;
}

int fy__conv_geometry(const fy__node *nd, const fy_tensor *x, fy__conv_shape *s)
{
    int64_t st[2], dl[2], pads[4];
    if (x->rank != 4 || x->dims[1] != s->c || !ints_or(nd, "strides", 2, 1, 1, st) ||
        !ints_or(nd, "dilations", 2, 1, 1, dl) || !ints_or(nd, "pads", 4, 0, 0, pads))
        return 0;
    s->n = x->dims[0];
    s->h = x->dims[2];
    s->w = x->dims[3];
    s->sh = st[0];
    s->sw = st[1];
    s->dh = dl[0];
    s->dw = dl[1];
    const char *ap = fy__attr_str(nd, "auto_pad", "NOTSET");
    int64_t in[2] = {s->h, s->w}, k[2] = {s->kh, s->kw}, out[2];
    for (int i = 0; i < 2; i++) {
        int64_t dk = (k[i] - 1) * dl[i] + 1;
        if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            out[i] = (in[i] + st[i] - 1) / st[i];
            int64_t total = (out[i] - 1) * st[i] + dk - in[i];
            total = total < 0 ? 0 : total;
            pads[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            pads[i + 2] = total - pads[i];
        } else if (strcmp(ap, "VALID") == 0) {
            pads[i] = pads[i + 2] = 0;
        } else if (*ap && strcmp(ap, "NOTSET") != 0) {
            return 0;
        }
        int64_t span = in[i] + pads[i] + pads[i + 2] - dk;
        if (span < 0)
            return 0;
        out[i] = span / st[i] + 1;
    }
    s->oh = out[0];
    s->ow = out[1];
    s->pt = pads[0];
    s->pl = pads[1];
    s->pb = pads[2];
    s->pr = pads[3];
    return 1;
}

/* Conv's state. A 3x3 stride-1 conv may run as Winograd F(2, 3) or F(4, 3) or as
 * the im2col GEMM, and which is fastest depends on the spatial size, which only
 * the first run knows: such a conv packs nothing at session creation, and each
 * layout is packed from W the first time a run needs it (two runs racing both
 * pack; the loser frees its copy). Other convs pack the GEMM weights up front. */
typedef struct conv_state {
    int wino;                    /* Winograd candidate */
    _Atomic(fy__packed *) pk[4]; /* [0] im2col GEMM, [1] F(2, 3), [2] F(4, 3), [3] F(2, 3)
                                    with the transposed GEMMs */
} conv_state;

static void release_conv(void *state)
{
    conv_state *cs = state;
    if (!cs)
        return;
    for (int i = 0; i < 4; i++)
        fy__packed_free(atomic_load(&cs->pk[i]));
    fy__free(cs);
}

/* Whether a conv with these weights and attributes may run as Winograd (the input
 * shape is not known yet): 3x3, stride 1, undilated, one group, and enough
 * channels that the GEMMs outweigh the transforms. FERRY_WINOGRAD=0 turns it off
 * (engine debugging). */
static int wino_candidate(const fy__node *nd, const fy__conv_shape *s)
{
    int64_t st[2], dl[2];
    const char *env = getenv("FERRY_WINOGRAD");
    if (env && strcmp(env, "0") == 0)
        return 0;
    return s->kh == 3 && s->kw == 3 && s->group == 1 && s->c >= 16 && s->m >= 16 &&
           ints_or(nd, "strides", 2, 1, 1, st) && ints_or(nd, "dilations", 2, 1, 1, dl) &&
           st[0] == 1 && st[1] == 1 && dl[0] == 1 && dl[1] == 1;
}

/* The weights' layout for a run of shape s (a slot of conv_state): 0 im2col GEMM,
 * 1 F(2, 3), 2 F(4, 3), 3 F(2, 3) transposed, measured per ResNet layer
 * (docs/DESIGN.md "Winograd convolution"): F(4, 3) wastes little padding from
 * about 28 x 28 outputs on, F(2, 3) pays below that, and with fewer tiles than the
 * 32 columns of a microtile (7 x 7 at batch 1) the GEMMs run transposed. */
static int wino_slot(const fy__conv_shape *s)
{
    const char *env = getenv("FERRY_WINOGRAD");
    if (!fy__wino_ok(s))
        return 0;
    int tile = s->oh >= 20 && s->ow >= 20 ? 4 : 2;
    if (env && (strcmp(env, "2") == 0 || strcmp(env, "4") == 0))
        tile = env[0] - '0';
    int64_t tiles = s->n * ((s->oh + tile - 1) / tile) * ((s->ow + tile - 1) / tile);
    if (tile == 2 && tiles < 32 && s->m % 8 == 0)
        return 3;
    return tile / 2;
}

static int conv_prepare(const fy__op_prep *p, void **state)
{
    const fy_tensor *w = p->n_in > 1 ? p->consts[1] : NULL;
    fy__conv_shape s;
    if (!is_f32(w, 4) || !fy__conv_weights(p->node, w, &s))
        return FY_OK;
    conv_state *cs = fy__calloc(1, sizeof *cs);
    if (!cs)
        return nomem(p);
    cs->wino = wino_candidate(p->node, &s);
    fy__packed *pk = NULL;
    if (!cs->wino) {
        if (fy__conv_pack(&pk, &s, w->data) != FY_OK) {
            fy__free(cs);
            return nomem(p);
        }
        atomic_store(&cs->pk[0], pk);
    }
    *state = cs;
    return FY_OK;
}

/* The weights in layout `slot` (wino_slot) from the state,
 * packed now if this is the first run that needs them; NULL without a state
 * (W not constant) or out of memory. */
static const fy__packed *conv_weights(const fy__op_ctx *c, const fy__conv_shape *s,
                                      const float *w, int slot)
{
    conv_state *cs = c->state;
    if (!cs)
        return NULL;
    fy__packed *pk = atomic_load(&cs->pk[slot]), *mine = NULL;
    if (pk || (slot == 0 && !cs->wino))
        return pk;
    if ((slot ? fy__wino_pack(&mine, s, w, slot == 2 ? 4 : 2, slot == 3)
              : fy__conv_pack(&mine, s, w)) != FY_OK)
        return NULL;
    if (atomic_compare_exchange_strong(&cs->pk[slot], &pk, mine))
        return mine;
    fy__packed_free(mine); /* another run packed it first */
    return pk;
}

int fy__fast_conv(fy__op_ctx *c, const fy__epilogue *ep, int *rc)
{
    const fy_tensor *X = fy__op_in(c, 0), *W = fy__op_in(c, 1), *B = fy__op_in(c, 2);
    fy__conv_shape s;
    if (!is_f32(X, 4) || !is_f32(W, 4) || !fy__conv_weights(c->node, W, &s) ||
        !fy__conv_geometry(c->node, X, &s) || (B && (!is_f32(B, 1) || B->dims[0] != s.m)))
        return 0;
    int64_t dims[4] = {s.n, s.m, s.oh, s.ow};
    fy_tensor *Y = &c->out[0];
    /* every kernel below writes every output: no zero fill (1.7% of a batch-1 run) */
    if ((*rc = fy__tensor_alloc_uninit(Y, FY_DTYPE_F32, 4, dims, c->diag)) != FY_OK ||
        fy_tensor_numel(Y) == 0)
        return 1;
    fy__epilogue e = {0};
    if (ep)
        e = *ep;
    e.bias = B ? B->data : NULL;
    e.per_col = 0;
    const conv_state *cs = c->state;
    int slot = cs && cs->wino ? wino_slot(&s) : 0;
    const fy__packed *pw = conv_weights(c, &s, W->data, slot);
    if (pw && slot) {
        int plain = !e.bias && !e.residual && e.act == FY_ACT_NONE;
        int r = fy__wino_conv(c->pool, &s, X->data, pw, Y->data, plain ? NULL : &e);
        if (r != FY_OK)
            *rc = fy__op_fail(c, r, "out of memory for the Winograd transform buffers");
        return 1;
    }
    fy__packed *own = NULL;
    if (!pw) {
        if (fy__conv_pack(&own, &s, W->data) != FY_OK) {
            *rc = fy__op_fail(c, FY_ENOMEM, "out of memory packing weights");
            return 1;
        }
        pw = own;
    }
    fy__conv2d(c->pool, &s, X->data, pw, Y->data, &e);
    fy__packed_free(own);
    return 1;
}

static int op_conv(fy__op_ctx *c)
{
    int rc = FY_OK;
    return fy__fast_conv(c, NULL, &rc) ? rc : ref_run(c);
}

const fy__op_fast fy__ops_fast_nn[] = {
    {{"Conv", "", op_conv}, conv_prepare, release_conv},
    {{"Gemm", "", op_gemm}, gemm_prepare, release_packed},
    {{"MatMul", "", op_matmul}, matmul_prepare, release_packed},
    {{NULL, NULL, NULL}, NULL, NULL},
};
