/* SPDX-License-Identifier: MIT */
/* Reference kernels for linear quantization: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear and the integer MatMul/Conv families (with their own small
 * integer conv loop, independent of the float Conv in nn.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* ---------------------------------------------------------------- helpers */

/* Saturation range of a quantized integer dtype; 0 if it is not one. */
static int quant_range(fy_dtype dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
    case FY_DTYPE_U8:
        *lo = 0;
        *hi = 255;
        return 1;
    case FY_DTYPE_I8:
        *lo = -128;
        *hi = 127;
        return 1;
    case FY_DTYPE_U16:
        *lo = 0;
        *hi = 65535;
        return 1;
    case FY_DTYPE_I16:
        *lo = -32768;
        *hi = 32767;
        return 1;
    default: return 0;
    }
}

/* Round half to even, add the zero point and saturate; NaN saturates to lo, as the
 * float-to-int conversion of the ONNX reference ends up doing. Rounding comes before
 * the zero point, as the spec words it ("(x / y_scale) rounded, + y_zero_point") for
 * every op here; ONNX's numpy reference of QLinearConv/QLinearMatMul adds the zero
 * point first, which differs only on exact .5 ties with an odd zero point. */
static int64_t quant_sat(double q, int64_t zp, int64_t lo, int64_t hi)
{
    double v = nearbyint(q) + (double)zp;
    if (isnan(v) || v <= (double)lo)
        return lo;
    if (v >= (double)hi)
        return hi;
    return (int64_t)v;
}

static int need_scalar(fy__op_ctx *c, const fy_tensor *t, int i, const char *what)
{
    if (fy_tensor_numel(t) != 1)
        return fy__op_fail(c, FY_EINVAL, "%s (input %d) must be a scalar, has %lld elements", what,
                           i, (long long)fy_tensor_numel(t));
    return FY_OK;
}

/* ------------------------------------------ per-tensor / per-axis / blocked params */

/* How a scale or zero point maps onto the elements of x: one value, one per index
 * along axis, or (blocked, opset 21) one per block of block_size indices. */
typedef struct qparam {
    const fy_tensor *t;
    int mode;      /* 0 scalar, 1 per axis, 2 blocked */
    int64_t d;     /* x's size along axis */
    int64_t pd;    /* the parameter's size along axis (blocked) */
    int64_t inner; /* x's elements after axis */
    int64_t block;
} qparam;

static int qparam_init(fy__op_ctx *c, qparam *q, const fy_tensor *p, int idx, const fy_tensor *x,
                       int64_t axis_attr, int64_t block, const char *what)
{
    memset(q, 0, sizeof *q);
    q->t = p;
    if (fy_tensor_numel(p) == 1)
        return FY_OK;
    int axis = fy__axis(c, axis_attr, x->rank, 0);
    if (axis < 0)
        return axis;
    q->d = x->dims[axis];
    q->inner = fy__dims_prod(x->dims, axis + 1, x->rank);
    if (block == 0) {
        if (p->rank != 1 || p->dims[0] != x->dims[axis])
            return fy__op_fail(c, FY_EINVAL,
                               "%s (input %d) must be a scalar or 1-D of size %lld (axis %d)", what,
                               idx, (long long)x->dims[axis], axis);
        q->mode = 1;
        return FY_OK;
    }
    int64_t nb = x->dims[axis] / block + (x->dims[axis] % block != 0);
    if (p->rank != x->rank)
        return fy__op_fail(c, FY_EINVAL,
                           "%s (input %d) has rank %d, blocked quantization needs "
                           "rank %d",
                           what, idx, p->rank, x->rank);
    for (int i = 0; i < x->rank; i++) {
        int64_t want = i == axis ? nb : x->dims[i];
        if (p->dims[i] != want)
            return fy__op_fail(c, FY_EINVAL,
                               "%s (input %d) dimension %d is %lld, expected %lld for "
                               "block_size %lld",
                               what, idx, i, (long long)p->dims[i], (long long)want,
                               (long long)block);
    }
    q->mode = 2;
    q->pd = nb;
    q->block = block;
    return FY_OK;
}

/* Index into the parameter for element i of x. */
static int64_t qparam_index(const qparam *q, int64_t i)
{
    if (q->mode == 0)
        return 0;
    int64_t a = (i / q->inner) % q->d;
    if (q->mode == 1)
        return a;
    int64_t o = i / (q->inner * q->d), r = i % q->inner;
    return (o * q->pd + a / q->block) * q->inner + r;
}

/* Attributes shared by QuantizeLinear and DequantizeLinear. */
static int q_attrs(fy__op_ctx *c, int64_t *axis, int64_t *block)
{
    *axis = c->opset >= 13 ? fy__attr_int(c->node, "axis", 1) : 1;
    *block = c->opset >= 21 ? fy__attr_int(c->node, "block_size", 0) : 0;
    if (*block < 0)
        return fy__op_fail(c, FY_EINVAL, "attribute 'block_size' is %lld, must be >= 0",
                           (long long)*block);
    return FY_OK;
}

/* -------------------------------------------------------------- QuantizeLinear */

static int op_quantize(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *sc = c->in[1], *zp = fy__op_in(c, 2);
    if (!fy__dtype_is_float(x->dtype) && x->dtype != FY_DTYPE_I32)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    if (!fy__dtype_is_float(sc->dtype))
        return fy__op_fail(c, FY_EINVAL, "y_scale (input 1) must be float, got %s",
                           fy_dtype_name(sc->dtype));
    int64_t axis, block;
    if ((rc = q_attrs(c, &axis, &block)))
        return rc;
    int64_t odt = c->opset >= 21 ? fy__attr_int(c->node, "output_dtype", 0) : 0;
    fy_dtype dt = FY_DTYPE_U8;
    if (zp) {
        if (odt && odt != zp->dtype)
            return fy__op_fail(c, FY_EINVAL,
                               "attribute 'output_dtype' %lld differs from "
                               "y_zero_point dtype %s",
                               (long long)odt, fy_dtype_name(zp->dtype));
        dt = zp->dtype;
    } else if (odt) {
        if (odt < 0 || odt > 64)
            return fy__op_fail(c, FY_EINVAL, "attribute 'output_dtype' %lld is not a dtype",
                               (long long)odt);
        dt = (fy_dtype)odt;
    }
    int64_t lo, hi;
    if (!quant_range(dt, &lo, &hi))
        return fy__op_fail(c, FY_EUNSUPPORTED,
                           "output dtype %s is not supported (uint8, int8, "
                           "uint16, int16)",
                           fy_dtype_name(dt));
    qparam qs, qz;
    if ((rc = qparam_init(c, &qs, sc, 1, x, axis, block, "y_scale")))
        return rc;
    if (zp && (rc = qparam_init(c, &qz, zp, 2, x, axis, block, "y_zero_point")))
        return rc;
    if ((rc = fy_tensor_alloc(&c->out[0], dt, x->rank, x->dims, c->diag)))
        return rc;
    int64_t n = fy_tensor_numel(x);
    int f32 = x->dtype == FY_DTYPE_F32 && sc->dtype == FY_DTYPE_F32;
    if (f32 && qs.mode == 0 && (!zp || qz.mode == 0) &&
        (dt == FY_DTYPE_U8 || dt == FY_DTYPE_I8)) {
        /* The common case (a static int8 model's activations): the same arithmetic
         * as the loop below without its per-element dtype dispatch, which made
         * this op 55% of the quantized Fashion-MNIST CNN's time (3.4 ms at batch 32). */
        const float s = ((const float *)sc->data)[0], *xp = x->data;
        const int64_t z = zp ? fy__get_i64(zp, 0) : 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = quant_sat((double)(xp[i] / s), z, lo, hi);
            if (dt == FY_DTYPE_U8)
                ((uint8_t *)c->out[0].data)[i] = (uint8_t)v;
            else
                ((int8_t *)c->out[0].data)[i] = (int8_t)v;
        }
        return FY_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double s = fy__get_f64(sc, qparam_index(&qs, i));
        int64_t z = zp ? fy__get_i64(zp, qparam_index(&qz, i)) : 0;
        /* float32 / float32 divides in single precision, as the reference does, so
         * ties round the same way. */
        double q = f32 ? (double)(((const float *)x->data)[i] / (float)s) : fy__get_f64(x, i) / s;
        fy__set_i64(&c->out[0], i, quant_sat(q, z, lo, hi));
    }
    return FY_OK;
}

/* ------------------------------------------------------------ DequantizeLinear */

static int op_dequantize(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *sc = c->in[1], *zp = fy__op_in(c, 2);
    int64_t lo, hi;
    if (!quant_range(x->dtype, &lo, &hi) && x->dtype != FY_DTYPE_I32)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    if (!fy__dtype_is_float(sc->dtype))
        return fy__op_fail(c, FY_EINVAL, "x_scale (input 1) must be float, got %s",
                           fy_dtype_name(sc->dtype));
    if (zp && zp->dtype != x->dtype)
        return fy__op_fail(c, FY_EINVAL, "x_zero_point (input 2) dtype %s differs from x's %s",
                           fy_dtype_name(zp->dtype), fy_dtype_name(x->dtype));
    int64_t axis, block;
    if ((rc = q_attrs(c, &axis, &block)))
        return rc;
    fy_dtype odt = sc->dtype;
    int64_t oa = c->opset >= 23 ? fy__attr_int(c->node, "output_dtype", 0) : 0;
    if (oa) {
        if (oa < 0 || oa > 64 || !fy__dtype_is_float((fy_dtype)oa))
            return fy__op_fail(c, FY_EINVAL, "attribute 'output_dtype' %lld is not a float type",
                               (long long)oa);
        odt = (fy_dtype)oa;
    }
    qparam qs, qz;
    if ((rc = qparam_init(c, &qs, sc, 1, x, axis, block, "x_scale")))
        return rc;
    if (zp && (rc = qparam_init(c, &qz, zp, 2, x, axis, block, "x_zero_point")))
        return rc;
    if ((rc = fy_tensor_alloc(&c->out[0], odt, x->rank, x->dims, c->diag)))
        return rc;
    int64_t n = fy_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        /* Single precision throughout, like the reference: (float(x) - float(zp)) * s. */
        float xv = (float)fy__get_i64(x, i);
        float z = zp ? (float)fy__get_i64(zp, qparam_index(&qz, i)) : 0.0f;
        float s = (float)fy__get_f64(sc, qparam_index(&qs, i));
        fy__set_f64(&c->out[0], i, (double)((xv - z) * s));
    }
    return FY_OK;
}

/* ------------------------------------------------------- DynamicQuantizeLinear */

static int op_dynquant(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc)
        return rc;
    const fy_tensor *x = c->in[0];
    if (x->dtype != FY_DTYPE_F32)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 dtype %s is not supported (float32)",
                           fy_dtype_name(x->dtype));
    int64_t n = fy_tensor_numel(x);
    const float *xp = x->data;
    /* The range always includes 0 so that 0 is exactly representable. */
    float mn = 0.0f, mx = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(xp[i]))
            return fy__op_fail(c, FY_EINVAL, "input 0 holds NaN at %lld: no range to quantize",
                               (long long)i);
        if (xp[i] < mn)
            mn = xp[i];
        if (xp[i] > mx)
            mx = xp[i];
    }
    float scale = (mx - mn) / 255.0f;
    int64_t zp = 0;
    if (scale > 0.0f && isfinite(scale))
        zp = quant_sat((double)(0.0f - mn / scale), 0, 0, 255);
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_U8, x->rank, x->dims, c->diag)))
        return rc;
    if (c->n_out > 1 && (rc = fy_tensor_alloc(&c->out[1], FY_DTYPE_F32, 0, NULL, c->diag)))
        return rc;
    if (c->n_out > 2 && (rc = fy_tensor_alloc(&c->out[2], FY_DTYPE_U8, 0, NULL, c->diag)))
        return rc;
    uint8_t *y = c->out[0].data;
    for (int64_t i = 0; i < n; i++)
        y[i] = scale > 0.0f ? (uint8_t)quant_sat((double)(xp[i] / scale), zp, 0, 255) : 0;
    if (c->n_out > 1)
        ((float *)c->out[1].data)[0] = scale;
    if (c->n_out > 2)
        ((uint8_t *)c->out[2].data)[0] = (uint8_t)zp;
    return FY_OK;
}

/* ------------------------------------------------ zero points and integer data */

/* v = x - zp as int32, zp broadcast to x. A 1-D per-row zero point of size
 * x.dims[-2] (MatMulInteger's 'a_zero_point') is viewed as [M, 1] when row_view is
 * set; lead_view views a 1-D zero point as [M, 1, ...] (per output channel). */
static int zp_sub(fy__op_ctx *c, const fy_tensor *x, const fy_tensor *zp, int idx, int row_view,
                  int lead_view, int32_t **out)
{
    int64_t n = fy_tensor_numel(x);
    int64_t zs[1][FY_MAX_RANK];
    fy_tensor v;
    *out = NULL;
    if (zp) {
        if (zp->dtype != x->dtype)
            return fy__op_fail(c, FY_EINVAL,
                               "zero point (input %d) dtype %s differs from its "
                               "data's %s",
                               idx, fy_dtype_name(zp->dtype), fy_dtype_name(x->dtype));
        v = *zp;
        if (fy_tensor_numel(zp) == 1) {
            v.rank = 0;
        } else if (row_view && zp->rank == 1 && x->rank >= 2 &&
                   zp->dims[0] == x->dims[x->rank - 2]) {
            v.rank = 2;
            v.dims[0] = zp->dims[0];
            v.dims[1] = 1;
        } else if (lead_view && zp->rank == 1 && x->rank >= 1 && zp->dims[0] == x->dims[0]) {
            v.rank = x->rank;
            v.dims[0] = zp->dims[0];
            for (int i = 1; i < x->rank; i++)
                v.dims[i] = 1;
        }
        if (v.rank > x->rank)
            return fy__op_fail(c, FY_EINVAL,
                               "zero point (input %d) has rank %d, above its "
                               "data's %d",
                               idx, v.rank, x->rank);
        for (int i = 0; i < v.rank; i++) {
            int64_t xd = x->dims[x->rank - v.rank + i];
            if (v.dims[i] != 1 && v.dims[i] != xd)
                return fy__op_fail(c, FY_EINVAL,
                                   "zero point (input %d) dimension %d is %lld, "
                                   "cannot broadcast to %lld",
                                   idx, i, (long long)v.dims[i], (long long)xd);
        }
        fy__broadcast_strides(&v, x->rank, x->dims, zs[0]);
    }
    int32_t *o = malloc(sizeof *o * (size_t)(n ? n : 1));
    if (!o)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld elements", (long long)n);
    if (zp) {
        fy__iter it;
        fy__iter_init(&it, x->rank, x->dims, 1, (const int64_t(*)[FY_MAX_RANK])zs);
        for (int64_t i = 0; i < n; i++) {
            o[i] = (int32_t)(fy__get_i64(x, i) - fy__get_i64(zp, it.off[0]));
            if (i + 1 < n)
                fy__iter_next(&it);
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            o[i] = (int32_t)fy__get_i64(x, i);
    }
    *out = o;
    return FY_OK;
}

/* A conv weight zero point is per tensor or one per output channel (w.dims[0]). */
static int check_wzp(fy__op_ctx *c, const fy_tensor *wzp, const fy_tensor *w, int idx)
{
    int64_t n = fy_tensor_numel(wzp);
    if (n != 1 && (wzp->rank != 1 || n != w->dims[0]))
        return fy__op_fail(c, FY_EINVAL,
                           "w_zero_point (input %d) must be a scalar or 1-D of "
                           "size M=%lld",
                           idx, (long long)w->dims[0]);
    return FY_OK;
}

static int is_q8(fy_dtype dt)
{
    return dt == FY_DTYPE_U8 || dt == FY_DTYPE_I8;
}

/* ------------------------------------------------------------- integer MatMul */

/* numpy.matmul geometry: batch broadcast, 1-D operands promoted and dropped. */
typedef struct mm_geom {
    int64_t M, K, N, batch;
    int64_t *abat, *bbat; /* per output matrix: index of A's and B's matrix */
    int out_rank;
    int64_t out_dims[FY_MAX_RANK];
} mm_geom;

static int mm_geom_init(fy__op_ctx *c, const fy_tensor *a, const fy_tensor *b, mm_geom *g)
{
    memset(g, 0, sizeof *g);
    if (a->rank < 1 || b->rank < 1)
        return fy__op_fail(c, FY_EINVAL, "matmul inputs must have rank >= 1, got %d and %d",
                           a->rank, b->rank);
    fy_tensor ta, tb;
    memset(&ta, 0, sizeof ta);
    memset(&tb, 0, sizeof tb);
    g->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    g->K = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    g->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (g->K != kb)
        return fy__op_fail(c, FY_EINVAL,
                           "matmul inner dimensions differ: A has K=%lld, B has "
                           "K=%lld",
                           (long long)g->K, (long long)kb);
    ta.rank = a->rank > 2 ? a->rank - 2 : 0;
    tb.rank = b->rank > 2 ? b->rank - 2 : 0;
    memcpy(ta.dims, a->dims, sizeof ta.dims[0] * (size_t)ta.rank);
    memcpy(tb.dims, b->dims, sizeof tb.dims[0] * (size_t)tb.rank);
    const fy_tensor *ts[2] = {&ta, &tb};
    int br;
    int64_t bd[FY_MAX_RANK];
    int rc = fy__broadcast(c, 2, ts, &br, bd);
    if (rc)
        return rc;
    for (int i = 0; i < br; i++)
        g->out_dims[g->out_rank++] = bd[i];
    if (a->rank > 1)
        g->out_dims[g->out_rank++] = g->M;
    if (b->rank > 1)
        g->out_dims[g->out_rank++] = g->N;
    if (g->out_rank > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "matmul output rank above %d", FY_MAX_RANK);
    g->batch = fy__dims_prod(bd, 0, br);
    g->abat = malloc(sizeof *g->abat * (size_t)(g->batch ? g->batch : 1) * 2);
    if (!g->abat)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld batches", (long long)g->batch);
    g->bbat = g->abat + (g->batch ? g->batch : 1);
    int64_t st[2][FY_MAX_RANK];
    fy__broadcast_strides(&ta, br, bd, st[0]);
    fy__broadcast_strides(&tb, br, bd, st[1]);
    fy__iter it;
    fy__iter_init(&it, br, bd, 2, (const int64_t(*)[FY_MAX_RANK])st);
    for (int64_t i = 0; i < g->batch; i++) {
        g->abat[i] = it.off[0];
        g->bbat[i] = it.off[1];
        if (i + 1 < g->batch)
            fy__iter_next(&it);
    }
    return FY_OK;
}

/* C[b, m, n] = sum_k A[m, k] B[k, n] with 32-bit wraparound, as ONNX allows. */
static void mm_int(const mm_geom *g, const int32_t *a, const int32_t *b, int32_t *y)
{
    for (int64_t bi = 0; bi < g->batch; bi++) {
        const int32_t *ap = a + g->abat[bi] * g->M * g->K;
        const int32_t *bp = b + g->bbat[bi] * g->K * g->N;
        int32_t *yp = y + bi * g->M * g->N;
        for (int64_t m = 0; m < g->M; m++)
            for (int64_t n = 0; n < g->N; n++) {
                uint32_t acc = 0;
                for (int64_t k = 0; k < g->K; k++)
                    acc += (uint32_t)ap[m * g->K + k] * (uint32_t)bp[k * g->N + n];
                yp[m * g->N + n] = (int32_t)acc;
            }
    }
}

static int op_matmul_integer(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *a = c->in[0], *b = c->in[1];
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "inputs must be uint8 or int8, got %s and %s",
                           fy_dtype_name(a->dtype), fy_dtype_name(b->dtype));
    mm_geom g;
    int32_t *a32 = NULL, *b32 = NULL;
    if ((rc = mm_geom_init(c, a, b, &g)))
        goto done;
    if ((rc = zp_sub(c, a, fy__op_in(c, 2), 2, 1, 0, &a32)))
        goto done;
    if ((rc = zp_sub(c, b, fy__op_in(c, 3), 3, 0, 0, &b32)))
        goto done;
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_I32, g.out_rank, g.out_dims, c->diag)))
        goto done;
    mm_int(&g, a32, b32, c->out[0].data);
done:
    free(g.abat);
    free(a32);
    free(b32);
    return rc;
}

/* Scale of a QLinearMatMul operand expanded to one float per element of x, checked
 * not to vary along the K axis (kaxis of x): scales are per row of a, per column of b. */
static int scale_expand(fy__op_ctx *c, const fy_tensor *x, const fy_tensor *s, int idx,
                        int row_view, int kaxis, float **out)
{
    int64_t n = fy_tensor_numel(x);
    int64_t ss[1][FY_MAX_RANK];
    fy_tensor v = *s;
    *out = NULL;
    if (!fy__dtype_is_float(s->dtype))
        return fy__op_fail(c, FY_EINVAL, "scale (input %d) must be float, got %s", idx,
                           fy_dtype_name(s->dtype));
    if (fy_tensor_numel(s) == 1) {
        v.rank = 0;
    } else if (row_view && s->rank == 1 && x->rank >= 2 && s->dims[0] == x->dims[x->rank - 2]) {
        v.rank = 2;
        v.dims[0] = s->dims[0];
        v.dims[1] = 1;
    }
    if (v.rank > x->rank)
        return fy__op_fail(c, FY_EINVAL, "scale (input %d) has rank %d, above its data's %d", idx,
                           v.rank, x->rank);
    for (int i = 0; i < v.rank; i++) {
        int xa = x->rank - v.rank + i;
        if ((v.dims[i] != 1 && v.dims[i] != x->dims[xa]) || (xa == kaxis && v.dims[i] != 1))
            return fy__op_fail(c, FY_EINVAL,
                               "scale (input %d) dimension %d is %lld: must be 1 "
                               "or %lld, and 1 along K",
                               idx, i, (long long)v.dims[i], (long long)x->dims[xa]);
    }
    fy__broadcast_strides(&v, x->rank, x->dims, ss[0]);
    float *o = malloc(sizeof *o * (size_t)(n ? n : 1));
    if (!o)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld elements", (long long)n);
    fy__iter it;
    fy__iter_init(&it, x->rank, x->dims, 1, (const int64_t(*)[FY_MAX_RANK])ss);
    for (int64_t i = 0; i < n; i++) {
        o[i] = (float)fy__get_f64(s, it.off[0]);
        if (i + 1 < n)
            fy__iter_next(&it);
    }
    *out = o;
    return FY_OK;
}

static int op_qlinear_matmul(fy__op_ctx *c)
{
    int rc;
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && (rc = fy__op_need(c, i)))
            return rc;
    const fy_tensor *a = c->in[0], *b = c->in[3], *ys = c->in[6], *yzp = fy__op_in(c, 7);
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "a and b must be uint8 or int8, got %s and %s",
                           fy_dtype_name(a->dtype), fy_dtype_name(b->dtype));
    fy_dtype odt = yzp ? yzp->dtype : a->dtype;
    int64_t lo, hi;
    if (!is_q8(odt) || !quant_range(odt, &lo, &hi))
        return fy__op_fail(c, FY_EUNSUPPORTED, "y_zero_point dtype %s is not supported",
                           fy_dtype_name(odt));
    if ((rc = need_scalar(c, ys, 6, "y_scale")) ||
        (yzp && (rc = need_scalar(c, yzp, 7, "y_zero_point"))))
        return rc;
    if (!fy__dtype_is_float(ys->dtype))
        return fy__op_fail(c, FY_EINVAL, "y_scale (input 6) must be float");
    mm_geom g;
    int32_t *a32 = NULL, *b32 = NULL, *acc = NULL;
    float *as = NULL, *bs = NULL;
    if ((rc = mm_geom_init(c, a, b, &g)))
        goto done;
    if ((rc = zp_sub(c, a, fy__op_in(c, 2), 2, 1, 0, &a32)) ||
        (rc = zp_sub(c, b, fy__op_in(c, 5), 5, 0, 0, &b32)))
        goto done;
    if ((rc = scale_expand(c, a, c->in[1], 1, 1, a->rank - 1, &as)) ||
        (rc = scale_expand(c, b, c->in[4], 4, 0, b->rank >= 2 ? b->rank - 2 : 0, &bs)))
        goto done;
    if ((rc = fy_tensor_alloc(&c->out[0], odt, g.out_rank, g.out_dims, c->diag)))
        goto done;
    int64_t total = g.batch * g.M * g.N;
    acc = malloc(sizeof *acc * (size_t)(total ? total : 1));
    if (!acc) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld outputs", (long long)total);
        goto done;
    }
    mm_int(&g, a32, b32, acc);
    float y_s = (float)fy__get_f64(ys, 0);
    int64_t z = yzp ? fy__get_i64(yzp, 0) : 0;
    for (int64_t bi = 0; bi < g.batch; bi++)
        for (int64_t m = 0; m < g.M; m++)
            for (int64_t n = 0; n < g.N; n++) {
                /* K == 0: nothing to scale (acc is 0) and the scale buffers are empty. */
                float sa = g.K ? as[(g.abat[bi] * g.M + m) * g.K] : 0.0f;
                float sb = g.K ? bs[g.bbat[bi] * g.K * g.N + n] : 0.0f;
                /* The multiplier is formed in float32, the product in double (numpy's
                 * int32 * float32 promotion), like the ONNX reference. */
                float mult = sa * sb / y_s;
                int64_t oi = (bi * g.M + m) * g.N + n;
                fy__set_i64(&c->out[0], oi, quant_sat((double)acc[oi] * (double)mult, z, lo, hi));
            }
done:
    free(g.abat);
    free(a32);
    free(b32);
    free(acc);
    free(as);
    free(bs);
    return rc;
}

/* --------------------------------------------------------------- integer Conv */

#define CONV_MAX_SP (FY_MAX_RANK - 2)
/* Ceiling on strides, dilations and pads: keeps every index product in int64. */
#define CONV_MAX_ATTR ((int64_t)1 << 31)

typedef struct conv_geom {
    int ns; /* spatial dims */
    int64_t N, C, M, group;
    int64_t in_sp[CONV_MAX_SP], k_sp[CONV_MAX_SP], out_sp[CONV_MAX_SP];
    int64_t stride[CONV_MAX_SP], dil[CONV_MAX_SP], pad_b[CONV_MAX_SP];
    int64_t in_sz, k_sz, out_sz;
} conv_geom;

/* Read an ints attribute of exactly n values (or defaults when absent). */
static int conv_ints(fy__op_ctx *c, const char *name, int n, int64_t def, int64_t min, int64_t *out)
{
    const int64_t *v;
    int64_t cnt = fy__attr_ints(c->node, name, &v);
    for (int i = 0; i < n; i++)
        out[i] = def;
    if (cnt < 0)
        return FY_OK;
    if (cnt != n)
        return fy__op_fail(c, FY_EINVAL, "attribute '%s' has %lld values, expected %d", name,
                           (long long)cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < min || v[i] > CONV_MAX_ATTR)
            return fy__op_fail(c, FY_EINVAL,
                               "attribute '%s'[%d] is %lld, out of range [%lld, "
                               "%lld]",
                               name, i, (long long)v[i], (long long)min, (long long)CONV_MAX_ATTR);
        out[i] = v[i];
    }
    return FY_OK;
}

static int conv_geom_init(fy__op_ctx *c, const fy_tensor *x, const fy_tensor *w, conv_geom *g)
{
    int rc;
    memset(g, 0, sizeof *g);
    if (x->rank < 3)
        return fy__op_fail(c, FY_EINVAL, "x (input 0) must be (N, C, D1, ...), got rank %d",
                           x->rank);
    if (w->rank != x->rank)
        return fy__op_fail(c, FY_EINVAL, "w has rank %d, x has rank %d", w->rank, x->rank);
    g->ns = x->rank - 2;
    g->N = x->dims[0];
    g->C = x->dims[1];
    g->M = w->dims[0];
    g->group = fy__attr_int(c->node, "group", 1);
    if (g->group < 1 || g->group > g->C || g->C % g->group || g->M % g->group ||
        w->dims[1] * g->group != g->C)
        return fy__op_fail(c, FY_EINVAL,
                           "group %lld does not fit x channels %lld, w shape "
                           "(%lld, %lld, ...)",
                           (long long)g->group, (long long)g->C, (long long)g->M,
                           (long long)w->dims[1]);
    int64_t pads[2 * CONV_MAX_SP], ks[CONV_MAX_SP];
    if ((rc = conv_ints(c, "strides", g->ns, 1, 1, g->stride)) ||
        (rc = conv_ints(c, "dilations", g->ns, 1, 1, g->dil)) ||
        (rc = conv_ints(c, "pads", 2 * g->ns, 0, 0, pads)) ||
        (rc = conv_ints(c, "kernel_shape", g->ns, -1, 1, ks)))
        return rc;
    const char *ap = fy__attr_str(c->node, "auto_pad", "NOTSET");
    int same = 0;
    if (strcmp(ap, "SAME_UPPER") == 0)
        same = 1;
    else if (strcmp(ap, "SAME_LOWER") == 0)
        same = 2;
    else if (strcmp(ap, "VALID") == 0)
        same = 3;
    else if (strcmp(ap, "NOTSET") != 0 && ap[0] != '\0')
        return fy__op_fail(c, FY_EINVAL, "attribute 'auto_pad' is '%s'", ap);
    g->in_sz = g->k_sz = g->out_sz = 1;
    for (int d = 0; d < g->ns; d++) {
        int64_t in = x->dims[2 + d], k = w->dims[2 + d];
        if (ks[d] >= 0 && ks[d] != k)
            return fy__op_fail(c, FY_EINVAL, "kernel_shape[%d]=%lld but w has %lld", d,
                               (long long)ks[d], (long long)k);
        if (k < 1 || (k > 1 && g->dil[d] > CONV_MAX_ATTR / (k - 1)))
            return fy__op_fail(c, FY_EINVAL,
                               "kernel dimension %d (%lld, dilation %lld) is "
                               "invalid",
                               d, (long long)k, (long long)g->dil[d]);
        int64_t ek = (k - 1) * g->dil[d] + 1, pb = pads[d], pe = pads[g->ns + d], out;
        if (same == 1 || same == 2) {
            out = (in + g->stride[d] - 1) / g->stride[d];
            int64_t total = (out - 1) * g->stride[d] + ek - in;
            if (total < 0)
                total = 0;
            pb = same == 1 ? total / 2 : total - total / 2;
        } else {
            if (same == 3)
                pb = pe = 0;
            if (in + pb + pe < ek)
                return fy__op_fail(c, FY_EINVAL,
                                   "spatial dimension %d: input %lld (padded "
                                   "%lld) is smaller than the kernel extent %lld",
                                   d, (long long)in, (long long)(in + pb + pe), (long long)ek);
            out = (in + pb + pe - ek) / g->stride[d] + 1;
        }
        g->in_sp[d] = in;
        g->k_sp[d] = k;
        g->out_sp[d] = out;
        g->pad_b[d] = pb;
        g->in_sz *= in;
        g->k_sz *= k;
        g->out_sz *= out;
    }
    return FY_OK;
}

/* Direct N-D convolution on zero-point-adjusted integers, 64-bit accumulation. */
static int conv_int(fy__op_ctx *c, const conv_geom *g, const int32_t *x, const int32_t *w,
                    int64_t *y)
{
    int64_t cg = g->C / g->group, mg = g->M / g->group;
    int64_t *kidx = malloc(sizeof *kidx * (size_t)g->k_sz * (size_t)g->ns);
    if (!kidx)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for a kernel of %lld", (long long)g->k_sz);
    for (int64_t kk = 0; kk < g->k_sz; kk++) {
        int64_t r = kk;
        for (int d = g->ns - 1; d >= 0; d--) {
            kidx[kk * g->ns + d] = r % g->k_sp[d];
            r /= g->k_sp[d];
        }
    }
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t m = 0; m < g->M; m++) {
            int64_t grp = m / mg;
            for (int64_t op = 0; op < g->out_sz; op++) {
                int64_t opos[CONV_MAX_SP], r = op, acc = 0;
                for (int d = g->ns - 1; d >= 0; d--) {
                    opos[d] = r % g->out_sp[d];
                    r /= g->out_sp[d];
                }
                for (int64_t kk = 0; kk < g->k_sz; kk++) {
                    int64_t lin = 0;
                    int inb = 1;
                    for (int d = 0; d < g->ns; d++) {
                        int64_t ip =
                            opos[d] * g->stride[d] - g->pad_b[d] + kidx[kk * g->ns + d] * g->dil[d];
                        if (ip < 0 || ip >= g->in_sp[d]) {
                            inb = 0; /* padding: adjusted value 0 */
                            break;
                        }
                        lin = lin * g->in_sp[d] + ip;
                    }
                    if (!inb)
                        continue;
                    for (int64_t ci = 0; ci < cg; ci++)
                        acc += (int64_t)x[(n * g->C + grp * cg + ci) * g->in_sz + lin] *
                               w[(m * cg + ci) * g->k_sz + kk];
                }
                y[(n * g->M + m) * g->out_sz + op] = acc;
            }
        }
    free(kidx);
    return FY_OK;
}

/* Output shape (N, M, out...) of a conv. */
static void conv_out_dims(const conv_geom *g, int64_t *od)
{
    od[0] = g->N;
    od[1] = g->M;
    for (int d = 0; d < g->ns; d++)
        od[2 + d] = g->out_sp[d];
}

static int op_conv_integer(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *w = c->in[1], *xzp = fy__op_in(c, 2);
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "x and w must be uint8 or int8, got %s and %s",
                           fy_dtype_name(x->dtype), fy_dtype_name(w->dtype));
    if ((xzp && (rc = need_scalar(c, xzp, 2, "x_zero_point"))) ||
        (fy__op_in(c, 3) && (rc = check_wzp(c, fy__op_in(c, 3), w, 3))))
        return rc;
    conv_geom g;
    int32_t *x32 = NULL, *w32 = NULL;
    int64_t *acc = NULL;
    int64_t od[FY_MAX_RANK];
    if ((rc = conv_geom_init(c, x, w, &g)))
        goto done;
    if ((rc = zp_sub(c, x, xzp, 2, 0, 0, &x32)) || (rc = zp_sub(c, w, fy__op_in(c, 3), 3, 0, 1, &w32)))
        goto done;
    conv_out_dims(&g, od);
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_I32, x->rank, od, c->diag)))
        goto done;
    int64_t n = fy_tensor_numel(&c->out[0]);
    acc = malloc(sizeof *acc * (size_t)(n ? n : 1));
    if (!acc) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld outputs", (long long)n);
        goto done;
    }
    if ((rc = conv_int(c, &g, x32, w32, acc)))
        goto done;
    for (int64_t i = 0; i < n; i++)
        ((int32_t *)c->out[0].data)[i] = (int32_t)(uint32_t)acc[i]; /* 32-bit wraparound */
done:
    free(x32);
    free(w32);
    free(acc);
    return rc;
}

static int op_qlinear_conv(fy__op_ctx *c)
{
    int rc;
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && i != 7 && (rc = fy__op_need(c, i)))
            return rc;
    const fy_tensor *x = c->in[0], *xs = c->in[1], *xzp = fy__op_in(c, 2), *w = c->in[3];
    const fy_tensor *ws = c->in[4], *ys = c->in[6], *yzp = fy__op_in(c, 7), *bias = fy__op_in(c, 8);
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED, "x and w must be uint8 or int8, got %s and %s",
                           fy_dtype_name(x->dtype), fy_dtype_name(w->dtype));
    fy_dtype odt = yzp ? yzp->dtype : x->dtype;
    int64_t lo, hi;
    if (!is_q8(odt) || !quant_range(odt, &lo, &hi))
        return fy__op_fail(c, FY_EUNSUPPORTED, "y_zero_point dtype %s is not supported",
                           fy_dtype_name(odt));
    if ((rc = need_scalar(c, xs, 1, "x_scale")) || (rc = need_scalar(c, ys, 6, "y_scale")) ||
        (xzp && (rc = need_scalar(c, xzp, 2, "x_zero_point"))) ||
        (yzp && (rc = need_scalar(c, yzp, 7, "y_zero_point"))) ||
        (fy__op_in(c, 5) && (rc = check_wzp(c, fy__op_in(c, 5), w, 5))))
        return rc;
    if (!fy__dtype_is_float(xs->dtype) || !fy__dtype_is_float(ws->dtype) ||
        !fy__dtype_is_float(ys->dtype))
        return fy__op_fail(c, FY_EINVAL, "x_scale, w_scale and y_scale must be float");
    conv_geom g;
    int32_t *x32 = NULL, *w32 = NULL;
    int64_t *acc = NULL;
    int64_t od[FY_MAX_RANK];
    if ((rc = conv_geom_init(c, x, w, &g)))
        goto done;
    int64_t nws = fy_tensor_numel(ws);
    if (nws != 1 && (ws->rank != 1 || nws != g.M)) {
        rc = fy__op_fail(c, FY_EINVAL,
                         "w_scale (input 4) must be a scalar or 1-D of size "
                         "M=%lld",
                         (long long)g.M);
        goto done;
    }
    if (bias && (bias->dtype != FY_DTYPE_I32 || bias->rank != 1 || bias->dims[0] != g.M)) {
        rc = fy__op_fail(c, FY_EINVAL, "B (input 8) must be int32 1-D of size M=%lld",
                         (long long)g.M);
        goto done;
    }
    if ((rc = zp_sub(c, x, xzp, 2, 0, 0, &x32)) || (rc = zp_sub(c, w, fy__op_in(c, 5), 5, 0, 1, &w32)))
        goto done;
    conv_out_dims(&g, od);
    if ((rc = fy_tensor_alloc(&c->out[0], odt, x->rank, od, c->diag)))
        goto done;
    int64_t n = fy_tensor_numel(&c->out[0]);
    acc = malloc(sizeof *acc * (size_t)(n ? n : 1));
    if (!acc) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld outputs", (long long)n);
        goto done;
    }
    if ((rc = conv_int(c, &g, x32, w32, acc)))
        goto done;
    float xsv = (float)fy__get_f64(xs, 0), ysv = (float)fy__get_f64(ys, 0);
    int64_t z = yzp ? fy__get_i64(yzp, 0) : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t m = (i / g.out_sz) % g.M;
        int64_t v = acc[i] + (bias ? ((const int32_t *)bias->data)[m] : 0);
        int32_t r = (int32_t)(uint32_t)v; /* the reference casts the sum to int32 */
        float mult = xsv * (float)fy__get_f64(ws, nws == 1 ? 0 : m) / ysv;
        fy__set_i64(&c->out[0], i, quant_sat((double)r * (double)mult, z, lo, hi));
    }
done:
    free(x32);
    free(w32);
    free(acc);
    return rc;
}

const fy__op_def fy__ops_quant[] = {
    {"QuantizeLinear", "", op_quantize},        {"DequantizeLinear", "", op_dequantize},
    {"DynamicQuantizeLinear", "", op_dynquant}, {"MatMulInteger", "", op_matmul_integer},
    {"ConvInteger", "", op_conv_integer},       {"QLinearMatMul", "", op_qlinear_matmul},
    {"QLinearConv", "", op_qlinear_conv},       {NULL, NULL, NULL},
};
