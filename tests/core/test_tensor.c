/* SPDX-License-Identifier: MIT */
/* Tensors: checked allocation (hostile shapes refused before allocating), dtype
 * names, and exactness of the half/bfloat16 conversions over every bit pattern. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "test.h"

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- allocation ---- */

TEST(alloc_zero_fills_and_records_shape)
{
    int64_t dims[3] = {2, 3, 4};
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 3, dims, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 3);
    FY_CHECK_EQ(t.dims[2], 4);
    FY_CHECK_EQ(t.owns, 1);
    FY_CHECK_EQ(fy_tensor_numel(&t), 24);
    FY_CHECK_EQ(fy_tensor_nbytes(&t), 96);
    float *p = t.data;
    float sum = 0;
    for (int i = 0; i < 24; i++)
        sum += p[i];
    FY_CHECK_NEAR(sum, 0, 0);
    char buf[64];
    FY_CHECK_STR(fy_tensor_describe(&t, buf, sizeof buf), "float32[2,3,4]");
    fy_tensor c;
    p[5] = 7;
    FY_CHECK_EQ(fy_tensor_copy(&c, &t, &d), FY_OK);
    FY_CHECK(c.data != t.data);
    FY_CHECK_NEAR(((float *)c.data)[5], 7, 0);
    fy_tensor_deinit(&c);
    fy_tensor_deinit(&t);
    FY_CHECK(t.data == NULL);
    fy_tensor_deinit(&t); /* twice is harmless: deinit zeroes */
    fy_tensor_deinit(NULL);
}

TEST(scalar_and_zero_size_tensors)
{
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_I64, 0, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&t), 1);
    FY_CHECK_EQ(fy_tensor_nbytes(&t), 8);
    FY_CHECK(t.data != NULL);
    char buf[32];
    FY_CHECK_STR(fy_tensor_describe(&t, buf, sizeof buf), "int64[]");
    fy_tensor_deinit(&t);

    int64_t dims[3] = {5, 0, 7};
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 3, dims, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&t), 0);
    FY_CHECK_EQ(fy_tensor_nbytes(&t), 0);
    FY_CHECK(t.data != NULL); /* documented: zero elements still get a pointer */
    fy_tensor c;
    FY_CHECK_EQ(fy_tensor_copy(&c, &t, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&c), 0);
    fy_tensor_deinit(&c);
    fy_tensor_deinit(&t);

    /* a zero dimension makes even an absurd shape empty, not an overflow */
    int64_t zero_then_huge[3] = {0, INT64_MAX, INT64_MAX};
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F64, 3, zero_then_huge, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_nbytes(&t), 0);
    fy_tensor_deinit(&t);
}

TEST(overflowing_dims_are_a_limit_not_an_allocation)
{
    fy_tensor t = {0};
    fy_diag d;
    size_t nb = 12345;
    int64_t two[2] = {(int64_t)1 << 32, (int64_t)1 << 32}; /* 2^64 elements: wraps to 0 */
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_U8, 2, two, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "limit");
    FY_CHECK_CONTAINS(d.msg, "dimension 1");
    FY_CHECK(t.data == NULL);

    int64_t max[1] = {INT64_MAX};
    FY_CHECK_EQ(fy_shape_nbytes(FY_DTYPE_F32, 1, max, &nb, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "float32");
    FY_CHECK_EQ(nb, 12345); /* out untouched on failure */

    /* Exactly at the ceiling is fine for the size check; one byte over is not. */
    int64_t at[1] = {(int64_t)FY_TENSOR_MAX_BYTES};
    FY_CHECK_EQ(fy_shape_nbytes(FY_DTYPE_U8, 1, at, &nb, &d), FY_OK);
    FY_CHECK_EQ(nb, FY_TENSOR_MAX_BYTES);
    int64_t over[1] = {(int64_t)FY_TENSOR_MAX_BYTES + 1};
    FY_CHECK_EQ(fy_shape_nbytes(FY_DTYPE_U8, 1, over, &nb, &d), FY_ELIMIT);
    int64_t over_by_size[1] = {(int64_t)FY_TENSOR_MAX_BYTES / 2 + 1};
    FY_CHECK_EQ(fy_shape_nbytes(FY_DTYPE_U16, 1, over_by_size, &nb, &d), FY_ELIMIT);

    /* many moderate dims whose product overflows 64 bits */
    int64_t eight[8];
    for (int i = 0; i < 8; i++)
        eight[i] = 1 << 20;
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 8, eight, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "larger than");
}

TEST(negative_dims_are_invalid)
{
    fy_tensor t = {0};
    fy_diag d;
    int64_t dims[3] = {2, -1, 3};
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 3, dims, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "dimension 1 is negative (-1)");
    int64_t min[1] = {INT64_MIN};
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 1, min, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "negative");
    FY_CHECK(t.data == NULL);
}

TEST(rank_above_the_limit_and_bad_dtypes)
{
    fy_tensor t = {0};
    fy_diag d;
    int64_t dims[FY_MAX_RANK + 1];
    for (int i = 0; i <= FY_MAX_RANK; i++)
        dims[i] = 1;
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, FY_MAX_RANK, dims, &d), FY_OK);
    fy_tensor_deinit(&t);
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, FY_MAX_RANK + 1, dims, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "rank 9");
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, -1, dims, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "rank -1");
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_STRING, 1, dims, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "string");
    FY_CHECK_EQ(fy_tensor_alloc(&t, (fy_dtype)99, 1, dims, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "(99)");
    FY_CHECK(t.data == NULL);
    /* NULL diag is allowed everywhere */
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, FY_MAX_RANK + 1, dims, NULL), FY_ELIMIT);
}

TEST(alloc_failure_is_enomem)
{
    int64_t dims[2] = {4, 4};
    fy_tensor t = {0};
    fy_diag d;
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 2, dims, &d), FY_ENOMEM);
    fy__alloc_fail_at(0);
    FY_CHECK_CONTAINS(d.msg, "out of memory");
    FY_CHECK(t.data == NULL);

    fy_tensor src;
    FY_CHECK_EQ(fy_tensor_alloc(&src, FY_DTYPE_F32, 2, dims, &d), FY_OK);
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy_tensor_copy(&t, &src, &d), FY_ENOMEM);
    fy__alloc_fail_at(0);
    FY_CHECK(t.data == NULL);
    fy_tensor_deinit(&src);

    /* the hook counts: the second allocation from now fails, not the first */
    void *a, *b;
    fy__alloc_fail_at(2);
    a = fy__malloc(8);
    b = fy__malloc(8);
    fy__alloc_fail_at(0);
    FY_CHECK(a != NULL);
    FY_CHECK(b == NULL);
    fy__free(a);
    long before = fy__alloc_count();
    char *s = fy__strndup("abcdef", 3);
    FY_CHECK_STR(s, "abc");
    FY_CHECK_EQ(fy__alloc_count(), before + 1);
    fy__free(s);
    /* an empty protobuf bytes field arrives as (NULL, 0): no memcpy from NULL */
    s = fy__strndup(NULL, 0);
    FY_CHECK_STR(s, "");
    fy__free(s);
}

/* ---- dtypes ---- */

TEST(dtype_names_round_trip)
{
    static const fy_dtype all[] = {FY_DTYPE_F32,  FY_DTYPE_U8,  FY_DTYPE_I8,  FY_DTYPE_U16,
                                   FY_DTYPE_I16,  FY_DTYPE_I32, FY_DTYPE_I64, FY_DTYPE_STRING,
                                   FY_DTYPE_BOOL, FY_DTYPE_F16, FY_DTYPE_F64, FY_DTYPE_U32,
                                   FY_DTYPE_U64,  FY_DTYPE_BF16};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *n = fy_dtype_name(all[i]);
        FY_CHECK(strcmp(n, "undefined") != 0);
        FY_CHECK_EQ(fy_dtype_from_name(n), all[i]);
    }
    FY_CHECK_STR(fy_dtype_name(FY_DTYPE_F32), "float32");
    FY_CHECK_STR(fy_dtype_name(FY_DTYPE_BF16), "bfloat16");
    FY_CHECK_STR(fy_dtype_name(FY_DTYPE_UNDEFINED), "undefined");
    FY_CHECK_STR(fy_dtype_name((fy_dtype)14), "undefined");
    FY_CHECK_STR(fy_dtype_name((fy_dtype)-3), "undefined");
    FY_CHECK_EQ(fy_dtype_from_name("FLOAT32"), FY_DTYPE_F32);
    FY_CHECK_EQ(fy_dtype_from_name("float"), FY_DTYPE_F32);
    FY_CHECK_EQ(fy_dtype_from_name("double"), FY_DTYPE_F64);
    FY_CHECK_EQ(fy_dtype_from_name("half"), FY_DTYPE_F16);
    FY_CHECK_EQ(fy_dtype_from_name("fp16"), FY_DTYPE_F16);
    FY_CHECK_EQ(fy_dtype_from_name(""), FY_DTYPE_UNDEFINED);
    FY_CHECK_EQ(fy_dtype_from_name("float3"), FY_DTYPE_UNDEFINED);
    FY_CHECK_EQ(fy_dtype_from_name("float320"), FY_DTYPE_UNDEFINED);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_F32), 4);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_BOOL), 1);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_BF16), 2);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_U64), 8);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_STRING), 0);
    FY_CHECK_EQ(fy_dtype_size(FY_DTYPE_UNDEFINED), 0);
    FY_CHECK_EQ(fy_dtype_size((fy_dtype)1000), 0);
    for (int e = -8; e <= 1; e++)
        FY_CHECK(fy_strerror(e) != NULL && fy_strerror(e)[0] != 0);
    FY_CHECK_STR(fy_strerror(FY_ELIMIT), "limit exceeded");
    FY_CHECK_STR(fy_strerror(12345), "unknown error");
}

/* ---- half precision ---- */

static int f16_is_nan(uint16_t h)
{
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
}

TEST(every_f16_round_trips_through_f32)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fy_f16_to_f32((uint16_t)h);
        uint16_t back = fy_f32_to_f16(f);
        if (f16_is_nan((uint16_t)h)) {
            /* NaN stays NaN with its sign; the payload need not survive */
            if (!isnan(f) || !f16_is_nan(back) || (back & 0x8000) != (h & 0x8000))
                bad++;
        } else if (back != h) {
            if (bad++ < 5)
                fprintf(stderr, "f16 %04x -> %g -> %04x\n", h, (double)f, back);
        }
    }
    FY_CHECK_EQ(bad, 0);
}

TEST(f16_to_f32_known_values)
{
    FY_CHECK_NEAR(fy_f16_to_f32(0x3c00), 1.0, 0);
    FY_CHECK_NEAR(fy_f16_to_f32(0xc000), -2.0, 0);
    FY_CHECK_NEAR(fy_f16_to_f32(0x7bff), 65504.0, 0);
    FY_CHECK_NEAR(fy_f16_to_f32(0x0400), ldexp(1, -14), 0); /* smallest normal */
    FY_CHECK_NEAR(fy_f16_to_f32(0x0001), ldexp(1, -24), 0); /* smallest subnormal */
    FY_CHECK_NEAR(fy_f16_to_f32(0x03ff), 1023 * ldexp(1, -24), 0);
    FY_CHECK_NEAR(fy_f16_to_f32(0x8001), -ldexp(1, -24), 0);
    FY_CHECK_EQ(f32_bits(fy_f16_to_f32(0x8000)), 0x80000000u); /* -0 keeps its sign */
    FY_CHECK(isinf(fy_f16_to_f32(0x7c00)) && fy_f16_to_f32(0x7c00) > 0);
    FY_CHECK(isinf(fy_f16_to_f32(0xfc00)) && fy_f16_to_f32(0xfc00) < 0);
    FY_CHECK(isnan(fy_f16_to_f32(0x7e00)));
    FY_CHECK(isnan(fy_f16_to_f32(0x7c01))); /* signalling pattern is still NaN */
    /* every f16 value is exact in f32: compare with a computed value */
    for (uint32_t h = 0x0400; h < 0x7c00; h += 37) {
        double want = ldexp(1.0 + (h & 0x3ff) / 1024.0, (int)(h >> 10) - 15);
        FY_CHECK_NEAR(fy_f16_to_f32((uint16_t)h), want, 0);
    }
}

TEST(f32_to_f16_rounds_to_nearest_even)
{
    /* halfway between 1 and 1+2^-10: ties to the even mantissa (1.0) */
    FY_CHECK_EQ(fy_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    /* halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up */
    FY_CHECK_EQ(fy_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    /* just above and below halfway */
    FY_CHECK_EQ(fy_f32_to_f16(bits_f32(f32_bits(1.0f + 0x1p-11f) + 1)), 0x3c01);
    FY_CHECK_EQ(fy_f32_to_f16(bits_f32(f32_bits(1.0f + 0x1p-11f) - 1)), 0x3c00);
    /* rounding that carries into the exponent */
    FY_CHECK_EQ(fy_f32_to_f16(2.0f - 0x1p-12f), 0x4000);
    FY_CHECK_EQ(fy_f32_to_f16(-(2.0f - 0x1p-12f)), 0xc000);
    /* overflow: 65504 is the largest half; halfway to 65536 (=65520) rounds to inf */
    FY_CHECK_EQ(fy_f32_to_f16(65504.0f), 0x7bff);
    FY_CHECK_EQ(fy_f32_to_f16(65519.0f), 0x7bff);
    FY_CHECK_EQ(fy_f32_to_f16(65520.0f), 0x7c00);
    FY_CHECK_EQ(fy_f32_to_f16(-65520.0f), 0xfc00);
    FY_CHECK_EQ(fy_f32_to_f16(1e30f), 0x7c00);
    FY_CHECK_EQ(fy_f32_to_f16(3.4028235e38f), 0x7c00);
    /* inf and nan */
    FY_CHECK_EQ(fy_f32_to_f16(INFINITY), 0x7c00);
    FY_CHECK_EQ(fy_f32_to_f16(-INFINITY), 0xfc00);
    FY_CHECK(f16_is_nan(fy_f32_to_f16(NAN)));
    FY_CHECK(f16_is_nan(fy_f32_to_f16(bits_f32(0x7f800001u)))); /* payload only in low bits */
    FY_CHECK_EQ(fy_f32_to_f16(bits_f32(0xff800001u)) & 0x8000, 0x8000);
    /* signed zeros */
    FY_CHECK_EQ(fy_f32_to_f16(0.0f), 0x0000);
    FY_CHECK_EQ(fy_f32_to_f16(-0.0f), 0x8000);
}

TEST(f32_to_f16_subnormals)
{
    FY_CHECK_EQ(fy_f32_to_f16(0x1p-24f), 0x0001);
    FY_CHECK_EQ(fy_f32_to_f16(-0x1p-24f), 0x8001);
    FY_CHECK_EQ(fy_f32_to_f16(0x1p-25f), 0x0000);        /* halfway to 0: even is 0 */
    FY_CHECK_EQ(fy_f32_to_f16(0x1.000002p-25f), 0x0001); /* just above halfway */
    FY_CHECK_EQ(fy_f32_to_f16(3 * 0x1p-25f), 0x0002);    /* 1.5 ulp: ties to even (2) */
    FY_CHECK_EQ(fy_f32_to_f16(5 * 0x1p-25f), 0x0002);    /* 2.5 ulp: ties to even (2) */
    FY_CHECK_EQ(fy_f32_to_f16(0x1p-30f), 0x0000);
    FY_CHECK_EQ(fy_f32_to_f16(-0x1p-30f), 0x8000);
    FY_CHECK_EQ(fy_f32_to_f16(bits_f32(0x00000001u)), 0x0000); /* f32 subnormal */
    FY_CHECK_EQ(fy_f32_to_f16(1023 * 0x1p-24f), 0x03ff);       /* largest subnormal */
    /* between the largest subnormal and the smallest normal: rounds up into normal */
    FY_CHECK_EQ(fy_f32_to_f16(1023.5f * 0x1p-24f), 0x0400);
    FY_CHECK_EQ(fy_f32_to_f16(0x1p-14f), 0x0400);
    /* every f32 between two adjacent subnormal halves rounds to the nearer one */
    for (uint32_t m = 0; m < 1024; m += 7) {
        float lo = (float)m * 0x1p-24f, hi = (float)(m + 1) * 0x1p-24f;
        float q1 = lo + (hi - lo) * 0.25f, q3 = lo + (hi - lo) * 0.75f;
        FY_CHECK_EQ(fy_f32_to_f16(q1), m);
        FY_CHECK_EQ(fy_f32_to_f16(q3), m + 1);
    }
}

TEST(f32_to_f16_matches_a_reference_on_many_values)
{
    /* Reference by exhaustive nearest search over the finite halves around the value. */
    uint32_t seed = 12345;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1664525u + 1013904223u;
        /* exponents in the half range plus a margin on both sides */
        uint32_t exp = 100 + (seed >> 8) % 45; /* 2^-27 .. 2^17 */
        uint32_t bits = (seed & 0x80000000u) | exp << 23 | ((seed * 2654435761u) & 0x7fffff);
        float f = bits_f32(bits);
        uint16_t h = fy_f32_to_f16(f);
        double a = fabs((double)f);
        float back = fy_f16_to_f32(h);
        if (isinf(back)) {
            if (a < 65520.0)
                bad++;
            continue;
        }
        uint16_t mag = h & 0x7fff;
        double err = fabs(fabs((double)back) - a);
        double below = mag > 0 ? fabs((double)fy_f16_to_f32((uint16_t)(mag - 1)) - a) : INFINITY;
        double above =
            mag < 0x7bff ? fabs((double)fy_f16_to_f32((uint16_t)(mag + 1)) - a) : INFINITY;
        int ok = err <= below && err <= above;
        if (ok && (err == below || err == above) && err != 0)
            ok = (mag & 1) == 0; /* tie: the even one */
        if (!ok && bad++ < 5)
            fprintf(stderr, "f32 %a -> %04x\n", (double)f, h);
    }
    FY_CHECK_EQ(bad, 0);
}

/* ---- bfloat16 ---- */

TEST(every_bf16_round_trips_through_f32)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fy_bf16_to_f32((uint16_t)h);
        FY_CHECK_EQ(f32_bits(f), h << 16);
        uint16_t back = fy_f32_to_bf16(f);
        int nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0;
        if (nan) {
            if (!isnan(fy_bf16_to_f32(back)) || (back & 0x8000) != (h & 0x8000))
                bad++;
        } else if (back != h) {
            bad++;
        }
    }
    FY_CHECK_EQ(bad, 0);
}

TEST(f32_to_bf16_rounding_and_specials)
{
    FY_CHECK_EQ(fy_f32_to_bf16(1.0f), 0x3f80);
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x3f808000u)), 0x3f80); /* tie, even below */
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x3f818000u)), 0x3f82); /* tie, even above */
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x3f808001u)), 0x3f81);
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x3f807fffu)), 0x3f80);
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x3fffffffu)), 0x4000); /* carry into exponent */
    FY_CHECK_EQ(fy_f32_to_bf16(3.4028235e38f), 0x7f80);         /* max float rounds to inf */
    FY_CHECK_EQ(fy_f32_to_bf16(INFINITY), 0x7f80);
    FY_CHECK_EQ(fy_f32_to_bf16(-INFINITY), 0xff80);
    FY_CHECK_EQ(fy_f32_to_bf16(-0.0f), 0x8000);
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x00000001u)), 0x0000); /* tiny subnormal */
    FY_CHECK_EQ(fy_f32_to_bf16(bits_f32(0x00018000u)), 0x0002); /* subnormal tie, even */
    /* NaN whose payload sits only in the low 16 bits must stay NaN, not become inf */
    uint16_t n = fy_f32_to_bf16(bits_f32(0x7f800001u));
    FY_CHECK(isnan(fy_bf16_to_f32(n)));
    n = fy_f32_to_bf16(bits_f32(0xffffffffu));
    FY_CHECK(isnan(fy_bf16_to_f32(n)));
    FY_CHECK_EQ(n & 0x8000, 0x8000);
}

int main(void)
{
    RUN(alloc_zero_fills_and_records_shape);
    RUN(scalar_and_zero_size_tensors);
    RUN(overflowing_dims_are_a_limit_not_an_allocation);
    RUN(negative_dims_are_invalid);
    RUN(rank_above_the_limit_and_bad_dtypes);
    RUN(alloc_failure_is_enomem);
    RUN(dtype_names_round_trip);
    RUN(every_f16_round_trips_through_f32);
    RUN(f16_to_f32_known_values);
    RUN(f32_to_f16_rounds_to_nearest_even);
    RUN(f32_to_f16_subnormals);
    RUN(f32_to_f16_matches_a_reference_on_many_values);
    RUN(every_bf16_round_trips_through_f32);
    RUN(f32_to_bf16_rounding_and_specials);
    return TEST_SUMMARY();
}
