/* SPDX-License-Identifier: MIT */
/* Protocol codecs: valid /predict, KServe V2 (JSON and binary) and TF Serving
 * requests decode to exactly the expected tensors and responses encode to exactly
 * the expected bytes; every malformed request is refused with the right code and
 * a message naming the problem, before anything big is allocated; allocation
 * failures give FY_ENOMEM and leak nothing (the san build checks leaks). */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model_builder.h"
#include "serve/serve_int.h"
#include "test.h"

/* ------------------------------------------------------------------------- */
/* Models                                                                     */
/* ------------------------------------------------------------------------- */

static fy_model *fashion, *multi, *types, *fixed, *img, *anyrank;

/* Inputs then outputs with Identity between them; dims[0] symbolic ("N") for
 * every value whose sym flag is set. */
typedef struct {
    const char *name;
    fy_dtype dt;
    int rank;
    int64_t dims[4];
    int sym;
} io_spec;

static fy_model *identity_model(const char *gname, int n, const io_spec *in)
{
    static gb b; /* large: keep it off the stack */
    static char out_names[GB_IO][32];
    fy_diag d = {{0}};
    gb_init(&b, gname);
    for (int i = 0; i < n; i++)
        gb_input(&b, in[i].name, in[i].dt, in[i].rank, in[i].dims);
    for (int i = 0; i < n; i++) {
        snprintf(out_names[i], sizeof out_names[i], "y%s", in[i].name);
        gb_output(&b, out_names[i], in[i].dt, in[i].rank, in[i].dims);
        gb_node(&b, "Identity", 1, 1, in[i].name, out_names[i]);
    }
    for (int v = 0; v < 2 * n; v++) {
        if (in[v % n].sym) {
            b.dims[v][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            b.dims[v][0].dim_param = (char *)"N";
        }
    }
    fy_model *m = gb_load(&b, 13, &d);
    if (!m)
        fprintf(stderr, "%s: %s\n", gname, d.msg);
    return m;
}

static int load_models(void)
{
    fy_diag d;
    if (fy_model_load(&fashion, "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d) != FY_OK) {
        fprintf(stderr, "fashion: %s\n", d.msg);
        return -1;
    }
    io_spec m1[] = {{"a", FY_DTYPE_F32, 2, {1, 2}, 1}, {"b", FY_DTYPE_I64, 2, {1, 3}, 1}};
    io_spec m2[] = {{"bo", FY_DTYPE_BOOL, 2, {1, 2}, 1}, {"u8", FY_DTYPE_U8, 2, {1, 2}, 1},
                    {"i8", FY_DTYPE_I8, 2, {1, 2}, 1},   {"h", FY_DTYPE_F16, 2, {1, 2}, 1},
                    {"i32", FY_DTYPE_I32, 2, {1, 2}, 1}, {"u64", FY_DTYPE_U64, 2, {1, 2}, 1}};
    io_spec m3[] = {{"x", FY_DTYPE_F32, 2, {1, 3}, 0}, {"s", FY_DTYPE_F32, 0, {0}, 0}};
    io_spec m4[] = {{"img", FY_DTYPE_F32, 4, {1, 3, 2, 2}, 1}};
    io_spec m5[] = {{"any", FY_DTYPE_F64, -1, {0}, 0}};
    multi = identity_model("multi", 2, m1);
    types = identity_model("types", 6, m2);
    fixed = identity_model("fixed", 2, m3);
    img = identity_model("img", 1, m4);
    anyrank = identity_model("anyrank", 1, m5);
    return multi && types && fixed && img && anyrank ? 0 : -1;
}

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */
/* ------------------------------------------------------------------------- */

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* 784 pixel values (i % 256) as JSON: flat "v,v,...", or nested 28x28 rows. */
static char *pixels(int nested)
{
    size_t cap = 784 * 6 + 256, k = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 784; i++) {
        if (nested && i % 28 == 0)
            k += (size_t)snprintf(s + k, cap - k, "%s[", i ? "," : "");
        else if (i)
            s[k++] = ',';
        k += (size_t)snprintf(s + k, cap - k, "%d", i % 256);
        if (nested && i % 28 == 27)
            s[k++] = ']';
    }
    s[k] = 0;
    return s;
}

static void check_pixels(const fy_tensor *t, int64_t at, double scale)
{
    int bad = 0;
    for (int i = 0; i < 784; i++)
        bad += ((const float *)t->data)[at + i] != (float)((i % 256) * scale);
    FY_CHECK_EQ(bad, 0);
}

static void check_dims(const fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims)
{
    FY_CHECK_EQ(t->dtype, dt);
    FY_CHECK_EQ(t->rank, rank);
    for (int i = 0; i < rank && i < t->rank; i++)
        FY_CHECK_EQ(t->dims[i], dims[i]);
}

enum { P_PREDICT, P_V2, P_TF };

static int decode(int proto, const fy_model *m, const char *body, size_t len, size_t json_len,
                  fy__req *r, fy_diag *d)
{
    memset(r, 0, sizeof *r);
    d->msg[0] = 0;
    switch (proto) {
    case P_PREDICT: return fy__codec_predict_decode(body, len, m, NULL, r, d);
    case P_V2: return fy__codec_v2_decode(body, len, json_len, m, r, d);
    default: return fy__codec_tf_decode(body, len, m, r, d);
    }
}

/* A request that must be refused with code and a message containing needle; the
 * request struct must come back untouched (all zero). */
static void refuse_n(int line, int proto, const fy_model *m, const char *body, size_t len,
                     size_t json_len, int code, const char *needle)
{
    fy__req r;
    fy_diag d;
    int rc = decode(proto, m, body, len, json_len, &r, &d);
    if (rc != code || !strstr(d.msg, needle)) {
        fy_test_failed_checks++;
        fprintf(stderr, "test_codec.c:%d: got %d \"%s\", expected %d containing \"%s\"\n", line, rc,
                d.msg, code, needle);
    }
    static const fy__req zero;
    if (rc != FY_OK && memcmp(&r, &zero, sizeof r) != 0) {
        fy_test_failed_checks++;
        fprintf(stderr, "test_codec.c:%d: request touched on failure\n", line);
    }
    if (rc == FY_OK)
        fy__req_deinit(&r);
}
#define REFUSE(proto, m, body, code, needle)                                                       \
    refuse_n(__LINE__, proto, m, body, strlen(body), strlen(body), code, needle)

static int ok_n(int line, int proto, const fy_model *m, const char *body, fy__req *r)
{
    fy_diag d;
    int rc = decode(proto, m, body, strlen(body), strlen(body), r, &d);
    if (rc != FY_OK) {
        fy_test_failed_checks++;
        fprintf(stderr, "test_codec.c:%d: decode failed: %d %s\n", line, rc, d.msg);
    }
    return rc == FY_OK;
}
#define DECODE_OK(proto, m, body, r) ok_n(__LINE__, proto, m, body, r)

static const float *F(const fy_tensor *t)
{
    return t->data;
}
static const int64_t *I64(const fy_tensor *t)
{
    return t->data;
}

/* ------------------------------------------------------------------------- */
/* /predict                                                                   */
/* ------------------------------------------------------------------------- */

TEST(predict_instances_single_and_flat_forms)
{
    static const int64_t want1[4] = {1, 1, 28, 28}, want2[4] = {2, 1, 28, 28};
    char *nested = pixels(1), *flat = pixels(0);
    fy__req r;
    /* an item in its natural [1,28,28] shape */
    char *b = strf("{\"instances\":[[[%s]]]}", nested);
    if (DECODE_OK(P_PREDICT, fashion, b, &r)) {
        FY_CHECK_EQ(r.n_inputs, 1);
        FY_CHECK_EQ(r.single, 0);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want1);
        check_pixels(&r.inputs[0], 0, 1);
        fy__req_deinit(&r);
    }
    free(b);
    /* two items: one flat, one as 28 rows of 28 (fixed item dims allow both) */
    b = strf("{\"instances\":[[%s],[%s]]}", flat, nested);
    if (DECODE_OK(P_PREDICT, fashion, b, &r)) {
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want2);
        check_pixels(&r.inputs[0], 0, 1);
        check_pixels(&r.inputs[0], 784, 1);
        fy__req_deinit(&r);
    }
    free(b);
    /* {"image": item}: one item, single */
    b = strf("{\"image\":[%s]}", flat);
    if (DECODE_OK(P_PREDICT, fashion, b, &r)) {
        FY_CHECK_EQ(r.single, 1);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want1);
        check_pixels(&r.inputs[0], 0, 1);
        fy__req_deinit(&r);
    }
    free(b);
    free(nested);
    free(flat);
}

TEST(predict_preprocessing_from_the_manifest)
{
    fy_manifest *man = NULL;
    fy_diag d;
    char *flat = pixels(0);
    FY_CHECK_EQ(fy_manifest_load(&man, "examples/fashion-mnist/ferry.yaml", &d), FY_OK);
    char *b = strf("{\"image\":[%s]}", flat);
    fy__req r;
    if (man && fy__codec_predict_decode(b, strlen(b), fashion, man, &r, &d) == FY_OK) {
        int bad = 0;
        for (int i = 0; i < 784; i++)
            bad += F(&r.inputs[0])[i] != (float)((double)(i % 256) * (1.0 / 255.0));
        FY_CHECK_EQ(bad, 0);
        fy__req_deinit(&r);
    } else {
        FY_CHECK(0);
    }
    free(b);
    free(flat);
    fy_manifest_free(man);

    /* per-channel mean/std on [N,3,2,2]: NCHW uses axis 1, NHWC the last axis */
    double mean3[3] = {1, 2, 3}, std3[3] = {2, 4, 8}, mean2[2] = {1, 2}, std2[2] = {2, 4};
    fy_manifest pm = {0};
    pm.scale = 2;
    pm.n_mean = pm.n_std = 3;
    pm.mean = mean3;
    pm.std = std3;
    pm.layout = (char *)"NCHW";
    const char *body = "{\"img\":[[[1,1],[1,1]],[[2,2],[2,2]],[[3,3],[3,3]]]}";
    if (fy__codec_predict_decode(body, strlen(body), img, &pm, &r, &d) == FY_OK) {
        /* channel c holds c+1: ((c+1)*2 - (c+1)) / std[c] */
        FY_CHECK_NEAR(F(&r.inputs[0])[0], 0.5, 0);
        FY_CHECK_NEAR(F(&r.inputs[0])[4], 0.5, 0);
        FY_CHECK_NEAR(F(&r.inputs[0])[8], 3.0 / 8, 0);
        fy__req_deinit(&r);
    } else {
        FY_CHECK(0);
    }
    pm.layout = (char *)"NHWC";
    pm.n_mean = pm.n_std = 2;
    pm.mean = mean2;
    pm.std = std2;
    pm.scale = 0; /* means 1 */
    if (fy__codec_predict_decode(body, strlen(body), img, &pm, &r, &d) == FY_OK) {
        /* last axis alternates mean 1/std 2 and mean 2/std 4 */
        FY_CHECK_NEAR(F(&r.inputs[0])[0], 0.0, 0);   /* (1-1)/2 */
        FY_CHECK_NEAR(F(&r.inputs[0])[1], -0.25, 0); /* (1-2)/4 */
        FY_CHECK_NEAR(F(&r.inputs[0])[11], 0.25, 0); /* channel 2 holds 3: (3-2)/4 */
        FY_CHECK_NEAR(F(&r.inputs[0])[10], 1.0, 0);  /* (3-1)/2 */
        fy__req_deinit(&r);
    } else {
        FY_CHECK(0);
    }
    /* three means for a two-wide last axis: refused, naming the input */
    pm.n_mean = pm.n_std = 3;
    pm.mean = mean3;
    pm.std = std3;
    memset(&r, 0, sizeof r);
    FY_CHECK_EQ(fy__codec_predict_decode(body, strlen(body), img, &pm, &r, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 'img'");
    FY_CHECK_CONTAINS(d.msg, "2 channels");
}

TEST(predict_multi_input_rows_and_single_object)
{
    fy__req r;
    static const int64_t a2[2] = {2, 2}, b2[2] = {2, 3}, a1[2] = {1, 2};
    if (DECODE_OK(P_PREDICT, multi,
                  "{\"instances\":[{\"a\":[1.5,-2],\"b\":[1,2,3]},{\"b\":[4,5,-6],\"a\":[3,4e2]}]}",
                  &r)) {
        FY_CHECK_EQ(r.n_inputs, 2);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 2, a2);
        check_dims(&r.inputs[1], FY_DTYPE_I64, 2, b2);
        FY_CHECK_NEAR(F(&r.inputs[0])[0], 1.5, 0);
        FY_CHECK_NEAR(F(&r.inputs[0])[1], -2, 0);
        FY_CHECK_NEAR(F(&r.inputs[0])[3], 400, 0);
        FY_CHECK_EQ(I64(&r.inputs[1])[5], -6);
        fy__req_deinit(&r);
    }
    if (DECODE_OK(P_PREDICT, multi, "{\"a\":[1,2],\"b\":[3,4,5]}", &r)) {
        FY_CHECK_EQ(r.single, 1);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 2, a1);
        FY_CHECK_EQ(I64(&r.inputs[1])[2], 5);
        fy__req_deinit(&r);
    }
}

TEST(predict_malformed)
{
    REFUSE(P_PREDICT, fashion, "{", FY_EPARSE, "invalid JSON at line 1");
    REFUSE(P_PREDICT, fashion, "", FY_EPARSE, "invalid JSON");
    REFUSE(P_PREDICT, fashion, "[1,2]", FY_EPARSE, "must be a JSON object");
    REFUSE(P_PREDICT, fashion, "{\"image\":[1],\"image\":[2]}", FY_EPARSE, "duplicate");
    REFUSE(P_PREDICT, fashion, "{}", FY_EINVAL, "empty request");
    REFUSE(P_PREDICT, fashion, "{\"instances\":[]}", FY_EINVAL, "'instances' is empty");
    REFUSE(P_PREDICT, fashion, "{\"instances\":{}}", FY_EINVAL, "'instances' must be a list");
    REFUSE(P_PREDICT, fashion, "{\"instances\":[[0]],\"x\":1}", FY_EINVAL, "unknown field 'x'");
    REFUSE(P_PREDICT, fashion, "{\"images\":[0]}", FY_EINVAL,
           "unknown input 'images' (the model's inputs: image)");
    REFUSE(P_PREDICT, fashion, "{\"image\":[1,2,3]}", FY_EINVAL,
           "input 'image' has shape [3]; the model takes [1,28,28] per row");
    REFUSE(P_PREDICT, fashion, "{\"instances\":[\"cat\"]}", FY_EINVAL,
           "input 'image', instance 0 has shape []");
    REFUSE(P_PREDICT, fashion, "{\"image\":\"cat\"}", FY_EINVAL, "input 'image' has shape []");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,2]}", FY_EINVAL, "missing input 'b'");
    REFUSE(P_PREDICT, multi, "{\"instances\":[[1,2]]}", FY_EINVAL,
           "instance 0: expected an object with the model's inputs (a, b), found an array");
    REFUSE(P_PREDICT, multi, "{\"instances\":[{\"a\":[1,2],\"b\":[1,2,3]},{\"a\":[1,2]}]}",
           FY_EINVAL, "instance 1: missing input 'b'");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,2],\"b\":[1,2.5,3]}", FY_EINVAL,
           "input 'b': element 1 is 2.5, not an integer (int64 input)");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,\"2\"],\"b\":[1,2,3]}", FY_EINVAL,
           "input 'a': element 1 is a string, expected a number");
    REFUSE(P_PREDICT, multi, "{\"a\":[true,2],\"b\":[1,2,3]}", FY_EINVAL,
           "input 'a': element 0 is true, expected a number");
    REFUSE(P_PREDICT, multi, "{\"a\":[null,2],\"b\":[1,2,3]}", FY_EINVAL, "element 0 is null");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,{}],\"b\":[1,2,3]}", FY_EINVAL, "element 1 is an object");
    REFUSE(P_PREDICT, multi, "{\"a\":[1e39,2],\"b\":[1,2,3]}", FY_EINVAL,
           "input 'a': element 0 (1e+39) is out of range for float32");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,2],\"b\":[1,2,NaN]}", FY_EPARSE, "invalid JSON");
    REFUSE(P_PREDICT, multi, "{\"a\":[1,2],\"b\":[1,2,Infinity]}", FY_EPARSE, "invalid JSON");
    /* ragged: the item's shape is read off its first elements, the rest must agree */
    REFUSE(P_PREDICT, anyrank, "{\"any\":[[1,2],[3]]}", FY_EINVAL,
           "input 'any': ragged array: expected an array of 2 at depth 1, found one of 1");
    REFUSE(P_PREDICT, anyrank, "{\"any\":[[1,2],3]}", FY_EINVAL,
           "ragged array: expected an array of 2 at depth 1, found a number");
    REFUSE(P_PREDICT, anyrank, "{\"any\":[1,[2]]}", FY_EINVAL,
           "ragged array: element 1 is an array nested deeper");
    REFUSE(P_PREDICT, anyrank, "{\"instances\":[[1,2],[1,2,3]]}", FY_EINVAL,
           "input 'any', instance 1 has shape [3] but instance 0 has [2]");
    REFUSE(P_PREDICT, anyrank, "{\"any\":[[[[[[[[[1]]]]]]]]]}", FY_ELIMIT,
           "arrays nested deeper than 8 levels");
    /* a fixed first dimension takes exactly that many rows; scalars have no rows */
    REFUSE(P_PREDICT, fixed, "{\"instances\":[{\"x\":[1,2,3],\"s\":1},{\"x\":[1,2,3],\"s\":1}]}",
           FY_EINVAL, "input 'x' has a fixed first dimension of 1, so it takes exactly 1 instance");
    REFUSE(P_PREDICT, fixed, "{\"x\":[1,2,3],\"s\":1}", FY_EUNSUPPORTED,
           "input 's' is a scalar with no row dimension");
}

TEST(limits_depth_and_elements)
{
    /* nesting: refused by the byte scan, before jansson recurses */
    char deep[300];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "{\"image\":");
    for (int i = 0; i < 64; i++)
        deep[k++] = '[';
    deep[k] = 0;
    REFUSE(P_PREDICT, fashion, deep, FY_ELIMIT, "JSON nested deeper than 64 levels (at byte 72)");
    REFUSE(P_V2, fashion, deep, FY_ELIMIT, "nested deeper than 64");
    REFUSE(P_TF, fashion, deep, FY_ELIMIT, "nested deeper than 64");
    /* brackets inside strings do not count */
    char *s = strf("{\"x\":\"%s\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[");
    REFUSE(P_PREDICT, fashion, s, FY_EINVAL, "unknown input 'x'");
    free(s);
    /* 10^8 elements claimed by first elements alone: the rest is proved regular
     * before anything is allocated for the claimed shape */
    fy__alloc_largest(1);
    char claim[512];
    k = (size_t)snprintf(claim, sizeof claim, "{\"any\":");
    for (int i = 0; i < 7; i++)
        claim[k++] = '[';
    k += (size_t)snprintf(claim + k, sizeof claim - k, "0,0,0,0,0,0,0,0,0,0,0,0,0,0]");
    for (int i = 0; i < 6; i++) /* each level: the array before, then 13 more elements */
        k += (size_t)snprintf(claim + k, sizeof claim - k, ",0,0,0,0,0,0,0,0,0,0,0,0,0]");
    snprintf(claim + k, sizeof claim - k, "}");
    REFUSE(P_PREDICT, anyrank, claim, FY_EINVAL,
           "input 'any': ragged array: expected an array of 14 at depth 6, found a number");
    REFUSE(P_TF, anyrank,
           "{\"inputs\":[[[[[[[[0,0,0,0,0,0,0,0,0,0],0,0,0,0,0,0,0,0,0],0,0,0,0,0,"
           "0,0,0,0],0,0,0,0,0,0,0,0,0],0,0,0,0,0,0,0,0,0],0,0,0,0,0,0,0,0,0],0,0,"
           "0,0,0,0,0,0,0],0,0,0,0,0,0,0,0,0]}",
           FY_EINVAL, "ragged array");
    /* one real image, then 2000 rows of a single zero: no 2001 x 784 floats */
    char *flat = pixels(0);
    size_t cap = 8000 + strlen(flat), q = 0;
    char *amp = malloc(cap);
    q += (size_t)snprintf(amp, cap, "{\"inputs\":[[%s]", flat);
    for (int i = 0; i < 2000; i++)
        q += (size_t)snprintf(amp + q, cap - q, ",0");
    snprintf(amp + q, cap - q, "]}");
    REFUSE(P_TF, fashion, amp, FY_EINVAL, "input 'image': ragged array");
    q = (size_t)snprintf(amp, cap, "{\"instances\":[[%s]", flat);
    for (int i = 0; i < 2000; i++)
        q += (size_t)snprintf(amp + q, cap - q, ",0");
    snprintf(amp + q, cap - q, "]}");
    REFUSE(P_TF, fashion, amp, FY_EINVAL, "input 'image', instance 1 has shape []");
    free(amp);
    free(flat);
    REFUSE(
        P_V2, multi,
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[67108865,2],\"datatype\":\"FP32\",\"data\":[]}]}",
        FY_ELIMIT, "input 'a': shape [67108865,2] has more than 67108864 elements");
    REFUSE(P_V2, multi,
           "{\"inputs\":[{\"name\":\"b\",\"shape\":[1,3],\"datatype\":\"INT64\",\"data\":[1,2,3]},"
           "{\"name\":\"a\",\"shape\":[33554432,2],\"datatype\":\"FP32\",\"data\":[]}]}",
           FY_ELIMIT, "the request has more than 67108864 elements");
    REFUSE(P_V2, multi,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[4611686018427387904,2],\"datatype\":\"FP32\","
           "\"data\":[]}]}",
           FY_ELIMIT, "more than 67108864 elements");
    FY_CHECK(fy__alloc_largest(0) < 4096);
    /* more JSON values than FY_JSON_MAX_VALUES: refused by the scan, before jansson */
    size_t n = (size_t)FY_JSON_MAX_VALUES + 2, blen = 2 * n + 16;
    char *big = malloc(blen);
    k = (size_t)snprintf(big, blen, "{\"any\":[");
    for (size_t i = 0; i < n; i++) {
        big[k++] = '0';
        big[k++] = i + 1 < n ? ',' : ']';
    }
    big[k++] = '}';
    big[k] = 0;
    REFUSE(P_PREDICT, anyrank, big, FY_ELIMIT, "JSON holds more than 4194304 values");
    free(big);
}

/* ------------------------------------------------------------------------- */
/* KServe V2                                                                  */
/* ------------------------------------------------------------------------- */

TEST(v2_json_flat_nested_and_outputs)
{
    static const int64_t want[4] = {1, 1, 28, 28};
    char *nested = pixels(1), *flat = pixels(0);
    fy__req r;
    char *b = strf("{\"id\":\"42\",\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],"
                   "\"datatype\":\"FP32\",\"data\":[%s]}]}",
                   flat);
    if (DECODE_OK(P_V2, fashion, b, &r)) {
        FY_CHECK_STR(r.id, "42");
        FY_CHECK_EQ(r.n_inputs, 1);
        FY_CHECK_EQ(r.n_outputs_wanted, 0);
        FY_CHECK_EQ(r.binary_default, 0);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want);
        check_pixels(&r.inputs[0], 0, 1);
        fy__req_deinit(&r);
    }
    free(b);
    /* nested as 28 rows, and fully nested: both are the same tensor */
    b = strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]}],\"outputs\":[{\"name\":\"probabilities\",\"parameters\":"
             "{\"binary_data\":true}}],\"parameters\":{\"binary_data_output\":false}}",
             nested);
    if (DECODE_OK(P_V2, fashion, b, &r)) {
        FY_CHECK(r.id == NULL);
        check_pixels(&r.inputs[0], 0, 1);
        FY_CHECK_EQ(r.n_outputs_wanted, 1);
        FY_CHECK_STR(r.outputs_wanted[0], "probabilities");
        FY_CHECK_EQ(r.binary_wanted[0], 1);
        fy__req_deinit(&r);
    }
    free(b);
    b = strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[[[%s]]]}],\"outputs\":[{\"name\":\"probabilities\"}],"
             "\"parameters\":{\"binary_data_output\":true}}",
             nested);
    if (DECODE_OK(P_V2, fashion, b, &r)) {
        check_pixels(&r.inputs[0], 0, 1);
        FY_CHECK_EQ(r.binary_default, 1);
        FY_CHECK_EQ(r.binary_wanted[0], 1); /* inherited from binary_data_output */
        fy__req_deinit(&r);
    }
    free(b);
    free(nested);
    free(flat);
}

TEST(v2_every_datatype_from_json)
{
    fy__req r;
    const char *body =
        "{\"inputs\":["
        "{\"name\":\"bo\",\"shape\":[1,2],\"datatype\":\"BOOL\",\"data\":[true,0]},"
        "{\"name\":\"u8\",\"shape\":[1,2],\"datatype\":\"UINT8\",\"data\":[0,255]},"
        "{\"name\":\"i8\",\"shape\":[1,2],\"datatype\":\"INT8\",\"data\":[-128,127]},"
        "{\"name\":\"h\",\"shape\":[1,2],\"datatype\":\"FP16\",\"data\":[0.5,-65504]},"
        "{\"name\":\"i32\",\"shape\":[1,2],\"datatype\":\"INT32\",\"data\":[-2147483648,2147483647]"
        "},"
        "{\"name\":\"u64\",\"shape\":[1,2],\"datatype\":\"UINT64\",\"data\":[0,9223372036854775807]"
        "}"
        "]}";
    if (DECODE_OK(P_V2, types, body, &r)) {
        FY_CHECK_EQ(r.n_inputs, 6);
        const uint8_t *bo = r.inputs[0].data, *u8 = r.inputs[1].data;
        const int8_t *i8 = r.inputs[2].data;
        const uint16_t *h = r.inputs[3].data;
        const int32_t *i32 = r.inputs[4].data;
        const uint64_t *u64 = r.inputs[5].data;
        FY_CHECK(bo[0] == 1 && bo[1] == 0);
        FY_CHECK(u8[0] == 0 && u8[1] == 255);
        FY_CHECK(i8[0] == -128 && i8[1] == 127);
        FY_CHECK_EQ(h[0], 0x3800);
        FY_CHECK_EQ(h[1], 0xfbff);
        FY_CHECK(i32[0] == INT32_MIN && i32[1] == INT32_MAX);
        FY_CHECK(u64[1] == (uint64_t)INT64_MAX);
        fy__req_deinit(&r);
    }
    /* out of range for each type, named */
    const char *fmt = "{\"inputs\":[{\"name\":\"%s\",\"shape\":[1,2],\"datatype\":\"%s\",\"data\":"
                      "[0,%s]}]}";
    static const char *cases[][4] = {
        {"bo", "BOOL", "2", "element 1 (2) is out of range for bool"},
        {"bo", "BOOL", "0.5", "element 1 is 0.5, not an integer (bool input)"},
        {"bo", "BOOL", "\"true\"", "element 1 is a string, expected true, false, 0 or 1"},
        {"u8", "UINT8", "256", "input 'u8': element 1 (256) is out of range for uint8"},
        {"u8", "UINT8", "-1", "element 1 (-1) is out of range for uint8"},
        {"i8", "INT8", "-129", "element 1 (-129) is out of range for int8"},
        {"i8", "INT8", "1.0", "element 1 is 1, not an integer (int8 input)"},
        {"i32", "INT32", "2147483648", "out of range for int32"},
        {"u64", "UINT64", "-1", "element 1 (-1) is out of range for uint64"},
        {"u64", "UINT64", "18446744073709551615", "invalid JSON"},
        {"h", "FP16", "65520", "element 1 (65520) is out of range for float16"},
        {"h", "FP16", "-1e6", "out of range for float16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = strf(fmt, cases[i][0], cases[i][1], cases[i][2]);
        int code = strstr(cases[i][3], "JSON") ? FY_EPARSE : FY_EINVAL;
        /* the other inputs are missing, but the bad element is found first */
        refuse_n(__LINE__, P_V2, types, b, strlen(b), strlen(b), code, cases[i][3]);
        free(b);
    }
}

/* JSON header followed by the binary sections given. */
static char *with_binary(const char *json, const void *b1, size_t n1, const void *b2, size_t n2,
                         size_t *len)
{
    size_t j = strlen(json);
    char *s = malloc(j + n1 + n2 + 1);
    memcpy(s, json, j);
    if (n1)
        memcpy(s + j, b1, n1);
    if (n2)
        memcpy(s + j + n1, b2, n2);
    *len = j + n1 + n2;
    return s;
}

TEST(v2_binary_tensor_data)
{
    float pix[784];
    for (int i = 0; i < 784; i++)
        pix[i] = (float)(i % 256);
    const char *hdr =
        "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":3136}}]}";
    size_t len;
    char *b = with_binary(hdr, pix, sizeof pix, NULL, 0, &len);
    fy__req r;
    fy_diag d;
    if (decode(P_V2, fashion, b, len, strlen(hdr), &r, &d) == FY_OK) {
        check_pixels(&r.inputs[0], 0, 1);
        fy__req_deinit(&r);
    } else {
        FY_CHECK(0);
        fprintf(stderr, "%s\n", d.msg);
    }
    /* the binary part cut short, or a byte too many */
    refuse_n(__LINE__, P_V2, fashion, b, len - 1, strlen(hdr), FY_EINVAL,
             "input 'image': binary data runs past the end of the body (3136 bytes at offset 0 "
             "of the 3135 binary bytes after the JSON)");
    free(b);
    b = with_binary(hdr, pix, sizeof pix, "x", 1, &len);
    refuse_n(__LINE__, P_V2, fashion, b, len, strlen(hdr), FY_EINVAL,
             "1 bytes after the JSON header are not claimed");
    /* the JSON header length beyond the body, or cutting the JSON */
    refuse_n(__LINE__, P_V2, fashion, b, len, len + 1, FY_EINVAL,
             "Inference-Header-Content-Length is 3244 but the body has only 3243 bytes");
    refuse_n(__LINE__, P_V2, fashion, b, len, 10, FY_EPARSE, "invalid JSON");
    /* no header length: binary bytes are parsed as JSON and refused */
    refuse_n(__LINE__, P_V2, fashion, b, len, len, FY_EPARSE, "invalid JSON");
    free(b);
    /* a size that does not match the shape; binary claimed with no bytes */
    const char *bad = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":"
                      "\"FP32\",\"parameters\":{\"binary_data_size\":3132}}]}";
    b = with_binary(bad, pix, 3132, NULL, 0, &len);
    refuse_n(__LINE__, P_V2, fashion, b, len, strlen(bad), FY_EINVAL,
             "input 'image': binary_data_size is 3132 but shape [1,1,28,28] of FP32 takes 3136 "
             "bytes");
    free(b);
    REFUSE(P_V2, fashion, hdr, FY_EINVAL, "binary data runs past the end of the body");
    REFUSE(P_V2, fashion,
           "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
           "\"parameters\":{\"binary_data_size\":-1}}]}",
           FY_EINVAL, "binary_data_size must be a non-negative integer");
    REFUSE(P_V2, fashion,
           "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
           "\"parameters\":{\"binary_data_size\":3136},\"data\":[1]}]}",
           FY_EINVAL, "gives both 'data' and binary_data_size");

    /* two inputs: binary b then JSON a, then binary in listed order */
    int64_t bv[3] = {7, -8, 9};
    float av[2] = {0.25f, -1};
    const char *h2 = "{\"inputs\":[{\"name\":\"b\",\"shape\":[1,3],\"datatype\":\"INT64\","
                     "\"parameters\":{\"binary_data_size\":24}},{\"name\":\"a\",\"shape\":[1,2],"
                     "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":8}}]}";
    b = with_binary(h2, bv, sizeof bv, av, sizeof av, &len);
    if (decode(P_V2, multi, b, len, strlen(h2), &r, &d) == FY_OK) {
        FY_CHECK_EQ(I64(&r.inputs[1])[1], -8);
        FY_CHECK_NEAR(F(&r.inputs[0])[0], 0.25, 0);
        FY_CHECK_NEAR(F(&r.inputs[0])[1], -1, 0);
        fy__req_deinit(&r);
    } else {
        FY_CHECK(0);
        fprintf(stderr, "%s\n", d.msg);
    }
    free(b);
    /* BOOL bytes must be 0 or 1 */
    const char *h3 = "{\"inputs\":[{\"name\":\"bo\",\"shape\":[1,2],\"datatype\":\"BOOL\","
                     "\"parameters\":{\"binary_data_size\":2}}]}";
    b = with_binary(h3, "\001\002", 2, NULL, 0, &len);
    refuse_n(__LINE__, P_V2, types, b, len, strlen(h3), FY_EINVAL,
             "input 'bo': binary BOOL element 1 is 2; must be 0 or 1");
    free(b);
}

TEST(v2_malformed)
{
    const fy_model *m = multi;
    REFUSE(P_V2, m, "{\"inputs\":5}", FY_EINVAL, "'inputs' must be a non-empty list");
    REFUSE(P_V2, m, "{\"inputs\":[]}", FY_EINVAL, "'inputs' must be a non-empty list");
    REFUSE(P_V2, m, "{}", FY_EINVAL,
           "'inputs' must be a non-empty list (the model's inputs: a, b)");
    REFUSE(P_V2, m, "{\"inputs\":[5]}", FY_EINVAL, "inputs[0] must be an object");
    REFUSE(P_V2, m, "{\"inputs\":[{\"shape\":[1]}]}", FY_EINVAL, "inputs[0] has no 'name'");
    REFUSE(P_V2, m, "{\"inputs\":[{\"name\":\"c\"}]}", FY_EINVAL,
           "unknown input 'c' (the model's inputs: a, b)");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]},"
           "{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a' is given twice");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "missing input 'b' (the model's inputs: a, b)");
    REFUSE(P_V2, m, "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"data\":[1,2]}]}", FY_EINVAL,
           "input 'a': no 'datatype' string (the model's is FP32)");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FLOAT\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a': unknown datatype 'FLOAT'");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"BYTES\",\"data\":[1,2]}]}",
           FY_EUNSUPPORTED, "input 'a': datatype BYTES is not supported");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"INT64\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a': datatype INT64 does not match the model's FP32");
    REFUSE(P_V2, m, "{\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a': no 'shape' array");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,-2],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a': shape[1] must be a non-negative integer");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2.0],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "shape[1] must be a non-negative integer");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,2]}]}",
           FY_EINVAL, "input 'a': shape [2] has rank 1; the model takes [N,2]");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
           FY_EINVAL, "input 'a': shape [1,3]: dimension 1 is 3; the model takes [N,2]");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[0,2],\"datatype\":\"FP32\",\"data\":[]}]}",
           FY_EINVAL, "input 'a': shape [0,2] has no rows");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,1,1,1,1,1,1,1,1],\"datatype\":\"FP32\"}]}",
           FY_ELIMIT, "input 'a': shape has 9 dimensions, more than 8");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
           FY_EINVAL, "input 'a': 'data' of shape [3] holds 3 elements but shape [2,2] needs 4");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":"
           "[[1,2],[3]]}]}",
           FY_EINVAL, "input 'a': ragged array");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":7}]}",
           FY_EINVAL, "input 'a': 'data' must be an array, found a single value");
    REFUSE(P_V2, m, "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\"}]}",
           FY_EINVAL, "input 'a': no 'data' (nor parameters.binary_data_size)");
    REFUSE(P_V2, m,
           "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2],"
           "\"parameters\":[]}]}",
           FY_EINVAL, "input 'a': 'parameters' must be an object");
    const char *good = "{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]},"
                       "{\"name\":\"b\",\"shape\":[1,3],\"datatype\":\"INT64\",\"data\":[1,2,3]}";
    char *b;
#define WITH(fmt, code, needle)                                                                    \
    b = strf(fmt, good);                                                                           \
    REFUSE(P_V2, m, b, code, needle);                                                              \
    free(b)
    WITH("{\"id\":42,\"inputs\":[%s]}", FY_EINVAL, "'id' must be a string");
    WITH("{\"parameters\":1,\"inputs\":[%s]}", FY_EINVAL, "'parameters' must be an object");
    WITH("{\"parameters\":{\"binary_data_output\":1},\"inputs\":[%s]}", FY_EINVAL,
         "parameters: 'binary_data_output' must be true or false");
    WITH("{\"inputs\":[%s],\"outputs\":{}}", FY_EINVAL, "'outputs' must be a list");
    WITH("{\"inputs\":[%s],\"outputs\":[{\"name\":\"z\"}]}", FY_EINVAL,
         "unknown output 'z' (the model's outputs: ya, yb)");
    WITH("{\"inputs\":[%s],\"outputs\":[{}]}", FY_EINVAL,
         "outputs[0] must be an object with a 'name'");
    WITH("{\"inputs\":[%s],\"outputs\":[{\"name\":\"ya\"},{\"name\":\"ya\"}]}", FY_EINVAL,
         "output 'ya' is asked for twice");
    WITH("{\"inputs\":[%s],\"outputs\":[{\"name\":\"ya\",\"parameters\":{\"binary_data\":\"y\"}}]}",
         FY_EINVAL, "output 'ya': 'binary_data' must be true or false");
#undef WITH
    /* valid after all that: outputs in the order asked, parameters we do not know ignored */
    fy__req r;
    b = strf("{\"id\":\"\",\"model_name\":\"multi\",\"inputs\":[%s],\"outputs\":[{\"name\":\"yb\","
             "\"parameters\":{\"binary_data\":true,\"classification\":0}},{\"name\":\"ya\"}]}",
             good);
    if (DECODE_OK(P_V2, m, b, &r)) {
        FY_CHECK_STR(r.id, "");
        FY_CHECK_EQ(r.n_outputs_wanted, 2);
        FY_CHECK_STR(r.outputs_wanted[0], "yb");
        FY_CHECK_EQ(r.binary_wanted[0], 1);
        FY_CHECK_EQ(r.binary_wanted[1], 0);
        fy__req_deinit(&r);
    }
    free(b);
}

/* ------------------------------------------------------------------------- */
/* TensorFlow Serving                                                         */
/* ------------------------------------------------------------------------- */

TEST(tf_row_and_columnar)
{
    static const int64_t want2[4] = {2, 1, 28, 28}, a3[2] = {3, 2}, b1[2] = {1, 3};
    char *nested = pixels(1), *flat = pixels(0);
    fy__req r;
    char *b =
        strf("{\"signature_name\":\"serving_default\",\"instances\":[[[%s]],[%s]]}", nested, flat);
    if (DECODE_OK(P_TF, fashion, b, &r)) {
        FY_CHECK_EQ(r.columnar, 0);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want2);
        check_pixels(&r.inputs[0], 784, 1);
        fy__req_deinit(&r);
    }
    free(b);
    /* columnar, natural shape and with the item flattened */
    b = strf("{\"inputs\":[[%s],[%s]]}", flat, flat);
    if (DECODE_OK(P_TF, fashion, b, &r)) {
        FY_CHECK_EQ(r.columnar, 1);
        check_dims(&r.inputs[0], FY_DTYPE_F32, 4, want2);
        check_pixels(&r.inputs[0], 0, 1);
        check_pixels(&r.inputs[0], 784, 1);
        fy__req_deinit(&r);
    }
    free(b);
    /* columnar, named even with one input */
    b = strf("{\"inputs\":{\"image\":[[%s]]}}", flat);
    if (DECODE_OK(P_TF, fashion, b, &r)) {
        FY_CHECK_EQ(r.inputs[0].dims[0], 1);
        fy__req_deinit(&r);
    }
    free(b);
    free(nested);
    free(flat);
    /* several inputs need not share the first dimension in the columnar form */
    if (DECODE_OK(P_TF, multi, "{\"inputs\":{\"a\":[[1,2],[3,4],[5,6]],\"b\":[[7,8,9]]}}", &r)) {
        check_dims(&r.inputs[0], FY_DTYPE_F32, 2, a3);
        check_dims(&r.inputs[1], FY_DTYPE_I64, 2, b1);
        FY_CHECK_NEAR(F(&r.inputs[0])[5], 6, 0);
        FY_CHECK_EQ(I64(&r.inputs[1])[2], 9);
        fy__req_deinit(&r);
    }
    /* row form with named inputs */
    if (DECODE_OK(P_TF, multi, "{\"instances\":[{\"a\":[1,2],\"b\":[3,4,5]}]}", &r)) {
        FY_CHECK_EQ(r.inputs[1].dims[0], 1);
        fy__req_deinit(&r);
    }
    /* fixed first dimension and a scalar input: columnar only */
    if (DECODE_OK(P_TF, fixed, "{\"inputs\":{\"x\":[[1,2,3]],\"s\":4.5}}", &r)) {
        FY_CHECK_EQ(r.inputs[1].rank, 0);
        FY_CHECK_NEAR(F(&r.inputs[1])[0], 4.5, 0);
        fy__req_deinit(&r);
    }
}

TEST(tf_malformed)
{
    REFUSE(P_TF, fashion, "{\"signature_name\":\"predict\",\"instances\":[]}", FY_EINVAL,
           "signature_name 'predict' not found");
    REFUSE(P_TF, fashion, "{\"signature_name\":1,\"instances\":[]}", FY_EINVAL,
           "'signature_name' must be a string");
    REFUSE(P_TF, fashion, "{\"instances\":[],\"inputs\":[]}", FY_EINVAL, "not both");
    REFUSE(P_TF, fashion, "{}", FY_EINVAL, "missing 'instances' (row form) or 'inputs'");
    REFUSE(P_TF, fashion, "{\"examples\":[]}", FY_EINVAL, "unknown field 'examples'");
    REFUSE(P_TF, fashion, "{\"instances\":[]}", FY_EINVAL, "'instances' is empty");
    REFUSE(P_TF, fashion, "{\"inputs\":[[1,2]]}", FY_EINVAL,
           "input 'image' has shape [1,2]; the model takes [N,1,28,28]");
    REFUSE(P_TF, fashion, "{\"inputs\":[]}", FY_EINVAL, "input 'image' has shape [0]");
    REFUSE(P_TF, multi, "{\"inputs\":[[1,2]]}", FY_EINVAL,
           "'inputs' must be an object with the model's inputs (a, b), found an array");
    REFUSE(P_TF, multi, "{\"inputs\":{\"a\":[[1,2]]}}", FY_EINVAL, "'inputs': missing input 'b'");
    REFUSE(P_TF, multi, "{\"inputs\":{\"a\":[[1,2]],\"b\":[[1,2,3]],\"c\":1}}", FY_EINVAL,
           "'inputs': unknown input 'c'");
    REFUSE(P_TF, anyrank, "{\"inputs\":[]}", FY_EINVAL, "input 'any' has no rows");
    REFUSE(P_TF, anyrank, "{\"inputs\":[[1,2],[3]]}", FY_EINVAL,
           "input 'any': ragged array: expected an array of 2 at depth 1, found one of 1 (before "
           "element 2)");
    REFUSE(P_TF, multi, "{\"inputs\":{\"a\":[[1,2]],\"b\":[[1,2,3.5]]}}", FY_EINVAL,
           "input 'b': element 2 is 3.5, not an integer (int64 input)");
    REFUSE(P_TF, fixed, "{\"inputs\":{\"x\":[[1,2,3],[4,5,6]],\"s\":1}}", FY_EINVAL,
           "input 'x' has shape [2,3]; the model takes [1,3]");
    REFUSE(P_TF, fixed, "{\"inputs\":{\"x\":[[1,2,3]],\"s\":[1]}}", FY_EINVAL,
           "input 's' has shape [1]; the model takes []");
}

/* ------------------------------------------------------------------------- */
/* Encoding                                                                   */
/* ------------------------------------------------------------------------- */

static fy_tensor mk(fy_dtype dt, int rank, const int64_t *dims, const void *vals)
{
    fy_tensor t;
    fy_tensor_alloc(&t, dt, rank, dims, NULL);
    memcpy(t.data, vals, fy_tensor_nbytes(&t));
    return t;
}

/* A request of `rows` rows for the multi model (the encoders read the batch off it). */
static void rows_req(fy__req *r, int64_t rows)
{
    static const int64_t d[2] = {0, 2};
    int64_t dims[2] = {rows, d[1]};
    memset(r, 0, sizeof *r);
    fy_tensor_alloc(&r->inputs[0], FY_DTYPE_F32, 2, dims, NULL);
    r->n_inputs = 1;
}

TEST(numbers_are_exact_and_json)
{
    static const int64_t d6[1] = {6}, d4[1] = {4}, d3[1] = {3};
    float f[6] = {0.1f, 1e-45f, 3.4028235e38f, -0.0f, 16777216.0f, 0};
    f[5] = NAN;
    double g[4] = {0.1, 1e300, -INFINITY, 5e-324};
    int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
    uint64_t u64[3] = {UINT64_MAX, 1, 0};
    fy_tensor t;
    fy__sb s = {0};
    char *body;
    size_t len;
    t = mk(FY_DTYPE_F32, 1, d6, f);
    fy__sb_values(&s, &t, 0, 1, d6);
    fy_tensor_deinit(&t);
    t = mk(FY_DTYPE_F64, 1, d4, g);
    fy__sb_values(&s, &t, 0, 1, d4);
    fy_tensor_deinit(&t);
    t = mk(FY_DTYPE_I64, 1, d3, i64);
    fy__sb_values(&s, &t, 0, 1, d3);
    fy_tensor_deinit(&t);
    t = mk(FY_DTYPE_U64, 1, d3, u64);
    fy__sb_values(&s, &t, 0, 1, d3);
    fy_tensor_deinit(&t);
    uint8_t bo[3] = {1, 0, 1};
    t = mk(FY_DTYPE_BOOL, 1, d3, bo);
    fy__sb_values(&s, &t, 0, 1, d3);
    fy_tensor_deinit(&t);
    uint16_t h[3] = {0x3c00, 0x7c00, 0x3555};
    t = mk(FY_DTYPE_F16, 1, d3, h);
    fy__sb_values(&s, &t, 0, 1, d3);
    fy_tensor_deinit(&t);
    if (fy__sb_finish(&s, &body, &len, NULL) == FY_OK) {
        FY_CHECK_STR(body,
                     "[0.100000001,1.40129846e-45,3.40282347e+38,-0,16777216,null]"
                     "[0.10000000000000001,1.0000000000000001e+300,null,4.9406564584124654e-324]"
                     "[-9223372036854775808,0,9223372036854775807]"
                     "[18446744073709551615,1,0][true,false,true][1,null,0.333251953]");
        FY_CHECK_EQ(len, strlen(body));
        free(body);
    }
}

TEST(numbers_ignore_the_locale)
{
    static const int64_t d2[1] = {2};
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                  "fr_FR.utf8",  "de_DE",      NULL};
    const char *got = NULL;
    for (int i = 0; names[i] && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        printf("skip numbers_ignore_the_locale: no comma locale installed\n");
        return;
    }
    float f[2] = {0.5f, 1.25e-7f};
    fy_tensor t = mk(FY_DTYPE_F32, 1, d2, f);
    fy__sb s = {0};
    char *body;
    size_t len;
    fy__sb_values(&s, &t, 0, 1, d2);
    if (fy__sb_finish(&s, &body, &len, NULL) == FY_OK) {
        FY_CHECK_STR(body, "[0.5,1.25e-07]");
        free(body);
    }
    fy_tensor_deinit(&t);
    setlocale(LC_NUMERIC, "C");
}

TEST(error_body_escapes)
{
    char *body;
    size_t len;
    FY_CHECK_EQ(fy__codec_error("bad \"x\"\n\t\\ \x01 caf\xc3\xa9 cut \xe2\x82", &body, &len),
                FY_OK);
    FY_CHECK_STR(body, "{\"error\":\"bad \\\"x\\\"\\n\\t\\\\ \\u0001 caf\xc3\xa9 cut "
                       "\\ufffd\\ufffd\"}");
    FY_CHECK_EQ(len, strlen(body));
    free(body);
}

TEST(predict_and_tf_encode)
{
    static const int64_t o2[2] = {2, 3}, b2[2] = {2, 1};
    float pv[6] = {0.1f, 0.7f, 0.2f, NAN, 0.5f, 0.5f};
    int64_t bv[2] = {-1, 2};
    fy_tensor out[2] = {mk(FY_DTYPE_F32, 2, o2, pv), mk(FY_DTYPE_I64, 2, b2, bv)};
    fy__req r;
    char *body;
    size_t len;
    fy_diag d;
    rows_req(&r, 2);
    /* one output: each prediction is its row */
    if (fy__codec_predict_encode(multi, NULL, 0, &r, 1, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"predictions\":[[0.100000001,0.699999988,0.200000003],"
                           "[null,0.5,0.5]]}");
        free(body);
    } else
        FY_CHECK(0);
    /* labels: the best class (NaN never wins, ties go to the first) */
    const char *labels = "zero\r\none \"1\"\ntwo";
    if (fy__codec_predict_encode(multi, labels, strlen(labels), &r, 1, out, &body, &len, &d) ==
        FY_OK) {
        FY_CHECK_STR(body, "{\"predictions\":[{\"label\":\"one \\\"1\\\"\",\"class\":1,\"scores\":"
                           "[0.100000001,0.699999988,0.200000003]},{\"label\":\"one \\\"1\\\"\","
                           "\"class\":1,\"scores\":[null,0.5,0.5]}]}");
        free(body);
    } else
        FY_CHECK(0);
    /* fewer labels than classes: null */
    if (fy__codec_predict_encode(multi, "only\n", 5, &r, 1, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_CONTAINS(body, "{\"label\":null,\"class\":1,");
        free(body);
    } else
        FY_CHECK(0);
    /* several outputs: objects */
    if (fy__codec_predict_encode(multi, NULL, 0, &r, 2, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"predictions\":[{\"ya\":[0.100000001,0.699999988,0.200000003],"
                           "\"yb\":[-1]},{\"ya\":[null,0.5,0.5],\"yb\":[2]}]}");
        free(body);
    } else
        FY_CHECK(0);
    if (fy__codec_tf_encode(multi, &r, 2, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"predictions\":[{\"ya\":[0.100000001,0.699999988,0.200000003],"
                           "\"yb\":[-1]},{\"ya\":[null,0.5,0.5],\"yb\":[2]}]}");
        free(body);
    } else
        FY_CHECK(0);
    r.columnar = 1;
    if (fy__codec_tf_encode(multi, &r, 1, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"outputs\":[[0.100000001,0.699999988,0.200000003],"
                           "[null,0.5,0.5]]}");
        free(body);
    } else
        FY_CHECK(0);
    if (fy__codec_tf_encode(multi, &r, 2, out, &body, &len, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"outputs\":{\"ya\":[[0.100000001,0.699999988,0.200000003],"
                           "[null,0.5,0.5]],\"yb\":[[-1],[2]]}}");
        free(body);
    } else
        FY_CHECK(0);
    /* an output without a row per instance cannot go in the row form */
    r.columnar = 0;
    fy__req_deinit(&r);
    rows_req(&r, 3);
    FY_CHECK_EQ(fy__codec_tf_encode(multi, &r, 2, out, &body, &len, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "output 'ya' has shape [2,3], not one row per instance (3)");
    fy__req_deinit(&r);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(v2_encode_json_and_binary)
{
    static const int64_t o2[2] = {2, 2}, b2[2] = {1, 3};
    float av[4] = {1, 2.5f, -0.125f, INFINITY};
    int64_t bv[3] = {1, -2, 3};
    fy_tensor out[2] = {mk(FY_DTYPE_F32, 2, o2, av), mk(FY_DTYPE_I64, 2, b2, bv)};
    fy__req r;
    char *body;
    size_t len, jlen;
    fy_diag d;
    memset(&r, 0, sizeof r);
    if (fy__codec_v2_encode("multi", "3", multi, &r, 2, out, &body, &len, &jlen, &d) == FY_OK) {
        FY_CHECK_STR(body, "{\"model_name\":\"multi\",\"model_version\":\"3\",\"outputs\":["
                           "{\"name\":\"ya\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":"
                           "[1,2.5,-0.125,null]},{\"name\":\"yb\",\"datatype\":\"INT64\","
                           "\"shape\":[1,3],\"data\":[1,-2,3]}]}");
        FY_CHECK_EQ(jlen, len);
        free(body);
    } else
        FY_CHECK(0);
    /* asked: yb in binary, then ya as JSON; the id echoed */
    r.id = (char *)"req-1";
    r.n_outputs_wanted = 2;
    r.outputs_wanted[0] = (char *)"yb";
    r.outputs_wanted[1] = (char *)"ya";
    r.binary_wanted[0] = 1;
    if (fy__codec_v2_encode("multi", NULL, multi, &r, 2, out, &body, &len, &jlen, &d) == FY_OK) {
        const char *want = "{\"model_name\":\"multi\",\"id\":\"req-1\",\"outputs\":["
                           "{\"name\":\"yb\",\"datatype\":\"INT64\",\"shape\":[1,3],"
                           "\"parameters\":{\"binary_data_size\":24}},{\"name\":\"ya\","
                           "\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[1,2.5,-0.125,null]}]}";
        FY_CHECK_EQ(jlen, strlen(want));
        FY_CHECK_EQ(len, jlen + 24);
        FY_CHECK(memcmp(body, want, strlen(want)) == 0);
        FY_CHECK(memcmp(body + jlen, bv, 24) == 0);
        free(body);
    } else
        FY_CHECK(0);
    /* binary_data_output for all */
    r.n_outputs_wanted = 0;
    r.id = NULL;
    r.binary_default = 1;
    if (fy__codec_v2_encode("multi", "1", multi, &r, 2, out, &body, &len, &jlen, &d) == FY_OK) {
        FY_CHECK_EQ(len, jlen + 16 + 24);
        FY_CHECK(memcmp(body + jlen, av, 16) == 0 && memcmp(body + jlen + 16, bv, 24) == 0);
        free(body);
    } else
        FY_CHECK(0);
    /* an output that was not computed */
    r.n_outputs_wanted = 1;
    r.outputs_wanted[0] = (char *)"yb";
    FY_CHECK_EQ(fy__codec_v2_encode("multi", "1", multi, &r, 1, out, &body, &len, &jlen, &d),
                FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "output 'yb' was not computed");
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(metadata)
{
    char *body;
    size_t len;
    const char *versions[2] = {"1", "2"};
    if (fy__codec_v2_metadata("multi", versions, 2, multi, &body, &len) == FY_OK) {
        FY_CHECK_STR(body, "{\"name\":\"multi\",\"versions\":[\"1\",\"2\"],\"platform\":"
                           "\"ferry_onnx\",\"inputs\":[{\"name\":\"a\",\"datatype\":\"FP32\","
                           "\"shape\":[-1,2]},{\"name\":\"b\",\"datatype\":\"INT64\",\"shape\":"
                           "[-1,3]}],\"outputs\":[{\"name\":\"ya\",\"datatype\":\"FP32\","
                           "\"shape\":[-1,2]},{\"name\":\"yb\",\"datatype\":\"INT64\",\"shape\":"
                           "[-1,3]}]}");
        free(body);
    } else
        FY_CHECK(0);
    if (fy__codec_v2_metadata("any", NULL, 0, anyrank, &body, &len) == FY_OK) {
        FY_CHECK_CONTAINS(body, "\"versions\":[],");
        FY_CHECK_CONTAINS(body, "{\"name\":\"any\",\"datatype\":\"FP64\",\"shape\":[-1]}");
        free(body);
    } else
        FY_CHECK(0);
    if (fy__codec_tf_metadata("fashion", "1", fashion, &body, &len) == FY_OK) {
        FY_CHECK_STR(body,
                     "{\"model_spec\":{\"name\":\"fashion\",\"signature_name\":\"\",\"version\":"
                     "\"1\"},\"metadata\":{\"signature_def\":{\"signature_def\":{\"serving_"
                     "default\":{\"inputs\":{\"image\":{\"dtype\":\"DT_FLOAT\",\"tensor_shape\":"
                     "{\"dim\":[{\"size\":\"-1\",\"name\":\"N\"},{\"size\":\"1\",\"name\":\"\"},"
                     "{\"size\":\"28\",\"name\":\"\"},{\"size\":\"28\",\"name\":\"\"}],"
                     "\"unknown_rank\":false},\"name\":\"image\"}},\"outputs\":{\"probabilities\":"
                     "{\"dtype\":\"DT_FLOAT\",\"tensor_shape\":{\"dim\":[{\"size\":\"-1\",\"name\":"
                     "\"N\"},{\"size\":\"10\",\"name\":\"\"}],\"unknown_rank\":false},\"name\":"
                     "\"probabilities\"}},\"method_name\":\"tensorflow/serving/predict\"}}}}}");
        free(body);
    } else
        FY_CHECK(0);
    if (fy__codec_tf_metadata("any", "7", anyrank, &body, &len) == FY_OK) {
        FY_CHECK_CONTAINS(body, "\"tensor_shape\":{\"dim\":[],\"unknown_rank\":true}");
        free(body);
    } else
        FY_CHECK(0);
    /* names from outside are escaped */
    if (fy__codec_v2_metadata("a\"b", NULL, 0, multi, &body, &len) == FY_OK) {
        FY_CHECK_CONTAINS(body, "{\"name\":\"a\\\"b\",");
        free(body);
    } else
        FY_CHECK(0);
    FY_CHECK_STR(fy__v2_datatype(FY_DTYPE_BF16), "BF16");
    FY_CHECK(fy__v2_datatype(FY_DTYPE_UNDEFINED) == NULL);
    FY_CHECK_EQ(fy__v2_dtype("UINT16"), FY_DTYPE_U16);
    FY_CHECK_EQ(fy__v2_dtype("fp32"), FY_DTYPE_UNDEFINED);
    FY_CHECK_EQ(fy__v2_dtype(NULL), FY_DTYPE_UNDEFINED);
}

/* ------------------------------------------------------------------------- */
/* Allocation failures                                                        */
/* ------------------------------------------------------------------------- */

/* Fail allocation 1, 2, ... until the call succeeds: every failure must be
 * FY_ENOMEM (leaks show in the san build). Returns how many points were tried. */
static int oom_decode(int proto, const fy_model *m, const char *body, size_t len, size_t json_len)
{
    for (int n = 1; n < 1000; n++) {
        fy__req r;
        fy_diag d;
        memset(&r, 0, sizeof r);
        fy__alloc_fail_at(n);
        int rc = decode(proto, m, body, len, json_len, &r, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            fy__req_deinit(&r);
            return n;
        }
        if (rc != FY_ENOMEM) {
            fy_test_failed_checks++;
            fprintf(stderr, "alloc failure %d: %d %s\n", n, rc, d.msg);
            return n;
        }
    }
    return 0;
}

TEST(allocation_failures_give_enomem)
{
    char *flat = pixels(0);
    char *b = strf("{\"instances\":[[%s],[%s]]}", flat, flat);
    FY_CHECK(oom_decode(P_PREDICT, fashion, b, strlen(b), strlen(b)) > 1);
    FY_CHECK(oom_decode(P_TF, fashion, b, strlen(b), strlen(b)) > 1);
    free(b);
    const char *v2 =
        "{\"id\":\"x\",\"inputs\":[{\"name\":\"a\",\"shape\":[1,2],\"datatype\":\"FP32\","
        "\"data\":[1,2]},{\"name\":\"b\",\"shape\":[1,3],\"datatype\":\"INT64\","
        "\"data\":[1,2,3]}],\"outputs\":[{\"name\":\"ya\"},{\"name\":\"yb\"}]}";
    FY_CHECK(oom_decode(P_V2, multi, v2, strlen(v2), strlen(v2)) > 4);
    const char *tf = "{\"inputs\":{\"a\":[[1,2]],\"b\":[[1,2,3]]}}";
    FY_CHECK(oom_decode(P_TF, multi, tf, strlen(tf), strlen(tf)) > 2);
    free(flat);

    /* encoders */
    static const int64_t o2[2] = {1, 2}, b2[2] = {1, 3};
    float av[2] = {1, 2};
    int64_t bv[3] = {1, 2, 3};
    fy_tensor out[2] = {mk(FY_DTYPE_F32, 2, o2, av), mk(FY_DTYPE_I64, 2, b2, bv)};
    fy__req r;
    rows_req(&r, 1);
    r.binary_default = 1;
    for (int which = 0; which < 7; which++) {
        int n, rc = FY_ENOMEM;
        for (n = 1; n < 100 && rc == FY_ENOMEM; n++) {
            char *body = NULL;
            size_t len, jlen;
            const char *vs[1] = {"1"};
            fy__alloc_fail_at(n);
            switch (which) {
            case 0:
                rc = fy__codec_predict_encode(multi, "a\nb", 3, &r, 2, out, &body, &len, NULL);
                break;
            case 1:
                rc = fy__codec_v2_encode("m", "1", multi, &r, 2, out, &body, &len, &jlen, NULL);
                break;
            case 2: rc = fy__codec_tf_encode(multi, &r, 2, out, &body, &len, NULL); break;
            case 3: rc = fy__codec_v2_metadata("m", vs, 1, multi, &body, &len); break;
            case 4: rc = fy__codec_tf_metadata("m", "1", multi, &body, &len); break;
            case 5: rc = fy__codec_error("x", &body, &len); break;
            default:
                rc = fy__codec_predict_encode(multi, "a\nb", 3, &r, 1, out, &body, &len, NULL);
                break;
            }
            fy__alloc_fail_at(0);
            if (rc == FY_OK)
                free(body);
            else
                FY_CHECK(body == NULL);
        }
        FY_CHECK_EQ(rc, FY_OK);
    }
    fy__req_deinit(&r);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

int main(void)
{
    if (load_models() != 0)
        return 1;
    RUN(predict_instances_single_and_flat_forms);
    RUN(predict_preprocessing_from_the_manifest);
    RUN(predict_multi_input_rows_and_single_object);
    RUN(predict_malformed);
    RUN(limits_depth_and_elements);
    RUN(v2_json_flat_nested_and_outputs);
    RUN(v2_every_datatype_from_json);
    RUN(v2_binary_tensor_data);
    RUN(v2_malformed);
    RUN(tf_row_and_columnar);
    RUN(tf_malformed);
    RUN(numbers_are_exact_and_json);
    RUN(numbers_ignore_the_locale);
    RUN(error_body_escapes);
    RUN(predict_and_tf_encode);
    RUN(v2_encode_json_and_binary);
    RUN(metadata);
    RUN(allocation_failures_give_enomem);
    fy_model_free(fashion);
    fy_model_free(multi);
    fy_model_free(types);
    fy_model_free(fixed);
    fy_model_free(img);
    fy_model_free(anyrank);
    return TEST_SUMMARY();
}
