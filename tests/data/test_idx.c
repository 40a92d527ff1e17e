/* SPDX-License-Identifier: MIT */
/* IDX files and datasets: valid plain and gzip files read back exactly; truncated,
 * padded, mislabelled and hostile ones (absurd dims, tiny gzip files claiming
 * gigabytes, FIFOs) are refused with a message naming the problem, quickly, and
 * without leaking or allocating what the header claims. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/core.h"
#include "ferry/ferry.h"
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

static void write_bytes(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (f) {
            if (n)
                gzwrite(f, data, (unsigned)n);
            gzclose(f);
        }
        return;
    }
    FILE *f = fopen(path, "wb");
    if (f) {
        if (n)
            fwrite(data, 1, n, f);
        fclose(f);
    }
}

/* Header (magic + big-endian dims) followed by payload bytes as given. */
static size_t idx_bytes(unsigned char *buf, unsigned char type, int rank, const uint32_t *dims,
                        const void *payload, size_t n)
{
    size_t len = 0;
    buf[len++] = 0;
    buf[len++] = 0;
    buf[len++] = type;
    buf[len++] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        buf[len++] = (unsigned char)(dims[i] >> 24);
        buf[len++] = (unsigned char)(dims[i] >> 16);
        buf[len++] = (unsigned char)(dims[i] >> 8);
        buf[len++] = (unsigned char)dims[i];
    }
    if (n)
        memcpy(buf + len, payload, n);
    return len + n;
}

static const char *write_idx(const char *name, unsigned char type, int rank, const uint32_t *dims,
                             const void *payload, size_t n, int gz)
{
    unsigned char *buf = malloc(4 + 4 * (size_t)(rank > 0 ? rank : 0) + n + 1);
    size_t len = idx_bytes(buf, type, rank, dims, payload, n);
    const char *p = path_in(name);
    write_bytes(p, buf, len, gz);
    free(buf);
    return p;
}

/* Read a file expected to be refused: frees an unexpected success, and checks the
 * out-parameter is left untouched on failure. */
static int read_err(const char *p, fy_diag *d)
{
    fy_tensor t = {0};
    int rc = fy_idx_read(&t, p, d);
    if (rc == FY_OK)
        fy_tensor_deinit(&t);
    else
        FY_CHECK(t.data == NULL);
    return rc;
}

/* ---- valid files ---- */

TEST(plain_uint8_images)
{
    uint32_t dims[3] = {2, 3, 4};
    unsigned char px[24];
    for (int i = 0; i < 24; i++)
        px[i] = (unsigned char)(i * 10);
    const char *p = write_idx("images.idx", 0x08, 3, dims, px, sizeof px, 0);
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_idx_read(&t, p, &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_U8);
    FY_CHECK_EQ(t.rank, 3);
    FY_CHECK_EQ(t.dims[0], 2);
    FY_CHECK_EQ(t.dims[1], 3);
    FY_CHECK_EQ(t.dims[2], 4);
    FY_CHECK(memcmp(t.data, px, sizeof px) == 0);
    fy_tensor_deinit(&t);
}

TEST(gzip_files_of_every_type_are_byte_swapped)
{
    uint32_t dims[1] = {3};
    /* int32 big-endian: 1, -2, 0x01020304 */
    unsigned char i32[12] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4};
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("i32.idx.gz", 0x0C, 1, dims, i32, 12, 1), &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_I32);
    if (t.data) {
        int32_t *v = t.data;
        FY_CHECK_EQ(v[0], 1);
        FY_CHECK_EQ(v[1], -2);
        FY_CHECK_EQ(v[2], 0x01020304);
    }
    fy_tensor_deinit(&t);

    /* float32 big-endian: 1.0, -2.5, 0 */
    unsigned char f32[12] = {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0, 0, 0, 0, 0};
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("f32.idx.gz", 0x0D, 1, dims, f32, 12, 1), &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_F32);
    if (t.data) {
        float *v = t.data;
        FY_CHECK_NEAR(v[0], 1.0, 0);
        FY_CHECK_NEAR(v[1], -2.5, 0);
        FY_CHECK_NEAR(v[2], 0, 0);
    }
    fy_tensor_deinit(&t);

    /* float64 1.5 */
    uint32_t one[1] = {1};
    unsigned char f64[8] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("f64.idx", 0x0E, 1, one, f64, 8, 0), &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_F64);
    if (t.data)
        FY_CHECK_NEAR(*(double *)t.data, 1.5, 0);
    fy_tensor_deinit(&t);

    /* int16 -300, int8 -1 */
    unsigned char i16[2] = {0xfe, 0xd4};
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("i16.idx.gz", 0x0B, 1, one, i16, 2, 1), &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_I16);
    if (t.data)
        FY_CHECK_EQ(*(int16_t *)t.data, -300);
    fy_tensor_deinit(&t);
    unsigned char i8[1] = {0xff};
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("i8.idx", 0x09, 1, one, i8, 1, 0), &d), FY_OK);
    FY_CHECK_EQ(t.dtype, FY_DTYPE_I8);
    if (t.data)
        FY_CHECK_EQ(*(int8_t *)t.data, -1);
    fy_tensor_deinit(&t);
}

TEST(zero_count_and_rank_eight_are_valid)
{
    uint32_t zero[3] = {0, 28, 28};
    fy_tensor t;
    fy_diag d;
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("empty.idx", 0x08, 3, zero, NULL, 0, 0), &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_numel(&t), 0);
    fy_tensor_deinit(&t);
    uint32_t ones[8] = {1, 1, 1, 1, 1, 1, 1, 2};
    unsigned char two[2] = {7, 9};
    FY_CHECK_EQ(fy_idx_read(&t, write_idx("r8.idx", 0x08, 8, ones, two, 2, 1), &d), FY_OK);
    FY_CHECK_EQ(t.rank, 8);
    fy_tensor_deinit(&t);
}

/* ---- malformed files ---- */

TEST(missing_and_empty_files)
{
    fy_tensor t = {0};
    fy_diag d;
    FY_CHECK_EQ(fy_idx_read(&t, path_in("nope.idx"), &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, "nope.idx");
    const char *p = path_in("zero-bytes.idx");
    write_bytes(p, "", 0, 0);
    FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "shorter than its 4-byte magic");
    write_bytes(p, "\0\0", 2, 1);
    FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "4-byte magic");
    FY_CHECK_EQ(read_err(dir, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK(t.data == NULL);
}

TEST(truncated_header)
{
    uint32_t dims[3] = {10, 28, 28};
    unsigned char buf[64];
    size_t len = idx_bytes(buf, 0x08, 3, dims, NULL, 0);
    fy_diag d;
    for (size_t cut = 5; cut < len; cut++) {
        for (int gz = 0; gz < 2; gz++) {
            const char *p = path_in("hdr.idx");
            write_bytes(p, buf, cut, gz);
            FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
            FY_CHECK_CONTAINS(d.msg, "truncated IDX header");
        }
    }
}

TEST(truncated_data)
{
    uint32_t dims[2] = {4, 4};
    unsigned char px[16] = {0};
    fy_tensor t = {0};
    fy_diag d;
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_idx("short.idx", 0x08, 2, dims, px, 15, gz);
        FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
        FY_CHECK_CONTAINS(d.msg, "truncated");
        FY_CHECK_CONTAINS(d.msg, "16 data bytes");
    }
    /* a gzip stream cut short (no trailer, data missing) */
    unsigned char raw[64], gzbuf[256];
    size_t len = idx_bytes(raw, 0x08, 2, dims, px, 16);
    const char *p = path_in("cut.idx.gz");
    write_bytes(p, raw, len, 1);
    FILE *f = fopen(p, "rb");
    size_t glen = f ? fread(gzbuf, 1, sizeof gzbuf, f) : 0;
    if (f)
        fclose(f);
    for (size_t cut = 1; cut + 8 < glen; cut += 3) {
        write_bytes(p, gzbuf, cut, 0);
        if (fy_idx_read(&t, p, &d) == FY_OK) {
            FY_CHECK(!"a gzip stream cut short was accepted");
            fy_tensor_deinit(&t);
        }
        FY_CHECK(d.msg[0] != 0);
    }
    FY_CHECK(t.data == NULL);
}

TEST(trailing_bytes_are_refused)
{
    uint32_t dims[1] = {3};
    unsigned char data[4] = {1, 2, 3, 4};
    fy_tensor t = {0};
    fy_diag d;
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_idx("trail.idx", 0x08, 1, dims, data, 4, gz);
        FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
        FY_CHECK_CONTAINS(d.msg, "trailing bytes after the 3 data bytes");
    }
    FY_CHECK(t.data == NULL);
}

TEST(bad_magic_and_types)
{
    fy_tensor t = {0};
    fy_diag d;
    const char *p = path_in("magic.idx");
    static const unsigned char cases[][8] = {
        {1, 0, 8, 1, 0, 0, 0, 1},    /* first byte not zero */
        {0, 1, 8, 1, 0, 0, 0, 1},    /* second byte not zero */
        {0, 0, 0x0A, 1, 0, 0, 0, 1}, /* 0x0A is not a type */
        {0, 0, 0x07, 1, 0, 0, 0, 1},    {0, 0, 0x0F, 1, 0, 0, 0, 1},
        {0x1f, 0x8b, 8, 0, 0, 0, 0, 0}, /* gzip magic with a broken gzip header */
        {'P', 'K', 3, 4, 0, 0, 0, 0},   /* a zip file */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(p, cases[i], 8, 0);
        FY_CHECK(read_err(p, &d) < 0);
        if (i < 5) {
            FY_CHECK_CONTAINS(d.msg, "not an IDX file (magic");
            FY_CHECK_CONTAINS(d.msg, "expected 00 00");
        }
    }
    write_bytes(p, cases[2], 8, 1);
    FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "00 00 0a 01");
    /* text pretending to be IDX */
    write_bytes(p, "hello world\n", 12, 0);
    FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "not an IDX file");
    FY_CHECK(t.data == NULL);
}

TEST(rank_zero_and_above_eight)
{
    fy_diag d;
    uint32_t dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    unsigned char x = 5;
    FY_CHECK_EQ(read_err(write_idx("r0.idx", 0x08, 0, dims, &x, 1, 0), &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "IDX rank 0 is not in 1..8");
    FY_CHECK_EQ(read_err(write_idx("r9.idx", 0x08, 9, dims, &x, 1, 1), &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "IDX rank 9 is not in 1..8");
    unsigned char r255[4] = {0, 0, 8, 255};
    const char *p = path_in("r255.idx");
    write_bytes(p, r255, 4, 0);
    FY_CHECK_EQ(read_err(p, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "rank 255");
}

TEST(dims_whose_product_overflows)
{
    fy_tensor t = {0};
    fy_diag d;
    uint32_t dims[8];
    for (int i = 0; i < 8; i++)
        dims[i] = 0xffffffffu;
    long before = fy__alloc_count();
    FY_CHECK_EQ(read_err(write_idx("ovf.idx", 0x0E, 8, dims, NULL, 0, 0), &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "more data than allowed");
    /* above FY_IDX_MAX_BYTES but under the general tensor ceiling */
    uint32_t eight_gib[2] = {1u << 16, 1u << 17};
    FY_CHECK_EQ(read_err(write_idx("big.idx", 0x08, 2, eight_gib, NULL, 0, 0), &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "more data than allowed");
    FY_CHECK_EQ(fy__alloc_count(), before); /* refused from the header alone */
    FY_CHECK(t.data == NULL);
}

/* A few hundred bytes of gzip whose header claims gigabytes: refused from the header,
 * quickly, never allocating what it claims. */
TEST(gzip_bomb_claiming_huge_dims_fails_fast)
{
    fy_tensor t = {0};
    fy_diag d;
    uint32_t dims[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    unsigned char zeros[256] = {0};
    long before = fy__alloc_count();
    FY_CHECK_EQ(read_err(write_idx("bomb.idx.gz", 0x0D, 3, dims, zeros, sizeof zeros, 1), &d),
                FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "more data than allowed");
    FY_CHECK_EQ(fy__alloc_count(), before);
    FY_CHECK(t.data == NULL);
}

/* Same, for a claim under the ceilings (3 GiB of float32) that the file cannot hold:
 * deflate expands at most 1032:1 and a plain file holds its size, so a tiny file
 * promising gigabytes is truncated on its face and must not cost a 3 GiB buffer. */
TEST(tiny_files_claiming_gigabytes_do_not_allocate_them)
{
    fy_tensor t = {0};
    fy_diag d;
    uint32_t dims[3] = {12288, 256, 256}; /* 3 GiB as float32 */
    unsigned char zeros[256] = {0};
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_idx("claim.idx", 0x0D, 3, dims, zeros, sizeof zeros, gz);
        long before = fy__alloc_count();
        int rc = fy_idx_read(&t, p, &d);
        FY_CHECK(rc == FY_EPARSE || rc == FY_ELIMIT);
        FY_CHECK_CONTAINS(d.msg, "truncated");
        FY_CHECK_EQ(fy__alloc_count(), before);
    }
}

TEST(fifo_is_refused_without_blocking)
{
    const char *p = path_in("fifo.idx");
    FY_CHECK_EQ(mkfifo(p, 0600), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        fy_tensor t = {0};
        fy_diag d;
        int rc = fy_idx_read(&t, p, &d);
        _exit(rc == FY_EINVAL && strstr(d.msg, "not a regular file") ? 0 : 1);
    }
    int status = 0;
    FY_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    FY_CHECK(WIFEXITED(status)); /* killed by SIGALRM: it blocked opening the FIFO */
    FY_CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
    unlink(p);
}

TEST(every_prefix_and_bit_flip_fails_cleanly)
{
    uint32_t dims[2] = {3, 5};
    unsigned char data[30];
    for (int i = 0; i < 30; i++)
        data[i] = (unsigned char)(i * 7);
    unsigned char buf[64];
    size_t len = idx_bytes(buf, 0x0B, 2, dims, data, 30);
    const char *p = path_in("mut.idx");
    fy_tensor t;
    fy_diag d;
    for (size_t n = 0; n < len; n++) {
        write_bytes(p, buf, n, 0);
        FY_CHECK(read_err(p, &d) < 0);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char copy[64];
        memcpy(copy, buf, len);
        copy[i] ^= 0x81;
        write_bytes(p, copy, len, i & 1);
        memset(&t, 0, sizeof t);
        if (fy_idx_read(&t, p, &d) == FY_OK) {
            FY_CHECK(i >= 4 + 8); /* only payload flips can still be valid */
            fy_tensor_deinit(&t);
        } else {
            FY_CHECK(d.msg[0] != 0);
        }
    }
}

TEST(allocation_failure_in_idx_read_is_enomem)
{
    uint32_t dims[1] = {4};
    unsigned char data[4] = {1, 2, 3, 4};
    const char *p = write_idx("alloc.idx.gz", 0x08, 1, dims, data, 4, 1);
    int saw_ok = 0;
    for (long n = 1; n < 10 && !saw_ok; n++) {
        fy_tensor t = {0};
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = fy_idx_read(&t, p, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            fy_tensor_deinit(&t);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK_CONTAINS(d.msg, "out of memory");
            FY_CHECK(t.data == NULL);
        }
    }
    FY_CHECK(saw_ok);
}

/* ---- datasets ---- */

static void write_dataset(int n_images, int n_labels, unsigned char label_type)
{
    uint32_t idims[3] = {(uint32_t)n_images, 2, 2};
    unsigned char px[64] = {0};
    for (int i = 0; i < 64; i++)
        px[i] = (unsigned char)i;
    write_idx("ds-images.gz", 0x08, 3, idims, px, (size_t)n_images * 4, 1);
    uint32_t ldims[1] = {(uint32_t)n_labels};
    unsigned char lb[64] = {0};
    size_t es = label_type == 0x0C || label_type == 0x0D ? 4 : label_type == 0x0B ? 2 : 1;
    for (int i = 0; i < n_labels; i++)
        lb[(size_t)i * es + es - 1] = (unsigned char)(i % 10); /* big-endian small values */
    write_idx("ds-labels", label_type, 1, ldims, lb, (size_t)n_labels * es, 0);
}

static const char *ds_spec(void)
{
    static char spec[600];
    snprintf(spec, sizeof spec, "idx:%s/ds-images.gz,%s/ds-labels", dir, dir);
    return spec;
}

TEST(dataset_opens_with_int64_labels)
{
    static const unsigned char types[] = {0x08, 0x09, 0x0B, 0x0C};
    for (size_t k = 0; k < sizeof types; k++) {
        write_dataset(12, 12, types[k]);
        fy_dataset ds;
        fy_diag d;
        FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_OK);
        FY_CHECK_EQ(ds.count, 12);
        FY_CHECK_EQ(ds.samples.rank, 3);
        FY_CHECK_EQ(ds.labels.dtype, FY_DTYPE_I64);
        FY_CHECK_EQ(ds.labels.dims[0], 12);
        if (ds.labels.data) {
            FY_CHECK_EQ(((int64_t *)ds.labels.data)[11], 1);
            FY_CHECK_EQ(((int64_t *)ds.labels.data)[9], 9);
        }
        fy_dataset_deinit(&ds);
    }
    fy_dataset_deinit(NULL);
}

TEST(dataset_count_mismatch_and_bad_labels)
{
    fy_dataset ds = {0};
    fy_diag d;
    write_dataset(10, 9, 0x08);
    FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "10 samples but 9 labels");
    FY_CHECK(ds.samples.data == NULL);

    /* float labels, and 2-D labels */
    write_dataset(3, 3, 0x0D);
    FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "labels must be a 1-D integer IDX file");
    uint32_t two[2] = {3, 1};
    unsigned char lb[3] = {0, 1, 2};
    write_idx("ds-labels", 0x08, 2, two, lb, 3, 0);
    FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "ds-labels");
    FY_CHECK_CONTAINS(d.msg, "1-D integer");

    /* missing labels file, broken images file: the message names which */
    unlink(path_in("ds-labels"));
    FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, "ds-labels");
    write_bytes(path_in("ds-images.gz"), "junk", 4, 0);
    FY_CHECK_EQ(fy_dataset_open(&ds, ds_spec(), &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "ds-images.gz");
}

TEST(dataset_bad_spec_strings)
{
    static const struct {
        const char *spec;
        const char *msg;
    } cases[] = {
        {"idx:", "idx:IMAGES,LABELS"},
        {"idx:a", "idx:IMAGES,LABELS"},
        {"csv:a,b", "unknown kind"},
        {"idx:a,b,c", "idx:IMAGES,LABELS"},
        {"idx:,b", "idx:IMAGES,LABELS"},
        {"idx:a,", "idx:IMAGES,LABELS"},
        {"", "unknown kind"},
        {"IDX:a,b", "unknown kind"},
        {"idx", "unknown kind"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fy_dataset ds = {0};
        fy_diag d;
        FY_CHECK_EQ(fy_dataset_open(&ds, cases[i].spec, &d), FY_EINVAL);
        FY_CHECK_CONTAINS(d.msg, cases[i].msg);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", cases[i].spec);
        FY_CHECK_CONTAINS(d.msg, quoted);
    }
    /* an images path longer than any real path */
    char *spec = malloc(10000);
    memcpy(spec, "idx:", 4);
    memset(spec + 4, 'a', 5000);
    memcpy(spec + 5004, ",b", 3);
    fy_dataset ds = {0};
    fy_diag d;
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "path too long");
    free(spec);
}

TEST(allocation_failures_in_dataset_open_are_enomem)
{
    write_dataset(5, 5, 0x08);
    int saw_ok = 0;
    for (long n = 1; n < 20 && !saw_ok; n++) {
        fy_dataset ds = {0};
        fy_diag d;
        fy__alloc_fail_at(n);
        int rc = fy_dataset_open(&ds, ds_spec(), &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            FY_CHECK(n > 3); /* images, raw labels and int64 labels were all allocated */
            fy_dataset_deinit(&ds);
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            FY_CHECK(ds.samples.data == NULL && ds.labels.data == NULL);
        }
    }
    FY_CHECK(saw_ok);
}

static void cleanup(void)
{
    static const char *names[] = {
        "images.idx",   "i32.idx.gz",  "f32.idx.gz",     "f64.idx",  "i16.idx.gz", "i8.idx",
        "empty.idx",    "r8.idx",      "zero-bytes.idx", "hdr.idx",  "short.idx",  "cut.idx.gz",
        "trail.idx",    "magic.idx",   "r0.idx",         "r9.idx",   "r255.idx",   "ovf.idx",
        "big.idx",      "bomb.idx.gz", "claim.idx",      "fifo.idx", "mut.idx",    "alloc.idx.gz",
        "ds-images.gz", "ds-labels"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_in(names[i]));
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-test-idxXXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(plain_uint8_images);
    RUN(gzip_files_of_every_type_are_byte_swapped);
    RUN(zero_count_and_rank_eight_are_valid);
    RUN(missing_and_empty_files);
    RUN(truncated_header);
    RUN(truncated_data);
    RUN(trailing_bytes_are_refused);
    RUN(bad_magic_and_types);
    RUN(rank_zero_and_above_eight);
    RUN(dims_whose_product_overflows);
    RUN(gzip_bomb_claiming_huge_dims_fails_fast);
    RUN(tiny_files_claiming_gigabytes_do_not_allocate_them);
    RUN(fifo_is_refused_without_blocking);
    RUN(every_prefix_and_bit_flip_fails_cleanly);
    RUN(allocation_failure_in_idx_read_is_enomem);
    RUN(dataset_opens_with_int64_labels);
    RUN(dataset_count_mismatch_and_bad_labels);
    RUN(dataset_bad_spec_strings);
    RUN(allocation_failures_in_dataset_open_are_enomem);
    cleanup();
    return TEST_SUMMARY();
}
