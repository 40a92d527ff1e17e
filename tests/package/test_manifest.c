/* SPDX-License-Identifier: MIT */
/* ferry.yaml: a full manifest reads back field by field; every refusal (hostile
 * bytes, YAML features, schema rules) returns its code with "FILE:LINE: FIELD:
 * RULE"; the example checks against its model; the template parses and checks
 * against the model it came from; allocation failures give FY_ENOMEM, no leaks. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/package.h"
#include "model_builder.h"
#include "test.h"

/* Every line number below refers to this text. */
static const char BASE[] = "apiVersion: ferry/v1\n"                                        /* 1 */
                           "name: fashion-cnn\n"                                           /* 2 */
                           "version: 1.0.0-rc.1+build.5\n"                                 /* 3 */
                           "description: A test model.\n"                                  /* 4 */
                           "license: MIT\n"                                                /* 5 */
                           "authors: [Ada, Grace]\n"                                       /* 6 */
                           "source: {framework: pytorch, framework_version: \"1.13.0\"}\n" /* 7 */
                           "model:\n"                                                      /* 8 */
                           "  format: onnx\n"                                              /* 9 */
                           "  file: models/fashion_cnn.onnx\n"                             /* 10 */
                           "signature:\n"                                                  /* 11 */
                           "  inputs:\n"                                                   /* 12 */
                           "    - name: image\n"                                           /* 13 */
                           "      dtype: float32\n"                                        /* 14 */
                           "      shape: [N, 1, 28, 28]\n"                                 /* 15 */
                           "  outputs:\n"                                                  /* 16 */
                           "    - name: probabilities\n"                                   /* 17 */
                           "      dtype: float32\n"                                        /* 18 */
                           "      shape: [N, 10]\n"                                        /* 19 */
                           "preprocessing:\n"                                              /* 20 */
                           "  scale: 1/255\n"                                              /* 21 */
                           "  mean: [0.5]\n"                                               /* 22 */
                           "  std: [0.25]\n"                                               /* 23 */
                           "  layout: NCHW\n"                                              /* 24 */
                           "postprocessing:\n"                                             /* 25 */
                           "  labels: labels.txt\n"                                        /* 26 */
                           "requirements:\n"                                               /* 27 */
                           "  arch: [x86_64, aarch64]\n"                                   /* 28 */
                           "  cpu_features: [avx2, fma]\n"                                 /* 29 */
                           "  min_memory_mb: 64\n"                                         /* 30 */
                           "  min_disk_mb: 8\n"                                            /* 31 */
                           "  threads: 2\n"                                                /* 32 */
                           "  ferry: \">=0.1.0 <1.0.0\"\n"                                 /* 33 */
                           "serving:\n"                                                    /* 34 */
                           "  max_batch_size: 32\n"                                        /* 35 */
                           "  max_queue_delay_ms: 2.5\n"                                   /* 36 */
                           "  instances: 3\n"                                              /* 37 */
                           "tests:\n"                                                      /* 38 */
                           "  dataset: idx:/data/images.gz,/data/labels.gz\n"              /* 39 */
                           "  metric: accuracy\n"                                          /* 40 */
                           "  min: 0.9\n"                                                  /* 41 */
                           "  max_p99_latency_ms: 100\n"                                   /* 42 */
                           "  min_throughput_per_s: 500\n";                                /* 43 */

#define SIG_BLOCK                                                                                  \
    "signature:\n  inputs:\n    - name: image\n      dtype: float32\n      shape: [N, 1, 28, "     \
    "28]\n"                                                                                        \
    "  outputs:\n    - name: probabilities\n      dtype: float32\n      shape: [N, 10]\n"
#define TESTS_BLOCK                                                                                \
    "tests:\n  dataset: idx:/data/images.gz,/data/labels.gz\n  metric: accuracy\n  min: 0.9\n"     \
    "  max_p99_latency_ms: 100\n  min_throughput_per_s: 500\n"

/* BASE with the first occurrence of `find` replaced (malloc'd). */
static char *with(const char *find, const char *repl)
{
    const char *at = strstr(BASE, find);
    if (!at) {
        fprintf(stderr, "test bug: '%s' not in BASE\n", find);
        abort();
    }
    size_t pre = (size_t)(at - BASE), fl = strlen(find), rl = strlen(repl);
    char *s = malloc(sizeof BASE - fl + rl);
    memcpy(s, BASE, pre);
    memcpy(s + pre, repl, rl);
    memcpy(s + pre + rl, at + fl, sizeof BASE - pre - fl);
    return s;
}

static int parse(const char *text, size_t len, fy_diag *d)
{
    fy_manifest *m = NULL;
    int rc = fy_manifest_parse(&m, text, len, "t.yaml", d);
    if (rc == FY_OK)
        fy_manifest_free(m);
    else
        FY_CHECK(m == NULL);
    return rc;
}

/* Expect a refusal: code, "t.yaml:LINE: FIELD: " at the start, rule text inside. */
static void refused_text(const char *text, size_t len, int code, int line, const char *field,
                         const char *rule)
{
    fy_diag d = {{0}};
    char prefix[256];
    FY_CHECK_EQ(parse(text, len, &d), code);
    snprintf(prefix, sizeof prefix, "t.yaml:%d: %s: ", line, field);
    if (strncmp(d.msg, prefix, strlen(prefix)) != 0) {
        fy_test_failed_checks++;
        fprintf(stderr, "message \"%s\" does not start with \"%s\"\n", d.msg, prefix);
    }
    FY_CHECK_CONTAINS(d.msg, rule);
}

static void refused(const char *find, const char *repl, int code, int line, const char *field,
                    const char *rule)
{
    char *s = with(find, repl);
    refused_text(s, strlen(s), code, line, field, rule);
    free(s);
}

/* ---- valid manifests ---- */

TEST(full_manifest_reads_back_every_field)
{
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_parse(&m, BASE, strlen(BASE), "t.yaml", &d), FY_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    FY_CHECK_STR(m->api_version, "ferry/v1");
    FY_CHECK_STR(m->name, "fashion-cnn");
    FY_CHECK_STR(m->version, "1.0.0-rc.1+build.5");
    FY_CHECK_STR(m->description, "A test model.");
    FY_CHECK_STR(m->license, "MIT");
    FY_CHECK_EQ(m->n_authors, 2);
    FY_CHECK_STR(m->authors[0], "Ada");
    FY_CHECK_STR(m->authors[1], "Grace");
    FY_CHECK_STR(m->framework, "pytorch");
    FY_CHECK_STR(m->framework_version, "1.13.0");
    FY_CHECK_STR(m->model_format, "onnx");
    FY_CHECK_STR(m->model_file, "models/fashion_cnn.onnx");
    FY_CHECK_EQ(m->n_inputs, 1);
    FY_CHECK_STR(m->inputs[0].name, "image");
    FY_CHECK_EQ(m->inputs[0].dtype, FY_DTYPE_F32);
    FY_CHECK_EQ(m->inputs[0].rank, 4);
    FY_CHECK_EQ(m->inputs[0].dims[0], -1);
    FY_CHECK_STR(m->inputs[0].dim_names[0], "N");
    FY_CHECK_EQ(m->inputs[0].dims[1], 1);
    FY_CHECK(m->inputs[0].dim_names[1] == NULL);
    FY_CHECK_EQ(m->inputs[0].dims[2], 28);
    FY_CHECK_EQ(m->inputs[0].dims[3], 28);
    FY_CHECK_EQ(m->n_outputs, 1);
    FY_CHECK_STR(m->outputs[0].name, "probabilities");
    FY_CHECK_EQ(m->outputs[0].dtype, FY_DTYPE_F32);
    FY_CHECK_EQ(m->outputs[0].rank, 2);
    FY_CHECK_EQ(m->outputs[0].dims[0], -1);
    FY_CHECK_STR(m->outputs[0].dim_names[0], "N");
    FY_CHECK_EQ(m->outputs[0].dims[1], 10);
    FY_CHECK_NEAR(m->scale, 1.0 / 255, 1e-15);
    FY_CHECK_EQ(m->n_mean, 1);
    FY_CHECK_NEAR(m->mean[0], 0.5, 0);
    FY_CHECK_EQ(m->n_std, 1);
    FY_CHECK_NEAR(m->std[0], 0.25, 0);
    FY_CHECK_STR(m->layout, "NCHW");
    FY_CHECK_STR(m->labels_file, "labels.txt");
    FY_CHECK_EQ(m->n_archs, 2);
    FY_CHECK_STR(m->archs[0], "x86_64");
    FY_CHECK_STR(m->archs[1], "aarch64");
    FY_CHECK_EQ(m->n_cpu_features, 2);
    FY_CHECK_STR(m->cpu_features[0], "avx2");
    FY_CHECK_STR(m->cpu_features[1], "fma");
    FY_CHECK_EQ(m->min_memory_mb, 64);
    FY_CHECK_EQ(m->min_disk_mb, 8);
    FY_CHECK_EQ(m->threads, 2);
    FY_CHECK_STR(m->ferry_version, ">=0.1.0 <1.0.0");
    FY_CHECK_EQ(m->max_batch_size, 32);
    FY_CHECK_EQ(m->max_queue_delay_us, 2500);
    FY_CHECK_EQ(m->instances, 3);
    FY_CHECK_STR(m->test_dataset, "idx:/data/images.gz,/data/labels.gz");
    FY_CHECK_STR(m->test_metric, "accuracy");
    FY_CHECK_NEAR(m->test_min, 0.9, 0);
    FY_CHECK_NEAR(m->test_max_p99_ms, 100, 0);
    FY_CHECK_NEAR(m->test_min_throughput, 500, 0);
    fy_manifest_free(m);
}

TEST(minimal_manifest_has_defaults)
{
    static const char text[] = "apiVersion: ferry/v1\nname: m\nversion: 0.1.0\n"
                               "model: {file: m.onnx}\n"
                               "signature:\n  inputs: [{name: x, dtype: int64, shape: []}]\n"
                               "  outputs: [{name: y, dtype: bool, shape: [batch_size, 0]}]\n"
                               "description:\nlicense: ~\ntests: null\n";
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_parse(&m, text, strlen(text), NULL, &d), FY_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    FY_CHECK_STR(m->model_format, "onnx");
    FY_CHECK(m->description == NULL && m->license == NULL && m->authors == NULL);
    FY_CHECK(m->framework == NULL && m->labels_file == NULL && m->layout == NULL);
    FY_CHECK(m->archs == NULL && m->ferry_version == NULL && m->test_dataset == NULL);
    FY_CHECK_EQ(m->inputs[0].rank, 0);
    FY_CHECK_EQ(m->inputs[0].dtype, FY_DTYPE_I64);
    FY_CHECK_EQ(m->outputs[0].dtype, FY_DTYPE_BOOL);
    FY_CHECK_STR(m->outputs[0].dim_names[0], "batch_size");
    FY_CHECK_EQ(m->outputs[0].dims[1], 0);
    FY_CHECK(m->scale == 0 && m->threads == 0 && m->max_batch_size == 0 && m->instances == 0);
    fy_manifest_free(m);
}

TEST(other_valid_spellings)
{
    static const struct {
        const char *find, *repl;
    } ok[] = {
        {"version: 1.0.0-rc.1+build.5", "version: 0.0.0"},
        {"version: 1.0.0-rc.1+build.5", "version: \"10.20.30-alpha.beta-1.0+001\""},
        {"ferry: \">=0.1.0 <1.0.0\"", "ferry: \"=0.1.0\""},
        {"ferry: \">=0.1.0 <1.0.0\"", "ferry: \">0.1.0-rc.1 <=0.1.0\""},
        {"ferry: \">=0.1.0 <1.0.0\"", "ferry: \">=1.0.0-alpha <1.0.0\""},
        {"ferry: \">=0.1.0 <1.0.0\"", "ferry: 0.1.0"},
        {"  scale: 1/255", "  scale: 0.00392156862745098"},
        {"  scale: 1/255", "  scale: 1e-2"},
        {"  mean: [0.5]", "  mean: [-0.5]"},
        {"  max_queue_delay_ms: 2.5", "  max_queue_delay_ms: 0"},
        {"description: A test model.", "description: |\n  Two lines\n  \tand a tab.\n"},
        {"authors: [Ada, Grace]", "authors: []"},
        {"  file: models/fashion_cnn.onnx", "  file: \"my model..v2.onnx\""},
        {"  layout: NCHW", "  layout: NHWC"},
        {"  mean: [0.5]\n  std: [0.25]", "  mean: [0.5]"},
        {"      shape: [N, 1, 28, 28]", "      shape: [N, C, H, W]"},
        {"name: fashion-cnn", "name: 0a.b_c-d"},
        {"apiVersion: ferry/v1\n", "\xef\xbb\xbf"
                                   "apiVersion: ferry/v1\n"},
        {"tests:\n", "---\ntests:\n"},
        {"  min_throughput_per_s: 500\n", "  min_throughput_per_s: 500\n...\n"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        /* "---" must open the document, so that case moves it to the start */
        char *s = i == 18 ? NULL : with(ok[i].find, ok[i].repl);
        if (!s) {
            s = malloc(sizeof BASE + 4);
            memcpy(s, "---\n", 4);
            memcpy(s + 4, BASE, sizeof BASE);
        }
        fy_diag d = {{0}};
        int rc = parse(s, strlen(s), &d);
        if (rc != FY_OK)
            fprintf(stderr, "case %zu: %s\n", i, d.msg);
        FY_CHECK_EQ(rc, FY_OK);
        free(s);
    }
}

/* ---- hostile bytes ---- */

TEST(nul_bytes_are_refused)
{
    char *s = with("license: MIT", "license: M_T");
    *strchr(strstr(s, "license: M"), '_') = 0;
    refused_text(s, strlen(BASE), FY_EPARSE, 5, "(document)", "NUL byte at offset");
    free(s);
    /* a NUL from an escape inside a quoted string */
    refused("license: MIT", "license: \"M\\0T\"", FY_EINVAL, 5, "license",
            "control character 0x00");
    refused("    - name: image", "    - name: \"ima\\tge\"", FY_EINVAL, 13,
            "signature.inputs[0].name", "control character 0x09");
}

TEST(invalid_utf8_is_refused)
{
    refused("A test model.", "A \xff test.", FY_EPARSE, 4, "(document)", "invalid UTF-8");
    refused("A test model.", "A \xc0\xaf test.", FY_EPARSE, 4, "(document)", "invalid UTF-8");
    refused("A test model.", "A \xed\xa0\x80 test.", FY_EPARSE, 4, "(document)", "invalid UTF-8");
    refused("A test model.", "A \xe2\x82", FY_EPARSE, 4, "(document)", "invalid UTF-8");
    /* a UTF-16 byte order mark is not taken as a hint to decode UTF-16 */
    refused_text("\xff\xfe"
                 "a\0:\0",
                 6, FY_EPARSE, 1, "(document)", "invalid UTF-8");
    /* control characters that are valid UTF-8: libyaml's reader refuses them */
    refused("A test model.", "A \x01 test.", FY_EPARSE, 4, "(document)", "invalid YAML");
}

TEST(huge_input_is_refused)
{
    size_t n = FY_MANIFEST_MAX_BYTES + 1;
    char *s = malloc(n);
    memset(s, '#', n);
    refused_text(s, n, FY_ELIMIT, 1, "(document)", "above the limit");
    free(s);
}

TEST(empty_and_non_mapping_documents)
{
    refused_text("", 0, FY_EINVAL, 1, "(document)", "empty manifest");
    refused_text("# only a comment\n", 17, FY_EINVAL, 1, "(document)", "empty manifest");
    refused_text("- a\n- b\n", 8, FY_EINVAL, 1, "(document)", "mapping of fields");
    refused_text("hello\n", 6, FY_EINVAL, 1, "(document)", "mapping of fields");
    refused_text(NULL, 0, FY_EINVAL, 1, "(document)", "empty manifest");
}

/* ---- YAML features ---- */

TEST(anchors_and_aliases_are_refused)
{
    refused("authors: [Ada, Grace]", "authors: [&a Ada, *a]", FY_EPARSE, 6, "authors[0]",
            "anchors are not allowed (&a)");
    refused("authors: [Ada, Grace]", "authors: [Ada, *a]", FY_EPARSE, 6, "authors[1]",
            "aliases are not allowed (*a)");
    /* billion laughs */
    static const char lol[] = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                              "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    refused_text(lol, strlen(lol), FY_EPARSE, 1, "a", "anchors are not allowed");
    static const char alias_key[] = "apiVersion: ferry/v1\n*k : x\n";
    refused_text(alias_key, strlen(alias_key), FY_EPARSE, 2, "(document)",
                 "aliases are not allowed");
    refused("model:\n", "model: &m\n", FY_EPARSE, 8, "model", "anchors are not allowed (&m)");
}

TEST(tags_are_refused)
{
    refused("version: 1.0.0-rc.1+build.5", "version: !!str 1.0.0", FY_EPARSE, 3, "version",
            "tags are not allowed (tag:yaml.org,2002:str)");
    refused("  mean: [0.5]", "  mean: !custom [0.5]", FY_EPARSE, 22, "preprocessing.mean",
            "tags are not allowed (!custom)");
    refused("source: {", "source: !!map {", FY_EPARSE, 7, "source", "tags are not allowed");
    char *s = malloc(sizeof BASE + 64);
    snprintf(s, sizeof BASE + 64, "%%TAG !e! tag:example.com,2000:\n---\n%s", BASE);
    refused_text(s, strlen(s), FY_EPARSE, 1, "(document)", "%TAG directives are not allowed");
    free(s);
}

TEST(nesting_deeper_than_8_is_refused)
{
    refused("description: A test model.", "description: [[[[[[[[x]]]]]]]]", FY_ELIMIT, 4,
            "description[0][0][0][0][0][0][0]", "nested deeper than 8 levels");
    /* 7 levels below the root are fine as YAML (the schema then refuses the type) */
    refused("description: A test model.", "description: [[[[[[[x]]]]]]]", FY_EINVAL, 4,
            "description", "must be a string, got a list");
}

TEST(exactly_one_document)
{
    char *s = malloc(sizeof BASE + 32);
    snprintf(s, sizeof BASE + 32, "%s---\nname: other\n", BASE);
    refused_text(s, strlen(s), FY_EPARSE, 44, "(document)", "a second YAML document");
    free(s);
}

TEST(duplicate_keys_are_refused)
{
    refused("license: MIT\n", "license: MIT\nlicense: BSD-3-Clause\n", FY_EPARSE, 6, "license",
            "duplicate key (first set on line 5)");
    refused("  file: models/fashion_cnn.onnx\n", "  file: a.onnx\n  file: b.onnx\n", FY_EPARSE, 11,
            "model.file", "duplicate key (first set on line 10)");
    refused("source: {framework: pytorch,", "source: {framework: pytorch, framework: jax,",
            FY_EPARSE, 7, "source.framework", "duplicate key");
}

TEST(complex_keys_are_refused)
{
    static const char t[] = "apiVersion: ferry/v1\n? [a, b]\n: c\n";
    refused_text(t, strlen(t), FY_EPARSE, 2, "(document)", "keys must be plain strings");
}

TEST(yaml_syntax_errors_name_the_line)
{
    refused("      shape: [N, 10]", "      shape: [N, 10", FY_EPARSE, 20,
            "signature.outputs[0].shape[2]", "invalid YAML");
    /* libyaml reads ahead: when the scanner fails, the field may not be known yet */
    refused("license: MIT", "license: MIT: BSD", FY_EPARSE, 5, "(document)",
            "invalid YAML: mapping values are not allowed");
    refused("  format: onnx", "   format: onnx", FY_EPARSE, 10, "(document)",
            "invalid YAML: did not find expected key");
    refused("  min_throughput_per_s: 500", "  min_throughput_per_s: \"500", FY_EPARSE, 44,
            "tests.min_throughput_per_s", "invalid YAML: found unexpected end of stream");
}

/* ---- schema ---- */

TEST(unknown_fields_with_hints)
{
    refused("license: MIT", "licence: MIT", FY_EINVAL, 5, "licence",
            "unknown field (did you mean 'license'?)");
    refused("      dtype: float32\n      shape: [N, 1", "      dtyp: float32\n      shape: [N, 1",
            FY_EINVAL, 14, "signature.inputs[0].dtyp", "unknown field (did you mean 'dtype'?)");
    refused("  max_queue_delay_ms: 2.5", "  max_queue_delay: 2.5", FY_EINVAL, 36,
            "serving.max_queue_delay", "did you mean 'max_queue_delay_ms'?");
    refused("apiVersion: ferry/v1", "apiversion: ferry/v1", FY_EINVAL, 1, "apiversion",
            "did you mean 'apiVersion'?");
    /* nothing close: no hint */
    fy_diag d = {{0}};
    char *s = with("license: MIT", "colour: blue");
    FY_CHECK_EQ(parse(s, strlen(s), &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "t.yaml:5: colour: unknown field");
    free(s);
    /* a hostile key is shown escaped and cut */
    refused("license: MIT", "\"\\e[31mred\": 1", FY_EINVAL, 5, "\\x1b[31mred", "unknown field");
}

TEST(required_fields)
{
    refused("apiVersion: ferry/v1\n", "", FY_EINVAL, 1, "apiVersion", "is required");
    refused("name: fashion-cnn\n", "", FY_EINVAL, 1, "name", "is required");
    refused("name: fashion-cnn\n", "name:\n", FY_EINVAL, 1, "name", "is required");
    refused("version: 1.0.0-rc.1+build.5\n", "", FY_EINVAL, 1, "version", "is required");
    refused("  file: models/fashion_cnn.onnx\n", "", FY_EINVAL, 9, "model.file", "is required");
    refused("      dtype: float32\n      shape: [N, 1", "      shape: [N, 1", FY_EINVAL, 13,
            "signature.inputs[0].dtype", "is required");
    refused("  inputs:\n    - name: image\n      dtype: float32\n      shape: [N, 1, 28, 28]\n",
            "  inputs: []\n", FY_EINVAL, 12, "signature.inputs", "at least one entry");
    refused("  outputs:\n    - name: probabilities\n      dtype: float32\n      shape: [N, 10]\n",
            "", FY_EINVAL, 12, "signature.outputs", "is required");
    refused("  metric: accuracy\n", "", FY_EINVAL, 39, "tests.metric", "is required");
    refused("  dataset: idx:/data/images.gz,/data/labels.gz\n", "", FY_EINVAL, 39, "tests.dataset",
            "is required");
}

TEST(api_version)
{
    refused("apiVersion: ferry/v1", "apiVersion: ferry/v2", FY_EUNSUPPORTED, 1, "apiVersion",
            "unsupported version 'ferry/v2'");
}

TEST(wrong_types)
{
    refused("authors: [Ada, Grace]", "authors: Ada", FY_EINVAL, 6, "authors",
            "must be a list, got 'Ada'");
    refused("authors: [Ada, Grace]", "authors: [Ada, [Grace]]", FY_EINVAL, 6, "authors[1]",
            "must be a string, got a list");
    refused("  max_batch_size: 32", "  max_batch_size: many", FY_EINVAL, 35,
            "serving.max_batch_size", "must be an integer, got 'many'");
    refused("  max_batch_size: 32", "  max_batch_size: \"32\"", FY_EINVAL, 35,
            "serving.max_batch_size", "must be an integer, got the quoted string '32'");
    refused("  threads: 2", "  threads: 2.0", FY_EINVAL, 32, "requirements.threads",
            "must be an integer");
    refused("  scale: 1/255", "  scale: [1]", FY_EINVAL, 21, "preprocessing.scale",
            "must be a number, got a list");
    refused("  scale: 1/255", "  scale: 1/2/3", FY_EINVAL, 21, "preprocessing.scale",
            "must be a number");
    refused("  scale: 1/255", "  scale: 1/0", FY_EINVAL, 21, "preprocessing.scale",
            "division by zero");
    refused("  min: 0.9", "  min: 0x10", FY_EINVAL, 41, "tests.min", "must be a number");
    refused("model:\n  format: onnx\n  file: models/fashion_cnn.onnx\n", "model: m.onnx\n",
            FY_EINVAL, 8, "model", "must be a mapping of fields, got 'm.onnx'");
    refused(SIG_BLOCK, "signature: [1]\n", FY_EINVAL, 11, "signature", "must be a mapping");
    refused("      shape: [N, 10]", "      shape: N", FY_EINVAL, 19, "signature.outputs[0].shape",
            "must be a list of dimensions");
    refused("      dtype: float32\n      shape: [N, 10]",
            "      dtype: [float32]\n      shape: [N, 10]", FY_EINVAL, 18,
            "signature.outputs[0].dtype", "must be a dtype name");
    refused("    - name: image", "    - name: {a: 1}", FY_EINVAL, 13, "signature.inputs[0].name",
            "must be a string, got a mapping");
}

TEST(long_strings_lists_and_io_are_refused)
{
    char *big = malloc(4200);
    memcpy(big, "description: ", 13);
    memset(big + 13, 'x', 4097);
    big[13 + 4097] = 0;
    refused("description: A test model.", big, FY_ELIMIT, 4, "description",
            "4097 bytes, above the limit of 4096");
    free(big);

    char list[1024] = "authors: [a0";
    for (int i = 1; i <= FY_MANIFEST_MAX_LIST; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), ", a%d", i);
    snprintf(list + strlen(list), sizeof list - strlen(list), "]");
    refused("authors: [Ada, Grace]", list, FY_ELIMIT, 6, "authors",
            "65 entries, above the limit of 64");

    size_t cap = 64 * 1024, n = 0;
    char *io = malloc(cap);
    n += (size_t)snprintf(io + n, cap - n, "  inputs:\n");
    for (int i = 0; i <= FY_MANIFEST_MAX_IO; i++)
        n +=
            (size_t)snprintf(io + n, cap - n, "    - {name: x%d, dtype: float32, shape: [1]}\n", i);
    refused("  inputs:\n    - name: image\n      dtype: float32\n      shape: [N, 1, 28, 28]\n", io,
            FY_ELIMIT, 13, "signature.inputs", "65 entries, above the limit of 64");
    free(io);

    refused("      shape: [N, 1, 28, 28]", "      shape: [1, 1, 1, 1, 1, 1, 1, 1, 1]", FY_ELIMIT,
            15, "signature.inputs[0].shape", "rank 9 is above the limit of 8");

    /* a flow list of many nodes is cut by the node ceiling, not memory */
    size_t bn = 200000;
    char *flood = malloc(bn + 64);
    size_t o = (size_t)snprintf(flood, 64, "description: [");
    while (o < bn)
        o += (size_t)snprintf(flood + o, 8, "1,");
    memcpy(flood + o, "1]", 3);
    char *s = with("description: A test model.", flood);
    fy_diag d = {{0}};
    FY_CHECK_EQ(parse(s, strlen(s), &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "t.yaml:4: description[");
    FY_CHECK_CONTAINS(d.msg, "more than 16384 YAML nodes");
    free(s);
    free(flood);
}

TEST(dtypes)
{
    fy_diag d = {{0}};
    char *s = with("      dtype: float32\n      shape: [N, 1",
                   "      dtype: flaot32\n      shape: [N, 1");
    FY_CHECK_EQ(parse(s, strlen(s), &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "t.yaml:14: signature.inputs[0].dtype: unknown dtype 'flaot32' (did you "
                        "mean 'float32'?)");
    free(s);
    refused("      dtype: float32\n      shape: [N, 10]",
            "      dtype: Float32\n      shape: [N, 10]", FY_EINVAL, 18,
            "signature.outputs[0].dtype", "(did you mean 'float32'?)");
    refused("      dtype: float32\n      shape: [N, 10]",
            "      dtype: float\n      shape: [N, 10]", FY_EINVAL, 18, "signature.outputs[0].dtype",
            "unknown dtype 'float'");
    refused("      dtype: float32\n      shape: [N, 10]",
            "      dtype: undefined\n      shape: [N, 10]", FY_EINVAL, 18,
            "signature.outputs[0].dtype", "unknown dtype");
}

TEST(shapes)
{
    refused("      shape: [N, 1, 28, 28]", "      shape: [N, -1, 28, 28]", FY_EINVAL, 15,
            "signature.inputs[0].shape[1]", "must not be negative");
    refused("      shape: [N, 1, 28, 28]", "      shape: [\"?\", 1, 28, 28]", FY_EINVAL, 15,
            "signature.inputs[0].shape[0]", "non-negative integer or a name");
    refused("      shape: [N, 1, 28, 28]", "      shape: [N, \"28\", 28, 28]", FY_EINVAL, 15,
            "signature.inputs[0].shape[1]", "non-negative integer or a name");
    refused("      shape: [N, 1, 28, 28]", "      shape: [N, 1, 28, 2.8]", FY_EINVAL, 15,
            "signature.inputs[0].shape[3]", "non-negative integer or a name");
    refused("      shape: [N, 1, 28, 28]", "      shape: [N, 1, [28], 28]", FY_EINVAL, 15,
            "signature.inputs[0].shape[2]", "got a list");
    refused("      shape: [N, 1, 28, 28]", "      shape: [N, 99999999999999999999, 28, 28]",
            FY_EINVAL, 15, "signature.inputs[0].shape[1]", "above the limit");
}

TEST(duplicate_signature_names)
{
    refused("  outputs:\n    - name: probabilities\n",
            "  outputs:\n    - {name: p, dtype: float32, shape: [1]}\n    - name: p\n", FY_EINVAL,
            18, "signature.outputs[1].name", "'p' is declared twice (also signature.outputs[0])");
}

TEST(names)
{
    refused("name: fashion-cnn", "name: Fashion CNN", FY_EINVAL, 2, "name",
            "must match [a-z0-9][a-z0-9._-]{0,62}");
    refused("name: fashion-cnn", "name: -fashion", FY_EINVAL, 2, "name", "must match");
    refused("name: fashion-cnn", "name: fashion/cnn", FY_EINVAL, 2, "name", "must match");
    refused("name: fashion-cnn", "name: \"\"", FY_EINVAL, 2, "name", "must match");
    refused("name: fashion-cnn",
            "name: a123456789012345678901234567890123456789012345678901234567890123", FY_EINVAL, 2,
            "name", "must match");
    char *s = with("name: fashion-cnn",
                   "name: a12345678901234567890123456789012345678901234567890123456789012");
    FY_CHECK_EQ(parse(s, strlen(s), NULL), FY_OK); /* 63 bytes */
    free(s);
}

TEST(versions)
{
    static const char *const bad[] = {"1.2",
                                      "1",
                                      "v1.2.3",
                                      "01.2.3",
                                      "1.02.3",
                                      "1.2.3-",
                                      "1.2.3-alpha..1",
                                      "1.2.3-01",
                                      "1.2.3+",
                                      "1.2.3.4",
                                      "\"\"",
                                      "1.2.3-a_b",
                                      "99999999999999999999.0.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[80];
        snprintf(line, sizeof line, "version: %s", bad[i]);
        refused("version: 1.0.0-rc.1+build.5", line, FY_EINVAL, 3, "version",
                "must be a semantic version like 1.2.0");
    }
}

TEST(paths)
{
    refused("  file: models/fashion_cnn.onnx", "  file: /etc/passwd", FY_EINVAL, 10, "model.file",
            "absolute path '/etc/passwd'");
    refused("  file: models/fashion_cnn.onnx", "  file: ../x.onnx", FY_EINVAL, 10, "model.file",
            "got '..' in '../x.onnx'");
    refused("  file: models/fashion_cnn.onnx", "  file: a/../../x.onnx", FY_EINVAL, 10,
            "model.file", "'..'");
    refused("  file: models/fashion_cnn.onnx", "  file: models/..", FY_EINVAL, 10, "model.file",
            "'..'");
    refused("  file: models/fashion_cnn.onnx", "  file: a\\b.onnx", FY_EINVAL, 10, "model.file",
            "backslash");
    refused("  file: models/fashion_cnn.onnx", "  file: a//b.onnx", FY_EINVAL, 10, "model.file",
            "empty or '.' path component");
    refused("  file: models/fashion_cnn.onnx", "  file: ./b.onnx", FY_EINVAL, 10, "model.file",
            "empty or '.' path component");
    refused("  file: models/fashion_cnn.onnx", "  file: ferry.yaml", FY_EINVAL, 10, "model.file",
            "reserved");
    refused("  labels: labels.txt", "  labels: /tmp/labels.txt", FY_EINVAL, 26,
            "postprocessing.labels", "absolute path");
    refused("  labels: labels.txt", "  labels: ../labels.txt", FY_EINVAL, 26,
            "postprocessing.labels", "'..'");
    refused("  labels: labels.txt", "  labels: models/fashion_cnn.onnx", FY_EINVAL, 26,
            "postprocessing.labels", "is the model file itself");
    refused("  labels: labels.txt", "  labels: SPEC.md", FY_EINVAL, 26, "postprocessing.labels",
            "reserved");
    char *longp = malloc(300);
    memcpy(longp, "  file: ", 8);
    memset(longp + 8, 'a', 201);
    longp[209] = 0;
    refused("  file: models/fashion_cnn.onnx", longp, FY_ELIMIT, 10, "model.file",
            "above the limit of 200");
    free(longp);
}

TEST(model_format)
{
    /* a GGUF language model takes text: a tensor signature makes no sense for it */
    refused("  format: onnx", "  format: gguf", FY_EINVAL, 12, "signature",
            "not used with model.format gguf");
    static const char gguf[] = "apiVersion: ferry/v1\nname: tiny\nversion: 1.0.0\n"
                               "model:\n  format: gguf\n  file: m.gguf\n";
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_parse(&m, gguf, strlen(gguf), "t.yaml", &d), FY_OK);
    if (m)
        FY_CHECK_STR(m->model_format, "gguf");
    fy_manifest_free(m);
    refused("  format: onnx", "  format: onxx", FY_EINVAL, 9, "model.format",
            "unknown format 'onxx' (did you mean 'onnx'?)");
}

TEST(preprocessing_rules)
{
    refused("  std: [0.25]", "  std: [0.25, 0.5]", FY_EINVAL, 23, "preprocessing.std",
            "has 2 values but preprocessing.mean has 1");
    refused("  std: [0.25]", "  std: [0]", FY_EINVAL, 23, "preprocessing.std[0]",
            "must be positive, got 0");
    refused("  std: [0.25]", "  std: [-1]", FY_EINVAL, 23, "preprocessing.std[0]",
            "must be positive");
    refused("  std: [0.25]", "  std: []", FY_EINVAL, 23, "preprocessing.std", "must not be empty");
    refused("  scale: 1/255", "  scale: -1", FY_EINVAL, 21, "preprocessing.scale",
            "must be positive, got -1");
    refused("  scale: 1/255", "  scale: 0", FY_EINVAL, 21, "preprocessing.scale",
            "must be positive");
    refused("  layout: NCHW", "  layout: NCWH", FY_EINVAL, 24, "preprocessing.layout",
            "unknown layout 'NCWH' (did you mean 'NCHW'?)");
    refused("  mean: [0.5]\n  std: [0.25]", "  mean: [0.5, 0.4, 0.3]\n  std: [1, 1, 1]", FY_EINVAL,
            21, "preprocessing.mean", "has 3 values but signature.inputs[0] has 1 channels");
}

TEST(non_finite_numbers)
{
    refused("  scale: 1/255", "  scale: .nan", FY_EINVAL, 21, "preprocessing.scale",
            "must be a finite number, got '.nan'");
    refused("  scale: 1/255", "  scale: .inf", FY_EINVAL, 21, "preprocessing.scale",
            "finite number");
    refused("  min: 0.9", "  min: -.Inf", FY_EINVAL, 41, "tests.min", "finite number");
    refused("  mean: [0.5]", "  mean: [NaN]", FY_EINVAL, 22, "preprocessing.mean[0]",
            "finite number");
    refused("  mean: [0.5]", "  mean: [1e999]", FY_EINVAL, 22, "preprocessing.mean[0]",
            "finite number");
    refused("  scale: 1/255", "  scale: 1e300/1e-300", FY_EINVAL, 21, "preprocessing.scale",
            "finite number");
    refused("  max_queue_delay_ms: 2.5", "  max_queue_delay_ms: nan", FY_EINVAL, 36,
            "serving.max_queue_delay_ms", "finite number");
}

TEST(negative_and_out_of_range_numbers)
{
    refused("  min_memory_mb: 64", "  min_memory_mb: -1", FY_EINVAL, 30,
            "requirements.min_memory_mb", "must not be negative, got -1");
    refused("  min_disk_mb: 8", "  min_disk_mb: -8", FY_EINVAL, 31, "requirements.min_disk_mb",
            "must not be negative");
    refused("  threads: 2", "  threads: 0", FY_EINVAL, 32, "requirements.threads",
            "must be between 1 and 1024, got 0");
    refused("  threads: 2", "  threads: 99999999999999999999999", FY_EINVAL, 32,
            "requirements.threads", "must be between 1 and 1024");
    refused("  max_batch_size: 32", "  max_batch_size: -32", FY_EINVAL, 35,
            "serving.max_batch_size", "must not be negative");
    refused("  max_queue_delay_ms: 2.5", "  max_queue_delay_ms: -2", FY_EINVAL, 36,
            "serving.max_queue_delay_ms", "must be non-negative, got -2");
    refused("  max_queue_delay_ms: 2.5", "  max_queue_delay_ms: 600000", FY_EINVAL, 36,
            "serving.max_queue_delay_ms", "at most 60000");
    refused("  instances: 3", "  instances: 0", FY_EINVAL, 37, "serving.instances",
            "must be between 1");
    refused("  min: 0.9", "  min: 1.5", FY_EINVAL, 41, "tests.min", "at most 1, got 1.5");
    refused("  min: 0.9", "  min: -0.1", FY_EINVAL, 41, "tests.min", "must be non-negative");
    refused("  max_p99_latency_ms: 100", "  max_p99_latency_ms: -5", FY_EINVAL, 42,
            "tests.max_p99_latency_ms", "must be positive");
    refused("  min_throughput_per_s: 500", "  min_throughput_per_s: 0", FY_EINVAL, 43,
            "tests.min_throughput_per_s", "must be positive");
}

TEST(ferry_version_ranges)
{
    static const struct {
        const char *range, *rule;
    } bad[] = {
        {"\">=1.0.0 <0.5.0\"", "no version satisfies"},
        {"\">=1.0.0 <1.0.0\"", "no version satisfies"},
        {"\">1.0.0 <=1.0.0\"", "no version satisfies"},
        {"\"1.0.0 2.0.0\"", "no version satisfies"},
        {"\">=1.0.0-beta <1.0.0-alpha\"", "no version satisfies"},
        {"\"~1.0\"", "'~1.0' is not a comparator"},
        {"\">=1.0\"", "'>=1.0' is not a comparator"},
        {"\">= 1.0.0\"", "'>=' is not a comparator"},
        {"\">=1.0.0+build\"", "is not a comparator"},
        {"\"   \"", "no comparators"},
        {"\">=0.1.0 || >=2.0.0\"", "'||' is not a comparator"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[96];
        snprintf(line, sizeof line, "  ferry: %s", bad[i].range);
        refused("  ferry: \">=0.1.0 <1.0.0\"", line, FY_EINVAL, 33, "requirements.ferry",
                bad[i].rule);
    }
    refused("  ferry: \">=0.1.0 <1.0.0\"", "  ferry: \"\"", FY_EINVAL, 33, "requirements.ferry",
            "must not be empty");
}

TEST(requirements_lists)
{
    refused("  arch: [x86_64, aarch64]", "  arch: [x86-64]", FY_EINVAL, 28, "requirements.arch[0]",
            "unknown architecture 'x86-64' (did you mean 'x86_64'?)");
    refused("  arch: [x86_64, aarch64]", "  arch: [x86_64, x86_64]", FY_EINVAL, 28,
            "requirements.arch[1]", "'x86_64' is listed twice");
    refused("  arch: [x86_64, aarch64]", "  arch: x86_64", FY_EINVAL, 28, "requirements.arch",
            "must be a list");
    refused("  cpu_features: [avx2, fma]", "  cpu_features: [avx2, avx3]", FY_EINVAL, 29,
            "requirements.cpu_features[1]", "unknown CPU feature 'avx3' (did you mean 'avx2'?)");
    refused("authors: [Ada, Grace]", "authors: [Ada, \"\"]", FY_EINVAL, 6, "authors[1]",
            "must not be empty");
}

TEST(tests_section)
{
    refused("  metric: accuracy", "  metric: acuracy", FY_EINVAL, 40, "tests.metric",
            "unknown metric 'acuracy' (did you mean 'accuracy'?)");
    refused("  metric: accuracy", "  metric: bleu", FY_EINVAL, 40, "tests.metric",
            "unknown metric 'bleu'");
    refused("  dataset: idx:/data/images.gz,/data/labels.gz", "  dataset: csv:/data/x.csv",
            FY_EINVAL, 39, "tests.dataset", "unknown dataset kind");
    refused("  dataset: idx:/data/images.gz,/data/labels.gz", "  dataset: idx:/data/images.gz",
            FY_EINVAL, 39, "tests.dataset", "must be idx:IMAGES,LABELS");
    refused("  dataset: idx:/data/images.gz,/data/labels.gz", "  dataset: idx:a,b,c", FY_EINVAL, 39,
            "tests.dataset", "must be idx:IMAGES,LABELS");
    refused(TESTS_BLOCK, "tests: yes\n", FY_EINVAL, 38, "tests",
            "must be a mapping of fields, got 'yes'");
}

TEST(compression_record)
{
    const char rec[] = "compression:\n  methods: [\"prune\", \"share-weights(4 bits)\"]\n"
                       "  source: \"sha256:abc\"\n  accuracy_before: 0.9179\n"
                       "  accuracy_after: 0.9\n";
    size_t n = sizeof BASE - 1 + sizeof rec;
    char *text = malloc(n);
    snprintf(text, n, "%s%s", BASE, rec);
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_parse(&m, text, strlen(text), "t.yaml", &d), FY_OK);
    if (m) {
        FY_CHECK_EQ(m->n_compression_methods, 2);
        FY_CHECK_STR(m->compression_methods[1], "share-weights(4 bits)");
        FY_CHECK_STR(m->compression_source, "sha256:abc");
        FY_CHECK_NEAR(m->compression_accuracy_before, 0.9179, 1e-12);
        FY_CHECK_NEAR(m->compression_accuracy_after, 0.9, 1e-12);
    }
    fy_manifest_free(m);
    m = NULL;
    FY_CHECK_EQ(fy_manifest_parse(&m, BASE, sizeof BASE - 1, "t.yaml", &d), FY_OK);
    if (m) { /* absent: no methods, accuracies -1 */
        FY_CHECK(m->compression_methods == NULL);
        FY_CHECK_NEAR(m->compression_accuracy_before, -1, 0);
    }
    fy_manifest_free(m);
    static const struct {
        const char *rec, *field, *rule;
    } bad[] = {
        {"compression:\n  source: x\n", "compression", "methods"},
        {"compression:\n  methods: []\n", "compression.methods", "at least one"},
        {"compression:\n  methods: [int8, int8]\n", "compression.methods[1]", "twice"},
        {"compression:\n  methods: int8\n", "compression.methods", "must be a list"},
        {"compression:\n  methods: [int8]\n  accuracy_after: 1.5\n", "compression.accuracy_after",
         "at most 1"},
        {"compression:\n  methods: [int8]\n  speedup: 2\n", "compression", "unknown field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[2048];
        snprintf(buf, sizeof buf, "%s%s", BASE, bad[i].rec);
        fy_diag e = {{0}};
        FY_CHECK(parse(buf, strlen(buf), &e) != FY_OK);
        FY_CHECK_CONTAINS(e.msg, bad[i].field);
        FY_CHECK_CONTAINS(e.msg, bad[i].rule);
    }
    free(text);
}

/* ---- files ---- */

TEST(load_reads_files_and_names_them)
{
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_load(&m, "tests/package/no-such-ferry.yaml", &d), FY_ENOTFOUND);
    FY_CHECK(m == NULL);
    FY_CHECK_EQ(fy_manifest_load(&m, "tests/package", &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    char path[] = "/tmp/ferry-manifest-XXXXXX";
    int fd = mkstemp(path);
    FY_CHECK(fd >= 0);
    char *s = with("license: MIT", "license: [MIT");
    FY_CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
    close(fd);
    free(s);
    FY_CHECK_EQ(fy_manifest_load(&m, path, &d), FY_EPARSE);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s:", path);
    FY_CHECK(strncmp(d.msg, prefix, strlen(prefix)) == 0);
    unlink(path);
}

TEST(example_parses_and_checks_against_its_model)
{
    fy_manifest *m = NULL;
    fy_model *model = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_load(&m, "examples/fashion-mnist/ferry.yaml", &d), FY_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    FY_CHECK_STR(m->name, "fashion-cnn");
    FY_CHECK_STR(m->version, "1.0.0");
    FY_CHECK_STR(m->model_file, "fashion_cnn.onnx");
    FY_CHECK_STR(m->labels_file, "labels.txt");
    FY_CHECK_NEAR(m->scale, 1.0 / 255, 1e-15);
    FY_CHECK_EQ(m->max_batch_size, 32);
    FY_CHECK_EQ(m->max_queue_delay_us, 2000);
    FY_CHECK_EQ(m->threads, 1);
    FY_CHECK_STR(m->test_metric, "accuracy");
    FY_CHECK_NEAR(m->test_min, 0.90, 0);
    FY_CHECK(m->test_max_p99_ms > 0 && m->test_min_throughput > 0);
    FY_CHECK(m->test_min_throughput * 2 <= 2000); /* the reference engine does ~2000/s */
    FY_CHECK_EQ(fy_model_load(&model, "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d), FY_OK);
    if (model)
        FY_CHECK_EQ(fy_manifest_check_model(m, model, &d), FY_OK);

    /* the labels file holds the 10 classes in order */
    static const char *const classes[] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                          "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                          "Bag",         "Ankle boot"};
    FILE *f = fopen("examples/fashion-mnist/labels.txt", "r");
    FY_CHECK(f != NULL);
    char line[64];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (n < 10)
            FY_CHECK_STR(line, classes[n]);
        n++;
    }
    FY_CHECK_EQ(n, 10);
    if (f)
        fclose(f);
    fy_model_free(model);
    fy_manifest_free(m);
}

/* ---- checking against a model ---- */

/* x: float32 [batch, 3] -> Relu -> y: float32 [batch, 3]; with_w adds input w [3]
 * (Add x w). dim0 NULL leaves the batch dimension unnamed ('?'). */
static fy_model *tiny_model(int with_w, const char *dim0, fy_diag *d)
{
    static gb b;
    int64_t dims[2] = {0, 3}, wd[1] = {3};
    gb_init(&b, "tiny");
    gb_input(&b, "x", FY_DTYPE_F32, 2, dims);
    Onnx__TensorShapeProto__Dimension *dx = &b.dims[b.n_vis - 1][0];
    if (with_w)
        gb_input(&b, "w", FY_DTYPE_F32, 1, wd);
    gb_output(&b, "y", FY_DTYPE_F32, 2, dims);
    Onnx__TensorShapeProto__Dimension *dy = &b.dims[b.n_vis - 1][0];
    Onnx__TensorShapeProto__Dimension *dd[2] = {dx, dy};
    for (int i = 0; i < 2; i++) {
        dd[i]->value_case = dim0 ? ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                                 : ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE__NOT_SET;
        dd[i]->dim_param = (char *)dim0;
    }
    if (with_w)
        gb_node(&b, "Add", 2, 1, "x", "w", "y");
    else
        gb_node(&b, "Relu", 1, 1, "x", "y");
    return gb_load(&b, 13, d);
}

static const char TINY[] = "apiVersion: ferry/v1\nname: tiny\nversion: 0.1.0\n"
                           "model: {file: tiny.onnx}\n"
                           "signature:\n"
                           "  inputs: [{name: x, dtype: float32, shape: [N, 3]}]\n"
                           "  outputs: [{name: y, dtype: float32, shape: [N, 3]}]\n";

static int check_tiny(const char *find, const char *repl, int with_w, fy_diag *d)
{
    char *s = malloc(sizeof TINY + 64);
    const char *at = strstr(TINY, find);
    size_t pre = (size_t)(at - TINY);
    memcpy(s, TINY, pre);
    snprintf(s + pre, sizeof TINY + 64 - pre, "%s%s", repl, at + strlen(find));
    fy_manifest *m = NULL;
    fy_model *model = tiny_model(with_w, "batch", d);
    int rc = fy_manifest_parse(&m, s, strlen(s), "t.yaml", d);
    FY_CHECK_EQ(rc, FY_OK);
    FY_CHECK(model != NULL);
    if (rc == FY_OK && model)
        rc = fy_manifest_check_model(m, model, d);
    fy_manifest_free(m);
    fy_model_free(model);
    free(s);
    return rc;
}

TEST(check_model_matches_and_mismatches)
{
    fy_diag d = {{0}};
    FY_CHECK_EQ(check_tiny("", "", 0, &d), FY_OK);
    FY_CHECK_EQ(check_tiny("x, dtype: float32", "x, dtype: float16", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs[0].dtype: manifest says float16, model says float32");
    FY_CHECK_EQ(check_tiny("y, dtype: float32", "y, dtype: int64", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.outputs[0].dtype: manifest says int64, model says float32");
    FY_CHECK_EQ(check_tiny("shape: [N, 3]}]\n  out", "shape: [N, 3, 1]}]\n  out", 0, &d),
                FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs[0].shape: manifest says rank 3, model says rank 2");
    FY_CHECK_EQ(check_tiny("shape: [N, 3]}]\n  out", "shape: [N, 4]}]\n  out", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs[0].shape[1]: manifest says 4, model says 3");
    FY_CHECK_EQ(check_tiny("shape: [N, 3]}]\n  out", "shape: [8, 3]}]\n  out", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg,
                 "signature.inputs[0].shape[0]: manifest says 8, model says batch (symbolic)");
    FY_CHECK_EQ(check_tiny("shape: [N, 3]}]\n  out", "shape: [N, C]}]\n  out", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs[0].shape[1]: manifest says C (symbolic), model says 3");
    FY_CHECK_EQ(check_tiny("name: x,", "name: z,", 0, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs[0].name: manifest says 'z', the model has no such "
                        "input (model inputs: 'x')");
    FY_CHECK_EQ(check_tiny("name: y,", "name: probs,", 0, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "signature.outputs[0].name: manifest says 'probs'");
    /* an undeclared model input is an error */
    FY_CHECK_EQ(check_tiny("", "", 1, &d), FY_EINVAL);
    FY_CHECK_STR(d.msg, "signature.inputs: manifest does not declare it, model has input 'w' "
                        "(float32)");
    FY_CHECK_EQ(check_tiny("  inputs: [{name: x, dtype: float32, shape: [N, 3]}]",
                           "  inputs: [{name: x, dtype: float32, shape: [N, 3]},\n"
                           "           {name: w, dtype: float32, shape: [3]}]",
                           1, &d),
                FY_OK);
}

/* ---- template ---- */

static void check_template(const fy_model *model, const char *model_file, fy_manifest **out)
{
    char *t = NULL;
    fy_diag d = {{0}};
    *out = NULL;
    FY_CHECK_EQ(fy_manifest_template(&t, model, model_file, &d), FY_OK);
    if (!t) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    int rc = fy_manifest_parse(out, t, strlen(t), "init.yaml", &d);
    FY_CHECK_EQ(rc, FY_OK);
    if (rc != FY_OK) {
        fprintf(stderr, "%s\n--- template ---\n%s", d.msg, t);
    } else {
        rc = fy_manifest_check_model(*out, model, &d);
        FY_CHECK_EQ(rc, FY_OK);
        if (rc != FY_OK)
            fprintf(stderr, "%s\n--- template ---\n%s", d.msg, t);
    }
    free(t);
}

TEST(template_of_the_example_parses_and_checks)
{
    fy_model *model = NULL;
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_model_load(&model, "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d), FY_OK);
    if (!model)
        return;
    char *t = NULL;
    FY_CHECK_EQ(fy_manifest_template(&t, model, "examples/fashion-mnist/fashion_cnn.onnx", &d),
                FY_OK);
    FY_CHECK_CONTAINS(t, "# ");
    FY_CHECK_CONTAINS(t, "693962 parameters");
    FY_CHECK_CONTAINS(t, "# tests:\n#   dataset: ");
    free(t);
    check_template(model, "examples/fashion-mnist/fashion_cnn.onnx", &m);
    if (m) {
        FY_CHECK_STR(m->name, "fashion_cnn");
        FY_CHECK_STR(m->version, "0.1.0");
        FY_CHECK_STR(m->model_file, "fashion_cnn.onnx");
        FY_CHECK_STR(m->model_format, "onnx");
        FY_CHECK_STR(m->framework, "pytorch");
        FY_CHECK_STR(m->framework_version, "1.13.0");
        FY_CHECK_EQ(m->n_inputs, 1);
        FY_CHECK_STR(m->inputs[0].name, "image");
        FY_CHECK_EQ(m->inputs[0].rank, 4);
        FY_CHECK_EQ(m->inputs[0].dims[0], -1);
        FY_CHECK_STR(m->inputs[0].dim_names[0], "N");
        FY_CHECK_EQ(m->inputs[0].dims[3], 28);
        FY_CHECK_STR(m->outputs[0].name, "probabilities");
        FY_CHECK_EQ(m->threads, 1);
        FY_CHECK_STR(m->ferry_version, ">=0.1.0 <1.0.0");
        FY_CHECK(m->min_memory_mb > 0 && m->min_disk_mb >= 3);
        FY_CHECK(m->test_dataset == NULL);
        struct utsname u;
        if (uname(&u) == 0 && !strcmp(u.machine, "x86_64")) {
            FY_CHECK_EQ(m->n_archs, 1);
            FY_CHECK_STR(m->archs[0], "x86_64");
        }
    }
    fy_manifest_free(m);
    fy_model_free(model);
}

TEST(template_names_and_dims)
{
    fy_diag d = {{0}};
    fy_manifest *m = NULL;
    fy_model *model = tiny_model(0, "batch size", &d);
    FY_CHECK(model != NULL);
    if (!model)
        return;
    check_template(model, "/some/where/My Model (v2).ONNX", &m);
    if (m) {
        FY_CHECK_STR(m->name, "my-model-v2");
        FY_CHECK_STR(m->model_file, "My Model (v2).ONNX");
        FY_CHECK_STR(m->inputs[0].dim_names[0], "batch_size");
    }
    fy_manifest_free(m);
    fy_model_free(model);

    model = tiny_model(1, NULL, &d);
    FY_CHECK(model != NULL);
    if (!model)
        return;
    check_template(model, "__.onnx", &m);
    if (m) {
        FY_CHECK_STR(m->name, "model");
        FY_CHECK_EQ(m->n_inputs, 2);
        FY_CHECK_STR(m->inputs[0].dim_names[0], "N");
        FY_CHECK_STR(m->inputs[1].name, "w");
    }
    fy_manifest_free(m);
    fy_model_free(model);
}

/* ---- allocation failures ---- */

TEST(allocation_failures_give_enomem)
{
    int ok = 0, n;
    for (n = 1; n < 5000 && !ok; n++) {
        fy_manifest *m = NULL;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = fy_manifest_parse(&m, BASE, strlen(BASE), "t.yaml", &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            ok = 1;
            fy_manifest_free(m);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK(m == NULL);
            FY_CHECK_CONTAINS(d.msg, "out of memory");
        }
    }
    FY_CHECK(ok);
    FY_CHECK(n > 50);

    /* loading adds the file buffer */
    ok = 0;
    for (n = 1; n < 5000 && !ok; n++) {
        fy_manifest *m = NULL;
        fy_diag dl = {{0}};
        fy__alloc_fail_at(n);
        int rc = fy_manifest_load(&m, "examples/fashion-mnist/ferry.yaml", &dl);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            ok = 1;
            fy_manifest_free(m);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK(m == NULL);
        }
    }
    FY_CHECK(ok);

    fy_model *model = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_model_load(&model, "examples/fashion-mnist/fashion_cnn.onnx", NULL, &d), FY_OK);
    if (!model)
        return;
    ok = 0;
    for (n = 1; n < 100 && !ok; n++) {
        char *t = NULL;
        fy__alloc_fail_at(n);
        int rc = fy_manifest_template(&t, model, "fashion_cnn.onnx", &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            ok = 1;
            free(t);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK(t == NULL);
        }
    }
    FY_CHECK(ok);
    fy_model_free(model);
}

int main(void)
{
    RUN(full_manifest_reads_back_every_field);
    RUN(minimal_manifest_has_defaults);
    RUN(other_valid_spellings);
    RUN(nul_bytes_are_refused);
    RUN(invalid_utf8_is_refused);
    RUN(huge_input_is_refused);
    RUN(empty_and_non_mapping_documents);
    RUN(anchors_and_aliases_are_refused);
    RUN(tags_are_refused);
    RUN(nesting_deeper_than_8_is_refused);
    RUN(exactly_one_document);
    RUN(duplicate_keys_are_refused);
    RUN(complex_keys_are_refused);
    RUN(yaml_syntax_errors_name_the_line);
    RUN(unknown_fields_with_hints);
    RUN(required_fields);
    RUN(api_version);
    RUN(wrong_types);
    RUN(long_strings_lists_and_io_are_refused);
    RUN(dtypes);
    RUN(shapes);
    RUN(duplicate_signature_names);
    RUN(names);
    RUN(versions);
    RUN(paths);
    RUN(model_format);
    RUN(preprocessing_rules);
    RUN(non_finite_numbers);
    RUN(negative_and_out_of_range_numbers);
    RUN(ferry_version_ranges);
    RUN(requirements_lists);
    RUN(tests_section);
    RUN(compression_record);
    RUN(load_reads_files_and_names_them);
    RUN(example_parses_and_checks_against_its_model);
    RUN(check_model_matches_and_mismatches);
    RUN(template_of_the_example_parses_and_checks);
    RUN(template_names_and_dims);
    RUN(allocation_failures_give_enomem);
    return TEST_SUMMARY();
}
