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

static uint32_t op_hash(const fy__node *nd)
{
    uint32_t h = 2166136261u; /* FNV-1a over "domain\0op" */
    for (const char *p = nd->domain; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h *= 16777619u;
    for (const char *p = nd->op_type; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static int same_op(const fy__node *a, const fy__node *b)
{
    return strcmp(a->op_type, b->op_type) == 0 && strcmp(a->domain, b->domain) == 0;
}

/* One pass with a hash table of distinct ops (first node index and count), so
 * models with a million nodes are described in linear time. */
int fy_model_each_op(const fy_model *m,
                      void (*fn)(const char *domain, const char *op, int count, int supported,
                                 void *ctx),
                      void *ctx)
{
    const fy__graph *g = m->graph;
    size_t cap = 64;
    while (cap < (size_t)g->n_nodes * 2)
        cap *= 2;
    int *slot_node = fy__malloc(cap * sizeof *slot_node);
    int *count = fy__calloc((size_t)g->n_nodes + 1, sizeof *count);
    if (!slot_node || !count) {
        fy__free(slot_node);
        fy__free(count);
        return FY_ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        slot_node[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        size_t k = op_hash(&g->nodes[i]) & (cap - 1);
        while (slot_node[k] >= 0 && !same_op(&g->nodes[slot_node[k]], &g->nodes[i]))
            k = (k + 1) & (cap - 1);
        if (slot_node[k] < 0)
            slot_node[k] = i;
        count[slot_node[k]]++; /* counted on the first node of its kind */
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        if (count[i])
            fn(nd->domain, nd->op_type, count[i], nd->def != NULL, ctx);
    }
    fy__free(slot_node);
    fy__free(count);
    return FY_OK;
}
