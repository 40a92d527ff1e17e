/* SPDX-License-Identifier: MIT */
/* Fast int8 kernels against the reference, exactly: MatMulInteger and QLinearMatMul
 * over every uint8/int8 combination, zero points absent, scalar or per column,
 * weights constant (packed by prepare) or not, every ISA level (VNNI, AVX2, C), 1
 * and 2 threads; DynamicQuantizeLinear on random and edge inputs. */
#include <math.h>
#include <stdlib.h>

#include "core/pool.h"
#include "ops/fast/fast.h"
#include "ops/kernel_harness.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
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

static fy_tensor rand_q8(fy_dtype dt, int rank, const int64_t *dims)
{
    fy_tensor t = kh_alloc(dt, rank, dims, NULL);
    for (int64_t i = 0, n = fy_tensor_numel(&t); i < n; i++)
        ((uint8_t *)t.data)[i] = (uint8_t)next_u64();
    return t;
}

static int fast_runs;

/* Fast and reference kernels agree: same code, and byte-identical outputs. */
static int same_as_ref(kh_node *k, int n_in, const fy_tensor *const *in, int n_out,
                       unsigned const_mask, fy_pool *pool)
{
    const fy__op_def *fd = fy__op_find("", k->node.op_type),
                     *rd = fy__op_find_ref("", k->node.op_type);
    const fy__op_fast *ff = fy__op_fast_of(fd);
    if (!ff || !rd || fd == rd)
        return 0;
    const fy_tensor *consts[16] = {0};
    fy__value_info vi[16];
    const fy__value_info *infos[16] = {0};
    for (int i = 0; i < n_in; i++) {
        consts[i] = (const_mask >> i) & 1 ? in[i] : NULL;
        infos[i] = in[i] ? &vi[i] : NULL;
    }
    fy_diag d;
    void *state = NULL;
    fy__op_prep p = {&k->node, k->node.opset, n_in, consts, infos, pool, &d};
    if (ff->prepare && ff->prepare(&p, &state) != FY_OK)
        return 0;
    fy_tensor yf[3], yr[3];
    memset(yf, 0, sizeof yf);
    memset(yr, 0, sizeof yr);
    fy__op_ctx cf = {&k->node, k->node.opset, n_in, in, n_out, yf, &d, NULL, state, pool};
    fy__op_ctx cr = {&k->node, k->node.opset, n_in, in, n_out, yr, &d, NULL, NULL, NULL};
    int rf = fd->run(&cf), rr = rd->run(&cr), same = rf == rr;
    fast_runs += rf == FY_OK;
    for (int o = 0; same && rf == FY_OK && o < n_out; o++) {
        same = yf[o].dtype == yr[o].dtype && yf[o].rank == yr[o].rank &&
               fy_tensor_nbytes(&yf[o]) == fy_tensor_nbytes(&yr[o]);
        for (int i = 0; same && i < yf[o].rank; i++)
            same = yf[o].dims[i] == yr[o].dims[i];
        same = same && memcmp(yf[o].data, yr[o].data, fy_tensor_nbytes(&yr[o])) == 0;
    }
    kh_free_outs(yf, 3);
    kh_free_outs(yr, 3);
    if (state)
        ff->release(state);
    return same;
}

typedef struct mm_case {
    fy_tensor a, b, za, zb;
    int has_za, has_zb;
} mm_case;

static mm_case make_mm(int t)
{
    mm_case m;
    memset(&m, 0, sizeof m);
    fy_dtype ad = t % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8, bd = (t / 2) % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8;
    int64_t M = irand(1, t % 7 ? 20 : 130), K = irand(0, t % 5 ? 70 : 1100),
            N = irand(1, t % 3 ? 40 : 160);
    int ra = (int)irand(2, 3);
    int64_t adims[3] = {irand(1, 3), M, K}, bdims[2] = {K, N}, one = 1, ncols = N;
    m.a = rand_q8(ad, ra, ra == 3 ? adims : adims + 1);
    m.b = rand_q8(bd, 2, bdims);
    m.has_za = t % 4 != 3;
    m.has_zb = t % 5 != 4;
    m.za = rand_q8(ad, t % 3 ? 0 : 1, &one);
    m.zb = rand_q8(bd, 1, t % 2 ? &one : &ncols);
    return m;
}

static void free_mm(mm_case *m)
{
    fy_tensor_deinit(&m->a);
    fy_tensor_deinit(&m->b);
    fy_tensor_deinit(&m->za);
    fy_tensor_deinit(&m->zb);
}

static int mmi_trial(fy_pool *pool, int t)
{
    mm_case m = make_mm(t);
    kh_node k;
    kh_init(&k, "MatMulInteger", 10);
    const fy_tensor *in[4] = {&m.a, &m.b, m.has_za ? &m.za : NULL, m.has_zb ? &m.zb : NULL};
    int ok = same_as_ref(&k, 4, in, 1, t % 3 ? 0xA : 0, pool);
    free_mm(&m);
    return ok;
}

static int qlm_trial(fy_pool *pool, int t)
{
    mm_case m = make_mm(t);
    int64_t N = m.b.dims[1], one = 1;
    /* tiny output scales saturate; a zero one makes infinite multipliers */
    float sa = 0.02f + (float)(t % 5) * 0.01f, sy = t % 10 == 9  ? 0.0f
                                                    : t % 4 == 3 ? 1e-6f
                                                                 : 0.5f + (float)(t % 3);
    fy_tensor as = kh_alloc(FY_DTYPE_F32, 0, NULL, NULL),
              ys = kh_alloc(FY_DTYPE_F32, 0, NULL, NULL);
    fy_tensor bs = kh_alloc(FY_DTYPE_F32, 1, t % 2 ? &one : &N, NULL);
    ((float *)as.data)[0] = sa;
    ((float *)ys.data)[0] = sy;
    for (int64_t i = 0, n = fy_tensor_numel(&bs); i < n; i++)
        ((float *)bs.data)[i] = 0.01f + (float)(next_u64() % 100) * 0.001f;
    fy_dtype yd = t % 3 == 2 ? FY_DTYPE_I8 : FY_DTYPE_U8;
    fy_tensor yz = rand_q8(yd, 0, NULL);
    fy_tensor za = m.za, zb = m.zb;
    /* QLinearMatMul's zero points: scalar a, scalar or per-column b */
    const fy_tensor *in[8] = {&m.a, &as, m.has_za ? &za : NULL, &m.b, &bs, m.has_zb ? &zb : NULL,
                              &ys,  &yz};
    kh_node k;
    kh_init(&k, "QLinearMatMul", 10);
    int ok = same_as_ref(&k, 8, in, 1, t % 3 ? 0x38 : 0, pool);
    free_mm(&m);
    fy_tensor_deinit(&as);
    fy_tensor_deinit(&bs);
    fy_tensor_deinit(&ys);
    fy_tensor_deinit(&yz);
    return ok;
}

/* Every ISA level, no pool and a 2-thread pool. */
static void sweep(int (*fn)(fy_pool *, int), int trials)
{
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    fast_runs = 0;
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
    FY_CHECK(fast_runs > trials * ((int)fy__isa_best() + 1) / 2);
    fy__isa_force(-1);
    fy_pool_free(pool);
}

TEST(matmul_integer_matches_reference)
{
    sweep(mmi_trial, 100);
}
TEST(qlinear_matmul_matches_reference)
{
    sweep(qlm_trial, 100);
}

/* A random 2-D integer conv: x, w and their zero points, attributes on k. */
typedef struct conv_case {
    fy_tensor x, w, xz, wz, bias;
    int has_xz, has_wz;
} conv_case;

static conv_case make_conv(kh_node *k, const char *op, int t, int64_t *attr_store)
{
    conv_case v;
    memset(&v, 0, sizeof v);
    fy_dtype xd = t % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8, wd = (t / 2) % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8;
    int64_t c = irand(1, 5), m = irand(1, t % 3 ? 8 : 70), kh = irand(1, 3), kw = irand(1, 3);
    int64_t xdims[4] = {irand(1, 2), c, irand(kh, 11), irand(kw, 11)}, wdims[4] = {m, c, kh, kw};
    int64_t one = 1;
    kh_init(k, op, 10);
    attr_store[0] = irand(1, 2); /* strides */
    attr_store[1] = irand(1, 2);
    for (int i = 2; i < 6; i++) /* pads */
        attr_store[i] = irand(0, 1);
    kh_attr_ints(k, "strides", attr_store, 2);
    kh_attr_ints(k, "pads", attr_store + 2, 4);
    v.x = rand_q8(xd, 4, xdims);
    v.w = rand_q8(wd, 4, wdims);
    v.has_xz = t % 4 != 3;
    v.has_wz = t % 5 != 4;
    v.xz = rand_q8(xd, 0, NULL);
    v.wz = rand_q8(wd, 1, t % 3 ? &one : &m);
    v.bias = kh_alloc(FY_DTYPE_I32, 1, &m, NULL);
    for (int64_t i = 0; i < m; i++)
        ((int32_t *)v.bias.data)[i] = (int32_t)(next_u64() % 20001) - 10000;
    return v;
}

static void free_conv(conv_case *v)
{
    fy_tensor *all[5] = {&v->x, &v->w, &v->xz, &v->wz, &v->bias};
    for (int i = 0; i < 5; i++)
        fy_tensor_deinit(all[i]);
}

static int convi_trial(fy_pool *pool, int t)
{
    kh_node k;
    int64_t attrs[6];
    conv_case v = make_conv(&k, "ConvInteger", t, attrs);
    const fy_tensor *in[4] = {&v.x, &v.w, v.has_xz ? &v.xz : NULL, v.has_wz ? &v.wz : NULL};
    int ok = same_as_ref(&k, 4, in, 1, t % 3 ? 0xA : 0, pool);
    free_conv(&v);
    return ok;
}

static int qlc_trial(fy_pool *pool, int t)
{
    kh_node k;
    int64_t attrs[6], m, one = 1;
    conv_case v = make_conv(&k, "QLinearConv", t, attrs);
    m = v.w.dims[0];
    fy_tensor xs = kh_alloc(FY_DTYPE_F32, 0, NULL, NULL),
              ys = kh_alloc(FY_DTYPE_F32, 0, NULL, NULL);
    fy_tensor ws = kh_alloc(FY_DTYPE_F32, 1, t % 2 ? &one : &m, NULL);
    ((float *)xs.data)[0] = 0.05f;
    /* every fourth trial: a tiny output scale, so most outputs saturate */
    ((float *)ys.data)[0] = t % 4 == 3 ? 1e-5f : 0.7f + (float)(t % 3);
    for (int64_t i = 0, n = fy_tensor_numel(&ws); i < n; i++)
        ((float *)ws.data)[i] = 0.001f + (float)(next_u64() % 100) * 0.0005f;
    fy_tensor yz = rand_q8(t % 3 == 1 ? FY_DTYPE_I8 : FY_DTYPE_U8, 0, NULL);
    const fy_tensor *in[9] = {&v.x, &xs, v.has_xz ? &v.xz : NULL,
                              &v.w, &ws, v.has_wz ? &v.wz : NULL,
                              &ys,  &yz, t % 2 ? &v.bias : NULL};
    int ok = same_as_ref(&k, 9, in, 1, t % 3 ? 0x38 : 0, pool);
    free_conv(&v);
    fy_tensor_deinit(&xs);
    fy_tensor_deinit(&ws);
    fy_tensor_deinit(&ys);
    fy_tensor_deinit(&yz);
    return ok;
}

TEST(conv_integer_matches_reference)
{
    sweep(convi_trial, 80);
}
TEST(qlinear_conv_matches_reference)
{
    sweep(qlc_trial, 80);
}

/* fy__qgemm_f32 against fy__qgemm followed by the same float steps by hand. */
TEST(dequantizing_gemm_matches_int_gemm_then_scale)
{
    fy_pool *pool = NULL;
    FY_CHECK_EQ(fy_pool_create(&pool, 2, NULL), FY_OK);
    int bad = 0;
    for (int isa = (int)fy__isa_best(); isa >= 0; isa--) {
        fy__isa_force(isa);
        for (int t = 0; t < 30; t++) {
            int64_t M = irand(1, 70), N = irand(1, 150), K = irand(0, 300);
            /* every 6th: uint8 A, zb 0 and whole k quads, which VNNI reads in place,
             * over one or two k blocks */
            int direct = t % 6 == 0;
            if (direct)
                K = 4 * irand(1, 300);
            int64_t ad[2] = {M, K}, bd[2] = {K, N};
            fy_tensor a = rand_q8(t % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8, 2, ad);
            fy_tensor b = rand_q8(FY_DTYPE_I8, 2, bd);
            float *bs = malloc((size_t)N * sizeof *bs),
                  *bias = malloc((size_t)(M + N) * sizeof *bias); /* per column or row */
            float *got = malloc((size_t)(M * N) * sizeof *got);
            int32_t *acc = malloc((size_t)(M * N) * sizeof *acc),
                    zb = direct ? 0 : (int32_t)irand(-5, 5);
            for (int64_t n = 0; n < N; n++)
                bs[n] = 0.001f * (float)irand(1, 50);
            for (int64_t n = 0; n < M + N; n++)
                bias[n] = 0.01f * (float)irand(-100, 100);
            fy__qpacked *pb = NULL;
            FY_CHECK_EQ(fy__qpack_b(&pb, K, N, b.data, 1, N, 1, &zb, 1), FY_OK);
            int32_t za = (int32_t)irand(0, 20) - (t % 2 ? 10 : 0);
            float *res = malloc((size_t)(M * N) * sizeof *res);
            for (int64_t i = 0; i < M * N; i++)
                res[i] = 0.1f * (float)irand(-100, 100);
            /* per-column bias or none, a residual, ReLU or GELU (the fused row
             * finish), and a per-row bias (the epilogue after it) */
            fy__epilogue ep = {0};
            ep.bias = t % 3 ? bias : NULL;
            ep.per_col = t % 7 != 3;
            ep.residual = t % 5 >= 2 ? res : NULL;
            ep.ldr = N;
            ep.act = t % 4 == 1 ? FY_ACT_RELU : t % 4 == 2 ? FY_ACT_GELU_ERF : FY_ACT_NONE;
            int64_t nbs = t % 2 ? N : 1;
            fy_pool *p = t % 2 ? pool : NULL;
            fy__qgemm(p, M, a.data, t % 2, K, za, pb, acc, N);
            fy__qgemm_f32(p, M, a.data, t % 2, K, za, 0.02f, pb, bs, nbs, got, N, &ep);
            for (int64_t i = 0; i < M * N; i++) { /* the int sums, by definition */
                int64_t m = i / N, n = i % N, sum = 0;
                for (int64_t k = 0; k < K; k++) {
                    int64_t av = t % 2 ? ((const int8_t *)a.data)[m * K + k]
                                       : ((const uint8_t *)a.data)[m * K + k];
                    sum += (av - za) * (((const int8_t *)b.data)[k * N + n] - zb);
                }
                bad += acc[i] != (int32_t)sum;
            }
            for (int64_t i = 0; i < M * N; i++) {
                int64_t n = i % N;
                float want = (float)acc[i] * (0.02f * bs[nbs == 1 ? 0 : n]);
                if (ep.bias)
                    want += ep.per_col ? bias[n] : bias[i / N];
                if (ep.residual)
                    want += res[i];
                fy__act_apply(&want, 1, &ep); /* the same activation code as the GEMM */
                bad += got[i] != want;
            }
            free(res);
            fy__qpacked_free(pb);
            fy_tensor_deinit(&a);
            fy_tensor_deinit(&b);
            free(bs);
            free(bias);
            free(got);
            free(acc);
        }
    }
    FY_CHECK_EQ(bad, 0);
    fy__isa_force(-1);
    fy_pool_free(pool);
}

static int dql_trial(fy_pool *pool, int t)
{
    int64_t n = irand(0, t % 4 ? 50 : 3000);
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 1, &n, NULL);
    float *xv = x.data, span = t % 5 == 0 ? 0.0f : (float)(1 << (t % 12));
    for (int64_t i = 0; i < n; i++)
        xv[i] = ((float)(next_u64() % 20001) / 10000.0f - (t % 3 ? 1.0f : 0.2f)) * span;
    if (t % 7 == 6 && n > 3)
        xv[n / 2] = 1e30f; /* huge range */
    if (t % 11 == 10 && n > 3)
        xv[n - 1] = NAN; /* both must refuse */
    const fy_tensor *in[1] = {&x};
    kh_node k;
    kh_init(&k, "DynamicQuantizeLinear", 11);
    int ok = same_as_ref(&k, 1, in, 3, 0, pool);
    fy_tensor_deinit(&x);
    return ok;
}

TEST(dynamic_quantize_matches_reference)
{
    sweep(dql_trial, 120);
}

/* QuantizeLinear, float32 with one scale: exact ties (k + 0.5) * s, NaN, infinities
 * and values far outside the range, to uint8 and int8, with and without a zero point. */
static int ql_trial(fy_pool *pool, int t)
{
    int64_t n = irand(0, t % 4 ? 70 : 5000);
    fy_tensor x = kh_alloc(FY_DTYPE_F32, 1, &n, NULL), s = kh_alloc(FY_DTYPE_F32, 0, NULL, NULL);
    float sc = t % 3 == 0 ? 0.25f : 0.0173f * (float)(1 + t % 5);
    ((float *)s.data)[0] = sc;
    float *xv = x.data;
    for (int64_t i = 0; i < n; i++) {
        int64_t k = irand(-300, 300);
        switch (next_u64() % 8) {
        case 0:
            xv[i] = ((float)k + 0.5f) * sc; /* a tie */
            break;
        case 1: xv[i] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY; break;
        case 2: xv[i] = (float)k * 1e7f; break;
        default: xv[i] = (float)k * sc * 0.37f;
        }
    }
    fy_tensor zp = rand_q8(t % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8, 0, NULL);
    const fy_tensor *in[3] = {&x, &s, t % 5 == 4 ? NULL : &zp};
    kh_node k;
    kh_init(&k, "QuantizeLinear", t % 2 ? 13 : 19);
    int ok = same_as_ref(&k, 3, in, 1, 0, pool);
    fy_tensor_deinit(&x);
    fy_tensor_deinit(&s);
    fy_tensor_deinit(&zp);
    return ok;
}

TEST(quantize_linear_matches_reference)
{
    sweep(ql_trial, 120);
}

/* MaxPool on uint8 and int8: the 2x2 stride-2 case and general windows. */
static int mp_trial(fy_pool *pool, int t)
{
    int64_t dims[4] = {irand(1, 3), irand(1, 4), irand(1, 19), irand(1, 19)};
    fy_tensor x = rand_q8(t % 2 ? FY_DTYPE_I8 : FY_DTYPE_U8, 4, dims);
    kh_node k;
    kh_init(&k, "MaxPool", 12);
    int64_t ks[2] = {t % 3 ? 2 : 3, t % 3 ? 2 : irand(1, 3)}, st[2] = {2, 2},
            pads[4] = {0, 0, 0, 0};
    if (t % 5 == 4)
        pads[0] = pads[3] = 1;
    if (ks[0] > dims[2] || ks[1] > dims[3]) {
        ks[0] = ks[1] = 1;
    }
    kh_attr_ints(&k, "kernel_shape", ks, 2);
    kh_attr_ints(&k, "strides", st, 2);
    kh_attr_ints(&k, "pads", pads, 4);
    const fy_tensor *in[1] = {&x};
    int ok = same_as_ref(&k, 1, in, 1, 0, pool);
    fy_tensor_deinit(&x);
    return ok;
}

TEST(maxpool_int8_matches_reference)
{
    sweep(mp_trial, 120);
}

int main(void)
{
    RUN(quantize_linear_matches_reference);
    RUN(maxpool_int8_matches_reference);
    RUN(matmul_integer_matches_reference);
    RUN(qlinear_matmul_matches_reference);
    RUN(conv_integer_matches_reference);
    RUN(qlinear_conv_matches_reference);
    RUN(dynamic_quantize_matches_reference);
    RUN(dequantizing_gemm_matches_int_gemm_then_scale);
    return TEST_SUMMARY();
}
