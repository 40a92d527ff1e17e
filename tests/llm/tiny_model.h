/* SPDX-License-Identifier: MIT */
/* A tiny random-weight LLaMA GGUF (dim 32, 2 layers, 4 heads over 2 KV heads, byte
 * vocabulary plus a few pieces) for decoder tests and the fuzz corpus. Weights are
 * values an fp16 holds exactly, so the F32 and F16 files compute the same model. */
#ifndef FERRY_TEST_TINY_MODEL_H
#define FERRY_TEST_TINY_MODEL_H

#include <stdio.h>

#include "ferry/tensor.h"
#include "gguf_builder.h"

#define TINY_DIM 32
#define TINY_FFN 64
#define TINY_LAYERS 2
#define TINY_HEADS 4
#define TINY_KV 2

static inline float tiny_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    float v = (float)((*s >> 40) & 0xffff) / 65536.0f - 0.5f;
    return fy_f16_to_f32(fy_f32_to_f16(v * 0.5f));
}

typedef struct tiny_t {
    char name[48];
    uint32_t nd;
    uint64_t ne[2];
    int is_norm;
} tiny_t;

/* type: 0 f32, 1 f16 (matrices); tied: no output.weight; arch: general.architecture */
static inline gb tiny_model(uint32_t type, int tied, const char *arch)
{
    static const char *const extra[] = {"\xe2\x96\x81h", "\xe2\x96\x81hi", "he", "llo"};
    const char *toks[3 + 256 + 4];
    char bytes[256][8];
    float scores[263];
    int32_t types[263];
    toks[0] = "<unk>";
    toks[1] = "<s>";
    toks[2] = "</s>";
    types[0] = 2;
    types[1] = types[2] = 3;
    for (int i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i);
        toks[3 + i] = bytes[i];
        types[3 + i] = 6;
    }
    for (int i = 0; i < 4; i++) {
        toks[259 + i] = extra[i];
        types[259 + i] = 1;
    }
    for (int i = 0; i < 263; i++)
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
    uint32_t V = 263, D = TINY_DIM, F = TINY_FFN, KVD = TINY_DIM / TINY_HEADS * TINY_KV;
    tiny_t ts[4 + 9 * TINY_LAYERS];
    int nt = 0;
#define T_(n_, nd_, a_, b_, norm_)                                                                 \
    do {                                                                                           \
        snprintf(ts[nt].name, sizeof ts[nt].name, "%s", n_);                                       \
        ts[nt].nd = nd_;                                                                           \
        ts[nt].ne[0] = a_;                                                                         \
        ts[nt].ne[1] = b_;                                                                         \
        ts[nt].is_norm = norm_;                                                                    \
        nt++;                                                                                      \
    } while (0)
    T_("token_embd.weight", 2, D, V, 0);
    T_("output_norm.weight", 1, D, 1, 1);
    if (!tied)
        T_("output.weight", 2, D, V, 0);
    for (int l = 0; l < TINY_LAYERS; l++) {
        char n[48];
        static const struct {
            const char *s;
            int kind;
        } per[] = {{"attn_norm", 0}, {"attn_q", 1},      {"attn_k", 2},
                   {"attn_v", 2},    {"attn_output", 1}, {"ffn_norm", 0},
                   {"ffn_gate", 3},  {"ffn_down", 4},    {"ffn_up", 3}};
        for (int k = 0; k < 9; k++) {
            snprintf(n, sizeof n, "blk.%d.%s.weight", l, per[k].s);
            switch (per[k].kind) {
            case 0: T_(n, 1, D, 1, 1); break;
            case 1: T_(n, 2, D, D, 0); break;
            case 2: T_(n, 2, D, KVD, 0); break;
            case 3: T_(n, 2, D, F, 0); break;
            default: T_(n, 2, F, D, 0); break;
            }
        }
    }
#undef T_
    gb b = {0};
    gb_header(&b, 3, (uint64_t)nt, 14);
    gb_kv_str(&b, "general.architecture", arch);
    gb_kv_u32(&b, "llama.context_length", 64);
    gb_kv_u32(&b, "llama.embedding_length", D);
    gb_kv_u32(&b, "llama.block_count", TINY_LAYERS);
    gb_kv_u32(&b, "llama.feed_forward_length", F);
    gb_kv_u32(&b, "llama.attention.head_count", TINY_HEADS);
    gb_kv_u32(&b, "llama.attention.head_count_kv", TINY_KV);
    gb_kv_f32(&b, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gb_kv_str(&b, "tokenizer.ggml.model", "llama");
    gb_kv_strs(&b, "tokenizer.ggml.tokens", toks, V);
    gb_kv_f32s(&b, "tokenizer.ggml.scores", scores, V);
    gb_kv_i32s(&b, "tokenizer.ggml.token_type", types, V);
    gb_kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
    gb_kv_bool(&b, "tokenizer.ggml.add_bos_token", 1);
    uint64_t off = 0;
    for (int i = 0; i < nt; i++) {
        uint32_t ty = ts[i].is_norm ? 0 : type;
        gb_tensor(&b, ts[i].name, ts[i].nd, ts[i].ne, ty, off);
        uint64_t nb = ts[i].ne[0] * (ts[i].nd == 2 ? ts[i].ne[1] : 1) * (ty ? 2 : 4);
        off += (nb + 31) / 32 * 32;
    }
    gb_align(&b, 32);
    uint64_t seed = 42;
    for (int i = 0; i < nt; i++) {
        uint32_t ty = ts[i].is_norm ? 0 : type;
        uint64_t n = ts[i].ne[0] * (ts[i].nd == 2 ? ts[i].ne[1] : 1);
        for (uint64_t k = 0; k < n; k++) {
            float v = ts[i].is_norm ? 1.0f + tiny_rand(&seed) * 0.25f : tiny_rand(&seed);
            if (ts[i].is_norm)
                v = fy_f16_to_f32(fy_f32_to_f16(v));
            if (ty) {
                uint16_t h = fy_f32_to_f16(v);
                gb_put(&b, &h, 2);
            } else {
                gb_put(&b, &v, 4);
            }
        }
        gb_align(&b, 32);
    }
    return b;
}

static inline int tiny_write(const char *path, uint32_t type, int tied, const char *arch)
{
    gb b = tiny_model(type, tied, arch);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(b.p);
        return -1;
    }
    size_t w = fwrite(b.p, 1, b.len, f);
    fclose(f);
    free(b.p);
    return w == b.len ? 0 : -1;
}

#endif
