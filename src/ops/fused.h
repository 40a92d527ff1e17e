/* SPDX-License-Identifier: MIT */
/* Fused operators of domain "ai.ferry" that the graph passes (src/engine/optimize.c)
 * put in place of chains of ONNX nodes. They are not looked up by model files: a
 * model naming them is refused like any unknown op; only the passes create them.
 *
 *   FusedConv(X, W, B?, Z?)    Y = act(Conv(X, W, B) + Z)     Conv's attributes
 *   FusedGemm(A, B, C?)        Y = act(Gemm(A, B, C))         Gemm's attributes
 *   FusedMatMul(A, B, bias?, Z?)  Y = act(MatMul(A, B) + bias + Z)
 *   Attention(Q, Kt, V)        Y = Softmax(scale(Q @ Kt), axis=-1) @ V
 *   FusedConvPool(X, W, B?)    Y = MaxPool(act(Conv(X, W, B)))  Conv's attributes,
 *                              plus the pool's "pool_kernel_shape", "pool_strides"
 *                              (no pool pads or dilations, floor rounding)
 *   QConvPool(X, xs, xzp, W, ws, wzp, ys, yzp, B?)  Y = MaxPool(QLinearConv(...)):
 *                              QLinearConv's attributes plus the pool's as for
 *                              FusedConvPool, "flatten", and "channels_last" (Y as
 *                              [N, oh x ow x M]; src/ops/fused_qconvpool.c)
 *   QMatMul(A, Wq, a_zp?, S, B?, x_scale?)  [A = QuantizeLinear(A, x_scale, a_zp) when
 *                              x_scale is given;] Y = act(Cast<float>(MatMulInteger(A,
 *                              Wq, a_zp)) * S + B) (the static int8 chain of ferry
 *                              compress; Wq int8)
 *   DynQMatMul(X, Wq, S, B?, Z?)  xq, xs, xzp = DynamicQuantizeLinear(X);
 *                              Y = act(Cast<float>(MatMulInteger(xq, Wq, xzp)) * (xs * S) + B + Z)
 *                              (the int8-dynamic chain of ferry compress; Wq int8)
 *
 * act is the string attribute "activation" ("" or absent: none; Relu, LeakyRelu,
 * Clip, Sigmoid, Tanh, Gelu, GeluTanh) with floats "activation_alpha" (LeakyRelu
 * slope, Clip min) and "activation_beta" (Clip max). Attention's "scale" is
 * applied as Div when the int "scale_div" is 1, as Mul when 0 (exactly the
 * operation the model had), not at all when "scale" is absent. Its int "layout"
 * is 0 (absent) for Q [.., S, D], Kt [.., D, T], V [.., T, Dv] -> Y [.., S, Dv],
 * or 1 when the pass took in the Transposes (perm [0, 2, 1, 3]) of Q, V and Y
 * that multi-head attention exporters write: Q [B, S, H, D], V [B, T, H, Dv] ->
 * Y [B, S, H, Dv], Kt still [B, H, D, T] (Y = swap12(Attention(swap12(Q), Kt,
 * swap12(V)))). */
#ifndef FERRY_OPS_FUSED_H
#define FERRY_OPS_FUSED_H

#include "fast/fast.h"
#include "ops.h"

#define FY_FUSED_DOMAIN "ai.ferry"

/* Reference implementations (composing the reference kernels of the chain): the
 * oracle, and what runs in reference mode. Registered in ops.c like ops/ref/. */
extern const fy__op_def fy__ops_fused[];
/* Fast paths (fused_fast.c): packed weights, SGEMM with the fused epilogue. */
extern const fy__op_fast fy__ops_fast_fused[];

/* FusedConvPool (fused_convpool.c): the reference, and the fast path with its
 * prepare (weights packed for the direct kernel, src/ops/fast/dconv.h). */
int fy__fused_conv_pool_ref(fy__op_ctx *c);
/* The stand-in MaxPool node of a fused conv+pool node (FusedConvPool, QConvPool):
 * its name and opset, the pool attributes under MaxPool's names (attrs holds 2). */
fy__node fy__fused_pool_node(const fy__node *n, fy__attr *attrs);
/* Their pool geometry over a conv output of oh x ow (pool_kernel_shape,
 * pool_strides); 0 if absent or not the kind the passes make. */
struct fy__pool2;
int fy__fused_pool_geometry(const fy__node *n, int64_t oh, int64_t ow, struct fy__pool2 *p);
int fy__fused_conv_pool_fast(fy__op_ctx *c);
int fy__fused_conv_pool_prep(const fy__op_prep *p, void **state);
void fy__fused_conv_pool_release(void *state);

/* QConvPool (fused_qconvpool.c): the reference, and the fast path with its prepare
 * (src/ops/fast/qdconv.h). */
int fy__qconv_pool_ref(fy__op_ctx *c);
int fy__qconv_pool_fast(fy__op_ctx *c);
int fy__qconv_pool_prep(const fy__op_prep *p, void **state);
void fy__qconv_pool_release(void *state);

/* Activation of a fused node from its attributes (fast.h's fy__act); -1 for an
 * unknown name. */
int fy__fused_act(const fy__node *n, float *alpha, float *beta);
/* Apply it in place on n floats with the reference kernels' arithmetic (double,
 * rounded once), so the reference fused ops equal the unfused chain bit for bit. */
void fy__fused_act_ref(fy__act act, float alpha, float beta, float *y, int64_t n);

#endif
