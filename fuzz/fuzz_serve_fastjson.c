/* SPDX-License-Identifier: MIT */
/* Differential fuzz target for the fast request decoder (src/serve/codec_fast.c):
 * every body is decoded by the serving path (fast, falling back to jansson) and
 * by the jansson path alone, against the Fashion-MNIST CNN, a model with two
 * float32 inputs and symbolic batch, or one with a fixed [2,3] input. Byte 0
 * picks the protocol (bit 0: /predict or V2), the model (bits 1-2) and the
 * manifest's preprocessing (bit 3); the rest is the body. The two must give the
 * same tensors (bit for bit) or the same error code and message, and whenever
 * the fast path alone accepts, the jansson path must accept too. Its number
 * conversion is checked against strtod on every number-looking token of the body.
 * Anything else aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/model_builder.h"
#include "core/core.h"
#include "serve/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fy_model *models[3];

static fy_model *build(const char *gname, int n, const char *const *names, const int *ranks,
                       const int64_t (*dims)[3], int sym)
{
    static gb b;
    static char outs[4][16];
    fy_diag d;
    gb_init(&b, gname);
    for (int i = 0; i < n; i++)
        gb_input(&b, names[i], FY_DTYPE_F32, ranks[i], dims[i]);
    for (int i = 0; i < n; i++) {
        snprintf(outs[i], sizeof outs[i], "y%s", names[i]);
        gb_output(&b, outs[i], FY_DTYPE_F32, ranks[i], dims[i]);
        gb_node(&b, "Identity", 1, 1, names[i], outs[i]);
    }
    for (int v = 0; sym && v < 2 * n; v++) {
        b.dims[v][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        b.dims[v][0].dim_param = (char *)"N";
    }
    fy_model *m = gb_load(&b, 13, &d);
    if (!m) {
        fprintf(stderr, "fuzz_serve_fastjson: %s: %s\n", gname, d.msg);
        abort();
    }
    return m;
}

static void init(void)
{
    fy_diag d;
    if (fy_model_load(&models[0], "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d) != FY_OK) {
        fprintf(stderr, "fuzz_serve_fastjson: run from the repository root (%s)\n", d.msg);
        abort();
    }
    static const char *mn[2] = {"a", "b"}, *fn[1] = {"x"};
    static const int mr[2] = {2, 3}, fr[1] = {2};
    static const int64_t md[2][3] = {{1, 2}, {1, 2, 2}}, fd[1][3] = {{2, 3}};
    models[1] = build("multi", 2, mn, mr, md, 1);
    models[2] = build("fixed", 1, fn, fr, fd, 0);
}

static int same(const fy__req *a, const fy__req *b)
{
    if (a->n_inputs != b->n_inputs || a->single != b->single ||
        (a->id == NULL) != (b->id == NULL) || (a->id && strcmp(a->id, b->id) != 0) ||
        a->n_outputs_wanted != b->n_outputs_wanted || a->binary_default != b->binary_default)
        return 0;
    for (int k = 0; k < a->n_inputs; k++) {
        const fy_tensor *x = &a->inputs[k], *y = &b->inputs[k];
        if (x->dtype != y->dtype || x->rank != y->rank ||
            memcmp(x->dims, y->dims, (size_t)x->rank * sizeof x->dims[0]) != 0 ||
            memcmp(x->data, y->data, fy_tensor_nbytes(x)) != 0)
            return 0;
    }
    return 1;
}

/* Number tokens of the body (runs of number characters) against strtod/strtoll. */
static void check_numbers(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] != '-' && (s[i] < '0' || s[i] > '9')) {
            i++;
            continue;
        }
        int kind;
        int64_t iv;
        double dv;
        size_t k = fy__json_number(s + i, n - i, &kind, &iv, &dv);
        if (k > 0 && k < 400 && kind != FY_JNUM_DECLINE) {
            char buf[400];
            memcpy(buf, s + i, k);
            buf[k] = 0;
            if (kind == FY_JNUM_INT ? strtoll(buf, NULL, 10) != iv : strtod(buf, NULL) != dv) {
                fprintf(stderr, "number '%s' converted wrongly\n", buf);
                abort();
            }
            if (kind == FY_JNUM_REAL && dv == 0 && (strtod(buf, NULL) == 0) &&
                __builtin_signbit(strtod(buf, NULL)) != __builtin_signbit(dv))
                abort();
        }
        i += k ? k : 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fy_manifest man;
    static double mean = 0.5, sd = 0.25;
    if (!models[0]) {
        init();
        man.scale = 1.0 / 255;
        man.n_mean = man.n_std = 1;
        man.mean = &mean;
        man.std = &sd;
    }
    if (size < 1)
        return 0;
    int v2 = data[0] & 1, which = (data[0] >> 1) & 3, use_man = data[0] & 8;
    const fy_model *m = models[which == 3 ? 0 : which];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    fy__req a, b, c;
    fy_diag da, db, dc;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    da.msg[0] = db.msg[0] = 0;
    int ra, rb, rf;
    if (v2) {
        ra = fy__codec_v2_decode(body, len, len, m, &a, &da);
        rb = fy__codec_v2_decode_json(body, len, len, m, &b, &db);
        rf = fy__codec_v2_fast(body, len, len, m, &c, &dc);
    } else {
        ra = fy__codec_predict_decode(body, len, m, use_man ? &man : NULL, &a, &da);
        rb = fy__codec_predict_decode_json(body, len, m, use_man ? &man : NULL, &b, &db);
        rf = fy__codec_predict_fast(body, len, m, &c, &dc);
    }
    if (ra != rb || (ra == FY_OK ? !same(&a, &b) : strcmp(da.msg, db.msg) != 0) ||
        (rf == FY_OK && rb != FY_OK) ||
        (rf != FY_OK && rf != FY__FAST_DECLINED && rf != FY_ENOMEM)) {
        fprintf(stderr, "fast %d / with fallback %d '%s' / jansson %d '%s'\n", rf, ra, da.msg, rb,
                db.msg);
        abort();
    }
    if (rf == FY__FAST_DECLINED && memcmp(&c, &(fy__req){0}, sizeof c) != 0)
        abort(); /* a decline leaves the request untouched */
    fy__req_deinit(&a);
    fy__req_deinit(&b);
    fy__req_deinit(&c);
    check_numbers(body, len);
    return 0;
}
