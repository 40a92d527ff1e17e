/* SPDX-License-Identifier: MIT */
/* Engine internals other modules may call: running a subgraph for control-flow ops. */
#ifndef FERRY_ENGINE_INT_H
#define FERRY_ENGINE_INT_H

#include "../graph/graph.h"
#include "ferry/engine.h"
#include "optimize.h"

/* Run subgraph g in the scope of the running node (c->engine): values g reads from
 * outside are looked up in the enclosing scopes. Outputs are owned by the caller. */
int fy__engine_run_subgraph(void *engine, const fy__graph *g, int n_in, const fy_tensor *const *in,
                            int n_out, fy_tensor *out, fy_diag *d);

/* The graph a session runs (its optimized copy unless passes are off) and what the
 * passes did; for tests and diagnostics. */
const fy__graph *fy__session_graph(const fy_session *s, fy__opt_stats *stats);

#endif
