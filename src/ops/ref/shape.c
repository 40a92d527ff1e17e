/* SPDX-License-Identifier: MIT */
/* Reference kernels that move elements without computing on them: reshaping,
 * slicing, gathering, scattering and friends. They copy bytes by element size, so
 * one path serves every dtype; index inputs are validated before any access. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/core.h"
#include "../ops.h"

/* ---- shared helpers ---- */

static size_t esize(const fy_tensor *t) { return fy_dtype_size(t->dtype); }

/* Copy n consecutive elements. */
static void copy_run(fy_tensor *dst, int64_t di, const fy_tensor *src, int64_t si, int64_t n)
{
    size_t es = esize(src);
    if (n > 0)
        memcpy((char *)dst->data + (size_t)di * es, (const char *)src->data + (size_t)si * es,
               (size_t)n * es);
}

/* "[2,3,4]" for messages. */
static const char *shape_str(char *buf, size_t n, int rank, const int64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i <= rank && used < n; i++) {
        int w;
        if (i == rank)
            w = snprintf(buf + used, n - used, "]");
        else
            w = snprintf(buf + used, n - used, "%s%lld", i ? "," : "[", (long long)dims[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (rank == 0 && n > 2)
        snprintf(buf, n, "[]");
    return buf;
}

/* Input i must be present and of a dtype with a byte size (not string/undefined). */
static int need_data(fy__op_ctx *c, int i)
{
    int rc = fy__op_need(c, i);
    if (rc != FY_OK)
        return rc;
    if (esize(c->in[i]) == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input %d has element type %s, not supported", i,
                           fy_dtype_name(c->in[i]->dtype));
    return FY_OK;
}

/* Input i must be present and an int32/int64 index tensor. */
static int need_index(fy__op_ctx *c, int i, const char *what)
{
    int rc = fy__op_need(c, i);
    if (rc != FY_OK)
        return rc;
    fy_dtype dt = c->in[i]->dtype;
    if (dt != FY_DTYPE_I32 && dt != FY_DTYPE_I64)
        return fy__op_fail(c, FY_EINVAL, "input %d (%s) must be int32 or int64, got %s", i, what,
                           fy_dtype_name(dt));
    return FY_OK;
}

/* Allocate output i, refusing ranks above FY_MAX_RANK before anything reads dims,
 * and re-wording allocation failures so they name this node. */
static int out_alloc_z(fy__op_ctx *c, int i, fy_dtype dt, int rank, const int64_t *dims, int zero)
{
    if (i >= c->n_out)
        return fy__op_fail(c, FY_EINVAL, "output %d is missing", i);
    if (rank > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "output %d would have rank %d, above the limit of %d", i,
                           rank, FY_MAX_RANK);
    fy_diag d;
    d.msg[0] = '\0';
    int rc = zero ? fy_tensor_alloc(&c->out[i], dt, rank, dims, &d)
                  : fy__tensor_alloc_uninit(&c->out[i], dt, rank, dims, &d);
    if (rc != FY_OK)
        return fy__op_fail(c, rc, "output %d: %s", i, d.msg);
    return FY_OK;
}

/* Negative indices count from the end, once; anything still outside [0, dim) is
 * an error (never a wild read). */
static int wrap_index(fy__op_ctx *c, int64_t v, int64_t dim, int axis, int64_t *out)
{
    int64_t w = v < 0 ? v + dim : v;
    *out = 0;
    if (w < 0 || w >= dim)
        return fy__op_fail(c, FY_EINVAL, "index %lld is out of range for axis %d of size %lld",
                           (long long)v, axis, (long long)dim);
    *out = w;
    return FY_OK;
}

static int out_alloc(fy__op_ctx *c, int i, fy_dtype dt, int rank, const int64_t *dims)
{
    return out_alloc_z(c, i, dt, rank, dims, 1);
}

/* An output copy_all fills completely: no zero fill first, except for strings
 * (their elements are pointers the copy takes over). */
static int out_alloc_copy(fy__op_ctx *c, int i, fy_dtype dt, int rank, const int64_t *dims)
{
    return out_alloc_z(c, i, dt, rank, dims, dt == FY_DTYPE_STRING);
}

/* A list of ints that is attribute `name` before opset `since` and input `idx`
 * from then on. *n is -1 when neither is given. Old opsets also accept the input,
 * which some exporters (and Split-1/2) use. */
static int attr_or_input(fy__op_ctx *c, const char *name, int since, int idx, int64_t *out, int max,
                         int *n)
{
    *n = -1;
    if (c->opset < since) {
        const int64_t *v;
        int64_t cnt = fy__attr_ints(c->node, name, &v);
        if (cnt >= 0) {
            if (cnt > max)
                return fy__op_fail(c, FY_ELIMIT,
                                   "attribute %s has %lld entries, at most %d allowed", name,
                                   (long long)cnt, max);
            for (int64_t i = 0; i < cnt; i++)
                out[i] = v[i];
            *n = (int)cnt;
            return FY_OK;
        }
    }
    if (idx < c->n_in && c->in[idx]) {
        char what[64];
        snprintf(what, sizeof what, "input %d (%s)", idx, name);
        int r = fy__read_ints(c, c->in[idx], out, max, what);
        if (r < 0)
            return r;
        *n = r;
    }
    return FY_OK;
}

/* Copy x into out (same dtype, same number of elements). */
static void copy_all(fy_tensor *out, const fy_tensor *x)
{
    copy_run(out, 0, x, 0, fy_tensor_numel(x));
}

/* Gather through strides: out (already allocated) element i comes from
 * in[base + sum(idx[d] * strides[d])] as the iterator walks out's shape. When the
 * innermost axis is contiguous in the input, whole rows are copied at once. */
static void strided_copy(fy_tensor *out, const fy_tensor *in, int64_t base, const int64_t *strides)
{
    int64_t n = fy_tensor_numel(out), run = 1;
    if (n == 0)
        return;
    int r = out->rank;
    if (r > 0 && strides[r - 1] == 1) {
        run = out->dims[r - 1];
        r--;
    }
    int64_t st[1][FY_MAX_RANK];
    for (int d = 0; d < r; d++)
        st[0][d] = strides[d];
    fy__iter it;
    fy__iter_init(&it, r, out->dims, 1, (const int64_t(*)[FY_MAX_RANK])st);
    for (int64_t i = 0; i < n / run; i++) {
        if (i)
            fy__iter_next(&it);
        copy_run(out, i * run, in, base + it.off[0], run);
    }
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze: same bytes, new shape ---- */

static int op_reshape(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t shape[FY_MAX_RANK], dims[FY_MAX_RANK];
    int n;
    if ((rc = attr_or_input(c, "shape", 5, 1, shape, FY_MAX_RANK, &n)) != FY_OK)
        return rc;
    if (n < 0)
        return fy__op_fail(c, FY_EINVAL,
                           c->opset < 5 ? "attribute shape is missing"
                                        : "required input 1 (shape) is missing");
    int allowzero = c->opset >= 14 ? (int)fy__attr_int(c->node, "allowzero", 0) : 0;
    int infer = -1;
    uint64_t known = 1;
    int overflow = 0;
    for (int i = 0; i < n; i++) {
        int64_t v = shape[i];
        if (v == -1) {
            if (infer >= 0)
                return fy__op_fail(c, FY_EINVAL, "shape has more than one -1 (at %d and %d)", infer,
                                   i);
            infer = i;
            dims[i] = 1;
            continue;
        }
        if (v < -1)
            return fy__op_fail(c, FY_EINVAL, "shape[%d] = %lld is negative", i, (long long)v);
        if (v == 0 && !allowzero) {
            if (i >= x->rank)
                return fy__op_fail(c, FY_EINVAL,
                                   "shape[%d] is 0 (copy the input dimension) but the input has "
                                   "rank %d",
                                   i, x->rank);
            v = x->dims[i];
        }
        dims[i] = v;
        overflow |= fy__mul_overflow_u64(known, (uint64_t)v, &known);
    }
    char sa[192], sb[192];
    uint64_t total = (uint64_t)fy_tensor_numel(x);
    if (infer >= 0) {
        if (overflow || known == 0 || total % known != 0)
            return fy__op_fail(c, FY_EINVAL,
                               "cannot reshape input of shape %s (%llu elements): dimension %d "
                               "(-1) cannot be inferred from shape %s",
                               shape_str(sa, sizeof sa, x->rank, x->dims),
                               (unsigned long long)total, infer,
                               shape_str(sb, sizeof sb, n, shape));
        dims[infer] = (int64_t)(total / known);
    } else if (overflow || known != total) {
        return fy__op_fail(c, FY_EINVAL,
                           "cannot reshape input of shape %s (%llu elements) to shape %s",
                           shape_str(sa, sizeof sa, x->rank, x->dims), (unsigned long long)total,
                           shape_str(sb, sizeof sb, n, dims));
    }
    if ((rc = out_alloc_copy(c, 0, x->dtype, n, dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    return FY_OK;
}

static int op_flatten(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t axis = fy__attr_int(c->node, "axis", 1);
    /* Flatten's axis may equal rank (all dims go to the outer part), so the valid
     * range is [-r, r], which fy__axis does not express. */
    if (axis < -x->rank || axis > x->rank)
        return fy__op_fail(c, FY_EINVAL, "attribute axis = %lld is out of range for rank %d",
                           (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    int64_t dims[2] = {fy__dims_prod(x->dims, 0, a), fy__dims_prod(x->dims, a, x->rank)};
    if ((rc = out_alloc_copy(c, 0, x->dtype, 2, dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    return FY_OK;
}

static int op_squeeze(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t axes[FY_MAX_RANK], dims[FY_MAX_RANK];
    int n, drop[FY_MAX_RANK] = {0};
    if ((rc = attr_or_input(c, "axes", 13, 1, axes, FY_MAX_RANK, &n)) != FY_OK)
        return rc;
    /* No axes (or an empty list, as onnxruntime reads it): drop every 1. */
    if (n <= 0) {
        for (int d = 0; d < x->rank; d++)
            drop[d] = x->dims[d] == 1;
    }
    for (int i = 0; i < n; i++) {
        int a = fy__axis(c, axes[i], x->rank, 0);
        if (a < 0)
            return a;
        if (drop[a])
            return fy__op_fail(c, FY_EINVAL, "axes lists axis %lld twice", (long long)axes[i]);
        if (x->dims[a] != 1)
            return fy__op_fail(c, FY_EINVAL, "cannot squeeze axis %d: its dimension is %lld, not 1",
                               a, (long long)x->dims[a]);
        drop[a] = 1;
    }
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d])
            dims[r++] = x->dims[d];
    if ((rc = out_alloc_copy(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    return FY_OK;
}

static int op_unsqueeze(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t axes[FY_MAX_RANK], dims[FY_MAX_RANK];
    int n, ins[FY_MAX_RANK] = {0};
    if ((rc = attr_or_input(c, "axes", 13, 1, axes, FY_MAX_RANK, &n)) != FY_OK)
        return rc;
    if (n < 0)
        return fy__op_fail(c, FY_EINVAL,
                           c->opset < 13 ? "attribute axes is missing"
                                         : "required input 1 (axes) is missing");
    int r = x->rank + n;
    if (r > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "output would have rank %d, above the limit of %d", r,
                           FY_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a = fy__axis(c, axes[i], r, 0);
        if (a < 0)
            return a;
        if (ins[a])
            return fy__op_fail(c, FY_EINVAL, "axes lists axis %lld twice", (long long)axes[i]);
        ins[a] = 1;
    }
    for (int d = 0, k = 0; d < r; d++)
        dims[d] = ins[d] ? 1 : x->dims[k++];
    if ((rc = out_alloc_copy(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    return FY_OK;
}

/* ---- Transpose, Concat, Split, Slice ---- */

static int op_transpose(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int r = x->rank;
    int64_t perm[FY_MAX_RANK], dims[FY_MAX_RANK], st[FY_MAX_RANK], in_st[FY_MAX_RANK];
    int used[FY_MAX_RANK] = {0};
    const int64_t *p;
    int64_t n = fy__attr_ints(c->node, "perm", &p);
    if (n < 0) {
        for (int i = 0; i < r; i++)
            perm[i] = r - 1 - i;
    } else {
        if (n != r)
            return fy__op_fail(c, FY_EINVAL, "attribute perm has %lld entries, input has rank %d",
                               (long long)n, r);
        for (int i = 0; i < r; i++) {
            if (p[i] < 0 || p[i] >= r || used[p[i]])
                return fy__op_fail(
                    c, FY_EINVAL, "attribute perm is not a permutation of 0..%d (entry %d is %lld)",
                    r - 1, i, (long long)p[i]);
            used[p[i]] = 1;
            perm[i] = p[i];
        }
    }
    fy__strides(r, x->dims, in_st);
    for (int i = 0; i < r; i++) {
        dims[i] = x->dims[perm[i]];
        st[i] = in_st[perm[i]];
    }
    if ((rc = out_alloc(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    strided_copy(&c->out[0], x, 0, st);
    return FY_OK;
}

static int op_concat(fy__op_ctx *c)
{
    if (c->n_in < 1)
        return fy__op_fail(c, FY_EINVAL, "needs at least one input");
    int rc;
    for (int k = 0; k < c->n_in; k++)
        if ((rc = need_data(c, k)) != FY_OK)
            return rc;
    const fy_tensor *x0 = c->in[0];
    /* Concat-1 defaulted axis to 1; from opset 4 it is required. */
    const fy__attr *aa = fy__attr_find(c->node, "axis");
    if (!aa && c->opset >= 4)
        return fy__op_fail(c, FY_EINVAL, "attribute axis is missing");
    int a = fy__axis(c, aa ? fy__attr_int(c->node, "axis", 1) : 1, x0->rank, 0);
    if (a < 0)
        return a;
    int64_t dims[FY_MAX_RANK];
    for (int d = 0; d < x0->rank; d++)
        dims[d] = x0->dims[d];
    dims[a] = 0;
    char sa[192], sb[192];
    for (int k = 0; k < c->n_in; k++) {
        const fy_tensor *x = c->in[k];
        if (x->dtype != x0->dtype)
            return fy__op_fail(c, FY_EINVAL, "input %d is %s but input 0 is %s", k,
                               fy_dtype_name(x->dtype), fy_dtype_name(x0->dtype));
        int bad = x->rank != x0->rank;
        for (int d = 0; d < x0->rank && !bad; d++)
            bad = d != a && x->dims[d] != x0->dims[d];
        if (bad)
            return fy__op_fail(c, FY_EINVAL,
                               "input %d has shape %s, incompatible with input 0 %s on axis %d", k,
                               shape_str(sa, sizeof sa, x->rank, x->dims),
                               shape_str(sb, sizeof sb, x0->rank, x0->dims), a);
        if (x->dims[a] > INT64_MAX - dims[a])
            return fy__op_fail(c, FY_ELIMIT, "concatenated axis %d is too large", a);
        dims[a] += x->dims[a];
    }
    if ((rc = out_alloc(c, 0, x0->dtype, x0->rank, dims)) != FY_OK)
        return rc;
    int64_t outer = fy__dims_prod(dims, 0, a), inner = fy__dims_prod(dims, a + 1, x0->rank);
    int64_t o_pos = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int k = 0; k < c->n_in; k++) {
            int64_t blk = c->in[k]->dims[a] * inner;
            copy_run(&c->out[0], o_pos, c->in[k], o * blk, blk);
            o_pos += blk;
        }
    }
    return FY_OK;
}

static int op_split(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int n_out = c->n_out;
    if (n_out < 1)
        return fy__op_fail(c, FY_EINVAL, "needs at least one output");
    int a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0);
    if (a < 0)
        return a;
    int64_t dim = x->dims[a];
    int64_t *sizes = fy__calloc((size_t)n_out, sizeof *sizes);
    if (!sizes)
        return fy__op_fail(c, FY_ENOMEM, "out of memory");
    const int64_t *sa = NULL;
    int64_t n_split = -1;
    const fy_tensor *st = NULL;
    if (c->opset < 13)
        n_split = fy__attr_ints(c->node, "split", &sa);
    if (n_split < 0 && c->n_in > 1 && c->in[1]) {
        if ((rc = need_index(c, 1, "split")) != FY_OK)
            goto done;
        st = c->in[1];
        if (st->rank > 1) {
            rc = fy__op_fail(c, FY_EINVAL, "input 1 (split) must be 1-D, got rank %d", st->rank);
            goto done;
        }
        n_split = fy_tensor_numel(st);
    }
    int64_t num_outputs = c->opset >= 18 ? fy__attr_int(c->node, "num_outputs", -1) : -1;
    if (n_split >= 0 && num_outputs >= 0) {
        rc = fy__op_fail(c, FY_EINVAL, "both split and num_outputs are given");
        goto done;
    }
    if (n_split >= 0) {
        if (n_split != n_out) {
            rc = fy__op_fail(c, FY_EINVAL, "split has %lld entries but the node has %d outputs",
                             (long long)n_split, n_out);
            goto done;
        }
        uint64_t sum = 0;
        for (int i = 0; i < n_out; i++) {
            sizes[i] = st ? fy__get_i64(st, i) : sa[i];
            if (sizes[i] < 0) {
                rc = fy__op_fail(c, FY_EINVAL, "split[%d] = %lld is negative", i,
                                 (long long)sizes[i]);
                goto done;
            }
            if (fy__add_overflow_u64(sum, (uint64_t)sizes[i], &sum))
                sum = UINT64_MAX;
        }
        if (sum != (uint64_t)dim) {
            rc = fy__op_fail(c, FY_EINVAL, "split sizes sum to %llu but axis %d has size %lld",
                             (unsigned long long)sum, a, (long long)dim);
            goto done;
        }
    } else if (num_outputs >= 0) {
        if (num_outputs != n_out) {
            rc = fy__op_fail(c, FY_EINVAL, "num_outputs = %lld but the node has %d outputs",
                             (long long)num_outputs, n_out);
            goto done;
        }
        /* Opset 18: chunks of ceil(dim / n); the last ones get what is left. */
        int64_t chunk = dim / n_out + (dim % n_out != 0), left = dim;
        for (int i = 0; i < n_out; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
    } else {
        if (dim % n_out != 0) {
            rc = fy__op_fail(c, FY_EINVAL,
                             "axis %d of size %lld cannot be split into %d equal parts", a,
                             (long long)dim, n_out);
            goto done;
        }
        for (int i = 0; i < n_out; i++)
            sizes[i] = dim / n_out;
    }
    int64_t outer = fy__dims_prod(x->dims, 0, a), inner = fy__dims_prod(x->dims, a + 1, x->rank);
    int64_t off = 0;
    for (int i = 0; i < n_out; i++) {
        int64_t dims[FY_MAX_RANK];
        for (int d = 0; d < x->rank; d++)
            dims[d] = x->dims[d];
        dims[a] = sizes[i];
        if ((rc = out_alloc(c, i, x->dtype, x->rank, dims)) != FY_OK)
            goto done;
        int64_t blk = sizes[i] * inner;
        for (int64_t o = 0; o < outer; o++)
            copy_run(&c->out[i], o * blk, x, o * dim * inner + off, blk);
        off += blk;
    }
    rc = FY_OK;
done:
    fy__free(sizes);
    return rc;
}

/* Number of elements from start towards end (exclusive) with step; both are
 * already clamped to [-1, dim], so the difference cannot overflow. */
static int64_t slice_count(int64_t start, int64_t end, int64_t step)
{
    uint64_t diff, mag;
    if (step > 0) {
        if (end <= start)
            return 0;
        diff = (uint64_t)(end - start);
        mag = (uint64_t)step;
    } else {
        if (start <= end)
            return 0;
        diff = (uint64_t)(start - end);
        mag = (uint64_t)(-(step + 1)) + 1; /* |step| without overflow at INT64_MIN */
    }
    return (int64_t)(diff / mag + (diff % mag != 0));
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int op_slice(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int r = x->rank;
    int64_t starts[FY_MAX_RANK], ends[FY_MAX_RANK], axes[FY_MAX_RANK], steps[FY_MAX_RANK];
    int ns, ne, na, nst = -1;
    if ((rc = attr_or_input(c, "starts", 10, 1, starts, FY_MAX_RANK, &ns)) != FY_OK ||
        (rc = attr_or_input(c, "ends", 10, 2, ends, FY_MAX_RANK, &ne)) != FY_OK ||
        (rc = attr_or_input(c, "axes", 10, 3, axes, FY_MAX_RANK, &na)) != FY_OK)
        return rc;
    if (c->opset >= 10 && c->n_in > 4 && c->in[4]) {
        int n = fy__read_ints(c, c->in[4], steps, FY_MAX_RANK, "input 4 (steps)");
        if (n < 0)
            return n;
        nst = n;
    }
    if (ns < 0 || ne < 0)
        return fy__op_fail(c, FY_EINVAL, "%s is missing", ns < 0 ? "starts" : "ends");
    if (ns != ne)
        return fy__op_fail(c, FY_EINVAL, "starts has %d entries but ends has %d", ns, ne);
    if (na >= 0 && na != ns)
        return fy__op_fail(c, FY_EINVAL, "axes has %d entries but starts has %d", na, ns);
    if (nst >= 0 && nst != ns)
        return fy__op_fail(c, FY_EINVAL, "steps has %d entries but starts has %d", nst, ns);
    int64_t start[FY_MAX_RANK] = {0}, step[FY_MAX_RANK], dims[FY_MAX_RANK];
    int seen[FY_MAX_RANK] = {0};
    for (int d = 0; d < r; d++) {
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (int i = 0; i < ns; i++) {
        int64_t ax = na >= 0 ? axes[i] : i;
        if (na < 0 && i >= r)
            return fy__op_fail(c, FY_EINVAL, "starts has %d entries but the input has rank %d", ns,
                               r);
        int a = fy__axis(c, ax, r, 0);
        if (a < 0)
            return a;
        if (seen[a])
            return fy__op_fail(c, FY_EINVAL, "axes lists axis %lld twice", (long long)ax);
        seen[a] = 1;
        int64_t s = starts[i], e = ends[i], p = nst >= 0 ? steps[i] : 1, dim = x->dims[a];
        if (p == 0)
            return fy__op_fail(c, FY_EINVAL, "steps[%d] is 0", i);
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t n;
        if (dim == 0) {
            s = 0;
            n = 0;
        } else if (p > 0) {
            s = clamp64(s, 0, dim);
            e = clamp64(e, 0, dim);
            n = slice_count(s, e, p);
        } else {
            s = clamp64(s, 0, dim - 1);
            e = clamp64(e, -1, dim - 1);
            n = slice_count(s, e, p);
        }
        start[a] = s;
        step[a] = p;
        dims[a] = n;
    }
    if ((rc = out_alloc(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    if (fy_tensor_numel(&c->out[0]) == 0)
        return FY_OK;
    int64_t in_st[FY_MAX_RANK], st[FY_MAX_RANK], base = 0;
    fy__strides(r, x->dims, in_st);
    for (int d = 0; d < r; d++) {
        base += start[d] * in_st[d];
        /* With one element the step is never taken; skip the product, which may
         * overflow for a huge step. */
        st[d] = dims[d] > 1 ? step[d] * in_st[d] : 0;
    }
    strided_copy(&c->out[0], x, base, st);
    return FY_OK;
}

/* ---- Expand, Tile, Shape, Size ---- */

static int op_expand(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    if ((rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t shape[FY_MAX_RANK], dims[FY_MAX_RANK], st[FY_MAX_RANK];
    int n = fy__read_ints(c, c->in[1], shape, FY_MAX_RANK, "input 1 (shape)");
    if (n < 0)
        return n;
    int r = n > x->rank ? n : x->rank;
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->rank), si = i - (r - n);
        int64_t a = xi >= 0 ? x->dims[xi] : 1, b = si >= 0 ? shape[si] : 1;
        if (b < 0)
            return fy__op_fail(c, FY_EINVAL, "shape[%d] = %lld is negative", si, (long long)b);
        if (a == b || b == 1)
            dims[i] = a;
        else if (a == 1)
            dims[i] = b;
        else
            return fy__op_fail(c, FY_EINVAL,
                               "input dimension %d (%lld) cannot be expanded to shape[%d] = %lld",
                               xi, (long long)a, si, (long long)b);
    }
    if ((rc = out_alloc(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    fy__broadcast_strides(x, r, dims, st);
    strided_copy(&c->out[0], x, 0, st);
    return FY_OK;
}

static int op_tile(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    if ((rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int r = x->rank;
    int64_t rep[FY_MAX_RANK], dims[FY_MAX_RANK];
    if (c->opset < 6) {
        /* Tile-1: a scalar count of tiles along one scalar axis. */
        if ((rc = need_index(c, 1, "tiles")) != FY_OK || (rc = need_index(c, 2, "axis")) != FY_OK)
            return rc;
        if (fy_tensor_numel(c->in[1]) != 1 || fy_tensor_numel(c->in[2]) != 1)
            return fy__op_fail(c, FY_EINVAL, "inputs 1 (tiles) and 2 (axis) must be scalars");
        int a = fy__axis(c, fy__get_i64(c->in[2], 0), r, 0);
        if (a < 0)
            return a;
        for (int d = 0; d < r; d++)
            rep[d] = 1;
        rep[a] = fy__get_i64(c->in[1], 0);
    } else {
        int n = fy__read_ints(c, c->in[1], rep, FY_MAX_RANK, "input 1 (repeats)");
        if (n < 0)
            return n;
        if (n != r)
            return fy__op_fail(c, FY_EINVAL, "input 1 (repeats) has %d entries, input has rank %d",
                               n, r);
    }
    for (int d = 0; d < r; d++) {
        if (rep[d] < 0)
            return fy__op_fail(c, FY_EINVAL, "repeats[%d] = %lld is negative", d,
                               (long long)rep[d]);
        uint64_t m;
        if (fy__mul_overflow_u64((uint64_t)x->dims[d], (uint64_t)rep[d], &m) ||
            m > (uint64_t)INT64_MAX)
            return fy__op_fail(c, FY_ELIMIT, "axis %d: %lld repeats of size %lld is too large", d,
                               (long long)rep[d], (long long)x->dims[d]);
        dims[d] = (int64_t)m;
    }
    if ((rc = out_alloc(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    int64_t n = fy_tensor_numel(y), idx[FY_MAX_RANK] = {0}, in_st[FY_MAX_RANK];
    fy__strides(r, x->dims, in_st);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < r; d++)
            off += (idx[d] % x->dims[d]) * in_st[d];
        fy__copy_elem(y, i, x, off);
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < dims[d])
                break;
            idx[d] = 0;
        }
    }
    return FY_OK;
}

static int op_shape(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    int64_t r = x->rank, s = 0, e = r;
    if (c->opset >= 15) {
        s = fy__attr_int(c->node, "start", 0);
        e = fy__attr_int(c->node, "end", r);
    }
    /* Out-of-range start/end clamp rather than fail (spec). */
    if (s < 0)
        s += r;
    if (e < 0)
        e += r;
    s = clamp64(s, 0, r);
    e = clamp64(e, 0, r);
    int64_t n = e > s ? e - s : 0;
    if ((rc = out_alloc(c, 0, FY_DTYPE_I64, 1, &n)) != FY_OK)
        return rc;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)c->out[0].data)[i] = x->dims[s + i];
    return FY_OK;
}

static int op_size(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    if ((rc = out_alloc(c, 0, FY_DTYPE_I64, 0, NULL)) != FY_OK)
        return rc;
    *(int64_t *)c->out[0].data = fy_tensor_numel(c->in[0]);
    return FY_OK;
}

/* ---- Gather family ---- */

static int op_gather(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK || (rc = need_index(c, 1, "indices")) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1];
    int a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0);
    if (a < 0)
        return a;
    int r = x->rank - 1 + ind->rank;
    if (r > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "output would have rank %d, above the limit of %d", r,
                           FY_MAX_RANK);
    int64_t dims[FY_MAX_RANK], dim = x->dims[a], ni = fy_tensor_numel(ind), w;
    for (int64_t j = 0; j < ni; j++)
        if ((rc = wrap_index(c, fy__get_i64(ind, j), dim, a, &w)) != FY_OK)
            return rc;
    int k = 0;
    for (int d = 0; d < a; d++)
        dims[k++] = x->dims[d];
    for (int d = 0; d < ind->rank; d++)
        dims[k++] = ind->dims[d];
    for (int d = a + 1; d < x->rank; d++)
        dims[k++] = x->dims[d];
    if ((rc = out_alloc(c, 0, x->dtype, r, dims)) != FY_OK)
        return rc;
    int64_t outer = fy__dims_prod(x->dims, 0, a), inner = fy__dims_prod(x->dims, a + 1, x->rank);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < ni; j++) {
            wrap_index(c, fy__get_i64(ind, j), dim, a, &w);
            copy_run(&c->out[0], (o * ni + j) * inner, x, (o * dim + w) * inner, inner);
        }
    return FY_OK;
}

/* Checks shared by GatherElements and ScatterElements: indices has data's rank
 * and fits inside data on every axis but `a`. */
static int check_elements_shape(fy__op_ctx *c, const fy_tensor *x, const fy_tensor *ind, int a)
{
    char sa[192], sb[192];
    int bad = ind->rank != x->rank;
    for (int d = 0; d < x->rank && !bad; d++)
        bad = d != a && ind->dims[d] > x->dims[d];
    if (bad)
        return fy__op_fail(c, FY_EINVAL, "indices shape %s does not fit data shape %s (axis %d)",
                           shape_str(sa, sizeof sa, ind->rank, ind->dims),
                           shape_str(sb, sizeof sb, x->rank, x->dims), a);
    return FY_OK;
}

static int op_gather_elements(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK || (rc = need_index(c, 1, "indices")) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1];
    int a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0);
    if (a < 0)
        return a;
    if ((rc = check_elements_shape(c, x, ind, a)) != FY_OK)
        return rc;
    if ((rc = out_alloc(c, 0, x->dtype, ind->rank, ind->dims)) != FY_OK)
        return rc;
    int64_t n = fy_tensor_numel(ind);
    if (n == 0)
        return FY_OK;
    int64_t st[1][FY_MAX_RANK], xs[FY_MAX_RANK], w;
    fy__strides(x->rank, x->dims, xs);
    for (int d = 0; d < x->rank; d++)
        st[0][d] = d == a ? 0 : xs[d];
    fy__iter it;
    fy__iter_init(&it, ind->rank, ind->dims, 1, (const int64_t(*)[FY_MAX_RANK])st);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fy__iter_next(&it);
        if ((rc = wrap_index(c, fy__get_i64(ind, i), x->dims[a], a, &w)) != FY_OK)
            return rc;
        fy__copy_elem(&c->out[0], i, x, it.off[0] + w * xs[a]);
    }
    return FY_OK;
}

static int op_gather_nd(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK || (rc = need_index(c, 1, "indices")) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1];
    int r = x->rank, q = ind->rank;
    int64_t b = fy__attr_int(c->node, "batch_dims", 0);
    if (r < 1 || q < 1)
        return fy__op_fail(c, FY_EINVAL, "data (rank %d) and indices (rank %d) must have rank >= 1",
                           r, q);
    if (b < 0 || b >= r || b >= q)
        return fy__op_fail(c, FY_EINVAL,
                           "attribute batch_dims = %lld must be below the ranks of data (%d) and "
                           "indices (%d)",
                           (long long)b, r, q);
    for (int d = 0; d < b; d++)
        if (x->dims[d] != ind->dims[d])
            return fy__op_fail(c, FY_EINVAL,
                               "batch dimension %d differs: data has %lld, indices %lld", d,
                               (long long)x->dims[d], (long long)ind->dims[d]);
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r - b)
        return fy__op_fail(c, FY_EINVAL,
                           "last dimension of indices is %lld, must be in [1, %lld] (data rank %d, "
                           "batch_dims %lld)",
                           (long long)k, (long long)(r - b), r, (long long)b);
    int orank = q - 1 + r - (int)k - (int)b;
    if (orank > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "output would have rank %d, above the limit of %d", orank,
                           FY_MAX_RANK);
    int64_t dims[FY_MAX_RANK], xs[FY_MAX_RANK];
    int nd = 0;
    for (int d = 0; d < q - 1; d++)
        dims[nd++] = ind->dims[d];
    for (int d = (int)(b + k); d < r; d++)
        dims[nd++] = x->dims[d];
    if ((rc = out_alloc(c, 0, x->dtype, orank, dims)) != FY_OK)
        return rc;
    fy__strides(r, x->dims, xs);
    int64_t slice = fy__dims_prod(x->dims, (int)(b + k), r);
    int64_t tuples = fy__dims_prod(ind->dims, 0, q - 1);
    int64_t batches = fy__dims_prod(ind->dims, 0, (int)b);
    int64_t per_batch = batches ? tuples / batches : 0;
    int64_t batch_stride = fy__dims_prod(x->dims, (int)b, r);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = (t / per_batch) * batch_stride, w;
        for (int64_t j = 0; j < k; j++) {
            int ax = (int)(b + j);
            if ((rc = wrap_index(c, fy__get_i64(ind, t * k + j), x->dims[ax], ax, &w)) != FY_OK)
                return rc;
            off += w * xs[ax];
        }
        copy_run(&c->out[0], t * slice, x, off, slice);
    }
    return FY_OK;
}

/* ---- Scatter family ---- */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static int parse_reduction(fy__op_ctx *c, int *red)
{
    const char *s = fy__attr_str(c->node, "reduction", "none");
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *red = i;
            return FY_OK;
        }
    return fy__op_fail(c, FY_EINVAL,
                       "attribute reduction = '%s' is not one of none, add, mul, max, min", s);
}

/* dst[di] = dst[di] (op) src[si]. Integers combine in uint64 so overflow wraps
 * (as the fixed-width types do) instead of being undefined. */
static void reduce_elem(fy_tensor *dst, int64_t di, const fy_tensor *src, int64_t si, int red)
{
    if (red == RED_NONE) {
        fy__copy_elem(dst, di, src, si);
    } else if (fy__dtype_is_float(dst->dtype)) {
        double a = fy__get_f64(dst, di), b = fy__get_f64(src, si), v;
        switch (red) {
        case RED_ADD:
            v = a + b;
            break;
        case RED_MUL:
            v = a * b;
            break;
        case RED_MAX:
            v = isnan(a) || isnan(b) ? NAN : a > b ? a : b;
            break;
        default:
            v = isnan(a) || isnan(b) ? NAN : a < b ? a : b;
            break;
        }
        fy__set_f64(dst, di, v);
    } else {
        int64_t a = fy__get_i64(dst, di), b = fy__get_i64(src, si), v;
        int less = dst->dtype == FY_DTYPE_U64 ? (uint64_t)a < (uint64_t)b : a < b;
        switch (red) {
        case RED_ADD:
            v = (int64_t)((uint64_t)a + (uint64_t)b);
            break;
        case RED_MUL:
            v = (int64_t)((uint64_t)a * (uint64_t)b);
            break;
        case RED_MAX:
            v = less ? b : a;
            break;
        default:
            v = less ? a : b;
            break;
        }
        fy__set_i64(dst, di, v);
    }
}

static int op_scatter_elements(fy__op_ctx *c)
{
    int rc = need_data(c, 0), red = RED_NONE;
    if (rc != FY_OK || (rc = need_index(c, 1, "indices")) != FY_OK ||
        (rc = need_data(c, 2)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1], *upd = c->in[2];
    if (strcmp(c->node->op_type, "ScatterElements") == 0 &&
        (rc = parse_reduction(c, &red)) != FY_OK)
        return rc;
    int a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0);
    if (a < 0)
        return a;
    if ((rc = check_elements_shape(c, x, ind, a)) != FY_OK)
        return rc;
    char sa[192], sb[192];
    if (upd->dtype != x->dtype)
        return fy__op_fail(c, FY_EINVAL, "updates is %s but data is %s", fy_dtype_name(upd->dtype),
                           fy_dtype_name(x->dtype));
    int same = upd->rank == ind->rank;
    for (int d = 0; d < ind->rank && same; d++)
        same = upd->dims[d] == ind->dims[d];
    if (!same)
        return fy__op_fail(c, FY_EINVAL, "updates shape %s differs from indices shape %s",
                           shape_str(sa, sizeof sa, upd->rank, upd->dims),
                           shape_str(sb, sizeof sb, ind->rank, ind->dims));
    if ((rc = out_alloc(c, 0, x->dtype, x->rank, x->dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    int64_t n = fy_tensor_numel(ind);
    if (n == 0)
        return FY_OK;
    int64_t st[1][FY_MAX_RANK], xs[FY_MAX_RANK], w;
    fy__strides(x->rank, x->dims, xs);
    for (int d = 0; d < x->rank; d++)
        st[0][d] = d == a ? 0 : xs[d];
    fy__iter it;
    fy__iter_init(&it, ind->rank, ind->dims, 1, (const int64_t(*)[FY_MAX_RANK])st);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fy__iter_next(&it);
        if ((rc = wrap_index(c, fy__get_i64(ind, i), x->dims[a], a, &w)) != FY_OK)
            return rc;
        reduce_elem(&c->out[0], it.off[0] + w * xs[a], upd, i, red);
    }
    return FY_OK;
}

static int op_scatter_nd(fy__op_ctx *c)
{
    int rc = need_data(c, 0), red = RED_NONE;
    if (rc != FY_OK || (rc = need_index(c, 1, "indices")) != FY_OK ||
        (rc = need_data(c, 2)) != FY_OK)
        return rc;
    if ((rc = parse_reduction(c, &red)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *ind = c->in[1], *upd = c->in[2];
    int r = x->rank, q = ind->rank;
    if (r < 1 || q < 1)
        return fy__op_fail(c, FY_EINVAL, "data (rank %d) and indices (rank %d) must have rank >= 1",
                           r, q);
    if (upd->dtype != x->dtype)
        return fy__op_fail(c, FY_EINVAL, "updates is %s but data is %s", fy_dtype_name(upd->dtype),
                           fy_dtype_name(x->dtype));
    int64_t k = ind->dims[q - 1];
    if (k < 1 || k > r)
        return fy__op_fail(c, FY_EINVAL, "last dimension of indices is %lld, must be in [1, %d]",
                           (long long)k, r);
    /* updates must be indices.shape[:-1] + data.shape[k:]. */
    int64_t want[2 * FY_MAX_RANK];
    int nw = 0;
    for (int d = 0; d < q - 1; d++)
        want[nw++] = ind->dims[d];
    for (int d = (int)k; d < r; d++)
        want[nw++] = x->dims[d];
    int same = upd->rank == nw;
    for (int d = 0; d < nw && same; d++)
        same = upd->dims[d] == want[d];
    if (!same) {
        char sa[192], sb[192];
        return fy__op_fail(c, FY_EINVAL, "updates has shape %s, expected %s",
                           shape_str(sa, sizeof sa, upd->rank, upd->dims),
                           shape_str(sb, sizeof sb, nw, want));
    }
    if ((rc = out_alloc(c, 0, x->dtype, r, x->dims)) != FY_OK)
        return rc;
    copy_all(&c->out[0], x);
    int64_t xs[FY_MAX_RANK];
    fy__strides(r, x->dims, xs);
    int64_t slice = fy__dims_prod(x->dims, (int)k, r), tuples = fy__dims_prod(ind->dims, 0, q - 1);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0, w;
        for (int j = 0; j < k; j++) {
            if ((rc = wrap_index(c, fy__get_i64(ind, t * k + j), x->dims[j], j, &w)) != FY_OK)
                return rc;
            off += w * xs[j];
        }
        for (int64_t e = 0; e < slice; e++)
            reduce_elem(&c->out[0], off + e, upd, t * slice + e, red);
    }
    return FY_OK;
}

/* ---- Generators: Range, ConstantOfShape, Constant, EyeLike, OneHot ---- */

/* Ceiling on Range's element count before it becomes a size: beyond this the
 * count cannot fit FY_TENSOR_MAX_BYTES for any dtype anyway. */
#define RANGE_MAX_COUNT ((int64_t)1 << 40)

static int op_range(fy__op_ctx *c)
{
    int rc;
    for (int i = 0; i < 3; i++) {
        if ((rc = need_data(c, i)) != FY_OK)
            return rc;
        if (fy_tensor_numel(c->in[i]) != 1)
            return fy__op_fail(c, FY_EINVAL, "input %d must be a scalar, has %lld elements", i,
                               (long long)fy_tensor_numel(c->in[i]));
        if (c->in[i]->dtype != c->in[0]->dtype)
            return fy__op_fail(c, FY_EINVAL, "input %d is %s but input 0 is %s", i,
                               fy_dtype_name(c->in[i]->dtype), fy_dtype_name(c->in[0]->dtype));
    }
    fy_dtype dt = c->in[0]->dtype;
    int64_t n;
    if (fy__dtype_is_float(dt)) {
        double s = fy__get_f64(c->in[0], 0), l = fy__get_f64(c->in[1], 0);
        double d = fy__get_f64(c->in[2], 0);
        if (d == 0.0)
            return fy__op_fail(c, FY_EINVAL, "delta is 0");
        double cnt = ceil((l - s) / d);
        if (isnan(cnt))
            return fy__op_fail(c, FY_EINVAL, "start, limit and delta give no element count (NaN)");
        if (cnt > (double)RANGE_MAX_COUNT)
            return fy__op_fail(c, FY_ELIMIT, "range would have %g elements", cnt);
        n = cnt > 0 ? (int64_t)cnt : 0;
        if ((rc = out_alloc(c, 0, dt, 1, &n)) != FY_OK)
            return rc;
        for (int64_t i = 0; i < n; i++)
            fy__set_f64(&c->out[0], i, s + (double)i * d);
        return FY_OK;
    }
    if (!fy__dtype_is_int(dt) || dt == FY_DTYPE_U64)
        return fy__op_fail(c, FY_EUNSUPPORTED, "inputs of type %s are not supported",
                           fy_dtype_name(dt));
    int64_t s = fy__get_i64(c->in[0], 0), l = fy__get_i64(c->in[1], 0);
    int64_t d = fy__get_i64(c->in[2], 0);
    if (d == 0)
        return fy__op_fail(c, FY_EINVAL, "delta is 0");
    /* Count in uint64: limit - start may not fit int64. */
    uint64_t diff = 0, mag;
    if (d > 0) {
        mag = (uint64_t)d;
        if (l > s)
            diff = (uint64_t)l - (uint64_t)s;
    } else {
        mag = (uint64_t)(-(d + 1)) + 1;
        if (s > l)
            diff = (uint64_t)s - (uint64_t)l;
    }
    uint64_t cnt = diff / mag + (diff % mag != 0);
    if (cnt > (uint64_t)RANGE_MAX_COUNT)
        return fy__op_fail(c, FY_ELIMIT, "range would have %llu elements", (unsigned long long)cnt);
    n = (int64_t)cnt;
    if ((rc = out_alloc(c, 0, dt, 1, &n)) != FY_OK)
        return rc;
    /* Every value lies between start and limit, so it fits the type; the product
     * is done in uint64 because i * delta alone may not fit int64. */
    for (int64_t i = 0; i < n; i++)
        fy__set_i64(&c->out[0], i, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d));
    return FY_OK;
}

/* Fill every element of out with element 0 of v (same dtype). */
static void fill_with(fy_tensor *out, const fy_tensor *v)
{
    int64_t n = fy_tensor_numel(out);
    for (int64_t i = 0; i < n; i++)
        fy__copy_elem(out, i, v, 0);
}

static int op_constant_of_shape(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    int64_t dims[FY_MAX_RANK];
    int n = fy__read_ints(c, c->in[0], dims, FY_MAX_RANK, "input 0 (shape)");
    if (n < 0)
        return n;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0)
            return fy__op_fail(c, FY_EINVAL, "shape[%d] = %lld is negative", i, (long long)dims[i]);
    const fy_tensor *v = fy__attr_tensor(c->node, "value");
    if (!v)
        return out_alloc(c, 0, FY_DTYPE_F32, n, dims); /* default: float32 zeros */
    if (fy_tensor_numel(v) != 1)
        return fy__op_fail(c, FY_EINVAL, "attribute value must have one element, has %lld",
                           (long long)fy_tensor_numel(v));
    if (esize(v) == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "attribute value has element type %s, not supported",
                           fy_dtype_name(v->dtype));
    if ((rc = out_alloc(c, 0, v->dtype, n, dims)) != FY_OK)
        return rc;
    fill_with(&c->out[0], v);
    return FY_OK;
}

static int op_constant(fy__op_ctx *c)
{
    static const char *const names[] = {"value",         "value_float", "value_floats",
                                        "value_int",     "value_ints",  "value_string",
                                        "value_strings", "sparse_value"};
    const fy__attr *at = NULL;
    for (int i = 0; i < 8; i++) {
        const fy__attr *f = fy__attr_find(c->node, names[i]);
        if (!f)
            continue;
        if (at)
            return fy__op_fail(c, FY_EINVAL, "has both attribute %s and %s (exactly one allowed)",
                               at->name, f->name);
        at = f;
    }
    if (!at)
        return fy__op_fail(c, FY_EINVAL, "has no value attribute");
    int rc;
    int64_t n = at->n;
    if (strcmp(at->name, "value") == 0 && at->type == FY_ATTR_TENSOR && at->t) {
        if (esize(at->t) == 0)
            return fy__op_fail(c, FY_EUNSUPPORTED,
                               "attribute value has element type %s, not supported",
                               fy_dtype_name(at->t->dtype));
        if ((rc = out_alloc(c, 0, at->t->dtype, at->t->rank, at->t->dims)) != FY_OK)
            return rc;
        copy_all(&c->out[0], at->t);
    } else if (strcmp(at->name, "value_float") == 0 && at->type == FY_ATTR_FLOAT) {
        if ((rc = out_alloc(c, 0, FY_DTYPE_F32, 0, NULL)) != FY_OK)
            return rc;
        *(float *)c->out[0].data = at->f;
    } else if (strcmp(at->name, "value_floats") == 0 && at->type == FY_ATTR_FLOATS) {
        if ((rc = out_alloc(c, 0, FY_DTYPE_F32, 1, &n)) != FY_OK)
            return rc;
        if (n > 0)
            memcpy(c->out[0].data, at->floats, (size_t)n * sizeof(float));
    } else if (strcmp(at->name, "value_int") == 0 && at->type == FY_ATTR_INT) {
        if ((rc = out_alloc(c, 0, FY_DTYPE_I64, 0, NULL)) != FY_OK)
            return rc;
        *(int64_t *)c->out[0].data = at->i;
    } else if (strcmp(at->name, "value_ints") == 0 && at->type == FY_ATTR_INTS) {
        if ((rc = out_alloc(c, 0, FY_DTYPE_I64, 1, &n)) != FY_OK)
            return rc;
        if (n > 0)
            memcpy(c->out[0].data, at->ints, (size_t)n * sizeof(int64_t));
    } else if (strcmp(at->name, "value_string") == 0 || strcmp(at->name, "value_strings") == 0 ||
               strcmp(at->name, "sparse_value") == 0) {
        return fy__op_fail(c, FY_EUNSUPPORTED, "attribute %s is not supported", at->name);
    } else {
        return fy__op_fail(c, FY_EINVAL, "attribute %s has the wrong type (%d)", at->name,
                           (int)at->type);
    }
    return FY_OK;
}

static int op_eye_like(fy__op_ctx *c)
{
    int rc = fy__op_need(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (x->rank != 2)
        return fy__op_fail(c, FY_EINVAL, "input must be 2-D, got rank %d", x->rank);
    int64_t dt = fy__attr_int(c->node, "dtype", x->dtype);
    if (dt <= 0 || dt > FY_DTYPE_BF16 || fy_dtype_size((fy_dtype)dt) == 0)
        return fy__op_fail(c, FY_EUNSUPPORTED, "output dtype %lld is not supported", (long long)dt);
    int64_t k = fy__attr_int(c->node, "k", 0), rows = x->dims[0], cols = x->dims[1];
    if ((rc = out_alloc(c, 0, (fy_dtype)dt, 2, x->dims)) != FY_OK)
        return rc;
    /* Diagonal j = i + k; the bounds test on k first keeps i + k from overflowing. */
    if (k >= cols || k <= -rows)
        return FY_OK;
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols)
            fy__set_f64(&c->out[0], i * cols + j, 1.0);
    }
    return FY_OK;
}

static int op_one_hot(fy__op_ctx *c)
{
    int rc;
    for (int i = 0; i < 3; i++)
        if ((rc = need_data(c, i)) != FY_OK)
            return rc;
    const fy_tensor *ind = c->in[0], *dep = c->in[1], *val = c->in[2];
    if (!fy__dtype_is_int(ind->dtype) && !fy__dtype_is_float(ind->dtype))
        return fy__op_fail(c, FY_EINVAL, "input 0 (indices) must be numeric, got %s",
                           fy_dtype_name(ind->dtype));
    if (fy_tensor_numel(dep) != 1 ||
        (!fy__dtype_is_int(dep->dtype) && !fy__dtype_is_float(dep->dtype)))
        return fy__op_fail(c, FY_EINVAL, "input 1 (depth) must be one number");
    if (fy_tensor_numel(val) != 2)
        return fy__op_fail(c, FY_EINVAL, "input 2 (values) must have 2 elements, has %lld",
                           (long long)fy_tensor_numel(val));
    double dd = fy__get_f64(dep, 0);
    if (fy__dtype_is_int(dep->dtype))
        dd = (double)fy__get_i64(dep, 0);
    if (!(dd >= 0) || dd > (double)RANGE_MAX_COUNT)
        return fy__op_fail(c, FY_EINVAL, "depth %g is negative, NaN or too large", dd);
    int64_t depth = (int64_t)dd;
    int r = ind->rank + 1;
    if (r > FY_MAX_RANK)
        return fy__op_fail(c, FY_ELIMIT, "output would have rank %d, above the limit of %d", r,
                           FY_MAX_RANK);
    int a = fy__axis(c, fy__attr_int(c->node, "axis", -1), r, 0);
    if (a < 0)
        return a;
    int64_t dims[FY_MAX_RANK];
    for (int d = 0, k = 0; d < r; d++)
        dims[d] = d == a ? depth : ind->dims[k++];
    if ((rc = out_alloc(c, 0, val->dtype, r, dims)) != FY_OK)
        return rc;
    fy_tensor *y = &c->out[0];
    fill_with(y, val);
    int64_t outer = fy__dims_prod(ind->dims, 0, a), inner = fy__dims_prod(ind->dims, a, ind->rank);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t v = fy__get_i64(ind, o * inner + i);
            if (v < 0)
                v += depth;
            /* Out-of-range indices give an all-off row (spec), not an error. */
            if (v >= 0 && v < depth)
                fy__copy_elem(y, (o * depth + v) * inner + i, val, 1);
        }
    return FY_OK;
}

/* ---- DepthToSpace, SpaceToDepth ---- */

static int block_size(fy__op_ctx *c, int64_t *b)
{
    const fy__attr *at = fy__attr_find(c->node, "blocksize");
    if (!at)
        return fy__op_fail(c, FY_EINVAL, "attribute blocksize is missing");
    *b = fy__attr_int(c->node, "blocksize", 0);
    uint64_t bb;
    if (*b < 1 || fy__mul_overflow_u64((uint64_t)*b, (uint64_t)*b, &bb) || bb > INT64_MAX)
        return fy__op_fail(c, FY_EINVAL, "attribute blocksize = %lld is out of range",
                           (long long)*b);
    return FY_OK;
}

static int op_depth_to_space(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    int64_t b;
    if (rc != FY_OK || (rc = block_size(c, &b)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (x->rank != 4)
        return fy__op_fail(c, FY_EINVAL, "input must be 4-D (NCHW), got rank %d", x->rank);
    const char *mode = c->opset >= 11 ? fy__attr_str(c->node, "mode", "DCR") : "DCR";
    int crd = strcmp(mode, "CRD") == 0;
    if (!crd && strcmp(mode, "DCR") != 0)
        return fy__op_fail(c, FY_EINVAL, "attribute mode = '%s' is not DCR or CRD", mode);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (b * b) != 0)
        return fy__op_fail(c, FY_EINVAL, "channels (%lld) are not divisible by blocksize^2 (%lld)",
                           (long long)C, (long long)(b * b));
    int64_t oc = C / (b * b);
    uint64_t oh, ow;
    if (fy__mul_overflow_u64((uint64_t)H, (uint64_t)b, &oh) ||
        fy__mul_overflow_u64((uint64_t)W, (uint64_t)b, &ow) || oh > INT64_MAX || ow > INT64_MAX)
        return fy__op_fail(c, FY_ELIMIT, "output spatial size is too large");
    int64_t dims[4] = {N, oc, (int64_t)oh, (int64_t)ow};
    if ((rc = out_alloc(c, 0, x->dtype, 4, dims)) != FY_OK)
        return rc;
    int64_t o = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < oc; ch++)
            for (int64_t y = 0; y < dims[2]; y++)
                for (int64_t xx = 0; xx < dims[3]; xx++, o++) {
                    int64_t i = y % b, j = xx % b;
                    /* DCR: depth is (block row, block col, channel); CRD: (channel, row, col). */
                    int64_t ic = crd ? (ch * b + i) * b + j : (i * b + j) * oc + ch;
                    fy__copy_elem(&c->out[0], o, x, ((n * C + ic) * H + y / b) * W + xx / b);
                }
    return FY_OK;
}

static int op_space_to_depth(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    int64_t b;
    if (rc != FY_OK || (rc = block_size(c, &b)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (x->rank != 4)
        return fy__op_fail(c, FY_EINVAL, "input must be 4-D (NCHW), got rank %d", x->rank);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % b != 0 || W % b != 0)
        return fy__op_fail(c, FY_EINVAL,
                           "height %lld and width %lld must be divisible by "
                           "blocksize %lld",
                           (long long)H, (long long)W, (long long)b);
    uint64_t ocu;
    if (fy__mul_overflow_u64((uint64_t)C, (uint64_t)(b * b), &ocu) || ocu > INT64_MAX)
        return fy__op_fail(c, FY_ELIMIT, "output channel count is too large");
    int64_t dims[4] = {N, (int64_t)ocu, H / b, W / b};
    if ((rc = out_alloc(c, 0, x->dtype, 4, dims)) != FY_OK)
        return rc;
    int64_t o = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oc = 0; oc < dims[1]; oc++)
            for (int64_t y = 0; y < dims[2]; y++)
                for (int64_t xx = 0; xx < dims[3]; xx++, o++) {
                    /* Output depth is (block row, block col, input channel). */
                    int64_t ch = oc % C, blk = oc / C, i = blk / b, j = blk % b;
                    fy__copy_elem(&c->out[0], o, x,
                                  ((n * C + ch) * H + y * b + i) * W + xx * b + j);
                }
    return FY_OK;
}

/* ---- Trilu, NonZero, Compress, ReverseSequence ---- */

static int op_trilu(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input must have rank >= 2, got %d", x->rank);
    int64_t k = 0;
    if (c->n_in > 1 && c->in[1]) {
        if ((rc = need_index(c, 1, "k")) != FY_OK)
            return rc;
        if (fy_tensor_numel(c->in[1]) != 1)
            return fy__op_fail(c, FY_EINVAL, "input 1 (k) must be a scalar");
        k = fy__get_i64(c->in[1], 0);
    }
    int upper = fy__attr_int(c->node, "upper", 1) != 0;
    if ((rc = out_alloc(c, 0, x->dtype, x->rank, x->dims)) != FY_OK)
        return rc;
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    int64_t mats = fy__dims_prod(x->dims, 0, x->rank - 2);
    /* Output starts zeroed; copy the kept triangle. j - i is small, k may be huge:
     * compare without adding them. */
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                int keep = upper ? j - i >= k : j - i <= k;
                if (keep) {
                    int64_t e = (m * rows + i) * cols + j;
                    fy__copy_elem(&c->out[0], e, x, e);
                }
            }
    return FY_OK;
}

static int is_nonzero(const fy_tensor *t, int64_t i)
{
    if (fy__dtype_is_float(t->dtype))
        return fy__get_f64(t, i) != 0.0; /* NaN counts as non-zero, -0.0 as zero */
    return fy__get_i64(t, i) != 0;
}

static int op_nonzero(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!fy__dtype_is_float(x->dtype) && !fy__dtype_is_int(x->dtype) && x->dtype != FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input type %s is not supported",
                           fy_dtype_name(x->dtype));
    int64_t n = fy_tensor_numel(x), nz = 0;
    for (int64_t i = 0; i < n; i++)
        nz += is_nonzero(x, i);
    /* A scalar is treated as a 1-element vector, as numpy and onnxruntime do. */
    int r = x->rank ? x->rank : 1;
    int64_t one = 1;
    const int64_t *xd = x->rank ? x->dims : &one;
    int64_t dims[2] = {r, nz};
    if ((rc = out_alloc(c, 0, FY_DTYPE_I64, 2, dims)) != FY_OK)
        return rc;
    int64_t *y = c->out[0].data, idx[FY_MAX_RANK] = {0}, col = 0;
    for (int64_t i = 0; i < n; i++) {
        if (is_nonzero(x, i)) {
            for (int d = 0; d < r; d++)
                y[d * nz + col] = idx[d];
            col++;
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < xd[d])
                break;
            idx[d] = 0;
        }
    }
    return FY_OK;
}

static int op_compress(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK || (rc = fy__op_need(c, 1)) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *cond = c->in[1];
    if (cond->dtype != FY_DTYPE_BOOL || cond->rank != 1)
        return fy__op_fail(c, FY_EINVAL,
                           "input 1 (condition) must be a 1-D bool tensor, got %s "
                           "of rank %d",
                           fy_dtype_name(cond->dtype), cond->rank);
    const uint8_t *cv = cond->data;
    int64_t len = cond->dims[0], kept = 0;
    const fy__attr *aa = fy__attr_find(c->node, "axis");
    int a = -1;
    int64_t dim = fy_tensor_numel(x);
    if (aa) {
        if ((a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0)) < 0)
            return a;
        dim = x->dims[a];
    }
    if (len > dim)
        return fy__op_fail(c, FY_EINVAL, "condition has %lld entries but the %s has %lld",
                           (long long)len, aa ? "axis" : "flattened input", (long long)dim);
    for (int64_t i = 0; i < len; i++)
        kept += cv[i] != 0;
    int64_t dims[FY_MAX_RANK];
    if (a < 0) {
        if ((rc = out_alloc(c, 0, x->dtype, 1, &kept)) != FY_OK)
            return rc;
        for (int64_t i = 0, o = 0; i < len; i++)
            if (cv[i])
                fy__copy_elem(&c->out[0], o++, x, i);
        return FY_OK;
    }
    for (int d = 0; d < x->rank; d++)
        dims[d] = x->dims[d];
    dims[a] = kept;
    if ((rc = out_alloc(c, 0, x->dtype, x->rank, dims)) != FY_OK)
        return rc;
    int64_t outer = fy__dims_prod(x->dims, 0, a), inner = fy__dims_prod(x->dims, a + 1, x->rank), o = 0;
    for (int64_t p = 0; p < outer; p++)
        for (int64_t i = 0; i < len; i++)
            if (cv[i]) {
                copy_run(&c->out[0], o, x, (p * dim + i) * inner, inner);
                o += inner;
            }
    return FY_OK;
}

static int op_reverse_sequence(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK || (rc = need_index(c, 1, "sequence_lens")) != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0], *lens = c->in[1];
    int64_t ba = fy__attr_int(c->node, "batch_axis", 1), ta = fy__attr_int(c->node, "time_axis", 0);
    if (x->rank < 2)
        return fy__op_fail(c, FY_EINVAL, "input must have rank >= 2, got %d", x->rank);
    if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0)))
        return fy__op_fail(c, FY_EINVAL,
                           "batch_axis (%lld) and time_axis (%lld) must be 0 and 1 in some order",
                           (long long)ba, (long long)ta);
    if (lens->rank != 1 || lens->dims[0] != x->dims[ba])
        return fy__op_fail(c, FY_EINVAL,
                           "input 1 (sequence_lens) must be 1-D of length %lld (the batch size)",
                           (long long)x->dims[ba]);
    int64_t T = x->dims[ta];
    for (int64_t i = 0; i < lens->dims[0]; i++) {
        int64_t l = fy__get_i64(lens, i);
        if (l < 0 || l > T)
            return fy__op_fail(c, FY_EINVAL, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                               (long long)i, (long long)l, (long long)T);
    }
    if ((rc = out_alloc(c, 0, x->dtype, x->rank, x->dims)) != FY_OK)
        return rc;
    int64_t n = fy_tensor_numel(x);
    if (n == 0)
        return FY_OK;
    int64_t st[1][FY_MAX_RANK];
    fy__strides(x->rank, x->dims, st[0]);
    fy__iter it;
    fy__iter_init(&it, x->rank, x->dims, 1, (const int64_t(*)[FY_MAX_RANK])st);
    for (int64_t i = 0; i < n; i++) {
        if (i)
            fy__iter_next(&it);
        int64_t t = it.idx[ta], l = fy__get_i64(lens, it.idx[ba]), src = i;
        if (t < l)
            src = i + (l - 1 - 2 * t) * st[0][ta];
        fy__copy_elem(&c->out[0], i, x, src);
    }
    return FY_OK;
}

/* ---- Unique ---- */

/* Slices of X along an axis: slice s is elements (o, s, in) for o < outer, in < inner. */
typedef struct slices {
    const fy_tensor *x;
    int64_t outer, len, inner;
} slices;

/* Total order on one element pair: NaN sorts after every number and equals NaN,
 * so sorting terminates and groups NaNs together. */
static int cmp_elem(const fy_tensor *t, int64_t i, int64_t j)
{
    if (fy__dtype_is_float(t->dtype)) {
        double a = fy__get_f64(t, i), b = fy__get_f64(t, j);
        if (isnan(a) || isnan(b))
            return isnan(a) - isnan(b);
        return (a > b) - (a < b);
    }
    if (t->dtype == FY_DTYPE_U64) {
        uint64_t a = (uint64_t)fy__get_i64(t, i), b = (uint64_t)fy__get_i64(t, j);
        return (a > b) - (a < b);
    }
    int64_t a = fy__get_i64(t, i), b = fy__get_i64(t, j);
    return (a > b) - (a < b);
}

static int cmp_slices(const slices *s, int64_t p, int64_t q)
{
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t in = 0; in < s->inner; in++) {
            int64_t base = o * s->len * s->inner + in;
            int r = cmp_elem(s->x, base + p * s->inner, base + q * s->inner);
            if (r)
                return r;
        }
    return 0;
}

/* Stable bottom-up merge sort of slice numbers (stability keeps the first
 * occurrence first within a group of equal slices). */
static void sort_slices(const slices *s, int64_t *v, int64_t *tmp, int64_t n)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp_slices(s, v[j], v[i]) < 0 ? v[j++] : v[i++];
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        memcpy(v, tmp, (size_t)n * sizeof *v);
        if (w > n / 2)
            break;
    }
}

static int op_unique(fy__op_ctx *c)
{
    int rc = need_data(c, 0);
    if (rc != FY_OK)
        return rc;
    const fy_tensor *x = c->in[0];
    if (!fy__dtype_is_float(x->dtype) && !fy__dtype_is_int(x->dtype) && x->dtype != FY_DTYPE_BOOL)
        return fy__op_fail(c, FY_EUNSUPPORTED, "input type %s is not supported",
                           fy_dtype_name(x->dtype));
    int sorted = fy__attr_int(c->node, "sorted", 1) != 0;
    slices s = {x, 1, fy_tensor_numel(x), 1};
    int a = -1;
    if (fy__attr_find(c->node, "axis")) {
        if ((a = fy__axis(c, fy__attr_int(c->node, "axis", 0), x->rank, 0)) < 0)
            return a;
        s.outer = fy__dims_prod(x->dims, 0, a);
        s.len = x->dims[a];
        s.inner = fy__dims_prod(x->dims, a + 1, x->rank);
    }
    int64_t n = s.len, *order = NULL, *tmp = NULL, *group = NULL, *first = NULL, *count = NULL;
    int64_t *remap = NULL;
    size_t bytes = (size_t)(n + 1) * sizeof(int64_t);
    order = fy__malloc(bytes);
    tmp = fy__malloc(bytes);
    group = fy__malloc(bytes);
    first = fy__malloc(bytes);
    count = fy__malloc(bytes);
    remap = fy__malloc(bytes);
    if (!order || !tmp || !group || !first || !count || !remap) {
        rc = fy__op_fail(c, FY_ENOMEM, "out of memory for %lld slices", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    sort_slices(&s, order, tmp, n);
    /* Groups of equal slices in sorted order: first occurrence and count each. */
    int64_t u = 0;
    for (int64_t p = 0; p < n; p++) {
        if (p == 0 || cmp_slices(&s, order[p - 1], order[p]) != 0) {
            first[u] = order[p];
            count[u] = 0;
            u++;
        }
        count[u - 1]++;
        group[order[p]] = u - 1;
    }
    /* remap: sorted group -> output position (identity when sorted, else order of
     * first occurrence). */
    for (int64_t g = 0; g < u; g++)
        remap[g] = sorted ? g : -1;
    if (!sorted) {
        int64_t next = 0;
        for (int64_t i = 0; i < n; i++)
            if (remap[group[i]] < 0)
                remap[group[i]] = next++;
    }
    int64_t dims[FY_MAX_RANK];
    if (a < 0) {
        dims[0] = u;
        rc = out_alloc(c, 0, x->dtype, 1, dims);
    } else {
        for (int d = 0; d < x->rank; d++)
            dims[d] = x->dims[d];
        dims[a] = u;
        rc = out_alloc(c, 0, x->dtype, x->rank, dims);
    }
    if (rc != FY_OK)
        goto done;
    for (int64_t g = 0; g < u; g++)
        for (int64_t o = 0; o < s.outer; o++)
            copy_run(&c->out[0], (o * u + remap[g]) * s.inner, x, (o * n + first[g]) * s.inner,
                     s.inner);
    int64_t lens[4] = {0, u, n, u};
    for (int k = 1; k < 4 && k < c->n_out; k++) {
        if ((rc = out_alloc(c, k, FY_DTYPE_I64, 1, &lens[k])) != FY_OK)
            goto done;
        int64_t *y = c->out[k].data;
        if (k == 2) {
            for (int64_t i = 0; i < n; i++)
                y[i] = remap[group[i]];
        } else {
            for (int64_t g = 0; g < u; g++)
                y[remap[g]] = k == 1 ? first[g] : count[g];
        }
    }
    rc = FY_OK;
done:
    fy__free(order);
    fy__free(tmp);
    fy__free(group);
    fy__free(first);
    fy__free(count);
    fy__free(remap);
    return rc;
}

const fy__op_def fy__ops_shape[] = {
    {"Reshape", "", op_reshape},
    {"Flatten", "", op_flatten},
    {"Squeeze", "", op_squeeze},
    {"Unsqueeze", "", op_unsqueeze},
    {"Transpose", "", op_transpose},
    {"Concat", "", op_concat},
    {"Split", "", op_split},
    {"Slice", "", op_slice},
    {"Expand", "", op_expand},
    {"Tile", "", op_tile},
    {"Shape", "", op_shape},
    {"Size", "", op_size},
    {"Gather", "", op_gather},
    {"GatherElements", "", op_gather_elements},
    {"GatherND", "", op_gather_nd},
    {"ScatterElements", "", op_scatter_elements},
    {"Scatter", "", op_scatter_elements},
    {"ScatterND", "", op_scatter_nd},
    {"Range", "", op_range},
    {"ConstantOfShape", "", op_constant_of_shape},
    {"Constant", "", op_constant},
    {"EyeLike", "", op_eye_like},
    {"OneHot", "", op_one_hot},
    {"DepthToSpace", "", op_depth_to_space},
    {"SpaceToDepth", "", op_space_to_depth},
    {"Trilu", "", op_trilu},
    {"NonZero", "", op_nonzero},
    {"Compress", "", op_compress},
    {"ReverseSequence", "", op_reverse_sequence},
    {"Unique", "", op_unique},
    {NULL, NULL, NULL},
};
