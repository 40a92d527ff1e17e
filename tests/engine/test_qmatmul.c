/* SPDX-License-Identifier: MIT */
/* The static int8 pass (src/engine/optimize_quant.c, fy__opt_pass_qmatmul): the
 * chain `ferry compress --quantize int8` writes per Gemm, [QuantizeLinear ->]
 * MatMulInteger -> Cast -> Mul [-> Add] [-> activation], becomes one
 * ai.ferry.QMatMul whose outputs are bit for bit the unfused chain's, with the
 * reference kernels and with the fast ones (AVX-512 VNNI or AVX2, and portable C),
 * on 1 and 2 threads. Chains that do not match (a quantized activation read
 * twice, a QuantizeLinear with another zero point, a Cast to int) are left as
 * they are, wholly or in part. */
#include <math.h>

#include "core/core.h"
#include "engine/engine.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/fast/fast.h"
#include "ops/kernel_harness.h"
#include "test.h"
#include "three_runs.h"

static unsigned rng = 77;

static float frand(void) /* [-1, 1) */
{
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int32_t int_store[GB_INITS][GB_INIT_MAX];

static void init_int(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims,
                     const int32_t *v, int n)
{
    int32_t *row = int_store[b->g.n_initializer];
    memcpy(row, v, (size_t)n * sizeof *v);
    gb_init_int(b, name, dt, rank, dims, row, n);
}

typedef struct outcome {
    int ok;
    char ops[256];
    int ref_equal, fast_equal; /* passes + reference / fast kernels vs as loaded */
    int fused;
} outcome;

static outcome run3(gb *g, const fy_tensor *x, int isa, int threads)
{
    outcome r;
    memset(&r, 0, sizeof r);
    three_runs t = three_runs_do(g, 13, x, isa, threads);
    if ((r.ok = t.ok)) {
        r.ref_equal = three_runs_same(&t.out[0], &t.out[1]);
        r.fast_equal = three_runs_same(&t.out[0], &t.out[2]);
        r.fused = t.st.qmatmul;
        memcpy(r.ops, t.ops, sizeof r.ops);
    }
    three_runs_free(&t);
    return r;
}

typedef struct cfg {
    int rows, K, N;
    int quantize; /* 1: float x through QuantizeLinear; 0: uint8/int8 x as input */
    int x_signed; /* int8 activations */
    int per_col;  /* S with N values (else one) */
    int bias;     /* Add(B) */
    int act;      /* 0 none, 1 Relu, 2 Clip */
    int swap;     /* Mul(S, accf) and Add(B, y) */
    int other_zp; /* QuantizeLinear with a zero point of its own (not absorbed) */
    int shared;   /* the quantized activation is also a graph output (not absorbed) */
    int cast_int; /* Cast to int32 instead of float (not fused) */
    int rank3;    /* x as [2, rows, K] */
} cfg;

static float xf[65536], sv[256], bv[256];
static int32_t xi[65536], wv[GB_INIT_MAX];
static uint8_t xb[65536];
static gb g_model;

static outcome check(const cfg *c, int isa, int threads)
{
    static const int64_t d0[1] = {0};
    static float xs = 1.0f / 50, lo = -0.5f, hi = 3.0f;
    int64_t dx[3] = {c->rows, c->K, 0}, dw[2] = {c->K, c->N}, dn[1] = {c->N};
    if (c->rank3)
        dx[0] = 2, dx[1] = c->rows, dx[2] = c->K;
    int rank = c->rank3 ? 3 : 2, nx = (c->rank3 ? 2 : 1) * c->rows * c->K;
    for (int i = 0; i < nx; i++) {
        xf[i] = frand() * 3.0f + (c->x_signed ? 0.0f : 2.0f);
        rng = rng * 1103515245u + 12345u;
        xi[i] = c->x_signed ? (int32_t)((rng >> 8) % 256) - 128 : (int32_t)((rng >> 8) % 256);
    }
    for (int i = 0; i < c->K * c->N; i++) {
        rng = rng * 1103515245u + 12345u;
        wv[i] = (int32_t)((rng >> 8) % 255) - 127;
    }
    for (int i = 0; i < c->N; i++) {
        sv[i] = (1.0f + frand() * 0.5f) * 1e-4f;
        bv[i] = frand();
    }
    int32_t zp = c->x_signed ? -7 : 100, zq = zp + 3;
    fy_dtype qdt = c->x_signed ? FY_DTYPE_I8 : FY_DTYPE_U8;
    gb *g = &g_model;
    gb_init(g, "qmatmul");
    gb_input(g, "x", c->quantize ? FY_DTYPE_F32 : qdt, rank, dx);
    gb_init_f32(g, "xs", 0, d0, &xs, 1);
    init_int(g, "zp", qdt, 0, d0, &zp, 1);
    init_int(g, "zq", qdt, 0, d0, &zq, 1);
    init_int(g, "w", FY_DTYPE_I8, 2, dw, wv, c->K * c->N);
    gb_init_f32(g, "s", c->per_col ? 1 : 0, dn, sv, c->per_col ? c->N : 1);
    gb_init_f32(g, "b", 1, dn, bv, c->N);
    gb_init_f32(g, "lo", 0, d0, &lo, 1);
    gb_init_f32(g, "hi", 0, d0, &hi, 1);
    const char *a = "x";
    if (c->quantize) {
        gb_node(g, "QuantizeLinear", 3, 1, "x", "xs", c->other_zp ? "zq" : "zp", "xq");
        a = "xq";
    }
    gb_node(g, "MatMulInteger", 3, 1, a, "w", "zp", "acc");
    gb_attr_int(g, gb_node(g, "Cast", 1, 1, "acc", "accf"), "to",
                c->cast_int ? FY_DTYPE_I32 : FY_DTYPE_F32);
    const char *y = c->bias || c->act ? "m" : "y";
    if (c->cast_int) {
        gb_attr_int(g, gb_node(g, "Cast", 1, 1, "accf", "accg"), "to", FY_DTYPE_F32);
        gb_node(g, "Mul", 2, 1, "accg", "s", y);
    } else if (c->swap) {
        gb_node(g, "Mul", 2, 1, "s", "accf", y);
    } else {
        gb_node(g, "Mul", 2, 1, "accf", "s", y);
    }
    if (c->bias) {
        const char *t = c->act ? "t" : "y";
        if (c->swap)
            gb_node(g, "Add", 2, 1, "b", "m", t);
        else
            gb_node(g, "Add", 2, 1, "m", "b", t);
        y = "t";
    }
    if (c->act == 1)
        gb_node(g, "Relu", 1, 1, y, "y");
    else if (c->act == 2)
        gb_node(g, "Clip", 3, 1, y, "lo", "hi", "y");
    gb_output(g, "y", FY_DTYPE_F32, -1, NULL);
    if (c->shared)
        gb_output(g, "xq", qdt, -1, NULL);
    fy_tensor x = c->quantize ? kh_f32(xf, rank, dx) : kh_view(qdt, NULL, rank, dx);

    if (!c->quantize) {
        for (int i = 0; i < nx; i++)
            xb[i] = (uint8_t)xi[i];
        x.data = xb;
    }
    return run3(g, &x, isa, threads);
}

static void show(const cfg *c, const outcome *r)
{
    if (r->ok && r->ref_equal && r->fast_equal)
        return;
    printf("  rows %d K %d N %d q%d s%d pc%d b%d act%d swap%d: %s ref %d fast %d\n", c->rows, c->K,
           c->N, c->quantize, c->x_signed, c->per_col, c->bias, c->act, c->swap, r->ops,
           r->ref_equal, r->fast_equal);
}

TEST(static_chains_become_one_node_and_equal_the_chain)
{
    static const int shapes[][3] = {{32, 1000, 4}, {1, 77, 45}, {7, 40, 24}, {33, 130, 10}};
    int n = 0;
    for (int sh = 0; sh < 4; sh++)
        for (int v = 0; v < 12; v++) {
            cfg c;
            memset(&c, 0, sizeof c);
            c.rows = shapes[sh][0], c.K = shapes[sh][1], c.N = shapes[sh][2];
            c.quantize = v % 2, c.x_signed = (v / 2) % 2, c.per_col = v % 3 != 0;
            c.bias = v % 4 != 1, c.act = v % 3, c.swap = v % 5 == 2, c.rank3 = v == 7;
            if (c.K * c.N > GB_INIT_MAX)
                c.K = GB_INIT_MAX / c.N;
            int isa = n % 3 == 2 ? 0 : -1, threads = 1 + n % 2;
            n++;
            outcome r = check(&c, isa, threads);
            FY_CHECK(r.ok);
            FY_CHECK_STR(r.ops, "QMatMul");
            FY_CHECK(r.ref_equal);
            FY_CHECK(r.fast_equal);
            show(&c, &r);
        }
}

TEST(chains_that_do_not_match_stay)
{
    cfg c = {5, 40, 24, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    c.other_zp = 1; /* QuantizeLinear's zero point is another value: it stays */
    outcome r = check(&c, -1, 1);
    FY_CHECK_STR(r.ops, "QuantizeLinear QMatMul");
    FY_CHECK(r.ref_equal && r.fast_equal);
    c.other_zp = 0;
    c.shared = 1; /* the quantized activation is a graph output too */
    r = check(&c, -1, 1);
    FY_CHECK(r.ok);
    FY_CHECK(strstr(r.ops, "QuantizeLinear") != NULL);
    FY_CHECK_EQ(r.fused, 1);
    c.shared = 0;
    c.cast_int = 1; /* not the chain */
    r = check(&c, -1, 2);
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.fused, 0);
    FY_CHECK(r.fast_equal);
}

int main(void)
{
    RUN(static_chains_become_one_node_and_equal_the_chain);
    RUN(chains_that_do_not_match_stay);
    return TEST_SUMMARY();
}
