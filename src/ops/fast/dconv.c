/* SPDX-License-Identifier: MIT */
/* Direct convolution + activation + max pool (dconv.h). A task is one pooled
 * output row of one image and one block of 32 output channels. For each pooled
 * output the conv pixels of its window are computed four at a time: per tap, the
 * four input values are broadcast and multiplied by the tap's 32 weights (two
 * AVX-512 vectors), so the 4 x 32 sums stay in eight registers; bias, activation
 * and the window's maximum follow in registers, and the 32 channel values of up to
 * 16 pooled outputs are transposed into the NCHW result through a small buffer.
 * Convs with few taps waste most of a GEMM microkernel (K = 9 against panels made
 * for hundreds) and pay for im2col and for writing and re-reading the unpooled
 * output; this pass reads the input once and writes a quarter of the values. */
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "dconv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

#define PX_CHUNK 16         /* pooled outputs per transpose buffer */
#define FY_DCONV_MAX_WIN 64 /* pool windows up to this many pixels take the in-place path */

int fy__dconv_ok(const fy__conv_shape *s)
{
    return s->group == 1 && s->c >= 1 && s->m >= 1 && s->c * s->kh * s->kw <= FY_DCONV_MAX_TAPS;
}

int fy__dconv_pack(fy__dconv **out, const fy__conv_shape *s, const float *w)
{
    int64_t taps = s->c * s->kh * s->kw, blocks = (s->m + FY_DCONV_MB - 1) / FY_DCONV_MB;
    fy__dconv *d = fy__calloc(1, sizeof *d);
    float *p = fy__calloc((size_t)(blocks * taps * FY_DCONV_MB), sizeof *p);
    if (!d || !p) {
        fy__free(d);
        fy__free(p);
        return FY_ENOMEM;
    }
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t k = 0; k < taps; k++)
            for (int64_t c = 0; c < FY_DCONV_MB && b * FY_DCONV_MB + c < s->m; c++)
                p[(b * taps + k) * FY_DCONV_MB + c] = w[(b * FY_DCONV_MB + c) * taps + k];
    d->m = s->m;
    d->taps = taps;
    d->blocks = blocks;
    d->w = p;
    *out = d;
    return FY_OK;
}

void fy__dconv_free(fy__dconv *d)
{
    if (!d)
        return;
    fy__free(d->w);
    fy__free(d);
}

typedef struct dctx {
    const fy__conv_shape *s;
    const fy__pool2 *p;
    const float *x;
    const fy__dconv *w;
    const float *bias;
    fy__act act;
    float alpha, beta;
    float *y;
    int64_t offs[FY_DCONV_MAX_TAPS];  /* tap k's offset from a conv pixel's first input */
    int64_t ident[FY_DCONV_MAX_TAPS]; /* 0, 1, 2, ...: offsets into a gathered tap list */
} dctx;

/* The input positions of conv pixel (cy, cx) of image xn: a pointer that the tap
 * offsets in d->offs address when the whole kernel window is inside the image;
 * otherwise the taps gathered into buf (zero in the padding), addressed by
 * d->ident. Returns whether it gathered. */
static int pixel(const dctx *d, const float *xn, int64_t cy, int64_t cx, float *buf,
                 const float **ptr)
{
    const fy__conv_shape *s = d->s;
    int64_t iy = cy * s->sh - s->pt, ix = cx * s->sw - s->pl;
    if (iy >= 0 && ix >= 0 && iy + (s->kh - 1) * s->dh < s->h && ix + (s->kw - 1) * s->dw < s->w) {
        *ptr = xn + iy * s->w + ix;
        return 0;
    }
    int64_t k = 0;
    for (int64_t ci = 0; ci < s->c; ci++)
        for (int64_t ky = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++, k++) {
                int64_t y = iy + ky * s->dh, x = ix + kx * s->dw;
                buf[k] = y >= 0 && y < s->h && x >= 0 && x < s->w ? xn[(ci * s->h + y) * s->w + x]
                                                                  : 0.0f;
            }
    *ptr = buf;
    return 1;
}

/* The four conv pixels q..q+3 of pooled output (py, px)'s window (past the
 * window's end: its first pixel again, which leaves a maximum unchanged), as
 * pointers plus the offset table that addresses them. */
static const int64_t *four(const dctx *d, const float *xn, int64_t py, int64_t px, int64_t q,
                           float buf[4][FY_DCONV_MAX_TAPS], const float *ptr[4])
{
    const fy__pool2 *p = d->p;
    int64_t win = p->kh * p->kw, cy[4], cx[4];
    int gathered = 0;
    for (int j = 0; j < 4; j++) {
        int64_t t = q + j < win ? q + j : 0;
        cy[j] = py * p->sh + t / p->kw;
        cx[j] = px * p->sw + t % p->kw;
        gathered |= pixel(d, xn, cy[j], cx[j], buf[j], &ptr[j]);
    }
    if (!gathered)
        return d->offs;
    for (int j = 0; j < 4; j++) /* all four through the gathered form */
        if (!pixel(d, xn, cy[j], cx[j], buf[j], &ptr[j])) {
            const fy__conv_shape *s = d->s;
            int64_t k = 0;
            for (int64_t ci = 0; ci < s->c; ci++)
                for (int64_t ky = 0; ky < s->kh; ky++)
                    for (int64_t kx = 0; kx < s->kw; kx++, k++)
                        buf[j][k] = ptr[j][d->offs[k]];
            ptr[j] = buf[j];
        }
    return d->ident;
}

/* Scatter the buffered pooled outputs (cnt of them, 32 channels each) of row py,
 * columns px0.., channel block m0.. into NCHW y. */
static void store(const dctx *d, int64_t n, int64_t m0, int64_t py, int64_t px0, int64_t cnt,
                  float buf[PX_CHUNK][FY_DCONV_MB])
{
    const fy__pool2 *p = d->p;
    int64_t mc = d->w->m - m0 < FY_DCONV_MB ? d->w->m - m0 : FY_DCONV_MB;
    for (int64_t c = 0; c < mc; c++) {
        float *yr = d->y + ((n * d->w->m + m0 + c) * p->oh + py) * p->ow + px0;
        for (int64_t i = 0; i < cnt; i++)
            yr[i] = buf[i][c];
    }
}

/* ---- portable C ---- */

static float act_c(const dctx *d, float v)
{
    switch (d->act) {
    case FY_ACT_RELU: return v < 0 ? 0 : v;
    case FY_ACT_LEAKY_RELU: return v < 0 ? d->alpha * v : v;
    case FY_ACT_CLIP: v = v < d->alpha ? d->alpha : v; return v > d->beta ? d->beta : v;
    default: return v;
    }
}

static void rows_c(void *ctx, int64_t begin, int64_t end)
{
    const dctx *d = ctx;
    const fy__conv_shape *s = d->s;
    const fy__pool2 *p = d->p;
    const int64_t taps = d->w->taps, win = p->kh * p->kw, blocks = d->w->blocks;
    float gbuf[4][FY_DCONV_MAX_TAPS], out[PX_CHUNK][FY_DCONV_MB], bias[FY_DCONV_MB];
    for (int64_t t = begin; t < end; t++) {
        int64_t n = t / (blocks * p->oh), b = t / p->oh % blocks, py = t % p->oh;
        int64_t m0 = b * FY_DCONV_MB;
        const float *xn = d->x + n * s->c * s->h * s->w, *wb = d->w->w + b * taps * FY_DCONV_MB;
        for (int c = 0; c < FY_DCONV_MB; c++)
            bias[c] = d->bias && m0 + c < d->w->m ? d->bias[m0 + c] : 0.0f;
        for (int64_t px0 = 0; px0 < p->ow; px0 += PX_CHUNK) {
            int64_t cnt = p->ow - px0 < PX_CHUNK ? p->ow - px0 : PX_CHUNK;
            for (int64_t i = 0; i < cnt; i++) {
                float *v = out[i];
                for (int64_t q = 0; q < win; q += 4) {
                    const float *ptr[4];
                    const int64_t *off = four(d, xn, py, px0 + i, q, gbuf, ptr);
                    float acc[4][FY_DCONV_MB] = {{0}};
                    for (int64_t k = 0; k < taps; k++) {
                        const float *wk = wb + k * FY_DCONV_MB;
                        for (int j = 0; j < 4; j++) {
                            float xv = ptr[j][off[k]];
                            for (int c = 0; c < FY_DCONV_MB; c++)
                                acc[j][c] += xv * wk[c];
                        }
                    }
                    for (int j = 0; j < 4 && q + j < win; j++)
                        for (int c = 0; c < FY_DCONV_MB; c++) {
                            float a = act_c(d, acc[j][c] + bias[c]);
                            v[c] = q + j == 0 ? a : a > v[c] ? a : v[c];
                        }
                }
            }
            store(d, n, m0, py, px0, cnt, out);
        }
    }
}

/* ---- AVX-512 ---- */
#if FY_X86
#define T512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))

T512 static inline __m512 act512(const dctx *d, __m512 v)
{
    switch (d->act) {
    case FY_ACT_RELU: return _mm512_max_ps(_mm512_setzero_ps(), v); /* 0 > v ? 0 : v */
    case FY_ACT_LEAKY_RELU: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(d->alpha));
    }
    case FY_ACT_CLIP:
        v = _mm512_max_ps(_mm512_set1_ps(d->alpha), v);   /* v < lo ? lo : v */
        return _mm512_min_ps(_mm512_set1_ps(d->beta), v); /* v > hi ? hi : v */
    default: return v;
    }
}

/* The eight sums of four conv pixels (pointers p0..p3, taps at off[k]) times the
 * tap weights w[k][0..32): named variables, so they stay in registers. */
#define UNIT512(TAPS)                                                                              \
    do {                                                                                           \
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = _mm512_setzero_ps();                               \
        for (int64_t k = 0; k < (TAPS); k++) {                                                     \
            __m512 w0 = _mm512_loadu_ps(wb + k * FY_DCONV_MB);                                     \
            __m512 w1 = _mm512_loadu_ps(wb + k * FY_DCONV_MB + 16);                                \
            int64_t o = off[k];                                                                    \
            __m512 x0 = _mm512_set1_ps(p0[o]), x1 = _mm512_set1_ps(p1[o]);                         \
            __m512 x2 = _mm512_set1_ps(p2[o]), x3 = _mm512_set1_ps(p3[o]);                         \
            a0 = _mm512_fmadd_ps(x0, w0, a0);                                                      \
            a1 = _mm512_fmadd_ps(x0, w1, a1);                                                      \
            a2 = _mm512_fmadd_ps(x1, w0, a2);                                                      \
            a3 = _mm512_fmadd_ps(x1, w1, a3);                                                      \
            a4 = _mm512_fmadd_ps(x2, w0, a4);                                                      \
            a5 = _mm512_fmadd_ps(x2, w1, a5);                                                      \
            a6 = _mm512_fmadd_ps(x3, w0, a6);                                                      \
            a7 = _mm512_fmadd_ps(x3, w1, a7);                                                      \
        }                                                                                          \
    } while (0)

/* The pooled value (v0: channels 0-15, v1: 16-31) of one window, its conv pixels
 * taken four at a time; pix(q) gives pixel q's pointer and off its tap offsets. */
T512 static inline __attribute__((always_inline)) void
window512(const dctx *d, int64_t taps, int64_t win, const float *const *pix, const int64_t *off,
          const float *wb, __m512 b0, __m512 b1, __m512 *v0, __m512 *v1)
{
    for (int64_t q = 0; q < win; q += 4) {
        const float *p0 = pix[q], *p1 = pix[q + 1 < win ? q + 1 : 0];
        const float *p2 = pix[q + 2 < win ? q + 2 : 0], *p3 = pix[q + 3 < win ? q + 3 : 0];
        __m512 a0, a1, a2, a3, a4, a5, a6, a7;
        if (taps == 9)
            UNIT512(9);
        else
            UNIT512(taps);
        a0 = act512(d, _mm512_add_ps(a0, b0));
        a1 = act512(d, _mm512_add_ps(a1, b1));
        a2 = act512(d, _mm512_add_ps(a2, b0));
        a3 = act512(d, _mm512_add_ps(a3, b1));
        a4 = act512(d, _mm512_add_ps(a4, b0));
        a5 = act512(d, _mm512_add_ps(a5, b1));
        a6 = act512(d, _mm512_add_ps(a6, b0));
        a7 = act512(d, _mm512_add_ps(a7, b1));
        /* the reference's "x > v ? x : v" in tap order, NaN included; pixels past
         * the window repeat pixel 0, which leaves the maximum as it is */
        if (q == 0) {
            *v0 = a0;
            *v1 = a1;
        } else {
            *v0 = _mm512_max_ps(a0, *v0);
            *v1 = _mm512_max_ps(a1, *v1);
        }
        *v0 = _mm512_max_ps(a2, *v0);
        *v1 = _mm512_max_ps(a3, *v1);
        *v0 = _mm512_max_ps(a4, *v0);
        *v1 = _mm512_max_ps(a5, *v1);
        *v0 = _mm512_max_ps(a6, *v0);
        *v1 = _mm512_max_ps(a7, *v1);
    }
}

/* store() with the buffer transposed in registers, 16 x 16 at a time: lane-wise
 * unpacks, then 4-float and 128-bit shuffles give each channel's 16 pooled values
 * as one vector, stored with a mask of the cnt valid ones. */
T512 static void store512(const dctx *d, int64_t n, int64_t m0, int64_t py, int64_t px0,
                          int64_t cnt, float buf[PX_CHUNK][FY_DCONV_MB])
{
    const fy__pool2 *p = d->p;
    const int64_t M = d->w->m;
    for (int64_t i = cnt; i < PX_CHUNK; i++) /* defined values in the unused rows */
        memset(buf[i], 0, sizeof buf[i]);
    __mmask16 keep = (__mmask16)((1u << cnt) - 1);
    float *y0 = d->y + ((n * M + m0) * p->oh + py) * p->ow + px0;
    const int64_t cstride = p->oh * p->ow;
    for (int cb = 0; cb < FY_DCONV_MB && m0 + cb < M; cb += 16) {
        __m512 t[16], u[16];
#pragma GCC unroll 8
        for (int i = 0; i < 16; i += 2) {
            __m512 ra = _mm512_load_ps(buf[i] + cb), rb = _mm512_load_ps(buf[i + 1] + cb);
            t[i] = _mm512_unpacklo_ps(ra, rb);
            t[i + 1] = _mm512_unpackhi_ps(ra, rb);
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) { /* rows 4g..4g+3: u[4g + e] holds column 4L + e */
            u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
            u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
            u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
            u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
#pragma GCC unroll 4
        for (int e = 0; e < 4; e++) {
            __m512 x0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
            __m512 x1 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xDD);
            __m512 z0 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
            __m512 z1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xDD);
            __m512 col[4] = {_mm512_shuffle_f32x4(x0, z0, 0x88), _mm512_shuffle_f32x4(x1, z1, 0x88),
                             _mm512_shuffle_f32x4(x0, z0, 0xDD),
                             _mm512_shuffle_f32x4(x1, z1, 0xDD)};
#pragma GCC unroll 4
            for (int L = 0; L < 4; L++) {
                int64_t c = cb + 4 * L + e;
                if (m0 + c < M)
                    _mm512_mask_storeu_ps(y0 + c * cstride, keep, col[L]);
            }
        }
    }
}

T512 static void rows_512(void *ctx, int64_t begin, int64_t end)
{
    const dctx *d = ctx;
    const fy__conv_shape *s = d->s;
    const fy__pool2 *p = d->p;
    const int64_t taps = d->w->taps, win = p->kh * p->kw, blocks = d->w->blocks;
    float gbuf[4][FY_DCONV_MAX_TAPS];
    _Alignas(64) float out[PX_CHUNK][FY_DCONV_MB];
    const float *pix[FY_DCONV_MAX_WIN];
    for (int64_t t = begin; t < end; t++) {
        int64_t n = t / (blocks * p->oh), b = t / p->oh % blocks, py = t % p->oh;
        int64_t m0 = b * FY_DCONV_MB, mc = d->w->m - m0;
        const float *xn = d->x + n * s->c * s->h * s->w, *wb = d->w->w + b * taps * FY_DCONV_MB;
        __m512 b0 = _mm512_setzero_ps(), b1 = b0;
        if (d->bias) {
            __mmask16 k0 = mc >= 16 ? 0xffff : (__mmask16)((1u << mc) - 1);
            __mmask16 k1 = mc >= 32 ? 0xffff : mc > 16 ? (__mmask16)((1u << (mc - 16)) - 1) : 0;
            b0 = _mm512_maskz_loadu_ps(k0, d->bias + m0);
            b1 = _mm512_maskz_loadu_ps(k1, d->bias + m0 + 16);
        }
        /* input rows of the window's first and last conv rows */
        int64_t iy0 = py * p->sh * s->sh - s->pt;
        int64_t iy1 = (py * p->sh + p->kh - 1) * s->sh - s->pt + (s->kh - 1) * s->dh;
        int rows_in = iy0 >= 0 && iy1 < s->h && win <= FY_DCONV_MAX_WIN;
        for (int64_t px0 = 0; px0 < p->ow; px0 += PX_CHUNK) {
            int64_t cnt = p->ow - px0 < PX_CHUNK ? p->ow - px0 : PX_CHUNK;
            for (int64_t i = 0; i < cnt; i++) {
                int64_t px = px0 + i;
                int64_t ix0 = px * p->sw * s->sw - s->pl;
                int64_t ix1 = (px * p->sw + p->kw - 1) * s->sw - s->pl + (s->kw - 1) * s->dw;
                __m512 v0 = _mm512_setzero_ps(), v1 = v0;
                if (rows_in && ix0 >= 0 && ix1 < s->w) {
                    /* the whole window inside the image: taps addressed in place */
                    const float *base = xn + iy0 * s->w + ix0;
                    for (int64_t a = 0, q = 0; a < p->kh; a++)
                        for (int64_t c = 0; c < p->kw; c++, q++)
                            pix[q] = base + a * s->sh * s->w + c * s->sw;
                    window512(d, taps, win, pix, d->offs, wb, b0, b1, &v0, &v1);
                } else {
                    for (int64_t q = 0; q < win; q += 4) {
                        const float *ptr[4];
                        const int64_t *off = four(d, xn, py, px, q, gbuf, ptr);
                        __m512 w0, w1;
                        window512(d, taps, 4, ptr, off, wb, b0, b1, &w0, &w1);
                        v0 = q == 0 ? w0 : _mm512_max_ps(w0, v0);
                        v1 = q == 0 ? w1 : _mm512_max_ps(w1, v1);
                    }
                }
                _mm512_store_ps(out[i], v0);
                _mm512_store_ps(out[i] + 16, v1);
            }
            store512(d, n, m0, py, px0, cnt, out);
        }
    }
}
#endif

/* Below this many multiply-adds the calling thread does it all (batch-1 first
 * layers: a few microseconds, less than handing half to a worker gains). */
#define PAR_MIN_MACS (1 << 20)

void fy__dconv_pool(fy_pool *pool, const fy__conv_shape *s, const fy__pool2 *p, const float *x,
                    const fy__dconv *w, const float *bias, const fy__epilogue *ep, float *y)
{
    dctx d;
    memset(&d, 0, sizeof d);
    d.s = s;
    d.p = p;
    d.x = x;
    d.w = w;
    d.bias = bias;
    d.act = ep ? ep->act : FY_ACT_NONE;
    d.alpha = ep ? ep->alpha : 0;
    d.beta = ep ? ep->beta : 0;
    d.y = y;
    int64_t k = 0;
    for (int64_t ci = 0; ci < s->c; ci++)
        for (int64_t ky = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++, k++) {
                d.offs[k] = (ci * s->h + ky * s->dh) * s->w + kx * s->dw;
                d.ident[k] = k;
            }
    int64_t tasks = s->n * w->blocks * p->oh;
    double macs = (double)tasks * (double)p->ow * (double)((p->kh * p->kw + 3) / 4 * 4) *
                  (double)w->taps * FY_DCONV_MB;
    if (macs < PAR_MIN_MACS)
        pool = NULL;
    fy_pool_fn fn = rows_c;
#if FY_X86
    if (fy__isa_active() >= FY_ISA_AVX512)
        fn = rows_512;
#endif
    fy_pool_run(pool, tasks, 1, fn, &d);
}
