/* SPDX-License-Identifier: MIT */
/* Reference kernels for neural-network operators: convolutions, pooling, normalization,
 * Gemm/MatMul, Resize/Upsample, Pad and the recurrent cells (RNN, GRU, LSTM). float32
 * convolutions and matrix products run typed loops; other dtypes compute in double. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* ======================================================================== */
/* Shared helpers                                                           */
/* ======================================================================== */

/* Ceiling on strides, dilations, pads and pooling kernel sizes from attributes: keeps
 * every product of a coordinate with one of them far from int64 overflow. */
#define NN_ATTR_MAX ((int64_t)1 << 24)
/* Ceiling on one output dimension computed from pads, scales or sizes (fy_tensor_alloc
 * checks the total; this only keeps the arithmetic that precedes it exact). */
#define NN_DIM_MAX ((int64_t)1 << 40)

/* Row-major coordinates of linear index idx in dims. */
static void unravel(int n, const int64_t *dims, int64_t idx, int64_t *out)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = dims[i] ? idx % dims[i] : 0;
        idx = dims[i] ? idx / dims[i] : 0;
    }
}

/* Advance row-major coordinates o over dims by one. */
static void step_coords(int n, const int64_t *dims, int64_t *o)
{
    for (int i = n - 1; i >= 0; i--) {
        if (++o[i] < dims[i])
            return;
        o[i] = 0;
    }
}

static int need_float(fy__op_ctx *c, const fy_tensor *t, int i)
{
    if (fy__dtype_is_float(t->dtype))
        return FY_OK;
    return fy__op_fail(c, FY_EUNSUPPORTED, "input %d has dtype %s; only float types are supported",
                       i, fy_dtype_name(t->dtype));
}

static int same_dtype(fy__op_ctx *c, const fy_tensor *t, int i, const fy_tensor *ref)
{
    if (t->dtype == ref->dtype)
        return FY_OK;
    return fy__op_fail(c, FY_EINVAL, "input %d has dtype %s but input 0 has %s", i,
                       fy_dtype_name(t->dtype), fy_dtype_name(ref->dtype));
}

/* A 0/1 flag attribute; anything else is a malformed node. */
static int flag_attr(fy__op_ctx *c, const char *name, int64_t def, int *out)
{
    int64_t v = fy__attr_int(c->node, name, def);
    if (v != 0 && v != 1)
        return fy__op_fail(c, FY_EINVAL, "attribute '%s' = %lld; expected 0 or 1", name,
                           (long long)v);
    *out = (int)v;
    return FY_OK;
}

/* Attribute `name` as exactly n integers in [lo, NN_ATTR_MAX]; every value is `def`
 * when the attribute is absent (or an empty list, as some exporters write). */
static int ints_attr(fy__op_ctx *c, const char *name, int n, int64_t def, int64_t lo, int64_t *out)
{
    const int64_t *v = NULL;
    int64_t cnt = fy__attr_ints(c->node, name, &v);
    if (cnt <= 0) {
        for (int i = 0; i < n; i++)
            out[i] = def;
        return FY_OK;
    }
    if (cnt != n)
        return fy__op_fail(c, FY_EINVAL, "attribute '%s' has %lld values; expected %d", name,
                           (long long)cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > NN_ATTR_MAX)
            return fy__op_fail(c, FY_EINVAL, "attribute '%s'[%d] = %lld is outside [%lld, %lld]",
                               name, i, (long long)v[i], (long long)lo, (long long)NN_ATTR_MAX);
        out[i] = v[i];
    }
    return FY_OK;
}

/* ======================================================================== */
/* Window geometry shared by convolutions and pooling                       */
/* ======================================================================== */

enum { AP_NOTSET, AP_SAME_UPPER, AP_SAME_LOWER, AP_VALID };

static int read_auto_pad(fy__op_ctx *c, int *out)
{
    const char *s = fy__attr_str(c->node, "auto_pad", "NOTSET");
    if (!*s || strcmp(s, "NOTSET") == 0)
        *out = AP_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0)
        *out = AP_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0)
        *out = AP_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0)
        *out = AP_VALID;
    else
        return fy__op_fail(c, FY_EINVAL,
                           "attribute 'auto_pad' is '%s'; expected NOTSET, SAME_UPPER, "
                           "SAME_LOWER or VALID",
                           s);
    return FY_OK;
}

/* One sliding window over the spatial axes (those after N and C). pb/pe are the pads
 * at the beginning and end; for ConvTranspose pb holds the pads cropped from the start
 * of the full output. */
typedef struct geom {
    int n;
    int64_t in[FY_MAX_RANK], k[FY_MAX_RANK], s[FY_MAX_RANK], d[FY_MAX_RANK];
    int64_t pb[FY_MAX_RANK], pe[FY_MAX_RANK], out[FY_MAX_RANK];
} geom;

static int geom_init(fy__op_ctx *c, geom *g, const fy_tensor *x)
{
    memset(g, 0, sizeof *g);
    if (x->rank < 3)
        return fy__op_fail(c, FY_EINVAL,
                           "input 0 has rank %d; expected N, C and at least one spatial axis",
                           x->rank);
    g->n = x->rank - 2;
    for (int i = 0; i < g->n; i++)
        g->in[i] = x->dims[i + 2];
    return FY_OK;
}

/* The required kernel_shape attribute of the pooling ops. */
static int pool_kernel(fy__op_ctx *c, geom *g)
{
    const int64_t *v = NULL;
    if (fy__attr_ints(c->node, "kernel_shape", &v) <= 0)
        return fy__op_fail(c, FY_EINVAL, "attribute 'kernel_shape' is required");
    return ints_attr(c, "kernel_shape", g->n, 1, 1, g->k);
}

/* Strides, dilations, pads and output sizes of a forward window (g->k set), from the
 * attributes; ceil_mode rounds the output size up, as pooling allows. */
static int geom_forward(fy__op_ctx *c, geom *g, int ceil_mode)
{
    int n = g->n, ap, rc;
    int64_t pads[2 * FY_MAX_RANK];
    if ((rc = read_auto_pad(c, &ap)) || (rc = ints_attr(c, "strides", n, 1, 1, g->s)) ||
        (rc = ints_attr(c, "dilations", n, 1, 1, g->d)) ||
        (rc = ints_attr(c, "pads", 2 * n, 0, 0, pads)))
        return rc;
    for (int i = 0; i < n; i++) {
        int64_t dk = (g->k[i] - 1) * g->d[i] + 1, s = g->s[i], in = g->in[i];
        if (ap == AP_SAME_UPPER || ap == AP_SAME_LOWER) {
            int64_t out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + dk - in;
            if (total < 0)
                total = 0;
            /* SAME_UPPER puts the odd pad at the end, SAME_LOWER at the beginning. */
            g->pb[i] = ap == AP_SAME_UPPER ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            g->out[i] = out;
            continue;
        }
        if (ap == AP_NOTSET) {
            g->pb[i] = pads[i];
            g->pe[i] = pads[i + n];
        }
        int64_t span = in + g->pb[i] + g->pe[i] - dk;
        if (span < 0)
            return fy__op_fail(c, FY_EINVAL,
                               "window of %lld (kernel %lld, dilation %lld) is larger than the "
                               "padded input (%lld) on spatial axis %d",
                               (long long)dk, (long long)g->k[i], (long long)g->d[i],
                               (long long)(in + g->pb[i] + g->pe[i]), i);
        int64_t out = span / s + 1;
        if (ceil_mode && ap == AP_NOTSET) {
            out = (span + s - 1) / s + 1;
            /* A last window that would start inside the end padding is dropped. */
            if ((out - 1) * s >= in + g->pb[i])
                out--;
        }
        g->out[i] = out;
    }
    return FY_OK;
}

/* Offset within one input plane of kernel tap kp of the window at output coordinates o,
 * or -1 when the tap falls into padding. */
static int64_t tap_offset(const geom *g, const int64_t *o, const int64_t *kp)
{
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        int64_t ip = o[i] * g->s[i] - g->pb[i] + kp[i] * g->d[i];
        if (ip < 0 || ip >= g->in[i])
            return -1;
        off = off * g->in[i] + ip;
    }
    return off;
}

/* Tile length for im2col-style buffers: enough columns to amortize the loops, few
 * enough that a tile of `rows` rows stays in cache. */
static int64_t tile_len(int64_t rows, int64_t total)
{
    int64_t t = rows > 0 ? 65536 / rows : 1024;
    if (t < 16)
        t = 16;
    if (t > 1024)
        t = 1024;
    return t < total ? t : (total > 0 ? total : 1);
}

/* ======================================================================== */
/* float32 building blocks                                                  */
/* ======================================================================== */

/* Four floats as one GCC/clang vector (an SSE or NEON register; scalar code where there
 * is no SIMD). Written out because -O2 does not vectorize loops of unknown length by
 * itself; unaligned access goes through memcpy. Loops take two vectors per step. */
typedef float v4f __attribute__((vector_size(16)));

static inline v4f v4_load(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void v4_store(float *p, v4f v)
{
    memcpy(p, &v, sizeof v);
}

static inline v4f v4_splat(float a)
{
    v4f v = {a, a, a, a};
    return v;
}

/* y += a * x: the inner loop of the float32 convolutions and products. */
static void axpy_f32(float *restrict y, const float *restrict x, float a, int64_t n)
{
    const v4f va = v4_splat(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v4_store(y + i, v4_load(y + i) + va * v4_load(x + i));
        v4_store(y + i + 4, v4_load(y + i + 4) + va * v4_load(x + i + 4));
    }
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* Four axpys sharing x: x is read once for four output rows. */
static void axpy4_f32(float *restrict y0, float *restrict y1, float *restrict y2,
                      float *restrict y3, const float *restrict x, const float *a, int64_t n)
{
    const v4f a0 = v4_splat(a[0]), a1 = v4_splat(a[1]), a2 = v4_splat(a[2]), a3 = v4_splat(a[3]);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f v = v4_load(x + i);
        v4_store(y0 + i, v4_load(y0 + i) + a0 * v);
        v4_store(y1 + i, v4_load(y1 + i) + a1 * v);
        v4_store(y2 + i, v4_load(y2 + i) + a2 * v);
        v4_store(y3 + i, v4_load(y3 + i) + a3 * v);
    }
    for (; i < n; i++) {
        float v = x[i];
        y0[i] += a[0] * v;
        y1[i] += a[1] * v;
        y2[i] += a[2] * v;
        y3[i] += a[3] * v;
    }
}

/* Dot products of rows a[0..na) (na <= 4) with one row b, read once for all of them;
 * partial sums in vector lanes, so the order differs from a serial sum. */
static void dot4_f32(const float *const *a, int na, const float *b, int64_t n, float *out)
{
    v4f s[4][2] = {{{0}, {0}}, {{0}, {0}}, {{0}, {0}}, {{0}, {0}}};
    int64_t i = 0;
    if (na == 4) {
        for (; i + 8 <= n; i += 8) {
            v4f b0 = v4_load(b + i), b1 = v4_load(b + i + 4);
            for (int r = 0; r < 4; r++) {
                s[r][0] += v4_load(a[r] + i) * b0;
                s[r][1] += v4_load(a[r] + i + 4) * b1;
            }
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            v4f b0 = v4_load(b + i), b1 = v4_load(b + i + 4);
            for (int r = 0; r < na; r++) {
                s[r][0] += v4_load(a[r] + i) * b0;
                s[r][1] += v4_load(a[r] + i + 4) * b1;
            }
        }
    }
    for (int r = 0; r < na; r++) {
        v4f v = s[r][0] + s[r][1];
        float t = 0;
        for (int64_t k = i; k < n; k++)
            t += a[r][k] * b[k];
        out[r] = ((v[0] + v[1]) + (v[2] + v[3])) + t;
    }
}

/* Rows i..i+mb of Y: y_j += a_j * x for each row j, four at a time when possible. */
static void axpy_rows(float *const *y, const float *x, const float *a, int mb, int64_t n)
{
    if (mb == 4) {
        axpy4_f32(y[0], y[1], y[2], y[3], x, a, n);
        return;
    }
    for (int j = 0; j < mb; j++)
        axpy_f32(y[j], x, a[j], n);
}

/* Y[M,N] += alpha * op(A) op(B), row-major; op transposes when the flag is set
 * (A is [K,M] when ta, B is [N,K] when tb). */
static int gemm_f32(fy__op_ctx *c, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int ta, const float *B, int tb, float *Y)
{
    if (!tb) {
        for (int64_t i = 0; i < M; i += 4) {
            int mb = M - i < 4 ? (int)(M - i) : 4;
            float *rows[4];
            for (int j = 0; j < mb; j++)
                rows[j] = Y + (i + j) * N;
            for (int64_t k = 0; k < K; k++) {
                float a[4];
                for (int j = 0; j < mb; j++)
                    a[j] = alpha * (ta ? A[k * M + i + j] : A[(i + j) * K + k]);
                axpy_rows(rows, B + k * N, a, mb, N);
            }
        }
        return FY_OK;
    }
    /* B transposed: each output is a dot product of two contiguous rows, four rows of
     * A per row of B; a transposed A is packed so both operands are contiguous. */
    float *pack = NULL;
    if (ta && K > 0) {
        pack = malloc((size_t)K * 4 * sizeof *pack);
        if (!pack)
            return fy__op_fail(c, FY_ENOMEM, "out of memory packing input A (%lld values)",
                               (long long)K);
    }
    for (int64_t i = 0; i < M; i += 4) {
        int mb = M - i < 4 ? (int)(M - i) : 4;
        const float *arows[4];
        for (int r = 0; r < mb; r++) {
            arows[r] = A + (i + r) * K;
            if (ta) {
                for (int64_t k = 0; k < K; k++)
                    pack[r * K + k] = A[k * M + i + r];
                arows[r] = pack + r * K;
            }
        }
        for (int64_t j = 0; j < N; j++) {
            float d[4];
            dot4_f32(arows, mb, B + j * K, K, d);
            for (int r = 0; r < mb; r++)
                Y[(i + r) * N + j] += alpha * d[r];
        }
    }
    free(pack);
    return FY_OK;
}

/* ======================================================================== */
/* Conv                                                                     */
/* ======================================================================== */

/* Kernel sizes come from W; a kernel_shape attribute, when present, must agree. */
static int kernel_from_w(fy__op_ctx *c, geom *g, const fy_tensor *w)
{
    int64_t ks[FY_MAX_RANK];
    int rc;
    for (int i = 0; i < g->n; i++) {
        g->k[i] = w->dims[i + 2];
        if (g->k[i] < 1)
            return fy__op_fail(c, FY_EINVAL, "W has an empty kernel on spatial axis %d", i);
    }
    const int64_t *v = NULL;
    if (fy__attr_ints(c->node, "kernel_shape", &v) > 0) {
        if ((rc = ints_attr(c, "kernel_shape", g->n, 1, 1, ks)))
            return rc;
        for (int i = 0; i < g->n; i++)
            if (ks[i] != g->k[i])
                return fy__op_fail(c, FY_EINVAL,
                                   "attribute 'kernel_shape'[%d] = %lld but W has %lld there", i,
                                   (long long)ks[i], (long long)g->k[i]);
    }
    return FY_OK;
}

/* Direct convolution in double for the non-float32 dtypes: plain and slow. */
static void conv_ref(const geom *g, const fy_tensor *x, const fy_tensor *w, const fy_tensor *b,
                     int64_t group, fy_tensor *y)
{
    const int n = g->n;
    const int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    const int64_t Cg = C / group, Mg = M / group;
    const int64_t insz = fy__dims_prod(g->in, 0, n), outsz = fy__dims_prod(g->out, 0, n), K = fy__dims_prod(g->k, 0, n);
    int64_t o[FY_MAX_RANK], kp[FY_MAX_RANK];
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t m = 0; m < M; m++) {
            int64_t gi = m / Mg;
            for (int64_t op = 0; op < outsz; op++) {
                unravel(n, g->out, op, o);
                double acc = b ? fy__ld(b, m) : 0.0;
                for (int64_t cc = 0; cc < Cg; cc++) {
                    int64_t xo = (nn * C + gi * Cg + cc) * insz, wo = (m * Cg + cc) * K;
                    for (int64_t kk = 0; kk < K; kk++) {
                        unravel(n, g->k, kk, kp);
                        int64_t off = tap_offset(g, o, kp);
                        if (off >= 0)
                            acc += fy__ld(x, xo + off) * fy__ld(w, wo + kk);
                    }
                }
                fy__st(y, (nn * M + m) * outsz + op, acc);
            }
        }
}

/* float32 convolution: im2col over a tile of output positions, then a product with
 * the group's filters, four output channels at a time. */
static int conv_f32(fy__op_ctx *c, const geom *g, const fy_tensor *x, const fy_tensor *w,
                    const fy_tensor *b, int64_t group, fy_tensor *y)
{
    int rc = FY_OK;
    const int n = g->n;
    const int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0];
    const int64_t Cg = C / group, Mg = M / group;
    const int64_t insz = fy__dims_prod(g->in, 0, n), outsz = fy__dims_prod(g->out, 0, n), K = fy__dims_prod(g->k, 0, n);
    const int64_t CK = Cg * K, T = tile_len(CK, outsz);
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    /* A 1x1 kernel with unit strides and no padding needs no im2col: the input rows are
     * the columns. */
    int direct = K == 1;
    for (int i = 0; i < n; i++)
        direct = direct && g->s[i] == 1 && g->pb[i] == 0 && g->pe[i] == 0;
    float *col = direct ? NULL : calloc((size_t)(CK > 0 ? CK : 1) * (size_t)T, sizeof *col);
    int64_t *kofs = calloc((size_t)K * (size_t)n, sizeof *kofs);
    int64_t *base = calloc((size_t)T * (size_t)n, sizeof *base);
    if ((!direct && !col) || !kofs || !base) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the im2col buffer (%lld x %lld)",
                         (long long)CK, (long long)T);
        goto done;
    }
    int64_t kp[FY_MAX_RANK], o[FY_MAX_RANK];
    for (int64_t kk = 0; kk < K; kk++) {
        unravel(n, g->k, kk, kp);
        for (int i = 0; i < n; i++)
            kofs[kk * n + i] = kp[i] * g->d[i];
    }
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t gi = 0; gi < group; gi++) {
            const float *xg = xd + (nn * C + gi * Cg) * insz;
            for (int64_t p0 = 0; p0 < outsz; p0 += T) {
                int64_t tl = outsz - p0 < T ? outsz - p0 : T;
                if (!direct) {
                    /* Window origin of each output position of the tile, per axis. */
                    unravel(n, g->out, p0, o);
                    for (int64_t p = 0; p < tl; p++) {
                        for (int i = 0; i < n; i++)
                            base[i * T + p] = o[i] * g->s[i] - g->pb[i];
                        step_coords(n, g->out, o);
                    }
                    for (int64_t cc = 0; cc < Cg; cc++) {
                        const float *xc = xg + cc * insz;
                        for (int64_t kk = 0; kk < K; kk++) {
                            float *row = col + (cc * K + kk) * T;
                            const int64_t *ko = kofs + kk * n;
                            for (int64_t p = 0; p < tl; p++) {
                                int64_t off = 0;
                                int inside = 1;
                                for (int i = 0; i < n; i++) {
                                    int64_t ip = base[i * T + p] + ko[i];
                                    if (ip < 0 || ip >= g->in[i]) {
                                        inside = 0;
                                        break;
                                    }
                                    off = off * g->in[i] + ip;
                                }
                                row[p] = inside ? xc[off] : 0.0f;
                            }
                        }
                    }
                }
                for (int64_t m0 = 0; m0 < Mg; m0 += 4) {
                    int mb = Mg - m0 < 4 ? (int)(Mg - m0) : 4;
                    float *rows[4];
                    for (int j = 0; j < mb; j++) {
                        int64_t oc = gi * Mg + m0 + j;
                        rows[j] = yd + (nn * M + oc) * outsz + p0;
                        float bv = bd ? bd[oc] : 0.0f;
                        for (int64_t p = 0; p < tl; p++)
                            rows[j][p] = bv;
                    }
                    for (int64_t r = 0; r < CK; r++) {
                        float a[4];
                        for (int j = 0; j < mb; j++)
                            a[j] = wd[(gi * Mg + m0 + j) * CK + r];
                        const float *src = direct ? xg + r * insz + p0 : col + r * T;
                        axpy_rows(rows, src, a, mb, tl);
                    }
                }
            }
        }
done:
    free(col);
    free(kofs);
    free(base);
    return rc;
}

/* Optional bias (input 2) of Conv and ConvTranspose: X's dtype, one value per
 * output channel. */
static int check_bias(fy__op_ctx *c, const fy_tensor *b, const fy_tensor *x, int64_t M)
{
    int rc;
    if (!b)
        return FY_OK;
    if ((rc = same_dtype(c, b, 2, x)))
        return rc;
    if (b->rank != 1 || b->dims[0] != M)
        return fy__op_fail(c, FY_EINVAL, "B must have shape [%lld] (one bias per output channel)",
                           (long long)M);
    return FY_OK;
}

/* Output 0 of Conv and ConvTranspose: [N, M, spatial dims of the geometry]. */
static int alloc_conv_out(fy__op_ctx *c, const fy_tensor *x, int64_t M, const geom *g,
                          fy_tensor *y)
{
    int64_t dims[FY_MAX_RANK] = {x->dims[0], M};
    for (int i = 0; i < g->n; i++)
        dims[i + 2] = g->out[i];
    return fy_tensor_alloc(y, x->dtype, x->rank, dims, c->diag);
}

static int op_conv(fy__op_ctx *c)
{
    int rc;
    geom g;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *w = c->in[1], *b = fy__op_in(c, 2);
    if ((rc = need_float(c, x, 0)) || (rc = same_dtype(c, w, 1, x)) || (rc = geom_init(c, &g, x)))
        return rc;
    if (w->rank != x->rank)
        return fy__op_fail(c, FY_EINVAL, "W has rank %d; expected %d like X", w->rank, x->rank);
    int64_t group = fy__attr_int(c->node, "group", 1);
    int64_t C = x->dims[1], M = w->dims[0];
    if (group < 1 || group > NN_ATTR_MAX || C % group || M % group)
        return fy__op_fail(c, FY_EINVAL,
                           "attribute 'group' = %lld must be positive and divide both the input "
                           "channels (%lld) and the output channels (%lld)",
                           (long long)group, (long long)C, (long long)M);
    if (w->dims[1] != C / group)
        return fy__op_fail(c, FY_EINVAL,
                           "W has %lld channels per group; expected %lld (input channels %lld / "
                           "group %lld)",
                           (long long)w->dims[1], (long long)(C / group), (long long)C,
                           (long long)group);
    if ((rc = kernel_from_w(c, &g, w)))
        return rc;
    if ((rc = check_bias(c, b, x, M)))
        return rc;
    if ((rc = geom_forward(c, &g, 0)))
        return rc;
    fy_tensor *y = &c->out[0];
    if ((rc = alloc_conv_out(c, x, M, &g, y)) || fy_tensor_numel(y) == 0)
        return rc;
    if (x->dtype == FY_DTYPE_F32)
        return conv_f32(c, &g, x, w, b, group, y);
    conv_ref(&g, x, w, b, group, y);
    return FY_OK;
}

/* ======================================================================== */
/* ConvTranspose                                                            */
/* ======================================================================== */

/* Output sizes and start pads of a transposed convolution: from output_shape when given
 * (pads derived, never negative: a larger output is zero-extended at the end), from
 * auto_pad SAME_* (output = input * stride), else from explicit pads. */
static int convt_geom(fy__op_ctx *c, geom *g)
{
    int n = g->n, ap, rc;
    int64_t pads[2 * FY_MAX_RANK], opad[FY_MAX_RANK];
    if ((rc = read_auto_pad(c, &ap)) || (rc = ints_attr(c, "strides", n, 1, 1, g->s)) ||
        (rc = ints_attr(c, "dilations", n, 1, 1, g->d)) ||
        (rc = ints_attr(c, "pads", 2 * n, 0, 0, pads)) ||
        (rc = ints_attr(c, "output_padding", n, 0, 0, opad)))
        return rc;
    const int64_t *os = NULL;
    int64_t nos = fy__attr_ints(c->node, "output_shape", &os);
    if (nos > 0 && nos != n && nos != n + 2)
        return fy__op_fail(c, FY_EINVAL, "attribute 'output_shape' has %lld values; expected %d",
                           (long long)nos, n);
    for (int i = 0; i < n; i++) {
        int64_t dk = (g->k[i] - 1) * g->d[i] + 1;
        int64_t full = g->s[i] * (g->in[i] - 1) + opad[i] + dk;
        if (g->in[i] == 0)
            full = 0;
        if (nos > 0 || ap == AP_SAME_UPPER || ap == AP_SAME_LOWER) {
            int64_t out = g->in[i] * g->s[i];
            if (nos > 0) {
                out = os[nos - n + i];
                if (out < 0 || out > NN_DIM_MAX)
                    return fy__op_fail(c, FY_EINVAL,
                                       "attribute 'output_shape'[%d] = %lld is "
                                       "out of range",
                                       i, (long long)out);
            }
            int64_t total = full - out;
            if (total < 0)
                total = 0;
            g->pb[i] = ap == AP_SAME_UPPER ? total / 2 : total - total / 2;
            g->pe[i] = total - g->pb[i];
            g->out[i] = out;
            continue;
        }
        if (ap == AP_NOTSET) {
            g->pb[i] = pads[i];
            g->pe[i] = pads[i + n];
        }
        g->out[i] = full - g->pb[i] - g->pe[i];
        if (g->out[i] < 0)
            return fy__op_fail(c, FY_EINVAL,
                               "pads (%lld, %lld) on spatial axis %d exceed the full output size "
                               "%lld",
                               (long long)g->pb[i], (long long)g->pe[i], i, (long long)full);
    }
    return FY_OK;
}

/* Offset in the output plane that input position ipc (already scaled by stride and
 * shifted by the start pad) reaches through kernel tap ko, or -1 outside the output. */
static int64_t convt_offset(const geom *g, const int64_t *ipc, const int64_t *ko)
{
    int64_t off = 0;
    for (int i = 0; i < g->n; i++) {
        int64_t op = ipc[i] + ko[i];
        if (op < 0 || op >= g->out[i])
            return -1;
        off = off * g->out[i] + op;
    }
    return off;
}

/* Direct transposed convolution in double (non-float32 dtypes): scatter every input
 * value through the kernel into one output plane at a time. */
static int convt_ref(fy__op_ctx *c, const geom *g, const fy_tensor *x, const fy_tensor *w,
                     const fy_tensor *b, int64_t group, fy_tensor *y)
{
    const int n = g->n;
    const int64_t N = x->dims[0], C = x->dims[1], Mg = w->dims[1], M = Mg * group;
    const int64_t Cg = C / group;
    const int64_t insz = fy__dims_prod(g->in, 0, n), outsz = fy__dims_prod(g->out, 0, n), K = fy__dims_prod(g->k, 0, n);
    double *plane = calloc((size_t)outsz, sizeof *plane);
    if (!plane)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for an output plane");
    int64_t ip[FY_MAX_RANK], ipc[FY_MAX_RANK], kp[FY_MAX_RANK], ko[FY_MAX_RANK];
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t m = 0; m < M; m++) {
            int64_t gi = m / Mg, ml = m % Mg;
            double bv = b ? fy__ld(b, m) : 0.0;
            for (int64_t p = 0; p < outsz; p++)
                plane[p] = bv;
            for (int64_t cc = 0; cc < Cg; cc++) {
                int64_t ch = gi * Cg + cc;
                for (int64_t p = 0; p < insz; p++) {
                    unravel(n, g->in, p, ip);
                    for (int i = 0; i < n; i++)
                        ipc[i] = ip[i] * g->s[i] - g->pb[i];
                    double xv = fy__ld(x, (nn * C + ch) * insz + p);
                    for (int64_t kk = 0; kk < K; kk++) {
                        unravel(n, g->k, kk, kp);
                        for (int i = 0; i < n; i++)
                            ko[i] = kp[i] * g->d[i];
                        int64_t off = convt_offset(g, ipc, ko);
                        if (off >= 0)
                            plane[off] += xv * fy__ld(w, (ch * Mg + ml) * K + kk);
                    }
                }
            }
            for (int64_t p = 0; p < outsz; p++)
                fy__st(y, (nn * M + m) * outsz + p, plane[p]);
        }
    free(plane);
    return FY_OK;
}

/* float32 transposed convolution: columns = W_g^T X_g over a tile of input positions,
 * then col2im scatters the columns into the output. */
static int convt_f32(fy__op_ctx *c, const geom *g, const fy_tensor *x, const fy_tensor *w,
                     const fy_tensor *b, int64_t group, fy_tensor *y)
{
    int rc = FY_OK;
    const int n = g->n;
    const int64_t N = x->dims[0], C = x->dims[1], Mg = w->dims[1], M = Mg * group;
    const int64_t Cg = C / group;
    const int64_t insz = fy__dims_prod(g->in, 0, n), outsz = fy__dims_prod(g->out, 0, n), K = fy__dims_prod(g->k, 0, n);
    const int64_t MK = Mg * K, T = tile_len(MK, insz);
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    float *col = calloc((size_t)(MK > 0 ? MK : 1) * (size_t)T, sizeof *col);
    int64_t *kofs = calloc((size_t)K * (size_t)n, sizeof *kofs);
    int64_t *base = calloc((size_t)T * (size_t)n, sizeof *base);
    if (!col || !kofs || !base) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the column buffer (%lld x %lld)",
                         (long long)MK, (long long)T);
        goto done;
    }
    int64_t kp[FY_MAX_RANK], ip[FY_MAX_RANK], ipc[FY_MAX_RANK];
    for (int64_t kk = 0; kk < K; kk++) {
        unravel(n, g->k, kk, kp);
        for (int i = 0; i < n; i++)
            kofs[kk * n + i] = kp[i] * g->d[i];
    }
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t m = 0; m < M; m++) {
            float bv = bd ? bd[m] : 0.0f;
            float *plane = yd + (nn * M + m) * outsz;
            for (int64_t p = 0; p < outsz; p++)
                plane[p] = bv;
        }
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t gi = 0; gi < group; gi++)
            for (int64_t p0 = 0; p0 < insz; p0 += T) {
                int64_t tl = insz - p0 < T ? insz - p0 : T;
                memset(col, 0, (size_t)(MK > 0 ? MK : 1) * (size_t)T * sizeof *col);
                for (int64_t cc = 0; cc < Cg; cc++) {
                    const float *xrow = xd + (nn * C + gi * Cg + cc) * insz + p0;
                    const float *wrow = wd + (gi * Cg + cc) * MK;
                    for (int64_t r = 0; r < MK; r += 4) {
                        int rb = MK - r < 4 ? (int)(MK - r) : 4;
                        float *rows[4];
                        for (int j = 0; j < rb; j++)
                            rows[j] = col + (r + j) * T;
                        axpy_rows(rows, xrow, wrow + r, rb, tl);
                    }
                }
                unravel(n, g->in, p0, ip);
                for (int64_t p = 0; p < tl; p++) {
                    for (int i = 0; i < n; i++)
                        base[i * T + p] = ip[i] * g->s[i] - g->pb[i];
                    step_coords(n, g->in, ip);
                }
                for (int64_t m = 0; m < Mg; m++) {
                    float *plane = yd + (nn * M + gi * Mg + m) * outsz;
                    for (int64_t kk = 0; kk < K; kk++) {
                        const float *crow = col + (m * K + kk) * T;
                        const int64_t *ko = kofs + kk * n;
                        for (int64_t p = 0; p < tl; p++) {
                            for (int i = 0; i < n; i++)
                                ipc[i] = base[i * T + p];
                            int64_t off = convt_offset(g, ipc, ko);
                            if (off >= 0)
                                plane[off] += crow[p];
                        }
                    }
                }
            }
done:
    free(col);
    free(kofs);
    free(base);
    return rc;
}

static int op_conv_transpose(fy__op_ctx *c)
{
    int rc;
    geom g;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *w = c->in[1], *b = fy__op_in(c, 2);
    if ((rc = need_float(c, x, 0)) || (rc = same_dtype(c, w, 1, x)) || (rc = geom_init(c, &g, x)))
        return rc;
    if (w->rank != x->rank)
        return fy__op_fail(c, FY_EINVAL, "W has rank %d; expected %d like X", w->rank, x->rank);
    int64_t group = fy__attr_int(c->node, "group", 1);
    int64_t C = x->dims[1];
    if (group < 1 || group > NN_ATTR_MAX || C % group)
        return fy__op_fail(c, FY_EINVAL,
                           "attribute 'group' = %lld must be positive and divide the input "
                           "channels (%lld)",
                           (long long)group, (long long)C);
    if (w->dims[0] != C)
        return fy__op_fail(c, FY_EINVAL, "W has %lld input channels (dimension 0); X has %lld",
                           (long long)w->dims[0], (long long)C);
    int64_t M = w->dims[1] * group; /* both bounded: W is allocated, group <= 2^24 */
    if ((rc = kernel_from_w(c, &g, w)))
        return rc;
    if ((rc = check_bias(c, b, x, M)))
        return rc;
    if ((rc = convt_geom(c, &g)))
        return rc;
    fy_tensor *y = &c->out[0];
    if ((rc = alloc_conv_out(c, x, M, &g, y)) || fy_tensor_numel(y) == 0)
        return rc;
    if (x->dtype == FY_DTYPE_F32)
        return convt_f32(c, &g, x, w, b, group, y);
    return convt_ref(c, &g, x, w, b, group, y);
}

/* ======================================================================== */
/* Pooling                                                                  */
/* ======================================================================== */

enum { POOL_MAX, POOL_AVG, POOL_LP };

/* The valid taps of one window: for each axis the window start (in input coordinates,
 * may be negative), the first tap inside the input and how many taps are inside. */
typedef struct win {
    int64_t start[FY_MAX_RANK], first[FY_MAX_RANK], cnt[FY_MAX_RANK];
    double padded; /* taps inside input or explicit pads: AveragePool's count_include_pad */
} win;

static int64_t win_at(const geom *g, const int64_t *o, win *wn)
{
    int64_t total = 1;
    wn->padded = 1.0;
    for (int i = 0; i < g->n; i++) {
        int64_t start = o[i] * g->s[i] - g->pb[i], d = g->d[i], k = g->k[i], in = g->in[i];
        int64_t j0 = start < 0 ? (-start + d - 1) / d : 0;
        int64_t j1 = in - 1 - start < 0 ? -1 : (in - 1 - start) / d;
        if (j1 > k - 1)
            j1 = k - 1;
        wn->start[i] = start;
        wn->first[i] = j0;
        wn->cnt[i] = j1 >= j0 ? j1 - j0 + 1 : 0;
        total *= wn->cnt[i];
        /* Windows start at or after -pb, so only the end can leave the padded range. */
        int64_t lim = in + g->pe[i] - 1 - start;
        int64_t q = lim < 0 ? -1 : lim / d;
        wn->padded *= (double)((q > k - 1 ? k - 1 : q) + 1);
    }
    return total;
}

/* Fill offs (row-major offset within the plane) and, when coffs is given, the
 * column-major offset of every valid tap; returns their count. */
static int64_t win_taps(const geom *g, const win *wn, int64_t total, int64_t *offs, int64_t *coffs)
{
    int64_t j[FY_MAX_RANK] = {0};
    for (int64_t t = 0; t < total; t++) {
        int64_t off = 0, coff = 0, cs = 1;
        for (int i = 0; i < g->n; i++) {
            int64_t ip = wn->start[i] + (wn->first[i] + j[i]) * g->d[i];
            off = off * g->in[i] + ip;
            coff += ip * cs;
            cs *= g->in[i];
        }
        offs[t] = off;
        if (coffs)
            coffs[t] = coff;
        step_coords(g->n, wn->cnt, j);
    }
    return total;
}

/* Per axis and output coordinate of a 2-D pooling: valid tap count, input
 * coordinate of the first valid tap, padded tap count (count_include_pad). */
static int64_t *pool2d_tables(fy__op_ctx *c, const geom *g)
{
    const int64_t OH = g->out[0], OW = g->out[1];
    int64_t *tab = malloc((size_t)(OH + OW) * 4 * sizeof *tab);
    if (!tab) {
        fy__op_fail(c, FY_ENOMEM, "out of memory for the pooling tables");
        return NULL;
    }
    int64_t *th = tab, *tw = tab + OH * 4;
    for (int a = 0; a < 2; a++) {
        int64_t *t = a ? tw : th, on = g->out[a];
        for (int64_t o = 0; o < on; o++) {
            int64_t oc[FY_MAX_RANK] = {0};
            win wn;
            geom g1 = *g;
            /* A one-axis view of g: win_at on axis a alone. */
            g1.n = 1;
            g1.in[0] = g->in[a];
            g1.k[0] = g->k[a];
            g1.s[0] = g->s[a];
            g1.d[0] = g->d[a];
            g1.pb[0] = g->pb[a];
            g1.pe[0] = g->pe[a];
            oc[0] = o;
            t[o * 4] = win_at(&g1, oc, &wn);
            t[o * 4 + 1] = wn.start[0] + wn.first[0] * g->d[a];
            t[o * 4 + 2] = (int64_t)wn.padded;
        }
    }
    return tab;
}

/* uint8/int8 max pooling over two spatial axes (quantized models pool their
 * uint8 activations directly): the f32 path's windows, without the per-element
 * dtype dispatch of the generic path. */
static int pool2d_max_q8(fy__op_ctx *c, const geom *g, int is_signed, int64_t planes,
                         const void *x, void *y)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t *tab = pool2d_tables(c, g);
    if (!tab)
        return FY_ENOMEM;
    const int64_t *th = tab, *tw = tab + OH * 4, dh = g->d[0], dw = g->d[1];
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t hc = th[oh * 4], h0 = th[oh * 4 + 1];
                const int64_t wc = tw[ow * 4], w0 = tw[ow * 4 + 1];
                int v = is_signed ? -128 : 0;
                for (int64_t a = 0; a < hc; a++) {
                    const int64_t off = pl * H * W + (h0 + a * dh) * W + w0;
                    for (int64_t b = 0; b < wc; b++) {
                        int xv = is_signed ? ((const int8_t *)x)[off + b * dw]
                                           : ((const uint8_t *)x)[off + b * dw];
                        v = xv > v ? xv : v;
                    }
                }
                if (is_signed)
                    ((int8_t *)y)[(pl * OH + oh) * OW + ow] = (int8_t)v;
                else
                    ((uint8_t *)y)[(pl * OH + oh) * OW + ow] = (uint8_t)v;
            }
    free(tab);
    return FY_OK;
}

/* float32 max and average pooling over two spatial axes (no Indices): the same windows
 * as win_at, from per-axis tables instead of a per-output odometer. */
static int pool2d_f32(fy__op_ctx *c, const geom *g, int kind, int include_pad, int64_t planes,
                      const float *x, float *y)
{
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    int64_t *tab = pool2d_tables(c, g);
    if (!tab)
        return FY_ENOMEM;
    const int64_t *th = tab, *tw = tab + OH * 4;
    const int64_t dh = g->d[0], dw = g->d[1];
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t hc = th[oh * 4], h0 = th[oh * 4 + 1], hp = th[oh * 4 + 2];
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t wc = tw[ow * 4], w0 = tw[ow * 4 + 1], wp = tw[ow * 4 + 2];
                float v;
                if (kind == POOL_MAX) {
                    int any = 0;
                    v = -INFINITY;
                    for (int64_t a = 0; a < hc; a++) {
                        const float *row = xp + (h0 + a * dh) * W + w0;
                        for (int64_t b = 0; b < wc; b++) {
                            float xv = row[b * dw];
                            if (!any || xv > v) {
                                v = xv;
                                any = 1;
                            }
                        }
                    }
                } else {
                    double sum = 0;
                    for (int64_t a = 0; a < hc; a++) {
                        const float *row = xp + (h0 + a * dh) * W + w0;
                        for (int64_t b = 0; b < wc; b++)
                            sum += row[b * dw];
                    }
                    double div = include_pad ? (double)(hp * wp) : (double)(hc * wc);
                    v = div > 0 ? (float)(sum / div) : 0.0f;
                }
                yp[oh * OW + ow] = v;
            }
        }
    }
    free(tab);
    return FY_OK;
}

static int pool_run(fy__op_ctx *c, int kind)
{
    int rc, ceil_mode = 0, storage = 0, include_pad = 0;
    geom g;
    double p = 2.0;
    int64_t *offs = NULL, *coffs = NULL;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if (kind == POOL_MAX) {
        if (!fy__dtype_is_float(x->dtype) && x->dtype != FY_DTYPE_I8 && x->dtype != FY_DTYPE_U8)
            return fy__op_fail(c, FY_EUNSUPPORTED,
                               "input 0 has dtype %s; MaxPool supports float types, int8 and "
                               "uint8",
                               fy_dtype_name(x->dtype));
    } else if ((rc = need_float(c, x, 0))) {
        return rc;
    }
    if ((rc = geom_init(c, &g, x)) || (rc = pool_kernel(c, &g)) ||
        (rc = flag_attr(c, "ceil_mode", 0, &ceil_mode)) ||
        (rc = flag_attr(c, "storage_order", 0, &storage)) ||
        (rc = flag_attr(c, "count_include_pad", 0, &include_pad)))
        return rc;
    if (kind == POOL_LP) {
        const fy__attr *pa = fy__attr_find(c->node, "p");
        if (pa)
            p = pa->type == FY_ATTR_FLOAT ? (double)pa->f : (double)pa->i;
        if (!(p > 0 && p <= 1e6))
            return fy__op_fail(c, FY_EINVAL, "attribute 'p' = %g must be positive", p);
    }
    if ((rc = geom_forward(c, &g, ceil_mode)))
        return rc;
    int64_t dims[FY_MAX_RANK] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < g.n; i++)
        dims[i + 2] = g.out[i];
    fy_tensor *y = &c->out[0], *yi = NULL;
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, dims, c->diag)))
        return rc;
    if (kind == POOL_MAX && fy__op_wants_out(c, 1)) {
        yi = &c->out[1];
        if ((rc = fy_tensor_alloc(yi, FY_DTYPE_I64, x->rank, dims, c->diag)))
            return rc;
    }
    if (fy_tensor_numel(y) == 0)
        return FY_OK;
    const int64_t planes = x->dims[0] * x->dims[1], insz = fy__dims_prod(g.in, 0, g.n);
    const int64_t outsz = fy__dims_prod(g.out, 0, g.n);
    if (x->dtype == FY_DTYPE_F32 && g.n == 2 && kind != POOL_LP && !yi)
        return pool2d_f32(c, &g, kind, include_pad, planes, x->data, y->data);
    if ((x->dtype == FY_DTYPE_U8 || x->dtype == FY_DTYPE_I8) && g.n == 2 && kind == POOL_MAX &&
        !yi)
        return pool2d_max_q8(c, &g, x->dtype == FY_DTYPE_I8, planes, x->data, y->data);
    /* Valid taps of a window are at most min(k, in) per axis: bounded by the plane. */
    int64_t cap = 1;
    for (int i = 0; i < g.n; i++)
        cap *= g.k[i] < g.in[i] ? g.k[i] : g.in[i];
    offs = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *offs);
    coffs = yi && storage ? malloc((size_t)(cap > 0 ? cap : 1) * sizeof *coffs) : NULL;
    if (!offs || (yi && storage && !coffs)) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for a window of %lld taps", (long long)cap);
        goto done;
    }
    /* An empty window (only possible with pads or dilations that skip the input) gives
     * the lowest value for max, 0 for the others. */
    double lowest = x->dtype == FY_DTYPE_I8 ? -128.0 : x->dtype == FY_DTYPE_U8 ? 0.0 : -INFINITY;
    int64_t o[FY_MAX_RANK];
    win wn;
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t xb = pl * insz, yb = pl * outsz;
        memset(o, 0, sizeof o);
        for (int64_t op = 0; op < outsz; op++, step_coords(g.n, g.out, o)) {
            int64_t nt = win_taps(&g, &wn, win_at(&g, o, &wn), offs, coffs);
            double v = 0.0;
            if (kind == POOL_MAX) {
                int64_t best = -1;
                v = lowest;
                for (int64_t t = 0; t < nt; t++) {
                    double xv = fy__ld(x, xb + offs[t]);
                    if (best < 0 || xv > v) {
                        v = xv;
                        best = t;
                    }
                }
                if (yi)
                    ((int64_t *)yi->data)[yb + op] =
                        best < 0 ? -1 : xb + (storage ? coffs[best] : offs[best]);
            } else if (kind == POOL_AVG) {
                for (int64_t t = 0; t < nt; t++)
                    v += fy__ld(x, xb + offs[t]);
                double div = include_pad ? wn.padded : (double)nt;
                v = div > 0 ? v / div : 0.0;
            } else {
                for (int64_t t = 0; t < nt; t++)
                    v += pow(fabs(fy__ld(x, xb + offs[t])), p);
                v = pow(v, 1.0 / p);
            }
            fy__st(y, yb + op, v);
        }
    }
done:
    free(offs);
    free(coffs);
    return rc;
}

static int op_maxpool(fy__op_ctx *c)
{
    return pool_run(c, POOL_MAX);
}

static int op_avgpool(fy__op_ctx *c)
{
    return pool_run(c, POOL_AVG);
}

static int op_lppool(fy__op_ctx *c)
{
    return pool_run(c, POOL_LP);
}

static int global_pool(fy__op_ctx *c, int kind)
{
    int rc;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = need_float(c, x, 0)))
        return rc;
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d; expected N, C and spatial axes",
                           x->rank);
    double p = 2.0;
    if (kind == POOL_LP) {
        const fy__attr *pa = fy__attr_find(c->node, "p");
        if (pa)
            p = pa->type == FY_ATTR_FLOAT ? (double)pa->f : (double)pa->i;
        if (!(p > 0 && p <= 1e6))
            return fy__op_fail(c, FY_EINVAL, "attribute 'p' = %g must be positive", p);
    }
    int64_t dims[FY_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        dims[i] = i < 2 ? x->dims[i] : 1;
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, dims, c->diag)))
        return rc;
    const int64_t planes = x->dims[0] * x->dims[1];
    if (planes == 0)
        return FY_OK;
    const int64_t insz = fy_tensor_numel(x) / planes;
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t xb = pl * insz;
        double v;
        if (kind == POOL_MAX) {
            v = insz ? fy__ld(x, xb) : -INFINITY;
            for (int64_t i = 1; i < insz; i++) {
                double xv = fy__ld(x, xb + i);
                if (xv > v)
                    v = xv;
            }
        } else if (kind == POOL_AVG) {
            v = 0.0;
            if (x->dtype == FY_DTYPE_F32) {
                const float *xp = (const float *)x->data + xb;
                for (int64_t i = 0; i < insz; i++)
                    v += xp[i];
            } else {
                for (int64_t i = 0; i < insz; i++)
                    v += fy__ld(x, xb + i);
            }
            v = insz ? v / (double)insz : NAN;
        } else {
            v = 0.0;
            for (int64_t i = 0; i < insz; i++)
                v += pow(fabs(fy__ld(x, xb + i)), p);
            v = pow(v, 1.0 / p);
        }
        fy__st(y, pl, v);
    }
    return FY_OK;
}

static int op_global_avgpool(fy__op_ctx *c)
{
    return global_pool(c, POOL_AVG);
}

static int op_global_maxpool(fy__op_ctx *c)
{
    return global_pool(c, POOL_MAX);
}

static int op_global_lppool(fy__op_ctx *c)
{
    return global_pool(c, POOL_LP);
}

/* MaxUnpool: scatter X into a zero tensor at the flat indices I (as MaxPool's Indices
 * output gives them: offsets into the whole output tensor). */
static int op_maxunpool(fy__op_ctx *c)
{
    int rc;
    geom g;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1], *shp = fy__op_in(c, 2);
    if ((rc = need_float(c, x, 0)) || (rc = geom_init(c, &g, x)) || (rc = pool_kernel(c, &g)))
        return rc;
    if (ind->dtype != FY_DTYPE_I64)
        return fy__op_fail(c, FY_EINVAL, "input 1 (I) has dtype %s; expected int64",
                           fy_dtype_name(ind->dtype));
    if (ind->rank != x->rank || memcmp(ind->dims, x->dims, sizeof(int64_t) * (size_t)x->rank))
        return fy__op_fail(c, FY_EINVAL, "input 1 (I) must have the shape of input 0 (X)");
    int64_t pads[2 * FY_MAX_RANK], dims[FY_MAX_RANK] = {x->dims[0], x->dims[1]};
    if ((rc = ints_attr(c, "strides", g.n, 1, 1, g.s)) ||
        (rc = ints_attr(c, "pads", 2 * g.n, 0, 0, pads)))
        return rc;
    for (int i = 0; i < g.n; i++) {
        int64_t in = g.in[i];
        dims[i + 2] = in == 0 ? 0 : (in - 1) * g.s[i] + g.k[i] - pads[i] - pads[i + g.n];
        if (dims[i + 2] < 0)
            return fy__op_fail(c, FY_EINVAL, "pads on spatial axis %d exceed the unpooled size", i);
    }
    /* With output_shape, the indices still address the inferred shape (the MaxPool
     * input); the result is placed at the start of each axis of the larger output. */
    int64_t odims[FY_MAX_RANK];
    memcpy(odims, dims, sizeof odims);
    size_t bytes;
    if ((rc = fy_shape_nbytes(x->dtype, x->rank, dims, &bytes, c->diag)))
        return rc;
    if (shp) {
        int n = fy__read_ints(c, shp, odims, FY_MAX_RANK, "input 2 (output_shape)");
        if (n < 0)
            return n;
        if (n != x->rank)
            return fy__op_fail(c, FY_EINVAL, "input 2 (output_shape) has %d values; expected %d", n,
                               x->rank);
        for (int i = 0; i < n; i++)
            if (odims[i] < dims[i])
                return fy__op_fail(c, FY_EINVAL,
                                   "input 2 (output_shape)[%d] = %lld is smaller than the "
                                   "unpooled size %lld",
                                   i, (long long)odims[i], (long long)dims[i]);
    }
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, odims, c->diag)))
        return rc;
    const int64_t ninf = fy__dims_prod(dims, 0, x->rank), nx = fy_tensor_numel(x);
    const size_t es = fy_dtype_size(x->dtype);
    const int64_t *iv = ind->data;
    int64_t co[FY_MAX_RANK];
    for (int64_t i = 0; i < nx; i++) {
        if (iv[i] < 0 || iv[i] >= ninf)
            return fy__op_fail(c, FY_EINVAL,
                               "index %lld at position %lld of input 1 (I) is outside the unpooled "
                               "tensor (%lld elements)",
                               (long long)iv[i], (long long)i, (long long)ninf);
        unravel(x->rank, dims, iv[i], co);
        int64_t off = 0;
        for (int a = 0; a < x->rank; a++)
            off = off * odims[a] + co[a];
        memcpy((char *)y->data + (size_t)off * es, (const char *)x->data + (size_t)i * es, es);
    }
    return FY_OK;
}

/* ======================================================================== */
/* Normalization                                                            */
/* ======================================================================== */

/* A per-channel parameter vector of C values (any float dtype). */
static int param_vec(fy__op_ctx *c, int i, int64_t n, const char *what)
{
    int rc;
    if ((rc = fy__op_need(c, i)))
        return rc;
    const fy_tensor *t = c->in[i];
    if ((rc = need_float(c, t, i)))
        return rc;
    if (fy_tensor_numel(t) != n || t->rank > 1)
        return fy__op_fail(c, FY_EINVAL, "input %d (%s) must have shape [%lld]", i, what,
                           (long long)n);
    return FY_OK;
}

static int op_batchnorm(fy__op_ctx *c)
{
    int rc, training = 0;
    double *stats = NULL;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = need_float(c, x, 0)))
        return rc;
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d; expected N, C, ...", x->rank);
    const double eps = fy__attr_float(c->node, "epsilon", 1e-5f);
    const double momentum = fy__attr_float(c->node, "momentum", 0.9f);
    if (c->opset >= 14 && (rc = flag_attr(c, "training_mode", 0, &training)))
        return rc;
    /* spatial=0 (opsets 7-8; also accepted earlier) gives every element of a sample its
     * own statistics: the parameters then have shape [C, D1, ...]. */
    int spatial = c->opset < 9 ? (int)(fy__attr_int(c->node, "spatial", 1) != 0) : 1;
    const int64_t N = x->dims[0], C = x->dims[1];
    const int64_t inner = N * C != 0 ? fy_tensor_numel(x) / (N * C) : 0;
    const int64_t np = spatial ? C : C * inner;
    if (!spatial && training)
        return fy__op_fail(c, FY_EUNSUPPORTED, "training_mode with spatial=0");
    static const char *const names[] = {"scale", "B", "mean", "var"};
    for (int i = 1; i <= 4; i++) {
        if ((rc = fy__op_need(c, i)))
            return rc;
        const fy_tensor *t = c->in[i];
        if ((rc = need_float(c, t, i)))
            return rc;
        if (fy_tensor_numel(t) != np || (spatial && t->rank != 1))
            return fy__op_fail(c, FY_EINVAL, "input %d (%s) must have %lld values%s", i,
                               names[i - 1], (long long)np, spatial ? " (one per channel)" : "");
    }
    const fy_tensor *sc = c->in[1], *bi = c->in[2], *mean = c->in[3], *var = c->in[4];
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    /* Per-parameter mean and variance: the running ones, or the batch's in training. */
    stats = calloc((size_t)(np > 0 ? np : 1) * 2, sizeof *stats);
    if (!stats)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for %lld statistics", (long long)np);
    double *mu = stats, *sg = stats + np;
    for (int64_t k = 0; k < np; k++) {
        mu[k] = fy__ld(mean, k);
        sg[k] = fy__ld(var, k);
    }
    if (training) {
        double cnt = (double)(N * inner);
        for (int64_t ch = 0; ch < C; ch++) {
            double s = 0, s2 = 0;
            for (int64_t nn = 0; nn < N; nn++)
                for (int64_t i = 0; i < inner; i++)
                    s += fy__ld(x, (nn * C + ch) * inner + i);
            double m = cnt > 0 ? s / cnt : 0;
            for (int64_t nn = 0; nn < N; nn++)
                for (int64_t i = 0; i < inner; i++) {
                    double dv = fy__ld(x, (nn * C + ch) * inner + i) - m;
                    s2 += dv * dv;
                }
            mu[ch] = m;
            sg[ch] = cnt > 0 ? s2 / cnt : 0;
        }
        for (int o = 1; o <= 2; o++) {
            if (!fy__op_wants_out(c, o))
                continue;
            const fy_tensor *run = o == 1 ? mean : var;
            fy_tensor *ro = &c->out[o];
            if ((rc = fy_tensor_alloc(ro, run->dtype, run->rank, run->dims, c->diag)))
                goto done;
            for (int64_t ch = 0; ch < C; ch++)
                fy__st(ro, ch, fy__ld(run, ch) * momentum + (o == 1 ? mu[ch] : sg[ch]) * (1 - momentum));
        }
    }
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t base = (nn * C + ch) * inner;
            if (spatial) {
                double a = fy__ld(sc, ch) / sqrt(sg[ch] + eps);
                double bb = fy__ld(bi, ch) - mu[ch] * a;
                if (x->dtype == FY_DTYPE_F32) {
                    const float *xp = (const float *)x->data + base;
                    float *yp = (float *)y->data + base, af = (float)a, bf = (float)bb;
                    for (int64_t i = 0; i < inner; i++)
                        yp[i] = xp[i] * af + bf;
                } else {
                    for (int64_t i = 0; i < inner; i++)
                        fy__st(y, base + i, fy__ld(x, base + i) * a + bb);
                }
            } else {
                for (int64_t i = 0; i < inner; i++) {
                    int64_t k = ch * inner + i;
                    double v = (fy__ld(x, base + i) - mu[k]) / sqrt(sg[k] + eps);
                    fy__st(y, base + i, v * fy__ld(sc, k) + fy__ld(bi, k));
                }
            }
        }
    rc = FY_OK;
done:
    free(stats);
    return rc;
}

static int op_instancenorm(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = need_float(c, x, 0)))
        return rc;
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d; expected N, C, ...", x->rank);
    const int64_t N = x->dims[0], C = x->dims[1];
    if ((rc = param_vec(c, 1, C, "scale")) || (rc = param_vec(c, 2, C, "B")))
        return rc;
    const double eps = fy__attr_float(c->node, "epsilon", 1e-5f);
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    if (N * C == 0)
        return FY_OK;
    const int64_t inner = fy_tensor_numel(x) / (N * C);
    for (int64_t pl = 0; pl < N * C; pl++) {
        int64_t base = pl * inner, ch = pl % C;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < inner; i++)
            s += fy__ld(x, base + i);
        double m = inner ? s / (double)inner : 0;
        for (int64_t i = 0; i < inner; i++) {
            double dv = fy__ld(x, base + i) - m;
            s2 += dv * dv;
        }
        double var = inner ? s2 / (double)inner : 0;
        double a = fy__ld(c->in[1], ch) / sqrt(var + eps), bb = fy__ld(c->in[2], ch);
        for (int64_t i = 0; i < inner; i++)
            fy__st(y, base + i, (fy__ld(x, base + i) - m) * a + bb);
    }
    return FY_OK;
}

static int op_lrn(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if ((rc = need_float(c, x, 0)))
        return rc;
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input 0 has rank %d; expected N, C, ...", x->rank);
    int64_t size = fy__attr_int(c->node, "size", 0);
    if (size < 1 || size > NN_ATTR_MAX)
        return fy__op_fail(c, FY_EINVAL, "attribute 'size' = %lld must be a positive count",
                           (long long)size);
    const double alpha = fy__attr_float(c->node, "alpha", 1e-4f);
    const double beta = fy__attr_float(c->node, "beta", 0.75f);
    const double bias = fy__attr_float(c->node, "bias", 1.0f);
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, x->rank, x->dims, c->diag)))
        return rc;
    const int64_t N = x->dims[0], C = x->dims[1];
    if (N * C == 0)
        return FY_OK;
    const int64_t inner = fy_tensor_numel(x) / (N * C);
    const int64_t lo = (size - 1) / 2, hi = size / 2; /* floor and ceil of (size-1)/2 */
    for (int64_t nn = 0; nn < N; nn++)
        for (int64_t ch = 0; ch < C; ch++) {
            int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;
            for (int64_t i = 0; i < inner; i++) {
                double sq = 0;
                for (int64_t k = c0; k <= c1; k++) {
                    double v = fy__ld(x, (nn * C + k) * inner + i);
                    sq += v * v;
                }
                int64_t at = (nn * C + ch) * inner + i;
                fy__st(y, at, fy__ld(x, at) / pow(bias + alpha / (double)size * sq, beta));
            }
        }
    return FY_OK;
}

/* ======================================================================== */
/* Gemm and MatMul                                                          */
/* ======================================================================== */

static int matmul_dtype_ok(fy_dtype dt)
{
    return fy__dtype_is_float(dt) || dt == FY_DTYPE_I32 || dt == FY_DTYPE_I64 ||
           dt == FY_DTYPE_U32 || dt == FY_DTYPE_U64;
}

/* A wrapped integer accumulator as a double of the output's signedness. */
static double acc_to_f64(uint64_t acc, fy_dtype dt)
{
    return dt == FY_DTYPE_U32 || dt == FY_DTYPE_U64 ? (double)acc : (double)(int64_t)acc;
}

/* Y[offY + M*N] = alpha * op(A) op(B) + beta * C for the non-float32 dtypes: double
 * sums for floats, wrapping (numpy-style) integer sums for ints. C is read at
 * i*cs0 + j*cs1 (broadcast strides), or ignored when NULL. */
typedef struct gemm_args {
    const fy_tensor *A, *B, *C;
    int64_t offA, offB, offY, M, N, K, cs0, cs1;
    int ta, tb;
    double alpha, beta;
} gemm_args;

static void gemm_ref(const gemm_args *g, fy_tensor *Y)
{
    const int isint = fy__dtype_is_int(Y->dtype);
    const int exact = g->alpha == 1.0 && (g->beta == 1.0 || !g->C);
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            int64_t yi = g->offY + i * g->N + j, ci = i * g->cs0 + j * g->cs1;
            if (isint) {
                uint64_t acc = 0;
                for (int64_t k = 0; k < g->K; k++) {
                    int64_t ai = g->ta ? k * g->M + i : i * g->K + k;
                    int64_t bi = g->tb ? j * g->K + k : k * g->N + j;
                    acc += (uint64_t)fy__get_i64(g->A, g->offA + ai) *
                           (uint64_t)fy__get_i64(g->B, g->offB + bi);
                }
                if (exact) {
                    uint64_t cv = g->C ? (uint64_t)fy__get_i64(g->C, ci) : 0;
                    fy__set_i64(Y, yi, (int64_t)(acc + cv));
                } else {
                    double v = g->alpha * acc_to_f64(acc, Y->dtype);
                    if (g->C)
                        v += g->beta * acc_to_f64((uint64_t)fy__get_i64(g->C, ci), Y->dtype);
                    fy__set_f64(Y, yi, v);
                }
            } else {
                double acc = 0;
                for (int64_t k = 0; k < g->K; k++) {
                    int64_t ai = g->ta ? k * g->M + i : i * g->K + k;
                    int64_t bi = g->tb ? j * g->K + k : k * g->N + j;
                    acc += fy__ld(g->A, g->offA + ai) * fy__ld(g->B, g->offB + bi);
                }
                double v = g->alpha * acc;
                if (g->C)
                    v += g->beta * fy__ld(g->C, ci);
                fy__st(Y, yi, v);
            }
        }
}

static int op_gemm(fy__op_ctx *c)
{
    int rc, ta = 0, tb = 0;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *A = c->in[0], *B = c->in[1], *Ct = fy__op_in(c, 2);
    if (!matmul_dtype_ok(A->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED,
                           "input 0 has dtype %s; Gemm supports float types and 32/64-bit ints",
                           fy_dtype_name(A->dtype));
    if ((rc = same_dtype(c, B, 1, A)) || (Ct && (rc = same_dtype(c, Ct, 2, A))))
        return rc;
    if ((rc = flag_attr(c, "transA", 0, &ta)) || (rc = flag_attr(c, "transB", 0, &tb)))
        return rc;
    if (A->rank != 2 || B->rank != 2)
        return fy__op_fail(c, FY_EINVAL, "inputs A and B must be 2-D; got ranks %d and %d", A->rank,
                           B->rank);
    const int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    const int64_t Kb = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != Kb)
        return fy__op_fail(c, FY_EINVAL,
                           "inner dimensions differ: A gives K=%lld, B gives K=%lld (transA=%d, "
                           "transB=%d)",
                           (long long)K, (long long)Kb, ta, tb);
    const double alpha = fy__attr_float(c->node, "alpha", 1.0f);
    const double beta = fy__attr_float(c->node, "beta", 1.0f);
    int64_t cs0 = 0, cs1 = 0;
    if (Ct) {
        if (Ct->rank > 2)
            return fy__op_fail(c, FY_EINVAL, "input 2 (C) has rank %d; expected at most 2",
                               Ct->rank);
        int64_t c0 = Ct->rank == 2 ? Ct->dims[0] : 1,
                c1 = Ct->rank >= 1 ? Ct->dims[Ct->rank - 1] : 1;
        if ((c0 != 1 && c0 != M) || (c1 != 1 && c1 != N))
            return fy__op_fail(c, FY_EINVAL,
                               "input 2 (C) of shape [%lld, %lld] cannot be broadcast to [%lld, "
                               "%lld]",
                               (long long)c0, (long long)c1, (long long)M, (long long)N);
        cs0 = c0 == 1 ? 0 : c1;
        cs1 = c1 == 1 ? 0 : 1;
        /* beta = 0 drops C entirely (so infinities or NaN in C do not leak in). */
        if (beta == 0.0)
            Ct = NULL;
    }
    int64_t dims[2] = {M, N};
    fy_tensor *Y = &c->out[0];
    if ((rc = fy_tensor_alloc(Y, A->dtype, 2, dims, c->diag)))
        return rc;
    if (M == 0 || N == 0)
        return FY_OK;
    if (A->dtype == FY_DTYPE_F32) {
        float *y = Y->data;
        if (Ct) {
            const float *cv = Ct->data;
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    y[i * N + j] = (float)beta * cv[i * cs0 + j * cs1];
        }
        return gemm_f32(c, M, N, K, (float)alpha, A->data, ta, B->data, tb, y);
    }
    gemm_args g = {A, B, Ct, 0, 0, 0, M, N, K, cs0, cs1, ta, tb, alpha, beta};
    gemm_ref(&g, Y);
    return FY_OK;
}

static int op_matmul(fy__op_ctx *c)
{
    int rc;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)))
        return rc;
    const fy_tensor *A = c->in[0], *B = c->in[1];
    if (!matmul_dtype_ok(A->dtype))
        return fy__op_fail(c, FY_EUNSUPPORTED,
                           "input 0 has dtype %s; MatMul supports float types and 32/64-bit ints",
                           fy_dtype_name(A->dtype));
    if ((rc = same_dtype(c, B, 1, A)))
        return rc;
    const int ra = A->rank, rb = B->rank;
    if (ra < 1 || rb < 1)
        return fy__op_fail(c, FY_EINVAL, "inputs must have rank at least 1; got %d and %d", ra, rb);
    /* numpy semantics: a 1-D A is a row [1,K], a 1-D B a column [K,1]; the added axis
     * is dropped from the result. */
    const int64_t M = ra >= 2 ? A->dims[ra - 2] : 1, K = A->dims[ra - 1];
    const int64_t Kb = rb >= 2 ? B->dims[rb - 2] : B->dims[0], N = rb >= 2 ? B->dims[rb - 1] : 1;
    if (K != Kb)
        return fy__op_fail(c, FY_EINVAL,
                           "inner dimensions differ: A has %lld columns, B has "
                           "%lld rows",
                           (long long)K, (long long)Kb);
    const int nba = ra > 2 ? ra - 2 : 0, nbb = rb > 2 ? rb - 2 : 0;
    const int nb = nba > nbb ? nba : nbb;
    int64_t bd[FY_MAX_RANK], sa[FY_MAX_RANK], sb[FY_MAX_RANK], dims[FY_MAX_RANK];
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fy__op_fail(c, FY_EINVAL,
                               "batch dimensions cannot be broadcast: %lld in A and %lld in B "
                               "(output axis %d)",
                               (long long)da, (long long)db, i);
        bd[i] = da == 1 ? db : da;
    }
    /* Batch strides in whole matrices; 0 on broadcast axes. */
    int64_t acc_a = 1, acc_b = 1;
    for (int i = nb - 1; i >= 0; i--) {
        int ia = i - (nb - nba), ib = i - (nb - nbb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        sa[i] = da == 1 ? 0 : acc_a;
        sb[i] = db == 1 ? 0 : acc_b;
        acc_a *= da;
        acc_b *= db;
    }
    int rank = 0;
    for (int i = 0; i < nb; i++)
        dims[rank++] = bd[i];
    if (ra >= 2)
        dims[rank++] = M;
    if (rb >= 2)
        dims[rank++] = N;
    fy_tensor *Y = &c->out[0];
    if ((rc = fy_tensor_alloc(Y, A->dtype, rank, dims, c->diag)))
        return rc;
    if (fy_tensor_numel(Y) == 0)
        return FY_OK;
    const int64_t nbatch = fy__dims_prod(bd, 0, nb);
    if (A->dtype == FY_DTYPE_F32 && rb <= 2)
        /* One B for every batch: the batches of A stack into one tall matrix. */
        return gemm_f32(c, nbatch * M, N, K, 1.0f, A->data, 0, B->data, 0, Y->data);
    int64_t bi[FY_MAX_RANK] = {0};
    for (int64_t t = 0; t < nbatch; t++, step_coords(nb, bd, bi)) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nb; i++) {
            oa += bi[i] * sa[i];
            ob += bi[i] * sb[i];
        }
        if (A->dtype == FY_DTYPE_F32) {
            rc = gemm_f32(c, M, N, K, 1.0f, (const float *)A->data + oa * M * K, 0,
                          (const float *)B->data + ob * K * N, 0, (float *)Y->data + t * M * N);
            if (rc)
                return rc;
        } else {
            gemm_args g = {A, B, NULL, oa * M * K, ob * K * N, t * M * N, M,  N,
                           K, 0, 0,    0,          0,          1.0,       0.0};
            gemm_ref(&g, Y);
        }
    }
    return FY_OK;
}

/* ======================================================================== */
/* Resize and Upsample                                                      */
/* ======================================================================== */

enum { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
};
/* NM_SIMPLE is the pre-opset-11 rule (Upsample, Resize-10): floor when upsampling,
 * ceil when downsampling. */
enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

typedef struct rs_cfg {
    int mode, coord, nearest, exclude_outside;
    double cubic_a, extrapolation;
    int64_t out[FY_MAX_RANK];
    double scale[FY_MAX_RANK];   /* output/input, as given or derived from sizes */
    double len_out[FY_MAX_RANK]; /* resized length the coordinate transform uses */
    double roi0[FY_MAX_RANK], roi1[FY_MAX_RANK];
} rs_cfg;

static int pick(fy__op_ctx *c, const char *attr, const char *def, const char *const *names, int n,
                int *out)
{
    const char *s = fy__attr_str(c->node, attr, def);
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return FY_OK;
        }
    return fy__op_fail(c, FY_EINVAL, "attribute '%s' = '%s' is not a valid value", attr, s);
}

/* Attributes of Resize (and Upsample: legacy, fixed asymmetric coordinates). */
static int rs_attrs(fy__op_ctx *c, rs_cfg *p, int legacy)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", "bilinear"};
    static const char *const coords[] = {
        "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize",
    };
    static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                           "ceil"};
    int rc;
    memset(p, 0, sizeof *p);
    if ((rc = pick(c, "mode", "nearest", modes, 4, &p->mode)))
        return rc;
    if (p->mode == 3)
        p->mode = RS_LINEAR;
    p->cubic_a = -0.75;
    if (legacy) {
        p->coord = CT_ASYMMETRIC;
        p->nearest = NM_SIMPLE;
        return FY_OK;
    }
    if ((rc = pick(c, "coordinate_transformation_mode", "half_pixel", coords, 7, &p->coord)) ||
        (rc = pick(c, "nearest_mode", "round_prefer_floor", nearests, 4, &p->nearest)) ||
        (rc = flag_attr(c, "exclude_outside", 0, &p->exclude_outside)))
        return rc;
    p->cubic_a = fy__attr_float(c->node, "cubic_coeff_a", -0.75f);
    p->extrapolation = fy__attr_float(c->node, "extrapolation_value", 0.0f);
    if (fy__attr_int(c->node, "antialias", 0) != 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "attribute 'antialias' = 1 is not supported");
    return FY_OK;
}

/* Source coordinate of output coordinate o along axis a. */
static double rs_coord(const rs_cfg *p, int a, int64_t in, int64_t o)
{
    const double x = (double)o, s = p->scale[a], lo = p->len_out[a], li = (double)in;
    switch (p->coord) {
    case CT_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)p->out[a] / lo;
        return li / 2 * (1 - adj) + (x + 0.5) / s - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL: return p->out[a] > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return lo == 1.0 ? 0.0 : x * (li - 1) / (lo - 1);
    case CT_ASYMMETRIC: return x / s;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / s;
    default:
        if (lo > 1)
            return p->roi0[a] * (li - 1) + x * (p->roi1[a] - p->roi0[a]) * (li - 1) / (lo - 1);
        return 0.5 * (p->roi0[a] + p->roi1[a]) * (li - 1);
    }
}

static void cubic_coeffs(double r, double A, double *cw)
{
    double t = r + 1;
    cw[0] = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
    t = r;
    cw[1] = ((A + 2) * t - (A + 3)) * t * t + 1;
    t = 1 - r;
    cw[2] = ((A + 2) * t - (A + 3)) * t * t + 1;
    t = 2 - r;
    cw[3] = ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Taps (up to 4 input indices and weights) of every output coordinate along axis a;
 * outside[o] marks tf_crop_and_resize coordinates that take the extrapolation value. */
static void rs_axis(const rs_cfg *p, int a, int64_t in, int64_t *idx, double *w,
                    unsigned char *outside)
{
    const int taps = p->mode == RS_NEAREST ? 1 : p->mode == RS_LINEAR ? 2 : 4;
    for (int64_t o = 0; o < p->out[a]; o++) {
        double x = rs_coord(p, a, in, o), cw[4] = {0, 0, 0, 0};
        int64_t *ix = idx + o * 4;
        double *wt = w + o * 4;
        memset(ix, 0, 4 * sizeof *ix);
        memset(wt, 0, 4 * sizeof *wt);
        outside[o] = 0;
        if (p->coord == CT_TF_CROP_AND_RESIZE && !(x >= 0 && x <= (double)(in - 1))) {
            outside[o] = 1;
            continue;
        }
        /* No transform leaves [-1, in]; the clamp only keeps the conversion defined. */
        if (!(x >= -4.0))
            x = -4.0;
        if (!(x <= (double)in + 4.0))
            x = (double)in + 4.0;
        double fl = floor(x), r = x - fl;
        int64_t base = (int64_t)fl;
        if (p->mode == RS_NEAREST) {
            int up = 0;
            switch (p->nearest) {
            case NM_ROUND_PREFER_FLOOR: up = r > 0.5; break;
            case NM_ROUND_PREFER_CEIL: up = r >= 0.5; break;
            case NM_FLOOR: up = 0; break;
            case NM_CEIL: up = r > 0; break;
            default: up = p->scale[a] < 1.0 && r > 0; break;
            }
            ix[0] = clamp64(base + up, 0, in - 1);
            wt[0] = 1.0;
            continue;
        }
        int64_t first = base;
        if (p->mode == RS_LINEAR) {
            cw[0] = 1 - r;
            cw[1] = r;
        } else {
            first = base - 1;
            cubic_coeffs(r, p->cubic_a, cw);
        }
        double sum = 0;
        for (int t = 0; t < taps; t++) {
            int64_t q = first + t;
            if (p->exclude_outside && (q < 0 || q >= in))
                cw[t] = 0;
            sum += cw[t];
            ix[t] = clamp64(q, 0, in - 1);
            wt[t] = cw[t];
        }
        if (p->exclude_outside && sum != 0)
            for (int t = 0; t < taps; t++)
                wt[t] /= sum;
    }
}

/* Whether axis a maps every output coordinate onto the same input coordinate. */
static int rs_identity(const rs_cfg *p, int a, int64_t in, const int64_t *idx, const double *w,
                       const unsigned char *outside)
{
    if (p->out[a] != in)
        return 0;
    for (int64_t o = 0; o < in; o++) {
        double at_o = 0;
        if (outside[o])
            return 0;
        for (int t = 0; t < 4; t++) {
            if (idx[o * 4 + t] == o)
                at_o += w[o * 4 + t];
            else if (w[o * 4 + t] != 0.0)
                return 0;
        }
        if (at_o != 1.0)
            return 0;
    }
    return 1;
}

static int rs_run(fy__op_ctx *c, const fy_tensor *x, const rs_cfg *p)
{
    int rc = FY_OK;
    const int r = x->rank;
    int64_t *idx[FY_MAX_RANK] = {0};
    double *w[FY_MAX_RANK] = {0}, *cur = NULL, *nxt = NULL;
    unsigned char *outside[FY_MAX_RANK] = {0};
    for (int a = 0; a < r; a++)
        if (x->dims[a] == 0 && p->out[a] > 0)
            return fy__op_fail(c, FY_EINVAL, "cannot resize the empty axis %d to %lld", a,
                               (long long)p->out[a]);
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, r, p->out, c->diag)))
        return rc;
    const int64_t ny = fy_tensor_numel(y);
    if (ny == 0)
        return FY_OK;
    int any_outside = 0;
    for (int a = 0; a < r; a++) {
        size_t n = (size_t)p->out[a];
        idx[a] = malloc(n * 4 * sizeof *idx[a]);
        w[a] = malloc(n * 4 * sizeof *w[a]);
        outside[a] = malloc(n);
        if (!idx[a] || !w[a] || !outside[a]) {
            rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the interpolation tables");
            goto done;
        }
        rs_axis(p, a, x->dims[a], idx[a], w[a], outside[a]);
        for (size_t o = 0; o < n; o++)
            any_outside |= outside[a][o];
    }
    int64_t o[FY_MAX_RANK] = {0}, xs[FY_MAX_RANK];
    fy__strides(r, x->dims, xs);
    if (p->mode == RS_NEAREST) {
        const size_t es = fy_dtype_size(x->dtype);
        for (int64_t i = 0; i < ny; i++, step_coords(r, p->out, o)) {
            int64_t off = 0;
            int out = 0;
            for (int a = 0; a < r; a++) {
                off += idx[a][o[a] * 4] * xs[a];
                out |= outside[a][o[a]];
            }
            if (out)
                fy__st(y, i, p->extrapolation);
            else
                memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)off * es,
                       es);
        }
        goto done;
    }
    /* Linear and cubic are separable: interpolate one axis at a time, in double. */
    const int taps = p->mode == RS_LINEAR ? 2 : 4;
    int64_t dims[FY_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    const int64_t nx = fy_tensor_numel(x);
    cur = malloc((size_t)nx * sizeof *cur);
    if (!cur) {
        rc =
            fy__op_fail(c, FY_ENOMEM, "out of memory for %lld interpolation values", (long long)nx);
        goto done;
    }
    for (int64_t i = 0; i < nx; i++)
        cur[i] = fy__ld(x, i);
    for (int a = 0; a < r; a++) {
        const int64_t in = dims[a], outn = p->out[a];
        if (rs_identity(p, a, in, idx[a], w[a], outside[a]))
            continue;
        int64_t nd[FY_MAX_RANK];
        size_t bytes;
        memcpy(nd, dims, sizeof nd);
        nd[a] = outn;
        if ((rc = fy_shape_nbytes(FY_DTYPE_F64, r, nd, &bytes, c->diag)))
            goto done;
        nxt = calloc(bytes ? bytes : 1, 1);
        if (!nxt) {
            rc = fy__op_fail(c, FY_ENOMEM, "out of memory for an interpolation pass");
            goto done;
        }
        const int64_t outer = fy__dims_prod(dims, 0, a), inner = fy__dims_prod(dims + a + 1, 0, r - a - 1);
        for (int64_t ou = 0; ou < outer; ou++)
            for (int64_t oo = 0; oo < outn; oo++) {
                double *dst = nxt + (ou * outn + oo) * inner;
                for (int t = 0; t < taps; t++) {
                    double wt = w[a][oo * 4 + t];
                    const double *src = cur + (ou * in + idx[a][oo * 4 + t]) * inner;
                    for (int64_t i = 0; i < inner; i++)
                        dst[i] += wt * src[i];
                }
            }
        free(cur);
        cur = nxt;
        nxt = NULL;
        dims[a] = outn;
    }
    for (int64_t i = 0; i < ny; i++, step_coords(r, p->out, o)) {
        int out = 0;
        if (any_outside)
            for (int a = 0; a < r; a++)
                out |= outside[a][o[a]];
        fy__st(y, i, out ? p->extrapolation : cur[i]);
    }
done:
    for (int a = 0; a < r; a++) {
        free(idx[a]);
        free(w[a]);
        free(outside[a]);
    }
    free(cur);
    free(nxt);
    return rc;
}

/* Output size floor(in * factor), checked before it becomes an integer. */
static int rs_out_size(fy__op_ctx *c, int a, int64_t in, double factor, int64_t *out)
{
    double v = floor((double)in * factor);
    if (!(v >= 0 && v <= (double)NN_DIM_MAX))
        return fy__op_fail(c, FY_EINVAL, "axis %d: output size %g from the scales is out of range",
                           a, v);
    *out = (int64_t)v;
    return FY_OK;
}

/* Fill p->scale/out/len_out from a scales tensor (one value per listed axis). */
static int rs_from_scales(fy__op_ctx *c, const fy_tensor *x, const fy_tensor *scales,
                          const int *axes, int naxes, rs_cfg *p, const char *what)
{
    int rc;
    if (!fy__dtype_is_float(scales->dtype))
        return fy__op_fail(c, FY_EINVAL, "%s has dtype %s; expected float", what,
                           fy_dtype_name(scales->dtype));
    if (fy_tensor_numel(scales) != naxes)
        return fy__op_fail(c, FY_EINVAL, "%s has %lld values; expected %d", what,
                           (long long)fy_tensor_numel(scales), naxes);
    for (int i = 0; i < naxes; i++) {
        int a = axes[i];
        double s = fy__ld(scales, i);
        if (!(s > 0 && s < 1e12))
            return fy__op_fail(c, FY_EINVAL, "%s[%d] = %g must be a positive finite scale", what, i,
                               s);
        double extent = p->coord == CT_TF_CROP_AND_RESIZE ? p->roi1[a] - p->roi0[a] : 1.0;
        if ((rc = rs_out_size(c, a, x->dims[a], s * extent, &p->out[a])))
            return rc;
        p->scale[a] = s;
        p->len_out[a] = (double)x->dims[a] * s * extent;
    }
    return FY_OK;
}

static int op_resize(fy__op_ctx *c)
{
    int rc;
    rs_cfg p;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    const int legacy = c->opset < 11;
    if (fy_dtype_size(x->dtype) == 0 || x->dtype == FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 has dtype %s", fy_dtype_name(x->dtype));
    if ((rc = rs_attrs(c, &p, legacy)))
        return rc;
    const int r = x->rank;
    if (r < 1)
        return fy__op_fail(c, FY_EINVAL, "input 0 is a scalar; nothing to resize");
    int axes[FY_MAX_RANK], naxes = r;
    for (int a = 0; a < r; a++) {
        axes[a] = a;
        p.scale[a] = 1.0;
        p.out[a] = x->dims[a];
        p.len_out[a] = (double)x->dims[a];
        p.roi0[a] = 0.0;
        p.roi1[a] = 1.0;
    }
    const int64_t *av = NULL;
    int64_t nav = c->opset >= 18 ? fy__attr_ints(c->node, "axes", &av) : -1;
    if (nav > 0) {
        if (nav > r)
            return fy__op_fail(c, FY_EINVAL, "attribute 'axes' has %lld values for rank %d",
                               (long long)nav, r);
        unsigned seen = 0;
        for (int i = 0; i < nav; i++) {
            int a = fy__axis(c, av[i], r, 0);
            if (a < 0)
                return a;
            if (seen & (1u << a))
                return fy__op_fail(c, FY_EINVAL, "attribute 'axes' repeats axis %d", a);
            seen |= 1u << a;
            axes[i] = a;
        }
        naxes = (int)nav;
    }
    const fy_tensor *roi = legacy ? NULL : fy__op_in(c, 1);
    const fy_tensor *scales = fy__op_in(c, legacy ? 1 : 2), *sizes = legacy ? NULL : fy__op_in(c, 3);
    const int has_scales = scales && fy_tensor_numel(scales) > 0;
    const int has_sizes = sizes && fy_tensor_numel(sizes) > 0;
    if (has_scales && has_sizes)
        return fy__op_fail(c, FY_EINVAL,
                           "only one of scales (input 2) and sizes (input 3) may "
                           "be given");
    if (!has_scales && !has_sizes)
        return fy__op_fail(c, FY_EINVAL, "one of scales and sizes is required");
    if (p.coord == CT_TF_CROP_AND_RESIZE && roi && fy_tensor_numel(roi) > 0) {
        if (!fy__dtype_is_float(roi->dtype) || fy_tensor_numel(roi) != 2 * naxes)
            return fy__op_fail(c, FY_EINVAL, "input 1 (roi) must hold %d float values", 2 * naxes);
        for (int i = 0; i < naxes; i++) {
            p.roi0[axes[i]] = fy__ld(roi, i);
            p.roi1[axes[i]] = fy__ld(roi, i + naxes);
        }
    }
    if (has_scales)
        return (rc = rs_from_scales(c, x, scales, axes, naxes, &p, "scales")) ? rc
                                                                              : rs_run(c, x, &p);
    int64_t sz[FY_MAX_RANK];
    int n = fy__read_ints(c, sizes, sz, FY_MAX_RANK, "input 3 (sizes)");
    if (n < 0)
        return n;
    if (n != naxes)
        return fy__op_fail(c, FY_EINVAL, "input 3 (sizes) has %d values; expected %d", n, naxes);
    for (int i = 0; i < n; i++)
        if (sz[i] < 0 || sz[i] > NN_DIM_MAX)
            return fy__op_fail(c, FY_EINVAL, "input 3 (sizes)[%d] = %lld is out of range", i,
                               (long long)sz[i]);
    const char *policy =
        c->opset >= 18 ? fy__attr_str(c->node, "keep_aspect_ratio_policy", "stretch") : "stretch";
    if (strcmp(policy, "stretch") != 0) {
        /* One scale for all listed axes: the largest (not_smaller) or smallest
         * (not_larger) of the per-axis ratios. */
        int larger = strcmp(policy, "not_smaller") == 0;
        if (!larger && strcmp(policy, "not_larger") != 0)
            return fy__op_fail(c, FY_EINVAL,
                               "attribute 'keep_aspect_ratio_policy' = '%s' is "
                               "not stretch, not_larger or not_smaller",
                               policy);
        double s = larger ? 0.0 : INFINITY;
        for (int i = 0; i < n; i++) {
            int64_t in = x->dims[axes[i]];
            double q = in ? (double)sz[i] / (double)in : 1.0;
            s = larger ? (q > s ? q : s) : (q < s ? q : s);
        }
        for (int i = 0; i < n; i++) {
            int a = axes[i];
            double v = floor((double)x->dims[a] * s + 0.5);
            if (!(v >= 0 && v <= (double)NN_DIM_MAX))
                return fy__op_fail(c, FY_EINVAL, "axis %d: output size out of range", a);
            p.out[a] = (int64_t)v;
            p.scale[a] = s > 0 ? s : 1.0;
            p.len_out[a] = (double)p.out[a];
        }
        return rs_run(c, x, &p);
    }
    for (int i = 0; i < n; i++) {
        int a = axes[i];
        int64_t in = x->dims[a];
        p.out[a] = sz[i];
        p.scale[a] = in && sz[i] ? (double)sz[i] / (double)in : 1.0;
        p.len_out[a] = (double)sz[i];
    }
    return rs_run(c, x, &p);
}

static int op_upsample(fy__op_ctx *c)
{
    int rc;
    rs_cfg p;
    if (c->opset < 7)
        return fy__op_fail(c, FY_EUNSUPPORTED, "Upsample before opset 7 is not supported");
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    if (fy_dtype_size(x->dtype) == 0 || x->dtype == FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 has dtype %s", fy_dtype_name(x->dtype));
    if ((rc = rs_attrs(c, &p, 1)))
        return rc;
    if (p.mode == RS_CUBIC)
        return fy__op_fail(c, FY_EINVAL, "attribute 'mode' = 'cubic' is not an Upsample mode");
    const int r = x->rank;
    if (r < 1)
        return fy__op_fail(c, FY_EINVAL, "input 0 is a scalar; nothing to upsample");
    int axes[FY_MAX_RANK];
    for (int a = 0; a < r; a++) {
        axes[a] = a;
        p.roi0[a] = 0.0;
        p.roi1[a] = 1.0;
    }
    if (c->opset >= 9) {
        if ((rc = fy__op_need(c, 1)))
            return rc;
        if ((rc = rs_from_scales(c, x, c->in[1], axes, r, &p, "input 1 (scales)")))
            return rc;
        return rs_run(c, x, &p);
    }
    const float *sv = NULL;
    int64_t ns = fy__attr_floats(c->node, "scales", &sv);
    if (ns < 0)
        return fy__op_fail(c, FY_EINVAL, "attribute 'scales' is required");
    if (ns != r)
        return fy__op_fail(c, FY_EINVAL, "attribute 'scales' has %lld values; expected %d",
                           (long long)ns, r);
    for (int a = 0; a < r; a++) {
        double s = sv[a];
        if (!(s > 0 && s < 1e12))
            return fy__op_fail(c, FY_EINVAL,
                               "attribute 'scales'[%d] = %g must be a positive "
                               "finite scale",
                               a, s);
        if ((rc = rs_out_size(c, a, x->dims[a], s, &p.out[a])))
            return rc;
        p.scale[a] = s;
        p.len_out[a] = (double)x->dims[a] * s;
    }
    return rs_run(c, x, &p);
}

/* ======================================================================== */
/* Pad                                                                      */
/* ======================================================================== */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Input coordinate for output coordinate o on an axis of length n padded by pb at the
 * start; -1 for the constant value. */
static int64_t pad_source(int mode, int64_t o, int64_t pb, int64_t n)
{
    int64_t i = o - pb;
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t period = 2 * (n - 1);
        i %= period;
        if (i < 0)
            i += period;
        return i >= n ? period - i : i;
    }
    case PAD_WRAP: i %= n; return i < 0 ? i + n : i;
    default: return -1;
    }
}

static int op_pad(fy__op_ctx *c)
{
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
    int rc, mode = 0;
    int64_t *map = NULL;
    if ((rc = fy__op_need(c, 0)))
        return rc;
    const fy_tensor *x = c->in[0];
    const size_t es = fy_dtype_size(x->dtype);
    if (es == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input 0 has dtype %s", fy_dtype_name(x->dtype));
    if ((rc = pick(c, "mode", "constant", modes, 4, &mode)))
        return rc;
    const int r = x->rank;
    int64_t pads[2 * FY_MAX_RANK], pb[FY_MAX_RANK] = {0}, pe[FY_MAX_RANK] = {0};
    int axes[FY_MAX_RANK], naxes = r, np;
    for (int a = 0; a < r; a++)
        axes[a] = a;
    /* The constant as one element of x's dtype (zero when not given). */
    unsigned char cval[16] = {0};
    fy_tensor ct;
    memset(&ct, 0, sizeof ct);
    ct.dtype = x->dtype;
    ct.data = cval;
    if (c->opset < 11) {
        const int64_t *pv = NULL;
        int64_t n = fy__attr_ints(c->node, c->opset < 2 ? "paddings" : "pads", &pv);
        if (n < 0)
            return fy__op_fail(c, FY_EINVAL, "attribute 'pads' is required");
        if (n > 2 * FY_MAX_RANK)
            return fy__op_fail(c, FY_EINVAL, "attribute 'pads' has %lld values", (long long)n);
        np = (int)n;
        memcpy(pads, pv, (size_t)np * sizeof *pads);
        fy__set_f64(&ct, 0, fy__attr_float(c->node, "value", 0.0f));
    } else {
        if ((rc = fy__op_need(c, 1)))
            return rc;
        np = fy__read_ints(c, c->in[1], pads, 2 * FY_MAX_RANK, "input 1 (pads)");
        if (np < 0)
            return np;
        const fy_tensor *cv = fy__op_in(c, 2), *ax = c->opset >= 18 ? fy__op_in(c, 3) : NULL;
        if (cv && fy_tensor_numel(cv) > 0) {
            if (cv->dtype != x->dtype)
                return fy__op_fail(
                    c, FY_EINVAL, "input 2 (constant_value) has dtype %s; expected %s like input 0",
                    fy_dtype_name(cv->dtype), fy_dtype_name(x->dtype));
            if (fy_tensor_numel(cv) != 1)
                return fy__op_fail(c, FY_EINVAL, "input 2 (constant_value) must be a scalar");
            memcpy(cval, cv->data, es);
        }
        if (ax) {
            int64_t av[FY_MAX_RANK];
            int n = fy__read_ints(c, ax, av, FY_MAX_RANK, "input 3 (axes)");
            if (n < 0)
                return n;
            unsigned seen = 0;
            for (int i = 0; i < n; i++) {
                int a = fy__axis(c, av[i], r, 0);
                if (a < 0)
                    return a;
                if (seen & (1u << a))
                    return fy__op_fail(c, FY_EINVAL, "input 3 (axes) repeats axis %d", a);
                seen |= 1u << a;
                axes[i] = a;
            }
            naxes = n;
        }
    }
    if (np != 2 * naxes)
        return fy__op_fail(c, FY_EINVAL, "pads has %d values; expected %d (2 per axis)", np,
                           2 * naxes);
    int64_t dims[FY_MAX_RANK];
    for (int i = 0; i < naxes; i++) {
        int64_t b = pads[i], e = pads[i + naxes];
        if (b < -NN_DIM_MAX || b > NN_DIM_MAX || e < -NN_DIM_MAX || e > NN_DIM_MAX)
            return fy__op_fail(c, FY_ELIMIT, "pads for axis %d (%lld, %lld) are too large", axes[i],
                               (long long)b, (long long)e);
        pb[axes[i]] = b;
        pe[axes[i]] = e;
    }
    int64_t total = 0;
    for (int a = 0; a < r; a++) {
        dims[a] = x->dims[a] + pb[a] + pe[a];
        if (dims[a] < 0)
            return fy__op_fail(c, FY_EINVAL,
                               "pads (%lld, %lld) remove more than the %lld "
                               "elements of axis %d",
                               (long long)pb[a], (long long)pe[a], (long long)x->dims[a], a);
        if (mode != PAD_CONSTANT && x->dims[a] == 0 && dims[a] > 0)
            return fy__op_fail(c, FY_EINVAL, "cannot %s-pad the empty axis %d", modes[mode], a);
    }
    fy_tensor *y = &c->out[0];
    if ((rc = fy_tensor_alloc(y, x->dtype, r, dims, c->diag)))
        return rc;
    const int64_t ny = fy_tensor_numel(y);
    if (ny == 0)
        return FY_OK;
    for (int a = 0; a < r; a++)
        total += dims[a];
    /* Per-axis source tables: output coordinate -> input coordinate or -1. */
    map = malloc((size_t)(total > 0 ? total : 1) * sizeof *map);
    if (!map)
        return fy__op_fail(c, FY_ENOMEM, "out of memory for the pad tables");
    int64_t *m[FY_MAX_RANK], at = 0;
    for (int a = 0; a < r; a++) {
        m[a] = map + at;
        for (int64_t o = 0; o < dims[a]; o++)
            m[a][o] = pad_source(mode, o, pb[a], x->dims[a]);
        at += dims[a];
    }
    int64_t o[FY_MAX_RANK] = {0};
    for (int64_t i = 0; i < ny; i++, step_coords(r, dims, o)) {
        int64_t off = 0;
        int inside = 1;
        for (int a = 0; a < r && inside; a++) {
            int64_t s = m[a][o[a]];
            inside = s >= 0;
            off = off * x->dims[a] + s;
        }
        memcpy((char *)y->data + (size_t)i * es,
               inside ? (const char *)x->data + (size_t)off * es : (const char *)cval, es);
    }
    free(map);
    return FY_OK;
}

/* ======================================================================== */
/* Recurrent cells: RNN, GRU, LSTM                                          */
/* ======================================================================== */

enum { CELL_RNN, CELL_GRU, CELL_LSTM };
enum {
    ACT_RELU,
    ACT_TANH,
    ACT_SIGMOID,
    ACT_AFFINE,
    ACT_LEAKY_RELU,
    ACT_THRESHOLDED_RELU,
    ACT_SCALED_TANH,
    ACT_HARD_SIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
};

typedef struct act_fn {
    int kind;
    double alpha, beta;
} act_fn;

/* Activation names of the RNN specs, with how many of activation_alpha/beta each
 * consumes and the defaults when those lists run out. */
static const struct {
    const char *name;
    int kind, n_params;
    double alpha, beta;
} act_table[] = {
    {"Relu", ACT_RELU, 0, 0, 0},
    {"Tanh", ACT_TANH, 0, 0, 0},
    {"Sigmoid", ACT_SIGMOID, 0, 0, 0},
    {"Affine", ACT_AFFINE, 2, 1.0, 0.0},
    {"LeakyRelu", ACT_LEAKY_RELU, 1, 0.01, 0},
    {"ThresholdedRelu", ACT_THRESHOLDED_RELU, 1, 1.0, 0},
    {"ScaledTanh", ACT_SCALED_TANH, 2, 1.0, 1.0},
    {"HardSigmoid", ACT_HARD_SIGMOID, 2, 0.2, 0.5},
    {"Elu", ACT_ELU, 1, 1.0, 0},
    {"Softsign", ACT_SOFTSIGN, 0, 0, 0},
    {"Softplus", ACT_SOFTPLUS, 0, 0, 0},
};

static int name_eq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static double act_apply(const act_fn *f, double v)
{
    switch (f->kind) {
    case ACT_RELU: return v > 0 ? v : 0;
    case ACT_TANH: return tanh(v);
    case ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case ACT_AFFINE: return f->alpha * v + f->beta;
    case ACT_LEAKY_RELU: return v >= 0 ? v : f->alpha * v;
    case ACT_THRESHOLDED_RELU: return v > f->alpha ? v : 0;
    case ACT_SCALED_TANH: return f->alpha * tanh(f->beta * v);
    case ACT_HARD_SIGMOID: {
        double t = f->alpha * v + f->beta;
        return t < 0 ? 0 : t > 1 ? 1 : t;
    }
    case ACT_ELU: return v >= 0 ? v : f->alpha * (exp(v) - 1);
    case ACT_SOFTSIGN: return v / (1 + fabs(v));
    default: return v > 30 ? v : log1p(exp(v)); /* Softplus, without overflow */
    }
}

/* The per_dir activations of each of D directions (defaults when the attribute is
 * absent; a list of per_dir names is shared by both directions). */
static int rnn_acts(fy__op_ctx *c, int per_dir, int D, const int *defaults, act_fn *out)
{
    const fy__attr *a = fy__attr_find(c->node, "activations");
    const float *al = NULL, *be = NULL;
    int64_t na = fy__attr_floats(c->node, "activation_alpha", &al);
    int64_t nb = fy__attr_floats(c->node, "activation_beta", &be);
    int64_t ia = 0, ib = 0;
    const int total = per_dir * D;
    if (!a || a->type != FY_ATTR_STRINGS || a->n == 0) {
        for (int t = 0; t < total; t++) {
            out[t].kind = defaults[t % per_dir];
            out[t].alpha = out[t].beta = 0;
        }
        return FY_OK;
    }
    if (a->n != total && a->n != per_dir)
        return fy__op_fail(c, FY_EINVAL,
                           "attribute 'activations' has %lld names; expected %d (%d per "
                           "direction)",
                           (long long)a->n, total, per_dir);
    for (int t = 0; t < total; t++) {
        const char *name = a->strings[t % a->n];
        size_t k = 0, nt = sizeof act_table / sizeof act_table[0];
        while (k < nt && !name_eq_nocase(name, act_table[k].name))
            k++;
        if (k == nt)
            return fy__op_fail(c, FY_EUNSUPPORTED, "activation '%s' is not supported", name);
        out[t].kind = act_table[k].kind;
        out[t].alpha = act_table[k].alpha;
        out[t].beta = act_table[k].beta;
        if (act_table[k].n_params >= 1 && ia < na)
            out[t].alpha = al[ia++];
        if (act_table[k].n_params >= 2 && ib < nb)
            out[t].beta = be[ib++];
    }
    return FY_OK;
}

static double dotd(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Copy a whole tensor into doubles (n = its element count); NULL tensor gives zeros. */
static double *to_f64(const fy_tensor *t, int64_t n)
{
    double *v = calloc((size_t)(n > 0 ? n : 1), sizeof *v);
    if (v && t)
        for (int64_t i = 0; i < n; i++)
            v[i] = fy__ld(t, i);
    return v;
}

static int check_shape(fy__op_ctx *c, const fy_tensor *t, int i, const char *what, int rank,
                       const int64_t *dims)
{
    int ok = t->rank == rank;
    for (int k = 0; ok && k < rank; k++)
        ok = t->dims[k] == dims[k];
    if (ok)
        return FY_OK;
    char want[96];
    size_t at = 0;
    want[0] = 0;
    for (int k = 0; k < rank && at < sizeof want; k++) {
        int w = snprintf(want + at, sizeof want - at, "%s%lld", k ? ", " : "", (long long)dims[k]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return fy__op_fail(c, FY_EINVAL, "input %d (%s) must have shape [%s]", i, what, want);
}

/* Scratch state of one recurrent run. */
typedef struct rnn_state {
    int cell, lbr, input_forget;
    int64_t H, I;
    double clip;
    const act_fn *f; /* this direction's activations */
    const double *W, *R, *Wb, *Rb, *P;
    double *h, *cs, *gates, *tmp;
} rnn_state;

static double clipv(const rnn_state *s, double v)
{
    return v < -s->clip ? -s->clip : v > s->clip ? s->clip : v;
}

/* One time step for one batch entry: x is the input row, s->h and s->cs the state. */
static void rnn_step(rnn_state *s, const double *x)
{
    const int64_t H = s->H, I = s->I;
    double *g = s->gates, *h = s->h;
    if (s->cell == CELL_RNN) {
        for (int64_t j = 0; j < H; j++)
            g[j] =
                act_apply(&s->f[0], clipv(s, dotd(s->W + j * I, x, I) + dotd(s->R + j * H, h, H) +
                                                 s->Wb[j] + s->Rb[j]));
        memcpy(h, g, (size_t)H * sizeof *h);
        return;
    }
    if (s->cell == CELL_GRU) {
        /* Gates z, r, h in that order in W, R and the biases. */
        double *z = g, *rr = g + H, *hh = g + 2 * H;
        for (int64_t j = 0; j < 2 * H; j++)
            g[j] =
                act_apply(&s->f[0], clipv(s, dotd(s->W + j * I, x, I) + dotd(s->R + j * H, h, H) +
                                                 s->Wb[j] + s->Rb[j]));
        for (int64_t j = 0; j < H; j++)
            s->tmp[j] = rr[j] * h[j];
        for (int64_t j = 0; j < H; j++) {
            int64_t q = 2 * H + j;
            double wx = dotd(s->W + q * I, x, I) + s->Wb[q], v;
            if (s->lbr)
                v = wx + rr[j] * (dotd(s->R + q * H, h, H) + s->Rb[q]);
            else
                v = wx + dotd(s->R + q * H, s->tmp, H) + s->Rb[q];
            hh[j] = act_apply(&s->f[1], clipv(s, v));
        }
        for (int64_t j = 0; j < H; j++)
            h[j] = (1 - z[j]) * hh[j] + z[j] * h[j];
        return;
    }
    /* LSTM: gates i, o, f, c; peepholes i, o, f. */
    for (int64_t j = 0; j < 4 * H; j++)
        g[j] = dotd(s->W + j * I, x, I) + dotd(s->R + j * H, h, H) + s->Wb[j] + s->Rb[j];
    for (int64_t j = 0; j < H; j++) {
        double cp = s->cs[j];
        double it = act_apply(&s->f[0], clipv(s, g[j] + s->P[j] * cp));
        double ft = s->input_forget
                        ? 1 - it
                        : act_apply(&s->f[0], clipv(s, g[2 * H + j] + s->P[2 * H + j] * cp));
        double ct = act_apply(&s->f[1], clipv(s, g[3 * H + j]));
        double cn = ft * cp + it * ct;
        double ot = act_apply(&s->f[0], clipv(s, g[H + j] + s->P[H + j] * cn));
        s->tmp[j] = cn;
        g[j] = ot * act_apply(&s->f[2], cn); /* gate i of unit j is no longer needed */
    }
    for (int64_t j = 0; j < H; j++) {
        s->cs[j] = s->tmp[j];
        h[j] = g[j];
    }
}

static int op_recurrent(fy__op_ctx *c, int cell)
{
    static const int def_rnn[] = {ACT_TANH}, def_gru[] = {ACT_SIGMOID, ACT_TANH},
                     def_lstm[] = {ACT_SIGMOID, ACT_TANH, ACT_TANH};
    static const char *const dirs[] = {"forward", "reverse", "bidirectional"};
    const int G = cell == CELL_RNN ? 1 : cell == CELL_GRU ? 3 : 4;
    const int NA = cell == CELL_RNN ? 1 : cell == CELL_GRU ? 2 : 3;
    int rc, dir = 0, layout = 0;
    double *X = NULL, *W = NULL, *R = NULL, *Bv = NULL, *P = NULL, *H0 = NULL, *C0 = NULL,
           *scratch = NULL;
    if ((rc = fy__op_need(c, 0)) || (rc = fy__op_need(c, 1)) || (rc = fy__op_need(c, 2)))
        return rc;
    const fy_tensor *x = c->in[0], *w = c->in[1], *r = c->in[2], *b = fy__op_in(c, 3),
                    *sl = fy__op_in(c, 4), *h0 = fy__op_in(c, 5);
    const fy_tensor *c0 = cell == CELL_LSTM ? fy__op_in(c, 6) : NULL;
    const fy_tensor *pp = cell == CELL_LSTM ? fy__op_in(c, 7) : NULL;
    if ((rc = need_float(c, x, 0)) || (rc = same_dtype(c, w, 1, x)) ||
        (rc = same_dtype(c, r, 2, x)) || (b && (rc = same_dtype(c, b, 3, x))) ||
        (h0 && (rc = same_dtype(c, h0, 5, x))) || (c0 && (rc = same_dtype(c, c0, 6, x))) ||
        (pp && (rc = same_dtype(c, pp, 7, x))))
        return rc;
    if ((rc = pick(c, "direction", "forward", dirs, 3, &dir)))
        return rc;
    if (c->opset >= 14 && (rc = flag_attr(c, "layout", 0, &layout)))
        return rc;
    const int D = dir == 2 ? 2 : 1;
    if (x->rank != 3)
        return fy__op_fail(c, FY_EINVAL, "input 0 (X) has rank %d; expected 3", x->rank);
    const int64_t S = layout ? x->dims[1] : x->dims[0], Bt = layout ? x->dims[0] : x->dims[1];
    const int64_t I = x->dims[2];
    if (w->rank != 3 || w->dims[0] != D || w->dims[2] != I || w->dims[1] % G)
        return fy__op_fail(c, FY_EINVAL, "input 1 (W) must have shape [%d, %d*hidden_size, %lld]",
                           D, G, (long long)I);
    const int64_t H = w->dims[1] / G;
    int64_t hs = fy__attr_int(c->node, "hidden_size", H);
    if (hs != H)
        return fy__op_fail(c, FY_EINVAL, "attribute 'hidden_size' = %lld but W implies %lld",
                           (long long)hs, (long long)H);
    int64_t shp[3] = {D, G * H, H};
    if ((rc = check_shape(c, r, 2, "R", 3, shp)))
        return rc;
    shp[1] = 2 * G * H;
    if (b && (rc = check_shape(c, b, 3, "B", 2, shp)))
        return rc;
    shp[1] = 3 * H;
    if (pp && (rc = check_shape(c, pp, 7, "P", 2, shp)))
        return rc;
    int64_t hd[3] = {layout ? Bt : D, layout ? D : Bt, H};
    if ((h0 && (rc = check_shape(c, h0, 5, "initial_h", 3, hd))) ||
        (c0 && (rc = check_shape(c, c0, 6, "initial_c", 3, hd))))
        return rc;
    if (sl) {
        if (sl->dtype != FY_DTYPE_I32 && sl->dtype != FY_DTYPE_I64)
            return fy__op_fail(c, FY_EINVAL, "input 4 (sequence_lens) must be int32");
        if ((rc = check_shape(c, sl, 4, "sequence_lens", 1, &Bt)))
            return rc;
        for (int64_t i = 0; i < Bt; i++) {
            int64_t v = fy__get_i64(sl, i);
            if (v < 0 || v > S)
                return fy__op_fail(c, FY_EINVAL,
                                   "input 4 (sequence_lens)[%lld] = %lld is outside [0, %lld]",
                                   (long long)i, (long long)v, (long long)S);
        }
    }
    act_fn acts[6];
    const int *defs = cell == CELL_RNN ? def_rnn : cell == CELL_GRU ? def_gru : def_lstm;
    if ((rc = rnn_acts(c, NA, D, defs, acts)))
        return rc;
    rnn_state s;
    memset(&s, 0, sizeof s);
    s.cell = cell;
    s.H = H;
    s.I = I;
    s.clip = INFINITY;
    const fy__attr *ca = fy__attr_find(c->node, "clip");
    if (ca) {
        if (!(ca->f > 0))
            return fy__op_fail(c, FY_EINVAL, "attribute 'clip' = %g must be positive",
                               (double)ca->f);
        s.clip = ca->f;
    }
    if ((cell == CELL_GRU && (rc = flag_attr(c, "linear_before_reset", 0, &s.lbr))) ||
        (cell == CELL_LSTM && (rc = flag_attr(c, "input_forget", 0, &s.input_forget))))
        return rc;
    /* Outputs: Y [S, D, B, H] (layout 1: [B, S, D, H]); Y_h and Y_c [D, B, H] ([B, D, H]). */
    fy_tensor *Y = NULL, *Yh = NULL, *Yc = NULL;
    int64_t yd[4] = {S, D, Bt, H};
    if (layout) {
        yd[0] = Bt;
        yd[1] = S;
        yd[2] = D;
    }
    if (fy__op_wants_out(c, 0) && (rc = fy_tensor_alloc(Y = &c->out[0], x->dtype, 4, yd, c->diag)))
        return rc;
    if (fy__op_wants_out(c, 1) && (rc = fy_tensor_alloc(Yh = &c->out[1], x->dtype, 3, hd, c->diag)))
        return rc;
    if (cell == CELL_LSTM && fy__op_wants_out(c, 2) &&
        (rc = fy_tensor_alloc(Yc = &c->out[2], x->dtype, 3, hd, c->diag)))
        return rc;
    X = to_f64(x, fy_tensor_numel(x));
    W = to_f64(w, fy_tensor_numel(w));
    R = to_f64(r, fy_tensor_numel(r));
    Bv = to_f64(b, (int64_t)D * 2 * G * H);
    P = to_f64(pp, (int64_t)D * 3 * H);
    H0 = to_f64(h0, (int64_t)D * Bt * H);
    C0 = to_f64(c0, (int64_t)D * Bt * H);
    scratch = calloc((size_t)(H > 0 ? H : 1) * (size_t)(3 + G), sizeof *scratch);
    if (!X || !W || !R || !Bv || !P || !H0 || !C0 || !scratch) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the recurrent state");
        goto done;
    }
    s.h = scratch;
    s.cs = scratch + H;
    s.tmp = scratch + 2 * H;
    s.gates = scratch + 3 * H;
    for (int d = 0; d < D; d++) {
        const int fwd = dir == 0 || (dir == 2 && d == 0);
        s.f = acts + d * NA;
        s.W = W + (int64_t)d * G * H * I;
        s.R = R + (int64_t)d * G * H * H;
        s.Wb = Bv + (int64_t)d * 2 * G * H;
        s.Rb = s.Wb + G * H;
        s.P = P + (int64_t)d * 3 * H;
        for (int64_t bb = 0; bb < Bt; bb++) {
            const int64_t len = sl ? fy__get_i64(sl, bb) : S;
            const int64_t so = layout ? (bb * D + d) * H : (d * Bt + bb) * H;
            memcpy(s.h, H0 + so, (size_t)H * sizeof *s.h);
            memcpy(s.cs, C0 + so, (size_t)H * sizeof *s.cs);
            for (int64_t k = 0; k < len; k++) {
                const int64_t t = fwd ? k : len - 1 - k;
                rnn_step(&s, X + (layout ? bb * S + t : t * Bt + bb) * I);
                if (Y) {
                    int64_t yo = layout ? ((bb * S + t) * D + d) * H : ((t * D + d) * Bt + bb) * H;
                    for (int64_t j = 0; j < H; j++)
                        fy__st(Y, yo + j, s.h[j]);
                }
            }
            for (int64_t j = 0; j < H; j++) {
                if (Yh)
                    fy__st(Yh, so + j, s.h[j]);
                if (Yc)
                    fy__st(Yc, so + j, s.cs[j]);
            }
        }
    }
    rc = FY_OK;
done:
    free(X);
    free(W);
    free(R);
    free(Bv);
    free(P);
    free(H0);
    free(C0);
    free(scratch);
    return rc;
}

static int op_rnn(fy__op_ctx *c)
{
    return op_recurrent(c, CELL_RNN);
}

static int op_gru(fy__op_ctx *c)
{
    return op_recurrent(c, CELL_GRU);
}

static int op_lstm(fy__op_ctx *c)
{
    return op_recurrent(c, CELL_LSTM);
}

const fy__op_def fy__ops_nn[] = {
    {"Conv", "", op_conv},
    {"ConvTranspose", "", op_conv_transpose},
    {"BatchNormalization", "", op_batchnorm},
    {"InstanceNormalization", "", op_instancenorm},
    {"LRN", "", op_lrn},
    {"MaxPool", "", op_maxpool},
    {"AveragePool", "", op_avgpool},
    {"LpPool", "", op_lppool},
    {"GlobalAveragePool", "", op_global_avgpool},
    {"GlobalMaxPool", "", op_global_maxpool},
    {"GlobalLpPool", "", op_global_lppool},
    {"MaxUnpool", "", op_maxunpool},
    {"Gemm", "", op_gemm},
    {"MatMul", "", op_matmul},
    {"Resize", "", op_resize},
    {"Upsample", "", op_upsample},
    {"Pad", "", op_pad},
    {"RNN", "", op_rnn},
    {"GRU", "", op_gru},
    {"LSTM", "", op_lstm},
    {NULL, NULL, NULL},
};
