/* SPDX-License-Identifier: MIT */
/* Fuzz target for tensor files (.npy, .json, .pb). fy_tensor_read_file picks the
 * parser by suffix, so the bytes go into a memfd reached through symlinks named
 * in.npy, in.json and in.pb in a private temp folder (in /dev/shm when it exists);
 * every parser sees every input through the real file code. A tensor that reads
 * back is written as .npy and read again: the round trip must give the same
 * dtype, shape and bytes. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_fd = -1, out_fd = -1;
static char dir[64], in_npy[96], in_json[96], in_pb[96], out_npy[96];

static void remove_links(void)
{
    unlink(in_npy);
    unlink(in_json);
    unlink(in_pb);
    unlink(out_npy);
    rmdir(dir);
}

/* A fresh folder of symlinks per input, removed after it: libFuzzer often leaves
 * through _Exit (merges, crashes), so nothing may rely on atexit to clean up. */
static int make_links(void)
{
    char target[64];
    snprintf(dir, sizeof dir, "/dev/shm/ferry-fuzz-tfXXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, "/tmp/ferry-fuzz-tfXXXXXX");
        if (!mkdtemp(dir))
            return -1;
    }
    snprintf(in_npy, sizeof in_npy, "%s/in.npy", dir);
    snprintf(in_json, sizeof in_json, "%s/in.json", dir);
    snprintf(in_pb, sizeof in_pb, "%s/in.pb", dir);
    snprintf(out_npy, sizeof out_npy, "%s/out.npy", dir);
    snprintf(target, sizeof target, "/proc/self/fd/%d", in_fd);
    if (symlink(target, in_npy) || symlink(target, in_json) || symlink(target, in_pb))
        return -1;
    snprintf(target, sizeof target, "/proc/self/fd/%d", out_fd);
    return symlink(target, out_npy);
}

/* Write t as .npy, read it back, and insist on the same tensor. */
static void round_trip(const fy_tensor *t)
{
    fy_diag d;
    size_t nb = fy_tensor_nbytes(t);
    if (nb > (1 << 20) || fy_tensor_write_npy(t, out_npy, &d) != FY_OK)
        return; /* bfloat16 and strings have no .npy form */
    fy_tensor back;
    if (fy_tensor_read_file(&back, out_npy, FY_DTYPE_UNDEFINED, &d) != FY_OK) {
        fprintf(stderr, "round trip: cannot read back what we wrote: %s\n", d.msg);
        abort();
    }
    int same = back.dtype == t->dtype && back.rank == t->rank &&
               memcmp(back.dims, t->dims, sizeof back.dims[0] * (size_t)t->rank) == 0 &&
               (nb == 0 || memcmp(back.data, t->data, nb) == 0);
    fy_tensor_deinit(&back);
    if (!same) {
        fprintf(stderr, "round trip: .npy write then read changed the tensor\n");
        abort();
    }
}

static void try_read(const char *path, fy_dtype json_dtype)
{
    fy_tensor t;
    fy_diag d;
    if (fy_tensor_read_file(&t, path, json_dtype, &d) != FY_OK)
        return;
    round_trip(&t);
    fy_tensor_deinit(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const fy_dtype json_types[] = {FY_DTYPE_F64, FY_DTYPE_I64,  FY_DTYPE_I32,
                                          FY_DTYPE_U8,  FY_DTYPE_BOOL, FY_DTYPE_F16};
    if (in_fd < 0) {
        in_fd = memfd_create("fuzz_tensor_file_in", MFD_CLOEXEC);
        out_fd = memfd_create("fuzz_tensor_file_out", MFD_CLOEXEC);
    }
    if (in_fd < 0 || out_fd < 0 || ftruncate(in_fd, 0) != 0)
        return 0;
    if (size && pwrite(in_fd, data, size, 0) != (ssize_t)size)
        return 0;
    if (make_links() == 0) {
        try_read(in_npy, FY_DTYPE_UNDEFINED);
        try_read(in_pb, FY_DTYPE_UNDEFINED);
        try_read(in_json, FY_DTYPE_UNDEFINED);
        /* another JSON element type, picked by the input so it is reproducible */
        try_read(in_json, json_types[size % (sizeof json_types / sizeof json_types[0])]);
    }
    remove_links();
    return 0;
}
