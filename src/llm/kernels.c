/* SPDX-License-Identifier: MIT */
/* Weight-format kernels for the decoder: the scalar reference (the oracle the AVX2 and
 * AVX-512 versions in kernels_x86.c are tested against), quantization of activations to
 * Q8_0 blocks, dequantization, and the runtime choice between them. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "ferry/tensor.h"
#include "llm/llm_int.h"

float fy__llm_dot_q8_0_avx2(size_t n, const blk_q8_0 *w, const blk_q8_0 *x);
float fy__llm_dot_q8_0_avx512(size_t n, const blk_q8_0 *w, const blk_q8_0 *x);
float fy__llm_dot_q4_0_avx2(size_t n, const blk_q4_0 *w, const blk_q8_0 *x);
float fy__llm_dot_q4_0_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x);
float fy__llm_dot_f32_avx2(size_t n, const float *w, const float *x);
float fy__llm_dot_f32_avx512(size_t n, const float *w, const float *x);
float fy__llm_dot_f16_avx2(size_t n, const uint16_t *w, const float *x);
void fy__llm_dot4_q8_0_avx512(size_t n, const blk_q8_0 *w, const blk_q8_0 *x, const float *xd,
                              size_t xs, float *out);
void fy__llm_dot4_q4_0_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x, const float *xd,
                              size_t xs, float *out);
void fy__llm_dot4_f32_avx512(size_t n, const float *w, const float *x, size_t xs, float *out);
void fy__llm_swiglu_avx512(size_t n, float *g, const float *u);
float fy__llm_dot_q4_0u_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x, const float *xd,
                               const int32_t *xc);
void fy__llm_dot4_q4_0u_avx512(size_t n, const blk_q4_0 *w, const blk_q8_0 *x, const float *xd,
                               const int32_t *xc, size_t xs, float *out);

double fy__llm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

llm_isa fy__llm_detect_isa(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* F16C is not checked (clang's builtin does not know the name): every CPU with AVX2
     * and FMA has it */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return LLM_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LLM_ISA_AVX2;
#endif
    return LLM_ISA_SCALAR;
}

int fy__llm_has_vnni(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#elif defined(__x86_64__) && defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

const char *fy__llm_isa_name(llm_isa isa)
{
    return isa == LLM_ISA_AVX512 ? "avx512" : isa == LLM_ISA_AVX2 ? "avx2" : "scalar";
}

static void quantize_ref(const float *x, blk_q8_0 *y, size_t n)
{
    for (size_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        float amax = 0;
        for (int i = 0; i < QK; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        y[b].d = fy_f32_to_f16(d);
        for (int i = 0; i < QK; i++)
            y[b].qs[i] = (int8_t)roundf(xb[i] * id);
    }
}

void fy__llm_quantize_q8_0_avx512(const float *x, blk_q8_0 *y, size_t n);
void fy__llm_axpy_avx512(size_t n, float a, const float *x, float *y);

void fy__llm_axpy(llm_isa isa, size_t n, float a, const float *x, float *y)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_axpy_avx512(n, a, x, y);
        return;
    }
#endif
    (void)isa;
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void fy__llm_quantize_q8_0_isa(llm_isa isa, const float *x, blk_q8_0 *y, size_t n)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_quantize_q8_0_avx512(x, y, n);
        return;
    }
#endif
    (void)isa;
    quantize_ref(x, y, n);
}

void fy__llm_quantize_q8_0(const float *x, blk_q8_0 *y, size_t n)
{
    /* one definition of the rounding for every ISA keeps the oracle and the fast paths
     * on identical activations */
    quantize_ref(x, y, n);
}

void fy__llm_dequant_row(uint32_t type, const void *row, float *y, size_t n)
{
    switch (type) {
    case FY_GGML_F32: memcpy(y, row, n * sizeof(float)); break;
    case FY_GGML_F16: {
        const uint16_t *h = row;
        for (size_t i = 0; i < n; i++)
            y[i] = fy_f16_to_f32(h[i]);
        break;
    }
    case FY_GGML_Q8_0: {
        const blk_q8_0 *b = row;
        for (size_t k = 0; k < n / QK; k++) {
            float d = fy_f16_to_f32(b[k].d);
            for (int i = 0; i < QK; i++)
                y[k * QK + i] = b[k].qs[i] * d;
        }
        break;
    }
    case FY_GGML_Q4_0: {
        const blk_q4_0 *b = row;
        for (size_t k = 0; k < n / QK; k++) {
            float d = fy_f16_to_f32(b[k].d);
            for (int i = 0; i < QK / 2; i++) {
                y[k * QK + i] = ((int)(b[k].qs[i] & 0x0f) - 8) * d;
                y[k * QK + i + QK / 2] = ((int)(b[k].qs[i] >> 4) - 8) * d;
            }
        }
        break;
    }
    default: memset(y, 0, n * sizeof(float)); break;
    }
}

static float dot_q8_0_ref(size_t n, const blk_q8_0 *w, const blk_q8_0 *x)
{
    float sum = 0;
    for (size_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int i = 0; i < QK; i++)
            s += w[b].qs[i] * x[b].qs[i];
        sum += (float)s * (fy_f16_to_f32(w[b].d) * fy_f16_to_f32(x[b].d));
    }
    return sum;
}

static float dot_q4_0_ref(size_t n, const blk_q4_0 *w, const blk_q8_0 *x)
{
    float sum = 0;
    for (size_t b = 0; b < n / QK; b++) {
        int s = 0;
        for (int i = 0; i < QK / 2; i++) {
            s += ((int)(w[b].qs[i] & 0x0f) - 8) * x[b].qs[i];
            s += ((int)(w[b].qs[i] >> 4) - 8) * x[b].qs[i + QK / 2];
        }
        sum += (float)s * (fy_f16_to_f32(w[b].d) * fy_f16_to_f32(x[b].d));
    }
    return sum;
}

static float dot_f32_ref(size_t n, const float *w, const float *x)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += w[i] * x[i];
    return s;
}

static float dot_f16_ref(size_t n, const uint16_t *w, const float *x)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += fy_f16_to_f32(w[i]) * x[i];
    return s;
}

float fy__llm_dot_q8_0(llm_isa isa, size_t n, const blk_q8_0 *w, const blk_q8_0 *x)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512)
        return fy__llm_dot_q8_0_avx512(n, w, x);
    if (isa == LLM_ISA_AVX2)
        return fy__llm_dot_q8_0_avx2(n, w, x);
#endif
    (void)isa;
    return dot_q8_0_ref(n, w, x);
}
float fy__llm_dot_q4_0(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512)
        return fy__llm_dot_q4_0_avx512(n, w, x);
    if (isa == LLM_ISA_AVX2)
        return fy__llm_dot_q4_0_avx2(n, w, x);
#endif
    (void)isa;
    return dot_q4_0_ref(n, w, x);
}
float fy__llm_dot_f32(llm_isa isa, size_t n, const float *w, const float *x)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512)
        return fy__llm_dot_f32_avx512(n, w, x);
    if (isa == LLM_ISA_AVX2)
        return fy__llm_dot_f32_avx2(n, w, x);
#endif
    (void)isa;
    return dot_f32_ref(n, w, x);
}
float fy__llm_dot_f16(llm_isa isa, size_t n, const uint16_t *w, const float *x)
{
#ifdef __x86_64__
    if (isa != LLM_ISA_SCALAR)
        return fy__llm_dot_f16_avx2(n, w, x);
#endif
    (void)isa;
    return dot_f16_ref(n, w, x);
}

void fy__llm_dot4_q8_0(llm_isa isa, size_t n, const blk_q8_0 *w, const blk_q8_0 *x, const float *xd,
                       size_t xs, float *out)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_dot4_q8_0_avx512(n, w, x, xd, xs, out);
        return;
    }
#endif
    (void)xd;
    for (int t = 0; t < 4; t++)
        out[t] = fy__llm_dot_q8_0(isa, n, w, x + t * xs);
}

void fy__llm_dot4_q4_0(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x, const float *xd,
                       size_t xs, float *out)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_dot4_q4_0_avx512(n, w, x, xd, xs, out);
        return;
    }
#endif
    (void)xd;
    for (int t = 0; t < 4; t++)
        out[t] = fy__llm_dot_q4_0(isa, n, w, x + t * xs);
}

void fy__llm_dot4_f32(llm_isa isa, size_t n, const float *w, const float *x, size_t xs, float *out)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_dot4_f32_avx512(n, w, x, xs, out);
        return;
    }
#endif
    for (int t = 0; t < 4; t++)
        out[t] = fy__llm_dot_f32(isa, n, w, x + t * xs);
}

void fy__llm_q8_scales(const blk_q8_0 *x, float *xd, size_t nblocks)
{
    for (size_t b = 0; b < nblocks; b++)
        xd[b] = fy_f16_to_f32(x[b].d);
}

void fy__llm_q4_corr(const blk_q8_0 *x, int32_t *xc, size_t nblocks)
{
    for (size_t b = 0; b < nblocks; b++) {
        int sum = 0;
        for (int i = 0; i < QK; i++)
            sum += x[b].qs[i];
        xc[b] = 8 * sum;
    }
}

float fy__llm_dot_q4_0x(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                        const float *xd, const int32_t *xc)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512)
        return fy__llm_dot_q4_0u_avx512(n, w, x, xd, xc);
#endif
    (void)xd, (void)xc;
    return fy__llm_dot_q4_0(isa, n, w, x);
}

void fy__llm_dot4_q4_0x(llm_isa isa, size_t n, const blk_q4_0 *w, const blk_q8_0 *x,
                        const float *xd, const int32_t *xc, size_t xs, float *out)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_dot4_q4_0u_avx512(n, w, x, xd, xc, xs, out);
        return;
    }
#endif
    (void)xc;
    fy__llm_dot4_q4_0(isa, n, w, x, xd, xs, out);
}

size_t fy__llm_pk_bytes(int q4, size_t n_in, size_t n_out)
{
    return (n_out + PK_ROWS - 1) / PK_ROWS * (n_in / QK) * (q4 ? PK_Q4_BLOCK : PK_Q8_BLOCK);
}

void fy__llm_pack_q(int q4, size_t n_in, size_t n_out, const uint8_t *w, size_t rb, size_t g0,
                    size_t g1, uint8_t *dst)
{
    size_t nb = n_in / QK, bs = q4 ? PK_Q4_BLOCK : PK_Q8_BLOCK, bb = q4 ? 18 : 34;
    int nj = q4 ? 4 : 8;
    uint32_t flip = q4 ? 0 : 0x80808080u; /* Q8_0: q + 128 as an unsigned byte */
    for (size_t g = g0; g < g1; g++) {
        uint8_t *gp = dst + g * nb * bs;
        /* row by row: each source row is read once, front to back */
        for (size_t r = 0; r < PK_ROWS; r++) {
            size_t row = g * PK_ROWS + r;
            if (row >= n_out) { /* padding rows: zero quants and scale */
                for (size_t b = 0; b < nb; b++) {
                    for (int j = 0; j < nj; j++)
                        memset(gp + b * bs + j * 64 + r * 4, 0, 4);
                    memset(gp + b * bs + nj * 64 + r * 2, 0, 2);
                }
                continue;
            }
            const uint8_t *src = w + row * rb;
            for (size_t b = 0; b < nb; b++) {
                /* the block's fp16 scale is its first two bytes, the quants follow */
                const uint8_t *blk = src + b * bb;
                uint8_t *o = gp + b * bs;
                for (int j = 0; j < nj; j++) {
                    uint32_t v;
                    memcpy(&v, blk + 2 + j * 4, 4);
                    v ^= flip;
                    memcpy(o + j * 64 + r * 4, &v, 4);
                }
                memcpy(o + nj * 64 + r * 2, blk, 2);
            }
        }
    }
}

void fy__llm_q_init(int q4, const blk_q8_0 *x, int32_t *xi, size_t nblocks)
{
    int32_t off = q4 ? 8 : 128;
    for (size_t b = 0; b < nblocks; b++) {
        int32_t sum = 0;
        for (int i = 0; i < QK; i++)
            sum += x[b].qs[i];
        xi[b] = -off * sum;
    }
}

void fy__llm_pk_dequant_row(int q4, size_t n_in, const uint8_t *wp, size_t row, float *y)
{
    size_t nb = n_in / QK, bs = q4 ? PK_Q4_BLOCK : PK_Q8_BLOCK, lane = row % PK_ROWS;
    int nj = q4 ? 4 : 8;
    const uint8_t *gp = wp + row / PK_ROWS * nb * bs;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *o = gp + b * bs;
        uint16_t h;
        memcpy(&h, o + nj * 64 + lane * 2, 2);
        float d = fy_f16_to_f32(h);
        float *yb = y + b * QK;
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < 4; i++) {
                uint8_t q = o[j * 64 + lane * 4 + (size_t)i];
                if (q4) {
                    yb[j * 4 + i] = (float)((q & 0x0f) - 8) * d;
                    yb[16 + j * 4 + i] = (float)((q >> 4) - 8) * d;
                } else {
                    yb[j * 4 + i] = (float)(int8_t)(q ^ 0x80) * d;
                }
            }
    }
}

void fy__llm_swiglu(llm_isa isa, size_t n, float *g, const float *u)
{
#ifdef __x86_64__
    if (isa == LLM_ISA_AVX512) {
        fy__llm_swiglu_avx512(n, g, u);
        return;
    }
#endif
    (void)isa;
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
