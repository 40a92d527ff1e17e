/* SPDX-License-Identifier: MIT */
/* The loaded-model structure shared by the ONNX loader and the engine. */
#ifndef FERRY_ONNX_H
#define FERRY_ONNX_H

#include "../graph/graph.h"
#include "ferry/model.h"

#define FY_ONNX_MIN_OPSET 1
#define FY_ONNX_MAX_OPSET 18
#define FY_ONNX_MAX_OPSET_IMPORTS 64
/* Estimated in-memory size of the decoded protobuf, a guard against files of
 * many tiny messages that would expand a hundredfold when decoded. */
#define FY_ONNX_MAX_DECODED_BYTES ((uint64_t)6 << 30)
/* A model read from a file has the raw_data of its main graph's initializers of at
 * least this many bytes lifted out before decoding (loader.c); tests and the fuzz
 * target lower it to exercise that path on small models. */
extern size_t fy__onnx_lift_min_bytes;

struct fy_model {
    fy__graph *graph;
    int64_t ir_version;
    int64_t opset; /* default domain */
    int n_opsets;
    char **opset_domains;
    int64_t *opset_versions;
    char *producer_name;
    char *producer_version;
    int64_t file_bytes;
};

/* Opset version imported for a domain ("" and "ai.onnx" are the same); -1 if none. */
int64_t fy__model_opset(const fy_model *m, const char *domain);

#endif
