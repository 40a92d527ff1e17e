/* SPDX-License-Identifier: MIT */
/* ONNX loader: valid models load and run; malformed, truncated and hostile ones are
 * refused with a message naming the problem, without crashing or leaking. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "onnx.pb-c.h"
#include "onnx/onnx.h"
#include "test.h"

/* ---- building models with the generated protobuf-c structs ---- */

typedef struct mb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto nodes[8];
    Onnx__NodeProto *node_ptrs[8];
    char *node_in[8][4], *node_out[8][4];
    Onnx__ValueInfoProto vis[8];
    Onnx__ValueInfoProto *in_ptrs[4], *out_ptrs[4];
    Onnx__TypeProto types[8];
    Onnx__TypeProto__Tensor ttypes[8];
    Onnx__TensorProto inits[4];
    Onnx__TensorProto *init_ptrs[4];
    int n_vis;
} mb;

static void mb_init(mb *b, int64_t opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->opset.domain = (char *)"";
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.graph = &b->graph;
    b->graph.name = (char *)"g";
    b->graph.node = b->node_ptrs;
    b->graph.input = b->in_ptrs;
    b->graph.output = b->out_ptrs;
    b->graph.initializer = b->init_ptrs;
}

static Onnx__ValueInfoProto *mb_vi(mb *b, const char *name)
{
    int i = b->n_vis++;
    onnx__value_info_proto__init(&b->vis[i]);
    onnx__type_proto__init(&b->types[i]);
    onnx__type_proto__tensor__init(&b->ttypes[i]);
    b->ttypes[i].has_elem_type = 1;
    b->ttypes[i].elem_type = FY_DTYPE_F32;
    b->types[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[i].tensor_type = &b->ttypes[i];
    b->vis[i].name = (char *)name;
    b->vis[i].type = &b->types[i];
    return &b->vis[i];
}

static void mb_input(mb *b, const char *name) { b->in_ptrs[b->graph.n_input++] = mb_vi(b, name); }
static void mb_output(mb *b, const char *name) { b->out_ptrs[b->graph.n_output++] = mb_vi(b, name); }

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *a, const char *c,
                                const char *out)
{
    int i = (int)b->graph.n_node++;
    Onnx__NodeProto *n = &b->nodes[i];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)op;
    b->node_in[i][0] = (char *)a;
    b->node_in[i][1] = (char *)c;
    n->n_input = c ? 2 : 1;
    n->input = b->node_in[i];
    b->node_out[i][0] = (char *)out;
    n->n_output = 1;
    n->output = b->node_out[i];
    b->node_ptrs[i] = n;
    return n;
}

static Onnx__TensorProto *mb_init_f32(mb *b, const char *name, int64_t *dims, size_t nd,
                                      float *data, size_t n)
{
    int i = (int)b->graph.n_initializer++;
    Onnx__TensorProto *t = &b->inits[i];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = FY_DTYPE_F32;
    t->n_dims = nd;
    t->dims = dims;
    t->n_float_data = n;
    t->float_data = data;
    b->init_ptrs[i] = t;
    return t;
}

static uint8_t *mb_pack(mb *b, size_t *len)
{
    *len = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*len + 1);
    onnx__model_proto__pack(&b->model, buf);
    return buf;
}

/* y = (x + w) * x with w an initializer */
static uint8_t *tiny_model(size_t *len)
{
    static mb b;
    static int64_t dims[1] = {3};
    static float w[3] = {1, 2, 3};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_init_f32(&b, "w", dims, 1, w, 3);
    mb_node(&b, "Add", "x", "w", "t");
    mb_node(&b, "Mul", "t", "x", "y");
    return mb_pack(&b, len);
}

static int load(const uint8_t *buf, size_t len, fy_model **m, fy_diag *d)
{
    *m = NULL;
    return fy_model_load_buffer(m, buf, len, NULL, NULL, d);
}

TEST(loads_and_runs_tiny_model)
{
    size_t len;
    uint8_t *buf = tiny_model(&len);
    fy_model *m;
    fy_diag d;
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_OK);
    if (!m) {
        free(buf);
        return;
    }
    FY_CHECK_EQ(fy_model_n_inputs(m), 1);
    fy_model_info info;
    fy_model_get_info(m, &info);
    FY_CHECK_EQ(info.opset, 13);
    FY_CHECK_EQ(info.n_params, 3);
    fy_session *s = NULL;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    float x[3] = {1, 2, 3};
    fy_tensor in = {.dtype = FY_DTYPE_F32, .rank = 1, .dims = {3}, .data = x};
    fy_tensor out;
    FY_CHECK_EQ(fy_session_run(s, 1, &in, 1, &out, &d), FY_OK);
    float *y = out.data;
    FY_CHECK_NEAR(y[0], 2, 0);
    FY_CHECK_NEAR(y[1], 8, 0);
    FY_CHECK_NEAR(y[2], 18, 0);
    fy_tensor_deinit(&out);
    /* wrong input shape is refused, naming the input */
    fy_tensor bad = {.dtype = FY_DTYPE_F32, .rank = 1, .dims = {2}, .data = x};
    FY_CHECK_EQ(fy_session_run(s, 1, &bad, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "broadcast");
    fy_tensor wrong_type = {.dtype = FY_DTYPE_I32, .rank = 1, .dims = {3}, .data = x};
    FY_CHECK_EQ(fy_session_run(s, 1, &wrong_type, 1, &out, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "expected float32");
    fy_session_free(s);
    fy_model_free(m);
    free(buf);
}

TEST(empty_and_garbage_are_invalid)
{
    fy_model *m;
    fy_diag d;
    FY_CHECK_EQ(load((const uint8_t *)"", 0, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "empty");
    const char junk[] = "this is not a protobuf at all \xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    FY_CHECK(load((const uint8_t *)junk, sizeof junk, &m, &d) < 0);
    FY_CHECK_CONTAINS(d.msg, "invalid model");
}

TEST(every_truncation_fails_cleanly)
{
    size_t len;
    uint8_t *buf = tiny_model(&len);
    for (size_t n = 1; n < len; n++) {
        fy_model *m = NULL;
        fy_diag d;
        uint8_t *copy = malloc(n); /* exact-size copy so ASan sees any over-read */
        memcpy(copy, buf, n);
        int rc = load(copy, n, &m, &d);
        if (rc == FY_OK)
            fy_model_free(m); /* a prefix can be a valid (smaller) model */
        else
            FY_CHECK(d.msg[0] != 0);
        free(copy);
    }
    free(buf);
}

TEST(bit_flips_never_crash)
{
    size_t len;
    uint8_t *buf = tiny_model(&len);
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t *copy = malloc(len);
            memcpy(copy, buf, len);
            copy[i] ^= (uint8_t)(1u << bit);
            fy_model *m = NULL;
            fy_diag d;
            if (load(copy, len, &m, &d) == FY_OK) {
                fy_session *s = NULL;
                if (fy_session_create(&s, m, NULL, &d) == FY_OK) {
                    float x[3] = {1, 2, 3};
                    fy_tensor in = {.dtype = FY_DTYPE_F32, .rank = 1, .dims = {3}, .data = x};
                    fy_tensor out[4];
                    int n_out = fy_model_n_outputs(m) < 4 ? fy_model_n_outputs(m) : 4;
                    if (fy_model_n_inputs(m) == 1 && fy_session_run(s, 1, &in, n_out, out, &d) == FY_OK)
                        for (int k = 0; k < n_out; k++)
                            fy_tensor_deinit(&out[k]);
                    fy_session_free(s);
                }
                fy_model_free(m);
            }
            free(copy);
        }
    free(buf);
}

TEST(absurd_dimensions_are_refused_before_allocating)
{
    mb b;
    int64_t dims[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_init_f32(&b, "huge", dims, 2, NULL, 0);
    mb_node(&b, "Add", "x", "huge", "y");
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    fy_model *m;
    fy_diag d;
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "huge");
    free(buf);

    int64_t neg[1] = {-4};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_init_f32(&b, "neg", neg, 1, NULL, 0);
    mb_node(&b, "Add", "x", "neg", "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "negative");
    free(buf);
}

TEST(claimed_sizes_are_checked_against_present_data_before_allocating)
{
    /* 2^30 floats declared, no data at all: refused without a 4 GiB allocation */
    mb b;
    int64_t dims[1] = {(int64_t)1 << 30};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_init_f32(&b, "empty", dims, 1, NULL, 0);
    mb_node(&b, "Add", "x", "empty", "y");
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    fy_model *m;
    fy_diag d;
    fy__alloc_largest(1);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "tensor 'empty'");
    FY_CHECK(fy__alloc_largest(0) < ((size_t)1 << 20));
    free(buf);
    /* same for raw_data that is too short */
    b.inits[0].has_raw_data = 1;
    b.inits[0].raw_data.len = 4;
    b.inits[0].raw_data.data = (uint8_t *)"abcd";
    buf = mb_pack(&b, &len);
    fy__alloc_largest(1);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK(fy__alloc_largest(0) < ((size_t)1 << 20));
    free(buf);
}

TEST(data_size_mismatch_names_the_tensor)
{
    mb b;
    int64_t dims[1] = {4};
    float w[3] = {1, 2, 3};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_init_f32(&b, "weights", dims, 1, w, 3);
    mb_node(&b, "Add", "x", "weights", "y");
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    fy_model *m;
    fy_diag d;
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "tensor 'weights'");
    FY_CHECK_CONTAINS(d.msg, "needs 4");
    free(buf);

    /* raw_data of the wrong length */
    b.inits[0].n_float_data = 0;
    b.inits[0].has_raw_data = 1;
    b.inits[0].raw_data.len = 15;
    b.inits[0].raw_data.data = (uint8_t *)"0123456789abcde";
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "raw_data has 15 bytes");
    free(buf);
}

TEST(cycles_missing_inputs_and_double_producers)
{
    mb b;
    size_t len;
    uint8_t *buf;
    fy_model *m;
    fy_diag d;
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_node(&b, "Add", "x", "b", "a");
    mb_node(&b, "Relu", "a", NULL, "b");
    mb_node(&b, "Relu", "a", NULL, "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "cycle");
    free(buf);

    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_node(&b, "Add", "x", "nowhere", "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "input 'nowhere'");
    free(buf);

    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_node(&b, "Relu", "x", NULL, "y");
    mb_node(&b, "Relu", "x", NULL, "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "already produced");
    free(buf);

    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "never");
    mb_node(&b, "Relu", "x", NULL, "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "graph output 'never'");
    free(buf);
}

TEST(unknown_op_and_new_opset_are_unsupported)
{
    mb b;
    size_t len;
    fy_model *m;
    fy_diag d;
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_node(&b, "FrobnicateV9", "x", NULL, "y");
    uint8_t *buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_OK);
    fy_session *s = NULL;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "FrobnicateV9");
    FY_CHECK(s == NULL);
    fy_model_free(m);
    free(buf);

    mb_init(&b, 99);
    mb_input(&b, "x");
    mb_output(&b, "y");
    mb_node(&b, "Relu", "x", NULL, "y");
    buf = mb_pack(&b, &len);
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "opset 99");
    free(buf);
}

TEST(deep_nesting_is_refused)
{
    /* Model.graph(7) > Graph.node(1) > Node.attribute(5) > Attribute.g(6) > Graph ... */
    static const uint8_t tags[3] = {0x0a, 0x2a, 0x32};
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap), *tmp = malloc(cap);
    for (int level = 0; level < 2000; level++) {
        int k = 1999 - level; /* position counted from the outside */
        uint8_t tag = k == 0 ? 0x3a : tags[(k - 1) % 3];
        size_t hdr = 0;
        tmp[hdr++] = tag;
        size_t v = len;
        do {
            tmp[hdr++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        if (hdr + len > cap)
            break;
        memmove(buf + hdr, buf, len);
        memcpy(buf, tmp, hdr);
        len += hdr;
    }
    fy_model *m;
    fy_diag d;
    FY_CHECK_EQ(load(buf, len, &m, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "nested deeper");
    free(buf);
    free(tmp);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, n, f);
        fclose(f);
    }
}

static int load_with_external(const char *dir, const char *location, const char *offset,
                              fy_model **m, fy_diag *d)
{
    mb b;
    int64_t dims[1] = {3};
    Onnx__StringStringEntryProto loc, off;
    Onnx__StringStringEntryProto *entries[2] = {&loc, &off};
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    Onnx__TensorProto *t = mb_init_f32(&b, "w", dims, 1, NULL, 0);
    onnx__string_string_entry_proto__init(&loc);
    onnx__string_string_entry_proto__init(&off);
    loc.key = (char *)"location";
    loc.value = (char *)location;
    off.key = (char *)"offset";
    off.value = (char *)offset;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->n_external_data = 2;
    t->external_data = entries;
    mb_node(&b, "Add", "x", "w", "y");
    size_t len;
    uint8_t *buf = mb_pack(&b, &len);
    char path[512];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_file(path, buf, len);
    free(buf);
    *m = NULL;
    return fy_model_load(m, path, NULL, d);
}

TEST(external_data_stays_in_the_model_folder)
{
    char dir[] = "/tmp/ferry-test-extXXXXXX";
    if (!mkdtemp(dir)) {
        FY_CHECK(0);
        return;
    }
    char path[512], link[512], sub[512];
    float w[4] = {0, 10, 20, 30};
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    write_file(path, w, sizeof w);
    fy_model *m;
    fy_diag d;
    /* valid, with an offset of one float */
    FY_CHECK_EQ(load_with_external(dir, "weights.bin", "4", &m, &d), FY_OK);
    if (m) {
        fy_session *s;
        FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
        float x[3] = {1, 1, 1};
        fy_tensor in = {.dtype = FY_DTYPE_F32, .rank = 1, .dims = {3}, .data = x}, out;
        FY_CHECK_EQ(fy_session_run(s, 1, &in, 1, &out, &d), FY_OK);
        FY_CHECK_NEAR(((float *)out.data)[2], 31, 0);
        fy_tensor_deinit(&out);
        fy_session_free(s);
        fy_model_free(m);
    }
    FY_CHECK_EQ(load_with_external(dir, "../../etc/passwd", "0", &m, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "without '..'");
    FY_CHECK_EQ(load_with_external(dir, "/etc/passwd", "0", &m, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "relative");
    FY_CHECK_EQ(load_with_external(dir, "weights.bin", "8", &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "too short");
    FY_CHECK_EQ(load_with_external(dir, "weights.bin", "-1", &m, &d), FY_EPARSE);
    FY_CHECK_EQ(load_with_external(dir, "missing.bin", "0", &m, &d), FY_ENOTFOUND);
    snprintf(link, sizeof link, "%s/link.bin", dir);
    FY_CHECK_EQ(symlink("/etc/hostname", link), 0);
    FY_CHECK(load_with_external(dir, "link.bin", "0", &m, &d) < 0);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/sub/dirlink", dir);
    FY_CHECK_EQ(symlink("/etc", path), 0);
    FY_CHECK_EQ(load_with_external(dir, "sub/dirlink/hostname", "0", &m, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "outside the model's folder");
    /* loading from memory has no folder: external data is refused */
    unlink(path);
    unlink(link);
    rmdir(sub);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    unlink(path);
    rmdir(dir);
}

TEST(not_a_regular_file)
{
    fy_model *m = NULL;
    fy_diag d;
    FY_CHECK_EQ(fy_model_load(&m, "/tmp", NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK_EQ(fy_model_load(&m, "/nonexistent/model.onnx", NULL, &d), FY_ENOTFOUND);
}

TEST(allocation_failures_return_enomem_without_leaks)
{
    size_t len;
    uint8_t *buf = tiny_model(&len);
    int saw_ok = 0;
    for (long n = 1; n < 400 && !saw_ok; n++) {
        fy_model *m = NULL;
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = load(buf, len, &m, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            fy_model_free(m);
        } else {
            FY_CHECK(rc == FY_ENOMEM || rc == FY_EPARSE);
        }
    }
    FY_CHECK(saw_ok);
    free(buf);
}

/* ---- raw_data lifted out of model files before decoding ---- */

/* y = (x + w) * x + b: w (n floats) as raw_data followed by a doc_string, b (one
 * float) as float_data after it, and the graph's other fields after both. */
static uint8_t *raw_model_dim(const float *w, size_t n, int64_t dim, size_t *len)
{
    static mb b;
    static int64_t wdims[1], bdims[1] = {1};
    static float bias[1] = {0.5f};
    wdims[0] = dim;
    mb_init(&b, 13);
    mb_input(&b, "x");
    mb_output(&b, "y");
    Onnx__TensorProto *t = mb_init_f32(&b, "w", wdims, 1, NULL, 0);
    t->has_raw_data = 1;
    t->raw_data.data = (uint8_t *)w;
    t->raw_data.len = n * sizeof *w;
    t->doc_string = (char *)"after the weights";
    mb_init_f32(&b, "b", bdims, 1, bias, 1);
    mb_node(&b, "Add", "x", "w", "t");
    mb_node(&b, "Mul", "t", "x", "u");
    mb_node(&b, "Add", "u", "b", "y");
    return mb_pack(&b, len);
}

static uint8_t *raw_model(const float *w, size_t n, size_t *len)
{
    return raw_model_dim(w, n, (int64_t)n, len);
}

static int load_as_file(const uint8_t *buf, size_t len, fy_model **m, fy_diag *d)
{
    char path[] = "/tmp/ferry-test-liftXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    int ok = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    *m = NULL;
    int rc = ok ? fy_model_load(m, path, NULL, d) : -1;
    unlink(path);
    return rc;
}

/* Runs y = (x + w) * x + b on x = 1, 2, ... and checks every element. */
static void check_raw_model_runs(fy_model *m, const float *w, size_t n)
{
    fy_session *s = NULL;
    fy_diag d;
    FY_CHECK_EQ(fy_session_create(&s, m, NULL, &d), FY_OK);
    if (!s)
        return;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i % 7) + 1;
    fy_tensor in = {.dtype = FY_DTYPE_F32, .rank = 1, .dims = {(int64_t)n}, .data = x}, out;
    int rc = fy_session_run(s, 1, &in, 1, &out, &d);
    FY_CHECK_EQ(rc, FY_OK);
    if (rc == FY_OK) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            float want = (x[i] + w[i]) * x[i] + 0.5f;
            bad += ((float *)out.data)[i] != want;
        }
        FY_CHECK_EQ(bad, 0);
        fy_tensor_deinit(&out);
    }
    free(x);
    fy_session_free(s);
}

TEST(model_files_with_lifted_weights_load_like_buffers)
{
    /* Each element of w differs, so a misplaced byte would show. */
    enum { N = 40000 }; /* 160 KB: lifted at the default threshold too */
    float *w = malloc(N * sizeof *w);
    for (size_t i = 0; i < N; i++)
        w[i] = (float)i * 0.25f - 1000.0f;
    size_t len;
    uint8_t *buf = raw_model(w, N, &len);
    size_t saved = fy__onnx_lift_min_bytes;
    size_t thresholds[] = {1, 4096, saved, (size_t)-1};
    for (size_t k = 0; k < sizeof thresholds / sizeof *thresholds; k++) {
        fy__onnx_lift_min_bytes = thresholds[k];
        fy_model *m = NULL;
        fy_diag d;
        FY_CHECK_EQ(load_as_file(buf, len, &m, &d), FY_OK);
        if (!m)
            continue;
        fy_model_info info;
        fy_model_get_info(m, &info);
        FY_CHECK_EQ(info.n_params, (int64_t)N + 1);
        check_raw_model_runs(m, w, N);
        fy_model_free(m);
    }
    /* a raw_data size that disagrees with the shape is named, lifted or not */
    size_t blen;
    uint8_t *bad = raw_model_dim(w, 4, 5, &blen);
    fy__onnx_lift_min_bytes = 1;
    fy_model *m = NULL;
    fy_diag d;
    FY_CHECK_EQ(load_as_file(bad, blen, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "tensor 'w': raw_data has 16 bytes but its shape needs 20");
    FY_CHECK_EQ(load(bad, blen, &m, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "tensor 'w': raw_data has 16 bytes but its shape needs 20");
    free(bad);
    fy__onnx_lift_min_bytes = saved;
    free(buf);
    free(w);
}

/* Truncated and bit-flipped models: lifting (every payload, here) never changes
 * whether a model loads. */
TEST(damaged_model_files_fail_like_buffers)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    size_t len;
    uint8_t *buf = raw_model(w, 6, &len);
    size_t saved = fy__onnx_lift_min_bytes;
    fy__onnx_lift_min_bytes = 1;
    int differ = 0;
    for (size_t cut = 0; cut < len; cut++) {
        fy_model *mb_ = NULL, *mf = NULL;
        fy_diag d;
        int rb = load(buf, cut, &mb_, &d), rf = load_as_file(buf, cut, &mf, &d);
        differ += (rb == FY_OK) != (rf == FY_OK);
        fy_model_free(mb_);
        fy_model_free(mf);
    }
    uint8_t *flip = malloc(len);
    uint32_t seed = 12345;
    int loaded = 0;
    for (int i = 0; i < 1500; i++) {
        memcpy(flip, buf, len);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % len;
        flip[at] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        fy_model *mb_ = NULL, *mf = NULL;
        fy_diag d;
        int rb = load(flip, len, &mb_, &d), rf = load_as_file(flip, len, &mf, &d);
        differ += (rb == FY_OK) != (rf == FY_OK);
        loaded += rb == FY_OK;
        fy_model_free(mb_);
        fy_model_free(mf);
    }
    FY_CHECK_EQ(differ, 0);
    FY_CHECK(loaded > 0); /* some flips (in values, names) still load */
    fy__onnx_lift_min_bytes = saved;
    free(flip);
    free(buf);
}

/* The model with its graph field's length written as a varint one byte longer than
 * needed (valid protobuf): malloc'd, *out_len set. */
static uint8_t *pad_graph_length(const uint8_t *buf, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(len + 1);
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t key = buf[i++]; /* every top-level key of these models is one byte */
        out[o++] = key;
        if ((key & 7) == 0) {
            do
                out[o++] = buf[i];
            while (buf[i++] & 0x80);
            continue;
        }
        uint64_t n = 0;
        int shift = 0;
        while (buf[i] & 0x80)
            n |= (uint64_t)(buf[i++] & 0x7f) << shift, shift += 7;
        n |= (uint64_t)buf[i++] << shift;
        uint64_t v = n;
        while (v >= 0x80) {
            out[o++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        if (key == ((7 << 3) | 2)) { /* the graph: one more byte than needed */
            out[o++] = (uint8_t)(v | 0x80);
            out[o++] = 0;
        } else {
            out[o++] = (uint8_t)v;
        }
        memcpy(out + o, buf + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    *out_len = o;
    return out;
}

TEST(lifting_reads_lengths_written_longer_than_needed)
{
    enum { N = 40000 };
    float *w = malloc(N * sizeof *w);
    for (size_t i = 0; i < N; i++)
        w[i] = (float)i - 7.5f;
    size_t len, plen;
    uint8_t *buf = raw_model(w, N, &len);
    uint8_t *padded = pad_graph_length(buf, len, &plen);
    FY_CHECK_EQ(plen, len + 1);
    fy_model *m = NULL;
    fy_diag d;
    FY_CHECK_EQ(load(padded, plen, &m, &d), FY_OK); /* protobuf-c reads it */
    fy_model_free(m);
    m = NULL;
    FY_CHECK_EQ(load_as_file(padded, plen, &m, &d), FY_OK);
    if (m) {
        check_raw_model_runs(m, w, N);
        fy_model_free(m);
    }
    free(padded);
    free(buf);
    free(w);
}

/* Allocation failures at every point of a file load with lifted payloads: ENOMEM,
 * nothing leaked (the sanitizer build checks), and eventually a success. */
TEST(file_load_allocation_failures_are_enomem)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    size_t len;
    uint8_t *buf = raw_model(w, 6, &len);
    size_t saved = fy__onnx_lift_min_bytes;
    fy__onnx_lift_min_bytes = 1;
    char path[] = "/tmp/ferry-test-liftoomXXXXXX";
    int fd = mkstemp(path);
    FY_CHECK(fd >= 0 && write(fd, buf, len) == (ssize_t)len);
    if (fd >= 0)
        close(fd);
    int saw_ok = 0, bad = 0;
    for (long n = 1; n < 400 && !saw_ok; n++) {
        fy_model *m = NULL;
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = fy_model_load(&m, path, NULL, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            fy_model_free(m);
        } else {
            bad += rc != FY_ENOMEM && rc != FY_EPARSE;
        }
    }
    FY_CHECK(saw_ok);
    FY_CHECK_EQ(bad, 0);
    unlink(path);
    fy__onnx_lift_min_bytes = saved;
    free(buf);
}

int main(void)
{
    RUN(loads_and_runs_tiny_model);
    RUN(empty_and_garbage_are_invalid);
    RUN(every_truncation_fails_cleanly);
    RUN(bit_flips_never_crash);
    RUN(absurd_dimensions_are_refused_before_allocating);
    RUN(claimed_sizes_are_checked_against_present_data_before_allocating);
    RUN(data_size_mismatch_names_the_tensor);
    RUN(cycles_missing_inputs_and_double_producers);
    RUN(unknown_op_and_new_opset_are_unsupported);
    RUN(deep_nesting_is_refused);
    RUN(external_data_stays_in_the_model_folder);
    RUN(not_a_regular_file);
    RUN(allocation_failures_return_enomem_without_leaks);
    RUN(model_files_with_lifted_weights_load_like_buffers);
    RUN(damaged_model_files_fail_like_buffers);
    RUN(file_load_allocation_failures_are_enomem);
    RUN(lifting_reads_lengths_written_longer_than_needed);
    return TEST_SUMMARY();
}
