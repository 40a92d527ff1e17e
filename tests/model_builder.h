/* SPDX-License-Identifier: MIT */
/* Building ONNX models in tests with the generated protobuf-c structs: graphs and
 * subgraphs with typed inputs/outputs, nodes, attributes and small initializers,
 * packed and loaded through the public API. Not part of libferry. */
#ifndef FERRY_MODEL_BUILDER_H
#define FERRY_MODEL_BUILDER_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/ferry.h"
#include "graph/graph.h"
#include "onnx.pb-c.h"

#define GB_NODES 16
#define GB_VIS 12
#define GB_INITS 12
#define GB_INIT_MAX 4096
#define GB_IO 10
#define GB_ATTRS 6

typedef struct gb {
    Onnx__GraphProto g;
    Onnx__NodeProto nodes[GB_NODES];
    Onnx__NodeProto *node_ptrs[GB_NODES];
    char *node_io[GB_NODES][2][GB_IO];
    Onnx__AttributeProto attrs[GB_NODES][GB_ATTRS];
    Onnx__AttributeProto *attr_ptrs[GB_NODES][GB_ATTRS];
    int64_t attr_ints[GB_NODES][GB_ATTRS][4];
    Onnx__ValueInfoProto vis[GB_VIS];
    Onnx__ValueInfoProto *in_ptrs[GB_IO], *out_ptrs[GB_IO];
    Onnx__TypeProto types[GB_VIS];
    Onnx__TypeProto__Tensor ttypes[GB_VIS];
    Onnx__TensorShapeProto shapes[GB_VIS];
    Onnx__TensorShapeProto__Dimension dims[GB_VIS][4];
    Onnx__TensorShapeProto__Dimension *dim_ptrs[GB_VIS][4];
    Onnx__TensorProto inits[GB_INITS];
    Onnx__TensorProto *init_ptrs[GB_INITS];
    float init_data[GB_INITS][GB_INIT_MAX];
    int64_t init_dims[GB_INITS][4];
    int n_vis;
} gb;

static inline void gb_init(gb *b, const char *name)
{
    memset(b, 0, sizeof *b);
    onnx__graph_proto__init(&b->g);
    b->g.name = (char *)name;
    b->g.node = b->node_ptrs;
    b->g.input = b->in_ptrs;
    b->g.output = b->out_ptrs;
    b->g.initializer = b->init_ptrs;
}

/* A tensor value: rank -1 leaves the shape out. */
static inline Onnx__ValueInfoProto *gb_vi(gb *b, const char *name, fy_dtype dt, int rank,
                                          const int64_t *dims)
{
    int i = b->n_vis++;
    onnx__value_info_proto__init(&b->vis[i]);
    onnx__type_proto__init(&b->types[i]);
    onnx__type_proto__tensor__init(&b->ttypes[i]);
    b->ttypes[i].has_elem_type = 1;
    b->ttypes[i].elem_type = (int32_t)dt;
    if (rank >= 0) {
        onnx__tensor_shape_proto__init(&b->shapes[i]);
        for (int k = 0; k < rank; k++) {
            Onnx__TensorShapeProto__Dimension *d = &b->dims[i][k];
            onnx__tensor_shape_proto__dimension__init(d);
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[k];
            b->dim_ptrs[i][k] = d;
        }
        b->shapes[i].n_dim = (size_t)rank;
        b->shapes[i].dim = b->dim_ptrs[i];
        b->ttypes[i].shape = &b->shapes[i];
    }
    b->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[i].tensor_type = &b->ttypes[i];
    b->vis[i].name = (char *)name;
    b->vis[i].type = &b->types[i];
    return &b->vis[i];
}

static inline void gb_input(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims)
{
    b->in_ptrs[b->g.n_input++] = gb_vi(b, name, dt, rank, dims);
}

static inline void gb_output(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims)
{
    b->out_ptrs[b->g.n_output++] = gb_vi(b, name, dt, rank, dims);
}

/* gb_node(b, "Add", 2, 1, "a", "b", "y"): inputs then outputs; "" omits one. */
static inline int gb_node(gb *b, const char *op, int n_in, int n_out, ...)
{
    int i = (int)b->g.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)op;
    va_list ap;
    va_start(ap, n_out);
    for (int k = 0; k < n_in; k++)
        b->node_io[i][0][k] = va_arg(ap, char *);
    for (int k = 0; k < n_out; k++)
        b->node_io[i][1][k] = va_arg(ap, char *);
    va_end(ap);
    n->n_input = (size_t)n_in;
    n->input = b->node_io[i][0];
    n->n_output = (size_t)n_out;
    n->output = b->node_io[i][1];
    n->attribute = b->attr_ptrs[i];
    b->node_ptrs[i] = n;
    return i;
}

static inline Onnx__AttributeProto *gb_attr(gb *b, int node, const char *name, int type)
{
    Onnx__NodeProto *n = &b->nodes[node];
    int k = (int)n->n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[node][k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    b->attr_ptrs[node][k] = a;
    return a;
}

static inline void gb_attr_graph(gb *b, int node, const char *name, gb *sub)
{
    gb_attr(b, node, name, FY_ATTR_GRAPH)->g = &sub->g;
}

static inline void gb_attr_int(gb *b, int node, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = gb_attr(b, node, name, FY_ATTR_INT);
    a->has_i = 1;
    a->i = v;
}

static inline void gb_attr_ints(gb *b, int node, const char *name, int n, ...)
{
    Onnx__AttributeProto *a = gb_attr(b, node, name, FY_ATTR_INTS);
    int64_t *v = b->attr_ints[node][b->nodes[node].n_attribute - 1];
    va_list ap;
    va_start(ap, n);
    for (int k = 0; k < n; k++)
        v[k] = va_arg(ap, int64_t);
    va_end(ap);
    a->n_ints = (size_t)n;
    a->ints = v;
}

/* The next initializer's TensorProto: name, type and dims set (GB_INITS per graph);
 * the caller fills in the data. */
static inline Onnx__TensorProto *gb_init_proto(gb *b, const char *name, fy_dtype dt, int rank,
                                               const int64_t *dims)
{
    int i = (int)b->g.n_initializer++;
    Onnx__TensorProto *t = &b->inits[i];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dt;
    memcpy(b->init_dims[i], dims, (size_t)rank * sizeof *dims);
    t->n_dims = (size_t)rank;
    t->dims = b->init_dims[i];
    b->init_ptrs[i] = t;
    return t;
}

/* A float32 initializer of up to GB_INIT_MAX elements (GB_INITS per graph). */
static inline void gb_init_f32(gb *b, const char *name, int rank, const int64_t *dims,
                               const float *v, int n)
{
    float *data = b->init_data[b->g.n_initializer];
    Onnx__TensorProto *t = gb_init_proto(b, name, FY_DTYPE_F32, rank, dims);
    memcpy(data, v, (size_t)n * sizeof *v);
    t->n_float_data = (size_t)n;
    t->float_data = data;
}

/* An integer initializer (ONNX keeps int8, uint8 and int32 values in int32_data): n
 * values read in place from data, which the caller keeps alive as long as b. */
static inline void gb_init_int(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims,
                               int32_t *data, int n)
{
    Onnx__TensorProto *t = gb_init_proto(b, name, dt, rank, dims);
    t->n_int32_data = (size_t)n;
    t->int32_data = data;
}

/* Pack top into a model of that opset: malloc'd bytes (one spare byte after *len), or
 * NULL when out of memory. */
static inline uint8_t *gb_pack(gb *top, int64_t opset, size_t *len)
{
    Onnx__ModelProto model;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp[1] = {&os};
    onnx__model_proto__init(&model);
    onnx__operator_set_id_proto__init(&os);
    model.has_ir_version = 1;
    model.ir_version = 8;
    os.domain = (char *)"";
    os.has_version = 1;
    os.version = opset;
    model.n_opset_import = 1;
    model.opset_import = osp;
    model.graph = &top->g;
    *len = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(*len + 1);
    if (buf)
        onnx__model_proto__pack(&model, buf);
    return buf;
}

/* Pack top into a model of that opset and write it to path; 0, or -1 on failure. */
static inline int gb_write(gb *top, int64_t opset, const char *path)
{
    size_t len;
    uint8_t *buf = gb_pack(top, opset, &len);
    if (!buf)
        return -1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f)
        fclose(f);
    free(buf);
    return ok ? 0 : -1;
}

/* Pack top into a model of that opset and load it; NULL (with d) on failure. */
static inline fy_model *gb_load(gb *top, int64_t opset, fy_diag *d)
{
    size_t len;
    uint8_t *buf = gb_pack(top, opset, &len);
    fy_model *m = NULL;
    if (!buf)
        return NULL;
    if (fy_model_load_buffer(&m, buf, len, NULL, NULL, d) != FY_OK)
        m = NULL;
    free(buf);
    return m;
}

/* Load, create a session, run; returns the run's code (outputs set on success). */
static inline int run_model(gb *top, int64_t opset, int n_in, const fy_tensor *in, int n_out,
                            fy_tensor *out, fy_diag *d)
{
    fy_session *s = NULL;
    fy_model *m = gb_load(top, opset, d);
    if (!m)
        return FY_EPARSE;
    int rc = fy_session_create(&s, m, NULL, d);
    if (rc == FY_OK)
        rc = fy_session_run(s, n_in, in, n_out, out, d);
    fy_session_free(s);
    fy_model_free(m);
    return rc;
}

#endif
