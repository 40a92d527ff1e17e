/* SPDX-License-Identifier: MIT */
/* deploy.yaml: a full spec reads back field by field; defaults; every refusal
 * (malformed YAML, unknown fields, bad values, two documents, hostile bytes) names
 * "FILE:LINE: FIELD"; the template and the example parse; allocation failures give
 * FY_ENOMEM and leak nothing. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "ferry/deploy.h"
#include "test.h"

static const char FULL[] =
    "apiVersion: ferry/v1\n"           /* 1 */
    "service: fashion\n"               /* 2 */
    "model:\n"                         /* 3 */
    "  path: models\n"                 /* 4 */
    "  key: release.key\n"             /* 5 */
    "requirements:\n"                  /* 6 */
    "  min_memory_mb: 256\n"           /* 7 */
    "  min_disk_mb: 10\n"              /* 8 */
    "  min_cores: 2\n"                 /* 9 */
    "  cpu_features: [avx2, fma]\n"    /* 10 */
    "serving:\n"                       /* 11 */
    "  host: 0.0.0.0\n"                /* 12 */
    "  port: 9000\n"                   /* 13 */
    "  replicas: 3\n"                  /* 14 */
    "  max_batch_size: 16\n"           /* 15 */
    "  max_queue_delay_us: 500\n"      /* 16 */
    "  keys_file: /etc/ferry/keys\n"   /* 17 */
    "strategy:\n"                      /* 18 */
    "  type: canary\n"                 /* 19 */
    "  steps: [5, 25, 50]\n"           /* 20 */
    "  step_seconds: 2.5\n"            /* 21 */
    "  max_error_rate: 0.02\n"         /* 22 */
    "verify:\n"                        /* 23 */
    "  dataset: idx:a.gz,b.gz\n"       /* 24 */
    "  min_accuracy: 0.9\n"            /* 25 */
    "  limit: 1000\n"                  /* 26 */
    "  smoke:\n"                       /* 27 */
    "    - name: boot\n"               /* 28 */
    "      body_file: boot.json\n"     /* 29 */
    "      expect_label: Ankle boot\n" /* 30 */
    "    - body: '{\"image\": [0]}'\n" /* 31 */
    "      path: /predict/x\n"         /* 32 */
    "      expect_status: 400\n"       /* 33 */
    "      expect_class: 3\n"          /* 34 */
    "  load: {seconds: 4, concurrency: 8, max_p99_ms: 50, min_throughput: 100}\n"
    "  key_env: FERRY_KEY\n" /* 36 */
    "target: kubernetes\n"   /* 37 */
    "alerts: {max_error_rate: 0.05, max_p99_ms: 300, max_restarts: 5}\n";

static int parse(const char *text, fy_deploy_spec **out, fy_diag *d)
{
    return fy_deploy_spec_parse(out, text, strlen(text), "dir/deploy.yaml", d);
}

TEST(full_spec_reads_back)
{
    fy_deploy_spec *s = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(parse(FULL, &s, &d), FY_OK);
    if (!s) {
        printf("  %s\n", d.msg);
        return;
    }
    FY_CHECK_STR(s->service, "fashion");
    FY_CHECK_STR(s->manifest, "dir/models");
    FY_CHECK_STR(s->sign_key, "dir/release.key");
    FY_CHECK(s->package == NULL);
    FY_CHECK_EQ(s->min_memory_mb, 256);
    FY_CHECK_EQ(s->min_disk_mb, 10);
    FY_CHECK_EQ(s->min_cores, 2);
    FY_CHECK_EQ(s->n_cpu_features, 2);
    FY_CHECK_STR(s->cpu_features[1], "fma");
    FY_CHECK_STR(s->host, "0.0.0.0");
    FY_CHECK_EQ(s->port, 9000);
    FY_CHECK_EQ(s->replicas, 3);
    FY_CHECK_EQ(s->max_batch_size, 16);
    FY_CHECK_EQ(s->max_queue_delay_us, 500);
    FY_CHECK_STR(s->keys_file, "/etc/ferry/keys");
    FY_CHECK_EQ(s->strategy, FY_STRATEGY_CANARY);
    FY_CHECK_EQ(s->n_steps, 4); /* 100 is appended */
    FY_CHECK_EQ(s->steps[0], 5);
    FY_CHECK_EQ(s->steps[3], 100);
    FY_CHECK_NEAR(s->step_seconds, 2.5, 1e-9);
    FY_CHECK_NEAR(s->max_error_rate, 0.02, 1e-9);
    FY_CHECK_STR(s->dataset, "idx:a.gz,b.gz");
    FY_CHECK_NEAR(s->min_accuracy, 0.9, 1e-9);
    FY_CHECK_EQ(s->limit, 1000);
    FY_CHECK_EQ(s->n_smoke, 2);
    FY_CHECK_STR(s->smoke[0].name, "boot");
    FY_CHECK_STR(s->smoke[0].body_file, "dir/boot.json");
    FY_CHECK_STR(s->smoke[0].expect_label, "Ankle boot");
    FY_CHECK_EQ(s->smoke[0].expect_status, 200);
    FY_CHECK_EQ(s->smoke[0].expect_class, -1);
    FY_CHECK_STR(s->smoke[1].body, "{\"image\": [0]}");
    FY_CHECK_STR(s->smoke[1].path, "/predict/x");
    FY_CHECK_EQ(s->smoke[1].expect_status, 400);
    FY_CHECK_EQ(s->smoke[1].expect_class, 3);
    FY_CHECK_NEAR(s->load_seconds, 4, 1e-9);
    FY_CHECK_EQ(s->load_concurrency, 8);
    FY_CHECK_NEAR(s->max_p99_ms, 50, 1e-9);
    FY_CHECK_NEAR(s->min_throughput, 100, 1e-9);
    FY_CHECK_STR(s->key_env, "FERRY_KEY");
    FY_CHECK_EQ(s->target, FY_TARGET_KUBERNETES);
    FY_CHECK_NEAR(s->alert_error_rate, 0.05, 1e-9);
    FY_CHECK_NEAR(s->alert_p99_ms, 300, 1e-9);
    FY_CHECK_EQ(s->alert_restarts, 5);
    fy_deploy_spec_free(s);
}

TEST(defaults)
{
    fy_deploy_spec *s = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(parse("apiVersion: ferry/v1\nservice: a1\nmodel: {package: /p/x.ferry}\n"
                      "strategy: canary\n",
                      &s, &d),
                FY_OK);
    if (!s)
        return;
    FY_CHECK_STR(s->package, "/p/x.ferry"); /* absolute paths stay */
    FY_CHECK_STR(s->host, "127.0.0.1");
    FY_CHECK_EQ(s->port, 8080);
    FY_CHECK_EQ(s->replicas, 1);
    FY_CHECK_EQ(s->strategy, FY_STRATEGY_CANARY);
    FY_CHECK_EQ(s->n_steps, 3);
    FY_CHECK_EQ(s->steps[2], 100);
    FY_CHECK(s->min_accuracy < 0); /* the package's */
    FY_CHECK_EQ(s->target, FY_TARGET_LOCAL);
    FY_CHECK_EQ(s->n_smoke, 0);
    fy_deploy_spec_free(s);
}

/* Each case: text, expected code, and the start of the message after "FILE:". */
static const struct {
    const char *text;
    int code;
    const char *msg;
} BAD[] = {
    {"", FY_EINVAL, "dir/deploy.yaml:1: (document): empty file"},
    {"service: a\n", FY_EINVAL, "dir/deploy.yaml:1: apiVersion: is required"},
    {"apiVersion: ferry/v2\n", FY_EUNSUPPORTED, "dir/deploy.yaml:1: apiVersion: must be ferry/v1"},
    {"apiVersion: ferry/v1\nservice: Fashion\n", FY_EINVAL, "dir/deploy.yaml:2: service: must be"},
    {"apiVersion: ferry/v1\nservice: a-\n", FY_EINVAL, "dir/deploy.yaml:2: service: must be"},
    {"apiVersion: ferry/v1\nservice: a\n", FY_EINVAL, "dir/deploy.yaml:1: model: is required"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {}\n", FY_EINVAL, "dir/deploy.yaml:3: model: needs"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: ., package: x}\n", FY_EINVAL,
     "dir/deploy.yaml:3: model.path: give either"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nservng: {}\n", FY_EINVAL,
     "dir/deploy.yaml:4: servng: unknown field (did you mean 'serving'?)"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nserving:\n  port: 0\n", FY_EINVAL,
     "dir/deploy.yaml:5: serving.port: must be between 1 and 65535"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nserving:\n  port: '80'\n", FY_EINVAL,
     "dir/deploy.yaml:5: serving.port: must be an integer"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nserving: {replicas: 65}\n", FY_EINVAL,
     "dir/deploy.yaml:4: serving.replicas: must be between 1 and 64"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nserving: {host: 'a b'}\n", FY_EINVAL,
     "dir/deploy.yaml:4: serving.host"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nstrategy: rolling\n", FY_EINVAL,
     "dir/deploy.yaml:4: strategy: must be one of blue-green, canary, recreate"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nstrategy: {type: canary, steps: [50, "
     "10]}\n",
     FY_EINVAL, "dir/deploy.yaml:4: strategy.steps[1]: steps must rise"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nstrategy: {type: blue-green, steps: "
     "[50]}\n",
     FY_EINVAL, "dir/deploy.yaml:4: strategy.steps: traffic steps need type: canary"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify: {min_accuracy: 1.5}\n", FY_EINVAL,
     "dir/deploy.yaml:4: verify.min_accuracy: must be between 0 and 1"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify: {min_accuracy: .nan}\n",
     FY_EINVAL, "dir/deploy.yaml:4: verify.min_accuracy: must be a number"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify: {dataset: csv:x}\n", FY_EINVAL,
     "dir/deploy.yaml:4: verify.dataset: must be idx:"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify:\n  smoke:\n    - {path: "
     "/predict}\n",
     FY_EINVAL, "dir/deploy.yaml:6: verify.smoke[0].body: give exactly one"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify:\n  smoke:\n    - {body: x, "
     "path: ../etc}\n",
     FY_EINVAL, "dir/deploy.yaml:6: verify.smoke[0].path: must be an absolute URL path"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nverify: {key_env: 'A-B'}\n", FY_EINVAL,
     "dir/deploy.yaml:4: verify.key_env"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\ntarget: mars\n", FY_EINVAL,
     "dir/deploy.yaml:4: target: must be one of local, kubernetes, systemd"},
    {"apiVersion: ferry/v1\nservice: a\nservice: b\n", FY_EPARSE,
     "dir/deploy.yaml:3: service: duplicate key"},
    {"apiVersion: ferry/v1\nservice: [a\n", FY_EPARSE, "dir/deploy.yaml:"},
    {"apiVersion: ferry/v1\n---\napiVersion: ferry/v1\n", FY_EPARSE,
     "dir/deploy.yaml:2: (document): a second YAML document"},
    {"- a\n- b\n", FY_EINVAL, "dir/deploy.yaml:1: (document): must be a mapping"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: .}\nrequirements: {cpu_features: "
     "[AVX]}\n",
     FY_EINVAL, "dir/deploy.yaml:4: requirements.cpu_features[0]"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {path: \"a\\tb\"}\n", FY_EINVAL,
     "dir/deploy.yaml:3: model.path: control character"},
    {"apiVersion: ferry/v1\nservice: a\nmodel: {key: k, package: p}\n", FY_EINVAL,
     "dir/deploy.yaml:3: model.key: signs while packing"},
};

TEST(malformed_specs_name_file_line_field)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        fy_deploy_spec *s = NULL;
        fy_diag d = {{0}};
        int rc = parse(BAD[i].text, &s, &d);
        FY_CHECK_EQ(rc, BAD[i].code);
        FY_CHECK(s == NULL);
        if (strncmp(d.msg, BAD[i].msg, strlen(BAD[i].msg)) != 0) {
            printf("  case %zu: got '%s'\n  want prefix '%s'\n", i, d.msg, BAD[i].msg);
            fy_test_failed_checks++;
        }
        fy_deploy_spec_free(s);
    }
}

TEST(hostile_bytes)
{
    fy_deploy_spec *s = NULL;
    fy_diag d = {{0}};
    const char nul[] = "apiVersion: ferry/v1\0service: a\n";
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, nul, sizeof nul - 1, "x.yaml", &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "NUL byte");
    const char badutf[] = "apiVersion: ferry/v1\nservice: \xff\xfe\n";
    FY_CHECK(fy_deploy_spec_parse(&s, badutf, sizeof badutf - 1, "x.yaml", &d) != FY_OK);
    /* anchors and aliases are refused before any tree is built (billion laughs) */
    const char laughs[] = "a: &a [x, x, x, x, x, x, x, x, x]\n"
                          "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                          "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, laughs, sizeof laughs - 1, "x.yaml", &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "x.yaml:1: (document): anchors are not allowed");
    const char tag[] = "apiVersion: !!str ferry/v1\n";
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, tag, sizeof tag - 1, "x.yaml", &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "tags are not allowed");
    /* deep nesting is stopped at the limit, early: libyaml's scanner is quadratic in it */
    char *deep = malloc(200002);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\n';
    deep[200001] = 0;
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, deep, strlen(deep), "x.yaml", &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "x.yaml:1: (document): nested deeper than 8 levels");
    free(deep);
    char *big = calloc(1, FY_DEPLOY_SPEC_MAX_BYTES + 2);
    memset(big, '#', FY_DEPLOY_SPEC_MAX_BYTES + 1);
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, big, FY_DEPLOY_SPEC_MAX_BYTES + 1, "x.yaml", &d),
                FY_ELIMIT);
    free(big);
    FY_CHECK(s == NULL);
}

TEST(template_and_example_parse)
{
    fy_deploy_spec *s = NULL;
    fy_diag d = {{0}};
    const char *t = fy_deploy_spec_template();
    FY_CHECK_EQ(fy_deploy_spec_parse(&s, t, strlen(t), "deploy.yaml", &d), FY_OK);
    if (s) {
        FY_CHECK_STR(s->service, "my-model");
        FY_CHECK_STR(s->manifest, ".");
        FY_CHECK_EQ(s->replicas, 2);
    }
    fy_deploy_spec_free(s);
    s = NULL;
    FY_CHECK_EQ(fy_deploy_spec_load(&s, "examples/fashion-mnist/deploy.yaml", &d), FY_OK);
    if (s) {
        FY_CHECK_STR(s->service, "fashion");
        FY_CHECK_STR(s->manifest, "examples/fashion-mnist/.");
        FY_CHECK_STR(s->smoke[0].body_file, "examples/fashion-mnist/smoke-ankle-boot.json");
        FY_CHECK_EQ(s->strategy, FY_STRATEGY_BLUE_GREEN);
    } else {
        printf("  %s\n", d.msg);
    }
    fy_deploy_spec_free(s);
    FY_CHECK_EQ(fy_deploy_spec_load(&s, "examples/fashion-mnist/no-such.yaml", &d), FY_ENOTFOUND);
}

TEST(allocation_failures)
{
    int saw_ok = 0;
    for (long n = 1; n < 400 && !saw_ok; n++) {
        fy_deploy_spec *s = NULL;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = parse(FULL, &s, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            fy_deploy_spec_free(s);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK(s == NULL);
        }
    }
    FY_CHECK(saw_ok);
}

int main(void)
{
    RUN(full_spec_reads_back);
    RUN(defaults);
    RUN(malformed_specs_name_file_line_field);
    RUN(hostile_bytes);
    RUN(template_and_example_parse);
    RUN(allocation_failures);
    return TEST_SUMMARY();
}
