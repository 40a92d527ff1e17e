/* SPDX-License-Identifier: MIT */
/* 16-float vectors (one AVX-512 register) with GCC vector types, for the row
 * kernels' AVX-512 builds (act.c, rows.c). The math is vec_math.h's, with names
 * ending in 16; used only inside functions compiled with target("avx512f"). */
#ifndef FERRY_OPS_FAST_VEC16_H
#define FERRY_OPS_FAST_VEC16_H

#include <stdint.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));

#ifndef INLINE
#define INLINE static inline __attribute__((always_inline))
#endif

#define VEC v16
#define VECI v16i
#define VECU v16u
#define VN(name) name##16
#include "vec_math.h"
#undef VEC
#undef VECI
#undef VECU
#undef VN

#endif
