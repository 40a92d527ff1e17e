/* SPDX-License-Identifier: MIT */
/* Internals of the graph passes shared by the files that hold passes
 * (optimize.c, optimize_quant.c): the session-owned graph copy and the few
 * helpers a pattern needs. Not part of the engine's interface (optimize.h). */
#ifndef FERRY_OPTIMIZE_INT_H
#define FERRY_OPTIMIZE_INT_H

#include "optimize.h"

struct fy__opt {
    fy__graph g;
    const fy__graph *src;
    void **owned; /* allocations freed with the copy */
    int n_owned, cap_owned;
    fy_tensor **tensors; /* folded and rewritten constants */
    int n_tensors, cap_tensors;
    int cap_values;
    int *uses;      /* per value: readers (node inputs, implicit reads, graph outputs) */
    int *reader;    /* per value: the last node reading it, -1 if none */
    int *prod;      /* per value: the live node producing it, -1 if none */
    char *implicit; /* per value: read by a subgraph (by name) */
    char *dead;     /* per node: removed */
    int n_new;      /* values appended */
};

/* Recount readers and producers of every value over the live nodes. */
void fy__opt_recount(fy__opt *o);
/* The constant tensor of value vid, or NULL. */
const fy_tensor *fy__opt_cval(const fy__opt *o, int vid);
/* n is the default-domain op `op`. */
int fy__opt_is_op(const fy__node *n, const char *op);
/* The input of binary node n that is not vid (n's other operand); -2 if n does not
 * read vid once as one of exactly two inputs. */
int fy__opt_other_input(const fy__node *n, int vid);
/* The node reading vid if it is vid's only reader (not a graph output, not read
 * by a subgraph, not read twice by one node); else -1. */
int fy__opt_sole_reader(const fy__opt *o, int vid);
/* Live producer of vid (its index in *idx), or NULL. */
const fy__node *fy__opt_producer(const fy__opt *o, int vid, int *idx);
/* Make node i a new node of op (domain), inputs ins[0..n_in), one output, the
 * attributes of attrs_from plus room for `extra`; NULL when out of memory or the
 * op has no kernel. Then fy__opt_rewired(o, i) records its reads and output. */
fy__node *fy__opt_rewrite(fy__opt *o, int i, const char *domain, const char *op, int n_in,
                          const int *ins, int out, const fy__node *attrs_from, int extra);
void fy__opt_rewired(fy__opt *o, int i);
/* Mark node i removed. */
void fy__opt_kill(fy__opt *o, int i);
/* If vid's only reader is an activation the fused ops take (fused.h), its name,
 * node index (*idx) and parameters; else NULL. */
const char *fy__opt_activation_of(const fy__opt *o, int vid, int *idx, float *alpha, float *beta);
/* Add the activation attributes to a node rewritten with room for 3 more. */
void fy__opt_set_act(fy__node *n, const char *act, float alpha, float beta);

/* optimize_quant.c: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add]
 * chains (ferry compress --quantize int8-dynamic) -> ai.ferry.DynQMatMul. */
int fy__opt_pass_dynq(fy__opt *o, fy__opt_stats *st);

/* optimize_quant.c: [QuantizeLinear ->] MatMulInteger -> Cast -> Mul [-> Add]
 * [-> activation] (ferry compress --quantize int8) -> ai.ferry.QMatMul. */
int fy__opt_pass_qmatmul(fy__opt *o, fy__opt_stats *st);

/* A new constant value owning t (moved in; freed on failure); its id, or a
 * negative error. */
int fy__opt_add_const(fy__opt *o, fy_tensor *t, const char *what);

/* optimize_pool.c: the MaxPool that alone reads n's output, when the fused pool
 * kernels take it (2-D, no pads, no dilations, floor rounding, no Indices
 * output): its node index, with its kernel and strides ({1, 1} when absent);
 * -1 when there is none. */
int fy__opt_pool_after(const fy__opt *o, const fy__node *n, const int64_t **kernel,
                       const int64_t **strides);

/* optimize_qpool.c: QLinearConv + MaxPool [+ Flatten] -> ai.ferry.QConvPool; a
 * MatMulInteger reading its flattened output gets its constant weight's rows in
 * the fused node's channels-last order. */
int fy__opt_pass_qconv_pool(fy__opt *o, fy__opt_stats *st);

/* optimize_pool.c: Conv/FusedConv (no residual, few taps) + MaxPool (no pads)
 * -> ai.ferry.FusedConvPool. */
int fy__opt_pass_conv_pool(fy__opt *o, fy__opt_stats *st);

#endif
