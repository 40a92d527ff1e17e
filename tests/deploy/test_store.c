/* SPDX-License-Identifier: MIT */
/* The deploy state store: deployments with stages and outcomes, the live version
 * moving only on promotion, previous versions for rollback, deployments left
 * 'running' by a dead deployer found as interrupted, JSON documents, the audit log,
 * a corrupt database refused with a message. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/deploy.h"
#include "test.h"

static char dir[64];

static json_t *history(fy_store *s, const char *svc)
{
    char *t = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_store_history_json(s, svc, 50, &t, &d), FY_OK);
    json_t *j = t ? json_loads(t, 0, NULL) : NULL;
    free(t);
    return j;
}

TEST(deploy_lifecycle)
{
    fy_store *s = NULL;
    fy_diag d = {{0}};
    int64_t id = 0;
    int interrupted = -1;
    char live[64], path[256], digest[128], prev[64];
    FY_CHECK_EQ(fy_store_open(&s, dir, &d), FY_OK);
    if (!s)
        return;
    FY_CHECK_EQ(fy_store_service_set(s, "svc", "127.0.0.1", 8080, 2, "[\"--max-batch\",\"8\"]", &d),
                FY_OK);
    FY_CHECK_EQ(fy_store_version_add(s, "svc", "1.0.0", "sha256:aa", "/x/1.0.0.ferry", 2,
                                     "[\"--max-batch\",\"8\"]", &d),
                FY_OK);
    FY_CHECK_EQ(
        fy_store_deploy_begin(s, "svc", "1.0.0", "deploy", "blue-green", &id, &interrupted, &d),
        FY_OK);
    FY_CHECK_EQ(interrupted, 0);
    FY_CHECK_EQ(fy_store_stage(s, id, "validate", "ok", 0.01, "fine", &d), FY_OK);
    FY_CHECK_EQ(fy_store_stage(s, id, "verify", "ok", 1.5, "accuracy 0.92", &d), FY_OK);
    FY_CHECK_EQ(fy_store_live(s, "svc", live, sizeof live, &d), FY_OK);
    FY_CHECK_STR(live, ""); /* not live before promotion */
    FY_CHECK_EQ(fy_store_deploy_end(s, id, "promoted", "1.0.0 promoted", &d), FY_OK);
    FY_CHECK_EQ(fy_store_live(s, "svc", live, sizeof live, &d), FY_OK);
    FY_CHECK_STR(live, "1.0.0");

    /* a second version: rolled back, the live one stays */
    FY_CHECK_EQ(fy_store_version_add(s, "svc", "1.1.0", "sha256:bb", "/x/1.1.0.ferry", 2,
                                     "[\"--max-batch\",\"8\"]", &d),
                FY_OK);
    FY_CHECK_EQ(fy_store_deploy_begin(s, "svc", "1.1.0", "deploy", "canary", &id, NULL, &d), FY_OK);
    FY_CHECK_EQ(fy_store_stage(s, id, "verify", "failed", 2.0, "accuracy 0.10 < 0.90", &d), FY_OK);
    FY_CHECK_EQ(fy_store_deploy_end(s, id, "rolled_back", "accuracy 0.10", &d), FY_OK);
    FY_CHECK_EQ(fy_store_live(s, "svc", live, sizeof live, &d), FY_OK);
    FY_CHECK_STR(live, "1.0.0");

    /* a third, promoted: previous is 1.0.0 (the rolled back one never was live) */
    FY_CHECK_EQ(fy_store_version_add(s, "svc", "1.2.0", "sha256:cc", "/x/1.2.0.ferry", 2,
                                     "[\"--max-batch\",\"8\"]", &d),
                FY_OK);
    FY_CHECK_EQ(fy_store_deploy_begin(s, "svc", "1.2.0", "deploy", "blue-green", &id, NULL, &d),
                FY_OK);
    FY_CHECK_EQ(fy_store_deploy_end(s, id, "promoted", "ok", &d), FY_OK);
    FY_CHECK_EQ(fy_store_previous(s, "svc", prev, sizeof prev, &d), FY_OK);
    FY_CHECK_STR(prev, "1.0.0");
    FY_CHECK_EQ(
        fy_store_version_package(s, "svc", "1.0.0", path, sizeof path, digest, sizeof digest, &d),
        FY_OK);
    FY_CHECK_STR(path, "/x/1.0.0.ferry");
    FY_CHECK_STR(digest, "sha256:aa");
    int vrep = 0;
    char *vargs = NULL;
    FY_CHECK_EQ(fy_store_version_settings(s, "svc", "1.1.0", &vrep, &vargs, &d), FY_OK);
    FY_CHECK_EQ(vrep, 2);
    FY_CHECK_STR(vargs, "[\"--max-batch\",\"8\"]");
    free(vargs);
    FY_CHECK_EQ(fy_store_version_settings(s, "svc", "7.0.0", &vrep, &vargs, &d), FY_ENOTFOUND);
    FY_CHECK_EQ(fy_store_version_package(s, "svc", "9.9.9", path, sizeof path, NULL, 0, &d), FY_OK);
    FY_CHECK_STR(path, "");

    char host[64], *args = NULL;
    int port = 0, replicas = 0;
    FY_CHECK_EQ(fy_store_service_get(s, "svc", host, sizeof host, &port, &replicas, &args, &d),
                FY_OK);
    FY_CHECK_EQ(port, 8080);
    FY_CHECK_EQ(replicas, 2);
    FY_CHECK_STR(args, "[\"--max-batch\",\"8\"]");
    free(args);
    FY_CHECK_EQ(fy_store_service_get(s, "nope", host, sizeof host, &port, &replicas, NULL, &d),
                FY_ENOTFOUND);

    json_t *h = history(s, "svc");
    FY_CHECK_EQ(json_array_size(h), 3);
    json_t *first = json_array_get(h, 2), *second = json_array_get(h, 1);
    FY_CHECK_STR(json_string_value(json_object_get(first, "status")), "promoted");
    FY_CHECK_EQ(json_array_size(json_object_get(first, "stages")), 2);
    FY_CHECK_STR(json_string_value(json_object_get(second, "status")), "rolled_back");
    FY_CHECK_STR(json_string_value(json_object_get(second, "previous")), "1.0.0");
    FY_CHECK(json_string_value(json_object_get(second, "who")) != NULL);
    json_decref(h);
    char svc[64];
    FY_CHECK_EQ(fy_store_default_service(s, svc, sizeof svc, &d), FY_OK);
    FY_CHECK_STR(svc, "svc");
    fy_store_close(s);
}

TEST(interrupted_deploys_are_found)
{
    fy_store *s = NULL, *s2 = NULL;
    fy_diag d = {{0}};
    int64_t id = 0, id2 = 0;
    int interrupted = -1;
    FY_CHECK_EQ(fy_store_open(&s, dir, &d), FY_OK);
    if (!s)
        return;
    /* a deployer records its start, then "dies" (its store is simply dropped) */
    FY_CHECK_EQ(fy_store_deploy_begin(s, "other", "2.0.0", "deploy", "blue-green", &id, NULL, &d),
                FY_OK);
    FY_CHECK_EQ(fy_store_stage(s, id, "stage", "ok", 0.5, "staged", &d), FY_OK);
    fy_store_close(s);
    /* the next deploy (holding the service's lock) finds it */
    FY_CHECK_EQ(fy_store_open(&s2, dir, &d), FY_OK);
    FY_CHECK_EQ(
        fy_store_deploy_begin(s2, "other", "2.0.1", "deploy", "blue-green", &id2, &interrupted, &d),
        FY_OK);
    FY_CHECK_EQ(interrupted, 1);
    json_t *h = history(s2, "other");
    json_t *old = json_array_get(h, 1);
    FY_CHECK_STR(json_string_value(json_object_get(old, "status")), "interrupted");
    FY_CHECK_STR(json_string_value(json_object_get(json_array_get(h, 0), "status")), "running");
    json_decref(h);
    char *t = NULL;
    FY_CHECK_EQ(fy_store_audit_json(s2, "other", 10, &t, &d), FY_OK);
    FY_CHECK_CONTAINS(t, "\"outcome\":\"interrupted\"");
    free(t);
    /* two services now: the default is ambiguous and says so */
    char svc[64];
    FY_CHECK_EQ(fy_store_service_set(s2, "other", "127.0.0.1", 9000, 1, "[]", &d), FY_OK);
    FY_CHECK_EQ(fy_store_default_service(s2, svc, sizeof svc, &d), FY_EINVAL);
    FY_CHECK_CONTAINS(d.msg, "several services");
    FY_CHECK_EQ(fy_store_deploy_end(s2, 999999, "promoted", "x", &d), FY_ENOTFOUND);
    fy_store_close(s2);
}

TEST(corrupt_database_refused)
{
    char p[128], cdir[96];
    snprintf(cdir, sizeof cdir, "%s/corrupt", dir);
    snprintf(p, sizeof p, "%s/ferry.db", cdir);
    fy_store *s = NULL;
    fy_diag d = {{0}};
    FY_CHECK_EQ(fy_store_open(&s, cdir, &d), FY_OK); /* creates the folder */
    fy_store_close(s);
    s = NULL;
    unlink(p);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", p);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", p);
    unlink(wal);
    FILE *f = fopen(p, "w");
    for (int i = 0; f && i < 200; i++)
        fputs("this is not a database, ", f);
    if (f)
        fclose(f);
    FY_CHECK_EQ(fy_store_open(&s, cdir, &d), FY_EIO);
    FY_CHECK(s == NULL);
    FY_CHECK_CONTAINS(d.msg, "state store");
}

TEST(state_dir_default)
{
    char out[64];
    unsetenv("FERRY_STATE_DIR");
    FY_CHECK_EQ(fy_state_dir(out, sizeof out, NULL), FY_OK);
    FY_CHECK_STR(out, ".ferry");
    setenv("FERRY_STATE_DIR", "/tmp/x", 1);
    FY_CHECK_EQ(fy_state_dir(out, sizeof out, NULL), FY_OK);
    FY_CHECK_STR(out, "/tmp/x");
    FY_CHECK_EQ(fy_state_dir(out, sizeof out, "given"), FY_OK);
    FY_CHECK_STR(out, "given");
    FY_CHECK_EQ(fy_state_dir(out, 4, "toolong"), FY_ELIMIT);
    unsetenv("FERRY_STATE_DIR");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/fystore.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(deploy_lifecycle);
    RUN(interrupted_deploys_are_found);
    RUN(corrupt_database_refused);
    RUN(state_dir_default);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", dir);
    return TEST_SUMMARY();
}
