/* SPDX-License-Identifier: MIT */
/* The ferry.yaml manifest: hostile YAML bytes to a validated fy_manifest (libyaml's
 * event API into a small tree, then a schema pass), the check against a loaded
 * model, and the commented template `ferry init` writes. Schema: docs/manifest.md. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <yaml.h>

#include "../core/core.h"
#include "package_int.h"

/* Ceilings on the YAML itself (the byte ceiling is FY_MANIFEST_MAX_BYTES). A real
 * manifest nests 5 levels (root, signature, inputs, entry, shape) and holds a few
 * hundred nodes; the node ceiling bounds the tree a 1 MiB flow list could build. */
#define MAX_DEPTH 8
#define MAX_STRING 4096
#define MAX_NODES 16384
#define MAX_VERSION 128 /* bytes in version: it becomes part of NAME-VERSION.ferry */
#define MAX_PATH_BYTES                                                                             \
    200 /* model.file, postprocessing.labels: "ferry/<file>" fits a ustar name                     \
         */
#define MAX_DIM ((int64_t)1 << 40)
#define MAX_BATCH 65536
#define MAX_THREADS 1024
#define MAX_INSTANCES 1024
#define MAX_MB ((int64_t)1 << 30)
#define MAX_QUEUE_DELAY_MS 60000.0

#define API_VERSION "ferry/v1"

/* ------------------------------------------------------------------------- */
/* Diagnostics                                                                */
/* ------------------------------------------------------------------------- */

typedef struct pctx {
    const char *file;
    const char *text; /* the input, for line numbers of byte-level errors */
    size_t len;
    fy_diag *d;
} pctx;

/* Every message is "FILE:LINE: FIELD: RULE"; FIELD is "(document)" when no field
 * applies (bytes that are not UTF-8, a second document). */
__attribute__((format(printf, 5, 6))) static int fail(pctx *c, int code, int line, const char *path,
                                                      const char *fmt, ...)
{
    if (c->d) {
        char rule[400];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rule, sizeof rule, fmt, ap);
        va_end(ap);
        fy__diag_set(c->d, code, "%s:%d: %s: %s", c->file, line,
                     path && *path ? path : "(document)", rule);
    }
    return code;
}

/* A hostile value made safe to print: printable ASCII as is, other bytes as \xNN,
 * cut at 48 bytes. */
static const char *show(char *buf, size_t n, const char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 48) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            buf[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", ch);
        }
    }
    buf[o] = 0;
    return buf;
}

/* Line (1-based) of a byte offset, counting "\n", "\r\n" and a lone "\r" as libyaml does. */
static int line_of(const char *t, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= len || t[i + 1] != '\n')))
            line++;
    }
    return line;
}

/* Optimal string alignment distance (a transposition costs 1), case-insensitive. */
static int edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int dp[66][66];
    for (size_t i = 0; i <= la; i++)
        dp[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        dp[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            int best = dp[i - 1][j - 1] + (ca != cb);
            if (dp[i - 1][j] + 1 < best)
                best = dp[i - 1][j] + 1;
            if (dp[i][j - 1] + 1 < best)
                best = dp[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && dp[i - 2][j - 2] + 1 < best)
                best = dp[i - 2][j - 2] + 1;
            dp[i][j] = best;
        }
    }
    return dp[la][lb];
}

/* " (did you mean 'x'?)" for the closest candidate within reach, else "". A value
 * that differs only in case counts as close (distance 0 after folding). */
static const char *hint(char *buf, size_t n, const char *s, size_t len, const char *const *cands)
{
    const char *best = NULL;
    int bd = 99;
    size_t blen_diff = 0;
    for (int i = 0; cands[i]; i++) {
        int dist = edit_distance(s, len, cands[i]);
        size_t cl = strlen(cands[i]), diff = cl > len ? cl - len : len - cl;
        /* ties go to the candidate closest in length: avx3 -> avx2, not avx */
        if (dist < bd || (dist == bd && diff < blen_diff)) {
            bd = dist;
            best = cands[i];
            blen_diff = diff;
        }
    }
    size_t bl = best ? strlen(best) : 0;
    int reach = bl <= 4 ? 1 : bl <= 8 ? 2 : 3;
    if (!best || bd > reach)
        buf[0] = 0;
    else
        snprintf(buf, n, " (did you mean '%s'?)", best);
    return buf;
}

/* Dotted field paths: "signature.inputs[0].dtype". */
#define PATH_MAX_LEN 160
static const char *join(char *out, const char *parent, const char *key)
{
    snprintf(out, PATH_MAX_LEN, "%s%s%s", parent, *parent ? "." : "", key);
    return out;
}
static const char *idx(char *out, const char *parent, int i)
{
    snprintf(out, PATH_MAX_LEN, "%s[%d]", parent, i);
    return out;
}

/* ------------------------------------------------------------------------- */
/* Bytes: size, NUL, UTF-8                                                    */
/* ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates, at most
 * U+10FFFF), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int check_bytes(pctx *c)
{
    if (c->len > FY_MANIFEST_MAX_BYTES)
        return fail(c, FY_ELIMIT, 1, NULL, "%zu bytes, above the limit of %zu", c->len,
                    (size_t)FY_MANIFEST_MAX_BYTES);
    const unsigned char *s = (const unsigned char *)c->text;
    for (size_t i = 0; i < c->len;) {
        if (s[i] == 0)
            return fail(c, FY_EPARSE, line_of(c->text, c->len, i), NULL, "NUL byte at offset %zu",
                        i);
        size_t n = utf8_seq(s + i, c->len - i);
        if (n == 0)
            return fail(c, FY_EPARSE, line_of(c->text, c->len, i), NULL,
                        "invalid UTF-8 at offset %zu (byte 0x%02x)", i, s[i]);
        i += n;
    }
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* YAML events to a tree                                                      */
/* ------------------------------------------------------------------------- */

enum { N_SCALAR, N_MAP, N_SEQ };

typedef struct node {
    int kind;
    int line;
    int plain; /* scalar written without quotes (so it may be a number or null) */
    size_t len;
    char *s; /* scalar text, NUL-terminated; may hold NUL bytes from escapes: see len */
    int n, cap;
    struct node **kids; /* MAP: key, value, key, value...; SEQ: items */
} node;

static void node_free(node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    fy__free(n->kids);
    fy__free(n->s);
    fy__free(n);
}

typedef struct builder {
    pctx *c;
    node *root;
    node *stack[MAX_DEPTH];
    int depth;
    int n_nodes;
    int docs;
} builder;

/* The path of the place the parser is at, for errors found while building. */
static const char *builder_path(const builder *b, char *out)
{
    char tmp[PATH_MAX_LEN], key[64];
    out[0] = 0;
    for (int i = 0; i < b->depth; i++) {
        const node *f = b->stack[i];
        int top = i == b->depth - 1;
        if (f->kind == N_MAP) {
            int k = top ? (f->n % 2 ? f->n - 1 : -1) : f->n - 2;
            if (k < 0)
                continue;
            show(key, sizeof key, f->kids[k]->s, f->kids[k]->len);
            snprintf(tmp, sizeof tmp, "%s", out);
            join(out, tmp, key);
        } else {
            snprintf(tmp, sizeof tmp, "%s", out);
            idx(out, tmp, top ? f->n : f->n - 1);
        }
    }
    return out;
}

static int attach(builder *b, node *n, int line)
{
    char path[PATH_MAX_LEN];
    if (b->depth == 0) {
        b->root = n;
        return FY_OK;
    }
    node *p = b->stack[b->depth - 1];
    if (p->kind == N_MAP && p->n % 2 == 0 && n->kind != N_SCALAR) {
        const char *what = n->kind == N_MAP ? "mapping" : "list";
        node_free(n);
        return fail(b->c, FY_EPARSE, line, builder_path(b, path),
                    "keys must be plain strings, not a %s", what);
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 8;
        node **k = fy__realloc(p->kids, (size_t)cap * sizeof *k);
        if (!k) {
            node_free(n);
            return fail(b->c, FY_ENOMEM, line, builder_path(b, path), "out of memory");
        }
        p->kids = k;
        p->cap = cap;
    }
    p->kids[p->n++] = n;
    return FY_OK;
}

static int new_node(builder *b, int kind, int line, node **out)
{
    char path[PATH_MAX_LEN];
    if (++b->n_nodes > MAX_NODES)
        return fail(b->c, FY_ELIMIT, line, builder_path(b, path),
                    "more than %d YAML nodes in the manifest", MAX_NODES);
    node *n = fy__calloc(1, sizeof *n);
    if (!n)
        return fail(b->c, FY_ENOMEM, line, builder_path(b, path), "out of memory");
    n->kind = kind;
    n->line = line;
    *out = n;
    return FY_OK;
}

/* Anchors, aliases and tags are refused: aliases make a small file a huge tree
 * (billion laughs), and tags would give plain text types we do not define. */
static int no_anchor_or_tag(builder *b, int line, const yaml_char_t *anchor, const yaml_char_t *tag)
{
    char path[PATH_MAX_LEN], v[80];
    if (anchor)
        return fail(b->c, FY_EPARSE, line, builder_path(b, path), "anchors are not allowed (&%s)",
                    show(v, sizeof v, (const char *)anchor, strlen((const char *)anchor)));
    if (tag)
        return fail(b->c, FY_EPARSE, line, builder_path(b, path), "tags are not allowed (%s)",
                    show(v, sizeof v, (const char *)tag, strlen((const char *)tag)));
    return FY_OK;
}

static int on_event(builder *b, const yaml_event_t *ev)
{
    char path[PATH_MAX_LEN];
    int line = (int)ev->start_mark.line + 1, rc;
    node *n = NULL;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return fail(b->c, FY_EPARSE, line, NULL,
                        "a second YAML document: a manifest is exactly one document");
        if (ev->data.document_start.tag_directives.start !=
            ev->data.document_start.tag_directives.end)
            return fail(b->c, FY_EPARSE, line, NULL, "%%TAG directives are not allowed");
        return FY_OK;
    case YAML_ALIAS_EVENT: {
        char v[80];
        return fail(b->c, FY_EPARSE, line, builder_path(b, path), "aliases are not allowed (*%s)",
                    show(v, sizeof v, (const char *)ev->data.alias.anchor,
                         strlen((const char *)ev->data.alias.anchor)));
    }
    case YAML_SCALAR_EVENT:
        if ((rc = no_anchor_or_tag(b, line, ev->data.scalar.anchor, ev->data.scalar.tag)))
            return rc;
        if ((rc = new_node(b, N_SCALAR, line, &n)))
            return rc;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = ev->data.scalar.length;
        n->s = fy__strndup((const char *)ev->data.scalar.value, n->len);
        if (!n->s) {
            node_free(n);
            return fail(b->c, FY_ENOMEM, line, builder_path(b, path), "out of memory");
        }
        return attach(b, n, line);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *anchor =
            map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        const yaml_char_t *tag = map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
        if ((rc = no_anchor_or_tag(b, line, anchor, tag)))
            return rc;
        if (b->depth >= MAX_DEPTH)
            return fail(b->c, FY_ELIMIT, line, builder_path(b, path),
                        "nested deeper than %d levels", MAX_DEPTH);
        if ((rc = new_node(b, map ? N_MAP : N_SEQ, line, &n)))
            return rc;
        if ((rc = attach(b, n, line)))
            return rc;
        b->stack[b->depth++] = n;
        return FY_OK;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return FY_OK;
    default: return FY_OK;
    }
}

static int build_tree(pctx *c, node **out)
{
    builder b = {.c = c};
    yaml_parser_t yp;
    yaml_event_t ev;
    int rc = FY_OK, done = 0;
    if (!yaml_parser_initialize(&yp))
        return fail(c, FY_ENOMEM, 1, NULL, "out of memory");
    /* With the encoding forced, libyaml would read a byte order mark as a character
     * of the first line; it carries no line break, so dropping it keeps lines right. */
    const char *text = c->text;
    size_t len = c->len;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        text += 3, len -= 3;
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    /* Never guess UTF-16 from a byte order mark: the bytes were checked as UTF-8. */
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    while (!done && rc == FY_OK) {
        if (!yaml_parser_parse(&yp, &ev)) {
            char path[PATH_MAX_LEN];
            int line = yp.error == YAML_READER_ERROR ? line_of(text, len, yp.problem_offset)
                                                     : (int)yp.problem_mark.line + 1;
            if (yp.error == YAML_MEMORY_ERROR)
                rc = fail(c, FY_ENOMEM, line, builder_path(&b, path), "out of memory");
            else
                rc = fail(c, FY_EPARSE, line, builder_path(&b, path), "invalid YAML: %s%s%s",
                          yp.problem ? yp.problem : "syntax error", yp.context ? " " : "",
                          yp.context ? yp.context : "");
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    if (rc == FY_OK && !b.root)
        rc = fail(c, FY_EINVAL, 1, NULL, "empty manifest: expected a mapping with apiVersion: %s",
                  API_VERSION);
    if (rc == FY_OK)
        *out = b.root;
    else
        node_free(b.root);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Typed access to the tree                                                   */
/* ------------------------------------------------------------------------- */

static const char *kind_name(const node *n, char *buf, size_t sz)
{
    char v[80];
    if (n->kind == N_MAP)
        return "a mapping";
    if (n->kind == N_SEQ)
        return "a list";
    snprintf(buf, sz, "%s'%s'", n->plain ? "" : "the quoted string ",
             show(v, sizeof v, n->s, n->len));
    return buf;
}

static int is_null(const node *n)
{
    if (n->kind != N_SCALAR || !n->plain)
        return 0;
    return n->len == 0 || !strcmp(n->s, "~") || !strcmp(n->s, "null") || !strcmp(n->s, "Null") ||
           !strcmp(n->s, "NULL");
}

/* Check n is a mapping whose keys are all in keys[] (NULL-terminated) and appear
 * once; vals[i] gets the value of keys[i], or NULL if absent or null. */
static int map_fields(pctx *c, const node *n, const char *path, const char *const *keys,
                      const node **vals)
{
    char p[PATH_MAX_LEN], v[80], h[80], k[80];
    int nk = 0;
    while (keys[nk])
        vals[nk++] = NULL;
    if (n->kind != N_MAP)
        return fail(c, FY_EINVAL, n->line, path, "must be a mapping of fields, got %s",
                    kind_name(n, v, sizeof v));
    for (int i = 0; i + 1 < n->n; i += 2) {
        const node *key = n->kids[i], *val = n->kids[i + 1];
        int found = -1;
        for (int j = 0; j < nk; j++)
            if (key->len == strlen(keys[j]) && !memcmp(key->s, keys[j], key->len))
                found = j;
        show(k, sizeof k, key->s, key->len);
        if (found < 0)
            return fail(c, FY_EINVAL, key->line, join(p, path, k), "unknown field%s",
                        hint(h, sizeof h, key->s, key->len, keys));
        for (int j = 0; j < i; j += 2)
            if (n->kids[j]->len == key->len && !memcmp(n->kids[j]->s, key->s, key->len))
                return fail(c, FY_EPARSE, key->line, join(p, path, k),
                            "duplicate key (first set on line %d)", n->kids[j]->line);
        vals[found] = is_null(val) ? NULL : val;
    }
    return FY_OK;
}

static int required(pctx *c, const node *parent, const char *path, const char *key)
{
    char p[PATH_MAX_LEN];
    return fail(c, FY_EINVAL, parent->line, join(p, path, key), "is required");
}

enum { STR_LINE = 0, STR_MULTILINE = 1 };

/* A string field: any scalar (a plain 1.0 stays the text "1.0"); no NUL or control
 * characters (tab and newline too, unless multi-line), at most MAX_STRING bytes. */
static int get_str(pctx *c, const node *n, const char *path, int flags, char **out)
{
    char v[80];
    if (n->kind != N_SCALAR)
        return fail(c, FY_EINVAL, n->line, path, "must be a string, got %s",
                    kind_name(n, v, sizeof v));
    if (n->len > MAX_STRING)
        return fail(c, FY_ELIMIT, n->line, path, "%zu bytes, above the limit of %d", n->len,
                    MAX_STRING);
    for (size_t i = 0; i < n->len;) {
        unsigned char ch = (unsigned char)n->s[i];
        int ok = ch >= 0x20 && ch != 0x7f;
        if (flags & STR_MULTILINE)
            ok = ok || ch == '\n' || ch == '\t';
        if (!ok)
            return fail(c, FY_EINVAL, n->line, path, "control character 0x%02x at byte %zu", ch, i);
        size_t k = utf8_seq((const unsigned char *)n->s + i, n->len - i);
        if (k == 0)
            return fail(c, FY_EINVAL, n->line, path, "invalid UTF-8 at byte %zu", i);
        i += k;
    }
    char *s = fy__strndup(n->s, n->len);
    if (!s)
        return fail(c, FY_ENOMEM, n->line, path, "out of memory");
    *out = s;
    return FY_OK;
}

static int nonempty_str(pctx *c, const node *n, const char *path, int flags, char **out)
{
    int rc = get_str(c, n, path, flags, out);
    if (rc == FY_OK && !**out) {
        fy__free(*out);
        *out = NULL;
        return fail(c, FY_EINVAL, n->line, path, "must not be empty");
    }
    return rc;
}

/* Decimal integer text: [-+]?[0-9]+ */
static int parse_int_text(const char *s, size_t len, int64_t *out, int *overflow)
{
    size_t i = 0;
    int neg = 0;
    *overflow = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return 0;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        /* stop growing past 2^62 / 10: the next step would still fit, then flag it */
        if (v > (UINT64_C(1) << 62) / 10)
            *overflow = 1;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (UINT64_C(1) << 62))
        *overflow = 1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 1;
}

static int get_int(pctx *c, const node *n, const char *path, int64_t min, int64_t max, int64_t *out)
{
    char v[80];
    int64_t x = 0;
    int ovf;
    if (n->kind != N_SCALAR || !n->plain || !parse_int_text(n->s, n->len, &x, &ovf))
        return fail(c, FY_EINVAL, n->line, path, "must be an integer, got %s",
                    kind_name(n, v, sizeof v));
    if (!ovf && x < 0 && min >= 0)
        return fail(c, FY_EINVAL, n->line, path, "must not be negative, got %lld", (long long)x);
    if (ovf || x < min || x > max)
        return fail(c, FY_EINVAL, n->line, path, "must be between %lld and %lld, got %s",
                    (long long)min, (long long)max, show(v, sizeof v, n->s, n->len));
    *out = x;
    return FY_OK;
}

/* Decimal number text: [-+]?(D+(.D*)?|.D+)([eE][-+]?D+)? */
static int is_decimal(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && isdigit((unsigned char)s[i]))
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == e)
            return 0;
    }
    return i == len;
}

static int is_nonfinite_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '.')
        s++;
    return !strcasecmp(s, "nan") || !strcasecmp(s, "inf") || !strcasecmp(s, "infinity");
}

/* A number field: a plain decimal, or a fraction A/B of two (scale: 1/255). */
static int get_num(pctx *c, const node *n, const char *path, double *out)
{
    char v[80], a[64], b[64];
    if (n->kind != N_SCALAR || !n->plain)
        return fail(c, FY_EINVAL, n->line, path, "must be a number, got %s",
                    kind_name(n, v, sizeof v));
    show(v, sizeof v, n->s, n->len);
    if (is_nonfinite_text(n->s))
        return fail(c, FY_EINVAL, n->line, path, "must be a finite number, got '%s'", v);
    const char *slash = memchr(n->s, '/', n->len);
    size_t la = slash ? (size_t)(slash - n->s) : n->len, lb = slash ? n->len - la - 1 : 0;
    if (la >= sizeof a || lb >= sizeof b || !is_decimal(n->s, la) ||
        (slash && !is_decimal(slash + 1, lb)))
        return fail(c, FY_EINVAL, n->line, path, "must be a number, got '%s'", v);
    memcpy(a, n->s, la);
    a[la] = 0;
    double x = strtod(a, NULL);
    if (slash) {
        memcpy(b, slash + 1, lb);
        b[lb] = 0;
        double y = strtod(b, NULL);
        if (y == 0)
            return fail(c, FY_EINVAL, n->line, path, "division by zero in '%s'", v);
        x /= y;
    }
    if (!isfinite(x))
        return fail(c, FY_EINVAL, n->line, path, "must be a finite number, got '%s'", v);
    *out = x;
    return FY_OK;
}

static int get_num_range(pctx *c, const node *n, const char *path, double min, double max,
                         int min_exclusive, double *out)
{
    double x;
    int rc = get_num(c, n, path, &x);
    if (rc)
        return rc;
    if (min == 0 && (x < 0 || (min_exclusive && x == 0)))
        return fail(c, FY_EINVAL, n->line, path, "must be %s, got %g",
                    min_exclusive ? "positive" : "non-negative", x);
    if (x < min || x > max || (min_exclusive && x == min))
        return fail(c, FY_EINVAL, n->line, path, "must be %s %g and at most %g, got %g",
                    min_exclusive ? "above" : "at least", min, max, x);
    *out = x;
    return FY_OK;
}

static int get_list(pctx *c, const node *n, const char *path, int max)
{
    char v[80];
    if (n->kind != N_SEQ)
        return fail(c, FY_EINVAL, n->line, path, "must be a list, got %s",
                    kind_name(n, v, sizeof v));
    if (n->n > max)
        return fail(c, FY_ELIMIT, n->line, path, "%d entries, above the limit of %d", n->n, max);
    return FY_OK;
}

/* A list of distinct strings, each one of known[] when given. */
static int get_str_list(pctx *c, const node *n, const char *path, const char *const *known,
                        const char *what, int *count, char ***out)
{
    char p[PATH_MAX_LEN], v[80], h[80];
    int rc = get_list(c, n, path, FY_MANIFEST_MAX_LIST);
    if (rc)
        return rc;
    char **items = fy__calloc((size_t)n->n + 1, sizeof *items);
    if (!items)
        return fail(c, FY_ENOMEM, n->line, path, "out of memory");
    *out = items;
    for (int i = 0; i < n->n; i++) {
        const node *e = n->kids[i];
        idx(p, path, i);
        if ((rc = nonempty_str(c, e, p, STR_LINE, &items[i])))
            return rc;
        *count = i + 1;
        if (known) {
            int ok = 0;
            for (int k = 0; known[k]; k++)
                ok |= !strcmp(known[k], items[i]);
            if (!ok)
                return fail(c, FY_EINVAL, e->line, p, "unknown %s '%s'%s", what,
                            show(v, sizeof v, e->s, e->len),
                            hint(h, sizeof h, e->s, e->len, known));
        }
        for (int k = 0; k < i; k++)
            if (!strcmp(items[k], items[i]))
                return fail(c, FY_EINVAL, e->line, p, "'%s' is listed twice",
                            show(v, sizeof v, e->s, e->len));
    }
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Value rules                                                                */
/* ------------------------------------------------------------------------- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

typedef struct semver {
    uint64_t v[3];
    const char *pre; /* points into the text; NULL if none */
    size_t pre_len;
} semver;

/* A numeric identifier: digits, no leading zero unless "0"; at most 18 digits. */
static int numeric_id(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 18 || (len > 1 && s[0] == '0'))
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (out)
        *out = v;
    return 1;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading zeros
 * when `numeric_rule` (prerelease), any when not (build metadata). */
static int dot_ids(const char *s, size_t len, int numeric_rule)
{
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                return 0;
            continue;
        }
        size_t n = i - start;
        if (n == 0)
            return 0;
        int all_digits = 1;
        for (size_t k = start; k < i; k++)
            all_digits &= isdigit((unsigned char)s[k]) != 0;
        if (numeric_rule && all_digits && n > 1 && s[start] == '0')
            return 0;
        start = i + 1;
    }
    return 1;
}

/* SemVer 2.0.0: MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]; build allowed when allow_build. */
static int parse_semver(const char *s, size_t len, int allow_build, semver *out)
{
    size_t i = 0;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < 3; k++) {
        size_t st = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (!numeric_id(s + st, i - st, &out->v[k]))
            return 0;
        if (k < 2) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && s[i] == '-') {
        size_t st = ++i;
        while (i < len && s[i] != '+')
            i++;
        if (!dot_ids(s + st, i - st, 1))
            return 0;
        out->pre = s + st;
        out->pre_len = i - st;
    }
    if (i < len && s[i] == '+') {
        if (!allow_build || !dot_ids(s + i + 1, len - i - 1, 0))
            return 0;
        i = len;
    }
    return i == len;
}

/* SemVer precedence (build metadata ignored). */
static int semver_cmp(const semver *a, const semver *b)
{
    for (int k = 0; k < 3; k++)
        if (a->v[k] != b->v[k])
            return a->v[k] < b->v[k] ? -1 : 1;
    if (!a->pre || !b->pre)
        return a->pre ? -1 : b->pre ? 1 : 0;
    size_t i = 0, j = 0;
    while (i < a->pre_len && j < b->pre_len) {
        size_t ie = i, je = j;
        while (ie < a->pre_len && a->pre[ie] != '.')
            ie++;
        while (je < b->pre_len && b->pre[je] != '.')
            je++;
        uint64_t x, y;
        int na = numeric_id(a->pre + i, ie - i, &x), nb = numeric_id(b->pre + j, je - j, &y);
        int r;
        if (na && nb) {
            r = x < y ? -1 : x > y;
        } else if (na || nb) {
            r = na ? -1 : 1; /* numeric identifiers sort first */
        } else {
            size_t la = ie - i, lb = je - j;
            r = memcmp(a->pre + i, b->pre + j, la < lb ? la : lb);
            if (!r)
                r = la < lb ? -1 : la > lb;
        }
        if (r)
            return r < 0 ? -1 : 1;
        i = ie + 1;
        j = je + 1;
    }
    /* equal so far: the one with more identifiers left is greater */
    int more_a = i < a->pre_len, more_b = j < b->pre_len;
    return more_a - more_b;
}

/* A ferry version range: space-separated comparators (OP VERSION, OP one of >=, >,
 * <=, <, = or none for =), all of which must hold; some version must satisfy it.
 * On error, *why says what is wrong. */
static int check_range(const char *s, char *why, size_t why_len)
{
    semver lo, hi, v;
    int has_lo = 0, has_hi = 0, lo_incl = 1, hi_incl = 1, count = 0;
    size_t i = 0, len = strlen(s);
    while (i < len) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        size_t st = i;
        while (i < len && s[i] != ' ')
            i++;
        const char *t = s + st;
        size_t tl = i - st, ol = 0;
        if (tl >= 2 && (t[0] == '>' || t[0] == '<') && t[1] == '=')
            ol = 2;
        else if (tl >= 1 && (t[0] == '>' || t[0] == '<' || t[0] == '='))
            ol = 1;
        if (!parse_semver(t + ol, tl - ol, 0, &v)) {
            char sh[80];
            snprintf(why, why_len, "'%s' is not a comparator like >=0.1.0 or <1.0.0",
                     show(sh, sizeof sh, t, tl));
            return 0;
        }
        count++;
        int lower = t[0] == '>' || ol == 0 || t[0] == '=';
        int upper = t[0] == '<' || ol == 0 || t[0] == '=';
        int incl = ol != 1 || t[0] == '=';
        if (lower) {
            int r = has_lo ? semver_cmp(&v, &lo) : 1;
            if (r > 0 || (r == 0 && !incl)) {
                lo = v;
                lo_incl = incl;
            }
            has_lo = 1;
        }
        if (upper) {
            int r = has_hi ? semver_cmp(&v, &hi) : -1;
            if (r < 0 || (r == 0 && !incl)) {
                hi = v;
                hi_incl = incl;
            }
            has_hi = 1;
        }
    }
    if (!count) {
        snprintf(why, why_len, "no comparators (write e.g. \">=0.1.0 <1.0.0\")");
        return 0;
    }
    if (has_lo && has_hi) {
        int r = semver_cmp(&lo, &hi);
        if (r > 0 || (r == 0 && !(lo_incl && hi_incl))) {
            snprintf(why, why_len, "no version satisfies every comparator");
            return 0;
        }
    }
    return 1;
}

/* A relative path inside the package: '/'-separated, no absolute paths, no '..'
 * or '.' or empty components, no backslashes, not a reserved package file. */
static int check_rel_path(pctx *c, const node *n, const char *path, const char *s)
{
    char v[80];
    show(v, sizeof v, s, strlen(s));
    size_t len = strlen(s);
    if (len > MAX_PATH_BYTES)
        return fail(c, FY_ELIMIT, n->line, path, "%zu bytes, above the limit of %d for a path", len,
                    MAX_PATH_BYTES);
    if (s[0] == '/')
        return fail(c, FY_EINVAL, n->line, path,
                    "must be a path relative to the manifest's folder, got the absolute path '%s'",
                    v);
    if (strchr(s, '\\'))
        return fail(c, FY_EINVAL, n->line, path,
                    "must use '/' as separator, got a backslash in '%s'", v);
    for (const char *p = s;;) {
        const char *e = strchr(p, '/');
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        if (cl == 2 && p[0] == '.' && p[1] == '.')
            return fail(c, FY_EINVAL, n->line, path,
                        "must stay inside the manifest's folder, got '..' in '%s'", v);
        if (cl == 0 || (cl == 1 && p[0] == '.'))
            return fail(c, FY_EINVAL, n->line, path, "empty or '.' path component in '%s'", v);
        if (!e)
            break;
        p = e + 1;
    }
    if (!strcmp(s, "ferry.yaml") || !strcmp(s, "SPEC.md"))
        return fail(c, FY_EINVAL, n->line, path, "'%s' is reserved for the package itself", v);
    return FY_OK;
}

static int is_ident(const char *s, size_t len)
{
    if (len == 0 || len > 64 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

static const char *const dtype_names[] = {"float32", "float16", "bfloat16", "float64", "int8",
                                          "int16",   "int32",   "int64",    "uint8",   "uint16",
                                          "uint32",  "uint64",  "bool",     "string",  NULL};
static const char *const arch_names[] = {"x86_64",  "aarch64", "armv7l",      "i686", "ppc64le",
                                         "riscv64", "s390x",   "loongarch64", NULL};
/* Names as /proc/cpuinfo prints them (x86 flags, arm64 Features). */
static const char *const cpu_feature_names[] = {
    "sse",         "sse2",        "sse3",       "ssse3",      "sse4_1",       "sse4_2",
    "popcnt",      "aes",         "pclmulqdq",  "avx",        "avx2",         "fma",
    "f16c",        "bmi1",        "bmi2",       "avx512f",    "avx512cd",     "avx512bw",
    "avx512dq",    "avx512vl",    "avx512ifma", "avx512vbmi", "avx512_vbmi2", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni",   "amx_tile",   "amx_int8",     "amx_bf16",
    "neon",        "asimd",       "asimdhp",    "asimddp",    "fphp",         "dotprod",
    "i8mm",        "bf16",        "sve",        "sve2",       "sme",          NULL};
static const char *const format_names[] = {"onnx", "gguf", NULL};
static const char *const layout_names[] = {"NCHW", "NHWC", NULL};
static const char *const metric_names[] = {"accuracy", NULL};

/* ------------------------------------------------------------------------- */
/* Sections                                                                   */
/* ------------------------------------------------------------------------- */

static int parse_io(pctx *c, const node *n, const char *path, fy_manifest_io *io)
{
    static const char *const keys[] = {"name", "dtype", "shape", NULL};
    const node *f[3];
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN], v[80], h[80];
    int rc = map_fields(c, n, path, keys, f);
    if (rc)
        return rc;
    for (int k = 0; k < 3; k++)
        if (!f[k])
            return required(c, n, path, keys[k]);
    if ((rc = nonempty_str(c, f[0], join(p, path, "name"), STR_LINE, &io->name)))
        return rc;
    join(p, path, "dtype");
    if (f[1]->kind != N_SCALAR)
        return fail(c, FY_EINVAL, f[1]->line, p, "must be a dtype name like float32, got %s",
                    kind_name(f[1], v, sizeof v));
    fy_dtype dt = fy_dtype_from_name(f[1]->s);
    if (dt == FY_DTYPE_UNDEFINED || strlen(f[1]->s) != f[1]->len ||
        strcmp(fy_dtype_name(dt), f[1]->s) != 0)
        return fail(c, FY_EINVAL, f[1]->line, p, "unknown dtype '%s'%s",
                    show(v, sizeof v, f[1]->s, f[1]->len),
                    hint(h, sizeof h, f[1]->s, f[1]->len, dtype_names));
    io->dtype = dt;
    join(p, path, "shape");
    const node *sh = f[2];
    if (sh->kind != N_SEQ)
        return fail(c, FY_EINVAL, sh->line, p, "must be a list of dimensions like [N, 3], got %s",
                    kind_name(sh, v, sizeof v));
    if (sh->n > FY_MAX_RANK)
        return fail(c, FY_ELIMIT, sh->line, p, "rank %d is above the limit of %d", sh->n,
                    FY_MAX_RANK);
    io->rank = sh->n;
    for (int i = 0; i < sh->n; i++) {
        const node *e = sh->kids[i];
        int64_t x;
        int ovf;
        idx(q, p, i);
        if (e->kind == N_SCALAR && e->plain && parse_int_text(e->s, e->len, &x, &ovf)) {
            if (!ovf && x < 0)
                return fail(c, FY_EINVAL, e->line, q,
                            "must not be negative, got %lld (use a name like N for a symbolic "
                            "dimension)",
                            (long long)x);
            if (ovf || x > MAX_DIM)
                return fail(c, FY_EINVAL, e->line, q, "%s is above the limit of %lld",
                            show(v, sizeof v, e->s, e->len), (long long)MAX_DIM);
            io->dims[i] = x;
        } else if (e->kind == N_SCALAR && is_ident(e->s, e->len)) {
            io->dims[i] = -1;
            io->dim_names[i] = fy__strndup(e->s, e->len);
            if (!io->dim_names[i])
                return fail(c, FY_ENOMEM, e->line, q, "out of memory");
        } else {
            return fail(c, FY_EINVAL, e->line, q,
                        "must be a non-negative integer or a name like N for a symbolic "
                        "dimension, got %s",
                        kind_name(e, v, sizeof v));
        }
    }
    return FY_OK;
}

static int parse_io_list(pctx *c, const node *n, const char *path, int *count, fy_manifest_io **out)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN], v[80];
    int rc = get_list(c, n, path, FY_MANIFEST_MAX_IO);
    if (rc)
        return rc;
    if (n->n == 0)
        return fail(c, FY_EINVAL, n->line, path, "must declare at least one entry");
    fy_manifest_io *io = fy__calloc((size_t)n->n, sizeof *io);
    if (!io)
        return fail(c, FY_ENOMEM, n->line, path, "out of memory");
    *out = io;
    *count = n->n;
    for (int i = 0; i < n->n; i++) {
        if ((rc = parse_io(c, n->kids[i], idx(p, path, i), &io[i])))
            return rc;
        for (int k = 0; k < i; k++)
            if (!strcmp(io[k].name, io[i].name))
                return fail(c, FY_EINVAL, n->kids[i]->line, join(q, p, "name"),
                            "'%s' is declared twice (also %s[%d])",
                            show(v, sizeof v, io[i].name, strlen(io[i].name)), path, k);
    }
    return FY_OK;
}

static int parse_signature(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {"inputs", "outputs", NULL};
    const node *f[2];
    int rc = map_fields(c, n, "signature", keys, f);
    if (rc)
        return rc;
    if (!f[0])
        return required(c, n, "signature", "inputs");
    if (!f[1])
        return required(c, n, "signature", "outputs");
    if ((rc = parse_io_list(c, f[0], "signature.inputs", &m->n_inputs, &m->inputs)))
        return rc;
    return parse_io_list(c, f[1], "signature.outputs", &m->n_outputs, &m->outputs);
}

static int parse_num_list(pctx *c, const node *n, const char *path, int positive, int *count,
                          double **out)
{
    char p[PATH_MAX_LEN];
    int rc = get_list(c, n, path, FY_MANIFEST_MAX_LIST);
    if (rc)
        return rc;
    if (n->n == 0)
        return fail(c, FY_EINVAL, n->line, path, "must not be empty");
    double *v = fy__calloc((size_t)n->n, sizeof *v);
    if (!v)
        return fail(c, FY_ENOMEM, n->line, path, "out of memory");
    *out = v;
    *count = n->n;
    for (int i = 0; i < n->n; i++) {
        idx(p, path, i);
        if (positive)
            rc = get_num_range(c, n->kids[i], p, 0, HUGE_VAL, 1, &v[i]);
        else
            rc = get_num(c, n->kids[i], p, &v[i]);
        if (rc)
            return rc;
    }
    return FY_OK;
}

static int one_of(pctx *c, const node *n, const char *path, const char *const *names,
                  const char *what, char **out)
{
    char v[80], h[80];
    int rc = nonempty_str(c, n, path, STR_LINE, out);
    if (rc)
        return rc;
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], *out))
            return FY_OK;
    return fail(c, FY_EINVAL, n->line, path, "unknown %s '%s'%s", what,
                show(v, sizeof v, n->s, n->len), hint(h, sizeof h, n->s, n->len, names));
}

static int parse_preprocessing(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {"scale", "mean", "std", "layout", NULL};
    const node *f[4];
    int rc = map_fields(c, n, "preprocessing", keys, f);
    if (rc)
        return rc;
    if (f[0] && (rc = get_num_range(c, f[0], "preprocessing.scale", 0, HUGE_VAL, 1, &m->scale)))
        return rc;
    if (f[1] && (rc = parse_num_list(c, f[1], "preprocessing.mean", 0, &m->n_mean, &m->mean)))
        return rc;
    if (f[2] && (rc = parse_num_list(c, f[2], "preprocessing.std", 1, &m->n_std, &m->std)))
        return rc;
    if (f[1] && f[2] && m->n_mean != m->n_std)
        return fail(c, FY_EINVAL, f[2]->line, "preprocessing.std",
                    "has %d values but preprocessing.mean has %d: give one per channel in both",
                    m->n_std, m->n_mean);
    if (f[3] && (rc = one_of(c, f[3], "preprocessing.layout", layout_names, "layout", &m->layout)))
        return rc;
    return FY_OK;
}

/* With a layout and a rank-4 first input whose channel axis is fixed, mean and std
 * hold one value, or one per channel. */
static int check_channels(pctx *c, const node *pre, fy_manifest *m)
{
    if (!m->layout || m->n_inputs < 1 || m->inputs[0].rank != 4)
        return FY_OK;
    int axis = !strcmp(m->layout, "NCHW") ? 1 : 3;
    int64_t ch = m->inputs[0].dims[axis];
    int n = m->n_mean ? m->n_mean : m->n_std;
    if (ch < 0 || n <= 1 || n == ch)
        return FY_OK;
    return fail(c, FY_EINVAL, pre->line, m->n_mean ? "preprocessing.mean" : "preprocessing.std",
                "has %d values but signature.inputs[0] has %lld channels (%s): give 1 or %lld", n,
                (long long)ch, m->layout, (long long)ch);
}

static int parse_requirements(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {
        "arch", "cpu_features", "min_memory_mb", "min_disk_mb", "threads", "ferry", NULL};
    const node *f[6];
    char why[200], v[80];
    int64_t x;
    int rc = map_fields(c, n, "requirements", keys, f);
    if (rc)
        return rc;
    if (f[0] && (rc = get_str_list(c, f[0], "requirements.arch", arch_names, "architecture",
                                   &m->n_archs, &m->archs)))
        return rc;
    if (f[1] && (rc = get_str_list(c, f[1], "requirements.cpu_features", cpu_feature_names,
                                   "CPU feature", &m->n_cpu_features, &m->cpu_features)))
        return rc;
    if (f[2] && (rc = get_int(c, f[2], "requirements.min_memory_mb", 0, MAX_MB, &m->min_memory_mb)))
        return rc;
    if (f[3] && (rc = get_int(c, f[3], "requirements.min_disk_mb", 0, MAX_MB, &m->min_disk_mb)))
        return rc;
    if (f[4]) {
        if ((rc = get_int(c, f[4], "requirements.threads", 1, MAX_THREADS, &x)))
            return rc;
        m->threads = (int)x;
    }
    if (f[5]) {
        if ((rc = nonempty_str(c, f[5], "requirements.ferry", STR_LINE, &m->ferry_version)))
            return rc;
        if (!check_range(m->ferry_version, why, sizeof why))
            return fail(c, FY_EINVAL, f[5]->line, "requirements.ferry",
                        "invalid version range '%s': %s", show(v, sizeof v, f[5]->s, f[5]->len),
                        why);
    }
    return FY_OK;
}

static int parse_serving(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {"max_batch_size", "max_queue_delay_ms", "instances", NULL};
    const node *f[3];
    int64_t x;
    double ms;
    int rc = map_fields(c, n, "serving", keys, f);
    if (rc)
        return rc;
    if (f[0]) {
        if ((rc = get_int(c, f[0], "serving.max_batch_size", 0, MAX_BATCH, &x)))
            return rc;
        m->max_batch_size = (int)x;
    }
    if (f[1]) {
        if ((rc = get_num_range(c, f[1], "serving.max_queue_delay_ms", 0, MAX_QUEUE_DELAY_MS, 0,
                                &ms)))
            return rc;
        m->max_queue_delay_us = (int)llround(ms * 1000.0);
    }
    if (f[2]) {
        if ((rc = get_int(c, f[2], "serving.instances", 1, MAX_INSTANCES, &x)))
            return rc;
        m->instances = (int)x;
    }
    return FY_OK;
}

/* Dataset specs as fy_dataset_open reads them: "idx:IMAGES,LABELS". */
static int check_dataset(pctx *c, const node *n, const char *s)
{
    char v[80];
    const char *p = "tests.dataset";
    if (strncmp(s, "idx:", 4) != 0)
        return fail(c, FY_EINVAL, n->line, p,
                    "unknown dataset kind in '%s' (supported: idx:IMAGES,LABELS)",
                    show(v, sizeof v, s, strlen(s)));
    const char *comma = strchr(s + 4, ',');
    if (!comma || comma == s + 4 || !comma[1] || strchr(comma + 1, ','))
        return fail(c, FY_EINVAL, n->line, p,
                    "must be idx:IMAGES,LABELS (two files separated by one comma), got '%s'",
                    show(v, sizeof v, s, strlen(s)));
    return FY_OK;
}

static int parse_tests(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {
        "dataset", "metric", "min", "max_p99_latency_ms", "min_throughput_per_s", NULL};
    const node *f[5];
    int rc = map_fields(c, n, "tests", keys, f);
    if (rc)
        return rc;
    if (f[0]) {
        if ((rc = nonempty_str(c, f[0], "tests.dataset", STR_LINE, &m->test_dataset)))
            return rc;
        if ((rc = check_dataset(c, f[0], m->test_dataset)))
            return rc;
    }
    if (f[1] && (rc = one_of(c, f[1], "tests.metric", metric_names, "metric", &m->test_metric)))
        return rc;
    if (f[1] && !f[0])
        return required(c, n, "tests", "dataset");
    if (f[2]) {
        if (!f[1])
            return required(c, n, "tests", "metric");
        /* every metric so far is a fraction */
        if ((rc = get_num_range(c, f[2], "tests.min", 0, 1, 0, &m->test_min)))
            return rc;
    }
    if (f[3] &&
        (rc = get_num_range(c, f[3], "tests.max_p99_latency_ms", 0, 3.6e6, 1, &m->test_max_p99_ms)))
        return rc;
    if (f[4] && (rc = get_num_range(c, f[4], "tests.min_throughput_per_s", 0, 1e12, 1,
                                    &m->test_min_throughput)))
        return rc;
    return FY_OK;
}

/* What `ferry compress` did to the package's model (docs/compress.md). */
static int parse_compression(pctx *c, const node *n, fy_manifest *m)
{
    static const char *const keys[] = {"methods", "source", "accuracy_before", "accuracy_after",
                                       NULL};
    const node *f[4];
    int rc = map_fields(c, n, "compression", keys, f);
    if (rc)
        return rc;
    if (!f[0])
        return required(c, n, "compression", "methods");
    if ((rc = get_str_list(c, f[0], "compression.methods", NULL, "method",
                           &m->n_compression_methods, &m->compression_methods)))
        return rc;
    if (m->n_compression_methods == 0)
        return fail(c, FY_EINVAL, f[0]->line, "compression.methods", "must name at least one");
    if (f[1] && (rc = nonempty_str(c, f[1], "compression.source", STR_LINE,
                                   &m->compression_source)))
        return rc;
    if (f[2] && (rc = get_num_range(c, f[2], "compression.accuracy_before", 0, 1, 0,
                                    &m->compression_accuracy_before)))
        return rc;
    if (f[3] && (rc = get_num_range(c, f[3], "compression.accuracy_after", 0, 1, 0,
                                    &m->compression_accuracy_after)))
        return rc;
    return FY_OK;
}

static int parse_manifest(pctx *c, const node *root, fy_manifest *m)
{
    static const char *const keys[] = {
        "apiVersion",     "name",         "version", "description", "license",
        "authors",        "source",       "model",   "signature",   "preprocessing",
        "postprocessing", "requirements", "serving", "tests",       "compression",
        NULL};
    enum {
        API,
        NAME,
        VERSION,
        DESC,
        LICENSE,
        AUTHORS,
        SOURCE,
        MODEL,
        SIG,
        PRE,
        POST,
        REQ,
        SERVE,
        TESTS,
        COMPRESSION
    };
    const node *f[15], *g[2];
    char v[80], h[80];
    semver sv;
    int rc;
    if (root->kind != N_MAP)
        return fail(c, FY_EINVAL, root->line, NULL,
                    "a manifest is a mapping of fields (apiVersion, name, ...), got %s",
                    kind_name(root, v, sizeof v));
    if ((rc = map_fields(c, root, "", keys, f)))
        return rc;

    if (!f[API])
        return required(c, root, "", "apiVersion");
    if ((rc = get_str(c, f[API], "apiVersion", STR_LINE, &m->api_version)))
        return rc;
    if (strcmp(m->api_version, API_VERSION) != 0)
        return fail(c, FY_EUNSUPPORTED, f[API]->line, "apiVersion",
                    "unsupported version '%s' (this ferry reads '%s')",
                    show(v, sizeof v, f[API]->s, f[API]->len), API_VERSION);

    if (!f[NAME])
        return required(c, root, "", "name");
    if ((rc = get_str(c, f[NAME], "name", STR_LINE, &m->name)))
        return rc;
    if (!valid_name(m->name))
        return fail(c, FY_EINVAL, f[NAME]->line, "name",
                    "must match [a-z0-9][a-z0-9._-]{0,62} (lowercase letters, digits, '.', '_', "
                    "'-'), got '%s'",
                    show(v, sizeof v, f[NAME]->s, f[NAME]->len));

    if (!f[VERSION])
        return required(c, root, "", "version");
    if ((rc = get_str(c, f[VERSION], "version", STR_LINE, &m->version)))
        return rc;
    if (strlen(m->version) > MAX_VERSION || !parse_semver(m->version, strlen(m->version), 1, &sv))
        return fail(c, FY_EINVAL, f[VERSION]->line, "version",
                    "must be a semantic version like 1.2.0 (MAJOR.MINOR.PATCH, optional "
                    "-prerelease and +build, at most %d bytes), got '%s'",
                    MAX_VERSION, show(v, sizeof v, f[VERSION]->s, f[VERSION]->len));

    if (f[DESC] && (rc = get_str(c, f[DESC], "description", STR_MULTILINE, &m->description)))
        return rc;
    if (f[LICENSE] && (rc = nonempty_str(c, f[LICENSE], "license", STR_LINE, &m->license)))
        return rc;
    if (f[AUTHORS] &&
        (rc = get_str_list(c, f[AUTHORS], "authors", NULL, NULL, &m->n_authors, &m->authors)))
        return rc;

    if (f[SOURCE]) {
        static const char *const sk[] = {"framework", "framework_version", NULL};
        if ((rc = map_fields(c, f[SOURCE], "source", sk, g)))
            return rc;
        if (g[0] && (rc = nonempty_str(c, g[0], "source.framework", STR_LINE, &m->framework)))
            return rc;
        if (g[1] && (rc = nonempty_str(c, g[1], "source.framework_version", STR_LINE,
                                       &m->framework_version)))
            return rc;
    }

    if (!f[MODEL])
        return required(c, root, "", "model");
    {
        static const char *const mk[] = {"format", "file", NULL};
        if ((rc = map_fields(c, f[MODEL], "model", mk, g)))
            return rc;
        if (g[0]) {
            if ((rc = nonempty_str(c, g[0], "model.format", STR_LINE, &m->model_format)))
                return rc;
            if (strcmp(m->model_format, "onnx") != 0 && strcmp(m->model_format, "gguf") != 0)
                return fail(c, FY_EINVAL, g[0]->line, "model.format", "unknown format '%s'%s",
                            show(v, sizeof v, g[0]->s, g[0]->len),
                            hint(h, sizeof h, g[0]->s, g[0]->len, format_names));
        } else if (!(m->model_format = fy__strdup("onnx"))) {
            return fail(c, FY_ENOMEM, f[MODEL]->line, "model.format", "out of memory");
        }
        if (!g[1])
            return required(c, f[MODEL], "model", "file");
        if ((rc = nonempty_str(c, g[1], "model.file", STR_LINE, &m->model_file)))
            return rc;
        if ((rc = check_rel_path(c, g[1], "model.file", m->model_file)))
            return rc;
    }

    /* A GGUF language model takes text and returns text: no tensor signature, no
     * pre- or postprocessing (docs/llm.md). */
    int gguf = !strcmp(m->model_format, "gguf");
    const char *not_gguf = f[SIG]    ? "signature"
                           : f[PRE]  ? "preprocessing"
                           : f[POST] ? "postprocessing"
                                     : NULL;
    if (gguf && not_gguf)
        return fail(c, FY_EINVAL,
                    f[SIG]   ? f[SIG]->line
                    : f[PRE] ? f[PRE]->line
                             : f[POST]->line,
                    not_gguf,
                    "not used with model.format gguf (a language model: text in, text out)");
    if (!f[SIG] && !gguf)
        return required(c, root, "", "signature");
    if (f[SIG] && (rc = parse_signature(c, f[SIG], m)))
        return rc;

    if (f[PRE] && (rc = parse_preprocessing(c, f[PRE], m)))
        return rc;
    if (f[PRE] && (rc = check_channels(c, f[PRE], m)))
        return rc;

    if (f[POST]) {
        static const char *const pk[] = {"labels", NULL};
        if ((rc = map_fields(c, f[POST], "postprocessing", pk, g)))
            return rc;
        if (g[0]) {
            if ((rc = nonempty_str(c, g[0], "postprocessing.labels", STR_LINE, &m->labels_file)))
                return rc;
            if ((rc = check_rel_path(c, g[0], "postprocessing.labels", m->labels_file)))
                return rc;
            if (!strcmp(m->labels_file, m->model_file))
                return fail(c, FY_EINVAL, g[0]->line, "postprocessing.labels",
                            "is the model file itself");
        }
    }

    if (f[REQ] && (rc = parse_requirements(c, f[REQ], m)))
        return rc;
    if (f[SERVE] && (rc = parse_serving(c, f[SERVE], m)))
        return rc;
    if (f[TESTS] && (rc = parse_tests(c, f[TESTS], m)))
        return rc;
    if (f[COMPRESSION] && (rc = parse_compression(c, f[COMPRESSION], m)))
        return rc;
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Public: parse, load, free                                                  */
/* ------------------------------------------------------------------------- */

static void free_strs(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        fy__free(v[i]);
    fy__free(v);
}

static void free_io(fy_manifest_io *io, int n)
{
    if (!io)
        return;
    for (int i = 0; i < n; i++) {
        fy__free(io[i].name);
        for (int k = 0; k < FY_MAX_RANK; k++)
            fy__free(io[i].dim_names[k]);
    }
    fy__free(io);
}

void fy_manifest_free(fy_manifest *m)
{
    if (!m)
        return;
    fy__free(m->api_version);
    fy__free(m->name);
    fy__free(m->version);
    fy__free(m->description);
    fy__free(m->license);
    free_strs(m->authors, m->n_authors);
    fy__free(m->framework);
    fy__free(m->framework_version);
    fy__free(m->model_format);
    fy__free(m->model_file);
    free_io(m->inputs, m->n_inputs);
    free_io(m->outputs, m->n_outputs);
    fy__free(m->mean);
    fy__free(m->std);
    fy__free(m->layout);
    fy__free(m->labels_file);
    free_strs(m->archs, m->n_archs);
    free_strs(m->cpu_features, m->n_cpu_features);
    fy__free(m->ferry_version);
    fy__free(m->test_dataset);
    fy__free(m->test_metric);
    free_strs(m->compression_methods, m->n_compression_methods);
    fy__free(m->compression_source);
    fy__free(m);
}

int fy_manifest_parse(fy_manifest **out, const char *text, size_t len, const char *file, fy_diag *d)
{
    pctx c = {.file = file ? file : "ferry.yaml",
              .text = text ? text : "",
              .len = text ? len : 0,
              .d = d};
    node *root = NULL;
    fy_manifest *m = NULL;
    int rc;
    if (!out)
        return fail(&c, FY_EINVAL, 1, NULL, "no output pointer");
    if ((rc = check_bytes(&c)) != FY_OK)
        goto done;
    if ((rc = build_tree(&c, &root)) != FY_OK)
        goto done;
    if (!(m = fy__calloc(1, sizeof *m))) {
        rc = fail(&c, FY_ENOMEM, 1, NULL, "out of memory");
        goto done;
    }
    m->compression_accuracy_before = m->compression_accuracy_after = -1;
    if ((rc = parse_manifest(&c, root, m)) != FY_OK)
        goto done;
    *out = m;
    m = NULL;
done:
    node_free(root);
    fy_manifest_free(m);
    return rc;
}

int fy_manifest_load(fy_manifest **out, const char *path, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, FY_MANIFEST_MAX_BYTES, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    rc = fy_manifest_parse(out, (const char *)buf, len, path, d);
    fy__free(buf);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Checking against a model                                                   */
/* ------------------------------------------------------------------------- */

static const char *dim_text(char *buf, size_t n, int64_t v, const char *name)
{
    if (v >= 0)
        snprintf(buf, n, "%lld", (long long)v);
    else if (name)
        snprintf(buf, n, "%s (symbolic)", name);
    else
        snprintf(buf, n, "? (symbolic)");
    return buf;
}

static int check_io(const fy_manifest_io *io, const fy_io_desc *md, const char *path, fy_diag *d)
{
    char p[PATH_MAX_LEN], q[PATH_MAX_LEN], a[96], b[96];
    /* A model that does not declare the dtype or shape leaves the manifest's word. */
    if (md->dtype != FY_DTYPE_UNDEFINED && md->dtype != io->dtype)
        return fy__diag_set(d, FY_EINVAL, "%s: manifest says %s, model says %s",
                            join(p, path, "dtype"), fy_dtype_name(io->dtype),
                            fy_dtype_name(md->dtype));
    if (md->rank < 0)
        return FY_OK;
    join(p, path, "shape");
    if (md->rank != io->rank)
        return fy__diag_set(d, FY_EINVAL, "%s: manifest says rank %d, model says rank %d", p,
                            io->rank, md->rank);
    for (int i = 0; i < io->rank; i++) {
        int64_t x = io->dims[i], y = md->dims[i];
        if ((x >= 0 || y >= 0) && x != y)
            return fy__diag_set(d, FY_EINVAL, "%s: manifest says %s, model says %s", idx(q, p, i),
                                dim_text(a, sizeof a, x, io->dim_names[i]),
                                dim_text(b, sizeof b, y, md->dim_names[i]));
    }
    return FY_OK;
}

static int check_side(const fy_manifest_io *io, int n_io, const fy_model *model, int inputs,
                      fy_diag *d)
{
    const char *side = inputs ? "signature.inputs" : "signature.outputs";
    int n_model = inputs ? fy_model_n_inputs(model) : fy_model_n_outputs(model);
    char p[PATH_MAX_LEN], v[80];
    fy_io_desc md;
    for (int i = 0; i < n_io; i++) {
        int found = 0, rc;
        idx(p, side, i);
        for (int k = 0; k < n_model && !found; k++) {
            if ((inputs ? fy_model_input(model, k, &md) : fy_model_output(model, k, &md)) != FY_OK)
                continue;
            if (md.name && !strcmp(md.name, io[i].name)) {
                found = 1;
                if ((rc = check_io(&io[i], &md, p, d)) != FY_OK)
                    return rc;
            }
        }
        if (!found) {
            char names[200] = "";
            size_t o = 0;
            for (int k = 0; k < n_model && o < sizeof names - 1; k++) {
                if ((inputs ? fy_model_input(model, k, &md) : fy_model_output(model, k, &md)) !=
                    FY_OK)
                    continue;
                const char *nm = md.name ? md.name : "";
                int r = snprintf(names + o, sizeof names - o, "%s'%s'", k ? ", " : "",
                                 show(v, sizeof v, nm, strlen(nm)));
                o = r < 0 ? sizeof names - 1 : o + (size_t)r;
            }
            return fy__diag_set(d, FY_EINVAL,
                                "%s.name: manifest says '%s', the model has no such %s (model "
                                "%ss: %s)",
                                p, show(v, sizeof v, io[i].name, strlen(io[i].name)),
                                inputs ? "input" : "output", inputs ? "input" : "output",
                                n_model ? names : "none");
        }
    }
    /* Every model input must be declared: a caller of the package cannot feed one
     * the signature does not name. Outputs may be a subset. */
    for (int k = 0; inputs && k < n_model; k++) {
        if (fy_model_input(model, k, &md) != FY_OK)
            continue;
        int found = 0;
        for (int i = 0; i < n_io && !found; i++)
            found = md.name && !strcmp(md.name, io[i].name);
        if (!found)
            return fy__diag_set(
                d, FY_EINVAL,
                "signature.inputs: manifest does not declare it, model has input "
                "'%s' (%s)",
                show(v, sizeof v, md.name ? md.name : "", md.name ? strlen(md.name) : 0),
                fy_dtype_name(md.dtype));
    }
    return FY_OK;
}

int fy_manifest_check_model(const fy_manifest *man, const fy_model *model, fy_diag *d)
{
    if (!man || !model)
        return fy__diag_set(d, FY_EINVAL, "no manifest or no model");
    int rc = check_side(man->inputs, man->n_inputs, model, 1, d);
    if (rc == FY_OK)
        rc = check_side(man->outputs, man->n_outputs, model, 0, d);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Template                                                                   */
/* ------------------------------------------------------------------------- */

/* A YAML scalar for s: plain when it is unambiguous text, double-quoted otherwise. */
static void put_scalar(fy__text *b, const char *s)
{
    size_t len = strlen(s);
    int plain = len > 0 && len <= 200 && (isalpha((unsigned char)s[0]) || s[0] == '_');
    for (size_t i = 0; plain && i < len; i++)
        plain = isalnum((unsigned char)s[i]) || strchr("_.-/", s[i]);
    static const char *const reserved[] = {"y",     "n",     "yes",  "no",   "on",   "off",
                                           "true",  "false", "null", "Null", "NULL", "True",
                                           "False", "Yes",   "No",   NULL};
    for (int i = 0; plain && reserved[i]; i++)
        plain = strcmp(s, reserved[i]) != 0;
    if (plain) {
        fy__text_printf(b, "%s", s);
        return;
    }
    fy__text_printf(b, "\"");
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = utf8_seq((const unsigned char *)s + i, len - i);
        if (ch == '"' || ch == '\\') {
            fy__text_printf(b, "\\%c", ch);
        } else if (ch < 0x20 || ch == 0x7f || n == 0) {
            fy__text_printf(b, "\\x%02x", ch);
        } else {
            fy__text_printf(b, "%.*s", (int)n, s + i);
            i += n;
            continue;
        }
        i++;
    }
    fy__text_printf(b, "\"");
}

/* Package name from the model file's stem: lowercased, characters outside
 * [a-z0-9._-] become '-' (runs collapsed), leading non-alphanumerics and trailing
 * '-' dropped, 63 bytes at most; "model" if nothing is left. */
static void stem_name(const char *model_file, char out[64])
{
    const char *base = strrchr(model_file, '/');
    base = base ? base + 1 : model_file;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base), o = 0;
    for (size_t i = 0; i < n && o < 63; i++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)base[i]);
        if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '_' || ch == '-'))
            ch = '-';
        if (o == 0 && !(islower(ch) || isdigit(ch)))
            continue;
        if (ch == '-' && o > 0 && out[o - 1] == '-')
            continue;
        out[o++] = (char)ch;
    }
    while (o > 1 && out[o - 1] == '-')
        o--;
    out[o] = 0;
    if (!o)
        snprintf(out, 64, "model");
}

static void put_io(fy__text *b, const fy_io_desc *io)
{
    fy__text_printf(b, "    - name: ");
    put_scalar(b, io->name ? io->name : "");
    fy__text_printf(b, "\n      dtype: %s",
                    io->dtype == FY_DTYPE_UNDEFINED ? "float32" : fy_dtype_name(io->dtype));
    if (io->dtype == FY_DTYPE_UNDEFINED)
        fy__text_printf(b, "  # the model does not declare it: check");
    fy__text_printf(b, "\n      shape: [");
    for (int i = 0; i < io->rank; i++) {
        fy__text_printf(b, "%s", i ? ", " : "");
        if (io->dims[i] >= 0) {
            fy__text_printf(b, "%lld", (long long)io->dims[i]);
        } else if (io->dim_names[i] && *io->dim_names[i]) {
            /* symbolic names become identifiers: other characters turn into '_' */
            char id[65];
            size_t o = 0;
            const char *s = io->dim_names[i];
            if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
                id[o++] = '_';
            for (size_t k = 0; s[k] && o < 64; k++)
                id[o++] = isalnum((unsigned char)s[k]) ? s[k] : '_';
            id[o] = 0;
            fy__text_printf(b, "%s", id);
        } else if (i == 0) {
            fy__text_printf(b, "N");
        } else {
            fy__text_printf(b, "dim%d", i);
        }
    }
    fy__text_printf(b, "]");
    if (io->rank < 0)
        fy__text_printf(b, "  # the model does not declare this shape: fill it in");
    fy__text_printf(b, "\n");
}

static const char *build_arch(void)
{
    static const struct {
        const char *uname, *name;
    } alias[] = {{"amd64", "x86_64"}, {"arm64", "aarch64"}, {"i386", "i686"}, {"i586", "i686"}};
    struct utsname u;
    if (uname(&u) != 0)
        return NULL;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(u.machine, alias[i].uname))
            return alias[i].name;
    for (int i = 0; arch_names[i]; i++)
        if (!strcmp(u.machine, arch_names[i]))
            return arch_names[i];
    return NULL;
}

int fy_manifest_template(char **out, const fy_model *model, const char *model_file, fy_diag *d)
{
    if (!out || !model || !model_file || !*model_file)
        return fy__diag_set(d, FY_EINVAL, "template: no model or no model file name");
    int n_in = fy_model_n_inputs(model), n_out = fy_model_n_outputs(model);
    if (n_in > FY_MANIFEST_MAX_IO || n_out > FY_MANIFEST_MAX_IO)
        return fy__diag_set(d, FY_ELIMIT,
                            "%s: the model has %d inputs and %d outputs, above the manifest's "
                            "limit of %d each",
                            model_file, n_in, n_out, FY_MANIFEST_MAX_IO);
    fy_model_info info;
    fy_model_get_info(model, &info);
    char name[64];
    stem_name(model_file, name);
    const char *base = strrchr(model_file, '/');
    base = base ? base + 1 : model_file;
    /* Estimates: the file on disk plus room, weights in memory twice plus room. */
    int64_t model_bytes = info.file_bytes > 0 ? info.file_bytes : info.n_param_bytes;
    int64_t disk_mb = (model_bytes + (1 << 20) - 1) / (1 << 20) + 1;
    int64_t mem_mb = 2 * ((info.n_param_bytes + (1 << 20) - 1) / (1 << 20)) + 64;
    const char *arch = build_arch();
    fy__text b = {0};
    fy_io_desc io;

    fy__text_printf(&b,
                    "# ferry.yaml: the manifest of a ferry model package (docs/manifest.md).\n");
    fy__text_printf(&b, "# Written by `ferry init` from %s: %lld parameters (%lld bytes) in %lld\n",
                    base, (long long)info.n_params, (long long)info.n_param_bytes,
                    (long long)info.n_initializers);
    fy__text_printf(&b, "# initializers, %lld nodes, opset %lld. Edit it, then run `ferry pack`.\n",
                    (long long)info.n_nodes, (long long)info.opset);
    fy__text_printf(&b, "apiVersion: %s\n\n", API_VERSION);

    fy__text_printf(&b, "# Identity. name: [a-z0-9][a-z0-9._-]{0,62}; version: semantic version\n"
                        "# MAJOR.MINOR.PATCH. The package file is NAME-VERSION.ferry.\n");
    fy__text_printf(&b, "name: %s\nversion: 0.1.0\n", name);
    fy__text_printf(&b,
                    "# description: What the model does and on which data, in a sentence or two.\n"
                    "# license: MIT\n# authors:\n#   - Your Name <you@example.com>\n\n");

    fy__text_printf(&b, "# Where the model came from (taken from the ONNX producer fields).\n");
    if (info.producer_name && *info.producer_name) {
        fy__text_printf(&b, "source:\n  framework: ");
        put_scalar(&b, info.producer_name);
        fy__text_printf(&b, "\n");
        if (info.producer_version && *info.producer_version) {
            fy__text_printf(&b, "  framework_version: ");
            put_scalar(&b, info.producer_version);
            fy__text_printf(&b, "\n");
        }
    } else {
        fy__text_printf(&b,
                        "# source:\n#   framework: pytorch\n#   framework_version: \"2.3.0\"\n");
    }
    fy__text_printf(
        &b, "\n# The model file, relative to this manifest's folder (keep them together).\n");
    fy__text_printf(&b, "model:\n  format: onnx\n  file: ");
    put_scalar(&b, base);
    fy__text_printf(&b, "\n\n");

    fy__text_printf(&b,
                    "# What the model takes and returns. A dimension is a number or a name for a\n"
                    "# symbolic one (N: the batch size, which the caller chooses).\n");
    fy__text_printf(&b, "signature:\n  inputs:\n");
    for (int i = 0; i < n_in; i++)
        if (fy_model_input(model, i, &io) == FY_OK)
            put_io(&b, &io);
    fy__text_printf(&b, "  outputs:\n");
    for (int i = 0; i < n_out; i++)
        if (fy_model_output(model, i, &io) == FY_OK)
            put_io(&b, &io);
    fy__text_printf(&b, "\n");

    fy__text_printf(&b,
                    "# How raw inputs become model inputs: x' = (x * scale - mean[c]) / std[c].\n"
                    "# preprocessing:\n#   scale: 1/255\n#   mean: [0.5]\n#   std: [0.5]\n"
                    "#   layout: NCHW\n\n");
    fy__text_printf(&b,
                    "# What the outputs mean: a labels file, one class name per line, in order.\n"
                    "# postprocessing:\n#   labels: labels.txt\n\n");

    fy__text_printf(&b,
                    "# What the model needs. min_memory_mb and min_disk_mb are estimates from the\n"
                    "# model's size: raise them if serving needs more.\n");
    fy__text_printf(&b, "requirements:\n");
    if (arch)
        fy__text_printf(&b, "  arch: [%s]\n", arch);
    else
        fy__text_printf(&b, "  # arch: [x86_64, aarch64]\n");
    fy__text_printf(&b,
                    "  # cpu_features: [avx2]  # only if the model needs them; ferry's reference "
                    "engine needs none\n");
    fy__text_printf(&b, "  min_memory_mb: %lld\n  min_disk_mb: %lld\n", (long long)mem_mb,
                    (long long)disk_mb);
    fy__text_printf(&b, "  threads: 1\n  ferry: \">=0.1.0 <1.0.0\"\n\n");

    fy__text_printf(
        &b, "# Serving defaults: dynamic batching (0: off), its wait, worker instances.\n"
            "# serving:\n#   max_batch_size: 32\n#   max_queue_delay_ms: 2\n#   instances: 1\n\n");
    fy__text_printf(&b,
                    "# Standards `ferry verify` checks before a deployment: a labeled dataset, a\n"
                    "# metric and its minimum, the slowest p99 latency and lowest throughput.\n"
                    "# tests:\n"
                    "#   dataset: idx:/path/to/images-idx3-ubyte.gz,/path/to/labels-idx1-ubyte.gz\n"
                    "#   metric: accuracy\n#   min: 0.90\n#   max_p99_latency_ms: 100\n"
                    "#   min_throughput_per_s: 100\n");
    if (b.oom) {
        fy__free(b.p);
        return fy__diag_set(d, FY_ENOMEM, "template: out of memory");
    }
    *out = b.p;
    return FY_OK;
}
