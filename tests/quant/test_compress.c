/* SPDX-License-Identifier: MIT */
/* Compression methods on small models against hand-computed results: pruning
 * masks, int8 scales and zero points, calibration ranges, k-means codebooks,
 * structured pruning shapes and outputs, and quantized models running in the
 * engine. */
#include <stdlib.h>
#include <string.h>

#include "../../src/core/core.h"
#include "../../src/quant/quant_int.h"
#include "ferry/compress.h"
#include "ferry/engine.h"
#include "test.h"

/* ---- building models with the same helpers compression uses ---- */

static Onnx__ValueInfoProto *vi(const char *name, int rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = fy__calloc(1, sizeof *v);
    Onnx__TypeProto *t = fy__calloc(1, sizeof *t);
    Onnx__TypeProto__Tensor *tt = fy__calloc(1, sizeof *tt);
    Onnx__TensorShapeProto *sh = fy__calloc(1, sizeof *sh);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    v->name = fy__strdup(name);
    v->type = t;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = 1;
    tt->shape = sh;
    sh->dim = fy__calloc((size_t)rank + 1, sizeof *sh->dim);
    sh->n_dim = (size_t)rank;
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *dm = fy__calloc(1, sizeof *dm);
        onnx__tensor_shape_proto__dimension__init(dm);
        if (dims[i] < 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = fy__strdup("N");
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = dims[i];
        }
        sh->dim[i] = dm;
    }
    return v;
}

static void start(qmodel *q, int in_rank, const int64_t *in_dims, int out_rank,
                  const int64_t *out_dims)
{
    static fy_diag d;
    memset(q, 0, sizeof *q);
    q->d = &d;
    q->mp = fy__calloc(1, sizeof *q->mp);
    onnx__model_proto__init(q->mp);
    q->mp->has_ir_version = 1;
    q->mp->ir_version = 7;
    q->mp->opset_import = fy__calloc(1, sizeof *q->mp->opset_import);
    q->mp->opset_import[0] = fy__calloc(1, sizeof **q->mp->opset_import);
    onnx__operator_set_id_proto__init(q->mp->opset_import[0]);
    q->mp->opset_import[0]->has_version = 1;
    q->mp->opset_import[0]->version = 13;
    q->mp->n_opset_import = 1;
    q->g = q->mp->graph = fy__calloc(1, sizeof *q->g);
    onnx__graph_proto__init(q->g);
    q->g->name = fy__strdup("test");
    q->g->input = fy__calloc(1, sizeof *q->g->input);
    q->g->input[0] = vi("x", in_rank, in_dims);
    q->g->n_input = 1;
    q->g->output = fy__calloc(1, sizeof *q->g->output);
    q->g->output[0] = vi("y", out_rank, out_dims);
    q->g->n_output = 1;
}

static void add_node(qmodel *q, const char *op, int n_in, const char *const *in, const char *out)
{
    int at = (int)q->g->n_node;
    fy__q_add_node(q, at, op, "", n_in, in, 1, (const char *[]){out});
    char name[64];
    snprintf(name, sizeof name, "%s%d", op, at);
    fy__free(q->g->node[at]->name);
    q->g->node[at]->name = fy__strdup(name);
}

static uint8_t *finish(qmodel *q, size_t *len)
{
    void *b = NULL;
    FY_CHECK_EQ(fy__q_pack(q, &b, len), FY_OK);
    fy__q_close(q);
    return b;
}

/* x[N,4] -> Gemm(W1[3,4], b1, transB) -> Relu -> Gemm(W2[2,3], b2, transB) -> y[N,2] */
static const float W1[12] = {1.0f,  -0.5f, 0.25f, 0.1f,  0.2f,   0.4f,
                             -0.8f, 0.6f,  0.01f, 0.02f, -0.01f, 0.03f};
static const float B1[3] = {0.1f, -0.2f, 0.3f};
static const float W2[6] = {0.5f, -1.0f, 0.7f, 0.3f, 0.9f, 0.0f};
static const float B2[2] = {0.05f, -0.05f};

static uint8_t *mlp(size_t *len)
{
    qmodel q;
    int64_t in[2] = {-1, 4}, out[2] = {-1, 2};
    start(&q, 2, in, 2, out);
    fy__q_add_init(&q, "W1", 1, 2, (int64_t[]){3, 4}, W1);
    fy__q_add_init(&q, "b1", 1, 1, (int64_t[]){3}, B1);
    fy__q_add_init(&q, "W2", 1, 2, (int64_t[]){2, 3}, W2);
    fy__q_add_init(&q, "b2", 1, 1, (int64_t[]){2}, B2);
    add_node(&q, "Gemm", 3, (const char *[]){"x", "W1", "b1"}, "h");
    fy__q_attr_int(&q, 0, "transB", 1);
    add_node(&q, "Relu", 1, (const char *[]){"h"}, "r");
    add_node(&q, "Gemm", 3, (const char *[]){"r", "W2", "b2"}, "y");
    fy__q_attr_int(&q, 2, "transB", 1);
    return finish(&q, len);
}

/* Run a model on x [n, k] floats; returns the first output's data (malloc'd). */
static float *run(const void *buf, size_t len, const float *x, int rank, const int64_t *dims,
                  int64_t *out_count)
{
    fy_model *m = NULL;
    fy_session *s = NULL;
    fy_diag d = {{0}};
    float *res = NULL;
    if (fy_model_load_buffer(&m, buf, len, NULL, NULL, &d) != FY_OK ||
        fy_session_create(&s, m, NULL, &d) != FY_OK) {
        fprintf(stderr, "load: %s\n", d.msg);
        fy_model_free(m);
        return NULL;
    }
    fy_tensor in = {0}, out = {0};
    fy_tensor_alloc(&in, FY_DTYPE_F32, rank, dims, NULL);
    memcpy(in.data, x, fy_tensor_nbytes(&in));
    if (fy_session_run(s, 1, &in, 1, &out, &d) == FY_OK) {
        *out_count = fy_tensor_numel(&out);
        res = malloc(fy_tensor_nbytes(&out));
        memcpy(res, out.data, fy_tensor_nbytes(&out));
        fy_tensor_deinit(&out);
    } else {
        fprintf(stderr, "run: %s\n", d.msg);
    }
    fy_tensor_deinit(&in);
    fy_session_free(s);
    fy_model_free(m);
    return res;
}

/* The initializer's float data of a compressed model, by name. */
static int init_f32(const void *buf, size_t len, const char *name, float *out, int64_t *dims,
                    int *rank)
{
    qmodel q;
    fy_diag d;
    if (fy__q_open(&q, buf, len, &d) != FY_OK)
        return -1;
    int i = fy__q_find_init(&q, name), rc = -1;
    float *w = NULL;
    int64_t n;
    if (i >= 0 && fy__q_init_f32(&q, i, &w, &n, rank, dims) == FY_OK) {
        memcpy(out, w, (size_t)n * sizeof(float));
        fy__free(w);
        rc = (int)n;
    }
    fy__q_close(&q);
    return rc;
}

static int count_op(const void *buf, size_t len, const char *op)
{
    qmodel q;
    fy_diag d;
    int n = 0;
    if (fy__q_open(&q, buf, len, &d) != FY_OK)
        return -1;
    for (size_t i = 0; i < q.g->n_node; i++)
        n += strcmp(q.g->node[i]->op_type, op) == 0;
    fy__q_close(&q);
    return n;
}

/* ---- pure functions ---- */

TEST(prune_mask_by_hand)
{
    const float w[5] = {1.0f, -0.5f, 0.2f, -0.05f, -0.31f};
    uint8_t keep[5];
    fy__prune_mask(w, 5, 0.3, keep);
    /* |w| / max|w| = 1, 0.5, 0.2, 0.05, 0.31: kept above 0.3 */
    FY_CHECK_EQ(keep[0], 1);
    FY_CHECK_EQ(keep[1], 1);
    FY_CHECK_EQ(keep[2], 0);
    FY_CHECK_EQ(keep[3], 0);
    FY_CHECK_EQ(keep[4], 1);
    const float z[2] = {0, 0};
    fy__prune_mask(z, 2, 0.0, keep);
    FY_CHECK_EQ(keep[0] + keep[1], 0);
}

TEST(weight_scales_by_hand)
{
    /* row 0: max 1.27 -> scale 0.01; row 1: max 0.254 -> 0.002; row 2 zeros -> 1 */
    const float w[6] = {1.27f, -0.5f, 0.254f, 0.1f, 0, 0};
    int8_t q[6];
    float s[3];
    fy__quant_weights(w, 3, 2, q, s);
    FY_CHECK_NEAR(s[0], 0.01, 1e-7);
    FY_CHECK_NEAR(s[1], 0.002, 1e-8);
    FY_CHECK_NEAR(s[2], 1.0, 0);
    FY_CHECK_EQ(q[0], 127);
    FY_CHECK_EQ(q[1], -50);
    FY_CHECK_EQ(q[2], 127);
    FY_CHECK_EQ(q[3], 50);
    FY_CHECK_EQ(q[4], 0);
}

TEST(activation_scale_and_zero_point_by_hand)
{
    float s;
    uint8_t zp;
    fy__quant_params(0.0f, 2.55f, &s, &zp);
    FY_CHECK_NEAR(s, 0.01, 1e-7);
    FY_CHECK_EQ(zp, 0);
    fy__quant_params(-1.0f, 1.55f, &s, &zp); /* (1.55 + 1) / 255 = 0.01, zp = 1 / 0.01 */
    FY_CHECK_NEAR(s, 0.01, 1e-7);
    FY_CHECK_EQ(zp, 100);
    fy__quant_params(2.0f, 3.0f, &s, &zp); /* widened to [0, 3] */
    FY_CHECK_NEAR(s, 3.0 / 255, 1e-7);
    FY_CHECK_EQ(zp, 0);
    fy__quant_params(-2.0f, -1.0f, &s, &zp); /* widened to [-2, 0]: zero at the top */
    FY_CHECK_EQ(zp, 255);
    fy__quant_params(0.0f, 0.0f, &s, &zp);
    FY_CHECK_NEAR(s, 1.0, 0);
}

TEST(calibration_ranges_by_hand)
{
    static double hist[2048];
    memset(hist, 0, sizeof hist);
    hist[100] = 9999; /* |x| in bin 100 of width 1 (amax 2048) */
    hist[2047] = 1;   /* one outlier */
    float mn, mx;
    fy__calib_pick(hist, 2048, 0.0f, 2048.0f, FY_CALIB_MINMAX, &mn, &mx);
    FY_CHECK_NEAR(mx, 2048, 0);
    /* 99.99% of 10000 = 9999 values are reached at the end of bin 100 */
    fy__calib_pick(hist, 2048, 0.0f, 2048.0f, FY_CALIB_PERCENTILE, &mn, &mx);
    FY_CHECK_NEAR(mn, 0, 0);
    FY_CHECK_NEAR(mx, 101, 1e-3);
    /* signed data: the threshold clips both sides */
    fy__calib_pick(hist, 2048, -2048.0f, 1024.0f, FY_CALIB_PERCENTILE, &mn, &mx);
    FY_CHECK_NEAR(mn, -101, 1e-3);
    FY_CHECK_NEAR(mx, 101, 1e-3);
    /* entropy: a sloped bulk in bins 0..199 plus one far outlier. Covering the
     * outlier makes every step 16 bins wide and flattens the slope (KL > 0);
     * stopping near the bulk keeps it (the outlier costs only its one count). */
    memset(hist, 0, sizeof hist);
    for (int k = 0; k < 200; k++)
        hist[k] = 200 - k;
    hist[2047] = 1;
    fy__calib_pick(hist, 2048, 0.0f, 2048.0f, FY_CALIB_ENTROPY, &mn, &mx);
    FY_CHECK(mx < 1024);
    FY_CHECK(mx >= 128);
    /* a histogram the grid fits exactly loses nothing at full range: no clipping */
    memset(hist, 0, sizeof hist);
    hist[100] = 9999;
    hist[2047] = 1;
    fy__calib_pick(hist, 2048, 0.0f, 2048.0f, FY_CALIB_ENTROPY, &mn, &mx);
    FY_CHECK_NEAR(mx, 2048, 0);
}

TEST(kmeans_by_hand)
{
    const float x[6] = {0.1f, 0.9f, 0.2f, 1.0f, 0.15f, 0.95f};
    float cb[4];
    uint8_t idx[6];
    int used = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        FY_CHECK_EQ(fy__kmeans(x, 6, 2, seed, cb, &used, idx), FY_OK);
        FY_CHECK_EQ(used, 2);
        FY_CHECK_NEAR(cb[0], 0.15, 1e-6);
        FY_CHECK_NEAR(cb[1], 0.95, 1e-6);
        FY_CHECK_EQ(idx[0], 0);
        FY_CHECK_EQ(idx[1], 1);
        FY_CHECK_EQ(idx[2], 0);
        FY_CHECK_EQ(idx[3], 1);
    }
    /* fewer distinct values than clusters: one centroid per value */
    const float same[3] = {2.0f, 2.0f, 2.0f};
    FY_CHECK_EQ(fy__kmeans(same, 3, 4, 7, cb, &used, idx), FY_OK);
    FY_CHECK_EQ(used, 1);
    FY_CHECK_NEAR(cb[0], 2.0, 0);
    FY_CHECK_EQ(fy__kmeans(same, 0, 4, 7, cb, &used, idx), FY_EINVAL);
}

/* ---- whole models ---- */

static const float X[8] = {0.5f, 1.0f, 0.0f, 0.25f, 0.75f, 0.1f, 0.9f, 0.3f};

TEST(prune_model_zeroes_by_mask)
{
    size_t len, ol;
    uint8_t *m = mlp(&len);
    void *out = NULL;
    fy_compress_opts o = {0};
    o.prune = 0.3;
    fy_compress_result *res = calloc(1, sizeof *res);
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, res, &d), FY_OK);
    float w[16];
    int64_t dims[8];
    int rank;
    FY_CHECK_EQ(init_f32(out, ol, "W1", w, dims, &rank), 12);
    /* max|W1| = 1: kept where |w| > 0.3 */
    const float want[12] = {1.0f, -0.5f, 0, 0, 0, 0.4f, -0.8f, 0.6f, 0, 0, 0, 0};
    for (int i = 0; i < 12; i++)
        FY_CHECK_NEAR(w[i], want[i], 0);
    FY_CHECK_EQ(init_f32(out, ol, "b1", w, dims, &rank), 3); /* biases untouched */
    FY_CHECK_NEAR(w[2], 0.3f, 0);
    FY_CHECK_EQ(res->n_layers, 2);
    FY_CHECK_EQ(res->layers[0].nonzero_before, 12);
    FY_CHECK_EQ(res->layers[0].nonzero_after, 5);
    FY_CHECK_STR(res->methods[0], "prune");
    fy_compress_free_buf(out);
    /* --exclude leaves the named layer alone */
    const char *ex[1] = {"W1"};
    o.exclude = ex;
    o.n_exclude = 1;
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, res, &d), FY_OK);
    FY_CHECK_EQ(init_f32(out, ol, "W1", w, dims, &rank), 12);
    FY_CHECK_NEAR(w[11], 0.03f, 0);
    FY_CHECK_STR(res->layers[0].method, "excluded");
    fy_compress_free_buf(out);
    free(res);
    fy__free(m);
}

TEST(global_prune_hits_exact_sparsity)
{
    size_t len, ol;
    uint8_t *m = mlp(&len);
    void *out = NULL;
    fy_compress_opts o = {0};
    o.prune_global = 0.5; /* 18 weights: the 9 smallest |w| go */
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_OK);
    float w1[12], w2[6];
    int64_t dims[8];
    int rank;
    init_f32(out, ol, "W1", w1, dims, &rank);
    init_f32(out, ol, "W2", w2, dims, &rank);
    int zeros = 0;
    for (int i = 0; i < 12; i++)
        zeros += w1[i] == 0;
    for (int i = 0; i < 6; i++)
        zeros += w2[i] == 0;
    FY_CHECK_EQ(zeros, 9);
    /* sorted |w|: 0 .01 .01 .02 .03 .1 .2 .25 .3 | .4 .5 .5 .6 .7 .8 .9 1 1 */
    FY_CHECK_NEAR(w1[5], 0.4f, 0);
    FY_CHECK_NEAR(w1[4], 0.0f, 0);
    FY_CHECK_NEAR(w2[3], 0.0f, 0);
    fy_compress_free_buf(out);
    fy__free(m);
}

TEST(structured_prune_shrinks_and_keeps_outputs)
{
    size_t len, ol;
    /* Hidden neuron 2 (W1 row 2, L1 0.07) is the weakest: removing 1 of 3 (0.34)
     * drops it. W2's column 2 is made zero so the outputs must not change. */
    qmodel q;
    int64_t in[2] = {-1, 4}, outd[2] = {-1, 2};
    start(&q, 2, in, 2, outd);
    float w2[6] = {0.5f, -1.0f, 0.0f, 0.3f, 0.9f, 0.0f};
    fy__q_add_init(&q, "W1", 1, 2, (int64_t[]){3, 4}, W1);
    fy__q_add_init(&q, "b1", 1, 1, (int64_t[]){3}, B1);
    fy__q_add_init(&q, "W2", 1, 2, (int64_t[]){2, 3}, w2);
    fy__q_add_init(&q, "b2", 1, 1, (int64_t[]){2}, B2);
    add_node(&q, "Gemm", 3, (const char *[]){"x", "W1", "b1"}, "h");
    fy__q_attr_int(&q, 0, "transB", 1);
    add_node(&q, "Relu", 1, (const char *[]){"h"}, "r");
    add_node(&q, "Gemm", 3, (const char *[]){"r", "W2", "b2"}, "y");
    fy__q_attr_int(&q, 2, "transB", 1);
    uint8_t *m = finish(&q, &len);
    void *out = NULL;
    fy_compress_opts o = {0};
    o.prune_structured = 0.34;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_OK);
    float w[16];
    int64_t dims[8];
    int rank;
    FY_CHECK_EQ(init_f32(out, ol, "W1", w, dims, &rank), 8);
    FY_CHECK_EQ(dims[0], 2);
    FY_CHECK_EQ(dims[1], 4);
    FY_CHECK_NEAR(w[4], 0.2f, 0); /* row 1 kept in place */
    FY_CHECK_EQ(init_f32(out, ol, "b1", w, dims, &rank), 2);
    FY_CHECK_NEAR(w[1], -0.2f, 0);
    FY_CHECK_EQ(init_f32(out, ol, "W2", w, dims, &rank), 4);
    FY_CHECK_EQ(dims[1], 2);
    FY_CHECK_NEAR(w[2], 0.3f, 0);
    int64_t xd[2] = {2, 4}, n1 = 0, n2 = 0;
    float *a = run(m, len, X, 2, xd, &n1), *b = run(out, ol, X, 2, xd, &n2);
    FY_CHECK(a && b);
    FY_CHECK_EQ(n1, n2);
    for (int64_t i = 0; a && b && i < n1; i++)
        FY_CHECK_NEAR(a[i], b[i], 1e-6);
    free(a);
    free(b);
    fy_compress_free_buf(out);
    fy__free(m);
}

/* x[N,1,4,4] -> Conv(2 ch, 3x3) -> Relu -> Flatten -> Gemm(W[3, 8], transB) -> y */
TEST(structured_prune_conv_through_flatten)
{
    size_t len, ol;
    qmodel q;
    int64_t in[4] = {-1, 1, 4, 4}, outd[2] = {-1, 3};
    start(&q, 4, in, 2, outd);
    float cw[18], cb[2] = {0.1f, 0.0f}, gw[24], gb[3] = {0, 0.5f, -0.5f};
    for (int i = 0; i < 9; i++) {
        cw[i] = 0.1f * (float)(i + 1) - 0.3f; /* channel 0: L1 large */
        cw[9 + i] = 0.001f * (float)(i + 1);  /* channel 1: tiny */
    }
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 8; k++) /* inputs 4..7 come from channel 1: zero */
            gw[r * 8 + k] = k < 4 ? 0.1f * (float)(r + k) : 0.0f;
    fy__q_add_init(&q, "CW", 1, 4, (int64_t[]){2, 1, 3, 3}, cw);
    fy__q_add_init(&q, "CB", 1, 1, (int64_t[]){2}, cb);
    fy__q_add_init(&q, "GW", 1, 2, (int64_t[]){3, 8}, gw);
    fy__q_add_init(&q, "GB", 1, 1, (int64_t[]){3}, gb);
    add_node(&q, "Conv", 3, (const char *[]){"x", "CW", "CB"}, "c");
    add_node(&q, "Relu", 1, (const char *[]){"c"}, "r");
    add_node(&q, "Flatten", 1, (const char *[]){"r"}, "f");
    add_node(&q, "Gemm", 3, (const char *[]){"f", "GW", "GB"}, "y");
    fy__q_attr_int(&q, 3, "transB", 1);
    uint8_t *m = finish(&q, &len);
    void *out = NULL;
    fy_compress_opts o = {0};
    o.prune_structured = 0.5;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_OK);
    float w[32];
    int64_t dims[8];
    int rank;
    FY_CHECK_EQ(init_f32(out, ol, "CW", w, dims, &rank), 9);
    FY_CHECK_EQ(dims[0], 1);
    FY_CHECK_EQ(init_f32(out, ol, "GW", w, dims, &rank), 12);
    FY_CHECK_EQ(dims[1], 4);
    float xin[32];
    for (int i = 0; i < 32; i++)
        xin[i] = (float)((i * 7) % 11) / 10.0f;
    int64_t xd[4] = {2, 1, 4, 4}, n1 = 0, n2 = 0;
    float *a = run(m, len, xin, 4, xd, &n1), *b = run(out, ol, xin, 4, xd, &n2);
    FY_CHECK(a && b);
    FY_CHECK_EQ(n1, 6);
    FY_CHECK_EQ(n2, 6);
    for (int64_t i = 0; a && b && i < n1; i++)
        FY_CHECK_NEAR(a[i], b[i], 1e-6);
    free(a);
    free(b);
    /* int8 static on the conv model: QLinearConv (the ReLU folded into its uint8
     * output), Flatten on uint8, MatMulInteger: all run in the engine */
    fy_dataset ds = {0};
    int64_t sd[4] = {4, 1, 4, 4}, ld[1] = {4};
    fy_tensor_alloc(&ds.samples, FY_DTYPE_U8, 4, sd, NULL);
    fy_tensor_alloc(&ds.labels, FY_DTYPE_I64, 1, ld, NULL);
    for (int i = 0; i < 64; i++)
        ((uint8_t *)ds.samples.data)[i] = (uint8_t)((i * 37) % 256);
    ds.count = 4;
    fy_compress_opts o2 = {0};
    o2.quantize = FY_QUANT_INT8;
    o2.calibration = &ds;
    o2.int8_min_k = -1; /* every Conv, K = 9 too */
    void *qo = NULL;
    size_t ql;
    FY_CHECK_EQ(fy_compress_model(m, len, &o2, &qo, &ql, NULL, &d), FY_OK);
    FY_CHECK_EQ(count_op(qo, ql, "QLinearConv"), 1);
    FY_CHECK_EQ(count_op(qo, ql, "MatMulInteger"), 1);
    FY_CHECK_EQ(count_op(qo, ql, "Conv"), 0);
    FY_CHECK_EQ(count_op(qo, ql, "Relu"), 0);
    FY_CHECK_EQ(count_op(qo, ql, "QuantizeLinear"), 1);   /* the model's input only */
    FY_CHECK_EQ(count_op(qo, ql, "DequantizeLinear"), 0); /* uint8 flows into the Gemm */
    float xs[16];
    for (int i = 0; i < 16; i++)
        xs[i] = (float)((i * 37) % 256) / 255.0f; /* sample 0 of the calibration set */
    int64_t x1[4] = {1, 1, 4, 4};
    a = run(m, len, xs, 4, x1, &n1);
    b = run(qo, ql, xs, 4, x1, &n2);
    FY_CHECK(a && b);
    for (int64_t i = 0; a && b && i < n1; i++)
        FY_CHECK_NEAR(a[i], b[i], 0.02);
    free(a);
    free(b);
    fy_compress_free_buf(qo);
    /* a Conv with C * kh * kw = 9 < 32 stays float with --int8-min-k 32, and by
     * default when no MaxPool follows it (Relu -> Flatten here); the Gemm is int8 */
    for (int k = 0; k < 2; k++) {
        o2.int8_min_k = k ? 32 : 0;
        fy_compress_result *res = calloc(1, sizeof *res);
        FY_CHECK_EQ(fy_compress_model(m, len, &o2, &qo, &ql, res, &d), FY_OK);
        FY_CHECK_EQ(count_op(qo, ql, "Conv"), 1);
        FY_CHECK_EQ(count_op(qo, ql, "QLinearConv"), 0);
        FY_CHECK_EQ(count_op(qo, ql, "MatMulInteger"), 1);
        FY_CHECK_STR(res->layers[0].method, "float (short dot products)");
        free(res);
        fy_compress_free_buf(qo);
    }
    fy_dataset_deinit(&ds);
    fy_compress_free_buf(out);
    fy__free(m);
}

TEST(int8_models_run_close_to_float)
{
    size_t len, ol;
    uint8_t *m = mlp(&len);
    fy_dataset ds = {0};
    int64_t sd[2] = {2, 4}, ld[1] = {2};
    fy_tensor_alloc(&ds.samples, FY_DTYPE_U8, 2, sd, NULL);
    fy_tensor_alloc(&ds.labels, FY_DTYPE_I64, 1, ld, NULL);
    for (int i = 0; i < 8; i++)
        ((uint8_t *)ds.samples.data)[i] = (uint8_t)(X[i] * 255.0f + 0.5f);
    ds.count = 2;
    int64_t xd[2] = {2, 4}, n1 = 0, n2 = 0;
    float *a = run(m, len, X, 2, xd, &n1);
    for (int mode = FY_QUANT_INT8; mode <= FY_QUANT_BF16; mode++) {
        fy_compress_opts o = {0};
        o.quantize = (fy_quant_mode)mode;
        o.calibration = &ds;
        void *out = NULL;
        fy_diag d = {{0}};
        fy_compress_result *res = calloc(1, sizeof *res);
        FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, res, &d), FY_OK);
        if (!out) {
            fprintf(stderr, "mode %d: %s\n", mode, d.msg);
            free(res);
            continue;
        }
        if (mode == FY_QUANT_INT8 || mode == FY_QUANT_INT8_DYNAMIC) {
            FY_CHECK_EQ(count_op(out, ol, "MatMulInteger"), 2);
            FY_CHECK_EQ(count_op(out, ol, "Gemm"), 0);
            FY_CHECK_EQ(
                count_op(out, ol,
                         mode == FY_QUANT_INT8 ? "QuantizeLinear" : "DynamicQuantizeLinear"),
                2);
            /* W1 row 0: max 1 -> scale 1/127; -0.5 -> -64 (round half to even of -63.5) */
            FY_CHECK_NEAR(res->layers[0].max_abs_err, 0.5 / 127, 1e-6);
        } else {
            FY_CHECK_EQ(count_op(out, ol, "Cast"), 0); /* tensors under 16 values stay float */
        }
        float *b = run(out, ol, X, 2, xd, &n2);
        FY_CHECK(a && b);
        FY_CHECK_EQ(n1, n2);
        for (int64_t i = 0; a && b && i < n1; i++)
            FY_CHECK_NEAR(a[i], b[i], 0.03);
        free(b);
        free(res);
        fy_compress_free_buf(out);
    }
    free(a);
    fy_dataset_deinit(&ds);
    fy__free(m);
}

TEST(weight_sharing_codebook_and_exact_expansion)
{
    /* W1 holds two distinct values and zeros: 1 bit (2 values) is exact, the
     * zeros keeping their own centroid makes 3 entries (k - 1 = 1 for the rest). */
    qmodel q;
    int64_t in[2] = {-1, 4}, outd[2] = {-1, 2};
    start(&q, 2, in, 2, outd);
    float w[32];
    for (int i = 0; i < 32; i++)
        w[i] = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? 0.5f : -0.25f);
    fy__q_add_init(&q, "W", 1, 2, (int64_t[]){4, 8}, w);
    add_node(&q, "MatMul", 2, (const char *[]){"x", "W"}, "y8");
    fy__q_add_init(&q, "W2", 1, 2, (int64_t[]){8, 2}, w);
    add_node(&q, "MatMul", 2, (const char *[]){"y8", "W2"}, "y");
    size_t len, ol;
    uint8_t *m = finish(&q, &len);
    fy_compress_opts o = {0};
    o.share_bits = 2;
    void *out = NULL;
    fy_diag d = {{0}};
    fy_compress_result *res = calloc(1, sizeof *res);
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, res, &d), FY_OK);
    float cb[8];
    int64_t dims[8];
    int rank;
    FY_CHECK_EQ(init_f32(out, ol, "W_codebook", cb, dims, &rank), 3);
    FY_CHECK_NEAR(cb[0], -0.25, 0);
    FY_CHECK_NEAR(cb[1], 0.0, 0);
    FY_CHECK_NEAR(cb[2], 0.5, 0);
    FY_CHECK_EQ(count_op(out, ol, "Gather"), 2);
    FY_CHECK_NEAR(res->layers[0].max_abs_err, 0, 0);
    FY_CHECK_EQ(res->layers[0].nonzero_after, res->layers[0].nonzero_before);
    int64_t xd[2] = {2, 4}, n1 = 0, n2 = 0;
    float *a = run(m, len, X, 2, xd, &n1), *b = run(out, ol, X, 2, xd, &n2);
    FY_CHECK(a && b);
    for (int64_t i = 0; a && b && i < n1; i++)
        FY_CHECK_NEAR(a[i], b[i], 0);
    /* counts: decoded non-zeros of the index tensors */
    fy_model *mm = NULL;
    fy_model_counts c0, c1;
    FY_CHECK_EQ(fy_model_load_buffer(&mm, m, len, NULL, NULL, &d), FY_OK);
    fy_compress_count(mm, &c0);
    fy_model_free(mm);
    FY_CHECK_EQ(fy_model_load_buffer(&mm, out, ol, NULL, NULL, &d), FY_OK);
    fy_compress_count(mm, &c1);
    fy_model_free(mm);
    FY_CHECK_EQ(c0.params, 48);
    FY_CHECK_EQ(c0.nonzero, 21 + 10); /* every third value of W (32) and W2 (16) is 0 */
    FY_CHECK_EQ(c1.params, 48 + 3 + 3);
    FY_CHECK_EQ(c1.nonzero, 31 + 2 + 2); /* plus each codebook's two non-zero entries */
    free(a);
    free(b);
    free(res);
    fy_compress_free_buf(out);
    fy__free(m);
}

/* QuantizeLinear's reference kernel has a typed loop for float32 with one scale
 * and zero point (static int8 activations); per-axis parameters take the generic
 * loop. Same values both ways, ties and saturation included. */
static void quantize_with(int per_axis, int8_t zp_i8, int is_signed, const float *x, int n,
                          uint8_t *out)
{
    qmodel q;
    int64_t d2[2] = {n / 4, 4};
    start(&q, 2, d2, 2, d2);
    float sc[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    uint8_t zpu[4] = {128, 128, 128, 128};
    int8_t zps[4] = {zp_i8, zp_i8, zp_i8, zp_i8};
    int64_t d4[1] = {4};
    fy__q_add_init(&q, "s", 1, per_axis ? 1 : 0, d4, sc);
    fy__q_add_init(&q, "z", is_signed ? 3 : 2, per_axis ? 1 : 0, d4,
                   is_signed ? (const void *)zps : (const void *)zpu);
    add_node(&q, "QuantizeLinear", 3, (const char *[]){"x", "s", "z"}, "y");
    q.g->output[0]->type->tensor_type->elem_type = is_signed ? 3 : 2;
    size_t len;
    uint8_t *m = finish(&q, &len);
    fy_model *mm = NULL;
    fy_session *ss = NULL;
    fy_diag d = {{0}};
    fy_tensor in = {0}, y = {0};
    FY_CHECK_EQ(fy_model_load_buffer(&mm, m, len, NULL, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy_session_create(&ss, mm, NULL, &d), FY_OK);
    fy_tensor_alloc(&in, FY_DTYPE_F32, 2, d2, NULL);
    memcpy(in.data, x, (size_t)n * sizeof(float));
    FY_CHECK_EQ(fy_session_run(ss, 1, &in, 1, &y, &d), FY_OK);
    if (y.data)
        memcpy(out, y.data, (size_t)n);
    fy_tensor_deinit(&in);
    fy_tensor_deinit(&y);
    fy_session_free(ss);
    fy_model_free(mm);
    fy__free(m);
}

TEST(quantize_linear_fast_path_matches_generic)
{
    float x[64];
    for (int i = 0; i < 60; i++) /* multiples of 0.25: many exact ties at scale 0.5 */
        x[i] = (float)(i - 30) * 0.25f * (i % 7 == 0 ? 40.0f : 1.0f);
    x[60] = 1e30f;
    x[61] = -1e30f;
    x[62] = NAN;
    x[63] = 0.75f;
    uint8_t a[64], b[64];
    for (int sgn = 0; sgn < 2; sgn++) {
        memset(a, 0, sizeof a);
        memset(b, 1, sizeof b);
        quantize_with(0, -3, sgn, x, 64, a);
        quantize_with(1, -3, sgn, x, 64, b);
        FY_CHECK(memcmp(a, b, sizeof a) == 0);
    }
    /* by hand (the signed run): 0.75 / 0.5 = 1.5 rounds to 2 (half to even), + zero point -3 */
    FY_CHECK_EQ(a[63], (uint8_t)(int8_t)(2 - 3));
}

TEST(bad_options_are_refused)
{
    size_t len, ol;
    uint8_t *m = mlp(&len);
    void *out = NULL;
    fy_diag d = {{0}};
    fy_compress_opts o = {0};
    o.prune = 1.0;
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_EINVAL);
    o.prune = 0;
    o.quantize = FY_QUANT_INT8; /* no calibration data */
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_EINVAL);
    o.quantize = FY_QUANT_FP16;
    o.share_bits = 3;
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_EINVAL);
    o.quantize = FY_QUANT_NONE;
    o.share_bits = 9;
    FY_CHECK_EQ(fy_compress_model(m, len, &o, &out, &ol, NULL, &d), FY_EINVAL);
    FY_CHECK(out == NULL);
    /* garbage bytes are the loader's error, not a crash */
    const char junk[] = "not a model";
    o.share_bits = 0;
    FY_CHECK(fy_compress_model(junk, sizeof junk, &o, &out, &ol, NULL, &d) != FY_OK);
    fy__free(m);
}

TEST(out_of_memory_leaks_nothing)
{
    size_t len, ol;
    uint8_t *m = mlp(&len);
    fy_compress_opts o = {0};
    o.prune = 0.1;
    o.share_bits = 2;
    int failures = 0;
    for (long n = 1; n < 4000; n++) {
        void *out = NULL;
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = fy_compress_model(m, len, &o, &out, &ol, NULL, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            fy_compress_free_buf(out);
            break;
        }
        failures += rc == FY_ENOMEM;
        FY_CHECK(rc == FY_ENOMEM || rc == FY_EPARSE);
    }
    FY_CHECK(failures > 10);
    fy__free(m);
}

int main(void)
{
    RUN(prune_mask_by_hand);
    RUN(weight_scales_by_hand);
    RUN(activation_scale_and_zero_point_by_hand);
    RUN(calibration_ranges_by_hand);
    RUN(kmeans_by_hand);
    RUN(prune_model_zeroes_by_mask);
    RUN(global_prune_hits_exact_sparsity);
    RUN(structured_prune_shrinks_and_keeps_outputs);
    RUN(structured_prune_conv_through_flatten);
    RUN(int8_models_run_close_to_float);
    RUN(weight_sharing_codebook_and_exact_expansion);
    RUN(quantize_linear_fast_path_matches_generic);
    RUN(bad_options_are_refused);
    RUN(out_of_memory_leaks_nothing);
    return TEST_SUMMARY();
}
