/* SPDX-License-Identifier: MIT */
/* Private to the data module and its tests and fuzz targets: the dataset kinds
 * besides IDX (npy pairs, folders of PGM images with a labels file). */
#ifndef FERRY_DATA_H
#define FERRY_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/dataset.h"

#define FY_PGM_MAX_SIDE 16384                  /* width or height of one image */
#define FY_LABELS_MAX_BYTES ((size_t)64 << 20) /* labels.txt */
#define FY_LABELS_MAX_ENTRIES (1 << 20)
#define FY_LABELS_MAX_NAME 255
#define FY_LABEL_MAX 1000000 /* class ids 0 .. FY_LABEL_MAX */

/* "npy:IMAGES.npy,LABELS.npy" without the prefix. Images uint8 [N, ...],
 * labels a 1-D integer array of N. */
int fy__dataset_open_npy(fy_dataset *out, const char *rest, fy_diag *d);
/* "dir:FOLDER" without the prefix: FOLDER/labels.txt names PGM files in FOLDER. */
int fy__dataset_open_dir(fy_dataset *out, const char *folder, fy_diag *d);

/* A binary PGM (P5, maxval 1..255) into an owned uint8 [height, width] tensor. */
int fy__pgm_parse(const void *buf, size_t len, fy_tensor *out, fy_diag *d);

/* labels.txt: one "FILE LABEL" per line; blank lines and lines starting with
 * '#' are skipped. FILE is a plain file name (no '/', not starting with '.').
 * names[i] point into one owned block; free with fy__labels_free. */
typedef struct fy__labels {
    int64_t n;
    char **names;
    int64_t *labels;
    char *block;
} fy__labels;
int fy__labels_parse(const char *text, size_t len, fy__labels *out, fy_diag *d);
void fy__labels_free(fy__labels *l);

#endif
