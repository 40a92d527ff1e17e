/* SPDX-License-Identifier: MIT */
/* Fuzz target for the serve request decoders (/predict, KServe V2 with binary
 * tensor data, TF Serving) against the Fashion-MNIST CNN and a small model with
 * several inputs of several dtypes. Byte 0 picks the protocol (bits 0-1: predict,
 * V2, TF, V2), the model (bit 2: multi-input) and the manifest's preprocessing
 * (bit 3); for V2, bytes 1-2 (little-endian) give the JSON header length
 * (0xffff: the whole body). The rest is the body. A decoded request is answered
 * with made-up outputs through every encoder and each response must parse as
 * JSON; a refusal must carry a 4xx-class code, a message, and an untouched
 * request. Anything else aborts, which the fuzzer reports like a crash. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/model_builder.h"
#include "core/core.h"
#include "serve/serve_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fy_model *fashion, *multi;

static fy_model *build_multi(void)
{
    static const char *names[4] = {"a", "b", "c", "h"}, *outs[4] = {"ya", "yb", "yc", "yh"};
    static const fy_dtype dts[4] = {FY_DTYPE_F32, FY_DTYPE_I64, FY_DTYPE_BOOL, FY_DTYPE_F16};
    static const int64_t dims[4][2] = {{1, 2}, {1, 3}, {1, 1}, {1, 2}};
    static gb b;
    fy_diag d;
    gb_init(&b, "multi");
    for (int i = 0; i < 4; i++)
        gb_input(&b, names[i], dts[i], 2, dims[i]);
    for (int i = 0; i < 4; i++) {
        gb_output(&b, outs[i], dts[i], 2, dims[i]);
        gb_node(&b, "Identity", 1, 1, names[i], outs[i]);
    }
    for (int v = 0; v < 8; v++) {
        b.dims[v][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        b.dims[v][0].dim_param = (char *)"N";
    }
    fy_model *m = gb_load(&b, 13, &d);
    if (!m) {
        fprintf(stderr, "fuzz_serve_request: multi model: %s\n", d.msg);
        abort();
    }
    return m;
}

static void init(void)
{
    fy_diag d;
    if (fy_model_load(&fashion, "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d) != FY_OK) {
        fprintf(stderr, "fuzz_serve_request: run from the repository root (%s)\n", d.msg);
        abort();
    }
    multi = build_multi();
}

static void must_parse(const char *body, size_t len, const char *what)
{
    json_error_t err;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        fprintf(stderr, "%s is not JSON (%s): %.*s\n", what, err.text, (int)(len > 400 ? 400 : len),
                body);
        abort();
    }
    json_decref(j);
}

/* Outputs shaped as the model declares, symbolic dims set to the request's batch
 * (first) or 1, holding the bytes of input 0 over and over (NaNs included). */
static int fake_outputs(const fy_model *m, const fy__req *r, fy_tensor *out)
{
    int n = fy_model_n_outputs(m);
    int64_t batch = r->inputs[0].rank > 0 ? r->inputs[0].dims[0] : 1;
    const uint8_t *src = r->inputs[0].data;
    size_t src_n = fy_tensor_nbytes(&r->inputs[0]);
    for (int k = 0; k < n; k++) {
        fy_io_desc io;
        int64_t dims[FY_MAX_RANK];
        if (fy_model_output(m, k, &io) != FY_OK)
            abort();
        int rank = io.rank < 0 ? 1 : io.rank;
        for (int q = 0; q < rank; q++)
            dims[q] = io.rank < 0 || io.dims[q] < 0 ? (q == 0 ? batch : 1) : io.dims[q];
        if (fy_tensor_alloc(&out[k], io.dtype, rank, dims, NULL) != FY_OK) {
            while (k--)
                fy_tensor_deinit(&out[k]);
            return 0;
        }
        uint8_t *p = out[k].data;
        size_t nb = fy_tensor_nbytes(&out[k]);
        for (size_t i = 0; src_n && i < nb; i++)
            p[i] = io.dtype == FY_DTYPE_BOOL ? src[i % src_n] & 1 : src[i % src_n];
    }
    return n;
}

static void answer(const fy_model *m, const fy__req *r)
{
    fy_tensor out[8] = {{0}};
    int n = fake_outputs(m, r, out);
    char *body;
    size_t len, jlen;
    fy_diag d;
    static const char labels[] = "T-shirt\ncaf\xc3\xa9\r\n\"quoted\"\n\xff\n";
    if (fy__codec_predict_encode(m, labels, sizeof labels - 1, r, n, out, &body, &len, &d) ==
        FY_OK) {
        must_parse(body, len, "predict response");
        free(body);
    }
    if (fy__codec_v2_encode("model", "1", m, r, n, out, &body, &len, &jlen, &d) == FY_OK) {
        if (jlen > len)
            abort();
        must_parse(body, jlen, "V2 response");
        free(body);
    }
    if (fy__codec_tf_encode(m, r, n, out, &body, &len, &d) == FY_OK) {
        must_parse(body, len, "TF response");
        free(body);
    }
    for (int k = 0; k < n; k++)
        fy_tensor_deinit(&out[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fy_manifest man;
    static double mean = 0.5, sd = 0.25;
    if (!fashion) {
        init();
        man.scale = 1.0 / 255;
        man.n_mean = man.n_std = 1;
        man.mean = &mean;
        man.std = &sd;
        man.layout = (char *)"NCHW";
    }
    if (size < 1)
        return 0;
    int proto = data[0] & 3, use_multi = data[0] & 4, use_man = data[0] & 8;
    const fy_model *m = use_multi ? multi : fashion;
    const char *body = (const char *)data + 1;
    size_t len = size - 1, json_len = len;
    fy__req r;
    fy_diag d;
    int rc;
    memset(&r, 0, sizeof r);
    d.msg[0] = 0;
    if (proto == 0) {
        rc = fy__codec_predict_decode(body, len, m, use_man ? &man : NULL, &r, &d);
    } else if (proto == 2) {
        rc = fy__codec_tf_decode(body, len, m, &r, &d);
    } else {
        if (size < 3)
            return 0;
        unsigned hdr = data[1] | (unsigned)data[2] << 8;
        body = (const char *)data + 3;
        len = size - 3;
        json_len = hdr == 0xffff ? len : hdr;
        rc = fy__codec_v2_decode(body, len, json_len, m, &r, &d);
    }
    if (rc != FY_OK) {
        static const fy__req zero;
        if ((rc != FY_EPARSE && rc != FY_EINVAL && rc != FY_ELIMIT && rc != FY_EUNSUPPORTED &&
             rc != FY_ENOMEM) ||
            d.msg[0] == 0 || memcmp(&r, &zero, sizeof r) != 0) {
            fprintf(stderr, "bad refusal: %d \"%s\"\n", rc, d.msg);
            abort();
        }
        char *eb;
        size_t el;
        if (fy__codec_error(d.msg, &eb, &el) == FY_OK) {
            must_parse(eb, el, "error body");
            free(eb);
        }
        return 0;
    }
    /* a decoded request matches the model: every input, its dtype, fixed dims */
    int n_in = fy_model_n_inputs(m);
    if (r.n_inputs != n_in)
        abort();
    for (int k = 0; k < n_in; k++) {
        fy_io_desc io;
        const fy_tensor *t = &r.inputs[k];
        if (fy_model_input(m, k, &io) != FY_OK || t->dtype != io.dtype || !t->data ||
            (io.rank >= 0 && t->rank != io.rank))
            abort();
        for (int q = 0; q < t->rank; q++)
            if ((io.rank >= 0 && io.dims[q] >= 0 && io.dims[q] != t->dims[q]) ||
                (q == 0 && t->dims[0] == 0))
                abort();
        volatile uint8_t sum = 0;
        for (size_t i = 0; i < fy_tensor_nbytes(t); i++)
            sum ^= ((const uint8_t *)t->data)[i];
    }
    if (r.n_outputs_wanted < 0 || r.n_outputs_wanted > FY_REQ_MAX_TENSORS)
        abort();
    answer(m, &r);
    fy__req_deinit(&r);
    return 0;
}
