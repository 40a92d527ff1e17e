/* SPDX-License-Identifier: MIT */
/* Fast int8 kernels: MatMulInteger and QLinearMatMul on the u8 x s8 GEMM (constant
 * B packed by prepare), and DynamicQuantizeLinear. Per-tensor zero points and
 * scales for A, per-tensor or per-column for B; the rest goes to the reference. */
#include <math.h>
#include <string.h>

#include "../../core/core.h"
#include "../ops.h"
#include "fast.h"
#include "fast_ops.h"
#include "requant.h"

static int ref_run(fy__op_ctx *c)
{
    const fy__op_def *d = fy__op_find_ref(c->node->domain, c->node->op_type);
    if (!d)
        return fy__op_fail(c, FY_EUNSUPPORTED, "no reference kernel");
    return d->run(c);
}

static int is_q8(const fy_tensor *t)
{
    return t && (t->dtype == FY_DTYPE_U8 || t->dtype == FY_DTYPE_I8);
}

static void release_qpacked(void *state)
{
    fy__qpacked_free(state);
}

/* A zero point (dtype of its data, or absent) as one int32: 1 on success. */
static int zp_scalar(const fy_tensor *zp, const fy_tensor *x, int32_t *out)
{
    *out = 0;
    if (!zp)
        return 1;
    if (zp->dtype != x->dtype || fy_tensor_numel(zp) != 1)
        return 0;
    *out = (int32_t)fy__get_i64(zp, 0);
    return 1;
}

/* B's zero point: absent, one value, or one per column ([N]); the count, or 0 when
 * the fast path does not take it. */
static int64_t zp_cols(const fy_tensor *zp, const fy_tensor *b, int64_t N, int32_t *vals)
{
    if (!zp)
        return 1;
    int64_t n = fy_tensor_numel(zp);
    if (zp->dtype != b->dtype || (n != 1 && (zp->rank != 1 || n != N)))
        return 0;
    for (int64_t i = 0; i < n; i++)
        vals[i] = (int32_t)fy__get_i64(zp, i);
    return n;
}

/* Pack B (2-D, int8 or uint8) with its zero point; NULL when the fast path does
 * not take this B. *rc is FY_ENOMEM on allocation failure. */
static fy__qpacked *pack_b(const fy_tensor *b, const fy_tensor *zp, int *rc)
{
    *rc = FY_OK;
    if (!is_q8(b) || b->rank != 2)
        return NULL;
    int64_t K = b->dims[0], N = b->dims[1];
    int32_t *zv = fy__malloc((size_t)(N + 1) * sizeof *zv);
    fy__qpacked *p = NULL;
    if (!zv) {
        *rc = FY_ENOMEM;
        return NULL;
    }
    int64_t zn = zp_cols(zp, b, N, zv);
    if (zn > 0 &&
        fy__qpack_b(&p, K, N, b->data, b->dtype == FY_DTYPE_I8, N, 1, zp ? zv : NULL, zn) != FY_OK)
        *rc = FY_ENOMEM;
    fy__free(zv);
    return p;
}

/* B and its zero point when both are constant: prepare packs them. */
static int prepare_b(const fy__op_prep *p, int bi, int zi, void **state)
{
    const fy_tensor *b = p->n_in > bi ? p->consts[bi] : NULL;
    const fy_tensor *zp = p->n_in > zi ? p->consts[zi] : NULL;
    int zp_given = p->n_in > zi && p->infos[zi];
    if (!b || (zp_given && !zp))
        return FY_OK;
    int rc;
    *state = pack_b(b, zp, &rc);
    if (rc != FY_OK)
        return fy__diag_set(p->diag, rc, "node '%s' (%s): out of memory packing weights",
                            p->node->name, p->node->op_type);
    return FY_OK;
}

/* The state's packing when it belongs to this B, else B packed now into *own. */
static const fy__qpacked *b_operand(fy__op_ctx *c, const fy_tensor *b, const fy_tensor *zp,
                                    fy__qpacked **own, int *rc)
{
    const fy__qpacked *p = c->state;
    *own = NULL;
    *rc = FY_OK;
    if (p && b->rank == 2 && fy__qpacked_k(p) == b->dims[0] && fy__qpacked_n(p) == b->dims[1])
        return p;
    *own = pack_b(b, zp, rc);
    return *own;
}

/* ---- MatMulInteger ---- */

static int mmi_prepare(const fy__op_prep *p, void **state)
{
    return prepare_b(p, 1, 3, state);
}

/* Output dims of A [..., M, K] times B [K, N]. */
static int mm_dims(const fy_tensor *a, const fy_tensor *b, int64_t *dims)
{
    if (a->rank < 2 || b->rank != 2 || a->dims[a->rank - 1] != b->dims[0])
        return 0;
    memcpy(dims, a->dims, sizeof a->dims[0] * (size_t)a->rank);
    dims[a->rank - 1] = b->dims[1];
    return 1;
}

static int op_matmul_integer(fy__op_ctx *c)
{
    const fy_tensor *a = fy__op_in(c, 0), *b = fy__op_in(c, 1);
    int32_t za;
    int64_t dims[FY_MAX_RANK];
    if (!is_q8(a) || !is_q8(b) || !mm_dims(a, b, dims) || !zp_scalar(fy__op_in(c, 2), a, &za))
        return ref_run(c);
    fy__qpacked *own;
    int rc;
    const fy__qpacked *pb = b_operand(c, b, fy__op_in(c, 3), &own, &rc);
    if (!pb)
        return rc != FY_OK ? fy__op_fail(c, rc, "out of memory packing B") : ref_run(c);
    const int64_t K = b->dims[0], N = b->dims[1], M = fy__dims_prod(a->dims, 0, a->rank - 1);
    rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_I32, a->rank, dims, c->diag);
    if (rc == FY_OK && K == 0)
        memset(c->out[0].data, 0, fy_tensor_nbytes(&c->out[0]));
    else if (rc == FY_OK)
        fy__qgemm(c->pool, M, a->data, a->dtype == FY_DTYPE_I8, K, za, pb, c->out[0].data, N);
    fy__qpacked_free(own);
    return rc;
}

/* ---- QLinearMatMul ---- */

static int qlm_prepare(const fy__op_prep *p, void **state)
{
    return prepare_b(p, 3, 5, state);
}

/* A float scale: one value, or (per_col) one per column of N; count or 0. */
static int64_t scales(const fy_tensor *s, int64_t N, int per_col)
{
    if (!s || s->dtype != FY_DTYPE_F32)
        return 0;
    int64_t n = fy_tensor_numel(s);
    if (n == 1)
        return 1;
    int cols = s->rank == 1 || (s->rank == 2 && s->dims[0] == 1);
    return per_col && cols && n == N ? N : 0;
}

static int op_qlinear_matmul(fy__op_ctx *c)
{
    const fy_tensor *a = fy__op_in(c, 0), *as = fy__op_in(c, 1), *b = fy__op_in(c, 3),
                    *bs = fy__op_in(c, 4), *ys = fy__op_in(c, 6), *yz = fy__op_in(c, 7);
    int32_t za, zy;
    int64_t dims[FY_MAX_RANK];
    if (!is_q8(a) || !is_q8(b) || !mm_dims(a, b, dims) || !zp_scalar(fy__op_in(c, 2), a, &za) ||
        scales(as, 1, 0) != 1 || scales(ys, 1, 0) != 1 || !scales(bs, b->dims[1], 1) ||
        !is_q8(yz) || fy_tensor_numel(yz) != 1)
        return ref_run(c);
    fy_dtype odt = yz->dtype;
    zy = (int32_t)fy__get_i64(yz, 0);
    fy__qpacked *own;
    int rc;
    const fy__qpacked *pb = b_operand(c, b, fy__op_in(c, 5), &own, &rc);
    if (!pb)
        return rc != FY_OK ? fy__op_fail(c, rc, "out of memory packing B") : ref_run(c);
    const int64_t K = b->dims[0], N = b->dims[1], M = fy__dims_prod(a->dims, 0, a->rank - 1);
    int32_t *acc = NULL;
    double *mult = NULL;
    /* the output first: its allocation checks the size (acc is 4 bytes per output) */
    if ((rc = fy_tensor_alloc(&c->out[0], odt, a->rank, dims, c->diag)) != FY_OK)
        goto done;
    acc = fy__malloc((size_t)(M * N + 1) * sizeof *acc);
    mult = fy__malloc((size_t)(N + 1) * sizeof *mult);
    if (!acc || !mult) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld outputs", (long long)(M * N));
        goto done;
    }
    if (K == 0)
        memset(acc, 0, (size_t)(M * N) * sizeof *acc);
    else
        fy__qgemm(c->pool, M, a->data, a->dtype == FY_DTYPE_I8, K, za, pb, acc, N);
    /* As the reference: the multiplier in float32, the product in double, rounded
     * half to even before the zero point, then saturated. */
    const float sa = ((const float *)as->data)[0], y_s = ((const float *)ys->data)[0];
    const int64_t nbs = fy_tensor_numel(bs);
    for (int64_t n = 0; n < N; n++) {
        float f = K ? sa * ((const float *)bs->data)[nbs == 1 ? 0 : n] / y_s : 0.0f;
        mult[n] = (double)f;
        if (!isfinite(f)) { /* NaN or infinite multipliers: the reference, from scratch */
            fy_tensor_deinit(&c->out[0]);
            rc = ref_run(c);
            goto done;
        }
    }
    const int lo = odt == FY_DTYPE_U8 ? 0 : -128;
    for (int64_t m = 0; m < M; m++)
        fy__requant_row(acc + m * N, NULL, mult, N, zy, lo, (uint8_t *)c->out[0].data + m * N);
done:
    fy__free(acc);
    fy__free(mult);
    fy__qpacked_free(own);
    return rc;
}

/* ---- ConvInteger and QLinearConv ----
 * Computed transposed, as (im2col of X)^T [positions x K] . W^T [K x M]: the
 * weights are the constant right operand (packed once, with a zero point per
 * output channel as its per-column zero point), the activations the uint8/int8
 * left one. Padding takes the value of X's zero point, so it adds nothing. */

/* Input indices of X, its zero point, W and W's zero point. */
typedef struct qconv_io {
    int x, xz, w, wz;
} qconv_io;

static const qconv_io IO_CONV_INTEGER = {0, 2, 1, 3}, IO_QLINEAR_CONV = {0, 2, 3, 5};

/* W^T packed, or NULL when this W (group 1, 2-D) is not for the fast path. */
static fy__qpacked *pack_w(const fy__node *nd, const fy_tensor *w, const fy_tensor *wz, int *rc)
{
    fy__conv_shape s;
    *rc = FY_OK;
    if (!is_q8(w) || !fy__conv_weights(nd, w, &s) || s.group != 1)
        return NULL;
    int64_t K = s.c * s.kh * s.kw, nz = wz ? fy_tensor_numel(wz) : 1;
    if (wz && (wz->dtype != w->dtype || (nz != 1 && (wz->rank != 1 || nz != s.m))))
        return NULL;
    int32_t *zv = fy__malloc((size_t)(s.m + 1) * sizeof *zv);
    fy__qpacked *p = NULL;
    if (!zv) {
        *rc = FY_ENOMEM;
        return NULL;
    }
    for (int64_t i = 0; wz && i < nz; i++)
        zv[i] = (int32_t)fy__get_i64(wz, i);
    if (fy__qpack_b(&p, K, s.m, w->data, w->dtype == FY_DTYPE_I8, 1, K, wz ? zv : NULL, nz) !=
        FY_OK)
        *rc = FY_ENOMEM;
    fy__free(zv);
    return p;
}

static int qconv_prepare(const fy__op_prep *p, const qconv_io *io, void **state)
{
    const fy_tensor *w = p->n_in > io->w ? p->consts[io->w] : NULL;
    const fy_tensor *wz = p->n_in > io->wz ? p->consts[io->wz] : NULL;
    if (!w || (p->n_in > io->wz && p->infos[io->wz] && !wz))
        return FY_OK;
    int rc;
    *state = pack_w(p->node, w, wz, &rc);
    if (rc != FY_OK)
        return fy__diag_set(p->diag, rc, "node '%s' (%s): out of memory packing weights",
                            p->node->name, p->node->op_type);
    return FY_OK;
}

static int convi_prepare(const fy__op_prep *p, void **state)
{
    return qconv_prepare(p, &IO_CONV_INTEGER, state);
}

static int qlc_prepare(const fy__op_prep *p, void **state)
{
    return qconv_prepare(p, &IO_QLINEAR_CONV, state);
}

/* Rows [p0, p0 + pc) of (im2col of one image)^T: row p = output position, column
 * k = (ci, ky, kx). Windows wholly inside the image copy their taps without bounds
 * checks; only border windows test each tap. */
static void im2col_t(const fy__conv_shape *s, const uint8_t *x, uint8_t pad, int64_t p0, int64_t pc,
                     uint8_t *a)
{
    const int64_t K = s->c * s->kh * s->kw, plane = s->h * s->w;
    const int64_t span_y = (s->kh - 1) * s->dh, span_x = (s->kw - 1) * s->dw;
    int64_t oy = p0 / s->ow, ox = p0 % s->ow;
    for (int64_t p = p0; p < p0 + pc; p++) {
        uint8_t *row = a + (p - p0) * K;
        const int64_t iy0 = oy * s->sh - s->pt, ix0 = ox * s->sw - s->pl;
        if (iy0 >= 0 && iy0 + span_y < s->h && ix0 >= 0 && ix0 + span_x < s->w) {
            for (int64_t ci = 0; ci < s->c; ci++) {
                const uint8_t *xc = x + ci * plane + iy0 * s->w + ix0;
                for (int64_t ky = 0; ky < s->kh; ky++) {
                    const uint8_t *xr = xc + ky * s->dh * s->w;
                    for (int64_t kx = 0; kx < s->kw; kx++)
                        *row++ = xr[kx * s->dw];
                }
            }
        } else {
            for (int64_t ci = 0; ci < s->c; ci++)
                for (int64_t ky = 0; ky < s->kh; ky++) {
                    int64_t iy = iy0 + ky * s->dh;
                    for (int64_t kx = 0; kx < s->kw; kx++) {
                        int64_t ix = ix0 + kx * s->dw;
                        *row++ = (uint64_t)iy < (uint64_t)s->h && (uint64_t)ix < (uint64_t)s->w
                                     ? x[(ci * s->h + iy) * s->w + ix]
                                     : pad;
                    }
                }
        }
        if (++ox == s->ow) {
            ox = 0;
            oy++;
        }
    }
}

/* How one image's int32 sums [positions x M] become output (NCHW). */
typedef struct qconv_out {
    fy_tensor *y;
    const int32_t *bias; /* QLinearConv's B, or NULL */
    const double *mult;  /* per output channel; NULL: ConvInteger (int32 out) */
    int32_t zy;
} qconv_out;

/* Positions [p0, p0 + pc) of image n from their sums acc [pc x M]: each channel's
 * sums are gathered down their column and requantized (vectorized) into the
 * channel's plane. */
static void qconv_store(const qconv_out *o, const fy__conv_shape *s, int64_t n, int64_t p0,
                        int64_t pc, const int32_t *acc)
{
    const int64_t P = s->oh * s->ow, M = s->m;
    if (!o->mult) {
        for (int64_t m = 0; m < M; m++) {
            int32_t *y = (int32_t *)o->y->data + (n * M + m) * P + p0;
            uint32_t b = o->bias ? (uint32_t)o->bias[m] : 0;
            for (int64_t p = 0; p < pc; p++)
                y[p] = (int32_t)((uint32_t)acc[p * M + m] + b);
        }
        return;
    }
    const int lo = o->y->dtype == FY_DTYPE_U8 ? 0 : -128;
    uint8_t *y = (uint8_t *)o->y->data + n * M * P + p0; /* int8 or uint8: bytes */
    fy__requant_planes(acc, M, pc, o->bias, o->mult, o->zy, lo, y, P);
}

/* Bytes of im2col rows built at once: bounds the working memory of a large conv. */
#define QCONV_CHUNK (4 << 20)

/* Shapes checked; runs every image. 0 when not taken (then nothing is allocated). */
static int qconv_run(fy__op_ctx *c, const qconv_io *io, fy_dtype odt, qconv_out *o, int *rc)
{
    const fy_tensor *x = fy__op_in(c, io->x), *w = fy__op_in(c, io->w);
    const fy_tensor *xz = fy__op_in(c, io->xz), *wz = fy__op_in(c, io->wz);
    fy__conv_shape s;
    int32_t zx;
    *rc = FY_OK;
    if (!is_q8(x) || !is_q8(w) || !fy__conv_weights(c->node, w, &s) || s.group != 1 ||
        !fy__conv_geometry(c->node, x, &s) || !zp_scalar(xz, x, &zx))
        return 0;
    fy__qpacked *own = NULL;
    const fy__qpacked *pw = c->state;
    const int64_t K = s.c * s.kh * s.kw, P = s.oh * s.ow;
    if (!pw || fy__qpacked_k(pw) != K || fy__qpacked_n(pw) != s.m) {
        if (!(own = pack_w(c->node, w, wz, rc)))
            return *rc != FY_OK;
        pw = own;
    }
    int64_t dims[4] = {s.n, s.m, s.oh, s.ow};
    int64_t rows = QCONV_CHUNK / (K + 4 * s.m + 1);
    rows = rows < 1 ? 1 : rows > P ? P : rows; /* im2col rows per chunk */
    uint8_t *a = fy__malloc((size_t)(rows * K + 1));
    int32_t *acc = fy__malloc((size_t)(rows * s.m + 1) * sizeof *acc);
    /* int8 weights with zero point 0: X's zero point folds into a per-channel bias
     * (sum (x - zx) w = sum x w - zx colsum, modulo 2^32), so the GEMM skips its
     * zero-point correction. zg: the zero point the GEMM is given (int8 X is
     * shifted by 128 inside it, so -128 there means none). */
    const int32_t *colsum = fy__qpacked_colsum(pw);
    const int a_signed = x->dtype == FY_DTYPE_I8;
    int32_t zg = zx, *bias2 = colsum ? fy__malloc((size_t)(s.m + 1) * sizeof *bias2) : NULL;
    if (bias2) {
        zg = a_signed ? -128 : 0;
        for (int64_t m = 0; m < s.m; m++)
            bias2[m] = (int32_t)((o->bias ? (uint32_t)o->bias[m] : 0u) -
                                 (uint32_t)(zx - zg) * (uint32_t)colsum[m]);
        o->bias = bias2;
    }
    if (!a || !acc || (colsum && !bias2)) {
        *rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the im2col of %lld positions",
                          (long long)rows);
    } else if ((*rc = fy_tensor_alloc(&c->out[0], odt, 4, dims, c->diag)) == FY_OK) {
        o->y = &c->out[0];
        const size_t img = (size_t)(s.c * s.h * s.w); /* bytes per image */
        for (int64_t n = 0; n < s.n; n++)
            for (int64_t p0 = 0; p0 < P; p0 += rows) {
                int64_t pc = P - p0 < rows ? P - p0 : rows;
                im2col_t(&s, (const uint8_t *)x->data + (size_t)n * img, (uint8_t)zx, p0, pc, a);
                if (K == 0)
                    memset(acc, 0, (size_t)(pc * s.m) * sizeof *acc);
                else
                    fy__qgemm(c->pool, pc, a, a_signed, K, zg, pw, acc, s.m);
                qconv_store(o, &s, n, p0, pc, acc);
            }
    }
    fy__free(a);
    fy__free(acc);
    fy__free(bias2);
    fy__qpacked_free(own);
    return 1;
}

static int op_conv_integer(fy__op_ctx *c)
{
    qconv_out o = {NULL, NULL, NULL, 0};
    int rc;
    return qconv_run(c, &IO_CONV_INTEGER, FY_DTYPE_I32, &o, &rc) ? rc : ref_run(c);
}

static int op_qlinear_conv(fy__op_ctx *c)
{
    const fy_tensor *w = fy__op_in(c, 3), *xs = fy__op_in(c, 1), *ws = fy__op_in(c, 4),
                    *ys = fy__op_in(c, 6), *yz = fy__op_in(c, 7), *b = fy__op_in(c, 8);
    int64_t M = w && w->rank == 4 ? w->dims[0] : 0;
    if (!w || scales(xs, 1, 0) != 1 || scales(ys, 1, 0) != 1 || !scales(ws, M, 1) ||
        (ws->rank > 1) || !is_q8(yz) || fy_tensor_numel(yz) != 1 ||
        (b && (b->dtype != FY_DTYPE_I32 || b->rank != 1 || b->dims[0] != M)))
        return ref_run(c);
    float *mult = fy__malloc((size_t)(M + 1) * sizeof *mult);
    double *dmult = fy__malloc((size_t)(M + 1) * sizeof *dmult);
    if (!mult || !dmult) {
        fy__free(mult);
        fy__free(dmult);
        return fy__op_fail(c, FY_ENOMEM, "out of memory");
    }
    /* As the reference: the multiplier in float32, the product in double. */
    const float xsv = ((const float *)xs->data)[0], ysv = ((const float *)ys->data)[0];
    const int64_t nws = fy_tensor_numel(ws);
    for (int64_t m = 0; m < M; m++) {
        mult[m] = xsv * ((const float *)ws->data)[nws == 1 ? 0 : m] / ysv;
        dmult[m] = (double)mult[m];
    }
    if (!fy__requant_ok(mult, M)) { /* NaN or infinite multipliers: the reference */
        fy__free(mult);
        fy__free(dmult);
        return ref_run(c);
    }
    qconv_out o = {NULL, b ? b->data : NULL, dmult, (int32_t)fy__get_i64(yz, 0)};
    int rc, taken = qconv_run(c, &IO_QLINEAR_CONV, yz->dtype, &o, &rc);
    fy__free(mult);
    fy__free(dmult);
    return taken ? rc : ref_run(c);
}

/* ---- QuantizeLinear: float32, one scale and zero point, to uint8/int8 ---- */

static int op_quantize(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0), *sc = fy__op_in(c, 1), *zp = fy__op_in(c, 2);
    int attrs = c->opset >= 21 && (fy__attr_int(c->node, "output_dtype", 0) != 0 ||
                                   fy__attr_int(c->node, "block_size", 0) != 0);
    if (!x || x->dtype != FY_DTYPE_F32 || !sc || sc->dtype != FY_DTYPE_F32 ||
        fy_tensor_numel(sc) != 1 || (zp && (!is_q8(zp) || fy_tensor_numel(zp) != 1)) || attrs)
        return ref_run(c);
    fy_dtype dt = zp ? zp->dtype : FY_DTYPE_U8;
    int rc = fy_tensor_alloc(&c->out[0], dt, x->rank, x->dims, c->diag);
    if (rc == FY_OK)
        fy__quantize_f32(x->data, fy_tensor_numel(x), ((const float *)sc->data)[0],
                         zp ? (int32_t)fy__get_i64(zp, 0) : 0, dt == FY_DTYPE_U8 ? 0 : -128,
                         c->out[0].data);
    return rc;
}

/* ---- DynamicQuantizeLinear ---- */

static int op_dynquant(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0);
    if (!x || x->dtype != FY_DTYPE_F32 || c->n_out < 3)
        return ref_run(c);
    int rc;
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_U8, x->rank, x->dims, c->diag)) ||
        (rc = fy_tensor_alloc(&c->out[1], FY_DTYPE_F32, 0, NULL, c->diag)) ||
        (rc = fy_tensor_alloc(&c->out[2], FY_DTYPE_U8, 0, NULL, c->diag)))
        return rc;
    if (fy__dynquant_u8(x->data, fy_tensor_numel(x), c->out[0].data, c->out[1].data,
                        c->out[2].data) != 0) {
        for (int i = 0; i < 3; i++)
            fy_tensor_deinit(&c->out[i]);
        return ref_run(c); /* NaN: the reference words the error */
    }
    return FY_OK;
}

const fy__op_fast fy__ops_fast_quant[] = {
    {{"MatMulInteger", "", op_matmul_integer}, mmi_prepare, release_qpacked},
    {{"QLinearMatMul", "", op_qlinear_matmul}, qlm_prepare, release_qpacked},
    {{"ConvInteger", "", op_conv_integer}, convi_prepare, release_qpacked},
    {{"QLinearConv", "", op_qlinear_conv}, qlc_prepare, release_qpacked},
    {{"DynamicQuantizeLinear", "", op_dynquant}, NULL, NULL},
    {{"QuantizeLinear", "", op_quantize}, NULL, NULL},
    {{NULL, NULL, NULL}, NULL, NULL},
};
