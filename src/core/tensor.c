/* SPDX-License-Identifier: MIT */
/* Tensor allocation with checked shapes, dtype facts, and half-precision conversion. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core.h"

size_t fy_dtype_size(fy_dtype dt)
{
    switch (dt) {
    case FY_DTYPE_F32: case FY_DTYPE_I32: case FY_DTYPE_U32: return 4;
    case FY_DTYPE_U8: case FY_DTYPE_I8: case FY_DTYPE_BOOL: return 1;
    case FY_DTYPE_U16: case FY_DTYPE_I16: case FY_DTYPE_F16: case FY_DTYPE_BF16: return 2;
    case FY_DTYPE_I64: case FY_DTYPE_U64: case FY_DTYPE_F64: return 8;
    default: return 0;
    }
}

static const struct {
    fy_dtype dt;
    const char *name;
} dtype_names[] = {
    {FY_DTYPE_F32, "float32"}, {FY_DTYPE_U8, "uint8"},   {FY_DTYPE_I8, "int8"},
    {FY_DTYPE_U16, "uint16"},  {FY_DTYPE_I16, "int16"},  {FY_DTYPE_I32, "int32"},
    {FY_DTYPE_I64, "int64"},   {FY_DTYPE_STRING, "string"}, {FY_DTYPE_BOOL, "bool"},
    {FY_DTYPE_F16, "float16"}, {FY_DTYPE_F64, "float64"}, {FY_DTYPE_U32, "uint32"},
    {FY_DTYPE_U64, "uint64"},  {FY_DTYPE_BF16, "bfloat16"},
};

const char *fy_dtype_name(fy_dtype dt)
{
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (dtype_names[i].dt == dt)
            return dtype_names[i].name;
    return "undefined";
}

fy_dtype fy_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof dtype_names / sizeof dtype_names[0]; i++)
        if (strcasecmp(dtype_names[i].name, name) == 0)
            return dtype_names[i].dt;
    if (strcasecmp(name, "float") == 0 || strcasecmp(name, "FP32") == 0)
        return FY_DTYPE_F32;
    if (strcasecmp(name, "double") == 0 || strcasecmp(name, "FP64") == 0)
        return FY_DTYPE_F64;
    if (strcasecmp(name, "half") == 0 || strcasecmp(name, "FP16") == 0)
        return FY_DTYPE_F16;
    return FY_DTYPE_UNDEFINED;
}

int64_t fy_tensor_numel(const fy_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

size_t fy_tensor_nbytes(const fy_tensor *t)
{
    return (size_t)fy_tensor_numel(t) * fy_dtype_size(t->dtype);
}

int fy_shape_nbytes(fy_dtype dt, int rank, const int64_t *dims, size_t *out, fy_diag *d)
{
    size_t es = fy_dtype_size(dt);
    if (es == 0)
        return fy__diag_set(d, FY_EUNSUPPORTED, "tensor element type %s (%d) is not supported",
                            fy_dtype_name(dt), (int)dt);
    if (rank < 0 || rank > FY_MAX_RANK)
        return fy__diag_set(d, FY_ELIMIT, "tensor rank %d is above the limit of %d", rank,
                            FY_MAX_RANK);
    uint64_t n = es;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return fy__diag_set(d, FY_EINVAL, "tensor dimension %d is negative (%lld)", i,
                                (long long)dims[i]);
        if (fy__mul_overflow_u64(n, (uint64_t)dims[i], &n) || n > FY_TENSOR_MAX_BYTES)
            return fy__diag_set(d, FY_ELIMIT,
                                "tensor of %s with dimension %d = %lld is larger than the %llu-byte "
                                "limit",
                                fy_dtype_name(dt), i, (long long)dims[i],
                                (unsigned long long)FY_TENSOR_MAX_BYTES);
    }
    *out = (size_t)n;
    return FY_OK;
}

/* The executor's output plan for the kernel running on this thread (core.h). A
 * thread-local, listed among the globals in docs/ARCHITECTURE.md. */
static _Thread_local const fy__out_plan *out_plan;

void fy__out_plan_set(const fy__out_plan *p)
{
    out_plan = p;
}

/* The planned buffer for t, if t is a slot of the current plan and nb fits. */
static void *planned(const fy_tensor *t, size_t nb)
{
    const fy__out_plan *p = out_plan;
    if (!p)
        return NULL;
    uintptr_t a = (uintptr_t)t, lo = (uintptr_t)p->slots;
    if (a < lo || a >= lo + (uintptr_t)p->n * sizeof *t || (a - lo) % sizeof *t)
        return NULL;
    size_t k = (a - lo) / sizeof *t;
    return p->bufs[k] && nb <= p->caps[k] ? p->bufs[k] : NULL;
}

static int tensor_alloc(fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims, fy_diag *d,
                        int zero)
{
    size_t nb;
    int rc = fy_shape_nbytes(dt, rank, dims, &nb, d);
    if (rc != FY_OK)
        return rc;
    void *p = planned(t, nb);
    if (p) {
        if (zero)
            memset(p, 0, nb);
        memset(t, 0, sizeof *t);
        t->dtype = dt;
        t->rank = rank;
        for (int i = 0; i < rank; i++)
            t->dims[i] = dims[i];
        t->data = p;
        return FY_OK;
    }
    p = zero ? fy__calloc(1, nb ? nb : 1) : fy__malloc(nb ? nb : 1);
    if (!p)
        return fy__diag_set(d, FY_ENOMEM, "out of memory allocating %zu bytes", nb);
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->data = p;
    t->owns = 1;
    return FY_OK;
}

int fy_tensor_alloc(fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims, fy_diag *d)
{
    return tensor_alloc(t, dt, rank, dims, d, 1);
}

int fy__tensor_alloc_uninit(fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims, fy_diag *d)
{
    return tensor_alloc(t, dt, rank, dims, d, 0);
}

void fy_tensor_deinit(fy_tensor *t)
{
    if (!t)
        return;
    if (t->owns)
        fy__free(t->data);
    memset(t, 0, sizeof *t);
}

int fy_tensor_copy(fy_tensor *dst, const fy_tensor *src, fy_diag *d)
{
    fy_tensor tmp;
    int rc = fy_tensor_alloc(&tmp, src->dtype, src->rank, src->dims, d);
    if (rc != FY_OK)
        return rc;
    size_t nb = fy_tensor_nbytes(src);
    if (nb)
        memcpy(tmp.data, src->data, nb);
    *dst = tmp;
    return FY_OK;
}

const char *fy_tensor_describe(const fy_tensor *t, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "%s[", fy_dtype_name(t->dtype));
    for (int i = 0; i < t->rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)t->dims[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

float fy_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: value = man * 2^-24 */
            float f = (float)man * 5.9604644775390625e-8f;
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t fy_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffff;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (absx < 0x38800000u) { /* below smallest normal half: subnormal or zero */
        float a;
        memcpy(&a, &absx, 4);
        /* a / 2^-24, rounded to nearest even by the FPU's default mode */
        float m = nearbyintf(a * 16777216.0f);
        return (uint16_t)(sign | (uint32_t)m);
    }
    uint32_t exp = ((absx >> 23) - 112) << 10;
    uint32_t man = (absx >> 13) & 0x3ff;
    uint32_t rest = absx & 0x1fff;
    uint32_t h = exp | man;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t)(sign | h);
}

float fy_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t fy_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}
