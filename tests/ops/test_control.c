/* SPDX-License-Identifier: MIT */
/* Control-flow kernels (If, Loop, Scan): small models built with the protobuf-c
 * structs run end to end through the engine, checked against values computed by
 * hand; malformed bodies, attributes and inputs are refused with a named reason. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A low ceiling keeps the runaway-loop test fast; the source is included so the
 * ceiling applies (its table replaces the library's copy at link time). */
#define FY_LOOP_MAX_ITERS ((int64_t)1000)
#include "../../src/ops/ref/control.c"

#include "ferry/ferry.h"
#include "kernel_harness.h"
#include "model_builder.h"
#include "test.h"

static const int64_t d1[1] = {1}, d2[1] = {2}, d3[1] = {3};

/* ---- If ---- */

/* then: Identity of the outer input x ([3]); else: a [2] constant of its own. */
static void build_if(gb *top, gb *then_b, gb *else_b)
{
    static const float k2[2] = {7, 8};
    gb_init(then_b, "then");
    gb_node(then_b, "Identity", 1, 1, "x", "t_out");
    gb_output(then_b, "t_out", FY_DTYPE_F32, -1, NULL);
    gb_init(else_b, "else");
    gb_init_f32(else_b, "k", 1, d2, k2, 2);
    gb_node(else_b, "Identity", 1, 1, "k", "e_out");
    gb_output(else_b, "e_out", FY_DTYPE_F32, -1, NULL);
    gb_init(top, "top");
    gb_input(top, "cond", FY_DTYPE_BOOL, 0, NULL);
    gb_input(top, "x", FY_DTYPE_F32, 1, d3);
    int n = gb_node(top, "If", 1, 1, "cond", "y");
    gb_attr_graph(top, n, "then_branch", then_b);
    gb_attr_graph(top, n, "else_branch", else_b);
    gb_output(top, "y", FY_DTYPE_F32, -1, NULL);
}

TEST(if_branches_differ_in_shape)
{
    static gb top, then_b, else_b;
    build_if(&top, &then_b, &else_b);
    float x[3] = {1, 2, 3};
    unsigned char yes = 1, no = 0;
    fy_tensor in[2] = {kh_scalar(FY_DTYPE_BOOL, &yes), kh_f32(x, 1, d3)};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 2, in, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(out[0].dims[0], 3);
    if (out[0].data)
        FY_CHECK_NEAR(((float *)out[0].data)[2], 3.0, 0);
    fy_tensor_deinit(&out[0]);
    in[0] = kh_scalar(FY_DTYPE_BOOL, &no);
    FY_CHECK_EQ(run_model(&top, 13, 2, in, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].dims[0], 2);
    if (out[0].data)
        FY_CHECK_NEAR(((float *)out[0].data)[1], 8.0, 0);
    fy_tensor_deinit(&out[0]);
}

TEST(if_cond_must_be_one_bool)
{
    static gb top, then_b, else_b;
    build_if(&top, &then_b, &else_b);
    top.ttypes[0].elem_type = FY_DTYPE_I64; /* let a non-bool cond through the graph input */
    float x[3] = {1, 2, 3};
    int64_t one = 1;
    fy_tensor in[2] = {kh_scalar(FY_DTYPE_I64, &one), kh_f32(x, 1, d3)};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "cond");
    FY_CHECK_CONTAINS(d.msg, "bool");
}

TEST(if_branch_output_count_mismatch)
{
    static gb top, then_b, else_b;
    build_if(&top, &then_b, &else_b);
    gb_output(&else_b, "k", FY_DTYPE_F32, -1, NULL); /* else now has 2 outputs */
    float x[3] = {1, 2, 3};
    unsigned char yes = 1;
    fy_tensor in[2] = {kh_scalar(FY_DTYPE_BOOL, &yes), kh_f32(x, 1, d3)};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 2, in, 1, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "else_branch 2");
}

TEST(if_without_engine_or_branch)
{
    kh_node k;
    kh_init(&k, "If", 13);
    unsigned char yes = 1;
    fy_tensor cond = kh_scalar(FY_DTYPE_BOOL, &yes);
    const fy_tensor *in[1] = {&cond};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "engine");
    /* With an engine pointer but no branches: the attribute is named. */
    fy__op_ctx c = {&k.node, 13, 1, in, 1, out, &d, &k, NULL, NULL};
    FY_CHECK_EQ(op_if(&c), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "then_branch");
}

/* ---- Loop ---- */

/* Loop(M, cond, y) with body: y_out = y_in + x (x from the outer scope),
 * scan = y_out, cond_out = Less(iter, stop) with stop an outer value. */
static void build_loop(gb *top, gb *body, int with_m, int with_cond)
{
    gb_init(body, "body");
    gb_input(body, "i", FY_DTYPE_I64, 0, NULL);
    gb_input(body, "c_in", FY_DTYPE_BOOL, 0, NULL);
    gb_input(body, "y_in", FY_DTYPE_F32, 1, d1);
    gb_node(body, "Add", 2, 1, "y_in", "x", "y_out");
    gb_node(body, "Identity", 1, 1, "y_out", "scan");
    gb_node(body, "Less", 2, 1, "i", "stop", "c_out");
    gb_output(body, "c_out", FY_DTYPE_BOOL, 0, NULL);
    gb_output(body, "y_out", FY_DTYPE_F32, 1, d1);
    gb_output(body, "scan", FY_DTYPE_F32, 1, d1);
    gb_init(top, "top");
    gb_input(top, "M", FY_DTYPE_I64, 0, NULL);
    gb_input(top, "cond", FY_DTYPE_BOOL, 0, NULL);
    gb_input(top, "y0", FY_DTYPE_F32, 1, d1);
    gb_input(top, "x", FY_DTYPE_F32, 1, d1);
    gb_input(top, "stop", FY_DTYPE_I64, 0, NULL);
    int n = gb_node(top, "Loop", 3, 2, with_m ? "M" : "", with_cond ? "cond" : "", "y0", "y", "ys");
    gb_attr_graph(top, n, "body", body);
    gb_output(top, "y", FY_DTYPE_F32, 1, d1);
    gb_output(top, "ys", FY_DTYPE_F32, -1, NULL);
}

typedef struct loop_io {
    int64_t m, stop;
    unsigned char cond;
    float y0, x;
    fy_tensor in[5];
} loop_io;

static void loop_inputs(loop_io *io, int64_t m, int cond, float y0, float x, int64_t stop)
{
    io->m = m;
    io->cond = (unsigned char)cond;
    io->y0 = y0;
    io->x = x;
    io->stop = stop;
    io->in[0] = kh_scalar(FY_DTYPE_I64, &io->m);
    io->in[1] = kh_scalar(FY_DTYPE_BOOL, &io->cond);
    io->in[2] = kh_f32(&io->y0, 1, d1);
    io->in[3] = kh_f32(&io->x, 1, d1);
    io->in[4] = kh_scalar(FY_DTYPE_I64, &io->stop);
}

TEST(loop_trip_count_and_scan)
{
    static gb top, body;
    build_loop(&top, &body, 1, 1);
    loop_io io;
    loop_inputs(&io, 3, 1, 1.0f, 2.0f, 100); /* 3 iterations: 3, 5, 7 */
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_OK);
    if (out[0].data && out[1].data) {
        FY_CHECK_NEAR(((float *)out[0].data)[0], 7.0, 0);
        FY_CHECK_EQ(out[1].rank, 2);
        FY_CHECK_EQ(out[1].dims[0], 3);
        FY_CHECK_EQ(out[1].dims[1], 1);
        FY_CHECK_NEAR(((float *)out[1].data)[0], 3.0, 0);
        FY_CHECK_NEAR(((float *)out[1].data)[2], 7.0, 0);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(loop_ends_on_body_cond_without_m)
{
    static gb top, body;
    build_loop(&top, &body, 0, 1);
    loop_io io;
    loop_inputs(&io, 0, 1, 0.0f, 1.0f, 4); /* body says stop after iteration 4: 5 runs */
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_OK);
    if (out[0].data && out[1].data) {
        FY_CHECK_NEAR(((float *)out[0].data)[0], 5.0, 0);
        FY_CHECK_EQ(out[1].dims[0], 5);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
    /* cond false on entry: no iterations, y passes through, scan is [0, 1]. */
    loop_inputs(&io, 10, 0, 4.0f, 1.0f, 4);
    build_loop(&top, &body, 1, 1);
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_OK);
    if (out[0].data) {
        FY_CHECK_NEAR(((float *)out[0].data)[0], 4.0, 0);
        FY_CHECK_EQ(out[1].rank, 2);
        FY_CHECK_EQ(out[1].dims[0], 0);
        FY_CHECK_EQ(out[1].dims[1], 1);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(loop_negative_trip_count_runs_zero_times)
{
    static gb top, body;
    build_loop(&top, &body, 1, 0);
    loop_io io;
    loop_inputs(&io, -5, 1, 4.0f, 1.0f, 100);
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_OK);
    if (out[0].data)
        FY_CHECK_NEAR(((float *)out[0].data)[0], 4.0, 0);
    FY_CHECK_EQ(out[1].dims[0], 0);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(loop_runaway_hits_ceiling)
{
    static gb top, body;
    build_loop(&top, &body, 0, 0);
    loop_io io;
    loop_inputs(&io, 0, 1, 0.0f, 1.0f, INT64_MAX); /* the body never says stop */
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "FY_LOOP_MAX_ITERS");
    /* A huge M with a body that keeps going is refused the same way. */
    build_loop(&top, &body, 1, 1);
    loop_inputs(&io, INT64_MAX, 1, 0.0f, 1.0f, INT64_MAX);
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "Loop");
}

TEST(loop_malformed)
{
    static gb top, body;
    loop_io io;
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    /* M of the wrong type */
    build_loop(&top, &body, 1, 1);
    top.ttypes[0].elem_type = FY_DTYPE_F32;
    float fm = 3;
    loop_inputs(&io, 0, 1, 0.0f, 1.0f, 100);
    io.in[0] = kh_f32(&fm, 0, NULL);
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "M");
    /* body with the wrong number of inputs */
    build_loop(&top, &body, 1, 1);
    gb_input(&body, "extra", FY_DTYPE_F32, -1, NULL);
    loop_inputs(&io, 3, 1, 0.0f, 1.0f, 100);
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "body declares 4 inputs");
    /* body cond output that is not a bool */
    build_loop(&top, &body, 1, 1);
    body.out_ptrs[0] = body.out_ptrs[1]; /* cond output is now y_out (float) */
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "cond");
}

TEST(loop_scan_shape_must_not_change)
{
    static gb top, body;
    build_loop(&top, &body, 1, 1);
    /* The carried value grows (Concat y_in, x) and the scan output is it: legal for
     * the carried value, not for the stacked scan output. */
    body.nodes[0].op_type = (char *)"Concat";
    gb_attr_int(&body, 0, "axis", 0);
    body.ttypes[2].shape = NULL; /* y_in: any shape */
    body.ttypes[4].shape = NULL; /* y_out */
    body.ttypes[5].shape = NULL; /* scan */
    top.ttypes[5].shape = NULL;  /* top y */
    loop_io io;
    loop_inputs(&io, 3, 1, 0.0f, 1.0f, 100);
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scan output 0");
    /* Without the scan output, the growing carried value is fine: [0, 1, 1, 1]. */
    top.nodes[0].n_output = 1;
    top.g.n_output = 1;
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(out[0].dims[0], 4);
    fy_tensor_deinit(&out[0]);
}

/* If nested in a Loop body, reading a value two scopes out. */
TEST(loop_with_nested_if)
{
    static gb top, body, then_b, else_b;
    build_loop(&top, &body, 1, 1);
    gb_init(&then_b, "then");
    gb_node(&then_b, "Add", 2, 1, "y_in", "x", "t_out");
    gb_output(&then_b, "t_out", FY_DTYPE_F32, 1, d1);
    gb_init(&else_b, "else");
    gb_node(&else_b, "Sub", 2, 1, "y_in", "x", "e_out");
    gb_output(&else_b, "e_out", FY_DTYPE_F32, 1, d1);
    /* body node 0 becomes If(c_in) producing y_out */
    body.nodes[0].op_type = (char *)"If";
    body.node_io[0][0][0] = (char *)"c_in";
    body.nodes[0].n_input = 1;
    gb_attr_graph(&body, 0, "then_branch", &then_b);
    gb_attr_graph(&body, 0, "else_branch", &else_b);
    loop_io io;
    loop_inputs(&io, 3, 1, 1.0f, 2.0f, 100);
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 5, io.in, 2, out, &d), FY_OK);
    if (out[0].data)
        FY_CHECK_NEAR(((float *)out[0].data)[0], 7.0, 0);
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

/* ---- Scan ---- */

/* Running sum over rows of x [3, 2] (state s [2]); scan output = the sum. */
static void build_scan(gb *top, gb *body, int opset8)
{
    static const int64_t s_dims[2] = {1, 2}, x8_dims[3] = {1, 3, 2}, x_dims[2] = {3, 2};
    gb_init(body, "body");
    gb_input(body, "s_in", FY_DTYPE_F32, 1, d2);
    gb_input(body, "row", FY_DTYPE_F32, 1, d2);
    gb_node(body, "Add", 2, 1, "s_in", "row", "s_out");
    gb_node(body, "Identity", 1, 1, "s_out", "acc");
    gb_output(body, "s_out", FY_DTYPE_F32, 1, d2);
    gb_output(body, "acc", FY_DTYPE_F32, 1, d2);
    gb_init(top, "top");
    int n;
    if (opset8) {
        gb_input(top, "s0", FY_DTYPE_F32, 2, s_dims);
        gb_input(top, "x", FY_DTYPE_F32, 3, x8_dims);
        n = gb_node(top, "Scan", 3, 2, "", "s0", "x", "s", "accs");
    } else {
        gb_input(top, "s0", FY_DTYPE_F32, 1, d2);
        gb_input(top, "x", FY_DTYPE_F32, 2, x_dims);
        n = gb_node(top, "Scan", 2, 2, "s0", "x", "s", "accs");
    }
    gb_attr_graph(top, n, "body", body);
    gb_attr_int(top, n, "num_scan_inputs", 1);
    gb_output(top, "s", FY_DTYPE_F32, -1, NULL);
    gb_output(top, "accs", FY_DTYPE_F32, -1, NULL);
}

TEST(scan_reverse_input_and_output_axis)
{
    static gb top, body;
    build_scan(&top, &body, 0);
    gb_attr_ints(&top, 0, "scan_input_directions", 1, (int64_t)1);
    gb_attr_ints(&top, 0, "scan_output_axes", 1, (int64_t)-1);
    float s0[2] = {0, 0}, x[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t x_dims[2] = {3, 2};
    fy_tensor in[2] = {kh_f32(s0, 1, d2), kh_f32(x, 2, x_dims)};
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_OK);
    if (out[0].data && out[1].data) {
        const float *s = out[0].data, *a = out[1].data;
        FY_CHECK_NEAR(s[0], 9.0, 0);
        FY_CHECK_NEAR(s[1], 12.0, 0);
        /* rows taken last first: sums [5,6], [8,10], [9,12]; stacked on axis 1 → [2, 3] */
        FY_CHECK_EQ(out[1].rank, 2);
        FY_CHECK_EQ(out[1].dims[0], 2);
        FY_CHECK_EQ(out[1].dims[1], 3);
        const float want[6] = {5, 8, 9, 6, 10, 12};
        for (int i = 0; i < 6; i++)
            FY_CHECK_NEAR(a[i], want[i], 0);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(scan_reverse_output)
{
    static gb top, body;
    build_scan(&top, &body, 0);
    gb_attr_ints(&top, 0, "scan_output_directions", 1, (int64_t)1);
    float s0[2] = {0, 0}, x[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t x_dims[2] = {3, 2};
    fy_tensor in[2] = {kh_f32(s0, 1, d2), kh_f32(x, 2, x_dims)};
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_OK);
    if (out[1].data) {
        const float want[6] = {9, 12, 4, 6, 1, 2};
        for (int i = 0; i < 6; i++)
            FY_CHECK_NEAR(((float *)out[1].data)[i], want[i], 0);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(scan_opset8_batch)
{
    static gb top, body;
    build_scan(&top, &body, 1);
    float s0[2] = {0, 0}, x[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t s_dims[2] = {1, 2}, x_dims[3] = {1, 3, 2};
    fy_tensor in[2] = {kh_f32(s0, 2, s_dims), kh_f32(x, 3, x_dims)};
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 8, 2, in, 2, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 2);
    FY_CHECK_EQ(out[1].rank, 3);
    if (out[1].data) {
        FY_CHECK_EQ(out[1].dims[1], 3);
        FY_CHECK_NEAR(((float *)out[1].data)[3], 6.0, 0);
    }
    fy_tensor_deinit(&out[0]);
    fy_tensor_deinit(&out[1]);
}

TEST(scan_malformed)
{
    static gb top, body;
    float s0[2] = {0, 0}, x[6] = {1, 2, 3, 4, 5, 6};
    static const int64_t x_dims[2] = {3, 2};
    fy_tensor in[2] = {kh_f32(s0, 1, d2), kh_f32(x, 2, x_dims)};
    fy_tensor out[2] = {{0}};
    fy_diag d = {{0}};
    /* scan axis out of range */
    build_scan(&top, &body, 0);
    gb_attr_ints(&top, 0, "scan_input_axes", 1, (int64_t)2);
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "axis");
    /* direction that is neither 0 nor 1 */
    build_scan(&top, &body, 0);
    gb_attr_ints(&top, 0, "scan_input_directions", 1, (int64_t)2);
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scan_input_directions");
    /* wrong count of output axes */
    build_scan(&top, &body, 0);
    gb_attr_ints(&top, 0, "scan_output_axes", 2, (int64_t)0, (int64_t)0);
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "scan_output_axes");
    /* num_scan_inputs larger than the inputs */
    build_scan(&top, &body, 0);
    top.attrs[0][1].i = 3;
    FY_CHECK_EQ(run_model(&top, 11, 2, in, 2, out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "num_scan_inputs");
    /* opset 8 with shorter sequences: unsupported, not wrong */
    build_scan(&top, &body, 1);
    static const int64_t s_dims[2] = {1, 2}, x8_dims[3] = {1, 3, 2};
    top.node_io[0][0][0] = (char *)"lens";
    gb_input(&top, "lens", FY_DTYPE_I64, 1, d1);
    int64_t lens = 2;
    fy_tensor lt = kh_scalar(FY_DTYPE_I64, &lens);
    lt.rank = 1;
    lt.dims[0] = 1;
    fy_tensor in8[3] = {kh_f32(s0, 2, s_dims), kh_f32(x, 3, x8_dims), lt};
    FY_CHECK_EQ(run_model(&top, 8, 3, in8, 2, out, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "sequence_lens");
}

int main(void)
{
    RUN(if_branches_differ_in_shape);
    RUN(if_cond_must_be_one_bool);
    RUN(if_branch_output_count_mismatch);
    RUN(if_without_engine_or_branch);
    RUN(loop_trip_count_and_scan);
    RUN(loop_ends_on_body_cond_without_m);
    RUN(loop_negative_trip_count_runs_zero_times);
    RUN(loop_runaway_hits_ceiling);
    RUN(loop_malformed);
    RUN(loop_scan_shape_must_not_change);
    RUN(loop_with_nested_if);
    RUN(scan_reverse_input_and_output_axis);
    RUN(scan_reverse_output);
    RUN(scan_opset8_batch);
    RUN(scan_malformed);
    return TEST_SUMMARY();
}
