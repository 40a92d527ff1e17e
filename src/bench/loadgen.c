/* SPDX-License-Identifier: MIT */
/* The load generator: one thread, one poll() loop over N keep-alive connections.
 * Closed loop: each connection sends its next request as soon as the previous
 * answer arrives. Open loop: request k is due at t0 + k/rate whether or not the
 * server kept up; a due request waits for a free connection and its latency is
 * counted from when it was due, so queueing in front of a slow server shows in the
 * percentiles instead of being omitted (the "coordinated omission" of closed-loop
 * tools). Latencies go into a log-bucketed histogram (64 buckets per doubling). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "../core/core.h"
#include "bench_int.h"

/* Histogram: bucket i holds latencies in [2^(i/64), 2^((i+1)/64)) microseconds. */
#define HIST_SUB 64
#define HIST_N (32 * HIST_SUB) /* up to 2^32 us, ~71 minutes */

typedef struct {
    uint64_t b[HIST_N];
    uint64_t n;
    double min, max, sum; /* ms */
} hist;

static void hist_add(hist *h, double ms)
{
    double us = ms * 1000.0;
    int i = us <= 1.0 ? 0 : (int)(log2(us) * HIST_SUB);
    if (i >= HIST_N)
        i = HIST_N - 1;
    h->b[i]++;
    if (!h->n || ms < h->min)
        h->min = ms;
    if (!h->n || ms > h->max)
        h->max = ms;
    h->n++;
    h->sum += ms;
}

/* Value at quantile q (0..1): the geometric middle of its bucket, clamped to the
 * exact min and max. */
static double hist_q(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1)
        rank = 1;
    uint64_t cum = 0;
    for (int i = 0; i < HIST_N; i++) {
        cum += h->b[i];
        if (cum >= rank) {
            double v = pow(2.0, ((double)i + 0.5) / HIST_SUB) / 1000.0;
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}

enum { C_CLOSED, C_CONNECTING, C_SENDING, C_RECEIVING, C_IDLE };

typedef struct {
    int fd;
    int state;
    int reused;   /* the connection already carried a response */
    int retried;  /* this request was resent once after a stale keep-alive close */
    int measured; /* counts toward the result */
    int body_idx;
    double start;    /* scheduled (open loop) or actual (closed loop) start */
    double retry_at; /* after a failed connect: not before this time */
    size_t sent;
    char *in;
    size_t in_len, in_cap;
} conn;

typedef struct {
    const fy_bench_opts *o;
    fy__url url;
    char **req;
    size_t *req_len;
    int n_req;
    conn *c;
    int nc;
    hist h;
    fy_bench_result *r;
    int next_body;
    int head; /* HEAD requests: responses have no body */
    double now;
} run;

static void set_first(run *R, const char *fmt, const char *detail)
{
    if (!R->r->first_error[0])
        snprintf(R->r->first_error, sizeof R->r->first_error, fmt, detail);
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_CLOSED;
    c->reused = 0;
    c->in_len = 0;
}

static void count_err(run *R, conn *c, fy_bench_err e, const char *detail)
{
    if (c->measured) {
        R->r->errors[e]++;
        R->r->error_total++;
        R->r->requests++;
    }
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s", fy_bench_err_name(e), detail);
    set_first(R, "%s", msg);
}

/* Begin sending the request assigned to c (connecting first when needed). */
static int begin(run *R, conn *c)
{
    c->sent = 0;
    c->in_len = 0;
    if (c->fd < 0) {
        c->fd = fy__tcp_connect(&R->url);
        if (c->fd < 0) {
            count_err(R, c, FY_BENCH_ERR_CONNECT, strerror(errno));
            conn_close(c);
            c->retry_at = R->now + 0.01;
            return -1;
        }
        R->r->connects++;
        c->state = C_CONNECTING;
        return 0;
    }
    c->state = C_SENDING;
    return 0;
}

static void finish_ok(run *R, conn *c, int status, const char *body, size_t bl, double now)
{
    fy_bench_result *r = R->r;
    int cls = status / 100;
    if (c->measured && cls >= 1 && cls <= 5)
        r->status[cls]++;
    fy_bench_err e = FY_BENCH_ERR_N;
    if (cls == 2) {
        if (R->o->check_body && R->o->check_body(body, bl, R->o->check_ctx) != 0)
            e = FY_BENCH_ERR_BAD_BODY;
    } else {
        e = cls == 3   ? FY_BENCH_ERR_STATUS_3XX
            : cls == 4 ? FY_BENCH_ERR_STATUS_4XX
            : cls == 5 ? FY_BENCH_ERR_STATUS_5XX
                       : FY_BENCH_ERR_STATUS_OTHER;
    }
    if (e != FY_BENCH_ERR_N) {
        char det[64];
        snprintf(det, sizeof det, "HTTP %d", status);
        count_err(R, c, e, det);
        return;
    }
    if (c->measured) {
        r->ok++;
        r->requests++;
        hist_add(&R->h, (now - c->start) * 1000.0);
    }
}

/* Read what is there; returns 1 when the request completed (ok or not). */
static int on_readable(run *R, conn *c, double now)
{
    for (;;) {
        if (c->in_cap - c->in_len < 16384) {
            size_t nc = c->in_cap ? c->in_cap * 2 : 65536;
            if (nc > FY_HTTP_HEAD_MAX + FY_BENCH_MAX_RESPONSE + 65536) {
                count_err(R, c, FY_BENCH_ERR_BAD_RESPONSE, "response over the size limit");
                conn_close(c);
                return 1;
            }
            char *nb = fy__realloc(c->in, nc);
            if (!nb) {
                count_err(R, c, FY_BENCH_ERR_IO, "out of memory");
                conn_close(c);
                return 1;
            }
            c->in = nb;
            c->in_cap = nc;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0 || (n == 0 && c->in_len == 0)) {
            int e = n < 0 ? errno : 0;
            /* a kept-alive connection the server closed before our request:
             * resend once on a fresh connection (not the server's failure) */
            if (c->reused && !c->retried && c->in_len == 0) {
                c->retried = 1;
                conn_close(c);
                begin(R, c);
                return c->state == C_CLOSED;
            }
            count_err(R, c, FY_BENCH_ERR_IO,
                      e ? strerror(e) : "connection closed before a response");
            conn_close(c);
            return 1;
        }
        c->in_len += (size_t)n;
        int st = 0, ka = 0;
        size_t bo = 0, bl = 0, used = 0;
        int r = fy__http_parse(c->in, c->in_len, R->head, n == 0, &st, &bo, &bl, &used, &ka);
        if (r < 0 || (r == 0 && n == 0)) {
            count_err(R, c, r < 0 ? FY_BENCH_ERR_BAD_RESPONSE : FY_BENCH_ERR_IO,
                      r < 0 ? "malformed HTTP response" : "connection closed mid-response");
            conn_close(c);
            return 1;
        }
        if (r == 0)
            continue;
        R->r->bytes_received += (int64_t)used;
        finish_ok(R, c, st, c->in + bo, bl, now);
        if (!ka || used != c->in_len || n == 0) {
            conn_close(c); /* bytes past the response are a framing error: start afresh */
        } else {
            c->state = C_IDLE;
            c->reused = 1;
            c->in_len = 0;
        }
        return 1;
    }
}

/* Write what the socket takes; 1 when the whole request is out. */
static int on_writable(run *R, conn *c)
{
    const char *req = R->req[c->body_idx];
    size_t len = R->req_len[c->body_idx];
    while (c->sent < len) {
        ssize_t n = send(c->fd, req + c->sent, len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (c->reused && !c->retried) {
            c->retried = 1;
            conn_close(c);
            begin(R, c);
            return 0;
        }
        count_err(R, c, FY_BENCH_ERR_IO, strerror(errno));
        conn_close(c);
        return -1;
    }
    R->r->bytes_sent += (int64_t)len;
    c->state = C_RECEIVING;
    return 1;
}

static int build_requests(run *R, fy_diag *d)
{
    const fy_bench_opts *o = R->o;
    R->n_req = o->n_bodies > 0 ? o->n_bodies : 1;
    R->req = fy__calloc((size_t)R->n_req, sizeof *R->req);
    R->req_len = fy__calloc((size_t)R->n_req, sizeof *R->req_len);
    if (!R->req || !R->req_len)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    for (int i = 0; i < R->n_req; i++) {
        const void *b = o->n_bodies > 0 ? o->bodies[i].data : NULL;
        size_t bl = o->n_bodies > 0 ? o->bodies[i].len : 0;
        if (o->n_bodies > 0 && !b)
            b = "";
        int rc = fy__http_build(&R->url, o->method, b, bl, o->content_type, o->n_headers,
                                o->headers, &R->req[i], &R->req_len[i], d);
        if (rc != FY_OK)
            return rc;
    }
    return FY_OK;
}

int fy_bench_run(const fy_bench_opts *opts, fy_bench_result *out, fy_diag *d)
{
    run R;
    memset(&R, 0, sizeof R);
    fy_bench_result res;
    memset(&res, 0, sizeof res);
    R.o = opts;
    R.r = &res;
    int rc;
    struct pollfd *pf = NULL;
    if (!opts)
        return fy__diag_set(d, FY_EINVAL, "no options");
    int nc = opts->connections > 0 ? opts->connections : 1;
    if (nc > FY_BENCH_MAX_CONNECTIONS)
        return fy__diag_set(d, FY_EINVAL, "at most %d connections", FY_BENCH_MAX_CONNECTIONS);
    if (opts->rate < 0 || opts->duration_s < 0 || opts->requests < 0 || opts->warmup_s < 0 ||
        opts->timeout_ms < 0 || !isfinite(opts->rate) || !isfinite(opts->duration_s) ||
        !isfinite(opts->warmup_s) || opts->rate > 1e7 || opts->duration_s > 86400 ||
        opts->warmup_s > 86400)
        return fy__diag_set(d, FY_EINVAL,
                            "rate, duration, requests, warm-up and timeout must be non-negative "
                            "(rate at most 1e7/s, durations at most a day)");
    if (opts->n_bodies < 0 || (opts->n_bodies > 0 && !opts->bodies))
        return fy__diag_set(d, FY_EINVAL, "bodies missing");
    if ((rc = fy__url_parse(&R.url, opts->url, d)) != FY_OK)
        return rc;
    R.head = opts->method && strcmp(opts->method, "HEAD") == 0;
    if ((rc = build_requests(&R, d)) != FY_OK)
        goto done;
    R.c = fy__calloc((size_t)nc, sizeof *R.c);
    pf = fy__calloc((size_t)nc, sizeof *pf);
    if (!R.c || !pf) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    R.nc = nc;
    for (int i = 0; i < nc; i++) {
        R.c[i].fd = -1;
        R.c[i].state = C_CLOSED;
    }
    double timeout = (opts->timeout_ms > 0 ? opts->timeout_ms : 10000) / 1000.0;
    double duration = opts->duration_s > 0 ? opts->duration_s : opts->requests > 0 ? 0 : 10;
    double t0 = fy__bench_now();
    double measure_start = t0 + opts->warmup_s;
    double measure_end = duration > 0 ? measure_start + duration : 0;
    double rate = opts->rate;
    int64_t issued_measured = 0;
    int64_t k = 0; /* open loop: next request index */
    double next_tick = t0 + 1.0;
    int stopping = 0;
    res.offered_rate = rate;

    for (;;) {
        double now = R.now = fy__bench_now();
        if (!stopping) {
            if ((opts->stop && *opts->stop) || (measure_end > 0 && now >= measure_end) ||
                (opts->requests > 0 && issued_measured >= opts->requests))
                stopping = 1;
        }
        /* issue requests on idle or closed connections */
        for (int i = 0; i < nc && !stopping; i++) {
            conn *c = &R.c[i];
            if ((c->state != C_IDLE && c->state != C_CLOSED) || c->retry_at > now)
                continue;
            double sched;
            if (rate > 0) {
                sched = t0 + (double)k / rate;
                if (sched > now)
                    break;
                k++;
            } else {
                sched = now;
            }
            c->measured =
                sched >= measure_start && (opts->requests == 0 || issued_measured < opts->requests);
            if (sched >= measure_start && opts->requests > 0 && !c->measured)
                break;
            if (c->measured)
                issued_measured++;
            if (rate > 0 && now - sched > 0.001 && c->measured)
                res.late++;
            c->start = sched;
            c->retried = 0;
            c->body_idx = R.next_body;
            R.next_body = (R.next_body + 1) % R.n_req;
            if (rate > 0 && now - sched > timeout) {
                /* due so long ago it has already timed out waiting for a connection */
                count_err(&R, c, FY_BENCH_ERR_TIMEOUT, "waited for a free connection");
                continue;
            }
            if (begin(&R, c) == 0 && c->state == C_SENDING)
                on_writable(&R, c);
            if (opts->requests > 0 && issued_measured >= opts->requests)
                break;
        }
        /* in-flight requests */
        int busy = 0, np = 0;
        double wake = now + 0.1;
        for (int i = 0; i < nc; i++) {
            conn *c = &R.c[i];
            if (c->retry_at > now && c->retry_at < wake)
                wake = c->retry_at;
            if (c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_RECEIVING) {
                if (now - c->start > timeout) {
                    count_err(&R, c, FY_BENCH_ERR_TIMEOUT, "no response in time");
                    conn_close(c);
                    continue;
                }
                busy++;
                double dl = c->start + timeout;
                if (dl < wake)
                    wake = dl;
                pf[np].fd = c->fd;
                pf[np].events = c->state == C_RECEIVING ? POLLIN : POLLOUT;
                pf[np].revents = 0;
                np++;
            }
        }
        if (stopping && busy == 0)
            break;
        if (!stopping && rate > 0) {
            double next = t0 + (double)k / rate;
            if (next < wake)
                wake = next;
        }
        if (!stopping && measure_end > 0 && measure_end < wake)
            wake = measure_end;
        if (opts->progress && now >= next_tick) {
            opts->progress(now - measure_start > 0 ? now - measure_start : 0, res.requests,
                           res.error_total, opts->progress_ctx);
            next_tick = now + 1.0;
        }
        if (next_tick < wake)
            wake = next_tick;
        int ms = (int)ceil((wake - now) * 1000.0);
        if (ms < 0)
            ms = 0;
        int pr = poll(pf, (nfds_t)np, ms);
        if (pr < 0 && errno != EINTR) {
            rc = fy__diag_set(d, FY_EIO, "poll: %s", strerror(errno));
            goto done;
        }
        now = fy__bench_now();
        int j = 0;
        for (int i = 0; i < nc && pr > 0; i++) {
            conn *c = &R.c[i];
            if (!(c->state == C_CONNECTING || c->state == C_SENDING || c->state == C_RECEIVING))
                continue;
            if (j >= np || pf[j].fd != c->fd)
                continue;
            short rev = pf[j++].revents;
            if (!rev)
                continue;
            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t sl = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err) {
                    count_err(&R, c, FY_BENCH_ERR_CONNECT, strerror(err ? err : errno));
                    conn_close(c);
                    /* a refused connection fails at once: pause this slot briefly
                     * rather than spin */
                    c->retry_at = now + 0.01;
                    continue;
                }
                c->state = C_SENDING;
            }
            if (c->state == C_SENDING) {
                on_writable(&R, c);
                continue;
            }
            if (c->state == C_RECEIVING)
                on_readable(&R, c, now);
        }
    }
    double end = fy__bench_now();
    double mstart = measure_start < end ? measure_start : end;
    double mend = measure_end > 0 && measure_end < end ? measure_end : end;
    /* count mode: the phase ends when the last answer arrives */
    if (opts->requests > 0 && (measure_end == 0 || end < measure_end))
        mend = end;
    res.seconds = mend - mstart;
    /* Open loop: requests that came due in the phase but never got a connection. */
    if (rate > 0 && measure_end > 0) {
        int64_t due = (int64_t)floor((mend - t0) * rate) + 1;
        if (due > k && !(opts->stop && *opts->stop)) {
            res.late += due - k; /* never sent: reported as late, not as errors */
        }
    }
    res.throughput = res.seconds > 0 ? (double)res.ok / res.seconds : 0;
    res.lat_min_ms = R.h.n ? R.h.min : 0;
    res.lat_max_ms = R.h.max;
    res.lat_mean_ms = R.h.n ? R.h.sum / (double)R.h.n : 0;
    res.lat_p50_ms = hist_q(&R.h, 0.50);
    res.lat_p90_ms = hist_q(&R.h, 0.90);
    res.lat_p99_ms = hist_q(&R.h, 0.99);
    res.lat_p999_ms = hist_q(&R.h, 0.999);
    *out = res;
    rc = FY_OK;
done:
    for (int i = 0; R.c && i < R.nc; i++) {
        conn_close(&R.c[i]);
        fy__free(R.c[i].in);
    }
    for (int i = 0; R.req && i < R.n_req; i++)
        fy__free(R.req[i]);
    fy__free(R.req);
    fy__free(R.req_len);
    fy__free(R.c);
    fy__free(pf);
    return rc;
}

#define JSET(obj, key, val)                                                                        \
    do {                                                                                           \
        if (json_object_set_new(obj, key, val) != 0)                                               \
            goto oom;                                                                              \
    } while (0)

int fy_bench_result_json(const fy_bench_result *r, char **out, fy_diag *d)
{
    json_t *o = json_object(), *errs = json_object(), *lat = json_object(), *st = json_object();
    if (!o || !errs || !lat || !st) {
        json_decref(errs);
        json_decref(lat);
        json_decref(st);
        goto oom;
    }
    JSET(o, "requests", json_integer(r->requests));
    JSET(o, "ok", json_integer(r->ok));
    JSET(o, "errors", errs);
    JSET(o, "error_total", json_integer(r->error_total));
    for (int e = 0; e < FY_BENCH_ERR_N; e++)
        JSET(errs, fy_bench_err_name((fy_bench_err)e), json_integer(r->errors[e]));
    JSET(o, "status", st);
    for (int c = 1; c <= 5; c++) {
        char k[8];
        snprintf(k, sizeof k, "%dxx", c);
        JSET(st, k, json_integer(r->status[c]));
    }
    JSET(o, "seconds", json_real(r->seconds));
    JSET(o, "throughput_per_s", json_real(r->throughput));
    JSET(o, "offered_rate_per_s", r->offered_rate > 0 ? json_real(r->offered_rate) : json_null());
    JSET(o, "late", json_integer(r->late));
    JSET(o, "connects", json_integer(r->connects));
    JSET(o, "bytes_sent", json_integer(r->bytes_sent));
    JSET(o, "bytes_received", json_integer(r->bytes_received));
    JSET(o, "latency_ms", lat);
    JSET(lat, "min", json_real(r->lat_min_ms));
    JSET(lat, "mean", json_real(r->lat_mean_ms));
    JSET(lat, "p50", json_real(r->lat_p50_ms));
    JSET(lat, "p90", json_real(r->lat_p90_ms));
    JSET(lat, "p99", json_real(r->lat_p99_ms));
    JSET(lat, "p999", json_real(r->lat_p999_ms));
    JSET(lat, "max", json_real(r->lat_max_ms));
    if (r->first_error[0]) {
        char clean[sizeof r->first_error];
        size_t k = 0;
        for (const char *p = r->first_error; *p && k + 1 < sizeof clean; p++)
            clean[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
        clean[k] = 0;
        JSET(o, "first_error", json_string(clean));
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory writing JSON");
    *out = s;
    return FY_OK;
oom:
    json_decref(o);
    return fy__diag_set(d, FY_ENOMEM, "out of memory writing JSON");
}
