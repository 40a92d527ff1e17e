/* SPDX-License-Identifier: MIT */
/* TensorFlow Serving REST bodies: predict requests in the row ("instances") and
 * columnar ("inputs") forms, their responses, and model metadata. See
 * docs/protocols.md for the shapes ferry accepts and the link to the spec. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

int fy__codec_tf_decode(const char *body, size_t len, const fy_model *m, fy__req *out, fy_diag *d)
{
    fy__req r;
    json_t *j = NULL;
    memset(&r, 0, sizeof r);
    int rc = fy__codec_parse(body, len, &j, d);
    if (rc != FY_OK)
        goto done;
    const char *key;
    json_t *val, *inst = NULL, *cols = NULL;
    json_object_foreach(j, key, val)
    {
        if (strcmp(key, "instances") == 0) {
            inst = val;
        } else if (strcmp(key, "inputs") == 0) {
            cols = val;
        } else if (strcmp(key, "signature_name") == 0) {
            if (!json_is_string(val)) {
                rc = fy__diag_set(d, FY_EINVAL, "'signature_name' must be a string");
                goto done;
            }
            if (strcmp(json_string_value(val), "serving_default") != 0) {
                rc = fy__diag_set(d, FY_EINVAL,
                                  "signature_name '%s' not found: ferry models have only "
                                  "'serving_default'",
                                  json_string_value(val));
                goto done;
            }
        } else {
            rc = fy__diag_set(d, FY_EINVAL,
                              "unknown field '%s' (a predict request has 'instances' or "
                              "'inputs', and optionally 'signature_name')",
                              key);
            goto done;
        }
    }
    if (inst && cols) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "give either 'instances' (row form) or 'inputs' (columnar form), not "
                          "both");
    } else if (inst) {
        rc = fy__codec_rows(inst, 0, m, &r, d);
    } else if (cols) {
        r.columnar = 1;
        rc = fy__codec_columns(cols, m, &r, d);
    } else {
        rc = fy__diag_set(d, FY_EINVAL,
                          "missing 'instances' (row form) or 'inputs' (columnar "
                          "form)");
    }
done:
    json_decref(j);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}

int fy__codec_tf_encode(const fy_model *m, const fy__req *req, int n_out, const fy_tensor *out,
                        char **body, size_t *len, fy_diag *d)
{
    fy__sb s = {0};
    int rc;
    if (n_out < 1)
        return fy__diag_set(d, FY_EINVAL, "the model produced no outputs");
    if (!req->columnar) {
        fy__sb_puts(&s, "{\"predictions\":[");
        if ((rc = fy__sb_rows(&s, m, req, n_out, out, d)) != FY_OK) {
            fy__free(s.buf);
            return rc;
        }
        fy__sb_puts(&s, "]}");
        return fy__sb_finish(&s, body, len, d);
    }
    /* Columnar: whole tensors, batch dimension included; named when several. */
    fy__sb_puts(&s, n_out > 1 ? "{\"outputs\":{" : "{\"outputs\":");
    for (int k = 0; k < n_out; k++) {
        if (n_out > 1) {
            fy_io_desc io;
            if (k)
                fy__sb_puts(&s, ",");
            fy__sb_jstr(&s, fy_model_output(m, k, &io) == FY_OK ? io.name : "?");
            fy__sb_puts(&s, ":");
        }
        fy__sb_values(&s, &out[k], 0, out[k].rank, out[k].dims);
    }
    fy__sb_puts(&s, n_out > 1 ? "}}" : "}");
    return fy__sb_finish(&s, body, len, d);
}

static const char *tf_dtype(fy_dtype dt)
{
    switch (dt) {
    case FY_DTYPE_F32: return "DT_FLOAT";
    case FY_DTYPE_F64: return "DT_DOUBLE";
    case FY_DTYPE_F16: return "DT_HALF";
    case FY_DTYPE_BF16: return "DT_BFLOAT16";
    case FY_DTYPE_I8: return "DT_INT8";
    case FY_DTYPE_I16: return "DT_INT16";
    case FY_DTYPE_I32: return "DT_INT32";
    case FY_DTYPE_I64: return "DT_INT64";
    case FY_DTYPE_U8: return "DT_UINT8";
    case FY_DTYPE_U16: return "DT_UINT16";
    case FY_DTYPE_U32: return "DT_UINT32";
    case FY_DTYPE_U64: return "DT_UINT64";
    case FY_DTYPE_BOOL: return "DT_BOOL";
    case FY_DTYPE_STRING: return "DT_STRING";
    default: return "DT_INVALID";
    }
}

/* TensorInfo as TF Serving prints it (proto3 JSON: int64 sizes as strings). */
static void tensor_info(fy__sb *s, const fy_io_desc *io)
{
    fy__sb_jstr(s, io->name);
    fy__sb_puts(s, ":{\"dtype\":\"");
    fy__sb_puts(s, tf_dtype(io->dtype));
    fy__sb_puts(s, "\",\"tensor_shape\":");
    if (io->rank < 0) {
        fy__sb_puts(s, "{\"dim\":[],\"unknown_rank\":true}");
    } else {
        fy__sb_puts(s, "{\"dim\":[");
        for (int q = 0; q < io->rank; q++) {
            fy__sb_puts(s, q ? ",{\"size\":\"" : "{\"size\":\"");
            fy__sb_int(s, io->dims[q] < 0 ? -1 : io->dims[q]);
            fy__sb_puts(s, "\",\"name\":");
            fy__sb_jstr(s, io->dims[q] < 0 && io->dim_names[q] ? io->dim_names[q] : "");
            fy__sb_puts(s, "}");
        }
        fy__sb_puts(s, "],\"unknown_rank\":false}");
    }
    fy__sb_puts(s, ",\"name\":");
    fy__sb_jstr(s, io->name);
    fy__sb_puts(s, "}");
}

int fy__codec_tf_metadata(const char *name, const char *version, const fy_model *m, char **body,
                          size_t *len)
{
    fy__sb s = {0};
    fy__sb_puts(&s, "{\"model_spec\":{\"name\":");
    fy__sb_jstr(&s, name ? name : "");
    fy__sb_puts(&s, ",\"signature_name\":\"\",\"version\":");
    fy__sb_jstr(&s, version ? version : "");
    fy__sb_puts(&s, "},\"metadata\":{\"signature_def\":{\"signature_def\":{\"serving_default\":{");
    for (int side = 0; side < 2; side++) {
        int cnt = side ? fy_model_n_outputs(m) : fy_model_n_inputs(m), first = 1;
        fy__sb_puts(&s, side ? ",\"outputs\":{" : "\"inputs\":{");
        for (int i = 0; i < cnt; i++) {
            fy_io_desc io;
            if ((side ? fy_model_output(m, i, &io) : fy_model_input(m, i, &io)) != FY_OK)
                continue;
            if (!first)
                fy__sb_puts(&s, ",");
            first = 0;
            tensor_info(&s, &io);
        }
        fy__sb_puts(&s, "}");
    }
    fy__sb_puts(&s, ",\"method_name\":\"tensorflow/serving/predict\"}}}}}");
    return fy__sb_finish(&s, body, len, NULL);
}
