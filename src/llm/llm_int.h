/* SPDX-License-Identifier: MIT */
/* Private to src/llm: block formats, dot-product kernels, the parallel-for seam. */
#ifndef FERRY_LLM_INT_H
#define FERRY_LLM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/llm.h"

#define QK 32 /* elements per Q8_0 / Q4_0 block */

/* GGUF's Q8_0 block: an fp16 scale and 32 int8 values, value = q * d. */
typedef struct blk_q8_0 {
    uint16_t d;
    int8_t qs[QK];
} blk_q8_0;
/* GGUF's Q4_0 block: an fp16 scale and 16 bytes of nibbles, value = (q - 8) * d; the low
 * nibbles are elements 0..15, the high nibbles 16..31. */
typedef struct blk_q4_0 {
    uint16_t d;
    uint8_t qs[QK / 2];
} blk_q4_0;

_Static_assert(sizeof(blk_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(blk_q4_0) == 18, "Q4_0 block is 18 bytes");

/* A weight matrix as the file stores it: n_out rows of n_in elements of `type`. */
typedef struct llm_weight {
    uint32_t type;
    uint32_t n_in, n_out;
    size_t row_bytes;
    const uint8_t *data;
    const uint8_t *packed; /* the VNNI layout (fy__llm_pack_q) when non-NULL */
} llm_weight;

/* Which kernel set runs: chosen once per model from the CPU (and opts). */
typedef enum llm_isa { LLM_ISA_SCALAR = 0, LLM_ISA_AVX2 = 1, LLM_ISA_AVX512 = 2 } llm_isa;

llm_isa fy__llm_detect_isa(void);
const char *fy__llm_isa_name(llm_isa isa);

/* Quantize n floats (n % 32 == 0) into n/32 Q8_0 blocks, as GGUF's Q8_0 (and the
 * activation side of llama.cpp's integer dot products) does: d = max|x| / 127 stored as
 * fp16, q = round(x / d). */
void fy__llm_quantize_q8_0(const float *x, blk_q8_0 *y, size_t n);
/* The same with the ISA's kernel; bit-identical results (tested). */
void fy__llm_quantize_q8_0_isa(llm_isa isa, const float *x, blk_q8_0 *y, size_t n);
/* y[0..n) += a * x[0..n) */
void fy__llm_axpy(llm_isa isa, size_t n, float a, const float *x, float *y);
/* SwiGLU in place: g[i] = silu(g[i]) * u[i], silu(x) = x / (1 + exp(-x)). */
void fy__llm_swiglu(llm_isa isa, size_t n, float *g, const float *u);
/* Dequantize one row of any supported type into floats. */
void fy__llm_dequant_row(uint32_t type, const void *row, float *y, size_t n);

/* Dot products of one weight row with one activation row (n elements). Activations are
 * Q8_0 blocks for the quantized types and floats for F32/F16. */
float fy__llm_dot_q8_0(llm_isa isa, size_t n, const blk_q8_0 *w, const blk_q8_0 *x);
float fy__llm_dot_q4_0(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x);
float fy__llm_dot_f32(llm_isa isa, size_t n, const float *w, const float *x);
float fy__llm_dot_f16(llm_isa isa, size_t n, const uint16_t *w, const float *x);
/* The same for one weight row and four activation rows x + t * xs (t = 0..3), into
 * out[0..3]: prompt batches load each weight block once per four tokens. */
/* xd: the scales of x's blocks as floats (fy__llm_q8_scales), same layout as x. */
void fy__llm_dot4_q8_0(llm_isa isa, size_t n, const blk_q8_0 *w, const blk_q8_0 *x, const float *xd,
                       size_t xs, float *out);
void fy__llm_dot4_q4_0(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x, const float *xd,
                       size_t xs, float *out);
void fy__llm_q8_scales(const blk_q8_0 *x, float *xd, size_t nblocks);
/* Q4_0 with per-block corrections xc[b] = 8 * sum(q_x) (fy__llm_q4_corr): the
 * AVX-512 kernels keep the nibbles unsigned; other ISAs use the plain dots. */
void fy__llm_q4_corr(const blk_q8_0 *x, int32_t *xc, size_t nblocks);
float fy__llm_dot_q4_0x(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                        const float *xd, const int32_t *xc);
void fy__llm_dot4_q4_0x(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                        const float *xd, const int32_t *xc, size_t xs, float *out);
void fy__llm_dot4_f32(llm_isa isa, size_t n, const float *w, const float *x, size_t xs, float *out);
/* Whether the CPU has AVX-512 VNNI (vpdpbusd), for fy__llm_gemm_pk_vnni. */
int fy__llm_has_vnni(void);
/* Q8_0 / Q4_0 weights repacked for the VNNI GEMM (done once at load): groups of
 * PK_ROWS rows; per group and block, the quants of the 16 rows interleaved 4 bytes at a
 * time (64-byte vector j, lane r: quants 4j..4j+3 of row r; Q8_0 stored as q ^ 0x80,
 * Q4_0 as GGUF's bytes, low nibbles 4j.., high nibbles 16+4j..), then the 16 fp16
 * scales. Same bytes per row as the file's format; rows past n_out are zeros. */
#define PK_ROWS 16
#define PK_Q8_BLOCK (8 * 64 + 32)
#define PK_Q4_BLOCK (4 * 64 + 32)
size_t fy__llm_pk_bytes(int q4, size_t n_in, size_t n_out);
/* Pack row groups [g0, g1) of the n_out x n_in matrix at w (rows rb bytes apart) into
 * dst (the whole packed matrix). */
void fy__llm_pack_q(int q4, size_t n_in, size_t n_out, const uint8_t *w, size_t rb, size_t g0,
                    size_t g1, uint8_t *dst);
/* Row `row` of the packed matrix wp as n_in floats (the same values as
 * fy__llm_dequant_row on the file's row): token embeddings of a tied output matrix. */
void fy__llm_pk_dequant_row(int q4, size_t n_in, const uint8_t *wp, size_t row, float *y);
/* The accumulators' start values for the packed GEMM: xi[b] = -off * sum(x[b].qs) with
 * off = 8 (Q4_0) or 128 (Q8_0). */
void fy__llm_q_init(int q4, const blk_q8_0 *x, int32_t *xi, size_t nblocks);
/* y[t * ldy + r] = dot(row r, token t) for the rows of groups [g0, g1) (r < n_out) of the
 * packed matrix wp and T tokens of n_in/32 Q8_0 blocks each at x (token t at x + t *
 * n_in/32), with their float scales xd and start values xi in the same layout. x86 with
 * AVX-512 VNNI only. */
void fy__llm_gemm_pk_vnni(int q4, size_t n_in, const uint8_t *wp, size_t g0, size_t g1,
                          size_t n_out, const blk_q8_0 *x, const float *xd, const int32_t *xi,
                          size_t T, float *y, size_t ldy);

/* The parallel-for seam (pool.c): run fn(ctx, i) for i in [0, n) on the core thread
 * pool (src/core/pool.h), the caller taking part; inline with one thread. */
typedef struct llm_pool llm_pool;
int fy__llm_pool_create(llm_pool **out, int threads);
void fy__llm_pool_free(llm_pool *p);
int fy__llm_pool_threads(const llm_pool *p);
/* The core pool underneath (NULL with one thread), for the engine's SGEMM. */
struct fy_pool *fy__llm_pool_core(const llm_pool *p);
void fy__llm_parallel_for(llm_pool *p, size_t n, void (*fn)(void *ctx, size_t i), void *ctx);

/* Seconds on the monotonic clock. */
double fy__llm_now(void);

/* Drop the pages wholly inside [p, p + n) of g's file mapping from this process (they
 * fault back in from the page cache when read again); nothing for in-memory files. */
void fy__gguf_drop(const fy_gguf *g, const void *p, size_t n);

/* "u32", "string", ...: a metadata type's name. */
const char *fy__gguf_type_word(uint32_t t);

#endif

/* ---- tokenizer (tokenizer.c) ---- */

/* SentencePiece-style vocabulary from tokenizer.ggml.*: pieces with U+2581 for spaces,
 * merge scores, token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 * 6 byte). */
typedef struct llm_vocab {
    uint32_t n;
    const fy_gguf_str *tok; /* in the gguf */
    float *score;
    uint8_t *type;
    int32_t *slots; /* open-addressing hash of piece -> id; -1 empty */
    uint32_t n_slots;
    int32_t byte_id[256]; /* <0xNN> ids, -1 if absent */
    int32_t bos, eos, eot, unk;
    int add_bos, add_space_prefix;
} llm_vocab;

int fy__llm_vocab_load(llm_vocab *v, const fy_gguf *g, fy_diag *d);
void fy__llm_vocab_deinit(llm_vocab *v);
/* Encode text (no BOS); special: match control/user-defined pieces literally in the
 * text (chat templates), else they are plain text. */
int fy__llm_vocab_encode(const llm_vocab *v, const char *text, size_t len, int special,
                         int32_t *ids, size_t cap, size_t *n);
size_t fy__llm_vocab_piece(const llm_vocab *v, int32_t id, char *buf, size_t cap);
int32_t fy__llm_vocab_find(const llm_vocab *v, const char *s, size_t len);
/* Encode with the model's vocabulary, optionally parsing special tokens (server chat). */
int fy__llm_tokenize_special(const fy_llm *m, const char *text, size_t len, int add_bos,
                             int32_t *ids, size_t cap, size_t *n);

/* ---- batched decoding over several sequences (model.c), for the scheduler ---- */

uint32_t fy__llm_n_seq(const fy_llm *m);
uint32_t fy__llm_batch_max(const fy_llm *m);
/* Run n tokens (n <= fy__llm_batch_max) in one batch, token i of sequence slot[i] at
 * position pos[i] (its cache rows 0..pos[i]-1 must hold that sequence's earlier
 * tokens); logits of rows out_rows[0..n_out) go to logits[k * vocab]. */
int fy__llm_decode(fy_llm *m, const int32_t *ids, const uint32_t *slot, const uint32_t *pos,
                   uint32_t n, const uint32_t *out_rows, uint32_t n_out, float *logits, fy_diag *d);

/* ---- streamed text with stop sequences (generate.c) ---- */

/* Accumulates generated pieces and releases text that is final: whole UTF-8 characters
 * that cannot be the start of a stop sequence. Once a stop sequence appears, `stopped`
 * is set and the text before it is the last released. */
typedef struct llm_text {
    char *buf;
    size_t len, cap, emitted;
    const char *const *stop; /* up to FY_LLM_MAX_STOP, NULL-terminated; may be NULL */
    int stopped;
} llm_text;
void fy__llm_text_init(llm_text *t, const char *const *stop);
void fy__llm_text_deinit(llm_text *t);
/* Append a piece; out and out_len: the newly final text (borrowed until the next call). */
int fy__llm_text_push(llm_text *t, const char *piece, size_t n, const char **out, size_t *out_len);
/* At the end: whatever was held back (nothing after a stop sequence). */
void fy__llm_text_flush(llm_text *t, const char **out, size_t *out_len);

/* ---- continuous batching scheduler (sched.c), used by the OpenAI endpoints ---- */

typedef struct llm_sched llm_sched;
typedef struct llm_job llm_job;
/* One generation request. Callbacks run on the scheduler thread: on_text with each
 * piece of final text (id -1 and "" once when the request starts, as a liveness probe;
 * id -1 for text released at the end); a nonzero return cancels the request. on_done
 * is called exactly once, last (rc FY_OK, or an error with its message). */
typedef struct llm_job_params {
    int32_t *prompt; /* copied at submit */
    size_t n_prompt;
    fy_gen_opts opts; /* stop strings copied at submit */
    int (*on_text)(void *ctx, int32_t id, const char *text, size_t len);
    void (*on_done)(void *ctx, const fy_gen_stats *st, int rc, const char *err);
    void *ctx;
} llm_job_params;
/* Starts the thread; the scheduler owns m's compute from now on (no other fy_llm_*
 * calls on m until fy__llm_sched_free, which fails the requests still queued). */
int fy__llm_sched_create(llm_sched **out, fy_llm *m, uint32_t queue_cap, fy_diag *d);
void fy__llm_sched_free(llm_sched *s);
/* Queue a request: FY_ELIMIT when queue_cap requests already wait (answer 429),
 * FY_EINVAL when the prompt does not fit the context (400), FY_EIO when stopping.
 * Thread-safe. */
int fy__llm_sched_submit(llm_sched *s, const llm_job_params *p, fy_diag *d);
/* Sequences generating and requests waiting (thread-safe). */
void fy__llm_sched_counts(llm_sched *s, uint32_t *running, uint32_t *waiting);
fy_llm *fy__llm_sched_model(llm_sched *s);
