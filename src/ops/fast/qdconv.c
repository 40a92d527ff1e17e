/* SPDX-License-Identifier: MIT */
/* Direct int8 Conv + MaxPool (qdconv.h). One task is one pooled output row of one
 * image; per 32-channel block and pooled output, each window tap's conv sums are
 * computed (group by group: a broadcast 4-byte input word against the block's
 * 32 x 4 weight bytes), their maximum kept, then requantized and stored. Windows
 * inside the input with contiguous kernel rows (dilation 1 along the width) load
 * each word straight from X; the others assemble it byte by byte, padding with
 * X's zero point. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "qdconv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FY_X86 1
#endif

int fy__qdconv_ok(const fy__conv_shape *s, const fy__pool2 *p)
{
    if (s->group != 1 || s->kh < 1 || s->kw < 1 || s->c < 1)
        return 0;
    int64_t quads = (s->kw + 3) / 4;
    if (s->c > FY_QDCONV_MAX_GROUPS || s->kh > FY_QDCONV_MAX_GROUPS ||
        s->c * s->kh * quads > FY_QDCONV_MAX_GROUPS)
        return 0;
    return p->kh >= 1 && p->kw >= 1 && p->kh * p->kw <= FY_QDCONV_MAX_POOL && p->oh >= 1 &&
           p->ow >= 1 && (p->oh - 1) * p->sh + p->kh <= s->oh &&
           (p->ow - 1) * p->sw + p->kw <= s->ow;
}

int fy__qdconv_pack(fy__qdconv **out, const fy__conv_shape *s, const int8_t *w)
{
    fy__qdconv *d = fy__calloc(1, sizeof *d);
    if (!d)
        return FY_ENOMEM;
    d->m = s->m;
    d->quads = (s->kw + 3) / 4;
    d->groups = s->c * s->kh * d->quads;
    d->blocks = (s->m + FY_DCONV_MB - 1) / FY_DCONV_MB;
    size_t bytes = (size_t)(d->blocks * d->groups * FY_DCONV_MB * 4);
    d->w = fy__calloc(bytes ? bytes : 1, 1);
    d->wsum = fy__calloc((size_t)(d->blocks * FY_DCONV_MB), sizeof *d->wsum);
    if (!d->w || !d->wsum) {
        fy__qdconv_free(d);
        return FY_ENOMEM;
    }
    for (int64_t m = 0; m < s->m; m++) {
        int64_t b = m / FY_DCONV_MB, lane = m % FY_DCONV_MB;
        int32_t sum = 0;
        for (int64_t ci = 0; ci < s->c; ci++)
            for (int64_t ky = 0; ky < s->kh; ky++)
                for (int64_t kx = 0; kx < s->kw; kx++) {
                    int8_t v = w[((m * s->c + ci) * s->kh + ky) * s->kw + kx];
                    int64_t g = (ci * s->kh + ky) * d->quads + kx / 4;
                    d->w[((b * d->groups + g) * FY_DCONV_MB + lane) * 4 + kx % 4] = v;
                    sum += v;
                }
        d->wsum[m] = sum;
    }
    *out = d;
    return FY_OK;
}

void fy__qdconv_free(fy__qdconv *d)
{
    if (!d)
        return;
    fy__free(d->w);
    fy__free(d->wsum);
    fy__free(d);
}

int fy__qdconv_bias(const fy__qdconv *d, const int32_t *bias, int x_signed, int32_t xzp, int32_t *c)
{
    /* |sum of x' w| <= groups x 4 x 255 x 128; c must leave that much room. */
    const int64_t room = (int64_t)d->groups * 4 * 255 * 128;
    const int64_t z = x_signed ? (int64_t)xzp + 128 : (int64_t)xzp;
    for (int64_t m = 0; m < d->m; m++) {
        int64_t v = (bias ? (int64_t)bias[m] : 0) - z * (int64_t)d->wsum[m];
        if (v > (int64_t)INT32_MAX - room || v < (int64_t)INT32_MIN + room)
            return 0;
        c[m] = (int32_t)v;
    }
    return 1;
}

/* ---- the job ---- */

typedef struct qjob {
    const fy__conv_shape *s;
    const fy__pool2 *p;
    const uint8_t *x;
    const fy__qdconv *w;
    const fy__qdconv_q *q;
    uint8_t *y;
    int64_t off[FY_QDCONV_MAX_GROUPS]; /* word g of an inside window, from its corner */
    int64_t total;                     /* bytes of X */
    uint8_t pad;                       /* X's zero point as uint8 */
    uint32_t flip;                     /* 0x80808080 for int8 X */
    int clamp;                         /* some product may reach 2^31 (requant16) */
} qjob;

/* Word g of the window at conv output (cy, cx) of image n, byte by byte. */
static uint32_t word_at(const qjob *j, int64_t n, int64_t cy, int64_t cx, int64_t g)
{
    const fy__conv_shape *s = j->s;
    int64_t qd = g % j->w->quads, ky = (g / j->w->quads) % s->kh, ci = g / (j->w->quads * s->kh);
    int64_t iy = cy * s->sh - s->pt + ky * s->dh;
    uint32_t v = 0;
    for (int b = 0; b < 4; b++) {
        int64_t kx = qd * 4 + b;
        uint8_t t = 0; /* past kw: the weight is zero */
        if (kx < s->kw) {
            int64_t ix = cx * s->sw - s->pl + kx * s->dw;
            t = (uint64_t)iy < (uint64_t)s->h && (uint64_t)ix < (uint64_t)s->w
                    ? (uint8_t)(j->x[((n * s->c + ci) * s->h + iy) * s->w + ix] ^ (j->flip & 0xff))
                    : j->pad;
        }
        v |= (uint32_t)t << (8 * b);
    }
    return v;
}

/* X's offset of the corner of the window at (cy, cx) of image n when its words
 * can be loaded directly (inside X, contiguous rows); else -1. */
static int64_t inside(const qjob *j, int64_t n, int64_t cy, int64_t cx)
{
    const fy__conv_shape *s = j->s;
    int64_t iy = cy * s->sh - s->pt, ix = cx * s->sw - s->pl;
    if (s->dw != 1 || iy < 0 || ix < 0 || iy + (s->kh - 1) * s->dh >= s->h || ix + s->kw > s->w)
        return -1;
    int64_t at = (n * s->c * s->h + iy) * s->w + ix;
    return at + j->off[j->w->groups - 1] + 4 <= j->total ? at : -1;
}

#if FY_X86
#define TV __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* The pooled outputs [*a, *b) of row py of image n whose windows all load their
 * words directly (inside(), which is monotone along a row, holds for the first
 * and last conv output of each). */
static void inside_range(const qjob *j, int64_t n, int64_t py, int64_t *a, int64_t *b)
{
    const fy__pool2 *p = j->p;
    int64_t cy0 = py * p->sh, cy1 = cy0 + p->kh - 1, lo = 0, hi = p->ow;
    while (lo < hi && (inside(j, n, cy0, lo * p->sw) < 0 || inside(j, n, cy1, lo * p->sw) < 0))
        lo++;
    while (hi > lo && (inside(j, n, cy0, (hi - 1) * p->sw + p->kw - 1) < 0 ||
                       inside(j, n, cy1, (hi - 1) * p->sw + p->kw - 1) < 0))
        hi--;
    *a = lo;
    *b = hi;
}

/* The vector constants of one block's requantization. */
typedef struct rq {
    __m512i c0, c1, zy, lo, hi;
    __m512d m00, m01, m10, m11, dlo, dhi;
} rq;

/* 16 sums (plus c) to 16 bytes, as requant1 does each. clamp: first bound the
 * products to one step past the saturation range, so the conversion to int32
 * cannot overflow (not needed when no product can reach 2^31). */
TV static inline __attribute__((always_inline)) __m128i
requant16(__m512i acc, __m512i c, __m512d m0, __m512d m1, const rq *r, int clamp)
{
    __m512i v = _mm512_add_epi32(acc, c);
    __m512d d0 = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(v)), m0);
    __m512d d1 = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)), m1);
    if (clamp) {
        d0 = _mm512_min_pd(_mm512_max_pd(d0, r->dlo), r->dhi);
        d1 = _mm512_min_pd(_mm512_max_pd(d1, r->dlo), r->dhi);
    }
    __m256i i0 = _mm512_cvt_roundpd_epi32(d0, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i i1 = _mm512_cvt_roundpd_epi32(d1, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(i0), i1, 1);
    x = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(x, r->zy), r->lo), r->hi);
    return _mm512_cvtepi32_epi8(x);
}

/* Block b of pooled row py of image n with G words per window (G a constant
 * where inlined from row_vnni's switch, so the weights stay in registers). */
TV static inline __attribute__((always_inline)) void
row_vnni_g(const qjob *j, int64_t n, int64_t py, int64_t b, const int64_t G)
{
    const fy__conv_shape *s = j->s;
    const fy__pool2 *p = j->p;
    const fy__qdconv_q *q = j->q;
    const int64_t m0 = b * FY_DCONV_MB, M = j->w->m;
    const int64_t mb = M - m0 < FY_DCONV_MB ? M - m0 : FY_DCONV_MB;
    const int8_t *wb = j->w->w + b * G * FY_DCONV_MB * 4;
    __m512i w0[FY_QDCONV_MAX_GROUPS], w1[FY_QDCONV_MAX_GROUPS];
    _Pragma("GCC unroll 16") for (int64_t g = 0; g < G; g++)
    {
        w0[g] = _mm512_loadu_si512(wb + g * 128);
        w1[g] = _mm512_loadu_si512(wb + g * 128 + 64);
    }
    rq r;
    r.c0 = _mm512_loadu_si512(q->c + m0);
    r.c1 = _mm512_loadu_si512(q->c + m0 + 16);
    r.m00 = _mm512_loadu_pd(q->mult + m0);
    r.m01 = _mm512_loadu_pd(q->mult + m0 + 8);
    r.m10 = _mm512_loadu_pd(q->mult + m0 + 16);
    r.m11 = _mm512_loadu_pd(q->mult + m0 + 24);
    r.dlo = _mm512_set1_pd((double)(q->lo - q->zy) - 1.0);
    r.dhi = _mm512_set1_pd((double)(q->lo + 255 - q->zy) + 1.0);
    r.zy = _mm512_set1_epi32(q->zy);
    r.lo = _mm512_set1_epi32(q->lo);
    r.hi = _mm512_set1_epi32(q->lo + 255);
    const int clamp = j->clamp;
    const __m512i flip = _mm512_set1_epi32((int)j->flip);
    const __mmask16 k0 = mb >= 16 ? 0xffff : (__mmask16)((1u << mb) - 1);
    const __mmask16 k1 = mb >= 32 ? 0xffff : mb > 16 ? (__mmask16)((1u << (mb - 16)) - 1) : 0;
    const int64_t plane = p->oh * p->ow;
    const int cl = q->channels_last;
    int64_t pa, pb;
    inside_range(j, n, py, &pa, &pb);
    /* the fast windows: corner of window px at x0 + px * step */
    const int64_t cy0 = py * p->sh;
    const int64_t x0 = (n * s->c * s->h + cy0 * s->sh - s->pt) * s->w - s->pl;
    const int64_t step = p->sw * s->sw, dy = s->sh * s->w, dx = s->sw;
    int64_t off[FY_QDCONV_MAX_GROUPS];
    _Pragma("GCC unroll 16") for (int64_t g = 0; g < G; g++) off[g] = j->off[g];
    const int two = p->kh == 2 && p->kw == 2;
    for (int64_t px = 0; px < p->ow; px++) {
        __m512i mx0, mx1;
        if (px >= pa && px < pb && two) {
            const uint8_t *a = j->x + (x0 + px * step);
            __m512i a00 = _mm512_setzero_si512(), a01 = a00, a10 = a00, a11 = a00;
            __m512i b00 = a00, b01 = a00, b10 = a00, b11 = a00;
            _Pragma("GCC unroll 16") for (int64_t g = 0; g < G; g++)
            {
                uint32_t u0, u1, u2, u3;
                memcpy(&u0, a + off[g], 4);
                memcpy(&u1, a + off[g] + dx, 4);
                memcpy(&u2, a + off[g] + dy, 4);
                memcpy(&u3, a + off[g] + dy + dx, 4);
                __m512i v0 = _mm512_xor_si512(_mm512_set1_epi32((int)u0), flip);
                __m512i v1 = _mm512_xor_si512(_mm512_set1_epi32((int)u1), flip);
                __m512i v2 = _mm512_xor_si512(_mm512_set1_epi32((int)u2), flip);
                __m512i v3 = _mm512_xor_si512(_mm512_set1_epi32((int)u3), flip);
                a00 = _mm512_dpbusd_epi32(a00, v0, w0[g]);
                b00 = _mm512_dpbusd_epi32(b00, v0, w1[g]);
                a01 = _mm512_dpbusd_epi32(a01, v1, w0[g]);
                b01 = _mm512_dpbusd_epi32(b01, v1, w1[g]);
                a10 = _mm512_dpbusd_epi32(a10, v2, w0[g]);
                b10 = _mm512_dpbusd_epi32(b10, v2, w1[g]);
                a11 = _mm512_dpbusd_epi32(a11, v3, w0[g]);
                b11 = _mm512_dpbusd_epi32(b11, v3, w1[g]);
            }
            mx0 = _mm512_max_epi32(_mm512_max_epi32(a00, a01), _mm512_max_epi32(a10, a11));
            mx1 = _mm512_max_epi32(_mm512_max_epi32(b00, b01), _mm512_max_epi32(b10, b11));
        } else {
            const int fast = px >= pa && px < pb;
            mx0 = _mm512_set1_epi32(INT32_MIN);
            mx1 = mx0;
            for (int64_t wy = 0; wy < p->kh; wy++)
                for (int64_t wx = 0; wx < p->kw; wx++) {
                    int64_t cy = cy0 + wy, cx = px * p->sw + wx;
                    __m512i a0 = _mm512_setzero_si512(), a1 = a0;
                    const int64_t at = x0 + px * step + wy * dy + wx * dx;
                    for (int64_t g = 0; g < G; g++) {
                        uint32_t u;
                        if (fast) {
                            memcpy(&u, j->x + (at + off[g]), 4);
                            u ^= j->flip;
                        } else {
                            u = word_at(j, n, cy, cx, g);
                        }
                        __m512i v = _mm512_set1_epi32((int)u);
                        a0 = _mm512_dpbusd_epi32(a0, v, w0[g]);
                        a1 = _mm512_dpbusd_epi32(a1, v, w1[g]);
                    }
                    mx0 = _mm512_max_epi32(mx0, a0);
                    mx1 = _mm512_max_epi32(mx1, a1);
                }
        }
        __m128i r0 = requant16(mx0, r.c0, r.m00, r.m01, &r, clamp);
        __m128i r1 = requant16(mx1, r.c1, r.m10, r.m11, &r, clamp);
        if (cl) {
            uint8_t *dst = j->y + ((n * p->oh + py) * p->ow + px) * M + m0;
            _mm_mask_storeu_epi8(dst, k0, r0);
            _mm_mask_storeu_epi8(dst + 16, k1, r1);
        } else {
            uint8_t v[FY_DCONV_MB];
            _mm_storeu_si128((__m128i *)v, r0);
            _mm_storeu_si128((__m128i *)(v + 16), r1);
            uint8_t *dst = j->y + (n * M + m0) * plane + py * p->ow + px;
            for (int64_t k = 0; k < mb; k++)
                dst[k * plane] = v[k];
        }
    }
}

TV static void row_vnni(const qjob *j, int64_t n, int64_t py, int64_t b)
{
    switch (j->w->groups) {
    case 1: row_vnni_g(j, n, py, b, 1); break;
    case 2: row_vnni_g(j, n, py, b, 2); break;
    case 3: row_vnni_g(j, n, py, b, 3); break;
    case 4: row_vnni_g(j, n, py, b, 4); break;
    case 6: row_vnni_g(j, n, py, b, 6); break;
    case 9: row_vnni_g(j, n, py, b, 9); break;
    default: row_vnni_g(j, n, py, b, j->w->groups); break;
    }
}

#endif

int fy__qdconv_available(void)
{
#if FY_X86
    __builtin_cpu_init();
    return fy__isa_active() == FY_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

#if FY_X86
static void run_rows(void *ctx, int64_t begin, int64_t end)
{
    const qjob *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        int64_t n = i / j->p->oh, py = i % j->p->oh;
        for (int64_t b = 0; b < j->w->blocks; b++)
            row_vnni(j, n, py, b);
    }
}
#endif

void fy__qdconv_pool(fy_pool *pool, const fy__conv_shape *s, const fy__pool2 *p, const void *x,
                     const fy__qdconv *w, const fy__qdconv_q *q, void *y)
{
#if FY_X86
    qjob j;
    memset(&j, 0, sizeof j);
    j.s = s;
    j.p = p;
    j.x = x;
    j.w = w;
    j.q = q;
    j.y = y;
    j.total = s->n * s->c * s->h * s->w;
    j.pad = (uint8_t)(q->x_signed ? q->xzp + 128 : q->xzp);
    j.flip = q->x_signed ? 0x80808080u : 0;
    for (int64_t g = 0; g < w->groups; g++) {
        int64_t qd = g % w->quads, ky = (g / w->quads) % s->kh, ci = g / (w->quads * s->kh);
        j.off[g] = (ci * s->h + ky * s->dh) * s->w + qd * 4;
    }
    const int64_t room = w->groups * 4 * 255 * 128;
    for (int64_t m = 0; m < w->m; m++)
        if (((double)(q->c[m] < 0 ? -(int64_t)q->c[m] : q->c[m]) + (double)room) * q->mult[m] >=
            1073741824.0)
            j.clamp = 1;
    int64_t rows = s->n * p->oh;
    /* rows per chunk: about 64 K multiply-adds each */
    int64_t per = w->blocks * w->groups * 4 * FY_DCONV_MB * p->kh * p->kw * p->ow;
    int64_t grain = per > 0 && per < 65536 ? 65536 / per : 1;
    fy_pool_run(pool, rows, grain, run_rows, &j);
#else
    /* not reached: fy__qdconv_available() is 0 without x86 (callers check it) */
    (void)pool, (void)s, (void)p, (void)x, (void)w, (void)q, (void)y;
#endif
}
