/* SPDX-License-Identifier: MIT */
/* npy: and dir: datasets: PGM and labels.txt parsing, well-formed and hostile. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/core.h"
#include "data/data.h"
#include "ferry/model.h"
#include "test.h"

static char dir[] = "/tmp/ferry-test-ds-XXXXXX";

static void put(const char *name, const void *data, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

TEST(pgm_well_formed)
{
    fy_tensor t;
    fy_diag d;
    const char a[] = "P5\n3 2\n255\n\x01\x02\x03\x04\x05\xff";
    FY_CHECK_EQ(fy__pgm_parse(a, sizeof a - 1, &t, &d), FY_OK);
    FY_CHECK_EQ(t.rank, 2);
    FY_CHECK_EQ(t.dims[0], 2);
    FY_CHECK_EQ(t.dims[1], 3);
    FY_CHECK_EQ(((uint8_t *)t.data)[5], 255);
    fy_tensor_deinit(&t);
    /* comments in the header, maxval 15 scaled to 0..255 */
    const char b[] = "P5 # made by hand\n# another\n2 1\n15\n\x0f\x05";
    FY_CHECK_EQ(fy__pgm_parse(b, sizeof b - 1, &t, &d), FY_OK);
    FY_CHECK_EQ(((uint8_t *)t.data)[0], 255);
    FY_CHECK_EQ(((uint8_t *)t.data)[1], 85);
    fy_tensor_deinit(&t);
}

TEST(pgm_malformed)
{
    fy_tensor t;
    fy_diag d;
    static const struct {
        const char *bytes;
        size_t len;
        int rc;
        const char *says;
    } cases[] = {
        {"", 0, FY_EPARSE, "P5"},
        {"P2\n1 1\n255\n7\n", 13, FY_EPARSE, "P5"},
        {"P5\n2 2\n255\n\x01", 12, FY_EPARSE, "pixel bytes"},
        {"P5\n99999 1\n255\n", 16, FY_EPARSE, "width"},
        {"P5\n0 1\n255\n", 11, FY_EPARSE, "empty"},
        {"P5\n1 1\n65535\n\x00\x00", 15, FY_EUNSUPPORTED, "8-bit"},
        {"P5\n1 1\n255", 10, FY_EPARSE, "whitespace"},
        {"P5\n1 x\n255\n\x00", 12, FY_EPARSE, "height"},
        {"P5 # never ends", 15, FY_EPARSE, "width"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&d, 0, sizeof d);
        FY_CHECK_EQ(fy__pgm_parse(cases[i].bytes, cases[i].len, &t, &d), cases[i].rc);
        if (!strstr(d.msg, cases[i].says))
            fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, d.msg, cases[i].says);
        FY_CHECK(strstr(d.msg, cases[i].says) != NULL);
    }
}

TEST(labels_well_formed_and_malformed)
{
    fy__labels l;
    fy_diag d;
    const char ok[] = "# name label\n\na.pgm 3\r\n  b.pgm\t7  \nc.pgm 0";
    FY_CHECK_EQ(fy__labels_parse(ok, sizeof ok - 1, &l, &d), FY_OK);
    FY_CHECK_EQ(l.n, 3);
    FY_CHECK_STR(l.names[1], "b.pgm");
    FY_CHECK_EQ(l.labels[0], 3);
    FY_CHECK_EQ(l.labels[1], 7);
    FY_CHECK_EQ(l.labels[2], 0);
    fy__labels_free(&l);
    static const struct {
        const char *text;
        int rc;
        const char *says;
    } bad[] = {
        {"", FY_EINVAL, "no images"},
        {"# only a comment\n", FY_EINVAL, "no images"},
        {"a.pgm\n", FY_EPARSE, "line 1"},
        {"a.pgm 1\nb.pgm x\n", FY_EINVAL, "line 2"},
        {"a.pgm -1\n", FY_EINVAL, "integer"},
        {"a.pgm 99999999999999999999999\n", FY_EINVAL, "integer"},
        {"a.pgm 1 2\n", FY_EINVAL, "integer"},
        {"../etc/passwd 1\n", FY_EINVAL, "plain name"},
        {"sub/a.pgm 1\n", FY_EINVAL, "plain name"},
        {".hidden 1\n", FY_EINVAL, "plain name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&d, 0, sizeof d);
        FY_CHECK_EQ(fy__labels_parse(bad[i].text, strlen(bad[i].text), &l, &d), bad[i].rc);
        FY_CHECK(strstr(d.msg, bad[i].says) != NULL);
    }
    const char nul[] = "a.pgm 1\0\n";
    FY_CHECK_EQ(fy__labels_parse(nul, sizeof nul - 1, &l, &d), FY_EPARSE);
}

TEST(dir_dataset)
{
    put("a.pgm", "P5\n2 2\n255\n\x01\x02\x03\x04", 15);
    put("b.pgm", "P5\n2 2\n255\n\x05\x06\x07\x08", 15);
    put("labels.txt", "a.pgm 1\nb.pgm 4\n", 16);
    char spec[128];
    snprintf(spec, sizeof spec, "dir:%s", dir);
    fy_dataset ds;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_OK);
    FY_CHECK_EQ(ds.count, 2);
    FY_CHECK_EQ(ds.samples.dims[1], 2);
    FY_CHECK_EQ(((uint8_t *)ds.samples.data)[7], 8);
    FY_CHECK_EQ(((int64_t *)ds.labels.data)[1], 4);
    fy_dataset_deinit(&ds);
    /* images of different sizes */
    put("c.pgm", "P5\n1 2\n255\n\x05\x06", 13);
    put("labels.txt", "a.pgm 1\nc.pgm 4\n", 16);
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_EINVAL);
    FY_CHECK(strstr(d.msg, "c.pgm") != NULL);
    /* a missing image names the file */
    put("labels.txt", "a.pgm 1\nnothere.pgm 4\n", 22);
    FY_CHECK(fy_dataset_open(&ds, spec, &d) != FY_OK);
    FY_CHECK(strstr(d.msg, "nothere.pgm") != NULL);
    /* a broken image names the file and the fault */
    put("bad.pgm", "P6\n1 1\n255\n\x01\x02\x03", 14);
    put("labels.txt", "bad.pgm 1\n", 10);
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_EPARSE);
    FY_CHECK(strstr(d.msg, "bad.pgm") != NULL);
    /* no labels.txt */
    char none[160];
    snprintf(none, sizeof none, "dir:%s/nowhere", dir);
    FY_CHECK(fy_dataset_open(&ds, none, &d) != FY_OK);
}

TEST(npy_dataset)
{
    fy_tensor img = {0}, lab = {0}, flt = {0};
    int64_t id[3] = {3, 2, 2}, ld[1] = {3}, bad[1] = {2};
    fy_tensor_alloc(&img, FY_DTYPE_U8, 3, id, NULL);
    for (int i = 0; i < 12; i++)
        ((uint8_t *)img.data)[i] = (uint8_t)i;
    fy_tensor_alloc(&lab, FY_DTYPE_I32, 1, ld, NULL);
    ((int32_t *)lab.data)[2] = 9;
    char pi[200], pl[200], pf[200], pb[200], spec[900];
    snprintf(pi, sizeof pi, "%s/images.npy", dir);
    snprintf(pl, sizeof pl, "%s/labels.npy", dir);
    snprintf(pf, sizeof pf, "%s/float.npy", dir);
    snprintf(pb, sizeof pb, "%s/two.npy", dir);
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_tensor_write_npy(&img, pi, &d), FY_OK);
    FY_CHECK_EQ(fy_tensor_write_npy(&lab, pl, &d), FY_OK);
    fy_tensor_alloc(&flt, FY_DTYPE_F32, 3, id, NULL);
    FY_CHECK_EQ(fy_tensor_write_npy(&flt, pf, &d), FY_OK);
    fy_tensor_deinit(&lab);
    fy_tensor_alloc(&lab, FY_DTYPE_I64, 1, bad, NULL);
    FY_CHECK_EQ(fy_tensor_write_npy(&lab, pb, &d), FY_OK);
    fy_dataset ds;
    snprintf(spec, sizeof spec, "npy:%s,%s", pi, pl);
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_OK);
    FY_CHECK_EQ(ds.count, 3);
    FY_CHECK_EQ(((int64_t *)ds.labels.data)[2], 9);
    fy_dataset_deinit(&ds);
    snprintf(spec, sizeof spec, "npy:%s,%s", pf, pl); /* float images */
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_EINVAL);
    FY_CHECK(strstr(d.msg, "uint8") != NULL);
    snprintf(spec, sizeof spec, "npy:%s,%s", pi, pb); /* 3 images, 2 labels */
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_EINVAL);
    snprintf(spec, sizeof spec, "npy:%s,%s", pi, pf); /* float labels */
    FY_CHECK_EQ(fy_dataset_open(&ds, spec, &d), FY_EINVAL);
    FY_CHECK_EQ(fy_dataset_open(&ds, "npy:only-one.npy", &d), FY_EINVAL);
    fy_tensor_deinit(&img);
    fy_tensor_deinit(&lab);
    fy_tensor_deinit(&flt);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(pgm_well_formed);
    RUN(pgm_malformed);
    RUN(labels_well_formed_and_malformed);
    RUN(dir_dataset);
    RUN(npy_dataset);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
