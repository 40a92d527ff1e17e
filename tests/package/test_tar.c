/* SPDX-License-Identifier: MIT */
/* ustar writer and hostile-input reader, SHA-256 digests and atomic writes: round
 * trips (with GNU tar as a second opinion), deterministic bytes, a crafted archive
 * for every refusal, truncation at every offset, and atomic writes that leave
 * nothing under the final name when they fail (missing folder, a folder in the way,
 * a full disk via RLIMIT_FSIZE, failed allocations). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "package/package_int.h"
#include "test.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* ---- crafting headers by hand ---- */

#define BLK 512

typedef struct craft {
    uint8_t buf[BLK * 64];
    size_t len;
} craft;

static void set_octal(uint8_t *f, size_t width, unsigned long long v)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%0*llo", (int)(width - 1), v);
    memcpy(f, tmp, width - 1);
    f[width - 1] = 0;
}

static void fix_checksum(uint8_t *h)
{
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLK; i++)
        sum += h[i];
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%06o", sum);
    memcpy(h + 148, tmp, 6);
    h[154] = 0;
    h[155] = ' ';
}

/* Append a header (name copied raw, up to 100 bytes) and size bytes of data 'x';
 * returns the header so callers can tamper with it (then fix_checksum). */
static uint8_t *add(craft *c, const char *name, size_t name_len, char type, size_t size)
{
    uint8_t *h = c->buf + c->len;
    memset(h, 0, BLK);
    memcpy(h, name, name_len > 100 ? 100 : name_len);
    set_octal(h + 100, 8, 0644);
    set_octal(h + 108, 8, 0);
    set_octal(h + 116, 8, 0);
    set_octal(h + 124, 12, size);
    set_octal(h + 136, 12, 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    fix_checksum(h);
    c->len += BLK;
    size_t padded = (size + BLK - 1) / BLK * BLK;
    memset(c->buf + c->len, 0, padded);
    memset(c->buf + c->len, 'x', size);
    c->len += padded;
    return h;
}

static void end(craft *c)
{
    memset(c->buf + c->len, 0, 2 * BLK);
    c->len += 2 * BLK;
}

static void craft_init(craft *c)
{
    c->len = 0;
}

/* Read c, expecting refusal with code and a message holding want. */
static void expect_refused(craft *c, int max, int code, const char *want)
{
    fy__tar_entry *e = NULL;
    int n = -1;
    fy_diag d = {{0}};
    int rc = fy__tar_read(c->buf, c->len, max, &e, &n, &d);
    FY_CHECK_EQ(rc, code);
    FY_CHECK_CONTAINS(d.msg, want);
    FY_CHECK(e == NULL);
    FY_CHECK_EQ(n, -1);
    if (rc == FY_OK)
        free(e);
}

/* One entry (name_len bytes of name, type, size bytes) and the end marker: refused. */
static void expect_entry_refused(craft *c, const char *name, size_t name_len, char type,
                                 size_t size, const char *want)
{
    craft_init(c);
    add(c, name, name_len, type, size);
    end(c);
    expect_refused(c, 8, FY_EPARSE, want);
}

/* One regular entry whose header gets n bytes at off from bytes (then its checksum
 * fixed when fix is set), and the end marker: refused. */
static void expect_patched_refused(craft *c, const char *name, size_t size, size_t off,
                                   const void *bytes, size_t n, int fix, const char *want)
{
    craft_init(c);
    uint8_t *h = add(c, name, strlen(name), '0', size);
    memcpy(h + off, bytes, n);
    if (fix)
        fix_checksum(h);
    end(c);
    expect_refused(c, 8, FY_EPARSE, want);
}

/* ---- SHA-256 ---- */

TEST(sha256_known_vectors)
{
    char dg[FY_DIGEST_LEN];
    fy__sha256_digest("", 0, dg);
    FY_CHECK_STR(dg, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    fy__sha256_digest("abc", 3, dg);
    FY_CHECK_STR(dg, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    uint8_t raw[32];
    fy__sha256_raw("abc", 3, raw);
    FY_CHECK_EQ(raw[0], 0xba);
    FY_CHECK_EQ(raw[31], 0xad);
}

/* ---- writer and round trips ---- */

static const char long_name[] =
    "blobs/sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/"
    "and/a/file/name/that/is/well/past/one/hundred/bytes.txt";

TEST(round_trip_keeps_names_data_and_modes)
{
    uint8_t big[1500];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    fy__tar_entry in[5] = {
        {"a.txt", (const uint8_t *)"hello", 5, 0},
        {"empty", NULL, 0, 0},
        {"exact/512", big, 512, 0},
        {long_name, big, sizeof big, 0},
        {"usr/local/bin/ferry", big, 3, 0755},
    };
    uint8_t *tar = NULL;
    size_t len = 0;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__tar_write(in, 5, &tar, &len, &d), FY_OK);
    FY_CHECK_EQ(len % 512, 0);
    FY_CHECK_EQ(len, 512 * 5 + 512 + 0 + 512 + 1536 + 512 + 1024);
    fy__tar_entry *out = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(tar, len, 16, &out, &n, &d), FY_OK);
    FY_CHECK_EQ(n, 5);
    for (int i = 0; i < n && i < 5; i++) {
        FY_CHECK_STR(out[i].name, in[i].name);
        FY_CHECK_EQ(out[i].size, in[i].size);
        FY_CHECK(in[i].size == 0 || memcmp(out[i].data, in[i].data, in[i].size) == 0);
        FY_CHECK_EQ(out[i].mode, in[i].mode ? in[i].mode : 0644);
    }
    /* the long name went into the ustar prefix field */
    FY_CHECK(tar[3 * 512 + 1024 + 345] != 0);
    free(out);

    /* deterministic: the same entries, the same bytes */
    uint8_t *again = NULL;
    size_t len2 = 0;
    FY_CHECK_EQ(fy__tar_write(in, 5, &again, &len2, &d), FY_OK);
    FY_CHECK(len2 == len && memcmp(tar, again, len) == 0);
    free(again);
    free(tar);
}

TEST(gnu_tar_reads_what_we_write_and_we_read_gnu_ustar)
{
    if (system("tar --version >/dev/null 2>&1") != 0) {
        printf("skip: no tar\n");
        return;
    }
    fy__tar_entry in[2] = {{"x/one.txt", (const uint8_t *)"one\n", 4, 0},
                           {long_name, (const uint8_t *)"two\n", 4, 0}};
    uint8_t *tar = NULL;
    size_t len = 0;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__tar_write(in, 2, &tar, &len, &d), FY_OK);
    FILE *f = fopen(path_in("ours.tar"), "wb");
    fwrite(tar, 1, len, f);
    fclose(f);
    free(tar);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/x1 && tar -xf %s -C %s/x1 && cmp -s %s/x1/%s - <<EOF\ntwo\nEOF", dir,
             path_in("ours.tar"), dir, dir, long_name);
    FY_CHECK_EQ(system(cmd), 0);

    /* GNU tar in ustar format, with directory entries: directories are skipped */
    snprintf(cmd, sizeof cmd, "cd %s/x1 && tar --format=ustar --owner=0 --group=0 -cf %s x", dir,
             path_in("gnu.tar"));
    FY_CHECK_EQ(system(cmd), 0);
    unsigned char *buf = NULL;
    size_t blen = 0;
    FY_CHECK_EQ(fy__read_file(path_in("gnu.tar"), 1 << 20, &buf, &blen, &d), FY_OK);
    fy__tar_entry *out = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(buf, blen, 16, &out, &n, &d), FY_OK);
    FY_CHECK_EQ(n, 1);
    if (n == 1) {
        FY_CHECK_STR(out[0].name, "x/one.txt");
        FY_CHECK_EQ(out[0].size, 4);
    }
    free(out);
    fy__free(buf);
}

TEST(writer_refuses_names_it_could_not_read_back)
{
    const char *bad[] = {
        "", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", "a/",
        /* one component over 100 bytes cannot be split */
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fy__tar_entry e = {bad[i], (const uint8_t *)"x", 1, 0};
        uint8_t *tar = NULL;
        size_t len = 0;
        fy_diag d = {{0}};
        int rc = fy__tar_write(&e, 1, &tar, &len, &d);
        FY_CHECK(rc != FY_OK);
        FY_CHECK(tar == NULL);
        if (rc == FY_OK)
            free(tar);
    }
}

TEST(empty_archive_is_two_zero_blocks)
{
    uint8_t *tar = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__tar_write(NULL, 0, &tar, &len, NULL), FY_OK);
    FY_CHECK_EQ(len, 1024);
    fy__tar_entry *out = NULL;
    int n = -1;
    FY_CHECK_EQ(fy__tar_read(tar, len, 4, &out, &n, NULL), FY_OK);
    FY_CHECK_EQ(n, 0);
    free(out);
    free(tar);
}

/* ---- reader: one crafted archive per refusal ---- */

TEST(directories_are_skipped_but_must_be_empty)
{
    static craft c;
    craft_init(&c);
    add(&c, "blobs/", 6, '5', 0);
    add(&c, "blobs/f", 7, '0', 3);
    end(&c);
    fy__tar_entry *e = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 8, &e, &n, NULL), FY_OK);
    FY_CHECK_EQ(n, 1);
    free(e);

    expect_entry_refused(&c, "dir/", 4, '5', 10, "directory declares 10 bytes");
}

TEST(refuses_absolute_and_dotdot_paths)
{
    static craft c;
    expect_entry_refused(&c, "/etc/passwd", 11, '0', 1, "'/etc/passwd' at offset 0: absolute path");

    craft_init(&c);
    add(&c, "ok", 2, '0', 1);
    add(&c, "a/../../etc/passwd", 18, '0', 1);
    end(&c);
    expect_refused(&c, 8, FY_EPARSE, "'a/../../etc/passwd' at offset 1024: '..' path component");

    expect_entry_refused(&c, "..", 2, '5', 0, "'..' path component");
}

TEST(refuses_odd_names)
{
    static const struct {
        const char *name;
        size_t len;
        const char *want;
    } cases[] = {
        {"a\\b", 3, "backslash"},
        {"a//b", 4, "empty path component"},
        {"./a", 3, "'.' path component"},
        {"file/", 5, "empty path component"},
        /* "index.json\0../../x": a reader stopping at the NUL would see another name */
        {"index.json\0../../x", 18, "NUL byte in name"},
        {"a\033[2Jb", 6, "control character"},
    };
    static craft c;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_entry_refused(&c, cases[i].name, cases[i].len, '0', 1, cases[i].want);

    /* an empty name */
    expect_patched_refused(&c, "", 1, 0, "", 0, 1, "empty name");

    /* junk hidden in the prefix field after its NUL */
    expect_patched_refused(&c, "name", 1, 345 + 10, "z", 1, 1, "NUL byte in name");
}

TEST(prefix_field_joins_the_name_and_is_checked)
{
    static craft c;
    craft_init(&c);
    uint8_t *h = add(&c, "file", 4, '0', 2);
    memcpy(h + 345, "some/dir", 8);
    fix_checksum(h);
    end(&c);
    fy__tar_entry *e = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 8, &e, &n, NULL), FY_OK);
    if (n == 1)
        FY_CHECK_STR(e[0].name, "some/dir/file");
    free(e);

    expect_patched_refused(&c, "passwd", 2, 345, "/etc", 4, 1,
                           "'/etc/passwd' at offset 0: absolute path");
    expect_patched_refused(&c, "x", 2, 345, "..", 2, 1, "'..' path component");
}

TEST(refuses_links_devices_and_fifos)
{
    static const struct {
        char type;
        const char *want;
    } cases[] = {
        {'1', "hard link"},
        {'2', "symbolic link"},
        {'3', "character device"},
        {'4', "block device"},
        {'6', "FIFO"},
        {'7', "contiguous file"},
        {'x', "pax extended header"},
        {'g', "pax global header"},
        {'L', "GNU long-name header"},
        {'K', "GNU long-link header"},
        {'S', "GNU sparse"},
        {'V', "unsupported entry type 'V'"},
        {'\x85', "unsupported entry type '?'"},
    };
    static craft c;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        craft_init(&c);
        add(&c, "ok.txt", 6, '0', 1);
        uint8_t *h = add(&c, "evil", 4, cases[i].type, 0);
        if (cases[i].type == '1' || cases[i].type == '2') {
            memcpy(h + 157, "/etc/shadow", 11);
            fix_checksum(h);
        }
        end(&c);
        expect_refused(&c, 8, FY_EPARSE, cases[i].want);
        expect_refused(&c, 8, FY_EPARSE, "entry 'evil' at offset 1024");
    }
}

TEST(refuses_duplicate_entries)
{
    static craft c;
    craft_init(&c);
    add(&c, "index.json", 10, '0', 2);
    add(&c, "other", 5, '0', 2);
    add(&c, "index.json", 10, '0', 3);
    end(&c);
    expect_refused(&c, 8, FY_EPARSE, "'index.json' at offset 2048: duplicate entry");
    /* the same name spelled through the prefix field */
    craft_init(&c);
    add(&c, "a/b", 3, '0', 2);
    uint8_t *h = add(&c, "b", 1, '0', 2);
    memcpy(h + 345, "a", 1);
    fix_checksum(h);
    end(&c);
    expect_refused(&c, 8, FY_EPARSE, "duplicate entry");
}

TEST(refuses_sizes_past_the_end_and_huge_sizes)
{
    static craft c;
    craft_init(&c);
    uint8_t *h = add(&c, "f", 1, '0', 10);
    set_octal(h + 124, 12, 4000);
    fix_checksum(h);
    end(&c);
    expect_refused(&c, 8, FY_EPARSE, "declares 4000 bytes, past the end");

    /* the largest octal size: 8 GiB - 1 */
    expect_patched_refused(&c, "f", 0, 124, "77777777777", 11, 1,
                           "declares 8589934591 bytes, past the end");

    /* base-256 sizes (GNU) are refused, whatever they claim */
    static const uint8_t base256[12] = {0x80, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_patched_refused(&c, "f", 0, 124, base256, 12, 1, "size field: base-256 number");
    expect_patched_refused(&c, "f", 0, 124, "12x4", 4, 1, "size field: not an octal number");
    static const uint8_t zeros[12] = {0};
    expect_patched_refused(&c, "f", 0, 124, zeros, 12, 1, "size field: no octal digits");
    expect_patched_refused(&c, "f", 0, 100, "0-44", 4, 1, "mode field");
}

TEST(refuses_bad_checksums_and_magic)
{
    static craft c;
    /* a flipped byte after the checksum was computed */
    expect_patched_refused(&c, "f", 1, 0, "g", 1, 0, "bad header checksum");
    expect_patched_refused(&c, "f", 1, 148, "zzzzzz", 6, 0, "header checksum: no octal digits");
    expect_patched_refused(&c, "f", 1, 257, "notar", 5, 1, "not a ustar header");

    /* GNU's "ustar  " magic is accepted (its prefix field is not used) */
    craft_init(&c);
    uint8_t *h = add(&c, "f", 1, '0', 1);
    memcpy(h + 257, "ustar  ", 8);
    fix_checksum(h);
    end(&c);
    fy__tar_entry *e = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 8, &e, &n, NULL), FY_OK);
    FY_CHECK_EQ(n, 1);
    free(e);
}

TEST(refuses_too_many_entries)
{
    static craft c;
    craft_init(&c);
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "f%d", i);
        add(&c, name, strlen(name), i == 2 ? '5' : '0', 0);
    }
    end(&c);
    fy__tar_entry *e = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 5, &e, &n, NULL), FY_OK);
    FY_CHECK_EQ(n, 4); /* the directory is skipped, but counted against the limit */
    free(e);
    expect_refused(&c, 4, FY_ELIMIT, "more than 4 entries");
}

TEST(refuses_missing_end_marker_and_trailing_data)
{
    static craft c;
    craft_init(&c);
    add(&c, "f", 1, '0', 1);
    expect_refused(&c, 8, FY_EPARSE, "no end-of-archive marker");
    memset(c.buf + c.len, 0, BLK);
    c.len += BLK;
    expect_refused(&c, 8, FY_EPARSE, "lone zero block");
    memset(c.buf + c.len, 0, BLK);
    c.len += BLK;
    fy__tar_entry *e = NULL;
    int n = 0;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 8, &e, &n, NULL), FY_OK);
    free(e);
    /* zero padding to a record is fine; anything else after the marker is not */
    memset(c.buf + c.len, 0, 8 * BLK);
    c.len += 8 * BLK;
    FY_CHECK_EQ(fy__tar_read(c.buf, c.len, 8, &e, &n, NULL), FY_OK);
    free(e);
    c.buf[c.len - 3] = 'j';
    expect_refused(&c, 8, FY_EPARSE, "data after the end-of-archive marker");
}

TEST(truncation_at_every_offset_is_refused)
{
    fy__tar_entry in[3] = {{"a", (const uint8_t *)"alpha", 5, 0},
                           {"b/c", (const uint8_t *)"", 0, 0},
                           {"d", (const uint8_t *)"delta-delta", 11, 0}};
    uint8_t *tar = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__tar_write(in, 3, &tar, &len, NULL), FY_OK);
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        fy__tar_entry *e = NULL;
        int n = 0;
        fy_diag d = {{0}};
        /* an exact copy, so ASan sees any read past the cut */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, tar, cut);
        int rc = fy__tar_read(copy, cut, 8, &e, &n, &d);
        refused += rc == FY_EPARSE &&
                   (strstr(d.msg, "truncated") != NULL || strstr(d.msg, "past the end") != NULL);
        if (rc == FY_OK)
            free(e);
        free(copy);
    }
    FY_CHECK_EQ(refused, (long long)len);
    free(tar);
}

TEST(every_flipped_header_byte_is_refused_or_harmless)
{
    /* Flip each header byte: the checksum catches it (or, for the checksum field
     * itself, the value no longer matches). Never a crash. */
    fy__tar_entry in[1] = {{"blobs/x", (const uint8_t *)"data", 4, 0}};
    uint8_t *tar = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__tar_write(in, 1, &tar, &len, NULL), FY_OK);
    int accepted = 0;
    for (int i = 0; i < 512; i++) {
        tar[i] ^= 0x40;
        fy__tar_entry *e = NULL;
        int n = 0;
        if (fy__tar_read(tar, len, 8, &e, &n, NULL) == FY_OK) {
            accepted++;
            free(e);
        }
        tar[i] ^= 0x40;
    }
    /* flips inside the checksum field that keep it a valid octal of the same value:
     * only the trailing NUL/space bytes (" " <-> "`" is not valid, so none) */
    FY_CHECK_EQ(accepted, 0);
    free(tar);
}

TEST(archive_above_the_package_limit_is_refused_before_reading)
{
    uint8_t one[BLK] = {0};
    fy__tar_entry *e = NULL;
    int n = 0;
    fy_diag d = {{0}};
    /* the length alone decides: the buffer is never read */
    FY_CHECK_EQ(fy__tar_read(one, FY_PACKAGE_MAX_BYTES + 1, 8, &e, &n, &d), FY_ELIMIT);
    FY_CHECK_CONTAINS(d.msg, "above the limit");
}

TEST(read_and_write_fail_cleanly_without_memory)
{
    fy__tar_entry in[2] = {{"a", (const uint8_t *)"alpha", 5, 0}, {"b", NULL, 0, 0}};
    uint8_t *tar = NULL;
    size_t len = 0;
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy__tar_write(in, 2, &tar, &len, NULL), FY_ENOMEM);
    fy__alloc_fail_at(0);
    FY_CHECK_EQ(fy__tar_write(in, 2, &tar, &len, NULL), FY_OK);
    fy__tar_entry *e = NULL;
    int n = 0;
    fy__alloc_fail_at(1);
    FY_CHECK_EQ(fy__tar_read(tar, len, 8, &e, &n, NULL), FY_ENOMEM);
    fy__alloc_fail_at(0);
    FY_CHECK(e == NULL);
    free(tar);
}

/* ---- atomic writes ---- */

static int count_temps(const char *folder, const char *stem)
{
    DIR *dd = opendir(folder);
    int k = 0;
    struct dirent *de;
    while (dd && (de = readdir(dd)))
        k += strncmp(de->d_name, stem, strlen(stem)) == 0 && strstr(de->d_name, ".tmp-") != NULL;
    if (dd)
        closedir(dd);
    return k;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

TEST(atomic_write_writes_and_replaces)
{
    const char *p = path_in("out.bin");
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__write_atomic(p, "first", 5, &d), FY_OK);
    FY_CHECK_EQ(fy__write_atomic(p, "second!", 7, &d), FY_OK);
    unsigned char *buf = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__read_file(p, 100, &buf, &len, &d), FY_OK);
    FY_CHECK_EQ(len, 7);
    FY_CHECK(buf && memcmp(buf, "second!", 7) == 0);
    fy__free(buf);
    FY_CHECK_EQ(count_temps(dir, "out.bin"), 0);
    /* an empty file is a file too */
    FY_CHECK_EQ(fy__write_atomic(path_in("empty.bin"), "", 0, &d), FY_OK);
    FY_CHECK(exists(path_in("empty.bin")));
}

TEST(atomic_write_failures_leave_nothing)
{
    fy_diag d = {{0}};
    /* a folder that does not exist */
    const char *p = path_in("missing/out.bin");
    FY_CHECK(fy__write_atomic(p, "x", 1, &d) != FY_OK);
    FY_CHECK_CONTAINS(d.msg, "cannot create a temporary file");
    FY_CHECK(!exists(p));
    /* a "folder" that is a file */
    FILE *f = fopen(path_in("plainfile"), "w");
    fclose(f);
    p = path_in("plainfile/out.bin");
    FY_CHECK(fy__write_atomic(p, "x", 1, &d) != FY_OK);
    FY_CHECK(!exists(p));
    /* a folder in the way of the final name: the rename fails, the temp is removed */
    mkdir(path_in("taken"), 0755);
    FY_CHECK_EQ(fy__write_atomic(path_in("taken"), "x", 1, &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "cannot rename");
    FY_CHECK_EQ(count_temps(dir, "taken"), 0);
    /* out of memory */
    for (int k = 1; k <= 2; k++) {
        fy__alloc_fail_at(k);
        FY_CHECK_EQ(fy__write_atomic(path_in("oom.bin"), "x", 1, &d), FY_ENOMEM);
        fy__alloc_fail_at(0);
        FY_CHECK(!exists(path_in("oom.bin")));
    }
    FY_CHECK_EQ(count_temps(dir, "oom.bin"), 0);
    FY_CHECK_EQ(fy__write_atomic("", "x", 1, &d), FY_EINVAL);
}

TEST(atomic_write_on_a_full_disk_leaves_nothing)
{
    /* RLIMIT_FSIZE makes write() fail with EFBIG past the limit, like ENOSPC: the
     * write loop must fail, remove its temporary file, and leave the old file. */
    const char *p = path_in("full.bin");
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy__write_atomic(p, "old", 3, &d), FY_OK);
    static uint8_t big[1 << 16];
    memset(big, 'b', sizeof big);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    FY_CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = fy__write_atomic(p, big, sizeof big, &d);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    FY_CHECK_EQ(rc, FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "writing 65536 bytes failed");
    FY_CHECK_EQ(count_temps(dir, "full.bin"), 0);
    unsigned char *buf = NULL;
    size_t len = 0;
    FY_CHECK_EQ(fy__read_file(p, 100, &buf, &len, &d), FY_OK);
    FY_CHECK(len == 3 && memcmp(buf, "old", 3) == 0);
    fy__free(buf);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fy_test_tar_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(sha256_known_vectors);
    RUN(round_trip_keeps_names_data_and_modes);
    RUN(gnu_tar_reads_what_we_write_and_we_read_gnu_ustar);
    RUN(writer_refuses_names_it_could_not_read_back);
    RUN(empty_archive_is_two_zero_blocks);
    RUN(directories_are_skipped_but_must_be_empty);
    RUN(refuses_absolute_and_dotdot_paths);
    RUN(refuses_odd_names);
    RUN(prefix_field_joins_the_name_and_is_checked);
    RUN(refuses_links_devices_and_fifos);
    RUN(refuses_duplicate_entries);
    RUN(refuses_sizes_past_the_end_and_huge_sizes);
    RUN(refuses_bad_checksums_and_magic);
    RUN(refuses_too_many_entries);
    RUN(refuses_missing_end_marker_and_trailing_data);
    RUN(truncation_at_every_offset_is_refused);
    RUN(every_flipped_header_byte_is_refused_or_harmless);
    RUN(archive_above_the_package_limit_is_refused_before_reading);
    RUN(read_and_write_fail_cleanly_without_memory);
    RUN(atomic_write_writes_and_replaces);
    RUN(atomic_write_failures_leave_nothing);
    RUN(atomic_write_on_a_full_disk_leaves_nothing);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
