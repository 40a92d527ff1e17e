/* SPDX-License-Identifier: MIT */
/* Tensor files: .npy (v1/v2, every dtype, write/read round trip), .json nested
 * arrays and .pb TensorProtos read back exactly; malformed and hostile files are
 * refused with a message naming the problem and without leaking. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/ferry.h"
#include "onnx.pb-c.h"
#include "test.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[4][256];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static const char *write_file(const char *name, const void *data, size_t n)
{
    const char *p = path_in(name);
    FILE *f = fopen(p, "wb");
    if (f) {
        if (n)
            fwrite(data, 1, n, f);
        fclose(f);
    }
    return p;
}

static const char *write_str(const char *name, const char *s)
{
    return write_file(name, s, strlen(s));
}

/* Read a file expected to be refused: frees an unexpected success, and checks the
 * out-parameter is left untouched on failure. */
static int read_err(const char *path, fy_dtype dt, fy_diag *d)
{
    fy_tensor t = {0};
    int rc = fy_tensor_read_file(&t, path, dt, d);
    if (rc == FY_OK)
        fy_tensor_deinit(&t);
    else
        FY_CHECK(t.data == NULL);
    return rc;
}

/* ---- .npy ---- */

/* magic, version, header length (2 or 4 bytes), header padded like NumPy does,
 * then n bytes of data. Returns the total length written into out. */
static size_t npy_bytes(unsigned char *out, int major, const char *header, const void *data,
                        size_t n)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t h = strlen(header);
    size_t total = pre + h + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = h + pad + 1;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        out[10] = (unsigned char)(hlen >> 16);
        out[11] = (unsigned char)(hlen >> 24);
    }
    memcpy(out + pre, header, h);
    memset(out + pre + h, ' ', pad);
    out[pre + h + pad] = '\n';
    if (n)
        memcpy(out + pre + hlen, data, n);
    return pre + hlen + n;
}

static const char *write_npy(const char *name, int major, const char *header, const void *data,
                             size_t n)
{
    unsigned char *buf = malloc(12 + strlen(header) + 64 + n);
    size_t len = npy_bytes(buf, major, header, data, n);
    const char *p = write_file(name, buf, len);
    free(buf);
    return p;
}

static const struct {
    const char *descr;
    fy_dtype dt;
} npy_kinds[] = {
    {"<f4", FY_DTYPE_F32}, {"<f8", FY_DTYPE_F64}, {"<f2", FY_DTYPE_F16}, {"|u1", FY_DTYPE_U8},
    {"|i1", FY_DTYPE_I8},  {"<u2", FY_DTYPE_U16}, {"<i2", FY_DTYPE_I16}, {"<i4", FY_DTYPE_I32},
    {"<i8", FY_DTYPE_I64}, {"<u4", FY_DTYPE_U32}, {"<u8", FY_DTYPE_U64}, {"|b1", FY_DTYPE_BOOL},
};

TEST(npy_v1_and_v2_of_every_dtype)
{
    unsigned char data[6 * 8];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 1);
    for (size_t k = 0; k < sizeof npy_kinds / sizeof npy_kinds[0]; k++) {
        size_t es = fy_dtype_size(npy_kinds[k].dt);
        if (npy_kinds[k].dt == FY_DTYPE_BOOL)
            for (size_t i = 0; i < 6; i++)
                data[i] = (unsigned char)(i & 1);
        for (int major = 1; major <= 3; major++) {
            char hdr[128];
            snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                     npy_kinds[k].descr);
            const char *p = write_npy("t.npy", major, hdr, data, 6 * es);
            fy_tensor t = {0};
            fy_diag d;
            FY_CHECK_EQ(fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
            FY_CHECK_EQ(t.dtype, npy_kinds[k].dt);
            FY_CHECK_EQ(t.rank, 2);
            FY_CHECK_EQ(t.dims[0], 2);
            FY_CHECK_EQ(t.dims[1], 3);
            FY_CHECK(t.data && memcmp(t.data, data, 6 * es) == 0);
            fy_tensor_deinit(&t);
        }
    }
}

TEST(npy_scalars_empty_arrays_and_header_variants)
{
    fy_tensor t = {0};
    fy_diag d;
    float one = 1.5f;
    const char *p =
        write_npy("s.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &one, 4);
    FY_CHECK_EQ(fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 0);
    if (t.data)
        FY_CHECK_NEAR(*(float *)t.data, 1.5, 0);
    fy_tensor_deinit(&t);

    p = write_npy("e.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 5), }", NULL,
                  0);
    FY_CHECK_EQ(fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&t), 0);
    FY_CHECK(t.data != NULL);
    fy_tensor_deinit(&t);

    /* keys in another order, 1-tuple written (3,) */
    int32_t v[3] = {1, -2, 3};
    p = write_npy("o.npy", 1, "{'shape': (3,), 'fortran_order': False, 'descr': '<i4'}", v, 12);
    FY_CHECK_EQ(fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.dims[0], 3);
    if (t.data)
        FY_CHECK_EQ(((int32_t *)t.data)[1], -2);
    fy_tensor_deinit(&t);

    /* rank 8 is the most we hold */
    p = write_npy("r8.npy", 1,
                  "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,2), }", "ab",
                  2);
    FY_CHECK_EQ(fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 8);
    fy_tensor_deinit(&t);
}

TEST(npy_bad_magic_and_versions)
{
    fy_tensor t = {0};
    fy_diag d;
    const char *p = write_str("m.npy", "\x93NUMPZ\x01\x00\x10\x00{'descr': '<f4'}");
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "not a .npy file (bad magic)");
    FY_CHECK_CONTAINS(d.msg, "m.npy");
    p = write_str("m.npy", "\x93NUMPY\x01");
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "bad magic");
    p = write_file("m.npy", "", 0);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "bad magic");
    p = write_npy("m.npy", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd", 4);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, ".npy version 4");
    p = write_file("m.npy", "\x93NUMPY\x02\x00\x01\x00", 10); /* v2 needs 12 bytes */
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "truncated .npy header");
    FY_CHECK(t.data == NULL);
}

TEST(npy_header_length_past_eof)
{
    fy_tensor t = {0};
    fy_diag d;
    unsigned char buf[256];
    size_t len =
        npy_bytes(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4);
    buf[8] = 0xe8; /* header length 1000 in a file of 68 bytes */
    buf[9] = 0x03;
    const char *p = write_file("h.npy", buf, len);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "header length 1000 runs past the file");
    /* v2 with a 4 GiB header length */
    len = npy_bytes(buf, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "abcd", 4);
    memset(buf + 8, 0xff, 4);
    p = write_file("h.npy", buf, len);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "header length 4294967295");
    /* header exactly to EOF: no data where one float is needed */
    len = npy_bytes(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", NULL, 0);
    p = write_file("h.npy", buf, len);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "holds 0 data bytes, its shape needs 4");
    /* every prefix of a valid file fails cleanly */
    len =
        npy_bytes(buf, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }", "abcdef", 6);
    for (size_t n = 0; n < len; n++) {
        p = write_file("h.npy", buf, n);
        FY_CHECK(read_err(p, FY_DTYPE_UNDEFINED, &d) < 0);
        FY_CHECK(d.msg[0] != 0);
    }
    FY_CHECK(t.data == NULL);
}

TEST(npy_header_fields)
{
    static const struct {
        const char *hdr;
        int rc;
        const char *msg;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", FY_EUNSUPPORTED,
         "Fortran-order"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", FY_EUNSUPPORTED,
         "dtype '<c8'"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", FY_EUNSUPPORTED,
         "dtype '>f4'"},
        {"{'descr': '<f4x', 'fortran_order': False, 'shape': (1,), }", FY_EUNSUPPORTED,
         "dtype '<f4x'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", FY_EPARSE,
         "lacks descr"},
        {"{'fortran_order': False, 'shape': (1,), }", FY_EPARSE, "lacks descr"},
        {"{'descr': '<f4', 'shape': (1,), }", FY_EPARSE, "fortran_order"},
        {"{'descr': '<f4', 'fortran_order': False, }", FY_EPARSE, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [1], }", FY_EPARSE, "shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", FY_EPARSE, "bad .npy shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), }", FY_EPARSE, "bad .npy shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,", FY_EPARSE, "bad .npy shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
         FY_EPARSE, "bad .npy dimension"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", FY_ELIMIT,
         "rank above 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", FY_ELIMIT,
         "limit"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (9223372036854775807,), }", FY_ELIMIT,
         "limit"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 3), }", FY_ELIMIT,
         "limit"},
        {"", FY_EPARSE, "lacks descr"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fy_tensor t = {0};
        fy_diag d;
        const char *p = write_npy("f.npy", 1, cases[i].hdr, "abcd", 4);
        long before = fy__alloc_count();
        int rc = fy_tensor_read_file(&t, p, FY_DTYPE_UNDEFINED, &d);
        if (rc != cases[i].rc)
            fprintf(stderr, "case %zu: %s\n", i, d.msg);
        if (rc == FY_OK)
            fy_tensor_deinit(&t);
        FY_CHECK_EQ(rc, cases[i].rc);
        FY_CHECK_CONTAINS(d.msg, cases[i].msg);
        FY_CHECK_CONTAINS(d.msg, "f.npy");
        FY_CHECK_EQ(fy__alloc_count(), before + 1); /* the file buffer only */
        FY_CHECK(t.data == NULL);
    }
}

TEST(npy_data_length_must_match_the_shape)
{
    fy_tensor t = {0};
    fy_diag d;
    float v[7] = {0};
    const char *hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    const char *p = write_npy("l.npy", 1, hdr, v, 20);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, ".npy holds 20 data bytes, its shape needs 24");
    p = write_npy("l.npy", 1, hdr, v, 28);
    FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "holds 28 data bytes");
    FY_CHECK(t.data == NULL);
}

TEST(npy_write_read_round_trip)
{
    for (size_t k = 0; k < sizeof npy_kinds / sizeof npy_kinds[0]; k++) {
        int64_t dims[3] = {2, 1, 5};
        fy_tensor t, back = {0};
        fy_diag d;
        FY_CHECK_EQ(fy_tensor_alloc(&t, npy_kinds[k].dt, 3, dims, &d), FY_OK);
        unsigned char *b = t.data;
        for (size_t i = 0; i < fy_tensor_nbytes(&t); i++)
            b[i] = npy_kinds[k].dt == FY_DTYPE_BOOL ? (unsigned char)(i % 3 == 0)
                                                    : (unsigned char)(i * 13 + k);
        const char *p = path_in("rt.npy");
        FY_CHECK_EQ(fy_tensor_write_npy(&t, p, &d), FY_OK);
        struct stat st;
        FY_CHECK(stat(p, &st) == 0 && (size_t)st.st_size == 128 + fy_tensor_nbytes(&t));
        FY_CHECK_EQ(fy_tensor_read_file(&back, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
        FY_CHECK_EQ(back.dtype, t.dtype);
        FY_CHECK_EQ(back.rank, 3);
        FY_CHECK_EQ(back.dims[2], 5);
        FY_CHECK(back.data && memcmp(back.data, t.data, fy_tensor_nbytes(&t)) == 0);
        fy_tensor_deinit(&back);
        fy_tensor_deinit(&t);
    }
    /* scalar, empty and rank-8 shapes with the largest dims round trip too */
    int64_t shapes[3][8] = {{0}, {3, 0}, {1, 2, 1, 2, 1, 2, 1, 2}};
    int ranks[3] = {0, 2, 8};
    for (int s = 0; s < 3; s++) {
        fy_tensor t, back = {0};
        fy_diag d;
        FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F64, ranks[s], shapes[s], &d), FY_OK);
        const char *p = path_in("rt.npy");
        FY_CHECK_EQ(fy_tensor_write_npy(&t, p, &d), FY_OK);
        FY_CHECK_EQ(fy_tensor_read_file(&back, p, FY_DTYPE_UNDEFINED, &d), FY_OK);
        FY_CHECK_EQ(back.rank, ranks[s]);
        FY_CHECK_EQ(fy_tensor_numel(&back), fy_tensor_numel(&t));
        fy_tensor_deinit(&back);
        fy_tensor_deinit(&t);
    }
}

TEST(npy_write_errors)
{
    int64_t dims[1] = {2};
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_BF16, 1, dims, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_write_npy(&t, path_in("bf.npy"), &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "cannot write bfloat16 as .npy");
    fy_tensor_deinit(&t);
    FY_CHECK_EQ(fy_tensor_alloc(&t, FY_DTYPE_F32, 1, dims, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_write_npy(&t, "/nonexistent-ferry/dir/x.npy", &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "/nonexistent-ferry/dir/x.npy: cannot create");
    FY_CHECK_EQ(fy_tensor_write_npy(&t, "/dev/full", &d), FY_EIO); /* disk full */
    FY_CHECK_CONTAINS(d.msg, "write failed");
    fy_tensor_deinit(&t);
}

/* ---- .json ---- */

static int read_json(fy_tensor *t, const char *text, fy_dtype dt, fy_diag *d)
{
    memset(t, 0, sizeof *t);
    return fy_tensor_read_file(t, write_str("t.json", text), dt, d);
}

static int json_err(const char *text, fy_dtype dt, fy_diag *d)
{
    return read_err(write_str("t.json", text), dt, d);
}

TEST(json_nested_arrays_and_scalars)
{
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(read_json(&t, "[[1, 2, 3], [4, 5, 6.5]]", FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_F32);
    FY_CHECK_EQ(t.rank, 2);
    FY_CHECK_EQ(t.dims[0], 2);
    FY_CHECK_EQ(t.dims[1], 3);
    if (t.data) {
        FY_CHECK_NEAR(((float *)t.data)[0], 1, 0);
        FY_CHECK_NEAR(((float *)t.data)[5], 6.5, 0);
    }
    fy_tensor_deinit(&t);

    FY_CHECK_EQ(read_json(&t, " 3.25\n", FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 0);
    if (t.data)
        FY_CHECK_NEAR(*(float *)t.data, 3.25, 0);
    fy_tensor_deinit(&t);

    FY_CHECK_EQ(read_json(&t, "[true, false, 1, 0]", FY_DTYPE_BOOL, &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_BOOL);
    if (t.data)
        FY_CHECK(memcmp(t.data, "\1\0\1\0", 4) == 0);
    fy_tensor_deinit(&t);

    FY_CHECK_EQ(read_json(&t, "[1e-300, -2.5]", FY_DTYPE_F64, &d), FY_OK);
    if (t.data)
        FY_CHECK(((double *)t.data)[0] == 1e-300);
    fy_tensor_deinit(&t);

    /* int64 beyond 2^53 survives (no trip through double) */
    FY_CHECK_EQ(read_json(&t, "[9007199254740993, -9223372036854775807]", FY_DTYPE_I64, &d), FY_OK);
    if (t.data) {
        FY_CHECK(((int64_t *)t.data)[0] == 9007199254740993LL);
        FY_CHECK(((int64_t *)t.data)[1] == -9223372036854775807LL);
    }
    fy_tensor_deinit(&t);

    /* eight levels is the most a tensor has */
    FY_CHECK_EQ(read_json(&t, "[[[[[[[[1, 2]]]]]]]]", FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 8);
    FY_CHECK_EQ(t.dims[7], 2);
    fy_tensor_deinit(&t);
}

TEST(json_integers_keep_their_values)
{
    fy_tensor t;
    fy_diag d;
    /* whole numbers written as reals, and booleans, are valid integers */
    FY_CHECK_EQ(read_json(&t, "[1.0, 2, -3.0, true]", FY_DTYPE_I32, &d), FY_OK);
    if (t.data) {
        int32_t *v = t.data;
        FY_CHECK_EQ(v[0], 1);
        FY_CHECK_EQ(v[1], 2);
        FY_CHECK_EQ(v[2], -3);
        FY_CHECK_EQ(v[3], 1);
    }
    fy_tensor_deinit(&t);
    FY_CHECK_EQ(read_json(&t, "[[0, 255.0], [7, true]]", FY_DTYPE_U8, &d), FY_OK);
    if (t.data) {
        uint8_t *v = t.data;
        FY_CHECK_EQ(v[1], 255);
        FY_CHECK_EQ(v[2], 7);
        FY_CHECK_EQ(v[3], 1);
    }
    fy_tensor_deinit(&t);
}

TEST(json_integers_out_of_range_are_refused)
{
    static const struct {
        const char *text;
        fy_dtype dt;
    } cases[] = {
        {"[1, 300]", FY_DTYPE_U8},         {"[1, -1]", FY_DTYPE_U8},
        {"[1, 3000000000]", FY_DTYPE_I32}, {"[1, -2147483649]", FY_DTYPE_I32},
        {"[1, 1e300]", FY_DTYPE_I64}, /* converting this double to int64 is undefined */
        {"[1, -1e19]", FY_DTYPE_I64},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fy_tensor t;
        fy_diag d;
        int rc = read_json(&t, cases[i].text, cases[i].dt, &d);
        FY_CHECK(rc == FY_EINVAL || rc == FY_EPARSE);
        if (rc == FY_OK) {
            fprintf(stderr, "accepted %s as %s\n", cases[i].text, fy_dtype_name(cases[i].dt));
            fy_tensor_deinit(&t);
        } else {
            FY_CHECK_CONTAINS(d.msg, "element 1");
        }
    }
}

TEST(json_ragged_arrays_name_the_position)
{
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(json_err("[[1, 2], [3]]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "ragged array");
    FY_CHECK_CONTAINS(d.msg, "depth 1");
    FY_CHECK_CONTAINS(d.msg, "element 2");
    FY_CHECK_CONTAINS(d.msg, "t.json");
    FY_CHECK_EQ(json_err("[[1, 2], [3, 4, 5]]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "ragged");
    FY_CHECK_EQ(json_err("[[1, 2], 3]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "element 2");
    FY_CHECK_EQ(json_err("[1, [2]]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "element 1 is not a number");
    FY_CHECK_EQ(json_err("[[[1], [2]], [[3], [4, 5]]]", FY_DTYPE_I64, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "depth 2");
    FY_CHECK_CONTAINS(d.msg, "element 3");
    /* an empty row next to a full one is ragged too, though the shape has no elements */
    int rc = read_json(&t, "[[], [1, 2]]", FY_DTYPE_UNDEFINED, &d);
    FY_CHECK_EQ(rc, FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "ragged");
    if (rc == FY_OK)
        fy_tensor_deinit(&t);
}

TEST(json_non_numbers)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"[\"a\", 1]", "expected numbers"},
        {"[1, \"a\"]", "element 1 is not a number"},
        {"[1, null]", "element 1 is not a number"},
        {"[[1, 2], [3, {}]]", "element 3 is not a number"},
        {"{\"data\": [1]}", "expected numbers"},
        {"null", "expected numbers"},
        {"\"1.5\"", "expected numbers"},
        {"[[null]]", "expected numbers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fy_diag d;
        FY_CHECK_EQ(json_err(cases[i].text, FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
        FY_CHECK_CONTAINS(d.msg, cases[i].msg);
    }
}

TEST(json_depth_above_eight)
{
    fy_diag d;
    FY_CHECK_EQ(json_err("[[[[[[[[[1]]]]]]]]]", FY_DTYPE_UNDEFINED, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "nested deeper than 8");
    /* nine levels whose innermost is empty */
    FY_CHECK_EQ(json_err("[[[[[[[[[]]]]]]]]]", FY_DTYPE_UNDEFINED, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "rank 9");
    /* far deeper than any tensor, and deeper than a naive recursive parser survives */
    size_t n = 100000;
    char *deep = malloc(2 * n + 2);
    memset(deep, '[', n);
    deep[n] = '1';
    memset(deep + n + 1, ']', n);
    deep[2 * n + 1] = 0;
    FY_CHECK(json_err(deep, FY_DTYPE_UNDEFINED, &d) < 0);
    FY_CHECK(d.msg[0] != 0);
    free(deep);
}

TEST(json_empty_arrays)
{
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(read_json(&t, "[]", FY_DTYPE_UNDEFINED, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 1);
    FY_CHECK_EQ(t.dims[0], 0);
    FY_CHECK(t.data != NULL);
    fy_tensor_deinit(&t);
    FY_CHECK_EQ(read_json(&t, "[[], []]", FY_DTYPE_I64, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 2);
    FY_CHECK_EQ(t.dims[0], 2);
    FY_CHECK_EQ(t.dims[1], 0);
    fy_tensor_deinit(&t);
}

TEST(json_invalid_text_gives_line_and_column)
{
    fy_diag d;
    FY_CHECK_EQ(json_err("[1,\n 2,,\n 3]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "t.json:2:");
    FY_CHECK_CONTAINS(d.msg, "invalid JSON");
    FY_CHECK_EQ(json_err("", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "invalid JSON");
    FY_CHECK_EQ(json_err("[1, 2] [3]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "t.json:1:");
    FY_CHECK_EQ(json_err("[1, 2", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_EQ(json_err("[NaN]", FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    const char nul[] = "[1,\0 2]";
    FY_CHECK_EQ(read_err(write_file("t.json", nul, sizeof nul - 1), FY_DTYPE_UNDEFINED, &d),
                FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "invalid JSON");
}

TEST(json_unsupported_dtype)
{
    fy_diag d;
    FY_CHECK_EQ(json_err("[1]", FY_DTYPE_F16, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "JSON tensors of float16");
    FY_CHECK_EQ(json_err("[1]", FY_DTYPE_STRING, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "string");
}

/* ---- .pb (ONNX TensorProto) ---- */

static uint8_t *pack_tensor(Onnx__TensorProto *tp, size_t *len)
{
    *len = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(*len + 1);
    onnx__tensor_proto__pack(tp, buf);
    return buf;
}

TEST(pb_valid_tensors)
{
    Onnx__TensorProto tp;
    onnx__tensor_proto__init(&tp);
    int64_t dims[2] = {2, 2};
    float fd[4] = {1, -2, 3.5f, 4};
    tp.name = (char *)"weights";
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.n_dims = 2;
    tp.dims = dims;
    tp.n_float_data = 4;
    tp.float_data = fd;
    size_t len;
    uint8_t *buf = pack_tensor(&tp, &len);
    fy_tensor t = {0};
    fy_diag d;
    FY_CHECK_EQ(fy_tensor_read_file(&t, write_file("w.pb", buf, len), FY_DTYPE_UNDEFINED, &d),
                FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_F32);
    FY_CHECK_EQ(t.rank, 2);
    FY_CHECK(t.data && memcmp(t.data, fd, sizeof fd) == 0);
    fy_tensor_deinit(&t);
    /* every prefix parses or fails cleanly */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n + 1);
        memcpy(copy, buf, n);
        if (fy_tensor_from_onnx_pb(&t, copy, n, &d) == FY_OK)
            fy_tensor_deinit(&t);
        else
            FY_CHECK(d.msg[0] != 0);
        free(copy);
    }
    free(buf);

    /* int64 in raw_data (little-endian), as exporters write it */
    onnx__tensor_proto__init(&tp);
    int64_t dim3[1] = {3};
    int64_t raw[3] = {-1, 0, (int64_t)1 << 40};
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    tp.n_dims = 1;
    tp.dims = dim3;
    tp.has_raw_data = 1;
    tp.raw_data.len = sizeof raw;
    tp.raw_data.data = (uint8_t *)raw;
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_OK);
    FY_CHECK(t.data && memcmp(t.data, raw, sizeof raw) == 0);
    fy_tensor_deinit(&t);
    free(buf);

    /* a scalar int32 */
    onnx__tensor_proto__init(&tp);
    int32_t i32[1] = {-7};
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
    tp.n_int32_data = 1;
    tp.int32_data = i32;
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 0);
    if (t.data)
        FY_CHECK_EQ(*(int32_t *)t.data, -7);
    fy_tensor_deinit(&t);
    free(buf);
}

TEST(pb_invalid_tensors)
{
    Onnx__TensorProto tp;
    onnx__tensor_proto__init(&tp);
    int64_t dims[1] = {4};
    float fd[3] = {1, 2, 3};
    tp.name = (char *)"short";
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.n_float_data = 3;
    tp.float_data = fd;
    size_t len;
    uint8_t *buf = pack_tensor(&tp, &len);
    fy_tensor t = {0};
    fy_diag d;
    FY_CHECK_EQ(read_err(write_file("s.pb", buf, len), FY_DTYPE_UNDEFINED, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "s.pb: tensor 'short'");
    FY_CHECK_CONTAINS(d.msg, "float_data holds 3 values but its shape needs 4");
    free(buf);

    tp.n_float_data = 0;
    tp.has_raw_data = 1;
    tp.raw_data.len = 15;
    tp.raw_data.data = (uint8_t *)"0123456789abcde";
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "raw_data has 15 bytes");
    free(buf);

    int64_t neg[1] = {-1};
    tp.dims = neg;
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "negative");
    free(buf);

    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    tp.dims = huge;
    tp.n_dims = 2;
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "tensor 'short'");
    free(buf);

    onnx__tensor_proto__init(&tp);
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    buf = pack_tensor(&tp, &len);
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, buf, len, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "string");
    free(buf);

    /* an empty file is an empty TensorProto: no element type */
    FY_CHECK_EQ(read_err(write_file("e.pb", "", 0), FY_DTYPE_UNDEFINED, &d), FY_EUNSUPPORTED);
    FY_CHECK_CONTAINS(d.msg, "e.pb");
    FY_CHECK_CONTAINS(d.msg, "element type 0");
    FY_CHECK(t.data == NULL);
}

TEST(pb_garbage_bytes)
{
    static const char *garbage[] = {
        "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", /* endless varint key */
        "\x0f",                                         /* wire type 7 */
        "\x42\x7f",                                     /* name: length past the end */
        "this is not a protobuf",
        "\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", /* 11-byte varint */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        fy_tensor t = {0};
        fy_diag d;
        FY_CHECK(read_err(write_str("g.pb", garbage[i]), FY_DTYPE_UNDEFINED, &d) < 0);
        FY_CHECK_CONTAINS(d.msg, "g.pb: ");
        FY_CHECK(t.data == NULL);
    }
    fy_tensor t = {0};
    fy_diag d;
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, "\x0f", 1, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "wire type 7");
    FY_CHECK_EQ(fy_tensor_from_onnx_pb(&t, "\x42\x7f", 2, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "runs past the end");
}

/* ---- dispatch ---- */

TEST(unknown_extension_and_missing_files)
{
    fy_tensor t = {0};
    fy_diag d;
    const char *names[] = {"x.txt", "x.NPY", "x", "x.npy.bak", "x.jso"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = write_str(names[i], "[1]");
        FY_CHECK_EQ(read_err(p, FY_DTYPE_UNDEFINED, &d), FY_EINVAL);
        FY_CHECK_CONTAINS(d.msg, "unknown tensor file type (use .npy, .pb or .json)");
        FY_CHECK_CONTAINS(d.msg, names[i]);
        unlink(p);
    }
    FY_CHECK_EQ(read_err(path_in("absent.npy"), FY_DTYPE_UNDEFINED, &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, "absent.npy");
    /* a folder named like a tensor file */
    const char *sub = path_in("folder.npy");
    mkdir(sub, 0700);
    FY_CHECK_EQ(read_err(sub, FY_DTYPE_UNDEFINED, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    rmdir(sub);
    FY_CHECK(t.data == NULL);
}

/* ---- allocation failures ---- */

static void check_enomem(const char *path, fy_dtype dt)
{
    int saw_ok = 0;
    for (long n = 1; n < 50 && !saw_ok; n++) {
        fy_tensor t = {0};
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = fy_tensor_read_file(&t, path, dt, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            fy_tensor_deinit(&t);
        } else {
            if (rc != FY_ENOMEM)
                fprintf(stderr, "%s, failing allocation %ld: %d %s\n", path, n, rc, d.msg);
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK_CONTAINS(d.msg, "out of memory");
            FY_CHECK(t.data == NULL);
        }
    }
    FY_CHECK(saw_ok);
}

TEST(allocation_failures_are_enomem_without_leaks)
{
    float v[6] = {1, 2, 3, 4, 5, 6};
    check_enomem(write_npy("a.npy", 1,
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v,
                           sizeof v),
                 FY_DTYPE_UNDEFINED);
    check_enomem(write_str("a.json", "[[1, 2], [3, 4]]"), FY_DTYPE_I64);
    Onnx__TensorProto tp;
    onnx__tensor_proto__init(&tp);
    int64_t dims[1] = {6};
    tp.has_data_type = 1;
    tp.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tp.n_dims = 1;
    tp.dims = dims;
    tp.n_float_data = 6;
    tp.float_data = v;
    tp.name = (char *)"a";
    size_t len;
    uint8_t *buf = pack_tensor(&tp, &len);
    check_enomem(write_file("a.pb", buf, len), FY_DTYPE_UNDEFINED);
    free(buf);
}

static void cleanup(void)
{
    static const char *names[] = {"t.npy", "s.npy", "e.npy",  "o.npy",  "r8.npy", "m.npy", "h.npy",
                                  "f.npy", "l.npy", "rt.npy", "bf.npy", "t.json", "w.pb",  "s.pb",
                                  "e.pb",  "g.pb",  "a.npy",  "a.json", "a.pb"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_in(names[i]));
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-tfXXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(npy_v1_and_v2_of_every_dtype);
    RUN(npy_scalars_empty_arrays_and_header_variants);
    RUN(npy_bad_magic_and_versions);
    RUN(npy_header_length_past_eof);
    RUN(npy_header_fields);
    RUN(npy_data_length_must_match_the_shape);
    RUN(npy_write_read_round_trip);
    RUN(npy_write_errors);
    RUN(json_nested_arrays_and_scalars);
    RUN(json_integers_keep_their_values);
    RUN(json_ragged_arrays_name_the_position);
    RUN(json_non_numbers);
    RUN(json_depth_above_eight);
    RUN(json_empty_arrays);
    RUN(json_invalid_text_gives_line_and_column);
    RUN(json_unsupported_dtype);
    RUN(pb_valid_tensors);
    RUN(pb_invalid_tensors);
    RUN(pb_garbage_bytes);
    RUN(unknown_extension_and_missing_files);
    RUN(allocation_failures_are_enomem_without_leaks);
    /* last: with the bug present, its int64 case is undefined behaviour that stops a UBSan run */
    RUN(json_integers_out_of_range_are_refused);
    cleanup();
    return TEST_SUMMARY();
}
