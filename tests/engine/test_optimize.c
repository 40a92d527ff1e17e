/* SPDX-License-Identifier: MIT */
/* Graph passes (src/engine/optimize.c): each pattern on a small graph gives the
 * expected fused node and the same outputs as the graph run as loaded; patterns
 * that must not fuse (value read elsewhere, graph outputs, weights computed at run
 * time) are left alone; allocation failures while optimizing are FY_ENOMEM. */
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "engine/engine.h"
#include "model_builder.h"
#include "onnx/onnx.h"
#include "ops/kernel_harness.h"
#include "test.h"

/* Deterministic values in [-1, 1). */
static void fill(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

typedef struct result {
    int n_nodes;
    char ops[256]; /* op types of the optimized graph, space-separated */
    fy__opt_stats st;
    double max_diff; /* largest |optimized - as loaded| over every output element */
    int ok;
} result;

static double max_abs_diff(const fy_tensor *a, const fy_tensor *b)
{
    double m = 0;
    if (a->dtype != FY_DTYPE_F32 || b->dtype != FY_DTYPE_F32 ||
        fy_tensor_numel(a) != fy_tensor_numel(b))
        return INFINITY;
    for (int64_t i = 0; i < fy_tensor_numel(a); i++) {
        double e = fabs(((float *)a->data)[i] - ((float *)b->data)[i]);
        m = e > m ? e : m;
    }
    return m;
}

/* Load g and run it three ways on the same inputs: as loaded with the reference
 * kernels (the oracle), with the passes and reference kernels (r.max_diff: the
 * fused ops' definitions), and with the passes and fast kernels (must be within
 * 1e-4 of the oracle). */
static result check_graph(gb *g, int opset, int n_in, const fy_tensor *in, int n_out)
{
    result r;
    memset(&r, 0, sizeof r);
    fy_diag d = {{0}};
    fy_model *m = gb_load(g, opset, &d);
    if (!m) {
        printf("  load failed: %s\n", d.msg);
        return r;
    }
    fy_session *s[3] = {NULL, NULL, NULL};
    fy_session_opts o[3] = {{.no_optimize = 1, .reference = 1}, {.reference = 1}, {.threads = 2}};
    fy_tensor outs[3][4];
    int rc = FY_OK, ran = 0;
    for (int k = 0; k < 3 && rc == FY_OK; k++)
        if ((rc = fy_session_create(&s[k], m, &o[k], &d)) == FY_OK &&
            (rc = fy_session_run(s[k], n_in, in, n_out, outs[k], &d)) == FY_OK)
            ran++;
    if (rc != FY_OK) {
        printf("  run failed: %s\n", d.msg);
    } else {
        r.ok = 1;
        for (int j = 0; j < n_out; j++) {
            double e = max_abs_diff(&outs[0][j], &outs[1][j]);
            double f = max_abs_diff(&outs[0][j], &outs[2][j]);
            r.max_diff = e > r.max_diff ? e : r.max_diff;
            FY_CHECK(f < 1e-4);
        }
        const fy__graph *og = fy__session_graph(s[1], &r.st);
        r.n_nodes = og->n_nodes;
        for (int i = 0; i < og->n_nodes; i++) {
            size_t len = strlen(r.ops);
            snprintf(r.ops + len, sizeof r.ops - len, "%s%s", i ? " " : "", og->nodes[i].op_type);
        }
        /* the model's own graph is untouched */
        FY_CHECK_EQ(fy__session_graph(s[0], NULL)->n_nodes, m->graph->n_nodes);
    }
    for (int k = 0; k < ran; k++)
        for (int j = 0; j < n_out; j++)
            fy_tensor_deinit(&outs[k][j]);
    for (int k = 0; k < 3; k++)
        fy_session_free(s[k]);
    fy_model_free(m);
    return r;
}

static const int64_t d0[1] = {0};

TEST(conv_batchnorm_relu_becomes_one_fused_conv)
{
    static const int64_t dx[4] = {1, 2, 5, 5}, dw[4] = {3, 2, 3, 3}, dc[1] = {3};
    static const int64_t dy[4] = {1, 3, 5, 5};
    float w[54], sc[3] = {0.9f, 1.2f, 0.7f}, bi[3] = {0.1f, -0.2f, 0.3f};
    float mean[3] = {0.05f, -0.1f, 0.2f}, var[3] = {0.8f, 1.1f, 0.5f}, xv[50];
    fill(w, 54, 1);
    fill(xv, 50, 2);
    gb g;
    gb_init(&g, "conv_bn");
    gb_input(&g, "x", FY_DTYPE_F32, 4, dx);
    gb_init_f32(&g, "w", 4, dw, w, 54);
    gb_init_f32(&g, "scale", 1, dc, sc, 3);
    gb_init_f32(&g, "bias", 1, dc, bi, 3);
    gb_init_f32(&g, "mean", 1, dc, mean, 3);
    gb_init_f32(&g, "var", 1, dc, var, 3);
    int c = gb_node(&g, "Conv", 2, 1, "x", "w", "c");
    gb_attr_ints(&g, c, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    gb_node(&g, "BatchNormalization", 5, 1, "c", "scale", "bias", "mean", "var", "bn");
    gb_node(&g, "Relu", 1, 1, "bn", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 4, dy);
    fy_tensor x = kh_f32(xv, 4, dx);
    result r = check_graph(&g, 15, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedConv");
    FY_CHECK_EQ(r.st.conv_bn, 1);
    FY_CHECK_EQ(r.st.fused, 1);
    FY_CHECK(r.max_diff < 1e-5);
}

/* ResNet's block end: Conv + Add(skip) + Relu, the skip computed at run time. */
TEST(conv_residual_relu_fuses_with_the_skip_as_fourth_input)
{
    static const int64_t dx[4] = {2, 3, 6, 6}, dw[4] = {2, 3, 3, 3}, dy[4] = {2, 2, 6, 6};
    static const int64_t db[1] = {2};
    float w[54], b[2] = {0.1f, -0.2f}, xv[216], zv[144];
    fill(w, 54, 22);
    fill(xv, 216, 23);
    fill(zv, 144, 24);
    gb g;
    gb_init(&g, "conv_residual");
    gb_input(&g, "x", FY_DTYPE_F32, 4, dx);
    gb_input(&g, "z", FY_DTYPE_F32, 4, dy);
    gb_init_f32(&g, "w", 4, dw, w, 54);
    gb_init_f32(&g, "b", 1, db, b, 2);
    int c = gb_node(&g, "Conv", 3, 1, "x", "w", "b", "c");
    gb_attr_ints(&g, c, "pads", 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1);
    gb_node(&g, "Add", 2, 1, "z", "c", "s");
    gb_node(&g, "Relu", 1, 1, "s", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 4, dy);
    fy_tensor in[2] = {kh_f32(xv, 4, dx), kh_f32(zv, 4, dy)};
    result r = check_graph(&g, 13, 2, in, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedConv");
    FY_CHECK(r.max_diff == 0);
}

/* MatMul + Add(bias) + the erf GELU, as PyTorch exports nn.Linear + nn.GELU. */
TEST(matmul_bias_erf_gelu_becomes_one_fused_matmul)
{
    static const int64_t dx[2] = {3, 4}, dw[2] = {4, 5}, db[1] = {5}, dy[2] = {3, 5};
    float w[20], b[5], xv[12], s2 = 1.4142135f, one = 1, half = 0.5f;
    fill(w, 20, 3);
    fill(b, 5, 4);
    fill(xv, 12, 5);
    gb g;
    gb_init(&g, "gelu");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w", 2, dw, w, 20);
    gb_init_f32(&g, "b", 1, db, b, 5);
    gb_init_f32(&g, "sqrt2", 0, d0, &s2, 1);
    gb_init_f32(&g, "one", 0, d0, &one, 1);
    gb_init_f32(&g, "half", 0, d0, &half, 1);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "m");
    gb_node(&g, "Add", 2, 1, "b", "m", "h"); /* bias first, as PyTorch writes it */
    gb_node(&g, "Div", 2, 1, "h", "sqrt2", "t");
    gb_node(&g, "Erf", 1, 1, "t", "e");
    gb_node(&g, "Add", 2, 1, "e", "one", "a");
    gb_node(&g, "Mul", 2, 1, "h", "a", "p");
    gb_node(&g, "Mul", 2, 1, "p", "half", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 17, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedMatMul");
    FY_CHECK_EQ(r.st.gelu, 1);
    FY_CHECK(r.max_diff < 1e-6);
}

TEST(tanh_gelu_is_recognized)
{
    static const int64_t dx[2] = {2, 6};
    float xv[12], c1 = 0.7978845608f, c2 = 0.044715f, three = 3, one = 1, half = 0.5f;
    fill(xv, 12, 6);
    for (int i = 0; i < 12; i++)
        xv[i] *= 3;
    gb g;
    gb_init(&g, "gelu_tanh");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "c1", 0, d0, &c1, 1);
    gb_init_f32(&g, "c2", 0, d0, &c2, 1);
    gb_init_f32(&g, "three", 0, d0, &three, 1);
    gb_init_f32(&g, "one", 0, d0, &one, 1);
    gb_init_f32(&g, "half", 0, d0, &half, 1);
    gb_node(&g, "Pow", 2, 1, "x", "three", "x3");
    gb_node(&g, "Mul", 2, 1, "c2", "x3", "q");
    gb_node(&g, "Add", 2, 1, "x", "q", "w");
    gb_node(&g, "Mul", 2, 1, "w", "c1", "u");
    gb_node(&g, "Tanh", 1, 1, "u", "t");
    gb_node(&g, "Add", 2, 1, "t", "one", "a");
    gb_node(&g, "Mul", 2, 1, "x", "half", "hx"); /* the other association */
    gb_node(&g, "Mul", 2, 1, "hx", "a", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dx);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 17, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "Gelu");
    FY_CHECK(r.max_diff < 1e-5);
}

TEST(layernorm_decomposition_becomes_layernormalization)
{
    static const int64_t dx[3] = {2, 3, 8}, dg[1] = {8};
    float xv[48], gm[8], bt[8], two = 2, eps = 1e-5f;
    fill(xv, 48, 7);
    fill(gm, 8, 8);
    fill(bt, 8, 9);
    gb g;
    gb_init(&g, "ln");
    gb_input(&g, "x", FY_DTYPE_F32, 3, dx);
    gb_init_f32(&g, "two", 0, d0, &two, 1);
    gb_init_f32(&g, "eps", 0, d0, &eps, 1);
    gb_init_f32(&g, "gamma", 1, dg, gm, 8);
    gb_init_f32(&g, "beta", 1, dg, bt, 8);
    int r1 = gb_node(&g, "ReduceMean", 1, 1, "x", "mean");
    gb_attr_ints(&g, r1, "axes", 1, (int64_t)-1);
    gb_node(&g, "Sub", 2, 1, "x", "mean", "d");
    gb_node(&g, "Pow", 2, 1, "d", "two", "sq");
    int r2 = gb_node(&g, "ReduceMean", 1, 1, "sq", "var");
    gb_attr_ints(&g, r2, "axes", 1, (int64_t)-1);
    gb_node(&g, "Add", 2, 1, "var", "eps", "ve");
    gb_node(&g, "Sqrt", 1, 1, "ve", "sd");
    gb_node(&g, "Div", 2, 1, "d", "sd", "n");
    gb_node(&g, "Mul", 2, 1, "n", "gamma", "ng");
    gb_node(&g, "Add", 2, 1, "ng", "beta", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 3, dx);
    fy_tensor x = kh_f32(xv, 3, dx);
    result r = check_graph(&g, 13, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "LayerNormalization");
    FY_CHECK_EQ(r.st.layernorm, 1);
    FY_CHECK(r.max_diff < 1e-5);
}

TEST(scaled_dot_product_attention_becomes_one_node)
{
    static const int64_t dq[4] = {1, 2, 3, 4}, dk[4] = {1, 2, 4, 3};
    float q[24], k[24], v[24], s = 2;
    fill(q, 24, 10);
    fill(k, 24, 11);
    fill(v, 24, 12);
    gb g;
    gb_init(&g, "attn");
    gb_input(&g, "q", FY_DTYPE_F32, 4, dq);
    gb_input(&g, "kt", FY_DTYPE_F32, 4, dk);
    gb_input(&g, "v", FY_DTYPE_F32, 4, dq);
    gb_init_f32(&g, "s", 0, d0, &s, 1);
    gb_node(&g, "MatMul", 2, 1, "q", "kt", "qk");
    gb_node(&g, "Div", 2, 1, "qk", "s", "sc");
    int sm = gb_node(&g, "Softmax", 1, 1, "sc", "p");
    gb_attr_int(&g, sm, "axis", -1);
    gb_node(&g, "MatMul", 2, 1, "p", "v", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 4, dq);
    fy_tensor in[3] = {kh_f32(q, 4, dq), kh_f32(k, 4, dk), kh_f32(v, 4, dq)};
    result r = check_graph(&g, 13, 3, in, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "Attention");
    FY_CHECK_EQ(r.st.attention, 1);
    FY_CHECK(r.max_diff == 0); /* the same kernels in the same order */
}

/* The multi-head form: Q and V arrive as [B, S, H, D] through Transposes [0, 2, 1,
 * 3], Kt through [0, 2, 3, 1], and the result goes back through [0, 2, 1, 3]: the
 * Q, V and output Transposes go into the Attention node ("layout" 1), Kt's stays.
 * With the output Transpose also read elsewhere, nothing of the layout changes. */
TEST(multi_head_attention_takes_in_its_transposes)
{
    static const int64_t dx[4] = {2, 5, 3, 4}, dy[4] = {2, 5, 3, 4};
    float q[120], k[120], v[120], s = 2;
    fill(q, 120, 20);
    fill(k, 120, 21);
    fill(v, 120, 22);
    for (int shared = 0; shared < 2; shared++) {
        gb g;
        gb_init(&g, "mha");
        gb_input(&g, "q", FY_DTYPE_F32, 4, dx);
        gb_input(&g, "k", FY_DTYPE_F32, 4, dx);
        gb_input(&g, "v", FY_DTYPE_F32, 4, dx);
        gb_init_f32(&g, "s", 0, d0, &s, 1);
        int t = gb_node(&g, "Transpose", 1, 1, "q", "qt");
        gb_attr_ints(&g, t, "perm", 4, (int64_t)0, (int64_t)2, (int64_t)1, (int64_t)3);
        t = gb_node(&g, "Transpose", 1, 1, "k", "kt");
        gb_attr_ints(&g, t, "perm", 4, (int64_t)0, (int64_t)2, (int64_t)3, (int64_t)1);
        t = gb_node(&g, "Transpose", 1, 1, "v", "vt");
        gb_attr_ints(&g, t, "perm", 4, (int64_t)0, (int64_t)2, (int64_t)1, (int64_t)3);
        gb_node(&g, "MatMul", 2, 1, "qt", "kt", "qk");
        gb_node(&g, "Div", 2, 1, "qk", "s", "sc");
        int sm = gb_node(&g, "Softmax", 1, 1, "sc", "p");
        gb_attr_int(&g, sm, "axis", -1);
        gb_node(&g, "MatMul", 2, 1, "p", "vt", "a");
        t = gb_node(&g, "Transpose", 1, 1, "a", "y");
        gb_attr_ints(&g, t, "perm", 4, (int64_t)0, (int64_t)2, (int64_t)1, (int64_t)3);
        gb_output(&g, "y", FY_DTYPE_F32, 4, dy);
        if (shared) { /* the attention result is also an output: the layout stays */
            static const int64_t da[4] = {2, 3, 5, 4};
            gb_output(&g, "a", FY_DTYPE_F32, 4, da);
        }
        fy_tensor in[3] = {kh_f32(q, 4, dx), kh_f32(k, 4, dx), kh_f32(v, 4, dx)};
        result r = check_graph(&g, 13, 3, in, shared ? 2 : 1);
        FY_CHECK(r.ok);
        FY_CHECK_EQ(r.st.attention, 1);
        FY_CHECK_STR(r.ops, shared ? "Transpose Transpose Transpose Attention Transpose"
                                   : "Transpose Attention");
        FY_CHECK(r.max_diff == 0); /* the same kernels, the transposes done as before */
    }
}

TEST(constants_fold_identities_go_and_dead_nodes_are_removed)
{
    static const int64_t d3[1] = {3};
    float a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, xv[3] = {0.5f, -1, 2};
    gb g;
    gb_init(&g, "fold");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    gb_init_f32(&g, "a", 1, d3, a, 3);
    gb_init_f32(&g, "b", 1, d3, b, 3);
    gb_node(&g, "Add", 2, 1, "a", "b", "ab"); /* constant */
    gb_node(&g, "Identity", 1, 1, "ab", "ab2");
    gb_node(&g, "Identity", 1, 1, "x", "xi");
    gb_node(&g, "Mul", 2, 1, "xi", "ab2", "y");
    gb_node(&g, "Neg", 1, 1, "x", "unused"); /* nobody reads it */
    gb_output(&g, "y", FY_DTYPE_F32, 1, d3);
    fy_tensor x = kh_f32(xv, 1, d3);
    result r = check_graph(&g, 13, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "Mul");
    FY_CHECK_EQ(r.st.folded, 2);
    FY_CHECK_EQ(r.st.identity, 1);
    FY_CHECK_EQ(r.st.dead, 1);
    FY_CHECK(r.max_diff == 0);
}

TEST(matmul_bias_residual_relu_fuse_into_four_inputs)
{
    static const int64_t dx[2] = {2, 4}, dw[2] = {4, 4}, db[1] = {4};
    float w[16], b[4], xv[8];
    fill(w, 16, 13);
    fill(b, 4, 14);
    fill(xv, 8, 15);
    gb g;
    gb_init(&g, "residual");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w", 2, dw, w, 16);
    gb_init_f32(&g, "b", 1, db, b, 4);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "m");
    gb_node(&g, "Add", 2, 1, "m", "b", "h");
    gb_node(&g, "Add", 2, 1, "x", "h", "r");
    gb_node(&g, "Relu", 1, 1, "r", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dx);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 13, 1, &x, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedMatMul");
    FY_CHECK(r.max_diff == 0);
}

/* Batch 1-4 rows take the matrix-vector path over the weights' own layout: a
 * MatMul weight K x N (64-column sweeps) and a transposed Gemm weight N x K (dot
 * products four rows at a time); both checked against the reference. */
TEST(few_row_products_match_the_reference)
{
    static const int64_t dx[2] = {2, 32}, dw[2] = {32, 64}, dy[2] = {2, 64};
    static const int64_t dg[2] = {9, 32}, dgy[2] = {2, 9}, db[1] = {9};
    static float w[2048], g9[288], b9[9], xv[64];
    fill(w, 2048, 25);
    fill(g9, 288, 26);
    fill(b9, 9, 27);
    fill(xv, 64, 28);
    gb g;
    gb_init(&g, "gemv");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w", 2, dw, w, 2048);
    gb_init_f32(&g, "g", 2, dg, g9, 288);
    gb_init_f32(&g, "b", 1, db, b9, 9);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "m");
    gb_node(&g, "Relu", 1, 1, "m", "y");
    int gm = gb_node(&g, "Gemm", 3, 1, "x", "g", "b", "z");
    gb_attr_int(&g, gm, "transB", 1);
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    gb_output(&g, "z", FY_DTYPE_F32, 2, dgy);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 13, 1, &x, 2); /* fast vs reference within 1e-4 inside */
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.n_nodes, 2);
    FY_CHECK(r.max_diff == 0);
}

/* Weights over the row-major copy's 16 MB limit are read in their own layout: a
 * transposed Gemm weight N x K runs eight dot products at a time (dot8_512 with
 * AVX-512), four, then one; K = 1100 leaves a 12-element tail and N = 4100 a
 * 4-column task. Rows 1 and 3, against the reference. */
TEST(large_transposed_gemm_rows_match_the_reference)
{
    enum { K = 1100, N = 4100 };
    static const int64_t dg[2] = {N, K}, db[1] = {N};
    float *w = malloc((size_t)N * K * sizeof *w), *bias = malloc(N * sizeof *bias);
    static float xv[3 * K];
    FY_CHECK(w && bias);
    if (!w || !bias) {
        free(w);
        free(bias);
        return;
    }
    fill(w, N * K, 41);
    fill(bias, N, 42);
    fill(xv, 3 * K, 43);
    for (int64_t rows = 1; rows <= 3; rows += 2) {
        const int64_t dx[2] = {rows, K}, dy[2] = {rows, N};
        gb g;
        gb_init(&g, "gemv_large");
        gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
        gb_init_f32(&g, "g", 2, dg, w, 1);
        gb_init_f32(&g, "b", 1, db, bias, 1);
        /* the builder's initializers hold a few thousand values: point these at
         * the full arrays (serialized by gb_load) */
        g.inits[0].float_data = w;
        g.inits[0].n_float_data = (size_t)N * K;
        g.inits[1].float_data = bias;
        g.inits[1].n_float_data = N;
        int gm = gb_node(&g, "Gemm", 3, 1, "x", "g", "b", "z");
        gb_attr_int(&g, gm, "transB", 1);
        gb_node(&g, "Relu", 1, 1, "z", "y");
        gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
        fy_tensor x = kh_f32(xv, 2, dx);
        result r = check_graph(&g, 13, 1, &x, 1); /* fast vs reference within 1e-4 inside */
        FY_CHECK(r.ok);
        FY_CHECK_STR(r.ops, "FusedGemm");
    }
    free(w);
    free(bias);
}

/* The chain stops where a value is also a graph output or read by another node. */
TEST(values_read_elsewhere_stop_the_fusion)
{
    static const int64_t dx[2] = {2, 4}, dw[2] = {4, 3}, db[1] = {3}, dy[2] = {2, 3};
    float w[12], b[3], xv[8];
    fill(w, 12, 16);
    fill(b, 3, 17);
    fill(xv, 8, 18);
    gb g;
    gb_init(&g, "keep");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w", 2, dw, w, 12);
    gb_init_f32(&g, "b", 1, db, b, 3);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "m");
    gb_node(&g, "Add", 2, 1, "m", "b", "h");
    gb_node(&g, "Relu", 1, 1, "h", "y");
    gb_node(&g, "Sigmoid", 1, 1, "m", "s"); /* m read twice: no bias fusion */
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    gb_output(&g, "s", FY_DTYPE_F32, 2, dy);
    fy_tensor x = kh_f32(xv, 2, dx);
    result r = check_graph(&g, 13, 1, &x, 2);
    FY_CHECK(r.ok);
    FY_CHECK_EQ(r.n_nodes, 4); /* MatMul Add Relu Sigmoid, in the loader's order */
    FY_CHECK_EQ(r.st.fused, 0);

    gb_init(&g, "keep_output");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w", 2, dw, w, 12);
    gb_init_f32(&g, "b", 1, db, b, 3);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "m");
    gb_node(&g, "Add", 2, 1, "m", "b", "h");
    gb_node(&g, "Relu", 1, 1, "h", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    gb_output(&g, "h", FY_DTYPE_F32, 2, dy); /* the pre-activation is an output */
    r = check_graph(&g, 13, 1, &x, 2);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "FusedMatMul Relu");
    FY_CHECK(r.max_diff == 0);
}

TEST(weights_computed_at_run_time_are_not_fused)
{
    static const int64_t dx[4] = {1, 1, 3, 3}, dw[4] = {2, 1, 2, 2}, dy[4] = {1, 2, 2, 2};
    float xv[9], w[8];
    fill(xv, 9, 19);
    fill(w, 8, 20);
    gb g;
    gb_init(&g, "dynamic_w");
    gb_input(&g, "x", FY_DTYPE_F32, 4, dx);
    gb_input(&g, "w", FY_DTYPE_F32, 4, dw);
    gb_node(&g, "Conv", 2, 1, "x", "w", "c");
    gb_node(&g, "Relu", 1, 1, "c", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 4, dy);
    fy_tensor in[2] = {kh_f32(xv, 4, dx), kh_f32(w, 4, dw)};
    result r = check_graph(&g, 13, 2, in, 1);
    FY_CHECK(r.ok);
    FY_CHECK_STR(r.ops, "Conv Relu");
}

TEST(the_environment_switch_turns_the_passes_off)
{
    static const int64_t d3[1] = {3};
    float a[3] = {1, 2, 3};
    gb g;
    gb_init(&g, "env");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    gb_init_f32(&g, "a", 1, d3, a, 3);
    gb_node(&g, "Neg", 1, 1, "a", "na");
    gb_node(&g, "Add", 2, 1, "x", "na", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 1, d3);
    fy_diag d;
    fy_model *m = gb_load(&g, 13, &d);
    FY_CHECK(m != NULL);
    fy_session *s = NULL;
    setenv("FERRY_NO_OPTIMIZE", "1", 1);
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy__session_graph(s, NULL)->n_nodes, 2);
    fy_session_free(s);
    unsetenv("FERRY_NO_OPTIMIZE");
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy__session_graph(s, NULL)->n_nodes, 1);
    fy_session_free(s);
    fy_model_free(m);
}

/* Every allocation while optimizing may fail: FY_ENOMEM, nothing leaked (ASan). */
TEST(allocation_failures_while_optimizing_are_enomem)
{
    static const int64_t dx[4] = {1, 2, 5, 5}, dw[4] = {3, 2, 3, 3}, dc[1] = {3};
    float w[54], sc[3] = {1, 1, 1}, bi[3] = {0, 0, 0}, mean[3] = {0, 0, 0}, var[3] = {1, 1, 1};
    fill(w, 54, 21);
    gb g;
    gb_init(&g, "oom");
    gb_input(&g, "x", FY_DTYPE_F32, 4, dx);
    gb_init_f32(&g, "w", 4, dw, w, 54);
    gb_init_f32(&g, "scale", 1, dc, sc, 3);
    gb_init_f32(&g, "bias", 1, dc, bi, 3);
    gb_init_f32(&g, "mean", 1, dc, mean, 3);
    gb_init_f32(&g, "var", 1, dc, var, 3);
    gb_node(&g, "Identity", 1, 1, "x", "xi");
    gb_node(&g, "Conv", 2, 1, "xi", "w", "c");
    gb_node(&g, "BatchNormalization", 5, 1, "c", "scale", "bias", "mean", "var", "bn");
    gb_node(&g, "Relu", 1, 1, "bn", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 4, dx);
    fy_diag d;
    fy_model *m = gb_load(&g, 15, &d);
    FY_CHECK(m != NULL);
    int ok = 0;
    for (long n = 1; n < 200 && !ok; n++) {
        fy_session *s = NULL;
        fy__alloc_fail_at(n);
        int rc = fy_session_create(&s, m, NULL, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            ok = 1;
            FY_CHECK_EQ(fy__session_graph(s, NULL)->n_nodes, 1);
            fy_session_free(s);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
        }
    }
    FY_CHECK(ok);
    fy_model_free(m);
}

int main(void)
{
    RUN(conv_batchnorm_relu_becomes_one_fused_conv);
    RUN(conv_residual_relu_fuses_with_the_skip_as_fourth_input);
    RUN(matmul_bias_erf_gelu_becomes_one_fused_matmul);
    RUN(tanh_gelu_is_recognized);
    RUN(layernorm_decomposition_becomes_layernormalization);
    RUN(scaled_dot_product_attention_becomes_one_node);
    RUN(multi_head_attention_takes_in_its_transposes);
    RUN(constants_fold_identities_go_and_dead_nodes_are_removed);
    RUN(matmul_bias_residual_relu_fuse_into_four_inputs);
    RUN(few_row_products_match_the_reference);
    RUN(large_transposed_gemm_rows_match_the_reference);
    RUN(values_read_elsewhere_stop_the_fusion);
    RUN(weights_computed_at_run_time_are_not_fused);
    RUN(the_environment_switch_turns_the_passes_off);
    RUN(allocation_failures_while_optimizing_are_enomem);
    return TEST_SUMMARY();
}
