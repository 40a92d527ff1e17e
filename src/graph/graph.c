/* SPDX-License-Identifier: MIT */
/* Graph IR bookkeeping: value interning, topological order with cycle and
 * missing-input detection, and freeing. */
#include <stdio.h>
#include <string.h>

#include "../core/core.h"
#include "graph.h"

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Hashing keeps interning linear: models with a million values load in time. */
static int hash_rebuild(fy__graph *g, int cap)
{
    int *h = fy__malloc((size_t)cap * sizeof *h);
    if (!h)
        return FY_ENOMEM;
    for (int i = 0; i < cap; i++)
        h[i] = -1;
    for (int i = 0; i < g->n_values; i++) {
        uint32_t k = name_hash(g->values[i].name) & (uint32_t)(cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    fy__free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return FY_OK;
}

int fy__graph_find(const fy__graph *g, const char *name)
{
    if (!g->hash)
        return -1;
    uint32_t k = name_hash(name) & (uint32_t)(g->hash_cap - 1);
    while (g->hash[k] >= 0) {
        if (strcmp(g->values[g->hash[k]].name, name) == 0)
            return g->hash[k];
        k = (k + 1) & (uint32_t)(g->hash_cap - 1);
    }
    return -1;
}

int fy__graph_intern(fy__graph *g, const char *name)
{
    int id = fy__graph_find(g, name);
    if (id >= 0)
        return id;
    if (g->n_values >= FY_GRAPH_MAX_VALUES)
        return FY_ELIMIT;
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 16;
        fy__value *v = fy__realloc(g->values, (size_t)cap * sizeof *v);
        if (!v)
            return FY_ENOMEM;
        g->values = v;
        g->cap_values = cap;
    }
    fy__value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = fy__strdup(name);
    if (!v->name)
        return FY_ENOMEM;
    v->producer = -1;
    v->info.rank = -1;
    g->n_values++;
    if (g->n_values * 2 > g->hash_cap) {
        if (hash_rebuild(g, g->hash_cap ? g->hash_cap * 2 : 64) != FY_OK) {
            fy__free(v->name);
            g->n_values--;
            return FY_ENOMEM;
        }
    } else {
        uint32_t k = name_hash(name) & (uint32_t)(g->hash_cap - 1);
        while (g->hash[k] >= 0)
            k = (k + 1) & (uint32_t)(g->hash_cap - 1);
        g->hash[k] = g->n_values - 1;
    }
    return g->n_values - 1;
}

static void attr_deinit(fy__attr *a)
{
    fy__free(a->name);
    fy__free(a->s);
    if (a->t) {
        fy_tensor_deinit(a->t);
        fy__free(a->t);
    }
    fy__graph_free(a->g);
    fy__free(a->floats);
    fy__free(a->ints);
    if (a->strings)
        for (int64_t i = 0; i < a->n; i++)
            fy__free(a->strings[i]);
    fy__free(a->strings);
    if (a->tensors)
        for (int64_t i = 0; i < a->n; i++)
            fy_tensor_deinit(&a->tensors[i]);
    fy__free(a->tensors);
    if (a->graphs)
        for (int64_t i = 0; i < a->n; i++)
            fy__graph_free(a->graphs[i]);
    fy__free(a->graphs);
}

static void node_deinit(fy__node *n)
{
    fy__free(n->name);
    fy__free(n->op_type);
    fy__free(n->domain);
    fy__free(n->inputs);
    fy__free(n->outputs);
    fy__free(n->implicit);
    if (n->attrs)
        for (int i = 0; i < n->n_attrs; i++)
            attr_deinit(&n->attrs[i]);
    fy__free(n->attrs);
}

void fy__graph_free(fy__graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        node_deinit(&g->nodes[i]);
    fy__free(g->nodes);
    for (int i = 0; i < g->n_values; i++) {
        fy__value *v = &g->values[i];
        fy__free(v->name);
        for (int k = 0; k < FY_MAX_RANK; k++)
            fy__free(v->info.dim_names[k]);
        if (v->init) {
            fy_tensor_deinit(v->init);
            fy__free(v->init);
        }
    }
    fy__free(g->values);
    fy__free(g->hash);
    fy__free(g->inputs);
    fy__free(g->outputs);
    fy__free(g->name);
    fy__free(g);
}

/* Kahn's algorithm over value->consumer edges: a node is ready when every input
 * (explicit or implicit) is available. Whatever is left when the queue empties is
 * part of a cycle or waits on a value nothing produces; we say which. Linear in
 * nodes plus edges, so a hostile graph cannot make loading quadratic. */
int fy__graph_sort(fy__graph *g, fy_diag *d)
{
    int rc = FY_ENOMEM;
    int n = g->n_nodes;
    int *order = NULL, *pending = NULL, *edge_start = NULL, *edges = NULL, *fill = NULL;
    char *avail = fy__calloc((size_t)g->n_values + 1, 1);
    char *done = fy__calloc((size_t)n + 1, 1);
    fy__node *sorted = NULL;
    order = fy__malloc(((size_t)n + 1) * sizeof *order);
    pending = fy__calloc((size_t)n + 1, sizeof *pending);
    edge_start = fy__calloc((size_t)g->n_values + 2, sizeof *edge_start);
    fill = fy__calloc((size_t)g->n_values + 1, sizeof *fill);
    if (!avail || !done || !order || !pending || !edge_start || !fill)
        goto done;

    for (int i = 0; i < g->n_values; i++) {
        fy__value *v = &g->values[i];
        v->producer = -1;
        if (v->init || v->is_input || v->is_outer)
            avail[i] = 1;
    }
    for (int i = 0; i < n; i++) {
        fy__node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_outputs; k++) {
            int o = nd->outputs[k];
            if (o < 0)
                continue;
            if (g->values[o].producer >= 0 || avail[o]) {
                rc = fy__diag_set(d, FY_EPARSE,
                                  "node '%s' (%s): output '%s' is already produced by another "
                                  "node or is a graph input/initializer",
                                  nd->name, nd->op_type, g->values[o].name);
                goto done;
            }
            g->values[o].producer = i;
        }
    }
    /* Edges value -> consumer for every input slot not available from the start. */
    size_t n_edges = 0;
    for (int i = 0; i < n; i++) {
        fy__node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
            if (v >= 0 && !avail[v]) {
                edge_start[v + 1]++;
                pending[i]++;
                n_edges++;
            }
        }
    }
    for (int v = 0; v < g->n_values; v++)
        edge_start[v + 1] += edge_start[v];
    edges = fy__malloc((n_edges + 1) * sizeof *edges);
    if (!edges)
        goto done;
    for (int i = 0; i < n; i++) {
        fy__node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs + nd->n_implicit; k++) {
            int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
            if (v >= 0 && !avail[v])
                edges[edge_start[v] + fill[v]++] = i;
        }
    }
    int n_sorted = 0, head = 0;
    for (int i = 0; i < n; i++)
        if (pending[i] == 0)
            order[n_sorted++] = i;
    while (head < n_sorted) {
        fy__node *nd = &g->nodes[order[head++]];
        done[order[head - 1]] = 1;
        for (int k = 0; k < nd->n_outputs; k++) {
            int v = nd->outputs[k];
            if (v < 0)
                continue;
            avail[v] = 1;
            for (int e = edge_start[v]; e < edge_start[v + 1]; e++)
                if (--pending[edges[e]] == 0)
                    order[n_sorted++] = edges[e];
        }
    }
    if (n_sorted < n) {
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            fy__node *nd = &g->nodes[i];
            for (int k = 0; k < nd->n_inputs; k++) {
                int v = nd->inputs[k];
                if (v >= 0 && !avail[v] && g->values[v].producer < 0) {
                    rc = fy__diag_set(d, FY_EPARSE,
                                      "node '%s' (%s): input '%s' is not a graph input, an "
                                      "initializer or the output of any node",
                                      nd->name, nd->op_type, g->values[v].name);
                    goto done;
                }
            }
            for (int k = 0; k < nd->n_implicit; k++) {
                int v = nd->implicit[k];
                if (!avail[v] && g->values[v].producer < 0) {
                    rc = fy__diag_set(d, FY_EPARSE,
                                      "node '%s' (%s): its subgraph reads '%s', which nothing "
                                      "produces",
                                      nd->name, nd->op_type, g->values[v].name);
                    goto done;
                }
            }
        }
        /* Every waiting node waits on a producer that also waits; following
         * producers n times from any waiting node must land on the cycle itself. */
        int at = 0;
        while (at < n && done[at])
            at++;
        for (int step = 0; step < n && at < n; step++) {
            const fy__node *nd = &g->nodes[at];
            int next = -1;
            for (int k = 0; k < nd->n_inputs + nd->n_implicit && next < 0; k++) {
                int v = k < nd->n_inputs ? nd->inputs[k] : nd->implicit[k - nd->n_inputs];
                if (v >= 0 && !avail[v] && g->values[v].producer >= 0)
                    next = g->values[v].producer;
            }
            if (next < 0)
                break;
            at = next;
        }
        if (at < n) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "node '%s' (%s) is part of a cycle: the graph is not acyclic",
                              g->nodes[at].name, g->nodes[at].op_type);
            goto done;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        if (!avail[v]) {
            rc = fy__diag_set(d, FY_EPARSE, "graph output '%s' is not produced by any node",
                              g->values[v].name);
            goto done;
        }
    }
    sorted = fy__malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted)
        goto done;
    for (int i = 0; i < n; i++)
        sorted[i] = g->nodes[order[i]];
    fy__free(g->nodes);
    g->nodes = sorted;
    sorted = NULL;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (g->nodes[i].outputs[k] >= 0)
                g->values[g->nodes[i].outputs[k]].producer = i;
    rc = FY_OK;
done:
    fy__free(avail);
    fy__free(done);
    fy__free(order);
    fy__free(pending);
    fy__free(edge_start);
    fy__free(edges);
    fy__free(fill);
    fy__free(sorted);
    return rc;
}
