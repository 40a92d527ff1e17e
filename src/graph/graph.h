/* SPDX-License-Identifier: MIT */
/* The engine's own graph IR: values, nodes and attributes, independent of ONNX's
 * protobuf types. The ONNX loader builds it; passes and the executor consume it. */
#ifndef FERRY_GRAPH_H
#define FERRY_GRAPH_H

#include <stdint.h>

#include "ferry/error.h"
#include "ferry/tensor.h"

/* Ceilings on what a model may declare (RELIABILITY.md: explicit parser limits). */
#define FY_GRAPH_MAX_NODES 1000000
#define FY_GRAPH_MAX_VALUES 4000000
#define FY_GRAPH_MAX_DEPTH 16       /* nesting of subgraphs (If/Loop/Scan bodies) */
#define FY_NODE_MAX_IO 4096         /* inputs or outputs of one node */
#define FY_NAME_MAX 4096            /* bytes in any one name */

/* Attribute kinds, same numbers as ONNX AttributeProto.AttributeType. */
typedef enum fy__attr_type {
    FY_ATTR_UNDEFINED = 0,
    FY_ATTR_FLOAT = 1,
    FY_ATTR_INT = 2,
    FY_ATTR_STRING = 3,
    FY_ATTR_TENSOR = 4,
    FY_ATTR_GRAPH = 5,
    FY_ATTR_FLOATS = 6,
    FY_ATTR_INTS = 7,
    FY_ATTR_STRINGS = 8,
    FY_ATTR_TENSORS = 9,
    FY_ATTR_GRAPHS = 10,
    FY_ATTR_SPARSE_TENSOR = 11,
    FY_ATTR_SPARSE_TENSORS = 12,
    FY_ATTR_TYPE_PROTO = 13,
    FY_ATTR_TYPE_PROTOS = 14,
} fy__attr_type;

struct fy__graph;

typedef struct fy__attr {
    char *name;
    fy__attr_type type;
    float f;
    int64_t i;
    char *s; /* STRING: NUL-terminated copy (bytes after an embedded NUL are dropped) */
    fy_tensor *t;             /* TENSOR */
    struct fy__graph *g;      /* GRAPH */
    int64_t n;                /* element count of the list kinds below */
    float *floats;            /* FLOATS */
    int64_t *ints;            /* INTS */
    char **strings;           /* STRINGS */
    fy_tensor *tensors;       /* TENSORS */
    struct fy__graph **graphs; /* GRAPHS */
} fy__attr;

struct fy__op_def;

typedef struct fy__node {
    char *name;   /* never NULL; "" if the model gave none */
    char *op_type;
    char *domain; /* "" for the default ONNX domain */
    int opset;    /* the model's opset version for this node's domain */
    int n_inputs;
    int *inputs; /* value ids; -1 for an omitted optional input ("") */
    int n_outputs;
    int *outputs; /* value ids; -1 for an omitted optional output */
    int n_attrs;
    fy__attr *attrs;
    const struct fy__op_def *def; /* resolved kernel, set by the engine */
    int n_implicit;
    int *implicit; /* values of this graph that the node's subgraphs read (outer scope) */
} fy__node;

/* Static type information about a value, as declared in the model (may be partial). */
typedef struct fy__value_info {
    fy_dtype dtype;       /* UNDEFINED if not declared */
    int rank;             /* -1 if unknown */
    int64_t dims[FY_MAX_RANK]; /* -1 for a symbolic or unknown dimension */
    char *dim_names[FY_MAX_RANK]; /* symbolic names ("N", "batch") or NULL */
    int not_tensor;       /* declared as sequence/map/optional: unsupported */
} fy__value_info;

typedef struct fy__value {
    char *name;
    fy__value_info info;
    fy_tensor *init; /* initializer data (owned by the graph), or NULL */
    int producer;    /* index of the producing node, -1 for graph inputs/initializers/outer scope */
    int is_input;    /* listed in graph.input (and not an initializer) */
    int is_outer;    /* taken from an enclosing graph (subgraphs only) */
} fy__value;

/* A graph: values, nodes in topological order after fy__graph_sort, and which
 * values are inputs and outputs. Owned by its model; immutable once loaded. */
typedef struct fy__graph {
    char *name;
    int n_values, cap_values;
    fy__value *values;
    int n_nodes;
    fy__node *nodes;
    int n_inputs;
    int *inputs; /* value ids of real inputs (initializers excluded) */
    int n_outputs;
    int *outputs;
    struct fy__graph *parent; /* enclosing graph for subgraphs, NULL at top */
    int *hash;                /* open-addressing index of values by name (ids, -1 empty) */
    int hash_cap;             /* a power of two, at least twice n_values */
} fy__graph;

/* Find a value by name in g only; -1 if absent. */
int fy__graph_find(const fy__graph *g, const char *name);
/* Find or add a value by name; returns its id or a negative error code. */
int fy__graph_intern(fy__graph *g, const char *name);
/* Order nodes so every node comes after the producers of its inputs; refuse
 * cycles, inputs nobody produces, and values produced twice (naming the node). */
int fy__graph_sort(fy__graph *g, fy_diag *d);
void fy__graph_free(fy__graph *g);

/* Attribute access for kernels. Lookups are by name; absent attributes give `def`. */
const fy__attr *fy__attr_find(const fy__node *n, const char *name);
int64_t fy__attr_int(const fy__node *n, const char *name, int64_t def);
float fy__attr_float(const fy__node *n, const char *name, float def);
const char *fy__attr_str(const fy__node *n, const char *name, const char *def);
/* Count of ints/floats and a borrowed pointer to them; -1 (and *out = NULL) if absent. */
int64_t fy__attr_ints(const fy__node *n, const char *name, const int64_t **out);
int64_t fy__attr_floats(const fy__node *n, const char *name, const float **out);
const fy_tensor *fy__attr_tensor(const fy__node *n, const char *name);

#endif
