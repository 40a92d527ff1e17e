/* SPDX-License-Identifier: MIT */
/* Signatures: key generation (files, modes, never overwriting), sign/verify round
 * trips, tampered signatures, digests and keys, malformed and exposed key files
 * (each refused with a message naming the problem), and whole packages signed in
 * place and checked after opening: valid, untrusted, invalid, unsigned. */
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "ferry/package.h"
#include "model_builder.h"
#include "package/package_int.h"
#include "test.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return;
    if (write(fd, text, strlen(text)) < 0)
        perror("write");
    fchmod(fd, mode);
    close(fd);
}

/* A whole small file into buf (NUL-terminated); returns its length or -1. */
static long read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

static const char *DIGEST =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char *DIGEST2 =
    "sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* ---- key generation ---- */

TEST(keygen_writes_both_files_with_modes)
{
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_key_generate(path_in("k1"), &d), FY_OK);
    struct stat st;
    FY_CHECK_EQ(stat(path_in("k1.key"), &st), 0);
    FY_CHECK_EQ(st.st_mode & 07777, 0600);
    FY_CHECK_EQ(stat(path_in("k1.pub"), &st), 0);
    FY_CHECK_EQ(st.st_mode & 0600, 0600);
    FY_CHECK_EQ(st.st_mode & 022, 0); /* the test's umask is 022 */
    char buf[512];
    FY_CHECK_EQ(read_text(path_in("k1.key"), buf, sizeof buf), 28 + 88 + 1);
    FY_CHECK(strncmp(buf, "ferry-ed25519-secret-key-v1\n", 28) == 0);
    FY_CHECK_EQ(buf[28 + 88], '\n');
    FY_CHECK_EQ(read_text(path_in("k1.pub"), buf, sizeof buf), 28 + 44 + 1);
    FY_CHECK(strncmp(buf, "ferry-ed25519-public-key-v1\n", 28) == 0);
}

TEST(keygen_refuses_to_overwrite)
{
    fy_diag d = {{0}};
    char before_key[512], before_pub[512], after[512];
    FY_CHECK_EQ(fy_key_generate(path_in("k2"), &d), FY_OK);
    read_text(path_in("k2.key"), before_key, sizeof before_key);
    read_text(path_in("k2.pub"), before_pub, sizeof before_pub);
    FY_CHECK_EQ(fy_key_generate(path_in("k2"), &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "k2.key: already exists");
    FY_CHECK_CONTAINS(d.msg, "refusing to overwrite");
    read_text(path_in("k2.key"), after, sizeof after);
    FY_CHECK_STR(after, before_key);
    read_text(path_in("k2.pub"), after, sizeof after);
    FY_CHECK_STR(after, before_pub);

    /* Only the public half exists: refused, and no secret key is left behind. */
    write_text(path_in("k3.pub"), "mine\n", 0644);
    FY_CHECK_EQ(fy_key_generate(path_in("k3"), &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "k3.pub: already exists");
    FY_CHECK(access(path_in("k3.key"), F_OK) != 0);
    read_text(path_in("k3.pub"), after, sizeof after);
    FY_CHECK_STR(after, "mine\n");

    /* A symbolic link is never followed to create the key somewhere else. */
    FY_CHECK_EQ(symlink(path_in("elsewhere"), path_in("k4.key")), 0);
    FY_CHECK(fy_key_generate(path_in("k4"), &d) != FY_OK);
    FY_CHECK(access(path_in("elsewhere"), F_OK) != 0);
    FY_CHECK(access(path_in("k4.pub"), F_OK) != 0);

    FY_CHECK_EQ(fy_key_generate("", &d), FY_EINVAL);
    FY_CHECK_EQ(fy_key_generate(path_in("no/such/dir/k"), &d), FY_EIO);
    FY_CHECK_CONTAINS(d.msg, "cannot create");
}

TEST(keygen_makes_distinct_keys)
{
    fy_diag d = {{0}};
    char a[512], b[512];
    FY_CHECK_EQ(fy_key_generate(path_in("k5"), &d), FY_OK);
    FY_CHECK_EQ(fy_key_generate(path_in("k6"), &d), FY_OK);
    read_text(path_in("k5.pub"), a, sizeof a);
    read_text(path_in("k6.pub"), b, sizeof b);
    FY_CHECK(strcmp(a, b) != 0);
}

/* ---- signing primitives ---- */

TEST(sign_verify_round_trip)
{
    fy_diag d = {{0}};
    char id[17], id2[17], sig[128];
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id, sig, &d), FY_OK);
    FY_CHECK_EQ(strlen(id), 16);
    FY_CHECK_EQ(strspn(id, "0123456789abcdef"), 16);
    FY_CHECK_EQ(strlen(sig), 88);
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, sig, id2, &d), FY_OK);
    FY_CHECK_STR(id2, id);

    /* The key id is sha256(public key bytes), first 16 hex digits. */
    char pub[512];
    uint8_t pk[32], h[32];
    size_t pk_len = 0;
    read_text(path_in("k1.pub"), pub, sizeof pub);
    FY_CHECK_EQ(sodium_base642bin(pk, sizeof pk, pub + 28, 44, NULL, &pk_len, NULL,
                                  sodium_base64_VARIANT_ORIGINAL),
                0);
    FY_CHECK_EQ(pk_len, 32);
    fy__sha256_raw(pk, 32, h);
    char want[17];
    sodium_bin2hex(want, sizeof want, h, 8);
    FY_CHECK_STR(id, want);

    /* Ed25519 is deterministic: the same key and digest give the same signature. */
    char sig2[128];
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id2, sig2, &d), FY_OK);
    FY_CHECK_STR(sig2, sig);

    /* The signed message is exactly "ferry-signature-v1\n<digest>\n". */
    uint8_t raw[64];
    size_t raw_len = 0;
    sodium_base642bin(raw, sizeof raw, sig, 88, NULL, &raw_len, NULL,
                      sodium_base64_VARIANT_ORIGINAL);
    char msg[128];
    int n = snprintf(msg, sizeof msg, "ferry-signature-v1\n%s\n", DIGEST);
    FY_CHECK_EQ(crypto_sign_ed25519_verify_detached(raw, (const unsigned char *)msg,
                                                    (unsigned long long)n, pk),
                0);
}

TEST(tampered_signature_digest_or_key_is_invalid)
{
    fy_diag d = {{0}};
    char id[17], sig[128], bad[128];
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id, sig, &d), FY_OK);

    /* one base64 character changed (still valid base64, different bytes) */
    memcpy(bad, sig, sizeof bad);
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, bad, NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "does not verify");
    FY_CHECK_CONTAINS(d.msg, id);

    /* another digest */
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST2, sig, NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "does not verify");

    /* another key */
    FY_CHECK_EQ(fy__verify_digest(path_in("k5.pub"), DIGEST, sig, NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "does not verify");

    /* malformed signatures: short, long, not base64, empty */
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, "AAAA", NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "malformed");
    char longer[200];
    snprintf(longer, sizeof longer, "%sAAAA", sig);
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, longer, NULL, &d), FY_EINVAL);
    memcpy(bad, sig, sizeof bad);
    bad[5] = '!';
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, bad, NULL, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "malformed");
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), DIGEST, "", NULL, &d), FY_EINVAL);

    /* digests that are not sha256 digests are refused on both sides */
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), "sha256:abc", id, sig, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a sha256 digest");
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), "md5:0123", id, sig, &d), FY_EINVAL);
    FY_CHECK_EQ(fy__verify_digest(path_in("k1.pub"), "SHA256:x", sig, NULL, &d), FY_EINVAL);
}

/* ---- malformed key files ---- */

static void check_secret_refused(const char *name, const char *text, mode_t mode, int code,
                                 const char *needle)
{
    fy_diag d = {{0}};
    char id[17] = "unchanged", sig[128] = "unchanged";
    write_text(path_in(name), text, mode);
    FY_CHECK_EQ(fy__sign_digest(path_in(name), DIGEST, id, sig, &d), code);
    FY_CHECK_CONTAINS(d.msg, needle);
    FY_CHECK_CONTAINS(d.msg, name);
    FY_CHECK_STR(sig, "unchanged");
}

static void check_public_refused(const char *name, const char *text, int code, const char *needle)
{
    fy_diag d = {{0}};
    char id[17], sig[128];
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id, sig, &d), FY_OK);
    write_text(path_in(name), text, 0644);
    FY_CHECK_EQ(fy__verify_digest(path_in(name), DIGEST, sig, NULL, &d), code);
    FY_CHECK_CONTAINS(d.msg, needle);
    FY_CHECK_CONTAINS(d.msg, name);
}

TEST(malformed_key_files_are_refused)
{
    char good_key[512], good_pub[512], buf[8192];
    read_text(path_in("k1.key"), good_key, sizeof good_key);
    read_text(path_in("k1.pub"), good_pub, sizeof good_pub);

    /* the files as written work; a missing final newline is tolerated */
    fy_diag d = {{0}};
    char id[17], sig[128];
    snprintf(buf, sizeof buf, "%.*s", (int)strlen(good_key) - 1, good_key);
    write_text(path_in("nonl.key"), buf, 0600);
    FY_CHECK_EQ(fy__sign_digest(path_in("nonl.key"), DIGEST, id, sig, &d), FY_OK);

    check_secret_refused("hdr.key", "ferry-ed25519-secret-key-v2\nAAAA\n", 0600, FY_EPARSE,
                         "first line must be 'ferry-ed25519-secret-key-v1'");
    check_secret_refused("empty.key", "", 0600, FY_EPARSE, "first line must be");
    check_secret_refused("nokey.key", "ferry-ed25519-secret-key-v1\n", 0600, FY_EPARSE,
                         "the key is missing");
    check_secret_refused("b64.key", "ferry-ed25519-secret-key-v1\n!!!not*base64!!!\n", 0600,
                         FY_EPARSE, "not valid base64");
    check_secret_refused("short.key", "ferry-ed25519-secret-key-v1\nAAAAAAAAAAAAAAAAAAAAAA==\n",
                         0600, FY_EPARSE, "the key is 16 bytes, expected 64");
    check_secret_refused("pubasec.key", good_pub, 0600, FY_EINVAL, "this is a public key");
    snprintf(buf, sizeof buf, "%sextra\n", good_key);
    check_secret_refused("extra.key", buf, 0600, FY_EPARSE, "unexpected content after the key");
    snprintf(buf, sizeof buf, "%s\n", good_key);
    check_secret_refused("blank.key", buf, 0600, FY_EPARSE, "unexpected content after the key");
    /* CRLF line ends are not the format */
    snprintf(buf, sizeof buf, "ferry-ed25519-secret-key-v1\r\n%s", good_key + 28);
    check_secret_refused("crlf.key", buf, 0600, FY_EPARSE, "first line must be");

    /* too big: refused before reading */
    memset(buf, 'A', 5000);
    buf[5000] = 0;
    check_secret_refused("big.key", buf, 0600, FY_ELIMIT, "above the limit of 4096");

    /* readable by group or others: refused, telling the user what to do */
    check_secret_refused("group.key", good_key, 0640, FY_EINVAL, "chmod 600");
    check_secret_refused("world.key", good_key, 0604, FY_EINVAL, "group or others");
    check_secret_refused("gw.key", good_key, 0620, FY_EINVAL, "mode 0620");

    /* a damaged secret key: its public half no longer matches its seed */
    uint8_t sk[64];
    size_t sk_len = 0;
    sodium_base642bin(sk, sizeof sk, good_key + 28, 88, NULL, &sk_len, NULL,
                      sodium_base64_VARIANT_ORIGINAL);
    sk[40] ^= 1;
    char b64[128];
    sodium_bin2base64(b64, sizeof b64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
    snprintf(buf, sizeof buf, "ferry-ed25519-secret-key-v1\n%s\n", b64);
    check_secret_refused("damaged.key", buf, 0600, FY_EPARSE, "damaged");

    /* not a regular file (a FIFO must not hang), a folder, a missing file */
    FY_CHECK_EQ(mkfifo(path_in("fifo.key"), 0600), 0);
    FY_CHECK_EQ(fy__sign_digest(path_in("fifo.key"), DIGEST, id, sig, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK_EQ(fy__sign_digest(dir, DIGEST, id, sig, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "not a regular file");
    FY_CHECK_EQ(fy__sign_digest(path_in("missing.key"), DIGEST, id, sig, &d), FY_ENOTFOUND);
    FY_CHECK_CONTAINS(d.msg, "missing.key: cannot open secret key");

    /* public keys */
    check_public_refused("hdr.pub", "ssh-ed25519 AAAA\n", FY_EPARSE,
                         "first line must be 'ferry-ed25519-public-key-v1'");
    check_public_refused("secaspub.pub", good_key, FY_EINVAL, "this is a secret key");
    check_public_refused("b64.pub", "ferry-ed25519-public-key-v1\nA=AA\n", FY_EPARSE,
                         "not valid base64");
    check_public_refused("len.pub", "ferry-ed25519-public-key-v1\nAAAA\n", FY_EPARSE,
                         "the key is 3 bytes, expected 32");
    /* base64 with non-zero padding bits is not canonical */
    snprintf(buf, sizeof buf, "%s", good_pub);
    buf[28 + 42] = buf[28 + 42] == 'B' ? 'C' : 'B';
    check_public_refused("canon.pub", buf, FY_EPARSE, "not valid base64");
    memset(buf, 'x', 4097);
    buf[4097] = 0;
    check_public_refused("big.pub", buf, FY_ELIMIT, "above the limit of 4096");
    /* a public key may be readable by anyone */
    write_text(path_in("open.pub"), good_pub, 0644);
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id, sig, &d), FY_OK);
    FY_CHECK_EQ(fy__verify_digest(path_in("open.pub"), DIGEST, sig, NULL, &d), FY_OK);
}

/* ---- whole packages ---- */

/* A tiny model file: y = Relu(x * w), x float32 [1, 4]. */
static int write_model(const char *path)
{
    static const int64_t dims[2] = {1, 4}, wd[1] = {4};
    static const float w[4] = {1, -1, 2, -2};
    gb b;
    gb_init(&b, "tiny");
    gb_input(&b, "x", FY_DTYPE_F32, 2, dims);
    gb_output(&b, "y", FY_DTYPE_F32, 2, dims);
    gb_init_f32(&b, "w", 1, wd, w, 4);
    gb_node(&b, "Mul", 2, 1, "x", "w", "t");
    gb_node(&b, "Relu", 1, 1, "t", "y");
    return gb_write(&b, 13, path);
}

/* Pack a package from the tiny model with `ferry init`'s template manifest. */
static int make_package(const char *pkg, fy_diag *d)
{
    fy_model *m = NULL;
    char *yaml = NULL;
    int rc;
    if (write_model(path_in("tiny.onnx")) != 0)
        return FY_EIO;
    if ((rc = fy_model_load(&m, path_in("tiny.onnx"), NULL, d)) != FY_OK)
        return rc;
    rc = fy_manifest_template(&yaml, m, "tiny.onnx", d);
    fy_model_free(m);
    if (rc != FY_OK)
        return rc;
    write_text(path_in("ferry.yaml"), yaml, 0644);
    free(yaml);
    return fy_package_pack(path_in("ferry.yaml"), pkg, NULL, d);
}

static int file_bytes(const char *path, unsigned char **out, size_t *len)
{
    return fy__read_file(path, (size_t)1 << 30, out, len, NULL);
}

static fy_sig_status status_of(const char *pkg, const char *pub, char *key_id, fy_diag *d)
{
    fy_package *p = NULL;
    fy_sig_status st = (fy_sig_status)-1;
    if (fy_package_open(&p, pkg, d) != FY_OK) {
        fprintf(stderr, "open %s: %s\n", pkg, d->msg);
        return st;
    }
    int rc = fy_package_verify_signature(p, pub, &st, key_id, d);
    if (rc != FY_OK) {
        fprintf(stderr, "verify %s: %s\n", pkg, d->msg);
        st = (fy_sig_status)-1;
    }
    fy_package_free(p);
    return st;
}

static int set_annotation(const char *pkg, const char *key, const char *value)
{
    fy_diag d = {{0}};
    const char *const keys[1] = {key};
    const char *const values[1] = {value};
    int rc = fy__package_set_annotations(pkg, 1, keys, values, &d);
    if (rc != FY_OK)
        fprintf(stderr, "set_annotations: %s\n", d.msg);
    return rc;
}

TEST(package_sign_and_verify)
{
    fy_diag d = {{0}};
    char pkg[256]; /* path_in's buffers rotate */
    snprintf(pkg, sizeof pkg, "%s", path_in("tiny-0.1.0.ferry"));
    if (make_package(pkg, &d) != FY_OK) {
        fprintf(stderr, "cannot pack the test package: %s\n", d.msg);
        FY_CHECK(0);
        return;
    }
    char id[17] = "x", id1[17], sig1[128];

    /* unsigned */
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_NONE);
    FY_CHECK_STR(id, "");
    FY_CHECK_EQ(status_of(pkg, NULL, id, &d), FY_SIG_NONE);
    FY_CHECK_CONTAINS(d.msg, "not signed");

    /* signing keeps the digest (the signature lives in index.json) */
    fy_package *p = NULL;
    char digest[FY_DIGEST_LEN];
    FY_CHECK_EQ(fy_package_open(&p, pkg, &d), FY_OK);
    snprintf(digest, sizeof digest, "%s", p ? fy_package_digest(p) : "");
    fy_package_free(p);
    FY_CHECK_EQ(fy_package_sign(pkg, path_in("k1.key"), &d), FY_OK);
    FY_CHECK_EQ(fy_package_open(&p, pkg, &d), FY_OK);
    if (p) {
        FY_CHECK_STR(fy_package_digest(p), digest);
        FY_CHECK_EQ(strlen(fy__package_annotation(p, FY_ANN_SIGNATURE)), 88);
    }
    fy_package_free(p);
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), digest, id1, sig1, &d), FY_OK);

    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_VALID);
    FY_CHECK_STR(id, id1);
    /* no trusted key: nothing can be verified, the claimed signer is reported */
    FY_CHECK_EQ(status_of(pkg, NULL, id, &d), FY_SIG_UNTRUSTED);
    FY_CHECK_STR(id, id1);
    FY_CHECK_CONTAINS(d.msg, "no trusted key");
    /* another key is trusted */
    FY_CHECK_EQ(status_of(pkg, path_in("k5.pub"), id, &d), FY_SIG_UNTRUSTED);
    FY_CHECK_STR(id, id1);
    FY_CHECK_CONTAINS(d.msg, "not by the trusted key");
    /* an unreadable trusted key is an error, not a status */
    fy_package *q = NULL;
    fy_sig_status st = FY_SIG_NONE;
    FY_CHECK_EQ(fy_package_open(&q, pkg, &d), FY_OK);
    if (q) {
        FY_CHECK_EQ(fy_package_verify_signature(q, path_in("hdr.pub"), &st, id, &d), FY_EPARSE);
        FY_CHECK_CONTAINS(d.msg, "hdr.pub");
        FY_CHECK_EQ(fy_package_verify_signature(q, path_in("k1.key"), &st, id, &d), FY_EINVAL);
        FY_CHECK_CONTAINS(d.msg, "this is a secret key");
        FY_CHECK_EQ(st, FY_SIG_NONE); /* untouched on failure */
    }
    fy_package_free(q);

    /* re-signing with another key replaces the signature */
    FY_CHECK_EQ(fy_package_sign(pkg, path_in("k5.key"), &d), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k5.pub"), id, &d), FY_SIG_VALID);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_UNTRUSTED);
    FY_CHECK_EQ(fy_package_sign(pkg, path_in("k1.key"), &d), FY_OK);

    /* tampered signature: one character changed */
    char bad[128];
    snprintf(bad, sizeof bad, "%s", sig1);
    bad[20] = bad[20] == 'A' ? 'B' : 'A';
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE, bad), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_INVALID);
    FY_CHECK_CONTAINS(d.msg, "does not verify");
    /* garbage signature: invalid even with no key to check it */
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE, "garbage"), FY_OK);
    FY_CHECK_EQ(status_of(pkg, NULL, id, &d), FY_SIG_INVALID);
    FY_CHECK_CONTAINS(d.msg, "malformed");
    /* the signature of another package's digest */
    FY_CHECK_EQ(fy__sign_digest(path_in("k1.key"), DIGEST, id1, bad, &d), FY_OK);
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE, bad), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_INVALID);
    /* a key id claiming the trusted key over another key's signature */
    char id5[17], sig5[128];
    FY_CHECK_EQ(fy__sign_digest(path_in("k5.key"), digest, id5, sig5, &d), FY_OK);
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE, sig5), FY_OK);
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE_KEY, id1), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_INVALID);
    /* malformed key id */
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE_KEY, "../../etc"), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_INVALID);
    FY_CHECK_CONTAINS(d.msg, "malformed key id");
    FY_CHECK_STR(id, "");
    /* a signature without its key id */
    FY_CHECK_EQ(set_annotation(pkg, FY_ANN_SIGNATURE_KEY, NULL), FY_OK);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_INVALID);
    FY_CHECK_CONTAINS(d.msg, "without");

    /* a failed signing leaves the package as it was */
    FY_CHECK_EQ(fy_package_sign(pkg, path_in("k1.key"), &d), FY_OK);
    unsigned char *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    FY_CHECK_EQ(file_bytes(pkg, &before, &before_len), FY_OK);
    FY_CHECK(fy_package_sign(pkg, path_in("group.key"), &d) != FY_OK);
    FY_CHECK_CONTAINS(d.msg, "chmod 600");
    FY_CHECK(fy_package_sign(pkg, path_in("missing.key"), &d) != FY_OK);
    FY_CHECK_EQ(file_bytes(pkg, &after, &after_len), FY_OK);
    FY_CHECK(before && after && before_len == after_len && memcmp(before, after, after_len) == 0);
    fy__free(before);
    fy__free(after);
    FY_CHECK_EQ(status_of(pkg, path_in("k1.pub"), id, &d), FY_SIG_VALID);

    /* signing what is not a package fails and creates nothing */
    FY_CHECK(fy_package_sign(path_in("k1.pub"), path_in("k1.key"), &d) != FY_OK);
    FY_CHECK(fy_package_sign(path_in("nothing.ferry"), path_in("k1.key"), &d) != FY_OK);
    FY_CHECK(access(path_in("nothing.ferry"), F_OK) != 0);
    /* a bad key is reported before the package is read */
    FY_CHECK_EQ(fy_package_sign(path_in("nothing.ferry"), path_in("hdr.key"), &d), FY_EPARSE);
    FY_CHECK_CONTAINS(d.msg, "hdr.key");

    /* signing at pack time gives the same result as signing afterwards */
    fy_pack_opts po = {0};
    po.secret_key = path_in("k1.key");
    FY_CHECK_EQ(fy_package_pack(path_in("ferry.yaml"), path_in("signed.ferry"), &po, &d), FY_OK);
    FY_CHECK_EQ(status_of(path_in("signed.ferry"), path_in("k1.pub"), id, &d), FY_SIG_VALID);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ferry-sign-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    umask(022);
    RUN(keygen_writes_both_files_with_modes);
    RUN(keygen_refuses_to_overwrite);
    RUN(keygen_makes_distinct_keys);
    RUN(sign_verify_round_trip);
    RUN(tampered_signature_digest_or_key_is_invalid);
    RUN(malformed_key_files_are_refused);
    RUN(package_sign_and_verify);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_SUMMARY();
}
