/* SPDX-License-Identifier: MIT */
/* The HTTP front: libmicrohttpd (epoll thread pool), routing for ferry's /predict,
 * KServe V2 and TF Serving REST, API keys, Host/Origin checks, limits, access and
 * audit logs. The event loops never block on a model: small inference requests
 * are decoded there and queued in the batcher, whose callback resumes the
 * suspended connection (infer_async); large ones and model loads wait on worker
 * threads while the connection is suspended. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "serve/serve_int.h"

/* Ceilings (RELIABILITY.md 3, 6, 7). */
#define FY_HTTP_MAX_CONNECTIONS 1024
/* Per connection: the request line and headers must fit (else 431, closed). 16 KiB
 * as Node's default header limit: libmicrohttpd zeroes this pool after every
 * request, and at 64 KiB that memset was 6% of the server's CPU under load. */
#define FY_HTTP_CONN_MEMORY ((size_t)16 << 10)
/* Inference bodies up to this size are decoded on the event loop and submitted to
 * the batcher without a worker thread (infer_async); larger ones go to a worker,
 * so a big JSON body never holds up the loop's other connections for long. */
#define FY_HTTP_ASYNC_BODY ((size_t)256 << 10)
#define FY_HTTP_NAME_MAX 128                  /* model name in a URL */
#define FY_HTTP_VERSION_MAX 64                /* model version in a URL */
#define FY_HTTP_ID_MAX 64                     /* X-Request-Id echoed back */
#define FY_HTTP_KEY_MAX 512                   /* bearer token */
#define FY_HTTP_SMALL_BODY ((size_t)64 << 10) /* bodies of GET and management calls */
#define FY_HTTP_PATH_MAX 1024                 /* longer paths are unknown routes */
#define FY_HTTP_LOG_FIELD 256                 /* client strings in log lines are cut here */
#define FY_HTTP_MAX_VERSIONS 64               /* versions listed in V2 model metadata */
#define FY_KEYS_FILE_MAX ((size_t)1 << 20)

/* ------------------------------------------------------------------------- */
/* Keys                                                                       */
/* ------------------------------------------------------------------------- */

typedef struct key_entry {
    unsigned char hash[crypto_hash_sha256_BYTES];
    fy__role role;
    char name[65];
} key_entry;

struct fy__keys {
    int n;
    key_entry *k;
};

void fy__keys_free(fy__keys *k)
{
    if (!k)
        return;
    if (k->k)
        sodium_memzero(k->k, (size_t)k->n * sizeof *k->k);
    fy__free(k->k);
    fy__free(k);
}

static int valid_key_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

int fy__keys_parse(fy__keys **out, const char *text, size_t len, const char *file, fy_diag *d)
{
    int rc = FY_ENOMEM;
    fy__keys *k = fy__calloc(1, sizeof *k);
    if (!k)
        return fy__diag_set(d, FY_ENOMEM, "%s: out of memory", file);
    size_t pos = 0;
    int line = 0, cap = 0;
    while (pos < len) {
        line++;
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - pos;
        char buf[512];
        if (n >= sizeof buf) {
            rc = fy__diag_set(d, FY_EPARSE, "%s:%d: line longer than %zu bytes", file, line,
                              sizeof buf - 1);
            goto done;
        }
        memcpy(buf, text + pos, n);
        buf[n] = 0;
        pos = end + 1;
        if (memchr(buf, 0, n)) {
            rc = fy__diag_set(d, FY_EPARSE, "%s:%d: NUL byte", file, line);
            goto done;
        }
        char *f[4] = {0};
        int nf = 0;
        char *save = NULL;
        for (char *t = strtok_r(buf, " \t\r", &save); t; t = strtok_r(NULL, " \t\r", &save)) {
            if (nf == 0 && t[0] == '#')
                break;
            if (nf < 4)
                f[nf] = t;
            nf++;
        }
        if (nf == 0)
            continue;
        if (nf != 3) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s:%d: expected 'ROLE SHA256HEX NAME' (3 fields), got %d", file,
                              line, nf);
            goto done;
        }
        fy__role role;
        if (strcmp(f[0], "infer") == 0)
            role = FY_ROLE_INFER;
        else if (strcmp(f[0], "admin") == 0)
            role = FY_ROLE_ADMIN;
        else {
            rc = fy__diag_set(d, FY_EPARSE, "%s:%d: role must be infer or admin, got '%.32s'", file,
                              line, f[0]);
            goto done;
        }
        unsigned char hash[crypto_hash_sha256_BYTES];
        size_t bin_len = 0;
        const char *hex_end = NULL;
        if (strlen(f[1]) != 2 * sizeof hash ||
            sodium_hex2bin(hash, sizeof hash, f[1], strlen(f[1]), NULL, &bin_len, &hex_end) != 0 ||
            bin_len != sizeof hash || *hex_end) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s:%d: key hash must be 64 hex digits (the key's SHA-256, "
                              "see docs/serve.md), got %zu characters",
                              file, line, strlen(f[1]));
            goto done;
        }
        if (!valid_key_name(f[2])) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s:%d: name must be 1-64 of [A-Za-z0-9._@-], got '%.64s'", file,
                              line, f[2]);
            goto done;
        }
        for (int i = 0; i < k->n; i++) {
            if (sodium_memcmp(k->k[i].hash, hash, sizeof hash) == 0) {
                rc = fy__diag_set(d, FY_EPARSE, "%s:%d: the same key as '%s' (each key once)", file,
                                  line, k->k[i].name);
                goto done;
            }
        }
        if (k->n == FY_SERVE_MAX_KEYS) {
            rc = fy__diag_set(d, FY_ELIMIT, "%s:%d: more than %d keys", file, line,
                              FY_SERVE_MAX_KEYS);
            goto done;
        }
        if (k->n == cap) {
            int ncap = cap ? cap * 2 : 8;
            key_entry *nk = fy__realloc(k->k, (size_t)ncap * sizeof *nk);
            if (!nk) {
                rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", file);
                goto done;
            }
            k->k = nk;
            cap = ncap;
        }
        key_entry *e = &k->k[k->n++];
        memcpy(e->hash, hash, sizeof hash);
        e->role = role;
        snprintf(e->name, sizeof e->name, "%s", f[2]);
    }
    if (k->n == 0) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: no keys (lines 'ROLE SHA256HEX NAME')", file);
        goto done;
    }
    *out = k;
    k = NULL;
    rc = FY_OK;
done:
    fy__keys_free(k);
    return rc;
}

fy__role fy__keys_lookup(const fy__keys *k, const char *key, size_t key_len, const char **name)
{
    if (!k || !key)
        return FY_ROLE_NONE;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, key_len);
    fy__role role = FY_ROLE_NONE;
    /* Every entry is compared, in constant time each, whatever matches. */
    for (int i = 0; i < k->n; i++) {
        int eq = sodium_memcmp(h, k->k[i].hash, sizeof h) == 0;
        if (eq) {
            role = k->k[i].role;
            if (name)
                *name = k->k[i].name;
        }
    }
    sodium_memzero(h, sizeof h);
    return role;
}

static int load_keys(fy__keys **out, const char *path, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, FY_KEYS_FILE_MAX, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    rc = fy__keys_parse(out, (const char *)buf, len, path, d);
    sodium_memzero(buf, len);
    fy__free(buf);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Routes                                                                     */
/* ------------------------------------------------------------------------- */

typedef enum {
    RT_LIVE,
    RT_READY,
    RT_METRICS,
    RT_PREDICT,
    RT_V2_SERVER,
    RT_V2_LIVE,
    RT_V2_READY,
    RT_V2_META,
    RT_V2_MODEL_READY,
    RT_V2_INFER,
    RT_V2_STATS,
    RT_V2_INDEX,
    RT_V2_LOAD,
    RT_V2_UNLOAD,
    RT_TF_PREDICT,
    RT_TF_STATUS,
    RT_TF_META,
    RT_OAI_MODELS,      /* GET /v1/models (openai.c) */
    RT_OAI_COMPLETIONS, /* POST /v1/completions */
    RT_OAI_CHAT,        /* POST /v1/chat/completions */
    RT_N
} route_kind;

static const struct route_info {
    int post;  /* POST, else GET (and HEAD) */
    int open;  /* no key needed */
    int admin; /* management: admin key, or a loopback peer without keys */
    int async; /* runs on a worker thread */
    int infer; /* an inference request (metrics, in-flight gauge) */
    fy__proto proto;
    const char *action; /* audit action of management routes */
} ROUTES[RT_N] = {
    [RT_LIVE] = {0, 1, 0, 0, 0, 0, NULL},
    [RT_READY] = {0, 1, 0, 0, 0, 0, NULL},
    [RT_METRICS] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_PREDICT] = {1, 0, 0, 1, 1, FY_PROTO_PREDICT, NULL},
    [RT_V2_SERVER] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_V2_LIVE] = {0, 1, 0, 0, 0, 0, NULL},
    [RT_V2_READY] = {0, 1, 0, 0, 0, 0, NULL},
    [RT_V2_META] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_V2_MODEL_READY] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_V2_INFER] = {1, 0, 0, 1, 1, FY_PROTO_V2, NULL},
    [RT_V2_STATS] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_V2_INDEX] = {1, 0, 1, 0, 0, 0, "index"},
    [RT_V2_LOAD] = {1, 0, 1, 1, 0, 0, "load"},
    [RT_V2_UNLOAD] = {1, 0, 1, 1, 0, 0, "unload"},
    [RT_TF_PREDICT] = {1, 0, 0, 1, 1, FY_PROTO_TF, NULL},
    [RT_TF_STATUS] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_TF_META] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_OAI_MODELS] = {0, 0, 0, 0, 0, 0, NULL},
    [RT_OAI_COMPLETIONS] = {1, 0, 0, 1, 0, 0, NULL},
    [RT_OAI_CHAT] = {1, 0, 0, 1, 0, 0, NULL},
};

static int is_oai(route_kind k)
{
    return k == RT_OAI_MODELS || k == RT_OAI_COMPLETIONS || k == RT_OAI_CHAT;
}

typedef struct route {
    route_kind kind;
    char name[FY_HTTP_NAME_MAX + 1];       /* "" if none */
    char version[FY_HTTP_VERSION_MAX + 1]; /* "" if none */
} route;

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Model names: what a repository folder or manifest may be called. */
static int valid_model_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FY_HTTP_NAME_MAX || !(is_alnum(s[0]) || s[0] == '_') || strstr(s, ".."))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

/* Versions: repository folders ("3") and package versions ("1.2.0"). */
static int valid_version(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > FY_HTTP_VERSION_MAX || !is_alnum(s[0]) || strstr(s, ".."))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-' || s[i] == '+'))
            return 0;
    return 1;
}

/* Splits "NAME:verb" (TF Serving); returns the verb or NULL. */
static char *split_verb(char *seg)
{
    char *c = strrchr(seg, ':');
    if (!c)
        return NULL;
    *c = 0;
    return c + 1;
}

/* Fills rt from the path. Returns 0, or 404 (no such route) / 400 (a malformed
 * name or version) with msg set. */
static int parse_route(const char *url, route *rt, char *msg, size_t msg_len)
{
    memset(rt, 0, sizeof *rt);
    char buf[FY_HTTP_PATH_MAX + 1];
    size_t n = strlen(url);
    if (n == 0 || n > FY_HTTP_PATH_MAX || url[0] != '/')
        goto not_found;
    memcpy(buf, url, n + 1);
    char *seg[10];
    int ns = 0;
    char *p = buf + 1;
    if (*p) {
        for (;;) {
            if (ns == 10)
                goto not_found;
            seg[ns++] = p;
            char *slash = strchr(p, '/');
            if (!slash)
                break;
            *slash = 0;
            p = slash + 1;
        }
    }
    for (int i = 0; i < ns; i++)
        if (!seg[i][0])
            goto not_found;

#define IS(i, s) (ns > (i) && strcmp(seg[i], (s)) == 0)
    const char *name = NULL, *version = NULL;
    if (ns == 1 && IS(0, "predict")) {
        rt->kind = RT_PREDICT;
    } else if (ns == 2 && IS(0, "predict")) {
        rt->kind = RT_PREDICT;
        name = seg[1];
    } else if (ns == 2 && IS(0, "healthz") && IS(1, "live")) {
        rt->kind = RT_LIVE;
    } else if (ns == 2 && IS(0, "healthz") && IS(1, "ready")) {
        rt->kind = RT_READY;
    } else if (ns == 1 && IS(0, "metrics")) {
        rt->kind = RT_METRICS;
    } else if (IS(0, "v2")) {
        if (ns == 1) {
            rt->kind = RT_V2_SERVER;
        } else if (ns == 3 && IS(1, "health") && IS(2, "live")) {
            rt->kind = RT_V2_LIVE;
        } else if (ns == 3 && IS(1, "health") && IS(2, "ready")) {
            rt->kind = RT_V2_READY;
        } else if (ns == 3 && IS(1, "repository") && IS(2, "index")) {
            rt->kind = RT_V2_INDEX;
        } else if (ns == 5 && IS(1, "repository") && IS(2, "models") &&
                   (IS(4, "load") || IS(4, "unload"))) {
            rt->kind = IS(4, "load") ? RT_V2_LOAD : RT_V2_UNLOAD;
            name = seg[3];
        } else if (ns == 3 && IS(1, "models") && IS(2, "stats")) {
            rt->kind = RT_V2_STATS;
        } else if (ns >= 3 && IS(1, "models")) {
            name = seg[2];
            int rest = 3;
            if (ns >= 5 && IS(3, "versions")) {
                version = seg[4];
                rest = 5;
            }
            if (ns == rest)
                rt->kind = RT_V2_META;
            else if (ns == rest + 1 && IS(rest, "ready"))
                rt->kind = RT_V2_MODEL_READY;
            else if (ns == rest + 1 && IS(rest, "infer"))
                rt->kind = RT_V2_INFER;
            else if (ns == rest + 1 && IS(rest, "stats"))
                rt->kind = RT_V2_STATS;
            else
                goto not_found;
        } else {
            goto not_found;
        }
    } else if (ns == 2 && IS(0, "v1") && IS(1, "models")) {
        rt->kind = RT_OAI_MODELS;
    } else if (ns == 2 && IS(0, "v1") && IS(1, "completions")) {
        rt->kind = RT_OAI_COMPLETIONS;
    } else if (ns == 3 && IS(0, "v1") && IS(1, "chat") && IS(2, "completions")) {
        rt->kind = RT_OAI_CHAT;
    } else if (ns >= 3 && IS(0, "v1") && IS(1, "models")) {
        /* /v1/models/NAME[/versions/V][:predict | /metadata] */
        name = seg[2];
        int last = 2;
        if (ns >= 5 && IS(3, "versions")) {
            version = seg[4];
            last = 4;
        }
        char *verb = split_verb(seg[last]);
        if (verb) {
            if (ns != last + 1 || strcmp(verb, "predict") != 0)
                goto not_found; /* :classify and :regress need tf.Example inputs */
            rt->kind = RT_TF_PREDICT;
        } else if (ns == last + 1) {
            rt->kind = RT_TF_STATUS;
        } else if (ns == last + 2 && IS(last + 1, "metadata")) {
            rt->kind = RT_TF_META;
        } else {
            goto not_found;
        }
    } else {
        goto not_found;
    }
#undef IS
    if (name) {
        if (!valid_model_name(name)) {
            snprintf(msg, msg_len,
                     "invalid model name in the path: 1-%d of letters, digits, '.', '_', '-'",
                     FY_HTTP_NAME_MAX);
            return 400;
        }
        memcpy(rt->name, name, strlen(name) + 1);
    }
    if (version) {
        if (!valid_version(version)) {
            snprintf(msg, msg_len,
                     "invalid model version in the path: 1-%d of letters, digits, '.', '_', "
                     "'-', '+'",
                     FY_HTTP_VERSION_MAX);
            return 400;
        }
        memcpy(rt->version, version, strlen(version) + 1);
    }
    return 0;
not_found:
    snprintf(msg, msg_len, "no such endpoint (see docs/serve.md)");
    return 404;
}

/* ------------------------------------------------------------------------- */
/* The server's state and requests                                           */
/* ------------------------------------------------------------------------- */

enum { JOB_NONE, JOB_PENDING, JOB_DONE, JOB_ABANDONED };

typedef struct resp {
    int status;
    char *body; /* malloc'd unless body_static */
    size_t len;
    int body_static;
    const char *ctype;
    int has_ihcl; /* Inference-Header-Content-Length */
    size_t ihcl;
    int retry_after;
    int www_auth;
    fy__oai_stream *stream; /* an SSE answer read from openai.c */
    /* The model version that served (or refused) an inference request. */
    int has_model;
    char model[FY_HTTP_NAME_MAX + 1];
    char version[FY_HTTP_VERSION_MAX + 1];
    fy__outcome outcome;
} resp;

typedef struct req req;

struct fy__http {
    fy__http_cfg cfg;
    int tls_owner; /* the daemon's certificate can be swapped (fy__tls_daemon_opts) */
    char *host, *keys_file;
    char host_lc[256]; /* the bound host as given, lower case, no brackets */
    struct MHD_Daemon *daemon;
    int listen_fd;
    int port;
    int loopback;
    int ipv6;

    pthread_rwlock_t keys_lock;
    fy__keys *keys; /* NULL: no keys file */

    atomic_int inflight;  /* requests between headers and completion */
    atomic_int suspended; /* connections suspended on a worker */
    atomic_int async_out; /* inferences submitted by infer_async, callback not yet run */
    atomic_int draining;
    atomic_size_t body_bytes; /* request bodies held, all connections */
    size_t body_budget;
    atomic_ullong next_id;
    uint32_t id_salt;

    /* Worker pool: a FIFO of requests, and the list of suspended ones (for stop). */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    req *q_head, *q_tail;
    req *pending;
    int stopped;      /* under mu: no new jobs */
    int stop_workers; /* under mu */
    pthread_t *workers;
    int n_workers;
    req *streams; /* under mu: requests answering with an SSE stream */
};

struct req {
    fy__http *h;
    struct MHD_Connection *conn;
    atomic_int refs;
    int job; /* JOB_*, under h->mu */
    req *qnext, *pprev, *pnext;
    int64_t t0, deadline;     /* CLOCK_MONOTONIC ns */
    const char *method, *url; /* MHD's, valid until the completion callback */
    char id[FY_HTTP_ID_MAX + 1];
    int routed;
    route rt;
    fy__role role;
    char who[65];
    char peer[64];
    int peer_loopback;
    char *body;
    size_t len, cap, limit;
    int has_ihcl;
    size_t ihcl;
    int early; /* send the refusal in r->res before reading the body */
    int dispatched, sent, infer_counted;
    resp res;
    struct ijob *aj;        /* infer_async: the finished job, answered when resumed */
    fy__oai_stream *stream; /* while the SSE response lives (under h->mu) */
    int stream_closed;      /* under h->mu: fy__http_stop closed it */
    req *snext, *sprev;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void resp_clear(resp *r)
{
    if (r->body && !r->body_static)
        fy__free(r->body);
    r->body = NULL;
    r->len = 0;
    if (r->stream)
        fy__oai_stream_release(r->stream);
    r->stream = NULL;
}

static void ijob_drop(struct ijob *j);

static void req_unref(req *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->aj) /* finished, but the connection went away before it was answered */
        ijob_drop(r->aj);
    if (r->cap)
        atomic_fetch_sub(&r->h->body_bytes, r->cap);
    fy__free(r->body);
    resp_clear(&r->res);
    fy__free(r);
}

/* ------------------------------------------------------------------------- */
/* Log lines                                                                  */
/* ------------------------------------------------------------------------- */

/* A JSON object built into a fixed buffer; client strings are cut and escaped
 * byte by byte (non-ASCII as \u00XX), so any input makes a valid, bounded line. */
typedef struct jline {
    char buf[8192]; /* the longest line (escaped method, path, reason) fits */
    size_t n;
    int first;
} jline;

static void jl_raw(jline *j, const char *s, size_t n)
{
    if (j->n + n >= sizeof j->buf - 2)
        n = sizeof j->buf - 2 - j->n;
    memcpy(j->buf + j->n, s, n);
    j->n += n;
    j->buf[j->n] = 0;
}

static void jl_str(jline *j, const char *s, size_t max)
{
    jl_raw(j, "\"", 1);
    for (size_t i = 0; s && s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '"' || c == '\\') {
            e[0] = '\\';
            e[1] = (char)c;
            jl_raw(j, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            snprintf(e, sizeof e, "\\u%04x", c);
            jl_raw(j, e, 6);
        } else {
            jl_raw(j, (const char *)&c, 1);
        }
    }
    jl_raw(j, "\"", 1);
}

static void jl_key(jline *j, const char *k)
{
    jl_raw(j, j->first ? "{" : ",", 1);
    j->first = 0;
    jl_str(j, k, 64);
    jl_raw(j, ":", 1);
}

static void jl_s(jline *j, const char *k, const char *v)
{
    jl_key(j, k);
    jl_str(j, v, FY_HTTP_LOG_FIELD);
}

static void jl_i(jline *j, const char *k, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    jl_key(j, k);
    jl_raw(j, t, (size_t)n);
}

static void jl_f(jline *j, const char *k, double v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%.3f", v);
    jl_key(j, k);
    jl_raw(j, t, (size_t)n);
}

static void jl_emit(fy__http *h, jline *j)
{
    if (j->first)
        jl_raw(j, "{", 1);
    j->buf[j->n++] = '}';
    j->buf[j->n] = 0;
    if (h->cfg.log)
        h->cfg.log(j->buf, h->cfg.log_ctx);
}

static void jl_init(jline *j, const char *event)
{
    j->n = 0;
    j->buf[0] = 0;
    j->first = 1;
    jl_s(j, "event", event);
}

static void audit(req *r, const char *outcome, const char *reason)
{
    jline j;
    jl_init(&j, "audit");
    jl_s(&j, "id", r->id);
    jl_s(&j, "who", r->who);
    jl_s(&j, "peer", r->peer);
    jl_s(&j, "action", ROUTES[r->rt.kind].action);
    jl_s(&j, "model", r->rt.name);
    jl_s(&j, "outcome", outcome);
    if (reason && *reason)
        jl_s(&j, "reason", reason);
    jl_emit(r->h, &j);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    fy__http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    jline j;
    jl_init(&j, "http");
    jl_s(&j, "message", msg);
    jl_emit(h, &j);
}

/* ------------------------------------------------------------------------- */
/* Responses                                                                  */
/* ------------------------------------------------------------------------- */

/* Replaces absolute paths in a message with "<path>": load failures name files,
 * which callers without a management role have no business seeing. */
static void scrub_paths(char *msg)
{
    char *w = msg;
    for (const char *p = msg; *p;) {
        int at_start = p == msg || !(is_alnum(p[-1]) || p[-1] == '.' || p[-1] == '_');
        if (*p == '/' && at_start && (is_alnum(p[1]) || p[1] == '.' || p[1] == '_')) {
            while (*p && *p != ' ' && *p != '\'' && *p != '"' && *p != ':' && *p != ',' &&
                   *p != ')')
                p++;
            memcpy(w, "<path>", 6); /* 6 <= the path's length, so w never passes p */
            w += 6;
            continue;
        }
        *w++ = *p++;
    }
    *w = 0;
}

static void set_body(resp *res, int status, const char *ctype, char *body, size_t len)
{
    resp_clear(res);
    res->status = status;
    res->ctype = ctype;
    res->body = body;
    res->len = len;
    res->body_static = 0;
}

static void set_static(resp *res, int status, const char *ctype, const char *text)
{
    resp_clear(res);
    res->status = status;
    res->ctype = ctype;
    res->body = (char *)text;
    res->len = strlen(text);
    res->body_static = 1;
}

static void set_error(resp *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(resp *res, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *body = NULL;
    size_t len = 0;
    if (fy__codec_error(msg, &body, &len) == FY_OK)
        set_body(res, status, "application/json", body, len);
    else
        set_static(res, status, "application/json", "{\"error\":\"out of memory\"}");
    if (status == 503 || status == 429)
        res->retry_after = 1;
}

static void set_json(resp *res, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (!s) {
        set_error(res, 500, "out of memory building the response");
        return;
    }
    /* jansson allocates with malloc; hand over a copy from our allocator so one
     * free function serves every body. */
    size_t n = strlen(s);
    char *b = fy__malloc(n + 1);
    if (!b) {
        free(s);
        set_error(res, 500, "out of memory building the response");
        return;
    }
    memcpy(b, s, n + 1);
    free(s);
    set_body(res, status, "application/json", b, n);
}

static void free_body(void *p)
{
    fy__free(p);
}

/* Inference requests are counted when their answer is queued, so a client that
 * reads its answer and then asks for statistics finds itself counted. */
static void count_infer(req *r)
{
    if (!r->infer_counted)
        return;
    r->infer_counted = 0;
    fy__metrics_inflight(r->h->cfg.metrics, -1);
    if (r->res.has_model)
        fy__metrics_request(r->h->cfg.metrics, r->res.model, r->res.version,
                            ROUTES[r->rt.kind].proto,
                            r->res.status ? r->res.outcome : FY_OUTCOME_SERVER_ERROR,
                            (double)(mono_ns() - r->t0) / 1e9);
}

/* ---- Server-Sent Events from openai.c: the connection is suspended while the
 * stream has nothing to send and resumed by the generating thread ---- */

static void stream_suspend(void *ctx)
{
    req *r = ctx;
    MHD_suspend_connection(r->conn);
}

static void stream_resume(void *ctx)
{
    req *r = ctx;
    MHD_resume_connection(r->conn);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    req *r = cls;
    (void)pos;
    long n = fy__oai_stream_read(r->stream, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

/* The response is destroyed (sent, or the client went away): generation stops. */
static void stream_free(void *cls)
{
    req *r = cls;
    fy__http *h = r->h;
    pthread_mutex_lock(&h->mu);
    fy__oai_stream *st = r->stream;
    r->stream = NULL;
    if (r->sprev)
        r->sprev->snext = r->snext;
    else if (h->streams == r)
        h->streams = r->snext;
    if (r->snext)
        r->snext->sprev = r->sprev;
    r->snext = r->sprev = NULL;
    pthread_mutex_unlock(&h->mu);
    fy__oai_stream_release(st);
    req_unref(r);
}

static struct MHD_Response *stream_response(req *r)
{
    fy__http *h = r->h;
    struct MHD_Response *m =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, r, stream_free);
    if (!m)
        return NULL;
    atomic_fetch_add(&r->refs, 1); /* held by the response until stream_free */
    pthread_mutex_lock(&h->mu);
    r->stream = r->res.stream;
    r->res.stream = NULL;
    r->snext = h->streams;
    r->sprev = NULL;
    if (h->streams)
        h->streams->sprev = r;
    h->streams = r;
    pthread_mutex_unlock(&h->mu);
    fy__oai_stream_attach(r->stream, stream_suspend, stream_resume, r);
    r->res.ctype = "text/event-stream";
    return m;
}

/* Refusals made before an OpenAI route ran (auth, method, size, shutdown) are
 * rewritten from {"error": "..."} into OpenAI's error object. */
static void oai_error_shape(req *r)
{
    resp *res = &r->res;
    if (!r->routed || !is_oai(r->rt.kind) || res->status < 400 || res->stream || !res->body ||
        res->body_static || res->len < 10 || strncmp(res->body, "{\"error\":\"", 10) != 0)
        return;
    json_t *v = json_loadb(res->body, res->len, 0, NULL);
    json_t *m = v ? json_object_get(v, "error") : NULL;
    if (json_is_string(m)) {
        int st = res->status;
        const char *type = st == 401 ? "authentication_error"
                           : st == 403 ? "permission_error"
                           : st == 429 ? "rate_limit_error"
                           : st >= 500 ? "server_error"
                                       : "invalid_request_error";
        char *body = NULL;
        size_t len = 0;
        if (fy__oai_error_body(json_string_value(m), type, NULL, NULL, &body, &len) == FY_OK) {
            int retry = res->retry_after, www = res->www_auth;
            set_body(res, st, "application/json", body, len);
            res->retry_after = retry;
            res->www_auth = www;
        }
    }
    json_decref(v);
}

static enum MHD_Result send_resp(req *r)
{
    oai_error_shape(r);
    count_infer(r);
    fy__http *h = r->h;
    resp *res = &r->res;
    struct MHD_Response *m;
    if (res->stream) {
        m = stream_response(r);
    } else if (res->len == 0 || !res->body) {
        m = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        resp_clear(res);
    } else if (res->body_static) {
        m = MHD_create_response_from_buffer(res->len, res->body, MHD_RESPMEM_PERSISTENT);
    } else {
        m = MHD_create_response_from_buffer_with_free_callback(res->len, res->body, free_body);
        if (m)
            res->body = NULL; /* the response owns it now */
    }
    if (!m)
        return MHD_NO;
    char num[32];
    if (res->ctype)
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, res->ctype);
    MHD_add_response_header(m, "X-Request-Id", r->id);
    if (res->retry_after) {
        snprintf(num, sizeof num, "%d", res->retry_after);
        MHD_add_response_header(m, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (res->has_ihcl) {
        snprintf(num, sizeof num, "%zu", res->ihcl);
        MHD_add_response_header(m, "Inference-Header-Content-Length", num);
    }
    if (res->www_auth)
        MHD_add_response_header(m, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"ferry\"");
    if (res->status == 405)
        MHD_add_response_header(m, MHD_HTTP_HEADER_ALLOW,
                                r->routed && ROUTES[r->rt.kind].post ? "POST" : "GET, HEAD");
    if (atomic_load(&h->draining))
        MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    r->sent = 1;
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)res->status, m);
    MHD_destroy_response(m);
    return ok;
}

/* ------------------------------------------------------------------------- */
/* Repository views                                                           */
/* ------------------------------------------------------------------------- */

static const char *v2_state(fy__mv_state st)
{
    switch (st) {
    case FY_MV_READY: return "READY";
    case FY_MV_LOADING: return "LOADING";
    case FY_MV_UNLOADING: return "UNLOADING";
    default: return "UNAVAILABLE";
    }
}

static const char *tf_state(fy__mv_state st)
{
    switch (st) {
    case FY_MV_READY: return "AVAILABLE";
    case FY_MV_LOADING: return "LOADING";
    case FY_MV_UNLOADING: return "UNLOADING";
    default: return "END";
    }
}

typedef struct collect {
    fy__http *h;
    const char *name, *version; /* filters; NULL: any */
    int ready_only;
    json_t *arr;
    int n, names, failed;
    char first[FY_HTTP_NAME_MAX + 1];
    int n_versions;
    char versions[FY_HTTP_MAX_VERSIONS][FY_HTTP_VERSION_MAX + 1];
} collect;

static int matches(const collect *c, const fy__mv_info *info)
{
    return (!c->name || strcmp(c->name, info->name) == 0) &&
           (!c->version || strcmp(c->version, info->version) == 0);
}

static void add(collect *c, json_t *o)
{
    if (!o || json_array_append_new(c->arr, o) != 0)
        c->failed = 1;
    c->n++;
}

static void each_index(const fy__mv_info *info, void *ctx)
{
    collect *c = ctx;
    if (c->ready_only && info->state != FY_MV_READY)
        return;
    char reason[512];
    add(c, json_pack("{s:s, s:s, s:s, s:s}", "name", info->name, "version", info->version, "state",
                     v2_state(info->state), "reason", fy__serve_ascii(reason, sizeof reason, info->reason)));
}

static void each_tf_status(const fy__mv_info *info, void *ctx)
{
    collect *c = ctx;
    if (!matches(c, info))
        return;
    char reason[512];
    fy__serve_ascii(reason, sizeof reason, info->reason);
    scrub_paths(reason);
    int failed = info->state == FY_MV_FAILED;
    add(c, json_pack("{s:s, s:s, s:{s:s, s:s}}", "version", info->version, "state",
                     tf_state(info->state), "status", "error_code", failed ? "UNKNOWN" : "OK",
                     "error_message", failed ? reason : ""));
}

static json_t *duration(uint64_t count, uint64_t ns)
{
    return json_pack("{s:I, s:I}", "count", (json_int_t)count, "ns", (json_int_t)ns);
}

static void each_stats(const fy__mv_info *info, void *ctx)
{
    collect *c = ctx;
    if (!matches(c, info))
        return;
    fy__mv_stats st = {0};
    fy__metrics_mv_stats(c->h->cfg.metrics, info->name, info->version, &st);
    add(c, json_pack(
               "{s:s, s:s, s:I, s:I, s:I, s:{s:o, s:o, s:o, s:o, s:o, s:o}, s:[]}", "name",
               info->name, "version", info->version, "last_inference",
               (json_int_t)st.last_inference_ms, "inference_count", (json_int_t)st.inference_count,
               "execution_count", (json_int_t)st.execution_count, "inference_stats", "success",
               duration(st.success, st.success_ns), "fail", duration(st.failure, st.failure_ns),
               "queue", duration(st.success, st.queue_ns), "compute_input", duration(0, 0),
               "compute_infer", duration(st.success, st.compute_ns), "compute_output",
               duration(0, 0), "batch_stats"));
}

/* Distinct names (for the default model of POST /predict) and ready versions of
 * one name (for V2 metadata). */
static void each_names(const fy__mv_info *info, void *ctx)
{
    collect *c = ctx;
    if (c->names == 0 || strcmp(c->first, info->name) != 0) {
        if (c->names == 0)
            snprintf(c->first, sizeof c->first, "%s", info->name);
        c->names++;
    }
    if (c->name && strcmp(c->name, info->name) == 0 && info->state == FY_MV_READY &&
        c->n_versions < FY_HTTP_MAX_VERSIONS)
        snprintf(c->versions[c->n_versions++], sizeof c->versions[0], "%s", info->version);
}

static fy__mv *acquire(req *r, resp *res)
{
    fy_diag d = {{0}};
    int st = 0;
    fy__mv *mv = fy__repo_acquire(r->h->cfg.repo, r->rt.name,
                                  r->rt.version[0] ? r->rt.version : NULL, &st, &d);
    if (!mv) {
        if (st != 404 && st != 503)
            st = 503;
        scrub_paths(d.msg);
        set_error(res, st, "%s",
                  d.msg[0]    ? d.msg
                  : st == 404 ? "unknown model or version"
                              : "model is not ready");
    }
    return mv;
}

/* ------------------------------------------------------------------------- */
/* Handlers that answer on the event loop (cheap, no model runs)              */
/* ------------------------------------------------------------------------- */

static void oai_result(resp *res, fy__oai_result *o);

static void server_ready(req *r, resp *res, int v2)
{
    char why[512] = "";
    int ready = 0;
    if (atomic_load(&r->h->draining))
        snprintf(why, sizeof why, "draining: the server is shutting down");
    else if (fy__repo_ready(r->h->cfg.repo, why, sizeof why))
        ready = 1;
    else if (r->h->cfg.oai && fy__oai_count(r->h->cfg.oai) && fy__repo_empty(r->h->cfg.repo))
        ready = 1; /* language models only: they are ready once loaded */
    scrub_paths(why);
    if (ready) {
        if (v2)
            set_static(res, 200, NULL, "");
        else
            set_static(res, 200, "text/plain; charset=utf-8", "ready\n");
    } else if (v2) {
        set_error(res, 503, "not ready: %s", why);
    } else {
        size_t n = strlen(why);
        char *b = fy__malloc(n + 12);
        if (!b) {
            set_static(res, 503, "text/plain; charset=utf-8", "not ready\n");
        } else {
            snprintf(b, n + 12, "not ready: %s\n", why);
            set_body(res, 503, "text/plain; charset=utf-8", b, strlen(b));
        }
        res->retry_after = 1;
    }
}

static void handle_sync(req *r, resp *res)
{
    fy__http *h = r->h;
    collect c;
    switch (r->rt.kind) {
    case RT_LIVE: set_static(res, 200, "text/plain; charset=utf-8", "live\n"); return;
    case RT_V2_LIVE: set_static(res, 200, NULL, ""); return;
    case RT_READY:
    case RT_V2_READY: server_ready(r, res, r->rt.kind == RT_V2_READY); return;
    case RT_OAI_MODELS: {
        fy__oai_result o;
        memset(&o, 0, sizeof o);
        fy__oai_models(h->cfg.oai, &o);
        oai_result(res, &o);
        return;
    }
    case RT_METRICS: {
        char *text = NULL;
        size_t len = 0;
        if (fy__metrics_render(h->cfg.metrics, &text, &len) != FY_OK) {
            set_error(res, 500, "cannot render metrics (out of memory)");
            return;
        }
        if (h->cfg.oai && fy__oai_count(h->cfg.oai)) {
            fy__sb sb = {text, len, len, 0};
            fy__oai_metrics(h->cfg.oai, &sb);
            if (fy__sb_finish(&sb, &text, &len, NULL) != FY_OK) {
                set_error(res, 500, "cannot render metrics (out of memory)");
                return;
            }
        }
        /* metrics.c allocates with malloc; copy into our allocator's buffer only
         * if they differ (fy__free is free today, so hand it over). */
        set_body(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
        return;
    }
    case RT_V2_SERVER:
        set_json(res, 200,
                 json_pack("{s:s, s:s, s:[s, s, s]}", "name", "ferry", "version", FERRY_VERSION,
                           "extensions", "model_repository", "statistics", "binary_tensor_data"));
        return;
    case RT_V2_META:
    case RT_TF_META:
    case RT_V2_MODEL_READY: {
        fy__mv *mv = acquire(r, res);
        if (!mv)
            return;
        if (r->rt.kind == RT_V2_MODEL_READY) {
            set_static(res, 200, NULL, "");
            fy__mv_release(mv);
            return;
        }
        char *body = NULL;
        size_t len = 0;
        int rc;
        if (r->rt.kind == RT_TF_META) {
            rc = fy__codec_tf_metadata(fy__mv_name(mv), fy__mv_version(mv), fy__mv_model(mv), &body,
                                       &len);
        } else {
            memset(&c, 0, sizeof c);
            c.name = fy__mv_name(mv);
            fy__repo_each(h->cfg.repo, each_names, &c);
            const char *vs[FY_HTTP_MAX_VERSIONS];
            for (int i = 0; i < c.n_versions; i++)
                vs[i] = c.versions[i];
            rc = fy__codec_v2_metadata(fy__mv_name(mv), vs, c.n_versions, fy__mv_model(mv), &body,
                                       &len);
        }
        fy__mv_release(mv);
        if (rc != FY_OK)
            set_error(res, 500, "cannot build the metadata: %s", fy_strerror(rc));
        else
            set_body(res, 200, "application/json", body, len);
        return;
    }
    case RT_V2_STATS:
    case RT_TF_STATUS:
    case RT_V2_INDEX: {
        memset(&c, 0, sizeof c);
        c.h = h;
        c.name = r->rt.name[0] ? r->rt.name : NULL;
        c.version = r->rt.version[0] ? r->rt.version : NULL;
        c.arr = json_array();
        if (!c.arr) {
            set_error(res, 500, "out of memory building the response");
            return;
        }
        if (r->rt.kind == RT_V2_INDEX) {
            /* Optional body: {"ready": true} lists only ready versions. */
            if (r->len) {
                json_error_t je;
                json_t *b = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
                json_t *rd = b && json_is_object(b) ? json_object_get(b, "ready") : NULL;
                if (!b || !json_is_object(b) || (rd && !json_is_boolean(rd))) {
                    json_decref(b);
                    json_decref(c.arr);
                    set_error(res, 400,
                              "repository index body: expected {\"ready\": true|false}%s%s",
                              b ? "" : ": ", b ? "" : je.text);
                    audit(r, "error", "bad request body");
                    return;
                }
                c.ready_only = rd && json_is_true(rd);
                json_decref(b);
            }
            fy__repo_each(h->cfg.repo, each_index, &c);
            if (c.failed) {
                json_decref(c.arr);
                set_error(res, 500, "out of memory building the response");
                audit(r, "error", "out of memory");
                return;
            }
            set_json(res, 200, c.arr);
            audit(r, "ok", NULL);
            return;
        }
        fy__repo_each(h->cfg.repo, r->rt.kind == RT_V2_STATS ? each_stats : each_tf_status, &c);
        if (c.failed) {
            json_decref(c.arr);
            set_error(res, 500, "out of memory building the response");
            return;
        }
        if (c.n == 0 && c.name) {
            json_decref(c.arr);
            if (c.version)
                set_error(res, 404, "unknown model '%s' version '%s'", c.name, c.version);
            else
                set_error(res, 404, "unknown model '%s'", c.name);
            return;
        }
        if (r->rt.kind == RT_V2_STATS)
            set_json(res, 200, json_pack("{s:o}", "model_stats", c.arr));
        else
            set_json(res, 200, json_pack("{s:o}", "model_version_status", c.arr));
        return;
    }
    default: set_error(res, 500, "internal routing error"); return;
    }
}

/* ------------------------------------------------------------------------- */
/* Handlers that run on workers                                               */
/* ------------------------------------------------------------------------- */

/* One inference between its decoding and its answer. On the heap for requests
 * submitted without a waiting worker (infer_async); on the worker's stack
 * otherwise. */
typedef struct ijob {
    req *r;
    fy__mv *mv;
    fy__req q;
    fy_tensor *out;
    int n_out;
    fy_diag d;
    resp res;
    int rc, st; /* the batcher's result, for infer_async */
} ijob;

/* Routing, model reference, decoding: 0 when the job is ready to run, 1 when res
 * holds the answer already (and nothing is held). */
static int infer_begin(req *r, resp *res, ijob *j)
{
    fy__http *h = r->h;
    const struct route_info *ri = &ROUTES[r->rt.kind];
    fy_diag *d = &j->d;
    j->r = r;

    if (!r->rt.name[0]) {
        collect c;
        memset(&c, 0, sizeof c);
        fy__repo_each(h->cfg.repo, each_names, &c);
        if (c.names == 0) {
            set_error(res, 503, "no model is loaded");
            return 1;
        }
        if (c.names > 1) {
            set_error(res, 404,
                      "%d models are served: name one, as in POST /predict/NAME or "
                      "/v2/models/NAME/infer",
                      c.names);
            return 1;
        }
        memcpy(r->rt.name, c.first, sizeof r->rt.name);
    }
    if (mono_ns() >= r->deadline) {
        set_error(res, 503, "request timed out waiting for a worker");
        return 1;
    }
    if (!(j->mv = acquire(r, res)))
        return 1;
    res->has_model = 1;
    snprintf(res->model, sizeof res->model, "%s", fy__mv_name(j->mv));
    snprintf(res->version, sizeof res->version, "%s", fy__mv_version(j->mv));
    const fy_model *m = fy__mv_model(j->mv);

    int rc;
    switch (ri->proto) {
    case FY_PROTO_PREDICT:
        rc = fy__codec_predict_decode(r->body, r->len, m, fy__mv_manifest(j->mv), &j->q, d);
        break;
    case FY_PROTO_V2:
        if (r->has_ihcl && r->ihcl > r->len) {
            rc = fy__diag_set(d, FY_EINVAL,
                              "Inference-Header-Content-Length: %zu is larger than the body "
                              "(%zu bytes)",
                              r->ihcl, r->len);
            break;
        }
        rc = fy__codec_v2_decode(r->body, r->len, r->has_ihcl ? r->ihcl : r->len, m, &j->q, d);
        break;
    default: rc = fy__codec_tf_decode(r->body, r->len, m, &j->q, d); break;
    }
    if (rc != FY_OK) {
        if (rc == FY_ENOMEM) {
            set_error(res, 503, "out of memory decoding the request");
            res->outcome = FY_OUTCOME_REJECTED;
        } else {
            set_error(res, 400, "%s", d->msg[0] ? d->msg : fy_strerror(rc));
            res->outcome = FY_OUTCOME_CLIENT_ERROR;
        }
        goto fail;
    }
    j->n_out = fy_model_n_outputs(m);
    j->out = fy__calloc((size_t)(j->n_out > 0 ? j->n_out : 1), sizeof *j->out);
    if (!j->out) {
        set_error(res, 503, "out of memory");
        res->outcome = FY_OUTCOME_REJECTED;
        goto fail;
    }
    return 0;
fail:
    fy__req_deinit(&j->q);
    fy__mv_release(j->mv);
    j->mv = NULL;
    return 1;
}

/* The answer from the inference's result (rc, st as fy__mv_infer gives them);
 * releases what infer_begin took. */
static void infer_end(ijob *j, resp *res, int rc, int st)
{
    req *r = j->r;
    const struct route_info *ri = &ROUTES[r->rt.kind];
    fy_diag *d = &j->d;
    fy__mv *mv = j->mv;
    const fy_model *m = fy__mv_model(mv);
    if (rc != FY_OK) {
        if (st < 400 || st > 599)
            st = 500;
        set_error(res, st, "%s", d->msg[0] ? d->msg : fy_strerror(rc));
        if (st == 503 || st == 429)
            res->outcome = mono_ns() >= r->deadline ? FY_OUTCOME_TIMEOUT : FY_OUTCOME_REJECTED;
        else if (st < 500)
            res->outcome = FY_OUTCOME_CLIENT_ERROR;
        else
            res->outcome = FY_OUTCOME_SERVER_ERROR;
        goto done;
    }
    char *body = NULL;
    size_t len = 0, json_len = 0;
    switch (ri->proto) {
    case FY_PROTO_PREDICT: {
        const char *labels = NULL;
        size_t labels_len = 0;
        if (fy__mv_labels(mv, &labels, &labels_len) != FY_OK) {
            labels = NULL;
            labels_len = 0;
        }
        rc = fy__codec_predict_encode(m, labels, labels_len, &j->q, j->n_out, j->out, &body, &len,
                                      d);
        break;
    }
    case FY_PROTO_V2:
        rc = fy__codec_v2_encode(fy__mv_name(mv), fy__mv_version(mv), m, &j->q, j->n_out, j->out,
                                 &body, &len, &json_len, d);
        break;
    default: rc = fy__codec_tf_encode(m, &j->q, j->n_out, j->out, &body, &len, d); break;
    }
    if (rc != FY_OK) {
        int st2 = rc == FY_ENOMEM ? 503 : rc == FY_EINVAL ? 400 : 500;
        set_error(res, st2, "%s", d->msg[0] ? d->msg : fy_strerror(rc));
        res->outcome = st2 == 400 ? FY_OUTCOME_CLIENT_ERROR : FY_OUTCOME_SERVER_ERROR;
        goto done;
    }
    if (ri->proto == FY_PROTO_V2 && json_len < len) {
        set_body(res, 200, "application/octet-stream", body, len);
        res->has_ihcl = 1;
        res->ihcl = json_len;
    } else {
        set_body(res, 200, "application/json", body, len);
    }
    res->outcome = FY_OUTCOME_SUCCESS;
done:
    for (int i = 0; j->out && i < j->n_out; i++)
        fy_tensor_deinit(&j->out[i]);
    fy__free(j->out);
    j->out = NULL;
    fy__req_deinit(&j->q);
    fy__mv_release(mv);
    j->mv = NULL;
}

static void ijob_drop(ijob *j)
{
    infer_end(j, &j->res, FY_EINVAL, 503);
    resp_clear(&j->res);
    fy__free(j);
}

static void do_infer(req *r, resp *res)
{
    ijob j;
    memset(&j, 0, sizeof j);
    if (infer_begin(r, res, &j))
        return;
    int st = 200;
    int rc = fy__mv_infer(j.mv, j.q.n_inputs, j.q.inputs, j.n_out, j.out, r->deadline, &st, &j.d);
    infer_end(&j, res, rc, st);
}

static void do_manage(req *r, resp *res)
{
    fy__http *h = r->h;
    int load = r->rt.kind == RT_V2_LOAD;
    if (r->len) {
        /* Parameters could point the server at other files or settings; the
         * repository on disk is the only source (RELIABILITY.md 11). */
        json_error_t je;
        json_t *b = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
        json_t *p = b && json_is_object(b) ? json_object_get(b, "parameters") : NULL;
        int ok = b && json_is_object(b) && json_object_size(b) == (p ? 1u : 0u) &&
                 (!p || json_is_object(p));
        if (ok && p) {
            const char *k;
            json_t *v;
            json_object_foreach(p, k, v)
            {
                if (load || strcmp(k, "unload_dependents") != 0 || !json_is_boolean(v))
                    ok = 0;
            }
        }
        json_decref(b);
        if (!ok) {
            set_error(res, 400,
                      "%s body: expected {} or {\"parameters\": {}}; ferry takes models only "
                      "from its repository, without overrides",
                      load ? "load" : "unload");
            audit(r, "error", "bad request body");
            return;
        }
    }
    fy_diag d = {{0}};
    int rc = load ? fy__repo_load(h->cfg.repo, r->rt.name, &d)
                  : fy__repo_unload(h->cfg.repo, r->rt.name, &d);
    if (rc == FY_OK) {
        set_static(res, 200, "application/json", "{}");
        audit(r, "ok", NULL);
        return;
    }
    int st = rc == FY_ENOTFOUND ? 404 : rc == FY_ENOMEM ? 503 : rc == FY_EIO ? 500 : 400;
    set_error(res, st, "%s", d.msg[0] ? d.msg : fy_strerror(rc));
    audit(r, "error", d.msg[0] ? d.msg : fy_strerror(rc));
}

static void oai_result(resp *res, fy__oai_result *o)
{
    if (o->stream) {
        resp_clear(res);
        res->status = 200;
        res->stream = o->stream;
    } else if (o->body) {
        set_body(res, o->status, "application/json", o->body, o->len);
    } else {
        set_error(res, o->status ? o->status : 500, "out of memory");
    }
    res->retry_after = o->retry_after;
    if (o->model[0]) {
        res->has_model = 1;
        snprintf(res->model, sizeof res->model, "%s", o->model);
        snprintf(res->version, sizeof res->version, "1");
    }
}

static void do_oai(req *r, resp *res)
{
    fy__oai_result o;
    if (!r->h->cfg.oai || !fy__oai_count(r->h->cfg.oai)) {
        memset(&o, 0, sizeof o);
        o.status = 404;
        fy__oai_error_body("no language model (GGUF) is served here", "invalid_request_error",
                           NULL, "model_not_found", &o.body, &o.len);
        oai_result(res, &o);
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    /* TLS: a peek at the socket sees records, not text, but still sees it close */
    int fd = ci ? ci->connect_fd : -1;
    fy__oai_complete(r->h->cfg.oai, r->rt.kind == RT_OAI_CHAT, r->body ? r->body : "", r->len,
                     fd, r->deadline, &o);
    oai_result(res, &o);
}

/* Publishes a worker's answer and resumes the connection, unless stop already
 * answered it (then the answer is dropped). */
static void finish_job(req *r, resp *res)
{
    fy__http *h = r->h;
    pthread_mutex_lock(&h->mu);
    if (r->job != JOB_PENDING) {
        pthread_mutex_unlock(&h->mu);
        resp_clear(res);
        return;
    }
    r->job = JOB_DONE;
    r->res = *res;
    if (r->pprev)
        r->pprev->pnext = r->pnext;
    else
        h->pending = r->pnext;
    if (r->pnext)
        r->pnext->pprev = r->pprev;
    pthread_mutex_unlock(&h->mu);
    MHD_resume_connection(r->conn);
    atomic_fetch_sub(&h->suspended, 1);
}

static void *worker_main(void *arg)
{
    fy__http *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->q_head && !h->stop_workers)
            pthread_cond_wait(&h->cv, &h->mu);
        req *r = h->q_head;
        if (!r)
            break;
        h->q_head = r->qnext;
        if (!h->q_head)
            h->q_tail = NULL;
        int pending = r->job == JOB_PENDING;
        pthread_mutex_unlock(&h->mu);
        if (pending) {
            resp res;
            memset(&res, 0, sizeof res);
            if (ROUTES[r->rt.kind].infer)
                do_infer(r, &res);
            else if (is_oai(r->rt.kind))
                do_oai(r, &res);
            else
                do_manage(r, &res);
            finish_job(r, &res);
        }
        req_unref(r);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* libmicrohttpd callbacks                                                    */
/* ------------------------------------------------------------------------- */

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static int addr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    snprintf(out, n, "?");
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static int is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* DNS rebinding: a page on evil.example that resolves to 127.0.0.1 reaches a
 * loopback server with "Host: evil.example". On loopback only IP literals,
 * localhost and the bound name are accepted. Returns 0 if refused. */
static int host_ok(fy__http *h, const char *host)
{
    if (!h->loopback || !host)
        return 1;
    char name[256];
    const char *end;
    if (host[0] == '[') {
        end = strchr(host, ']');
        if (!end)
            return 0;
        size_t n = (size_t)(end - host - 1);
        if (n >= sizeof name)
            return 0;
        memcpy(name, host + 1, n);
        name[n] = 0;
        end++;
    } else {
        end = strchr(host, ':');
        if (!end)
            end = host + strlen(host);
        size_t n = (size_t)(end - host);
        if (n == 0 || n >= sizeof name)
            return 0;
        memcpy(name, host, n);
        name[n] = 0;
    }
    if (*end) {
        if (*end != ':' || !end[1] || strlen(end + 1) > 5)
            return 0;
        for (const char *p = end + 1; *p; p++)
            if (*p < '0' || *p > '9')
                return 0;
    }
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return strcmp(name, "localhost") == 0 || strcmp(name, h->host_lc) == 0 || is_ip_literal(name);
}

/* A browser sends Origin with cross-site requests; only the server's own origin
 * (http://HOST, or https://HOST with TLS, as the request names it) is accepted. */
static int origin_ok(const fy__http *h, const char *origin, const char *host)
{
    if (!origin)
        return 1;
    const char *scheme = h->cfg.tls ? "https://" : "http://";
    size_t n = strlen(scheme);
    if (!host || strncasecmp(origin, scheme, n) != 0)
        return 0;
    return strcasecmp(origin + n, host) == 0;
}

static void new_id(fy__http *h, req *r)
{
    const char *given = header(r->conn, "X-Request-Id");
    if (given) {
        size_t n = strlen(given);
        int ok = n > 0 && n <= FY_HTTP_ID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = is_alnum(given[i]) || given[i] == '-' || given[i] == '_' || given[i] == '.' ||
                 given[i] == ':';
        if (ok) {
            memcpy(r->id, given, n + 1);
            return;
        }
    }
    unsigned long long k = atomic_fetch_add(&h->next_id, 1);
    snprintf(r->id, sizeof r->id, "%08x%012llx", h->id_salt, k & 0xffffffffffffULL);
}

/* Checks made once the headers are in: origin, route, method, key, size. Sets
 * r->res on refusal. */
static void begin(req *r)
{
    fy__http *h = r->h;
    struct MHD_Connection *c = r->conn;
    resp *res = &r->res;
    r->limit = FY_HTTP_SMALL_BODY;
    const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long content_length = 0;
    if (cl) {
        char *end = NULL;
        errno = 0;
        content_length = strtoull(cl, &end, 10);
        if (cl[0] < '0' || cl[0] > '9' || *end || errno) {
            set_error(res, 400, "Content-Length is not a number");
            r->early = 1;
            return;
        }
    }
    r->early = content_length > FY_HTTP_SMALL_BODY;
    const char *host = header(c, MHD_HTTP_HEADER_HOST);
    const char *origin = header(c, "Origin");
    if (!host_ok(h, host)) {
        set_error(res, 403,
                  "Host header names neither this server's address nor localhost (DNS "
                  "rebinding protection)");
        return;
    }
    if (!origin_ok(h, origin, host)) {
        set_error(res, 403,
                  h->cfg.tls ? "cross-origin requests are refused (Origin is not https://HOST)"
                             : "cross-origin requests are refused (Origin is not http://HOST)");
        return;
    }
    char msg[160];
    int st = parse_route(r->url, &r->rt, msg, sizeof msg);
    if (st) {
        set_error(res, st, "%s", msg);
        return;
    }
    r->routed = 1;
    const struct route_info *ri = &ROUTES[r->rt.kind];
    int is_post = strcmp(r->method, MHD_HTTP_METHOD_POST) == 0;
    int is_get =
        strcmp(r->method, MHD_HTTP_METHOD_GET) == 0 || strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0;
    if (ri->post ? !is_post : !is_get) {
        set_error(res, 405, "method %.16s not allowed here; use %s", r->method,
                  ri->post ? "POST" : "GET");
        return;
    }

    /* Who is calling. */
    snprintf(r->who, sizeof r->who, "anonymous");
    if (!ri->open) {
        pthread_rwlock_rdlock(&h->keys_lock);
        if (h->keys) {
            const char *auth = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
            const char *name = NULL;
            if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
                const char *k = auth + 7;
                while (*k == ' ')
                    k++;
                size_t n = strlen(k);
                while (n && k[n - 1] == ' ')
                    n--;
                if (n > 0 && n <= FY_HTTP_KEY_MAX)
                    r->role = fy__keys_lookup(h->keys, k, n, &name);
            }
            if (name)
                snprintf(r->who, sizeof r->who, "%s", name);
            pthread_rwlock_unlock(&h->keys_lock);
            if (r->role == FY_ROLE_NONE) {
                set_error(res, 401, "missing or unknown API key (Authorization: Bearer KEY)");
                res->www_auth = 1;
                if (ri->admin)
                    audit(r, "denied", "no valid key");
                return;
            }
            if (ri->admin && r->role != FY_ROLE_ADMIN) {
                set_error(res, 403, "this call needs an admin key");
                audit(r, "denied", "not an admin key");
                return;
            }
        } else {
            pthread_rwlock_unlock(&h->keys_lock);
            if (ri->admin && !r->peer_loopback) {
                set_error(res, 403,
                          "management calls are accepted only from loopback when the server "
                          "has no keys file");
                audit(r, "denied", "not loopback");
                return;
            }
        }
    }

    /* Body limits known up front. */
    r->limit = ri->async && ri->infer ? h->cfg.max_body_bytes : FY_HTTP_SMALL_BODY;
    r->early = 1; /* the refusals below come before a body we will not read */
    if (content_length > r->limit) {
        set_error(res, 413, "request body of %llu bytes is over the limit of %zu bytes",
                  content_length, r->limit);
        return;
    }
    if (content_length + atomic_load(&h->body_bytes) > h->body_budget) {
        set_error(res, 503, "too many large requests at once; retry later");
        return;
    }
    r->early = 0;
    if (r->rt.kind == RT_V2_INFER) {
        const char *ihcl = header(c, "Inference-Header-Content-Length");
        if (ihcl) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(ihcl, &end, 10);
            if (ihcl[0] < '0' || ihcl[0] > '9' || *end || errno) {
                set_error(res, 400, "Inference-Header-Content-Length is not a number");
                return;
            }
            r->has_ihcl = 1;
            r->ihcl = (size_t)v;
        }
    }
}

/* Returns 0, or -1 to drop the connection: a body beyond its limit without a
 * Content-Length saying so up front, over the global budget, or too slow. */
static int append_body(req *r, const char *data, size_t n)
{
    fy__http *h = r->h;
    if (mono_ns() > r->deadline || n > r->limit - r->len)
        return -1;
    if (r->len + n > r->cap) {
        size_t want = r->cap ? r->cap : 4096;
        while (want < r->len + n)
            want *= 2;
        if (want > r->limit)
            want = r->limit;
        size_t grow = want - r->cap;
        if (atomic_fetch_add(&h->body_bytes, grow) + grow > h->body_budget) {
            atomic_fetch_sub(&h->body_bytes, grow);
            return -1;
        }
        char *nb = fy__realloc(r->body, want + 1);
        if (!nb) {
            atomic_fetch_sub(&h->body_bytes, grow);
            return -1;
        }
        r->body = nb;
        r->cap = want;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
    return 0;
}

/* Queues the request for a worker and suspends its connection. Returns 0, or -1
 * if the server is stopping (then r->res holds the answer). */
static int dispatch(req *r)
{
    fy__http *h = r->h;
    pthread_mutex_lock(&h->mu);
    if (h->stopped) {
        pthread_mutex_unlock(&h->mu);
        set_error(&r->res, 503, "the server is shutting down");
        return -1;
    }
    r->dispatched = 1;
    r->job = JOB_PENDING;
    atomic_fetch_add(&r->refs, 1);
    atomic_fetch_add(&h->suspended, 1);
    r->pprev = NULL;
    r->pnext = h->pending;
    if (h->pending)
        h->pending->pprev = r;
    h->pending = r;
    /* Suspended under mu so that stop, which resumes under mu, never resumes a
     * connection before it is suspended. MHD calls none of our code from here. */
    MHD_suspend_connection(r->conn);
    r->qnext = NULL;
    if (h->q_tail)
        h->q_tail->qnext = r;
    else
        h->q_head = r;
    h->q_tail = r;
    pthread_mutex_unlock(&h->mu);
    /* after unlocking: the worker woken does not block on mu (workers check the
     * queue under mu before they wait, so the wake-up is not lost) */
    pthread_cond_signal(&h->cv);
    return 0;
}

/* The batcher's callback for infer_async (a batch thread, or the event loop when
 * the submission failed at once): the answer, published as a worker's would be. */
static void infer_done(void *ctx, int rc, int st)
{
    ijob *j = ctx;
    req *r = j->r;
    fy__http *h = r->h;
    j->rc = rc;
    j->st = st;
    pthread_mutex_lock(&h->mu);
    if (r->job != JOB_PENDING) { /* stop answered it already */
        pthread_mutex_unlock(&h->mu);
        infer_end(j, &j->res, rc, st);
        resp_clear(&j->res);
        fy__free(j);
    } else {
        /* The answer is encoded by the event loop when it resumes the connection
         * (on_access), not here: the batch thread runs the next batch at once. */
        r->job = JOB_DONE;
        r->aj = j;
        if (r->pprev)
            r->pprev->pnext = r->pnext;
        else
            h->pending = r->pnext;
        if (r->pnext)
            r->pnext->pprev = r->pprev;
        pthread_mutex_unlock(&h->mu);
        MHD_resume_connection(r->conn);
        atomic_fetch_sub(&h->suspended, 1);
    }
    req_unref(r);
    atomic_fetch_sub(&h->async_out, 1); /* last: fy__http_free waits for it */
}

/* An inference without a worker thread: decoded here on the event loop, queued
 * in the model's batcher, the connection suspended until the batch thread's
 * callback answers (infer_done). Two thread hand-offs fewer per request than
 * dispatch (see docs/DESIGN.md, "Serving fast path"). Same answers, deadlines
 * (the batcher's reaper fails queued ones at their deadline) and stop rules. */
static enum MHD_Result infer_async(req *r)
{
    fy__http *h = r->h;
    ijob *j = fy__calloc(1, sizeof *j);
    if (!j)
        return dispatch(r) == 0 ? MHD_YES : send_resp(r);
    if (infer_begin(r, &j->res, j)) {
        r->res = j->res;
        fy__free(j);
        return send_resp(r);
    }
    pthread_mutex_lock(&h->mu);
    if (h->stopped) {
        pthread_mutex_unlock(&h->mu);
        infer_end(j, &j->res, FY_EINVAL, 503); /* releases what infer_begin took */
        resp_clear(&j->res);
        fy__free(j);
        set_error(&r->res, 503, "the server is shutting down");
        return send_resp(r);
    }
    r->dispatched = 1;
    r->job = JOB_PENDING;
    atomic_fetch_add(&r->refs, 1); /* the callback's */
    atomic_fetch_add(&h->suspended, 1);
    atomic_fetch_add(&h->async_out, 1);
    r->pprev = NULL;
    r->pnext = h->pending;
    if (h->pending)
        h->pending->pprev = r;
    h->pending = r;
    MHD_suspend_connection(r->conn); /* under mu, as in dispatch */
    pthread_mutex_unlock(&h->mu);
    int st = 200;
    int rc = fy__mv_submit(j->mv, j->q.n_inputs, j->q.inputs, j->n_out, j->out, r->deadline, &st,
                           &j->d, infer_done, j);
    if (rc != FY_OK)
        infer_done(j, rc, st);
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    fy__http *h = cls;
    req *r = *con_cls;
    (void)version;
    if (!r) {
        r = fy__calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        atomic_init(&r->refs, 1);
        r->h = h;
        r->conn = c;
        r->url = url;
        r->method = method;
        r->t0 = mono_ns();
        r->deadline = r->t0 + (int64_t)h->cfg.request_timeout_ms * 1000000;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            r->peer_loopback = addr_loopback(ci->client_addr);
            addr_text(ci->client_addr, r->peer, sizeof r->peer);
        }
        *con_cls = r;
        atomic_fetch_add(&h->inflight, 1);
        new_id(h, r);
        begin(r);
        /* A refusal is sent at once (and the connection closed, as the body is
         * unread) only when the body is too large to read and drop; otherwise it
         * waits for the body so the connection stays usable. */
        if (r->res.status && r->early)
            return send_resp(r);
        return MHD_YES;
    }
    if (r->sent) { /* an early answer is out; the rest of the body is discarded */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (append_body(r, upload, *upload_size) != 0)
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->res.status) /* refused in begin() */
        return send_resp(r);
    if (r->dispatched) { /* resumed: a worker (or stop) answered; MHD's resume orders it */
        if (r->aj) { /* infer_async's finished job */
            ijob *j = r->aj;
            r->aj = NULL;
            infer_end(j, &j->res, j->rc, j->st);
            r->res = j->res;
            fy__free(j);
        }
        return send_resp(r);
    }
    const struct route_info *ri = &ROUTES[r->rt.kind];
    if (ri->async) {
        if (ri->infer) {
            r->infer_counted = 1;
            fy__metrics_inflight(h->cfg.metrics, 1);
            if (r->len <= FY_HTTP_ASYNC_BODY)
                return infer_async(r);
        }
        if (dispatch(r) == 0)
            return MHD_YES;
        return send_resp(r);
    }
    handle_sync(r, &r->res);
    return send_resp(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    fy__http *h = cls;
    req *r = *con_cls;
    (void)c;
    if (!r)
        return;
    *con_cls = NULL;
    int status = r->sent ? r->res.status : 0;
    double secs = (double)(mono_ns() - r->t0) / 1e9;
    count_infer(r); /* if no answer was ever queued */
    if (!h->cfg.quiet) {
        jline j;
        jl_init(&j, "access");
        jl_s(&j, "id", r->id);
        jl_s(&j, "method", r->method);
        jl_s(&j, "path", r->url);
        jl_i(&j, "status", status);
        jl_f(&j, "ms", secs * 1e3);
        jl_s(&j, "model", r->res.has_model ? r->res.model : r->rt.name);
        if (r->res.has_model)
            jl_s(&j, "version", r->res.version);
        jl_i(&j, "bytes_in", (long long)r->len);
        jl_i(&j, "bytes_out", (long long)(r->sent ? r->res.len : 0));
        jl_s(&j, "peer", r->peer);
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            jl_s(&j, "error",
                 toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED   ? "timeout"
                 : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT    ? "client closed"
                 : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                 : "closed");
        jl_emit(h, &j);
    }
    atomic_fetch_sub(&h->inflight, 1);
    req_unref(r);
}

/* ------------------------------------------------------------------------- */
/* Lifecycle                                                                  */
/* ------------------------------------------------------------------------- */

static int bind_listen(fy__http *h, fy_diag *d)
{
    char port[16];
    snprintf(port, sizeof port, "%d", h->cfg.port > 0 ? h->cfg.port : 0);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    struct addrinfo *res = NULL;
    int g = getaddrinfo(h->host, port, &hints, &res);
    if (g != 0)
        return fy__diag_set(d, FY_EINVAL, "cannot resolve host '%s': %s", h->host, gai_strerror(g));
    int err = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        h->listen_fd = fd;
        h->loopback = addr_loopback((struct sockaddr *)&ss);
        h->ipv6 = ss.ss_family == AF_INET6;
        h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
        freeaddrinfo(res);
        return FY_OK;
    }
    freeaddrinfo(res);
    return fy__diag_set(d, FY_EIO, "cannot listen on %s port %s: %s", h->host, port,
                        strerror(err ? err : EADDRNOTAVAIL));
}

int fy__http_start(fy__http **out, const fy__http_cfg *cfg, fy_diag *d)
{
    int rc = FY_ENOMEM;
    fy__http *h = fy__calloc(1, sizeof *h);
    if (!h)
        return fy__diag_set(d, FY_ENOMEM, "out of memory starting the HTTP server");
    h->cfg = *cfg;
    h->listen_fd = -1;
    pthread_rwlock_init(&h->keys_lock, NULL);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->host = fy__strdup(cfg->host ? cfg->host : "127.0.0.1");
    h->keys_file = cfg->keys_file ? fy__strdup(cfg->keys_file) : NULL;
    if (!h->host || (cfg->keys_file && !h->keys_file)) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory starting the HTTP server");
        goto fail;
    }
    h->cfg.host = h->host;
    h->cfg.keys_file = h->keys_file;
    if (h->cfg.threads <= 0)
        h->cfg.threads = 4;
    if (h->cfg.request_timeout_ms <= 0)
        h->cfg.request_timeout_ms = 30000;
    if (h->cfg.max_body_bytes == 0)
        h->cfg.max_body_bytes = (size_t)64 << 20;
    h->body_budget =
        h->cfg.max_body_bytes > ((size_t)64 << 20) ? 4 * h->cfg.max_body_bytes : (size_t)256 << 20;
    {
        const char *s = h->host;
        size_t n = strlen(s);
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
            s++;
            n -= 2;
        }
        if (n >= sizeof h->host_lc)
            n = sizeof h->host_lc - 1;
        for (size_t i = 0; i < n; i++)
            h->host_lc[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    }
    h->id_salt = randombytes_random();
    if (h->keys_file && (rc = load_keys(&h->keys, h->keys_file, d)) != FY_OK)
        goto fail;
    if (h->cfg.tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        rc = fy__diag_set(d, FY_EUNSUPPORTED,
                          "TLS: this libmicrohttpd was built without HTTPS support");
        goto fail;
    }
    if ((rc = bind_listen(h, d)) != FY_OK)
        goto fail;

    /* Workers wait on inference: enough of them to fill batches from many
     * connections at once; they sleep otherwise. */
    h->n_workers = 16 * h->cfg.threads;
    if (h->n_workers > 512)
        h->n_workers = 512;
    h->workers = fy__calloc((size_t)h->n_workers, sizeof *h->workers);
    if (!h->workers) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory starting the HTTP server");
        goto fail;
    }
    for (int i = 0; i < h->n_workers; i++) {
        if (pthread_create(&h->workers[i], NULL, worker_main, h) != 0) {
            h->n_workers = i;
            rc = fy__diag_set(d, FY_ENOMEM, "cannot start worker thread %d", i);
            goto fail;
        }
    }

    unsigned timeout_s = (unsigned)((h->cfg.request_timeout_ms + 999) / 1000);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (h->ipv6 ? MHD_USE_IPv6 : 0) |
                     (h->cfg.tls ? MHD_USE_TLS : 0);
    /* TLS: through a callback that hands out a swappable pair when this daemon
     * owns it (one per process), else from the PEM buffers, which libmicrohttpd
     * keeps pointers to: they belong to the server until the daemon stops. */
    struct MHD_OptionItem tls_opts[FY_TLS_DAEMON_OPTS];
    if ((rc = fy__tls_daemon_opts(h->cfg.tls, tls_opts, &h->tls_owner, d)) != FY_OK)
        goto fail;
    /* One thread: no pool (libmicrohttpd warns about a pool of one). */
    unsigned pool = h->cfg.threads > 1 ? (unsigned)h->cfg.threads : 0;
    /* The logger first, so that the other options' complaints reach the log too. */
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
        pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_LIMIT,
        pool ? pool : (unsigned)FY_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)FY_HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, FY_HTTP_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!h->daemon) {
        rc = fy__diag_set(d, FY_EIO, "cannot start the %s server on %s:%d%s",
                          h->cfg.tls ? "HTTPS" : "HTTP", h->host, h->port,
                          h->cfg.tls ? " (libmicrohttpd refused the TLS setup; its message is "
                                       "in the log)"
                                     : "");
        goto fail;
    }
    *out = h;
    return FY_OK;
fail:
    fy__http_free(h);
    return rc;
}

int fy__http_port(const fy__http *h)
{
    return h->port;
}

int fy__http_inflight(const fy__http *h)
{
    return atomic_load(&h->inflight);
}

int fy__http_renew_tls(fy__http *h, fy__tls *cur, const char *cert_file, const char *key_file,
                       fy_diag *d)
{
    return fy__tls_daemon_renew(h->tls_owner, cur, cert_file, key_file, d);
}

int fy__http_reload_keys(fy__http *h, fy_diag *d)
{
    if (!h->keys_file)
        return FY_OK;
    fy__keys *k = NULL;
    int rc = load_keys(&k, h->keys_file, d);
    if (rc != FY_OK)
        return rc;
    pthread_rwlock_wrlock(&h->keys_lock);
    fy__keys *old = h->keys;
    h->keys = k;
    pthread_rwlock_unlock(&h->keys_lock);
    fy__keys_free(old);
    return FY_OK;
}

void fy__http_drain(fy__http *h)
{
    if (atomic_exchange(&h->draining, 1) || !h->daemon)
        return;
    /* Connections waiting in the kernel's backlog are refused at once rather than
     * left to time out; the descriptor stays open until MHD is stopped. */
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET)
        shutdown(fd, SHUT_RDWR);
}

int fy__http_stop(fy__http *h)
{
    int cut = 0;
    if (!h->daemon)
        return 0;
    atomic_store(&h->draining, 1);
    pthread_mutex_lock(&h->mu);
    h->stopped = 1;
    while (h->pending) {
        req *r = h->pending;
        h->pending = r->pnext;
        if (h->pending)
            h->pending->pprev = NULL;
        r->job = JOB_ABANDONED;
        memset(&r->res, 0, sizeof r->res);
        set_error(&r->res, 503, "the server is shutting down");
        MHD_resume_connection(r->conn);
        atomic_fetch_sub(&h->suspended, 1);
        cut++;
    }
    pthread_mutex_unlock(&h->mu);
    /* Workers that finished just now resume their connections at once; then let
     * the last answers go out before closing everything. */
    int64_t until = mono_ns() + 2 * (int64_t)1000000000;
    while (atomic_load(&h->suspended) > 0 && mono_ns() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    until = mono_ns() + (cut ? 500 : 50) * (int64_t)1000000;
    while (atomic_load(&h->inflight) > 0 && mono_ns() < until) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* streams still running: no resume may reach the daemon once it stops (closed
     * outside mu: MHD may hold its own locks while calling stream_free) */
    for (;;) {
        fy__oai_stream *st = NULL;
        pthread_mutex_lock(&h->mu);
        for (req *r = h->streams; r && !st; r = r->snext)
            if (r->stream && !r->stream_closed) {
                r->stream_closed = 1;
                st = r->stream;
                fy__oai_stream_retain(st);
            }
        pthread_mutex_unlock(&h->mu);
        if (!st)
            break;
        fy__oai_stream_close(st);
        fy__oai_stream_release(st);
    }
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    h->listen_fd = -1;
    return cut;
}

void fy__http_free(fy__http *h)
{
    if (!h)
        return;
    if (h->daemon)
        fy__http_stop(h);
    pthread_mutex_lock(&h->mu);
    h->stop_workers = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < h->n_workers; i++)
        pthread_join(h->workers[i], NULL);
    /* submitted inferences end by their deadline (or their batch's end) */
    while (atomic_load(&h->async_out) > 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    fy__tls_daemon_release(h->tls_owner); /* the daemon is stopped: no handshake holds a pair */
    fy__keys_free(h->keys);
    pthread_rwlock_destroy(&h->keys_lock);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    fy__free(h->workers);
    fy__free(h->host);
    fy__free(h->keys_file);
    fy__free(h);
}
