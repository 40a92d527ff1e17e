/* SPDX-License-Identifier: MIT */
/* Verification of a serving model version: accuracy on a labeled dataset, smoke
 * requests, latency and throughput under load, all through POST /predict/MODEL of
 * a running endpoint or of a server started here on a free loopback port. The
 * report lists every check; rendering to Markdown and JSON. See docs/verify.md. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../core/core.h"
#include "ferry/ferry.h"

#define MAX_BODY_PER_REQUEST ((size_t)32 << 20)

typedef struct {
    const fy_verify_opts *o;
    fy_verify_report *r;
    char base[512]; /* http://host:port, no trailing '/' */
    char predict_url[768];
    const char *model;
    const fy_manifest *man;
    char auth[600];
    const char *headers[1];
    int n_headers;
    fy_diag *d;
} vctx;

static void progress(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(vctx *v, const char *fmt, ...)
{
    if (!v->o->progress)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    v->o->progress(line, v->o->progress_ctx);
}

static fy_verify_check *add_check(fy_verify_report *r, const char *name, int gated, int passed,
                                  double value, double threshold)
{
    if (r->n_checks >= (int)(sizeof r->checks / sizeof r->checks[0]))
        return NULL;
    fy_verify_check *c = &r->checks[r->n_checks++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->gated = gated;
    c->passed = passed;
    c->value = value;
    c->threshold = threshold;
    if (gated && !passed)
        r->n_failed++;
    return c;
}

void fy_verify_opts_from_manifest(const fy_manifest *man, fy_verify_opts *o)
{
    if (!man)
        return;
    if (man->test_dataset)
        o->dataset = man->test_dataset;
    if (man->test_metric && strcmp(man->test_metric, "accuracy") == 0)
        o->min_accuracy = man->test_min;
    if (man->test_max_p99_ms > 0)
        o->max_p99_ms = man->test_max_p99_ms;
    if (man->test_min_throughput > 0)
        o->min_throughput = man->test_min_throughput;
}

/* The predicted class of one prediction P: {"class": N, ...}, a row of scores
 * (argmax, first on ties, NaN never wins), or an object of outputs (the first). */
static int predicted_class(json_t *p, int64_t *out)
{
    if (json_is_object(p)) {
        json_t *c = json_object_get(p, "class");
        if (json_is_integer(c)) {
            *out = json_integer_value(c);
            return 1;
        }
        json_t *s = json_object_get(p, "scores");
        if (json_is_array(s))
            return predicted_class(s, out);
        const char *k;
        json_t *val;
        json_object_foreach(p, k, val)
        {
            (void)k;
            return predicted_class(val, out);
        }
        return 0;
    }
    if (!json_is_array(p) || json_array_size(p) == 0)
        return 0;
    /* a nested row ([[...]]) with one element: look inside */
    if (json_array_size(p) == 1 && json_is_array(json_array_get(p, 0)))
        return predicted_class(json_array_get(p, 0), out);
    size_t i, best = 0;
    double bv = -INFINITY;
    int any = 0;
    json_t *x;
    json_array_foreach(p, i, x)
    {
        if (!json_is_number(x))
            return 0;
        double v = json_number_value(x);
        if (!any || v > bv) {
            bv = v;
            best = i;
            any = 1;
        }
    }
    *out = (int64_t)best;
    return any;
}

static int fetch(vctx *v, const char *url, const char *method, const void *body, size_t len,
                 int *status, char **resp, size_t *resp_len)
{
    fy_http_request q = {.url = url,
                         .method = method,
                         .body = body,
                         .body_len = len,
                         .n_headers = v->n_headers,
                         .headers = v->headers,
                         .timeout_ms = v->o->timeout_ms > 0 ? v->o->timeout_ms : 10000};
    return fy_http_fetch(&q, status, resp, resp_len, NULL, v->d);
}

/* Accuracy: batches of raw samples to /predict/MODEL, predictions compared with labels. */
static int check_accuracy(vctx *v)
{
    fy_verify_report *r = v->r;
    fy_dataset ds;
    memset(&ds, 0, sizeof ds);
    int rc = fy_dataset_open(&ds, v->o->dataset, v->d);
    if (rc != FY_OK)
        return rc;
    char *body = NULL, *resp = NULL;
    fy_dtype dt = ds.samples.dtype;
    if (dt != FY_DTYPE_U8 && dt != FY_DTYPE_F32) {
        rc = fy__diag_set(v->d, FY_EUNSUPPORTED,
                          "dataset samples are %s: uint8 or float32 expected", fy_dtype_name(dt));
        goto done;
    }
    int64_t per = 1;
    for (int i = 1; i < ds.samples.rank; i++)
        per *= ds.samples.dims[i];
    int64_t total = v->o->accuracy_limit > 0 && v->o->accuracy_limit < ds.count
                        ? v->o->accuracy_limit
                        : ds.count;
    int batch = v->o->accuracy_batch > 0 ? v->o->accuracy_batch : 64;
    if (batch > 4096)
        batch = 4096;
    size_t cap = (size_t)batch * ((size_t)per * 16 + 8) + 64;
    if (per < 1 || per > (1 << 22) || cap > MAX_BODY_PER_REQUEST) {
        rc = fy__diag_set(v->d, FY_ELIMIT, "samples of %lld values x batch %d: request too large",
                          (long long)per, batch);
        goto done;
    }
    if (!(body = fy__malloc(cap))) {
        rc = fy__diag_set(v->d, FY_ENOMEM, "out of memory");
        goto done;
    }
    int64_t correct = 0, done_n = 0;
    double t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    }
    const int64_t *labels = ds.labels.data;
    for (int64_t start = 0; start < total; start += batch) {
        int64_t n = total - start < batch ? total - start : batch;
        size_t k = (size_t)snprintf(body, cap, "{\"instances\": [");
        for (int64_t i = 0; i < n; i++) {
            k += (size_t)snprintf(body + k, cap - k, i ? ", [" : "[");
            for (int64_t j = 0; j < per; j++) {
                int64_t at = (start + i) * per + j;
                if (dt == FY_DTYPE_U8)
                    k += (size_t)snprintf(body + k, cap - k, j ? ",%u" : "%u",
                                          ((const uint8_t *)ds.samples.data)[at]);
                else
                    k += (size_t)snprintf(body + k, cap - k, j ? ",%.9g" : "%.9g",
                                          (double)((const float *)ds.samples.data)[at]);
            }
            k += (size_t)snprintf(body + k, cap - k, "]");
        }
        k += (size_t)snprintf(body + k, cap - k, "]}");
        int status = 0;
        size_t rl = 0;
        if ((rc = fetch(v, v->predict_url, "POST", body, k, &status, &resp, &rl)) != FY_OK)
            goto done;
        if (status != 200) {
            rc = fy__diag_set(v->d, FY_EINVAL,
                              "accuracy request for samples %lld-%lld: HTTP %d: %.200s",
                              (long long)start, (long long)(start + n - 1), status, resp);
            goto done;
        }
        json_error_t je;
        json_t *j = json_loadb(resp, rl, 0, &je);
        json_t *preds = json_object_get(j, "predictions");
        if (!json_is_array(preds) || (int64_t)json_array_size(preds) != n) {
            json_decref(j);
            rc = fy__diag_set(v->d, FY_EINVAL,
                              "accuracy request for samples %lld-%lld: the answer has no "
                              "'predictions' list of %lld items",
                              (long long)start, (long long)(start + n - 1), (long long)n);
            goto done;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t cls = -1;
            if (!predicted_class(json_array_get(preds, (size_t)i), &cls)) {
                json_decref(j);
                rc = fy__diag_set(v->d, FY_EINVAL,
                                  "prediction %lld is neither {\"class\": N} nor a row of scores",
                                  (long long)(start + i));
                goto done;
            }
            correct += cls == labels[start + i];
        }
        json_decref(j);
        free(resp);
        resp = NULL;
        done_n += n;
        if ((start / batch) % 20 == 19 || done_n == total)
            progress(v, "accuracy: %lld/%lld samples", (long long)done_n, (long long)total);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->has_accuracy = 1;
    r->accuracy_count = done_n;
    r->accuracy_correct = correct;
    r->accuracy = done_n ? (double)correct / (double)done_n : 0;
    r->accuracy_seconds = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 - t0;
    double min = v->o->min_accuracy;
    fy_verify_check *c =
        add_check(r, "accuracy", min > 0, !(min > 0) || r->accuracy >= min, r->accuracy, min);
    if (c && min > 0)
        snprintf(c->detail, sizeof c->detail, "%lld of %lld correct: %.4f %s the minimum %.4f",
                 (long long)correct, (long long)done_n, r->accuracy,
                 r->accuracy >= min ? ">=" : "<", min);
    else if (c)
        snprintf(c->detail, sizeof c->detail, "%lld of %lld correct: %.4f", (long long)correct,
                 (long long)done_n, r->accuracy);
    rc = FY_OK;
done:
    fy__free(body);
    free(resp);
    fy_dataset_deinit(&ds);
    return rc;
}

/* Smoke requests: status, substring, class and label of the first prediction. */
static void check_smoke(vctx *v)
{
    for (int i = 0; i < v->o->n_smoke; i++) {
        const fy_verify_smoke *s = &v->o->smoke[i];
        char name[64], url[1024], why[256] = "";
        snprintf(name, sizeof name, "smoke: %.50s", s->name ? s->name : "");
        if (!s->name)
            snprintf(name, sizeof name, "smoke[%d]", i);
        if (s->path && (s->path[0] != '/' || strpbrk(s->path, " \r\n")))
            snprintf(why, sizeof why, "path '%.60s' must start with '/' and hold no spaces",
                     s->path);
        else
            snprintf(url, sizeof url, "%s%s", v->base,
                     s->path ? s->path : v->predict_url + strlen(v->base));
        int status = 0, want = s->expect_status ? s->expect_status : 200;
        char *resp = NULL;
        size_t rl = 0;
        fy_diag d = {{0}};
        fy_diag *saved = v->d;
        v->d = &d;
        if (!why[0] && fetch(v, url, s->method, s->body, s->body_len, &status, &resp, &rl) != FY_OK)
            snprintf(why, sizeof why, "%s", d.msg);
        v->d = saved;
        if (!why[0] && status != want)
            snprintf(why, sizeof why, "HTTP %d, expected %d: %.150s", status, want,
                     resp ? resp : "");
        if (!why[0] && s->expect_contains && !strstr(resp, s->expect_contains))
            snprintf(why, sizeof why, "the answer does not contain '%.60s': %.120s",
                     s->expect_contains, resp);
        if (!why[0] && (s->expect_class >= 0 || s->expect_label)) {
            json_error_t je;
            json_t *j = json_loadb(resp, rl, 0, &je);
            json_t *p0 = json_array_get(json_object_get(j, "predictions"), 0);
            int64_t cls = -1;
            if (!p0)
                snprintf(why, sizeof why, "the answer has no predictions[0]: %.150s", resp);
            else if (s->expect_class >= 0 && (!predicted_class(p0, &cls) || cls != s->expect_class))
                snprintf(why, sizeof why, "class %lld, expected %d", (long long)cls,
                         s->expect_class);
            else if (s->expect_label) {
                const char *lab = json_string_value(json_object_get(p0, "label"));
                if (!lab || strcmp(lab, s->expect_label) != 0)
                    snprintf(why, sizeof why, "label '%.60s', expected '%.60s'",
                             lab ? lab : "(none)", s->expect_label);
            }
            json_decref(j);
        }
        fy_verify_check *c = add_check(v->r, name, 1, !why[0], status, want);
        if (c)
            snprintf(c->detail, sizeof c->detail, "%s", why[0] ? why : "as expected");
        free(resp);
    }
}

static int has_predictions(const char *body, size_t len, void *ctx)
{
    (void)ctx;
    return len && strstr(body, "\"predictions\"") ? 0 : 1;
}

/* A {"instances": [ZEROS]} body from the manifest's first input (symbolic dims 1). */
static int zero_body(const fy_manifest *m, char **out, size_t *len)
{
    if (!m || m->n_inputs < 1)
        return 0;
    const fy_manifest_io *in = &m->inputs[0];
    int64_t n = 1;
    for (int i = 1; i < in->rank; i++) {
        n *= in->dims[i] > 0 ? in->dims[i] : 1;
        if (n > (1 << 22))
            return 0;
    }
    size_t cap = (size_t)n * 2 + 64;
    char *s = fy__malloc(cap);
    if (!s)
        return 0;
    size_t k = (size_t)snprintf(s, cap, "{\"instances\": [[");
    for (int64_t i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, cap - k, i ? ",0" : "0");
    k += (size_t)snprintf(s + k, cap - k, "]]}");
    *out = s;
    *len = k;
    return 1;
}

static int check_load(vctx *v)
{
    const fy_verify_opts *o = v->o;
    fy_bench_body *bodies = NULL, one;
    int nb = 0, rc;
    char *zero = NULL;
    if (o->dataset) {
        if ((rc = fy_bench_predict_bodies(o->dataset, 256, &bodies, &nb, NULL, v->d)) != FY_OK)
            return rc;
    } else {
        size_t zl = 0;
        if (!zero_body(v->man, &zero, &zl))
            return fy__diag_set(v->d, FY_EINVAL,
                                "the load check needs request bodies: give a dataset or a package "
                                "whose first input has a fixed shape");
        one.data = zero;
        one.len = zl;
    }
    fy_bench_opts b = {.url = v->predict_url,
                       .n_bodies = bodies ? nb : 1,
                       .bodies = bodies ? bodies : &one,
                       .n_headers = v->n_headers,
                       .headers = v->headers,
                       .connections = o->load_connections > 0 ? o->load_connections : 8,
                       .rate = o->load_rate,
                       .duration_s = o->load_seconds > 0    ? o->load_seconds
                                     : o->load_requests > 0 ? 0
                                                            : 5,
                       .requests = o->load_requests,
                       .warmup_s = o->load_warmup_s > 0 ? o->load_warmup_s : 1,
                       .timeout_ms = o->timeout_ms,
                       .check_body = has_predictions};
    progress(v, "load: %d connections, %s", b.connections,
             b.rate > 0 ? "open loop" : "closed loop");
    rc = fy_bench_run(&b, &v->r->load, v->d);
    fy_bench_bodies_free(bodies, nb);
    fy__free(zero);
    if (rc != FY_OK)
        return rc;
    fy_verify_report *r = v->r;
    const fy_bench_result *L = &r->load;
    r->has_load = 1;
    fy_verify_check *c;
    double p99 = L->lat_p99_ms;
    c = add_check(r, "p99_latency_ms", o->max_p99_ms > 0,
                  !(o->max_p99_ms > 0) || (L->ok > 0 && p99 <= o->max_p99_ms), p99, o->max_p99_ms);
    if (c)
        snprintf(c->detail, sizeof c->detail, "p99 %.3f ms over %lld successful requests%s", p99,
                 (long long)L->ok,
                 o->max_p99_ms > 0 ? (p99 <= o->max_p99_ms && L->ok ? "" : ": above the maximum")
                                   : "");
    c = add_check(r, "throughput_per_s", o->min_throughput > 0,
                  !(o->min_throughput > 0) || L->throughput >= o->min_throughput, L->throughput,
                  o->min_throughput);
    if (c)
        snprintf(c->detail, sizeof c->detail, "%.1f successful requests/s with %d connections%s",
                 L->throughput, b.connections,
                 o->min_throughput > 0 && L->throughput < o->min_throughput ? ": below the minimum"
                                                                            : "");
    double err_rate = L->requests ? (double)L->error_total / (double)L->requests : 1.0;
    int err_ok = L->requests > 0 && err_rate <= o->max_error_rate;
    c = add_check(r, "errors", 1, err_ok, err_rate, o->max_error_rate);
    if (c) {
        if (!L->requests)
            snprintf(c->detail, sizeof c->detail, "no request completed under load");
        else
            snprintf(c->detail, sizeof c->detail, "%lld of %lld failed%s%.150s",
                     (long long)L->error_total, (long long)L->requests,
                     L->first_error[0] ? "; first: " : "", L->first_error);
    }
    return FY_OK;
}

typedef struct {
    fy_server *s;
} srv_thread;

static void *serve_main(void *arg)
{
    srv_thread *t = arg;
    fy_server_run(t->s, NULL);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int fy_verify_run(const fy_verify_opts *opts, fy_verify_report **out, fy_diag *d)
{
    if (!opts)
        return fy__diag_set(d, FY_EINVAL, "no options");
    const fy_verify_opts *o = opts;
    vctx v;
    memset(&v, 0, sizeof v);
    v.o = o;
    v.d = d;
    int rc = FY_OK;
    double t0 = now_s();
    fy_package *own = NULL;
    fy_server *srv = NULL;
    pthread_t th;
    int th_started = 0;
    srv_thread st = {0};
    fy_verify_report *r = fy__calloc(1, sizeof *r);
    if (!r)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    v.r = r;
    if (o->n_smoke < 0 || o->n_smoke > FY_VERIFY_MAX_SMOKE || (o->n_smoke && !o->smoke)) {
        rc = fy__diag_set(d, FY_EINVAL, "at most %d smoke requests", FY_VERIFY_MAX_SMOKE);
        goto done;
    }
    if (o->min_accuracy < 0 || o->min_accuracy > 1 || o->max_p99_ms < 0 || o->min_throughput < 0 ||
        o->max_error_rate < 0 || o->max_error_rate > 1 || !isfinite(o->max_p99_ms) ||
        !isfinite(o->min_throughput)) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "thresholds: min_accuracy and max_error_rate 0..1, latency and "
                          "throughput non-negative");
        goto done;
    }
    const fy_package *pkg = o->package;
    if (!o->url) {
        if (!o->package_path) {
            rc = fy__diag_set(d, FY_EINVAL, "give a URL or a package to serve in-process");
            goto done;
        }
        if (!pkg && fy_package_sniff(o->package_path)) {
            if ((rc = fy_package_open(&own, o->package_path, d)) != FY_OK)
                goto done;
            pkg = own;
        }
    }
    v.man = pkg ? fy_package_manifest(pkg) : NULL;
    v.model = o->model_name ? o->model_name : v.man ? v.man->name : NULL;
    if (!v.model) {
        rc =
            fy__diag_set(d, FY_EINVAL, "the model name is unknown: give a package or a model name");
        goto done;
    }
    for (const char *p = v.model; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("._-", *p)) || p - v.model > 128) {
            rc = fy__diag_set(d, FY_EINVAL, "model name '%.60s': 1-128 of [A-Za-z0-9._-]", v.model);
            goto done;
        }
    if (o->api_key) {
        if (strpbrk(o->api_key, "\r\n") || strlen(o->api_key) > 512) {
            rc = fy__diag_set(d, FY_EINVAL, "API key: one line of at most 512 bytes");
            goto done;
        }
        snprintf(v.auth, sizeof v.auth, "Authorization: Bearer %s", o->api_key);
        v.headers[0] = v.auth;
        v.n_headers = 1;
    }
    if (o->url) {
        size_t ul = strlen(o->url);
        while (ul && o->url[ul - 1] == '/')
            ul--;
        if (ul >= sizeof v.base) {
            rc = fy__diag_set(d, FY_EINVAL, "URL too long");
            goto done;
        }
        snprintf(v.base, sizeof v.base, "%.*s", (int)ul, o->url);
        snprintf(r->target, sizeof r->target, "%s", v.base);
    } else {
        fy_serve_opts so = {.port = -1, .quiet = 1, .log_path = "/dev/null"};
        const char *paths[1] = {o->package_path};
        progress(&v, "starting an in-process server for %s", o->package_path);
        if ((rc = fy_server_create(&srv, paths, 1, &so, d)) != FY_OK)
            goto done;
        st.s = srv;
        if (pthread_create(&th, NULL, serve_main, &st) != 0) {
            rc = fy__diag_set(d, FY_EIO, "cannot start the server thread");
            goto done;
        }
        th_started = 1;
        snprintf(v.base, sizeof v.base, "http://127.0.0.1:%d", fy_server_port(srv));
        snprintf(r->target, sizeof r->target, "in-process: %.200s", o->package_path);
    }
    snprintf(v.predict_url, sizeof v.predict_url, "%s/predict/%s", v.base, v.model);
    if (v.man && strcmp(v.man->name, v.model) == 0)
        snprintf(r->model, sizeof r->model, "%s %s", v.man->name, v.man->version);
    else
        snprintf(r->model, sizeof r->model, "%s", v.model);

    if (o->dataset) {
        progress(&v, "accuracy on %.200s", o->dataset);
        if ((rc = check_accuracy(&v)) != FY_OK)
            goto done;
    }
    check_smoke(&v);
    if (o->max_p99_ms > 0 || o->min_throughput > 0 || o->load_requests > 0 || o->load_seconds > 0)
        if ((rc = check_load(&v)) != FY_OK)
            goto done;
    r->passed = r->n_failed == 0;
    r->seconds = now_s() - t0;
done:
    if (th_started) {
        fy_server_request_stop(srv);
        pthread_join(th, NULL);
    }
    fy_server_free(srv);
    fy_package_free(own);
    if (rc != FY_OK) {
        fy__free(r);
        return rc;
    }
    *out = r;
    return FY_OK;
}

void fy_verify_report_free(fy_verify_report *r)
{
    fy__free(r);
}

/* ---- reports ---------------------------------------------------------------- */

/* Markdown table cells: no pipes or line breaks, printable ASCII. */
static void cell(fy__text *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '|')
            fy__text_printf(b, "\\|");
        else if (c < 0x20 || c >= 0x7f)
            fy__text_printf(b, " ");
        else
            fy__text_printf(b, "%c", c);
    }
}

int fy_verify_report_markdown(const fy_verify_report *r, char **out, fy_diag *d)
{
    fy__text b = {0};
    fy__text_printf(&b, "# Verification of ");
    cell(&b, r->model);
    fy__text_printf(&b, ": %s\n\n", r->passed ? "PASSED" : "FAILED");
    fy__text_printf(&b, "- target: ");
    cell(&b, r->target);
    fy__text_printf(&b, "\n- checks: %d, failed: %d\n- time: %.2f s\n\n", r->n_checks, r->n_failed,
                    r->seconds);
    fy__text_printf(&b, "| check | result | value | threshold | detail |\n|---|---|---|---|---|\n");
    for (int i = 0; i < r->n_checks; i++) {
        const fy_verify_check *c = &r->checks[i];
        fy__text_printf(&b, "| ");
        cell(&b, c->name);
        fy__text_printf(&b, " | %s | %.6g | ",
                        !c->gated   ? "measured"
                        : c->passed ? "pass"
                                    : "**FAIL**",
                        c->value);
        if (c->gated)
            fy__text_printf(&b, "%.6g", c->threshold);
        else
            fy__text_printf(&b, "-");
        fy__text_printf(&b, " | ");
        cell(&b, c->detail);
        fy__text_printf(&b, " |\n");
    }
    if (r->has_accuracy)
        fy__text_printf(&b, "\n## Accuracy\n\n%lld of %lld samples correct: %.4f (%.2f s)\n",
                        (long long)r->accuracy_correct, (long long)r->accuracy_count, r->accuracy,
                        r->accuracy_seconds);
    if (r->has_load) {
        const fy_bench_result *L = &r->load;
        fy__text_printf(&b, "\n## Load\n\n| requests | ok | failed | seconds | requests/s "
                            "|\n|---|---|---|---|---|\n");
        fy__text_printf(&b, "| %lld | %lld | %lld | %.2f | %.1f |\n\n", (long long)L->requests,
                        (long long)L->ok, (long long)L->error_total, L->seconds, L->throughput);
        fy__text_printf(&b, "| latency ms | min | mean | p50 | p90 | p99 | p99.9 | max |\n"
                            "|---|---|---|---|---|---|---|---|\n");
        fy__text_printf(&b, "| | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", L->lat_min_ms,
                        L->lat_mean_ms, L->lat_p50_ms, L->lat_p90_ms, L->lat_p99_ms, L->lat_p999_ms,
                        L->lat_max_ms);
        if (L->error_total) {
            fy__text_printf(&b, "\nErrors:");
            for (int e = 0; e < FY_BENCH_ERR_N; e++)
                if (L->errors[e])
                    fy__text_printf(&b, " %s %lld", fy_bench_err_name((fy_bench_err)e),
                                    (long long)L->errors[e]);
            fy__text_printf(&b, "\n");
        }
    }
    if (b.oom || !b.p) {
        fy__free(b.p);
        return fy__diag_set(d, FY_ENOMEM, "out of memory writing the report");
    }
    *out = b.p;
    return FY_OK;
}

static json_t *jstr(const char *s)
{
    char clean[512];
    size_t k = 0;
    for (; *s && k + 1 < sizeof clean; s++)
        clean[k++] = (unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?';
    clean[k] = 0;
    return json_string(clean);
}

int fy_verify_report_json(const fy_verify_report *r, char **out, fy_diag *d)
{
    json_t *o = json_object(), *checks = json_array();
    char *bench = NULL;
    if (!o || !checks) {
        json_decref(checks);
        goto oom;
    }
    if (json_object_set_new(o, "passed", json_boolean(r->passed)) ||
        json_object_set_new(o, "target", jstr(r->target)) ||
        json_object_set_new(o, "model", jstr(r->model)) ||
        json_object_set_new(o, "failed", json_integer(r->n_failed)) ||
        json_object_set_new(o, "seconds", json_real(r->seconds)) ||
        json_object_set_new(o, "checks", checks))
        goto oom;
    for (int i = 0; i < r->n_checks; i++) {
        const fy_verify_check *c = &r->checks[i];
        json_t *x = json_pack(
            "{s:o, s:b, s:b, s:f, s:o, s:o}", "name", jstr(c->name), "gated", c->gated, "passed",
            c->passed, "value", isfinite(c->value) ? c->value : 0.0, "threshold",
            c->gated ? json_real(c->threshold) : json_null(), "detail", jstr(c->detail));
        if (!x || json_array_append_new(checks, x))
            goto oom;
    }
    if (r->has_accuracy) {
        json_t *a = json_pack("{s:I, s:I, s:f, s:f}", "count", (json_int_t)r->accuracy_count,
                              "correct", (json_int_t)r->accuracy_correct, "accuracy", r->accuracy,
                              "seconds", r->accuracy_seconds);
        if (!a || json_object_set_new(o, "accuracy", a))
            goto oom;
    }
    if (r->has_load) {
        if (fy_bench_result_json(&r->load, &bench, d) != FY_OK)
            goto oom;
        json_error_t je;
        json_t *l = json_loads(bench, 0, &je);
        free(bench);
        bench = NULL;
        if (!l || json_object_set_new(o, "load", l))
            goto oom;
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory writing the report");
    *out = s;
    return FY_OK;
oom:
    free(bench);
    json_decref(o);
    return fy__diag_set(d, FY_ENOMEM, "out of memory writing the report");
}
