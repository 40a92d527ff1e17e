/* SPDX-License-Identifier: MIT */
/* Fuzz target for packages: the bytes go through the tar reader directly, then into
 * a memfd opened as a package through its /proc path (so the real file code runs):
 * sniffing, the unverified manifest read (fy_package_path_is_llm), opening (every
 * digest and reference check, the embedded ferry.yaml),
 * and, when it opens, every file, the annotations and the model. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "ferry/package.h"
#include "package/package_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

static void touch(const void *p, size_t n)
{
    /* read every byte so ASan sees a view that outlives or overruns its buffer */
    volatile unsigned char sum = 0;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        sum ^= b[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy__tar_entry *e = NULL;
    int n = 0;
    fy_diag d;
    if (fy__tar_read(data, size, FY_PACKAGE_MAX_ENTRIES, &e, &n, &d) == FY_OK) {
        for (int i = 0; i < n; i++)
            touch(e[i].data, e[i].size);
        free(e);
    }

    if (fd < 0) {
        fd = memfd_create("fuzz_package", MFD_CLOEXEC);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return 0;
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    (void)fy_package_sniff(path);
    (void)fy_package_path_is_llm(path); /* the unverified manifest read */
    fy_package *p = NULL;
    if (fy_package_open(&p, path, &d) != FY_OK)
        return 0;
    const fy_manifest *man = fy_package_manifest(p);
    const char *names[] = {"ferry.yaml", "SPEC.md", man->model_file, man->labels_file};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const void *buf;
        size_t len;
        if (names[i] && fy_package_file(p, names[i], &buf, &len) == FY_OK)
            touch(buf, len);
    }
    (void)fy__package_annotation(p, FY_ANN_SIGNATURE);
    touch(fy_package_digest(p), 71);
    fy_model *m = NULL;
    if (fy_package_load_model(p, &m, &d) == FY_OK)
        fy_model_free(m);
    fy_package_free(p);
    return 0;
}
