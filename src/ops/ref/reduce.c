/* SPDX-License-Identifier: MIT */
/* Reference kernels for reductions along axes: Reduce*, ArgMax/ArgMin, the softmax
 * family, LayerNormalization, MeanVarianceNormalization, TopK, CumSum, the two
 * classification losses, Einsum and Det. Plain C, exact to the ONNX spec. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* ---------------------------------------------------------------- helpers */

static int numeric_dtype(fy_dtype dt)
{
    return fy__dtype_is_float(dt) || fy__dtype_is_int(dt);
}

/* Compare elements i and j of t: -1, 0 or 1. NaN sorts above every number (and
 * equal to NaN), as numpy's sort does; 64-bit integers are compared exactly. */
static int elem_cmp(const fy_tensor *t, int64_t i, int64_t j)
{
    if (t->dtype == FY_DTYPE_U64) {
        uint64_t a = ((const uint64_t *)t->data)[i], b = ((const uint64_t *)t->data)[j];
        return (a > b) - (a < b);
    }
    if (fy__dtype_is_int(t->dtype) || t->dtype == FY_DTYPE_BOOL) {
        int64_t a = fy__get_i64(t, i), b = fy__get_i64(t, j);
        return (a > b) - (a < b);
    }
    double a = fy__get_f64(t, i), b = fy__get_f64(t, j);
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

/* Smallest and largest value of an integer (or bool) dtype, as int64 bit patterns. */
static void int_range(fy_dtype dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case FY_DTYPE_U8:
        *lo = 0;
        *hi = UINT8_MAX;
        break;
    case FY_DTYPE_I8:
        *lo = INT8_MIN;
        *hi = INT8_MAX;
        break;
    case FY_DTYPE_U16:
        *lo = 0;
        *hi = UINT16_MAX;
        break;
    case FY_DTYPE_I16:
        *lo = INT16_MIN;
        *hi = INT16_MAX;
        break;
    case FY_DTYPE_I32:
        *lo = INT32_MIN;
        *hi = INT32_MAX;
        break;
    case FY_DTYPE_U32:
        *lo = 0;
        *hi = UINT32_MAX;
        break;
    case FY_DTYPE_U64:
        *lo = 0;
        *hi = -1;
        break; /* UINT64_MAX's bits */
    case FY_DTYPE_BOOL:
        *lo = 0;
        *hi = 1;
        break;
    default:
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        break;
    }
}

/* ------------------------------------------------------ reduction planning */

/* Which axes a reduction folds, and the offsets that visit one output's inputs:
 * input element (outer offset of output o) + roff[j] for j < n_red. */
typedef struct red_plan {
    int rank;
    int red[FY_MAX_RANK]; /* 1 on reduced axes */
    int out_rank;
    int64_t out_dims[FY_MAX_RANK];
    int64_t n_out, n_red;
    int64_t *roff; /* n_red offsets into the input, relative */
    int kept_rank; /* kept axes, for iterating outputs */
    int64_t kept_dims[FY_MAX_RANK];
    int64_t kept_strides[1][FY_MAX_RANK];
} red_plan;

static void red_plan_free(red_plan *p)
{
    free(p->roff);
    p->roff = NULL;
}

/* Build the plan for reducing x over the axes flagged in red[]. */
static int red_plan_init(fy__op_ctx *c, red_plan *p, const fy_tensor *x, const int *red,
                         int keepdims)
{
    int64_t strides[FY_MAX_RANK];
    int64_t rdims[FY_MAX_RANK], rstr[1][FY_MAX_RANK];
    int rr = 0;

    memset(p, 0, sizeof *p);
    p->rank = x->rank;
    fy__strides(x->rank, x->dims, strides);
    p->n_out = 1;
    p->n_red = 1;
    for (int i = 0; i < x->rank; i++) {
        p->red[i] = red[i];
        if (red[i]) {
            rdims[rr] = x->dims[i];
            rstr[0][rr++] = strides[i];
            p->n_red *= x->dims[i];
            if (keepdims)
                p->out_dims[p->out_rank++] = 1;
        } else {
            p->kept_dims[p->kept_rank] = x->dims[i];
            p->kept_strides[0][p->kept_rank++] = strides[i];
            p->out_dims[p->out_rank++] = x->dims[i];
            p->n_out *= x->dims[i];
        }
    }
    p->roff = malloc(sizeof *p->roff * (size_t)(p->n_red ? p->n_red : 1));
    if (!p->roff)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld reduction offsets",
                           (long long)p->n_red);
    if (p->n_red > 0) {
        fy__iter it;
        fy__iter_init(&it, rr, rdims, 1, (const int64_t(*)[FY_MAX_RANK])rstr);
        for (int64_t j = 0; j < p->n_red; j++) {
            p->roff[j] = it.off[0];
            if (j + 1 < p->n_red)
                fy__iter_next(&it);
        }
    }
    return FY_OK;
}

/* ------------------------------------------------------------------ Reduce* */

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ };

static double reduce_f64(int op, const double *v, int64_t n)
{
    double s = 0.0, m;
    switch (op) {
    case R_SUM:
        for (int64_t i = 0; i < n; i++)
            s += v[i];
        return s;
    case R_MEAN:
        for (int64_t i = 0; i < n; i++)
            s += v[i];
        return n ? s / (double)n : NAN;
    case R_MAX:
        m = -INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (v[i] > m || isnan(v[i]))
                m = v[i];
        return m;
    case R_MIN:
        m = INFINITY;
        for (int64_t i = 0; i < n; i++)
            if (v[i] < m || isnan(v[i]))
                m = v[i];
        return m;
    case R_PROD:
        s = 1.0;
        for (int64_t i = 0; i < n; i++)
            s *= v[i];
        return s;
    case R_L1:
        for (int64_t i = 0; i < n; i++)
            s += fabs(v[i]);
        return s;
    case R_L2:
        for (int64_t i = 0; i < n; i++)
            s += v[i] * v[i];
        return sqrt(s);
    case R_LOGSUM:
        for (int64_t i = 0; i < n; i++)
            s += v[i];
        return log(s);
    case R_LOGSUMEXP:
        /* Subtract the maximum so large inputs do not overflow exp. */
        m = reduce_f64(R_MAX, v, n);
        if (isinf(m) || isnan(m))
            return m;
        for (int64_t i = 0; i < n; i++)
            s += exp(v[i] - m);
        return m + log(s);
    default: /* R_SUMSQ */
        for (int64_t i = 0; i < n; i++)
            s += v[i] * v[i];
        return s;
    }
}

/* Integer reductions wrap modulo 2^64 (then truncate to the dtype), never UB. */
static int64_t reduce_i64(int op, const int64_t *v, int64_t n, fy_dtype dt)
{
    uint64_t s = 0;
    int64_t lo, hi, m;
    int uns = dt == FY_DTYPE_U64;
    int_range(dt, &lo, &hi);
    switch (op) {
    case R_SUM:
        for (int64_t i = 0; i < n; i++)
            s += (uint64_t)v[i];
        return (int64_t)s;
    case R_MEAN:
        for (int64_t i = 0; i < n; i++)
            s += (uint64_t)v[i];
        if (!n)
            return 0;
        return uns ? (int64_t)(s / (uint64_t)n) : (int64_t)s / n;
    case R_MAX:
        m = lo;
        for (int64_t i = 0; i < n; i++)
            if (uns ? (uint64_t)v[i] > (uint64_t)m : v[i] > m)
                m = v[i];
        return m;
    case R_MIN:
        m = hi;
        for (int64_t i = 0; i < n; i++)
            if (uns ? (uint64_t)v[i] < (uint64_t)m : v[i] < m)
                m = v[i];
        return m;
    case R_PROD:
        s = 1;
        for (int64_t i = 0; i < n; i++)
            s *= (uint64_t)v[i];
        return (int64_t)s;
    case R_L1:
        for (int64_t i = 0; i < n; i++)
            s += (!uns && v[i] < 0) ? 0 - (uint64_t)v[i] : (uint64_t)v[i];
        return (int64_t)s;
    default: /* R_SUMSQ */
        for (int64_t i = 0; i < n; i++)
            s += (uint64_t)v[i] * (uint64_t)v[i];
        return (int64_t)s;
    }
}

/* Axes of a Reduce* node into red[]; returns FY_OK. The axes moved from attribute
 * to input 1 at opset 13 for ReduceSum and opset 18 for the others. */
static int reduce_axes(fy__op_ctx *c, const fy_tensor *x, int input_opset, int *red)
{
    int64_t axes[FY_MAX_RANK];
    int n = 0, from_input = c->opset >= input_opset;
    const fy__attr *aa = fy__attr_find(c->node, "axes");

    if (from_input) {
        if (aa)
            return fy__op_fail(c, FY_EINVAL, "attribute 'axes' was replaced by input 1 in opset %d",
                               input_opset);
        if (c->n_in > 1 && c->in[1]) {
            n = fy__read_ints(c, c->in[1], axes, FY_MAX_RANK, "axes (input 1)");
            if (n < 0)
                return n;
        }
    } else {
        if (c->n_in > 1 && c->in[1])
            return fy__op_fail(c, FY_EINVAL, "axes input 1 needs opset %d, model has %d",
                               input_opset, c->opset);
        if (aa) {
            if (aa->type != FY_ATTR_INTS || aa->n > FY_MAX_RANK)
                return fy__op_fail(c, FY_EINVAL, "attribute 'axes' must list at most %d ints",
                                   FY_MAX_RANK);
            n = (int)aa->n;
            for (int i = 0; i < n; i++)
                axes[i] = aa->ints[i];
        }
    }
    for (int i = 0; i < x->rank; i++)
        red[i] = 0;
    if (n == 0) {
        int noop = from_input && fy__attr_int(c->node, "noop_with_empty_axes", 0) != 0;
        /* No axes: reduce everything, or (noop) reduce nothing, which still applies
         * the per-element part (ReduceL1 -> |x|, ReduceSumSquare -> x^2 ...). */
        for (int i = 0; i < x->rank; i++)
            red[i] = !noop;
        return FY_OK;
    }
    for (int i = 0; i < n; i++) {
        int a = fy__axis(c, axes[i], x->rank, 0);
        if (a < 0)
            return a;
        if (red[a])
            return fy__op_fail(c, FY_EINVAL, "axis %lld is listed twice in axes",
                               (long long)axes[i]);
        red[a] = 1;
    }
    return FY_OK;
}

static int reduce_run(fy__op_ctx *c, int op, int input_opset)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    fy_tensor *y = &c->out[0];
    int red[FY_MAX_RANK];
    red_plan p;
    double *dbuf = NULL;
    int64_t *ibuf = NULL;
    int is_f = fy__dtype_is_float(x->dtype);
    int as_int = !is_f && op != R_L2 && op != R_LOGSUM && op != R_LOGSUMEXP;

    if (!numeric_dtype(x->dtype) && !(x->dtype == FY_DTYPE_BOOL && (op == R_MAX || op == R_MIN)))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    if ((rc = reduce_axes(c, x, input_opset, red)))
        return rc;
    if ((rc = red_plan_init(c, &p, x, red, fy__attr_int(c->node, "keepdims", 1) != 0)))
        goto done;
    if ((rc = fy_tensor_alloc(y, x->dtype, p.out_rank, p.out_dims, c->diag)))
        goto done;
    size_t nb = (size_t)(p.n_red ? p.n_red : 1);
    if (as_int)
        ibuf = malloc(sizeof *ibuf * nb);
    else
        dbuf = malloc(sizeof *dbuf * nb);
    if (!ibuf && !dbuf) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for a reduction of %lld elements",
                         (long long)p.n_red);
        goto done;
    }
    if (p.n_out == 0)
        goto done;

    fy__iter it;
    fy__iter_init(&it, p.kept_rank, p.kept_dims, 1, (const int64_t(*)[FY_MAX_RANK])p.kept_strides);
    for (int64_t o = 0; o < p.n_out; o++) {
        int64_t base = it.off[0];
        if (as_int) {
            for (int64_t j = 0; j < p.n_red; j++)
                ibuf[j] = fy__get_i64(x, base + p.roff[j]);
            fy__set_i64(y, o, reduce_i64(op, ibuf, p.n_red, x->dtype));
        } else if (x->dtype == FY_DTYPE_F32) {
            /* float32 hot path: typed gather (contiguous when reducing trailing axes). */
            const float *xp = (const float *)x->data + base;
            for (int64_t j = 0; j < p.n_red; j++)
                dbuf[j] = xp[p.roff[j]];
            ((float *)y->data)[o] = (float)reduce_f64(op, dbuf, p.n_red);
        } else {
            for (int64_t j = 0; j < p.n_red; j++)
                dbuf[j] = fy__get_f64(x, base + p.roff[j]);
            fy__set_f64(y, o, reduce_f64(op, dbuf, p.n_red));
        }
        if (o + 1 < p.n_out)
            fy__iter_next(&it);
    }
done:
    free(dbuf);
    free(ibuf);
    red_plan_free(&p);
    return rc;
}

static int op_reduce_sum(fy__op_ctx *c)
{
    return reduce_run(c, R_SUM, 13);
}
static int op_reduce_mean(fy__op_ctx *c)
{
    return reduce_run(c, R_MEAN, 18);
}
static int op_reduce_max(fy__op_ctx *c)
{
    return reduce_run(c, R_MAX, 18);
}
static int op_reduce_min(fy__op_ctx *c)
{
    return reduce_run(c, R_MIN, 18);
}
static int op_reduce_prod(fy__op_ctx *c)
{
    return reduce_run(c, R_PROD, 18);
}
static int op_reduce_l1(fy__op_ctx *c)
{
    return reduce_run(c, R_L1, 18);
}
static int op_reduce_l2(fy__op_ctx *c)
{
    return reduce_run(c, R_L2, 18);
}
static int op_reduce_logsum(fy__op_ctx *c)
{
    return reduce_run(c, R_LOGSUM, 18);
}
static int op_reduce_logsumexp(fy__op_ctx *c)
{
    return reduce_run(c, R_LOGSUMEXP, 18);
}
static int op_reduce_sumsq(fy__op_ctx *c)
{
    return reduce_run(c, R_SUMSQ, 18);
}

/* ---------------------------------------------------------- ArgMax, ArgMin */

static int arg_run(fy__op_ctx *c, int want_max)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!numeric_dtype(x->dtype) && x->dtype != FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    int axis = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0);
    if (axis < 0)
        return axis;
    int keep = fy__attr_int(c->node, "keepdims", 1) != 0;
    int last = fy__attr_int(c->node, "select_last_index", 0) != 0;
    int64_t n = x->dims[axis];
    int64_t outer = fy__dims_prod(x->dims, 0, axis), inner = fy__dims_prod(x->dims, axis + 1, x->rank);
    int64_t od[FY_MAX_RANK];
    int orank = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != axis)
            od[orank++] = x->dims[i];
        else if (keep)
            od[orank++] = 1;
    }
    if (n == 0 && outer * inner > 0)
        return fy__op_fail(c, FY_EINVAL, "axis %d has size 0: no element to select", axis);
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_I64, orank, od, c->diag)))
        return rc;
    int64_t *out = c->out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < inner; r++) {
            int64_t base = o * n * inner + r, best = 0;
            for (int64_t k = 1; k < n; k++) {
                int cmp = elem_cmp(x, base + k * inner, base + best * inner);
                if (!want_max)
                    cmp = -cmp;
                if (cmp > 0 || (cmp == 0 && last))
                    best = k;
            }
            out[o * inner + r] = best;
        }
    return FY_OK;
}

static int op_argmax(fy__op_ctx *c)
{
    return arg_run(c, 1);
}
static int op_argmin(fy__op_ctx *c)
{
    return arg_run(c, 0);
}

/* ------------------------------------------------- Softmax, LogSoftmax, Hardmax */

enum { SM_SOFT, SM_LOG, SM_HARD };

static void softmax_row(int kind, double *v, int64_t n)
{
    if (n == 0)
        return;
    if (kind == SM_HARD) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (v[i] > v[best] || (isnan(v[i]) && !isnan(v[best])))
                best = i;
        for (int64_t i = 0; i < n; i++)
            v[i] = i == best;
        return;
    }
    double m = v[0], s = 0.0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > m)
            m = v[i];
    if (kind == SM_LOG) {
        for (int64_t i = 0; i < n; i++)
            s += exp(v[i] - m);
        double ls = log(s);
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] - m - ls;
    } else {
        for (int64_t i = 0; i < n; i++) {
            v[i] = exp(v[i] - m);
            s += v[i];
        }
        for (int64_t i = 0; i < n; i++)
            v[i] /= s;
    }
}

static int softmax_run(fy__op_ctx *c, int kind)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    fy_tensor *y = &c->out[0];
    if (!fy__dtype_is_float(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float only)",
                           fy_dtype_name(x->dtype));
    /* Before opset 13 the input is coerced to 2-D at axis and the op runs on rows of
     * the flattened trailing dims; from 13 it runs along one axis only. */
    int new_style = c->opset >= 13;
    int axis = fy__axis(c, fy__attr_int(c->node, "axis", new_style ? -1 : 1), x->rank, 0);
    if (axis < 0)
        return axis;
    int64_t outer = fy__dims_prod(x->dims, 0, axis);
    int64_t n = new_style ? x->dims[axis] : fy__dims_prod(x->dims, axis, x->rank);
    int64_t inner = new_style ? fy__dims_prod(x->dims, axis + 1, x->rank) : 1;
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    double *row = malloc(sizeof *row * (size_t)(n ? n : 1));
    if (!row)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for a row of %lld", (long long)n);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < inner; r++) {
            int64_t base = o * n * inner + r;
            if (x->dtype == FY_DTYPE_F32) {
                const float *xp = (const float *)x->data + base;
                float *yp = (float *)y->data + base;
                for (int64_t i = 0; i < n; i++)
                    row[i] = xp[i * inner];
                softmax_row(kind, row, n);
                for (int64_t i = 0; i < n; i++)
                    yp[i * inner] = (float)row[i];
            } else {
                for (int64_t i = 0; i < n; i++)
                    row[i] = fy__get_f64(x, base + i * inner);
                softmax_row(kind, row, n);
                for (int64_t i = 0; i < n; i++)
                    fy__set_f64(y, base + i * inner, row[i]);
            }
        }
    free(row);
    return FY_OK;
}

static int op_softmax(fy__op_ctx *c)
{
    return softmax_run(c, SM_SOFT);
}
static int op_logsoftmax(fy__op_ctx *c)
{
    return softmax_run(c, SM_LOG);
}
static int op_hardmax(fy__op_ctx *c)
{
    return softmax_run(c, SM_HARD);
}

/* ------------------------------------------------------- LayerNormalization */

/* Offsets of a unidirectionally broadcast parameter p (Scale, B) for the n_inner
 * normalized positions and the offset per outer row (over axes < axis). */
static int bcast_param(fy__op_ctx *c, const fy_tensor *p, const fy_tensor *x, const char *what,
                       int64_t strides[FY_MAX_RANK])
{
    if (p->rank > x->rank)
        return fy__op_fail(c, FY_EINVAL, "%s has rank %d, more than input rank %d", what, p->rank,
                           x->rank);
    for (int i = 0; i < p->rank; i++) {
        int64_t xd = x->dims[x->rank - p->rank + i];
        if (p->dims[i] != 1 && p->dims[i] != xd)
            return fy__op_fail(c, FY_EINVAL,
                               "%s dimension %d is %lld, cannot broadcast to input's %lld", what, i,
                               (long long)p->dims[i], (long long)xd);
    }
    if (p->dtype != x->dtype)
        return fy__op_fail(c, FY_EINVAL, "%s dtype %s differs from input's %s", what,
                           fy_dtype_name(p->dtype), fy_dtype_name(x->dtype));
    fy__broadcast_strides(p, x->rank, x->dims, strides);
    return FY_OK;
}

static double param_at(const fy_tensor *p, int64_t i)
{
    if (p->dtype == FY_DTYPE_F32)
        return ((const float *)p->data)[i];
    return fy__get_f64(p, i);
}

static int op_layernorm(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *sc = c->in[1];
    const fy_tensor *bi = c->n_in > 2 ? c->in[2] : NULL;
    if (!fy__dtype_is_float(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float only)",
                           fy_dtype_name(x->dtype));
    int axis = fy__axis(c, fy__attr_int(c->node, "axis", -1), x->rank, 0);
    if (axis < 0)
        return axis;
    double eps = fy__attr_float(c->node, "epsilon", 1e-5f);
    int64_t stash = fy__attr_int(c->node, "stash_type", FY_DTYPE_F32);
    if (stash < 0 || stash > 64 || !fy__dtype_is_float((fy_dtype)stash))
        return fy__op_fail(c, FY_EINVAL, "attribute 'stash_type' %lld is not a float type",
                           (long long)stash);
    int64_t s_str[FY_MAX_RANK], b_str[FY_MAX_RANK];
    if ((rc = bcast_param(c, sc, x, "Scale (input 1)", s_str)))
        return rc;
    if (bi && (rc = bcast_param(c, bi, x, "B (input 2)", b_str)))
        return rc;

    int64_t outer = fy__dims_prod(x->dims, 0, axis), n = fy__dims_prod(x->dims, axis, x->rank);
    int64_t md[FY_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        md[i] = i < axis ? x->dims[i] : 1;
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    fy_tensor *mean_t = NULL, *inv_t = NULL;
    if (fy__op_wants_out(c, 1)) {
        mean_t = &c->out[1];
        if ((rc = fy_tensor_alloc(mean_t, (fy_dtype)stash, x->rank, md, c->diag)))
            return rc;
    }
    if (fy__op_wants_out(c, 2)) {
        inv_t = &c->out[2];
        if ((rc = fy_tensor_alloc(inv_t, (fy_dtype)stash, x->rank, md, c->diag)))
            return rc;
    }

    /* Parameter offsets split into a per-row part and a per-position part. */
    int64_t *soff = malloc(sizeof *soff * (size_t)(n ? n : 1) * 2);
    double *row = malloc(sizeof *row * (size_t)(n ? n : 1));
    if (!soff || !row) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for rows of %lld", (long long)n);
        goto done;
    }
    int64_t *boff = soff + (n ? n : 1);
    {
        fy__iter it;
        int64_t st[2][FY_MAX_RANK];
        for (int i = axis; i < x->rank; i++) {
            st[0][i - axis] = s_str[i];
            st[1][i - axis] = bi ? b_str[i] : 0;
        }
        fy__iter_init(&it, x->rank - axis, x->dims + axis, 2, (const int64_t(*)[FY_MAX_RANK])st);
        for (int64_t j = 0; j < n; j++) {
            soff[j] = it.off[0];
            boff[j] = it.off[1];
            if (j + 1 < n)
                fy__iter_next(&it);
        }
    }
    fy__iter ot;
    int64_t ost[2][FY_MAX_RANK];
    for (int i = 0; i < axis; i++) {
        ost[0][i] = s_str[i];
        ost[1][i] = bi ? b_str[i] : 0;
    }
    fy__iter_init(&ot, axis, x->dims, 2, (const int64_t(*)[FY_MAX_RANK])ost);
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * n;
        double mean = 0.0, var = 0.0;
        if (x->dtype == FY_DTYPE_F32) {
            const float *xp = (const float *)x->data + base;
            for (int64_t j = 0; j < n; j++)
                row[j] = xp[j];
        } else {
            for (int64_t j = 0; j < n; j++)
                row[j] = fy__get_f64(x, base + j);
        }
        for (int64_t j = 0; j < n; j++)
            mean += row[j];
        mean = n ? mean / (double)n : 0.0;
        for (int64_t j = 0; j < n; j++)
            var += (row[j] - mean) * (row[j] - mean);
        var = n ? var / (double)n : 0.0;
        double inv = 1.0 / sqrt(var + eps);
        if (x->dtype == FY_DTYPE_F32 && sc->dtype == FY_DTYPE_F32) {
            float *yp = (float *)c->out[0].data + base;
            const float *sp = (const float *)sc->data + ot.off[0];
            const float *bp = bi ? (const float *)bi->data + ot.off[1] : NULL;
            for (int64_t j = 0; j < n; j++)
                yp[j] = (float)((row[j] - mean) * inv * sp[soff[j]] + (bp ? bp[boff[j]] : 0.0));
        } else {
            for (int64_t j = 0; j < n; j++) {
                double v = (row[j] - mean) * inv * param_at(sc, ot.off[0] + soff[j]);
                if (bi)
                    v += param_at(bi, ot.off[1] + boff[j]);
                fy__set_f64(&c->out[0], base + j, v);
            }
        }
        if (mean_t)
            fy__set_f64(mean_t, o, mean);
        if (inv_t)
            fy__set_f64(inv_t, o, inv);
        if (o + 1 < outer)
            fy__iter_next(&ot);
    }
done:
    free(soff);
    free(row);
    return rc;
}

/* ------------------------------------------------ MeanVarianceNormalization */

static int op_mvn(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!fy__dtype_is_float(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float only)",
                           fy_dtype_name(x->dtype));
    static const int64_t def_axes[] = {0, 2, 3};
    const int64_t *axes = def_axes;
    int64_t na = fy__attr_ints(c->node, "axes", &axes);
    if (na < 0) {
        axes = def_axes;
        na = 3;
    }
    int red[FY_MAX_RANK] = {0};
    for (int64_t i = 0; i < na; i++) {
        int a = fy__axis(c, axes[i], x->rank, 0);
        if (a < 0)
            return a;
        if (red[a])
            return fy__op_fail(c, FY_EINVAL, "axis %lld is listed twice in 'axes'",
                               (long long)axes[i]);
        red[a] = 1;
    }
    red_plan p;
    double *buf = NULL;
    if ((rc = red_plan_init(c, &p, x, red, 1)))
        goto done;
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank, x->dims, c->diag)))
        goto done;
    buf = malloc(sizeof *buf * (size_t)(p.n_red ? p.n_red : 1));
    if (!buf) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld elements", (long long)p.n_red);
        goto done;
    }
    fy__iter it;
    fy__iter_init(&it, p.kept_rank, p.kept_dims, 1, (const int64_t(*)[FY_MAX_RANK])p.kept_strides);
    for (int64_t o = 0; o < p.n_out && p.n_red > 0; o++) {
        int64_t base = it.off[0];
        double mean = 0.0, var = 0.0;
        for (int64_t j = 0; j < p.n_red; j++) {
            buf[j] = fy__get_f64(x, base + p.roff[j]);
            mean += buf[j];
        }
        mean /= (double)p.n_red;
        for (int64_t j = 0; j < p.n_red; j++)
            var += (buf[j] - mean) * (buf[j] - mean);
        /* ONNX's function body adds epsilon 1e-9 to the standard deviation. */
        double sd = sqrt(var / (double)p.n_red) + 1e-9;
        for (int64_t j = 0; j < p.n_red; j++)
            fy__set_f64(&c->out[0], base + p.roff[j], (buf[j] - mean) / sd);
        if (o + 1 < p.n_out)
            fy__iter_next(&it);
    }
done:
    free(buf);
    red_plan_free(&p);
    return rc;
}

/* ---------------------------------------------------------------------- TopK */

typedef struct sort_ctx {
    const fy_tensor *t;
    int64_t base, stride;
    int largest;
} sort_ctx;

/* Does index a go before index b? Stable: equal values keep the lower index first. */
static int sort_before(const sort_ctx *s, int64_t a, int64_t b)
{
    int cmp = elem_cmp(s->t, s->base + a * s->stride, s->base + b * s->stride);
    if (cmp == 0)
        return a < b;
    return s->largest ? cmp > 0 : cmp < 0;
}

/* Bottom-up merge sort of the index array v (n entries) using tmp as scratch. */
static void merge_sort(int64_t *v, int64_t *tmp, int64_t n, const sort_ctx *s)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = sort_before(s, v[j], v[i]) ? v[j++] : v[i++];
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        memcpy(v, tmp, sizeof *v * (size_t)n);
    }
}

static int op_topk(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!numeric_dtype(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    int axis = fy__axis(c, fy__attr_int(c->node, "axis", -1), x->rank, 0);
    if (axis < 0)
        return axis;
    int64_t k;
    if (c->opset >= 10) {
        int64_t kv[1];
        if ((rc = fy__op_need(c, 1)))
            return rc;
        int nk = fy__read_ints(c, c->in[1], kv, 1, "K (input 1)");
        if (nk < 0)
            return nk;
        if (nk != 1)
            return fy__op_fail(c, FY_EINVAL, "K (input 1) must hold exactly one value");
        k = kv[0];
    } else {
        if (!fy__attr_find(c->node, "k"))
            return fy__op_fail(c, FY_EINVAL, "attribute 'k' is required before opset 10");
        k = fy__attr_int(c->node, "k", 0);
    }
    int64_t n = x->dims[axis];
    if (k < 0 || k > n)
        return fy__op_fail(c, FY_EINVAL, "K=%lld is out of range [0, %lld] for axis %d",
                           (long long)k, (long long)n, axis);
    int largest = c->opset >= 11 ? fy__attr_int(c->node, "largest", 1) != 0 : 1;
    int64_t od[FY_MAX_RANK];
    memcpy(od, x->dims, sizeof od);
    od[axis] = k;
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank, od, c->diag)))
        return rc;
    fy_tensor *idx_t = fy__op_wants_out(c, 1) ? &c->out[1] : NULL;
    if (idx_t && (rc = fy_tensor_alloc(idx_t, FY_DTYPE_I64, x->rank, od, c->diag)))
        return rc;
    int64_t outer = fy__dims_prod(x->dims, 0, axis), inner = fy__dims_prod(x->dims, axis + 1, x->rank);
    int64_t *v = malloc(sizeof *v * (size_t)(n ? n : 1) * 2);
    if (!v)
        return fy__op_fail(c, FY_ENOMEM, "out of memory sorting %lld values", (long long)n);
    /* sorted=0 leaves the order open; returning sorted results is always valid. */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < inner; r++) {
            sort_ctx s = {x, o * n * inner + r, inner, largest};
            for (int64_t i = 0; i < n; i++)
                v[i] = i;
            merge_sort(v, v + n, n, &s);
            for (int64_t i = 0; i < k; i++) {
                int64_t oi = (o * k + i) * inner + r;
                fy__copy_elem(&c->out[0], oi, x, s.base + v[i] * inner);
                if (idx_t)
                    ((int64_t *)idx_t->data)[oi] = v[i];
            }
        }
    free(v);
    return FY_OK;
}

/* -------------------------------------------------------------------- CumSum */

static int op_cumsum(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0];
    if (!numeric_dtype(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    int64_t av[1];
    int na = fy__read_ints(c, c->in[1], av, 1, "axis (input 1)");
    if (na < 0)
        return na;
    if (na != 1)
        return fy__op_fail(c, FY_EINVAL, "axis (input 1) must hold exactly one value");
    int axis = fy__axis(c, av[0], x->rank, 0);
    if (axis < 0)
        return axis;
    int excl = fy__attr_int(c->node, "exclusive", 0) != 0;
    int rev = fy__attr_int(c->node, "reverse", 0) != 0;
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    fy_tensor *y = &c->out[0];
    int64_t n = x->dims[axis];
    int64_t outer = fy__dims_prod(x->dims, 0, axis), inner = fy__dims_prod(x->dims, axis + 1, x->rank);
    int is_f = fy__dtype_is_float(x->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t r = 0; r < inner; r++) {
            double fs = 0.0;
            uint64_t is = 0; /* integers wrap, as the fixed-width sum would */
            for (int64_t s = 0; s < n; s++) {
                int64_t i = rev ? n - 1 - s : s;
                int64_t off = (o * n + i) * inner + r;
                if (is_f) {
                    double v = fy__get_f64(x, off);
                    if (!excl)
                        fs += v;
                    fy__set_f64(y, off, fs);
                    if (excl)
                        fs += v;
                } else {
                    uint64_t v = (uint64_t)fy__get_i64(x, off);
                    if (!excl)
                        is += v;
                    fy__set_i64(y, off, (int64_t)is);
                    if (excl)
                        is += v;
                }
            }
        }
    return FY_OK;
}

/* ------------------------------------- NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss */

enum { RED_NONE, RED_SUM, RED_MEAN };

/* Shared tail of both losses: lp holds log-probabilities (N, C, D) as doubles.
 * Checks target against lp's shape and writes output 0. */
static int nll_tail(fy__op_ctx *c, const fy_tensor *in, const double *lp, const fy_tensor *tgt,
                    const fy_tensor *w)
{
    int rc;
    const char *rs = fy__attr_str(c->node, "reduction", "mean");
    int red;
    if (strcmp(rs, "none") == 0)
        red = RED_NONE;
    else if (strcmp(rs, "sum") == 0)
        red = RED_SUM;
    else if (strcmp(rs, "mean") == 0)
        red = RED_MEAN;
    else
        return fy__op_fail(c, FY_EINVAL,
                           "attribute 'reduction' is '%s', expected none, sum or "
                           "mean",
                           rs);
    int has_ii = fy__attr_find(c->node, "ignore_index") != NULL;
    int64_t ii = fy__attr_int(c->node, "ignore_index", 0);

    if (tgt->dtype != FY_DTYPE_I32 && tgt->dtype != FY_DTYPE_I64)
        return fy__op_fail(c, FY_EINVAL, "target (input 1) must be int32 or int64, got %s",
                           fy_dtype_name(tgt->dtype));
    if (tgt->rank != in->rank - 1)
        return fy__op_fail(c, FY_EINVAL, "target (input 1) has rank %d, expected %d", tgt->rank,
                           in->rank - 1);
    for (int i = 0; i < tgt->rank; i++) {
        int64_t want = in->dims[i == 0 ? 0 : i + 1];
        if (tgt->dims[i] != want)
            return fy__op_fail(c, FY_EINVAL, "target (input 1) dimension %d is %lld, expected %lld",
                               i, (long long)tgt->dims[i], (long long)want);
    }
    int64_t N = in->dims[0], C = in->dims[1], D = fy__dims_prod(in->dims, 2, in->rank);
    if (w) {
        if (w->rank != 1 || w->dims[0] != C)
            return fy__op_fail(c, FY_EINVAL, "weight (input 2) must be 1-D of size C=%lld",
                               (long long)C);
        if (w->dtype != in->dtype)
            return fy__op_fail(c, FY_EINVAL, "weight (input 2) dtype %s differs from input's %s",
                               fy_dtype_name(w->dtype), fy_dtype_name(in->dtype));
    }
    if (red == RED_NONE)
        rc = fy_tensor_alloc(&c->out[0], in->dtype, tgt->rank, tgt->dims, c->diag);
    else
        rc = fy_tensor_alloc(&c->out[0], in->dtype, 0, NULL, c->diag);
    if (rc)
        return rc;
    double sum = 0.0, wsum = 0.0;
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t d = 0; d < D; d++) {
            int64_t ti = nn * D + d, t = fy__get_i64(tgt, ti);
            double loss = 0.0, wt = 0.0;
            if (!(has_ii && t == ii)) {
                if (t < 0 || t >= C)
                    return fy__op_fail(c, FY_EINVAL,
                                       "target value %lld at index %lld is out of range [0, %lld)",
                                       (long long)t, (long long)ti, (long long)C);
                wt = w ? fy__get_f64(w, t) : 1.0;
                loss = -lp[(nn * C + t) * D + d] * wt;
            }
            if (red == RED_NONE)
                fy__set_f64(&c->out[0], ti, loss);
            sum += loss;
            wsum += wt;
        }
    if (red == RED_SUM)
        fy__set_f64(&c->out[0], 0, sum);
    else if (red == RED_MEAN)
        fy__set_f64(&c->out[0], 0, sum / wsum); /* NaN when every target is ignored */
    return FY_OK;
}

static int loss_inputs(fy__op_ctx *c, const fy_tensor **in, const fy_tensor **tgt,
                       const fy_tensor **w)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    *in = c->in[0];
    *tgt = c->in[1];
    *w = c->n_in > 2 ? c->in[2] : NULL;
    if (!fy__dtype_is_float((*in)->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float only)",
                           fy_dtype_name((*in)->dtype));
    if ((*in)->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input 0 must have shape (N, C, ...), got rank %d",
                           (*in)->rank);
    return FY_OK;
}

static int op_nllloss(fy__op_ctx *c)
{
    const fy_tensor *in, *tgt, *w;
    int rc = loss_inputs(c, &in, &tgt, &w);
    if (rc)
        return rc;
    int64_t n = fy_tensor_numel(in);
    double *lp = malloc(sizeof *lp * (size_t)(n ? n : 1));
    if (!lp)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld elements", (long long)n);
    for (int64_t i = 0; i < n; i++)
        lp[i] = fy__get_f64(in, i);
    rc = nll_tail(c, in, lp, tgt, w);
    free(lp);
    return rc;
}

static int op_sce(fy__op_ctx *c)
{
    const fy_tensor *in, *tgt, *w;
    int rc = loss_inputs(c, &in, &tgt, &w);
    if (rc)
        return rc;
    int64_t n = fy_tensor_numel(in), C = in->dims[1];
    int64_t N = in->dims[0], D = fy__dims_prod(in->dims, 2, in->rank);
    double *lp = malloc(sizeof *lp * (size_t)(n ? n : 1));
    double *row = malloc(sizeof *row * (size_t)(C ? C : 1));
    if (!lp || !row) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld elements", (long long)n);
        goto done;
    }
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t d = 0; d < D; d++) {
            for (int64_t k = 0; k < C; k++)
                row[k] = fy__get_f64(in, (nn * C + k) * D + d);
            softmax_row(SM_LOG, row, C);
            for (int64_t k = 0; k < C; k++)
                lp[(nn * C + k) * D + d] = row[k];
        }
    if ((rc = nll_tail(c, in, lp, tgt, w)))
        goto done;
    if (fy__op_wants_out(c, 1)) {
        if ((rc = fy_tensor_alloc(&c->out[1], in->dtype, in->rank, in->dims, c->diag)))
            goto done;
        for (int64_t i = 0; i < n; i++)
            fy__set_f64(&c->out[1], i, lp[i]);
    }
done:
    free(lp);
    free(row);
    return rc;
}

/* -------------------------------------------------------------------- Einsum */

#define EIN_LETTERS 52
#define EIN_MAX_SLOTS (EIN_LETTERS + FY_MAX_RANK)
/* Ceiling on multiply-adds: the loop is a plain nested-index walk. */
#define EIN_MAX_WORK ((int64_t)1 << 34)

static int ein_letter(char ch)
{
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26; /* numpy's implicit output sorts by character code: A-Z first */
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    return -1;
}

/* One term of the equation: label slots per axis, -1 marking the ellipsis spot. */
typedef struct ein_term {
    int n;                    /* entries in lab */
    int lab[FY_MAX_RANK + 1]; /* letter ids, or -1 for "..." */
    int has_ell;
} ein_term;

/* Parse a term from s[*pos] until ',' '-' or end. */
static int ein_parse_term(fy__op_ctx *c, const char *s, size_t *pos, ein_term *t)
{
    memset(t, 0, sizeof *t);
    for (;;) {
        char ch = s[*pos];
        if (ch == '\0' || ch == ',' || ch == '-')
            return FY_OK;
        if (ch == ' ') {
            (*pos)++;
            continue;
        }
        if (t->n >= FY_MAX_RANK + 1)
            return fy__op_fail(c, FY_ELIMIT, "equation term has more than %d labels", FY_MAX_RANK);
        if (ch == '.') {
            if (s[*pos + 1] != '.' || s[*pos + 2] != '.' || t->has_ell)
                return fy__op_fail(c, FY_EINVAL, "equation has a malformed ellipsis at %zu", *pos);
            t->has_ell = 1;
            t->lab[t->n++] = -1;
            *pos += 3;
            continue;
        }
        int l = ein_letter(ch);
        if (l < 0)
            return fy__op_fail(c, FY_EINVAL, "equation has invalid character '%c' at %zu", ch,
                               *pos);
        t->lab[t->n++] = l;
        (*pos)++;
    }
}

/* Odometer step over slots [from, to): the last one fastest, carrying leftwards
 * and wrapping to all zeros (offsets back to where they started) at the end. */
static void ein_step(int64_t *idx, const int64_t *sdim, int64_t (*st)[EIN_MAX_SLOTS], int64_t *offs,
                     int n_in, int from, int to)
{
    for (int i = to - 1; i >= from; i--) {
        if (++idx[i] < sdim[i]) {
            for (int k = 0; k < n_in; k++)
                offs[k] += st[k][i];
            return;
        }
        idx[i] = 0;
        for (int k = 0; k < n_in; k++)
            offs[k] -= st[k][i] * (sdim[i] - 1);
    }
}

static int op_einsum(fy__op_ctx *c)
{
    int rc = FY_OK;
    const char *eq = fy__attr_str(c->node, "equation", NULL);
    ein_term *terms = NULL;
    int64_t(*st)[EIN_MAX_SLOTS] = NULL;
    if (!eq)
        return fy__op_fail(c, FY_EINVAL, "attribute 'equation' is required");
    if (c->n_in < 1)
        return fy__op_fail(c, FY_EINVAL, "needs at least one input");
    for (int i = 0; i < c->n_in; i++)
        if ((rc = fy__op_need(c, i)))
            return rc;
    fy_dtype dt = c->in[0]->dtype;
    if (!numeric_dtype(dt))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(dt));
    for (int i = 1; i < c->n_in; i++)
        if (c->in[i]->dtype != dt)
            return fy__op_fail(c, FY_EINVAL, "input %d dtype %s differs from input 0's %s", i,
                               fy_dtype_name(c->in[i]->dtype), fy_dtype_name(dt));

    int n_in = c->n_in;
    terms = calloc((size_t)n_in + 1, sizeof *terms);
    st = calloc((size_t)n_in + 1, sizeof *st);
    if (!terms || !st) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %d einsum terms", n_in);
        goto done;
    }
    size_t pos = 0;
    int nt = 0;
    for (;;) {
        if (nt >= n_in) {
            rc = fy__op_fail(c, FY_EINVAL, "equation '%s' has more terms than the %d inputs", eq,
                             n_in);
            goto done;
        }
        if ((rc = ein_parse_term(c, eq, &pos, &terms[nt++])))
            goto done;
        if (eq[pos] != ',')
            break;
        pos++;
    }
    if (nt != n_in) {
        rc = fy__op_fail(c, FY_EINVAL, "equation '%s' has %d input terms for %d inputs", eq, nt,
                         n_in);
        goto done;
    }
    int explicit_out = 0;
    ein_term *ot = &terms[n_in];
    if (eq[pos] == '-') {
        if (eq[pos + 1] != '>') {
            rc = fy__op_fail(c, FY_EINVAL, "equation '%s' has '-' without '>'", eq);
            goto done;
        }
        pos += 2;
        explicit_out = 1;
        if ((rc = ein_parse_term(c, eq, &pos, ot)))
            goto done;
        if (eq[pos] != '\0') {
            rc = fy__op_fail(c, FY_EINVAL, "equation '%s' has extra text after the output", eq);
            goto done;
        }
    }

    /* Sizes of letters and of the broadcast ellipsis dims (right-aligned). */
    int64_t ldim[EIN_LETTERS];
    int lcount[EIN_LETTERS] = {0};
    int ell_rank = 0;
    int64_t edim[FY_MAX_RANK];
    for (int l = 0; l < EIN_LETTERS; l++)
        ldim[l] = -1;
    for (int k = 0; k < n_in; k++) {
        const fy_tensor *t = c->in[k];
        int explicit_n = terms[k].n - terms[k].has_ell;
        int e = t->rank - explicit_n;
        if (e < 0 || (!terms[k].has_ell && e != 0)) {
            rc = fy__op_fail(c, FY_EINVAL, "input %d has rank %d but its term has %d labels", k,
                             t->rank, explicit_n);
            goto done;
        }
        if (terms[k].has_ell && e > ell_rank)
            ell_rank = e;
    }
    for (int i = 0; i < ell_rank; i++)
        edim[i] = 1;
    for (int k = 0; k < n_in; k++) {
        const fy_tensor *t = c->in[k];
        int ax = 0;
        int e = t->rank - (terms[k].n - terms[k].has_ell);
        for (int j = 0; j < terms[k].n; j++) {
            int l = terms[k].lab[j];
            if (l < 0) {
                for (int q = 0; q < e; q++, ax++) {
                    int slot = ell_rank - e + q;
                    int64_t d = t->dims[ax];
                    if (d != 1 && edim[slot] != 1 && edim[slot] != d) {
                        rc = fy__op_fail(c, FY_EINVAL,
                                         "input %d: ellipsis dimension %lld does not broadcast "
                                         "with %lld",
                                         k, (long long)d, (long long)edim[slot]);
                        goto done;
                    }
                    if (d != 1)
                        edim[slot] = d;
                }
                continue;
            }
            /* Like numpy, a size-1 axis broadcasts against the label's size elsewhere. */
            int64_t d = t->dims[ax++];
            if (ldim[l] >= 0 && ldim[l] != d && ldim[l] != 1 && d != 1) {
                rc = fy__op_fail(c, FY_EINVAL,
                                 "label '%c' has size %lld in input %d but %lld "
                                 "elsewhere",
                                 l < 26 ? 'A' + l : 'a' + l - 26, (long long)d, k,
                                 (long long)ldim[l]);
                goto done;
            }
            if (ldim[l] < 0 || ldim[l] == 1)
                ldim[l] = d;
            lcount[l]++;
        }
    }

    /* Output slots: ellipsis dims are slots 0..ell_rank-1, letter l is ell_rank + l. */
    int oslots[EIN_MAX_SLOTS], n_os = 0, in_out[EIN_MAX_SLOTS] = {0};
    if (explicit_out) {
        for (int j = 0; j < ot->n; j++) {
            int l = ot->lab[j];
            if (l < 0) {
                for (int q = 0; q < ell_rank; q++) {
                    oslots[n_os++] = q;
                    in_out[q] = 1;
                }
                continue;
            }
            if (ldim[l] < 0) {
                rc = fy__op_fail(c, FY_EINVAL, "output label '%c' appears in no input",
                                 l < 26 ? 'A' + l : 'a' + l - 26);
                goto done;
            }
            if (in_out[ell_rank + l]) {
                rc = fy__op_fail(c, FY_EINVAL, "output label '%c' is repeated",
                                 l < 26 ? 'A' + l : 'a' + l - 26);
                goto done;
            }
            oslots[n_os++] = ell_rank + l;
            in_out[ell_rank + l] = 1;
        }
    } else {
        for (int q = 0; q < ell_rank; q++) {
            oslots[n_os++] = q;
            in_out[q] = 1;
        }
        for (int l = 0; l < EIN_LETTERS; l++)
            if (lcount[l] == 1) {
                oslots[n_os++] = ell_rank + l;
                in_out[ell_rank + l] = 1;
            }
    }
    if (explicit_out && !ot->has_ell && ell_rank > 0) {
        rc =
            fy__op_fail(c, FY_EINVAL,
                        "inputs have %d ellipsis dimensions but the output has no '...'", ell_rank);
        goto done;
    }
    if (n_os > FY_MAX_RANK) {
        rc = fy__op_fail(c, FY_ELIMIT, "output would have rank %d, above %d", n_os, FY_MAX_RANK);
        goto done;
    }
    int slots[EIN_MAX_SLOTS], n_s = 0;
    int64_t sdim[EIN_MAX_SLOTS];
    for (int i = 0; i < n_os; i++)
        slots[n_s++] = oslots[i];
    for (int q = 0; q < ell_rank; q++)
        if (!in_out[q])
            slots[n_s++] = q;
    for (int l = 0; l < EIN_LETTERS; l++)
        if (ldim[l] >= 0 && !in_out[ell_rank + l])
            slots[n_s++] = ell_rank + l;
    for (int i = 0; i < n_s; i++)
        sdim[i] = slots[i] < ell_rank ? edim[slots[i]] : ldim[slots[i] - ell_rank];

    int64_t od[FY_MAX_RANK];
    for (int i = 0; i < n_os; i++)
        od[i] = sdim[i];
    if ((rc = fy_tensor_alloc(&c->out[0], dt, n_os, od, c->diag)))
        goto done;
    int64_t n_outel = fy_tensor_numel(&c->out[0]), n_sum = 1;
    for (int i = n_os; i < n_s; i++) {
        if (sdim[i] == 0) {
            n_sum = 0;
            break;
        }
        if (n_sum > EIN_MAX_WORK / sdim[i]) {
            rc = fy__op_fail(c, FY_ELIMIT, "einsum needs more than %lld steps",
                             (long long)EIN_MAX_WORK);
            goto done;
        }
        n_sum *= sdim[i];
    }
    if (n_outel == 0 || n_sum == 0)
        goto done; /* output empty, or an empty sum: zeros */
    if (n_sum > EIN_MAX_WORK / n_outel / n_in) {
        rc =
            fy__op_fail(c, FY_ELIMIT, "einsum needs more than %lld steps", (long long)EIN_MAX_WORK);
        goto done;
    }

    /* Per input, the stride of each slot; repeated labels add up (a diagonal). */
    int slot_pos[EIN_MAX_SLOTS];
    for (int i = 0; i < n_s; i++)
        slot_pos[slots[i]] = i;
    for (int k = 0; k < n_in; k++) {
        const fy_tensor *t = c->in[k];
        int64_t ts[FY_MAX_RANK];
        int ax = 0;
        int e = t->rank - (terms[k].n - terms[k].has_ell);
        fy__strides(t->rank, t->dims, ts);
        for (int j = 0; j < terms[k].n; j++) {
            int l = terms[k].lab[j];
            if (l < 0) {
                for (int q = 0; q < e; q++, ax++)
                    if (t->dims[ax] != 1)
                        st[k][slot_pos[ell_rank - e + q]] += ts[ax];
                continue;
            }
            if (t->dims[ax] != 1) /* size 1: always index 0, or broadcast */
                st[k][slot_pos[ell_rank + l]] += ts[ax];
            ax++;
        }
    }

    int64_t idx[EIN_MAX_SLOTS] = {0};
    int is_f = fy__dtype_is_float(dt);
    int64_t *offs = calloc((size_t)n_in, sizeof *offs);
    if (!offs) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t o = 0; o < n_outel; o++) {
        double facc = 0.0;
        uint64_t iacc = 0; /* integers wrap instead of overflowing */
        for (int64_t s = 0; s < n_sum; s++) {
            double fp = 1.0;
            uint64_t ip = 1;
            for (int k = 0; k < n_in; k++) {
                if (is_f)
                    fp *= fy__get_f64(c->in[k], offs[k]);
                else
                    ip *= (uint64_t)fy__get_i64(c->in[k], offs[k]);
            }
            facc += fp;
            iacc += ip;
            ein_step(idx, sdim, st, offs, n_in, n_os, n_s);
        }
        if (is_f)
            fy__set_f64(&c->out[0], o, facc);
        else
            fy__set_i64(&c->out[0], o, (int64_t)iacc);
        ein_step(idx, sdim, st, offs, n_in, 0, n_os);
    }
    free(offs);
done:
    free(terms);
    free(st);
    return rc;
}

/* ----------------------------------------------------------------------- Det */

static int op_det(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!fy__dtype_is_float(x->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float only)",
                           fy_dtype_name(x->dtype));
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return fy__op_fail(c, FY_EINVAL, "input 0 must have shape (..., M, M), got rank %d",
                           x->rank);
    int64_t m = x->dims[x->rank - 1];
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank - 2, x->dims, c->diag)))
        return rc;
    int64_t batch = fy__dims_prod(x->dims, 0, x->rank - 2);
    double *a = malloc(sizeof *a * (size_t)(m > 0 ? m * m : 1));
    if (!a)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for a %lldx%lld matrix", (long long)m,
                           (long long)m);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t i = 0; i < m * m; i++)
            a[i] = fy__get_f64(x, b * m * m + i);
        /* LU decomposition with partial pivoting; det = sign * prod(diagonal). */
        double det = 1.0;
        for (int64_t k = 0; k < m; k++) {
            int64_t p = k;
            for (int64_t i = k + 1; i < m; i++)
                if (fabs(a[i * m + k]) > fabs(a[p * m + k]))
                    p = i;
            if (a[p * m + k] == 0.0) {
                det = 0.0;
                break;
            }
            if (p != k) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[k * m + j];
                    a[k * m + j] = a[p * m + j];
                    a[p * m + j] = t;
                }
                det = -det;
            }
            det *= a[k * m + k];
            for (int64_t i = k + 1; i < m; i++) {
                double f = a[i * m + k] / a[k * m + k];
                for (int64_t j = k; j < m; j++)
                    a[i * m + j] -= f * a[k * m + j];
            }
        }
        fy__set_f64(&c->out[0], b, det);
    }
    free(a);
    return FY_OK;
}

const fy__op_def fy__ops_reduce[] = {
    {"ReduceSum", "", op_reduce_sum},
    {"ReduceMean", "", op_reduce_mean},
    {"ReduceMax", "", op_reduce_max},
    {"ReduceMin", "", op_reduce_min},
    {"ReduceProd", "", op_reduce_prod},
    {"ReduceL1", "", op_reduce_l1},
    {"ReduceL2", "", op_reduce_l2},
    {"ReduceLogSum", "", op_reduce_logsum},
    {"ReduceLogSumExp", "", op_reduce_logsumexp},
    {"ReduceSumSquare", "", op_reduce_sumsq},
    {"ArgMax", "", op_argmax},
    {"ArgMin", "", op_argmin},
    {"Softmax", "", op_softmax},
    {"LogSoftmax", "", op_logsoftmax},
    {"Hardmax", "", op_hardmax},
    {"LayerNormalization", "", op_layernorm},
    {"MeanVarianceNormalization", "", op_mvn},
    {"TopK", "", op_topk},
    {"CumSum", "", op_cumsum},
    {"NegativeLogLikelihoodLoss", "", op_nllloss},
    {"SoftmaxCrossEntropyLoss", "", op_sce},
    {"Einsum", "", op_einsum},
    {"Det", "", op_det},
    {NULL, NULL, NULL},
};
