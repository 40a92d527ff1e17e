/* SPDX-License-Identifier: MIT */
/* The deployment specification: rendered from a hand-built manifest and a tiny
 * model, it is deterministic, holds every section, the signature with symbolic
 * dimensions, the op table, file digests and runnable-looking curl lines for each
 * protocol; hostile names cannot break its tables, code blocks or shell quoting;
 * the JSON variant parses and carries the same facts; out-of-memory at any
 * allocation fails cleanly; and a real package's spec names its digest. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/package.h"
#include "model_builder.h"
#include "package/package_int.h"
#include "test.h"

/* x: float32 [N, C] with N symbolic; y = Relu(Relu(x * w)). The input's first
 * dim becomes the named "N"; `c` sets the second dim. */
static fy_model *tiny_model(const char *in_name, int64_t c, int rank)
{
    int64_t dims[4] = {1, c, 28, 28}, wd[1] = {1};
    static const float w[1] = {2};
    gb b;
    fy_diag d = {{0}};
    gb_init(&b, "tiny");
    gb_input(&b, in_name, FY_DTYPE_F32, rank, dims);
    gb_output(&b, "y", FY_DTYPE_F32, rank, dims);
    for (int k = 0; k < 2; k++) { /* input and output: the batch is symbolic */
        b.dims[k][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        b.dims[k][0].dim_param = (char *)"N";
    }
    gb_init_f32(&b, "w", 1, wd, w, 1);
    gb_node(&b, "Mul", 2, 1, in_name, "w", "t");
    gb_node(&b, "Relu", 1, 1, "t", "u");
    gb_node(&b, "Relu", 1, 1, "u", "y");
    fy_model *m = gb_load(&b, 13, &d);
    if (!m)
        fprintf(stderr, "tiny model: %s\n", d.msg);
    return m;
}

static char *authors[] = {(char *)"Ada", (char *)"Grace"};
static char *archs[] = {(char *)"x86_64"};
static char *feats[] = {(char *)"avx2", (char *)"fma"};
static double mean[] = {0.5}, stdv[] = {0.25};

/* A manifest as manifest.c would produce for the tiny model. */
static void demo_manifest(fy_manifest *m, fy_manifest_io *in, fy_manifest_io *out)
{
    memset(m, 0, sizeof *m);
    memset(in, 0, sizeof *in);
    memset(out, 0, sizeof *out);
    m->api_version = (char *)"ferry/v1";
    m->name = (char *)"demo";
    m->version = (char *)"1.2.0";
    m->description = (char *)"A tiny demo model";
    m->license = (char *)"MIT";
    m->n_authors = 2;
    m->authors = authors;
    m->framework = (char *)"pytorch";
    m->framework_version = (char *)"2.1";
    m->model_format = (char *)"onnx";
    m->model_file = (char *)"tiny.onnx";
    in->name = (char *)"x";
    in->dtype = FY_DTYPE_F32;
    in->rank = 2;
    in->dims[0] = -1;
    in->dim_names[0] = (char *)"N";
    in->dims[1] = 4;
    out->name = (char *)"y";
    out->dtype = FY_DTYPE_F32;
    out->rank = 2;
    out->dims[0] = -1;
    out->dim_names[0] = (char *)"N";
    out->dims[1] = 4;
    m->n_inputs = m->n_outputs = 1;
    m->inputs = in;
    m->outputs = out;
    m->scale = 1.0 / 255;
    m->n_mean = m->n_std = 1;
    m->mean = mean;
    m->std = stdv;
    m->layout = (char *)"NCHW";
    m->labels_file = (char *)"labels.txt";
    m->n_archs = 1;
    m->archs = archs;
    m->n_cpu_features = 2;
    m->cpu_features = feats;
    m->min_memory_mb = 256;
    m->min_disk_mb = 16;
    m->threads = 4;
    m->ferry_version = (char *)">=0.1.0 <1.0.0";
    m->max_batch_size = 32;
    m->max_queue_delay_us = 500;
    m->instances = 2;
    m->test_dataset = (char *)"idx:t10k-images.gz,t10k-labels.gz";
    m->test_metric = (char *)"accuracy";
    m->test_min = 0.89;
    m->test_max_p99_ms = 5;
    m->test_min_throughput = 1000;
}

static void demo_files(fy__spec_file f[3])
{
    /* deliberately unsorted: the table sorts by name */
    f[0].name = "tiny.onnx";
    f[0].size = 1234;
    fy__sha256_digest("model", 5, f[0].digest);
    f[1].name = "ferry.yaml";
    f[1].size = 321;
    fy__sha256_digest("yaml", 4, f[1].digest);
    f[2].name = "labels.txt";
    f[2].size = 8;
    fy__sha256_digest("labels", 6, f[2].digest);
}

static const char *PKG_DIGEST =
    "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static char *render(const fy_manifest *m, const fy_model *model, const fy__spec_file *f, int n,
                    const char *digest, int json)
{
    fy_diag d = {{0}};
    char *out = NULL;
    int rc = fy__spec_render(m, model, f, n, digest, json, &out, &d);
    if (rc != FY_OK) {
        fprintf(stderr, "render: %s (%s)\n", d.msg, fy_strerror(rc));
        return NULL;
    }
    return out;
}

/* The line of text holding needle (for checks on one table row). */
static const char *line_of(const char *text, const char *needle, char *buf, size_t cap)
{
    const char *p = text ? strstr(text, needle) : NULL;
    if (!p)
        return "";
    while (p > text && p[-1] != '\n')
        p--;
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

TEST(markdown_has_every_section_and_is_deterministic)
{
    fy_manifest m;
    fy_manifest_io in, out;
    fy__spec_file f[3];
    demo_manifest(&m, &in, &out);
    demo_files(f);
    fy_model *model = tiny_model("x", 4, 2);
    FY_CHECK(model != NULL);
    char *a = render(&m, model, f, 3, PKG_DIGEST, 0);
    char *b = render(&m, model, f, 3, PKG_DIGEST, 0);
    FY_CHECK(a && b && strcmp(a, b) == 0);

    static const char *title = "# demo 1.2.0 — deployment specification\n";
    FY_CHECK(a && strncmp(a, title, strlen(title)) == 0);
    static const char *sections[] = {
        "\n## Summary\n",
        "\n## Signature\n",
        "\n### Inputs\n",
        "\n### Outputs\n",
        "\n## Pre- and post-processing\n",
        "\n## Model\n",
        "\n### Operators\n",
        "\n## Files\n",
        "\n## Requirements\n",
        "\n## Serving defaults\n",
        "\n## Test standards\n",
        "\n## Deployment flow\n",
        "\n## How to call it\n",
    };
    const char *prev = a;
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++) {
        const char *p = a ? strstr(a, sections[i]) : NULL;
        FY_CHECK_CONTAINS(a, sections[i]);
        FY_CHECK(p && p > prev); /* in this order */
        prev = p ? p : prev;
    }
    /* summary */
    FY_CHECK_CONTAINS(a, "| Description | A tiny demo model |");
    FY_CHECK_CONTAINS(a, "| Licence | MIT |");
    FY_CHECK_CONTAINS(a, "| Authors | Ada, Grace |");
    FY_CHECK_CONTAINS(a, "| Framework | pytorch 2.1 |");
    FY_CHECK_CONTAINS(a, "| Format | onnx |");
    FY_CHECK_CONTAINS(a, "| Package digest | `sha256:00112233");
    /* signature with the symbolic batch */
    FY_CHECK_CONTAINS(a, "| `x` | float32 | `[N, 4]` |");
    FY_CHECK_CONTAINS(a, "| `y` | float32 | `[N, 4]` |");
    /* processing */
    FY_CHECK_CONTAINS(a, "multiplied by 0.00392156862745098");
    FY_CHECK_CONTAINS(a, "mean = [0.5] and std = [0.25]");
    FY_CHECK_CONTAINS(a, "- Layout: NCHW.");
    FY_CHECK_CONTAINS(a, "`labels.txt`, one class label per line");
    /* model and ops, in order of first appearance */
    FY_CHECK_CONTAINS(a, "| IR version | 8 |");
    FY_CHECK_CONTAINS(a, "| Opset | 13 |");
    FY_CHECK_CONTAINS(a, "| Parameters | 1 in 1 initializers |");
    FY_CHECK_CONTAINS(a, "| Parameter bytes | 4 |");
    FY_CHECK_CONTAINS(a, "| ai.onnx | Mul | 1 | yes |\n| ai.onnx | Relu | 2 | yes |\n");
    /* files sorted by name, with digests */
    char want[256];
    snprintf(want, sizeof want,
             "| `ferry.yaml` | 321 | `%s` |\n| `labels.txt` | 8 | `%s` |\n"
             "| `tiny.onnx` | 1234 | `%s` |\n",
             f[1].digest, f[2].digest, f[0].digest);
    FY_CHECK_CONTAINS(a, want);
    /* requirements, serving, tests */
    FY_CHECK_CONTAINS(a, "| Architecture | x86_64 |");
    FY_CHECK_CONTAINS(a, "| CPU features | avx2, fma |");
    FY_CHECK_CONTAINS(a, "| Memory | at least 256 MiB |");
    FY_CHECK_CONTAINS(a, "| Disk | at least 16 MiB |");
    FY_CHECK_CONTAINS(a, "| Threads | 4 |");
    FY_CHECK_CONTAINS(a, "| ferry version | `>=0.1.0 <1.0.0` |");
    FY_CHECK_CONTAINS(a, "| Dynamic batching | up to 32 items per batch, waiting at most 500 µs");
    FY_CHECK_CONTAINS(a, "| Instances | 2 |");
    FY_CHECK_CONTAINS(a, "| Dataset | `idx:t10k-images.gz,t10k-labels.gz` |");
    FY_CHECK_CONTAINS(a, "| Metric | accuracy at least 0.89 |");
    FY_CHECK_CONTAINS(a, "| p99 latency | at most 5 ms |");
    FY_CHECK_CONTAINS(a, "| Throughput | at least 1000 items/s |");
    /* deployment flow: five numbered stages, honest about what is planned */
    FY_CHECK_CONTAINS(a, "1. **Validate the package** (`ferry check demo-1.2.0.ferry "
                         "--trusted-key KEY.pub`):");
    FY_CHECK_CONTAINS(a, "2. **Check the environment** (`ferry deploy`, planned)");
    FY_CHECK_CONTAINS(a, "3. **Stage** (`ferry serve demo-1.2.0.ferry --port 8081`)");
    FY_CHECK_CONTAINS(a, "4. **Verify** (`ferry deploy`, planned)");
    FY_CHECK_CONTAINS(a, "`ferry eval demo-1.2.0.ferry --dataset "
                         "idx:t10k-images.gz,t10k-labels.gz --min-accuracy 0.89`");
    FY_CHECK_CONTAINS(a, "5. **Promote or roll back** (`ferry deploy`, planned)");
    /* how to call it */
    FY_CHECK_CONTAINS(a, "`ferry serve demo-1.2.0.ferry` serves the model as");
    FY_CHECK_CONTAINS(a, "float32 → FP32");
    FY_CHECK_CONTAINS(a, "int64 → INT64");
    FY_CHECK_CONTAINS(a, "### ferry: POST /predict\n");
    FY_CHECK_CONTAINS(a, "curl -s http://localhost:8080/predict -H 'Content-Type: "
                         "application/json' \\\n  -d '{\"instances\": [[0.0, 0.0, 0.0, 0.0]]}'\n");
    FY_CHECK_CONTAINS(a, "### KServe V2 (Open Inference Protocol): POST /v2/models/demo/infer\n");
    FY_CHECK_CONTAINS(a, "curl -s http://localhost:8080/v2/models/demo/infer -H 'Content-Type: "
                         "application/json' \\\n  -d '{\"inputs\": [{\"name\": \"x\", \"shape\": "
                         "[1, 4], \"datatype\": \"FP32\", \"data\": [0.0, 0.0, 0.0, 0.0]}]}'\n");
    FY_CHECK_CONTAINS(a, "### TensorFlow Serving: POST /v1/models/demo:predict\n");
    FY_CHECK_CONTAINS(a, "curl -s http://localhost:8080/v1/models/demo:predict -H 'Content-Type: "
                         "application/json' \\\n  -d '{\"instances\": [[0.0, 0.0, 0.0, 0.0]]}'\n");
    /* nothing that changes from run to run or host to host */
    char host[256] = "";
    if (gethostname(host, sizeof host) == 0 && strlen(host) > 3)
        FY_CHECK(a && !strstr(a, host));
    FY_CHECK(a && !strstr(a, "2024") && !strstr(a, "2025") && !strstr(a, "2026"));

    /* without a package digest (while packing) the row is left out */
    char *c = render(&m, model, f, 3, NULL, 0);
    FY_CHECK(c && !strstr(c, "Package digest"));
    free(c);
    free(a);
    free(b);
    fy_model_free(model);
}

TEST(examples_use_model_shapes_abbreviated)
{
    fy_manifest m;
    fy_manifest_io in, out;
    demo_manifest(&m, &in, &out);
    /* image [N, 1, 28, 28] from the model; the manifest's signature left empty,
     * so the tables come from the model too */
    m.n_inputs = m.n_outputs = 0;
    m.inputs = m.outputs = NULL;
    fy_model *model = tiny_model("image", 1, 4);
    char *a = render(&m, model, NULL, 0, NULL, 0);
    FY_CHECK_CONTAINS(a, "| `image` | float32 | `[N, 1, 28, 28]` |");
    FY_CHECK_CONTAINS(a, "-d '{\"instances\": [[[[0.0, 0.0, 0.0, ...], ...]]]}'");
    FY_CHECK_CONTAINS(a, "\"shape\": [1, 1, 28, 28], \"datatype\": \"FP32\", \"data\": [0.0, "
                         "0.0, 0.0, ...]}");
    FY_CHECK_CONTAINS(a, "`...` stands for values left out; a full request carries 784 values "
                         "for `image` per instance.");
    FY_CHECK_CONTAINS(a, "a full request carries 784 values for `image`.");
    FY_CHECK_CONTAINS(a, "None listed.");
    free(a);

    /* several inputs: row form names each input */
    fy_manifest_io ins[2];
    ins[0] = in;
    ins[1] = in;
    ins[1].name = (char *)"mask";
    ins[1].dtype = FY_DTYPE_BOOL;
    ins[1].rank = 1;
    ins[1].dims[0] = 3;
    demo_manifest(&m, &in, &out);
    m.inputs = ins;
    m.n_inputs = 2;
    a = render(&m, model, NULL, 0, NULL, 0);
    FY_CHECK_CONTAINS(a, "{\"instances\": [{\"x\": [0.0, 0.0, 0.0, 0.0], \"mask\": false}]}");
    FY_CHECK_CONTAINS(a, "{\"name\": \"mask\", \"shape\": [3], \"datatype\": \"BOOL\", \"data\": "
                         "[false, false, false]}");
    free(a);

    /* no model: the document still renders and says so */
    a = render(&m, NULL, NULL, 0, NULL, 0);
    FY_CHECK_CONTAINS(a, "The model was not loaded.");
    FY_CHECK_CONTAINS(a, "| `x` | float32 | `[N, 4]` |");
    free(a);
    fy_model_free(model);
}

TEST(hostile_strings_stay_inside_their_cells_and_quotes)
{
    fy_manifest m;
    fy_manifest_io in, out;
    demo_manifest(&m, &in, &out);
    m.name = (char *)"de mo/../x";
    m.version = (char *)"1.0.0;rm -rf ~";
    m.description = (char *)"a | b\n## injected\n<script>alert(1)</script> `code`";
    in.name = (char *)"it's`x|y\"\n";
    in.dim_names[0] = (char *)"b|n";
    m.test_dataset = (char *)"idx:a b,c'd";
    fy__spec_file f[1];
    f[0].name = "we|ird`.txt";
    f[0].size = 1;
    fy__sha256_digest("", 0, f[0].digest);
    char *a = render(&m, NULL, f, 1, NULL, 0);
    char line[2048];
    FY_CHECK(a != NULL);
    /* the description stays on its row, its markup escaped */
    const char *row = line_of(a, "| Description |", line, sizeof line);
    FY_CHECK_CONTAINS(row, "a \\| b ## injected \\<script>alert(1)\\</script> \\`code\\` |");
    FY_CHECK(!strstr(a, "\n## injected"));
    FY_CHECK(!strstr(a, " <script>")); /* only as \\<script> */
    /* code spans with backticks get a longer fence; pipes are escaped in cells */
    FY_CHECK_CONTAINS(a, "| `` it's`x\\|y\"  `` | float32 | `[b\\|n, 4]` |");
    FY_CHECK_CONTAINS(a, "| `` we\\|ird`.txt `` | 1 |");
    /* in JSON bodies ' and ` are \u-escaped, so the shell quoting holds */
    FY_CHECK_CONTAINS(a, "\"it\\u0027s\\u0060x|y\\\"\\u000a\"");
    /* the name is %-encoded in URLs; the package file name keeps safe characters */
    FY_CHECK_CONTAINS(a, "/v2/models/de%20mo%2F..%2Fx/infer");
    FY_CHECK_CONTAINS(a, "ferry check de_mo_.._x-1.0.0_rm_-rf__.ferry");
    /* a dataset with spaces and quotes becomes one shell word */
    FY_CHECK_CONTAINS(a, "--dataset 'idx:a b,c'\\''d'");
    /* every line of every table has the same number of unescaped pipes as its header */
    for (const char *p = a; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && p[0] == '|') {
            int pipes = 0;
            for (size_t i = 0; i < n; i++)
                pipes += p[i] == '|' && (i == 0 || p[i - 1] != '\\');
            FY_CHECK(pipes == 3 || pipes == 4 || pipes == 5);
        }
        p = e ? e + 1 : p + n;
    }
    /* and the JSON variant still parses */
    char *j = render(&m, NULL, f, 1, NULL, 1);
    json_error_t err;
    json_t *doc = j ? json_loads(j, 0, &err) : NULL;
    FY_CHECK(doc != NULL);
    FY_CHECK_STR(json_string_value(json_object_get(doc, "name")), "de mo/../x");
    json_decref(doc);
    free(j);
    free(a);
}

TEST(json_variant_parses_and_matches)
{
    fy_manifest m;
    fy_manifest_io in, out;
    fy__spec_file f[3];
    demo_manifest(&m, &in, &out);
    demo_files(f);
    fy_model *model = tiny_model("x", 4, 2);
    char *a = render(&m, model, f, 3, PKG_DIGEST, 1);
    char *b = render(&m, model, f, 3, PKG_DIGEST, 1);
    FY_CHECK(a && b && strcmp(a, b) == 0);
    FY_CHECK(a && a[strlen(a) - 1] == '\n');
    json_error_t err;
    json_t *doc = a ? json_loads(a, 0, &err) : NULL;
    FY_CHECK(doc != NULL);
    if (!doc) {
        fprintf(stderr, "json: %s at line %d\n", err.text, err.line);
        goto done;
    }
    FY_CHECK_STR(json_string_value(json_object_get(doc, "title")),
                 "demo 1.2.0 — deployment specification");
    json_t *summary = json_object_get(doc, "summary");
    FY_CHECK_STR(json_string_value(json_object_get(summary, "package_digest")), PKG_DIGEST);
    FY_CHECK_EQ(json_array_size(json_object_get(summary, "authors")), 2);
    json_t *x = json_array_get(json_object_get(json_object_get(doc, "signature"), "inputs"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(x, "name")), "x");
    FY_CHECK_STR(json_string_value(json_object_get(x, "datatype")), "FP32");
    json_t *shape = json_object_get(x, "shape");
    FY_CHECK_STR(json_string_value(json_array_get(shape, 0)), "N");
    FY_CHECK_EQ(json_integer_value(json_array_get(shape, 1)), 4);
    json_t *model_j = json_object_get(doc, "model");
    FY_CHECK_EQ(json_integer_value(json_object_get(model_j, "opset")), 13);
    json_t *ops = json_object_get(model_j, "ops");
    FY_CHECK_EQ(json_array_size(ops), 2);
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(ops, 1), "op")), "Relu");
    FY_CHECK_EQ(json_integer_value(json_object_get(json_array_get(ops, 1), "count")), 2);
    json_t *files = json_object_get(doc, "files");
    FY_CHECK_EQ(json_array_size(files), 3);
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(files, 0), "name")),
                 "ferry.yaml");
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(files, 0), "sha256")),
                 f[1].digest);
    json_t *req = json_object_get(doc, "requirements");
    FY_CHECK_EQ(json_integer_value(json_object_get(req, "min_memory_mb")), 256);
    json_t *tests = json_object_get(doc, "test_standards");
    FY_CHECK_NEAR(json_real_value(json_object_get(tests, "minimum")), 0.89, 1e-12);
    json_t *flow = json_object_get(doc, "deployment_flow");
    FY_CHECK_EQ(json_array_size(flow), 5);
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(flow, 0), "command")),
                 "ferry check demo-1.2.0.ferry --trusted-key KEY.pub");
    FY_CHECK(json_is_false(json_object_get(json_array_get(flow, 0), "planned")));
    FY_CHECK(json_is_true(json_object_get(json_array_get(flow, 4), "planned")));
    json_t *eps = json_object_get(doc, "endpoints");
    FY_CHECK_EQ(json_array_size(eps), 3);
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(eps, 1), "path")),
                 "/v2/models/demo/infer");
    /* the request bodies that are not abbreviated are real JSON */
    for (size_t i = 0; i < json_array_size(eps); i++) {
        json_t *e = json_array_get(eps, i);
        FY_CHECK(json_is_false(json_object_get(e, "body_abbreviated")));
        json_t *body = json_loads(json_string_value(json_object_get(e, "body")), 0, &err);
        FY_CHECK(body != NULL);
        json_decref(body);
    }
    FY_CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "datatypes"), "float32")),
                 "FP32");
    /* keys are sorted, so the text is stable */
    FY_CHECK(strstr(a, "\"datatypes\"") < strstr(a, "\"deployment_flow\""));
    json_decref(doc);
done:
    free(a);
    free(b);
    fy_model_free(model);
}

TEST(invalid_utf8_from_the_model_still_gives_valid_json)
{
    fy_manifest m;
    fy_manifest_io in, out;
    demo_manifest(&m, &in, &out);
    m.n_inputs = m.n_outputs = 0;
    fy_model *model = tiny_model("x\xff\xfe", 4, 2);
    if (!model) { /* the loader may refuse such names; then there is nothing to render */
        fprintf(stderr, "note: the loader refused a non-UTF-8 input name\n");
        return;
    }
    char *a = render(&m, model, NULL, 0, NULL, 1);
    json_error_t err;
    json_t *doc = a ? json_loads(a, 0, &err) : NULL;
    FY_CHECK(doc != NULL);
    json_decref(doc);
    free(a);
    fy_model_free(model);
}

TEST(out_of_memory_fails_cleanly)
{
    fy_manifest m;
    fy_manifest_io in, out;
    fy__spec_file f[3];
    demo_manifest(&m, &in, &out);
    demo_files(f);
    fy_model *model = tiny_model("x", 4, 2);
    /* jansson allocates through the same hooks, so its failures are injected too */
    json_set_alloc_funcs(fy__malloc, fy__free);
    for (int json = 0; json <= 1; json++) {
        int ok_at = 0;
        for (long n = 1; n < 5000 && !ok_at; n++) {
            fy_diag d = {{0}};
            char *text = (char *)"untouched";
            fy__alloc_fail_at(n);
            int rc = fy__spec_render(&m, model, f, 3, PKG_DIGEST, json, &text, &d);
            fy__alloc_fail_at(0);
            if (rc == FY_OK) {
                ok_at = 1;
                free(text);
            } else {
                FY_CHECK_EQ(rc, FY_ENOMEM);
                FY_CHECK_STR(text, "untouched");
                FY_CHECK_CONTAINS(d.msg, "out of memory");
            }
        }
        FY_CHECK(ok_at);
    }
    json_set_alloc_funcs(malloc, free);
    fy_model_free(model);
}

TEST(bad_arguments_are_refused)
{
    fy_diag d = {{0}};
    char *out = NULL;
    FY_CHECK_EQ(fy__spec_render(NULL, NULL, NULL, 0, NULL, 0, &out, &d), FY_EINVAL);
    fy_manifest m;
    fy_manifest_io in, o;
    demo_manifest(&m, &in, &o);
    FY_CHECK_EQ(fy__spec_render(&m, NULL, NULL, 2, NULL, 0, &out, &d), FY_EINVAL);
    FY_CHECK_EQ(fy__spec_render(&m, NULL, NULL, 0, NULL, 0, NULL, &d), FY_EINVAL);
    FY_CHECK(out == NULL);
}

/* ---- a real package ---- */

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static int write_model(const char *path)
{
    int64_t dims[2] = {1, 4}, wd[1] = {1};
    static const float w[1] = {2};
    gb b;
    gb_init(&b, "tiny");
    gb_input(&b, "x", FY_DTYPE_F32, 2, dims);
    gb_output(&b, "y", FY_DTYPE_F32, 2, dims);
    for (int k = 0; k < 2; k++) {
        b.dims[k][0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        b.dims[k][0].dim_param = (char *)"N";
    }
    gb_init_f32(&b, "w", 1, wd, w, 1);
    gb_node(&b, "Mul", 2, 1, "x", "w", "y");
    return gb_write(&b, 13, path);
}

TEST(package_spec_names_its_digest_and_files)
{
    fy_diag d = {{0}};
    fy_model *m = NULL;
    char *yaml = NULL, *md = NULL, *md2 = NULL, *js = NULL;
    fy_package *p = NULL;
    FY_CHECK_EQ(write_model(path_in("tiny.onnx")), 0);
    FY_CHECK_EQ(fy_model_load(&m, path_in("tiny.onnx"), NULL, &d), FY_OK);
    FY_CHECK_EQ(fy_manifest_template(&yaml, m, "tiny.onnx", &d), FY_OK);
    fy_model_free(m);
    FILE *f = fopen(path_in("ferry.yaml"), "w");
    if (f && yaml)
        fputs(yaml, f);
    if (f)
        fclose(f);
    free(yaml);
    int rc = fy_package_pack(path_in("ferry.yaml"), path_in("tiny.ferry"), NULL, &d);
    FY_CHECK_EQ(rc, FY_OK);
    if (rc != FY_OK) {
        fprintf(stderr, "pack: %s\n", d.msg);
        return;
    }
    FY_CHECK_EQ(fy_package_open(&p, path_in("tiny.ferry"), &d), FY_OK);
    if (!p)
        return;
    FY_CHECK_EQ(fy_package_spec(p, 0, &md, &d), FY_OK);
    FY_CHECK_EQ(fy_package_spec(p, 0, &md2, &d), FY_OK);
    FY_CHECK_EQ(fy_package_spec(p, 1, &js, &d), FY_OK);
    FY_CHECK(md && md2 && strcmp(md, md2) == 0);
    char want[128];
    snprintf(want, sizeof want, "| Package digest | `%s` |", fy_package_digest(p));
    FY_CHECK_CONTAINS(md, want);
    FY_CHECK_CONTAINS(md, "| `SPEC.md` |");
    FY_CHECK_CONTAINS(md, "| `ferry.yaml` |");
    FY_CHECK_CONTAINS(md, "| `tiny.onnx` |");
    FY_CHECK_CONTAINS(md, "| ai.onnx | Mul | 1 | yes |");
    /* the SPEC.md packed inside is the same document without the digest (which
     * did not exist yet) and without its own row */
    const void *inner;
    size_t inner_len;
    FY_CHECK_EQ(fy_package_file(p, "SPEC.md", &inner, &inner_len), FY_OK);
    static const char *title = "# tiny 0.1.0 — deployment specification\n";
    FY_CHECK(inner_len > strlen(title) && memcmp(inner, title, strlen(title)) == 0);
    json_error_t err;
    json_t *doc = js ? json_loads(js, 0, &err) : NULL;
    FY_CHECK(doc != NULL);
    FY_CHECK_STR(
        json_string_value(json_object_get(json_object_get(doc, "summary"), "package_digest")),
        fy_package_digest(p));
    FY_CHECK_EQ(json_array_size(json_object_get(doc, "files")), 3);
    json_decref(doc);
    free(md);
    free(md2);
    free(js);
    fy_package_free(p);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-spec-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(markdown_has_every_section_and_is_deterministic);
    RUN(examples_use_model_shapes_abbreviated);
    RUN(hostile_strings_stay_inside_their_cells_and_quotes);
    RUN(json_variant_parses_and_matches);
    RUN(invalid_utf8_from_the_model_still_gives_valid_json);
    RUN(out_of_memory_fails_cleanly);
    RUN(bad_arguments_are_refused);
    RUN(package_spec_names_its_digest_and_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
