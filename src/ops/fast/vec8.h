/* SPDX-License-Identifier: MIT */
/* 8-float vectors with GCC vector types, for the row kernels (act.c, rows.c): each
 * is compiled once for AVX2+FMA and once for the baseline ISA (the portable path).
 * The math (exp, sigmoid, tanh, erf) is vec_math.h's, with names ending in 8. */
#ifndef FERRY_OPS_FAST_VEC8_H
#define FERRY_OPS_FAST_VEC8_H

#include <stdint.h>
#include <string.h>

/* The vector helpers are always inlined, so no vector ever crosses a call
 * boundary: GCC's note that such returns would change the ABI without AVX does
 * not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));

#ifndef INLINE
#define INLINE static inline __attribute__((always_inline))
#endif

#define VEC v8
#define VECI v8i
#define VECU v8u
#define VN(name) name##8
#include "vec_math.h"
#undef VEC
#undef VECI
#undef VECU
#undef VN

#endif
