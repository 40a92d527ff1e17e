/* SPDX-License-Identifier: MIT */
/* SGEMM against a plain double-precision product: random shapes with odd sizes
 * and tails, transposed operands, packed A and B, every epilogue, every ISA level
 * this CPU has, on 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>

#include "core/pool.h"
#include "ops/fast/fast.h"
#include "ops/fast/fast_int.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}
static int64_t irand(int64_t lo, int64_t hi)
{
    return lo + (int64_t)((frand() + 1) / 2 * (hi - lo + 1)) % (hi - lo + 1);
}

static float act_ref(float v, const fy__epilogue *ep)
{
    switch (ep->act) {
    case FY_ACT_RELU: return v > 0 ? v : 0;
    case FY_ACT_LEAKY_RELU: return v < 0 ? ep->alpha * v : v;
    case FY_ACT_CLIP: return fminf(fmaxf(v, ep->alpha), ep->beta);
    case FY_ACT_SIGMOID: return (float)(1 / (1 + exp(-(double)v)));
    case FY_ACT_TANH: return (float)tanh(v);
    case FY_ACT_GELU_ERF: return (float)(0.5 * v * (1 + erf(v / sqrt(2.0))));
    case FY_ACT_GELU_TANH:
        return (float)(0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * (double)v * v * v))));
    default: return v;
    }
}

/* Max |got - want| / (1 + |want|) over C. */
static double check(int64_t M, int64_t N, int64_t K, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, const float *c, int64_t ldc,
                    const fy__epilogue *ep)
{
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)a[i * rsa + k * csa] * b[k * rsb + j * csb];
            if (ep->bias)
                s += ep->bias[ep->per_col ? j : i];
            if (ep->residual)
                s += ep->residual[i * ep->ldr + j];
            double want = act_ref((float)s, ep), got = c[i * ldc + j];
            double e = fabs(got - want) / (1 + fabs(want));
            if (!(e <= worst)) /* NaN counts as worst */
                worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

static float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

/* One random case in every mode; returns the worst error. */
static double one_case(fy_pool *pool, int64_t M, int64_t N, int64_t K, int ta, int tb, int epi)
{
    float *a = rand_buf(M * K), *b = rand_buf(K * N), *bias = rand_buf(M > N ? M : N);
    int64_t ldc = N + 3;
    float *c = rand_buf(M * ldc), *res = rand_buf(M * N);
    int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;
    fy__epilogue ep = {0};
    if (epi) {
        ep.bias = epi & 1 ? bias : NULL;
        ep.per_col = (epi >> 1) & 1;
        ep.residual = epi & 4 ? res : NULL;
        ep.ldr = N;
        ep.act = (fy__act)(epi % 8);
        ep.alpha = ep.act == FY_ACT_CLIP ? -0.5f : 0.1f;
        ep.beta = 0.7f;
    }
    double worst = 0, e;
    fy__sgemm(pool, M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, &ep);
    e = check(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, &ep);
    worst = e > worst ? e : worst;
    fy__packed *pa = NULL, *pb = NULL;
    if (fy__pack_a(&pa, M, K, a, rsa, csa) == FY_OK) {
        fy__sgemm_pa(pool, pa, N, b, rsb, csb, c, ldc, &ep);
        e = check(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, &ep);
        worst = e > worst ? e : worst;
    } else {
        worst = INFINITY;
    }
    if (fy__pack_b(&pb, K, N, b, rsb, csb) == FY_OK) {
        fy__sgemm_pb(pool, M, a, rsa, csa, pb, c, ldc, &ep);
        e = check(M, N, K, a, rsa, csa, b, rsb, csb, c, ldc, &ep);
        worst = e > worst ? e : worst;
    } else {
        worst = INFINITY;
    }
    fy__packed_free(pa);
    fy__packed_free(pb);
    free(a);
    free(b);
    free(bias);
    free(c);
    free(res);
    return worst;
}

TEST(random_shapes_every_isa_and_thread_count)
{
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        FY_CHECK_EQ(fy__isa_active(), isa);
        double worst = 0;
        for (int t = 0; t < 60; t++) {
            int64_t M = irand(1, t % 3 ? 40 : 230), N = irand(1, t % 4 ? 70 : 300),
                    K = irand(0, t % 5 ? 50 : 600);
            double e = one_case(t % 2 ? pool : NULL, M, N, K, t % 3 == 1, t % 5 == 2, t % 16);
            if (!(e <= 1e-4))
                fprintf(stderr, "isa %d case %d: %lldx%lldx%lld err %g\n", isa, t, (long long)M,
                        (long long)N, (long long)K, e);
            worst = e > worst || isnan(e) ? e : worst;
        }
        FY_CHECK(worst <= 1e-4);
    }
    fy__isa_force(-1);
    fy_pool_free(pool);
}

/* Packing A into panels of mrp rows (vectorized four rows by eight k for unit
 * column strides) is a pure copy: every ISA gives exactly the panel defined by
 * dst[p * kc * mrp + k * mrp + i] = A[p * mrp + i, k], zero past the last row. */
TEST(packing_a_is_an_exact_copy_at_every_isa)
{
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        for (int t = 0; t < 40; t++) {
            int mrp = t % 3 == 0 ? 12 : t % 3 == 1 ? 6 : 4;
            int64_t m = irand(1, 40), kc = irand(1, 300), pad = irand(0, 5);
            int trans = t % 7 == 3;
            int64_t rsa = trans ? 1 : kc + pad, csa = trans ? m : 1;
            float *a = rand_buf(trans ? kc * m : m * rsa);
            int64_t panels = (m + mrp - 1) / mrp;
            float *d = malloc((size_t)(panels * mrp * kc) * sizeof *d);
            fy__pack_a_block(d, mrp, a, rsa, csa, m, kc);
            int64_t bad = 0;
            for (int64_t p = 0; p < panels; p++)
                for (int64_t k = 0; k < kc; k++)
                    for (int i = 0; i < mrp; i++) {
                        int64_t r = p * mrp + i;
                        float want = r < m ? a[r * rsa + k * csa] : 0.0f;
                        bad += d[p * kc * mrp + k * mrp + i] != want;
                    }
            if (bad)
                fprintf(stderr, "isa %d: m %lld kc %lld mrp %d: %lld wrong\n", isa, (long long)m,
                        (long long)kc, mrp, (long long)bad);
            FY_CHECK_EQ(bad, 0);
            free(a);
            free(d);
        }
    }
    fy__isa_force(-1);
}

TEST(exact_block_boundaries)
{
    /* Sizes on and around the cache blocks and microtiles. */
    const int64_t sizes[] = {1, 11, 12, 13, 31, 32, 33, 95, 96, 97, 128, 129, 255, 256, 257};
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    double worst = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t s = sizes[i];
        double e = one_case(pool, s, sizes[(i + 3) % 15], sizes[(i + 7) % 15], 0, 0, (int)i);
        worst = e > worst || isnan(e) ? e : worst;
        (void)s;
    }
    FY_CHECK(worst <= 1e-4);
    fy_pool_free(pool);
}

TEST(activations_match_double_precision)
{
    enum { N = 4003 };
    static float x[N], y[N];
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        for (int act = FY_ACT_RELU; act <= FY_ACT_GELU_TANH; act++) {
            fy__epilogue ep = {0};
            ep.act = (fy__act)act;
            ep.alpha = act == FY_ACT_CLIP ? -0.5f : 0.1f;
            ep.beta = 0.7f;
            for (int i = 0; i < N; i++) /* -20..20, dense near 0, and far out */
                x[i] = i % 3 == 0   ? (float)(i - N / 2) * 0.01f
                       : i % 3 == 1 ? (float)(i - N / 2) * 1e-5f
                                    : (float)(i - N / 2) * 0.06f;
            memcpy(y, x, sizeof y);
            fy__act_apply(y, N - isa, &ep); /* odd lengths: the tail path */
            double worst = 0;
            for (int i = 0; i < N - isa; i++) {
                /* within 1e-4 relative, or 1e-6 absolute where float cancels
                 * (1 + erf(x) for x far below 0) */
                double want = act_ref(x[i], &ep),
                       e = fabs(y[i] - want) / (1e-6 + 1e-4 * fabs(want)) * 1e-4;
                worst = e > worst || isnan(e) ? e : worst;
            }
            if (!(worst <= 1e-4))
                fprintf(stderr, "isa %d act %d: worst relative error %g\n", isa, act, worst);
            FY_CHECK(worst <= 1e-4);
        }
    }
    fy__isa_force(-1);
}

int main(void)
{
    RUN(random_shapes_every_isa_and_thread_count);
    RUN(packing_a_is_an_exact_copy_at_every_isa);
    RUN(exact_block_boundaries);
    RUN(activations_match_double_precision);
    return TEST_SUMMARY();
}
