/* SPDX-License-Identifier: MIT */
/* Thread pool: every index runs exactly once, for any size and grain, from many
 * concurrent callers, nested calls, and create/free loops. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/pool.h"
#include "test.h"

typedef struct counts {
    atomic_int *hits;
    int64_t n;
    atomic_int bad_range;
} counts;

static void count_fn(void *ctx, int64_t b, int64_t e)
{
    counts *c = ctx;
    if (b < 0 || e > c->n || b >= e)
        atomic_fetch_add(&c->bad_range, 1);
    for (int64_t i = b; i < e && i >= 0 && i < c->n; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

/* Run a loop of n over the pool and check each index ran once. */
static int check_loop(fy_pool *p, int64_t n, int64_t grain)
{
    counts c = {calloc((size_t)n + 1, sizeof(atomic_int)), n, 0};
    fy_pool_run(p, n, grain, count_fn, &c);
    int ok = atomic_load(&c.bad_range) == 0;
    for (int64_t i = 0; i < n; i++)
        ok &= atomic_load(&c.hits[i]) == 1;
    free(c.hits);
    return ok;
}

TEST(inline_without_pool)
{
    FY_CHECK_EQ(fy_pool_threads(NULL), 1);
    FY_CHECK(check_loop(NULL, 1000, 7));
    FY_CHECK(check_loop(NULL, 1, 0));
    fy_pool_run(NULL, 0, 1, count_fn, NULL); /* empty loop: fn never called */
}

TEST(sizes_and_grains)
{
    for (int threads = 1; threads <= 4; threads++) {
        fy_pool *p = NULL;
        fy_diag d;
        FY_CHECK_EQ(fy_pool_create(&p, threads, &d), FY_OK);
        FY_CHECK_EQ(fy_pool_threads(p), threads);
        int ok = 1;
        const int64_t ns[] = {1, 2, 3, 17, 64, 1000, 4099};
        const int64_t grains[] = {-3, 0, 1, 2, 5, 64, 5000};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            for (size_t j = 0; j < sizeof grains / sizeof grains[0]; j++)
                ok &= check_loop(p, ns[i], grains[j]);
        FY_CHECK(ok);
        fy_pool_free(p);
    }
}

TEST(many_back_to_back_loops)
{
    fy_pool *p = NULL;
    FY_CHECK_EQ(fy_pool_create(&p, 3, NULL), FY_OK);
    int ok = 1;
    for (int i = 0; i < 5000; i++)
        ok &= check_loop(p, 1 + i % 37, 1 + i % 5);
    FY_CHECK(ok);
    fy_pool_free(p);
}

/* Without spinning, every wait sleeps on the futex at once: loops back to back,
 * and after pauses long enough that the workers are surely asleep, still run each
 * index once (a lost wake-up would hang here or skip chunks). */
TEST(no_spin_sleeps_and_wakes)
{
    fy_pool_set_spin(NULL, 0); /* no-op */
    fy_pool *p = NULL;
    FY_CHECK_EQ(fy_pool_create(&p, 3, NULL), FY_OK);
    fy_pool_set_spin(p, 0);
    int ok = 1;
    for (int i = 0; i < 2000; i++)
        ok &= check_loop(p, 1 + i % 53, 1 + i % 3);
    for (int i = 0; i < 20; i++) {
        struct timespec ts = {0, 200000}; /* 0.2 ms: past any spin */
        nanosleep(&ts, NULL);
        ok &= check_loop(p, 97, 2);
    }
    fy_pool_set_spin(p, -5); /* negative: no spin */
    ok &= check_loop(p, 1000, 3);
    fy_pool_set_spin(p, 1000000); /* long spin, then back */
    ok &= check_loop(p, 1000, 3);
    FY_CHECK(ok);
    fy_pool_free(p);
}

typedef struct caller_arg {
    fy_pool *p;
    int ok;
} caller_arg;

static void *caller(void *arg)
{
    caller_arg *a = arg;
    a->ok = 1;
    for (int i = 0; i < 300; i++)
        a->ok &= check_loop(a->p, 50 + i % 101, 1 + i % 4);
    return NULL;
}

TEST(concurrent_callers)
{
    fy_pool *p = NULL;
    FY_CHECK_EQ(fy_pool_create(&p, 2, NULL), FY_OK);
    pthread_t t[4];
    caller_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].p = p;
        FY_CHECK_EQ(pthread_create(&t[i], NULL, caller, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        FY_CHECK(a[i].ok);
    }
    fy_pool_free(p);
}

typedef struct nest {
    fy_pool *p;
    atomic_int ok;
} nest;

static void inner_fn(void *ctx, int64_t b, int64_t e)
{
    nest *x = ctx;
    (void)b;
    (void)e;
    atomic_fetch_add(&x->ok, 0);
}

static void outer_fn(void *ctx, int64_t b, int64_t e)
{
    nest *x = ctx;
    for (int64_t i = b; i < e; i++) {
        /* A nested loop on the busy pool must run inline rather than deadlock. */
        if (check_loop(x->p, 20, 3))
            atomic_fetch_add(&x->ok, 1);
        fy_pool_run(x->p, 4, 1, inner_fn, x);
    }
}

TEST(nested_loops_run_inline)
{
    nest x = {NULL, 0};
    FY_CHECK_EQ(fy_pool_create(&x.p, 2, NULL), FY_OK);
    fy_pool_run(x.p, 16, 1, outer_fn, &x);
    FY_CHECK_EQ(atomic_load(&x.ok), 16);
    fy_pool_free(x.p);
}

TEST(create_free_loop)
{
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        fy_pool *p = NULL;
        if (fy_pool_create(&p, 1 + i % 4, NULL) != FY_OK) {
            ok = 0;
            break;
        }
        if (i % 2)
            ok &= check_loop(p, 9, 1);
        fy_pool_free(p);
    }
    FY_CHECK(ok);
    fy_pool_free(NULL);
}

TEST(auto_and_bad_counts)
{
    int cpus = fy_pool_cpus();
    FY_CHECK(cpus >= 1);
    fy_pool *p = NULL;
    fy_diag d;
    FY_CHECK_EQ(fy_pool_create(&p, 0, &d), FY_OK);
    FY_CHECK_EQ(fy_pool_threads(p), cpus);
    fy_pool_free(p);
    p = NULL;
    FY_CHECK_EQ(fy_pool_create(&p, -1, &d), FY_EINVAL);
    FY_CHECK_EQ(fy_pool_create(&p, FY_POOL_MAX_THREADS + 1, &d), FY_ELIMIT);
    FY_CHECK(p == NULL);
}

int main(void)
{
    RUN(inline_without_pool);
    RUN(sizes_and_grains);
    RUN(many_back_to_back_loops);
    RUN(no_spin_sleeps_and_wakes);
    RUN(concurrent_callers);
    RUN(nested_loops_run_inline);
    RUN(create_free_loop);
    RUN(auto_and_bad_counts);
    return TEST_SUMMARY();
}
