/* SPDX-License-Identifier: MIT */
/* Acceptance tests of a model version before it goes live (`ferry verify`, and the
 * deploy pipeline's verify stage): accuracy on a labeled dataset against a minimum,
 * smoke requests with expected answers, and p99 latency and throughput under a
 * bounded load (the load generator of bench.h). Every check goes through the
 * serving path, POST /predict/MODEL: against a running endpoint (URL), or
 * in-process against a package served by this call on a free loopback port. The
 * thresholds are explicit fields, so callers need not have a manifest; see
 * fy_verify_opts_from_manifest for the package's own test standards. See
 * docs/verify.md. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/bench.h"
#include "ferry/error.h"
#include "ferry/package.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FY_VERIFY_MAX_SMOKE 64

/* One smoke request and what its answer must be. All borrowed. */
typedef struct fy_verify_smoke {
    const char *name;   /* shown in reports; NULL: "smoke[i]" */
    const char *method; /* NULL: POST with a body, GET without */
    const char *path;   /* "/predict/fashion-cnn"; NULL: /predict/MODEL */
    const void *body;   /* request body (JSON), may be NULL */
    size_t body_len;
    int expect_status;           /* 0: 200 */
    const char *expect_contains; /* the body must contain this text; NULL: no check */
    int expect_class;            /* -1: no check; else predictions[0]'s class (or argmax) */
    const char *expect_label;    /* NULL: no check; else predictions[0].label */
} fy_verify_smoke;

/* What to check. Zero thresholds mean "no gate" (still measured and reported when
 * the data to measure is there). All strings borrowed. */
typedef struct fy_verify_opts {
    /* Where: url (http://HOST:PORT, the server root) or, when url is NULL, the
     * package in-process. A package (or its manifest) is needed for the model name,
     * defaults and the dataset's preprocessing either way unless model_name is set. */
    const char *url;
    const fy_package *package; /* may be NULL with a url and model_name */
    /* In-process (url NULL): the package (or model) file to serve on a free loopback
     * port; opened for its manifest when package is NULL. */
    const char *package_path;
    const char *model_name; /* the served model's name; NULL: the manifest's */
    const char *api_key;    /* sent as "Authorization: Bearer KEY"; NULL: none */

    /* Accuracy: dataset spec ("idx:IMAGES,LABELS"); NULL: no accuracy check. */
    const char *dataset;
    double min_accuracy;    /* fraction 0..1; 0: measured, no gate */
    int64_t accuracy_limit; /* at most this many samples; 0: all */
    int accuracy_batch;     /* samples per /predict request; 0: 64 */

    /* Smoke requests. */
    int n_smoke;
    const fy_verify_smoke *smoke;

    /* Latency and throughput under load. The load runs when a gate is set or
     * load_requests / load_seconds is. Requests are single samples of the dataset
     * (or an all-zero input when there is none) sent to /predict/MODEL. */
    double max_p99_ms;     /* 0: no gate */
    double min_throughput; /* successful requests/s; 0: no gate */
    int load_connections;  /* 0: 8 */
    double load_rate;      /* requests/s, open loop; 0: closed loop */
    double load_seconds;   /* 0: 5 (with load_requests 0) */
    int64_t load_requests; /* 0: by time */
    double load_warmup_s;  /* 0: 1 */
    int timeout_ms;        /* per request; 0: 10000 */
    double max_error_rate; /* failed/total under load above this fails; 0: any error fails */

    /* Progress lines ("accuracy: 3000/10000"), may be NULL. */
    void (*progress)(const char *line, void *ctx);
    void *progress_ctx;
} fy_verify_opts;

/* Fill opts' gates and dataset from a manifest's tests section (tests.dataset,
 * tests.min when metric is accuracy, tests.max_p99_latency_ms,
 * tests.min_throughput_per_s); other fields are left as they are. Borrowed. */
void fy_verify_opts_from_manifest(const fy_manifest *man, fy_verify_opts *opts);

typedef struct fy_verify_check {
    char name[64]; /* "accuracy", "p99_latency_ms", "throughput_per_s", "errors", "smoke: NAME" */
    int passed;    /* 1 pass, 0 fail */
    int gated;     /* 0: measured only (no threshold) */
    double value;  /* what was measured */
    double threshold; /* the limit (min or max by the check), when gated */
    char detail[256]; /* why it failed, or what was measured */
} fy_verify_check;

/* A verification outcome. Plain data, owned by the caller (fy_verify_report_free). */
typedef struct fy_verify_report {
    int passed; /* every gated check passed */
    int n_checks, n_failed;
    fy_verify_check checks[FY_VERIFY_MAX_SMOKE + 8];
    char target[256]; /* the URL or "in-process: NAME VERSION" */
    char model[128];  /* model name (and version when known) */
    /* accuracy (when measured) */
    int has_accuracy;
    int64_t accuracy_count, accuracy_correct;
    double accuracy;
    double accuracy_seconds;
    /* load (when run) */
    int has_load;
    fy_bench_result load;
    double seconds; /* whole verification */
} fy_verify_report;

/* Run every check the options ask for, in the order accuracy, smoke, load. A check
 * that fails does not stop the others (the report lists all). Returns FY_OK when
 * the checks ran, whatever their outcome (report->passed); an error when they could
 * not run (dataset unreadable, model not loadable, no package and no model_name,
 * in-process server failed to start). On FY_OK *out is malloc'd. */
int fy_verify_run(const fy_verify_opts *opts, fy_verify_report **out, fy_diag *d);
void fy_verify_report_free(fy_verify_report *r);

/* Render a report as Markdown (a table of checks, then accuracy and load details)
 * or JSON ({"passed", "target", "model", "checks": [...], "accuracy": {...},
 * "load": {bench JSON}}). *out malloc'd (free()). */
int fy_verify_report_markdown(const fy_verify_report *r, char **out, fy_diag *d);
int fy_verify_report_json(const fy_verify_report *r, char **out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
