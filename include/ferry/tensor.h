/* SPDX-License-Identifier: MIT */
/* Tensors: a dtype, a shape and a buffer. The unit of data every ferry API passes. */
#ifndef FERRY_TENSOR_H
#define FERRY_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FY_MAX_RANK 8
/* Ceiling on one tensor's buffer: shapes in model files and requests are hostile,
 * so anything larger is refused with FY_ELIMIT before allocating. */
#define FY_TENSOR_MAX_BYTES ((size_t)1 << 33)

/* Values equal ONNX TensorProto.DataType, so conversion is a cast. */
typedef enum fy_dtype {
    FY_DTYPE_UNDEFINED = 0,
    FY_DTYPE_F32 = 1,
    FY_DTYPE_U8 = 2,
    FY_DTYPE_I8 = 3,
    FY_DTYPE_U16 = 4,
    FY_DTYPE_I16 = 5,
    FY_DTYPE_I32 = 6,
    FY_DTYPE_I64 = 7,
    FY_DTYPE_STRING = 8, /* not supported by kernels */
    FY_DTYPE_BOOL = 9,   /* one byte, 0 or 1 */
    FY_DTYPE_F16 = 10,
    FY_DTYPE_F64 = 11,
    FY_DTYPE_U32 = 12,
    FY_DTYPE_U64 = 13,
    FY_DTYPE_BF16 = 16,
} fy_dtype;

/* A dense, row-major tensor. `data` is owned by the tensor when `owns` is set
 * (fy_tensor_deinit frees it), otherwise it is a view of memory someone else owns.
 * A tensor with zero elements still has a non-NULL data pointer once allocated.
 * Thread safety: plain data; concurrent reads are safe. */
typedef struct fy_tensor {
    fy_dtype dtype;
    int rank;
    int64_t dims[FY_MAX_RANK];
    void *data;
    int owns;
} fy_tensor;

/* Size in bytes of one element; 0 for UNDEFINED, STRING and unknown values. */
size_t fy_dtype_size(fy_dtype dt);
/* ONNX-style lower-case name ("float32", "int64", ...); "undefined" if unknown. */
const char *fy_dtype_name(fy_dtype dt);
/* Parse a name as printed by fy_dtype_name (also "float", "double", "half");
 * returns FY_DTYPE_UNDEFINED if unknown. */
fy_dtype fy_dtype_from_name(const char *name);

/* Number of elements (1 for rank 0). Shapes are validated on allocation, so this
 * never overflows for a tensor that came through fy_tensor_alloc. */
int64_t fy_tensor_numel(const fy_tensor *t);
size_t fy_tensor_nbytes(const fy_tensor *t);

/* Checks dims (non-negative, rank <= FY_MAX_RANK, byte size without overflow and
 * under FY_TENSOR_MAX_BYTES) and computes the byte size. */
int fy_shape_nbytes(fy_dtype dt, int rank, const int64_t *dims, size_t *out, fy_diag *d);

/* Set t to an owned, zero-filled tensor of that shape. t's previous contents are
 * overwritten without being freed. Errors: FY_EINVAL (bad dims/dtype), FY_ELIMIT, FY_ENOMEM. */
int fy_tensor_alloc(fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims, fy_diag *d);
/* Frees data if owned and zeroes t. NULL is a no-op. */
void fy_tensor_deinit(fy_tensor *t);
/* Deep copy into dst (owned). */
int fy_tensor_copy(fy_tensor *dst, const fy_tensor *src, fy_diag *d);
/* "float32[1,3,224,224]" into buf; returns buf. */
const char *fy_tensor_describe(const fy_tensor *t, char *buf, size_t n);

/* Half and bfloat16 conversions (round to nearest even). */
float fy_f16_to_f32(uint16_t h);
uint16_t fy_f32_to_f16(float f);
float fy_bf16_to_f32(uint16_t h);
uint16_t fy_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
