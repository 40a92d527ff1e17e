/* SPDX-License-Identifier: MIT */
/* Fuzz target for the ONNX loader: any bytes must load or fail cleanly, and a model
 * that loads must survive inspection and session creation. The same bytes are also
 * loaded as a file (a memfd), where raw_data is lifted out before decoding, with
 * every payload lifted: both ways must agree on the outcome. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "onnx/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_op(const char *domain, const char *op, int count, int supported, void *ctx)
{
    (void)domain;
    (void)op;
    (void)supported;
    *(long *)ctx += count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fy_model *m = NULL;
    fy_diag d;
    int rc = fy_model_load_buffer(&m, data, size, NULL, NULL, &d);
    int fd = memfd_create("fuzz_onnx", MFD_CLOEXEC);
    if (fd >= 0 && write(fd, data, size) == (ssize_t)size) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        fy__onnx_lift_min_bytes = 1;
        fy_model *mf = NULL;
        fy_diag df;
        int rc_file = fy_model_load(&mf, path, NULL, &df);
        /* A buffer has no folder for external data; a file has one (which may hold
         * the file itself), so only external data may make the outcomes differ. */
        if ((rc == FY_OK) != (rc_file == FY_OK) && !strstr(rc ? d.msg : df.msg, "external"))
            abort(); /* lifting changed the outcome */
        fy_model_free(mf);
    }
    if (fd >= 0)
        close(fd);
    if (rc != FY_OK)
        return 0;
    fy_model_info info;
    fy_model_get_info(m, &info);
    long ops = 0;
    fy_model_each_op(m, count_op, &ops);
    for (int i = 0; i < fy_model_n_inputs(m); i++) {
        fy_io_desc io;
        fy_model_input(m, i, &io);
    }
    fy_session *s = NULL;
    if (fy_session_create(&s, m, NULL, &d) == FY_OK)
        fy_session_free(s);
    fy_model_free(m);
    return 0;
}
