/* SPDX-License-Identifier: MIT */
/* Loading ONNX models and describing them (inputs, outputs, ops, parameters). */
#ifndef FERRY_MODEL_H
#define FERRY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded model: its graph with weights. Thread safety: immutable once loaded;
 * any number of threads and sessions may share one. */
typedef struct fy_model fy_model;

/* Ceilings for loading; all-zero options mean these defaults. */
#define FY_MODEL_MAX_BYTES ((size_t)2 << 30) /* protobuf's own 2 GiB message limit */
#define FY_ONNX_MAX_DEPTH 64                 /* nesting of protobuf messages */

typedef struct fy_load_opts {
    size_t max_bytes; /* model file plus external data; 0 = FY_MODEL_MAX_BYTES */
} fy_load_opts;

/* Load an ONNX model file. External data files are read from the model's own
 * folder only. On failure returns a negative code, fills d with what is wrong
 * (naming the node or field) and leaves *out untouched. Caller frees with
 * fy_model_free. */
int fy_model_load(fy_model **out, const char *path, const fy_load_opts *opts, fy_diag *d);
/* Same, from bytes in memory. base_dir is where external data may live (NULL:
 * external data is refused). The buffer is not kept. */
int fy_model_load_buffer(fy_model **out, const void *buf, size_t len, const char *base_dir,
                         const fy_load_opts *opts, fy_diag *d);
void fy_model_free(fy_model *m); /* NULL is a no-op */

/* One graph input or output as declared. dims[i] is -1 for a symbolic or unknown
 * dimension, whose name (if any) is in dim_names[i]. rank is -1 if undeclared.
 * Strings are borrowed from the model. */
typedef struct fy_io_desc {
    const char *name;
    fy_dtype dtype;
    int rank;
    int64_t dims[FY_MAX_RANK];
    const char *dim_names[FY_MAX_RANK];
} fy_io_desc;

int fy_model_n_inputs(const fy_model *m);
int fy_model_n_outputs(const fy_model *m);
/* i in [0, n): fills out; FY_EINVAL if i is out of range. */
int fy_model_input(const fy_model *m, int i, fy_io_desc *out);
int fy_model_output(const fy_model *m, int i, fy_io_desc *out);

typedef struct fy_model_info {
    int64_t ir_version;
    int64_t opset; /* of the default (ai.onnx) domain */
    const char *producer_name;    /* borrowed; "" if absent */
    const char *producer_version; /* borrowed */
    const char *graph_name;       /* borrowed */
    int64_t n_nodes;
    int64_t n_initializers;
    int64_t n_params;      /* elements in all initializers */
    int64_t n_param_bytes; /* bytes in all initializers */
    int64_t file_bytes;    /* size of the model's bytes (file or buffer) */
} fy_model_info;

void fy_model_get_info(const fy_model *m, fy_model_info *out);

/* Calls fn once per distinct (domain, op) in the top-level graph with its count,
 * in order of first appearance. supported is 1 if ferry has a kernel for it.
 * Linear in the node count. Returns FY_OK, or FY_ENOMEM (having reported nothing). */
int fy_model_each_op(const fy_model *m,
                      void (*fn)(const char *domain, const char *op, int count, int supported,
                                 void *ctx),
                      void *ctx);

/* Read a tensor file: .npy (NumPy), .pb (ONNX TensorProto) or .json (nested
 * arrays of numbers, float32 unless dtype is given). Result is owned by out. */
int fy_tensor_read_file(fy_tensor *out, const char *path, fy_dtype json_dtype, fy_diag *d);
/* Parse an ONNX TensorProto from bytes. */
int fy_tensor_from_onnx_pb(fy_tensor *out, const void *buf, size_t len, fy_diag *d);
/* Write .npy (little-endian, C order). */
int fy_tensor_write_npy(const fy_tensor *t, const char *path, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
