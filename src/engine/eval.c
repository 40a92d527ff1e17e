/* SPDX-License-Identifier: MIT */
/* Classifier evaluation: batches of dataset samples through a session, top-1 accuracy
 * and throughput. Shared by `ferry eval` and, later, deployment verification. */
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "ferry/dataset.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int fy_eval_classifier(fy_session *s, const fy_model *m, const fy_dataset *ds,
                       const fy_eval_opts *opts, fy_eval_result *out, fy_diag *d)
{
    fy_eval_opts o = opts ? *opts : (fy_eval_opts){0};
    int batch = o.batch > 0 ? o.batch : 64;
    float scale = o.scale != 0 ? o.scale : 1.0f / 255.0f;
    int64_t total = o.limit > 0 && o.limit < ds->count ? o.limit : ds->count;
    fy_io_desc in_desc, out_desc;
    if (fy_model_n_inputs(m) < 1 || fy_model_input(m, 0, &in_desc) != FY_OK)
        return fy__diag_set(d, FY_EINVAL, "model has no inputs");
    if (fy_model_output(m, o.output, &out_desc) != FY_OK)
        return fy__diag_set(d, FY_EINVAL, "model has no output %d", o.output);
    if (fy_model_n_inputs(m) != 1)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "model takes %d inputs; evaluation feeds one (the samples)",
                            fy_model_n_inputs(m));
    if (in_desc.dtype != FY_DTYPE_F32 && in_desc.dtype != FY_DTYPE_UNDEFINED)
        return fy__diag_set(d, FY_EUNSUPPORTED, "input '%s' is %s; evaluation feeds float32",
                            in_desc.name, fy_dtype_name(in_desc.dtype));
    if (ds->samples.dtype != FY_DTYPE_U8)
        return fy__diag_set(d, FY_EUNSUPPORTED, "dataset samples are %s; uint8 images expected",
                            fy_dtype_name(ds->samples.dtype));
    int64_t per = 1;
    for (int i = 1; i < ds->samples.rank; i++)
        per *= ds->samples.dims[i];
    /* The model's per-sample shape: declared dims after the batch dimension. */
    int64_t dims[FY_MAX_RANK];
    int rank = in_desc.rank >= 1 ? in_desc.rank : ds->samples.rank;
    int64_t model_per = 1;
    for (int i = 1; i < rank; i++) {
        dims[i] = in_desc.rank >= 1 ? in_desc.dims[i] : ds->samples.dims[i];
        if (dims[i] < 0)
            return fy__diag_set(
                d, FY_EUNSUPPORTED,
                "input '%s' dimension %d is symbolic; only the batch dimension may be",
                in_desc.name, i);
        model_per *= dims[i];
    }
    if (model_per != per)
        return fy__diag_set(d, FY_EINVAL,
                            "input '%s' takes %lld values per sample, the dataset has %lld",
                            in_desc.name, (long long)model_per, (long long)per);
    if (in_desc.rank >= 1 && in_desc.dims[0] >= 0)
        batch = (int)in_desc.dims[0]; /* fixed batch size in the model */

    int rc = FY_OK;
    fy_tensor x = {0}, y = {0};
    int64_t correct = 0, classes = 0;
    double t0 = 0, busy = 0;
    dims[0] = batch;
    if ((rc = fy_tensor_alloc(&x, FY_DTYPE_F32, rank, dims, d)) != FY_OK)
        return rc;
    if (o.scores)
        memset(o.scores, 0, sizeof *o.scores);
    for (int64_t start = 0; start < total; start += batch) {
        int64_t n = total - start < batch ? total - start : batch;
        if (in_desc.rank >= 1 && in_desc.dims[0] >= 0 && n != batch)
            break; /* a fixed-batch model cannot take the remainder */
        x.dims[0] = n;
        const uint8_t *src = (const uint8_t *)ds->samples.data + start * per;
        float *dst = x.data;
        for (int64_t i = 0; i < n * per; i++)
            dst[i] = (float)src[i] * scale;
        fy_tensor outs[16];
        int n_out = o.output + 1;
        if (n_out > 16)
            n_out = 16;
        t0 = now_s();
        rc = fy_session_run(s, 1, &x, n_out, outs, d);
        busy += now_s() - t0;
        if (rc != FY_OK)
            goto done;
        for (int k = 0; k < n_out; k++)
            if (k != o.output)
                fy_tensor_deinit(&outs[k]);
        y = outs[o.output];
        if (y.rank != 2 || y.dims[0] != n || y.dims[1] < 1 || y.dtype != FY_DTYPE_F32) {
            char buf[96];
            rc = fy__diag_set(d, FY_EINVAL, "output '%s' is %s; [%lld, classes] float32 expected",
                              out_desc.name, fy_tensor_describe(&y, buf, sizeof buf), (long long)n);
            goto done;
        }
        if (!classes) {
            classes = y.dims[1];
            if (o.scores) {
                int64_t sd[2] = {total, classes};
                if ((rc = fy_tensor_alloc(o.scores, FY_DTYPE_F32, 2, sd, d)) != FY_OK)
                    goto done;
            }
        } else if (y.dims[1] != classes) {
            rc = fy__diag_set(d, FY_EINVAL, "output class count changed between batches");
            goto done;
        }
        const float *p = y.data;
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t c = 1; c < classes; c++)
                if (p[i * classes + c] > p[i * classes + best])
                    best = c;
            correct += best == ((const int64_t *)ds->labels.data)[start + i];
        }
        if (o.scores)
            memcpy((float *)o.scores->data + start * classes, p,
                   (size_t)(n * classes) * sizeof(float));
        fy_tensor_deinit(&y);
        if (o.progress)
            o.progress(start + n, total, o.progress_ctx);
    }
    memset(out, 0, sizeof *out);
    out->count = total;
    out->correct = correct;
    out->accuracy = total ? (double)correct / (double)total : 0.0;
    out->seconds = busy;
    out->images_per_s = busy > 0 ? (double)total / busy : 0.0;
done:
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&y);
    if (rc != FY_OK && o.scores)
        fy_tensor_deinit(o.scores);
    return rc;
}
