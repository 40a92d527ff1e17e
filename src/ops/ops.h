/* SPDX-License-Identifier: MIT */
/* Kernel interface: how the engine calls one operator, and the helpers every
 * kernel shares (element access across dtypes, broadcasting, errors). */
#ifndef FERRY_OPS_H
#define FERRY_OPS_H

#include <stdint.h>

#include "../graph/graph.h"
#include "ferry/engine.h"
#include "ferry/error.h"
#include "ferry/tensor.h"

/* One call of one node. Inputs are borrowed; in[i] is NULL when optional input i
 * is omitted (or i >= the node's input count, up to n_in). Outputs arrive zeroed
 * (rank 0, no data); the kernel must fy_tensor_alloc each output it produces
 * (the engine frees them). out[i] for an omitted optional output may be left empty. */
typedef struct fy__op_ctx {
    const fy__node *node;
    int opset; /* opset of the node's domain in this model: version-dependent behaviour */
    int n_in;
    const fy_tensor *const *in;
    int n_out;
    fy_tensor *out;
    fy_diag *diag;
    void *engine; /* for control-flow ops (If, Loop, Scan) that run subgraphs */
    void *state;  /* what the op's prepare made for this node; NULL when it made none or
                     was not called (subgraph nodes, unit tests): kernels must cope */
    fy_pool *pool; /* threads for the kernel (fy_pool_run); NULL runs on the caller */
} fy__op_ctx;

typedef int (*fy__kernel_fn)(fy__op_ctx *c);

/* What prepare sees of a node once, at session creation. */
typedef struct fy__op_prep {
    const fy__node *node;
    int opset;
    int n_in;
    const fy_tensor *const *consts;     /* consts[i]: input i when it is a constant
                                           initializer (fixed for the session), else NULL */
    const fy__value_info *const *infos; /* infos[i]: declared type of input i, NULL if omitted */
    fy_pool *pool;                      /* the pool the node will run on (may be NULL) */
    fy_diag *diag;
} fy__op_prep;

/* Make per-node state (pre-packed weights, chosen algorithm) into *state, or leave
 * it NULL when there is nothing to prepare. Returns FY_OK or an error (FY_ENOMEM);
 * cases the kernel does not speed up are not errors: the run call reports bad input. */
typedef int (*fy__prepare_fn)(const fy__op_prep *p, void **state);

/* One registered operator. Registered per file in NULL-name-terminated tables. */
typedef struct fy__op_def {
    const char *name;   /* ONNX op_type, e.g. "Conv" */
    const char *domain; /* "" for ai.onnx, "com.microsoft" ... */
    fy__kernel_fn run;
} fy__op_def;

/* A fast kernel: an op plus optional per-node preparation. A separate type so the
 * reference tables keep their three-field entries. */
typedef struct fy__op_fast {
    fy__op_def op;                /* what fy__op_find returns a pointer to */
    fy__prepare_fn prepare;       /* optional */
    void (*release)(void *state); /* frees what prepare made; required with prepare */
} fy__op_fast;

/* Tables, one per source file under ops/ref/. */
extern const fy__op_def fy__ops_elementwise[]; /* ref/elementwise.c: unary, binary, logic, Where, Cast, Clip ... */
extern const fy__op_def fy__ops_nn[];          /* ref/nn.c: Conv, ConvTranspose, pools, norms, Gemm, MatMul, Resize, Pad ... */
extern const fy__op_def fy__ops_shape[];       /* ref/shape.c: Reshape, Transpose, Concat, Slice, Gather ... */
extern const fy__op_def fy__ops_reduce[];      /* ref/reduce.c: Reduce*, softmax family, ArgMax, TopK, CumSum, losses ... */
extern const fy__op_def fy__ops_quant[];       /* ref/quant.c: QuantizeLinear, QLinearConv, MatMulInteger ... */
extern const fy__op_def fy__ops_control[];     /* ref/control.c: If, Loop, Scan (engine-assisted) */
extern const fy__op_def fy__ops_vision[];      /* ref/vision.c: NonMaxSuppression, RoiAlign, GridSample */
extern const fy__op_def fy__ops_signal[];      /* ref/signal.c: DFT, STFT, windows, MelWeightMatrix */
extern const fy__op_def fy__ops_training[];    /* ref/training.c: Adagrad, Adam, Momentum */

/* Fast kernels (ops/fast/): same ops as reference ones, preferred by fy__op_find.
 * Each handles the common cases quickly and calls the reference kernel for the rest. */
extern const fy__op_fast fy__ops_fast_nn[];    /* fast/nn.c: Conv, Gemm, MatMul */
extern const fy__op_fast fy__ops_fast_quant[]; /* fast/quant.c: int8 MatMul, dynamic quantization */
extern const fy__op_fast fy__ops_fast_pool[];  /* fast/pool.c: MaxPool */
extern const fy__op_fast fy__ops_fast_norm[];  /* fast/norm.c: LayerNormalization */
extern const fy__op_fast fy__ops_fast_shape[]; /* fast/shape.c: Transpose */

/* Look up an op, preferring a fast kernel; NULL if ferry has no kernel for it. */
const fy__op_def *fy__op_find(const char *domain, const char *op_type);
/* The fast entry def belongs to (for its prepare/release), NULL for a reference kernel. */
const fy__op_fast *fy__op_fast_of(const fy__op_def *def);
/* The reference kernel of an op (the oracle), NULL if none. */
const fy__op_def *fy__op_find_ref(const char *domain, const char *op_type);
/* Every op (its reference kernel), for `ferry conformance` and docs (callback per op). */
void fy__op_each(void (*fn)(const fy__op_def *def, void *ctx), void *ctx);

/* Fill c->diag with "node NAME (OP): <message>" and return code. Use for every
 * failure so the user learns which node and why. */
int fy__op_fail(fy__op_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shorthand checks: input i present (else FY_EINVAL naming it). */
int fy__op_need(fy__op_ctx *c, int i);

/* ---- dtype classes ---- */
int fy__dtype_is_float(fy_dtype dt); /* F16, BF16, F32, F64 */
int fy__dtype_is_int(fy_dtype dt);   /* all signed and unsigned integers (not BOOL) */
int fy__dtype_is_signed(fy_dtype dt);

/* ---- element access by linear index, any numeric dtype (slow, simple: ref kernels) ---- */
double fy__get_f64(const fy_tensor *t, int64_t i);
/* Integers: truncates toward zero, saturates to int64 (NaN gives 0), then wraps to
 * the narrower type (300.0 into int8 gives 44). */
void fy__set_f64(fy_tensor *t, int64_t i, double v);
/* uint64 values above INT64_MAX come back negative: compare uint64 data directly. */
int64_t fy__get_i64(const fy_tensor *t, int64_t i);
void fy__set_i64(fy_tensor *t, int64_t i, int64_t v);
/* Copy element si of src into element di of dst; same dtype. */
void fy__copy_elem(fy_tensor *dst, int64_t di, const fy_tensor *src, int64_t si);

/* Optional input i: NULL when the node omits it or has fewer inputs. */
static inline const fy_tensor *fy__op_in(const fy__op_ctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* Product of dims[from..to): for dims of a shape already validated by allocation,
 * so it cannot overflow. */
static inline int64_t fy__dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++)
        p *= dims[i];
    return p;
}

/* Whether output i is present and consumed (an omitted optional output has id -1). */
static inline int fy__op_wants_out(const fy__op_ctx *c, int i)
{
    if (i >= c->n_out)
        return 0;
    const fy__node *n = c->node;
    return !(n->outputs && i < n->n_outputs && n->outputs[i] < 0);
}

/* Element access for reference paths with a float32 branch, so the hot dtype skips
 * the generic conversion call. */
static inline double fy__ld(const fy_tensor *t, int64_t i)
{
    if (t->dtype == FY_DTYPE_F32)
        return ((const float *)t->data)[i];
    return fy__get_f64(t, i);
}

static inline void fy__st(fy_tensor *t, int64_t i, double v)
{
    if (t->dtype == FY_DTYPE_F32)
        ((float *)t->data)[i] = (float)v;
    else
        fy__set_f64(t, i, v);
}

/* Read a 1-D (or scalar) integer tensor (int32/int64) into out[0..max); returns
 * the count, or a negative error (with diag) if it is not integer or too long. */
int fy__read_ints(fy__op_ctx *c, const fy_tensor *t, int64_t *out, int max, const char *what);

/* ---- shapes and broadcasting ---- */
/* Row-major strides of dims. */
void fy__strides(int rank, const int64_t *dims, int64_t *strides);
/* Multidirectional (numpy) broadcast of n shapes into (rank, dims). */
int fy__broadcast(fy__op_ctx *c, int n, const fy_tensor *const *ts, int *rank, int64_t *dims);
/* Strides of t when viewed with the broadcast shape (rank, dims): 0 on broadcast axes. */
void fy__broadcast_strides(const fy_tensor *t, int rank, const int64_t *dims, int64_t *strides);
/* Normalize an axis in [-rank, rank) (or [-rank-1, rank] when extra is 1) to >= 0;
 * negative error with diag if out of range. */
int fy__axis(fy__op_ctx *c, int64_t axis, int rank, int extra);

/* Iterator over all indices of a shape, tracking the offset into up to 4 operands
 * whose strides are given (use broadcast strides for broadcasting). */
#define FY_ITER_MAX_OPS 4
typedef struct fy__iter {
    int rank, n_ops;
    int64_t dims[FY_MAX_RANK];
    int64_t idx[FY_MAX_RANK];
    int64_t strides[FY_ITER_MAX_OPS][FY_MAX_RANK];
    int64_t off[FY_ITER_MAX_OPS];
} fy__iter;
void fy__iter_init(fy__iter *it, int rank, const int64_t *dims, int n_ops,
                   const int64_t (*strides)[FY_MAX_RANK]);
/* Advance to the next index; call numel-1 times after init. */
void fy__iter_next(fy__iter *it);

#endif
