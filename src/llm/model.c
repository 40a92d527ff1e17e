/* SPDX-License-Identifier: MIT */
/* The LLaMA-family decoder over a mapped GGUF file: RMSNorm, RoPE on adjacent pairs,
 * grouped-query attention with a KV cache, SwiGLU FFN, tied or separate output. Prompt
 * tokens go through every matrix as one batch (each weight row is read once per batch). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"
#include "llm/llm_int.h"
#include "ops/fast/fast.h"

#define MAX_DIM (1u << 16)
#define MAX_LAYERS 1024u
#define MAX_HEADS 1024u
#define BATCH_MAX 512u
#define SGEMM_MIN_T 8u /* F32 batches from this many tokens go through fy__sgemm */
#define ATT_TILE 16u   /* prompt tokens per attention SGEMM (scores: ATT_TILE x positions) */
#define ROW_CHUNK 16u  /* output rows per parallel task (a multiple of PK_ROWS) */
_Static_assert(ROW_CHUNK % PK_ROWS == 0, "row chunks are whole packed groups");

typedef struct layer {
    float *attn_norm, *ffn_norm; /* owned float copies */
    llm_weight wq, wk, wv, wo, gate, down, up;
} layer;

struct fy_llm {
    fy_gguf *g;
    fy_llm_info info;
    llm_isa isa;
    int vnni;            /* quantized matmuls through fy__llm_gemm_pk_vnni on repacked weights */
    uint8_t *packed_mem; /* the allocation holding them (owned) */
    uint8_t *packed;     /* the repacked Q8_0 / Q4_0 matrices, 2 MiB-aligned in packed_mem */
    size_t packed_bytes;
    llm_pool *pool;
    llm_vocab voc;
    llm_weight tok_embd, output;
    float *output_norm;
    layer *layers;
    float *kcache, *vcache; /* [slot][layer][ctx][kv_dim] */
    uint32_t pos, batch, n_seq;
    uint32_t *tok_slot, *tok_pos; /* per token of the batch being run */
    /* scratch for one batch */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *scores, *logits, *rope;
    void *qbuf;
    float *qscale;  /* the scales of qbuf's blocks as floats */
    int32_t *qcorr; /* Q4_0 corrections (or the packed GEMM's start values) of qbuf's blocks */
};

/* ---- loading ---- */

static int get_u32(const fy_gguf *g, const char *arch, const char *suffix, uint32_t *out,
                   int required, uint32_t def, fy_diag *d)
{
    char key[128];
    uint64_t x;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = fy_gguf_get_uint(g, key, &x, d);
    if (rc == FY_ENOTFOUND) {
        if (required)
            return fy__diag_set(d, FY_EPARSE, "gguf: missing hyper-parameter %s", key);
        *out = def;
        return FY_OK;
    }
    if (rc)
        return rc;
    if (x > UINT32_MAX)
        return fy__diag_set(d, FY_EINVAL, "gguf: %s = %llu is too large", key,
                            (unsigned long long)x);
    *out = (uint32_t)x;
    return FY_OK;
}

static int is_matrix_type(uint32_t t)
{
    return t == FY_GGML_F32 || t == FY_GGML_F16 || t == FY_GGML_Q8_0 || t == FY_GGML_Q4_0;
}

static int bind_matrix(const fy_gguf *g, const char *name, uint32_t n_in, uint32_t n_out,
                       llm_weight *w, int optional, fy_diag *d)
{
    const fy_gguf_tensor *t = fy_gguf_find_tensor(g, name);
    if (!t) {
        if (optional)
            return FY_ENOTFOUND;
        return fy__diag_set(d, FY_EPARSE, "gguf: missing tensor '%s'", name);
    }
    if (t->n_dims > 2 || t->ne[0] != n_in || t->ne[1] != n_out)
        return fy__diag_set(
            d, FY_EINVAL, "gguf: tensor '%s' has shape [%llu, %llu], expected [%u, %u]", name,
            (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], n_in, n_out);
    if (!is_matrix_type(t->type))
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: tensor '%s' is %s; supported weight types are f32, f16, q8_0 "
                            "and q4_0",
                            name, fy_ggml_type_name(t->type));
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->row_bytes = (size_t)n_in / fy_ggml_block_elems(t->type) * fy_ggml_block_bytes(t->type);
    w->data = t->data;
    return FY_OK;
}

static int load_norm(const fy_gguf *g, const char *name, uint32_t n, float **out, fy_diag *d)
{
    const fy_gguf_tensor *t = fy_gguf_find_tensor(g, name);
    if (!t)
        return fy__diag_set(d, FY_EPARSE, "gguf: missing tensor '%s'", name);
    if (t->n_dims != 1 || t->ne[0] != n)
        return fy__diag_set(d, FY_EINVAL, "gguf: tensor '%s' has %llu elements, expected %u", name,
                            (unsigned long long)t->ne[0], n);
    if (t->type != FY_GGML_F32 && t->type != FY_GGML_F16)
        return fy__diag_set(d, FY_EUNSUPPORTED, "gguf: norm tensor '%s' is %s (f32 or f16 only)",
                            name, fy_ggml_type_name(t->type));
    if (!(*out = fy__malloc((size_t)n * sizeof(float))))
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    fy__llm_dequant_row(t->type, t->data, *out, n);
    return FY_OK;
}

static uint64_t phys_mem(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
}

void fy_llm_free(fy_llm *m)
{
    if (!m)
        return;
    if (m->layers)
        for (uint32_t l = 0; l < m->info.n_layers; l++) {
            fy__free(m->layers[l].attn_norm);
            fy__free(m->layers[l].ffn_norm);
        }
    fy__free(m->layers);
    fy__free(m->output_norm);
    fy__free(m->kcache);
    fy__free(m->vcache);
    float *bufs[] = {m->x,  m->xb,  m->q,      m->k,      m->v,   m->att,
                     m->hb, m->hb2, m->scores, m->logits, m->rope};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        fy__free(bufs[i]);
    fy__free(m->qbuf);
    fy__free(m->packed_mem);
    fy__free(m->qscale);
    fy__free(m->qcorr);
    fy__free(m->tok_slot);
    fy__free(m->tok_pos);
    fy__llm_vocab_deinit(&m->voc);
    fy__llm_pool_free(m->pool);
    fy_gguf_free(m->g);
    fy__free(m);
}

static int load_hparams(fy_llm *m, const fy_llm_opts *o, fy_diag *d)
{
    const fy_gguf *g = m->g;
    fy_llm_info *in = &m->info;
    fy_gguf_str arch;
    int rc;
    if ((rc = fy_gguf_get_str(g, "general.architecture", &arch, d)) != FY_OK)
        return rc == FY_ENOTFOUND ? fy__diag_set(d, FY_EPARSE, "gguf: missing general.architecture")
                                  : rc;
    snprintf(in->arch, sizeof in->arch, "%.*s", (int)(arch.len > 31 ? 31 : arch.len), arch.ptr);
    if (strcmp(in->arch, "llama") != 0 || arch.len != 5)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: architecture '%s' is not supported (only 'llama')", in->arch);
    uint32_t rot;
    if ((rc = get_u32(g, "llama", "embedding_length", &in->dim, 1, 0, d)) ||
        (rc = get_u32(g, "llama", "block_count", &in->n_layers, 1, 0, d)) ||
        (rc = get_u32(g, "llama", "feed_forward_length", &in->ffn_dim, 1, 0, d)) ||
        (rc = get_u32(g, "llama", "attention.head_count", &in->n_heads, 1, 0, d)) ||
        (rc = get_u32(g, "llama", "attention.head_count_kv", &in->n_kv_heads, 0, in->n_heads, d)) ||
        (rc = get_u32(g, "llama", "context_length", &in->ctx_train, 0, 2048, d)))
        return rc;
    if (!in->dim || in->dim > MAX_DIM || !in->n_layers || in->n_layers > MAX_LAYERS ||
        !in->ffn_dim || in->ffn_dim > 4 * MAX_DIM || !in->n_heads || in->n_heads > MAX_HEADS ||
        !in->n_kv_heads || in->dim % in->n_heads || in->n_heads % in->n_kv_heads || !in->ctx_train)
        return fy__diag_set(d, FY_EINVAL,
                            "gguf: inconsistent hyper-parameters: dim %u, layers %u, ffn %u, "
                            "heads %u, kv heads %u, context %u",
                            in->dim, in->n_layers, in->ffn_dim, in->n_heads, in->n_kv_heads,
                            in->ctx_train);
    in->head_dim = in->dim / in->n_heads;
    if ((rc = get_u32(g, "llama", "rope.dimension_count", &rot, 0, in->head_dim, d)))
        return rc;
    if (rot != in->head_dim || in->head_dim % 2)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: RoPE over %u of %u head dimensions is not supported", rot,
                            in->head_dim);
    in->rope_theta = 10000.0;
    in->rms_eps = 1e-5;
    rc = fy_gguf_get_float(g, "llama.rope.freq_base", &in->rope_theta, d);
    if (rc && rc != FY_ENOTFOUND)
        return rc;
    rc = fy_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &in->rms_eps, d);
    if (rc && rc != FY_ENOTFOUND)
        return rc;
    if (!(in->rope_theta > 0) || !(in->rms_eps >= 0) || in->rms_eps > 1)
        return fy__diag_set(d, FY_EINVAL, "gguf: rope.freq_base %g or rms epsilon %g invalid",
                            in->rope_theta, in->rms_eps);
    const fy_gguf_value *rs = fy_gguf_find(g, "llama.rope.scaling.type");
    if (rs && rs->type == FY_GGUF_STRING && !(rs->str.len == 4 && !memcmp(rs->str.ptr, "none", 4)))
        return fy__diag_set(d, FY_EUNSUPPORTED, "gguf: RoPE scaling '%.*s' is not supported",
                            (int)(rs->str.len > 20 ? 20 : rs->str.len), rs->str.ptr);
    uint32_t ctx = o && o->ctx ? o->ctx : in->ctx_train;
    if (!(o && o->ctx) && ctx > FY_LLM_DEFAULT_CTX)
        ctx = FY_LLM_DEFAULT_CTX;
    if (ctx > in->ctx_train)
        return fy__diag_set(d, FY_EINVAL,
                            "context %u is longer than the model's trained context %u", ctx,
                            in->ctx_train);
    in->ctx = ctx;
    return FY_OK;
}

#define HUGE_PAGE ((size_t)2 << 20)
#define PACK_SLICE 64u /* row groups packed between two drops of source pages */

typedef struct pack_task {
    const llm_weight *w;
    uint8_t *dst;
    size_t g0; /* the slice's first group */
} pack_task;

static void pack_group(void *ctx, size_t i)
{
    const pack_task *t = ctx;
    fy__llm_pack_q(t->w->type == FY_GGML_Q4_0, t->w->n_in, t->w->n_out, t->w->data, t->w->row_bytes,
                   t->g0 + i, t->g0 + i + 1, t->dst);
}

static int is_q(const llm_weight *w)
{
    return w->type == FY_GGML_Q8_0 || w->type == FY_GGML_Q4_0;
}

/* Bytes of the packed copy of every Q8_0 / Q4_0 matrix pack_weights would make. */
static uint64_t packed_total(const fy_llm *m)
{
    uint64_t total = 0;
    if (is_q(&m->output))
        total += fy__llm_pk_bytes(m->output.type == FY_GGML_Q4_0, m->output.n_in, m->output.n_out);
    for (uint32_t l = 0; l < m->info.n_layers; l++) {
        const layer *ly = &m->layers[l];
        const llm_weight *lw[] = {&ly->wq,   &ly->wk,   &ly->wv, &ly->wo,
                                  &ly->gate, &ly->down, &ly->up};
        for (size_t i = 0; i < 7; i++)
            if (is_q(lw[i]))
                total += fy__llm_pk_bytes(lw[i]->type == FY_GGML_Q4_0, lw[i]->n_in, lw[i]->n_out);
    }
    return total;
}

/* With AVX-512 VNNI, every Q8_0 / Q4_0 matrix is repacked once into the GEMM's layout
 * (fy__llm_pack_q): the packed copy is the one the matmuls read, and each matrix's
 * mapped file pages are dropped from the process after packing, so resident memory
 * stays about one copy of the weights. The token embedding keeps its file layout for
 * row lookups (and is packed as well only when it is the tied output matrix). */
static int pack_weights(fy_llm *m, fy_diag *d)
{
    uint32_t L = m->info.n_layers;
    size_t n = 0, total = 0;
    llm_weight **ws = fy__malloc(((size_t)L * 7 + 1) * sizeof *ws);
    if (!ws)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    if (is_q(&m->output))
        ws[n++] = &m->output;
    for (uint32_t l = 0; l < L; l++) {
        layer *ly = &m->layers[l];
        llm_weight *lw[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->gate, &ly->down, &ly->up};
        for (size_t i = 0; i < 7; i++)
            if (is_q(lw[i]))
                ws[n++] = lw[i];
    }
    total = (size_t)packed_total(m);
    if (total && !(m->packed_mem = fy__malloc(total + HUGE_PAGE))) {
        fy__free(ws);
        return fy__diag_set(d, FY_ENOMEM, "out of memory repacking %.1f MiB of weights",
                            total / 1048576.0);
    }
    if (total) {
        /* 2 MiB-aligned and, where the kernel does transparent huge pages on request,
         * backed by them: generation streams all the weights once per token, and with
         * 4 KiB pages the TLB misses cost about a third of the bandwidth (a 107 MB
         * packed matrix streamed at 22 GB/s with 4 KiB pages, 32 GB/s with 2 MiB) */
        uintptr_t a = ((uintptr_t)m->packed_mem + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
        m->packed = (uint8_t *)a;
#ifdef MADV_HUGEPAGE
        (void)madvise(m->packed, total, MADV_HUGEPAGE);
#endif
    }
    m->packed_bytes = total;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        llm_weight *w = ws[i];
        pack_task t = {w, m->packed + off, 0};
        size_t groups = (w->n_out + PK_ROWS - 1) / PK_ROWS;
        /* slices of PACK_SLICE groups, each slice's source pages dropped right after:
         * the peak stays one copy of the weights plus one slice */
        for (t.g0 = 0; t.g0 < groups; t.g0 += PACK_SLICE) {
            size_t n_g = groups - t.g0 < PACK_SLICE ? groups - t.g0 : PACK_SLICE;
            size_t r0 = t.g0 * PK_ROWS, r1 = (t.g0 + n_g) * PK_ROWS;
            if (r1 > w->n_out)
                r1 = w->n_out;
            fy__llm_parallel_for(m->pool, n_g, pack_group, &t);
            fy__gguf_drop(m->g, w->data + r0 * w->row_bytes, (r1 - r0) * w->row_bytes);
        }
        w->packed = t.dst;
        off += fy__llm_pk_bytes(w->type == FY_GGML_Q4_0, w->n_in, w->n_out);
    }
    if (m->info.tied_output)
        m->tok_embd.packed = m->output.packed;
    fy__free(ws);
    return FY_OK;
}

/* From the file at path, or (buf non-NULL) from len bytes at buf, borrowed; path then
 * only names the model in messages. */
static int load_llm(fy_llm **out, const char *path, const void *buf, size_t len,
                    const fy_llm_opts *opts, fy_diag *d)
{
    fy_llm *m = fy__calloc(1, sizeof *m);
    int rc;
    char name[96];
    if (!m)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    rc = buf ? fy_gguf_open_memory(&m->g, buf, len, d) : fy_gguf_open(&m->g, path, d);
    if (rc != FY_OK)
        goto done;
    if ((rc = load_hparams(m, opts, d)) != FY_OK)
        goto done;
    if ((rc = fy__llm_vocab_load(&m->voc, m->g, d)) != FY_OK)
        goto done;
    fy_llm_info *in = &m->info;
    in->vocab = m->voc.n;
    uint32_t dim = in->dim, kv_dim = in->head_dim * in->n_kv_heads, L = in->n_layers;
    if ((rc = bind_matrix(m->g, "token_embd.weight", dim, in->vocab, &m->tok_embd, 0, d)))
        goto done;
    rc = bind_matrix(m->g, "output.weight", dim, in->vocab, &m->output, 1, d);
    if (rc == FY_ENOTFOUND) {
        m->output = m->tok_embd;
        in->tied_output = 1;
    } else if (rc) {
        goto done;
    }
    if ((rc = load_norm(m->g, "output_norm.weight", dim, &m->output_norm, d)))
        goto done;
    if (!(m->layers = fy__calloc(L, sizeof *m->layers))) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    uint64_t counts[8] = {0};
    for (uint32_t l = 0; l < L; l++) {
        layer *ly = &m->layers[l];
        struct {
            const char *n;
            uint32_t in_, out_;
            llm_weight *w;
        } mats[] = {{"attn_q", dim, dim, &ly->wq},
                    {"attn_k", dim, kv_dim, &ly->wk},
                    {"attn_v", dim, kv_dim, &ly->wv},
                    {"attn_output", dim, dim, &ly->wo},
                    {"ffn_gate", dim, in->ffn_dim, &ly->gate},
                    {"ffn_down", in->ffn_dim, dim, &ly->down},
                    {"ffn_up", dim, in->ffn_dim, &ly->up}};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            snprintf(name, sizeof name, "blk.%u.%s.weight", l, mats[i].n);
            if ((rc = bind_matrix(m->g, name, mats[i].in_, mats[i].out_, mats[i].w, 0, d)))
                goto done;
            counts[mats[i].w->type == FY_GGML_Q4_0   ? 3
                   : mats[i].w->type == FY_GGML_Q8_0 ? 2
                   : mats[i].w->type == FY_GGML_F16  ? 1
                                                     : 0]++;
        }
        snprintf(name, sizeof name, "blk.%u.attn_norm.weight", l);
        if ((rc = load_norm(m->g, name, dim, &ly->attn_norm, d)))
            goto done;
        snprintf(name, sizeof name, "blk.%u.ffn_norm.weight", l);
        if ((rc = load_norm(m->g, name, dim, &ly->ffn_norm, d)))
            goto done;
    }
    static const uint32_t tys[4] = {FY_GGML_F32, FY_GGML_F16, FY_GGML_Q8_0, FY_GGML_Q4_0};
    int most = 0;
    for (int i = 1; i < 4; i++)
        if (counts[i] > counts[most])
            most = i;
    in->weight_type = tys[most];
    for (size_t i = 0; i < fy_gguf_tensor_count(m->g); i++) {
        const fy_gguf_tensor *t = fy_gguf_tensor_at(m->g, i);
        in->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        in->weight_bytes += t->nbytes;
    }
    /* memory: KV cache + batch scratch + the mapped file, checked before allocating */
    m->batch = in->ctx < BATCH_MAX ? in->ctx : BATCH_MAX;
    m->n_seq = opts && opts->n_seq ? opts->n_seq : 1;
    if (m->n_seq > 256) {
        rc = fy__diag_set(d, FY_EINVAL, "%u parallel sequences (at most 256)", m->n_seq);
        goto done;
    }
    uint64_t B = m->batch, kvb = 2ull * m->n_seq * L * in->ctx * kv_dim * sizeof(float);
    uint64_t wide = dim > in->ffn_dim ? dim : in->ffn_dim;
    uint64_t scratch = (B * (4ull * dim + 2ull * kv_dim + 2ull * in->ffn_dim) +
                        (uint64_t)in->n_heads * ATT_TILE * in->ctx + in->vocab + B * in->head_dim) *
                           sizeof(float) +
                       B * (wide / QK + 1) * sizeof(blk_q8_0);
    in->kv_bytes = kvb;
    uint64_t limit = opts && opts->max_bytes ? opts->max_bytes : phys_mem();
    m->isa = opts && opts->force_scalar ? LLM_ISA_SCALAR : fy__llm_detect_isa();
    m->vnni = m->isa == LLM_ISA_AVX512 && fy__llm_has_vnni();
    in->kernels = m->vnni ? "avx512-vnni" : fy__llm_isa_name(m->isa);
    uint64_t need = kvb + scratch + fy_gguf_file_size(m->g);
    /* the packed copy replaces a file's mapped pages, but not a caller's buffer */
    if (buf && m->vnni)
        need += packed_total(m);
    if (need > limit) {
        rc = fy__diag_set(d, FY_ELIMIT,
                          "%s: the model needs %.1f MiB (weights %.1f, KV cache %.1f for "
                          "context %u x %u sequences) but only %.1f MiB are available; try a "
                          "smaller --ctx",
                          path, need / 1048576.0, fy_gguf_file_size(m->g) / 1048576.0,
                          kvb / 1048576.0, in->ctx, m->n_seq, limit / 1048576.0);
        goto done;
    }
    size_t kvn = (size_t)m->n_seq * L * in->ctx * kv_dim;
    m->kcache = fy__calloc(kvn, sizeof(float));
    m->vcache = fy__calloc(kvn, sizeof(float));
    m->x = fy__malloc(B * dim * sizeof(float));
    m->xb = fy__malloc(B * dim * sizeof(float));
    m->q = fy__malloc(B * dim * sizeof(float));
    m->att = fy__malloc(B * dim * sizeof(float));
    m->k = fy__malloc(B * kv_dim * sizeof(float));
    m->v = fy__malloc(B * kv_dim * sizeof(float));
    m->hb = fy__malloc(B * in->ffn_dim * sizeof(float));
    m->hb2 = fy__malloc(B * in->ffn_dim * sizeof(float));
    m->scores = fy__malloc((size_t)in->n_heads * ATT_TILE * in->ctx * sizeof(float));
    m->logits = fy__malloc((size_t)in->vocab * sizeof(float));
    m->rope = fy__malloc(B * in->head_dim * sizeof(float));
    m->qbuf = fy__malloc(B * (wide / QK + 1) * sizeof(blk_q8_0));
    m->qscale = fy__malloc(B * (wide / QK + 1) * sizeof(float));
    m->qcorr = fy__malloc(B * (wide / QK + 1) * sizeof(int32_t));
    m->tok_slot = fy__malloc(B * sizeof *m->tok_slot);
    m->tok_pos = fy__malloc(B * sizeof *m->tok_pos);
    if (!m->qscale || !m->qcorr || !m->tok_slot || !m->tok_pos || !m->kcache || !m->vcache ||
        !m->x || !m->xb || !m->q || !m->att || !m->k || !m->v || !m->hb || !m->hb2 || !m->scores ||
        !m->logits || !m->rope || !m->qbuf) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory for the KV cache and buffers");
        goto done;
    }
    if ((rc = fy__llm_pool_create(&m->pool, opts ? opts->threads : 1)) != FY_OK) {
        rc = fy__diag_set(d, rc, "cannot start the worker threads");
        goto done;
    }
    if (m->vnni && (rc = pack_weights(m, d)) != FY_OK)
        goto done;
    *out = m;
    m = NULL;
    rc = FY_OK;
done:
    fy_llm_free(m);
    return rc;
}

int fy_llm_load(fy_llm **out, const char *path, const fy_llm_opts *opts, fy_diag *d)
{
    return load_llm(out, path, NULL, 0, opts, d);
}

int fy_llm_load_memory(fy_llm **out, const void *buf, size_t len, const char *name,
                       const fy_llm_opts *opts, fy_diag *d)
{
    if (!buf)
        return fy__diag_set(d, FY_EINVAL, "no GGUF bytes given");
    return load_llm(out, name ? name : "model", buf, len, opts, d);
}

const fy_llm_info *fy_llm_info_get(const fy_llm *m)
{
    return &m->info;
}
const fy_gguf *fy_llm_gguf(const fy_llm *m)
{
    return m->g;
}
int32_t fy_llm_bos(const fy_llm *m)
{
    return m->voc.bos;
}
int32_t fy_llm_eos(const fy_llm *m)
{
    return m->voc.eos;
}
int fy_llm_is_eog(const fy_llm *m, int32_t id)
{
    return id >= 0 && (id == m->voc.eos || id == m->voc.eot);
}
void fy_llm_reset(fy_llm *m)
{
    m->pos = 0;
}
uint32_t fy_llm_pos(const fy_llm *m)
{
    return m->pos;
}

int fy_llm_tokenize(const fy_llm *m, const char *text, size_t len, int add_bos, int32_t *ids,
                    size_t cap, size_t *n)
{
    *n = 0;
    if (add_bos && m->voc.bos >= 0) {
        if (cap < 1)
            return FY_ELIMIT;
        ids[(*n)++] = m->voc.bos;
    }
    return fy__llm_vocab_encode(&m->voc, text, len, 0, ids, cap, n);
}

int fy__llm_tokenize_special(const fy_llm *m, const char *text, size_t len, int add_bos,
                             int32_t *ids, size_t cap, size_t *n)
{
    *n = 0;
    if (add_bos && m->voc.bos >= 0) {
        if (cap < 1)
            return FY_ELIMIT;
        ids[(*n)++] = m->voc.bos;
    }
    return fy__llm_vocab_encode(&m->voc, text, len, 1, ids, cap, n);
}

size_t fy_llm_token_piece(const fy_llm *m, int32_t id, char *buf, size_t cap)
{
    return fy__llm_vocab_piece(&m->voc, id, buf, cap);
}

/* ---- forward ---- */

typedef struct mm_task {
    const fy_llm *m;
    const llm_weight *w;
    const float *x;    /* [T][n_in] floats (F32/F16 weights) */
    const void *xq;    /* [T][n_in/32] Q8_0 blocks (quantized weights) */
    const float *xd;   /* their scales as floats */
    const int32_t *xc; /* Q4_0 weights: per-block corrections (fy__llm_q4_corr) */
    float *y;          /* [T][n_out] */
    uint32_t T;
} mm_task;

static void mm_rows(void *ctx, size_t chunk)
{
    const mm_task *t = ctx;
    const llm_weight *w = t->w;
    llm_isa isa = t->m->isa;
    size_t r0 = chunk * ROW_CHUNK, r1 = r0 + ROW_CHUNK;
    if (r1 > w->n_out)
        r1 = w->n_out;
    size_t nb = w->n_in / QK;
#ifdef __x86_64__
    if (w->packed) { /* ROW_CHUNK is a whole number of PK_ROWS groups */
        fy__llm_gemm_pk_vnni(w->type == FY_GGML_Q4_0, w->n_in, w->packed, r0 / PK_ROWS,
                             (r1 + PK_ROWS - 1) / PK_ROWS, w->n_out, t->xq, t->xd, t->xc, t->T,
                             t->y, w->n_out);
        return;
    }
#endif
    for (size_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + r * w->row_bytes;
        uint32_t i = 0;
        for (; i + 4 <= t->T && w->type != FY_GGML_F16; i += 4) {
            float o[4];
            if (w->type == FY_GGML_Q8_0)
                fy__llm_dot4_q8_0(isa, w->n_in, (const blk_q8_0 *)row,
                                  (const blk_q8_0 *)t->xq + i * nb, t->xd + i * nb, nb, o);
            else if (w->type == FY_GGML_Q4_0)
                fy__llm_dot4_q4_0x(isa, w->n_in, (const blk_q4_0 *)row,
                                   (const blk_q8_0 *)t->xq + i * nb, t->xd + i * nb, t->xc + i * nb,
                                   nb, o);
            else
                fy__llm_dot4_f32(isa, w->n_in, (const float *)row, t->x + (size_t)i * w->n_in,
                                 w->n_in, o);
            for (int k = 0; k < 4; k++)
                t->y[(size_t)(i + k) * w->n_out + r] = o[k];
        }
        for (; i < t->T; i++) {
            float s;
            switch (w->type) {
            case FY_GGML_Q8_0:
                s = fy__llm_dot_q8_0(isa, w->n_in, (const blk_q8_0 *)row,
                                     (const blk_q8_0 *)t->xq + i * nb);
                break;
            case FY_GGML_Q4_0:
                s = fy__llm_dot_q4_0x(isa, w->n_in, (const blk_q4_0 *)row,
                                      (const blk_q8_0 *)t->xq + i * nb, t->xd + i * nb,
                                      t->xc + i * nb);
                break;
            case FY_GGML_F16:
                s = fy__llm_dot_f16(isa, w->n_in, (const uint16_t *)row, t->x + i * w->n_in);
                break;
            default:
                s = fy__llm_dot_f32(isa, w->n_in, (const float *)row, t->x + i * w->n_in);
                break;
            }
            t->y[(size_t)i * w->n_out + r] = s;
        }
    }
}

/* y[T][n_out] = x[T][n_in] W^T */
static void matmul(fy_llm *m, const llm_weight *w, const float *x, uint32_t T, float *y)
{
    mm_task t = {m, w, x, NULL, NULL, NULL, y, T};
    if (w->type == FY_GGML_Q8_0 || w->type == FY_GGML_Q4_0) {
        size_t nb = w->n_in / QK;
        blk_q8_0 *q = m->qbuf;
        for (uint32_t i = 0; i < T; i++)
            fy__llm_quantize_q8_0_isa(m->isa, x + (size_t)i * w->n_in, q + i * nb, w->n_in);
        fy__llm_q8_scales(q, m->qscale, (size_t)T * nb);
        if (w->packed) /* the packed GEMM's start values, for Q8_0 too */
            fy__llm_q_init(w->type == FY_GGML_Q4_0, q, m->qcorr, (size_t)T * nb);
        else if (w->type == FY_GGML_Q4_0)
            fy__llm_q4_corr(q, m->qcorr, (size_t)T * nb);
        t.xc = m->qcorr;
        t.xq = q;
        t.xd = m->qscale;
    }
    if (w->type == FY_GGML_F32 && T >= SGEMM_MIN_T && m->isa != LLM_ISA_SCALAR) {
        /* prompt batches of F32 weights: the engine's blocked SGEMM (packs W's panels
         * on the fly; W is n_out x n_in row-major, so B = W^T has strides 1, n_in) */
        fy__sgemm(fy__llm_pool_core(m->pool), T, w->n_out, w->n_in, x, w->n_in, 1,
                  (const float *)w->data, 1, w->n_in, y, w->n_out, NULL);
        return;
    }
    size_t chunks = (w->n_out + ROW_CHUNK - 1) / ROW_CHUNK;
    /* below ~64K multiply-adds a hand-off to the pool costs more than it saves */
    if ((uint64_t)w->n_out * w->n_in * T < ((uint64_t)1 << 16)) {
        for (size_t c = 0; c < chunks; c++)
            mm_rows(&t, c);
        return;
    }
    fy__llm_parallel_for(m->pool, chunks, mm_rows, &t);
}

static void rmsnorm(float *o, const float *x, const float *w, uint32_t n, double eps)
{
    double ss = 0;
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / n + eps));
    for (uint32_t i = 0; i < n; i++)
        o[i] = x[i] * scale * w[i];
}

/* Rotate adjacent pairs (x[2i], x[2i+1]) of each head by pos * theta^(-2i/head_dim): the
 * layout llama.cpp's converter produces for llama (Q/K rows permuted at conversion). */
static void rope(float *x, uint32_t n_heads, uint32_t hd, const float *cs)
{
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hd;
        for (uint32_t i = 0; i < hd; i += 2) {
            float c = cs[i], s = cs[i + 1], a = v[i], b = v[i + 1];
            v[i] = a * c - b * s;
            v[i + 1] = a * s + b * c;
        }
    }
}

typedef struct att_task {
    fy_llm *m;
    uint32_t layer, T;
} att_task;

static void attend_head(void *ctx, size_t h)
{
    const att_task *t = ctx;
    fy_llm *m = t->m;
    const fy_llm_info *in = &m->info;
    uint32_t hd = in->head_dim, kv_dim = hd * in->n_kv_heads, dim = in->dim;
    uint32_t kvh = (uint32_t)h / (in->n_heads / in->n_kv_heads);
    float *sc = m->scores + h * ATT_TILE * in->ctx;
    float scale = 1.0f / sqrtf((float)hd);
    for (uint32_t i = 0; i < t->T; i++) {
        size_t base = ((size_t)m->tok_slot[i] * in->n_layers + t->layer) * in->ctx * kv_dim;
        const float *kc = m->kcache + base, *vc = m->vcache + base;
        uint32_t n = m->tok_pos[i] + 1; /* causal: positions 0..pos of its own sequence */
        const float *q = m->q + (size_t)i * dim + h * hd;
        float mx = -INFINITY;
        for (uint32_t p = 0; p < n; p++) {
            sc[p] = fy__llm_dot_f32(m->isa, hd, q, kc + (size_t)p * kv_dim + kvh * hd) * scale;
            if (sc[p] > mx)
                mx = sc[p];
        }
        float sum = 0;
        for (uint32_t p = 0; p < n; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        float *o = m->att + (size_t)i * dim + h * hd;
        memset(o, 0, hd * sizeof(float));
        for (uint32_t p = 0; p < n; p++) {
            float a = sc[p] / sum;
            fy__llm_axpy(m->isa, hd, a, vc + (size_t)p * kv_dim + kvh * hd, o);
        }
    }
}

/* The same for a prompt batch: T tokens of one sequence at consecutive positions p0.. .
 * Per head and tile of ATT_TILE tokens, the scores against every cached position up to
 * the tile's last are one SGEMM (Q K^T), the causal mask and softmax run row by row,
 * and the weighted sum of values is a second SGEMM (P V). */
static void attend_head_batch(void *ctx, size_t h)
{
    const att_task *t = ctx;
    fy_llm *m = t->m;
    const fy_llm_info *in = &m->info;
    uint32_t hd = in->head_dim, kv_dim = hd * in->n_kv_heads, dim = in->dim;
    uint32_t kvh = (uint32_t)h / (in->n_heads / in->n_kv_heads), p0 = m->tok_pos[0];
    float *sc = m->scores + h * ATT_TILE * in->ctx;
    float scale = 1.0f / sqrtf((float)hd);
    size_t base = ((size_t)m->tok_slot[0] * in->n_layers + t->layer) * in->ctx * kv_dim;
    const float *kc = m->kcache + base + kvh * hd, *vc = m->vcache + base + kvh * hd;
    for (uint32_t i0 = 0; i0 < t->T; i0 += ATT_TILE) {
        uint32_t tc = t->T - i0 < ATT_TILE ? t->T - i0 : ATT_TILE, n = p0 + i0 + tc;
        /* sc[ii][p] = q(i0 + ii) . k(p): B[d][p] = kc[p * kv_dim + d] */
        fy__sgemm(NULL, tc, n, hd, m->q + (size_t)i0 * dim + h * hd, dim, 1, kc, 1, kv_dim, sc, n,
                  NULL);
        for (uint32_t ii = 0; ii < tc; ii++) {
            float *row = sc + (size_t)ii * n;
            uint32_t nv = p0 + i0 + ii + 1; /* causal: positions 0..p0+i0+ii */
            float mx = -INFINITY, sum = 0;
            for (uint32_t p = 0; p < nv; p++) {
                row[p] *= scale;
                if (row[p] > mx)
                    mx = row[p];
            }
            for (uint32_t p = 0; p < nv; p++) {
                row[p] = expf(row[p] - mx);
                sum += row[p];
            }
            float inv = 1.0f / sum;
            for (uint32_t p = 0; p < nv; p++)
                row[p] *= inv;
            for (uint32_t p = nv; p < n; p++)
                row[p] = 0.0f;
        }
        fy__sgemm(NULL, tc, hd, n, sc, n, 1, vc, kv_dim, 1, m->att + (size_t)i0 * dim + h * hd, dim,
                  NULL);
    }
}

/* Whether the batch is one sequence's tokens at consecutive positions (a prompt). */
static int one_sequence(const fy_llm *m, uint32_t T)
{
    for (uint32_t i = 1; i < T; i++)
        if (m->tok_slot[i] != m->tok_slot[0] || m->tok_pos[i] != m->tok_pos[0] + i)
            return 0;
    return 1;
}

/* Run T tokens (positions and slots in m->tok_pos / m->tok_slot); logits for the rows
 * listed in out_rows go to logits[k * vocab]. */
static void forward(fy_llm *m, const int32_t *ids, uint32_t T, const uint32_t *out_rows,
                    uint32_t n_out, float *logits)
{
    const fy_llm_info *in = &m->info;
    uint32_t dim = in->dim, hd = in->head_dim, kv_dim = hd * in->n_kv_heads, ff = in->ffn_dim;
    int batch_att = T >= SGEMM_MIN_T && m->isa != LLM_ISA_SCALAR && one_sequence(m, T);
    for (uint32_t i = 0; i < T; i++) {
        if (m->tok_embd.packed) /* tied and packed: the file's pages were dropped */
            fy__llm_pk_dequant_row(m->tok_embd.type == FY_GGML_Q4_0, dim, m->tok_embd.packed,
                                   (size_t)ids[i], m->x + (size_t)i * dim);
        else
            fy__llm_dequant_row(m->tok_embd.type,
                                m->tok_embd.data + (size_t)ids[i] * m->tok_embd.row_bytes,
                                m->x + (size_t)i * dim, dim);
    }
    for (uint32_t l = 0; l < in->n_layers; l++) {
        const layer *ly = &m->layers[l];
        if (l == 0) /* each token's RoPE cosines and sines, once for all layers */
            for (uint32_t i = 0; i < T; i++)
                for (uint32_t j = 0; j < hd; j += 2) {
                    double th = m->tok_pos[i] * pow(in->rope_theta, -(double)j / hd);
                    m->rope[(size_t)i * hd + j] = (float)cos(th);
                    m->rope[(size_t)i * hd + j + 1] = (float)sin(th);
                }
        for (uint32_t i = 0; i < T; i++)
            rmsnorm(m->xb + (size_t)i * dim, m->x + (size_t)i * dim, ly->attn_norm, dim,
                    in->rms_eps);
        matmul(m, &ly->wq, m->xb, T, m->q);
        matmul(m, &ly->wk, m->xb, T, m->k);
        matmul(m, &ly->wv, m->xb, T, m->v);
        for (uint32_t i = 0; i < T; i++) {
            uint32_t pos = m->tok_pos[i];
            rope(m->q + (size_t)i * dim, in->n_heads, hd, m->rope + (size_t)i * hd);
            rope(m->k + (size_t)i * kv_dim, in->n_kv_heads, hd, m->rope + (size_t)i * hd);
            size_t off = (((size_t)m->tok_slot[i] * in->n_layers + l) * in->ctx + pos) * kv_dim;
            memcpy(m->kcache + off, m->k + (size_t)i * kv_dim, kv_dim * sizeof(float));
            memcpy(m->vcache + off, m->v + (size_t)i * kv_dim, kv_dim * sizeof(float));
        }
        att_task at = {m, l, T};
        fy__llm_parallel_for(m->pool, in->n_heads, batch_att ? attend_head_batch : attend_head,
                             &at);
        matmul(m, &ly->wo, m->att, T, m->xb);
        for (size_t i = 0; i < (size_t)T * dim; i++)
            m->x[i] += m->xb[i];
        for (uint32_t i = 0; i < T; i++)
            rmsnorm(m->xb + (size_t)i * dim, m->x + (size_t)i * dim, ly->ffn_norm, dim,
                    in->rms_eps);
        matmul(m, &ly->gate, m->xb, T, m->hb);
        matmul(m, &ly->up, m->xb, T, m->hb2);
        fy__llm_swiglu(m->isa, (size_t)T * ff, m->hb, m->hb2);
        matmul(m, &ly->down, m->hb, T, m->xb);
        for (size_t i = 0; i < (size_t)T * dim; i++)
            m->x[i] += m->xb[i];
    }
    if (n_out) {
        for (uint32_t k = 0; k < n_out; k++)
            rmsnorm(m->xb + (size_t)k * dim, m->x + (size_t)out_rows[k] * dim, m->output_norm, dim,
                    in->rms_eps);
        matmul(m, &m->output, m->xb, n_out, logits);
    }
}

int fy_llm_eval(fy_llm *m, const int32_t *ids, size_t n, float *logits, fy_diag *d)
{
    if (n == 0)
        return fy__diag_set(d, FY_EINVAL, "no tokens to evaluate");
    if (n > m->info.ctx - m->pos)
        return fy__diag_set(d, FY_ELIMIT,
                            "%zu tokens at position %u would overflow the context of %u tokens", n,
                            m->pos, m->info.ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->info.vocab)
            return fy__diag_set(d, FY_EINVAL, "token id %d is outside the vocabulary of %u", ids[i],
                                m->info.vocab);
    for (size_t i = 0; i < n; i += m->batch) {
        uint32_t T = (uint32_t)(n - i < m->batch ? n - i : m->batch);
        for (uint32_t k = 0; k < T; k++) {
            m->tok_slot[k] = 0;
            m->tok_pos[k] = m->pos + k;
        }
        uint32_t last = T - 1;
        forward(m, ids + i, T, &last, i + T == n && logits ? 1 : 0, logits);
        m->pos += T;
    }
    return FY_OK;
}

uint32_t fy__llm_n_seq(const fy_llm *m)
{
    return m->n_seq;
}
uint32_t fy__llm_batch_max(const fy_llm *m)
{
    return m->batch;
}

int fy__llm_decode(fy_llm *m, const int32_t *ids, const uint32_t *slot, const uint32_t *pos,
                   uint32_t n, const uint32_t *out_rows, uint32_t n_out, float *logits, fy_diag *d)
{
    if (n == 0 || n > m->batch || n_out > n)
        return fy__diag_set(d, FY_EINVAL, "decode: %u tokens (1..%u), %u outputs", n, m->batch,
                            n_out);
    for (uint32_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (uint32_t)ids[i] >= m->info.vocab || slot[i] >= m->n_seq ||
            pos[i] >= m->info.ctx)
            return fy__diag_set(d, FY_EINVAL,
                                "decode: token %u (id %d, slot %u, position %u) "
                                "out of range",
                                i, ids[i], slot[i], pos[i]);
        m->tok_slot[i] = slot[i];
        m->tok_pos[i] = pos[i];
    }
    for (uint32_t k = 0; k < n_out; k++)
        if (out_rows[k] >= n)
            return fy__diag_set(d, FY_EINVAL, "decode: output row %u of %u", out_rows[k], n);
    forward(m, ids, n, out_rows, n_out, logits);
    return FY_OK;
}
