/* SPDX-License-Identifier: MIT */
/* Fast op bodies that fused ops (ai.ferry) reuse with their own epilogue. */
#ifndef FERRY_FAST_OPS_H
#define FERRY_FAST_OPS_H

#include "../ops.h"
#include "fast.h"

/* Run node c as an ONNX Conv (inputs X, W, optional B; its attributes) on the fast
 * path, adding ep's residual (a tensor shaped like Y) and activation; ep->bias is
 * ignored (B is the bias). c->state must be what the fast Conv's prepare made for
 * this node, or NULL. Returns 1 when it ran, with the result code in *rc, or 0 when
 * the fast path does not take this case (nothing written: run the reference). */
int fy__fast_conv(fy__op_ctx *c, const fy__epilogue *ep, int *rc);

/* Conv geometry from a node's attributes (group, kernel_shape, strides, dilations,
 * pads, auto_pad) for 2-D NCHW convolutions, any dtype: fy__conv_weights fills the
 * weight part from W [M, C/group, kh, kw], fy__conv_geometry the rest from X.
 * Each returns 1, or 0 for shapes and attributes the fast paths leave to the
 * reference kernel (which reports what is wrong). */
int fy__conv_weights(const fy__node *nd, const fy_tensor *w, fy__conv_shape *s);
int fy__conv_geometry(const fy__node *nd, const fy_tensor *x, fy__conv_shape *s);

#endif
