/* SPDX-License-Identifier: MIT */
/* Fast float32 LayerNormalization: rows over the thread pool (fy__layernorm_row),
 * no per-call buffers. Mean and variance are summed in double like the reference,
 * in independent lanes; the common layout
 * only (Scale and B exactly the normalized shape, only output Y consumed). */
#include <math.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../ops.h"
#include "fast.h"
#include "fast_int.h"

typedef struct ln_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t n;
    double eps;
} ln_job;

static void ln_rows(void *ctx, int64_t begin, int64_t end)
{
    const ln_job *j = ctx;
    for (int64_t r = begin; r < end; r++)
        fy__layernorm_row(j->x + r * j->n, j->y + r * j->n, j->n, j->scale, j->bias, j->eps);
}

/* p holds exactly the trailing n elements of x's shape (after leading 1s). */
static int exact_param(const fy_tensor *p, const fy_tensor *x, int axis)
{
    if (!p || p->dtype != FY_DTYPE_F32 || p->rank > x->rank)
        return p == NULL;
    int lead = p->rank - (x->rank - axis);
    for (int i = 0; i < p->rank; i++) {
        int xi = x->rank - p->rank + i;
        if (i < lead ? p->dims[i] != 1 : p->dims[i] != x->dims[xi])
            return 0;
    }
    return lead >= 0;
}

static int op_layernorm(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0), *sc = fy__op_in(c, 1), *b = fy__op_in(c, 2);
    int64_t axis = x ? fy__attr_int(c->node, "axis", -1) : 0;
    if (x && axis < 0)
        axis += x->rank;
    if (!x || x->dtype != FY_DTYPE_F32 || x->rank < 1 || axis < 0 || axis >= x->rank || !sc ||
        !exact_param(sc, x, (int)axis) || !exact_param(b, x, (int)axis) ||
        fy__attr_int(c->node, "stash_type", FY_DTYPE_F32) != FY_DTYPE_F32 ||
        fy__op_wants_out(c, 1) || fy__op_wants_out(c, 2)) {
        const fy__op_def *d = fy__op_find_ref(c->node->domain, c->node->op_type);
        return d ? d->run(c) : fy__op_fail(c, FY_EUNSUPPORTED, "no reference kernel");
    }
    /* every row is written */
    int rc = fy__tensor_alloc_uninit(&c->out[0], FY_DTYPE_F32, x->rank, x->dims, c->diag);
    int64_t n = fy__dims_prod(x->dims, (int)axis, x->rank);
    if (rc != FY_OK || n == 0 || fy_tensor_numel(x) == 0)
        return rc;
    ln_job j = {x->data,        sc->data, b ? b->data : NULL,
                c->out[0].data, n,        fy__attr_float(c->node, "epsilon", 1e-5f)};
    fy_pool_run(c->pool, fy_tensor_numel(x) / n, (4096 + n - 1) / n, ln_rows, &j);
    return FY_OK;
}

const fy__op_fast fy__ops_fast_norm[] = {
    {{"LayerNormalization", "", op_layernorm}, NULL, NULL},
    {{NULL, NULL, NULL}, NULL, NULL},
};
