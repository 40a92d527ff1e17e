/* SPDX-License-Identifier: MIT */
/* GGUF reader: valid v2/v3 files built in memory, every truncation, and one refusal per
 * hostile field (counts, lengths, types, shapes, offsets, alignment, duplicates).
 * `test_gguf --write-corpus DIR` writes the fuzz seed corpus (tests/corpus/gguf). */
#include <stdio.h>

#include "core/core.h"
#include "ferry/llm.h"
#include "gguf_builder.h"
#include "test.h"

typedef struct spec {
    uint32_t version, alignment; /* alignment 0: no general.alignment key */
    uint32_t t1_type, t1_ndims;
    uint64_t t1_ne0, t1_ne1, t1_off;
    uint64_t n_tensors_override, n_kv_override; /* 0: the real counts */
    int dup_tensor, dup_key, nested, bad_value_type, huge_string, huge_array;
    uint32_t align_type; /* type of general.alignment (4 = u32) */
} spec;

static spec base(void)
{
    spec s = {0};
    s.version = 3;
    s.alignment = 32;
    s.t1_type = 8; /* q8_0 */
    s.t1_ndims = 2;
    s.t1_ne0 = 32;
    s.t1_ne1 = 2;
    s.t1_off = 32;
    s.align_type = 4;
    return s;
}

/* kv: architecture, alignment, a string array, a float array; tensors: "a" f32[4] at 0,
 * "b" (t1) at t1_off; data: 32 + 68 bytes */
static gb build(const spec *s)
{
    gb b = {0};
    uint64_t nkv = 4 + (s->dup_key ? 1 : 0) + (s->nested ? 1 : 0) + (s->bad_value_type ? 1 : 0);
    if (!s->alignment)
        nkv--;
    uint64_t nt = 2 + (s->dup_tensor ? 1 : 0);
    gb_header(&b, s->version, s->n_tensors_override ? s->n_tensors_override : nt,
              s->n_kv_override ? s->n_kv_override : nkv);
    gb_kv_str(&b, "general.architecture", "llama");
    if (s->alignment) {
        gb_str(&b, "general.alignment");
        gb_u32(&b, s->align_type);
        if (s->align_type == 4)
            gb_u32(&b, s->alignment);
        else
            gb_u64(&b, s->alignment);
    }
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "hi"};
    if (s->huge_string) {
        gb_str(&b, "tokenizer.ggml.tokens");
        gb_u32(&b, 8);
        gb_u64(&b, (uint64_t)1 << 40);
    } else if (s->huge_array) {
        gb_str(&b, "tokenizer.ggml.tokens");
        gb_u32(&b, 9);
        gb_u32(&b, 8);
        gb_u64(&b, (uint64_t)1 << 25);
    } else {
        gb_kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    }
    float sc[4] = {0, 0, 0, -1};
    gb_kv_f32s(&b, "tokenizer.ggml.scores", sc, 4);
    if (s->dup_key)
        gb_kv_u32(&b, "general.architecture", 1);
    if (s->nested) {
        gb_str(&b, "nested");
        gb_u32(&b, 9);
        gb_u32(&b, 9);
        gb_u64(&b, 1);
    }
    if (s->bad_value_type) {
        gb_str(&b, "weird");
        gb_u32(&b, 13);
        gb_u32(&b, 0);
    }
    uint64_t ne_a[1] = {4};
    gb_tensor(&b, "a", 1, ne_a, 0, 0);
    uint64_t ne_b[5] = {s->t1_ne0, s->t1_ne1, 1, 1, 1};
    gb_tensor(&b, "b", s->t1_ndims, ne_b, s->t1_type, s->t1_off);
    if (s->dup_tensor)
        gb_tensor(&b, "a", 1, ne_a, 0, 0);
    gb_align(&b, s->alignment ? s->alignment : 32);
    float a[4] = {1, 2, 3, 4};
    gb_put(&b, a, sizeof a);
    gb_align(&b, 32);
    uint8_t q[68] = {0};
    q[0] = 0x00;
    q[1] = 0x3c; /* d = 1.0 */
    q[2] = 5;
    gb_put(&b, q, sizeof q);
    return b;
}

static int open_buf(const gb *b, fy_gguf **g, fy_diag *d)
{
    return fy_gguf_open_memory(g, b->p, b->len, d);
}

TEST(valid_v3_and_v2)
{
    for (uint32_t v = 2; v <= 3; v++) {
        spec s = base();
        s.version = v;
        gb b = build(&s);
        fy_gguf *g = NULL;
        fy_diag d = {{0}};
        FY_CHECK_EQ(open_buf(&b, &g, &d), FY_OK);
        if (!g) {
            fprintf(stderr, "%s\n", d.msg);
            free(b.p);
            continue;
        }
        FY_CHECK_EQ(fy_gguf_version(g), v);
        FY_CHECK_EQ(fy_gguf_kv_count(g), 4);
        FY_CHECK_EQ(fy_gguf_tensor_count(g), 2);
        fy_gguf_str arch;
        FY_CHECK_EQ(fy_gguf_get_str(g, "general.architecture", &arch, &d), FY_OK);
        FY_CHECK(arch.len == 5 && memcmp(arch.ptr, "llama", 5) == 0);
        uint64_t al;
        FY_CHECK_EQ(fy_gguf_get_uint(g, "general.alignment", &al, &d), FY_OK);
        FY_CHECK_EQ(al, 32);
        FY_CHECK_EQ(fy_gguf_get_str(g, "general.alignment", &arch, &d), FY_EINVAL);
        FY_CHECK_CONTAINS(d.msg, "expected a string");
        FY_CHECK_EQ(fy_gguf_get_uint(g, "nope", &al, &d), FY_ENOTFOUND);
        const fy_gguf_value *tv = fy_gguf_find(g, "tokenizer.ggml.tokens");
        FY_CHECK(tv && tv->type == FY_GGUF_ARRAY && tv->count == 4);
        if (tv && tv->strs)
            FY_CHECK(tv->strs[3].len == 2 && memcmp(tv->strs[3].ptr, "hi", 2) == 0);
        const fy_gguf_value *sv = fy_gguf_find(g, "tokenizer.ggml.scores");
        FY_CHECK(sv && fy_gguf_array_num(sv, 3) == -1.0);
        const fy_gguf_tensor *ta = fy_gguf_find_tensor(g, "a");
        const fy_gguf_tensor *tb = fy_gguf_find_tensor(g, "b");
        FY_CHECK(ta && tb && !fy_gguf_find_tensor(g, "c"));
        if (ta && tb) {
            FY_CHECK_EQ(ta->nbytes, 16);
            FY_CHECK_EQ(((const float *)ta->data)[3], 4);
            FY_CHECK_EQ(tb->nbytes, 68);
            FY_CHECK_EQ(((const int8_t *)tb->data)[2], 5);
            FY_CHECK_STR(fy_ggml_type_name(tb->type), "q8_0");
        }
        fy_gguf_free(g);
        free(b.p);
    }
}

TEST(every_truncation_is_refused)
{
    spec s = base();
    gb b = build(&s);
    for (size_t n = 0; n < b.len; n++) {
        fy_gguf *g = NULL;
        fy_diag d = {{0}};
        /* a copy of exactly n bytes, so ASan catches any read past them */
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, b.p, n);
        int rc = fy_gguf_open_memory(&g, c, n, &d);
        if (rc == FY_OK) {
            fprintf(stderr, "truncation to %zu bytes accepted\n", n);
            fy_gguf_free(g);
        }
        FY_CHECK(rc != FY_OK);
        FY_CHECK(d.msg[0] != 0);
        free(c);
    }
    free(b.p);
}

static void refuse(const spec *s, int want, const char *msg)
{
    gb b = build(s);
    fy_gguf *g = NULL;
    fy_diag d = {{0}};
    int rc = open_buf(&b, &g, &d);
    FY_CHECK_EQ(rc, want);
    FY_CHECK_CONTAINS(d.msg, msg);
    if (rc == FY_OK)
        fy_gguf_free(g);
    free(b.p);
}

TEST(refusals)
{
    spec s = base();
    s.version = 1;
    refuse(&s, FY_EUNSUPPORTED, "version 1");
    s = base();
    s.version = 4;
    refuse(&s, FY_EUNSUPPORTED, "version 4");
    s = base();
    s.version = 0x03000000;
    refuse(&s, FY_EUNSUPPORTED, "big-endian");
    s = base();
    s.n_tensors_override = (uint64_t)1 << 40;
    refuse(&s, FY_ELIMIT, "tensor count");
    s = base();
    s.n_kv_override = (uint64_t)1 << 62;
    refuse(&s, FY_ELIMIT, "metadata count");
    s = base();
    s.n_tensors_override = 60000;
    refuse(&s, FY_EPARSE, "cannot fit");
    s = base();
    s.huge_string = 1;
    refuse(&s, FY_ELIMIT, "string length");
    s = base();
    s.huge_array = 1;
    refuse(&s, FY_EPARSE, "strings cannot fit");
    s = base();
    s.nested = 1;
    refuse(&s, FY_EUNSUPPORTED, "arrays of arrays");
    s = base();
    s.bad_value_type = 1;
    refuse(&s, FY_EPARSE, "unknown value type 13");
    s = base();
    s.t1_off = 1 << 20;
    refuse(&s, FY_EPARSE, "tensor 'b': bytes 1048576");
    s = base();
    s.t1_off = 48;
    refuse(&s, FY_EPARSE, "not a multiple of the alignment");
    s = base();
    s.t1_ne1 = (uint64_t)1 << 61;
    refuse(&s, FY_EPARSE, "overflows");
    s = base();
    s.t1_ne1 = (uint64_t)1 << 40;
    refuse(&s, FY_EPARSE, "outside");
    s = base();
    s.t1_ne0 = 33;
    refuse(&s, FY_EPARSE, "not a multiple of the q8_0 block size");
    s = base();
    s.t1_type = 77;
    refuse(&s, FY_EUNSUPPORTED, "unknown tensor type 77");
    s = base();
    s.t1_ndims = 5;
    refuse(&s, FY_EPARSE, "5 dimensions");
    s = base();
    s.dup_tensor = 1;
    refuse(&s, FY_EPARSE, "duplicate tensor name 'a'");
    s = base();
    s.dup_key = 1;
    refuse(&s, FY_EPARSE, "duplicate metadata key 'general.architecture'");
    s = base();
    s.alignment = 24;
    refuse(&s, FY_EPARSE, "power of two");
    s = base();
    s.align_type = 10;
    refuse(&s, FY_EPARSE, "general.alignment must be a u32");
    /* bad magic */
    gb b = build(&(spec){.version = 3,
                         .alignment = 32,
                         .t1_type = 8,
                         .t1_ndims = 2,
                         .t1_ne0 = 32,
                         .t1_ne1 = 2,
                         .t1_off = 32,
                         .align_type = 4});
    b.p[0] = 'X';
    fy_gguf *g = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(open_buf(&b, &g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "not a GGUF file");
    free(b.p);
}

TEST(alignment_64)
{
    spec s = base();
    s.alignment = 64;
    s.t1_off = 64;
    gb b = build(&s);
    /* the builder pads "a" to 32 only; pad the data to 64 by rebuilding the tail */
    fy_gguf *g = NULL;
    fy_diag d = {{0}};
    int rc = open_buf(&b, &g, &d);
    /* b at offset 64 needs 64 + 68 bytes of data; the builder wrote 32 + 68 */
    FY_CHECK_EQ(rc, FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "outside");
    free(b.p);
    s.t1_off = 32;
    b = build(&s);
    FY_CHECK_EQ(open_buf(&b, &g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "alignment 64");
    free(b.p);
}

TEST(allocation_failures_leak_nothing)
{
    spec s = base();
    gb b = build(&s);
    for (long n = 1; n < 40; n++) {
        fy_gguf *g = NULL;
        fy_diag d = {{0}};
        fy__alloc_fail_at(n);
        int rc = open_buf(&b, &g, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            fy_gguf_free(g);
            break;
        }
        FY_CHECK_EQ(rc, FY_ENOMEM);
    }
    free(b.p);
}

TEST(file_open_and_sniff)
{
    FY_CHECK(fy_gguf_sniff("tests/corpus/gguf/valid_v3.gguf"));
    FY_CHECK(!fy_gguf_sniff("Makefile"));
    fy_gguf *g = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_gguf_open(&g, "Makefile", &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "Makefile");
    FY_CHECK_EQ(fy_gguf_open(&g, "no/such.gguf", &d), FY_ENOTFOUND);
    FY_CHECK_EQ(fy_gguf_open(&g, "tests", &d), FY_EINVAL);
}

static void write_file(const char *dir, const char *name, const gb *b)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(b->p, 1, b->len, f);
    fclose(f);
}

static int write_corpus(const char *dir)
{
    struct {
        const char *name;
        spec s;
    } c[8];
    for (int i = 0; i < 8; i++)
        c[i].s = base();
    c[0].name = "valid_v3.gguf";
    c[1].name = "valid_v2.gguf";
    c[1].s.version = 2;
    c[2].name = "dup_tensor.gguf";
    c[2].s.dup_tensor = 1;
    c[3].name = "offset_out_of_range.gguf";
    c[3].s.t1_off = 1 << 20;
    c[4].name = "nested_array.gguf";
    c[4].s.nested = 1;
    c[5].name = "f32_matrix.gguf";
    c[5].s.t1_type = 0;
    c[5].s.t1_ne0 = 8;
    c[5].s.t1_ne1 = 2;
    c[6].name = "q4_0.gguf";
    c[6].s.t1_type = 2;
    c[6].s.t1_ne1 = 3;
    c[7].name = "no_alignment_key.gguf";
    c[7].s.alignment = 0;
    for (int i = 0; i < 8; i++) {
        gb b = build(&c[i].s);
        write_file(dir, c[i].name, &b);
        if (i == 0) {
            gb t = b;
            t.len = b.len / 2;
            write_file(dir, "truncated.gguf", &t);
        }
        free(b.p);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
        return write_corpus(argv[2]);
    RUN(valid_v3_and_v2);
    RUN(every_truncation_is_refused);
    RUN(refusals);
    RUN(alignment_64);
    RUN(allocation_failures_leak_nothing);
    RUN(file_open_and_sniff);
    return TEST_SUMMARY();
}
