/* SPDX-License-Identifier: MIT */
/* Labeled datasets for evaluation and verification, named by a spec string:
 *   idx:IMAGES,LABELS   IDX files (plain or gzip), as MNIST and Fashion-MNIST ship.
 *   npy:IMAGES,LABELS   .npy files: uint8 images [N, ...] and 1-D integer labels [N].
 *   dir:FOLDER          FOLDER/labels.txt ("FILE LABEL" lines) naming 8-bit PGM images
 *                       of one size in FOLDER (docs/compress.md). */
#ifndef FERRY_DATASET_H
#define FERRY_DATASET_H

#include <stdint.h>

#include "ferry/engine.h"
#include "ferry/error.h"
#include "ferry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ceiling on the decompressed size of one IDX file. */
#define FY_IDX_MAX_BYTES ((size_t)4 << 30)

/* samples: [count, ...] (uint8 pixels for image sets); labels: [count] int64.
 * Both owned. Thread safety: plain data. */
typedef struct fy_dataset {
    int64_t count;
    fy_tensor samples;
    fy_tensor labels;
} fy_dataset;

/* Read one IDX file (plain or gzip-compressed) into an owned tensor of its dtype. */
int fy_idx_read(fy_tensor *out, const char *path, fy_diag *d);
/* Open a dataset from a spec (any kind above); checks counts agree. */
int fy_dataset_open(fy_dataset *out, const char *spec, fy_diag *d);
void fy_dataset_deinit(fy_dataset *ds);

typedef struct fy_eval_opts {
    int batch;         /* images per run; 0 = 64 */
    int64_t limit;     /* evaluate at most this many samples; 0 = all */
    float scale;       /* multiply uint8 samples by this; 0 = 1/255 */
    int output;        /* which model output holds the class scores; default 0 */
    fy_tensor *scores; /* if non-NULL: filled with all outputs, float32 [count, classes], owned */
    /* called after each batch with samples done and total; may be NULL */
    void (*progress)(int64_t done, int64_t total, void *ctx);
    void *progress_ctx;
} fy_eval_opts;

typedef struct fy_eval_result {
    int64_t count;
    int64_t correct;
    double accuracy;     /* correct / count */
    double seconds;      /* wall time of the runs only (not loading) */
    double images_per_s; /* count / seconds */
} fy_eval_result;

/* Top-1 accuracy of a classifier whose first input takes one sample per batch
 * row (its per-sample element count must match the dataset's) and whose output
 * is [batch, classes]. */
int fy_eval_classifier(fy_session *s, const fy_model *m, const fy_dataset *ds,
                       const fy_eval_opts *opts, fy_eval_result *out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
