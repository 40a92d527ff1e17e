/* SPDX-License-Identifier: MIT */
/* Vectorized requantization (int32 sums to uint8/int8) and QuantizeLinear (float32
 * to uint8/int8), byte-exact with the reference kernels: the same double-precision
 * product and round-half-to-even, the same single-precision division. */
#ifndef FERRY_REQUANT_H
#define FERRY_REQUANT_H

#include <stdint.h>

/* One row of n int32 sums: y[j] = saturate(nearbyint((double)(acc[j] + bias[j]) *
 * (double)mult[j]) + zy) to [lo, lo + 255] (lo = 0: uint8, -128: int8), sums
 * wrapping modulo 2^32 like the reference. bias may be NULL; mult must be finite
 * (callers check with fy__requant_ok). */
void fy__requant_row(const int32_t *acc, const int32_t *bias, const double *mult, int64_t n,
                     int32_t zy, int lo, void *y);
/* The same for column j of a row-major int32 matrix: n sums acc[i * stride] with
 * one bias and multiplier (a convolution's output channel from its transposed
 * sums), written to n consecutive bytes. */
void fy__requant_col(const int32_t *acc, int64_t stride, int64_t n, int32_t bias, double mult,
                     int32_t zy, int lo, void *y);
/* A convolution's transposed sums acc [n positions x M channels] to M planes: channel
 * m's n outputs go to y + m * P (bias and mult per channel; bias may be NULL).
 * AVX-512 transposes 16 x 16 tiles in registers; the rest uses fy__requant_col. */
void fy__requant_planes(const int32_t *acc, int64_t M, int64_t n, const int32_t *bias,
                        const double *mult, int32_t zy, int lo, uint8_t *y, int64_t P);
/* 1 when every multiplier is finite (the vector path needs no NaN handling). */
int fy__requant_ok(const float *mult, int64_t n);

/* QuantizeLinear with one scale and zero point: y = saturate(nearbyint(x / s) + zp),
 * NaN to lo, the division in float32. lo = 0: uint8, -128: int8. */
void fy__quantize_f32(const float *x, int64_t n, float s, int32_t zp, int lo, void *y);

#endif
