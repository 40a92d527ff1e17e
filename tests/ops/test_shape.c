/* SPDX-License-Identifier: MIT */
/* Unit tests for ops/ref/shape.c: hand-computed results for the data-movement
 * kernels and the errors they must return for hostile shapes and indices. */
#include <stdint.h>

#include "ops/kernel_harness.h"
#include "test.h"

static void kh_attr_tensor(kh_node *k, const char *name, fy_tensor *t)
{
    fy__attr *a = &k->attrs[k->node.n_attrs++];
    a->name = (char *)name;
    a->type = FY_ATTR_TENSOR;
    a->t = t;
}

/* Run a kernel after freeing what the previous run left in out: the engine frees
 * outputs of a failed node, so a kernel may return an error after allocating. */
static int krun(kh_node *k, int n_in, const fy_tensor *const *in, int n_out, fy_tensor *out,
                fy_diag *d)
{
    kh_free_outs(out, n_out);
    return kh_run(k, n_in, in, n_out, out, d);
}

#define FREE_ALL(o) kh_free_outs((o), (int)(sizeof(o) / sizeof((o)[0])))
#define F32(t, i) (((const float *)(t).data)[i])
#define I64(t, i) (((const int64_t *)(t).data)[i])

TEST(reshape_zero_and_infer)
{
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t xd[2] = {2, 3}, s[2] = {0, -1}, sd[1] = {2};
    fy_tensor in[2] = {kh_f32(x, 2, xd), kh_view(FY_DTYPE_I64, s, 1, sd)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Reshape", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(out[0].dims[1], 3);
    FY_CHECK_EQ(F32(out[0], 5), 5);
    kh_free_outs(out, 1);

    /* allowzero (opset 14): 0 is a real zero dimension, so 6 elements cannot fit. */
    k.node.opset = 14;
    kh_attr_int(&k, "allowzero", 1);
    s[1] = 3;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "cannot reshape");
    FREE_ALL(out);
}

TEST(reshape_errors)
{
    float x[6] = {0};
    int64_t xd[2] = {2, 3}, s[3] = {-1, -1, 1}, sd[1] = {3};
    fy_tensor in[2] = {kh_f32(x, 2, xd), kh_view(FY_DTYPE_I64, s, 1, sd)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Reshape", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "more than one -1");
    s[0] = 4;
    s[1] = 2;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "[4,2,1]");
    s[0] = -7;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "shape[0] = -7");
    /* Overflowing product must not wrap around to 6. */
    s[0] = INT64_MAX; /* (2^63-1) * 2 * (2^63-3) wraps to exactly 6 mod 2^64 */
    s[1] = 2;
    s[2] = INT64_MAX - 2;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    /* Opset 1-4 takes the shape from an attribute. */
    int64_t attr[2] = {3, 2};
    kh_init(&k, "Reshape", 4);
    kh_attr_ints(&k, "shape", attr, 2);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 3);
    kh_free_outs(out, 1);
    FREE_ALL(out);
}

TEST(transpose_and_perm_errors)
{
    float x[6] = {0, 1, 2, 3, 4, 5};
    int64_t xd[2] = {2, 3};
    fy_tensor in = kh_f32(x, 2, xd);
    const fy_tensor *ins[1] = {&in};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Transpose", 13);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 3);
    float want[6] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(F32(out[0], i), want[i]);
    kh_free_outs(out, 1);
    int64_t perm[2] = {0, 0};
    kh_attr_ints(&k, "perm", perm, 2);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "perm");
    FREE_ALL(out);
}

TEST(concat_and_split)
{
    float a[4] = {1, 2, 3, 4}, b[2] = {5, 6};
    int64_t ad[2] = {2, 2}, bd[2] = {2, 1};
    fy_tensor in[2] = {kh_f32(a, 2, ad), kh_f32(b, 2, bd)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[3] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Concat", 13);
    kh_attr_int(&k, "axis", -1);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    float want[6] = {1, 2, 5, 3, 4, 6};
    FY_CHECK_EQ(out[0].dims[1], 3);
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(F32(out[0], i), want[i]);

    /* Split it back along axis 1 with sizes [2, 1] from an input (opset 13). */
    fy_tensor cat = out[0];
    out[0] = (fy_tensor){0};
    int64_t sp[2] = {2, 1}, spd[1] = {2};
    fy_tensor spt = kh_view(FY_DTYPE_I64, sp, 1, spd);
    const fy_tensor *sins[2] = {&cat, &spt};
    kh_init(&k, "Split", 13);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(krun(&k, 2, sins, 2, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 2);
    FY_CHECK_EQ(F32(out[0], 2), 3);
    FY_CHECK_EQ(F32(out[1], 1), 6);
    kh_free_outs(out, 2);
    sp[0] = 3;
    FY_CHECK_EQ(krun(&k, 2, sins, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sum to 4");
    kh_free_outs(out, 2);

    /* Opset 18 num_outputs: 3 columns in 2 parts -> 2 and 1. */
    kh_init(&k, "Split", 18);
    kh_attr_int(&k, "axis", 1);
    kh_attr_int(&k, "num_outputs", 2);
    FY_CHECK_EQ(krun(&k, 1, sins, 2, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 2);
    FY_CHECK_EQ(out[1].dims[1], 1);
    kh_free_outs(out, 2);
    /* No sizes and uneven before opset 18: error. */
    kh_init(&k, "Split", 13);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(krun(&k, 1, sins, 2, out, &d), FY_EINVAL);
    kh_free_outs(out, 2);
    fy_tensor_deinit(&cat);

    /* Concat shape mismatch. */
    bd[0] = 3;
    in[1] = kh_f32(b, 2, bd);
    kh_init(&k, "Concat", 13);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1 has shape [3,1]");
    FREE_ALL(out);
}

TEST(slice_steps_and_clamping)
{
    float x[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int64_t xd[1] = {10}, one[1] = {1};
    int64_t st[1] = {INT64_MAX}, en[1] = {INT64_MIN}, ax[1] = {0}, sp[1] = {-3};
    fy_tensor in[5] = {kh_f32(x, 1, xd), kh_view(FY_DTYPE_I64, st, 1, one),
                       kh_view(FY_DTYPE_I64, en, 1, one), kh_view(FY_DTYPE_I64, ax, 1, one),
                       kh_view(FY_DTYPE_I64, sp, 1, one)};
    const fy_tensor *ins[5] = {&in[0], &in[1], &in[2], &in[3], &in[4]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Slice", 13);
    /* start clamps to 9, end to -1: 9, 6, 3, 0 */
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 4);
    FY_CHECK_EQ(F32(out[0], 0), 9);
    FY_CHECK_EQ(F32(out[0], 3), 0);
    kh_free_outs(out, 1);
    /* Huge negative step: one element. */
    sp[0] = INT64_MIN;
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 1);
    FY_CHECK_EQ(F32(out[0], 0), 9);
    kh_free_outs(out, 1);
    /* Positive step from -3 to the end by 2: 7, 9 */
    st[0] = -3;
    en[0] = INT64_MAX;
    sp[0] = 2;
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(F32(out[0], 1), 9);
    kh_free_outs(out, 1);
    sp[0] = 0;
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "steps[0] is 0");
    sp[0] = 1;
    ax[0] = 1;
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis 1");
    /* Opset 1: attributes. */
    int64_t as[1] = {2}, ae[1] = {4};
    kh_init(&k, "Slice", 9);
    kh_attr_ints(&k, "starts", as, 1);
    kh_attr_ints(&k, "ends", ae, 1);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(F32(out[0], 0), 2);
    kh_free_outs(out, 1);
    FREE_ALL(out);
}

TEST(squeeze_unsqueeze_flatten)
{
    float x[6] = {0};
    int64_t xd[3] = {1, 6, 1}, ax[1] = {-1}, one[1] = {1};
    fy_tensor in[2] = {kh_f32(x, 3, xd), kh_view(FY_DTYPE_I64, ax, 1, one)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Squeeze", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 2);
    kh_free_outs(out, 1);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK); /* no axes: all 1s */
    FY_CHECK_EQ(out[0].rank, 1);
    kh_free_outs(out, 1);
    ax[0] = 1;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not 1");

    int64_t uax[2] = {0, -1};
    kh_init(&k, "Unsqueeze", 11);
    kh_attr_ints(&k, "axes", uax, 2);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 5);
    FY_CHECK_EQ(out[0].dims[0], 1);
    FY_CHECK_EQ(out[0].dims[2], 6);
    FY_CHECK_EQ(out[0].dims[4], 1);
    kh_free_outs(out, 1);
    int64_t many[6] = {0, 1, 2, 3, 4, 5};
    kh_init(&k, "Unsqueeze", 11);
    kh_attr_ints(&k, "axes", many, 6);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_ELIMIT);

    kh_init(&k, "Flatten", 13);
    kh_attr_int(&k, "axis", -1);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 6);
    FY_CHECK_EQ(out[0].dims[1], 1);
    kh_free_outs(out, 1);
    kh_init(&k, "Flatten", 13);
    kh_attr_int(&k, "axis", 4);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(expand_shape_size)
{
    float x[3] = {1, 2, 3};
    int64_t xd[2] = {3, 1}, s[3] = {2, 1, 2}, sd[1] = {3};
    fy_tensor in[2] = {kh_f32(x, 2, xd), kh_view(FY_DTYPE_I64, s, 1, sd)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Expand", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 3);
    FY_CHECK_EQ(out[0].dims[1], 3);
    FY_CHECK_EQ(fy_tensor_numel(&out[0]), 12);
    FY_CHECK_EQ(F32(out[0], 3), 2);
    FY_CHECK_EQ(F32(out[0], 11), 3);
    kh_free_outs(out, 1);
    s[1] = 4;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    s[1] = 1;
    s[0] = INT64_MAX; /* must fail in the allocator's size check, not wrap */
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_ELIMIT);

    kh_init(&k, "Shape", 15);
    kh_attr_int(&k, "start", -1);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 1);
    FY_CHECK_EQ(I64(out[0], 0), 1);
    kh_free_outs(out, 1);
    kh_init(&k, "Size", 13);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_EQ(I64(out[0], 0), 3);
    kh_free_outs(out, 1);
    FREE_ALL(out);
}

TEST(gather_and_bad_indices)
{
    int32_t x[6] = {10, 11, 12, 13, 14, 15};
    int64_t xd[2] = {3, 2}, ind[2] = {-1, 0}, id[1] = {2};
    fy_tensor in[2] = {kh_view(FY_DTYPE_I32, x, 2, xd), kh_view(FY_DTYPE_I64, ind, 1, id)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Gather", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    const int32_t *y = out[0].data;
    FY_CHECK_EQ(y[0], 14);
    FY_CHECK_EQ(y[1], 15);
    FY_CHECK_EQ(y[2], 10);
    kh_free_outs(out, 1);
    ind[1] = 3;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index 3");
    FY_CHECK_CONTAINS(d.msg, "axis 0");
    ind[1] = -4;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index -4");
    ind[1] = INT64_MIN;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    /* Float indices are refused. */
    float fi[2] = {0, 1};
    in[1] = kh_view(FY_DTYPE_F32, fi, 1, id);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "int32 or int64");
    /* Output rank 5 - 1 + 5 = 9 is over the limit. */
    int64_t big[5] = {1, 1, 1, 1, 1}, zero = 0;
    in[0] = kh_view(FY_DTYPE_I32, x, 5, big);
    in[1] = kh_view(FY_DTYPE_I64, &zero, 5, big);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_ELIMIT);
    FREE_ALL(out);
}

TEST(gather_elements_nd)
{
    float x[4] = {1, 2, 3, 4};
    int64_t xd[2] = {2, 2}, ind[4] = {0, 0, 1, 0};
    fy_tensor in[2] = {kh_f32(x, 2, xd), kh_view(FY_DTYPE_I64, ind, 2, xd)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "GatherElements", 13);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    float want[4] = {1, 1, 4, 3};
    for (int i = 0; i < 4; i++)
        FY_CHECK_EQ(F32(out[0], i), want[i]);
    kh_free_outs(out, 1);
    ind[3] = 2;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index 2 is out of range for axis 1");

    /* GatherND with batch_dims 1: data [2,2], indices [2,1] -> [x[0][1], x[1][0]] */
    int64_t nd[2] = {1, 0}, ndd[2] = {2, 1};
    in[1] = kh_view(FY_DTYPE_I64, nd, 2, ndd);
    kh_init(&k, "GatherND", 13);
    kh_attr_int(&k, "batch_dims", 1);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(F32(out[0], 0), 2);
    FY_CHECK_EQ(F32(out[0], 1), 3);
    kh_free_outs(out, 1);
    nd[1] = -3;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index -3");
    /* Last indices dimension larger than the data rank. */
    int64_t nd3[3] = {0, 0, 0}, nd3d[1] = {3};
    in[1] = kh_view(FY_DTYPE_I64, nd3, 1, nd3d);
    kh_init(&k, "GatherND", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(scatter_reductions)
{
    float x[4] = {1, 2, 3, 4}, u[2] = {10, 20};
    int64_t xd[1] = {4}, ind[2] = {1, -3}, id[1] = {2};
    fy_tensor in[3] = {kh_f32(x, 1, xd), kh_view(FY_DTYPE_I64, ind, 1, id), kh_f32(u, 1, id)};
    const fy_tensor *ins[3] = {&in[0], &in[1], &in[2]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "ScatterElements", 16);
    kh_attr_str(&k, "reduction", "add");
    /* both indices hit element 1: 2 + 10 + 20 */
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(F32(out[0], 1), 32);
    FY_CHECK_EQ(F32(out[0], 0), 1);
    FY_CHECK_EQ(x[1], 2); /* input untouched */
    kh_free_outs(out, 1);
    kh_init(&k, "ScatterElements", 18);
    kh_attr_str(&k, "reduction", "max");
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(F32(out[0], 1), 20);
    kh_free_outs(out, 1);
    kh_init(&k, "ScatterElements", 18);
    kh_attr_str(&k, "reduction", "avg");
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "avg");
    kh_init(&k, "Scatter", 9);
    ind[0] = 4;
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "index 4");
    kh_free_outs(out, 1);

    /* ScatterND mul on int64 with wrap-around (no UB). */
    int64_t xi[2] = {INT64_MAX, 3}, ui[1] = {2}, ni[1] = {0}, nd[2] = {1, 1}, two[1] = {2};
    fy_tensor in2[3] = {kh_view(FY_DTYPE_I64, xi, 1, two), kh_view(FY_DTYPE_I64, ni, 2, nd),
                        kh_view(FY_DTYPE_I64, ui, 1, nd)};
    const fy_tensor *ins2[3] = {&in2[0], &in2[1], &in2[2]};
    kh_init(&k, "ScatterND", 16);
    kh_attr_str(&k, "reduction", "mul");
    FY_CHECK_EQ(krun(&k, 3, ins2, 1, out, &d), FY_OK);
    FY_CHECK_EQ(I64(out[0], 0), -2);
    FY_CHECK_EQ(I64(out[0], 1), 3);
    kh_free_outs(out, 1);
    /* updates of the wrong shape */
    in2[2] = kh_view(FY_DTYPE_I64, xi, 1, two);
    FY_CHECK_EQ(krun(&k, 3, ins2, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "updates has shape [2]");
    FREE_ALL(out);
}

TEST(tile_range_constant_of_shape)
{
    uint8_t x[2] = {7, 8};
    int64_t xd[1] = {2}, rep[1] = {3}, one[1] = {1};
    fy_tensor in[2] = {kh_view(FY_DTYPE_U8, x, 1, xd), kh_view(FY_DTYPE_I64, rep, 1, one)};
    const fy_tensor *ins[2] = {&in[0], &in[1]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Tile", 13);
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 6);
    FY_CHECK_EQ(((uint8_t *)out[0].data)[5], 8);
    kh_free_outs(out, 1);
    rep[0] = INT64_MAX;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_ELIMIT);
    rep[0] = -1;
    FY_CHECK_EQ(krun(&k, 2, ins, 1, out, &d), FY_EINVAL);

    int32_t s = 10, l = 1, dl = -3;
    fy_tensor r[3] = {kh_view(FY_DTYPE_I32, &s, 0, NULL), kh_view(FY_DTYPE_I32, &l, 0, NULL),
                      kh_view(FY_DTYPE_I32, &dl, 0, NULL)};
    const fy_tensor *rins[3] = {&r[0], &r[1], &r[2]};
    kh_init(&k, "Range", 11);
    FY_CHECK_EQ(krun(&k, 3, rins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 3); /* 10, 7, 4 */
    FY_CHECK_EQ(((int32_t *)out[0].data)[2], 4);
    kh_free_outs(out, 1);
    dl = 0;
    FY_CHECK_EQ(krun(&k, 3, rins, 1, out, &d), FY_EINVAL);
    int64_t s64 = INT64_MIN, l64 = INT64_MAX, d64 = 1;
    fy_tensor r64[3] = {kh_view(FY_DTYPE_I64, &s64, 0, NULL), kh_view(FY_DTYPE_I64, &l64, 0, NULL),
                        kh_view(FY_DTYPE_I64, &d64, 0, NULL)};
    const fy_tensor *r64ins[3] = {&r64[0], &r64[1], &r64[2]};
    FY_CHECK_EQ(krun(&k, 3, r64ins, 1, out, &d), FY_ELIMIT);
    float fs = 0, fl = 1e30f, fd = 1e-30f;
    fy_tensor rf[3] = {kh_view(FY_DTYPE_F32, &fs, 0, NULL), kh_view(FY_DTYPE_F32, &fl, 0, NULL),
                       kh_view(FY_DTYPE_F32, &fd, 0, NULL)};
    const fy_tensor *rfins[3] = {&rf[0], &rf[1], &rf[2]};
    FY_CHECK_EQ(krun(&k, 3, rfins, 1, out, &d), FY_ELIMIT);
    fl = 1;
    fd = 0.25f;
    FY_CHECK_EQ(krun(&k, 3, rfins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 4);
    FY_CHECK_NEAR(F32(out[0], 3), 0.75, 1e-7);
    kh_free_outs(out, 1);

    int64_t shape[2] = {2, 3}, sd[1] = {2};
    int32_t v = 9;
    fy_tensor val = kh_view(FY_DTYPE_I32, &v, 1, one);
    fy_tensor sh = kh_view(FY_DTYPE_I64, shape, 1, sd);
    const fy_tensor *cins[1] = {&sh};
    kh_init(&k, "ConstantOfShape", 9);
    kh_attr_tensor(&k, "value", &val);
    FY_CHECK_EQ(krun(&k, 1, cins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I32);
    FY_CHECK_EQ(((int32_t *)out[0].data)[5], 9);
    kh_free_outs(out, 1);
    shape[0] = shape[1] = INT64_C(1) << 40;
    FY_CHECK_EQ(krun(&k, 1, cins, 1, out, &d), FY_ELIMIT);
    shape[0] = -2;
    FY_CHECK_EQ(krun(&k, 1, cins, 1, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(constant_attrs)
{
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    int64_t v[3] = {4, 5, 6};
    kh_init(&k, "Constant", 13);
    kh_attr_ints(&k, "value_ints", v, 3);
    FY_CHECK_EQ(krun(&k, 0, NULL, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I64);
    FY_CHECK_EQ(I64(out[0], 2), 6);
    kh_free_outs(out, 1);
    kh_init(&k, "Constant", 13);
    kh_attr_float(&k, "value_float", 2.5f);
    FY_CHECK_EQ(krun(&k, 0, NULL, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 0);
    FY_CHECK_EQ(F32(out[0], 0), 2.5);
    kh_free_outs(out, 1);
    kh_attr_int(&k, "value_int", 1);
    FY_CHECK_EQ(krun(&k, 0, NULL, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "exactly one");
    kh_init(&k, "Constant", 13);
    kh_attr_str(&k, "value_string", "hi");
    FY_CHECK_EQ(krun(&k, 0, NULL, 1, out, &d), FY_EUNSUPPORTED);
    kh_init(&k, "Constant", 13);
    FY_CHECK_EQ(krun(&k, 0, NULL, 1, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(depth_space_roundtrip)
{
    /* [1, 8, 1, 1] -> DepthToSpace(2) -> [1, 2, 2, 2] -> SpaceToDepth(2) back. */
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t xd[4] = {1, 8, 1, 1};
    fy_tensor in = kh_f32(x, 4, xd);
    const fy_tensor *ins[1] = {&in};
    fy_tensor out[1] = {{0}}, back[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k, k2;
    kh_init(&k, "DepthToSpace", 13);
    kh_attr_int(&k, "blocksize", 2);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 2);
    FY_CHECK_EQ(out[0].dims[3], 2);
    /* DCR: out[0][c][i][j] = in[(i*2+j)*2 + c] -> channel 0 is 0, 2, 4, 6 */
    float want[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int i = 0; i < 8; i++)
        FY_CHECK_EQ(F32(out[0], i), want[i]);
    const fy_tensor *bins[1] = {&out[0]};
    kh_init(&k2, "SpaceToDepth", 13);
    kh_attr_int(&k2, "blocksize", 2);
    FY_CHECK_EQ(krun(&k2, 1, bins, 1, back, &d), FY_OK);
    for (int i = 0; i < 8; i++)
        FY_CHECK_EQ(F32(back[0], i), x[i]);
    kh_free_outs(out, 1);
    kh_free_outs(back, 1);
    /* CRD: channel c's block is in channels c*4 .. c*4+3, so this is identity order. */
    kh_attr_str(&k, "mode", "CRD");
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    for (int i = 0; i < 8; i++)
        FY_CHECK_EQ(F32(out[0], i), x[i]);
    kh_free_outs(out, 1);
    kh_init(&k, "DepthToSpace", 13);
    kh_attr_int(&k, "blocksize", 3);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_EINVAL);
    kh_init(&k, "DepthToSpace", 13);
    kh_attr_int(&k, "blocksize", INT64_C(1) << 40);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(onehot_trilu_eyelike)
{
    int64_t ind[3] = {1, -1, 5}, id[1] = {3}, two[1] = {2};
    float depth = 3, vals[2] = {0, 1};
    fy_tensor in[3] = {kh_view(FY_DTYPE_I64, ind, 1, id), kh_view(FY_DTYPE_F32, &depth, 0, NULL),
                       kh_f32(vals, 1, two)};
    const fy_tensor *ins[3] = {&in[0], &in[1], &in[2]};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "OneHot", 11);
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_OK);
    float want[9] = {0, 1, 0, 0, 0, 1, 0, 0, 0}; /* 5 is out of range: all off */
    for (int i = 0; i < 9; i++)
        FY_CHECK_EQ(F32(out[0], i), want[i]);
    kh_free_outs(out, 1);
    depth = -1;
    FY_CHECK_EQ(krun(&k, 3, ins, 1, out, &d), FY_EINVAL);

    float m[6] = {1, 2, 3, 4, 5, 6};
    int64_t md[2] = {2, 3}, kk = 1;
    fy_tensor tin[2] = {kh_f32(m, 2, md), kh_view(FY_DTYPE_I64, &kk, 0, NULL)};
    const fy_tensor *tins[2] = {&tin[0], &tin[1]};
    kh_init(&k, "Trilu", 14);
    FY_CHECK_EQ(krun(&k, 2, tins, 1, out, &d), FY_OK);
    float up[6] = {0, 2, 3, 0, 0, 6};
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(F32(out[0], i), up[i]);
    kh_free_outs(out, 1);
    kk = INT64_MIN;
    kh_attr_int(&k, "upper", 0);
    FY_CHECK_EQ(krun(&k, 2, tins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(F32(out[0], 0), 0);
    kh_free_outs(out, 1);

    kh_init(&k, "EyeLike", 9);
    kh_attr_int(&k, "k", -1);
    kh_attr_int(&k, "dtype", FY_DTYPE_I32);
    FY_CHECK_EQ(krun(&k, 1, tins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dtype, FY_DTYPE_I32);
    FY_CHECK_EQ(((int32_t *)out[0].data)[3], 1);
    FY_CHECK_EQ(((int32_t *)out[0].data)[0], 0);
    kh_free_outs(out, 1);
    kh_init(&k, "EyeLike", 9);
    kh_attr_int(&k, "dtype", 8); /* string */
    FY_CHECK_EQ(krun(&k, 1, tins, 1, out, &d), FY_EUNSUPPORTED);
    FREE_ALL(out);
}

TEST(nonzero_compress_reverse)
{
    float x[6] = {0, 1, 0, -0.0f, 2, NAN};
    int64_t xd[2] = {2, 3};
    fy_tensor in = kh_f32(x, 2, xd);
    const fy_tensor *ins[1] = {&in};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "NonZero", 13);
    FY_CHECK_EQ(krun(&k, 1, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(out[0].dims[1], 3); /* (0,1) (1,1) (1,2) */
    int64_t want[6] = {0, 1, 1, 1, 1, 2};
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(I64(out[0], i), want[i]);
    kh_free_outs(out, 1);

    uint8_t cond[2] = {0, 1};
    int64_t cd[1] = {2};
    fy_tensor cin[2] = {in, kh_view(FY_DTYPE_BOOL, cond, 1, cd)};
    const fy_tensor *cins[2] = {&cin[0], &cin[1]};
    kh_init(&k, "Compress", 11);
    kh_attr_int(&k, "axis", 1);
    FY_CHECK_EQ(krun(&k, 2, cins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[1], 1);
    FY_CHECK_EQ(F32(out[0], 1), 2);
    kh_free_outs(out, 1);
    kh_init(&k, "Compress", 11);
    FY_CHECK_EQ(krun(&k, 2, cins, 1, out, &d), FY_OK); /* flattened */
    FY_CHECK_EQ(out[0].dims[0], 1);
    FY_CHECK_EQ(F32(out[0], 0), 1);
    kh_free_outs(out, 1);
    uint8_t cond4[4] = {1, 1, 1, 1};
    int64_t c4[1] = {4};
    cin[1] = kh_view(FY_DTYPE_BOOL, cond4, 1, c4);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(krun(&k, 2, cins, 1, out, &d), FY_EINVAL);

    /* ReverseSequence: time_axis 1, batch_axis 0, lens [2, 1] */
    int64_t lens[2] = {2, 1}, ld[1] = {2};
    fy_tensor rin[2] = {in, kh_view(FY_DTYPE_I64, lens, 1, ld)};
    const fy_tensor *rins[2] = {&rin[0], &rin[1]};
    kh_init(&k, "ReverseSequence", 10);
    kh_attr_int(&k, "time_axis", 1);
    kh_attr_int(&k, "batch_axis", 0);
    FY_CHECK_EQ(krun(&k, 2, rins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(F32(out[0], 0), 1); /* row 0, first 2 reversed: 0, 1, 0 -> 1, 0, 0 */
    FY_CHECK_EQ(F32(out[0], 1), 0);
    FY_CHECK_EQ(F32(out[0], 4), 2); /* row 1 unchanged */
    kh_free_outs(out, 1);
    lens[1] = 4;
    FY_CHECK_EQ(krun(&k, 2, rins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "sequence_lens[1] = 4");
    FREE_ALL(out);
}

TEST(unique_sorted_and_not)
{
    float x[6] = {2, 1, 1, 3, 4, 3};
    int64_t xd[1] = {6};
    fy_tensor in = kh_f32(x, 1, xd);
    const fy_tensor *ins[1] = {&in};
    fy_tensor out[4] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    kh_init(&k, "Unique", 11);
    FY_CHECK_EQ(krun(&k, 1, ins, 4, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 4);
    float y[4] = {1, 2, 3, 4};
    int64_t first[4] = {1, 0, 3, 4}, inv[6] = {1, 0, 0, 2, 3, 2}, cnt[4] = {2, 1, 2, 1};
    for (int i = 0; i < 4; i++) {
        FY_CHECK_EQ(F32(out[0], i), y[i]);
        FY_CHECK_EQ(I64(out[1], i), first[i]);
        FY_CHECK_EQ(I64(out[3], i), cnt[i]);
    }
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(I64(out[2], i), inv[i]);
    kh_free_outs(out, 4);

    kh_attr_int(&k, "sorted", 0);
    FY_CHECK_EQ(krun(&k, 1, ins, 4, out, &d), FY_OK);
    float y2[4] = {2, 1, 3, 4};
    int64_t inv2[6] = {0, 1, 1, 2, 3, 2};
    for (int i = 0; i < 4; i++)
        FY_CHECK_EQ(F32(out[0], i), y2[i]);
    for (int i = 0; i < 6; i++)
        FY_CHECK_EQ(I64(out[2], i), inv2[i]);
    kh_free_outs(out, 4);

    /* With axis 0 on [[1,0],[1,0],[0,5]]: rows [0,5] and [1,0]. */
    float m[6] = {1, 0, 1, 0, 0, 5};
    int64_t md[2] = {3, 2};
    in = kh_f32(m, 2, md);
    kh_init(&k, "Unique", 11);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(krun(&k, 1, ins, 4, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    FY_CHECK_EQ(F32(out[0], 1), 5);
    FY_CHECK_EQ(I64(out[1], 0), 2);
    FY_CHECK_EQ(I64(out[3], 1), 2);
    kh_free_outs(out, 4);
    kh_init(&k, "Unique", 11);
    kh_attr_int(&k, "axis", 2);
    FY_CHECK_EQ(krun(&k, 1, ins, 4, out, &d), FY_EINVAL);
    FREE_ALL(out);
}

TEST(empty_and_extreme)
{
    fy_tensor out[4] = {{0}};
    fy_diag d = {{0}};
    kh_node k;
    /* Slice with a negative step over a zero-length axis: empty, not one element. */
    float x[1] = {0};
    int64_t zd[2] = {0, 1}, one[1] = {1}, st[1] = {-1}, en[1] = {INT64_MIN}, ax[1] = {0},
            sp[1] = {-1};
    fy_tensor in[5] = {kh_f32(x, 2, zd), kh_view(FY_DTYPE_I64, st, 1, one),
                       kh_view(FY_DTYPE_I64, en, 1, one), kh_view(FY_DTYPE_I64, ax, 1, one),
                       kh_view(FY_DTYPE_I64, sp, 1, one)};
    const fy_tensor *ins[5] = {&in[0], &in[1], &in[2], &in[3], &in[4]};
    kh_init(&k, "Slice", 13);
    FY_CHECK_EQ(krun(&k, 5, ins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 0);
    /* Gather on a zero-length axis: any index is out of range. */
    int64_t gi = 0;
    fy_tensor gin[2] = {kh_f32(x, 2, zd), kh_view(FY_DTYPE_I64, &gi, 0, NULL)};
    const fy_tensor *gins[2] = {&gin[0], &gin[1]};
    kh_init(&k, "Gather", 13);
    FY_CHECK_EQ(krun(&k, 2, gins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "size 0");
    /* Unique of nothing: four empty outputs. */
    int64_t z1[1] = {0};
    fy_tensor uin = kh_f32(x, 1, z1);
    const fy_tensor *uins[1] = {&uin};
    kh_init(&k, "Unique", 11);
    FY_CHECK_EQ(krun(&k, 1, uins, 4, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 0);
    FY_CHECK_EQ(out[2].dims[0], 0);
    /* Range over the whole int64 line in 4 steps, without signed overflow. */
    int64_t s64 = INT64_MIN, l64 = INT64_MAX, d64 = INT64_C(1) << 62;
    fy_tensor r[3] = {kh_view(FY_DTYPE_I64, &s64, 0, NULL), kh_view(FY_DTYPE_I64, &l64, 0, NULL),
                      kh_view(FY_DTYPE_I64, &d64, 0, NULL)};
    const fy_tensor *rins[3] = {&r[0], &r[1], &r[2]};
    kh_init(&k, "Range", 11);
    FY_CHECK_EQ(krun(&k, 3, rins, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 4);
    FY_CHECK_EQ(I64(out[0], 3), INT64_C(1) << 62);
    /* Mixed dtypes in Concat; GatherND batch mismatch; Trilu on a vector. */
    int32_t xi[1] = {0};
    fy_tensor cin[2] = {kh_f32(x, 1, one), kh_view(FY_DTYPE_I32, xi, 1, one)};
    const fy_tensor *cins[2] = {&cin[0], &cin[1]};
    kh_init(&k, "Concat", 13);
    kh_attr_int(&k, "axis", 0);
    FY_CHECK_EQ(krun(&k, 2, cins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 1 is int32");
    kh_init(&k, "Trilu", 14);
    FY_CHECK_EQ(krun(&k, 1, cins, 1, out, &d), FY_EINVAL);
    float m[4] = {0};
    int64_t md[2] = {2, 2}, nid[2] = {3, 1}, nidx[3] = {0, 0, 0};
    fy_tensor nin[2] = {kh_f32(m, 2, md), kh_view(FY_DTYPE_I64, nidx, 2, nid)};
    const fy_tensor *nins[2] = {&nin[0], &nin[1]};
    kh_init(&k, "GatherND", 13);
    kh_attr_int(&k, "batch_dims", 1);
    FY_CHECK_EQ(krun(&k, 2, nins, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "batch dimension 0");
    FREE_ALL(out);
}

int main(void)
{
    RUN(reshape_zero_and_infer);
    RUN(reshape_errors);
    RUN(transpose_and_perm_errors);
    RUN(concat_and_split);
    RUN(slice_steps_and_clamping);
    RUN(squeeze_unsqueeze_flatten);
    RUN(expand_shape_size);
    RUN(gather_and_bad_indices);
    RUN(gather_elements_nd);
    RUN(scatter_reductions);
    RUN(tile_range_constant_of_shape);
    RUN(constant_attrs);
    RUN(depth_space_roundtrip);
    RUN(onehot_trilu_eyelike);
    RUN(nonzero_compress_reverse);
    RUN(unique_sorted_and_not);
    RUN(empty_and_extreme);
    return TEST_SUMMARY();
}
