/* SPDX-License-Identifier: MIT */
/* Conv [+ activation] + MaxPool -> ai.ferry.FusedConvPool (src/engine/optimize_pool.c,
 * src/ops/fused_convpool.c, src/ops/fast/dconv.c) and batch-1 products on packed
 * weights (src/ops/fast/gemv.c): on random shapes, odd sizes included, the graph
 * run with the passes and the fast kernels (AVX-512 and portable C) matches the
 * graph run as loaded with the reference kernels; the reference fused op equals the
 * unfused chain exactly; NaN and infinities land where the reference puts them;
 * pools and convs the direct kernel does not take are left alone. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "core/pool.h"
#include "engine/engine.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/fast/fast.h"
#include "ops/fast/gemv.h"
#include "ops/kernel_harness.h"
#include "test.h"
#include "three_runs.h"

static unsigned rng = 12345;

static float rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int irand(int lo, int hi) /* [lo, hi] */
{
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 10) % (unsigned)(hi - lo + 1));
}

typedef struct outcome {
    int ok;
    char ops[256];
    double ref_diff; /* passes + reference kernels vs as loaded: must be exactly 0 */
    int fast_ok;     /* passes + fast kernels within 1e-4 (relative to 1 + |ref|), NaN alike */
} outcome;

/* Whether b matches a: same NaN positions, elsewhere within tol x (1 + |a|) (equal
 * infinities included). */
static int close_to(const fy_tensor *a, const fy_tensor *b, double tol)
{
    if (a->dtype != FY_DTYPE_F32 || b->dtype != FY_DTYPE_F32 ||
        fy_tensor_numel(a) != fy_tensor_numel(b) || a->rank != b->rank)
        return 0;
    const float *x = a->data, *y = b->data;
    for (int64_t i = 0; i < fy_tensor_numel(a); i++) {
        if (isnan(x[i]) || isnan(y[i])) {
            if (!(isnan(x[i]) && isnan(y[i])))
                return 0;
        } else if (isinf(x[i]) || isinf(y[i])) {
            if (x[i] != y[i])
                return 0;
        } else if (fabs((double)x[i] - y[i]) > tol * (1 + fabs(x[i]))) {
            return 0;
        }
    }
    return 1;
}

static double max_diff(const fy_tensor *a, const fy_tensor *b)
{
    if (!close_to(a, b, INFINITY))
        return INFINITY;
    double m = 0;
    const float *x = a->data, *y = b->data;
    for (int64_t i = 0; i < fy_tensor_numel(a); i++)
        if (!isnan(x[i]) && x[i] != y[i])
            m = fmax(m, fabs((double)x[i] - y[i]));
    return m;
}

/* Run g as loaded with the reference kernels, with the passes and the reference
 * kernels, and with the passes and the fast kernels at ISA `isa` (-1: best) on
 * `threads` threads. */
static outcome run3(gb *g, int opset, const fy_tensor *x, int isa, int threads)
{
    outcome r;
    memset(&r, 0, sizeof r);
    three_runs t = three_runs_do(g, opset, x, isa, threads);
    if ((r.ok = t.ok)) {
        r.ref_diff = max_diff(&t.out[0], &t.out[1]);
        r.fast_ok = close_to(&t.out[0], &t.out[2], 1e-4);
        memcpy(r.ops, t.ops, sizeof r.ops);
    }
    three_runs_free(&t);
    return r;
}

typedef struct cfg {
    int n, c, h, w, m, kh, kw, sh, sw, dh, dw, pad;
    int pkh, pkw, psh, psw;
    int act; /* 0 none, 1 Relu, 2 LeakyRelu, 3 Clip */
    int bias;
    int pool_pad; /* pads on the pool (not fused) */
} cfg;

/* The conv output's height and width. */
static void conv_out(const cfg *c, int64_t *oh, int64_t *ow)
{
    *oh = (c->h + 2 * c->pad - ((c->kh - 1) * c->dh + 1)) / c->sh + 1;
    *ow = (c->w + 2 * c->pad - ((c->kw - 1) * c->dw + 1)) / c->sw + 1;
}

static float w_buf[4096], b_buf[256], x_buf[4096];

/* Conv -> [act] -> MaxPool on x (filled by the caller), one output. */
static void build(gb *g, const cfg *c, int64_t *dx, int64_t *dw, int64_t *db, int64_t *dy)
{
    static const int64_t d0[1] = {0};
    static float lo = -0.25f, hi = 0.5f;
    dx[0] = c->n, dx[1] = c->c, dx[2] = c->h, dx[3] = c->w;
    dw[0] = c->m, dw[1] = c->c, dw[2] = c->kh, dw[3] = c->kw;
    db[0] = c->m;
    int64_t oh, ow;
    conv_out(c, &oh, &ow);
    dy[0] = c->n, dy[1] = c->m, dy[2] = (oh - c->pkh) / c->psh + 1;
    dy[3] = (ow - c->pkw) / c->psw + 1;
    gb_init(g, "conv_pool");
    gb_input(g, "x", FY_DTYPE_F32, 4, dx);
    gb_init_f32(g, "w", 4, dw, w_buf, (int)(c->m * c->c * c->kh * c->kw));
    gb_init_f32(g, "b", 1, db, b_buf, c->m);
    gb_init_f32(g, "lo", 0, d0, &lo, 1);
    gb_init_f32(g, "hi", 0, d0, &hi, 1);
    int cv = c->bias ? gb_node(g, "Conv", 3, 1, "x", "w", "b", "c")
                     : gb_node(g, "Conv", 2, 1, "x", "w", "c");
    gb_attr_ints(g, cv, "kernel_shape", 2, (int64_t)c->kh, (int64_t)c->kw);
    gb_attr_ints(g, cv, "strides", 2, (int64_t)c->sh, (int64_t)c->sw);
    gb_attr_ints(g, cv, "dilations", 2, (int64_t)c->dh, (int64_t)c->dw);
    gb_attr_ints(g, cv, "pads", 4, (int64_t)c->pad, (int64_t)c->pad, (int64_t)c->pad,
                 (int64_t)c->pad);
    const char *pin = "a";
    if (c->act == 1)
        gb_node(g, "Relu", 1, 1, "c", "a");
    else if (c->act == 2)
        gb_attr(g, gb_node(g, "LeakyRelu", 1, 1, "c", "a"), "alpha", FY_ATTR_FLOAT)->f = 0.1f;
    else if (c->act == 3)
        gb_node(g, "Clip", 3, 1, "c", "lo", "hi", "a");
    else
        pin = "c";
    int mp = gb_node(g, "MaxPool", 1, 1, pin, "y");
    gb_attr_ints(g, mp, "kernel_shape", 2, (int64_t)c->pkh, (int64_t)c->pkw);
    gb_attr_ints(g, mp, "strides", 2, (int64_t)c->psh, (int64_t)c->psw);
    if (c->pool_pad)
        gb_attr_ints(g, mp, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    gb_output(g, "y", FY_DTYPE_F32, c->pool_pad ? -1 : 4, dy);
}

static void fill_all(const cfg *c)
{
    for (int i = 0; i < 4096; i++)
        w_buf[i] = rnd();
    for (int i = 0; i < 256; i++)
        b_buf[i] = 0.3f * rnd();
    for (int i = 0; i < c->n * c->c * c->h * c->w; i++)
        x_buf[i] = rnd();
}

static gb g_model;

static outcome check_cfg(const cfg *c, int isa, int threads)
{
    int64_t dx[4], dw[4], db[1], dy[4];
    build(&g_model, c, dx, dw, db, dy);
    fy_tensor x = kh_f32(x_buf, 4, dx);
    return run3(&g_model, 13, &x, isa, threads);
}

/* The running example's shape (1 -> 32 channels, 3x3, Relu, 2x2/2 pool), then random
 * geometries: channel counts off the 32-lane blocks, strides, dilations, padding
 * (windows that reach into it take the gathered path), overlapping and uneven pools,
 * every activation, with and without bias, batches of several images. */
TEST(conv_act_maxpool_fuses_and_matches_the_reference)
{
    cfg base = {1, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 0, 2, 2, 2, 2, 1, 1, 0};
    fill_all(&base);
    for (int isa = -1; isa <= 0; isa++) {
        outcome r = check_cfg(&base, isa, 1);
        FY_CHECK(r.ok);
        FY_CHECK_STR(r.ops, "FusedConvPool");
        FY_CHECK(r.ref_diff == 0);
        FY_CHECK(r.fast_ok);
    }
    for (int t = 0; t < 40; t++) {
        cfg c;
        c.n = irand(1, 3), c.c = irand(1, 4), c.m = irand(1, 70);
        c.kh = irand(1, 3), c.kw = irand(1, 3);
        while (c.c * c.kh * c.kw > 64)
            c.c--;
        c.sh = irand(1, 2), c.sw = irand(1, 2), c.dh = irand(1, 2), c.dw = irand(1, 2);
        c.pad = irand(0, 2);
        c.h = irand(6, 17), c.w = irand(6, 17);
        c.pkh = irand(1, 3), c.pkw = irand(1, 3), c.psh = irand(1, 3), c.psw = irand(1, 3);
        c.act = irand(0, 3), c.bias = irand(0, 1), c.pool_pad = 0;
        int64_t oh, ow;
        conv_out(&c, &oh, &ow);
        if (oh < c.pkh || ow < c.pkw) {
            t--;
            continue;
        }
        fill_all(&c);
        outcome r = check_cfg(&c, t % 2 ? 0 : -1, 1 + t % 2);
        FY_CHECK(r.ok);
        FY_CHECK_STR(r.ops, "FusedConvPool");
        FY_CHECK(r.ref_diff == 0);
        FY_CHECK(r.fast_ok);
        if (!r.fast_ok || r.ref_diff != 0)
            printf("  case %d: n%d c%d m%d k%dx%d s%dx%d d%dx%d p%d %dx%d pool %dx%d/%dx%d act%d\n",
                   t, c.n, c.c, c.m, c.kh, c.kw, c.sh, c.sw, c.dh, c.dw, c.pad, c.h, c.w, c.pkh,
                   c.pkw, c.psh, c.psw, c.act);
    }
}

/* NaN and infinities in the input reach the output as the reference's Relu and
 * MaxPool pass them (a NaN first in its window stays; a later one is dropped). */
TEST(nan_and_infinity_follow_the_reference)
{
    cfg c = {2, 1, 12, 12, 20, 3, 3, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 0};
    fill_all(&c);
    x_buf[0] = NAN;
    x_buf[30] = INFINITY;
    x_buf[77] = -INFINITY;
    x_buf[144 + 50] = NAN;
    for (int isa = -1; isa <= 0; isa++) {
        outcome r = check_cfg(&c, isa, 2);
        FY_CHECK(r.ok);
        FY_CHECK_STR(r.ops, "FusedConvPool");
        FY_CHECK(r.fast_ok);
    }
}

/* The running example's head: Conv, Relu, MaxPool, Flatten, Gemm. The Flatten is
 * absorbed (the fused node writes [N, M x oh x ow]). */
TEST(a_flatten_after_the_pool_is_absorbed)
{
    static const int64_t dx[4] = {3, 1, 10, 10}, dw[4] = {5, 1, 3, 3}, db[1] = {5};
    static const int64_t dg[2] = {7, 80}, dgb[1] = {7}, dy[2] = {3, 7};
    for (int i = 0; i < 4096; i++)
        w_buf[i] = rnd();
    for (int i = 0; i < 300; i++)
        x_buf[i] = rnd();
    static float gw[560], gb7[7], cb[5];
    for (int i = 0; i < 560; i++)
        gw[i] = rnd();
    for (int i = 0; i < 7; i++)
        gb7[i] = rnd();
    for (int i = 0; i < 5; i++)
        cb[i] = rnd();
    gb *g = &g_model;
    gb_init(g, "head");
    gb_input(g, "x", FY_DTYPE_F32, 4, dx);
    gb_init_f32(g, "w", 4, dw, w_buf, 45);
    gb_init_f32(g, "b", 1, db, cb, 5);
    gb_init_f32(g, "g", 2, dg, gw, 560);
    gb_init_f32(g, "gb", 1, dgb, gb7, 7);
    gb_node(g, "Conv", 3, 1, "x", "w", "b", "c");
    gb_node(g, "Relu", 1, 1, "c", "r");
    int mp = gb_node(g, "MaxPool", 1, 1, "r", "p");
    gb_attr_ints(g, mp, "kernel_shape", 2, (int64_t)2, (int64_t)2);
    gb_attr_ints(g, mp, "strides", 2, (int64_t)2, (int64_t)2);
    gb_node(g, "Flatten", 1, 1, "p", "f");
    gb_attr_int(g, gb_node(g, "Gemm", 3, 1, "f", "g", "gb", "y"), "transB", 1);
    gb_output(g, "y", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(x_buf, 4, dx);
    for (int isa = -1; isa <= 0; isa++) {
        outcome r = run3(g, 13, &x, isa, 2);
        FY_CHECK(r.ok);
        FY_CHECK_STR(r.ops, "FusedConvPool FusedGemm");
        FY_CHECK(r.ref_diff == 0);
        FY_CHECK(r.fast_ok);
    }
}

/* What the direct kernel does not take stays as it was. */
TEST(pools_and_convs_the_kernel_does_not_take_are_not_fused)
{
    cfg c = {1, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 0}; /* 72 taps */
    fill_all(&c);
    outcome r = check_cfg(&c, -1, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedConv MaxPool");
    FY_CHECK(r.fast_ok);

    c.c = 1; /* a padded pool */
    c.pool_pad = 1;
    r = check_cfg(&c, -1, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedConv MaxPool");
    FY_CHECK(r.fast_ok);

    /* a Sigmoid between them (not one the kernel applies) */
    gb g;
    static const int64_t d4[4] = {1, 1, 8, 8}, dwt[4] = {4, 1, 3, 3};
    gb_init(&g, "sig");
    gb_input(&g, "x", FY_DTYPE_F32, 4, d4);
    gb_init_f32(&g, "w", 4, dwt, w_buf, 36);
    gb_node(&g, "Conv", 2, 1, "x", "w", "c");
    gb_node(&g, "Sigmoid", 1, 1, "c", "a");
    gb_attr_ints(&g, gb_node(&g, "MaxPool", 1, 1, "a", "y"), "kernel_shape", 2, (int64_t)2,
                 (int64_t)2);
    gb_output(&g, "y", FY_DTYPE_F32, -1, NULL);
    fy_tensor x = kh_f32(x_buf, 4, d4);
    r = run3(&g, 13, &x, -1, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedConv MaxPool");
    FY_CHECK(r.fast_ok);
}

/* Gemm/MatMul with 1..4 rows on packed weights: zero inputs skipped, columns off
 * the 32-column panels, K odd, bias and activation; weights holding an infinity
 * turn the skipping off (0 x inf is NaN in the reference). */
static outcome gemm_case(int rows, int K, int N, int trans, int inf, int isa, int threads)
{
    int64_t dx[2] = {rows, K}, dw[2] = {trans ? N : K, trans ? K : N}, db[1] = {N};
    int64_t dy[2] = {rows, N};
    for (int i = 0; i < K * N; i++)
        w_buf[i] = rnd();
    if (inf) /* W[k = K/2][n = 0], with a zero input at K/2 in row 0 below */
        w_buf[(K / 2) * (trans ? 1 : N)] = INFINITY;
    for (int i = 0; i < N; i++)
        b_buf[i] = rnd();
    for (int i = 0; i < rows * K; i++) {
        float v = rnd();
        x_buf[i] = v < 0.2f ? 0.0f : v; /* about 60% zeros */
    }
    x_buf[K / 2] = 0.0f;
    gb *g = &g_model;
    gb_init(g, "gemv");
    gb_input(g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(g, "w", 2, dw, w_buf, K * N);
    gb_init_f32(g, "b", 1, db, b_buf, N);
    int n = gb_node(g, "Gemm", 3, 1, "x", "w", "b", "z");
    if (trans)
        gb_attr_int(g, n, "transB", 1);
    gb_node(g, "Relu", 1, 1, "z", "y");
    gb_output(g, "y", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(x_buf, 2, dx);
    return run3(g, 13, &x, isa, threads);
}

TEST(few_row_products_on_copied_weights_match_the_reference)
{
    static const int shapes[][2] = {{77, 45}, {128, 32}, {33, 100}, {5, 7}, {31, 130}};
    for (int s = 0; s < 5; s++)
        for (int rows = 1; rows <= 5; rows++)
            for (int trans = 0; trans <= 1; trans++)
                for (int isa = -1; isa <= 0; isa++) {
                    outcome r = gemm_case(rows, shapes[s][0], shapes[s][1], trans, 0, isa,
                                          1 + (rows + trans) % 2);
                    FY_CHECK(r.ok);
                    FY_CHECK_STR(r.ops, "FusedGemm");
                    FY_CHECK(r.fast_ok);
                }
    for (int rows = 1; rows <= 2; rows++)
        for (int isa = -1; isa <= 0; isa++) {
            outcome r = gemm_case(rows, 77, 45, 1, 1, isa, 1);
            FY_CHECK(r.ok);
            FY_CHECK(r.fast_ok);
        }
}

/* The kernel itself on larger shapes than a test model holds (so the threaded
 * and K-split paths run: columns per thread, K cut into parts for narrow products
 * of large weights, run alternately front to back and back to front), with
 * and without zero skipping, strided and transposed sources, every ISA; against
 * a double-precision product. */
TEST(few_row_kernel_on_random_shapes)
{
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        for (int t = 0; t < 24; t++) {
            int64_t M = irand(1, 4), K = irand(1, 3000), N = irand(1, t % 3 ? 300 : 700);
            int trans = t % 2, skip_nz = t % 4 < 2;
            float *w = malloc((size_t)(K * N) * sizeof *w), *a = malloc((size_t)(M * K) * 4);
            float *c = malloc((size_t)(M * N) * sizeof *c), *bias = malloc((size_t)N * 4);
            for (int64_t i = 0; i < K * N; i++)
                w[i] = rnd();
            for (int64_t i = 0; i < M * K; i++) {
                float v = rnd();
                a[i] = skip_nz && v < 0.3f ? 0.0f : v;
            }
            for (int64_t i = 0; i < N; i++)
                bias[i] = rnd();
            fy__rowmajor *rm = NULL;
            /* element (k, n): B row-major K x N, or stored N x K (Gemm transB) */
            FY_CHECK_EQ(fy__rowmajor_pack(&rm, K, N, w, trans ? 1 : N, trans ? K : 1), FY_OK);
            if (!rm)
                break;
            fy__epilogue ep = {0};
            ep.bias = bias;
            ep.per_col = 1;
            ep.act = t % 3 == 0 ? FY_ACT_RELU : FY_ACT_NONE;
            fy__gemv_rows(t % 2 ? pool : NULL, M, a, K, rm, c, &ep);
            /* again: the parts run the other way round, the result is the same bits */
            float *c2 = malloc((size_t)(M * N) * sizeof *c2);
            fy__gemv_rows(t % 2 ? pool : NULL, M, a, K, rm, c2, &ep);
            FY_CHECK(memcmp(c, c2, (size_t)(M * N) * sizeof *c) == 0);
            free(c2);
            double worst = 0;
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double r = bias[n];
                    for (int64_t k = 0; k < K; k++)
                        r += (double)a[m * K + k] * w[trans ? n * K + k : k * N + n];
                    if (ep.act == FY_ACT_RELU && r < 0)
                        r = 0;
                    worst = fmax(worst, fabs(r - c[m * N + n]) / (1 + fabs(r)));
                }
            FY_CHECK(worst < 1e-4);
            if (!(worst < 1e-4))
                printf("  isa %d case %d: M %lld K %lld N %lld err %g\n", isa, t, (long long)M,
                       (long long)K, (long long)N, worst);
            fy__rowmajor_free(rm);
            free(w);
            free(a);
            free(c);
            free(bias);
        }
    }
    fy__isa_force(-1);
    fy_pool_free(pool);
}

int main(void)
{
    RUN(conv_act_maxpool_fuses_and_matches_the_reference);
    RUN(nan_and_infinity_follow_the_reference);
    RUN(a_flatten_after_the_pool_is_absorbed);
    RUN(pools_and_convs_the_kernel_does_not_take_are_not_fused);
    RUN(few_row_products_on_copied_weights_match_the_reference);
    RUN(few_row_kernel_on_random_shapes);
    return TEST_SUMMARY();
}
