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
#include "onnx.pb-c.h"
#include "test.h"

/* ---- building graphs (and subgraphs) with the generated structs ---- */

#define GB_NODES 8
#define GB_VIS 12
#define GB_IO 6
#define GB_ATTRS 6

typedef struct gb {
    Onnx__GraphProto g;
    Onnx__NodeProto nodes[GB_NODES];
    Onnx__NodeProto *node_ptrs[GB_NODES];
    char *node_io[GB_NODES][2][GB_IO];
    Onnx__AttributeProto attrs[GB_NODES][GB_ATTRS];
    Onnx__AttributeProto *attr_ptrs[GB_NODES][GB_ATTRS];
    int64_t attr_ints[GB_NODES][GB_ATTRS][4];
    Onnx__ValueInfoProto vis[GB_VIS];
    Onnx__ValueInfoProto *in_ptrs[GB_IO], *out_ptrs[GB_IO];
    Onnx__TypeProto types[GB_VIS];
    Onnx__TypeProto__Tensor ttypes[GB_VIS];
    Onnx__TensorShapeProto shapes[GB_VIS];
    Onnx__TensorShapeProto__Dimension dims[GB_VIS][4];
    Onnx__TensorShapeProto__Dimension *dim_ptrs[GB_VIS][4];
    Onnx__TensorProto inits[4];
    Onnx__TensorProto *init_ptrs[4];
    float init_data[4][8];
    int64_t init_dims[4][4];
    int n_vis;
} gb;

static void gb_init(gb *b, const char *name)
{
    memset(b, 0, sizeof *b);
    onnx__graph_proto__init(&b->g);
    b->g.name = (char *)name;
    b->g.node = b->node_ptrs;
    b->g.input = b->in_ptrs;
    b->g.output = b->out_ptrs;
    b->g.initializer = b->init_ptrs;
}

/* A tensor value: rank -1 leaves the shape out. */
static Onnx__ValueInfoProto *gb_vi(gb *b, const char *name, fy_dtype dt, int rank,
                                   const int64_t *dims)
{
    int i = b->n_vis++;
    onnx__value_info_proto__init(&b->vis[i]);
    onnx__type_proto__init(&b->types[i]);
    onnx__type_proto__tensor__init(&b->ttypes[i]);
    b->ttypes[i].has_elem_type = 1;
    b->ttypes[i].elem_type = (int32_t)dt;
    if (rank >= 0) {
        onnx__tensor_shape_proto__init(&b->shapes[i]);
        for (int k = 0; k < rank; k++) {
            Onnx__TensorShapeProto__Dimension *d = &b->dims[i][k];
            onnx__tensor_shape_proto__dimension__init(d);
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[k];
            b->dim_ptrs[i][k] = d;
        }
        b->shapes[i].n_dim = (size_t)rank;
        b->shapes[i].dim = b->dim_ptrs[i];
        b->ttypes[i].shape = &b->shapes[i];
    }
    b->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[i].tensor_type = &b->ttypes[i];
    b->vis[i].name = (char *)name;
    b->vis[i].type = &b->types[i];
    return &b->vis[i];
}

static void gb_input(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims)
{
    b->in_ptrs[b->g.n_input++] = gb_vi(b, name, dt, rank, dims);
}

static void gb_output(gb *b, const char *name, fy_dtype dt, int rank, const int64_t *dims)
{
    b->out_ptrs[b->g.n_output++] = gb_vi(b, name, dt, rank, dims);
}

/* gb_node(b, "Add", 2, 1, "a", "b", "y"): inputs then outputs; "" omits one. */
static int gb_node(gb *b, const char *op, int n_in, int n_out, ...)
{
    int i = (int)b->g.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)op;
    va_list ap;
    va_start(ap, n_out);
    for (int k = 0; k < n_in; k++)
        b->node_io[i][0][k] = va_arg(ap, char *);
    for (int k = 0; k < n_out; k++)
        b->node_io[i][1][k] = va_arg(ap, char *);
    va_end(ap);
    n->n_input = (size_t)n_in;
    n->input = b->node_io[i][0];
    n->n_output = (size_t)n_out;
    n->output = b->node_io[i][1];
    n->attribute = b->attr_ptrs[i];
    b->node_ptrs[i] = n;
    return i;
}

static Onnx__AttributeProto *gb_attr(gb *b, int node, const char *name, int type)
{
    Onnx__NodeProto *n = &b->nodes[node];
    int k = (int)n->n_attribute++;
    Onnx__AttributeProto *a = &b->attrs[node][k];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = (Onnx__AttributeProto__AttributeType)type;
    b->attr_ptrs[node][k] = a;
    return a;
}

static void gb_attr_graph(gb *b, int node, const char *name, gb *sub)
{
    gb_attr(b, node, name, FY_ATTR_GRAPH)->g = &sub->g;
}

static void gb_attr_int(gb *b, int node, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = gb_attr(b, node, name, FY_ATTR_INT);
    a->has_i = 1;
    a->i = v;
}

static void gb_attr_ints(gb *b, int node, const char *name, int n, ...)
{
    Onnx__AttributeProto *a = gb_attr(b, node, name, FY_ATTR_INTS);
    int64_t *v = b->attr_ints[node][b->nodes[node].n_attribute - 1];
    va_list ap;
    va_start(ap, n);
    for (int k = 0; k < n; k++)
        v[k] = va_arg(ap, int64_t);
    va_end(ap);
    a->n_ints = (size_t)n;
    a->ints = v;
}

/* A float32 initializer of up to 8 elements. */
static void gb_init_f32(gb *b, const char *name, int rank, const int64_t *dims, const float *v,
                        int n)
{
    int i = (int)b->g.n_initializer++;
    Onnx__TensorProto *t = &b->inits[i];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = FY_DTYPE_F32;
    memcpy(b->init_dims[i], dims, (size_t)rank * sizeof *dims);
    t->n_dims = (size_t)rank;
    t->dims = b->init_dims[i];
    memcpy(b->init_data[i], v, (size_t)n * sizeof *v);
    t->n_float_data = (size_t)n;
    t->float_data = b->init_data[i];
    b->init_ptrs[i] = t;
}

/* Pack top into a model of that opset and load it; NULL (with d) on failure. */
static fy_model *gb_load(gb *top, int64_t opset, fy_diag *d)
{
    Onnx__ModelProto model;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp[1] = {&os};
    onnx__model_proto__init(&model);
    onnx__operator_set_id_proto__init(&os);
    model.has_ir_version = 1;
    model.ir_version = 8;
    os.domain = (char *)"";
    os.has_version = 1;
    os.version = opset;
    model.n_opset_import = 1;
    model.opset_import = osp;
    model.graph = &top->g;
    size_t len = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(len + 1);
    fy_model *m = NULL;
    if (!buf)
        return NULL;
    onnx__model_proto__pack(&model, buf);
    if (fy_model_load_buffer(&m, buf, len, NULL, NULL, d) != FY_OK)
        m = NULL;
    free(buf);
    return m;
}

/* Load, create a session, run; returns the run's code (outputs set on success). */
static int run_model(gb *top, int64_t opset, int n_in, const fy_tensor *in, int n_out,
                     fy_tensor *out, fy_diag *d)
{
    fy_session *s = NULL;
    fy_model *m = gb_load(top, opset, d);
    if (!m)
        return FY_EPARSE;
    int rc = fy_session_create(&s, m, NULL, d);
    if (rc == FY_OK)
        rc = fy_session_run(s, n_in, in, n_out, out, d);
    fy_session_free(s);
    fy_model_free(m);
    return rc;
}

static fy_tensor scalar_bool(unsigned char *v)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = FY_DTYPE_BOOL;
    t.data = v;
    return t;
}

static fy_tensor scalar_i64(int64_t *v)
{
    fy_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = FY_DTYPE_I64;
    t.data = v;
    return t;
}

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
    fy_tensor in[2] = {scalar_bool(&yes), kh_f32(x, 1, d3)};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(run_model(&top, 13, 2, in, 1, out, &d), FY_OK);
    FY_CHECK_EQ(out[0].rank, 1);
    FY_CHECK_EQ(out[0].dims[0], 3);
    if (out[0].data)
        FY_CHECK_NEAR(((float *)out[0].data)[2], 3.0, 0);
    fy_tensor_deinit(&out[0]);
    in[0] = scalar_bool(&no);
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
    fy_tensor in[2] = {scalar_i64(&one), kh_f32(x, 1, d3)};
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
    fy_tensor in[2] = {scalar_bool(&yes), kh_f32(x, 1, d3)};
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
    fy_tensor cond = scalar_bool(&yes);
    const fy_tensor *in[1] = {&cond};
    fy_tensor out[1] = {{0}};
    fy_diag d = {{0}};
    FY_CHECK_EQ(kh_run(&k, 1, in, 1, out, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "engine");
    /* With an engine pointer but no branches: the attribute is named. */
    fy__op_ctx c = {&k.node, 13, 1, in, 1, out, &d, &k};
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
    io->in[0] = scalar_i64(&io->m);
    io->in[1] = scalar_bool(&io->cond);
    io->in[2] = kh_f32(&io->y0, 1, d1);
    io->in[3] = kh_f32(&io->x, 1, d1);
    io->in[4] = scalar_i64(&io->stop);
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
    fy_tensor lt = scalar_i64(&lens);
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
