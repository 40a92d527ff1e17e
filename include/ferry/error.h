/* SPDX-License-Identifier: MIT */
/* Error codes and the optional human-readable detail every fallible call can fill. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Fallible functions return FY_OK (0) or one of these negative codes. */
enum {
    FY_OK = 0,
    FY_ENOMEM = -1,       /* an allocation failed */
    FY_EIO = -2,          /* a read, write or open failed */
    FY_EPARSE = -3,       /* the bytes are not a valid file of the expected format */
    FY_EINVAL = -4,       /* a value is out of range or inconsistent */
    FY_ELIMIT = -5,       /* a size, count or depth is above a named ceiling */
    FY_EUNSUPPORTED = -6, /* valid, but not implemented by ferry (yet) */
    FY_ENOTFOUND = -7,    /* a named thing (file, input, model) does not exist */
};

/* Static text for a code, never NULL. Thread-safe. */
const char *fy_strerror(int err);

/* Detail for humans, filled on failure by any call that takes one (may be NULL).
 * The message names the file, node or field that is wrong. */
typedef struct fy_diag {
    char msg[512];
} fy_diag;

#ifdef __cplusplus
}
#endif
#endif
