/* SPDX-License-Identifier: MIT */
/* Model compression: pruning, int8 quantization, fp16/bf16 weight storage and
 * weight sharing, each rewriting an ONNX model into another standard ONNX model,
 * plus the measurements (size, non-zeros, speed, accuracy) that show what a
 * compression costs and saves. See docs/compress.md. */
#ifndef FERRY_COMPRESS_H
#define FERRY_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/dataset.h"
#include "ferry/error.h"
#include "ferry/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fy_quant_mode {
    FY_QUANT_NONE = 0,
    FY_QUANT_INT8 = 1,         /* static: calibrated activation ranges (needs calibration data) */
    FY_QUANT_INT8_DYNAMIC = 2, /* activation ranges computed per run (DynamicQuantizeLinear) */
    FY_QUANT_FP16 = 3,         /* weights stored as float16, Cast to float32 in the graph */
    FY_QUANT_BF16 = 4,         /* same with bfloat16 */
} fy_quant_mode;

typedef enum fy_calib_method {
    FY_CALIB_MINMAX = 0,     /* the observed minimum and maximum */
    FY_CALIB_PERCENTILE = 1, /* clip at the 0.01% / 99.99% percentiles */
    FY_CALIB_ENTROPY = 2,    /* clip where KL(P || Q) of the histogram is smallest */
} fy_calib_method;

#define FY_COMPRESS_MAX_EXCLUDE 256
#define FY_SHARE_MAX_BITS 8       /* indices are stored as uint8 */
#define FY_KMEANS_MAX_ITERS 64    /* Lloyd iterations per layer, at most */
#define FY_CALIB_MAX_SAMPLES 4096 /* calibration samples used, at most */

/* What to do. All-zero means nothing (the model is copied unchanged). The
 * methods apply in order: pruning (per-layer, global, structured), then one of
 * quantization or weight sharing (not both). */
typedef struct fy_compress_opts {
    double prune;            /* > 0: per layer, keep |w| / max|w| > prune; in (0, 1) */
    double prune_global;     /* > 0: zero the smallest |w| over all layers to this sparsity */
    double prune_structured; /* > 0: remove this fraction of output channels/neurons */
    int n_exclude;
    const char *const *exclude; /* node or weight names left untouched */
    fy_quant_mode quantize;
    fy_calib_method calibrate;
    const fy_dataset *calibration; /* samples for FY_QUANT_INT8 (uint8, scaled by input_scale) */
    int64_t calibration_limit;     /* 0: min(count, 512) */
    float input_scale;             /* 0: 1/255 */
    int int8_min_k; /* int8: Conv layers with C*kh*kw below this stay float; -1: none; 0: below 32
                       unless ferry's direct int8 Conv+MaxPool kernel takes them */
    int share_bits; /* > 0: k-means into 2^share_bits values per layer */
    uint64_t seed;                 /* k-means++ seed; 0 means 1 */
} fy_compress_opts;

/* What happened to one layer (a Conv, Gemm or MatMul with a constant weight). */
typedef struct fy_compress_layer {
    char name[128]; /* node name, or its weight's name when the node has none */
    char op[32];
    char method[96]; /* "prune(r=0.1) int8" etc.; "excluded" or "" if untouched */
    int64_t params_before, params_after;   /* weight elements */
    int64_t nonzero_before, nonzero_after; /* non-zero weight elements (after: as decoded) */
    double max_abs_err;                    /* max |w - decoded w'| over kept elements */
} fy_compress_layer;

#define FY_COMPRESS_MAX_LAYERS 512

typedef struct fy_compress_result {
    int n_layers; /* layers found (at most FY_COMPRESS_MAX_LAYERS are described) */
    fy_compress_layer layers[FY_COMPRESS_MAX_LAYERS];
    int n_methods;
    char methods[8][64]; /* "prune", "prune-global", "prune-structured", "int8", ... */
} fy_compress_result;

/* Compress the ONNX model in buf (len bytes) into new ONNX bytes *out (malloc'd
 * with fy's allocator; free with fy_compress_free_buf). res (may be NULL) gets
 * the per-layer account. Models with external data are FY_EUNSUPPORTED. Nothing
 * is written anywhere: the caller decides where the bytes go. */
int fy_compress_model(const void *buf, size_t len, const fy_compress_opts *opts, void **out,
                      size_t *out_len, fy_compress_result *res, fy_diag *d);
void fy_compress_free_buf(void *p);

/* Size figures of a model: elements in all initializers and how many of them are
 * non-zero (a weight stored as indices into a codebook counts as its decoded
 * values; int8 zeros are zeros). */
typedef struct fy_model_counts {
    int64_t params;
    int64_t nonzero;
} fy_model_counts;
int fy_compress_count(const fy_model *m, fy_model_counts *out);

/* Speed of models with one input each, in process: median latency of repeated
 * runs at batch 1 and 32 (float32 inputs taken from ds when given, else zeros
 * of the input's dtype), the n models' runs interleaved so that a changing load
 * on the machine affects them alike. runs <= 0 means 20 at batch 1 and 10 at
 * batch 32. threads: as fy_session_opts.threads (0 = every CPU). out[i] gets
 * model i's figures. n is 1 to 8. */
typedef struct fy_speed {
    double latency_b1_ms, latency_b32_ms; /* medians */
    double throughput_b1, throughput_b32; /* items per second from the medians */
} fy_speed;
int fy_compress_speed(const fy_model *const *m, int n, const fy_dataset *ds, float input_scale,
                      int runs, int threads, fy_speed *out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
