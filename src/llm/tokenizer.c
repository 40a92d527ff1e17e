/* SPDX-License-Identifier: MIT */
/* SentencePiece-style BPE over a GGUF vocabulary (tokenizer.ggml.model = llama): spaces
 * become U+2581 with one added in front, the text starts as single UTF-8 characters, and
 * the adjacent pair whose concatenation is a piece with the highest score is merged
 * until none is left; characters with no piece fall back to <0xNN> byte tokens. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "llm/llm_int.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */
#define TOKEN_MAX_BYTES 1024u     /* longer vocabulary entries are refused */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t fy__llm_vocab_find(const llm_vocab *v, const char *s, size_t len)
{
    uint32_t mask = v->n_slots - 1;
    for (uint32_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
        int32_t id = v->slots[i];
        if (id < 0)
            return -1;
        if (v->tok[id].len == len && memcmp(v->tok[id].ptr, s, len) == 0)
            return id;
    }
}

void fy__llm_vocab_deinit(llm_vocab *v)
{
    if (!v)
        return;
    fy__free(v->score);
    fy__free(v->type);
    fy__free(v->slots);
    memset(v, 0, sizeof *v);
}

static int opt_id(const fy_gguf *g, const char *key, int32_t def, uint32_t n, int32_t *out,
                  fy_diag *d)
{
    uint64_t x;
    int rc = fy_gguf_get_uint(g, key, &x, d);
    if (rc == FY_ENOTFOUND) {
        *out = def < (int32_t)n ? def : -1;
        return FY_OK;
    }
    if (rc)
        return rc;
    if (x >= n)
        return fy__diag_set(d, FY_EINVAL, "gguf: %s = %llu is outside the %u-token vocabulary", key,
                            (unsigned long long)x, n);
    *out = (int32_t)x;
    return FY_OK;
}

static int opt_bool(const fy_gguf *g, const char *key, int def)
{
    const fy_gguf_value *v = fy_gguf_find(g, key);
    return v && v->type == FY_GGUF_BOOL ? v->u != 0 : def;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

int fy__llm_vocab_load(llm_vocab *v, const fy_gguf *g, fy_diag *d)
{
    int rc;
    memset(v, 0, sizeof *v);
    fy_gguf_str model;
    if ((rc = fy_gguf_get_str(g, "tokenizer.ggml.model", &model, d)) != FY_OK)
        return rc == FY_ENOTFOUND
                   ? fy__diag_set(d, FY_EPARSE, "gguf: no tokenizer (tokenizer.ggml.model)")
                   : rc;
    if (!(model.len == 5 && memcmp(model.ptr, "llama", 5) == 0))
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "gguf: tokenizer.ggml.model '%.*s' is not supported (only 'llama', "
                            "SentencePiece BPE)",
                            (int)(model.len > 40 ? 40 : model.len), model.ptr);
    const fy_gguf_value *tv = fy_gguf_find(g, "tokenizer.ggml.tokens");
    if (!tv || tv->type != FY_GGUF_ARRAY || tv->elem_type != FY_GGUF_STRING || !tv->count)
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: tokenizer.ggml.tokens missing or not a "
                            "non-empty array of strings");
    if (tv->count > (1u << 24))
        return fy__diag_set(d, FY_ELIMIT, "gguf: %llu tokens, above the limit %u",
                            (unsigned long long)tv->count, 1u << 24);
    v->n = (uint32_t)tv->count;
    v->tok = tv->strs;
    const fy_gguf_value *sv = fy_gguf_find(g, "tokenizer.ggml.scores");
    const fy_gguf_value *yv = fy_gguf_find(g, "tokenizer.ggml.token_type");
    if (sv && (sv->type != FY_GGUF_ARRAY || sv->count != v->n || sv->elem_type == FY_GGUF_STRING))
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: tokenizer.ggml.scores must be %u numbers (one per token)", v->n);
    if (yv && (yv->type != FY_GGUF_ARRAY || yv->count != v->n || yv->elem_type == FY_GGUF_STRING))
        return fy__diag_set(d, FY_EPARSE,
                            "gguf: tokenizer.ggml.token_type must be %u numbers (one per token)",
                            v->n);
    v->n_slots = 1;
    while (v->n_slots < 2 * v->n)
        v->n_slots <<= 1;
    v->score = fy__calloc(v->n, sizeof *v->score);
    v->type = fy__calloc(v->n, 1);
    v->slots = fy__malloc((size_t)v->n_slots * sizeof *v->slots);
    if (!v->score || !v->type || !v->slots) {
        fy__llm_vocab_deinit(v);
        return fy__diag_set(d, FY_ENOMEM, "tokenizer: out of memory for %u tokens", v->n);
    }
    memset(v->slots, 0xff, (size_t)v->n_slots * sizeof *v->slots);
    for (int i = 0; i < 256; i++)
        v->byte_id[i] = -1;
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->tok[i].len > TOKEN_MAX_BYTES) {
            fy__llm_vocab_deinit(v);
            return fy__diag_set(d, FY_ELIMIT, "gguf: token %u is %llu bytes long (limit %u)", i,
                                (unsigned long long)v->tok[i].len, TOKEN_MAX_BYTES);
        }
        v->score[i] = sv ? (float)fy_gguf_array_num(sv, i) : 0.0f;
        double ty = yv ? fy_gguf_array_num(yv, i) : 1;
        v->type[i] = (ty >= 0 && ty <= 6) ? (uint8_t)ty : 1;
        /* first occurrence wins for duplicated pieces */
        if (fy__llm_vocab_find(v, v->tok[i].ptr, (size_t)v->tok[i].len) < 0) {
            uint32_t mask = v->n_slots - 1, h = hash_bytes(v->tok[i].ptr, (size_t)v->tok[i].len);
            while (v->slots[h & mask] >= 0)
                h++;
            v->slots[h & mask] = (int32_t)i;
        }
        /* "<0xNN>" with exactly two hex digits (sscanf's %x would take a sign) */
        int hi, lo;
        if (v->tok[i].len == 6 && memcmp(v->tok[i].ptr, "<0x", 3) == 0 && v->tok[i].ptr[5] == '>' &&
            (hi = hexval(v->tok[i].ptr[3])) >= 0 && (lo = hexval(v->tok[i].ptr[4])) >= 0 &&
            v->byte_id[hi * 16 + lo] < 0) {
            v->byte_id[hi * 16 + lo] = (int32_t)i;
            v->type[i] = 6;
        }
    }
    if ((rc = opt_id(g, "tokenizer.ggml.bos_token_id", 1, v->n, &v->bos, d)) ||
        (rc = opt_id(g, "tokenizer.ggml.eos_token_id", 2, v->n, &v->eos, d)) ||
        (rc = opt_id(g, "tokenizer.ggml.eot_token_id", -1, v->n, &v->eot, d)) ||
        (rc = opt_id(g, "tokenizer.ggml.unknown_token_id", 0, v->n, &v->unk, d))) {
        fy__llm_vocab_deinit(v);
        return rc;
    }
    v->add_bos = opt_bool(g, "tokenizer.ggml.add_bos_token", 1);
    v->add_space_prefix = opt_bool(g, "tokenizer.ggml.add_space_prefix", 1);
    return FY_OK;
}

/* One symbol of the text being merged: a byte range in the normalized text and links. */
typedef struct sym {
    uint32_t start, len;
    int32_t prev, next;
} sym;

static size_t utf8_len(uint8_t c)
{
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
}

/* Score of merging symbol i with its successor, or -inf when no piece matches. */
static float pair_score(const llm_vocab *v, const char *t, const sym *s, int32_t i)
{
    int32_t j = s[i].next;
    if (j < 0)
        return -1e30f;
    int32_t id = fy__llm_vocab_find(v, t + s[i].start, s[i].len + s[j].len);
    if (id < 0 || v->type[id] == 3 || v->type[id] == 6)
        return -1e30f;
    return v->score[id];
}

static int push(int32_t *ids, size_t cap, size_t *n, int32_t id)
{
    if (*n >= cap)
        return FY_ELIMIT;
    ids[(*n)++] = id;
    return FY_OK;
}

/* Plain-text segment: normalize, split, merge, emit. */
static int encode_plain(const llm_vocab *v, const char *text, size_t len, int prefix, int32_t *ids,
                        size_t cap, size_t *n)
{
    if (len == 0)
        return FY_OK;
    if (len > (SIZE_MAX / 4) - 8)
        return FY_ELIMIT;
    size_t tl = 0, cap_t = len * 3 + 3;
    char *t = fy__malloc(cap_t);
    sym *s = fy__malloc((cap_t) * sizeof *s);
    float *sc = fy__malloc((cap_t) * sizeof *sc);
    int rc = FY_ENOMEM;
    if (!t || !s || !sc)
        goto done;
    if (prefix) {
        memcpy(t, SPACE_MARK, 3);
        tl = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t + tl, SPACE_MARK, 3);
            tl += 3;
        } else {
            t[tl++] = text[i];
        }
    }
    int32_t ns = 0;
    for (size_t i = 0; i < tl;) {
        size_t l = utf8_len((uint8_t)t[i]);
        if (l > tl - i)
            l = tl - i;
        s[ns] = (sym){(uint32_t)i, (uint32_t)l, ns - 1, -1};
        if (ns > 0)
            s[ns - 1].next = ns;
        ns++;
        i += l;
    }
    for (int32_t i = 0; i < ns; i++)
        sc[i] = pair_score(v, t, s, i);
    int32_t head = 0;
    for (;;) {
        int32_t best = -1;
        float bs = -1e30f;
        for (int32_t i = head; i >= 0; i = s[i].next)
            if (sc[i] > bs) { /* strict: ties go to the leftmost pair */
                bs = sc[i];
                best = i;
            }
        if (best < 0)
            break;
        int32_t j = s[best].next;
        s[best].len += s[j].len;
        s[best].next = s[j].next;
        if (s[j].next >= 0)
            s[s[j].next].prev = best;
        sc[best] = pair_score(v, t, s, best);
        if (s[best].prev >= 0)
            sc[s[best].prev] = pair_score(v, t, s, s[best].prev);
    }
    rc = FY_OK;
    for (int32_t i = head; i >= 0 && rc == FY_OK; i = s[i].next) {
        int32_t id = fy__llm_vocab_find(v, t + s[i].start, s[i].len);
        if (id >= 0) {
            rc = push(ids, cap, n, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].len && rc == FY_OK; k++) {
            int32_t b = v->byte_id[(uint8_t)t[s[i].start + k]];
            rc = push(ids, cap, n, b >= 0 ? b : v->unk);
        }
    }
done:
    fy__free(t);
    fy__free(s);
    fy__free(sc);
    return rc;
}

int fy__llm_vocab_encode(const llm_vocab *v, const char *text, size_t len, int special,
                         int32_t *ids, size_t cap, size_t *n)
{
    if (!special)
        return encode_plain(v, text, len, v->add_space_prefix, ids, cap, n);
    /* split at the longest control/user-defined piece found at each position */
    size_t seg = 0, i = 0;
    int first = 1, rc;
    while (i < len) {
        int32_t hit = -1;
        uint64_t hl = 0;
        if (text[i] == '<' || text[i] == '[') {
            for (uint32_t k = 0; k < v->n; k++) {
                if ((v->type[k] != 3 && v->type[k] != 4) || v->tok[k].len < 2 ||
                    v->tok[k].len > len - i || v->tok[k].len <= hl)
                    continue;
                if (memcmp(text + i, v->tok[k].ptr, (size_t)v->tok[k].len) == 0) {
                    hit = (int32_t)k;
                    hl = v->tok[k].len;
                }
            }
        }
        if (hit < 0) {
            i++;
            continue;
        }
        if (i > seg &&
            (rc = encode_plain(v, text + seg, i - seg, first && v->add_space_prefix, ids, cap, n)))
            return rc;
        if ((rc = push(ids, cap, n, hit)) != FY_OK)
            return rc;
        first = 0;
        i += (size_t)hl;
        seg = i;
    }
    return encode_plain(v, text + seg, len - seg, first && v->add_space_prefix, ids, cap, n);
}

size_t fy__llm_vocab_piece(const llm_vocab *v, int32_t id, char *buf, size_t cap)
{
    if (id < 0 || (uint32_t)id >= v->n || cap == 0)
        return 0;
    uint8_t ty = v->type[id];
    if (ty == 3 || ty == 5)
        return 0;
    const fy_gguf_str *p = &v->tok[id];
    if (ty == 6) {
        for (int b = 0; b < 256; b++)
            if (v->byte_id[b] == id) {
                buf[0] = (char)b;
                return 1;
            }
        return 0;
    }
    size_t o = 0;
    for (size_t i = 0; i < p->len && o < cap;) {
        if (p->len - i >= 3 && memcmp(p->ptr + i, SPACE_MARK, 3) == 0) {
            buf[o++] = ' ';
            i += 3;
        } else {
            buf[o++] = p->ptr[i++];
        }
    }
    return o;
}
