/* SPDX-License-Identifier: MIT */
/* A growing text buffer for renderers (reports, YAML, Prometheus text). */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

void fy__text_printf(fy__text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->p && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *p = fy__realloc(t->p, cap);
        if (!p) {
            t->oom = 1;
            if (t->p)
                t->p[t->len] = 0; /* drop the truncated attempt */
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}
