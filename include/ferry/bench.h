/* SPDX-License-Identifier: MIT */
/* The load generator behind `ferry bench` and the latency and throughput gates of
 * `ferry verify`: HTTP/1.1 keep-alive connections (ferry's own small client over
 * sockets; plain http:// only), fixed concurrency (closed loop) or a fixed request
 * rate (open loop: latency is measured from each request's scheduled start, so a
 * slow server cannot hide its queueing: no coordinated omission), bounded by
 * duration or request count, with a warm-up; latency percentiles from a
 * log-bucketed histogram; errors by kind. See docs/bench.md. */
#ifndef FERRY_BENCH_H
#define FERRY_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FY_BENCH_MAX_CONNECTIONS 1024
#define FY_BENCH_MAX_HEADERS 16
#define FY_BENCH_MAX_RESPONSE ((size_t)64 << 20) /* a response body above 64 MiB is an error */

/* Error kinds, each counted separately. */
typedef enum fy_bench_err {
    FY_BENCH_ERR_CONNECT = 0,  /* connect refused, unreachable, reset before any byte */
    FY_BENCH_ERR_TIMEOUT,      /* no complete response within timeout_ms */
    FY_BENCH_ERR_IO,           /* the connection broke mid-request or mid-response */
    FY_BENCH_ERR_BAD_RESPONSE, /* not HTTP/1.x, bad framing, headers or body over the limits */
    FY_BENCH_ERR_STATUS_3XX,   /* a status class other than the expected one */
    FY_BENCH_ERR_STATUS_4XX,
    FY_BENCH_ERR_STATUS_5XX,
    FY_BENCH_ERR_STATUS_OTHER, /* 1xx (other than 100) or an out-of-range status */
    FY_BENCH_ERR_BAD_BODY,     /* the check_body callback refused the body */
    FY_BENCH_ERR_N
} fy_bench_err;

/* Static name of an error kind: "connect", "timeout", "io", "bad_response",
 * "status_3xx", "status_4xx", "status_5xx", "status_other", "bad_body". */
const char *fy_bench_err_name(fy_bench_err e);

/* One request body; the generator cycles through several (e.g. dataset samples). */
typedef struct fy_bench_body {
    const void *data;
    size_t len;
} fy_bench_body;

/* All-zero means the defaults shown. Everything is borrowed for the run. */
typedef struct fy_bench_opts {
    const char *url;    /* required: http://HOST[:PORT]/PATH (IPv4/IPv6 literal or name) */
    const char *method; /* "POST" when there is a body, else "GET" */
    int n_bodies;       /* 0: no body */
    const fy_bench_body *bodies;
    const char *content_type; /* "application/json" when there is a body */
    int n_headers;            /* extra request headers, "Name: value" each, no CR/LF */
    const char *const *headers;
    int connections;   /* 1; at most FY_BENCH_MAX_CONNECTIONS */
    double rate;       /* requests/s over all connections, open loop; 0: closed loop */
    double duration_s; /* measured phase length; 0 and requests 0: 10 s */
    int64_t requests;  /* stop after this many measured requests; 0: by duration */
    double warmup_s;   /* requests before measuring, not counted; 0: none */
    int timeout_ms;    /* per request, from its (scheduled) start; 10000 */
    /* Optional check of each 2xx response body: return 0 if good, else the request
     * counts as FY_BENCH_ERR_BAD_BODY. Called on the generator's thread. */
    int (*check_body)(const char *body, size_t len, void *ctx);
    void *check_ctx;
    /* Called about once a second with the measured requests so far; may be NULL. */
    void (*progress)(double elapsed_s, int64_t done, int64_t errors, void *ctx);
    void *progress_ctx;
    /* Set to non-zero (from any thread or a signal handler) to end the run early;
     * the result covers what was measured. May be NULL. */
    volatile int *stop;
} fy_bench_opts;

typedef struct fy_bench_result {
    int64_t requests; /* measured requests completed (ok + errors) */
    int64_t ok;       /* 2xx with a good body */
    int64_t errors[FY_BENCH_ERR_N];
    int64_t error_total;
    int64_t status[6];   /* responses by status class: [1] 1xx ... [5] 5xx ([0] unused) */
    int64_t connects;    /* TCP connections opened (reconnects after a close count) */
    int64_t late;        /* open loop: requests that started more than 1 ms after their
                            scheduled time (the server or the connections fell behind) */
    double seconds;      /* measured phase wall time */
    double throughput;   /* ok / seconds */
    double offered_rate; /* open loop: the rate asked for; closed loop: 0 */
    int64_t bytes_sent, bytes_received;
    /* Latency of successful requests in milliseconds (open loop: from the scheduled
     * start). Percentiles come from a histogram with 1/64-octave buckets from 1 us
     * to ~1 hour (relative error below 0.6%); min, max and mean are exact. All 0
     * when nothing succeeded. */
    double lat_min_ms, lat_mean_ms, lat_p50_ms, lat_p90_ms, lat_p99_ms, lat_p999_ms, lat_max_ms;
    char first_error[192]; /* the first error seen, for humans ("connect: Connection refused") */
} fy_bench_result;

/* Run the load. Returns FY_OK when the run took place (even if every request
 * failed: see result.errors); FY_EINVAL for bad options (a URL that is not
 * http://, an https URL, bad header text), FY_ENOTFOUND when the host name does
 * not resolve, FY_ENOMEM. Thread safety: runs on the calling thread; independent
 * runs may go on in parallel. */
int fy_bench_run(const fy_bench_opts *opts, fy_bench_result *out, fy_diag *d);

/* Request bodies for POST /predict[/NAME] from a labeled dataset ("idx:IMAGES,LABELS"):
 * body i is {"instances": [SAMPLE]} with sample i's raw values as numbers (a
 * package's server applies the manifest's preprocessing), for i < max (0: 256).
 * If labels is non-NULL it receives each body's label (malloc'd, free()). *out is
 * malloc'd: free with fy_bench_bodies_free. */
int fy_bench_predict_bodies(const char *dataset, int max, fy_bench_body **out, int *n,
                            int64_t **labels, fy_diag *d);
void fy_bench_bodies_free(fy_bench_body *b, int n);

/* JSON of a result: {"requests", "ok", "errors": {"connect": N, ...}, "latency_ms":
 * {"min", "mean", "p50", "p90", "p99", "p999", "max"}, "throughput_per_s", ...}.
 * *out is malloc'd (free()). */
int fy_bench_result_json(const fy_bench_result *r, char **out, fy_diag *d);

/* One blocking request, for smoke tests and accuracy checks (verify). On FY_OK,
 * *status is the HTTP status and *body (malloc'd, NUL-terminated, free()) the
 * response body; a connection, timeout or framing failure is FY_EIO with the kind in
 * *err_kind (may be NULL) and the detail in d. */
typedef struct fy_http_request {
    const char *url;
    const char *method; /* "GET" or "POST"... default: POST with a body, GET without */
    const void *body;
    size_t body_len;
    const char *content_type;
    int n_headers;
    const char *const *headers;
    int timeout_ms; /* 10000 */
} fy_http_request;
int fy_http_fetch(const fy_http_request *req, int *status, char **body, size_t *body_len,
                  fy_bench_err *err_kind, fy_diag *d);

/* Parse one HTTP/1.x response head and framing, for tests and the fuzz target: given
 * the bytes received so far, returns 1 when a complete response is present (status,
 * body offset and length set; *consumed its total size), 0 when more bytes are
 * needed, -1 when the bytes are not a valid response. A chunked body
 * is decoded in place (buf is modified). */
int fy_http_parse_response(char *buf, size_t len, int head_request, int *status, size_t *body_off,
                           size_t *body_len, size_t *consumed, int *keep_alive);

#ifdef __cplusplus
}
#endif
#endif
