/* SPDX-License-Identifier: MIT */
/* Reading whole files safely: regular files only, bounded size, errno turned into codes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

int fy__read_fd(int fd, const char *name, size_t max, int flags, unsigned char **out, size_t *len,
                struct stat *st_out, fy_diag *d)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fy__diag_set(d, FY_EIO, "%s: cannot stat: %s", name, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fy__diag_set(d, FY_EINVAL, "%s: not a regular file", name);
    if ((flags & FY__READ_PRIVATE) && (st.st_mode & 077))
        return fy__diag_set(d, FY_EINVAL,
                            "%s: accessible by group or others (mode %04o); it must be private "
                            "to its owner (chmod 600)",
                            name, (unsigned)(st.st_mode & 07777));
    if ((uint64_t)st.st_size > max)
        return fy__diag_set(d, FY_ELIMIT, "%s: %lld bytes, above the limit of %zu", name,
                            (long long)st.st_size, max);
    size_t n = (size_t)st.st_size;
    unsigned char *buf;
    if (flags & FY__READ_MAPPED) {
        buf = mmap(NULL, n + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED)
            buf = NULL;
    } else {
        buf = fy__malloc(n + 1);
    }
    if (!buf)
        return fy__diag_set(d, FY_ENOMEM, "%s: out of memory reading %zu bytes", name, n);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (flags & FY__READ_MAPPED)
                fy__unmap_read(buf, n);
            else
                fy__free(buf);
            return fy__diag_set(d, FY_EIO,
                                "%s: read failed after %zu of %zu bytes (changed "
                                "while reading?)",
                                name, got, n);
        }
        got += (size_t)r;
    }
    buf[n] = 0;
    if (st_out)
        *st_out = st;
    *out = buf;
    *len = n;
    return FY_OK;
}

void fy__unmap_read(unsigned char *buf, size_t len)
{
    if (buf)
        munmap(buf, len + 1);
}

/* Hands the whole pages inside [lo, hi) back to the system. */
static void release_pages(uintptr_t lo, uintptr_t hi, uintptr_t page)
{
    lo = (lo + page - 1) & ~(page - 1);
    hi &= ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void fy__move_out(void *dst, void *src, size_t n)
{
    const size_t step = (size_t)1 << 20;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t freed = (uintptr_t)src; /* below this: released, or a page partly outside */
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        memcpy((char *)dst + off, (char *)src + off, k);
        uintptr_t end = (uintptr_t)src + off + k;
        release_pages(freed, end, page);
        freed = end & ~(page - 1);
    }
}

int fy__read_file(const char *path, size_t max, unsigned char **out, size_t *len, fy_diag *d)
{
    return fy__read_path(path, max, 0, out, len, d);
}

int fy__read_path(const char *path, size_t max, int flags, unsigned char **out, size_t *len,
                  fy_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    int rc = fy__read_fd(fd, path, max, flags, out, len, NULL, d);
    close(fd);
    return rc;
}
