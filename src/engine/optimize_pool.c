/* SPDX-License-Identifier: MIT */
/* Graph pass: a Conv (or a FusedConv with its activation, after the fusion pass)
 * whose only reader is a MaxPool becomes one ai.ferry.FusedConvPool node, computed
 * by the direct conv kernel with the pool in its epilogue (src/ops/fast/dconv.c):
 * the unpooled output is never written. Taken only where that kernel applies:
 * float32 constant weights, group 1, at most FY_DCONV_MAX_TAPS taps per output
 * (first layers of image models, not ResNet's 7x7x3 stem), no residual input, an
 * activation the kernel has (none, Relu, LeakyRelu, Clip), and a pool without pads,
 * dilations, ceil rounding, column-major indices or an Indices output. A
 * Flatten(axis 1) reading the pool's output is absorbed too (attribute flatten). */
#include <string.h>

#include "../ops/fast/dconv.h"
#include "../ops/fused.h"
#include "optimize_int.h"

static int is_fused(const fy__node *n, const char *op)
{
    return strcmp(n->domain, FY_FUSED_DOMAIN) == 0 && strcmp(n->op_type, op) == 0;
}

/* All n ints of attribute name equal v (or it is absent). */
static int ints_all(const fy__node *n, const char *name, int64_t v)
{
    const int64_t *p = NULL;
    int64_t cnt = fy__attr_ints(n, name, &p);
    for (int64_t k = 0; k < cnt; k++)
        if (p[k] != v)
            return 0;
    return 1;
}

static int pool_fusable(const fy__node *mp)
{
    const int64_t *k = NULL, *s = NULL;
    if (mp->n_inputs != 1 || (mp->n_outputs > 1 && mp->outputs[1] >= 0) ||
        fy__attr_ints(mp, "kernel_shape", &k) != 2 || k[0] < 1 || k[1] < 1)
        return 0;
    int64_t ns = fy__attr_ints(mp, "strides", &s);
    if ((ns > 0 && (ns != 2 || s[0] < 1 || s[1] < 1)) || !ints_all(mp, "pads", 0) ||
        !ints_all(mp, "dilations", 1) || fy__attr_int(mp, "ceil_mode", 0) != 0 ||
        fy__attr_int(mp, "storage_order", 0) != 0)
        return 0;
    const char *ap = fy__attr_str(mp, "auto_pad", "NOTSET");
    return !*ap || strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0;
}

int fy__opt_pool_after(const fy__opt *o, const fy__node *n, const int64_t **kernel,
                       const int64_t **strides)
{
    static const int64_t ones[2] = {1, 1};
    int r = fy__opt_sole_reader(o, n->outputs[0]);
    if (r < 0 || !fy__opt_is_op(&o->g.nodes[r], "MaxPool") || !pool_fusable(&o->g.nodes[r]) ||
        o->g.nodes[r].inputs[0] != n->outputs[0])
        return -1;
    const fy__node *mp = &o->g.nodes[r];
    fy__attr_ints(mp, "kernel_shape", kernel);
    if (fy__attr_ints(mp, "strides", strides) != 2)
        *strides = ones;
    return r;
}

static int conv_fusable(const fy__opt *o, const fy__node *n)
{
    int conv = fy__opt_is_op(n, "Conv"), fused = is_fused(n, "FusedConv");
    if ((!conv && !fused) || n->n_outputs != 1 || n->n_inputs < 2 ||
        (n->n_inputs > 3 && n->inputs[3] >= 0))
        return 0;
    const fy_tensor *w = fy__opt_cval(o, n->inputs[1]);
    if (!w || w->dtype != FY_DTYPE_F32 || w->rank != 4 || fy__attr_int(n, "group", 1) != 1 ||
        w->dims[1] * w->dims[2] * w->dims[3] > FY_DCONV_MAX_TAPS)
        return 0;
    float alpha, beta;
    int act = fused ? fy__fused_act(n, &alpha, &beta) : FY_ACT_NONE;
    return act == FY_ACT_NONE || act == FY_ACT_RELU || act == FY_ACT_LEAKY_RELU ||
           act == FY_ACT_CLIP;
}

static void add_ints(fy__node *n, const char *name, int64_t cnt, const int64_t *v)
{
    fy__attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = FY_ATTR_INTS;
    a->n = cnt;
    a->ints = (int64_t *)v; /* borrowed from the model, or the constant below: never written */
}

int fy__opt_pass_conv_pool(fy__opt *o, fy__opt_stats *st)
{
    fy__opt_recount(o);
    for (int i = 0; i < o->g.n_nodes; i++) {
        if (o->dead[i])
            continue;
        const fy__node *n = &o->g.nodes[i];
        if (!conv_fusable(o, n))
            continue;
        const int64_t *k = NULL, *s = NULL;
        int r = fy__opt_pool_after(o, n, &k, &s);
        if (r < 0)
            continue;
        const fy__node *mp = &o->g.nodes[r];
        int ins[3] = {n->inputs[0], n->inputs[1], n->n_inputs > 2 ? n->inputs[2] : -1};
        int out = mp->outputs[0];
        fy__node src = *n;
        fy__node *f = fy__opt_rewrite(o, r, FY_FUSED_DOMAIN, "FusedConvPool", 3, ins, out, &src, 3);
        if (!f)
            return FY_ENOMEM;
        add_ints(f, "pool_kernel_shape", 2, k);
        add_ints(f, "pool_strides", 2, s);
        fy__opt_kill(o, i);
        fy__opt_rewired(o, r);
        st->conv_pool++;
        /* A Flatten(axis 1) after it (a classifier's head) is only a shape: the
         * fused node writes [N, M x oh x ow] itself and the copy goes. */
        int fl = fy__opt_sole_reader(o, out);
        if (fl >= 0 && fy__opt_is_op(&o->g.nodes[fl], "Flatten") && o->g.nodes[fl].n_outputs == 1 &&
            o->g.nodes[fl].inputs[0] == out) {
            int64_t axis = fy__attr_int(&o->g.nodes[fl], "axis", 1);
            if (axis == 1 || axis == -3) {
                f = &o->g.nodes[r];
                f->outputs[0] = o->g.nodes[fl].outputs[0];
                fy__attr *a = &f->attrs[f->n_attrs++];
                memset(a, 0, sizeof *a);
                a->name = (char *)"flatten";
                a->type = FY_ATTR_INT;
                a->i = 1;
                fy__opt_kill(o, fl);
                fy__opt_rewired(o, r);
            }
        }
    }
    return FY_OK;
}
