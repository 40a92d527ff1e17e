/* SPDX-License-Identifier: MIT */
/* ai.ferry QConvPool(X, x_scale, x_zero_point, W, w_scale, w_zero_point, y_scale,
 * y_zero_point, B?): Y = MaxPool(QLinearConv(...)), made by the graph pass in
 * src/engine/optimize_qpool.c from QLinearConv + MaxPool [+ Flatten]. Inputs and
 * attributes are QLinearConv's, plus "pool_kernel_shape", "pool_strides" (2 ints
 * each; no pool pads or dilations, floor rounding), "flatten" (int: 1 gives Y as
 * [N, M x oh x ow]) and "channels_last" (int: 1 gives Y as [N, oh x ow x M], the
 * channels of each position together; the pass sets it only when it has permuted
 * the rows of the MatMulInteger weight that reads Y to match).
 *
 * The reference runs the reference QLinearConv, the reference MaxPool on a stand-in
 * node, then reorders for channels_last: equal to the unfused chain. The fast path
 * is the direct int8 kernel of src/ops/fast/qdconv.c (AVX-512 VNNI), weights packed
 * and the per-channel bias and multipliers worked out at session creation; on CPUs
 * without VNNI it runs the fast QLinearConv and MaxPool kernels in sequence. */
#include <math.h>
#include <string.h>

#include "../core/core.h"
#include "fast/fast_ops.h"
#include "fast/qdconv.h"
#include "fused.h"

/* The chain QLinearConv, MaxPool [, reorder] on the reference kernels (fast 0) or
 * on the fast ones (fast 1: without VNNI, where the direct kernel does not run). */
static int compose(fy__op_ctx *c, int fast)
{
    const fy__op_def *conv =
        fast ? fy__op_find("", "QLinearConv") : fy__op_find_ref("", "QLinearConv");
    const fy__op_def *pool = fast ? fy__op_find("", "MaxPool") : fy__op_find_ref("", "MaxPool");
    if (!conv || !pool)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no QLinearConv or MaxPool kernel");
    if (!fy__attr_find(c->node, "pool_kernel_shape"))
        return fy__op_fail(c, FY_EINVAL, "attribute 'pool_kernel_shape' is missing");
    fy__node cn = *c->node;
    cn.op_type = (char *)"QLinearConv";
    cn.domain = (char *)"";
    cn.def = NULL;
    fy_tensor mid = {0}, pooled = {0};
    fy__op_ctx s = *c;
    s.node = &cn;
    s.n_out = 1;
    s.out = &mid;
    s.state = NULL; /* the fast kernels pack their weights themselves then */
    int rc = conv->run(&s);
    if (rc != FY_OK)
        return rc;
    fy__attr attrs[2];
    fy__node pn = fy__fused_pool_node(c->node, attrs);
    const fy_tensor *in[1] = {&mid};
    int cl = fy__attr_int(c->node, "channels_last", 0) != 0;
    s = *c;
    s.state = NULL;
    s.node = &pn;
    s.n_in = 1;
    s.in = in;
    s.n_out = 1;
    s.out = cl ? &pooled : &c->out[0];
    rc = pool->run(&s);
    fy_tensor_deinit(&mid);
    if (rc != FY_OK)
        return rc;
    if (cl) { /* [N, M, oh, ow] -> [N, oh x ow x M] */
        const fy_tensor *p = &pooled;
        if (p->rank != 4) {
            fy_tensor_deinit(&pooled);
            return fy__op_fail(c, FY_EINVAL, "channels_last needs a 2-D pool");
        }
        int64_t N = p->dims[0], M = p->dims[1], P = p->dims[2] * p->dims[3];
        int64_t dims[2] = {N, P * M};
        rc = fy_tensor_alloc(&c->out[0], p->dtype, 2, dims, c->diag);
        if (rc == FY_OK) {
            const uint8_t *src = p->data;
            uint8_t *dst = c->out[0].data;
            for (int64_t n = 0; n < N; n++)
                for (int64_t m = 0; m < M; m++)
                    for (int64_t k = 0; k < P; k++)
                        dst[(n * P + k) * M + m] = src[(n * M + m) * P + k];
        }
        fy_tensor_deinit(&pooled);
        return rc;
    }
    fy_tensor *y = &c->out[0];
    if (fy__attr_int(c->node, "flatten", 0) && y->rank == 4) {
        y->dims[1] = y->dims[1] * y->dims[2] * y->dims[3]; /* contiguous: a new shape only */
        y->rank = 2;
    }
    return FY_OK;
}

int fy__qconv_pool_ref(fy__op_ctx *c)
{
    return compose(c, 0);
}

/* ---- fast path ---- */

static int q8(const fy_tensor *t)
{
    return t && (t->dtype == FY_DTYPE_U8 || t->dtype == FY_DTYPE_I8);
}

static int float_scalar(const fy_tensor *t)
{
    return t && fy__dtype_is_float(t->dtype) && fy_tensor_numel(t) == 1;
}

typedef struct qcp_state {
    fy__qdconv *d;
    const void *wdata;
    double *mult;  /* blocks x 32 */
    int32_t *c;    /* blocks x 32, for c_dtype's X */
    int32_t *bias; /* M, or NULL */
    int c_dtype;   /* X dtype c was made for; 0: none yet */
    int c_ok;      /* c fits (fy__qdconv_bias) */
    int32_t xzp, zy;
    fy_dtype xzdt, ydt; /* the zero points' dtypes; 0: absent */
} qcp_state;

void fy__qconv_pool_release(void *state)
{
    qcp_state *st = state;
    if (!st)
        return;
    fy__qdconv_free(st->d);
    fy__free(st->mult);
    fy__free(st->c);
    fy__free(st->bias);
    fy__free(st);
}

/* Whether input i is given (present in the node) but not a constant. */
static int varying(const fy__op_prep *p, int i)
{
    return i < p->n_in && p->infos[i] && !p->consts[i];
}

int fy__qconv_pool_prep(const fy__op_prep *p, void **state)
{
    if (p->n_in < 8)
        return FY_OK;
    for (int i = 1; i < p->n_in; i++)
        if (varying(p, i))
            return FY_OK;
    const fy_tensor *xs = p->consts[1], *xz = p->consts[2], *w = p->consts[3], *ws = p->consts[4];
    const fy_tensor *wz = p->consts[5], *ys = p->consts[6], *yz = p->consts[7];
    const fy_tensor *b = p->n_in > 8 ? p->consts[8] : NULL;
    fy__conv_shape s;
    if (!w || w->dtype != FY_DTYPE_I8 || w->rank != 4 || !fy__conv_weights(p->node, w, &s) ||
        !float_scalar(xs) || !float_scalar(ys) || !ws || !fy__dtype_is_float(ws->dtype) ||
        (xz && (!q8(xz) || fy_tensor_numel(xz) != 1)) ||
        (yz && (!q8(yz) || fy_tensor_numel(yz) != 1)) ||
        (b && (b->dtype != FY_DTYPE_I32 || b->rank != 1 || b->dims[0] != s.m)))
        return FY_OK;
    int64_t nws = fy_tensor_numel(ws);
    if (nws != 1 && (ws->rank != 1 || nws != s.m))
        return FY_OK;
    for (int64_t i = 0; wz && i < fy_tensor_numel(wz); i++)
        if (fy__get_i64(wz, i) != 0)
            return FY_OK; /* the kernel takes symmetric weights only */
    if (s.group != 1 || s.c * s.kh * ((s.kw + 3) / 4) > FY_QDCONV_MAX_GROUPS)
        return FY_OK;
    qcp_state *st = fy__calloc(1, sizeof *st);
    if (!st || fy__qdconv_pack(&st->d, &s, w->data) != FY_OK)
        goto oom;
    size_t lanes = (size_t)(st->d->blocks * FY_DCONV_MB);
    st->mult = fy__calloc(lanes, sizeof *st->mult);
    st->c = fy__calloc(lanes, sizeof *st->c);
    st->bias = b ? fy__malloc((size_t)s.m * sizeof *st->bias) : NULL;
    if (!st->mult || !st->c || (b && !st->bias))
        goto oom;
    if (b)
        memcpy(st->bias, b->data, (size_t)s.m * sizeof *st->bias);
    /* the multiplier exactly as the reference QLinearConv computes it */
    float xsv = (float)fy__get_f64(xs, 0), ysv = (float)fy__get_f64(ys, 0);
    for (int64_t m = 0; m < s.m; m++) {
        float mult = xsv * (float)fy__get_f64(ws, nws == 1 ? 0 : m) / ysv;
        if (!(mult >= 0) || isinf(mult)) { /* not monotonic or not finite: the reference */
            fy__qconv_pool_release(st);
            return FY_OK;
        }
        st->mult[m] = (double)mult;
    }
    st->wdata = w->data;
    st->xzp = xz ? (int32_t)fy__get_i64(xz, 0) : 0;
    st->zy = yz ? (int32_t)fy__get_i64(yz, 0) : 0;
    st->xzdt = xz ? xz->dtype : 0;
    st->ydt = yz ? yz->dtype : 0; /* 0: Y's dtype is X's */
    *state = st;
    return FY_OK;
oom:
    fy__qconv_pool_release(st);
    return fy__diag_set(p->diag, FY_ENOMEM, "out of memory packing conv weights");
}

int fy__qconv_pool_fast(fy__op_ctx *c)
{
    qcp_state *st = c->state;
    const fy_tensor *x = fy__op_in(c, 0), *w = fy__op_in(c, 3);
    if (!st || !q8(x) || x->rank != 4 || !w || w->data != st->wdata ||
        (st->xzdt && st->xzdt != x->dtype))
        return fy__qconv_pool_ref(c);
    if (!fy__qdconv_available())
        return compose(c, 1);
    fy_dtype ydt = st->ydt ? st->ydt : x->dtype;
    fy__conv_shape s;
    fy__pool2 p;
    if (!fy__conv_weights(c->node, w, &s) || !fy__conv_geometry(c->node, x, &s) ||
        s.m != st->d->m || !fy__fused_pool_geometry(c->node, s.oh, s.ow, &p) ||
        !fy__qdconv_ok(&s, &p))
        return fy__qconv_pool_ref(c);
    int xsig = x->dtype == FY_DTYPE_I8;
    if (st->c_dtype != (int)x->dtype) {
        if (xsig ? st->xzp < -128 || st->xzp > 127 : st->xzp < 0 || st->xzp > 255)
            return fy__qconv_pool_ref(c); /* a zero point of the other type: reference */
        st->c_ok = fy__qdconv_bias(st->d, st->bias, xsig, st->xzp, st->c);
        st->c_dtype = (int)x->dtype;
    }
    if (!st->c_ok)
        return fy__qconv_pool_ref(c);
    int cl = fy__attr_int(c->node, "channels_last", 0) != 0;
    int flat = cl || fy__attr_int(c->node, "flatten", 0) != 0;
    int64_t dims[4] = {s.n, s.m, p.oh, p.ow};
    if (flat)
        dims[1] = s.m * p.oh * p.ow;
    int rc = fy_tensor_alloc(&c->out[0], ydt, flat ? 2 : 4, dims, c->diag);
    if (rc != FY_OK || fy_tensor_numel(&c->out[0]) == 0)
        return rc;
    fy__qdconv_q q = {xsig, st->xzp, st->c, st->mult, st->zy, ydt == FY_DTYPE_I8 ? -128 : 0, cl};
    fy__qdconv_pool(c->pool, &s, &p, x->data, st->d, &q, c->out[0].data);
    return FY_OK;
}
