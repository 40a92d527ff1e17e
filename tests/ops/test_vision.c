/* SPDX-License-Identifier: MIT */
/* Unit tests for the vision kernels (NonMaxSuppression, RoiAlign, GridSample): values
 * computed by hand, and hostile inputs (bad shapes and attributes, out-of-range batch
 * indices, NaN and huge coordinates) refused with a named reason or handled in bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "ops/kernel_harness.h"
#include "test.h"

/* Run op on n_in inputs (NULL entries are omitted optional inputs) into one output. */
static int run(kh_node *k, int n_in, const fy_tensor *const *in, fy_tensor *out, fy_diag *d)
{
    memset(out, 0, sizeof *out);
    memset(d, 0, sizeof *d);
    return kh_run(k, n_in, in, 1, out, d);
}

static double at(const fy_tensor *t, int64_t i)
{
    return fy__get_f64(t, i);
}

static void free_all(fy_tensor *const *ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fy_tensor_deinit(ts[i]);
}

/* ---- NonMaxSuppression ---- */

/* ONNX's suppress_by_IOU boxes: three overlapping near x=0, two near x=10, one at 100. */
static const double nms_boxes[24] = {0, 0,  1, 1,  0, 0.1,  1, 1.1,  0, -0.1, 1, 0.9,
                                     0, 10, 1, 11, 0, 10.1, 1, 11.1, 0, 100,  1, 101};
static const double nms_scores[6] = {0.9, 0.75, 0.6, 0.95, 0.5, 0.3};
static const int64_t nms_bd[3] = {1, 6, 4}, nms_sd[3] = {1, 1, 6}, one[1] = {1};

static void check_rows(const fy_tensor *y, int64_t n, const int64_t *want)
{
    int64_t d[2] = {n, 3};
    kh_check_shape(y, 2, d);
    if (y->rank == 2 && y->dims[0] == n)
        for (int64_t i = 0; i < 3 * n; i++)
            FY_CHECK_EQ(((const int64_t *)y->data)[i], want[i]);
}

TEST(nms_values)
{
    fy_tensor b = kh_alloc(FY_DTYPE_F32, 3, nms_bd, nms_boxes),
              s = kh_alloc(FY_DTYPE_F32, 3, nms_sd, nms_scores);
    int64_t m3 = 3;
    double half = 0.5, zero = 0.0, high = 0.4;
    fy_tensor mo = kh_alloc_i64(FY_DTYPE_I64, 1, one, &m3),
              iou = kh_alloc(FY_DTYPE_F32, 1, one, &half),
              sc = kh_alloc(FY_DTYPE_F32, 1, one, &zero),
              sc_hi = kh_alloc(FY_DTYPE_F32, 1, one, &high), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "NonMaxSuppression", 11);
    const fy_tensor *in[5] = {&b, &s, &mo, &iou, &sc};
    FY_CHECK_EQ(run(&k, 5, in, &y, &d), FY_OK);
    static const int64_t want[9] = {0, 0, 3, 0, 0, 0, 0, 0, 5};
    check_rows(&y, 3, want);
    fy_tensor_deinit(&y);

    /* score_threshold 0.4 drops box 5 (0.3): only two survive. */
    in[4] = &sc_hi;
    FY_CHECK_EQ(run(&k, 5, in, &y, &d), FY_OK);
    check_rows(&y, 2, want);
    fy_tensor_deinit(&y);

    /* max_output_boxes_per_class omitted means 0: an empty [0, 3] result. */
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    check_rows(&y, 0, want);
    fy_tensor_deinit(&y);

    /* The same boxes as [x_center, y_center, width, height] select the same indices. */
    double cb[24];
    for (int i = 0; i < 6; i++) {
        const double *p = nms_boxes + 4 * i;
        cb[4 * i] = (p[1] + p[3]) / 2;
        cb[4 * i + 1] = (p[0] + p[2]) / 2;
        cb[4 * i + 2] = p[3] - p[1];
        cb[4 * i + 3] = p[2] - p[0];
    }
    fy_tensor bc = kh_alloc(FY_DTYPE_F32, 3, nms_bd, cb);
    kh_attr_int(&k, "center_point_box", 1);
    in[0] = &bc;
    in[4] = &sc;
    FY_CHECK_EQ(run(&k, 5, in, &y, &d), FY_OK);
    check_rows(&y, 3, want);
    fy_tensor_deinit(&y);

    fy_tensor *all[] = {&b, &s, &mo, &iou, &sc, &sc_hi, &bc};
    free_all(all, sizeof all / sizeof all[0]);
}

TEST(nms_ties_classes_and_nan)
{
    /* Two batches, two classes; equal scores pick the lower box index first; identical
     * boxes suppress each other; NaN boxes and scores neither crash nor suppress. */
    static const int64_t bd[3] = {2, 3, 4}, sd[3] = {2, 2, 3};
    const double nan = NAN;
    double boxes[24] = {0,   0, 1, 1, 0, 0, 1, 1, 5, 5, 6, 6, /* batch 0: 0 and 1 identical */
                        nan, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
    double scores[12] = {0.5, 0.5, 0.5, /* b0 c0: ties */
                         0.1, 0.9, nan, /* b0 c1 */
                         0.7, 0.8, 0.9, /* b1 c0: box 0 has a NaN corner */
                         nan, nan, nan};
    int64_t m = 10;
    fy_tensor b = kh_alloc(FY_DTYPE_F32, 3, bd, boxes), s = kh_alloc(FY_DTYPE_F32, 3, sd, scores),
              mo = kh_alloc_i64(FY_DTYPE_I64, 1, one, &m), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "NonMaxSuppression", 11);
    const fy_tensor *in[3] = {&b, &s, &mo};
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    static const int64_t want[] = {
        0, 0, 0, 0,
        0, 2, /* b0 c0: 0 (ties go by index); 1 is suppressed by 0; then 2 */
        0, 1, 1, 0,
        1, 2, /* b0 c1: 1 (0.9); 0 is suppressed by it; the NaN score comes last */
        1, 0, 2, 1,
        0, 0, /* b1 c0: 2; 1 is suppressed; box 0 (NaN corner) is kept */
        1, 1, 0, 1,
        1, 1, /* b1 c1: NaN scores keep index order; box 0 suppresses nothing,
               * and 2 is suppressed by 1 */
    };
    check_rows(&y, 8, want);
    fy_tensor_deinit(&y);

    /* A negative maximum selects nothing. */
    m = -5;
    fy_tensor mneg = kh_alloc_i64(FY_DTYPE_I64, 1, one, &m);
    in[2] = &mneg;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_EQ(y.dims[0], 0);
    fy_tensor_deinit(&y);

    fy_tensor *all[] = {&b, &s, &mo, &mneg};
    free_all(all, sizeof all / sizeof all[0]);
}

TEST(nms_errors)
{
    static const int64_t bad_bd[3] = {1, 6, 3}, bad_sd[3] = {1, 1, 5}, two[1] = {2};
    int64_t m3 = 3, m2[2] = {1, 2};
    double big = 1.5, nan = NAN;
    fy_tensor b = kh_alloc(FY_DTYPE_F32, 3, nms_bd, nms_boxes),
              s = kh_alloc(FY_DTYPE_F32, 3, nms_sd, nms_scores);
    fy_tensor bb = kh_alloc(FY_DTYPE_F32, 3, bad_bd, NULL),
              bs = kh_alloc(FY_DTYPE_F32, 3, bad_sd, NULL);
    fy_tensor mo = kh_alloc_i64(FY_DTYPE_I64, 1, one, &m3),
              mo2 = kh_alloc_i64(FY_DTYPE_I64, 1, two, m2),
              iou_big = kh_alloc(FY_DTYPE_F32, 1, one, &big),
              iou_nan = kh_alloc(FY_DTYPE_F32, 1, one, &nan), y;
    fy_tensor mo_f = kh_alloc(FY_DTYPE_F32, 1, one, &big);
    fy_diag d;
    kh_node k;
    kh_init(&k, "NonMaxSuppression", 11);

    const fy_tensor *in[4] = {&bb, &s, &mo, NULL};
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "boxes");
    in[0] = &b;
    in[1] = &bs;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scores");
    in[1] = &s;
    in[2] = &mo2;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "max_output_boxes_per_class");
    in[2] = &mo_f;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "integer");
    in[2] = &mo;
    in[3] = &iou_big;
    FY_CHECK_EQ(run(&k, 4, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "iou_threshold");
    in[3] = &iou_nan;
    FY_CHECK_EQ(run(&k, 4, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "iou_threshold");
    in[3] = NULL;
    FY_CHECK_EQ(run(&k, 1, in, &y, &d), FY_EINVAL); /* scores missing */
    FY_CHECK_CONTAINS(d.msg, "input 1");
    kh_attr_int(&k, "center_point_box", 2);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "center_point_box");

    fy_tensor *all[] = {&b, &s, &bb, &bs, &mo, &mo2, &iou_big, &iou_nan, &mo_f};
    free_all(all, sizeof all / sizeof all[0]);
}

/* ---- RoiAlign ---- */

static const int64_t x44[4] = {1, 1, 4, 4}, roi1[2] = {1, 4};

static fy_tensor iota44(void)
{
    double v[16];
    for (int i = 0; i < 16; i++)
        v[i] = i; /* value at (y, x) is 4y + x: bilinear sampling returns 4y + x */
    return kh_alloc(FY_DTYPE_F32, 4, x44, v);
}

TEST(roialign_values)
{
    double r3[4] = {0, 0, 3, 3}, r4[4] = {0, 0, 4, 4};
    int64_t b0 = 0;
    fy_tensor x = iota44(), rois3 = kh_alloc(FY_DTYPE_F32, 2, roi1, r3),
              rois4 = kh_alloc(FY_DTYPE_F32, 2, roi1, r4),
              bi = kh_alloc_i64(FY_DTYPE_I64, 1, one, &b0), y;
    fy_diag d;
    kh_node k;
    const fy_tensor *in[3] = {&x, &rois3, &bi};

    /* Opset 10 (output_half_pixel): one bin, one sample at (1.5, 1.5) -> 4*1.5 + 1.5. */
    kh_init(&k, "RoiAlign", 10);
    kh_attr_int(&k, "sampling_ratio", 1);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    static const int64_t yd1[4] = {1, 1, 1, 1};
    kh_check_shape(&y, 4, yd1);
    FY_CHECK_NEAR(at(&y, 0), 7.5, 1e-6);
    fy_tensor_deinit(&y);

    /* Opset 16 defaults to half_pixel: the ROI shifts by -0.5, the sample lands on (1, 1). */
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "sampling_ratio", 1);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_NEAR(at(&y, 0), 5.0, 1e-6);
    fy_tensor_deinit(&y);

    /* max mode takes the largest weighted corner: 10 * 0.25 (as ONNX's reference does). */
    kh_init(&k, "RoiAlign", 10);
    kh_attr_int(&k, "sampling_ratio", 1);
    kh_attr_str(&k, "mode", "max");
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_NEAR(at(&y, 0), 2.5, 1e-6);
    fy_tensor_deinit(&y);

    /* 2x2 bins of 2x2 samples over [0, 4]: samples 0.5, 1.5 | 2.5, 3.5 (3.5 clamps to 3). */
    kh_init(&k, "RoiAlign", 10);
    kh_attr_int(&k, "output_height", 2);
    kh_attr_int(&k, "output_width", 2);
    kh_attr_int(&k, "sampling_ratio", 2);
    in[1] = &rois4;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    static const int64_t yd2[4] = {1, 1, 2, 2};
    kh_check_shape(&y, 4, yd2);
    FY_CHECK_NEAR(at(&y, 0), 5.0, 1e-6);   /* y = 1, x = 1 */
    FY_CHECK_NEAR(at(&y, 1), 6.75, 1e-6);  /* y = 1, x = 2.75 */
    FY_CHECK_NEAR(at(&y, 2), 12.0, 1e-6);  /* y = 2.75, x = 1 */
    FY_CHECK_NEAR(at(&y, 3), 13.75, 1e-6); /* y = 2.75, x = 2.75 */
    fy_tensor_deinit(&y);

    /* Adaptive sampling (ratio 0): ceil(4 / 2) = 2 samples per bin, the same result. */
    kh_init(&k, "RoiAlign", 10);
    kh_attr_int(&k, "output_height", 2);
    kh_attr_int(&k, "output_width", 2);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_NEAR(at(&y, 3), 13.75, 1e-6);
    fy_tensor_deinit(&y);

    /* float64 computes the same. */
    fy_tensor x64 = kh_alloc(FY_DTYPE_F64, 4, x44, NULL), r64 = kh_alloc(FY_DTYPE_F64, 2, roi1, r4);
    for (int i = 0; i < 16; i++)
        fy__set_f64(&x64, i, i);
    in[0] = &x64;
    in[1] = &r64;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_F64);
    FY_CHECK_NEAR(at(&y, 1), 6.75, 1e-12);
    fy_tensor_deinit(&y);

    fy_tensor *all[] = {&x, &rois3, &rois4, &bi, &x64, &r64};
    free_all(all, sizeof all / sizeof all[0]);
}

TEST(roialign_edges)
{
    static const int64_t r0d[2] = {0, 4}, zd[1] = {0};
    double far[4] = {100, 100, 120, 120}, neg[4] = {3, 3, 1, 1}, huge[4] = {0, 0, 1e30f, 1e30f};
    int64_t b0 = 0;
    fy_tensor x = iota44(), rf = kh_alloc(FY_DTYPE_F32, 2, roi1, far),
              rn = kh_alloc(FY_DTYPE_F32, 2, roi1, neg), rh = kh_alloc(FY_DTYPE_F32, 2, roi1, huge),
              r0 = kh_alloc(FY_DTYPE_F32, 2, r0d, NULL),
              bi = kh_alloc_i64(FY_DTYPE_I64, 1, one, &b0),
              b_empty = kh_alloc_i64(FY_DTYPE_I64, 1, zd, NULL), y;
    fy_diag d;
    kh_node k;

    /* A ROI far outside the map samples nothing: 0, in both modes. */
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "output_height", 2);
    kh_attr_int(&k, "output_width", 2);
    const fy_tensor *in[3] = {&x, &rf, &bi};
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    for (int i = 0; i < 4; i++)
        FY_CHECK_EQ(at(&y, i), 0.0);
    fy_tensor_deinit(&y);

    /* half_pixel keeps an inverted ROI as is: no samples, zeros. */
    in[1] = &rn;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    FY_CHECK_EQ(at(&y, 0), 0.0);
    fy_tensor_deinit(&y);

    /* No ROIs: an empty [0, C, oh, ow] result. */
    in[1] = &r0;
    in[2] = &b_empty;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    static const int64_t ed[4] = {0, 1, 2, 2};
    kh_check_shape(&y, 4, ed);
    fy_tensor_deinit(&y);

    /* Adaptive sampling over an enormous ROI is refused instead of looping for ages. */
    in[1] = &rh;
    in[2] = &bi;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "samples");
    /* With a fixed sampling ratio the same ROI is just mostly outside the map. */
    kh_attr_int(&k, "sampling_ratio", 2);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_OK);
    fy_tensor_deinit(&y);
    /* A grid within the per-axis limit but too large in total is refused too. */
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "output_height", 2048);
    kh_attr_int(&k, "output_width", 2048);
    kh_attr_int(&k, "sampling_ratio", 2048);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "sampling points");

    fy_tensor *all[] = {&x, &rf, &rn, &rh, &r0, &bi, &b_empty};
    free_all(all, sizeof all / sizeof all[0]);
}

TEST(roialign_errors)
{
    static const int64_t bad_rd[2] = {1, 3}, two[1] = {2};
    double r[4] = {0, 0, 3, 3}, rnan[4] = {0, NAN, 3, 3}, rinf[4] = {0, 0, INFINITY, 3};
    int64_t b_big = 1, b_neg = -1, b2[2] = {0, 0}, b0 = 0;
    fy_tensor x = iota44(), rois = kh_alloc(FY_DTYPE_F32, 2, roi1, r),
              rb = kh_alloc(FY_DTYPE_F32, 2, bad_rd, NULL),
              rnn = kh_alloc(FY_DTYPE_F32, 2, roi1, rnan),
              ri = kh_alloc(FY_DTYPE_F32, 2, roi1, rinf),
              bbig = kh_alloc_i64(FY_DTYPE_I64, 1, one, &b_big),
              bneg = kh_alloc_i64(FY_DTYPE_I64, 1, one, &b_neg),
              btwo = kh_alloc_i64(FY_DTYPE_I64, 1, two, b2),
              bi = kh_alloc_i64(FY_DTYPE_I64, 1, one, &b0),
              bf = kh_alloc(FY_DTYPE_F32, 1, one, NULL), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "RoiAlign", 16);
    const fy_tensor *in[3] = {&x, &rois, &bbig};

    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch_indices[0] = 1");
    in[2] = &bneg;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch_indices[0] = -1");
    in[2] = &btwo;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch_indices");
    in[2] = &bf;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch_indices");
    in[2] = &bi;
    in[1] = &rb;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "rois");
    in[1] = &rnn;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "rois[0][1]");
    in[1] = &ri;
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "rois[0][2]");
    in[1] = &rois;
    in[0] = &rois; /* rank 2 X */
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "X");
    in[0] = &x;

    kh_init(&k, "RoiAlign", 16);
    kh_attr_str(&k, "mode", "median");
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "median");
    kh_init(&k, "RoiAlign", 16);
    kh_attr_str(&k, "coordinate_transformation_mode", "asymmetric");
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "coordinate_transformation_mode");
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "output_height", 0);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "output_height");
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "sampling_ratio", -1);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sampling_ratio");
    kh_init(&k, "RoiAlign", 16);
    kh_attr_float(&k, "spatial_scale", NAN);
    FY_CHECK_EQ(run(&k, 3, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "spatial_scale");
    /* An output too large to allocate is refused before any work. */
    kh_init(&k, "RoiAlign", 16);
    kh_attr_int(&k, "output_height", (int64_t)1 << 40);
    kh_attr_int(&k, "output_width", (int64_t)1 << 40);
    FY_CHECK(run(&k, 3, in, &y, &d) != FY_OK);

    fy_tensor *all[] = {&x, &rois, &rb, &rnn, &ri, &bbig, &bneg, &btwo, &bi, &bf};
    free_all(all, sizeof all / sizeof all[0]);
}

/* ---- GridSample ---- */

/* One output location per grid x value, on X = [1, 1, 1, n] with grid y = 0. */
static fy_tensor row_grid(int n, const double *gx)
{
    int64_t gd[4] = {1, 1, n, 2};
    double g[16];
    for (int i = 0; i < n; i++) {
        g[2 * i] = gx[i];
        g[2 * i + 1] = 0;
    }
    return kh_alloc(FY_DTYPE_F32, 4, gd, g);
}

static void gs_row(const char *mode, const char *pad, int n, const double *gx, const double *want)
{
    static const int64_t xd[4] = {1, 1, 1, 3};
    static const double xv[3] = {1, 2, 3};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), g = row_grid(n, gx), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "GridSample", 16);
    kh_attr_str(&k, "mode", mode);
    kh_attr_str(&k, "padding_mode", pad);
    const fy_tensor *in[2] = {&x, &g};
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    int64_t yd[4] = {1, 1, 1, n};
    kh_check_shape(&y, 4, yd);
    for (int i = 0; i < n && fy_tensor_numel(&y) == n; i++) {
        if (isnan(want[i]))
            FY_CHECK(isnan(at(&y, i)));
        else
            FY_CHECK_NEAR(at(&y, i), want[i], 1e-5);
    }
    fy_tensor_deinit(&y);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&g);
}

TEST(gridsample_padding)
{
    /* Width 3, align_corners 0: grid x maps to ((x + 1) * 3 - 1) / 2, so 0 -> 1 (the centre
     * pixel), 1/3 -> 1.5, 1 -> 2.5 (half a pixel past the last), 2 -> 4 and -3 -> -3.5. */
    const double gx[6] = {0.0, 1.0 / 3, 1.0, 2.0, -3.0, 1e30};
    const double zeros[6] = {2, 2.5, 1.5, 0, 0, 0};
    const double border[6] = {2, 2.5, 3, 3, 1, 3};
    /* reflection: 4.0 reflects off 2.5 to 1.0; -3.5 reflects off -0.5 to 2.5. */
    const double reflect[6] = {2, 2.5, 3, 2, 3, NAN};
    gs_row("bilinear", "zeros", 6, gx, zeros);
    gs_row("bilinear", "border", 6, gx, border);
    gs_row("bilinear", "reflection", 5, gx, reflect); /* 1e30: only checked below */
    const double nearest[6] = {2, 3, 3, 0, 0, 0}; /* 1.5 and 2.5 both round to 2 (half to even) */
    gs_row("nearest", "zeros", 6, gx, nearest);
    const double nearest_b[6] = {2, 3, 3, 3, 1, 3};
    gs_row("nearest", "border", 6, gx, nearest_b);
}

TEST(gridsample_bicubic_and_align)
{
    /* Bicubic (Keys, a = -0.75) at x = 2.25 on 0, 1, 4, 9, 16: weights
     * -0.10546875, 0.87890625, 0.26171875, -0.03515625 on pixels 1..4. */
    static const int64_t xd[4] = {1, 1, 1, 5}, gd[4] = {1, 1, 1, 2};
    static const double xv[5] = {0, 1, 4, 9, 16};
    double gv[2] = {0.1, 0};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), g = kh_alloc(FY_DTYPE_F32, 4, gd, gv), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "GridSample", 16);
    kh_attr_str(&k, "mode", "bicubic");
    const fy_tensor *in[2] = {&x, &g};
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    FY_CHECK_NEAR(at(&y, 0), 5.203125, 1e-5);
    fy_tensor_deinit(&y);

    /* align_corners 1 with a grid on the pixel centres reproduces X (2x2 -> 2x2). */
    static const int64_t x2d[4] = {1, 1, 2, 2}, g2d[4] = {1, 2, 2, 2};
    static const double x2[4] = {1, 2, 3, 4};
    double ident[8] = {-1, -1, 1, -1, -1, 1, 1, 1};
    fy_tensor xx = kh_alloc(FY_DTYPE_F32, 4, x2d, x2), gi = kh_alloc(FY_DTYPE_F32, 4, g2d, ident);
    kh_init(&k, "GridSample", 16);
    kh_attr_int(&k, "align_corners", 1);
    in[0] = &xx;
    in[1] = &gi;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    for (int i = 0; i < 4; i++)
        FY_CHECK_NEAR(at(&y, i), x2[i], 1e-6);
    fy_tensor_deinit(&y);

    /* The centre of a 2x2 image with align_corners 0 averages all four pixels. */
    double centre[2] = {0, 0};
    fy_tensor gc = kh_alloc(FY_DTYPE_F32, 4, gd, centre);
    kh_init(&k, "GridSample", 16);
    in[1] = &gc;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    FY_CHECK_NEAR(at(&y, 0), 2.5, 1e-6);
    fy_tensor_deinit(&y);

    /* int64 X with nearest copies values exactly (no detour through double). */
    fy_tensor xi =
        kh_alloc_i64(FY_DTYPE_I64, 4, x2d, (const int64_t[]){INT64_MAX, 2, 3, INT64_MIN});
    kh_init(&k, "GridSample", 16);
    kh_attr_int(&k, "align_corners", 1);
    kh_attr_str(&k, "mode", "nearest");
    in[0] = &xi;
    in[1] = &gi;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    FY_CHECK_EQ(y.dtype, FY_DTYPE_I64);
    FY_CHECK(((const int64_t *)y.data)[0] == INT64_MAX);
    FY_CHECK(((const int64_t *)y.data)[3] == INT64_MIN);
    fy_tensor_deinit(&y);

    fy_tensor *all[] = {&x, &g, &xx, &gi, &gc, &xi};
    free_all(all, sizeof all / sizeof all[0]);
}

TEST(gridsample_hostile_coordinates)
{
    /* NaN gives NaN; infinities and huge values stay in bounds in every mode. */
    static const int64_t xd[4] = {1, 2, 3, 3}, gd[4] = {1, 2, 3, 2};
    double gv[12] = {NAN, 0, 0, NAN, INFINITY, 0, -INFINITY, -INFINITY, 1e30, -1e30, 3e38, 3e38};
    double xv[18];
    for (int i = 0; i < 18; i++)
        xv[i] = i + 1;
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, xv), g = kh_alloc(FY_DTYPE_F32, 4, gd, gv), y;
    const char *modes[3] = {"nearest", "bilinear", "bicubic"};
    const char *pads[3] = {"zeros", "border", "reflection"};
    fy_diag d;
    kh_node k;
    const fy_tensor *in[2] = {&x, &g};
    for (int m = 0; m < 3; m++) {
        for (int p = 0; p < 3; p++) {
            for (int a = 0; a < 2; a++) {
                kh_init(&k, "GridSample", 16);
                kh_attr_str(&k, "mode", modes[m]);
                kh_attr_str(&k, "padding_mode", pads[p]);
                kh_attr_int(&k, "align_corners", a);
                FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
                FY_CHECK(isnan(at(&y, 0)) && isnan(at(&y, 1)));
                for (int i = 2; i < 12; i++) {
                    double v = at(&y, i);
                    /* Interpolated values stay within the data range (cubic may overshoot). */
                    FY_CHECK(isnan(v) || (v >= -20 && v <= 40));
                }
                fy_tensor_deinit(&y);
            }
        }
    }
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&g);
}

TEST(gridsample_nd_opset20)
{
    /* Opset 20: 3 spatial dims, mode "linear"; align_corners 1 and a grid on the corners
     * of a 2x2x2 volume read the corner voxels; the centre averages all eight. */
    static const int64_t xd[5] = {1, 1, 2, 2, 2}, gd[5] = {1, 1, 1, 3, 3};
    double xv[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    /* (x, y, z) order: (1, -1, -1) is voxel [0][0][1] = 1; (-1, 1, 1) is [1][1][0] = 6. */
    double gv[9] = {1, -1, -1, -1, 1, 1, 0, 0, 0};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 5, xd, xv), g = kh_alloc(FY_DTYPE_F32, 5, gd, gv), y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "GridSample", 20);
    kh_attr_int(&k, "align_corners", 1);
    const fy_tensor *in[2] = {&x, &g};
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_OK);
    static const int64_t yd[5] = {1, 1, 1, 1, 3};
    kh_check_shape(&y, 5, yd);
    FY_CHECK_NEAR(at(&y, 0), 1.0, 1e-6);
    FY_CHECK_NEAR(at(&y, 1), 6.0, 1e-6);
    FY_CHECK_NEAR(at(&y, 2), 3.5, 1e-6);
    fy_tensor_deinit(&y);

    /* The opset-16 mode names are not valid at opset 20 and vice versa. */
    kh_init(&k, "GridSample", 20);
    kh_attr_str(&k, "mode", "bilinear");
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "bilinear");
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&g);
}

TEST(gridsample_errors)
{
    static const int64_t xd[4] = {1, 1, 2, 2}, gd[4] = {1, 2, 2, 2}, g3d[4] = {1, 2, 2, 3},
                         gbd[4] = {2, 2, 2, 2}, x5d[5] = {1, 1, 2, 2, 2}, x0d[4] = {1, 1, 0, 2};
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 4, xd, NULL), g = kh_alloc(FY_DTYPE_F32, 4, gd, NULL),
              g3 = kh_alloc(FY_DTYPE_F32, 4, g3d, NULL), gb = kh_alloc(FY_DTYPE_F32, 4, gbd, NULL),
              gi = kh_alloc_i64(FY_DTYPE_I64, 4, gd, (const int64_t[]){0, 0, 0, 0, 0, 0, 0, 0}),
              x5 = kh_alloc(FY_DTYPE_F32, 5, x5d, NULL), x0 = kh_alloc(FY_DTYPE_F32, 4, x0d, NULL),
              y;
    fy_diag d;
    kh_node k;
    kh_init(&k, "GridSample", 16);
    const fy_tensor *in[2] = {&x, &g3};
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "grid");
    in[1] = &gb;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "grid");
    in[1] = &gi;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "grid");
    in[0] = &x5;
    in[1] = &g;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "rank 5");
    in[0] = &x0;
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "spatial dimension");
    in[0] = &x;
    FY_CHECK_EQ(run(&k, 1, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1");
    kh_attr_str(&k, "mode", "linear");
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "mode 'linear'");
    kh_init(&k, "GridSample", 16);
    kh_attr_str(&k, "padding_mode", "wrap");
    FY_CHECK_EQ(run(&k, 2, in, &y, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "padding_mode");

    fy_tensor *all[] = {&x, &g, &g3, &gb, &gi, &x5, &x0};
    free_all(all, sizeof all / sizeof all[0]);
}

int main(void)
{
    RUN(nms_values);
    RUN(nms_ties_classes_and_nan);
    RUN(nms_errors);
    RUN(roialign_values);
    RUN(roialign_edges);
    RUN(roialign_errors);
    RUN(gridsample_padding);
    RUN(gridsample_bicubic_and_align);
    RUN(gridsample_hostile_coordinates);
    RUN(gridsample_nd_opset20);
    RUN(gridsample_errors);
    return TEST_SUMMARY();
}
