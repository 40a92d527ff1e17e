/* SPDX-License-Identifier: MIT */
/* The pipeline's verify stage (verify_stage.c): checks on a staged worker. */
#ifndef FERRY_DEPLOY_VERIFY_STAGE_H
#define FERRY_DEPLOY_VERIFY_STAGE_H

#include "ferry/deploy.h"
#include "ferry/package.h"
#include "ferry/verify.h"

typedef void (*fy__vprogress)(const char *line, void *ctx);

/* Run the spec's checks (the package's test standards where the spec says nothing)
 * against the worker on 127.0.0.1:port with fy_verify_run. FY_OK when they ran:
 * (*out)->passed says how they went; free with fy_verify_report_free. */
int fy__deploy_verify(const fy_deploy_spec *spec, const fy_package *pkg, int port,
                      fy__vprogress progress, void *ctx, fy_verify_report **out, fy_diag *d);

#endif
