/* SPDX-License-Identifier: MIT */
/* The front's merged /metrics (src/deploy/metrics_merge.c): two workers' expositions
 * become one in which every family appears once, HELP and TYPE first, with every
 * worker's samples labelled; the result passes `promtool check metrics`. Malformed
 * lines are dropped, limits hold, allocation failures leak nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "deploy/deploy_int.h"
#include "test.h"

static const char w0[] = "# HELP ferry_requests_total Requests by outcome.\n"
                         "# TYPE ferry_requests_total counter\n"
                         "ferry_requests_total{model=\"m\",outcome=\"success\"} 3\n"
                         "ferry_requests_total{model=\"m\",outcome=\"error\"} 1\n"
                         "# HELP ferry_request_duration_seconds Time to answer.\n"
                         "# TYPE ferry_request_duration_seconds histogram\n"
                         "ferry_request_duration_seconds_bucket{le=\"0.1\"} 2\n"
                         "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                         "ferry_request_duration_seconds_sum 0.5\n"
                         "ferry_request_duration_seconds_count 4\n"
                         "# HELP process_open_fds Open file descriptors.\n"
                         "# TYPE process_open_fds gauge\n"
                         "process_open_fds 12\n";

/* The same families in another order, CRLF line ends, a comment, junk lines. */
static const char w1[] = "# TYPE process_open_fds gauge\r\n"
                         "# HELP process_open_fds Open file descriptors.\r\n"
                         "process_open_fds 9\r\n"
                         "# a comment that is not HELP or TYPE\n"
                         "{no_name=\"x\"} 1\n"
                         "9starts_with_a_digit 1\n"
                         "justaname\n"
                         "# HELP ferry_requests_total Requests by outcome.\n"
                         "# TYPE ferry_requests_total counter\n"
                         "ferry_requests_total{model=\"m\",outcome=\"success\"} 7\n"
                         "# HELP ferry_request_duration_seconds Time to answer.\n"
                         "# TYPE ferry_request_duration_seconds histogram\n"
                         "ferry_request_duration_seconds_bucket{le=\"0.1\"} 5\n"
                         "ferry_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"
                         "ferry_request_duration_seconds_sum 0.2\n"
                         "ferry_request_duration_seconds_count 5\n";

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static int promtool_ok(const char *text, size_t len)
{
    char path[] = "/tmp/ferry-metrics-merge-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s > %s.out 2>&1", path, path);
    int st = ok ? system(cmd) : -1;
    if (st != 0) {
        snprintf(cmd, sizeof cmd, "cat %s.out >&2", path);
        if (system(cmd) != 0)
            fprintf(stderr, "(promtool printed nothing)\n");
    }
    snprintf(cmd, sizeof cmd, "%s.out", path);
    unlink(cmd);
    unlink(path);
    return st == 0;
}

TEST(two_workers_merge_into_one_exposition)
{
    const char *texts[] = {w0, w1}, *values[] = {"1.0.0/0", "1.0.0/1"};
    size_t lens[] = {strlen(w0), strlen(w1)};
    char *out = NULL;
    size_t len = 0;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__metrics_merge(texts, lens, values, 2, "ferry_worker", &out, &len, &d), FY_OK);
    if (!out)
        return;
    FY_CHECK_EQ(strlen(out), len);
    FY_CHECK_EQ(count(out, "# TYPE ferry_requests_total counter\n"), 1);
    FY_CHECK_EQ(count(out, "# HELP ferry_request_duration_seconds "), 1);
    FY_CHECK_EQ(count(out, "# TYPE process_open_fds gauge\n"), 1);
    FY_CHECK_CONTAINS(out, "ferry_requests_total{ferry_worker=\"1.0.0/0\",model=\"m\","
                           "outcome=\"success\"} 3\n");
    FY_CHECK_CONTAINS(out, "ferry_requests_total{ferry_worker=\"1.0.0/1\",model=\"m\","
                           "outcome=\"success\"} 7\n");
    FY_CHECK_CONTAINS(out, "ferry_request_duration_seconds_sum{ferry_worker=\"1.0.0/1\"} 0.2\n");
    FY_CHECK_CONTAINS(out, "process_open_fds{ferry_worker=\"1.0.0/0\"} 12\n");
    /* a family's samples stay together: worker 1's counter sits before the histogram */
    const char *c1 = strstr(out, "outcome=\"success\"} 7"),
               *h = strstr(out, "# HELP ferry_request_d");
    FY_CHECK(c1 && h && c1 < h);
    /* the junk is gone, and so are comments other than HELP and TYPE */
    FY_CHECK(!strstr(out, "no_name") && !strstr(out, "9starts") && !strstr(out, "justaname") &&
             !strstr(out, "a comment") && !strchr(out, '\r'));
    FY_CHECK(promtool_ok(out, len));
    fy__free(out);
}

TEST(label_values_are_escaped_and_workers_may_be_missing)
{
    /* untyped samples without HELP or TYPE, an empty label set */
    const char *texts[] = {NULL, "m 1\n", "m{} 2\n"};
    const char *values[] = {"x", "q\"uote\\back", "two"};
    size_t lens[] = {0, 4, 6};
    char *out = NULL;
    size_t len = 0;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__metrics_merge(texts, lens, values, 3, "w", &out, &len, &d), FY_OK);
    FY_CHECK_STR(out, "m{w=\"q\\\"uote\\\\back\"} 1\nm{w=\"two\"} 2\n");
    fy__free(out);
    /* nothing at all: an empty exposition */
    FY_CHECK_EQ(fy__metrics_merge(texts, lens, values, 1, "w", &out, &len, &d), FY_OK);
    FY_CHECK(out && len == 0 && out[0] == 0);
    fy__free(out);
}

TEST(hostile_input_is_bounded)
{
    /* 5,000 distinct families: over the limit, refused with a message */
    size_t cap = 5000 * 32, k = 0;
    char *big = malloc(cap);
    for (int i = 0; i < 5000; i++)
        k += (size_t)snprintf(big + k, cap - k, "family_%d 1\n", i);
    const char *texts[] = {big}, *values[] = {"0"};
    size_t lens[] = {k};
    char *out = NULL;
    size_t len = 0;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__metrics_merge(texts, lens, values, 1, "w", &out, &len, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "4096 families");
    FY_CHECK(out == NULL);
    /* NUL bytes and a line without an end */
    static const char nul[] = "a 1\nb\0c 2\nd 3";
    const char *t2[] = {nul};
    size_t l2[] = {sizeof nul - 1};
    FY_CHECK_EQ(fy__metrics_merge(t2, l2, values, 1, "w", &out, &len, &d), FY_OK);
    FY_CHECK_STR(out, "a{w=\"0\"} 1\nd{w=\"0\"} 3\n");
    fy__free(out);
    free(big);
}

TEST(allocation_failures_leak_nothing)
{
    const char *texts[] = {w0, w1}, *values[] = {"a", "b"};
    size_t lens[] = {strlen(w0), strlen(w1)};
    int failed = 0;
    for (long n = 1; n < 400; n++) {
        char *out = NULL;
        size_t len = 0;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = fy__metrics_merge(texts, lens, values, 2, "w", &out, &len, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            fy__free(out);
            break;
        }
        FY_CHECK_EQ(rc, FY_ENOMEM);
        FY_CHECK(out == NULL);
        failed++;
    }
    FY_CHECK(failed > 5);
}

int main(void)
{
    RUN(two_workers_merge_into_one_exposition);
    RUN(label_values_are_escaped_and_workers_may_be_missing);
    RUN(hostile_input_is_bounded);
    RUN(allocation_failures_leak_nothing);
    return TEST_SUMMARY();
}
