/* SPDX-License-Identifier: MIT */
/* Which nodes compression works on: Conv, Gemm and MatMul whose weight is a
 * float32 initializer. Biases and every other initializer (normalization
 * parameters, shapes) are never layers, so no method touches them. */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "quant_int.h"

static int excluded(const fy_compress_opts *o, const char *node, const char *weight)
{
    for (int i = 0; i < o->n_exclude; i++)
        if ((node[0] && strcmp(o->exclude[i], node) == 0) || strcmp(o->exclude[i], weight) == 0)
            return 1;
    return 0;
}

int fy__q_layers(qmodel *q, const fy_compress_opts *o, fy_compress_result *res, qlayer **out,
                 int *n_out)
{
    qlayer *L = fy__calloc(q->g->n_node + 1, sizeof *L);
    if (!L)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory listing layers");
    int n = 0;
    for (size_t i = 0; i < q->g->n_node; i++) {
        const Onnx__NodeProto *nd = q->g->node[i];
        if (nd->domain && *nd->domain && strcmp(nd->domain, "ai.onnx") != 0)
            continue;
        int kind = strcmp(nd->op_type, "Conv") == 0     ? QL_CONV
                   : strcmp(nd->op_type, "Gemm") == 0   ? QL_GEMM
                   : strcmp(nd->op_type, "MatMul") == 0 ? QL_MATMUL
                                                        : 0;
        if (!kind || nd->n_input < 2)
            continue;
        int wi = fy__q_find_init(q, nd->input[1]);
        if (wi < 0)
            continue;
        const Onnx__TensorProto *w = q->g->initializer[wi];
        if (w->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            continue;
        if ((kind == QL_CONV && w->n_dims < 3) || (kind != QL_CONV && w->n_dims != 2))
            continue;
        if (kind == QL_GEMM && fy__q_get_int(nd, "transA", 0) != 0)
            continue;
        qlayer *l = &L[n];
        l->node = (int)i;
        l->init = wi;
        l->kind = kind;
        l->out_axis = kind == QL_CONV   ? 0
                      : kind == QL_GEMM ? (fy__q_get_int(nd, "transB", 0) ? 0 : 1)
                                        : 1;
        l->bias_init = -1;
        if (kind != QL_MATMUL && nd->n_input >= 3 && nd->input[2][0])
            l->bias_init = fy__q_find_init(q, nd->input[2]);
        l->excluded = excluded(o, nd->name ? nd->name : "", w->name);
        if (res && res->n_layers < FY_COMPRESS_MAX_LAYERS) {
            l->rep = &res->layers[res->n_layers];
            memset(l->rep, 0, sizeof *l->rep);
            snprintf(l->rep->name, sizeof l->rep->name, "%s",
                     nd->name && nd->name[0] ? nd->name : w->name);
            snprintf(l->rep->op, sizeof l->rep->op, "%s", nd->op_type);
            if (l->excluded)
                snprintf(l->rep->method, sizeof l->rep->method, "excluded");
        }
        if (res)
            res->n_layers++;
        n++;
    }
    *out = L;
    *n_out = n;
    return FY_OK;
}
