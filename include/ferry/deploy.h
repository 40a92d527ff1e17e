/* SPDX-License-Identifier: MIT */
/* Deployments: the deploy.yaml spec, the state store (SQLite: services, versions,
 * deployments, stage results, audit log), the local supervisor (worker processes
 * behind a traffic-shifting front proxy) and the pipeline that takes a model from
 * spec to promoted service or automatic rollback. See docs/deploy.md. */
#ifndef FERRY_DEPLOY_H
#define FERRY_DEPLOY_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* deploy.yaml                                                                */
/* ------------------------------------------------------------------------- */

#define FY_DEPLOY_SPEC_MAX_BYTES ((size_t)256 << 10) /* a deploy.yaml above 256 KiB is refused */
#define FY_DEPLOY_MAX_STEPS 16                       /* canary traffic steps */
#define FY_DEPLOY_MAX_SMOKE 32                       /* smoke requests */
#define FY_DEPLOY_MAX_REPLICAS 64                    /* worker processes per version */

typedef enum fy_strategy {
    FY_STRATEGY_BLUE_GREEN = 0, /* stage beside the live version, verify, switch all at once */
    FY_STRATEGY_CANARY = 1,     /* stage, verify, then move traffic in steps */
    FY_STRATEGY_RECREATE = 2,   /* stop the live version first (a gap in service) */
} fy_strategy;

typedef enum fy_target {
    FY_TARGET_LOCAL = 0, /* the embedded supervisor on this machine */
    FY_TARGET_KUBERNETES = 1,
    FY_TARGET_SYSTEMD = 2,
} fy_target;

/* One smoke request: sent to the staged version, its answer checked. */
typedef struct fy_smoke {
    char *name;            /* for reports; default "smoke[i]" */
    char *path;            /* default "/predict" */
    char *body_file;       /* request body from a file (resolved against the spec's folder) */
    char *body;            /* or inline JSON text */
    int expect_status;     /* default 200 */
    char *expect_contains; /* the answer must contain this text (NULL: not checked) */
    char *expect_label;    /* predictions[0].label must be this (NULL: not checked) */
    int expect_class;      /* predictions[0].class must be this (-1: not checked) */
} fy_smoke;

/* A parsed, validated deploy.yaml. Strings are owned by the spec; NULL when absent.
 * Relative paths are already resolved against the spec file's folder. Plain data. */
typedef struct fy_deploy_spec {
    char *file;    /* the spec's path, as given */
    char *service; /* [a-z0-9][a-z0-9-]{0,62} */

    /* model: exactly one of package (a .ferry file) and model_dir (a folder or a
     * ferry.yaml, packed by the pipeline); sign_key signs while packing. */
    char *package;
    char *manifest;
    char *sign_key;
    char *trusted_key; /* only packages signed by this key deploy (NULL: any) */

    /* environment requirements; 0 / NULL: those of the package */
    int64_t min_memory_mb, min_disk_mb;
    int min_cores;
    int n_cpu_features;
    char **cpu_features;

    /* serving */
    char *host;             /* "127.0.0.1" */
    int port;               /* 8080 */
    int replicas;           /* worker processes per version, default 1 */
    int threads;            /* HTTP threads per worker, 0: ferry serve's default */
    int max_batch_size;     /* 0: the package's */
    int max_queue_delay_us; /* 0: the package's */
    char *keys_file;        /* API keys file for the workers (docs/serve.md) */
    char *tls_cert, *tls_key; /* PEM files: HTTPS on the public port (both or neither) */

    /* strategy */
    fy_strategy strategy;
    int n_steps;
    int steps[FY_DEPLOY_MAX_STEPS]; /* canary: percent of traffic, rising, ending at 100 */
    double step_seconds;            /* canary: dwell at each step (default 5) */
    double max_error_rate;          /* canary: abort a step above this 5xx share (default 0.01) */
    double start_timeout_s;         /* a staged worker must be ready within this (default 60) */

    /* verification of the staged version */
    char *dataset;       /* labeled data; NULL: the package's tests.dataset */
    double min_accuracy; /* -1: the package's tests.min */
    int64_t limit;       /* items of the dataset sent, 0: all */
    int n_smoke;
    fy_smoke *smoke;
    double max_p99_ms;     /* 0: the package's tests.max_p99_latency_ms (0 there: no gate) */
    double min_throughput; /* items/s; 0: the package's (0 there: no gate) */
    double load_seconds;   /* duration of the bounded load (default 3) */
    int load_concurrency;  /* connections of that load (default 4) */
    char *key_env;         /* environment variable holding an API key for verification */

    fy_target target;

    /* alert thresholds (used by the emitted monitoring rules and by `ferry status`) */
    double alert_error_rate; /* default 0.01 */
    double alert_p99_ms;     /* default 250 */
    int alert_restarts;      /* restarts per 10 minutes, default 3 */
} fy_deploy_spec;

/* Parse and validate YAML text. `file` names the source in messages, which read
 * "FILE:LINE: FIELD: RULE"; relative paths resolve against dirname(file). Unknown
 * fields are errors. Caller frees *out with fy_deploy_spec_free. */
int fy_deploy_spec_parse(fy_deploy_spec **out, const char *text, size_t len, const char *file,
                         fy_diag *d);
/* Read and parse a deploy.yaml (a regular file of at most FY_DEPLOY_SPEC_MAX_BYTES). */
int fy_deploy_spec_load(fy_deploy_spec **out, const char *path, fy_diag *d);
void fy_deploy_spec_free(fy_deploy_spec *s); /* NULL is a no-op */
/* The commented starting file `ferry init --deploy` writes (static text). */
const char *fy_deploy_spec_template(void);
const char *fy_strategy_name(fy_strategy s);
const char *fy_target_name(fy_target t);

/* ------------------------------------------------------------------------- */
/* State store (SQLite, STATE_DIR/ferry.db)                                   */
/* ------------------------------------------------------------------------- */

/* The state folder: dir if non-NULL, else $FERRY_STATE_DIR, else ./.ferry. Writes
 * at most n bytes into out; FY_ELIMIT if it does not fit. */
int fy_state_dir(char *out, size_t n, const char *dir);

/* Thread safety: one fy_store per thread; several processes may share the file
 * (SQLite's locking, WAL mode, a busy timeout of 10 s). */
typedef struct fy_store fy_store;

/* Open (creating the folder and the schema if needed). */
int fy_store_open(fy_store **out, const char *state_dir, fy_diag *d);
void fy_store_close(fy_store *s);

/* A deployment starts: recorded as 'running' with this process's pid. Deployments
 * of the service still 'running' whose deployer is gone become 'interrupted'
 * (returned in *n_interrupted, may be NULL). kind: "deploy" or "rollback". */
int fy_store_deploy_begin(fy_store *s, const char *service, const char *version, const char *kind,
                          const char *strategy, int64_t *id, int *n_interrupted, fy_diag *d);
/* One stage's result: outcome "ok", "failed" or "skipped"; detail is free text. */
int fy_store_stage(fy_store *s, int64_t deploy_id, const char *stage, const char *outcome,
                   double seconds, const char *detail, fy_diag *d);
/* The deployment ends: outcome "promoted", "rolled_back", "failed" or "refused".
 * When promoted, the version becomes the service's live version in the same
 * transaction. An audit entry is written with it. */
int fy_store_deploy_end(fy_store *s, int64_t deploy_id, const char *outcome, const char *detail,
                        fy_diag *d);
/* Register a version: its package copy in the state folder and how it runs (worker
 * processes and `ferry serve` options as a JSON list of strings), so a rollback or
 * a restart runs it exactly as it was deployed. */
int fy_store_version_add(fy_store *s, const char *service, const char *version, const char *digest,
                         const char *package_path, int replicas, const char *serve_args_json,
                         fy_diag *d);
/* A version's replicas and serve options (*serve_args_json malloc'd, free()). */
int fy_store_version_settings(fy_store *s, const char *service, const char *version, int *replicas,
                              char **serve_args_json, fy_diag *d);
/* The service's serving settings, kept for rollbacks and restarts. */
int fy_store_service_set(fy_store *s, const char *service, const char *host, int port, int replicas,
                         const char *serve_args_json, fy_diag *d);
/* An audit entry: who is the user name and uid of this process. */
int fy_store_audit(fy_store *s, const char *service, const char *action, const char *outcome,
                   const char *detail, fy_diag *d);

/* Lookups. Strings are written into caller buffers (empty when absent). */
int fy_store_live(fy_store *s, const char *service, char *version, size_t n, fy_diag *d);
int fy_store_version_package(fy_store *s, const char *service, const char *version, char *path,
                             size_t n_path, char *digest, size_t n_digest, fy_diag *d);
/* The version live before the current one (for a rollback without VERSION). */
int fy_store_previous(fy_store *s, const char *service, char *version, size_t n, fy_diag *d);
int fy_store_service_get(fy_store *s, const char *service, char *host, size_t n_host, int *port,
                         int *replicas, char **serve_args_json, fy_diag *d);

/* The only service of the store, for commands whose SERVICE is optional:
 * FY_ENOTFOUND when there is none, FY_EINVAL (naming them) when there are several. */
int fy_store_default_service(fy_store *s, char *out, size_t n, fy_diag *d);

/* JSON documents (malloc'd text, caller frees with free()): the services with
 * their versions; the deployments with their stages (service NULL: all; newest
 * first, at most limit); the audit log. */
int fy_store_services_json(fy_store *s, char **out, fy_diag *d);
int fy_store_history_json(fy_store *s, const char *service, int limit, char **out, fy_diag *d);
int fy_store_audit_json(fy_store *s, const char *service, int limit, char **out, fy_diag *d);

/* ------------------------------------------------------------------------- */
/* Local supervisor                                                           */
/* ------------------------------------------------------------------------- */

/* One supervisor per service: a daemon that owns the public port (a front proxy
 * that shifts traffic between versions per request), runs each version's worker
 * processes (`ferry serve` on loopback ports), health-checks them and restarts a
 * crashed one with backoff. Files under STATE_DIR/services/NAME/: supervisor.pid,
 * supervisor.lock, control.sock, supervisor.log, workers/. */
typedef struct fy_supervisor_opts {
    const char *state_dir;
    const char *service;
    const char *host;         /* public address, "127.0.0.1" */
    int port;                 /* public port */
    const char *ferry_binary; /* runs `ferry serve`; NULL: /proc/self/exe */
} fy_supervisor_opts;

/* Start the supervisor as a daemon unless one runs for the service: fork, setsid,
 * fork, every inherited descriptor closed, then exec `FERRY_BINARY supervise ...`
 * (a fresh process: no threads, SQLite connections or locks carried over). Returns
 * once its control socket answers. *started (may be NULL) is 1 when a new one was
 * started. */
int fy_supervisor_ensure(const fy_supervisor_opts *o, int *started, fy_diag *d);
/* Run the supervisor in this process until it is told to stop (what the daemon runs). */
int fy_supervisor_run(const fy_supervisor_opts *o, fy_diag *d);
/* Is a supervisor running for the service? Returns 1 with its pid, or 0. */
int fy_supervisor_running(const char *state_dir, const char *service, long *pid);

/* One request on the control socket: a JSON object in, a JSON object out (malloc'd
 * text, caller frees). Commands (docs/deploy.md): status, start, route, retire, stop. */
int fy_supervisor_call(const char *state_dir, const char *service, const char *request_json,
                       char **reply_json, double timeout_s, fy_diag *d);

/* ------------------------------------------------------------------------- */
/* Pipeline                                                                   */
/* ------------------------------------------------------------------------- */

/* Exit codes of `ferry deploy` (also returned by fy_deploy_run as *outcome). */
enum {
    FY_DEPLOY_PROMOTED = 0,      /* the new version serves all traffic */
    FY_DEPLOY_VERIFY_FAILED = 1, /* verification failed: rolled back, the old one serves */
    FY_DEPLOY_USAGE = 2,
    FY_DEPLOY_INVALID = 3, /* the spec or the package is invalid */
    FY_DEPLOY_UNSUPPORTED = 4,
    FY_DEPLOY_IO = 5,           /* a file, the state store or the disk failed */
    FY_DEPLOY_ENV_FAILED = 6,   /* the environment check failed: nothing changed */
    FY_DEPLOY_LOCKED = 7,       /* another deploy of the service is running */
    FY_DEPLOY_START_FAILED = 8, /* the new version did not start: rolled back */
};

/* Progress events: stage ("validate", "environment", "pack", "stage", "verify",
 * "promote", "rollback"), state ("start", "ok", "failed", "skipped", "info"),
 * a human message and, for "ok"/"failed", the stage's duration. */
typedef void (*fy_deploy_event_fn)(const char *stage, const char *state, const char *message,
                                   double seconds, void *ctx);

typedef struct fy_deploy_opts {
    const char *state_dir;    /* NULL: fy_state_dir's default */
    const char *ferry_binary; /* NULL: /proc/self/exe */
    fy_deploy_event_fn on_event;
    void *ctx;
    int lock_wait_s; /* wait this long for another deploy of the service; 0: fail at once */
} fy_deploy_opts;

typedef struct fy_deploy_result {
    int outcome; /* FY_DEPLOY_* */
    int64_t deploy_id;
    char version[64];
    char previous[64]; /* live before, "" if none */
    char url[128];     /* the public URL */
    char detail[512];
} fy_deploy_result;

/* Run the whole pipeline for a local target. Returns FY_OK when the pipeline ran
 * to a decision (promoted or rolled back: see res->outcome), else an error code. */
int fy_deploy_run(const fy_deploy_spec *spec, const fy_deploy_opts *o, fy_deploy_result *res,
                  fy_diag *d);
/* Put VERSION (a version deployed before; NULL: the one live before the current)
 * back in service: stage it from the state folder and switch traffic to it. */
int fy_deploy_rollback(const char *service, const char *version, const fy_deploy_opts *o,
                       fy_deploy_result *res, fy_diag *d);

/* Write the files of a target ferry does not run itself (kubernetes: Deployment,
 * Service, HPA, PDB, KServe alternative; systemd: unit and environment file) plus
 * the monitoring files (Prometheus rules, Grafana dashboard) into dir, from the
 * spec's settings over the package's (include/ferry/emit.h). Kubernetes needs the
 * package's image: image, or registry (then the spec must name a .ferry package). */
int fy_deploy_emit(const fy_deploy_spec *spec, fy_target target, const char *dir, const char *image,
                   const char *registry, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
