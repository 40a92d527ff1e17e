/* SPDX-License-Identifier: MIT */
/* The server end to end: a real fy_server on an ephemeral loopback port over the
 * Fashion-MNIST model, driven by a minimal HTTP/1.1 client written here (plain
 * sockets with timeouts). Every endpoint of the three protocols, the V2 binary
 * extension, error paths and limits, keys and roles, Host/Origin refusals,
 * keep-alive, slow clients, overload, and a stop under load that loses nothing. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "ferry/serve.h"
#include "serve/serve_int.h"
#include "test.h"

#define FASHION "examples/fashion-mnist/fashion_cnn.onnx"
#define FASHION_DIR "examples/fashion-mnist"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------------- */
/* A minimal HTTP/1.1 client                                                  */
/* ------------------------------------------------------------------------- */

typedef struct hres {
    int status;
    char head[16384];
    char *body; /* NUL-terminated */
    size_t len;
} hres;

static void hres_free(hres *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static int dial_addr(const char *ip, int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int dial(int port)
{
    return dial_addr("127.0.0.1", port, 10000);
}

static int send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* strcasestr is a GNU extension. */
static const char *ci_find(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Reads one response (Content-Length framed, as every ferry answer is). Returns 0,
 * or -1 when the connection closed or timed out before a whole response. */
static int read_resp(int fd, hres *r, int head_request)
{
    memset(r, 0, sizeof *r);
    size_t hn = 0;
    char *end = NULL;
    while (!end) {
        if (hn + 1 >= sizeof r->head)
            return -1;
        ssize_t k = recv(fd, r->head + hn, sizeof r->head - 1 - hn, 0);
        if (k <= 0)
            return -1;
        hn += (size_t)k;
        r->head[hn] = 0;
        end = strstr(r->head, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end - r->head) + 4;
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    size_t cl = 0;
    const char *p = ci_find(r->head, "\r\nContent-Length:");
    if (p && p < end)
        cl = strtoull(p + 17, NULL, 10);
    if (head_request || r->status == 100 || r->status == 204 || r->status == 304)
        cl = 0;
    r->body = malloc(cl + 1);
    if (!r->body)
        return -1;
    size_t have = hn - head_len;
    if (have > cl)
        have = cl;
    memcpy(r->body, r->head + head_len, have);
    while (have < cl) {
        ssize_t k = recv(fd, r->body + have, cl - have, 0);
        if (k <= 0) {
            hres_free(r);
            return -1;
        }
        have += (size_t)k;
    }
    r->body[cl] = 0;
    r->len = cl;
    r->head[head_len] = 0;
    return 0;
}

/* Value of a response header (case-insensitive name), or NULL. */
static const char *hdr(const hres *r, const char *name)
{
    static char val[4][512];
    static int k;
    char *out = val[k++ & 3];
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = ci_find(r->head, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    if (n >= sizeof val[0])
        n = sizeof val[0] - 1;
    memcpy(out, p, n);
    out[n] = 0;
    return out;
}

static int on_conn(int fd, int port, const char *method, const char *path, const char *headers,
                   const void *body, size_t len, hres *r)
{
    char head[8192];
    int has_host = headers && ci_find(headers, "Host:") != NULL;
    char host[64] = "";
    if (!has_host)
        snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", port);
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\n%s%sContent-Length: %zu\r\n\r\n", method,
                     path, host, headers ? headers : "", len);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    if (send_all(fd, head, (size_t)n) != 0 || (len && send_all(fd, body, len) != 0))
        return -1;
    return read_resp(fd, r, strcmp(method, "HEAD") == 0);
}

/* One request on a fresh connection. Returns the status, or -1. */
static int http(int port, const char *method, const char *path, const char *headers,
                const void *body, size_t len, hres *r)
{
    memset(r, 0, sizeof *r);
    int fd = dial(port);
    if (fd < 0)
        return -1;
    int rc = on_conn(fd, port, method, path, headers, body, len, r);
    close(fd);
    return rc == 0 ? r->status : -1;
}

static int http_s(int port, const char *method, const char *path, const char *headers,
                  const char *body, hres *r)
{
    return http(port, method, path, headers, body, body ? strlen(body) : 0, r);
}

/* Status only, body dropped. */
static int status_of(int port, const char *method, const char *path, const char *headers,
                     const char *body)
{
    hres r;
    int st = http_s(port, method, path, headers, body, &r);
    hres_free(&r);
    return st;
}

static json_t *parse(const hres *r, size_t n)
{
    json_error_t e;
    return json_loadb(r->body, n, 0, &e);
}

/* ------------------------------------------------------------------------- */
/* Request bodies for the Fashion-MNIST model (image float32 [N,1,28,28])     */
/* ------------------------------------------------------------------------- */

static float pixel(int i)
{
    return (float)((i * 37) % 256);
}

/* One item [1,28,28] as nested JSON, pixels 0..255 scaled by `scale`. */
static void add_item(char *b, size_t *n, size_t cap, float scale)
{
    *n += (size_t)snprintf(b + *n, cap - *n, "[");
    for (int y = 0; y < 28; y++) {
        *n += (size_t)snprintf(b + *n, cap - *n, "%s[", y ? "," : "");
        for (int x = 0; x < 28; x++)
            *n +=
                (size_t)snprintf(b + *n, cap - *n, "%s%g", x ? "," : "", pixel(y * 28 + x) * scale);
        *n += (size_t)snprintf(b + *n, cap - *n, "]");
    }
    *n += (size_t)snprintf(b + *n, cap - *n, "]");
}

/* kind: "single" {"image": item}; "instances" {"instances": [item x count]};
 * "columns" {"inputs": [item]}; "v2" the V2 JSON form. */
static char *body_for(const char *kind, int count, float scale)
{
    size_t cap = 16384 * (size_t)(count + 1), n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    if (strcmp(kind, "single") == 0) {
        n += (size_t)snprintf(b + n, cap - n, "{\"image\": ");
        add_item(b, &n, cap, scale);
        n += (size_t)snprintf(b + n, cap - n, "}");
    } else if (strcmp(kind, "v2") == 0) {
        n += (size_t)snprintf(b + n, cap - n,
                              "{\"id\": \"req-7\", \"inputs\": [{\"name\": \"image\", \"shape\": "
                              "[1, 1, 28, 28], \"datatype\": \"FP32\", \"data\": [");
        for (int i = 0; i < 784; i++)
            n += (size_t)snprintf(b + n, cap - n, "%s%g", i ? "," : "", pixel(i) * scale);
        n += (size_t)snprintf(b + n, cap - n, "]}]}");
    } else {
        n += (size_t)snprintf(b + n, cap - n, "{\"%s\": [",
                              strcmp(kind, "columns") == 0 ? "inputs" : "instances");
        for (int i = 0; i < count; i++) {
            if (i)
                n += (size_t)snprintf(b + n, cap - n, ",");
            add_item(b, &n, cap, scale);
        }
        n += (size_t)snprintf(b + n, cap - n, "]}");
    }
    return b;
}

/* ------------------------------------------------------------------------- */
/* Servers in threads                                                         */
/* ------------------------------------------------------------------------- */

typedef struct srv {
    fy_server *s;
    pthread_t t;
    int port;
    int run_rc;
    atomic_int done;
} srv;

static void *run_main(void *p)
{
    srv *x = p;
    fy_diag d = {{0}};
    x->run_rc = fy_server_run(x->s, &d);
    atomic_store(&x->done, 1);
    return NULL;
}

static int srv_start(srv *x, const char *const *paths, int n, const fy_serve_opts *o)
{
    memset(x, 0, sizeof *x);
    fy_diag d = {{0}};
    int rc = fy_server_create(&x->s, paths, n, o, &d);
    if (rc != FY_OK) {
        fprintf(stderr, "fy_server_create: %s\n", d.msg);
        return rc;
    }
    x->port = fy_server_port(x->s);
    if (pthread_create(&x->t, NULL, run_main, x) != 0) {
        fy_server_free(x->s);
        x->s = NULL;
        return FY_ENOMEM;
    }
    return FY_OK;
}

static void srv_stop(srv *x)
{
    if (!x->s)
        return;
    fy_server_request_stop(x->s);
    pthread_join(x->t, NULL);
    fy_server_free(x->s);
    x->s = NULL;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b) {
        size_t got = fread(b, 1, (size_t)n, f);
        b[got] = 0;
    }
    fclose(f);
    return b;
}

static int copy_file(const char *from, const char *to)
{
    char *b = NULL;
    FILE *f = fopen(from, "rb"), *g = NULL;
    int rc = -1;
    if (!f)
        goto done;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        goto done;
    g = fopen(to, "wb");
    if (!g || fwrite(b, 1, (size_t)n, g) != (size_t)n)
        goto done;
    rc = 0;
done:
    if (f)
        fclose(f);
    if (g && fclose(g) != 0)
        rc = -1;
    free(b);
    return rc;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ------------------------------------------------------------------------- */
/* Units: keys                                                                */
/* ------------------------------------------------------------------------- */

TEST(hash_key_is_sha256_hex)
{
    char h[65];
    fy_serve_hash_key("abc", h);
    FY_CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(keys_file_parses_roles_and_refuses_mistakes)
{
    char a[65], b[65], text[1024];
    fy_serve_hash_key("alice-key", a);
    fy_serve_hash_key("ops-key", b);
    snprintf(text, sizeof text, "# API keys\n\ninfer %s alice\n  admin\t%s ops  \n", a, b);
    fy__keys *k = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__keys_parse(&k, text, strlen(text), "keys", &d), FY_OK);
    const char *name = NULL;
    FY_CHECK_EQ(fy__keys_lookup(k, "alice-key", 9, &name), FY_ROLE_INFER);
    FY_CHECK_STR(name, "alice");
    FY_CHECK_EQ(fy__keys_lookup(k, "ops-key", 7, &name), FY_ROLE_ADMIN);
    FY_CHECK_STR(name, "ops");
    FY_CHECK_EQ(fy__keys_lookup(k, "ops-kez", 7, NULL), FY_ROLE_NONE);
    FY_CHECK_EQ(fy__keys_lookup(k, "", 0, NULL), FY_ROLE_NONE);
    fy__keys_free(k);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"root %s bob\n", "keys:1: role must be infer or admin, got 'root'"},
        {"infer %s\n", "keys:1: expected 'ROLE SHA256HEX NAME' (3 fields), got 2"},
        {"infer %s bob extra\n", "(3 fields), got 4"},
        {"infer 1234 bob\n", "key hash must be 64 hex digits"},
        {"infer %s b/ob\n", "name must be 1-64 of [A-Za-z0-9._@-]"},
        {"infer %s bob\nadmin %s eve\n", "keys:2: the same key as 'bob'"},
        {"# nothing\n", "no keys"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, bad[i].text, a, a);
        k = NULL;
        d.msg[0] = 0;
        FY_CHECK(fy__keys_parse(&k, text, strlen(text), "keys", &d) != FY_OK);
        FY_CHECK(k == NULL);
        FY_CHECK_CONTAINS(d.msg, bad[i].want);
    }
    /* A bad hex digit at the end. */
    snprintf(text, sizeof text, "infer %.63sg bob\n", a);
    FY_CHECK(fy__keys_parse(&k, text, strlen(text), "keys", &d) != FY_OK);
    /* Out of memory at each step: an error, nothing leaked (ASan checks). */
    snprintf(text, sizeof text, "infer %s a\nadmin %s b\n", a, b);
    for (long n = 1; n < 10; n++) {
        k = NULL;
        fy__alloc_fail_at(n);
        int rc = fy__keys_parse(&k, text, strlen(text), "keys", &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            fy__keys_free(k);
            break;
        }
        FY_CHECK_EQ(rc, FY_ENOMEM);
    }
}

/* ------------------------------------------------------------------------- */
/* One package, no keys: every endpoint and the error paths                   */
/* ------------------------------------------------------------------------- */

static srv A;
static char pkg_path[256];

TEST(server_refuses_bad_options_and_addresses)
{
    fy_server *s = NULL;
    fy_diag d = {{0}};
    const char *paths[] = {FASHION};
    fy_serve_opts o = {0};
    o.log_path = path_in("refused.log");
    o.port = 70000;
    FY_CHECK_EQ(fy_server_create(&s, paths, 1, &o, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "port");
    o.port = -1;
    o.host = "192.0.2.1"; /* TEST-NET-1: not an address of this machine */
    FY_CHECK(fy_server_create(&s, paths, 1, &o, &d) != FY_OK);
    FY_CHECK_CONTAINS(d.msg, "cannot listen on 192.0.2.1");
    o.host = NULL;
    o.keys_file = path_in("missing-keys");
    FY_CHECK(fy_server_create(&s, paths, 1, &o, &d) != FY_OK);
    FY_CHECK_CONTAINS(d.msg, "missing-keys");
    FY_CHECK(s == NULL);
    /* A port in use is named. */
    o.keys_file = NULL;
    o.port = A.port;
    FY_CHECK(fy_server_create(&s, paths, 1, &o, &d) != FY_OK);
    FY_CHECK_CONTAINS(d.msg, "cannot listen");
}

TEST(health_metadata_and_metrics)
{
    int p = A.port;
    hres r;
    FY_CHECK_EQ(http_s(p, "GET", "/healthz/live", NULL, NULL, &r), 200);
    FY_CHECK_STR(r.body, "live\n");
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "GET", "/healthz/ready", NULL, NULL, &r), 200);
    FY_CHECK_STR(r.body, "ready\n");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/health/live", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/health/ready", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "HEAD", "/healthz/live", NULL, NULL), 200);

    FY_CHECK_EQ(http_s(p, "GET", "/v2", NULL, NULL, &r), 200);
    json_t *j = parse(&r, r.len);
    FY_CHECK_STR(json_string_value(json_object_get(j, "name")), "ferry");
    FY_CHECK_STR(json_string_value(json_object_get(j, "version")), FERRY_VERSION);
    json_t *ext = json_object_get(j, "extensions");
    FY_CHECK_EQ(json_array_size(ext), 3);
    FY_CHECK_STR(json_string_value(json_array_get(ext, 0)), "model_repository");
    FY_CHECK_STR(hdr(&r, "Content-Type"), "application/json");
    json_decref(j);
    hres_free(&r);

    FY_CHECK_EQ(http_s(p, "GET", "/metrics", NULL, NULL, &r), 200);
    FY_CHECK_STR(hdr(&r, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    FY_CHECK_CONTAINS(r.body, "# TYPE ");
    FY_CHECK_CONTAINS(r.body, "nv_inference_request_success");
    hres_free(&r);

    /* Model metadata: V2 (with and without version) and TF Serving. */
    FY_CHECK_EQ(http_s(p, "GET", "/v2/models/fashion-cnn", NULL, NULL, &r), 200);
    j = parse(&r, r.len);
    FY_CHECK_STR(json_string_value(json_object_get(j, "name")), "fashion-cnn");
    json_t *in0 = json_array_get(json_object_get(j, "inputs"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(in0, "name")), "image");
    FY_CHECK_STR(json_string_value(json_object_get(in0, "datatype")), "FP32");
    FY_CHECK_STR(json_string_value(json_array_get(json_object_get(j, "versions"), 0)), "1.0.0");
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/versions/1.0.0", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/ready", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/versions/1.0.0/ready", NULL, NULL),
                200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/versions/9/ready", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/nope/ready", NULL, NULL), 404);

    FY_CHECK_EQ(http_s(p, "GET", "/v1/models/fashion-cnn", NULL, NULL, &r), 200);
    j = parse(&r, r.len);
    json_t *st0 = json_array_get(json_object_get(j, "model_version_status"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(st0, "version")), "1.0.0");
    FY_CHECK_STR(json_string_value(json_object_get(st0, "state")), "AVAILABLE");
    FY_CHECK_STR(json_string_value(json_object_get(json_object_get(st0, "status"), "error_code")),
                 "OK");
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/fashion-cnn/versions/1.0.0", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/fashion-cnn/versions/2", NULL, NULL), 404);
    FY_CHECK_EQ(http_s(p, "GET", "/v1/models/fashion-cnn/metadata", NULL, NULL, &r), 200);
    FY_CHECK_CONTAINS(r.body, "signature_def");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/fashion-cnn/versions/1.0.0/metadata", NULL, NULL),
                200);
}

/* The argmax of a 10-score row. */
static int argmax(json_t *row)
{
    int best = -1;
    double bv = -1;
    for (size_t i = 0; i < json_array_size(row); i++) {
        double v = json_number_value(json_array_get(row, i));
        if (v > bv) {
            bv = v;
            best = (int)i;
        }
    }
    return best;
}

TEST(inference_on_all_three_protocols)
{
    int p = A.port;
    hres r;
    /* ferry's /predict: one image (labels from the package), then instances. */
    char *b = body_for("single", 1, 1.0f);
    FY_CHECK_EQ(http_s(p, "POST", "/predict", NULL, b, &r), 200);
    json_t *j = parse(&r, r.len);
    json_t *pred = json_object_get(j, "predictions");
    FY_CHECK_EQ(json_array_size(pred), 1);
    json_t *p0 = json_array_get(pred, 0);
    FY_CHECK(json_string_value(json_object_get(p0, "label")) != NULL);
    int cls = (int)json_integer_value(json_object_get(p0, "class"));
    FY_CHECK_EQ(json_array_size(json_object_get(p0, "scores")), 10);
    FY_CHECK_EQ(argmax(json_object_get(p0, "scores")), cls);
    json_decref(j);
    hres_free(&r);
    free(b);
    b = body_for("instances", 3, 1.0f);
    FY_CHECK_EQ(http_s(p, "POST", "/predict/fashion-cnn", NULL, b, &r), 200);
    j = parse(&r, r.len);
    FY_CHECK_EQ(json_array_size(json_object_get(j, "predictions")), 3);
    json_decref(j);
    hres_free(&r);
    free(b);

    /* KServe V2 JSON; the model's raw input (no manifest preprocessing). */
    b = body_for("v2", 1, 1.0f / 255);
    FY_CHECK_EQ(http_s(p, "POST", "/v2/models/fashion-cnn/infer", NULL, b, &r), 200);
    j = parse(&r, r.len);
    FY_CHECK_STR(json_string_value(json_object_get(j, "id")), "req-7");
    FY_CHECK_STR(json_string_value(json_object_get(j, "model_name")), "fashion-cnn");
    json_t *o0 = json_array_get(json_object_get(j, "outputs"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(o0, "name")), "probabilities");
    FY_CHECK_EQ(argmax(json_object_get(o0, "data")), cls);
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion-cnn/versions/1.0.0/infer", NULL, b), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion-cnn/versions/7/infer", NULL, b), 404);
    free(b);

    /* KServe V2 binary tensor data, both ways. */
    const char *jh = "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":3136}}],\"outputs\":[{\"name\":"
                     "\"probabilities\",\"parameters\":{\"binary_data\":true}}]}";
    size_t jl = strlen(jh);
    char *bin = malloc(jl + 3136);
    memcpy(bin, jh, jl);
    for (int i = 0; i < 784; i++) {
        float v = pixel(i) / 255;
        memcpy(bin + jl + 4 * i, &v, 4);
    }
    char hh[128];
    snprintf(hh, sizeof hh,
             "Inference-Header-Content-Length: %zu\r\nContent-Type: application/octet-stream\r\n",
             jl);
    FY_CHECK_EQ(http(p, "POST", "/v2/models/fashion-cnn/infer", hh, bin, jl + 3136, &r), 200);
    FY_CHECK_STR(hdr(&r, "Content-Type"), "application/octet-stream");
    const char *ih = hdr(&r, "Inference-Header-Content-Length");
    FY_CHECK(ih != NULL);
    size_t rjl = ih ? strtoull(ih, NULL, 10) : 0;
    FY_CHECK_EQ(r.len, rjl + 40);
    if (r.len == rjl + 40) {
        j = parse(&r, rjl);
        o0 = json_array_get(json_object_get(j, "outputs"), 0);
        FY_CHECK_EQ(json_integer_value(
                        json_object_get(json_object_get(o0, "parameters"), "binary_data_size")),
                    40);
        json_decref(j);
        float probs[10], sum = 0;
        memcpy(probs, r.body + rjl, 40);
        int best = 0;
        for (int i = 0; i < 10; i++) {
            sum += probs[i];
            if (probs[i] > probs[best])
                best = i;
        }
        FY_CHECK_NEAR(sum, 1.0, 1e-3);
        FY_CHECK_EQ(best, cls);
    }
    hres_free(&r);
    /* The header claiming more JSON than the body holds. */
    snprintf(hh, sizeof hh, "Inference-Header-Content-Length: %zu\r\n", jl + 5000);
    FY_CHECK_EQ(http(p, "POST", "/v2/models/fashion-cnn/infer", hh, bin, jl + 3136, &r), 400);
    FY_CHECK_CONTAINS(r.body, "Inference-Header-Content-Length");
    hres_free(&r);
    FY_CHECK_EQ(http(p, "POST", "/v2/models/fashion-cnn/infer",
                     "Inference-Header-Content-Length: 12x\r\n", bin, jl + 3136, &r),
                400);
    hres_free(&r);
    free(bin);

    /* TensorFlow Serving: row and columnar forms, with and without version. */
    b = body_for("instances", 2, 1.0f / 255);
    FY_CHECK_EQ(http_s(p, "POST", "/v1/models/fashion-cnn:predict", NULL, b, &r), 200);
    j = parse(&r, r.len);
    FY_CHECK_EQ(json_array_size(json_object_get(j, "predictions")), 2);
    FY_CHECK_EQ(argmax(json_array_get(json_object_get(j, "predictions"), 0)), cls);
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v1/models/fashion-cnn/versions/1.0.0:predict", NULL, b),
                200);
    free(b);
    b = body_for("columns", 1, 1.0f / 255);
    FY_CHECK_EQ(http_s(p, "POST", "/v1/models/fashion-cnn:predict", NULL, b, &r), 200);
    FY_CHECK_CONTAINS(r.body, "\"outputs\"");
    hres_free(&r);
    free(b);

    /* Statistics count what ran. */
    FY_CHECK_EQ(http_s(p, "GET", "/v2/models/fashion-cnn/stats", NULL, NULL, &r), 200);
    j = parse(&r, r.len);
    json_t *ms = json_array_get(json_object_get(j, "model_stats"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(ms, "version")), "1.0.0");
    json_t *is = json_object_get(ms, "inference_stats");
    FY_CHECK(json_integer_value(json_object_get(json_object_get(is, "success"), "count")) >= 8);
    FY_CHECK(json_integer_value(json_object_get(json_object_get(is, "compute_infer"), "ns")) > 0);
    FY_CHECK(json_object_get(json_object_get(is, "fail"), "count") != NULL);
    FY_CHECK(json_object_get(json_object_get(is, "queue"), "ns") != NULL);
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/stats", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/versions/1.0.0/stats", NULL, NULL),
                200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion-cnn/versions/3/stats", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/nope/stats", NULL, NULL), 404);

    /* Metrics saw them too. */
    FY_CHECK_EQ(http_s(p, "GET", "/metrics", NULL, NULL, &r), 200);
    FY_CHECK_CONTAINS(r.body, "fashion-cnn");
    hres_free(&r);
}

TEST(management_from_loopback_without_keys)
{
    int p = A.port;
    hres r;
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/index", NULL, NULL, &r), 200);
    json_t *j = parse(&r, r.len);
    FY_CHECK_EQ(json_array_size(j), 1);
    json_t *e = json_array_get(j, 0);
    FY_CHECK_STR(json_string_value(json_object_get(e, "name")), "fashion-cnn");
    FY_CHECK_STR(json_string_value(json_object_get(e, "state")), "READY");
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/index", NULL, "{\"ready\": true}"), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/index", NULL, "{\"ready\": 3}"), 400);
    /* Load parameters could name other files: refused. */
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/models/fashion-cnn/load", NULL,
                       "{\"parameters\": {\"config\": \"{}\", \"file:/x\": \"AA==\"}}", &r),
                400);
    FY_CHECK_CONTAINS(r.body, "parameters");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/nope/load", NULL, NULL), 404);
}

TEST(errors_have_the_protocol_shape)
{
    int p = A.port;
    hres r;
    /* Bad JSON, wrong tensors. */
    FY_CHECK_EQ(http_s(p, "POST", "/v2/models/fashion-cnn/infer", NULL, "{\"inputs\": [", &r), 400);
    json_t *j = parse(&r, r.len);
    FY_CHECK(json_string_value(json_object_get(j, "error")) != NULL);
    FY_CHECK_STR(hdr(&r, "Content-Type"), "application/json");
    json_decref(j);
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/predict", NULL, "not json"), 400);
    FY_CHECK_EQ(http_s(p, "POST", "/predict", NULL, "{\"image\": [1, 2, 3]}", &r), 400);
    FY_CHECK_CONTAINS(r.body, "image");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v1/models/fashion-cnn:predict", NULL, "{\"instances\": 5}"),
                400);
    FY_CHECK_EQ(status_of(p, "POST", "/predict", NULL, ""), 400);
    /* Unknown models, versions and routes. */
    FY_CHECK_EQ(http_s(p, "POST", "/v2/models/nope/infer", NULL, "{}", &r), 404);
    FY_CHECK_CONTAINS(r.body, "\"error\"");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v1/models/nope:predict", NULL, "{}"), 404);
    FY_CHECK_EQ(status_of(p, "POST", "/predict/nope", NULL, "{}"), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/nope", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/nope/metadata", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/nope", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/nope", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "POST", "/v1/models/fashion-cnn:classify", NULL, "{}"), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/a..b", NULL, NULL), 400);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/.hidden", NULL, NULL), 400);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/a%2f..%2fb", NULL, NULL), 404);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/x/versions/..", NULL, NULL), 400);
    /* Wrong methods name the right one. */
    FY_CHECK_EQ(http_s(p, "GET", "/predict", NULL, NULL, &r), 405);
    FY_CHECK_STR(hdr(&r, "Allow"), "POST");
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "POST", "/healthz/live", NULL, "x", &r), 405);
    FY_CHECK_STR(hdr(&r, "Allow"), "GET, HEAD");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "DELETE", "/v2/models/fashion-cnn", NULL, NULL), 405);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/repository/index", NULL, NULL), 405);
    /* Request ids: echoed when sane, generated otherwise. */
    FY_CHECK_EQ(http_s(p, "GET", "/healthz/live", "X-Request-Id: abc-123\r\n", NULL, &r), 200);
    FY_CHECK_STR(hdr(&r, "X-Request-Id"), "abc-123");
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "GET", "/healthz/live", "X-Request-Id: bad id\"\r\n", NULL, &r), 200);
    const char *id = hdr(&r, "X-Request-Id");
    FY_CHECK(id && strlen(id) == 20 && !strchr(id, '"'));
    hres_free(&r);
}

TEST(limits_on_body_and_headers)
{
    int p = A.port;
    hres r;
    /* Content-Length over the limit: 413 before the body is read, then closed. */
    int fd = dial(p);
    char head[256];
    snprintf(head, sizeof head,
             "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n", 3 << 20);
    FY_CHECK_EQ(send_all(fd, head, strlen(head)), 0);
    FY_CHECK_EQ(read_resp(fd, &r, 0), 0);
    FY_CHECK_EQ(r.status, 413);
    FY_CHECK_CONTAINS(r.body, "limit");
    FY_CHECK_STR(hdr(&r, "Connection"), "close");
    hres_free(&r);
    close(fd);
    /* Management and GET bodies have a small limit of their own. */
    char *big = malloc(100000);
    memset(big, ' ', 100000);
    FY_CHECK_EQ(http(p, "POST", "/v2/repository/index", NULL, big, 100000, &r), 413);
    hres_free(&r);
    free(big);
    /* A chunked body that grows past the limit: the connection is cut. */
    fd = dial(p);
    const char *ch =
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    FY_CHECK_EQ(send_all(fd, ch, strlen(ch)), 0);
    char *chunk = malloc(65536 + 16);
    int n = snprintf(chunk, 16, "10000\r\n");
    memset(chunk + n, 'x', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    int sent_ok = 1;
    for (int i = 0; i < 40 && sent_ok; i++) /* 2.5 MiB against a 2 MiB limit */
        sent_ok = send_all(fd, chunk, (size_t)n + 65538) == 0;
    free(chunk);
    if (sent_ok)
        send_all(fd, "0\r\n\r\n", 5);
    FY_CHECK(read_resp(fd, &r, 0) != 0 || r.status != 200);
    hres_free(&r);
    close(fd);
    /* An 8 KiB header (a big cookie or token) fits the per-connection memory. */
    char *hmid = malloc(8 * 1024 + 32);
    memcpy(hmid, "X-Mid: ", 7);
    memset(hmid + 7, 'a', 8 * 1024);
    memcpy(hmid + 7 + 8 * 1024, "\r\n", 3);
    fd = dial(p);
    char mline[64];
    snprintf(mline, sizeof mline, "GET /healthz/live HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    send_all(fd, mline, strlen(mline));
    send_all(fd, hmid, strlen(hmid));
    send_all(fd, "\r\n", 2);
    FY_CHECK_EQ(read_resp(fd, &r, 0), 0);
    FY_CHECK_EQ(r.status, 200);
    hres_free(&r);
    close(fd);
    free(hmid);
    /* A header section over the per-connection memory: 431. */
    char *hbig = malloc(100 * 1024 + 32);
    memcpy(hbig, "X-Big: ", 7);
    memset(hbig + 7, 'a', 100 * 1024);
    memcpy(hbig + 7 + 100 * 1024, "\r\n", 3);
    fd = dial(p);
    char line[64];
    snprintf(line, sizeof line, "GET /healthz/live HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    send_all(fd, line, strlen(line));
    send_all(fd, hbig, strlen(hbig));
    send_all(fd, "\r\n", 2);
    int got = read_resp(fd, &r, 0);
    FY_CHECK(got != 0 || r.status == 431);
    hres_free(&r);
    close(fd);
    free(hbig);
    /* And the server is still fine. */
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/live", NULL, NULL), 200);
}

TEST(host_and_origin_checks)
{
    int p = A.port;
    hres r;
    FY_CHECK_EQ(http_s(p, "GET", "/v2", "Host: evil.example:8080\r\n", NULL, &r), 403);
    FY_CHECK_CONTAINS(r.body, "Host");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/predict", "Host: attacker.test\r\n", "{}"), 403);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Host: localhost:1234\r\n", NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Host: LOCALHOST\r\n", NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Host: 127.0.0.1\r\n", NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Host: [::1]:80\r\n", NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Host: localhost:80x\r\n", NULL), 403);
    /* A web page's cross-origin request. */
    char h[160];
    snprintf(h, sizeof h, "Origin: http://evil.example\r\n");
    FY_CHECK_EQ(http_s(p, "POST", "/predict", h, "{}", &r), 403);
    FY_CHECK_CONTAINS(r.body, "Origin");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", "Origin: null\r\n", NULL), 403);
    snprintf(h, sizeof h, "Origin: http://127.0.0.1:%d\r\n", p);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", h, NULL), 200);
}

TEST(keep_alive_serves_many_requests_on_one_connection)
{
    int p = A.port;
    int fd = dial(p);
    FY_CHECK(fd >= 0);
    char *b = body_for("single", 1, 1.0f);
    hres r;
    for (int i = 0; i < 6; i++) {
        int rc = i % 2 ? on_conn(fd, p, "POST", "/predict", NULL, b, strlen(b), &r)
                       : on_conn(fd, p, "GET", "/healthz/live", NULL, NULL, 0, &r);
        FY_CHECK_EQ(rc, 0);
        FY_CHECK_EQ(r.status, 200);
        FY_CHECK(hdr(&r, "Connection") == NULL);
        hres_free(&r);
    }
    /* An error answer keeps the connection when the body was read. */
    FY_CHECK_EQ(on_conn(fd, p, "POST", "/predict", NULL, "{", 1, &r), 0);
    FY_CHECK_EQ(r.status, 400);
    hres_free(&r);
    FY_CHECK_EQ(on_conn(fd, p, "GET", "/healthz/live", NULL, NULL, 0, &r), 0);
    FY_CHECK_EQ(r.status, 200);
    hres_free(&r);
    free(b);
    close(fd);
}

TEST(slow_clients_are_dropped_and_others_served)
{
    int p = A.port;
    /* Half a request line and headers, then nothing. */
    int slow = dial_addr("127.0.0.1", p, 6000);
    const char *half = "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le";
    FY_CHECK_EQ(send_all(slow, half, strlen(half)), 0);
    /* Headers complete, half the body. */
    int slow2 = dial_addr("127.0.0.1", p, 6000);
    const char *half2 =
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"ima";
    FY_CHECK_EQ(send_all(slow2, half2, strlen(half2)), 0);
    int64_t t0 = now_ms();
    /* Others are served meanwhile. */
    char *b = body_for("single", 1, 1.0f);
    for (int i = 0; i < 3; i++)
        FY_CHECK_EQ(status_of(p, "POST", "/predict", NULL, b), 200);
    free(b);
    char c;
    ssize_t k = recv(slow, &c, 1, 0);
    FY_CHECK(k <= 0);
    hres r;
    int got = read_resp(slow2, &r, 0);
    FY_CHECK(got != 0 || r.status >= 400);
    hres_free(&r);
    int64_t took = now_ms() - t0;
    FY_CHECK(took < 5000); /* dropped by the 1 s timeout, not by our 6 s receive timeout */
    close(slow);
    close(slow2);
}

/* Every allocation of a request failing in turn: an error answer or a closed
 * connection, never a crash or a leak (ASan), and the server serves on. */
TEST(allocation_failures_during_requests)
{
    int p = A.port;
    char *b = body_for("v2", 1, 1.0f / 255);
    int answered = 0, closed = 0;
    for (long n = 1; n <= 60; n++) {
        hres r;
        fy__alloc_fail_at(n);
        int st = http_s(p, "POST", "/v2/models/fashion-cnn/infer", NULL, b, &r);
        fy__alloc_fail_at(0);
        hres_free(&r);
        if (st < 0)
            closed++;
        else
            answered++;
        FY_CHECK(st < 0 || st == 200 || st == 400 || st == 500 || st == 503);
    }
    FY_CHECK(answered > 0);
    printf("     answered %d, closed %d\n", answered, closed);
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/ready", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion-cnn/infer", NULL, b), 200);
    free(b);
}

TEST(allocation_failures_while_creating)
{
    const char *paths[] = {FASHION};
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 1;
    o.log_path = path_in("alloc.log");
    int failed = 0;
    for (long n = 1; n <= 80; n++) {
        fy_server *s = NULL;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = fy_server_create(&s, paths, 1, &o, &d);
        fy__alloc_fail_at(0);
        if (rc != FY_OK) {
            FY_CHECK(s == NULL);
            FY_CHECK(d.msg[0] != 0);
            failed++;
        }
        fy_server_free(s);
    }
    printf("     %d of 80 failed\n", failed);
    FY_CHECK(failed > 0);
}

TEST(access_log_lines)
{
    /* Lines are written as requests complete; the log holds the earlier tests. */
    char *log = read_text(path_in("a.log"));
    FY_CHECK(log != NULL);
    if (!log)
        return;
    FY_CHECK_CONTAINS(log, "\"event\":\"listening\"");
    FY_CHECK_CONTAINS(log, "\"event\":\"model\"");
    FY_CHECK_CONTAINS(log, "\"event\":\"access\",\"id\":\"abc-123\",\"method\":\"GET\","
                           "\"path\":\"/healthz/live\",\"status\":200");
    FY_CHECK_CONTAINS(log, "\"model\":\"fashion-cnn\",\"version\":\"1.0.0\"");
    FY_CHECK_CONTAINS(log, "\"bytes_in\":");
    FY_CHECK_CONTAINS(log, "\"bytes_out\":");
    FY_CHECK_CONTAINS(log, "\"event\":\"audit\"");
    FY_CHECK_CONTAINS(log, "\"action\":\"index\"");
    /* Every line is one JSON object with a timestamp first. */
    int lines = 0, bad = 0;
    for (char *save = NULL, *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(l, 0, &e);
        if (!j || !json_string_value(json_object_get(j, "ts")) || strncmp(l, "{\"ts\":\"", 7))
            bad++;
        json_decref(j);
        lines++;
    }
    FY_CHECK(lines > 50);
    FY_CHECK_EQ(bad, 0);
    free(log);
}

/* ------------------------------------------------------------------------- */
/* A repository with keys                                                     */
/* ------------------------------------------------------------------------- */

/* The CLI's shape: signal handlers that only call the request functions. */
static fy_server *signalled;
static void on_signal(int sig)
{
    if (sig == SIGTERM)
        fy_server_request_stop(signalled);
    else
        fy_server_request_reload(signalled);
}

static srv B;
static const char *INFER_KEY = "infer-secret-0123456789";
static const char *ADMIN_KEY = "admin-secret-9876543210";

static int start_repo_server(void)
{
    const char *mk[] = {"repo",           "repo/fashion", "repo/fashion/1",
                        "repo/fashion/2", "repo/other",   "repo/other/1"};
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++)
        mkdir(path_in(mk[i]), 0755);
    if (copy_file(FASHION, path_in("repo/fashion/1/model.onnx")) ||
        copy_file(FASHION, path_in("repo/fashion/2/model.onnx")) ||
        copy_file(FASHION, path_in("repo/other/1/model.onnx")))
        return -1;
    char a[65], b[65], keys[512];
    fy_serve_hash_key(INFER_KEY, a);
    fy_serve_hash_key(ADMIN_KEY, b);
    snprintf(keys, sizeof keys, "# test keys\ninfer %s app\nadmin %s ops\n", a, b);
    write_text(path_in("keys"), keys);
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.keys_file = path_in("keys");
    o.version_policy_latest = 2;
    o.log_path = path_in("b.log");
    o.request_timeout_ms = 5000;
    const char *paths[] = {path_in("repo")};
    return srv_start(&B, paths, 1, &o);
}

static char auth_infer[128], auth_admin[128];

TEST(keys_and_roles)
{
    int p = B.port;
    hres r;
    char *b = body_for("v2", 1, 1.0f / 255);
    /* No key, a wrong key, a malformed header: 401 with a challenge. */
    FY_CHECK_EQ(http_s(p, "POST", "/v2/models/fashion/infer", NULL, b, &r), 401);
    FY_CHECK_STR(hdr(&r, "WWW-Authenticate"), "Bearer realm=\"ferry\"");
    FY_CHECK_CONTAINS(r.body, "API key");
    hres_free(&r);
    FY_CHECK_EQ(
        status_of(p, "POST", "/v2/models/fashion/infer", "Authorization: Bearer wrong\r\n", b),
        401);
    FY_CHECK_EQ(
        status_of(p, "POST", "/v2/models/fashion/infer", "Authorization: Basic eDp5\r\n", b), 401);
    FY_CHECK_EQ(status_of(p, "GET", "/metrics", NULL, NULL), 401);
    FY_CHECK_EQ(status_of(p, "GET", "/v2", NULL, NULL), 401);
    FY_CHECK_EQ(status_of(p, "GET", "/v1/models/fashion", NULL, NULL), 401);
    /* Health stays open for probes. */
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/live", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/ready", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/health/live", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/health/ready", NULL, NULL), 200);
    /* The infer key infers, reads metadata and metrics. */
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion/infer", auth_infer, b), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion/versions/1/infer", auth_infer, b), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/fashion/versions/2/infer", auth_infer, b), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/other/infer", auth_infer, b), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/metrics", auth_infer, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion", auth_infer, NULL), 200);
    /* ... but does not manage. */
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/index", auth_infer, NULL, &r), 403);
    FY_CHECK_CONTAINS(r.body, "admin");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/other/unload", auth_infer, NULL), 403);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/other/unload", NULL, NULL), 401);
    /* Several models: POST /predict needs a name. */
    char *pb = body_for("single", 1, 1.0f / 255);
    FY_CHECK_EQ(http_s(p, "POST", "/predict", auth_infer, pb, &r), 404);
    FY_CHECK_CONTAINS(r.body, "/predict/NAME");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/predict/fashion", auth_infer, pb), 200);
    free(pb);
    /* TF Serving lists both versions. */
    FY_CHECK_EQ(http_s(p, "GET", "/v1/models/fashion", auth_infer, NULL, &r), 200);
    json_t *j = parse(&r, r.len);
    FY_CHECK_EQ(json_array_size(json_object_get(j, "model_version_status")), 2);
    json_decref(j);
    hres_free(&r);
    free(b);
}

TEST(admin_manages_the_repository_with_an_audit_trail)
{
    int p = B.port;
    hres r;
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/index", auth_admin, "{}", &r), 200);
    json_t *j = parse(&r, r.len);
    FY_CHECK_EQ(json_array_size(j), 3);
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "name")), "fashion");
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(j, 2), "name")), "other");
    json_decref(j);
    hres_free(&r);

    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/other/unload", auth_admin, NULL), 200);
    FY_CHECK(status_of(p, "GET", "/v2/models/other/ready", auth_admin, NULL) != 200);
    char *b = body_for("v2", 1, 1.0f / 255);
    int st = status_of(p, "POST", "/v2/models/other/infer", auth_infer, b);
    FY_CHECK(st == 404 || st == 503);
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/ready", NULL, NULL), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/other/load", auth_admin, "{}"), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/other/ready", auth_admin, NULL), 200);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/models/other/infer", auth_infer, b), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/ready", NULL, NULL), 200);
    free(b);

    /* A model that fails to load: the admin hears why; readiness says which
     * model without naming files. */
    mkdir(path_in("repo/broken"), 0755);
    mkdir(path_in("repo/broken/1"), 0755);
    write_text(path_in("repo/broken/1/model.onnx"), "this is not a model");
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/models/broken/load", auth_admin, NULL, &r), 400);
    FY_CHECK_CONTAINS(r.body, "broken/1/model.onnx: invalid model");
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "GET", "/healthz/ready", NULL, NULL, &r), 503);
    FY_CHECK_STR(hdr(&r, "Retry-After"), "1");
    FY_CHECK_CONTAINS(r.body, "model 'broken'");
    FY_CHECK_CONTAINS(r.body, "<path>: invalid model");
    FY_CHECK(strstr(r.body, dir) == NULL);
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "GET", "/v2/health/ready", NULL, NULL, &r), 503);
    FY_CHECK(strstr(r.body, dir) == NULL);
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "GET", "/v1/models/broken", auth_infer, NULL, &r), 200);
    json_t *j2 = parse(&r, r.len);
    json_t *s0 = json_array_get(json_object_get(j2, "model_version_status"), 0);
    FY_CHECK_STR(json_string_value(json_object_get(s0, "state")), "END");
    FY_CHECK_STR(json_string_value(json_object_get(json_object_get(s0, "status"), "error_code")),
                 "UNKNOWN");
    FY_CHECK(strstr(r.body, dir) == NULL);
    json_decref(j2);
    hres_free(&r);
    FY_CHECK_EQ(http_s(p, "POST", "/v2/repository/index", auth_admin, NULL, &r), 200);
    FY_CHECK_CONTAINS(r.body, "{\"name\":\"broken\",\"version\":\"1\",\"state\":"
                              "\"UNAVAILABLE\",\"reason\":\"/tmp/");
    hres_free(&r);
    FY_CHECK_EQ(status_of(p, "POST", "/v2/repository/models/broken/unload", auth_admin, NULL), 200);
    FY_CHECK_EQ(status_of(p, "GET", "/healthz/ready", NULL, NULL), 200);

    /* SIGHUP reload is logged and leaves the models serving. */
    signalled = B.s;
    signal(SIGHUP, on_signal);
    raise(SIGHUP);
    signal(SIGHUP, SIG_DFL);
    int64_t until = now_ms() + 5000;
    char *log = NULL;
    while (now_ms() < until) {
        free(log);
        log = read_text(path_in("b.log"));
        if (log && strstr(log, "\"event\":\"reload\""))
            break;
        sleep_ms(20);
    }
    FY_CHECK_CONTAINS(log, "\"event\":\"reload\",\"outcome\":\"ok\"");
    FY_CHECK_EQ(status_of(p, "GET", "/v2/models/fashion/ready", auth_infer, NULL), 200);

    free(log);
    log = read_text(path_in("b.log"));
    FY_CHECK_CONTAINS(log, "\"event\":\"audit\"");
    FY_CHECK_CONTAINS(log, "\"who\":\"ops\",\"peer\":\"127.0.0.1\",\"action\":\"unload\","
                           "\"model\":\"other\",\"outcome\":\"ok\"");
    FY_CHECK_CONTAINS(log, "\"action\":\"load\",\"model\":\"other\",\"outcome\":\"ok\"");
    FY_CHECK_CONTAINS(log, "\"who\":\"app\",\"peer\":\"127.0.0.1\",\"action\":\"index\","
                           "\"model\":\"\",\"outcome\":\"denied\"");
    FY_CHECK_CONTAINS(log, "\"who\":\"anonymous\",\"peer\":\"127.0.0.1\",\"action\":\"unload\","
                           "\"model\":\"other\",\"outcome\":\"denied\"");
    /* Keys never reach the log. */
    FY_CHECK(strstr(log, INFER_KEY) == NULL);
    FY_CHECK(strstr(log, ADMIN_KEY) == NULL);
    free(log);
}

/* Without keys, management needs a loopback peer: reach the server through a
 * non-loopback address of this machine (skipped when there is none). */
TEST(management_refused_from_other_hosts_without_keys)
{
    char ip[INET_ADDRSTRLEN] = "";
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
            if ((ntohl(a->sin_addr.s_addr) >> 24) == 127)
                continue;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            break;
        }
        freeifaddrs(ifs);
    }
    if (!ip[0]) {
        printf("     (skipped: no non-loopback IPv4 address)\n");
        return;
    }
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.host = "0.0.0.0";
    o.http_threads = 1;
    o.quiet = 1;
    o.log_path = path_in("c.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    int fd = dial_addr(ip, s.port, 5000);
    FY_CHECK(fd >= 0);
    if (fd >= 0) {
        hres r;
        /* Bound to 0.0.0.0: any Host is fine; the peer is what counts. */
        FY_CHECK_EQ(on_conn(fd, s.port, "POST", "/v2/repository/index",
                            "Host: model.example.com\r\n", NULL, 0, &r),
                    0);
        FY_CHECK_EQ(r.status, 403);
        FY_CHECK_CONTAINS(r.body, "loopback");
        hres_free(&r);
        FY_CHECK_EQ(on_conn(fd, s.port, "GET", "/v2/models/fashion_cnn/ready",
                            "Host: model.example.com\r\n", NULL, 0, &r),
                    0);
        FY_CHECK_EQ(r.status, 200);
        hres_free(&r);
        close(fd);
    }
    FY_CHECK_EQ(status_of(s.port, "POST", "/v2/repository/index", NULL, NULL), 200);
    srv_stop(&s);
}

/* ------------------------------------------------------------------------- */
/* Overload and stop                                                          */
/* ------------------------------------------------------------------------- */

typedef struct client {
    int port;
    const char *body;
    int status;
    atomic_int sent; /* the whole request is on the wire */
    /* load loop */
    atomic_int *stop;
    int ok, refused, other;
} client;

static void *one_request(void *p)
{
    client *c = p;
    hres r;
    memset(&r, 0, sizeof r);
    c->status = -1;
    int fd = dial(c->port);
    if (fd >= 0) {
        char head[256];
        size_t n = strlen(c->body);
        snprintf(head, sizeof head,
                 "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n", n);
        if (send_all(fd, head, strlen(head)) == 0 && send_all(fd, c->body, n) == 0) {
            atomic_store(&c->sent, 1);
            if (read_resp(fd, &r, 0) == 0)
                c->status = r.status;
        }
        close(fd);
    }
    atomic_store(&c->sent, 1);
    hres_free(&r);
    return NULL;
}

/* Waits until every client has sent its request, then a little for the server
 * to read them. */
static void wait_sent(client *c, int n)
{
    int64_t until = now_ms() + 5000;
    for (int i = 0; i < n; i++)
        while (!atomic_load(&c[i].sent) && now_ms() < until)
            sleep_ms(2);
    sleep_ms(50);
}

TEST(overload_sheds_with_retry_after)
{
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 1;
    o.quiet = 1;
    o.queue_capacity = 1;
    o.max_batch_size = 1;
    o.max_queue_delay_us = 0;
    o.log_path = path_in("d.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    char *b = body_for("instances", 1, 1.0f / 255);
    enum { N = 12 };
    client c[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].port = s.port;
        c[i].body = b;
        pthread_create(&t[i], NULL, one_request, &c[i]);
    }
    int ok = 0, shed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += c[i].status == 200;
        shed += c[i].status == 503 || c[i].status == 429;
    }
    FY_CHECK(ok >= 1);
    FY_CHECK_EQ(ok + shed, N);
    /* The shed ones said when to come back. */
    hres r;
    int seen = 0;
    for (int i = 0; i < 40 && !seen; i++) {
        client cc[6];
        pthread_t tt[6];
        for (int k = 0; k < 6; k++) {
            memset(&cc[k], 0, sizeof cc[k]);
            cc[k].port = s.port;
            cc[k].body = b;
            pthread_create(&tt[k], NULL, one_request, &cc[k]);
        }
        int st = http_s(s.port, "POST", "/predict", NULL, b, &r);
        if (st == 503 || st == 429) {
            seen = 1;
            FY_CHECK_STR(hdr(&r, "Retry-After"), "1");
            FY_CHECK_CONTAINS(r.body, "\"error\"");
        }
        hres_free(&r);
        for (int k = 0; k < 6; k++)
            pthread_join(tt[k], NULL);
    }
    FY_CHECK(shed > 0 || seen);
    free(b);
    srv_stop(&s);
}

static void *load_loop(void *p)
{
    client *c = p;
    while (!atomic_load(c->stop)) {
        hres r;
        int st = http_s(c->port, "POST", "/predict", NULL, c->body, &r);
        hres_free(&r);
        if (st == 200)
            c->ok++;
        else if (st < 0 || st == 503)
            c->refused++; /* after the stop: refused, closed before an answer, or
                             arrived on an open connection as the server stopped */
        else
            c->other++;
        if (st < 0)
            sleep_ms(5);
    }
    return NULL;
}

/* Clients that each wait for their answer send nothing more until answered: once
 * every request the server holds is in the batch, the batcher runs it instead of
 * waiting out a 10 s queue delay (which the 3 s request timeout would turn into
 * 503s). */
TEST(gathering_stops_when_nothing_more_is_on_the_way)
{
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.quiet = 1;
    o.max_batch_size = 64;
    o.max_queue_delay_us = 10000000;
    o.request_timeout_ms = 3000;
    o.log_path = path_in("gs.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    char *b = body_for("instances", 1, 1.0f / 255);
    enum { NP = 6 };
    for (int round = 0; round < 3; round++) {
        client held[NP];
        pthread_t tp[NP];
        for (int i = 0; i < NP; i++) {
            memset(&held[i], 0, sizeof held[i]);
            held[i].port = s.port;
            held[i].body = b;
            pthread_create(&tp[i], NULL, one_request, &held[i]);
        }
        for (int i = 0; i < NP; i++) {
            pthread_join(tp[i], NULL);
            FY_CHECK_EQ(held[i].status, 200);
        }
    }
    fy_server_request_stop(s.s);
    pthread_join(s.t, NULL);
    fy_server_free(s.s);
    free(b);
}

TEST(stop_under_load_finishes_every_accepted_request)
{
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.quiet = 1;
    /* Requests wait up to 300 ms for a batch to fill: at the stop several are
     * surely in flight. */
    o.max_batch_size = 64;
    o.max_queue_delay_us = 300000;
    o.drain_timeout_ms = 5000;
    o.log_path = path_in("e.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    char *b = body_for("instances", 1, 1.0f / 255);
    atomic_int stop = 0;
    enum { NL = 3, NP = 6 };
    client load[NL], held[NP];
    pthread_t tl[NL], tp[NP];
    for (int i = 0; i < NL; i++) {
        memset(&load[i], 0, sizeof load[i]);
        load[i].port = s.port;
        load[i].body = b;
        load[i].stop = &stop;
        pthread_create(&tl[i], NULL, load_loop, &load[i]);
    }
    for (int i = 0; i < NP; i++) {
        memset(&held[i], 0, sizeof held[i]);
        held[i].port = s.port;
        held[i].body = b;
        pthread_create(&tp[i], NULL, one_request, &held[i]);
    }
    wait_sent(held, NP);
    int64_t t_stop = now_ms();
    signalled = s.s;
    signal(SIGTERM, on_signal);
    raise(SIGTERM);
    signal(SIGTERM, SIG_DFL);
    for (int i = 0; i < NP; i++)
        pthread_join(tp[i], NULL);
    int64_t until = now_ms() + 8000;
    while (!atomic_load(&s.done) && now_ms() < until)
        sleep_ms(5);
    FY_CHECK(atomic_load(&s.done));
    atomic_store(&stop, 1);
    for (int i = 0; i < NL; i++)
        pthread_join(tl[i], NULL);
    pthread_join(s.t, NULL);
    FY_CHECK_EQ(s.run_rc, FY_OK);
    FY_CHECK(now_ms() - t_stop < 3000);
    /* Every request in flight at the stop finished with 200. */
    for (int i = 0; i < NP; i++)
        FY_CHECK_EQ(held[i].status, 200);
    /* The load clients saw answers of 200 or no answer at all, never an error. */
    int ok = 0;
    for (int i = 0; i < NL; i++) {
        FY_CHECK_EQ(load[i].other, 0);
        ok += load[i].ok;
    }
    FY_CHECK(ok > 0);
    /* Nothing listens any more. */
    FY_CHECK_EQ(status_of(s.port, "GET", "/healthz/live", NULL, NULL), -1);
    char *log = read_text(path_in("e.log"));
    FY_CHECK_CONTAINS(log, "\"event\":\"drain_begin\"");
    FY_CHECK_CONTAINS(log, "\"event\":\"stopped\"");
    FY_CHECK_CONTAINS(log, "\"answered_503\":0");
    free(log);
    fy_server_free(s.s);
    free(b);
}

/* Readiness turns 503 as soon as the drain starts, while in-flight requests
 * still finish. */
TEST(ready_turns_false_while_draining)
{
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.quiet = 1;
    o.max_batch_size = 64;
    o.max_queue_delay_us = 400000;
    o.drain_timeout_ms = 5000;
    o.log_path = path_in("f.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    char *b = body_for("instances", 1, 1.0f / 255);
    /* A keep-alive connection opened before the stop can still ask. */
    int fd = dial(s.port);
    client held;
    memset(&held, 0, sizeof held);
    held.port = s.port;
    held.body = b;
    pthread_t t;
    pthread_create(&t, NULL, one_request, &held);
    wait_sent(&held, 1);
    fy_server_request_stop(s.s);
    sleep_ms(50);
    hres r;
    FY_CHECK_EQ(on_conn(fd, s.port, "GET", "/healthz/ready", NULL, NULL, 0, &r), 0);
    FY_CHECK_EQ(r.status, 503);
    FY_CHECK_CONTAINS(r.body, "draining");
    FY_CHECK_STR(hdr(&r, "Connection"), "close");
    FY_CHECK_STR(hdr(&r, "Retry-After"), "1");
    hres_free(&r);
    close(fd);
    pthread_join(t, NULL);
    FY_CHECK_EQ(held.status, 200);
    pthread_join(s.t, NULL);
    fy_server_free(s.s);
    free(b);
}

/* A drain deadline shorter than the work: requests still in flight when it passes
 * are answered 503 (never left hanging), and run returns on time. The work is a V2
 * binary request of 4000 rows on the only instance (about a second of compute, and
 * no JSON to decode, so it is running well before the second request arrives),
 * with a small request queued behind it. */
typedef struct big_req {
    int port, status;
    char *body;
    size_t len, json_len;
} big_req;

static void *send_big(void *p)
{
    big_req *b = p;
    char hh[128];
    hres r;
    snprintf(hh, sizeof hh,
             "Inference-Header-Content-Length: %zu\r\nContent-Type: application/octet-stream\r\n",
             b->json_len);
    b->status = http(b->port, "POST", "/v2/models/fashion_cnn/infer", hh, b->body, b->len, &r);
    hres_free(&r);
    return NULL;
}

TEST(drain_deadline_answers_what_is_left)
{
    /* The big request must still be running when the drain deadline passes: one
     * engine thread and enough rows for seconds of work even with the fast kernels. */
    enum { ROWS = 16000 };
    srv s;
    fy_serve_opts o = {0};
    o.port = -1;
    o.engine_threads = 1;
    o.http_threads = 1;
    o.quiet = 1;
    o.instances = 1;
    o.max_batch_size = 64;
    o.drain_timeout_ms = 150;
    o.log_path = path_in("g.log");
    const char *paths[] = {FASHION};
    if (srv_start(&s, paths, 1, &o) != FY_OK) {
        FY_CHECK(0);
        return;
    }
    big_req big = {s.port, 0, NULL, 0, 0};
    char jh[256];
    big.json_len = (size_t)snprintf(jh, sizeof jh,
                                    "{\"inputs\":[{\"name\":\"image\",\"shape\":[%d,1,28,28],"
                                    "\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":%d}}]}",
                                    ROWS, ROWS * 784 * 4);
    big.len = big.json_len + (size_t)ROWS * 784 * 4;
    big.body = calloc(1, big.len);
    memcpy(big.body, jh, big.json_len);
    char *small = body_for("instances", 1, 1.0f / 255);
    client held;
    memset(&held, 0, sizeof held);
    held.port = s.port;
    held.body = small;
    pthread_t tb, ts;
    pthread_create(&tb, NULL, send_big, &big);
    /* The big request must be running before the small one is sent: wait until a
     * request has left the queue for a batch (ferry_queue_duration_seconds counts
     * it), not a fixed time: receiving and decoding 50 MB takes longer than any
     * fixed sleep on a loaded machine under the sanitizers. */
    int running = 0;
    for (int i = 0; i < 1000 && !running; i++) {
        hres mr;
        if (http(s.port, "GET", "/metrics", NULL, NULL, 0, &mr) == 200 && mr.body) {
            const char *p = strstr(mr.body, "\nferry_queue_duration_seconds_count{");
            const char *sp = p ? strchr(p + 1, ' ') : NULL;
            running = sp && strtod(sp, NULL) >= 1;
        }
        hres_free(&mr);
        if (!running)
            sleep_ms(20);
    }
    FY_CHECK(running);
    pthread_create(&ts, NULL, one_request, &held);
    wait_sent(&held, 1);
    int64_t t0 = now_ms();
    fy_server_request_stop(s.s);
    pthread_join(s.t, NULL);
    FY_CHECK(now_ms() - t0 < 700);
    pthread_join(tb, NULL);
    pthread_join(ts, NULL);
    if (held.status != 503)
        fprintf(stderr, "big request: %d, small: %d\n", big.status, held.status);
    FY_CHECK_EQ(held.status, 503); /* queued behind the big one */
    FY_CHECK(big.status == 503 || big.status == 200);
    fy_server_free(s.s); /* waits for the batch that was still running */
    char *log = read_text(path_in("g.log"));
    FY_CHECK_CONTAINS(log, "\"answered_503\":");
    free(log);
    free(big.body);
    free(small);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/fy_test_server_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(hash_key_is_sha256_hex);
    RUN(keys_file_parses_roles_and_refuses_mistakes);

    /* Server A: the example package (labels, preprocessing), no keys. */
    snprintf(pkg_path, sizeof pkg_path, "%s/fashion-cnn-1.0.0.ferry", dir);
    fy_diag d = {{0}};
    if (fy_package_pack(FASHION_DIR "/ferry.yaml", pkg_path, NULL, &d) != FY_OK) {
        fprintf(stderr, "cannot pack the example: %s\n", d.msg);
        return 1;
    }
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.request_timeout_ms = 1000; /* slow clients are dropped after 1 s */
    o.max_body_bytes = (size_t)2 << 20;
    o.log_path = path_in("a.log");
    const char *paths[] = {pkg_path};
    if (srv_start(&A, paths, 1, &o) != FY_OK)
        return 1;
    RUN(server_refuses_bad_options_and_addresses);
    RUN(health_metadata_and_metrics);
    RUN(inference_on_all_three_protocols);
    RUN(management_from_loopback_without_keys);
    RUN(errors_have_the_protocol_shape);
    RUN(limits_on_body_and_headers);
    RUN(host_and_origin_checks);
    RUN(keep_alive_serves_many_requests_on_one_connection);
    RUN(slow_clients_are_dropped_and_others_served);
    RUN(allocation_failures_during_requests);
    srv_stop(&A);
    RUN(allocation_failures_while_creating);
    RUN(access_log_lines);

    /* Server B: a repository folder, API keys. */
    if (start_repo_server() != FY_OK)
        return 1;
    snprintf(auth_infer, sizeof auth_infer, "Authorization: Bearer %s\r\n", INFER_KEY);
    snprintf(auth_admin, sizeof auth_admin, "Authorization: bearer  %s \r\n", ADMIN_KEY);
    RUN(keys_and_roles);
    RUN(admin_manages_the_repository_with_an_audit_trail);
    srv_stop(&B);
    RUN(management_refused_from_other_hosts_without_keys);

    RUN(overload_sheds_with_retry_after);
    RUN(gathering_stops_when_nothing_more_is_on_the_way);
    RUN(stop_under_load_finishes_every_accepted_request);
    RUN(ready_turns_false_while_draining);
    RUN(drain_deadline_answers_what_is_left);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
