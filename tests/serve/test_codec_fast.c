/* SPDX-License-Identifier: MIT */
/* The fast request decoder (src/serve/codec_fast.c) against the jansson path it
 * short-cuts: its number conversion is bit-identical to strtod in the C locale on
 * random and edge-case numbers; for a corpus of valid and malformed bodies, and
 * for thousands of random mutations of them, decoding with the fast path gives
 * the same tensors, or the same error code and message, as the jansson path
 * alone; the hot request shapes do take the fast path; hostile bodies (depth,
 * huge and non-JSON numbers, truncation, value ceilings) are declined to the
 * jansson path, whose errors stay what they were. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model_builder.h"
#include "serve/serve_int.h"
#include "test.h"

static fy_model *fashion, *multi, *fixed1, *img;

static fy_model *identity_model(const char *gname, int n, const char *const *names,
                                const fy_dtype *dts, const int *ranks, const int64_t (*dims)[4],
                                int sym)
{
    static gb b;
    static char outs[8][32];
    fy_diag d = {{0}};
    gb_init(&b, gname);
    for (int i = 0; i < n; i++)
        gb_input(&b, names[i], dts[i], ranks[i], dims[i]);
    for (int i = 0; i < n; i++) {
        snprintf(outs[i], sizeof outs[i], "y%s", names[i]);
        gb_output(&b, outs[i], dts[i], ranks[i], dims[i]);
        gb_node(&b, "Identity", 1, 1, names[i], outs[i]);
    }
    for (int v = 0; sym && v < 2 * n; v++) {
        b.dims[v][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        b.dims[v][0].dim_param = (char *)"N";
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
    static const char *mn[2] = {"a", "b"};
    static const fy_dtype mt[2] = {FY_DTYPE_F32, FY_DTYPE_F32};
    static const int mr[2] = {2, 3};
    static const int64_t md[2][4] = {{1, 2}, {1, 2, 2}};
    multi = identity_model("multi", 2, mn, mt, mr, md, 1);
    static const char *fn[1] = {"x"};
    static const int fr[1] = {2};
    static const int64_t fd[1][4] = {{2, 3}};
    fixed1 = identity_model("fixed", 1, fn, mt, fr, fd, 0);
    static const char *in[1] = {"img"};
    static const int ir[1] = {4};
    static const int64_t id[1][4] = {{1, 3, 2, 2}};
    img = identity_model("img", 1, in, mt, ir, id, 1);
    return multi && fixed1 && img ? 0 : -1;
}

/* ------------------------------------------------------------------------- */
/* Numbers                                                                    */
/* ------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Both conversions of one token agree: same length and kind, the same double
 * bits as strtod (this test runs in the C locale), the same integer as strtoll. */
static int number_agrees(const char *tok)
{
    int kind;
    int64_t iv = 0;
    double dv = 0;
    size_t n = strlen(tok);
    size_t k = fy__json_number(tok, n, &kind, &iv, &dv);
    if (k != n) {
        fprintf(stderr, "'%s': length %zu, want %zu\n", tok, k, n);
        return 0;
    }
    int is_int = !strpbrk(tok, ".eE");
    if (kind == FY_JNUM_DECLINE)
        return is_int ? strlen(tok) - (tok[0] == '-') > 18 : 1;
    if (is_int) {
        long long want = strtoll(tok, NULL, 10);
        if (kind != FY_JNUM_INT || iv != want) {
            fprintf(stderr, "'%s': integer %lld, want %lld\n", tok, (long long)iv, want);
            return 0;
        }
        return 1;
    }
    double want = strtod(tok, NULL);
    if (kind != FY_JNUM_REAL || memcmp(&want, &dv, sizeof dv) != 0) {
        fprintf(stderr, "'%s': %.17g, want %.17g\n", tok, dv, want);
        return 0;
    }
    return 1;
}

TEST(numbers_match_strtod)
{
    static const char *edge[] = {"0",
                                 "-0",
                                 "0.0",
                                 "-0.0",
                                 "1",
                                 "-1",
                                 "0e0",
                                 "0E+5",
                                 "-0e-5",
                                 "1e0",
                                 "1E22",
                                 "1e23",
                                 "1e-22",
                                 "1e-23",
                                 "123456789012345678",
                                 "-123456789012345678",
                                 "1234567890123456789",
                                 "9007199254740992.0",
                                 "9007199254740993.0",
                                 "9007199254740993",
                                 "0.1",
                                 "0.2",
                                 "0.3",
                                 "0.00392156862745098",
                                 "0.003922",
                                 "0.123456789012345678901234567890",
                                 "1.7976931348623157e308",
                                 "1.7976931348623158e308",
                                 "1.7976931348623159e308",
                                 "1e309",
                                 "-1e999999999",
                                 "4.9e-324",
                                 "2.4703282292062327e-324",
                                 "2.4703282292062328e-324",
                                 "1e-400",
                                 "2.2250738585072011e-308",
                                 "2.2250738585072014e-308",
                                 "3.4028234663852886e38",
                                 "3.4028235677973366e38",
                                 "255",
                                 "255.0",
                                 "25.5e1",
                                 "0.000000000000000000000000000001",
                                 "100000000000000000000000.0",
                                 "1.00000000000000011102230246251565404236316680908203125",
                                 "1.00000000000000011102230246251565404236316680908203124",
                                 "8.98846567431158e307",
                                 "4503599627370496.5",
                                 "4503599627370497.5",
                                 "1e+0",
                                 "1E-0",
                                 "12e3",
                                 "7.0e-10"};
    int bad = 0;
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        bad += !number_agrees(edge[i]);
    FY_CHECK_EQ(bad, 0);
    /* random tokens: up to 25 digits, a fraction, an exponent */
    char tok[512];
    for (int t = 0; t < 200000; t++) {
        size_t k = 0;
        if (next() & 1)
            tok[k++] = '-';
        int nd = 1 + (int)(next() % 20), lead = (int)(next() % 4);
        if (lead == 0) {
            tok[k++] = '0';
        } else {
            tok[k++] = (char)('1' + next() % 9);
            for (int i = 1; i < nd; i++)
                tok[k++] = (char)('0' + next() % 10);
        }
        if (next() % 3) {
            tok[k++] = '.';
            int nf = 1 + (int)(next() % 22);
            for (int i = 0; i < nf; i++)
                tok[k++] = (char)('0' + (next() % 4 == 0 ? 0 : next() % 10));
        }
        if (next() % 3 == 0) {
            tok[k++] = next() & 1 ? 'e' : 'E';
            int s = (int)(next() % 3);
            if (s)
                tok[k++] = s == 1 ? '+' : '-';
            k += (size_t)snprintf(tok + k, sizeof tok - k, "%d", (int)(next() % 340));
        }
        tok[k] = 0;
        bad += !number_agrees(tok);
        if (bad > 5)
            break;
    }
    /* the decimal forms of random doubles and floats (what clients send) */
    for (int t = 0; t < 200000 && bad <= 5; t++) {
        uint64_t u = next();
        double x;
        memcpy(&x, &u, sizeof x);
        if (!isfinite(x))
            continue;
        static const char *fmt[] = {"%.17g", "%.9g", "%.6f", "%.3e", "%.15g"};
        snprintf(tok, sizeof tok, fmt[t % 5], t % 2 ? x : (double)(float)(x * 1e-300));
        if (!strpbrk(tok, ".e"))
            continue; /* "%.6f" may print an integer-looking huge value */
        bad += !number_agrees(tok);
    }
    FY_CHECK_EQ(bad, 0);
}

TEST(non_json_numbers_are_refused)
{
    static const char *bad[] = {"01", "-",   "-a",  "1.",   ".5",       "1e",        "1e+",
                                "+1", "NaN", "nan", "Inf",  "Infinity", "-Infinity", "0x10",
                                " 1", "-01", "00",  "1.e5", "--1",      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int kind;
        int64_t iv;
        double dv;
        size_t n = strlen(bad[i]);
        size_t k = fy__json_number(bad[i], n, &kind, &iv, &dv);
        /* either no number at all, or a prefix (then the caller sees what follows) */
        if (k == n && n > 0) {
            fprintf(stderr, "'%s' accepted\n", bad[i]);
            FY_CHECK(0);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Bodies: fast (with fallback) against jansson only                          */
/* ------------------------------------------------------------------------- */

enum { P_PREDICT, P_V2 };

static int same_req(const fy__req *a, const fy__req *b)
{
    if (a->n_inputs != b->n_inputs || a->single != b->single ||
        (a->id == NULL) != (b->id == NULL) || (a->id && strcmp(a->id, b->id) != 0) ||
        a->n_outputs_wanted != b->n_outputs_wanted)
        return 0;
    for (int k = 0; k < a->n_inputs; k++) {
        const fy_tensor *x = &a->inputs[k], *y = &b->inputs[k];
        if (x->dtype != y->dtype || x->rank != y->rank ||
            memcmp(x->dims, y->dims, (size_t)x->rank * sizeof x->dims[0]) != 0 ||
            fy_tensor_nbytes(x) != fy_tensor_nbytes(y) ||
            memcmp(x->data, y->data, fy_tensor_nbytes(x)) != 0)
            return 0;
    }
    return 1;
}

static int took_fast; /* bodies the fast path accepted */

/* Decodes body both ways; they must agree exactly. Returns the fast path's code. */
static int agree(int proto, const fy_model *m, const fy_manifest *man, const char *body, size_t len)
{
    fy__req a, b, c;
    fy_diag da, db, dc;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&c, 0, sizeof c);
    da.msg[0] = db.msg[0] = dc.msg[0] = 0;
    int ra, rb, rf;
    if (proto == P_PREDICT) {
        ra = fy__codec_predict_decode(body, len, m, man, &a, &da);
        rb = fy__codec_predict_decode_json(body, len, m, man, &b, &db);
        rf = fy__codec_predict_fast(body, len, m, &c, &dc);
    } else {
        ra = fy__codec_v2_decode(body, len, len, m, &a, &da);
        rb = fy__codec_v2_decode_json(body, len, len, m, &b, &db);
        rf = fy__codec_v2_fast(body, len, len, m, &c, &dc);
    }
    int ok = ra == rb && (ra != FY_OK ? strcmp(da.msg, db.msg) == 0 : same_req(&a, &b));
    /* when the fast path accepts, the jansson path accepts too */
    ok &= rf != FY_OK || rb == FY_OK;
    if (rf == FY_OK)
        took_fast++;
    if (!ok)
        fprintf(stderr, "disagree on %.*s\n  fast+fallback %d '%s'\n  jansson %d '%s'\n  fast %d\n",
                (int)(len > 300 ? 300 : len), body, ra, da.msg, rb, db.msg, rf);
    FY_CHECK(ok);
    fy__req_deinit(&a);
    fy__req_deinit(&b);
    fy__req_deinit(&c);
    return rf;
}

static char *pixels_json(int nested, int real)
{
    size_t cap = 784 * 24 + 256, k = 0;
    char *s = malloc(cap);
    for (int i = 0; i < 784; i++) {
        if (nested && i % 28 == 0)
            k += (size_t)snprintf(s + k, cap - k, "%s[", i ? "," : "");
        else if (i)
            s[k++] = ',';
        int v = (i * 37) % 256;
        if (real == 1)
            k += (size_t)snprintf(s + k, cap - k, "%.6g", v / 255.0);
        else if (real == 2)
            k += (size_t)snprintf(s + k, cap - k, "%.17g", v / 255.0);
        else
            k += (size_t)snprintf(s + k, cap - k, "%d", v);
        if (nested && i % 28 == 27)
            s[k++] = ']';
    }
    s[k] = 0;
    return s;
}

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

typedef struct {
    int proto;
    const fy_model **m;
    int expect; /* 1: the fast path takes it, 0: it declines, -1: either */
    char *body;
} corpus_item;

static corpus_item corpus[128];
static int n_corpus;

static int expect = 1;

static void add(int proto, const fy_model **m, char *body)
{
    if (n_corpus < (int)(sizeof corpus / sizeof corpus[0]))
        corpus[n_corpus++] = (corpus_item){proto, m, expect, body};
    else
        free(body);
}

static void build_corpus(void)
{
    char *flat = pixels_json(0, 0), *nest = pixels_json(1, 0), *r6 = pixels_json(0, 1),
         *r17 = pixels_json(0, 2), *r6n = pixels_json(1, 1);
    /* valid, hot shapes */
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\": [%s]}", nest));
    add(P_PREDICT, (const fy_model **)&fashion, strf(" {\n\"image\" :\t[[%s]] }\r\n", nest));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"instances\":[[%s]]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion,
        strf("{\"instances\":[[%s],[%s],[[%s]]]}", flat, nest, nest));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"instances\":[[%s],[%s]]}", r6, r17));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s]}", r17));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             r6));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"id\":\"req-7\",\"inputs\":[{\"data\":[[[%s]]],\"datatype\":\"FP32\",\"name\":"
             "\"image\",\"shape\":[1,1,28,28]}]}",
             r6n));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[2,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s,%s]}],\"id\":\"two\"}",
             r17, flat));
    add(P_V2, (const fy_model **)&multi,
        strf("{\"inputs\":[{\"name\":\"b\",\"shape\":[2,2,2],\"datatype\":\"FP32\",\"data\":[1,"
             "2,3,4,5,6,7,8.5]},{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[[-"
             "1e-3,2E2],[3,-0]]}]}"));
    add(P_PREDICT, (const fy_model **)&fixed1, strf("{\"instances\":[[1,2,3],[4,5,6]]}"));
    add(P_PREDICT, (const fy_model **)&img,
        strf("{\"img\":[[[1,2],[3,4]],[[5,6],[7,8]],[[9,10],[11,12]]]}"));
    add(P_PREDICT, (const fy_model **)&img, strf("{\"img\":[1,2,3,4,5,6,7,8,9,10,11,12]}"));
    add(P_PREDICT, (const fy_model **)&img,
        strf("{\"instances\":[[1,2,3,4,5,6,7,8,9,10,11,12],[[[1,2],[3,4]],[[5,6],[7,8]],[[9,10],["
             "11,12]]]]}"));
    add(P_PREDICT, (const fy_model **)&fixed1, strf("{\"instances\":[[1,2,3],[4,5,6e-330]]}"));
    add(P_PREDICT, (const fy_model **)&fixed1,
        strf("{\"instances\":[[1e-45,2e-46,3.4028234663852886e38],[0.1,-0.0,7E+1]]}"));
    /* valid, but the jansson path's (escapes, other keys, big integers, ...) */
    expect = 0;
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"im\\u0061ge\":[%s]}", flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]}],\"outputs\":[{\"name\":\"output\"}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s],\"parameters\":{}}]}",
             flat));
    add(P_PREDICT, (const fy_model **)&fixed1,
        strf("{\"x\":[[1,2,3],[4,5,12345678901234567890]]}"));
    add(P_PREDICT, (const fy_model **)&fixed1,
        strf("{\"instances\":[[1,2,3],[4,5,1234567890123456789]]}"));
    /* malformed */
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s]", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s]}}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,NaN]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,Infinity]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,1e39]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,1e400]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,01]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s,-]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[1,2,3]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[[1,2],[3]]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[[1,2],3]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[1,[2,3]]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[]}"));
    add(P_PREDICT, (const fy_model **)&fashion,
        strf("{\"image\":[%s],\"image\":[%s]}", flat, flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s],\"x\":1}", flat));
    add(P_PREDICT, (const fy_model **)&fashion,
        strf("{\"instances\":[[%s]],\"image\":[%s]}", flat, flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"instances\":[[%s],[1]]}", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"instances\":[]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"instances\":[[%s]]} x", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[%s]}\x01", flat));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("[]"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"imag\xc3\xa9\":[1]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[\"1\"]}"));
    add(P_PREDICT, (const fy_model **)&fashion, strf("{\"image\":[true]}"));
    add(P_PREDICT, (const fy_model **)&fixed1, strf("{\"instances\":[[1,2,3]]}"));
    add(P_PREDICT, (const fy_model **)&fixed1, strf("{\"x\":[[1,2,3],[4,5,3.5e38]]}"));
    add(P_PREDICT, (const fy_model **)&multi, strf("{\"a\":[1,2],\"b\":[[1,2],[3,4]]}"));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP64\","
             "\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,784],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,27],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[2,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28.0],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"name\":\"image\",\"shape\":[1,1,28,28],"
             "\"datatype\":\"FP32\",\"data\":[%s]}]}",
             flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]},{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
             "\"data\":[%s]}]}",
             flat, flat));
    add(P_V2, (const fy_model **)&fashion,
        strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\"}]}"));
    add(P_V2, (const fy_model **)&fashion, strf("{\"inputs\":[]}"));
    add(P_V2, (const fy_model **)&fashion, strf("{\"id\":5,\"inputs\":[]}"));
    add(P_V2, (const fy_model **)&multi,
        strf("{\"inputs\":[{\"name\":\"a\",\"shape\":[2,2],\"datatype\":\"FP32\",\"data\":[1,2,3,"
             "4]}]}"));
    add(P_V2, (const fy_model **)&multi,
        strf(
            "{\"inputs\":[{\"name\":\"a\",\"shape\":[67108865,2],\"datatype\":\"FP32\","
            "\"data\":[1]},{\"name\":\"b\",\"shape\":[1,2,2],\"datatype\":\"FP32\",\"data\":[1,2,3,"
            "4]}]}"));
    free(flat);
    free(nest);
    free(r6);
    free(r17);
    free(r6n);
}

TEST(corpus_agrees_and_hot_shapes_take_the_fast_path)
{
    static double mean = 0.5, sd = 0.25;
    fy_manifest man;
    memset(&man, 0, sizeof man);
    man.scale = 1.0 / 255;
    man.n_mean = man.n_std = 1;
    man.mean = &mean;
    man.std = &sd;
    for (int i = 0; i < n_corpus; i++) {
        const corpus_item *c = &corpus[i];
        int rf = agree(c->proto, *c->m, NULL, c->body, strlen(c->body));
        if (c->expect == 1 && rf != FY_OK) {
            fprintf(stderr, "corpus %d declined: %.120s\n", i, c->body);
            FY_CHECK(0);
        }
        if (c->expect == 0 && rf == FY_OK) {
            fprintf(stderr, "corpus %d accepted: %.120s\n", i, c->body);
            FY_CHECK(0);
        }
        if (c->proto == P_PREDICT)
            agree(c->proto, *c->m, &man, c->body, strlen(c->body));
    }
}

/* One random number token of the shapes rows are made of, and the edges of the row
 * loop's exact range: up to 21 digits, up to 25 places, signs, lone and leading
 * zeros, sometimes an exponent or a space that send the rest to the general loop. */
static int random_token(char *t, size_t cap)
{
    static const char *edge[] = {"0",
                                 "-0",
                                 "0.0",
                                 "-0.0",
                                 "999999999",
                                 "1000000000",
                                 "-999999999",
                                 "9007199254740992.5",
                                 "0.9007199254740993",
                                 "1e3",
                                 "0.5E-2",
                                 "0.1234567890123456789",
                                 "0.0000000000000000000000001"};
    uint64_t r = next();
    if (r % 16 == 0)
        return snprintf(t, cap, "%s", edge[(r >> 8) % (sizeof edge / sizeof edge[0])]);
    int k = 0;
    if (r & 0x10)
        t[k++] = '-';
    int ndig = 1 + (int)((r >> 5) % 12), places = (r >> 9) % 3 ? (int)((r >> 11) % 26) : 0;
    t[k++] = ndig == 1 || (r >> 16) % 4 == 0 ? '0' + (char)((r >> 20) % 10)
                                             : '1' + (char)((r >> 20) % 9);
    for (int i = 1; i < ndig && t[0 + (t[0] == '-')] != '0'; i++)
        t[k++] = '0' + (char)(next() % 10);
    if (places) {
        t[k++] = '.';
        for (int i = 0; i < places; i++)
            t[k++] = '0' + (char)(next() % 10);
    }
    if ((r >> 30) % 50 == 0)
        k += snprintf(t + k, cap - (size_t)k, "e%d", (int)((r >> 36) % 40) - 20);
    if ((r >> 42) % 60 == 0)
        t[k++] = ' ';
    t[k] = 0;
    return k;
}

/* Whole rows of random numbers (the row loop's territory) decode bit for bit as the
 * jansson path decodes them, flat and nested, through /predict and V2. */
TEST(random_rows_agree)
{
    const size_t cap = 784 * 48 + 256;
    char *body = malloc(cap);
    int fast_before = took_fast, bodies = 0;
    for (int b = 0; b < 600; b++) {
        int v2 = b & 1, nested = (b >> 1) & 1;
        size_t k = (size_t)snprintf(body, cap,
                                    v2 ? "{\"inputs\":[{\"name\":\"%s\",\"shape\":[1,1,28,"
                                         "28],\"datatype\":\"FP32\",\"data\":["
                                       : "{\"%s\":[",
                                    "image");
        for (int i = 0; i < 784; i++) {
            if (nested && i % 28 == 0)
                k += (size_t)snprintf(body + k, cap - k, "%s[", i ? "," : "");
            else if (i)
                body[k++] = ',';
            k += (size_t)random_token(body + k, 40);
            if (nested && i % 28 == 27)
                body[k++] = ']';
        }
        k += (size_t)snprintf(body + k, cap - k, v2 ? "]}]}" : "]}");
        agree(v2 ? P_V2 : P_PREDICT, fashion, NULL, body, k);
        bodies++;
    }
    free(body);
    /* most rows hold an exponent or a space somewhere, which the whole body still
     * takes fast (the general loop reads those), unless a number is out of range */
    fprintf(stderr, "random rows: %d of %d took the fast path\n", took_fast - fast_before, bodies);
    FY_CHECK(took_fast - fast_before > bodies / 4);
}

/* Random mutations of the corpus: flipped, deleted, inserted and duplicated bytes,
 * cuts, and tokens JSON does not have; both paths must still agree. */
TEST(mutations_agree)
{
    static const char *toks[] = {"NaN",    "-",    "1e999", "\\",   "\"",     "[",
                                 "]",      "{",    "}",     ",",    ":",      "0",
                                 "-0",     "01",   ".5",    "1.",   "e5",     " ",
                                 "\x80",   "\x00", "null",  "true", "1e-999", "9999999999999999999",
                                 "3.5e38", "\t\n"};
    size_t cap = 1 << 16;
    char *buf = malloc(cap);
    int before = took_fast;
    for (int t = 0; t < 20000; t++) {
        const corpus_item *c = &corpus[next() % (uint64_t)n_corpus];
        size_t len = strlen(c->body);
        if (len + 64 > cap)
            continue;
        memcpy(buf, c->body, len);
        int edits = 1 + (int)(next() % 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = (size_t)(next() % len);
            switch (next() % 6) {
            case 0: buf[at] = (char)(next() & 0xff); break;
            case 1:
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            case 2: len = at; break;
            case 3: {
                const char *tk = toks[next() % (sizeof toks / sizeof toks[0])];
                size_t tl = tk[0] ? strlen(tk) : 1;
                if (len + tl < cap) {
                    memmove(buf + at + tl, buf + at, len - at);
                    memcpy(buf + at, tk, tl);
                    len += tl;
                }
                break;
            }
            case 4: { /* replace a number-ish run with a token */
                size_t end = at;
                while (end < len && buf[end] != ',' && buf[end] != ']')
                    end++;
                const char *tk = toks[next() % (sizeof toks / sizeof toks[0])];
                size_t tl = tk[0] ? strlen(tk) : 1;
                if (len - (end - at) + tl < cap) {
                    memmove(buf + at + tl, buf + end, len - end);
                    memcpy(buf + at, tk, tl);
                    len = len - (end - at) + tl;
                }
                break;
            }
            default:
                if (len + 1 < cap) {
                    memmove(buf + at + 1, buf + at, len - at);
                    len++;
                }
                break;
            }
        }
        agree(c->proto, *c->m, NULL, buf, len);
        if (fy_test_failed_checks > 3)
            break;
    }
    /* many mutations leave the body valid (a digit changed): those took the fast path */
    fprintf(stderr, "mutations: %d of 20000 took the fast path\n", took_fast - before);
    FY_CHECK(took_fast - before > 300);
    free(buf);
}

TEST(hostile_bodies)
{
    /* nesting deeper than the tensor ranks and than the JSON ceiling */
    char deep[300];
    size_t k = (size_t)snprintf(deep, sizeof deep, "{\"image\":");
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    deep[k++] = '1';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    FY_CHECK(agree(P_PREDICT, fashion, NULL, deep, k) == FY__FAST_DECLINED);
    k = (size_t)snprintf(deep, sizeof deep, "{\"image\":");
    for (int i = 0; i < 9; i++)
        deep[k++] = '[';
    deep[k++] = '1';
    for (int i = 0; i < 9; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    FY_CHECK(agree(P_PREDICT, fashion, NULL, deep, k) == FY__FAST_DECLINED);
    /* every truncation of a valid body */
    char *flat = pixels_json(0, 1);
    char *b = strf("{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
                   "\"data\":[%s]}]}",
                   flat);
    size_t len = strlen(b);
    for (size_t cut = 0; cut < len; cut += 7)
        FY_CHECK(agree(P_V2, fashion, NULL, b, cut) != FY_OK);
    FY_CHECK(agree(P_V2, fashion, NULL, b, len) == FY_OK);
    free(b);
    free(flat);
    /* a long number token (longer than the fast path's conversion buffer) */
    char *lng = malloc(5000);
    k = (size_t)snprintf(lng, 5000, "{\"x\":[[1,2,3],[4,5,0.");
    for (int i = 0; i < 3000; i++)
        lng[k++] = (char)('0' + i % 10);
    k += (size_t)snprintf(lng + k, 5000 - k, "]]}");
    FY_CHECK(agree(P_PREDICT, fixed1, NULL, lng, k) == FY__FAST_DECLINED);
    free(lng);
    /* more values than FY_JSON_MAX_VALUES: declined, then refused by the jansson
     * path's scan with its message */
    size_t n = (size_t)FY_JSON_MAX_VALUES + 2, blen = 2 * n + 32;
    char *big = malloc(blen);
    k = (size_t)snprintf(big, blen, "{\"instances\":[[");
    for (size_t i = 0; i < n; i++) {
        big[k++] = '0';
        big[k++] = ',';
    }
    k--;
    k += (size_t)snprintf(big + k, blen - k, "]]}");
    fy__req r;
    fy_diag d;
    memset(&r, 0, sizeof r);
    FY_CHECK_EQ(fy__codec_predict_fast(big, k, fixed1, &r, &d), FY__FAST_DECLINED);
    FY_CHECK_EQ(fy__codec_predict_decode(big, k, fixed1, NULL, &r, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "JSON holds more than");
    free(big);
    /* numbers past what the scan buffer holds on the stack grow it on the heap */
    size_t rows = 3000;
    big = malloc(rows * 12 + 64);
    k = (size_t)snprintf(big, rows * 12 + 64, "{\"instances\":[");
    for (size_t i = 0; i < rows; i++)
        k += (size_t)snprintf(big + k, rows * 12 + 64 - k, "%s[%zu,1,2]", i ? "," : "", i);
    k += (size_t)snprintf(big + k, rows * 12 + 64 - k, "]}");
    memset(&r, 0, sizeof r);
    FY_CHECK_EQ(fy__codec_predict_fast(big, k, fixed1, &r, &d),
                FY__FAST_DECLINED); /* dims[0] = 2 */
    FY_CHECK_EQ(agree(P_PREDICT, img, NULL, big, k), FY__FAST_DECLINED);
    free(big);
    static const char *sym_names[1] = {"v"};
    static const fy_dtype sym_dt[1] = {FY_DTYPE_F32};
    static const int sym_rank[1] = {2};
    static const int64_t sym_dims[1][4] = {{1, 3}};
    fy_model *sym = identity_model("sym", 1, sym_names, sym_dt, sym_rank, sym_dims, 1);
    FY_CHECK(sym != NULL);
    if (sym) {
        big = malloc(rows * 24 + 64);
        k = (size_t)snprintf(big, rows * 24 + 64, "{\"instances\":[");
        for (size_t i = 0; i < rows; i++)
            k += (size_t)snprintf(big + k, rows * 24 + 64 - k, "%s[%zu,1.5,-2e3]", i ? "," : "", i);
        k += (size_t)snprintf(big + k, rows * 24 + 64 - k, "]}");
        FY_CHECK_EQ(agree(P_PREDICT, sym, NULL, big, k), FY_OK);
        /* allocation failures while growing are FY_ENOMEM, never a decline */
        for (long fail = 1; fail < 20; fail++) {
            memset(&r, 0, sizeof r);
            fy__alloc_fail_at(fail);
            int rc = fy__codec_predict_fast(big, k, sym, &r, &d);
            fy__alloc_fail_at(0);
            if (rc == FY_OK) {
                fy__req_deinit(&r);
                break;
            }
            FY_CHECK_EQ(rc, FY_ENOMEM);
        }
        free(big);
        fy_model_free(sym);
    }
}

int main(void)
{
    if (load_models() != 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    build_corpus();
    RUN(numbers_match_strtod);
    RUN(non_json_numbers_are_refused);
    RUN(corpus_agrees_and_hot_shapes_take_the_fast_path);
    RUN(random_rows_agree);
    RUN(mutations_agree);
    RUN(hostile_bodies);
    for (int i = 0; i < n_corpus; i++)
        free(corpus[i].body);
    fy_model_free(fashion);
    fy_model_free(multi);
    fy_model_free(fixed1);
    fy_model_free(img);
    return TEST_SUMMARY();
}
