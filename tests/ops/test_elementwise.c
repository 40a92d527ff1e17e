/* SPDX-License-Identifier: MIT */
/* Unit tests for the elementwise reference kernels: hand-computed values for the main
 * ops across dtypes and broadcasting, and the error paths for malformed nodes. */
#include <float.h>
#include <stdint.h>

#include "ops/kernel_harness.h"
#include "test.h"

/* Run a one-output op on 1..3 inputs (NULL ends the list early). */
static int run(kh_node *k, fy_tensor *out, fy_diag *d, const fy_tensor *a, const fy_tensor *b,
               const fy_tensor *c3)
{
    const fy_tensor *in[3] = {a, b, c3};
    int n = c3 ? 3 : b ? 2 : 1;
    memset(out, 0, sizeof *out);
    memset(d, 0, sizeof *d);
    return kh_run(k, n, in, 1, out, d);
}

static const int64_t d4[] = {4}, d23[] = {2, 3}, d3[] = {3}, d31[] = {3, 1}, d1[] = {1};

TEST(unary_f32_values)
{
    float xs[] = {-2.0f, -0.5f, 0.0f, 3.0f};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Relu", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_F32);
    FY_CHECK_NEAR(((float *)y.data)[0], 0.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 3.0, 0);
    fy_tensor_deinit(&y);

    kh_init(&k, "Sigmoid", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[2], 0.5, 1e-7);
    FY_CHECK_NEAR(((float *)y.data)[0], 1.0 / (1.0 + exp(2.0)), 1e-7);
    fy_tensor_deinit(&y);

    kh_init(&k, "LeakyRelu", 16);
    kh_attr_float(&k, "alpha", 0.1f);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], -0.2, 1e-6);
    fy_tensor_deinit(&y);

    kh_init(&k, "HardSigmoid", 6); /* defaults alpha 0.2, beta 0.5 */
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 0.1, 1e-6);
    FY_CHECK_NEAR(((float *)y.data)[3], 1.0, 0);
    fy_tensor_deinit(&y);

    kh_init(&k, "Shrink", 9);
    kh_attr_float(&k, "lambd", 1.0f);
    kh_attr_float(&k, "bias", 0.5f);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], -1.5, 0);
    FY_CHECK_NEAR(((float *)y.data)[1], 0.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 2.5, 0);
    fy_tensor_deinit(&y);

    kh_init(&k, "Selu", 6);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[3], 3.0 * 1.0507009873554805, 1e-5);
    FY_CHECK_NEAR(((float *)y.data)[0], 1.0507009873554805 * 1.6732632423543772 * expm1(-2.0),
                  1e-5);
    fy_tensor_deinit(&y);
}

TEST(unary_round_softplus_isinf)
{
    float xs[] = {0.5f, 1.5f, 2.5f, -2.5f};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Round", 11); /* half to even */
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 0.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[1], 2.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[2], 2.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], -2.0, 0);
    fy_tensor_deinit(&y);

    float big[] = {1000.0f, -1000.0f, 0.0f, 1.0f};
    fy_tensor xb = kh_f32(big, 1, d4);
    kh_init(&k, "Softplus", 1); /* no overflow for large inputs */
    FY_CHECK_EQ(run(&k, &y, &d, &xb, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 1000.0, 1e-3);
    FY_CHECK_NEAR(((float *)y.data)[1], 0.0, 1e-7);
    FY_CHECK_NEAR(((float *)y.data)[2], log(2.0), 1e-6);
    fy_tensor_deinit(&y);

    double v[] = {INFINITY, -INFINITY, NAN, 1.0};
    fy_tensor xd = kh_alloc(FY_DTYPE_F64, 1, d4, v);
    kh_init(&k, "IsInf", 10);
    kh_attr_int(&k, "detect_negative", 0);
    FY_CHECK_EQ(run(&k, &y, &d, &xd, NULL, NULL), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_BOOL);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    FY_CHECK_EQ(((uint8_t *)y.data)[2], 0);
    fy_tensor_deinit(&y);

    kh_init(&k, "IsNaN", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &xd, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[2], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 0);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&xd);
}

TEST(unary_int_and_f16)
{
    int64_t v[] = {INT64_MIN, -5, 0, 7};
    fy_tensor x = kh_alloc_i64(FY_DTYPE_I64, 1, d4, v), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Abs", 13); /* INT64_MIN wraps, as numpy does; no UB */
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], INT64_MIN);
    FY_CHECK_EQ(((int64_t *)y.data)[1], 5);
    fy_tensor_deinit(&y);
    kh_init(&k, "Neg", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[3], -7);
    fy_tensor_deinit(&y);
    kh_init(&k, "Sign", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], -1);
    FY_CHECK_EQ(((int64_t *)y.data)[2], 0);
    FY_CHECK_EQ(((int64_t *)y.data)[3], 1);
    fy_tensor_deinit(&y);
    kh_init(&k, "Sqrt", 13); /* float-only op */
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "int64");
    fy_tensor_deinit(&x);

    double h[] = {-1.0, 0.0, 1.0, 2.0};
    fy_tensor xh = kh_alloc(FY_DTYPE_F16, 1, d4, h);
    kh_init(&k, "Exp", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &xh, NULL, NULL), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_F16);
    FY_CHECK_NEAR(fy__get_f64(&y, 3), exp(2.0), 1e-2);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&xh);

    int64_t b[] = {0, 1, 1, 0};
    fy_tensor xb = kh_alloc_i64(FY_DTYPE_BOOL, 1, d4, b);
    kh_init(&k, "Not", 1);
    FY_CHECK_EQ(run(&k, &y, &d, &xb, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&xb);
}

TEST(gelu_forms)
{
    float xs[] = {1.0f, -1.0f, 0.0f, 2.0f};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Gelu", 20);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 0.8413447460685429, 1e-6);
    FY_CHECK_NEAR(((float *)y.data)[1], -0.15865525393145707, 1e-6);
    fy_tensor_deinit(&y);
    kh_init(&k, "Gelu", 20);
    kh_attr_str(&k, "approximate", "tanh");
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 0.8411919906082768, 1e-6);
    fy_tensor_deinit(&y);
    kh_init(&k, "Gelu", 20);
    kh_attr_str(&k, "approximate", "fast");
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "approximate");

    const fy__op_def *ms = fy__op_find("com.microsoft", "Gelu");
    FY_CHECK(ms != NULL);
    if (ms) {
        kh_init(&k, "Gelu", 1);
        const fy_tensor *in[1] = {&x};
        fy__op_ctx c = {&k.node, 1, 1, in, 1, &y, &d, NULL, NULL, NULL};
        memset(&y, 0, sizeof y);
        FY_CHECK_EQ(ms->run(&c), FY_OK);
        FY_CHECK_NEAR(((float *)y.data)[3], 1.9544997361036416, 1e-6);
        fy_tensor_deinit(&y);
    }
}

TEST(unary_bad_attrs)
{
    float xs[] = {1, 2, 3, 4};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Celu", 12);
    kh_attr_float(&k, "alpha", 0.0f);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "alpha");
    kh_init(&k, "Relu", 14);
    memset(&y, 0, sizeof y);
    const fy_tensor *none[1] = {NULL};
    FY_CHECK_EQ(kh_run(&k, 1, none, 1, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 0");
}

TEST(binary_broadcast_f32)
{
    /* [2,3,4] + [3,1]: exercises row merging with a broadcast inner axis */
    float a[24], b[3] = {10, 20, 30};
    for (int i = 0; i < 24; i++)
        a[i] = (float)i;
    const int64_t da[] = {2, 3, 4};
    fy_tensor ta = kh_f32(a, 3, da), tb = kh_f32(b, 2, d31), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Add", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, &tb, NULL), FY_OK);
    FY_CHECK_EQ(y.rank, 3);
    for (int i = 0; i < 24; i++)
        FY_CHECK_NEAR(((float *)y.data)[i], i + b[(i / 4) % 3], 0);
    fy_tensor_deinit(&y);

    /* scalar on the left, rank 0 */
    float s = 2.0f;
    fy_tensor ts = kh_f32(&s, 0, NULL);
    kh_init(&k, "Sub", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &ts, &tb, NULL), FY_OK);
    FY_CHECK_EQ(y.rank, 2);
    FY_CHECK_NEAR(((float *)y.data)[2], -28.0, 0);
    fy_tensor_deinit(&y);

    /* mismatched shapes name the dimension */
    fy_tensor t4 = kh_f32(a, 1, d4), t3 = kh_f32(b, 1, d3);
    kh_init(&k, "Mul", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &t4, &t3, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "broadcast");

    /* mismatched dtypes */
    double dv[] = {1, 2, 3};
    fy_tensor td = kh_alloc(FY_DTYPE_F64, 1, d3, dv);
    FY_CHECK_EQ(run(&k, &y, &d, &t3, &td, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "float64");
    fy_tensor_deinit(&td);

    /* opset 6 legacy broadcast: B [3] lines up with axis 1 of A [2,3,4] */
    kh_init(&k, "Add", 6);
    kh_attr_int(&k, "broadcast", 1);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, &t3, NULL), FY_OK);
    FY_CHECK_EQ(y.rank, 3);
    for (int i = 0; i < 24; i++)
        FY_CHECK_NEAR(((float *)y.data)[i], i + b[(i / 4) % 3], 0);
    fy_tensor_deinit(&y);
}

/* Random broadcast shapes against a naive multi-index computation: checks the row
 * merging of the float32 fast path and of the generic (float64) path. */
TEST(broadcast_random)
{
    unsigned seed = 12345;
    for (int trial = 0; trial < 200; trial++) {
        int64_t od[4], ad[4], bd[4];
        int rank = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        int ra = rank - (int)((seed = seed * 1103515245u + 12345u) >> 16) % 2;
        int64_t n = 1;
        for (int i = 0; i < rank; i++) {
            od[i] = 1 + ((seed = seed * 1103515245u + 12345u) >> 16) % 4;
            n *= od[i];
        }
        for (int i = 0; i < rank; i++) {
            unsigned r1 = (seed = seed * 1103515245u + 12345u) >> 16;
            unsigned r2 = (seed = seed * 1103515245u + 12345u) >> 16;
            ad[i] = (r1 % 3 == 0) ? 1 : od[i];
            bd[i] = (r2 % 3 == 0) ? 1 : od[i];
        }
        if (ra < 1)
            ra = 1;
        for (int i = 0; i < rank; i++) /* one operand spans each output axis */
            if (ad[i] == 1 || i < rank - ra)
                bd[i] = od[i];
        const int64_t *adp = ad + (rank - ra);
        fy_tensor a, b, a64, b64, y, y64;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        fy_tensor_alloc(&a, FY_DTYPE_F32, ra, adp, NULL);
        fy_tensor_alloc(&b, FY_DTYPE_F32, rank, bd, NULL);
        fy_tensor_alloc(&a64, FY_DTYPE_F64, ra, adp, NULL);
        fy_tensor_alloc(&b64, FY_DTYPE_F64, rank, bd, NULL);
        for (int64_t i = 0; i < fy_tensor_numel(&a); i++)
            fy__set_f64(&a, i, (double)i), fy__set_f64(&a64, i, (double)i);
        for (int64_t i = 0; i < fy_tensor_numel(&b); i++)
            fy__set_f64(&b, i, 1000.0 * (double)i), fy__set_f64(&b64, i, 1000.0 * (double)i);
        fy_diag d;
        kh_node k;
        kh_init(&k, "Sub", 14);
        FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
        FY_CHECK_EQ(run(&k, &y64, &d, &a64, &b64, NULL), FY_OK);
        FY_CHECK_EQ(fy_tensor_numel(&y), n);
        int64_t as[4], bs[4];
        fy__broadcast_strides(&a, rank, od, as);
        fy__broadcast_strides(&b, rank, od, bs);
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i, ia = 0, ib = 0;
            for (int j = rank - 1; j >= 0; j--) {
                int64_t idx = rem % od[j];
                rem /= od[j];
                ia += idx * as[j];
                ib += idx * bs[j];
            }
            double want = (double)ia - 1000.0 * (double)ib;
            FY_CHECK_NEAR(fy__get_f64(&y, i), want, 0);
            FY_CHECK_NEAR(fy__get_f64(&y64, i), want, 0);
        }
        fy_tensor_deinit(&a), fy_tensor_deinit(&b), fy_tensor_deinit(&a64);
        fy_tensor_deinit(&b64), fy_tensor_deinit(&y), fy_tensor_deinit(&y64);
        if (fy_test_failed_checks)
            break;
    }
}

TEST(integer_div_mod)
{
    int64_t av[] = {-7, 7, -7, INT64_MIN}, bv[] = {2, -3, 3, -1};
    fy_tensor a = kh_alloc_i64(FY_DTYPE_I64, 1, d4, av), b = kh_alloc_i64(FY_DTYPE_I64, 1, d4, bv),
              y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Div", 14); /* truncation toward zero */
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], -3);
    FY_CHECK_EQ(((int64_t *)y.data)[1], -2);
    FY_CHECK_EQ(((int64_t *)y.data)[3], INT64_MIN);
    fy_tensor_deinit(&y);

    kh_init(&k, "Mod", 13); /* Python semantics: sign of the divisor */
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], 1);
    FY_CHECK_EQ(((int64_t *)y.data)[1], -2);
    FY_CHECK_EQ(((int64_t *)y.data)[2], 2);
    FY_CHECK_EQ(((int64_t *)y.data)[3], 0);
    fy_tensor_deinit(&y);

    kh_init(&k, "Mod", 13);
    kh_attr_int(&k, "fmod", 1); /* C semantics: sign of the dividend */
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(((int64_t *)y.data)[0], -1);
    FY_CHECK_EQ(((int64_t *)y.data)[1], 1);
    FY_CHECK_EQ(((int64_t *)y.data)[2], -1);
    fy_tensor_deinit(&y);

    int64_t zv[] = {1, 0, 1, 1};
    fy_tensor z = kh_alloc_i64(FY_DTYPE_I32, 1, d4, zv),
              a32 = kh_alloc_i64(FY_DTYPE_I32, 1, d4, av);
    kh_init(&k, "Div", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &a32, &z, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "division by zero");
    fy_tensor_deinit(&y);
    kh_init(&k, "Mod", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &a32, &z, NULL), FY_EINVAL);
    fy_tensor_deinit(&y);

    float fa[] = {1, 2, 3, 4};
    fy_tensor tf = kh_f32(fa, 1, d4);
    kh_init(&k, "Mod", 13); /* floats need fmod=1 */
    FY_CHECK_EQ(run(&k, &y, &d, &tf, &tf, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "fmod");
    kh_init(&k, "Mod", 13);
    kh_attr_int(&k, "fmod", 2);
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "fmod");

    /* unsigned 8-bit: 200 / 3 computed unsigned */
    int64_t uv[] = {200, 7, 255, 0}, u3[] = {3, 2, 16, 5};
    fy_tensor ua = kh_alloc_i64(FY_DTYPE_U8, 1, d4, uv), ub = kh_alloc_i64(FY_DTYPE_U8, 1, d4, u3);
    kh_init(&k, "Div", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &ua, &ub, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 66);
    FY_CHECK_EQ(((uint8_t *)y.data)[2], 15);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&ua);
    fy_tensor_deinit(&ub);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
    fy_tensor_deinit(&z);
    fy_tensor_deinit(&a32);
}

TEST(pow_mixed_types)
{
    float base[] = {2, 3, -2, 4};
    int64_t ev[] = {3, 0, 3, -1};
    fy_tensor tb = kh_f32(base, 1, d4), te = kh_alloc_i64(FY_DTYPE_I64, 1, d4, ev), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Pow", 15);
    FY_CHECK_EQ(run(&k, &y, &d, &tb, &te, NULL), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_F32);
    FY_CHECK_NEAR(((float *)y.data)[0], 8.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[2], -8.0, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 0.25, 0);
    fy_tensor_deinit(&y);

    int64_t iv[] = {2, 3, -2, 1};
    fy_tensor ti = kh_alloc_i64(FY_DTYPE_I32, 1, d4, iv);
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &te, NULL), FY_OK); /* int32 ** int64 */
    FY_CHECK_EQ(y.dtype, FY_DTYPE_I32);
    FY_CHECK_EQ(((int32_t *)y.data)[0], 8);
    FY_CHECK_EQ(((int32_t *)y.data)[1], 1);
    FY_CHECK_EQ(((int32_t *)y.data)[2], -8);
    FY_CHECK_EQ(((int32_t *)y.data)[3], 1);
    fy_tensor_deinit(&y);

    float half[] = {0.5f};
    fy_tensor th = kh_f32(half, 1, d1);
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &th, NULL), FY_OK); /* int32 ** float32 truncates */
    FY_CHECK_EQ(((int32_t *)y.data)[0], 1);
    FY_CHECK_EQ(((int32_t *)y.data)[2], 0); /* NaN converts to 0, not UB */
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&te);
    fy_tensor_deinit(&ti);
}

TEST(bitshift_bitwise_logic)
{
    int64_t xv[] = {1, 255, 16, 1}, sv[] = {3, 1, 2, 70};
    fy_tensor x = kh_alloc_i64(FY_DTYPE_U8, 1, d4, xv), s = kh_alloc_i64(FY_DTYPE_U8, 1, d4, sv), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "BitShift", 11);
    kh_attr_str(&k, "direction", "LEFT");
    FY_CHECK_EQ(run(&k, &y, &d, &x, &s, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 8);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 254);
    FY_CHECK_EQ(((uint8_t *)y.data)[3], 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "BitShift", 11);
    kh_attr_str(&k, "direction", "RIGHT");
    FY_CHECK_EQ(run(&k, &y, &d, &x, &s, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 127);
    FY_CHECK_EQ(((uint8_t *)y.data)[2], 4);
    fy_tensor_deinit(&y);
    kh_init(&k, "BitShift", 11);
    FY_CHECK_EQ(run(&k, &y, &d, &x, &s, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "direction");

    kh_init(&k, "BitwiseXor", 18);
    FY_CHECK_EQ(run(&k, &y, &d, &x, &s, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 254);
    fy_tensor_deinit(&y);

    int64_t p[] = {0, 1, 1, 0}, q[] = {1};
    fy_tensor tp = kh_alloc_i64(FY_DTYPE_BOOL, 1, d4, p),
              tq = kh_alloc_i64(FY_DTYPE_BOOL, 1, d1, q);
    kh_init(&k, "Xor", 7);
    FY_CHECK_EQ(run(&k, &y, &d, &tp, &tq, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "And", 7); /* And wants bool */
    FY_CHECK_EQ(run(&k, &y, &d, &x, &s, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "uint8");
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&s);
    fy_tensor_deinit(&tp);
    fy_tensor_deinit(&tq);
}

TEST(comparisons)
{
    int64_t av[] = {(int64_t)UINT64_C(0xFFFFFFFFFFFFFFFF), 1, 5, 0}, bv[] = {1};
    fy_tensor a = kh_alloc_i64(FY_DTYPE_U64, 1, d4, av), b = kh_alloc_i64(FY_DTYPE_U64, 1, d1, bv),
              y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Greater", 13); /* uint64 max is greater than 1 */
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_BOOL);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    FY_CHECK_EQ(((uint8_t *)y.data)[3], 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "LessOrEqual", 16);
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[3], 1);
    fy_tensor_deinit(&y);

    float fa[] = {1, NAN, 3, 4}, fb[] = {1, NAN, 2, 5};
    fy_tensor ta = kh_f32(fa, 1, d4), tb = kh_f32(fb, 1, d4);
    kh_init(&k, "Equal", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, &tb, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
}

TEST(variadic)
{
    float a[] = {1, 5, 3}, b[] = {4}, c3[] = {2, 2, 2, 9, 9, 9};
    fy_tensor ta = kh_f32(a, 1, d3), tb = kh_f32(b, 1, d1), tc = kh_f32(c3, 2, d23), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Max", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, &tb, &tc), FY_OK);
    FY_CHECK_EQ(y.rank, 2);
    FY_CHECK_NEAR(((float *)y.data)[0], 4, 0);
    FY_CHECK_NEAR(((float *)y.data)[1], 5, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 9, 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "Mean", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, &tb, &tc), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], 7.0 / 3, 1e-6);
    FY_CHECK_NEAR(((float *)y.data)[4], 6.0, 1e-6);
    fy_tensor_deinit(&y);
    kh_init(&k, "Sum", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &ta, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[1], 5, 0);
    fy_tensor_deinit(&y);

    int64_t iv[] = {-3, 7, 0}, jv[] = {2};
    fy_tensor ti = kh_alloc_i64(FY_DTYPE_I8, 1, d3, iv), tj = kh_alloc_i64(FY_DTYPE_I8, 1, d1, jv);
    kh_init(&k, "Min", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &tj, NULL), FY_OK);
    FY_CHECK_EQ(((int8_t *)y.data)[0], -3);
    FY_CHECK_EQ(((int8_t *)y.data)[1], 2);
    fy_tensor_deinit(&y);
    kh_init(&k, "Sum", 13); /* Sum is float-only */
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &tj, NULL), FY_EINVAL);
    fy_tensor_deinit(&ti);
    fy_tensor_deinit(&tj);
}

TEST(where_and_prelu)
{
    int64_t cv[] = {1, 0, 1};
    float x[] = {1, 2, 3, 4, 5, 6}, yv[] = {-1};
    fy_tensor tc = kh_alloc_i64(FY_DTYPE_BOOL, 1, d3, cv), tx = kh_f32(x, 2, d23),
              ty = kh_f32(yv, 1, d1);
    fy_tensor o;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Where", 16);
    FY_CHECK_EQ(run(&k, &o, &d, &tc, &tx, &ty), FY_OK);
    FY_CHECK_EQ(o.rank, 2);
    FY_CHECK_NEAR(((float *)o.data)[0], 1, 0);
    FY_CHECK_NEAR(((float *)o.data)[1], -1, 0);
    FY_CHECK_NEAR(((float *)o.data)[5], 6, 0);
    fy_tensor_deinit(&o);
    FY_CHECK_EQ(run(&k, &o, &d, &tx, &tx, &ty), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "condition");

    float xv[] = {-1, -2, 3, -4, 5, -6}, sl[] = {0.5f, 2, 1};
    fy_tensor tpx = kh_f32(xv, 2, d23), ts = kh_f32(sl, 1, d3);
    kh_init(&k, "PRelu", 16);
    FY_CHECK_EQ(run(&k, &o, &d, &tpx, &ts, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)o.data)[0], -0.5, 0);
    FY_CHECK_NEAR(((float *)o.data)[1], -4, 0);
    FY_CHECK_NEAR(((float *)o.data)[2], 3, 0);
    FY_CHECK_NEAR(((float *)o.data)[3], -2, 0);
    fy_tensor_deinit(&o);
    /* opset 6: a 1-D slope runs along the channel axis 1 */
    float x3[] = {-1, -1, -1, -1, -1, -1};
    fy_tensor t32 = kh_f32(x3, 3, (const int64_t[]){1, 3, 2});
    kh_init(&k, "PRelu", 6);
    FY_CHECK_EQ(run(&k, &o, &d, &t32, &ts, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)o.data)[1], -0.5, 0);
    FY_CHECK_NEAR(((float *)o.data)[2], -2, 0);
    FY_CHECK_NEAR(((float *)o.data)[5], -1, 0);
    fy_tensor_deinit(&o);
    kh_init(&k, "PRelu", 16);
    /* the slope may not grow the output */
    FY_CHECK_EQ(run(&k, &o, &d, &ts, &tpx, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "shape of input 0");
    fy_tensor_deinit(&tc);
}

TEST(cast_and_castlike)
{
    float xs[] = {NAN, 1e30f, -2.7f, 65504.0f};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", FY_DTYPE_I32);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK); /* NaN and huge values: no UB */
    FY_CHECK_EQ(y.dtype, FY_DTYPE_I32);
    FY_CHECK_EQ(((int32_t *)y.data)[2], -2);
    fy_tensor_deinit(&y);

    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", FY_DTYPE_F16);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((uint16_t *)y.data)[3], 0x7BFF);
    fy_tensor y2;
    kh_init(&k, "CastLike", 15);
    FY_CHECK_EQ(run(&k, &y2, &d, &y, &x, NULL), FY_OK);
    FY_CHECK_EQ(y2.dtype, FY_DTYPE_F32);
    FY_CHECK_NEAR(((float *)y2.data)[2], -2.69921875, 0);
    FY_CHECK(isnan(((float *)y2.data)[0]));
    fy_tensor_deinit(&y2);
    fy_tensor_deinit(&y);

    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", FY_DTYPE_BOOL);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 1);
    fy_tensor_deinit(&y);

    int64_t iv[] = {-1, 256, 3, 0};
    fy_tensor ti = kh_alloc_i64(FY_DTYPE_I64, 1, d4, iv);
    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", FY_DTYPE_U8); /* wraps like numpy's astype */
    FY_CHECK_EQ(run(&k, &y, &d, &ti, NULL, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)y.data)[0], 255);
    FY_CHECK_EQ(((uint8_t *)y.data)[1], 0);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&ti);

    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", FY_DTYPE_STRING);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EUNSUPPORTED);
    kh_init(&k, "Cast", 13);
    kh_attr_int(&k, "to", 99);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    kh_init(&k, "Cast", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'to'");
}

TEST(clip_versions)
{
    float xs[] = {-5, 0, 5, 10};
    fy_tensor x = kh_f32(xs, 1, d4), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Clip", 6);
    kh_attr_float(&k, "min", -1);
    kh_attr_float(&k, "max", 6);
    FY_CHECK_EQ(run(&k, &y, &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)y.data)[0], -1, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 6, 0);
    fy_tensor_deinit(&y);

    float mx = 4;
    fy_tensor tmx = kh_f32(&mx, 0, NULL);
    kh_init(&k, "Clip", 13);
    const fy_tensor *in[3] = {&x, NULL, &tmx};
    memset(&y, 0, sizeof y);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, &y, &d), FY_OK); /* min omitted */
    FY_CHECK_NEAR(((float *)y.data)[0], -5, 0);
    FY_CHECK_NEAR(((float *)y.data)[3], 4, 0);
    fy_tensor_deinit(&y);

    int64_t iv[] = {-100, 0, 50, 127}, lo[] = {-10}, hi[] = {20};
    fy_tensor ti = kh_alloc_i64(FY_DTYPE_I8, 1, d4, iv),
              tl = kh_alloc_i64(FY_DTYPE_I8, 0, NULL, lo),
              th = kh_alloc_i64(FY_DTYPE_I8, 0, NULL, hi);
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &tl, &th), FY_OK);
    FY_CHECK_EQ(((int8_t *)y.data)[0], -10);
    FY_CHECK_EQ(((int8_t *)y.data)[1], 0);
    FY_CHECK_EQ(((int8_t *)y.data)[3], 20);
    fy_tensor_deinit(&y);

    /* bounds must be scalars of the input's dtype */
    FY_CHECK_EQ(run(&k, &y, &d, &ti, &ti, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scalar");
    FY_CHECK_EQ(run(&k, &y, &d, &x, &tl, NULL), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "int8");
    fy_tensor_deinit(&ti);
    fy_tensor_deinit(&tl);
    fy_tensor_deinit(&th);
}

TEST(identity_dropout)
{
    float xs[] = {1, 2, 3, 4};
    fy_tensor x = kh_f32(xs, 1, d4), out[2];
    fy_diag d;
    kh_node k;
    kh_init(&k, "Identity", 16);
    FY_CHECK_EQ(run(&k, &out[0], &d, &x, NULL, NULL), FY_OK);
    FY_CHECK_NEAR(((float *)out[0].data)[3], 4, 0);
    fy_tensor_deinit(&out[0]);

    kh_init(&k, "Dropout", 13);
    memset(out, 0, sizeof out);
    const fy_tensor *in1[1] = {&x};
    FY_CHECK_EQ(kh_run(&k, 1, in1, 2, out, &d), FY_OK);
    FY_CHECK_NEAR(((float *)out[0].data)[2], 3, 0);
    FY_CHECK_EQ(out[1].dtype, FY_DTYPE_BOOL);
    FY_CHECK_EQ(((uint8_t *)out[1].data)[3], 1);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);

    float r = 0.5f;
    int64_t tv[] = {1};
    fy_tensor tr = kh_f32(&r, 0, NULL), tt = kh_alloc_i64(FY_DTYPE_BOOL, 0, NULL, tv);
    const fy_tensor *in3[3] = {&x, &tr, &tt};
    memset(out, 0, sizeof out);
    FY_CHECK_EQ(kh_run(&k, 3, in3, 2, out, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "training_mode");
    float bad = 1.5f;
    fy_tensor tbad = kh_f32(&bad, 0, NULL);
    const fy_tensor *in2[2] = {&x, &tbad};
    memset(out, 0, sizeof out);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "ratio");
    fy_tensor_deinit(&tt);
}

TEST(empty_tensors)
{
    const int64_t d0[] = {0, 3};
    const double zero[3] = {0, 0, 0};
    fy_tensor a = kh_alloc(FY_DTYPE_F32, 2, d0, zero), b = kh_alloc(FY_DTYPE_F32, 1, d3, zero), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "Add", 14);
    FY_CHECK_EQ(run(&k, &y, &d, &a, &b, NULL), FY_OK);
    FY_CHECK_EQ(y.rank, 2);
    FY_CHECK_EQ(y.dims[0], 0);
    fy_tensor_deinit(&y);
    kh_init(&k, "Tanh", 13);
    FY_CHECK_EQ(run(&k, &y, &d, &a, NULL, NULL), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&y), 0);
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
}

int main(void)
{
    RUN(unary_f32_values);
    RUN(unary_round_softplus_isinf);
    RUN(unary_int_and_f16);
    RUN(gelu_forms);
    RUN(unary_bad_attrs);
    RUN(binary_broadcast_f32);
    RUN(broadcast_random);
    RUN(integer_div_mod);
    RUN(pow_mixed_types);
    RUN(bitshift_bitwise_logic);
    RUN(comparisons);
    RUN(variadic);
    RUN(where_and_prelu);
    RUN(cast_and_castlike);
    RUN(clip_versions);
    RUN(identity_dropout);
    RUN(empty_tensors);
    return TEST_SUMMARY();
}
