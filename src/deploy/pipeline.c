/* SPDX-License-Identifier: MIT */
/* The deploy pipeline for the local target: validate → environment → pack → stage
 * → verify → promote, or roll back; every stage reported as it runs and recorded in
 * the state store. The live version keeps serving until the new one has passed
 * everything. See docs/deploy.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../serve/serve_int.h"
#include "deploy_int.h"
#include "ferry/env.h"
#include "ferry/package.h"
#include "verify_stage.h"

#define MAX_STAGES 16

typedef struct pending_stage {
    char name[16], outcome[16];
    double seconds;
    char detail[512];
} pending_stage;

typedef struct run {
    const fy_deploy_opts *o;
    fy_deploy_result *res;
    char state[FY_DEPLOY_PATH_MAX];
    char svcdir[FY_DEPLOY_PATH_MAX];
    const char *service;
    fy_store *store;
    int64_t id; /* 0 until the deployment is recorded */
    pending_stage pend[MAX_STAGES];
    int n_pend;
    double t0; /* start of the current stage */
    int lock_fd;
} run;

static void ev(run *r, const char *stage, const char *state, double secs, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void ev(run *r, const char *stage, const char *state, double secs, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->o->on_event)
        r->o->on_event(stage, state, msg, secs, r->o->ctx);
}

static void stage_start(run *r, const char *stage, const char *what)
{
    r->t0 = fy__deploy_now();
    ev(r, stage, "start", 0, "%s", what);
}

/* A stage's result: shown, and recorded (held back until the deployment has a row). */
static void stage_end(run *r, const char *stage, const char *outcome, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stage_end(run *r, const char *stage, const char *outcome, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    double secs = fy__deploy_now() - r->t0;
    ev(r, stage, outcome, secs, "%s", msg);
    if (r->id > 0 && r->store) {
        fy_diag d = {{0}};
        fy_store_stage(r->store, r->id, stage, outcome, secs, msg, &d);
    } else if (r->n_pend < MAX_STAGES) {
        pending_stage *p = &r->pend[r->n_pend++];
        snprintf(p->name, sizeof p->name, "%s", stage);
        snprintf(p->outcome, sizeof p->outcome, "%s", outcome);
        snprintf(p->detail, sizeof p->detail, "%s", msg);
        p->seconds = secs;
    }
}

static int record_begin(run *r, const char *version, const char *kind, const char *strategy,
                        fy_diag *d)
{
    int interrupted = 0;
    int rc = fy_store_deploy_begin(r->store, r->service, version, kind, strategy, &r->id,
                                   &interrupted, d);
    if (rc)
        return rc;
    r->res->deploy_id = r->id;
    if (interrupted)
        ev(r, "validate", "info", 0,
           "%d earlier deployment(s) of %s had been interrupted; recorded as interrupted",
           interrupted, r->service);
    for (int i = 0; i < r->n_pend; i++)
        fy_store_stage(r->store, r->id, r->pend[i].name, r->pend[i].outcome, r->pend[i].seconds,
                       r->pend[i].detail, d);
    r->n_pend = 0;
    return FY_OK;
}

static void finish(run *r, int outcome, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finish(run *r, int outcome, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->res->detail, sizeof r->res->detail, fmt, ap);
    va_end(ap);
    r->res->outcome = outcome;
    if (r->id > 0 && r->store) {
        fy_diag d = {{0}};
        if (fy_store_deploy_end(r->store, r->id, status, r->res->detail, &d) != FY_OK)
            ev(r, "promote", "info", 0, "recording the outcome failed: %s", d.msg);
    } else if (r->store) {
        fy_diag d = {{0}};
        fy_store_audit(r->store, r->service, "deploy", status, r->res->detail, &d);
    }
}

/* The service's deploy lock: held for the whole run, released by the kernel if the
 * deployer dies, so a killed deploy never blocks the next one. */
static int take_lock(run *r, fy_diag *d)
{
    char p[FY_DEPLOY_PATH_MAX];
    snprintf(p, sizeof p, "%s/deploy.lock", r->svcdir);
    r->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->lock_fd < 0)
        return fy__diag_set(d, FY_EIO, "cannot open %s: %s", p, strerror(errno));
    double until = fy__deploy_now() + r->o->lock_wait_s;
    int announced = 0;
    while (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char buf[32] = "";
        ssize_t n = pread(r->lock_fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        long holder = strtol(buf, NULL, 10);
        if (fy__deploy_now() >= until)
            return fy__diag_set(d, FY_ELIMIT,
                                "another deploy of %s is running (pid %ld); deploys of one service "
                                "run one at a time: wait for it, or pass --wait SECONDS",
                                r->service, holder);
        if (!announced++)
            ev(r, "validate", "info", 0, "waiting for another deploy of %s (pid %ld)", r->service,
               holder);
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(r->lock_fd, 0) == 0 && pwrite(r->lock_fd, pid, (size_t)n, 0) < 0) {
    }
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Talking to the supervisor                                                  */
/* ------------------------------------------------------------------------- */

static json_t *call(run *r, json_t *req, fy_diag *d)
{
    char *text = json_dumps(req, JSON_COMPACT), *ans = NULL;
    json_decref(req);
    if (!text) {
        fy__diag_set(d, FY_ENOMEM, "out of memory");
        return NULL;
    }
    int rc = fy_supervisor_call(r->state, r->service, text, &ans, 10, d);
    free(text);
    if (rc)
        return NULL;
    json_t *j = json_loads(ans, 0, NULL);
    fy__free(ans);
    if (!j)
        fy__diag_set(d, FY_EIO, "the supervisor's answer is not JSON");
    else if (!json_is_true(json_object_get(j, "ok"))) {
        fy__diag_set(d, FY_EIO, "supervisor: %s",
                     json_string_value(json_object_get(j, "error"))
                         ? json_string_value(json_object_get(j, "error"))
                         : "refused");
        json_decref(j);
        j = NULL;
    }
    return j;
}

static json_t *find_version(json_t *status, const char *version)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(status, "versions"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "version")), version))
            return v;
    }
    return NULL;
}

static int sup_start(run *r, const char *version, const char *pkg, int replicas,
                     const char *args_json, int weight, fy_diag *d)
{
    json_t *args = json_loads(args_json ? args_json : "[]", 0, NULL);
    json_t *j = call(r,
                     json_pack("{s:s, s:s, s:s, s:i, s:i, s:o}", "cmd", "start", "version", version,
                               "package", pkg, "replicas", replicas, "weight", weight, "args",
                               args ? args : json_array()),
                     d);
    if (!j)
        return FY_EIO;
    json_decref(j);
    return FY_OK;
}

static int sup_simple(run *r, const char *cmd, const char *version, int percent, fy_diag *d)
{
    json_t *req = percent >= 0 ? json_pack("{s:s, s:s, s:i}", "cmd", cmd, "version", version,
                                           "percent", percent)
                               : json_pack("{s:s, s:s}", "cmd", cmd, "version", version);
    json_t *j = call(r, req, d);
    if (!j)
        return FY_EIO;
    json_decref(j);
    return FY_OK;
}

static json_t *sup_status(run *r, fy_diag *d)
{
    return call(r, json_pack("{s:s}", "cmd", "status"), d);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Wait until every worker of version is ready. Fails when one keeps crashing
 * before it is ever ready, or at the timeout. *port: one ready worker's port. */
static int wait_ready(run *r, const char *version, double timeout, int *port, fy_diag *d)
{
    double until = fy__deploy_now() + timeout;
    while (fy__deploy_now() < until) {
        json_t *st = sup_status(r, d);
        if (!st)
            return FY_EIO;
        json_t *v = find_version(st, version);
        if (!v) {
            json_decref(st);
            return fy__diag_set(d, FY_EIO, "version %s vanished from the supervisor", version);
        }
        int ready = (int)json_integer_value(json_object_get(v, "ready"));
        int replicas = (int)json_integer_value(json_object_get(v, "replicas"));
        int restarts = (int)json_integer_value(json_object_get(v, "restarts"));
        if (ready == replicas) {
            size_t i;
            json_t *w;
            json_array_foreach(json_object_get(v, "workers"), i, w)
            {
                if (!strcmp(json_string_value(json_object_get(w, "state")), "ready"))
                    *port = (int)json_integer_value(json_object_get(w, "port"));
            }
            json_decref(st);
            return FY_OK;
        }
        if (restarts >= 2 * replicas) {
            char last[64] = "";
            json_t *w0 = json_array_get(json_object_get(v, "workers"), 0);
            snprintf(last, sizeof last, "%s", json_string_value(json_object_get(w0, "last_exit")));
            json_decref(st);
            return fy__diag_set(d, FY_EINVAL,
                                "version %s keeps exiting before it is ready (%d restarts, last: "
                                "%s); its log: %s/workers/%s-0.err",
                                version, restarts, last, r->svcdir, version);
        }
        json_decref(st);
        sleep_s(0.1);
    }
    return fy__diag_set(d, FY_EINVAL, "version %s was not ready within %.0f s (see %s/workers/)",
                        version, timeout, r->svcdir);
}

/* Retire a version and wait until its workers are gone (bounded). */
static int retire_wait(run *r, const char *version, double timeout, fy_diag *d)
{
    int rc = sup_simple(r, "retire", version, -1, d);
    if (rc)
        return rc;
    double until = fy__deploy_now() + timeout;
    while (fy__deploy_now() < until) {
        json_t *st = sup_status(r, d);
        if (!st)
            return FY_EIO;
        int gone = find_version(st, version) == NULL;
        json_decref(st);
        if (gone)
            return FY_OK;
        sleep_s(0.05);
    }
    return fy__diag_set(d, FY_EIO, "version %s still draining after %.0f s", version, timeout);
}

/* Make the supervisor match the record: the live version runs and takes all
 * traffic; anything else (left by an interrupted deploy) is retired. */
static int reconcile(run *r, const char *live, double start_timeout, fy_diag *d)
{
    json_t *st = sup_status(r, d);
    if (!st)
        return FY_EIO;
    size_t i;
    json_t *v;
    char stray[4][64];
    int n_stray = 0, live_running = 0;
    json_array_foreach(json_object_get(st, "versions"), i, v)
    {
        const char *name = json_string_value(json_object_get(v, "version"));
        if (live[0] && !strcmp(name, live) && !json_is_true(json_object_get(v, "retiring")))
            live_running = 1;
        else if (n_stray < 4)
            snprintf(stray[n_stray++], 64, "%s", name);
    }
    json_decref(st);
    int rc = FY_OK;
    if (live[0] && !live_running) {
        char pkg[FY_DEPLOY_PATH_MAX], *args = NULL;
        int replicas = 1;
        if ((rc = fy_store_version_package(r->store, r->service, live, pkg, sizeof pkg, NULL, 0,
                                           d)) ||
            (rc = fy_store_version_settings(r->store, r->service, live, &replicas, &args, d)))
            return rc;
        ev(r, "stage", "info", 0, "the live version %s was not running: starting it again", live);
        rc = sup_start(r, live, pkg, replicas, args, 100, d);
        fy__free(args);
        int p;
        if (rc == FY_OK)
            rc = wait_ready(r, live, start_timeout, &p, d);
        if (rc)
            return rc;
    }
    if (live[0])
        sup_simple(r, "route", live, 100, d);
    for (int k = 0; k < n_stray; k++) {
        ev(r, "stage", "info", 0, "retiring %s, left by an interrupted deploy", stray[k]);
        if ((rc = retire_wait(r, stray[k], 60, d)))
            return rc;
    }
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Files                                                                      */
/* ------------------------------------------------------------------------- */

/* Copy src to dst atomically (temporary file, fsync, rename): a full disk leaves
 * no half-written package behind. */
static int copy_file(const char *src, const char *dst, fy_diag *d)
{
    char tmp[FY_DEPLOY_PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fy__diag_set(d, FY_EIO, "%s: %s", src, strerror(errno));
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return fy__diag_set(d, FY_EIO, "%s: %s", tmp, strerror(e));
    }
    char buf[1 << 16];
    int rc = FY_OK;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fy__diag_set(d, FY_EIO, "reading %s: %s", src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = fy__diag_set(d, FY_EIO, "writing %s: %s", tmp,
                                  w < 0 ? strerror(errno) : "short write");
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (rc == FY_OK && fsync(out) != 0)
        rc = fy__diag_set(d, FY_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(out) != 0 && rc == FY_OK)
        rc = fy__diag_set(d, FY_EIO, "closing %s: %s", tmp, strerror(errno));
    close(in);
    if (rc == FY_OK && rename(tmp, dst) != 0)
        rc = fy__diag_set(d, FY_EIO, "rename to %s: %s", dst, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The front's HTTPS settings as the supervisor reads them (FY_FRONT_TLS_FILE in the
 * service folder): {"cert": PATH, "key": PATH} with absolute paths, or no file for
 * plain HTTP. A running supervisor keeps the settings it started with, so a change
 * then needs 'ferry stop' first, as a change of port does. */
static int front_tls(run *r, const fy_deploy_spec *spec, fy_diag *d)
{
    char path[FY_DEPLOY_PATH_MAX + 32], tmp[FY_DEPLOY_PATH_MAX + 40];
    snprintf(path, sizeof path, "%s/%s", r->svcdir, FY_FRONT_TLS_FILE);
    char *want = NULL, *have = NULL;
    if (spec->tls_cert) {
        char cert[FY_DEPLOY_PATH_MAX], key[FY_DEPLOY_PATH_MAX];
        if (!realpath(spec->tls_cert, cert) || !realpath(spec->tls_key, key))
            return fy__diag_set(d, FY_EIO, "serving.tls_cert/tls_key: %s", strerror(errno));
        json_t *j = json_pack("{s:s, s:s}", "cert", cert, "key", key);
        want = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!want)
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    size_t n = 0;
    fy_diag e = {{0}};
    if (file_exists(path) &&
        fy__read_file(path, 1 << 16, (unsigned char **)&have, &n, &e) != FY_OK) {
        free(want);
        return fy__diag_set(d, FY_EIO, "%s", e.msg);
    }
    int same = (!want && !have) || (want && have && n == strlen(want) && !memcmp(want, have, n));
    int rc = FY_OK;
    if (!same && fy_supervisor_running(r->state, spec->service, NULL)) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "%s serves %s; this spec asks for %s: run 'ferry stop %s' first to "
                          "change it",
                          spec->service, have ? "HTTPS with other files" : "plain HTTP",
                          want ? (have ? "other certificate files" : "HTTPS") : "plain HTTP",
                          spec->service);
    } else if (!same && want) {
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        int ok = f && fputs(want, f) >= 0;
        if (f && fclose(f) != 0)
            ok = 0;
        if (!ok || rename(tmp, path) != 0) {
            rc = fy__diag_set(d, FY_EIO, "writing %s: %s", path, strerror(errno));
            unlink(tmp);
        }
    } else if (!same) {
        unlink(path);
    }
    free(want);
    fy__free(have);
    return rc;
}

/* The worker's `ferry serve` options from the spec, as a JSON list (stored with the
 * service, so rollbacks and restarts run the same way). */
static char *serve_args(const fy_deploy_spec *s)
{
    json_t *a = json_array();
    char n[32];
#define ADD_INT(flag, v)                                                                           \
    if (v > 0) {                                                                                   \
        snprintf(n, sizeof n, "%d", v);                                                            \
        json_array_append_new(a, json_string(flag));                                               \
        json_array_append_new(a, json_string(n));                                                  \
    }
    ADD_INT("--threads", s->threads);
    ADD_INT("--max-batch", s->max_batch_size);
    ADD_INT("--queue-delay-us", s->max_queue_delay_us);
#undef ADD_INT
    if (s->keys_file) {
        char abs[FY_DEPLOY_PATH_MAX];
        json_array_append_new(a, json_string("--keys"));
        json_array_append_new(a, json_string(realpath(s->keys_file, abs) ? abs : s->keys_file));
    }
    if (s->trusted_key) {
        char abs[FY_DEPLOY_PATH_MAX];
        json_array_append_new(a, json_string("--trusted-key"));
        json_array_append_new(a, json_string(realpath(s->trusted_key, abs) ? abs : s->trusted_key));
    }
    char *t = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return t;
}

static int code_for(int rc)
{
    switch (rc) {
    case FY_EPARSE:
    case FY_EINVAL:
    case FY_ELIMIT: return FY_DEPLOY_INVALID;
    case FY_EUNSUPPORTED: return FY_DEPLOY_UNSUPPORTED;
    default: return FY_DEPLOY_IO;
    }
}

static int setup(run *r, const fy_deploy_opts *o, const char *service, fy_deploy_result *res,
                 fy_diag *d)
{
    memset(res, 0, sizeof *res);
    r->o = o;
    r->res = res;
    r->service = service;
    r->lock_fd = -1;
    char given[FY_DEPLOY_PATH_MAX];
    if (fy_state_dir(given, sizeof given, o->state_dir))
        return fy__diag_set(d, FY_ELIMIT, "state folder path too long");
    /* absolute from here on: the supervisor and its workers outlive this directory */
    int rc = fy__deploy_mkdirs(given, d);
    if (rc)
        return rc;
    if (!realpath(given, r->state))
        return fy__diag_set(d, FY_EIO, "%s: %s", given, strerror(errno));
    if (fy__deploy_service_path(r->svcdir, sizeof r->svcdir, r->state, service, NULL))
        return fy__diag_set(d, FY_EINVAL, "invalid service name '%s'", service);
    return fy__deploy_mkdirs(r->svcdir, d);
}

static void teardown(run *r);

/* The deploy lock is held by another deploy (or could not be taken): nothing is
 * changed; the refusal goes to the audit log. */
static void locked_out(run *r, int rc, const char *kind, fy_diag *d)
{
    stage_end(r, "validate", "failed", "%s", d->msg);
    r->res->outcome = rc == FY_ELIMIT ? FY_DEPLOY_LOCKED : FY_DEPLOY_IO;
    snprintf(r->res->detail, sizeof r->res->detail, "%s", d->msg);
    fy_diag d2 = {{0}};
    if (rc == FY_ELIMIT && fy_store_open(&r->store, r->state, &d2) == FY_OK)
        fy_store_audit(r->store, r->service, kind, "locked", d->msg, &d2);
    teardown(r);
}

static void teardown(run *r)
{
    fy_store_close(r->store);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
}

/* Start `version`, wait for it, verify it (when spec is non-NULL) and move traffic
 * to it by the strategy; on any failure the old version keeps (or gets back) all
 * traffic and the new one is retired. */
static int stage_verify_promote(run *r, const fy_deploy_spec *spec, const fy_package *pkg,
                                const char *version, const char *pkgpath, const char *live,
                                int replicas, const char *args, fy_strategy strategy,
                                double start_timeout, fy_diag *d)
{
    int rc, port = 0;
    /* stage */
    stage_start(r, "stage", "starting the new version beside the live one");
    if (strategy == FY_STRATEGY_RECREATE && live[0]) {
        ev(r, "stage", "info", 0, "recreate: stopping %s first (the service pauses)", live);
        if ((rc = retire_wait(r, live, 60, d))) {
            stage_end(r, "stage", "failed", "%s", d->msg);
            finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
            return FY_OK;
        }
    }
    rc = sup_start(r, version, pkgpath, replicas, args, 0, d); /* no traffic yet */
    if (rc == FY_OK)
        rc = wait_ready(r, version, start_timeout, &port, d);
    if (rc) {
        char why[512];
        snprintf(why, sizeof why, "%s", d->msg);
        stage_end(r, "stage", "failed", "%s", why);
        fy_diag d2 = {{0}};
        retire_wait(r, version, 30, &d2);
        if (strategy == FY_STRATEGY_RECREATE && live[0])
            reconcile(r, live, start_timeout, &d2);
        stage_start(r, "rollback", "the new version did not start");
        stage_end(r, "rollback", "ok", "%s",
                  live[0] ? "the live version keeps serving" : "nothing was live");
        finish(r, FY_DEPLOY_START_FAILED, "rolled_back", "%s", why);
        return FY_OK;
    }
    stage_end(r, "stage", "ok", "%s ready: %d worker(s), one on 127.0.0.1:%d", version, replicas,
              port);

    /* verify */
    if (spec) {
        stage_start(r, "verify", "checking the staged version before it takes traffic");
        fy_verify_report *vr = NULL;
        rc = fy__deploy_verify(spec, pkg, port, NULL, NULL, &vr, d);
        char summary[512] = "";
        size_t off = 0;
        for (int i = 0; vr && i < vr->n_checks && off + 8 < sizeof summary; i++) {
            const fy_verify_check *c = &vr->checks[i];
            ev(r, "verify", "info", 0, "%s %s: %s", c->passed ? "pass" : "FAIL", c->name,
               c->detail);
            if (!c->passed || vr->passed)
                off += (size_t)snprintf(summary + off, sizeof summary - off, "%s%s %s: %s",
                                        off ? "; " : "", c->passed ? "pass" : "FAIL", c->name,
                                        c->detail);
        }
        int passed = rc == FY_OK && vr && vr->passed;
        if (rc == FY_OK && vr && vr->n_checks == 0)
            snprintf(summary, sizeof summary, "no checks configured (no dataset, smoke or load)");
        if (rc)
            snprintf(summary, sizeof summary, "%s", d->msg);
        fy_verify_report_free(vr);
        if (!passed) {
            stage_end(r, "verify", "failed", "%s", summary);
            stage_start(r, "rollback", "verification failed");
            fy_diag d2 = {{0}};
            int rr = retire_wait(r, version, 60, &d2);
            if (strategy == FY_STRATEGY_RECREATE && live[0])
                rr = rr ? rr : reconcile(r, live, start_timeout, &d2);
            stage_end(r, "rollback", rr ? "failed" : "ok", "%s",
                      rr        ? d2.msg
                      : live[0] ? "the new version was retired; the live version kept serving"
                                : "the new version was retired");
            finish(r, rc ? code_for(rc) : FY_DEPLOY_VERIFY_FAILED, "rolled_back", "%s", summary);
            return FY_OK;
        }
        stage_end(r, "verify", "ok", "%s", summary);
    }

    /* promote */
    stage_start(r, "promote", "moving traffic to the new version");
    if (strategy == FY_STRATEGY_CANARY && spec && live[0]) {
        for (int i = 0; i < spec->n_steps; i++) {
            int pct = spec->steps[i];
            json_t *before = sup_status(r, d), *vb = before ? find_version(before, version) : NULL;
            long req0 = vb ? (long)json_integer_value(json_object_get(vb, "requests")) : 0;
            long bad0 = vb ? (long)(json_integer_value(json_object_get(vb, "errors_5xx")) +
                                    json_integer_value(json_object_get(vb, "failures")))
                           : 0;
            json_decref(before);
            if ((rc = sup_simple(r, "route", version, pct, d)))
                break;
            ev(r, "promote", "info", 0, "canary: %d%% of traffic on %s", pct, version);
            if (pct == 100)
                break;
            sleep_s(spec->step_seconds);
            json_t *after = sup_status(r, d), *va = after ? find_version(after, version) : NULL;
            long req1 = va ? (long)json_integer_value(json_object_get(va, "requests")) : 0;
            long bad1 = va ? (long)(json_integer_value(json_object_get(va, "errors_5xx")) +
                                    json_integer_value(json_object_get(va, "failures")))
                           : 0;
            json_decref(after);
            long n = req1 - req0, bad = bad1 - bad0;
            double rate = n > 0 ? (double)bad / (double)n : 0;
            if (rate > spec->max_error_rate) {
                char why[256];
                snprintf(why, sizeof why,
                         "canary at %d%%: %ld of %ld requests failed (%.2f%%, maximum %.2f%%)", pct,
                         bad, n, rate * 100, spec->max_error_rate * 100);
                fy_diag d2 = {{0}};
                sup_simple(r, "route", live, 100, &d2);
                stage_end(r, "promote", "failed", "%s", why);
                stage_start(r, "rollback", "canary failed");
                int rr = retire_wait(r, version, 60, &d2);
                stage_end(r, "rollback", rr ? "failed" : "ok", "%s",
                          rr ? d2.msg : "all traffic back on the live version");
                finish(r, FY_DEPLOY_VERIFY_FAILED, "rolled_back", "%s", why);
                return FY_OK;
            }
            ev(r, "promote", "info", 0, "canary at %d%%: %ld requests, %ld failed", pct, n, bad);
        }
    } else {
        rc = sup_simple(r, "route", version, 100, d);
    }
    if (rc) {
        char why[512];
        snprintf(why, sizeof why, "%s", d->msg);
        fy_diag d2 = {{0}};
        if (live[0])
            sup_simple(r, "route", live, 100, &d2);
        retire_wait(r, version, 60, &d2);
        stage_end(r, "promote", "failed", "%s", why);
        finish(r, FY_DEPLOY_IO, "rolled_back", "%s", why);
        return FY_OK;
    }
    if (live[0] && strcmp(live, version) != 0) {
        /* the old version gets no new requests now; its in-flight ones finish, then it drains */
        if ((rc = retire_wait(r, live, 60, d)))
            ev(r, "promote", "info", 0, "the old version is still draining: %s", d->msg);
    }
    stage_end(r, "promote", "ok", "%s serves all traffic%s%s", version, live[0] ? "; retired " : "",
              live[0] ? live : "");
    finish(r, FY_DEPLOY_PROMOTED, "promoted", "%s promoted%s%s", version,
           live[0] ? ", replacing " : "", live[0] ? live : "");
    return FY_OK;
}

int fy_deploy_run(const fy_deploy_spec *spec, const fy_deploy_opts *o, fy_deploy_result *res,
                  fy_diag *d)
{
    run rr = {0}, *r = &rr;
    int rc = setup(r, o, spec->service, res, d);
    fy_package *pkg = NULL;
    fy_manifest *man = NULL;
    char *args = NULL;
    if (rc)
        return rc;

    /* 1. validate: the spec was parsed by the caller; here its files and the lock */
    stage_start(r, "validate", spec->file);
    const char *missing = NULL;
    if (spec->package && !file_exists(spec->package))
        missing = spec->package;
    else if (spec->manifest && !file_exists(spec->manifest))
        missing = spec->manifest;
    else if (spec->keys_file && !file_exists(spec->keys_file))
        missing = spec->keys_file;
    else if (spec->tls_cert && !file_exists(spec->tls_cert))
        missing = spec->tls_cert;
    else if (spec->tls_key && !file_exists(spec->tls_key))
        missing = spec->tls_key;
    for (int i = 0; !missing && i < spec->n_smoke; i++)
        if (spec->smoke[i].body_file && !file_exists(spec->smoke[i].body_file))
            missing = spec->smoke[i].body_file;
    if (spec->target != FY_TARGET_LOCAL) {
        stage_end(r, "validate", "failed", "target %s is emitted, not run: use --emit DIR",
                  fy_target_name(spec->target));
        res->outcome = FY_DEPLOY_UNSUPPORTED;
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "target %s: ferry writes its files (ferry deploy --emit DIR) rather "
                            "than running it",
                            fy_target_name(spec->target));
    }
    if (missing) {
        stage_end(r, "validate", "failed", "%s: no such file", missing);
        res->outcome = FY_DEPLOY_IO;
        return fy__diag_set(d, FY_ENOTFOUND, "%s: no such file (named in %s)", missing, spec->file);
    }
    if (spec->tls_cert) { /* read and checked now as the supervisor will, to fail early */
        fy__tls t;
        memset(&t, 0, sizeof t);
        if ((rc = fy__tls_load(&t, spec->tls_cert, spec->tls_key, d)) != FY_OK) {
            stage_end(r, "validate", "failed", "%s", d->msg);
            res->outcome = FY_DEPLOY_INVALID;
            return rc;
        }
        fy__tls_clear(&t);
    }
    if ((rc = take_lock(r, d))) {
        locked_out(r, rc, "deploy", d);
        return FY_OK;
    }
    if ((rc = fy_store_open(&r->store, r->state, d))) {
        stage_end(r, "validate", "failed", "%s", d->msg);
        res->outcome = FY_DEPLOY_IO;
        goto done;
    }
    stage_end(r, "validate", "ok", "service %s, strategy %s, %d replica(s), port %d", spec->service,
              fy_strategy_name(spec->strategy), spec->replicas, spec->port);

    /* what is deployed: a package, or a manifest the pack stage builds; either way its
     * version and requirements are known before anything is built */
    char pkgpath[FY_DEPLOY_PATH_MAX], mpath[FY_DEPLOY_PATH_MAX];
    const fy_manifest *pm = NULL;
    if (spec->manifest) {
        struct stat st;
        if (stat(spec->manifest, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(mpath, sizeof mpath, "%s/ferry.yaml", spec->manifest);
        else
            snprintf(mpath, sizeof mpath, "%s", spec->manifest);
        if ((rc = fy_manifest_load(&man, mpath, d))) {
            r->t0 = fy__deploy_now();
            stage_end(r, "pack", "failed", "%s", d->msg);
            finish(r, code_for(rc), "refused", "%s", d->msg);
            goto done;
        }
        pm = man;
    } else {
        snprintf(pkgpath, sizeof pkgpath, "%s", spec->package);
        if ((rc = fy_package_open(&pkg, pkgpath, d))) {
            r->t0 = fy__deploy_now();
            stage_end(r, "pack", "failed", "%s", d->msg);
            finish(r, code_for(rc), "refused", "%s", d->msg);
            goto done;
        }
        pm = fy_package_manifest(pkg);
    }
    if (!fy__deploy_valid_version(pm->version)) {
        rc = fy__diag_set(d, FY_EINVAL, "package version '%s' cannot name a deployment",
                          pm->version);
        finish(r, FY_DEPLOY_INVALID, "refused", "%s", d->msg);
        goto done;
    }
    snprintf(res->version, sizeof res->version, "%s", pm->version);
    const char *version = res->version;
    char live[64] = "";
    if ((rc = fy_store_live(r->store, spec->service, live, sizeof live, d))) {
        res->outcome = FY_DEPLOY_IO;
        goto done;
    }
    snprintf(res->previous, sizeof res->previous, "%s", live);
    snprintf(res->url, sizeof res->url, "%s://%s:%d", spec->tls_cert ? "https" : "http",
             strcmp(spec->host, "0.0.0.0") && strcmp(spec->host, "::") ? spec->host : "127.0.0.1",
             spec->port);
    if ((rc = record_begin(r, version, "deploy", fy_strategy_name(spec->strategy), d))) {
        res->outcome = FY_DEPLOY_IO;
        goto done;
    }

    /* 2. environment: the requirements are known before anything is built */
    stage_start(r, "environment", "checking this machine against the requirements");
    {
        fy_env env;
        fy_env_opts eo = {.disk_path = r->state};
        fy_env_reqs reqs;
        fy_env_report *rep = fy__calloc(1, sizeof *rep);
        fy_env_reqs_from_manifest(pm, &reqs);
        if (spec->min_memory_mb)
            reqs.min_memory_mb = (uint64_t)spec->min_memory_mb;
        if (spec->min_disk_mb)
            reqs.min_disk_mb = (uint64_t)spec->min_disk_mb;
        if (spec->min_cores)
            reqs.threads = spec->min_cores;
        if (spec->n_cpu_features) {
            reqs.n_cpu_features = spec->n_cpu_features;
            reqs.cpu_features = (const char *const *)spec->cpu_features;
        }
        if (!rep)
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        else if ((rc = fy_env_detect(&env, &eo, d)) == FY_OK)
            rc = fy_env_check_reqs(&env, &reqs, rep, d);
        if (rc) {
            stage_end(r, "environment", "failed", "%s", d->msg);
            finish(r, FY_DEPLOY_ENV_FAILED, "refused", "%s", d->msg);
            fy__free(rep);
            goto done;
        }
        char sum[512] = "";
        size_t off = 0;
        for (int i = 0; i < rep->n_checks && off + 8 < sizeof sum; i++) {
            fy_env_check *c = &rep->checks[i];
            if (c->status == FY_ENV_FAIL) {
                ev(r, "environment", "info", 0, "FAIL %s: want %s, have %s: %s", c->name, c->want,
                   c->have, c->why);
                off += (size_t)snprintf(sum + off, sizeof sum - off, "%s%s: want %s, have %s",
                                        off ? "; " : "", c->name, c->want, c->have);
            }
        }
        int failed = rep->n_failed;
        int n = rep->n_checks;
        fy__free(rep);
        if (failed) {
            stage_end(r, "environment", "failed", "%s", sum);
            finish(r, FY_DEPLOY_ENV_FAILED, "refused", "environment: %s", sum);
            goto done;
        }
        stage_end(r, "environment", "ok", "%d requirement(s) met (%s, %d usable CPUs)", n, env.arch,
                  env.cpus_usable);
    }

    /* 3. pack (when the spec names a folder or manifest) */
    if (spec->manifest) {
        stage_start(r, "pack", mpath);
        char dir[FY_DEPLOY_PATH_MAX];
        snprintf(dir, sizeof dir, "%s/build", r->svcdir);
        if ((rc = fy__deploy_mkdirs(dir, d)) == FY_OK) {
            snprintf(pkgpath, sizeof pkgpath, "%s/%s-%s.ferry", dir, man->name, man->version);
            fy_pack_opts po = {.secret_key = spec->sign_key};
            rc = fy_package_pack(mpath, pkgpath, &po, d);
        }
        if (rc == FY_OK)
            rc = fy_package_open(&pkg, pkgpath, d);
        if (rc) {
            stage_end(r, "pack", "failed", "%s", d->msg);
            finish(r, code_for(rc), "refused", "%s", d->msg);
            goto done;
        }
        pm = fy_package_manifest(pkg);
        stage_end(r, "pack", "ok", "%s", pkgpath);
    } else {
        r->t0 = fy__deploy_now();
        stage_end(r, "pack", "skipped", "deploying the package %s", spec->package);
    }
    if (spec->trusted_key) {
        fy_sig_status ss;
        if ((rc = fy_package_verify_signature(pkg, spec->trusted_key, &ss, NULL, d)) ||
            ss != FY_SIG_VALID) {
            if (!rc)
                rc = fy__diag_set(d, FY_EINVAL, "%s is %s", pkgpath,
                                  ss == FY_SIG_NONE ? "not signed"
                                                    : "not signed by model.trusted_key");
            r->t0 = fy__deploy_now();
            stage_end(r, "pack", "failed", "%s", d->msg);
            finish(r, FY_DEPLOY_INVALID, "refused", "%s", d->msg);
            goto done;
        }
    }

    /* the package joins the service's versions (a copy under the state folder, so a
     * rollback never depends on the original file) */
    char stored[FY_DEPLOY_PATH_MAX], old_digest[128] = "", old_pkg[FY_DEPLOY_PATH_MAX];
    const char *digest = fy_package_digest(pkg);
    fy_store_version_package(r->store, spec->service, version, old_pkg, sizeof old_pkg, old_digest,
                             sizeof old_digest, d);
    if (old_digest[0] && strcmp(old_digest, digest) != 0) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "version %s of %s was deployed before with other contents (%.19s...): "
                          "give the new model a new version in its ferry.yaml",
                          version, spec->service, old_digest);
        finish(r, FY_DEPLOY_INVALID, "refused", "%s", d->msg);
        goto done;
    }
    if (live[0] && !strcmp(live, version)) {
        ev(r, "stage", "info", 0, "%s is already live with these contents", version);
    }
    args = serve_args(spec);
    if (!args) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
        goto done;
    }
    char vdir[FY_DEPLOY_PATH_MAX];
    snprintf(vdir, sizeof vdir, "%s/versions", r->svcdir);
    snprintf(stored, sizeof stored, "%s/%s.ferry", vdir, version);
    if ((rc = fy__deploy_mkdirs(vdir, d)) ||
        (!file_exists(stored) && (rc = copy_file(pkgpath, stored, d))) ||
        (rc = fy_store_version_add(r->store, spec->service, version, digest, stored, spec->replicas,
                                   args, d))) {
        r->t0 = fy__deploy_now();
        stage_end(r, "stage", "failed", "%s", d->msg);
        finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
        goto done;
    }
    {
        char host[256] = "", *oldargs = NULL;
        int oport = 0, orep = 0;
        fy_diag dd = {{0}};
        if (fy_store_service_get(r->store, spec->service, host, sizeof host, &oport, &orep,
                                 &oldargs, &dd) == FY_OK &&
            (oport != spec->port || strcmp(host, spec->host)) &&
            fy_supervisor_running(r->state, spec->service, NULL)) {
            fy__free(oldargs);
            rc = fy__diag_set(d, FY_EINVAL,
                              "%s serves on %s:%d; this spec asks for %s:%d: run 'ferry stop %s' "
                              "first to move it",
                              spec->service, host, oport, spec->host, spec->port, spec->service);
            finish(r, FY_DEPLOY_INVALID, "refused", "%s", d->msg);
            goto done;
        }
        fy__free(oldargs);
    }
    if ((rc = front_tls(r, spec, d))) {
        finish(r, rc == FY_EINVAL ? FY_DEPLOY_INVALID : FY_DEPLOY_IO,
               rc == FY_EINVAL ? "refused" : "failed", "%s", d->msg);
        goto done;
    }
    if ((rc = fy_store_service_set(r->store, spec->service, spec->host, spec->port, spec->replicas,
                                   args, d))) {
        finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
        goto done;
    }
    fy_supervisor_opts so = {.state_dir = r->state,
                             .service = spec->service,
                             .host = spec->host,
                             .port = spec->port,
                             .ferry_binary = o->ferry_binary};
    int started = 0;
    if ((rc = fy_supervisor_ensure(&so, &started, d)) ||
        (rc = reconcile(r, live, spec->start_timeout_s, d))) {
        r->t0 = fy__deploy_now();
        stage_end(r, "stage", "failed", "%s", d->msg);
        finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
        goto done;
    }
    if (started)
        ev(r, "stage", "info", 0, "started the supervisor of %s on %s", spec->service, res->url);
    if (live[0] && !strcmp(live, version)) {
        r->t0 = fy__deploy_now();
        stage_end(r, "promote", "skipped", "%s is already live", version);
        finish(r, FY_DEPLOY_PROMOTED, "promoted", "%s was already live", version);
        goto done;
    }
    rc = stage_verify_promote(r, spec, pkg, version, stored, live, spec->replicas, args,
                              spec->strategy, spec->start_timeout_s, d);
done:
    free(args);
    fy_manifest_free(man);
    fy_package_free(pkg);
    teardown(r);
    return FY_OK;
}

int fy_deploy_rollback(const char *service, const char *version, const fy_deploy_opts *o,
                       fy_deploy_result *res, fy_diag *d)
{
    run rr = {0}, *r = &rr;
    char target[64] = "", live[64] = "", pkg[FY_DEPLOY_PATH_MAX], host[256], *args = NULL;
    int port = 0, replicas = 1;
    int rc = setup(r, o, service, res, d);
    if (rc)
        return rc;
    stage_start(r, "validate", "rollback");
    if ((rc = take_lock(r, d))) {
        locked_out(r, rc, "rollback", d);
        return FY_OK;
    }
    if ((rc = fy_store_open(&r->store, r->state, d)) ||
        (rc = fy_store_live(r->store, service, live, sizeof live, d)))
        goto fail;
    if (version)
        snprintf(target, sizeof target, "%s", version);
    else if ((rc = fy_store_previous(r->store, service, target, sizeof target, d)))
        goto fail;
    if (!target[0]) {
        rc = fy__diag_set(d, FY_ENOTFOUND, "%s has no earlier version to roll back to", service);
        goto fail;
    }
    if (!fy__deploy_valid_version(target)) {
        rc = fy__diag_set(d, FY_EINVAL, "'%s' is not a version name", target);
        goto fail;
    }
    if ((rc = fy_store_version_package(r->store, service, target, pkg, sizeof pkg, NULL, 0, d)))
        goto fail;
    if (!pkg[0] || !file_exists(pkg)) {
        rc = fy__diag_set(d, FY_ENOTFOUND, "version %s of %s is not in the state folder", target,
                          service);
        goto fail;
    }
    if ((rc = fy_store_service_get(r->store, service, host, sizeof host, &port, &replicas, NULL,
                                   d)) ||
        (rc = fy_store_version_settings(r->store, service, target, &replicas, &args, d)))
        goto fail;
    snprintf(res->version, sizeof res->version, "%s", target);
    snprintf(res->previous, sizeof res->previous, "%s", live);
    char tls_path[FY_DEPLOY_PATH_MAX + 32];
    snprintf(tls_path, sizeof tls_path, "%s/%s", r->svcdir, FY_FRONT_TLS_FILE);
    snprintf(res->url, sizeof res->url, "%s://%s:%d", file_exists(tls_path) ? "https" : "http",
             strcmp(host, "0.0.0.0") ? host : "127.0.0.1", port);
    stage_end(r, "validate", "ok", "rolling %s back from %s to %s", service,
              live[0] ? live : "(nothing)", target);
    if ((rc = record_begin(r, target, "rollback", "blue-green", d)))
        goto fail;
    fy_supervisor_opts so = {.state_dir = r->state,
                             .service = service,
                             .host = host,
                             .port = port,
                             .ferry_binary = o->ferry_binary};
    if ((rc = fy_supervisor_ensure(&so, NULL, d)) || (rc = reconcile(r, live, 60, d))) {
        finish(r, FY_DEPLOY_IO, "failed", "%s", d->msg);
        goto out;
    }
    if (!strcmp(live, target)) {
        finish(r, FY_DEPLOY_PROMOTED, "promoted", "%s was already live", target);
        goto out;
    }
    stage_verify_promote(r, NULL, NULL, target, pkg, live, replicas, args, FY_STRATEGY_BLUE_GREEN,
                         60, d);
out:
    fy__free(args);
    teardown(r);
    return FY_OK;
fail:
    stage_end(r, "validate", "failed", "%s", d->msg);
    res->outcome = code_for(rc);
    snprintf(res->detail, sizeof res->detail, "%s", d->msg);
    fy__free(args);
    teardown(r);
    return FY_OK;
}
