/* SPDX-License-Identifier: MIT */
/* Unit tests for src/ops/ref/reduce.c: hand-computed values for the reductions,
 * softmax family, norms, TopK, CumSum, losses, Einsum and Det, and their errors. */
#include <stdint.h>

#include "ops/kernel_harness.h"
#include "test.h"

static int64_t outl(const fy_tensor *t, int64_t i)
{
    return ((const int64_t *)t->data)[i];
}

/* ---------------------------------------------------------------- Reduce* */

TEST(reduce_sum_axes_input)
{
    float x[] = {1, 2, 3, 4, 5, 6};
    int64_t xd[] = {2, 3}, ax[] = {1}, ad[] = {1};
    fy_tensor tx = kh_f32(x, 2, xd), ta = kh_view(FY_DTYPE_I64, ax, 1, ad);
    const fy_tensor *in[] = {&tx, &ta};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "ReduceSum", 13);
    kh_attr_int(&k, "keepdims", 0);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 6, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 15, 1e-6);
    kh_free_outs(out, 1);
}

TEST(reduce_mean_last_axis_and_attr_versions)
{
    float x[] = {1, 2, 3, 4, 5, 6};
    int64_t xd[] = {2, 3}, ax[] = {-1}, ad[] = {1};
    fy_tensor tx = kh_f32(x, 2, xd), ta = kh_view(FY_DTYPE_I64, ax, 1, ad);
    const fy_tensor *in[] = {&tx, &ta};
    fy_tensor out[1] = {{0}};
    kh_node k;
    /* opset 18: axes from input 1 */
    kh_init(&k, "ReduceMean", 18);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_EQ(out[0].dims[1], 1);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 2, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 5, 1e-6);
    kh_free_outs(out, 1);
    /* opset 13: axes attribute; axis 0 */
    int64_t a0[] = {0};
    kh_init(&k, "ReduceMean", 13);
    kh_attr_ints(&k, "axes", a0, 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 1);
    FY_CHECK_EQ(out[0].dims[1], 3);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), 4.5, 1e-6);
    kh_free_outs(out, 1);
    /* opset 18 with the old attribute is an error naming it */
    fy_diag d = {{0}};
    kh_init(&k, "ReduceMean", 18);
    kh_attr_ints(&k, "axes", a0, 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'axes'");
    kh_free_outs(out, 1);
    /* opset 13 with an axes input is an error too */
    kh_init(&k, "ReduceMean", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "opset 18");
    kh_free_outs(out, 1);
}

TEST(reduce_all_default_and_noop)
{
    float x[] = {-1, 2, -3, 4};
    int64_t xd[] = {2, 2};
    fy_tensor tx = kh_f32(x, 2, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "ReduceL1", 18);
    kh_attr_int(&k, "keepdims", 0);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 10, 1e-6);
    kh_free_outs(out, 1);
    /* noop_with_empty_axes: nothing reduced, the per-element part still applies */
    kh_init(&k, "ReduceSumSquare", 18);
    kh_attr_int(&k, "noop_with_empty_axes", 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), 9, 1e-6);
    kh_free_outs(out, 1);
    kh_init(&k, "ReduceMax", 18);
    kh_attr_int(&k, "noop_with_empty_axes", 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -1, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 4, 1e-6);
    kh_free_outs(out, 1);
}

TEST(reduce_empty_set)
{
    float x[1] = {0};
    int64_t xd[] = {2, 0}, ax[] = {1}, ad[] = {1};
    fy_tensor tx = kh_f32(x, 2, xd), ta = kh_view(FY_DTYPE_I64, ax, 1, ad);
    const fy_tensor *in[] = {&tx, &ta};
    fy_tensor out[1] = {{0}};
    kh_node k;
    const char *ops[] = {"ReduceSum", "ReduceProd",      "ReduceMax",
                         "ReduceMin", "ReduceLogSumExp", "ReduceSumSquare"};
    double want[] = {0, 1, -INFINITY, INFINITY, -INFINITY, 0};
    for (int i = 0; i < 6; i++) {
        kh_init(&k, ops[i], 18);
        FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
        FY_CHECK_EQ(fy_tensor_numel(&out[0]), 2);
        FY_CHECK(kh_outf(&out[0], 1) == (float)want[i]);
        kh_free_outs(out, 1);
    }
    kh_init(&k, "ReduceMean", 18);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK(isnan(kh_outf(&out[0], 0)));
    kh_free_outs(out, 1);
    /* int32 ReduceMin of nothing: the dtype's largest value */
    int32_t xi[1] = {0};
    fy_tensor ti = kh_view(FY_DTYPE_I32, xi, 2, xd);
    const fy_tensor *in2[] = {&ti, &ta};
    kh_init(&k, "ReduceMin", 18);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(((int32_t *)out[0].data)[0], INT32_MAX);
    kh_free_outs(out, 1);
}

TEST(reduce_logsumexp_stable_and_int_wrap)
{
    float x[] = {1000, 1000};
    int64_t xd[] = {2};
    fy_tensor tx = kh_f32(x, 1, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "ReduceLogSumExp", 13);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 1000 + log(2.0), 1e-3);
    kh_free_outs(out, 1);
    /* int64 sums wrap instead of overflowing (no UB under UBSan) */
    int64_t xi[] = {INT64_MAX, 1};
    fy_tensor ti = kh_view(FY_DTYPE_I64, xi, 1, xd);
    const fy_tensor *in2[] = {&ti};
    kh_init(&k, "ReduceSum", 11);
    FY_CHECK_EQ(kh_run(&k, 1, in2, 1, out, NULL), FY_OK);
    FY_CHECK(outl(&out[0], 0) == INT64_MIN);
    kh_free_outs(out, 1);
    kh_init(&k, "ReduceProd", 11);
    FY_CHECK_EQ(kh_run(&k, 1, in2, 1, out, NULL), FY_OK);
    FY_CHECK(outl(&out[0], 0) == INT64_MAX);
    kh_free_outs(out, 1);
}

TEST(reduce_bad_axes)
{
    float x[] = {1, 2, 3, 4};
    int64_t xd[] = {2, 2}, ax[] = {1, -1}, ad[] = {2}, big[] = {2};
    fy_tensor tx = kh_f32(x, 2, xd), ta = kh_view(FY_DTYPE_I64, ax, 1, ad);
    const fy_tensor *in[] = {&tx, &ta};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "ReduceSum", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "twice");
    kh_free_outs(out, 1);
    kh_init(&k, "ReduceMax", 12);
    kh_attr_ints(&k, "axes", big, 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "out of range");
    kh_free_outs(out, 1);
    float fa[] = {1};
    int64_t fd[] = {1};
    fy_tensor tf = kh_f32(fa, 1, fd);
    const fy_tensor *in2[] = {&tx, &tf};
    kh_init(&k, "ReduceSum", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axes (input 1)");
    kh_free_outs(out, 1);
}

/* ------------------------------------------------------------ ArgMax/ArgMin */

TEST(argmax_argmin)
{
    float x[] = {2, 5, 5, 1, 0, 1};
    int64_t xd[] = {2, 3};
    fy_tensor tx = kh_f32(x, 2, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "ArgMax", 13);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I64);
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_EQ(outl(&out[0], 0), 1);
    FY_CHECK_EQ(outl(&out[0], 1), 0);
    kh_free_outs(out, 1);
    kh_init(&k, "ArgMax", 13);
    kh_attr_int(&k, "axis", 1);
    kh_attr_int(&k, "select_last_index", 1);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(outl(&out[0], 0), 2);
    FY_CHECK_EQ(outl(&out[0], 1), 2);
    kh_free_outs(out, 1);
    kh_init(&k, "ArgMin", 13);
    kh_attr_int(&k, "axis", 0);
    kh_attr_int(&k, "keepdims", 0);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(outl(&out[0], 0), 1);
    FY_CHECK_EQ(outl(&out[0], 1), 1);
    FY_CHECK_EQ(outl(&out[0], 2), 1);
    kh_free_outs(out, 1);
    fy_diag d = {{0}};
    kh_init(&k, "ArgMin", 13);
    kh_attr_int(&k, "axis", 2);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis 2");
    kh_free_outs(out, 1);
}

/* ---------------------------------------------------------- softmax family */

TEST(softmax_versions)
{
    float x[] = {1, 2, 3, 4};
    int64_t xd[] = {2, 2};
    fy_tensor tx = kh_f32(x, 2, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    /* opset 13, axis 0: per column, softmax([1,3]) = [0.1192, 0.8808] */
    kh_init(&k, "Softmax", 13);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 0.11920292, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), 0.88079708, 1e-6);
    kh_free_outs(out, 1);
    /* opset 11, axis 0: coerced to one row of 4 */
    kh_init(&k, "Softmax", 11);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    double s = exp(1.0) + exp(2.0) + exp(3.0) + exp(4.0);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), exp(1.0) / s, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), exp(4.0) / s, 1e-6);
    kh_free_outs(out, 1);
    /* LogSoftmax default axis -1 at opset 13: row [1,2] */
    kh_init(&k, "LogSoftmax", 13);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 1 - 2 - log(1 + exp(-1.0)), 1e-6);
    kh_free_outs(out, 1);
    /* bad axis */
    fy_diag d = {{0}};
    kh_init(&k, "Softmax", 13);
    kh_attr_int(&k, "axis", -3);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis -3");
    kh_free_outs(out, 1);
}

TEST(hardmax_ties_first)
{
    double x[] = {3, 3, 1, 0, 2, 2};
    int64_t xd[] = {2, 3};
    fy_tensor tx = kh_view(FY_DTYPE_F64, x, 2, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "Hardmax", 13);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    const double *y = out[0].data;
    FY_CHECK(y[0] == 1 && y[1] == 0 && y[2] == 0 && y[3] == 0 && y[4] == 1 && y[5] == 0);
    kh_free_outs(out, 1);
}

/* ------------------------------------------------------------- normalization */

TEST(layernorm_values_and_stats)
{
    float x[] = {1, 2, 3, 4, 2, 2, 2, 2};
    float sc[] = {1, 2, 1, 1}, b[] = {0, 0, 0, 1};
    int64_t xd[] = {2, 4}, sd[] = {4};
    fy_tensor tx = kh_f32(x, 2, xd), ts = kh_f32(sc, 1, sd), tb = kh_f32(b, 1, sd);
    const fy_tensor *in[] = {&tx, &ts, &tb};
    fy_tensor out[3] = {{0}};
    kh_node k;
    kh_init(&k, "LayerNormalization", 17);
    FY_CHECK_EQ(kh_run(&k, 3, in, 3, out, NULL), FY_OK);
    double inv = 1.0 / sqrt(1.25 + 1e-5);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -1.5 * inv, 1e-5);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), -0.5 * inv * 2, 1e-5);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 1.5 * inv + 1, 1e-5);
    FY_CHECK_NEAR(kh_outf(&out[0], 7), 1, 1e-5); /* constant row: 0 * inv + bias */
    FY_CHECK_EQ(out[1].rank, 2);
    FY_CHECK_EQ(out[1].dims[1], 1);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), 2.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[2], 0), inv, 1e-4);
    kh_free_outs(out, 3);
    /* Scale that cannot broadcast to the normalized shape */
    int64_t bd[] = {3};
    fy_tensor tbad = kh_f32(sc, 1, bd);
    const fy_tensor *in2[] = {&tx, &tbad};
    fy_diag d = {{0}};
    kh_init(&k, "LayerNormalization", 17);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "Scale");
    kh_free_outs(out, 3);
}

TEST(mvn_basic)
{
    float x[] = {1, 3, 5, 7};
    int64_t xd[] = {1, 1, 2, 2}, ax[] = {2, 3};
    fy_tensor tx = kh_f32(x, 4, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "MeanVarianceNormalization", 13);
    kh_attr_ints(&k, "axes", ax, 2);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    double sd = sqrt(5.0); /* mean 4, var (9+1+1+9)/4 */
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -3 / sd, 1e-5);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 3 / sd, 1e-5);
    kh_free_outs(out, 1);
}

/* ---------------------------------------------------------------- TopK, CumSum */

TEST(topk_ties_and_errors)
{
    float x[] = {1, 3, 3, 2, 3};
    int64_t xd[] = {5}, kv[] = {3}, kd[] = {1};
    fy_tensor tx = kh_f32(x, 1, xd), tk = kh_view(FY_DTYPE_I64, kv, 1, kd);
    const fy_tensor *in[] = {&tx, &tk};
    fy_tensor out[2] = {{0}};
    kh_node k;
    kh_init(&k, "TopK", 11);
    FY_CHECK_EQ(kh_run(&k, 2, in, 2, out, NULL), FY_OK);
    FY_CHECK_EQ(outl(&out[1], 0), 1);
    FY_CHECK_EQ(outl(&out[1], 1), 2);
    FY_CHECK_EQ(outl(&out[1], 2), 4);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), 3, 0);
    kh_free_outs(out, 2);
    kh_init(&k, "TopK", 11);
    kh_attr_int(&k, "largest", 0);
    FY_CHECK_EQ(kh_run(&k, 2, in, 2, out, NULL), FY_OK);
    FY_CHECK_EQ(outl(&out[1], 0), 0);
    FY_CHECK_EQ(outl(&out[1], 1), 3);
    FY_CHECK_EQ(outl(&out[1], 2), 1);
    kh_free_outs(out, 2);
    /* opset 1: k attribute */
    kh_init(&k, "TopK", 1);
    kh_attr_int(&k, "k", 2);
    FY_CHECK_EQ(kh_run(&k, 1, in, 2, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    kh_free_outs(out, 2);
    fy_diag d = {{0}};
    kv[0] = 6;
    kh_init(&k, "TopK", 11);
    FY_CHECK_EQ(kh_run(&k, 2, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "K=6");
    kh_free_outs(out, 2);
    kv[0] = -1;
    FY_CHECK_EQ(kh_run(&k, 2, in, 2, out, &d), FY_EINVAL);
    kh_free_outs(out, 2);
}

TEST(cumsum_modes)
{
    int32_t x[] = {1, 2, 3};
    int64_t xd[] = {3}, av[] = {0};
    fy_tensor tx = kh_view(FY_DTYPE_I32, x, 1, xd), ta = kh_view(FY_DTYPE_I64, av, 0, NULL);
    const fy_tensor *in[] = {&tx, &ta};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "CumSum", 14);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    int32_t *y = out[0].data;
    FY_CHECK(y[0] == 1 && y[1] == 3 && y[2] == 6);
    kh_free_outs(out, 1);
    kh_init(&k, "CumSum", 14);
    kh_attr_int(&k, "exclusive", 1);
    kh_attr_int(&k, "reverse", 1);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    y = out[0].data;
    FY_CHECK(y[0] == 5 && y[1] == 3 && y[2] == 0);
    kh_free_outs(out, 1);
    fy_diag d = {{0}};
    av[0] = 1;
    kh_init(&k, "CumSum", 14);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis 1");
    kh_free_outs(out, 1);
}

/* -------------------------------------------------------------------- losses */

TEST(nll_loss)
{
    float x[] = {-1, -2, -3, -4, -5, -6};
    int64_t xd[] = {2, 3}, t[] = {0, 2}, td[] = {2};
    float w[] = {1, 1, 3};
    int64_t wd[] = {3};
    fy_tensor tx = kh_f32(x, 2, xd), tt = kh_view(FY_DTYPE_I64, t, 1, td), tw = kh_f32(w, 1, wd);
    const fy_tensor *in[] = {&tx, &tt, &tw};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "NegativeLogLikelihoodLoss", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), (1 + 6) / 2.0, 1e-6);
    kh_free_outs(out, 1);
    /* weighted mean: (1*1 + 6*3) / (1 + 3) */
    kh_init(&k, "NegativeLogLikelihoodLoss", 13);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 19 / 4.0, 1e-6);
    kh_free_outs(out, 1);
    /* ignore_index drops the second sample; reduction none keeps the shape */
    kh_init(&k, "NegativeLogLikelihoodLoss", 13);
    kh_attr_int(&k, "ignore_index", 2);
    kh_attr_str(&k, "reduction", "none");
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 1, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 0, 1e-6);
    kh_free_outs(out, 1);
    /* target out of range */
    fy_diag d = {{0}};
    t[1] = 3;
    kh_init(&k, "NegativeLogLikelihoodLoss", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "target value 3");
    kh_free_outs(out, 1);
    t[1] = 2;
    kh_init(&k, "NegativeLogLikelihoodLoss", 13);
    kh_attr_str(&k, "reduction", "avg");
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "reduction");
    kh_free_outs(out, 1);
}

TEST(softmax_cross_entropy)
{
    float x[] = {0, 0, 1, 2};
    int64_t xd[] = {2, 2}, t[] = {1, 0}, td[] = {2};
    fy_tensor tx = kh_f32(x, 2, xd), tt = kh_view(FY_DTYPE_I64, t, 1, td);
    const fy_tensor *in[] = {&tx, &tt};
    fy_tensor out[2] = {{0}};
    kh_node k;
    kh_init(&k, "SoftmaxCrossEntropyLoss", 13);
    kh_attr_str(&k, "reduction", "sum");
    FY_CHECK_EQ(kh_run(&k, 2, in, 2, out, NULL), FY_OK);
    double l0 = log(2.0), l1 = -(1 - 2 - log(1 + exp(-1.0)));
    FY_CHECK_NEAR(kh_outf(&out[0], 0), l0 + l1, 1e-5);
    FY_CHECK_EQ(out[1].rank, 2);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), -log(2.0), 1e-6);
    kh_free_outs(out, 2);
    /* target with the wrong shape */
    int64_t tbd[] = {3};
    int64_t tb[] = {0, 0, 0};
    fy_tensor ttb = kh_view(FY_DTYPE_I64, tb, 1, tbd);
    const fy_tensor *in2[] = {&tx, &ttb};
    fy_diag d = {{0}};
    kh_init(&k, "SoftmaxCrossEntropyLoss", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "target");
    kh_free_outs(out, 2);
}

/* -------------------------------------------------------------- Einsum, Det */

TEST(einsum_forms)
{
    float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
    int64_t d2[] = {2, 2};
    fy_tensor ta = kh_f32(a, 2, d2), tb = kh_f32(b, 2, d2);
    const fy_tensor *in[] = {&ta, &tb};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ij,jk->ik");
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 19, 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 50, 0);
    kh_free_outs(out, 1);
    /* implicit output of a trace: scalar */
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ii");
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 5, 0);
    kh_free_outs(out, 1);
    /* diagonal */
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ii->i");
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 4, 0);
    kh_free_outs(out, 1);
    /* implicit "ba" is a transpose: output labels sorted (a, b) */
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ba");
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 3, 0);
    kh_free_outs(out, 1);
    /* ellipsis with broadcasting batch: (1,2,2) x (2,2) */
    int64_t d3[] = {1, 2, 2};
    fy_tensor ta3 = kh_f32(a, 3, d3);
    const fy_tensor *in3[] = {&ta3, &tb};
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "...ij,...jk->...ik");
    FY_CHECK_EQ(kh_run(&k, 2, in3, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 3);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 22, 0);
    kh_free_outs(out, 1);
    /* errors */
    fy_diag d = {{0}};
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ij->ij");
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "terms");
    kh_free_outs(out, 1);
    int64_t d23[] = {2, 3};
    float c6[6] = {0};
    fy_tensor tc = kh_f32(c6, 2, d23);
    const fy_tensor *in4[] = {&tc, &tc};
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ij,jk->ik");
    FY_CHECK_EQ(kh_run(&k, 2, in4, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "label 'j'");
    kh_free_outs(out, 1);
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ij->ik");
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'k'");
    kh_free_outs(out, 1);
    /* numpy refuses to drop ellipsis dims silently */
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "...ij->ij");
    FY_CHECK_EQ(kh_run(&k, 1, in3, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'...'");
    kh_free_outs(out, 1);
    /* a size-1 labelled axis broadcasts: (2,1) x (2,2) over "ij,ij->i" */
    int64_t d21[] = {2, 1};
    fy_tensor t21 = kh_f32(a, 2, d21);
    const fy_tensor *in5[] = {&t21, &tb};
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "ij,ij->i");
    FY_CHECK_EQ(kh_run(&k, 2, in5, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 1 * (5 + 6), 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 2 * (7 + 8), 0);
    kh_free_outs(out, 1);
    kh_init(&k, "Einsum", 12);
    kh_attr_str(&k, "equation", "i.j");
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EINVAL);
    kh_free_outs(out, 1);
}

TEST(det_values)
{
    float a[] = {1, 2, 3, 4, 2, 0, 0, 0, 3, 1, 0, 1, 4};
    int64_t d2[] = {2, 2}, d3[] = {3, 3};
    fy_tensor ta = kh_f32(a, 2, d2), tb = kh_f32(a + 4, 2, d3);
    const fy_tensor *in[] = {&ta};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "Det", 11);
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -2, 1e-6);
    kh_free_outs(out, 1);
    /* [[2,0,0],[0,3,1],[0,1,4]] -> 2 * (12 - 1) = 22 */
    const fy_tensor *in2[] = {&tb};
    FY_CHECK_EQ(kh_run(&k, 1, in2, 1, out, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 22, 1e-5);
    kh_free_outs(out, 1);
    int64_t bad[] = {2, 3};
    fy_tensor tbad = kh_f32(a, 2, bad);
    const fy_tensor *in3[] = {&tbad};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 1, in3, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "(..., M, M)");
    kh_free_outs(out, 1);
}

int main(void)
{
    RUN(reduce_sum_axes_input);
    RUN(reduce_mean_last_axis_and_attr_versions);
    RUN(reduce_all_default_and_noop);
    RUN(reduce_empty_set);
    RUN(reduce_logsumexp_stable_and_int_wrap);
    RUN(reduce_bad_axes);
    RUN(argmax_argmin);
    RUN(softmax_versions);
    RUN(hardmax_ties_first);
    RUN(layernorm_values_and_stats);
    RUN(mvn_basic);
    RUN(topk_ties_and_errors);
    RUN(cumsum_modes);
    RUN(nll_loss);
    RUN(softmax_cross_entropy);
    RUN(einsum_forms);
    RUN(det_values);
    return TEST_SUMMARY();
}
