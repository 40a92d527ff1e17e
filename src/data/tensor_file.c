/* SPDX-License-Identifier: MIT */
/* Tensor files for `ferry run` and tests: NumPy .npy (read and write), ONNX
 * TensorProto .pb, and JSON nested arrays. Headers and shapes are checked
 * against the bytes present before anything is allocated. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "ferry/model.h"

#define NPY_MAX_HEADER 65536
#define JSON_MAX_DEPTH 32
#define TENSOR_FILE_MAX ((size_t)4 << 30)

static const struct {
    const char *descr;
    fy_dtype dt;
} npy_types[] = {
    {"<f4", FY_DTYPE_F32}, {"<f8", FY_DTYPE_F64}, {"<f2", FY_DTYPE_F16}, {"|u1", FY_DTYPE_U8},
    {"|i1", FY_DTYPE_I8},  {"<u2", FY_DTYPE_U16}, {"<i2", FY_DTYPE_I16}, {"<i4", FY_DTYPE_I32},
    {"<i8", FY_DTYPE_I64}, {"<u4", FY_DTYPE_U32}, {"<u8", FY_DTYPE_U64}, {"|b1", FY_DTYPE_BOOL},
};

/* Find 'key': in the header dict and return a pointer just after the colon. */
static const char *npy_field(const char *hdr, const char *key)
{
    const char *p = strstr(hdr, key);
    if (!p)
        return NULL;
    p = strchr(p + strlen(key), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

static int npy_parse(fy_tensor *out, const unsigned char *buf, size_t len, const char *path,
                     fy_diag *d)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return fy__diag_set(d, FY_EPARSE, "%s: not a .npy file (bad magic)", path);
    unsigned major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return fy__diag_set(d, FY_EPARSE, "%s: truncated .npy header", path);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        return fy__diag_set(d, FY_EUNSUPPORTED, "%s: .npy version %u is not supported", path,
                            major);
    }
    if (hlen > NPY_MAX_HEADER || hlen > len - off)
        return fy__diag_set(d, FY_EPARSE, "%s: .npy header length %zu runs past the file", path,
                            hlen);
    char hdr[NPY_MAX_HEADER + 1];
    memcpy(hdr, buf + off, hlen);
    hdr[hlen] = 0;
    const char *descr = npy_field(hdr, "'descr'");
    const char *fo = npy_field(hdr, "'fortran_order'");
    const char *shape = npy_field(hdr, "'shape'");
    if (!descr || !fo || !shape || *descr != '\'' || *shape != '(')
        return fy__diag_set(d, FY_EPARSE, "%s: .npy header lacks descr, fortran_order or shape",
                            path);
    if (strncmp(fo, "False", 5) != 0)
        return fy__diag_set(d, FY_EUNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
    fy_dtype dt = FY_DTYPE_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++) {
        size_t n = strlen(npy_types[i].descr);
        if (strncmp(descr + 1, npy_types[i].descr, n) == 0 && descr[1 + n] == '\'')
            dt = npy_types[i].dt;
    }
    if (dt == FY_DTYPE_UNDEFINED)
        return fy__diag_set(d, FY_EUNSUPPORTED, "%s: .npy dtype %.12s is not supported", path,
                            descr);
    int64_t dims[FY_MAX_RANK];
    int rank = 0;
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (*p < '0' || *p > '9')
            return fy__diag_set(d, FY_EPARSE, "%s: bad .npy shape", path);
        if (rank >= FY_MAX_RANK)
            return fy__diag_set(d, FY_ELIMIT, "%s: .npy rank above %d", path, FY_MAX_RANK);
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno || v < 0)
            return fy__diag_set(d, FY_EPARSE, "%s: bad .npy dimension", path);
        dims[rank++] = v;
        p = end;
    }
    size_t nbytes;
    fy_diag sub;
    int rc = fy_shape_nbytes(dt, rank, dims, &nbytes, &sub);
    if (rc != FY_OK)
        return fy__diag_set(d, rc, "%s: %s", path, sub.msg);
    size_t data_off = off + hlen;
    if (len - data_off != nbytes)
        return fy__diag_set(d, FY_EPARSE, "%s: .npy holds %zu data bytes, its shape needs %zu",
                            path, len - data_off, nbytes);
    if ((rc = fy_tensor_alloc(out, dt, rank, dims, d)) != FY_OK)
        return rc;
    if (nbytes)
        memcpy(out->data, buf + data_off, nbytes);
    return FY_OK;
}

int fy_tensor_write_npy(const fy_tensor *t, const char *path, fy_diag *d)
{
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dt == t->dtype)
            descr = npy_types[i].descr;
    if (!descr)
        return fy__diag_set(d, FY_EUNSUPPORTED, "cannot write %s as .npy", fy_dtype_name(t->dtype));
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->rank ? " " : "");
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    /* pad so the data starts on a 64-byte boundary; header ends with '\n' */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f)
        return fy__diag_set(d, FY_EIO, "%s: cannot create: %s", path, strerror(errno));
    unsigned hl = (unsigned)(n + pad + 1);
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t nb = fy_tensor_nbytes(t);
    ok = ok && (nb == 0 || fwrite(t->data, 1, nb, f) == nb);
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return fy__diag_set(d, FY_EIO, "%s: write failed", path);
    return FY_OK;
}

/* JSON: nested arrays of numbers (or a bare number). The shape is read off the
 * first element at each depth; ragged arrays are an error naming the position. */
static int json_shape(json_t *j, int depth, int *rank, int64_t *dims, const char *path, fy_diag *d)
{
    if (depth > JSON_MAX_DEPTH || depth > FY_MAX_RANK)
        return fy__diag_set(d, FY_ELIMIT, "%s: arrays nested deeper than %d", path, FY_MAX_RANK);
    if (json_is_array(j)) {
        dims[depth] = (int64_t)json_array_size(j);
        if (dims[depth] == 0) {
            *rank = depth + 1;
            return FY_OK;
        }
        return json_shape(json_array_get(j, 0), depth + 1, rank, dims, path, d);
    }
    if (!json_is_number(j) && !json_is_boolean(j))
        return fy__diag_set(d, FY_EPARSE, "%s: expected numbers or arrays of numbers", path);
    *rank = depth;
    return FY_OK;
}

static int json_fill(json_t *j, int depth, int rank, const int64_t *dims, fy_tensor *t, int64_t *i,
                     const char *path, fy_diag *d)
{
    if (depth == rank) {
        if (json_is_array(j) || !(json_is_number(j) || json_is_boolean(j)))
            return fy__diag_set(d, FY_EPARSE, "%s: element %lld is not a number (ragged array?)",
                                path, (long long)*i);
        double v = json_is_boolean(j) ? (json_is_true(j) ? 1.0 : 0.0) : json_number_value(j);
        if (t->dtype == FY_DTYPE_F32) {
            ((float *)t->data)[*i] = (float)v;
        } else if (t->dtype == FY_DTYPE_F64) {
            ((double *)t->data)[*i] = v;
        } else {
            /* Integers: exact JSON integers, or reals with no fraction, in the type's range. */
            int64_t iv;
            if (json_is_integer(j))
                iv = json_integer_value(j);
            else if (v == floor(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0)
                iv = (int64_t)v;
            else
                return fy__diag_set(d, FY_EINVAL, "%s: element %lld (%g) is not an integer", path,
                                    (long long)*i, v);
            int64_t lo = t->dtype == FY_DTYPE_I32   ? INT32_MIN
                         : t->dtype == FY_DTYPE_I64 ? INT64_MIN
                                                    : 0;
            int64_t hi = t->dtype == FY_DTYPE_I32    ? INT32_MAX
                         : t->dtype == FY_DTYPE_U8   ? 255
                         : t->dtype == FY_DTYPE_BOOL ? 1
                                                     : INT64_MAX;
            if (iv < lo || iv > hi)
                return fy__diag_set(d, FY_EINVAL, "%s: element %lld (%lld) is out of range for %s",
                                    path, (long long)*i, (long long)iv, fy_dtype_name(t->dtype));
            switch (t->dtype) {
            case FY_DTYPE_I64: ((int64_t *)t->data)[*i] = iv; break;
            case FY_DTYPE_I32: ((int32_t *)t->data)[*i] = (int32_t)iv; break;
            default: ((uint8_t *)t->data)[*i] = (uint8_t)iv; break;
            }
        }
        (*i)++;
        return FY_OK;
    }
    if (!json_is_array(j) || (int64_t)json_array_size(j) != dims[depth])
        return fy__diag_set(d, FY_EPARSE,
                            "%s: ragged array: at depth %d expected %lld elements (element %lld)",
                            path, depth, (long long)dims[depth], (long long)*i);
    for (size_t k = 0; k < json_array_size(j); k++) {
        int rc = json_fill(json_array_get(j, k), depth + 1, rank, dims, t, i, path, d);
        if (rc != FY_OK)
            return rc;
    }
    return FY_OK;
}

static int json_parse_tensor(fy_tensor *out, const unsigned char *buf, size_t len, fy_dtype dt,
                             const char *path, fy_diag *d)
{
    if (dt == FY_DTYPE_UNDEFINED)
        dt = FY_DTYPE_F32;
    if (dt != FY_DTYPE_F32 && dt != FY_DTYPE_F64 && dt != FY_DTYPE_I64 && dt != FY_DTYPE_I32 &&
        dt != FY_DTYPE_U8 && dt != FY_DTYPE_BOOL)
        return fy__diag_set(d, FY_EUNSUPPORTED, "%s: JSON tensors of %s are not supported", path,
                            fy_dtype_name(dt));
    json_error_t err;
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!j)
        return fy__diag_set(d, FY_EPARSE, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column,
                            err.text);
    int rank = 0;
    int64_t dims[FY_MAX_RANK + 1] = {0};
    int64_t i = 0;
    int rc = json_shape(j, 0, &rank, dims, path, d);
    if (rc == FY_OK)
        rc = fy_tensor_alloc(out, dt, rank, dims, d);
    /* Fill even when empty: the walk is also what finds ragged arrays. */
    if (rc == FY_OK && (rc = json_fill(j, 0, rank, dims, out, &i, path, d)) != FY_OK)
        fy_tensor_deinit(out);
    json_decref(j);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int fy_tensor_read_file(fy_tensor *out, const char *path, fy_dtype json_dtype, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, TENSOR_FILE_MAX, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    fy_tensor t = {0};
    if (ends_with(path, ".npy")) {
        rc = npy_parse(&t, buf, len, path, d);
    } else if (ends_with(path, ".pb")) {
        rc = fy_tensor_from_onnx_pb(&t, buf, len, d);
        if (rc != FY_OK && d) {
            char tmp[sizeof d->msg];
            memcpy(tmp, d->msg, sizeof tmp);
            fy__diag_set(d, rc, "%s: %s", path, tmp);
        }
    } else if (ends_with(path, ".json")) {
        rc = json_parse_tensor(&t, buf, len, json_dtype, path, d);
    } else {
        rc = fy__diag_set(d, FY_EINVAL, "%s: unknown tensor file type (use .npy, .pb or .json)",
                          path);
    }
    fy__free(buf);
    if (rc == FY_OK)
        *out = t;
    return rc;
}
