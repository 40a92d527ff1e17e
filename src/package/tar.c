/* SPDX-License-Identifier: MIT */
/* ustar archives: a deterministic writer (fixed metadata, so the same entries give
 * the same bytes) and a reader for hostile input that accepts only plain files and
 * directories with clean relative names, and refuses everything else by name. */
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "package/package_int.h"

#define BLOCK 512
#define NAME_FIELD 100
#define PREFIX_FIELD 155
#define TAR_NAME_MAX 255 /* prefix + '/' + name */
/* Largest size 11 octal digits hold (8 GiB - 1); FY_PACKAGE_MAX_BYTES is below it. */
#define TAR_SIZE_MAX 077777777777ULL

/* Header field offsets (POSIX ustar). */
enum {
    H_NAME = 0,
    H_MODE = 100,
    H_UID = 108,
    H_GID = 116,
    H_SIZE = 124,
    H_MTIME = 136,
    H_CHKSUM = 148,
    H_TYPE = 156,
    H_MAGIC = 257,
    H_VERSION = 263,
    H_DEVMAJOR = 329,
    H_DEVMINOR = 337,
    H_PREFIX = 345,
};

static uint64_t pad_block(uint64_t n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* Why a '/'-separated relative name is unacceptable, or NULL if it is fine. The
 * same rules hold for writing and reading, so nothing we write is refused later. */
static const char *name_problem(const char *s, size_t n)
{
    if (n == 0)
        return "empty name";
    if (n > TAR_NAME_MAX)
        return "name longer than 255 bytes";
    if (s[0] == '/')
        return "absolute path";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0)
            return "NUL byte in name";
        if (c == '\\')
            return "backslash in name";
        if (c < 0x20 || c == 0x7f)
            return "control character in name";
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        size_t k = i - start;
        if (k == 0)
            return "empty path component";
        if (k == 1 && s[start] == '.')
            return "'.' path component";
        if (k == 2 && s[start] == '.' && s[start + 1] == '.')
            return "'..' path component";
        start = i + 1;
    }
    return NULL;
}

/* ---- writer ---- */

static void put_octal(uint8_t *f, size_t width, uint64_t v)
{
    /* width - 1 zero-padded digits and a NUL, as POSIX ustar writers do */
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%0*llo", (int)(width - 1), (unsigned long long)v);
    memcpy(f, tmp, width - 1);
    f[width - 1] = 0;
}

static int write_header(uint8_t *h, const fy__tar_entry *e, fy_diag *d)
{
    size_t n = strlen(e->name);
    const char *why = name_problem(e->name, n);
    if (why)
        return fy__diag_set(d, FY_EINVAL, "tar entry '%.255s': %s", e->name, why);
    if (e->size > TAR_SIZE_MAX)
        return fy__diag_set(d, FY_ELIMIT, "tar entry '%s': %zu bytes, above the ustar limit",
                            e->name, e->size);
    if (n <= NAME_FIELD) {
        memcpy(h + H_NAME, e->name, n);
    } else {
        /* split at the first '/' that leaves at most 100 bytes for the name field */
        size_t cut = 0;
        for (size_t i = n - NAME_FIELD - 1; i < n; i++) {
            if (e->name[i] == '/') {
                cut = i;
                break;
            }
        }
        if (cut == 0 || cut > PREFIX_FIELD)
            return fy__diag_set(d, FY_ELIMIT,
                                "tar entry '%s': name cannot be split into ustar prefix and name",
                                e->name);
        memcpy(h + H_PREFIX, e->name, cut);
        memcpy(h + H_NAME, e->name + cut + 1, n - cut - 1);
    }
    put_octal(h + H_MODE, 8, e->mode ? (e->mode & 07777) : 0644);
    put_octal(h + H_UID, 8, 0);
    put_octal(h + H_GID, 8, 0);
    put_octal(h + H_SIZE, 12, e->size);
    put_octal(h + H_MTIME, 12, 0);
    h[H_TYPE] = '0';
    memcpy(h + H_MAGIC, "ustar", 6);
    memcpy(h + H_VERSION, "00", 2);
    put_octal(h + H_DEVMAJOR, 8, 0);
    put_octal(h + H_DEVMINOR, 8, 0);
    memset(h + H_CHKSUM, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += h[i];
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%06o", sum);
    memcpy(h + H_CHKSUM, tmp, 6);
    h[H_CHKSUM + 6] = 0;
    h[H_CHKSUM + 7] = ' ';
    return FY_OK;
}

int fy__tar_write(const fy__tar_entry *entries, int n, uint8_t **out, size_t *len, fy_diag *d)
{
    uint64_t total = 2 * BLOCK; /* end-of-archive marker */
    for (int i = 0; i < n; i++) {
        if (entries[i].size > TAR_SIZE_MAX ||
            fy__add_overflow_u64(total, BLOCK + pad_block(entries[i].size), &total))
            return fy__diag_set(d, FY_ELIMIT, "tar entry '%s': %zu bytes, above the ustar limit",
                                entries[i].name, entries[i].size);
    }
    if (total > SIZE_MAX)
        return fy__diag_set(d, FY_ELIMIT, "archive of %llu bytes does not fit in memory",
                            (unsigned long long)total);
    uint8_t *buf = fy__calloc(1, (size_t)total);
    if (!buf)
        return fy__diag_set(d, FY_ENOMEM, "out of memory for a %llu-byte archive",
                            (unsigned long long)total);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        int rc = write_header(buf + off, &entries[i], d);
        if (rc != FY_OK) {
            fy__free(buf);
            return rc;
        }
        off += BLOCK;
        if (entries[i].size)
            memcpy(buf + off, entries[i].data, entries[i].size);
        off += (size_t)pad_block(entries[i].size);
    }
    *out = buf;
    *len = (size_t)total;
    return FY_OK;
}

/* ---- reader ---- */

/* Strict octal: optional leading spaces, at least one digit, then only NULs or
 * spaces. Base-256 (high bit set, a GNU extension for huge values) is refused:
 * nothing in a package is that large. */
static const char *parse_octal(const uint8_t *f, size_t n, uint64_t *out)
{
    if (f[0] & 0x80)
        return "base-256 number";
    size_t i = 0;
    while (i < n && f[i] == ' ')
        i++;
    uint64_t v = 0;
    size_t digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++)
        v = v * 8 + (uint64_t)(f[i] - '0'); /* at most 12 digits: no overflow */
    if (digits == 0)
        return "no octal digits";
    for (; i < n; i++)
        if (f[i] != 0 && f[i] != ' ')
            return "not an octal number";
    *out = v;
    return NULL;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A printable copy of a raw name for messages: hostile names may hold anything. */
static const char *printable(const char *s, char *buf, size_t cap)
{
    size_t k = 0;
    for (; s[k] && k + 1 < cap; k++)
        buf[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
    buf[k] = 0;
    return buf;
}

static const char *type_refusal(uint8_t t)
{
    switch (t) {
    case '1': return "hard link (links are refused)";
    case '2': return "symbolic link (links are refused)";
    case '3': return "character device (device files are refused)";
    case '4': return "block device (device files are refused)";
    case '6': return "FIFO (special files are refused)";
    case '7': return "contiguous file (only plain files are accepted)";
    case 'x':
        return "pax extended header (pax and long names are not supported: names are at "
               "most 255 bytes)";
    case 'g': return "pax global header (pax headers are not supported)";
    case 'L':
        return "GNU long-name header (long names are not supported: names are at most "
               "255 bytes)";
    case 'K': return "GNU long-link header (links are refused)";
    case 'S': return "GNU sparse file (only plain files are accepted)";
    default: return NULL;
    }
}

/* Walk the archive, validating every header. With ents == NULL it only validates
 * and counts regular files; otherwise it fills ents (names copied into names,
 * TAR_NAME_MAX + 1 bytes per entry). */
static int walk(const uint8_t *buf, size_t len, int max_entries, fy__tar_entry *ents, char *names,
                int *n_out, fy_diag *d)
{
    size_t off = 0;
    int n_headers = 0, n = 0;
    char raw[TAR_NAME_MAX + 2], pr[TAR_NAME_MAX + 2];
    for (;;) {
        if (len - off < BLOCK) {
            if (off == len)
                return fy__diag_set(d, FY_EPARSE,
                                    "truncated archive: no end-of-archive marker after %zu bytes",
                                    len);
            return fy__diag_set(d, FY_EPARSE,
                                "truncated archive: header at offset %zu has %zu of 512 bytes", off,
                                len - off);
        }
        const uint8_t *h = buf + off;
        if (all_zero(h, BLOCK)) {
            /* end of archive: two zero blocks, and nothing but zero padding after them */
            if (len - off < 2 * BLOCK || !all_zero(h + BLOCK, BLOCK))
                return fy__diag_set(d, FY_EPARSE,
                                    "truncated archive: lone zero block at offset %zu (the "
                                    "end-of-archive marker is two)",
                                    off);
            if (!all_zero(h + 2 * BLOCK, len - off - 2 * BLOCK))
                return fy__diag_set(d, FY_EPARSE,
                                    "data after the end-of-archive marker at offset %zu",
                                    off + 2 * BLOCK);
            break;
        }
        if (++n_headers > max_entries)
            return fy__diag_set(d, FY_ELIMIT, "archive holds more than %d entries", max_entries);
        int ix = n_headers;

        /* checksum first: nothing else in a corrupt header is worth reading */
        uint64_t want;
        const char *why = parse_octal(h + H_CHKSUM, 8, &want);
        if (why)
            return fy__diag_set(d, FY_EPARSE, "entry %d at offset %zu: header checksum: %s", ix,
                                off, why);
        uint64_t sum = 0;
        for (int i = 0; i < BLOCK; i++)
            sum += (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : h[i];
        if (sum != want)
            return fy__diag_set(d, FY_EPARSE,
                                "entry %d at offset %zu: bad header checksum (stored %llo, "
                                "computed %llo)",
                                ix, off, (unsigned long long)want, (unsigned long long)sum);
        int posix = memcmp(h + H_MAGIC,
                           "ustar\0"
                           "00",
                           8) == 0;
        int gnu = memcmp(h + H_MAGIC, "ustar  \0", 8) == 0;
        if (!posix && !gnu)
            return fy__diag_set(d, FY_EPARSE, "entry %d at offset %zu: not a ustar header", ix,
                                off);

        /* the name: prefix '/' name; every byte after a field's first NUL must be NUL */
        size_t nl = 0, pl = 0;
        while (nl < NAME_FIELD && h[H_NAME + nl])
            nl++;
        int hidden = !all_zero(h + H_NAME + nl, NAME_FIELD - nl);
        if (posix) { /* GNU headers keep other data where ustar has the prefix */
            while (pl < PREFIX_FIELD && h[H_PREFIX + pl])
                pl++;
            hidden |= !all_zero(h + H_PREFIX + pl, PREFIX_FIELD - pl);
        }
        size_t rl = 0;
        if (pl) {
            memcpy(raw, h + H_PREFIX, pl);
            raw[pl] = '/';
            rl = pl + 1;
        }
        memcpy(raw + rl, h + H_NAME, nl);
        rl += nl;
        raw[rl] = 0;
        printable(raw, pr, sizeof pr);
        if (hidden)
            return fy__diag_set(d, FY_EPARSE, "entry '%s' at offset %zu: NUL byte in name", pr,
                                off);

        uint8_t type = h[H_TYPE];
        why = type_refusal(type);
        if (why)
            return fy__diag_set(d, FY_EPARSE, "entry '%s' at offset %zu: %s", pr, off, why);
        int is_dir = type == '5';
        if (!is_dir && type != '0' && type != 0)
            return fy__diag_set(d, FY_EPARSE,
                                "entry '%s' at offset %zu: unsupported entry type '%c' "
                                "(only plain files and directories are accepted)",
                                pr, off, (type >= 0x20 && type < 0x7f) ? type : '?');
        if (is_dir && rl > 1 && raw[rl - 1] == '/')
            raw[--rl] = 0; /* "blobs/" names the directory blobs */
        why = name_problem(raw, rl);
        if (why)
            return fy__diag_set(d, FY_EPARSE, "entry '%s' at offset %zu: %s", pr, off, why);

        uint64_t size, mode;
        why = parse_octal(h + H_SIZE, 12, &size);
        if (why)
            return fy__diag_set(d, FY_EPARSE, "entry '%s' at offset %zu: size field: %s", pr, off,
                                why);
        why = parse_octal(h + H_MODE, 8, &mode);
        if (why)
            return fy__diag_set(d, FY_EPARSE, "entry '%s' at offset %zu: mode field: %s", pr, off,
                                why);
        if (is_dir && size != 0)
            return fy__diag_set(d, FY_EPARSE,
                                "entry '%s' at offset %zu: directory declares %llu bytes of data",
                                pr, off, (unsigned long long)size);
        uint64_t room = len - off - BLOCK;
        if (size > room || pad_block(size) > room)
            return fy__diag_set(d, FY_EPARSE,
                                "entry '%s' at offset %zu: declares %llu bytes, past the end of "
                                "the archive (%llu bytes left)",
                                pr, off, (unsigned long long)size, (unsigned long long)room);
        if (!is_dir) {
            if (ents) {
                for (int k = 0; k < n; k++)
                    if (strcmp(ents[k].name, raw) == 0)
                        return fy__diag_set(d, FY_EPARSE,
                                            "entry '%s' at offset %zu: duplicate entry", pr, off);
                char *dst = names + (size_t)n * (TAR_NAME_MAX + 1);
                memcpy(dst, raw, rl + 1);
                ents[n].name = dst;
                ents[n].data = h + BLOCK;
                ents[n].size = (size_t)size;
                ents[n].mode = (unsigned)(mode & 07777);
            }
            n++;
        }
        off += BLOCK + (size_t)pad_block(size);
    }
    *n_out = n;
    return FY_OK;
}

int fy__tar_read(const uint8_t *buf, size_t len, int max_entries, fy__tar_entry **entries, int *n,
                 fy_diag *d)
{
    if (len > FY_PACKAGE_MAX_BYTES)
        return fy__diag_set(d, FY_ELIMIT, "archive of %zu bytes, above the limit of %zu", len,
                            FY_PACKAGE_MAX_BYTES);
    int count = 0;
    int rc = walk(buf, len, max_entries, NULL, NULL, &count, d);
    if (rc != FY_OK)
        return rc;
    /* one block: the entries, then their names, so a single free() releases both */
    size_t each = sizeof(fy__tar_entry) + TAR_NAME_MAX + 1;
    fy__tar_entry *ents = fy__malloc((size_t)(count ? count : 1) * each);
    if (!ents)
        return fy__diag_set(d, FY_ENOMEM, "out of memory for %d archive entries", count);
    char *names = (char *)(ents + count);
    int got = 0;
    if ((rc = walk(buf, len, max_entries, ents, names, &got, d)) != FY_OK) {
        fy__free(ents);
        return rc;
    }
    *entries = ents;
    *n = got;
    return FY_OK;
}
