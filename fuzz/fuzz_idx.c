/* SPDX-License-Identifier: MIT */
/* Fuzz target for IDX files (plain and gzip) and datasets built from them: the bytes
 * go into a memfd read back through its /proc path, so the real file code runs. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz_idx", MFD_CLOEXEC);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return 0;
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    fy_tensor t;
    fy_diag d;
    if (fy_idx_read(&t, path, &d) == FY_OK) {
        /* touch every byte so ASan sees a buffer shorter than the shape claims */
        volatile unsigned char sum = 0;
        const unsigned char *p = t.data;
        for (size_t i = 0; i < fy_tensor_nbytes(&t); i++)
            sum ^= p[i];
        fy_tensor_deinit(&t);
    }
    /* the same file as images and labels: rank-1 integer files exercise the labels */
    char spec[160];
    snprintf(spec, sizeof spec, "idx:%s,%s", path, path);
    fy_dataset ds;
    if (fy_dataset_open(&ds, spec, &d) == FY_OK)
        fy_dataset_deinit(&ds);
    return 0;
}
