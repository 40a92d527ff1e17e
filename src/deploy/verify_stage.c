/* SPDX-License-Identifier: MIT */
/* The pipeline's verify stage against a staged worker on loopback: accuracy on the
 * labeled dataset sent through POST /predict in batches, smoke requests with
 * expected answers, and p99 latency / throughput under a bounded closed-loop load.
 * TODO(#6): replace with fy_verify_run (include/ferry/verify.h) once the ops tools
 * branch implements it; the thresholds and the report stay the same. */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "deploy_int.h"
#include "ferry/dataset.h"
#include "ferry/package.h"
#include "verify_stage.h"

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static size_t on_write(char *data, size_t sz, size_t n, void *ctx)
{
    buf *b = ctx;
    size_t len = sz * n;
    if (b->len + len + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->len + len + 1)
            c *= 2;
        if (c > ((size_t)64 << 20))
            return 0;
        char *q = fy__realloc(b->p, c);
        if (!q)
            return 0;
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
    return len;
}

/* POST (body non-NULL) or GET; *status 0 on a transport failure. */
static int http(CURL *h, int port, const char *path, const char *body, size_t len, const char *auth,
                int *status, buf *out)
{
    char url[2200];
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *hd2 = auth ? curl_slist_append(hd, auth) : hd;
    if (hd2)
        hd = hd2;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    out->len = 0;
    if (out->p)
        out->p[0] = 0;
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    *status = (int)code;
    return cc == CURLE_OK ? FY_OK : FY_EIO;
}

/* One sample as nested JSON arrays shaped like the model input's per-sample dims. */
static json_t *sample_json(const fy_dataset *ds, int64_t i, const int64_t *dims, int rank)
{
    int64_t per = 1;
    for (int k = 1; k < ds->samples.rank; k++)
        per *= ds->samples.dims[k];
    const uint8_t *px = (const uint8_t *)ds->samples.data + i * per;
    /* nest from the innermost dimension outwards */
    json_t *flat = json_array();
    for (int64_t k = 0; k < per; k++)
        json_array_append_new(flat, json_integer(px[k]));
    json_t *cur = flat;
    for (int r = rank - 1; r >= 1; r--) {
        int64_t n = dims[r];
        size_t total = json_array_size(cur);
        if (n <= 0 || total % (size_t)n)
            return cur;
        json_t *outer = json_array();
        for (size_t g = 0; g < total / (size_t)n; g++) {
            json_t *grp = json_array();
            for (int64_t k = 0; k < n; k++)
                json_array_append(grp, json_array_get(cur, g * (size_t)n + (size_t)k));
            json_array_append_new(outer, grp);
        }
        json_decref(cur);
        cur = outer;
    }
    /* rank-1 nesting left one outer array of one group: unwrap it */
    if (json_array_size(cur) == 1 && rank > 1) {
        json_t *one = json_incref(json_array_get(cur, 0));
        json_decref(cur);
        return one;
    }
    return cur;
}

static int predicted_class(json_t *pred)
{
    json_t *c = json_object_get(pred, "class");
    if (json_is_integer(c))
        return (int)json_integer_value(c);
    json_t *scores = json_is_array(pred) ? pred : json_object_get(pred, "scores");
    int best = -1;
    double bv = -INFINITY;
    for (size_t k = 0; scores && k < json_array_size(scores); k++) {
        double v = json_number_value(json_array_get(scores, k));
        if (v > bv)
            bv = v, best = (int)k;
    }
    return best;
}

void fy__vreport_add(fy__vreport *r, const char *name, int passed, const char *fmt, ...)
{
    if (r->n >= (int)(sizeof r->checks / sizeof r->checks[0]))
        return;
    fy__vcheck *c = &r->checks[r->n++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->passed = passed;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    if (!passed)
        r->failed++;
}

typedef struct load_ctx {
    int port;
    const char *body;
    size_t len;
    const char *auth;
    double until;
    pthread_mutex_t mu;
    double *lat;
    size_t n_lat, cap_lat;
    long ok, errors;
} load_ctx;

static void *load_thread(void *arg)
{
    load_ctx *l = arg;
    CURL *h = curl_easy_init();
    buf b = {0};
    while (h && fy__deploy_now() < l->until) {
        int status = 0;
        double t0 = fy__deploy_now();
        http(h, l->port, "/predict", l->body, l->len, l->auth, &status, &b);
        double ms = (fy__deploy_now() - t0) * 1000;
        pthread_mutex_lock(&l->mu);
        if (status == 200) {
            l->ok++;
            if (l->n_lat == l->cap_lat) {
                size_t c = l->cap_lat ? l->cap_lat * 2 : 1024;
                double *q = fy__realloc(l->lat, c * sizeof *q);
                if (q)
                    l->lat = q, l->cap_lat = c;
            }
            if (l->n_lat < l->cap_lat)
                l->lat[l->n_lat++] = ms;
        } else {
            l->errors++;
        }
        pthread_mutex_unlock(&l->mu);
    }
    fy__free(b.p);
    if (h)
        curl_easy_cleanup(h);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int fy__deploy_verify(const fy_deploy_spec *spec, const fy_package *pkg, int port,
                      fy__vprogress progress, void *ctx, fy__vreport *r, fy_diag *d)
{
    const fy_manifest *man = fy_package_manifest(pkg);
    const char *dataset = spec->dataset ? spec->dataset : man->test_dataset;
    double min_acc = spec->min_accuracy >= 0 ? spec->min_accuracy : man->test_min;
    double max_p99 = spec->max_p99_ms > 0 ? spec->max_p99_ms : man->test_max_p99_ms;
    double min_tp = spec->min_throughput > 0 ? spec->min_throughput : man->test_min_throughput;
    char auth[600] = "", msg[300];
    const char *authp = NULL;
    if (spec->key_env) {
        const char *k = getenv(spec->key_env);
        if (!k || !*k)
            return fy__diag_set(d, FY_EINVAL, "verify.key_env: $%s is not set", spec->key_env);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", k);
        authp = auth;
    }
    memset(r, 0, sizeof *r);
    CURL *h = curl_easy_init();
    if (!h)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    buf b = {0};
    fy_dataset ds = {0};
    int have_ds = 0, rc = FY_OK;
    char *one_body = NULL;
    size_t one_len = 0;
    int rank = man->n_inputs > 0 ? man->inputs[0].rank : 0;
    const int64_t *dims = man->n_inputs > 0 ? man->inputs[0].dims : NULL;

    /* accuracy */
    if (dataset) {
        if ((rc = fy_dataset_open(&ds, dataset, d)))
            goto done;
        have_ds = 1;
        int64_t n = spec->limit > 0 && spec->limit < ds.count ? spec->limit : ds.count;
        int64_t correct = 0, sent = 0;
        const int batch = 100;
        for (int64_t i = 0; i < n; i += batch) {
            json_t *req = json_object(), *inst = json_array();
            int64_t end = i + batch < n ? i + batch : n;
            for (int64_t k = i; k < end; k++)
                json_array_append_new(inst, sample_json(&ds, k, dims, rank));
            json_object_set_new(req, "instances", inst);
            char *body = json_dumps(req, JSON_COMPACT);
            json_decref(req);
            if (!body) {
                rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
                goto done;
            }
            if (!one_body) { /* the first sample, alone, is the load's request */
                json_t *one = json_pack("{s:[o]}", "instances", sample_json(&ds, 0, dims, rank));
                one_body = one ? json_dumps(one, JSON_COMPACT) : NULL;
                one_len = one_body ? strlen(one_body) : 0;
                json_decref(one);
            }
            int status = 0;
            http(h, port, "/predict", body, strlen(body), authp, &status, &b);
            free(body);
            if (status != 200) {
                snprintf(msg, sizeof msg, "POST /predict answered %d: %.150s", status,
                         b.p ? b.p : "(no answer)");
                break;
            }
            json_t *ans = json_loads(b.p, 0, NULL);
            json_t *preds = json_object_get(ans, "predictions");
            for (int64_t k = i; k < end; k++) {
                int c = predicted_class(json_array_get(preds, (size_t)(k - i)));
                int64_t label = ((const int64_t *)ds.labels.data)[k];
                correct += c >= 0 && c == label;
            }
            json_decref(ans);
            sent = end;
            if (progress && (end % 1000 == 0 || end == n)) {
                char line[96];
                snprintf(line, sizeof line, "accuracy: %lld/%lld", (long long)end, (long long)n);
                progress(line, ctx);
            }
        }
        if (sent < n) {
            fy__vreport_add(r, "accuracy", 0, "%s", msg);
        } else {
            r->accuracy = (double)correct / (double)(n ? n : 1);
            r->has_accuracy = 1;
            fy__vreport_add(r, "accuracy", r->accuracy >= min_acc,
                            "%.4f on %lld items (minimum %.4f)", r->accuracy, (long long)n,
                            min_acc);
        }
    }

    /* smoke requests */
    for (int i = 0; i < spec->n_smoke; i++) {
        const fy_smoke *m = &spec->smoke[i];
        char name[96];
        snprintf(name, sizeof name, "smoke: %s", m->name ? m->name : "");
        if (!m->name)
            snprintf(name, sizeof name, "smoke[%d]", i);
        unsigned char *fb = NULL;
        size_t fl = 0;
        const char *body = m->body;
        size_t bl = body ? strlen(body) : 0;
        if (m->body_file) {
            fy_diag fd = {{0}};
            if (fy__read_file(m->body_file, (size_t)64 << 20, &fb, &fl, &fd) != FY_OK) {
                fy__vreport_add(r, name, 0, "%s", fd.msg);
                continue;
            }
            body = (const char *)fb, bl = fl;
        }
        int status = 0;
        http(h, port, m->path ? m->path : "/predict", body, bl, authp, &status, &b);
        fy__free(fb);
        const char *ans = b.p ? b.p : "";
        if (status != m->expect_status) {
            fy__vreport_add(r, name, 0, "status %d, expected %d: %.120s", status, m->expect_status,
                            ans);
            continue;
        }
        if (m->expect_contains && !strstr(ans, m->expect_contains)) {
            fy__vreport_add(r, name, 0, "the answer does not contain '%s': %.120s",
                            m->expect_contains, ans);
            continue;
        }
        if (m->expect_label || m->expect_class >= 0) {
            json_t *j = json_loads(ans, 0, NULL);
            json_t *p0 = json_array_get(json_object_get(j, "predictions"), 0);
            const char *label = json_string_value(json_object_get(p0, "label"));
            int cls = predicted_class(p0);
            int ok = (!m->expect_label || (label && !strcmp(label, m->expect_label))) &&
                     (m->expect_class < 0 || cls == m->expect_class);
            char got[160];
            snprintf(got, sizeof got, "label '%s', class %d", label ? label : "?", cls);
            json_decref(j);
            if (!ok) {
                fy__vreport_add(r, name, 0, "got %s, expected %s%s%s", got,
                                m->expect_label ? m->expect_label : "",
                                m->expect_label && m->expect_class >= 0 ? " / " : "",
                                m->expect_class >= 0 ? "that class" : "");
                continue;
            }
        }
        fy__vreport_add(r, name, 1, "status %d as expected", status);
    }

    /* bounded load: latency and throughput */
    if ((max_p99 > 0 || min_tp > 0) && one_body) {
        load_ctx l = {.port = port, .body = one_body, .len = one_len, .auth = authp};
        pthread_mutex_init(&l.mu, NULL);
        l.until = fy__deploy_now() + spec->load_seconds;
        int nt = spec->load_concurrency;
        pthread_t th[256];
        int started = 0;
        double t0 = fy__deploy_now();
        for (int i = 0; i < nt; i++)
            if (pthread_create(&th[started], NULL, load_thread, &l) == 0)
                started++;
        for (int i = 0; i < started; i++)
            pthread_join(th[i], NULL);
        double secs = fy__deploy_now() - t0;
        pthread_mutex_destroy(&l.mu);
        if (l.n_lat)
            qsort(l.lat, l.n_lat, sizeof *l.lat, cmp_d);
        double p99 = l.n_lat ? l.lat[(size_t)((double)(l.n_lat - 1) * 0.99)] : 0;
        r->p99_ms = p99;
        r->throughput = (double)l.ok / (secs > 0 ? secs : 1);
        r->has_load = 1;
        fy__free(l.lat);
        if (max_p99 > 0)
            fy__vreport_add(r, "p99_latency_ms", l.ok > 0 && p99 <= max_p99,
                            "%.2f ms over %ld requests at %d connections (maximum %.2f)", p99, l.ok,
                            nt, max_p99);
        if (min_tp > 0)
            fy__vreport_add(r, "throughput_per_s", r->throughput >= min_tp, "%.1f/s (minimum %.1f)",
                            r->throughput, min_tp);
        fy__vreport_add(r, "errors", l.errors == 0, "%ld failed of %ld under load", l.errors,
                        l.errors + l.ok);
    } else if ((max_p99 > 0 || min_tp > 0) && !one_body) {
        fy__vreport_add(r, "load", 0, "latency and throughput gates need a dataset to send");
    }
    r->passed = r->failed == 0;
done:
    free(one_body);
    fy__free(b.p);
    if (have_ds)
        fy_dataset_deinit(&ds);
    curl_easy_cleanup(h);
    return rc;
}
