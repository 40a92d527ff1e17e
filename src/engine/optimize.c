/* SPDX-License-Identifier: MIT */
/* Graph passes on a session-owned copy of the top-level graph. The copy shares
 * everything it does not change with the model (names, attributes, initializers);
 * what the passes make (folded constants, rewired input lists, fused nodes) is
 * owned by the copy. Patterns only fire when every intermediate value has exactly
 * one reader and is not a graph output, so nothing outside a chain can tell it
 * was fused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../ops/fused.h"
#include "../ops/ops.h"
#include "optimize_int.h"

/* Bytes a single folded node may produce: a constant of a gigabyte would only move
 * work from run time to memory. */
#define FOLD_MAX_BYTES ((size_t)64 << 20)

static void *own(fy__opt *o, size_t n)
{
    if (o->n_owned == o->cap_owned) {
        int cap = o->cap_owned ? 2 * o->cap_owned : 64;
        void **p = fy__realloc(o->owned, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        o->owned = p;
        o->cap_owned = cap;
    }
    void *m = fy__calloc(1, n ? n : 1);
    if (m)
        o->owned[o->n_owned++] = m;
    return m;
}

static int own_tensor(fy__opt *o, fy_tensor *t)
{
    if (o->n_tensors == o->cap_tensors) {
        int cap = o->cap_tensors ? 2 * o->cap_tensors : 32;
        fy_tensor **p = fy__realloc(o->tensors, (size_t)cap * sizeof *p);
        if (!p)
            return FY_ENOMEM;
        o->tensors = p;
        o->cap_tensors = cap;
    }
    o->tensors[o->n_tensors++] = t;
    return FY_OK;
}

void fy__opt_free(fy__opt *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_tensors; i++) {
        fy_tensor_deinit(o->tensors[i]);
        fy__free(o->tensors[i]);
    }
    for (int i = 0; i < o->n_owned; i++)
        fy__free(o->owned[i]);
    fy__free(o->tensors);
    fy__free(o->owned);
    fy__free(o->g.values);
    fy__free(o->g.nodes);
    fy__free(o->uses);
    fy__free(o->reader);
    fy__free(o->prod);
    fy__free(o->implicit);
    fy__free(o->dead);
    fy__free(o);
}

const fy__graph *fy__opt_graph(const fy__opt *o)
{
    return &o->g;
}

/* ---- bookkeeping ---- */

static int grow_values(fy__opt *o, int need)
{
    if (need <= o->cap_values)
        return FY_OK;
    int cap = need + need / 2 + 16;
    fy__value *v = fy__realloc(o->g.values, (size_t)cap * sizeof *v);
    int *u = v ? fy__realloc(o->uses, (size_t)cap * sizeof *u) : NULL;
    if (v)
        o->g.values = v;
    if (u)
        o->uses = u;
    int *r = u ? fy__realloc(o->reader, (size_t)cap * sizeof *r) : NULL;
    if (r)
        o->reader = r;
    int *p = r ? fy__realloc(o->prod, (size_t)cap * sizeof *p) : NULL;
    if (p)
        o->prod = p;
    char *im = p ? fy__realloc(o->implicit, (size_t)cap) : NULL;
    if (im)
        o->implicit = im;
    if (!im)
        return FY_ENOMEM;
    o->cap_values = cap;
    return FY_OK;
}

/* Recount readers and producers of every value over the live nodes. */
static void recount(fy__opt *o)
{
    fy__graph *g = &o->g;
    for (int i = 0; i < g->n_values; i++) {
        o->uses[i] = 0;
        o->reader[i] = -1;
        o->prod[i] = -1;
        o->implicit[i] = 0;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        if (o->dead[i])
            continue;
        const fy__node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) {
                o->uses[n->inputs[k]]++;
                o->reader[n->inputs[k]] = i;
            }
        for (int k = 0; k < n->n_implicit; k++) {
            o->uses[n->implicit[k]]++;
            o->implicit[n->implicit[k]] = 1;
        }
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0)
                o->prod[n->outputs[k]] = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        o->uses[g->outputs[i]]++;
}

/* A new constant value owning t (moved in); its id, or a negative error. */
static int add_const(fy__opt *o, fy_tensor *t, const char *what)
{
    int rc = grow_values(o, o->g.n_values + 1);
    fy_tensor *h = rc == FY_OK ? fy__malloc(sizeof *h) : NULL;
    char *name = h ? own(o, 48) : NULL;
    if (!name || own_tensor(o, h) != FY_OK) {
        fy__free(h); /* not registered: ours to free */
        fy_tensor_deinit(t);
        return FY_ENOMEM;
    }
    *h = *t;
    memset(t, 0, sizeof *t);
    snprintf(name, 48, "ferry::%s::%d", what, o->n_new++);
    int id = o->g.n_values++;
    fy__value *v = &o->g.values[id];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->info.dtype = h->dtype;
    v->info.rank = h->rank;
    memcpy(v->info.dims, h->dims, sizeof v->info.dims);
    v->init = h;
    v->producer = -1;
    o->uses[id] = 0;
    o->reader[id] = -1;
    o->prod[id] = -1;
    o->implicit[id] = 0;
    return id;
}

static const fy_tensor *cval(const fy__opt *o, int vid)
{
    return vid >= 0 ? o->g.values[vid].init : NULL;
}

static int is_op(const fy__node *n, const char *op)
{
    return strcmp(n->op_type, op) == 0 && (!*n->domain || strcmp(n->domain, "ai.onnx") == 0);
}

/* The node reading vid if it is vid's only reader (not a graph output, not read by
 * a subgraph, not read twice by one node); else -1. */
static int sole_reader(const fy__opt *o, int vid)
{
    if (vid < 0 || o->uses[vid] != 1 || o->implicit[vid])
        return -1;
    int r = o->reader[vid];
    return r >= 0 && !o->dead[r] ? r : -1;
}

/* Live producer of vid, or -1. */
static const fy__node *producer(const fy__opt *o, int vid, int *idx)
{
    int p = vid >= 0 ? o->prod[vid] : -1;
    if (p < 0 || o->dead[p])
        return NULL;
    if (idx)
        *idx = p;
    return &o->g.nodes[p];
}

/* The input of binary node n that is not vid (n's other operand); -2 if n does not
 * read vid as one of its two inputs. */
static int other_input(const fy__node *n, int vid)
{
    if (n->n_inputs != 2)
        return -2;
    if (n->inputs[0] == vid && n->inputs[1] != vid)
        return n->inputs[1];
    if (n->inputs[1] == vid && n->inputs[0] != vid)
        return n->inputs[0];
    return -2;
}

/* A constant float32 scalar (any rank, one element) near want (relative 1e-4). */
static int is_scalar(const fy__opt *o, int vid, double want)
{
    const fy_tensor *t = cval(o, vid);
    if (!t || t->dtype != FY_DTYPE_F32 || fy_tensor_numel(t) != 1)
        return 0;
    double v = ((const float *)t->data)[0];
    return fabs(v - want) <= 1e-4 * fabs(want) + 1e-12;
}

static int *own_ints(fy__opt *o, int n, const int *src)
{
    int *p = own(o, (size_t)(n ? n : 1) * sizeof *p);
    if (p && src)
        memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

/* Make node i a new node: op (domain d), inputs ins[0..n_in), one output, the
 * attributes of `attrs_from` (borrowed) plus room for `extra` more. Returns it or
 * NULL when out of memory. */
static fy__node *rewrite(fy__opt *o, int i, const char *domain, const char *op, int n_in,
                         const int *ins, int out, const fy__node *attrs_from, int extra)
{
    fy__node *n = &o->g.nodes[i];
    int n_attrs = attrs_from ? attrs_from->n_attrs : 0;
    int *pin = own_ints(o, n_in, ins);
    int *pout = own_ints(o, 1, &out);
    fy__attr *pa = own(o, (size_t)(n_attrs + extra) * sizeof *pa);
    if (!pin || !pout || !pa)
        return NULL;
    if (n_attrs)
        memcpy(pa, attrs_from->attrs, (size_t)n_attrs * sizeof *pa);
    const char *name = n->name;
    int opset = n->opset;
    memset(n, 0, sizeof *n);
    n->name = (char *)name;
    n->op_type = (char *)op;
    n->domain = (char *)domain;
    n->opset = opset;
    n->n_inputs = n_in;
    n->inputs = pin;
    n->n_outputs = 1;
    n->outputs = pout;
    n->attrs = pa;
    n->n_attrs = n_attrs;
    n->def = fy__op_find(domain, op);
    return n->def ? n : NULL;
}

/* After rewriting node i: its inputs are now read by i, its output made by i. */
static void rewired(fy__opt *o, int i)
{
    const fy__node *n = &o->g.nodes[i];
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0)
            o->reader[n->inputs[k]] = i;
    o->prod[n->outputs[0]] = i;
}

static void set_attr_f(fy__node *n, const char *name, float v)
{
    fy__attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = FY_ATTR_FLOAT;
    a->f = v;
}

static void set_attr_i(fy__node *n, const char *name, int64_t v)
{
    fy__attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = FY_ATTR_INT;
    a->i = v;
}

static void set_attr_s(fy__node *n, const char *name, const char *v)
{
    fy__attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = FY_ATTR_STRING;
    a->s = (char *)v;
}

static void kill(fy__opt *o, int i)
{
    o->dead[i] = 1;
}

/* ---- constant folding and Identity removal ---- */

static int nondeterministic(const fy__node *n)
{
    static const char *const ops[] = {"RandomNormal",
                                      "RandomUniform",
                                      "RandomNormalLike",
                                      "RandomUniformLike",
                                      "Multinomial",
                                      "Bernoulli",
                                      NULL};
    for (int k = 0; ops[k]; k++)
        if (strcmp(n->op_type, ops[k]) == 0)
            return 1;
    return 0;
}

static int has_subgraph(const fy__node *n)
{
    for (int k = 0; k < n->n_attrs; k++)
        if (n->attrs[k].g || n->attrs[k].graphs)
            return 1;
    return n->n_implicit > 0;
}

static int fold_node(fy__opt *o, int i, fy__opt_stats *st)
{
    fy__node *n = &o->g.nodes[i];
    const fy_tensor *ins[16];
    fy_tensor outs[8];
    if (n->n_inputs > 16 || n->n_outputs > 8 || n->n_outputs < 1 || has_subgraph(n) ||
        nondeterministic(n) || strcmp(n->domain, FY_FUSED_DOMAIN) == 0)
        return FY_OK;
    for (int k = 0; k < n->n_inputs; k++) {
        ins[k] = n->inputs[k] >= 0 ? cval(o, n->inputs[k]) : NULL;
        if (n->inputs[k] >= 0 && !ins[k])
            return FY_OK;
    }
    memset(outs, 0, sizeof outs);
    fy_diag d = {{0}};
    fy__op_ctx c = {.node = n,
                    .opset = n->opset,
                    .n_in = n->n_inputs,
                    .in = ins,
                    .n_out = n->n_outputs,
                    .out = outs,
                    .diag = &d};
    int rc = n->def->run(&c);
    size_t bytes = 0;
    for (int k = 0; rc == FY_OK && k < n->n_outputs; k++) {
        if (n->outputs[k] >= 0 && o->uses[n->outputs[k]] > 0 && !outs[k].data)
            rc = FY_EINVAL;
        bytes += outs[k].data ? fy_tensor_nbytes(&outs[k]) : 0;
    }
    if (rc != FY_OK || bytes > FOLD_MAX_BYTES) {
        /* Left to run time, which reports the failure where it happens. */
        for (int k = 0; k < n->n_outputs; k++)
            fy_tensor_deinit(&outs[k]);
        return rc == FY_ENOMEM ? rc : FY_OK;
    }
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v < 0 || !outs[k].data) {
            fy_tensor_deinit(&outs[k]);
            continue;
        }
        fy_tensor *h = fy__malloc(sizeof *h);
        if (!h || own_tensor(o, h) != FY_OK) {
            fy__free(h);
            for (int j = k; j < n->n_outputs; j++)
                fy_tensor_deinit(&outs[j]);
            return FY_ENOMEM;
        }
        *h = outs[k];
        o->g.values[v].init = h;
        o->g.values[v].producer = -1;
        o->prod[v] = -1;
    }
    kill(o, i);
    st->folded++;
    return FY_OK;
}

/* Readers of Identity's output read its input instead. Not when the output is a
 * graph output or read by a subgraph (both look it up by name). */
static int bypass_identity(fy__opt *o, int i, fy__opt_stats *st)
{
    fy__node *n = &o->g.nodes[i];
    if (n->n_inputs != 1 || n->n_outputs != 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
        return FY_OK;
    int x = n->inputs[0], y = n->outputs[0];
    if (o->implicit[y])
        return FY_OK;
    for (int k = 0; k < o->g.n_outputs; k++)
        if (o->g.outputs[k] == y)
            return FY_OK;
    for (int j = i + 1; j < o->g.n_nodes; j++) {
        fy__node *r = &o->g.nodes[j];
        int hit = 0;
        for (int k = 0; k < r->n_inputs; k++)
            hit |= r->inputs[k] == y;
        if (o->dead[j] || !hit)
            continue;
        int *in = own_ints(o, r->n_inputs, r->inputs);
        if (!in)
            return FY_ENOMEM;
        for (int k = 0; k < r->n_inputs; k++)
            if (in[k] == y)
                in[k] = x;
        r->inputs = in;
    }
    kill(o, i);
    st->identity++;
    return FY_OK;
}

static int pass_fold(fy__opt *o, fy__opt_stats *st)
{
    int rc = FY_OK;
    recount(o);
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++) {
        if (o->dead[i])
            continue;
        const fy__node *n = &o->g.nodes[i];
        if (is_op(n, "Identity") && n->n_inputs == 1 && n->n_outputs == 1 && n->outputs[0] >= 0 &&
            cval(o, n->inputs[0])) {
            /* A constant under another name: share it rather than copy it. */
            o->g.values[n->outputs[0]].init = o->g.values[n->inputs[0]].init;
            o->g.values[n->outputs[0]].producer = -1;
            kill(o, i);
            st->folded++;
        } else if (is_op(n, "Identity")) {
            rc = bypass_identity(o, i, st);
        } else
            rc = fold_node(o, i, st);
    }
    return rc;
}

/* ---- Conv + BatchNormalization ---- */

static int fold_conv_bn(fy__opt *o, int bi, fy__opt_stats *st)
{
    fy__node *bn = &o->g.nodes[bi];
    if (bn->n_inputs != 5 || fy__attr_int(bn, "training_mode", 0) != 0)
        return FY_OK;
    for (int k = 1; k < bn->n_outputs; k++)
        if (bn->outputs[k] >= 0 && o->uses[bn->outputs[k]] > 0)
            return FY_OK;
    int ci;
    const fy__node *conv = producer(o, bn->inputs[0], &ci);
    if (!conv || !is_op(conv, "Conv") || sole_reader(o, bn->inputs[0]) != bi ||
        conv->n_inputs < 2 || conv->n_outputs != 1)
        return FY_OK;
    const fy_tensor *w = cval(o, conv->inputs[1]);
    const fy_tensor *b = conv->n_inputs > 2 ? cval(o, conv->inputs[2]) : NULL;
    if (!w || w->dtype != FY_DTYPE_F32 || w->rank < 3 ||
        (conv->n_inputs > 2 && conv->inputs[2] >= 0 && !b))
        return FY_OK;
    int64_t C = w->dims[0];
    const fy_tensor *p[4];
    for (int k = 0; k < 4; k++) {
        p[k] = cval(o, bn->inputs[k + 1]);
        if (!p[k] || p[k]->dtype != FY_DTYPE_F32 || fy_tensor_numel(p[k]) != C)
            return FY_OK;
    }
    if (b && (b->dtype != FY_DTYPE_F32 || fy_tensor_numel(b) != C))
        return FY_OK;
    double eps = fy__attr_float(bn, "epsilon", 1e-5f);
    fy_tensor nw = {0}, nb = {0};
    int64_t dc = C;
    if (fy_tensor_copy(&nw, w, NULL) != FY_OK || fy_tensor_alloc(&nb, FY_DTYPE_F32, 1, &dc, NULL))
        goto oom;
    const float *sc = p[0]->data, *bi_ = p[1]->data, *mean = p[2]->data, *var = p[3]->data;
    int64_t per = fy_tensor_numel(w) / (C ? C : 1);
    for (int64_t c = 0; c < C; c++) {
        /* The same arithmetic as the BatchNormalization kernel would do, moved to load. */
        double s = sc[c] / sqrt((double)var[c] + eps);
        float *wc = (float *)nw.data + c * per;
        for (int64_t j = 0; j < per; j++)
            wc[j] = (float)(wc[j] * s);
        double b0 = b ? ((const float *)b->data)[c] : 0.0;
        ((float *)nb.data)[c] = (float)((b0 - mean[c]) * s + bi_[c]);
    }
    int wid = add_const(o, &nw, "conv_bn_w");
    int bid = wid >= 0 ? add_const(o, &nb, "conv_bn_b") : (fy_tensor_deinit(&nb), -1);
    if (wid < 0 || bid < 0)
        return FY_ENOMEM;
    conv = &o->g.nodes[ci]; /* values array may have moved; nodes did not */
    int ins[3] = {conv->inputs[0], wid, bid};
    int y = bn->outputs[0];
    /* Keep the Conv's place and attributes; it now writes BatchNormalization's output. */
    fy__node keep = *conv;
    if (!rewrite(o, ci, "", "Conv", 3, ins, y, &keep, 0))
        return FY_ENOMEM;
    rewired(o, ci);
    kill(o, bi);
    st->conv_bn++;
    return FY_OK;
oom:
    fy_tensor_deinit(&nw);
    fy_tensor_deinit(&nb);
    return FY_ENOMEM;
}

static int pass_conv_bn(fy__opt *o, fy__opt_stats *st)
{
    int rc = FY_OK;
    recount(o);
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++)
        if (!o->dead[i] && is_op(&o->g.nodes[i], "BatchNormalization"))
            rc = fold_conv_bn(o, i, st);
    return rc;
}

/* ---- LayerNorm, GELU, attention ---- */

/* ReduceMean over the last axis only, keeping dims (opset < 18: axes attribute). */
static int reduce_last(const fy__node *n)
{
    const int64_t *axes;
    if (!is_op(n, "ReduceMean") || n->n_inputs != 1 || fy__attr_int(n, "keepdims", 1) != 1)
        return 0;
    return fy__attr_ints(n, "axes", &axes) == 1 && axes[0] == -1;
}

/* The single reader of vid if it is op `op`; its index in *idx. */
static const fy__node *next(const fy__opt *o, int vid, const char *op, int *idx)
{
    int r = sole_reader(o, vid);
    if (r < 0 || !is_op(&o->g.nodes[r], op))
        return NULL;
    *idx = r;
    return &o->g.nodes[r];
}

static int out0(const fy__node *n)
{
    return n->n_outputs >= 1 ? n->outputs[0] : -1;
}

/* x -> ReduceMean -> Sub(x, mean) -> Pow(.,2) | Mul(d,d) -> ReduceMean -> Add(eps) ->
 * Sqrt -> Div(d, .) -> Mul(gamma) -> Add(beta)  ==>  LayerNormalization(x, gamma, beta). */
static int match_layernorm(fy__opt *o, int i0, fy__opt_stats *st)
{
    const fy__node *rm = &o->g.nodes[i0], *n;
    int x = rm->inputs[0], i, i_sub;
    if (!reduce_last(rm))
        return FY_OK;
    const fy__node *sub = next(o, out0(rm), "Sub", &i_sub);
    if (!sub || sub->inputs[0] != x || sub->inputs[1] != out0(rm))
        return FY_OK;
    int dv = out0(sub);
    /* d is read by the square and by the Div: exactly two readers. */
    if (dv < 0 || o->uses[dv] != 2 || o->implicit[dv])
        return FY_OK;
    int i_sq = -1, i_dv = -1;
    for (int j = i_sub + 1; j < o->g.n_nodes; j++) {
        const fy__node *r = &o->g.nodes[j];
        if (o->dead[j])
            continue;
        for (int k = 0; k < r->n_inputs; k++)
            if (r->inputs[k] == dv) {
                if ((is_op(r, "Pow") && k == 0 && is_scalar(o, r->inputs[1], 2.0)) ||
                    (is_op(r, "Mul") && r->inputs[0] == dv && r->inputs[1] == dv))
                    i_sq = j;
                else if (is_op(r, "Div") && k == 0 && r->inputs[1] != dv)
                    i_dv = j;
            }
    }
    if (i_sq < 0 || i_dv < 0)
        return FY_OK;
    int i_rm2, i_add, i_sqrt, i_mul, i_beta;
    const fy__node *rm2 = next(o, out0(&o->g.nodes[i_sq]), "ReduceMean", &i_rm2);
    if (!rm2 || !reduce_last(rm2))
        return FY_OK;
    const fy__node *add = next(o, out0(rm2), "Add", &i_add);
    int epsv = add ? other_input(add, out0(rm2)) : -2;
    const fy_tensor *eps = epsv >= 0 ? cval(o, epsv) : NULL;
    if (!eps || eps->dtype != FY_DTYPE_F32 || fy_tensor_numel(eps) != 1)
        return FY_OK;
    const fy__node *sq = next(o, out0(add), "Sqrt", &i_sqrt);
    if (!sq || sole_reader(o, out0(sq)) != i_dv || o->g.nodes[i_dv].inputs[1] != out0(sq))
        return FY_OK;
    const fy__node *div = &o->g.nodes[i_dv];
    const fy__node *mul = next(o, out0(div), "Mul", &i_mul);
    int gv = mul ? other_input(mul, out0(div)) : -2;
    const fy_tensor *gamma = gv >= 0 ? cval(o, gv) : NULL;
    if (!gamma || gamma->rank != 1 || gamma->dtype != FY_DTYPE_F32)
        return FY_OK;
    const fy__node *ab = next(o, out0(mul), "Add", &i_beta);
    int bv = ab ? other_input(ab, out0(mul)) : -2;
    const fy_tensor *beta = bv >= 0 ? cval(o, bv) : NULL;
    if (!beta || beta->rank != 1 || beta->dtype != FY_DTYPE_F32 || beta->dims[0] != gamma->dims[0])
        return FY_OK;
    int ins[3] = {x, gv, bv}, y = out0(ab);
    float e = ((const float *)eps->data)[0];
    int chain[] = {i0, i_sub, i_sq, i_rm2, i_add, i_sqrt, i_dv, i_mul};
    if (!(n = rewrite(o, i_beta, "", "LayerNormalization", 3, ins, y, NULL, 2)))
        return FY_ENOMEM;
    o->g.nodes[i_beta].opset = 17; /* the op exists from opset 17 */
    set_attr_i(&o->g.nodes[i_beta], "axis", -1);
    set_attr_f(&o->g.nodes[i_beta], "epsilon", e);
    for (i = 0; i < (int)(sizeof chain / sizeof chain[0]); i++)
        kill(o, chain[i]);
    rewired(o, i_beta);
    st->layernorm++;
    return FY_OK;
}

/* After the 1 + erf(...) or 1 + tanh(...) value `one`: x * one * 0.5 in either
 * association (Mul(Mul(x, one), 0.5) or Mul(Mul(x, 0.5), one)). Returns the final
 * node's index with the nodes to remove in kill_[]; -1 if no match. */
static int gelu_tail(const fy__opt *o, int x, int one, int *kill_, int *n_kill)
{
    int i_m1, i_m2;
    const fy__node *m1 = next(o, one, "Mul", &i_m1);
    if (!m1)
        return -1;
    int other = other_input(m1, one);
    if (other == x) { /* (x * one) * 0.5 */
        const fy__node *m2 = next(o, out0(m1), "Mul", &i_m2);
        if (!m2 || !is_scalar(o, other_input(m2, out0(m1)), 0.5))
            return -1;
        kill_[(*n_kill)++] = i_m1;
        return i_m2;
    }
    int ih; /* (x * 0.5) * one, the half computed by its own Mul */
    const fy__node *h = producer(o, other, &ih);
    if (!h || !is_op(h, "Mul") || sole_reader(o, other) != i_m1 || other_input(h, x) < 0 ||
        !is_scalar(o, other_input(h, x), 0.5))
        return -1;
    kill_[(*n_kill)++] = ih;
    return i_m1;
}

static int match_gelu(fy__opt *o, int ie, fy__opt_stats *st)
{
    const fy__node *e = &o->g.nodes[ie];
    int kill_[12], nk = 0, x = -1, tanh_form = is_op(e, "Tanh");
    int ip, i_add;
    const fy__node *pre = producer(o, e->inputs[0], &ip);
    if (!pre || sole_reader(o, e->inputs[0]) != ie)
        return FY_OK;
    if (!tanh_form) { /* Erf(x / sqrt2) or Erf(x * (1/sqrt2)) */
        if (is_op(pre, "Div") && is_scalar(o, pre->inputs[1], 1.4142135623730951))
            x = pre->inputs[0];
        else if (is_op(pre, "Mul") && pre->n_inputs == 2) {
            for (int k = 0; k < 2 && x < 0; k++)
                if (is_scalar(o, pre->inputs[1 - k], 0.7071067811865476))
                    x = pre->inputs[k];
        }
        if (x < 0)
            return FY_OK;
        kill_[nk++] = ip;
    } else { /* Tanh(c1 * (x + c2 * x^3)) */
        int iw, iq, ic;
        if (!is_op(pre, "Mul"))
            return FY_OK;
        int w = pre->inputs[1];
        if (!is_scalar(o, pre->inputs[0], 0.7978845608028654)) {
            w = pre->inputs[0];
            if (!is_scalar(o, pre->inputs[1], 0.7978845608028654))
                return FY_OK;
        }
        const fy__node *add = producer(o, w, &iw);
        if (!add || !is_op(add, "Add") || sole_reader(o, w) != ip || add->n_inputs != 2)
            return FY_OK;
        for (int k = 0; k < 2 && x < 0; k++) {
            int q = add->inputs[1 - k];
            const fy__node *mq = producer(o, q, &iq);
            if (!mq || !is_op(mq, "Mul") || sole_reader(o, q) != iw || mq->n_inputs != 2)
                continue;
            for (int j = 0; j < 2 && x < 0; j++) {
                int cube = mq->inputs[1 - j];
                const fy__node *pc = producer(o, cube, &ic);
                if (!is_scalar(o, mq->inputs[j], 0.044715) || !pc || !is_op(pc, "Pow") ||
                    sole_reader(o, cube) != iq || pc->inputs[0] != add->inputs[k] ||
                    !is_scalar(o, pc->inputs[1], 3.0))
                    continue;
                x = add->inputs[k];
                kill_[nk++] = ic;
                kill_[nk++] = iq;
                kill_[nk++] = iw;
                kill_[nk++] = ip;
            }
        }
        if (x < 0)
            return FY_OK;
    }
    const fy__node *a1 = next(o, out0(e), "Add", &i_add);
    if (!a1 || !is_scalar(o, other_input(a1, out0(e)), 1.0))
        return FY_OK;
    kill_[nk++] = ie;
    kill_[nk++] = i_add;
    int last = gelu_tail(o, x, out0(a1), kill_, &nk);
    if (last < 0)
        return FY_OK;
    int y = out0(&o->g.nodes[last]);
    if (!rewrite(o, last, "", "Gelu", 1, &x, y, NULL, 1))
        return FY_ENOMEM;
    if (tanh_form)
        set_attr_s(&o->g.nodes[last], "approximate", "tanh");
    for (int k = 0; k < nk; k++)
        kill(o, kill_[k]);
    rewired(o, last);
    st->gelu++;
    return FY_OK;
}

/* A one-input Transpose with perm [0, 2, 1, 3] (heads and sequence swapped). */
static int swaps12(const fy__node *n)
{
    const int64_t *perm;
    return is_op(n, "Transpose") && n->n_inputs == 1 && n->inputs[0] >= 0 && n->n_outputs == 1 &&
           fy__attr_ints(n, "perm", &perm) == 4 && perm[0] == 0 && perm[1] == 2 && perm[2] == 1 &&
           perm[3] == 3;
}

/* MatMul(Q, Kt) -> [Div|Mul by a scalar constant] -> Softmax(axis -1) -> MatMul(., V). */
static int match_attention(fy__opt *o, int is, fy__opt_stats *st)
{
    const fy__node *sm = &o->g.nodes[is];
    if (sm->n_inputs != 1 || fy__attr_int(sm, "axis", -1) != -1)
        return FY_OK;
    int ip, iq, i_out;
    int s = sm->inputs[0], scale_v = -1, div = 0, kill_[6], nk = 0;
    const fy__node *p = producer(o, s, &ip);
    if (!p || sole_reader(o, s) != is)
        return FY_OK;
    if ((is_op(p, "Div") || is_op(p, "Mul")) && p->n_inputs == 2) {
        const fy_tensor *c = cval(o, p->inputs[1]);
        if (!c || c->dtype != FY_DTYPE_F32 || fy_tensor_numel(c) != 1 || c->rank > 0)
            return FY_OK;
        scale_v = p->inputs[1];
        div = is_op(p, "Div");
        kill_[nk++] = ip;
        s = p->inputs[0];
        if (!(p = producer(o, s, &iq)) || sole_reader(o, s) != ip)
            return FY_OK;
        ip = iq;
    }
    if (!is_op(p, "MatMul") || p->n_inputs != 2)
        return FY_OK;
    kill_[nk++] = ip;
    const fy__node *mo = next(o, out0(sm), "MatMul", &i_out);
    if (!mo || mo->inputs[0] != out0(sm))
        return FY_OK;
    kill_[nk++] = is;
    int ins[3] = {p->inputs[0], p->inputs[1], mo->inputs[1]}, y = out0(mo);
    float scale = scale_v >= 0 ? ((const float *)cval(o, scale_v)->data)[0] : 0;
    /* Q, V and Y each through a Transpose [0, 2, 1, 3] read only here: the kernel
     * reads and writes [B, S, H, D] in place instead ("layout" 1, fused.h). */
    int itq = -1, itv = -1, ity = -1, at = i_out, layout = 0;
    const fy__node *tq = producer(o, ins[0], &itq), *tv = producer(o, ins[2], &itv);
    const fy__node *ty = next(o, y, "Transpose", &ity);
    if (tq && tv && ty && swaps12(tq) && swaps12(tv) && swaps12(ty) && itq != itv &&
        sole_reader(o, ins[0]) == ip && sole_reader(o, ins[2]) == i_out) {
        ins[0] = tq->inputs[0];
        ins[2] = tv->inputs[0];
        y = out0(ty);
        kill_[nk++] = itq;
        kill_[nk++] = itv;
        kill_[nk++] = i_out;
        at = ity;
        layout = 1;
    }
    if (!rewrite(o, at, FY_FUSED_DOMAIN, "Attention", 3, ins, y, NULL, 3))
        return FY_ENOMEM;
    if (scale_v >= 0) {
        set_attr_f(&o->g.nodes[at], "scale", scale);
        set_attr_i(&o->g.nodes[at], "scale_div", div);
    }
    if (layout)
        set_attr_i(&o->g.nodes[at], "layout", 1);
    for (int k = 0; k < nk; k++)
        kill(o, kill_[k]);
    rewired(o, at);
    st->attention++;
    return FY_OK;
}

static int pass_patterns(fy__opt *o, fy__opt_stats *st)
{
    int rc = FY_OK;
    recount(o);
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++) {
        if (o->dead[i])
            continue;
        const fy__node *n = &o->g.nodes[i];
        if (is_op(n, "ReduceMean"))
            rc = match_layernorm(o, i, st);
        else if (is_op(n, "Erf") || is_op(n, "Tanh"))
            rc = match_gelu(o, i, st);
    }
    /* Attention after GELU/LayerNorm (the tables are kept current by rewired()). */
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++)
        if (!o->dead[i] && is_op(&o->g.nodes[i], "Softmax"))
            rc = match_attention(o, i, st);
    return rc;
}

/* ---- Conv / Gemm / MatMul + bias + residual + activation ---- */

/* If vid's only reader is an activation we fuse, name it and its parameters. */
static const char *activation_of(const fy__opt *o, int vid, int *idx, float *alpha, float *beta)
{
    int r = sole_reader(o, vid);
    if (r < 0)
        return NULL;
    const fy__node *n = &o->g.nodes[r];
    *alpha = 0, *beta = 0;
    *idx = r;
    if (*n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return NULL;
    if (n->n_inputs >= 1 && n->inputs[0] != vid)
        return NULL;
    if (is_op(n, "Relu") || is_op(n, "Sigmoid") || is_op(n, "Tanh"))
        return n->op_type;
    if (is_op(n, "LeakyRelu")) {
        *alpha = fy__attr_float(n, "alpha", 0.01f);
        return "LeakyRelu";
    }
    if (is_op(n, "Gelu"))
        return strcmp(fy__attr_str(n, "approximate", "none"), "tanh") == 0 ? "GeluTanh" : "Gelu";
    if (is_op(n, "Clip")) {
        *alpha = -INFINITY, *beta = INFINITY;
        if (n->opset < 11) {
            *alpha = fy__attr_float(n, "min", -INFINITY);
            *beta = fy__attr_float(n, "max", INFINITY);
            return "Clip";
        }
        for (int k = 1; k < n->n_inputs; k++) {
            if (n->inputs[k] < 0)
                continue;
            const fy_tensor *t = cval(o, n->inputs[k]);
            if (!t || t->dtype != FY_DTYPE_F32 || fy_tensor_numel(t) != 1)
                return NULL;
            *(k == 1 ? alpha : beta) = ((const float *)t->data)[0];
        }
        return "Clip";
    }
    return NULL;
}

/* An Add reading vid as its only reader, with the other operand; -1 if none. */
static int add_after(const fy__opt *o, int vid, int *other)
{
    int r = sole_reader(o, vid);
    if (r < 0 || !is_op(&o->g.nodes[r], "Add"))
        return -1;
    *other = other_input(&o->g.nodes[r], vid);
    return *other >= 0 ? r : -1;
}

static int fuse_node(fy__opt *o, int i, fy__opt_stats *st)
{
    const fy__node *n = &o->g.nodes[i];
    int conv = is_op(n, "Conv"), gemm = is_op(n, "Gemm"), mm = is_op(n, "MatMul");
    if (n->n_outputs != 1 || n->n_inputs < 2)
        return FY_OK;
    const fy_tensor *w = cval(o, n->inputs[1]);
    /* Only constant float32 weights: the fast kernels pre-pack them, and the input's
     * dtype then is float32 too. */
    if (!w || w->dtype != FY_DTYPE_F32)
        return FY_OK;
    int ins[4] = {n->inputs[0], n->inputs[1], -1, -1}, n_in = 2, last = i, y = out0(n);
    int kill_[3], nk = 0, other, r;
    if (conv) {
        if (w->rank < 3)
            return FY_OK;
        ins[2] = n->n_inputs > 2 ? n->inputs[2] : -1;
        if (ins[2] < 0 && (r = add_after(o, y, &other)) >= 0) {
            /* bias as Add(conv, B) with B constant [C,1,..] or [1,C,1,..] */
            const fy_tensor *b = cval(o, other);
            int ok = b && b->dtype == FY_DTYPE_F32 && fy_tensor_numel(b) == w->dims[0] &&
                     (b->rank == w->rank - 1 || b->rank == w->rank);
            for (int k = 0; ok && k < b->rank; k++)
                ok = b->dims[k] == (k == b->rank - (w->rank - 1) ? w->dims[0] : 1);
            if (ok) {
                fy_tensor flat = {0};
                int64_t dc = w->dims[0];
                if (fy_tensor_alloc(&flat, FY_DTYPE_F32, 1, &dc, NULL) != FY_OK)
                    return FY_ENOMEM;
                memcpy(flat.data, b->data, (size_t)dc * sizeof(float));
                if ((ins[2] = add_const(o, &flat, "conv_bias")) < 0)
                    return FY_ENOMEM;
                n = &o->g.nodes[i];
                kill_[nk++] = last;
                last = r, y = out0(&o->g.nodes[r]);
            }
        }
        n_in = 3;
    } else if (gemm) {
        ins[2] = n->n_inputs > 2 ? n->inputs[2] : -1;
        n_in = n->n_inputs > 2 ? 3 : 2;
    } else if (mm) {
        if (w->rank != 2)
            return FY_OK;
        if ((r = add_after(o, y, &other)) >= 0) {
            const fy_tensor *b = cval(o, other);
            if (b && b->dtype == FY_DTYPE_F32 && b->rank == 1 && b->dims[0] == w->dims[1]) {
                ins[2] = other;
                kill_[nk++] = last;
                last = r, y = out0(&o->g.nodes[r]);
            }
        }
        n_in = 3;
    } else {
        return FY_OK;
    }
    /* residual: Add(y, Z) with Z computed at run time (Conv and MatMul) */
    if (!gemm && (r = add_after(o, y, &other)) >= 0 && !cval(o, other)) {
        ins[3] = other;
        n_in = 4;
        kill_[nk++] = last;
        last = r, y = out0(&o->g.nodes[r]);
    }
    float alpha, beta;
    int ia;
    const char *act = activation_of(o, y, &ia, &alpha, &beta);
    if (act) {
        kill_[nk++] = last;
        last = ia, y = out0(&o->g.nodes[ia]);
    }
    /* A lone Conv stays itself. A lone Gemm/MatMul with constant weights becomes the
     * fused op all the same: its fast path has the batch-1 matrix-vector product. */
    if (!nk && conv)
        return FY_OK;
    fy__node src = o->g.nodes[i];
    const char *op = conv ? "FusedConv" : gemm ? "FusedGemm" : "FusedMatMul";
    if (!rewrite(o, last, FY_FUSED_DOMAIN, op, n_in, ins, y, &src, 3))
        return FY_ENOMEM;
    fy__node *f = &o->g.nodes[last];
    if (act) {
        set_attr_s(f, "activation", act);
        set_attr_f(f, "activation_alpha", alpha);
        set_attr_f(f, "activation_beta", beta);
    }
    for (int k = 0; k < nk; k++)
        kill(o, kill_[k]);
    /* The fused node sits where the chain ended: every input exists by then. */
    rewired(o, last);
    st->fused += nk > 0;
    return FY_OK;
}

static int pass_fuse(fy__opt *o, fy__opt_stats *st)
{
    int rc = FY_OK;
    recount(o);
    for (int i = 0; rc == FY_OK && i < o->g.n_nodes; i++) {
        if (o->dead[i])
            continue;
        const fy__node *n = &o->g.nodes[i];
        if (is_op(n, "Conv") || is_op(n, "Gemm") || is_op(n, "MatMul"))
            rc = fuse_node(o, i, st);
    }
    return rc;
}

/* ---- dead nodes and compaction ---- */

static void pass_dead(fy__opt *o, fy__opt_stats *st)
{
    recount(o);
    for (int i = o->g.n_nodes - 1; i >= 0; i--) {
        if (o->dead[i])
            continue;
        const fy__node *n = &o->g.nodes[i];
        int live = 0;
        for (int k = 0; k < n->n_outputs; k++)
            live |= n->outputs[k] >= 0 && o->uses[n->outputs[k]] > 0;
        if (live)
            continue;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0)
                o->uses[n->inputs[k]]--;
        for (int k = 0; k < n->n_implicit; k++)
            o->uses[n->implicit[k]]--;
        kill(o, i);
        st->dead++;
    }
}

static void compact(fy__opt *o)
{
    int w = 0;
    for (int i = 0; i < o->g.n_nodes; i++)
        if (!o->dead[i])
            o->g.nodes[w++] = o->g.nodes[i];
    o->g.n_nodes = w;
    memset(o->dead, 0, (size_t)w);
    recount(o);
    for (int v = 0; v < o->g.n_values; v++)
        if (!o->g.values[v].init)
            o->g.values[v].producer = o->prod[v];
}

int fy__optimize(fy__opt **out, const fy__graph *src, unsigned passes, fy__opt_stats *stats,
                 fy_diag *d)
{
    fy__opt_stats st;
    memset(&st, 0, sizeof st);
    fy__opt *o = fy__calloc(1, sizeof *o);
    int rc = FY_ENOMEM;
    if (!o)
        goto done;
    o->src = src;
    o->g = *src; /* names, inputs, outputs, hash: borrowed */
    o->g.values = NULL;
    o->g.nodes = NULL;
    if (grow_values(o, src->n_values + 8) != FY_OK)
        goto done;
    memcpy(o->g.values, src->values, (size_t)src->n_values * sizeof *src->values);
    o->g.nodes = fy__malloc((size_t)(src->n_nodes ? src->n_nodes : 1) * sizeof *o->g.nodes);
    o->dead = fy__calloc((size_t)src->n_nodes + 1, 1);
    if (!o->g.nodes || !o->dead)
        goto done;
    memcpy(o->g.nodes, src->nodes, (size_t)src->n_nodes * sizeof *src->nodes);
    st.nodes_before = src->n_nodes;
    if ((passes & FY_OPT_FOLD) && (rc = pass_fold(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_CONV_BN) && (rc = pass_conv_bn(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_PATTERNS) && (rc = pass_patterns(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_FUSE) && (rc = pass_fuse(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_FUSE) && (rc = fy__opt_pass_dynq(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_FUSE) && (rc = fy__opt_pass_conv_pool(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_FUSE) && (rc = fy__opt_pass_qconv_pool(o, &st)) != FY_OK)
        goto done;
    if ((passes & FY_OPT_FUSE) && (rc = fy__opt_pass_qmatmul(o, &st)) != FY_OK)
        goto done;
    if (passes & FY_OPT_DEAD)
        pass_dead(o, &st);
    compact(o);
    st.nodes_after = o->g.n_nodes;
    rc = FY_OK;
done:
    if (rc != FY_OK) {
        fy__opt_free(o);
        return fy__diag_set(d, rc, "optimizing the graph: %s", fy_strerror(rc));
    }
    if (stats)
        *stats = st;
    *out = o;
    return FY_OK;
}

/* ---- the helpers other pass files use (optimize_int.h) ---- */

void fy__opt_recount(fy__opt *o)
{
    recount(o);
}

int fy__opt_add_const(fy__opt *o, fy_tensor *t, const char *what)
{
    return add_const(o, t, what);
}

const fy_tensor *fy__opt_cval(const fy__opt *o, int vid)
{
    return cval(o, vid);
}

int fy__opt_is_op(const fy__node *n, const char *op)
{
    return is_op(n, op);
}

int fy__opt_sole_reader(const fy__opt *o, int vid)
{
    return sole_reader(o, vid);
}

int fy__opt_other_input(const fy__node *n, int vid)
{
    return other_input(n, vid);
}

const fy__node *fy__opt_producer(const fy__opt *o, int vid, int *idx)
{
    return producer(o, vid, idx);
}

fy__node *fy__opt_rewrite(fy__opt *o, int i, const char *domain, const char *op, int n_in,
                          const int *ins, int out, const fy__node *attrs_from, int extra)
{
    return rewrite(o, i, domain, op, n_in, ins, out, attrs_from, extra);
}

void fy__opt_rewired(fy__opt *o, int i)
{
    rewired(o, i);
}

void fy__opt_kill(fy__opt *o, int i)
{
    kill(o, i);
}

const char *fy__opt_activation_of(const fy__opt *o, int vid, int *idx, float *alpha, float *beta)
{
    return activation_of(o, vid, idx, alpha, beta);
}

void fy__opt_set_act(fy__node *n, const char *act, float alpha, float beta)
{
    set_attr_s(n, "activation", act);
    set_attr_f(n, "activation_alpha", alpha);
    set_attr_f(n, "activation_beta", beta);
}
