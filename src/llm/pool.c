/* SPDX-License-Identifier: MIT */
/* The decoder's parallel-for seam. Until the core thread pool (src/core/pool.h, being
 * written on the `kernels` branch) is merged, work runs on the calling thread; this is
 * the single place to point at fy_pool_run then. */
#include "core/core.h"
#include "llm/llm_int.h"

struct llm_pool {
    int threads;
};

int fy__llm_pool_create(llm_pool **out, int threads)
{
    llm_pool *p = fy__calloc(1, sizeof *p);
    if (!p)
        return FY_ENOMEM;
    p->threads = threads < 1 ? 1 : threads;
    *out = p;
    return FY_OK;
}

void fy__llm_pool_free(llm_pool *p)
{
    fy__free(p);
}

int fy__llm_pool_threads(const llm_pool *p)
{
    return p ? p->threads : 1;
}

void fy__llm_parallel_for(llm_pool *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
    (void)p;
    for (size_t i = 0; i < n; i++)
        fn(ctx, i);
}
