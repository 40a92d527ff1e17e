/* SPDX-License-Identifier: MIT */
/* ferry verify: a package's acceptance tests against an endpoint or in-process. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "usage: ferry verify PACKAGE [--url URL] [options]\n"
    "       ferry verify --url URL --model-name NAME [options]\n"
    "\n"
    "Runs the acceptance tests of a model version through POST /predict/NAME: accuracy\n"
    "on a labeled dataset against a minimum, smoke requests with expected answers,\n"
    "and p99 latency and throughput under a bounded load. Without --url the package\n"
    "is served in this process on a free loopback port. Thresholds default to the\n"
    "manifest's tests section (dataset, min, max_p99_latency_ms,\n"
    "min_throughput_per_s); the options below override them.\n"
    "\n"
    "checks:\n"
    "  --dataset SPEC         labeled dataset, idx:IMAGES,LABELS\n"
    "  --min-accuracy A       fraction, e.g. 0.9 (0: measure only)\n"
    "  --limit N              use the first N samples only\n"
    "  --batch N              samples per request (64)\n"
    "  --no-accuracy          skip the accuracy check\n"
    "  --max-p99-ms MS        latency gate under load (0: none)\n"
    "  --min-throughput R     successful requests/s under load (0: none)\n"
    "  --max-error-rate F     failed share tolerated under load (default 0)\n"
    "  --smoke FILE           a smoke request with FILE as its JSON body (repeatable);\n"
    "                         the --expect options after it apply to it:\n"
    "    --smoke-path PATH      default /predict/NAME\n"
    "    --expect-status N      default 200\n"
    "    --expect-class N       predictions[0]'s class (or argmax)\n"
    "    --expect-label TEXT    predictions[0].label\n"
    "    --expect-contains TEXT the answer contains TEXT\n"
    "load:\n"
    "  -c, --connections N    8\n"
    "  --rate R               open loop at R requests/s (default closed loop)\n"
    "  -d, --duration S       5 (when a latency or throughput gate is set)\n"
    "  -n, --requests N       a fixed number of requests instead\n"
    "  --warmup S             1\n"
    "  --timeout-ms MS        per request (10000)\n"
    "other:\n"
    "  --api-key-file FILE    send 'Authorization: Bearer KEY' (key: the file's first line)\n"
    "  --report-md FILE       write the Markdown report\n"
    "  --report-json FILE     write the JSON report\n"
    "  --json                 print the JSON report instead of the summary\n"
    "\n"
    "exit: 0 every check passed, 1 a check failed, 2 usage, 3 invalid package,\n"
    "dataset or settings, 4 unsupported model or dataset, 5 unreadable file, endpoint\n"
    "unreachable, or a report that cannot be written.\n";

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static char *slurp(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = !buf || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static void on_progress(const char *line, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "  %s\n", line);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    return bad ? -1 : 0;
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL, *md_path = NULL, *json_path = NULL, *key_file = NULL;
    int json = 0, no_accuracy = 0;
    fy_verify_opts o = {0};
    fy_verify_smoke smoke[FY_VERIFY_MAX_SMOKE];
    char *smoke_bodies[FY_VERIFY_MAX_SMOKE] = {0};
    int n_smoke = 0;
    /* overrides, applied after the manifest's defaults; -1: not given */
    double min_acc = -1, p99 = -1, thr = -1;
    const char *dataset = NULL;
    int code = EXIT_OK;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        fy_verify_smoke *last = n_smoke ? &smoke[n_smoke - 1] : NULL;
        if (cli_is_help(a)) {
            fputs(help, stdout);
            goto done;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--no-accuracy") == 0) {
            no_accuracy = 1;
        } else if (v && strcmp(a, "--url") == 0) {
            o.url = argv[++i];
        } else if (v && strcmp(a, "--model-name") == 0) {
            o.model_name = argv[++i];
        } else if (v && strcmp(a, "--dataset") == 0) {
            dataset = argv[++i];
        } else if (v && strcmp(a, "--report-md") == 0) {
            md_path = argv[++i];
        } else if (v && strcmp(a, "--report-json") == 0) {
            json_path = argv[++i];
        } else if (v && strcmp(a, "--api-key-file") == 0) {
            key_file = argv[++i];
        } else if (v && strcmp(a, "--min-accuracy") == 0 && !num(v, 0, 1, &x)) {
            min_acc = x;
            i++;
        } else if (v && strcmp(a, "--limit") == 0 && !num(v, 1, 1e12, &x) && x == floor(x)) {
            o.accuracy_limit = (int64_t)x;
            i++;
        } else if (v && strcmp(a, "--batch") == 0 && !num(v, 1, 4096, &x) && x == floor(x)) {
            o.accuracy_batch = (int)x;
            i++;
        } else if (v && strcmp(a, "--max-p99-ms") == 0 && !num(v, 0, 3600000, &x)) {
            p99 = x;
            i++;
        } else if (v && strcmp(a, "--min-throughput") == 0 && !num(v, 0, 1e12, &x)) {
            thr = x;
            i++;
        } else if (v && strcmp(a, "--max-error-rate") == 0 && !num(v, 0, 1, &x)) {
            o.max_error_rate = x;
            i++;
        } else if (v && (strcmp(a, "-c") == 0 || strcmp(a, "--connections") == 0) &&
                   !num(v, 1, FY_BENCH_MAX_CONNECTIONS, &x) && x == floor(x)) {
            o.load_connections = (int)x;
            i++;
        } else if (v && strcmp(a, "--rate") == 0 && !num(v, 0.001, 1e7, &x)) {
            o.load_rate = x;
            i++;
        } else if (v && (strcmp(a, "-d") == 0 || strcmp(a, "--duration") == 0) &&
                   !num(v, 0.001, 86400, &x)) {
            o.load_seconds = x;
            i++;
        } else if (v && (strcmp(a, "-n") == 0 || strcmp(a, "--requests") == 0) &&
                   !num(v, 1, 1e12, &x) && x == floor(x)) {
            o.load_requests = (int64_t)x;
            i++;
        } else if (v && strcmp(a, "--warmup") == 0 && !num(v, 0, 86400, &x)) {
            o.load_warmup_s = x;
            i++;
        } else if (v && strcmp(a, "--timeout-ms") == 0 && !num(v, 1, 3600000, &x) &&
                   x == floor(x)) {
            o.timeout_ms = (int)x;
            i++;
        } else if (v && strcmp(a, "--smoke") == 0) {
            if (n_smoke == FY_VERIFY_MAX_SMOKE) {
                code = cli_error("verify", EXIT_USAGE, NULL, "at most %d smoke requests",
                                 FY_VERIFY_MAX_SMOKE);
                goto done;
            }
            size_t len = 0;
            char *body = slurp(v, (size_t)1 << 24, &len);
            if (!body) {
                code = cli_error("verify", EXIT_IO, NULL, "%s: cannot read (at most 16 MiB)", v);
                goto done;
            }
            smoke_bodies[n_smoke] = body;
            fy_verify_smoke *s = &smoke[n_smoke++];
            memset(s, 0, sizeof *s);
            s->name = v;
            s->body = body;
            s->body_len = len;
            s->expect_class = -1;
            i++;
        } else if (v && last && strcmp(a, "--smoke-path") == 0) {
            last->path = argv[++i];
        } else if (v && last && strcmp(a, "--expect-status") == 0 && !num(v, 100, 599, &x) &&
                   x == floor(x)) {
            last->expect_status = (int)x;
            i++;
        } else if (v && last && strcmp(a, "--expect-class") == 0 && !num(v, 0, 1e9, &x) &&
                   x == floor(x)) {
            last->expect_class = (int)x;
            i++;
        } else if (v && last && strcmp(a, "--expect-label") == 0) {
            last->expect_label = argv[++i];
        } else if (v && last && strcmp(a, "--expect-contains") == 0) {
            last->expect_contains = argv[++i];
        } else if (a[0] == '-' || path) {
            code = cli_error("verify", EXIT_USAGE, "ferry verify --help",
                             "unexpected or invalid argument '%s'", a);
            goto done;
        } else {
            path = a;
        }
    }
    if (!path && !(o.url && o.model_name)) {
        code = cli_error("verify", EXIT_USAGE, "ferry verify --help",
                         "give a package, or --url with --model-name");
        goto done;
    }

    fy_diag d = {{0}};
    fy_package *pkg = NULL;
    fy_verify_report *r = NULL;
    char key[600];
    int rc;
    if (path) {
        if (!fy_package_sniff(path)) {
            code = cli_error("verify", EXIT_INVALID, "build one with 'ferry pack'",
                             "%s is not a package", path);
            goto done;
        }
        if ((rc = fy_package_open(&pkg, path, &d)) != FY_OK) {
            code = cli_error("verify", cli_exit_for(rc), NULL, "%s", d.msg);
            goto done;
        }
        o.package = pkg;
        o.package_path = path;
        fy_verify_opts_from_manifest(fy_package_manifest(pkg), &o);
    }
    if (dataset)
        o.dataset = dataset;
    if (no_accuracy)
        o.dataset = NULL;
    if (min_acc >= 0)
        o.min_accuracy = min_acc;
    if (p99 >= 0)
        o.max_p99_ms = p99;
    if (thr >= 0)
        o.min_throughput = thr;
    o.n_smoke = n_smoke;
    o.smoke = smoke;
    if (key_file) {
        size_t len = 0;
        char *k = slurp(key_file, 4096, &len);
        if (!k) {
            code = cli_error("verify", EXIT_IO, NULL, "%s: cannot read", key_file);
            goto free_pkg;
        }
        k[strcspn(k, "\r\n")] = 0;
        snprintf(key, sizeof key, "%s", k);
        free(k);
        o.api_key = key;
    }
    if (!json)
        o.progress = on_progress;
    if ((rc = fy_verify_run(&o, &r, &d)) != FY_OK) {
        code = cli_error("verify", cli_exit_for(rc), NULL, "%s", d.msg);
        goto free_pkg;
    }
    char *md = NULL, *js = NULL;
    if ((rc = fy_verify_report_markdown(r, &md, &d)) != FY_OK ||
        (rc = fy_verify_report_json(r, &js, &d)) != FY_OK) {
        code = cli_error("verify", cli_exit_for(rc), NULL, "%s", d.msg);
        goto free_reports;
    }
    if (md_path && write_text(md_path, md) != 0) {
        code = cli_error("verify", EXIT_IO, NULL, "%s: cannot write the report", md_path);
        goto free_reports;
    }
    if (json_path && write_text(json_path, js) != 0) {
        code = cli_error("verify", EXIT_IO, NULL, "%s: cannot write the report", json_path);
        goto free_reports;
    }
    if (json) {
        puts(js);
    } else {
        printf("%s: %s (%d checks, %d failed, %.1f s)\n", r->model, r->passed ? "PASSED" : "FAILED",
               r->n_checks, r->n_failed, r->seconds);
        for (int i = 0; i < r->n_checks; i++) {
            const fy_verify_check *c = &r->checks[i];
            printf("  %-8s %-22s %s\n",
                   !c->gated   ? "measured"
                   : c->passed ? "pass"
                               : "FAIL",
                   c->name, c->detail);
        }
    }
    code = r->passed ? EXIT_OK : EXIT_FAILED;
free_reports:
    free(md);
    free(js);
free_pkg:
    fy_verify_report_free(r);
    fy_package_free(pkg);
done:
    for (int i = 0; i < n_smoke; i++)
        free(smoke_bodies[i]);
    return code;
}
