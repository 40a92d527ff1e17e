/* SPDX-License-Identifier: MIT */
/* Unit tests for src/ops/ref/quant.c: rounding and saturation of (de)quantization,
 * per-axis and blocked parameters, integer MatMul/Conv, and malformed inputs. */
#include <stdint.h>

#include "ops/kernel_harness.h"
#include "test.h"

TEST(quantize_round_half_even_saturate)
{
    float x[] = {0.5f, 1.5f, 2.5f, -1.0f, 300.0f, -0.5f};
    float s[] = {1.0f};
    int64_t xd[] = {6};
    fy_tensor tx = kh_f32(x, 1, xd), ts = kh_f32(s, 0, NULL);
    const fy_tensor *in[] = {&tx, &ts};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "QuantizeLinear", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_U8);
    const uint8_t *y = out[0].data;
    FY_CHECK(y[0] == 0 && y[1] == 2 && y[2] == 2 && y[3] == 0 && y[4] == 255 && y[5] == 0);
    kh_free_outs(out, 1);
    /* int8 with zero point 10 */
    int8_t z[] = {10};
    fy_tensor tz = kh_view(FY_DTYPE_I8, z, 0, NULL);
    float x2[] = {-200.0f, 3.5f, 200.0f, NAN};
    int64_t x2d[] = {4};
    fy_tensor tx2 = kh_f32(x2, 1, x2d);
    const fy_tensor *in2[] = {&tx2, &ts, &tz};
    FY_CHECK_EQ(kh_run(&k, 3, in2, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I8);
    const int8_t *yi = out[0].data;
    FY_CHECK_EQ(yi[0], -128);
    FY_CHECK_EQ(yi[1], 14);
    FY_CHECK_EQ(yi[2], 127);
    FY_CHECK_EQ(yi[3], -128);
    kh_free_outs(out, 1);
}

TEST(quantize_per_axis_and_blocked)
{
    float x[] = {2, 4, 6, 8};
    float s[] = {2, 4};
    uint8_t z[] = {1, 2};
    int64_t xd[] = {2, 2}, sd[] = {2};
    fy_tensor tx = kh_f32(x, 2, xd), ts = kh_f32(s, 1, sd), tz = kh_view(FY_DTYPE_U8, z, 1, sd);
    const fy_tensor *in[] = {&tx, &ts, &tz};
    fy_tensor out[1] = {{0}};
    kh_node k;
    /* axis 1 (default): column scales */
    kh_init(&k, "QuantizeLinear", 13);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    const uint8_t *y = out[0].data;
    FY_CHECK(y[0] == 2 && y[1] == 3 && y[2] == 4 && y[3] == 4);
    kh_free_outs(out, 1);
    kh_init(&k, "QuantizeLinear", 13);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    y = out[0].data;
    FY_CHECK(y[0] == 2 && y[1] == 3 && y[2] == 4 && y[3] == 4);
    kh_free_outs(out, 1);
    /* blocked (opset 21): x (1, 4), block 2 along axis 1, scale (1, 2) */
    float xb[] = {1, 2, 3, 4}, sb[] = {1, 2};
    int64_t xbd[] = {1, 4}, sbd[] = {1, 2};
    fy_tensor txb = kh_f32(xb, 2, xbd), tsb = kh_f32(sb, 2, sbd);
    const fy_tensor *inb[] = {&txb, &tsb};
    kh_init(&k, "QuantizeLinear", 21);
    kh_attr_int(&k, "block_size", 2);
    FY_CHECK_EQ(kh_run(&k, 2, inb, 1, out, NULL), FY_OK);
    y = out[0].data;
    FY_CHECK(y[0] == 1 && y[1] == 2 && y[2] == 2 && y[3] == 2);
    kh_free_outs(out, 1);
    /* wrong per-axis size names the scale */
    float s3[] = {1, 2, 3};
    int64_t s3d[] = {3};
    fy_tensor ts3 = kh_f32(s3, 1, s3d);
    const fy_tensor *in3[] = {&tx, &ts3};
    fy_diag d = {{0}};
    kh_init(&k, "QuantizeLinear", 13);
    FY_CHECK_EQ(kh_run(&k, 2, in3, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "y_scale");
    kh_free_outs(out, 1);
    kh_init(&k, "QuantizeLinear", 21);
    kh_attr_int(&k, "block_size", 1);
    FY_CHECK_EQ(kh_run(&k, 2, inb, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "block_size 1");
    kh_free_outs(out, 1);
}

TEST(dequantize_int8_int32_per_axis)
{
    int8_t x[] = {-128, 0, 10, 127};
    int8_t z[] = {-28};
    float s[] = {0.5f};
    int64_t xd[] = {4};
    fy_tensor tx = kh_view(FY_DTYPE_I8, x, 1, xd), ts = kh_f32(s, 0, NULL),
              tz = kh_view(FY_DTYPE_I8, z, 0, NULL);
    const fy_tensor *in[] = {&tx, &ts, &tz};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "DequantizeLinear", 13);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    const float *y = out[0].data;
    FY_CHECK_NEAR(y[0], -50, 0);
    FY_CHECK_NEAR(y[1], 14, 0);
    FY_CHECK_NEAR(y[3], 77.5, 0);
    kh_free_outs(out, 1);
    /* int32 input, per-axis scale along axis 0 */
    int32_t xi[] = {100, -100, 7, 8};
    float s2[] = {0.5f, 2.0f};
    int64_t xid[] = {2, 2}, s2d[] = {2};
    fy_tensor txi = kh_view(FY_DTYPE_I32, xi, 2, xid), ts2 = kh_f32(s2, 1, s2d);
    const fy_tensor *in2[] = {&txi, &ts2};
    kh_init(&k, "DequantizeLinear", 13);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, NULL), FY_OK);
    y = out[0].data;
    FY_CHECK_NEAR(y[0], 50, 0);
    FY_CHECK_NEAR(y[1], -50, 0);
    FY_CHECK_NEAR(y[2], 14, 0);
    FY_CHECK_NEAR(y[3], 16, 0);
    kh_free_outs(out, 1);
    /* zero point of another dtype */
    uint8_t zu[] = {0};
    fy_tensor tzu = kh_view(FY_DTYPE_U8, zu, 0, NULL);
    const fy_tensor *in3[] = {&tx, &ts, &tzu};
    fy_diag d = {{0}};
    kh_init(&k, "DequantizeLinear", 13);
    FY_CHECK_EQ(kh_run(&k, 3, in3, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "x_zero_point");
    kh_free_outs(out, 1);
}

TEST(dynamic_quantize)
{
    float x[] = {0, 2, -3, -2.5f, 1.34f, 0.5f};
    int64_t xd[] = {6};
    fy_tensor tx = kh_f32(x, 1, xd);
    const fy_tensor *in[] = {&tx};
    fy_tensor out[3] = {{0}};
    kh_node k;
    kh_init(&k, "DynamicQuantizeLinear", 11);
    FY_CHECK_EQ(kh_run(&k, 1, in, 3, out, NULL), FY_OK);
    float scale = 5.0f / 255.0f;
    FY_CHECK_NEAR(((float *)out[1].data)[0], scale, 1e-7);
    FY_CHECK_EQ(((uint8_t *)out[2].data)[0], 153);
    const uint8_t *y = out[0].data;
    FY_CHECK_EQ(y[0], 153);
    FY_CHECK_EQ(y[1], 255);
    FY_CHECK_EQ(y[2], 0);
    FY_CHECK_EQ(y[3], 26);
    kh_free_outs(out, 3);
    /* all zeros: scale 0, no division by zero */
    float z[] = {0, 0};
    int64_t zd[] = {2};
    fy_tensor tz = kh_f32(z, 1, zd);
    const fy_tensor *in2[] = {&tz};
    FY_CHECK_EQ(kh_run(&k, 1, in2, 3, out, NULL), FY_OK);
    FY_CHECK_EQ(((uint8_t *)out[0].data)[1], 0);
    kh_free_outs(out, 3);
}

TEST(matmul_integer_zero_points)
{
    uint8_t a[] = {1, 2, 3, 4}, b[] = {1, 2, 3, 4}, az[] = {1, 2}, bz[] = {1};
    int64_t d2[] = {2, 2}, zd[] = {2};
    fy_tensor ta = kh_view(FY_DTYPE_U8, a, 2, d2), tb = kh_view(FY_DTYPE_U8, b, 2, d2);
    fy_tensor taz = kh_view(FY_DTYPE_U8, az, 1, zd), tbz = kh_view(FY_DTYPE_U8, bz, 0, NULL);
    const fy_tensor *in[] = {&ta, &tb, &taz, &tbz};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "MatMulInteger", 10);
    FY_CHECK_EQ(kh_run(&k, 4, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I32);
    /* A - per-row zp = [[0,1],[1,2]], B - 1 = [[0,1],[2,3]] */
    const int32_t *y = out[0].data;
    FY_CHECK(y[0] == 2 && y[1] == 3 && y[2] == 4 && y[3] == 7);
    kh_free_outs(out, 1);
    /* inner dimensions differ */
    int64_t d3[] = {3, 1};
    fy_tensor tb3 = kh_view(FY_DTYPE_U8, b, 2, d3);
    const fy_tensor *in2[] = {&ta, &tb3};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 2, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "K=");
    kh_free_outs(out, 1);
    /* zero point of another dtype */
    int8_t bzi[] = {0};
    fy_tensor tbzi = kh_view(FY_DTYPE_I8, bzi, 0, NULL);
    const fy_tensor *in3[] = {&ta, &tb, NULL, &tbzi};
    FY_CHECK_EQ(kh_run(&k, 4, in3, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 3");
    kh_free_outs(out, 1);
}

TEST(qlinear_matmul_values)
{
    uint8_t a[] = {2, 4}, b[] = {3, 5};
    int64_t ad[] = {1, 2}, bd[] = {2, 1};
    float as[] = {0.5f}, bs[] = {0.25f}, ys[] = {0.125f};
    uint8_t az[] = {0}, bz[] = {1}, yz[] = {10};
    fy_tensor ta = kh_view(FY_DTYPE_U8, a, 2, ad), tb = kh_view(FY_DTYPE_U8, b, 2, bd);
    fy_tensor tas = kh_f32(as, 0, NULL), tbs = kh_f32(bs, 0, NULL), tys = kh_f32(ys, 0, NULL);
    fy_tensor taz = kh_view(FY_DTYPE_U8, az, 0, NULL), tbz = kh_view(FY_DTYPE_U8, bz, 0, NULL),
              tyz = kh_view(FY_DTYPE_U8, yz, 0, NULL);
    const fy_tensor *in[] = {&ta, &tas, &taz, &tb, &tbs, &tbz, &tys, &tyz};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "QLinearMatMul", 10);
    FY_CHECK_EQ(kh_run(&k, 8, in, 1, out, NULL), FY_OK);
    /* C = 2*2 + 4*4 = 20; 20 * (0.5*0.25/0.125) + 10 = 30 */
    FY_CHECK_EQ(((uint8_t *)out[0].data)[0], 30);
    kh_free_outs(out, 1);
    /* non-scalar y_scale */
    float ys2[] = {1, 2};
    int64_t y2d[] = {2};
    fy_tensor tys2 = kh_f32(ys2, 1, y2d);
    const fy_tensor *in2[] = {&ta, &tas, &taz, &tb, &tbs, &tbz, &tys2, &tyz};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 8, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "y_scale");
    kh_free_outs(out, 1);
    /* K = 0: empty operands, every output is the zero point */
    int64_t a0d[] = {1, 0}, b0d[] = {0, 2};
    fy_tensor ta0 = kh_view(FY_DTYPE_U8, a, 2, a0d), tb0 = kh_view(FY_DTYPE_U8, b, 2, b0d);
    const fy_tensor *in3[] = {&ta0, &tas, &taz, &tb0, &tbs, &tbz, &tys, &tyz};
    FY_CHECK_EQ(kh_run(&k, 8, in3, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 2);
    FY_CHECK_EQ(((uint8_t *)out[0].data)[1], 10);
    kh_free_outs(out, 1);
}

TEST(conv_integer_values)
{
    uint8_t x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 1, 1, 1}, xz[] = {1};
    int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 1, 2, 2};
    fy_tensor tx = kh_view(FY_DTYPE_U8, x, 4, xd), tw = kh_view(FY_DTYPE_U8, w, 4, wd);
    fy_tensor txz = kh_view(FY_DTYPE_U8, xz, 0, NULL);
    const fy_tensor *in[] = {&tx, &tw, &txz};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "ConvInteger", 10);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[2], 2);
    FY_CHECK_EQ(out[0].dims[3], 2);
    const int32_t *y = out[0].data;
    /* windows of x-1: (0+1+3+4), (1+2+4+5), (3+4+6+7), (4+5+7+8) */
    FY_CHECK(y[0] == 8 && y[1] == 12 && y[2] == 20 && y[3] == 24);
    kh_free_outs(out, 1);
    /* padding 1 all round, padded values are the zero point (adjusted 0) */
    int64_t pads[] = {1, 1, 1, 1};
    kh_init(&k, "ConvInteger", 10);
    kh_attr_ints(&k, "pads", pads, 4);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, NULL), FY_OK);
    FY_CHECK_EQ(out[0].dims[2], 4);
    FY_CHECK_EQ(((int32_t *)out[0].data)[0], 0);
    FY_CHECK_EQ(((int32_t *)out[0].data)[5], 8);
    kh_free_outs(out, 1);
    /* bad attributes */
    fy_diag d = {{0}};
    int64_t st[] = {0, 1};
    kh_init(&k, "ConvInteger", 10);
    kh_attr_ints(&k, "strides", st, 2);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'strides'");
    kh_free_outs(out, 1);
    kh_init(&k, "ConvInteger", 10);
    kh_attr_int(&k, "group", 2);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "group");
    kh_free_outs(out, 1);
    int64_t big[] = {4, 4};
    kh_init(&k, "ConvInteger", 10);
    kh_attr_ints(&k, "dilations", big, 2);
    FY_CHECK_EQ(kh_run(&k, 3, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "kernel extent");
    kh_free_outs(out, 1);
    /* a 1-D weight zero point must have one value per output channel */
    uint8_t wz2[] = {0, 0};
    int64_t wz2d[] = {2};
    fy_tensor twz2 = kh_view(FY_DTYPE_U8, wz2, 1, wz2d);
    const fy_tensor *in2[] = {&tx, &tw, &txz, &twz2};
    kh_init(&k, "ConvInteger", 10);
    FY_CHECK_EQ(kh_run(&k, 4, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "w_zero_point (input 3)");
    kh_free_outs(out, 1);
}

TEST(qlinear_conv_values)
{
    uint8_t x[] = {10, 20, 30, 40}, w[] = {2, 4}, xz[] = {10}, wz[] = {0, 1}, yz[] = {5};
    int64_t xd[] = {1, 1, 2, 2}, wd[] = {2, 1, 1, 1}, md[] = {2};
    float xs[] = {0.5f}, wsc[] = {1.0f, 0.5f}, ys[] = {1.0f};
    int32_t bias[] = {1, -2};
    fy_tensor tx = kh_view(FY_DTYPE_U8, x, 4, xd), tw = kh_view(FY_DTYPE_U8, w, 4, wd);
    fy_tensor txs = kh_f32(xs, 0, NULL), tws = kh_f32(wsc, 1, md), tys = kh_f32(ys, 0, NULL);
    fy_tensor txz = kh_view(FY_DTYPE_U8, xz, 0, NULL), twz = kh_view(FY_DTYPE_U8, wz, 1, md),
              tyz = kh_view(FY_DTYPE_U8, yz, 0, NULL), tb = kh_view(FY_DTYPE_I32, bias, 1, md);
    const fy_tensor *in[] = {&tx, &txs, &txz, &tw, &tws, &twz, &tys, &tyz, &tb};
    fy_tensor out[1] = {{0}};
    kh_node k;
    kh_init(&k, "QLinearConv", 10);
    FY_CHECK_EQ(kh_run(&k, 9, in, 1, out, NULL), FY_OK);
    const uint8_t *y = out[0].data;
    /* The spec rounds acc * scale half to even, then adds the zero point.
     * channel 0: ((x-10)*2 + 1) * 0.5: x=10 -> 0.5 -> 0 (+5), x=20 -> 10.5 -> 10 (+5) */
    FY_CHECK_EQ(y[0], 5);
    FY_CHECK_EQ(y[1], 15);
    /* channel 1: ((x-10)*3 - 2) * 0.25: x=40 -> 22 (+5); x=10 -> -0.5 -> 0 (+5) */
    FY_CHECK_EQ(y[7], 27);
    FY_CHECK_EQ(y[4], 5);
    kh_free_outs(out, 1);
    /* bias of the wrong size */
    int64_t b1[] = {1};
    fy_tensor tb1 = kh_view(FY_DTYPE_I32, bias, 1, b1);
    const fy_tensor *in2[] = {&tx, &txs, &txz, &tw, &tws, &twz, &tys, &tyz, &tb1};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 9, in2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "B (input 8)");
    kh_free_outs(out, 1);
}

int main(void)
{
    RUN(quantize_round_half_even_saturate);
    RUN(quantize_per_axis_and_blocked);
    RUN(dequantize_int8_int32_per_axis);
    RUN(dynamic_quantize);
    RUN(matmul_integer_zero_points);
    RUN(qlinear_matmul_values);
    RUN(conv_integer_values);
    RUN(qlinear_conv_values);
    return TEST_SUMMARY();
}
