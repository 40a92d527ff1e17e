/* SPDX-License-Identifier: MIT */
/* Serving metrics: per model-version counters and histograms kept in atomics, the
 * process's memory and CPU, rendered as Prometheus text format 0.0.4 with both
 * ferry's names (base units) and the names Triton's dashboards scrape (nv_*). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* Label values longer than this are cut (model names are at most 64 characters and
 * versions come from the repository, so this only guards against misuse). */
#define LABEL_MAX 128
/* Series (model, version pairs) kept; past this, updates for new pairs are dropped
 * and counted, so a caller passing unbounded labels cannot grow memory without bound. */
#define FY_METRICS_MAX_SERIES 1024

static const double sec_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_SEC ((int)(sizeof sec_le / sizeof sec_le[0]))
#define N_BATCH 9 /* le 1, 2, 4, ..., 256 */

/* Buckets are stored per bucket (not cumulative); the last slot is +Inf only.
 * Cumulating at render time keeps buckets monotonic and _count equal to the +Inf
 * bucket even while other threads observe. */
typedef struct hist {
    atomic_uint_least64_t b[N_SEC + 1];
    atomic_uint_least64_t sum; /* nanoseconds, or items for batch sizes */
} hist;

typedef struct series {
    char model[LABEL_MAX], version[LABEL_MAX];
    atomic_uint_least64_t req[FY_PROTO_N][FY_OUTCOME_N];
    hist total, queue, compute, batch;
    atomic_int_least64_t pending;
    atomic_uint_least64_t success, failure, success_ns, failure_ns;
    atomic_uint_least64_t items, execs, queue_ns, compute_ns, last_ms;
    atomic_uint_least64_t load_failures, load_ns;
    atomic_int loaded;
} series;

struct fy__metrics {
    pthread_mutex_t mu; /* serializes adding series; reads are lock-free */
    atomic_int n;
    series *s[FY_METRICS_MAX_SERIES];
    atomic_int_least64_t inflight;
    atomic_uint_least64_t dropped;
    double start_time;
};

static const char *const proto_names[FY_PROTO_N] = {"predict", "v2", "tf"};
static const char *const outcome_names[FY_OUTCOME_N] = {"success", "client_error", "rejected",
                                                        "timeout", "server_error"};

static uint64_t to_ns(double seconds)
{
    if (!(seconds > 0))
        return 0; /* also NaN */
    if (seconds > 1e9)
        return (uint64_t)1e18;
    return (uint64_t)(seconds * 1e9 + 0.5);
}

static void observe_seconds(hist *h, double seconds)
{
    int i = 0;
    while (i < N_SEC && !(seconds <= sec_le[i]))
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, to_ns(seconds), memory_order_relaxed);
}

static void observe_batch(hist *h, int items)
{
    int i = 0;
    while (i < N_BATCH && items > (1 << i))
        i++;
    atomic_fetch_add_explicit(&h->b[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, items > 0 ? (uint64_t)items : 0, memory_order_relaxed);
}

static double now_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The kernel's record of when this process started (what other Prometheus clients
 * report), else the time the registry was created. */
static double process_start_time(void)
{
    double fallback = now_realtime();
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return fallback;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the command name (field 2) may hold spaces and parentheses: start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return fallback;
    p++;
    unsigned long long start_ticks = 0;
    for (int field = 3; field <= 22 && *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 22)
            start_ticks = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long btime = 0;
    char line[256];
    if (hz <= 0 || !(f = fopen("/proc/stat", "r")))
        return fallback;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtoull(line + 6, NULL, 10);
    fclose(f);
    if (!btime || !start_ticks)
        return fallback;
    return (double)btime + (double)start_ticks / (double)hz;
}

int fy__metrics_create(fy__metrics **out)
{
    fy__metrics *m = fy__calloc(1, sizeof *m);
    if (!m)
        return FY_ENOMEM;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        fy__free(m);
        return FY_ENOMEM;
    }
    m->start_time = process_start_time();
    *out = m;
    return FY_OK;
}

void fy__metrics_free(fy__metrics *m)
{
    if (!m)
        return;
    int n = atomic_load(&m->n);
    for (int i = 0; i < n; i++)
        fy__free(m->s[i]);
    pthread_mutex_destroy(&m->mu);
    fy__free(m);
}

static void label_copy(char *dst, const char *src)
{
    snprintf(dst, LABEL_MAX, "%s", src ? src : "");
}

/* The series for (model, version), created on first use; NULL when out of memory or
 * over the series ceiling (the update is then dropped). */
static series *get_series(fy__metrics *m, const char *model, const char *version)
{
    char mk[LABEL_MAX], vk[LABEL_MAX];
    label_copy(mk, model);
    label_copy(vk, version);
    int n = atomic_load_explicit(&m->n, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(m->s[i]->model, mk) == 0 && strcmp(m->s[i]->version, vk) == 0)
            return m->s[i];
    series *s = NULL;
    pthread_mutex_lock(&m->mu);
    n = atomic_load_explicit(&m->n, memory_order_relaxed);
    for (int i = 0; i < n && !s; i++)
        if (strcmp(m->s[i]->model, mk) == 0 && strcmp(m->s[i]->version, vk) == 0)
            s = m->s[i];
    if (!s && n < FY_METRICS_MAX_SERIES && (s = fy__calloc(1, sizeof *s))) {
        memcpy(s->model, mk, sizeof mk);
        memcpy(s->version, vk, sizeof vk);
        m->s[n] = s;
        /* release: a reader that sees the new count sees the initialized series */
        atomic_store_explicit(&m->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&m->mu);
    if (!s)
        atomic_fetch_add(&m->dropped, 1);
    return s;
}

void fy__metrics_request(fy__metrics *m, const char *model, const char *version, fy__proto proto,
                         fy__outcome outcome, double total_seconds)
{
    series *s;
    if (!m || (unsigned)proto >= FY_PROTO_N || (unsigned)outcome >= FY_OUTCOME_N ||
        !(s = get_series(m, model, version)))
        return;
    atomic_fetch_add_explicit(&s->req[proto][outcome], 1, memory_order_relaxed);
    observe_seconds(&s->total, total_seconds);
    if (outcome == FY_OUTCOME_SUCCESS) {
        atomic_fetch_add_explicit(&s->success, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->success_ns, to_ns(total_seconds), memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&s->failure, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->failure_ns, to_ns(total_seconds), memory_order_relaxed);
    }
}

void fy__metrics_queue_wait(fy__metrics *m, const char *model, const char *version, double seconds)
{
    series *s;
    if (!m || !(s = get_series(m, model, version)))
        return;
    observe_seconds(&s->queue, seconds);
    atomic_fetch_add_explicit(&s->queue_ns, to_ns(seconds), memory_order_relaxed);
}

void fy__metrics_batch(fy__metrics *m, const char *model, const char *version, int items,
                       double compute_seconds)
{
    series *s;
    if (!m || !(s = get_series(m, model, version)))
        return;
    observe_batch(&s->batch, items);
    observe_seconds(&s->compute, compute_seconds);
    atomic_fetch_add_explicit(&s->items, items > 0 ? (uint64_t)items : 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->execs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->compute_ns, to_ns(compute_seconds), memory_order_relaxed);
    atomic_store_explicit(&s->last_ms, (uint64_t)(now_realtime() * 1000.0), memory_order_relaxed);
}

void fy__metrics_inflight(fy__metrics *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->inflight, delta, memory_order_relaxed);
}

int64_t fy__metrics_inflight_now(fy__metrics *m)
{
    return m ? (int64_t)atomic_load_explicit(&m->inflight, memory_order_relaxed) : 0;
}

void fy__metrics_pending(fy__metrics *m, const char *model, const char *version, int delta)
{
    series *s;
    if (m && (s = get_series(m, model, version)))
        atomic_fetch_add_explicit(&s->pending, delta, memory_order_relaxed);
}

void fy__metrics_model_load(fy__metrics *m, const char *model, const char *version, int ok,
                            double seconds)
{
    series *s;
    if (!m || !(s = get_series(m, model, version)))
        return;
    if (ok) {
        atomic_store(&s->load_ns, to_ns(seconds));
        atomic_store(&s->loaded, 1);
    } else {
        atomic_fetch_add(&s->load_failures, 1);
    }
}

void fy__metrics_mv_stats(fy__metrics *m, const char *model, const char *version, fy__mv_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return;
    char mk[LABEL_MAX], vk[LABEL_MAX];
    label_copy(mk, model);
    label_copy(vk, version);
    /* look up without creating: statistics of an unknown version are zeros */
    int n = atomic_load_explicit(&m->n, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        series *s = m->s[i];
        if (strcmp(s->model, mk) != 0 || strcmp(s->version, vk) != 0)
            continue;
        out->success = atomic_load(&s->success);
        out->failure = atomic_load(&s->failure);
        out->inference_count = atomic_load(&s->items);
        out->execution_count = atomic_load(&s->execs);
        out->success_ns = atomic_load(&s->success_ns);
        out->failure_ns = atomic_load(&s->failure_ns);
        out->queue_ns = atomic_load(&s->queue_ns);
        out->compute_ns = atomic_load(&s->compute_ns);
        out->last_inference_ms = atomic_load(&s->last_ms);
        return;
    }
}

/* ------------------------------------------------------------------------- */
/* Rendering                                                                  */
/* ------------------------------------------------------------------------- */

/* Label value escaping of the text format: backslash, double quote and newline. */
static void put_label(fy__text *b, const char *name, const char *value, int comma)
{
    fy__text_printf(b, "%s%s=\"", comma ? "," : "", name);
    for (const char *c = value; *c; c++) {
        if (*c == '\\')
            fy__text_printf(b, "\\\\");
        else if (*c == '"')
            fy__text_printf(b, "\\\"");
        else if (*c == '\n')
            fy__text_printf(b, "\\n");
        else
            fy__text_printf(b, "%c", *c);
    }
    fy__text_printf(b, "\"");
}

static void put_mv(fy__text *b, const series *s)
{
    put_label(b, "model", s->model, 0);
    put_label(b, "version", s->version, 1);
}

static void family(fy__text *b, const char *name, const char *type, const char *help)
{
    fy__text_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_hist(fy__text *b, const char *name, const series *s, const hist *h, int seconds)
{
    uint64_t cum = 0;
    int nb = seconds ? N_SEC : N_BATCH;
    for (int i = 0; i <= nb; i++) {
        cum += atomic_load_explicit(&h->b[i], memory_order_relaxed);
        fy__text_printf(b, "%s_bucket{", name);
        put_mv(b, s);
        if (i == nb)
            fy__text_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
        else if (seconds)
            fy__text_printf(b, ",le=\"%g\"} %llu\n", sec_le[i], (unsigned long long)cum);
        else
            fy__text_printf(b, ",le=\"%d\"} %llu\n", 1 << i, (unsigned long long)cum);
    }
    uint64_t sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
    fy__text_printf(b, "%s_sum{", name);
    put_mv(b, s);
    if (seconds)
        fy__text_printf(b, "} %.9f\n", (double)sum / 1e9);
    else
        fy__text_printf(b, "} %llu\n", (unsigned long long)sum);
    fy__text_printf(b, "%s_count{", name);
    put_mv(b, s);
    fy__text_printf(b, "} %llu\n", (unsigned long long)cum);
}

static void put_value(fy__text *b, const char *name, const series *s, unsigned long long v)
{
    fy__text_printf(b, "%s{", name);
    put_mv(b, s);
    fy__text_printf(b, "} %llu\n", v);
}

static int cmp_series(const void *a, const void *b)
{
    const series *x = *(const series *const *)a, *y = *(const series *const *)b;
    int c = strcmp(x->model, y->model);
    return c ? c : strcmp(x->version, y->version);
}

static void render_process(fy__text *b, const fy__metrics *m)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long vm_pages = 0, rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vm_pages, &rss_pages) != 2)
            vm_pages = rss_pages = 0;
        fclose(f);
    }
    if (page <= 0)
        page = 4096;
    struct timespec cpu = {0};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    fy__text_printf(b, "process_resident_memory_bytes %llu\n",
                    rss_pages * (unsigned long long)page);
    family(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    fy__text_printf(b, "process_virtual_memory_bytes %llu\n", vm_pages * (unsigned long long)page);
    family(b, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    fy__text_printf(b, "process_cpu_seconds_total %.6f\n",
                    (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
    family(b, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    fy__text_printf(b, "process_start_time_seconds %.3f\n", m->start_time);
}

int fy__metrics_render_ex(fy__metrics *m, unsigned what, char **out, size_t *len)
{
    fy__text b = {0};
    series **ss = NULL;
    int n = atomic_load_explicit(&m->n, memory_order_acquire);
    if (!(b.p = fy__malloc(b.cap = 16384)) || !(ss = fy__calloc((size_t)n + 1, sizeof *ss))) {
        fy__free(b.p);
        return FY_ENOMEM;
    }
    b.p[0] = 0;
    memcpy(ss, m->s, (size_t)n * sizeof *ss);
    qsort(ss, (size_t)n, sizeof *ss, cmp_series);

    if (what & FY_METRICS_STANDARD) {
        family(&b, "ferry_requests_total", "counter",
               "Inference requests by model, version, protocol and outcome.");
        for (int i = 0; i < n; i++)
            for (int p = 0; p < FY_PROTO_N; p++)
                for (int o = 0; o < FY_OUTCOME_N; o++) {
                    uint64_t v = atomic_load_explicit(&ss[i]->req[p][o], memory_order_relaxed);
                    if (!v)
                        continue;
                    fy__text_printf(&b, "ferry_requests_total{");
                    put_mv(&b, ss[i]);
                    fy__text_printf(&b, ",protocol=\"%s\",outcome=\"%s\"} %llu\n", proto_names[p],
                                    outcome_names[o], (unsigned long long)v);
                }
        family(&b, "ferry_request_duration_seconds", "histogram",
               "Time from a request's arrival to its response, in seconds.");
        for (int i = 0; i < n; i++)
            put_hist(&b, "ferry_request_duration_seconds", ss[i], &ss[i]->total, 1);
        family(&b, "ferry_queue_duration_seconds", "histogram",
               "Time an inference item waited in its model's queue, in seconds.");
        for (int i = 0; i < n; i++)
            put_hist(&b, "ferry_queue_duration_seconds", ss[i], &ss[i]->queue, 1);
        family(&b, "ferry_compute_duration_seconds", "histogram",
               "Time one batch took to run, in seconds.");
        for (int i = 0; i < n; i++)
            put_hist(&b, "ferry_compute_duration_seconds", ss[i], &ss[i]->compute, 1);
        family(&b, "ferry_batch_size", "histogram", "Rows (items) in each executed batch.");
        for (int i = 0; i < n; i++)
            put_hist(&b, "ferry_batch_size", ss[i], &ss[i]->batch, 0);
        family(&b, "ferry_inflight_requests", "gauge", "Requests being handled now.");
        fy__text_printf(&b, "ferry_inflight_requests %lld\n", (long long)atomic_load(&m->inflight));
        family(&b, "ferry_pending_requests", "gauge",
               "Requests waiting in a model version's queue.");
        for (int i = 0; i < n; i++) {
            fy__text_printf(&b, "ferry_pending_requests{");
            put_mv(&b, ss[i]);
            fy__text_printf(&b, "} %lld\n", (long long)atomic_load(&ss[i]->pending));
        }
        family(&b, "ferry_model_load_seconds", "gauge",
               "Seconds the last successful load (with warm-up) of a model version took.");
        for (int i = 0; i < n; i++) {
            if (!atomic_load(&ss[i]->loaded))
                continue;
            fy__text_printf(&b, "ferry_model_load_seconds{");
            put_mv(&b, ss[i]);
            fy__text_printf(&b, "} %.6f\n", (double)atomic_load(&ss[i]->load_ns) / 1e9);
        }
        family(&b, "ferry_model_load_failures_total", "counter",
               "Failed loads (including warm-up) of a model version.");
        for (int i = 0; i < n; i++)
            put_value(&b, "ferry_model_load_failures_total", ss[i],
                      (unsigned long long)atomic_load(&ss[i]->load_failures));
        family(&b, "ferry_metrics_series_dropped_total", "counter",
               "Metric updates dropped because the series limit was reached.");
        fy__text_printf(&b, "ferry_metrics_series_dropped_total %llu\n",
                        (unsigned long long)atomic_load(&m->dropped));
        render_process(&b, m);
    }

    if (what & FY_METRICS_TRITON) {
        /* Triton's names and types, for existing dashboards. Their names break
         * promlint's conventions (_count suffix, _us unit, counters without _total),
         * which is why they can be left out (FY_METRICS_STANDARD alone). */
        static const struct {
            const char *name, *type, *help;
        } nv[] = {
            {"nv_inference_request_success", "counter",
             "Number of successful inference requests, all batch sizes"},
            {"nv_inference_request_failure", "counter",
             "Number of failed inference requests, all batch sizes"},
            {"nv_inference_count", "counter",
             "Number of inferences performed (does not include cached requests)"},
            {"nv_inference_exec_count", "counter",
             "Number of model executions performed (does not include cached requests)"},
            {"nv_inference_pending_request_count", "gauge",
             "Instantaneous number of pending requests awaiting execution per-model."},
            {"nv_inference_queue_duration_us", "counter",
             "Cumulative inference queuing duration in microseconds"},
            {"nv_inference_compute_infer_duration_us", "counter",
             "Cumulative compute inference duration in microseconds"},
            {"nv_inference_request_duration_us", "counter",
             "Cumulative inference request duration in microseconds (successful requests)"},
        };
        for (size_t k = 0; k < sizeof nv / sizeof nv[0]; k++) {
            family(&b, nv[k].name, nv[k].type, nv[k].help);
            for (int i = 0; i < n; i++) {
                series *s = ss[i];
                long long v = 0;
                switch (k) {
                case 0: v = (long long)atomic_load(&s->success); break;
                case 1: v = (long long)atomic_load(&s->failure); break;
                case 2: v = (long long)atomic_load(&s->items); break;
                case 3: v = (long long)atomic_load(&s->execs); break;
                case 4: v = (long long)atomic_load(&s->pending); break;
                case 5: v = (long long)(atomic_load(&s->queue_ns) / 1000); break;
                case 6: v = (long long)(atomic_load(&s->compute_ns) / 1000); break;
                default: v = (long long)(atomic_load(&s->success_ns) / 1000); break;
                }
                fy__text_printf(&b, "%s{", nv[k].name);
                put_mv(&b, s);
                fy__text_printf(&b, "} %lld\n", v);
            }
        }
    }
    fy__free(ss);
    if (b.oom) {
        fy__free(b.p);
        return FY_ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return FY_OK;
}

int fy__metrics_render(fy__metrics *m, char **out, size_t *len)
{
    return fy__metrics_render_ex(m, FY_METRICS_STANDARD | FY_METRICS_TRITON, out, len);
}
