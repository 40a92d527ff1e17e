/* SPDX-License-Identifier: MIT */
/* Deployment files for Kubernetes, systemd and monitoring, written from a settings
 * struct. Every value that reaches a file is checked against a strict pattern
 * first, so no setting can break out of its YAML scalar, unit-file line or PromQL
 * string. See docs/kubernetes.md. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../core/core.h"
#include "ferry/ferry.h"

/* ---- a growing text buffer ------------------------------------------------ */

/* ---- settings ------------------------------------------------------------- */

typedef struct {
    const fy_emit_opts *o;
    char version_label[64];
    char model[129];
    char selector[512]; /* PromQL matchers */
    int port, replicas, min_r, max_r, target_cpu, pdb_min;
    int cpu_m, cpu_limit_m;
    uint64_t mem_mb, mem_limit_mb;
    double err_rate, p99_s;
    int for_min, restarts;
} cfg;

static int dns_label(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return 1;
}

static int dns_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
              s[i] == '.'))
            return 0;
    return 1;
}

/* An OCI image reference: [registry[:port]/]path[:tag][@sha256:hex]. */
static int image_ref(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 512 || !isalnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("._-/:@", s[i])))
            return 0;
    return 1;
}

/* Absolute path safe in a unit file: no whitespace, quotes, '$', '%', '\'. */
static int unit_path(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 256 || s[0] != '/' || strstr(s, "/../") || strstr(s, "/./"))
        return 0;
    if (n >= 3 && strcmp(s + n - 3, "/..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("/._-+", s[i])))
            return 0;
    return 1;
}

static int model_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 128 || s[0] == '.' || s[0] == '-' || strstr(s, ".."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || strchr("._-", s[i])))
            return 0;
    return 1;
}

/* PromQL matchers: name="value" or name=~"value" pairs, comma-separated; values
 * without quotes, backslashes or braces. */
static int selector_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 3 || n > 400)
        return 0;
    const char *p = s;
    for (;;) {
        if (!(isalpha((unsigned char)*p) || *p == '_'))
            return 0;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (p[0] == '!' && (p[1] == '=' || p[1] == '~'))
            p += 2;
        else if (p[0] == '=' && p[1] == '~')
            p += 2;
        else if (p[0] == '=')
            p++;
        else
            return 0;
        if (*p++ != '"')
            return 0;
        while (*p && *p != '"') {
            if (*p == '\\' || *p == '{' || *p == '}' || (unsigned char)*p < 0x20)
                return 0;
            p++;
        }
        if (*p++ != '"')
            return 0;
        if (!*p)
            return 1;
        if (*p++ != ',')
            return 0;
    }
}

static int setup(cfg *c, const fy_emit_opts *o, int need_image, int need_package, fy_diag *d)
{
    memset(c, 0, sizeof *c);
    c->o = o;
    if (!o || !dns_label(o->name))
        return fy__diag_set(d, FY_EINVAL,
                            "name '%.80s': must be a DNS-1123 label (lowercase letters, digits and "
                            "'-', 1 to 63, starting and ending alphanumeric)",
                            o && o->name ? o->name : "");
    if (need_image && !image_ref(o->image))
        return fy__diag_set(d, FY_EINVAL,
                            "image '%.80s': an OCI reference like registry.example/name:1.0.0 "
                            "(letters, digits and ._-/:@, at most 512) is required",
                            o->image ? o->image : "");
    if (o->namespace_ && !dns_label(o->namespace_))
        return fy__diag_set(d, FY_EINVAL, "namespace '%.80s': must be a DNS-1123 label",
                            o->namespace_);
    if (o->auth_secret && !dns_subdomain(o->auth_secret))
        return fy__diag_set(d, FY_EINVAL, "auth secret '%.80s': must be a DNS-1123 name",
                            o->auth_secret);
    const char *mn = o->model_name ? o->model_name : o->name;
    if (!model_name_ok(mn))
        return fy__diag_set(d, FY_EINVAL, "model name '%.80s': 1-128 of [A-Za-z0-9._-]", mn);
    snprintf(c->model, sizeof c->model, "%s", mn);
    if (o->version) {
        /* label values: [A-Za-z0-9._-], 63 at most, alphanumeric at both ends */
        size_t k = 0;
        for (const char *p = o->version; *p && k < 63; p++)
            c->version_label[k++] = isalnum((unsigned char)*p) || *p == '.' || *p == '-' ? *p : '_';
        while (k && !isalnum((unsigned char)c->version_label[k - 1]))
            k--;
        c->version_label[k] = 0;
        if (!isalnum((unsigned char)c->version_label[0]))
            c->version_label[0] = 0;
    }
    c->port = o->port ? o->port : 8080;
    if (c->port < 1 || c->port > 65535)
        return fy__diag_set(d, FY_EINVAL, "port %d: must be 1 to 65535", o->port);
    c->replicas = o->replicas ? o->replicas : 2;
    c->min_r = o->min_replicas ? o->min_replicas : c->replicas;
    c->max_r = o->max_replicas ? o->max_replicas : 2 * c->min_r;
    if (c->replicas < 1 || c->replicas > 1000 || c->min_r < 1 || c->max_r > 1000)
        return fy__diag_set(d, FY_EINVAL, "replicas must be 1 to 1000");
    if (c->min_r > c->max_r)
        return fy__diag_set(d, FY_EINVAL, "min replicas %d above max replicas %d", c->min_r,
                            c->max_r);
    c->target_cpu = o->target_cpu_percent ? o->target_cpu_percent : 70;
    if (c->target_cpu < 1 || c->target_cpu > 100)
        return fy__diag_set(d, FY_EINVAL, "target CPU %d%%: must be 1 to 100", c->target_cpu);
    c->pdb_min = o->pdb_min_available ? o->pdb_min_available : c->min_r - 1;
    if (c->pdb_min < 1)
        c->pdb_min = 1;
    if (c->pdb_min > c->max_r)
        return fy__diag_set(d, FY_EINVAL, "PodDisruptionBudget minAvailable %d above max replicas",
                            c->pdb_min);
    c->cpu_m = o->cpu_millis ? o->cpu_millis : 1000;
    if (c->cpu_m < 100)
        c->cpu_m = 100;
    c->cpu_limit_m = o->cpu_limit_millis;
    if (c->cpu_m > 1024000 || c->cpu_limit_m < 0 || c->cpu_limit_m > 1024000 ||
        (c->cpu_limit_m && c->cpu_limit_m < c->cpu_m))
        return fy__diag_set(d, FY_EINVAL, "CPU request %dm / limit %dm out of range", c->cpu_m,
                            c->cpu_limit_m);
    c->mem_mb = o->memory_mb ? o->memory_mb : 64;
    if (c->mem_mb < 64)
        c->mem_mb = 64;
    c->mem_limit_mb = o->memory_limit_mb ? o->memory_limit_mb : 2 * c->mem_mb;
    if (c->mem_mb > ((uint64_t)1 << 30) || c->mem_limit_mb > ((uint64_t)1 << 31) ||
        c->mem_limit_mb < c->mem_mb)
        return fy__diag_set(d, FY_EINVAL, "memory request %lluMi / limit %lluMi out of range",
                            (unsigned long long)c->mem_mb, (unsigned long long)c->mem_limit_mb);
    if (need_package) {
        const char *bin = o->binary ? o->binary : "/usr/local/bin/ferry";
        if (!unit_path(bin))
            return fy__diag_set(d, FY_EINVAL,
                                "binary '%.80s': an absolute path of [A-Za-z0-9/._+-]", bin);
        if (!unit_path(o->package_path))
            return fy__diag_set(d, FY_EINVAL,
                                "package path '%.80s': an absolute path of [A-Za-z0-9/._+-] is "
                                "required",
                                o->package_path ? o->package_path : "");
        if (o->keys_file && !unit_path(o->keys_file))
            return fy__diag_set(d, FY_EINVAL, "keys file '%.80s': an absolute path", o->keys_file);
        const char *u = o->user ? o->user : "ferry";
        size_t ul = strlen(u);
        int uok = ul >= 1 && ul <= 32 && (islower((unsigned char)u[0]) || u[0] == '_');
        for (size_t i = 0; uok && i < ul; i++)
            uok = islower((unsigned char)u[i]) || isdigit((unsigned char)u[i]) || u[i] == '_' ||
                  u[i] == '-';
        if (!uok)
            return fy__diag_set(d, FY_EINVAL, "user '%.40s': a system user name", u);
        const char *h = o->host ? o->host : "127.0.0.1";
        size_t hl = strlen(h);
        int hok = hl >= 1 && hl <= 64;
        for (size_t i = 0; hok && i < hl; i++)
            hok = isalnum((unsigned char)h[i]) || strchr(".:-", h[i]);
        if (!hok)
            return fy__diag_set(d, FY_EINVAL, "host '%.64s': an address or host name", h);
    }
    c->err_rate = o->alert_error_rate > 0 ? o->alert_error_rate : 0.01;
    c->p99_s = (o->alert_p99_ms > 0 ? o->alert_p99_ms : 100) / 1000.0;
    c->for_min = o->alert_for_minutes > 0 ? o->alert_for_minutes : 5;
    c->restarts = o->alert_restarts > 0 ? o->alert_restarts : 3;
    if (!(c->err_rate < 1) || !isfinite(c->p99_s) || c->p99_s > 3600 || c->for_min > 1440 ||
        c->restarts > 100000)
        return fy__diag_set(d, FY_EINVAL, "alert thresholds out of range");
    if (o->alert_selector) {
        if (!selector_ok(o->alert_selector))
            return fy__diag_set(d, FY_EINVAL,
                                "alert selector '%.80s': PromQL matchers like "
                                "job=\"x\",namespace=\"y\" (no braces, quotes or backslashes "
                                "inside values)",
                                o->alert_selector);
        snprintf(c->selector, sizeof c->selector, "%s", o->alert_selector);
    } else {
        snprintf(c->selector, sizeof c->selector, "job=\"%s\"", o->name);
    }
    return FY_OK;
}

/* ---- Kubernetes ------------------------------------------------------------- */

static void meta(fy__text *b, const cfg *c, const char *indent)
{
    fy__text_printf(b, "%sname: %s\n", indent, c->o->name);
    if (c->o->namespace_)
        fy__text_printf(b, "%snamespace: %s\n", indent, c->o->namespace_);
}

static void labels(fy__text *b, const cfg *c, const char *indent)
{
    fy__text_printf(b, "%slabels:\n", indent);
    fy__text_printf(b, "%s  app.kubernetes.io/name: %s\n", indent, c->o->name);
    fy__text_printf(b, "%s  app.kubernetes.io/instance: %s\n", indent, c->o->name);
    fy__text_printf(b, "%s  app.kubernetes.io/component: inference\n", indent);
    fy__text_printf(b, "%s  app.kubernetes.io/managed-by: ferry\n", indent);
    if (c->version_label[0])
        fy__text_printf(b, "%s  app.kubernetes.io/version: \"%s\"\n", indent, c->version_label);
}

static void selector_labels(fy__text *b, const cfg *c, const char *indent)
{
    fy__text_printf(b, "%sapp.kubernetes.io/name: %s\n", indent, c->o->name);
    fy__text_printf(b, "%sapp.kubernetes.io/instance: %s\n", indent, c->o->name);
}

/* The ferry container: command, ports, probes, resources, security. */
static void container(fy__text *b, const cfg *c, const char *in, const char *cname)
{
    fy__text_printf(b, "%s- name: %s\n", in, cname);
    fy__text_printf(b, "%s  image: \"%s\"\n", in, c->o->image);
    fy__text_printf(b, "%s  imagePullPolicy: IfNotPresent\n", in);
    fy__text_printf(b, "%s  command: [\"/usr/local/bin/ferry\"]\n", in);
    fy__text_printf(b,
                    "%s  args: [\"serve\", \"/ferry\", \"--host\", \"0.0.0.0\", \"--port\", \"%d\"",
                    in, c->port);
    if (c->o->auth_secret)
        fy__text_printf(b, ", \"--keys\", \"/etc/ferry/keys/keys\"");
    fy__text_printf(b, "]\n");
    fy__text_printf(
        b, "%s  ports:\n%s    - name: http\n%s      containerPort: %d\n%s      protocol: TCP\n", in,
        in, in, c->port, in);
    fy__text_printf(
        b, "%s  resources:\n%s    requests:\n%s      cpu: \"%dm\"\n%s      memory: \"%lluMi\"\n",
        in, in, in, c->cpu_m, in, (unsigned long long)c->mem_mb);
    fy__text_printf(b, "%s    limits:\n", in);
    if (c->cpu_limit_m)
        fy__text_printf(b, "%s      cpu: \"%dm\"\n", in, c->cpu_limit_m);
    fy__text_printf(b, "%s      memory: \"%lluMi\"\n", in, (unsigned long long)c->mem_limit_mb);
    /* Startup: loading and warming the model may take a while; until it is
     * ready, the other probes wait. Readiness drops at once on SIGTERM (drain). */
    fy__text_printf(b,
                    "%s  startupProbe:\n%s    httpGet: {path: /v2/health/ready, port: http}\n"
                    "%s    periodSeconds: 2\n%s    timeoutSeconds: 2\n%s    failureThreshold: 90\n",
                    in, in, in, in, in);
    fy__text_printf(b,
                    "%s  readinessProbe:\n%s    httpGet: {path: /v2/health/ready, port: http}\n"
                    "%s    periodSeconds: 5\n%s    timeoutSeconds: 2\n%s    failureThreshold: 2\n",
                    in, in, in, in, in);
    fy__text_printf(b,
                    "%s  livenessProbe:\n%s    httpGet: {path: /v2/health/live, port: http}\n"
                    "%s    periodSeconds: 10\n%s    timeoutSeconds: 2\n%s    failureThreshold: 3\n",
                    in, in, in, in, in);
    fy__text_printf(
        b,
        "%s  securityContext:\n%s    allowPrivilegeEscalation: false\n"
        "%s    readOnlyRootFilesystem: true\n%s    runAsNonRoot: true\n%s    runAsUser: 65532\n"
        "%s    runAsGroup: 65532\n%s    capabilities: {drop: [ALL]}\n",
        in, in, in, in, in, in, in);
    fy__text_printf(b, "%s  volumeMounts:\n%s    - {name: tmp, mountPath: /tmp}\n", in, in);
    if (c->o->auth_secret)
        fy__text_printf(b, "%s    - {name: keys, mountPath: /etc/ferry/keys, readOnly: true}\n",
                        in);
}

static void volumes(fy__text *b, const cfg *c, const char *in)
{
    fy__text_printf(b, "%svolumes:\n%s  - name: tmp\n%s    emptyDir: {}\n", in, in, in);
    if (c->o->auth_secret)
        fy__text_printf(b,
                        "%s  - name: keys\n%s    secret:\n%s      secretName: %s\n"
                        "%s      items: [{key: keys, path: keys}]\n",
                        in, in, in, c->o->auth_secret, in);
}

static void header(fy__text *b, const cfg *c, const char *what)
{
    fy__text_printf(b, "# %s for the ferry service %s (model %s", what, c->o->name, c->model);
    if (c->o->version)
        fy__text_printf(b, " %s", c->version_label);
    fy__text_printf(b, "), written by ferry %s. See docs/kubernetes.md.\n", FERRY_VERSION);
}

static void k8s_deployment(fy__text *b, const cfg *c)
{
    header(b, c, "Deployment");
    fy__text_printf(b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n");
    meta(b, c, "  ");
    labels(b, c, "  ");
    fy__text_printf(b, "spec:\n  replicas: %d\n  revisionHistoryLimit: 5\n", c->replicas);
    fy__text_printf(b, "  selector:\n    matchLabels:\n");
    selector_labels(b, c, "      ");
    /* a new pod must be ready before an old one goes: no capacity dip on rollout */
    fy__text_printf(b, "  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, "
                       "maxUnavailable: 0}\n");
    fy__text_printf(b, "  template:\n    metadata:\n");
    labels(b, c, "      ");
    fy__text_printf(
        b,
        "      annotations:\n        prometheus.io/scrape: \"true\"\n        prometheus.io/port: "
        "\"%d\"\n        prometheus.io/path: /metrics\n",
        c->port);
    fy__text_printf(b, "    spec:\n");
    /* the server drains for up to 30 s on SIGTERM; leave it room */
    fy__text_printf(b, "      terminationGracePeriodSeconds: 45\n");
    fy__text_printf(b, "      automountServiceAccountToken: false\n");
    fy__text_printf(b,
                    "      securityContext:\n        runAsNonRoot: true\n        fsGroup: 65532\n"
                    "        seccompProfile: {type: RuntimeDefault}\n");
    fy__text_printf(b, "      containers:\n");
    container(b, c, "        ", "ferry");
    volumes(b, c, "      ");
}

static void k8s_service(fy__text *b, const cfg *c)
{
    header(b, c, "Service");
    fy__text_printf(b, "apiVersion: v1\nkind: Service\nmetadata:\n");
    meta(b, c, "  ");
    labels(b, c, "  ");
    fy__text_printf(b, "spec:\n  type: ClusterIP\n  selector:\n");
    selector_labels(b, c, "    ");
    fy__text_printf(
        b,
        "  ports:\n    - name: http\n      port: %d\n      targetPort: http\n      protocol: TCP\n",
        c->port);
}

static void k8s_hpa(fy__text *b, const cfg *c)
{
    header(b, c, "HorizontalPodAutoscaler");
    fy__text_printf(b, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n");
    meta(b, c, "  ");
    labels(b, c, "  ");
    fy__text_printf(
        b,
        "spec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: %s\n",
        c->o->name);
    fy__text_printf(b, "  minReplicas: %d\n  maxReplicas: %d\n", c->min_r, c->max_r);
    fy__text_printf(
        b,
        "  metrics:\n    - type: Resource\n      resource:\n        name: cpu\n        target:\n"
        "          type: Utilization\n          averageUtilization: %d\n",
        c->target_cpu);
    /* scale up fast, down slowly: loading a model is the expensive part */
    fy__text_printf(b, "  behavior:\n    scaleDown:\n      stabilizationWindowSeconds: 300\n"
                       "      policies: [{type: Pods, value: 1, periodSeconds: 60}]\n"
                       "    scaleUp:\n      stabilizationWindowSeconds: 0\n"
                       "      policies: [{type: Percent, value: 100, periodSeconds: 30}]\n");
}

static void k8s_pdb(fy__text *b, const cfg *c)
{
    header(b, c, "PodDisruptionBudget");
    fy__text_printf(b, "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n");
    meta(b, c, "  ");
    labels(b, c, "  ");
    fy__text_printf(b, "spec:\n  minAvailable: %d\n  selector:\n    matchLabels:\n", c->pdb_min);
    selector_labels(b, c, "      ");
}

static void kserve(fy__text *b, const cfg *c)
{
    header(b, c, "KServe InferenceService (an alternative to the Deployment, Service and HPA)");
    fy__text_printf(b,
                    "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n");
    meta(b, c, "  ");
    labels(b, c, "  ");
    fy__text_printf(b, "  annotations:\n    serving.kserve.io/deploymentMode: RawDeployment\n"
                       "    serving.kserve.io/autoscalerClass: hpa\n"
                       "    serving.kserve.io/metric: cpu\n");
    fy__text_printf(b, "    serving.kserve.io/targetUtilizationPercentage: \"%d\"\n",
                    c->target_cpu);
    fy__text_printf(b, "spec:\n  predictor:\n    minReplicas: %d\n    maxReplicas: %d\n", c->min_r,
                    c->max_r);
    fy__text_printf(b, "    containers:\n");
    container(b, c, "      ", "kserve-container");
    volumes(b, c, "    ");
}

/* ---- systemd ---------------------------------------------------------------- */

static void systemd_unit(fy__text *b, const cfg *c)
{
    const fy_emit_opts *o = c->o;
    const char *bin = o->binary ? o->binary : "/usr/local/bin/ferry";
    const char *user = o->user ? o->user : "ferry";
    fy__text_printf(b, "# systemd unit for the ferry service %s (model %s), written by ferry %s.\n",
                    o->name, c->model, FERRY_VERSION);
    fy__text_printf(b,
                    "# Install: cp %s.service /etc/systemd/system/ && cp %s.env /etc/ferry/ &&\n",
                    o->name, o->name);
    fy__text_printf(b, "#          systemctl daemon-reload && systemctl enable --now %s\n",
                    o->name);
    fy__text_printf(b, "[Unit]\nDescription=ferry model service %s\n", o->name);
    fy__text_printf(b, "After=network-online.target\nWants=network-online.target\n");
    /* crash loops stop after 5 starts in 2 minutes instead of spinning forever */
    fy__text_printf(b, "StartLimitIntervalSec=120\nStartLimitBurst=5\n\n");
    fy__text_printf(b, "[Service]\nType=simple\nUser=%s\nGroup=%s\n", user, user);
    fy__text_printf(b, "EnvironmentFile=/etc/ferry/%s.env\n", o->name);
    fy__text_printf(b,
                    "ExecStart=%s serve ${FERRY_PACKAGE} --host ${FERRY_HOST} --port ${FERRY_PORT} "
                    "$FERRY_ARGS\n",
                    bin);
    fy__text_printf(b, "# SIGHUP: reopen the log, re-read keys, rescan the repository\n");
    fy__text_printf(b, "ExecReload=/bin/kill -HUP $MAINPID\n");
    fy__text_printf(b, "# SIGTERM drains in-flight requests (up to 30 s) before exiting\n");
    fy__text_printf(b, "KillSignal=SIGTERM\nTimeoutStopSec=45\n");
    fy__text_printf(b, "Restart=on-failure\nRestartSec=2\n");
    fy__text_printf(b, "LimitNOFILE=65536\n");
    fy__text_printf(b, "MemoryMax=%lluM\n", (unsigned long long)c->mem_limit_mb);
    if (c->cpu_limit_m)
        fy__text_printf(b, "CPUQuota=%d%%\n", c->cpu_limit_m / 10);
    fy__text_printf(b, "# hardening: the server needs its package, the network and nothing else\n");
    fy__text_printf(b,
                    "NoNewPrivileges=yes\nProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n"
                    "PrivateDevices=yes\nProtectKernelTunables=yes\nProtectKernelModules=yes\n"
                    "ProtectKernelLogs=yes\nProtectControlGroups=yes\nProtectClock=yes\n"
                    "ProtectHostname=yes\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"
                    "RestrictNamespaces=yes\nRestrictRealtime=yes\nRestrictSUIDSGID=yes\n"
                    "LockPersonality=yes\nSystemCallArchitectures=native\nCapabilityBoundingSet=\n"
                    "UMask=0077\n");
    fy__text_printf(b, "\n[Install]\nWantedBy=multi-user.target\n");
}

static void systemd_env(fy__text *b, const cfg *c)
{
    const fy_emit_opts *o = c->o;
    fy__text_printf(b, "# Environment of %s.service (ferry %s).\n", o->name, FERRY_VERSION);
    fy__text_printf(b, "FERRY_PACKAGE=%s\n", o->package_path);
    fy__text_printf(b, "FERRY_HOST=%s\n", o->host ? o->host : "127.0.0.1");
    fy__text_printf(b, "FERRY_PORT=%d\n", c->port);
    if (o->keys_file)
        fy__text_printf(b, "FERRY_ARGS=--keys %s\n", o->keys_file);
    else
        fy__text_printf(b, "FERRY_ARGS=\n");
}

/* ---- monitoring ------------------------------------------------------------- */

static void alerts(fy__text *b, const cfg *c)
{
    const char *s = c->selector;
    const char *n = c->o->name;
    fy__text_printf(b, "# Prometheus alerting rules for the ferry service %s (ferry %s).\n", n,
                    FERRY_VERSION);
    fy__text_printf(b, "# Series are selected with {%s}: adjust to your scrape configuration.\n",
                    s);
    fy__text_printf(b, "# Check: promtool check rules %s-alerts.yaml\n", n);
    fy__text_printf(b, "groups:\n  - name: ferry-%s\n    rules:\n", n);
    fy__text_printf(b, "      - alert: FerryHighErrorRate\n");
    fy__text_printf(b, "        expr: |\n");
    fy__text_printf(
        b,
        "          sum(rate(ferry_requests_total{%s,outcome=~\"server_error|timeout|rejected\"}"
        "[5m]))\n",
        s);
    fy__text_printf(b,
                    "            / clamp_min(sum(rate(ferry_requests_total{%s}[5m])), 1e-9) > %g\n",
                    s, c->err_rate);
    fy__text_printf(
        b, "        for: %dm\n        labels:\n          severity: page\n          service: %s\n",
        c->for_min, n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(
        b, "          summary: \"%s: {{ $value | humanizePercentage }} of requests fail\"\n", n);
    fy__text_printf(
        b,
        "          description: \"More than %g%% of inference requests ended in a server error, "
        "timeout or load shedding (429/503) over 5 minutes.\"\n",
        c->err_rate * 100);

    fy__text_printf(b, "      - alert: FerryHighLatencyP99\n");
    fy__text_printf(b, "        expr: |\n");
    fy__text_printf(b,
                    "          histogram_quantile(0.99, sum by (le) "
                    "(rate(ferry_request_duration_seconds_bucket{%s}[5m]))) > %g\n",
                    s, c->p99_s);
    fy__text_printf(
        b, "        for: %dm\n        labels:\n          severity: warn\n          service: %s\n",
        c->for_min, n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(b, "          summary: \"%s: p99 latency {{ $value | humanizeDuration }}\"\n",
                    n);
    fy__text_printf(
        b,
        "          description: \"The 99th percentile of request duration is above %g ms "
        "over 5 minutes.\"\n",
        c->p99_s * 1000);

    fy__text_printf(b, "      - alert: FerryDown\n");
    fy__text_printf(b, "        expr: up{%s} == 0\n", s);
    fy__text_printf(
        b, "        for: 2m\n        labels:\n          severity: page\n          service: %s\n",
        n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(
        b, "          summary: \"%s: {{ $labels.instance }} does not answer scrapes\"\n", n);
    fy__text_printf(
        b, "          description: \"Prometheus cannot scrape /metrics: the process is down, not "
           "listening, or unreachable.\"\n");

    fy__text_printf(b, "      - alert: FerryModelNotReady\n");
    fy__text_printf(b, "        expr: increase(ferry_model_load_failures_total{%s}[15m]) > 0\n", s);
    fy__text_printf(b, "        labels:\n          severity: page\n          service: %s\n", n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(
        b,
        "          summary: \"%s: model {{ $labels.model }} {{ $labels.version }} failed to "
        "load\"\n",
        n);
    fy__text_printf(
        b, "          description: \"A model version failed to load or warm up: the server "
           "answers 503 on /v2/health/ready until it loads.\"\n");

    fy__text_printf(b, "      - alert: FerryWorkerRestarts\n");
    fy__text_printf(b, "        expr: increase(ferry_worker_restarts_total{%s}[15m]) > %d\n", s,
                    c->restarts);
    fy__text_printf(b, "        labels:\n          severity: warn\n          service: %s\n", n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(
        b, "          summary: \"%s: workers restarted {{ $value }} times in 15 minutes\"\n", n);
    fy__text_printf(
        b,
        "          description: \"The supervisor restarted crashed workers more than %d times "
        "in 15 minutes (a crash loop).\"\n",
        c->restarts);

    fy__text_printf(b, "      - alert: FerryQueueBacklog\n");
    fy__text_printf(b,
                    "        expr: sum(ferry_pending_requests{%s}) > 0 and "
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(ferry_queue_duration_seconds_bucket{%s}[5m]))) > %g\n",
                    s, s, c->p99_s / 2);
    fy__text_printf(
        b, "        for: %dm\n        labels:\n          severity: warn\n          service: %s\n",
        c->for_min, n);
    fy__text_printf(b, "        annotations:\n");
    fy__text_printf(b, "          summary: \"%s: requests wait in the model queue\"\n", n);
    fy__text_printf(
        b, "          description: \"Queueing takes more than half the latency budget: add "
           "instances or replicas.\"\n");
}

/* Grafana dashboard, built with jansson so the JSON is well-formed by construction. */
static json_t *panel(int id, const char *title, const char *unit, int x, int y,
                     const char *const *exprs, const char *const *legends, int n)
{
    json_t *p = json_pack("{s:i, s:s, s:s, s:{s:s, s:s}, s:{s:i, s:i, s:i, s:i}, s:[], "
                          "s:{s:{s:s}, s:[]}}",
                          "id", id, "type", "timeseries", "title", title, "datasource", "type",
                          "prometheus", "uid", "${datasource}", "gridPos", "x", x, "y", y, "w", 12,
                          "h", 8, "targets", "fieldConfig", "defaults", "unit", unit, "overrides");
    if (!p)
        return NULL;
    json_t *t = json_object_get(p, "targets");
    for (int i = 0; i < n; i++) {
        json_t *q =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "refId", (const char[]){(char)('A' + i), 0},
                      "expr", exprs[i], "legendFormat", legends[i], "datasource", "type",
                      "prometheus", "uid", "${datasource}");
        if (!q || json_array_append_new(t, q) != 0) {
            json_decref(p);
            return NULL;
        }
    }
    return p;
}

static int dashboard(const cfg *c, char **out)
{
    const char *s = c->selector;
    char e[8][640];
    snprintf(e[0], sizeof e[0], "sum by (outcome) (rate(ferry_requests_total{%s}[5m]))", s);
    snprintf(e[1], sizeof e[1],
             "sum(rate(ferry_requests_total{%s,outcome=~\"server_error|timeout|rejected\"}[5m])) / "
             "clamp_min(sum(rate(ferry_requests_total{%s}[5m])), 1e-9)",
             s, s);
    snprintf(e[2], sizeof e[2],
             "histogram_quantile(0.5, sum by (le) (rate(ferry_request_duration_seconds_bucket{%s}"
             "[5m])))",
             s);
    snprintf(e[3], sizeof e[3],
             "histogram_quantile(0.99, sum by (le) (rate(ferry_request_duration_seconds_bucket{%s}"
             "[5m])))",
             s);
    snprintf(e[4], sizeof e[4],
             "histogram_quantile(0.99, sum by (le) (rate(ferry_queue_duration_seconds_bucket{%s}"
             "[5m])))",
             s);
    snprintf(e[5], sizeof e[5],
             "sum(rate(ferry_batch_size_sum{%s}[5m])) / clamp_min(sum(rate(ferry_batch_size_count{"
             "%s}[5m])), 1e-9)",
             s, s);
    snprintf(e[6], sizeof e[6], "sum(ferry_inflight_requests{%s})", s);
    snprintf(e[7], sizeof e[7], "sum(ferry_pending_requests{%s})", s);
    char m[4][320];
    snprintf(m[0], sizeof m[0], "process_resident_memory_bytes{%s}", s);
    snprintf(m[1], sizeof m[1], "rate(process_cpu_seconds_total{%s}[5m])", s);
    snprintf(m[2], sizeof m[2], "increase(ferry_worker_restarts_total{%s}[15m])", s);
    snprintf(m[3], sizeof m[3], "ferry_model_load_seconds{%s}", s);

    const char *q0[] = {e[0]}, *l0[] = {"{{outcome}}"};
    const char *q1[] = {e[1]}, *l1[] = {"failed share"};
    const char *q2[] = {e[2], e[3]}, *l2[] = {"p50", "p99"};
    const char *q3[] = {e[4]}, *l3[] = {"queue p99"};
    const char *q4[] = {e[5]}, *l4[] = {"mean batch"};
    const char *q5[] = {e[6], e[7]}, *l5[] = {"in flight", "waiting"};
    const char *q6[] = {m[0]}, *l6[] = {"{{instance}}"};
    const char *q7[] = {m[1]}, *l7[] = {"{{instance}}"};
    const char *q8[] = {m[2]}, *l8[] = {"{{instance}}"};
    const char *q9[] = {m[3]}, *l9[] = {"{{model}} {{version}}"};
    json_t *panels = json_array();
    json_t *ps[10] = {
        panel(1, "Requests by outcome", "reqps", 0, 0, q0, l0, 1),
        panel(2, "Failed requests (server error, timeout, shed)", "percentunit", 12, 0, q1, l1, 1),
        panel(3, "Request latency", "s", 0, 8, q2, l2, 2),
        panel(4, "Queue wait (p99)", "s", 12, 8, q3, l3, 1),
        panel(5, "Batch size", "short", 0, 16, q4, l4, 1),
        panel(6, "Requests in flight and waiting", "short", 12, 16, q5, l5, 2),
        panel(7, "Resident memory", "bytes", 0, 24, q6, l6, 1),
        panel(8, "CPU", "percentunit", 12, 24, q7, l7, 1),
        panel(9, "Worker restarts (15 min)", "short", 0, 32, q8, l8, 1),
        panel(10, "Model load time", "s", 12, 32, q9, l9, 1)};
    int ok = panels != NULL;
    for (int i = 0; i < 10; i++) {
        if (!ps[i] || !ok || json_array_append_new(panels, ps[i]) != 0) {
            ok = 0;
            json_decref(ps[i]);
        }
    }
    char title[128], uid[64];
    snprintf(title, sizeof title, "ferry: %s", c->o->name);
    snprintf(uid, sizeof uid, "ferry-%.34s", c->o->name);
    json_t *dash =
        ok ? json_pack("{s:s, s:s, s:[s,s], s:i, s:s, s:i, s:b, s:{s:s, s:s}, s:s, "
                       "s:{s:[{s:s, s:s, s:s, s:s, s:s}]}, s:o}",
                       "title", title, "uid", uid, "tags", "ferry", "inference", "schemaVersion",
                       39, "timezone", "browser", "version", 1, "editable", 1, "time", "from",
                       "now-6h", "to", "now", "refresh", "30s", "templating", "list", "name",
                       "datasource", "type", "datasource", "query", "prometheus", "label",
                       "Prometheus", "description", "The Prometheus data source", "panels", panels)
           : NULL;
    if (!dash) {
        if (!ok)
            json_decref(panels);
        return FY_ENOMEM;
    }
    char *text = json_dumps(dash, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(dash);
    if (!text)
        return FY_ENOMEM;
    size_t n = strlen(text);
    char *copy = fy__malloc(n + 2);
    if (!copy) {
        free(text);
        return FY_ENOMEM;
    }
    memcpy(copy, text, n);
    copy[n] = '\n';
    copy[n + 1] = 0;
    free(text);
    *out = copy;
    return FY_OK;
}

/* ---- files -------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const char *text, fy_diag *d)
{
    char path[1024], tmp[1100];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return fy__diag_set(d, FY_EINVAL, "output path too long");
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return fy__diag_set(d, FY_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            return fy__diag_set(d, FY_EIO, "%s: write failed: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return fy__diag_set(d, FY_EIO, "%s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fy__diag_set(d, FY_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return FY_OK;
}

static int make_dir(const char *dir, fy_diag *d)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fy__diag_set(d, FY_EIO, "%s: cannot create folder: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fy__diag_set(d, FY_EIO, "%s: not a folder", dir);
    return FY_OK;
}

int fy_emit_text(const fy_emit_opts *opts, const char *which, char **out, fy_diag *d)
{
    static const struct {
        const char *name;
        int image, package;
        void (*fn)(fy__text *, const cfg *);
    } kinds[] = {{"deployment", 1, 0, k8s_deployment},
                 {"service", 0, 0, k8s_service},
                 {"hpa", 0, 0, k8s_hpa},
                 {"pdb", 0, 0, k8s_pdb},
                 {"inferenceservice", 1, 0, kserve},
                 {"systemd-unit", 0, 1, systemd_unit},
                 {"systemd-env", 0, 1, systemd_env},
                 {"alerts", 0, 0, alerts},
                 {"dashboard", 0, 0, NULL}};
    for (size_t i = 0; which && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].name, which) != 0)
            continue;
        cfg c;
        int rc = setup(&c, opts, kinds[i].image, kinds[i].package, d);
        if (rc != FY_OK)
            return rc;
        if (!kinds[i].fn) {
            if ((rc = dashboard(&c, out)) != FY_OK)
                return fy__diag_set(d, rc, "out of memory writing the dashboard");
            return FY_OK;
        }
        fy__text b = {0};
        kinds[i].fn(&b, &c);
        if (b.oom || !b.p) {
            fy__free(b.p);
            return fy__diag_set(d, FY_ENOMEM, "out of memory writing %s", which);
        }
        *out = b.p;
        return FY_OK;
    }
    return fy__diag_set(d, FY_EINVAL, "unknown file kind '%.40s'", which ? which : "");
}

static int emit_set(const fy_emit_opts *opts, const char *dir, const char *const *kinds,
                    const char *const *files, int n, fy_diag *d)
{
    int rc = make_dir(dir, d);
    for (int i = 0; rc == FY_OK && i < n; i++) {
        char *text = NULL;
        if ((rc = fy_emit_text(opts, kinds[i], &text, d)) != FY_OK)
            break;
        const char *slash = strrchr(files[i], '/');
        if (slash) {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%.*s", dir, (int)(slash - files[i]), files[i]);
            if ((rc = make_dir(sub, d)) != FY_OK) {
                fy__free(text);
                break;
            }
        }
        rc = write_file(dir, files[i], text, d);
        fy__free(text);
    }
    return rc;
}

int fy_emit_kubernetes(const fy_emit_opts *opts, const char *dir, fy_diag *d)
{
    cfg c;
    int rc = setup(&c, opts, 1, 0, d); /* check everything before writing anything */
    if (rc != FY_OK)
        return rc;
    static const char *const kinds[] = {"deployment", "service", "hpa", "pdb", "inferenceservice"};
    static const char *const files[] = {"deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml",
                                        "kserve/inferenceservice.yaml"};
    return emit_set(opts, dir, kinds, files, 5, d);
}

int fy_emit_systemd(const fy_emit_opts *opts, const char *dir, fy_diag *d)
{
    cfg c;
    int rc = setup(&c, opts, 0, 1, d);
    if (rc != FY_OK)
        return rc;
    char unit[96], env[96];
    snprintf(unit, sizeof unit, "%s.service", opts->name);
    snprintf(env, sizeof env, "%s.env", opts->name);
    const char *kinds[] = {"systemd-unit", "systemd-env"}, *files[] = {unit, env};
    return emit_set(opts, dir, kinds, files, 2, d);
}

int fy_emit_monitoring(const fy_emit_opts *opts, const char *dir, fy_diag *d)
{
    cfg c;
    int rc = setup(&c, opts, 0, 0, d);
    if (rc != FY_OK)
        return rc;
    char rules[96], dash[96];
    snprintf(rules, sizeof rules, "%s-alerts.yaml", opts->name);
    snprintf(dash, sizeof dash, "%s-dashboard.json", opts->name);
    const char *kinds[] = {"alerts", "dashboard"}, *files[] = {rules, dash};
    return emit_set(opts, dir, kinds, files, 2, d);
}

void fy_emit_opts_from_manifest(const fy_manifest *man, fy_emit_opts *opts)
{
    char *name = opts->name_storage;
    if (!man || !man->name)
        return;
    /* a DNS-1123 label from the manifest name: '.' and '_' become '-' */
    size_t k = 0;
    for (const char *p = man->name; *p && k < 63; p++)
        name[k++] = (*p == '.' || *p == '_') ? '-' : *p;
    while (k && name[k - 1] == '-')
        k--;
    name[k] = 0;
    opts->name = name;
    opts->model_name = man->name;
    opts->version = man->version;
    if (man->threads > 0)
        opts->cpu_millis = 1000 * man->threads;
    if (man->min_memory_mb > 0)
        opts->memory_mb = (uint64_t)man->min_memory_mb;
}

int fy_emit_image_ref(const fy_package *pkg, const char *registry, int digest, char *out, size_t n,
                      fy_diag *d)
{
    const fy_manifest *m = pkg ? fy_package_manifest(pkg) : NULL;
    if (!m)
        return fy__diag_set(d, FY_EINVAL, "no package");
    if (!registry || !registry[0] || registry[strlen(registry) - 1] == '/' || !image_ref(registry))
        return fy__diag_set(d, FY_EINVAL,
                            "registry '%.80s': like registry.example:5000/team (no trailing '/')",
                            registry ? registry : "");
    int w;
    if (digest)
        w = snprintf(out, n, "%s/%s@%s", registry, m->name, fy_package_digest(pkg));
    else {
        /* a tag is [A-Za-z0-9_.-]{1,128}: SemVer's '+' becomes '_' */
        char tag[129];
        size_t k = 0;
        for (const char *p = m->version; *p && k < 128; p++)
            tag[k++] = *p == '+' ? '_' : *p;
        tag[k] = 0;
        w = snprintf(out, n, "%s/%s:%s", registry, m->name, tag);
    }
    if (w < 0 || (size_t)w >= n)
        return fy__diag_set(d, FY_ELIMIT, "image reference longer than %zu bytes", n);
    return FY_OK;
}
