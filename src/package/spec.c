/* SPDX-License-Identifier: MIT */
/* The deployment specification (SPEC.md, `ferry doc`): everything an operator needs
 * to run a package, generated from its manifest, model and files. Deterministic:
 * no timestamps, host names or ferry version, so the same package always gives
 * the same bytes. Markdown and JSON carry the same content. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "package/package_int.h"

/* Ceiling on the rendered document: op tables and signatures are bounded by the
 * model, which is hostile, so the text is too. */
#define FY_SPEC_MAX_BYTES ((size_t)16 << 20)
#define FY_SPEC_MAX_OPS 4096

/* ---- a growing string with a ceiling; the first failure sticks ---- */

typedef struct sb {
    char *buf;
    size_t len, cap;
    int err;
} sb;

static void sb_add(sb *s, const char *p, size_t n)
{
    if (s->err)
        return;
    if (n >= FY_SPEC_MAX_BYTES - s->len) {
        s->err = FY_ELIMIT;
        return;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *b = fy__realloc(s->buf, cap);
        if (!b) {
            s->err = FY_ENOMEM;
            return;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = 0;
}

static void sb_puts(sb *s, const char *p)
{
    sb_add(s, p, strlen(p));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sb *s, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        s->err = s->err ? s->err : FY_EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_add(s, small, (size_t)n);
        return;
    }
    char *big = fy__malloc((size_t)n + 1);
    if (!big) {
        s->err = s->err ? s->err : FY_ENOMEM;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(s, big, (size_t)n);
    fy__free(big);
}

/* ---- escaping: every string from the manifest or the model is hostile ---- */

/* Inline Markdown text: the characters that could end a table cell, open a code
 * span, a link or raw HTML are backslash-escaped, control characters become
 * spaces; so hostile text renders as text and stays in its cell. Emphasis is
 * left alone: it changes looks, not structure. */
static void md_text(sb *s, const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            sb_add(s, " ", 1);
        else if (strchr("\\`[]<|", *p))
            sb_printf(s, "\\%c", *p);
        else
            sb_add(s, (const char *)p, 1);
    }
}

/* A code span, fenced with more backticks than the longest run inside it. In a
 * table cell '|' still ends the cell (GFM), so it is escaped there. */
static void md_code(sb *s, const char *t, int in_table)
{
    int run = 0, longest = 0;
    for (const char *p = t; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    int pad = longest > 0 || *t == 0;
    for (int i = 0; i <= longest; i++)
        sb_add(s, "`", 1);
    if (pad)
        sb_add(s, " ", 1);
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            sb_add(s, " ", 1);
        else if (*p == '|' && in_table)
            sb_add(s, "\\|", 2);
        else
            sb_add(s, (const char *)p, 1);
    }
    if (pad)
        sb_add(s, " ", 1);
    for (int i = 0; i <= longest; i++)
        sb_add(s, "`", 1);
}

/* A JSON string literal safe inside a shell single-quoted argument and a fenced
 * code block: quotes, backslashes, controls, ' and ` are \u-escaped. */
static void json_lit(sb *s, const char *t)
{
    sb_add(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(s, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f || *p == '\'' || *p == '`')
            sb_printf(s, "\\u%04x", *p);
        else
            sb_add(s, (const char *)p, 1);
    }
    sb_add(s, "\"", 1);
}

/* A URL path segment: unreserved characters as they are, the rest %-encoded. */
static void url_segment(sb *s, const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            sb_add(s, (const char *)p, 1);
        else
            sb_printf(s, "%%%02X", *p);
    }
}

/* A file-name-safe copy for the package file in commands: NAME-VERSION.ferry. */
static void file_safe(sb *s, const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '-' || *p == '.' || *p == '_' || *p == '+';
        sb_add(s, ok ? (const char *)p : "_", 1);
    }
}

/* ---- the facts both renderers present ---- */

typedef struct io_view {
    const char *name;
    fy_dtype dtype;
    int rank; /* -1: not declared */
    int64_t dims[FY_MAX_RANK];
    const char *dim_names[FY_MAX_RANK];
    int ex_rank; /* the example's shape: symbolic dims (and an unknown rank) become 1 */
    int64_t ex_dims[FY_MAX_RANK];
} io_view;

typedef struct op_view {
    const char *domain, *op;
    int count, supported;
} op_view;

typedef struct spec {
    const fy_manifest *man;
    const fy_model *model;
    fy_model_info info;
    const char *name, *version, *digest;
    char *pkg_file; /* NAME-VERSION.ferry, made safe for a shell */
    int n_in, n_out;
    io_view *in, *out;
    int n_ops;
    op_view *ops;
    int ops_err;
    int n_files;
    const fy__spec_file **files; /* sorted by name */
} spec;

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void fill_example(io_view *v, const fy_io_desc *model_io)
{
    const int64_t *dims = v->dims;
    int rank = v->rank;
    if (model_io && model_io->rank >= 0) {
        dims = model_io->dims;
        rank = model_io->rank;
    }
    if (rank < 0 || rank > FY_MAX_RANK) {
        v->ex_rank = 1;
        v->ex_dims[0] = 1;
        return;
    }
    v->ex_rank = rank;
    for (int i = 0; i < rank; i++)
        v->ex_dims[i] = dims[i] < 0 ? 1 : dims[i];
}

static int find_model_io(const fy_model *m, int output, const char *name, fy_io_desc *out)
{
    if (!m || !name)
        return 0;
    int n = output ? fy_model_n_outputs(m) : fy_model_n_inputs(m);
    for (int i = 0; i < n; i++) {
        int rc = output ? fy_model_output(m, i, out) : fy_model_input(m, i, out);
        if (rc == FY_OK && out->name && strcmp(out->name, name) == 0)
            return 1;
    }
    return 0;
}

/* The signature as declared by the manifest, or by the model if the manifest has none. */
static int gather_io(spec *sp, int output)
{
    const fy_manifest *man = sp->man;
    int n_man = output ? man->n_outputs : man->n_inputs;
    const fy_manifest_io *mio = output ? man->outputs : man->inputs;
    int n = n_man;
    if (n_man <= 0 || !mio)
        n = sp->model ? (output ? fy_model_n_outputs(sp->model) : fy_model_n_inputs(sp->model)) : 0;
    if (n < 0)
        n = 0;
    io_view *v = fy__calloc((size_t)(n ? n : 1), sizeof *v);
    if (!v)
        return FY_ENOMEM;
    for (int i = 0; i < n; i++) {
        fy_io_desc md;
        int found;
        if (n_man > 0 && mio) {
            const fy_manifest_io *e = &mio[i];
            v[i].name = or_empty(e->name);
            v[i].dtype = e->dtype;
            v[i].rank = e->rank < 0 || e->rank > FY_MAX_RANK ? -1 : e->rank;
            for (int k = 0; k < v[i].rank; k++) {
                v[i].dims[k] = e->dims[k];
                v[i].dim_names[k] = e->dim_names[k];
            }
            found = find_model_io(sp->model, output, e->name, &md);
        } else {
            found = (output ? fy_model_output(sp->model, i, &md)
                            : fy_model_input(sp->model, i, &md)) == FY_OK;
            if (found) {
                v[i].name = or_empty(md.name);
                v[i].dtype = md.dtype;
                v[i].rank = md.rank < 0 || md.rank > FY_MAX_RANK ? -1 : md.rank;
                for (int k = 0; k < v[i].rank; k++) {
                    v[i].dims[k] = md.dims[k];
                    v[i].dim_names[k] = md.dim_names[k];
                }
            } else {
                v[i].name = "";
                v[i].rank = -1;
            }
        }
        fill_example(&v[i], found ? &md : NULL);
    }
    if (output) {
        sp->out = v;
        sp->n_out = n;
    } else {
        sp->in = v;
        sp->n_in = n;
    }
    return FY_OK;
}

static void on_op(const char *domain, const char *op, int count, int supported, void *ctx)
{
    spec *sp = ctx;
    if (sp->ops_err)
        return;
    if (sp->n_ops >= FY_SPEC_MAX_OPS) {
        sp->ops_err = FY_ELIMIT;
        return;
    }
    op_view *o = fy__realloc(sp->ops, (size_t)(sp->n_ops + 1) * sizeof *o);
    if (!o) {
        sp->ops_err = FY_ENOMEM;
        return;
    }
    sp->ops = o;
    o[sp->n_ops++] =
        (op_view){domain && *domain ? domain : "ai.onnx", or_empty(op), count, supported};
}

static int cmp_file(const void *a, const void *b)
{
    const fy__spec_file *x = *(const fy__spec_file *const *)a;
    const fy__spec_file *y = *(const fy__spec_file *const *)b;
    return strcmp(or_empty(x->name), or_empty(y->name));
}

static void spec_free(spec *sp)
{
    fy__free(sp->pkg_file);
    fy__free(sp->in);
    fy__free(sp->out);
    fy__free(sp->ops);
    fy__free((void *)sp->files);
}

static int spec_gather(spec *sp, const fy_manifest *man, const fy_model *model,
                       const fy__spec_file *files, int n_files, const char *digest, fy_diag *d)
{
    int rc;
    memset(sp, 0, sizeof *sp);
    sp->man = man;
    sp->model = model;
    sp->name = man->name && *man->name ? man->name : "model";
    sp->version = man->version && *man->version ? man->version : "0.0.0";
    sp->digest = digest;
    if (model)
        fy_model_get_info(model, &sp->info);

    sb f = {0};
    file_safe(&f, sp->name);
    sb_add(&f, "-", 1);
    file_safe(&f, sp->version);
    sb_puts(&f, ".ferry");
    if (f.err) {
        fy__free(f.buf);
        return fy__diag_set(d, f.err, "spec: out of memory");
    }
    sp->pkg_file = f.buf;

    if ((rc = gather_io(sp, 0)) != FY_OK || (rc = gather_io(sp, 1)) != FY_OK)
        return fy__diag_set(d, rc, "spec: out of memory listing the signature");
    if (model) {
        if (fy_model_each_op(model, on_op, sp) != FY_OK)
            return fy__diag_set(d, FY_ENOMEM, "spec: out of memory counting operators");
        if (sp->ops_err)
            return fy__diag_set(d, sp->ops_err,
                                sp->ops_err == FY_ELIMIT
                                    ? "spec: the model uses more than %d distinct operators"
                                    : "spec: out of memory listing %d operators",
                                FY_SPEC_MAX_OPS);
    }
    sp->files = fy__calloc((size_t)(n_files > 0 ? n_files : 1), sizeof *sp->files);
    if (!sp->files)
        return fy__diag_set(d, FY_ENOMEM, "spec: out of memory listing files");
    for (int i = 0; i < n_files; i++)
        sp->files[i] = &files[i];
    sp->n_files = n_files;
    qsort((void *)sp->files, (size_t)n_files, sizeof *sp->files, cmp_file);
    return FY_OK;
}

/* ---- shared wording ---- */

static const char *v2_datatype(fy_dtype dt)
{
    switch (dt) {
    case FY_DTYPE_F32: return "FP32";
    case FY_DTYPE_F16: return "FP16";
    case FY_DTYPE_BF16: return "BF16";
    case FY_DTYPE_F64: return "FP64";
    case FY_DTYPE_I8: return "INT8";
    case FY_DTYPE_I16: return "INT16";
    case FY_DTYPE_I32: return "INT32";
    case FY_DTYPE_I64: return "INT64";
    case FY_DTYPE_U8: return "UINT8";
    case FY_DTYPE_U16: return "UINT16";
    case FY_DTYPE_U32: return "UINT32";
    case FY_DTYPE_U64: return "UINT64";
    case FY_DTYPE_BOOL: return "BOOL";
    case FY_DTYPE_STRING: return "BYTES";
    default: return "UNSUPPORTED";
    }
}

static const fy_dtype all_dtypes[] = {
    FY_DTYPE_F32, FY_DTYPE_F16, FY_DTYPE_BF16, FY_DTYPE_F64,    FY_DTYPE_I8,
    FY_DTYPE_I16, FY_DTYPE_I32, FY_DTYPE_I64,  FY_DTYPE_U8,     FY_DTYPE_U16,
    FY_DTYPE_U32, FY_DTYPE_U64, FY_DTYPE_BOOL, FY_DTYPE_STRING,
};

static const char *zero_of(fy_dtype dt)
{
    switch (dt) {
    case FY_DTYPE_F32:
    case FY_DTYPE_F16:
    case FY_DTYPE_BF16:
    case FY_DTYPE_F64: return "0.0";
    case FY_DTYPE_BOOL: return "false";
    case FY_DTYPE_STRING: return "\"\"";
    default: return "0";
    }
}

/* Elements in a shape, saturating at INT64_MAX (model dims are hostile). */
static int64_t numel_sat(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n))
            return INT64_MAX;
    return n;
}

/* "[N, 1, 28, 28]": symbolic dims by name ("?" when unnamed). */
static void shape_text(sb *s, const io_view *v)
{
    if (v->rank < 0) {
        sb_puts(s, "unknown");
        return;
    }
    sb_add(s, "[", 1);
    for (int i = 0; i < v->rank; i++) {
        if (i)
            sb_add(s, ", ", 2);
        if (v->dims[i] >= 0)
            sb_printf(s, "%lld", (long long)v->dims[i]);
        else
            sb_puts(s, v->dim_names[i] && *v->dim_names[i] ? v->dim_names[i] : "?");
    }
    sb_add(s, "]", 1);
}

static void dims_text(sb *s, int rank, const int64_t *dims)
{
    sb_add(s, "[", 1);
    for (int i = 0; i < rank; i++)
        sb_printf(s, i ? ", %lld" : "%lld", (long long)dims[i]);
    sb_add(s, "]", 1);
}

/* Zeros of a shape as nested JSON arrays, abbreviated: each outer level shows its
 * first element, the innermost up to four values; "..." marks what is left out. */
static void zeros_nested(sb *s, const char *zero, int rank, const int64_t *dims, int *abbrev)
{
    if (rank == 0) {
        sb_puts(s, zero);
        return;
    }
    sb_add(s, "[", 1);
    if (rank == 1) {
        int64_t n = dims[0] <= 4 ? dims[0] : 3;
        for (int64_t i = 0; i < n; i++) {
            if (i)
                sb_add(s, ", ", 2);
            sb_puts(s, zero);
        }
        if (dims[0] > 4) {
            sb_puts(s, ", ...");
            *abbrev = 1;
        }
    } else if (dims[0] > 0) {
        zeros_nested(s, zero, rank - 1, dims + 1, abbrev);
        if (dims[0] > 1) {
            sb_puts(s, ", ...");
            *abbrev = 1;
        }
    }
    sb_add(s, "]", 1);
}

static void zeros_flat(sb *s, const char *zero, int64_t n, int *abbrev)
{
    sb_add(s, "[", 1);
    for (int64_t i = 0; i < (n <= 4 ? n : 3); i++) {
        if (i)
            sb_add(s, ", ", 2);
        sb_puts(s, zero);
    }
    if (n > 4) {
        sb_puts(s, ", ...");
        *abbrev = 1;
    }
    sb_add(s, "]", 1);
}

/* The three protocols. kind 0: ferry's /predict, 1: KServe V2, 2: TF Serving. */
enum { PROTO_FERRY, PROTO_V2, PROTO_TF, N_PROTO };
static const char *const proto_title[N_PROTO] = {"ferry", "KServe V2 (Open Inference Protocol)",
                                                 "TensorFlow Serving"};
static const char *const proto_key[N_PROTO] = {"ferry", "kserve-v2", "tensorflow-serving"};

static void proto_path(sb *s, const spec *sp, int kind)
{
    if (kind == PROTO_FERRY) {
        sb_puts(s, "/predict");
    } else if (kind == PROTO_V2) {
        sb_puts(s, "/v2/models/");
        url_segment(s, sp->name);
        sb_puts(s, "/infer");
    } else {
        sb_puts(s, "/v1/models/");
        url_segment(s, sp->name);
        sb_puts(s, ":predict");
    }
}

/* Row form ({"instances": [...]}, one instance: each input without its first,
 * batch, dimension) for /predict and TF Serving; JSON tensors for V2. */
static void proto_body(sb *s, const spec *sp, int kind, int *abbrev)
{
    if (kind == PROTO_V2) {
        sb_puts(s, "{\"inputs\": [");
        for (int i = 0; i < sp->n_in; i++) {
            const io_view *v = &sp->in[i];
            sb_puts(s, i ? ", {\"name\": " : "{\"name\": ");
            json_lit(s, v->name);
            sb_puts(s, ", \"shape\": ");
            dims_text(s, v->ex_rank, v->ex_dims);
            sb_printf(s, ", \"datatype\": \"%s\", \"data\": ", v2_datatype(v->dtype));
            zeros_flat(s, zero_of(v->dtype), numel_sat(v->ex_rank, v->ex_dims), abbrev);
            sb_add(s, "}", 1);
        }
        sb_puts(s, "]}");
        return;
    }
    sb_puts(s, "{\"instances\": [");
    if (sp->n_in > 1)
        sb_add(s, "{", 1);
    for (int i = 0; i < sp->n_in; i++) {
        const io_view *v = &sp->in[i];
        if (sp->n_in > 1) {
            if (i)
                sb_add(s, ", ", 2);
            json_lit(s, v->name);
            sb_add(s, ": ", 2);
        }
        int r = v->ex_rank > 0 ? v->ex_rank - 1 : 0;
        zeros_nested(s, zero_of(v->dtype), r, v->ex_dims + (v->ex_rank > 0), abbrev);
    }
    if (sp->n_in > 1)
        sb_add(s, "}", 1);
    sb_puts(s, "]}");
}

static void proto_curl(sb *s, const spec *sp, int kind, int *abbrev)
{
    sb_puts(s, "curl -s http://localhost:8080");
    proto_path(s, sp, kind);
    sb_puts(s, " -H 'Content-Type: application/json' \\\n  -d '");
    proto_body(s, sp, kind, abbrev);
    sb_add(s, "'", 1);
}

/* The stages of a deployment; `planned` marks what ferry does not do yet, so the
 * document never promises a command that does not exist. */
typedef struct stage {
    const char *key, *title, *what, *command;
    int planned;
} stage;

static const stage stages[] = {
    {"validate", "Validate the package",
     "every blob's digest, the manifest and the signature against your trusted key; a "
     "non-zero exit on any mismatch",
     "ferry check %s --trusted-key KEY.pub", 0},
    {"environment", "Check the environment",
     "the Requirements above (architecture, CPU features, memory, disk, ferry version) "
     "against the target machine",
     "ferry deploy", 1},
    {"stage", "Stage", "start the new version beside the live one, which keeps serving",
     "ferry serve %s --port 8081", 0},
    {"verify", "Verify",
     "hold the staged version to the Test standards above before it takes traffic", "ferry deploy",
     1},
    {"promote", "Promote or roll back",
     "move traffic to the new version if it passed; otherwise stop it and keep the old one",
     "ferry deploy", 1},
};
#define N_STAGES ((int)(sizeof stages / sizeof stages[0]))

static int has_accuracy_gate(const fy_manifest *m)
{
    return m->test_metric && strcmp(m->test_metric, "accuracy") == 0 && m->test_dataset &&
           strncmp(m->test_dataset, "idx:", 4) == 0;
}

/* The command a stage runs, with the package file filled in. */
static void stage_command(sb *s, const spec *sp, const stage *st)
{
    if (strstr(st->command, "%s"))
        sb_printf(s, st->command, sp->pkg_file);
    else
        sb_puts(s, st->command);
}

/* A shell word: as it is when it holds only safe characters, else single-quoted. */
static void shell_word(sb *s, const char *w)
{
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:,./_-+=") ==
                  strlen(w)) {
        sb_puts(s, w);
        return;
    }
    sb_add(s, "'", 1);
    for (const char *p = w; *p; p++) {
        if (*p == '\'')
            sb_puts(s, "'\\''");
        else
            sb_add(s, p, 1);
    }
    sb_add(s, "'", 1);
}

/* What can be done today for the verify stage, when the gate is one ferry eval checks. */
static void eval_command(sb *s, const spec *sp)
{
    sb_printf(s, "ferry eval %s --dataset ", sp->pkg_file);
    shell_word(s, sp->man->test_dataset);
    sb_printf(s, " --min-accuracy %.15g", sp->man->test_min);
}

/* ---- Markdown ---- */

static void md_row(sb *s, const char *key, const char *text)
{
    sb_printf(s, "| %s | ", key);
    md_text(s, text);
    sb_puts(s, " |\n");
}

static void md_row_code(sb *s, const char *key, const char *code)
{
    sb_printf(s, "| %s | ", key);
    md_code(s, code, 1);
    sb_puts(s, " |\n");
}

static void md_list(sb *s, char *const *items, int n, const char *none)
{
    if (n <= 0 || !items) {
        sb_puts(s, none);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (i)
            sb_puts(s, ", ");
        md_text(s, or_empty(items[i]));
    }
}

static void md_io_table(sb *s, const char *title, const io_view *v, int n)
{
    sb_printf(s, "### %s\n\n", title);
    if (n == 0) {
        sb_puts(s, "None declared.\n\n");
        return;
    }
    sb_puts(s, "| Name | Type | Shape |\n|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        sb_puts(s, "| ");
        md_code(s, v[i].name, 1);
        sb_printf(s, " | %s | ", fy_dtype_name(v[i].dtype));
        sb sh = {0};
        shape_text(&sh, &v[i]);
        if (sh.err)
            s->err = s->err ? s->err : sh.err;
        else
            md_code(s, sh.buf, 1);
        fy__free(sh.buf);
        sb_puts(s, " |\n");
    }
    sb_puts(s, "\n");
}

static void md_doubles(sb *s, const double *v, int n)
{
    sb_add(s, "[", 1);
    for (int i = 0; i < n; i++)
        sb_printf(s, i ? ", %.15g" : "%.15g", v[i]);
    sb_add(s, "]", 1);
}

static void render_md(sb *s, const spec *sp)
{
    const fy_manifest *m = sp->man;

    sb_puts(s, "# ");
    md_text(s, sp->name);
    sb_add(s, " ", 1);
    md_text(s, sp->version);
    sb_puts(s, " — deployment specification\n\n");
    sb_puts(s, "Generated by `ferry doc` from the package: the same package always gives the same "
               "document.\n\n");

    /* Summary */
    sb_puts(s, "## Summary\n\n| Field | Value |\n|---|---|\n");
    md_row(s, "Name", sp->name);
    md_row(s, "Version", sp->version);
    md_row(s, "Description", m->description ? m->description : "not stated");
    md_row(s, "Licence", m->license ? m->license : "not stated");
    sb_puts(s, "| Authors | ");
    md_list(s, m->authors, m->n_authors, "not stated");
    sb_puts(s, " |\n| Framework | ");
    md_text(s, m->framework ? m->framework : "not stated");
    if (m->framework && m->framework_version) {
        sb_add(s, " ", 1);
        md_text(s, m->framework_version);
    }
    sb_puts(s, " |\n");
    md_row(s, "Format", m->model_format ? m->model_format : "onnx");
    if (m->model_file)
        md_row_code(s, "Model file", m->model_file);
    if (sp->digest)
        md_row_code(s, "Package digest", sp->digest);
    sb_puts(s, "\n");

    /* Signature */
    sb_puts(s, "## Signature\n\n");
    md_io_table(s, "Inputs", sp->in, sp->n_in);
    md_io_table(s, "Outputs", sp->out, sp->n_out);
    sb_puts(s, "A named dimension (such as the batch) takes any size at run time; `?` is an "
               "unnamed one. The examples below use 1 for each.\n\n");

    /* Pre- and post-processing */
    sb_puts(s, "## Pre- and post-processing\n\n");
    int any = 0;
    if (m->scale != 0 && m->scale != 1) {
        sb_printf(s, "- Scale: each input value is multiplied by %.15g.\n", m->scale);
        any = 1;
    }
    if (m->n_mean > 0 || m->n_std > 0) {
        sb_puts(s, "- Normalization: x' = (x × scale − mean[c]) / std[c], with mean = ");
        md_doubles(s, m->mean, m->n_mean);
        sb_puts(s, " and std = ");
        md_doubles(s, m->std, m->n_std);
        sb_puts(s, " per channel c.\n");
        any = 1;
    }
    if (m->layout) {
        sb_puts(s, "- Layout: ");
        md_text(s, m->layout);
        sb_puts(s, ".\n");
        any = 1;
    }
    if (m->labels_file) {
        sb_puts(s, "- Labels: ");
        md_code(s, m->labels_file, 0);
        sb_puts(s, ", one class label per line: output index i is the label on line i + 1.\n");
        any = 1;
    }
    if (!any)
        sb_puts(s, "None declared: inputs go to the model as they are, and outputs come back as "
                   "the model computes them.\n");
    sb_puts(s, "\n");

    /* Model */
    sb_puts(s, "## Model\n\n");
    if (!sp->model) {
        sb_puts(s, "The model was not loaded.\n\n");
    } else {
        const fy_model_info *in = &sp->info;
        sb_puts(s, "| Field | Value |\n|---|---|\n");
        sb_printf(s, "| IR version | %lld |\n| Opset | %lld |\n", (long long)in->ir_version,
                  (long long)in->opset);
        sb_puts(s, "| Producer | ");
        md_text(s, in->producer_name && *in->producer_name ? in->producer_name : "not stated");
        if (in->producer_version && *in->producer_version) {
            sb_add(s, " ", 1);
            md_text(s, in->producer_version);
        }
        sb_puts(s, " |\n");
        sb_printf(s, "| Nodes | %lld |\n", (long long)in->n_nodes);
        sb_printf(s, "| Parameters | %lld in %lld initializers |\n| Parameter bytes | %lld |\n\n",
                  (long long)in->n_params, (long long)in->n_initializers,
                  (long long)in->n_param_bytes);
        sb_puts(s, "### Operators\n\n");
        if (sp->n_ops == 0) {
            sb_puts(s, "None.\n\n");
        } else {
            sb_puts(s, "| Domain | Operator | Count | Supported by ferry |\n|---|---|---|---|\n");
            for (int i = 0; i < sp->n_ops; i++) {
                const op_view *o = &sp->ops[i];
                sb_puts(s, "| ");
                md_text(s, o->domain);
                sb_puts(s, " | ");
                md_text(s, o->op);
                sb_printf(s, " | %d | %s |\n", o->count, o->supported ? "yes" : "no");
            }
            sb_puts(s, "\n");
        }
    }

    /* Files */
    sb_puts(s, "## Files\n\n");
    if (sp->n_files == 0) {
        sb_puts(s, "None listed.\n\n");
    } else {
        sb_puts(s, "| File | Bytes | SHA-256 |\n|---|---|---|\n");
        for (int i = 0; i < sp->n_files; i++) {
            const fy__spec_file *f = sp->files[i];
            sb_puts(s, "| ");
            md_code(s, or_empty(f->name), 1);
            sb_printf(s, " | %zu | ", f->size);
            md_code(s, f->digest, 1);
            sb_puts(s, " |\n");
        }
        sb_puts(s, "\n");
    }

    /* Requirements */
    sb_puts(s, "## Requirements\n\n| Requirement | Value |\n|---|---|\n| Architecture | ");
    md_list(s, m->archs, m->n_archs, "not stated");
    sb_puts(s, " |\n| CPU features | ");
    md_list(s, m->cpu_features, m->n_cpu_features, "none stated");
    sb_puts(s, " |\n");
    if (m->min_memory_mb > 0)
        sb_printf(s, "| Memory | at least %lld MiB |\n", (long long)m->min_memory_mb);
    else
        sb_puts(s, "| Memory | not stated |\n");
    if (m->min_disk_mb > 0)
        sb_printf(s, "| Disk | at least %lld MiB |\n", (long long)m->min_disk_mb);
    else
        sb_puts(s, "| Disk | not stated |\n");
    if (m->threads > 0)
        sb_printf(s, "| Threads | %d |\n", m->threads);
    else
        sb_puts(s, "| Threads | not stated |\n");
    if (m->ferry_version)
        md_row_code(s, "ferry version", m->ferry_version);
    else
        sb_puts(s, "| ferry version | any |\n");
    sb_puts(s, "\n");

    /* Serving defaults */
    sb_puts(s, "## Serving defaults\n\n| Setting | Value |\n|---|---|\n");
    if (m->max_batch_size > 0)
        sb_printf(s,
                  "| Dynamic batching | up to %d items per batch, waiting at most %d µs for a "
                  "batch to fill |\n",
                  m->max_batch_size, m->max_queue_delay_us);
    else
        sb_puts(s, "| Dynamic batching | off |\n");
    sb_printf(s, "| Instances | %d |\n\n", m->instances > 0 ? m->instances : 1);

    /* Test standards */
    sb_puts(s, "## Test standards\n\n| Standard | Value |\n|---|---|\n");
    if (m->test_dataset)
        md_row_code(s, "Dataset", m->test_dataset);
    else
        sb_puts(s, "| Dataset | not stated |\n");
    if (m->test_metric) {
        sb_puts(s, "| Metric | ");
        md_text(s, m->test_metric);
        sb_printf(s, " at least %.15g |\n", m->test_min);
    } else {
        sb_puts(s, "| Metric | not stated |\n");
    }
    if (m->test_max_p99_ms > 0)
        sb_printf(s, "| p99 latency | at most %.15g ms |\n", m->test_max_p99_ms);
    else
        sb_puts(s, "| p99 latency | no gate |\n");
    if (m->test_min_throughput > 0)
        sb_printf(s, "| Throughput | at least %.15g items/s |\n", m->test_min_throughput);
    else
        sb_puts(s, "| Throughput | no gate |\n");
    sb_puts(s, "\n");

    /* Deployment flow */
    sb_puts(s, "## Deployment flow\n\n");
    for (int i = 0; i < N_STAGES; i++) {
        const stage *st = &stages[i];
        sb_printf(s, "%d. **%s** (`", i + 1, st->title);
        stage_command(s, sp, st);
        sb_printf(s, "`%s): %s", st->planned ? ", planned" : "", st->what);
        if (strcmp(st->key, "verify") == 0 && has_accuracy_gate(m)) {
            sb_puts(s, "; the accuracy gate can be checked today with ");
            sb sub = {0};
            eval_command(&sub, sp);
            if (sub.err)
                s->err = s->err ? s->err : sub.err;
            else
                md_code(s, sub.buf, 0);
            fy__free(sub.buf);
        }
        sb_puts(s, ".\n");
    }
    sb_puts(s, "\n`ferry deploy` (planned) will run these stages in order and record each "
               "result; until then, run the available steps by hand.\n\n");

    /* How to call it */
    sb_puts(s, "## How to call it\n\n");
    sb_printf(s, "`ferry serve %s` serves the model as ", sp->pkg_file);
    md_code(s, sp->name, 0);
    sb_puts(s, " on port 8080 (loopback unless `--host` says otherwise), speaking the three "
               "protocols below; a runnable package's OCI image (`ferry pack --runnable`) runs "
               "the same command as its entrypoint. Metrics are at `/metrics`, health at "
               "`/healthz/live` and `/healthz/ready`.\n\n");
    sb_puts(s, "Data types: ");
    for (size_t i = 0; i < sizeof all_dtypes / sizeof all_dtypes[0]; i++)
        sb_printf(s, "%s%s → %s", i ? ", " : "", fy_dtype_name(all_dtypes[i]),
                  v2_datatype(all_dtypes[i]));
    sb_puts(s, " (the KServe V2 datatype names). The row forms take plain JSON numbers.\n\n");
    sb_puts(s, "The request bodies hold zeros of the right shape.\n\n");
    for (int k = 0; k < N_PROTO; k++) {
        int abbrev = 0;
        sb_printf(s, "### %s: POST ", proto_title[k]);
        proto_path(s, sp, k);
        sb_puts(s, "\n\n");
        if (k == PROTO_V2)
            sb_puts(s, "JSON tensors: each input with its full shape (batch included), datatype "
                       "and its values flattened in row-major order.\n\n");
        else
            sb_puts(s, "Row form: `instances` is a list with one entry per item, each input "
                       "without its first (batch) dimension.\n\n");
        sb_puts(s, "```sh\n");
        proto_curl(s, sp, k, &abbrev);
        sb_puts(s, "\n```\n\n");
        if (abbrev) {
            sb_puts(s, "Abbreviated: `...` stands for values left out; a full request carries ");
            for (int i = 0; i < sp->n_in; i++) {
                const io_view *v = &sp->in[i];
                int row = k != PROTO_V2 && v->ex_rank > 0;
                int64_t n = numel_sat(v->ex_rank - row, v->ex_dims + row);
                sb_puts(s, i == 0 ? "" : i + 1 < sp->n_in ? ", " : " and ");
                if (n == INT64_MAX)
                    sb_puts(s, "too many values");
                else
                    sb_printf(s, "%lld value%s", (long long)n, n == 1 ? "" : "s");
                sb_puts(s, " for ");
                md_code(s, v->name, 0);
            }
            sb_puts(s, k == PROTO_V2 ? ".\n\n" : " per instance.\n\n");
        }
        if (k == PROTO_FERRY)
            sb_puts(s, "The answer is `{\"predictions\": [...]}`, one entry per instance.\n\n");
        else if (k == PROTO_V2)
            sb_puts(s, "The answer is `{\"model_name\": ..., \"outputs\": [{\"name\", \"shape\", "
                       "\"datatype\", \"data\"}]}`.\n\n");
        else
            sb_puts(s, "The answer is `{\"predictions\": [...]}`, one entry per instance.\n\n");
    }
}

/* ---- JSON ---- */

typedef struct jctx {
    int oom;
} jctx;

/* A JSON string from bytes that may not be UTF-8 (model names are hostile):
 * bytes that jansson refuses become '?'. */
static json_t *jstr(jctx *j, const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (v)
        return v;
    char *c = fy__strdup(s);
    if (!c) {
        j->oom = 1;
        return NULL;
    }
    for (unsigned char *p = (unsigned char *)c; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    v = json_string(c);
    fy__free(c);
    if (!v)
        j->oom = 1;
    return v;
}

static json_t *jsb(jctx *j, sb *s)
{
    if (s->err) {
        j->oom = 1;
        fy__free(s->buf);
        return NULL;
    }
    json_t *v = jstr(j, s->buf ? s->buf : "");
    fy__free(s->buf);
    return v;
}

static json_t *jint(jctx *j, int64_t v)
{
    json_t *r = json_integer((json_int_t)v);
    if (!r)
        j->oom = 1;
    return r;
}

static json_t *jreal(jctx *j, double v)
{
    if (!isfinite(v))
        return json_null();
    json_t *r = json_real(v);
    if (!r)
        j->oom = 1;
    return r;
}

static void jset(jctx *j, json_t *obj, const char *key, json_t *v)
{
    if (!obj) {
        json_decref(v); /* NULL-safe; set_new would have taken ownership */
        j->oom = 1;
    } else if (!v || json_object_set_new(obj, key, v) != 0) {
        j->oom = 1;
    }
}

static void jpush(jctx *j, json_t *arr, json_t *v)
{
    if (!arr) {
        json_decref(v);
        j->oom = 1;
    } else if (!v || json_array_append_new(arr, v) != 0) {
        j->oom = 1;
    }
}

static json_t *jobj(jctx *j)
{
    json_t *o = json_object();
    if (!o)
        j->oom = 1;
    return o;
}

static json_t *jarr(jctx *j)
{
    json_t *a = json_array();
    if (!a)
        j->oom = 1;
    return a;
}

static json_t *jstrings(jctx *j, char *const *items, int n)
{
    json_t *a = jarr(j);
    for (int i = 0; i < n && items; i++)
        jpush(j, a, jstr(j, or_empty(items[i])));
    return a;
}

static json_t *jio(jctx *j, const io_view *v, int n)
{
    json_t *a = jarr(j);
    for (int i = 0; i < n; i++) {
        json_t *o = jobj(j);
        jset(j, o, "name", jstr(j, v[i].name));
        jset(j, o, "dtype", jstr(j, fy_dtype_name(v[i].dtype)));
        jset(j, o, "datatype", jstr(j, v2_datatype(v[i].dtype)));
        if (v[i].rank < 0) {
            jset(j, o, "shape", json_null());
        } else {
            json_t *sh = jarr(j);
            for (int k = 0; k < v[i].rank; k++)
                jpush(j, sh,
                      v[i].dims[k] >= 0
                          ? jint(j, v[i].dims[k])
                          : jstr(j, v[i].dim_names[k] && *v[i].dim_names[k] ? v[i].dim_names[k]
                                                                            : "?"));
            jset(j, o, "shape", sh);
        }
        json_t *ex = jarr(j);
        for (int k = 0; k < v[i].ex_rank; k++)
            jpush(j, ex, jint(j, v[i].ex_dims[k]));
        jset(j, o, "example_shape", ex);
        jpush(j, a, o);
    }
    return a;
}

static json_t *jopt_str(jctx *j, const char *s)
{
    return s ? jstr(j, s) : json_null();
}
static json_t *jopt_int(jctx *j, int64_t v)
{
    return v > 0 ? jint(j, v) : json_null();
}
static json_t *jopt_real(jctx *j, double v)
{
    return v > 0 ? jreal(j, v) : json_null();
}

static json_t *jdoubles(jctx *j, const double *v, int n)
{
    json_t *a = jarr(j);
    for (int i = 0; i < n && v; i++)
        jpush(j, a, jreal(j, v[i]));
    return a;
}

static json_t *render_json(jctx *j, const spec *sp)
{
    const fy_manifest *m = sp->man;
    json_t *doc = jobj(j), *o;
    sb t = {0};

    sb_printf(&t, "%s %s — deployment specification", sp->name, sp->version);
    jset(j, doc, "title", jsb(j, &t));
    jset(j, doc, "name", jstr(j, sp->name));
    jset(j, doc, "version", jstr(j, sp->version));

    o = jobj(j);
    jset(j, o, "description", jopt_str(j, m->description));
    jset(j, o, "license", jopt_str(j, m->license));
    jset(j, o, "authors", jstrings(j, m->authors, m->n_authors));
    jset(j, o, "framework", jopt_str(j, m->framework));
    jset(j, o, "framework_version", jopt_str(j, m->framework_version));
    jset(j, o, "format", jstr(j, m->model_format ? m->model_format : "onnx"));
    jset(j, o, "model_file", jopt_str(j, m->model_file));
    jset(j, o, "package_digest", jopt_str(j, sp->digest));
    jset(j, doc, "summary", o);

    o = jobj(j);
    jset(j, o, "inputs", jio(j, sp->in, sp->n_in));
    jset(j, o, "outputs", jio(j, sp->out, sp->n_out));
    jset(j, doc, "signature", o);

    o = jobj(j);
    jset(j, o, "scale", jreal(j, m->scale != 0 ? m->scale : 1));
    jset(j, o, "mean", jdoubles(j, m->mean, m->n_mean));
    jset(j, o, "std", jdoubles(j, m->std, m->n_std));
    jset(j, o, "layout", jopt_str(j, m->layout));
    jset(j, doc, "preprocessing", o);
    o = jobj(j);
    jset(j, o, "labels_file", jopt_str(j, m->labels_file));
    jset(j, doc, "postprocessing", o);

    if (!sp->model) {
        jset(j, doc, "model", json_null());
    } else {
        const fy_model_info *in = &sp->info;
        o = jobj(j);
        jset(j, o, "ir_version", jint(j, in->ir_version));
        jset(j, o, "opset", jint(j, in->opset));
        jset(j, o, "producer_name", jstr(j, or_empty(in->producer_name)));
        jset(j, o, "producer_version", jstr(j, or_empty(in->producer_version)));
        jset(j, o, "nodes", jint(j, in->n_nodes));
        jset(j, o, "initializers", jint(j, in->n_initializers));
        jset(j, o, "parameters", jint(j, in->n_params));
        jset(j, o, "parameter_bytes", jint(j, in->n_param_bytes));
        json_t *ops = jarr(j);
        for (int i = 0; i < sp->n_ops; i++) {
            json_t *e = jobj(j);
            jset(j, e, "domain", jstr(j, sp->ops[i].domain));
            jset(j, e, "op", jstr(j, sp->ops[i].op));
            jset(j, e, "count", jint(j, sp->ops[i].count));
            jset(j, e, "supported", json_boolean(sp->ops[i].supported));
            jpush(j, ops, e);
        }
        jset(j, o, "ops", ops);
        jset(j, doc, "model", o);
    }

    json_t *files = jarr(j);
    for (int i = 0; i < sp->n_files; i++) {
        json_t *e = jobj(j);
        jset(j, e, "name", jstr(j, or_empty(sp->files[i]->name)));
        jset(j, e, "bytes", jint(j, (int64_t)sp->files[i]->size));
        jset(j, e, "sha256", jstr(j, sp->files[i]->digest));
        jpush(j, files, e);
    }
    jset(j, doc, "files", files);

    o = jobj(j);
    jset(j, o, "architectures", jstrings(j, m->archs, m->n_archs));
    jset(j, o, "cpu_features", jstrings(j, m->cpu_features, m->n_cpu_features));
    jset(j, o, "min_memory_mb", jopt_int(j, m->min_memory_mb));
    jset(j, o, "min_disk_mb", jopt_int(j, m->min_disk_mb));
    jset(j, o, "threads", jopt_int(j, m->threads));
    jset(j, o, "ferry_version", jopt_str(j, m->ferry_version));
    jset(j, doc, "requirements", o);

    o = jobj(j);
    jset(j, o, "max_batch_size", jint(j, m->max_batch_size > 0 ? m->max_batch_size : 0));
    jset(j, o, "max_queue_delay_us",
         jint(j, m->max_queue_delay_us > 0 ? m->max_queue_delay_us : 0));
    jset(j, o, "instances", jint(j, m->instances > 0 ? m->instances : 1));
    jset(j, doc, "serving", o);

    o = jobj(j);
    jset(j, o, "dataset", jopt_str(j, m->test_dataset));
    jset(j, o, "metric", jopt_str(j, m->test_metric));
    jset(j, o, "minimum", m->test_metric ? jreal(j, m->test_min) : json_null());
    jset(j, o, "max_p99_ms", jopt_real(j, m->test_max_p99_ms));
    jset(j, o, "min_throughput", jopt_real(j, m->test_min_throughput));
    jset(j, doc, "test_standards", o);

    json_t *flow = jarr(j);
    for (int i = 0; i < N_STAGES; i++) {
        json_t *e = jobj(j);
        sb c = {0};
        stage_command(&c, sp, &stages[i]);
        jset(j, e, "step", jint(j, i + 1));
        jset(j, e, "stage", jstr(j, stages[i].key));
        jset(j, e, "title", jstr(j, stages[i].title));
        jset(j, e, "what", jstr(j, stages[i].what));
        jset(j, e, "command", jsb(j, &c));
        jset(j, e, "planned", json_boolean(stages[i].planned));
        if (strcmp(stages[i].key, "verify") == 0 && has_accuracy_gate(m)) {
            sb ev = {0};
            eval_command(&ev, sp);
            jset(j, e, "available_now", jsb(j, &ev));
        }
        jpush(j, flow, e);
    }
    jset(j, doc, "deployment_flow", flow);

    json_t *eps = jarr(j);
    for (int k = 0; k < N_PROTO; k++) {
        json_t *e = jobj(j);
        sb path = {0}, body = {0}, curl = {0};
        int abbrev = 0;
        proto_path(&path, sp, k);
        proto_body(&body, sp, k, &abbrev);
        proto_curl(&curl, sp, k, &abbrev);
        jset(j, e, "protocol", jstr(j, proto_key[k]));
        jset(j, e, "method", jstr(j, "POST"));
        jset(j, e, "path", jsb(j, &path));
        jset(j, e, "body", jsb(j, &body));
        jset(j, e, "body_abbreviated", json_boolean(abbrev));
        jset(j, e, "curl", jsb(j, &curl));
        jset(j, e, "planned", json_false());
        jpush(j, eps, e);
    }
    jset(j, doc, "endpoints", eps);

    json_t *dts = jobj(j);
    for (size_t i = 0; i < sizeof all_dtypes / sizeof all_dtypes[0]; i++)
        jset(j, dts, fy_dtype_name(all_dtypes[i]), jstr(j, v2_datatype(all_dtypes[i])));
    jset(j, doc, "datatypes", dts);
    return doc;
}

/* ---- entry points ---- */

int fy__spec_render(const fy_manifest *man, const fy_model *model, const fy__spec_file *files,
                    int n_files, const char *package_digest, int json, char **out, fy_diag *d)
{
    spec sp;
    int rc;

    if (!man || !out || n_files < 0 || (n_files > 0 && !files))
        return fy__diag_set(d, FY_EINVAL, "spec: missing manifest, files or output");
    if ((rc = spec_gather(&sp, man, model, files, n_files, package_digest, d)) != FY_OK)
        goto done;
    if (!json) {
        sb s = {0};
        render_md(&s, &sp);
        if (s.err) {
            fy__free(s.buf);
            rc = fy__diag_set(d, s.err,
                              s.err == FY_ELIMIT ? "spec: the document exceeds %zu bytes"
                                                 : "spec: out of memory (document limit %zu bytes)",
                              FY_SPEC_MAX_BYTES);
            goto done;
        }
        *out = s.buf;
        rc = FY_OK;
    } else {
        jctx j = {0};
        json_t *doc = render_json(&j, &sp);
        char *text = NULL;
        if (!j.oom && doc)
            text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        json_decref(doc);
        if (!text) {
            rc = fy__diag_set(d, FY_ENOMEM, "spec: out of memory building the JSON document");
            goto done;
        }
        /* jansson allocates with malloc, and so does fy__malloc: the caller frees with
         * free() either way. Add the final newline a text file should have. */
        size_t n = strlen(text);
        char *t = fy__realloc(text, n + 2);
        if (!t) {
            free(text);
            rc = fy__diag_set(d, FY_ENOMEM, "spec: out of memory building the JSON document");
            goto done;
        }
        t[n] = '\n';
        t[n + 1] = 0;
        *out = t;
        rc = FY_OK;
    }
done:
    spec_free(&sp);
    return rc;
}

int fy_package_spec(const fy_package *p, int json, char **out, fy_diag *d)
{
    const fy_manifest *man = fy_package_manifest(p);
    fy_model *model = NULL;
    fy__spec_file files[4];
    const char *names[4];
    int n_names = 0, n = 0, rc;

    if (!man)
        return fy__diag_set(d, FY_EINVAL, "package: no manifest");
    if ((!man->model_format || strcmp(man->model_format, "gguf") != 0) &&
        (rc = fy_package_load_model(p, &model, d)) != FY_OK)
        return rc;
    names[n_names++] = "ferry.yaml";
    if (man->model_file)
        names[n_names++] = man->model_file;
    if (man->labels_file)
        names[n_names++] = man->labels_file;
    names[n_names++] = "SPEC.md";
    for (int i = 0; i < n_names; i++) {
        const void *data;
        size_t len;
        int dup = 0;
        for (int k = 0; k < n; k++)
            dup |= strcmp(files[k].name, names[i]) == 0;
        if (dup)
            continue;
        rc = fy_package_file(p, names[i], &data, &len);
        if (rc == FY_ENOTFOUND)
            continue; /* SPEC.md is optional; the model and ferry.yaml were checked at open */
        if (rc != FY_OK) {
            rc = fy__diag_set(d, rc, "package: %s: %s", names[i], fy_strerror(rc));
            goto done;
        }
        files[n].name = names[i];
        files[n].size = len;
        fy__sha256_digest(data, len, files[n].digest);
        n++;
    }
    rc = fy__spec_render(man, model, files, n, fy_package_digest(p), json, out, d);
done:
    fy_model_free(model);
    return rc;
}
