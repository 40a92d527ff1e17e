/* SPDX-License-Identifier: MIT */
/* The reference executor: runs nodes in topological order, allocating each result
 * as it is produced and freeing it after its last use. Subgraphs (If, Loop) run
 * through the same code with a link to the enclosing scope. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "../core/pool.h"
#include "../onnx/onnx.h"
#include "../ops/ops.h"
#include "engine.h"
#include "ferry/engine.h"
#include "optimize.h"
#include "plan.h"

/* The memory plan of the top-level graph for one input signature (plan.h). */
typedef struct mem_plan {
    int state;        /* 0: none yet, 1: planned for sig, -1: planning off */
    int64_t *sig;     /* per input: dtype, rank, dims (2 + FY_MAX_RANK each) */
    size_t *size;     /* per value: bytes recorded on the first run (0: not planned) */
    int *start, *end; /* per value: producing step, last reading step */
    size_t *offset;   /* per value: place in the arena */
    unsigned char *arena;
    size_t arena_bytes;
    void **bufs; /* per output of the running node: its planned buffer or NULL */
    size_t *caps;
} mem_plan;

struct fy_session {
    const fy_model *model;
    const fy__graph *graph; /* what runs: the optimized copy, or the model's own graph */
    fy__opt *opt;
    fy__opt_stats stats;
    const fy__op_def **defs; /* kernel of each top-level node */
    void **states;           /* what each top-level node's prepare made, or NULL */
    fy_pool *pool;           /* threads for the kernels; NULL runs them inline */
    fy_pool *own_pool;       /* the pool this session made (freed with it) */
    int reference;           /* reference kernels only, subgraphs included */
    /* Top-level run buffers, made once so that a run allocates nothing itself. */
    fy_tensor *vals;
    int *last_use;
    fy_tensor *outs;
    const fy_tensor **ins;
    int max_io;
    mem_plan mp;
    double *prof; /* FERRY_PROFILE=1: seconds per top-level node, printed on free */
    long prof_runs;
};

/* Values of one running graph; parent links to the enclosing graph's scope. */
typedef struct run_env {
    const fy__graph *g;
    fy_tensor *vals;
    const struct run_env *parent;
    fy_session *s;
    int depth;
} run_env;

static int resolve_ops(const fy__graph *g, fy_diag *d)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        if (!nd->def)
            return fy__diag_set(d, FY_EUNSUPPORTED,
                                "node '%s': operator %s%s%s (opset %d) is not supported by ferry",
                                nd->name, *nd->domain ? nd->domain : "", *nd->domain ? "." : "",
                                nd->op_type, nd->opset);
        for (int k = 0; k < nd->n_attrs; k++) {
            const fy__attr *a = &nd->attrs[k];
            int rc = FY_OK;
            if (a->g)
                rc = resolve_ops(a->g, d);
            for (int64_t j = 0; rc == FY_OK && a->graphs && j < a->n; j++)
                rc = resolve_ops(a->graphs[j], d);
            if (rc != FY_OK)
                return rc;
        }
    }
    return FY_OK;
}

/* Buffers for top-level runs and the memory plan's tables. */
static int alloc_run_bufs(fy_session *s, fy_diag *d)
{
    const fy__graph *g = s->graph;
    size_t nv = (size_t)g->n_values + 1;
    s->max_io = 1;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].n_inputs > s->max_io)
            s->max_io = g->nodes[i].n_inputs;
        if (g->nodes[i].n_outputs > s->max_io)
            s->max_io = g->nodes[i].n_outputs;
    }
    mem_plan *mp = &s->mp;
    s->vals = fy__calloc(nv, sizeof *s->vals);
    s->last_use = fy__calloc(nv, sizeof *s->last_use);
    s->outs = fy__calloc((size_t)s->max_io, sizeof *s->outs);
    s->ins = fy__calloc((size_t)s->max_io, sizeof *s->ins);
    mp->sig = fy__calloc((size_t)g->n_inputs + 1, (2 + FY_MAX_RANK) * sizeof *mp->sig);
    mp->size = fy__calloc(nv, sizeof *mp->size);
    mp->start = fy__calloc(nv, sizeof *mp->start);
    mp->end = fy__calloc(nv, sizeof *mp->end);
    mp->offset = fy__calloc(nv, sizeof *mp->offset);
    mp->bufs = fy__calloc((size_t)s->max_io, sizeof *mp->bufs);
    mp->caps = fy__calloc((size_t)s->max_io, sizeof *mp->caps);
    if (!s->vals || !s->last_use || !s->outs || !s->ins || !mp->sig || !mp->size || !mp->start ||
        !mp->end || !mp->offset || !mp->bufs || !mp->caps)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    const char *prof = getenv("FERRY_PROFILE");
    if (prof && *prof && strcmp(prof, "0") != 0 &&
        !(s->prof = fy__calloc((size_t)g->n_nodes + 1, sizeof *s->prof)))
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    const char *env = getenv("FERRY_NO_PLAN");
    if (env && *env && strcmp(env, "0") != 0)
        mp->state = -1;
    return FY_OK;
}

/* FERRY_PROFILE=1: time per op type over the session's runs, to stderr (a
 * debugging aid for engine work, docs/DESIGN.md). */
static void print_profile(const fy_session *s)
{
    const fy__graph *g = s->graph;
    double total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += s->prof[i];
    fprintf(stderr, "ferry profile: %ld runs, %.3f ms per run; memory plan %s, arena %zu bytes\n",
            s->prof_runs, s->prof_runs ? total * 1e3 / (double)s->prof_runs : 0,
            s->mp.state == 1  ? "on"
            : s->mp.state < 0 ? "off"
                              : "not made",
            s->mp.arena_bytes);
    for (int i = 0; i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = strcmp(g->nodes[j].op_type, op) != 0;
        if (!first)
            continue;
        double t = 0;
        int n = 0;
        for (int j = i; j < g->n_nodes; j++)
            if (strcmp(g->nodes[j].op_type, op) == 0)
                t += s->prof[j], n++;
        fprintf(stderr, "  %-20s %4d nodes %9.3f ms/run %5.1f%%\n", op, n,
                s->prof_runs ? t * 1e3 / (double)s->prof_runs : 0, total > 0 ? 100 * t / total : 0);
    }
    /* FERRY_PROFILE=nodes: then every node in graph order */
    const char *env = getenv("FERRY_PROFILE");
    if (!env || strcmp(env, "nodes") != 0)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        fprintf(stderr, "  %4d %-14s %-30s %9.3f ms/run\n", i, g->nodes[i].op_type,
                g->nodes[i].name ? g->nodes[i].name : "",
                s->prof_runs ? s->prof[i] * 1e3 / (double)s->prof_runs : 0);
}

static void free_run_bufs(fy_session *s)
{
    mem_plan *mp = &s->mp;
    if (s->prof && s->prof_runs)
        print_profile(s);
    fy__free(s->prof);
    fy__free(s->vals);
    fy__free(s->last_use);
    fy__free(s->outs);
    fy__free(s->ins);
    fy__free(mp->sig);
    fy__free(mp->size);
    fy__free(mp->start);
    fy__free(mp->end);
    fy__free(mp->offset);
    fy__free(mp->bufs);
    fy__free(mp->caps);
    free(mp->arena);
}

/* Per-node kernels and prepared states of the top-level graph. */
static int prepare_nodes(fy_session *s, const fy__graph *g, fy_diag *d)
{
    int rc = FY_OK;
    const fy_tensor **consts = NULL;
    const fy__value_info **infos = NULL;
    s->defs = fy__calloc((size_t)g->n_nodes + 1, sizeof *s->defs);
    s->states = fy__calloc((size_t)g->n_nodes + 1, sizeof *s->states);
    consts = fy__calloc(FY_NODE_MAX_IO, sizeof *consts);
    infos = fy__calloc(FY_NODE_MAX_IO, sizeof *infos);
    if (!s->defs || !s->states || !consts || !infos) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        const fy__op_def *def = s->reference ? fy__op_find_ref(nd->domain, nd->op_type) : nd->def;
        const fy__op_fast *fast = fy__op_fast_of(def);
        s->defs[i] = def;
        if (!fast || !fast->prepare)
            continue;
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            consts[k] = v >= 0 ? g->values[v].init : NULL;
            infos[k] = v >= 0 ? &g->values[v].info : NULL;
        }
        fy__op_prep p = {nd, nd->opset, nd->n_inputs, consts, infos, s->pool, d};
        if ((rc = fast->prepare(&p, &s->states[i])) != FY_OK)
            goto done;
    }
done:
    fy__free(consts);
    fy__free(infos);
    return rc;
}

int fy_session_create(fy_session **out, const fy_model *m, const fy_session_opts *opts, fy_diag *d)
{
    fy_session_opts none = {0};
    if (!opts)
        opts = &none;
    int rc = resolve_ops(m->graph, d);
    if (rc != FY_OK)
        return rc;
    fy_session *s = fy__calloc(1, sizeof *s);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    s->model = m;
    s->graph = m->graph;
    s->reference = opts->reference;
    s->pool = opts->pool;
    if (!s->pool && opts->threads != 1 && (opts->threads > 1 || fy_pool_cpus() > 1)) {
        if ((rc = fy_pool_create(&s->own_pool, opts->threads, d)) != FY_OK)
            goto done;
        s->pool = s->own_pool;
    }
    /* FERRY_NO_OPTIMIZE=1 is the debugging switch: the graph runs as loaded. */
    const char *env = getenv("FERRY_NO_OPTIMIZE");
    if (!opts->no_optimize && !(env && *env && strcmp(env, "0") != 0)) {
        if ((rc = fy__optimize(&s->opt, m->graph, FY_OPT_ALL, &s->stats, d)) != FY_OK)
            goto done;
        s->graph = fy__opt_graph(s->opt);
    }
    if ((rc = prepare_nodes(s, s->graph, d)) != FY_OK || (rc = alloc_run_bufs(s, d)) != FY_OK)
        goto done;
    *out = s;
    s = NULL;
done:
    fy_session_free(s);
    return rc;
}

void fy_session_free(fy_session *s)
{
    if (!s)
        return;
    for (int i = 0; s->states && i < s->graph->n_nodes; i++)
        if (s->states[i])
            fy__op_fast_of(s->defs[i])->release(s->states[i]);
    fy__free(s->states);
    fy__free(s->defs);
    fy_pool_free(s->own_pool);
    free_run_bufs(s);
    fy__opt_free(s->opt);
    fy__free(s);
}

const fy__graph *fy__session_graph(const fy_session *s, fy__opt_stats *stats)
{
    if (stats)
        *stats = s->stats;
    return s->graph;
}

static fy_tensor view_of(const fy_tensor *t)
{
    fy_tensor v = *t;
    v.owns = 0;
    return v;
}

static const fy_tensor *outer_lookup(const run_env *env, const char *name)
{
    /* The nearest scope that declares the name decides, as in ONNX's scoping rules. */
    for (const run_env *e = env; e; e = e->parent) {
        int id = fy__graph_find(e->g, name);
        if (id >= 0)
            return e->vals[id].data ? &e->vals[id] : NULL;
    }
    return NULL;
}

static int check_input(const fy__value *v, const fy_tensor *t, fy_diag *d)
{
    char got[128];
    const fy__value_info *vi = &v->info;
    if (vi->dtype != FY_DTYPE_UNDEFINED && vi->dtype != t->dtype)
        return fy__diag_set(d, FY_EINVAL, "input '%s': expected %s, got %s", v->name,
                            fy_dtype_name(vi->dtype), fy_tensor_describe(t, got, sizeof got));
    if (vi->rank >= 0 && vi->rank != t->rank)
        return fy__diag_set(d, FY_EINVAL, "input '%s': expected rank %d, got %s", v->name, vi->rank,
                            fy_tensor_describe(t, got, sizeof got));
    for (int i = 0; vi->rank >= 0 && i < vi->rank; i++)
        if (vi->dims[i] >= 0 && vi->dims[i] != t->dims[i])
            return fy__diag_set(d, FY_EINVAL, "input '%s': dimension %d must be %lld, got %s",
                                v->name, i, (long long)vi->dims[i],
                                fy_tensor_describe(t, got, sizeof got));
    if (!t->data && fy_tensor_numel(t) > 0)
        return fy__diag_set(d, FY_EINVAL, "input '%s' has no data", v->name);
    return FY_OK;
}

/* Whether the inputs have the signature the plan was made for; records it when
 * `take` is set. */
static int same_sig(mem_plan *mp, const fy__graph *g, const fy_tensor *const *in, int take)
{
    int same = 1;
    for (int i = 0; i < g->n_inputs; i++) {
        int64_t *e = mp->sig + (size_t)i * (2 + FY_MAX_RANK);
        int64_t now[2 + FY_MAX_RANK] = {in[i]->dtype, in[i]->rank};
        for (int k = 0; k < in[i]->rank; k++)
            now[2 + k] = in[i]->dims[k];
        for (int k = 0; k < 2 + FY_MAX_RANK; k++) {
            same &= e[k] == now[k];
            if (take)
                e[k] = now[k];
        }
    }
    return same;
}

/* After a recording run: place the recorded values in one arena. On failure the
 * session simply runs unplanned. */
static void make_plan(fy_session *s)
{
    mem_plan *mp = &s->mp;
    size_t total = 0;
    if (fy__plan_offsets(s->graph->n_values, mp->size, mp->start, mp->end, mp->offset, &total) !=
        FY_OK) {
        mp->state = -1;
        return;
    }
    if (total > mp->arena_bytes) {
        /* Page-aligned so the arena's pages are touched only when first used; plain
         * libc: the arena is the session's one allocation and never a test target. */
        void *a = NULL;
        if (posix_memalign(&a, 4096, total) != 0) {
            mp->state = -1;
            return;
        }
        free(mp->arena);
        mp->arena = a;
        mp->arena_bytes = total;
    }
    mp->state = 1;
}

/* Run g with inputs bound by position; outputs are owned copies or moved results.
 * The top level (depth 0) uses the session's buffers and memory plan; subgraphs
 * allocate theirs per call. */
static int run_graph(run_env *env, int n_in, const fy_tensor *const *in, int n_out, fy_tensor *out,
                     fy_diag *d)
{
    const fy__graph *g = env->g;
    fy_session *s = env->s;
    int top = env->depth == 0, rc = FY_ENOMEM;
    int *last_use = NULL;
    fy_tensor *outs = NULL;
    const fy_tensor **ins = NULL;
    mem_plan *mp = top ? &s->mp : NULL;
    int planned = 0, recording = 0;
    int max_io = 1;
    if (top) {
        env->vals = s->vals;
        memset(env->vals, 0, ((size_t)g->n_values + 1) * sizeof *env->vals);
        last_use = s->last_use;
        outs = s->outs;
        ins = s->ins;
        max_io = s->max_io;
    } else {
        for (int i = 0; i < g->n_nodes; i++) {
            if (g->nodes[i].n_inputs > max_io)
                max_io = g->nodes[i].n_inputs;
            if (g->nodes[i].n_outputs > max_io)
                max_io = g->nodes[i].n_outputs;
        }
        env->vals = fy__calloc((size_t)g->n_values + 1, sizeof(fy_tensor));
        last_use = fy__malloc(((size_t)g->n_values + 1) * sizeof *last_use);
        outs = fy__calloc((size_t)max_io, sizeof *outs);
        ins = fy__calloc((size_t)max_io, sizeof *ins);
        if (!env->vals || !last_use || !outs || !ins) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (n_in > g->n_inputs) {
        rc = fy__diag_set(d, FY_EINVAL, "%d inputs given, the graph takes %d", n_in, g->n_inputs);
        goto done;
    }
    for (int i = 0; i < g->n_values; i++) {
        const fy__value *v = &g->values[i];
        last_use[i] = -1;
        if (v->init) {
            env->vals[i] = view_of(v->init);
        } else if (v->is_outer) {
            const fy_tensor *t = outer_lookup(env->parent, v->name);
            if (t)
                env->vals[i] = view_of(t);
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const fy__value *v = &g->values[g->inputs[i]];
        if (i >= n_in || !in[i]) {
            rc = fy__diag_set(d, FY_EINVAL, "input '%s' is missing", v->name);
            goto done;
        }
        if ((rc = check_input(v, in[i], d)) != FY_OK)
            goto done;
        env->vals[g->inputs[i]] = view_of(in[i]);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs; k++)
            if (nd->inputs[k] >= 0)
                last_use[nd->inputs[k]] = i;
        for (int k = 0; k < nd->n_implicit; k++)
            last_use[nd->implicit[k]] = i;
    }
    for (int i = 0; i < g->n_outputs; i++)
        last_use[g->outputs[i]] = g->n_nodes;
    if (mp && mp->state >= 0) {
        planned = mp->state == 1 && same_sig(mp, g, in, 0);
        recording = !planned;
        if (recording) {
            same_sig(mp, g, in, 1);
            memset(mp->size, 0, (size_t)g->n_values * sizeof *mp->size);
            mp->state = 0;
        }
    }

    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs; k++) {
            int v = nd->inputs[k];
            ins[k] = NULL;
            if (v < 0)
                continue;
            if (!env->vals[v].data) {
                rc = fy__diag_set(d, FY_EINVAL, "node '%s' (%s): input '%s' has no value", nd->name,
                                  nd->op_type, g->values[v].name);
                goto done;
            }
            ins[k] = &env->vals[v];
        }
        memset(outs, 0, (size_t)nd->n_outputs * sizeof *outs);
        const fy__op_def *def = nd->def;
        void *state = NULL;
        if (top) {
            def = s->defs[i];
            state = s->states[i];
        } else if (s->reference) {
            def = fy__op_find_ref(nd->domain, nd->op_type);
        }
        fy__op_ctx c = {nd,   nd->opset, nd->n_inputs, ins,   nd->n_outputs,
                        outs, d,         env,          state, s->pool};
        if (d)
            d->msg[0] = 0;
        fy__out_plan op = {outs, nd->n_outputs, mp ? mp->bufs : NULL, mp ? mp->caps : NULL};
        if (planned) {
            for (int k = 0; k < nd->n_outputs; k++) {
                int v = nd->outputs[k];
                int has = v >= 0 && mp->size[v] > 0;
                mp->bufs[k] = has ? mp->arena + mp->offset[v] : NULL;
                mp->caps[k] = has ? mp->size[v] : 0;
            }
            fy__out_plan_set(&op);
        }
        struct timespec t0, t1;
        if (top && s->prof)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = def->run(&c);
        if (top && s->prof) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            s->prof[i] +=
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        }
        if (planned)
            fy__out_plan_set(NULL);
        if (rc == FY_OK) {
            for (int k = 0; k < nd->n_outputs; k++)
                if (nd->outputs[k] >= 0 && !outs[k].data && last_use[nd->outputs[k]] >= 0) {
                    rc = fy__diag_set(d, FY_EINVAL, "node '%s' (%s): output %d was not produced",
                                      nd->name, nd->op_type, k);
                    break;
                }
        } else if (d && !d->msg[0]) {
            fy__diag_set(d, rc, "node '%s' (%s): %s", nd->name, nd->op_type, fy_strerror(rc));
        }
        if (rc != FY_OK) {
            for (int k = 0; k < nd->n_outputs; k++)
                fy_tensor_deinit(&outs[k]);
            goto done;
        }
        for (int k = 0; k < nd->n_outputs; k++) {
            int v = nd->outputs[k];
            if (v < 0 || last_use[v] < 0) {
                fy_tensor_deinit(&outs[k]); /* nobody reads it */
                continue;
            }
            /* Record what the kernel allocated itself; graph outputs are handed to
             * the caller, so they stay heap buffers. */
            if (recording && outs[k].owns && last_use[v] < g->n_nodes) {
                mp->size[v] = fy_tensor_nbytes(&outs[k]);
                mp->start[v] = i;
                mp->end[v] = last_use[v];
            }
            env->vals[v] = outs[k];
        }
        /* Free what no later node reads. */
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
            if (v >= 0 && last_use[v] == i)
                fy_tensor_deinit(&env->vals[v]);
        }
    }
    for (int i = 0; i < n_out && i < g->n_outputs; i++) {
        fy_tensor *t = &env->vals[g->outputs[i]];
        if (!t->data) {
            rc = fy__diag_set(d, FY_EINVAL, "output '%s' has no value",
                              g->values[g->outputs[i]].name);
            goto done;
        }
    }
    for (int i = 0; i < n_out; i++) {
        fy_tensor *t = &env->vals[g->outputs[i]];
        if (t->owns) {
            out[i] = *t;
            /* Several outputs may name the same value: later ones copy. */
            memset(t, 0, sizeof *t);
            t->data = out[i].data;
            t->dtype = out[i].dtype;
            t->rank = out[i].rank;
            memcpy(t->dims, out[i].dims, sizeof t->dims);
        } else if ((rc = fy_tensor_copy(&out[i], t, d)) != FY_OK) {
            for (int k = 0; k < i; k++)
                fy_tensor_deinit(&out[k]);
            goto done;
        }
    }
    if (recording)
        make_plan(s);
    if (top)
        s->prof_runs++;
    rc = FY_OK;
done:
    if (env->vals)
        for (int i = 0; i < g->n_values; i++)
            fy_tensor_deinit(&env->vals[i]);
    if (!top) {
        fy__free(env->vals);
        fy__free(last_use);
        fy__free(outs);
        fy__free(ins);
    }
    env->vals = NULL;
    return rc;
}

int fy__engine_run_subgraph(void *engine, const fy__graph *g, int n_in, const fy_tensor *const *in,
                            int n_out, fy_tensor *out, fy_diag *d)
{
    const run_env *parent = engine;
    if (parent->depth >= FY_GRAPH_MAX_DEPTH)
        return fy__diag_set(d, FY_ELIMIT, "subgraphs nested deeper than %d", FY_GRAPH_MAX_DEPTH);
    if (n_out > g->n_outputs)
        return fy__diag_set(d, FY_EINVAL, "subgraph '%s' has %d outputs, %d expected", g->name,
                            g->n_outputs, n_out);
    run_env env = {g, NULL, parent, parent->s, parent->depth + 1};
    return run_graph(&env, n_in, in, n_out, out, d);
}

int fy_session_run(fy_session *s, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                   fy_diag *d)
{
    const fy__graph *g = s->graph;
    if (n_out > g->n_outputs)
        return fy__diag_set(d, FY_EINVAL, "%d outputs requested, the model has %d", n_out,
                            g->n_outputs);
    const fy_tensor *ptrs[64] = {0};
    const fy_tensor **pin = ptrs;
    if (n_in > 64 && !(pin = fy__malloc((size_t)n_in * sizeof *pin)))
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    for (int i = 0; i < n_in; i++)
        pin[i] = &in[i];
    run_env env = {g, NULL, NULL, s, 0};
    int rc = run_graph(&env, n_in, pin, n_out, out, d);
    if (pin != ptrs)
        fy__free(pin);
    return rc;
}
