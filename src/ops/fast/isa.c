/* SPDX-License-Identifier: MIT */
/* CPU feature dispatch for the fast kernels: the best instruction set this CPU
 * runs, and the test override that forces a lower one. */
#include <stdatomic.h>

#include "fast.h"

/* The one mutable global of the kernels (listed in docs/ARCHITECTURE.md): tests
 * force a level to cover every code path on one machine. -1: no override. */
static atomic_int forced = -1;

fy__isa fy__isa_best(void)
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
