/* SPDX-License-Identifier: MIT */
/* The model repository and dynamic batching: bare models, packages and NAME/VERSION/
 * folders load (with the version policy); bad names and layouts are refused with
 * reasons; batched inference from many threads gives exactly what direct runs give;
 * a full queue and a passed deadline answer 503; reload under load fails no request;
 * unload waits for in-flight requests; warm-up failures mark the version FAILED;
 * allocation failures leak nothing. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "model_builder.h"
#include "serve/serve_int.h"
#include "test.h"

static char dir[64];

static const char *path_in(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *path_in(const char *fmt, ...)
{
    static char buf[8][512];
    static int k;
    char rel[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", dir, rel);
    return p;
}

static void mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Make dimension k of the value just declared symbolic (named). */
static void sym(gb *b, int k, const char *name)
{
    Onnx__TensorShapeProto__Dimension *d = &b->dims[b->n_vis - 1][k];
    d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    d->dim_param = (char *)name;
}

/* Write the model to path through a temporary file and a rename, as a deploy would
 * (readers never see half a file; the inode changes). */
static int write_model(gb *b, const char *path)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (gb_write(b, 13, tmp) != 0)
        return -1;
    return rename(tmp, path);
}

/* x float32[N,4] -> y = x + k; c = a constant float32[1,2] {7, 8} (an output that is
 * not per row, so batches copy it whole). */
static int write_addk(const char *path, float k)
{
    gb b;
    gb_init(&b, "addk");
    int64_t xd[2] = {-1, 4}, bd[1] = {4}, cd[2] = {1, 2};
    float bv[4] = {k, k, k, k}, cv[2] = {7, 8};
    gb_input(&b, "x", FY_DTYPE_F32, 2, xd);
    sym(&b, 0, "N");
    gb_output(&b, "y", FY_DTYPE_F32, 2, xd);
    sym(&b, 0, "N");
    gb_output(&b, "c", FY_DTYPE_F32, 2, cd);
    gb_init_f32(&b, "B", 1, bd, bv, 4);
    gb_init_f32(&b, "C", 2, cd, cv, 2);
    gb_node(&b, "Add", 2, 1, "x", "B", "y");
    gb_node(&b, "Identity", 1, 1, "C", "c");
    return write_model(&b, path);
}

/* Loads, but its only run fails: x[N,4] + B[3] does not broadcast. */
static int write_bad_warmup(const char *path)
{
    gb b;
    gb_init(&b, "badwarm");
    int64_t xd[2] = {-1, 4}, bd[1] = {3};
    float bv[3] = {1, 2, 3};
    gb_input(&b, "x", FY_DTYPE_F32, 2, xd);
    sym(&b, 0, "N");
    gb_output(&b, "y", FY_DTYPE_F32, 2, xd);
    sym(&b, 0, "N");
    gb_init_f32(&b, "B", 1, bd, bv, 3);
    gb_node(&b, "Add", 2, 1, "x", "B", "y");
    return write_model(&b, path);
}

/* A[N,M] -> ((A^T A)^2)^2: cheap for small M, slow (M^3 twice) for large M. */
static int write_slow(const char *path)
{
    gb b;
    gb_init(&b, "slow");
    int64_t ad[2] = {-1, -1};
    gb_input(&b, "a", FY_DTYPE_F32, 2, ad);
    sym(&b, 0, "N");
    sym(&b, 1, "M");
    gb_output(&b, "r", FY_DTYPE_F32, 2, ad);
    sym(&b, 0, "M");
    sym(&b, 1, "M");
    gb_node(&b, "Transpose", 1, 1, "a", "t");
    gb_node(&b, "MatMul", 2, 1, "t", "a", "p");
    gb_node(&b, "MatMul", 2, 1, "p", "p", "q");
    gb_node(&b, "MatMul", 2, 1, "q", "q", "r");
    return write_model(&b, path);
}

/* ------------------------------------------------------------------------- */
/* Log capture and the index                                                  */
/* ------------------------------------------------------------------------- */

typedef struct logcap {
    pthread_mutex_t mu;
    char text[1 << 16];
    size_t n;
    int invalid; /* lines that are not one JSON object */
} logcap;

static logcap logs = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void cap_log(const char *line, void *ctx)
{
    logcap *c = ctx;
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    pthread_mutex_lock(&c->mu);
    if (!j || !json_is_object(j) || strchr(line, '\n'))
        c->invalid++;
    size_t k = strlen(line);
    if (c->n + k + 2 < sizeof c->text) {
        memcpy(c->text + c->n, line, k);
        c->n += k;
        c->text[c->n++] = '\n';
        c->text[c->n] = 0;
    }
    pthread_mutex_unlock(&c->mu);
    json_decref(j);
}

static void logs_reset(void)
{
    pthread_mutex_lock(&logs.mu);
    logs.n = 0;
    logs.text[0] = 0;
    pthread_mutex_unlock(&logs.mu);
}

typedef struct entry {
    char name[80], version[80], reason[600];
    fy__mv_state state;
} entry;

typedef struct listing {
    entry e[32];
    int n;
} index_t;

static void each_cb(const fy__mv_info *info, void *ctx)
{
    index_t *ix = ctx;
    if (ix->n >= 32)
        return;
    entry *e = &ix->e[ix->n++];
    snprintf(e->name, sizeof e->name, "%s", info->name);
    snprintf(e->version, sizeof e->version, "%s", info->version);
    snprintf(e->reason, sizeof e->reason, "%s", info->reason);
    e->state = info->state;
}

static const entry *find_entry(fy__repo *r, index_t *ix, const char *name, const char *version)
{
    ix->n = 0;
    fy__repo_each(r, each_cb, ix);
    for (int i = 0; i < ix->n; i++)
        if (strcmp(ix->e[i].name, name) == 0 && strcmp(ix->e[i].version, version) == 0)
            return &ix->e[i];
    return NULL;
}

static fy__repo_opts opts_for(const char **paths, int n, fy__metrics *m)
{
    fy__repo_opts o = {0};
    o.paths = paths;
    o.n_paths = n;
    o.metrics = m;
    o.log = cap_log;
    o.log_ctx = &logs;
    return o;
}

/* ------------------------------------------------------------------------- */
/* Inference helpers                                                          */
/* ------------------------------------------------------------------------- */

static void make_x(fy_tensor *t, int rows, unsigned *seed)
{
    int64_t dims[2] = {rows, 4};
    fy_tensor_alloc(t, FY_DTYPE_F32, 2, dims, NULL);
    float *p = t->data;
    for (int i = 0; i < rows * 4; i++)
        p[i] = (float)(rand_r(seed) % 2000) / 7.0f - 100.0f;
}

/* One request through the repository: acquire (newest), infer, release. Returns the
 * HTTP-like status; with out given, outputs are left there. */
static int infer_addk(fy__repo *r, const char *version, const fy_tensor *x, fy_tensor out[2],
                      char *served, int64_t deadline, fy_diag *d)
{
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r, "addk", version, &st, d);
    if (!mv)
        return st;
    if (served)
        snprintf(served, 16, "%s", fy__mv_version(mv));
    int rc = fy__mv_infer(mv, 1, x, 2, out, deadline, &st, d);
    fy__mv_release(mv);
    if (rc != FY_OK && st == 200)
        st = 500;
    return st;
}

/* ------------------------------------------------------------------------- */
/* Loading                                                                    */
/* ------------------------------------------------------------------------- */

/* A lone request on an idle model does not wait out the batching delay: with a
 * 5 s delay it is answered at once (the margin is seconds, not a timing race). */
TEST(lone_request_does_not_wait_for_a_batch)
{
    const char *p = path_in("lone/addk.onnx");
    mkdirs(path_in("lone"));
    FY_CHECK_EQ(write_addk(p, 1.0f), 0);
    const char *paths[] = {p};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    o.max_batch_size = 8;
    o.max_queue_delay_us = 5000000;
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    unsigned seed = 3;
    fy_tensor x, out[2] = {{0}};
    make_x(&x, 1, &seed);
    int64_t t0 = mono_ns();
    FY_CHECK_EQ(infer_addk(r, NULL, &x, out, NULL, 0, &d), 200);
    FY_CHECK(mono_ns() - t0 < 2500000000LL); /* far below the 5 s delay */
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    fy_tensor_deinit(&x);
    fy__repo_free(r);
}

TEST(bare_model_serves_under_its_stem)
{
    const char *p = path_in("bare/addk.onnx");
    mkdirs(path_in("bare"));
    FY_CHECK_EQ(write_addk(p, 1.0f), 0);
    fy__metrics *m = NULL;
    fy__metrics_create(&m);
    const char *paths[] = {p};
    fy__repo_opts o = opts_for(paths, 1, m);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    logs_reset();
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    char why[256];
    FY_CHECK(fy__repo_ready(r, why, sizeof why));
    FY_CHECK_STR(why, "");
    index_t ix;
    const entry *e = find_entry(r, &ix, "addk", "1");
    FY_CHECK(e && e->state == FY_MV_READY);
    FY_CHECK_EQ(ix.n, 1);

    unsigned seed = 1;
    fy_tensor x, out[2] = {{0}};
    make_x(&x, 3, &seed);
    char served[16] = "";
    FY_CHECK_EQ(infer_addk(r, NULL, &x, out, served, 0, &d), 200);
    FY_CHECK_STR(served, "1");
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_EQ(out[0].dims[0], 3);
    for (int i = 0; out[0].data && i < 12; i++)
        FY_CHECK_EQ(((float *)out[0].data)[i], ((float *)x.data)[i] + 1.0f);
    FY_CHECK_EQ(out[1].dims[0], 1);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    fy_tensor_deinit(&x);

    /* accessors */
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r, "addk", "1", &st, &d);
    FY_CHECK(mv != NULL);
    if (mv) {
        FY_CHECK_STR(fy__mv_name(mv), "addk");
        FY_CHECK(fy__mv_model(mv) != NULL);
        FY_CHECK(fy__mv_manifest(mv) == NULL);
        FY_CHECK_EQ(fy__mv_max_batch(mv), 1); /* no manifest, no option: no batching */
        const char *labels;
        size_t n;
        FY_CHECK_EQ(fy__mv_labels(mv, &labels, &n), FY_ENOTFOUND);
        fy__mv_release(mv);
    }
    FY_CHECK(fy__repo_acquire(r, "nope", NULL, &st, &d) == NULL);
    FY_CHECK_EQ(st, 404);
    FY_CHECK_CONTAINS(d.msg, "unknown model 'nope'");
    FY_CHECK(fy__repo_acquire(r, "addk", "7", &st, &d) == NULL);
    FY_CHECK_EQ(st, 404);
    FY_CHECK_CONTAINS(d.msg, "no version '7'");
    FY_CHECK(fy__repo_acquire(r, "../etc", NULL, &st, &d) == NULL);
    FY_CHECK_EQ(st, 404);
    FY_CHECK(fy__repo_acquire(r, "addk", "1/../2", &st, &d) == NULL);
    FY_CHECK_EQ(st, 404);

    fy__mv_stats s;
    fy__metrics_mv_stats(m, "addk", "1", &s);
    FY_CHECK_EQ(s.execution_count, 1);
    FY_CHECK_EQ(s.inference_count, 3);
    FY_CHECK_CONTAINS(logs.text,
                      "{\"event\":\"model_loaded\",\"model\":\"addk\",\"version\":\"1\"");
    FY_CHECK_EQ(logs.invalid, 0);
    fy__repo_free(r);
    fy__metrics_free(m);
}

TEST(package_serves_under_its_manifest_name)
{
    const char *p = path_in("fashion.ferry");
    fy_diag d = {{0}};
    int rc = fy_package_pack("examples/fashion-mnist/ferry.yaml", p, NULL, &d);
    FY_CHECK_EQ(rc, FY_OK);
    if (rc != FY_OK) {
        fprintf(stderr, "pack: %s\n", d.msg);
        return;
    }
    const char *paths[] = {p};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    fy__repo *r = NULL;
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    FY_CHECK(fy__repo_ready(r, NULL, 0));
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r, "fashion-cnn", NULL, &st, &d);
    FY_CHECK(mv != NULL);
    if (mv) {
        FY_CHECK_STR(fy__mv_version(mv), "1.0.0");
        const fy_manifest *man = fy__mv_manifest(mv);
        FY_CHECK(man && man->labels_file);
        const char *labels = NULL;
        size_t n = 0;
        FY_CHECK_EQ(fy__mv_labels(mv, &labels, &n), FY_OK);
        FY_CHECK(n > 0 && labels && memcmp(labels, "T-shirt", 7) == 0);
        FY_CHECK_EQ(fy__mv_max_batch(mv), 32); /* serving.max_batch_size */
        fy_tensor img, out = {0};
        int64_t dims[4] = {1, 1, 28, 28};
        fy_tensor_alloc(&img, FY_DTYPE_F32, 4, dims, NULL);
        FY_CHECK_EQ(fy__mv_infer(mv, 1, &img, 1, &out, 0, &st, &d), FY_OK);
        FY_CHECK_EQ(st, 200);
        FY_CHECK_EQ(out.dims[1], 10);
        double sum = 0;
        for (int i = 0; out.data && i < 10; i++)
            sum += ((float *)out.data)[i];
        FY_CHECK_NEAR(sum, 1.0, 1e-4);
        fy_tensor_deinit(&out);
        fy_tensor_deinit(&img);
        fy__mv_release(mv);
    }
    fy__repo_free(r);
}

/* Edits a file in place: same inode, same size, so only its own times change. */
static int rewrite_in_place(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "r+");
    if (!f)
        return -1;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    char *at = strstr(buf, from);
    int rc = -1;
    if (at && strlen(from) == strlen(to) && fseek(f, at - buf, SEEK_SET) == 0 &&
        fwrite(to, 1, strlen(to), f) == strlen(to))
        rc = 0;
    return fclose(f) == 0 ? rc : -1;
}

TEST(unpacked_package_edited_in_place_reloads)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -r examples/fashion-mnist %s", path_in("unpacked"));
    FY_CHECK_EQ(system(cmd), 0);
    const char *paths[] = {path_in("unpacked")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    index_t ix;
    const entry *e = find_entry(r, &ix, "fashion-cnn", "1.0.0");
    FY_CHECK(e && e->state == FY_MV_READY);
    /* nothing changed: the same version stays */
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    FY_CHECK((e = find_entry(r, &ix, "fashion-cnn", "1.0.0")) && e->state == FY_MV_READY);
    /* the manifest rewritten in place (the folder's own stat does not change) */
    FY_CHECK_EQ(rewrite_in_place(path_in("unpacked/ferry.yaml"), "version: 1.0.0",
                                 "version: 1.0.1"),
                0);
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    FY_CHECK((e = find_entry(r, &ix, "fashion-cnn", "1.0.1")) && e->state == FY_MV_READY);
    FY_CHECK(!find_entry(r, &ix, "fashion-cnn", "1.0.0"));
    fy__repo_free(r);
}

TEST(repository_policy_keeps_the_newest)
{
    mkdirs(path_in("repo1/addk/1"));
    mkdirs(path_in("repo1/addk/2"));
    mkdirs(path_in("repo1/addk/10"));
    FY_CHECK_EQ(write_addk(path_in("repo1/addk/1/model.onnx"), 1), 0);
    FY_CHECK_EQ(write_addk(path_in("repo1/addk/2/model.onnx"), 2), 0);
    FY_CHECK_EQ(write_addk(path_in("repo1/addk/10/model.onnx"), 10), 0);
    const char *paths[] = {path_in("repo1")};
    fy_diag d = {{0}};
    index_t ix;
    for (int policy = 1; policy <= 2; policy++) {
        fy__repo_opts o = opts_for(paths, 1, NULL);
        o.version_policy_latest = policy == 1 ? 0 : 2; /* 0 means 1 */
        fy__repo *r = NULL;
        FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
        if (!r)
            return;
        FY_CHECK(find_entry(r, &ix, "addk", "10") != NULL);
        FY_CHECK_EQ(ix.n, policy);
        /* numeric order: 10 is newer than 2 */
        char served[16] = "";
        unsigned seed = 3;
        fy_tensor x, out[2] = {{0}};
        make_x(&x, 1, &seed);
        FY_CHECK_EQ(infer_addk(r, NULL, &x, out, served, 0, &d), 200);
        FY_CHECK_STR(served, "10");
        if (out[0].data)
            FY_CHECK_EQ(((float *)out[0].data)[0], ((float *)x.data)[0] + 10.0f);
        fy_tensor_deinit(&out[0]);
        fy_tensor_deinit(&out[1]);
        int st = infer_addk(r, "2", &x, out, served, 0, &d);
        FY_CHECK_EQ(st, policy == 2 ? 200 : 404);
        fy_tensor_deinit(&out[0]);
        fy_tensor_deinit(&out[1]);
        FY_CHECK_EQ(infer_addk(r, "1", &x, out, served, 0, &d), 404);
        fy_tensor_deinit(&x);
        fy__repo_free(r);
    }
}

TEST(bad_paths_are_refused)
{
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    const char *p;

    p = path_in("bad name.onnx");
    FY_CHECK_EQ(write_addk(p, 1), 0);
    fy__repo_opts o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "bad name.onnx: the file's name is not a valid model name");

    p = path_in("missing.onnx");
    o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, "missing.onnx: cannot read");

    p = path_in("link.onnx");
    FY_CHECK_EQ(symlink(path_in("bare/addk.onnx"), p), 0);
    o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "symbolic link");

    p = path_in("fifo.onnx");
    FY_CHECK_EQ(mkfifo(p, 0600), 0);
    o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");

    p = path_in("notes.txt");
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("hello", f);
        fclose(f);
    }
    o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "is not an ONNX model (.onnx), a ferry package (.ferry)");

    o = opts_for(NULL, 0, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    p = path_in("bare/addk.onnx");
    o = opts_for(&p, 1, NULL);
    o.instances = 1000;
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "instances: 1000 is out of range");
    FY_CHECK(r == NULL);

    /* a broken model is a FAILED version, not a failed start */
    p = path_in("broken.onnx");
    if ((f = fopen(p, "w"))) {
        fputs("not protobuf at all", f);
        fclose(f);
    }
    o = opts_for(&p, 1, NULL);
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (r) {
        index_t ix;
        const entry *e = find_entry(r, &ix, "broken", "1");
        FY_CHECK(e && e->state == FY_MV_FAILED && e->reason[0]);
        char why[600];
        FY_CHECK(!fy__repo_ready(r, why, sizeof why));
        FY_CHECK_CONTAINS(why, "model 'broken' is not ready: version '1' is failed: ");
        int st = 0;
        FY_CHECK(fy__repo_acquire(r, "broken", NULL, &st, &d) == NULL);
        FY_CHECK_EQ(st, 503);
        FY_CHECK_CONTAINS(d.msg, "model 'broken' is not ready");
        fy__repo_free(r);
    }
}

TEST(bad_layouts_are_refused_with_reasons)
{
    mkdirs(path_in("repo2/ok/1"));
    FY_CHECK_EQ(write_addk(path_in("repo2/ok/1/model.onnx"), 1), 0);
    mkdirs(path_in("repo2/bad name/1"));
    FY_CHECK_EQ(write_addk(path_in("repo2/bad name/1/model.onnx"), 1), 0);
    mkdirs(path_in("repo2/nover/v1"));
    mkdirs(path_in("repo2/nover/01"));
    mkdirs(path_in("repo2/both/1"));
    FY_CHECK_EQ(write_addk(path_in("repo2/both/1/model.onnx"), 1), 0);
    FY_CHECK_EQ(write_addk(path_in("repo2/both/1/x.ferry"), 1), 0);
    mkdirs(path_in("repo2/empty/3"));
    mkdirs(path_in("repo2/lnk/1"));
    FY_CHECK_EQ(symlink(path_in("repo2/ok/1/model.onnx"), path_in("repo2/lnk/1/model.onnx")), 0);
    FY_CHECK_EQ(symlink(path_in("repo2/ok"), path_in("repo2/alias")), 0);
    mkdirs(path_in("repo2/.hidden/1"));
    const char *paths[] = {path_in("repo2")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    logs_reset();
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    index_t ix;
    const entry *e = find_entry(r, &ix, "ok", "1");
    FY_CHECK(e && e->state == FY_MV_READY);
    e = find_entry(r, &ix, "nover", "");
    FY_CHECK(e && e->state == FY_MV_UNAVAILABLE);
    if (e)
        FY_CHECK_CONTAINS(e->reason, "has no version folder");
    e = find_entry(r, &ix, "both", "1");
    FY_CHECK(e && e->state == FY_MV_FAILED);
    if (e)
        FY_CHECK_CONTAINS(e->reason, "holds both model.onnx and a package");
    e = find_entry(r, &ix, "empty", "3");
    FY_CHECK(e && e->state == FY_MV_FAILED);
    if (e)
        FY_CHECK_CONTAINS(e->reason, "holds neither model.onnx nor a package");
    e = find_entry(r, &ix, "lnk", "1");
    FY_CHECK(e && e->state == FY_MV_FAILED);
    if (e)
        FY_CHECK_CONTAINS(e->reason, "symbolic link");
    /* refused entries are not in the index; the log says why */
    FY_CHECK(!find_entry(r, &ix, "bad name", "1"));
    FY_CHECK(!find_entry(r, &ix, "alias", "1"));
    FY_CHECK(!find_entry(r, &ix, ".hidden", "1"));
    FY_CHECK_CONTAINS(logs.text, "bad name\",\"reason\":\"invalid model name");
    FY_CHECK_CONTAINS(logs.text, "nover/v1\",\"reason\":\"version folders are positive integers");
    FY_CHECK_CONTAINS(logs.text, "nover/01\",\"reason\":\"version folders are positive integers");
    FY_CHECK_CONTAINS(logs.text, "alias\",\"reason\":\"is a symbolic link");
    FY_CHECK(!strstr(logs.text, ".hidden"));
    FY_CHECK_EQ(logs.invalid, 0);
    char why[600];
    FY_CHECK(!fy__repo_ready(r, why, sizeof why));
    FY_CHECK_CONTAINS(why, "is not ready");
    fy__repo_free(r);
}

TEST(warmup_failure_marks_failed)
{
    mkdirs(path_in("repo3/badwarm/1"));
    FY_CHECK_EQ(write_bad_warmup(path_in("repo3/badwarm/1/model.onnx")), 0);
    const char *paths[] = {path_in("repo3")};
    fy__metrics *m = NULL;
    fy__metrics_create(&m);
    fy__repo_opts o = opts_for(paths, 1, m);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    logs_reset();
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    index_t ix;
    const entry *e = find_entry(r, &ix, "badwarm", "1");
    FY_CHECK(e && e->state == FY_MV_FAILED);
    if (e)
        FY_CHECK_CONTAINS(e->reason, "warm-up: ");
    FY_CHECK(!fy__repo_ready(r, NULL, 0));
    FY_CHECK_CONTAINS(logs.text, "\"event\":\"model_load_failed\",\"model\":\"badwarm\"");
    char *text;
    size_t len;
    FY_CHECK_EQ(fy__metrics_render(m, &text, &len), FY_OK);
    FY_CHECK_CONTAINS(text, "ferry_model_load_failures_total{model=\"badwarm\",version=\"1\"} 1\n");
    free(text);
    fy__repo_free(r);
    fy__metrics_free(m);
}

/* ------------------------------------------------------------------------- */
/* Batching                                                                   */
/* ------------------------------------------------------------------------- */

#define B_THREADS 8
#define B_REQUESTS 50

typedef struct bworker {
    fy__repo *r;
    const char *model_path;
    int id, mismatches, failures;
    long rows;
} bworker;

static void *batch_client(void *arg)
{
    bworker *w = arg;
    fy_model *model = NULL;
    fy_session *s = NULL;
    fy_diag d = {{0}};
    unsigned seed = (unsigned)w->id * 7919u + 1;
    if (fy_model_load(&model, w->model_path, NULL, &d) != FY_OK ||
        fy_session_create(&s, model, NULL, &d) != FY_OK) {
        w->failures = B_REQUESTS;
        fy_model_free(model);
        return NULL;
    }
    for (int i = 0; i < B_REQUESTS; i++) {
        int rows = 1 + (rand_r(&seed) % 5 == 0); /* some requests carry two rows */
        fy_tensor x, got[2] = {{0}}, want[2] = {{0}};
        make_x(&x, rows, &seed);
        int st = infer_addk(w->r, NULL, &x, got, NULL, mono_ns() + 10000000000LL, &d);
        if (st != 200) {
            w->failures++;
            fprintf(stderr, "request failed: %d %s\n", st, d.msg);
        } else if (fy_session_run(s, 1, &x, 2, want, &d) != FY_OK) {
            w->failures++;
        } else {
            for (int o = 0; o < 2; o++)
                if (got[o].rank != want[o].rank ||
                    memcmp(got[o].dims, want[o].dims, sizeof got[o].dims) != 0 ||
                    memcmp(got[o].data, want[o].data, fy_tensor_nbytes(&want[o])) != 0)
                    w->mismatches++;
        }
        w->rows += rows;
        for (int o = 0; o < 2; o++) {
            fy_tensor_deinit(&got[o]);
            fy_tensor_deinit(&want[o]);
        }
        fy_tensor_deinit(&x);
    }
    fy_session_free(s);
    fy_model_free(model);
    return NULL;
}

TEST(batched_results_equal_direct_runs)
{
    const char *p = path_in("bare/addk.onnx");
    fy__metrics *m = NULL;
    fy__metrics_create(&m);
    const char *paths[] = {p};
    fy__repo_opts o = opts_for(paths, 1, m);
    o.max_batch_size = 8;
    o.max_queue_delay_us = 1000;
    o.instances = 2;
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    pthread_t th[B_THREADS];
    bworker w[B_THREADS];
    for (int t = 0; t < B_THREADS; t++) {
        w[t] = (bworker){.r = r, .model_path = p, .id = t};
        pthread_create(&th[t], NULL, batch_client, &w[t]);
    }
    long rows = 0;
    for (int t = 0; t < B_THREADS; t++) {
        pthread_join(th[t], NULL);
        FY_CHECK_EQ(w[t].failures, 0);
        FY_CHECK_EQ(w[t].mismatches, 0);
        rows += w[t].rows;
    }
    fy__mv_stats s;
    fy__metrics_mv_stats(m, "addk", "1", &s);
    FY_CHECK_EQ(s.inference_count, rows);
    /* batches of more than one request did happen */
    FY_CHECK(s.execution_count < (uint64_t)(B_THREADS * B_REQUESTS));
    FY_CHECK(s.execution_count > 0);
    printf("     %ld rows in %llu batches\n", rows, (unsigned long long)s.execution_count);
    char *text;
    size_t len;
    FY_CHECK_EQ(fy__metrics_render(m, &text, &len), FY_OK);
    FY_CHECK_CONTAINS(text, "nv_inference_pending_request_count{model=\"addk\",version=\"1\"} 0\n");
    free(text);
    fy__repo_free(r);
    fy__metrics_free(m);
}

TEST(bad_requests_get_400)
{
    const char *paths[] = {path_in("bare/addk.onnx")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    o.max_batch_size = 4;
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r, "addk", NULL, &st, &d);
    FY_CHECK(mv != NULL);
    if (!mv) {
        fy__repo_free(r);
        return;
    }
    fy_tensor t = {0}, out[2] = {{0}};
    int64_t dims[3] = {2, 5, 1};
    fy_tensor_alloc(&t, FY_DTYPE_F32, 2, dims, NULL);
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &t, 2, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_EQ(st, 400);
    FY_CHECK_CONTAINS(d.msg, "input 'x': dimension 1 must be 4, got float32[2,5]");
    fy_tensor_deinit(&t);
    fy_tensor_alloc(&t, FY_DTYPE_I64, 2, (int64_t[]){2, 4}, NULL);
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &t, 2, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_EQ(st, 400);
    FY_CHECK_CONTAINS(d.msg, "input 'x': expected float32, got int64[2,4]");
    fy_tensor_deinit(&t);
    fy_tensor_alloc(&t, FY_DTYPE_F32, 3, dims, NULL);
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &t, 2, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 'x': expected rank 2");
    FY_CHECK_EQ(fy__mv_infer(mv, 2, &t, 2, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "takes 1 input, got 2");
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &t, 3, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "has 2 outputs, 3 asked for");
    fy_tensor_deinit(&t);
    fy_tensor nodata = {.dtype = FY_DTYPE_F32, .rank = 2, .dims = {1, 4}};
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &nodata, 2, out, 0, &st, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 'x' has no data");
    fy_tensor huge = {.dtype = FY_DTYPE_F32, .rank = 2, .dims = {INT64_MAX / 2, 4}};
    huge.data = &huge;
    FY_CHECK(fy__mv_infer(mv, 1, &huge, 2, out, 0, &st, &d) != FY_OK);
    FY_CHECK_EQ(st, 400);
    /* a request with more rows than a batch runs on its own */
    unsigned seed = 9;
    make_x(&t, 7, &seed);
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &t, 1, out, 0, &st, &d), FY_OK);
    FY_CHECK_EQ(st, 200);
    FY_CHECK_EQ(out[0].dims[0], 7);
    FY_CHECK(out[1].data == NULL); /* only the outputs asked for */
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&t);
    fy__mv_release(mv);
    fy__repo_free(r);
}

/* ------------------------------------------------------------------------- */
/* Load shedding and deadlines                                                */
/* ------------------------------------------------------------------------- */

#define SLOW_M 1000

typedef struct sreq {
    fy__repo *r;
    int m;               /* the request is float32[1, m] */
    int64_t deadline_ms; /* 0: none */
    int status;
    int64_t took_ns;
    char msg[512];
} sreq;

static void *slow_client(void *arg)
{
    sreq *q = arg;
    fy_diag d = {{0}};
    fy_tensor a, out = {0};
    int64_t dims[2] = {1, q->m};
    fy_tensor_alloc(&a, FY_DTYPE_F32, 2, dims, NULL);
    for (int i = 0; i < q->m; i++)
        ((float *)a.data)[i] = 0.001f * (float)(i % 7);
    int64_t t0 = mono_ns();
    fy__mv *mv = fy__repo_acquire(q->r, "slow", NULL, &q->status, &d);
    if (mv) {
        fy__mv_infer(mv, 1, &a, 1, &out, q->deadline_ms ? t0 + q->deadline_ms * 1000000 : 0,
                     &q->status, &d);
        fy__mv_release(mv);
    }
    q->took_ns = mono_ns() - t0;
    snprintf(q->msg, sizeof q->msg, "%s", d.msg);
    fy_tensor_deinit(&out);
    fy_tensor_deinit(&a);
    return NULL;
}

static fy__repo *slow_repo(fy__metrics *m, int capacity)
{
    const char *paths[] = {path_in("slow.onnx")};
    fy__repo_opts o = opts_for(paths, 1, m);
    o.queue_capacity = capacity;
    o.instances = 1;
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    if (fy__repo_create(&r, &o, &d) != FY_OK)
        fprintf(stderr, "slow repo: %s\n", d.msg);
    return r;
}

TEST(full_queue_answers_503)
{
    FY_CHECK_EQ(write_slow(path_in("slow.onnx")), 0);
    fy__repo *r = slow_repo(NULL, 2);
    if (!r)
        return;
    sreq big = {.r = r, .m = SLOW_M}, small[4];
    pthread_t tb, ts[4];
    pthread_create(&tb, NULL, slow_client, &big);
    sleep_ms(20); /* the slow request is running */
    for (int i = 0; i < 4; i++) {
        small[i] = (sreq){.r = r, .m = 2};
        pthread_create(&ts[i], NULL, slow_client, &small[i]);
    }
    int rejected = 0, ok = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(ts[i], NULL);
        if (small[i].status == 503) {
            rejected++;
            FY_CHECK_CONTAINS(small[i].msg, "queue full (2 requests waiting); retry later");
        } else {
            FY_CHECK_EQ(small[i].status, 200);
            ok++;
        }
    }
    pthread_join(tb, NULL);
    FY_CHECK_EQ(big.status, 200);
    FY_CHECK(rejected >= 1);
    FY_CHECK(ok >= 1);
    printf("     slow request took %.0f ms; %d rejected, %d served\n", (double)big.took_ns / 1e6,
           rejected, ok);
    fy__repo_free(r);
}

TEST(passed_deadline_answers_503_and_never_runs)
{
    fy__metrics *m = NULL;
    fy__metrics_create(&m);
    fy__repo *r = slow_repo(m, 8);
    if (!r) {
        fy__metrics_free(m);
        return;
    }
    fy__mv_stats before, after;
    fy__metrics_mv_stats(m, "slow", "1", &before);
    sreq big = {.r = r, .m = SLOW_M}, late = {.r = r, .m = 2, .deadline_ms = 5};
    pthread_t tb, tl;
    pthread_create(&tb, NULL, slow_client, &big);
    sleep_ms(20);
    pthread_create(&tl, NULL, slow_client, &late);
    pthread_join(tl, NULL);
    pthread_join(tb, NULL);
    FY_CHECK_EQ(big.status, 200);
    FY_CHECK_EQ(late.status, 503);
    FY_CHECK_CONTAINS(late.msg, "timed out in queue");
    FY_CHECK(late.took_ns < big.took_ns);
    fy__metrics_mv_stats(m, "slow", "1", &after);
    FY_CHECK_EQ(after.execution_count - before.execution_count, 1); /* only the big one ran */
    /* a deadline already gone is refused at once */
    sreq gone = {.r = r, .m = 2, .deadline_ms = -1};
    slow_client(&gone);
    FY_CHECK_EQ(gone.status, 503);
    FY_CHECK_CONTAINS(gone.msg, "timed out in queue");
    fy__repo_free(r);
    fy__metrics_free(m);
}

/* fy__mv_submit (the HTTP layer's path without a worker thread): each callback runs
 * exactly once; a queued request past its deadline is failed by the batcher's
 * reaper while the batch ahead of it still runs; the others run after it. */
typedef struct areq {
    fy_tensor in, out;
    fy_diag d;
    atomic_int calls;
    int rc, status;
    int64_t done_ns;
} areq;

static void areq_cb(void *ctx, int rc, int status)
{
    areq *a = ctx;
    a->rc = rc;
    a->status = status;
    a->done_ns = mono_ns();
    atomic_fetch_add(&a->calls, 1);
}

TEST(submitted_requests_complete_and_time_out)
{
    fy__repo *r = slow_repo(NULL, 8);
    if (!r)
        return;
    sreq big = {.r = r, .m = SLOW_M};
    pthread_t tb;
    pthread_create(&tb, NULL, slow_client, &big);
    sleep_ms(20); /* the slow request is running */
    areq a[3];
    int st = 0;
    fy_diag d = {{0}};
    fy__mv *mv = fy__repo_acquire(r, "slow", NULL, &st, &d);
    FY_CHECK(mv != NULL);
    if (!mv) {
        pthread_join(tb, NULL);
        fy__repo_free(r);
        return;
    }
    int64_t t0 = mono_ns();
    for (int i = 0; i < 3; i++) {
        memset(&a[i], 0, sizeof a[i]);
        int64_t dims[2] = {1, 2};
        fy_tensor_alloc(&a[i].in, FY_DTYPE_F32, 2, dims, NULL);
        ((float *)a[i].in.data)[0] = 1;
        ((float *)a[i].in.data)[1] = 2;
        /* request 0: a 5 ms deadline; the others none */
        FY_CHECK_EQ(fy__mv_submit(mv, 1, &a[i].in, 1, &a[i].out, i == 0 ? t0 + 5000000 : 0, &st,
                                  &a[i].d, areq_cb, &a[i]),
                    FY_OK);
    }
    /* a deadline already gone: refused at once, no callback */
    areq gone;
    memset(&gone, 0, sizeof gone);
    int64_t dims1[2] = {1, 2};
    fy_tensor_alloc(&gone.in, FY_DTYPE_F32, 2, dims1, NULL);
    FY_CHECK_EQ(fy__mv_submit(mv, 1, &gone.in, 1, &gone.out, 1, &st, &gone.d, areq_cb, &gone),
                FY_ELIMIT);
    FY_CHECK_EQ(st, 503);
    for (int i = 0; i < 400 && !atomic_load(&a[0].calls); i++)
        sleep_ms(5);
    FY_CHECK_EQ(atomic_load(&a[0].calls), 1);
    FY_CHECK_EQ(a[0].status, 503);
    FY_CHECK_CONTAINS(a[0].d.msg, "timed out in queue");
    pthread_join(tb, NULL);
    FY_CHECK_EQ(big.status, 200);
    FY_CHECK(a[0].done_ns - t0 < big.took_ns); /* answered while the big one ran */
    for (int i = 1; i < 3; i++) {
        for (int k = 0; k < 400 && !atomic_load(&a[i].calls); k++)
            sleep_ms(5);
        FY_CHECK_EQ(atomic_load(&a[i].calls), 1);
        FY_CHECK_EQ(a[i].status, 200);
        FY_CHECK_EQ(a[i].rc, FY_OK);
        /* ((A^T A)^2)^2 of [1, 2]: P = A^T A = [[1,2],[2,4]], P^2 = 5P, so 125P */
        FY_CHECK(a[i].out.data && a[i].out.rank == 2 && a[i].out.dims[0] == 2);
        if (a[i].out.data)
            FY_CHECK_NEAR(((float *)a[i].out.data)[3], 500.0f, 0.01f);
    }
    sleep_ms(20);
    FY_CHECK_EQ(atomic_load(&gone.calls), 0);
    for (int i = 0; i < 3; i++) {
        FY_CHECK_EQ(atomic_load(&a[i].calls), 1); /* never twice */
        fy_tensor_deinit(&a[i].in);
        fy_tensor_deinit(&a[i].out);
    }
    fy_tensor_deinit(&gone.in);
    fy__mv_release(mv);
    fy__repo_free(r);
}

/* ------------------------------------------------------------------------- */
/* Reload and unload while serving                                            */
/* ------------------------------------------------------------------------- */

typedef struct lworker {
    fy__repo *r;
    atomic_int *stop;
    int id;
    long sent, failed, wrong, by_version[4];
} lworker;

static void *load_client(void *arg)
{
    lworker *w = arg;
    unsigned seed = (unsigned)w->id + 100;
    while (!atomic_load(w->stop)) {
        fy_tensor x, out[2] = {{0}};
        fy_diag d = {{0}};
        char served[16] = "";
        make_x(&x, 1, &seed);
        int st = infer_addk(w->r, NULL, &x, out, served, mono_ns() + 10000000000LL, &d);
        w->sent++;
        if (st != 200) {
            w->failed++;
            fprintf(stderr, "request failed during reload: %d %s\n", st, d.msg);
        } else {
            int v = (int)strtol(served, NULL, 10);
            float k = v == 3 ? 30.0f : (float)v; /* version 3 is rewritten with k = 30 */
            if (v >= 1 && v <= 3)
                w->by_version[v]++;
            if (((float *)out[0].data)[0] != ((float *)x.data)[0] + k)
                w->wrong++;
        }
        fy_tensor_deinit(&out[0]);
        fy_tensor_deinit(&out[1]);
        fy_tensor_deinit(&x);
    }
    return NULL;
}

TEST(reload_under_load_fails_nothing)
{
    mkdirs(path_in("repo4/addk/1"));
    FY_CHECK_EQ(write_addk(path_in("repo4/addk/1/model.onnx"), 1), 0);
    const char *paths[] = {path_in("repo4")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    o.max_batch_size = 4;
    o.max_queue_delay_us = 500;
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    atomic_int stop = 0;
    lworker w[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        w[t] = (lworker){.r = r, .stop = &stop, .id = t};
        pthread_create(&th[t], NULL, load_client, &w[t]);
    }
    sleep_ms(50);
    /* a new version appears: it takes over, version 1 drains and goes */
    mkdirs(path_in("repo4/addk/2"));
    FY_CHECK_EQ(write_addk(path_in("repo4/addk/2/model.onnx"), 2), 0);
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    index_t ix;
    FY_CHECK(!find_entry(r, &ix, "addk", "1"));
    const entry *e = find_entry(r, &ix, "addk", "2");
    FY_CHECK(e && e->state == FY_MV_READY);
    sleep_ms(50);
    /* a new version that fails to load leaves the old one serving */
    mkdirs(path_in("repo4/addk/3"));
    FY_CHECK_EQ(write_bad_warmup(path_in("repo4/addk/3/model.onnx")), 0);
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    e = find_entry(r, &ix, "addk", "3");
    FY_CHECK(e && e->state == FY_MV_FAILED);
    e = find_entry(r, &ix, "addk", "2");
    FY_CHECK(e && e->state == FY_MV_READY);
    sleep_ms(30);
    /* fixed in place (same version, new file): replaced without a gap */
    FY_CHECK_EQ(write_addk(path_in("repo4/addk/3/model.onnx"), 30), 0);
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    sleep_ms(50);
    atomic_store(&stop, 1);
    long sent = 0, failed = 0, wrong = 0, v1 = 0, v2 = 0, v3 = 0;
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        sent += w[t].sent;
        failed += w[t].failed;
        wrong += w[t].wrong;
        v1 += w[t].by_version[1];
        v2 += w[t].by_version[2];
        v3 += w[t].by_version[3];
    }
    printf("     %ld requests: %ld on v1, %ld on v2, %ld on v3\n", sent, v1, v2, v3);
    FY_CHECK_EQ(failed, 0);
    FY_CHECK_EQ(wrong, 0);
    FY_CHECK(v1 > 0 && v2 > 0);
    /* the new version serves afterwards */
    fy_tensor x, out[2] = {{0}};
    unsigned seed = 5;
    char served[16] = "";
    make_x(&x, 1, &seed);
    FY_CHECK_EQ(infer_addk(r, NULL, &x, out, served, 0, &d), 200);
    FY_CHECK_STR(served, "3");
    if (out[0].data)
        FY_CHECK_EQ(((float *)out[0].data)[0], ((float *)x.data)[0] + 30.0f);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    fy_tensor_deinit(&x);
    FY_CHECK(!find_entry(r, &ix, "addk", "2"));
    /* the repository folder unreadable for a moment: nothing is dropped */
    char away[600];
    snprintf(away, sizeof away, "%s.away", path_in("repo4"));
    FY_CHECK_EQ(rename(path_in("repo4"), away), 0);
    logs_reset();
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    e = find_entry(r, &ix, "addk", "3");
    FY_CHECK(e && e->state == FY_MV_READY);
    FY_CHECK_CONTAINS(logs.text, "repo4\",\"reason\":\"cannot read: No such file or directory");
    FY_CHECK_EQ(rename(away, path_in("repo4")), 0);
    /* the whole model folder removed: the model goes */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", path_in("repo4/addk"));
    FY_CHECK_EQ(system(cmd), 0);
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    FY_CHECK(!find_entry(r, &ix, "addk", "3"));
    FY_CHECK_EQ(ix.n, 0);
    char why[256];
    FY_CHECK(!fy__repo_ready(r, why, sizeof why));
    FY_CHECK_STR(why, "no model is loaded");
    fy__repo_free(r);
}

typedef struct unloader {
    fy__repo *r;
    atomic_int done;
    int rc;
} unloader;

static void *do_unload(void *arg)
{
    unloader *u = arg;
    fy_diag d;
    u->rc = fy__repo_unload(u->r, "addk", &d);
    atomic_store(&u->done, 1);
    return NULL;
}

TEST(unload_waits_for_in_flight_requests)
{
    const char *paths[] = {path_in("bare/addk.onnx")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r, "addk", NULL, &st, &d);
    FY_CHECK(mv != NULL);
    if (!mv) {
        fy__repo_free(r);
        return;
    }
    unloader u = {.r = r};
    pthread_t th;
    pthread_create(&th, NULL, do_unload, &u);
    sleep_ms(100);
    FY_CHECK(!atomic_load(&u.done)); /* waiting for our reference */
    /* no new acquires while unloading */
    FY_CHECK(fy__repo_acquire(r, "addk", NULL, &st, &d) == NULL);
    FY_CHECK_EQ(st, 503);
    FY_CHECK_CONTAINS(d.msg, "unloading");
    /* the request in flight still completes on it */
    fy_tensor x, out[2] = {{0}};
    unsigned seed = 11;
    make_x(&x, 1, &seed);
    FY_CHECK_EQ(fy__mv_infer(mv, 1, &x, 2, out, 0, &st, &d), FY_OK);
    FY_CHECK_EQ(st, 200);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    fy__mv_release(mv);
    pthread_join(th, NULL);
    FY_CHECK(atomic_load(&u.done));
    FY_CHECK_EQ(u.rc, FY_OK);
    index_t ix;
    const entry *e = find_entry(r, &ix, "addk", "1");
    FY_CHECK(e && e->state == FY_MV_UNAVAILABLE);
    if (e)
        FY_CHECK_STR(e->reason, "unloaded");
    FY_CHECK(!fy__repo_ready(r, NULL, 0));
    /* a rescan leaves an unloaded model alone; an explicit load brings it back */
    FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    e = find_entry(r, &ix, "addk", "1");
    FY_CHECK(e && e->state == FY_MV_UNAVAILABLE);
    FY_CHECK_EQ(fy__repo_load(r, "addk", &d), FY_OK);
    e = find_entry(r, &ix, "addk", "1");
    FY_CHECK(e && e->state == FY_MV_READY);
    FY_CHECK(fy__repo_ready(r, NULL, 0));
    mv = fy__repo_acquire(r, "addk", NULL, &st, &d);
    FY_CHECK(mv != NULL);
    if (mv)
        FY_CHECK_EQ(fy__mv_infer(mv, 1, &x, 2, out, 0, &st, &d), FY_OK);
    fy__mv_release(mv);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    fy_tensor_deinit(&x);
    FY_CHECK_EQ(fy__repo_load(r, "nothere", &d), FY_ENOTFOUND);
    FY_CHECK_EQ(fy__repo_load(r, "../x", &d), FY_EINVAL);
    FY_CHECK_EQ(fy__repo_unload(r, "nothere", &d), FY_ENOTFOUND);
    fy__repo_free(r);
}

/* ------------------------------------------------------------------------- */
/* Allocation failures                                                        */
/* ------------------------------------------------------------------------- */

TEST(allocation_failures_leak_nothing)
{
    mkdirs(path_in("repo5/addk/1"));
    FY_CHECK_EQ(write_addk(path_in("repo5/addk/1/model.onnx"), 1), 0);
    const char *paths[] = {path_in("repo5")};
    int done = 0, failed_calls = 0, failed_versions = 0;
    for (long n = 1; n < 5000 && !done; n++) {
        fy__repo_opts o = opts_for(paths, 1, NULL);
        o.max_batch_size = 4;
        o.instances = 2;
        fy__repo *r = NULL;
        fy_diag d = {{0}};
        long before = fy__alloc_count();
        fy__alloc_fail_at(n);
        int rc = fy__repo_create(&r, &o, &d);
        long used = fy__alloc_count() - before;
        fy__alloc_fail_at(0);
        if (rc != FY_OK) {
            FY_CHECK(r == NULL);
            FY_CHECK(d.msg[0] != 0);
            failed_calls++;
        } else {
            index_t ix;
            const entry *e = find_entry(r, &ix, "addk", "1");
            if (!e || e->state != FY_MV_READY)
                failed_versions++;
            fy__repo_free(r);
        }
        done = used < n;
    }
    printf("     %d failed calls, %d failed versions\n", failed_calls, failed_versions);
    FY_CHECK(done);
    FY_CHECK(failed_calls > 0);
    FY_CHECK(failed_versions > 0);
}

TEST(reload_under_allocation_failures_keeps_serving)
{
    mkdirs(path_in("repo6/addk/1"));
    FY_CHECK_EQ(write_addk(path_in("repo6/addk/1/model.onnx"), 1), 0);
    const char *paths[] = {path_in("repo6")};
    fy__repo_opts o = opts_for(paths, 1, NULL);
    fy__repo *r = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__repo_create(&r, &o, &d), FY_OK);
    if (!r)
        return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", path_in("repo6/addk/2"));
    int done = 0, down = 0, kept_old = 0;
    for (long n = 1; n < 5000 && !done; n++) {
        mkdirs(path_in("repo6/addk/2"));
        FY_CHECK_EQ(write_addk(path_in("repo6/addk/2/model.onnx"), 2), 0);
        long before = fy__alloc_count();
        fy__alloc_fail_at(n);
        fy__repo_reload(r, &d);
        long used = fy__alloc_count() - before;
        fy__alloc_fail_at(0);
        done = used < n;
        /* whatever failed, a version serves */
        int st = 0;
        fy__mv *mv = fy__repo_acquire(r, "addk", NULL, &st, &d);
        if (!mv)
            down++;
        else if (strcmp(fy__mv_version(mv), "1") == 0)
            kept_old++;
        fy__mv_release(mv);
        /* back to version 1 alone */
        FY_CHECK_EQ(system(cmd), 0);
        FY_CHECK_EQ(fy__repo_reload(r, &d), FY_OK);
    }
    printf("     %d reloads kept the old version serving\n", kept_old);
    FY_CHECK(done);
    FY_CHECK_EQ(down, 0);
    FY_CHECK(kept_old > 0);
    fy__repo_free(r);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-repo-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(bare_model_serves_under_its_stem);
    RUN(lone_request_does_not_wait_for_a_batch);
    RUN(package_serves_under_its_manifest_name);
    RUN(unpacked_package_edited_in_place_reloads);
    RUN(repository_policy_keeps_the_newest);
    RUN(bad_paths_are_refused);
    RUN(bad_layouts_are_refused_with_reasons);
    RUN(warmup_failure_marks_failed);
    RUN(batched_results_equal_direct_runs);
    RUN(bad_requests_get_400);
    RUN(full_queue_answers_503);
    RUN(passed_deadline_answers_503_and_never_runs);
    RUN(submitted_requests_complete_and_time_out);
    RUN(reload_under_load_fails_nothing);
    RUN(unload_waits_for_in_flight_requests);
    RUN(allocation_failures_leak_nothing);
    RUN(reload_under_allocation_failures_keeps_serving);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
