/* SPDX-License-Identifier: MIT */
/* Offsets for the session arena (plan.h): greedy by size, the placement most
 * inference engines use for static plans (large buffers first leave the fewest
 * holes). Quadratic in the planned values, which is cheap next to a first run. */
#include <stdint.h>
#include <stdlib.h>

#include "../core/core.h"
#include "plan.h"

static size_t round_up(size_t n)
{
    return (n + FY_PLAN_ALIGN - 1) / FY_PLAN_ALIGN * FY_PLAN_ALIGN;
}

typedef struct span {
    size_t off, len;
} span;

static int by_off(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

int fy__plan_offsets(int n, const size_t *size, const int *start, const int *end, size_t *offset,
                     size_t *total)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        m += size[i] > 0;
    if (m > FY_PLAN_MAX_VALUES)
        return FY_ELIMIT;
    int *order = fy__malloc((size_t)(m ? m : 1) * sizeof *order);
    span *busy = fy__malloc((size_t)(m ? m : 1) * sizeof *busy);
    if (!order || !busy) {
        fy__free(order);
        fy__free(busy);
        return FY_ENOMEM;
    }
    m = 0;
    for (int i = 0; i < n; i++) {
        offset[i] = 0;
        if (size[i] > 0)
            order[m++] = i;
    }
    /* Largest first; ties by start so the plan is deterministic. Insertion sort
     * keeps this file free of a qsort context global. */
    for (int i = 1; i < m; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && (size[order[j]] < size[v] ||
                          (size[order[j]] == size[v] && start[order[j]] > start[v]))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    size_t top = 0;
    for (int i = 0; i < m; i++) {
        int v = order[i], nb = 0;
        size_t len = round_up(size[v]);
        for (int j = 0; j < i; j++) {
            int u = order[j];
            if (start[u] <= end[v] && start[v] <= end[u])
                busy[nb++] = (span){offset[u], round_up(size[u])};
        }
        qsort(busy, (size_t)nb, sizeof *busy, by_off);
        size_t at = 0;
        for (int j = 0; j < nb; j++) {
            if (busy[j].off >= at + len)
                break; /* fits in the gap before this one */
            if (busy[j].off + busy[j].len > at)
                at = busy[j].off + busy[j].len;
        }
        offset[v] = at;
        if (at + len > top)
            top = at + len;
    }
    fy__free(order);
    fy__free(busy);
    *total = top;
    return FY_OK;
}
