/* SPDX-License-Identifier: MIT */
/* Fuzz target for the GGUF reader and the model loader behind it: the bytes go into a
 * memfd read back through its /proc path, so the real mmap code runs; a file that loads
 * as a model is tokenized and run for two tokens. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ferry/ferry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz_gguf", MFD_CLOEXEC);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0)
        return 0;
    if (size && pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    fy_gguf *g = NULL;
    fy_diag d;
    if (fy_gguf_open(&g, path, &d) == FY_OK) {
        /* touch every tensor byte so ASan sees a range the checks let through wrongly */
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < fy_gguf_tensor_count(g); i++) {
            const fy_gguf_tensor *t = fy_gguf_tensor_at(g, i);
            for (uint64_t k = 0; k < t->nbytes; k++)
                sum ^= ((const unsigned char *)t->data)[k];
        }
        for (size_t i = 0; i < fy_gguf_kv_count(g); i++) {
            const fy_gguf_kv *kv = fy_gguf_kv_at(g, i);
            for (uint64_t k = 0; kv->v.strs && k < kv->v.count; k++)
                if (kv->v.strs[k].len)
                    sum ^= (unsigned char)kv->v.strs[k].ptr[kv->v.strs[k].len - 1];
            double x = fy_gguf_array_num(&kv->v, kv->v.count ? kv->v.count - 1 : 0);
            sum ^= (unsigned char)(x > 0 && x < 256 ? (int)x : 0);
        }
        fy_gguf_free(g);
    }
    fy_llm *m = NULL;
    fy_llm_opts o = {0};
    o.ctx = 16;
    if (fy_llm_load(&m, path, &o, &d) == FY_OK) {
        int32_t ids[16];
        size_t n = 0;
        if (fy_llm_tokenize(m, "Hi there", 8, 1, ids, 16, &n) == FY_OK && n > 0) {
            float *logits = malloc(fy_llm_info_get(m)->vocab * sizeof(float));
            if (logits)
                fy_llm_eval(m, ids, n > 2 ? 2 : n, logits, &d);
            free(logits);
        }
        fy_llm_free(m);
    }
    return 0;
}
