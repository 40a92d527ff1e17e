/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* accept4 */
/* The local supervisor: one daemon per service. It runs each version's worker
 * processes (`ferry serve PKG` on free loopback ports), health-checks them,
 * restarts one that exits with exponential backoff (counted, exposed as a metric),
 * and owns the public port through the front proxy (proxy.c), whose per-request
 * routing follows the weights set over the control socket. See docs/deploy.md. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../serve/serve_int.h"
#include "deploy_int.h"

#define MAX_VERSIONS 4
#define MAX_WORKERS (MAX_VERSIONS * FY_DEPLOY_MAX_REPLICAS)
_Static_assert(MAX_WORKERS <= FY_PROXY_MAX_WORKERS, "the front lists every worker");
#define MAX_ARGS 32
#define CONTROL_MAX ((size_t)64 << 10)
#define BACKOFF_MIN 0.5
#define BACKOFF_MAX 30.0
#define HEALTH_EVERY 1.0  /* seconds between checks of a ready worker */
#define HEALTH_FAILS 3    /* consecutive failed checks before a worker is killed */
#define START_LIMIT 120.0 /* a worker not ready by then is killed and restarted */
#define DRAIN_LIMIT                                                                                \
    45.0 /* a draining worker still there then is killed (ferry serve drains 30 s) */

enum wstate { W_FREE = 0, W_WAITING, W_STARTING, W_READY, W_STOPPING };
static const char *const wstate_name[] = {"free", "waiting", "starting", "ready", "stopping"};

typedef struct worker {
    enum wstate state;
    int version;
    int replica;
    pid_t pid;
    int port;
    int restarts;
    int ever_ready;
    int health_fails;
    int in_flight;
    double next_start, backoff, started_at, ready_at, next_health, stop_at;
    int killed; /* SIGKILL sent after a drain that took too long */
    char last_exit[64];
} worker;

typedef struct version {
    int used;
    char name[64];
    char package[FY_DEPLOY_PATH_MAX];
    int n_args;
    char *args[MAX_ARGS];
    int replicas;
    int weight; /* percent of public traffic */
    int retiring;
    long requests, errors_5xx, failures;
    int restarts;
} version;

typedef struct sup {
    const fy_supervisor_opts *o;
    char dir[FY_DEPLOY_PATH_MAX]; /* absolute service folder */
    char ferry[FY_DEPLOY_PATH_MAX];
    pthread_mutex_t mu;
    version v[MAX_VERSIONS];
    worker w[MAX_WORKERS];
    unsigned rr;
    int stopping;
    fy_proxy *proxy;
    int ctl_fd;
    CURL *health;
    fy_store *store; /* the audit log of restarts; main thread only; NULL if unavailable */
    fy__tls tls;     /* the front's certificate and key (FY_FRONT_TLS_FILE), if any */
    int has_tls;
} sup;

/* Set by SIGTERM/SIGINT (stop) and SIGHUP (reload the front's certificate) in the
 * supervisor process (listed in docs/ARCHITECTURE.md). */
static volatile sig_atomic_t sup_stop_signal, sup_reload_signal;

static void on_term(int sig)
{
    (void)sig;
    sup_stop_signal = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    sup_reload_signal = 1;
}

__attribute__((format(printf, 1, 2))) static void logf_(const char *fmt, ...)
{
    char ts[40];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s\n", ts, line);
    fflush(stderr);
}

/* ------------------------------------------------------------------------- */
/* Routing (called by the proxy's threads)                                    */
/* ------------------------------------------------------------------------- */

static fy_backend_ref pick(void *ctx, int avoid)
{
    sup *s = ctx;
    fy_backend_ref r = {-1, 0};
    pthread_mutex_lock(&s->mu);
    int ready[MAX_VERSIONS] = {0}, total = 0;
    for (int i = 0; i < MAX_WORKERS; i++)
        if (s->w[i].state == W_READY && i != avoid)
            ready[s->w[i].version]++;
    for (int v = 0; v < MAX_VERSIONS; v++)
        if (s->v[v].used && !s->v[v].retiring && ready[v])
            total += s->v[v].weight;
    if (total > 0) {
        int x = (int)(s->rr++ * 2654435761u % (unsigned)total), chosen = -1;
        for (int v = 0; v < MAX_VERSIONS && chosen < 0; v++) {
            if (!s->v[v].used || s->v[v].retiring || !ready[v])
                continue;
            if (x < s->v[v].weight)
                chosen = v;
            else
                x -= s->v[v].weight;
        }
        int k = (int)(s->rr % (unsigned)ready[chosen]);
        for (int i = 0; i < MAX_WORKERS; i++) {
            if (s->w[i].state != W_READY || s->w[i].version != chosen || i == avoid)
                continue;
            if (k-- == 0) {
                s->w[i].in_flight++;
                r.worker = i;
                r.port = s->w[i].port;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void done(void *ctx, int wi, int status)
{
    sup *s = ctx;
    pthread_mutex_lock(&s->mu);
    worker *w = &s->w[wi];
    w->in_flight--;
    version *v = &s->v[w->version];
    v->requests++;
    if (status == 0)
        v->failures++;
    else if (status >= 500)
        v->errors_5xx++;
    pthread_mutex_unlock(&s->mu);
}

static int workers(void *ctx, fy_backend_ref *out, char (*names)[FY_WORKER_NAME], int cap)
{
    sup *s = ctx;
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < MAX_WORKERS && n < cap; i++) {
        if (s->w[i].state != W_READY)
            continue;
        out[n].worker = i;
        out[n].port = s->w[i].port;
        snprintf(names[n], FY_WORKER_NAME, "%s/%d", s->v[s->w[i].version].name, s->w[i].replica);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static char *metrics(void *ctx)
{
    sup *s = ctx;
    size_t cap = 8192, len = 0;
    char *out = fy__malloc(cap);
    if (!out)
        return NULL;
    pthread_mutex_lock(&s->mu);
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        int n_ = snprintf(out + len, cap - len, __VA_ARGS__);                                      \
        if (n_ > 0 && (size_t)n_ < cap - len)                                                      \
            len += (size_t)n_;                                                                     \
    } while (0)
    EMIT("# HELP ferry_supervisor_worker_restarts_total Worker processes restarted after they "
         "exited or failed health checks.\n# TYPE ferry_supervisor_worker_restarts_total "
         "counter\n");
    for (int v = 0; v < MAX_VERSIONS; v++)
        if (s->v[v].used)
            EMIT("ferry_supervisor_worker_restarts_total{service=\"%s\",version=\"%s\"} %d\n",
                 s->o->service, s->v[v].name, s->v[v].restarts);
    EMIT("# HELP ferry_supervisor_workers_ready Worker processes answering ready.\n"
         "# TYPE ferry_supervisor_workers_ready gauge\n");
    for (int v = 0; v < MAX_VERSIONS; v++) {
        if (!s->v[v].used)
            continue;
        int n = 0;
        for (int i = 0; i < MAX_WORKERS; i++)
            n += s->w[i].state == W_READY && s->w[i].version == v;
        EMIT("ferry_supervisor_workers_ready{service=\"%s\",version=\"%s\"} %d\n", s->o->service,
             s->v[v].name, n);
    }
    EMIT("# HELP ferry_supervisor_traffic_percent Share of public traffic routed to a version.\n"
         "# TYPE ferry_supervisor_traffic_percent gauge\n");
    for (int v = 0; v < MAX_VERSIONS; v++)
        if (s->v[v].used)
            EMIT("ferry_supervisor_traffic_percent{service=\"%s\",version=\"%s\"} %d\n",
                 s->o->service, s->v[v].name, s->v[v].retiring ? 0 : s->v[v].weight);
    EMIT("# HELP ferry_supervisor_proxied_requests_total Requests relayed by the front, by "
         "outcome (failed: no worker answered).\n# TYPE ferry_supervisor_proxied_requests_total "
         "counter\n");
    for (int v = 0; v < MAX_VERSIONS; v++) {
        if (!s->v[v].used)
            continue;
        version *x = &s->v[v];
        EMIT("ferry_supervisor_proxied_requests_total{service=\"%s\",version=\"%s\",outcome="
             "\"ok\"} %ld\n",
             s->o->service, x->name, x->requests - x->errors_5xx - x->failures);
        EMIT("ferry_supervisor_proxied_requests_total{service=\"%s\",version=\"%s\",outcome="
             "\"5xx\"} %ld\n",
             s->o->service, x->name, x->errors_5xx);
        EMIT("ferry_supervisor_proxied_requests_total{service=\"%s\",version=\"%s\",outcome="
             "\"failed\"} %ld\n",
             s->o->service, x->name, x->failures);
    }
#undef EMIT
    pthread_mutex_unlock(&s->mu);
    out[len] = 0;
    return out;
}

/* ------------------------------------------------------------------------- */
/* Workers                                                                    */
/* ------------------------------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void spawn(sup *s, int wi)
{
    worker *w = &s->w[wi];
    version *v = &s->v[w->version];
    char port[16], log[FY_DEPLOY_PATH_MAX], err[FY_DEPLOY_PATH_MAX];
    int p = free_port();
    if (p < 0) {
        w->next_start = fy__deploy_now() + 1;
        return;
    }
    snprintf(port, sizeof port, "%d", p);
    snprintf(log, sizeof log, "%s/workers/%s-%d.log", s->dir, v->name, w->replica);
    snprintf(err, sizeof err, "%s/workers/%s-%d.err", s->dir, v->name, w->replica);
    char *argv[16 + MAX_ARGS];
    int n = 0;
    argv[n++] = s->ferry;
    argv[n++] = (char *)"serve";
    argv[n++] = v->package;
    argv[n++] = (char *)"--host";
    argv[n++] = (char *)"127.0.0.1";
    argv[n++] = (char *)"--port";
    argv[n++] = port;
    argv[n++] = (char *)"--quiet";
    argv[n++] = (char *)"--log";
    argv[n++] = log;
    for (int i = 0; i < v->n_args; i++)
        argv[n++] = v->args[i];
    argv[n] = NULL;
    /* Opened before fork: between fork and exec only async-signal-safe calls. */
    int efd = open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a supervisor killed with -9 takes its workers */
        setpgid(0, 0);
        if (nfd >= 0)
            dup2(nfd, 0);
        if (efd >= 0) {
            dup2(efd, 1);
            dup2(efd, 2);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    if (efd >= 0)
        close(efd);
    if (nfd >= 0)
        close(nfd);
    double now = fy__deploy_now();
    if (pid < 0) {
        logf_("worker %s#%d: fork failed: %s", v->name, w->replica, strerror(errno));
        w->next_start = now + 1;
        return;
    }
    w->pid = pid;
    w->port = p;
    w->state = W_STARTING;
    w->started_at = now;
    w->next_health = now + 0.1;
    w->health_fails = 0;
    logf_("worker %s#%d: started pid %d on 127.0.0.1:%d", v->name, w->replica, (int)pid, p);
}

static size_t discard(char *data, size_t sz, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return sz * n;
}

static int check_ready(sup *s, int port)
{
    char url[64];
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz/ready", port);
    curl_easy_reset(s->health);
    curl_easy_setopt(s->health, CURLOPT_URL, url);
    curl_easy_setopt(s->health, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->health, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(s->health, CURLOPT_CONNECTTIMEOUT_MS, 500L);
    curl_easy_setopt(s->health, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(s->health);
    if (cc == CURLE_OK)
        curl_easy_getinfo(s->health, CURLINFO_RESPONSE_CODE, &code);
    return code == 200;
}

static void reap(sup *s)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < MAX_WORKERS; i++) {
            worker *w = &s->w[i];
            if (w->state == W_FREE || w->state == W_WAITING || w->pid != pid)
                continue;
            version *v = &s->v[w->version];
            if (WIFSIGNALED(st))
                snprintf(w->last_exit, sizeof w->last_exit, "signal %d", WTERMSIG(st));
            else
                snprintf(w->last_exit, sizeof w->last_exit, "exit %d", WEXITSTATUS(st));
            w->pid = 0;
            if (w->state == W_STOPPING || v->retiring || s->stopping) {
                logf_("worker %s#%d: stopped (%s)", v->name, w->replica, w->last_exit);
                w->state = W_FREE;
            } else {
                w->restarts++;
                v->restarts++;
                w->state = W_WAITING;
                if (w->backoff < BACKOFF_MIN)
                    w->backoff = BACKOFF_MIN;
                w->next_start = fy__deploy_now() + w->backoff;
                logf_("worker %s#%d: exited (%s); restart %d in %.1f s", v->name, w->replica,
                      w->last_exit, w->restarts, w->backoff);
                if (s->store) {
                    char what[160];
                    fy_diag dd = {{0}};
                    snprintf(what, sizeof what, "worker %s#%d (pid %d) exited (%s); restart %d",
                             v->name, w->replica, (int)pid, w->last_exit, w->restarts);
                    if (fy_store_audit(s->store, s->o->service, "worker_restart", "restarted", what,
                                       &dd) != FY_OK)
                        logf_("audit: %s", dd.msg);
                }
                w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
}

/* Health checks, restarts, retirements: one pass of the main loop. */
static void tick(sup *s)
{
    double now = fy__deploy_now();
    for (int i = 0; i < MAX_WORKERS; i++) {
        worker *w = &s->w[i];
        if (w->state == W_FREE)
            continue;
        version *v = &s->v[w->version];
        if (w->state == W_WAITING) {
            if (v->retiring || s->stopping) {
                pthread_mutex_lock(&s->mu);
                w->state = W_FREE;
                pthread_mutex_unlock(&s->mu);
            } else if (now >= w->next_start) {
                pthread_mutex_lock(&s->mu);
                spawn(s, i);
                pthread_mutex_unlock(&s->mu);
            }
            continue;
        }
        if (w->state == W_STOPPING && !w->killed && now - w->stop_at > DRAIN_LIMIT) {
            logf_("worker %s#%d: still draining after %.0f s, killed", v->name, w->replica,
                  DRAIN_LIMIT);
            kill(w->pid, SIGKILL);
            w->killed = 1;
            continue;
        }
        if (w->state == W_STARTING || w->state == W_READY) {
            if (v->retiring || s->stopping) {
                pthread_mutex_lock(&s->mu);
                int idle = w->in_flight == 0;
                if (idle) {
                    /* nothing routed here any more and nothing in flight: drain and stop
                     * (with requests still in flight it waits for the next pass) */
                    w->state = W_STOPPING;
                    w->stop_at = now;
                    kill(w->pid, SIGTERM);
                    logf_("worker %s#%d: draining (pid %d)", v->name, w->replica, (int)w->pid);
                }
                pthread_mutex_unlock(&s->mu);
                continue;
            }
            if (now < w->next_health)
                continue;
            int ok = check_ready(s, w->port);
            now = fy__deploy_now();
            pthread_mutex_lock(&s->mu);
            if (w->state == W_STARTING) {
                if (ok) {
                    w->state = W_READY;
                    w->ever_ready = 1;
                    w->ready_at = now;
                    logf_("worker %s#%d: ready", v->name, w->replica);
                } else if (now - w->started_at > START_LIMIT) {
                    logf_("worker %s#%d: not ready after %.0f s, killed", v->name, w->replica,
                          START_LIMIT);
                    kill(w->pid, SIGKILL);
                }
                w->next_health = now + 0.1;
            } else {
                w->health_fails = ok ? 0 : w->health_fails + 1;
                if (ok && now - w->ready_at > 60)
                    w->backoff = BACKOFF_MIN; /* healthy a while: forget past crashes */
                if (w->health_fails >= HEALTH_FAILS) {
                    logf_("worker %s#%d: %d failed health checks, killed", v->name, w->replica,
                          HEALTH_FAILS);
                    w->state = W_STARTING; /* out of rotation until it is back */
                    kill(w->pid, SIGKILL);
                }
                w->next_health = now + HEALTH_EVERY;
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    /* a retired version whose workers are all gone is forgotten */
    pthread_mutex_lock(&s->mu);
    for (int vi = 0; vi < MAX_VERSIONS; vi++) {
        version *v = &s->v[vi];
        if (!v->used || !(v->retiring || s->stopping))
            continue;
        int left = 0;
        for (int i = 0; i < MAX_WORKERS; i++)
            left += s->w[i].state != W_FREE && s->w[i].version == vi;
        if (!left) {
            logf_("version %s: retired", v->name);
            for (int a = 0; a < v->n_args; a++)
                fy__free(v->args[a]);
            memset(v, 0, sizeof *v);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------- */
/* Control socket                                                             */
/* ------------------------------------------------------------------------- */

static json_t *status_json(sup *s)
{
    json_t *vs = json_array();
    for (int vi = 0; vi < MAX_VERSIONS; vi++) {
        version *v = &s->v[vi];
        if (!v->used)
            continue;
        json_t *ws = json_array();
        int ready = 0, ever = 0;
        for (int i = 0; i < MAX_WORKERS; i++) {
            worker *w = &s->w[i];
            if (w->state == W_FREE || w->version != vi)
                continue;
            ready += w->state == W_READY;
            ever += w->ever_ready;
            json_array_append_new(ws,
                                  json_pack("{s:i, s:i, s:i, s:s, s:i, s:i, s:s}", "replica",
                                            w->replica, "pid", (int)w->pid, "port", w->port,
                                            "state", wstate_name[w->state], "restarts", w->restarts,
                                            "in_flight", w->in_flight, "last_exit", w->last_exit));
        }
        json_array_append_new(
            vs,
            json_pack("{s:s, s:s, s:i, s:i, s:b, s:i, s:I, s:I, s:I, s:i, s:o}", "version", v->name,
                      "package", v->package, "replicas", v->replicas, "weight", v->weight,
                      "retiring", v->retiring, "ready", ready, "requests", (json_int_t)v->requests,
                      "errors_5xx", (json_int_t)v->errors_5xx, "failures", (json_int_t)v->failures,
                      "restarts", v->restarts, "workers", ws));
        (void)ever;
    }
    return json_pack("{s:b, s:s, s:i, s:s, s:i, s:b, s:o}", "ok", 1, "service", s->o->service,
                     "pid", (int)getpid(), "host", s->o->host ? s->o->host : "127.0.0.1", "port",
                     s->o->port, "stopping", s->stopping, "versions", vs);
}

static json_t *err_json(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static int find_version(sup *s, const char *name)
{
    for (int v = 0; v < MAX_VERSIONS; v++)
        if (s->v[v].used && !strcmp(s->v[v].name, name))
            return v;
    return -1;
}

static json_t *cmd_start(sup *s, json_t *req)
{
    const char *name = json_string_value(json_object_get(req, "version"));
    const char *pkg = json_string_value(json_object_get(req, "package"));
    json_t *args = json_object_get(req, "args");
    json_int_t replicas = json_integer_value(json_object_get(req, "replicas"));
    json_int_t weight = json_integer_value(json_object_get(req, "weight"));
    struct stat st;
    if (!fy__deploy_valid_version(name))
        return err_json("start: version must be 1-63 of [A-Za-z0-9._+-]");
    if (!pkg || pkg[0] != '/' || strlen(pkg) >= FY_DEPLOY_PATH_MAX || stat(pkg, &st) != 0 ||
        !S_ISREG(st.st_mode))
        return err_json("start: package must be the absolute path of a regular file");
    if (replicas < 1 || replicas > FY_DEPLOY_MAX_REPLICAS)
        return err_json("start: replicas must be 1 to %d", FY_DEPLOY_MAX_REPLICAS);
    if (weight < 0 || weight > 100)
        return err_json("start: weight must be 0 to 100");
    if (args && (!json_is_array(args) || json_array_size(args) > MAX_ARGS))
        return err_json("start: args must be a list of at most %d strings", MAX_ARGS);
    if (s->stopping)
        return err_json("start: the supervisor is stopping");
    int vi = find_version(s, name);
    if (vi >= 0)
        return err_json("start: version %s is already %s", name,
                        s->v[vi].retiring ? "retiring (try again shortly)" : "running");
    for (vi = 0; vi < MAX_VERSIONS && s->v[vi].used; vi++)
        ;
    if (vi == MAX_VERSIONS)
        return err_json("start: %d versions are running already", MAX_VERSIONS);
    int free_w = 0;
    for (int i = 0; i < MAX_WORKERS; i++)
        free_w += s->w[i].state == W_FREE;
    if (free_w < replicas)
        return err_json("start: no room for %d more workers", (int)replicas);
    version *v = &s->v[vi];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->package, sizeof v->package, "%s", pkg);
    for (size_t i = 0; args && i < json_array_size(args); i++) {
        const char *a = json_string_value(json_array_get(args, i));
        if (!a || !(v->args[v->n_args] = fy__strdup(a))) {
            for (int k = 0; k < v->n_args; k++)
                fy__free(v->args[k]);
            memset(v, 0, sizeof *v);
            return err_json("start: args must be strings");
        }
        v->n_args++;
    }
    v->replicas = (int)replicas;
    v->weight = (int)weight;
    v->used = 1;
    double now = fy__deploy_now();
    for (int r = 0, i = 0; r < v->replicas && i < MAX_WORKERS; i++) {
        if (s->w[i].state != W_FREE)
            continue;
        memset(&s->w[i], 0, sizeof s->w[i]);
        s->w[i].state = W_WAITING;
        s->w[i].version = vi;
        s->w[i].replica = r++;
        s->w[i].next_start = now;
        s->w[i].backoff = BACKOFF_MIN;
    }
    logf_("version %s: starting %d worker(s) of %s", name, v->replicas, pkg);
    return json_pack("{s:b}", "ok", 1);
}

static json_t *cmd_route(sup *s, json_t *req)
{
    const char *name = json_string_value(json_object_get(req, "version"));
    json_int_t pct = json_integer_value(json_object_get(req, "percent"));
    int vi = name ? find_version(s, name) : -1;
    if (vi < 0 || s->v[vi].retiring)
        return err_json("route: no running version '%s'", name ? name : "");
    if (pct < 0 || pct > 100)
        return err_json("route: percent must be 0 to 100");
    s->v[vi].weight = (int)pct;
    int rest = 100 - (int)pct;
    for (int v = 0; v < MAX_VERSIONS; v++) {
        if (v == vi || !s->v[v].used || s->v[v].retiring)
            continue;
        s->v[v].weight = rest;
        rest = 0;
    }
    logf_("route: %s gets %d%% of traffic", name, (int)pct);
    return json_pack("{s:b}", "ok", 1);
}

static json_t *cmd_retire(sup *s, json_t *req)
{
    const char *name = json_string_value(json_object_get(req, "version"));
    int vi = name ? find_version(s, name) : -1;
    if (vi < 0)
        return err_json("retire: no running version '%s'", name ? name : "");
    s->v[vi].retiring = 1;
    s->v[vi].weight = 0;
    logf_("version %s: retiring", name);
    return json_pack("{s:b}", "ok", 1);
}

static void handle_client(sup *s, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *buf = fy__malloc(CONTROL_MAX + 1);
    size_t len = 0;
    if (!buf)
        return;
    while (len < CONTROL_MAX) {
        ssize_t r = read(fd, buf + len, CONTROL_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = 0;
    json_error_t je;
    json_t *req = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, &je), *ans;
    fy__free(buf);
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    pthread_mutex_lock(&s->mu);
    if (!req || !cmd)
        ans = err_json("a request is one JSON object with \"cmd\"");
    else if (!strcmp(cmd, "status"))
        ans = status_json(s);
    else if (!strcmp(cmd, "start"))
        ans = cmd_start(s, req);
    else if (!strcmp(cmd, "route"))
        ans = cmd_route(s, req);
    else if (!strcmp(cmd, "retire"))
        ans = cmd_retire(s, req);
    else if (!strcmp(cmd, "stop")) {
        s->stopping = 1;
        logf_("stop requested");
        ans = json_pack("{s:b}", "ok", 1);
    } else
        ans = err_json("unknown command '%.40s' (status, start, route, retire, stop)", cmd);
    pthread_mutex_unlock(&s->mu);
    json_decref(req);
    char *out = ans ? json_dumps(ans, JSON_COMPACT) : NULL;
    json_decref(ans);
    if (out) {
        size_t n = strlen(out), off = 0;
        out[n] = 0;
        while (off < n) {
            ssize_t w = write(fd, out + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (write(fd, "\n", 1) < 0) {
        }
        free(out);
    }
}

static int sock_path(char *out, size_t n, const char *state_dir, const char *service, fy_diag *d)
{
    char p[FY_DEPLOY_PATH_MAX];
    struct sockaddr_un un;
    if (fy__deploy_service_path(p, sizeof p, state_dir, service, "control.sock"))
        return fy__diag_set(d, FY_EINVAL, "invalid service name or path too long");
    if (strlen(p) >= sizeof un.sun_path || strlen(p) >= n)
        return fy__diag_set(d, FY_ELIMIT,
                            "control socket path %s is longer than %zu bytes: use a shorter "
                            "--state-dir",
                            p, sizeof un.sun_path - 1);
    snprintf(out, n, "%s", p);
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Running, starting and calling the supervisor                               */
/* ------------------------------------------------------------------------- */

int fy_supervisor_running(const char *state_dir, const char *service, long *pid)
{
    char p[FY_DEPLOY_PATH_MAX];
    if (fy__deploy_service_path(p, sizeof p, state_dir, service, "supervisor.lock"))
        return 0;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    if (held && pid) {
        char q[FY_DEPLOY_PATH_MAX], buf[32] = "";
        *pid = 0;
        if (!fy__deploy_service_path(q, sizeof q, state_dir, service, "supervisor.pid")) {
            FILE *f = fopen(q, "r");
            if (f) {
                if (fgets(buf, sizeof buf, f))
                    *pid = strtol(buf, NULL, 10);
                fclose(f);
            }
        }
    }
    return held;
}

/* HTTPS on the public port when the deployment asked for it: `ferry deploy` writes
 * the certificate's and key's paths to SERVICE/FY_FRONT_TLS_FILE as
 * {"cert": PATH, "key": PATH}. *present is 0 when the file is absent (plain
 * HTTP); else cert and key hold the paths. */
static int front_tls_paths(const sup *s, int *present, char cert[FY_DEPLOY_PATH_MAX],
                           char key[FY_DEPLOY_PATH_MAX], fy_diag *d)
{
    char p[FY_DEPLOY_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", s->dir, FY_FRONT_TLS_FILE);
    *present = access(p, F_OK) == 0;
    if (!*present)
        return FY_OK;
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    const char *c = json_string_value(json_object_get(j, "cert"));
    const char *k = json_string_value(json_object_get(j, "key"));
    int rc = FY_OK;
    if (!c || !k)
        rc = fy__diag_set(d, FY_EINVAL, "%s: wants {\"cert\": PATH, \"key\": PATH}%s%s", p,
                          j ? "" : ": ", j ? "" : je.text);
    else if ((size_t)snprintf(cert, FY_DEPLOY_PATH_MAX, "%s", c) >= FY_DEPLOY_PATH_MAX ||
             (size_t)snprintf(key, FY_DEPLOY_PATH_MAX, "%s", k) >= FY_DEPLOY_PATH_MAX)
        rc = fy__diag_set(d, FY_EINVAL, "%s: a path is longer than %d bytes", p,
                          FY_DEPLOY_PATH_MAX - 1);
    json_decref(j);
    return rc;
}

/* The front's pair, read (and checked) as ferry serve's, when it serves HTTPS. */
static int load_front_tls(sup *s, fy_diag *d)
{
    char cert[FY_DEPLOY_PATH_MAX], key[FY_DEPLOY_PATH_MAX];
    int present = 0, rc = front_tls_paths(s, &present, cert, key, d);
    if (rc == FY_OK && present && (rc = fy__tls_load(&s->tls, cert, key, d)) == FY_OK)
        s->has_tls = 1;
    return rc;
}

/* SIGHUP: a renewed certificate (the same paths, new contents) goes to the front's
 * new handshakes; a pair that fails the checks is refused and the old one kept. */
static void reload_front_tls(sup *s)
{
    char cert[FY_DEPLOY_PATH_MAX], key[FY_DEPLOY_PATH_MAX];
    int present = 0;
    fy_diag d = {{0}};
    if (!s->has_tls || !s->proxy) {
        logf_("reload: the front serves plain HTTP, nothing to reload");
        return;
    }
    if (front_tls_paths(s, &present, cert, key, &d) != FY_OK || !present ||
        !fy__tls_changed(&s->tls, cert, key)) {
        logf_("reload: %s", d.msg[0] ? d.msg : "the front's certificate is unchanged");
        return;
    }
    if (fy__proxy_renew_tls(s->proxy, &s->tls, cert, key, &d) != FY_OK) {
        logf_("reload: the front keeps its certificate: %s", d.msg);
        return;
    }
    logf_("reload: the front serves the renewed certificate to new connections");
}

int fy_supervisor_run(const fy_supervisor_opts *o, fy_diag *d)
{
    sup *s = fy__calloc(1, sizeof *s);
    char p[FY_DEPLOY_PATH_MAX], sock[FY_DEPLOY_PATH_MAX], abs_state[FY_DEPLOY_PATH_MAX];
    int rc = FY_OK, lock_fd = -1;
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    s->o = o;
    s->ctl_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    if (!fy__deploy_valid_name(o->service)) {
        rc = fy__diag_set(d, FY_EINVAL, "invalid service name");
        goto done;
    }
    if ((rc = fy__deploy_mkdirs(o->state_dir, d)))
        goto done;
    if (!realpath(o->state_dir, abs_state)) {
        rc = fy__diag_set(d, FY_EIO, "%s: %s", o->state_dir, strerror(errno));
        goto done;
    }
    fy__deploy_service_path(s->dir, sizeof s->dir, abs_state, o->service, NULL);
    snprintf(p, sizeof p, "%s/workers", s->dir);
    if ((rc = fy__deploy_mkdirs(p, d)))
        goto done;
    const char *bin = o->ferry_binary ? o->ferry_binary : "/proc/self/exe";
    if (!realpath(bin, s->ferry)) {
        rc = fy__diag_set(d, FY_EIO, "ferry binary %s: %s", bin, strerror(errno));
        goto done;
    }
    snprintf(p, sizeof p, "%s/supervisor.lock", s->dir);
    lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = fy__diag_set(d, FY_EIO, "a supervisor already runs for %s (lock %s)", o->service, p);
        goto done;
    }
    if ((rc = sock_path(sock, sizeof sock, abs_state, o->service, d)))
        goto done;
    unlink(sock);
    s->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", sock);
    mode_t old = umask(077);
    int b = s->ctl_fd >= 0 ? bind(s->ctl_fd, (struct sockaddr *)&un, sizeof un) : -1;
    umask(old);
    if (b != 0 || listen(s->ctl_fd, 16) != 0) {
        rc = fy__diag_set(d, FY_EIO, "control socket %s: %s", sock, strerror(errno));
        goto done;
    }
    fcntl(s->ctl_fd, F_SETFL, O_NONBLOCK);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(s->health = curl_easy_init())) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    fy_diag sd = {{0}};
    if (fy_store_open(&s->store, abs_state, &sd) != FY_OK)
        logf_("state store unavailable, restarts go to this log only: %s", sd.msg);
    if ((rc = load_front_tls(s, d)))
        goto done;
    fy_proxy_hooks hooks = {pick, done, metrics, workers, s};
    if ((rc = fy__proxy_start(&s->proxy, o->host ? o->host : "127.0.0.1", o->port, &hooks,
                              s->has_tls ? &s->tls : NULL, d)))
        goto done;
    /* the pid file is written last: its presence with the lock held means "serving" */
    snprintf(p, sizeof p, "%s/supervisor.pid", s->dir);
    FILE *pf = fopen(p, "w");
    if (pf) {
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    logf_("supervisor of %s: pid %d, listening on %s:%d", o->service, (int)getpid(),
          o->host ? o->host : "127.0.0.1", o->port);
    int proxy_stopped = 0;
    for (;;) {
        if (sup_reload_signal) {
            sup_reload_signal = 0;
            reload_front_tls(s);
        }
        if (sup_stop_signal && !s->stopping) {
            pthread_mutex_lock(&s->mu);
            s->stopping = 1;
            pthread_mutex_unlock(&s->mu);
            logf_("stop signal");
        }
        if (s->stopping && !proxy_stopped) {
            fy__proxy_stop(s->proxy); /* stop accepting, finish requests in flight */
            s->proxy = NULL;
            proxy_stopped = 1;
        }
        struct pollfd pfd = {s->ctl_fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) > 0) {
            int c = accept4(s->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) {
                handle_client(s, c);
                close(c);
            }
        }
        reap(s);
        tick(s);
        if (s->stopping) {
            int left = 0;
            for (int i = 0; i < MAX_WORKERS; i++)
                left += s->w[i].state != W_FREE;
            if (!left)
                break;
        }
    }
    logf_("supervisor of %s: stopped", o->service);
done:
    if (s->proxy)
        fy__proxy_stop(s->proxy);
    if (s->has_tls)
        fy__tls_clear(&s->tls);
    for (int i = 0; i < MAX_WORKERS; i++)
        if (s->w[i].pid > 0)
            kill(s->w[i].pid, SIGKILL);
    if (s->ctl_fd >= 0) {
        close(s->ctl_fd);
        if (rc == FY_OK || rc != FY_EIO)
            unlink(sock);
    }
    if (lock_fd >= 0) {
        if (rc == FY_OK) {
            snprintf(p, sizeof p, "%s/supervisor.pid", s->dir);
            unlink(p);
        }
        close(lock_fd);
    }
    for (int v = 0; v < MAX_VERSIONS; v++)
        for (int a = 0; a < s->v[v].n_args; a++)
            fy__free(s->v[v].args[a]);
    if (s->health)
        curl_easy_cleanup(s->health);
    fy_store_close(s->store);
    pthread_mutex_destroy(&s->mu);
    fy__free(s);
    return rc;
}

int fy_supervisor_call(const char *state_dir, const char *service, const char *request_json,
                       char **reply_json, double timeout_s, fy_diag *d)
{
    char sock[FY_DEPLOY_PATH_MAX];
    int rc = sock_path(sock, sizeof sock, state_dir, service, d);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fy__diag_set(d, FY_EIO, "socket: %s", strerror(errno));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", sock);
    long ms = (long)(timeout_s * 1000);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&un, sizeof un) != 0) {
        int e = errno;
        close(fd);
        return fy__diag_set(d, e == ENOENT || e == ECONNREFUSED ? FY_ENOTFOUND : FY_EIO,
                            "no supervisor answers for %s (%s): %s", service, sock, strerror(e));
    }
    size_t n = strlen(request_json), off = 0;
    while (off < n) {
        ssize_t w = write(fd, request_json + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off < n || write(fd, "\n", 1) != 1) {
        close(fd);
        return fy__diag_set(d, FY_EIO, "supervisor of %s: write failed", service);
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 4096, len = 0;
    char *buf = fy__malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            if (cap >= ((size_t)1 << 20))
                break;
            char *nb = fy__realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    buf[len] = 0;
    if (len == 0) {
        fy__free(buf);
        return fy__diag_set(d, FY_EIO, "supervisor of %s: no answer within %.0f s", service,
                            timeout_s);
    }
    *reply_json = buf;
    return FY_OK;
}

int fy_supervisor_ensure(const fy_supervisor_opts *o, int *started, fy_diag *d)
{
    char dir[FY_DEPLOY_PATH_MAX], logp[FY_DEPLOY_PATH_MAX], abs_state[FY_DEPLOY_PATH_MAX];
    if (started)
        *started = 0;
    if (!fy__deploy_valid_name(o->service))
        return fy__diag_set(d, FY_EINVAL, "invalid service name");
    int rc = fy__deploy_mkdirs(o->state_dir, d);
    if (rc)
        return rc;
    if (!realpath(o->state_dir, abs_state))
        return fy__diag_set(d, FY_EIO, "%s: %s", o->state_dir, strerror(errno));
    if (fy__deploy_service_path(dir, sizeof dir, abs_state, o->service, NULL))
        return fy__diag_set(d, FY_ELIMIT, "state folder path too long");
    if ((rc = fy__deploy_mkdirs(dir, d)))
        return rc;
    char sock[FY_DEPLOY_PATH_MAX];
    if ((rc = sock_path(sock, sizeof sock, abs_state, o->service, d)))
        return rc;
    if (fy_supervisor_running(abs_state, o->service, NULL))
        return FY_OK;
    snprintf(logp, sizeof logp, "%s/supervisor.log", dir);
    char bin[FY_DEPLOY_PATH_MAX];
    if (!realpath(o->ferry_binary ? o->ferry_binary : "/proc/self/exe", bin))
        return fy__diag_set(d, FY_EIO, "cannot find the ferry binary: %s", strerror(errno));
    struct stat lst;
    long log_start = stat(logp, &lst) == 0 ? (long)lst.st_size : 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return fy__diag_set(d, FY_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* First child: a new session, then the daemon is its child (never a session leader,
         * so it cannot acquire a terminal). */
        setsid();
        pid_t p2 = fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 1 : 0);
        /* Drop every inherited descriptor: the deployer's locks and database must not
         * live on in the daemon. */
        for (int fd = 3; fd < 4096; fd++)
            close(fd);
        int nfd = open("/dev/null", O_RDWR);
        int lfd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (nfd >= 0)
            dup2(nfd, 0);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
        if (nfd > 2)
            close(nfd);
        if (lfd > 2)
            close(lfd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* A fresh process image (`ferry supervise`), not this fork: the deployer's
         * threads, SQLite connections and libcurl state must not carry over. */
        char port[16];
        snprintf(port, sizeof port, "%d", o->port);
        char *argv[] = {bin,
                        (char *)"supervise",
                        (char *)"--state-dir",
                        abs_state,
                        (char *)"--service",
                        (char *)o->service,
                        (char *)"--host",
                        (char *)(o->host ? o->host : "127.0.0.1"),
                        (char *)"--port",
                        port,
                        NULL};
        execv(bin, argv);
        fprintf(stderr, "supervisor of %s failed: cannot run %s: %s\n", o->service, bin,
                strerror(errno));
        _exit(1);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* wait for the control socket to answer */
    for (int i = 0; i < 300; i++) {
        char *ans = NULL;
        fy_diag dd = {{0}};
        if (fy_supervisor_running(abs_state, o->service, NULL) &&
            fy_supervisor_call(abs_state, o->service, "{\"cmd\":\"status\"}", &ans, 2, &dd) ==
                FY_OK) {
            fy__free(ans);
            if (started)
                *started = 1;
            return FY_OK;
        }
        /* a daemon that failed has logged why and exited: stop waiting early */
        FILE *f = fopen(logp, "r");
        if (f && i > 5 && fseek(f, log_start, SEEK_SET) == 0) {
            char line[600], last[600] = "";
            while (fgets(line, sizeof line, f))
                snprintf(last, sizeof last, "%s", line);
            fclose(f);
            f = NULL;
            if (strstr(last, " failed: ")) {
                last[strcspn(last, "\n")] = 0;
                const char *m = strstr(last, " failed: ");
                return fy__diag_set(d, FY_EIO, "the supervisor did not start: %s", m + 9);
            }
        }
        if (f)
            fclose(f);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return fy__diag_set(d, FY_EIO, "the supervisor did not answer within 15 s (see %s)", logp);
}
