/* SPDX-License-Identifier: MIT */
/* ONNX loader: checks the protobuf wire format for depth and size, decodes it with
 * protobuf-c (code generated from Debian's onnx.proto), and converts it into the
 * graph IR, validating every name, shape, size and external-data path on the way. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"
#include "../ops/ops.h"
#include "onnx.h"
#include "onnx.pb-c.h"

/* One top-level initializer's raw_data, taken out of the file's bytes before
 * protobuf-c decodes them (see lift_raw_data). */
typedef struct lifted_raw {
    unsigned char *data; /* fy__malloc'd; NULL when not lifted or taken by a tensor */
    size_t len;
} lifted_raw;

typedef struct loader {
    const char *base_dir; /* folder external data must stay in; NULL refuses it */
    uint64_t budget;      /* bytes left for external data */
    fy_diag *d;
    lifted_raw *lifted; /* by initializer index of the main graph; NULL when none */
    size_t n_lifted;
} loader;

/* ---- protobuf-c allocation through our hooks (fault injection in tests) ---- */

/* ud points to an int set when an allocation fails, so a NULL from protobuf-c's
 * unpack can be told apart: out of memory, or malformed bytes. */
static void *pb_alloc(void *ud, size_t n)
{
    void *p = fy__malloc(n);
    if (!p && ud)
        *(int *)ud = 1;
    return p;
}

static void pb_free(void *ud, void *p)
{
    (void)ud;
    fy__free(p);
}


/* ---- wire-format pre-check ----
 * protobuf-c decodes nested messages recursively with no depth limit, so a file of
 * deeply nested messages could exhaust the stack. We walk the bytes first, guided
 * by the generated descriptors, bounding depth and the decoded size. */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* How reading one field can fail. */
enum { FIELD_KEY = -1, FIELD_VARINT = -2, FIELD_FIXED = -3, FIELD_LENGTH = -4, FIELD_WIRE = -5 };

/* Reads one field at *p: its number and wire type, and for length-delimited fields
 * its body. 0, or one of the FIELD_ failures. */
static int next_field(const uint8_t **p, const uint8_t *end, uint64_t *field, unsigned *wt,
                      const uint8_t **body, uint64_t *blen)
{
    uint64_t key, v;
    if (read_varint(p, end, &key) != 0)
        return FIELD_KEY;
    *field = key >> 3;
    *wt = key & 7;
    *body = NULL;
    *blen = 0;
    switch (*wt) {
    case 0: return read_varint(p, end, &v) == 0 ? 0 : FIELD_VARINT;
    case 1:
    case 5: {
        size_t n = *wt == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return FIELD_FIXED;
        *p += n;
        return 0;
    }
    case 2:
        if (read_varint(p, end, &v) != 0 || v > (uint64_t)(end - *p))
            return FIELD_LENGTH;
        *body = *p;
        *blen = v;
        *p += v;
        return 0;
    default: return FIELD_WIRE;
    }
}

static int wire_check(const uint8_t *p, const uint8_t *end, const ProtobufCMessageDescriptor *desc,
                      int depth, uint64_t *decoded, fy_diag *d)
{
    if (depth > FY_ONNX_MAX_DEPTH)
        return fy__diag_set(d, FY_ELIMIT, "protobuf messages nested deeper than %d (in %s)",
                            FY_ONNX_MAX_DEPTH, desc->name);
    *decoded += desc->sizeof_message + 64;
    if (*decoded > FY_ONNX_MAX_DECODED_BYTES)
        return fy__diag_set(d, FY_ELIMIT, "model would decode to more than %llu bytes",
                            (unsigned long long)FY_ONNX_MAX_DECODED_BYTES);
    while (p < end) {
        uint64_t field = 0, len;
        unsigned wt = 0;
        const uint8_t *body;
        switch (next_field(&p, end, &field, &wt, &body, &len)) {
        case 0: break;
        case FIELD_KEY:
            return fy__diag_set(d, FY_EPARSE, "truncated protobuf field key in %s", desc->name);
        case FIELD_VARINT:
            return fy__diag_set(d, FY_EPARSE, "truncated varint in %s field %llu", desc->name,
                                (unsigned long long)field);
        case FIELD_FIXED:
            return fy__diag_set(d, FY_EPARSE, "truncated fixed field in %s", desc->name);
        case FIELD_LENGTH:
            return fy__diag_set(d, FY_EPARSE,
                                "length of %s field %llu runs past the end of the data",
                                desc->name, (unsigned long long)field);
        default:
            return fy__diag_set(d, FY_EPARSE, "invalid protobuf wire type %u in %s", wt,
                                desc->name);
        }
        if (wt != 2) {
            *decoded += 8;
            continue;
        }
        const ProtobufCFieldDescriptor *f =
            field <= UINT_MAX ? protobuf_c_message_descriptor_get_field(desc, (unsigned)field)
                              : NULL;
        if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
            int rc = wire_check(body, body + len, f->descriptor, depth + 1, decoded, d);
            if (rc != FY_OK)
                return rc;
        } else if (f && (f->type == PROTOBUF_C_TYPE_BYTES || f->type == PROTOBUF_C_TYPE_STRING)) {
            *decoded += len + 16; /* copied as they are (raw_data: the weights) */
        } else {
            /* packed repeated scalars can expand up to 8x (one byte per int64) */
            *decoded += len * 8 + 16;
        }
    }
    return FY_OK;
}

/* ---- lifting raw_data out before decoding ----
 * protobuf-c copies every bytes field, so decoding a model read into memory would
 * hold its weights twice (the file's bytes and the decoded copy) until the file's
 * buffer is freed. Instead, for a model read from a file, the raw_data of each big
 * initializer of the main graph is moved into its own allocation (the future
 * tensor's data) and its pages of the file's buffer are handed back at once; what
 * protobuf-c decodes is a skeleton of the file without those fields, with the
 * enclosing lengths rewritten. The peak stays near one copy of the weights. */

/* Smaller payloads stay in the skeleton: releasing pages needs whole pages. */
size_t fy__onnx_lift_min_bytes = 64 * 1024;

enum { MODEL_GRAPH = 7, GRAPH_INITIALIZER = 5, TENSOR_RAW_DATA = 9, WIRE_LEN = 2 };

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Bytes of the field key at p (already checked by wire_check). Lengths are
 * recomputed from the bytes actually there, not from their values: a varint may be
 * written with more bytes than it needs. */
static size_t key_size(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *q = p;
    uint64_t key;
    return read_varint(&q, end, &key) == 0 ? (size_t)(q - p) : 0;
}

/* Where one initializer's lifted raw_data field lies in the file's bytes. */
typedef struct lift_plan {
    const uint8_t *field; /* the raw_data field's key; NULL: nothing lifted */
    const uint8_t *after; /* just past its payload */
    const uint8_t *payload;
    size_t len;
    uint64_t tensor_new; /* the TensorProto's length without the field */
} lift_plan;

/* Plans the lift for one TensorProto body: exactly one raw_data field, big enough
 * (a repeated raw_data, where the last one wins, is left to protobuf-c). */
static int plan_tensor(const uint8_t *p, const uint8_t *end, lift_plan *lp)
{
    int n_raw = 0;
    lift_plan one = {0};
    while (p < end) {
        const uint8_t *start = p, *body;
        uint64_t field, blen;
        unsigned wt;
        if (next_field(&p, end, &field, &wt, &body, &blen) != 0)
            return -1;
        if (field == TENSOR_RAW_DATA && wt == WIRE_LEN) {
            n_raw++;
            one.field = start;
            one.after = p;
            one.payload = body;
            one.len = (size_t)blen;
        }
    }
    if (n_raw == 1 && one.len >= fy__onnx_lift_min_bytes)
        *lp = one;
    return 0;
}

/* Builds the skeleton of buf (a FY__READ_MAPPED buffer wire_check accepted) and
 * L->lifted. On FY_OK *skel is the skeleton to decode instead (fy__free it), or NULL
 * when nothing was worth lifting (decode buf as it is). */
static int lift_raw_data(loader *L, unsigned char *buf, size_t len, uint8_t **skel,
                         size_t *skel_len)
{
    const uint8_t *end = buf + len, *p = buf;
    const uint8_t *graph = NULL, *graph_field = NULL, *graph_after = NULL;
    uint64_t graph_len = 0, field, blen;
    const uint8_t *body;
    unsigned wt;
    int n_graphs = 0;
    *skel = NULL;
    while (p < end) {
        const uint8_t *start = p;
        if (next_field(&p, end, &field, &wt, &body, &blen) != 0)
            return FY_OK; /* leave it to protobuf-c's own checks */
        if (field == MODEL_GRAPH && wt == WIRE_LEN) {
            n_graphs++;
            graph_field = start;
            graph_after = p;
            graph = body;
            graph_len = blen;
        }
    }
    if (n_graphs != 1) /* several graph fields merge when decoded: not worth it */
        return FY_OK;

    size_t n_init = 0;
    for (p = graph; p < graph + graph_len;) {
        if (next_field(&p, graph + graph_len, &field, &wt, &body, &blen) != 0)
            return FY_OK;
        n_init += field == GRAPH_INITIALIZER && wt == WIRE_LEN;
    }
    if (n_init == 0)
        return FY_OK;
    lift_plan *plan = fy__calloc(n_init, sizeof *plan);
    if (!plan)
        return fy__diag_set(L->d, FY_ENOMEM, "out of memory");
    size_t k = 0, n_lift = 0;
    uint64_t graph_new = graph_len;
    for (p = graph; p < graph + graph_len;) {
        const uint8_t *start = p;
        if (next_field(&p, graph + graph_len, &field, &wt, &body, &blen) != 0)
            break;
        if (field != GRAPH_INITIALIZER || wt != WIRE_LEN)
            continue;
        lift_plan *lp = &plan[k++];
        if (plan_tensor(body, body + blen, lp) != 0 || !lp->field)
            continue;
        lp->tensor_new = blen - (uint64_t)(lp->after - lp->field);
        /* the initializer field as it is, and as it will be (never longer) */
        graph_new -= (uint64_t)(p - start) -
                     (key_size(start, p) + varint_size(lp->tensor_new) + lp->tensor_new);
        n_lift++;
    }
    if (n_lift == 0) {
        fy__free(plan);
        return FY_OK;
    }

    size_t graph_key = key_size(graph_field, graph);
    size_t out_len = len - (size_t)(graph_after - graph_field) + graph_key +
                     varint_size(graph_new) + (size_t)graph_new;
    uint8_t *out = fy__malloc(out_len ? out_len : 1);
    L->lifted = fy__calloc(n_init, sizeof *L->lifted);
    if (!out || !L->lifted) {
        fy__free(out);
        fy__free(plan);
        return fy__diag_set(L->d, FY_ENOMEM, "out of memory");
    }
    L->n_lifted = n_init;
    uint8_t *w = out;
    memcpy(w, buf, (size_t)(graph_field - buf) + graph_key); /* up to the graph's length */
    w = put_varint(w + (graph_field - buf) + graph_key, graph_new);
    k = 0;
    const uint8_t *copied = graph; /* graph bytes before this are in out */
    for (p = graph; p < graph + graph_len;) {
        const uint8_t *start = p;
        if (next_field(&p, graph + graph_len, &field, &wt, &body, &blen) != 0)
            break;
        if (field != GRAPH_INITIALIZER || wt != WIRE_LEN)
            continue;
        lift_plan *lp = &plan[k];
        lifted_raw *lr = &L->lifted[k++];
        if (!lp->field)
            continue;
        if (!(lr->data = fy__malloc(lp->len))) {
            fy__free(out);
            fy__free(plan);
            return fy__diag_set(L->d, FY_ENOMEM, "out of memory reading the weights");
        }
        lr->len = lp->len;
        fy__move_out(lr->data, (void *)lp->payload, lp->len);
        /* the initializer's key, its new length, its fields minus raw_data */
        size_t key_len = key_size(start, body);
        memcpy(w, copied, (size_t)(start - copied) + key_len);
        w = put_varint(w + (start - copied) + key_len, lp->tensor_new);
        memcpy(w, body, (size_t)(lp->field - body));
        w += lp->field - body;
        memcpy(w, lp->after, (size_t)(body + blen - lp->after));
        w += body + blen - lp->after;
        copied = p;
    }
    memcpy(w, copied, (size_t)(end - copied)); /* rest of the graph and of the model */
    w += end - copied;
    fy__free(plan);
    if ((size_t)(w - out) != out_len) { /* cannot happen: the sizes were planned */
        fy__free(out);
        return fy__diag_set(L->d, FY_EPARSE, "internal error: model skeleton size mismatch");
    }
    *skel = out;
    *skel_len = out_len;
    return FY_OK;
}

static void free_lifted(loader *L)
{
    for (size_t i = 0; i < L->n_lifted; i++)
        fy__free(L->lifted[i].data);
    fy__free(L->lifted);
    L->lifted = NULL;
    L->n_lifted = 0;
}

/* ---- tensors ---- */

/* Validates the external file first and allocates t only once the file is known
 * to hold the bytes, so a tiny model cannot make us allocate gigabytes. */
static int ext_data_read(loader *L, const Onnx__TensorProto *tp, fy_tensor *t, fy_dtype dt,
                         int rank, const int64_t *dims, size_t nbytes, const char *tname)
{
    fy_diag *d = L->d;
    const char *location = NULL;
    uint64_t offset = 0, length = UINT64_MAX;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e->key || !e->value)
            continue;
        char *endp;
        if (strcmp(e->key, "location") == 0) {
            location = e->value;
        } else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
            errno = 0;
            unsigned long long v = strtoull(e->value, &endp, 10);
            if (errno || *endp || !*e->value || e->value[0] == '-')
                return fy__diag_set(d, FY_EPARSE, "tensor '%s': external data %s '%s' is not a "
                                                  "number", tname, e->key, e->value);
            if (e->key[0] == 'o')
                offset = v;
            else
                length = v;
        }
    }
    if (!location || !*location)
        return fy__diag_set(d, FY_EPARSE, "tensor '%s': external data has no location", tname);
    if (!L->base_dir)
        return fy__diag_set(d, FY_EINVAL,
                            "tensor '%s': external data '%s' cannot be used for a model loaded "
                            "from memory",
                            tname, location);
    /* Confinement (RELIABILITY.md 4): relative, no '..', no symlinks, a regular
     * file whose resolved path stays inside the model's own folder. */
    if (location[0] == '/' || strstr(location, "..") || strchr(location, '\\'))
        return fy__diag_set(d, FY_EINVAL,
                            "tensor '%s': external data path '%s' must be relative to the model's "
                            "folder, without '..'",
                            tname, location);
    if (length != UINT64_MAX && length != nbytes)
        return fy__diag_set(d, FY_EPARSE,
                            "tensor '%s': external data length %llu does not match its shape "
                            "(%zu bytes)",
                            tname, (unsigned long long)length, nbytes);
    if (nbytes > L->budget)
        return fy__diag_set(d, FY_ELIMIT, "tensor '%s': external data exceeds the model size limit",
                            tname);
    int rc = FY_EIO;
    char path[PATH_MAX], real_base[PATH_MAX], real_file[PATH_MAX];
    int fd = -1;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", L->base_dir, location) >= sizeof path)
        return fy__diag_set(d, FY_ELIMIT, "tensor '%s': external data path too long", tname);
    if (!realpath(L->base_dir, real_base) || !realpath(path, real_file))
        return fy__diag_set(d, FY_ENOTFOUND, "tensor '%s': external data file '%s' not found",
                            tname, location);
    size_t bl = strlen(real_base);
    if (strncmp(real_file, real_base, bl) != 0 || real_file[bl] != '/')
        return fy__diag_set(d, FY_EINVAL,
                            "tensor '%s': external data '%s' resolves outside the model's folder",
                            tname, location);
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
        return fy__diag_set(d, FY_EINVAL, "tensor '%s': external data '%s' is a symbolic link",
                            tname, location);
    fd = open(real_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return fy__diag_set(d, FY_EIO, "tensor '%s': cannot open external data '%s': %s", tname,
                            location, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fy__diag_set(d, FY_EINVAL, "tensor '%s': external data '%s' is not a regular file",
                          tname, location);
        goto done;
    }
    if (st.st_nlink > 1) {
        rc = fy__diag_set(d, FY_EINVAL, "tensor '%s': external data '%s' is a hard link", tname,
                          location);
        goto done;
    }
    uint64_t end;
    if (fy__add_overflow_u64(offset, nbytes, &end) || end > (uint64_t)st.st_size) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "tensor '%s': external data '%s' is %lld bytes, too short for offset "
                          "%llu + %zu bytes",
                          tname, location, (long long)st.st_size, (unsigned long long)offset,
                          nbytes);
        goto done;
    }
    if ((rc = fy_tensor_alloc(t, dt, rank, dims, d)) != FY_OK)
        goto done;
    size_t got = 0;
    while (got < nbytes) {
        ssize_t r = pread(fd, (char *)t->data + got, nbytes - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fy_tensor_deinit(t);
            rc = fy__diag_set(d, FY_EIO, "tensor '%s': reading external data '%s' failed", tname,
                              location);
            goto done;
        }
        got += (size_t)r;
    }
    L->budget -= nbytes;
    rc = FY_OK;
done:
    close(fd);
    return rc;
}

/* The typed field must hold exactly numel values: checked before allocating. */
static int typed_check(fy_dtype dt, const Onnx__TensorProto *tp, int64_t numel, const char *tname,
                       fy_diag *d)
{
    size_t have;
    const char *field;
    switch (dt) {
    case FY_DTYPE_F32: have = tp->n_float_data; field = "float_data"; break;
    case FY_DTYPE_F64: have = tp->n_double_data; field = "double_data"; break;
    case FY_DTYPE_I64: have = tp->n_int64_data; field = "int64_data"; break;
    case FY_DTYPE_U32: case FY_DTYPE_U64: have = tp->n_uint64_data; field = "uint64_data"; break;
    default: have = tp->n_int32_data; field = "int32_data"; break;
    }
    if (have != (uint64_t)numel)
        return fy__diag_set(d, FY_EPARSE,
                            "tensor '%s': %s holds %zu values but its shape needs %lld", tname,
                            field, have, (long long)numel);
    return FY_OK;
}

static void typed_fill(fy_tensor *t, const Onnx__TensorProto *tp, int64_t numel)
{
    for (int64_t i = 0; i < numel; i++) {
        switch (t->dtype) {
        case FY_DTYPE_F32: ((float *)t->data)[i] = tp->float_data[i]; break;
        case FY_DTYPE_F64: ((double *)t->data)[i] = tp->double_data[i]; break;
        case FY_DTYPE_I64: ((int64_t *)t->data)[i] = tp->int64_data[i]; break;
        case FY_DTYPE_U32: ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i]; break;
        case FY_DTYPE_U64: ((uint64_t *)t->data)[i] = tp->uint64_data[i]; break;
        case FY_DTYPE_F16: case FY_DTYPE_BF16: case FY_DTYPE_U16:
            ((uint16_t *)t->data)[i] = (uint16_t)tp->int32_data[i];
            break;
        case FY_DTYPE_I16: ((int16_t *)t->data)[i] = (int16_t)tp->int32_data[i]; break;
        case FY_DTYPE_I32: ((int32_t *)t->data)[i] = tp->int32_data[i]; break;
        case FY_DTYPE_I8: ((int8_t *)t->data)[i] = (int8_t)tp->int32_data[i]; break;
        case FY_DTYPE_U8: ((uint8_t *)t->data)[i] = (uint8_t)tp->int32_data[i]; break;
        case FY_DTYPE_BOOL: ((uint8_t *)t->data)[i] = tp->int32_data[i] != 0; break;
        default: break;
        }
    }
}

/* raw_data at least this big is taken over rather than copied (below it a copy is
 * cheaper than keeping protobuf-c's allocation granularity in mind). */
#define STEAL_MIN_BYTES 4096

static int host_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* lr, when not NULL, is the tensor's raw_data lifted out before decoding (it stands
 * for tp's raw_data, which the skeleton no longer has). */
static int tensor_from_proto(loader *L, const Onnx__TensorProto *tp, lifted_raw *lr, fy_tensor *out)
{
    fy_diag *d = L->d;
    const char *tname = tp->name ? tp->name : "";
    fy_dtype dt = tp->has_data_type ? (fy_dtype)tp->data_type : FY_DTYPE_UNDEFINED;
    if (fy_dtype_size(dt) == 0)
        return fy__diag_set(d, FY_EUNSUPPORTED, "tensor '%s': element type %d (%s) is not supported",
                            tname, tp->has_data_type ? tp->data_type : 0, fy_dtype_name(dt));
    if (tp->segment)
        return fy__diag_set(d, FY_EUNSUPPORTED, "tensor '%s': segmented tensors are not supported",
                            tname);
    if (tp->n_dims > FY_MAX_RANK)
        return fy__diag_set(d, FY_ELIMIT, "tensor '%s': rank %zu is above the limit of %d", tname,
                            tp->n_dims, FY_MAX_RANK);
    int64_t dims[FY_MAX_RANK];
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return fy__diag_set(d, FY_EPARSE, "tensor '%s': dimension %zu is negative (%lld)",
                                tname, i, (long long)tp->dims[i]);
        dims[i] = tp->dims[i];
    }
    size_t nbytes;
    fy_diag sub;
    int rc = fy_shape_nbytes(dt, (int)tp->n_dims, dims, &nbytes, &sub);
    if (rc != FY_OK)
        return fy__diag_set(d, rc, "tensor '%s': %s", tname, sub.msg);
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++)
        numel *= dims[i]; /* cannot overflow: fy_shape_nbytes bounded it */
    fy_tensor t = {0};
    int rank = (int)tp->n_dims;
    /* Every path checks that the data is really there before allocating. */
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        rc = ext_data_read(L, tp, &t, dt, rank, dims, nbytes, tname);
    } else if (lr || tp->has_raw_data) {
        Onnx__TensorProto *mut = (Onnx__TensorProto *)tp;
        uint8_t **raw = lr ? &lr->data : &mut->raw_data.data;
        size_t raw_len = lr ? lr->len : tp->raw_data.len;
        if (raw_len != nbytes) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "tensor '%s': raw_data has %zu bytes but its shape needs %zu", tname,
                              raw_len, nbytes);
        } else if (nbytes >= STEAL_MIN_BYTES && host_little_endian()) {
            /* Take the lifted bytes or protobuf-c's decoded copy (both allocated by
             * us, so ours to free) instead of copying them: one copy of the weights
             * fewer at the peak. The message is freed right after conversion and no
             * longer owns them. */
            t.dtype = dt;
            t.rank = rank;
            memcpy(t.dims, dims, (size_t)rank * sizeof *dims);
            t.data = *raw;
            t.owns = 1;
            *raw = NULL;
            if (!lr) {
                mut->raw_data.len = 0;
                mut->has_raw_data = 0;
            }
        } else if ((rc = fy_tensor_alloc(&t, dt, rank, dims, d)) == FY_OK && nbytes) {
            memcpy(t.data, *raw, nbytes);
        }
    } else if ((rc = typed_check(dt, tp, numel, tname, d)) == FY_OK &&
               (rc = fy_tensor_alloc(&t, dt, rank, dims, d)) == FY_OK) {
        typed_fill(&t, tp, numel);
    }
    if (rc != FY_OK) {
        fy_tensor_deinit(&t);
        return rc;
    }
    *out = t;
    return FY_OK;
}

/* ---- graphs ---- */

static char *dup_name(const char *s) { return fy__strdup(s ? s : ""); }

static int check_name(loader *L, const char *s, const char *what)
{
    if (s && strlen(s) > FY_NAME_MAX)
        return fy__diag_set(L->d, FY_ELIMIT, "%s name is longer than %d bytes", what, FY_NAME_MAX);
    return FY_OK;
}

static int set_value_info(loader *L, fy__value *v, const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp)
        return FY_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        v->info.not_tensor = 1;
        return FY_OK;
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type)
        v->info.dtype = (fy_dtype)tt->elem_type;
    if (!tt->shape)
        return FY_OK;
    if (tt->shape->n_dim > FY_MAX_RANK)
        return fy__diag_set(L->d, FY_ELIMIT, "value '%s': rank %zu is above the limit of %d",
                            v->name, tt->shape->n_dim, FY_MAX_RANK);
    v->info.rank = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        v->info.dims[i] = -1;
        fy__free(v->info.dim_names[i]);
        v->info.dim_names[i] = NULL;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
            dim->dim_value >= 0) {
            v->info.dims[i] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param) {
            if (check_name(L, dim->dim_param, "dimension") != FY_OK)
                return FY_ELIMIT;
            v->info.dim_names[i] = fy__strdup(dim->dim_param);
            if (!v->info.dim_names[i])
                return fy__diag_set(L->d, FY_ENOMEM, "out of memory");
        }
    }
    return FY_OK;
}

static int convert_graph(loader *L, const Onnx__GraphProto *gp, fy__graph *parent, int depth,
                         const fy_model *m, fy__graph **out);

static int intern_or_fail(loader *L, fy__graph *g, const char *name)
{
    if (check_name(L, name, "value") != FY_OK)
        return FY_ELIMIT;
    int id = fy__graph_intern(g, name ? name : "");
    if (id == FY_ELIMIT)
        return fy__diag_set(L->d, FY_ELIMIT, "graph has more than %d values", FY_GRAPH_MAX_VALUES);
    if (id < 0)
        return fy__diag_set(L->d, FY_ENOMEM, "out of memory");
    return id;
}

static int convert_attr(loader *L, fy__graph *g, fy__node *nd, const Onnx__AttributeProto *ap,
                        fy__attr *a, int depth, const fy_model *m)
{
    fy_diag *d = L->d;
    int rc;
    if (!ap->name || !*ap->name)
        return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): attribute without a name", nd->name,
                            nd->op_type);
    if ((rc = check_name(L, ap->name, "attribute")) != FY_OK)
        return rc;
    if (!(a->name = fy__strdup(ap->name)))
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    if (ap->ref_attr_name && *ap->ref_attr_name)
        return fy__diag_set(d, FY_EPARSE,
                            "node '%s' (%s): attribute '%s' refers to a function attribute "
                            "outside a function",
                            nd->name, nd->op_type, ap->name);
    int type = ap->has_type ? (int)ap->type : 0;
    if (type == 0) { /* IR < 3 models may leave the type out: infer it from the field set */
        if (ap->has_f) type = FY_ATTR_FLOAT;
        else if (ap->has_i) type = FY_ATTR_INT;
        else if (ap->has_s) type = FY_ATTR_STRING;
        else if (ap->t) type = FY_ATTR_TENSOR;
        else if (ap->g) type = FY_ATTR_GRAPH;
        else if (ap->n_floats) type = FY_ATTR_FLOATS;
        else if (ap->n_ints) type = FY_ATTR_INTS;
        else if (ap->n_strings) type = FY_ATTR_STRINGS;
        else if (ap->n_tensors) type = FY_ATTR_TENSORS;
        else if (ap->n_graphs) type = FY_ATTR_GRAPHS;
    }
    a->type = (fy__attr_type)type;
    switch (type) {
    case FY_ATTR_FLOAT: a->f = ap->f; break;
    case FY_ATTR_INT: a->i = ap->i; break;
    case FY_ATTR_STRING:
        if (!(a->s = fy__strndup((const char *)ap->s.data, ap->s.len)))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        a->s[strnlen(a->s, ap->s.len)] = 0;
        break;
    case FY_ATTR_TENSOR:
        if (!ap->t)
            return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): tensor attribute '%s' has no value",
                                nd->name, nd->op_type, ap->name);
        if (!(a->t = fy__calloc(1, sizeof *a->t)))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        if ((rc = tensor_from_proto(L, ap->t, NULL, a->t)) != FY_OK) {
            fy__free(a->t);
            a->t = NULL;
            return rc;
        }
        break;
    case FY_ATTR_GRAPH:
        if (!ap->g)
            return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): graph attribute '%s' has no value",
                                nd->name, nd->op_type, ap->name);
        if ((rc = convert_graph(L, ap->g, g, depth + 1, m, &a->g)) != FY_OK)
            return rc;
        break;
    case FY_ATTR_FLOATS:
        a->n = (int64_t)ap->n_floats;
        if (!(a->floats = fy__calloc(ap->n_floats + 1, sizeof(float))))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case FY_ATTR_INTS:
        a->n = (int64_t)ap->n_ints;
        if (!(a->ints = fy__calloc(ap->n_ints + 1, sizeof(int64_t))))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case FY_ATTR_STRINGS:
        if (!(a->strings = fy__calloc(ap->n_strings + 1, sizeof(char *))))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        a->n = (int64_t)ap->n_strings;
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = fy__strndup((const char *)ap->strings[i].data, ap->strings[i].len);
            if (!a->strings[i])
                return fy__diag_set(d, FY_ENOMEM, "out of memory");
        }
        break;
    case FY_ATTR_TENSORS:
        if (!(a->tensors = fy__calloc(ap->n_tensors + 1, sizeof(fy_tensor))))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        a->n = (int64_t)ap->n_tensors;
        for (size_t i = 0; i < ap->n_tensors; i++)
            if ((rc = tensor_from_proto(L, ap->tensors[i], NULL, &a->tensors[i])) != FY_OK)
                return rc;
        break;
    case FY_ATTR_GRAPHS:
        if (!(a->graphs = fy__calloc(ap->n_graphs + 1, sizeof(fy__graph *))))
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        a->n = (int64_t)ap->n_graphs;
        for (size_t i = 0; i < ap->n_graphs; i++)
            if ((rc = convert_graph(L, ap->graphs[i], g, depth + 1, m, &a->graphs[i])) != FY_OK)
                return rc;
        break;
    case FY_ATTR_SPARSE_TENSOR:
    case FY_ATTR_SPARSE_TENSORS:
    case FY_ATTR_TYPE_PROTO:
    case FY_ATTR_TYPE_PROTOS:
        break; /* kept as a typed marker: kernels that need them report unsupported */
    default:
        return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): attribute '%s' has unknown type %d",
                            nd->name, nd->op_type, ap->name, type);
    }
    return FY_OK;
}

/* After a subgraph's nodes are in: values it reads but does not define come from
 * an enclosing scope; the node holding the subgraph lists them as implicit inputs. */
static int link_outer(loader *L, fy__graph *g, fy__node *nd, const fy__graph *sub)
{
    for (int i = 0; i < sub->n_values; i++) {
        if (!sub->values[i].is_outer)
            continue;
        int id = intern_or_fail(L, g, sub->values[i].name);
        if (id < 0)
            return id;
        int *imp = fy__realloc(nd->implicit, ((size_t)nd->n_implicit + 1) * sizeof *imp);
        if (!imp)
            return fy__diag_set(L->d, FY_ENOMEM, "out of memory");
        nd->implicit = imp;
        imp[nd->n_implicit++] = id;
    }
    return FY_OK;
}

static int convert_node(loader *L, fy__graph *g, const Onnx__NodeProto *np, fy__node *nd,
                        int depth, const fy_model *m)
{
    fy_diag *d = L->d;
    int rc;
    if ((rc = check_name(L, np->name, "node")) != FY_OK ||
        (rc = check_name(L, np->op_type, "op")) != FY_OK ||
        (rc = check_name(L, np->domain, "domain")) != FY_OK)
        return rc;
    nd->name = dup_name(np->name);
    nd->op_type = dup_name(np->op_type);
    nd->domain = dup_name(np->domain && strcmp(np->domain, "ai.onnx") != 0 ? np->domain : "");
    if (!nd->name || !nd->op_type || !nd->domain)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    if (!*nd->op_type)
        return fy__diag_set(d, FY_EPARSE, "node '%s' has no op_type", nd->name);
    int64_t ver = fy__model_opset(m, nd->domain);
    if (ver < 0) {
        if (*nd->domain)
            ver = 1; /* vendor domains are often not imported by exporters */
        else
            return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): the model imports no opset for "
                                              "the default domain",
                                nd->name, nd->op_type);
    }
    nd->opset = (int)ver;
    /* Resolved once here so the model stays immutable afterwards; NULL means no
     * kernel, which sessions refuse and `ferry inspect` reports. */
    nd->def = fy__op_find(nd->domain, nd->op_type);
    if (np->n_input > FY_NODE_MAX_IO || np->n_output > FY_NODE_MAX_IO)
        return fy__diag_set(d, FY_ELIMIT, "node '%s' (%s): more than %d inputs or outputs",
                            nd->name, nd->op_type, FY_NODE_MAX_IO);
    nd->inputs = fy__malloc((np->n_input + 1) * sizeof(int));
    nd->outputs = fy__malloc((np->n_output + 1) * sizeof(int));
    nd->attrs = fy__calloc(np->n_attribute + 1, sizeof(fy__attr));
    if (!nd->inputs || !nd->outputs || !nd->attrs)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    for (size_t i = 0; i < np->n_input; i++) {
        const char *s = np->input[i];
        if (!s || !*s) {
            nd->inputs[nd->n_inputs++] = -1;
            continue;
        }
        int id = intern_or_fail(L, g, s);
        if (id < 0)
            return id;
        nd->inputs[nd->n_inputs++] = id;
    }
    for (size_t i = 0; i < np->n_output; i++) {
        const char *s = np->output[i];
        if (!s || !*s) {
            nd->outputs[nd->n_outputs++] = -1;
            continue;
        }
        int id = intern_or_fail(L, g, s);
        if (id < 0)
            return id;
        nd->outputs[nd->n_outputs++] = id;
    }
    for (size_t i = 0; i < np->n_attribute; i++) {
        fy__attr *a = &nd->attrs[nd->n_attrs++];
        if ((rc = convert_attr(L, g, nd, np->attribute[i], a, depth, m)) != FY_OK)
            return rc;
        for (int k = 0; k < nd->n_attrs - 1; k++)
            if (strcmp(nd->attrs[k].name, a->name) == 0)
                return fy__diag_set(d, FY_EPARSE, "node '%s' (%s): attribute '%s' appears twice",
                                    nd->name, nd->op_type, a->name);
        if (a->g && (rc = link_outer(L, g, nd, a->g)) != FY_OK)
            return rc;
        for (int64_t k = 0; a->graphs && k < a->n; k++)
            if ((rc = link_outer(L, g, nd, a->graphs[k])) != FY_OK)
                return rc;
    }
    return FY_OK;
}

static int convert_graph(loader *L, const Onnx__GraphProto *gp, fy__graph *parent, int depth,
                         const fy_model *m, fy__graph **out)
{
    fy_diag *d = L->d;
    int rc = FY_ENOMEM;
    if (depth > FY_GRAPH_MAX_DEPTH)
        return fy__diag_set(d, FY_ELIMIT, "subgraphs nested deeper than %d", FY_GRAPH_MAX_DEPTH);
    if (gp->n_node > FY_GRAPH_MAX_NODES)
        return fy__diag_set(d, FY_ELIMIT, "graph has %zu nodes, above the limit of %d",
                            gp->n_node, FY_GRAPH_MAX_NODES);
    if (gp->n_sparse_initializer)
        return fy__diag_set(d, FY_EUNSUPPORTED, "sparse initializers are not supported");
    fy__graph *g = fy__calloc(1, sizeof *g);
    if (!g)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    g->parent = parent;
    if (!(g->name = dup_name(gp->name)))
        goto oom;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (!*name) {
            rc = fy__diag_set(d, FY_EPARSE, "initializer %zu has no name", i);
            goto fail;
        }
        int before = g->n_values;
        int id = intern_or_fail(L, g, name);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        if (id < before) {
            rc = fy__diag_set(d, FY_EPARSE, "initializer '%s' is defined twice", name);
            goto fail;
        }
        fy_tensor *t = fy__calloc(1, sizeof *t);
        if (!t)
            goto oom;
        lifted_raw *lr = !parent && i < L->n_lifted && L->lifted[i].data ? &L->lifted[i] : NULL;
        if ((rc = tensor_from_proto(L, tp, lr, t)) != FY_OK) {
            fy__free(t);
            goto fail;
        }
        g->values[id].init = t;
        g->values[id].info.dtype = t->dtype;
        g->values[id].info.rank = t->rank;
        for (int k = 0; k < t->rank; k++)
            g->values[id].info.dims[k] = t->dims[k];
    }
    g->inputs = fy__malloc((gp->n_input + 1) * sizeof(int));
    g->outputs = fy__malloc((gp->n_output + 1) * sizeof(int));
    if (!g->inputs || !g->outputs)
        goto oom;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        int id = intern_or_fail(L, g, vi->name);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        fy__value *v = &g->values[id];
        if (v->init)
            continue; /* an initializer listed as input (IR < 4): a constant with a default */
        if (v->is_input) {
            rc = fy__diag_set(d, FY_EPARSE, "graph input '%s' is listed twice", v->name);
            goto fail;
        }
        v->is_input = 1;
        g->inputs[g->n_inputs++] = id;
        if ((rc = set_value_info(L, v, vi)) != FY_OK)
            goto fail;
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        int id = intern_or_fail(L, g, gp->value_info[i]->name);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        if (!g->values[id].init && (rc = set_value_info(L, &g->values[id], gp->value_info[i])) != FY_OK)
            goto fail;
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        if (!vi->name || !*vi->name) {
            rc = fy__diag_set(d, FY_EPARSE, "graph output %zu has no name", i);
            goto fail;
        }
        int id = intern_or_fail(L, g, vi->name);
        if (id < 0) {
            rc = id;
            goto fail;
        }
        g->outputs[g->n_outputs++] = id;
        if (!g->values[id].init && (rc = set_value_info(L, &g->values[id], vi)) != FY_OK)
            goto fail;
    }
    g->nodes = fy__calloc(gp->n_node + 1, sizeof(fy__node));
    if (!g->nodes)
        goto oom;
    for (size_t i = 0; i < gp->n_node; i++) {
        fy__node *nd = &g->nodes[g->n_nodes++];
        if ((rc = convert_node(L, g, gp->node[i], nd, depth, m)) != FY_OK)
            goto fail;
    }
    if (parent) {
        /* Whatever this subgraph reads without defining must come from outside. */
        char *defined = fy__calloc((size_t)g->n_values + 1, 1);
        if (!defined)
            goto oom;
        for (int i = 0; i < g->n_nodes; i++)
            for (int k = 0; k < g->nodes[i].n_outputs; k++)
                if (g->nodes[i].outputs[k] >= 0)
                    defined[g->nodes[i].outputs[k]] = 1;
        for (int i = 0; i < g->n_values; i++)
            if (!defined[i] && !g->values[i].init && !g->values[i].is_input)
                g->values[i].is_outer = 1;
        fy__free(defined);
    }
    if ((rc = fy__graph_sort(g, d)) != FY_OK)
        goto fail;
    *out = g;
    return FY_OK;
oom:
    rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
fail:
    fy__graph_free(g);
    return rc;
}

/* ---- model ---- */

int64_t fy__model_opset(const fy_model *m, const char *domain)
{
    if (!domain || strcmp(domain, "ai.onnx") == 0)
        domain = "";
    for (int i = 0; i < m->n_opsets; i++)
        if (strcmp(m->opset_domains[i], domain) == 0)
            return m->opset_versions[i];
    return -1;
}

void fy_model_free(fy_model *m)
{
    if (!m)
        return;
    fy__graph_free(m->graph);
    for (int i = 0; i < m->n_opsets; i++)
        fy__free(m->opset_domains[i]);
    fy__free(m->opset_domains);
    fy__free(m->opset_versions);
    fy__free(m->producer_name);
    fy__free(m->producer_version);
    fy__free(m);
}

static int convert_model(loader *L, const Onnx__ModelProto *mp, fy_model **out)
{
    fy_diag *d = L->d;
    int rc = FY_ENOMEM;
    fy_model *m = fy__calloc(1, sizeof *m);
    if (!m)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    m->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    m->producer_name = dup_name(mp->producer_name);
    m->producer_version = dup_name(mp->producer_version);
    if (!m->producer_name || !m->producer_version)
        goto oom;
    if (mp->n_opset_import > FY_ONNX_MAX_OPSET_IMPORTS) {
        rc = fy__diag_set(d, FY_ELIMIT, "model imports %zu opsets, above the limit of %d",
                          mp->n_opset_import, FY_ONNX_MAX_OPSET_IMPORTS);
        goto fail;
    }
    m->opset_domains = fy__calloc(mp->n_opset_import + 1, sizeof(char *));
    m->opset_versions = fy__calloc(mp->n_opset_import + 1, sizeof(int64_t));
    if (!m->opset_domains || !m->opset_versions)
        goto oom;
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *op = mp->opset_import[i];
        const char *dom = op->domain && strcmp(op->domain, "ai.onnx") != 0 ? op->domain : "";
        if ((rc = check_name(L, dom, "opset domain")) != FY_OK)
            goto fail;
        if (!(m->opset_domains[m->n_opsets] = fy__strdup(dom)))
            goto oom;
        m->opset_versions[m->n_opsets++] = op->has_version ? op->version : 1;
    }
    if (m->n_opsets == 0 && m->ir_version < 3) {
        /* IR versions before 3 had no opset_import; such models use opset 1. */
        if (!(m->opset_domains[0] = fy__strdup("")))
            goto oom;
        m->opset_versions[0] = 1;
        m->n_opsets = 1;
    }
    m->opset = fy__model_opset(m, "");
    if (m->opset > FY_ONNX_MAX_OPSET || (m->opset >= 0 && m->opset < FY_ONNX_MIN_OPSET)) {
        rc = fy__diag_set(d, FY_EUNSUPPORTED,
                          "model uses ONNX opset %lld; ferry supports opsets %d to %d",
                          (long long)m->opset, FY_ONNX_MIN_OPSET, FY_ONNX_MAX_OPSET);
        goto fail;
    }
    if (!mp->graph) {
        rc = fy__diag_set(d, FY_EPARSE, "model has no graph");
        goto fail;
    }
    if ((rc = convert_graph(L, mp->graph, NULL, 0, m, &m->graph)) != FY_OK)
        goto fail;
    for (int i = 0; i < m->graph->n_inputs; i++)
        if (m->graph->values[m->graph->inputs[i]].info.not_tensor) {
            rc = fy__diag_set(d, FY_EUNSUPPORTED,
                              "graph input '%s' is a sequence, map or optional; ferry supports "
                              "tensors only",
                              m->graph->values[m->graph->inputs[i]].name);
            goto fail;
        }
    *out = m;
    return FY_OK;
oom:
    rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
fail:
    fy_model_free(m);
    return rc;
}

/* mapped: where buf is ours, a FY__READ_MAPPED buffer of the file (NULL when the
 * bytes are the caller's). Big raw_data is lifted out of it before decoding, and it
 * is unmapped and cleared as soon as it is decoded, so the file and its decoded
 * copy are not both held while the IR is built. */
static int load_bytes(fy_model **out, const void *buf, size_t len, const char *base_dir,
                      const fy_load_opts *opts, unsigned char **mapped, fy_diag *d)
{
    size_t max = opts && opts->max_bytes ? opts->max_bytes : FY_MODEL_MAX_BYTES;
    if (len > max)
        return fy__diag_set(d, FY_ELIMIT, "model is %zu bytes, above the limit of %zu", len, max);
    if (len == 0)
        return fy__diag_set(d, FY_EPARSE, "invalid model: the file is empty");
    uint64_t decoded = 0;
    int rc = wire_check(buf, (const uint8_t *)buf + len, &onnx__model_proto__descriptor, 0,
                        &decoded, d);
    if (rc != FY_OK) {
        char tmp[sizeof d->msg];
        if (d) {
            memcpy(tmp, d->msg, sizeof tmp);
            fy__diag_set(d, rc, "invalid model: %s", tmp);
        }
        return rc;
    }
    loader L = {base_dir, max - len, d, NULL, 0};
    uint8_t *skel = NULL;
    size_t skel_len = 0;
    if (mapped && (rc = lift_raw_data(&L, *mapped, len, &skel, &skel_len)) != FY_OK) {
        free_lifted(&L);
        return rc;
    }
    int oom = 0;
    ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, &oom};
    Onnx__ModelProto *mp = skel ? onnx__model_proto__unpack(&pb_allocator, skel_len, skel)
                                : onnx__model_proto__unpack(&pb_allocator, len, buf);
    fy__free(skel);
    if (mapped) { /* decoded: the bytes are no longer needed */
        fy__unmap_read(*mapped, len);
        *mapped = NULL;
    }
    if (!mp) {
        free_lifted(&L);
        if (oom)
            return fy__diag_set(d, FY_ENOMEM, "out of memory decoding the model");
        return fy__diag_set(d, FY_EPARSE,
                            "invalid model: not a valid ONNX protobuf (malformed or truncated)");
    }
    rc = convert_model(&L, mp, out);
    free_lifted(&L);
    onnx__model_proto__free_unpacked(mp, &pb_allocator);
    if (rc == FY_OK)
        (*out)->file_bytes = (int64_t)len;
    return rc;
}

int fy_model_load_buffer(fy_model **out, const void *buf, size_t len, const char *base_dir,
                         const fy_load_opts *opts, fy_diag *d)
{
    return load_bytes(out, buf, len, base_dir, opts, NULL, d);
}

int fy_model_load(fy_model **out, const char *path, const fy_load_opts *opts, fy_diag *d)
{
    size_t max = opts && opts->max_bytes ? opts->max_bytes : FY_MODEL_MAX_BYTES;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_path(path, max, FY__READ_MAPPED, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    else
        dir[0] = 0;
    fy_model *m = NULL;
    rc = load_bytes(&m, buf, len, dir[0] ? dir : NULL, opts, &buf, d);
    fy__unmap_read(buf, len); /* NULL unless loading stopped before decoding */
    if (rc != FY_OK) {
        if (d) {
            char tmp[sizeof d->msg];
            memcpy(tmp, d->msg, sizeof tmp);
            fy__diag_set(d, rc, "%s: %s", path, tmp);
        }
        return rc;
    }
    *out = m;
    return FY_OK;
}

int fy_tensor_from_onnx_pb(fy_tensor *out, const void *buf, size_t len, fy_diag *d)
{
    uint64_t decoded = 0;
    int rc = wire_check(buf, (const uint8_t *)buf + len, &onnx__tensor_proto__descriptor, 0,
                        &decoded, d);
    if (rc != FY_OK)
        return rc;
    int oom = 0;
    ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, &oom};
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&pb_allocator, len, buf);
    if (!tp && oom)
        return fy__diag_set(d, FY_ENOMEM, "out of memory decoding a TensorProto");
    if (!tp)
        return fy__diag_set(d, FY_EPARSE, "not a valid ONNX TensorProto");
    loader L = {NULL, 0, d, NULL, 0};
    rc = tensor_from_proto(&L, tp, NULL, out);
    onnx__tensor_proto__free_unpacked(tp, &pb_allocator);
    return rc;
}
