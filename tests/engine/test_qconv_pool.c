/* SPDX-License-Identifier: MIT */
/* QLinearConv + MaxPool [+ Flatten [+ MatMulInteger]] -> ai.ferry.QConvPool
 * (src/engine/optimize_qpool.c, src/ops/fused_qconvpool.c, src/ops/fast/qdconv.c):
 * on random shapes (strides, dilations, padding, kernels wider than 4, uneven and
 * overlapping pools, uint8 and int8 activations, scalar and per-channel scales,
 * with and without bias and zero points) the graph run with the passes, with the
 * reference kernels and with the fast ones (the direct kernel where the CPU has
 * AVX-512 VNNI; at the portable C level the QLinearConv and MaxPool kernels in
 * sequence), on 1 and 2 threads, gives exactly the bytes of the graph run as
 * loaded with the reference kernels. Cases the kernel declines (a negative scale,
 * a bias so large the sums could wrap) fall back to the reference and still match;
 * pools it does not take stay unfused. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "engine/engine.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/fast/fast.h"
#include "ops/kernel_harness.h"
#include "test.h"
#include "three_runs.h"

static unsigned rng = 2024;

static int irand(int lo, int hi) /* [lo, hi] */
{
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 10) % (unsigned)(hi - lo + 1));
}

static float frand(void) /* [-1, 1) */
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Integer initializers (ONNX keeps int8, uint8 and int32 in int32_data), larger
 * than the builder's float ones (the example's head has 5,408 x 5 weights). */
#define INT_MAX_N 32768
static int32_t int_store[GB_INITS][INT_MAX_N];

static void init_int(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims,
                     const int32_t *v, int n)
{
    int32_t *row = int_store[b->g.n_initializer];
    memcpy(row, v, (size_t)n * sizeof *v);
    gb_init_int(b, name, dt, rank, dims, row, n);
}

typedef struct cfg {
    int n, c, h, w, m, kh, kw, sh, sw, dh, dw, pad;
    int pkh, pkw, psh, psw, pool_pad;
    int x_signed, y_signed, per_channel, bias, wzp;
    int tail;     /* 0: DequantizeLinear of the pool; 1: Flatten, MatMulInteger, Cast */
    int negative; /* one negative weight scale (the kernel declines) */
    int huge;     /* a bias near INT32_MAX (the kernel declines) */
} cfg;

static void conv_out(const cfg *c, int64_t *oh, int64_t *ow)
{
    *oh = (c->h + 2 * c->pad - ((c->kh - 1) * c->dh + 1)) / c->sh + 1;
    *ow = (c->w + 2 * c->pad - ((c->kw - 1) * c->dw + 1)) / c->sw + 1;
}

static float x_buf[4096], ws_buf[128];
static int32_t w_buf[4096], b_buf[128], z_buf[128], g_buf[INT_MAX_N];
static gb g_model;

typedef struct outcome {
    int ok;
    char ops[256];
    int ref_equal, fast_equal;
} outcome;

/* As loaded with the reference kernels; with the passes and the reference kernels;
 * with the passes and the fast kernels at ISA isa (-1: best) on `threads`. */
static outcome run3(gb *g, const fy_tensor *x, int isa, int threads)
{
    outcome r;
    memset(&r, 0, sizeof r);
    three_runs t = three_runs_do(g, 13, x, isa, threads);
    if ((r.ok = t.ok)) {
        r.ref_equal = three_runs_same(&t.out[0], &t.out[1]);
        r.fast_equal = three_runs_same(&t.out[0], &t.out[2]);
        memcpy(r.ops, t.ops, sizeof r.ops);
    }
    three_runs_free(&t);
    return r;
}

/* x (float) -> QuantizeLinear -> QLinearConv -> MaxPool -> tail; x_buf filled here. */
static outcome check_cfg(const cfg *c, int isa, int threads)
{
    static const int64_t d0[1] = {0};
    static float xs = 1.0f / 64, ys;
    int64_t dx[4] = {c->n, c->c, c->h, c->w}, dw[4] = {c->m, c->c, c->kh, c->kw};
    int64_t dm[1] = {c->m}, oh, ow;
    conv_out(c, &oh, &ow);
    int64_t ph = (oh - c->pkh) / c->psh + 1, pw = (ow - c->pkw) / c->psw + 1;
    int K = c->c * c->kh * c->kw, nx = c->n * c->c * c->h * c->w;
    for (int i = 0; i < nx; i++)
        x_buf[i] = frand() * (c->x_signed ? 1.5f : 3.0f);
    for (int i = 0; i < c->m * K; i++)
        w_buf[i] = irand(-127, 127);
    for (int i = 0; i < c->m; i++) {
        ws_buf[i] = (1.0f + frand() * 0.5f) / 128;
        b_buf[i] = irand(-3000, 3000);
        z_buf[i] = 0;
    }
    if (c->negative)
        ws_buf[c->m / 2] = -ws_buf[c->m / 2];
    if (c->huge)
        b_buf[0] = INT32_MAX - 5;
    ys = xs / 128 * sqrtf((float)K) * 64 * 64 / 100 * (0.5f + (frand() + 1) * 0.75f);
    int32_t xz = c->x_signed ? irand(-10, 10) : irand(100, 140);
    int32_t yz = c->y_signed ? irand(-20, 20) : irand(0, 40);
    fy_dtype xdt = c->x_signed ? FY_DTYPE_I8 : FY_DTYPE_U8;
    fy_dtype ydt = c->y_signed ? FY_DTYPE_I8 : FY_DTYPE_U8;
    gb *g = &g_model;
    gb_init(g, "qconv_pool");
    gb_input(g, "x", FY_DTYPE_F32, 4, dx);
    gb_init_f32(g, "xs", 0, d0, &xs, 1);
    init_int(g, "xz", xdt, 0, d0, &xz, 1);
    init_int(g, "w", FY_DTYPE_I8, 4, dw, w_buf, c->m * K);
    if (c->per_channel)
        gb_init_f32(g, "ws", 1, dm, ws_buf, c->m);
    else
        gb_init_f32(g, "ws", 0, d0, ws_buf, 1);
    init_int(g, "wz", FY_DTYPE_I8, c->per_channel ? 1 : 0, dm, z_buf, c->per_channel ? c->m : 1);
    gb_init_f32(g, "ys", 0, d0, &ys, 1);
    init_int(g, "yz", ydt, 0, d0, &yz, 1);
    init_int(g, "b", FY_DTYPE_I32, 1, dm, b_buf, c->m);
    gb_node(g, "QuantizeLinear", 3, 1, "x", "xs", "xz", "xq");
    int cv = c->bias ? gb_node(g, "QLinearConv", 9, 1, "xq", "xs", "xz", "w", "ws",
                               c->wzp ? "wz" : "", "ys", "yz", "b", "c")
                     : gb_node(g, "QLinearConv", 8, 1, "xq", "xs", "xz", "w", "ws",
                               c->wzp ? "wz" : "", "ys", "yz", "c");
    gb_attr_ints(g, cv, "kernel_shape", 2, (int64_t)c->kh, (int64_t)c->kw);
    gb_attr_ints(g, cv, "strides", 2, (int64_t)c->sh, (int64_t)c->sw);
    gb_attr_ints(g, cv, "dilations", 2, (int64_t)c->dh, (int64_t)c->dw);
    gb_attr_ints(g, cv, "pads", 4, (int64_t)c->pad, (int64_t)c->pad, (int64_t)c->pad,
                 (int64_t)c->pad);
    int mp = gb_node(g, "MaxPool", 1, 1, "c", "p");
    gb_attr_ints(g, mp, "kernel_shape", 2, (int64_t)c->pkh, (int64_t)c->pkw);
    gb_attr_ints(g, mp, "strides", 2, (int64_t)c->psh, (int64_t)c->psw);
    if (c->pool_pad)
        gb_attr_ints(g, mp, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    if (c->tail == 1 && !c->pool_pad) {
        int64_t kk = c->m * ph * pw, nn = 5, dg[2] = {kk, nn};
        if (kk * nn > INT_MAX_N)
            nn = 1, dg[1] = 1;
        for (int i = 0; i < kk * nn; i++)
            g_buf[i] = irand(-127, 127);
        gb_node(g, "Flatten", 1, 1, "p", "f");
        init_int(g, "g", FY_DTYPE_I8, 2, dg, g_buf, (int)(kk * nn));
        gb_node(g, "MatMulInteger", 3, 1, "f", "g", "yz", "acc");
        gb_attr_int(g, gb_node(g, "Cast", 1, 1, "acc", "y"), "to", FY_DTYPE_F32);
    } else {
        gb_node(g, "DequantizeLinear", 3, 1, "p", "ys", "yz", "y");
    }
    gb_output(g, "y", FY_DTYPE_F32, -1, NULL);
    fy_tensor x = kh_f32(x_buf, 4, dx);
    return run3(g, &x, isa, threads);
}

static void report(const cfg *c, int t, const outcome *r)
{
    if (r->ok && r->ref_equal && r->fast_equal)
        return;
    printf("  case %d: n%d c%d m%d k%dx%d s%dx%d d%dx%d p%d %dx%d pool %dx%d/%dx%d xs%d ys%d "
           "pc%d b%d wz%d tail%d neg%d huge%d: %s\n",
           t, c->n, c->c, c->m, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pad, c->h, c->w,
           c->pkh, c->pkw, c->psh, c->psw, c->x_signed, c->y_signed, c->per_channel, c->bias,
           c->wzp, c->tail, c->negative, c->huge, r->ops);
}

/* The running example's first layer and head: 1 -> 32 channels, 3x3, 2x2/2 pool,
 * Flatten, MatMulInteger (whose weight rows the pass reorders). */
TEST(example_shape_fuses_and_equals_the_unfused_chain)
{
    cfg c = {4, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 0, 2, 2, 2, 2, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    for (int isa = -1; isa <= 0; isa++)
        for (int threads = 1; threads <= 2; threads++) {
            outcome r = check_cfg(&c, isa, threads);
            FY_CHECK(r.ok);
            FY_CHECK_STR(r.ops, "QuantizeLinear QConvPool MatMulInteger Cast");
            FY_CHECK(r.ref_equal);
            FY_CHECK(r.fast_equal);
            report(&c, -1, &r);
        }
    c.tail = 0; /* NCHW output for a DequantizeLinear */
    outcome r = check_cfg(&c, -1, 1);
    FY_CHECK_STR(r.ops, "QuantizeLinear QConvPool DequantizeLinear");
    FY_CHECK(r.ref_equal && r.fast_equal);
}

TEST(random_geometries_equal_the_unfused_chain)
{
    for (int t = 0; t < 60; t++) {
        cfg c;
        memset(&c, 0, sizeof c);
        c.n = irand(1, 3), c.c = irand(1, 3), c.m = irand(1, 70);
        c.kh = irand(1, 3), c.kw = irand(1, 6);
        while (c.c * c.kh * ((c.kw + 3) / 4) > 16)
            c.c--;
        c.sh = irand(1, 2), c.sw = irand(1, 2), c.dh = irand(1, 2), c.dw = irand(1, 2);
        c.pad = irand(0, 2);
        c.h = irand(6, 14), c.w = irand(6, 14);
        c.pkh = irand(1, 3), c.pkw = irand(1, 3), c.psh = irand(1, 3), c.psw = irand(1, 3);
        c.x_signed = irand(0, 1), c.y_signed = irand(0, 1), c.per_channel = irand(0, 1);
        c.bias = irand(0, 1), c.wzp = irand(0, 1), c.tail = irand(0, 1);
        int64_t oh, ow;
        conv_out(&c, &oh, &ow);
        if (oh < c.pkh || ow < c.pkw || c.n * c.c * c.h * c.w > 4096 ||
            c.m * c.c * c.kh * c.kw > 4096) {
            t--;
            continue;
        }
        outcome r = check_cfg(&c, t % 3 == 2 ? 0 : -1, 1 + t % 2);
        FY_CHECK(r.ok);
        FY_CHECK(strstr(r.ops, "QConvPool") != NULL);
        FY_CHECK(r.ref_equal);
        FY_CHECK(r.fast_equal);
        report(&c, t, &r);
    }
}

/* A negative weight scale (requantization is then not monotonic) and a bias that
 * could make the int32 sums wrap: the fused node runs the reference chain. */
TEST(declined_cases_fall_back_and_still_match)
{
    cfg c = {2, 1, 12, 12, 20, 3, 3, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 1, 1, 1, 1, 0, 0};
    c.negative = 1;
    outcome r = check_cfg(&c, -1, 1);
    FY_CHECK_STR(r.ops, "QuantizeLinear QConvPool MatMulInteger Cast");
    FY_CHECK(r.ref_equal && r.fast_equal);
    c.negative = 0;
    c.huge = 1;
    r = check_cfg(&c, -1, 2);
    FY_CHECK(r.ref_equal && r.fast_equal);
    report(&c, -2, &r);
}

TEST(pools_the_kernel_does_not_take_stay_unfused)
{
    cfg c = {1, 1, 10, 10, 8, 3, 3, 1, 1, 1, 1, 0, 2, 2, 2, 2, 1, 0, 0, 1, 1, 1, 1, 0, 0};
    outcome r = check_cfg(&c, -1, 1); /* a padded pool */
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "QuantizeLinear QLinearConv MaxPool DequantizeLinear");
    FY_CHECK(r.fast_equal);
    c.pool_pad = 0; /* too many words: 5 channels x 3 rows x 2 quads of a 3x5 kernel */
    c.c = 6, c.kw = 5;
    r = check_cfg(&c, -1, 1);
    FY_CHECK(r.ok);
    FY_CHECK(strstr(r.ops, "QConvPool") == NULL);
    FY_CHECK(r.fast_equal);
}

int main(void)
{
    RUN(example_shape_fuses_and_equals_the_unfused_chain);
    RUN(random_geometries_equal_the_unfused_chain);
    RUN(declined_cases_fall_back_and_still_match);
    RUN(pools_the_kernel_does_not_take_stay_unfused);
    return TEST_SUMMARY();
}
