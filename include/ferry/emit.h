/* SPDX-License-Identifier: MIT */
/* Deployment files for targets ferry does not run itself: Kubernetes (Deployment,
 * Service, HorizontalPodAutoscaler, PodDisruptionBudget, probes on the health
 * endpoints, and a KServe InferenceService alternative), systemd (a unit and its
 * environment file), and monitoring (Prometheus alerting rules and a Grafana
 * dashboard for the metrics `ferry serve` exports). Pure functions of a settings
 * struct: the same settings give the same bytes. See docs/kubernetes.md. */
#ifndef FERRY_EMIT_H
#define FERRY_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/package.h"

#ifdef __cplusplus
extern "C" {
#endif

/* All strings borrowed; all-zero numbers mean the defaults shown. */
typedef struct fy_emit_opts {
    const char *name;       /* required: the service, a DNS-1123 label ([a-z0-9-], 1-63) */
    const char *model_name; /* the model's name on the server (/predict/NAME); NULL: name */
    const char *version;    /* app.kubernetes.io/version label; NULL: none */
    const char *image;      /* required for kubernetes: the package's runnable OCI image
                               reference, e.g. "registry.example/fashion-cnn:1.0.0" or
                               "...@sha256:HEX" (see fy_emit_image_ref) */
    const char *namespace_; /* NULL: no namespace field (kubectl's current one) */
    int port;               /* 8080 */
    int replicas;           /* 2 */
    /* resources: requests; limits are memory = 2 x request, cpu none (no throttling
     * of inference threads) unless set */
    int cpu_millis;           /* 1000 x requirements.threads, at least 100 */
    int cpu_limit_millis;     /* 0: no CPU limit */
    uint64_t memory_mb;       /* requirements.min_memory_mb, at least 64 */
    uint64_t memory_limit_mb; /* 0: 2 x memory_mb */
    /* autoscaling (HorizontalPodAutoscaler, autoscaling/v2, CPU utilization) */
    int min_replicas;       /* replicas */
    int max_replicas;       /* 2 x min_replicas, at least min */
    int target_cpu_percent; /* 70 */
    int pdb_min_available;  /* PodDisruptionBudget minAvailable; 0: min_replicas - 1, at least 1 */
    /* API keys: the name of a Secret holding the keys file (key "keys") mounted at
     * /etc/ferry/keys and passed as --keys; NULL: no keys (management loopback-only) */
    const char *auth_secret;

    /* systemd target */
    const char *binary;       /* /usr/local/bin/ferry */
    const char *package_path; /* required for systemd: the package (or repository) served */
    const char *user;         /* "ferry": the (system) user the service runs as */
    const char *host;         /* bind address; "127.0.0.1" */
    const char *keys_file;    /* systemd: --keys path; NULL: none */

    /* alert thresholds (monitoring) */
    double alert_error_rate; /* failed share (server_error, timeout, rejected) over 5 min; 0.01 */
    double alert_p99_ms;     /* p99 request latency over 5 minutes; 100 */
    int alert_for_minutes;   /* how long a condition holds before firing; 5 */
    int alert_restarts;      /* worker restarts in 15 minutes; 3 */
    /* PromQL label matchers that select this service's series, without braces;
     * NULL: job="NAME" (set it to match your scrape configuration, e.g.
     * namespace="prod",service="NAME") */
    const char *alert_selector;

    char name_storage[64]; /* fy_emit_opts_from_manifest keeps the derived name here */
} fy_emit_opts;

/* Fill name (the manifest name as a DNS-1123 label: '.' and '_' become '-', kept in
 * opts->name_storage), model_name, version and resources (requirements.threads and
 * min_memory_mb) from a manifest; other fields untouched. The other strings are
 * borrowed from man. */
void fy_emit_opts_from_manifest(const fy_manifest *man, fy_emit_opts *opts);

/* The image reference of a package pushed to REGISTRY (no trailing '/'):
 * "REGISTRY/NAME:VERSION" (digest = 0) or "REGISTRY/NAME@sha256:..." (digest = 1,
 * the package's image manifest digest, which a registry keeps when the image is
 * copied unchanged, e.g. `skopeo copy oci-archive:PKG docker://REGISTRY/NAME:VERSION`).
 * Writes at most n bytes to out. FY_ELIMIT if it does not fit. */
int fy_emit_image_ref(const fy_package *pkg, const char *registry, int digest, char *out, size_t n,
                      fy_diag *d);

/* Write into dir (created if missing, mode 0755; files replaced atomically):
 *   deployment.yaml service.yaml hpa.yaml pdb.yaml   (`kubectl apply -f DIR`)
 *   kserve/inferenceservice.yaml                     (the alternative, not applied
 *                                                      with the others)
 * FY_EINVAL naming the field for bad settings (name not DNS-1123, no image, port
 * out of range, min > max replicas), FY_EIO for write failures. */
int fy_emit_kubernetes(const fy_emit_opts *opts, const char *dir, fy_diag *d);

/* Write NAME.service and NAME.env into dir: a unit running `ferry serve` with
 * restart on failure, SIGTERM drain, SIGHUP reload (ExecReload), hardening
 * options, and the environment file it reads. */
int fy_emit_systemd(const fy_emit_opts *opts, const char *dir, fy_diag *d);

/* Write NAME-alerts.yaml (Prometheus alerting rules: error rate, p99 latency,
 * readiness, worker restarts; `promtool check rules` passes) and
 * NAME-dashboard.json (Grafana dashboard over ferry_* metrics) into dir. */
int fy_emit_monitoring(const fy_emit_opts *opts, const char *dir, fy_diag *d);

/* The same texts in memory (malloc'd, free()), for callers that store them;
 * which: "deployment", "service", "hpa", "pdb", "inferenceservice", "systemd-unit",
 * "systemd-env", "alerts", "dashboard". FY_EINVAL for an unknown name. */
int fy_emit_text(const fy_emit_opts *opts, const char *which, char **out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
