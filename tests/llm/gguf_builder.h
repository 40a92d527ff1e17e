/* SPDX-License-Identifier: MIT */
/* Writes small GGUF files in memory for the reader's tests and its seed corpus. */
#ifndef FERRY_TEST_GGUF_BUILDER_H
#define FERRY_TEST_GGUF_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    uint8_t *p;
    size_t len, cap;
} gb;

static inline void gb_put(gb *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static inline void gb_u32(gb *b, uint32_t v)
{
    gb_put(b, &v, 4);
}
static inline void gb_u64(gb *b, uint64_t v)
{
    gb_put(b, &v, 8);
}
static inline void gb_f32(gb *b, float v)
{
    gb_put(b, &v, 4);
}
static inline void gb_str(gb *b, const char *s)
{
    gb_u64(b, strlen(s));
    gb_put(b, s, strlen(s));
}
static inline void gb_header(gb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}
static inline void gb_kv_u32(gb *b, const char *k, uint32_t v)
{
    gb_str(b, k);
    gb_u32(b, 4);
    gb_u32(b, v);
}
static inline void gb_kv_f32(gb *b, const char *k, float v)
{
    gb_str(b, k);
    gb_u32(b, 6);
    gb_f32(b, v);
}
static inline void gb_kv_str(gb *b, const char *k, const char *v)
{
    gb_str(b, k);
    gb_u32(b, 8);
    gb_str(b, v);
}
static inline void gb_kv_bool(gb *b, const char *k, int v)
{
    uint8_t x = (uint8_t)v;
    gb_str(b, k);
    gb_u32(b, 7);
    gb_put(b, &x, 1);
}
static inline void gb_kv_strs(gb *b, const char *k, const char *const *v, size_t n)
{
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 8);
    gb_u64(b, n);
    for (size_t i = 0; i < n; i++)
        gb_str(b, v[i]);
}
static inline void gb_kv_f32s(gb *b, const char *k, const float *v, size_t n)
{
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 6);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
}
static inline void gb_kv_i32s(gb *b, const char *k, const int32_t *v, size_t n)
{
    gb_str(b, k);
    gb_u32(b, 9);
    gb_u32(b, 5);
    gb_u64(b, n);
    gb_put(b, v, n * 4);
}
static inline void gb_tensor(gb *b, const char *name, uint32_t nd, const uint64_t *ne,
                             uint32_t type, uint64_t off)
{
    gb_str(b, name);
    gb_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++)
        gb_u64(b, ne[i]);
    gb_u32(b, type);
    gb_u64(b, off);
}
static inline void gb_align(gb *b, size_t a)
{
    static const uint8_t z[64];
    while (b->len % a)
        gb_put(b, z, (a - b->len % a) < 64 ? a - b->len % a : 64);
}

#endif
