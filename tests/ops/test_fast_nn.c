/* SPDX-License-Identifier: MIT */
/* Fast Conv, Gemm and MatMul against their reference kernels on random shapes and
 * attributes: weights constant (packed by prepare) or not, every ISA level, 1 and
 * 2 threads; and cases the fast path hands back must fail or succeed exactly like
 * the reference. */
#include <math.h>
#include <stdlib.h>

#include "core/pool.h"
#include "ops/fast/fast.h"
#include "ops/fast/fast_ops.h"
#include "ops/fused.h"
#include "ops/kernel_harness.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t irand(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1));
}

static fy_tensor rand_f32(int rank, const int64_t *dims)
{
    fy_tensor t = kh_alloc(FY_DTYPE_F32, rank, dims, NULL);
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        ((float *)t.data)[i] = (float)((next_u64() >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
    return t;
}

/* Trials the fast kernel itself completed (not every random case is valid). */
static int fast_runs;

/* Set by trials of algorithms whose rounding error grows with the magnitude of the
 * terms rather than of each result (Winograd's transforms): the error is then
 * taken relative to the output's scale, 1 + max |ref|, not to 1 + |ref|. */
static int tol_by_scale;

typedef struct outcome {
    int same;     /* same return code, shape, and values within tolerance */
    int fast_ok;  /* the fast kernel succeeded */
    double worst; /* max |fast - ref| / (1 + |ref|) */
} outcome;

/* Run node k with the fast kernel (inputs in const_mask given to prepare as
 * constants) and with the reference kernel, and compare. */
static outcome fast_vs_ref(kh_node *k, int n_in, const fy_tensor *const *in, unsigned const_mask,
                           fy_pool *pool)
{
    outcome o = {0, 0, 0};
    const fy__op_def *fd = fy__op_find(k->node.domain, k->node.op_type),
                     *rd = fy__op_find_ref(k->node.domain, k->node.op_type);
    const fy__op_fast *ff = fy__op_fast_of(fd);
    if (!ff || !rd || fd == rd)
        return o;
    const fy_tensor *consts[16] = {0};
    const fy__value_info *infos[16] = {0};
    for (int i = 0; i < n_in; i++)
        consts[i] = (const_mask >> i) & 1 ? in[i] : NULL;
    fy_diag d;
    void *state = NULL;
    fy__op_prep p = {&k->node, k->node.opset, n_in, consts, infos, pool, &d};
    if (ff->prepare && ff->prepare(&p, &state) != FY_OK)
        return o;
    fy_tensor yf, yr;
    memset(&yf, 0, sizeof yf);
    memset(&yr, 0, sizeof yr);
    fy__op_ctx cf = {&k->node, k->node.opset, n_in, in, 1, &yf, &d, NULL, state, pool};
    fy__op_ctx cr = {&k->node, k->node.opset, n_in, in, 1, &yr, &d, NULL, NULL, NULL};
    int rf = fd->run(&cf), rr = rd->run(&cr);
    o.fast_ok = rf == FY_OK;
    fast_runs += o.fast_ok;
    o.same = rf == rr;
    if (rf == FY_OK && rr == FY_OK) {
        o.same = yf.rank == yr.rank && yf.dtype == yr.dtype;
        for (int i = 0; o.same && i < yf.rank; i++)
            o.same = yf.dims[i] == yr.dims[i];
        double scale = 0;
        for (int64_t i = 0, n = o.same && tol_by_scale ? fy_tensor_numel(&yr) : 0; i < n; i++)
            scale = fmax(scale, fabs(kh_outf(&yr, i)));
        for (int64_t i = 0, n = o.same ? fy_tensor_numel(&yr) : 0; i < n; i++) {
            double a = kh_outf(&yf, i), b = kh_outf(&yr, i);
            double e = fabs(a - b) / (1 + (tol_by_scale ? scale : fabs(b)));
            if (a == b || (isnan(a) && isnan(b)))
                continue; /* equal infinities, or NaN where the reference has NaN */
            if (!(e <= o.worst))
                o.worst = isnan(e) ? INFINITY : e;
        }
        o.same = o.same && o.worst <= 1e-4;
    }
    fy_tensor_deinit(&yf);
    fy_tensor_deinit(&yr);
    if (state)
        ff->release(state);
    return o;
}

/* Every ISA level, no pool and a 2-thread pool: fn(pool, trial) returns 1 when the
 * trial matched. */
static void sweep(int (*fn)(fy_pool *, int), int trials)
{
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        int bad = 0;
        for (int t = 0; t < trials; t++)
            if (!fn(t % 2 ? pool : NULL, t)) {
                fprintf(stderr, "isa %d trial %d differs\n", isa, t);
                bad++;
            }
        FY_CHECK_EQ(bad, 0);
    }
    fy__isa_force(-1);
    fy_pool_free(pool);
}

/* sweep(fn, trials) where most random cases must be valid, so the fast path runs. */
static void sweep_valid(int (*fn)(fy_pool *, int), int trials)
{
    fast_runs = 0;
    sweep(fn, trials);
    FY_CHECK(fast_runs > trials * ((int)fy__isa_best() + 1) * 3 / 4);
}

static int conv_trial(fy_pool *pool, int t)
{
    int64_t group = t % 5 == 0 ? 2 : 1, c = group * irand(1, 4), m = group * irand(1, 5);
    if (t % 7 == 3) { /* depthwise */
        group = c = m = irand(2, 6);
    }
    if (t % 11 == 5) /* wide: several row blocks of the GEMM */
        m = group * 100;
    int64_t kh = irand(1, 3), kw = irand(1, 3), h = irand(kh, 12), w = irand(kw, 12);
    /* t % 8 == 7 (on the pool): two images or more per thread, split by image */
    int64_t xd[4] = {t % 8 == 7 ? irand(4, 5) : irand(1, 2), c, h, w},
            wd[4] = {m, c / group, kh, kw}, bd[1] = {m};
    int64_t strides[2] = {irand(1, 2), irand(1, 2)}, dil[2] = {1 + (t % 4 == 1), 1};
    int64_t pads[4] = {irand(0, 1), irand(0, 1), irand(0, 1), irand(0, 1)};
    if (t % 3 == 0) /* pointwise: the direct GEMM path */
        kh = kw = wd[2] = wd[3] = 1, strides[0] = strides[1] = 1,
        pads[0] = pads[1] = pads[2] = pads[3] = 0;
    kh_node k;
    kh_init(&k, "Conv", 13);
    kh_attr_int(&k, "group", group);
    kh_attr_ints(&k, "strides", strides, 2);
    kh_attr_ints(&k, "dilations", dil, 2);
    if (t % 6 == 4)
        kh_attr_str(&k, "auto_pad", t % 12 == 4 ? "SAME_UPPER" : "SAME_LOWER");
    else
        kh_attr_ints(&k, "pads", pads, 4);
    fy_tensor x = rand_f32(4, xd), wt = rand_f32(4, wd), b = rand_f32(1, bd);
    const fy_tensor *in[3] = {&x, &wt, t % 2 ? &b : NULL};
    outcome o = fast_vs_ref(&k, 3, in, t % 4 ? 2 : 0, pool);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&wt);
    fy_tensor_deinit(&b);
    return o.same;
}

/* Strided convs, which take the phase-plane path (src/ops/fast/conv.c) when the
 * planes are at most a quarter wider than the output: strides 2 and 3 (also
 * only one of them), kernels 1 to 7 (ResNet's 7 x 7 stem, 3 x 3 and 1 x 1
 * downsampling), dilations, pads 0 to 3 (asymmetric), odd sizes, groups, batches
 * (several per thread on the pool), more rows than one GEMM of the path takes. */
static int strided_trial(fy_pool *pool, int t)
{
    int64_t group = t % 5 == 0 ? 2 : 1, c = group * irand(1, 6), m = group * irand(1, 9);
    int64_t kh = irand(1, 7), kw = t % 4 == 1 ? kh : irand(1, 7);
    int64_t strides[2] = {irand(1, 3), irand(2, 3)}, dil[2] = {1 + (t % 6 == 2), 1 + (t % 9 == 4)};
    if (t % 2)
        strides[0] = 2, strides[1] = 2;
    int64_t pads[4] = {irand(0, 3), irand(0, 3), irand(0, 3), irand(0, 3)};
    int64_t h = irand((kh - 1) * dil[0] + 1, 40), w = irand((kw - 1) * dil[1] + 1, 40);
    if (t % 10 == 3) /* many output channels and rows: several GEMMs per image */
        m = group * 300, h = irand(60, 90);
    int64_t n = t % 8 == 7 ? irand(4, 6) : irand(1, 3);
    int64_t xd[4] = {n, c, h, w}, wd[4] = {m, c / group, kh, kw}, bd[1] = {m};
    kh_node k;
    kh_init(&k, "Conv", 13);
    kh_attr_int(&k, "group", group);
    kh_attr_ints(&k, "strides", strides, 2);
    kh_attr_ints(&k, "dilations", dil, 2);
    if (t % 7 == 4)
        kh_attr_str(&k, "auto_pad", t % 14 == 4 ? "SAME_UPPER" : "SAME_LOWER");
    else
        kh_attr_ints(&k, "pads", pads, 4);
    fy_tensor x = rand_f32(4, xd), wt = rand_f32(4, wd), b = rand_f32(1, bd);
    const fy_tensor *in[3] = {&x, &wt, t % 3 ? &b : NULL};
    outcome o = fast_vs_ref(&k, 3, in, t % 4 ? 2 : 0, pool);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&wt);
    fy_tensor_deinit(&b);
    return o.same;
}

/* 3x3 stride-1 convs with enough channels for the Winograd path: F(4, 3) from 20
 * outputs a side, F(2, 3) below (transposed for fewer than 32 tiles), odd sizes
 * (partial tiles), pads 0..2, batches;
 * W constant (the Winograd weights are packed at the first run) or not (the
 * im2col GEMM), with and without bias. */
static int wino_trial(fy_pool *pool, int t)
{
    int64_t c = irand(16, 40), m = irand(16, 40), n = irand(1, 3);
    int64_t h = t % 2 ? irand(20, 37) : irand(3, 19), w = t % 3 ? irand(20, 41) : irand(3, 19);
    if (t % 6 == 2) /* few tiles, M a multiple of 8: the transposed GEMMs */
        m = 8 * irand(2, 5), h = irand(3, 9), w = irand(3, 9), n = 1;
    if (t % 6 == 2) /* few tiles, M a multiple of 8: the transposed GEMMs */
        m = 8 * irand(2, 5), h = irand(3, 9), w = irand(3, 9), n = 1;
    if (t == 5) /* wider than the Winograd buffers take: the im2col GEMM */
        w = 600, c = 16, m = 16, h = 3, n = 1;
    int64_t xd[4] = {n, c, h, w}, wd[4] = {m, c, 3, 3}, bd[1] = {m};
    int64_t pads[4] = {irand(0, 2), irand(0, 2), irand(0, 2), irand(0, 2)};
    kh_node k;
    kh_init(&k, "Conv", 13);
    if (t % 7 == 6)
        kh_attr_str(&k, "auto_pad", "SAME_UPPER");
    else
        kh_attr_ints(&k, "pads", pads, 4);
    fy_tensor x = rand_f32(4, xd), wt = rand_f32(4, wd), b = rand_f32(1, bd);
    const fy_tensor *in[3] = {&x, &wt, t % 4 ? &b : NULL};
    tol_by_scale = 1;
    outcome o = fast_vs_ref(&k, 3, in, t % 5 == 4 ? 0 : 2, pool);
    tol_by_scale = 0;
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&wt);
    fy_tensor_deinit(&b);
    return o.same;
}

static int gemm_trial(fy_pool *pool, int t)
{
    int64_t M = irand(1, t % 9 ? 20 : 150), N = irand(1, t % 5 ? 40 : 300), K = irand(1, 70);
    int ta = t % 3 == 1, tb = t % 4 >= 2;
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    /* C: none, [N], [1, N], [M, 1], [M, N], and a scalar (left to the reference) */
    int64_t cshapes[6][2] = {{0, 0}, {N, 0}, {1, N}, {M, 1}, {M, N}, {1, 1}};
    int cs = t % 6, crank = cs == 1 ? 1 : 2;
    kh_node k;
    kh_init(&k, "Gemm", 13);
    kh_attr_int(&k, "transA", ta);
    kh_attr_int(&k, "transB", tb);
    if (t % 10 == 7)
        kh_attr_float(&k, "alpha", 0.5f);
    if (t % 10 == 8)
        kh_attr_float(&k, "beta", 2.0f);
    fy_tensor a = rand_f32(2, ad), b = rand_f32(2, bd), c = rand_f32(crank, cshapes[cs]);
    const fy_tensor *in[3] = {&a, &b, cs ? &c : NULL};
    outcome o = fast_vs_ref(&k, cs ? 3 : 2, in, t % 3 ? 2 : 0, pool);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
    fy_tensor_deinit(&c);
    return o.same;
}

static int matmul_trial(fy_pool *pool, int t)
{
    int64_t M = irand(1, t % 7 ? 24 : 130), N = irand(1, t % 5 ? 40 : 200), K = irand(1, 60);
    int ra = (int)irand(2, 4), rb = t % 2 ? 2 : (int)irand(2, 4);
    int64_t ad[4], bd[4];
    for (int i = 0; i < ra - 2; i++)
        ad[i] = irand(1, 3);
    for (int i = 0; i < rb - 2; i++) /* broadcast against A's batch axes */
        bd[i] = i < ra - 2 && t % 3 ? ad[i + (ra - rb > 0 ? ra - rb : 0)] : irand(1, 3);
    ad[ra - 2] = M;
    ad[ra - 1] = K;
    bd[rb - 2] = K;
    bd[rb - 1] = N;
    kh_node k;
    kh_init(&k, "MatMul", 13);
    fy_tensor a = rand_f32(ra, ad), b = rand_f32(rb, bd);
    const fy_tensor *in[2] = {&a, &b};
    outcome o = fast_vs_ref(&k, 2, in, t % 3 ? 2 : 0, pool);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
    return o.same;
}

static int maxpool_trial(fy_pool *pool, int t)
{
    int64_t xd[4] = {irand(1, 2), irand(1, 6), irand(1, 14), irand(1, 14)};
    int64_t ks[2] = {irand(1, 3), irand(1, 3)}, st[2] = {irand(1, 3), irand(1, 2)};
    int64_t dl[2] = {1 + (t % 5 == 2), 1}, pads[4] = {irand(0, 1), irand(0, 1), irand(0, 1), 0};
    if (t % 6 == 5) /* wide rows at stride 2 across: the vector path */
        xd[3] = irand(20, 70), st[1] = 2;
    kh_node k;
    kh_init(&k, "MaxPool", 12);
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "strides", st, 2);
    kh_attr_ints(&k, "dilations", dl, 2);
    kh_attr_int(&k, "ceil_mode", t % 3 == 1);
    if (t % 7 == 3)
        kh_attr_str(&k, "auto_pad", t % 14 == 3 ? "SAME_UPPER" : "VALID");
    else
        kh_attr_ints(&k, "pads", pads, 4);
    fy_tensor x = rand_f32(4, xd);
    if (t % 4 == 0 && fy_tensor_numel(&x) > 2) /* NaN: the same tap order decides */
        ((float *)x.data)[t % fy_tensor_numel(&x)] = NAN;
    const fy_tensor *in[1] = {&x};
    outcome o = fast_vs_ref(&k, 1, in, 0, pool);
    fy_tensor_deinit(&x);
    return o.same;
}

static int layernorm_trial(fy_pool *pool, int t)
{
    int rank = (int)irand(1, 3);
    int64_t xd[3] = {irand(1, 40), irand(1, 70), irand(1, 9)};
    int axis = (int)irand(0, rank - 1);
    int64_t pd[3], one[3] = {1, 1, 1};
    int prank = rank - axis;
    for (int i = 0; i < prank; i++)
        pd[i] = xd[axis + i];
    kh_node k;
    kh_init(&k, "LayerNormalization", 17);
    kh_attr_int(&k, "axis", t % 2 ? axis : axis - rank);
    kh_attr_float(&k, "epsilon", t % 3 ? 1e-5f : 1e-3f);
    fy_tensor x = rand_f32(rank, xd), s = rand_f32(prank, pd), b = rand_f32(prank, pd);
    fy_tensor s1 = rand_f32(prank, one); /* broadcast within the row: the reference's */
    const fy_tensor *in[3] = {&x, t % 9 == 4 ? &s1 : &s, t % 4 == 1 ? NULL : &b};
    outcome o = fast_vs_ref(&k, 3, in, 0, pool);
    fy_tensor *all[4] = {&x, &s, &b, &s1};
    for (int i = 0; i < 4; i++)
        fy_tensor_deinit(all[i]);
    return o.same;
}

static int transpose_trial(fy_pool *pool, int t)
{
    int rank = (int)irand(2, 4);
    int64_t xd[4], perm[4] = {0, 1, 2, 3};
    for (int i = 0; i < rank; i++)
        xd[i] = irand(1, t % 5 ? 20 : 70);
    for (int i = rank - 1; i > 0; i--) { /* a random permutation */
        int sw = (int)irand(0, i);
        int64_t tmp = perm[i];
        perm[i] = perm[sw];
        perm[sw] = tmp;
    }
    kh_node k;
    kh_init(&k, "Transpose", 13);
    if (t % 6)
        kh_attr_ints(&k, "perm", perm, rank); /* else the default: reversed axes */
    if (t % 3) {
        fy_tensor x = rand_f32(rank, xd);
        const fy_tensor *in[1] = {&x};
        outcome o = fast_vs_ref(&k, 1, in, 0, pool);
        fy_tensor_deinit(&x);
        return o.same;
    }
    /* 8-byte elements, compared as bytes */
    fy_tensor x = kh_alloc(FY_DTYPE_I64, rank, xd, NULL), yf, yr;
    for (int64_t i = 0; i < fy_tensor_numel(&x); i++)
        ((int64_t *)x.data)[i] = (int64_t)next_u64();
    memset(&yf, 0, sizeof yf);
    memset(&yr, 0, sizeof yr);
    const fy_tensor *in[1] = {&x};
    fy_diag d;
    fy__op_ctx cf = {&k.node, 13, 1, in, 1, &yf, &d, NULL, NULL, pool};
    fy__op_ctx cr = {&k.node, 13, 1, in, 1, &yr, &d, NULL, NULL, NULL};
    int rf = fy__op_find("", "Transpose")->run(&cf),
        rr = fy__op_find_ref("", "Transpose")->run(&cr);
    int same = rf == FY_OK && rr == FY_OK && memcmp(yf.dims, yr.dims, sizeof yf.dims) == 0 &&
               memcmp(yf.data, yr.data, fy_tensor_nbytes(&yr)) == 0;
    fast_runs += rf == FY_OK;
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&yf);
    fy_tensor_deinit(&yr);
    return same;
}

/* ai.ferry.Attention: softmax(scale(Q Kt)) V over heads, with key lengths on both
 * sides of the 8-float vectors and query blocks; some trials get a NaN query, or an
 * infinite key column (scores of +-inf, and NaN where the signs meet). */
static int attention_trial(fy_pool *pool, int t)
{
    int64_t h = irand(1, 3), s_ = irand(1, t % 4 ? 20 : 70), d = irand(1, 24),
            tk = irand(1, t % 3 ? 40 : 130), dv = irand(1, 20);
    int64_t qd[3] = {h, s_, d}, kd[3] = {h, d, tk}, vd[3] = {h, tk, dv};
    kh_node k;
    kh_init(&k, "Attention", 1);
    k.node.domain = (char *)FY_FUSED_DOMAIN;
    if (t % 3) {
        kh_attr_float(&k, "scale", t % 2 ? 0.125f : 8.0f);
        kh_attr_int(&k, "scale_div", t % 2 == 0);
    }
    fy_tensor q = rand_f32(3, qd), kt = rand_f32(3, kd), v = rand_f32(3, vd);
    if (t % 7 == 2)
        ((float *)q.data)[0] = NAN;
    if (t % 5 == 1)
        for (int64_t i = 0; i < d * tk; i += tk)
            ((float *)kt.data)[i] = -INFINITY; /* key 0 of head 0 */
    const fy_tensor *in[3] = {&q, &kt, &v};
    outcome o = fast_vs_ref(&k, 3, in, 0, pool);
    fy_tensor_deinit(&q);
    fy_tensor_deinit(&kt);
    fy_tensor_deinit(&v);
    return o.same;
}

TEST(attention_matches_reference)
{
    sweep_valid(attention_trial, 120);
}

/* Attention with "layout" 1: Q [B, S, H, D], Kt [B, H, D, T], V [B, T, H, Dv] ->
 * Y [B, S, H, Dv] (the kernel reads Q and V and writes Y with row strides H D). */
static int attention_bshd_trial(fy_pool *pool, int t)
{
    int64_t b = irand(1, 3), h = irand(1, 4), s_ = irand(1, t % 4 ? 20 : 70), d = irand(1, 24),
            tk = irand(1, t % 3 ? 40 : 130), dv = irand(1, 20);
    int64_t qd[4] = {b, s_, h, d}, kd[4] = {b, h, d, tk}, vd[4] = {b, tk, h, dv};
    if (t % 11 == 5)
        vd[2] = h + 1; /* heads that do not match: the reference decides (an error) */
    kh_node k;
    kh_init(&k, "Attention", 1);
    k.node.domain = (char *)FY_FUSED_DOMAIN;
    kh_attr_int(&k, "layout", 1);
    if (t % 3) {
        kh_attr_float(&k, "scale", t % 2 ? 0.125f : 8.0f);
        kh_attr_int(&k, "scale_div", t % 2 == 0);
    }
    fy_tensor q = rand_f32(4, qd), kt = rand_f32(4, kd), v = rand_f32(4, vd);
    if (t % 7 == 2)
        ((float *)q.data)[0] = NAN;
    const fy_tensor *in[3] = {&q, &kt, &v};
    outcome o = fast_vs_ref(&k, 3, in, 0, pool);
    fy_tensor_deinit(&q);
    fy_tensor_deinit(&kt);
    fy_tensor_deinit(&v);
    return o.same;
}

TEST(attention_bshd_layout_matches_reference)
{
    sweep_valid(attention_bshd_trial, 120);
}

TEST(conv_matches_reference)
{
    sweep_valid(conv_trial, 120);
}
TEST(strided_conv_matches_reference)
{
    sweep_valid(strided_trial, 80);
}
TEST(winograd_conv_matches_reference)
{
    sweep_valid(wino_trial, 30);
}
TEST(gemm_matches_reference)
{
    sweep_valid(gemm_trial, 120);
}
TEST(layernorm_matches_reference)
{
    sweep_valid(layernorm_trial, 150);
}
TEST(transpose_matches_reference)
{
    sweep_valid(transpose_trial, 150);
}
TEST(maxpool_matches_reference)
{
    sweep_valid(maxpool_trial, 150);
}
TEST(matmul_matches_reference)
{
    sweep_valid(matmul_trial, 120);
}

TEST(bad_inputs_fail_like_the_reference)
{
    int64_t xd[4] = {1, 3, 5, 5}, wd[4] = {4, 2, 3, 3}, ad[2] = {3, 4}, bd[2] = {5, 6};
    fy_tensor x = rand_f32(4, xd), w = rand_f32(4, wd), a = rand_f32(2, ad), b = rand_f32(2, bd);
    kh_node k;
    kh_init(&k, "Conv", 13); /* W has 2 channels per group, X has 3 */
    const fy_tensor *cin[2] = {&x, &w};
    outcome o = fast_vs_ref(&k, 2, cin, 2, NULL);
    FY_CHECK(o.same && !o.fast_ok);
    kh_init(&k, "MatMul", 13); /* inner dimensions 4 and 5 */
    const fy_tensor *min[2] = {&a, &b};
    o = fast_vs_ref(&k, 2, min, 2, NULL);
    FY_CHECK(o.same && !o.fast_ok);
    kh_init(&k, "Gemm", 13);
    o = fast_vs_ref(&k, 2, min, 0, NULL);
    FY_CHECK(o.same && !o.fast_ok);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&w);
    fy_tensor_deinit(&a);
    fy_tensor_deinit(&b);
}

/* Stride 1 (im2col) and 2 (phase planes; a 1 x 1 kernel writes straight to y). */
static void conv_residual_case(int64_t stride, int64_t kernel)
{
    int64_t xd[4] = {2, 5, 9, 7}, wd[4] = {6, 5, kernel, kernel}, bd[1] = {6},
            yd[4] = {2, 6, (11 - kernel) / stride + 1, (9 - kernel) / stride + 1};
    int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {stride, stride};
    fy_tensor x = rand_f32(4, xd), w = rand_f32(4, wd), b = rand_f32(1, bd), r = rand_f32(4, yd);
    kh_node k;
    kh_init(&k, "Conv", 13);
    kh_attr_ints(&k, "pads", pads, 4);
    kh_attr_ints(&k, "strides", strides, 2);
    const fy_tensor *in[3] = {&x, &w, &b};
    fy_diag d;
    fy_tensor yf, yr;
    memset(&yf, 0, sizeof yf);
    memset(&yr, 0, sizeof yr);
    fy__epilogue ep = {0};
    ep.residual = r.data;
    ep.act = FY_ACT_LEAKY_RELU;
    ep.alpha = 0.25f;
    fy__op_ctx cf = {&k.node, 13, 3, in, 1, &yf, &d, NULL, NULL, NULL};
    fy__op_ctx cr = {&k.node, 13, 3, in, 1, &yr, &d, NULL, NULL, NULL};
    int rc = -1;
    FY_CHECK_EQ(fy__fast_conv(&cf, &ep, &rc), 1);
    FY_CHECK_EQ(rc, FY_OK);
    FY_CHECK_EQ(fy__op_find_ref("", "Conv")->run(&cr), FY_OK);
    double worst = 0;
    for (int64_t i = 0, n = fy_tensor_numel(&yr); rc == FY_OK && i < n; i++) {
        float v = kh_outf(&yr, i) + ((float *)r.data)[i];
        v = v < 0 ? 0.25f * v : v;
        worst = fmax(worst, fabs(kh_outf(&yf, i) - v) / (1 + fabs(v)));
    }
    FY_CHECK(worst <= 1e-5);
    fy_tensor bad = x;
    bad.dims[1] = 4; /* channels differ from W: not taken, nothing written */
    const fy_tensor *bin[3] = {&bad, &w, &b};
    fy_tensor yb;
    memset(&yb, 0, sizeof yb);
    fy__op_ctx cb = {&k.node, 13, 3, bin, 1, &yb, &d, NULL, NULL, NULL};
    FY_CHECK_EQ(fy__fast_conv(&cb, &ep, &rc), 0);
    FY_CHECK(yb.data == NULL);
    fy_tensor *all[6] = {&x, &w, &b, &r, &yf, &yr};
    for (int i = 0; i < 6; i++)
        fy_tensor_deinit(all[i]);
}

TEST(conv_with_residual_and_activation)
{
    conv_residual_case(1, 3);
    conv_residual_case(2, 3);
    conv_residual_case(2, 1);
}

/* Winograd convs (F(4, 3), F(2, 3), transposed) with the fused epilogues (kind):
 * 0 bias and ReLU in registers, 1 residual and LeakyRelu on the rows, 2 residual
 * then ReLU and 3 residual alone in the storing loop; W constant, so prepare makes
 * the state that selects Winograd. */
TEST(winograd_conv_with_epilogues)
{
    const int64_t sizes[3][2] = {{2, 30}, {2, 9}, {1, 7}}; /* batch, side */
    for (int sz = 0; sz < 3; sz++)
        for (int kind = 0; kind < 4; kind++) {
            int64_t n = sizes[sz][0], hw = sizes[sz][1];
            int64_t xd[4] = {n, 24, hw, hw}, wd[4] = {24, 24, 3, 3}, bd[1] = {24},
                    yd[4] = {n, 24, hw, hw}, pads[4] = {1, 1, 1, 1};
            fy_tensor x = rand_f32(4, xd), w = rand_f32(4, wd), b = rand_f32(1, bd),
                      r = rand_f32(4, yd);
            kh_node k;
            kh_init(&k, "Conv", 13);
            kh_attr_ints(&k, "pads", pads, 4);
            const fy_tensor *in[3] = {&x, &w, &b}, *consts[3] = {NULL, &w, NULL};
            const fy__value_info *infos[3] = {0};
            const fy__op_fast *ff = fy__op_fast_of(fy__op_find("", "Conv"));
            fy_diag d;
            void *state = NULL;
            fy__op_prep p = {&k.node, 13, 3, consts, infos, NULL, &d};
            FY_CHECK_EQ(ff->prepare(&p, &state), FY_OK);
            fy_tensor yf, yr;
            memset(&yf, 0, sizeof yf);
            memset(&yr, 0, sizeof yr);
            fy__epilogue ep = {0};
            ep.act = kind == 1 ? FY_ACT_LEAKY_RELU : kind == 3 ? FY_ACT_NONE : FY_ACT_RELU;
            ep.alpha = 0.25f;
            ep.residual = kind ? r.data : NULL;
            fy__op_ctx cf = {&k.node, 13, 3, in, 1, &yf, &d, NULL, state, NULL};
            fy__op_ctx cr = {&k.node, 13, 3, in, 1, &yr, &d, NULL, NULL, NULL};
            int rc = -1;
            FY_CHECK_EQ(fy__fast_conv(&cf, &ep, &rc), 1);
            FY_CHECK_EQ(rc, FY_OK);
            FY_CHECK_EQ(fy__op_find_ref("", "Conv")->run(&cr), FY_OK);
            double worst = 0, scale = 0;
            int64_t cnt = rc == FY_OK ? fy_tensor_numel(&yr) : 0;
            for (int64_t i = 0; i < cnt; i++) {
                float v = kh_outf(&yr, i) + (kind ? ((float *)r.data)[i] : 0.0f);
                scale = fmax(scale, fabs(v));
            }
            for (int64_t i = 0; i < cnt; i++) {
                float v = kh_outf(&yr, i) + (kind ? ((float *)r.data)[i] : 0.0f);
                if (kind != 3)
                    v = v < 0 ? (kind == 1 ? 0.25f * v : 0.0f) : v;
                worst = fmax(worst, fabs(kh_outf(&yf, i) - v) / (1 + scale));
            }
            FY_CHECK(worst <= 1e-4);
            ff->release(state);
            fy_tensor *all[6] = {&x, &w, &b, &r, &yf, &yr};
            for (int i = 0; i < 6; i++)
                fy_tensor_deinit(all[i]);
        }
}

int main(void)
{
    RUN(conv_matches_reference);
    RUN(strided_conv_matches_reference);
    RUN(winograd_conv_matches_reference);
    RUN(attention_matches_reference);
    RUN(attention_bshd_layout_matches_reference);
    RUN(gemm_matches_reference);
    RUN(matmul_matches_reference);
    RUN(maxpool_matches_reference);
    RUN(layernorm_matches_reference);
    RUN(transpose_matches_reference);
    RUN(bad_inputs_fail_like_the_reference);
    RUN(conv_with_residual_and_activation);
    RUN(winograd_conv_with_epilogues);
    return TEST_SUMMARY();
}
