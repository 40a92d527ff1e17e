/* SPDX-License-Identifier: MIT */
/* Pruning: per-layer magnitude (W' = W * mask, mask = |w| / max|w| > r), global
 * unstructured to a target sparsity, and structured pruning that removes whole
 * output channels or neurons and the matching inputs of the next layer, so the
 * model really shrinks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "quant_int.h"

void fy__prune_mask(const float *w, int64_t n, double r, uint8_t *keep)
{
    float mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(w[i]) > mx)
            mx = fabsf(w[i]);
    for (int64_t i = 0; i < n; i++)
        keep[i] = mx > 0 && (double)fabsf(w[i]) / (double)mx > r;
}

static void note(qlayer *l, const char *what)
{
    if (!l->rep)
        return;
    size_t len = strlen(l->rep->method);
    snprintf(l->rep->method + len, sizeof l->rep->method - len, "%s%s", len ? " " : "", what);
}

int fy__prune_layers(qmodel *q, qlayer *L, int n, double r)
{
    char what[48];
    snprintf(what, sizeof what, "prune(r=%g)", r);
    for (int i = 0; i < n; i++) {
        if (L[i].excluded)
            continue;
        float *w = NULL;
        int64_t cnt, dims[FY_MAX_RANK];
        int rank, rc = fy__q_init_f32(q, L[i].init, &w, &cnt, &rank, dims);
        if (rc != FY_OK)
            return rc;
        uint8_t *keep = fy__malloc((size_t)cnt + 1);
        if (!keep) {
            fy__free(w);
            return fy__diag_set(q->d, FY_ENOMEM, "out of memory pruning");
        }
        fy__prune_mask(w, cnt, r, keep);
        for (int64_t k = 0; k < cnt; k++)
            if (!keep[k])
                w[k] = 0.0f;
        fy__free(keep);
        rc = fy__q_set_init(q, L[i].init, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims, w);
        fy__free(w);
        if (rc != FY_OK)
            return rc;
        note(&L[i], what);
    }
    return FY_OK;
}

typedef struct mag {
    float a;
    int layer;
    int64_t at;
} mag;

static int mag_cmp(const void *pa, const void *pb)
{
    const mag *a = pa, *b = pb;
    if (a->a != b->a)
        return a->a < b->a ? -1 : 1;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Zero exactly floor(sparsity * total) of the weights with the smallest |w| over
 * all layers (ties broken by layer, then position, so the result is fixed). */
int fy__prune_global(qmodel *q, qlayer *L, int n, double sparsity)
{
    int rc = FY_OK;
    float **ws = fy__calloc((size_t)n + 1, sizeof *ws);
    int64_t *cnt = fy__calloc((size_t)n + 1, sizeof *cnt);
    int64_t(*dims)[FY_MAX_RANK] = fy__calloc((size_t)n + 1, sizeof *dims);
    int *rank = fy__calloc((size_t)n + 1, sizeof *rank);
    mag *all = NULL;
    int64_t total = 0;
    if (!ws || !cnt || !dims || !rank) {
        rc = fy__diag_set(q->d, FY_ENOMEM, "out of memory pruning");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (L[i].excluded)
            continue;
        if ((rc = fy__q_init_f32(q, L[i].init, &ws[i], &cnt[i], &rank[i], dims[i])) != FY_OK)
            goto done;
        total += cnt[i];
    }
    all = fy__malloc((size_t)(total ? total : 1) * sizeof *all);
    if (!all) {
        rc =
            fy__diag_set(q->d, FY_ENOMEM, "out of memory pruning (%lld weights)", (long long)total);
        goto done;
    }
    int64_t k = 0;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; ws[i] && j < cnt[i]; j++)
            all[k++] = (mag){fabsf(ws[i][j]), i, j};
    qsort(all, (size_t)total, sizeof *all, mag_cmp);
    int64_t zero = (int64_t)floor(sparsity * (double)total);
    for (int64_t j = 0; j < zero; j++)
        ws[all[j].layer][all[j].at] = 0.0f;
    char what[48];
    snprintf(what, sizeof what, "prune-global(%g)", sparsity);
    for (int i = 0; i < n; i++) {
        if (!ws[i])
            continue;
        if ((rc = fy__q_set_init(q, L[i].init, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank[i],
                                 dims[i], ws[i])) != FY_OK)
            goto done;
        note(&L[i], what);
    }
done:
    for (int i = 0; ws && i < n; i++)
        fy__free(ws[i]);
    fy__free(ws);
    fy__free(cnt);
    fy__free(dims);
    fy__free(rank);
    fy__free(all);
    return rc;
}

/* ---- structured ---- */

/* Ops a channel passes through unchanged in position (per-channel or
 * elementwise), so removing channel c before them removes channel c after. */
static int channel_preserving(const Onnx__NodeProto *n)
{
    static const char *const ops[] = {"Relu",    "LeakyRelu",   "Sigmoid",           "Tanh",
                                      "MaxPool", "AveragePool", "GlobalAveragePool", "Elu",
                                      "Selu",    "HardSigmoid", "Softplus",          "Identity",
                                      NULL};
    for (int i = 0; ops[i]; i++)
        if (strcmp(n->op_type, ops[i]) == 0)
            return 1;
    return strcmp(n->op_type, "Clip") == 0 && n->n_input == 1; /* opset < 11: attributes */
}

static int sole_consumer(const qmodel *q, const char *value)
{
    int found = -1;
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_input; k++)
            if (strcmp(q->g->node[i]->input[k], value) == 0) {
                if (found >= 0 && found != (int)i)
                    return -1;
                found = (int)i;
            }
    for (size_t i = 0; i < q->g->n_output; i++)
        if (strcmp(q->g->output[i]->name, value) == 0)
            return -1;
    return found;
}

/* Keep along axis only the channels in keep[0..nk) (each a block of `block`
 * consecutive indices). */
static float *slice(const float *w, int rank, int64_t *dims, int axis, const int *keep, int nk,
                    int64_t block)
{
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= dims[i];
    for (int i = axis + 1; i < rank; i++)
        inner *= dims[i];
    int64_t size = dims[axis];
    float *o = fy__malloc((size_t)(outer * nk * block * inner + 1) * sizeof(float));
    if (!o)
        return NULL;
    float *p = o;
    for (int64_t a = 0; a < outer; a++)
        for (int k = 0; k < nk; k++) {
            memcpy(p, w + (a * size + keep[k] * block) * inner,
                   (size_t)(block * inner) * sizeof(float));
            p += block * inner;
        }
    dims[axis] = nk * block;
    return o;
}

static int slice_init(qmodel *q, int idx, int axis, const int *keep, int nk, int64_t block)
{
    float *w = NULL;
    int64_t cnt, dims[FY_MAX_RANK];
    int rank, rc = fy__q_init_f32(q, idx, &w, &cnt, &rank, dims);
    if (rc != FY_OK)
        return rc;
    if (axis < 0)
        axis = rank - 1; /* a bias: [M] or [1, M] */
    if (axis < 0 || axis >= rank || dims[axis] % block != 0) {
        fy__free(w);
        return fy__diag_set(q->d, FY_EINVAL, "cannot slice '%s'", q->g->initializer[idx]->name);
    }
    float *o = slice(w, rank, dims, axis, keep, nk, block);
    fy__free(w);
    if (!o)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory slicing");
    rc = fy__q_set_init(q, idx, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims, o);
    fy__free(o);
    return rc;
}

typedef struct chan_score {
    double s;
    int c;
} chan_score;

static int score_cmp(const void *pa, const void *pb)
{
    const chan_score *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    return a->c - b->c;
}

static int int_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Prune layer A's output channels feeding layer B; returns channels removed. */
static int prune_pair(qmodel *q, qlayer *A, qlayer *B, int64_t block, double frac, int *removed)
{
    *removed = 0;
    float *w = NULL;
    int64_t cnt, dims[FY_MAX_RANK];
    int rank, rc = fy__q_init_f32(q, A->init, &w, &cnt, &rank, dims);
    if (rc != FY_OK)
        return rc;
    int64_t M = dims[A->out_axis];
    int64_t per = cnt / (M ? M : 1);
    int64_t drop = (int64_t)floor(frac * (double)M);
    if (drop >= M)
        drop = M - 1;
    if (drop <= 0 || M > INT32_MAX) {
        fy__free(w);
        return FY_OK;
    }
    chan_score *sc = fy__malloc((size_t)M * sizeof *sc);
    int *keep = fy__malloc((size_t)M * sizeof *keep);
    if (!sc || !keep) {
        fy__free(w);
        fy__free(sc);
        fy__free(keep);
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory pruning channels");
    }
    /* L1 norm of each output channel's weights. */
    for (int64_t c = 0; c < M; c++) {
        double s = 0;
        for (int64_t j = 0; j < per; j++)
            s += fabs(A->out_axis == 0 ? w[c * per + j] : w[j * M + c]);
        sc[c] = (chan_score){s, (int)c};
    }
    fy__free(w);
    qsort(sc, (size_t)M, sizeof *sc, score_cmp);
    int nk = 0;
    for (int64_t c = drop; c < M; c++)
        keep[nk++] = sc[c].c;
    qsort(keep, (size_t)nk, sizeof *keep, int_cmp);
    fy__free(sc);
    rc = slice_init(q, A->init, A->out_axis, keep, nk, 1);
    if (rc == FY_OK && A->bias_init >= 0)
        rc = slice_init(q, A->bias_init, -1, keep, nk, 1);
    /* B's input axis: Conv [M, C, ...] -> 1; Gemm transB [N, K] -> 1; else [K, N] -> 0 */
    int in_axis = B->kind == QL_CONV ? 1 : B->out_axis == 0 ? 1 : 0;
    if (rc == FY_OK)
        rc = slice_init(q, B->init, in_axis, keep, nk, block);
    fy__free(keep);
    *removed = (int)drop;
    return rc;
}

int fy__prune_structured(qmodel *q, qlayer *L, int n, double frac)
{
    for (int i = 0; i < n; i++) {
        qlayer *A = &L[i];
        const Onnx__NodeProto *an = q->g->node[A->node];
        if (A->excluded || (A->kind == QL_CONV && fy__q_get_int(an, "group", 1) != 1))
            continue;
        if (A->bias_init >= 0 && fy__q_uses(q, q->g->initializer[A->bias_init]->name) != 1)
            continue;
        if (fy__q_uses(q, q->g->initializer[A->init]->name) != 1)
            continue;
        /* Follow the single-consumer chain to the next layer. */
        const char *v = an->output[0];
        int flatten = 0, ok = 1, next = -1;
        const char *chain[64];
        int n_chain = 0;
        chain[n_chain++] = v;
        for (int steps = 0; steps < 60; steps++) {
            int c = sole_consumer(q, v);
            if (c < 0) {
                ok = 0;
                break;
            }
            const Onnx__NodeProto *cn = q->g->node[c];
            if (strcmp(cn->input[0], v) != 0) {
                ok = 0;
                break;
            }
            int is_layer = -1;
            for (int k = 0; k < n; k++)
                if (L[k].node == c)
                    is_layer = k;
            if (is_layer >= 0) {
                next = is_layer;
                break;
            }
            if (strcmp(cn->op_type, "Flatten") == 0 && A->kind == QL_CONV && !flatten &&
                fy__q_get_int(cn, "axis", 1) == 1) {
                flatten = 1;
            } else if (!channel_preserving(cn) || cn->n_output != 1) {
                ok = 0;
                break;
            }
            v = cn->output[0];
            chain[n_chain++] = v;
        }
        if (!ok || next < 0)
            continue;
        qlayer *B = &L[next];
        const Onnx__NodeProto *bn = q->g->node[B->node];
        if (B->excluded || fy__q_uses(q, q->g->initializer[B->init]->name) != 1)
            continue;
        if (B->kind == QL_CONV && (A->kind != QL_CONV || fy__q_get_int(bn, "group", 1) != 1))
            continue;
        if (A->kind == QL_CONV && B->kind != QL_CONV && !flatten)
            continue; /* a Conv's [N, M, H, W] output must be flattened before a Gemm */
        const Onnx__TensorProto *aw = q->g->initializer[A->init], *bw = q->g->initializer[B->init];
        int64_t M = aw->dims[A->out_axis];
        int in_axis = B->kind == QL_CONV ? 1 : B->out_axis == 0 ? 1 : 0;
        int64_t K = bw->dims[in_axis];
        if (M <= 0 || K % M != 0 || (!flatten && K != M))
            continue;
        if (A->bias_init >= 0) {
            const Onnx__TensorProto *ab = q->g->initializer[A->bias_init];
            if (ab->n_dims < 1 || ab->dims[ab->n_dims - 1] != M)
                continue; /* a broadcast bias cannot lose channels */
        }
        int removed = 0;
        int rc = prune_pair(q, A, B, K / M, frac, &removed);
        if (rc != FY_OK)
            return rc;
        if (removed) {
            for (int k = 0; k < n_chain; k++)
                fy__q_forget_shape(q, chain[k]);
            char what[64];
            snprintf(what, sizeof what, "prune-structured(-%d of %lld)", removed, (long long)M);
            note(A, what);
        }
    }
    return FY_OK;
}
