/* SPDX-License-Identifier: MIT */
/* Fast Transpose for 4- and 8-byte elements: the output is a batch of 2-D copies
 * over its last two axes, done in cache tiles (rows at once when the innermost
 * axis stays contiguous), batches split over the thread pool. */
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../ops.h"
#include "fast.h"

#define TILE 16

typedef struct tr_job {
    int outer_rank;             /* output axes before the last two */
    int64_t odims[FY_MAX_RANK]; /* output dims of those axes */
    int64_t ostr[FY_MAX_RANK];  /* input stride (elements) of each output axis */
    int64_t A, B, sa, sb;       /* last two output axes: sizes, input strides */
    size_t es;                  /* element size, 4 or 8 */
    const unsigned char *x;
    unsigned char *y;
} tr_job;

static void copy_2d(const tr_job *j, const unsigned char *x, unsigned char *y)
{
    const size_t es = j->es;
    if (j->sb == 1) { /* rows stay contiguous */
        for (int64_t a = 0; a < j->A; a++)
            memcpy(y + (size_t)(a * j->B) * es, x + (size_t)(a * j->sa) * es, (size_t)j->B * es);
        return;
    }
    for (int64_t a0 = 0; a0 < j->A; a0 += TILE)
        for (int64_t b0 = 0; b0 < j->B; b0 += TILE) {
            int64_t a1 = a0 + TILE < j->A ? a0 + TILE : j->A;
            int64_t b1 = b0 + TILE < j->B ? b0 + TILE : j->B;
            for (int64_t a = a0; a < a1; a++) {
                unsigned char *yd = y + (size_t)(a * j->B) * es;
                const unsigned char *xs = x + (size_t)(a * j->sa) * es;
                /* fixed-size memcpy: one move each, without type punning */
                if (es == 4)
                    for (int64_t b = b0; b < b1; b++)
                        memcpy(yd + (size_t)b * 4, xs + (size_t)(b * j->sb) * 4, 4);
                else
                    for (int64_t b = b0; b < b1; b++)
                        memcpy(yd + (size_t)b * 8, xs + (size_t)(b * j->sb) * 8, 8);
            }
        }
}

static void tr_batches(void *ctx, int64_t begin, int64_t end)
{
    const tr_job *j = ctx;
    for (int64_t t = begin; t < end; t++) {
        int64_t rem = t, off = 0;
        for (int i = j->outer_rank - 1; i >= 0; i--) {
            off += (rem % j->odims[i]) * j->ostr[i];
            rem /= j->odims[i];
        }
        copy_2d(j, j->x + (size_t)off * j->es, j->y + (size_t)(t * j->A * j->B) * j->es);
    }
}

static int op_transpose(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0);
    int r = x ? x->rank : 0;
    /* numbers of 4 or 8 bytes (not strings, whose elements are owned pointers) */
    fy_dtype dt = x ? x->dtype : FY_DTYPE_UNDEFINED;
    size_t es = dt == FY_DTYPE_F32 || dt == FY_DTYPE_I32 || dt == FY_DTYPE_U32   ? 4
                : dt == FY_DTYPE_F64 || dt == FY_DTYPE_I64 || dt == FY_DTYPE_U64 ? 8
                                                                                 : 0;
    int64_t perm[FY_MAX_RANK], dims[FY_MAX_RANK], in_st[FY_MAX_RANK];
    const int64_t *p = NULL;
    int64_t n = x ? fy__attr_ints(c->node, "perm", &p) : -1;
    int ok = es && r >= 2 && (n < 0 || n == r) && fy_tensor_numel(x) > 0;
    int used[FY_MAX_RANK] = {0};
    for (int i = 0; ok && i < r; i++) {
        perm[i] = n < 0 ? r - 1 - i : p[i];
        ok = perm[i] >= 0 && perm[i] < r && !used[perm[i]];
        if (ok)
            used[perm[i]] = 1;
    }
    if (!ok) {
        const fy__op_def *d = fy__op_find_ref(c->node->domain, c->node->op_type);
        return d ? d->run(c) : fy__op_fail(c, FY_EUNSUPPORTED, "no reference kernel");
    }
    fy__strides(r, x->dims, in_st);
    tr_job j = {r - 2, {0}, {0}, 0, 0, 0, 0, es, x->data, NULL};
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        if (i < r - 2) {
            j.odims[i] = dims[i];
            j.ostr[i] = in_st[perm[i]];
        }
    }
    j.A = dims[r - 2];
    j.B = dims[r - 1];
    j.sa = in_st[perm[r - 2]];
    j.sb = in_st[perm[r - 1]];
    /* every element is written */
    int rc = fy__tensor_alloc_uninit(&c->out[0], x->dtype, r, dims, c->diag);
    if (rc != FY_OK)
        return rc;
    j.y = c->out[0].data;
    int64_t plane = j.A * j.B, batches = fy_tensor_numel(x) / plane;
    fy_pool_run(c->pool, batches, (16384 + plane - 1) / plane, tr_batches, &j);
    return FY_OK;
}

const fy__op_fast fy__ops_fast_shape[] = {
    {{"Transpose", "", op_transpose}, NULL, NULL},
    {{NULL, NULL, NULL}, NULL, NULL},
};
