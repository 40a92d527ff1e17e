/* SPDX-License-Identifier: MIT */
/* KServe V2 / Open Inference Protocol REST bodies: infer requests (JSON tensors and
 * the binary tensor data extension), infer responses and model metadata. See
 * docs/protocols.md for the shapes ferry accepts and the links to the specs. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* Binary tensor data is little-endian on the wire and copied as is. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the V2 binary tensor data extension needs a little-endian host"
#endif

static const struct {
    const char *name;
    fy_dtype dt;
} v2_types[] = {
    {"BOOL", FY_DTYPE_BOOL},  {"UINT8", FY_DTYPE_U8},     {"UINT16", FY_DTYPE_U16},
    {"UINT32", FY_DTYPE_U32}, {"UINT64", FY_DTYPE_U64},   {"INT8", FY_DTYPE_I8},
    {"INT16", FY_DTYPE_I16},  {"INT32", FY_DTYPE_I32},    {"INT64", FY_DTYPE_I64},
    {"FP16", FY_DTYPE_F16},   {"FP32", FY_DTYPE_F32},     {"FP64", FY_DTYPE_F64},
    {"BF16", FY_DTYPE_BF16},  {"BYTES", FY_DTYPE_STRING},
};

const char *fy__v2_datatype(fy_dtype dt)
{
    for (size_t i = 0; i < sizeof v2_types / sizeof v2_types[0]; i++)
        if (v2_types[i].dt == dt)
            return v2_types[i].name;
    return NULL;
}

fy_dtype fy__v2_dtype(const char *datatype)
{
    for (size_t i = 0; datatype && i < sizeof v2_types / sizeof v2_types[0]; i++)
        if (strcmp(v2_types[i].name, datatype) == 0)
            return v2_types[i].dt;
    return FY_DTYPE_UNDEFINED;
}

static const char *dims_str(char *b, size_t n, int rank, const int64_t *dims)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < n)
        snprintf(b + k, n - k, "]");
    return b;
}

static const char *model_dims_str(char *b, size_t n, const fy_io_desc *io)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int i = 0; i < io->rank && k < n; i++) {
        const char *sep = i ? "," : "";
        if (io->dims[i] < 0)
            k += (size_t)snprintf(b + k, n - k, "%s%s", sep,
                                  io->dim_names[i] && io->dim_names[i][0] ? io->dim_names[i] : "?");
        else
            k += (size_t)snprintf(b + k, n - k, "%s%lld", sep, (long long)io->dims[i]);
    }
    if (k < n)
        snprintf(b + k, n - k, "]");
    return b;
}

static const char *io_names(const fy_model *m, int outputs, char *b, size_t n)
{
    size_t k = 0;
    int cnt = outputs ? fy_model_n_outputs(m) : fy_model_n_inputs(m);
    b[0] = 0;
    for (int i = 0; i < cnt && k < n; i++) {
        fy_io_desc io;
        if ((outputs ? fy_model_output(m, i, &io) : fy_model_input(m, i, &io)) == FY_OK)
            k += (size_t)snprintf(b + k, n - k, "%s%s", i ? ", " : "", io.name);
    }
    return b;
}

/* "parameters": an object of string, number or boolean values. */
static int get_params(json_t *obj, const char *where, json_t **out, fy_diag *d)
{
    json_t *p = json_object_get(obj, "parameters");
    *out = NULL;
    if (!p || json_is_null(p))
        return FY_OK;
    if (!json_is_object(p))
        return fy__diag_set(d, FY_EINVAL, "%s'parameters' must be an object", where);
    *out = p;
    return FY_OK;
}

static int get_bool_param(json_t *params, const char *key, const char *where, int *val, fy_diag *d)
{
    json_t *v = params ? json_object_get(params, key) : NULL;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return fy__diag_set(d, FY_EINVAL, "%s'%s' must be true or false", where, key);
    *val = json_is_true(v);
    return 1;
}

/* One request input: name, datatype and shape against the model, then the data
 * from JSON or from the binary section at *bin_off. */
static int decode_input(json_t *in, size_t idx, const fy_model *m, fy__req *r, int *seen,
                        const unsigned char *bin, size_t bin_len, size_t *bin_off, int64_t *total,
                        fy_diag *d)
{
    char where[300], names[256], b1[160], b2[160];
    int rc;
    if (!json_is_object(in))
        return fy__diag_set(d, FY_EINVAL, "inputs[%zu] must be an object", idx);
    json_t *jn = json_object_get(in, "name");
    if (!json_is_string(jn))
        return fy__diag_set(d, FY_EINVAL, "inputs[%zu] has no 'name' string", idx);
    const char *name = json_string_value(jn);
    fy_io_desc io;
    int k = -1, n_in = fy_model_n_inputs(m);
    for (int i = 0; i < n_in && k < 0; i++)
        if (fy_model_input(m, i, &io) == FY_OK && strcmp(io.name, name) == 0)
            k = i;
    if (k < 0)
        return fy__diag_set(d, FY_EINVAL, "unknown input '%s' (the model's inputs: %s)", name,
                            io_names(m, 0, names, sizeof names));
    if (seen[k])
        return fy__diag_set(d, FY_EINVAL, "input '%s' is given twice", name);
    seen[k] = 1;
    snprintf(where, sizeof where, "input '%s': ", name);

    json_t *jt = json_object_get(in, "datatype");
    if (!json_is_string(jt))
        return fy__diag_set(d, FY_EINVAL, "%sno 'datatype' string (the model's is %s)", where,
                            fy__v2_datatype(io.dtype) ? fy__v2_datatype(io.dtype) : "?");
    const char *dtn = json_string_value(jt);
    fy_dtype dt = fy__v2_dtype(dtn);
    if (dt == FY_DTYPE_UNDEFINED)
        return fy__diag_set(d, FY_EINVAL,
                            "%sunknown datatype '%s' (BOOL, UINT8..UINT64, INT8..INT64, FP16, "
                            "FP32, FP64, BF16)",
                            where, dtn);
    if (dt == FY_DTYPE_STRING)
        return fy__diag_set(d, FY_EUNSUPPORTED, "%sdatatype BYTES is not supported", where);
    if (dt != io.dtype)
        return fy__diag_set(d, FY_EINVAL, "%sdatatype %s does not match the model's %s", where, dtn,
                            fy__v2_datatype(io.dtype) ? fy__v2_datatype(io.dtype) : "?");

    json_t *js = json_object_get(in, "shape");
    if (!json_is_array(js))
        return fy__diag_set(d, FY_EINVAL, "%sno 'shape' array", where);
    size_t rank = json_array_size(js);
    if (rank > FY_MAX_RANK)
        return fy__diag_set(d, FY_ELIMIT, "%sshape has %zu dimensions, more than %d", where, rank,
                            FY_MAX_RANK);
    int64_t dims[FY_MAX_RANK];
    for (size_t i = 0; i < rank; i++) {
        json_t *e = json_array_get(js, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return fy__diag_set(d, FY_EINVAL, "%sshape[%zu] must be a non-negative integer", where,
                                i);
        dims[i] = json_integer_value(e);
    }
    if (io.rank >= 0 && (int)rank != io.rank)
        return fy__diag_set(d, FY_EINVAL, "%sshape %s has rank %zu; the model takes %s", where,
                            dims_str(b1, sizeof b1, (int)rank, dims), rank,
                            model_dims_str(b2, sizeof b2, &io));
    for (int i = 0; io.rank >= 0 && i < io.rank; i++)
        if (io.dims[i] >= 0 && io.dims[i] != dims[i])
            return fy__diag_set(d, FY_EINVAL,
                                "%sshape %s: dimension %d is %lld; the model takes %s", where,
                                dims_str(b1, sizeof b1, (int)rank, dims), i, (long long)dims[i],
                                model_dims_str(b2, sizeof b2, &io));
    if (rank >= 1 && dims[0] == 0)
        return fy__diag_set(d, FY_EINVAL, "%sshape %s has no rows", where,
                            dims_str(b1, sizeof b1, (int)rank, dims));
    int64_t numel = 1;
    for (size_t i = 0; i < rank; i++)
        if (__builtin_mul_overflow(numel, dims[i], &numel) || dims[i] > FY_REQ_MAX_ELEMENTS ||
            numel > FY_REQ_MAX_ELEMENTS)
            return fy__diag_set(d, FY_ELIMIT, "%sshape %s has more than %lld elements", where,
                                dims_str(b1, sizeof b1, (int)rank, dims),
                                (long long)FY_REQ_MAX_ELEMENTS);
    if (numel > FY_REQ_MAX_ELEMENTS - *total)
        return fy__diag_set(d, FY_ELIMIT, "the request has more than %lld elements",
                            (long long)FY_REQ_MAX_ELEMENTS);
    *total += numel;

    json_t *params, *data = json_object_get(in, "data");
    if ((rc = get_params(in, where, &params, d)) != FY_OK)
        return rc;
    json_t *jb = params ? json_object_get(params, "binary_data_size") : NULL;
    fy_tensor *t = &r->inputs[k];
    if (jb) {
        if (!json_is_integer(jb) || json_integer_value(jb) < 0)
            return fy__diag_set(d, FY_EINVAL, "%sbinary_data_size must be a non-negative integer",
                                where);
        if (data)
            return fy__diag_set(d, FY_EINVAL, "%sgives both 'data' and binary_data_size", where);
        uint64_t want = (uint64_t)numel * fy_dtype_size(dt);
        uint64_t size = (uint64_t)json_integer_value(jb);
        if (size != want)
            return fy__diag_set(
                d, FY_EINVAL, "%sbinary_data_size is %llu but shape %s of %s takes %llu bytes",
                where, (unsigned long long)size, dims_str(b1, sizeof b1, (int)rank, dims), dtn,
                (unsigned long long)want);
        if (size > bin_len - *bin_off)
            return fy__diag_set(d, FY_EINVAL,
                                "%sbinary data runs past the end of the body (%llu bytes at "
                                "offset %zu of the %zu binary bytes after the JSON)",
                                where, (unsigned long long)size, *bin_off, bin_len);
        if ((rc = fy_tensor_alloc(t, dt, (int)rank, dims, d)) != FY_OK)
            return rc;
        if (size)
            memcpy(t->data, bin + *bin_off, (size_t)size);
        *bin_off += (size_t)size;
        if (dt == FY_DTYPE_BOOL)
            for (int64_t i = 0; i < numel; i++)
                if (((const uint8_t *)t->data)[i] > 1)
                    return fy__diag_set(d, FY_EINVAL,
                                        "%sbinary BOOL element %lld is %u; must be 0 or 1", where,
                                        (long long)i, ((const uint8_t *)t->data)[i]);
        return FY_OK;
    }
    if (!data)
        return fy__diag_set(d, FY_EINVAL, "%sno 'data' (nor parameters.binary_data_size)", where);
    int drank;
    int64_t ddims[FY_MAX_RANK];
    where[strlen(where) - 2] = 0; /* "input 'x'" for the shared helpers */
    if ((rc = fy__codec_shape(data, &drank, ddims, where, d)) != FY_OK)
        return rc;
    int64_t dn = 1;
    for (int i = 0; i < drank; i++)
        if (__builtin_mul_overflow(dn, ddims[i], &dn))
            dn = -1;
    if (drank == 0)
        return fy__diag_set(d, FY_EINVAL, "%s: 'data' must be an array, found %s", where,
                            json_is_object(data)   ? "an object"
                            : json_is_string(data) ? "a string"
                                                   : "a single value");
    if (dn != numel)
        return fy__diag_set(d, FY_EINVAL,
                            "%s: 'data' of shape %s holds %lld elements but shape %s needs %lld",
                            where, dims_str(b2, sizeof b2, drank, ddims), (long long)dn,
                            dims_str(b1, sizeof b1, (int)rank, dims), (long long)numel);
    if ((rc = fy_tensor_alloc(t, dt, (int)rank, dims, d)) != FY_OK)
        return rc;
    return fy__codec_fill(t, 0, data, drank, ddims, where, d);
}

static int decode_outputs(json_t *outs, const fy_model *m, fy__req *r, fy_diag *d)
{
    char names[256], where[300];
    if (!json_is_array(outs))
        return fy__diag_set(d, FY_EINVAL, "'outputs' must be a list");
    size_t n = json_array_size(outs);
    if (n > FY_REQ_MAX_TENSORS)
        return fy__diag_set(d, FY_ELIMIT, "'outputs' lists %zu outputs, more than %d", n,
                            FY_REQ_MAX_TENSORS);
    int n_out = fy_model_n_outputs(m);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(outs, i), *params, *jn = json_object_get(o, "name");
        if (!json_is_object(o) || !json_is_string(jn))
            return fy__diag_set(d, FY_EINVAL, "outputs[%zu] must be an object with a 'name'", i);
        const char *name = json_string_value(jn);
        int found = 0;
        for (int k = 0; k < n_out && !found; k++) {
            fy_io_desc io;
            found = fy_model_output(m, k, &io) == FY_OK && strcmp(io.name, name) == 0;
        }
        if (!found)
            return fy__diag_set(d, FY_EINVAL, "unknown output '%s' (the model's outputs: %s)", name,
                                io_names(m, 1, names, sizeof names));
        for (int q = 0; q < r->n_outputs_wanted; q++)
            if (strcmp(r->outputs_wanted[q], name) == 0)
                return fy__diag_set(d, FY_EINVAL, "output '%s' is asked for twice", name);
        snprintf(where, sizeof where, "output '%s': ", name);
        int rc = get_params(o, where, &params, d);
        if (rc != FY_OK)
            return rc;
        int bin = r->binary_default;
        if (get_bool_param(params, "binary_data", where, &bin, d) < 0)
            return FY_EINVAL;
        char *dup = fy__strdup(name);
        if (!dup)
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        r->outputs_wanted[r->n_outputs_wanted] = dup;
        r->binary_wanted[r->n_outputs_wanted++] = bin;
    }
    return FY_OK;
}

int fy__codec_v2_decode(const char *body, size_t len, size_t json_len, const fy_model *m,
                        fy__req *out, fy_diag *d)
{
    int rc = json_len <= len ? fy__codec_v2_fast(body, len, json_len, m, out, d)
                             : FY__FAST_DECLINED;
    return rc == FY__FAST_DECLINED ? fy__codec_v2_decode_json(body, len, json_len, m, out, d) : rc;
}

int fy__codec_v2_decode_json(const char *body, size_t len, size_t json_len, const fy_model *m,
                             fy__req *out, fy_diag *d)
{
    fy__req r;
    json_t *j = NULL;
    int rc, seen[FY_REQ_MAX_TENSORS] = {0};
    char names[256];
    memset(&r, 0, sizeof r);
    if (json_len > len) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "Inference-Header-Content-Length is %zu but the body has only %zu "
                          "bytes",
                          json_len, len);
        goto done;
    }
    if ((rc = fy__codec_parse(body, json_len, &j, d)) != FY_OK)
        goto done;
    int n_in = fy_model_n_inputs(m);
    if (n_in < 1 || n_in > FY_REQ_MAX_TENSORS) {
        rc = fy__diag_set(d, n_in < 1 ? FY_EUNSUPPORTED : FY_ELIMIT,
                          "the model has %d inputs (ferry serves 1 to %d)", n_in,
                          FY_REQ_MAX_TENSORS);
        goto done;
    }
    json_t *jid = json_object_get(j, "id"), *params;
    if (jid && !json_is_string(jid)) {
        rc = fy__diag_set(d, FY_EINVAL, "'id' must be a string");
        goto done;
    }
    if (jid && !(r.id = fy__strdup(json_string_value(jid)))) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = get_params(j, "", &params, d)) != FY_OK)
        goto done;
    if (get_bool_param(params, "binary_data_output", "parameters: ", &r.binary_default, d) < 0) {
        rc = FY_EINVAL;
        goto done;
    }
    json_t *ins = json_object_get(j, "inputs");
    if (!json_is_array(ins) || json_array_size(ins) == 0) {
        rc =
            fy__diag_set(d, FY_EINVAL, "'inputs' must be a non-empty list (the model's inputs: %s)",
                         io_names(m, 0, names, sizeof names));
        goto done;
    }
    /* Binary tensor data follows the JSON, in the order the inputs are listed. */
    const unsigned char *bin = (const unsigned char *)body + json_len;
    size_t bin_len = len - json_len, bin_off = 0;
    int64_t total = 0;
    for (size_t i = 0; i < json_array_size(ins); i++)
        if ((rc = decode_input(json_array_get(ins, i), i, m, &r, seen, bin, bin_len, &bin_off,
                               &total, d)) != FY_OK)
            goto done;
    for (int k = 0; k < n_in; k++) {
        fy_io_desc io;
        if (!seen[k] && fy_model_input(m, k, &io) == FY_OK) {
            rc = fy__diag_set(d, FY_EINVAL, "missing input '%s' (the model's inputs: %s)", io.name,
                              io_names(m, 0, names, sizeof names));
            goto done;
        }
    }
    if (bin_off != bin_len) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "%zu bytes after the JSON header are not claimed by any input's "
                          "binary_data_size",
                          bin_len - bin_off);
        goto done;
    }
    r.n_inputs = n_in;
    json_t *outs = json_object_get(j, "outputs");
    if (outs && (rc = decode_outputs(outs, m, &r, d)) != FY_OK)
        goto done;
done:
    json_decref(j);
    if (rc == FY_OK)
        *out = r;
    else
        fy__req_deinit(&r);
    return rc;
}

int fy__codec_v2_encode(const char *model_name, const char *version, const fy_model *m,
                        const fy__req *req, int n_out, const fy_tensor *out, char **body,
                        size_t *len, size_t *json_len, fy_diag *d)
{
    int pick[FY_REQ_MAX_TENSORS], bin[FY_REQ_MAX_TENSORS], n = 0, rc = FY_OK;
    fy__sb s = {0};
    if (req->n_outputs_wanted > 0) {
        for (int i = 0; i < req->n_outputs_wanted && i < FY_REQ_MAX_TENSORS; i++) {
            int k = -1;
            for (int q = 0; q < n_out && k < 0; q++) {
                fy_io_desc io;
                if (fy_model_output(m, q, &io) == FY_OK &&
                    strcmp(io.name, req->outputs_wanted[i]) == 0)
                    k = q;
            }
            if (k < 0)
                return fy__diag_set(d, FY_EINVAL, "output '%s' was not computed",
                                    req->outputs_wanted[i]);
            pick[n] = k;
            bin[n++] = req->binary_wanted[i];
        }
    } else {
        if (n_out > FY_REQ_MAX_TENSORS)
            return fy__diag_set(d, FY_ELIMIT, "the model has %d outputs, more than %d", n_out,
                                FY_REQ_MAX_TENSORS);
        for (int k = 0; k < n_out; k++) {
            pick[n] = k;
            bin[n++] = req->binary_default;
        }
    }
    fy__sb_puts(&s, "{\"model_name\":");
    fy__sb_jstr(&s, model_name ? model_name : "");
    if (version && version[0]) {
        fy__sb_puts(&s, ",\"model_version\":");
        fy__sb_jstr(&s, version);
    }
    if (req->id) {
        fy__sb_puts(&s, ",\"id\":");
        fy__sb_jstr(&s, req->id);
    }
    fy__sb_puts(&s, ",\"outputs\":[");
    for (int i = 0; i < n; i++) {
        const fy_tensor *t = &out[pick[i]];
        fy_io_desc io;
        const char *dtn = fy__v2_datatype(t->dtype);
        if (fy_model_output(m, pick[i], &io) != FY_OK)
            io.name = "?";
        if (!dtn || t->dtype == FY_DTYPE_STRING) {
            rc = fy__diag_set(d, FY_EUNSUPPORTED,
                              "output '%s' is of type %s, which ferry cannot "
                              "encode",
                              io.name, fy_dtype_name(t->dtype));
            goto fail;
        }
        fy__sb_puts(&s, i ? ",{\"name\":" : "{\"name\":");
        fy__sb_jstr(&s, io.name);
        fy__sb_puts(&s, ",\"datatype\":\"");
        fy__sb_puts(&s, dtn);
        fy__sb_puts(&s, "\",\"shape\":[");
        for (int q = 0; q < t->rank; q++) {
            if (q)
                fy__sb_puts(&s, ",");
            fy__sb_int(&s, t->dims[q]);
        }
        fy__sb_puts(&s, "]");
        if (bin[i]) {
            fy__sb_puts(&s, ",\"parameters\":{\"binary_data_size\":");
            fy__sb_int(&s, (long long)fy_tensor_nbytes(t));
            fy__sb_puts(&s, "}}");
        } else {
            int64_t numel = fy_tensor_numel(t);
            fy__sb_puts(&s, ",\"data\":");
            fy__sb_values(&s, t, 0, 1, &numel);
            fy__sb_puts(&s, "}");
        }
    }
    fy__sb_puts(&s, "]}");
    size_t header = s.len;
    for (int i = 0; i < n; i++)
        if (bin[i])
            fy__sb_add(&s, out[pick[i]].data, fy_tensor_nbytes(&out[pick[i]]));
    if ((rc = fy__sb_finish(&s, body, len, d)) != FY_OK)
        return rc;
    *json_len = header;
    return FY_OK;
fail:
    fy__free(s.buf);
    return rc;
}

int fy__codec_v2_metadata(const char *name, const char *const *versions, int n_versions,
                          const fy_model *m, char **body, size_t *len)
{
    fy__sb s = {0};
    fy__sb_puts(&s, "{\"name\":");
    fy__sb_jstr(&s, name ? name : "");
    fy__sb_puts(&s, ",\"versions\":[");
    for (int i = 0; i < n_versions; i++) {
        if (i)
            fy__sb_puts(&s, ",");
        fy__sb_jstr(&s, versions[i]);
    }
    fy__sb_puts(&s, "],\"platform\":\"ferry_onnx\"");
    for (int side = 0; side < 2; side++) {
        int cnt = side ? fy_model_n_outputs(m) : fy_model_n_inputs(m);
        fy__sb_puts(&s, side ? ",\"outputs\":[" : ",\"inputs\":[");
        for (int i = 0; i < cnt; i++) {
            fy_io_desc io;
            if ((side ? fy_model_output(m, i, &io) : fy_model_input(m, i, &io)) != FY_OK)
                continue;
            const char *dtn = fy__v2_datatype(io.dtype);
            fy__sb_puts(&s, i ? ",{\"name\":" : "{\"name\":");
            fy__sb_jstr(&s, io.name);
            fy__sb_puts(&s, ",\"datatype\":");
            fy__sb_jstr(&s, dtn ? dtn : "UNKNOWN");
            fy__sb_puts(&s, ",\"shape\":[");
            if (io.rank < 0) /* undeclared rank: one variable dimension is the closest V2 has */
                fy__sb_puts(&s, "-1");
            for (int q = 0; q < io.rank; q++) {
                if (q)
                    fy__sb_puts(&s, ",");
                fy__sb_int(&s, io.dims[q] < 0 ? -1 : io.dims[q]);
            }
            fy__sb_puts(&s, "]}");
        }
        fy__sb_puts(&s, "]");
    }
    fy__sb_puts(&s, "}");
    return fy__sb_finish(&s, body, len, NULL);
}
