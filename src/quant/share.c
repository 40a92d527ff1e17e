/* SPDX-License-Identifier: MIT */
/* Weight sharing: each layer's weights clustered by 1-D k-means into at most 2^k
 * values. Stored as a uint8 index tensor plus a float32 codebook and expanded in
 * the graph by standard ops: Gather(codebook, Cast(indices, int32)). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "quant_int.h"

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s)
{
    return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int float_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Index of the nearest centroid in sorted c[0..k) (ties to the lower one). */
static int nearest(const float *c, int k, float v)
{
    int lo = 0, hi = k - 1;
    while (lo < hi) { /* first centroid whose upper midpoint is >= v */
        int mid = (lo + hi) / 2;
        if (v <= 0.5f * (c[mid] + c[mid + 1]))
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int fy__kmeans(const float *x, int64_t n, int k, uint64_t seed, float *codebook, int *k_used,
               uint8_t *idx)
{
    if (n <= 0 || k < 1 || k > 256)
        return FY_EINVAL;
    float *xs = fy__malloc((size_t)n * sizeof(float));
    double *d2 = fy__malloc((size_t)n * sizeof(double));
    double *sum = fy__malloc((size_t)k * sizeof(double));
    int64_t *cnt = fy__malloc((size_t)k * sizeof(int64_t));
    if (!xs || !d2 || !sum || !cnt) {
        fy__free(xs);
        fy__free(d2);
        fy__free(sum);
        fy__free(cnt);
        return FY_ENOMEM;
    }
    memcpy(xs, x, (size_t)n * sizeof(float));
    qsort(xs, (size_t)n, sizeof(float), float_cmp);
    uint64_t st = seed ? seed : 1;
    /* k-means++: the first centre uniformly, each next one with probability
     * proportional to its squared distance from the nearest chosen centre. */
    int m = 0;
    codebook[m++] = xs[(int64_t)(uniform(&st) * (double)n) % n];
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)xs[i] - codebook[0];
        d2[i] = e * e;
        total += d2[i];
    }
    while (m < k && total > 0) {
        double r = uniform(&st) * total, acc = 0;
        int64_t pick = n - 1;
        for (int64_t i = 0; i < n; i++) {
            acc += d2[i];
            if (acc > r && d2[i] > 0) {
                pick = i;
                break;
            }
        }
        if (d2[pick] == 0)
            break;
        codebook[m++] = xs[pick];
        total = 0;
        for (int64_t i = 0; i < n; i++) {
            double e = (double)xs[i] - codebook[m - 1];
            if (e * e < d2[i])
                d2[i] = e * e;
            total += d2[i];
        }
    }
    qsort(codebook, (size_t)m, sizeof(float), float_cmp);
    /* Lloyd: with sorted data and sorted centres each cluster is a run of xs. */
    for (int it = 0; it < FY_KMEANS_MAX_ITERS; it++) {
        memset(sum, 0, (size_t)m * sizeof(double));
        memset(cnt, 0, (size_t)m * sizeof(int64_t));
        int j = 0;
        for (int64_t i = 0; i < n; i++) {
            while (j + 1 < m && xs[i] > 0.5f * (codebook[j] + codebook[j + 1]))
                j++;
            sum[j] += xs[i];
            cnt[j]++;
        }
        int changed = 0;
        for (int c = 0; c < m; c++) {
            float nv = cnt[c] ? (float)(sum[c] / (double)cnt[c]) : codebook[c];
            changed |= nv != codebook[c];
            codebook[c] = nv;
        }
        qsort(codebook, (size_t)m, sizeof(float), float_cmp);
        if (!changed)
            break;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = (uint8_t)nearest(codebook, m, x[i]);
    *k_used = m;
    fy__free(xs);
    fy__free(d2);
    fy__free(sum);
    fy__free(cnt);
    return FY_OK;
}

static void note(qlayer *l, const char *what)
{
    if (!l->rep)
        return;
    size_t len = strlen(l->rep->method);
    snprintf(l->rep->method + len, sizeof l->rep->method - len, "%s%s", len ? " " : "", what);
}

/* Cluster one layer. Exact zeros (from pruning) keep a centroid of their own
 * at 0, so sharing never undoes sparsity. */
static int share_layer(qmodel *q, qlayer *l, int bits, uint64_t seed)
{
    float *w = NULL, *nzv = NULL, cb[256];
    uint8_t *idx = NULL, *nzi = NULL;
    int64_t cnt, dims[FY_MAX_RANK];
    int rank, rc = fy__q_init_f32(q, l->init, &w, &cnt, &rank, dims);
    if (rc != FY_OK)
        return rc;
    int k = 1 << bits, used = 0;
    idx = fy__malloc((size_t)cnt + 1);
    nzv = fy__malloc((size_t)cnt * sizeof(float) + 4);
    nzi = fy__malloc((size_t)cnt + 1);
    if (!idx || !nzv || !nzi) {
        rc = fy__diag_set(q->d, FY_ENOMEM, "out of memory clustering");
        goto done;
    }
    int64_t nz = 0;
    for (int64_t i = 0; i < cnt; i++)
        if (w[i] != 0.0f)
            nzv[nz++] = w[i];
    int has_zero = nz < cnt;
    if (nz > 0) {
        rc = fy__kmeans(nzv, nz, has_zero ? k - 1 : k, seed, cb + has_zero, &used, nzi);
        if (rc != FY_OK) {
            rc = fy__diag_set(q->d, rc, "k-means failed");
            goto done;
        }
    }
    if (has_zero)
        cb[0] = 0.0f;
    int total = used + has_zero;
    /* Keep the codebook sorted with 0 in place, and remap indices. */
    int order[257], pos[257];
    for (int i = 0; i < total; i++)
        order[i] = i;
    for (int i = 1; i < total; i++)
        for (int j = i; j > 0 && cb[order[j]] < cb[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    float sorted[256];
    for (int i = 0; i < total; i++) {
        sorted[i] = cb[order[i]];
        pos[order[i]] = i;
    }
    double err = 0;
    int64_t nzafter = 0, j = 0;
    for (int64_t i = 0; i < cnt; i++) {
        int c = w[i] != 0.0f ? nzi[j++] + has_zero : 0;
        idx[i] = (uint8_t)pos[c];
        double e = fabs((double)sorted[idx[i]] - w[i]);
        err = e > err ? e : err;
        nzafter += sorted[idx[i]] != 0.0f;
    }
    if (l->rep) {
        l->rep->max_abs_err = err;
        l->rep->nonzero_after = nzafter;
    }
    char orig[512], n_idx[520], n_cb[520], n_i32[520], nn[600];
    snprintf(orig, sizeof orig, "%s", q->g->initializer[l->init]->name);
    if ((rc = fy__q_name(q, orig, "index", n_idx, sizeof n_idx)) ||
        (rc = fy__q_name(q, orig, "codebook", n_cb, sizeof n_cb)) ||
        (rc = fy__q_name(q, orig, "index_int32", n_i32, sizeof n_i32)))
        goto done;
    if ((rc = fy__q_set_init(q, l->init, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, rank, dims, idx)))
        goto done;
    char *s = fy__strdup(n_idx);
    if (!s) {
        rc = fy__diag_set(q->d, FY_ENOMEM, "out of memory");
        goto done;
    }
    fy__free(q->g->initializer[l->init]->name);
    q->g->initializer[l->init]->name = s;
    int64_t cbd[1] = {total};
    if ((rc = fy__q_add_init(q, n_cb, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, cbd, sorted)) < 0)
        goto done;
    snprintf(nn, sizeof nn, "%s_Gather", orig);
    if ((rc = fy__q_add_node(q, 0, "Gather", nn, 2, (const char *[]){n_cb, n_i32}, 1,
                             (const char *[]){orig})) < 0 ||
        (rc = fy__q_attr_int(q, 0, "axis", 0)) != FY_OK)
        goto done;
    snprintf(nn, sizeof nn, "%s_Cast", orig);
    if ((rc = fy__q_add_node(q, 0, "Cast", nn, 1, (const char *[]){n_idx}, 1,
                             (const char *[]){n_i32})) < 0 ||
        (rc = fy__q_attr_int(q, 0, "to", ONNX__TENSOR_PROTO__DATA_TYPE__INT32)) != FY_OK)
        goto done;
    char what[48];
    snprintf(what, sizeof what, "share(%d values)", total);
    note(l, what);
    rc = FY_OK;
done:
    fy__free(w);
    fy__free(idx);
    fy__free(nzv);
    fy__free(nzi);
    return rc < 0 ? rc : FY_OK;
}

int fy__share_weights(qmodel *q, qlayer *L, int n, int bits, uint64_t seed)
{
    if (bits < 1 || bits > FY_SHARE_MAX_BITS)
        return fy__diag_set(q->d, FY_EINVAL, "weight sharing wants 1 to %d bits, got %d",
                            FY_SHARE_MAX_BITS, bits);
    for (int i = 0; i < n; i++) {
        if (L[i].excluded)
            continue;
        int rc = share_layer(q, &L[i], bits, seed);
        if (rc != FY_OK)
            return rc;
        for (int k = 0; k < n; k++)
            L[k].node += 2; /* the Cast and Gather went in front */
    }
    return FY_OK;
}
