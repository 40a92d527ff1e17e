/* SPDX-License-Identifier: MIT */
/* Internals shared by the package module's files: digests, tar, atomic writes,
 * OCI layout access, signing primitives and the spec renderer. */
#ifndef FERRY_PACKAGE_INT_H
#define FERRY_PACKAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/package.h"

/* ---- digests (sha256.c, over libsodium) ---- */

#define FY_DIGEST_LEN 72 /* "sha256:" + 64 hex + NUL, rounded up */
/* out = "sha256:<64 lowercase hex>" */
void fy__sha256_digest(const void *data, size_t len, char out[FY_DIGEST_LEN]);
void fy__sha256_raw(const void *data, size_t len, uint8_t out[32]);

/* ---- tar (tar.c): ustar, deterministic writer, hostile-input reader ---- */

typedef struct fy__tar_entry {
    const char *name;    /* relative path, '/'-separated; at most 255 bytes */
    const uint8_t *data; /* regular files only */
    size_t size;
    unsigned mode; /* permission bits; 0 means 0644 (0755 for the runnable binary) */
} fy__tar_entry;

/* Write entries in the given order (callers sort them) as a ustar archive with
 * fixed metadata: the entry's mode, uid/gid 0, empty user/group names, mtime 0, so the
 * same entries always give the same bytes. *out is malloc'd. */
int fy__tar_write(const fy__tar_entry *entries, int n, uint8_t **out, size_t *len, fy_diag *d);
/* Parse an archive held in memory. Entries point into buf (no copies). Refuses,
 * naming the entry: absolute paths, '..' components, symbolic and hard links,
 * device files, FIFOs, duplicate names, sizes past the end of the archive, bad
 * header checksums, more than max_entries entries. Directory entries are skipped.
 * *entries is malloc'd (free with free()). */
int fy__tar_read(const uint8_t *buf, size_t len, int max_entries, fy__tar_entry **entries,
                 int *n, fy_diag *d);

/* ---- files (atomic.c) ---- */

/* Write data to path atomically: PATH.tmp-XXXXXX in the same folder, fsync, rename,
 * fsync the folder. On failure the temporary file is removed and path untouched. */
int fy__write_atomic(const char *path, const void *data, size_t len, fy_diag *d);

/* ---- OCI layout (oci.c) ---- */

/* Value of an annotation of the (single) image manifest descriptor in index.json,
 * or NULL. Borrowed from the package. */
const char *fy__package_annotation(const fy_package *p, const char *key);
/* Rewrite the package at path with these annotations set on index.json's
 * manifest descriptor (blobs unchanged), atomically. Used by signing. */
int fy__package_set_annotations(const char *path, int n, const char *const *keys,
                                const char *const *values, fy_diag *d);

/* Annotation keys for signatures. */
#define FY_ANN_SIGNATURE "dev.ferry.signature.ed25519"
#define FY_ANN_SIGNATURE_KEY "dev.ferry.signature.key-id"

/* ---- signing primitives (sign.c, over libsodium's Ed25519) ---- */

/* Sign the message "ferry-signature-v1\n<manifest_digest>\n" with the secret key
 * file; key_id = first 16 hex chars of sha256(public key); sig_b64 = base64. */
int fy__sign_digest(const char *secret_key_path, const char *manifest_digest, char key_id[17],
                    char sig_b64[128], fy_diag *d);
/* Verify sig_b64 over the same message with the public key file. FY_OK if valid,
 * FY_EINVAL (with reason) if not. */
int fy__verify_digest(const char *public_key_path, const char *manifest_digest,
                      const char *sig_b64, char key_id[17], fy_diag *d);

/* ---- spec (spec.c) ---- */

typedef struct fy__spec_file {
    const char *name; /* path inside the package, e.g. "fashion_cnn.onnx" */
    size_t size;
    char digest[FY_DIGEST_LEN];
} fy__spec_file;

/* Render the deployment spec from a manifest, its loaded model and the package's
 * files. package_digest may be NULL (while packing, the package does not exist
 * yet). Deterministic. *out is malloc'd and NUL-terminated. */
int fy__spec_render(const fy_manifest *man, const fy_model *model, const fy__spec_file *files,
                    int n_files, const char *package_digest, int json, char **out, fy_diag *d);

#endif
