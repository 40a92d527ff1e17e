/* SPDX-License-Identifier: MIT */
/* SHA-256 digests (over libsodium) in the OCI form "sha256:<hex>": the names of
 * every blob in a package and the identity of the package itself. */
#include <sodium.h>
#include <string.h>

#include "package/package_int.h"

void fy__sha256_raw(const void *data, size_t len, uint8_t out[32])
{
    /* hashing needs no sodium_init(): it uses no randomness and no CPU dispatch state */
    crypto_hash_sha256(out, len ? data : (const void *)"", (unsigned long long)len);
}

void fy__sha256_digest(const void *data, size_t len, char out[FY_DIGEST_LEN])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[32];
    fy__sha256_raw(data, len, raw);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[8 + 2 * i] = hex[raw[i] & 15];
    }
    out[71] = 0;
}
