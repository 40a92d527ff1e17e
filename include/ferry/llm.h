/* SPDX-License-Identifier: MIT */
/* Large language models: the GGUF file reader, the SentencePiece-style tokenizer, a
 * LLaMA-family decoder with F32/F16/Q8_0/Q4_0 weights, and sampling. See docs/llm.md. */
#ifndef FERRY_LLM_H
#define FERRY_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GGUF ---------------------------------------------------------------------------- */

/* Ceilings on what a GGUF header may declare; larger counts are refused with FY_ELIMIT
 * before anything is allocated. */
#define FY_GGUF_MAX_TENSORS (1u << 16)
#define FY_GGUF_MAX_KV (1u << 16)
#define FY_GGUF_MAX_STRING (1u << 24) /* one string value (chat templates are ~10 KB) */
#define FY_GGUF_MAX_KEY 65535u        /* one key or tensor name */
#define FY_GGUF_MAX_ARRAY (1u << 26)  /* elements of one array value */
#define FY_GGUF_MAX_DIMS 4

/* Metadata value types, numbered as GGUF numbers them. */
typedef enum fy_gguf_type {
    FY_GGUF_U8 = 0,
    FY_GGUF_I8 = 1,
    FY_GGUF_U16 = 2,
    FY_GGUF_I16 = 3,
    FY_GGUF_U32 = 4,
    FY_GGUF_I32 = 5,
    FY_GGUF_F32 = 6,
    FY_GGUF_BOOL = 7,
    FY_GGUF_STRING = 8,
    FY_GGUF_ARRAY = 9,
    FY_GGUF_U64 = 10,
    FY_GGUF_I64 = 11,
    FY_GGUF_F64 = 12,
} fy_gguf_type;

/* Tensor element types, numbered as ggml numbers them (only the ones ferry knows the
 * block layout of; others are refused at open). */
typedef enum fy_ggml_type {
    FY_GGML_F32 = 0,
    FY_GGML_F16 = 1,
    FY_GGML_Q4_0 = 2,
    FY_GGML_Q4_1 = 3,
    FY_GGML_Q5_0 = 6,
    FY_GGML_Q5_1 = 7,
    FY_GGML_Q8_0 = 8,
    FY_GGML_Q8_1 = 9,
    FY_GGML_Q2_K = 10,
    FY_GGML_Q3_K = 11,
    FY_GGML_Q4_K = 12,
    FY_GGML_Q5_K = 13,
    FY_GGML_Q6_K = 14,
    FY_GGML_Q8_K = 15,
    FY_GGML_I8 = 24,
    FY_GGML_I16 = 25,
    FY_GGML_I32 = 26,
    FY_GGML_I64 = 27,
    FY_GGML_F64 = 28,
    FY_GGML_BF16 = 30,
} fy_ggml_type;

/* "q8_0", "f32", ...; NULL for a type ferry does not know. */
const char *fy_ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for unknown types. */
uint32_t fy_ggml_block_elems(uint32_t type);
uint32_t fy_ggml_block_bytes(uint32_t type);

/* A string inside the file: not NUL-terminated, valid while the fy_gguf lives. */
typedef struct fy_gguf_str {
    const char *ptr;
    uint64_t len;
} fy_gguf_str;

/* One metadata value. Scalars fill u (unsigned and bool), i (signed) and f (float)
 * with the same value converted; strings fill str; arrays fill elem_type and count,
 * then `data` (numbers: packed little-endian elements, possibly unaligned) or `strs`
 * (strings). Arrays of arrays are refused at open. */
typedef struct fy_gguf_value {
    fy_gguf_type type;
    fy_gguf_type elem_type;
    uint64_t count;
    uint64_t u;
    int64_t i;
    double f;
    fy_gguf_str str;
    const void *data;
    const fy_gguf_str *strs;
} fy_gguf_value;

typedef struct fy_gguf_kv {
    const char *key; /* NUL-terminated copy */
    fy_gguf_value v;
} fy_gguf_kv;

typedef struct fy_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    uint32_t n_dims;
    uint64_t ne[FY_GGUF_MAX_DIMS]; /* ne[0] is the innermost (row) length; unused dims = 1 */
    uint32_t type;                 /* fy_ggml_type */
    uint64_t offset;               /* from the start of the data section */
    uint64_t nbytes;
    const void *data; /* inside the mapping; checked to lie within the file */
} fy_gguf_tensor;

/* An open GGUF file. Thread safety: immutable once opened; any number of threads may
 * read it. */
typedef struct fy_gguf fy_gguf;

/* Open and check a GGUF v2/v3 file, memory-mapping it read-only. Every count, string
 * length, shape, type, offset and the alignment are checked against the bytes present
 * before anything is allocated. Errors: FY_EPARSE (not GGUF, truncated, inconsistent),
 * FY_EUNSUPPORTED (version, tensor type), FY_ELIMIT (counts above the ceilings),
 * FY_EIO/FY_ENOTFOUND; d names the field or tensor and the byte offset. */
int fy_gguf_open(fy_gguf **out, const char *path, fy_diag *d);
/* The same over a caller's buffer, which must outlive the fy_gguf (not copied). */
int fy_gguf_open_memory(fy_gguf **out, const void *buf, size_t len, fy_diag *d);
void fy_gguf_free(fy_gguf *g); /* NULL is a no-op */

uint32_t fy_gguf_version(const fy_gguf *g);
uint64_t fy_gguf_file_size(const fy_gguf *g);
uint32_t fy_gguf_alignment(const fy_gguf *g);
size_t fy_gguf_kv_count(const fy_gguf *g);
const fy_gguf_kv *fy_gguf_kv_at(const fy_gguf *g, size_t i);
/* Lookup by key; NULL if absent. */
const fy_gguf_value *fy_gguf_find(const fy_gguf *g, const char *key);
size_t fy_gguf_tensor_count(const fy_gguf *g);
const fy_gguf_tensor *fy_gguf_tensor_at(const fy_gguf *g, size_t i);
const fy_gguf_tensor *fy_gguf_find_tensor(const fy_gguf *g, const char *name);

/* Typed getters: FY_OK, FY_ENOTFOUND (absent) or FY_EINVAL (wrong type; d says which).
 * get_uint accepts any non-negative integer type; get_float any number. */
int fy_gguf_get_uint(const fy_gguf *g, const char *key, uint64_t *out, fy_diag *d);
int fy_gguf_get_float(const fy_gguf *g, const char *key, double *out, fy_diag *d);
int fy_gguf_get_str(const fy_gguf *g, const char *key, fy_gguf_str *out, fy_diag *d);
/* Element i of a numeric array value, converted to double (0 if out of range). */
double fy_gguf_array_num(const fy_gguf_value *v, uint64_t i);

/* Is this file a GGUF file (by its magic)? 1 yes, 0 no or unreadable. */
int fy_gguf_sniff(const char *path);

/* ---- LLaMA-family model ---------------------------------------------------------------- */

typedef struct fy_llm fy_llm;

typedef struct fy_llm_opts {
    uint32_t ctx;       /* context length; 0 = the model's (bounded by FY_LLM_DEFAULT_CTX) */
    int threads;        /* 0 = 1 */
    int force_scalar;   /* use the reference kernels even where AVX2/AVX-512 exist */
    uint64_t max_bytes; /* refuse models needing more memory; 0 = physical memory */
    uint32_t n_seq;     /* KV cache slots: sequences decoded together (server); 0 = 1 */
} fy_llm_opts;

#define FY_LLM_DEFAULT_CTX 4096u

/* Model facts for inspect, perf and serving. */
typedef struct fy_llm_info {
    char arch[32];
    uint32_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, vocab, ctx_train, ctx;
    double rope_theta, rms_eps;
    uint64_t n_params, weight_bytes, kv_bytes;
    uint32_t weight_type; /* the type of most matrix weights (fy_ggml_type) */
    int tied_output;
    const char *kernels; /* "avx512-vnni", "avx512", "avx2" or "scalar" */
} fy_llm_info;

/* Load a LLaMA-family GGUF model (general.architecture = llama), mapping its weights.
 * Errors: FY_EUNSUPPORTED (architecture, tensor types), FY_EPARSE/FY_EINVAL (missing or
 * inconsistent tensors and hyper-parameters), FY_ELIMIT (does not fit in memory),
 * and the reader's errors. Thread safety: the model's weights are immutable; one fy_llm
 * runs one sequence at a time (fy_llm_* calls are not concurrent on one handle). */
int fy_llm_load(fy_llm **out, const char *path, const fy_llm_opts *opts, fy_diag *d);
/* The same from len bytes of GGUF at buf (a package's file), checked as a file is;
 * the bytes are borrowed, not copied, and must outlive the model. name labels the
 * model in messages. */
int fy_llm_load_memory(fy_llm **out, const void *buf, size_t len, const char *name,
                       const fy_llm_opts *opts, fy_diag *d);
void fy_llm_free(fy_llm *m);
const fy_llm_info *fy_llm_info_get(const fy_llm *m);
const fy_gguf *fy_llm_gguf(const fy_llm *m);

/* Tokenizer (from tokenizer.ggml.*). Encode appends BOS when add_bos (and the model
 * has one). Returns FY_ELIMIT when more than cap ids would be written; *n is the count. */
int fy_llm_tokenize(const fy_llm *m, const char *text, size_t len, int add_bos, int32_t *ids,
                    size_t cap, size_t *n);
/* The bytes of one token ("<0x0A>" decodes to a newline, SentencePiece's U+2581 to a
 * space, control tokens to nothing). Writes up to cap bytes; returns the length. */
size_t fy_llm_token_piece(const fy_llm *m, int32_t id, char *buf, size_t cap);
int32_t fy_llm_bos(const fy_llm *m);
int32_t fy_llm_eos(const fy_llm *m);
/* Is this id one that ends generation (EOS or EOT)? */
int fy_llm_is_eog(const fy_llm *m, int32_t id);

/* Forget the KV cache (start a new sequence). */
void fy_llm_reset(fy_llm *m);
/* Current number of positions held in the KV cache. */
uint32_t fy_llm_pos(const fy_llm *m);
/* Feed n tokens at the current position, in one batch; if logits is non-NULL it
 * receives the vocab-sized logits after the last token. FY_ELIMIT past the context. */
int fy_llm_eval(fy_llm *m, const int32_t *ids, size_t n, float *logits, fy_diag *d);

/* ---- Sampling ---------------------------------------------------------------------- */

typedef struct fy_sampler_opts {
    float temperature;    /* 0 = greedy */
    int top_k;            /* 0 = off */
    float top_p;          /* 1 or 0 = off */
    float repeat_penalty; /* 1 or 0 = off */
    int repeat_last_n;    /* window for the penalty; 0 = 64 */
    uint64_t seed;
} fy_sampler_opts;

/* PRNG state: xoshiro256** seeded through splitmix64 (docs/llm.md). */
typedef struct fy_rng {
    uint64_t s[4];
} fy_rng;
void fy_rng_seed(fy_rng *r, uint64_t seed);
uint64_t fy_rng_next(fy_rng *r);
double fy_rng_uniform(fy_rng *r); /* [0, 1) with 53 random bits */

/* Pick the next id from logits (modified in place). `recent` holds the last n_recent
 * ids for the repetition penalty. scratch needs vocab entries of fy_llm_cand. */
typedef struct fy_llm_cand {
    int32_t id;
    float p;
} fy_llm_cand;
int32_t fy_sample(const fy_sampler_opts *o, fy_rng *rng, float *logits, uint32_t vocab,
                  const int32_t *recent, size_t n_recent, fy_llm_cand *scratch);

/* ---- Generation ------------------------------------------------------------------------ */

#define FY_LLM_MAX_STOP 4

typedef struct fy_gen_opts {
    fy_sampler_opts sampler;
    uint32_t max_tokens;               /* 0 = until EOS or the context is full */
    const char *stop[FY_LLM_MAX_STOP]; /* stop sequences (NULL-terminated list) */
    int add_bos;                       /* prepend BOS to the prompt */
    int ignore_eos;
    uint32_t batch; /* prompt tokens per batch; 0 = 512 */
} fy_gen_opts;

typedef struct fy_gen_stats {
    uint32_t prompt_tokens, gen_tokens;
    double prompt_s, gen_s, first_token_s; /* seconds */
    const char *finish_reason;             /* "stop" or "length" */
} fy_gen_stats;

/* Called with each new piece of text (possibly empty while a stop sequence is
 * pending) and its id; return nonzero to stop early (client gone). */
typedef int (*fy_gen_cb)(void *ctx, int32_t id, const char *text, size_t len);

/* Reset, feed the prompt ids, then generate. Text held back because it may start a
 * stop sequence is released when it turns out not to; a matched stop sequence is not
 * emitted. out_ids (cap out_cap) receives the generated ids when non-NULL. */
int fy_llm_generate(fy_llm *m, const int32_t *prompt, size_t n_prompt, const fy_gen_opts *o,
                    fy_gen_cb cb, void *cb_ctx, int32_t *out_ids, size_t out_cap, size_t *n_out,
                    fy_gen_stats *st, fy_diag *d);

/* Speed summary for `ferry perf`: a prompt of n_prompt tokens in one batch, then n_gen
 * greedy one-token steps, as tokens/s. fy_llm_perf_run loads PATH first (load_s is
 * that load); fy_llm_perf_model measures a loaded model from a reset state (load_s
 * left 0 for the caller, who did the loading). */
typedef struct fy_llm_perf {
    double prompt_tokens_per_s, gen_tokens_per_s, load_s;
    uint64_t weight_bytes, kv_bytes;
} fy_llm_perf;
int fy_llm_perf_run(const char *path, const fy_llm_opts *opts, uint32_t n_prompt, uint32_t n_gen,
                    fy_llm_perf *out, fy_diag *d);
int fy_llm_perf_model(fy_llm *m, uint32_t n_prompt, uint32_t n_gen, fy_llm_perf *out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
