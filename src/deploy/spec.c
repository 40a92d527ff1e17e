/* SPDX-License-Identifier: MIT */
/* deploy.yaml: hostile YAML bytes to a validated fy_deploy_spec. libyaml's document
 * API builds the node tree (with line marks) after a first pass over the events has
 * bounded depth and size and refused anchors, aliases and tags; a schema walk reads it. Every error
 * is "FILE:LINE: FIELD: RULE". Schema: docs/deploy.md. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../core/core.h"
#include "deploy_int.h"

#define MAX_STRING 4096
#define PATHLEN 160
#define MAX_DEPTH 8     /* the schema nests 5 levels (root, verify, smoke, item, list) */
#define MAX_NODES 20000 /* bounds the tree a 256 KiB flow list could build */

typedef struct sctx {
    const char *file;
    char dir[4096]; /* folder of the spec, "" for the current one */
    yaml_document_t *doc;
    fy_diag *d;
} sctx;

__attribute__((format(printf, 5, 6))) static int fail(sctx *c, int code, int line, const char *path,
                                                      const char *fmt, ...)
{
    if (c->d) {
        char rule[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rule, sizeof rule, fmt, ap);
        va_end(ap);
        fy__diag_set(c->d, code, "%s:%d: %s: %s", c->file, line,
                     path && *path ? path : "(document)", rule);
    }
    return code;
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

/* Printable, bounded copy of a hostile scalar for messages. */
static const char *show(char *buf, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 48) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            buf[o++] = (char)ch;
        else
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
    }
    buf[o] = 0;
    return buf;
}

static const char *join(char *out, const char *parent, const char *key)
{
    snprintf(out, PATHLEN, "%s%s%s", parent, *parent ? "." : "", key);
    return out;
}

static int lev(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int row[41], prev[41];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int best = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
        }
        memcpy(prev, row, sizeof row);
    }
    return prev[lb];
}

static const char *kind_name(const yaml_node_t *n, char *buf, size_t sz)
{
    char v[80];
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (n->type != YAML_SCALAR_NODE)
        return "nothing";
    snprintf(buf, sz, "'%s'",
             show(v, sizeof v, (const char *)n->data.scalar.value, n->data.scalar.length));
    return buf;
}

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || !strcmp(s, "~") || !strcmp(s, "null") ||
           !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* n must be a mapping whose keys are plain strings from keys[], each once. vals[i]
 * receives the value of keys[i] (NULL when absent or null). */
static int map_fields(sctx *c, yaml_node_t *n, const char *path, const char *const *keys,
                      yaml_node_t **vals)
{
    char p[PATHLEN], v[80], k[80];
    int nk = 0;
    while (keys[nk])
        vals[nk++] = NULL;
    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(c, FY_EINVAL, n ? line_of(n) : 1, path, "must be a mapping of fields, got %s",
                    n ? kind_name(n, v, sizeof v) : "nothing");
    int seen[64] = {0};
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *val = yaml_document_get_node(c->doc, pr->value);
        if (!key || !val)
            return fail(c, FY_EPARSE, line_of(n), path, "broken mapping");
        if (key->type != YAML_SCALAR_NODE)
            return fail(c, FY_EINVAL, line_of(key), path, "keys must be plain strings, not %s",
                        kind_name(key, v, sizeof v));
        const char *ks = (const char *)key->data.scalar.value;
        show(k, sizeof k, ks, key->data.scalar.length);
        int found = -1;
        for (int j = 0; j < nk; j++)
            if (strlen(keys[j]) == key->data.scalar.length && !strcmp(ks, keys[j]))
                found = j;
        if (found < 0) {
            const char *best = NULL;
            int bd = 99;
            for (int j = 0; j < nk; j++) {
                int dd = lev(ks, keys[j]);
                if (dd < bd)
                    bd = dd, best = keys[j];
            }
            char h[96] = "";
            if (best && bd <= 3 && bd < (int)strlen(best))
                snprintf(h, sizeof h, " (did you mean '%s'?)", best);
            else {
                size_t o = (size_t)snprintf(h, sizeof h, " (known:");
                for (int j = 0; j < nk && o + 24 < sizeof h; j++)
                    o += (size_t)snprintf(h + o, sizeof h - o, " %s", keys[j]);
                snprintf(h + o, sizeof h - o, ")");
            }
            return fail(c, FY_EINVAL, line_of(key), join(p, path, k), "unknown field%s", h);
        }
        if (seen[found])
            return fail(c, FY_EPARSE, line_of(key), join(p, path, k), "duplicate key");
        seen[found] = 1;
        vals[found] = is_null(val) ? NULL : val;
    }
    return FY_OK;
}

static int get_str(sctx *c, yaml_node_t *n, const char *path, char **out)
{
    char v[80];
    if (n->type != YAML_SCALAR_NODE)
        return fail(c, FY_EINVAL, line_of(n), path, "must be a string, got %s",
                    kind_name(n, v, sizeof v));
    size_t len = n->data.scalar.length;
    const unsigned char *s = n->data.scalar.value;
    if (len > MAX_STRING)
        return fail(c, FY_ELIMIT, line_of(n), path, "%zu bytes, above the limit of %d", len,
                    MAX_STRING);
    if (len == 0)
        return fail(c, FY_EINVAL, line_of(n), path, "must not be empty");
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return fail(c, FY_EINVAL, line_of(n), path, "control character 0x%02x at byte %zu",
                        s[i], i);
    char *r = fy__strndup((const char *)s, len);
    if (!r)
        return fail(c, FY_ENOMEM, line_of(n), path, "out of memory");
    fy__free(*out);
    *out = r;
    return FY_OK;
}

/* A path field, resolved against the spec's folder. */
static int get_path(sctx *c, yaml_node_t *n, const char *path, char **out)
{
    char *raw = NULL;
    int rc = get_str(c, n, path, &raw);
    if (rc)
        return rc;
    if (raw[0] == '/' || !c->dir[0]) {
        *out = raw;
        return FY_OK;
    }
    size_t need = strlen(c->dir) + 1 + strlen(raw) + 1;
    char *r = fy__malloc(need);
    if (!r) {
        fy__free(raw);
        return fail(c, FY_ENOMEM, line_of(n), path, "out of memory");
    }
    snprintf(r, need, "%s/%s", c->dir, raw);
    fy__free(raw);
    fy__free(*out);
    *out = r;
    return FY_OK;
}

static int get_int(sctx *c, yaml_node_t *n, const char *path, long long lo, long long hi,
                   long long *out)
{
    char v[80];
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(c, FY_EINVAL, line_of(n), path, "must be an integer, got %s",
                    kind_name(n, v, sizeof v));
    const char *s = (const char *)n->data.scalar.value;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno || isspace((unsigned char)*s))
        return fail(c, FY_EINVAL, line_of(n), path, "must be an integer, got %s",
                    kind_name(n, v, sizeof v));
    if (x < lo || x > hi)
        return fail(c, FY_EINVAL, line_of(n), path, "must be between %lld and %lld, got %lld", lo,
                    hi, x);
    *out = x;
    return FY_OK;
}

static int get_intv(sctx *c, yaml_node_t *n, const char *path, long long lo, long long hi, int *out)
{
    long long x;
    int rc = get_int(c, n, path, lo, hi, &x);
    if (rc == FY_OK)
        *out = (int)x;
    return rc;
}

static int get_num(sctx *c, yaml_node_t *n, const char *path, double lo, double hi, double *out)
{
    char v[80];
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(c, FY_EINVAL, line_of(n), path, "must be a number, got %s",
                    kind_name(n, v, sizeof v));
    const char *s = (const char *)n->data.scalar.value;
    int ok = *s != 0;
    for (const char *q = s; *q; q++)
        if (!isdigit((unsigned char)*q) && !strchr("+-.eE", *q))
            ok = 0;
    char *end;
    double x = ok ? strtod(s, &end) : 0;
    if (!ok || *end || !isfinite(x))
        return fail(c, FY_EINVAL, line_of(n), path, "must be a number, got %s",
                    kind_name(n, v, sizeof v));
    if (x < lo || x > hi)
        return fail(c, FY_EINVAL, line_of(n), path, "must be between %g and %g, got %g", lo, hi, x);
    *out = x;
    return FY_OK;
}

static int get_list(sctx *c, yaml_node_t *n, const char *path, int max, int *count)
{
    char v[80];
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(c, FY_EINVAL, line_of(n), path, "must be a list, got %s",
                    kind_name(n, v, sizeof v));
    long cnt = n->data.sequence.items.top - n->data.sequence.items.start;
    if (cnt > max)
        return fail(c, FY_ELIMIT, line_of(n), path, "%ld entries, above the limit of %d", cnt, max);
    *count = (int)cnt;
    return FY_OK;
}

static yaml_node_t *item(sctx *c, yaml_node_t *seq, int i)
{
    return yaml_document_get_node(c->doc, seq->data.sequence.items.start[i]);
}

/* One of names[] (NULL-terminated): its index. */
static int get_enum(sctx *c, yaml_node_t *n, const char *path, const char *const *names, int *out)
{
    char v[80], list[160] = "";
    if (n->type == YAML_SCALAR_NODE)
        for (int i = 0; names[i]; i++)
            if (!strcmp((const char *)n->data.scalar.value, names[i])) {
                *out = i;
                return FY_OK;
            }
    size_t o = 0;
    for (int i = 0; names[i]; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
    return fail(c, FY_EINVAL, line_of(n), path, "must be one of %s, got %s", list,
                kind_name(n, v, sizeof v));
}

static int valid_service(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return 0;
    return s[n - 1] != '-';
}

int fy__deploy_valid_name(const char *s)
{
    return s && valid_service(s);
}

/* ------------------------------------------------------------------------- */
/* Sections                                                                   */
/* ------------------------------------------------------------------------- */

static int parse_model(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {"package", "path", "key", "trusted_key", NULL};
    yaml_node_t *v[4];
    int rc = map_fields(c, n, "model", keys, v);
    if (rc)
        return rc;
    if (v[0] && v[1])
        return fail(c, FY_EINVAL, line_of(v[1]), "model.path",
                    "give either model.package or model.path, not both");
    if (!v[0] && !v[1])
        return fail(c, FY_EINVAL, line_of(n), "model",
                    "needs package (a .ferry file) or path (a folder with ferry.yaml)");
    if (v[0] && (rc = get_path(c, v[0], "model.package", &s->package)))
        return rc;
    if (v[1] && (rc = get_path(c, v[1], "model.path", &s->manifest)))
        return rc;
    if (v[2] && !v[1])
        return fail(c, FY_EINVAL, line_of(v[2]), "model.key",
                    "signs while packing: only with model.path");
    if (v[2] && (rc = get_path(c, v[2], "model.key", &s->sign_key)))
        return rc;
    if (v[3] && (rc = get_path(c, v[3], "model.trusted_key", &s->trusted_key)))
        return rc;
    return FY_OK;
}

static int parse_requirements(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {"min_memory_mb", "min_disk_mb", "min_cores", "cpu_features",
                                       NULL};
    yaml_node_t *v[4];
    char p[PATHLEN];
    long long x;
    int rc = map_fields(c, n, "requirements", keys, v);
    if (rc)
        return rc;
    if (v[0] && (rc = get_int(c, v[0], "requirements.min_memory_mb", 0, 1LL << 30, &x)) == FY_OK)
        s->min_memory_mb = x;
    if (rc)
        return rc;
    if (v[1] && (rc = get_int(c, v[1], "requirements.min_disk_mb", 0, 1LL << 30, &x)) == FY_OK)
        s->min_disk_mb = x;
    if (rc)
        return rc;
    if (v[2] && (rc = get_intv(c, v[2], "requirements.min_cores", 0, 4096, &s->min_cores)))
        return rc;
    if (v[3]) {
        int cnt;
        if ((rc = get_list(c, v[3], "requirements.cpu_features", 64, &cnt)))
            return rc;
        s->cpu_features = fy__calloc((size_t)cnt + 1, sizeof *s->cpu_features);
        if (!s->cpu_features)
            return fail(c, FY_ENOMEM, line_of(v[3]), "requirements.cpu_features", "out of memory");
        for (int i = 0; i < cnt; i++) {
            snprintf(p, sizeof p, "requirements.cpu_features[%d]", i);
            if ((rc = get_str(c, item(c, v[3], i), p, &s->cpu_features[i])))
                return rc;
            s->n_cpu_features = i + 1;
            for (const char *q = s->cpu_features[i]; *q; q++)
                if (!islower((unsigned char)*q) && !isdigit((unsigned char)*q) && *q != '_')
                    return fail(c, FY_EINVAL, line_of(item(c, v[3], i)), p,
                                "a CPU feature is lowercase letters, digits and _ (like avx2)");
        }
    }
    return FY_OK;
}

static int parse_serving(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {
        "host",      "port",     "replicas", "threads", "max_batch_size", "max_queue_delay_us",
        "keys_file", "tls_cert", "tls_key",  NULL};
    yaml_node_t *v[9];
    int rc = map_fields(c, n, "serving", keys, v);
    if (rc)
        return rc;
    if (v[0] && (rc = get_str(c, v[0], "serving.host", &s->host)))
        return rc;
    if (v[0]) {
        for (const char *q = s->host; *q; q++)
            if (!isalnum((unsigned char)*q) && !strchr(".:-", *q))
                return fail(c, FY_EINVAL, line_of(v[0]), "serving.host",
                            "must be an IP address or host name, got '%s'", s->host);
    }
    if (v[1] && (rc = get_intv(c, v[1], "serving.port", 1, 65535, &s->port)))
        return rc;
    if (v[2] &&
        (rc = get_intv(c, v[2], "serving.replicas", 1, FY_DEPLOY_MAX_REPLICAS, &s->replicas)))
        return rc;
    if (v[3] && (rc = get_intv(c, v[3], "serving.threads", 1, 256, &s->threads)))
        return rc;
    if (v[4] && (rc = get_intv(c, v[4], "serving.max_batch_size", 1, 65536, &s->max_batch_size)))
        return rc;
    if (v[5] &&
        (rc = get_intv(c, v[5], "serving.max_queue_delay_us", 0, 10000000, &s->max_queue_delay_us)))
        return rc;
    if (v[6] && (rc = get_path(c, v[6], "serving.keys_file", &s->keys_file)))
        return rc;
    if (v[7] && (rc = get_path(c, v[7], "serving.tls_cert", &s->tls_cert)))
        return rc;
    if (v[8] && (rc = get_path(c, v[8], "serving.tls_key", &s->tls_key)))
        return rc;
    if (!v[7] != !v[8])
        return fail(c, FY_EINVAL, line_of(v[7] ? v[7] : v[8]),
                    v[7] ? "serving.tls_key" : "serving.tls_cert",
                    "serving.tls_cert and serving.tls_key go together (HTTPS needs both)");
    return FY_OK;
}

static int parse_strategy(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {"type",           "steps",           "step_seconds",
                                       "max_error_rate", "start_timeout_s", NULL};
    static const char *const types[] = {"blue-green", "canary", "recreate", NULL};
    yaml_node_t *v[5];
    char p[PATHLEN];
    int rc, t = 0;
    if (n->type == YAML_SCALAR_NODE) { /* strategy: blue-green */
        if ((rc = get_enum(c, n, "strategy", types, &t)))
            return rc;
        s->strategy = (fy_strategy)t;
    } else {
        if ((rc = map_fields(c, n, "strategy", keys, v)))
            return rc;
        if (!v[0])
            return fail(c, FY_EINVAL, line_of(n), "strategy.type", "is required");
        if ((rc = get_enum(c, v[0], "strategy.type", types, &t)))
            return rc;
        s->strategy = (fy_strategy)t;
        if (v[1]) {
            if (s->strategy != FY_STRATEGY_CANARY)
                return fail(c, FY_EINVAL, line_of(v[1]), "strategy.steps",
                            "traffic steps need type: canary");
            int cnt;
            if ((rc = get_list(c, v[1], "strategy.steps", FY_DEPLOY_MAX_STEPS, &cnt)))
                return rc;
            if (cnt == 0)
                return fail(c, FY_EINVAL, line_of(v[1]), "strategy.steps", "must not be empty");
            for (int i = 0; i < cnt; i++) {
                snprintf(p, sizeof p, "strategy.steps[%d]", i);
                if ((rc = get_intv(c, item(c, v[1], i), p, 1, 100, &s->steps[i])))
                    return rc;
                if (i > 0 && s->steps[i] <= s->steps[i - 1])
                    return fail(c, FY_EINVAL, line_of(item(c, v[1], i)), p,
                                "steps must rise (%d after %d)", s->steps[i], s->steps[i - 1]);
            }
            s->n_steps = cnt;
            if (s->steps[cnt - 1] != 100) {
                if (cnt == FY_DEPLOY_MAX_STEPS)
                    return fail(c, FY_EINVAL, line_of(v[1]), "strategy.steps", "must end at 100");
                s->steps[s->n_steps++] = 100;
            }
        }
        if (v[2] && (rc = get_num(c, v[2], "strategy.step_seconds", 0, 3600, &s->step_seconds)))
            return rc;
        if (v[3] && (rc = get_num(c, v[3], "strategy.max_error_rate", 0, 1, &s->max_error_rate)))
            return rc;
        if (v[4] &&
            (rc = get_num(c, v[4], "strategy.start_timeout_s", 1, 3600, &s->start_timeout_s)))
            return rc;
    }
    if (s->strategy == FY_STRATEGY_CANARY && s->n_steps == 0) {
        s->steps[0] = 10, s->steps[1] = 50, s->steps[2] = 100;
        s->n_steps = 3;
    }
    return FY_OK;
}

static int parse_smoke(sctx *c, yaml_node_t *n, const char *path, fy_smoke *m)
{
    static const char *const keys[] = {"name",         "path",          "body",
                                       "body_file",    "expect_status", "expect_contains",
                                       "expect_label", "expect_class",  NULL};
    yaml_node_t *v[8];
    char p[PATHLEN];
    int rc = map_fields(c, n, path, keys, v);
    if (rc)
        return rc;
    if (v[0] && (rc = get_str(c, v[0], join(p, path, "name"), &m->name)))
        return rc;
    if (v[1] && (rc = get_str(c, v[1], join(p, path, "path"), &m->path)))
        return rc;
    if (m->path && (m->path[0] != '/' || strchr(m->path, ' ') || strstr(m->path, "..")))
        return fail(c, FY_EINVAL, line_of(v[1]), join(p, path, "path"),
                    "must be an absolute URL path like /predict, without spaces or '..'");
    if (v[2] && (rc = get_str(c, v[2], join(p, path, "body"), &m->body)))
        return rc;
    if (v[3] && (rc = get_path(c, v[3], join(p, path, "body_file"), &m->body_file)))
        return rc;
    if (!v[2] == !v[3])
        return fail(c, FY_EINVAL, line_of(n), join(p, path, "body"),
                    "give exactly one of body (inline JSON) and body_file");
    m->expect_status = 200;
    if (v[4] &&
        (rc = get_intv(c, v[4], join(p, path, "expect_status"), 100, 599, &m->expect_status)))
        return rc;
    if (v[5] && (rc = get_str(c, v[5], join(p, path, "expect_contains"), &m->expect_contains)))
        return rc;
    if (v[6] && (rc = get_str(c, v[6], join(p, path, "expect_label"), &m->expect_label)))
        return rc;
    m->expect_class = -1;
    if (v[7] &&
        (rc = get_intv(c, v[7], join(p, path, "expect_class"), 0, 1 << 30, &m->expect_class)))
        return rc;
    return FY_OK;
}

static int parse_verify(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {"dataset", "min_accuracy", "limit", "smoke",
                                       "load",    "key_env",      NULL};
    static const char *const lkeys[] = {"seconds", "concurrency", "max_p99_ms", "min_throughput",
                                        NULL};
    yaml_node_t *v[6], *l[4];
    char p[PATHLEN];
    long long x;
    int rc = map_fields(c, n, "verify", keys, v);
    if (rc)
        return rc;
    if (v[0] && (rc = get_str(c, v[0], "verify.dataset", &s->dataset)))
        return rc;
    if (v[0] && strncmp(s->dataset, "idx:", 4) != 0)
        return fail(c, FY_EINVAL, line_of(v[0]), "verify.dataset",
                    "must be idx:IMAGES,LABELS, got '%.60s'", s->dataset);
    if (v[1] && (rc = get_num(c, v[1], "verify.min_accuracy", 0, 1, &s->min_accuracy)))
        return rc;
    if (v[2] && (rc = get_int(c, v[2], "verify.limit", 1, 1LL << 40, &x)) == FY_OK)
        s->limit = x;
    if (rc)
        return rc;
    if (v[3]) {
        int cnt;
        if ((rc = get_list(c, v[3], "verify.smoke", FY_DEPLOY_MAX_SMOKE, &cnt)))
            return rc;
        s->smoke = fy__calloc((size_t)cnt + 1, sizeof *s->smoke);
        if (!s->smoke)
            return fail(c, FY_ENOMEM, line_of(v[3]), "verify.smoke", "out of memory");
        for (int i = 0; i < cnt; i++) {
            snprintf(p, sizeof p, "verify.smoke[%d]", i);
            s->n_smoke = i + 1;
            if ((rc = parse_smoke(c, item(c, v[3], i), p, &s->smoke[i])))
                return rc;
        }
    }
    if (v[4]) {
        if ((rc = map_fields(c, v[4], "verify.load", lkeys, l)))
            return rc;
        if (l[0] && (rc = get_num(c, l[0], "verify.load.seconds", 0.1, 600, &s->load_seconds)))
            return rc;
        if (l[1] &&
            (rc = get_intv(c, l[1], "verify.load.concurrency", 1, 256, &s->load_concurrency)))
            return rc;
        if (l[2] && (rc = get_num(c, l[2], "verify.load.max_p99_ms", 0, 1e6, &s->max_p99_ms)))
            return rc;
        if (l[3] &&
            (rc = get_num(c, l[3], "verify.load.min_throughput", 0, 1e9, &s->min_throughput)))
            return rc;
    }
    if (v[5] && (rc = get_str(c, v[5], "verify.key_env", &s->key_env)))
        return rc;
    if (v[5])
        for (const char *q = s->key_env; *q; q++)
            if (!isalnum((unsigned char)*q) && *q != '_')
                return fail(c, FY_EINVAL, line_of(v[5]), "verify.key_env",
                            "must be an environment variable name ([A-Za-z0-9_])");
    return FY_OK;
}

static int parse_alerts(sctx *c, yaml_node_t *n, fy_deploy_spec *s)
{
    static const char *const keys[] = {"max_error_rate", "max_p99_ms", "max_restarts", NULL};
    yaml_node_t *v[3];
    int rc = map_fields(c, n, "alerts", keys, v);
    if (rc)
        return rc;
    if (v[0] && (rc = get_num(c, v[0], "alerts.max_error_rate", 0, 1, &s->alert_error_rate)))
        return rc;
    if (v[1] && (rc = get_num(c, v[1], "alerts.max_p99_ms", 0.001, 1e6, &s->alert_p99_ms)))
        return rc;
    if (v[2] && (rc = get_intv(c, v[2], "alerts.max_restarts", 0, 1000000, &s->alert_restarts)))
        return rc;
    return FY_OK;
}

static int parse_root(sctx *c, yaml_node_t *root, fy_deploy_spec *s)
{
    static const char *const keys[] = {"apiVersion", "service", "model",  "requirements", "serving",
                                       "strategy",   "verify",  "target", "alerts",       NULL};
    static const char *const targets[] = {"local", "kubernetes", "systemd", NULL};
    yaml_node_t *v[9];
    char vv[80];
    int rc = map_fields(c, root, "", keys, v);
    if (rc)
        return rc;
    if (!v[0])
        return fail(c, FY_EINVAL, line_of(root), "apiVersion", "is required (apiVersion: %s)",
                    FY_DEPLOY_API_VERSION);
    if (v[0]->type != YAML_SCALAR_NODE ||
        strcmp((const char *)v[0]->data.scalar.value, FY_DEPLOY_API_VERSION) != 0)
        return fail(c, FY_EUNSUPPORTED, line_of(v[0]), "apiVersion", "must be %s, got %s",
                    FY_DEPLOY_API_VERSION, kind_name(v[0], vv, sizeof vv));
    if (!v[1])
        return fail(c, FY_EINVAL, line_of(root), "service", "is required");
    if ((rc = get_str(c, v[1], "service", &s->service)))
        return rc;
    if (!valid_service(s->service))
        return fail(c, FY_EINVAL, line_of(v[1]), "service",
                    "must be 1-63 of [a-z0-9-], starting with a letter or digit and not ending "
                    "with '-', got '%s'",
                    show(vv, sizeof vv, s->service, strlen(s->service)));
    if (!v[2])
        return fail(c, FY_EINVAL, line_of(root), "model", "is required");
    if ((rc = parse_model(c, v[2], s)))
        return rc;
    if (v[3] && (rc = parse_requirements(c, v[3], s)))
        return rc;
    if (v[4] && (rc = parse_serving(c, v[4], s)))
        return rc;
    if (v[5] && (rc = parse_strategy(c, v[5], s)))
        return rc;
    if (v[6] && (rc = parse_verify(c, v[6], s)))
        return rc;
    int t = 0;
    if (v[7] && (rc = get_enum(c, v[7], "target", targets, &t)))
        return rc;
    s->target = (fy_target)t;
    if (v[8] && (rc = parse_alerts(c, v[8], s)))
        return rc;
    return FY_OK;
}

static void defaults(fy_deploy_spec *s)
{
    s->port = 8080;
    s->replicas = 1;
    s->step_seconds = 5;
    s->max_error_rate = 0.01;
    s->start_timeout_s = 60;
    s->min_accuracy = -1;
    s->load_seconds = 3;
    s->load_concurrency = 4;
    s->alert_error_rate = 0.01;
    s->alert_p99_ms = 250;
    s->alert_restarts = 3;
}

/* A first pass over libyaml's events, before any tree is built: refuses nesting
 * deeper than MAX_DEPTH (libyaml's scanner grows quadratically with flow nesting,
 * so a deep file must be stopped early), more than MAX_NODES nodes, anchors and
 * aliases (a small file must not stand for a huge tree) and tags. */
static int prescan(sctx *c, const char *text, size_t len)
{
    yaml_parser_t yp;
    yaml_event_t ev;
    int rc = FY_OK, done = 0, depth = 0, nodes = 0;
    if (!yaml_parser_initialize(&yp))
        return fail(c, FY_ENOMEM, 1, NULL, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    while (!done && rc == FY_OK) {
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = yp.error == YAML_MEMORY_ERROR
                     ? fail(c, FY_ENOMEM, (int)yp.problem_mark.line + 1, NULL, "out of memory")
                     : fail(c, FY_EPARSE, (int)yp.problem_mark.line + 1, NULL,
                            "invalid YAML: %s%s%s", yp.problem ? yp.problem : "syntax error",
                            yp.context ? " " : "", yp.context ? yp.context : "");
            break;
        }
        int line = (int)ev.start_mark.line + 1;
        const yaml_char_t *anchor = NULL, *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_ALIAS_EVENT:
            rc = fail(c, FY_EPARSE, line, NULL, "aliases are not allowed (*%.40s)",
                      (const char *)ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            anchor = ev.data.scalar.anchor;
            tag = ev.data.scalar.tag;
            nodes++;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            anchor = ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.anchor
                                                         : ev.data.sequence_start.anchor;
            tag = ev.type == YAML_MAPPING_START_EVENT ? ev.data.mapping_start.tag
                                                      : ev.data.sequence_start.tag;
            nodes++;
            if (++depth > MAX_DEPTH)
                rc = fail(c, FY_ELIMIT, line, NULL, "nested deeper than %d levels", MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        if (rc == FY_OK && anchor)
            rc = fail(c, FY_EPARSE, line, NULL, "anchors are not allowed (&%.40s)",
                      (const char *)anchor);
        if (rc == FY_OK && tag)
            rc = fail(c, FY_EPARSE, line, NULL, "tags are not allowed (%.40s)", (const char *)tag);
        if (rc == FY_OK && nodes > MAX_NODES)
            rc = fail(c, FY_ELIMIT, line, NULL, "more than %d YAML nodes", MAX_NODES);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    return rc;
}

int fy_deploy_spec_parse(fy_deploy_spec **out, const char *text, size_t len, const char *file,
                         fy_diag *d)
{
    sctx c = {.file = file ? file : "deploy.yaml", .d = d};
    yaml_parser_t yp;
    yaml_document_t doc, doc2;
    int rc = FY_OK, have_doc = 0;
    fy_deploy_spec *s = NULL;
    const char *slash = strrchr(c.file, '/');
    if (slash)
        snprintf(c.dir, sizeof c.dir, "%.*s", (int)(slash - c.file), c.file);
    if (slash && slash == c.file)
        snprintf(c.dir, sizeof c.dir, "/");
    if (len > FY_DEPLOY_SPEC_MAX_BYTES)
        return fail(&c, FY_ELIMIT, 1, NULL, "%zu bytes, above the limit of %zu", len,
                    (size_t)FY_DEPLOY_SPEC_MAX_BYTES);
    if (memchr(text, 0, len))
        return fail(&c, FY_EPARSE, 1, NULL, "NUL byte: not a YAML text file");
    if ((rc = prescan(&c, text, len)))
        return rc;
    if (!yaml_parser_initialize(&yp))
        return fail(&c, FY_ENOMEM, 1, NULL, "out of memory");
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    if (!yaml_parser_load(&yp, &doc)) {
        int line = (int)yp.problem_mark.line + 1;
        rc = yp.error == YAML_MEMORY_ERROR
                 ? fail(&c, FY_ENOMEM, line, NULL, "out of memory")
                 : fail(&c, FY_EPARSE, line, NULL, "invalid YAML: %s%s%s",
                        yp.problem ? yp.problem : "syntax error", yp.context ? " " : "",
                        yp.context ? yp.context : "");
        goto done;
    }
    have_doc = 1;
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = fail(&c, FY_EINVAL, 1, NULL, "empty file: expected a mapping with apiVersion: %s",
                  FY_DEPLOY_API_VERSION);
        goto done;
    }
    /* a second document is refused: one file, one deployment */
    if (!yaml_parser_load(&yp, &doc2)) {
        rc = fail(&c, FY_EPARSE, (int)yp.problem_mark.line + 1, NULL, "invalid YAML: %s",
                  yp.problem ? yp.problem : "syntax error");
        goto done;
    }
    int second = yaml_document_get_root_node(&doc2) != NULL;
    int line2 = (int)doc2.start_mark.line + 1;
    yaml_document_delete(&doc2);
    if (second) {
        rc = fail(&c, FY_EPARSE, line2, NULL, "a second YAML document: one deployment per file");
        goto done;
    }
    s = fy__calloc(1, sizeof *s);
    if (!s || !(s->file = fy__strdup(c.file))) {
        rc = fail(&c, FY_ENOMEM, 1, NULL, "out of memory");
        goto done;
    }
    defaults(s);
    if ((rc = parse_root(&c, root, s)))
        goto done;
    if (!s->host && !(s->host = fy__strdup("127.0.0.1"))) {
        rc = fail(&c, FY_ENOMEM, 1, NULL, "out of memory");
        goto done;
    }
    *out = s;
    s = NULL;
done:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    fy_deploy_spec_free(s);
    return rc;
}

int fy_deploy_spec_load(fy_deploy_spec **out, const char *path, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, FY_DEPLOY_SPEC_MAX_BYTES, &buf, &len, d);
    if (rc)
        return rc;
    rc = fy_deploy_spec_parse(out, (const char *)buf, len, path, d);
    fy__free(buf);
    return rc;
}

void fy_deploy_spec_free(fy_deploy_spec *s)
{
    if (!s)
        return;
    fy__free(s->file);
    fy__free(s->service);
    fy__free(s->package);
    fy__free(s->manifest);
    fy__free(s->sign_key);
    fy__free(s->trusted_key);
    for (int i = 0; i < s->n_cpu_features; i++)
        fy__free(s->cpu_features[i]);
    fy__free(s->cpu_features);
    fy__free(s->host);
    fy__free(s->keys_file);
    fy__free(s->tls_cert);
    fy__free(s->tls_key);
    fy__free(s->dataset);
    for (int i = 0; i < s->n_smoke; i++) {
        fy_smoke *m = &s->smoke[i];
        fy__free(m->name);
        fy__free(m->path);
        fy__free(m->body_file);
        fy__free(m->body);
        fy__free(m->expect_contains);
        fy__free(m->expect_label);
    }
    fy__free(s->smoke);
    fy__free(s->key_env);
    fy__free(s);
}

const char *fy_strategy_name(fy_strategy s)
{
    switch (s) {
    case FY_STRATEGY_CANARY: return "canary";
    case FY_STRATEGY_RECREATE: return "recreate";
    default: return "blue-green";
    }
}

const char *fy_target_name(fy_target t)
{
    switch (t) {
    case FY_TARGET_KUBERNETES: return "kubernetes";
    case FY_TARGET_SYSTEMD: return "systemd";
    default: return "local";
    }
}

const char *fy_deploy_spec_template(void)
{
    return "# deploy.yaml: how ferry deploys one service (docs/deploy.md).\n"
           "# Run: ferry deploy deploy.yaml   (ferry status, history, rollback, logs, stop)\n"
           "apiVersion: ferry/v1\n"
           "\n"
           "# The service's name: 1-63 of [a-z0-9-]. State lives under ./.ferry (or\n"
           "# $FERRY_STATE_DIR, or --state-dir).\n"
           "service: my-model\n"
           "\n"
           "# What to deploy: a package (package: my-model-1.0.0.ferry) or a folder with a\n"
           "# ferry.yaml that the pipeline packs (path: .). Paths are relative to this file.\n"
           "model:\n"
           "  path: .\n"
           "  # key: release.key          # sign while packing\n"
           "  # trusted_key: release.pub  # deploy only packages signed by this key\n"
           "\n"
           "# Environment requirements; left out, those of the package's ferry.yaml apply.\n"
           "# requirements:\n"
           "#   min_memory_mb: 256\n"
           "#   min_disk_mb: 64\n"
           "#   min_cores: 1\n"
           "#   cpu_features: [avx2]\n"
           "\n"
           "serving:\n"
           "  host: 127.0.0.1        # the public address; 0.0.0.0 exposes it\n"
           "  port: 8080\n"
           "  replicas: 2            # worker processes per version\n"
           "  # max_batch_size: 32   # dynamic batching (default: the package's)\n"
           "  # max_queue_delay_us: 2000\n"
           "  # keys_file: keys.txt  # API keys (docs/serve.md)\n"
           "  # tls_cert: cert.pem  # HTTPS on the public port: certificate and key (PEM)\n"
           "  # tls_key: key.pem\n"
           "\n"
           "# blue-green: stage beside the live version, verify, switch at once.\n"
           "# canary: the same, then move traffic in steps. recreate: stop the old first.\n"
           "strategy:\n"
           "  type: blue-green\n"
           "  # steps: [10, 50, 100]  # canary: percent of traffic per step\n"
           "  # step_seconds: 5\n"
           "  # max_error_rate: 0.01  # canary: abort a step above this share of 5xx\n"
           "  start_timeout_s: 60     # the new version must be ready within this\n"
           "\n"
           "# Checks on the staged version before it takes traffic; a failure rolls back.\n"
           "verify:\n"
           "  # dataset: idx:IMAGES,LABELS  # default: the package's tests.dataset\n"
           "  # min_accuracy: 0.90          # default: the package's tests.min\n"
           "  limit: 2000                   # items of the dataset sent\n"
           "  # smoke:                      # requests with expected answers\n"
           "  #   - name: first-image\n"
           "  #     path: /predict\n"
           "  #     body_file: smoke.json\n"
           "  #     expect_status: 200\n"
           "  #     expect_label: Ankle boot\n"
           "  load:                         # a bounded load against the staged version\n"
           "    seconds: 3\n"
           "    concurrency: 4\n"
           "    max_p99_ms: 100\n"
           "    min_throughput: 200         # items per second\n"
           "\n"
           "target: local             # local, kubernetes or systemd\n"
           "\n"
           "alerts:\n"
           "  max_error_rate: 0.01\n"
           "  max_p99_ms: 250\n"
           "  max_restarts: 3         # per 10 minutes\n";
}
