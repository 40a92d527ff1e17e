/* SPDX-License-Identifier: MIT */
/* Describing a loaded model: inputs, outputs, sizes and the operators it uses. */
#include <string.h>

#include "../core/core.h"
#include "../ops/ops.h"
#include "onnx.h"

int fy_model_n_inputs(const fy_model *m) { return m->graph->n_inputs; }
int fy_model_n_outputs(const fy_model *m) { return m->graph->n_outputs; }

static void fill_desc(const fy__value *v, fy_io_desc *out)
{
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->dtype = v->info.dtype;
    out->rank = v->info.rank;
    for (int i = 0; i < FY_MAX_RANK; i++) {
        out->dims[i] = i < v->info.rank ? v->info.dims[i] : 0;
        out->dim_names[i] = v->info.dim_names[i];
    }
}

int fy_model_input(const fy_model *m, int i, fy_io_desc *out)
{
    if (i < 0 || i >= m->graph->n_inputs)
        return FY_EINVAL;
    fill_desc(&m->graph->values[m->graph->inputs[i]], out);
    return FY_OK;
}

int fy_model_output(const fy_model *m, int i, fy_io_desc *out)
{
    if (i < 0 || i >= m->graph->n_outputs)
        return FY_EINVAL;
    fill_desc(&m->graph->values[m->graph->outputs[i]], out);
    return FY_OK;
}

void fy_model_get_info(const fy_model *m, fy_model_info *out)
{
    memset(out, 0, sizeof *out);
    out->ir_version = m->ir_version;
    out->opset = m->opset;
    out->producer_name = m->producer_name;
    out->producer_version = m->producer_version;
    out->graph_name = m->graph->name;
    out->n_nodes = m->graph->n_nodes;
    out->file_bytes = m->file_bytes;
    for (int i = 0; i < m->graph->n_values; i++) {
        const fy_tensor *t = m->graph->values[i].init;
        if (!t)
            continue;
        out->n_initializers++;
        out->n_params += fy_tensor_numel(t);
        out->n_param_bytes += (int64_t)fy_tensor_nbytes(t);
    }
}

void fy_model_each_op(const fy_model *m,
                      void (*fn)(const char *domain, const char *op, int count, int supported,
                                 void *ctx),
                      void *ctx)
{
    const fy__graph *g = m->graph;
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        int first = 1, count = 0;
        for (int k = 0; k < g->n_nodes; k++) {
            const fy__node *o = &g->nodes[k];
            if (strcmp(o->op_type, nd->op_type) || strcmp(o->domain, nd->domain))
                continue;
            if (k < i) {
                first = 0;
                break;
            }
            count++;
        }
        if (first)
            fn(nd->domain, nd->op_type, count, fy__op_find(nd->domain, nd->op_type) != NULL, ctx);
    }
}
