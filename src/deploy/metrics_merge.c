/* SPDX-License-Identifier: MIT */
/* One Prometheus text exposition from several workers' (the front's GET /metrics):
 * each worker's samples get a label naming the worker, and the samples of one
 * metric family, from every worker, are written together under a single HELP and
 * TYPE, as the format requires (a family split in two, or a TYPE line repeated,
 * is refused by Prometheus and promtool). Families keep the order in which they
 * first appear. The input is the workers' own output, but it is read as untrusted
 * text: lines that are not a comment or a sample with a valid metric name are
 * skipped, and sizes are bounded. */
#include <string.h>

#include "../core/core.h"
#include "deploy_int.h"

#define MAX_FAMILIES 4096
#define MAX_OUT ((size_t)64 << 20)

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

typedef struct family {
    char *name;
    char *help, *type; /* whole lines with their newline, or NULL */
    buf samples;
} family;

typedef struct merge {
    family *f;
    int n, cap;
    int failed; /* FY_ENOMEM or FY_ELIMIT */
} merge;

static int put(merge *m, buf *b, const char *s, size_t n)
{
    if (m->failed)
        return -1;
    if (b->len + n > MAX_OUT) {
        m->failed = FY_ELIMIT;
        return -1;
    }
    if (b->len + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->len + n)
            c *= 2;
        char *p = fy__realloc(b->p, c);
        if (!p) {
            m->failed = FY_ENOMEM;
            return -1;
        }
        b->p = p;
        b->cap = c;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* Length of the metric name at s (0: none). */
static size_t name_len(const char *s, size_t n)
{
    if (n == 0 || !name_start(s[0]))
        return 0;
    size_t k = 1;
    while (k < n && name_char(s[k]))
        k++;
    return k;
}

static family *find(merge *m, const char *name, size_t n)
{
    for (int i = 0; i < m->n; i++)
        if (strlen(m->f[i].name) == n && !memcmp(m->f[i].name, name, n))
            return &m->f[i];
    return NULL;
}

static family *find_or_add(merge *m, const char *name, size_t n)
{
    family *f = find(m, name, n);
    if (f || m->failed)
        return f;
    if (m->n >= MAX_FAMILIES) {
        m->failed = FY_ELIMIT;
        return NULL;
    }
    if (m->n == m->cap) {
        int c = m->cap ? m->cap * 2 : 32;
        family *nf = fy__realloc(m->f, (size_t)c * sizeof *nf);
        if (!nf) {
            m->failed = FY_ENOMEM;
            return NULL;
        }
        m->f = nf;
        m->cap = c;
    }
    f = &m->f[m->n];
    memset(f, 0, sizeof *f);
    if (!(f->name = fy__malloc(n + 1))) {
        m->failed = FY_ENOMEM;
        return NULL;
    }
    memcpy(f->name, name, n);
    f->name[n] = 0;
    m->n++;
    return f;
}

static char *dup_line(merge *m, const char *s, size_t n)
{
    char *p = fy__malloc(n + 2);
    if (!p) {
        m->failed = FY_ENOMEM;
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\n';
    p[n + 1] = 0;
    return p;
}

static const char *const member_suffix[] = {"_bucket",  "_sum",  "_count", "_total",
                                            "_created", "_info", NULL};

/* name is the family's own name, or it plus a suffix histograms, summaries and
 * counters give their samples. */
static int is_member(const family *f, const char *name, size_t n)
{
    size_t fl = strlen(f->name);
    if (n < fl || memcmp(f->name, name, fl) != 0)
        return 0;
    if (n == fl)
        return 1;
    for (int i = 0; member_suffix[i]; i++)
        if (strlen(member_suffix[i]) == n - fl && !memcmp(name + fl, member_suffix[i], n - fl))
            return 1;
    return 0;
}

/* The family a sample belongs to: the current one (the last HELP or TYPE read) when
 * it is a member; else one seen before under its name or its name less a suffix;
 * else a new, untyped one. */
static family *family_of(merge *m, int cur, const char *name, size_t n)
{
    if (cur >= 0 && is_member(&m->f[cur], name, n))
        return &m->f[cur];
    family *f = find(m, name, n);
    for (int i = 0; member_suffix[i] && !f; i++) {
        size_t sl = strlen(member_suffix[i]);
        if (n > sl && !memcmp(name + n - sl, member_suffix[i], sl))
            f = find(m, name, n - sl);
    }
    return f ? f : find_or_add(m, name, n);
}

/* label="value" with the value escaped as the format wants. */
static void put_label(merge *m, buf *b, const char *label, const char *value)
{
    put(m, b, label, strlen(label));
    put(m, b, "=\"", 2);
    for (const char *v = value; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(m, b, "\\", 1);
        if (*v == '\n')
            put(m, b, "\\n", 2);
        else
            put(m, b, v, 1);
    }
    put(m, b, "\"", 1);
}

static void add_text(merge *m, const char *text, size_t len, const char *label, const char *value)
{
    int cur = -1; /* an index: adding a family moves the array */
    size_t i = 0;
    while (i < len && !m->failed) {
        const char *line = text + i, *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0 || memchr(line, 0, n))
            continue;
        if (line[0] == '#') {
            int help = n > 7 && !memcmp(line, "# HELP ", 7);
            int type = n > 7 && !memcmp(line, "# TYPE ", 7);
            if (!help && !type)
                continue; /* other comments are dropped */
            size_t k = name_len(line + 7, n - 7);
            if (k == 0 || (7 + k < n && line[7 + k] != ' '))
                continue;
            family *f = find_or_add(m, line + 7, k);
            if (!f)
                return;
            cur = (int)(f - m->f);
            char **slot = help ? &f->help : &f->type;
            if (!*slot)
                *slot = dup_line(m, line, n);
            continue;
        }
        size_t k = name_len(line, n);
        if (k == 0 || k == n || (line[k] != '{' && line[k] != ' '))
            continue; /* not a sample */
        family *f = family_of(m, cur, line, k);
        if (!f)
            return;
        buf *b = &f->samples;
        put(m, b, line, k);
        put(m, b, "{", 1);
        put_label(m, b, label, value);
        if (line[k] == '{') {
            const char *rest = line + k + 1;
            size_t rl = n - k - 1;
            if (rl > 0 && rest[0] != '}')
                put(m, b, ",", 1);
            put(m, b, rest, rl);
        } else {
            put(m, b, "}", 1);
            put(m, b, line + k, n - k);
        }
        put(m, b, "\n", 1);
    }
}

int fy__metrics_merge(const char *const *texts, const size_t *lens, const char *const *values,
                      int n, const char *label, char **out, size_t *out_len, fy_diag *d)
{
    merge m = {0};
    buf o = {0};
    *out = NULL;
    *out_len = 0;
    for (int w = 0; w < n && !m.failed; w++)
        if (texts[w])
            add_text(&m, texts[w], lens[w], label, values[w]);
    for (int i = 0; i < m.n && !m.failed; i++) {
        family *f = &m.f[i];
        if (f->help)
            put(&m, &o, f->help, strlen(f->help));
        if (f->type)
            put(&m, &o, f->type, strlen(f->type));
        if (f->samples.len)
            put(&m, &o, f->samples.p, f->samples.len);
    }
    put(&m, &o, "", 1); /* a terminating NUL, not counted */
    for (int i = 0; i < m.n; i++) {
        fy__free(m.f[i].name);
        fy__free(m.f[i].help);
        fy__free(m.f[i].type);
        fy__free(m.f[i].samples.p);
    }
    fy__free(m.f);
    if (m.failed) {
        fy__free(o.p);
        return fy__diag_set(d, m.failed,
                            m.failed == FY_ENOMEM ? "out of memory merging metrics"
                                                  : "workers' metrics above the limit (%d "
                                                    "families, %zu MiB)",
                            MAX_FAMILIES, MAX_OUT >> 20);
    }
    *out = o.p;
    *out_len = o.len - 1;
    return FY_OK;
}
