/* SPDX-License-Identifier: MIT */
/* Minimal test runner: each tests/x/test_y.c is its own binary. TEST(name) defines a
 * case, RUN(name) runs it; checks print both values on failure. main() ends with
 * TEST_SUMMARY(), which prints "N passed, N failed" and returns the exit code. */
#ifndef FERRY_TEST_H
#define FERRY_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int fy_test_failed_checks;
static int fy_test_pass, fy_test_fail;

#define TEST(name) static void name(void)
#define RUN(name)                                                                                  \
    do {                                                                                           \
        int before_ = fy_test_failed_checks;                                                       \
        name();                                                                                    \
        if (fy_test_failed_checks == before_) {                                                    \
            fy_test_pass++;                                                                        \
            printf("ok   %s\n", #name);                                                            \
        } else {                                                                                   \
            fy_test_fail++;                                                                        \
            printf("FAIL %s\n", #name);                                                            \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

#define FY_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fy_test_failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define FY_CHECK_EQ(a, b)                                                                          \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fy_test_failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, #b,  \
                    a_, b_);                                                                       \
        }                                                                                          \
    } while (0)

#define FY_CHECK_NEAR(a, b, tol)                                                                   \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            fy_test_failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: %s ~= %s failed: %.9g vs %.9g (tol %g)\n", __FILE__,           \
                    __LINE__, #a, #b, a_, b_, (double)(tol));                                      \
        }                                                                                          \
    } while (0)

#define FY_CHECK_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            fy_test_failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__, __LINE__, #a,  \
                    #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                   \
        }                                                                                          \
    } while (0)

/* Substring check, for error messages. */
#define FY_CHECK_CONTAINS(hay, needle)                                                             \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_)) {                                                              \
            fy_test_failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    h_ ? h_ : "(null)", n_);                                                       \
        }                                                                                          \
    } while (0)

#define TEST_SUMMARY()                                                                             \
    (printf("%d passed, %d failed\n", fy_test_pass, fy_test_fail), fy_test_fail ? 1 : 0)

#endif
