/* SPDX-License-Identifier: MIT */
/* Graph IR bookkeeping: value interning with many names, topological sort of
 * hand-built graphs, and the messages for cycles, missing inputs and duplicate
 * producers. Allocation failures leave the graph intact and leak nothing. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "graph/graph.h"
#include "test.h"

/* ---- building graphs by hand ---- */

static fy__graph *g_new(void)
{
    fy__graph *g = fy__calloc(1, sizeof *g);
    return g;
}

static int val(fy__graph *g, const char *name)
{
    return fy__graph_intern(g, name);
}

static void g_input(fy__graph *g, const char *name)
{
    int v = val(g, name);
    g->values[v].is_input = 1;
    int *in = fy__realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof *in);
    in[g->n_inputs++] = v;
    g->inputs = in;
}

static void g_output(fy__graph *g, const char *name)
{
    int v = val(g, name);
    int *out = fy__realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof *out);
    out[g->n_outputs++] = v;
    g->outputs = out;
}

static void g_initializer(fy__graph *g, const char *name)
{
    int v = val(g, name);
    int64_t dims[1] = {1};
    g->values[v].init = fy__calloc(1, sizeof(fy_tensor));
    fy_tensor_alloc(g->values[v].init, FY_DTYPE_F32, 1, dims, NULL);
}

/* ins and outs are space-separated value names; "-" is an omitted optional slot. */
static int split(fy__graph *g, const char *list, int **out)
{
    int n = 0;
    *out = fy__malloc(16 * sizeof **out);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list ? list : "");
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        (*out)[n++] = strcmp(tok, "-") == 0 ? -1 : val(g, tok);
    return n;
}

static fy__node *g_node(fy__graph *g, const char *name, const char *op, const char *ins,
                        const char *outs)
{
    /* capacity doubles at powers of two, so building a long chain stays linear (only
     * before sorting: fy__graph_sort replaces the array with an exact-size one) */
    int cnt = g->n_nodes;
    if ((cnt & (cnt - 1)) == 0) {
        fy__node *nodes = fy__realloc(g->nodes, (size_t)(cnt ? 2 * cnt : 1) * sizeof *nodes);
        g->nodes = nodes;
    }
    fy__node *n = &g->nodes[g->n_nodes++];
    memset(n, 0, sizeof *n);
    n->name = fy__strdup(name);
    n->op_type = fy__strdup(op);
    n->domain = fy__strdup("");
    n->n_inputs = split(g, ins, &n->inputs);
    n->n_outputs = split(g, outs, &n->outputs);
    return n;
}

static void g_implicit(fy__graph *g, fy__node *n, const char *name)
{
    n->implicit = fy__realloc(n->implicit, (size_t)(n->n_implicit + 1) * sizeof *n->implicit);
    n->implicit[n->n_implicit++] = val(g, name);
}

static int node_index(const fy__graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* Every node comes after the producers of its inputs, and producer ids match. */
static int is_topological(const fy__graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs + n->n_implicit; k++) {
            int v = k < n->n_inputs ? n->inputs[k] : n->implicit[k - n->n_inputs];
            if (v >= 0 && g->values[v].producer >= i)
                return 0;
        }
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && g->values[n->outputs[k]].producer != i)
                return 0;
    }
    return 1;
}

/* ---- interning ---- */

TEST(intern_and_find_many_values)
{
    fy__graph *g = g_new();
    enum { N = 100000 };
    char name[32];
    FY_CHECK_EQ(fy__graph_find(g, "x"), -1); /* empty graph has no index yet */
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        int id = fy__graph_intern(g, name);
        if (id != i) {
            FY_CHECK_EQ(id, i);
            break;
        }
    }
    FY_CHECK_EQ(g->n_values, N);
    FY_CHECK(g->hash_cap >= 2 * g->n_values);
    FY_CHECK_EQ(g->hash_cap & (g->hash_cap - 1), 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "v%d", i);
        bad += fy__graph_find(g, name) != i;
        bad += fy__graph_intern(g, name) != i; /* interning again finds, never adds */
    }
    FY_CHECK_EQ(bad, 0);
    FY_CHECK_EQ(g->n_values, N);
    FY_CHECK_EQ(fy__graph_find(g, "v100000"), -1);
    FY_CHECK_EQ(fy__graph_find(g, ""), -1);
    FY_CHECK_EQ(fy__graph_find(g, "v"), -1);
    /* the empty name is a value like any other */
    int e = fy__graph_intern(g, "");
    FY_CHECK_EQ(e, N);
    FY_CHECK_EQ(fy__graph_find(g, ""), N);
    FY_CHECK_EQ(g->values[e].producer, -1);
    FY_CHECK_EQ(g->values[e].info.rank, -1);
    fy__graph_free(g);
    fy__graph_free(NULL);
}

TEST(names_that_collide_in_the_hash_stay_distinct)
{
    /* Names differing only late, or only by case, or being prefixes of each other. */
    fy__graph *g = g_new();
    const char *names[] = {
        "a",        "A",  "aa", "a\x7f", "conv1/weight", "conv1/weights", "conv1/weight ",
        "\xff\xfe", "ab", "ba"};
    int n = (int)(sizeof names / sizeof names[0]);
    for (int i = 0; i < n; i++)
        FY_CHECK_EQ(fy__graph_intern(g, names[i]), i);
    for (int i = 0; i < n; i++)
        FY_CHECK_EQ(fy__graph_find(g, names[i]), i);
    for (int i = 0; i < n; i++)
        FY_CHECK_STR(g->values[i].name, names[i]);
    fy__graph_free(g);
}

TEST(intern_allocation_failures_leave_the_graph_usable)
{
    char name[32];
    for (long fail = 1; fail < 40; fail++) {
        fy__graph *g = g_new();
        int last_ok = -1, failed = 0;
        fy__alloc_fail_at(fail);
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof name, "value%d", i);
            int id = fy__graph_intern(g, name);
            if (id < 0) {
                FY_CHECK_EQ(id, FY_ENOMEM);
                failed = 1;
                break;
            }
            last_ok = id;
        }
        fy__alloc_fail_at(0);
        FY_CHECK_EQ(g->n_values, last_ok + 1);
        if (failed) {
            /* everything interned before the failure is still found; the rest can be added */
            for (int i = 0; i <= last_ok; i++) {
                snprintf(name, sizeof name, "value%d", i);
                FY_CHECK_EQ(fy__graph_find(g, name), i);
            }
            snprintf(name, sizeof name, "value%d", last_ok + 1);
            FY_CHECK_EQ(fy__graph_find(g, name), -1);
            FY_CHECK_EQ(fy__graph_intern(g, name), last_ok + 1);
        }
        fy__graph_free(g);
    }
}

/* ---- sorting ---- */

TEST(sort_orders_a_reversed_chain_and_a_diamond)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_initializer(g, "w");
    g_output(g, "y");
    /* y = D(B(A(x)), C(A(x), w)) listed in reverse */
    g_node(g, "D", "Add", "b c", "y");
    g_node(g, "C", "Mul", "a w", "c");
    g_node(g, "B", "Relu", "a", "b");
    g_node(g, "A", "Neg", "x", "a");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    FY_CHECK(is_topological(g));
    FY_CHECK_EQ(node_index(g, "A"), 0);
    FY_CHECK_EQ(node_index(g, "D"), 3);
    FY_CHECK_EQ(g->values[fy__graph_find(g, "y")].producer, 3);
    FY_CHECK_EQ(g->values[fy__graph_find(g, "x")].producer, -1);
    FY_CHECK_EQ(g->values[fy__graph_find(g, "w")].producer, -1);
    /* sorting a sorted graph changes nothing */
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    FY_CHECK_EQ(node_index(g, "A"), 0);
    FY_CHECK(is_topological(g));
    fy__graph_free(g);
}

TEST(sort_keeps_independent_nodes_in_model_order)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_node(g, "n0", "Relu", "x", "a");
    g_node(g, "n1", "Relu", "x", "b");
    g_node(g, "n2", "Relu", "x", "c");
    g_node(g, "n3", "Sum", "a b c - x", "y");
    g_output(g, "y");
    g_output(g, "a");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        FY_CHECK_EQ(node_index(g, name), i);
    }
    fy__graph_free(g);
}

TEST(sort_handles_omitted_outputs_and_empty_graphs)
{
    fy__graph *g = g_new();
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK); /* no values, no nodes */
    g_input(g, "x");
    g_output(g, "x"); /* an input passed straight through */
    g_node(g, "split", "Split", "x", "- p -");
    g_node(g, "use", "Relu", "p", "q");
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    FY_CHECK(is_topological(g));
    fy__graph_free(g);
}

TEST(long_chain_sorts_in_linear_time)
{
    /* 200k nodes listed backwards: quadratic sorting would take minutes */
    enum { N = 200000 };
    fy__graph *g = g_new();
    g_input(g, "v0");
    char in[32], out[32], name[32];
    for (int i = N; i >= 1; i--) {
        snprintf(in, sizeof in, "v%d", i - 1);
        snprintf(out, sizeof out, "v%d", i);
        snprintf(name, sizeof name, "n%d", i);
        g_node(g, name, "Relu", in, out);
    }
    g_output(g, out);
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    FY_CHECK(is_topological(g));
    FY_CHECK_STR(g->nodes[0].name, "n1");
    FY_CHECK_STR(g->nodes[N - 1].name, "n200000");
    fy__graph_free(g);
}

TEST(cycle_is_refused_naming_a_node_in_it)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_output(g, "y");
    g_node(g, "head", "Relu", "x", "h");
    g_node(g, "loop_a", "Add", "h c", "a");
    g_node(g, "loop_b", "Relu", "a", "b");
    g_node(g, "loop_c", "Relu", "b", "c");
    g_node(g, "tail", "Relu", "a", "y");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "cycle");
    FY_CHECK(strstr(d.msg, "'loop_a'") || strstr(d.msg, "'loop_b'") || strstr(d.msg, "'loop_c'"));
    FY_CHECK_CONTAINS(d.msg, "is part of a cycle");
    /* on failure the node list is left as it was */
    FY_CHECK_STR(g->nodes[0].name, "head");
    FY_CHECK_STR(g->nodes[4].name, "tail");
    fy__graph_free(g);

    /* a node that feeds itself */
    g = g_new();
    g_input(g, "x");
    g_node(g, "selfie", "Add", "x s", "s");
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "node 'selfie' (Add) is part of a cycle");
    fy__graph_free(g);
}

TEST(missing_input_is_named)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_output(g, "y");
    g_node(g, "first", "Relu", "x", "a");
    g_node(g, "second", "Add", "a nowhere", "y");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "node 'second' (Add)");
    FY_CHECK_CONTAINS(d.msg, "input 'nowhere'");
    FY_CHECK_CONTAINS(d.msg, "not a graph input, an initializer or the output of any node");
    fy__graph_free(g);

    /* a subgraph's outer-scope read that nothing provides */
    g = g_new();
    g_input(g, "cond");
    g_output(g, "y");
    fy__node *n = g_node(g, "branch", "If", "cond", "y");
    g_implicit(g, n, "ghost");
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "node 'branch' (If)");
    FY_CHECK_CONTAINS(d.msg, "'ghost'");
    fy__graph_free(g);
}

TEST(implicit_inputs_order_nodes)
{
    fy__graph *g = g_new();
    g_input(g, "cond");
    g_output(g, "y");
    fy__node *n = g_node(g, "branch", "If", "cond", "y");
    g_implicit(g, n, "late");
    g_node(g, "producer", "Relu", "cond", "late");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    FY_CHECK_EQ(node_index(g, "producer"), 0);
    FY_CHECK_EQ(node_index(g, "branch"), 1);
    FY_CHECK(is_topological(g));
    fy__graph_free(g);

    /* values from the enclosing graph count as available */
    g = g_new();
    g_output(g, "y");
    g_node(g, "inner", "Relu", "outer_value", "y");
    g->values[fy__graph_find(g, "outer_value")].is_outer = 1;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
    fy__graph_free(g);
}

TEST(double_producers_are_refused)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_output(g, "y");
    g_node(g, "one", "Relu", "x", "y");
    g_node(g, "two", "Neg", "x", "y");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "node 'two' (Neg)");
    FY_CHECK_CONTAINS(d.msg, "output 'y' is already produced");
    fy__graph_free(g);

    /* writing over a graph input or an initializer */
    g = g_new();
    g_input(g, "x");
    g_initializer(g, "w");
    g_node(g, "clobber", "Relu", "x", "w");
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "node 'clobber'");
    FY_CHECK_CONTAINS(d.msg, "'w'");
    fy__graph_free(g);

    g = g_new();
    g_input(g, "x");
    g_node(g, "echo", "Identity", "x", "x");
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "output 'x'");
    fy__graph_free(g);
}

TEST(unproduced_graph_output_is_named)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_output(g, "y");
    g_output(g, "forgotten");
    g_node(g, "n", "Relu", "x", "y");
    fy_diag d;
    FY_CHECK_EQ(fy__graph_sort(g, &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "graph output 'forgotten' is not produced by any node");
    fy__graph_free(g);
}

static fy__graph *diamond(void)
{
    fy__graph *g = g_new();
    g_input(g, "x");
    g_initializer(g, "w");
    g_output(g, "y");
    g_node(g, "D", "Add", "b c", "y");
    g_node(g, "C", "Mul", "a w", "c");
    g_node(g, "B", "Relu", "a", "b");
    g_node(g, "A", "Neg", "x", "a");
    return g;
}

TEST(sort_allocation_failures_return_enomem_and_keep_the_graph)
{
    int saw_ok = 0;
    for (long fail = 1; fail < 50 && !saw_ok; fail++) {
        fy__graph *g = diamond();
        fy_diag d;
        fy__alloc_fail_at(fail);
        int rc = fy__graph_sort(g, &d);
        fy__alloc_fail_at(0);
        if (rc == FY_OK) {
            saw_ok = 1;
            FY_CHECK(is_topological(g));
        } else {
            FY_CHECK_EQ(rc, FY_ENOMEM);
            /* untouched: still in model order, and a retry succeeds */
            FY_CHECK_STR(g->nodes[0].name, "D");
            FY_CHECK_EQ(fy__graph_sort(g, &d), FY_OK);
            FY_CHECK(is_topological(g));
        }
        fy__graph_free(g);
    }
    FY_CHECK(saw_ok);
}

int main(void)
{
    RUN(intern_and_find_many_values);
    RUN(names_that_collide_in_the_hash_stay_distinct);
    RUN(intern_allocation_failures_leave_the_graph_usable);
    RUN(sort_orders_a_reversed_chain_and_a_diamond);
    RUN(sort_keeps_independent_nodes_in_model_order);
    RUN(sort_handles_omitted_outputs_and_empty_graphs);
    RUN(long_chain_sorts_in_linear_time);
    RUN(cycle_is_refused_naming_a_node_in_it);
    RUN(missing_input_is_named);
    RUN(implicit_inputs_order_nodes);
    RUN(double_producers_are_refused);
    RUN(unproduced_graph_output_is_named);
    RUN(sort_allocation_failures_return_enomem_and_keep_the_graph);
    return TEST_SUMMARY();
}
