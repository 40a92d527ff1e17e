/* SPDX-License-Identifier: MIT */
/* The supervisor's front proxy: owns the service's public port (libmicrohttpd, one
 * thread per connection) and forwards each request to a worker chosen per request
 * by the supervisor (libcurl, pooled keep-alive connections to loopback). Choosing
 * per request, not per connection, is what lets traffic move between versions
 * while clients keep their connections: docs/DESIGN.md, "Deploy: traffic switch". */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "../serve/serve_int.h"
#include "deploy_int.h"

#define MAX_BODY ((size_t)64 << 20)    /* the server's own default request limit */
#define MAX_ANSWER ((size_t)256 << 20) /* largest answer relayed */
#define MAX_TRIES 3                    /* backends tried for one request */
#define POOL_MAX 64                    /* idle curl handles kept */
#define MAX_CONNECTIONS 1024

struct fy_proxy {
    struct MHD_Daemon *mhd;
    int tls_owner; /* its certificate can be swapped (fy__tls_daemon_opts) */
    int listen_fd;
    fy_proxy_hooks hooks;
    atomic_int in_flight;
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    int n_pool;
};

typedef struct req {
    char *body;
    size_t len, cap;
    int too_big;
} req;

typedef struct answer {
    char *body;
    size_t len, cap;
    int too_big;
    struct curl_slist *headers; /* "Name: value" lines to relay */
} answer;

static CURL *pool_get(fy_proxy *p)
{
    CURL *h = NULL;
    pthread_mutex_lock(&p->pool_mu);
    if (p->n_pool > 0)
        h = p->pool[--p->n_pool];
    pthread_mutex_unlock(&p->pool_mu);
    if (h)
        curl_easy_reset(h); /* keeps the handle's connection cache */
    else
        h = curl_easy_init();
    return h;
}

static void pool_put(fy_proxy *p, CURL *h)
{
    pthread_mutex_lock(&p->pool_mu);
    if (p->n_pool < POOL_MAX) {
        p->pool[p->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&p->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

static int grow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max)
        return -1;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    if (c > max)
        c = max;
    char *b = fy__realloc(*buf, c);
    if (!b)
        return -1;
    *buf = b;
    *cap = c;
    return 0;
}

static size_t on_body(char *data, size_t sz, size_t n, void *ctx)
{
    answer *a = ctx;
    size_t len = sz * n;
    if (grow(&a->body, &a->cap, a->len + len, MAX_ANSWER)) {
        a->too_big = 1;
        return 0;
    }
    memcpy(a->body + a->len, data, len);
    a->len += len;
    return len;
}

/* Header names relayed back to the client: the ones the server's protocols use. */
static int relayed(const char *name, size_t n)
{
    static const char *const keep[] = {"content-type",
                                       "retry-after",
                                       "www-authenticate",
                                       "allow",
                                       "x-request-id",
                                       "inference-header-content-length",
                                       NULL};
    for (int i = 0; keep[i]; i++)
        if (strlen(keep[i]) == n && !strncasecmp(name, keep[i], n))
            return 1;
    return 0;
}

static size_t on_header(char *data, size_t sz, size_t n, void *ctx)
{
    answer *a = ctx;
    size_t len = sz * n;
    const char *colon = memchr(data, ':', len);
    if (colon && relayed(data, (size_t)(colon - data)) && len < 2048) {
        char line[2048];
        memcpy(line, data, len);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
            len--;
        line[len] = 0;
        struct curl_slist *l = curl_slist_append(a->headers, line);
        if (l)
            a->headers = l;
    }
    return sz * n;
}

typedef struct hdr_ctx {
    struct curl_slist *list;
    int failed;
} hdr_ctx;

/* Request headers forwarded to the worker: all but the hop-by-hop ones. */
static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    hdr_ctx *h = cls;
    static const char *const skip[] = {
        "host",    "connection",          "content-length",   "transfer-encoding",
        "expect",  "keep-alive",          "upgrade",          "te",
        "trailer", "proxy-authorization", "proxy-connection", NULL};
    for (int i = 0; skip[i]; i++)
        if (!strcasecmp(key, skip[i]))
            return MHD_YES;
    char line[8192];
    if ((size_t)snprintf(line, sizeof line, "%s: %s", key, value ? value : "") >= sizeof line)
        return MHD_YES;
    struct curl_slist *l = curl_slist_append(h->list, line);
    if (!l)
        h->failed = 1;
    else
        h->list = l;
    return MHD_YES;
}

typedef struct query_ctx {
    char buf[4096];
    size_t len;
    int overflow;
    CURL *curl;
} query_ctx;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    query_ctx *q = cls;
    char *k = curl_easy_escape(q->curl, key, 0);
    char *v = value ? curl_easy_escape(q->curl, value, 0) : NULL;
    if (k) {
        int w = snprintf(q->buf + q->len, sizeof q->buf - q->len, "%s%s%s%s", q->len ? "&" : "?", k,
                         v ? "=" : "", v ? v : "");
        if (w < 0 || (size_t)w >= sizeof q->buf - q->len)
            q->overflow = 1;
        else
            q->len += (size_t)w;
    }
    curl_free(k);
    curl_free(v);
    return MHD_YES;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, struct curl_slist *headers, int retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    for (struct curl_slist *l = headers; l; l = l->next) {
        char name[256];
        const char *colon = strchr(l->data, ':');
        if (!colon || (size_t)(colon - l->data) >= sizeof name)
            continue;
        memcpy(name, l->data, (size_t)(colon - l->data));
        name[colon - l->data] = 0;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        MHD_add_response_header(r, name, v);
    }
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", "1");
    if (!headers)
        MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int peer_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* Errors where the request surely did not run on the worker, or where the worker
 * died under it: inference is free of side effects, so trying another is safe. */
static int retryable(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
           cc == CURLE_SEND_ERROR || cc == CURLE_PARTIAL_FILE;
}

/* GET /metrics: every ready worker's metrics merged into one exposition, each
 * sample labelled ferry_worker="VERSION/REPLICA", then the supervisor's own. A
 * worker that refuses (401 without a key, say) has its answer relayed; one that
 * does not answer is left out (its restart shows in the supervisor's metrics).
 * Scrapes are not proxied requests: they take no in-flight count (pick/done) and
 * are not counted in the versions' requests. */
static enum MHD_Result metrics_all(fy_proxy *p, struct MHD_Connection *c, CURL *h,
                                   struct curl_slist *headers)
{
    enum { CAP = FY_PROXY_MAX_WORKERS };
    fy_backend_ref b[CAP];
    char(*names)[FY_WORKER_NAME] = fy__malloc(CAP * sizeof *names);
    answer *a = fy__calloc(CAP, sizeof *a);
    const char **texts = fy__malloc(CAP * sizeof *texts),
               **values = fy__malloc(CAP * sizeof *values);
    size_t *lens = fy__malloc(CAP * sizeof *lens);
    enum MHD_Result ret;
    int n = 0, got = 0;
    if (!names || !a || !texts || !values || !lens) {
        ret = reply(c, 503, "{\"error\": \"out of memory\"}", 26, NULL, 1);
        goto out;
    }
    n = p->hooks.workers(p->hooks.ctx, b, names, CAP);
    if (n == 0) {
        static const char msg[] = "{\"error\": \"no version of the service is ready\"}";
        ret = reply(c, 503, msg, sizeof msg - 1, NULL, 1);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char target[64];
        snprintf(target, sizeof target, "http://127.0.0.1:%d/metrics", b[i].port);
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, target);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a[i]);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &a[i]);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (cc == CURLE_OK && code != 200) {
            ret = reply(c, (unsigned)code, a[i].body ? a[i].body : "", a[i].len, a[i].headers, 0);
            goto out;
        }
        texts[i] = cc == CURLE_OK && !a[i].too_big ? a[i].body : NULL;
        lens[i] = a[i].len;
        values[i] = names[i];
        got += texts[i] != NULL;
    }
    if (got == 0) {
        static const char msg[] = "{\"error\": \"no worker answered\"}";
        ret = reply(c, 502, msg, sizeof msg - 1, NULL, 1);
        goto out;
    }
    char *merged = NULL;
    size_t len = 0, cap;
    fy_diag d = {{0}};
    if (fy__metrics_merge(texts, lens, values, n, "ferry_worker", &merged, &len, &d) != FY_OK) {
        char msg[300];
        int k = snprintf(msg, sizeof msg, "{\"error\": \"%s\"}", d.msg);
        ret = reply(c, 500, msg, (size_t)k, NULL, 0);
        goto out;
    }
    cap = len + 1;
    char *extra = p->hooks.metrics ? p->hooks.metrics(p->hooks.ctx) : NULL;
    size_t el = extra ? strlen(extra) : 0;
    if (extra && grow(&merged, &cap, len + el, MAX_ANSWER) == 0) {
        memcpy(merged + len, extra, el);
        len += el;
    }
    fy__free(extra);
    struct curl_slist *ct = NULL;
    for (int i = 0; i < n && !ct; i++)
        if (texts[i])
            ct = a[i].headers;
    ret = reply(c, 200, merged, len, ct, 0);
    fy__free(merged);
out:
    for (int i = 0; a && i < n; i++) {
        fy__free(a[i].body);
        curl_slist_free_all(a[i].headers);
    }
    fy__free(names);
    fy__free(a);
    fy__free(texts);
    fy__free(values);
    fy__free(lens);
    return ret;
}

static enum MHD_Result forward(fy_proxy *p, struct MHD_Connection *c, const char *url,
                               const char *method, req *rq)
{
    hdr_ctx hc = {0};
    answer a = {0};
    enum MHD_Result ret;
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &hc);
    struct curl_slist *l = curl_slist_append(hc.list, "Expect:");
    if (!l || hc.failed) {
        curl_slist_free_all(l ? l : hc.list);
        return reply(c, 503, "{\"error\": \"out of memory\"}", 26, NULL, 1);
    }
    hc.list = l;
    CURL *h = pool_get(p);
    if (!h) {
        curl_slist_free_all(hc.list);
        return reply(c, 503, "{\"error\": \"out of memory\"}", 26, NULL, 1);
    }
    if (!strcmp(url, "/metrics") && !strcmp(method, "GET") && p->hooks.workers) {
        ret = metrics_all(p, c, h, hc.list);
        pool_put(p, h);
        curl_slist_free_all(hc.list);
        return ret;
    }
    query_ctx q = {.curl = h};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    int avoid = -1, status = 0;
    CURLcode cc = CURLE_OK;
    char err[CURL_ERROR_SIZE] = "";
    for (int attempt = 0; attempt < MAX_TRIES; attempt++) {
        fy_backend_ref b = p->hooks.pick(p->hooks.ctx, avoid);
        if (b.worker < 0) {
            if (attempt == 0) {
                pool_put(p, h);
                curl_slist_free_all(hc.list);
                static const char msg[] = "{\"error\": \"no version of the service is ready\"}";
                return reply(c, 503, msg, sizeof msg - 1, NULL, 1);
            }
            break;
        }
        char target[4096 + 64];
        snprintf(target, sizeof target, "http://127.0.0.1:%d%s%s", b.port, url, q.buf);
        curl_easy_reset(h);
        a.len = 0;
        curl_slist_free_all(a.headers);
        a.headers = NULL;
        curl_easy_setopt(h, CURLOPT_URL, target);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hc.list);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
        if (!strcmp(method, "HEAD"))
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (rq->len > 0 || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
        }
        err[0] = 0;
        cc = curl_easy_perform(h);
        long code = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        status = (int)code;
        p->hooks.done(p->hooks.ctx, b.worker, cc == CURLE_OK ? status : 0);
        if (cc == CURLE_OK || !retryable(cc) || a.too_big)
            break;
        avoid = b.worker;
    }
    pool_put(p, h);
    curl_slist_free_all(hc.list);
    if (cc != CURLE_OK || status == 0) {
        char msg[512];
        int n = snprintf(msg, sizeof msg, "{\"error\": \"no worker answered: %s\"}",
                         a.too_big ? "answer too large" : curl_easy_strerror(cc));
        fy__free(a.body);
        curl_slist_free_all(a.headers);
        return reply(c, 502, msg, (size_t)n, NULL, 1);
    }
    ret = reply(c, (unsigned)status, a.body ? a.body : "", a.len, a.headers, 0);
    fy__free(a.body);
    curl_slist_free_all(a.headers);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    fy_proxy *p = cls;
    req *rq = *con_cls;
    if (!rq) {
        rq = fy__calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&p->in_flight, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rq->too_big && grow(&rq->body, &rq->cap, rq->len + *upload_size, MAX_BODY) == 0) {
            memcpy(rq->body + rq->len, upload, *upload_size);
            rq->len += *upload_size;
        } else {
            rq->too_big = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->too_big) {
        static const char msg[] = "{\"error\": \"request body above the limit of 64 MiB\"}";
        return reply(c, 413, msg, sizeof msg - 1, NULL, 0);
    }
    if (!strncmp(url, "/v2/repository", 14) && !peer_is_loopback(c)) {
        static const char msg[] =
            "{\"error\": \"management calls are accepted from loopback only through the "
            "deployment's front\"}";
        return reply(c, 403, msg, sizeof msg - 1, NULL, 0);
    }
    if (strlen(url) > 2048 || url[0] != '/') {
        static const char msg[] = "{\"error\": \"bad path\"}";
        return reply(c, 404, msg, sizeof msg - 1, NULL, 0);
    }
    return forward(p, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    fy_proxy *p = cls;
    req *rq = *con_cls;
    if (rq) {
        fy__free(rq->body);
        fy__free(rq);
        *con_cls = NULL;
        atomic_fetch_sub(&p->in_flight, 1);
    }
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    (void)fmt;
    (void)ap; /* libmicrohttpd's own complaints (malformed requests) are not ours to log */
}

int fy__proxy_start(fy_proxy **out, const char *host, int port, const fy_proxy_hooks *hooks,
                    const fy__tls *tls, fy_diag *d)
{
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "TLS: this libmicrohttpd was built without HTTPS support");
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    int fam;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        fam = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        fam = AF_INET6;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
    } else if (!strcmp(host, "localhost")) {
        fam = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *s4;
    } else {
        return fy__diag_set(d, FY_EINVAL, "serving.host: '%s' is not an IP address", host);
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fy__diag_set(d, FY_EIO, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 511) != 0) {
        int e = errno;
        close(fd);
        return fy__diag_set(d, FY_EIO, "cannot listen on %s:%d: %s", host, port, strerror(e));
    }
    fy_proxy *p = fy__calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    p->listen_fd = fd;
    p->hooks = *hooks;
    pthread_mutex_init(&p->pool_mu, NULL);
    /* HTTPS: through a swappable pair when this daemon owns the certificate
     * callback, else the caller's PEM buffers, which outlive the daemon */
    struct MHD_OptionItem tls_opts[FY_TLS_DAEMON_OPTS];
    int rc = fy__tls_daemon_opts(tls, tls_opts, &p->tls_owner, d);
    if (rc != FY_OK) {
        close(fd);
        pthread_mutex_destroy(&p->pool_mu);
        fy__free(p);
        return rc;
    }
    p->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
            MHD_USE_ERROR_LOG | (fam == AF_INET6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0),
        0, NULL, NULL, on_request, p, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 << 10),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, p, MHD_OPTION_EXTERNAL_LOGGER, on_log, p,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!p->mhd) {
        fy__tls_daemon_release(p->tls_owner);
        close(fd);
        pthread_mutex_destroy(&p->pool_mu);
        fy__free(p);
        return fy__diag_set(d, FY_EIO, "cannot start the front proxy on %s:%d%s", host, port,
                            tls ? " (libmicrohttpd refused the TLS setup)" : "");
    }
    *out = p;
    return FY_OK;
}

int fy__proxy_renew_tls(fy_proxy *p, fy__tls *cur, const char *cert_file, const char *key_file,
                        fy_diag *d)
{
    return fy__tls_daemon_renew(p->tls_owner, cur, cert_file, key_file, d);
}

void fy__proxy_stop(fy_proxy *p)
{
    if (!p)
        return;
    /* stop accepting, then give requests in flight up to 30 s to finish */
    MHD_quiesce_daemon(p->mhd);
    for (int i = 0; i < 3000 && atomic_load(&p->in_flight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(p->mhd);
    fy__tls_daemon_release(p->tls_owner); /* no handshake holds a pair any more */
    close(p->listen_fd);
    for (int i = 0; i < p->n_pool; i++)
        curl_easy_cleanup(p->pool[i]);
    pthread_mutex_destroy(&p->pool_mu);
    fy__free(p);
}
