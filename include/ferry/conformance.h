/* SPDX-License-Identifier: MIT */
/* Running one case of ONNX's backend test data (model.onnx + test_data_set_N/). */
#ifndef FERRY_CONFORMANCE_H
#define FERRY_CONFORMANCE_H

#include "ferry/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fy_case_status { FY_CASE_PASS = 0, FY_CASE_FAIL = 1, FY_CASE_SKIP = 2 } fy_case_status;

typedef struct fy_case_result {
    fy_case_status status;
    char op[64];      /* the op under test: the single node's op, or "multi-node" */
    char reason[512]; /* why it failed or was skipped; empty on pass */
    int n_sets;       /* test_data_set_N folders compared */
    double max_abs_diff;
} fy_case_result;

/* ONNX's backend-test tolerances. */
#define FY_CONFORMANCE_RTOL 1e-3
#define FY_CONFORMANCE_ATOL 1e-7

/* Load dir/model.onnx, run every test_data_set_N and compare with its outputs.
 * Unsupported ops, dtypes or value kinds are a skip with the reason; any other
 * failure to load or run, or a mismatch, is a fail. Never aborts on bad data.
 * Returns FY_OK when a result was produced (even a fail). */
int fy_conformance_case(const char *dir, fy_case_result *out);

#ifdef __cplusplus
}
#endif
#endif
