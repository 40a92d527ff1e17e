/* SPDX-License-Identifier: MIT */
/* Request bodies for /predict built from a labeled dataset, for `ferry bench` and
 * the latency and accuracy checks of `ferry verify`. */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "ferry/ferry.h"

void fy_bench_bodies_free(fy_bench_body *b, int n)
{
    for (int i = 0; b && i < n; i++)
        fy__free((void *)b[i].data);
    fy__free(b);
}

/* Append sample values as JSON numbers: {"instances": [[v, v, ...]]}. */
static char *sample_json(const fy_tensor *t, int64_t i, int64_t per, size_t *len)
{
    size_t cap = (size_t)per * 24 + 64, k = 0;
    char *s = fy__malloc(cap);
    if (!s)
        return NULL;
    k += (size_t)snprintf(s, cap, "{\"instances\": [[");
    const uint8_t *base =
        (const uint8_t *)t->data + (size_t)i * (size_t)per * fy_dtype_size(t->dtype);
    for (int64_t j = 0; j < per; j++) {
        double v;
        switch (t->dtype) {
        case FY_DTYPE_U8: v = ((const uint8_t *)base)[j]; break;
        case FY_DTYPE_I8: v = ((const int8_t *)base)[j]; break;
        case FY_DTYPE_I16: v = ((const int16_t *)base)[j]; break;
        case FY_DTYPE_I32: v = ((const int32_t *)base)[j]; break;
        case FY_DTYPE_F32: v = ((const float *)base)[j]; break;
        default: v = ((const double *)base)[j]; break;
        }
        k += (size_t)snprintf(s + k, cap - k, j ? ",%.9g" : "%.9g", v);
    }
    k += (size_t)snprintf(s + k, cap - k, "]]}");
    *len = k;
    return s;
}

int fy_bench_predict_bodies(const char *dataset, int max, fy_bench_body **out, int *n,
                            int64_t **labels, fy_diag *d)
{
    fy_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = fy_dataset_open(&ds, dataset, d);
    if (rc != FY_OK)
        return rc;
    fy_dtype dt = ds.samples.dtype;
    if (dt != FY_DTYPE_U8 && dt != FY_DTYPE_I8 && dt != FY_DTYPE_I16 && dt != FY_DTYPE_I32 &&
        dt != FY_DTYPE_F32 && dt != FY_DTYPE_F64) {
        fy_dataset_deinit(&ds);
        return fy__diag_set(d, FY_EUNSUPPORTED, "dataset samples are %s: numbers expected",
                            fy_dtype_name(dt));
    }
    int64_t per = 1;
    for (int i = 1; i < ds.samples.rank; i++)
        per *= ds.samples.dims[i];
    int64_t count = ds.count < (max > 0 ? max : 256) ? ds.count : (max > 0 ? max : 256);
    if (count < 1 || per < 1 || per > (1 << 24)) {
        fy_dataset_deinit(&ds);
        return fy__diag_set(d, FY_EINVAL, "dataset '%.200s' has no usable samples", dataset);
    }
    fy_bench_body *b = fy__calloc((size_t)count, sizeof *b);
    int64_t *lab = labels ? fy__calloc((size_t)count, sizeof *lab) : NULL;
    if (!b || (labels && !lab)) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto fail;
    }
    for (int64_t i = 0; i < count; i++) {
        size_t len = 0;
        char *s = sample_json(&ds.samples, i, per, &len);
        if (!s) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto fail;
        }
        b[i].data = s;
        b[i].len = len;
        if (lab)
            lab[i] = ((const int64_t *)ds.labels.data)[i];
    }
    fy_dataset_deinit(&ds);
    *out = b;
    *n = (int)count;
    if (labels)
        *labels = lab;
    return FY_OK;
fail:
    fy_bench_bodies_free(b, (int)count);
    fy__free(lab);
    fy_dataset_deinit(&ds);
    return rc;
}
