/* SPDX-License-Identifier: MIT */
/* Reading whole files safely: regular files only, bounded size, errno turned into codes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

int fy__read_file(const char *path, size_t max, unsigned char **out, size_t *len, fy_diag *d)
{
    int rc = FY_EIO;
    unsigned char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)st.st_size > max) {
        rc = fy__diag_set(d, FY_ELIMIT, "%s: %lld bytes, above the limit of %zu", path,
                          (long long)st.st_size, max);
        goto done;
    }
    size_t n = (size_t)st.st_size;
    buf = fy__malloc(n + 1);
    if (!buf) {
        rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
        goto done;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = fy__diag_set(d, FY_EIO, "%s: read failed after %zu of %zu bytes", path, got, n);
            goto done;
        }
        got += (size_t)r;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    buf = NULL;
    rc = FY_OK;
done:
    fy__free(buf);
    close(fd);
    return rc;
}
