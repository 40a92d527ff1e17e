/* SPDX-License-Identifier: MIT */
/* The generation loop shared by `ferry generate` and the OpenAI endpoints: prompt in
 * batches, then sample/evaluate one token at a time, with stop sequences, max tokens,
 * EOS and an early-stop callback; text is released only in whole UTF-8 characters and
 * never while it could still be the start of a stop sequence. */
#define _GNU_SOURCE
#include <string.h>

#include "core/core.h"
#include "llm/llm_int.h"

#define PIECE_MAX 1024

/* Length of the longest suffix of t[0..n) that is a proper prefix of some stop string. */
static size_t stop_holdback(const char *const *stop, const char *t, size_t n)
{
    size_t best = 0;
    for (int s = 0; s < FY_LLM_MAX_STOP && stop[s]; s++) {
        size_t sl = strlen(stop[s]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > best; k--)
            if (k <= n && memcmp(t + n - k, stop[s], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Bytes at the end of t[0..n) that form an incomplete UTF-8 character. */
static size_t utf8_incomplete(const char *t, size_t n)
{
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        uint8_t c = (uint8_t)t[n - back];
        if ((c & 0xc0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 1;
        return need > back ? back : 0;
    }
    return 0;
}

void fy__llm_text_init(llm_text *t, const char *const *stop)
{
    memset(t, 0, sizeof *t);
    t->stop = stop;
}

void fy__llm_text_deinit(llm_text *t)
{
    fy__free(t->buf);
}

int fy__llm_text_push(llm_text *t, const char *piece, size_t n, const char **out, size_t *out_len)
{
    if (t->len + n + 1 > t->cap) {
        size_t nc = (t->len + n + 1) * 2 + 64;
        char *nb = fy__realloc(t->buf, nc);
        if (!nb)
            return FY_ENOMEM;
        t->buf = nb;
        t->cap = nc;
    }
    memcpy(t->buf + t->len, piece, n);
    t->len += n;
    t->buf[t->len] = 0;
    /* a complete stop sequence ends generation; its text is not emitted */
    size_t stop_at = SIZE_MAX;
    for (int k = 0; k < FY_LLM_MAX_STOP && t->stop && t->stop[k]; k++) {
        size_t sl = strlen(t->stop[k]);
        if (!sl)
            continue;
        size_t from = t->emitted > sl ? t->emitted - sl : 0;
        const char *hit = memmem(t->buf + from, t->len - from, t->stop[k], sl);
        if (hit && (size_t)(hit - t->buf) < stop_at)
            stop_at = (size_t)(hit - t->buf);
    }
    size_t upto = t->len;
    if (stop_at != SIZE_MAX) {
        upto = stop_at;
        t->stopped = 1;
    } else {
        if (t->stop)
            upto -= stop_holdback(t->stop, t->buf, t->len);
        upto -= utf8_incomplete(t->buf, upto);
    }
    if (upto < t->emitted)
        upto = t->emitted;
    *out = t->buf + t->emitted;
    *out_len = upto - t->emitted;
    t->emitted = upto;
    return FY_OK;
}

void fy__llm_text_flush(llm_text *t, const char **out, size_t *out_len)
{
    *out = t->buf ? t->buf + t->emitted : "";
    *out_len = t->stopped ? 0 : t->len - t->emitted;
    t->emitted += *out_len;
}

int fy_llm_generate(fy_llm *m, const int32_t *prompt, size_t n_prompt, const fy_gen_opts *o,
                    fy_gen_cb cb, void *cb_ctx, int32_t *out_ids, size_t out_cap, size_t *n_out,
                    fy_gen_stats *st, fy_diag *d)
{
    const fy_llm_info *in = fy_llm_info_get(m);
    fy_gen_stats s = {0};
    int rc;
    size_t nout = 0;
    s.finish_reason = "length";
    float *logits = fy__malloc((size_t)in->vocab * sizeof(float));
    fy_llm_cand *cand = fy__malloc((size_t)in->vocab * sizeof *cand);
    size_t hist_cap = n_prompt + (o->max_tokens ? o->max_tokens : in->ctx) + 1;
    int32_t *hist = fy__malloc(hist_cap * sizeof *hist);
    llm_text text;
    fy__llm_text_init(&text, o->stop);
    if (!logits || !cand || !hist) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory for generation");
        goto done;
    }
    if (n_prompt == 0) {
        rc = fy__diag_set(d, FY_EINVAL, "empty prompt (no tokens)");
        goto done;
    }
    if (n_prompt >= in->ctx) {
        rc = fy__diag_set(d, FY_ELIMIT,
                          "the prompt has %zu tokens; the context holds %u (prompt plus at "
                          "least one generated token)",
                          n_prompt, in->ctx);
        goto done;
    }
    memcpy(hist, prompt, n_prompt * sizeof *hist);
    size_t nh = n_prompt;
    fy_rng rng;
    fy_rng_seed(&rng, o->sampler.seed);
    fy_llm_reset(m);
    double t0 = fy__llm_now();
    if ((rc = fy_llm_eval(m, prompt, n_prompt, logits, d)) != FY_OK)
        goto done;
    double t1 = fy__llm_now();
    s.prompt_tokens = (uint32_t)n_prompt;
    s.prompt_s = t1 - t0;
    for (;;) {
        if (o->max_tokens && nout >= o->max_tokens)
            break;
        int32_t id = fy_sample(&o->sampler, &rng, logits, in->vocab, hist, nh, cand);
        if (nout == 0)
            s.first_token_s = fy__llm_now() - t0;
        if (!o->ignore_eos && fy_llm_is_eog(m, id)) {
            s.finish_reason = "stop";
            break;
        }
        hist[nh++] = id;
        if (out_ids && nout < out_cap)
            out_ids[nout] = id;
        nout++;
        s.gen_tokens++;
        char piece[PIECE_MAX];
        size_t pl = fy_llm_token_piece(m, id, piece, sizeof piece);
        const char *emit;
        size_t emit_len;
        if (fy__llm_text_push(&text, piece, pl, &emit, &emit_len) != FY_OK) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory for generated text");
            goto done;
        }
        if (cb && cb(cb_ctx, id, emit, emit_len)) {
            s.finish_reason = "stop";
            break;
        }
        if (text.stopped) {
            s.finish_reason = "stop";
            break;
        }
        if (fy_llm_pos(m) >= in->ctx)
            break; /* context full: "length" */
        if (o->max_tokens && nout >= o->max_tokens)
            break;
        double g0 = fy__llm_now();
        if ((rc = fy_llm_eval(m, &id, 1, logits, d)) != FY_OK)
            goto done;
        s.gen_s += fy__llm_now() - g0;
    }
    const char *rest;
    size_t rest_len;
    fy__llm_text_flush(&text, &rest, &rest_len);
    if (rest_len && cb)
        cb(cb_ctx, -1, rest, rest_len);
    rc = FY_OK;
done:
    if (n_out)
        *n_out = nout;
    if (st)
        *st = s;
    fy__free(logits);
    fy__free(cand);
    fy__free(hist);
    fy__llm_text_deinit(&text);
    return rc;
}

int fy_llm_perf_run(const char *path, const fy_llm_opts *opts, uint32_t n_prompt, uint32_t n_gen,
                    fy_llm_perf *out, fy_diag *d)
{
    fy_llm *m = NULL;
    double t0 = fy__llm_now();
    int rc = fy_llm_load(&m, path, opts, d);
    if (rc)
        return rc;
    double load_s = fy__llm_now() - t0;
    if ((rc = fy_llm_perf_model(m, n_prompt, n_gen, out, d)) == FY_OK)
        out->load_s = load_s;
    fy_llm_free(m);
    return rc;
}

int fy_llm_perf_model(fy_llm *m, uint32_t n_prompt, uint32_t n_gen, fy_llm_perf *out, fy_diag *d)
{
    int32_t *ids = NULL;
    float *logits = NULL;
    int rc = FY_OK;
    fy_llm_perf p = {0};
    const fy_llm_info *in = fy_llm_info_get(m);
    p.weight_bytes = in->weight_bytes;
    p.kv_bytes = in->kv_bytes;
    if (n_prompt == 0 || (uint64_t)n_prompt + n_gen > in->ctx) {
        rc = fy__diag_set(d, FY_EINVAL, "%u prompt + %u generated tokens do not fit context %u",
                          n_prompt, n_gen, in->ctx);
        goto done;
    }
    ids = fy__malloc((size_t)n_prompt * sizeof *ids);
    logits = fy__malloc((size_t)in->vocab * sizeof *logits);
    if (!ids || !logits) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    /* a deterministic spread of ids stands in for a prompt: speed does not depend on them */
    for (uint32_t i = 0; i < n_prompt; i++)
        ids[i] = (int32_t)((i * 2654435761u) % in->vocab);
    fy_llm_reset(m);
    double a = fy__llm_now();
    if ((rc = fy_llm_eval(m, ids, n_prompt, logits, d)))
        goto done;
    double b = fy__llm_now();
    p.prompt_tokens_per_s = n_prompt / (b - a);
    int32_t id = ids[0];
    for (uint32_t i = 0; i < n_gen; i++)
        if ((rc = fy_llm_eval(m, &id, 1, logits, d)))
            goto done;
    double c = fy__llm_now();
    p.gen_tokens_per_s = n_gen ? n_gen / (c - b) : 0;
    *out = p;
done:
    fy__free(ids);
    fy__free(logits);
    return rc;
}
