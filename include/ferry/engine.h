/* SPDX-License-Identifier: MIT */
/* Sessions: running a loaded model. The only API the rest of ferry uses to run models. */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include "ferry/error.h"
#include "ferry/model.h"
#include "ferry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Thread safety: a session must be used by one thread at a time; create one
 * session per thread over a shared model. The model must outlive its sessions. */
typedef struct fy_session fy_session;

/* A persistent pool of worker threads for intra-op parallelism (src/core/pool.h).
 * Thread safety: any number of sessions and threads may share one pool; the
 * workers serve one loop at a time and other callers run theirs inline, so
 * sharing never oversubscribes the CPUs. It must outlive the sessions using it. */
typedef struct fy_pool fy_pool;

typedef struct fy_session_opts {
    int threads;   /* threads per kernel, caller included; 0 = the CPUs this process may use */
    fy_pool *pool; /* shared pool to run on (borrowed; threads is then ignored); NULL: the
                      session makes its own when it needs more than one thread */
    int reference; /* 1 = reference kernels only (the oracle tests compare against) */
    /* 1: run the graph as loaded, without the graph passes (constant folding, fusion,
     * docs/DESIGN.md "Engine optimization"); for tests and debugging. The environment
     * variable FERRY_NO_OPTIMIZE=1 does the same for every session. */
    int no_optimize;
} fy_session_opts;

/* Checks every node has a kernel (FY_EUNSUPPORTED naming the first node that
 * has none) and prepares execution. opts may be NULL. */
int fy_session_create(fy_session **out, const fy_model *m, const fy_session_opts *opts, fy_diag *d);
void fy_session_free(fy_session *s); /* NULL is a no-op */

/* Run the model. in[i] feeds model input i (order of fy_model_input), borrowed.
 * Inputs are checked against the declared dtype, rank and fixed dimensions.
 * out must hold n_out tensors (n_out <= number of model outputs); each is
 * overwritten with an owned result the caller frees with fy_tensor_deinit. On
 * failure no output is left allocated. */
int fy_session_run(fy_session *s, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                   fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
