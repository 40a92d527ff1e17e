/* SPDX-License-Identifier: MIT */
/* Model packages: the ferry.yaml manifest, the package itself (an OCI image layout
 * in a tar archive: content-addressed, reproducible, optionally signed), and the
 * deployment specification generated from it. See docs/manifest.md and
 * docs/package.md. */
#ifndef FERRY_PACKAGE_H
#define FERRY_PACKAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "ferry/model.h"
#include "ferry/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------- */
/* Manifest (ferry.yaml)                                                      */
/* ------------------------------------------------------------------------- */

#define FY_MANIFEST_MAX_BYTES ((size_t)1 << 20) /* a ferry.yaml above 1 MiB is refused */
#define FY_MANIFEST_MAX_IO 64                   /* inputs or outputs in the signature */
#define FY_MANIFEST_MAX_LIST 64                 /* authors, CPU features, architectures */

/* One signature entry. dims[i] = -1 marks a symbolic dimension named dim_names[i]. */
typedef struct fy_manifest_io {
    char *name;
    fy_dtype dtype;
    int rank;
    int64_t dims[FY_MAX_RANK];
    char *dim_names[FY_MAX_RANK];
} fy_manifest_io;

/* A parsed, validated manifest. Every string is owned by the manifest (NULL when
 * the field is absent); numbers are 0 when absent unless noted. Plain data: safe
 * to read from any thread. */
typedef struct fy_manifest {
    char *api_version; /* "ferry/v1" */
    char *name;        /* [a-z0-9][a-z0-9._-]{0,62} */
    char *version;     /* semantic version, e.g. "1.2.0" */
    char *description;
    char *license;
    int n_authors;
    char **authors;
    char *framework;         /* source.framework: "pytorch", "tensorflow", ... */
    char *framework_version; /* source.framework_version */

    char *model_format; /* "onnx" */
    char *model_file;   /* relative path inside the manifest's folder */

    int n_inputs, n_outputs;
    fy_manifest_io *inputs, *outputs;

    /* preprocessing: x' = (x * scale - mean[c]) / std[c]; scale 0 means 1 */
    double scale;
    int n_mean, n_std;
    double *mean, *std;
    char *layout; /* "NCHW", "NHWC", or NULL */
    /* postprocessing */
    char *labels_file; /* relative path: one class label per line */

    /* requirements */
    int n_archs;
    char **archs; /* "x86_64", "aarch64" */
    int n_cpu_features;
    char **cpu_features; /* "avx2", "avx512f", ... */
    int64_t min_memory_mb, min_disk_mb;
    int threads;
    char *ferry_version; /* a range: ">=0.1.0 <1.0.0" */

    /* serving defaults */
    int max_batch_size;     /* 0: no dynamic batching */
    int max_queue_delay_us; /* dynamic batching wait */
    int instances;          /* 0 means 1 */

    /* test standards */
    char *test_dataset;        /* dataset spec, e.g. "idx:IMAGES,LABELS" */
    char *test_metric;         /* "accuracy" */
    double test_min;           /* minimum metric value */
    double test_max_p99_ms;    /* 0: no latency gate */
    double test_min_throughput; /* items/s; 0: no throughput gate */

    /* compression record, written by `ferry compress` (docs/compress.md) */
    int n_compression_methods;
    char **compression_methods; /* "int8", "prune", ...; NULL: not compressed */
    char *compression_source;   /* digest of the package it was made from, or NULL */
    double compression_accuracy_before, compression_accuracy_after; /* -1: not measured */
} fy_manifest;

/* Parse and validate YAML text. `file` names the source in messages, which read
 * "FILE:LINE: FIELD: RULE" (e.g. "ferry.yaml:4: version: must be a semantic
 * version like 1.2.0, got '1.2'"). Unknown fields are errors (typos must not pass
 * silently). Caller frees *out with fy_manifest_free. */
int fy_manifest_parse(fy_manifest **out, const char *text, size_t len, const char *file,
                      fy_diag *d);
/* Read and parse a ferry.yaml file (regular file, at most FY_MANIFEST_MAX_BYTES). */
int fy_manifest_load(fy_manifest **out, const char *path, fy_diag *d);
void fy_manifest_free(fy_manifest *m); /* NULL is a no-op */

/* Check the manifest's signature against a loaded model: every declared input
 * and output exists with the same dtype and compatible shape. */
int fy_manifest_check_model(const fy_manifest *man, const fy_model *model, fy_diag *d);

/* Write a commented ferry.yaml prefilled from a model (for `ferry init`): name from
 * the file stem, version 0.1.0, the signature with symbolic dimensions kept,
 * requirements this build of ferry needs. Writes YAML text to *out (malloc'd,
 * NUL-terminated; caller frees with free()). */
int fy_manifest_template(char **out, const fy_model *model, const char *model_file,
                         fy_diag *d);

/* ------------------------------------------------------------------------- */
/* Packages                                                                   */
/* ------------------------------------------------------------------------- */

#define FY_PACKAGE_MAX_BYTES ((size_t)4 << 30) /* whole archive */
#define FY_PACKAGE_MAX_ENTRIES 4096

#define FY_PACK_MAX_RUNTIME_FILES 64

typedef struct fy_pack_opts {
    int runnable;            /* add a root-filesystem layer with the ferry binary */
    const char *ferry_binary; /* path of that binary (runnable only); NULL: this executable */
    /* Absolute paths of the shared libraries (and the dynamic loader) the binary
     * needs, stored at the same paths in the image (symbolic links resolved to the
     * file). Only under /lib, /lib64, /usr/lib or /usr/lib64; at most
     * FY_PACK_MAX_RUNTIME_FILES. `ferry pack --runnable` fills this from ldd. */
    int n_runtime_files;
    const char *const *runtime_files;
    const char *secret_key;   /* path of an Ed25519 secret key: sign while packing; NULL: unsigned */
    /* called with a line of progress ("hashing fashion_cnn.onnx"); may be NULL */
    void (*progress)(const char *what, void *ctx);
    void *progress_ctx;
} fy_pack_opts;

/* Pack the manifest at manifest_path (and the files it names, relative to its
 * folder) into out_path. Validates the manifest and loads the model to check the
 * signature first. Reproducible: the same inputs give the same bytes. Atomic:
 * written to a temporary file in the same folder, fsync'd, then renamed; on any
 * failure nothing exists under out_path. */
int fy_package_pack(const char *manifest_path, const char *out_path, const fy_pack_opts *opts,
                    fy_diag *d);

/* An opened, verified package held in memory. Thread safety: immutable once open. */
typedef struct fy_package fy_package;

/* Open a package: reads the archive (refusing absolute paths, '..', links, device
 * files, duplicate entries, sizes above the limits), verifies every blob's digest,
 * the manifest/config/layer references, and parses the embedded ferry.yaml. On
 * failure the message names the entry at fault. path may also be a folder holding
 * ferry.yaml and the files it names (an unpacked package, as a runnable image's
 * /ferry): it is read with the same checks as packing and has no digest ("") and
 * no signature. */
int fy_package_open(fy_package **out, const char *path, fy_diag *d);
void fy_package_free(fy_package *p);

/* Borrowed views, valid until fy_package_free. */
const fy_manifest *fy_package_manifest(const fy_package *p);
/* A file of the package by its path relative to the manifest ("fashion_cnn.onnx",
 * "labels.txt", "ferry.yaml", "SPEC.md"); FY_ENOTFOUND if absent. */
int fy_package_file(const fy_package *p, const char *name, const void **data, size_t *len);
/* The digest of the image manifest ("sha256:..."), which names the package. */
const char *fy_package_digest(const fy_package *p);

/* Load the package's model (the manifest's model.file). */
int fy_package_load_model(const fy_package *p, fy_model **out, fy_diag *d);

struct fy_llm;
struct fy_llm_opts;
/* Load the package's language model (model.format gguf) straight from the package's
 * bytes: the model borrows them, so free the model before the package. Messages
 * name the file as "FILE (in the package)"; FY_EINVAL when the model is not GGUF. */
int fy_package_load_llm(const fy_package *p, struct fy_llm **out, const struct fy_llm_opts *opts,
                        fy_diag *d);

/* Is this path a package (by content: a tar archive holding oci-layout), or a folder
 * holding a regular ferry.yaml (an unpacked package)? */
int fy_package_sniff(const char *path);
/* Is this path a language model: a GGUF file, or a package whose model is GGUF?
 * It reads the package's manifest without verifying the package (no hashing of
 * its blobs), so it costs a read of the file, not an open: the open that follows
 * verifies. 0 for anything it cannot read. */
int fy_package_path_is_llm(const char *path);

/* ------------------------------------------------------------------------- */
/* Signatures (Ed25519)                                                       */
/* ------------------------------------------------------------------------- */

/* Create a key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub. Refuses to
 * overwrite existing files. */
int fy_key_generate(const char *prefix, fy_diag *d);
/* Sign a package in place (atomically rewritten): the signature covers the image
 * manifest's digest and is stored in index.json's annotations. */
int fy_package_sign(const char *path, const char *secret_key_path, fy_diag *d);

typedef enum fy_sig_status {
    FY_SIG_NONE = 0,      /* unsigned */
    FY_SIG_VALID = 1,     /* signed by the trusted key */
    FY_SIG_UNTRUSTED = 2, /* validly signed, by a key other than the trusted one (or none given) */
    FY_SIG_INVALID = 3,   /* a signature is present but does not verify */
} fy_sig_status;

/* Signature status of an open package against a trusted public key file (NULL:
 * no key is trusted, so a valid signature reports FY_SIG_UNTRUSTED). key_id
 * (may be NULL) receives the signer's key id (17 bytes incl. NUL). */
int fy_package_verify_signature(const fy_package *p, const char *trusted_pub_path,
                                fy_sig_status *status, char *key_id, fy_diag *d);

/* ------------------------------------------------------------------------- */
/* Deployment specification (SPEC.md)                                         */
/* ------------------------------------------------------------------------- */

/* Generate the standardized deployment specification of a package as Markdown
 * (json = 0) or JSON (json = 1): summary, signature, ops and parameters, sizes
 * and digests, requirements, deployment flow, test standards, and curl examples
 * per protocol. Deterministic: same package, same bytes. *out is malloc'd. */
int fy_package_spec(const fy_package *p, int json, char **out, fy_diag *d);

#ifdef __cplusplus
}
#endif
#endif
