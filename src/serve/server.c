/* SPDX-License-Identifier: MIT */
/* The server's public face: options, the repository and metrics it owns, the JSON
 * log sink, and the lifecycle loop (stop with drain, reload) around http.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "core/core.h"
#include "core/pool.h"
#include "ferry/ferry.h"
#include "serve/serve_int.h"

/* Drain: after new connections stop, wait at least this long before concluding
 * nothing is in flight, so a connection accepted just before the stop has its
 * request read and counted. */
#define DRAIN_SETTLE_MS 100
/* How long the engine's idle threads spin before sleeping (fy_pool_set_spin). The
 * pool's default, 50 µs, suits a process that only runs the model; here the HTTP
 * threads (and, in benchmarks, the client) need the same CPUs, and a spinning
 * worker takes them away. Measured on 2 shared cores with the Fashion-MNIST CNN,
 * 10 interleaved rounds at 64 connections: 5 µs gave 7% more requests/s and 7%
 * less server CPU per request than 50 µs; at 1 connection, 7% more requests/s
 * and 22% less CPU (docs/BENCHMARKS.md). */
#define FY_SERVE_POOL_SPIN_NS 5000

struct fy_server {
    fy_serve_opts opts; /* strings below are owned copies */
    char *host, *keys_file, *log_path, *tls_cert_file, *tls_key_file, *trusted_key_file;
    fy__tls tls; /* empty without TLS; lent to the daemon, cleared after it stops */
    char **paths;
    int n_paths;

    fy__metrics *metrics;
    fy_pool *pool; /* intra-op threads of every session (opts.engine_threads) */
    fy__repo *repo;
    fy__oai *oai; /* GGUF language models (openai.c); NULL if none */
    fy__http *http;

    /* The log sink: JSON lines, each prefixed with "ts"; one write per line. */
    pthread_mutex_t log_mu;
    FILE *log_file; /* NULL: standard error */

    /* Set by request_stop/request_reload, possibly from a signal handler: only
     * these flags and a write to the wake pipe happen there (async-signal-safe). */
    volatile sig_atomic_t stop_flag, reload_flag;
    int wake[2];
    int ran;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every line gets a UTC timestamp with milliseconds as its first field. */
static void log_line(const char *json, void *ctx)
{
    fy_server *s = ctx;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[48];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    const char *rest = json[0] == '{' ? json + 1 : "}";
    int empty = rest[0] == '}';
    pthread_mutex_lock(&s->log_mu);
    FILE *f = s->log_file ? s->log_file : stderr;
    fprintf(f, "{\"ts\":\"%s\"%s%s\n", ts, empty ? "" : ",", rest);
    fflush(f);
    pthread_mutex_unlock(&s->log_mu);
}

/* Builds {"event": name, ...} from key/value pairs and logs it. */
static void log_event(fy_server *s, json_t *obj)
{
    if (!obj)
        return;
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line)
        log_line(line, s);
    free(line);
    json_decref(obj);
}

static int open_log(fy_server *s, fy_diag *d)
{
    if (!s->log_path)
        return FY_OK;
    int fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return fy__diag_set(d, FY_EIO, "log file %s: %s", s->log_path, strerror(errno));
    FILE *f = fdopen(fd, "a");
    if (!f) {
        close(fd);
        return fy__diag_set(d, FY_ENOMEM, "log file %s: %s", s->log_path, strerror(errno));
    }
    pthread_mutex_lock(&s->log_mu);
    FILE *old = s->log_file;
    s->log_file = f;
    pthread_mutex_unlock(&s->log_mu);
    if (old)
        fclose(old);
    return FY_OK;
}

const char *fy__serve_ascii(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = 0;
    return dst;
}

static void state_name(fy__mv_state st, const char **out)
{
    switch (st) {
    case FY_MV_LOADING: *out = "LOADING"; break;
    case FY_MV_READY: *out = "READY"; break;
    case FY_MV_UNLOADING: *out = "UNLOADING"; break;
    case FY_MV_UNAVAILABLE: *out = "UNAVAILABLE"; break;
    default: *out = "FAILED"; break;
    }
}

static void log_model(const fy__mv_info *info, void *ctx)
{
    const char *st;
    char name[256], version[128], reason[600];
    state_name(info->state, &st);
    log_event(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "model", "name",
                             fy__serve_ascii(name, sizeof name, info->name), "version",
                             fy__serve_ascii(version, sizeof version, info->version), "state", st, "reason",
                             fy__serve_ascii(reason, sizeof reason, info->reason)));
}

static char *dup_opt(const char *v, int *failed)
{
    if (!v)
        return NULL;
    char *r = fy__strdup(v);
    if (!r)
        *failed = 1;
    return r;
}

static int check_opts(const fy_serve_opts *o, fy_diag *d)
{
    if (o->port < -1 || o->port > 65535)
        return fy__diag_set(d, FY_EINVAL,
                            "port: must be 0..65535 (or -1 for any free port), got %d", o->port);
    if (o->http_threads < 0 || o->http_threads > 256)
        return fy__diag_set(d, FY_EINVAL, "http_threads: must be 1..256, got %d", o->http_threads);
    if (o->instances < 0 || o->instances > 256)
        return fy__diag_set(d, FY_EINVAL, "instances: must be 1..256, got %d", o->instances);
    if (o->max_batch_size < 0 || o->max_batch_size > 65536)
        return fy__diag_set(d, FY_EINVAL, "max_batch_size: must be 1..65536, got %d",
                            o->max_batch_size);
    if (o->max_queue_delay_us < 0 || o->max_queue_delay_us > 10000000)
        return fy__diag_set(d, FY_EINVAL, "max_queue_delay_us: must be 0..10000000, got %d",
                            o->max_queue_delay_us);
    if (o->queue_capacity < 0 || o->queue_capacity > 1000000)
        return fy__diag_set(d, FY_EINVAL, "queue_capacity: must be 1..1000000, got %d",
                            o->queue_capacity);
    if (o->request_timeout_ms < 0 || o->request_timeout_ms > 3600000)
        return fy__diag_set(d, FY_EINVAL, "request_timeout_ms: must be 1..3600000, got %d",
                            o->request_timeout_ms);
    if (o->drain_timeout_ms < 0 || o->drain_timeout_ms > 3600000)
        return fy__diag_set(d, FY_EINVAL, "drain_timeout_ms: must be 1..3600000, got %d",
                            o->drain_timeout_ms);
    if (o->version_policy_latest < 0 || o->version_policy_latest > 1000)
        return fy__diag_set(d, FY_EINVAL, "version_policy_latest: must be 1..1000, got %d",
                            o->version_policy_latest);
    if (!o->tls_cert_file != !o->tls_key_file)
        return fy__diag_set(d, FY_EINVAL,
                            "TLS needs both a certificate and a key file: %s given without %s",
                            o->tls_cert_file ? "tls_cert_file" : "tls_key_file",
                            o->tls_cert_file ? "tls_key_file" : "tls_cert_file");
    return FY_OK;
}

/* "tls_not_after": the certificate's expiry, for the listening and reload events. */
static void add_not_after(json_t *ev, const fy__tls *t)
{
    char when[32];
    time_t na = (time_t)t->not_after;
    struct tm tm;
    if (ev && na > 0 && gmtime_r(&na, &tm) &&
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm))
        json_object_set_new(ev, "tls_not_after", json_string(when));
}

int fy_server_create(fy_server **out, const char *const *paths, int n_paths,
                     const fy_serve_opts *opts, fy_diag *d)
{
    static const fy_serve_opts zero;
    const fy_serve_opts *o = opts ? opts : &zero;
    int rc = check_opts(o, d);
    if (rc != FY_OK)
        return rc;
    if (n_paths < 0 || (n_paths > 0 && !paths))
        return fy__diag_set(d, FY_EINVAL, "paths: %d given without a list", n_paths);
    if (sodium_init() < 0)
        return fy__diag_set(d, FY_EIO, "libsodium failed to initialise");

    fy_server *s = fy__calloc(1, sizeof *s);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory creating the server");
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->log_mu, NULL);
    rc = FY_ENOMEM;

    s->opts = *o;
    int failed = 0;
    s->host = dup_opt(o->host ? o->host : "127.0.0.1", &failed);
    s->keys_file = dup_opt(o->keys_file, &failed);
    s->log_path = dup_opt(o->log_path, &failed);
    s->tls_cert_file = dup_opt(o->tls_cert_file, &failed);
    s->tls_key_file = dup_opt(o->tls_key_file, &failed);
    s->trusted_key_file = dup_opt(o->trusted_key_file, &failed);
    if (n_paths > 0) {
        s->paths = fy__calloc((size_t)n_paths, sizeof *s->paths);
        if (!s->paths)
            failed = 1;
        for (int i = 0; s->paths && i < n_paths; i++) {
            if (!paths[i]) {
                rc = fy__diag_set(d, FY_EINVAL, "paths[%d] is NULL", i);
                goto fail;
            }
            s->paths[i] = dup_opt(paths[i], &failed);
            s->n_paths = i + 1;
        }
    }
    if (failed) {
        fy__diag_set(d, FY_ENOMEM, "out of memory creating the server");
        goto fail;
    }
    s->opts.host = s->host;
    s->opts.keys_file = s->keys_file;
    s->opts.log_path = s->log_path;
    s->opts.tls_cert_file = s->tls_cert_file;
    s->opts.tls_key_file = s->tls_key_file;
    s->opts.trusted_key_file = s->trusted_key_file;
    if (s->opts.port == 0)
        s->opts.port = 8080;
    if (s->opts.http_threads == 0)
        s->opts.http_threads = 4;
    if (s->opts.queue_capacity == 0)
        s->opts.queue_capacity = 256;
    if (s->opts.request_timeout_ms == 0)
        s->opts.request_timeout_ms = 30000;
    if (s->opts.drain_timeout_ms == 0)
        s->opts.drain_timeout_ms = 30000;
    if (s->opts.max_body_bytes == 0)
        s->opts.max_body_bytes = (size_t)64 << 20;

    if ((rc = open_log(s, d)) != FY_OK)
        goto fail;
    /* Before the models: a TLS mistake is reported at once, not after loading. */
    if (s->tls_cert_file &&
        (rc = fy__tls_load(&s->tls, s->tls_cert_file, s->tls_key_file, d)) != FY_OK)
        goto fail;
    if (pipe(s->wake) != 0) {
        s->wake[0] = s->wake[1] = -1;
        rc = fy__diag_set(d, FY_EIO, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(s->wake[i], F_SETFD, FD_CLOEXEC);
        fcntl(s->wake[i], F_SETFL, O_NONBLOCK);
    }
    if ((rc = fy__metrics_create(&s->metrics)) != FY_OK) {
        fy__diag_set(d, rc, "metrics: %s", fy_strerror(rc));
        goto fail;
    }

    if (s->opts.engine_threads != 1 &&
        (rc = fy_pool_create(&s->pool, s->opts.engine_threads, d)) != FY_OK)
        goto fail;
    fy_pool_set_spin(s->pool, FY_SERVE_POOL_SPIN_NS);
    /* GGUF files and packages of GGUF models are language models for the OpenAI
     * endpoints; the rest go to the repository. Ordered so each list keeps the
     * command line's order. */
    int n_gguf = 0;
    for (int i = 0; i < s->n_paths; i++)
        if (fy_package_path_is_llm(s->paths[i])) {
            char *p = s->paths[i];
            memmove(&s->paths[n_gguf + 1], &s->paths[n_gguf],
                    (size_t)(i - n_gguf) * sizeof *s->paths);
            s->paths[n_gguf++] = p;
        }
    if (n_gguf) {
        fy__oai_opts oo = {0};
        oo.ctx = s->opts.llm_ctx;
        oo.parallel = s->opts.llm_parallel;
        oo.queue = s->opts.llm_queue;
        oo.max_tokens = s->opts.llm_max_tokens;
        oo.threads = s->opts.llm_threads;
        oo.trusted_key = s->opts.trusted_key_file;
        if ((rc = fy__oai_create(&s->oai, (const char *const *)s->paths, n_gguf, &oo, d)) !=
            FY_OK)
            goto fail;
    }
    fy__repo_opts ro = {0};
    ro.paths = (const char *const *)s->paths + n_gguf;
    ro.n_paths = s->n_paths - n_gguf;
    ro.allow_empty = n_gguf > 0;
    ro.instances = s->opts.instances;
    ro.max_batch_size = s->opts.max_batch_size;
    ro.max_queue_delay_us = s->opts.max_queue_delay_us;
    ro.queue_capacity = s->opts.queue_capacity;
    ro.version_policy_latest = s->opts.version_policy_latest;
    ro.metrics = s->metrics;
    ro.pool = s->pool;
    ro.trusted_key = s->opts.trusted_key_file;
    ro.log = log_line;
    ro.log_ctx = s;
    if ((rc = fy__repo_create(&s->repo, &ro, d)) != FY_OK)
        goto fail;

    fy__http_cfg hc = {0};
    hc.host = s->host;
    hc.port = s->opts.port;
    hc.threads = s->opts.http_threads;
    hc.request_timeout_ms = s->opts.request_timeout_ms;
    hc.max_body_bytes = s->opts.max_body_bytes;
    hc.keys_file = s->keys_file;
    hc.tls = s->tls_cert_file ? &s->tls : NULL;
    hc.repo = s->repo;
    hc.metrics = s->metrics;
    hc.oai = s->oai;
    hc.log = log_line;
    hc.log_ctx = s;
    hc.quiet = s->opts.quiet;
    if ((rc = fy__http_start(&s->http, &hc, d)) != FY_OK)
        goto fail;

    json_t *ev = json_pack("{s:s, s:s, s:i, s:s, s:i, s:b, s:b}", "event", "listening", "host",
                           s->host, "port", fy__http_port(s->http), "version", FERRY_VERSION,
                           "http_threads", s->opts.http_threads, "auth", s->keys_file != NULL,
                           "tls", s->tls_cert_file != NULL);
    if (s->tls_cert_file)
        add_not_after(ev, &s->tls);
    log_event(s, ev);
    fy__repo_each(s->repo, log_model, s);
    char why[512], clean[512];
    if (fy__repo_ready(s->repo, why, sizeof why) || (s->oai && fy__repo_empty(s->repo)))
        log_event(s, json_pack("{s:s}", "event", "ready"));
    else
        log_event(s, json_pack("{s:s, s:s}", "event", "not_ready", "reason",
                               fy__serve_ascii(clean, sizeof clean, why)));
    *out = s;
    return FY_OK;
fail:
    fy_server_free(s);
    return rc;
}

int fy_server_port(const fy_server *s)
{
    return s && s->http ? fy__http_port(s->http) : -1;
}

void fy_server_request_stop(fy_server *s)
{
    if (!s)
        return;
    int saved = errno; /* a signal handler must not disturb errno */
    s->stop_flag = 1;
    ssize_t n = write(s->wake[1], "s", 1);
    (void)n; /* a full pipe already means "wake up" */
    errno = saved;
}

void fy_server_request_reload(fy_server *s)
{
    if (!s)
        return;
    int saved = errno;
    s->reload_flag = 1;
    ssize_t n = write(s->wake[1], "r", 1);
    (void)n;
    errno = saved;
}

/* The certificate or key file changed: check the new pair as at start, then hand
 * it to new handshakes. A bad pair, or a daemon that cannot swap (another server
 * of the process owns the certificate callback), keeps the old one, and the log
 * says why, so that a renewal is never silently ignored. */
static void reload_tls(fy_server *s)
{
    fy_diag d = {{0}};
    char why[600];
    int rc = fy__http_renew_tls(s->http, &s->tls, s->tls_cert_file, s->tls_key_file, &d);
    if (rc != FY_OK) {
        log_event(s, json_pack("{s:s, s:s}", "event",
                               rc == FY_EUNSUPPORTED ? "reload_tls_needs_restart"
                                                     : "reload_tls_failed",
                               "reason", fy__serve_ascii(why, sizeof why, d.msg)));
        return;
    }
    json_t *ev = json_pack("{s:s}", "event", "reload_tls");
    add_not_after(ev, &s->tls);
    log_event(s, ev);
}

static void do_reload(fy_server *s)
{
    fy_diag d = {{0}};
    int64_t t0 = now_ms();
    log_event(s, json_pack("{s:s}", "event", "reload_begin"));
    /* The log file first, so a rotated log gets the rest of the reload's lines. */
    int lrc = open_log(s, &d);
    char why[600];
    if (lrc != FY_OK)
        log_event(s, json_pack("{s:s, s:s}", "event", "reload_log_failed", "reason",
                               fy__serve_ascii(why, sizeof why, d.msg)));
    d.msg[0] = 0;
    int krc = s->keys_file ? fy__http_reload_keys(s->http, &d) : FY_OK;
    if (krc != FY_OK)
        log_event(s, json_pack("{s:s, s:s}", "event", "reload_keys_failed", "reason",
                               fy__serve_ascii(why, sizeof why, d.msg)));
    if (s->tls_cert_file && fy__tls_changed(&s->tls, s->tls_cert_file, s->tls_key_file))
        reload_tls(s);
    d.msg[0] = 0;
    int rrc = fy__repo_reload(s->repo, &d);
    log_event(s, json_pack("{s:s, s:s, s:s, s:I}", "event", "reload", "outcome",
                           rrc == FY_OK ? "ok" : "error", "reason",
                           rrc == FY_OK ? "" : fy__serve_ascii(why, sizeof why, d.msg), "ms",
                           (json_int_t)(now_ms() - t0)));
    fy__repo_each(s->repo, log_model, s);
}

int fy_server_run(fy_server *s, fy_diag *d)
{
    if (!s || !s->http)
        return fy__diag_set(d, FY_EINVAL, "server is not started");
    if (s->ran)
        return fy__diag_set(d, FY_EINVAL, "fy_server_run: the server already ran");
    s->ran = 1;
    while (!s->stop_flag) {
        struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
        int n = poll(&p, 1, 1000);
        if (n > 0) {
            char buf[64];
            while (read(s->wake[0], buf, sizeof buf) > 0)
                ;
        }
        if (s->reload_flag && !s->stop_flag) {
            s->reload_flag = 0;
            do_reload(s);
        }
    }

    int64_t t0 = now_ms();
    int64_t deadline = t0 + s->opts.drain_timeout_ms;
    fy__http_drain(s->http);
    log_event(s,
              json_pack("{s:s, s:i, s:i}", "event", "drain_begin", "inflight",
                        fy__http_inflight(s->http), "drain_timeout_ms", s->opts.drain_timeout_ms));
    int64_t settle = t0 + (s->opts.drain_timeout_ms < DRAIN_SETTLE_MS ? s->opts.drain_timeout_ms
                                                                      : DRAIN_SETTLE_MS);
    for (;;) {
        int64_t now = now_ms();
        if (now >= deadline || (now >= settle && fy__http_inflight(s->http) == 0))
            break;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    int left = fy__http_inflight(s->http);
    int cut = fy__http_stop(s->http);
    log_event(s, json_pack("{s:s, s:I, s:i, s:i}", "event", "stopped", "drain_ms",
                           (json_int_t)(now_ms() - t0), "inflight_at_deadline", left,
                           "answered_503", cut));
    return FY_OK;
}

void fy_server_free(fy_server *s)
{
    if (!s)
        return;
    fy__http_free(s->http); /* before the repo: its workers hold model references */
    fy__oai_free(s->oai);
    fy__repo_free(s->repo);
    fy_pool_free(s->pool); /* after the sessions that use it */
    fy__metrics_free(s->metrics);
    fy__tls_clear(&s->tls); /* the daemon is stopped: zero the key bytes */
    for (int i = 0; i < s->n_paths; i++)
        fy__free(s->paths[i]);
    fy__free(s->paths);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    if (s->log_file)
        fclose(s->log_file);
    pthread_mutex_destroy(&s->log_mu);
    fy__free(s->host);
    fy__free(s->keys_file);
    fy__free(s->log_path);
    fy__free(s->tls_cert_file);
    fy__free(s->tls_key_file);
    fy__free(s->trusted_key_file);
    fy__free(s);
}

void fy_serve_hash_key(const char *key, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    sodium_bin2hex(out, 65, h, sizeof h);
}
