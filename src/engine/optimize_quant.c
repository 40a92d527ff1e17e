/* SPDX-License-Identifier: MIT */
/* The dynamic int8 MatMul pass. `ferry compress --quantize int8-dynamic` writes,
 * per Gemm/MatMul (src/quant/quantize.c):
 *
 *   xq, xs, xzp = DynamicQuantizeLinear(x)
 *   acc  = MatMulInteger(xq, Wq, xzp)      Wq: constant int8 [K, N]
 *   accf = Cast(acc, to=FLOAT)
 *   sv   = Mul(xs, S)                      S: constant float32 scale per column
 *   y    = Mul(accf, sv) [; y = Add(y, B)] B: constant float32 bias
 *   [y = Add(y, Z)]                        Z: computed at run time (residual)
 *   [y = act(y)]                           an activation the fused ops take
 *
 * and this pass puts one ai.ferry.DynQMatMul(x, Wq, S, B?) in its place (defined
 * as that chain: src/ops/fused.h). compress gives every layer its own
 * DynamicQuantizeLinear, so the pass requires each intermediate value, the three
 * DynamicQuantizeLinear outputs included, to have its chain's node as sole reader
 * (and not be a graph output): a quantized activation shared by several
 * MatMulIntegers is left unfused. Operands of the commutative Mul and Add may come
 * in either order. */
#include <string.h>

#include "../ops/fused.h"
#include "../ops/ops.h"
#include "optimize_int.h"

/* Constant float32 tensor with one element or n elements in one row. */
static int f32_vec(const fy__opt *o, int vid, int64_t n)
{
    const fy_tensor *t = fy__opt_cval(o, vid);
    if (!t || t->dtype != FY_DTYPE_F32)
        return 0;
    int64_t c = fy_tensor_numel(t);
    return c == 1 || (c == n && t->rank == 1);
}

/* The sole reader of vid when it is op `op`; else -1. */
static int next_op(const fy__opt *o, int vid, const char *op)
{
    int r = fy__opt_sole_reader(o, vid);
    return r >= 0 && fy__opt_is_op(&o->g.nodes[r], op) ? r : -1;
}

/* The fused node took the place of the chain's last node: the others are dead. */
static void retire_chain(fy__opt *o, const int *chain, int n, int last)
{
    for (int k = 0; k < n; k++)
        if (chain[k] >= 0 && chain[k] != last)
            fy__opt_kill(o, chain[k]);
    fy__opt_rewired(o, last);
}

/* A pass: match_at at every live node of op `op`. */
static int each_op(fy__opt *o, const char *op, int (*match_at)(fy__opt *, int, fy__opt_stats *),
                   fy__opt_stats *st)
{
    int rc = FY_OK;
    fy__opt_recount(o);
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++)
        if (!o->dead[i] && fy__opt_is_op(&o->g.nodes[i], op))
            rc = match_at(o, i, st);
    return rc;
}

static int match(fy__opt *o, int id, fy__opt_stats *st)
{
    const fy__node *d = &o->g.nodes[id];
    if (d->n_inputs != 1 || d->n_outputs != 3 || d->inputs[0] < 0)
        return FY_OK;
    int x = d->inputs[0], xq = d->outputs[0], xs = d->outputs[1], xzp = d->outputs[2];
    if (xq < 0 || xs < 0 || xzp < 0)
        return FY_OK;
    int im = next_op(o, xq, "MatMulInteger");
    if (im < 0 || fy__opt_sole_reader(o, xzp) != im)
        return FY_OK;
    const fy__node *mm = &o->g.nodes[im];
    if (mm->n_inputs != 3 || mm->inputs[0] != xq || mm->inputs[2] != xzp || mm->n_outputs != 1)
        return FY_OK;
    int w = mm->inputs[1];
    const fy_tensor *wt = fy__opt_cval(o, w);
    if (!wt || wt->dtype != FY_DTYPE_I8 || wt->rank != 2)
        return FY_OK;
    int64_t N = wt->dims[1];
    int ic = next_op(o, mm->outputs[0], "Cast");
    if (ic < 0 || fy__attr_int(&o->g.nodes[ic], "to", 0) != FY_DTYPE_F32 ||
        o->g.nodes[ic].n_outputs != 1)
        return FY_OK;
    int accf = o->g.nodes[ic].outputs[0];
    int imul = next_op(o, accf, "Mul");
    int sv = imul >= 0 ? fy__opt_other_input(&o->g.nodes[imul], accf) : -2;
    int is = next_op(o, xs, "Mul");
    if (sv < 0 || is < 0 || o->g.nodes[is].n_outputs != 1 || o->g.nodes[is].outputs[0] != sv ||
        fy__opt_sole_reader(o, sv) != imul || o->g.nodes[imul].n_outputs != 1)
        return FY_OK;
    int s = fy__opt_other_input(&o->g.nodes[is], xs);
    if (s < 0 || !f32_vec(o, s, N))
        return FY_OK;
    int last = imul, out = o->g.nodes[imul].outputs[0], bias = -1;
    int ia = next_op(o, out, "Add");
    if (ia >= 0 && o->g.nodes[ia].n_outputs == 1) {
        int b = fy__opt_other_input(&o->g.nodes[ia], out);
        if (b >= 0 && f32_vec(o, b, N)) {
            bias = b;
            last = ia;
            out = o->g.nodes[ia].outputs[0];
        }
    }
    int chain[8] = {id, im, ic, is, imul, ia >= 0 && bias >= 0 ? ia : -1, -1, -1};
    /* residual: Add(y, Z) with Z computed at run time */
    int z = -1, ir = next_op(o, out, "Add");
    if (ir >= 0 && o->g.nodes[ir].n_outputs == 1) {
        int zz = fy__opt_other_input(&o->g.nodes[ir], out);
        if (zz >= 0 && !fy__opt_cval(o, zz)) {
            z = zz;
            chain[7] = last = ir;
            out = o->g.nodes[ir].outputs[0];
        }
    }
    float alpha, beta;
    int iact;
    const char *act = fy__opt_activation_of(o, out, &iact, &alpha, &beta);
    if (act) {
        chain[6] = last = iact;
        out = o->g.nodes[iact].outputs[0];
    }
    int ins[5] = {x, w, s, bias, z};
    /* The fused node sits where the chain ended: x, Z and the constants exist by then. */
    fy__node *f = fy__opt_rewrite(o, last, FY_FUSED_DOMAIN, "DynQMatMul",
                                  z >= 0      ? 5
                                  : bias >= 0 ? 4
                                              : 3,
                                  ins, out, NULL, 3);
    if (!f)
        return FY_ENOMEM;
    if (act)
        fy__opt_set_act(f, act, alpha, beta);
    retire_chain(o, chain, 8, last);
    st->dynq++;
    return FY_OK;
}

int fy__opt_pass_dynq(fy__opt *o, fy__opt_stats *st)
{
    return each_op(o, "DynamicQuantizeLinear", match, st);
}

/* ---- the static int8 chain (ferry compress --quantize int8) ----
 *
 *   [xq = QuantizeLinear(x, xs, xzp)]      xs: constant float32 scalar
 *   acc  = MatMulInteger(xq, Wq, xzp)      Wq: constant int8 [K, N]; xzp a constant scalar
 *   accf = Cast(acc, to=FLOAT)
 *   y    = Mul(accf, S) [; y = Add(y, B)]  S, B: constant float32, one or N values
 *   [y = act(y)]
 *
 * becomes one ai.ferry.QMatMul(x or xq, Wq, xzp, S, B, xs?) (fused.h). The
 * QuantizeLinear is taken in when its output's only reader is the MatMulInteger
 * and both use the same zero-point value. */

/* A constant uint8/int8 scalar. */
static int q8_scalar(const fy__opt *o, int vid)
{
    const fy_tensor *t = fy__opt_cval(o, vid);
    return t && (t->dtype == FY_DTYPE_U8 || t->dtype == FY_DTYPE_I8) && fy_tensor_numel(t) == 1;
}

static int match_static(fy__opt *o, int im, fy__opt_stats *st)
{
    const fy__node *mm = &o->g.nodes[im];
    if (mm->n_inputs < 2 || mm->n_inputs > 3 || mm->n_outputs != 1 || mm->inputs[0] < 0)
        return FY_OK;
    int a = mm->inputs[0], w = mm->inputs[1], zp = mm->n_inputs > 2 ? mm->inputs[2] : -1;
    const fy_tensor *wt = fy__opt_cval(o, w);
    if (!wt || wt->dtype != FY_DTYPE_I8 || wt->rank != 2 || (zp >= 0 && !q8_scalar(o, zp)) ||
        a == w || a == zp)
        return FY_OK;
    int64_t N = wt->dims[1];
    int ic = next_op(o, mm->outputs[0], "Cast");
    if (ic < 0 || fy__attr_int(&o->g.nodes[ic], "to", 0) != FY_DTYPE_F32 ||
        o->g.nodes[ic].n_outputs != 1)
        return FY_OK;
    int accf = o->g.nodes[ic].outputs[0];
    int imul = next_op(o, accf, "Mul");
    int s = imul >= 0 ? fy__opt_other_input(&o->g.nodes[imul], accf) : -2;
    if (s < 0 || !f32_vec(o, s, N) || o->g.nodes[imul].n_outputs != 1)
        return FY_OK;
    int last = imul, out = o->g.nodes[imul].outputs[0], bias = -1;
    int ia = next_op(o, out, "Add");
    if (ia >= 0 && o->g.nodes[ia].n_outputs == 1) {
        int b = fy__opt_other_input(&o->g.nodes[ia], out);
        if (b >= 0 && f32_vec(o, b, N)) {
            bias = b;
            last = ia;
            out = o->g.nodes[ia].outputs[0];
        } else {
            ia = -1;
        }
    }
    float alpha, beta;
    int iact = -1;
    const char *act = fy__opt_activation_of(o, out, &iact, &alpha, &beta);
    if (act) {
        last = iact;
        out = o->g.nodes[iact].outputs[0];
    } else {
        iact = -1;
    }
    /* the QuantizeLinear feeding it, when it feeds nothing else */
    int iq = -1, xs = -1;
    const fy__node *qn = fy__opt_producer(o, a, &iq);
    if (qn && fy__opt_is_op(qn, "QuantizeLinear") && qn->n_inputs == 3 && qn->n_outputs == 1 &&
        qn->n_attrs == 0 && qn->inputs[0] >= 0 && fy__opt_sole_reader(o, a) == im && zp >= 0 &&
        qn->inputs[2] >= 0) {
        const fy_tensor *sc = fy__opt_cval(o, qn->inputs[1]);
        const fy_tensor *z1 = fy__opt_cval(o, qn->inputs[2]), *z2 = fy__opt_cval(o, zp);
        if (sc && sc->dtype == FY_DTYPE_F32 && fy_tensor_numel(sc) == 1 && z1 && z2 &&
            z1->dtype == z2->dtype && fy_tensor_numel(z1) == 1 &&
            memcmp(z1->data, z2->data, fy_dtype_size(z1->dtype)) == 0) {
            xs = qn->inputs[1];
            a = qn->inputs[0];
        }
    }
    if (xs < 0)
        iq = -1;
    int ins[6] = {a, w, zp, s, bias, xs};
    int n_in = xs >= 0 ? 6 : bias >= 0 ? 5 : 4;
    fy__node *f = fy__opt_rewrite(o, last, FY_FUSED_DOMAIN, "QMatMul", n_in, ins, out, NULL, 3);
    if (!f)
        return FY_ENOMEM;
    if (act)
        fy__opt_set_act(f, act, alpha, beta);
    int chain[6] = {iq, im, ic, imul, ia, iact};
    retire_chain(o, chain, 6, last);
    st->qmatmul++;
    return FY_OK;
}

int fy__opt_pass_qmatmul(fy__opt *o, fy__opt_stats *st)
{
    return each_op(o, "MatMulInteger", match_static, st);
}
