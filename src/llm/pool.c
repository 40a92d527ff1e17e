/* SPDX-License-Identifier: MIT */
/* The decoder's parallel-for seam over the core thread pool (src/core/pool.h): one
 * pool per model, the calling thread taking part. */
#include "core/pool.h"
#include "core/core.h"
#include "llm/llm_int.h"

struct llm_pool {
    fy_pool *pool; /* NULL: one thread, loops run inline */
    int threads;
};

int fy__llm_pool_create(llm_pool **out, int threads)
{
    llm_pool *p = fy__calloc(1, sizeof *p);
    if (!p)
        return FY_ENOMEM;
    p->threads = threads < 1 ? 1 : threads;
    if (p->threads > 1) {
        int rc = fy_pool_create(&p->pool, p->threads, NULL);
        if (rc != FY_OK) {
            fy__free(p);
            return rc;
        }
    }
    *out = p;
    return FY_OK;
}

void fy__llm_pool_free(llm_pool *p)
{
    if (!p)
        return;
    fy_pool_free(p->pool);
    fy__free(p);
}

fy_pool *fy__llm_pool_core(const llm_pool *p)
{
    return p ? p->pool : NULL;
}

int fy__llm_pool_threads(const llm_pool *p)
{
    return p ? p->threads : 1;
}

typedef struct range_ctx {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
} range_ctx;

static void run_range(void *c, int64_t begin, int64_t end)
{
    const range_ctx *r = c;
    for (int64_t i = begin; i < end; i++)
        r->fn(r->ctx, (size_t)i);
}

void fy__llm_parallel_for(llm_pool *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
    if (!p || !p->pool || n < 2) {
        for (size_t i = 0; i < n; i++)
            fn(ctx, i);
        return;
    }
    range_ctx r = {fn, ctx};
    fy_pool_run(p->pool, (int64_t)n, 1, run_range, &r);
}
