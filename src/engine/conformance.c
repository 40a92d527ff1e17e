/* SPDX-License-Identifier: MIT */
/* One ONNX backend-test case: load, run each data set, compare with ONNX's tolerances. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../onnx/onnx.h"
#include "ferry/conformance.h"
#include "ferry/engine.h"

#define MAX_IO 64

static int set_reason(fy_case_result *r, fy_case_status st, const char *fmt, const char *detail)
{
    r->status = st;
    snprintf(r->reason, sizeof r->reason, fmt, detail);
    return FY_OK;
}

static int is_unsupported(int rc)
{
    return rc == FY_EUNSUPPORTED;
}

/* Compare one output; returns 0 if equal within tolerance and writes why not into why. */
static int compare(const fy_tensor *got, const fy_tensor *want, double *max_diff, char *why,
                   size_t n)
{
    char a[128], b[128];
    if (got->dtype != want->dtype || got->rank != want->rank ||
        memcmp(got->dims, want->dims, (size_t)got->rank * sizeof got->dims[0]) != 0) {
        snprintf(why, n, "got %s, expected %s", fy_tensor_describe(got, a, sizeof a),
                 fy_tensor_describe(want, b, sizeof b));
        return -1;
    }
    int64_t numel = fy_tensor_numel(want);
    int is_float = want->dtype == FY_DTYPE_F32 || want->dtype == FY_DTYPE_F64 ||
                   want->dtype == FY_DTYPE_F16 || want->dtype == FY_DTYPE_BF16;
    for (int64_t i = 0; i < numel; i++) {
        if (!is_float) {
            size_t es = fy_dtype_size(want->dtype);
            if (memcmp((const char *)got->data + (size_t)i * es,
                       (const char *)want->data + (size_t)i * es, es) != 0) {
                snprintf(why, n, "element %lld differs (integer/bool output)", (long long)i);
                return -1;
            }
            continue;
        }
        double x, y;
        switch (want->dtype) {
        case FY_DTYPE_F32:
            x = ((const float *)got->data)[i];
            y = ((const float *)want->data)[i];
            break;
        case FY_DTYPE_F64:
            x = ((const double *)got->data)[i];
            y = ((const double *)want->data)[i];
            break;
        case FY_DTYPE_F16:
            x = fy_f16_to_f32(((const uint16_t *)got->data)[i]);
            y = fy_f16_to_f32(((const uint16_t *)want->data)[i]);
            break;
        default:
            x = fy_bf16_to_f32(((const uint16_t *)got->data)[i]);
            y = fy_bf16_to_f32(((const uint16_t *)want->data)[i]);
            break;
        }
        if (isnan(y) && isnan(x))
            continue;
        if (isinf(y) && x == y)
            continue;
        double diff = fabs(x - y);
        if (!(diff <= diff) || isinf(diff)) {
            snprintf(why, n, "element %lld: got %.9g, expected %.9g", (long long)i, x, y);
            return -1;
        }
        if (diff > *max_diff)
            *max_diff = diff;
        if (diff > FY_CONFORMANCE_ATOL + FY_CONFORMANCE_RTOL * fabs(y)) {
            snprintf(why, n, "element %lld: got %.9g, expected %.9g (diff %.3g)", (long long)i, x,
                     y, diff);
            return -1;
        }
    }
    return 0;
}

static int read_pb(const char *path, fy_tensor *t, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, FY_MODEL_MAX_BYTES, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    rc = fy_tensor_from_onnx_pb(t, buf, len, d);
    fy__free(buf);
    return rc;
}

static int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[4096];
    for (;;) {
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        FILE *f = fopen(path, "rb");
        if (!f)
            return n;
        fclose(f);
        if (++n >= MAX_IO)
            return n;
    }
}

/* ONNX 1.12 stores bfloat16 test tensors as uint16 bit patterns; read them as
 * bfloat16 where the model declares that type. */
static void bf16_fixup(fy_tensor *t, fy_dtype declared)
{
    if (declared == FY_DTYPE_BF16 && t->dtype == FY_DTYPE_U16)
        t->dtype = FY_DTYPE_BF16;
}

static int run_set(fy_session *s, const fy_model *m, const char *set_dir, fy_case_result *r)
{
    fy_diag d = {{0}};
    fy_tensor in[MAX_IO], want[MAX_IO], got[MAX_IO];
    int n_in = count_files(set_dir, "input"), n_out = count_files(set_dir, "output");
    int loaded_in = 0, loaded_out = 0, ran = 0, rc = FY_OK;
    char path[4200];
    memset(got, 0, sizeof got);
    if (n_in != fy_model_n_inputs(m)) {
        char msg[128];
        snprintf(msg, sizeof msg, "%d input files for %d model inputs", n_in, fy_model_n_inputs(m));
        /* Optional inputs left out by the test are legal in ONNX; ferry binds by position. */
        set_reason(r, n_in < fy_model_n_inputs(m) ? FY_CASE_SKIP : FY_CASE_FAIL, "%s", msg);
        goto done;
    }
    for (; loaded_in < n_in; loaded_in++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set_dir, loaded_in);
        if ((rc = read_pb(path, &in[loaded_in], &d)) != FY_OK) {
            set_reason(r, is_unsupported(rc) ? FY_CASE_SKIP : FY_CASE_FAIL, "input: %s", d.msg);
            goto done;
        }
        fy_io_desc io;
        fy_model_input(m, loaded_in, &io);
        bf16_fixup(&in[loaded_in], io.dtype);
    }
    for (; loaded_out < n_out; loaded_out++) {
        snprintf(path, sizeof path, "%s/output_%d.pb", set_dir, loaded_out);
        if ((rc = read_pb(path, &want[loaded_out], &d)) != FY_OK) {
            set_reason(r, is_unsupported(rc) ? FY_CASE_SKIP : FY_CASE_FAIL, "expected output: %s",
                       d.msg);
            goto done;
        }
        fy_io_desc io;
        if (fy_model_output(m, loaded_out, &io) == FY_OK)
            bf16_fixup(&want[loaded_out], io.dtype);
    }
    if (n_out > fy_model_n_outputs(m)) {
        set_reason(r, FY_CASE_FAIL, "%s", "more expected outputs than model outputs");
        goto done;
    }
    /* Twice: the first run records the session's memory plan, the second runs in
     * the planned arena (src/engine/plan.c); both must give the expected outputs. */
    for (int pass = 0; pass < 2; pass++) {
        if (ran) {
            for (int i = 0; i < n_out; i++)
                fy_tensor_deinit(&got[i]);
            ran = 0;
        }
        if ((rc = fy_session_run(s, n_in, in, n_out, got, &d)) != FY_OK) {
            set_reason(r, is_unsupported(rc) ? FY_CASE_SKIP : FY_CASE_FAIL,
                       pass ? "second (planned) run: %s" : "run: %s", d.msg);
            goto done;
        }
        ran = 1;
        for (int i = 0; i < n_out; i++) {
            char why[256];
            if (compare(&got[i], &want[i], &r->max_abs_diff, why, sizeof why) != 0) {
                char msg[400];
                fy_io_desc od;
                fy_model_output(m, i, &od);
                snprintf(msg, sizeof msg, "output '%s'%s: %s", od.name,
                         pass ? " (second, planned run)" : "", why);
                set_reason(r, FY_CASE_FAIL, "%s", msg);
                goto done;
            }
        }
    }
    r->n_sets++;
done:
    for (int i = 0; i < loaded_in; i++)
        fy_tensor_deinit(&in[i]);
    for (int i = 0; i < loaded_out; i++)
        fy_tensor_deinit(&want[i]);
    if (ran)
        for (int i = 0; i < n_out; i++)
            fy_tensor_deinit(&got[i]);
    return r->status == FY_CASE_PASS ? FY_OK : FY_EINVAL;
}

int fy_conformance_case(const char *dir, fy_case_result *r)
{
    memset(r, 0, sizeof *r);
    fy_diag d = {{0}};
    fy_model *m = NULL;
    fy_session *s = NULL;
    char path[4200];
    snprintf(r->op, sizeof r->op, "?");
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    int rc = fy_model_load(&m, path, NULL, &d);
    if (rc != FY_OK) {
        set_reason(r, is_unsupported(rc) ? FY_CASE_SKIP : FY_CASE_FAIL, "load: %s", d.msg);
        return FY_OK;
    }
    const fy__graph *g = m->graph;
    if (g->n_nodes == 1)
        snprintf(r->op, sizeof r->op, "%s", g->nodes[0].op_type);
    else
        snprintf(r->op, sizeof r->op, "multi-node");
    for (int i = 0; i < g->n_outputs; i++)
        if (g->values[g->outputs[i]].info.not_tensor) {
            set_reason(r, FY_CASE_SKIP, "output '%s' is a sequence, map or optional",
                       g->values[g->outputs[i]].name);
            goto done;
        }
    if ((rc = fy_session_create(&s, m, NULL, &d)) != FY_OK) {
        set_reason(r, is_unsupported(rc) ? FY_CASE_SKIP : FY_CASE_FAIL, "%s", d.msg);
        goto done;
    }
    /* Data sets in numeric order; stop at the first that fails. */
    for (int k = 0; k < 1000; k++) {
        snprintf(path, sizeof path, "%s/test_data_set_%d", dir, k);
        DIR *dd = opendir(path);
        if (!dd)
            break;
        closedir(dd);
        if (run_set(s, m, path, r) != FY_OK)
            break;
    }
    if (r->status == FY_CASE_PASS && r->n_sets == 0)
        set_reason(r, FY_CASE_SKIP, "%s", "no test_data_set_N folder");
done:
    fy_session_free(s);
    fy_model_free(m);
    return FY_OK;
}
