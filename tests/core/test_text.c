/* SPDX-License-Identifier: MIT */
/* fy__text: the growing text buffer renderers share; fy__fmt_f32 against printf. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "test.h"

TEST(appends_grow_past_the_first_block)
{
    fy__text t = {0};
    fy__text_printf(&t, "%s=%d;", "a", 1);
    FY_CHECK_STR(t.p, "a=1;");
    for (int i = 0; i < 2000; i++)
        fy__text_printf(&t, "%04d", i);
    FY_CHECK_EQ(t.len, 4 + 2000 * 4);
    FY_CHECK(t.cap > t.len);
    FY_CHECK(memcmp(t.p + t.len - 4, "1999", 4) == 0);
    FY_CHECK_EQ(t.p[t.len], 0);
    /* one append larger than the doubling steps */
    char big[20000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fy__text_printf(&t, "%s", big);
    FY_CHECK_EQ(t.len, 4 + 2000 * 4 + sizeof big - 1);
    FY_CHECK(!t.oom);
    fy__free(t.p);
}

TEST(a_failed_allocation_sticks_and_keeps_what_was_written)
{
    fy__text t = {0};
    fy__text_printf(&t, "kept");
    fy__alloc_fail_at(1);
    char big[10000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = 0;
    fy__text_printf(&t, "%s", big);
    fy__alloc_fail_at(0);
    FY_CHECK(t.oom);
    FY_CHECK_STR(t.p, "kept");
    fy__text_printf(&t, "more"); /* ignored once failed */
    FY_CHECK_STR(t.p, "kept");
    fy__free(t.p);

    fy__text e = {0};
    fy__alloc_fail_at(1);
    fy__text_printf(&e, "x");
    fy__alloc_fail_at(0);
    FY_CHECK(e.oom && e.p == NULL);
}

/* fy__fmt_f32(x) must be exactly snprintf's "%.9g" (the tests run in the C
 * locale). Returns 1 when it is; prints the first few differences. */
static int fmt_agrees(float x, int *shown)
{
    char want[64], got[FY__F32_TEXT_MAX + 8];
    snprintf(want, sizeof want, "%.9g", (double)x);
    memset(got, 'Z', sizeof got);
    size_t n = fy__fmt_f32(got, x);
    if (n == strlen(want) && strcmp(got, want) == 0)
        return 1;
    if ((*shown)++ < 5)
        fprintf(stderr, "fy__fmt_f32(%a): got '%.*s', printf says '%s'\n", (double)x,
                FY__F32_TEXT_MAX, got, want);
    return 0;
}

TEST(float_text_is_printf_9g)
{
    int shown = 0, ok = 1;
    const float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.1f, 0.5f, 1e-4f, 9.99999975e-05f,
                           1e-5f, 1e-35f, 1.1e-35f, 9e-36f, FLT_MIN, FLT_MIN / 8, FLT_TRUE_MIN,
                           FLT_MAX, -FLT_MAX, 1e8f, 99999992.0f, 1e9f, 999999936.0f, 123456789.0f,
                           16777216.0f, 16777215.0f, 3.14159274f, 2.5e-10f, 0.999999940f,
                           1e38f, 1e30f, 1e-30f, 0.00999999978f, 0.0001f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        ok &= fmt_agrees(edges[i], &shown);
    /* every exponent, many mantissas: a stride over all bit patterns, plus the
     * neighbours of every power of ten (where the notation and digit count turn) */
    for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 4093) {
        uint32_t u = (uint32_t)b;
        float x;
        memcpy(&x, &u, sizeof x);
        if (isfinite(x))
            ok &= fmt_agrees(x, &shown);
    }
    for (int e = -45; e <= 38; e++) {
        float p = (float)pow(10.0, e);
        float lo = p, hi = p;
        for (int k = 0; k < 64; k++) {
            ok &= fmt_agrees(lo, &shown) & fmt_agrees(hi, &shown) & fmt_agrees(-hi, &shown);
            lo = nextafterf(lo, 0.0f);
            hi = nextafterf(hi, FLT_MAX);
        }
    }
    FY_CHECK(ok);
}

int main(void)
{
    RUN(appends_grow_past_the_first_block);
    RUN(a_failed_allocation_sticks_and_keeps_what_was_written);
    RUN(float_text_is_printf_9g);
    return TEST_SUMMARY();
}
