/* SPDX-License-Identifier: MIT */
/* Package signatures: Ed25519 key files, signing a package's manifest digest, and
 * checking a signature against a trusted public key (libsodium underneath).
 *
 * Key files are short text files, so they survive copy-paste and review:
 *
 *     PREFIX.key  (mode 0600)            PREFIX.pub
 *     ferry-ed25519-secret-key-v1        ferry-ed25519-public-key-v1
 *     <base64 of 64 bytes>               <base64 of 32 bytes>
 *
 * Base64 is the standard alphabet with '=' padding; each line ends in '\n'.
 * The secret key is libsodium's 64 bytes (32-byte seed, then the public key).
 * Reading is strict: a regular file of at most FY_KEY_FILE_MAX bytes, the exact
 * first line, canonical base64 of exactly the right length, nothing after it;
 * a secret key file that group or others may access is refused (like ssh).
 * A key's id is the first 16 hex digits of sha256(public key bytes).
 *
 * The signed message is "ferry-signature-v1\n<manifest digest>\n": the digest of
 * the image manifest names every blob by digest, so it covers the whole package;
 * the prefix keeps a ferry signature from being valid for any other protocol. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "package/package_int.h"

#define FY_KEY_FILE_MAX 4096
#define SECRET_HEADER "ferry-ed25519-secret-key-v1"
#define PUBLIC_HEADER "ferry-ed25519-public-key-v1"
#define SIG_PREFIX "ferry-signature-v1\n"
#define SIG_B64_LEN 88 /* base64 of 64 bytes, with padding */

static int sodium_ready(fy_diag *d)
{
    /* Idempotent and thread-safe; needed before key generation and signing. */
    if (sodium_init() < 0)
        return fy__diag_set(d, FY_EIO, "libsodium failed to initialise");
    return FY_OK;
}

static void key_id_of(const uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES], char id[17])
{
    uint8_t h[32];
    fy__sha256_raw(pk, crypto_sign_ed25519_PUBLICKEYBYTES, h);
    sodium_bin2hex(id, 17, h, 8);
}

static int valid_key_id(const char *s)
{
    if (strlen(s) != 16)
        return 0;
    for (int i = 0; i < 16; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int valid_digest(const char *s)
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
        return 0;
    for (int i = 7; i < 71; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Read a key file into key (key_len bytes exactly). The raw text and the decoded
 * bytes are wiped before returning. */
static int read_key(const char *path, int secret, uint8_t *key, size_t key_len, fy_diag *d)
{
    const char *header = secret ? SECRET_HEADER : PUBLIC_HEADER;
    const char *other = secret ? PUBLIC_HEADER : SECRET_HEADER;
    const char *kind = secret ? "secret" : "public";
    uint8_t bin[FY_KEY_FILE_MAX];
    size_t got = 0, bin_len = 0;
    unsigned char *raw = NULL;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO, "%s: cannot open %s key: %s",
                            path, kind, strerror(e));
    }
    int rc =
        fy__read_fd(fd, path, FY_KEY_FILE_MAX, secret ? FY__READ_PRIVATE : 0, &raw, &got, NULL, d);
    close(fd);
    if (rc != FY_OK)
        return rc;
    const char *text = (const char *)raw;

    size_t hl = strlen(header);
    if (got < hl + 1 || memcmp(text, header, hl) != 0 || text[hl] != '\n') {
        size_t ol = strlen(other);
        if (got > ol && memcmp(text, other, ol) == 0 && text[ol] == '\n')
            rc = fy__diag_set(d, FY_EINVAL, "%s: this is a %s key; expected the %s key (%s)", path,
                              secret ? "public" : "secret", kind, secret ? ".key" : ".pub");
        else
            rc = fy__diag_set(d, FY_EPARSE,
                              "%s:1: not a ferry Ed25519 %s key: the first line must be '%s'", path,
                              kind, header);
        goto done;
    }
    const char *b64 = text + hl + 1;
    size_t rest = got - hl - 1;
    const char *nl = memchr(b64, '\n', rest);
    size_t b64_len = nl ? (size_t)(nl - b64) : rest;
    if (nl && (size_t)(nl - b64) + 1 != rest) {
        rc = fy__diag_set(d, FY_EPARSE, "%s:3: unexpected content after the key", path);
        goto done;
    }
    if (b64_len == 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s:2: the key is missing", path);
        goto done;
    }
    if (sodium_base642bin(bin, sizeof bin, b64, b64_len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        rc = fy__diag_set(d, FY_EPARSE, "%s:2: the key is not valid base64", path);
        goto done;
    }
    if (bin_len != key_len) {
        rc = fy__diag_set(d, FY_EPARSE,
                          "%s:2: the key is %zu bytes, expected %zu (an Ed25519 %s key)", path,
                          bin_len, key_len, kind);
        goto done;
    }
    memcpy(key, bin, key_len);
    rc = FY_OK;
done:
    sodium_memzero(raw, got + 1);
    fy__free(raw);
    sodium_memzero(bin, sizeof bin);
    return rc;
}

static int read_secret_key(const char *path, uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES],
                           fy_diag *d)
{
    int rc = read_key(path, 1, sk, crypto_sign_ed25519_SECRETKEYBYTES, d);
    if (rc != FY_OK)
        return rc;
    /* The second half is the public key: rederive it from the seed so a damaged
     * file cannot produce signatures under a key id nobody can verify. */
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES], sk2[crypto_sign_ed25519_SECRETKEYBYTES];
    crypto_sign_ed25519_seed_keypair(pk, sk2, sk);
    if (sodium_memcmp(sk, sk2, sizeof sk2) != 0)
        rc =
            fy__diag_set(d, FY_EPARSE,
                         "%s:2: the key is damaged: its public half does not match its seed", path);
    sodium_memzero(sk2, sizeof sk2);
    if (rc != FY_OK)
        sodium_memzero(sk, crypto_sign_ed25519_SECRETKEYBYTES);
    return rc;
}

/* Create path exclusively (never replacing a file, never following a link). */
static int create_exclusive(const char *path, mode_t mode, int *fd, fy_diag *d)
{
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
    if (*fd >= 0)
        return FY_OK;
    int e = errno;
    if (e == EEXIST)
        return fy__diag_set(d, FY_EINVAL,
                            "%s: already exists; refusing to overwrite a key (choose another "
                            "name or remove the old key first)",
                            path);
    return fy__diag_set(d, FY_EIO, "%s: cannot create: %s", path, strerror(e));
}

static int write_all(int fd, const char *path, const char *s, size_t n, fy_diag *d)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return fy__diag_set(d, FY_EIO, "%s: write failed: %s", path,
                                w < 0 ? strerror(errno) : "no progress");
        s += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0)
        return fy__diag_set(d, FY_EIO, "%s: fsync failed: %s", path, strerror(errno));
    return FY_OK;
}

/* Best effort: make the new directory entries durable. */
static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '.';
        dir[1] = 0;
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int fy_key_generate(const char *prefix, fy_diag *d)
{
    char sk_path[PATH_MAX], pk_path[PATH_MAX];
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES], sk[crypto_sign_ed25519_SECRETKEYBYTES];
    /* header + '\n' + 88 base64 chars + '\n' + NUL */
    char sk_text[sizeof SECRET_HEADER + 128], pk_text[sizeof PUBLIC_HEADER + 64];
    char b64[128];
    int fd_s = -1, fd_p = -1, made_s = 0, made_p = 0;
    int rc;

    if (!prefix || !*prefix)
        return fy__diag_set(d, FY_EINVAL, "key prefix: empty (expected a path like keys/release)");
    if ((size_t)snprintf(sk_path, sizeof sk_path, "%s.key", prefix) >= sizeof sk_path ||
        (size_t)snprintf(pk_path, sizeof pk_path, "%s.pub", prefix) >= sizeof pk_path)
        return fy__diag_set(d, FY_ELIMIT, "key prefix: longer than %d bytes", PATH_MAX - 5);
    if ((rc = sodium_ready(d)) != FY_OK)
        return rc;

    /* Claim both names before writing anything, so a refusal leaves nothing behind. */
    if ((rc = create_exclusive(sk_path, 0600, &fd_s, d)) != FY_OK)
        goto done;
    made_s = 1;
    if ((rc = create_exclusive(pk_path, 0644, &fd_p, d)) != FY_OK)
        goto done;
    made_p = 1;
    /* The umask may only remove bits; make sure the owner can read the secret. */
    if (fchmod(fd_s, 0600) != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: chmod 600 failed: %s", sk_path, strerror(errno));
        goto done;
    }

    crypto_sign_ed25519_keypair(pk, sk);
    sodium_bin2base64(b64, sizeof b64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
    int n_s = snprintf(sk_text, sizeof sk_text, SECRET_HEADER "\n%s\n", b64);
    sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
    int n_p = snprintf(pk_text, sizeof pk_text, PUBLIC_HEADER "\n%s\n", b64);
    if ((rc = write_all(fd_s, sk_path, sk_text, (size_t)n_s, d)) != FY_OK)
        goto done;
    if ((rc = write_all(fd_p, pk_path, pk_text, (size_t)n_p, d)) != FY_OK)
        goto done;
    int cs = close(fd_s), cp = close(fd_p);
    fd_s = fd_p = -1;
    if (cs != 0 || cp != 0) {
        rc = fy__diag_set(d, FY_EIO, "%s: close failed: %s", cs ? sk_path : pk_path,
                          strerror(errno));
        goto done;
    }
    fsync_parent(sk_path);
    if (strrchr(sk_path, '/') || strrchr(pk_path, '/'))
        fsync_parent(pk_path);
    rc = FY_OK;
done:
    if (fd_s >= 0)
        close(fd_s);
    if (fd_p >= 0)
        close(fd_p);
    if (rc != FY_OK) {
        /* Only files this call created are removed. */
        if (made_s)
            unlink(sk_path);
        if (made_p)
            unlink(pk_path);
    }
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk_text, sizeof sk_text);
    sodium_memzero(b64, sizeof b64);
    return rc;
}

static size_t signed_message(const char *digest, char *msg, size_t cap)
{
    return (size_t)snprintf(msg, cap, SIG_PREFIX "%s\n", digest);
}

int fy__sign_digest(const char *secret_key_path, const char *manifest_digest, char key_id[17],
                    char sig_b64[128], fy_diag *d)
{
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES], sig[crypto_sign_ed25519_BYTES];
    char msg[128];
    int rc;

    if (!valid_digest(manifest_digest))
        return fy__diag_set(d, FY_EINVAL, "cannot sign '%.80s': not a sha256 digest",
                            manifest_digest ? manifest_digest : "(null)");
    if ((rc = sodium_ready(d)) != FY_OK)
        return rc;
    if ((rc = read_secret_key(secret_key_path, sk, d)) != FY_OK)
        return rc;
    size_t n = signed_message(manifest_digest, msg, sizeof msg);
    crypto_sign_ed25519_detached(sig, NULL, (const unsigned char *)msg, n, sk);
    key_id_of(sk + crypto_sign_ed25519_SEEDBYTES, key_id);
    sodium_bin2base64(sig_b64, 128, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(sk, sizeof sk);
    return FY_OK;
}

/* Decode a signature as stored in the annotation: exactly SIG_B64_LEN characters. */
static int decode_sig(const char *sig_b64, uint8_t sig[crypto_sign_ed25519_BYTES], fy_diag *d)
{
    size_t len = strnlen(sig_b64, SIG_B64_LEN + 1), bin_len = 0;
    if (len != SIG_B64_LEN ||
        sodium_base642bin(sig, crypto_sign_ed25519_BYTES, sig_b64, len, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        bin_len != crypto_sign_ed25519_BYTES)
        return fy__diag_set(d, FY_EINVAL,
                            "signature: malformed (expected %d base64 characters encoding %d "
                            "bytes)",
                            SIG_B64_LEN, crypto_sign_ed25519_BYTES);
    return FY_OK;
}

/* Verify sig_b64 over the signed message for digest with pk; FY_EINVAL says why not. */
static int verify_with(const uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES], const char *key_name,
                       const char *manifest_digest, const char *sig_b64, fy_diag *d)
{
    uint8_t sig[crypto_sign_ed25519_BYTES];
    char msg[128], id[17];
    int rc;

    if (!valid_digest(manifest_digest))
        return fy__diag_set(d, FY_EINVAL, "digest '%.80s': not a sha256 digest",
                            manifest_digest ? manifest_digest : "(null)");
    if (!sig_b64)
        return fy__diag_set(d, FY_EINVAL, "signature: missing");
    if ((rc = decode_sig(sig_b64, sig, d)) != FY_OK)
        return rc;
    key_id_of(pk, id);
    size_t n = signed_message(manifest_digest, msg, sizeof msg);
    if (crypto_sign_ed25519_verify_detached(sig, (const unsigned char *)msg, n, pk) != 0)
        return fy__diag_set(d, FY_EINVAL,
                            "signature: does not verify with key %s (%s) over %s: the package "
                            "or its signature was altered",
                            id, key_name, manifest_digest);
    return FY_OK;
}

int fy__verify_digest(const char *public_key_path, const char *manifest_digest, const char *sig_b64,
                      char key_id[17], fy_diag *d)
{
    uint8_t pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    int rc;

    if ((rc = sodium_ready(d)) != FY_OK)
        return rc;
    if ((rc = read_key(public_key_path, 0, pk, sizeof pk, d)) != FY_OK)
        return rc;
    if (key_id)
        key_id_of(pk, key_id);
    return verify_with(pk, public_key_path, manifest_digest, sig_b64, d);
}

int fy_package_sign(const char *path, const char *secret_key_path, fy_diag *d)
{
    fy_package *p = NULL;
    uint8_t sk[crypto_sign_ed25519_SECRETKEYBYTES];
    char digest[FY_DIGEST_LEN], key_id[17], sig[128];
    int rc;

    /* Check the key first: a bad key file should fail at once, not after reading
     * and hashing gigabytes. It is read again (and wiped again) to sign. */
    if ((rc = sodium_ready(d)) != FY_OK)
        return rc;
    rc = read_secret_key(secret_key_path, sk, d);
    sodium_memzero(sk, sizeof sk);
    if (rc != FY_OK)
        return rc;
    /* Opening verifies every blob, so we only ever sign a package that is intact. */
    if ((rc = fy_package_open(&p, path, d)) != FY_OK)
        return rc;
    const char *dg = fy_package_digest(p);
    if (!dg || !*dg || strlen(dg) >= sizeof digest) {
        fy_package_free(p);
        return fy__diag_set(d, FY_EINVAL,
                            "%s: the package has no manifest digest (an unpacked folder cannot be "
                            "signed: sign the package archive)",
                            path);
    }
    memcpy(digest, dg, strlen(dg) + 1);
    fy_package_free(p);

    if ((rc = fy__sign_digest(secret_key_path, digest, key_id, sig, d)) != FY_OK)
        return rc;
    const char *const keys[2] = {FY_ANN_SIGNATURE_KEY, FY_ANN_SIGNATURE};
    const char *const values[2] = {key_id, sig};
    return fy__package_set_annotations(path, 2, keys, values, d);
}

int fy_package_verify_signature(const fy_package *p, const char *trusted_pub_path,
                                fy_sig_status *status, char *key_id, fy_diag *d)
{
    const char *sig = fy__package_annotation(p, FY_ANN_SIGNATURE);
    const char *kid = fy__package_annotation(p, FY_ANN_SIGNATURE_KEY);
    uint8_t raw[crypto_sign_ed25519_BYTES], pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    char trusted_id[17], signer[17] = "";
    fy_sig_status st;
    int rc;

    /* Every outcome below except a failure to read the trusted key is a status, not
     * an error: the call worked and d says why the package is not VALID. */
    if (!sig && !kid) {
        st = FY_SIG_NONE;
        fy__diag_set(d, FY_OK, "the package is not signed");
        goto out;
    }
    st = FY_SIG_INVALID; /* it claims a signature: anything malformed is INVALID */
    if (!sig || !kid) {
        fy__diag_set(d, FY_OK, "index.json: annotation %s is present without %s",
                     sig ? FY_ANN_SIGNATURE : FY_ANN_SIGNATURE_KEY,
                     sig ? FY_ANN_SIGNATURE_KEY : FY_ANN_SIGNATURE);
        goto out;
    }
    if (!valid_key_id(kid)) {
        fy__diag_set(d, FY_OK,
                     "index.json: annotation %s: malformed key id (expected 16 hex digits)",
                     FY_ANN_SIGNATURE_KEY);
        goto out;
    }
    memcpy(signer, kid, sizeof signer);
    if (decode_sig(sig, raw, NULL) != FY_OK) {
        fy__diag_set(d, FY_OK,
                     "index.json: annotation %s: malformed (expected %d base64 characters "
                     "encoding %d bytes)",
                     FY_ANN_SIGNATURE, SIG_B64_LEN, crypto_sign_ed25519_BYTES);
        goto out;
    }
    if (!trusted_pub_path) {
        /* Without a key nothing can be verified; the claimed signer is all we know. */
        st = FY_SIG_UNTRUSTED;
        fy__diag_set(d, FY_OK,
                     "signed by key %s, but no trusted key was given, so the signature was not "
                     "checked",
                     kid);
        goto out;
    }
    if ((rc = sodium_ready(d)) != FY_OK)
        return rc;
    if ((rc = read_key(trusted_pub_path, 0, pk, sizeof pk, d)) != FY_OK)
        return rc;
    key_id_of(pk, trusted_id);
    if (strcmp(trusted_id, kid) != 0) {
        st = FY_SIG_UNTRUSTED;
        fy__diag_set(d, FY_OK, "signed by key %s, not by the trusted key %s (%s)", kid, trusted_id,
                     trusted_pub_path);
        goto out;
    }
    if (verify_with(pk, trusted_pub_path, fy_package_digest(p), sig, d) == FY_OK)
        st = FY_SIG_VALID; /* else INVALID, and d says why */
out:
    *status = st;
    if (key_id)
        memcpy(key_id, signer, sizeof signer);
    return FY_OK;
}
