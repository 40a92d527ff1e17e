/* SPDX-License-Identifier: MIT */
/* Internals of the serve module, split in three parts with one owner each:
 *   repo.c, batcher.c  model repository, versions, dynamic batching, instances
 *   metrics.c          counters and histograms, Prometheus text
 *   codec_*.c          protocol bodies <-> tensors (pure functions, fuzzed)
 *   server.c, http.c   HTTP front (libmicrohttpd), routing, auth, limits, logs, lifecycle
 */
#ifndef FERRY_SERVE_INT_H
#define FERRY_SERVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/engine.h"
#include "ferry/model.h"
#include "ferry/package.h"
#include "ferry/serve.h"
#include "ferry/tensor.h"

/* ------------------------------------------------------------------------- */
/* Metrics (metrics.c)                                                        */
/* ------------------------------------------------------------------------- */

/* Thread-safe (atomics and a mutex). Label values are model names and versions
 * from the repository (bounded) and the fixed outcome/protocol sets below. */
typedef struct fy__metrics fy__metrics;

typedef enum { FY_OUTCOME_SUCCESS, FY_OUTCOME_CLIENT_ERROR, FY_OUTCOME_REJECTED,
               FY_OUTCOME_TIMEOUT, FY_OUTCOME_SERVER_ERROR, FY_OUTCOME_N } fy__outcome;
typedef enum { FY_PROTO_PREDICT, FY_PROTO_V2, FY_PROTO_TF, FY_PROTO_N } fy__proto;

int fy__metrics_create(fy__metrics **out);
void fy__metrics_free(fy__metrics *m);
/* A finished inference request (HTTP layer). */
void fy__metrics_request(fy__metrics *m, const char *model, const char *version, fy__proto proto,
                         fy__outcome outcome, double total_seconds);
/* One executed batch (batcher): items in it, seconds each item waited in the queue
 * (called once per item), compute seconds of the batch. */
void fy__metrics_queue_wait(fy__metrics *m, const char *model, const char *version,
                            double seconds);
void fy__metrics_batch(fy__metrics *m, const char *model, const char *version, int items,
                       double compute_seconds);
void fy__metrics_inflight(fy__metrics *m, int delta);
/* Inference requests received in full and not yet answered, over every model (0
 * when m is NULL). */
int64_t fy__metrics_inflight_now(fy__metrics *m);
void fy__metrics_pending(fy__metrics *m, const char *model, const char *version, int delta);
void fy__metrics_model_load(fy__metrics *m, const char *model, const char *version, int ok,
                            double seconds);
/* Prometheus text exposition format 0.0.4, including process memory and CPU and
 * the Triton-compatible names (nv_inference_*). *out is malloc'd. */
int fy__metrics_render(fy__metrics *m, char **out, size_t *len);
/* The same with a choice of families: ferry's own names (base units; they pass
 * `promtool check metrics`) and Triton's nv_* names (promlint flags those: a _count
 * suffix on a counter, the _us unit, counters without _total), so a strict scrape
 * can leave them out. fy__metrics_render writes both. */
enum { FY_METRICS_STANDARD = 1, FY_METRICS_TRITON = 2 };
int fy__metrics_render_ex(fy__metrics *m, unsigned what, char **out, size_t *len);

/* Per model version statistics for the V2 statistics extension. */
typedef struct fy__mv_stats {
    uint64_t success, failure;             /* requests */
    uint64_t inference_count;              /* items inferred */
    uint64_t execution_count;              /* batches run */
    uint64_t success_ns, queue_ns, compute_ns, failure_ns; /* summed durations */
    uint64_t last_inference_ms;            /* unix time of the last inference, 0 if none */
} fy__mv_stats;
void fy__metrics_mv_stats(fy__metrics *m, const char *model, const char *version,
                          fy__mv_stats *out);

/* ------------------------------------------------------------------------- */
/* Model repository and batching (repo.c, batcher.c)                          */
/* ------------------------------------------------------------------------- */

typedef struct fy__repo fy__repo;
typedef struct fy__mv fy__mv; /* one loaded version of one model; reference counted */

typedef enum { FY_MV_LOADING, FY_MV_READY, FY_MV_UNLOADING, FY_MV_UNAVAILABLE,
               FY_MV_FAILED } fy__mv_state;

typedef struct fy__repo_opts {
    const char *const *paths; /* model files, packages, or one repository folder */
    int n_paths;
    int instances, max_batch_size, max_queue_delay_us, queue_capacity, version_policy_latest;
    fy__metrics *metrics;     /* borrowed */
    fy_pool *pool;            /* borrowed: every session's intra-op threads; may be NULL */
    /* Trust policy: with trusted_key (a public key file, borrowed) only packages
     * validly signed by that key load; unsigned, untrusted and bare models are
     * refused with the reason. */
    const char *trusted_key;
    int allow_empty; /* no paths: a server of GGUF language models only */
    /* event log line (JSON object text without newline); may be NULL */
    void (*log)(const char *json_line, void *ctx);
    void *log_ctx;
} fy__repo_opts;

/* Resolves the paths into models (a bare file NAME.onnx serves as NAME version
 * "1"; a package as its manifest name and version; a repository folder as
 * NAME/VERSION/ with VERSION a positive integer, newest versions by the policy),
 * loads, creates instances and warms each version (one run on zeros of its input
 * shape, symbolic dims 1). Failures are recorded per version (state FAILED with a
 * reason) and do not fail the call. */
int fy__repo_create(fy__repo **out, const fy__repo_opts *opts, fy_diag *d);
/* Waits for in-flight requests to finish, stops batch threads, frees. */
void fy__repo_free(fy__repo *r);
/* Rescan the paths: load new versions (they become visible once ready), unload
 * versions no longer present or no longer kept by the policy (in-flight requests
 * finish on them first). */
int fy__repo_reload(fy__repo *r, fy_diag *d);
/* Repository extension: load (or reload) / unload one model by name. */
int fy__repo_load(fy__repo *r, const char *name, fy_diag *d);
int fy__repo_unload(fy__repo *r, const char *name, fy_diag *d);
/* Every declared model has at least one READY version (and there is a model). */
int fy__repo_ready(fy__repo *r, char *why, size_t why_len);
/* Created without paths (allow_empty): it serves no ONNX model. */
int fy__repo_empty(fy__repo *r);

/* Take a reference to a ready version: version NULL or "" means the newest ready
 * one. On failure returns NULL and sets *http_status (404 unknown model or
 * version, 503 known but not ready) and d. Release with fy__mv_release. */
fy__mv *fy__repo_acquire(fy__repo *r, const char *name, const char *version, int *http_status,
                         fy_diag *d);
void fy__mv_release(fy__mv *mv);

/* Index of the repository (V2 repository extension, TF model status): calls fn
 * for every known model version, in name then version order. */
typedef struct fy__mv_info {
    const char *name, *version;
    fy__mv_state state;
    const char *reason; /* why FAILED/UNAVAILABLE, else "" */
} fy__mv_info;
void fy__repo_each(fy__repo *r, void (*fn)(const fy__mv_info *info, void *ctx), void *ctx);

const char *fy__mv_name(const fy__mv *mv);
const char *fy__mv_version(const fy__mv *mv);
const fy_model *fy__mv_model(const fy__mv *mv);
const fy_manifest *fy__mv_manifest(const fy__mv *mv); /* NULL for a bare model */
int fy__mv_max_batch(const fy__mv *mv);
/* The package's labels file (postprocessing.labels), borrowed until release;
 * FY_ENOTFOUND when the version has none (bare models). */
int fy__mv_labels(const fy__mv *mv, const char **data, size_t *len);

/* Run one request through the version's batcher. in[i] feeds model input i and
 * carries the request's batch dimension first (1 for a single item); requests
 * with equal trailing shapes are batched together up to max_batch_size rows.
 * Blocks until done or deadline_ns (CLOCK_MONOTONIC). Outputs are owned by the
 * caller. *http_status: 200, 400 (inputs do not fit the model), 503 (queue full:
 * retry later; or not ready), 504-like timeouts are reported as 503 with a
 * reason, 500 (engine fault). */
int fy__mv_infer(fy__mv *mv, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                 int64_t deadline_ns, int *http_status, fy_diag *d);

/* fy__mv_infer without blocking: see fy__batcher_submit. The caller keeps its
 * reference to mv until cb has run. */
typedef void (*fy__mv_cb)(void *ctx, int rc, int http_status);
int fy__mv_submit(fy__mv *mv, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                  int64_t deadline_ns, int *http_status, fy_diag *d, fy__mv_cb cb, void *ctx);

/* Between repo.c and batcher.c only: one version's bounded queue and its instances
 * (a session and a batch thread each). fy__mv_infer forwards to fy__batcher_infer
 * (deadline_ns 0: no deadline). */
typedef struct fy__batcher fy__batcher;
/* Ceilings on the serving configuration (options and manifests are checked against them). */
#define FY_SERVE_MAX_INSTANCES 64
#define FY_SERVE_MAX_BATCH 4096
#define FY_SERVE_MAX_QUEUE 65536
#define FY_SERVE_MAX_DELAY_US 10000000
typedef struct fy__batcher_opts {
    const fy_model *model;      /* borrowed; outlives the batcher */
    const char *name, *version; /* for messages and metric labels; borrowed, outlive it */
    int instances, max_batch_size, max_queue_delay_us, queue_capacity; /* already defaulted */
    fy__metrics *metrics;       /* borrowed; may be NULL */
    fy_pool *pool;              /* borrowed: intra-op threads shared by all sessions; may be NULL */
} fy__batcher_opts;
/* Creates the sessions, warms each one up (a run on zeros, symbolic dims 1; the
 * message then starts "warm-up: ") and starts the threads. */
int fy__batcher_create(fy__batcher **out, const fy__batcher_opts *o, fy_diag *d);
/* No request may be in flight (the repository's reference count sees to it). */
void fy__batcher_free(fy__batcher *b);
int fy__batcher_infer(fy__batcher *b, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                      int64_t deadline_ns, int *http_status, fy_diag *d);
/* The same without blocking: on FY_OK the request is queued and cb(ctx, rc,
 * http_status) runs exactly once when it is done, failed or timed out (on a batch
 * thread, never under the batcher's lock); in, out and d must stay valid until
 * then. On failure cb is never called. */
typedef void (*fy__batcher_cb)(void *ctx, int rc, int http_status);
int fy__batcher_submit(fy__batcher *b, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                       int64_t deadline_ns, int *http_status, fy_diag *d, fy__batcher_cb cb,
                       void *ctx);
/* Rows per batch actually used: 1 when an input has a fixed first dimension. */
int fy__batcher_max_batch(const fy__batcher *b);
/* Why warm-up was skipped (an input without a declared shape or dtype), else NULL. */
const char *fy__batcher_warmup_skipped(const fy__batcher *b);

/* ------------------------------------------------------------------------- */
/* OpenAI-compatible endpoints for GGUF language models (openai.c)           */
/* ------------------------------------------------------------------------- */

typedef struct fy__oai fy__oai;
typedef struct fy__oai_stream fy__oai_stream;
typedef struct fy__oai_opts {
    uint32_t ctx;        /* context per sequence; 0: the model's, at most 4096 */
    uint32_t parallel;   /* sequences decoded together (KV slots); 0: 4 */
    uint32_t queue;      /* requests waiting for a slot before 429; 0: 64 */
    uint32_t max_tokens; /* largest max_tokens a request may ask for; 0: 1024 */
    int threads;         /* compute threads per model; 0: 1 */
    const char *trusted_key; /* serve only packages this key signed (no bare .gguf) */
} fy__oai_opts;
/* What a POST answers: a JSON body (status, body, len), or a stream of Server-Sent
 * Events (status 200, stream set; http.c reads it and releases it). */
typedef struct fy__oai_result {
    int status, retry_after;
    char *body; /* fy__malloc'd */
    size_t len;
    fy__oai_stream *stream;
    char model[129];
} fy__oai_result;
/* Loads each GGUF path (served under its file stem) and starts its scheduler. */
int fy__oai_create(fy__oai **out, const char *const *paths, int n, const fy__oai_opts *o,
                   fy_diag *d);
/* Fails what is still queued or running; streams still being read end. */
void fy__oai_free(fy__oai *o);
int fy__oai_count(const fy__oai *o);
/* GET /v1/models. */
void fy__oai_models(fy__oai *o, fy__oai_result *r);
/* POST /v1/completions (chat 0) or /v1/chat/completions (chat 1), on a worker thread;
 * blocks until the answer for non-streaming requests (cancelled past deadline_ns, on
 * CLOCK_MONOTONIC, or when client_fd, the suspended connection's socket, closes). */
void fy__oai_complete(fy__oai *o, int chat, const char *body, size_t len, int client_fd,
                      int64_t deadline_ns, fy__oai_result *r);
/* {"error": {"message", "type", "param", "code"}}, OpenAI's error shape. */
int fy__oai_error_body(const char *message, const char *type, const char *param,
                       const char *code, char **body, size_t *len);
/* The stream's reader side. attach: how to suspend the connection (called inside read,
 * when no data is ready) and resume it (called by the producer when data comes).
 * read: >0 bytes, 0 nothing yet (suspended), -1 the end. close: the server stops;
 * no more resumes after it returns. release: the response is gone (client closed or
 * done); generation stops at its next token. */
void fy__oai_stream_attach(fy__oai_stream *s, void (*suspend)(void *), void (*resume)(void *),
                           void *ctx);
long fy__oai_stream_read(fy__oai_stream *s, char *buf, size_t max);
void fy__oai_stream_close(fy__oai_stream *s);
void fy__oai_stream_retain(fy__oai_stream *s); /* balanced by fy__oai_stream_release */
void fy__oai_stream_release(fy__oai_stream *s);
/* Appends the LLM families to a /metrics exposition (Prometheus text). */
struct fy__sb;
void fy__oai_metrics(fy__oai *o, struct fy__sb *sb);

/* ------------------------------------------------------------------------- */
/* HTTP front (http.c), driven by server.c                                    */
/* ------------------------------------------------------------------------- */

/* The listening daemon (libmicrohttpd, epoll thread pool), routing, auth, limits,
 * access and audit logs, and the worker threads that wait on inference. Thread-safe
 * where noted; fy__http_start/drain/stop/free from the server's thread. */
typedef struct fy__http fy__http;
typedef struct fy__tls fy__tls; /* below */

/* Copy src into dst (n bytes with the NUL) keeping printable ASCII and writing '?'
 * for anything else: loader messages and reasons go into JSON built with jansson
 * (which refuses invalid UTF-8) and back to clients. Returns dst. (server.c) */
const char *fy__serve_ascii(char *dst, size_t n, const char *src);

typedef struct fy__http_cfg {
    const char *host;       /* bound address (numeric or a name to resolve) */
    int port;               /* 0 or -1: an ephemeral port, see fy__http_port */
    int threads;            /* libmicrohttpd threads (epoll each) */
    int request_timeout_ms; /* deadline of a request from its headers; also idle timeout */
    size_t max_body_bytes;  /* larger bodies: 413 (Content-Length) or the connection closed */
    const char *keys_file;  /* NULL: no keys (inference open, management loopback-only) */
    const fy__tls *tls;     /* NULL: plain HTTP; borrowed, must outlive fy__http_free */
    fy__repo *repo;         /* borrowed */
    fy__metrics *metrics;   /* borrowed */
    fy__oai *oai;           /* GGUF language models; NULL if none (borrowed) */
    void (*log)(const char *json_line, void *ctx); /* event, audit and access lines */
    void *log_ctx;
    int quiet; /* no access lines */
} fy__http_cfg;

/* Reads the keys file, binds host:port and starts serving. d names the file line
 * or the address at fault. */
int fy__http_start(fy__http **out, const fy__http_cfg *cfg, fy_diag *d);
int fy__http_port(const fy__http *h);
/* Re-read the keys file (SIGHUP); on failure the old keys stay in force. */
int fy__http_reload_keys(fy__http *h, fy_diag *d);
/* fy__tls_daemon_renew for this server's daemon: FY_EUNSUPPORTED when another
 * daemon of the process owns the certificate callback (fy__tls_daemon_opts). */
int fy__http_renew_tls(fy__http *h, fy__tls *cur, const char *cert_file, const char *key_file,
                       fy_diag *d);
/* Stop accepting connections; readiness answers 503 and responses say
 * "Connection: close" from now on. */
void fy__http_drain(fy__http *h);
/* Requests received and not yet answered (thread-safe). */
int fy__http_inflight(const fy__http *h);
/* Answer the requests still waiting on inference with 503, then stop the daemon.
 * Returns how many were cut short this way. */
int fy__http_stop(fy__http *h);
/* Stops if needed, waits for worker threads (each bounded by its request's
 * deadline), frees. NULL is a no-op. */
void fy__http_free(fy__http *h);

/* ------------------------------------------------------------------------- */
/* TLS material (tls.c), owned by server.c, lent to http.c                    */
/* ------------------------------------------------------------------------- */

#define FY_TLS_FILE_MAX ((size_t)1 << 20)
/* GnuTLS priority string given to the daemon: TLS 1.2 and 1.3. */
extern const char fy__tls_priorities[];

typedef struct fy__tls_file_id {
    uint64_t dev, ino;
    int64_t size, mtime_s, mtime_ns;
} fy__tls_file_id;

struct fy__tls {
    char *cert, *key;                /* NUL-terminated PEM (the daemon keeps pointers) */
    size_t cert_len, key_len;        /* without the NUL */
    int64_t not_after;               /* the first certificate's expiry, Unix seconds */
    fy__tls_file_id cert_id, key_id; /* the files as read, to notice a change */
};

/* Reads and checks both files: regular, at most FY_TLS_FILE_MAX, the key not
 * accessible by group or others, valid PEM, the key belonging to the certificate.
 * d names the file at fault. On failure *t is left empty. */
int fy__tls_load(fy__tls *t, const char *cert_file, const char *key_file, fy_diag *d);
/* 1 if either file is no longer the one read (identity, size or mtime). */
int fy__tls_changed(const fy__tls *t, const char *cert_file, const char *key_file);
/* Zeroes the key bytes and frees; the daemon using them must be stopped. */
void fy__tls_clear(fy__tls *t);

/* A libmicrohttpd daemon's TLS options for t (NULL: none) into opts (room for
 * FY_TLS_DAEMON_OPTS), ending with MHD_OPTION_END, for MHD_OPTION_ARRAY. The first daemon of the process to ask
 * gets its certificate through a callback and *owner = 1: it can swap the pair
 * while it runs (fy__tls_daemon_renew). The callback carries no user pointer,
 * so there is one such daemon per process; any other gets fixed PEM from t, which
 * must then outlive it. */
#define FY_TLS_DAEMON_OPTS 4
struct MHD_OptionItem;
int fy__tls_daemon_opts(const fy__tls *t, struct MHD_OptionItem *opts, int *owner, fy_diag *d);
/* Renewal (SIGHUP): reads and checks the files as fy__tls_load does, then new
 * handshakes get that pair (connections already open keep theirs) and *cur holds
 * it, the old PEM wiped. The replaced parsed pair stays allocated until release, as
 * a handshake may hold it. On failure *cur and the daemon are unchanged:
 * FY_EUNSUPPORTED when !owner, else fy__tls_load's error. */
int fy__tls_daemon_renew(int owner, fy__tls *cur, const char *cert_file, const char *key_file,
                         fy_diag *d);
/* After the owner's daemon stopped: frees every pair and frees the slot. */
void fy__tls_daemon_release(int owner);

/* Keys file (docs/serve.md): "ROLE SHA256HEX NAME" lines. */
typedef enum { FY_ROLE_NONE = 0, FY_ROLE_INFER = 1, FY_ROLE_ADMIN = 2 } fy__role;
typedef struct fy__keys fy__keys;
#define FY_SERVE_MAX_KEYS 1024
int fy__keys_parse(fy__keys **out, const char *text, size_t len, const char *file, fy_diag *d);
/* The role of a bearer key (compared by hash in constant time) and its NAME
 * (borrowed from keys); FY_ROLE_NONE if it matches no key. */
fy__role fy__keys_lookup(const fy__keys *k, const char *key, size_t key_len, const char **name);
void fy__keys_free(fy__keys *k);

/* ------------------------------------------------------------------------- */
/* Protocol codecs (codec_predict.c, codec_v2.c, codec_tf.c, codec.c)          */
/* ------------------------------------------------------------------------- */

/* Ceilings applied while decoding (RELIABILITY.md 5). */
#define FY_JSON_MAX_DEPTH 64
#define FY_REQ_MAX_ELEMENTS ((int64_t)1 << 26) /* elements across all tensors */
#define FY_REQ_MAX_TENSORS 64
/* JSON values in one body: jansson spends ~40 bytes on each, so this bounds a
 * parse to ~200 MB whatever the body size; bigger tensors go in V2 binary data. */
#define FY_JSON_MAX_VALUES ((int64_t)1 << 22)

/* A decoded request: tensors in the model's input order, each with the batch
 * dimension first; plus what the response must contain. Owned; free with
 * fy__req_deinit. */
typedef struct fy__req {
    int n_inputs;
    fy_tensor inputs[FY_REQ_MAX_TENSORS];
    char *id;                 /* V2 request id, echoed back; NULL if none */
    int n_outputs_wanted;     /* V2 "outputs": names asked for; 0 = all */
    char *outputs_wanted[FY_REQ_MAX_TENSORS];
    int binary_wanted[FY_REQ_MAX_TENSORS]; /* V2 binary_data per wanted output */
    int binary_default;       /* V2 "parameters": {"binary_data_output": true} */
    int columnar;             /* TF: request used "inputs" (answer with "outputs") */
    int single;               /* /predict {"image": ...}: answer one prediction */
} fy__req;

void fy__req_deinit(fy__req *r);

/* Each decoder checks names, dtypes, shapes against the model (rank, fixed dims),
 * element counts against the shape, value ranges for the dtype, nesting depth and
 * the ceilings above; on failure returns FY_EINVAL/FY_EPARSE/FY_ELIMIT with a
 * message naming the input and the problem (an HTTP 400). */

/* ferry's POST /predict: {"instances": [item, ...]} or {"NAME": item} for the
 * model's single input (single = 1), items without the batch dimension.
 * The manifest's preprocessing (scale, mean, std) is applied when man != NULL. */
int fy__codec_predict_decode(const char *body, size_t len, const fy_model *m,
                             const fy_manifest *man, fy__req *out, fy_diag *d);
/* {"predictions": [...]} (one entry per item: the first output's row, or an
 * object of outputs when the model has several); with labels (one per line) each
 * prediction for a single 2-D output is {"label": .., "class": .., "scores": [...]}.
 * *body malloc'd. */
int fy__codec_predict_encode(const fy_model *m, const char *labels, size_t labels_len,
                             const fy__req *req, int n_out, const fy_tensor *out, char **body,
                             size_t *len, fy_diag *d);

/* KServe V2 infer request: JSON, or JSON followed by binary tensor data when
 * json_len < len (Inference-Header-Content-Length). Datatypes BOOL, UINT8..64,
 * INT8..64, FP16, FP32, FP64, BF16 (BYTES is refused as unsupported). */
int fy__codec_v2_decode(const char *body, size_t len, size_t json_len, const fy_model *m,
                        fy__req *out, fy_diag *d);
/* V2 infer response; outputs asked for in binary are appended after the JSON and
 * *json_len is the JSON part's length (for Inference-Header-Content-Length;
 * equal to *len when nothing is binary). */
int fy__codec_v2_encode(const char *model_name, const char *version, const fy_model *m,
                        const fy__req *req, int n_out, const fy_tensor *out, char **body,
                        size_t *len, size_t *json_len, fy_diag *d);
/* V2 model metadata: {"name", "versions", "platform": "ferry_onnx", "inputs":
 * [{"name","datatype","shape"}], "outputs": [...]} with -1 for symbolic dims. */
int fy__codec_v2_metadata(const char *name, const char *const *versions, int n_versions,
                          const fy_model *m, char **body, size_t *len);
/* V2 datatype name <-> dtype ("FP32" <-> FY_DTYPE_F32); NULL/UNDEFINED if none. */
const char *fy__v2_datatype(fy_dtype dt);
fy_dtype fy__v2_dtype(const char *datatype);

/* TensorFlow Serving predict: {"instances": [...]} (row) or {"inputs": ...}
 * (columnar; a dict for several inputs). "signature_name" is accepted if
 * "serving_default". */
int fy__codec_tf_decode(const char *body, size_t len, const fy_model *m, fy__req *out,
                        fy_diag *d);
/* {"predictions": ...} for row requests, {"outputs": ...} for columnar ones. */
int fy__codec_tf_encode(const fy_model *m, const fy__req *req, int n_out, const fy_tensor *out,
                        char **body, size_t *len, fy_diag *d);
/* TF model metadata ({"model_spec": .., "metadata": {"signature_def": ..}}). */
int fy__codec_tf_metadata(const char *name, const char *version, const fy_model *m, char **body,
                          size_t *len);

/* {"error": "MESSAGE"} with MESSAGE JSON-escaped; the shape all three protocols
 * use for errors. *body malloc'd. */
int fy__codec_error(const char *message, char **body, size_t *len);

/* Helpers shared by the codec_*.c files (codec.c); not for use outside them. */
struct json_t;
/* Scans the bytes for nesting deeper than FY_JSON_MAX_DEPTH and for more than
 * FY_JSON_MAX_VALUES values, then parses with duplicate keys refused. The
 * top level must be an object. *out is a new reference. */
int fy__codec_parse(const char *body, size_t len, struct json_t **out, fy_diag *d);
/* Shape of a nested JSON array (a scalar has rank 0), read off its first elements
 * and then proved regular over the whole array (ragged arrays are refused), so a
 * caller may allocate for it. `what` names the value in messages ("input 'image'"). */
int fy__codec_shape(const struct json_t *v, int *rank, int64_t *dims, const char *what, fy_diag *d);
/* Writes the scalars of v (regular, of that shape) row-major into t's elements
 * [at, at + numel(dims)), converting each to t's dtype with range checks. */
int fy__codec_fill(fy_tensor *t, int64_t at, const struct json_t *v, int rank, const int64_t *dims,
                   const char *what, fy_diag *d);
/* Row ("instances": items; single: v is one item) and columnar decoding, shared
 * by /predict and TF Serving: fills out->inputs in model input order. */
int fy__codec_rows(const struct json_t *v, int single, const fy_model *m, fy__req *out, fy_diag *d);
int fy__codec_columns(const struct json_t *v, const fy_model *m, fy__req *out, fy_diag *d);

/* The dims a value of data shape D (rank r) takes for a model's per-row dims T
 * (rank n, -1 symbolic, n < 0 unknown rank): D itself when it matches, or T when
 * T is fully fixed and holds as many elements. 1 if it fits. */
int fy__codec_fit(int r, const int64_t *D, int n, const int64_t *T, int *out_rank, int64_t *out);

/* Fast decoding of the hot request shapes (codec_fast.c): float32 tensors as
 * {"INPUT": [...]} or {"instances": [...]} (/predict, without preprocessing) and
 * V2 {"id"?, "inputs": [{"name","shape","datatype":"FP32","data"}]} (JSON only).
 * Returns FY_OK with *out filled (bit-identical to the jansson path's result),
 * FY_ENOMEM, or FY__FAST_DECLINED (out untouched): the caller then runs the
 * jansson path, which gives its usual answer or error. */
#define FY__FAST_DECLINED 1
int fy__codec_predict_fast(const char *body, size_t len, const fy_model *m, fy__req *out,
                           fy_diag *d);
int fy__codec_v2_fast(const char *body, size_t len, size_t json_len, const fy_model *m,
                      fy__req *out, fy_diag *d);
/* The jansson paths alone (the fast path's reference in tests and fuzzing). */
int fy__codec_predict_decode_json(const char *body, size_t len, const fy_model *m,
                                  const fy_manifest *man, fy__req *out, fy_diag *d);
int fy__codec_v2_decode_json(const char *body, size_t len, size_t json_len, const fy_model *m,
                             fy__req *out, fy_diag *d);
/* One JSON number token at s (at most n bytes). Returns its length, 0 when s does
 * not start with a JSON number (RFC 8259 grammar). *kind: FY_JNUM_INT (no fraction
 * or exponent, at most 18 digits: *iv, as strtoll gives it), FY_JNUM_REAL (*dv,
 * bit-identical to strtod in the C locale), FY_JNUM_DECLINE (a longer integer or
 * a real it does not convert: leave it to the general path). */
enum { FY_JNUM_DECLINE, FY_JNUM_INT, FY_JNUM_REAL };
size_t fy__json_number(const char *s, size_t n, int *kind, int64_t *iv, double *dv);

/* Growing output buffer; err latches FY_ENOMEM or FY_ELIMIT, checked once at the end. */
typedef struct fy__sb {
    char *buf;
    size_t len, cap;
    int err;
} fy__sb;
void fy__sb_add(fy__sb *s, const void *p, size_t n);
void fy__sb_puts(fy__sb *s, const char *str);
void fy__sb_int(fy__sb *s, long long v);
/* A JSON string: quoted, escaped, invalid UTF-8 replaced by U+FFFD. */
void fy__sb_jstr(fy__sb *s, const char *str);
void fy__sb_jstrn(fy__sb *s, const char *str, size_t n);
/* Elements [at, ...) of t as JSON: one value when rank is 0, else arrays nested per dims. */
void fy__sb_values(fy__sb *s, const fy_tensor *t, int64_t at, int rank, const int64_t *dims);
/* The rows of the outputs as {"predictions": [...]}-style list items (no brackets). */
int fy__sb_rows(fy__sb *s, const fy_model *m, const fy__req *req, int n_out, const fy_tensor *out,
                fy_diag *d);
/* Hands the buffer over (NUL-terminated; *len excludes the NUL) or frees it and
 * returns the latched error. */
int fy__sb_finish(fy__sb *s, char **body, size_t *len, fy_diag *d);

#endif
