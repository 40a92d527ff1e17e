/* SPDX-License-Identifier: MIT */
/* Internal helpers of the core module: diagnostics, checked arithmetic, allocation. */
#ifndef FERRY_CORE_H
#define FERRY_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/tensor.h"

/* Format into d (if non-NULL) and return code, so failures read `return fy__diag_set(...)`. */
int fy__diag_set(fy_diag *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Overflow-checked arithmetic: return 1 on overflow. */
static inline int fy__mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}
static inline int fy__add_overflow_u64(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

/* Allocation hooks. Tests can make the Nth allocation fail (fy__alloc_fail_at)
 * to prove parsers return FY_ENOMEM and leak nothing. Not thread-safe to arm;
 * counting is atomic. */
void *fy__malloc(size_t n);
void *fy__calloc(size_t n, size_t size);
void *fy__realloc(void *p, size_t n);
char *fy__strdup(const char *s);
char *fy__strndup(const char *s, size_t n);
void fy__free(void *p);
/* Make the nth allocation from now fail (1 = the next one); 0 disarms. */
void fy__alloc_fail_at(long n);
/* Allocations made since process start (for tests counting heap use). */
long fy__alloc_count(void);
/* Largest single request since the last reset (reset = 1 returns it and clears it):
 * lets tests prove hostile sizes are refused before anything big is allocated. */
size_t fy__alloc_largest(int reset);

/* Planned output buffers for one kernel call (src/engine/plan.h). While set on a
 * thread, fy_tensor_alloc into slots[k] (the executor's output array for the node
 * being run) uses bufs[k] when the size fits caps[k]: zero-filled, not owned
 * (owns = 0), so freeing it is a no-op. Any other tensor, or a size that does not
 * fit, is allocated as usual. The executor sets it around each kernel call of a
 * planned run and clears it (NULL) after; it is thread-local, so concurrent
 * sessions never see each other's plans. */
typedef struct fy__out_plan {
    const fy_tensor *slots;
    int n;
    void *const *bufs;
    const size_t *caps;
} fy__out_plan;
void fy__out_plan_set(const fy__out_plan *p);
/* fy_tensor_alloc without the zero fill (a planned buffer keeps what it held, a
 * fresh one is uninitialized): for kernels that write every element of the output. */
int fy__tensor_alloc_uninit(fy_tensor *t, fy_dtype dt, int rank, const int64_t *dims, fy_diag *d);

/* Read a whole regular file (refusing directories, devices and files over max). */
int fy__read_file(const char *path, size_t max, unsigned char **out, size_t *len, fy_diag *d);
/* The same with fy__read_fd's flags (FY__READ_MAPPED, ...). */
int fy__read_path(const char *path, size_t max, int flags, unsigned char **out, size_t *len,
                  fy_diag *d);

/* A growing NUL-terminated text buffer; zero-initialise it. After an allocation
 * failure oom is set and later appends do nothing, so a renderer checks once at
 * the end; the caller frees p with fy__free. */
typedef struct fy__text {
    char *p;
    size_t len, cap;
    int oom;
} fy__text;
void fy__text_printf(fy__text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A finite float as printf's "%.9g" writes it in the C locale (the shortest
 * notation of its 9 significant digits, correctly rounded; '.' whatever the
 * locale), NUL-terminated; returns the length (at most 15). Exact integer
 * arithmetic for |x| from 1e-35 up, snprintf below that. NaN and infinities are
 * the caller's to spell (JSON has no word for them). */
#define FY__F32_TEXT_MAX 24
size_t fy__fmt_f32(char out[FY__F32_TEXT_MAX], float x);

/* fy__read_fd flag: refuse a file that group or others may access (secret keys). */
#define FY__READ_PRIVATE 1
/* fy__read_fd flag: read into an anonymous private mapping instead of the heap, so
 * the caller may hand parts of it back with fy__release_pages as it consumes them;
 * free it with fy__unmap_read (not fy__free). For big files (model weights). */
#define FY__READ_MAPPED 2
struct stat;
/* Read the whole regular file open on fd (left open) into a fresh NUL-terminated
 * buffer: refuses non-regular files and files over max bytes; `name` starts every
 * message (a path, or "TLS key PATH"). st, when non-NULL, receives the file's status.
 * The caller frees *out (wiping it first if it holds a secret). */
int fy__read_fd(int fd, const char *name, size_t max, int flags, unsigned char **out, size_t *len,
                struct stat *st, fy_diag *d);
/* Frees a buffer fy__read_fd returned for FY__READ_MAPPED; len is what it returned. */
void fy__unmap_read(unsigned char *buf, size_t len);
/* Copies n bytes out of a FY__READ_MAPPED buffer to dst, handing the source's whole
 * pages back to the system as it goes (they read as zeros afterwards): moving a
 * big part of a file elsewhere never holds both copies of more than a megabyte. */
void fy__move_out(void *dst, void *src, size_t n);

#endif
