/* SPDX-License-Identifier: MIT */
/* Serving metrics: counters and histograms add up exactly when many threads update
 * them at once; the rendered text passes `promtool check metrics` (Debian's
 * prometheus package), label values are escaped, the series count is bounded and
 * rendering survives allocation failures without leaking. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "serve/serve_int.h"
#include "test.h"

#define PROMTOOL "/usr/bin/promtool"

static char dir[64];

/* Run promtool on the text; returns its exit status (-1 if it could not run) and
 * leaves what it printed in out. */
static int promtool(const char *text, size_t len, char *out, size_t out_len)
{
    char in_path[128], out_path[128], cmd[512];
    snprintf(in_path, sizeof in_path, "%s/metrics.txt", dir);
    snprintf(out_path, sizeof out_path, "%s/promtool.txt", dir);
    FILE *f = fopen(in_path, "wb");
    if (!f)
        return -1;
    fwrite(text, 1, len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s check metrics < %s > %s 2>&1", PROMTOOL, in_path, out_path);
    int st = system(cmd);
    out[0] = 0;
    if ((f = fopen(out_path, "rb"))) {
        size_t n = fread(out, 1, out_len - 1, f);
        out[n] = 0;
        fclose(f);
    }
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* The value of the sample line that starts with prefix (name and labels). */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

static void fill(fy__metrics *m)
{
    fy__metrics_model_load(m, "fashion", "1", 1, 0.25);
    fy__metrics_model_load(m, "fashion", "2", 0, 0.5);
    fy__metrics_request(m, "fashion", "1", FY_PROTO_V2, FY_OUTCOME_SUCCESS, 0.003);
    fy__metrics_request(m, "fashion", "1", FY_PROTO_PREDICT, FY_OUTCOME_CLIENT_ERROR, 0.0001);
    fy__metrics_request(m, "fashion", "1", FY_PROTO_TF, FY_OUTCOME_REJECTED, 20.0);
    fy__metrics_queue_wait(m, "fashion", "1", 0.001);
    fy__metrics_batch(m, "fashion", "1", 3, 0.002);
    fy__metrics_batch(m, "fashion", "1", 300, 0.02);
    fy__metrics_pending(m, "fashion", "1", 2);
    fy__metrics_inflight(m, 1);
}

TEST(renders_text_that_promtool_accepts)
{
    fy__metrics *m = NULL;
    FY_CHECK_EQ(fy__metrics_create(&m), FY_OK);
    char *text = NULL, msg[4096];
    size_t len = 0;
    /* empty registry first: families with no samples are valid too */
    FY_CHECK_EQ(fy__metrics_render_ex(m, FY_METRICS_STANDARD, &text, &len), FY_OK);
    FY_CHECK_EQ(promtool(text, len, msg, sizeof msg), 0);
    free(text);

    fill(m);
    FY_CHECK_EQ(fy__metrics_render_ex(m, FY_METRICS_STANDARD, &text, &len), FY_OK);
    int st = promtool(text, len, msg, sizeof msg);
    FY_CHECK_EQ(st, 0);
    if (st != 0)
        fprintf(stderr, "promtool said:\n%s\n", msg);
    FY_CHECK_EQ(strlen(text), len);
    FY_CHECK_CONTAINS(text, "# TYPE ferry_requests_total counter\n");
    FY_CHECK_CONTAINS(text, "ferry_requests_total{model=\"fashion\",version=\"1\",protocol=\"v2\","
                            "outcome=\"success\"} 1\n");
    FY_CHECK_CONTAINS(text, "outcome=\"rejected\"} 1\n");
    FY_CHECK_CONTAINS(text, "# TYPE ferry_request_duration_seconds histogram\n");
    FY_CHECK_CONTAINS(text, "ferry_request_duration_seconds_bucket{model=\"fashion\",version=\"1\","
                            "le=\"+Inf\"} 3\n");
    /* 0.0001 s and 0.003 s fall in 0.0005 and 0.005; 20 s only in +Inf */
    FY_CHECK_EQ(sample(text, "ferry_request_duration_seconds_bucket{model=\"fashion\",version="
                             "\"1\",le=\"0.0005\"}"),
                1);
    FY_CHECK_EQ(sample(text, "ferry_request_duration_seconds_bucket{model=\"fashion\",version="
                             "\"1\",le=\"0.005\"}"),
                2);
    FY_CHECK_EQ(sample(text, "ferry_request_duration_seconds_bucket{model=\"fashion\",version="
                             "\"1\",le=\"10\"}"),
                2);
    FY_CHECK_NEAR(sample(text, "ferry_request_duration_seconds_sum{model=\"fashion\",version="
                               "\"1\"}"),
                  20.0031, 1e-6);
    FY_CHECK_EQ(sample(text, "ferry_batch_size_bucket{model=\"fashion\",version=\"1\",le=\"4\"}"),
                1);
    FY_CHECK_EQ(sample(text, "ferry_batch_size_bucket{model=\"fashion\",version=\"1\",le=\"256\"}"),
                1);
    FY_CHECK_EQ(
        sample(text, "ferry_batch_size_bucket{model=\"fashion\",version=\"1\",le=\"+Inf\"}"), 2);
    FY_CHECK_EQ(sample(text, "ferry_batch_size_sum{model=\"fashion\",version=\"1\"}"), 303);
    FY_CHECK_EQ(sample(text, "ferry_inflight_requests"), 1);
    FY_CHECK_EQ(sample(text, "ferry_pending_requests{model=\"fashion\",version=\"1\"}"), 2);
    FY_CHECK_NEAR(sample(text, "ferry_model_load_seconds{model=\"fashion\",version=\"1\"}"), 0.25,
                  1e-9);
    FY_CHECK_EQ(sample(text, "ferry_model_load_failures_total{model=\"fashion\",version=\"2\"}"),
                1);
    FY_CHECK(sample(text, "process_resident_memory_bytes") > 0);
    FY_CHECK(sample(text, "process_cpu_seconds_total") >= 0);
    FY_CHECK(sample(text, "process_start_time_seconds") > 1.5e9);
    FY_CHECK(!strstr(text, "nv_inference"));
    free(text);

    /* with Triton's names: still valid text; the only complaints are promlint's
     * naming conventions, which Triton's fixed names cannot follow */
    FY_CHECK_EQ(fy__metrics_render(m, &text, &len), FY_OK);
    st = promtool(text, len, msg, sizeof msg);
    FY_CHECK(st == 0 || st == 3);
    char *save = NULL;
    for (char *line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "nv_inference_", 13) != 0) {
            fy_test_failed_checks++;
            fprintf(stderr, "promtool complaint about a non-Triton name: %s\n", line);
        }
    FY_CHECK_EQ(sample(text, "nv_inference_request_success{model=\"fashion\",version=\"1\"}"), 1);
    FY_CHECK_EQ(sample(text, "nv_inference_request_failure{model=\"fashion\",version=\"1\"}"), 2);
    FY_CHECK_EQ(sample(text, "nv_inference_count{model=\"fashion\",version=\"1\"}"), 303);
    FY_CHECK_EQ(sample(text, "nv_inference_exec_count{model=\"fashion\",version=\"1\"}"), 2);
    FY_CHECK_EQ(sample(text, "nv_inference_pending_request_count{model=\"fashion\",version=\"1\"}"),
                2);
    FY_CHECK_EQ(sample(text, "nv_inference_queue_duration_us{model=\"fashion\",version=\"1\"}"),
                1000);
    FY_CHECK_EQ(sample(text, "nv_inference_request_duration_us{model=\"fashion\",version=\"1\"}"),
                3000);
    FY_CHECK_CONTAINS(text, "# TYPE nv_inference_count counter\n");
    free(text);
    fy__metrics_free(m);
}

TEST(label_values_are_escaped)
{
    fy__metrics *m = NULL;
    FY_CHECK_EQ(fy__metrics_create(&m), FY_OK);
    fy__metrics_request(m, "we\"ird\\na\nme", NULL, FY_PROTO_PREDICT, FY_OUTCOME_SUCCESS, 0.01);
    char *text = NULL, msg[4096];
    size_t len = 0;
    FY_CHECK_EQ(fy__metrics_render_ex(m, FY_METRICS_STANDARD, &text, &len), FY_OK);
    FY_CHECK_CONTAINS(text, "model=\"we\\\"ird\\\\na\\nme\",version=\"\"");
    FY_CHECK_EQ(promtool(text, len, msg, sizeof msg), 0);
    free(text);
    fy__metrics_free(m);
}

typedef struct worker {
    fy__metrics *m;
    int id;
} worker;

#define THREADS 8
#define PER_THREAD 2000

static void *hammer(void *arg)
{
    worker *w = arg;
    char model[16];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(model, sizeof model, "m%d", i % 3);
        fy__metrics_inflight(w->m, 1);
        fy__metrics_pending(w->m, model, "1", 1);
        fy__metrics_queue_wait(w->m, model, "1", 0.001);
        fy__metrics_pending(w->m, model, "1", -1);
        fy__metrics_batch(w->m, model, "1", 1 + i % 4, 0.002);
        fy__metrics_request(w->m, model, "1", (fy__proto)(i % FY_PROTO_N),
                            i % 5 ? FY_OUTCOME_SUCCESS : FY_OUTCOME_SERVER_ERROR, 0.004);
        fy__metrics_inflight(w->m, -1);
    }
    return NULL;
}

TEST(sums_are_exact_under_concurrency)
{
    fy__metrics *m = NULL;
    FY_CHECK_EQ(fy__metrics_create(&m), FY_OK);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){m, t};
        pthread_create(&th[t], NULL, hammer, &w[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);

    uint64_t success = 0, failure = 0, items = 0, execs = 0, queue_ns = 0;
    for (int k = 0; k < 3; k++) {
        char model[16];
        fy__mv_stats st;
        snprintf(model, sizeof model, "m%d", k);
        fy__metrics_mv_stats(m, model, "1", &st);
        success += st.success;
        failure += st.failure;
        items += st.inference_count;
        execs += st.execution_count;
        queue_ns += st.queue_ns;
        FY_CHECK(st.last_inference_ms > 0);
    }
    long total = (long)THREADS * PER_THREAD;
    FY_CHECK_EQ(success + failure, total);
    FY_CHECK_EQ(failure, total / 5);
    FY_CHECK_EQ(execs, total);
    FY_CHECK_EQ(items, total / 4 * (1 + 2 + 3 + 4));
    FY_CHECK_EQ(queue_ns, total * 1000000LL);

    char *text = NULL, msg[4096];
    size_t len = 0;
    FY_CHECK_EQ(fy__metrics_render_ex(m, FY_METRICS_STANDARD, &text, &len), FY_OK);
    FY_CHECK_EQ(promtool(text, len, msg, sizeof msg), 0);
    double reqs = 0, counts = 0;
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < FY_PROTO_N; p++)
            for (int o = 0; o < 2; o++) {
                static const char *const protos[] = {"predict", "v2", "tf"};
                char key[256];
                snprintf(key, sizeof key,
                         "ferry_requests_total{model=\"m%d\",version=\"1\",protocol=\"%s\","
                         "outcome=\"%s\"}",
                         k, protos[p], o ? "server_error" : "success");
                double v = sample(text, key);
                reqs += v > 0 ? v : 0;
            }
    for (int k = 0; k < 3; k++) {
        char key[128];
        snprintf(key, sizeof key,
                 "ferry_request_duration_seconds_count{model=\"m%d\",version=\"1\"}", k);
        counts += sample(text, key);
        snprintf(key, sizeof key, "ferry_pending_requests{model=\"m%d\",version=\"1\"}", k);
        FY_CHECK_EQ(sample(text, key), 0);
    }
    FY_CHECK_EQ(reqs, total);
    FY_CHECK_EQ(counts, total);
    FY_CHECK_EQ(sample(text, "ferry_inflight_requests"), 0);
    free(text);
    fy__metrics_free(m);
}

TEST(series_are_bounded)
{
    fy__metrics *m = NULL;
    FY_CHECK_EQ(fy__metrics_create(&m), FY_OK);
    char name[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(name, sizeof name, "model%d", i);
        fy__metrics_request(m, name, "1", FY_PROTO_V2, FY_OUTCOME_SUCCESS, 0.001);
    }
    char *text = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__metrics_render_ex(m, FY_METRICS_STANDARD, &text, &len), FY_OK);
    FY_CHECK_EQ(sample(text, "ferry_metrics_series_dropped_total"), 1500 - 1024);
    FY_CHECK(!strstr(text, "model=\"model1499\""));
    free(text);
    /* statistics of an unknown version are zeros, and asking does not create it */
    fy__mv_stats st;
    fy__metrics_mv_stats(m, "model1499", "1", &st);
    FY_CHECK_EQ(st.success, 0);
    fy__metrics_free(m);

    /* a NULL registry is a no-op everywhere */
    fy__metrics_request(NULL, "a", "1", FY_PROTO_V2, FY_OUTCOME_SUCCESS, 1);
    fy__metrics_queue_wait(NULL, "a", "1", 1);
    fy__metrics_batch(NULL, "a", "1", 1, 1);
    fy__metrics_inflight(NULL, 1);
    fy__metrics_pending(NULL, "a", "1", 1);
    fy__metrics_model_load(NULL, "a", "1", 1, 1);
    fy__metrics_mv_stats(NULL, "a", "1", &st);
    FY_CHECK_EQ(st.failure, 0);
    fy__metrics_free(NULL);
}

TEST(allocation_failures_leak_nothing)
{
    int done = 0;
    /* fail each allocation in turn until a round makes fewer than n of them */
    for (long n = 1; n < 500 && !done; n++) {
        fy__metrics *m = NULL;
        long before = fy__alloc_count();
        fy__alloc_fail_at(n);
        int rc = fy__metrics_create(&m);
        if (rc == FY_OK) {
            fill(m);
            char *text = NULL;
            size_t len = 0;
            rc = fy__metrics_render(m, &text, &len);
            FY_CHECK(rc == FY_OK || rc == FY_ENOMEM);
            if (rc == FY_OK)
                free(text);
            fy__metrics_free(m);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
        }
        done = fy__alloc_count() - before < n;
        fy__alloc_fail_at(0);
    }
    FY_CHECK(done);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-metrics-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (access(PROMTOOL, X_OK) != 0) {
        fprintf(stderr, "%s is missing: install Debian's prometheus package (make deps)\n",
                PROMTOOL);
        fy_test_fail++;
    }
    RUN(renders_text_that_promtool_accepts);
    RUN(label_values_are_escaped);
    RUN(sums_are_exact_under_concurrency);
    RUN(series_are_bounded);
    RUN(allocation_failures_leak_nothing);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
