/* SPDX-License-Identifier: MIT */
/* Optimizer reference kernels of ai.onnx.preview.training (opset 1): Adagrad,
 * Adam and Momentum. Each takes R (learning rate) and T (step count), then the
 * tensors to update grouped by role (X..., G..., V/H...) and returns them updated. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../ops.h"

#define TRAINING_DOMAIN "ai.onnx.preview.training"

/* One optimizer call: R, T, and n groups of `per` same-shaped float tensors. */
typedef struct opt_call {
    double r;
    int64_t t;
    int n;
} opt_call;

/* Check the variadic layout (R, T, X1..Xn, G1..Gn, ...), with at most kinds*n
 * outputs, and allocate each present output like its X. */
static int opt_begin(fy__op_ctx *c, int per, int kinds, opt_call *oc)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) != FY_OK || (rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *r = c->in[0], *t = c->in[1];
    if (!fy__dtype_is_float(r->dtype) || fy_tensor_numel(r) != 1)
        return fy__op_fail(c, FY_EINVAL,
                           "R (input 0) must be a float scalar, got %s with %lld elements",
                           fy_dtype_name(r->dtype), (long long)fy_tensor_numel(r));
    if (!fy__dtype_is_int(t->dtype) || fy_tensor_numel(t) != 1)
        return fy__op_fail(c, FY_EINVAL,
                           "T (input 1) must be an integer scalar, got %s with %lld elements",
                           fy_dtype_name(t->dtype), (long long)fy_tensor_numel(t));
    oc->r = fy__get_f64(r, 0);
    oc->t = fy__get_i64(t, 0);
    int rest = c->n_in - 2;
    if (rest < per || rest % per != 0)
        return fy__op_fail(c, FY_EINVAL,
                           "%d inputs: expected R, T and %d tensors per optimized tensor", c->n_in,
                           per);
    int n = rest / per;
    if (c->n_out < 1 || c->n_out > kinds * n)
        return fy__op_fail(c, FY_EINVAL, "%d outputs for %d optimized tensors: expected 1 to %d",
                           c->n_out, n, kinds * n);
    for (int g = 0; g < n; g++) {
        const fy_tensor *x = c->in[2 + g];
        for (int k = 0; k < per; k++) {
            int i = 2 + k * n + g;
            if ((rc = fy__op_need(c, i)) != FY_OK)
                return rc;
            const fy_tensor *v = c->in[i];
            if (!fy__dtype_is_float(v->dtype))
                return fy__op_fail(c, FY_EINVAL, "input %d must be a float type, got %s", i,
                                   fy_dtype_name(v->dtype));
            if (v->rank != x->rank || memcmp(v->dims, x->dims, (size_t)x->rank * sizeof x->dims[0]))
                return fy__op_fail(c, FY_EINVAL, "input %d differs in shape from input %d", i,
                                   2 + g);
        }
    }
    for (int o = 0; o < c->n_out; o++) {
        const fy_tensor *x = c->in[2 + o % n];
        fy_diag d = {{0}};
        if ((rc = fy_tensor_alloc(&c->out[o], x->dtype, x->rank, x->dims, &d)) != FY_OK)
            return fy__op_fail(c, rc, "output %d: %s", o, d.msg);
    }
    oc->n = n;
    return FY_OK;
}

/* Store value v of kind `kind` (0 = X, 1 = V or H, ...) for group g, element e. */
static void opt_put(fy__op_ctx *c, const opt_call *oc, int kind, int g, int64_t e, double v)
{
    int o = kind * oc->n + g;
    if (o < c->n_out)
        fy__set_f64(&c->out[o], e, v);
}

static double in_at(fy__op_ctx *c, const opt_call *oc, int kind, int g, int64_t e)
{
    return fy__get_f64(c->in[2 + kind * oc->n + g], e);
}

/* Inputs R, T, X..., G..., H...; outputs X_new..., H_new...
 *   r' = r / (1 + t * decay_factor);  g' = norm_coefficient * x + g
 *   h' = h + g'^2;                    x' = x - r' * g' / (sqrt(h') + epsilon) */
static int op_adagrad(fy__op_ctx *c)
{
    opt_call oc;
    int rc = opt_begin(c, 3, 2, &oc);
    if (rc != FY_OK)
        return rc;
    double decay = fy__attr_float(c->node, "decay_factor", 0.0f);
    double eps = fy__attr_float(c->node, "epsilon", 1e-6f);
    double norm = fy__attr_float(c->node, "norm_coefficient", 0.0f);
    double r = oc.r / (1.0 + (double)oc.t * decay);
    for (int g = 0; g < oc.n; g++) {
        int64_t numel = fy_tensor_numel(c->in[2 + g]);
        for (int64_t e = 0; e < numel; e++) {
            double x = in_at(c, &oc, 0, g, e), gr = norm * x + in_at(c, &oc, 1, g, e);
            double h = in_at(c, &oc, 2, g, e) + gr * gr;
            opt_put(c, &oc, 0, g, e, x - r * gr / (sqrt(h) + eps));
            opt_put(c, &oc, 1, g, e, h);
        }
    }
    return FY_OK;
}

/* Inputs R, T, X..., G..., V..., H...; outputs X_new..., V_new..., H_new...
 *   g' = norm_coefficient * x + g;  v' = alpha v + (1 - alpha) g';  h' = beta h + (1 - beta) g'^2
 *   r' = r sqrt(1 - beta^t) / (1 - alpha^t) when t > 0, else r
 *   x' = (1 - norm_coefficient_post) (x - r' v' / (sqrt(h') + epsilon)) */
static int op_adam(fy__op_ctx *c)
{
    opt_call oc;
    int rc = opt_begin(c, 4, 3, &oc);
    if (rc != FY_OK)
        return rc;
    double alpha = fy__attr_float(c->node, "alpha", 0.9f);
    double beta = fy__attr_float(c->node, "beta", 0.999f);
    double eps = fy__attr_float(c->node, "epsilon", 1e-6f);
    double norm = fy__attr_float(c->node, "norm_coefficient", 0.0f);
    double post = fy__attr_float(c->node, "norm_coefficient_post", 0.0f);
    double r = oc.r;
    if (oc.t > 0)
        r = oc.r * sqrt(1.0 - pow(beta, (double)oc.t)) / (1.0 - pow(alpha, (double)oc.t));
    for (int g = 0; g < oc.n; g++) {
        int64_t numel = fy_tensor_numel(c->in[2 + g]);
        for (int64_t e = 0; e < numel; e++) {
            double x = in_at(c, &oc, 0, g, e), gr = norm * x + in_at(c, &oc, 1, g, e);
            double v = alpha * in_at(c, &oc, 2, g, e) + (1.0 - alpha) * gr;
            double h = beta * in_at(c, &oc, 3, g, e) + (1.0 - beta) * gr * gr;
            opt_put(c, &oc, 0, g, e, (1.0 - post) * (x - r * v / (sqrt(h) + eps)));
            opt_put(c, &oc, 1, g, e, v);
            opt_put(c, &oc, 2, g, e, h);
        }
    }
    return FY_OK;
}

/* Inputs R, T, X..., G..., V...; outputs X_new..., V_new...
 *   g' = norm_coefficient * x + g;  v' = alpha v + beta' g'  (beta' = 1 at t = 0)
 *   standard: x' = x - r v';  nesterov: x' = x - r (g' + alpha v') */
static int op_momentum(fy__op_ctx *c)
{
    static const char *const required[4] = {"alpha", "beta", "mode", "norm_coefficient"};
    for (int k = 0; k < 4; k++)
        if (!fy__attr_find(c->node, required[k]))
            return fy__op_fail(c, FY_EINVAL, "required attribute '%s' is missing", required[k]);
    const char *mode = fy__attr_str(c->node, "mode", "");
    int nesterov = strcmp(mode, "nesterov") == 0;
    if (!nesterov && strcmp(mode, "standard") != 0)
        return fy__op_fail(c, FY_EINVAL, "mode '%s' must be 'standard' or 'nesterov'", mode);
    opt_call oc;
    int rc = opt_begin(c, 3, 2, &oc);
    if (rc != FY_OK)
        return rc;
    double alpha = fy__attr_float(c->node, "alpha", 0.0f);
    double beta = oc.t > 0 ? fy__attr_float(c->node, "beta", 0.0f) : 1.0;
    double norm = fy__attr_float(c->node, "norm_coefficient", 0.0f);
    for (int g = 0; g < oc.n; g++) {
        int64_t numel = fy_tensor_numel(c->in[2 + g]);
        for (int64_t e = 0; e < numel; e++) {
            double x = in_at(c, &oc, 0, g, e), gr = norm * x + in_at(c, &oc, 1, g, e);
            double v = alpha * in_at(c, &oc, 2, g, e) + beta * gr;
            opt_put(c, &oc, 0, g, e, nesterov ? x - oc.r * (gr + alpha * v) : x - oc.r * v);
            opt_put(c, &oc, 1, g, e, v);
        }
    }
    return FY_OK;
}

const fy__op_def fy__ops_training[] = {
    {"Adagrad", TRAINING_DOMAIN, op_adagrad},
    {"Adam", TRAINING_DOMAIN, op_adam},
    {"Momentum", TRAINING_DOMAIN, op_momentum},
    {NULL, NULL, NULL},
};
