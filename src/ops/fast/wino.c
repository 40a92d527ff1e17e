/* SPDX-License-Identifier: MIT */
/* Winograd convolution F(m x m, 3 x 3) for 3x3, stride-1, undilated, ungrouped
 * Conv (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks"): each
 * m x m block of output ("tile") is A^T [(G g G^T) . (B^T d B)] A, where d is the
 * (m + 2)^2 input patch and g the 3x3 kernel. The elementwise product summed over
 * input channels is, for each of the (m + 2)^2 positions xi, one GEMM:
 *   M_xi [M x tiles] = U_xi [M x C] . V_xi [C x tiles]
 * so the multiplications drop from 9 m^2 to (m + 2)^2 per tile and channel pair:
 * 2.25x fewer for F(2, 3), 4x fewer for F(4, 3). U is transformed (in double) and
 * packed once at session creation; V and M are built per run, a block of tile
 * rows at a time so they stay in cache.
 *
 * The transforms run on contiguous rows so they vectorize (vec8.h): the input
 * patch rows are gathered split by output phase (column x of a tile row goes to
 * phase x mod m), which makes "element j of tile tx" a contiguous run over tx. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "fast_int.h"
#include "vec8.h"

/* Tiles per tile row at most (stack buffers are sized by it). */
#define WINO_MAX_TX 256
/* Floats of V (and of M) per block of tile rows, about 2 MB each. */
#define WINO_BLOCK (1 << 19)
#define WINO_MAX_A 6
#pragma GCC diagnostic ignored "-Wpsabi"

typedef struct wino_mats {
    int m, a;
    float bt[WINO_MAX_A][WINO_MAX_A]; /* B^T: a x a */
    float at[4][WINO_MAX_A];          /* A^T: m x a */
    double g[WINO_MAX_A][3];          /* G: a x 3 */
} wino_mats;

static const wino_mats F23 = {2,
                              4,
                              {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                              {{1, 1, 1, 0}, {0, 1, -1, -1}},
                              {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}};

/* Points 0, +-1, +-2 and infinity. */
static const wino_mats F43 = {
    4,
    6,
    {{4, 0, -5, 0, 1, 0},
     {0, -4, -4, 1, 1, 0},
     {0, 4, -4, -1, 1, 0},
     {0, -2, -1, 2, 1, 0},
     {0, 2, -1, -2, 1, 0},
     {0, 4, 0, -5, 0, 1}},
    {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}},
    {{1.0 / 4, 0, 0},
     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
     {1.0 / 24, 1.0 / 12, 1.0 / 6},
     {1.0 / 24, -1.0 / 12, 1.0 / 6},
     {0, 0, 1}}};

static const wino_mats *mats_for(int m)
{
    return m == 4 ? &F43 : m == 2 ? &F23 : NULL;
}

int fy__wino_ok(const fy__conv_shape *s)
{
    return s->kh == 3 && s->kw == 3 && s->sh == 1 && s->sw == 1 && s->dh == 1 && s->dw == 1 &&
           s->group == 1 && s->pt <= 2 && s->pl <= 2 && s->ow <= 2 * WINO_MAX_TX;
}

int fy__wino_pack(fy__packed **out, const fy__conv_shape *s, const float *w, int m, int tr)
{
    const wino_mats *t = mats_for(m);
    if (!t || s->kh != 3 || s->kw != 3 || s->group != 1 || (tr && s->m % 8))
        return FY_EINVAL;
    const int a = t->a;
    fy__packed *p = tr ? fy__packed_make('B', s->c, s->m, (int64_t)a * a)
                       : fy__packed_make('A', s->m, s->c, (int64_t)a * a);
    float *u = p ? fy__malloc((size_t)(a * a) * (size_t)s->m * (size_t)s->c * sizeof *u) : NULL;
    if (!u) {
        fy__packed_free(p);
        return FY_ENOMEM;
    }
    /* u[xi][mo][ci] = (G g G^T)[xi] */
    const int64_t mc = s->m * s->c;
    for (int64_t i = 0; i < mc; i++) {
        const float *g = w + i * 9;
        double gg[WINO_MAX_A][3];
        for (int r = 0; r < a; r++)
            for (int k = 0; k < 3; k++)
                gg[r][k] = t->g[r][0] * g[k] + t->g[r][1] * g[3 + k] + t->g[r][2] * g[6 + k];
        for (int r = 0; r < a; r++)
            for (int q = 0; q < a; q++)
                u[(r * a + q) * mc + i] =
                    (float)(gg[r][0] * t->g[q][0] + gg[r][1] * t->g[q][1] + gg[r][2] * t->g[q][2]);
    }
    for (int xi = 0; xi < a * a; xi++)
        if (tr) /* B [C x M]: element (ci, mo) at u[mo C + ci] */
            fy__pack_b_block(p->data + xi * p->gstride, p->r, u + xi * mc, 1, s->c, s->c, s->m);
        else
            fy__pack_a_block(p->data + xi * p->gstride, p->r, u + xi * mc, s->c, 1, s->m, s->c);
    fy__free(u);
    p->wino = m;
    *out = p;
    return FY_OK;
}

/* ---- transforms ----
 * Written out for each tile size on 8-float vectors (vec8.h), so constant
 * coefficients fold; an 8-tile vector may run past a row's last tile (the rows
 * have slack, and the next tile row's stores overwrite the excess). */

INLINE v8 ld(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
INLINE void st(float *p, v8 v)
{
    memcpy(p, &v, sizeof v);
}

/* o = B^T d (a values) */
INLINE void tr_in(const int m, const v8 *d, v8 *o)
{
    if (m == 2) {
        o[0] = d[0] - d[2];
        o[1] = d[1] + d[2];
        o[2] = d[2] - d[1];
        o[3] = d[1] - d[3];
    } else {
        const v8 k2 = splat8(2.0f), k4 = splat8(4.0f), k5 = splat8(5.0f);
        v8 t0 = d[4] - k4 * d[2], t1 = d[3] - k4 * d[1];
        v8 t2 = d[4] - d[2], t3 = k2 * (d[3] - d[1]);
        o[0] = k4 * d[0] - k5 * d[2] + d[4];
        o[1] = t0 + t1;
        o[2] = t0 - t1;
        o[3] = t2 + t3;
        o[4] = t2 - t3;
        o[5] = k4 * d[1] - k5 * d[3] + d[5];
    }
}

/* o = A^T d (m values from a) */
INLINE void tr_out(const int m, const v8 *d, v8 *o)
{
    if (m == 2) {
        o[0] = d[0] + d[1] + d[2];
        o[1] = d[1] - d[2] - d[3];
    } else {
        v8 s12 = d[1] + d[2], d12 = d[1] - d[2], s34 = d[3] + d[4], d34 = d[3] - d[4];
        o[0] = d[0] + s12 + s34;
        o[1] = d12 + splat8(2.0f) * d34;
        o[2] = s12 + splat8(4.0f) * s34;
        o[3] = d12 + splat8(8.0f) * d34 + d[5];
    }
}

typedef struct wino_run {
    const fy__conv_shape *s;
    const wino_mats *t;
    const fy__packed *u;
    const fy__epilogue *ep;
    const float *x;
    float *y;
    int64_t tx, ty; /* tiles per row, tile rows per image */
    int64_t g0, g1; /* this block's tile rows, counted over the batch (n * ty + row) */
    int64_t T;      /* tiles in the block: (g1 - g0) * tx */
    int tr;         /* transposed GEMMs: M_xi [tiles x M] = V_xi^T U_xi^T (few tiles) */
    int64_t ld;     /* row stride of V and M: T plus slack for a vector's overrun */
    int64_t vx, mx; /* stride of V's and M's matrices: C ld or M ld and one cache line
                     * more, so that the a * a rows one tile writes do not all map to a
                     * few L1 sets (a 4 KB multiple apart, they did: 13% of the time) */
    float *v;       /* [a * a][vx]: C rows of ld */
    float *mm;      /* [a * a][mx]: M rows of ld */
} wino_run;

/* Floats per phase of a gathered patch row: the tiles plus one, then slack. */
#define WINO_L (WINO_MAX_TX + 16)

/* d[p Lp + i] = row[i m + p - pl] (0 outside [0, w)) for i < Lp, p < m: one input
 * row split by output phase. The row is first copied between zeros (its pads),
 * so every group of 8 tiles is m vector loads deinterleaved by shuffles, with no
 * bounds to check (the scalar edges were a fifth of the transform). */
INLINE void gather_row(const float *row, int64_t w, int64_t pl, int64_t Lp, const int m, float *d)
{
    float buf[4 * WINO_L];
    const int64_t span = Lp * m; /* >= pl + w */
    /* inline vector moves: a libc call per row was 2% of a batch-32 run */
    for (int64_t k = 0; k < span; k += 8) /* span: a multiple of 8 */
        st(buf + k, splat8(0.0f));
    int64_t x = 0;
    for (; x + 8 <= w; x += 8)
        st(buf + pl + x, ld(row + x));
    for (; x < w; x++)
        buf[pl + x] = row[x];
    for (int64_t k = 0; k < Lp; k += 8) {
        const float *sp = buf + k * m;
        if (m == 2) {
            v8 a = ld(sp), b = ld(sp + 8);
            st(d + k, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
            st(d + Lp + k, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15));
        } else {
            v8 a = ld(sp), b = ld(sp + 8), c = ld(sp + 16), e = ld(sp + 24);
            v8 s1 = __builtin_shufflevector(a, b, 0, 4, 8, 12, 1, 5, 9, 13),
               s2 = __builtin_shufflevector(a, b, 2, 6, 10, 14, 3, 7, 11, 15);
            v8 s3 = __builtin_shufflevector(c, e, 0, 4, 8, 12, 1, 5, 9, 13),
               s4 = __builtin_shufflevector(c, e, 2, 6, 10, 14, 3, 7, 11, 15);
            st(d + k, __builtin_shufflevector(s1, s3, 0, 1, 2, 3, 8, 9, 10, 11));
            st(d + Lp + k, __builtin_shufflevector(s1, s3, 4, 5, 6, 7, 12, 13, 14, 15));
            st(d + 2 * Lp + k, __builtin_shufflevector(s2, s4, 0, 1, 2, 3, 8, 9, 10, 11));
            st(d + 3 * Lp + k, __builtin_shufflevector(s2, s4, 4, 5, 6, 7, 12, 13, 14, 15));
        }
    }
}

/* V for input channel ci over the block's tile rows. */
INLINE void input_body(const wino_run *r, int64_t ci, const int m)
{
    const fy__conv_shape *s = r->s;
    const int a = m + 2;
    const int64_t L = r->tx + 1, tx = r->tx,
                  Lp = (L + 7) / 8 * 8; /* >= tx + 1 rounded: the last vector reads k + 8 */
    float pr[WINO_MAX_A][4 * WINO_L];   /* patch rows split by phase: [p * Lp + i] */
    float ra[WINO_MAX_A][4 * WINO_L];
    for (int64_t g = r->g0; g < r->g1; g++) {
        int64_t n = g / r->ty, ty = g % r->ty, y0 = ty * m - s->pt;
        const float *plane = r->x + (n * s->c + ci) * s->h * s->w;
        for (int q = 0; q < a; q++) {
            int64_t yy = y0 + q;
            float *d = pr[q];
            if ((uint64_t)yy >= (uint64_t)s->h) {
                memset(d, 0, (size_t)(m * Lp) * sizeof *d);
                continue;
            }
            gather_row(plane + yy * s->w, s->w, s->pl, Lp, m, d);
        }
        /* rows: ra = B^T pr */
        for (int64_t k = 0; k < m * Lp; k += 8) {
            v8 d[WINO_MAX_A], o[WINO_MAX_A];
            for (int q = 0; q < a; q++)
                d[q] = ld(pr[q] + k);
            tr_in(m, d, o);
            for (int q = 0; q < a; q++)
                st(ra[q] + k, o[q]);
        }
        /* columns: element j of tile k is ra[.][(j % m) Lp + k + j / m] */
        float *vbase = r->v + ci * r->ld + (g - r->g0) * tx;
        const int64_t vstep = r->vx;
        for (int64_t k = 0; k < tx; k += 8)
            for (int i = 0; i < a; i++) {
                v8 d[WINO_MAX_A], o[WINO_MAX_A];
                for (int j = 0; j < a; j++)
                    d[j] = ld(ra[i] + (j % m) * Lp + k + j / m);
                tr_in(m, d, o);
                for (int j = 0; j < a; j++)
                    st(vbase + (i * a + j) * vstep + k, o[j]);
            }
    }
}

/* Interleave m vectors of 8 (one per output column phase) into 8 m floats. */
INLINE void interleave(const int m, const v8 *y, float *dst)
{
    if (m == 2) {
        st(dst, __builtin_shufflevector(y[0], y[1], 0, 8, 1, 9, 2, 10, 3, 11));
        st(dst + 8, __builtin_shufflevector(y[0], y[1], 4, 12, 5, 13, 6, 14, 7, 15));
    } else {
        v8 p0 = __builtin_shufflevector(y[0], y[2], 0, 8, 1, 9, 2, 10, 3, 11),
           p1 = __builtin_shufflevector(y[0], y[2], 4, 12, 5, 13, 6, 14, 7, 15);
        v8 q0 = __builtin_shufflevector(y[1], y[3], 0, 8, 1, 9, 2, 10, 3, 11),
           q1 = __builtin_shufflevector(y[1], y[3], 4, 12, 5, 13, 6, 14, 7, 15);
        st(dst, __builtin_shufflevector(p0, q0, 0, 8, 1, 9, 2, 10, 3, 11));
        st(dst + 8, __builtin_shufflevector(p0, q0, 4, 12, 5, 13, 6, 14, 7, 15));
        st(dst + 16, __builtin_shufflevector(p1, q1, 0, 8, 1, 9, 2, 10, 3, 11));
        st(dst + 24, __builtin_shufflevector(p1, q1, 4, 12, 5, 13, 6, 14, 7, 15));
    }
}

/* Output channel mo over the block's tile rows: y = epilogue(A^T M A). */
INLINE void output_body(const wino_run *r, int64_t mo, const int m)
{
    const fy__conv_shape *s = r->s;
    const int a = m + 2;
    const int64_t tx = r->tx, ohw = s->oh * s->ow, mstep = r->mx;
    const fy__epilogue *ep = r->ep;
    /* With no activation or ReLU: bias (and ReLU when there is no residual) on the
     * vectors, the residual (and then ReLU) in the loop that stores the row: a
     * per-row epilogue call cost as much as the transform on 7-wide rows. Other
     * activations: the row epilogue while the row is in L1. */
    const int inreg = ep && (ep->act == FY_ACT_NONE || ep->act == FY_ACT_RELU);
    const int relu = inreg && ep->act == FY_ACT_RELU, relu_vec = relu && !ep->residual;
    const v8 bias = splat8(ep && ep->bias ? ep->bias[mo] : 0.0f), zero = splat8(0.0f);
    float line[4][4 * WINO_MAX_TX + 32];
    for (int64_t g = r->g0; g < r->g1; g++) {
        int64_t n = g / r->ty, ty = g % r->ty;
        const float *src = r->mm + mo * r->ld + (g - r->g0) * tx;
        for (int64_t k = 0; k < tx; k += 8) {
            v8 sb[4][WINO_MAX_A];
            for (int j = 0; j < a; j++) {
                v8 d[WINO_MAX_A], o[4];
                for (int i = 0; i < a; i++)
                    d[i] = ld(src + (i * a + j) * mstep + k);
                tr_out(m, d, o);
                for (int i = 0; i < m; i++)
                    sb[i][j] = o[i];
            }
            for (int i = 0; i < m; i++) {
                v8 o[4];
                tr_out(m, sb[i], o);
                for (int j = 0; inreg && j < m; j++) {
                    o[j] += bias;
                    if (relu_vec) /* as the reference's x < 0 ? 0 : x (NaN passes) */
                        o[j] = pick8(o[j] < zero, zero, o[j]);
                }
                interleave(m, o, line[i] + k * m);
            }
        }
        for (int i = 0; i < m; i++) {
            int64_t oy = ty * m + i;
            if (oy >= s->oh)
                break;
            float *dst = r->y + (n * s->m + mo) * ohw + oy * s->ow;
            if (ep && !inreg) { /* on the row while it is in L1, then one store */
                fy__epilogue e = *ep;
                e.per_col = 0;
                e.bias = e.bias ? e.bias + mo : NULL;
                e.residual = e.residual ? e.residual + (n * s->m + mo) * ohw + oy * s->ow : NULL;
                fy__epi_tile(line[i], s->ow, 0, 0, 1, s->ow, &e);
            }
            const float *res =
                inreg && ep->residual ? ep->residual + (n * s->m + mo) * ohw + oy * s->ow : NULL;
            int64_t x = 0;
            if (res) {
                for (; x + 8 <= s->ow; x += 8) {
                    v8 v = ld(line[i] + x) + ld(res + x);
                    st(dst + x, relu ? pick8(v < zero, zero, v) : v);
                }
                for (; x < s->ow; x++) {
                    float v = line[i][x] + res[x];
                    dst[x] = relu && v < 0 ? 0.0f : v;
                }
                continue;
            }
            for (; x + 8 <= s->ow; x += 8)
                st(dst + x, ld(line[i] + x));
            for (; x < s->ow; x++)
                dst[x] = line[i][x];
        }
    }
}

/* The transposed layout (M_xi [tiles x M]): output channels mo0 .. mo0 + 8 as the
 * vector lanes, each result scattered to its channel's plane. */
INLINE void output_tr_body(const wino_run *r, int64_t mo0, const int m)
{
    const fy__conv_shape *s = r->s;
    const int a = m + 2;
    const int64_t ohw = s->oh * s->ow;
    for (int64_t g = r->g0; g < r->g1; g++) {
        int64_t n = g / r->ty, ty = g % r->ty;
        float *ybase = r->y + (n * s->m + mo0) * ohw;
        for (int64_t k = 0; k < r->tx; k++) {
            const float *src = r->mm + ((g - r->g0) * r->tx + k) * s->m + mo0;
            v8 sb[4][WINO_MAX_A];
            for (int j = 0; j < a; j++) {
                v8 d[WINO_MAX_A], o[4];
                for (int i = 0; i < a; i++)
                    d[i] = ld(src + (i * a + j) * r->mx);
                tr_out(m, d, o);
                for (int i = 0; i < m; i++)
                    sb[i][j] = o[i];
            }
            for (int i = 0; i < m && ty * m + i < s->oh; i++) {
                v8 o[4];
                tr_out(m, sb[i], o);
                for (int j = 0; j < m && k * m + j < s->ow; j++) {
                    float lanes[8], *dst = ybase + (ty * m + i) * s->ow + k * m + j;
                    st(lanes, o[j]);
                    for (int q = 0; q < 8; q++)
                        dst[q * ohw] = lanes[q];
                }
            }
        }
        for (int q = 0; r->ep && q < 8; q++)
            for (int i = 0; i < m && ty * m + i < s->oh; i++) {
                int64_t off = (n * s->m + mo0 + q) * ohw + (ty * m + i) * s->ow;
                fy__epilogue e = *r->ep;
                e.per_col = 0;
                e.bias = e.bias ? e.bias + mo0 + q : NULL;
                e.residual = e.residual ? e.residual + off : NULL;
                fy__epi_tile(r->y + off, s->ow, 0, 0, 1, s->ow, &e);
            }
    }
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void input_avx2(const wino_run *r, int64_t ci)
{
    if (r->t->m == 2)
        input_body(r, ci, 2);
    else
        input_body(r, ci, 4);
}
__attribute__((target("avx2,fma"))) static void output_avx2(const wino_run *r, int64_t mo)
{
    if (r->tr)
        output_tr_body(r, mo * 8, 2);
    else if (r->t->m == 2)
        output_body(r, mo, 2);
    else
        output_body(r, mo, 4);
}
#define HAVE_AVX2_BODIES 1
#endif

static void input_any(const wino_run *r, int64_t ci)
{
    if (r->t->m == 2)
        input_body(r, ci, 2);
    else
        input_body(r, ci, 4);
}
static void output_any(const wino_run *r, int64_t mo)
{
    if (r->tr)
        output_tr_body(r, mo * 8, 2);
    else if (r->t->m == 2)
        output_body(r, mo, 2);
    else
        output_body(r, mo, 4);
}

static void input_task(void *ctx, int64_t b, int64_t e)
{
    const wino_run *r = ctx;
    for (int64_t ci = b; ci < e; ci++) {
#ifdef HAVE_AVX2_BODIES
        if (r->u->isa >= FY_ISA_AVX2) {
            input_avx2(r, ci);
            continue;
        }
#endif
        input_any(r, ci);
    }
}

static void output_task(void *ctx, int64_t b, int64_t e)
{
    const wino_run *r = ctx;
    for (int64_t mo = b; mo < e; mo++) {
#ifdef HAVE_AVX2_BODIES
        if (r->u->isa >= FY_ISA_AVX2) {
            output_avx2(r, mo);
            continue;
        }
#endif
        output_any(r, mo);
    }
}

static void gemm_task(void *ctx, int64_t b, int64_t e)
{
    const wino_run *r = ctx;
    const fy__conv_shape *s = r->s;
    for (int64_t xi = b; xi < e; xi++) {
        const float *uw = r->u->data + xi * r->u->gstride, *v = r->v + xi * r->vx;
        fy__bview bv = {v, r->ld, 1};
        fy__gemm gm = {fy__kset_for(r->u->isa),
                       s->m,
                       r->T,
                       s->c,
                       NULL,
                       0,
                       0,
                       uw,
                       NULL,
                       fy__pack_b_strided,
                       &bv,
                       r->mm + xi * r->mx,
                       r->ld,
                       NULL};
        if (r->tr) { /* [T x M] = V^T [T x C] . U^T [C x M], U^T packed */
            fy__gemm gt = {
                fy__kset_for(r->u->isa), r->T, s->m, s->c, v, 1, r->ld, NULL, uw, NULL, NULL,
                r->mm + xi * r->mx,      s->m, NULL};
            gm = gt;
        }
        fy__gemm_run(NULL, &gm);
    }
}

/* The mutable global of this file (docs/ARCHITECTURE.md): a few transform
 * buffers kept between calls (NULL slots: none kept, or a call holds it), so that
 * runs do not map and fault in fresh pages for every conv (ResNet-18 at batch 32
 * spent 11% of its time in the kernel clearing pages). Taken and given back by
 * atomic exchange: a call that finds none allocates its own. The first 64 bytes
 * of each hold its capacity in floats. */
#define SPARES 4
static _Atomic(float *) spare[SPARES];

#define HEAD 16 /* floats before the data */

static float *buf_take(int64_t floats)
{
    for (int i = 0; i < SPARES; i++) {
        float *b = atomic_exchange(&spare[i], NULL);
        if (!b)
            continue;
        int64_t cap;
        memcpy(&cap, b, sizeof cap);
        if (cap >= floats)
            return b;
        fy__free(b);
        break;
    }
    float *b = fy__malloc((size_t)(floats + HEAD) * sizeof *b);
    if (b)
        memcpy(b, &floats, sizeof floats);
    return b;
}

static void buf_give(float *b)
{
    for (int i = 0; i < SPARES; i++) {
        float *none = NULL;
        if (atomic_compare_exchange_strong(&spare[i], &none, b))
            return;
    }
    fy__free(b);
}

/* Tile rows per block: V (and M) about WINO_BLOCK floats, or a quarter of that
 * when the transformed weights fit in L2 and re-reading them per block is cheap
 * (then V, M and U all stay in L2). Measured per ResNet layer at batch 8. */
static int64_t block_rows(const fy__conv_shape *s, int a2, int64_t tx)
{
    const int64_t wide = s->c > s->m ? s->c : s->m;
    int64_t budget = (int64_t)a2 * s->m * s->c <= (1 << 17) ? WINO_BLOCK / 8 : WINO_BLOCK;
    int64_t per = budget / ((int64_t)a2 * wide * tx);
    per = per < 1 ? 1 : per;
    /* Within a quarter of that, the tile count (GEMM columns) that wastes the least
     * of the microkernel's 32-column panels: 16 rows of 7 tiles (112) left half a
     * panel empty in every GEMM of a 28 x 28 layer; 18 rows (126) fill them. */
    const char *env = getenv("FERRY_WINO_FILL");
    if (env && strcmp(env, "0") == 0)
        return per;
    int64_t best = per;
    double bw = 1;
    for (int64_t q = per - per / 4; q <= per + per / 4; q++) {
        int64_t cols = q * tx, pad = (cols + 31) / 32 * 32 - cols;
        double w = (double)pad / (double)cols;
        if (q >= 1 && (w < bw - 1e-9 || (w < bw + 1e-9 && llabs(q - per) < llabs(best - per))))
            best = q, bw = w;
    }
    return best;
}

/* One block of tile rows [g0, g1) through the three steps, each split over pool. */
static void run_block(wino_run *r, fy_pool *pool, int64_t g0, int64_t g1)
{
    r->g0 = g0;
    r->g1 = g1;
    r->T = (g1 - g0) * r->tx;
    fy_pool_run(pool, r->s->c, 1, input_task, r);
    fy_pool_run(pool, (int64_t)r->t->a * r->t->a, 1, gemm_task, r);
    fy_pool_run(pool, r->tr ? r->s->m / 8 : r->s->m, 1, output_task, r);
}

/* Buffer for blocks of `per` tile rows: V then M, rows ld floats apart. */
static float *block_buf(wino_run *r, int64_t per)
{
    const int64_t a2 = (int64_t)r->t->a * r->t->a, ld = per * r->tx + 16;
    r->ld = ld;
    r->vx = r->s->c * ld + 16;
    r->mx = r->tr ? per * r->tx * r->s->m + 16 : r->s->m * ld + 16;
    float *buf = buf_take(a2 * (r->vx + r->mx));
    if (!buf)
        return NULL;
    r->v = buf + HEAD;
    r->mm = r->v + a2 * r->vx;
    /* the slack of M's rows is read (into lanes that are discarded): keep it finite */
    for (int64_t xi = 0; xi < a2 && !r->tr; xi++)
        for (int64_t i = 0; i < r->s->m; i++)
            memset(r->mm + xi * r->mx + i * ld + per * r->tx, 0, 16 * sizeof *buf);
    return buf;
}

typedef struct wino_blocks {
    const wino_run *proto;
    int64_t per, rows_all;
    atomic_int failed;
} wino_blocks;

/* Whole blocks per task, each on one thread with its own buffer. */
static void blocks_task(void *ctx, int64_t b, int64_t e)
{
    wino_blocks *wb = ctx;
    wino_run r = *wb->proto;
    float *buf = block_buf(&r, wb->per);
    if (!buf) {
        atomic_store(&wb->failed, 1);
        return;
    }
    for (int64_t i = b; i < e; i++) {
        int64_t g0 = i * wb->per, g1 = g0 + wb->per < wb->rows_all ? g0 + wb->per : wb->rows_all;
        run_block(&r, NULL, g0, g1);
    }
    buf_give(buf);
}

int fy__wino_conv(fy_pool *pool, const fy__conv_shape *s, const float *x, const fy__packed *u,
                  float *y, const fy__epilogue *ep)
{
    const wino_mats *t = mats_for(u->wino);
    const int tr = u->side == 'B';
    if (!t || !fy__wino_ok(s) ||
        (tr ? u->rows != s->c || u->cols != s->m || s->m % 8 : u->rows != s->m || u->cols != s->c))
        return FY_EINVAL;
    const int m = t->m;
    wino_run r = {.s = s, .t = t, .u = u, .ep = ep, .x = x, .y = y, .tr = tr};
    r.tx = (s->ow + m - 1) / m;
    r.ty = (s->oh + m - 1) / m;
    const int64_t rows_all = s->n * r.ty;
    int64_t per = block_rows(s, t->a * t->a, r.tx);
    per = per > rows_all ? rows_all : per;
    const int64_t blocks = (rows_all + per - 1) / per;
    const int threads = fy_pool_threads(pool);
    if (threads > 1 && blocks >= 2 * threads) {
        /* enough blocks: one thread per block, no synchronisation inside */
        wino_blocks wb = {&r, per, rows_all, 0};
        fy_pool_run(pool, blocks, 1, blocks_task, &wb);
        return atomic_load(&wb.failed) ? FY_ENOMEM : FY_OK;
    }
    float *buf = block_buf(&r, per);
    if (!buf)
        return FY_ENOMEM;
    for (int64_t g0 = 0; g0 < rows_all; g0 += per)
        run_block(&r, pool, g0, g0 + per < rows_all ? g0 + per : rows_all);
    buf_give(buf);
    return FY_OK;
}
