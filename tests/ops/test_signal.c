/* SPDX-License-Identifier: MIT */
/* Signal kernels (DFT, STFT, windows, MelWeightMatrix) and the training-domain
 * optimizers (Adagrad, Adam, Momentum): values computed by hand or by a naive
 * DFT here, and malformed or hostile inputs refused with a named reason. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_harness.h"
#include "test.h"

#define TRAINING "ai.onnx.preview.training"

static const double PI = 3.14159265358979323846;

/* Naive DFT over n complex points (interleaved re, im), the test's oracle. */
static void naive_dft(const double *x, int64_t n, int inverse, double *y)
{
    double s = inverse ? 1.0 : -1.0;
    for (int64_t j = 0; j < n; j++) {
        double re = 0, im = 0;
        for (int64_t k = 0; k < n; k++) {
            double a = s * 2.0 * PI * (double)((j * k) % n) / (double)n;
            re += x[2 * k] * cos(a) - x[2 * k + 1] * sin(a);
            im += x[2 * k] * sin(a) + x[2 * k + 1] * cos(a);
        }
        y[2 * j] = inverse ? re / (double)n : re;
        y[2 * j + 1] = inverse ? im / (double)n : im;
    }
}

/* ---- DFT ---- */

TEST(dft_real_four_points)
{
    float x[4] = {1, 2, 3, 4};
    int64_t dims[3] = {1, 4, 1};
    fy_tensor in = kh_f32(x, 3, dims);
    const fy_tensor *ins[1] = {&in};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "DFT", 17);
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 3);
    FY_CHECK_EQ(out[0].dims[1], 4);
    FY_CHECK_EQ(out[0].dims[2], 2);
    static const float want[8] = {10, 0, -2, 2, -2, 0, -2, -2};
    for (int i = 0; i < 8 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), want[i], 1e-5);
    fy_tensor_deinit(&out[0]);

    /* onesided keeps bins 0..n/2 */
    kh_attr_int(&k, "onesided", 1);
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 3);
    for (int i = 0; i < 6 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), want[i], 1e-5);
    fy_tensor_deinit(&out[0]);
}

TEST(dft_length_pads_and_truncates)
{
    float x[3] = {1, 2, 3};
    int64_t dims[3] = {1, 3, 1}, len = 4;
    fy_tensor in = kh_f32(x, 3, dims), tl = kh_scalar(FY_DTYPE_I64, &len);
    const fy_tensor *ins[2] = {&in, &tl};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "DFT", 17);
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 4);
    static const float pad[8] = {6, 0, -2, -2, 2, 0, -2, 2};
    for (int i = 0; i < 8 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), pad[i], 1e-5);
    fy_tensor_deinit(&out[0]);
    len = 2; /* [1, 2] -> [3, -1] */
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 2);
    if (out[0].data) {
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 3, 1e-6);
        FY_CHECK_NEAR(kh_outf(&out[0], 2), -1, 1e-6);
    }
    fy_tensor_deinit(&out[0]);
}

/* Power-of-two, prime and composite lengths, complex input, both directions,
 * against the naive DFT; the signal runs along axis 1 with an inner axis after it. */
TEST(dft_matches_naive_all_lengths)
{
    static const int64_t lens[] = {1, 2, 3, 5, 7, 8, 12, 16, 31, 100};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t n = lens[li], inner = 2;
        int64_t dims[4] = {1, n, inner, 2};
        double *x = calloc((size_t)(n * inner * 2), sizeof *x);
        double *line = calloc((size_t)(2 * n), sizeof *line),
               *want = calloc((size_t)(2 * n), sizeof *want);
        for (int64_t i = 0; i < n * inner * 2; i++)
            x[i] = sin(0.7 * (double)i) + 0.25 * (double)(i % 5);
        fy_tensor in;
        memset(&in, 0, sizeof in);
        in.dtype = FY_DTYPE_F64;
        in.rank = 4;
        memcpy(in.dims, dims, sizeof dims);
        in.data = x;
        const fy_tensor *ins[1] = {&in};
        for (int inv = 0; inv < 2; inv++) {
            fy_tensor out[1] = {{0}};
            fy_diag d = {{0}};
            kh_node k;
            kh_init(&k, "DFT", 17);
            kh_attr_int(&k, "inverse", inv);
            FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_OK);
            FY_CHECK_EQ(out[0].dtype, FY_DTYPE_F64);
            for (int64_t i = 0; i < inner && out[0].data; i++) {
                for (int64_t j = 0; j < n; j++) {
                    line[2 * j] = x[(j * inner + i) * 2];
                    line[2 * j + 1] = x[(j * inner + i) * 2 + 1];
                }
                naive_dft(line, n, inv, want);
                const double *got = out[0].data;
                for (int64_t j = 0; j < n; j++) {
                    FY_CHECK_NEAR(got[(j * inner + i) * 2], want[2 * j], 1e-9 * (double)n);
                    FY_CHECK_NEAR(got[(j * inner + i) * 2 + 1], want[2 * j + 1], 1e-9 * (double)n);
                }
            }
            fy_tensor_deinit(&out[0]);
        }
        free(x);
        free(line);
        free(want);
    }
}

/* The largest accepted length, not a power of two (the Bluestein path): a unit
 * impulse transforms to all ones; one more point is refused. */
TEST(dft_at_the_length_ceiling)
{
    float x[1] = {1};
    int64_t dims[3] = {1, 1, 1}, len = ((int64_t)1 << 20) - 1;
    fy_tensor in = kh_f32(x, 3, dims), tl = kh_scalar(FY_DTYPE_I64, &len);
    const fy_tensor *ins[2] = {&in, &tl};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "DFT", 17);
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], len);
    double worst = 0;
    for (int64_t i = 0; i < len && out[0].data; i++) {
        worst = fmax(worst, fabs(kh_outf(&out[0], 2 * i) - 1.0));
        worst = fmax(worst, fabs(kh_outf(&out[0], 2 * i + 1)));
    }
    FY_CHECK(worst < 1e-6);
    fy_tensor_deinit(&out[0]);
    len = ((int64_t)1 << 20) + 1;
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_ELIMIT);
}

TEST(dft_opset20_axis_input)
{
    float x[6] = {1, 2, 3, 4, 5, 6}; /* [2, 3, 1]: DFT over the 2-long axis 0 */
    int64_t dims[3] = {2, 3, 1}, axis = -3;
    fy_tensor in = kh_f32(x, 3, dims), ta = kh_scalar(FY_DTYPE_I64, &axis);
    const fy_tensor *ins[3] = {&in, NULL, &ta};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "DFT", 20);
    FY_CHECK_EQ(kh_run(&k, 3, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(out[0].dims[1], 3);
    if (out[0].data) {
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 5, 1e-6);  /* 1 + 4 */
        FY_CHECK_NEAR(kh_outf(&out[0], 6), -3, 1e-6); /* 1 - 4 */
    }
    fy_tensor_deinit(&out[0]);
    /* default axis -2 is the 3-long axis */
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_OK);
    if (out[0].data)
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 6, 1e-6);
    fy_tensor_deinit(&out[0]);
}

TEST(dft_rejects_malformed)
{
    float x[6] = {0};
    int64_t dims[3] = {1, 2, 3}, len;
    fy_tensor in = kh_f32(x, 3, dims), tl = kh_scalar(FY_DTYPE_I64, &len);
    const fy_tensor *ins[2] = {&in, &tl};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "DFT", 17);
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_EINVAL); /* last dim 3 */
    FY_CHECK_CONTAINS(d.msg, "last dimension");
    in.dims[2] = 1;
    in.dims[1] = 6;
    kh_attr_int(&k, "axis", 2); /* the complex dimension */
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis 2");
    kh_init(&k, "DFT", 17);
    len = 0;
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "dft_length 0");
    len = (int64_t)1 << 40;
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "FY_DFT_MAX_N");
    len = -5;
    FY_CHECK_EQ(kh_run(&k, 2, ins, 1, out, &d), FY_EINVAL);
    in.dims[1] = 0; /* empty signal, no dft_length */
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "empty");
    int32_t bad = 3;
    in.dims[1] = 6;
    in.dtype = FY_DTYPE_I32;
    in.data = &bad;
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "float");
}

/* ---- STFT ---- */

TEST(stft_frames_match_naive)
{
    float x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (float)(i * i % 7) - 2.0f;
    float w[4] = {0.5f, 1.0f, 1.0f, 0.5f};
    int64_t dims[3] = {1, 10, 1}, wd[1] = {4}, step = 3;
    fy_tensor in = kh_f32(x, 3, dims), ts = kh_scalar(FY_DTYPE_I64, &step), tw = kh_f32(w, 1, wd);
    const fy_tensor *ins[3] = {&in, &ts, &tw};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "STFT", 17);
    FY_CHECK_EQ(kh_run(&k, 3, ins, 1, out, &d), FY_OK);
    /* frames 1 + (10 - 4) / 3 = 3, onesided bins 4/2 + 1 = 3 */
    FY_CHECK_EQ(out[0].rank, 4);
    FY_CHECK_EQ(out[0].dims[1], 3);
    FY_CHECK_EQ(out[0].dims[2], 3);
    for (int f = 0; f < 3 && out[0].data; f++) {
        double line[8], want[8];
        for (int j = 0; j < 4; j++) {
            line[2 * j] = x[f * 3 + j] * w[j];
            line[2 * j + 1] = 0;
        }
        naive_dft(line, 4, 0, want);
        for (int j = 0; j < 6; j++)
            FY_CHECK_NEAR(kh_outf(&out[0], f * 6 + j), want[j], 1e-5);
    }
    fy_tensor_deinit(&out[0]);
}

TEST(stft_rejects_malformed)
{
    float x[8] = {0}, w[3] = {1, 1, 1};
    int64_t dims[3] = {1, 8, 1}, wd[1] = {3}, step = 0, fl = 4;
    fy_tensor in = kh_f32(x, 3, dims), ts = kh_scalar(FY_DTYPE_I64, &step), tw = kh_f32(w, 1, wd),
              tl = kh_scalar(FY_DTYPE_I64, &fl);
    const fy_tensor *ins[4] = {&in, &ts, NULL, &tl};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "STFT", 17);
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "frame_step 0");
    step = 2;
    fl = 9;
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "exceeds the signal length");
    fl = (int64_t)1 << 50;
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    fl = 0;
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "frame_length 0");
    fl = 4;
    ins[2] = &tw;
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "window length 3");
    ins[1] = NULL;
    FY_CHECK_EQ(kh_run(&k, 4, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1");
}

/* ---- windows ---- */

static int run_window(const char *op, int64_t size, int periodic, int64_t odt, fy_tensor *out,
                      fy_diag *d)
{
    fy_tensor ts = kh_scalar(FY_DTYPE_I64, &size);
    const fy_tensor *ins[1] = {&ts};
    kh_node k;
    kh_init(&k, op, 17);
    if (periodic >= 0)
        kh_attr_int(&k, "periodic", periodic);
    if (odt)
        kh_attr_int(&k, "output_datatype", odt);
    return kh_run(&k, 1, ins, 1, out, d);
}

TEST(windows_by_hand)
{
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_window("HannWindow", 4, -1, 0, out, &d), FY_OK);
    static const float hann[4] = {0, 0.5f, 1, 0.5f};
    FY_CHECK_EQ(out[0].dims[0], 4);
    for (int i = 0; i < 4 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), hann[i], 1e-6);
    fy_tensor_deinit(&out[0]);

    FY_CHECK_EQ(run_window("HannWindow", 3, 0, 0, out, &d), FY_OK); /* symmetric */
    static const float sym[3] = {0, 1, 0};
    for (int i = 0; i < 3 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), sym[i], 1e-6);
    fy_tensor_deinit(&out[0]);

    FY_CHECK_EQ(run_window("HammingWindow", 2, 1, FY_DTYPE_F64, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_F64);
    if (out[0].data) {
        FY_CHECK_NEAR(((double *)out[0].data)[0], 4.0 / 46.0, 1e-12);
        FY_CHECK_NEAR(((double *)out[0].data)[1], 1.0, 1e-12);
    }
    fy_tensor_deinit(&out[0]);

    FY_CHECK_EQ(run_window("BlackmanWindow", 4, 1, 0, out, &d), FY_OK);
    static const float bl[4] = {0, 0.34f, 1, 0.34f};
    for (int i = 0; i < 4 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), bl[i], 1e-6);
    fy_tensor_deinit(&out[0]);

    FY_CHECK_EQ(run_window("BlackmanWindow", 0, 1, 0, out, &d), FY_OK); /* empty is fine */
    FY_CHECK_EQ(out[0].dims[0], 0);
    fy_tensor_deinit(&out[0]);

    FY_CHECK_EQ(run_window("HannWindow", 5, 1, FY_DTYPE_I32, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I32);
    fy_tensor_deinit(&out[0]);
}

TEST(windows_reject_bad_sizes)
{
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_window("HannWindow", -1, 1, 0, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "size -1");
    FY_CHECK_EQ(run_window("HammingWindow", (int64_t)1 << 40, 1, 0, out, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "output 0");
    FY_CHECK_EQ(run_window("HannWindow", INT64_MAX, 1, FY_DTYPE_F64, out, &d), FY_ELIMIT);
    FY_CHECK_EQ(run_window("BlackmanWindow", 4, 1, FY_DTYPE_STRING, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "output_datatype");
    FY_CHECK_EQ(run_window("BlackmanWindow", 4, 1, 99, out, &d), FY_EINVAL);
    float f = 4;
    fy_tensor tf = kh_scalar(FY_DTYPE_F32, &f);
    const fy_tensor *ins[1] = {&tf};
    kh_node k;
    kh_init(&k, "HannWindow", 17);
    FY_CHECK_EQ(kh_run(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "int32 or int64");
}

/* ---- MelWeightMatrix ---- */

static int run_mel(int64_t n_mel, int64_t dft, int64_t rate, float lo, float hi, fy_tensor *out,
                   fy_diag *d)
{
    fy_tensor t0 = kh_scalar(FY_DTYPE_I64, &n_mel), t1 = kh_scalar(FY_DTYPE_I64, &dft),
              t2 = kh_scalar(FY_DTYPE_I64, &rate), t3 = kh_scalar(FY_DTYPE_F32, &lo),
              t4 = kh_scalar(FY_DTYPE_F32, &hi);
    const fy_tensor *ins[5] = {&t0, &t1, &t2, &t3, &t4};
    kh_node k;
    kh_init(&k, "MelWeightMatrix", 17);
    return kh_run(&k, 5, ins, 1, out, d);
}

TEST(mel_matches_onnx_example)
{
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_mel(8, 16, 8192, 0, 4096, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 9);
    FY_CHECK_EQ(out[0].dims[1], 8);
    /* ONNX's expected matrix: ones at (0,0) (0,1) (1,2) (1,3) (2,4) (3,5) (4,6) (5,7). */
    static const int ones[8][2] = {{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}};
    float want[72] = {0};
    for (int i = 0; i < 8; i++)
        want[ones[i][0] * 8 + ones[i][1]] = 1;
    for (int i = 0; i < 72 && out[0].data; i++)
        FY_CHECK_NEAR(kh_outf(&out[0], i), want[i], 1e-6);
    fy_tensor_deinit(&out[0]);
}

TEST(mel_rejects_malformed)
{
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_mel(8, 16, 0, 0, 4096, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sample_rate 0");
    FY_CHECK_EQ(run_mel(0, 16, 8192, 0, 4096, out, &d), FY_EINVAL);
    FY_CHECK_EQ(run_mel(8, -16, 8192, 0, 4096, out, &d), FY_EINVAL);
    FY_CHECK_EQ(run_mel(8, 16, 8192, -10, 4096, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "lower_edge_hertz");
    FY_CHECK_EQ(run_mel(8, 16, 8192, 0, NAN, out, &d), FY_EINVAL);
    FY_CHECK_EQ(run_mel(8, 16, 8192, 0, 1e9f, out, &d), FY_EINVAL); /* far above Nyquist */
    FY_CHECK_CONTAINS(d.msg, "Nyquist");
    FY_CHECK_EQ(run_mel((int64_t)1 << 40, (int64_t)1 << 40, 8192, 0, 4096, out, &d), FY_ELIMIT);
}

/* ---- training ---- */

TEST(adagrad_by_hand)
{
    float r = 0.1f, x[1] = {1}, g[1] = {-1}, h[1] = {2};
    int64_t t = 0, dims[1] = {1};
    fy_tensor tr = kh_scalar(FY_DTYPE_F32, &r), tt = kh_scalar(FY_DTYPE_I64, &t),
              tx = kh_f32(x, 1, dims), tg = kh_f32(g, 1, dims), th = kh_f32(h, 1, dims);
    const fy_tensor *ins[5] = {&tr, &tt, &tx, &tg, &th};
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Adagrad", 1);
    kh_attr_float(&k, "norm_coefficient", 0.001f);
    kh_attr_float(&k, "epsilon", 1e-5f);
    kh_attr_float(&k, "decay_factor", 0.1f);
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_OK);
    /* g' = -0.999, h' = 2 + 0.998001, x' = 1 + 0.1 * 0.999 / (sqrt(h') + 1e-5) */
    if (out[0].data && out[1].data) {
        FY_CHECK_NEAR(kh_outf(&out[1], 0), 2.998001, 1e-6);
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 1.0576962, 1e-6);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    /* not in the default domain */
    FY_CHECK(fy__op_find("", "Adagrad") == NULL);
}

TEST(adam_with_bias_correction)
{
    float r = 0.1f, x[2] = {1.2f, 2.8f}, g[2] = {-0.94f, -2.5f}, v[2] = {1.7f, 3.6f},
          h[2] = {0.1f, 0.1f};
    int64_t t = 3, dims[1] = {2};
    fy_tensor tr = kh_scalar(FY_DTYPE_F32, &r), tt = kh_scalar(FY_DTYPE_I64, &t),
              tx = kh_f32(x, 1, dims), tg = kh_f32(g, 1, dims), tv = kh_f32(v, 1, dims),
              th = kh_f32(h, 1, dims);
    const fy_tensor *ins[6] = {&tr, &tt, &tx, &tg, &tv, &th};
    fy_tensor out[3] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Adam", 1);
    kh_attr_float(&k, "alpha", 0.5f);
    kh_attr_float(&k, "beta", 0.25f);
    kh_attr_float(&k, "epsilon", 0.125f);
    kh_attr_float(&k, "norm_coefficient_post", 0.5f);
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 6, ins, 3, out, &d), FY_OK);
    double radj = 0.1 * sqrt(1 - pow(0.25, 3)) / (1 - pow(0.5, 3));
    for (int i = 0; i < 2 && out[2].data; i++) {
        double gv = g[i], vn = 0.5 * v[i] + 0.5 * gv, hn = 0.25 * h[i] + 0.75 * gv * gv;
        FY_CHECK_NEAR(kh_outf(&out[1], i), vn, 1e-5);
        FY_CHECK_NEAR(kh_outf(&out[2], i), hn, 1e-5);
        FY_CHECK_NEAR(kh_outf(&out[0], i), 0.5 * (x[i] - radj * vn / (sqrt(hn) + 0.125)), 1e-5);
    }
    for (int i = 0; i < 3; i++)
        fy_tensor_deinit(&out[i]);
}

TEST(momentum_standard_and_nesterov)
{
    /* two groups: X1 [1], X2 [2]; ONNX's momentum_multiple values */
    float r = 0.1f, x1[1] = {1}, x2[2] = {1, 2}, g1[1] = {-1}, g2[2] = {-1, -3}, v1[1] = {2},
          v2[2] = {4, 1};
    int64_t t = 0, d1[1] = {1}, d2[1] = {2};
    fy_tensor tr = kh_scalar(FY_DTYPE_F32, &r), tt = kh_scalar(FY_DTYPE_I64, &t),
              tx1 = kh_f32(x1, 1, d1), tx2 = kh_f32(x2, 1, d2), tg1 = kh_f32(g1, 1, d1),
              tg2 = kh_f32(g2, 1, d2), tv1 = kh_f32(v1, 1, d1), tv2 = kh_f32(v2, 1, d2);
    const fy_tensor *ins[8] = {&tr, &tt, &tx1, &tx2, &tg1, &tg2, &tv1, &tv2};
    fy_tensor out[4] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Momentum", 1);
    kh_attr_float(&k, "alpha", 0.95f);
    kh_attr_float(&k, "beta", 0.85f);
    kh_attr_float(&k, "norm_coefficient", 0.001f);
    kh_attr_str(&k, "mode", "standard");
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 8, ins, 4, out, &d), FY_OK);
    if (out[3].data) {
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 0.9099, 1e-5);
        FY_CHECK_NEAR(kh_outf(&out[1], 1), 2.2048, 1e-5);
        FY_CHECK_NEAR(kh_outf(&out[2], 0), 0.901, 1e-5);
        FY_CHECK_NEAR(kh_outf(&out[3], 1), -2.048, 1e-5);
    }
    for (int i = 0; i < 4; i++)
        fy_tensor_deinit(&out[i]);
    /* nesterov: x' = x - r (g' + alpha v'), v' = alpha v + g' at t = 0 */
    kh_init(&k, "Momentum", 1);
    kh_attr_float(&k, "alpha", 0.5f);
    kh_attr_float(&k, "beta", 0.25f);
    kh_attr_float(&k, "norm_coefficient", 0.0f);
    kh_attr_str(&k, "mode", "nesterov");
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 8, ins, 2, out, &d), FY_OK); /* X outputs only */
    if (out[0].data) {
        FY_CHECK_NEAR(kh_outf(&out[0], 0), 1 - 0.1 * (-1 + 0.5 * (0.5 * 2 - 1)), 1e-6);
        FY_CHECK_NEAR(kh_outf(&out[1], 1), 2 - 0.1 * (-3 + 0.5 * (0.5 * 1 - 3)), 1e-6);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    /* t > 0 applies beta */
    t = 1;
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 8, ins, 4, out, &d), FY_OK);
    if (out[2].data)
        FY_CHECK_NEAR(kh_outf(&out[2], 0), 0.5 * 2 + 0.25 * -1, 1e-6);
    for (int i = 0; i < 4; i++)
        fy_tensor_deinit(&out[i]);
}

TEST(training_rejects_malformed)
{
    float r = 0.1f, x[2] = {1, 2}, g[3] = {1, 2, 3}, h[2] = {1, 1};
    int64_t t = 0, d2[1] = {2}, d3[1] = {3};
    fy_tensor tr = kh_scalar(FY_DTYPE_F32, &r), tt = kh_scalar(FY_DTYPE_I64, &t),
              tx = kh_f32(x, 1, d2), tg = kh_f32(g, 1, d3), th = kh_f32(h, 1, d2);
    const fy_tensor *ins[5] = {&tr, &tt, &tx, &tg, &th};
    fy_tensor out[3] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Adagrad", 1);
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 3 differs in shape");
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 4, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "4 inputs");
    tg.dims[0] = 2;
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 3, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "3 outputs");
    ins[0] = &tx; /* R not a scalar */
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "R (input 0)");
    ins[0] = &tr;
    ins[1] = &tr; /* T not an integer */
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "T (input 1)");
    ins[1] = &tt;
    ins[4] = NULL;
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 4");
    ins[4] = &th;

    kh_init(&k, "Momentum", 1);
    kh_attr_float(&k, "alpha", 0.5f);
    kh_attr_float(&k, "beta", 0.5f);
    kh_attr_float(&k, "norm_coefficient", 0.0f);
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "'mode'");
    kh_attr_str(&k, "mode", "heavy-ball");
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "heavy-ball");

    kh_init(&k, "Adam", 1); /* Adam needs 4 tensors per group: 5 inputs is wrong */
    FY_CHECK_EQ(kh_run_dom(&k, TRAINING, 5, ins, 2, out, &d), FY_EINVAL);
}

int main(void)
{
    RUN(dft_real_four_points);
    RUN(dft_length_pads_and_truncates);
    RUN(dft_matches_naive_all_lengths);
    RUN(dft_at_the_length_ceiling);
    RUN(dft_opset20_axis_input);
    RUN(dft_rejects_malformed);
    RUN(stft_frames_match_naive);
    RUN(stft_rejects_malformed);
    RUN(windows_by_hand);
    RUN(windows_reject_bad_sizes);
    RUN(mel_matches_onnx_example);
    RUN(mel_rejects_malformed);
    RUN(adagrad_by_hand);
    RUN(adam_with_bias_correction);
    RUN(momentum_standard_and_nesterov);
    RUN(training_rejects_malformed);
    return TEST_SUMMARY();
}
