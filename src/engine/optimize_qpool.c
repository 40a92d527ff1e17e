/* SPDX-License-Identifier: MIT */
/* Graph pass: a QLinearConv whose only reader is a MaxPool becomes one
 * ai.ferry.QConvPool node, computed by the direct int8 kernel with the pool in its
 * epilogue (src/ops/fast/qdconv.c): the unpooled bytes are never written. Taken
 * where that kernel may apply: constant int8 weights, group 1, few taps (C x kh x
 * ceil(kw / 4) words at most FY_QDCONV_MAX_GROUPS), a pool without pads, dilations,
 * ceil rounding or Indices output; the rest (zero points, scales, shapes) is
 * checked when the session is made and when it runs, falling back to the
 * reference chain.
 *
 * A Flatten(axis 1) reading the pool is absorbed (attribute flatten). When that
 * Flatten's only reader is a MatMulInteger with a constant 2-D weight B of K = M x P
 * rows (M the conv's channels), the fused node writes its output channels-last
 * ([N, P x M]: the M channels of each pooled position together, as the kernel
 * computes them) and the MatMulInteger gets a copy of B with its rows in that
 * order: row p x M + m of the copy is row m x P + p of B. The integer products
 * are the same terms summed in another order, exactly equal. */
#include <string.h>

#include "../ops/fast/qdconv.h"
#include "../ops/fused.h"
#include "optimize_int.h"

static int conv_fusable(const fy__opt *o, const fy__node *n)
{
    if (!fy__opt_is_op(n, "QLinearConv") || n->n_outputs != 1 || n->n_inputs < 8 ||
        n->n_inputs > 9 || n->inputs[0] < 0)
        return 0;
    const fy_tensor *w = fy__opt_cval(o, n->inputs[3]);
    if (!w || w->dtype != FY_DTYPE_I8 || w->rank != 4 || fy__attr_int(n, "group", 1) != 1)
        return 0;
    int64_t words = w->dims[1] * w->dims[2] * ((w->dims[3] + 3) / 4);
    return w->dims[1] >= 1 && w->dims[2] >= 1 && w->dims[3] >= 1 && words <= FY_QDCONV_MAX_GROUPS;
}

static fy__attr *add_attr(fy__node *n, const char *name, int type)
{
    fy__attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = type;
    return a;
}

/* B's rows reordered for a channels-last A: M channels, K / M positions. */
static int permuted_b(fy__opt *o, const fy_tensor *b, int64_t M)
{
    fy_tensor t = {0};
    if (fy_tensor_alloc(&t, b->dtype, 2, b->dims, NULL) != FY_OK)
        return FY_ENOMEM;
    const int64_t K = b->dims[0], N = b->dims[1], P = K / M;
    const uint8_t *src = b->data;
    uint8_t *dst = t.data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t p = 0; p < P; p++)
            memcpy(dst + (p * M + m) * N, src + (m * P + p) * N, (size_t)N);
    return fy__opt_add_const(o, &t, "qconv_pool_b");
}

/* The MatMulInteger whose A is vid (its sole reader), with a constant int8/uint8
 * B of M x something rows: its index, else -1. */
static int gemm_after(const fy__opt *o, int vid, int64_t M)
{
    int r = fy__opt_sole_reader(o, vid);
    if (r < 0 || !fy__opt_is_op(&o->g.nodes[r], "MatMulInteger"))
        return -1;
    const fy__node *mm = &o->g.nodes[r];
    if (mm->n_inputs < 2 || mm->inputs[0] != vid || mm->inputs[1] == vid || mm->n_outputs != 1)
        return -1;
    for (int k = 2; k < mm->n_inputs; k++)
        if (mm->inputs[k] == vid)
            return -1;
    const fy_tensor *b = fy__opt_cval(o, mm->inputs[1]);
    if (!b || (b->dtype != FY_DTYPE_I8 && b->dtype != FY_DTYPE_U8) || b->rank != 2 ||
        b->dims[0] < M || b->dims[0] % M != 0)
        return -1;
    return r;
}

int fy__opt_pass_qconv_pool(fy__opt *o, fy__opt_stats *st)
{
    fy__opt_recount(o);
    for (int i = 0; i < o->g.n_nodes; i++) {
        if (o->dead[i] || !conv_fusable(o, &o->g.nodes[i]))
            continue;
        const fy__node *n = &o->g.nodes[i];
        const int64_t *k = NULL, *s = NULL;
        int r = fy__opt_pool_after(o, n, &k, &s);
        if (r < 0)
            continue;
        const fy__node *mp = &o->g.nodes[r];
        int64_t M = fy__opt_cval(o, n->inputs[3])->dims[0];
        int ins[9];
        for (int j = 0; j < n->n_inputs; j++)
            ins[j] = n->inputs[j];
        int out = mp->outputs[0], n_in = n->n_inputs;
        /* a Flatten(axis 1) after it, and a MatMulInteger after that */
        int fl = fy__opt_sole_reader(o, out), mm = -1;
        if (fl >= 0 && (!fy__opt_is_op(&o->g.nodes[fl], "Flatten") ||
                        o->g.nodes[fl].n_outputs != 1 || o->g.nodes[fl].inputs[0] != out))
            fl = -1;
        if (fl >= 0) {
            int64_t axis = fy__attr_int(&o->g.nodes[fl], "axis", 1);
            fl = axis == 1 || axis == -3 ? fl : -1;
        }
        if (fl >= 0)
            mm = gemm_after(o, o->g.nodes[fl].outputs[0], M);
        int newb = -1;
        if (mm >= 0) {
            newb = permuted_b(o, fy__opt_cval(o, o->g.nodes[mm].inputs[1]), M);
            if (newb < 0)
                return FY_ENOMEM;
        }
        fy__node src = *n;
        fy__node *f = fy__opt_rewrite(o, r, FY_FUSED_DOMAIN, "QConvPool", n_in, ins, out, &src, 4);
        if (!f)
            return FY_ENOMEM;
        fy__attr *a = add_attr(f, "pool_kernel_shape", FY_ATTR_INTS);
        a->n = 2;
        a->ints = (int64_t *)k; /* borrowed from the model, or the constant: never written */
        a = add_attr(f, "pool_strides", FY_ATTR_INTS);
        a->n = 2;
        a->ints = (int64_t *)s;
        fy__opt_kill(o, i);
        fy__opt_rewired(o, r);
        st->qconv_pool++;
        if (fl < 0)
            continue;
        f = &o->g.nodes[r];
        f->outputs[0] = o->g.nodes[fl].outputs[0];
        add_attr(f, "flatten", FY_ATTR_INT)->i = 1;
        fy__opt_kill(o, fl);
        fy__opt_rewired(o, r);
        if (mm < 0)
            continue;
        add_attr(f, "channels_last", FY_ATTR_INT)->i = 1;
        fy__node keep = o->g.nodes[mm];
        int mins[4];
        for (int j = 0; j < keep.n_inputs && j < 4; j++)
            mins[j] = keep.inputs[j];
        mins[1] = newb;
        if (!fy__opt_rewrite(o, mm, "", "MatMulInteger", keep.n_inputs < 4 ? keep.n_inputs : 4,
                             mins, keep.outputs[0], &keep, 0))
            return FY_ENOMEM;
        fy__opt_rewired(o, mm);
    }
    return FY_OK;
}
