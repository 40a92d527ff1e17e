/* SPDX-License-Identifier: MIT */
/* The thread pool: workers wait for a loop by spinning briefly, then sleeping on a
 * futex, so back-to-back small kernels (batch-1 inference) wake them in well under
 * a microsecond while an idle pool costs no CPU. */
#define _GNU_SOURCE
#include "pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

/* How long a worker (or the waiting caller) spins before sleeping, unless
 * fy_pool_set_spin says otherwise: long enough to bridge the gap between
 * consecutive kernels of one inference, short enough that an idle pool stops using
 * CPU at once. Measured in time, not iterations: a pause instruction takes from 10
 * ns to over 200 ns depending on the CPU and hypervisor. */
#define SPIN_NS 50000

/* state word: OPEN while the loop accepts workers; the low bits count joined workers. */
#define OPEN 0x40000000u

/* Each hot atomic in its own cache line so workers polling one do not slow another. */
#define LINE 64

struct fy_pool {
    int threads;
    pthread_t *tids;
    _Alignas(LINE) atomic_uint gen; /* bumped for every loop and for shutdown */
    atomic_int sleepers;            /* workers in futex_wait on gen */
    atomic_int stop;
    atomic_llong spin_ns; /* SPIN_NS, or what fy_pool_set_spin set */
    _Alignas(LINE) atomic_uint state; /* OPEN | joined workers */
    _Alignas(LINE) atomic_int busy;   /* a caller owns the workers */
    /* The current loop, written by its caller before OPEN is set. */
    fy_pool_fn fn;
    void *ctx;
    int64_t n, grain, chunks;
    _Alignas(LINE) atomic_llong next; /* next chunk index to hand out */
};

static void futex_wait(atomic_uint *addr, unsigned expect)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *addr, int n)
{
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Spin step i of a wait that started at *start: 0 once the pool's spin time has
 * passed. The clock is read every 16 steps. */
static int keep_spinning(const fy_pool *p, int i, uint64_t *start)
{
    if (i % 16)
        return 1;
    uint64_t t = mono_ns();
    if (i == 0)
        *start = t;
    return t - *start < (uint64_t)atomic_load_explicit(&p->spin_ns, memory_order_relaxed);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Take chunks until none is left. */
static void drain(fy_pool *p)
{
    for (;;) {
        int64_t c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (c >= p->chunks)
            return;
        int64_t b = c * p->grain;
        int64_t e = b + p->grain < p->n ? b + p->grain : p->n;
        p->fn(p->ctx, b, e);
    }
}

/* Join the open loop, if any, run chunks, leave. Joining holds the loop's fields
 * stable: its caller does not return (or start another loop) while workers are in. */
static void try_join(fy_pool *p)
{
    unsigned s = atomic_load(&p->state);
    do {
        if (!(s & OPEN))
            return;
    } while (!atomic_compare_exchange_weak(&p->state, &s, s + 1));
    drain(p);
    s = atomic_fetch_sub(&p->state, 1) - 1;
    if (s == 0) /* closed and the last one out: the caller may be asleep */
        futex_wake(&p->state, 1);
}

static void *worker(void *arg)
{
    fy_pool *p = arg;
    unsigned seen = atomic_load(&p->gen);
    while (!atomic_load(&p->stop)) {
        unsigned g = atomic_load(&p->gen);
        uint64_t start = 0;
        for (int i = 0; g == seen && keep_spinning(p, i, &start); i++) {
            cpu_relax();
            g = atomic_load_explicit(&p->gen, memory_order_acquire);
        }
        if (g == seen) {
            /* seq_cst with fy_pool_run's gen bump then sleepers load: either it sees
             * us sleeping and wakes us, or we see its new gen and do not sleep. */
            atomic_fetch_add(&p->sleepers, 1);
            if (atomic_load(&p->gen) == seen)
                futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            continue;
        }
        seen = g;
        try_join(p);
    }
    return NULL;
}

/* ceil(quota / period) from cgroup v2 cpu.max ("max 100000" when unlimited); 0 if none. */
static int cgroup_cpus(void)
{
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (!f)
        return 0;
    char quota[32] = {0};
    long long period = 0;
    int got = fscanf(f, "%31s %lld", quota, &period);
    fclose(f);
    if (got != 2 || period <= 0 || strcmp(quota, "max") == 0)
        return 0;
    char *end;
    long long q = strtoll(quota, &end, 10);
    if (*end || q <= 0)
        return 0;
    long long n = (q + period - 1) / period;
    return n > INT_MAX ? INT_MAX : (int)n;
}

int fy_pool_cpus(void)
{
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 && c < INT_MAX ? (int)c : 1;
    }
    int q = cgroup_cpus();
    if (q > 0 && q < n)
        n = q;
    return n;
}

int fy_pool_create(fy_pool **out, int threads, fy_diag *d)
{
    if (threads < 0)
        return fy__diag_set(d, FY_EINVAL, "thread pool: %d threads requested", threads);
    if (threads == 0)
        threads = fy_pool_cpus();
    if (threads > FY_POOL_MAX_THREADS)
        return fy__diag_set(d, FY_ELIMIT, "thread pool: %d threads requested, at most %d", threads,
                            FY_POOL_MAX_THREADS);
    fy_pool *p = fy__calloc(1, sizeof *p);
    if (!p || (threads > 1 && !(p->tids = fy__calloc((size_t)threads - 1, sizeof *p->tids)))) {
        fy__free(p);
        return fy__diag_set(d, FY_ENOMEM, "thread pool: out of memory");
    }
    p->threads = 1;
    atomic_init(&p->spin_ns, SPIN_NS);
    for (int i = 0; i < threads - 1; i++) {
        int err = pthread_create(&p->tids[i], NULL, worker, p);
        if (err) {
            fy_pool_free(p);
            return fy__diag_set(d, FY_EIO, "thread pool: cannot start thread %d of %d: %s", i + 2,
                                threads, strerror(err));
        }
        p->threads++;
    }
    *out = p;
    return FY_OK;
}

void fy_pool_free(fy_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->gen, 1);
    futex_wake(&p->gen, INT_MAX);
    for (int i = 0; i < p->threads - 1; i++)
        pthread_join(p->tids[i], NULL);
    fy__free(p->tids);
    fy__free(p);
}

void fy_pool_set_spin(fy_pool *p, int64_t ns)
{
    if (p)
        atomic_store_explicit(&p->spin_ns, ns > 0 ? ns : 0, memory_order_relaxed);
}

int fy_pool_threads(const fy_pool *p)
{
    return p ? p->threads : 1;
}

void fy_pool_run(fy_pool *p, int64_t n, int64_t grain, fy_pool_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    int64_t chunks = (n - 1) / grain + 1;
    if (!p || p->threads < 2 || chunks < 2 || atomic_exchange(&p->busy, 1)) {
        fn(ctx, 0, n);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->grain = grain;
    p->chunks = chunks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store(&p->state, OPEN);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0)
        futex_wake(&p->gen, INT_MAX);
    drain(p);
    /* Close the loop; then wait for the workers still inside it. */
    unsigned s = atomic_fetch_and(&p->state, ~OPEN) & ~OPEN;
    uint64_t start = 0;
    int spin = 1;
    for (int i = 0; s != 0; i++) {
        spin = spin && keep_spinning(p, i, &start);
        if (spin)
            cpu_relax();
        else
            futex_wait(&p->state, s);
        s = atomic_load(&p->state);
    }
    atomic_store(&p->busy, 0);
}
