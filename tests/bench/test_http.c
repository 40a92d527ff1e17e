/* SPDX-License-Identifier: MIT */
/* The load generator's HTTP client: response framing on good, split and hostile
 * bytes; URL parsing and request building; errors by kind against a small
 * misbehaving server in a thread (500s, garbage, early close, silence, close after
 * each answer); and the load generator against the real ferry server in-process
 * (counted runs, open loop, body checks, fetch). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_int.h"
#include "core/core.h"
#include "ferry/ferry.h"
#include "test.h"

static int parse(const char *text, int head, int eof, int *status, size_t *bo, size_t *bl,
                 size_t *used, int *ka, char *body_out, size_t body_cap)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    memcpy(buf, text, n + 1);
    int r = fy__http_parse(buf, n, head, eof, status, bo, bl, used, ka);
    if (r == 1 && body_out) {
        size_t k = *bl < body_cap - 1 ? *bl : body_cap - 1;
        memcpy(body_out, buf + *bo, k);
        body_out[k] = 0;
    }
    free(buf);
    return r;
}

TEST(parse_good_responses)
{
    int st, ka;
    size_t bo, bl, used;
    char body[256];
    const char *r1 =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
    FY_CHECK_EQ(parse(r1, 0, 0, &st, &bo, &bl, &used, &ka, body, sizeof body), 1);
    FY_CHECK_EQ(st, 200);
    FY_CHECK_STR(body, "hello");
    FY_CHECK_EQ(ka, 1);
    FY_CHECK_EQ(used, strlen(r1));
    /* chunked, with an extension and a trailer */
    const char *r2 = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                     "5;name=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
    FY_CHECK_EQ(parse(r2, 0, 0, &st, &bo, &bl, &used, &ka, body, sizeof body), 1);
    FY_CHECK_STR(body, "hello world");
    FY_CHECK_EQ(used, strlen(r2));
    /* HTTP/1.0 closes by default; Connection: close on 1.1 */
    FY_CHECK_EQ(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, &st, &bo, &bl, &used,
                      &ka, NULL, 0),
                1);
    FY_CHECK_EQ(ka, 0);
    FY_CHECK_EQ(parse("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0, 0,
                      &st, &bo, &bl, &used, &ka, NULL, 0),
                1);
    FY_CHECK_EQ(ka, 0);
    FY_CHECK_EQ(st, 503);
    /* no body for 204, 304 and HEAD, whatever the length says */
    FY_CHECK_EQ(parse("HTTP/1.1 204 No Content\r\n\r\n", 0, 0, &st, &bo, &bl, &used, &ka, NULL, 0),
                1);
    FY_CHECK_EQ(bl, 0);
    FY_CHECK_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 1, 0, &st, &bo, &bl, &used,
                      &ka, NULL, 0),
                1);
    FY_CHECK_EQ(bl, 0);
    /* no length: the body runs to the end of the stream */
    const char *r3 = "HTTP/1.1 200 OK\r\n\r\nuntil close";
    FY_CHECK_EQ(parse(r3, 0, 0, &st, &bo, &bl, &used, &ka, NULL, 0), 0);
    FY_CHECK_EQ(parse(r3, 0, 1, &st, &bo, &bl, &used, &ka, body, sizeof body), 1);
    FY_CHECK_STR(body, "until close");
    FY_CHECK_EQ(ka, 0);
    /* the same length twice is fine */
    FY_CHECK_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", 0, 0,
                      &st, &bo, &bl, &used, &ka, NULL, 0),
                1);
}

/* Every prefix of a complete response needs more bytes; the whole one parses. */
TEST(parse_incremental_prefixes)
{
    const char *rs[] = {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "b\r\nhello world\r\n0\r\n\r\n"};
    for (size_t k = 0; k < 2; k++) {
        size_t n = strlen(rs[k]);
        for (size_t cut = 0; cut < n; cut++) {
            char buf[256];
            memcpy(buf, rs[k], cut);
            int st, ka;
            size_t bo, bl, used;
            int r = fy__http_parse(buf, cut, 0, 0, &st, &bo, &bl, &used, &ka);
            if (r != 0)
                fprintf(stderr, "response %zu cut at %zu: %d\n", k, cut, r);
            FY_CHECK_EQ(r, 0);
        }
        char buf[256];
        memcpy(buf, rs[k], n);
        int st, ka;
        size_t bo, bl, used;
        FY_CHECK_EQ(fy__http_parse(buf, n, 0, 0, &st, &bo, &bl, &used, &ka), 1);
        FY_CHECK_EQ(bl, 11);
        FY_CHECK(memcmp(buf + bo, "hello world", 11) == 0);
    }
}

TEST(parse_refuses_hostile_framing)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st, ka;
        size_t bo, bl, used;
        int r = parse(bad[i], 0, 1, &st, &bo, &bl, &used, &ka, NULL, 0);
        if (r != -1)
            fprintf(stderr, "case %zu accepted (%d): %s\n", i, r, bad[i]);
        FY_CHECK_EQ(r, -1);
    }
    /* a head that never ends is refused once it passes the limit */
    size_t n = FY_HTTP_HEAD_MAX + 10;
    char *big = malloc(n);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(big + 20, 'a', n - 20);
    int st, ka;
    size_t bo, bl, used;
    FY_CHECK_EQ(fy__http_parse(big, n, 0, 0, &st, &bo, &bl, &used, &ka), -1);
    /* a stream that ends mid-body is an error at eof, "more" before */
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    FY_CHECK_EQ(parse(cut, 0, 0, &st, &bo, &bl, &used, &ka, NULL, 0), 0);
    FY_CHECK_EQ(parse(cut, 0, 1, &st, &bo, &bl, &used, &ka, NULL, 0), -1);
    free(big);
}

TEST(urls_and_requests)
{
    fy__url u;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__url_parse(&u, "http://127.0.0.1:8080/predict/x?a=1", &d), FY_OK);
    FY_CHECK_STR(u.host, "127.0.0.1");
    FY_CHECK_STR(u.port, "8080");
    FY_CHECK_STR(u.path, "/predict/x?a=1");
    FY_CHECK_EQ(fy__url_parse(&u, "http://[::1]:9/", &d), FY_OK);
    FY_CHECK_STR(u.host_header, "[::1]:9");
    FY_CHECK_EQ(fy__url_parse(&u, "http://localhost", &d), FY_OK);
    FY_CHECK_STR(u.path, "/");
    FY_CHECK_STR(u.port, "80");
    static const char *const bad[] = {
        "https://127.0.0.1/", "ftp://x/",     "http://",       "http://:80/", "http://a:0/",
        "http://a:65536/",    "http://a:8x/", "http://[::1/",  "http://a b/", "http://u@host/",
        "http://a/pa th",     "127.0.0.1:80", "http://[::1]x/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = fy__url_parse(&u, bad[i], &d);
        if (r != FY_EINVAL)
            fprintf(stderr, "accepted %s\n", bad[i]);
        FY_CHECK_EQ(r, FY_EINVAL);
    }
    FY_CHECK_EQ(fy__url_parse(&u, NULL, &d), FY_EINVAL);
    FY_CHECK_EQ(fy__url_parse(&u, "http://127.0.0.1:8080/p", &d), FY_OK);
    char *req = NULL;
    size_t len = 0;
    const char *hs[] = {"Authorization: Bearer k"};
    FY_CHECK_EQ(fy__http_build(&u, NULL, "{}", 2, NULL, 1, hs, &req, &len, &d), FY_OK);
    if (req) {
        FY_CHECK(len > 0 && strncmp(req, "POST /p HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", 40) == 0);
        FY_CHECK(strstr(req, "Content-Length: 2\r\n") != NULL);
        FY_CHECK(strstr(req, "Authorization: Bearer k\r\n\r\n{}") != NULL);
        free(req);
    }
    const char *inject[] = {"X: a\r\nHost: evil"};
    FY_CHECK_EQ(fy__http_build(&u, NULL, NULL, 0, NULL, 1, inject, &req, &len, &d), FY_EINVAL);
    const char *noname[] = {": v"};
    FY_CHECK_EQ(fy__http_build(&u, NULL, NULL, 0, NULL, 1, noname, &req, &len, &d), FY_EINVAL);
    FY_CHECK_EQ(fy__http_build(&u, "GE T", NULL, 0, NULL, 0, NULL, &req, &len, &d), FY_EINVAL);
}

/* ---- a misbehaving server ------------------------------------------------- */

enum { MODE_500, MODE_GARBAGE, MODE_CLOSE, MODE_SILENT, MODE_CLOSE_AFTER, MODE_CHUNKED };

typedef struct {
    int lfd, port, mode;
    volatile int stop;
} bad_srv;

static void *bad_main(void *arg)
{
    bad_srv *s = arg;
    int fds[64];
    int nfd = 0;
    char buf[8192];
    while (!s->stop) {
        struct pollfd p[65];
        p[0].fd = s->lfd;
        p[0].events = POLLIN;
        for (int i = 0; i < nfd; i++) {
            p[i + 1].fd = fds[i];
            p[i + 1].events = POLLIN;
        }
        if (poll(p, (nfds_t)nfd + 1, 50) <= 0)
            continue;
        if ((p[0].revents & POLLIN) && nfd < 64) {
            int c = accept(s->lfd, NULL, NULL);
            if (c >= 0)
                fds[nfd++] = c;
        }
        for (int i = 0; i < nfd; i++) {
            if (!(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = recv(fds[i], buf, sizeof buf, 0);
            int drop = n <= 0;
            if (!drop && strstr(buf, "\r\n\r\n")) {
                const char *ans = NULL;
                switch (s->mode) {
                case MODE_500:
                    ans = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops";
                    break;
                case MODE_GARBAGE: ans = "SSH-2.0-OpenSSH\r\n\r\n"; break;
                case MODE_CLOSE: drop = 1; break;
                case MODE_SILENT: break;
                case MODE_CLOSE_AFTER:
                    ans = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
                    break;
                default:
                    ans =
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
                }
                if (ans && send(fds[i], ans, strlen(ans), MSG_NOSIGNAL) < 0)
                    drop = 1;
                if (s->mode == MODE_CLOSE_AFTER || s->mode == MODE_GARBAGE)
                    drop = 1;
            }
            if (drop) {
                close(fds[i]);
                fds[i--] = fds[--nfd];
            }
        }
    }
    for (int i = 0; i < nfd; i++)
        close(fds[i]);
    return NULL;
}

static int bad_start(bad_srv *s, pthread_t *th, int mode)
{
    memset(s, 0, sizeof *s);
    s->mode = mode;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 64) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    s->port = ntohs(a.sin_port);
    return pthread_create(th, NULL, bad_main, s);
}

static void bad_stop(bad_srv *s, pthread_t th)
{
    s->stop = 1;
    pthread_join(th, NULL);
    close(s->lfd);
}

static fy_bench_result run_against(int mode, int64_t n, int timeout_ms)
{
    bad_srv s;
    pthread_t th;
    fy_bench_result r;
    memset(&r, 0, sizeof r);
    if (bad_start(&s, &th, mode) != 0) {
        FY_CHECK(0);
        return r;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", s.port);
    fy_bench_opts o = {.url = url, .connections = 2, .requests = n, .timeout_ms = timeout_ms};
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_bench_run(&o, &r, &d), FY_OK);
    bad_stop(&s, th);
    return r;
}

TEST(errors_by_kind)
{
    fy_bench_result r = run_against(MODE_500, 10, 2000);
    FY_CHECK_EQ(r.requests, 10);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_STATUS_5XX], 10);
    FY_CHECK_EQ(r.status[5], 10);
    FY_CHECK_EQ(r.ok, 0);
    FY_CHECK_EQ(r.connects, 2); /* kept alive */
    FY_CHECK_CONTAINS(r.first_error, "HTTP 500");

    r = run_against(MODE_GARBAGE, 6, 2000);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_BAD_RESPONSE], 6);

    r = run_against(MODE_CLOSE, 6, 2000);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_IO], 6);

    r = run_against(MODE_SILENT, 2, 200);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_TIMEOUT], 2);
    FY_CHECK_EQ(r.requests, 2);

    r = run_against(MODE_CLOSE_AFTER, 8, 2000);
    FY_CHECK_EQ(r.ok, 8);
    FY_CHECK_EQ(r.connects, 8); /* one connection per answer */
    FY_CHECK(r.lat_p50_ms > 0 && r.lat_p50_ms <= r.lat_max_ms);

    r = run_against(MODE_CHUNKED, 8, 2000);
    FY_CHECK_EQ(r.ok, 8);
    FY_CHECK_EQ(r.error_total, 0);

    /* nothing listening: connect errors, and the run still ends */
    bad_srv s;
    pthread_t th;
    FY_CHECK_EQ(bad_start(&s, &th, MODE_500), 0);
    int port = s.port;
    bad_stop(&s, th);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    fy_bench_opts o = {.url = url, .requests = 3};
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_bench_run(&o, &r, &d), FY_OK);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_CONNECT], 3);
    int status = 0;
    char *body = NULL;
    size_t bl = 0;
    fy_bench_err kind = FY_BENCH_ERR_N;
    fy_http_request q = {.url = url};
    FY_CHECK_EQ(fy_http_fetch(&q, &status, &body, &bl, &kind, &d), FY_EIO);
    FY_CHECK_EQ(kind, FY_BENCH_ERR_CONNECT);

    /* bad options */
    fy_bench_opts bad = {.url = "http://127.0.0.1:1/", .connections = 5000};
    FY_CHECK_EQ(fy_bench_run(&bad, &r, &d), FY_EINVAL);
    fy_bench_opts neg = {.url = "http://127.0.0.1:1/", .rate = -1};
    FY_CHECK_EQ(fy_bench_run(&neg, &r, &d), FY_EINVAL);
}

/* ---- the real server -------------------------------------------------------- */

typedef struct {
    fy_server *s;
} srv_arg;

static void *serve_main(void *arg)
{
    srv_arg *a = arg;
    fy_server_run(a->s, NULL);
    return NULL;
}

static int has_predictions(const char *body, size_t len, void *ctx)
{
    (void)ctx;
    return len > 0 && strstr(body, "\"predictions\"") ? 0 : 1;
}

static int never_good(const char *body, size_t len, void *ctx)
{
    (void)body;
    (void)len;
    (void)ctx;
    return 1;
}

TEST(against_ferry_serve)
{
    char dir[] = "/tmp/ferry-bench-XXXXXX", pkg[64];
    if (!mkdtemp(dir)) {
        FY_CHECK(0);
        return;
    }
    snprintf(pkg, sizeof pkg, "%s/fashion.ferry", dir);
    fy_diag pd = {{0}};
    FY_CHECK_EQ(fy_package_pack("examples/fashion-mnist/ferry.yaml", pkg, NULL, &pd), FY_OK);
    fy_serve_opts so = {.port = -1, .quiet = 1, .log_path = "/dev/null"};
    fy_server *srv = NULL;
    fy_diag d = {{0}};
    const char *paths[] = {pkg};
    FY_CHECK_EQ(fy_server_create(&srv, paths, 1, &so, &d), FY_OK);
    if (!srv) {
        fprintf(stderr, "%s\n", d.msg);
        return;
    }
    srv_arg a = {srv};
    pthread_t th;
    pthread_create(&th, NULL, serve_main, &a);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/predict/fashion-cnn", fy_server_port(srv));

    fy_bench_body *bodies = NULL;
    int nb = 0;
    int64_t *labels = NULL;
    FY_CHECK_EQ(fy_bench_predict_bodies("idx:/usr/share/datasets/fashion-mnist/"
                                        "t10k-images-idx3-ubyte.gz,/usr/share/datasets/"
                                        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                        16, &bodies, &nb, &labels, &d),
                FY_OK);
    FY_CHECK_EQ(nb, 16);
    FY_CHECK_EQ(labels ? labels[0] : -1, 9); /* the first test image is an ankle boot */

    fy_bench_opts o = {.url = url,
                       .bodies = bodies,
                       .n_bodies = nb,
                       .connections = 4,
                       .requests = 200,
                       .warmup_s = 0.2,
                       .check_body = has_predictions};
    fy_bench_result r;
    FY_CHECK_EQ(fy_bench_run(&o, &r, &d), FY_OK);
    FY_CHECK_EQ(r.requests, 200);
    FY_CHECK_EQ(r.ok, 200);
    FY_CHECK_EQ(r.error_total, 0);
    FY_CHECK_EQ(r.status[2], 200);
    FY_CHECK(r.lat_min_ms > 0);
    FY_CHECK(r.lat_min_ms <= r.lat_p50_ms && r.lat_p50_ms <= r.lat_p99_ms &&
             r.lat_p99_ms <= r.lat_max_ms);
    FY_CHECK(r.throughput > 0);
    FY_CHECK(r.connects >= 4);

    /* the body check counts refusals as bad_body */
    o.check_body = never_good;
    o.requests = 20;
    o.warmup_s = 0;
    FY_CHECK_EQ(fy_bench_run(&o, &r, &d), FY_OK);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_BAD_BODY], 20);

    /* open loop by duration: requests are scheduled, every one answered */
    fy_bench_opts ol = {.url = url,
                        .bodies = bodies,
                        .n_bodies = nb,
                        .connections = 2,
                        .rate = 100,
                        .duration_s = 0.5};
    FY_CHECK_EQ(fy_bench_run(&ol, &r, &d), FY_OK);
    FY_CHECK(r.requests > 0);
    FY_CHECK_EQ(r.error_total, 0);
    FY_CHECK_NEAR(r.offered_rate, 100, 0);
    char *js = NULL;
    FY_CHECK_EQ(fy_bench_result_json(&r, &js, &d), FY_OK);
    FY_CHECK_CONTAINS(js, "\"p99\"");
    free(js);

    /* an unknown model: 404s counted as 4xx */
    char url404[128];
    snprintf(url404, sizeof url404, "http://127.0.0.1:%d/predict/nope", fy_server_port(srv));
    fy_bench_opts o4 = {.url = url404, .bodies = bodies, .n_bodies = 1, .requests = 5};
    FY_CHECK_EQ(fy_bench_run(&o4, &r, &d), FY_OK);
    FY_CHECK_EQ(r.errors[FY_BENCH_ERR_STATUS_4XX], 5);

    /* one blocking fetch */
    int status = 0;
    char *body = NULL;
    size_t bl = 0;
    fy_http_request q = {.url = url, .body = bodies[0].data, .body_len = bodies[0].len};
    FY_CHECK_EQ(fy_http_fetch(&q, &status, &body, &bl, NULL, &d), FY_OK);
    FY_CHECK_EQ(status, 200);
    FY_CHECK_CONTAINS(body, "Ankle boot");
    free(body);

    fy_server_request_stop(srv);
    pthread_join(th, NULL);
    fy_server_free(srv);
    fy_bench_bodies_free(bodies, nb);
    free(labels);
    unlink(pkg);
    rmdir(dir);
}

/* Building bodies and requests survives every allocation failure. */
TEST(allocation_failures)
{
    int done = 0;
    for (long n = 1; n < 400 && !done; n++) {
        fy_bench_body *b = NULL;
        int nb = 0;
        int64_t *labels = NULL;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = fy_bench_predict_bodies("idx:/usr/share/datasets/fashion-mnist/"
                                         "t10k-images-idx3-ubyte.gz,/usr/share/datasets/"
                                         "fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                         3, &b, &nb, &labels, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            done = 1;
            FY_CHECK_EQ(nb, 3);
            fy_bench_bodies_free(b, nb);
            free(labels);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
        }
    }
    FY_CHECK(done);
    fy__url u;
    FY_CHECK_EQ(fy__url_parse(&u, "http://127.0.0.1:9/x", NULL), FY_OK);
    char *req = NULL;
    size_t len = 0;
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy__http_build(&u, NULL, "{}", 2, NULL, 0, NULL, &req, &len, NULL), FY_ENOMEM);
    fy__alloc_fail_at(0);
}

int main(void)
{
    RUN(parse_good_responses);
    RUN(parse_incremental_prefixes);
    RUN(parse_refuses_hostile_framing);
    RUN(urls_and_requests);
    RUN(errors_by_kind);
    RUN(against_ferry_serve);
    RUN(allocation_failures);
    return TEST_SUMMARY();
}
