/* SPDX-License-Identifier: MIT */
/* Allocation wrappers with fault injection, so tests can fail the Nth malloc. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* Fault-injection state: process-wide by design (a test hook, armed only by tests);
 * listed in docs/ARCHITECTURE.md as one of the few globals. */
static atomic_long fail_countdown;
static atomic_long alloc_count;
static atomic_size_t largest_request;

static int should_fail(size_t bytes)
{
    atomic_fetch_add(&alloc_count, 1);
    size_t seen = atomic_load(&largest_request);
    while (bytes > seen && !atomic_compare_exchange_weak(&largest_request, &seen, bytes))
        ;
    long c = atomic_load(&fail_countdown);
    if (c <= 0)
        return 0;
    c = atomic_fetch_sub(&fail_countdown, 1);
    return c == 1;
}

void fy__alloc_fail_at(long n) { atomic_store(&fail_countdown, n); }
long fy__alloc_count(void) { return atomic_load(&alloc_count); }
size_t fy__alloc_largest(int reset)
{
    return reset ? atomic_exchange(&largest_request, 0) : atomic_load(&largest_request);
}

void *fy__malloc(size_t n) { return should_fail(n) ? NULL : malloc(n ? n : 1); }

void *fy__calloc(size_t n, size_t size)
{
    if (should_fail(size && n > SIZE_MAX / size ? SIZE_MAX : n * size))
        return NULL;
    if (n == 0 || size == 0)
        return calloc(1, 1);
    return calloc(n, size);
}

void *fy__realloc(void *p, size_t n) { return should_fail(n) ? NULL : realloc(p, n ? n : 1); }

char *fy__strndup(const char *s, size_t n)
{
    char *r = fy__malloc(n + 1);
    if (r) {
        if (n) /* s may be NULL when n is 0 (an empty protobuf bytes field) */
            memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

char *fy__strdup(const char *s) { return fy__strndup(s, strlen(s)); }

void fy__free(void *p) { free(p); }
