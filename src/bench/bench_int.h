/* SPDX-License-Identifier: MIT */
/* Internals of the load generator shared between its files: URL parsing, request
 * building, response framing, non-blocking connect. */
#ifndef FERRY_BENCH_INT_H
#define FERRY_BENCH_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ferry/bench.h"

#define FY_HTTP_HEAD_MAX (64 * 1024) /* status line + headers of a response */
#define FY_HTTP_URL_MAX 2048

typedef struct fy__url {
    char host[256]; /* as written (IPv6 without brackets) */
    char port[8];
    char path[FY_HTTP_URL_MAX]; /* "/..." with the query */
    char host_header[300];      /* "host:port" or "[v6]:port" */
    struct sockaddr_storage addr;
    socklen_t addr_len;
} fy__url;

/* Parse http://HOST[:PORT][/PATH] and resolve HOST (getaddrinfo, first address).
 * FY_EINVAL for a malformed URL or https, FY_ENOTFOUND when the host does not
 * resolve. */
int fy__url_parse(fy__url *u, const char *url, fy_diag *d);

/* Build the request bytes (head + body) into a malloc'd buffer. */
int fy__http_build(const fy__url *u, const char *method, const void *body, size_t body_len,
                   const char *content_type, int n_headers, const char *const *headers, char **out,
                   size_t *out_len, fy_diag *d);

/* fy_http_parse_response with an end-of-stream flag: at eof, a response without a
 * length ends where the bytes end. */
int fy__http_parse(char *buf, size_t len, int head_request, int eof, int *status, size_t *body_off,
                   size_t *body_len, size_t *consumed, int *keep_alive);

/* Start a non-blocking TCP connection (TCP_NODELAY): the fd, or -1 with errno. */
int fy__tcp_connect(const fy__url *u);

double fy__bench_now(void); /* monotonic seconds */

#endif
