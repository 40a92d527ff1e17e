/* SPDX-License-Identifier: MIT */
/* Calling one kernel directly in unit tests: build a node with attributes, run it
 * on tensors, get outputs back. Not part of libferry. */
#ifndef FERRY_KERNEL_HARNESS_H
#define FERRY_KERNEL_HARNESS_H

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

typedef struct kh_node {
    fy__node node;
    fy__attr attrs[16];
} kh_node;

static inline void kh_init(kh_node *k, const char *op, int opset)
{
    memset(k, 0, sizeof *k);
    k->node.name = (char *)"test";
    k->node.op_type = (char *)op;
    k->node.domain = (char *)"";
    k->node.opset = opset;
    k->node.attrs = k->attrs;
}

static inline void kh_attr_int(kh_node *k, const char *name, int64_t v)
{
    assert(k->node.n_attrs < 16);
    fy__attr *a = &k->attrs[k->node.n_attrs++];
    a->name = (char *)name;
    a->type = FY_ATTR_INT;
    a->i = v;
}

static inline void kh_attr_float(kh_node *k, const char *name, float v)
{
    assert(k->node.n_attrs < 16);
    fy__attr *a = &k->attrs[k->node.n_attrs++];
    a->name = (char *)name;
    a->type = FY_ATTR_FLOAT;
    a->f = v;
}

static inline void kh_attr_str(kh_node *k, const char *name, const char *v)
{
    assert(k->node.n_attrs < 16);
    fy__attr *a = &k->attrs[k->node.n_attrs++];
    a->name = (char *)name;
    a->type = FY_ATTR_STRING;
    a->s = (char *)v;
}

/* ints must outlive the node */
static inline void kh_attr_ints(kh_node *k, const char *name, int64_t *v, int64_t n)
{
    assert(k->node.n_attrs < 16);
    fy__attr *a = &k->attrs[k->node.n_attrs++];
    a->name = (char *)name;
    a->type = FY_ATTR_INTS;
    a->ints = v;
    a->n = n;
}

/* Run op on inputs; outputs must be n_out zeroed tensors; caller deinits them. */
static inline int kh_run(kh_node *k, int n_in, const fy_tensor *const *in, int n_out,
                         fy_tensor *out, fy_diag *d)
{
    const fy__op_def *def = fy__op_find("", k->node.op_type);
    if (!def)
        return FY_EUNSUPPORTED;
    fy__op_ctx c = {&k->node, k->node.opset, n_in, in, n_out, out, d, NULL};
    int rc = def->run(&c);
    if (rc != FY_OK) /* as the engine does: a failed kernel's outputs are freed */
        for (int i = 0; i < n_out; i++)
            fy_tensor_deinit(&out[i]);
    return rc;
}

/* A float32 tensor view over caller memory. */
static inline fy_tensor kh_f32(float *data, int rank, const int64_t *dims)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = FY_DTYPE_F32;
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    t.data = data;
    return t;
}

#endif
