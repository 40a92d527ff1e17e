/* SPDX-License-Identifier: MIT */
/* GGUF v2/v3 reader: header, metadata, tensor infos and the memory-mapped data section.
 * Every declared count, length, shape and offset is checked against the bytes present
 * before it is used to allocate or index anything (RELIABILITY.md, item 1). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "llm/llm_int.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_ALIGNMENT (1u << 20)

struct fy_gguf {
    const uint8_t *base;
    size_t size;
    void *map; /* non-NULL when we mmapped it */
    size_t map_len;
    uint32_t version, alignment;
    uint64_t data_off;
    size_t n_kv, n_tensors;
    fy_gguf_kv *kv;
    fy_gguf_tensor *tensors;
    const fy_gguf_tensor **sorted; /* tensors sorted by name, for lookup */
    const fy_gguf_kv **kv_sorted;  /* metadata sorted by key */
};

static const struct {
    uint32_t type;
    const char *name;
    uint32_t blck, bytes;
} type_table[] = {
    {FY_GGML_F32, "f32", 1, 4},       {FY_GGML_F16, "f16", 1, 2},
    {FY_GGML_Q4_0, "q4_0", 32, 18},   {FY_GGML_Q4_1, "q4_1", 32, 20},
    {FY_GGML_Q5_0, "q5_0", 32, 22},   {FY_GGML_Q5_1, "q5_1", 32, 24},
    {FY_GGML_Q8_0, "q8_0", 32, 34},   {FY_GGML_Q8_1, "q8_1", 32, 36},
    {FY_GGML_Q2_K, "q2_k", 256, 84},  {FY_GGML_Q3_K, "q3_k", 256, 110},
    {FY_GGML_Q4_K, "q4_k", 256, 144}, {FY_GGML_Q5_K, "q5_k", 256, 176},
    {FY_GGML_Q6_K, "q6_k", 256, 210}, {FY_GGML_Q8_K, "q8_k", 256, 292},
    {FY_GGML_I8, "i8", 1, 1},         {FY_GGML_I16, "i16", 1, 2},
    {FY_GGML_I32, "i32", 1, 4},       {FY_GGML_I64, "i64", 1, 8},
    {FY_GGML_F64, "f64", 1, 8},       {FY_GGML_BF16, "bf16", 1, 2},
};

static int type_index(uint32_t t)
{
    for (size_t i = 0; i < sizeof type_table / sizeof type_table[0]; i++)
        if (type_table[i].type == t)
            return (int)i;
    return -1;
}
const char *fy_ggml_type_name(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? NULL : type_table[i].name;
}
uint32_t fy_ggml_block_elems(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? 0 : type_table[i].blck;
}
uint32_t fy_ggml_block_bytes(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? 0 : type_table[i].bytes;
}

/* Size in bytes of one scalar metadata type; 0 for string/array/unknown. */
static uint32_t scalar_size(uint32_t t)
{
    switch (t) {
    case FY_GGUF_U8:
    case FY_GGUF_I8:
    case FY_GGUF_BOOL: return 1;
    case FY_GGUF_U16:
    case FY_GGUF_I16: return 2;
    case FY_GGUF_U32:
    case FY_GGUF_I32:
    case FY_GGUF_F32: return 4;
    case FY_GGUF_U64:
    case FY_GGUF_I64:
    case FY_GGUF_F64: return 8;
    default: return 0;
    }
}

typedef struct cursor {
    const uint8_t *p;
    size_t len, off;
    fy_diag *d;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->len - c->off)
        return fy__diag_set(c->d, FY_EPARSE,
                            "gguf: truncated: %s needs %llu bytes at offset %zu, %zu left", what,
                            (unsigned long long)n, c->off, c->len - c->off);
    return FY_OK;
}
static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc)
        return rc;
    memcpy(v, c->p + c->off, 4);
    c->off += 4;
    return FY_OK;
}
static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc)
        return rc;
    memcpy(v, c->p + c->off, 8);
    c->off += 8;
    return FY_OK;
}
static int rd_str(cursor *c, fy_gguf_str *s, uint64_t max, const char *what)
{
    uint64_t n;
    size_t at = c->off;
    int rc = rd_u64(c, &n, what);
    if (rc)
        return rc;
    if (n > max)
        return fy__diag_set(c->d, FY_ELIMIT,
                            "gguf: %s at offset %zu: string length %llu above the limit %llu", what,
                            at, (unsigned long long)n, (unsigned long long)max);
    if ((rc = need(c, n, what)) != FY_OK)
        return rc;
    s->ptr = (const char *)c->p + c->off;
    s->len = n;
    c->off += (size_t)n;
    return FY_OK;
}

static const char *type_word(uint32_t t)
{
    static const char *const w[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                    "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof w / sizeof w[0] ? w[t] : "unknown";
}

static void fill_scalar(fy_gguf_value *v, const uint8_t *p)
{
    switch (v->type) {
    case FY_GGUF_U8:
    case FY_GGUF_BOOL:
        v->u = p[0];
        v->i = (int64_t)v->u;
        v->f = (double)v->u;
        break;
    case FY_GGUF_I8: v->i = (int8_t)p[0]; break;
    case FY_GGUF_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        v->u = x;
        break;
    }
    case FY_GGUF_I16: {
        int16_t x;
        memcpy(&x, p, 2);
        v->i = x;
        break;
    }
    case FY_GGUF_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        v->u = x;
        break;
    }
    case FY_GGUF_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        v->i = x;
        break;
    }
    case FY_GGUF_U64: memcpy(&v->u, p, 8); break;
    case FY_GGUF_I64: memcpy(&v->i, p, 8); break;
    case FY_GGUF_F32: {
        float x;
        memcpy(&x, p, 4);
        v->f = x;
        break;
    }
    case FY_GGUF_F64: memcpy(&v->f, p, 8); break;
    default: break;
    }
    /* mirror into the other two views */
    switch (v->type) {
    case FY_GGUF_U16:
    case FY_GGUF_U32:
    case FY_GGUF_U64:
        v->i = (int64_t)v->u;
        v->f = (double)v->u;
        break;
    case FY_GGUF_I8:
    case FY_GGUF_I16:
    case FY_GGUF_I32:
    case FY_GGUF_I64:
        v->u = (uint64_t)v->i;
        v->f = (double)v->i;
        break;
    case FY_GGUF_F32:
    case FY_GGUF_F64:
        v->i = (v->f >= -9.2e18 && v->f <= 9.2e18) ? (int64_t)v->f : 0;
        v->u = (uint64_t)v->i;
        break;
    default: break;
    }
}

static int read_value(cursor *c, fy_gguf_value *v, const char *key)
{
    int rc;
    uint32_t sz = scalar_size(v->type);
    if (sz) {
        if ((rc = need(c, sz, "metadata value")) != FY_OK)
            return fy__diag_set(c->d, rc, "gguf: key '%s': value truncated at offset %zu", key,
                                c->off);
        fill_scalar(v, c->p + c->off);
        c->off += sz;
        return FY_OK;
    }
    if (v->type == FY_GGUF_STRING) {
        char what[96];
        snprintf(what, sizeof what, "the value of '%.60s'", key);
        return rd_str(c, &v->str, FY_GGUF_MAX_STRING, what);
    }
    if (v->type != FY_GGUF_ARRAY)
        return fy__diag_set(c->d, FY_EPARSE, "gguf: key '%s': unknown value type %u at offset %zu",
                            key, (unsigned)v->type, c->off - 4);
    uint32_t et;
    uint64_t n;
    size_t at = c->off;
    if ((rc = rd_u32(c, &et, "array type")) != FY_OK || (rc = rd_u64(c, &n, "array count")))
        return fy__diag_set(c->d, rc, "gguf: key '%s': array header truncated at offset %zu", key,
                            at);
    if (et == FY_GGUF_ARRAY)
        return fy__diag_set(c->d, FY_EUNSUPPORTED,
                            "gguf: key '%s' at offset %zu: arrays of arrays are not supported", key,
                            at);
    if (et != FY_GGUF_STRING && !scalar_size(et))
        return fy__diag_set(c->d, FY_EPARSE,
                            "gguf: key '%s' at offset %zu: unknown array element type %u", key, at,
                            (unsigned)et);
    if (n > FY_GGUF_MAX_ARRAY)
        return fy__diag_set(c->d, FY_ELIMIT,
                            "gguf: key '%s' at offset %zu: %llu array elements, above the limit %u",
                            key, at, (unsigned long long)n, FY_GGUF_MAX_ARRAY);
    v->elem_type = (fy_gguf_type)et;
    v->count = n;
    if (et != FY_GGUF_STRING) {
        uint64_t bytes;
        if (fy__mul_overflow_u64(n, scalar_size(et), &bytes) || bytes > c->len - c->off)
            return fy__diag_set(c->d, FY_EPARSE,
                                "gguf: key '%s': array of %llu %s needs more bytes than the %zu "
                                "left at offset %zu",
                                key, (unsigned long long)n, type_word(et), c->len - c->off, c->off);
        v->data = c->p + c->off;
        c->off += (size_t)bytes;
        return FY_OK;
    }
    /* each string takes at least its 8-byte length: bound the allocation by the bytes left */
    if (n > (c->len - c->off) / 8)
        return fy__diag_set(c->d, FY_EPARSE,
                            "gguf: key '%s': array of %llu strings cannot fit in the %zu bytes "
                            "left at offset %zu",
                            key, (unsigned long long)n, c->len - c->off, c->off);
    fy_gguf_str *s = fy__calloc(n ? (size_t)n : 1, sizeof *s);
    if (!s)
        return fy__diag_set(c->d, FY_ENOMEM, "gguf: key '%s': out of memory for %llu strings", key,
                            (unsigned long long)n);
    v->strs = s;
    for (uint64_t i = 0; i < n; i++) {
        size_t so = c->off;
        if ((rc = rd_str(c, &s[i], FY_GGUF_MAX_STRING, "array string")) != FY_OK)
            return fy__diag_set(c->d, rc, "gguf: key '%s': string %llu at offset %zu: bad length",
                                key, (unsigned long long)i, so);
    }
    return FY_OK;
}

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp((*(const fy_gguf_tensor *const *)a)->name,
                  (*(const fy_gguf_tensor *const *)b)->name);
}
static int cmp_kv(const void *a, const void *b)
{
    return strcmp((*(const fy_gguf_kv *const *)a)->key, (*(const fy_gguf_kv *const *)b)->key);
}

static int is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

static int parse(fy_gguf *g, fy_diag *d)
{
    cursor c = {g->base, g->size, 0, d};
    uint32_t magic;
    int rc;
    if (g->size < 4 || (memcpy(&magic, g->base, 4), magic != GGUF_MAGIC))
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: not a GGUF file (the first 4 bytes are not "
                            "'GGUF')");
    c.off = 4;
    if ((rc = rd_u32(&c, &g->version, "version")) != FY_OK)
        return rc;
    if (g->version == 1)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: version 1 files are not supported "
                            "(convert to v3)");
    if (g->version != 2 && g->version != 3)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: version %u not supported (2 or 3 expected%s)", g->version,
                            (g->version & 0xffff) == 0 ? "; a big-endian file?" : "");
    uint64_t nt, nkv;
    if ((rc = rd_u64(&c, &nt, "tensor count")) != FY_OK ||
        (rc = rd_u64(&c, &nkv, "metadata count")) != FY_OK)
        return rc;
    if (nt > FY_GGUF_MAX_TENSORS)
        return fy__diag_set(d, FY_ELIMIT, "gguf: tensor count %llu above the limit %u",
                            (unsigned long long)nt, FY_GGUF_MAX_TENSORS);
    if (nkv > FY_GGUF_MAX_KV)
        return fy__diag_set(d, FY_ELIMIT, "gguf: metadata count %llu above the limit %u",
                            (unsigned long long)nkv, FY_GGUF_MAX_KV);
    /* smallest encodings: a kv is 8 (key length) + 4 (type) + 1, a tensor 8 + 4 + 4 + 8 */
    if (nkv * 13 + nt * 24 > c.len - c.off)
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: %llu metadata entries and %llu tensors cannot fit in the %zu "
                            "bytes of the file",
                            (unsigned long long)nkv, (unsigned long long)nt, g->size);
    g->kv = fy__calloc(nkv ? (size_t)nkv : 1, sizeof *g->kv);
    g->tensors = fy__calloc(nt ? (size_t)nt : 1, sizeof *g->tensors);
    g->sorted = fy__calloc(nt ? (size_t)nt : 1, sizeof *g->sorted);
    g->kv_sorted = fy__calloc(nkv ? (size_t)nkv : 1, sizeof *g->kv_sorted);
    if (!g->kv || !g->tensors || !g->sorted || !g->kv_sorted)
        return fy__diag_set(d, FY_ENOMEM, "gguf: out of memory for the header");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < nkv; i++) {
        fy_gguf_kv *kv = &g->kv[i];
        fy_gguf_str key;
        size_t at = c.off;
        if ((rc = rd_str(&c, &key, FY_GGUF_MAX_KEY, "metadata key")) != FY_OK)
            return fy__diag_set(d, rc, "gguf: metadata entry %llu (offset %zu): bad key",
                                (unsigned long long)i, at);
        if (!(kv->key = fy__strndup(key.ptr, (size_t)key.len)))
            return fy__diag_set(d, FY_ENOMEM, "gguf: out of memory");
        g->n_kv = (size_t)i + 1;
        if (strlen(kv->key) != key.len)
            return fy__diag_set(d, FY_EPARSE, "gguf: metadata key at offset %zu contains a NUL",
                                at);
        g->kv_sorted[i] = kv;
        uint32_t t;
        if ((rc = rd_u32(&c, &t, "metadata type")) != FY_OK)
            return fy__diag_set(d, rc, "gguf: key '%s': type truncated", kv->key);
        kv->v.type = (fy_gguf_type)t;
        if ((rc = read_value(&c, &kv->v, kv->key)) != FY_OK)
            return rc;
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (kv->v.type != FY_GGUF_U32 || !is_pow2(kv->v.u) || kv->v.u > GGUF_MAX_ALIGNMENT)
                return fy__diag_set(d, FY_EPARSE,
                                    "gguf: general.alignment must be a u32 power of two up to "
                                    "%u (got type %s, value %llu)",
                                    GGUF_MAX_ALIGNMENT, type_word(kv->v.type),
                                    (unsigned long long)kv->v.u);
            g->alignment = (uint32_t)kv->v.u;
        }
    }
    for (uint64_t i = 0; i < nt; i++) {
        fy_gguf_tensor *t = &g->tensors[i];
        fy_gguf_str name;
        size_t at = c.off;
        if ((rc = rd_str(&c, &name, FY_GGUF_MAX_KEY, "tensor name")) != FY_OK)
            return fy__diag_set(d, rc, "gguf: tensor %llu (offset %zu): bad name",
                                (unsigned long long)i, at);
        if (!(t->name = fy__strndup(name.ptr, (size_t)name.len)))
            return fy__diag_set(d, FY_ENOMEM, "gguf: out of memory");
        g->n_tensors = (size_t)i + 1;
        if (strlen(t->name) != name.len)
            return fy__diag_set(d, FY_EPARSE, "gguf: tensor name at offset %zu contains a NUL", at);
        if ((rc = rd_u32(&c, &t->n_dims, "tensor rank")) != FY_OK)
            return fy__diag_set(d, rc, "gguf: tensor '%s': truncated at offset %zu", t->name, at);
        if (t->n_dims > FY_GGUF_MAX_DIMS)
            return fy__diag_set(d, FY_EPARSE, "gguf: tensor '%s': %u dimensions (at most %d)",
                                t->name, t->n_dims, FY_GGUF_MAX_DIMS);
        for (int k = 0; k < FY_GGUF_MAX_DIMS; k++)
            t->ne[k] = 1;
        for (uint32_t k = 0; k < t->n_dims; k++) {
            if ((rc = rd_u64(&c, &t->ne[k], "tensor dims")) != FY_OK)
                return fy__diag_set(d, rc, "gguf: tensor '%s': dims truncated", t->name);
            if (t->ne[k] > ((uint64_t)1 << 62))
                return fy__diag_set(d, FY_EPARSE, "gguf: tensor '%s': dimension %u is %llu",
                                    t->name, k, (unsigned long long)t->ne[k]);
        }
        if ((rc = rd_u32(&c, &t->type, "tensor type")) != FY_OK ||
            (rc = rd_u64(&c, &t->offset, "tensor offset")) != FY_OK)
            return fy__diag_set(d, rc, "gguf: tensor '%s': truncated after its dims", t->name);
        uint32_t be = fy_ggml_block_elems(t->type), bb = fy_ggml_block_bytes(t->type);
        if (!be)
            return fy__diag_set(d, FY_EUNSUPPORTED, "gguf: tensor '%s': unknown tensor type %u",
                                t->name, t->type);
        if (t->ne[0] % be)
            return fy__diag_set(d, FY_EPARSE,
                                "gguf: tensor '%s': row length %llu is not a multiple of the "
                                "%s block size %u",
                                t->name, (unsigned long long)t->ne[0], fy_ggml_type_name(t->type),
                                be);
        uint64_t nb = t->ne[0] / be;
        if (fy__mul_overflow_u64(nb, bb, &nb) || fy__mul_overflow_u64(nb, t->ne[1], &nb) ||
            fy__mul_overflow_u64(nb, t->ne[2], &nb) || fy__mul_overflow_u64(nb, t->ne[3], &nb))
            return fy__diag_set(d, FY_EPARSE, "gguf: tensor '%s': shape overflows a 64-bit size",
                                t->name);
        t->nbytes = nb;
        g->sorted[i] = t;
    }
    /* the data section starts at the next multiple of the alignment */
    uint64_t data_off = ((uint64_t)c.off + g->alignment - 1) / g->alignment * g->alignment;
    if (data_off > g->size)
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: truncated: the data section would start at %llu, past the "
                            "end of the %zu-byte file",
                            (unsigned long long)data_off, g->size);
    g->data_off = data_off;
    uint64_t data_len = g->size - data_off;
    for (size_t i = 0; i < g->n_tensors; i++) {
        fy_gguf_tensor *t = &g->tensors[i];
        uint64_t end;
        if (t->offset % g->alignment)
            return fy__diag_set(d, FY_EPARSE,
                                "gguf: tensor '%s': offset %llu is not a multiple of the "
                                "alignment %u",
                                t->name, (unsigned long long)t->offset, g->alignment);
        if (fy__add_overflow_u64(t->offset, t->nbytes, &end) || end > data_len)
            return fy__diag_set(d, FY_EPARSE,
                                "gguf: tensor '%s': bytes %llu..%llu of the data section lie "
                                "outside its %llu bytes (file truncated?)",
                                t->name, (unsigned long long)t->offset,
                                (unsigned long long)t->offset + t->nbytes,
                                (unsigned long long)data_len);
        t->data = g->base + data_off + t->offset;
    }
    qsort(g->sorted, g->n_tensors, sizeof *g->sorted, cmp_tensor);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (strcmp(g->sorted[i]->name, g->sorted[i - 1]->name) == 0)
            return fy__diag_set(d, FY_EPARSE, "gguf: duplicate tensor name '%s'",
                                g->sorted[i]->name);
    qsort(g->kv_sorted, g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (size_t i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv_sorted[i]->key, g->kv_sorted[i - 1]->key) == 0)
            return fy__diag_set(d, FY_EPARSE, "gguf: duplicate metadata key '%s'",
                                g->kv_sorted[i]->key);
    return FY_OK;
}

void fy_gguf_free(fy_gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kv; i++) {
        fy__free((void *)g->kv[i].key);
        fy__free((void *)g->kv[i].v.strs);
    }
    for (size_t i = 0; i < g->n_tensors; i++)
        fy__free((void *)g->tensors[i].name);
    fy__free(g->kv);
    fy__free(g->tensors);
    fy__free(g->sorted);
    fy__free(g->kv_sorted);
    if (g->map)
        munmap(g->map, g->map_len);
    fy__free(g);
}

/* Strings inside array values are only allocated for arrays that finished reading; a
 * failure in the middle of one leaves its pointer set, so free handles both. The kv
 * being parsed counts in n_kv before its value is read. */
static int open_common(fy_gguf **out, fy_gguf *g, fy_diag *d)
{
    int rc = parse(g, d);
    if (rc != FY_OK) {
        fy_gguf_free(g);
        return rc;
    }
    *out = g;
    return FY_OK;
}

int fy_gguf_open_memory(fy_gguf **out, const void *buf, size_t len, fy_diag *d)
{
    fy_gguf *g = fy__calloc(1, sizeof *g);
    if (!g)
        return fy__diag_set(d, FY_ENOMEM, "gguf: out of memory");
    g->base = buf;
    g->size = len;
    return open_common(out, g, d);
}

int fy_gguf_open(fy_gguf **out, const char *path, fy_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fy__diag_set(d, FY_EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size < 24) {
        close(fd);
        return fy__diag_set(d, FY_EPARSE, "%s: gguf: truncated: %lld bytes, a header needs 24",
                            path, (long long)st.st_size);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return fy__diag_set(d, FY_EIO, "%s: cannot map: %s", path, strerror(e));
    fy_gguf *g = fy__calloc(1, sizeof *g);
    if (!g) {
        munmap(map, len);
        return fy__diag_set(d, FY_ENOMEM, "gguf: out of memory");
    }
    g->base = map;
    g->size = len;
    g->map = map;
    g->map_len = len;
    int rc = open_common(out, g, d);
    if (rc != FY_OK && d) {
        /* prefix the path so CLI errors name the file */
        char tmp[sizeof d->msg];
        snprintf(tmp, sizeof tmp, "%s: %s", path, d->msg);
        memcpy(d->msg, tmp, sizeof tmp);
    }
    return rc;
}

int fy_gguf_sniff(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    uint32_t m = 0;
    ssize_t r = read(fd, &m, 4);
    close(fd);
    return r == 4 && m == GGUF_MAGIC;
}

uint32_t fy_gguf_version(const fy_gguf *g)
{
    return g->version;
}
uint64_t fy_gguf_file_size(const fy_gguf *g)
{
    return g->size;
}
uint32_t fy_gguf_alignment(const fy_gguf *g)
{
    return g->alignment;
}
size_t fy_gguf_kv_count(const fy_gguf *g)
{
    return g->n_kv;
}
const fy_gguf_kv *fy_gguf_kv_at(const fy_gguf *g, size_t i)
{
    return i < g->n_kv ? &g->kv[i] : NULL;
}
size_t fy_gguf_tensor_count(const fy_gguf *g)
{
    return g->n_tensors;
}
const fy_gguf_tensor *fy_gguf_tensor_at(const fy_gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const fy_gguf_value *fy_gguf_find(const fy_gguf *g, const char *key)
{
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv_sorted[mid]->key, key);
        if (c == 0)
            return &g->kv_sorted[mid]->v;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const fy_gguf_tensor *fy_gguf_find_tensor(const fy_gguf *g, const char *name)
{
    size_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const fy_gguf_tensor *t = g->sorted[mid];
        int c = strcmp(t->name, name);
        if (c == 0)
            return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int fy_gguf_get_uint(const fy_gguf *g, const char *key, uint64_t *out, fy_diag *d)
{
    const fy_gguf_value *v = fy_gguf_find(g, key);
    if (!v)
        return FY_ENOTFOUND;
    switch (v->type) {
    case FY_GGUF_U8:
    case FY_GGUF_U16:
    case FY_GGUF_U32:
    case FY_GGUF_U64:
    case FY_GGUF_BOOL: *out = v->u; return FY_OK;
    case FY_GGUF_I8:
    case FY_GGUF_I16:
    case FY_GGUF_I32:
    case FY_GGUF_I64:
        if (v->i < 0)
            break;
        *out = (uint64_t)v->i;
        return FY_OK;
    default: break;
    }
    return fy__diag_set(d, FY_EINVAL, "gguf: %s: expected a non-negative integer, found a %s", key,
                        type_word(v->type));
}

int fy_gguf_get_float(const fy_gguf *g, const char *key, double *out, fy_diag *d)
{
    const fy_gguf_value *v = fy_gguf_find(g, key);
    if (!v)
        return FY_ENOTFOUND;
    if (!scalar_size(v->type) || v->type == FY_GGUF_BOOL)
        return fy__diag_set(d, FY_EINVAL, "gguf: %s: expected a number, found a %s", key,
                            type_word(v->type));
    *out = v->f;
    return FY_OK;
}

int fy_gguf_get_str(const fy_gguf *g, const char *key, fy_gguf_str *out, fy_diag *d)
{
    const fy_gguf_value *v = fy_gguf_find(g, key);
    if (!v)
        return FY_ENOTFOUND;
    if (v->type != FY_GGUF_STRING)
        return fy__diag_set(d, FY_EINVAL, "gguf: %s: expected a string, found a %s", key,
                            type_word(v->type));
    *out = v->str;
    return FY_OK;
}

double fy_gguf_array_num(const fy_gguf_value *v, uint64_t i)
{
    if (v->type != FY_GGUF_ARRAY || i >= v->count || !v->data)
        return 0;
    fy_gguf_value e = {0};
    e.type = v->elem_type;
    uint32_t sz = scalar_size(v->elem_type);
    if (!sz)
        return 0;
    fill_scalar(&e, (const uint8_t *)v->data + i * sz);
    return e.f;
}

const char *fy__gguf_type_word(uint32_t t)
{
    return type_word(t);
}

void fy__gguf_drop(const fy_gguf *g, const void *p, size_t n)
{
    /* only whole pages inside [p, p + n) of our own read-only private mapping: they are
     * never written, so dropping them loses nothing (a later read faults them back in
     * from the page cache) */
    if (!g->map || n == 0)
        return;
    long psz = sysconf(_SC_PAGESIZE);
    if (psz <= 0)
        return;
    uintptr_t a = (uintptr_t)p, e = a + n, ps = (uintptr_t)psz;
    uintptr_t lo = (a + ps - 1) / ps * ps, hi = e / ps * ps;
    uintptr_t m0 = (uintptr_t)g->map, m1 = m0 + g->map_len;
    if (lo < m0 || hi > m1 || hi <= lo)
        return;
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
