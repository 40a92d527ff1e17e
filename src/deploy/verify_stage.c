/* SPDX-License-Identifier: MIT */
/* The pipeline's verify stage: the deploy.yaml's checks, over the package's own test
 * standards, handed to the ops tools' verification (include/ferry/verify.h) against
 * one staged worker on loopback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "deploy_int.h"
#include "ferry/verify.h"
#include "verify_stage.h"

int fy__deploy_verify(const fy_deploy_spec *spec, const fy_package *pkg, int port,
                      fy__vprogress progress, void *ctx, fy_verify_report **out, fy_diag *d)
{
    char url[64];
    fy_verify_smoke smoke[FY_DEPLOY_MAX_SMOKE];
    unsigned char *bodies[FY_DEPLOY_MAX_SMOKE] = {0};
    int rc = FY_OK;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    fy_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.url = url;
    vo.package = pkg;
    fy_verify_opts_from_manifest(fy_package_manifest(pkg), &vo);
    if (spec->dataset)
        vo.dataset = spec->dataset;
    if (spec->min_accuracy >= 0)
        vo.min_accuracy = spec->min_accuracy;
    if (spec->max_p99_ms > 0)
        vo.max_p99_ms = spec->max_p99_ms;
    if (spec->min_throughput > 0)
        vo.min_throughput = spec->min_throughput;
    vo.accuracy_limit = spec->limit;
    vo.accuracy_batch = 100;
    vo.load_connections = spec->load_concurrency;
    vo.load_seconds = spec->load_seconds;
    vo.load_warmup_s = 0.2;
    vo.progress = progress;
    vo.progress_ctx = ctx;
    if (spec->key_env) {
        vo.api_key = getenv(spec->key_env);
        if (!vo.api_key || !*vo.api_key)
            return fy__diag_set(d, FY_EINVAL, "verify.key_env: $%s is not set", spec->key_env);
    }
    memset(smoke, 0, sizeof smoke);
    for (int i = 0; i < spec->n_smoke; i++) {
        const fy_smoke *m = &spec->smoke[i];
        fy_verify_smoke *v = &smoke[i];
        v->name = m->name;
        v->path = m->path ? m->path : "/predict";
        v->expect_status = m->expect_status;
        v->expect_contains = m->expect_contains;
        v->expect_label = m->expect_label;
        v->expect_class = m->expect_class;
        if (m->body_file) {
            size_t len = 0;
            if ((rc = fy__read_file(m->body_file, (size_t)64 << 20, &bodies[i], &len, d)))
                goto done;
            v->body = bodies[i];
            v->body_len = len;
        } else {
            v->body = m->body;
            v->body_len = m->body ? strlen(m->body) : 0;
        }
    }
    vo.n_smoke = spec->n_smoke;
    vo.smoke = smoke;
    rc = fy_verify_run(&vo, out, d);
done:
    for (int i = 0; i < spec->n_smoke; i++)
        fy__free(bodies[i]);
    return rc;
}
