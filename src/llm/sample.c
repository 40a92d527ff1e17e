/* SPDX-License-Identifier: MIT */
/* Sampling (repetition penalty, top-k, temperature, top-p; greedy at temperature 0) and
 * the seeded PRNG: xoshiro256** (Blackman and Vigna) seeded through splitmix64. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/llm_int.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void fy_rng_seed(fy_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t fy_rng_next(fy_rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double fy_rng_uniform(fy_rng *r)
{
    return (double)(fy_rng_next(r) >> 11) * 0x1.0p-53;
}

static int cmp_cand(const void *a, const void *b)
{
    const fy_llm_cand *x = a, *y = b;
    if (x->p != y->p)
        return x->p < y->p ? 1 : -1;
    return x->id - y->id; /* lower id first on ties: deterministic order */
}

int32_t fy_sample(const fy_sampler_opts *o, fy_rng *rng, float *logits, uint32_t vocab,
                  const int32_t *recent, size_t n_recent, fy_llm_cand *c)
{
    /* repetition penalty as in CTRL / llama.cpp: divide positive logits, multiply
     * negative ones, once per distinct recent id */
    if (o->repeat_penalty > 0 && o->repeat_penalty != 1.0f) {
        size_t win = o->repeat_last_n > 0 ? (size_t)o->repeat_last_n : 64;
        size_t from = n_recent > win ? n_recent - win : 0;
        for (size_t i = from; i < n_recent; i++) {
            int32_t id = recent[i];
            if (id < 0 || (uint32_t)id >= vocab)
                continue;
            int seen = 0;
            for (size_t j = from; j < i && !seen; j++)
                seen = recent[j] == id;
            if (seen)
                continue;
            logits[id] =
                logits[id] > 0 ? logits[id] / o->repeat_penalty : logits[id] * o->repeat_penalty;
        }
    }
    if (!(o->temperature > 0)) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < vocab; i++)
            if (logits[i] > logits[best])
                best = i;
        return (int32_t)best;
    }
    for (uint32_t i = 0; i < vocab; i++)
        c[i] = (fy_llm_cand){(int32_t)i, logits[i]};
    size_t n = vocab;
    qsort(c, n, sizeof *c, cmp_cand);
    if (o->top_k > 0 && (size_t)o->top_k < n)
        n = (size_t)o->top_k;
    float mx = c[0].p;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].p = expf((c[i].p - mx) / o->temperature);
        sum += c[i].p;
    }
    for (size_t i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
    if (o->top_p > 0 && o->top_p < 1) {
        double acc = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; i++) {
            acc += c[i].p;
            if (acc >= o->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        sum = acc < 1 ? acc : 1;
        double s2 = 0;
        for (size_t i = 0; i < n; i++)
            s2 += c[i].p;
        sum = s2;
    } else {
        sum = 1;
    }
    double r = fy_rng_uniform(rng) * sum, acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc)
            return c[i].id;
    }
    return c[n - 1].id;
}
