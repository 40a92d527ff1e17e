/* SPDX-License-Identifier: MIT */
/* Packages as OCI image layouts in a tar archive: packing (reproducible, atomic,
 * optionally signed) and opening (every digest, size and reference verified before
 * anything is used, nothing unverified accepted). Layout: docs/package.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/llm.h"
#include "package/package_int.h"

#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define ANN_REF "org.opencontainers.image.ref.name"
#define ANN_TITLE "org.opencontainers.image.title"
#define LABEL_NAME "dev.ferry.name"
#define LABEL_VERSION "dev.ferry.version"
#define LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define BLOB_DIR "blobs/sha256/"
#define FILE_DIR "ferry/" /* where a layer puts its file in the image's root file system */
#define BIN_PATH "usr/local/bin/ferry"
#define BIN_ENTRY "/" BIN_PATH /* the runnable image's entrypoint */
#define JSON_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* A package holds ferry.yaml, SPEC.md, the model, the labels and the runnable
 * layer: the ceiling leaves room for more model files later. */
#define PKG_MAX_LAYERS 16
#define PKG_LABELS_MAX_BYTES ((size_t)16 << 20)
#define PKG_BINARY_MAX_BYTES ((size_t)1 << 30)
/* Entries one layer's tar may hold: one is valid; a few more let the message say so. */
#define LAYER_MAX_ENTRIES (FY_PACK_MAX_RUNTIME_FILES + 2)

#if defined(__x86_64__)
#define OCI_ARCH "amd64"
#elif defined(__aarch64__)
#define OCI_ARCH "arm64"
#elif defined(__riscv) && __riscv_xlen == 64
#define OCI_ARCH "riscv64"
#else
#error "add this architecture's OCI name (GOARCH) here"
#endif

typedef struct pkg_file {
    char *name; /* path relative to the manifest's folder */
    const uint8_t *data;
    size_t len;
} pkg_file;

struct fy_package {
    uint8_t *buf; /* the whole archive; entries and files point into it */
    size_t len;
    fy__tar_entry *entries;
    int n_entries;
    json_t *index;       /* parsed index.json */
    json_t *annotations; /* of its manifest descriptor (borrowed from index); may be NULL */
    char digest[FY_DIGEST_LEN];
    fy_manifest *manifest;
    pkg_file files[PKG_MAX_LAYERS];
    int n_files;
    const uint8_t *binary; /* the runnable layer's ferry, or NULL */
    size_t binary_len;
    int owns_files; /* a folder opened unpacked: each file's data is its own buffer */
    int peek;       /* opened by peek_manifest: blobs not hashed, layers not re-written */
};

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */
/* ------------------------------------------------------------------------- */

/* A hostile string made safe to print: printable ASCII only, clipped. */
static const char *clip(const char *s, char *buf, size_t cap)
{
    if (!s)
        return "(missing)";
    size_t k = 0;
    for (; s[k] && k + 4 < cap; k++)
        buf[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
    if (s[k]) { /* clipped: room for "..." was kept */
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = 0;
    return buf;
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == 0;
}

static int digest_ok(const char *s)
{
    return s && strncmp(s, "sha256:", 7) == 0 && is_hex64(s + 7);
}

/* Package file names: '/'-separated relative paths of printable ASCII, with no
 * empty, '.' or '..' component and no backslash. NULL if fine, else why not. */
static const char *file_name_problem(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "is empty";
    if (n > 200)
        return "is longer than 200 bytes";
    if (s[0] == '/')
        return "is an absolute path (files must be inside the manifest's folder)";
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] >= 0x7f)
            return "holds a byte that is not printable ASCII";
        if (s[i] == '\\')
            return "holds a backslash (use '/')";
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        size_t k = i - start;
        if (k == 0)
            return "has an empty path component";
        if (k == 1 && s[start] == '.')
            return "has a '.' path component";
        if (k == 2 && s[start] == '.' && s[start + 1] == '.')
            return "has a '..' component (files must be inside the manifest's folder)";
        start = i + 1;
    }
    return NULL;
}

static void progress(const fy_pack_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const fy_pack_opts *o, const char *fmt, ...)
{
    if (!o->progress)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(line, o->progress_ctx);
}

static int parse_json(const uint8_t *data, size_t len, const char *what, json_t **out, fy_diag *d)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return fy__diag_set(d, FY_ENOMEM, "%s: out of memory parsing JSON", what);
        return fy__diag_set(d, FY_EPARSE, "%s: invalid JSON at line %d, column %d: %s", what,
                            err.line, err.column, err.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return fy__diag_set(d, FY_EPARSE, "%s: not a JSON object", what);
    }
    *out = j;
    return FY_OK;
}

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* ------------------------------------------------------------------------- */
/* Packing                                                                    */
/* ------------------------------------------------------------------------- */

/* Read DIR/REL, confined to DIR (RELIABILITY.md 4): the name is checked as text,
 * then opened component by component with O_NOFOLLOW (no symlink anywhere on the
 * way), must be a regular file with one link, and its resolved path must lie in
 * DIR's resolved path. field names the manifest field for messages. */
static int read_confined(const char *mpath, const char *dir, const char *rel, const char *field,
                         size_t max, unsigned char **out, size_t *len, fy_diag *d)
{
    int rc = FY_EIO, cur = -1, fd = -1;
    char *comp = NULL, *full = NULL, *rdir = NULL, *rfile = NULL;
    const char *why = file_name_problem(rel);
    if (why)
        return fy__diag_set(d, FY_EINVAL, "%s: %s: '%s' %s", mpath, field, rel, why);
    if (!(comp = fy__strdup(rel)) || !(full = fy__malloc(strlen(dir) + strlen(rel) + 2))) {
        rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", mpath);
        goto done;
    }
    snprintf(full, strlen(dir) + strlen(rel) + 2, "%s/%s", dir, rel);
    if ((cur = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: cannot open folder %s: %s", mpath, dir, strerror(errno));
        goto done;
    }
    char *part = comp;
    for (;;) {
        char *slash = strchr(part, '/');
        if (slash)
            *slash = 0;
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
        int nfd = openat(cur, part, slash ? flags | O_DIRECTORY : flags);
        if (nfd < 0) {
            int e = errno;
            struct stat lst;
            /* O_DIRECTORY reports a symlinked folder as ENOTDIR: ask lstat which */
            if (e == ENOTDIR && fstatat(cur, part, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(lst.st_mode))
                e = ELOOP;
            if (e == ELOOP)
                rc = fy__diag_set(d, FY_EINVAL,
                                  "%s: %s: '%s': '%s' is a symbolic link (links "
                                  "are refused)",
                                  mpath, field, rel, part);
            else if (e == ENOTDIR)
                rc = fy__diag_set(d, FY_EINVAL, "%s: %s: '%s': '%s' is not a folder", mpath, field,
                                  rel, part);
            else
                rc = fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO,
                                  "%s: %s: cannot open '%s': %s", mpath, field, full, strerror(e));
            goto done;
        }
        close(cur);
        cur = nfd;
        if (!slash)
            break;
        part = slash + 1;
    }
    fd = cur;
    cur = -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: cannot stat: %s", full, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: %s: '%s' is not a regular file", mpath, field, rel);
        goto done;
    }
    if (st.st_nlink != 1) {
        rc = fy__diag_set(d, FY_EINVAL,
                          "%s: %s: '%s' has %lu hard links (files with more than one are "
                          "refused)",
                          mpath, field, rel, (unsigned long)st.st_nlink);
        goto done;
    }
    /* belt and braces: the resolved path must be inside the resolved folder */
    rdir = realpath(dir, NULL);
    rfile = realpath(full, NULL);
    if (!rdir || !rfile) {
        rc = fy__diag_set(d, errno == ENOMEM ? FY_ENOMEM : FY_EIO, "%s: cannot resolve: %s", full,
                          strerror(errno));
        goto done;
    }
    size_t rl = strlen(rdir);
    if (strcmp(rdir, "/") != 0 && (strncmp(rfile, rdir, rl) != 0 || rfile[rl] != '/')) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: %s: '%s' resolves outside the manifest's folder",
                          mpath, field, rel);
        goto done;
    }
    rc = fy__read_fd(fd, full, max, 0, out, len, NULL, d);
done:
    if (cur >= 0)
        close(cur);
    if (fd >= 0)
        close(fd);
    free(rdir); /* from realpath: libc's malloc */
    free(rfile);
    fy__free(comp);
    fy__free(full);
    return rc;
}

typedef struct pack_blob {
    char name[sizeof BLOB_DIR + 64];
    uint8_t *data; /* owned */
    size_t len;
} pack_blob;

/* Turn data (taking ownership, even on failure) into a blob and a descriptor. */
static int add_blob(pack_blob *blobs, int *n, uint8_t *data, size_t len, const char *media_type,
                    json_t *annotations, json_t **desc, char digest[FY_DIGEST_LEN], fy_diag *d)
{
    fy__sha256_digest(data, len, digest);
    pack_blob *b = &blobs[(*n)++];
    snprintf(b->name, sizeof b->name, "%s%s", BLOB_DIR, digest + 7);
    b->data = data;
    b->len = len;
    *desc = annotations ? json_pack("{s:s, s:s, s:I, s:o}", "mediaType", media_type, "digest",
                                    digest, "size", (json_int_t)len, "annotations", annotations)
                        : json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest,
                                    "size", (json_int_t)len);
    if (!*desc)
        return fy__diag_set(d, FY_ENOMEM, "out of memory building the image manifest");
    return FY_OK;
}

static int dump(json_t *j, uint8_t **out, size_t *len, fy_diag *d)
{
    char *s = json_dumps(j, JSON_FLAGS);
    if (!s)
        return fy__diag_set(d, FY_ENOMEM, "out of memory writing JSON");
    *out = (uint8_t *)s;
    *len = strlen(s);
    return FY_OK;
}

static int cmp_blob(const void *a, const void *b)
{
    return strcmp(((const pack_blob *)a)->name, ((const pack_blob *)b)->name);
}

typedef struct src_file {
    const char *name;
    const uint8_t *data;
    size_t len;
} src_file;

static int cmp_src(const void *a, const void *b)
{
    return strcmp(((const src_file *)a)->name, ((const src_file *)b)->name);
}

/* Paths a runtime file may take in the image: the system library folders. */
static int runtime_path_ok(const char *p)
{
    static const char *const roots[] = {"lib/", "lib64/", "usr/lib/", "usr/lib64/"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (strncmp(p, roots[i], strlen(roots[i])) == 0 && p[strlen(roots[i])] != 0)
            return 1;
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const fy__tar_entry *)a)->name, ((const fy__tar_entry *)b)->name);
}

/* The runnable layer: the binary at usr/local/bin/ferry and the shared libraries
 * it needs at their own paths, sorted, all mode 0755. */
static int runtime_layer(const fy_pack_opts *opts, const uint8_t *binary, size_t binary_len,
                         pack_blob *blobs, int *n_blobs, json_t *layers, json_t *diff_ids,
                         char digest[FY_DIGEST_LEN], fy_diag *d)
{
    int n = opts->n_runtime_files, rc = FY_OK, ne = 0;
    if (n < 0 || n > FY_PACK_MAX_RUNTIME_FILES)
        return fy__diag_set(d, FY_ELIMIT, "%d runtime files, at most %d", n,
                            FY_PACK_MAX_RUNTIME_FILES);
    fy__tar_entry e[FY_PACK_MAX_RUNTIME_FILES + 1];
    unsigned char *data[FY_PACK_MAX_RUNTIME_FILES];
    uint8_t *tar = NULL;
    size_t tar_len = 0;
    memset(data, 0, sizeof data);
    e[ne++] = (fy__tar_entry){BIN_PATH, binary, binary_len, 0755};
    for (int i = 0; i < n; i++) {
        const char *src = opts->runtime_files[i];
        if (!src || src[0] != '/' || !runtime_path_ok(src + 1) || strstr(src, "/..") ||
            strlen(src) > 200) {
            rc = fy__diag_set(d, FY_EINVAL,
                              "runtime file '%s': must be an absolute path under /lib, /lib64, "
                              "/usr/lib or /usr/lib64",
                              src ? src : "(null)");
            goto done;
        }
        int dup = 0;
        for (int k = 1; k < ne; k++)
            dup |= strcmp(e[k].name, src + 1) == 0;
        if (dup)
            continue;
        size_t len = 0;
        progress(opts, "adding runtime library %s", src);
        if ((rc = fy__read_file(src, PKG_BINARY_MAX_BYTES, &data[i], &len, d)) != FY_OK)
            goto done;
        e[ne++] = (fy__tar_entry){src + 1, data[i], len, 0755};
    }
    qsort(e, (size_t)ne, sizeof e[0], cmp_entry);
    if ((rc = fy__tar_write(e, ne, &tar, &tar_len, d)) != FY_OK)
        goto done;
    json_t *desc = NULL;
    if ((rc = add_blob(blobs, n_blobs, tar, tar_len, MT_LAYER, NULL, &desc, digest, d)) != FY_OK)
        goto done;
    if (json_array_append_new(layers, desc) != 0 ||
        json_array_append_new(diff_ids, json_string(digest)) != 0)
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
done:
    for (int i = 0; i < n; i++)
        fy__free(data[i]);
    return rc;
}

static int open_buffer(fy_package **out, uint8_t *buf, size_t len, int peek, const char *path,
                       fy_diag *d);

int fy_package_pack(const char *manifest_path, const char *out_path, const fy_pack_opts *opts,
                    fy_diag *d)
{
    static const fy_pack_opts none = {0};
    if (!opts)
        opts = &none;
    int rc = FY_ENOMEM, n_blobs = 0, n_src = 0;
    unsigned char *ytext = NULL, *model_bytes = NULL, *labels = NULL, *binary = NULL;
    size_t ylen = 0, model_len = 0, labels_len = 0, binary_len = 0;
    char *dir = NULL, *spec = NULL, *layer_name = NULL;
    uint8_t *archive = NULL, *json_bytes = NULL;
    size_t archive_len = 0, json_len = 0;
    fy_manifest *man = NULL;
    fy_model *model = NULL;
    json_t *layers = NULL, *diff_ids = NULL, *config = NULL, *manifest = NULL, *index = NULL;
    json_t *ann = NULL;
    pack_blob blobs[PKG_MAX_LAYERS + 2];
    src_file src[PKG_MAX_LAYERS];
    fy__tar_entry entries[PKG_MAX_LAYERS + 4];
    char digest[FY_DIGEST_LEN], mdigest[FY_DIGEST_LEN];

    /* the manifest: read once, so the bytes packed are the bytes validated */
    progress(opts, "reading %s", manifest_path);
    if ((rc = fy__read_file(manifest_path, FY_MANIFEST_MAX_BYTES, &ytext, &ylen, d)) != FY_OK)
        goto done;
    if ((rc = fy_manifest_parse(&man, (const char *)ytext, ylen, manifest_path, d)) != FY_OK)
        goto done;
    if (!man->model_file) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: model.file: missing", manifest_path);
        goto done;
    }
    const char *slash = strrchr(manifest_path, '/');
    dir = slash ? fy__strndup(manifest_path,
                              slash == manifest_path ? 1 : (size_t)(slash - manifest_path))
                : fy__strdup(".");
    if (!dir) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }

    /* the files it names, confined to its folder */
    if ((rc = read_confined(manifest_path, dir, man->model_file, "model.file", FY_MODEL_MAX_BYTES,
                            &model_bytes, &model_len, d)) != FY_OK)
        goto done;
    if (man->labels_file &&
        (rc = read_confined(manifest_path, dir, man->labels_file, "postprocessing.labels",
                            PKG_LABELS_MAX_BYTES, &labels, &labels_len, d)) != FY_OK)
        goto done;
    const char *reserved[] = {"ferry.yaml", "SPEC.md"};
    for (int i = 0; i < 2; i++) {
        if (strcmp(man->model_file, reserved[i]) == 0 ||
            (man->labels_file && strcmp(man->labels_file, reserved[i]) == 0)) {
            rc = fy__diag_set(d, FY_EINVAL, "%s: '%s' is reserved for the package's own file",
                              manifest_path, reserved[i]);
            goto done;
        }
    }
    if (man->labels_file && strcmp(man->labels_file, man->model_file) == 0) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: postprocessing.labels names the model file",
                          manifest_path);
        goto done;
    }

    /* the model: loaded from the very bytes packed; no external data (it would not
     * travel with the package) */
    progress(opts, "loading %s", man->model_file);
    if (!strcmp(man->model_format, "gguf")) {
        /* a language model: the GGUF reader checks every header field, count, shape
         * and offset against the bytes packed */
        fy_gguf *g = NULL;
        fy_gguf_str arch;
        if ((rc = fy_gguf_open_memory(&g, model_bytes, model_len, d)) == FY_OK &&
            (rc = fy_gguf_get_str(g, "general.architecture", &arch, d)) == FY_ENOTFOUND)
            rc = fy__diag_set(d, FY_EPARSE, "gguf: missing general.architecture");
        fy_gguf_free(g);
        if (rc != FY_OK) {
            char msg[sizeof d->msg];
            snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
            rc = fy__diag_set(d, rc, "%s/%s: %s", dir, man->model_file, msg);
            goto done;
        }
    } else if ((rc = fy_model_load_buffer(&model, model_bytes, model_len, NULL, NULL, d)) !=
               FY_OK) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
        rc = fy__diag_set(d, rc, "%s/%s: %s", dir, man->model_file, msg);
        goto done;
    }
    if (model && (rc = fy_manifest_check_model(man, model, d)) != FY_OK)
        goto done;

    /* SPEC.md, generated from the manifest, the model and the other files */
    fy__spec_file sf[3];
    int n_sf = 0;
    sf[n_sf].name = "ferry.yaml";
    sf[n_sf].size = ylen;
    fy__sha256_digest(ytext, ylen, sf[n_sf++].digest);
    sf[n_sf].name = man->model_file;
    sf[n_sf].size = model_len;
    fy__sha256_digest(model_bytes, model_len, sf[n_sf++].digest);
    if (labels) {
        sf[n_sf].name = man->labels_file;
        sf[n_sf].size = labels_len;
        fy__sha256_digest(labels, labels_len, sf[n_sf++].digest);
    }
    progress(opts, "writing SPEC.md");
    if ((rc = fy__spec_render(man, model, sf, n_sf, NULL, 0, &spec, d)) != FY_OK)
        goto done;

    /* one layer per file, sorted by name */
    src[n_src++] = (src_file){"ferry.yaml", ytext, ylen};
    src[n_src++] = (src_file){man->model_file, model_bytes, model_len};
    if (labels)
        src[n_src++] = (src_file){man->labels_file, labels, labels_len};
    src[n_src++] = (src_file){"SPEC.md", (const uint8_t *)spec, strlen(spec)};
    qsort(src, (size_t)n_src, sizeof *src, cmp_src);
    rc = FY_ENOMEM;
    if (!(layers = json_array()) || !(diff_ids = json_array()))
        goto oom;
    for (int i = 0; i < n_src; i++) {
        progress(opts, "hashing %s", src[i].name);
        size_t nl = strlen(FILE_DIR) + strlen(src[i].name) + 1;
        fy__free(layer_name);
        if (!(layer_name = fy__malloc(nl)))
            goto oom;
        snprintf(layer_name, nl, "%s%s", FILE_DIR, src[i].name);
        fy__tar_entry e = {layer_name, src[i].data, src[i].len, 0644};
        uint8_t *tar = NULL;
        size_t tar_len = 0;
        if ((rc = fy__tar_write(&e, 1, &tar, &tar_len, d)) != FY_OK)
            goto done;
        json_t *a = json_pack("{s:s}", ANN_TITLE, src[i].name), *desc = NULL;
        if (!a) {
            fy__free(tar);
            goto oom;
        }
        if ((rc = add_blob(blobs, &n_blobs, tar, tar_len, MT_LAYER, a, &desc, digest, d)) != FY_OK)
            goto done;
        if (json_array_append_new(layers, desc) != 0 ||
            json_array_append_new(diff_ids, json_string(digest)) != 0)
            goto oom;
    }
    if (opts->runnable) {
        const char *bin = opts->ferry_binary ? opts->ferry_binary : "/proc/self/exe";
        progress(opts, "adding the ferry binary %s", bin);
        if ((rc = fy__read_file(bin, PKG_BINARY_MAX_BYTES, &binary, &binary_len, d)) != FY_OK)
            goto done;
        if ((rc = runtime_layer(opts, binary, binary_len, blobs, &n_blobs, layers, diff_ids, digest,
                                d)) != FY_OK)
            goto done;
    }

    /* the image config: what OCI runtimes need to run it; no timestamps */
    rc = FY_ENOMEM;
    /* Only a runnable package says how to run it: without the binary layer an
     * entrypoint would name a file that is not there. */
    if (opts->runnable)
        config =
            json_pack("{s:s, s:s, s:{s:[s,s,s,s,s,s,s], s:{s:{}}, s:{s:s, s:s}}, s:{s:s, s:O}}",
                      "architecture", OCI_ARCH, "os", "linux", "config", "Entrypoint", BIN_ENTRY,
                      "serve", "/ferry", "--host", "0.0.0.0", "--port", "8080", "ExposedPorts",
                      "8080/tcp", "Labels", LABEL_NAME, man->name, LABEL_VERSION, man->version,
                      "rootfs", "type", "layers", "diff_ids", diff_ids);
    else
        config = json_pack("{s:s, s:s, s:{s:{s:s, s:s}}, s:{s:s, s:O}}", "architecture", OCI_ARCH,
                           "os", "linux", "config", "Labels", LABEL_NAME, man->name, LABEL_VERSION,
                           man->version, "rootfs", "type", "layers", "diff_ids", diff_ids);
    if (!config)
        goto oom;
    json_t *cdesc = NULL, *mdesc = NULL;
    if ((rc = dump(config, &json_bytes, &json_len, d)) != FY_OK)
        goto done;
    rc = add_blob(blobs, &n_blobs, json_bytes, json_len, MT_CONFIG, NULL, &cdesc, digest, d);
    json_bytes = NULL;
    if (rc != FY_OK)
        goto done;

    /* the image manifest, whose digest names the package */
    manifest = json_pack("{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType", MT_MANIFEST,
                         "config", cdesc, "layers", layers);
    if (!manifest)
        goto oom;
    if ((rc = dump(manifest, &json_bytes, &json_len, d)) != FY_OK)
        goto done;
    rc = add_blob(blobs, &n_blobs, json_bytes, json_len, MT_MANIFEST, NULL, &mdesc, mdigest, d);
    json_bytes = NULL;
    if (rc != FY_OK)
        goto done;
    json_decref(mdesc); /* index.json's descriptor carries annotations: built below */
    mdesc = NULL;

    if (!(ann = json_pack("{s:s, s:s}", ANN_REF, man->version, ANN_TITLE, man->name)))
        goto oom;
    if (opts->secret_key) {
        char key_id[17], sig[128];
        progress(opts, "signing with %s", opts->secret_key);
        if ((rc = fy__sign_digest(opts->secret_key, mdigest, key_id, sig, d)) != FY_OK)
            goto done;
        rc = FY_ENOMEM;
        if (json_object_set_new(ann, FY_ANN_SIGNATURE, json_string(sig)) != 0 ||
            json_object_set_new(ann, FY_ANN_SIGNATURE_KEY, json_string(key_id)) != 0)
            goto oom;
    }
    index = json_pack("{s:i, s:s, s:[{s:s, s:s, s:I, s:O}]}", "schemaVersion", 2, "mediaType",
                      MT_INDEX, "manifests", "mediaType", MT_MANIFEST, "digest", mdigest, "size",
                      (json_int_t)json_len, "annotations", ann);
    if (!index)
        goto oom;
    if ((rc = dump(index, &json_bytes, &json_len, d)) != FY_OK)
        goto done;

    /* the archive: entries sorted by name (blobs/..., index.json, oci-layout) */
    qsort(blobs, (size_t)n_blobs, sizeof *blobs, cmp_blob);
    int n_ent = 0;
    for (int i = 0; i < n_blobs; i++) {
        if (i > 0 && strcmp(blobs[i].name, blobs[i - 1].name) == 0)
            continue; /* identical content is stored once */
        entries[n_ent++] = (fy__tar_entry){blobs[i].name, blobs[i].data, blobs[i].len, 0644};
    }
    entries[n_ent++] = (fy__tar_entry){"index.json", json_bytes, json_len, 0644};
    entries[n_ent++] =
        (fy__tar_entry){"oci-layout", (const uint8_t *)LAYOUT_TEXT, strlen(LAYOUT_TEXT), 0644};
    if ((rc = fy__tar_write(entries, n_ent, &archive, &archive_len, d)) != FY_OK)
        goto done;
    /* Read back what was built, with every check a reader makes: a package that
     * would not open is never written (this also catches a JSON library that
     * misbehaves when its allocations fail). */
    progress(opts, "verifying %s", mdigest);
    uint8_t *copy = fy__malloc(archive_len);
    if (!copy)
        goto oom;
    memcpy(copy, archive, archive_len);
    fy_package *check = NULL;
    if ((rc = open_buffer(&check, copy, archive_len, 0, out_path, d)) != FY_OK) {
        if (rc != FY_ENOMEM && d) {
            char why[sizeof d->msg];
            memcpy(why, d->msg, sizeof why);
            fy__diag_set(d, rc, "the package built does not read back (nothing written): %s", why);
        }
        goto done;
    }
    fy_package_free(check);
    progress(opts, "writing %s (%s)", out_path, mdigest);
    rc = fy__write_atomic(out_path, archive, archive_len, d);
    goto done;
oom:
    rc = fy__diag_set(d, FY_ENOMEM, "out of memory packing %s", manifest_path);
done:
    for (int i = 0; i < n_blobs; i++)
        free(blobs[i].data); /* fy__ and jansson buffers alike come from libc's malloc */
    json_decref(layers);
    json_decref(diff_ids);
    json_decref(config);
    json_decref(manifest);
    json_decref(index);
    json_decref(ann);
    free(json_bytes);
    fy__free(archive);
    fy__free(layer_name);
    free(spec);
    fy__free(ytext);
    fy__free(model_bytes);
    fy__free(labels);
    fy__free(binary);
    fy__free(dir);
    fy_model_free(model);
    fy_manifest_free(man);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Opening                                                                    */
/* ------------------------------------------------------------------------- */

static int find_entry(const fy_package *p, const char *name)
{
    for (int i = 0; i < p->n_entries; i++)
        if (strcmp(p->entries[i].name, name) == 0)
            return i;
    return -1;
}

/* Check a descriptor against the blob it names; marks the blob referenced. */
static int check_desc(const fy_package *p, char *refd, json_t *desc, const char *where,
                      const char *media_type, const fy__tar_entry **blob, fy_diag *d)
{
    char c1[96];
    if (!json_is_object(desc))
        return fy__diag_set(d, FY_EPARSE, "%s: not a descriptor object", where);
    const char *mt = jstr(desc, "mediaType"), *dg = jstr(desc, "digest");
    if (!mt || strcmp(mt, media_type) != 0)
        return fy__diag_set(d, FY_EPARSE, "%s: mediaType is '%s', expected '%s'", where,
                            clip(mt, c1, sizeof c1), media_type);
    if (!digest_ok(dg))
        return fy__diag_set(d, FY_EPARSE,
                            "%s: digest '%s' is not of the form sha256:<64 lowercase hex>", where,
                            clip(dg, c1, sizeof c1));
    json_t *size = json_object_get(desc, "size");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return fy__diag_set(d, FY_EPARSE, "%s: size is missing or not a non-negative integer",
                            where);
    char name[sizeof BLOB_DIR + 64];
    snprintf(name, sizeof name, "%s%s", BLOB_DIR, dg + 7);
    int k = find_entry(p, name);
    if (k < 0)
        return fy__diag_set(d, FY_EPARSE, "%s: %s is not in the package (no entry %s)", where, dg,
                            name);
    if ((uint64_t)json_integer_value(size) != p->entries[k].size)
        return fy__diag_set(d, FY_EPARSE, "%s: size %lld, but entry %s holds %zu bytes", where,
                            (long long)json_integer_value(size), name, p->entries[k].size);
    refd[k] = 1;
    *blob = &p->entries[k];
    return FY_OK;
}

/* Annotations must be an object of strings (OCI image spec). */
static int check_annotations(json_t *ann, const char *where, fy_diag *d)
{
    if (!ann)
        return FY_OK;
    if (!json_is_object(ann))
        return fy__diag_set(d, FY_EPARSE, "%s: annotations is not an object", where);
    const char *k;
    json_t *v;
    char c[96];
    json_object_foreach(ann, k, v)
    {
        if (!json_is_string(v))
            return fy__diag_set(d, FY_EPARSE, "%s: annotation '%s' is not a string", where,
                                clip(k, c, sizeof c));
    }
    return FY_OK;
}

/* One layer: a canonical one-entry tar (exactly what fy__tar_write gives for that
 * entry, so no extra entries, directories or metadata ride along). */
static int check_layer(fy_package *p, int i, int last, const fy__tar_entry *blob, const char *title,
                       fy_diag *d)
{
    fy__tar_entry *le = NULL;
    uint8_t *canon = NULL;
    size_t canon_len = 0;
    int n = 0, rc;
    fy_diag td = {{0}};
    char c[96], where[160];
    snprintf(where, sizeof where, "layer %d ('%s', entry %s)", i,
             title ? clip(title, c, sizeof c) : "ferry binary", blob->name);
    if ((rc = fy__tar_read(blob->data, blob->size, LAYER_MAX_ENTRIES, &le, &n, &td)) != FY_OK)
        return fy__diag_set(d, rc, "%s: %s", where, td.msg);
    if (title && n != 1) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: holds %d files, expected exactly one", where, n);
        goto done;
    }
    if (title) {
        size_t fl = strlen(FILE_DIR);
        if (strncmp(le[0].name, FILE_DIR, fl) != 0 || strcmp(le[0].name + fl, title) != 0) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: holds '%s', expected '%s%s'", where,
                              clip(le[0].name, c, sizeof c), FILE_DIR, title);
            goto done;
        }
        if (le[0].mode != 0644) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: file mode %o, expected 644", where, le[0].mode);
            goto done;
        }
    } else {
        /* the runnable layer: the binary plus runtime libraries, sorted, all 0755 */
        int bin = -1;
        for (int k = 0; k < n; k++) {
            if (strcmp(le[k].name, BIN_PATH) == 0)
                bin = k;
            else if (!runtime_path_ok(le[k].name)) {
                rc = fy__diag_set(d, FY_EPARSE,
                                  "%s: '%s' is neither %s nor a library under lib/, lib64/, "
                                  "usr/lib/ or usr/lib64/",
                                  where, clip(le[k].name, c, sizeof c), BIN_PATH);
                goto done;
            }
            if (le[k].mode != 0755) {
                rc = fy__diag_set(d, FY_EPARSE, "%s: '%s' has mode %o, expected 755", where,
                                  clip(le[k].name, c, sizeof c), le[k].mode);
                goto done;
            }
            if (k > 0 && strcmp(le[k - 1].name, le[k].name) >= 0) {
                rc = fy__diag_set(d, FY_EPARSE, "%s: entries are not sorted", where);
                goto done;
            }
        }
        if (!last || bin < 0) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s: no title annotation, and not the runnable layer (the last, "
                              "holding %s)",
                              where, BIN_PATH);
            goto done;
        }
    }
    if (!p->peek && (rc = fy__tar_write(le, title ? 1 : n, &canon, &canon_len, d)) != FY_OK)
        goto done;
    if (!p->peek && (canon_len != blob->size || memcmp(canon, blob->data, canon_len) != 0)) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: not in canonical form (extra metadata, entries or padding)", where);
        goto done;
    }
    if (title) {
        pkg_file *f = &p->files[p->n_files];
        if (!(f->name = fy__strdup(title))) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto done;
        }
        f->data = le[0].data;
        f->len = le[0].size;
        p->n_files++;
    } else {
        for (int k = 0; k < n; k++)
            if (strcmp(le[k].name, BIN_PATH) == 0) {
                p->binary = le[k].data;
                p->binary_len = le[k].size;
            }
    }
    rc = FY_OK;
done:
    fy__free(canon);
    fy__free(le);
    return rc;
}

static const pkg_file *find_file(const fy_package *p, const char *name)
{
    for (int i = 0; i < p->n_files; i++)
        if (strcmp(p->files[i].name, name) == 0)
            return &p->files[i];
    return NULL;
}

/* Verify a package held in memory. Takes ownership of buf (freed on failure).
 * peek: the same structure and manifest checks without hashing the blobs or
 * re-writing the layers (the costs that grow with the model), for peek_manifest
 * only: what it reads is not verified. */
static int open_buffer(fy_package **out, uint8_t *buf, size_t len, int peek, const char *path,
                       fy_diag *d)
{
    int rc = FY_ENOMEM;
    char *refd = NULL, *yname = NULL;
    json_t *layout = NULL, *manifest = NULL, *config = NULL;
    char c1[96], c2[96], where[384];
    fy_package *p = fy__calloc(1, sizeof *p);
    if (!p) {
        fy__free(buf);
        return fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
    }
    p->buf = buf;
    p->len = len;
    p->peek = peek;
    if ((rc = fy__tar_read(buf, len, FY_PACKAGE_MAX_ENTRIES, &p->entries, &p->n_entries, d)) !=
        FY_OK) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
        rc = fy__diag_set(d, rc, "%s: %s", path, msg);
        goto done;
    }

    /* only the layout's own files, and every blob's content matches its name */
    for (int i = 0; i < p->n_entries; i++) {
        const fy__tar_entry *e = &p->entries[i];
        if (strcmp(e->name, "oci-layout") == 0 || strcmp(e->name, "index.json") == 0)
            continue;
        if (strncmp(e->name, BLOB_DIR, strlen(BLOB_DIR)) != 0 ||
            !is_hex64(e->name + strlen(BLOB_DIR))) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s: unexpected entry '%s' (a package holds only oci-layout, "
                              "index.json and blobs/sha256/<digest>)",
                              path, clip(e->name, c1, sizeof c1));
            goto done;
        }
        char dg[FY_DIGEST_LEN];
        if (peek)
            continue;
        fy__sha256_digest(e->data, e->size, dg);
        if (strcmp(dg + 7, e->name + strlen(BLOB_DIR)) != 0) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s: entry %s: content digest is %s, not the one in its name "
                              "(tampered or corrupt)",
                              path, e->name, dg);
            goto done;
        }
    }
    if (!(refd = fy__calloc((size_t)p->n_entries + 1, 1))) {
        rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
        goto done;
    }

    int k = find_entry(p, "oci-layout");
    if (k < 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: no oci-layout entry (not an OCI image layout)", path);
        goto done;
    }
    refd[k] = 1;
    if ((rc = parse_json(p->entries[k].data, p->entries[k].size, "oci-layout", &layout, d)) !=
        FY_OK)
        goto done;
    const char *lv = jstr(layout, "imageLayoutVersion");
    if (!lv || strcmp(lv, "1.0.0") != 0) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: oci-layout: imageLayoutVersion is '%s', expected "
                          "'1.0.0'",
                          path, clip(lv, c1, sizeof c1));
        goto done;
    }

    /* index.json: exactly one image manifest */
    if ((k = find_entry(p, "index.json")) < 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: no index.json entry", path);
        goto done;
    }
    refd[k] = 1;
    if ((rc = parse_json(p->entries[k].data, p->entries[k].size, "index.json", &p->index, d)) !=
        FY_OK)
        goto done;
    json_t *sv = json_object_get(p->index, "schemaVersion");
    const char *mt = jstr(p->index, "mediaType");
    json_t *mans = json_object_get(p->index, "manifests");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: index.json: schemaVersion is not 2", path);
        goto done;
    }
    if (!mt || strcmp(mt, MT_INDEX) != 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: index.json: mediaType is '%s', expected '%s'", path,
                          clip(mt, c1, sizeof c1), MT_INDEX);
        goto done;
    }
    if (!json_is_array(mans) || json_array_size(mans) != 1) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: index.json: manifests must list exactly one image manifest", path);
        goto done;
    }
    json_t *mdesc = json_array_get(mans, 0);
    const fy__tar_entry *mblob = NULL, *cblob = NULL;
    snprintf(where, sizeof where, "%s: index.json: manifests[0]", path);
    if ((rc = check_desc(p, refd, mdesc, where, MT_MANIFEST, &mblob, d)) != FY_OK)
        goto done;
    p->annotations = json_object_get(mdesc, "annotations");
    if ((rc = check_annotations(p->annotations, where, d)) != FY_OK)
        goto done;
    snprintf(p->digest, sizeof p->digest, "%s", jstr(mdesc, "digest"));

    /* the image manifest: config and layers */
    snprintf(where, sizeof where, "%s: image manifest %.19s", path, mblob->name + strlen(BLOB_DIR));
    if ((rc = parse_json(mblob->data, mblob->size, where, &manifest, d)) != FY_OK)
        goto done;
    sv = json_object_get(manifest, "schemaVersion");
    mt = jstr(manifest, "mediaType");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2 || !mt ||
        strcmp(mt, MT_MANIFEST) != 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: schemaVersion must be 2 and mediaType '%s'", where,
                          MT_MANIFEST);
        goto done;
    }
    char cwhere[448];
    snprintf(cwhere, sizeof cwhere, "%s: config", where);
    if ((rc = check_desc(p, refd, json_object_get(manifest, "config"), cwhere, MT_CONFIG, &cblob,
                         d)) != FY_OK)
        goto done;
    json_t *layers = json_object_get(manifest, "layers");
    size_t n_layers = json_array_size(layers);
    if (!json_is_array(layers) || n_layers == 0 || n_layers > PKG_MAX_LAYERS) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: layers must be an array of 1 to %d layers", where,
                          PKG_MAX_LAYERS);
        goto done;
    }
    const char *prev_title = NULL;
    for (size_t i = 0; i < n_layers; i++) {
        json_t *ldesc = json_array_get(layers, i);
        const fy__tar_entry *lblob = NULL;
        snprintf(cwhere, sizeof cwhere, "%s: layers[%zu]", where, i);
        if ((rc = check_desc(p, refd, ldesc, cwhere, MT_LAYER, &lblob, d)) != FY_OK)
            goto done;
        json_t *la = json_object_get(ldesc, "annotations");
        if ((rc = check_annotations(la, cwhere, d)) != FY_OK)
            goto done;
        const char *title = jstr(la, ANN_TITLE);
        if (title && prev_title && strcmp(prev_title, title) >= 0) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: layer '%s' is out of order or repeated", cwhere,
                              clip(title, c1, sizeof c1));
            goto done;
        }
        if ((rc = check_layer(p, (int)i, i + 1 == n_layers, lblob, title, d)) != FY_OK) {
            char msg[sizeof d->msg];
            snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
            rc = fy__diag_set(d, rc, "%s: %s", path, msg);
            goto done;
        }
        if (title)
            prev_title = title;
    }

    /* the config: diff_ids name exactly the layers (uncompressed: diff_id = digest) */
    snprintf(cwhere, sizeof cwhere, "%s: image config %.19s", path, cblob->name + strlen(BLOB_DIR));
    if ((rc = parse_json(cblob->data, cblob->size, cwhere, &config, d)) != FY_OK)
        goto done;
    json_t *rootfs = json_object_get(config, "rootfs");
    json_t *ids = json_object_get(rootfs, "diff_ids");
    const char *rt = jstr(rootfs, "type"), *os = jstr(config, "os");
    if (!os || strcmp(os, "linux") != 0 || !jstr(config, "architecture")) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: os must be 'linux' and architecture set", cwhere);
        goto done;
    }
    if (!rt || strcmp(rt, "layers") != 0 || !json_is_array(ids) ||
        json_array_size(ids) != n_layers) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: rootfs must be of type 'layers' with one diff_id per layer (%zu)",
                          cwhere, n_layers);
        goto done;
    }
    for (size_t i = 0; i < n_layers; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        const char *ld = jstr(json_array_get(layers, i), "digest");
        if (!id || strcmp(id, ld) != 0) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: diff_ids[%zu] is '%s', but layer %zu is %s",
                              cwhere, i, clip(id, c1, sizeof c1), i, ld);
            goto done;
        }
    }

    /* nothing unverified rides along */
    for (int i = 0; i < p->n_entries; i++) {
        if (!refd[i]) {
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s: entry %s is not referenced by the image manifest (a package "
                              "holds nothing unverified)",
                              path, p->entries[i].name);
            goto done;
        }
    }

    /* the manifest, and the files it names */
    const pkg_file *yf = find_file(p, "ferry.yaml");
    if (!yf) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: no ferry.yaml layer", path);
        goto done;
    }
    size_t yl = strlen(path) + sizeof ":ferry.yaml";
    if (!(yname = fy__malloc(yl))) {
        rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    snprintf(yname, yl, "%s:ferry.yaml", path);
    if ((rc = fy_manifest_parse(&p->manifest, (const char *)yf->data, yf->len, yname, d)) != FY_OK)
        goto done;
    const fy_manifest *man = p->manifest;
    if (!man->model_file || !find_file(p, man->model_file)) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: the model file '%s' named by ferry.yaml is missing",
                          path, clip(man->model_file, c1, sizeof c1));
        goto done;
    }
    if (man->labels_file && !find_file(p, man->labels_file)) {
        rc = fy__diag_set(d, FY_EPARSE, "%s: the labels file '%s' named by ferry.yaml is missing",
                          path, clip(man->labels_file, c1, sizeof c1));
        goto done;
    }
    for (int i = 0; i < p->n_files; i++) {
        const char *n = p->files[i].name;
        if (strcmp(n, "ferry.yaml") != 0 && strcmp(n, "SPEC.md") != 0 &&
            strcmp(n, man->model_file) != 0 &&
            !(man->labels_file && strcmp(n, man->labels_file) == 0)) {
            rc = fy__diag_set(d, FY_EPARSE, "%s: file '%s' is not named by ferry.yaml", path,
                              clip(n, c1, sizeof c1));
            goto done;
        }
    }
    const char *ref = jstr(p->annotations, ANN_REF), *title = jstr(p->annotations, ANN_TITLE);
    if (!ref || strcmp(ref, man->version) != 0 || !title || strcmp(title, man->name) != 0) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: index.json names the image '%s' version '%s', but ferry.yaml says "
                          "'%s' version '%s'",
                          path, clip(title, c1, sizeof c1), clip(ref, c2, sizeof c2), man->name,
                          man->version);
        goto done;
    }
    json_t *labels = json_object_get(json_object_get(config, "config"), "Labels");
    const char *ln = jstr(labels, LABEL_NAME), *lver = jstr(labels, LABEL_VERSION);
    if ((ln && strcmp(ln, man->name) != 0) || (lver && strcmp(lver, man->version) != 0)) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s: config labels name '%s' version '%s', but ferry.yaml "
                          "says '%s' version '%s'",
                          cwhere, clip(ln, c1, sizeof c1), clip(lver, c2, sizeof c2), man->name,
                          man->version);
        goto done;
    }
    *out = p;
    p = NULL;
    rc = FY_OK;
done:
    json_decref(layout);
    json_decref(manifest);
    json_decref(config);
    fy__free(refd);
    fy__free(yname);
    fy_package_free(p);
    return rc;
}

/* A folder holding ferry.yaml and the files it names, as a package's layers unpack
 * (a runnable image's /ferry): the same manifest checks as packing, files read
 * confined to the folder. It has no digest and no signature. */
static int open_folder(fy_package **out, const char *dir, fy_diag *d)
{
    int rc = FY_ENOMEM;
    unsigned char *data = NULL;
    size_t len = 0;
    fy_package *p = fy__calloc(1, sizeof *p);
    char *mpath = fy__malloc(strlen(dir) + sizeof "/ferry.yaml");
    if (!p || !mpath) {
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    p->owns_files = 1;
    snprintf(mpath, strlen(dir) + sizeof "/ferry.yaml", "%s/ferry.yaml", dir);
    if ((rc = read_confined(dir, dir, "ferry.yaml", "manifest", FY_MANIFEST_MAX_BYTES, &data, &len,
                            d)) != FY_OK)
        goto done;
    p->files[p->n_files++] = (pkg_file){fy__strdup("ferry.yaml"), data, len};
    if (!p->files[0].name) {
        fy__free(data);
        p->n_files = 0;
        rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = fy_manifest_parse(&p->manifest, (const char *)data, len, mpath, d)) != FY_OK)
        goto done;
    const fy_manifest *man = p->manifest;
    if (!man->model_file) {
        rc = fy__diag_set(d, FY_EINVAL, "%s: model.file: missing", mpath);
        goto done;
    }
    const char *names[2] = {man->model_file, man->labels_file};
    const char *fields[2] = {"model.file", "postprocessing.labels"};
    const size_t limits[2] = {FY_MODEL_MAX_BYTES, PKG_LABELS_MAX_BYTES};
    for (int i = 0; i < 2; i++) {
        if (!names[i] || find_file(p, names[i]))
            continue;
        if ((rc = read_confined(mpath, dir, names[i], fields[i], limits[i], &data, &len, d)) !=
            FY_OK)
            goto done;
        pkg_file *f = &p->files[p->n_files++];
        *f = (pkg_file){fy__strdup(names[i]), data, len};
        if (!f->name) {
            rc = fy__diag_set(d, FY_ENOMEM, "out of memory");
            goto done;
        }
    }
    *out = p;
    p = NULL;
    rc = FY_OK;
done:
    fy__free(mpath);
    fy_package_free(p);
    return rc;
}

int fy_package_open(fy_package **out, const char *path, fy_diag *d)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return open_folder(out, path, d);
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = fy__read_file(path, FY_PACKAGE_MAX_BYTES, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    return open_buffer(out, buf, len, 0, path, d);
}

void fy_package_free(fy_package *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_files; i++) {
        fy__free(p->files[i].name);
        if (p->owns_files)
            fy__free((void *)p->files[i].data);
    }
    fy_manifest_free(p->manifest);
    json_decref(p->index);
    fy__free(p->entries);
    fy__free(p->buf);
    fy__free(p);
}

const fy_manifest *fy_package_manifest(const fy_package *p)
{
    return p->manifest;
}

int fy_package_file(const fy_package *p, const char *name, const void **data, size_t *len)
{
    const pkg_file *f = find_file(p, name);
    if (!f)
        return FY_ENOTFOUND;
    *data = f->data;
    *len = f->len;
    return FY_OK;
}

const char *fy_package_digest(const fy_package *p)
{
    return p->digest;
}

int fy_package_load_model(const fy_package *p, fy_model **out, fy_diag *d)
{
    const pkg_file *f = find_file(p, p->manifest->model_file);
    if (!f) /* open checked it is there */
        return fy__diag_set(d, FY_ENOTFOUND, "package: no model file");
    if (p->manifest->model_format && !strcmp(p->manifest->model_format, "gguf"))
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "%s (in the package) is a GGUF language model: 'ferry serve', "
                            "'ferry generate', 'ferry perf' and 'ferry inspect' take the "
                            "package; other commands take the .gguf file itself",
                            f->name);
    int rc = fy_model_load_buffer(out, f->data, f->len, NULL, NULL, d);
    if (rc != FY_OK) {
        char msg[sizeof d->msg];
        snprintf(msg, sizeof msg, "%s", d ? d->msg : "");
        fy__diag_set(d, rc, "%s (in the package): %s", f->name, msg);
    }
    return rc;
}

int fy_package_load_llm(const fy_package *p, fy_llm **out, const fy_llm_opts *opts, fy_diag *d)
{
    const pkg_file *f = find_file(p, p->manifest->model_file);
    if (!f) /* open checked it is there */
        return fy__diag_set(d, FY_ENOTFOUND, "package: no model file");
    if (!p->manifest->model_format || strcmp(p->manifest->model_format, "gguf") != 0)
        return fy__diag_set(d, FY_EINVAL, "%s (in the package) is not a GGUF language model",
                            f->name);
    char label[512];
    snprintf(label, sizeof label, "%s (in the package)", f->name);
    return fy_llm_load_memory(out, f->data, f->len, label, opts, d);
}

/* A package's ferry.yaml, read to decide how to open the package, which then
 * verifies everything: an archive's blobs are not hashed (for a model of
 * gigabytes, most of the time fy_package_open takes) and a folder's model file is
 * not read. Nothing read here may be trusted. */
static int peek_manifest(const char *path, fy_manifest **out, fy_diag *d)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        unsigned char *data = NULL;
        size_t len = 0;
        int rc = read_confined(path, path, "ferry.yaml", "manifest", FY_MANIFEST_MAX_BYTES, &data,
                               &len, d);
        if (rc == FY_OK)
            rc = fy_manifest_parse(out, (const char *)data, len, path, d);
        fy__free(data);
        return rc;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_package *p = NULL;
    int rc = fy__read_file(path, FY_PACKAGE_MAX_BYTES, &buf, &len, d);
    if (rc == FY_OK && (rc = open_buffer(&p, buf, len, 1, path, d)) == FY_OK) {
        *out = p->manifest;
        p->manifest = NULL;
        fy_package_free(p);
    }
    return rc;
}

int fy_package_path_is_llm(const char *path)
{
    if (fy_gguf_sniff(path))
        return 1;
    if (!fy_package_sniff(path))
        return 0;
    fy_manifest *m = NULL;
    fy_diag d = {{0}};
    if (peek_manifest(path, &m, &d) != FY_OK)
        return 0; /* whoever opens it reports what is wrong */
    int r = m->model_format && strcmp(m->model_format, "gguf") == 0;
    fy_manifest_free(m);
    return r;
}

int fy_package_sniff(const char *path)
{
    uint8_t h[512];
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* an unpacked package: a folder holding a regular ferry.yaml */
        int is_pkg = fstatat(fd, "ferry.yaml", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
        close(fd);
        return is_pkg;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    while (got < sizeof h) {
        ssize_t r = read(fd, h + got, sizeof h - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got < sizeof h || memcmp(h + 257, "ustar", 5) != 0)
        return 0;
    unsigned sum = 0, want = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    int i = 148;
    while (i < 156 && h[i] == ' ')
        i++;
    for (; i < 156 && h[i] >= '0' && h[i] <= '7'; i++)
        want = want * 8 + (unsigned)(h[i] - '0');
    if (sum != want)
        return 0;
    char name[101];
    memcpy(name, h, 100);
    name[100] = 0;
    return strncmp(name, "blobs/", 6) == 0 || strcmp(name, "blobs") == 0 ||
           strcmp(name, "index.json") == 0 || strcmp(name, "oci-layout") == 0;
}

/* ------------------------------------------------------------------------- */
/* Annotations (signing)                                                      */
/* ------------------------------------------------------------------------- */

const char *fy__package_annotation(const fy_package *p, const char *key)
{
    return jstr(p->annotations, key);
}

int fy__package_set_annotations(const char *path, int n, const char *const *keys,
                                const char *const *values, fy_diag *d)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    fy_package *p = NULL;
    uint8_t *index = NULL, *archive = NULL;
    size_t index_len = 0, archive_len = 0;
    fy__tar_entry *ents = NULL;
    /* verify first: annotations (a signature) must never be added to a package whose
     * contents were not checked; the bytes verified are the bytes rewritten */
    int rc = fy__read_file(path, FY_PACKAGE_MAX_BYTES, &buf, &len, d);
    if (rc != FY_OK)
        return rc;
    if ((rc = open_buffer(&p, buf, len, 0, path, d)) != FY_OK)
        return rc;
    json_t *mdesc = json_array_get(json_object_get(p->index, "manifests"), 0);
    json_t *ann = p->annotations;
    rc = FY_ENOMEM;
    if (!ann) {
        if (!(ann = json_object()) || json_object_set_new(mdesc, "annotations", ann) != 0)
            goto oom;
        p->annotations = ann;
    }
    for (int i = 0; i < n; i++) {
        if (!values[i]) {
            json_object_del(ann, keys[i]);
            continue;
        }
        json_t *v = json_string(values[i]);
        if (!v) {
            rc = fy__diag_set(d, FY_EINVAL, "annotation %s: value is not valid UTF-8", keys[i]);
            goto done;
        }
        if (json_object_set_new(ann, keys[i], v) != 0)
            goto oom;
    }
    if ((rc = dump(p->index, &index, &index_len, d)) != FY_OK)
        goto done;
    if (!(ents = fy__malloc((size_t)p->n_entries * sizeof *ents)))
        goto oom;
    for (int i = 0; i < p->n_entries; i++) {
        ents[i] = p->entries[i];
        ents[i].mode = 0644;
        if (strcmp(ents[i].name, "index.json") == 0) {
            ents[i].data = index;
            ents[i].size = index_len;
        }
    }
    qsort(ents, (size_t)p->n_entries, sizeof *ents, cmp_entry);
    if ((rc = fy__tar_write(ents, p->n_entries, &archive, &archive_len, d)) != FY_OK)
        goto done;
    rc = fy__write_atomic(path, archive, archive_len, d);
    goto done;
oom:
    rc = fy__diag_set(d, FY_ENOMEM, "%s: out of memory", path);
done:
    free(index);
    fy__free(archive);
    fy__free(ents);
    fy_package_free(p);
    return rc;
}
