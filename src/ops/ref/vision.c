/* SPDX-License-Identifier: MIT */
/* Reference kernels for the vision operators: NonMaxSuppression, RoiAlign and GridSample.
 * Box, ROI and grid coordinates are data, so each one is range-checked (NaN included)
 * before it turns into an index. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"

/* ======================================================================== */
/* Shared helpers                                                           */
/* ======================================================================== */

/* Optional scalar input i as a double: *v keeps its default when the input is omitted or
 * empty. ONNX models pass these as rank 0 or shape [1]; anything longer is an error. */
static int scalar_in(fy__op_ctx *c, int i, const char *what, int want_int, double *v)
{
    const fy_tensor *t = fy__op_in(c, i);
    if (!t)
        return FY_OK;
    if (want_int ? !fy__dtype_is_int(t->dtype) : !fy__dtype_is_float(t->dtype))
        return fy__op_fail(c, FY_EINVAL, "input %d (%s) has dtype %s, expected %s", i, what,
                           fy_dtype_name(t->dtype), want_int ? "an integer" : "a float");
    int64_t n = fy_tensor_numel(t);
    if (n == 0)
        return FY_OK;
    if (n != 1)
        return fy__op_fail(c, FY_EINVAL, "input %d (%s) has %lld elements, expected a scalar", i,
                           what, (long long)n);
    /* Integers go through int64 and saturate at +-2^62 so callers may add to them. */
    if (want_int) {
        int64_t x = fy__get_i64(t, 0);
        if (t->dtype == FY_DTYPE_U64 && x < 0)
            x = INT64_MAX;
        *v = (double)(x > ((int64_t)1 << 62) ? ((int64_t)1 << 62) : x);
    } else {
        *v = fy__get_f64(t, 0);
    }
    return FY_OK;
}

/* ======================================================================== */
/* NonMaxSuppression                                                        */
/* ======================================================================== */

typedef struct nms_cand {
    double score;
    int64_t idx;
} nms_cand;

/* Highest score first, lower box index first among equal scores (the order ONNX's
 * reference pops candidates in). NaN scores sort last so the order stays total. */
static int nms_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    int an = isnan(a->score), bn = isnan(b->score);
    if (an != bn)
        return an - bn;
    if (!an && a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}

/* Round to float precision when the boxes are float32 (or narrower): ONNX's reference and
 * onnxruntime compute the IOU in float, so a tie at the threshold then decides the same
 * way. Out-of-float-range values become infinities here, since the plain conversion is
 * undefined behaviour in C. */
static double fl(double v, int single)
{
    if (!single || isnan(v))
        return v;
    if (v > FLT_MAX)
        return INFINITY;
    if (v < -FLT_MAX)
        return -INFINITY;
    return (double)(float)v;
}

/* Python's max/min (first argument wins ties and NaN comparisons), as the reference uses. */
static double pmax(double a, double b)
{
    return b > a ? b : a;
}

static double pmin(double a, double b)
{
    return b < a ? b : a;
}

/* Lower and upper edge of one box side given two corners in either order. */
static void edges(double p, double q, double *lo, double *hi)
{
    if (p >= q) {
        *lo = q;
        *hi = p;
    } else {
        *lo = p;
        *hi = q;
    }
}

/* Whether candidate box a overlaps the selected box b by more than thr (argument order as
 * in the reference, which matters only for NaN). Boxes that do not intersect or have no
 * area never suppress; NaN coordinates fail every comparison and so never suppress. */
static int nms_suppress(const double *a, const double *b, int center, double thr, int single)
{
    double ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
    if (center) { /* [x_center, y_center, width, height] */
        double aw = fl(a[2] / 2, single), ah = fl(a[3] / 2, single);
        double bw = fl(b[2] / 2, single), bh = fl(b[3] / 2, single);
        ax0 = fl(a[0] - aw, single), ax1 = fl(a[0] + aw, single);
        ay0 = fl(a[1] - ah, single), ay1 = fl(a[1] + ah, single);
        bx0 = fl(b[0] - bw, single), bx1 = fl(b[0] + bw, single);
        by0 = fl(b[1] - bh, single), by1 = fl(b[1] + bh, single);
    } else { /* [y1, x1, y2, x2], any diagonal pair of corners */
        edges(a[1], a[3], &ax0, &ax1);
        edges(a[0], a[2], &ay0, &ay1);
        edges(b[1], b[3], &bx0, &bx1);
        edges(b[0], b[2], &by0, &by1);
    }
    double ix0 = pmax(ax0, bx0), ix1 = pmin(ax1, bx1);
    double iy0 = pmax(ay0, by0), iy1 = pmin(ay1, by1);
    if (ix1 <= ix0 || iy1 <= iy0)
        return 0;
    double inter = fl(fl(ix1 - ix0, single) * fl(iy1 - iy0, single), single);
    if (inter <= 0)
        return 0;
    double area_a = fl(fl(ax1 - ax0, single) * fl(ay1 - ay0, single), single);
    double area_b = fl(fl(bx1 - bx0, single) * fl(by1 - by0, single), single);
    double uni = fl(fl(area_a + area_b, single) - inter, single);
    if (area_a <= 0 || area_b <= 0 || uni <= 0)
        return 0;
    return fl(inter / uni, single) > thr;
}

static int op_non_max_suppression(fy__op_ctx *c)
{
    int rc = FY_OK;
    nms_cand *cand = NULL;
    int64_t *kept = NULL, *sel = NULL;
    double *bx = NULL;
    int64_t n_sel = 0, cap_sel = 0;

    if ((rc = fy__op_need(c, 0)) != FY_OK || (rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *boxes = c->in[0], *scores = c->in[1];
    if (!fy__dtype_is_float(boxes->dtype) || !fy__dtype_is_float(scores->dtype))
        return fy__op_fail(c, FY_EINVAL, "boxes (%s) and scores (%s) must be float tensors",
                           fy_dtype_name(boxes->dtype), fy_dtype_name(scores->dtype));
    if (boxes->rank != 3 || boxes->dims[2] != 4)
        return fy__op_fail(c, FY_EINVAL, "boxes must have shape [batches, boxes, 4], got rank %d",
                           boxes->rank);
    if (scores->rank != 3 || scores->dims[0] != boxes->dims[0] || scores->dims[2] != boxes->dims[1])
        return fy__op_fail(c, FY_EINVAL,
                           "scores must have shape [%lld, classes, %lld] to match boxes",
                           (long long)boxes->dims[0], (long long)boxes->dims[1]);
    int64_t center = fy__attr_int(c->node, "center_point_box", 0);
    if (center != 0 && center != 1)
        return fy__op_fail(c, FY_EINVAL, "center_point_box must be 0 or 1, got %lld",
                           (long long)center);
    double max_out = 0, iou_thr = 0, score_thr = 0;
    if ((rc = scalar_in(c, 2, "max_output_boxes_per_class", 1, &max_out)) != FY_OK ||
        (rc = scalar_in(c, 3, "iou_threshold", 0, &iou_thr)) != FY_OK ||
        (rc = scalar_in(c, 4, "score_threshold", 0, &score_thr)) != FY_OK)
        return rc;
    if (!(iou_thr >= 0 && iou_thr <= 1))
        return fy__op_fail(c, FY_EINVAL, "iou_threshold %g is outside [0, 1]", iou_thr);
    const fy_tensor *st_in = fy__op_in(c, 4);
    int use_score_thr = st_in && fy_tensor_numel(st_in) > 0;

    int64_t n_batch = boxes->dims[0], n_box = boxes->dims[1], n_class = scores->dims[1];
    int64_t per_class = max_out < 0 ? 0 : max_out > (double)n_box ? n_box : (int64_t)max_out;
    int single = boxes->dtype != FY_DTYPE_F64;

    if (per_class > 0 && n_class > 0) {
        cand = malloc(sizeof *cand * (size_t)n_box);
        kept = malloc(sizeof *kept * (size_t)per_class);
        bx = malloc(sizeof *bx * 4 * (size_t)n_box);
        if (!cand || !kept || !bx) {
            rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld boxes", (long long)n_box);
            goto done;
        }
    } else {
        n_batch = 0; /* nothing can be selected */
    }
    for (int64_t b = 0; b < n_batch; b++) {
        for (int64_t i = 0; i < 4 * n_box; i++)
            bx[i] = fl(fy__ld(boxes, b * 4 * n_box + i), single);
        for (int64_t k = 0; k < n_class; k++) {
            const int64_t base = (b * n_class + k) * n_box;
            int64_t n_cand = 0, n_kept = 0;
            for (int64_t i = 0; i < n_box; i++) {
                double s = fl(fy__ld(scores, base + i), single);
                if (!use_score_thr || s > score_thr)
                    cand[n_cand++] = (nms_cand){s, i};
            }
            qsort(cand, (size_t)n_cand, sizeof *cand, nms_cmp);
            for (int64_t j = 0; j < n_cand && n_kept < per_class; j++) {
                const double *cb = bx + 4 * cand[j].idx;
                int keep = 1;
                for (int64_t q = 0; q < n_kept && keep; q++)
                    keep = !nms_suppress(cb, bx + 4 * kept[q], (int)center, iou_thr, single);
                if (!keep)
                    continue;
                kept[n_kept++] = cand[j].idx;
                if (n_sel == cap_sel) {
                    int64_t ncap = cap_sel ? 2 * cap_sel : 64;
                    int64_t *p = realloc(sel, sizeof *sel * 3 * (size_t)ncap);
                    if (!p) {
                        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld selected boxes",
                                         (long long)ncap);
                        goto done;
                    }
                    sel = p;
                    cap_sel = ncap;
                }
                sel[3 * n_sel] = b;
                sel[3 * n_sel + 1] = k;
                sel[3 * n_sel + 2] = cand[j].idx;
                n_sel++;
            }
        }
    }
    int64_t od[2] = {n_sel, 3};
    if ((rc = fy_tensor_alloc(&c->out[0], FY_DTYPE_I64, 2, od, c->diag)) != FY_OK)
        goto done;
    if (n_sel)
        memcpy(c->out[0].data, sel, sizeof *sel * 3 * (size_t)n_sel);
done:
    free(cand);
    free(kept);
    free(sel);
    free(bx);
    return rc;
}

/* ======================================================================== */
/* RoiAlign                                                                 */
/* ======================================================================== */

/* Ceiling on sampling points along one axis of one ROI (output size times the per-bin
 * grid): adaptive sampling on an enormous ROI would otherwise loop practically forever. */
#define ROI_AXIS_SAMPLES_MAX ((int64_t)1 << 22)
/* Ceiling on sampling points per ROI and channel (both axes together). */
#define ROI_SAMPLES_MAX ((int64_t)1 << 32)

/* One sampling position along one axis: the two neighbouring pixels and their weights,
 * or ok = 0 when it lies outside the feature map (it then contributes 0). */
typedef struct roi_tap {
    int64_t lo, hi;
    double l, h; /* weight of hi is l, weight of lo is h = 1 - l */
    int ok;
} roi_tap;

/* Bilinear taps for the samples of one axis, following ONNX's reference: positions beyond
 * [-1, size] are dropped, the rest clamp to the edge pixel. */
static void roi_taps(roi_tap *t, int64_t n_out, int64_t grid, double start, double bin,
                     int64_t size)
{
    for (int64_t p = 0; p < n_out; p++) {
        for (int64_t g = 0; g < grid; g++) {
            roi_tap *tp = &t[p * grid + g];
            double v = start + (double)p * bin + ((double)g + 0.5) * bin / (double)grid;
            memset(tp, 0, sizeof *tp);
            /* Negated test so NaN lands outside too. */
            if (size == 0 || !(v >= -1.0 && v <= (double)size))
                continue;
            if (v < 0)
                v = 0;
            int64_t lo = (int64_t)v, hi;
            if (lo >= size - 1) {
                lo = hi = size - 1;
                v = (double)lo;
            } else {
                hi = lo + 1;
            }
            tp->ok = 1;
            tp->lo = lo;
            tp->hi = hi;
            tp->l = v - (double)lo;
            tp->h = 1.0 - tp->l;
        }
    }
}

/* Per-bin sampling grid along one axis: sampling_ratio if set, else adaptive
 * ceil(extent / bins); 0 when the ROI has no extent (the bin then outputs 0). */
static int roi_grid(fy__op_ctx *c, int64_t ratio, double extent, int64_t bins, int64_t *out)
{
    double g = ratio > 0 ? (double)ratio : ceil(extent / (double)bins);
    if (!(g > 0)) {
        *out = 0;
        return FY_OK;
    }
    if (g * (double)bins > (double)ROI_AXIS_SAMPLES_MAX)
        return fy__op_fail(c, FY_ELIMIT,
                           "%lld bins of %g samples along one axis exceed the limit of %lld",
                           (long long)bins, g, (long long)ROI_AXIS_SAMPLES_MAX);
    *out = (int64_t)g;
    return FY_OK;
}

static int op_roi_align(fy__op_ctx *c)
{
    int rc;
    roi_tap *ty = NULL, *tx = NULL;

    if ((rc = fy__op_need(c, 0)) != FY_OK || (rc = fy__op_need(c, 1)) != FY_OK ||
        (rc = fy__op_need(c, 2)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *rois = c->in[1], *bidx = c->in[2];
    if (!fy__dtype_is_float(x->dtype) || x->rank != 4)
        return fy__op_fail(c, FY_EINVAL, "X must be a float tensor [N, C, H, W], got %s rank %d",
                           fy_dtype_name(x->dtype), x->rank);
    if (!fy__dtype_is_float(rois->dtype) || rois->rank != 2 || rois->dims[1] != 4)
        return fy__op_fail(c, FY_EINVAL, "rois must be a float tensor [num_rois, 4]");
    if (!fy__dtype_is_int(bidx->dtype) || bidx->rank != 1 || bidx->dims[0] != rois->dims[0])
        return fy__op_fail(c, FY_EINVAL,
                           "batch_indices must be an integer tensor [%lld] (one per ROI)",
                           (long long)rois->dims[0]);

    const char *mode = fy__attr_str(c->node, "mode", "avg");
    int is_max = strcmp(mode, "max") == 0;
    if (!is_max && strcmp(mode, "avg") != 0)
        return fy__op_fail(c, FY_EINVAL, "mode '%s' is not 'avg' or 'max'", mode);
    /* Opset 16 added coordinate_transformation_mode with default half_pixel; before it the
     * operator behaved as output_half_pixel. */
    int half_pixel = 0;
    if (c->opset >= 16) {
        const char *ctm = fy__attr_str(c->node, "coordinate_transformation_mode", "half_pixel");
        half_pixel = strcmp(ctm, "half_pixel") == 0;
        if (!half_pixel && strcmp(ctm, "output_half_pixel") != 0)
            return fy__op_fail(c, FY_EINVAL,
                               "coordinate_transformation_mode '%s' is not 'half_pixel' or "
                               "'output_half_pixel'",
                               ctm);
    }
    int64_t oh = fy__attr_int(c->node, "output_height", 1);
    int64_t ow = fy__attr_int(c->node, "output_width", 1);
    int64_t ratio = fy__attr_int(c->node, "sampling_ratio", 0);
    double scale = fy__attr_float(c->node, "spatial_scale", 1.0f);
    if (oh < 1 || ow < 1)
        return fy__op_fail(c, FY_EINVAL, "output_height %lld and output_width %lld must be >= 1",
                           (long long)oh, (long long)ow);
    if (ratio < 0)
        return fy__op_fail(c, FY_EINVAL, "sampling_ratio %lld is negative", (long long)ratio);
    if (!isfinite(scale))
        return fy__op_fail(c, FY_EINVAL, "spatial_scale %g is not finite", scale);

    const int64_t n_roi = rois->dims[0], N = x->dims[0], C = x->dims[1];
    const int64_t H = x->dims[2], W = x->dims[3];
    for (int64_t r = 0; r < n_roi; r++) {
        int64_t b = fy__get_i64(bidx, r);
        if (b < 0 || b >= N) /* uint64 values past INT64_MAX read negative */
            return fy__op_fail(c, FY_EINVAL, "batch_indices[%lld] = %lld is outside [0, %lld)",
                               (long long)r, (long long)b, (long long)N);
        for (int k = 0; k < 4; k++) {
            double v = fy__ld(rois, 4 * r + k) * scale;
            if (!isfinite(v))
                return fy__op_fail(c, FY_EINVAL, "rois[%lld][%d] times spatial_scale is not finite",
                                   (long long)r, k);
        }
    }
    int64_t od[4] = {n_roi, C, oh, ow};
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, 4, od, c->diag)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    if (n_roi == 0 || C == 0)
        return FY_OK;

    const double off = half_pixel ? 0.5 : 0.0;
    for (int64_t r = 0; r < n_roi; r++) {
        const int64_t b = fy__get_i64(bidx, r);
        double x0 = fy__ld(rois, 4 * r) * scale - off, y0 = fy__ld(rois, 4 * r + 1) * scale - off;
        double x1 = fy__ld(rois, 4 * r + 2) * scale - off, y1 = fy__ld(rois, 4 * r + 3) * scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!half_pixel) { /* the old behaviour forces malformed ROIs to be 1x1 */
            rw = rw > 1.0 ? rw : 1.0;
            rh = rh > 1.0 ? rh : 1.0;
        }
        double bin_h = rh / (double)oh, bin_w = rw / (double)ow;
        int64_t gh, gw;
        if ((rc = roi_grid(c, ratio, rh, oh, &gh)) != FY_OK ||
            (rc = roi_grid(c, ratio, rw, ow, &gw)) != FY_OK)
            goto done;
        if (gh == 0 || gw == 0)
            continue; /* no samples: the bins stay 0 */
        if ((double)(oh * gh) * (double)(ow * gw) > (double)ROI_SAMPLES_MAX) {
            rc = fy__op_fail(c, FY_ELIMIT,
                             "ROI %lld needs %lld x %lld sampling points, over the limit of %lld",
                             (long long)r, (long long)(oh * gh), (long long)(ow * gw),
                             (long long)ROI_SAMPLES_MAX);
            goto done;
        }
        free(ty);
        free(tx);
        ty = malloc(sizeof *ty * (size_t)(oh * gh));
        tx = malloc(sizeof *tx * (size_t)(ow * gw));
        if (!ty || !tx) {
            rc = fy__op_fail(c, FY_ENOMEM, "out of memory for the sampling grid of ROI %lld",
                             (long long)r);
            goto done;
        }
        roi_taps(ty, oh, gh, y0, bin_h, H);
        roi_taps(tx, ow, gw, x0, bin_w, W);
        const double count = (double)(gh * gw);
        for (int64_t ch = 0; ch < C; ch++) {
            const int64_t base = (b * C + ch) * H * W;
            int64_t oi = ((r * C) + ch) * oh * ow;
            for (int64_t ph = 0; ph < oh; ph++) {
                for (int64_t pw = 0; pw < ow; pw++, oi++) {
                    double acc = 0;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        const roi_tap *a = &ty[ph * gh + iy];
                        for (int64_t ix = 0; ix < gw; ix++) {
                            const roi_tap *e = &tx[pw * gw + ix];
                            double v = 0;
                            if (a->ok && e->ok) {
                                double v1 = a->h * e->h * fy__ld(x, base + a->lo * W + e->lo);
                                double v2 = a->h * e->l * fy__ld(x, base + a->lo * W + e->hi);
                                double v3 = a->l * e->h * fy__ld(x, base + a->hi * W + e->lo);
                                double v4 = a->l * e->l * fy__ld(x, base + a->hi * W + e->hi);
                                /* max mode takes the largest weighted corner, as ONNX's
                                 * reference and onnxruntime do. */
                                v = is_max ? pmax(pmax(pmax(v1, v2), v3), v4) : v1 + v2 + v3 + v4;
                            }
                            if (!is_max)
                                acc += v;
                            else if ((iy == 0 && ix == 0) || v > acc)
                                acc = v;
                        }
                    }
                    fy__st(y, oi, is_max ? acc : acc / count);
                }
            }
        }
    }
done:
    free(ty);
    free(tx);
    return rc;
}

/* ======================================================================== */
/* GridSample                                                               */
/* ======================================================================== */

enum { GS_NEAREST, GS_LINEAR, GS_CUBIC };
enum { GS_ZEROS, GS_BORDER, GS_REFLECTION };

/* Reflect x into [lo, hi] off the borders, repeatedly if need be (ONNX's _gs_reflect), in
 * closed form: the position within one period 2*(hi - lo) tells which border it left by. */
static double gs_reflect(double x, double lo, double hi)
{
    double rng = hi - lo;
    if (!(rng > 0))
        return lo;
    if (x < lo) {
        double q = fmod(lo - x, 2 * rng);
        x = q <= rng ? lo + q : hi - (q - rng);
    } else if (x > hi) {
        double q = fmod(x - hi, 2 * rng);
        x = q <= rng ? hi - q : lo + (q - rng);
    }
    return x < lo ? lo : x > hi ? hi : x; /* guard against rounding at the edges */
}

/* Keys cubic convolution weights (a = -0.75) of the four taps around fraction t. */
static void gs_cubic(double t, double *w)
{
    const double a = -0.75;
    double t1 = t + 1, t2 = 1 - t, t3 = 2 - t;
    w[0] = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a;
    w[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    w[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
    w[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

/* Source index of integer tap i on an axis of length len, or -1 if it reads padding
 * zeros. The reference reflects tap indices again, which maps them into [0, len). */
static int64_t gs_index(double i, int64_t len, int pad, double lo, double hi)
{
    if (pad == GS_ZEROS)
        return i >= 0 && i < (double)len ? (int64_t)i : -1;
    if (pad == GS_REFLECTION)
        i = gs_reflect(i, lo, hi);
    int64_t k = i < 0 ? 0 : i > (double)(len - 1) ? len - 1 : (int64_t)i;
    return k;
}

/* Taps along one axis for the denormalized coordinate v: indices (-1 = zero padding) and
 * weights. Follows ONNX's reference: round for nearest, then move out-of-range positions
 * by the padding mode, then interpolate. */
static void gs_axis(double v, int64_t len, int mode, int pad, int align, int round_half_even,
                    int64_t *idx, double *w)
{
    double lo = align ? 0.0 : -0.5, hi = align ? (double)len - 1 : (double)len - 0.5;
    if (isinf(v)) /* keeps the arithmetic below finite; reflection of it is arbitrary anyway */
        v = v > 0 ? DBL_MAX : -DBL_MAX;
    if (mode == GS_NEAREST)
        v = round_half_even ? nearbyint(v) : round(v);
    if (v < lo || v > hi) {
        if (pad == GS_BORDER)
            v = v < 0 ? 0 : v > (double)(len - 1) ? (double)(len - 1) : v;
        else if (pad == GS_REFLECTION)
            v = gs_reflect(v, lo, hi);
        else if (v < -8.0 || v > (double)len + 8.0)
            /* Zeros: every tap this far out reads padding anyway; clamping keeps floor()
             * within int64 without changing the result. */
            v = v < 0 ? -8.0 : (double)len + 8.0;
    }
    if (mode == GS_NEAREST) {
        idx[0] = gs_index(trunc(v), len, pad, lo, hi);
        w[0] = 1;
        return;
    }
    double f = floor(v), t = v - f;
    if (mode == GS_LINEAR) {
        w[0] = 1 - t;
        w[1] = t;
        for (int k = 0; k < 2; k++)
            idx[k] = gs_index(f + k, len, pad, lo, hi);
    } else {
        gs_cubic(t, w);
        for (int k = 0; k < 4; k++)
            idx[k] = gs_index(f + k - 1, len, pad, lo, hi);
    }
}

/* Denormalize grid value g from [-1, 1] to pixel coordinates on an axis of length len. A
 * float grid is computed in float, as ONNX's reference and PyTorch do: nearest rounding
 * of a coordinate that lands near .5 then agrees. */
static double gs_denorm(double g, int64_t len, int align, int single)
{
    if (single) {
        float n = (float)g, l = (float)len;
        return align ? (n + 1.0f) / 2.0f * (l - 1.0f) : ((n + 1.0f) * l - 1.0f) / 2.0f;
    }
    return align ? (g + 1) / 2 * (double)(len - 1) : ((g + 1) * (double)len - 1) / 2;
}

static int op_grid_sample(fy__op_ctx *c)
{
    int rc;
    int64_t *offs = NULL;
    double *wts = NULL;

    if ((rc = fy__op_need(c, 0)) != FY_OK || (rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *grid = c->in[1];
    /* Opset 20 generalized the op to N spatial dimensions and renamed the modes. */
    const int v20 = c->opset >= 20;
    if (x->dtype == FY_DTYPE_STRING || fy_dtype_size(x->dtype) == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "X dtype %s is not supported",
                           fy_dtype_name(x->dtype));
    if (!fy__dtype_is_float(grid->dtype))
        return fy__op_fail(c, FY_EINVAL, "grid has dtype %s, expected a float type",
                           fy_dtype_name(grid->dtype));
    if (v20 ? x->rank < 3 : x->rank != 4)
        return fy__op_fail(c, FY_EINVAL, "X has rank %d, expected %s", x->rank,
                           v20 ? "at least 3" : "4 ([N, C, H, W])");
    const int D = x->rank - 2;
    if (grid->rank != x->rank || grid->dims[0] != x->dims[0] || grid->dims[D + 1] != D)
        return fy__op_fail(c, FY_EINVAL, "grid must have shape [%lld, ..., %d] and rank %d",
                           (long long)x->dims[0], D, x->rank);

    const char *ms = fy__attr_str(c->node, "mode", v20 ? "linear" : "bilinear");
    int mode;
    if (strcmp(ms, "nearest") == 0)
        mode = GS_NEAREST;
    else if (strcmp(ms, v20 ? "linear" : "bilinear") == 0)
        mode = GS_LINEAR;
    else if (strcmp(ms, v20 ? "cubic" : "bicubic") == 0)
        mode = GS_CUBIC;
    else
        return fy__op_fail(c, FY_EINVAL, "mode '%s' is not one of %s", ms,
                           v20 ? "linear, nearest, cubic" : "bilinear, nearest, bicubic");
    const char *ps = fy__attr_str(c->node, "padding_mode", "zeros");
    int pad;
    if (strcmp(ps, "zeros") == 0)
        pad = GS_ZEROS;
    else if (strcmp(ps, "border") == 0)
        pad = GS_BORDER;
    else if (strcmp(ps, "reflection") == 0)
        pad = GS_REFLECTION;
    else
        return fy__op_fail(c, FY_EINVAL, "padding_mode '%s' is not zeros, border or reflection",
                           ps);
    const int align = fy__attr_int(c->node, "align_corners", 0) != 0;

    const int64_t N = x->dims[0], C = x->dims[1];
    const int64_t *sd = x->dims + 2; /* input spatial dims */
    int64_t od[FY_MAX_RANK] = {N, C};
    for (int d = 0; d < D; d++)
        od[2 + d] = grid->dims[1 + d];
    if ((rc = fy_tensor_alloc(&c->out[0], x->dtype, x->rank, od, c->diag)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    const int64_t L = fy__dims_prod(od + 2, 0, D); /* output locations per (n, c) */
    if (fy_tensor_numel(y) == 0)
        return FY_OK;
    for (int d = 0; d < D; d++)
        if (sd[d] == 0)
            return fy__op_fail(c, FY_EINVAL, "X spatial dimension %d is 0: nothing to sample",
                               d + 2);

    const int K = mode == GS_NEAREST ? 1 : mode == GS_LINEAR ? 2 : 4;
    int64_t n_combo = 1;
    for (int d = 0; d < D; d++)
        n_combo *= K; /* at most 4^6 */
    offs = malloc(sizeof *offs * (size_t)n_combo);
    wts = malloc(sizeof *wts * (size_t)n_combo);
    if (!offs || !wts) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld interpolation taps",
                         (long long)n_combo);
        goto done;
    }
    int64_t sstr[FY_MAX_RANK];
    fy__strides(D, sd, sstr);
    const int64_t S = fy__dims_prod(sd, 0, D);
    const int single = grid->dtype != FY_DTYPE_F64;
    /* PyTorch rounds with nearbyint in 2-D and std::round in 3-D; the reference follows. */
    const int half_even = D != 3;

    for (int64_t n = 0; n < N; n++) {
        for (int64_t loc = 0; loc < L; loc++) {
            int64_t idx[FY_MAX_RANK][4];
            double w[FY_MAX_RANK][4];
            int has_nan = 0;
            for (int d = 0; d < D; d++) {
                /* The grid's last axis lists coordinates innermost first (x, y, ...). */
                double g = fy__ld(grid, (n * L + loc) * D + (D - 1 - d));
                double v = gs_denorm(g, sd[d], align, single);
                if (isnan(v)) {
                    has_nan = 1;
                    break;
                }
                gs_axis(v, sd[d], mode, pad, align, half_even, idx[d], w[d]);
            }
            if (has_nan) { /* no position to read: the result is NaN (0 for integers) */
                for (int64_t ch = 0; ch < C; ch++)
                    fy__st(y, (n * C + ch) * L + loc, NAN);
                continue;
            }
            /* Every combination of per-axis taps that reads real data. */
            int64_t n_tap = 0;
            for (int64_t j = 0; j < n_combo; j++) {
                int64_t rest = j, off = 0;
                double wt = 1;
                int ok = 1;
                for (int d = D - 1; d >= 0; d--) {
                    int k = (int)(rest % K);
                    rest /= K;
                    if (idx[d][k] < 0) {
                        ok = 0;
                        break;
                    }
                    off += idx[d][k] * sstr[d];
                    wt *= w[d][k];
                }
                if (ok) {
                    offs[n_tap] = off;
                    wts[n_tap++] = wt;
                }
            }
            for (int64_t ch = 0; ch < C; ch++) {
                const int64_t xb = (n * C + ch) * S, oi = (n * C + ch) * L + loc;
                if (mode == GS_NEAREST) { /* exact copy: keeps int64 values intact */
                    if (n_tap)
                        fy__copy_elem(y, oi, x, xb + offs[0]);
                    continue;
                }
                double acc = 0;
                for (int64_t j = 0; j < n_tap; j++)
                    acc += wts[j] * fy__ld(x, xb + offs[j]);
                fy__st(y, oi, acc);
            }
        }
    }
done:
    free(offs);
    free(wts);
    return rc;
}

const fy__op_def fy__ops_vision[] = {
    {"NonMaxSuppression", "", op_non_max_suppression},
    {"RoiAlign", "", op_roi_align},
    {"GridSample", "", op_grid_sample},
    {NULL, NULL, NULL},
};
