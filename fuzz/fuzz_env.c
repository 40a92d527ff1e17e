/* SPDX-License-Identifier: MIT */
/* Fuzz target for the environment parsers: cgroup cpu.max and memory limits, CPU
 * lists, /proc/meminfo and /proc/cpuinfo flags. Any bytes give a value or "none",
 * never a crash; values found are in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "env/env_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    double cpus = 0;
    uint64_t b = 0, total = 0, avail = 0;
    int n = 0;
    if (fy_env_parse_cpu_max(t, size, &cpus) && !(cpus >= 0 && cpus <= (double)((uint64_t)1 << 50)))
        abort();
    (void)fy_env_parse_mem_limit(t, size, &b);
    if (fy_env_parse_cpu_list(t, size, &n) && (n < 1 || n > (1 << 20)))
        abort();
    (void)fy_env_parse_meminfo(t, size, &total, &avail);
    uint64_t f = fy__env_flags_from_cpuinfo(t, size);
    if (fy_env_cpu_feature_count() < 64 && (f >> fy_env_cpu_feature_count()) != 0)
        abort();
    return 0;
}
