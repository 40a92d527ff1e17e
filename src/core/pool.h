/* SPDX-License-Identifier: MIT */
/* Persistent thread pool for intra-op parallelism: worker threads are created once
 * and run parallel-for loops with the calling thread taking part. */
#ifndef FERRY_POOL_H
#define FERRY_POOL_H

#include <stdint.h>

#include "ferry/engine.h"
#include "ferry/error.h"

/* Most threads one pool may have (callers asking for more get FY_ELIMIT). */
#define FY_POOL_MAX_THREADS 256

/* Body of a parallel loop: handle indices [begin, end). Called concurrently from
 * several threads on disjoint ranges; must not call back into the same loop. */
typedef void (*fy_pool_fn)(void *ctx, int64_t begin, int64_t end);

/* Create a pool of `threads` threads in all, counting the caller of fy_pool_run
 * (so threads - 1 workers are started). threads == 0 means the CPUs available to
 * this process (fy_pool_cpus). FY_ENOMEM / FY_EIO (thread creation) / FY_ELIMIT. */
int fy_pool_create(fy_pool **out, int threads, fy_diag *d);
/* Stop and join the workers. The pool must be idle. NULL is a no-op. */
void fy_pool_free(fy_pool *p);
/* How long idle workers, and a caller waiting for them, spin before sleeping (ns;
 * default 50 µs, enough to bridge the gaps between the kernels of one inference
 * at batch 1). Where the pool shares its CPUs with other busy threads, as in
 * `ferry serve`, spinning takes CPU from them: a short spin suits it. Takes effect
 * at the next wait. NULL is a no-op. */
void fy_pool_set_spin(fy_pool *p, int64_t ns);
/* Threads that fy_pool_run uses, caller included; 1 for NULL. */
int fy_pool_threads(const fy_pool *p);
/* CPUs this process may use: the affinity mask, capped by a cgroup v2 cpu.max
 * quota (rounded up); at least 1. */
int fy_pool_cpus(void);

/* Parallel for: calls fn(ctx, b, e) over [0, n) in chunks of `grain` indices
 * (grain < 1 counts as 1), on the workers and the calling thread, and returns
 * when every chunk is done. Chunks are handed out dynamically, so fn must not
 * rely on which thread runs which range.
 *
 * Sharing rule: any number of threads (sessions) may call fy_pool_run on one pool
 * at once. The workers serve one loop at a time; a caller that finds them busy
 * (or a nested call from inside fn) runs its whole loop inline on its own thread.
 * So a shared pool never has more runnable threads than its size plus the callers
 * themselves, and nothing ever waits for another caller's loop.
 * A NULL pool, a 1-thread pool, or a loop of a single chunk also runs inline. */
void fy_pool_run(fy_pool *p, int64_t n, int64_t grain, fy_pool_fn fn, void *ctx);

#endif
