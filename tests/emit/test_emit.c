/* SPDX-License-Identifier: MIT */
/* Emitted deployment files, parsed back with libyaml and jansson and checked
 * structurally: kinds and apiVersions, selectors that match the pod labels and the
 * Service, probes on the server's health paths and named port, resources from the
 * manifest's requirements, autoscaling and disruption budgets consistent with the
 * replicas, the KServe alternative, the systemd unit, alert rules and the Grafana
 * dashboard; settings that could break out of a file are refused and nothing is
 * written. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "test.h"

typedef struct {
    yaml_document_t doc;
    int ok;
} ydoc;

static void yparse(ydoc *y, const char *text)
{
    yaml_parser_t p;
    memset(y, 0, sizeof *y);
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    y->ok = yaml_parser_load(&p, &y->doc) && yaml_document_get_root_node(&y->doc);
    yaml_parser_delete(&p);
}

static void yfree(ydoc *y)
{
    yaml_document_delete(&y->doc);
}

/* Follow a path like "spec.template.spec.containers.0.image". */
static yaml_node_t *yget(ydoc *y, const char *path)
{
    if (!y->ok)
        return NULL;
    yaml_node_t *n = yaml_document_get_root_node(&y->doc);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *k = strtok_r(buf, ".", &save); k && n; k = strtok_r(NULL, ".", &save)) {
        if (n->type == YAML_SEQUENCE_NODE) {
            long i = strtol(k, NULL, 10);
            yaml_node_item_t *it = n->data.sequence.items.start;
            n = i >= 0 && it + i < n->data.sequence.items.top
                    ? yaml_document_get_node(&y->doc, it[i])
                    : NULL;
        } else if (n->type == YAML_MAPPING_NODE) {
            yaml_node_t *found = NULL;
            for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
                 pr++) {
                yaml_node_t *key = yaml_document_get_node(&y->doc, pr->key);
                if (key && key->type == YAML_SCALAR_NODE &&
                    strcmp((const char *)key->data.scalar.value, k) == 0)
                    found = yaml_document_get_node(&y->doc, pr->value);
            }
            n = found;
        } else {
            n = NULL;
        }
    }
    return n;
}

static const char *ystr(ydoc *y, const char *path)
{
    yaml_node_t *n = yget(y, path);
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static long yint(ydoc *y, const char *path)
{
    const char *s = ystr(y, path);
    return s ? strtol(s, NULL, 10) : -999;
}

/* The scalar under key k of a mapping node (keys may hold dots). */
static const char *map_get(ydoc *y, yaml_node_t *m, const char *k)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = yaml_document_get_node(&y->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&y->doc, pr->value);
        if (key && v && key->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE &&
            strcmp((const char *)key->data.scalar.value, k) == 0)
            return (const char *)v->data.scalar.value;
    }
    return NULL;
}

/* Every key/value of mapping a is in mapping b (and a is not empty). */
static int subset(ydoc *ya, const char *pa, ydoc *yb, const char *pb)
{
    yaml_node_t *a = yget(ya, pa), *b = yget(yb, pb);
    if (!a || a->type != YAML_MAPPING_NODE ||
        a->data.mapping.pairs.start == a->data.mapping.pairs.top)
        return 0;
    for (yaml_node_pair_t *pr = a->data.mapping.pairs.start; pr < a->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&ya->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(&ya->doc, pr->value);
        const char *other = map_get(yb, b, (const char *)k->data.scalar.value);
        if (!other || v->type != YAML_SCALAR_NODE ||
            strcmp(other, (const char *)v->data.scalar.value) != 0)
            return 0;
    }
    return 1;
}

static fy_emit_opts base_opts(void)
{
    fy_emit_opts o;
    memset(&o, 0, sizeof o);
    o.name = "fashion-cnn";
    o.model_name = "fashion-cnn";
    o.version = "1.0.0+build.7";
    o.image = "registry.example/ml/fashion-cnn:1.0.0";
    o.cpu_millis = 2000;
    o.memory_mb = 300;
    o.replicas = 3;
    o.max_replicas = 8;
    o.auth_secret = "fashion-keys";
    o.namespace_ = "ml";
    o.package_path = "/var/lib/ferry/fashion-cnn-1.0.0.ferry";
    return o;
}

static char *emit(const fy_emit_opts *o, const char *which)
{
    char *t = NULL;
    fy_diag d = {{0}};
    int rc = fy_emit_text(o, which, &t, &d);
    if (rc != FY_OK)
        fprintf(stderr, "%s: %s\n", which, d.msg);
    FY_CHECK_EQ(rc, FY_OK);
    return t;
}

TEST(deployment_service_hpa_pdb_agree)
{
    fy_emit_opts o = base_opts();
    char *td = emit(&o, "deployment"), *ts = emit(&o, "service"), *th = emit(&o, "hpa"),
         *tp = emit(&o, "pdb");
    if (!td || !ts || !th || !tp)
        return;
    ydoc dep, svc, hpa, pdb;
    yparse(&dep, td);
    yparse(&svc, ts);
    yparse(&hpa, th);
    yparse(&pdb, tp);
    FY_CHECK(dep.ok && svc.ok && hpa.ok && pdb.ok);
    FY_CHECK_STR(ystr(&dep, "apiVersion"), "apps/v1");
    FY_CHECK_STR(ystr(&dep, "kind"), "Deployment");
    FY_CHECK_STR(ystr(&dep, "metadata.name"), "fashion-cnn");
    FY_CHECK_STR(ystr(&dep, "metadata.namespace"), "ml");
    FY_CHECK_EQ(yint(&dep, "spec.replicas"), 3);
    /* the selector picks the pods of the template */
    FY_CHECK(subset(&dep, "spec.selector.matchLabels", &dep, "spec.template.metadata.labels"));
    const char *c0 = "spec.template.spec.containers.0";
    char p[256];
    snprintf(p, sizeof p, "%s.image", c0);
    FY_CHECK_STR(ystr(&dep, p), "registry.example/ml/fashion-cnn:1.0.0");
    snprintf(p, sizeof p, "%s.ports.0.name", c0);
    FY_CHECK_STR(ystr(&dep, p), "http");
    snprintf(p, sizeof p, "%s.ports.0.containerPort", c0);
    FY_CHECK_EQ(yint(&dep, p), 8080);
    static const char *const probes[][2] = {{"startupProbe", "/v2/health/ready"},
                                            {"readinessProbe", "/v2/health/ready"},
                                            {"livenessProbe", "/v2/health/live"}};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s.%s.httpGet.path", c0, probes[i][0]);
        FY_CHECK_STR(ystr(&dep, p), probes[i][1]);
        snprintf(p, sizeof p, "%s.%s.httpGet.port", c0, probes[i][0]);
        FY_CHECK_STR(ystr(&dep, p), "http");
    }
    snprintf(p, sizeof p, "%s.resources.requests.cpu", c0);
    FY_CHECK_STR(ystr(&dep, p), "2000m");
    snprintf(p, sizeof p, "%s.resources.requests.memory", c0);
    FY_CHECK_STR(ystr(&dep, p), "300Mi");
    snprintf(p, sizeof p, "%s.resources.limits.memory", c0);
    FY_CHECK_STR(ystr(&dep, p), "600Mi");
    snprintf(p, sizeof p, "%s.resources.limits.cpu", c0);
    FY_CHECK(ystr(&dep, p) == NULL);
    /* the server listens on the port the probes use, on all interfaces, with keys */
    snprintf(p, sizeof p, "%s.args", c0);
    yaml_node_t *args = yget(&dep, p);
    FY_CHECK(args && args->type == YAML_SEQUENCE_NODE);
    char joined[512] = "";
    for (int i = 0; args && i < 12; i++) {
        snprintf(p, sizeof p, "%s.args.%d", c0, i);
        const char *a = ystr(&dep, p);
        if (!a)
            break;
        size_t jl = strlen(joined);
        snprintf(joined + jl, sizeof joined - jl, "%s ", a);
    }
    FY_CHECK_STR(joined, "serve /ferry --host 0.0.0.0 --port 8080 --keys /etc/ferry/keys/keys ");
    FY_CHECK_STR(ystr(&dep, "spec.template.spec.volumes.1.secret.secretName"), "fashion-keys");
    FY_CHECK_EQ(yint(&dep, "spec.template.spec.terminationGracePeriodSeconds"), 45);
    FY_CHECK_STR(
        map_get(&dep, yget(&dep, "spec.template.metadata.annotations"), "prometheus.io/port"),
        "8080");

    FY_CHECK_STR(ystr(&svc, "apiVersion"), "v1");
    FY_CHECK_STR(ystr(&svc, "kind"), "Service");
    FY_CHECK(subset(&svc, "spec.selector", &dep, "spec.selector.matchLabels"));
    FY_CHECK(subset(&dep, "spec.selector.matchLabels", &svc, "spec.selector"));
    FY_CHECK_STR(ystr(&svc, "spec.ports.0.targetPort"), "http");

    FY_CHECK_STR(ystr(&hpa, "apiVersion"), "autoscaling/v2");
    FY_CHECK_STR(ystr(&hpa, "kind"), "HorizontalPodAutoscaler");
    FY_CHECK_STR(ystr(&hpa, "spec.scaleTargetRef.kind"), "Deployment");
    FY_CHECK_STR(ystr(&hpa, "spec.scaleTargetRef.name"), "fashion-cnn");
    FY_CHECK_EQ(yint(&hpa, "spec.minReplicas"), 3);
    FY_CHECK_EQ(yint(&hpa, "spec.maxReplicas"), 8);
    FY_CHECK_STR(ystr(&hpa, "spec.metrics.0.resource.target.type"), "Utilization");
    FY_CHECK_EQ(yint(&hpa, "spec.metrics.0.resource.target.averageUtilization"), 70);

    FY_CHECK_STR(ystr(&pdb, "apiVersion"), "policy/v1");
    FY_CHECK_STR(ystr(&pdb, "kind"), "PodDisruptionBudget");
    FY_CHECK_EQ(yint(&pdb, "spec.minAvailable"), 2);
    FY_CHECK(subset(&pdb, "spec.selector.matchLabels", &dep, "spec.selector.matchLabels"));
    FY_CHECK(yint(&pdb, "spec.minAvailable") <= yint(&dep, "spec.replicas"));

    yfree(&dep);
    yfree(&svc);
    yfree(&hpa);
    yfree(&pdb);
    free(td);
    free(ts);
    free(th);
    free(tp);
}

TEST(labels_are_valid_values)
{
    fy_emit_opts o = base_opts();
    char *t = emit(&o, "deployment");
    if (!t)
        return;
    ydoc y;
    yparse(&y, t);
    yaml_node_t *l = yget(&y, "metadata.labels");
    FY_CHECK(l && l->type == YAML_MAPPING_NODE);
    int seen_version = 0;
    for (yaml_node_pair_t *pr = l ? l->data.mapping.pairs.start : NULL;
         l && pr < l->data.mapping.pairs.top; pr++) {
        const char *k = (const char *)yaml_document_get_node(&y.doc, pr->key)->data.scalar.value;
        const char *v = (const char *)yaml_document_get_node(&y.doc, pr->value)->data.scalar.value;
        FY_CHECK(strlen(v) <= 63);
        for (const char *c = v; *c; c++)
            FY_CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-');
        if (strcmp(k, "app.kubernetes.io/version") == 0) {
            seen_version = 1;
            FY_CHECK_STR(v, "1.0.0_build.7");
        }
    }
    FY_CHECK(seen_version);
    yfree(&y);
    free(t);
}

TEST(kserve_alternative)
{
    fy_emit_opts o = base_opts();
    o.auth_secret = NULL;
    char *t = emit(&o, "inferenceservice");
    if (!t)
        return;
    ydoc y;
    yparse(&y, t);
    FY_CHECK(y.ok);
    FY_CHECK_STR(ystr(&y, "apiVersion"), "serving.kserve.io/v1beta1");
    FY_CHECK_STR(ystr(&y, "kind"), "InferenceService");
    FY_CHECK_EQ(yint(&y, "spec.predictor.minReplicas"), 3);
    FY_CHECK_EQ(yint(&y, "spec.predictor.maxReplicas"), 8);
    FY_CHECK_STR(ystr(&y, "spec.predictor.containers.0.name"), "kserve-container");
    FY_CHECK_STR(ystr(&y, "spec.predictor.containers.0.image"),
                 "registry.example/ml/fashion-cnn:1.0.0");
    FY_CHECK_STR(ystr(&y, "spec.predictor.containers.0.readinessProbe.httpGet.path"),
                 "/v2/health/ready");
    FY_CHECK(strstr(t, "--keys") == NULL);
    yfree(&y);
    free(t);
}

TEST(systemd_unit_and_env)
{
    fy_emit_opts o = base_opts();
    o.keys_file = "/etc/ferry/keys";
    o.port = 9000;
    char *u = emit(&o, "systemd-unit"), *e = emit(&o, "systemd-env");
    if (!u || !e)
        return;
    FY_CHECK_CONTAINS(u, "\nExecStart=/usr/local/bin/ferry serve ${FERRY_PACKAGE} --host "
                         "${FERRY_HOST} --port ${FERRY_PORT} $FERRY_ARGS\n");
    FY_CHECK_CONTAINS(u, "\nEnvironmentFile=/etc/ferry/fashion-cnn.env\n");
    FY_CHECK_CONTAINS(u, "\nExecReload=/bin/kill -HUP $MAINPID\n");
    FY_CHECK_CONTAINS(u, "\nRestart=on-failure\n");
    FY_CHECK_CONTAINS(u, "\nMemoryMax=600M\n");
    FY_CHECK_CONTAINS(u, "\n[Install]\nWantedBy=multi-user.target\n");
    FY_CHECK_CONTAINS(e, "\nFERRY_PACKAGE=/var/lib/ferry/fashion-cnn-1.0.0.ferry\n");
    FY_CHECK_CONTAINS(e, "\nFERRY_PORT=9000\n");
    FY_CHECK_CONTAINS(e, "\nFERRY_ARGS=--keys /etc/ferry/keys\n");
    free(u);
    free(e);
}

TEST(alerts_and_dashboard)
{
    fy_emit_opts o = base_opts();
    o.alert_p99_ms = 250;
    o.alert_selector = "namespace=\"ml\",service=\"fashion-cnn\"";
    char *a = emit(&o, "alerts"), *j = emit(&o, "dashboard");
    if (!a || !j)
        return;
    ydoc y;
    yparse(&y, a);
    FY_CHECK(y.ok);
    static const char *const names[] = {"FerryHighErrorRate",  "FerryHighLatencyP99",
                                        "FerryDown",           "FerryModelNotReady",
                                        "FerryWorkerRestarts", "FerryQueueBacklog"};
    for (int i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof p, "groups.0.rules.%d.alert", i);
        FY_CHECK_STR(ystr(&y, p), names[i]);
        snprintf(p, sizeof p, "groups.0.rules.%d.expr", i);
        FY_CHECK_CONTAINS(ystr(&y, p), "{namespace=\"ml\",service=\"fashion-cnn\"");
    }
    FY_CHECK_CONTAINS(ystr(&y, "groups.0.rules.1.expr"), "> 0.25");
    FY_CHECK_CONTAINS(ystr(&y, "groups.0.rules.4.expr"), "ferry_worker_restarts_total");
    yfree(&y);
    json_error_t err;
    json_t *dj = json_loads(j, 0, &err);
    FY_CHECK(dj != NULL);
    json_t *panels = json_object_get(dj, "panels");
    FY_CHECK(json_array_size(panels) == 10);
    size_t i;
    json_t *pnl;
    json_array_foreach(panels, i, pnl)
    {
        json_t *tg = json_object_get(pnl, "targets");
        FY_CHECK(json_array_size(tg) >= 1);
        FY_CHECK_CONTAINS(json_string_value(json_object_get(json_array_get(tg, 0), "expr")),
                          "service=\"fashion-cnn\"");
    }
    json_decref(dj);
    free(a);
    free(j);
}

TEST(refuses_breakouts_and_writes_nothing)
{
    fy_diag d = {{0}};
    char *t = NULL;
    struct {
        const char *field, *value;
    } bad[] = {{"name", "Fashion"},
               {"name", "a\nkind: Secret"},
               {"name", "-x"},
               {"name", "a_b"},
               {"image", "x:1\n  privileged: true"},
               {"image", "x y"},
               {"image", "\"x\""},
               {"namespace", "ml\nx"},
               {"auth_secret", "keys\"]"},
               {"model_name", "../x"},
               {"alert_selector", "job=\"x\"} or vector(1) #"},
               {"alert_selector", "job=x"},
               {"package_path", "relative.ferry"},
               {"package_path", "/var/lib/ferry/x y.ferry"},
               {"package_path", "/var/lib/%n.ferry"},
               {"package_path", "/var/lib/$HOME"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fy_emit_opts o = base_opts();
        if (!strcmp(bad[i].field, "name"))
            o.name = bad[i].value;
        else if (!strcmp(bad[i].field, "image"))
            o.image = bad[i].value;
        else if (!strcmp(bad[i].field, "namespace"))
            o.namespace_ = bad[i].value;
        else if (!strcmp(bad[i].field, "auth_secret"))
            o.auth_secret = bad[i].value;
        else if (!strcmp(bad[i].field, "model_name"))
            o.model_name = bad[i].value;
        else if (!strcmp(bad[i].field, "alert_selector"))
            o.alert_selector = bad[i].value;
        else
            o.package_path = bad[i].value;
        const char *which = !strcmp(bad[i].field, "package_path")     ? "systemd-unit"
                            : !strcmp(bad[i].field, "alert_selector") ? "alerts"
                                                                      : "deployment";
        int rc = fy_emit_text(&o, which, &t, &d);
        if (rc != FY_EINVAL)
            fprintf(stderr, "accepted %s = %s\n", bad[i].field, bad[i].value);
        FY_CHECK_EQ(rc, FY_EINVAL);
    }
    fy_emit_opts o = base_opts();
    o.min_replicas = 5;
    o.max_replicas = 2;
    FY_CHECK_EQ(fy_emit_text(&o, "hpa", &t, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "min replicas 5");
    o = base_opts();
    o.port = 70000;
    FY_CHECK_EQ(fy_emit_text(&o, "service", &t, &d), FY_EINVAL);
    FY_CHECK_EQ(fy_emit_text(&o, "nonsense", &t, &d), FY_EINVAL);

    /* a refused setting leaves the folder without files */
    char dir[] = "/tmp/ferry-emit-XXXXXX";
    FY_CHECK(mkdtemp(dir) != NULL);
    o = base_opts();
    o.image = NULL;
    FY_CHECK_EQ(fy_emit_kubernetes(&o, dir, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "image");
    char p[128];
    snprintf(p, sizeof p, "%s/deployment.yaml", dir);
    FY_CHECK(access(p, F_OK) != 0);
    o = base_opts();
    FY_CHECK_EQ(fy_emit_kubernetes(&o, dir, &d), FY_OK);
    FY_CHECK(access(p, F_OK) == 0);
    snprintf(p, sizeof p, "%s/kserve/inferenceservice.yaml", dir);
    FY_CHECK(access(p, F_OK) == 0);
    FY_CHECK_EQ(fy_emit_systemd(&o, dir, &d), FY_OK);
    FY_CHECK_EQ(fy_emit_monitoring(&o, dir, &d), FY_OK);
    /* a file where the folder should be */
    snprintf(p, sizeof p, "%s/deployment.yaml/sub", dir);
    FY_CHECK_EQ(fy_emit_kubernetes(&o, p, &d), FY_EIO);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    FY_CHECK_EQ(system(cmd), 0);
}

TEST(from_manifest)
{
    const char *yaml = "apiVersion: ferry/v1\nname: my_model.v2\nversion: 2.1.0\nmodel:\n"
                       "  file: m.onnx\nsignature:\n  inputs:\n    - {name: x, dtype: float32, "
                       "shape: [N, 4]}\n  outputs:\n    - {name: y, dtype: float32, shape: [N, "
                       "2]}\nrequirements:\n  threads: 3\n  min_memory_mb: 512\n";
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_manifest_parse(&m, yaml, strlen(yaml), "t.yaml", &d), FY_OK);
    if (!m) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    fy_emit_opts o;
    memset(&o, 0, sizeof o);
    fy_emit_opts_from_manifest(m, &o);
    FY_CHECK_STR(o.name, "my-model-v2");
    FY_CHECK_STR(o.model_name, "my_model.v2");
    FY_CHECK_STR(o.version, "2.1.0");
    FY_CHECK_EQ(o.cpu_millis, 3000);
    FY_CHECK_EQ(o.memory_mb, 512);
    o.image = "r/x:1";
    char *t = emit(&o, "deployment");
    FY_CHECK_CONTAINS(t, "cpu: \"3000m\"");
    FY_CHECK_CONTAINS(t, "memory: \"512Mi\"");
    free(t);
    fy_manifest_free(m);
}

/* Every allocation failure is FY_ENOMEM with nothing leaked (ASan checks leaks). */
TEST(allocation_failures)
{
    static const char *const kinds[] = {"deployment",  "service",          "hpa",
                                        "pdb",         "inferenceservice", "systemd-unit",
                                        "systemd-env", "alerts",           "dashboard"};
    fy_emit_opts o = base_opts();
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int done = 0;
        for (long n = 1; n < 64 && !done; n++) {
            char *t = NULL;
            fy_diag d = {{0}};
            fy__alloc_fail_at(n);
            int rc = fy_emit_text(&o, kinds[k], &t, &d);
            fy__alloc_fail_at(0);
            if (rc == FY_OK) {
                done = 1;
                free(t);
            } else {
                FY_CHECK_EQ(rc, FY_ENOMEM);
            }
        }
        FY_CHECK(done);
    }
}

int main(void)
{
    RUN(deployment_service_hpa_pdb_agree);
    RUN(labels_are_valid_values);
    RUN(kserve_alternative);
    RUN(systemd_unit_and_env);
    RUN(alerts_and_dashboard);
    RUN(refuses_breakouts_and_writes_nothing);
    RUN(from_manifest);
    RUN(allocation_failures);
    return TEST_SUMMARY();
}
