/* SPDX-License-Identifier: MIT */
/* 2-D convolution as GEMM: the weights are the packed left operand, and the input
 * is packed straight from NCHW into the GEMM's B panels (im2col one cache block
 * at a time), so no whole im2col matrix is ever built. */
#include <stdlib.h>
#include <string.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "fast_int.h"
#include "vec8.h"

/* d[t] = sp[2 t] for t < n: stride-2 convs' rows, 8 at a time by shuffles (the
 * scalar loop was a quarter of ResNet-18's 7x7 stride-2 stem). Vectors read up to
 * sp[2 t + 15], so they stop while that is still before sp[2 (n - 1)]. */
INLINE void copy_s2_body(float *d, const float *sp, int64_t n)
{
    int64_t t = 0;
    for (; t + 8 < n; t += 8) {
        v8 a, b;
        memcpy(&a, sp + 2 * t, sizeof a);
        memcpy(&b, sp + 2 * t + 8, sizeof b);
        v8 e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
        memcpy(d + t, &e, sizeof e);
    }
    for (; t < n; t++)
        d[t] = sp[2 * t];
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) static void copy_s2_avx2(float *d, const float *sp, int64_t n)
{
    copy_s2_body(d, sp, n);
}
#endif

static void copy_s2(float *d, const float *sp, int64_t n)
{
#if defined(__x86_64__) || defined(__i386__)
    if (fy__isa_active() >= FY_ISA_AVX2) {
        copy_s2_avx2(d, sp, n);
        return;
    }
#endif
    copy_s2_body(d, sp, n);
}

/* One image and group of the input, seen as the K x N im2col matrix. */
typedef struct im2col {
    const fy__conv_shape *s;
    const float *x; /* [C/group, h, w] */
} im2col;

/* Row k of im2col for columns [j0, j0 + nc): the input plane's row iy sampled at
 * ix = ox * sw + ix0 for each output position, zero in the padding. Runs along
 * one output row at a time so the interior is a plain (or strided) copy. */
static void im2col_row(const fy__conv_shape *s, const float *plane, int64_t iy0, int64_t ix0,
                       int64_t j0, int64_t nc, float *row)
{
    int64_t oy = j0 / s->ow, ox = j0 % s->ow;
    for (int64_t j = 0; j < nc;) {
        int64_t run = s->ow - ox < nc - j ? s->ow - ox : nc - j;
        int64_t iy = oy * s->sh + iy0;
        float *d = row + j;
        if ((uint64_t)iy >= (uint64_t)s->h) {
            memset(d, 0, (size_t)run * sizeof *d);
        } else {
            const float *src = plane + iy * s->w;
            /* positions of this run whose ix falls inside [0, w) */
            int64_t lo = 0, hi = run;
            while (lo < run && (ox + lo) * s->sw + ix0 < 0)
                lo++;
            while (hi > lo && (ox + hi - 1) * s->sw + ix0 >= s->w)
                hi--;
            for (int64_t t = 0; t < lo; t++)
                d[t] = 0.0f;
            const float *sp = src + (ox + lo) * s->sw + ix0;
            if (s->sw == 1)
                memcpy(d + lo, sp, (size_t)(hi - lo) * sizeof *d);
            else if (s->sw == 2)
                copy_s2(d + lo, sp, hi - lo);
            else
                for (int64_t t = lo; t < hi; t++)
                    d[t] = sp[(t - lo) * s->sw];
            for (int64_t t = hi; t < run; t++)
                d[t] = 0.0f;
        }
        j += run;
        ox = 0;
        oy++;
    }
}

/* Row k (nc values at row) of a kc-row block of B into its nrp-column panels, the
 * last one zero padded. */
static inline void row_to_panels(float *dst, int64_t kc, int64_t k, int nrp, const float *row,
                                 int64_t nc)
{
    for (int64_t p = 0; p * nrp < nc; p++) {
        int64_t cols = nc - p * nrp < nrp ? nc - p * nrp : nrp;
        float *d = dst + p * kc * nrp + k * nrp;
        const float *sp = row + p * nrp;
        /* full panels with a constant size: inline vector moves, not a libc call */
        if (cols == 32 && nrp == 32) {
            memcpy(d, sp, 32 * sizeof *d);
        } else if (cols == 16 && nrp == 16) {
            memcpy(d, sp, 16 * sizeof *d);
        } else {
            for (int64_t j = 0; j < nrp; j++)
                d[j] = j < cols ? sp[j] : 0.0f;
        }
    }
}

/* Block (k0.., j0..) of im2col: row k = (ci, ky, kx), column j = (oy, ox); each row
 * is gathered contiguously, then dealt out to the NR-column panels. */
static void pack_im2col(const void *src, int nrp, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                        float *dst)
{
    const im2col *v = src;
    const fy__conv_shape *s = v->s;
    const int64_t khw = s->kh * s->kw;
    float row[FY_NC];
    for (int64_t k = 0; k < kc; k++) {
        int64_t kk = k0 + k, ci = kk / khw, r = kk % khw, ky = r / s->kw, kx = r % s->kw;
        im2col_row(s, v->x + ci * s->h * s->w, ky * s->dh - s->pt, kx * s->dw - s->pl, j0, nc, row);
        row_to_panels(dst, kc, k, nrp, row, nc);
    }
}

static int64_t group_k(const fy__conv_shape *s)
{
    return s->c / s->group * s->kh * s->kw;
}

int fy__conv_pack(fy__packed **out, const fy__conv_shape *s, const float *w)
{
    int64_t mg = s->m / s->group, k = group_k(s);
    fy__packed *p = fy__packed_make('A', mg, k, s->group);
    if (!p)
        return FY_ENOMEM;
    for (int64_t g = 0; g < s->group; g++)
        fy__pack_a_block(p->data + g * p->gstride, p->r, w + g * mg * k, k, 1, mg, k);
    *out = p;
    return FY_OK;
}

static int is_pointwise(const fy__conv_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0 &&
           s->pb == 0 && s->pr == 0;
}

/* ---- Strided convolutions: phase planes and an implicit GEMM ----
 * With strides sh x sw, the zero-padded input splits into sh * sw phase planes:
 * phase (py, px) holds padded[r sh + py][c sw + px] at (r, c), wq columns wide.
 * Tap (ky, kx) of output (oy, ox) then reads phase ((ky dh) % sh, (kx dw) % sw) at
 * (oy + ky dh / sh, ox + kx dw / sw): in column numbering j = oy wq + ox, row k of
 * the im2col matrix is one contiguous run of a phase plane, shifted by a constant.
 * The GEMM therefore runs over oh x wq columns (the wq - ow extra ones per row
 * are computed and dropped) and packs B with plain copies: no bounds checks and
 * no strided gathers per row of B (im2col packing was 30% of ResNet-18's 7 x 7
 * stem and 14% of its 512-channel stride-2 conv). */
typedef struct phased {
    const fy__conv_shape *s;
    const float *ph;    /* [C/group][sh][sw][hq][wq] */
    int64_t hq, wq, jb; /* B's column j is position jb + j of the planes */
} phased;

static void pack_phased(const void *src, int nrp, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                        float *dst)
{
    const phased *v = src;
    const fy__conv_shape *s = v->s;
    const int64_t khw = s->kh * s->kw, plane = v->hq * v->wq;
    for (int64_t k = 0; k < kc; k++) {
        int64_t kk = k0 + k, ci = kk / khw, r = kk % khw;
        int64_t ty = r / s->kw * s->dh, tx = r % s->kw * s->dw;
        const float *row = v->ph + ((ci * s->sh + ty % s->sh) * s->sw + tx % s->sw) * plane +
                           ty / s->sh * v->wq + tx / s->sw + v->jb + j0;
        row_to_panels(dst, kc, k, nrp, row, nc);
    }
}

/* Plane sizes for the phase path, or 0 when the conv does not take it: strided,
 * not pointwise, and at most a quarter more columns than the output has. */
static int phase_dims(const fy__conv_shape *s, int64_t *hq, int64_t *wq)
{
    const char *env = getenv("FERRY_CONV_PHASE"); /* "0": im2col instead (measurements) */
    if ((env && strcmp(env, "0") == 0) || (s->sh < 2 && s->sw < 2) || s->pt < 0 || s->pl < 0 ||
        s->pb < 0 || s->pr < 0)
        return 0;
    const int64_t hp = s->h + s->pt + s->pb, wp = s->w + s->pl + s->pr;
    /* every tap of every output inside the padded input (the planes rely on it) */
    if ((s->oh - 1) * s->sh + (s->kh - 1) * s->dh >= hp ||
        (s->ow - 1) * s->sw + (s->kw - 1) * s->dw >= wp)
        return 0;
    *wq = (wp + s->sw - 1) / s->sw;
    *hq = (hp + s->sh - 1) / s->sh + 1; /* one more row: the dropped columns read past the end */
    return *wq * 4 <= s->ow * 5 + 4;
}

/* Whether some tap t < k reads phase p: (t d) % stride == p. */
static int phase_used(int64_t k, int64_t d, int64_t stride, int64_t p)
{
    for (int64_t t = 0; t < k; t++)
        if (t * d % stride == p)
            return 1;
    return 0;
}

/* Phase planes of one image and group, xg [C/group, h, w]. */
static void phase_fill(const fy__conv_shape *s, const float *xg, int64_t hq, int64_t wq, float *ph)
{
    const int64_t cg = s->c / s->group;
    for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t py = 0; py < s->sh; py++)
            for (int64_t px = 0; px < s->sw; px++) {
                if (!phase_used(s->kh, s->dh, s->sh, py) || !phase_used(s->kw, s->dw, s->sw, px))
                    continue; /* no tap reads it (a 1 x 1 stride-2 conv reads one of four) */
                float *pl = ph + ((ci * s->sh + py) * s->sw + px) * hq * wq;
                /* columns c whose input column c sw + px - pl lies in [0, w) */
                int64_t lo = 0, hi = wq;
                while (lo < wq && lo * s->sw + px - s->pl < 0)
                    lo++;
                while (hi > lo && (hi - 1) * s->sw + px - s->pl >= s->w)
                    hi--;
                for (int64_t r = 0; r < hq; r++) {
                    float *d = pl + r * wq;
                    int64_t iy = r * s->sh + py - s->pt;
                    if (iy < 0 || iy >= s->h || hi <= lo) {
                        memset(d, 0, (size_t)wq * sizeof *d);
                        continue;
                    }
                    const float *sp = xg + (ci * s->h + iy) * s->w + lo * s->sw + px - s->pl;
                    memset(d, 0, (size_t)lo * sizeof *d);
                    if (s->sw == 1)
                        memcpy(d + lo, sp, (size_t)(hi - lo) * sizeof *d);
                    else if (s->sw == 2)
                        copy_s2(d + lo, sp, hi - lo);
                    else
                        for (int64_t t = lo; t < hi; t++)
                            d[t] = sp[(t - lo) * s->sw];
                    memset(d + hi, 0, (size_t)(wq - hi) * sizeof *d);
                }
            }
}

/* Output rows per GEMM of the phase path: the product for them (M/group x rows wq
 * floats) stays within about 256 KB, in L2 until its rows are copied out. */
static int64_t phase_rows(const fy__conv_shape *s, int64_t wq)
{
    int64_t r = (64 * 1024) / (s->m / s->group * wq);
    return r < 1 ? 1 : r > s->oh ? s->oh : r;
}

typedef struct conv_job {
    const fy__conv_shape *s;
    const float *x;
    const fy__packed *w;
    float *y;
    const fy__epilogue *ep;
    fy_pool *pool; /* for each GEMM: NULL when the images are split over threads */
} conv_job;

/* One image and group by the phase path: the planes, then chunks of output rows. */
typedef struct phase_job {
    const conv_job *j;
    float *yg;
    const fy__epilogue *ep;
    int64_t g, hq, wq, rows;
    const float *ph;
    float *tmp;     /* per chunk slot: M/group x rows wq floats */
    int64_t slots;  /* 1: every chunk uses slot 0 (the chunks run in turn) */
    fy_pool *gpool; /* for each GEMM: NULL when the chunks are split over threads */
} phase_job;

static int64_t phase_slot(const fy__conv_shape *s, int64_t wq)
{
    return s->m / s->group * phase_rows(s, wq) * wq;
}

static void phase_chunks(void *ctx, int64_t b, int64_t e)
{
    const phase_job *p = ctx;
    const fy__conv_shape *s = p->j->s;
    const int64_t mg = s->m / s->group, ohw = s->oh * s->ow, wq = p->wq;
    /* no dropped columns (1 x 1 stride-2 downsampling): straight into y */
    const int direct = wq == s->ow;
    for (int64_t c = b; c < e; c++) {
        int64_t oy0 = c * p->rows, oy1 = oy0 + p->rows < s->oh ? oy0 + p->rows : s->oh;
        int64_t cols = (oy1 - oy0) * wq;
        float *tmp = p->tmp + (p->slots > 1 ? c : 0) * phase_slot(s, wq);
        phased v = {s, p->ph, p->hq, wq, oy0 * wq};
        fy__gemm gm = {fy__kset_for(p->j->w->isa),
                       mg,
                       cols,
                       group_k(s),
                       NULL,
                       0,
                       0,
                       p->j->w->data + p->g * p->j->w->gstride,
                       NULL,
                       pack_phased,
                       &v,
                       direct ? p->yg + oy0 * s->ow : tmp,
                       direct ? ohw : cols,
                       NULL};
        fy__gemm_run(p->gpool, &gm);
        for (int64_t i = 0; i < mg && !direct; i++)
            for (int64_t oy = oy0; oy < oy1; oy++)
                memcpy(p->yg + i * ohw + oy * s->ow, tmp + i * cols + (oy - oy0) * wq,
                       (size_t)s->ow * sizeof *tmp);
        if (p->ep)
            fy__epi_tile(p->yg + oy0 * s->ow, ohw, 0, oy0 * s->ow, (int)mg, (oy1 - oy0) * s->ow,
                         p->ep);
    }
}

/* Chunk slots the phase path needs: one per chunk when the chunks go to the
 * threads (a few images on several threads: also the copying out runs in
 * parallel, not only the GEMMs), else one. */
static int64_t phase_slots(const conv_job *j, int64_t wq)
{
    int64_t chunks = (j->s->oh + phase_rows(j->s, wq) - 1) / phase_rows(j->s, wq);
    return j->pool && fy_pool_threads(j->pool) > 1 && chunks >= 2 ? chunks : 1;
}

static void conv_phased(const conv_job *j, const float *xg, float *yg, const fy__epilogue *ep,
                        int64_t g, int64_t hq, int64_t wq, float *buf)
{
    const fy__conv_shape *s = j->s;
    const int64_t cg = s->c / s->group, rows = phase_rows(s, wq);
    phase_fill(s, xg, hq, wq, buf);
    phase_job p = {
        j,   yg, ep, g, hq, wq, rows, buf, buf + cg * s->sh * s->sw * hq * wq, phase_slots(j, wq),
        NULL};
    const int64_t chunks = (s->oh + rows - 1) / rows;
    if (p.slots > 1) {
        fy_pool_run(j->pool, chunks, 1, phase_chunks, &p);
    } else {
        p.gpool = j->pool;
        phase_chunks(&p, 0, chunks);
    }
}

/* Images [b, e), every group: one GEMM each (or a few, by the phase path). */
static void conv_images(void *ctx, int64_t b, int64_t e)
{
    const conv_job *j = ctx;
    const fy__conv_shape *s = j->s;
    const int64_t cg = s->c / s->group, mg = s->m / s->group, ohw = s->oh * s->ow;
    const int pointwise = is_pointwise(s);
    int64_t hq = 0, wq = 0;
    float *pbuf = NULL; /* NULL: im2col (not strided, or out of memory) */
    if (!pointwise && phase_dims(s, &hq, &wq))
        pbuf = fy__malloc(
            (size_t)(cg * s->sh * s->sw * hq * wq + phase_slots(j, wq) * phase_slot(s, wq)) *
            sizeof *pbuf);
    for (int64_t n = b; n < e; n++)
        for (int64_t g = 0; g < s->group; g++) {
            const float *xg = j->x + (n * s->c + g * cg) * s->h * s->w;
            float *yg = j->y + (n * s->m + g * mg) * ohw;
            fy__epilogue ep = {0};
            if (j->ep) {
                ep = *j->ep;
                ep.per_col = 0;
                ep.bias = j->ep->bias ? j->ep->bias + g * mg : NULL;
                ep.residual = j->ep->residual ? j->ep->residual + (n * s->m + g * mg) * ohw : NULL;
                ep.ldr = ohw;
            }
            int plain = !ep.bias && !ep.residual && ep.act == FY_ACT_NONE;
            if (pbuf) {
                conv_phased(j, xg, yg, plain ? NULL : &ep, g, hq, wq, pbuf);
                continue;
            }
            im2col v = {s, xg};
            fy__bview bv = {xg, ohw, 1};
            fy__gemm gm = {fy__kset_for(j->w->isa),
                           mg,
                           ohw,
                           group_k(s),
                           NULL,
                           0,
                           0,
                           j->w->data + g * j->w->gstride,
                           NULL,
                           pointwise ? fy__pack_b_strided : pack_im2col,
                           pointwise ? (const void *)&bv : (const void *)&v,
                           yg,
                           ohw,
                           plain ? NULL : &ep};
            fy__gemm_run(j->pool, &gm);
        }
    fy__free(pbuf);
}

void fy__conv2d(fy_pool *pool, const fy__conv_shape *s, const float *x, const fy__packed *w,
                float *y, const fy__epilogue *ep)
{
    conv_job j = {s, x, w, y, ep, pool};
    /* A batch of at least two images per thread: whole images per thread, so each
     * GEMM runs without waking anyone and on one core's caches (the per-image GEMMs
     * of ResNet's late layers are too small to split well). Otherwise the images
     * in turn, each GEMM split over the threads. */
    if (fy_pool_threads(pool) > 1 && s->n >= 2 * fy_pool_threads(pool)) {
        j.pool = NULL;
        fy_pool_run(pool, s->n, 1, conv_images, &j);
        return;
    }
    conv_images(&j, 0, s->n);
}
