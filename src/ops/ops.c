/* SPDX-License-Identifier: MIT */
/* Operator registry and the helpers every kernel shares: typed element access,
 * broadcasting, axis checks and error messages that name the node. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "fused.h"
#include "ops.h"

static const fy__op_def *const op_tables[] = {
    fy__ops_elementwise, fy__ops_nn,      fy__ops_shape,  fy__ops_reduce,
    fy__ops_quant,       fy__ops_control, fy__ops_vision, fy__ops_signal,
    fy__ops_training,    fy__ops_fused, /* ai.ferry ops made by the graph passes
                                           (src/engine/optimize.c) */
};

static const fy__op_fast *const fast_tables[] = {fy__ops_fast_nn,    fy__ops_fast_quant,
                                                 fy__ops_fast_pool,  fy__ops_fast_norm,
                                                 fy__ops_fast_shape, fy__ops_fast_fused};
#define N_FAST (sizeof fast_tables / sizeof fast_tables[0])

static int matches(const fy__op_def *d, const char *domain, const char *op_type)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    return strcmp(d->name, op_type) == 0 && strcmp(d->domain, domain) == 0;
}

const fy__op_def *fy__op_find(const char *domain, const char *op_type)
{
    for (size_t t = 0; t < N_FAST; t++)
        for (const fy__op_fast *f = fast_tables[t]; f->op.name; f++)
            if (matches(&f->op, domain, op_type))
                return &f->op;
    return fy__op_find_ref(domain, op_type);
}

const fy__op_def *fy__op_find_ref(const char *domain, const char *op_type)
{
    for (size_t t = 0; t < sizeof op_tables / sizeof op_tables[0]; t++)
        for (const fy__op_def *d = op_tables[t]; d->name; d++)
            if (matches(d, domain, op_type))
                return d;
    return NULL;
}

const fy__op_fast *fy__op_fast_of(const fy__op_def *def)
{
    for (size_t t = 0; t < N_FAST; t++)
        for (const fy__op_fast *f = fast_tables[t]; f->op.name; f++)
            if (&f->op == def)
                return f;
    return NULL;
}

void fy__op_each(void (*fn)(const fy__op_def *def, void *ctx), void *ctx)
{
    for (size_t t = 0; t < sizeof op_tables / sizeof op_tables[0]; t++)
        for (const fy__op_def *d = op_tables[t]; d->name; d++)
            fn(d, ctx);
}

int fy__op_fail(fy__op_ctx *c, int code, const char *fmt, ...)
{
    if (c->diag) {
        int n = snprintf(c->diag->msg, sizeof c->diag->msg, "node '%s' (%s): ", c->node->name,
                         c->node->op_type);
        if (n < 0 || (size_t)n >= sizeof c->diag->msg)
            return code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->diag->msg + n, sizeof c->diag->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

int fy__op_need(fy__op_ctx *c, int i)
{
    if (i < c->n_in && c->in[i])
        return FY_OK;
    return fy__op_fail(c, FY_EINVAL, "required input %d is missing", i);
}

int fy__dtype_is_float(fy_dtype dt)
{
    return dt == FY_DTYPE_F32 || dt == FY_DTYPE_F64 || dt == FY_DTYPE_F16 || dt == FY_DTYPE_BF16;
}

int fy__dtype_is_int(fy_dtype dt)
{
    switch (dt) {
    case FY_DTYPE_U8:
    case FY_DTYPE_I8:
    case FY_DTYPE_U16:
    case FY_DTYPE_I16:
    case FY_DTYPE_I32:
    case FY_DTYPE_I64:
    case FY_DTYPE_U32:
    case FY_DTYPE_U64: return 1;
    default: return 0;
    }
}

int fy__dtype_is_signed(fy_dtype dt)
{
    return dt == FY_DTYPE_I8 || dt == FY_DTYPE_I16 || dt == FY_DTYPE_I32 || dt == FY_DTYPE_I64 ||
           fy__dtype_is_float(dt);
}

double fy__get_f64(const fy_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_F32: return ((const float *)p)[i];
    case FY_DTYPE_F64: return ((const double *)p)[i];
    case FY_DTYPE_F16: return fy_f16_to_f32(((const uint16_t *)p)[i]);
    case FY_DTYPE_BF16: return fy_bf16_to_f32(((const uint16_t *)p)[i]);
    case FY_DTYPE_U8: return ((const uint8_t *)p)[i];
    case FY_DTYPE_I8: return ((const int8_t *)p)[i];
    case FY_DTYPE_U16: return ((const uint16_t *)p)[i];
    case FY_DTYPE_I16: return ((const int16_t *)p)[i];
    case FY_DTYPE_I32: return ((const int32_t *)p)[i];
    case FY_DTYPE_I64: return (double)((const int64_t *)p)[i];
    case FY_DTYPE_U32: return ((const uint32_t *)p)[i];
    case FY_DTYPE_U64: return (double)((const uint64_t *)p)[i];
    case FY_DTYPE_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
    default: return 0.0;
    }
}

/* Float to integer conversion without undefined behaviour: NaN gives 0 and
 * out-of-range values saturate (C leaves both undefined). */
static int64_t f64_to_i64(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static uint64_t f64_to_u64(double v)
{
    if (isnan(v) || v <= -1.0)
        return v <= -1.0 ? (uint64_t)f64_to_i64(v) : 0;
    if (v >= 18446744073709551615.0)
        return UINT64_MAX;
    return (uint64_t)v;
}

void fy__set_f64(fy_tensor *t, int64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case FY_DTYPE_F64: ((double *)p)[i] = v; break;
    case FY_DTYPE_F16: ((uint16_t *)p)[i] = fy_f32_to_f16((float)v); break;
    case FY_DTYPE_BF16: ((uint16_t *)p)[i] = fy_f32_to_bf16((float)v); break;
    case FY_DTYPE_U8: ((uint8_t *)p)[i] = (uint8_t)f64_to_i64(v); break;
    case FY_DTYPE_I8: ((int8_t *)p)[i] = (int8_t)f64_to_i64(v); break;
    case FY_DTYPE_U16: ((uint16_t *)p)[i] = (uint16_t)f64_to_i64(v); break;
    case FY_DTYPE_I16: ((int16_t *)p)[i] = (int16_t)f64_to_i64(v); break;
    case FY_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)f64_to_i64(v); break;
    case FY_DTYPE_I64: ((int64_t *)p)[i] = f64_to_i64(v); break;
    case FY_DTYPE_U32: ((uint32_t *)p)[i] = (uint32_t)f64_to_u64(v); break;
    case FY_DTYPE_U64: ((uint64_t *)p)[i] = f64_to_u64(v); break;
    case FY_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    default: break;
    }
}

int64_t fy__get_i64(const fy_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_U8: return ((const uint8_t *)p)[i];
    case FY_DTYPE_I8: return ((const int8_t *)p)[i];
    case FY_DTYPE_U16: return ((const uint16_t *)p)[i];
    case FY_DTYPE_I16: return ((const int16_t *)p)[i];
    case FY_DTYPE_I32: return ((const int32_t *)p)[i];
    case FY_DTYPE_I64: return ((const int64_t *)p)[i];
    case FY_DTYPE_U32: return ((const uint32_t *)p)[i];
    case FY_DTYPE_U64: return (int64_t)((const uint64_t *)p)[i];
    case FY_DTYPE_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return f64_to_i64(fy__get_f64(t, i));
    }
}

void fy__set_i64(fy_tensor *t, int64_t i, int64_t v)
{
    void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case FY_DTYPE_I8: ((int8_t *)p)[i] = (int8_t)v; break;
    case FY_DTYPE_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case FY_DTYPE_I16: ((int16_t *)p)[i] = (int16_t)v; break;
    case FY_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case FY_DTYPE_I64: ((int64_t *)p)[i] = v; break;
    case FY_DTYPE_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case FY_DTYPE_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    case FY_DTYPE_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    default: fy__set_f64(t, i, (double)v); break;
    }
}

void fy__copy_elem(fy_tensor *dst, int64_t di, const fy_tensor *src, int64_t si)
{
    size_t es = fy_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)di * es, (const char *)src->data + (size_t)si * es, es);
}

int fy__read_ints(fy__op_ctx *c, const fy_tensor *t, int64_t *out, int max, const char *what)
{
    if (t->dtype != FY_DTYPE_I64 && t->dtype != FY_DTYPE_I32)
        return fy__op_fail(c, FY_EINVAL, "%s must be int64 or int32, got %s", what,
                           fy_dtype_name(t->dtype));
    if (t->rank > 1)
        return fy__op_fail(c, FY_EINVAL, "%s must be 1-D, got rank %d", what, t->rank);
    int64_t n = fy_tensor_numel(t);
    if (n > max)
        return fy__op_fail(c, FY_ELIMIT, "%s has %lld elements, at most %d allowed", what,
                           (long long)n, max);
    for (int64_t i = 0; i < n; i++)
        out[i] = fy__get_i64(t, i);
    return (int)n;
}

void fy__strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

int fy__broadcast(fy__op_ctx *c, int n, const fy_tensor *const *ts, int *rank, int64_t *dims)
{
    int r = 0;
    for (int k = 0; k < n; k++)
        if (ts[k] && ts[k]->rank > r)
            r = ts[k]->rank;
    for (int i = 0; i < r; i++)
        dims[i] = 1;
    for (int k = 0; k < n; k++) {
        if (!ts[k])
            continue;
        int off = r - ts[k]->rank;
        for (int i = 0; i < ts[k]->rank; i++) {
            int64_t a = dims[off + i], b = ts[k]->dims[i];
            if (a == b || b == 1)
                continue;
            if (a == 1) {
                dims[off + i] = b;
                continue;
            }
            return fy__op_fail(c, FY_EINVAL,
                               "inputs cannot be broadcast: dimension %d is %lld in one and %lld "
                               "in input %d",
                               off + i, (long long)a, (long long)b, k);
        }
    }
    *rank = r;
    return FY_OK;
}

void fy__broadcast_strides(const fy_tensor *t, int rank, const int64_t *dims, int64_t *strides)
{
    int64_t own[FY_MAX_RANK];
    fy__strides(t->rank, t->dims, own);
    int off = rank - t->rank;
    for (int i = 0; i < rank; i++) {
        if (i < off || t->dims[i - off] == 1)
            strides[i] = 0;
        else
            strides[i] = own[i - off];
    }
    (void)dims;
}

int fy__axis(fy__op_ctx *c, int64_t axis, int rank, int extra)
{
    int64_t r = rank + extra;
    if (axis < -r || axis >= r)
        return fy__op_fail(c, FY_EINVAL, "axis %lld is out of range for rank %d", (long long)axis,
                           rank);
    return (int)(axis < 0 ? axis + r : axis);
}

void fy__iter_init(fy__iter *it, int rank, const int64_t *dims, int n_ops,
                   const int64_t (*strides)[FY_MAX_RANK])
{
    memset(it, 0, sizeof *it);
    it->rank = rank;
    it->n_ops = n_ops;
    for (int i = 0; i < rank; i++)
        it->dims[i] = dims[i];
    for (int k = 0; k < n_ops; k++)
        for (int i = 0; i < rank; i++)
            it->strides[k][i] = strides[k][i];
}

void fy__iter_next(fy__iter *it)
{
    for (int i = it->rank - 1; i >= 0; i--) {
        if (++it->idx[i] < it->dims[i]) {
            for (int k = 0; k < it->n_ops; k++)
                it->off[k] += it->strides[k][i];
            return;
        }
        it->idx[i] = 0;
        for (int k = 0; k < it->n_ops; k++)
            it->off[k] -= it->strides[k][i] * (it->dims[i] - 1);
    }
}
