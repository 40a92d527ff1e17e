/* SPDX-License-Identifier: MIT */
/* The pipeline's verify stage (verify_stage.c): checks on a staged worker. */
#ifndef FERRY_DEPLOY_VERIFY_STAGE_H
#define FERRY_DEPLOY_VERIFY_STAGE_H

#include <stdarg.h>

#include "ferry/deploy.h"
#include "ferry/package.h"

typedef struct fy__vcheck {
    char name[96];
    int passed;
    char detail[256];
} fy__vcheck;

typedef struct fy__vreport {
    int passed, n, failed;
    fy__vcheck checks[FY_DEPLOY_MAX_SMOKE + 8];
    int has_accuracy, has_load;
    double accuracy, p99_ms, throughput;
} fy__vreport;

typedef void (*fy__vprogress)(const char *line, void *ctx);

void fy__vreport_add(fy__vreport *r, const char *name, int passed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Run the spec's checks (falling back on the package's test standards) against the
 * worker on 127.0.0.1:port. FY_OK when they ran (r->passed says how they went). */
int fy__deploy_verify(const fy_deploy_spec *spec, const fy_package *pkg, int port,
                      fy__vprogress progress, void *ctx, fy__vreport *r, fy_diag *d);

#endif
