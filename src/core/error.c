/* SPDX-License-Identifier: MIT */
/* Error code texts and diagnostic formatting shared by every module. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

const char *fy_strerror(int err)
{
    switch (err) {
    case FY_OK: return "success";
    case FY_ENOMEM: return "out of memory";
    case FY_EIO: return "input/output error";
    case FY_EPARSE: return "malformed input";
    case FY_EINVAL: return "invalid argument";
    case FY_ELIMIT: return "limit exceeded";
    case FY_EUNSUPPORTED: return "not supported";
    case FY_ENOTFOUND: return "not found";
    default: return "unknown error";
    }
}

int fy__diag_set(fy_diag *d, int code, const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof d->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
