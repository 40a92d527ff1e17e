/* SPDX-License-Identifier: MIT */
/* Fast request decoding for the hot request shapes: a float32 tensor sent as
 * {"INPUT": [...]} or {"instances": [[...], ...]} to /predict, and
 * {"inputs": [{"name", "shape", "datatype": "FP32", "data"}]} to V2 infer.
 * One pass over the bytes writes the numbers straight into a float buffer: no
 * JSON tree, no per-number allocation, no locale lookups.
 *
 * The rule that keeps behaviour identical: this path only ever accepts. Anything
 * it does not fully understand (another dtype, an escape in a string, an unknown
 * key, a number it cannot convert exactly without strtod, an empty array, a body
 * the general path would refuse) makes it decline, and the caller runs the
 * general jansson path, which gives the answer or the error message it always
 * gave. When it accepts, the tensors are bit-identical to the general path's
 * (tests/serve/test_codec_fast.c and fuzz/fuzz_serve_fastjson.c check both
 * directions on valid and malformed bodies). Allocation failures are reported
 * (FY_ENOMEM), not declined. See docs/DESIGN.md, "Serving fast path". */
#define _GNU_SOURCE /* strtod_l, newlocale */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* ------------------------------------------------------------------------- */
/* Numbers                                                                    */
/* ------------------------------------------------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* 10^0 .. 10^22: every one exactly representable as a double. */
static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

size_t fy__json_number(const char *s, size_t n, int *kind, int64_t *iv, double *dv)
{
    size_t i = 0;
    int neg = 0, digits = 0, sig = 0, is_real = 0;
    uint64_t m = 0;
    int64_t e10 = 0;
    *kind = FY_JNUM_DECLINE;
    if (i < n && s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= n || !is_digit((unsigned char)s[i]))
        return 0;
    if (s[i] == '0') {
        i++;
        digits = 1;
        if (i < n && is_digit((unsigned char)s[i]))
            return 0; /* a leading zero is not JSON */
    } else {
        while (i < n && is_digit((unsigned char)s[i])) {
            if (sig < 19)
                m = m * 10 + (uint64_t)(s[i] - '0');
            else
                e10++;
            sig++;
            digits++;
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        is_real = 1;
        i++;
        if (i >= n || !is_digit((unsigned char)s[i]))
            return 0;
        while (i < n && is_digit((unsigned char)s[i])) {
            if (m == 0 && s[i] == '0') {
                e10--; /* a leading zero of the fraction: not significant */
            } else if (sig < 19) {
                m = m * 10 + (uint64_t)(s[i] - '0');
                e10--;
                sig++;
            } else {
                sig++;
            }
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_real = 1;
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || !is_digit((unsigned char)s[i]))
            return 0;
        int64_t e = 0;
        while (i < n && is_digit((unsigned char)s[i])) {
            if (e < 100000)
                e = e * 10 + (s[i] - '0');
            i++;
        }
        e10 += eneg ? -e : e;
    }
    if (!is_real) {
        /* jansson keeps these as long long (strtoll); 18 digits always fit */
        if (digits > 18)
            return i;
        *iv = neg ? -(int64_t)m : (int64_t)m;
        *kind = FY_JNUM_INT;
        return i;
    }
    if (m == 0) {
        *dv = neg ? -0.0 : 0.0;
        *kind = FY_JNUM_REAL;
        return i;
    }
    /* Exact: m and 10^|e10| are both doubles exactly, so one IEEE multiply or
     * divide rounds once, as strtod's correctly rounded result does. */
    if (sig <= 19 && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double x = (double)m;
        x = e10 < 0 ? x / pow10_exact[-e10] : x * pow10_exact[e10];
        *dv = neg ? -x : x;
        *kind = FY_JNUM_REAL;
        return i;
    }
    /* Otherwise the C library's correctly rounded conversion, in the C locale
     * whatever the process's locale is. */
    char buf[64];
    if (i >= sizeof buf)
        return i;
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale == (locale_t)0)
        return i;
    memcpy(buf, s, i);
    buf[i] = 0;
    char *end;
    double x = strtod_l(buf, &end, c_locale);
    if (end != buf + i)
        return i;
    *dv = x;
    *kind = FY_JNUM_REAL;
    return i;
}

/* ------------------------------------------------------------------------- */
/* Scanner                                                                    */
/* ------------------------------------------------------------------------- */

#define DECLINE 1
#define STACK_FLOATS 2048

typedef struct fast {
    const char *s;
    size_t i, n;
    uint64_t commas;
    float *v; /* numbers so far: stack_buf, or heap when heap */
    size_t cnt, cap;
    int heap, oom;
    /* shape of the array being scanned: rank -1 until the first number */
    int rank, set[FY_MAX_RANK];
    int64_t dims[FY_MAX_RANK];
    float stack_buf[STACK_FLOATS];
} fast;

static void fast_init(fast *f, const char *s, size_t n)
{
    f->s = s;
    f->i = 0;
    f->n = n;
    f->commas = 0;
    f->v = f->stack_buf;
    f->cnt = 0;
    f->cap = STACK_FLOATS;
    f->heap = 0;
    f->oom = 0;
}

static void fast_deinit(fast *f)
{
    if (f->heap)
        fy__free(f->v);
}

static void ws(fast *f)
{
    while (f->i < f->n) {
        char c = f->s[f->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        f->i++;
    }
}

/* The next token is c: consumed. */
static int lit(fast *f, char c)
{
    ws(f);
    if (f->i < f->n && f->s[f->i] == c) {
        f->i++;
        return 1;
    }
    return 0;
}

/* 1 after a comma, 0 if none, -1 past the general path's value ceiling. */
static int comma(fast *f)
{
    if (!lit(f, ','))
        return 0;
    return ++f->commas > (uint64_t)FY_JSON_MAX_VALUES ? -1 : 1;
}

/* After a list's or object's element: 1 when a comma follows (another element), 0
 * when `close` does (the end), -1 for anything else or past the value ceiling. */
static int next_elem(fast *f, char close)
{
    int c = comma(f);
    if (c)
        return c;
    return lit(f, close) ? 0 : -1;
}

/* A string of printable ASCII without escapes: [*a, *a + *len). */
static int str(fast *f, const char **a, size_t *len)
{
    if (!lit(f, '"'))
        return DECLINE;
    size_t start = f->i;
    while (f->i < f->n) {
        unsigned char c = (unsigned char)f->s[f->i];
        if (c == '"')
            break;
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return DECLINE;
        f->i++;
    }
    if (f->i >= f->n)
        return DECLINE;
    *a = f->s + start;
    *len = f->i - start;
    f->i++;
    return 0;
}

static int str_is(const char *a, size_t len, const char *z)
{
    return strlen(z) == len && memcmp(a, z, len) == 0;
}

/* The value buffer is full: twice the room (on the heap from then on). */
static __attribute__((noinline)) int grow(fast *f)
{
    if (f->cnt >= (size_t)FY_REQ_MAX_ELEMENTS)
        return DECLINE;
    size_t cap = f->cap * 2;
    float *nv = f->heap ? fy__realloc(f->v, cap * sizeof *nv) : fy__malloc(cap * sizeof *nv);
    if (!nv) {
        f->oom = 1;
        return DECLINE;
    }
    if (!f->heap)
        memcpy(nv, f->v, f->cnt * sizeof *nv);
    f->v = nv;
    f->cap = cap;
    f->heap = 1;
    return 0;
}

/* Inlined into the number loops; only growing is a call. */
static inline int push(fast *f, float x)
{
    if (f->cnt == f->cap && grow(f))
        return DECLINE;
    f->v[f->cnt++] = x;
    return 0;
}

/* One number as the general path converts it for a float32 tensor: integers
 * through long long, reals through double, both then cast; |x| > FLT_MAX is an
 * error there, so a decline here. */
static int num_f32(fast *f)
{
    int kind;
    int64_t iv;
    double dv;
    ws(f);
    /* The common case first: up to 9 digits, no fraction or exponent, followed by
     * a delimiter (a pixel value). The same value as the general path's integer. */
    const char *s = f->s;
    size_t i = f->i, n = f->n, st;
    int neg = i < n && s[i] == '-';
    st = i += (size_t)neg;
    int32_t v = 0;
    while (i < n && i - st < 9 && (unsigned char)(s[i] - '0') < 10)
        v = v * 10 + (s[i++] - '0');
    if (i > st && i < n && (s[i] == ',' || s[i] == ']') && (s[st] != '0' || i - st == 1)) {
        f->i = i;
        return push(f, (float)(neg ? -v : v));
    }
    size_t k = fy__json_number(f->s + f->i, f->n - f->i, &kind, &iv, &dv);
    if (k == 0 || kind == FY_JNUM_DECLINE)
        return DECLINE;
    f->i += k;
    if (kind == FY_JNUM_INT)
        return push(f, (float)(long long)iv);
    if (!(fabs(dv) <= FLT_MAX))
        return DECLINE;
    return push(f, (float)dv);
}

/* The rest of an innermost row after its first number, while it is the common
 * compact form: ",N" with N an integer of up to 9 digits or a decimal without
 * exponent whose digits and places make it exact (at most 19 digits, 22 places,
 * mantissa below 2^53), each followed by ',' or ']'. One loop, no per-element
 * calls; the values are the ones num_f32 gives (integers through int, decimals
 * as one correctly rounded division). It stops before anything else (spaces,
 * exponents, longer numbers, the end), which the general loop then reads.
 * DECLINE past the value ceiling or when the buffer cannot grow. */
static int row_run(fast *f, int64_t *count)
{
    const char *s = f->s;
    size_t i = f->i, n = f->n;
    while (i + 2 < n && s[i] == ',') {
        size_t j = i + 1;
        int neg = s[j] == '-';
        j += (size_t)neg;
        if (j >= n || (unsigned char)(s[j] - '0') > 9)
            break;
        size_t st = j;
        uint64_t m = 0;
        if (s[j] == '0')
            j++; /* a leading zero stands alone */
        else
            while (j < n && j - st < 19 && (unsigned char)(s[j] - '0') < 10)
                m = m * 10 + (uint64_t)(s[j++] - '0');
        size_t ndig = j - st, places = 0;
        float x;
        if (j < n && s[j] == '.') {
            size_t fs = ++j;
            while (j < n && ndig + (j - fs) < 19 && (unsigned char)(s[j] - '0') < 10)
                m = m * 10 + (uint64_t)(s[j++] - '0');
            places = j - fs;
            if (places == 0 || places > 22 || m > ((uint64_t)1 << 53))
                break;
            double v = (double)m / pow10_exact[places];
            x = (float)(neg ? -v : v);
        } else {
            if (ndig > 9)
                break;
            int32_t v = (int32_t)m;
            x = (float)(neg ? -v : v);
        }
        if (j >= n || (s[j] != ',' && s[j] != ']'))
            break;
        if (++f->commas > (uint64_t)FY_JSON_MAX_VALUES || push(f, x))
            return DECLINE;
        (*count)++;
        i = j;
    }
    f->i = i;
    return 0;
}

/* A non-empty, regular nested array of numbers at the cursor ('['), depth levels
 * down from the value's top. Sets rank and dims. */
static int arr(fast *f, int depth)
{
    if (!lit(f, '['))
        return DECLINE;
    int64_t count = 0;
    ws(f);
    if (f->i < f->n && f->s[f->i] == ']')
        return DECLINE; /* empty: the general path's shape rules apply */
    for (;;) {
        ws(f);
        if (f->i >= f->n)
            return DECLINE;
        if (f->s[f->i] == '[') {
            if (depth + 1 >= FY_MAX_RANK || (f->rank >= 0 && depth + 1 >= f->rank) ||
                arr(f, depth + 1))
                return DECLINE;
        } else {
            if (f->rank < 0)
                f->rank = depth + 1;
            else if (f->rank != depth + 1)
                return DECLINE;
            if (num_f32(f) || row_run(f, &count))
                return DECLINE;
        }
        count++;
        int c = next_elem(f, ']');
        if (c < 0)
            return DECLINE;
        if (c)
            continue;
        break;
    }
    if (f->set[depth]) {
        if (f->dims[depth] != count)
            return DECLINE;
    } else {
        f->set[depth] = 1;
        f->dims[depth] = count;
    }
    return 0;
}

/* A value at the cursor as a tensor's data: rank and dims of its nesting. */
static int tensor_value(fast *f, int *rank, int64_t *dims)
{
    f->rank = -1;
    memset(f->set, 0, sizeof f->set);
    if (arr(f, 0) || f->rank < 1)
        return DECLINE;
    *rank = f->rank;
    memcpy(dims, f->dims, (size_t)f->rank * sizeof *dims);
    return 0;
}

/* Only whitespace is left. */
static int at_end(fast *f)
{
    ws(f);
    return f->i == f->n ? 0 : DECLINE;
}

/* The model's single float32 input, or -1. */
static int single_f32_input(const fy_model *m, fy_io_desc *io)
{
    if (fy_model_n_inputs(m) != 1 || fy_model_input(m, 0, io) != FY_OK ||
        io->dtype != FY_DTYPE_F32 || io->rank < 1)
        return -1;
    return 0;
}

static int take(fast *f, fy_tensor *t, size_t at, int rank, const int64_t *dims, fy_diag *d)
{
    int rc = fy_tensor_alloc(t, FY_DTYPE_F32, rank, dims, d);
    if (rc != FY_OK)
        return rc;
    memcpy(t->data, f->v + at, fy_tensor_nbytes(t));
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* /predict                                                                   */
/* ------------------------------------------------------------------------- */

static int predict_scan(fast *f, const fy_model *m, fy__req *r, fy_diag *d)
{
    fy_io_desc io;
    const char *key;
    size_t klen;
    int64_t full[FY_MAX_RANK];
    int full_rank = 0;
    if (single_f32_input(m, &io) < 0 || strcmp(io.name, "instances") == 0)
        return DECLINE;
    if (!lit(f, '{') || str(f, &key, &klen) || !lit(f, ':'))
        return DECLINE;
    if (str_is(key, klen, "instances")) {
        if (!lit(f, '['))
            return DECLINE;
        int64_t items = 0;
        for (;;) {
            int dr, fr;
            int64_t D[FY_MAX_RANK], F[FY_MAX_RANK];
            if (tensor_value(f, &dr, D) ||
                !fy__codec_fit(dr, D, io.rank - 1, io.dims + 1, &fr, F) || fr + 1 > FY_MAX_RANK)
                return DECLINE;
            if (items == 0) {
                full_rank = fr + 1;
                memcpy(full + 1, F, (size_t)fr * sizeof *F);
            } else if (fr + 1 != full_rank || memcmp(F, full + 1, (size_t)fr * sizeof *F) != 0) {
                return DECLINE;
            }
            items++;
            int c = next_elem(f, ']');
            if (c < 0)
                return DECLINE;
            if (c)
                continue;
            break;
        }
        full[0] = items;
    } else if (str_is(key, klen, io.name)) {
        int dr, fr;
        int64_t D[FY_MAX_RANK];
        if (tensor_value(f, &dr, D) ||
            !fy__codec_fit(dr, D, io.rank - 1, io.dims + 1, &fr, full + 1) || fr + 1 > FY_MAX_RANK)
            return DECLINE;
        full[0] = 1;
        full_rank = fr + 1;
        r->single = 1;
    } else {
        return DECLINE;
    }
    if (!lit(f, '}') || at_end(f))
        return DECLINE;
    if (io.dims[0] >= 0 && io.dims[0] != full[0])
        return DECLINE;
    int rc = take(f, &r->inputs[0], 0, full_rank, full, d);
    if (rc != FY_OK)
        return rc;
    r->n_inputs = 1;
    return FY_OK;
}

int fy__codec_predict_fast(const char *body, size_t len, const fy_model *m, fy__req *out,
                           fy_diag *d)
{
    fast fs, *f = &fs; /* on the stack: 8 KiB of numbers before any allocation */
    fy__req r;
    memset(&r, 0, sizeof r);
    fast_init(f, body, len);
    int rc = predict_scan(f, m, &r, d);
    if (rc == DECLINE && f->oom)
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory decoding the request");
    fast_deinit(f);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* V2 infer                                                                   */
/* ------------------------------------------------------------------------- */

typedef struct v2_in {
    const char *name, *dtype;
    size_t name_len, dtype_len;
    int rank, drank, has_shape, has_data;
    int64_t dims[FY_MAX_RANK], ddims[FY_MAX_RANK];
    size_t at; /* its numbers in the scan buffer */
} v2_in;

static int v2_shape(fast *f, v2_in *in)
{
    if (!lit(f, '['))
        return DECLINE;
    in->rank = 0;
    if (lit(f, ']'))
        return DECLINE; /* a scalar: the general path */
    for (;;) {
        int kind;
        int64_t iv;
        double dv;
        ws(f);
        if (f->i < f->n && f->s[f->i] == '-')
            return DECLINE;
        size_t k = fy__json_number(f->s + f->i, f->n - f->i, &kind, &iv, &dv);
        if (k == 0 || kind != FY_JNUM_INT || in->rank == FY_MAX_RANK)
            return DECLINE;
        f->i += k;
        in->dims[in->rank++] = iv;
        int c = next_elem(f, ']');
        if (c < 0)
            return DECLINE;
        if (c)
            continue;
        return 0;
    }
}

static int v2_input(fast *f, v2_in *in)
{
    memset(in, 0, sizeof *in);
    if (!lit(f, '{'))
        return DECLINE;
    for (;;) {
        const char *key;
        size_t klen;
        if (str(f, &key, &klen) || !lit(f, ':'))
            return DECLINE;
        if (str_is(key, klen, "name") && !in->name) {
            if (str(f, &in->name, &in->name_len))
                return DECLINE;
        } else if (str_is(key, klen, "datatype") && !in->dtype) {
            if (str(f, &in->dtype, &in->dtype_len))
                return DECLINE;
        } else if (str_is(key, klen, "shape") && !in->has_shape) {
            if (v2_shape(f, in))
                return DECLINE;
            in->has_shape = 1;
        } else if (str_is(key, klen, "data") && !in->has_data) {
            in->at = f->cnt;
            if (tensor_value(f, &in->drank, in->ddims))
                return DECLINE;
            in->has_data = 1;
        } else {
            return DECLINE;
        }
        int c = next_elem(f, '}');
        if (c < 0)
            return DECLINE;
        if (c)
            continue;
        return in->name && in->dtype && in->has_shape && in->has_data ? 0 : DECLINE;
    }
}

/* The general path's checks of one input against the model, as accept-or-decline. */
static int v2_check(const v2_in *in, const fy_model *m, int *seen, int64_t *total, int *k_out)
{
    fy_io_desc io;
    int k = -1, n_in = fy_model_n_inputs(m);
    for (int i = 0; i < n_in && k < 0; i++)
        if (fy_model_input(m, i, &io) == FY_OK && str_is(in->name, in->name_len, io.name))
            k = i;
    if (k < 0 || seen[k] || io.dtype != FY_DTYPE_F32 || !str_is(in->dtype, in->dtype_len, "FP32"))
        return DECLINE;
    if (io.rank >= 0 && in->rank != io.rank)
        return DECLINE;
    for (int i = 0; io.rank >= 0 && i < io.rank; i++)
        if (io.dims[i] >= 0 && io.dims[i] != in->dims[i])
            return DECLINE;
    if (in->dims[0] == 0)
        return DECLINE;
    int64_t numel = 1, dn = 1;
    for (int i = 0; i < in->rank; i++)
        if (__builtin_mul_overflow(numel, in->dims[i], &numel) ||
            in->dims[i] > FY_REQ_MAX_ELEMENTS || numel > FY_REQ_MAX_ELEMENTS)
            return DECLINE;
    if (numel > FY_REQ_MAX_ELEMENTS - *total)
        return DECLINE;
    for (int i = 0; i < in->drank; i++)
        if (__builtin_mul_overflow(dn, in->ddims[i], &dn))
            return DECLINE;
    if (dn != numel)
        return DECLINE;
    *total += numel;
    seen[k] = 1;
    *k_out = k;
    return 0;
}

static int v2_scan(fast *f, size_t json_len, const fy_model *m, fy__req *r, fy_diag *d)
{
    v2_in ins[FY_REQ_MAX_TENSORS];
    int n = 0, have_inputs = 0, n_in = fy_model_n_inputs(m);
    const char *id = NULL;
    size_t id_len = 0;
    if (json_len != f->n || n_in < 1 || n_in > FY_REQ_MAX_TENSORS)
        return DECLINE;
    if (!lit(f, '{'))
        return DECLINE;
    for (;;) {
        const char *key;
        size_t klen;
        if (str(f, &key, &klen) || !lit(f, ':'))
            return DECLINE;
        if (str_is(key, klen, "inputs") && !have_inputs) {
            if (!lit(f, '['))
                return DECLINE;
            for (;;) {
                if (n == FY_REQ_MAX_TENSORS || v2_input(f, &ins[n]))
                    return DECLINE;
                n++;
                int c = next_elem(f, ']');
                if (c < 0)
                    return DECLINE;
                if (c)
                    continue;
                break;
            }
            have_inputs = 1;
        } else if (str_is(key, klen, "id") && !id) {
            if (str(f, &id, &id_len))
                return DECLINE;
        } else {
            return DECLINE;
        }
        int c = next_elem(f, '}');
        if (c < 0 || (!c && at_end(f)))
            return DECLINE;
        if (c)
            continue;
        break;
    }
    if (!have_inputs)
        return DECLINE;
    int seen[FY_REQ_MAX_TENSORS] = {0}, slot[FY_REQ_MAX_TENSORS];
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (v2_check(&ins[i], m, seen, &total, &slot[i]))
            return DECLINE;
    for (int k = 0; k < n_in; k++)
        if (!seen[k])
            return DECLINE;
    if (id) {
        r->id = fy__malloc(id_len + 1);
        if (!r->id)
            return fy__diag_set(d, FY_ENOMEM, "out of memory decoding the request");
        memcpy(r->id, id, id_len);
        r->id[id_len] = 0;
    }
    for (int i = 0; i < n; i++) {
        int rc = take(f, &r->inputs[slot[i]], ins[i].at, ins[i].rank, ins[i].dims, d);
        if (rc != FY_OK)
            return rc;
    }
    r->n_inputs = n_in;
    return FY_OK;
}

int fy__codec_v2_fast(const char *body, size_t len, size_t json_len, const fy_model *m,
                      fy__req *out, fy_diag *d)
{
    fast fs, *f = &fs; /* on the stack: 8 KiB of numbers before any allocation */
    fy__req r;
    memset(&r, 0, sizeof r);
    fast_init(f, body, len);
    int rc = v2_scan(f, json_len, m, &r, d);
    if (rc == DECLINE && f->oom)
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory decoding the request");
    fast_deinit(f);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}
