/* SPDX-License-Identifier: MIT */
/* The ModelProto under rewrite: decoding (after the loader has validated the
 * bytes), reading and replacing initializers, adding and removing nodes, and
 * encoding the result. Compression edits the protobuf rather than ferry's IR so
 * that everything it does not touch (metadata, value_info, attributes, opset
 * imports) is written back exactly as it came. */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "quant_int.h"

static void *pb_alloc(void *ud, size_t n)
{
    (void)ud;
    return fy__malloc(n);
}
static void pb_free(void *ud, void *p)
{
    (void)ud;
    fy__free(p);
}
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

int fy__q_open(qmodel *q, const void *buf, size_t len, fy_diag *d)
{
    memset(q, 0, sizeof *q);
    q->d = d;
    /* The loader checks depth, sizes, names and external data; only bytes it
     * accepted are decoded here. */
    fy_model *m = NULL;
    int rc = fy_model_load_buffer(&m, buf, len, NULL, NULL, d);
    if (rc != FY_OK)
        return rc;
    fy_model_free(m);
    q->mp = onnx__model_proto__unpack(&pb_allocator, len, buf);
    if (!q->mp)
        return fy__diag_set(d, FY_ENOMEM, "out of memory decoding the model");
    q->g = q->mp->graph;
    if (!q->g) {
        fy__q_close(q);
        return fy__diag_set(d, FY_EINVAL, "model has no graph");
    }
    return FY_OK;
}

void fy__q_close(qmodel *q)
{
    if (q->mp)
        onnx__model_proto__free_unpacked(q->mp, &pb_allocator);
    q->mp = NULL;
    q->g = NULL;
}

int fy__q_pack(qmodel *q, void **out, size_t *out_len)
{
    size_t n = onnx__model_proto__get_packed_size(q->mp);
    uint8_t *b = fy__malloc(n ? n : 1);
    if (!b)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory encoding the model (%zu bytes)", n);
    onnx__model_proto__pack(q->mp, b);
    *out = b;
    *out_len = n;
    return FY_OK;
}

int64_t fy__q_opset(const qmodel *q)
{
    for (size_t i = 0; i < q->mp->n_opset_import; i++) {
        const char *dom = q->mp->opset_import[i]->domain;
        if (!dom || !*dom || strcmp(dom, "ai.onnx") == 0)
            return q->mp->opset_import[i]->version;
    }
    return -1;
}

int fy__q_find_init(const qmodel *q, const char *name)
{
    for (size_t i = 0; i < q->g->n_initializer; i++)
        if (strcmp(q->g->initializer[i]->name, name) == 0)
            return (int)i;
    return -1;
}

int fy__q_uses(const qmodel *q, const char *name)
{
    int uses = 0;
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_input; k++)
            uses += strcmp(q->g->node[i]->input[k], name) == 0;
    for (size_t i = 0; i < q->g->n_output; i++)
        uses += strcmp(q->g->output[i]->name, name) == 0;
    return uses;
}

int fy__q_init_f32(const qmodel *q, int idx, float **data, int64_t *n, int *rank, int64_t *dims)
{
    const Onnx__TensorProto *t = q->g->initializer[idx];
    if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fy__diag_set(q->d, FY_EUNSUPPORTED, "initializer '%s' is not float32", t->name);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fy__diag_set(q->d, FY_EUNSUPPORTED, "initializer '%s' is in external data", t->name);
    if (t->n_dims > FY_MAX_RANK)
        return fy__diag_set(q->d, FY_EUNSUPPORTED, "initializer '%s' has rank %zu", t->name,
                            t->n_dims);
    int64_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        dims[i] = t->dims[i];
        count *= t->dims[i]; /* the loader checked the shape's size */
    }
    *rank = (int)t->n_dims;
    const void *src;
    if (t->has_raw_data && t->raw_data.len) {
        if (t->raw_data.len != (size_t)count * 4)
            return fy__diag_set(q->d, FY_EINVAL, "initializer '%s': raw data size", t->name);
        src = t->raw_data.data;
    } else {
        if (t->n_float_data != (size_t)count)
            return fy__diag_set(q->d, FY_EINVAL, "initializer '%s': float_data size", t->name);
        src = t->float_data;
    }
    float *w = fy__malloc((size_t)(count ? count : 1) * sizeof(float));
    if (!w)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory copying '%s'", t->name);
    memcpy(w, src, (size_t)count * sizeof(float)); /* raw data is little-endian, as is x86/arm */
    *data = w;
    *n = count;
    return FY_OK;
}

static Onnx__TensorProto *make_tensor(const char *name, int dtype, int rank, const int64_t *dims,
                                      const void *data)
{
    Onnx__TensorProto *t = fy__malloc(sizeof *t);
    if (!t)
        return NULL;
    onnx__tensor_proto__init(t);
    size_t es = fy_dtype_size((fy_dtype)dtype);
    int64_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= dims[i];
    t->name = fy__strdup(name);
    t->dims = fy__malloc((size_t)(rank ? rank : 1) * sizeof(int64_t));
    t->raw_data.data = fy__malloc((size_t)count * es + 1);
    if (!t->name || !t->dims || !t->raw_data.data) {
        onnx__tensor_proto__free_unpacked(t, &pb_allocator);
        return NULL;
    }
    t->n_dims = (size_t)rank;
    if (rank) /* a scalar has no dims (and dims may be NULL) */
        memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
    t->has_data_type = 1;
    t->data_type = dtype;
    t->has_raw_data = 1;
    t->raw_data.len = (size_t)count * es;
    memcpy(t->raw_data.data, data, t->raw_data.len);
    return t;
}

int fy__q_set_init(qmodel *q, int idx, int dtype, int rank, const int64_t *dims, const void *data)
{
    Onnx__TensorProto *old = q->g->initializer[idx];
    Onnx__TensorProto *t = make_tensor(old->name, dtype, rank, dims, data);
    if (!t)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory replacing '%s'", old->name);
    q->g->initializer[idx] = t;
    onnx__tensor_proto__free_unpacked(old, &pb_allocator);
    /* A graph.input entry for an initializer declares its type: keep it true. */
    for (size_t i = 0; i < q->g->n_input; i++)
        if (strcmp(q->g->input[i]->name, t->name) == 0) {
            Onnx__ValueInfoProto *vi = q->g->input[i];
            memmove(q->g->input + i, q->g->input + i + 1,
                    (q->g->n_input - i - 1) * sizeof *q->g->input);
            q->g->n_input--;
            onnx__value_info_proto__free_unpacked(vi, &pb_allocator);
            break;
        }
    return FY_OK;
}

static int grow(void **arr, size_t n, size_t elem)
{
    void *p = fy__realloc(*arr, (n + 1) * elem);
    if (!p)
        return FY_ENOMEM;
    *arr = p;
    return FY_OK;
}

int fy__q_add_init(qmodel *q, const char *name, int dtype, int rank, const int64_t *dims,
                   const void *data)
{
    Onnx__TensorProto *t = make_tensor(name, dtype, rank, dims, data);
    if (!t || grow((void **)&q->g->initializer, q->g->n_initializer, sizeof(void *)) != FY_OK) {
        if (t)
            onnx__tensor_proto__free_unpacked(t, &pb_allocator);
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory adding '%s'", name);
    }
    q->g->initializer[q->g->n_initializer] = t;
    return (int)q->g->n_initializer++;
}

void fy__q_drop_init(qmodel *q, int idx)
{
    Onnx__TensorProto *t = q->g->initializer[idx];
    for (size_t i = 0; i < q->g->n_input; i++)
        if (strcmp(q->g->input[i]->name, t->name) == 0) {
            Onnx__ValueInfoProto *vi = q->g->input[i];
            memmove(q->g->input + i, q->g->input + i + 1,
                    (q->g->n_input - i - 1) * sizeof *q->g->input);
            q->g->n_input--;
            onnx__value_info_proto__free_unpacked(vi, &pb_allocator);
            break;
        }
    memmove(q->g->initializer + idx, q->g->initializer + idx + 1,
            (q->g->n_initializer - (size_t)idx - 1) * sizeof *q->g->initializer);
    q->g->n_initializer--;
    onnx__tensor_proto__free_unpacked(t, &pb_allocator);
}

static int name_taken(const qmodel *q, const char *s)
{
    if (fy__q_find_init(q, s) >= 0)
        return 1;
    for (size_t i = 0; i < q->g->n_input; i++)
        if (strcmp(q->g->input[i]->name, s) == 0)
            return 1;
    for (size_t i = 0; i < q->g->n_node; i++)
        for (size_t k = 0; k < q->g->node[i]->n_output; k++)
            if (strcmp(q->g->node[i]->output[k], s) == 0)
                return 1;
    return 0;
}

int fy__q_name(qmodel *q, const char *base, const char *suffix, char *out, size_t n)
{
    if ((size_t)snprintf(out, n, "%s_%s", base, suffix) >= n)
        return fy__diag_set(q->d, FY_ELIMIT, "name '%s' too long", base);
    while (name_taken(q, out))
        if ((size_t)snprintf(out, n, "%s_%s_%llu", base, suffix, (unsigned long long)++q->uniq) >=
            n)
            return fy__diag_set(q->d, FY_ELIMIT, "name '%s' too long", base);
    return FY_OK;
}

static char **dup_names(int n, const char *const *names)
{
    char **v = fy__calloc((size_t)(n ? n : 1), sizeof(char *));
    if (!v)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!(v[i] = fy__strdup(names[i]))) {
            for (int k = 0; k < i; k++)
                fy__free(v[k]);
            fy__free(v);
            return NULL;
        }
    return v;
}

int fy__q_add_node(qmodel *q, int at, const char *op, const char *name, int n_in,
                   const char *const *in, int n_out, const char *const *out)
{
    Onnx__NodeProto *nd = fy__malloc(sizeof *nd);
    if (!nd)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory adding a %s node", op);
    onnx__node_proto__init(nd);
    nd->op_type = fy__strdup(op);
    nd->name = fy__strdup(name);
    nd->input = dup_names(n_in, in);
    nd->output = dup_names(n_out, out);
    if (nd->input)
        nd->n_input = (size_t)n_in;
    if (nd->output)
        nd->n_output = (size_t)n_out;
    if (!nd->op_type || !nd->name || !nd->input || !nd->output ||
        grow((void **)&q->g->node, q->g->n_node, sizeof(void *)) != FY_OK) {
        onnx__node_proto__free_unpacked(nd, &pb_allocator);
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory adding a %s node", op);
    }
    memmove(q->g->node + at + 1, q->g->node + at, (q->g->n_node - (size_t)at) * sizeof(void *));
    q->g->node[at] = nd;
    q->g->n_node++;
    return at;
}

void fy__q_drop_node(qmodel *q, int idx)
{
    Onnx__NodeProto *nd = q->g->node[idx];
    memmove(q->g->node + idx, q->g->node + idx + 1,
            (q->g->n_node - (size_t)idx - 1) * sizeof(void *));
    q->g->n_node--;
    onnx__node_proto__free_unpacked(nd, &pb_allocator);
}

int fy__q_attr_int(qmodel *q, int node, const char *name, int64_t v)
{
    Onnx__NodeProto *nd = q->g->node[node];
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (strcmp(nd->attribute[i]->name, name) == 0) {
            nd->attribute[i]->i = v;
            nd->attribute[i]->has_i = 1;
            return FY_OK;
        }
    Onnx__AttributeProto *a = fy__malloc(sizeof *a);
    if (!a)
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory adding attribute %s", name);
    onnx__attribute_proto__init(a);
    a->name = fy__strdup(name);
    if (!a->name || grow((void **)&nd->attribute, nd->n_attribute, sizeof(void *)) != FY_OK) {
        onnx__attribute_proto__free_unpacked(a, &pb_allocator);
        return fy__diag_set(q->d, FY_ENOMEM, "out of memory adding attribute %s", name);
    }
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    nd->attribute[nd->n_attribute++] = a;
    return FY_OK;
}

int64_t fy__q_get_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0 && n->attribute[i]->has_i)
            return n->attribute[i]->i;
    return def;
}

float fy__q_get_float(const Onnx__NodeProto *n, const char *name, float def)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0 && n->attribute[i]->has_f)
            return n->attribute[i]->f;
    return def;
}

int fy__q_copy_attrs(qmodel *q, int dst, const Onnx__NodeProto *src, const char *const *skip)
{
    Onnx__NodeProto *nd = q->g->node[dst];
    for (size_t i = 0; i < src->n_attribute; i++) {
        int skipped = 0;
        for (int k = 0; skip && skip[k]; k++)
            skipped |= strcmp(src->attribute[i]->name, skip[k]) == 0;
        if (skipped)
            continue;
        /* Deep copy by encoding and decoding: attributes may hold anything. */
        size_t n = onnx__attribute_proto__get_packed_size(src->attribute[i]);
        uint8_t *b = fy__malloc(n ? n : 1);
        if (!b)
            return fy__diag_set(q->d, FY_ENOMEM, "out of memory copying attributes");
        onnx__attribute_proto__pack(src->attribute[i], b);
        Onnx__AttributeProto *a = onnx__attribute_proto__unpack(&pb_allocator, n, b);
        fy__free(b);
        if (!a || grow((void **)&nd->attribute, nd->n_attribute, sizeof(void *)) != FY_OK) {
            if (a)
                onnx__attribute_proto__free_unpacked(a, &pb_allocator);
            return fy__diag_set(q->d, FY_ENOMEM, "out of memory copying attributes");
        }
        nd->attribute[nd->n_attribute++] = a;
    }
    return FY_OK;
}

void fy__q_forget_shape(qmodel *q, const char *name)
{
    for (size_t i = 0; i < q->g->n_value_info; i++)
        if (strcmp(q->g->value_info[i]->name, name) == 0) {
            Onnx__ValueInfoProto *vi = q->g->value_info[i];
            memmove(q->g->value_info + i, q->g->value_info + i + 1,
                    (q->g->n_value_info - i - 1) * sizeof(void *));
            q->g->n_value_info--;
            onnx__value_info_proto__free_unpacked(vi, &pb_allocator);
            return;
        }
}
