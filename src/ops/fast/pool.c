/* SPDX-License-Identifier: MIT */
/* Fast float32, uint8 and int8 MaxPool (2-D, NCHW, no Indices output): planes split over the
 * thread pool, window bounds computed once per output row and column instead of
 * per tap. Same taps in the same order as the reference, so the same result, NaN
 * included. Everything else goes to the reference kernel. */
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#include "../../core/pool.h"
#include "../ops.h"
#include "fast.h"
#include "vec8.h"

typedef struct pool2d {
    int64_t h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
    const void *x;
    void *y;
} pool2d;

/* Up to n ints of attribute name into out (absent: def); 0 when present with
 * another count or a value outside [lo, 2^24]. */
static int ints_or(const fy__node *nd, const char *name, int n, int64_t def, int64_t lo,
                   int64_t *out)
{
    const int64_t *v = NULL;
    int64_t cnt = fy__attr_ints(nd, name, &v);
    if (cnt > 0 && cnt != n)
        return 0;
    for (int i = 0; i < n; i++) {
        out[i] = cnt <= 0 ? def : v[i];
        if (out[i] < lo || out[i] > (1 << 24))
            return 0;
    }
    return 1;
}

/* Output sizes and pads as the reference's pooling geometry computes them. */
static int geometry(const fy__node *nd, const fy_tensor *x, pool2d *p)
{
    int64_t k[2], st[2], dl[2], pads[4];
    int64_t ceil_mode = fy__attr_int(nd, "ceil_mode", 0);
    const int64_t *ks = NULL;
    if (fy__attr_ints(nd, "kernel_shape", &ks) != 2 || !ints_or(nd, "kernel_shape", 2, 1, 1, k) ||
        !ints_or(nd, "strides", 2, 1, 1, st) || !ints_or(nd, "dilations", 2, 1, 1, dl) ||
        !ints_or(nd, "pads", 4, 0, 0, pads) || (ceil_mode != 0 && ceil_mode != 1) ||
        fy__attr_int(nd, "storage_order", 0) != 0)
        return 0;
    const char *ap = fy__attr_str(nd, "auto_pad", "NOTSET");
    int same = strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
    int notset = !*ap || strcmp(ap, "NOTSET") == 0;
    if (!same && !notset && strcmp(ap, "VALID") != 0)
        return 0;
    int64_t in[2] = {x->dims[2], x->dims[3]}, out[2];
    for (int i = 0; i < 2; i++) {
        int64_t dk = (k[i] - 1) * dl[i] + 1;
        if (same) {
            out[i] = (in[i] + st[i] - 1) / st[i];
            int64_t total = (out[i] - 1) * st[i] + dk - in[i];
            total = total < 0 ? 0 : total;
            pads[i] = ap[5] == 'U' ? total / 2 : total - total / 2;
            continue;
        }
        if (!notset)
            pads[i] = pads[i + 2] = 0;
        int64_t span = in[i] + pads[i] + pads[i + 2] - dk;
        if (span < 0)
            return 0;
        out[i] = span / st[i] + 1;
        if (ceil_mode && notset) {
            out[i] = (span + st[i] - 1) / st[i] + 1;
            if ((out[i] - 1) * st[i] >= in[i] + pads[i])
                out[i]--;
        }
    }
    *p = (pool2d){in[0], in[1], out[0], out[1],  k[0],    k[1], st[0],
                  st[1], dl[0], dl[1],  pads[0], pads[1], NULL, NULL};
    return 1;
}

/* Taps of window o on one axis inside [0, n): the first's input index and the count. */
static int64_t taps(int64_t o, int64_t s, int64_t pad, int64_t d, int64_t k, int64_t n,
                    int64_t *first)
{
    int64_t start = o * s - pad;
    int64_t j0 = start < 0 ? (-start + d - 1) / d : 0;
    int64_t j1 = n - 1 - start < 0 ? -1 : (n - 1 - start) / d;
    j1 = j1 > k - 1 ? k - 1 : j1;
    *first = start + j0 * d;
    return j1 >= j0 ? j1 - j0 + 1 : 0;
}

/* Column windows are the same for every row and plane: computed once per call in
 * chunks of this many output columns. */
#define COLS 256

/* One plane loop per element type: v starts at the first tap; "xv > v ? xv : v"
 * keeps the reference's NaN behaviour for floats and compiles to a branch-free max.
 * An empty window gives the type's lowest value, as the reference does. */
#define MAX_PLANES(NAME, T, LOWEST)                                                                \
    static void NAME(void *ctx, int64_t begin, int64_t end)                                        \
    {                                                                                              \
        const pool2d *p = ctx;                                                                     \
        int64_t w0[COLS], wc[COLS];                                                                \
        for (int64_t c0 = 0; c0 < p->ow; c0 += COLS) {                                             \
            int64_t cn = p->ow - c0 < COLS ? p->ow - c0 : COLS;                                    \
            for (int64_t i = 0; i < cn; i++)                                                       \
                wc[i] = taps(c0 + i, p->sw, p->pl, p->dw, p->kw, p->w, &w0[i]);                    \
            for (int64_t pl = begin; pl < end; pl++) {                                             \
                const T *xp = (const T *)p->x + pl * p->h * p->w;                                  \
                T *yp = (T *)p->y + pl * p->oh * p->ow + c0;                                       \
                for (int64_t oy = 0; oy < p->oh; oy++) {                                           \
                    int64_t h0, hc = taps(oy, p->sh, p->pt, p->dh, p->kh, p->h, &h0);              \
                    for (int64_t i = 0; i < cn; i++) {                                             \
                        T v = hc && wc[i] ? xp[h0 * p->w + w0[i]] : (LOWEST);                      \
                        for (int64_t a = 0; a < hc; a++) {                                         \
                            const T *row = xp + (h0 + a * p->dh) * p->w + w0[i];                   \
                            for (int64_t b = 0; b < wc[i]; b++) {                                  \
                                T xv = row[b * p->dw];                                             \
                                v = xv > v ? xv : v;                                               \
                            }                                                                      \
                        }                                                                          \
                        yp[oy * p->ow + i] = v;                                                    \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

MAX_PLANES(max_planes, float, -INFINITY)

/* Float, stride 2 across, undilated (ResNet's 3x3 stride-2 stem pool): 8 outputs
 * at a time where their windows lie inside the row, each tap's 8 inputs (every
 * other float) one vector by a shuffle, taps in the reference's order with its
 * "xv > v ? xv : v" (so NaN behaves the same); the edge columns as above. A
 * vector reads 16 floats from the tap, so it is used only while that stays
 * inside the row. */
INLINE void max_s2_body(const pool2d *p, int64_t begin, int64_t end)
{
    /* outputs i in [lo, hi) have all taps inside [0, w) with a float to spare */
    const int64_t lim = p->w - p->kw + p->pl - 15; /* 2 i - pl + kw - 1 + 15 < w + ... */
    int64_t lo = (p->pl + 1) / 2, hi = lim < 0 ? 0 : lim / 2 + 8;
    hi = hi > p->ow ? p->ow : hi;
    lo = lo > hi ? hi : lo;
    for (int64_t pl = begin; pl < end; pl++) {
        const float *xp = (const float *)p->x + pl * p->h * p->w;
        float *yp = (float *)p->y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            int64_t h0, hc = taps(oy, p->sh, p->pt, p->dh, p->kh, p->h, &h0);
            float *y = yp + oy * p->ow;
            int64_t i = 0;
            for (; i < p->ow; i++) {
                if (i == lo && hc > 0) /* the vector part */
                    for (; i + 8 <= hi; i += 8) {
                        const float *r0 = xp + h0 * p->w + 2 * i - p->pl;
                        v8 a, b, v;
                        memcpy(&a, r0, sizeof a);
                        memcpy(&b, r0 + 8, sizeof b);
                        v = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
                        for (int64_t ta = 0; ta < hc; ta++) {
                            const float *row = r0 + ta * p->dh * p->w;
                            for (int64_t tb = ta ? 0 : 1; tb < p->kw; tb++) {
                                memcpy(&a, row + tb, sizeof a);
                                memcpy(&b, row + tb + 8, sizeof b);
                                v8 xv = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
                                v = pick8(xv > v, xv, v);
                            }
                        }
                        memcpy(y + i, &v, sizeof v);
                    }
                if (i >= p->ow)
                    break;
                int64_t c0, cc = taps(i, p->sw, p->pl, p->dw, p->kw, p->w, &c0);
                float v = hc && cc ? xp[h0 * p->w + c0] : -INFINITY;
                for (int64_t ta = 0; ta < hc; ta++) {
                    const float *row = xp + (h0 + ta * p->dh) * p->w + c0;
                    for (int64_t tb = 0; tb < cc; tb++) {
                        float xv = row[tb];
                        v = xv > v ? xv : v;
                    }
                }
                y[i] = v;
            }
        }
    }
}

#if FY_X86
__attribute__((target("avx2,fma"))) static void max_s2_avx2(const pool2d *p, int64_t b, int64_t e)
{
    max_s2_body(p, b, e);
}
#endif

static void max_planes_s2(void *ctx, int64_t begin, int64_t end)
{
#if FY_X86
    if (fy__isa_active() >= FY_ISA_AVX2) {
        max_s2_avx2(ctx, begin, end);
        return;
    }
#endif
    max_s2_body(ctx, begin, end);
}
MAX_PLANES(max_planes_u8, uint8_t, 0)
MAX_PLANES(max_planes_i8, int8_t, INT8_MIN)

/* 2x2 windows, stride 2, no padding or dilation, uint8 (the int8 Fashion-MNIST
 * CNN's pool): two input rows per output row, pairs reduced with plain loops the
 * compiler vectorizes. */
#if FY_X86
/* Rows of up to 32 outputs (64 input bytes): masked loads of the two input rows,
 * their maximum, then each byte pair's maximum in 16-bit lanes, narrowed. Returns 0
 * (nothing done) for wider rows. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static int
max_u8_2x2_512(const pool2d *p, int64_t begin, int64_t end)
{
    if (p->ow > 32)
        return 0;
    const __mmask64 in = p->ow == 32 ? ~(__mmask64)0 : (((__mmask64)1 << (2 * p->ow)) - 1);
    const __mmask32 out = p->ow == 32 ? ~(__mmask32)0 : (((__mmask32)1 << p->ow) - 1);
    for (int64_t pl = begin; pl < end; pl++) {
        const uint8_t *xp = (const uint8_t *)p->x + pl * p->h * p->w;
        uint8_t *yp = (uint8_t *)p->y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const uint8_t *r0 = xp + 2 * oy * p->w;
            __m512i v = _mm512_max_epu8(_mm512_maskz_loadu_epi8(in, r0),
                                        _mm512_maskz_loadu_epi8(in, r0 + p->w));
            v = _mm512_max_epu8(v, _mm512_srli_epi16(v, 8)); /* low byte: the pair's max */
            _mm256_mask_storeu_epi8(yp + oy * p->ow, out, _mm512_cvtepi16_epi8(v));
        }
    }
    return 1;
}
#endif

static void max_planes_u8_2x2(void *ctx, int64_t begin, int64_t end)
{
    const pool2d *p = ctx;
#if FY_X86
    if (fy__isa_active() == FY_ISA_AVX512 && max_u8_2x2_512(p, begin, end))
        return;
#endif
    for (int64_t pl = begin; pl < end; pl++) {
        const uint8_t *xp = (const uint8_t *)p->x + pl * p->h * p->w;
        uint8_t *yp = (uint8_t *)p->y + pl * p->oh * p->ow;
        for (int64_t oy = 0; oy < p->oh; oy++) {
            const uint8_t *r0 = xp + 2 * oy * p->w, *r1 = r0 + p->w;
            uint8_t *y = yp + oy * p->ow;
            for (int64_t i = 0; i < p->ow; i++) {
                uint8_t a = r0[2 * i] > r0[2 * i + 1] ? r0[2 * i] : r0[2 * i + 1];
                uint8_t b = r1[2 * i] > r1[2 * i + 1] ? r1[2 * i] : r1[2 * i + 1];
                y[i] = a > b ? a : b;
            }
        }
    }
}

static int op_maxpool(fy__op_ctx *c)
{
    const fy_tensor *x = fy__op_in(c, 0);
    pool2d p;
    int u8 = x && x->dtype == FY_DTYPE_U8, i8 = x && x->dtype == FY_DTYPE_I8;
    if (!x || (x->dtype != FY_DTYPE_F32 && !u8 && !i8) || x->rank != 4 || fy__op_wants_out(c, 1) ||
        !geometry(c->node, x, &p)) {
        const fy__op_def *d = fy__op_find_ref(c->node->domain, c->node->op_type);
        return d ? d->run(c) : fy__op_fail(c, FY_EUNSUPPORTED, "no reference kernel");
    }
    int64_t dims[4] = {x->dims[0], x->dims[1], p.oh, p.ow};
    int rc = fy_tensor_alloc(&c->out[0], x->dtype, 4, dims, c->diag);
    if (rc != FY_OK || fy_tensor_numel(&c->out[0]) == 0)
        return rc;
    p.x = x->data;
    p.y = c->out[0].data;
    /* chunks of at least ~16k window taps, so waking a worker pays off */
    int64_t per_plane = p.oh * p.ow * p.kh * p.kw + 1, grain = (16384 + per_plane - 1) / per_plane;
    int s2 = p.sw == 2 && p.dw == 1 && p.kw >= 1;
    int two = p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.dh == 1 && p.dw == 1 &&
              p.pt == 0 && p.pl == 0 && 2 * p.oh <= p.h && 2 * p.ow <= p.w;
    fy_pool_run(c->pool, x->dims[0] * x->dims[1], grain,
                u8              ? (two ? max_planes_u8_2x2 : max_planes_u8)
                : i8            ? max_planes_i8
                : s2 ? max_planes_s2
                                : max_planes,
                &p);
    return FY_OK;
}

const fy__op_fast fy__ops_fast_pool[] = {
    {{"MaxPool", "", op_maxpool}, NULL, NULL},
    {{NULL, NULL, NULL}, NULL, NULL},
};
