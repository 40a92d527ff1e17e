/* SPDX-License-Identifier: MIT */
/* ferry compress: prune, quantize or share a model's weights and report what it
 * cost (accuracy, output difference) and saved (size, non-zeros, speed). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ferry/compress.h"

static const char help[] =
    "usage: ferry compress MODEL|PACKAGE -o OUT [options]\n"
    "\n"
    "Writes a compressed copy of the model (standard ONNX) to OUT, or for a package\n"
    "a new package whose manifest records the compression, and reports parameters,\n"
    "file size, non-zeros, latency and throughput (batch 1 and 32) and, with --eval,\n"
    "top-1 accuracy and the output difference, before and after.\n"
    "\n"
    "pruning (applied first, in this order):\n"
    "  --prune R              per layer, zero weights with |w| / max|w| <= R (0 <= R < 1)\n"
    "  --prune-global S       zero the smallest |w| over all layers to sparsity S\n"
    "  --prune-structured R   remove the fraction R of output channels/neurons (lowest L1\n"
    "                         norm) and the next layer's matching inputs\n"
    "  --exclude NAME,...     node or weight names to leave untouched\n"
    "quantization (one of):\n"
    "  --quantize int8          static: per-channel int8 weights, activations calibrated\n"
    "                           on --calibration (QLinearConv/MatMulInteger)\n"
    "  --quantize int8-dynamic  activations quantized per run (Gemm/MatMul layers)\n"
    "  --quantize fp16|bf16     float initializers stored in 16 bits, Cast at run time\n"
    "  --calibration DATASET    samples for int8 (default: the --eval dataset)\n"
    "  --calibrate minmax|percentile|entropy   range method (default minmax)\n"
    "  --calibration-limit N    calibration samples (default 512)\n"
    "  --int8-min-k N           Conv layers with C*kh*kw < N stay float; 0: none. Default:\n"
    "                           < 32 stay float unless a MaxPool follows that ferry fuses\n"
    "                           with them (docs/compress.md)\n"
    "weight sharing:\n"
    "  --share-weights K        k-means each layer's weights into 2^K values (K = 1..8)\n"
    "  --seed N                 k-means++ seed (default 1)\n"
    "report and gate:\n"
    "  --eval DATASET           labeled data for accuracy and output difference\n"
    "  --eval-limit N           only the first N samples\n"
    "  --max-drop P             fail (exit 1, nothing written) if accuracy drops by more\n"
    "                           than P percentage points (needs --eval)\n"
    "  --runs N                 timed runs per batch size and round, 3 rounds (default\n"
    "                           20 at batch 1, 10 at batch 32)\n"
    "  --threads N              threads for the timing (default 1; 0: every CPU)\n"
    "  --no-speed               skip the timing (latency and throughput are null)\n"
    "  --json                   print the report as one JSON object\n"
    "  --report-md FILE         also write the report as Markdown\n"
    "\n"
    "DATASET: idx:IMAGES,LABELS | npy:IMAGES.npy,LABELS.npy | dir:FOLDER\n"
    "(see docs/compress.md). Samples are uint8, scaled by 1/255 (or the package's\n"
    "preprocessing.scale).\n"
    "\n"
    "exit: 0 ok, 1 accuracy dropped more than --max-drop, 2 usage, 3 invalid model\n"
    "or dataset, 4 unsupported, 5 unreadable or unwritable.\n";

typedef struct side {
    int64_t size_bytes;
    fy_model_counts counts;
    int has_speed;
    fy_speed speed;
    int has_acc;
    double accuracy;
    int64_t eval_count;
} side;

static int read_all(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t cap = 1 << 20, n = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= ((size_t)2 << 30)) {
            free(b);
            b = NULL;
            break;
        }
        unsigned char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
        }
        b = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!b || err) {
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

/* Write bytes to a temporary file beside path, fsync, rename: nothing ever
 * exists under path but the whole file. */
static int write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
        return -1;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    const unsigned char *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    int ok = left == 0 && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int parse_frac(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v < 1))
        return -1;
    *out = v;
    return 0;
}

static json_t *side_json(const side *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "accuracy", s->has_acc ? json_real(s->accuracy) : json_null());
    json_object_set_new(o, "size_bytes", json_integer(s->size_bytes));
    json_object_set_new(o, "params", json_integer(s->counts.params));
    json_object_set_new(o, "nonzero", json_integer(s->counts.nonzero));
#define SPEED(k, v) json_object_set_new(o, k, s->has_speed ? json_real(v) : json_null())
    SPEED("latency_b1_ms", s->speed.latency_b1_ms);
    SPEED("latency_b32_ms", s->speed.latency_b32_ms);
    SPEED("throughput_b1", s->speed.throughput_b1);
    SPEED("throughput_b32", s->speed.throughput_b32);
#undef SPEED
    return o;
}

static void fmt_acc(char *buf, size_t n, const side *s)
{
    if (s->has_acc)
        snprintf(buf, n, "%.4f", s->accuracy);
    else
        snprintf(buf, n, "-");
}

/* The report as Markdown (md = 1) or terminal text (md = 0). */
static void print_report(FILE *f, int md, const char *in, const char *out, const side *b,
                         const side *a, const fy_compress_result *res, int has_diff, double dmax,
                         double dmean)
{
    char ab[32], aa[32];
    fmt_acc(ab, sizeof ab, b);
    fmt_acc(aa, sizeof aa, a);
    const char *bar = md ? "|" : " ";
    if (md)
        fprintf(f, "# Compression report\n\n`%s` -> `%s`\n\nmethods:", in, out);
    else
        fprintf(f, "%s -> %s\nmethods:", in, out);
    for (int i = 0; i < res->n_methods; i++)
        fprintf(f, " %s", res->methods[i]);
    fprintf(f, "%s\n\n", res->n_methods ? "" : " none");
    if (md)
        fprintf(f, "| | before | after | ratio |\n|---|---:|---:|---:|\n");
    else
        fprintf(f, "  %-24s %14s %14s %8s\n", "", "before", "after", "ratio");
#define ROW(label, fb, fa, vb, va)                                                                 \
    do {                                                                                           \
        char x_[40], y_[40];                                                                       \
        snprintf(x_, sizeof x_, fb, vb);                                                           \
        snprintf(y_, sizeof y_, fa, va);                                                           \
        double r_ = (double)(vb) != 0 ? (double)(va) / (double)(vb) : 0;                           \
        if (md)                                                                                    \
            fprintf(f, "| %s | %s | %s | %.3f |\n", label, x_, y_, r_);                            \
        else                                                                                       \
            fprintf(f, "  %-24s %14s %14s %8.3f\n", label, x_, y_, r_);                            \
    } while (0)
    ROW("file size (bytes)", "%lld", "%lld", (long long)b->size_bytes, (long long)a->size_bytes);
    ROW("parameters", "%lld", "%lld", (long long)b->counts.params, (long long)a->counts.params);
    ROW("non-zero parameters", "%lld", "%lld", (long long)b->counts.nonzero,
        (long long)a->counts.nonzero);
    if (b->has_speed && a->has_speed) {
        ROW("latency batch 1 (ms)", "%.3f", "%.3f", b->speed.latency_b1_ms, a->speed.latency_b1_ms);
        ROW("latency batch 32 (ms)", "%.3f", "%.3f", b->speed.latency_b32_ms,
            a->speed.latency_b32_ms);
        ROW("throughput b1 (/s)", "%.1f", "%.1f", b->speed.throughput_b1, a->speed.throughput_b1);
        ROW("throughput b32 (/s)", "%.1f", "%.1f", b->speed.throughput_b32,
            a->speed.throughput_b32);
    }
#undef ROW
    if (md)
        fprintf(f, "| top-1 accuracy | %s | %s | |\n", ab, aa);
    else
        fprintf(f, "  %-24s %14s %14s\n", "top-1 accuracy", ab, aa);
    if (b->has_acc && a->has_acc)
        fprintf(f, "%saccuracy change: %+.2f points on %lld samples\n", md ? "\n" : "\n",
                (a->accuracy - b->accuracy) * 100.0, (long long)a->eval_count);
    if (has_diff)
        fprintf(f, "%soutput difference: max %.6g, mean %.6g\n", md ? "\n" : "", dmax, dmean);
    fprintf(f, "\n%slayers:\n\n", md ? "" : "");
    if (md)
        fprintf(f, "| layer | op | method | params before | after | non-zero before | after | "
                   "max weight error |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    int shown = res->n_layers < FY_COMPRESS_MAX_LAYERS ? res->n_layers : FY_COMPRESS_MAX_LAYERS;
    int wname = 5, wmeth = 6;
    for (int i = 0; i < shown; i++) {
        int ln = (int)strlen(res->layers[i].name), lm = (int)strlen(res->layers[i].method);
        wname = ln > wname ? ln : wname;
        wmeth = lm > wmeth ? lm : wmeth;
    }
    if (!md)
        fprintf(f, "  %-*s %-8s %-*s %10s %10s %10s\n", wname, "layer", "op", wmeth, "method",
                "params", "nz before", "nz after");
    for (int i = 0; i < shown; i++) {
        const fy_compress_layer *l = &res->layers[i];
        const char *m = l->method[0] ? l->method : "-";
        if (md)
            fprintf(f, "| %s | %s | %s | %lld | %lld | %lld | %lld | %.3g |\n", l->name, l->op, m,
                    (long long)l->params_before, (long long)l->params_after,
                    (long long)l->nonzero_before, (long long)l->nonzero_after, l->max_abs_err);
        else
            fprintf(f, "  %-*s %-8s %-*s %10lld %10lld %10lld\n", wname, l->name, l->op, wmeth, m,
                    (long long)l->params_after, (long long)l->nonzero_before,
                    (long long)l->nonzero_after);
    }
    (void)bar;
}

static json_t *report_json(const char *in, const char *out, const side *b, const side *a,
                           const fy_compress_result *res, int has_diff, double dmax, double dmean,
                           double max_drop, int passed)
{
    json_t *o = json_object();
    json_object_set_new(o, "input", json_string(in));
    json_object_set_new(o, "output", json_string(out));
    json_object_set_new(o, "before", side_json(b));
    json_object_set_new(o, "after", side_json(a));
    json_t *m = json_array();
    for (int i = 0; i < res->n_methods; i++)
        json_array_append_new(m, json_string(res->methods[i]));
    json_object_set_new(o, "methods", m);
    json_object_set_new(o, "accuracy_drop_points",
                        b->has_acc && a->has_acc ? json_real((b->accuracy - a->accuracy) * 100)
                                                 : json_null());
    json_object_set_new(o, "eval_count", b->has_acc ? json_integer(b->eval_count) : json_null());
    json_t *diff = json_object();
    json_object_set_new(diff, "max", has_diff ? json_real(dmax) : json_null());
    json_object_set_new(diff, "mean", has_diff ? json_real(dmean) : json_null());
    json_object_set_new(o, "output_diff", diff);
    json_t *gate = json_object();
    json_object_set_new(gate, "max_drop_points", max_drop >= 0 ? json_real(max_drop) : json_null());
    json_object_set_new(gate, "passed", json_boolean(passed));
    json_object_set_new(o, "gate", gate);
    json_t *layers = json_array();
    int shown = res->n_layers < FY_COMPRESS_MAX_LAYERS ? res->n_layers : FY_COMPRESS_MAX_LAYERS;
    for (int i = 0; i < shown; i++) {
        const fy_compress_layer *l = &res->layers[i];
        json_t *x = json_object();
        json_object_set_new(x, "name", json_string(l->name));
        json_object_set_new(x, "op", json_string(l->op));
        json_object_set_new(x, "method", json_string(l->method));
        json_object_set_new(x, "params_before", json_integer(l->params_before));
        json_object_set_new(x, "params_after", json_integer(l->params_after));
        json_object_set_new(x, "nonzero_before", json_integer(l->nonzero_before));
        json_object_set_new(x, "nonzero_after", json_integer(l->nonzero_after));
        json_object_set_new(x, "max_weight_error", json_real(l->max_abs_err));
        json_array_append_new(layers, x);
    }
    json_object_set_new(o, "layers", layers);
    return o;
}

/* Measure one side: counts, and accuracy plus all scores when ds is given. */
static int measure(const char *what, const fy_model *m, size_t len, const fy_dataset *ds,
                   int64_t limit, float scale, side *s, fy_tensor *scores)
{
    fy_diag d = {{0}};
    fy_session *sess = NULL;
    int rc = fy_compress_count(m, &s->counts);
    s->size_bytes = (int64_t)len;
    if (rc == FY_OK && ds) {
        fy_eval_opts eo = {0};
        fy_eval_result er;
        eo.limit = limit;
        eo.scale = scale;
        eo.scores = scores;
        eo.batch = 64;
        if ((rc = fy_session_create(&sess, m, NULL, &d)) == FY_OK &&
            (rc = fy_eval_classifier(sess, m, ds, &eo, &er, &d)) == FY_OK) {
            s->has_acc = 1;
            s->accuracy = er.accuracy;
            s->eval_count = er.count;
        }
    }
    fy_session_free(sess);
    if (rc != FY_OK)
        return cli_error("compress", cli_exit_for(rc), NULL, "measuring the %s model: %s", what,
                         d.msg);
    return EXIT_OK;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[4400];
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p || strchr(name, '/'))
        return -1;
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* A package in, a package out: its files unpacked into a temporary folder, the
 * model replaced, a `compression` record appended to ferry.yaml, and packed
 * again (fy_package_pack writes atomically). Package paths are single names
 * here; a model or labels file in a subfolder is refused. */
static int compress_package(fy_package *pkg, const char *out_path, const void *model,
                            size_t model_len, const char *record, fy_diag *d)
{
    const fy_manifest *man = fy_package_manifest(pkg);
    const void *yaml = NULL, *labels = NULL;
    size_t yaml_len = 0, labels_len = 0;
    char dir[] = "/tmp/ferry-compress-XXXXXX", path[4400];
    int rc = fy_package_file(pkg, "ferry.yaml", &yaml, &yaml_len);
    if (rc != FY_OK) {
        snprintf(d->msg, sizeof d->msg, "package has no ferry.yaml");
        return rc;
    }
    if (strchr(man->model_file, '/') || (man->labels_file && strchr(man->labels_file, '/'))) {
        snprintf(d->msg, sizeof d->msg, "packages with files in subfolders are not supported yet");
        return FY_EUNSUPPORTED;
    }
    if (man->labels_file && (rc = fy_package_file(pkg, man->labels_file, &labels, &labels_len)))
        return rc;
    if (!mkdtemp(dir)) {
        snprintf(d->msg, sizeof d->msg, "cannot create a temporary folder");
        return FY_EIO;
    }
    /* The record: a mapping appended at the end of the manifest (a top-level key). */
    const char *y = yaml;
    int has_record = 0;
    for (size_t i = 0; i + 12 <= yaml_len; i++)
        if ((i == 0 || y[i - 1] == '\n') && memcmp(y + i, "compression:", 12) == 0)
            has_record = 1;
    char tail[1024];
    int tl =
        snprintf(tail, sizeof tail, "%scompression:\n  %s\n  source: \"%s\"\n",
                 yaml_len && y[yaml_len - 1] != '\n' ? "\n" : "", record, fy_package_digest(pkg));
    rc = FY_EIO;
    snprintf(d->msg, sizeof d->msg, "cannot write the package files to %s", dir);
    if (has_record) {
        rc = FY_EUNSUPPORTED;
        snprintf(d->msg, sizeof d->msg,
                 "the package is already compressed (its manifest has a compression record)");
    } else if (write_file(dir, man->model_file, model, model_len) == 0 &&
               (!labels || write_file(dir, man->labels_file, labels, labels_len) == 0)) {
        snprintf(path, sizeof path, "%s/ferry.yaml", dir);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(yaml, 1, yaml_len, f) == yaml_len &&
                 fwrite(tail, 1, (size_t)tl, f) == (size_t)tl;
        if (f && fclose(f) != 0)
            ok = 0;
        if (ok) {
            memset(d->msg, 0, sizeof d->msg);
            rc = fy_package_pack(path, out_path, NULL, d);
        }
    }
    const char *names[3] = {"ferry.yaml", man->model_file, man->labels_file};
    for (int i = 0; i < 3; i++)
        if (names[i] && (size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) < sizeof path)
            unlink(path);
    rmdir(dir);
    return rc;
}

/* A usage error after --exclude has allocated its copy. */
#define USAGE(...)                                                                                 \
    do {                                                                                           \
        free(exclude_buf);                                                                         \
        return cli_error("compress", EXIT_USAGE, __VA_ARGS__);                                     \
    } while (0)

int cmd_compress(int argc, char **argv)
{
    const char *path = NULL, *out_path = NULL, *calib_spec = NULL, *eval_spec = NULL,
               *md_path = NULL;
    const char *exclude[FY_COMPRESS_MAX_EXCLUDE];
    char *exclude_buf = NULL;
    int json = 0, runs = 0; /* -1: --no-speed */
    int threads = 1;
    long v;
    double max_drop = -1;
    int64_t eval_limit = 0;
    fy_compress_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            free(exclude_buf);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "-o") == 0 && more) {
            out_path = argv[++i];
        } else if (strcmp(a, "--prune") == 0 && more) {
            if (parse_frac(argv[++i], &o.prune) != 0)
                USAGE(NULL, "--prune wants 0 <= R < 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--prune-global") == 0 && more) {
            if (parse_frac(argv[++i], &o.prune_global) != 0)
                USAGE(NULL, "--prune-global wants 0 <= S < 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--prune-structured") == 0 && more) {
            if (parse_frac(argv[++i], &o.prune_structured) != 0)
                USAGE(NULL, "--prune-structured wants 0 <= R < 1, got '%s'", argv[i]);
        } else if (strcmp(a, "--exclude") == 0 && more) {
            free(exclude_buf);
            exclude_buf = strdup(argv[++i]);
            if (!exclude_buf)
                return cli_error("compress", EXIT_IO, NULL, "out of memory");
            o.n_exclude = 0;
            for (char *save = NULL, *t = strtok_r(exclude_buf, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                if (o.n_exclude >= FY_COMPRESS_MAX_EXCLUDE) {
                    USAGE(NULL, "--exclude: at most %d names", FY_COMPRESS_MAX_EXCLUDE);
                }
                exclude[o.n_exclude++] = t;
            }
            o.exclude = exclude;
        } else if (strcmp(a, "--quantize") == 0 && more) {
            const char *m = argv[++i];
            o.quantize = strcmp(m, "int8") == 0           ? FY_QUANT_INT8
                         : strcmp(m, "int8-dynamic") == 0 ? FY_QUANT_INT8_DYNAMIC
                         : strcmp(m, "fp16") == 0         ? FY_QUANT_FP16
                         : strcmp(m, "bf16") == 0         ? FY_QUANT_BF16
                                                          : FY_QUANT_NONE;
            if (o.quantize == FY_QUANT_NONE) {
                USAGE(NULL, "--quantize wants int8, int8-dynamic, fp16 or bf16, got '%s'", m);
            }
        } else if (strcmp(a, "--calibrate") == 0 && more) {
            const char *m = argv[++i];
            if (strcmp(m, "minmax") == 0)
                o.calibrate = FY_CALIB_MINMAX;
            else if (strcmp(m, "percentile") == 0)
                o.calibrate = FY_CALIB_PERCENTILE;
            else if (strcmp(m, "entropy") == 0)
                o.calibrate = FY_CALIB_ENTROPY;
            else {
                USAGE(NULL, "--calibrate wants minmax, percentile or entropy, got '%s'", m);
            }
        } else if (strcmp(a, "--int8-min-k") == 0 && more) {
            if (cli_parse_long(argv[++i], 0, 1L << 30, &v) != 0)
                USAGE(NULL, "--int8-min-k wants a count (0: quantize every Conv), got '%s'",
                      argv[i]);
            o.int8_min_k = v == 0 ? -1 : (int)v;
        } else if (strcmp(a, "--calibration") == 0 && more) {
            calib_spec = argv[++i];
        } else if (strcmp(a, "--calibration-limit") == 0 && more) {
            if (cli_parse_long(argv[++i], 1, FY_CALIB_MAX_SAMPLES, &v) != 0)
                USAGE(NULL, "--calibration-limit wants 1..%d, got '%s'", FY_CALIB_MAX_SAMPLES,
                      argv[i]);
            o.calibration_limit = v;
        } else if (strcmp(a, "--share-weights") == 0 && more) {
            if (cli_parse_long(argv[++i], 1, FY_SHARE_MAX_BITS, &v) != 0)
                USAGE(NULL, "--share-weights wants 1..%d bits, got '%s'", FY_SHARE_MAX_BITS,
                      argv[i]);
            o.share_bits = (int)v;
        } else if (strcmp(a, "--seed") == 0 && more) {
            if (cli_parse_long(argv[++i], 0, 1L << 62, &v) != 0)
                USAGE(NULL, "--seed wants a count, got '%s'", argv[i]);
            o.seed = (uint64_t)v;
        } else if (strcmp(a, "--eval") == 0 && more) {
            eval_spec = argv[++i];
        } else if (strcmp(a, "--eval-limit") == 0 && more) {
            if (cli_parse_long(argv[++i], 1, 1L << 40, &v) != 0)
                USAGE(NULL, "--eval-limit wants a positive count, got '%s'", argv[i]);
            eval_limit = v;
        } else if (strcmp(a, "--runs") == 0 && more) {
            if (cli_parse_long(argv[++i], 1, 64, &v) != 0)
                USAGE(NULL, "--runs wants 1..64, got '%s'", argv[i]);
            runs = (int)v;
        } else if (strcmp(a, "--threads") == 0 && more) {
            if (cli_parse_long(argv[++i], 0, 1024, &v) != 0)
                USAGE(NULL, "--threads wants 0..1024 (0: every CPU), got '%s'", argv[i]);
            threads = (int)v;
        } else if (strcmp(a, "--no-speed") == 0) {
            runs = -1;
        } else if (strcmp(a, "--max-drop") == 0 && more) {
            char *end;
            max_drop = strtod(argv[++i], &end);
            if (!*argv[i] || *end || !(max_drop >= 0 && max_drop <= 100)) {
                USAGE(NULL, "--max-drop wants percentage points from 0 to 100, got '%s'", argv[i]);
            }
        } else if (strcmp(a, "--report-md") == 0 && more) {
            md_path = argv[++i];
        } else if (a[0] == '-') {
            USAGE("see 'ferry compress --help'", "unknown or incomplete option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            USAGE(NULL, "more than one model given");
        }
    }
    if (!path || !out_path) {
        USAGE("see 'ferry compress --help'", !path ? "no model given" : "no output given (-o OUT)");
    }
    if (o.prune == 0 && o.prune_global == 0 && o.prune_structured == 0 &&
        o.quantize == FY_QUANT_NONE && o.share_bits == 0)
        USAGE("see 'ferry compress --help'",
              "no method given (--prune, --prune-global, --prune-structured, --quantize or "
              "--share-weights)");
    if (max_drop >= 0 && !eval_spec) {
        USAGE(NULL, "--max-drop needs --eval DATASET");
    }
    if (o.quantize == FY_QUANT_INT8 && !calib_spec)
        calib_spec = eval_spec;
    if (o.quantize == FY_QUANT_INT8 && !calib_spec) {
        USAGE("or use --quantize int8-dynamic", "--quantize int8 needs --calibration DATASET");
    }

    int code = EXIT_OK, rc;
    fy_diag d = {{0}};
    fy_package *pkg = NULL;
    fy_dataset calib = {0}, eval = {0};
    unsigned char *in_bytes = NULL;
    const void *model_bytes = NULL;
    size_t model_len = 0;
    void *out_bytes = NULL;
    size_t out_len = 0;
    fy_compress_result *res = calloc(1, sizeof *res);
    fy_tensor sb = {0}, sa = {0};
    json_t *rep = NULL;
    float scale = 1.0f / 255.0f;
    if (!res) {
        code = cli_error("compress", EXIT_IO, NULL, "out of memory");
        goto done;
    }
    if (fy_package_sniff(path)) {
        if ((rc = fy_package_open(&pkg, path, &d)) != FY_OK) {
            code = cli_error("compress", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        const fy_manifest *man = fy_package_manifest(pkg);
        if ((rc = fy_package_file(pkg, man->model_file, &model_bytes, &model_len)) != FY_OK) {
            code = cli_error("compress", cli_exit_for(rc), NULL, "%s: no model file", path);
            goto done;
        }
        if (man->scale > 0)
            scale = (float)man->scale;
    } else {
        size_t n = 0;
        if (read_all(path, &in_bytes, &n) != 0) {
            code = cli_error("compress", EXIT_IO, NULL, "cannot read '%s': %s", path,
                             strerror(errno ? errno : EIO));
            goto done;
        }
        model_bytes = in_bytes;
        model_len = n;
    }
    if (calib_spec && (rc = fy_dataset_open(&calib, calib_spec, &d)) != FY_OK) {
        code = cli_error("compress", cli_exit_for(rc), NULL, "calibration data: %s", d.msg);
        goto done;
    }
    if (eval_spec && (rc = fy_dataset_open(&eval, eval_spec, &d)) != FY_OK) {
        code = cli_error("compress", cli_exit_for(rc), NULL, "evaluation data: %s", d.msg);
        goto done;
    }
    o.calibration = calib_spec ? &calib : NULL;
    o.input_scale = scale;
    if ((rc = fy_compress_model(model_bytes, model_len, &o, &out_bytes, &out_len, res, &d)) !=
        FY_OK) {
        code = cli_error("compress", cli_exit_for(rc), NULL, "%s", d.msg);
        goto done;
    }
    side before = {0}, after = {0};
#ifdef __GLIBC__
    /* Steady-state timing: keep freed tensor buffers in the heap instead of
     * returning them to the kernel, so each run does not pay fresh page faults
     * for its outputs; otherwise glibc's adaptive mmap threshold makes the same
     * model 2x slower or not depending on what ran before (measured: 7 vs 14 ms
     * for the example at batch 32). A long-running server reaches this state. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    const fy_dataset *eds = eval_spec ? &eval : NULL;
    const fy_dataset *speed_ds = eds ? eds : calib_spec ? &calib : NULL;
    {
        fy_model *mb = NULL, *ma = NULL;
        rc = fy_model_load_buffer(&mb, model_bytes, model_len, NULL, NULL, &d);
        if (rc == FY_OK)
            rc = fy_model_load_buffer(&ma, out_bytes, out_len, NULL, NULL, &d);
        if (rc != FY_OK) {
            fy_model_free(mb);
            code = cli_error("compress", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        if ((code = measure("original", mb, model_len, eds, eval_limit, scale, &before,
                            eds ? &sb : NULL)) == EXIT_OK)
            code = measure("compressed", ma, out_len, eds, eval_limit, scale, &after,
                           eds ? &sa : NULL);
        if (code == EXIT_OK && runs >= 0) {
            /* Speed is information, not a requirement: a model the timing cannot
             * feed (several inputs, symbolic shapes) still gets compressed. Both
             * models are timed with their runs interleaved. */
            const fy_model *pair[2] = {mb, ma};
            fy_speed sp[2];
            fy_diag sd = {{0}};
            if (fy_compress_speed(pair, 2, speed_ds, scale, runs, threads, sp, &sd) == FY_OK) {
                before.speed = sp[0];
                after.speed = sp[1];
                before.has_speed = after.has_speed = 1;
            } else {
                fprintf(stderr, "ferry compress: warning: speed not measured: %s\n", sd.msg);
            }
        }
        fy_model_free(mb);
        fy_model_free(ma);
        if (code != EXIT_OK)
            goto done;
    }
    int has_diff = 0;
    double dmax = 0, dmean = 0;
    if (eds && fy_tensor_numel(&sb) == fy_tensor_numel(&sa) && fy_tensor_numel(&sb) > 0) {
        const float *x = sb.data, *y = sa.data;
        int64_t n = fy_tensor_numel(&sb);
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)x[i] - (double)y[i]);
            dmax = e > dmax ? e : dmax;
            dmean += e;
        }
        dmean /= (double)n;
        has_diff = 1;
    }
    int passed = 1;
    int64_t package_bytes = -1;
    if (max_drop >= 0 && (before.accuracy - after.accuracy) * 100.0 > max_drop + 1e-9)
        passed = 0;
    if (passed) {
        if (pkg) {
            char record[1024];
            int k = snprintf(record, sizeof record, "methods: [");
            for (int i = 0; i < res->n_methods && k < (int)sizeof record; i++)
                k += snprintf(record + k, sizeof record - (size_t)k, "%s\"%s\"", i ? ", " : "",
                              res->methods[i]);
            if (k < (int)sizeof record)
                k += snprintf(record + k, sizeof record - (size_t)k, "]");
            if (before.has_acc && k < (int)sizeof record)
                snprintf(record + k, sizeof record - (size_t)k,
                         "\n  accuracy_before: %.6f\n  accuracy_after: %.6f", before.accuracy,
                         after.accuracy);
            rc = compress_package(pkg, out_path, out_bytes, out_len, record, &d);
            if (rc != FY_OK) {
                code = cli_error("compress", cli_exit_for(rc), NULL, "%s", d.msg);
                goto done;
            }
            struct stat st;
            if (stat(out_path, &st) == 0)
                package_bytes = (int64_t)st.st_size;
        } else if (write_atomic(out_path, out_bytes, out_len) != 0) {
            code = cli_error("compress", EXIT_IO, NULL, "cannot write '%s': %s", out_path,
                             strerror(errno ? errno : EIO));
            goto done;
        }
    }
    rep = report_json(path, passed ? out_path : NULL, &before, &after, res, has_diff, dmax, dmean,
                      max_drop, passed);
    if (package_bytes >= 0)
        json_object_set_new(rep, "package_bytes", json_integer(package_bytes));
    if (json) {
        char *s = json_dumps(rep, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        if (s)
            puts(s);
        free(s);
    } else {
        print_report(stdout, 0, path, passed ? out_path : "(not written)", &before, &after, res,
                     has_diff, dmax, dmean);
        if (package_bytes >= 0)
            printf("\npackage written: %lld bytes\n", (long long)package_bytes);
    }
    if (md_path) {
        FILE *f = fopen(md_path, "w");
        if (!f) {
            code = cli_error("compress", EXIT_IO, NULL, "cannot write '%s'", md_path);
            goto done;
        }
        print_report(f, 1, path, passed ? out_path : "(not written)", &before, &after, res,
                     has_diff, dmax, dmean);
        if (fclose(f) != 0) {
            code = cli_error("compress", EXIT_IO, NULL, "cannot write '%s'", md_path);
            goto done;
        }
    }
    if (!passed)
        code = cli_error("compress", EXIT_FAILED, "raise --max-drop or compress less",
                         "accuracy dropped %.2f points (%.4f -> %.4f), more than --max-drop %g; "
                         "nothing written to '%s'",
                         (before.accuracy - after.accuracy) * 100.0, before.accuracy,
                         after.accuracy, max_drop, out_path);
done:
    json_decref(rep);
    fy_tensor_deinit(&sb);
    fy_tensor_deinit(&sa);
    fy_compress_free_buf(out_bytes);
    free(in_bytes);
    free(res);
    free(exclude_buf);
    fy_dataset_deinit(&calib);
    fy_dataset_deinit(&eval);
    fy_package_free(pkg);
    return code;
}
