/* SPDX-License-Identifier: MIT */
/* The three runs the engine's fusion tests compare (test_conv_pool.c,
 * test_qconv_pool.c, test_qmatmul.c): out[0] as loaded, with the reference
 * kernels; out[1] with the graph passes and the reference kernels; out[2] with the
 * passes and the fast kernels at ISA isa (-1: the best) on `threads` threads. ops
 * lists the optimized graph's op types, st its pass statistics. */
#ifndef FERRY_TESTS_ENGINE_THREE_RUNS_H
#define FERRY_TESTS_ENGINE_THREE_RUNS_H

#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "model_builder.h"
#include "ops/fast/fast.h"

typedef struct three_runs {
    int ok; /* every run made an output */
    fy_tensor out[3];
    int n_out;
    char ops[256];
    fy__opt_stats st;
} three_runs;

static inline void three_runs_free(three_runs *t)
{
    for (int k = 0; k < t->n_out; k++)
        fy_tensor_deinit(&t->out[k]);
    t->n_out = 0;
}

static inline three_runs three_runs_do(gb *g, int opset, const fy_tensor *x, int isa, int threads)
{
    three_runs t;
    memset(&t, 0, sizeof t);
    fy_diag d = {{0}};
    fy_model *m = gb_load(g, opset, &d);
    if (!m) {
        printf("  load failed: %s\n", d.msg);
        return t;
    }
    fy__isa_force(isa);
    fy_session *s[3] = {NULL, NULL, NULL};
    fy_session_opts o[3] = {{.no_optimize = 1, .reference = 1}, {.reference = 1}, {.threads = 0}};
    o[2].threads = threads;
    int rc = FY_OK;
    for (int k = 0; k < 3 && rc == FY_OK; k++)
        if ((rc = fy_session_create(&s[k], m, &o[k], &d)) == FY_OK &&
            (rc = fy_session_run(s[k], 1, x, 1, &t.out[k], &d)) == FY_OK)
            t.n_out++;
    if (rc != FY_OK) {
        printf("  run failed: %s\n", d.msg);
    } else {
        t.ok = 1;
        const fy__graph *og = fy__session_graph(s[2], &t.st);
        for (int i = 0; i < og->n_nodes; i++) {
            size_t len = strlen(t.ops);
            snprintf(t.ops + len, sizeof t.ops - len, "%s%s", i ? " " : "", og->nodes[i].op_type);
        }
    }
    fy__isa_force(-1);
    for (int k = 0; k < 3; k++)
        fy_session_free(s[k]);
    fy_model_free(m);
    return t;
}

/* Same dtype, same count, the same bytes. */
static inline int three_runs_same(const fy_tensor *a, const fy_tensor *b)
{
    return a->dtype == b->dtype && fy_tensor_numel(a) == fy_tensor_numel(b) &&
           memcmp(a->data, b->data, (size_t)fy_tensor_numel(a) * fy_dtype_size(a->dtype)) == 0;
}

#endif
