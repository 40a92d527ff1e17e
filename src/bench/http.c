/* SPDX-License-Identifier: MIT */
/* A small HTTP/1.1 client for the load generator and for verification: URL
 * parsing, request building, response framing (Content-Length, chunked, until
 * close) with limits, and one blocking request with a deadline. Responses are
 * hostile input: every length is checked and anything ambiguous is an error. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../core/core.h"
#include "bench_int.h"
#include "ferry/ferry.h"

double fy__bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *fy_bench_err_name(fy_bench_err e)
{
    static const char *const names[FY_BENCH_ERR_N] = {"connect",      "timeout",      "io",
                                                      "bad_response", "status_3xx",   "status_4xx",
                                                      "status_5xx",   "status_other", "bad_body"};
    return (unsigned)e < FY_BENCH_ERR_N ? names[e] : "unknown";
}

static int printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

int fy__url_parse(fy__url *u, const char *url, fy_diag *d)
{
    memset(u, 0, sizeof *u);
    if (!url)
        return fy__diag_set(d, FY_EINVAL, "no URL given");
    size_t len = strlen(url);
    if (len > FY_HTTP_URL_MAX - 1)
        return fy__diag_set(d, FY_EINVAL, "URL longer than %d bytes", FY_HTTP_URL_MAX - 1);
    if (strncasecmp(url, "https://", 8) == 0)
        return fy__diag_set(d, FY_EINVAL,
                            "https URLs are not supported by ferry's load generator: point it at "
                            "the plain-HTTP port or a local TLS terminator");
    if (strncasecmp(url, "http://", 7) != 0)
        return fy__diag_set(d, FY_EINVAL, "URL '%.80s' must start with http://", url);
    const char *h = url + 7, *end = h + strcspn(h, "/?#");
    const char *hend, *port = NULL;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend)
            return fy__diag_set(d, FY_EINVAL, "URL '%.80s': unclosed '[' in the host", url);
        if (hend + 1 < end) {
            if (hend[1] != ':')
                return fy__diag_set(d, FY_EINVAL, "URL '%.80s': junk after ']'", url);
            port = hend + 2;
        }
        h++;
    } else {
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend)
            port = hend + 1;
        else
            hend = end;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof u->host || !printable(h, hl) || memchr(h, '@', hl))
        return fy__diag_set(d, FY_EINVAL, "URL '%.80s': bad host", url);
    memcpy(u->host, h, hl);
    if (port) {
        size_t pl = (size_t)(end - port);
        long p = 0;
        for (size_t i = 0; i < pl; i++) {
            if (port[i] < '0' || port[i] > '9' || i > 5)
                return fy__diag_set(d, FY_EINVAL, "URL '%.80s': bad port", url);
            p = p * 10 + (port[i] - '0');
        }
        if (pl == 0 || p < 1 || p > 65535)
            return fy__diag_set(d, FY_EINVAL, "URL '%.80s': port must be 1 to 65535", url);
        snprintf(u->port, sizeof u->port, "%ld", p);
    } else {
        snprintf(u->port, sizeof u->port, "80");
    }
    const char *path = *end == '#' ? "/" : end;
    size_t pl = strcspn(path, "#");
    if (pl == 0) {
        snprintf(u->path, sizeof u->path, "/");
    } else {
        if (!printable(path, pl))
            return fy__diag_set(d, FY_EINVAL, "URL '%.80s': spaces or control bytes in the path",
                                url);
        if (path[0] == '?')
            snprintf(u->path, sizeof u->path, "/%.*s", (int)pl, path);
        else
            snprintf(u->path, sizeof u->path, "%.*s", (int)pl, path);
    }
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(u->host_header, sizeof u->host_header, v6 ? "[%s]:%s" : "%s:%s", u->host, u->port);

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(u->host, u->port, &hints, &res);
    if (g != 0 || !res)
        return fy__diag_set(d, FY_ENOTFOUND, "cannot resolve host '%s': %s", u->host,
                            gai_strerror(g));
    memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
    u->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    return FY_OK;
}

int fy__http_build(const fy__url *u, const char *method, const void *body, size_t body_len,
                   const char *content_type, int n_headers, const char *const *headers, char **out,
                   size_t *out_len, fy_diag *d)
{
    const char *m = method ? method : body ? "POST" : "GET";
    if (!printable(m, strlen(m)) || !m[0] || strlen(m) > 16)
        return fy__diag_set(d, FY_EINVAL, "bad HTTP method '%.20s'", m);
    if (n_headers < 0 || n_headers > FY_BENCH_MAX_HEADERS)
        return fy__diag_set(d, FY_EINVAL, "at most %d extra headers", FY_BENCH_MAX_HEADERS);
    size_t extra = 0;
    for (int i = 0; i < n_headers; i++) {
        const char *h = headers[i];
        size_t hl = h ? strlen(h) : 0;
        const char *colon = h ? strchr(h, ':') : NULL;
        if (!h || !colon || colon == h || hl > 4096 || strpbrk(h, "\r\n"))
            return fy__diag_set(d, FY_EINVAL, "header '%.60s' must read 'Name: value' on one line",
                                h ? h : "(null)");
        extra += hl + 2;
    }
    const char *ct = content_type ? content_type : "application/json";
    if (strpbrk(ct, "\r\n"))
        return fy__diag_set(d, FY_EINVAL, "content type holds a line break");
    size_t cap = strlen(m) + strlen(u->path) + strlen(u->host_header) + strlen(ct) + extra + 256;
    if (body_len > SIZE_MAX - cap)
        return fy__diag_set(d, FY_ELIMIT, "request body too large");
    char *buf = fy__malloc(cap + body_len);
    if (!buf)
        return fy__diag_set(d, FY_ENOMEM, "out of memory building a request");
    int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ferry-bench/%s\r\n", m,
                     u->path, u->host_header, FERRY_VERSION);
    size_t k = (size_t)n;
    if (body)
        k += (size_t)snprintf(buf + k, cap - k, "Content-Type: %s\r\nContent-Length: %zu\r\n", ct,
                              body_len);
    else if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0)
        k += (size_t)snprintf(buf + k, cap - k, "Content-Length: 0\r\n");
    for (int i = 0; i < n_headers; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s\r\n", headers[i]);
    k += (size_t)snprintf(buf + k, cap - k, "\r\n");
    if (body && body_len)
        memcpy(buf + k, body, body_len);
    *out = buf;
    *out_len = k + (body ? body_len : 0);
    return FY_OK;
}

/* Case-insensitive header name match. */
static int hname(const char *line, size_t nl, const char *name)
{
    return strlen(name) == nl && strncasecmp(line, name, nl) == 0;
}

/* Does a comma-separated header value contain token (case-insensitive)? */
static int has_token(const char *v, size_t vl, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < vl) {
        while (i < vl && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t st = i;
        while (i < vl && v[i] != ',')
            i++;
        size_t e = i;
        while (e > st && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - st == tl && strncasecmp(v + st, tok, tl) == 0)
            return 1;
    }
    return 0;
}

/* Walk a chunked body starting at p (len bytes available). Returns 1 with the
 * decoded size and the total encoded size when complete, 0 when more bytes are
 * needed, -1 when malformed or over the limit. decode: copy the data down to p. */
static int chunked(char *p, size_t len, int decode, size_t *data_len, size_t *enc_len)
{
    size_t i = 0, out = 0;
    for (int chunks = 0;; chunks++) {
        if (chunks > 1 << 20)
            return -1;
        /* size line: HEX[;ext]\r\n */
        size_t st = i;
        uint64_t size = 0;
        int digits = 0;
        while (i < len) {
            char c = p[i];
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (v < 0)
                break;
            if (++digits > 15)
                return -1;
            size = size * 16 + (uint64_t)v;
            i++;
        }
        if (i == len)
            return i - st > 15 ? -1 : 0;
        if (!digits)
            return -1;
        /* extensions up to the CRLF, bounded */
        size_t ext = 0;
        while (i < len && p[i] != '\r') {
            if (p[i] == '\n' || ++ext > 1024 ||
                (ext == 1 && p[i] != ';' && p[i] != ' ' && p[i] != '\t'))
                return -1;
            i++;
        }
        if (i + 1 >= len)
            return 0;
        if (p[i + 1] != '\n')
            return -1;
        i += 2;
        if (size == 0)
            break;
        if (size > FY_BENCH_MAX_RESPONSE || out + size > FY_BENCH_MAX_RESPONSE)
            return -1;
        if (len - i < size + 2)
            return 0;
        if (p[i + size] != '\r' || p[i + size + 1] != '\n')
            return -1;
        if (decode)
            memmove(p + out, p + i, (size_t)size);
        out += (size_t)size;
        i += (size_t)size + 2;
    }
    /* trailers: lines until an empty one */
    for (int lines = 0;; lines++) {
        if (lines > 64)
            return -1;
        size_t st = i;
        while (i < len && p[i] != '\n') {
            if (i - st > 8192)
                return -1;
            i++;
        }
        if (i == len)
            return 0;
        size_t ll = i - st;
        if (ll == 0 || p[i - 1] != '\r')
            return -1;
        i++;
        if (ll == 1)
            break;
    }
    *data_len = out;
    *enc_len = i;
    return 1;
}

int fy__http_parse(char *buf, size_t len, int head_request, int eof, int *status, size_t *body_off,
                   size_t *body_len, size_t *consumed, int *keep_alive)
{
    /* end of the head */
    size_t scan = len < FY_HTTP_HEAD_MAX ? len : FY_HTTP_HEAD_MAX;
    size_t he = 0;
    for (size_t i = 3; i < scan; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            he = i + 1;
            break;
        }
    if (!he)
        return len >= FY_HTTP_HEAD_MAX || eof ? -1 : 0;
    /* status line: HTTP/1.x SSS[ reason] */
    if (he < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ')
        return -1;
    int minor = buf[7] - '0';
    for (int k = 9; k < 12; k++)
        if (buf[k] < '0' || buf[k] > '9')
            return -1;
    int st = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (buf[12] != ' ' && buf[12] != '\r')
        return -1;
    if (st < 100 || st > 599)
        return -1;
    const char *p = memchr(buf, '\n', he);
    size_t i = (size_t)(p - buf) + 1;
    /* the status line ends in CRLF; its reason phrase holds no control bytes */
    if (p[-1] != '\r')
        return -1;
    for (const char *c = buf + 12; c < p - 1; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return -1;
    int64_t clen = -1;
    int is_chunked = 0, ka = minor == 1, te_seen = 0;
    while (i < he - 2) {
        size_t ls = i;
        while (i < he && buf[i] != '\n')
            i++;
        size_t ll = i - ls;
        i++;
        if (ll < 2 || buf[ls + ll - 1] != '\r')
            return -1;
        ll--; /* drop CR */
        const char *line = buf + ls;
        if (line[0] == ' ' || line[0] == '\t')
            return -1; /* obsolete line folding */
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line)
            return -1;
        size_t nl = (size_t)(colon - line);
        for (size_t k = 0; k < nl; k++) {
            unsigned char c = (unsigned char)line[k];
            if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
                return -1;
        }
        const char *v = colon + 1;
        size_t vl = ll - nl - 1;
        while (vl && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        for (size_t k = 0; k < vl; k++)
            if ((unsigned char)v[k] < 0x20 && v[k] != '\t')
                return -1;
        if (hname(line, nl, "Content-Length")) {
            if (vl == 0 || vl > 12)
                return -1;
            int64_t n = 0;
            for (size_t k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return -1;
                n = n * 10 + (v[k] - '0');
            }
            if (clen >= 0 && clen != n)
                return -1; /* conflicting lengths */
            clen = n;
        } else if (hname(line, nl, "Transfer-Encoding")) {
            if (te_seen || !(vl == 7 && strncasecmp(v, "chunked", 7) == 0))
                return -1; /* only a single "chunked" */
            te_seen = is_chunked = 1;
        } else if (hname(line, nl, "Connection")) {
            if (has_token(v, vl, "close"))
                ka = 0;
            else if (has_token(v, vl, "keep-alive"))
                ka = 1;
        }
    }
    if (is_chunked && clen >= 0)
        return -1; /* both: a smuggling vector, refuse */
    if (clen > (int64_t)FY_BENCH_MAX_RESPONSE)
        return -1;
    *status = st;
    *body_off = he;
    if (head_request || st < 200 || st == 204 || st == 304) {
        *body_len = 0;
        *consumed = he;
        *keep_alive = ka;
        return 1;
    }
    if (is_chunked) {
        size_t dl = 0, el = 0;
        int r = chunked(buf + he, len - he, 0, &dl, &el);
        if (r <= 0)
            return r < 0 || eof ? -1 : 0;
        chunked(buf + he, len - he, 1, &dl, &el);
        *body_len = dl;
        *consumed = he + el;
        *keep_alive = ka;
        return 1;
    }
    if (clen >= 0) {
        if (len - he < (size_t)clen)
            return eof ? -1 : 0;
        *body_len = (size_t)clen;
        *consumed = he + (size_t)clen;
        *keep_alive = ka;
        return 1;
    }
    /* no length: the body runs to the end of the connection */
    if (len - he > FY_BENCH_MAX_RESPONSE)
        return -1;
    if (!eof)
        return 0;
    *body_len = len - he;
    *consumed = len;
    *keep_alive = 0;
    return 1;
}

int fy_http_parse_response(char *buf, size_t len, int head_request, int *status, size_t *body_off,
                           size_t *body_len, size_t *consumed, int *keep_alive)
{
    return fy__http_parse(buf, len, head_request, 0, status, body_off, body_len, consumed,
                          keep_alive);
}

int fy__tcp_connect(const fy__url *u)
{
    int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&u->addr, u->addr_len) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Wait for fd to be ready for events, until deadline (monotonic s). 1 ready, 0
 * timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - fy__bench_now();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r > 0)
            return 1;
    }
}

int fy_http_fetch(const fy_http_request *req, int *status, char **body, size_t *body_len,
                  fy_bench_err *err_kind, fy_diag *d)
{
    fy__url u;
    int rc = fy__url_parse(&u, req->url, d);
    if (rc != FY_OK)
        return rc;
    char *out = NULL, *in = NULL;
    size_t out_len = 0, in_len = 0, in_cap = 0;
    int fd = -1;
    fy_bench_err kind = FY_BENCH_ERR_IO;
    double deadline = fy__bench_now() + (req->timeout_ms > 0 ? req->timeout_ms : 10000) / 1000.0;
    if ((rc = fy__http_build(&u, req->method, req->body, req->body_len, req->content_type,
                             req->n_headers, req->headers, &out, &out_len, d)) != FY_OK)
        return rc;
    rc = FY_EIO;
    if ((fd = fy__tcp_connect(&u)) < 0) {
        kind = FY_BENCH_ERR_CONNECT;
        fy__diag_set(d, FY_EIO, "connect to %s: %s", u.host_header, strerror(errno));
        goto done;
    }
    int w = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
        kind = w == 0 ? FY_BENCH_ERR_TIMEOUT : FY_BENCH_ERR_CONNECT;
        fy__diag_set(d, FY_EIO, "connect to %s: %s", u.host_header,
                     w == 0 ? "timed out" : strerror(soerr ? soerr : errno));
        goto done;
    }
    for (size_t sent = 0; sent < out_len;) {
        ssize_t n = send(fd, out + sent, out_len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((w = wait_fd(fd, POLLOUT, deadline)) <= 0) {
                kind = w == 0 ? FY_BENCH_ERR_TIMEOUT : FY_BENCH_ERR_IO;
                fy__diag_set(d, FY_EIO, "sending to %s: %s", u.host_header,
                             w == 0 ? "timed out" : strerror(errno));
                goto done;
            }
            continue;
        }
        fy__diag_set(d, FY_EIO, "sending to %s: %s", u.host_header, strerror(errno));
        goto done;
    }
    int head = req->method && strcmp(req->method, "HEAD") == 0;
    for (;;) {
        if (in_cap - in_len < 4096) {
            size_t nc = in_cap ? in_cap * 2 : 16384;
            if (nc > FY_HTTP_HEAD_MAX + FY_BENCH_MAX_RESPONSE + 65536) {
                kind = FY_BENCH_ERR_BAD_RESPONSE;
                fy__diag_set(d, FY_EIO, "response from %s is larger than the limit", u.host_header);
                goto done;
            }
            char *nb = fy__realloc(in, nc + 1);
            if (!nb) {
                rc = fy__diag_set(d, FY_ENOMEM, "out of memory reading a response");
                goto done;
            }
            in = nb;
            in_cap = nc;
        }
        ssize_t n = recv(fd, in + in_len, in_cap - in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((w = wait_fd(fd, POLLIN, deadline)) <= 0) {
                kind = w == 0 ? FY_BENCH_ERR_TIMEOUT : FY_BENCH_ERR_IO;
                fy__diag_set(d, FY_EIO, "waiting for %s: %s", u.host_header,
                             w == 0 ? "timed out" : strerror(errno));
                goto done;
            }
            continue;
        }
        if (n < 0) {
            fy__diag_set(d, FY_EIO, "reading from %s: %s", u.host_header, strerror(errno));
            goto done;
        }
        in_len += (size_t)n;
        int st = 0, ka = 0;
        size_t bo = 0, bl = 0, used = 0;
        int r = fy__http_parse(in, in_len, head, n == 0, &st, &bo, &bl, &used, &ka);
        if (r < 0 || (r == 0 && n == 0)) {
            kind = in_len ? FY_BENCH_ERR_BAD_RESPONSE : FY_BENCH_ERR_IO;
            fy__diag_set(d, FY_EIO, "%s: %s", u.host_header,
                         in_len ? "malformed HTTP response"
                                : "connection closed without a response");
            goto done;
        }
        if (r == 1) {
            memmove(in, in + bo, bl);
            in[bl] = 0;
            *status = st;
            *body = in;
            *body_len = bl;
            in = NULL;
            rc = FY_OK;
            goto done;
        }
    }
done:
    if (rc != FY_OK && err_kind)
        *err_kind = kind;
    if (fd >= 0)
        close(fd);
    fy__free(out);
    fy__free(in);
    return rc;
}
