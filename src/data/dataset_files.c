/* SPDX-License-Identifier: MIT */
/* Dataset kinds besides IDX: a pair of .npy files, and a folder of PGM images
 * named by a labels.txt. Every size comes from input, so each is bounded before
 * anything is allocated. */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "data.h"
#include "ferry/model.h"

/* ---- PGM ---- */

static int pgm_skip(const uint8_t *p, size_t len, size_t *i)
{
    while (*i < len) {
        if (p[*i] == '#') {
            while (*i < len && p[*i] != '\n')
                (*i)++;
        } else if (p[*i] == ' ' || p[*i] == '\t' || p[*i] == '\n' || p[*i] == '\r') {
            (*i)++;
        } else {
            return 0;
        }
    }
    return -1;
}

static int pgm_number(const uint8_t *p, size_t len, size_t *i, long max, long *out)
{
    if (pgm_skip(p, len, i) != 0 || p[*i] < '0' || p[*i] > '9')
        return -1;
    long v = 0;
    while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
        v = v * 10 + (p[*i] - '0');
        if (v > max)
            return -1;
        (*i)++;
    }
    *out = v;
    return 0;
}

int fy__pgm_parse(const void *buf, size_t len, fy_tensor *out, fy_diag *d)
{
    const uint8_t *p = buf;
    size_t i = 2;
    long w, h, maxval;
    if (len < 2 || p[0] != 'P' || p[1] != '5')
        return fy__diag_set(d, FY_EPARSE, "not a binary PGM (P5) image");
    if (pgm_number(p, len, &i, FY_PGM_MAX_SIDE, &w) != 0 ||
        pgm_number(p, len, &i, FY_PGM_MAX_SIDE, &h) != 0)
        return fy__diag_set(d, FY_EPARSE, "PGM: bad width or height (1 to %d)", FY_PGM_MAX_SIDE);
    if (pgm_number(p, len, &i, 65535, &maxval) != 0)
        return fy__diag_set(d, FY_EPARSE, "PGM: bad maximum value");
    if (w < 1 || h < 1)
        return fy__diag_set(d, FY_EPARSE, "PGM: empty image (%ldx%ld)", w, h);
    if (maxval < 1 || maxval > 255)
        return fy__diag_set(d, FY_EUNSUPPORTED, "PGM: maximum value %ld (only 8-bit, 1..255)",
                            maxval);
    /* exactly one whitespace byte separates the header from the pixels */
    if (i >= len || !(p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        return fy__diag_set(d, FY_EPARSE, "PGM: no whitespace after the header");
    i++;
    size_t need = (size_t)w * (size_t)h;
    if (len - i < need)
        return fy__diag_set(d, FY_EPARSE, "PGM: %zu pixel bytes, %ldx%ld needs %zu", len - i, w, h,
                            need);
    int64_t dims[2] = {h, w};
    int rc = fy_tensor_alloc(out, FY_DTYPE_U8, 2, dims, d);
    if (rc != FY_OK)
        return rc;
    uint8_t *o = out->data;
    for (size_t k = 0; k < need; k++) /* scale to 0..255 */
        o[k] = (uint8_t)(maxval == 255 ? p[i + k]
                                       : (p[i + k] > maxval ? 255 : p[i + k] * 255 / maxval));
    return FY_OK;
}

/* ---- labels.txt ---- */

void fy__labels_free(fy__labels *l)
{
    if (!l)
        return;
    fy__free(l->names);
    fy__free(l->labels);
    fy__free(l->block);
    memset(l, 0, sizeof *l);
}

int fy__labels_parse(const char *text, size_t len, fy__labels *out, fy_diag *d)
{
    memset(out, 0, sizeof *out);
    if (len > FY_LABELS_MAX_BYTES)
        return fy__diag_set(d, FY_ELIMIT, "labels file is %zu bytes, above %zu", len,
                            FY_LABELS_MAX_BYTES);
    int64_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (lines > FY_LABELS_MAX_ENTRIES + 1)
        lines = FY_LABELS_MAX_ENTRIES + 1;
    fy__labels l = {0};
    l.block = fy__malloc(len + 1);
    l.names = fy__calloc((size_t)lines, sizeof *l.names);
    l.labels = fy__calloc((size_t)lines, sizeof *l.labels);
    if (!l.block || !l.names || !l.labels) {
        fy__labels_free(&l);
        return fy__diag_set(d, FY_ENOMEM, "out of memory reading labels");
    }
    memcpy(l.block, text, len);
    l.block[len] = 0;
    int rc = FY_OK;
    size_t pos = 0;
    for (int64_t line = 1; pos < len; line++) {
        char *s = l.block + pos;
        size_t n = 0;
        while (pos + n < len && s[n] != '\n')
            n++;
        pos += n + 1;
        s[n] = 0;
        if (n && s[n - 1] == '\r')
            s[--n] = 0;
        if (memchr(s, 0, n)) {
            rc = fy__diag_set(d, FY_EPARSE, "labels line %lld: NUL byte", (long long)line);
            break;
        }
        char *t = s;
        while (*t == ' ' || *t == '\t')
            t++;
        if (!*t || *t == '#')
            continue;
        char *name = t;
        while (*t && *t != ' ' && *t != '\t')
            t++;
        size_t nl = (size_t)(t - name);
        while (*t == ' ' || *t == '\t')
            *t++ = 0;
        if (!*t) {
            rc = fy__diag_set(d, FY_EPARSE, "labels line %lld: expected 'FILE LABEL'",
                              (long long)line);
            break;
        }
        if (nl > FY_LABELS_MAX_NAME || name[0] == '.' || memchr(name, '/', nl) ||
            memchr(name, '\\', nl)) {
            rc = fy__diag_set(d, FY_EINVAL,
                              "labels line %lld: file must be a plain name in the folder (no "
                              "'/', not starting with '.', at most %d bytes)",
                              (long long)line, FY_LABELS_MAX_NAME);
            break;
        }
        int64_t v = 0;
        char *num = t;
        while (*t >= '0' && *t <= '9') {
            v = v * 10 + (*t - '0');
            if (v > FY_LABEL_MAX)
                break;
            t++;
        }
        while (*t == ' ' || *t == '\t')
            t++;
        if (t == num || *t || v > FY_LABEL_MAX) {
            rc = fy__diag_set(d, FY_EINVAL, "labels line %lld: label must be an integer 0..%d",
                              (long long)line, FY_LABEL_MAX);
            break;
        }
        if (l.n >= FY_LABELS_MAX_ENTRIES) {
            rc = fy__diag_set(d, FY_ELIMIT, "labels: more than %d entries", FY_LABELS_MAX_ENTRIES);
            break;
        }
        l.names[l.n] = name;
        l.labels[l.n++] = v;
    }
    if (rc == FY_OK && l.n == 0)
        rc = fy__diag_set(d, FY_EINVAL, "labels file names no images");
    if (rc != FY_OK) {
        fy__labels_free(&l);
        return rc;
    }
    *out = l;
    return FY_OK;
}

/* ---- datasets ---- */

static int to_labels(fy_tensor *dst, const fy_tensor *src, const char *what, fy_diag *d)
{
    if (src->rank != 1)
        return fy__diag_set(d, FY_EINVAL, "%s: labels must be 1-D, got rank %d", what, src->rank);
    int rc = fy_tensor_alloc(dst, FY_DTYPE_I64, 1, src->dims, d);
    if (rc != FY_OK)
        return rc;
    int64_t *o = dst->data;
    for (int64_t i = 0; i < src->dims[0]; i++) {
        switch (src->dtype) {
        case FY_DTYPE_U8: o[i] = ((const uint8_t *)src->data)[i]; break;
        case FY_DTYPE_I8: o[i] = ((const int8_t *)src->data)[i]; break;
        case FY_DTYPE_I16: o[i] = ((const int16_t *)src->data)[i]; break;
        case FY_DTYPE_U16: o[i] = ((const uint16_t *)src->data)[i]; break;
        case FY_DTYPE_I32: o[i] = ((const int32_t *)src->data)[i]; break;
        case FY_DTYPE_I64: o[i] = ((const int64_t *)src->data)[i]; break;
        default:
            fy_tensor_deinit(dst);
            return fy__diag_set(d, FY_EINVAL, "%s: labels must be integers, got %s", what,
                                fy_dtype_name(src->dtype));
        }
    }
    return FY_OK;
}

int fy__dataset_open_npy(fy_dataset *out, const char *rest, fy_diag *d)
{
    const char *comma = strchr(rest, ',');
    if (!comma || comma == rest || !comma[1] || strchr(comma + 1, ','))
        return fy__diag_set(d, FY_EINVAL,
                            "dataset: npy sets are written npy:IMAGES.npy,LABELS.npy");
    char images[4096];
    if ((size_t)(comma - rest) >= sizeof images)
        return fy__diag_set(d, FY_ELIMIT, "dataset images path too long");
    snprintf(images, sizeof images, "%.*s", (int)(comma - rest), rest);
    fy_dataset ds = {0};
    fy_tensor raw = {0};
    int rc = fy_tensor_read_file(&ds.samples, images, FY_DTYPE_UNDEFINED, d);
    if (rc == FY_OK)
        rc = fy_tensor_read_file(&raw, comma + 1, FY_DTYPE_UNDEFINED, d);
    if (rc != FY_OK)
        goto fail;
    if (ds.samples.dtype != FY_DTYPE_U8 || ds.samples.rank < 2) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: images must be uint8 [N, ...], got %s[rank %d]",
                          images, fy_dtype_name(ds.samples.dtype), ds.samples.rank);
        goto fail;
    }
    if ((rc = to_labels(&ds.labels, &raw, comma + 1, d)) != FY_OK)
        goto fail;
    if (ds.labels.dims[0] != ds.samples.dims[0]) {
        rc = fy__diag_set(d, FY_EINVAL, "dataset: %lld images but %lld labels",
                          (long long)ds.samples.dims[0], (long long)ds.labels.dims[0]);
        goto fail;
    }
    ds.count = ds.samples.dims[0];
    fy_tensor_deinit(&raw);
    *out = ds;
    return FY_OK;
fail:
    fy_tensor_deinit(&raw);
    fy_dataset_deinit(&ds);
    return rc;
}

int fy__dataset_open_dir(fy_dataset *out, const char *folder, fy_diag *d)
{
    char path[4400];
    if ((size_t)snprintf(path, sizeof path, "%s/labels.txt", folder) >= sizeof path)
        return fy__diag_set(d, FY_ELIMIT, "dataset folder path too long");
    unsigned char *text = NULL, *img = NULL;
    size_t len = 0, ilen = 0;
    fy__labels lab = {0};
    fy_dataset ds = {0};
    fy_tensor one = {0};
    int rc = fy__read_file(path, FY_LABELS_MAX_BYTES, &text, &len, d);
    if (rc != FY_OK)
        return rc;
    if ((rc = fy__labels_parse((const char *)text, len, &lab, d)) != FY_OK)
        goto done;
    int64_t h = 0, w = 0;
    for (int64_t i = 0; i < lab.n; i++) {
        snprintf(path, sizeof path, "%s/%s", folder, lab.names[i]);
        if ((rc = fy__read_file(path, (size_t)64 << 20, &img, &ilen, d)) != FY_OK)
            goto done;
        rc = fy__pgm_parse(img, ilen, &one, d);
        fy__free(img);
        img = NULL;
        if (rc != FY_OK) {
            char msg[sizeof d->msg];
            snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
            rc = fy__diag_set(d, rc, "%s: %s", lab.names[i], msg);
            goto done;
        }
        if (i == 0) {
            h = one.dims[0];
            w = one.dims[1];
            int64_t dims[3] = {lab.n, h, w};
            if ((rc = fy_tensor_alloc(&ds.samples, FY_DTYPE_U8, 3, dims, d)) != FY_OK)
                goto done;
        } else if (one.dims[0] != h || one.dims[1] != w) {
            rc = fy__diag_set(d, FY_EINVAL, "%s is %lldx%lld, the first image is %lldx%lld",
                              lab.names[i], (long long)one.dims[1], (long long)one.dims[0],
                              (long long)w, (long long)h);
            goto done;
        }
        memcpy((uint8_t *)ds.samples.data + i * h * w, one.data, (size_t)(h * w));
        fy_tensor_deinit(&one);
    }
    int64_t ld[1] = {lab.n};
    if ((rc = fy_tensor_alloc(&ds.labels, FY_DTYPE_I64, 1, ld, d)) != FY_OK)
        goto done;
    memcpy(ds.labels.data, lab.labels, (size_t)lab.n * sizeof(int64_t));
    ds.count = lab.n;
    *out = ds;
    memset(&ds, 0, sizeof ds);
done:
    fy_tensor_deinit(&one);
    fy__free(text);
    fy__free(img);
    fy__labels_free(&lab);
    fy_dataset_deinit(&ds);
    return rc;
}
