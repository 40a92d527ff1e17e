/* SPDX-License-Identifier: MIT */
/* CPU feature dispatch for the fast kernels: the best instruction set this CPU
 * runs, and the test override that forces a lower one. */
#include <stdatomic.h>

#include "fast.h"

/* The mutable globals of the kernels (listed in docs/ARCHITECTURE.md). forced: tests
 * force a level to cover every code path on one machine (-1: no override). detected:
 * the detected level, cached because kernels ask per call (-1: not yet detected;
 * detection is idempotent, so racing first callers store the same value). */
static atomic_int forced = -1, detected = -1;

static fy__isa detect(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return FY_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return FY_ISA_AVX2;
#endif
    return FY_ISA_C;
}

fy__isa fy__isa_best(void)
{
    int b = atomic_load_explicit(&detected, memory_order_relaxed);
    if (b < 0) {
        b = (int)detect();
        atomic_store_explicit(&detected, b, memory_order_relaxed);
    }
    return (fy__isa)b;
}

fy__isa fy__isa_active(void)
{
    fy__isa best = fy__isa_best();
    int f = atomic_load_explicit(&forced, memory_order_relaxed);
    return f >= 0 && f < (int)best ? (fy__isa)f : best;
}

void fy__isa_force(int level)
{
    atomic_store(&forced, level < 0 ? -1 : level);
}
