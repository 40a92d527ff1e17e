/* SPDX-License-Identifier: MIT */
/* fy__text: the growing text buffer renderers share. */
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

int main(void)
{
    RUN(appends_grow_past_the_first_block);
    RUN(a_failed_allocation_sticks_and_keeps_what_was_written);
    return TEST_SUMMARY();
}
