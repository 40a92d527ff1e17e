/* SPDX-License-Identifier: MIT */
/* The inference server: models, packages or a repository folder served over HTTP/1.1
 * (optionally HTTPS) with ferry's POST /predict, KServe V2 (Open Inference Protocol)
 * and TensorFlow Serving's REST API; Prometheus metrics, health, API keys, graceful
 * drain and reload. See docs/serve.md. */
#ifndef FERRY_SERVE_H
#define FERRY_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Thread safety: fy_server_request_stop and fy_server_request_reload may be called
 * from any thread and from signal handlers (they only set flags); everything else
 * from the thread that created the server. */
typedef struct fy_server fy_server;

/* All-zero means the defaults shown. */
typedef struct fy_serve_opts {
    const char *host;         /* "127.0.0.1": loopback unless told otherwise */
    int port;                 /* 8080; -1 picks a free port (tests), see fy_server_port */
    int http_threads;         /* 4: threads accepting and decoding requests */
    int engine_threads;       /* 0: CPUs available (affinity, cgroup quota): one thread pool
                               * shared by every instance of every model, so instances
                               * never oversubscribe the CPUs; 1: no intra-op threads */
    int instances;            /* 0: the manifest's serving.instances, else 1 */
    int max_batch_size;       /* 0: the manifest's serving.max_batch_size, else 1 (no batching) */
    int max_queue_delay_us;   /* 0: the manifest's serving.max_queue_delay_ms, else 0 */
    int queue_capacity;       /* 256 requests waiting per model; beyond: 503 + Retry-After */
    int request_timeout_ms;   /* 30000: a request waiting longer fails with 503 */
    int drain_timeout_ms;     /* 30000: SIGTERM waits this long for in-flight requests */
    size_t max_body_bytes;    /* 64 MiB */
    const char *keys_file;    /* API keys (docs/serve.md); NULL: no keys, management loopback-only */
    int version_policy_latest; /* repository: serve the latest N versions of each model; 0 = 1 */
    const char *log_path;     /* JSON lines (access and events); NULL: standard error */
    int quiet;                /* no access log lines (events are still logged) */
    /* TLS (HTTPS): both or neither; NULL: plain HTTP. PEM files of at most 1 MiB; the
     * key must not be accessible by group or others (chmod 600) nor encrypted. Read
     * at start-up only: new certificates need a restart (docs/serve.md). */
    const char *tls_cert_file; /* certificate, optionally followed by its chain */
    const char *tls_key_file;  /* the certificate's private key */
    /* Only packages signed by this Ed25519 public key (ferry keygen) are served;
     * unsigned or otherwise signed packages and bare models fail to load, with the
     * reason in the repository index. NULL: no signature policy. */
    const char *trusted_key_file;
    /* GGUF language models (OpenAI endpoints, docs/llm.md); 0 means the default shown. */
    uint32_t llm_ctx;        /* context per sequence: the model's, at most 4096 */
    uint32_t llm_parallel;   /* sequences decoded together (continuous batching): 4 */
    uint32_t llm_queue;      /* requests waiting for a sequence slot before 429: 64 */
    uint32_t llm_max_tokens; /* largest max_tokens a request may ask for: 1024 */
    int llm_threads;         /* compute threads per model: 1 */
} fy_serve_opts;

/* paths: model files (.onnx), GGUF language models (.gguf: OpenAI endpoints under
 * /v1), packages (.ferry) or one repository folder
 * (NAME/VERSION/{model.onnx|*.ferry}). Loads and warms every model before
 * returning; a model that fails to load is reported (and the server is not
 * ready) but does not stop the others. */
int fy_server_create(fy_server **out, const char *const *paths, int n_paths,
                     const fy_serve_opts *opts, fy_diag *d);
/* The port actually bound (useful with port -1). */
int fy_server_port(const fy_server *s);
/* Serve until stopped: returns after a stop request once in-flight requests have
 * finished (or the drain deadline passed). Reload requests are handled here. */
int fy_server_run(fy_server *s, fy_diag *d);
void fy_server_request_stop(fy_server *s);
void fy_server_request_reload(fy_server *s);
void fy_server_free(fy_server *s);

/* Hash an API key for the keys file (sha256 hex, 64 chars + NUL). */
void fy_serve_hash_key(const char *key, char out[65]);

#ifdef __cplusplus
}
#endif
#endif
