/* SPDX-License-Identifier: MIT */
/* The dynamic int8 pass (src/engine/optimize_quant.c): the chain `ferry compress
 * --quantize int8-dynamic` writes becomes one ai.ferry.DynQMatMul whose outputs
 * equal the unfused chain's, with the reference kernels and with the fast ones;
 * chains that do not match (a quantized activation with two readers, an
 * intermediate that is a graph output, weights that are not constant) stay. */
#include <math.h>

#include "core/core.h"
#include "engine/engine.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/kernel_harness.h"
#include "test.h"

static void fill(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 8192.0f - 3.0f; /* [-3, 5) */
    }
}

/* An int8 initializer (ONNX keeps int8 in int32_data). */
static int32_t i8_store[GB_INITS][GB_INIT_MAX];

static void init_i8(gb *b, const char *name, int rank, const int64_t *dims, unsigned seed)
{
    int32_t *row = i8_store[b->g.n_initializer];
    int n = 1;
    for (int k = 0; k < rank; k++)
        n *= (int)dims[k];
    for (int k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        row[k] = (int32_t)((seed >> 8) % 255) - 127;
    }
    gb_init_int(b, name, FY_DTYPE_I8, rank, dims, row, n);
}

typedef struct result {
    char ops[256];
    fy__opt_stats st;
    double ref_diff, fast_diff; /* optimized vs as loaded: reference, fast kernels */
    int ok;
} result;

static double max_abs_diff(const fy_tensor *a, const fy_tensor *b)
{
    double m = 0;
    if (a->dtype != FY_DTYPE_F32 || b->dtype != FY_DTYPE_F32 ||
        fy_tensor_numel(a) != fy_tensor_numel(b) || a->rank != b->rank)
        return INFINITY;
    for (int64_t i = 0; i < fy_tensor_numel(a); i++) {
        double e = fabs(((float *)a->data)[i] - ((float *)b->data)[i]);
        m = e > m ? e : m;
    }
    return m;
}

/* Run g four ways: {as loaded, optimized} x {reference, fast kernels}. */
static result check_graph(gb *g, int n_in, const fy_tensor *in, int n_out)
{
    result r;
    memset(&r, 0, sizeof r);
    fy_diag d = {{0}};
    fy_model *m = gb_load(g, 17, &d);
    if (!m) {
        printf("  load failed: %s\n", d.msg);
        return r;
    }
    fy_session *s[4] = {NULL, NULL, NULL, NULL};
    fy_session_opts o[4] = {{.no_optimize = 1, .reference = 1},
                            {.reference = 1},
                            {.no_optimize = 1, .threads = 2},
                            {.threads = 2}};
    fy_tensor outs[4][2];
    int rc = FY_OK, ran = 0;
    for (int k = 0; k < 4 && rc == FY_OK; k++)
        if ((rc = fy_session_create(&s[k], m, &o[k], &d)) == FY_OK &&
            (rc = fy_session_run(s[k], n_in, in, n_out, outs[k], &d)) == FY_OK)
            ran++;
    if (rc != FY_OK) {
        printf("  run failed: %s\n", d.msg);
    } else {
        r.ok = 1;
        for (int j = 0; j < n_out; j++) {
            double e = max_abs_diff(&outs[0][j], &outs[1][j]);
            double f = max_abs_diff(&outs[2][j], &outs[3][j]);
            r.ref_diff = e > r.ref_diff ? e : r.ref_diff;
            r.fast_diff = f > r.fast_diff ? f : r.fast_diff;
        }
        const fy__graph *og = fy__session_graph(s[3], &r.st);
        for (int i = 0; i < og->n_nodes; i++) {
            size_t len = strlen(r.ops);
            snprintf(r.ops + len, sizeof r.ops - len, "%s%s", i ? " " : "", og->nodes[i].op_type);
        }
    }
    for (int k = 0; k < ran; k++)
        for (int j = 0; j < n_out; j++)
            fy_tensor_deinit(&outs[k][j]);
    for (int k = 0; k < 4; k++)
        fy_session_free(s[k]);
    fy_model_free(m);
    return r;
}

static const int64_t dw[2] = {40, 24}, ds[1] = {24};

/* The chain compress writes for x -> MatMul(W) [+ b], writing y. */
static void chain(gb *g, const char *x, const char *w, const char *s, const char *b, const char *y,
                  int swap)
{
    gb_node(g, "DynamicQuantizeLinear", 1, 3, x, "xq", "xs", "xzp");
    gb_node(g, "MatMulInteger", 3, 1, "xq", w, "xzp", "acc");
    int c = gb_node(g, "Cast", 1, 1, "acc", "accf");
    gb_attr_int(g, c, "to", FY_DTYPE_F32);
    if (swap)
        gb_node(g, "Mul", 2, 1, s, "xs", "sv");
    else
        gb_node(g, "Mul", 2, 1, "xs", s, "sv");
    if (swap)
        gb_node(g, "Mul", 2, 1, "sv", "accf", b ? "mid" : y);
    else
        gb_node(g, "Mul", 2, 1, "accf", "sv", b ? "mid" : y);
    if (b)
        gb_node(g, "Add", 2, 1, "mid", b, y);
}

static float xv[3 * 7 * 40], sv[24], bv[24];

static void setup(gb *g, const char *name, int rank, const int64_t *dx)
{
    fill(xv, 3 * 7 * 40, 1);
    fill(sv, 24, 2);
    for (int k = 0; k < 24; k++)
        sv[k] = (sv[k] + 3.5f) * 1e-3f; /* positive weight scales */
    fill(bv, 24, 3);
    gb_init(g, name);
    gb_input(g, "x", FY_DTYPE_F32, rank, dx);
    init_i8(g, "w", 2, dw, 4);
    gb_init_f32(g, "s", 1, ds, sv, 24);
    gb_init_f32(g, "b", 1, ds, bv, 24);
}

TEST(chain_with_bias_and_relu_becomes_one_node)
{
    static const int64_t dx[2] = {7, 40}, dy[2] = {7, 24};
    gb g;
    setup(&g, "dynq", 2, dx);
    chain(&g, "x", "w", "s", "b", "h", 0);
    gb_node(&g, "Relu", 1, 1, "h", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "DynQMatMul");
    FY_CHECK_EQ(r.st.dynq, 1);
    FY_CHECK(r.ref_diff == 0);  /* the reference composes the chain's kernels */
    FY_CHECK(r.fast_diff == 0); /* the fused kernel does the chain's float steps */
}

TEST(chain_without_bias_operands_swapped_rank_3)
{
    static const int64_t dx[3] = {3, 7, 40}, dy[3] = {3, 7, 24};
    gb g;
    setup(&g, "dynq3", 3, dx);
    chain(&g, "x", "w", "s", NULL, "y", 1);
    gb_output(&g, "y", FY_DTYPE_F32, 3, dy);
    fy_tensor x = kh_f32(xv, 3, dx);
    result r = check_graph(&g, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "DynQMatMul");
    FY_CHECK(r.ref_diff == 0);
    FY_CHECK(r.fast_diff == 0);
}

TEST(residual_add_and_activation_join_the_node)
{
    static const int64_t dx[2] = {7, 40}, dy[2] = {7, 24};
    static float zv[7 * 24];
    gb g;
    setup(&g, "dynq_res", 2, dx);
    gb_input(&g, "z", FY_DTYPE_F32, 2, dy);
    chain(&g, "x", "w", "s", "b", "h", 0);
    gb_node(&g, "Add", 2, 1, "z", "h", "r"); /* the skip first */
    gb_node(&g, "Relu", 1, 1, "r", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    fill(zv, 7 * 24, 9);
    fy_tensor in[2] = {kh_f32(xv, 2, dx), kh_f32(zv, 2, dy)};
    result r = check_graph(&g, 2, in, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "DynQMatMul");
    FY_CHECK(r.ref_diff == 0);
    FY_CHECK(r.fast_diff == 0);
}

TEST(constant_input_gives_zero_scale_like_the_chain)
{
    static const int64_t dx[2] = {7, 40}, dy[2] = {7, 24};
    gb g;
    setup(&g, "dynq0", 2, dx);
    chain(&g, "x", "w", "s", "b", "y", 0);
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    memset(xv, 0, sizeof xv);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "DynQMatMul");
    FY_CHECK(r.ref_diff == 0);
    FY_CHECK(r.fast_diff == 0);
}

TEST(shared_or_visible_intermediates_stop_the_fusion)
{
    static const int64_t dx[2] = {7, 40}, dy[2] = {7, 24};
    gb g;
    /* one quantized activation read by two MatMulIntegers */
    setup(&g, "shared", 2, dx);
    chain(&g, "x", "w", "s", "b", "y", 0);
    gb_node(&g, "MatMulInteger", 3, 1, "xq", "w", "xzp", "acc2");
    int c = gb_node(&g, "Cast", 1, 1, "acc2", "y2");
    gb_attr_int(&g, c, "to", FY_DTYPE_F32);
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    gb_output(&g, "y2", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 1, &x, 2);
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.st.dynq, 0);
    FY_CHECK(strstr(r.ops, "DynQMatMul") == NULL);
    FY_CHECK(r.ref_diff == 0);

    /* the int32 accumulator is a graph output */
    setup(&g, "visible", 2, dx);
    chain(&g, "x", "w", "s", "b", "y", 0);
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    static const int64_t da[2] = {7, 24};
    gb_output(&g, "acc", FY_DTYPE_I32, 2, da);
    r = check_graph(&g, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.st.dynq, 0);

    /* weights given at run time */
    gb_init(&g, "runtime_w");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_input(&g, "w", FY_DTYPE_I8, 2, dw);
    gb_init_f32(&g, "s", 1, ds, sv, 24);
    gb_init_f32(&g, "b", 1, ds, bv, 24);
    chain(&g, "x", "w", "s", "b", "y", 0);
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    int8_t wv[40 * 24];
    for (int k = 0; k < 40 * 24; k++)
        wv[k] = (int8_t)(k % 255 - 127);
    fy_tensor in[2] = {x, kh_view(FY_DTYPE_I8, wv, 2, dw)};
    r = check_graph(&g, 2, in, 1);
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.st.dynq, 0);
}

int main(void)
{
    RUN(chain_with_bias_and_relu_becomes_one_node);
    RUN(chain_without_bias_operands_swapped_rank_3);
    RUN(residual_add_and_activation_join_the_node);
    RUN(constant_input_gives_zero_scale_like_the_chain);
    RUN(shared_or_visible_intermediates_stop_the_fusion);
    return TEST_SUMMARY();
}
