/* SPDX-License-Identifier: MIT */
/* ai.ferry FusedConvPool(X, W, B?): Y = MaxPool(act(Conv(X, W, B))), made by the
 * graph pass in src/engine/optimize_pool.c from Conv [+ activation] + MaxPool.
 * Attributes: the Conv's (and FusedConv's activation ones), plus the pool's
 * "pool_kernel_shape" and "pool_strides" (2 ints each; no pads, no dilations,
 * floor rounding: the pass fuses only such pools), and "flatten" (int, default
 * 0): 1 gives the result as [N, M x oh x ow], Flatten(axis 1) of the pool's.
 *
 * The reference runs the reference FusedConv, then the reference MaxPool on a
 * stand-in node carrying the pool attributes: equal to the unfused chain. The fast
 * path is the direct kernel of src/ops/fast/dconv.c with weights packed at session
 * creation; anything it does not take goes to the reference. */
#include <string.h>

#include "../core/core.h"
#include "fast/dconv.h"
#include "fast/fast_ops.h"
#include "fused.h"

fy__node fy__fused_pool_node(const fy__node *n, fy__attr *attrs)
{
    fy__node s = *n;
    s.op_type = (char *)"MaxPool";
    s.domain = (char *)"";
    s.def = NULL;
    s.n_attrs = 0;
    s.attrs = attrs;
    static const char *const from[2] = {"pool_kernel_shape", "pool_strides"};
    static const char *const to[2] = {"kernel_shape", "strides"};
    for (int k = 0; k < 2; k++) {
        const fy__attr *a = fy__attr_find(n, from[k]);
        if (a) {
            attrs[s.n_attrs] = *a;
            attrs[s.n_attrs++].name = (char *)to[k];
        }
    }
    return s;
}

int fy__fused_conv_pool_ref(fy__op_ctx *c)
{
    const fy__op_def *conv = fy__op_find_ref(FY_FUSED_DOMAIN, "FusedConv");
    const fy__op_def *pool = fy__op_find_ref("", "MaxPool");
    if (!conv || !pool)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no FusedConv or MaxPool kernel");
    if (!fy__attr_find(c->node, "pool_kernel_shape"))
        return fy__op_fail(c, FY_EINVAL, "attribute 'pool_kernel_shape' is missing");
    fy__node cn = *c->node;
    cn.op_type = (char *)"FusedConv";
    cn.def = NULL;
    fy_tensor mid = {0};
    fy__op_ctx s = *c;
    s.node = &cn;
    s.n_in = c->n_in < 3 ? c->n_in : 3;
    s.n_out = 1;
    s.out = &mid;
    int rc = conv->run(&s);
    if (rc != FY_OK)
        return rc;
    fy__attr attrs[2];
    fy__node pn = fy__fused_pool_node(c->node, attrs);
    const fy_tensor *in[1] = {&mid};
    s = *c;
    s.node = &pn;
    s.n_in = 1;
    s.in = in;
    s.n_out = 1;
    s.out = &c->out[0];
    rc = pool->run(&s);
    fy_tensor_deinit(&mid);
    fy_tensor *y = &c->out[0];
    if (rc == FY_OK && fy__attr_int(c->node, "flatten", 0) && y->rank == 4) {
        y->dims[1] = y->dims[1] * y->dims[2] * y->dims[3]; /* contiguous: a new shape only */
        y->rank = 2;
    }
    return rc;
}

/* ---- fast path ---- */

static int f32(const fy_tensor *t, int rank)
{
    return t && t->dtype == FY_DTYPE_F32 && t->rank == rank;
}

int fy__fused_pool_geometry(const fy__node *n, int64_t oh, int64_t ow, fy__pool2 *p)
{
    const int64_t *k = NULL, *st = NULL;
    if (fy__attr_ints(n, "pool_kernel_shape", &k) != 2)
        return 0;
    int64_t ns = fy__attr_ints(n, "pool_strides", &st);
    if (ns > 0 && ns != 2)
        return 0;
    p->kh = k[0];
    p->kw = k[1];
    p->sh = ns > 0 ? st[0] : 1;
    p->sw = ns > 0 ? st[1] : 1;
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->kh > oh || p->kw > ow ||
        p->kh > (1 << 16) || p->kw > (1 << 16))
        return 0;
    p->oh = (oh - p->kh) / p->sh + 1;
    p->ow = (ow - p->kw) / p->sw + 1;
    return 1;
}

/* Per-node state: the packed weights, and the geometry worked out from the
 * attributes for the last input shape (a session runs one call at a time), so a
 * batch-1 run does not look its dozen attributes up by name again. */
typedef struct cp_state {
    fy__dconv *d;
    int have;
    int64_t xdims[4];
    const void *wdata;
    fy__conv_shape s;
    fy__pool2 p;
    fy__epilogue ep;
    int flatten;
} cp_state;

int fy__fused_conv_pool_prep(const fy__op_prep *p, void **state)
{
    const fy_tensor *w = p->n_in > 1 ? p->consts[1] : NULL;
    fy__conv_shape s;
    if (!f32(w, 4) || !fy__conv_weights(p->node, w, &s) || !fy__dconv_ok(&s))
        return FY_OK;
    cp_state *st = fy__calloc(1, sizeof *st);
    if (!st || fy__dconv_pack(&st->d, &s, w->data) != FY_OK) {
        fy__free(st);
        return fy__diag_set(p->diag, FY_ENOMEM, "out of memory packing conv weights");
    }
    *state = st;
    return FY_OK;
}

void fy__fused_conv_pool_release(void *state)
{
    cp_state *st = state;
    if (!st)
        return;
    fy__dconv_free(st->d);
    fy__free(st);
}

/* Fill st's geometry for x and w from the node's attributes; 0 when the direct
 * kernel does not take the case. */
static int geometry(const fy__op_ctx *c, cp_state *st, const fy_tensor *x, const fy_tensor *w)
{
    memset(&st->ep, 0, sizeof st->ep);
    int act = fy__fused_act(c->node, &st->ep.alpha, &st->ep.beta);
    st->ep.act = (fy__act)(act < 0 ? 0 : act);
    st->flatten = fy__attr_int(c->node, "flatten", 0) != 0;
    if (!fy__conv_weights(c->node, w, &st->s) || !fy__conv_geometry(c->node, x, &st->s) ||
        !fy__dconv_ok(&st->s) || st->s.m != st->d->m ||
        !fy__fused_pool_geometry(c->node, st->s.oh, st->s.ow, &st->p) ||
        !(act == FY_ACT_NONE || act == FY_ACT_RELU || act == FY_ACT_LEAKY_RELU ||
          act == FY_ACT_CLIP))
        return 0;
    memcpy(st->xdims, x->dims, sizeof st->xdims);
    st->wdata = w->data;
    st->have = 1;
    return 1;
}

int fy__fused_conv_pool_fast(fy__op_ctx *c)
{
    cp_state *st = c->state;
    const fy_tensor *x = fy__op_in(c, 0), *w = fy__op_in(c, 1), *b = fy__op_in(c, 2);
    if (!st || !f32(x, 4) || !f32(w, 4) || c->n_in > 3)
        return fy__fused_conv_pool_ref(c);
    if (!(st->have && st->wdata == w->data && memcmp(st->xdims, x->dims, sizeof st->xdims) == 0)) {
        st->have = 0;
        if (!geometry(c, st, x, w))
            return fy__fused_conv_pool_ref(c);
    }
    const fy__conv_shape *s = &st->s;
    const fy__pool2 *p = &st->p;
    if (b && (!f32(b, 1) || b->dims[0] != s->m))
        return fy__fused_conv_pool_ref(c);
    int64_t dims[4] = {s->n, s->m, p->oh, p->ow};
    if (st->flatten) {
        dims[1] = s->m * p->oh * p->ow;
        dims[2] = dims[3] = 1;
    }
    int rc = fy__tensor_alloc_uninit(&c->out[0], FY_DTYPE_F32, st->flatten ? 2 : 4, dims, c->diag);
    if (rc != FY_OK || fy_tensor_numel(&c->out[0]) == 0)
        return rc;
    fy__dconv_pool(c->pool, s, p, x->data, st->d, b ? b->data : NULL, &st->ep, c->out[0].data);
    return FY_OK;
}
