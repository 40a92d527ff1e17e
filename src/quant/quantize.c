/* SPDX-License-Identifier: MIT */
/* Quantization rewrites, all in standard ONNX operators:
 *   int8 static:  x -> QuantizeLinear(s_x, zp_x) -> ConvInteger / MatMulInteger with
 *                 per-channel symmetric int8 weights -> Cast(float) -> Mul(s_x * s_w[c])
 *                 -> Add(bias)
 *   int8 dynamic: the same with DynamicQuantizeLinear computing s_x and zp_x per run
 *                 (Gemm and MatMul only)
 *   fp16/bf16:    each float32 initializer stored as 16 bits with a Cast back to float32.
 * The integer products are exact (int32 accumulators), so the only errors are the
 * rounding of weights and activations to 8 bits. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "quant_int.h"

#define DT_FLOAT ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define DT_UINT8 ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
#define DT_INT8 ONNX__TENSOR_PROTO__DATA_TYPE__INT8

void fy__quant_weights(const float *w, int64_t channels, int64_t per, int8_t *q, float *scale)
{
    for (int64_t c = 0; c < channels; c++) {
        const float *row = w + c * per;
        float mx = 0;
        for (int64_t j = 0; j < per; j++)
            if (fabsf(row[j]) > mx)
                mx = fabsf(row[j]);
        float s = mx > 0 ? mx / 127.0f : 1.0f;
        scale[c] = s;
        for (int64_t j = 0; j < per; j++) {
            float v = nearbyintf(row[j] / s);
            q[c * per + j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
    }
}

void fy__quant_params(float mn, float mx, float *scale, uint8_t *zp)
{
    if (mn > 0)
        mn = 0;
    if (mx < 0)
        mx = 0;
    float s = (mx - mn) / 255.0f;
    if (!(s > 0) || !isfinite(s)) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    float z = nearbyintf(-mn / s);
    *scale = s;
    *zp = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

static int rename_init(qmodel *q, int idx, const char *name)
{
    char *s = fy__strdup(name);
    if (!s)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory");
    fy__free(q->g->initializer[idx]->name);
    q->g->initializer[idx]->name = s;
    return FY_OK;
}

static void note(qlayer *l, const char *what)
{
    if (!l->rep)
        return;
    size_t len = strlen(l->rep->method);
    snprintf(l->rep->method + len, sizeof l->rep->method - len, "%s%s", len ? " " : "", what);
}

/* Per-channel int8 of a layer's weight w (out_axis 0: [C, per]; else [per, C])
 * into channel-major wq [C, per] and scales; wt is scratch of the same size.
 * Records the largest rounding error and the non-zeros in the layer's report. */
static int quant_w(qmodel *q, qlayer *l, const float *w, int64_t C, int64_t per, float *wt,
                   int8_t *wq, float *wscale)
{
    (void)q;
    if (l->out_axis == 0)
        memcpy(wt, w, (size_t)(C * per) * sizeof(float));
    else
        for (int64_t k = 0; k < per; k++)
            for (int64_t c = 0; c < C; c++)
                wt[c * per + k] = w[k * C + c];
    fy__quant_weights(wt, C, per, wq, wscale);
    double err = 0;
    int64_t nz = 0;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < per; k++) {
            double e = fabs((double)wt[c * per + k] - (double)wq[c * per + k] * wscale[c]);
            err = e > err ? e : err;
            nz += wq[c * per + k] != 0;
        }
    if (l->rep) {
        l->rep->max_abs_err = err;
        l->rep->nonzero_after = nz;
    }
    return FY_OK;
}

/* Quantize one layer. at is the node's index; the node is replaced by the chain. */
static int quant_layer(qmodel *q, qlayer *l, int dynamic, const fy__qrange *range)
{
    enum { NAME = 512 };
    Onnx__NodeProto *nd = q->g->node[l->node];
    float *w = NULL, *wt = NULL, *wscale = NULL, *svec = NULL, *bias2 = NULL;
    int8_t *wq = NULL, *wq2 = NULL;
    int64_t cnt, dims[FY_MAX_RANK];
    int rank, rc = fy__q_init_f32(q, l->init, &w, &cnt, &rank, dims);
    if (rc != FY_OK)
        return rc;
    int64_t C = dims[l->out_axis], per = cnt / (dims[l->out_axis] ? dims[l->out_axis] : 1);
    float alpha = l->kind == QL_GEMM ? fy__q_get_float(nd, "alpha", 1.0f) : 1.0f;
    float beta = l->kind == QL_GEMM ? fy__q_get_float(nd, "beta", 1.0f) : 1.0f;
    const char *bias =
        l->kind != QL_MATMUL && nd->n_input >= 3 && nd->input[2][0] ? nd->input[2] : NULL;
    if (bias && l->bias_init < 0 && (beta != 1.0f || l->kind == QL_CONV)) {
        fy__free(w);
        return FY_OK; /* a computed bias that would need rescaling or reshaping: left float */
    }
    wt = fy__malloc((size_t)cnt * sizeof(float) + 4);
    wq = fy__malloc((size_t)cnt + 1);
    wq2 = fy__malloc((size_t)cnt + 1);
    wscale = fy__malloc((size_t)C * sizeof(float) + 4);
    svec = fy__malloc((size_t)C * sizeof(float) + 4);
    if (!wt || !wq || !wq2 || !wscale || !svec) {
        rc = fy__diag_set(q->d, FY_ENOMEM, "out of memory quantizing");
        goto done;
    }
    if ((rc = quant_w(q, l, w, C, per, wt, wq, wscale)) != FY_OK)
        goto done;
    /* Stored layout: Conv as is [M, C, ...]; Gemm/MatMul as MatMulInteger's B [K, N]. */
    int64_t sdims[FY_MAX_RANK];
    int srank = rank;
    memcpy(sdims, dims, sizeof sdims);
    if (l->kind == QL_CONV) {
        memcpy(wq2, wq, (size_t)cnt);
    } else {
        for (int64_t c = 0; c < C; c++)
            for (int64_t k = 0; k < per; k++)
                wq2[k * C + c] = wq[c * per + k];
        sdims[0] = per;
        sdims[1] = C;
    }
    char base[NAME], n_wq[NAME], n_xs[NAME], n_xzp[NAME], n_xq[NAME], n_acc[NAME], n_accf[NAME],
        n_s[NAME], n_sv[NAME], n_mid[NAME], n_b[NAME];
    snprintf(base, sizeof base, "%s", q->g->initializer[l->init]->name);
    if ((rc = fy__q_name(q, base, "quantized", n_wq, NAME)) ||
        (rc = fy__q_name(q, base, "x_scale", n_xs, NAME)) ||
        (rc = fy__q_name(q, base, "x_zero_point", n_xzp, NAME)) ||
        (rc = fy__q_name(q, base, "x_quantized", n_xq, NAME)) ||
        (rc = fy__q_name(q, base, "acc", n_acc, NAME)) ||
        (rc = fy__q_name(q, base, "acc_float", n_accf, NAME)) ||
        (rc = fy__q_name(q, base, "scale", n_s, NAME)) ||
        (rc = fy__q_name(q, base, "scale_x", n_sv, NAME)) ||
        (rc = fy__q_name(q, base, "scaled", n_mid, NAME)) ||
        (rc = fy__q_name(q, base, "bias", n_b, NAME)))
        goto done;
    if ((rc = fy__q_set_init(q, l->init, DT_INT8, srank, sdims, wq2)) ||
        (rc = rename_init(q, l->init, n_wq)))
        goto done;
    /* Per-channel rescale, shaped to broadcast over the output: Conv [M, 1, ...]. */
    int64_t vdims[FY_MAX_RANK] = {C};
    int vrank = 1;
    if (l->kind == QL_CONV)
        for (int i = 2; i < rank; i++)
            vdims[vrank++] = 1;
    float xs = 1.0f;
    uint8_t xzp = 0;
    if (!dynamic) {
        fy__quant_params(range->min, range->max, &xs, &xzp);
        if ((rc = fy__q_add_init(q, n_xs, DT_FLOAT, 0, NULL, &xs)) < 0 ||
            (rc = fy__q_add_init(q, n_xzp, DT_UINT8, 0, NULL, &xzp)) < 0)
            goto done;
    }
    for (int64_t c = 0; c < C; c++)
        svec[c] = (dynamic ? 1.0f : xs) * wscale[c] * alpha;
    if ((rc = fy__q_add_init(q, n_s, DT_FLOAT, vrank, vdims, svec)) < 0)
        goto done;
    int rebias = 0;
    if (bias && l->bias_init >= 0) {
        float *b = NULL;
        int64_t bc, bd[FY_MAX_RANK];
        int br;
        if ((rc = fy__q_init_f32(q, l->bias_init, &b, &bc, &br, bd)) != FY_OK)
            goto done;
        for (int64_t i = 0; i < bc; i++)
            b[i] *= beta;
        if (l->kind == QL_CONV && bc == C) {
            rc = fy__q_add_init(q, n_b, DT_FLOAT, vrank, vdims, b);
            rebias = 1;
        } else if (beta != 1.0f) {
            rc = fy__q_add_init(q, n_b, DT_FLOAT, br, bd, b);
            rebias = 1;
        }
        fy__free(b);
        if (rc < 0)
            goto done;
        if (l->kind == QL_CONV && !rebias) {
            rc = FY_OK; /* a Conv bias is always [M]; the loader checked */
        }
    }
    /* Build the chain before the node, then drop the node. */
    char x[NAME], y[NAME], nname[NAME];
    snprintf(x, sizeof x, "%s", nd->input[0]);
    snprintf(y, sizeof y, "%s", nd->output[0]);
    snprintf(nname, sizeof nname, "%s", nd->name ? nd->name : "");
    const char *bname = !bias ? NULL : rebias ? n_b : bias;
    int at = l->node;
    char nn[NAME];
    if (dynamic) {
        const char *outs[3] = {n_xq, n_xs, n_xzp};
        snprintf(nn, sizeof nn, "%s_DynamicQuantizeLinear", nname);
        if ((rc = fy__q_add_node(q, at++, "DynamicQuantizeLinear", nn, 1, (const char *[]){x}, 3,
                                 outs)) < 0)
            goto done;
    } else {
        snprintf(nn, sizeof nn, "%s_QuantizeLinear", nname);
        if ((rc = fy__q_add_node(q, at++, "QuantizeLinear", nn, 3, (const char *[]){x, n_xs, n_xzp},
                                 1, (const char *[]){n_xq})) < 0)
            goto done;
    }
    const char *iop = l->kind == QL_CONV ? "ConvInteger" : "MatMulInteger";
    snprintf(nn, sizeof nn, "%s_%s", nname, iop);
    if ((rc = fy__q_add_node(q, at, iop, nn, 3, (const char *[]){n_xq, n_wq, n_xzp}, 1,
                             (const char *[]){n_acc})) < 0)
        goto done;
    if (l->kind == QL_CONV) {
        /* The node moved: it is now after the nodes added before it. */
        static const char *const none[] = {NULL};
        if ((rc = fy__q_copy_attrs(q, at, q->g->node[at + 1], none)) != FY_OK)
            goto done;
    }
    at++;
    snprintf(nn, sizeof nn, "%s_Cast", nname);
    if ((rc = fy__q_add_node(q, at, "Cast", nn, 1, (const char *[]){n_acc}, 1,
                             (const char *[]){n_accf})) < 0 ||
        (rc = fy__q_attr_int(q, at, "to", DT_FLOAT)) != FY_OK)
        goto done;
    at++;
    const char *sname = n_s;
    if (dynamic) {
        snprintf(nn, sizeof nn, "%s_MulScale", nname);
        if ((rc = fy__q_add_node(q, at++, "Mul", nn, 2, (const char *[]){n_xs, n_s}, 1,
                                 (const char *[]){n_sv})) < 0)
            goto done;
        sname = n_sv;
    }
    snprintf(nn, sizeof nn, "%s_Mul", nname);
    if ((rc = fy__q_add_node(q, at++, "Mul", nn, 2, (const char *[]){n_accf, sname}, 1,
                             (const char *[]){bname ? n_mid : y})) < 0)
        goto done;
    if (bname) {
        snprintf(nn, sizeof nn, "%s_Add", nname);
        if ((rc = fy__q_add_node(q, at++, "Add", nn, 2, (const char *[]){n_mid, bname}, 1,
                                 (const char *[]){y})) < 0)
            goto done;
    }
    fy__q_drop_node(q, at);
    rc = FY_OK;
    note(l, dynamic ? "int8-dynamic" : "int8");
done:
    fy__free(w);
    fy__free(wt);
    fy__free(wq);
    fy__free(wq2);
    fy__free(wscale);
    fy__free(svec);
    fy__free(bias2);
    return rc < 0 ? rc : FY_OK;
}

static int producer_of(const qmodel *q, const char *v)
{
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_output; k++)
            if (strcmp(q->g->node[i]->output[k], v) == 0)
                return (int)i;
    return -1;
}

static int sole_consumer(const qmodel *q, const char *v)
{
    int found = -1;
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_input; k++)
            if (strcmp(q->g->node[i]->input[k], v) == 0) {
                if (found >= 0)
                    return -1;
                found = (int)i;
            }
    for (size_t i = 0; i < q->g->n_output; i++)
        if (strcmp(q->g->output[i]->name, v) == 0)
            return -1;
    return found;
}

const char *fy__conv_out(const qmodel *q, const qlayer *l, int *relu_node)
{
    const char *y = q->g->node[l->node]->output[0];
    int c = sole_consumer(q, y);
    if (relu_node)
        *relu_node = -1;
    if (c >= 0 && strcmp(q->g->node[c]->op_type, "Relu") == 0 && q->g->node[c]->n_input == 1 &&
        (!q->g->node[c]->domain || !q->g->node[c]->domain[0])) {
        if (relu_node)
            *relu_node = c;
        return q->g->node[c]->output[0];
    }
    return y;
}

/* Ops that move uint8 values without changing them, so a quantized tensor can
 * pass through them instead of being dequantized and quantized again. */
static int transparent(const Onnx__NodeProto *n)
{
    static const char *const ops[] = {"MaxPool", "Flatten",   "Reshape",   "Identity",
                                      "Squeeze", "Unsqueeze", "Transpose", NULL};
    if (n->domain && n->domain[0])
        return 0;
    for (int i = 0; ops[i]; i++)
        if (strcmp(n->op_type, ops[i]) == 0)
            return n->n_output == 1 || strcmp(n->op_type, "MaxPool") != 0;
    return 0;
}

/* Conv -> QuantizeLinear(x) + QLinearConv (per-channel int8 weights, int32 bias,
 * uint8 output whose range the calibration measured) + DequantizeLinear. A ReLU
 * that is the Conv's only consumer folds into the output: its range starts at 0,
 * so the zero point is 0 and uint8 saturation is the ReLU. */
static int quant_conv(qmodel *q, qlayer *l, const fy__qrange *xr, const fy__qrange *yr)
{
    enum { NAME = 512 };
    Onnx__NodeProto *nd = q->g->node[l->node];
    float *w = NULL, *wt = NULL, *ws = NULL, *b = NULL;
    int8_t *wq = NULL, *wzp = NULL;
    int32_t *bq = NULL;
    int64_t cnt, dims[FY_MAX_RANK];
    int relu = -1;
    const char *yname = fy__conv_out(q, l, &relu);
    int rank, rc = fy__q_init_f32(q, l->init, &w, &cnt, &rank, dims);
    if (rc != FY_OK)
        return rc;
    int has_bias = nd->n_input >= 3 && nd->input[2][0];
    if (has_bias && l->bias_init < 0) {
        fy__free(w);
        return FY_OK; /* a computed bias: left float */
    }
    int64_t C = dims[0], per = cnt / (C ? C : 1);
    wt = fy__malloc((size_t)cnt * sizeof(float) + 4);
    wq = fy__malloc((size_t)cnt + 1);
    wzp = fy__calloc((size_t)C + 1, 1);
    ws = fy__malloc((size_t)C * sizeof(float) + 4);
    bq = fy__calloc((size_t)C + 1, sizeof *bq);
    if (!wt || !wq || !wzp || !ws || !bq) {
        rc = fy__diag_set(q->d, FY_ENOMEM, "out of memory quantizing");
        goto done;
    }
    if ((rc = quant_w(q, l, w, C, per, wt, wq, ws)) != FY_OK)
        goto done;
    float xs, ys;
    uint8_t xzp, yzp;
    fy__quant_params(xr->min, xr->max, &xs, &xzp);
    fy__quant_params(relu >= 0 ? 0.0f : yr->min, yr->max, &ys, &yzp);
    if (has_bias) {
        int64_t bc, bd[FY_MAX_RANK];
        int br;
        if ((rc = fy__q_init_f32(q, l->bias_init, &b, &bc, &br, bd)) != FY_OK)
            goto done;
        for (int64_t c = 0; c < C && c < bc; c++) {
            double v = nearbyint((double)b[c] / ((double)xs * (double)ws[c]));
            bq[c] = (int32_t)(v > 2147483647.0    ? 2147483647.0
                              : v < -2147483647.0 ? -2147483647.0
                                                  : v);
        }
    }
    char base[NAME], n_wq[NAME], n_ws[NAME], n_wzp[NAME], n_xs[NAME], n_xzp[NAME], n_xq[NAME],
        n_ys[NAME], n_yzp[NAME], n_yq[NAME], n_b[NAME], y[NAME], x[NAME], nname[NAME],
        nn[NAME + 32];
    snprintf(base, sizeof base, "%s", q->g->initializer[l->init]->name);
    snprintf(y, sizeof y, "%s", yname);
    snprintf(x, sizeof x, "%s", nd->input[0]);
    snprintf(nname, sizeof nname, "%s", nd->name ? nd->name : "");
    if ((rc = fy__q_name(q, base, "quantized", n_wq, NAME)) ||
        (rc = fy__q_name(q, base, "scale", n_ws, NAME)) ||
        (rc = fy__q_name(q, base, "zero_point", n_wzp, NAME)) ||
        (rc = fy__q_name(q, base, "x_scale", n_xs, NAME)) ||
        (rc = fy__q_name(q, base, "x_zero_point", n_xzp, NAME)) ||
        (rc = fy__q_name(q, base, "x_quantized", n_xq, NAME)) ||
        (rc = fy__q_name(q, base, "y_scale", n_ys, NAME)) ||
        (rc = fy__q_name(q, base, "y_zero_point", n_yzp, NAME)) ||
        (rc = fy__q_name(q, base, "y_quantized", n_yq, NAME)) ||
        (rc = fy__q_name(q, base, "bias_quantized", n_b, NAME)))
        goto done;
    int64_t cd[1] = {C};
    if ((rc = fy__q_set_init(q, l->init, DT_INT8, rank, dims, wq)) ||
        (rc = rename_init(q, l->init, n_wq)))
        goto done;
    if ((rc = fy__q_add_init(q, n_ws, DT_FLOAT, 1, cd, ws)) < 0 ||
        (rc = fy__q_add_init(q, n_wzp, DT_INT8, 1, cd, wzp)) < 0 ||
        (rc = fy__q_add_init(q, n_xs, DT_FLOAT, 0, NULL, &xs)) < 0 ||
        (rc = fy__q_add_init(q, n_xzp, DT_UINT8, 0, NULL, &xzp)) < 0 ||
        (rc = fy__q_add_init(q, n_ys, DT_FLOAT, 0, NULL, &ys)) < 0 ||
        (rc = fy__q_add_init(q, n_yzp, DT_UINT8, 0, NULL, &yzp)) < 0 ||
        (has_bias &&
         (rc = fy__q_add_init(q, n_b, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1, cd, bq)) < 0))
        goto done;
    int at = l->node;
    snprintf(nn, sizeof nn, "%s_QuantizeLinear", nname);
    if ((rc = fy__q_add_node(q, at, "QuantizeLinear", nn, 3, (const char *[]){x, n_xs, n_xzp}, 1,
                             (const char *[]){n_xq})) < 0)
        goto done;
    snprintf(nn, sizeof nn, "%s_QLinearConv", nname);
    const char *in[9] = {n_xq, n_xs, n_xzp, n_wq, n_ws, n_wzp, n_ys, n_yzp, n_b};
    static const char *const none[] = {NULL};
    if ((rc = fy__q_add_node(q, at + 1, "QLinearConv", nn, has_bias ? 9 : 8, in, 1,
                             (const char *[]){n_yq})) < 0 ||
        (rc = fy__q_copy_attrs(q, at + 1, q->g->node[at + 2], none)) != FY_OK)
        goto done;
    snprintf(nn, sizeof nn, "%s_DequantizeLinear", nname);
    if ((rc = fy__q_add_node(q, at + 2, "DequantizeLinear", nn, 3,
                             (const char *[]){n_yq, n_ys, n_yzp}, 1, (const char *[]){y})) < 0)
        goto done;
    if (relu >= 0)
        fy__q_drop_node(q, relu + 3);
    fy__q_drop_node(q, at + 3);
    note(l, relu >= 0 ? "int8(+relu)" : "int8");
    rc = FY_OK;
done:
    fy__free(w);
    fy__free(wt);
    fy__free(wq);
    fy__free(wzp);
    fy__free(ws);
    fy__free(b);
    fy__free(bq);
    return rc < 0 ? rc : FY_OK;
}

static int same_scalar(const qmodel *q, const char *a, const char *b)
{
    int ia = fy__q_find_init(q, a), ib = fy__q_find_init(q, b);
    if (ia < 0 || ib < 0)
        return 0;
    const Onnx__TensorProto *x = q->g->initializer[ia], *y = q->g->initializer[ib];
    return x->data_type == y->data_type && x->has_raw_data && y->has_raw_data &&
           x->raw_data.len == y->raw_data.len && x->raw_data.len <= 8 &&
           memcmp(x->raw_data.data, y->raw_data.data, x->raw_data.len) == 0;
}

/* DequantizeLinear -> MaxPool/Flatten/... -> QuantizeLinear with the same scale
 * and zero point: let the uint8 tensor flow through and drop both. */
static void pass_through(qmodel *q)
{
    for (size_t i = 0; i < q->g->n_node; i++) {
        Onnx__NodeProto *dq = q->g->node[i];
        if (strcmp(dq->op_type, "DequantizeLinear") != 0 || dq->n_input != 3)
            continue;
        const char *v = dq->output[0];
        int first = -1, last = -1, quant = -1;
        for (int steps = 0; steps < 16; steps++) {
            int c = sole_consumer(q, v);
            if (c < 0 || strcmp(q->g->node[c]->input[0], v) != 0)
                break;
            Onnx__NodeProto *cn = q->g->node[c];
            if (strcmp(cn->op_type, "QuantizeLinear") == 0) {
                if (first >= 0 && cn->n_input == 3 && same_scalar(q, cn->input[1], dq->input[1]) &&
                    same_scalar(q, cn->input[2], dq->input[2]))
                    quant = c;
                break;
            }
            if (!transparent(cn))
                break;
            if (first < 0)
                first = c;
            last = c;
            v = cn->output[0];
        }
        if (quant < 0)
            continue;
        /* first reads the uint8 tensor, last writes what Q wrote; DQ and Q go. */
        Onnx__NodeProto *f = q->g->node[first], *l = q->g->node[last], *qn = q->g->node[quant];
        char *in = fy__strdup(dq->input[0]), *out = fy__strdup(qn->output[0]);
        if (!in || !out) {
            fy__free(in);
            fy__free(out);
            return; /* out of memory: the graph stays as it is, still correct */
        }
        fy__q_forget_shape(q, f->input[0]);
        fy__free(f->input[0]);
        f->input[0] = in;
        for (int k = first; k <= last; k++)
            fy__q_forget_shape(q, q->g->node[k]->output[0]);
        fy__free(l->output[0]);
        l->output[0] = out;
        fy__q_drop_node(q, quant);
        fy__q_drop_node(q, (int)i);
        i = (size_t)-1; /* indices moved: start over */
    }
}

/* Attribute `name` of n, or NULL. */
static const Onnx__AttributeProto *attr_of(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

/* Every int of attribute `name` is v (or it is absent). */
static int ints_are(const Onnx__NodeProto *n, const char *name, int64_t v)
{
    const Onnx__AttributeProto *a = attr_of(n, name);
    for (size_t i = 0; a && i < a->n_ints; i++)
        if (a->ints[i] != v)
            return 0;
    return 1;
}

static int64_t int_attr(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = attr_of(n, name);
    return a ? a->i : dflt;
}

/* Whether ferry's engine runs conv layer l, once quantized, as its direct int8
 * Conv + MaxPool kernel (src/engine/optimize_qpool.c takes QLinearConv, group 1,
 * C x kh x ceil(kw / 4) <= 16 four-byte words, read only by a 2-D MaxPool without
 * pads, dilations, ceil rounding or Indices output). */
static int pooled_direct(const qmodel *q, const qlayer *l)
{
    const Onnx__NodeProto *cv = q->g->node[l->node];
    const Onnx__TensorProto *w = q->g->initializer[l->init];
    if (w->n_dims != 4 || int_attr(cv, "group", 1) != 1 ||
        w->dims[1] * w->dims[2] * ((w->dims[3] + 3) / 4) > 16)
        return 0;
    int c = sole_consumer(q, fy__conv_out(q, l, NULL));
    if (c < 0)
        return 0;
    const Onnx__NodeProto *mp = q->g->node[c];
    const Onnx__AttributeProto *k = attr_of(mp, "kernel_shape"), *ap = attr_of(mp, "auto_pad");
    return strcmp(mp->op_type, "MaxPool") == 0 && (!mp->domain || !mp->domain[0]) &&
           mp->n_output == 1 && k && k->n_ints == 2 && ints_are(mp, "pads", 0) &&
           ints_are(mp, "dilations", 1) && int_attr(mp, "ceil_mode", 0) == 0 &&
           int_attr(mp, "storage_order", 0) == 0 &&
           (!ap || ap->s.len == 0 || (ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0) ||
            (ap->s.len == 5 && memcmp(ap->s.data, "VALID", 5) == 0));
}

/* A Conv whose dot products are short (C * kh * kw) gains little from int8 through
 * im2col and a GEMM: the products are a small part of its time, and quantizing
 * and requantizing its large output cost more (measured on the example's first
 * layer, K = 9: slower than float32 in ferry and in ONNX Runtime,
 * docs/BENCHMARKS.md). By default (int8_min_k 0) such a Conv (K < 32) stays
 * float32 unless ferry's engine will run it as its direct int8 Conv + MaxPool
 * kernel, which is faster than float32's (docs/DESIGN.md, "The Fashion-MNIST CNN
 * in int8"); --int8-min-k N keeps every Conv with K < N float32, -1 none. */
static int conv_too_small(const qmodel *q, const qlayer *l, const fy_compress_opts *o)
{
    if (l->kind != QL_CONV || o->int8_min_k < 0)
        return 0;
    const Onnx__TensorProto *w = q->g->initializer[l->init];
    int64_t k = 1;
    for (size_t i = 1; i < w->n_dims; i++)
        k *= w->dims[i];
    if (o->int8_min_k > 0)
        return k < o->int8_min_k;
    return k < 32 && !pooled_direct(q, l);
}

int fy__quantize_int8(qmodel *q, qlayer *L, int n, const fy_compress_opts *o, fy__qrange *ranges)
{
    int dynamic = o->quantize == FY_QUANT_INT8_DYNAMIC;
    int64_t opset = fy__q_opset(q);
    if (opset < (dynamic ? 11 : 10))
        return fy__diag_set(q->d, FY_EUNSUPPORTED,
                            "int8 quantization needs opset %d or later (the model imports %lld)",
                            dynamic ? 11 : 10, (long long)opset);
    int qconv = !dynamic && opset >= 12; /* MaxPool on uint8 needs opset 12 */
    /* A layer fed (through ops that only move values) by a QLinearConv takes that
     * output's scale and zero point, so its uint8 data can flow straight in. */
    for (int i = 0; qconv && i < n; i++) {
        const char *v = q->g->node[L[i].node]->input[0];
        for (int steps = 0; steps < 16; steps++) {
            int p = producer_of(q, v);
            if (p < 0)
                break;
            int from = -1;
            for (int k = 0; k < n; k++)
                if (L[k].kind == QL_CONV && !L[k].excluded && !conv_too_small(q, &L[k], o) &&
                    strcmp(fy__conv_out(q, &L[k], NULL), v) == 0)
                    from = k;
            if (from >= 0) {
                if (ranges[n + from].max >= ranges[n + from].min)
                    ranges[i] = ranges[n + from];
                break;
            }
            if (!transparent(q->g->node[p]) || sole_consumer(q, v) < 0)
                break;
            v = q->g->node[p]->input[0];
        }
    }
    /* Last layer first: adding nodes then never moves the layers still to do. */
    for (int i = n - 1; i >= 0; i--) {
        if (L[i].excluded || (dynamic && L[i].kind == QL_CONV))
            continue;
        if (conv_too_small(q, &L[i], o)) {
            note(&L[i], "float (short dot products)");
            continue;
        }
        if (!dynamic && !(ranges[i].max >= ranges[i].min))
            continue; /* never reached by the calibration data */
        int rc;
        if (qconv && L[i].kind == QL_CONV && ranges[n + i].max >= ranges[n + i].min)
            rc = quant_conv(q, &L[i], &ranges[i], &ranges[n + i]);
        else
            rc = quant_layer(q, &L[i], dynamic, &ranges[i]);
        if (rc != FY_OK)
            return rc;
    }
    if (qconv)
        pass_through(q);
    return FY_OK;
}

int fy__quantize_half(qmodel *q, qlayer *L, int n, int bf16)
{
    int64_t opset = fy__q_opset(q);
    if (bf16 && opset < 13)
        return fy__diag_set(q->d, FY_EUNSUPPORTED,
                            "bfloat16 Cast needs opset 13 or later (the model imports %lld)",
                            (long long)opset);
    size_t n_init = q->g->n_initializer;
    for (size_t i = 0; i < n_init; i++) {
        const Onnx__TensorProto *t = q->g->initializer[i];
        if (t->data_type != DT_FLOAT)
            continue;
        int skip = 0;
        for (int k = 0; k < n; k++)
            if (L[k].excluded && ((size_t)L[k].init == i || (size_t)L[k].bias_init == i))
                skip = 1;
        int64_t cnt = 1;
        for (size_t k = 0; k < t->n_dims; k++)
            cnt *= t->dims[k];
        if (skip || cnt < 16)
            continue; /* small tensors save nothing and are often exact constants */
        float *w = NULL;
        int64_t c2, dims[FY_MAX_RANK];
        int rank, rc = fy__q_init_f32(q, (int)i, &w, &c2, &rank, dims);
        if (rc != FY_OK)
            return rc;
        uint16_t *h = fy__malloc((size_t)c2 * 2 + 2);
        if (!h) {
            fy__free(w);
            return fy__diag_set(q->d, FY_ENOMEM, "out of memory");
        }
        double err = 0;
        for (int64_t k = 0; k < c2; k++) {
            h[k] = bf16 ? fy_f32_to_bf16(w[k]) : fy_f32_to_f16(w[k]);
            double back = bf16 ? fy_bf16_to_f32(h[k]) : fy_f16_to_f32(h[k]);
            err = fabs(back - w[k]) > err ? fabs(back - w[k]) : err;
        }
        for (int k = 0; k < n; k++)
            if ((size_t)L[k].init == i && L[k].rep) {
                L[k].rep->max_abs_err = err;
                note(&L[k], bf16 ? "bf16" : "fp16");
            }
        char orig[512], stored[512];
        snprintf(orig, sizeof orig, "%s", t->name);
        rc = fy__q_name(q, orig, bf16 ? "bf16" : "fp16", stored, sizeof stored);
        if (rc == FY_OK)
            rc = fy__q_set_init(q, (int)i,
                                bf16 ? ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16
                                     : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16,
                                rank, dims, h);
        fy__free(w);
        fy__free(h);
        if (rc == FY_OK)
            rc = rename_init(q, (int)i, stored);
        char nn[600];
        snprintf(nn, sizeof nn, "%s_Cast", orig);
        if (rc == FY_OK && (rc = fy__q_add_node(q, 0, "Cast", nn, 1, (const char *[]){stored}, 1,
                                                (const char *[]){orig})) >= 0)
            rc = fy__q_attr_int(q, 0, "to", DT_FLOAT);
        if (rc < 0)
            return rc;
        for (int k = 0; k < n; k++)
            L[k].node++; /* everything moved down by the Cast */
    }
    return FY_OK;
}
