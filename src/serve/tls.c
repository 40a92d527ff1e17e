/* SPDX-License-Identifier: MIT */
/* TLS material for the server: a PEM certificate (chain) and private key read from
 * files with bounded, careful reads (regular files, 1 MiB, the key private to its
 * owner), then checked with GnuTLS, the library under Debian's libmicrohttpd, so
 * that a bad file is named in the error rather than failing inside the daemon; and
 * the daemons' TLS options, with the certificate swappable while they run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <microhttpd.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "core/core.h"
#include "serve/serve_int.h"

/* What ferry's own PEM checks and the daemon accept: TLS 1.2 and 1.3 only, GnuTLS's
 * NORMAL cipher suites otherwise. */
const char fy__tls_priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

static void remember(fy__tls_file_id *id, const struct stat *st)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (int64_t)st->st_size;
    id->mtime_s = (int64_t)st->st_mtim.tv_sec;
    id->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
}

/* Reads a whole PEM file into a NUL-terminated buffer. what: "certificate" or
 * "key"; a key must not be accessible by group or others (checked on the open
 * descriptor, like ssh does for its keys). */
static int read_pem(const char *path, const char *what, int private_key, char **out, size_t *len,
                    fy__tls_file_id *id, fy_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return fy__diag_set(d, e == ENOENT ? FY_ENOTFOUND : FY_EIO, "TLS %s %s: cannot open: %s",
                            what, path, strerror(e));
    }
    char name[64 + PATH_MAX];
    snprintf(name, sizeof name, "TLS %s %s", what, path);
    unsigned char *buf = NULL;
    size_t n = 0;
    struct stat st;
    int rc = fy__read_fd(fd, name, FY_TLS_FILE_MAX, private_key ? FY__READ_PRIVATE : 0, &buf, &n,
                         &st, d);
    close(fd);
    if (rc != FY_OK)
        return rc;
    if (n == 0)
        rc = fy__diag_set(d, FY_EPARSE, "%s: the file is empty", name);
    /* libmicrohttpd takes the PEM as a C string: a NUL inside would cut it short. */
    else if (memchr(buf, 0, n))
        rc = fy__diag_set(d, FY_EPARSE, "%s: not a PEM file (it holds a NUL byte)", name);
    if (rc != FY_OK) {
        sodium_memzero(buf, n + 1);
        fy__free(buf);
        return rc;
    }
    remember(id, &st);
    *out = (char *)buf;
    *len = n;
    return FY_OK;
}

static int check_cert(fy__tls *t, const char *path, fy_diag *d)
{
    gnutls_datum_t dt = {(unsigned char *)t->cert, (unsigned int)t->cert_len};
    gnutls_x509_crt_t *list = NULL;
    unsigned int n = 0;
    int r = gnutls_x509_crt_list_import2(&list, &n, &dt, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || n == 0) {
        if (r >= 0)
            gnutls_free(list);
        return fy__diag_set(d, FY_EPARSE,
                            "TLS certificate %s: not a PEM certificate (-----BEGIN "
                            "CERTIFICATE-----): %s",
                            path, r < 0 ? gnutls_strerror(r) : "no certificate found");
    }
    t->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(list[0]);
    for (unsigned int i = 0; i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    return FY_OK;
}

static int check_key(fy__tls *t, const char *path, fy_diag *d)
{
    gnutls_x509_privkey_t k;
    int r = gnutls_x509_privkey_init(&k);
    if (r < 0)
        return fy__diag_set(d, FY_ENOMEM, "TLS key %s: %s", path, gnutls_strerror(r));
    gnutls_datum_t dt = {(unsigned char *)t->key, (unsigned int)t->key_len};
    r = gnutls_x509_privkey_import2(k, &dt, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_x509_privkey_deinit(k);
    if (r >= 0)
        return FY_OK;
    if (strstr(t->key, "ENCRYPTED"))
        return fy__diag_set(d, FY_EINVAL,
                            "TLS key %s: the key is protected by a passphrase, which ferry does "
                            "not support (%s); store it unencrypted with chmod 600",
                            path, gnutls_strerror(r));
    return fy__diag_set(d, FY_EPARSE,
                        "TLS key %s: not a PEM private key (-----BEGIN PRIVATE KEY-----): %s", path,
                        gnutls_strerror(r));
}

/* The pair as the daemon will load it: the key must belong to the certificate. */
static int check_pair(fy__tls *t, const char *cert_path, const char *key_path, fy_diag *d)
{
    gnutls_certificate_credentials_t cred;
    int r = gnutls_certificate_allocate_credentials(&cred);
    if (r < 0)
        return fy__diag_set(d, FY_ENOMEM, "TLS: %s", gnutls_strerror(r));
    gnutls_datum_t cd = {(unsigned char *)t->cert, (unsigned int)t->cert_len};
    gnutls_datum_t kd = {(unsigned char *)t->key, (unsigned int)t->key_len};
    r = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (r == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
        return fy__diag_set(d, FY_EINVAL, "TLS key %s does not belong to the certificate in %s",
                            key_path, cert_path);
    if (r < 0)
        return fy__diag_set(d, FY_EPARSE, "TLS certificate %s with key %s: %s", cert_path, key_path,
                            gnutls_strerror(r));
    gnutls_priority_t prio;
    const char *at = NULL;
    r = gnutls_priority_init(&prio, fy__tls_priorities, &at);
    if (r < 0)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "TLS: GnuTLS refuses the priorities '%s' at '%s': %s",
                            fy__tls_priorities, at ? at : "", gnutls_strerror(r));
    gnutls_priority_deinit(prio);
    return FY_OK;
}

int fy__tls_load(fy__tls *t, const char *cert_file, const char *key_file, fy_diag *d)
{
    memset(t, 0, sizeof *t);
    int rc = read_pem(cert_file, "certificate", 0, &t->cert, &t->cert_len, &t->cert_id, d);
    if (rc == FY_OK)
        rc = read_pem(key_file, "key", 1, &t->key, &t->key_len, &t->key_id, d);
    if (rc == FY_OK)
        rc = check_cert(t, cert_file, d);
    if (rc == FY_OK)
        rc = check_key(t, key_file, d);
    if (rc == FY_OK)
        rc = check_pair(t, cert_file, key_file, d);
    if (rc != FY_OK)
        fy__tls_clear(t);
    return rc;
}

static int differs(const char *path, const fy__tls_file_id *id)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 1;
    fy__tls_file_id now;
    remember(&now, &st);
    return memcmp(&now, id, sizeof now) != 0;
}

int fy__tls_changed(const fy__tls *t, const char *cert_file, const char *key_file)
{
    if (!t->cert)
        return 0;
    return differs(cert_file, &t->cert_id) || differs(key_file, &t->key_id);
}

void fy__tls_clear(fy__tls *t)
{
    if (t->key)
        sodium_memzero(t->key, t->key_len + 1);
    fy__free(t->key);
    fy__free(t->cert);
    memset(t, 0, sizeof *t);
}

/* ---- certificates for the daemon's handshakes, swappable (SIGHUP) ------------- */

#define CREDS_MAX_CHAIN 16

/* A pair parsed for handshakes. */
typedef struct fy__tls_creds fy__tls_creds;
struct fy__tls_creds {
    gnutls_pcert_st pcert[CREDS_MAX_CHAIN];
    unsigned int n_pcert;
    gnutls_privkey_t key;
    fy__tls_creds *older; /* replaced ones: handshakes may still hold them */
};

static int creds_make(const fy__tls *t, fy__tls_creds **out, fy_diag *d)
{
    fy__tls_creds *c = fy__calloc(1, sizeof *c);
    if (!c)
        return fy__diag_set(d, FY_ENOMEM, "TLS: out of memory");
    gnutls_datum_t cd = {(unsigned char *)t->cert, (unsigned int)t->cert_len};
    gnutls_datum_t kd = {(unsigned char *)t->key, (unsigned int)t->key_len};
    c->n_pcert = CREDS_MAX_CHAIN;
    int r = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n_pcert, &cd, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0) {
        fy__free(c);
        return fy__diag_set(d, FY_EPARSE, "TLS certificate: %s (at most %d certificates)",
                            gnutls_strerror(r), CREDS_MAX_CHAIN);
    }
    if ((r = gnutls_privkey_init(&c->key)) < 0 ||
        (r = gnutls_privkey_import_x509_raw(c->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        if (c->key)
            gnutls_privkey_deinit(c->key);
        for (unsigned int i = 0; i < c->n_pcert; i++)
            gnutls_pcert_deinit(&c->pcert[i]);
        fy__free(c);
        return fy__diag_set(d, FY_EPARSE, "TLS key: %s", gnutls_strerror(r));
    }
    *out = c;
    return FY_OK;
}

/* Frees c and every pair it replaced. */
static void creds_free(fy__tls_creds *c)
{
    while (c) {
        fy__tls_creds *older = c->older;
        gnutls_privkey_deinit(c->key);
        for (unsigned int i = 0; i < c->n_pcert; i++)
            gnutls_pcert_deinit(&c->pcert[i]);
        fy__free(c);
        c = older;
    }
}

/* libmicrohttpd's certificate callback has no user pointer, so the certificates it
 * hands out are the process's: one daemon at a time may own them; any other is
 * given fixed PEM. */
static _Atomic(fy__tls_creds *) g_creds;
static atomic_int g_owned;

static int cert_callback(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey)
{
    (void)session;
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    fy__tls_creds *c = atomic_load(&g_creds);
    if (!c)
        return -1;
    *pcert = c->pcert;
    *pcert_length = c->n_pcert;
    *privkey = c->key;
    return 0;
}

int fy__tls_daemon_opts(const fy__tls *t, struct MHD_OptionItem *opts, int *owner, fy_diag *d)
{
    int n = 0;
    *owner = 0;
    if (t) {
        fy__tls_creds *c = NULL;
        int rc = creds_make(t, &c, d), free_slot = 0;
        if (rc != FY_OK)
            return rc;
        if (atomic_compare_exchange_strong(&g_owned, &free_slot, 1)) {
            atomic_store(&g_creds, c);
            *owner = 1;
            gnutls_certificate_retrieve_function2 *f = cert_callback;
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)f};
        } else {
            creds_free(c);
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert};
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key};
        }
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                            (void *)fy__tls_priorities};
    }
    opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return FY_OK;
}

static int daemon_reload(int owner, const fy__tls *t, fy_diag *d)
{
    if (!owner)
        return fy__diag_set(d, FY_EUNSUPPORTED,
                            "another HTTPS server of this process owns the certificate callback; "
                            "this one keeps its certificate until it is restarted");
    fy__tls_creds *c = NULL;
    int rc = creds_make(t, &c, d);
    if (rc != FY_OK)
        return rc;
    c->older = atomic_load(&g_creds); /* freed with c: a handshake may still hold it */
    atomic_store(&g_creds, c);
    return FY_OK;
}

int fy__tls_daemon_renew(int owner, fy__tls *cur, const char *cert_file, const char *key_file,
                         fy_diag *d)
{
    fy__tls t;
    int rc = fy__tls_load(&t, cert_file, key_file, d);
    if (rc != FY_OK)
        return rc;
    if ((rc = daemon_reload(owner, &t, d)) != FY_OK) {
        fy__tls_clear(&t);
        return rc;
    }
    fy__tls_clear(cur); /* the daemon takes its pairs from the callback, not this PEM */
    *cur = t;
    return FY_OK;
}

void fy__tls_daemon_release(int owner)
{
    if (!owner)
        return;
    creds_free(atomic_exchange(&g_creds, NULL));
    atomic_store(&g_owned, 0);
}
