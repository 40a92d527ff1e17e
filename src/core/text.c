/* SPDX-License-Identifier: MIT */
/* A growing text buffer for renderers (reports, YAML, Prometheus text), and the
 * float formatting of JSON answers. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* ---- fy__fmt_f32 --------------------------------------------------------------- */

typedef unsigned __int128 u128;

/* floor(m * 2^e * 10^k) into *t, and how the dropped fraction compares with one
 * half (-1 below, 0 equal, 1 above); 0 when the arithmetic would leave 128 bits. */
static int scaled(uint32_t m, int e, int k, u128 *t, int *half)
{
    if (k >= 0) {
        if (k > 44) /* m * 5^k < 2^24 * 5^44 < 2^127 */
            return 0;
        u128 v = m;
        for (int i = 0; i < k; i++)
            v *= 5;
        int s = e + k; /* m * 5^k * 2^s */
        if (s >= 0) {
            if (s > 30) /* the result is below 10^9 when called right */
                return 0;
            *t = v << s;
            *half = -1;
            return 1;
        }
        if (-s > 126)
            return 0;
        u128 one = (u128)1 << -s, rem = v & (one - 1), h = one >> 1;
        *t = v >> -s;
        *half = rem < h ? -1 : rem > h;
        return 1;
    }
    if (e < 0 || e > 103 || -k > 38) /* m * 2^e < 2^127; 10^38 < 2^127 */
        return 0;
    u128 v = (u128)m << e, d = 1;
    for (int i = 0; i < -k; i++)
        d *= 10;
    u128 rem = v % d;
    *t = v / d;
    *half = 2 * rem < d ? -1 : 2 * rem > d; /* 2 * rem < 2^128: rem < d < 2^127 */
    return 1;
}

size_t fy__fmt_f32(char out[FY__F32_TEXT_MAX], float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    char *o = out;
    if (bits >> 31)
        *o++ = '-';
    uint32_t ef = (bits >> 23) & 0xff, m = bits & 0x7fffff;
    if (ef == 0 && m == 0) {
        *o++ = '0';
        *o = 0;
        return (size_t)(o - out);
    }
    int e = ef ? (int)ef - 150 : -149;
    if (ef)
        m |= 1u << 23;
    /* k such that 10^8 <= |x| * 10^k < 10^9; the estimate is off by one at most */
    double ax = fabs((double)x);
    int k = 8 - (int)floor(log10(ax)), half = -1;
    u128 t = 0;
    for (int tries = 0;; tries++) {
        if (tries == 3 || ax < 1e-35 || !scaled(m, e, k, &t, &half)) {
            char b[48];
            int n = snprintf(b, sizeof b, "%.9g", (double)x);
            size_t len = 0;
            for (int i = 0; i < n && len + 1 < FY__F32_TEXT_MAX; i++) /* the locale's point */
                out[len++] = (b[i] >= '0' && b[i] <= '9') || b[i] == '-' || b[i] == '+' ||
                                     b[i] == 'e'
                                 ? b[i]
                                 : '.';
            out[len] = 0;
            return len;
        }
        if (t >= 1000000000u)
            k--;
        else if (t < 100000000u)
            k++;
        else
            break;
    }
    uint32_t n = (uint32_t)t;
    if (half > 0 || (half == 0 && (n & 1)))
        n++;
    int X = 8 - k; /* decimal exponent of the first digit */
    if (n == 1000000000u) {
        n = 100000000u;
        X++;
    }
    char dg[9];
    for (int i = 8; i >= 0; i--) {
        dg[i] = (char)('0' + n % 10);
        n /= 10;
    }
    int nd = 9; /* significant digits left once trailing zeros go */
    while (nd > 1 && dg[nd - 1] == '0')
        nd--;
    if (X >= -4 && X < 9) {
        if (X >= 0) {
            for (int i = 0; i <= X; i++)
                *o++ = dg[i];
            if (nd > X + 1) {
                *o++ = '.';
                for (int i = X + 1; i < nd; i++)
                    *o++ = dg[i];
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -X - 1; i++)
                *o++ = '0';
            for (int i = 0; i < nd; i++)
                *o++ = dg[i];
        }
    } else {
        *o++ = dg[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++)
                *o++ = dg[i];
        }
        *o++ = 'e';
        *o++ = X < 0 ? '-' : '+';
        int ax10 = X < 0 ? -X : X;
        if (ax10 >= 10) {
            *o++ = (char)('0' + ax10 / 10);
            *o++ = (char)('0' + ax10 % 10);
        } else {
            *o++ = '0';
            *o++ = (char)('0' + ax10);
        }
    }
    *o = 0;
    return (size_t)(o - out);
}
