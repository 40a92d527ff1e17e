/* SPDX-License-Identifier: MIT */
/* Private to src/deploy: shared between the spec parser, the store, the supervisor,
 * its front proxy and the pipeline. */
#ifndef FERRY_DEPLOY_INT_H
#define FERRY_DEPLOY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/deploy.h"

#define FY_DEPLOY_API_VERSION "ferry/v1"
#define FY_DEPLOY_PATH_MAX 4096

/* Service names are [a-z0-9-]{1,63}; checked before any file or DB use. */
int fy__deploy_valid_name(const char *s);
/* Version strings from manifests: 1-63 of [A-Za-z0-9._+-], starting alphanumeric. */
int fy__deploy_valid_version(const char *s);

/* STATE/services/NAME[/leaf] into out; FY_ELIMIT if it does not fit. */
int fy__deploy_service_path(char *out, size_t n, const char *state_dir, const char *service,
                            const char *leaf);
/* mkdir -p (mode 0700 for the folders ferry creates). */
int fy__deploy_mkdirs(const char *path, fy_diag *d);
/* Monotonic seconds. */
double fy__deploy_now(void);
/* The user this process runs as: "name(uid)". */
void fy__deploy_who(char *out, size_t n);

/* The front proxy of the supervisor (proxy.c). Backends are chosen per request by
 * the supervisor's routing table through pick(); done() reports the outcome. */
typedef struct fy_proxy fy_proxy;
typedef struct fy_backend_ref {
    int worker; /* index in the supervisor's table; -1: none */
    int port;
} fy_backend_ref;
#define FY_WORKER_NAME 80
/* In a service folder: the front's TLS certificate and key paths (supervisor.c). */
#define FY_FRONT_TLS_FILE "front-tls.json"
#define FY_PROXY_MAX_WORKERS (4 * FY_DEPLOY_MAX_REPLICAS) /* the supervisor's table */
typedef struct fy_proxy_hooks {
    /* choose a backend, avoiding `avoid` (-1: none); worker -1 when none is ready */
    fy_backend_ref (*pick)(void *ctx, int avoid);
    /* the request on that backend ended: status (0: transport failure) */
    void (*done)(void *ctx, int worker, int status);
    /* extra Prometheus text appended to GET /metrics answers (malloc'd, may be NULL) */
    char *(*metrics)(void *ctx);
    /* every ready worker (at most cap): backends and a name for each (VERSION/REPLICA),
     * for GET /metrics, which merges them all; returns how many */
    int (*workers)(void *ctx, fy_backend_ref *out, char (*names)[FY_WORKER_NAME], int cap);
    void *ctx;
} fy_proxy_hooks;
/* tls: the certificate and key (NULL: plain HTTP); must outlive the proxy, unless
 * it can swap pairs (see fy__proxy_renew_tls). */
typedef struct fy__tls fy__tls;
int fy__proxy_start(fy_proxy **out, const char *host, int port, const fy_proxy_hooks *hooks,
                    const fy__tls *tls, fy_diag *d);
/* fy__tls_daemon_renew for the front's daemon. */
int fy__proxy_renew_tls(fy_proxy *p, fy__tls *cur, const char *cert_file, const char *key_file,
                        fy_diag *d);
/* Stop accepting, finish requests in flight, free. */
void fy__proxy_stop(fy_proxy *p);

/* Several workers' Prometheus text (texts[i], lens[i]; NULL skipped) as one: every
 * sample gets label="values[i]", and each metric family is written once, HELP and
 * TYPE first, with the samples of all workers (metrics_merge.c). *out is
 * NUL-terminated (fy__free it). FY_ENOMEM, or FY_ELIMIT past 4096 families or
 * 64 MiB; lines that are neither HELP, TYPE nor a sample are dropped. */
int fy__metrics_merge(const char *const *texts, const size_t *lens, const char *const *values,
                      int n, const char *label, char **out, size_t *out_len, fy_diag *d);

#endif
