/* SPDX-License-Identifier: MIT */
/* Graph passes run at session creation on a session-owned copy of the model's
 * top-level graph (the loaded model stays immutable): constant folding, Identity
 * and dead-node removal, Conv+BatchNormalization folding, recognition of LayerNorm,
 * GELU and attention subgraphs, and Conv/Gemm/MatMul + bias + residual + activation
 * fusion into ai.ferry ops (src/ops/fused.c). docs/DESIGN.md, "Engine optimization". */
#ifndef FERRY_OPTIMIZE_H
#define FERRY_OPTIMIZE_H

#include "../graph/graph.h"

/* What the passes did, for tests and `ferry perf`. */
typedef struct fy__opt_stats {
    int nodes_before, nodes_after;
    int folded;    /* nodes replaced by their constant result */
    int identity;  /* Identity nodes bypassed */
    int dead;      /* nodes whose results nobody reads */
    int conv_bn;   /* BatchNormalization folded into the Conv before it */
    int layernorm; /* ReduceMean/Sub/Pow/.../Add decompositions -> LayerNormalization */
    int gelu;      /* erf and tanh GELU forms -> Gelu */
    int attention; /* MatMul/scale/Softmax/MatMul -> ai.ferry.Attention */
    int fused;     /* Conv/Gemm/MatMul with bias, residual or activation -> ai.ferry.Fused* */
    int dynq;      /* dynamic int8 MatMulInteger chains -> ai.ferry.DynQMatMul */
    int conv_pool; /* Conv [+ activation] + MaxPool -> ai.ferry.FusedConvPool */
    int qconv_pool; /* QLinearConv + MaxPool -> ai.ferry.QConvPool */
    int qmatmul;    /* static int8 MatMulInteger chains -> ai.ferry.QMatMul */
} fy__opt_stats;

/* Passes to run; FY_OPT_ALL is the default. */
enum {
    FY_OPT_FOLD = 1 << 0, /* constant folding + Identity removal */
    FY_OPT_CONV_BN = 1 << 1,
    FY_OPT_PATTERNS = 1 << 2, /* LayerNorm, GELU, attention */
    FY_OPT_FUSE = 1 << 3,     /* bias/residual/activation fusion */
    FY_OPT_DEAD = 1 << 4,
    FY_OPT_ALL = 0x1f,
};

typedef struct fy__opt fy__opt;

/* Build the optimized copy of src (a top-level graph whose nodes all have kernels).
 * Values keep their ids; values made by the passes are appended. On success *out
 * owns the copy (fy__opt_graph lends it); FY_ENOMEM otherwise. */
int fy__optimize(fy__opt **out, const fy__graph *src, unsigned passes, fy__opt_stats *stats,
                 fy_diag *d);
const fy__graph *fy__opt_graph(const fy__opt *o);
void fy__opt_free(fy__opt *o); /* NULL is a no-op */

#endif
