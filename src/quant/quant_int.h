/* SPDX-License-Identifier: MIT */
/* Private to src/quant: the decoded ONNX ModelProto being rewritten, with helpers
 * to read and replace initializers and to add nodes, and the compression passes. */
#ifndef FERRY_QUANT_INT_H
#define FERRY_QUANT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/compress.h"
#include "onnx.pb-c.h"

/* The model under rewrite. mp is decoded with protobuf-c through fy's
 * allocator, so every piece added later must come from fy__malloc too:
 * onnx__model_proto__free_unpacked frees them all. */
typedef struct qmodel {
    Onnx__ModelProto *mp;
    Onnx__GraphProto *g; /* mp->graph */
    uint64_t uniq;       /* counter for fresh value names */
    fy_diag *d;
} qmodel;

/* A layer: a node whose weight is a float32 initializer. */
typedef struct qlayer {
    int node;      /* index in g->node */
    int init;      /* initializer index of the weight */
    int bias_init; /* initializer index of the bias, -1 if none */
    int kind;      /* QL_CONV, QL_GEMM, QL_MATMUL */
    int out_axis;  /* the weight's axis of output channels */
    int excluded;
    fy_compress_layer *rep; /* its report row, NULL past FY_COMPRESS_MAX_LAYERS */
} qlayer;

enum { QL_CONV = 1, QL_GEMM = 2, QL_MATMUL = 3 };

/* proto.c */
int fy__q_open(qmodel *q, const void *buf, size_t len, fy_diag *d);
void fy__q_close(qmodel *q);
int fy__q_pack(qmodel *q, void **out, size_t *out_len);
int fy__q_find_init(const qmodel *q, const char *name);
/* Number of nodes reading the value (inputs of top-level nodes) plus 1 if it is a
 * graph output. */
int fy__q_uses(const qmodel *q, const char *name);
/* Float32 copy of an initializer (fy__malloc'd) with its dims; FY_EUNSUPPORTED
 * if it is not float32 or lives in external data. */
int fy__q_init_f32(const qmodel *q, int idx, float **data, int64_t *n, int *rank, int64_t *dims);
/* Replace initializer idx with raw data of that dtype and shape (copied). */
int fy__q_set_init(qmodel *q, int idx, int dtype, int rank, const int64_t *dims, const void *data);
/* Append an initializer named name; returns its index or a negative code. */
int fy__q_add_init(qmodel *q, const char *name, int dtype, int rank, const int64_t *dims,
                   const void *data);
/* Remove initializer idx (and its graph.input entry, if listed there). */
void fy__q_drop_init(qmodel *q, int idx);
/* A fresh value name "base_suffix" (made unique with a counter if taken). */
int fy__q_name(qmodel *q, const char *base, const char *suffix, char *out, size_t n);
/* Insert a node before position at (returns its index). inputs may hold "" for
 * omitted optional inputs. */
int fy__q_add_node(qmodel *q, int at, const char *op, const char *name, int n_in,
                   const char *const *in, int n_out, const char *const *out);
int fy__q_attr_int(qmodel *q, int node, const char *name, int64_t v);
int64_t fy__q_get_int(const Onnx__NodeProto *n, const char *name, int64_t def);
float fy__q_get_float(const Onnx__NodeProto *n, const char *name, float def);
int fy__q_copy_attrs(qmodel *q, int dst, const Onnx__NodeProto *src, const char *const *skip);
/* Remove node idx. */
void fy__q_drop_node(qmodel *q, int idx);
/* Drop declared value_info for a value (its shape changed). */
void fy__q_forget_shape(qmodel *q, const char *name);
int64_t fy__q_opset(const qmodel *q);

/* layers.c: find Conv/Gemm/MatMul layers with constant float weights. */
int fy__q_layers(qmodel *q, const fy_compress_opts *o, fy_compress_result *res, qlayer **out,
                 int *n_out);

/* prune.c */
int fy__prune_layers(qmodel *q, qlayer *L, int n, double r);
int fy__prune_global(qmodel *q, qlayer *L, int n, double sparsity);
int fy__prune_structured(qmodel *q, qlayer *L, int n, double frac);
/* Keep mask for per-layer magnitude pruning: 1 where |w| / max|w| > r. */
void fy__prune_mask(const float *w, int64_t n, double r, uint8_t *keep);

/* quantize.c */
typedef struct fy__qrange {
    float min, max;
} fy__qrange;
/* Symmetric per-channel int8 of w (channels along axis 0 after reshaping to
 * [channels, per]): scale[c] = max|w_c| / 127 (1 if all zero). */
void fy__quant_weights(const float *w, int64_t channels, int64_t per, int8_t *q, float *scale);
/* uint8 scale and zero point for a float range (the range is widened to hold 0). */
void fy__quant_params(float mn, float mx, float *scale, uint8_t *zp);
/* ranges[i]: layer i's input; ranges[n + i]: a Conv layer's output (fy__conv_out). */
int fy__quantize_int8(qmodel *q, qlayer *L, int n, const fy_compress_opts *o, fy__qrange *ranges);
int fy__quantize_half(qmodel *q, qlayer *L, int n, int bf16);

/* calib.c: the model's one input for samples [start, start + n) of ds (float32:
 * uint8 times scale), or zeros of the input's dtype when ds is NULL. */
int fy__fill_batch(const fy_model *m, const fy_dataset *ds, int64_t start, int64_t n, float scale,
                   fy_tensor *x, fy_diag *d);
/* calib.c: the range of each named value (NULL entries skipped) over the
 * calibration data. */
int fy__calibrate(const qmodel *q, const char *const *probe, int n, const fy_compress_opts *o,
                  fy__qrange *ranges, fy_diag *d);
/* quantize.c: the value a Conv layer's QLinearConv will produce: the output of
 * a ReLU that is its only consumer (folded into the uint8 output), else its own. */
const char *fy__conv_out(const qmodel *q, const qlayer *l, int *relu_node);
/* Range from a histogram of values in [lo, hi] (nbins bins), by method. */
void fy__calib_pick(const double *hist, int nbins, float lo, float hi, fy_calib_method m,
                    float *out_min, float *out_max);

/* share.c */
/* 1-D k-means of n values into at most k centroids (k-means++ from seed, then at
 * most FY_KMEANS_MAX_ITERS Lloyd iterations). Writes the sorted codebook (*k_used
 * entries) and each value's index. */
int fy__kmeans(const float *x, int64_t n, int k, uint64_t seed, float *codebook, int *k_used,
               uint8_t *idx);
int fy__share_weights(qmodel *q, qlayer *L, int n, int bits, uint64_t seed);

#endif
