/* SPDX-License-Identifier: MIT */
/* Calling one kernel directly in unit tests: build a node with attributes, run it
 * on tensors, get outputs back. Not part of libferry. */
#ifndef FERRY_KERNEL_HARNESS_H
#define FERRY_KERNEL_HARNESS_H

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "test.h"

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

/* Run op, looked up in domain (which the node then carries), on inputs; outputs must
 * be n_out zeroed tensors; caller deinits them. */
static inline int kh_run_dom(kh_node *k, const char *domain, int n_in, const fy_tensor *const *in,
                             int n_out, fy_tensor *out, fy_diag *d)
{
    k->node.domain = (char *)domain;
    const fy__op_def *def = fy__op_find(domain, k->node.op_type);
    if (!def)
        return FY_EUNSUPPORTED;
    fy__op_ctx c = {&k->node, k->node.opset, n_in, in, n_out, out, d, NULL, NULL, NULL};
    int rc = def->run(&c);
    if (rc != FY_OK) /* as the engine does: a failed kernel's outputs are freed */
        for (int i = 0; i < n_out; i++)
            fy_tensor_deinit(&out[i]);
    return rc;
}

/* Run op (default domain) on inputs; outputs must be n_out zeroed tensors; caller
 * deinits them. */
static inline int kh_run(kh_node *k, int n_in, const fy_tensor *const *in, int n_out,
                         fy_tensor *out, fy_diag *d)
{
    return kh_run_dom(k, "", n_in, in, n_out, out, d);
}

static inline void kh_free_outs(fy_tensor *o, int n)
{
    for (int i = 0; i < n; i++)
        fy_tensor_deinit(&o[i]);
}

/* A tensor view of any dtype over caller memory. */
static inline fy_tensor kh_view(fy_dtype dt, void *data, int rank, const int64_t *dims)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    t.data = data;
    return t;
}

/* A float32 tensor view over caller memory. */
static inline fy_tensor kh_f32(float *data, int rank, const int64_t *dims)
{
    return kh_view(FY_DTYPE_F32, data, rank, dims);
}

/* A scalar (rank 0) view of any dtype over *v. */
static inline fy_tensor kh_scalar(fy_dtype dt, void *v)
{
    return kh_view(dt, v, 0, NULL);
}

/* An owned tensor of dtype dt holding v converted from double (zeros when v is NULL);
 * left empty when allocation fails. */
static inline fy_tensor kh_alloc(fy_dtype dt, int rank, const int64_t *dims, const double *v)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    if (fy_tensor_alloc(&t, dt, rank, dims, NULL) != FY_OK)
        return t;
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        fy__set_f64(&t, i, v ? v[i] : 0.0);
    return t;
}

/* The same from int64 values. */
static inline fy_tensor kh_alloc_i64(fy_dtype dt, int rank, const int64_t *dims, const int64_t *v)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    if (fy_tensor_alloc(&t, dt, rank, dims, NULL) != FY_OK)
        return t;
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        fy__set_i64(&t, i, v[i]);
    return t;
}

/* Element i of a float32 tensor. */
static inline float kh_outf(const fy_tensor *t, int64_t i)
{
    return ((const float *)t->data)[i];
}

/* Checks t has rank and dims. */
static inline void kh_check_shape(const fy_tensor *t, int rank, const int64_t *dims)
{
    FY_CHECK_EQ(t->rank, rank);
    for (int i = 0; i < rank && i < t->rank; i++)
        FY_CHECK_EQ(t->dims[i], dims[i]);
}

#endif
