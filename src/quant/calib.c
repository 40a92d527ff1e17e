/* SPDX-License-Identifier: MIT */
/* Calibration for int8 static quantization: run the float model on sample data
 * with every layer's input exposed as an extra graph output, and pick each
 * input's range by min-max, percentile or entropy (KL divergence, as TensorRT
 * describes it) over a histogram of |x|. Also the batch filler shared with the
 * speed measurement. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "ferry/engine.h"
#include "quant_int.h"

#define CALIB_BINS 2048
#define CALIB_BATCH 32
#define CALIB_PERCENTILE 0.9999

/* Build the model's first input for samples [start, start + n) of ds (uint8
 * scaled by `scale`), or zeros when ds is NULL. */
int fy__fill_batch(const fy_model *m, const fy_dataset *ds, int64_t start, int64_t n, float scale,
                   fy_tensor *x, fy_diag *d)
{
    fy_io_desc in;
    if (fy_model_n_inputs(m) != 1 || fy_model_input(m, 0, &in) != FY_OK)
        return fy__diag_set(d, FY_EUNSUPPORTED, "measuring needs a model with one input");
    /* Without data any numeric input gets zeros (token ids 0 for a text model). */
    fy_dtype dt = in.dtype == FY_DTYPE_UNDEFINED ? FY_DTYPE_F32 : in.dtype;
    if (ds ? dt != FY_DTYPE_F32 : fy_dtype_size(dt) == 0)
        return fy__diag_set(d, FY_EUNSUPPORTED, "input '%s' is %s; float32 expected", in.name,
                            fy_dtype_name(in.dtype));
    int64_t dims[FY_MAX_RANK];
    int rank = in.rank >= 1 ? in.rank : (ds ? ds->samples.rank : -1);
    if (rank < 1)
        return fy__diag_set(d, FY_EUNSUPPORTED, "input '%s' has no declared shape", in.name);
    int64_t per = 1, ds_per = 1;
    for (int i = 1; i < rank; i++) {
        dims[i] = in.rank >= 1 ? in.dims[i] : ds->samples.dims[i];
        if (dims[i] < 0)
            return fy__diag_set(d, FY_EUNSUPPORTED,
                                "input '%s' dimension %d is symbolic; only the batch may be",
                                in.name, i);
        per *= dims[i];
    }
    if (ds) {
        if (ds->samples.dtype != FY_DTYPE_U8)
            return fy__diag_set(d, FY_EUNSUPPORTED, "dataset samples are %s; uint8 expected",
                                fy_dtype_name(ds->samples.dtype));
        for (int i = 1; i < ds->samples.rank; i++)
            ds_per *= ds->samples.dims[i];
        if (ds_per != per)
            return fy__diag_set(d, FY_EINVAL,
                                "input '%s' takes %lld values per sample, the dataset has %lld",
                                in.name, (long long)per, (long long)ds_per);
    }
    dims[0] = in.rank >= 1 && in.dims[0] >= 0 ? in.dims[0] : n;
    if (dims[0] != n)
        return fy__diag_set(d, FY_EUNSUPPORTED, "input '%s' has a fixed batch of %lld", in.name,
                            (long long)dims[0]);
    int rc = fy_tensor_alloc(x, dt, rank, dims, d);
    if (rc != FY_OK || !ds)
        return rc;
    float *dst = x->data;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *src = (const uint8_t *)ds->samples.data + ((start + i) % ds->count) * per;
        for (int64_t k = 0; k < per; k++)
            dst[i * per + k] = (float)src[k] * scale;
    }
    return FY_OK;
}

static double kl_at(const double *hist, int nbins, int i, int levels, double *p, double *qd)
{
    double outliers = 0;
    for (int k = i; k < nbins; k++)
        outliers += hist[k];
    for (int k = 0; k < i; k++)
        p[k] = hist[k];
    p[i - 1] += outliers;
    /* Q: hist[0, i) merged into `levels` buckets, each spread evenly over the
     * bins that were non-empty. */
    for (int j = 0; j < levels; j++) {
        int b0 = (int)((int64_t)j * i / levels), b1 = (int)((int64_t)(j + 1) * i / levels);
        double sum = 0;
        int nz = 0;
        for (int k = b0; k < b1; k++) {
            sum += hist[k];
            nz += hist[k] > 0;
        }
        for (int k = b0; k < b1; k++)
            qd[k] = hist[k] > 0 && nz ? sum / nz : 0;
    }
    /* Exact zeros (a ReLU's output is mostly zeros) quantize exactly; their spike
     * would otherwise swamp the divergence and pull the threshold far in. */
    p[0] = qd[0] = 0;
    double sp = 0, sq = 0;
    for (int k = 0; k < i; k++) {
        sp += p[k];
        sq += qd[k];
    }
    if (!(sp > 0) || !(sq > 0))
        return DBL_MAX;
    double kl = 0;
    for (int k = 0; k < i; k++) {
        if (p[k] <= 0)
            continue;
        double pk = p[k] / sp, qk = qd[k] > 0 ? qd[k] / sq : 1e-12;
        kl += pk * log(pk / qk);
    }
    return kl;
}

void fy__calib_pick(const double *hist, int nbins, float lo, float hi, fy_calib_method m,
                    float *out_min, float *out_max)
{
    float amax = fmaxf(fabsf(lo), fabsf(hi));
    float t = amax;
    double width = amax / nbins, total = 0;
    for (int k = 0; k < nbins; k++)
        total += hist[k];
    if (m == FY_CALIB_PERCENTILE && total > 0) {
        double cum = 0;
        for (int k = 0; k < nbins; k++) {
            cum += hist[k];
            if (cum >= CALIB_PERCENTILE * total) {
                t = (float)((k + 1) * width);
                break;
            }
        }
    } else if (m == FY_CALIB_ENTROPY && total > 0) {
        /* 128 target levels, as TensorRT uses (also for uint8 data: fewer levels make
         * the divergence blind to rounding and the threshold too tight). */
        int levels = 128;
        double p[CALIB_BINS], qd[CALIB_BINS], best = DBL_MAX;
        int best_i = nbins;
        for (int i = levels; i <= nbins && nbins <= CALIB_BINS; i++) {
            double kl = kl_at(hist, nbins, i, levels, p, qd);
            if (kl < best) {
                best = kl;
                best_i = i;
            }
        }
        t = (float)(best_i * width);
    }
    *out_min = fmaxf(lo, -t);
    *out_max = fminf(hi, t);
}

/* ---- running the model with layer inputs exposed ---- */

/* A copy of the model with the named values appended to its outputs. */
static int exposed_model(const qmodel *q, const char *const *names, int n, fy_model **out,
                         fy_diag *d)
{
    Onnx__GraphProto *g = q->g;
    size_t n_out0 = g->n_output;
    Onnx__ValueInfoProto **outs0 = g->output;
    Onnx__ValueInfoProto *vis = fy__calloc((size_t)n + 1, sizeof *vis);
    Onnx__ValueInfoProto **outs = fy__calloc(n_out0 + (size_t)n + 1, sizeof *outs);
    if (!vis || !outs) {
        fy__free(vis);
        fy__free(outs);
        return fy__diag_set(d, FY_ENOMEM, "out of memory preparing calibration");
    }
    memcpy(outs, outs0, n_out0 * sizeof *outs);
    for (int i = 0; i < n; i++) {
        onnx__value_info_proto__init(&vis[i]);
        vis[i].name = (char *)names[i];
        outs[n_out0 + (size_t)i] = &vis[i];
    }
    /* Borrow the graph for one encode; restore before anything can fail. */
    g->output = outs;
    g->n_output = n_out0 + (size_t)n;
    size_t len = onnx__model_proto__get_packed_size(q->mp);
    uint8_t *buf = fy__malloc(len + 1);
    if (buf)
        onnx__model_proto__pack(q->mp, buf);
    g->output = outs0;
    g->n_output = n_out0;
    fy__free(vis);
    fy__free(outs);
    if (!buf)
        return fy__diag_set(d, FY_ENOMEM, "out of memory preparing calibration");
    int rc = fy_model_load_buffer(out, buf, len, NULL, NULL, d);
    fy__free(buf);
    return rc;
}

int fy__calibrate(const qmodel *q, const char *const *probe, int n, const fy_compress_opts *o,
                  fy__qrange *ranges, fy_diag *d)
{
    const fy_dataset *ds = o->calibration;
    float scale = o->input_scale != 0 ? o->input_scale : 1.0f / 255.0f;
    int64_t total = o->calibration_limit > 0 ? o->calibration_limit : 512;
    if (total > FY_CALIB_MAX_SAMPLES)
        total = FY_CALIB_MAX_SAMPLES;
    if (total > ds->count)
        total = ds->count;
    for (int i = 0; i < n; i++)
        ranges[i] = (fy__qrange){FLT_MAX, -FLT_MAX};
    if (total <= 0)
        return fy__diag_set(d, FY_EINVAL, "the calibration dataset is empty");
    int rc = FY_OK;
    const char **names = fy__calloc((size_t)n + 1, sizeof *names);
    int *slot = fy__calloc((size_t)n + 1, sizeof *slot); /* layer -> exposed index, -1 input */
    float *mn = fy__calloc((size_t)n + 1, sizeof *mn), *mx = fy__calloc((size_t)n + 1, sizeof *mx);
    double *hist = fy__calloc((size_t)(n + 1) * CALIB_BINS, sizeof *hist);
    fy_model *m = NULL;
    fy_session *s = NULL;
    fy_tensor *outs = NULL;
    fy_tensor x = {0};
    int n_names = 0, n_out0 = (int)q->g->n_output;
    if (!names || !slot || !mn || !mx || !hist) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory calibrating");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const char *xname = probe[i];
        int is_input = 0;
        slot[i] = -2;
        if (!xname)
            continue;
        for (size_t k = 0; k < q->g->n_input; k++)
            is_input |= strcmp(q->g->input[k]->name, xname) == 0;
        slot[i] = -1;
        if (is_input && fy__q_find_init(q, xname) < 0)
            continue;
        slot[i] = -2; /* an index into the run's outputs: the model's, then the exposed */
        for (int k = 0; k < n_out0; k++)
            if (strcmp(q->g->output[k]->name, xname) == 0)
                slot[i] = k;
        for (int k = 0; k < n_names && slot[i] < 0; k++)
            if (strcmp(names[k], xname) == 0)
                slot[i] = n_out0 + k;
        if (slot[i] < 0) {
            slot[i] = n_out0 + n_names;
            names[n_names++] = xname;
        }
    }
    if ((rc = exposed_model(q, names, n_names, &m, d)) != FY_OK ||
        (rc = fy_session_create(&s, m, NULL, d)) != FY_OK)
        goto done;
    outs = fy__calloc((size_t)(n_out0 + n_names + 1), sizeof *outs);
    if (!outs) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory calibrating");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        mn[i] = FLT_MAX;
        mx[i] = -FLT_MAX;
    }
    int passes = o->calibrate == FY_CALIB_MINMAX ? 1 : 2;
    for (int pass = 0; pass < passes; pass++) {
        for (int64_t start = 0; start < total; start += CALIB_BATCH) {
            int64_t nb = total - start < CALIB_BATCH ? total - start : CALIB_BATCH;
            fy_tensor_deinit(&x);
            if ((rc = fy__fill_batch(m, ds, start, nb, scale, &x, d)) != FY_OK)
                goto done;
            if ((rc = fy_session_run(s, 1, &x, n_out0 + n_names, outs, d)) != FY_OK)
                goto done;
            for (int i = 0; i < n; i++) {
                if (slot[i] == -2)
                    continue;
                const fy_tensor *t = slot[i] < 0 ? &x : &outs[slot[i]];
                if (t->dtype != FY_DTYPE_F32)
                    continue;
                const float *v = t->data;
                int64_t cnt = fy_tensor_numel(t);
                if (pass == 0) {
                    for (int64_t k = 0; k < cnt; k++) {
                        if (!isfinite(v[k]))
                            continue;
                        mn[i] = v[k] < mn[i] ? v[k] : mn[i];
                        mx[i] = v[k] > mx[i] ? v[k] : mx[i];
                    }
                } else {
                    float amax = fmaxf(fabsf(mn[i]), fabsf(mx[i]));
                    double *h = hist + (size_t)i * CALIB_BINS;
                    for (int64_t k = 0; k < cnt && amax > 0; k++) {
                        if (!isfinite(v[k]))
                            continue;
                        int b = (int)(fabsf(v[k]) / amax * CALIB_BINS);
                        h[b >= CALIB_BINS ? CALIB_BINS - 1 : b] += 1;
                    }
                }
            }
            for (int k = 0; k < n_out0 + n_names; k++)
                fy_tensor_deinit(&outs[k]);
        }
    }
    for (int i = 0; i < n; i++) {
        if (mn[i] > mx[i])
            continue; /* no finite value seen */
        if (passes == 1)
            ranges[i] = (fy__qrange){mn[i], mx[i]};
        else
            fy__calib_pick(hist + (size_t)i * CALIB_BINS, CALIB_BINS, mn[i], mx[i], o->calibrate,
                           &ranges[i].min, &ranges[i].max);
    }
done:
    fy_tensor_deinit(&x);
    fy__free(outs);
    fy_session_free(s);
    fy_model_free(m);
    fy__free(names);
    fy__free(slot);
    fy__free(mn);
    fy__free(mx);
    fy__free(hist);
    return rc;
}
