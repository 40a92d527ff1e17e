/* SPDX-License-Identifier: MIT */
/* ferry's own POST /predict: {"instances": [item, ...]} or {"INPUT": item}, with the
 * package manifest's preprocessing applied, answered by {"predictions": [...]}
 * (labelled when the package has labels). See docs/protocols.md. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* x' = (x * scale - mean[c]) / std[c] on the input the manifest's signature names
 * first (or the model's first input), float inputs only. The channel axis is 1
 * (NCHW, and when no layout is given) or the last one (NHWC). */
static int preprocess(const fy_manifest *man, const fy_model *m, fy__req *r, fy_diag *d)
{
    double scale = man->scale != 0 ? man->scale : 1.0;
    int n_par = man->n_mean > man->n_std ? man->n_mean : man->n_std;
    if (scale == 1.0 && n_par == 0)
        return FY_OK;
    int k = 0;
    fy_io_desc io;
    if (man->n_inputs > 0 && man->inputs[0].name) {
        int n_in = fy_model_n_inputs(m);
        for (int i = 0; i < n_in; i++)
            if (fy_model_input(m, i, &io) == FY_OK && strcmp(io.name, man->inputs[0].name) == 0)
                k = i;
    }
    if (k >= r->n_inputs || fy_model_input(m, k, &io) != FY_OK)
        return FY_OK;
    fy_tensor *t = &r->inputs[k];
    if (t->dtype != FY_DTYPE_F32 && t->dtype != FY_DTYPE_F64)
        return FY_OK;
    int axis = -1;
    if (t->rank >= 2)
        axis = man->layout && strcmp(man->layout, "NHWC") == 0 ? t->rank - 1 : 1;
    int64_t channels = axis >= 0 ? t->dims[axis] : 1, inner = 1;
    for (int q = axis + 1; axis >= 0 && q < t->rank; q++)
        inner *= t->dims[q];
    if (n_par > 1 && channels != n_par)
        return fy__diag_set(d, FY_EINVAL,
                            "input '%s': the package's preprocessing has %d mean/std values but "
                            "the input has %lld channels on axis %d",
                            io.name, n_par, (long long)channels, axis);
    /* Runs of `inner` elements share a channel (all of them when there is one mean
     * and std): the loops over a run have no branch and vectorize. */
    int64_t n = fy_tensor_numel(t), run = n_par > 1 ? inner : n;
    for (int64_t i0 = 0; run > 0 && i0 < n; i0 += run) {
        int64_t c = n_par > 1 ? (i0 / inner) % channels : 0, e = i0 + run < n ? i0 + run : n;
        double mean = man->n_mean ? man->mean[man->n_mean > 1 ? c : 0] : 0.0;
        double sd = man->n_std ? man->std[man->n_std > 1 ? c : 0] : 1.0;
        if (t->dtype == FY_DTYPE_F32) {
            float *p = t->data;
            for (int64_t i = i0; i < e; i++)
                p[i] = (float)(((double)p[i] * scale - mean) / sd);
        } else {
            double *p = t->data;
            for (int64_t i = i0; i < e; i++)
                p[i] = (p[i] * scale - mean) / sd;
        }
    }
    return FY_OK;
}

int fy__codec_predict_decode_json(const char *body, size_t len, const fy_model *m,
                                  const fy_manifest *man, fy__req *out, fy_diag *d)
{
    fy__req r;
    json_t *j = NULL;
    memset(&r, 0, sizeof r);
    int rc = fy__codec_parse(body, len, &j, d);
    if (rc != FY_OK)
        goto done;
    json_t *inst = json_object_get(j, "instances");
    if (inst) {
        const char *key;
        json_t *val;
        json_object_foreach(j, key, val)
        {
            if (strcmp(key, "instances") != 0) {
                rc = fy__diag_set(d, FY_EINVAL,
                                  "unknown field '%s' next to 'instances' (give either "
                                  "{\"instances\": [...]} or one item as {\"INPUT\": ...})",
                                  key);
                goto done;
            }
        }
        rc = fy__codec_rows(inst, 0, m, &r, d);
    } else if (json_object_size(j) == 0) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "empty request: give {\"instances\": [...]} or one item as "
                          "{\"INPUT\": ...}");
    } else {
        r.single = 1;
        rc = fy__codec_rows(j, 1, m, &r, d);
    }
    if (rc == FY_OK && man)
        rc = preprocess(man, m, &r, d);
done:
    json_decref(j);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}

int fy__codec_predict_decode(const char *body, size_t len, const fy_model *m,
                             const fy_manifest *man, fy__req *out, fy_diag *d)
{
    fy__req r;
    memset(&r, 0, sizeof r);
    int rc = fy__codec_predict_fast(body, len, m, &r, d);
    if (rc == FY__FAST_DECLINED)
        return fy__codec_predict_decode_json(body, len, m, man, out, d);
    if (rc == FY_OK && man)
        rc = preprocess(man, m, &r, d);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}

/* Line k of the labels text (without its line end), or NULL past the end. */
static const char *label_at(const char *labels, size_t len, int64_t k, size_t *n)
{
    size_t i = 0;
    for (int64_t line = 0; i < len; line++) {
        const char *nl = memchr(labels + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - labels) : len;
        if (line == k) {
            *n = end - i;
            if (*n && labels[end - 1] == '\r')
                (*n)--;
            return labels + i;
        }
        i = end + 1;
    }
    return NULL;
}

int fy__codec_predict_encode(const fy_model *m, const char *labels, size_t labels_len,
                             const fy__req *req, int n_out, const fy_tensor *out, char **body,
                             size_t *len, fy_diag *d)
{
    fy__sb s = {0};
    int rc = FY_OK;
    fy__sb_puts(&s, "{\"predictions\":[");
    if (labels && labels_len && n_out == 1 && out[0].rank == 2 &&
        (out[0].dtype == FY_DTYPE_F32 || out[0].dtype == FY_DTYPE_F64)) {
        /* Labelled: the class with the highest score (the first on ties; NaN never wins). */
        const fy_tensor *t = &out[0];
        int64_t rows =
            req->n_inputs > 0 && req->inputs[0].rank > 0 ? req->inputs[0].dims[0] : t->dims[0];
        if (t->dims[0] != rows) {
            rc = fy__diag_set(d, FY_EINVAL, "the output has %lld rows for %lld instances",
                              (long long)t->dims[0], (long long)rows);
            goto done;
        }
        int64_t per = t->dims[1];
        for (int64_t i = 0; i < rows && !s.err; i++) {
            int64_t best = -1;
            double best_v = 0;
            for (int64_t c = 0; c < per; c++) {
                double v = t->dtype == FY_DTYPE_F32 ? ((const float *)t->data)[i * per + c]
                                                    : ((const double *)t->data)[i * per + c];
                if (!isnan(v) && (best < 0 || v > best_v)) {
                    best = c;
                    best_v = v;
                }
            }
            size_t ln = 0;
            const char *lab = best >= 0 ? label_at(labels, labels_len, best, &ln) : NULL;
            fy__sb_puts(&s, i ? ",{\"label\":" : "{\"label\":");
            if (lab)
                fy__sb_jstrn(&s, lab, ln);
            else
                fy__sb_puts(&s, "null");
            fy__sb_puts(&s, ",\"class\":");
            if (best >= 0)
                fy__sb_int(&s, best);
            else
                fy__sb_puts(&s, "null");
            fy__sb_puts(&s, ",\"scores\":");
            fy__sb_values(&s, t, i * per, 1, &t->dims[1]);
            fy__sb_puts(&s, "}");
        }
    } else if ((rc = fy__sb_rows(&s, m, req, n_out, out, d)) != FY_OK) {
        goto done;
    }
    fy__sb_puts(&s, "]}");
    return fy__sb_finish(&s, body, len, d);
done:
    fy__free(s.buf);
    return rc;
}
