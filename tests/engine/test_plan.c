/* SPDX-License-Identifier: MIT */
/* Memory planning (src/engine/plan.c and the executor): offsets never overlap for
 * values alive together and reuse memory otherwise; after the first run of an input
 * signature a run allocates nothing but the outputs it hands back; a new signature
 * re-plans; planned and unplanned runs give identical results. */
#include <stdlib.h>

#include "core/core.h"
#include "engine/plan.h"
#include "model_builder.h"
#include "ops/kernel_harness.h"
#include "test.h"

TEST(offsets_never_overlap_for_values_alive_together)
{
    /* a chain: each value lives from its step to the next */
    enum { N = 12 };
    size_t size[N], off[N], total = 0, sum = 0;
    int start[N], end[N];
    for (int i = 0; i < N; i++) {
        size[i] = (size_t)(100 + 37 * (i % 5)) * (i == 3 ? 0 : 1); /* 3 is not planned */
        start[i] = i;
        end[i] = i + 1 + (i % 4 == 0); /* some live a step longer */
        sum += size[i];
    }
    FY_CHECK_EQ(fy__plan_offsets(N, size, start, end, off, &total), FY_OK);
    FY_CHECK(total < sum); /* reuse happened */
    for (int a = 0; a < N; a++)
        for (int b = a + 1; b < N; b++) {
            if (!size[a] || !size[b] || start[a] > end[b] || start[b] > end[a])
                continue;
            int apart = off[a] + size[a] <= off[b] || off[b] + size[b] <= off[a];
            FY_CHECK(apart);
        }
    for (int i = 0; i < N; i++) {
        FY_CHECK_EQ(off[i] % FY_PLAN_ALIGN, 0);
        FY_CHECK(off[i] + size[i] <= total);
    }
    FY_CHECK_EQ(fy__plan_offsets(0, size, start, end, off, &total), FY_OK);
    FY_CHECK_EQ(total, 0);
}

/* x[B,8] -> MatMul+bias+Relu -> Softmax -> MatMul+Tanh -> Sigmoid -> y */
static fy_model *load_mlp(void)
{
    static const int64_t dx[2] = {-1, 8}, dw[2] = {8, 8}, db[1] = {8};
    static float w1[64], w2[64], b1[8];
    for (int i = 0; i < 64; i++) {
        w1[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
        w2[i] = (float)((i * 5) % 13) / 13.0f - 0.5f;
    }
    for (int i = 0; i < 8; i++)
        b1[i] = 0.1f * (float)i - 0.3f;
    gb g;
    gb_init(&g, "plan");
    gb_input(&g, "x", FY_DTYPE_F32, 2, dx);
    gb_init_f32(&g, "w1", 2, dw, w1, 64);
    gb_init_f32(&g, "b1", 1, db, b1, 8);
    gb_init_f32(&g, "w2", 2, dw, w2, 64);
    gb_node(&g, "MatMul", 2, 1, "x", "w1", "m1");
    gb_node(&g, "Add", 2, 1, "m1", "b1", "h1");
    gb_node(&g, "Relu", 1, 1, "h1", "r1");
    int sm = gb_node(&g, "Softmax", 1, 1, "r1", "p");
    gb_attr_int(&g, sm, "axis", -1);
    gb_node(&g, "MatMul", 2, 1, "p", "w2", "m2");
    gb_node(&g, "Tanh", 1, 1, "m2", "t");
    gb_node(&g, "Sigmoid", 1, 1, "t", "y");
    gb_output(&g, "y", FY_DTYPE_F32, 2, dx);
    fy_diag d;
    return gb_load(&g, 13, &d);
}

static void input(float *x, int rows)
{
    for (int i = 0; i < rows * 8; i++)
        x[i] = (float)((i * 3) % 17) / 17.0f - 0.5f;
}

TEST(runs_after_the_first_allocate_only_their_outputs)
{
    fy_model *m = load_mlp();
    FY_CHECK(m != NULL);
    if (!m)
        return;
    fy_session *s = NULL;
    fy_diag d;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    float xv[32];
    input(xv, 4);
    const int64_t dx[2] = {4, 8};
    fy_tensor x = kh_f32(xv, 2, dx), y;
    for (int i = 0; i < 2; i++) { /* the first run records the plan */
        FY_CHECK_EQ(fy_session_run(s, 1, &x, 1, &y, &d), FY_OK);
        fy_tensor_deinit(&y);
    }
    long before = fy__alloc_count();
    for (int i = 0; i < 10; i++) {
        FY_CHECK_EQ(fy_session_run(s, 1, &x, 1, &y, &d), FY_OK);
        fy_tensor_deinit(&y);
    }
    FY_CHECK_EQ(fy__alloc_count() - before, 10); /* one per run: the output handed back */
    fy_session_free(s);
    fy_model_free(m);
}

TEST(a_new_input_shape_replans_and_results_match_unplanned_runs)
{
    fy_model *m = load_mlp();
    FY_CHECK(m != NULL);
    if (!m)
        return;
    fy_session *s = NULL, *plain = NULL;
    fy_diag d;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    setenv("FERRY_NO_PLAN", "1", 1);
    FY_CHECK_EQ(fy_session_create(&plain, m, NULL, &d), FY_OK);
    unsetenv("FERRY_NO_PLAN");
    float xv[40];
    const int rows[] = {4, 2, 2, 5, 4, 4, 1, 5, 5};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        input(xv, rows[r]);
        const int64_t dx[2] = {rows[r], 8};
        fy_tensor x = kh_f32(xv, 2, dx), a, b;
        long before = fy__alloc_count();
        FY_CHECK_EQ(fy_session_run(s, 1, &x, 1, &a, &d), FY_OK);
        long used = fy__alloc_count() - before;
        if (r > 0 && rows[r] == rows[r - 1])
            FY_CHECK_EQ(used, 1); /* same signature as the run before: planned */
        FY_CHECK_EQ(fy_session_run(plain, 1, &x, 1, &b, &d), FY_OK);
        FY_CHECK_EQ(a.dims[0], rows[r]);
        FY_CHECK_EQ(memcmp(a.data, b.data, fy_tensor_nbytes(&a)), 0);
        fy_tensor_deinit(&a);
        fy_tensor_deinit(&b);
    }
    fy_session_free(s);
    fy_session_free(plain);
    fy_model_free(m);
}

int main(void)
{
    RUN(offsets_never_overlap_for_values_alive_together);
    RUN(runs_after_the_first_allocate_only_their_outputs);
    RUN(a_new_input_shape_replans_and_results_match_unplanned_runs);
    return TEST_SUMMARY();
}
