/* SPDX-License-Identifier: MIT */
/* fy_compress_model: runs the chosen passes in order (pruning, calibration,
 * quantization or weight sharing), accounts for each layer, drops initializers
 * nothing reads any more and encodes the result. Plus the model-wide counts and
 * the in-process speed measurement the report uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/core.h"
#include "../onnx/onnx.h"
#include "ferry/engine.h"
#include "quant_int.h"

static void add_method(fy_compress_result *res, const char *m)
{
    if (res && res->n_methods < 8)
        snprintf(res->methods[res->n_methods++], sizeof res->methods[0], "%s", m);
}

static int64_t tensor_nonzero(const Onnx__TensorProto *t, int64_t cnt)
{
    const uint8_t *p = t->has_raw_data ? t->raw_data.data : NULL;
    int64_t nz = 0;
    if (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        if (p)
            for (int64_t i = 0; i < cnt; i++) {
                float v;
                memcpy(&v, p + i * 4, 4);
                nz += v != 0.0f;
            }
        else
            for (size_t i = 0; i < t->n_float_data; i++)
                nz += t->float_data[i] != 0.0f;
    } else if (p && (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
                     t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16)) {
        for (int64_t i = 0; i < cnt; i++)
            nz += ((p[i * 2] | (p[i * 2 + 1] << 8)) & 0x7fff) != 0;
    } else if (p && (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 ||
                     t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8)) {
        for (int64_t i = 0; i < cnt; i++)
            nz += p[i] != 0;
    } else {
        nz = cnt;
    }
    return nz;
}

static int64_t tensor_numel(const Onnx__TensorProto *t)
{
    int64_t c = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        c *= t->dims[i];
    return c;
}

/* Remove initializers no node reads and no output names (a replaced bias). */
static void drop_unused(qmodel *q)
{
    for (int i = (int)q->g->n_initializer - 1; i >= 0; i--)
        if (fy__q_uses(q, q->g->initializer[i]->name) == 0)
            fy__q_drop_init(q, i);
}

static int check_opts(const fy_compress_opts *o, fy_diag *d)
{
    if (o->prune < 0 || o->prune >= 1 || isnan(o->prune))
        return fy__diag_set(d, FY_EINVAL, "prune threshold must be in [0, 1), got %g", o->prune);
    if (o->prune_global < 0 || o->prune_global >= 1 || isnan(o->prune_global))
        return fy__diag_set(d, FY_EINVAL, "global sparsity must be in [0, 1), got %g",
                            o->prune_global);
    if (o->prune_structured < 0 || o->prune_structured >= 1 || isnan(o->prune_structured))
        return fy__diag_set(d, FY_EINVAL, "structured fraction must be in [0, 1), got %g",
                            o->prune_structured);
    if (o->share_bits < 0 || o->share_bits > FY_SHARE_MAX_BITS)
        return fy__diag_set(d, FY_EINVAL, "weight sharing wants 1 to %d bits, got %d",
                            FY_SHARE_MAX_BITS, o->share_bits);
    if (o->share_bits && o->quantize != FY_QUANT_NONE)
        return fy__diag_set(d, FY_EINVAL, "weight sharing and quantization cannot be combined");
    if (o->quantize < FY_QUANT_NONE || o->quantize > FY_QUANT_BF16)
        return fy__diag_set(d, FY_EINVAL, "unknown quantization mode %d", (int)o->quantize);
    if (o->calibrate < FY_CALIB_MINMAX || o->calibrate > FY_CALIB_ENTROPY)
        return fy__diag_set(d, FY_EINVAL, "unknown calibration method %d", (int)o->calibrate);
    if (o->quantize == FY_QUANT_INT8 && (!o->calibration || o->calibration->count <= 0))
        return fy__diag_set(
            d, FY_EINVAL, "int8 static quantization needs calibration data (or use int8-dynamic)");
    if (o->n_exclude < 0 || o->n_exclude > FY_COMPRESS_MAX_EXCLUDE)
        return fy__diag_set(d, FY_ELIMIT, "at most %d excluded names", FY_COMPRESS_MAX_EXCLUDE);
    return FY_OK;
}

int fy_compress_model(const void *buf, size_t len, const fy_compress_opts *opts, void **out,
                      size_t *out_len, fy_compress_result *res, fy_diag *d)
{
    fy_compress_opts o = opts ? *opts : (fy_compress_opts){0};
    int rc = check_opts(&o, d);
    if (rc != FY_OK)
        return rc;
    if (res)
        memset(res, 0, sizeof *res);
    qmodel q;
    qlayer *L = NULL;
    fy__qrange *ranges = NULL;
    const char **probes = NULL;
    int n = 0;
    if ((rc = fy__q_open(&q, buf, len, d)) != FY_OK)
        return rc;
    if ((rc = fy__q_layers(&q, &o, res, &L, &n)) != FY_OK)
        goto done;
    for (int i = 0; i < n; i++)
        if (L[i].rep) {
            const Onnx__TensorProto *t = q.g->initializer[L[i].init];
            L[i].rep->params_before = tensor_numel(t);
            L[i].rep->nonzero_before = tensor_nonzero(t, L[i].rep->params_before);
        }
    if (o.prune > 0) {
        if ((rc = fy__prune_layers(&q, L, n, o.prune)) != FY_OK)
            goto done;
        add_method(res, "prune");
    }
    if (o.prune_global > 0) {
        if ((rc = fy__prune_global(&q, L, n, o.prune_global)) != FY_OK)
            goto done;
        add_method(res, "prune-global");
    }
    if (o.prune_structured > 0) {
        if ((rc = fy__prune_structured(&q, L, n, o.prune_structured)) != FY_OK)
            goto done;
        add_method(res, "prune-structured");
    }
    /* Non-zeros of float layers now; quantization and sharing overwrite theirs. */
    for (int i = 0; i < n; i++)
        if (L[i].rep) {
            const Onnx__TensorProto *t = q.g->initializer[L[i].init];
            L[i].rep->params_after = tensor_numel(t);
            L[i].rep->nonzero_after = tensor_nonzero(t, L[i].rep->params_after);
        }
    if (o.quantize == FY_QUANT_INT8 || o.quantize == FY_QUANT_INT8_DYNAMIC) {
        ranges = fy__calloc((size_t)n * 2 + 1, sizeof *ranges);
        probes = fy__calloc((size_t)n * 2 + 1, sizeof *probes);
        if (!ranges || !probes) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < 2 * n; i++)
            ranges[i] = (fy__qrange){1, -1};
        for (int i = 0; i < n; i++) {
            probes[i] = q.g->node[L[i].node]->input[0];
            if (L[i].kind == QL_CONV && !L[i].excluded)
                probes[n + i] = fy__conv_out(&q, &L[i], NULL);
        }
        if (o.quantize == FY_QUANT_INT8 &&
            (rc = fy__calibrate(&q, probes, 2 * n, &o, ranges, d)) != FY_OK)
            goto done;
        if ((rc = fy__quantize_int8(&q, L, n, &o, ranges)) != FY_OK)
            goto done;
        add_method(res, o.quantize == FY_QUANT_INT8 ? "int8" : "int8-dynamic");
    } else if (o.quantize == FY_QUANT_FP16 || o.quantize == FY_QUANT_BF16) {
        if ((rc = fy__quantize_half(&q, L, n, o.quantize == FY_QUANT_BF16)) != FY_OK)
            goto done;
        add_method(res, o.quantize == FY_QUANT_BF16 ? "bf16" : "fp16");
    }
    if (o.share_bits > 0) {
        if ((rc = fy__share_weights(&q, L, n, o.share_bits, o.seed)) != FY_OK)
            goto done;
        char m[32];
        snprintf(m, sizeof m, "share-weights(%d bits)", o.share_bits);
        add_method(res, m);
    }
    drop_unused(&q);
    void *bytes = NULL;
    size_t nb = 0;
    if ((rc = fy__q_pack(&q, &bytes, &nb)) != FY_OK)
        goto done;
    /* The result must load: a rewrite bug is ours, but the user should hear it
     * here rather than from the runtime that gets the file. */
    fy_model *check = NULL;
    if ((rc = fy_model_load_buffer(&check, bytes, nb, NULL, NULL, d)) != FY_OK) {
        fy__free(bytes);
        goto done;
    }
    fy_model_free(check);
    *out = bytes;
    *out_len = nb;
done:
    fy__free(L);
    fy__free(ranges);
    fy__free(probes);
    fy__q_close(&q);
    return rc;
}

void fy_compress_free_buf(void *p)
{
    fy__free(p);
}

/* ---- counts ---- */

int fy_compress_count(const fy_model *m, fy_model_counts *out)
{
    const fy__graph *g = m->graph;
    memset(out, 0, sizeof *out);
    /* uint8 index tensors expanded by Gather(codebook, Cast(index)): count decoded. */
    char *decoded = fy__calloc((size_t)g->n_values + 1, 1);
    if (!decoded)
        return FY_ENOMEM;
    for (int i = 0; i < g->n_nodes; i++) {
        const fy__node *nd = &g->nodes[i];
        if (strcmp(nd->op_type, "Gather") != 0 || nd->n_inputs < 2 || nd->inputs[0] < 0 ||
            nd->inputs[1] < 0)
            continue;
        const fy__value *cb = &g->values[nd->inputs[0]];
        int p = g->values[nd->inputs[1]].producer;
        if (!cb->init || cb->init->dtype != FY_DTYPE_F32 || cb->init->rank != 1 || p < 0 ||
            strcmp(g->nodes[p].op_type, "Cast") != 0 || g->nodes[p].n_inputs < 1 ||
            g->nodes[p].inputs[0] < 0)
            continue;
        const fy__value *ix = &g->values[g->nodes[p].inputs[0]];
        if (!ix->init || ix->init->dtype != FY_DTYPE_U8)
            continue;
        decoded[g->nodes[p].inputs[0]] = 1;
        const uint8_t *v = ix->init->data;
        const float *c = cb->init->data;
        int64_t k = cb->init->dims[0], cnt = fy_tensor_numel(ix->init);
        for (int64_t j = 0; j < cnt; j++)
            out->nonzero += v[j] < k && c[v[j]] != 0.0f;
    }
    for (int i = 0; i < g->n_values; i++) {
        const fy_tensor *t = g->values[i].init;
        if (!t)
            continue;
        int64_t cnt = fy_tensor_numel(t);
        out->params += cnt;
        if (decoded[i])
            continue;
        size_t es = fy_dtype_size(t->dtype);
        const uint8_t *p = t->data;
        for (int64_t j = 0; j < cnt && es; j++) {
            int nz = 0;
            if (t->dtype == FY_DTYPE_F32) {
                float v;
                memcpy(&v, p + j * 4, 4);
                nz = v != 0.0f;
            } else if (t->dtype == FY_DTYPE_F16 || t->dtype == FY_DTYPE_BF16) {
                uint16_t v;
                memcpy(&v, p + j * 2, 2);
                nz = (v & 0x7fff) != 0;
            } else {
                for (size_t b = 0; b < es && !nz; b++)
                    nz = p[j * (int64_t)es + (int64_t)b] != 0;
            }
            out->nonzero += nz;
        }
    }
    fy__free(decoded);
    return FY_OK;
}

/* ---- speed ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define SPEED_MAX_MODELS 8

#define SPEED_ROUNDS 3

/* Time models side by side: run r of every model before run r + 1 of any, so a
 * load change on a shared machine hits all of them alike. Each round uses fresh
 * sessions and input buffers: the same model's timing depends on where its input
 * landed in memory (2 vs 6 ms at batch 32 for the example, measured; alignment,
 * probably), so the median is taken over the runs of SPEED_ROUNDS placements. */
static int time_batch(const fy_model *const *m, int n, const fy_session_opts *so,
                      const fy_dataset *ds, float scale, int64_t batch, int runs,
                      double *median_s, fy_diag *d)
{
    fy_tensor x[SPEED_MAX_MODELS] = {{0}}, *outs[SPEED_MAX_MODELS] = {0};
    fy_session *s[SPEED_MAX_MODELS] = {0};
    static double t[SPEED_MAX_MODELS][SPEED_ROUNDS * 64]; /* 12 KiB: off the stack */
    int rc = FY_OK, nt = 0;
    if (runs > 64)
        runs = 64;
    for (int i = 0; i < n && rc == FY_OK; i++) {
        rc = fy__fill_batch(m[i], ds, 0, batch, scale, &x[i], d);
        outs[i] = fy__calloc((size_t)fy_model_n_outputs(m[i]) + 1, sizeof *outs[i]);
        if (rc == FY_OK && !outs[i])
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    for (int round = 0; round < SPEED_ROUNDS && rc == FY_OK; round++) {
        for (int i = 0; i < n && rc == FY_OK; i++) {
            fy_tensor_deinit(&x[i]);
            rc = fy__fill_batch(m[i], ds, 0, batch, scale, &x[i], d);
            if (rc == FY_OK)
                rc = fy_session_create(&s[i], m[i], so, d);
        }
        for (int r = -2; r < runs && rc == FY_OK; r++) /* two warm-up runs */
            for (int i = 0; i < n && rc == FY_OK; i++) {
                int n_out = fy_model_n_outputs(m[i]);
                double t0 = now_s();
                rc = fy_session_run(s[i], 1, &x[i], n_out, outs[i], d);
                if (r >= 0)
                    t[i][nt + r] = now_s() - t0;
                for (int k = 0; rc == FY_OK && k < n_out; k++)
                    fy_tensor_deinit(&outs[i][k]);
            }
        for (int i = 0; i < n; i++) {
            fy_session_free(s[i]);
            s[i] = NULL;
        }
        nt += runs;
    }
    for (int i = 0; i < n; i++) {
        fy__free(outs[i]);
        fy_tensor_deinit(&x[i]);
        if (rc != FY_OK)
            continue;
        qsort(t[i], (size_t)nt, sizeof t[i][0], dbl_cmp);
        median_s[i] = nt % 2 ? t[i][nt / 2] : 0.5 * (t[i][nt / 2 - 1] + t[i][nt / 2]);
    }
    return rc;
}

int fy_compress_speed(const fy_model *const *m, int n, const fy_dataset *ds, float input_scale,
                      int runs, int threads, fy_speed *out, fy_diag *d)
{
    float scale = input_scale != 0 ? input_scale : 1.0f / 255.0f;
    fy_session_opts so = {0};
    so.threads = threads;
    double t1[SPEED_MAX_MODELS], t32[SPEED_MAX_MODELS];
    if (n < 1 || n > SPEED_MAX_MODELS)
        return fy__diag_set(d, FY_EINVAL, "1 to %d models at a time", SPEED_MAX_MODELS);
    int rc = time_batch(m, n, &so, ds, scale, 1, runs > 0 ? runs : 20, t1, d);
    if (rc == FY_OK)
        rc = time_batch(m, n, &so, ds, scale, 32, runs > 0 ? runs : 10, t32, d);
    for (int i = 0; i < n && rc == FY_OK; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].latency_b1_ms = t1[i] * 1e3;
        out[i].latency_b32_ms = t32[i] * 1e3;
        out[i].throughput_b1 = t1[i] > 0 ? 1.0 / t1[i] : 0;
        out[i].throughput_b32 = t32[i] > 0 ? 32.0 / t32[i] : 0;
    }
    return rc;
}
