/* SPDX-License-Identifier: MIT */
/* IDX files (LeCun's MNIST format), plain or gzip-compressed, and the datasets built
 * from them. Every size in the header is checked before anything is allocated. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/core.h"
#include "data.h"
#include "ferry/dataset.h"

static int read_exact(gzFile f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* deflate cannot expand data more than about 1032:1; a file promising more is
 * truncated on its face, and we say so before allocating anything. */
#define GZIP_MAX_RATIO 1032

int fy_idx_read(fy_tensor *out, const char *path, fy_diag *d)
{
    int rc = FY_EPARSE;
    fy_tensor t = {0};
    gzFile f = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return fy__diag_set(d, errno == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fy__diag_set(d, FY_EINVAL, "%s: not a regular file", path);
    }
    unsigned char magic[2] = {0, 0};
    int is_gzip = pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return fy__diag_set(d, FY_ENOMEM, "%s: cannot open", path);
    }
    unsigned char hdr[4];
    if (read_exact(f, hdr, 4) != 0) {
        rc =
            fy__diag_set(d, FY_EPARSE, "%s: not an IDX file (shorter than its 4-byte magic)", path);
        goto done;
    }
    fy_dtype dt;
    switch (hdr[2]) {
    case 0x08: dt = FY_DTYPE_U8; break;
    case 0x09: dt = FY_DTYPE_I8; break;
    case 0x0B: dt = FY_DTYPE_I16; break;
    case 0x0C: dt = FY_DTYPE_I32; break;
    case 0x0D: dt = FY_DTYPE_F32; break;
    case 0x0E: dt = FY_DTYPE_F64; break;
    default: dt = FY_DTYPE_UNDEFINED; break;
    }
    if (hdr[0] != 0 || hdr[1] != 0 || dt == FY_DTYPE_UNDEFINED) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 "
                          "<type 08-0E> <rank>)",
                          path, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto done;
    }
    int rank = hdr[3];
    if (rank < 1 || rank > FY_MAX_RANK) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: IDX rank %d is not in 1..%d", path, rank, FY_MAX_RANK);
        goto done;
    }
    int64_t dims[FY_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        unsigned char b[4];
        if (read_exact(f, b, 4) != 0) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: truncated IDX header", path);
            goto done;
        }
        dims[i] =
            (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
    }
    size_t nbytes;
    if ((rc = fy_shape_nbytes(dt, rank, dims, &nbytes, d)) != FY_OK || nbytes > FY_IDX_MAX_BYTES) {
        rc = fy__diag_set(d, FY_ELIMIT, "%s: IDX dimensions describe more data than allowed", path);
        goto done;
    }
    uint64_t header = 4 + 4 * (uint64_t)rank;
    uint64_t room = (uint64_t)st.st_size > header ? (uint64_t)st.st_size - header : 0;
    if (is_gzip ? nbytes / GZIP_MAX_RATIO > (uint64_t)st.st_size : nbytes > room) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: truncated: the header promises %zu data bytes, the "
                          "%lld-byte file cannot hold them",
                          path, nbytes, (long long)st.st_size);
        goto done;
    }
    if ((rc = fy_tensor_alloc(&t, dt, rank, dims, d)) != FY_OK)
        goto done;
    if (read_exact(f, t.data, nbytes) != 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: truncated: the header promises %zu data bytes", path,
                          nbytes);
        goto done;
    }
    unsigned char extra;
    int more = gzread(f, &extra, 1);
    if (more > 0) {
        rc =
            fy__diag_set(d, FY_EPARSE, "%s: trailing bytes after the %zu data bytes", path, nbytes);
        goto done;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(f, &zerr);
    if (more < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: truncated or corrupt gzip data: %s", path, zmsg);
        goto done;
    }
    /* IDX stores multi-byte values big-endian. */
    size_t es = fy_dtype_size(dt);
    if (es > 1) {
        unsigned char *p = t.data;
        for (size_t i = 0; i < nbytes; i += es)
            for (size_t a = 0, b = es - 1; a < b; a++, b--) {
                unsigned char tmp = p[i + a];
                p[i + a] = p[i + b];
                p[i + b] = tmp;
            }
    }
    *out = t;
    memset(&t, 0, sizeof t);
    rc = FY_OK;
done:
    fy_tensor_deinit(&t);
    if (f)
        gzclose(f);
    return rc;
}

void fy_dataset_deinit(fy_dataset *ds)
{
    if (!ds)
        return;
    fy_tensor_deinit(&ds->samples);
    fy_tensor_deinit(&ds->labels);
    memset(ds, 0, sizeof *ds);
}

int fy_dataset_open(fy_dataset *out, const char *spec, fy_diag *d)
{
    const char *hint = "datasets are written idx:IMAGES,LABELS, npy:IMAGES,LABELS or dir:FOLDER";
    if (strncmp(spec, "npy:", 4) == 0)
        return fy__dataset_open_npy(out, spec + 4, d);
    if (strncmp(spec, "dir:", 4) == 0)
        return fy__dataset_open_dir(out, spec + 4, d);
    if (strncmp(spec, "idx:", 4) != 0)
        return fy__diag_set(d, FY_EINVAL, "dataset '%s': unknown kind (%s)", spec, hint);
    const char *comma = strchr(spec + 4, ',');
    if (!comma || comma == spec + 4 || !comma[1] || strchr(comma + 1, ','))
        return fy__diag_set(d, FY_EINVAL, "dataset '%s': %s", spec, hint);
    char images[4096];
    if ((size_t)(comma - spec - 4) >= sizeof images)
        return fy__diag_set(d, FY_ELIMIT, "dataset images path too long (%zu bytes, at most %zu)",
                            (size_t)(comma - spec - 4), sizeof images - 1);
    snprintf(images, sizeof images, "%.*s", (int)(comma - spec - 4), spec + 4);
    fy_dataset ds = {0};
    fy_tensor raw_labels = {0};
    int rc = fy_idx_read(&ds.samples, images, d);
    if (rc == FY_OK)
        rc = fy_idx_read(&raw_labels, comma + 1, d);
    if (rc != FY_OK)
        goto fail;
    if (raw_labels.rank != 1 ||
        !(raw_labels.dtype == FY_DTYPE_U8 || raw_labels.dtype == FY_DTYPE_I8 ||
          raw_labels.dtype == FY_DTYPE_I32 || raw_labels.dtype == FY_DTYPE_I16)) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: labels must be a 1-D integer IDX file", comma + 1);
        goto fail;
    }
    if (raw_labels.dims[0] != ds.samples.dims[0]) {
        rc = fy__diag_set(d, FY_EINVAL, "dataset '%s': %lld samples but %lld labels", spec,
                          (long long)ds.samples.dims[0], (long long)raw_labels.dims[0]);
        goto fail;
    }
    if ((rc = fy_tensor_alloc(&ds.labels, FY_DTYPE_I64, 1, raw_labels.dims, d)) != FY_OK)
        goto fail;
    for (int64_t i = 0; i < raw_labels.dims[0]; i++) {
        int64_t v;
        switch (raw_labels.dtype) {
        case FY_DTYPE_U8: v = ((uint8_t *)raw_labels.data)[i]; break;
        case FY_DTYPE_I8: v = ((int8_t *)raw_labels.data)[i]; break;
        case FY_DTYPE_I16: v = ((int16_t *)raw_labels.data)[i]; break;
        default: v = ((int32_t *)raw_labels.data)[i]; break;
        }
        ((int64_t *)ds.labels.data)[i] = v;
    }
    ds.count = ds.samples.dims[0];
    fy_tensor_deinit(&raw_labels);
    *out = ds;
    return FY_OK;
fail:
    fy_tensor_deinit(&raw_labels);
    fy_dataset_deinit(&ds);
    return rc;
}
