/* SPDX-License-Identifier: MIT */
/* The model repository: resolves model files, packages and NAME/VERSION/ folders
 * into reference-counted model versions, loads and warms them, and swaps versions
 * on reload so in-flight requests finish on the old one while new ones reach the
 * new one. See docs/serve.md, "Model repository". */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core.h"
#include "serve/serve_int.h"

#define NAME_MAX_LEN 64       /* [A-Za-z0-9][A-Za-z0-9._-]{0,63} */
#define VERSION_MAX_LEN 64    /* versions shown to clients: folder numbers, semvers */
#define REPO_MAX_ENTRIES 4096 /* entries read from one folder */
#define REPO_MAX_POLICY 1000  /* version_policy_latest */
#define DEFAULT_QUEUE 256
#define REASON_LEN 512

/* What identifies a model file's contents cheaply: an unchanged file is not loaded again. */
typedef struct ident {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    uint64_t tree; /* an unpacked package folder: tree_hash of what is in it */
} ident;

struct fy__mv {
    fy__repo *r;
    char name[NAME_MAX_LEN + 1];
    char *version;
    uint64_t key[4]; /* order of versions: numbers, or major.minor.patch.release */
    char *path;      /* the model file or package it was loaded from */
    ident id;
    int is_pkg;
    fy__mv_state state;
    char reason[REASON_LEN];
    int refs;
    fy_model *model;
    fy_package *pkg;
    fy__batcher *batcher;
    /* admin bookkeeping (reload/load/unload hold r->admin) */
    int mark, loaded_ok;
    struct fy__mv *retire_next;
};

typedef struct model_ent {
    char name[NAME_MAX_LEN + 1];
    int unloaded;         /* unloaded by an admin: rescans leave it alone */
    char why[REASON_LEN]; /* a problem with the model as a whole, "" if none */
    fy__mv **v;           /* sorted by version; several records may share one during a swap */
    int n, cap;
} model_ent;

struct fy__repo {
    fy__repo_opts o;
    char **paths;
    pthread_mutex_t mu;    /* models, records, states, reference counts */
    pthread_cond_t cv;     /* a reference count reached zero */
    pthread_mutex_t admin; /* one reload, load, unload or free at a time */
    model_ent **m;         /* sorted by name */
    int n_m, cap_m;
};

/* One model version found by a scan, or a problem with one (err non-empty). */
typedef struct cand {
    char name[NAME_MAX_LEN + 1];
    char *version; /* NULL: err is about the model as a whole */
    uint64_t key[4];
    char *path;
    int is_pkg;
    ident id;
    fy_package *pkg; /* opened during the scan; handed on to the load */
    char err[REASON_LEN];
} cand;

typedef struct cands {
    cand *v;
    int n, cap;
} cands;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------- */
/* Event log: one JSON object per line                                        */
/* ------------------------------------------------------------------------- */

typedef struct jline {
    char s[1536];
    size_t n;
} jline;

static void j_raw(jline *j, const char *t)
{
    size_t k = strlen(t);
    if (j->n + k + 2 < sizeof j->s) {
        memcpy(j->s + j->n, t, k);
        j->n += k;
    }
}

/* JSON string escaping; valid UTF-8 passes through, any other byte becomes U+FFFD,
 * so a line is valid JSON whatever bytes a path holds. Long values are cut. */
static void j_str(jline *j, const char *key, const char *val)
{
    char head[64];
    snprintf(head, sizeof head, ",\"%s\":\"", key);
    j_raw(j, head);
    const unsigned char *p = (const unsigned char *)(val ? val : "");
    while (*p && j->n + 16 < sizeof j->s) {
        unsigned c = *p;
        int len = c < 0x80             ? 1
                  : (c & 0xE0) == 0xC0 ? 2
                  : (c & 0xF0) == 0xE0 ? 3
                  : (c & 0xF8) == 0xF0 ? 4
                                       : 0;
        int ok = len > 0 && !(len == 2 && c < 0xC2);
        for (int k = 1; ok && k < len; k++)
            ok = (p[k] & 0xC0) == 0x80;
        if (!ok) {
            j_raw(j, "\\ufffd");
            p++;
        } else if (c == '"' || c == '\\') {
            j->s[j->n++] = '\\';
            j->s[j->n++] = (char)c;
            p++;
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            j_raw(j, esc);
            p++;
        } else {
            memcpy(j->s + j->n, p, (size_t)len);
            j->n += (size_t)len;
            p += len;
        }
    }
    j_raw(j, "\"");
}

static void j_num(jline *j, const char *key, double v)
{
    char t[96];
    snprintf(t, sizeof t, ",\"%s\":%.6g", key, v);
    j_raw(j, t);
}

static void j_start(jline *j, const char *event)
{
    j->n = 0;
    j_raw(j, "{\"event\":\"");
    j_raw(j, event);
    j_raw(j, "\"");
}

static void j_emit(fy__repo *r, jline *j)
{
    j->s[j->n++] = '}';
    j->s[j->n] = 0;
    if (r->o.log)
        r->o.log(j->s, r->o.log_ctx);
}

static void log_refused(fy__repo *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_refused(fy__repo *r, const char *path, const char *fmt, ...)
{
    char why[REASON_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    jline j;
    j_start(&j, "repository_entry_refused");
    j_str(&j, "path", path);
    j_str(&j, "reason", why);
    j_emit(r, &j);
}

static void log_mv(fy__repo *r, const char *event, const fy__mv *mv, const char *reason)
{
    jline j;
    j_start(&j, event);
    j_str(&j, "model", mv->name);
    j_str(&j, "version", mv->version);
    if (reason)
        j_str(&j, "reason", reason);
    j_emit(r, &j);
}

/* ------------------------------------------------------------------------- */
/* Names, versions, paths                                                     */
/* ------------------------------------------------------------------------- */

static int is_alnum(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int valid_name(const char *s)
{
    size_t n = 0;
    if (!s || !is_alnum((unsigned char)s[0]))
        return 0;
    for (; s[n]; n++)
        if (n >= NAME_MAX_LEN ||
            !(is_alnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-'))
            return 0;
    return 1;
}

/* A version folder: a positive integer without leading zeros ("01" and "1" would
 * otherwise name the same version twice). */
static int valid_version_dir(const char *s, uint64_t *num)
{
    uint64_t v = 0;
    if (!s || s[0] < '1' || s[0] > '9' || strlen(s) > 18)
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *num = v;
    return 1;
}

/* A version as clients may spell it in URLs: printable, no separators. */
static int valid_version(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VERSION_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(is_alnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-' ||
              s[i] == '+'))
            return 0;
    return 1;
}

/* major.minor.patch with a pre-release ordered before its release. */
static void semver_key(const char *v, uint64_t key[4])
{
    const char *p = v;
    memset(key, 0, 4 * sizeof key[0]);
    for (int k = 0; k < 3; k++) {
        while (*p >= '0' && *p <= '9') {
            key[k] = key[k] * 10 + (uint64_t)(*p - '0');
            if (key[k] > ((uint64_t)1 << 60))
                key[k] = (uint64_t)1 << 60;
            p++;
        }
        if (*p == '.')
            p++;
        else
            break;
    }
    key[3] = strchr(v, '-') ? 0 : 1;
}

static int key_cmp(const uint64_t a[4], const uint64_t b[4])
{
    for (int k = 0; k < 4; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

static char *path_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = fy__malloc(na + nb + 2);
    if (p) {
        memcpy(p, a, na);
        p[na] = '/';
        memcpy(p + na + 1, b, nb + 1);
    }
    return p;
}

static ident ident_of(const struct stat *st)
{
    ident id = {st->st_dev, st->st_ino, st->st_size,
                (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec, 0};
    return id;
}

static int ident_eq(const ident *a, const ident *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->tree == b->tree;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        fy__free(names[i]);
    fy__free(names);
}

/* The entries of a folder (no hidden ones), sorted, at most REPO_MAX_ENTRIES. */
static int list_dir(const char *path, char ***out, int *n_out, fy_diag *d)
{
    DIR *dir = opendir(path);
    char **names = NULL;
    int n = 0, cap = 0, rc = FY_OK;
    if (!dir)
        return fy__diag_set(d, errno == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        if (n >= REPO_MAX_ENTRIES) {
            rc = fy__diag_set(d, FY_ELIMIT, "%s: more than %d entries", path, REPO_MAX_ENTRIES);
            break;
        }
        if (n == cap) {
            int nc = cap ? cap * 2 : 16;
            char **p = fy__realloc(names, (size_t)nc * sizeof *p);
            if (!p) {
                rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
                break;
            }
            names = p;
            cap = nc;
        }
        if (!(names[n] = fy__strdup(e->d_name))) {
            rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
            break;
        }
        n++;
    }
    closedir(dir);
    if (rc != FY_OK) {
        free_names(names, n);
        return rc;
    }
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return FY_OK;
}

static uint64_t fnv_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* An unpacked package folder's own stat changes when entries are added, removed or
 * renamed, not when a file in it is rewritten in place. This folds every entry
 * below it (name, inode, size, modification time; in name order, 8 levels deep) into
 * one hash, so such an edit counts as a change too. A folder that cannot be listed
 * hashes its error: opening the package reports it. */
static uint64_t tree_hash(const char *dir, int depth, uint64_t h)
{
    char **names = NULL;
    int n = 0;
    fy_diag e = {{0}};
    if (depth > 8 || list_dir(dir, &names, &n, &e) != FY_OK)
        return fnv_add(h, e.msg, strlen(e.msg) + 1);
    for (int i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        struct stat st;
        h = fnv_add(h, names[i], strlen(names[i]) + 1);
        if (p && lstat(p, &st) == 0) {
            ident id = ident_of(&st);
            h = fnv_add(h, &id.ino, sizeof id.ino);
            h = fnv_add(h, &id.size, sizeof id.size);
            h = fnv_add(h, &id.mtime_ns, sizeof id.mtime_ns);
            if (S_ISDIR(st.st_mode))
                h = tree_hash(p, depth + 1, h);
        }
        fy__free(p);
    }
    free_names(names, n);
    return h;
}

/* ------------------------------------------------------------------------- */
/* Scanning: paths -> candidates                                              */
/* ------------------------------------------------------------------------- */

static void cand_clear(cand *c)
{
    fy__free(c->version);
    fy__free(c->path);
    fy_package_free(c->pkg);
    memset(c, 0, sizeof *c);
}

static void cands_free(cands *cs)
{
    for (int i = 0; i < cs->n; i++)
        cand_clear(&cs->v[i]);
    fy__free(cs->v);
    memset(cs, 0, sizeof *cs);
}

static cand *cands_push(cands *cs, const char *name)
{
    if (cs->n == cs->cap) {
        int nc = cs->cap ? cs->cap * 2 : 8;
        cand *p = fy__realloc(cs->v, (size_t)nc * sizeof *p);
        if (!p)
            return NULL;
        cs->v = p;
        cs->cap = nc;
    }
    cand *c = &cs->v[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

typedef struct scan {
    fy__repo *r;
    const char *only; /* scan for this model name only, or NULL */
    int strict;       /* problems with the given paths are errors (create) */
    int incomplete;   /* a given path could not be read: nothing may be dropped */
    cands cs;
} scan;

static int scan_oom(fy_diag *d)
{
    return fy__diag_set(d, FY_ENOMEM, "out of memory scanning");
}

/* NAME/VERSION/: model.onnx or exactly one *.ferry, regular files. */
static int scan_version(cand *c, const char *vdir, fy_diag *d)
{
    char **names = NULL;
    int n = 0, n_pkg = 0, has_onnx = 0, rc;
    char *onnx = path_join(vdir, "model.onnx"), *pkg = NULL;
    struct stat st, pst;
    if (!onnx)
        return scan_oom(d);
    if (lstat(onnx, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            snprintf(c->err, sizeof c->err, "%s is a symbolic link (links are refused)", onnx);
        else if (!S_ISREG(st.st_mode))
            snprintf(c->err, sizeof c->err, "%s is not a regular file", onnx);
        has_onnx = 1;
    }
    fy_diag e = {{0}};
    if ((rc = list_dir(vdir, &names, &n, &e)) != FY_OK) {
        fy__free(onnx);
        if (rc == FY_ENOMEM)
            return scan_oom(d);
        snprintf(c->err, sizeof c->err, "%s", e.msg);
        return FY_OK;
    }
    for (int i = 0; i < n && !c->err[0]; i++) {
        if (!ends_with(names[i], ".ferry"))
            continue;
        char *p = path_join(vdir, names[i]);
        if (!p) {
            rc = scan_oom(d);
            break;
        }
        const char *bad = lstat(p, &pst) != 0     ? strerror(errno)
                          : S_ISLNK(pst.st_mode)  ? "a symbolic link (links are refused)"
                          : !S_ISREG(pst.st_mode) ? "not a regular file"
                                                  : NULL;
        if (bad) {
            snprintf(c->err, sizeof c->err, "%s: %s", p, bad);
            fy__free(p);
            break;
        }
        if (n_pkg++ == 0) {
            pkg = p;
            st = pst;
        } else {
            fy__free(p);
        }
    }
    free_names(names, n);
    if (rc != FY_OK || c->err[0]) {
        fy__free(onnx);
        fy__free(pkg);
        return rc;
    }
    if (has_onnx && n_pkg)
        snprintf(c->err, sizeof c->err, "%s holds both model.onnx and a package; keep one", vdir);
    else if (n_pkg > 1)
        snprintf(c->err, sizeof c->err, "%s holds %d packages (*.ferry); keep one", vdir, n_pkg);
    else if (!has_onnx && !n_pkg)
        snprintf(c->err, sizeof c->err, "%s holds neither model.onnx nor a package (*.ferry)",
                 vdir);
    if (c->err[0]) {
        fy__free(onnx);
        fy__free(pkg);
        return FY_OK;
    }
    if (has_onnx) {
        c->path = onnx;
        fy__free(pkg);
    } else {
        c->path = pkg;
        c->is_pkg = 1;
        fy__free(onnx);
    }
    c->id = ident_of(&st);
    return FY_OK;
}

typedef struct vnum {
    uint64_t num;
    char *name;
} vnum;

static int cmp_vnum_desc(const void *a, const void *b)
{
    const vnum *x = a, *y = b;
    return x->num < y->num ? 1 : x->num > y->num ? -1 : 0;
}

/* ROOT/NAME/: the version folders, newest first, as many as the policy keeps. */
static int scan_model_dir(scan *sc, const char *name, const char *dir, fy_diag *d)
{
    fy__repo *r = sc->r;
    char **names = NULL;
    int n = 0, n_v = 0, rc;
    vnum *vs = NULL;
    fy_diag e = {{0}};
    if ((rc = list_dir(dir, &names, &n, &e)) != FY_OK) {
        if (rc == FY_ENOMEM)
            return scan_oom(d);
        cand *c = cands_push(&sc->cs, name);
        if (!c)
            return scan_oom(d);
        snprintf(c->err, sizeof c->err, "%s", e.msg);
        return FY_OK;
    }
    if (n && !(vs = fy__calloc((size_t)n, sizeof *vs))) {
        free_names(names, n);
        return scan_oom(d);
    }
    for (int i = 0; i < n; i++) {
        uint64_t num;
        struct stat st;
        char *p = path_join(dir, names[i]);
        if (!p) {
            rc = scan_oom(d);
            goto done;
        }
        if (!valid_version_dir(names[i], &num))
            log_refused(r, p, "version folders are positive integers without leading zeros");
        else if (lstat(p, &st) != 0)
            log_refused(r, p, "cannot read: %s", strerror(errno));
        else if (S_ISLNK(st.st_mode))
            log_refused(r, p, "is a symbolic link (links are refused)");
        else if (!S_ISDIR(st.st_mode))
            log_refused(r, p, "is not a folder (the layout is NAME/VERSION/model.onnx)");
        else
            vs[n_v++] = (vnum){num, names[i]};
        fy__free(p);
    }
    if (!n_v) {
        cand *c = cands_push(&sc->cs, name);
        if (!c) {
            rc = scan_oom(d);
            goto done;
        }
        snprintf(c->err, sizeof c->err,
                 "%s has no version folder (the layout is NAME/VERSION/model.onnx with VERSION "
                 "a positive integer)",
                 dir);
        goto done;
    }
    qsort(vs, (size_t)n_v, sizeof *vs, cmp_vnum_desc);
    int keep = r->o.version_policy_latest > 0 ? r->o.version_policy_latest : 1;
    for (int i = 0; i < n_v && i < keep; i++) {
        cand *c = cands_push(&sc->cs, name);
        char *vdir = NULL;
        if (!c || !(c->version = fy__strdup(vs[i].name)) || !(vdir = path_join(dir, vs[i].name))) {
            rc = scan_oom(d);
            goto done;
        }
        c->key[0] = vs[i].num;
        c->key[3] = 1;
        rc = scan_version(c, vdir, d);
        fy__free(vdir);
        if (rc != FY_OK)
            goto done;
    }
done:
    fy__free(vs);
    free_names(names, n);
    return rc;
}

/* A repository folder: every NAME/ below it (or only sc->only). */
static int scan_root(scan *sc, const char *root, fy_diag *d)
{
    char **names = NULL;
    int n = 0, rc;
    fy_diag e = {{0}};
    if (sc->only) {
        struct stat st;
        char *p = path_join(root, sc->only);
        if (!p)
            return scan_oom(d);
        int found = lstat(p, &st) == 0;
        fy__free(p);
        if (!found)
            return FY_OK;
        if (!(names = fy__malloc(sizeof *names)) || !(names[0] = fy__strdup(sc->only))) {
            fy__free(names);
            return scan_oom(d);
        }
        n = 1;
    } else if ((rc = list_dir(root, &names, &n, &e)) != FY_OK) {
        if (rc == FY_ENOMEM || sc->strict)
            return fy__diag_set(d, rc, "%s", e.msg);
        sc->incomplete = 1;
        log_refused(sc->r, root, "%s", e.msg);
        return FY_OK;
    }
    rc = FY_OK;
    for (int i = 0; i < n && rc == FY_OK; i++) {
        struct stat st;
        char *p = path_join(root, names[i]);
        if (!p) {
            rc = scan_oom(d);
            break;
        }
        /* the name is checked before the file system is asked anything about it */
        if (!valid_name(names[i]))
            log_refused(sc->r, p,
                        "invalid model name (names match [A-Za-z0-9][A-Za-z0-9._-]{0,63})");
        else if (lstat(p, &st) != 0)
            log_refused(sc->r, p, "cannot read: %s", strerror(errno));
        else if (S_ISLNK(st.st_mode))
            log_refused(sc->r, p, "is a symbolic link (links are refused)");
        else if (!S_ISDIR(st.st_mode))
            log_refused(sc->r, p, "is not a folder (the layout is NAME/VERSION/model.onnx)");
        else
            rc = scan_model_dir(sc, names[i], p, d);
        fy__free(p);
    }
    free_names(names, n);
    return rc;
}

/* A ready version loaded from this very file, unchanged: no need to open it again. */
static const fy__mv *find_loaded(fy__repo *r, const char *path, const ident *id)
{
    for (int i = 0; i < r->n_m; i++)
        for (int k = 0; k < r->m[i]->n; k++) {
            const fy__mv *mv = r->m[i]->v[k];
            if (mv->state == FY_MV_READY && strcmp(mv->path, path) == 0 && ident_eq(&mv->id, id))
                return mv;
        }
    return NULL;
}

/* The file's name without folder and extension. */
static void stem_of(const char *path, const char *ext, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (ext && ends_with(base, ext))
        len -= strlen(ext);
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), base);
    if (len >= n)
        out[0] = 0; /* too long to be a valid name: refused by the caller */
}

static int scan_problem(scan *sc, const char *path, int code, fy_diag *d, const char *why)
{
    if (sc->strict)
        return fy__diag_set(d, code, "%s: %s", path, why);
    sc->incomplete = 1;
    log_refused(sc->r, path, "%s", why);
    return FY_OK;
}

static int scan_package(scan *sc, const char *path, const struct stat *st, fy_diag *d)
{
    fy__repo *r = sc->r;
    ident id = ident_of(st);
    if (S_ISDIR(st->st_mode))
        id.tree = tree_hash(path, 0, 0xcbf29ce484222325ull);
    char stem[NAME_MAX_LEN + 8];
    fy_diag e = {{0}};
    fy_package *pkg = NULL;
    cand *c;
    pthread_mutex_lock(&r->mu);
    const fy__mv *had = find_loaded(r, path, &id);
    char name[NAME_MAX_LEN + 1], version[VERSION_MAX_LEN + 1];
    if (had) {
        snprintf(name, sizeof name, "%s", had->name);
        snprintf(version, sizeof version, "%s", had->version);
    }
    pthread_mutex_unlock(&r->mu);
    if (!had) {
        if (fy_package_open(&pkg, path, &e) != FY_OK) {
            if (e.msg[0] == 0)
                snprintf(e.msg, sizeof e.msg, "%s: cannot open the package", path);
            /* the manifest's name is out of reach: report it under the file's stem */
            stem_of(path, ".ferry", stem, sizeof stem);
            if (!valid_name(stem))
                return scan_problem(sc, path, FY_EINVAL, d, e.msg);
            if (sc->only && strcmp(stem, sc->only) != 0)
                return FY_OK;
            if (!(c = cands_push(&sc->cs, stem)))
                return scan_oom(d);
            snprintf(c->err, sizeof c->err, "%s", e.msg);
            return FY_OK;
        }
        const fy_manifest *man = fy_package_manifest(pkg);
        const char *why = NULL;
        if (!man || !man->name || !valid_name(man->name))
            why = "the manifest's name is not a valid model name";
        else if (!man->version || !valid_version(man->version))
            why = "the manifest's version is not a valid version";
        if (why) {
            fy_package_free(pkg);
            return scan_problem(sc, path, FY_EINVAL, d, why);
        }
        snprintf(name, sizeof name, "%s", man->name);
        snprintf(version, sizeof version, "%s", man->version);
    }
    if (sc->only && strcmp(name, sc->only) != 0) {
        fy_package_free(pkg);
        return FY_OK;
    }
    if (!(c = cands_push(&sc->cs, name)) || !(c->version = fy__strdup(version)) ||
        !(c->path = fy__strdup(path))) {
        fy_package_free(pkg);
        return scan_oom(d);
    }
    semver_key(version, c->key);
    c->is_pkg = 1;
    c->id = id;
    c->pkg = pkg;
    return FY_OK;
}

static int scan_path(scan *sc, const char *path, fy_diag *d)
{
    struct stat st;
    char why[REASON_LEN];
    if (lstat(path, &st) != 0) {
        int e = errno;
        snprintf(why, sizeof why, "cannot read: %s", strerror(e));
        return scan_problem(sc, path, e == ENOENT ? FY_ENOTFOUND : FY_EIO, d, why);
    }
    if (S_ISLNK(st.st_mode))
        return scan_problem(sc, path, FY_EINVAL, d,
                            "is a symbolic link (links are refused: give the file itself)");
    if (S_ISDIR(st.st_mode))
        return fy_package_sniff(path) ? scan_package(sc, path, &st, d) : scan_root(sc, path, d);
    if (!S_ISREG(st.st_mode))
        return scan_problem(sc, path, FY_EINVAL, d, "is not a regular file");
    if (ends_with(path, ".onnx")) {
        char stem[NAME_MAX_LEN + 8];
        stem_of(path, ".onnx", stem, sizeof stem);
        if (!valid_name(stem))
            return scan_problem(sc, path, FY_EINVAL, d,
                                "the file's name is not a valid model name (names match "
                                "[A-Za-z0-9][A-Za-z0-9._-]{0,63})");
        if (sc->only && strcmp(stem, sc->only) != 0)
            return FY_OK;
        cand *c = cands_push(&sc->cs, stem);
        if (!c || !(c->version = fy__strdup("1")) || !(c->path = fy__strdup(path)))
            return scan_oom(d);
        c->key[0] = 1;
        c->key[3] = 1;
        c->id = ident_of(&st);
        return FY_OK;
    }
    if (ends_with(path, ".ferry") || fy_package_sniff(path))
        return scan_package(sc, path, &st, d);
    return scan_problem(sc, path, FY_EINVAL, d,
                        "is not an ONNX model (.onnx), a ferry package (.ferry) or a repository "
                        "folder");
}

/* Two sources for one name and version: the first wins, the second is refused. */
static void drop_duplicates(scan *sc)
{
    for (int i = 0; i < sc->cs.n; i++) {
        cand *c = &sc->cs.v[i];
        if (!c->version || c->err[0])
            continue;
        for (int k = 0; k < i; k++) {
            cand *o = &sc->cs.v[k];
            if (o->version && strcmp(o->name, c->name) == 0 &&
                strcmp(o->version, c->version) == 0) {
                log_refused(sc->r, c->path ? c->path : c->name,
                            "model '%s' version '%s' already comes from %s", c->name, c->version,
                            o->path ? o->path : "another entry");
                cand_clear(c);
                break;
            }
        }
    }
}

static int do_scan(fy__repo *r, scan *sc, const char *only, int strict, fy_diag *d)
{
    memset(sc, 0, sizeof *sc);
    sc->r = r;
    sc->only = only;
    sc->strict = strict;
    for (int i = 0; i < r->o.n_paths; i++) {
        int rc = scan_path(sc, r->paths[i], d);
        if (rc != FY_OK) {
            cands_free(&sc->cs);
            return rc;
        }
    }
    drop_duplicates(sc);
    return FY_OK;
}

/* ------------------------------------------------------------------------- */
/* Models and records (under r->mu)                                           */
/* ------------------------------------------------------------------------- */

static model_ent *find_model(const fy__repo *r, const char *name)
{
    int lo = 0, hi = r->n_m - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(r->m[mid]->name, name);
        if (c == 0)
            return r->m[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static model_ent *add_model(fy__repo *r, const char *name)
{
    if (r->n_m == r->cap_m) {
        int nc = r->cap_m ? r->cap_m * 2 : 8;
        model_ent **p = fy__realloc(r->m, (size_t)nc * sizeof *p);
        if (!p)
            return NULL;
        r->m = p;
        r->cap_m = nc;
    }
    model_ent *me = fy__calloc(1, sizeof *me);
    if (!me)
        return NULL;
    snprintf(me->name, sizeof me->name, "%s", name);
    int at = 0;
    while (at < r->n_m && strcmp(r->m[at]->name, name) < 0)
        at++;
    memmove(&r->m[at + 1], &r->m[at], (size_t)(r->n_m - at) * sizeof *r->m);
    r->m[at] = me;
    r->n_m++;
    return me;
}

static void remove_model(fy__repo *r, model_ent *me)
{
    for (int i = 0; i < r->n_m; i++)
        if (r->m[i] == me) {
            memmove(&r->m[i], &r->m[i + 1], (size_t)(r->n_m - i - 1) * sizeof *r->m);
            r->n_m--;
            break;
        }
    fy__free(me->v);
    fy__free(me);
}

static int insert_mv(model_ent *me, fy__mv *mv)
{
    if (me->n == me->cap) {
        int nc = me->cap ? me->cap * 2 : 4;
        fy__mv **p = fy__realloc(me->v, (size_t)nc * sizeof *p);
        if (!p)
            return FY_ENOMEM;
        me->v = p;
        me->cap = nc;
    }
    int at = 0;
    while (at < me->n) {
        int c = key_cmp(me->v[at]->key, mv->key);
        if (c == 0)
            c = strcmp(me->v[at]->version, mv->version);
        if (c > 0)
            break;
        at++;
    }
    memmove(&me->v[at + 1], &me->v[at], (size_t)(me->n - at) * sizeof *me->v);
    me->v[at] = mv;
    me->n++;
    return FY_OK;
}

static void unlink_mv(model_ent *me, fy__mv *mv)
{
    for (int i = 0; i < me->n; i++)
        if (me->v[i] == mv) {
            memmove(&me->v[i], &me->v[i + 1], (size_t)(me->n - i - 1) * sizeof *me->v);
            me->n--;
            return;
        }
}

static fy__mv *new_mv(fy__repo *r, const cand *c)
{
    fy__mv *mv = fy__calloc(1, sizeof *mv);
    if (!mv)
        return NULL;
    mv->r = r;
    snprintf(mv->name, sizeof mv->name, "%s", c->name);
    mv->version = fy__strdup(c->version);
    mv->path = c->path ? fy__strdup(c->path) : fy__strdup("");
    if (!mv->version || !mv->path) {
        fy__free(mv->version);
        fy__free(mv->path);
        fy__free(mv);
        return NULL;
    }
    memcpy(mv->key, c->key, sizeof mv->key);
    mv->id = c->id;
    mv->is_pkg = c->is_pkg;
    mv->state = FY_MV_LOADING;
    return mv;
}

/* Engine resources of a record; the record itself stays. */
static void release_resources(fy__mv *mv)
{
    fy__batcher_free(mv->batcher);
    fy_model_free(mv->model);
    fy_package_free(mv->pkg);
    mv->batcher = NULL;
    mv->model = NULL;
    mv->pkg = NULL;
}

static void free_mv(fy__mv *mv)
{
    if (!mv)
        return;
    release_resources(mv);
    fy__free(mv->version);
    fy__free(mv->path);
    fy__free(mv);
}

static void describe_mv(const fy__mv *mv, char *out, size_t n)
{
    static const char *const names[] = {"loading", "ready", "unloading", "unavailable", "failed"};
    snprintf(out, n, "version '%s' is %s%s%s", mv->version, names[mv->state],
             mv->reason[0] ? ": " : "", mv->reason);
}

/* ------------------------------------------------------------------------- */
/* Loading and retiring versions                                              */
/* ------------------------------------------------------------------------- */

static int pick(int opt, int manifest, int fallback)
{
    return opt > 0 ? opt : manifest > 0 ? manifest : fallback;
}

/* The signature policy: with a trusted key, only packages that key signed. */
static int check_trust(const fy__repo *r, const fy_package *pkg, fy_diag *d)
{
    if (!r->o.trusted_key)
        return FY_OK;
    fy_sig_status st = FY_SIG_NONE;
    char key_id[17] = "";
    fy_diag vd = {{0}};
    int rc = fy_package_verify_signature(pkg, r->o.trusted_key, &st, key_id, &vd);
    if (rc != FY_OK)
        return fy__diag_set(d, rc, "signature check: %s", vd.msg);
    if (st == FY_SIG_VALID)
        return FY_OK;
    return fy__diag_set(d, FY_EINVAL, "refused by the signature policy: the package is %s%s%s",
                        st == FY_SIG_NONE        ? "unsigned"
                        : st == FY_SIG_INVALID   ? "signed, but the signature does not verify"
                                                 : "signed by a key that is not trusted",
                        vd.msg[0] ? ": " : "", vd.msg);
}

/* Load, create the instances, warm up. Runs without r->mu: the record is LOADING
 * and invisible to acquire; the outcome is published under the mutex. */
static void load_mv(fy__repo *r, fy__mv *mv)
{
    fy_diag d = {{0}};
    fy_model *model = NULL;
    fy_package *pkg = mv->pkg;
    fy__batcher *b = NULL;
    const fy_manifest *man = NULL;
    double t0 = mono_s();
    int rc;
    mv->pkg = NULL;
    if (mv->is_pkg) {
        rc = pkg ? FY_OK : fy_package_open(&pkg, mv->path, &d);
        if (rc == FY_OK)
            rc = check_trust(r, pkg, &d);
        if (rc == FY_OK) {
            man = fy_package_manifest(pkg);
            rc = fy_package_load_model(pkg, &model, &d);
        }
        if (rc == FY_OK)
            rc = fy_manifest_check_model(man, model, &d);
    } else if (r->o.trusted_key) {
        rc = fy__diag_set(&d, FY_EINVAL,
                          "a bare model carries no signature, and signatures are required: "
                          "pack and sign it (ferry pack --key)");
    } else {
        rc = fy_model_load(&model, mv->path, NULL, &d);
    }
    if (rc == FY_OK) {
        fy__batcher_opts bo = {
            .model = model,
            .name = mv->name,
            .version = mv->version,
            .instances = pick(r->o.instances, man ? man->instances : 0, 1),
            .max_batch_size = pick(r->o.max_batch_size, man ? man->max_batch_size : 0, 1),
            .max_queue_delay_us =
                pick(r->o.max_queue_delay_us, man ? man->max_queue_delay_us : 0, 0),
            .queue_capacity = pick(r->o.queue_capacity, 0, DEFAULT_QUEUE),
            .metrics = r->o.metrics,
            .pool = r->o.pool,
        };
        rc = fy__batcher_create(&b, &bo, &d);
    }
    double secs = mono_s() - t0;
    if (rc != FY_OK && d.msg[0] == 0)
        snprintf(d.msg, sizeof d.msg, "%s", fy_strerror(rc));
    fy__metrics_model_load(r->o.metrics, mv->name, mv->version, rc == FY_OK, secs);
    pthread_mutex_lock(&r->mu);
    if (rc == FY_OK) {
        mv->model = model;
        mv->pkg = pkg;
        mv->batcher = b;
        mv->loaded_ok = 1;
    } else {
        mv->state = FY_MV_FAILED;
        snprintf(mv->reason, sizeof mv->reason, "%s", d.msg);
    }
    pthread_mutex_unlock(&r->mu);
    jline j;
    if (rc == FY_OK) {
        j_start(&j, "model_loaded");
        j_str(&j, "model", mv->name);
        j_str(&j, "version", mv->version);
        j_num(&j, "seconds", secs);
        j_str(&j, "path", mv->path);
        j_num(&j, "max_batch_size", fy__batcher_max_batch(b));
        j_emit(r, &j);
        const char *skip = fy__batcher_warmup_skipped(b);
        if (skip)
            log_mv(r, "warmup_skipped", mv, skip);
    } else {
        j_start(&j, "model_load_failed");
        j_str(&j, "model", mv->name);
        j_str(&j, "version", mv->version);
        j_num(&j, "seconds", secs);
        j_str(&j, "path", mv->path);
        j_str(&j, "reason", d.msg);
        j_emit(r, &j);
        fy_model_free(model);
        fy_package_free(pkg);
    }
}

/* Wait until nobody holds each retiring version, then free it. keep_shell leaves the
 * record in the index as UNAVAILABLE ("unloaded"); otherwise it is removed. */
static void retire(fy__repo *r, model_ent *me, fy__mv *list, int keep_shell)
{
    while (list) {
        fy__mv *mv = list;
        list = mv->retire_next;
        mv->retire_next = NULL;
        pthread_mutex_lock(&r->mu);
        while (mv->refs > 0)
            pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
        /* joins the batch threads: no lock held, nobody can reach it any more */
        release_resources(mv);
        log_mv(r, "model_unloaded", mv, NULL);
        pthread_mutex_lock(&r->mu);
        if (keep_shell) {
            mv->state = FY_MV_UNAVAILABLE;
            snprintf(mv->reason, sizeof mv->reason, "unloaded");
        } else {
            unlink_mv(me, mv);
        }
        pthread_mutex_unlock(&r->mu);
        if (!keep_shell)
            free_mv(mv);
    }
}

/* Bring one model to its candidates (cs, all of this name): load what is new or
 * changed, then in one critical section publish the new versions and retire the
 * ones no longer wanted. If nothing wanted is ready and something failed, the old
 * versions keep serving: a failed deploy never takes a working model away. */
static int apply_model(fy__repo *r, model_ent *me, cand *cs, int n, char *fail, size_t fail_len)
{
    int rc = FY_OK, failed = 0, ready = 0;
    fy__mv *retiring = NULL, *dropped = NULL;

    pthread_mutex_lock(&r->mu);
    me->why[0] = 0;
    for (int i = 0; i < me->n; i++)
        me->v[i]->mark = me->v[i]->loaded_ok = 0;
    for (int i = 0; i < n && rc == FY_OK; i++) {
        cand *c = &cs[i];
        if (!c->version) {
            snprintf(me->why, sizeof me->why, "%s", c->err);
            failed = 1;
            continue;
        }
        fy__mv *same = NULL;
        for (int k = 0; k < me->n && !same && !c->err[0] && !c->pkg; k++) {
            fy__mv *o = me->v[k];
            if (o->state == FY_MV_READY && strcmp(o->version, c->version) == 0 &&
                strcmp(o->path, c->path) == 0 && ident_eq(&o->id, &c->id))
                same = o;
        }
        if (same) {
            same->mark = 1;
            continue;
        }
        fy__mv *mv = new_mv(r, c);
        if (!mv || insert_mv(me, mv) != FY_OK) {
            free_mv(mv);
            rc = FY_ENOMEM;
            break;
        }
        mv->mark = 1;
        if (c->err[0]) {
            mv->state = FY_MV_FAILED;
            snprintf(mv->reason, sizeof mv->reason, "%s", c->err);
        } else {
            mv->pkg = c->pkg; /* the load takes it */
            c->pkg = NULL;
        }
    }
    pthread_mutex_unlock(&r->mu);

    /* Only the admin changes the records, and it is us: reading them here without
     * the mutex races with nobody. */
    for (int k = 0; k < me->n; k++) {
        fy__mv *mv = me->v[k];
        if (mv->mark && mv->state == FY_MV_LOADING) {
            load_mv(r, mv);
        } else if (mv->mark && mv->state == FY_MV_FAILED && !mv->model) {
            fy__metrics_model_load(r->o.metrics, mv->name, mv->version, 0, 0);
            log_mv(r, "model_load_failed", mv, mv->reason);
        }
    }

    pthread_mutex_lock(&r->mu);
    for (int k = 0; k < me->n; k++) {
        fy__mv *mv = me->v[k];
        if (mv->mark && (mv->state == FY_MV_READY || mv->loaded_ok))
            ready = 1;
        if (mv->mark && mv->state == FY_MV_FAILED) {
            if (!failed && fail)
                describe_mv(mv, fail, fail_len);
            failed = 1;
        }
    }
    if (me->why[0] && fail && !fail[0])
        snprintf(fail, fail_len, "%s", me->why);
    if (rc != FY_OK && fail && !fail[0])
        snprintf(fail, fail_len, "out of memory");
    /* running out of memory half-way is a failed deploy too */
    int keep_old = !ready && (failed || rc != FY_OK);
    for (int k = 0; k < me->n; k++) {
        fy__mv *mv = me->v[k];
        if (mv->mark) {
            if (mv->loaded_ok) {
                mv->state = FY_MV_READY;
                mv->loaded_ok = 0;
            }
            continue;
        }
        if (mv->state == FY_MV_READY && !keep_old) {
            mv->state = FY_MV_UNLOADING;
            mv->retire_next = retiring;
            retiring = mv;
        } else if (mv->state == FY_MV_FAILED || mv->state == FY_MV_UNAVAILABLE) {
            mv->retire_next = dropped;
            dropped = mv;
        }
    }
    /* a failed reload of a version that the old record still serves: the old one
     * stays, the failure was logged */
    for (int k = 0; k < me->n; k++) {
        fy__mv *mv = me->v[k];
        if (!mv->mark || mv->state != FY_MV_FAILED)
            continue;
        for (int j = 0; j < me->n; j++)
            if (!me->v[j]->mark && me->v[j]->state == FY_MV_READY &&
                strcmp(me->v[j]->version, mv->version) == 0) {
                mv->retire_next = dropped;
                dropped = mv;
                break;
            }
    }
    for (fy__mv *mv = dropped; mv; mv = mv->retire_next)
        unlink_mv(me, mv);
    pthread_mutex_unlock(&r->mu);

    while (dropped) {
        fy__mv *mv = dropped;
        dropped = mv->retire_next;
        free_mv(mv);
    }
    retire(r, me, retiring, 0);
    return rc;
}

/* A model none of the paths declares any more: every version goes. */
static void drop_model(fy__repo *r, model_ent *me)
{
    fy__mv *retiring = NULL;
    pthread_mutex_lock(&r->mu);
    for (int k = 0; k < me->n; k++)
        if (me->v[k]->state == FY_MV_READY) {
            me->v[k]->state = FY_MV_UNLOADING;
            me->v[k]->retire_next = retiring;
            retiring = me->v[k];
        }
    pthread_mutex_unlock(&r->mu);
    retire(r, me, retiring, 0);
    pthread_mutex_lock(&r->mu);
    while (me->n) {
        fy__mv *mv = me->v[me->n - 1];
        me->n--;
        free_mv(mv);
    }
    remove_model(r, me);
    pthread_mutex_unlock(&r->mu);
}

/* The candidates of one name: cs.v[at..at+n) after sorting by name. */
static int cmp_cand(const void *a, const void *b)
{
    return strcmp(((const cand *)a)->name, ((const cand *)b)->name);
}

/* Scan (all paths, or for one name) and bring the models to what was found. */
static int sync_repo(fy__repo *r, const char *only, int strict, int *found, char *fail,
                     size_t fail_len, fy_diag *d)
{
    scan sc;
    int rc = do_scan(r, &sc, only, strict, d);
    if (rc != FY_OK)
        return rc;
    /* group by name (order within a name does not matter to apply_model) */
    if (sc.cs.n)
        qsort(sc.cs.v, (size_t)sc.cs.n, sizeof *sc.cs.v, cmp_cand);
    *found = 0;
    for (int i = 0; i < sc.cs.n && rc == FY_OK;) {
        int j = i;
        while (j < sc.cs.n && strcmp(sc.cs.v[j].name, sc.cs.v[i].name) == 0)
            j++;
        if (!sc.cs.v[i].name[0]) { /* cleared duplicates */
            i = j;
            continue;
        }
        pthread_mutex_lock(&r->mu);
        model_ent *me = find_model(r, sc.cs.v[i].name);
        if (!me && !(me = add_model(r, sc.cs.v[i].name)))
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory adding model '%s'", sc.cs.v[i].name);
        int skip = me && me->unloaded && !only;
        if (me && only)
            me->unloaded = 0;
        pthread_mutex_unlock(&r->mu);
        if (rc == FY_OK && !skip) {
            *found = 1;
            if (apply_model(r, me, &sc.cs.v[i], j - i, fail, fail_len) != FY_OK)
                rc =
                    fy__diag_set(d, FY_ENOMEM, "out of memory loading model '%s'", sc.cs.v[i].name);
        }
        i = j;
    }
    /* Models the scan no longer finds (a full rescan only). When a given path could
     * not be read at all, that says nothing about its models: they keep serving. */
    for (int i = 0; !only && !sc.incomplete && rc == FY_OK && i < r->n_m;) {
        model_ent *me = r->m[i];
        int seen = 0;
        for (int k = 0; k < sc.cs.n && !seen; k++)
            seen = strcmp(sc.cs.v[k].name, me->name) == 0;
        if (seen) {
            i++;
            continue;
        }
        drop_model(r, me); /* removes r->m[i] */
    }
    cands_free(&sc.cs);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Public (module) API                                                        */
/* ------------------------------------------------------------------------- */

static int check_range(fy_diag *d, const char *what, int v, int max)
{
    if (v < 0 || v > max)
        return fy__diag_set(d, FY_EINVAL, "%s: %d is out of range (0 for the default, at most %d)",
                            what, v, max);
    return FY_OK;
}

int fy__repo_create(fy__repo **out, const fy__repo_opts *opts, fy_diag *d)
{
    int rc;
    if (!opts || opts->n_paths < 0 || (opts->n_paths == 0 && !opts->allow_empty) ||
        (opts->n_paths > 0 && !opts->paths))
        return fy__diag_set(d, FY_EINVAL, "no model, package or repository folder given");
    if ((rc = check_range(d, "instances", opts->instances, FY_SERVE_MAX_INSTANCES)) ||
        (rc = check_range(d, "max_batch_size", opts->max_batch_size, FY_SERVE_MAX_BATCH)) ||
        (rc = check_range(d, "max_queue_delay_us", opts->max_queue_delay_us,
                          FY_SERVE_MAX_DELAY_US)) ||
        (rc = check_range(d, "queue_capacity", opts->queue_capacity, FY_SERVE_MAX_QUEUE)) ||
        (rc =
             check_range(d, "version_policy_latest", opts->version_policy_latest, REPO_MAX_POLICY)))
        return rc;
    for (int i = 0; i < opts->n_paths; i++)
        if (!opts->paths[i] || !opts->paths[i][0])
            return fy__diag_set(d, FY_EINVAL, "path %d is empty", i + 1);
    fy__repo *r = fy__calloc(1, sizeof *r);
    if (!r)
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    r->o = *opts;
    if (!(r->paths = fy__calloc((size_t)(opts->n_paths ? opts->n_paths : 1), sizeof *r->paths))) {
        fy__free(r);
        return fy__diag_set(d, FY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < opts->n_paths; i++)
        if (!(r->paths[i] = fy__strdup(opts->paths[i]))) {
            for (int k = 0; k < i; k++)
                fy__free(r->paths[k]);
            fy__free(r->paths);
            fy__free(r);
            return fy__diag_set(d, FY_ENOMEM, "out of memory");
        }
    r->o.paths = (const char *const *)r->paths;
    int mu = pthread_mutex_init(&r->mu, NULL) == 0;
    int admin = pthread_mutex_init(&r->admin, NULL) == 0;
    int cv = pthread_cond_init(&r->cv, NULL) == 0;
    if (!mu || !admin || !cv) {
        if (mu)
            pthread_mutex_destroy(&r->mu);
        if (admin)
            pthread_mutex_destroy(&r->admin);
        if (cv)
            pthread_cond_destroy(&r->cv);
        for (int k = 0; k < opts->n_paths; k++)
            fy__free(r->paths[k]);
        fy__free(r->paths);
        fy__free(r);
        return fy__diag_set(d, FY_ENOMEM, "cannot create a mutex");
    }
    int found;
    pthread_mutex_lock(&r->admin);
    rc = sync_repo(r, NULL, 1, &found, NULL, 0, d);
    pthread_mutex_unlock(&r->admin);
    if (rc != FY_OK) {
        fy__repo_free(r);
        return rc;
    }
    *out = r;
    return FY_OK;
}

void fy__repo_free(fy__repo *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->admin);
    while (r->n_m)
        drop_model(r, r->m[r->n_m - 1]);
    pthread_mutex_unlock(&r->admin);
    fy__free(r->m);
    for (int i = 0; i < r->o.n_paths; i++)
        fy__free(r->paths[i]);
    fy__free(r->paths);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->admin);
    pthread_mutex_destroy(&r->mu);
    fy__free(r);
}

int fy__repo_reload(fy__repo *r, fy_diag *d)
{
    int found;
    pthread_mutex_lock(&r->admin);
    int rc = sync_repo(r, NULL, 0, &found, NULL, 0, d);
    pthread_mutex_unlock(&r->admin);
    return rc;
}

/* Why a model has no ready version, for messages (under r->mu). */
static void not_ready_why(const model_ent *me, char *out, size_t n)
{
    if (me->why[0]) {
        snprintf(out, n, "%s", me->why);
        return;
    }
    if (me->n == 0) {
        snprintf(out, n, "%s", me->unloaded ? "unloaded" : "no version found");
        return;
    }
    describe_mv(me->v[me->n - 1], out, n);
}

int fy__repo_load(fy__repo *r, const char *name, fy_diag *d)
{
    if (!valid_name(name))
        return fy__diag_set(d, FY_EINVAL,
                            "invalid model name (names match [A-Za-z0-9][A-Za-z0-9._-]{0,63})");
    int found = 0;
    char fail[REASON_LEN] = "";
    pthread_mutex_lock(&r->admin);
    int rc = sync_repo(r, name, 0, &found, fail, sizeof fail, d);
    pthread_mutex_unlock(&r->admin);
    if (rc != FY_OK)
        return rc;
    if (!found)
        return fy__diag_set(d, FY_ENOTFOUND, "model '%s' is not in the repository", name);
    /* a failure is reported even when an older version keeps serving */
    if (fail[0])
        return fy__diag_set(d, FY_EINVAL, "model '%s' failed to load: %s", name, fail);
    return FY_OK;
}

int fy__repo_unload(fy__repo *r, const char *name, fy_diag *d)
{
    if (!valid_name(name))
        return fy__diag_set(d, FY_EINVAL,
                            "invalid model name (names match [A-Za-z0-9][A-Za-z0-9._-]{0,63})");
    pthread_mutex_lock(&r->admin);
    pthread_mutex_lock(&r->mu);
    model_ent *me = find_model(r, name);
    fy__mv *retiring = NULL;
    if (me) {
        me->unloaded = 1;
        for (int k = 0; k < me->n; k++) {
            fy__mv *mv = me->v[k];
            if (mv->state == FY_MV_READY) {
                mv->state = FY_MV_UNLOADING;
                mv->retire_next = retiring;
                retiring = mv;
            } else if (mv->state == FY_MV_FAILED) {
                mv->state = FY_MV_UNAVAILABLE;
                snprintf(mv->reason, sizeof mv->reason, "unloaded");
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (me)
        retire(r, me, retiring, 1);
    pthread_mutex_unlock(&r->admin);
    if (!me)
        return fy__diag_set(d, FY_ENOTFOUND, "unknown model '%s'", name);
    return FY_OK;
}

int fy__repo_empty(fy__repo *r)
{
    pthread_mutex_lock(&r->mu);
    int empty = r->o.n_paths == 0 && r->n_m == 0;
    pthread_mutex_unlock(&r->mu);
    return empty;
}

int fy__repo_ready(fy__repo *r, char *why, size_t why_len)
{
    int ok = 1, any = 0;
    char buf[REASON_LEN] = "";
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_m; i++) {
        const model_ent *me = r->m[i];
        int ready = 0;
        for (int k = 0; k < me->n; k++)
            ready |= me->v[k]->state == FY_MV_READY;
        any |= ready;
        /* a model an admin unloaded is not expected to be ready */
        if (!ready && !me->unloaded && ok) {
            ok = 0;
            char tmp[REASON_LEN];
            not_ready_why(me, tmp, sizeof tmp);
            snprintf(buf, sizeof buf, "model '%s' is not ready: %s", me->name, tmp);
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (ok && !any) {
        ok = 0;
        snprintf(buf, sizeof buf, "no model is loaded");
    }
    if (why && why_len)
        snprintf(why, why_len, "%s", ok ? "" : buf);
    return ok;
}

fy__mv *fy__repo_acquire(fy__repo *r, const char *name, const char *version, int *http_status,
                         fy_diag *d)
{
    if (!name || !valid_name(name)) {
        *http_status = 404;
        fy__diag_set(d, FY_ENOTFOUND,
                     "unknown model: invalid name (names match [A-Za-z0-9][A-Za-z0-9._-]{0,63})");
        return NULL;
    }
    int any_version = !version || !version[0];
    if (!any_version && !valid_version(version)) {
        *http_status = 404;
        fy__diag_set(d, FY_ENOTFOUND, "model '%s' has no such version (invalid version)", name);
        return NULL;
    }
    fy__mv *best = NULL;
    int known = 0;
    char why[REASON_LEN] = "";
    pthread_mutex_lock(&r->mu);
    model_ent *me = find_model(r, name);
    for (int k = 0; me && k < me->n; k++) {
        fy__mv *mv = me->v[k];
        if (!any_version && strcmp(mv->version, version) != 0)
            continue;
        known = 1;
        /* sorted by version: the last ready one is the newest */
        if (mv->state == FY_MV_READY)
            best = mv;
    }
    if (best) {
        best->refs++;
    } else if (me && any_version) {
        not_ready_why(me, why, sizeof why);
    } else if (me && known) {
        for (int k = me->n - 1; k >= 0; k--)
            if (strcmp(me->v[k]->version, version) == 0) {
                describe_mv(me->v[k], why, sizeof why);
                break;
            }
    }
    pthread_mutex_unlock(&r->mu);
    if (best)
        return best;
    if (!me) {
        *http_status = 404;
        fy__diag_set(d, FY_ENOTFOUND, "unknown model '%s'", name);
    } else if (!known && !any_version) {
        *http_status = 404;
        fy__diag_set(d, FY_ENOTFOUND, "model '%s' has no version '%s'", name, version);
    } else {
        *http_status = 503;
        fy__diag_set(d, FY_EINVAL, "model '%s' is not ready: %s", name, why);
    }
    return NULL;
}

void fy__mv_release(fy__mv *mv)
{
    if (!mv)
        return;
    fy__repo *r = mv->r;
    pthread_mutex_lock(&r->mu);
    if (--mv->refs == 0 && mv->state == FY_MV_UNLOADING)
        pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

void fy__repo_each(fy__repo *r, void (*fn)(const fy__mv_info *info, void *ctx), void *ctx)
{
    /* Several records of one version exist only during a swap; the index shows the
     * one that matters most (ready, then loading, unloading, failed, unavailable). */
    static const int rank[] = {[FY_MV_READY] = 5,
                               [FY_MV_LOADING] = 4,
                               [FY_MV_UNLOADING] = 3,
                               [FY_MV_FAILED] = 2,
                               [FY_MV_UNAVAILABLE] = 1};
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n_m; i++) {
        const model_ent *me = r->m[i];
        if (me->n == 0) {
            fy__mv_info info = {me->name, "", FY_MV_UNAVAILABLE,
                                me->why[0]     ? me->why
                                : me->unloaded ? "unloaded"
                                               : ""};
            fn(&info, ctx);
            continue;
        }
        for (int k = 0; k < me->n;) {
            int j = k, best = k;
            while (j < me->n && strcmp(me->v[j]->version, me->v[k]->version) == 0) {
                if (rank[me->v[j]->state] > rank[me->v[best]->state])
                    best = j;
                j++;
            }
            const fy__mv *mv = me->v[best];
            int show_reason = mv->state == FY_MV_FAILED || mv->state == FY_MV_UNAVAILABLE;
            fy__mv_info info = {mv->name, mv->version, mv->state, show_reason ? mv->reason : ""};
            fn(&info, ctx);
            k = j;
        }
    }
    pthread_mutex_unlock(&r->mu);
}

const char *fy__mv_name(const fy__mv *mv)
{
    return mv->name;
}
const char *fy__mv_version(const fy__mv *mv)
{
    return mv->version;
}
const fy_model *fy__mv_model(const fy__mv *mv)
{
    return mv->model;
}
const fy_manifest *fy__mv_manifest(const fy__mv *mv)
{
    return mv->pkg ? fy_package_manifest(mv->pkg) : NULL;
}
int fy__mv_max_batch(const fy__mv *mv)
{
    return mv->batcher ? fy__batcher_max_batch(mv->batcher) : 1;
}

int fy__mv_labels(const fy__mv *mv, const char **data, size_t *len)
{
    const fy_manifest *man = fy__mv_manifest(mv);
    const void *p;
    if (!man || !man->labels_file || fy_package_file(mv->pkg, man->labels_file, &p, len) != FY_OK)
        return FY_ENOTFOUND;
    *data = p;
    return FY_OK;
}

int fy__mv_infer(fy__mv *mv, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                 int64_t deadline_ns, int *http_status, fy_diag *d)
{
    if (!mv->batcher) {
        *http_status = 503;
        return fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' is not loaded", mv->name,
                            mv->version);
    }
    return fy__batcher_infer(mv->batcher, n_in, in, n_out, out, deadline_ns, http_status, d);
}

int fy__mv_submit(fy__mv *mv, int n_in, const fy_tensor *in, int n_out, fy_tensor *out,
                  int64_t deadline_ns, int *http_status, fy_diag *d, fy__mv_cb cb, void *ctx)
{
    if (!mv->batcher) {
        *http_status = 503;
        return fy__diag_set(d, FY_EINVAL, "model '%s' version '%s' is not loaded", mv->name,
                            mv->version);
    }
    return fy__batcher_submit(mv->batcher, n_in, in, n_out, out, deadline_ns, http_status, d, cb,
                              ctx);
}
