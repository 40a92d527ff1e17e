/* SPDX-License-Identifier: MIT */
/* Unit tests for the neural-network reference kernels: hand-computed values, the float32
 * fast paths against the double reference paths on random shapes, and the error paths. */
#include <stdint.h>
#include <stdlib.h>

#include "ops/kernel_harness.h"
#include "test.h"

/* 0, 1, 2, ... as float32. */
static fy_tensor iota(int rank, const int64_t *dims)
{
    fy_tensor t = kh_alloc(FY_DTYPE_F32, rank, dims, NULL);
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        ((float *)t.data)[i] = (float)i;
    return t;
}

/* Deterministic pseudo-random values in [-1, 1). */
static uint32_t rng_state = 12345;
static double rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return (double)(rng_state >> 8) / (double)(1u << 23) - 1.0;
}

static fy_tensor mk_rand(fy_dtype dt, int rank, const int64_t *dims)
{
    fy_tensor t = kh_alloc(dt, rank, dims, NULL);
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        fy__set_f64(&t, i, rnd());
    return t;
}

/* Same values in another dtype. */
static fy_tensor convert(const fy_tensor *s, fy_dtype dt)
{
    fy_tensor t = kh_alloc(dt, s->rank, s->dims, NULL);
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        fy__set_f64(&t, i, fy__get_f64(s, i));
    return t;
}

/* Run op on n_in inputs (NULL entries are omitted optional inputs) into n_out outputs. */
static int runn(kh_node *k, int n_in, const fy_tensor *const *in, int n_out, fy_tensor *out,
                fy_diag *d)
{
    memset(out, 0, sizeof *out * (size_t)n_out);
    memset(d, 0, sizeof *d);
    return kh_run(k, n_in, in, n_out, out, d);
}

static int run1(kh_node *k, fy_tensor *out, fy_diag *d, const fy_tensor *a, const fy_tensor *b,
                const fy_tensor *c3)
{
    const fy_tensor *in[3] = {a, b, c3};
    return runn(k, c3 ? 3 : b ? 2 : 1, in, 1, out, d);
}

/* Largest |a - b| over two tensors of the same shape (any float dtypes). */
static double max_diff(const fy_tensor *a, const fy_tensor *b)
{
    double m = 0;
    if (fy_tensor_numel(a) != fy_tensor_numel(b))
        return 1e30;
    for (int64_t i = 0, n = fy_tensor_numel(a); i < n; i++) {
        double d = fabs(fy__get_f64(a, i) - fy__get_f64(b, i));
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* ---- Conv ---- */

TEST(conv_basic_values)
{
    /* ONNX's basic conv: 5x5 input 0..24, 3x3 ones kernel. */
    static const int64_t xd[] = {1, 1, 5, 5}, wd[] = {1, 1, 3, 3};
    static const double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    fy_tensor x = iota(4, xd), w = kh_alloc(FY_DTYPE_F32, 4, wd, ones), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Conv", 11);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_OK);
    static const int64_t yd[] = {1, 1, 3, 3};
    kh_check_shape(&y, 4, yd);
    static const float want[] = {54, 63, 72, 99, 108, 117, 144, 153, 162};
    for (int i = 0; i < 9; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), want[i], 1e-5);
    fy_tensor_deinit(&y);

    int64_t pads[] = {1, 1, 1, 1}, strides[] = {2, 2};
    kh_attr_ints(&k, "pads", pads, 4);
    kh_attr_ints(&k, "strides", strides, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_OK);
    kh_check_shape(&y, 4, yd);
    static const float want2[] = {12, 27, 24, 63, 108, 81, 72, 117, 84};
    for (int i = 0; i < 9; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), want2[i], 1e-5);
    fy_tensor_deinit(&y);

    /* Bias and SAME_UPPER. */
    kh_init(&k, "Conv", 11);
    kh_attr_str(&k, "auto_pad", "SAME_UPPER");
    static const int64_t bd[] = {1};
    static const double bv[] = {0.5};
    fy_tensor b = kh_alloc(FY_DTYPE_F32, 1, bd, bv);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, &b), FY_OK);
    static const int64_t yd5[] = {1, 1, 5, 5};
    kh_check_shape(&y, 4, yd5);
    FY_CHECK_NEAR(kh_outf(&y, 0), 12.5, 1e-5);
    FY_CHECK_NEAR(kh_outf(&y, 12), 108.5, 1e-5);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&b);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&w);
}

/* The float32 im2col path against the double direct path, over groups, strides,
 * dilations, asymmetric pads and 1-D/2-D/3-D. */
TEST(conv_f32_matches_f64)
{
    struct {
        int n;
        int64_t x[5], w[5], group;
        int64_t s[3], dl[3], p[6];
    } cases[] = {
        {2, {2, 4, 7, 6}, {6, 2, 3, 2}, 2, {2, 1}, {1, 2}, {1, 0, 2, 1}},
        {1, {1, 3, 11}, {4, 3, 3}, 1, {3}, {2}, {2, 1}},
        {3, {1, 2, 4, 5, 3}, {2, 1, 2, 3, 2}, 2, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}},
        {2, {1, 3, 5, 5}, {5, 3, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}}, /* 1x1 direct */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int n = cases[ci].n;
        fy_tensor x = mk_rand(FY_DTYPE_F32, n + 2, cases[ci].x);
        fy_tensor w = mk_rand(FY_DTYPE_F32, n + 2, cases[ci].w);
        int64_t bd[1] = {cases[ci].w[0]};
        fy_tensor b = mk_rand(FY_DTYPE_F32, 1, bd);
        fy_tensor x64 = convert(&x, FY_DTYPE_F64), w64 = convert(&w, FY_DTYPE_F64),
                  b64 = convert(&b, FY_DTYPE_F64), y32, y64;
        fy_diag d;
        kh_node k;
        kh_init(&k, "Conv", 11);
        kh_attr_int(&k, "group", cases[ci].group);
        kh_attr_ints(&k, "strides", cases[ci].s, n);
        kh_attr_ints(&k, "dilations", cases[ci].dl, n);
        kh_attr_ints(&k, "pads", cases[ci].p, 2 * n);
        FY_CHECK_EQ(run1(&k, &y32, &d, &x, &w, &b), FY_OK);
        FY_CHECK_EQ(run1(&k, &y64, &d, &x64, &w64, &b64), FY_OK);
        FY_CHECK_EQ(y64.dtype, FY_DTYPE_F64);
        FY_CHECK(fy_tensor_numel(&y32) > 0);
        FY_CHECK_NEAR(max_diff(&y32, &y64), 0, 1e-4);

        /* ConvTranspose: W is [C, M/group, k...]; reuse shapes with C and M swapped. */
        int64_t wt[5];
        memcpy(wt, cases[ci].w, sizeof wt);
        wt[0] = cases[ci].x[1];
        wt[1] = cases[ci].w[0] / cases[ci].group;
        fy_tensor tw = mk_rand(FY_DTYPE_F32, n + 2, wt), tw64 = convert(&tw, FY_DTYPE_F64);
        int64_t tbd[1] = {wt[1] * cases[ci].group};
        fy_tensor tb = mk_rand(FY_DTYPE_F32, 1, tbd), tb64 = convert(&tb, FY_DTYPE_F64), t32, t64;
        kh_init(&k, "ConvTranspose", 11);
        kh_attr_int(&k, "group", cases[ci].group);
        kh_attr_ints(&k, "strides", cases[ci].s, n);
        kh_attr_ints(&k, "dilations", cases[ci].dl, n);
        kh_attr_ints(&k, "pads", cases[ci].p, 2 * n);
        FY_CHECK_EQ(run1(&k, &t32, &d, &x, &tw, &tb), FY_OK);
        FY_CHECK_EQ(run1(&k, &t64, &d, &x64, &tw64, &tb64), FY_OK);
        FY_CHECK(fy_tensor_numel(&t32) > 0);
        FY_CHECK_NEAR(max_diff(&t32, &t64), 0, 1e-4);

        fy_tensor *all[] = {&x,   &w,  &b,    &x64, &w64,  &b64, &y32,
                            &y64, &tw, &tw64, &tb,  &tb64, &t32, &t64};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            fy_tensor_deinit(all[i]);
    }
}

TEST(conv_errors)
{
    static const int64_t xd[] = {1, 4, 5, 5}, wd[] = {2, 3, 3, 3}, wd2[] = {2, 2, 3, 3},
                         wbig[] = {2, 4, 7, 7}, d3[] = {1, 4, 5};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, NULL), w = kh_alloc(FY_DTYPE_F32, 4, wd, NULL),
              w2 = kh_alloc(FY_DTYPE_F32, 4, wd2, NULL), wb = kh_alloc(FY_DTYPE_F32, 4, wbig, NULL),
              x3 = kh_alloc(FY_DTYPE_F32, 3, d3, NULL), xi = kh_alloc(FY_DTYPE_I32, 4, xd, NULL), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Conv", 11);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "channels per group");
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wb, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "larger than the padded input");
    FY_CHECK_EQ(run1(&k, &y, &d, &x3, &w, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "rank");
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, &w, NULL), FY_EUNSUPPORTED);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1");
    kh_attr_int(&k, "group", 3);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w2, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'group'");
    static const int64_t wokd[] = {2, 4, 3, 3};
    fy_tensor wok = kh_alloc(FY_DTYPE_F32, 4, wokd, NULL);
    kh_init(&k, "Conv", 11);
    kh_attr_str(&k, "auto_pad", "SAME");
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wok, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "auto_pad");
    kh_init(&k, "Conv", 11);
    int64_t s3[] = {1, 1, 1}, s0[] = {1, 0}, big[] = {1, (int64_t)1 << 40};
    kh_attr_ints(&k, "strides", s3, 3);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wok, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'strides' has 3 values");
    kh_init(&k, "Conv", 11);
    kh_attr_ints(&k, "strides", s0, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wok, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'strides'[1] = 0");
    kh_init(&k, "Conv", 11);
    kh_attr_ints(&k, "dilations", big, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wok, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "dilations");
    kh_init(&k, "Conv", 11);
    int64_t ks[] = {2, 2};
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &wok, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "kernel_shape");
    fy_tensor *all[] = {&x, &w, &w2, &wb, &x3, &xi, &wok};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

TEST(conv_transpose_values)
{
    /* ONNX's convtranspose example: 3x3 input 0..8, W ones [1, 2, 3, 3]. */
    static const int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 2, 3, 3};
    fy_tensor x = iota(4, xd), w = kh_alloc(FY_DTYPE_F32, 4, wd, NULL), y;
    for (int i = 0; i < 18; i++)
        ((float *)w.data)[i] = 1.0f;
    fy_diag d;
    kh_node k;
    kh_init(&k, "ConvTranspose", 11);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_OK);
    static const int64_t yd[] = {1, 2, 5, 5};
    kh_check_shape(&y, 4, yd);
    static const float row0[] = {0, 1, 3, 3, 2}, row2[] = {9, 21, 36, 27, 15};
    for (int i = 0; i < 5; i++) {
        FY_CHECK_NEAR(kh_outf(&y, i), row0[i], 1e-5);
        FY_CHECK_NEAR(kh_outf(&y, 10 + i), row2[i], 1e-5);
        FY_CHECK_NEAR(kh_outf(&y, 25 + i), row0[i], 1e-5);
    }
    fy_tensor_deinit(&y);

    /* output_shape larger than the full output: zero-extended at the end. */
    int64_t os[] = {6, 6};
    kh_attr_ints(&k, "output_shape", os, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_OK);
    static const int64_t yd6[] = {1, 2, 6, 6};
    kh_check_shape(&y, 4, yd6);
    FY_CHECK_NEAR(kh_outf(&y, 2), 3, 1e-5);
    FY_CHECK_NEAR(kh_outf(&y, 5), 0, 0);
    fy_tensor_deinit(&y);

    /* Pads larger than the output. */
    kh_init(&k, "ConvTranspose", 11);
    int64_t pads[] = {3, 3, 3, 3};
    kh_attr_ints(&k, "pads", pads, 4);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &w, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "exceed");
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&w);
}

/* ---- Pooling ---- */

TEST(maxpool_indices)
{
    static const int64_t xd[] = {1, 1, 4, 4}, yd[] = {1, 1, 2, 2};
    fy_tensor x = iota(4, xd), out[2];
    const fy_tensor *in[1] = {&x};
    fy_diag d;
    kh_node k;
    int64_t ks[] = {2, 2};
    kh_init(&k, "MaxPool", 12);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "strides", ks, 2);
    FY_CHECK_EQ(runn(&k, 1, in, 2, out, &d), FY_OK);
    kh_check_shape(&out[0], 4, yd);
    FY_CHECK_EQ(out[1].dtype, FY_DTYPE_I64);
    static const int64_t want[] = {5, 7, 13, 15};
    for (int i = 0; i < 4; i++) {
        FY_CHECK_NEAR(kh_outf(&out[0], i), (double)want[i], 0);
        FY_CHECK_EQ(((int64_t *)out[1].data)[i], want[i]);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    /* Column-major indices. */
    kh_attr_int(&k, "storage_order", 1);
    FY_CHECK_EQ(runn(&k, 1, in, 2, out, &d), FY_OK);
    static const int64_t wantc[] = {5, 13, 7, 15};
    for (int i = 0; i < 4; i++)
        FY_CHECK_EQ(((int64_t *)out[1].data)[i], wantc[i]);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    /* Without Indices the float32 2-D fast path runs: same values; also ceil_mode. */
    kh_init(&k, "MaxPool", 12);
    int64_t k3[] = {3, 3};
    kh_attr_ints(&k, "kernel_shape", k3, 2);
    kh_attr_ints(&k, "strides", ks, 2);
    kh_attr_int(&k, "ceil_mode", 1);
    FY_CHECK_EQ(runn(&k, 1, in, 1, out, &d), FY_OK);
    kh_check_shape(&out[0], 4, yd);
    static const float wantceil[] = {10, 11, 14, 15};
    for (int i = 0; i < 4; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), wantceil[i], 0);
    fy_tensor_deinit(&out[0]);

    /* int8 and the generic (3-D) path. */
    static const int64_t x8d[] = {1, 1, 2, 2, 2}, y8d[] = {1, 1, 1, 1, 1};
    static const int64_t v8[] = {-5, 3, -128, 7, 0, -1, 2, 6};
    fy_tensor x8 = kh_alloc_i64(FY_DTYPE_I8, 5, x8d, v8);
    int64_t k2[] = {2, 2, 2};
    kh_init(&k, "MaxPool", 12);
    kh_attr_ints(&k, "kernel_shape", k2, 3);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x8, NULL, NULL), FY_OK);
    kh_check_shape(&out[0], 5, y8d);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I8);
    FY_CHECK_EQ(((int8_t *)out[0].data)[0], 7);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&x8);

    /* Errors: no kernel_shape; int32 input. */
    kh_init(&k, "MaxPool", 12);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "kernel_shape");
    static const int64_t vi[] = {1, 2, 3, 4};
    static const int64_t xid[] = {1, 1, 2, 2};
    fy_tensor xi = kh_alloc_i64(FY_DTYPE_I32, 4, xid, vi);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &xi, NULL, NULL), FY_EUNSUPPORTED);
    kh_init(&k, "MaxPool", 12);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_int(&k, "storage_order", 2);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "storage_order");
    fy_tensor_deinit(&xi);
    fy_tensor_deinit(&x);
}

TEST(avgpool_pads)
{
    static const int64_t xd[] = {1, 1, 3, 3};
    static const double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, ones), y;
    fy_tensor x64 = convert(&x, FY_DTYPE_F64);
    fy_diag d;
    kh_node k;
    int64_t ks[] = {3, 3}, pads[] = {1, 1, 1, 1};
    kh_init(&k, "AveragePool", 11);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "pads", pads, 4);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 1.0, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 4), 1.0, 1e-6);
    fy_tensor_deinit(&y);
    kh_attr_int(&k, "count_include_pad", 1);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 4.0 / 9, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 1), 6.0 / 9, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 4), 1.0, 1e-6);
    fy_tensor_deinit(&y);
    /* float64 takes the generic path: same answers. */
    FY_CHECK_EQ(run1(&k, &y, &d, &x64, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(fy__get_f64(&y, 0), 4.0 / 9, 1e-12);
    FY_CHECK_NEAR(fy__get_f64(&y, 1), 6.0 / 9, 1e-12);
    fy_tensor_deinit(&y);

    /* LpPool p=2 over the whole 3x3 of ones: sqrt(9) = 3. */
    kh_init(&k, "LpPool", 11);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_int(&k, "p", 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 3.0, 1e-6);
    fy_tensor_deinit(&y);

    /* Global pools on 0..8. */
    fy_tensor xi = iota(4, xd);
    static const int64_t gd[] = {1, 1, 1, 1};
    kh_init(&k, "GlobalAveragePool", 1);
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, NULL, NULL), FY_OK);
    kh_check_shape(&y, 4, gd);
    FY_CHECK_NEAR(kh_outf(&y, 0), 4.0, 1e-6);
    fy_tensor_deinit(&y);
    kh_init(&k, "GlobalMaxPool", 1);
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 8.0, 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "GlobalLpPool", 2);
    kh_attr_int(&k, "p", 1);
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 36.0, 1e-5);
    fy_tensor_deinit(&y);

    fy_tensor_deinit(&xi);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&x64);
}

TEST(maxunpool_values_and_bad_index)
{
    static const int64_t xd[] = {1, 1, 2, 2}, yd[] = {1, 1, 4, 4};
    static const double xv[] = {5, 6, 7, 8};
    static const int64_t iv[] = {5, 7, 13, 15}, bad[] = {5, 7, 13, 16};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), ind = kh_alloc_i64(FY_DTYPE_I64, 4, xd, iv),
              indb = kh_alloc_i64(FY_DTYPE_I64, 4, xd, bad), y;
    fy_diag d;
    kh_node k;
    int64_t ks[] = {2, 2};
    kh_init(&k, "MaxUnpool", 11);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "strides", ks, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &ind, NULL), FY_OK);
    kh_check_shape(&y, 4, yd);
    FY_CHECK_NEAR(kh_outf(&y, 5), 5, 0);
    FY_CHECK_NEAR(kh_outf(&y, 15), 8, 0);
    FY_CHECK_NEAR(kh_outf(&y, 0), 0, 0);
    fy_tensor_deinit(&y);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &indb, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index 16");
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&ind);
    fy_tensor_deinit(&indb);
}

/* ---- Normalization ---- */

TEST(norm_values)
{
    static const int64_t xd[] = {1, 2, 1, 2}, cd[] = {2};
    static const double xv[] = {1, 3, 2, 6}, sc[] = {2, 1}, bi[] = {0.5, -1}, mean[] = {2, 4},
                        var[] = {1, 4};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), s = kh_alloc(FY_DTYPE_F32, 1, cd, sc),
              b = kh_alloc(FY_DTYPE_F32, 1, cd, bi), m = kh_alloc(FY_DTYPE_F32, 1, cd, mean),
              v = kh_alloc(FY_DTYPE_F32, 1, cd, var), out[3];
    const fy_tensor *in[5] = {&x, &s, &b, &m, &v};
    fy_diag d;
    kh_node k;
    kh_init(&k, "BatchNormalization", 15);
    kh_attr_float(&k, "epsilon", 0.0f);
    FY_CHECK_EQ(runn(&k, 5, in, 1, out, &d), FY_OK);
    /* (x - mean) / sqrt(var) * scale + B */
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -1.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 2.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), -2.0, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 0.0, 1e-6);
    fy_tensor_deinit(&out[0]);

    /* Training mode: batch statistics (population variance) and running updates. */
    kh_attr_int(&k, "training_mode", 1);
    FY_CHECK_EQ(runn(&k, 5, in, 3, out, &d), FY_OK);
    /* channel 0: values 1, 3 -> mean 2, var 1; channel 1: 2, 6 -> mean 4, var 4 */
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -1.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), 2.0, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[2], 1), 4.0, 1e-6);
    for (int i = 0; i < 3; i++)
        fy_tensor_deinit(&out[i]);

    /* Bad parameter shape. */
    static const int64_t c3[] = {3};
    fy_tensor s3 = kh_alloc(FY_DTYPE_F32, 1, c3, NULL);
    in[1] = &s3;
    kh_init(&k, "BatchNormalization", 15);
    FY_CHECK_EQ(runn(&k, 5, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1 (scale)");
    in[1] = &s;

    /* InstanceNormalization over the 2 spatial values of each channel. */
    kh_init(&k, "InstanceNormalization", 6);
    kh_attr_float(&k, "epsilon", 0.0f);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x, &s, &b), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), -1.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), 2.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 2), -2.0, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 0.0, 1e-6);
    fy_tensor_deinit(&out[0]);

    /* LRN size 3 over 2 channels: each sees both. */
    kh_init(&k, "LRN", 13);
    kh_attr_int(&k, "size", 3);
    kh_attr_float(&k, "alpha", 3.0f);
    kh_attr_float(&k, "beta", 1.0f);
    kh_attr_float(&k, "bias", 1.0f);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), 1.0 / (1 + (1 + 4)), 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), 6.0 / (1 + (9 + 36)), 1e-6);
    fy_tensor_deinit(&out[0]);
    kh_init(&k, "LRN", 13);
    FY_CHECK_EQ(run1(&k, &out[0], &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'size'");

    fy_tensor *all[] = {&x, &s, &b, &m, &v, &s3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

/* ---- Gemm / MatMul ---- */

TEST(gemm_values)
{
    static const int64_t ad[] = {3, 2}, bd[] = {4, 3}, cd[] = {4};
    /* A is [K=3, M=2] (transA), B is [N=4, K=3] (transB). */
    static const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1},
                        cv[] = {1, 2, 3, 4};
    fy_tensor a = kh_alloc(FY_DTYPE_F32, 2, ad, av), b = kh_alloc(FY_DTYPE_F32, 2, bd, bv),
              cc = kh_alloc(FY_DTYPE_F32, 1, cd, cv), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Gemm", 13);
    kh_attr_int(&k, "transA", 1);
    kh_attr_int(&k, "transB", 1);
    kh_attr_float(&k, "alpha", 2.0f);
    kh_attr_float(&k, "beta", 0.5f);
    FY_CHECK_EQ(run1(&k, &y, &d, &a, &b, &cc), FY_OK);
    static const int64_t yd[] = {2, 4};
    kh_check_shape(&y, 2, yd);
    /* A^T = [[1,3,5],[2,4,6]]; A^T B^T = [[1,3,5,9],[2,4,6,12]] */
    static const float want[] = {2.5, 7, 11.5, 20, 4.5, 9, 13.5, 26};
    for (int i = 0; i < 8; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), want[i], 1e-5);
    fy_tensor_deinit(&y);

    /* The same in int32 and float64 (generic path). */
    for (int t = 0; t < 2; t++) {
        fy_dtype dt = t ? FY_DTYPE_F64 : FY_DTYPE_I32;
        fy_tensor a2 = convert(&a, dt), b2 = convert(&b, dt), c2 = convert(&cc, dt);
        kh_init(&k, "Gemm", 13);
        kh_attr_int(&k, "transA", 1);
        kh_attr_int(&k, "transB", 1);
        FY_CHECK_EQ(run1(&k, &y, &d, &a2, &b2, &c2), FY_OK);
        FY_CHECK_EQ(y.dtype, dt);
        FY_CHECK_NEAR(fy__get_f64(&y, 3), 13, 1e-9);
        FY_CHECK_NEAR(fy__get_f64(&y, 7), 16, 1e-9);
        fy_tensor_deinit(&y);
        fy_tensor_deinit(&a2);
        fy_tensor_deinit(&b2);
        fy_tensor_deinit(&c2);
    }

    /* Errors: inner mismatch, C not broadcastable, int8 unsupported. */
    kh_init(&k, "Gemm", 13);
    FY_CHECK_EQ(run1(&k, &y, &d, &a, &b, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "inner dimensions");
    kh_attr_int(&k, "transA", 1);
    kh_attr_int(&k, "transB", 1);
    static const int64_t bad_cd[] = {3};
    fy_tensor cbad = kh_alloc(FY_DTYPE_F32, 1, bad_cd, NULL);
    FY_CHECK_EQ(run1(&k, &y, &d, &a, &b, &cbad), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "cannot be broadcast");
    fy_tensor a8 = convert(&a, FY_DTYPE_I8), b8 = convert(&b, FY_DTYPE_I8);
    FY_CHECK_EQ(run1(&k, &y, &d, &a8, &b8, NULL), FY_EUNSUPPORTED);
    fy_tensor *all[] = {&a, &b, &cc, &cbad, &a8, &b8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

TEST(gemm_f32_matches_f64)
{
    /* Larger shapes so the 4-row blocks and vector tails all run. */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int64_t M = 7, K = 19, N = 13;
            int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N},
                    cd[2] = {M, 1};
            fy_tensor a = mk_rand(FY_DTYPE_F32, 2, ad), b = mk_rand(FY_DTYPE_F32, 2, bd),
                      cc = mk_rand(FY_DTYPE_F32, 2, cd);
            fy_tensor a2 = convert(&a, FY_DTYPE_F64), b2 = convert(&b, FY_DTYPE_F64),
                      c2 = convert(&cc, FY_DTYPE_F64), y, y2;
            fy_diag d;
            kh_node k;
            kh_init(&k, "Gemm", 13);
            kh_attr_int(&k, "transA", ta);
            kh_attr_int(&k, "transB", tb);
            kh_attr_float(&k, "alpha", 0.75f);
            kh_attr_float(&k, "beta", -2.0f);
            FY_CHECK_EQ(run1(&k, &y, &d, &a, &b, &cc), FY_OK);
            FY_CHECK_EQ(run1(&k, &y2, &d, &a2, &b2, &c2), FY_OK);
            FY_CHECK_NEAR(max_diff(&y, &y2), 0, 1e-5);
            fy_tensor *all[] = {&a, &b, &cc, &a2, &b2, &c2, &y, &y2};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
                fy_tensor_deinit(all[i]);
        }
}

TEST(matmul_shapes)
{
    fy_diag d;
    kh_node k;
    fy_tensor y;
    kh_init(&k, "MatMul", 13);
    /* 1-D x 1-D: a scalar. */
    static const int64_t d3[] = {3};
    static const double v3[] = {1, 2, 3};
    fy_tensor a = kh_alloc(FY_DTYPE_F32, 1, d3, v3);
    FY_CHECK_EQ(run1(&k, &y, &d, &a, &a, NULL), FY_OK);
    FY_CHECK_EQ(y.rank, 0);
    FY_CHECK_NEAR(kh_outf(&y, 0), 14, 1e-6);
    fy_tensor_deinit(&y);

    /* Batch broadcasting: [2,1,2,3] x [3,3,2] -> [2,3,2,2]. */
    static const int64_t ad[] = {2, 1, 2, 3}, bd[] = {3, 3, 2}, yd[] = {2, 3, 2, 2};
    fy_tensor A = mk_rand(FY_DTYPE_F32, 4, ad), B = mk_rand(FY_DTYPE_F32, 3, bd);
    FY_CHECK_EQ(run1(&k, &y, &d, &A, &B, NULL), FY_OK);
    kh_check_shape(&y, 4, yd);
    /* element [1, 2, 1, 0] = sum_k A[1,0,1,k] * B[2,k,0] */
    double want = 0;
    for (int kk = 0; kk < 3; kk++)
        want += fy__get_f64(&A, 6 + 3 + kk) * fy__get_f64(&B, 12 + kk * 2);
    FY_CHECK_NEAR(kh_outf(&y, ((1 * 3 + 2) * 2 + 1) * 2 + 0), want, 1e-6);
    fy_tensor_deinit(&y);

    /* int64 wraps like numpy instead of overflowing. */
    static const int64_t d1[] = {1, 1};
    static const int64_t big[] = {INT64_MAX}, two[] = {2};
    fy_tensor ib = kh_alloc_i64(FY_DTYPE_I64, 2, d1, big),
              it = kh_alloc_i64(FY_DTYPE_I64, 2, d1, two);
    FY_CHECK_EQ(run1(&k, &y, &d, &ib, &it, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], -2);
    fy_tensor_deinit(&y);

    /* Errors. */
    static const int64_t bad_bd[] = {2, 3, 2};
    fy_tensor Bb = kh_alloc(FY_DTYPE_F32, 3, bad_bd, NULL);
    static const int64_t a3d[] = {3, 2, 3};
    fy_tensor A3 = kh_alloc(FY_DTYPE_F32, 3, a3d, NULL);
    FY_CHECK_EQ(run1(&k, &y, &d, &A3, &Bb, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch dimensions");
    FY_CHECK_EQ(run1(&k, &y, &d, &A3, &A3, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "inner dimensions");
    FY_CHECK_EQ(run1(&k, &y, &d, &A3, &ib, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "dtype");
    fy_tensor *all[] = {&a, &A, &B, &ib, &it, &Bb, &A3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

/* ---- Resize / Upsample ---- */

TEST(resize_values)
{
    static const int64_t xd[] = {1, 1, 2, 2}, sd[] = {4}, yd[] = {1, 1, 4, 4};
    static const double xv[] = {1, 2, 3, 4}, scv[] = {1, 1, 2, 2};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), sc = kh_alloc(FY_DTYPE_F32, 1, sd, scv), y;
    const fy_tensor *in[4] = {&x, NULL, &sc, NULL};
    fy_diag d;
    kh_node k;
    kh_init(&k, "Resize", 13);
    FY_CHECK_EQ(runn(&k, 3, in, 1, &y, &d), FY_OK);
    kh_check_shape(&y, 4, yd);
    static const float nn[] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    for (int i = 0; i < 16; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), nn[i], 0);
    fy_tensor_deinit(&y);

    /* Linear, half_pixel: row 0 = 1, 1.25, 1.75, 2 */
    kh_attr_str(&k, "mode", "linear");
    FY_CHECK_EQ(runn(&k, 3, in, 1, &y, &d), FY_OK);
    static const float lin0[] = {1, 1.25, 1.75, 2};
    for (int i = 0; i < 4; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), lin0[i], 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 5), 0.75 * 1.25 + 0.25 * 3.25, 1e-6); /* rows 0 and 1 at 0.25 */
    fy_tensor_deinit(&y);

    /* align_corners with sizes, 1-D view: [1, 2] -> 3 values 1, 1.5, 2. */
    kh_init(&k, "Resize", 13);
    kh_attr_str(&k, "mode", "linear");
    kh_attr_str(&k, "coordinate_transformation_mode", "align_corners");
    static const int64_t szv[] = {1, 1, 3, 3};
    fy_tensor sz = kh_alloc_i64(FY_DTYPE_I64, 1, sd, szv);
    const fy_tensor *in2[4] = {&x, NULL, NULL, &sz};
    FY_CHECK_EQ(runn(&k, 4, in2, 1, &y, &d), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 1, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 1), 1.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 4), 2.5, 1e-6);
    FY_CHECK_NEAR(kh_outf(&y, 8), 4, 1e-6);
    fy_tensor_deinit(&y);

    /* Errors: both scales and sizes, bad mode, negative scale, short sizes. */
    const fy_tensor *both[4] = {&x, NULL, &sc, &sz};
    FY_CHECK_EQ(runn(&k, 4, both, 1, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "only one of");
    kh_init(&k, "Resize", 13);
    kh_attr_str(&k, "mode", "bicubic");
    FY_CHECK_EQ(runn(&k, 3, in, 1, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'mode'");
    static const double negv[] = {1, 1, -2, 2};
    fy_tensor neg = kh_alloc(FY_DTYPE_F32, 1, sd, negv);
    const fy_tensor *in3[3] = {&x, NULL, &neg};
    kh_init(&k, "Resize", 13);
    FY_CHECK_EQ(runn(&k, 3, in3, 1, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scales[2]");
    static const int64_t s2d[] = {2};
    static const int64_t s2v[] = {4, 4};
    fy_tensor sz2 = kh_alloc_i64(FY_DTYPE_I64, 1, s2d, s2v);
    const fy_tensor *in4[4] = {&x, NULL, NULL, &sz2};
    FY_CHECK_EQ(runn(&k, 4, in4, 1, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sizes");

    /* Upsample-9: nearest with a scales input; Upsample-7: scales attribute. */
    kh_init(&k, "Upsample", 9);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &sc, NULL), FY_OK);
    kh_check_shape(&y, 4, yd);
    for (int i = 0; i < 16; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), nn[i], 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "Upsample", 7);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'scales'");

    fy_tensor *all[] = {&x, &sc, &sz, &neg, &sz2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

/* ---- Pad ---- */

TEST(pad_modes)
{
    static const int64_t xd[] = {3}, pd[] = {2};
    static const double xv[] = {1, 2, 3};
    static const int64_t pv[] = {2, 3};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 1, xd, xv), p = kh_alloc_i64(FY_DTYPE_I64, 1, pd, pv), y;
    static const int64_t cd[] = {1};
    static const double cvv[] = {9};
    fy_tensor cv = kh_alloc(FY_DTYPE_F32, 0, cd, cvv);
    fy_diag d;
    kh_node k;
    kh_init(&k, "Pad", 13);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &p, &cv), FY_OK);
    static const float wc[] = {9, 9, 1, 2, 3, 9, 9, 9};
    FY_CHECK_EQ(y.dims[0], 8);
    for (int i = 0; i < 8; i++)
        FY_CHECK_NEAR(kh_outf(&y, i), wc[i], 0);
    fy_tensor_deinit(&y);

    static const char *const modes[] = {"reflect", "edge", "wrap"};
    static const float want[3][8] = {
        {3, 2, 1, 2, 3, 2, 1, 2}, {1, 1, 1, 2, 3, 3, 3, 3}, {2, 3, 1, 2, 3, 1, 2, 3}};
    for (int m = 0; m < 3; m++) {
        kh_init(&k, "Pad", 19);
        kh_attr_str(&k, "mode", modes[m]);
        FY_CHECK_EQ(run1(&k, &y, &d, &x, &p, NULL), FY_OK);
        for (int i = 0; i < 8; i++)
            FY_CHECK_NEAR(kh_outf(&y, i), want[m][i], 0);
        fy_tensor_deinit(&y);
    }

    /* Opset 2: pads attribute, negative pads crop; int32 data. */
    fy_tensor xi = convert(&x, FY_DTYPE_I32);
    kh_init(&k, "Pad", 2);
    int64_t pa[] = {-1, 1};
    kh_attr_ints(&k, "pads", pa, 2);
    kh_attr_float(&k, "value", 7.0f);
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, NULL, NULL), FY_OK);
    FY_CHECK_EQ(y.dims[0], 3);
    FY_CHECK_EQ(((int32_t *)y.data)[0], 2);
    FY_CHECK_EQ(((int32_t *)y.data)[2], 7);
    fy_tensor_deinit(&y);

    /* Errors: pad count, over-cropping, constant dtype, edge-padding an empty axis. */
    static const int64_t p3d[] = {3};
    static const int64_t p3v[] = {1, 1, 1}, pneg[] = {-2, -2};
    fy_tensor p3 = kh_alloc_i64(FY_DTYPE_I64, 1, p3d, p3v),
              pn = kh_alloc_i64(FY_DTYPE_I64, 1, pd, pneg);
    kh_init(&k, "Pad", 13);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &p3, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "pads has 3 values");
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &pn, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "remove more");
    FY_CHECK_EQ(run1(&k, &y, &d, &xi, &p, &cv), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "constant_value");
    static const int64_t ed[] = {0};
    fy_tensor empty = kh_alloc(FY_DTYPE_F32, 1, ed, NULL);
    kh_attr_str(&k, "mode", "edge");
    FY_CHECK_EQ(run1(&k, &y, &d, &empty, &p, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "empty axis");
    fy_tensor *all[] = {&x, &p, &cv, &xi, &p3, &pn, &empty};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

/* ---- Recurrent ---- */

TEST(rnn_values)
{
    /* One unit, one input feature, sequence [1, 2]: h1 = tanh(1), h2 = tanh(2 + 0.5 h1). */
    static const int64_t xd[] = {2, 1, 1}, wd[] = {1, 1, 1};
    static const double xv[] = {1, 2}, wv[] = {1}, rv[] = {0.5};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 3, xd, xv), w = kh_alloc(FY_DTYPE_F32, 3, wd, wv),
              r = kh_alloc(FY_DTYPE_F32, 3, wd, rv), out[3];
    const fy_tensor *in[3] = {&x, &w, &r};
    fy_diag d;
    kh_node k;
    kh_init(&k, "RNN", 14);
    kh_attr_int(&k, "hidden_size", 1);
    FY_CHECK_EQ(runn(&k, 3, in, 2, out, &d), FY_OK);
    double h1 = tanh(1.0), h2 = tanh(2.0 + 0.5 * h1);
    static const int64_t yd[] = {2, 1, 1, 1};
    kh_check_shape(&out[0], 4, yd);
    FY_CHECK_NEAR(kh_outf(&out[0], 0), h1, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 1), h2, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), h2, 1e-6);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    /* Bidirectional with shared weights: the reverse direction sees [2, 1]. */
    static const int64_t wd2[] = {2, 1, 1};
    static const double w2v[] = {1, 1}, r2v[] = {0.5, 0.5};
    fy_tensor w2 = kh_alloc(FY_DTYPE_F32, 3, wd2, w2v), r2 = kh_alloc(FY_DTYPE_F32, 3, wd2, r2v);
    const fy_tensor *in2[3] = {&x, &w2, &r2};
    kh_init(&k, "RNN", 14);
    kh_attr_str(&k, "direction", "bidirectional");
    FY_CHECK_EQ(runn(&k, 3, in2, 2, out, &d), FY_OK);
    double g1 = tanh(2.0), g2 = tanh(1.0 + 0.5 * g1);
    /* Y[t=0, dir=1] is the reverse state after both steps. */
    FY_CHECK_NEAR(kh_outf(&out[0], 1), g2, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[0], 3), g1, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[1], 1), g2, 1e-6);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    /* GRU with zero weights: z = r = 0.5, h~ = 0, h = 0.5 * h_prev = 0. LSTM with zero
     * weights and bias: c stays 0, h = 0.5 * tanh(0) = 0. Check shapes and values. */
    static const int64_t g_w[] = {1, 3, 1}, l_w[] = {1, 4, 1};
    fy_tensor gw = kh_alloc(FY_DTYPE_F32, 3, g_w, NULL), lw = kh_alloc(FY_DTYPE_F32, 3, l_w, NULL);
    const fy_tensor *gin[3] = {&x, &gw, &gw};
    kh_init(&k, "GRU", 14);
    FY_CHECK_EQ(runn(&k, 3, gin, 2, out, &d), FY_OK);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), 0, 1e-7);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    /* LSTM: W = 0 except the cell gate, so c1 = 0.5 * tanh(x) (i = 0.5, f = 0.5). */
    ((float *)lw.data)[3] = 1.0f;
    static const int64_t l_r[] = {1, 4, 1};
    fy_tensor lr = kh_alloc(FY_DTYPE_F32, 3, l_r, NULL);
    const fy_tensor *lin[3] = {&x, &lw, &lr};
    kh_init(&k, "LSTM", 14);
    FY_CHECK_EQ(runn(&k, 3, lin, 3, out, &d), FY_OK);
    double c1 = 0.5 * tanh(1.0), c2 = 0.5 * c1 + 0.5 * tanh(2.0);
    FY_CHECK_NEAR(kh_outf(&out[2], 0), c2, 1e-6);
    FY_CHECK_NEAR(kh_outf(&out[1], 0), 0.5 * tanh(c2), 1e-6);
    for (int i = 0; i < 3; i++)
        fy_tensor_deinit(&out[i]);

    /* Errors: W with the wrong gate count, bad sequence_lens, unknown activation. */
    kh_init(&k, "GRU", 14);
    FY_CHECK_EQ(runn(&k, 3, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1 (W)");
    static const int64_t sd[] = {1};
    static const int64_t sv[] = {3};
    fy_tensor sl = kh_alloc_i64(FY_DTYPE_I32, 1, sd, sv);
    const fy_tensor *ins[5] = {&x, &w, &r, NULL, &sl};
    kh_init(&k, "RNN", 14);
    FY_CHECK_EQ(runn(&k, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sequence_lens");
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    fy_tensor *all[] = {&x, &w, &r, &w2, &r2, &gw, &lw, &lr, &sl};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

/* Shapes and attributes a hostile model could carry: errors or empty outputs, never a
 * crash (this file also runs under ASan and UBSan). */
TEST(hostile_shapes)
{
    static const int64_t xd[] = {1, 1, 3, 3}, sd[] = {4}, pd[] = {8}, zd[] = {0, 1, 3, 3},
                         wd[] = {1, 1, 2, 2};
    fy_tensor x = iota(4, xd), w = kh_alloc(FY_DTYPE_F32, 4, wd, NULL),
              z = kh_alloc(FY_DTYPE_F32, 4, zd, NULL), y, out[2];
    fy_diag d;
    kh_node k;

    /* Pads far beyond any real size. */
    static const int64_t hp[] = {0, 0, 0, (int64_t)1 << 50, 0, 0, 0, 0};
    fy_tensor p = kh_alloc_i64(FY_DTYPE_I64, 1, pd, hp);
    kh_init(&k, "Pad", 13);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &p, NULL), FY_ELIMIT);
    static const int64_t mp[] = {0, 0, 0, INT64_MIN, 0, 0, 0, 0};
    fy_tensor p2 = kh_alloc_i64(FY_DTYPE_I64, 1, pd, mp);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, &p2, NULL), FY_ELIMIT);

    /* A scale whose output cannot be allocated. */
    static const double big[] = {1, 1, 1e11, 1e11};
    fy_tensor sc = kh_alloc(FY_DTYPE_F32, 1, sd, big);
    const fy_tensor *rin[3] = {&x, NULL, &sc};
    kh_init(&k, "Resize", 13);
    FY_CHECK(runn(&k, 3, rin, 1, &y, &d) < 0);
    fy_tensor_deinit(&y);

    /* ConvTranspose asked for an enormous output. */
    int64_t os[] = {(int64_t)1 << 39, (int64_t)1 << 39};
    kh_init(&k, "ConvTranspose", 11);
    kh_attr_ints(&k, "output_shape", os, 2);
    FY_CHECK(run1(&k, &y, &d, &x, &w, NULL) < 0);
    fy_tensor_deinit(&y);

    /* Pads at least as large as the kernel: windows entirely in padding, on the float32
     * fast path, the generic path (with Indices) and for AveragePool. */
    int64_t ks[] = {2, 2}, pads[] = {3, 3, 3, 3}, dl[] = {4, 4};
    const fy_tensor *in[1] = {&x};
    kh_init(&k, "MaxPool", 12);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "pads", pads, 4);
    FY_CHECK_EQ(runn(&k, 1, in, 1, out, &d), FY_OK);
    FY_CHECK(isinf(kh_outf(&out[0], 0)));
    fy_tensor_deinit(&out[0]);
    FY_CHECK_EQ(runn(&k, 1, in, 2, out, &d), FY_OK);
    FY_CHECK_EQ(((int64_t *)out[1].data)[0], -1);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    kh_init(&k, "AveragePool", 19);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "pads", pads, 4);
    kh_attr_ints(&k, "dilations", dl, 2);
    FY_CHECK_EQ(run1(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(kh_outf(&y, 0), 4, 0); /* taps -3 and 1: only x[1][1] */
    FY_CHECK_NEAR(kh_outf(&y, 2), 0, 0); /* taps -1 and 3 along w: nothing inside */
    fy_tensor_deinit(&y);

    /* An empty batch gives an empty output. */
    kh_init(&k, "Conv", 11);
    FY_CHECK_EQ(run1(&k, &y, &d, &z, &w, NULL), FY_OK);
    FY_CHECK_EQ(y.dims[0], 0);
    fy_tensor_deinit(&y);

    fy_tensor *all[] = {&x, &w, &z, &p, &p2, &sc};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        fy_tensor_deinit(all[i]);
}

int main(void)
{
    RUN(conv_basic_values);
    RUN(conv_f32_matches_f64);
    RUN(conv_errors);
    RUN(conv_transpose_values);
    RUN(maxpool_indices);
    RUN(avgpool_pads);
    RUN(maxunpool_values_and_bad_index);
    RUN(norm_values);
    RUN(gemm_values);
    RUN(gemm_f32_matches_f64);
    RUN(matmul_shapes);
    RUN(resize_values);
    RUN(pad_modes);
    RUN(rnn_values);
    RUN(hostile_shapes);
    return TEST_SUMMARY();
}
