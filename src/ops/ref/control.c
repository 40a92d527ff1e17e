/* SPDX-License-Identifier: MIT */
/* Reference control-flow kernels: If, Loop and Scan. Each runs its graph
 * attributes through the engine (fy__engine_run_subgraph) and moves tensors
 * between iterations; they are byte-copying, so every tensor dtype works. */
#include <stdio.h>
#include <string.h>

#include "../../core/core.h"
#include "../../engine/engine.h"
#include "../ops.h"

/* Ceiling on the iterations of one Loop node. A model may ask for an unbounded
 * loop (M omitted or INT64_MAX, ended by the body's condition); a body that never
 * says stop must end in FY_ELIMIT, not hang the process. */
#ifndef FY_LOOP_MAX_ITERS
#define FY_LOOP_MAX_ITERS ((int64_t)1 << 20)
#endif

/* ---- shared helpers ---- */

static int need_engine(fy__op_ctx *c)
{
    if (!c->engine)
        return fy__op_fail(c, FY_EUNSUPPORTED, "subgraphs can only run inside the engine");
    return FY_OK;
}

/* The graph attribute `name`, or NULL with an error in c->diag. */
static const fy__graph *graph_attr(fy__op_ctx *c, const char *name, int *rc)
{
    const fy__attr *a = fy__attr_find(c->node, name);
    if (!a || a->type != FY_ATTR_GRAPH || !a->g) {
        *rc = fy__op_fail(c, FY_EINVAL, "graph attribute '%s' is missing", name);
        return NULL;
    }
    *rc = FY_OK;
    return a->g;
}

/* Run one subgraph; on failure the inner message is kept, prefixed with this
 * node and the attribute name, so the user can follow the nesting. */
static int run_sub(fy__op_ctx *c, const fy__graph *g, const char *what, int n_in,
                   const fy_tensor *const *in, int n_out, fy_tensor *out)
{
    fy_diag inner = {{0}};
    int rc = fy__engine_run_subgraph(c->engine, g, n_in, in, n_out, out, &inner);
    if (rc != FY_OK)
        return fy__op_fail(c, rc, "%s: %s", what, inner.msg[0] ? inner.msg : fy_strerror(rc));
    return FY_OK;
}

/* A boolean condition: bool dtype, exactly one element. */
static int read_cond(fy__op_ctx *c, const fy_tensor *t, const char *what, int *out)
{
    char buf[128];
    if (t->dtype != FY_DTYPE_BOOL || fy_tensor_numel(t) != 1)
        return fy__op_fail(c, FY_EINVAL, "%s must be a bool tensor with one element, got %s", what,
                           fy_tensor_describe(t, buf, sizeof buf));
    *out = ((const unsigned char *)t->data)[0] != 0;
    return FY_OK;
}

static int same_shape(const fy_tensor *a, const fy_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

/* Element size of a tensor the kernel copies by bytes; strings have none. */
static int elem_bytes(fy__op_ctx *c, const fy_tensor *t, const char *what, size_t *out)
{
    *out = fy_dtype_size(t->dtype);
    if (*out == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "%s has unsupported dtype %s", what,
                           fy_dtype_name(t->dtype));
    return FY_OK;
}

/* Output for a scan that ran zero times: the per-iteration shape is only known
 * from the body's declared output type; unknown dimensions are 0 as well, the
 * element count is 0 either way. `axis` is where the iteration axis goes. */
static int empty_scan_output(fy__op_ctx *c, const fy__graph *body, int body_out, int64_t axis,
                             fy_tensor *out)
{
    const fy__value_info *vi = &body->values[body->outputs[body_out]].info;
    int64_t dims[FY_MAX_RANK] = {0};
    if (vi->dtype == FY_DTYPE_UNDEFINED)
        return fy__op_fail(c, FY_EUNSUPPORTED,
                           "zero iterations, and body output %d declares no element type",
                           body_out);
    if (vi->rank < 0)
        return fy_tensor_alloc(out, vi->dtype, 1, dims, c->diag);
    int rank = vi->rank + 1;
    if (rank > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "body output %d: stacked rank %d is above %d", body_out,
                           rank, FY_MAX_RANK);
    int a = fy__axis(c, axis, rank, 0);
    if (a < 0)
        return a;
    for (int i = 0, k = 0; i < rank; i++) {
        if (i == a)
            continue; /* the iteration axis stays 0 */
        dims[i] = vi->dims[k] >= 0 ? vi->dims[k] : 0;
        k++;
    }
    return fy_tensor_alloc(out, vi->dtype, rank, dims, c->diag);
}

/* ---- If ---- */

static int op_if(fy__op_ctx *c)
{
    int rc, cond;
    if ((rc = need_engine(c)) != FY_OK || (rc = fy__op_need(c, 0)) != FY_OK)
        return rc;
    const fy__graph *then_g = graph_attr(c, "then_branch", &rc);
    if (!then_g)
        return rc;
    const fy__graph *else_g = graph_attr(c, "else_branch", &rc);
    if (!else_g)
        return rc;
    if ((rc = read_cond(c, c->in[0], "input 0 (cond)", &cond)) != FY_OK)
        return rc;
    const char *which = cond ? "then_branch" : "else_branch";
    const fy__graph *g = cond ? then_g : else_g;
    if (g->n_inputs != 0)
        return fy__op_fail(c, FY_EINVAL, "%s declares %d inputs; If branches take none", which,
                           g->n_inputs);
    /* Both branches must agree with the node, whichever one runs. */
    if (then_g->n_outputs != c->n_out || else_g->n_outputs != c->n_out)
        return fy__op_fail(c, FY_EINVAL,
                           "then_branch has %d outputs and else_branch %d; the node has %d",
                           then_g->n_outputs, else_g->n_outputs, c->n_out);
    /* Branch outputs may differ in shape between branches: they go straight out. */
    return run_sub(c, g, which, 0, NULL, c->n_out, c->out);
}

/* ---- Loop ---- */

/* One scan output of Loop, grown an iteration at a time: the count is not known
 * in advance when the body's condition ends the loop. */
typedef struct scan_acc {
    fy_tensor item; /* shape and dtype of the first iteration's value (no data) */
    size_t item_bytes;
    unsigned char *buf;
    size_t cap;
    int64_t count;
} scan_acc;

static int acc_append(fy__op_ctx *c, scan_acc *a, int k, const fy_tensor *t)
{
    char want[128], got[128];
    if (a->count == 0) {
        if (t->rank + 1 > FY_MAX_RANK)
            return fy__op_fail(c, FY_ELIMIT, "scan output %d: stacked rank %d is above %d", k,
                               t->rank + 1, FY_MAX_RANK);
        a->item = *t;
        a->item.data = NULL;
        a->item.owns = 0;
        a->item_bytes = fy_tensor_nbytes(t);
    } else if (!same_shape(&a->item, t)) {
        return fy__op_fail(c, FY_EINVAL,
                           "scan output %d is %s in iteration %lld but %s in iteration 0", k,
                           fy_tensor_describe(t, got, sizeof got), (long long)a->count,
                           fy_tensor_describe(&a->item, want, sizeof want));
    }
    size_t used = (size_t)a->count * a->item_bytes;
    if (a->item_bytes > FY_TENSOR_MAX_BYTES - used)
        return fy__op_fail(c, FY_ELIMIT, "scan output %d grows past %zu bytes", k,
                           (size_t)FY_TENSOR_MAX_BYTES);
    if (a->item_bytes && used + a->item_bytes > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : a->item_bytes * 4;
        if (cap > FY_TENSOR_MAX_BYTES)
            cap = FY_TENSOR_MAX_BYTES;
        if (cap < used + a->item_bytes)
            cap = used + a->item_bytes;
        unsigned char *p = fy__realloc(a->buf, cap);
        if (!p)
            return fy__op_fail(c, FY_ENOMEM, "out of memory for scan output %d", k);
        a->buf = p;
        a->cap = cap;
    }
    if (a->item_bytes)
        memcpy(a->buf + used, t->data, a->item_bytes);
    a->count++;
    return FY_OK;
}

static int acc_finish(fy__op_ctx *c, const fy__graph *body, int body_out, scan_acc *a,
                      fy_tensor *out)
{
    if (a->count == 0)
        return empty_scan_output(c, body, body_out, 0, out);
    int64_t dims[FY_MAX_RANK];
    dims[0] = a->count;
    for (int i = 0; i < a->item.rank; i++)
        dims[i + 1] = a->item.dims[i];
    int rc = fy_tensor_alloc(out, a->item.dtype, a->item.rank + 1, dims, c->diag);
    if (rc == FY_OK && a->item_bytes)
        memcpy(out->data, a->buf, (size_t)a->count * a->item_bytes);
    return rc;
}

/* iteration_num and cond for the body: scalars, or [1] where the body declares rank 1
 * (some exporters do), since the engine checks inputs against declarations. */
static int body_scalar(fy__op_ctx *c, const fy__graph *body, int i, fy_dtype dt, fy_tensor *t)
{
    static const int64_t one[1] = {1};
    int rank = body->values[body->inputs[i]].info.rank == 1 ? 1 : 0;
    return fy_tensor_alloc(t, dt, rank, one, c->diag);
}

static int op_loop(fy__op_ctx *c)
{
    int rc;
    const fy__graph *body;
    fy_tensor iter_t = {0}, cond_t = {0};
    fy_tensor *carry = NULL, *bo = NULL;
    const fy_tensor **ins = NULL;
    scan_acc *acc = NULL;
    if ((rc = need_engine(c)) != FY_OK || !(body = graph_attr(c, "body", &rc)))
        return rc;
    if (c->n_in < 2)
        return fy__op_fail(c, FY_EINVAL, "%d inputs; Loop takes M, cond and loop-carried values",
                           c->n_in);
    int n = c->n_in - 2;
    int k_scan = body->n_outputs - 1 - n;
    if (body->n_inputs != n + 2)
        return fy__op_fail(c, FY_EINVAL,
                           "body declares %d inputs; expected 2 + %d loop-carried values",
                           body->n_inputs, n);
    if (k_scan < 0 || c->n_out > n + k_scan)
        return fy__op_fail(c, FY_EINVAL,
                           "body has %d outputs and the node %d; with %d loop-carried values the "
                           "body needs 1 + %d + (scan outputs)",
                           body->n_outputs, c->n_out, n, n);
    for (int i = 0; i < n; i++)
        if (!c->in[2 + i])
            return fy__op_fail(c, FY_EUNSUPPORTED,
                               "loop-carried input %d is omitted (optional values are not "
                               "supported)",
                               2 + i);

    /* M and cond are both optional: absent means no bound / always true. */
    int64_t trip = INT64_MAX;
    int keep = 1;
    if (c->in[0]) {
        char buf[128];
        if (!fy__dtype_is_int(c->in[0]->dtype) || fy_tensor_numel(c->in[0]) != 1)
            return fy__op_fail(c, FY_EINVAL, "input 0 (M) must be an int64 scalar, got %s",
                               fy_tensor_describe(c->in[0], buf, sizeof buf));
        trip = fy__get_i64(c->in[0], 0);
    }
    if (c->in[1] && (rc = read_cond(c, c->in[1], "input 1 (cond)", &keep)) != FY_OK)
        return rc;

    rc = FY_ENOMEM;
    carry = fy__calloc((size_t)n + 1, sizeof *carry);
    bo = fy__calloc((size_t)body->n_outputs + 1, sizeof *bo);
    ins = fy__calloc((size_t)n + 2, sizeof *ins);
    acc = fy__calloc((size_t)k_scan + 1, sizeof *acc);
    if (!carry || !bo || !ins || !acc) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = body_scalar(c, body, 0, FY_DTYPE_I64, &iter_t)) != FY_OK ||
        (rc = body_scalar(c, body, 1, FY_DTYPE_BOOL, &cond_t)) != FY_OK)
        goto done;
    ins[0] = &iter_t;
    ins[1] = &cond_t;
    for (int i = 0; i < n; i++)
        ins[2 + i] = c->in[2 + i];

    for (int64_t it = 0; keep && it < trip; it++) {
        if (it >= FY_LOOP_MAX_ITERS) {
            rc = fy__op_fail(c, FY_ELIMIT, "more than %lld iterations (FY_LOOP_MAX_ITERS)",
                             (long long)FY_LOOP_MAX_ITERS);
            goto done;
        }
        ((int64_t *)iter_t.data)[0] = it;
        ((unsigned char *)cond_t.data)[0] = 1;
        if ((rc = run_sub(c, body, "body", n + 2, ins, body->n_outputs, bo)) != FY_OK)
            goto done;
        /* The body's cond output decides, even when the cond input was omitted:
         * ONNX's reference evaluator and onnxruntime both read it. */
        if ((rc = read_cond(c, &bo[0], "body output 0 (cond)", &keep)) != FY_OK)
            goto done;
        for (int i = 0; i < n; i++) {
            if (bo[1 + i].dtype != c->in[2 + i]->dtype) {
                rc = fy__op_fail(
                    c, FY_EINVAL, "loop-carried value %d changes dtype from %s to %s in the body",
                    i, fy_dtype_name(c->in[2 + i]->dtype), fy_dtype_name(bo[1 + i].dtype));
                goto done;
            }
            fy_tensor_deinit(&carry[i]);
            carry[i] = bo[1 + i];
            memset(&bo[1 + i], 0, sizeof bo[1 + i]);
            ins[2 + i] = &carry[i];
        }
        for (int k = 0; k < k_scan; k++) {
            int o = n + k; /* node output index */
            if (o < c->n_out && c->node->outputs[o] >= 0 &&
                (rc = acc_append(c, &acc[k], k, &bo[1 + o])) != FY_OK)
                goto done;
        }
        for (int i = 0; i < body->n_outputs; i++)
            fy_tensor_deinit(&bo[i]);
    }

    for (int i = 0; i < n && i < c->n_out; i++) {
        if (carry[i].data) {
            c->out[i] = carry[i];
            memset(&carry[i], 0, sizeof carry[i]);
        } else if ((rc = fy_tensor_copy(&c->out[i], c->in[2 + i], c->diag)) != FY_OK) {
            goto done;
        }
    }
    for (int k = 0; k < k_scan && n + k < c->n_out; k++)
        if (c->node->outputs[n + k] >= 0 &&
            (rc = acc_finish(c, body, 1 + n + k, &acc[k], &c->out[n + k])) != FY_OK)
            goto done;
    rc = FY_OK;
done:
    fy_tensor_deinit(&iter_t);
    fy_tensor_deinit(&cond_t);
    for (int i = 0; carry && i < n; i++)
        fy_tensor_deinit(&carry[i]);
    for (int i = 0; bo && i < body->n_outputs; i++)
        fy_tensor_deinit(&bo[i]);
    for (int k = 0; acc && k < k_scan; k++)
        fy__free(acc[k].buf);
    fy__free(carry);
    fy__free(bo);
    fy__free(ins);
    fy__free(acc);
    return rc;
}

/* ---- Scan ---- */

/* One scan run over n states and m scan inputs: the opset-9 form, and one batch
 * entry of the opset-8 form. in_axes are resolved; in_dirs/out_axes/out_dirs
 * may be NULL (defaults: axis 0, forward). out has n + k zeroed slots; only the
 * first n_want are produced. */
typedef struct scan_args {
    const fy__graph *body;
    int n, m, k;
    const fy_tensor *const *states;
    const fy_tensor *const *scans;
    const int *in_axes;
    const int64_t *in_dirs, *out_axes, *out_dirs;
} scan_args;

static int scan_run(fy__op_ctx *c, const scan_args *s, int n_want, fy_tensor *out)
{
    int rc = FY_ENOMEM;
    int n_body_out = s->n + s->k;
    int64_t len = -1;
    fy_tensor *slices = NULL, *state = NULL, *bo = NULL;
    const fy_tensor **ins = NULL;
    char buf[128], buf2[128];

    for (int j = 0; j < s->m; j++) {
        int64_t l = s->scans[j]->dims[s->in_axes[j]];
        if (len >= 0 && l != len)
            return fy__op_fail(c, FY_EINVAL,
                               "scan input %d has %lld iterations along axis %d, input 0 has %lld",
                               j, (long long)l, s->in_axes[j], (long long)len);
        len = l;
    }
    slices = fy__calloc((size_t)s->m + 1, sizeof *slices);
    state = fy__calloc((size_t)s->n + 1, sizeof *state);
    bo = fy__calloc((size_t)n_body_out + 1, sizeof *bo);
    ins = fy__calloc((size_t)s->n + s->m + 1, sizeof *ins);
    if (!slices || !state || !bo || !ins) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < s->m; j++) {
        const fy_tensor *x = s->scans[j];
        int64_t dims[FY_MAX_RANK];
        for (int d = 0, e = 0; d < x->rank; d++)
            if (d != s->in_axes[j])
                dims[e++] = x->dims[d];
        if ((rc = fy_tensor_alloc(&slices[j], x->dtype, x->rank - 1, dims, c->diag)) != FY_OK)
            goto done;
        ins[s->n + j] = &slices[j];
    }
    for (int i = 0; i < s->n; i++)
        ins[i] = s->states[i];

    for (int64_t t = 0; t < len; t++) {
        for (int j = 0; j < s->m; j++) {
            const fy_tensor *x = s->scans[j];
            int a = s->in_axes[j];
            size_t es = fy_dtype_size(x->dtype);
            int64_t outer = fy__dims_prod(x->dims, 0, a);
            size_t inner = (size_t)fy__dims_prod(x->dims, a + 1, x->rank) * es;
            int64_t idx = s->in_dirs && s->in_dirs[j] ? len - 1 - t : t;
            for (int64_t o = 0; o < outer && inner; o++)
                memcpy((unsigned char *)slices[j].data + (size_t)o * inner,
                       (const unsigned char *)x->data + ((size_t)(o * len + idx)) * inner, inner);
        }
        if ((rc = run_sub(c, s->body, "body", s->n + s->m, ins, n_body_out, bo)) != FY_OK)
            goto done;
        for (int i = 0; i < s->n; i++) {
            if (bo[i].dtype != s->states[i]->dtype) {
                rc = fy__op_fail(c, FY_EINVAL, "state %d changes dtype from %s to %s in the body",
                                 i, fy_dtype_name(s->states[i]->dtype), fy_dtype_name(bo[i].dtype));
                goto done;
            }
            fy_tensor_deinit(&state[i]);
            state[i] = bo[i];
            memset(&bo[i], 0, sizeof bo[i]);
            ins[i] = &state[i];
        }
        for (int q = 0; q < s->k && s->n + q < n_want; q++) {
            const fy_tensor *y = &bo[s->n + q];
            fy_tensor *dst = &out[s->n + q];
            int64_t axis = s->out_axes ? s->out_axes[q] : 0;
            int a = fy__axis(c, axis, y->rank + 1, 0);
            if (a < 0) {
                rc = a;
                goto done;
            }
            if (t == 0) {
                int64_t dims[FY_MAX_RANK];
                if (y->rank + 1 > FY_MAX_RANK) {
                    rc = fy__op_fail(c, FY_ELIMIT, "scan output %d: stacked rank %d is above %d", q,
                                     y->rank + 1, FY_MAX_RANK);
                    goto done;
                }
                for (int d = 0, e = 0; d <= y->rank; d++)
                    dims[d] = d == a ? len : y->dims[e++];
                if ((rc = fy_tensor_alloc(dst, y->dtype, y->rank + 1, dims, c->diag)) != FY_OK)
                    goto done;
            } else {
                /* Later iterations must match the first: compare against dst without
                 * its iteration axis. */
                int ok = y->dtype == dst->dtype && y->rank + 1 == dst->rank;
                for (int d = 0, e = 0; ok && d < dst->rank; d++)
                    if (d != a)
                        ok = y->dims[e++] == dst->dims[d];
                if (!ok) {
                    rc = fy__op_fail(c, FY_EINVAL,
                                     "scan output %d is %s in iteration %lld, stacked so far "
                                     "as %s",
                                     q, fy_tensor_describe(y, buf, sizeof buf), (long long)t,
                                     fy_tensor_describe(dst, buf2, sizeof buf2));
                    goto done;
                }
            }
            size_t es = fy_dtype_size(y->dtype);
            int64_t outer = fy__dims_prod(y->dims, 0, a);
            size_t inner = (size_t)fy__dims_prod(y->dims, a, y->rank) * es;
            int64_t pos = s->out_dirs && s->out_dirs[q] ? len - 1 - t : t;
            for (int64_t o = 0; o < outer && inner; o++)
                memcpy((unsigned char *)dst->data + ((size_t)(o * len + pos)) * inner,
                       (const unsigned char *)y->data + (size_t)o * inner, inner);
        }
        for (int i = 0; i < n_body_out; i++)
            fy_tensor_deinit(&bo[i]);
    }

    for (int i = 0; i < s->n && i < n_want; i++) {
        if (state[i].data) {
            out[i] = state[i];
            memset(&state[i], 0, sizeof state[i]);
        } else if ((rc = fy_tensor_copy(&out[i], s->states[i], c->diag)) != FY_OK) {
            goto done;
        }
    }
    for (int q = 0; len == 0 && q < s->k && s->n + q < n_want; q++)
        if ((rc = empty_scan_output(c, s->body, s->n + q, s->out_axes ? s->out_axes[q] : 0,
                                    &out[s->n + q])) != FY_OK)
            goto done;
    rc = FY_OK;
done:
    for (int j = 0; slices && j < s->m; j++)
        fy_tensor_deinit(&slices[j]);
    for (int i = 0; state && i < s->n; i++)
        fy_tensor_deinit(&state[i]);
    for (int i = 0; bo && i < n_body_out; i++)
        fy_tensor_deinit(&bo[i]);
    fy__free(slices);
    fy__free(state);
    fy__free(bo);
    fy__free(ins);
    return rc;
}

/* An optional ints attribute of exactly `count` entries; *out = NULL if absent. */
static int ints_attr(fy__op_ctx *c, const char *name, int count, int dirs, const int64_t **out)
{
    int64_t got = fy__attr_ints(c->node, name, out);
    if (got < 0) {
        *out = NULL;
        return FY_OK;
    }
    if (got != count)
        return fy__op_fail(c, FY_EINVAL, "attribute '%s' has %lld entries, expected %d", name,
                           (long long)got, count);
    for (int i = 0; dirs && i < count; i++)
        if ((*out)[i] != 0 && (*out)[i] != 1)
            return fy__op_fail(c, FY_EINVAL, "attribute '%s'[%d] is %lld; must be 0 or 1", name, i,
                               (long long)(*out)[i]);
    return FY_OK;
}

/* Shared checks of both forms: num_scan_inputs, body arity, element sizes. */
static int scan_setup(fy__op_ctx *c, int first, scan_args *s)
{
    int rc;
    if ((rc = need_engine(c)) != FY_OK || !(s->body = graph_attr(c, "body", &rc)))
        return rc;
    int64_t m = fy__attr_int(c->node, "num_scan_inputs", -1);
    if (m < 1 || m > c->n_in - first)
        return fy__op_fail(c, FY_EINVAL, "attribute num_scan_inputs is %lld; must be in [1, %d]",
                           (long long)m, c->n_in - first);
    s->m = (int)m;
    s->n = c->n_in - first - s->m;
    s->k = s->body->n_outputs - s->n;
    if (s->body->n_inputs != s->n + s->m)
        return fy__op_fail(c, FY_EINVAL,
                           "body declares %d inputs; expected %d states + %d scan "
                           "inputs",
                           s->body->n_inputs, s->n, s->m);
    if (s->k < 0 || c->n_out > s->n + s->k)
        return fy__op_fail(c, FY_EINVAL, "body has %d outputs and the node %d; %d states",
                           s->body->n_outputs, c->n_out, s->n);
    for (int i = first; i < c->n_in; i++) {
        size_t es;
        if (!c->in[i])
            return fy__op_fail(c, FY_EINVAL, "input %d is missing", i);
        if ((rc = elem_bytes(c, c->in[i], i - first < s->n ? "state" : "scan input", &es)) != FY_OK)
            return rc;
    }
    return FY_OK;
}

/* Opset 8: inputs carry a batch axis 0 (scan axis 1) and sequence_lens comes
 * first. Each batch entry runs as an opset-9 scan over views of its slice. */
static int scan8(fy__op_ctx *c, scan_args *s, int *in_axes)
{
    int rc = FY_ENOMEM;
    int total = s->n + s->m;
    fy_tensor *views = NULL, *tmp = NULL;
    const fy_tensor **ptrs = NULL;
    char buf[128];
    if ((rc = ints_attr(c, "directions", s->m, 1, &s->in_dirs)) != FY_OK)
        return rc;
    int64_t batch = c->in[1]->rank > 0 ? c->in[1]->dims[0] : -1;
    for (int i = 1; i <= total; i++) {
        const fy_tensor *x = c->in[i];
        int need = i > s->n ? 2 : 1;
        if (x->rank < need || x->dims[0] != batch)
            return fy__op_fail(c, FY_EINVAL,
                               "input %d is %s; opset-8 Scan needs batch axis 0 of size %lld%s", i,
                               fy_tensor_describe(x, buf, sizeof buf), (long long)batch,
                               need == 2 ? " and a scan axis 1" : "");
    }
    if (c->in[0]) {
        /* Shorter sequences would need padding rules the spec leaves open. */
        const fy_tensor *sl = c->in[0];
        if (!fy__dtype_is_int(sl->dtype) || fy_tensor_numel(sl) != batch)
            return fy__op_fail(c, FY_EINVAL, "input 0 (sequence_lens) must be int [%lld], got %s",
                               (long long)batch, fy_tensor_describe(sl, buf, sizeof buf));
        int64_t full = c->in[1 + s->n]->dims[1];
        for (int64_t b = 0; b < batch; b++)
            if (fy__get_i64(sl, b) != full)
                return fy__op_fail(c, FY_EUNSUPPORTED,
                                   "sequence_lens[%lld] is %lld; only full-length sequences "
                                   "(%lld) are supported",
                                   (long long)b, (long long)fy__get_i64(sl, b), (long long)full);
    }
    views = fy__calloc((size_t)total + 1, sizeof *views);
    ptrs = fy__calloc((size_t)total + 1, sizeof *ptrs);
    tmp = fy__calloc((size_t)s->n + s->k + 1, sizeof *tmp);
    if (!views || !ptrs || !tmp) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < total; i++) {
        const fy_tensor *x = c->in[1 + i];
        views[i].dtype = x->dtype;
        views[i].rank = x->rank - 1;
        memcpy(views[i].dims, x->dims + 1, (size_t)(x->rank - 1) * sizeof x->dims[0]);
        ptrs[i] = &views[i];
    }
    for (int j = 0; j < s->m; j++)
        in_axes[j] = 0;
    s->states = ptrs;
    s->scans = ptrs + s->n;
    s->in_axes = in_axes;
    for (int64_t b = 0; b < batch; b++) {
        for (int i = 0; i < total; i++) {
            const fy_tensor *x = c->in[1 + i];
            size_t bytes = fy_tensor_nbytes(&views[i]);
            views[i].data = (unsigned char *)x->data + (size_t)b * bytes;
        }
        if ((rc = scan_run(c, s, s->n + s->k, tmp)) != FY_OK)
            goto done;
        for (int o = 0; o < s->n + s->k && o < c->n_out; o++) {
            fy_tensor *dst = &c->out[o];
            if (b == 0) {
                int64_t dims[FY_MAX_RANK];
                if (tmp[o].rank + 1 > FY_MAX_RANK) {
                    rc = fy__op_fail(c, FY_ELIMIT, "output %d: batched rank %d is above %d", o,
                                     tmp[o].rank + 1, FY_MAX_RANK);
                    goto done;
                }
                dims[0] = batch;
                memcpy(dims + 1, tmp[o].dims, (size_t)tmp[o].rank * sizeof dims[0]);
                if ((rc = fy_tensor_alloc(dst, tmp[o].dtype, tmp[o].rank + 1, dims, c->diag)) !=
                    FY_OK)
                    goto done;
            } else {
                int ok = tmp[o].dtype == dst->dtype && tmp[o].rank + 1 == dst->rank;
                for (int d = 0; ok && d < tmp[o].rank; d++)
                    ok = tmp[o].dims[d] == dst->dims[d + 1];
                if (!ok) {
                    rc = fy__op_fail(c, FY_EINVAL,
                                     "output %d of batch entry %lld is %s, unlike "
                                     "batch entry 0",
                                     o, (long long)b, fy_tensor_describe(&tmp[o], buf, sizeof buf));
                    goto done;
                }
            }
            size_t bytes = fy_tensor_nbytes(&tmp[o]);
            if (bytes)
                memcpy((unsigned char *)dst->data + (size_t)b * bytes, tmp[o].data, bytes);
        }
        for (int o = 0; o < s->n + s->k; o++)
            fy_tensor_deinit(&tmp[o]);
    }
    if (batch == 0)
        rc = fy__op_fail(c, FY_EUNSUPPORTED, "opset-8 Scan with an empty batch");
    else
        rc = FY_OK;
done:
    for (int o = 0; tmp && o < s->n + s->k; o++)
        fy_tensor_deinit(&tmp[o]);
    fy__free(views);
    fy__free(ptrs);
    fy__free(tmp);
    return rc;
}

static int op_scan(fy__op_ctx *c)
{
    scan_args s;
    int in_axes[FY_NODE_MAX_IO];
    const int64_t *axes;
    int rc;
    memset(&s, 0, sizeof s);
    if (c->opset < 9) {
        if (c->n_in < 2)
            return fy__op_fail(c, FY_EINVAL,
                               "%d inputs; opset-8 Scan takes sequence_lens, "
                               "states and scan inputs",
                               c->n_in);
        if ((rc = scan_setup(c, 1, &s)) != FY_OK)
            return rc;
        return scan8(c, &s, in_axes);
    }
    if ((rc = scan_setup(c, 0, &s)) != FY_OK)
        return rc;
    if ((rc = ints_attr(c, "scan_input_axes", s.m, 0, &axes)) != FY_OK ||
        (rc = ints_attr(c, "scan_input_directions", s.m, 1, &s.in_dirs)) != FY_OK ||
        (rc = ints_attr(c, "scan_output_axes", s.k, 0, &s.out_axes)) != FY_OK ||
        (rc = ints_attr(c, "scan_output_directions", s.k, 1, &s.out_dirs)) != FY_OK)
        return rc;
    for (int j = 0; j < s.m; j++) {
        const fy_tensor *x = c->in[s.n + j];
        if (x->rank < 1)
            return fy__op_fail(c, FY_EINVAL, "scan input %d is a scalar; it needs an axis to scan",
                               j);
        int a = fy__axis(c, axes ? axes[j] : 0, x->rank, 0);
        if (a < 0)
            return a;
        in_axes[j] = a;
    }
    s.states = c->in;
    s.scans = c->in + s.n;
    s.in_axes = in_axes;
    return scan_run(c, &s, c->n_out, c->out);
}

const fy__op_def fy__ops_control[] = {
    {"If", "", op_if},
    {"Loop", "", op_loop},
    {"Scan", "", op_scan},
    {NULL, NULL, NULL},
};
