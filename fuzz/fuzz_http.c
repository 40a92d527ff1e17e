/* SPDX-License-Identifier: MIT */
/* Fuzz target for the whole HTTP front of `ferry serve`: each input is written as
 * raw bytes to a real server (libmicrohttpd, ferry's routing, auth, limits and
 * protocol handlers) on a loopback port, serving the Fashion-MNIST CNN with an
 * API keys file (key "fuzz-admin" has the admin role, "fuzz-infer" the infer
 * role). The write side is then closed and the answer read to the end. Aborts,
 * which the fuzzer reports like a crash, when the server thread dies, an answer
 * takes longer than the deadline (a hang), or an answer does not start with an
 * HTTP/1.x status line. Sanitizers catch memory errors inside the server. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ANSWER_DEADLINE_S 10
#define QUIET_MS 20

static fy_server *server;
static int port;
static char keys_path[64];

static void *serve_thread(void *arg)
{
    (void)arg;
    fy_diag d;
    if (fy_server_run(server, &d) != FY_OK) {
        fprintf(stderr, "fuzz_http: server stopped: %s\n", d.msg);
        abort();
    }
    return NULL;
}

static void init(void)
{
    char admin[65], infer[65];
    fy_serve_hash_key("fuzz-admin", admin);
    fy_serve_hash_key("fuzz-infer", infer);
    snprintf(keys_path, sizeof keys_path, "/tmp/ferry-fuzz-http-keys.%ld", (long)getpid());
    FILE *f = fopen(keys_path, "w");
    if (!f || fprintf(f, "admin %s ops\ninfer %s web\n", admin, infer) < 0 || fclose(f) != 0) {
        fprintf(stderr, "fuzz_http: cannot write %s\n", keys_path);
        abort();
    }
    fy_serve_opts o = {0};
    o.port = -1;
    o.http_threads = 2;
    o.keys_file = keys_path;
    o.log_path = "/dev/null";
    o.quiet = 1;
    o.request_timeout_ms = 1000;
    o.max_body_bytes = 1 << 20;
    const char *paths[] = {"examples/fashion-mnist/fashion_cnn.onnx"};
    fy_diag d;
    if (fy_server_create(&server, paths, 1, &o, &d) != FY_OK) {
        fprintf(stderr, "fuzz_http: run from the repository root (%s)\n", d.msg);
        abort();
    }
    unlink(keys_path); /* read at start-up; reloads are not fuzzed */
    port = fy_server_port(server);
    pthread_t t;
    if (pthread_create(&t, NULL, serve_thread, NULL) != 0)
        abort();
    pthread_detach(t);
}

/* Whether buf holds at least one whole answer: headers, then Content-Length bytes
 * (an answer without Content-Length is complete once its headers are). */
static int answer_complete(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    for (const char *l = buf; l < end; l++) {
        if (*l != '\n' || end - l < 16 || strncasecmp(l + 1, "Content-Length:", 15) != 0)
            continue;
        unsigned long long cl = strtoull(l + 16, NULL, 10);
        return len - head >= cl;
    }
    return 1;
}

static int connect_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {ANSWER_DEADLINE_S, 0};
    /* The server may still be starting its listener on the first input. */
    for (int tries = 0; tries < 200; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            abort();
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        close(fd);
        usleep(10000);
    }
    fprintf(stderr, "fuzz_http: cannot connect to the server on port %d\n", port);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init);
    int fd = connect_server();
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the server may close early on a bad request: fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* The server keeps the connection open after answering (keep-alive), so an
     * answer ends when it is complete (headers and Content-Length bytes) and
     * nothing more comes within QUIET_MS; until then the deadline applies. */
    static char ans[1 << 16];
    size_t got = 0;
    int waited_ms = 0;
    for (;;) {
        int timeout = answer_complete(ans, got) ? QUIET_MS : 100;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            if (answer_complete(ans, got))
                break;
            if ((waited_ms += timeout) >= ANSWER_DEADLINE_S * 1000) {
                fprintf(stderr, "fuzz_http: no complete answer within %d s\n", ANSWER_DEADLINE_S);
                abort();
            }
            continue;
        }
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* end of answer, or a reset after a refused request */
        size_t keep = (size_t)r < sizeof ans - got ? (size_t)r : sizeof ans - got;
        memcpy(ans + got, buf, keep);
        got += keep;
    }
    if (got > 0 && (got < 9 || memcmp(ans, "HTTP/1.", 7) != 0)) {
        fprintf(stderr, "fuzz_http: the answer does not start with an HTTP/1.x status line\n");
        abort();
    }
    close(fd);
    return 0;
}
