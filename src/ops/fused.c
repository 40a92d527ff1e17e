/* SPDX-License-Identifier: MIT */
/* Fused operators (domain ai.ferry) made by the graph passes. Each is defined as
 * the chain it replaces and computed here by running the reference kernels of that
 * chain on a stand-in node, then the bias, residual and activation in place, with
 * the reference kernels' arithmetic: fused and unfused outputs are equal. */
#include <math.h>
#include <string.h>

#include "fused.h"

/* A stand-in for one step of the chain: same name, attributes and opset as the
 * fused node, but the plain op's type so the reference kernel runs as itself. */
static fy__node step_node(const fy__node *n, const char *op)
{
    fy__node s = *n;
    s.op_type = (char *)op;
    s.domain = (char *)"";
    s.def = NULL;
    return s;
}

static int run_step(fy__op_ctx *c, const char *op, const fy__node *node, int n_in,
                    const fy_tensor *const *in, fy_tensor *out)
{
    const fy__op_def *def = fy__op_find_ref("", op);
    if (!def)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no %s kernel", op);
    fy__op_ctx s = *c;
    s.node = node;
    s.n_in = n_in;
    s.in = in;
    s.n_out = 1;
    s.out = out;
    return def->run(&s);
}

int fy__fused_act(const fy__node *n, float *alpha, float *beta)
{
    static const char *const names[] = {"",        "Relu", "LeakyRelu", "Clip",
                                        "Sigmoid", "Tanh", "Gelu",      "GeluTanh"};
    const char *a = fy__attr_str(n, "activation", "");
    *alpha = fy__attr_float(n, "activation_alpha", 0);
    *beta = fy__attr_float(n, "activation_beta", 0);
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++)
        if (strcmp(a, names[k]) == 0)
            return k;
    return -1;
}

void fy__fused_act_ref(fy__act act, float alpha, float beta, float *y, int64_t n)
{
    /* Each line is the expression the reference elementwise kernel evaluates (in
     * double, from a float input, rounded once), so results match bit for bit. */
    switch (act) {
    case FY_ACT_NONE: break;
    case FY_ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] < 0 ? 0 : y[i];
        break;
    case FY_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) {
            float x = y[i];
            y[i] = (float)(x < 0 ? (double)alpha * x : x);
        }
        break;
    case FY_ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] < alpha ? alpha : y[i];
            y[i] = v > beta ? beta : v;
        }
        break;
    case FY_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float x = y[i];
            y[i] = (float)(x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)));
        }
        break;
    case FY_ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = (float)tanh(y[i]);
        break;
    case FY_ACT_GELU_ERF:
        for (int64_t i = 0; i < n; i++) {
            float x = y[i];
            y[i] = (float)(0.5 * x * (1 + erf(x * 0.70710678118654752440)));
        }
        break;
    case FY_ACT_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            float x = y[i];
            y[i] =
                (float)(0.5 * x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))));
        }
        break;
    }
}

static int same_shape(const fy_tensor *a, const fy_tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int k = 0; k < a->rank; k++)
        if (a->dims[k] != b->dims[k])
            return 0;
    return 1;
}

/* y = y + z, in place when shapes agree, else through the Add kernel (broadcast). */
static int add_into(fy__op_ctx *c, fy_tensor *y, const fy_tensor *z)
{
    if (z->dtype == FY_DTYPE_F32 && y->dtype == FY_DTYPE_F32 && same_shape(y, z)) {
        float *py = y->data;
        const float *pz = z->data;
        for (int64_t i = 0, n = fy_tensor_numel(y); i < n; i++)
            py[i] = py[i] + pz[i];
        return FY_OK;
    }
    fy__node add = step_node(c->node, "Add");
    add.n_attrs = 0;
    const fy_tensor *in[2] = {y, z};
    fy_tensor sum = {0};
    int rc = run_step(c, "Add", &add, 2, in, &sum);
    if (rc != FY_OK)
        return rc;
    fy_tensor_deinit(y);
    *y = sum;
    return FY_OK;
}

/* Bias of n floats along the last axis of y. */
static int bias_into(fy__op_ctx *c, fy_tensor *y, const fy_tensor *b)
{
    int64_t n = fy_tensor_numel(b);
    if (y->dtype != FY_DTYPE_F32 || y->rank < 1 || y->dims[y->rank - 1] != n)
        return add_into(c, y, b);
    float *py = y->data;
    const float *pb = b->data;
    for (int64_t i = 0, rows = fy_tensor_numel(y) / (n ? n : 1); i < rows; i++, py += n)
        for (int64_t j = 0; j < n; j++)
            py[j] = py[j] + pb[j];
    return FY_OK;
}

static int finish(fy__op_ctx *c, int rc)
{
    if (rc != FY_OK) {
        fy_tensor_deinit(&c->out[0]);
        return rc;
    }
    float alpha, beta;
    int act = fy__fused_act(c->node, &alpha, &beta);
    if (act < 0) {
        fy_tensor_deinit(&c->out[0]);
        return fy__op_fail(c, FY_EINVAL, "unknown activation '%s'",
                           fy__attr_str(c->node, "activation", ""));
    }
    if (c->out[0].dtype != FY_DTYPE_F32 && act != FY_ACT_NONE) {
        fy_tensor_deinit(&c->out[0]);
        return fy__op_fail(c, FY_EINVAL, "fused activation on %s", fy_dtype_name(c->out[0].dtype));
    }
    fy__fused_act_ref((fy__act)act, alpha, beta, c->out[0].data, fy_tensor_numel(&c->out[0]));
    return FY_OK;
}

static int op_fused_conv(fy__op_ctx *c)
{
    fy__node conv = step_node(c->node, "Conv");
    int rc = run_step(c, "Conv", &conv, c->n_in < 3 ? c->n_in : 3, c->in, &c->out[0]);
    const fy_tensor *z = fy__op_in(c, 3);
    if (rc == FY_OK && z)
        rc = add_into(c, &c->out[0], z);
    return finish(c, rc);
}

static int op_fused_gemm(fy__op_ctx *c)
{
    fy__node gemm = step_node(c->node, "Gemm");
    return finish(c, run_step(c, "Gemm", &gemm, c->n_in < 3 ? c->n_in : 3, c->in, &c->out[0]));
}

static int op_fused_matmul(fy__op_ctx *c)
{
    fy__node mm = step_node(c->node, "MatMul");
    int rc = run_step(c, "MatMul", &mm, 2, c->in, &c->out[0]);
    const fy_tensor *b = fy__op_in(c, 2), *z = fy__op_in(c, 3);
    if (rc == FY_OK && b)
        rc = bias_into(c, &c->out[0], b);
    if (rc == FY_OK && z)
        rc = add_into(c, &c->out[0], z);
    return finish(c, rc);
}

/* Transpose(x, perm = [0, 2, 1, 3]): Attention's "layout" 1 (fused.h). */
static int swap12(fy__op_ctx *c, const fy_tensor *x, fy_tensor *y)
{
    static int64_t perm[4] = {0, 2, 1, 3};
    fy__attr a = {.name = (char *)"perm", .type = FY_ATTR_INTS, .n = 4, .ints = perm};
    fy__node tr = step_node(c->node, "Transpose");
    tr.attrs = &a;
    tr.n_attrs = 1;
    const fy_tensor *in[1] = {x};
    return run_step(c, "Transpose", &tr, 1, in, y);
}

static int attention_bhsd(fy__op_ctx *c, const fy_tensor *const *qkv, fy_tensor *y);

static int op_attention(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)) || (rc = fy__op_need(c, 2)))
        return rc;
    if (fy__attr_int(c->node, "layout", 0) != 1)
        return attention_bhsd(c, c->in, &c->out[0]);
    /* Q and V as [B, S, H, D]: to [B, H, S, D], attend, and the result back */
    fy_tensor q = {0}, v = {0}, y = {0};
    if ((rc = swap12(c, c->in[0], &q)) == FY_OK && (rc = swap12(c, c->in[2], &v)) == FY_OK) {
        const fy_tensor *in[3] = {&q, c->in[1], &v};
        if ((rc = attention_bhsd(c, in, &y)) == FY_OK)
            rc = swap12(c, &y, &c->out[0]);
    }
    fy_tensor_deinit(&q);
    fy_tensor_deinit(&v);
    fy_tensor_deinit(&y);
    return rc;
}

static int attention_bhsd(fy__op_ctx *c, const fy_tensor *const *qkv, fy_tensor *y)
{
    int rc;
    fy__node step = step_node(c->node, "MatMul");
    step.n_attrs = 0;
    fy_tensor s = {0}, p = {0};
    if ((rc = run_step(c, "MatMul", &step, 2, qkv, &s)) != FY_OK)
        return rc;
    if (fy__attr_find(c->node, "scale")) {
        float k = fy__attr_float(c->node, "scale", 1);
        fy_tensor kt = {FY_DTYPE_F32, 0, {0}, &k, 0};
        const fy_tensor *in[2] = {&s, &kt};
        int div = fy__attr_int(c->node, "scale_div", 0) != 0;
        fy__node op = step_node(c->node, div ? "Div" : "Mul");
        op.n_attrs = 0;
        fy_tensor scaled = {0};
        rc = run_step(c, div ? "Div" : "Mul", &op, 2, in, &scaled);
        fy_tensor_deinit(&s);
        if (rc != FY_OK)
            return rc;
        s = scaled;
    }
    fy__node sm = step_node(c->node, "Softmax");
    fy__attr axis = {.name = (char *)"axis", .type = FY_ATTR_INT, .i = -1};
    sm.attrs = &axis;
    sm.n_attrs = 1;
    const fy_tensor *sin[1] = {&s};
    rc = run_step(c, "Softmax", &sm, 1, sin, &p);
    fy_tensor_deinit(&s);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *pin[2] = {&p, qkv[2]};
    rc = run_step(c, "MatMul", &step, 2, pin, y);
    fy_tensor_deinit(&p);
    return rc;
}

/* DynQMatMul: the dynamic int8 chain of `ferry compress`, step by step with the
 * reference kernels (fused.h). */
static int run_steps(fy__op_ctx *c, const char *op, const fy__attr *attrs, int n_attrs, int n_in,
                     const fy_tensor *const *in, int n_out, fy_tensor *out)
{
    fy__node s = step_node(c->node, op);
    s.attrs = (fy__attr *)attrs;
    s.n_attrs = n_attrs;
    const fy__op_def *def = fy__op_find_ref("", op);
    if (!def)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no %s kernel", op);
    fy__op_ctx sc = *c;
    sc.node = &s;
    sc.n_in = n_in;
    sc.in = in;
    sc.n_out = n_out;
    sc.out = out;
    return def->run(&sc);
}

static int op_dynq_matmul(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)) || (rc = fy__op_need(c, 2)))
        return rc;
    const fy_tensor *b = fy__op_in(c, 3);
    fy_tensor q[3] = {{0}}, acc = {0}, accf = {0}, sv = {0}, mid = {0};
    const fy_tensor *x[1] = {c->in[0]};
    if ((rc = run_steps(c, "DynamicQuantizeLinear", NULL, 0, 1, x, 3, q)) != FY_OK)
        goto done;
    const fy_tensor *mm[3] = {&q[0], c->in[1], &q[2]};
    if ((rc = run_steps(c, "MatMulInteger", NULL, 0, 3, mm, 1, &acc)) != FY_OK)
        goto done;
    fy__attr to = {.name = (char *)"to", .type = FY_ATTR_INT, .i = FY_DTYPE_F32};
    const fy_tensor *ca[1] = {&acc};
    if ((rc = run_steps(c, "Cast", &to, 1, 1, ca, 1, &accf)) != FY_OK)
        goto done;
    const fy_tensor *ms[2] = {&q[1], c->in[2]};
    if ((rc = run_steps(c, "Mul", NULL, 0, 2, ms, 1, &sv)) != FY_OK)
        goto done;
    const fy_tensor *mu[2] = {&accf, &sv};
    if ((rc = run_steps(c, "Mul", NULL, 0, 2, mu, 1, b ? &mid : &c->out[0])) != FY_OK)
        goto done;
    if (b) {
        const fy_tensor *ad[2] = {&mid, b};
        rc = run_steps(c, "Add", NULL, 0, 2, ad, 1, &c->out[0]);
    }
    const fy_tensor *z = fy__op_in(c, 4);
    if (rc == FY_OK && z)
        rc = add_into(c, &c->out[0], z);
done:
    for (int k = 0; k < 3; k++)
        fy_tensor_deinit(&q[k]);
    fy_tensor_deinit(&acc);
    fy_tensor_deinit(&accf);
    fy_tensor_deinit(&sv);
    fy_tensor_deinit(&mid);
    return finish(c, rc);
}

/* QMatMul: the static int8 chain of `ferry compress` (fused.h), step by step with
 * the reference kernels. */
static int op_qmatmul(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)) || (rc = fy__op_need(c, 3)))
        return rc;
    const fy_tensor *zp = fy__op_in(c, 2), *b = fy__op_in(c, 4), *xs = fy__op_in(c, 5);
    fy_tensor q = {0}, acc = {0}, accf = {0}, mid = {0};
    const fy_tensor *a = c->in[0];
    if (xs) {
        if (!zp)
            return fy__op_fail(c, FY_EINVAL, "x_scale (input 5) needs a_zero_point (input 2)");
        const fy_tensor *qi[3] = {c->in[0], xs, zp};
        if ((rc = run_steps(c, "QuantizeLinear", NULL, 0, 3, qi, 1, &q)) != FY_OK)
            goto done;
        a = &q;
    }
    const fy_tensor *mm[3] = {a, c->in[1], zp};
    if ((rc = run_steps(c, "MatMulInteger", NULL, 0, zp ? 3 : 2, mm, 1, &acc)) != FY_OK)
        goto done;
    fy__attr to = {.name = (char *)"to", .type = FY_ATTR_INT, .i = FY_DTYPE_F32};
    const fy_tensor *ca[1] = {&acc};
    if ((rc = run_steps(c, "Cast", &to, 1, 1, ca, 1, &accf)) != FY_OK)
        goto done;
    const fy_tensor *mu[2] = {&accf, c->in[3]};
    if ((rc = run_steps(c, "Mul", NULL, 0, 2, mu, 1, b ? &mid : &c->out[0])) != FY_OK)
        goto done;
    if (b) {
        const fy_tensor *ad[2] = {&mid, b};
        rc = run_steps(c, "Add", NULL, 0, 2, ad, 1, &c->out[0]);
    }
done:
    fy_tensor_deinit(&q);
    fy_tensor_deinit(&acc);
    fy_tensor_deinit(&accf);
    fy_tensor_deinit(&mid);
    return finish(c, rc);
}

const fy__op_def fy__ops_fused[] = {
    {"FusedConv", FY_FUSED_DOMAIN, op_fused_conv},
    {"FusedConvPool", FY_FUSED_DOMAIN, fy__fused_conv_pool_ref},
    {"FusedGemm", FY_FUSED_DOMAIN, op_fused_gemm},
    {"FusedMatMul", FY_FUSED_DOMAIN, op_fused_matmul},
    {"Attention", FY_FUSED_DOMAIN, op_attention},
    {"DynQMatMul", FY_FUSED_DOMAIN, op_dynq_matmul},
    {"QConvPool", FY_FUSED_DOMAIN, fy__qconv_pool_ref},
    {"QMatMul", FY_FUSED_DOMAIN, op_qmatmul},
    {NULL, NULL, NULL},
};
