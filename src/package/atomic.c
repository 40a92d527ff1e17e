/* SPDX-License-Identifier: MIT */
/* Atomic file writes: a temporary file in the target's folder, written, fsync'd and
 * renamed over the target, then the folder fsync'd. Readers see the old file or the
 * new one, never a part; a failure leaves nothing under the final name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "package/package_int.h"

/* Temporary names tried before giving up (each collision is another process's
 * temporary file, or a leftover of a killed one). */
#define TMP_TRIES 64

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        /* bounded chunks: some kernels cap one write at 2 GiB anyway */
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fsync_retry(int fd)
{
    int r;
    while ((r = fsync(fd)) != 0 && errno == EINTR)
        ;
    return r == 0 ? 0 : errno;
}

int fy__write_atomic(const char *path, const void *data, size_t len, fy_diag *d)
{
    int rc = FY_EIO, fd = -1;
    size_t plen = strlen(path);
    char *tmp = NULL, *dir = NULL;
    if (plen == 0)
        return fy__diag_set(d, FY_EINVAL, "empty output path");
    if (path[plen - 1] == '/')
        return fy__diag_set(d, FY_EINVAL, "%s: output path names a folder", path);
    tmp = fy__malloc(plen + 16);
    dir = fy__malloc(plen + 2);
    if (!tmp || !dir) {
        rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    tmp[0] = 0; /* set only while a temporary file of ours exists */
    /* the folder, for the final fsync: everything before the last '/' */
    const char *slash = strrchr(path, '/');
    if (!slash)
        memcpy(dir, ".", 2);
    else if (slash == path)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
    }

    /* O_EXCL: never reuse or follow someone else's file; the suffix only needs to be
     * unlikely to collide, so time and pid suffice (no global counter) */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long seed = (unsigned long)ts.tv_nsec ^ ((unsigned long)ts.tv_sec << 20) ^
                         ((unsigned long)getpid() << 8);
    int err = 0;
    for (int i = 0; i < TMP_TRIES; i++) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        snprintf(tmp, plen + 16, "%s.tmp-%06lx", path, (seed >> 24) & 0xffffff);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        err = errno;
        tmp[0] = 0;
        rc = fy__diag_set(d, err == ENOENT ? FY_ENOTFOUND : FY_EIO,
                          "%s: cannot create a temporary file in %s: %s", path, dir, strerror(err));
        goto done;
    }
    if ((err = write_all(fd, data, len)) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: writing %zu bytes failed: %s", tmp, len, strerror(err));
        goto done;
    }
    if ((err = fsync_retry(fd)) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: fsync failed: %s", tmp, strerror(err));
        goto done;
    }
    int c = close(fd);
    fd = -1;
    if (c != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: cannot rename the temporary file into place: %s", path,
                          strerror(errno));
        goto done;
    }
    /* The rename is done: the file is whole under its name. A folder fsync failure
     * means it may not survive a power loss; report it, but removing the file now
     * would destroy what the caller asked for (and any older file it replaced). */
    tmp[0] = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        err = fsync_retry(dfd);
        close(dfd);
        /* EINVAL: the file system cannot sync folders, which is fine */
        if (err != 0 && err != EINVAL && err != ENOTSUP) {
            rc = fy__diag_set(d, FY_EIO, "%s: written, but syncing its folder %s failed: %s", path,
                              dir, strerror(err));
            goto done;
        }
    }
    rc = FY_OK;
done:
    if (fd >= 0)
        close(fd);
    if (rc != FY_OK && tmp && tmp[0])
        unlink(tmp);
    fy__free(tmp);
    fy__free(dir);
    return rc;
}
