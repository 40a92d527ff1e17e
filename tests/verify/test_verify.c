/* SPDX-License-Identifier: MIT */
/* Verification through the serving path: the accuracy measured over HTTP equals the
 * engine's on the same samples; gates pass and fail independently; smoke requests
 * check status, class, label and text; load gates; in-process and against a URL;
 * the Markdown and JSON reports. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "test.h"

#define DS                                                                                         \
    "idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,/usr/share/datasets/"         \
    "fashion-mnist/t10k-labels-idx1-ubyte.gz"

static char dir[] = "/tmp/ferry-verify-XXXXXX";
static char pkg_path[96];
static fy_package *pkg;

static const fy_verify_check *find(const fy_verify_report *r, const char *name)
{
    for (int i = 0; i < r->n_checks; i++)
        if (strcmp(r->checks[i].name, name) == 0)
            return &r->checks[i];
    return NULL;
}

TEST(accuracy_over_http_equals_the_engine)
{
    fy_verify_opts o = {.package = pkg,
                        .package_path = pkg_path,
                        .dataset = DS,
                        .accuracy_limit = 300,
                        .accuracy_batch = 37,
                        .min_accuracy = 0.5};
    fy_verify_report *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_verify_run(&o, &r, &d), FY_OK);
    if (!r) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    FY_CHECK(r->passed);
    FY_CHECK_EQ(r->accuracy_count, 300);
    FY_CHECK_CONTAINS(r->target, "in-process");
    FY_CHECK_STR(r->model, "fashion-cnn 1.0.0");

    /* the engine on the same 300 samples, with the manifest's scale */
    fy_model *m = NULL;
    fy_session *s = NULL;
    fy_dataset ds;
    FY_CHECK_EQ(fy_package_load_model(pkg, &m, &d), FY_OK);
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy_dataset_open(&ds, DS, &d), FY_OK);
    fy_eval_opts eo = {.limit = 300, .scale = (float)fy_package_manifest(pkg)->scale};
    fy_eval_result er;
    FY_CHECK_EQ(fy_eval_classifier(s, m, &ds, &eo, &er, &d), FY_OK);
    FY_CHECK_EQ(r->accuracy_correct, er.correct);
    fy_dataset_deinit(&ds);
    fy_session_free(s);
    fy_model_free(m);
    fy_verify_report_free(r);
}

TEST(gates_fail_independently)
{
    fy_verify_opts o = {.package = pkg,
                        .package_path = pkg_path,
                        .dataset = DS,
                        .accuracy_limit = 100,
                        .min_accuracy = 0.999,
                        .max_p99_ms = 0.000001,
                        .min_throughput = 1e9,
                        .load_requests = 40,
                        .load_connections = 2,
                        .load_warmup_s = 0.01};
    fy_verify_report *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_verify_run(&o, &r, &d), FY_OK);
    if (!r)
        return;
    FY_CHECK(!r->passed);
    FY_CHECK_EQ(r->n_failed, 3);
    const fy_verify_check *a = find(r, "accuracy"), *p = find(r, "p99_latency_ms"),
                          *t = find(r, "throughput_per_s"), *e = find(r, "errors");
    FY_CHECK(a && !a->passed && a->gated);
    FY_CHECK(p && !p->passed);
    FY_CHECK(t && !t->passed);
    FY_CHECK(e && e->passed); /* the load itself went fine */
    FY_CHECK_EQ(r->load.requests, 40);
    FY_CHECK_CONTAINS(a ? a->detail : NULL, "< the minimum");
    char *md = NULL, *js = NULL;
    FY_CHECK_EQ(fy_verify_report_markdown(r, &md, &d), FY_OK);
    FY_CHECK_CONTAINS(md, "FAILED");
    FY_CHECK_CONTAINS(md, "| accuracy | **FAIL** |");
    FY_CHECK_EQ(fy_verify_report_json(r, &js, &d), FY_OK);
    json_error_t je;
    json_t *j = js ? json_loads(js, 0, &je) : NULL;
    FY_CHECK(j != NULL);
    FY_CHECK(json_is_false(json_object_get(j, "passed")));
    FY_CHECK_EQ(json_array_size(json_object_get(j, "checks")), 4);
    FY_CHECK_EQ(json_integer_value(json_object_get(json_object_get(j, "load"), "requests")), 40);
    json_decref(j);
    free(md);
    free(js);
    fy_verify_report_free(r);
}

typedef struct {
    fy_server *s;
} srv_arg;

static void *serve_main(void *arg)
{
    fy_server_run(((srv_arg *)arg)->s, NULL);
    return NULL;
}

TEST(smoke_requests_against_a_url)
{
    fy_serve_opts so = {.port = -1, .quiet = 1, .log_path = "/dev/null"};
    fy_server *srv = NULL;
    fy_diag d = {{0}};
    const char *paths[] = {pkg_path};
    FY_CHECK_EQ(fy_server_create(&srv, paths, 1, &so, &d), FY_OK);
    if (!srv)
        return;
    srv_arg a = {srv};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &a);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", fy_server_port(srv));

    fy_bench_body *bodies = NULL;
    int nb = 0;
    FY_CHECK_EQ(fy_bench_predict_bodies(DS, 1, &bodies, &nb, NULL, &d), FY_OK);
    const char *bad = "{\"instances\": [[1, 2, 3]]}";
    fy_verify_smoke sm[] = {
        {.name = "boot",
         .body = bodies[0].data,
         .body_len = bodies[0].len,
         .expect_class = 9,
         .expect_label = "Ankle boot",
         .expect_contains = "\"scores\""},
        {.name = "wrong class",
         .body = bodies[0].data,
         .body_len = bodies[0].len,
         .expect_class = 3},
        {.name = "bad input refused",
         .body = bad,
         .body_len = strlen(bad),
         .expect_status = 400,
         .expect_class = -1},
        {.name = "bad input expected ok", .body = bad, .body_len = strlen(bad), .expect_class = -1},
        {.name = "ready", .method = "GET", .path = "/v2/health/ready", .expect_class = -1},
        {.name = "bad path", .path = "no-slash", .expect_class = -1},
    };
    fy_verify_opts o = {.url = url, .model_name = "fashion-cnn", .n_smoke = 6, .smoke = sm};
    fy_verify_report *r = NULL;
    FY_CHECK_EQ(fy_verify_run(&o, &r, &d), FY_OK);
    if (r) {
        FY_CHECK_EQ(r->n_checks, 6);
        FY_CHECK_EQ(r->n_failed, 3);
        FY_CHECK(r->checks[0].passed);
        FY_CHECK(!r->checks[1].passed);
        FY_CHECK_CONTAINS(r->checks[1].detail, "class 9, expected 3");
        FY_CHECK(r->checks[2].passed);
        FY_CHECK(!r->checks[3].passed);
        FY_CHECK_CONTAINS(r->checks[3].detail, "HTTP 400");
        FY_CHECK(r->checks[4].passed);
        FY_CHECK(!r->checks[5].passed);
        char want[64];
        snprintf(want, sizeof want, "%.*s", (int)strlen(url) - 1, url); /* no trailing '/' */
        FY_CHECK_STR(r->target, want);
        FY_CHECK_STR(r->model, "fashion-cnn");
        FY_CHECK(!r->has_accuracy && !r->has_load);
        fy_verify_report_free(r);
    }
    /* a load with no dataset uses an all-zero input from the manifest */
    fy_verify_opts z = {.url = url, .package = pkg, .load_requests = 10, .load_warmup_s = 0.01};
    FY_CHECK_EQ(fy_verify_run(&z, &r, &d), FY_OK);
    if (r) {
        FY_CHECK(r->passed);
        FY_CHECK_EQ(r->load.ok, 10);
        fy_verify_report_free(r);
    }
    fy_server_request_stop(srv);
    pthread_join(th, NULL);
    fy_server_free(srv);

    /* the server is gone: the checks cannot run */
    fy_verify_opts gone = {
        .url = url, .model_name = "fashion-cnn", .dataset = DS, .accuracy_limit = 10};
    FY_CHECK_EQ(fy_verify_run(&gone, &r, &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "connect");
    fy_bench_bodies_free(bodies, nb);
}

TEST(bad_options)
{
    fy_verify_report *r = NULL;
    fy_diag d = {{0}};
    fy_verify_opts none = {0};
    FY_CHECK_EQ(fy_verify_run(&none, &r, &d), FY_EINVAL);
    fy_verify_opts acc = {.url = "http://127.0.0.1:1", .model_name = "x", .min_accuracy = 2};
    FY_CHECK_EQ(fy_verify_run(&acc, &r, &d), FY_EINVAL);
    fy_verify_opts name = {.url = "http://127.0.0.1:1", .model_name = "../etc"};
    FY_CHECK_EQ(fy_verify_run(&name, &r, &d), FY_EINVAL);
    fy_verify_opts key = {.url = "http://127.0.0.1:1", .model_name = "x", .api_key = "a\r\nb"};
    FY_CHECK_EQ(fy_verify_run(&key, &r, &d), FY_EINVAL);
    fy_verify_opts noname = {.url = "http://127.0.0.1:1"};
    FY_CHECK_EQ(fy_verify_run(&noname, &r, &d), FY_EINVAL);
    fy_verify_opts ds = {.package_path = pkg_path, .dataset = "idx:/nonexistent,/nonexistent"};
    FY_CHECK(fy_verify_run(&ds, &r, &d) != FY_OK);
    /* defaults from the manifest */
    fy_verify_opts m = {0};
    fy_verify_opts_from_manifest(fy_package_manifest(pkg), &m);
    FY_CHECK_NEAR(m.min_accuracy, 0.90, 1e-12);
    FY_CHECK_NEAR(m.max_p99_ms, 100, 0);
    FY_CHECK_NEAR(m.min_throughput, 500, 0);
    FY_CHECK_CONTAINS(m.dataset, "t10k-images");
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(pkg_path, sizeof pkg_path, "%s/fashion.ferry", dir);
    fy_diag d = {{0}};
    if (fy_package_pack("examples/fashion-mnist/ferry.yaml", pkg_path, NULL, &d) != FY_OK ||
        fy_package_open(&pkg, pkg_path, &d) != FY_OK) {
        fprintf(stderr, "%s\n", d.msg);
        return 1;
    }
    RUN(accuracy_over_http_equals_the_engine);
    RUN(gates_fail_independently);
    RUN(smoke_requests_against_a_url);
    RUN(bad_options);
    fy_package_free(pkg);
    unlink(pkg_path);
    rmdir(dir);
    return TEST_SUMMARY();
}
