/* SPDX-License-Identifier: MIT */
/* The executor: outputs that alias inputs, initializers or each other, unused
 * results, input checks, kernel failures mid-graph, and repeated runs. */
#include "core/core.h"
#include "core/pool.h"
#include "model_builder.h"
#include "ops/kernel_harness.h"
#include "test.h"

static const int64_t d3[1] = {3};

TEST(outputs_may_alias_inputs_initializers_and_each_other)
{
    gb g;
    gb_init(&g, "alias");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    float w[3] = {10, 20, 30};
    gb_init_f32(&g, "w", 1, d3, w, 3);
    gb_node(&g, "Relu", 1, 1, "x", "r");
    gb_output(&g, "x", FY_DTYPE_F32, 1, d3); /* a graph input */
    gb_output(&g, "w", FY_DTYPE_F32, 1, d3); /* an initializer */
    gb_output(&g, "r", FY_DTYPE_F32, 1, d3); /* a node result ... */
    gb_output(&g, "r", FY_DTYPE_F32, 1, d3); /* ... listed twice */
    fy_diag d;
    float xv[3] = {-1, 2, -3};
    fy_tensor x = kh_f32(xv, 1, d3), out[4];
    FY_CHECK_EQ(run_model(&g, 13, 1, &x, 4, out, &d), FY_OK);
    FY_CHECK_NEAR(((float *)out[0].data)[0], -1, 0);
    FY_CHECK_NEAR(((float *)out[1].data)[2], 30, 0);
    FY_CHECK_NEAR(((float *)out[2].data)[1], 2, 0);
    FY_CHECK_NEAR(((float *)out[3].data)[0], 0, 0);
    /* every output is its own owned buffer */
    FY_CHECK(out[0].data != (void *)xv && out[1].data != (void *)w);
    FY_CHECK(out[2].data != out[3].data);
    for (int i = 0; i < 4; i++) {
        FY_CHECK(out[i].owns);
        fy_tensor_deinit(&out[i]);
    }
}

TEST(unused_results_and_fewer_outputs_requested)
{
    gb g;
    gb_init(&g, "unused");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    gb_node(&g, "Neg", 1, 1, "x", "dead"); /* nobody reads it */
    gb_node(&g, "Abs", 1, 1, "x", "a");
    gb_node(&g, "Exp", 1, 1, "x", "e");
    gb_output(&g, "a", FY_DTYPE_F32, 1, d3);
    gb_output(&g, "e", FY_DTYPE_F32, 1, d3);
    fy_diag d;
    float xv[3] = {-1, 0, 1};
    fy_tensor x = kh_f32(xv, 1, d3), out[1];
    FY_CHECK_EQ(run_model(&g, 13, 1, &x, 1, out, &d), FY_OK);
    FY_CHECK_NEAR(((float *)out[0].data)[0], 1, 0);
    fy_tensor_deinit(&out[0]);
    fy_tensor more[3];
    FY_CHECK_EQ(run_model(&g, 13, 1, &x, 3, more, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "3 outputs requested");
}

TEST(inputs_are_checked_against_declarations)
{
    gb g;
    gb_init(&g, "check");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    gb_node(&g, "Relu", 1, 1, "x", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 1, d3);
    fy_diag d;
    fy_model *m = gb_load(&g, 13, &d);
    fy_session *s = NULL;
    FY_CHECK(m != NULL);
    if (!m)
        return;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    float v[4] = {0};
    int64_t d4[1] = {4}, d13[2] = {1, 3};
    fy_tensor out, t = kh_f32(v, 1, d4);
    FY_CHECK_EQ(fy_session_run(s, 1, &t, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "dimension 0 must be 3");
    t = kh_f32(v, 2, d13);
    FY_CHECK_EQ(fy_session_run(s, 1, &t, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "expected rank 1");
    t = kh_f32(v, 1, d3);
    t.dtype = FY_DTYPE_F64;
    FY_CHECK_EQ(fy_session_run(s, 1, &t, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "expected float32");
    FY_CHECK_EQ(fy_session_run(s, 0, NULL, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "input 'x' is missing");
    /* the session is still good after failures, and repeated runs agree */
    for (int k = 0; k < 3; k++) {
        v[1] = (float)k;
        t = kh_f32(v, 1, d3);
        FY_CHECK_EQ(fy_session_run(s, 1, &t, 1, &out, &d), FY_OK);
        FY_CHECK_NEAR(((float *)out.data)[1], k, 0);
        fy_tensor_deinit(&out);
    }
    fy_session_free(s);
    fy_model_free(m);
}

TEST(a_kernel_failure_mid_graph_names_the_node_and_leaks_nothing)
{
    gb g;
    gb_init(&g, "fail");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    int64_t d2[1] = {2};
    gb_input(&g, "z", FY_DTYPE_F32, 1, d2);
    gb_node(&g, "Relu", 1, 1, "x", "a");
    gb_node(&g, "Add", 2, 1, "a", "z", "b"); /* [3] + [2] cannot broadcast */
    gb_node(&g, "Neg", 1, 1, "b", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 1, d3);
    fy_diag d;
    float xv[3] = {1, 2, 3}, zv[2] = {1, 2};
    fy_tensor in[2] = {kh_f32(xv, 1, d3), kh_f32(zv, 1, d2)}, out;
    FY_CHECK_EQ(run_model(&g, 13, 2, in, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "(Add)");
    FY_CHECK_CONTAINS(d.msg, "broadcast");
}

TEST(allocation_failures_during_a_run_are_enomem)
{
    gb g;
    gb_init(&g, "oom");
    gb_input(&g, "x", FY_DTYPE_F32, 1, d3);
    gb_node(&g, "Relu", 1, 1, "x", "a");
    gb_node(&g, "Exp", 1, 1, "a", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 1, d3);
    fy_diag d;
    fy_model *m = gb_load(&g, 13, &d);
    fy_session *s = NULL;
    FY_CHECK(m != NULL);
    if (!m || fy_session_create(&s, m, NULL, &d) != FY_OK) {
        fy_model_free(m);
        FY_CHECK(0);
        return;
    }
    float xv[3] = {1, 2, 3};
    fy_tensor x = kh_f32(xv, 1, d3), out;
    int ok = 0;
    for (long n = 1; n < 50 && !ok; n++) {
        fy__alloc_fail_at(n);
        int rc = fy_session_run(s, 1, &x, 1, &out, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            ok = 1;
            fy_tensor_deinit(&out);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
        }
    }
    FY_CHECK(ok);
    fy_session_free(s);
    fy_model_free(m);
}

TEST(options_pick_threads_pool_and_reference_kernels)
{
    gb g;
    gb_init(&g, "opts");
    int64_t dx[2] = {2, 3}, dw[2] = {3, 2}, dy[2] = {2, 2};
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    float w[6] = {1, 2, 3, 4, 5, 6};
    gb_init_f32(&g, "w", 2, dw, w, 6);
    gb_node(&g, "MatMul", 2, 1, "x", "w", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dy);
    fy_diag d;
    fy_model *m = gb_load(&g, 13, &d);
    FY_CHECK(m != NULL);
    if (!m)
        return;
    fy_pool *shared = NULL;
    FY_CHECK_EQ(fy_pool_create(&shared, 2, &d), FY_OK);
    fy_session_opts opts[] = {
        {0}, {.threads = 1}, {.threads = 2}, {.pool = shared}, {.threads = 2, .reference = 1}};
    float xv[6] = {1, 0, -1, 2, 1, 0};
    fy_tensor x = kh_f32(xv, 2, dx);
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        fy_session *s = NULL;
        fy_tensor out;
        FY_CHECK_EQ(fy_session_create(&s, m, &opts[k], &d), FY_OK);
        FY_CHECK_EQ(fy_session_run(s, 1, &x, 1, &out, &d), FY_OK);
        /* [1 0 -1; 2 1 0] x [1 2; 3 4; 5 6] */
        const float want[4] = {-4, -4, 5, 8};
        for (int i = 0; i < 4; i++)
            FY_CHECK_NEAR(((float *)out.data)[i], want[i], 0);
        fy_tensor_deinit(&out);
        fy_session_free(s);
    }
    fy_session *s = NULL;
    fy_session_opts bad = {.threads = -2};
    FY_CHECK_EQ(fy_session_create(&s, m, &bad, &d), FY_EINVAL);
    FY_CHECK(s == NULL);
    fy_pool_free(shared);
    fy_model_free(m);
}

int main(void)
{
    RUN(outputs_may_alias_inputs_initializers_and_each_other);
    RUN(unused_results_and_fewer_outputs_requested);
    RUN(inputs_are_checked_against_declarations);
    RUN(a_kernel_failure_mid_graph_names_the_node_and_leaks_nothing);
    RUN(allocation_failures_during_a_run_are_enomem);
    RUN(options_pick_threads_pool_and_reference_kernels);
    return TEST_SUMMARY();
}
