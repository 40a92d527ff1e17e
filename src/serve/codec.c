/* SPDX-License-Identifier: MIT */
/* Protocol codecs, shared part: request ownership, the error body, and the JSON
 * plumbing the three protocols use (a depth pre-scan before jansson, numbers to
 * tensor elements with range checks, the row and columnar forms, tensors back to
 * JSON numbers). Pure functions: no I/O, no globals. See docs/protocols.md. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* A response above this is refused rather than grown further. */
#define SB_MAX ((size_t)1 << 31)

void fy__req_deinit(fy__req *r)
{
    if (!r)
        return;
    for (int i = 0; i < FY_REQ_MAX_TENSORS; i++) {
        fy_tensor_deinit(&r->inputs[i]);
        fy__free(r->outputs_wanted[i]);
    }
    fy__free(r->id);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------- */
/* Output buffer                                                              */
/* ------------------------------------------------------------------------- */

void fy__sb_add(fy__sb *s, const void *p, size_t n)
{
    if (s->err || n == 0)
        return;
    if (n > SB_MAX - s->len) {
        s->err = FY_ELIMIT;
        return;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = fy__realloc(s->buf, cap);
        if (!nb) {
            s->err = FY_ENOMEM;
            return;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

void fy__sb_puts(fy__sb *s, const char *str)
{
    fy__sb_add(s, str, strlen(str));
}

void fy__sb_int(fy__sb *s, long long v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%lld", v);
    fy__sb_add(s, b, (size_t)n);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < need || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < need; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return need;
}

/* Quoted JSON string of n bytes; control characters escaped, invalid UTF-8
 * (a message cut mid-character, a label file in Latin-1) becomes U+FFFD so the
 * body always parses. */
void fy__sb_jstrn(fy__sb *s, const char *str, size_t n)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t i = 0, run = 0;
    fy__sb_add(s, "\"", 1);
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        fy__sb_add(s, p + run, i - run);
        if (c >= 0x80) {
            size_t k = utf8_len(p + i, n - i);
            if (k) {
                fy__sb_add(s, p + i, k);
                i += k;
            } else {
                fy__sb_add(s, "\\ufffd", 6);
                i++;
            }
        } else {
            char e[8];
            switch (c) {
            case '"': memcpy(e, "\\\"", 3); break;
            case '\\': memcpy(e, "\\\\", 3); break;
            case '\n': memcpy(e, "\\n", 3); break;
            case '\r': memcpy(e, "\\r", 3); break;
            case '\t': memcpy(e, "\\t", 3); break;
            default: snprintf(e, sizeof e, "\\u%04x", c); break;
            }
            fy__sb_puts(s, e);
            i++;
        }
        run = i;
    }
    fy__sb_add(s, p + run, i - run);
    fy__sb_add(s, "\"", 1);
}

void fy__sb_jstr(fy__sb *s, const char *str)
{
    fy__sb_jstrn(s, str, strlen(str));
}

/* %.17g without the locale: snprintf may write the locale's decimal point (',' in
 * de_DE), so every byte that is not part of a C-locale number is folded into
 * one '.'. Non-finite values are not JSON: null. (Float values: fy__fmt_f32.) */
static size_t fmt_f64(char *out, double v)
{
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    char b[64];
    int n = snprintf(b, sizeof b, "%.17g", v);
    size_t k = 0;
    int in_point = 0;
    for (int i = 0; i < n; i++) {
        char c = b[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            out[k++] = c;
            in_point = 0;
        } else if (!in_point) {
            out[k++] = '.';
            in_point = 1;
        }
    }
    out[k] = 0;
    return k;
}

static double elem_double(const fy_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_F32: return ((const float *)p)[i];
    case FY_DTYPE_F64: return ((const double *)p)[i];
    case FY_DTYPE_F16: return fy_f16_to_f32(((const uint16_t *)p)[i]);
    case FY_DTYPE_BF16: return fy_bf16_to_f32(((const uint16_t *)p)[i]);
    case FY_DTYPE_I8: return ((const int8_t *)p)[i];
    case FY_DTYPE_I16: return ((const int16_t *)p)[i];
    case FY_DTYPE_I32: return ((const int32_t *)p)[i];
    case FY_DTYPE_I64: return (double)((const int64_t *)p)[i];
    case FY_DTYPE_U8:
    case FY_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case FY_DTYPE_U16: return ((const uint16_t *)p)[i];
    case FY_DTYPE_U32: return ((const uint32_t *)p)[i];
    case FY_DTYPE_U64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

static void put_value(fy__sb *s, const fy_tensor *t, int64_t i)
{
    char b[64];
    size_t n;
    const void *p = t->data;
    switch (t->dtype) {
    case FY_DTYPE_F64: n = fmt_f64(b, ((const double *)p)[i]); break;
    case FY_DTYPE_F32:
    case FY_DTYPE_F16:
    case FY_DTYPE_BF16: { /* every value is a float: exact, without printf */
        float v = (float)elem_double(t, i);
        if (!isfinite(v)) {
            fy__sb_puts(s, "null");
            return;
        }
        n = fy__fmt_f32(b, v);
        break;
    }
    case FY_DTYPE_BOOL: fy__sb_puts(s, ((const uint8_t *)p)[i] ? "true" : "false"); return;
    case FY_DTYPE_U64:
        n = (size_t)snprintf(b, sizeof b, "%llu", (unsigned long long)((const uint64_t *)p)[i]);
        break;
    case FY_DTYPE_I64:
        n = (size_t)snprintf(b, sizeof b, "%lld", (long long)((const int64_t *)p)[i]);
        break;
    case FY_DTYPE_I8:
    case FY_DTYPE_I16:
    case FY_DTYPE_I32:
    case FY_DTYPE_U8:
    case FY_DTYPE_U16:
    case FY_DTYPE_U32:
        n = (size_t)snprintf(b, sizeof b, "%lld", (long long)elem_double(t, i));
        break;
    default: fy__sb_puts(s, "null"); return;
    }
    fy__sb_add(s, b, n);
}

void fy__sb_values(fy__sb *s, const fy_tensor *t, int64_t at, int rank, const int64_t *dims)
{
    if (rank == 0) {
        put_value(s, t, at);
        return;
    }
    int64_t stride = 1;
    for (int k = 1; k < rank; k++)
        stride *= dims[k];
    fy__sb_add(s, "[", 1);
    for (int64_t i = 0; i < dims[0] && !s->err; i++) {
        if (i)
            fy__sb_add(s, ",", 1);
        fy__sb_values(s, t, at + i * stride, rank - 1, dims + 1);
    }
    fy__sb_add(s, "]", 1);
}

int fy__sb_finish(fy__sb *s, char **body, size_t *len, fy_diag *d)
{
    if (!s->err && !s->buf) {
        s->buf = fy__malloc(1);
        if (!s->buf)
            s->err = FY_ENOMEM;
        else
            s->cap = 1;
    }
    if (s->err) {
        int rc = s->err;
        fy__free(s->buf);
        memset(s, 0, sizeof *s);
        if (rc == FY_ENOMEM)
            return fy__diag_set(d, rc, "out of memory writing the response");
        return fy__diag_set(d, rc, "response larger than %zu bytes", SB_MAX);
    }
    s->buf[s->len] = 0; /* room for it is always kept */
    *body = s->buf;
    *len = s->len;
    memset(s, 0, sizeof *s);
    return FY_OK;
}

int fy__codec_error(const char *message, char **body, size_t *len)
{
    fy__sb s = {0};
    fy__sb_puts(&s, "{\"error\":");
    fy__sb_jstr(&s, message ? message : "");
    fy__sb_puts(&s, "}");
    return fy__sb_finish(&s, body, len, NULL);
}

/* ------------------------------------------------------------------------- */
/* Parsing                                                                    */
/* ------------------------------------------------------------------------- */

int fy__codec_parse(const char *body, size_t len, json_t **out, fy_diag *d)
{
    /* jansson recurses once per level and builds the whole tree: refuse deep or
     * oversized documents from the raw bytes before it starts. Values are counted
     * by their separators. */
    const uint64_t max_values = (uint64_t)FY_JSON_MAX_VALUES;
    uint64_t commas = 0;
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > FY_JSON_MAX_DEPTH)
                return fy__diag_set(d, FY_ELIMIT, "JSON nested deeper than %d levels (at byte %zu)",
                                    FY_JSON_MAX_DEPTH, i);
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == ',' && ++commas > max_values) {
            return fy__diag_set(d, FY_ELIMIT,
                                "JSON holds more than %llu values (send large tensors as V2 "
                                "binary data)",
                                (unsigned long long)max_values);
        }
    }
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return fy__diag_set(d, FY_ENOMEM, "out of memory parsing the JSON body");
        return fy__diag_set(d, FY_EPARSE, "invalid JSON at line %d, column %d: %s", err.line,
                            err.column, err.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return fy__diag_set(d, FY_EPARSE, "the body must be a JSON object");
    }
    *out = j;
    return FY_OK;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    default: return "a number";
    }
}

/* One JSON scalar into element i of t. k is its index in the value, for messages. */
static int put_elem(fy_tensor *t, int64_t i, const json_t *v, const char *what, int64_t k,
                    fy_diag *d)
{
    fy_dtype dt = t->dtype;
    void *p = t->data;
    const char *tn = fy_dtype_name(dt);
    if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        long long lo = 0, hi = 0;
        switch (dt) {
        case FY_DTYPE_F32: ((float *)p)[i] = (float)x; return FY_OK;
        case FY_DTYPE_F64: ((double *)p)[i] = (double)x; return FY_OK;
        case FY_DTYPE_F16:
        case FY_DTYPE_BF16: break; /* through the real path below */
        case FY_DTYPE_BOOL: lo = 0, hi = 1; break;
        case FY_DTYPE_I8: lo = INT8_MIN, hi = INT8_MAX; break;
        case FY_DTYPE_I16: lo = INT16_MIN, hi = INT16_MAX; break;
        case FY_DTYPE_I32: lo = INT32_MIN, hi = INT32_MAX; break;
        case FY_DTYPE_I64: lo = INT64_MIN, hi = INT64_MAX; break;
        case FY_DTYPE_U8: lo = 0, hi = UINT8_MAX; break;
        case FY_DTYPE_U16: lo = 0, hi = UINT16_MAX; break;
        case FY_DTYPE_U32: lo = 0, hi = UINT32_MAX; break;
        case FY_DTYPE_U64: lo = 0, hi = INT64_MAX; break; /* jansson holds no more */
        default:
            return fy__diag_set(d, FY_EUNSUPPORTED, "%s: %s tensors cannot be given as JSON", what,
                                tn);
        }
        if (dt != FY_DTYPE_F16 && dt != FY_DTYPE_BF16) {
            if (x < lo || x > hi)
                return fy__diag_set(d, FY_EINVAL, "%s: element %lld (%lld) is out of range for %s",
                                    what, (long long)k, x, tn);
            switch (fy_dtype_size(dt)) {
            case 1: ((uint8_t *)p)[i] = (uint8_t)x; break;
            case 2: ((uint16_t *)p)[i] = (uint16_t)x; break;
            case 4: ((uint32_t *)p)[i] = (uint32_t)x; break;
            default: ((uint64_t *)p)[i] = (uint64_t)x; break;
            }
            return FY_OK;
        }
    } else if (!json_is_real(v)) {
        if (json_is_boolean(v) && dt == FY_DTYPE_BOOL) {
            ((uint8_t *)p)[i] = json_is_true(v);
            return FY_OK;
        }
        return fy__diag_set(d, FY_EINVAL, "%s: element %lld is %s, expected %s", what, (long long)k,
                            json_kind(v), dt == FY_DTYPE_BOOL ? "true, false, 0 or 1" : "a number");
    }
    /* A real (or an integer for a half type); JSON has no NaN or Infinity. */
    double x = json_number_value(v);
    switch (dt) {
    case FY_DTYPE_F64: ((double *)p)[i] = x; return FY_OK;
    case FY_DTYPE_F32:
        if (fabs(x) > FLT_MAX)
            break;
        ((float *)p)[i] = (float)x;
        return FY_OK;
    case FY_DTYPE_F16:
        if (fabs(x) >= 65520.0) /* rounds to infinity in half precision */
            break;
        ((uint16_t *)p)[i] = fy_f32_to_f16((float)x);
        return FY_OK;
    case FY_DTYPE_BF16: {
        if (fabs(x) > FLT_MAX)
            break;
        uint16_t h = fy_f32_to_bf16((float)x);
        if ((h & 0x7f80) == 0x7f80)
            break;
        ((uint16_t *)p)[i] = h;
        return FY_OK;
    }
    case FY_DTYPE_BOOL:
    case FY_DTYPE_I8:
    case FY_DTYPE_I16:
    case FY_DTYPE_I32:
    case FY_DTYPE_I64:
    case FY_DTYPE_U8:
    case FY_DTYPE_U16:
    case FY_DTYPE_U32:
    case FY_DTYPE_U64:
        return fy__diag_set(d, FY_EINVAL, "%s: element %lld is %.17g, not an integer (%s input)",
                            what, (long long)k, x, tn);
    default:
        return fy__diag_set(d, FY_EUNSUPPORTED, "%s: %s tensors cannot be given as JSON", what, tn);
    }
    return fy__diag_set(d, FY_EINVAL, "%s: element %lld (%.9g) is out of range for %s", what,
                        (long long)k, x, tn);
}

static int fill_rec(fy_tensor *t, int64_t *i, int64_t at, const json_t *v, int depth, int rank,
                    const int64_t *dims, const char *what, fy_diag *d)
{
    if (depth == rank) {
        if (json_is_array(v))
            return fy__diag_set(d, FY_EINVAL,
                                "%s: ragged array: element %lld is an array nested deeper than "
                                "the first element",
                                what, (long long)(*i - at));
        if (!t) {
            (*i)++;
            return FY_OK;
        }
        int rc = put_elem(t, *i, v, what, *i - at, d);
        (*i)++;
        return rc;
    }
    if (!json_is_array(v))
        return fy__diag_set(d, FY_EINVAL,
                            "%s: ragged array: expected an array of %lld at depth %d, found %s "
                            "(before element %lld)",
                            what, (long long)dims[depth], depth, json_kind(v),
                            (long long)(*i - at));
    if ((int64_t)json_array_size(v) != dims[depth])
        return fy__diag_set(d, FY_EINVAL,
                            "%s: ragged array: expected an array of %lld at depth %d, found one "
                            "of %zu (before element %lld)",
                            what, (long long)dims[depth], depth, json_array_size(v),
                            (long long)(*i - at));
    size_t n = json_array_size(v);
    for (size_t k = 0; k < n; k++) {
        int rc = fill_rec(t, i, at, json_array_get(v, k), depth + 1, rank, dims, what, d);
        if (rc != FY_OK)
            return rc;
    }
    return FY_OK;
}

int fy__codec_fill(fy_tensor *t, int64_t at, const json_t *v, int rank, const int64_t *dims,
                   const char *what, fy_diag *d)
{
    int64_t i = at;
    return fill_rec(t, &i, at, v, 0, rank, dims, what, d);
}

/* Dims read off the first element at each depth (no check of the rest). */
static int first_dims(const json_t *v, int *rank, int64_t *dims, const char *what, fy_diag *d)
{
    int r = 0;
    while (json_is_array(v)) {
        if (r == FY_MAX_RANK)
            return fy__diag_set(d, FY_ELIMIT, "%s: arrays nested deeper than %d levels", what,
                                FY_MAX_RANK);
        size_t n = json_array_size(v);
        dims[r++] = (int64_t)n;
        if (n == 0)
            break;
        v = json_array_get(v, 0);
    }
    *rank = r;
    return FY_OK;
}

int fy__codec_shape(const json_t *v, int *rank, int64_t *dims, const char *what, fy_diag *d)
{
    /* The whole array is proved regular here, before anyone allocates for the
     * shape: a first element claiming [N,784] must not buy N*784 floats with a
     * body of N zeros. */
    int64_t i = 0;
    int rc = first_dims(v, rank, dims, what, d);
    return rc != FY_OK ? rc : fill_rec(NULL, &i, 0, v, 0, *rank, dims, what, d);
}

/* ------------------------------------------------------------------------- */
/* Row and columnar forms                                                     */
/* ------------------------------------------------------------------------- */

/* Product of dims, or -1 past FY_REQ_MAX_ELEMENTS (which also rules out overflow). */
static int64_t numel_capped(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int k = 0; k < rank; k++)
        if (dims[k] < 0 || __builtin_mul_overflow(n, dims[k], &n) || n > FY_REQ_MAX_ELEMENTS)
            return -1;
    for (int k = 0; k < rank; k++) /* a zero dim makes any product 0: still refuse huge dims */
        if (dims[k] > FY_REQ_MAX_ELEMENTS)
            return -1;
    return n;
}

static const char *dims_str(char *b, size_t n, int rank, const int64_t *dims,
                            const char *const *names)
{
    size_t k = 0;
    if (rank < 0) {
        snprintf(b, n, "(any shape)");
        return b;
    }
    k += (size_t)snprintf(b + k, n - k, "[");
    for (int i = 0; i < rank && k < n; i++) {
        const char *sep = i ? "," : "";
        if (dims[i] < 0)
            k += (size_t)snprintf(b + k, n - k, "%s%s", sep,
                                  names && names[i] && names[i][0] ? names[i] : "?");
        else
            k += (size_t)snprintf(b + k, n - k, "%s%lld", sep, (long long)dims[i]);
    }
    if (k < n)
        snprintf(b + k, n - k, "]");
    return b;
}

/* "a, b, c" for messages. */
static const char *input_names(const fy_model *m, char *b, size_t n)
{
    size_t k = 0;
    b[0] = 0;
    int n_in = fy_model_n_inputs(m);
    for (int i = 0; i < n_in && k < n; i++) {
        fy_io_desc io;
        if (fy_model_input(m, i, &io) == FY_OK)
            k += (size_t)snprintf(b + k, n - k, "%s%s", i ? ", " : "", io.name);
    }
    return b;
}

static int find_input(const fy_model *m, const char *name, fy_io_desc *io)
{
    int n_in = fy_model_n_inputs(m);
    for (int i = 0; i < n_in; i++)
        if (fy_model_input(m, i, io) == FY_OK && strcmp(io->name, name) == 0)
            return i;
    return -1;
}

static int check_model_inputs(const fy_model *m, fy_diag *d)
{
    int n_in = fy_model_n_inputs(m);
    if (n_in < 1)
        return fy__diag_set(d, FY_EUNSUPPORTED, "the model has no inputs");
    if (n_in > FY_REQ_MAX_TENSORS)
        return fy__diag_set(d, FY_ELIMIT, "the model has %d inputs, more than the %d ferry serves",
                            n_in, FY_REQ_MAX_TENSORS);
    return FY_OK;
}

static int check_json_dtype(const fy_io_desc *io, fy_diag *d)
{
    if (fy_dtype_size(io->dtype) == 0)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "input '%s' is of type %s, which JSON requests cannot carry", io->name,
                            fy_dtype_name(io->dtype));
    return FY_OK;
}

/* An object of named inputs: every key an input, every input present. */
static int check_named(const json_t *obj, const fy_model *m, const char *where, fy_diag *d)
{
    char names[256];
    const char *key;
    json_t *val;
    fy_io_desc io;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (find_input(m, key, &io) < 0)
            return fy__diag_set(d, FY_EINVAL, "%sunknown input '%s' (the model's inputs: %s)",
                                where, key, input_names(m, names, sizeof names));
    }
    int n_in = fy_model_n_inputs(m);
    for (int i = 0; i < n_in; i++)
        if (fy_model_input(m, i, &io) == FY_OK && !json_object_get(obj, io.name))
            return fy__diag_set(d, FY_EINVAL, "%smissing input '%s' (the model's inputs: %s)",
                                where, io.name, input_names(m, names, sizeof names));
    return FY_OK;
}

/* The dims a value of data shape D (rank r) takes for declared dims T (rank n, -1
 * symbolic, n < 0 unknown rank): D itself when it matches, or T when T is fully
 * fixed and holds as many elements (a flat list for a [1,28,28] item). */
int fy__codec_fit(int r, const int64_t *D, int n, const int64_t *T, int *out_rank, int64_t *out)
{
    if (n < 0 || r == n) {
        int ok = 1;
        for (int k = 0; n >= 0 && k < n; k++)
            ok &= T[k] < 0 || T[k] == D[k];
        if (ok) {
            memcpy(out, D, (size_t)r * sizeof *D);
            *out_rank = r;
            return 1;
        }
    }
    if (n < 0)
        return 0;
    for (int k = 0; k < n; k++)
        if (T[k] < 0)
            return 0;
    int64_t a = numel_capped(r, D), b = numel_capped(n, T);
    if (a < 0 || a != b)
        return 0;
    memcpy(out, T, (size_t)n * sizeof *T);
    *out_rank = n;
    return 1;
}

int fy__codec_rows(const json_t *v, int single, const fy_model *m, fy__req *out, fy_diag *d)
{
    char names[256], what[384], b1[128], b2[128], where[64];
    int rc = check_model_inputs(m, d);
    if (rc != FY_OK)
        return rc;
    int n_in = fy_model_n_inputs(m);
    size_t n = single ? 1 : json_array_size(v);
    if (!single && !json_is_array(v))
        return fy__diag_set(d, FY_EINVAL, "'instances' must be a list with one item per row");
    if (n == 0)
        return fy__diag_set(d, FY_EINVAL, "'instances' is empty: give one item per row");
    for (size_t i = 0; i < n; i++) {
        const json_t *item = single ? v : json_array_get(v, i);
        if (single)
            where[0] = 0;
        else
            snprintf(where, sizeof where, "instance %zu: ", i);
        if (json_is_object(item)) {
            if ((rc = check_named(item, m, where, d)) != FY_OK)
                return rc;
        } else if (n_in > 1) {
            return fy__diag_set(d, FY_EINVAL,
                                "%sexpected an object with the model's inputs (%s), found %s",
                                where, input_names(m, names, sizeof names), json_kind(item));
        }
    }
    int64_t total = 0;
    for (int k = 0; k < n_in; k++) {
        fy_io_desc io;
        if ((rc = fy_model_input(m, k, &io)) != FY_OK)
            return fy__diag_set(d, rc, "cannot describe model input %d", k);
        if ((rc = check_json_dtype(&io, d)) != FY_OK)
            return rc;
        if (io.rank == 0)
            return fy__diag_set(d, FY_EUNSUPPORTED,
                                "input '%s' is a scalar with no row dimension: use the columnar "
                                "form or the V2 protocol",
                                io.name);
        if (io.rank > 0 && io.dims[0] >= 0 && io.dims[0] != (int64_t)n)
            return fy__diag_set(d, FY_EINVAL,
                                "input '%s' has a fixed first dimension of %lld, so it takes "
                                "exactly %lld instance%s; got %zu",
                                io.name, (long long)io.dims[0], (long long)io.dims[0],
                                io.dims[0] == 1 ? "" : "s", n);
        /* Pass 0 proves every item regular and of one shape, so the allocation
         * matches what the body holds; pass 1 fills. */
        fy_tensor *t = &out->inputs[k];
        int item_rank = 0;
        int64_t item_dims[FY_MAX_RANK] = {0}, item_numel = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < n; i++) {
                const json_t *item = single ? v : json_array_get(v, i);
                const json_t *val = json_is_object(item) ? json_object_get(item, io.name) : item;
                int r, fr;
                int64_t D[FY_MAX_RANK], F[FY_MAX_RANK];
                if (single)
                    snprintf(what, sizeof what, "input '%s'", io.name);
                else
                    snprintf(what, sizeof what, "input '%s', instance %zu", io.name, i);
                if (pass == 1) {
                    if ((rc = first_dims(val, &r, D, what, d)) != FY_OK ||
                        (rc = fy__codec_fill(t, (int64_t)i * item_numel, val, r, D, what, d)) !=
                            FY_OK)
                        return rc;
                    continue;
                }
                if ((rc = fy__codec_shape(val, &r, D, what, d)) != FY_OK)
                    return rc;
                if (!fy__codec_fit(r, D, io.rank < 0 ? -1 : io.rank - 1, io.dims + 1, &fr, F))
                    return fy__diag_set(
                        d, FY_EINVAL, "%s has shape %s; the model takes %s per row", what,
                        dims_str(b1, sizeof b1, r, D, NULL),
                        dims_str(b2, sizeof b2, io.rank - 1, io.dims + 1, io.dim_names + 1));
                if (i == 0) {
                    if (fr + 1 > FY_MAX_RANK)
                        return fy__diag_set(d, FY_ELIMIT,
                                            "%s: more than %d dimensions with the row", what,
                                            FY_MAX_RANK);
                    item_rank = fr;
                    memcpy(item_dims, F, (size_t)fr * sizeof *F);
                } else if (fr != item_rank || memcmp(F, item_dims, (size_t)fr * sizeof *F) != 0) {
                    return fy__diag_set(d, FY_EINVAL, "%s has shape %s but instance 0 has %s", what,
                                        dims_str(b1, sizeof b1, fr, F, NULL),
                                        dims_str(b2, sizeof b2, item_rank, item_dims, NULL));
                }
            }
            if (pass == 1)
                break;
            int64_t full[FY_MAX_RANK];
            full[0] = (int64_t)n;
            memcpy(full + 1, item_dims, (size_t)item_rank * sizeof *item_dims);
            int64_t all = numel_capped(item_rank + 1, full);
            item_numel = numel_capped(item_rank, item_dims);
            if (all < 0 || all > FY_REQ_MAX_ELEMENTS - total)
                return fy__diag_set(d, FY_ELIMIT, "the request has more than %lld elements",
                                    (long long)FY_REQ_MAX_ELEMENTS);
            total += all;
            if ((rc = fy_tensor_alloc(t, io.dtype, item_rank + 1, full, d)) != FY_OK)
                return rc;
        }
    }
    out->n_inputs = n_in;
    return FY_OK;
}

int fy__codec_columns(const json_t *v, const fy_model *m, fy__req *out, fy_diag *d)
{
    char names[256], what[300], b1[128], b2[128];
    int rc = check_model_inputs(m, d);
    if (rc != FY_OK)
        return rc;
    int n_in = fy_model_n_inputs(m);
    int named = json_is_object(v);
    if (!named && n_in > 1)
        return fy__diag_set(d, FY_EINVAL,
                            "'inputs' must be an object with the model's inputs (%s), found %s",
                            input_names(m, names, sizeof names), json_kind(v));
    if (named && (rc = check_named(v, m, "'inputs': ", d)) != FY_OK)
        return rc;
    int64_t total = 0;
    for (int k = 0; k < n_in; k++) {
        fy_io_desc io;
        if ((rc = fy_model_input(m, k, &io)) != FY_OK)
            return fy__diag_set(d, rc, "cannot describe model input %d", k);
        if ((rc = check_json_dtype(&io, d)) != FY_OK)
            return rc;
        const json_t *val = named ? json_object_get(v, io.name) : v;
        int r, fr = 0;
        int64_t D[FY_MAX_RANK], F[FY_MAX_RANK];
        snprintf(what, sizeof what, "input '%s'", io.name);
        if ((rc = fy__codec_shape(val, &r, D, what, d)) != FY_OK)
            return rc;
        /* The batch dimension is given: the first dim is matched as is (or must
         * equal a fixed one), the rest may come flat. */
        int ok = 0;
        if (io.rank < 0) {
            ok = fy__codec_fit(r, D, -1, NULL, &fr, F);
        } else if (io.rank == 0) {
            ok = r == 0;
        } else if (r >= 1 && (io.dims[0] < 0 || io.dims[0] == D[0]) &&
                   fy__codec_fit(r - 1, D + 1, io.rank - 1, io.dims + 1, &fr, F + 1)) {
            F[0] = D[0];
            fr++;
            ok = 1;
        }
        if (!ok)
            return fy__diag_set(d, FY_EINVAL, "%s has shape %s; the model takes %s", what,
                                dims_str(b1, sizeof b1, r, D, NULL),
                                dims_str(b2, sizeof b2, io.rank, io.dims, io.dim_names));
        if (fr >= 1 && F[0] == 0)
            return fy__diag_set(d, FY_EINVAL, "%s has no rows (its first dimension is 0)", what);
        int64_t all = numel_capped(fr, F);
        if (all < 0 || all > FY_REQ_MAX_ELEMENTS - total)
            return fy__diag_set(d, FY_ELIMIT, "the request has more than %lld elements",
                                (long long)FY_REQ_MAX_ELEMENTS);
        total += all;
        if ((rc = fy_tensor_alloc(&out->inputs[k], io.dtype, fr, F, d)) != FY_OK)
            return rc;
        if ((rc = fy__codec_fill(&out->inputs[k], 0, val, r, D, what, d)) != FY_OK)
            return rc;
    }
    out->n_inputs = n_in;
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Row-form responses                                                         */
/* ------------------------------------------------------------------------- */

static const char *output_name(const fy_model *m, int k)
{
    fy_io_desc io;
    return fy_model_output(m, k, &io) == FY_OK ? io.name : "?";
}

int fy__sb_rows(fy__sb *s, const fy_model *m, const fy__req *req, int n_out, const fy_tensor *out,
                fy_diag *d)
{
    char b[128];
    if (n_out < 1)
        return fy__diag_set(d, FY_EINVAL, "the model produced no outputs");
    int64_t rows = req->n_inputs > 0 && req->inputs[0].rank > 0 ? req->inputs[0].dims[0]
                   : out[0].rank > 0                            ? out[0].dims[0]
                                                                : -1;
    for (int k = 0; k < n_out; k++)
        if (out[k].rank < 1 || out[k].dims[0] != rows)
            return fy__diag_set(d, FY_EINVAL,
                                "output '%s' has shape %s, not one row per instance (%lld): use "
                                "the columnar form",
                                output_name(m, k),
                                dims_str(b, sizeof b, out[k].rank, out[k].dims, NULL),
                                (long long)rows);
    for (int64_t i = 0; i < rows && !s->err; i++) {
        if (i)
            fy__sb_add(s, ",", 1);
        if (n_out > 1)
            fy__sb_add(s, "{", 1);
        for (int k = 0; k < n_out; k++) {
            const fy_tensor *t = &out[k];
            int64_t per = 1;
            for (int q = 1; q < t->rank; q++)
                per *= t->dims[q];
            if (n_out > 1) {
                if (k)
                    fy__sb_add(s, ",", 1);
                fy__sb_jstr(s, output_name(m, k));
                fy__sb_add(s, ":", 1);
            }
            fy__sb_values(s, t, i * per, t->rank - 1, t->dims + 1);
        }
        if (n_out > 1)
            fy__sb_add(s, "}", 1);
    }
    return FY_OK;
}
